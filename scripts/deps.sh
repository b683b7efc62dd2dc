#!/usr/bin/env bash
# Install everything knode needs to build and test, from Debian's packages.
# Idempotent and quick when all is there. Go (for the test control plane) comes
# with the machine; tests/cluster/cluster.sh says so if it is missing.
set -euo pipefail

PKGS=(
	build-essential pkg-config git ca-certificates
	libcurl4-openssl-dev libcjson-dev libyaml-dev libnftnl-dev libmnl-dev libprotobuf-c-dev protobuf-c-compiler
	libssl-dev libnghttp2-dev zlib1g-dev
	libcmocka-dev clang libclang-rt-14-dev libfuzzer-14-dev
	nftables iproute2 conntrack openssl curl procps
	python3 python3-pytest
	# the test node (tests/node/node.sh): runtime, CNI, local registry, image tools
	containerd runc containernetworking-plugins docker-registry umoci skopeo
	busybox-static bash-static util-linux netcat-openbsd hostname
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "[deps] installing: ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
python3 -m pytest --version >/dev/null 2>&1 || python3 -m pip install -q pytest
echo "[deps] ok" >&2
