#!/usr/bin/env bash
# Print the path of CRI's api.proto (k8s.io/cri-api pkg/apis/runtime/v1) for a Kubernetes
# version, fetching the module with the Go toolchain into the Go module cache the control
# plane build uses (tests/cluster/cluster.sh) when it is not there yet.
#
#   scripts/cri-proto.sh [KUBE_VERSION] [DEST]   (default: the KUBE_VERSION file)
#
# KUBE_VERSION v1.Y.Z maps to cri-api v0.Y.Z. With DEST, the proto is copied there too.
# The build (Makefile) generates C from it with protoc-c into build/gen/runtime/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KUBE_VERSION=${1:-$(cat "$ROOT/KUBE_VERSION")}
DEST=${2:-}
CACHE=${KNODE_CACHE:-/var/cache/knode}
export GOMODCACHE=${GOMODCACHE:-$CACHE/k8s-$KUBE_VERSION/gomod}
export GOCACHE=${GOCACHE:-$CACHE/k8s-$KUBE_VERSION/gocache}

case $KUBE_VERSION in
v1.*.*) ver=v0.${KUBE_VERSION#v1.} ;;
*) echo "cri-proto: cannot map Kubernetes version '$KUBE_VERSION' to a cri-api version" >&2; exit 1 ;;
esac
rel=pkg/apis/runtime/v1/api.proto
dir=$GOMODCACHE/k8s.io/cri-api@$ver

if [ ! -f "$dir/$rel" ]; then
	GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
	[ -x "$GO" ] || { echo "cri-proto: no Go toolchain (needed once to fetch k8s.io/cri-api@$ver)" >&2; exit 1; }
	mkdir -p "$GOMODCACHE"
	# Outside any module, with no GOFLAGS from the environment (-mod=mod is refused there).
	dir=$(cd / && GOFLAGS= "$GO" mod download -json "k8s.io/cri-api@$ver" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	[ -n "$dir" ] && [ -f "$dir/$rel" ] || { echo "cri-proto: could not download k8s.io/cri-api@$ver" >&2; exit 1; }
fi
if [ -n "$DEST" ]; then
	mkdir -p "$(dirname "$DEST")"
	cp "$dir/$rel" "$DEST"
	chmod u+w "$DEST"
fi
echo "$dir/$rel"
