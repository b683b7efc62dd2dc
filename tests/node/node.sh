#!/usr/bin/env bash
# A real Kubernetes node for knode's tests: containerd + CNI + a local image registry (+ the
# control plane from tests/cluster/cluster.sh, + a kubelet) in a network namespace of its own.
# See README.md beside this file.
#
# Network safety: everything runs inside NODE_NETNS, whose only way out is a veth into
# SINK_NETNS, a namespace that forwards nothing. Nothing is configured in the root namespace.
# Processes are started with `nsenter --net` (same mount namespace as the host, so containerd
# sees the kubelet's volume mounts), tracked by pid file and stopped by pid only.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
CLUSTER_SH=$REPO_ROOT/tests/cluster/cluster.sh
KUBE_VERSION=${KNODE_KUBE_VERSION:-$(tr -d ' \t\r\n' <"$REPO_ROOT/KUBE_VERSION")}
CACHE=${KNODE_CACHE:-/var/cache/knode}
BUILD_DIR=$CACHE/k8s-$KUBE_VERSION
BIN_DIR=$BUILD_DIR/bin
IMAGE_DIR=${KNODE_IMAGE_DIR:-$CACHE/images}
OCI=$IMAGE_DIR/oci

NODE_DIR=${KNODE_NODE_DIR:-/tmp/knode-node}
NETNS=${KNODE_NODE_NETNS:-knode-node}
SINK_NETNS=${KNODE_NODE_SINK_NETNS:-$NETNS-sink}
NODE_IP=${KNODE_NODE_IP:-10.250.0.2}
SINK_IP=${KNODE_NODE_SINK_IP:-10.250.0.1}
LINK_PREFIX=${KNODE_NODE_LINK_PREFIX:-24}
NODE_POD_CIDR=${KNODE_NODE_POD_CIDR:-10.244.0.0/24}
CGROUP_ROOT=${KNODE_NODE_CGROUP_ROOT:-/knode}
# The knode binary the node runs (the benchmark runs the static one).
KNODE_BIN=${KNODE_BIN:-$REPO_ROOT/knode}
REGISTRY_PORT=${KNODE_REGISTRY_PORT:-5000}
REGISTRY=127.0.0.1:$REGISTRY_PORT
NODE_NAME=${KNODE_NODE_NAME:-knode-node}
CLUSTER_DNS=${KNODE_CLUSTER_DNS:-10.96.0.10}
# 1: up/down also start/stop the control plane (cluster.sh up --full) inside NETNS.
WITH_CLUSTER=${KNODE_NODE_CLUSTER:-1}
export KNODE_CLUSTER_DIR=${KNODE_CLUSTER_DIR:-$NODE_DIR/cluster}
export KNODE_NODE_NAME=$NODE_NAME
# The kubelet: upstream (the one cluster.sh builds), knode (this repo's binary, applet
# `kubelet`), none, or the path of a binary taking upstream's flags.
KUBELET=${KUBELET:-upstream}
# kube-proxy: none, upstream, knode, or a path.
KUBE_PROXY=${KUBE_PROXY:-none}

NSPATH=/run/netns/$NETNS
RUN_DIR=$NODE_DIR/run
LOG_DIR=$NODE_DIR/logs
CTRD_DIR=$NODE_DIR/containerd
CTRD_SOCK=$CTRD_DIR/containerd.sock
CNI_NET=knode-$NETNS
PKI=$KNODE_CLUSTER_DIR/pki
PAUSE_VERSION=3.10.2

log() { printf '[node] %s\n' "$*" >&2; }
die() { printf '[node] ERROR: %s\n' "$*" >&2; exit 1; }
in_ns() { nsenter --net="$NSPATH" -- "$@"; }

# ---------------------------------------------------------------- images

# Images, as in upstream's test/utils/image/manifest.go at $KUBE_VERSION: the image, then the
# names it is pushed under (relative to the local registry).
COREDNS_VERSION=${KNODE_COREDNS_VERSION:-v1.14.2}
IMAGES=(
	"pause pause:$PAUSE_VERSION pause:3.10"
	"busybox e2e-test-images/busybox:1.37.0-1 library/busybox:latest"
	"agnhost e2e-test-images/agnhost:2.63.0 e2e-test-images/agnhost:2.55"
	"nginx e2e-test-images/nginx:1.15-4 e2e-test-images/nginx:1.27-0"
	"nonroot e2e-test-images/nonroot:1.5"
	"nonewprivs e2e-test-images/nonewprivs:1.4"
	"glibc e2e-test-images/glibc-dns-testing:2.0.0"
	# optional: only once tests/conformance/run.sh build has made the binary
	"coredns coredns/coredns:$COREDNS_VERSION"
)

# key_NAME prints what image NAME is made of: its inputs and the recipe (this script's
# functions that build it). Its tag in the cached layout is NAME-<hash of the key>, so
# checkouts with different recipes share the cache without rebuilding each other's images.
recipe() { declare -f "$@" | sha256sum | cut -c1-12; }
key_pause() {
	echo "pause $(sha256sum <"$SCRIPT_DIR/pause.c" | cut -c1-16) $(gcc -dumpfullversion) $(recipe build_pause image_config)"
}
key_busybox() {
	echo "busybox $(dpkg-query -W -f='${Version} ' busybox-static bash-static)" \
		"$(recipe build_busybox busybox_rootfs image_config)"
}
key_agnhost() {
	local bin=$IMAGE_DIR/bin/agnhost-$KUBE_VERSION
	[[ -x $bin ]] || return 1
	echo "agnhost $KUBE_VERSION $(stat -c '%s %Y' "$bin") $(key_busybox)" \
		"curl $(dpkg-query -W -f='${Version}' curl netcat-openbsd) $(recipe build_agnhost add_dynamic)"
}
key_nginx() { local k; k=$(key_agnhost) && echo "nginx $k $(recipe build_nginx)"; }
key_glibc() {
	echo "glibc $(dpkg-query -W -f='${Version} ' hostname libc6) $(key_busybox) $(recipe build_glibc add_dynamic)"
}
key_nonroot() { echo "nonroot $(key_busybox) $(recipe build_nonroot)"; }
key_nonewprivs() {
	echo "nonewprivs $(sha256sum <"$SCRIPT_DIR/nnp.c" | cut -c1-16) $(key_busybox) $(recipe build_nonewprivs)"
}
coredns_bin() { echo "${KNODE_COREDNS_BIN:-$CACHE/coredns-$COREDNS_VERSION/bin/coredns}"; }
key_coredns() {
	[[ -x $(coredns_bin) ]] || return 1
	echo "coredns $(stat -c '%s %Y' "$(coredns_bin)") $(recipe build_coredns image_config)"
}
tag_of() { # NAME -> its tag in the layout (fails when an input is missing)
	local k
	k=$("key_$1") || return 1
	echo "$1-$(sha256sum <<<"$k" | cut -c1-12)"
}
# (no `umoci ls | grep -q`: with pipefail, grep quitting early can fail the pipeline)
have_tag() { grep -qx "$1" <<<"$(umoci ls --layout "$OCI")"; }

# new_image TAG [FROM]: a fresh tag in the layout, empty or a copy of FROM
new_image() {
	umoci rm --image "$OCI:$1" 2>/dev/null || true
	if [[ -n ${2:-} ]]; then
		umoci tag --image "$OCI:$2" "$1"
	else
		umoci new --image "$OCI:$1"
	fi
}

image_config() { # TAG umoci-config-args...
	local tag=$1
	shift
	umoci config --image "$OCI:$tag" --os linux --architecture amd64 \
		--config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

build_pause() {
	local tag rf
	tag=$(tag_of pause)
	have_tag "$tag" && return 0
	rf=$(mktemp -d)
	chmod 755 "$rf"
	gcc -static -Os -Wall -Wextra -Werror -o "$rf/pause" "$SCRIPT_DIR/pause.c"
	strip "$rf/pause"
	new_image "$tag"
	umoci insert --image "$OCI:$tag" "$rf" /
	image_config "$tag" --config.entrypoint /pause --config.user 65535:65535
	rm -rf "$rf"
	log "image pause built ($tag)"
}

# busybox: Debian's static busybox for the applets, static bash as /bin/sh and /bin/bash
# (busybox ash drops env names like data-1 that upstream's tests use; see RUNTIME-FACTS).
busybox_rootfs() { # DIR
	local rf=$1 a
	mkdir -p "$rf"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,home,var/tmp,proc,sys,dev}
	chmod 1777 "$rf/tmp" "$rf/var/tmp"
	cp /bin/busybox "$rf/bin/busybox"
	cp /bin/bash-static "$rf/bin/bash"
	while read -r a; do
		[[ -e $rf/$a || -L $rf/$a ]] || ln -s /bin/busybox "$rf/$a"
	done < <(/bin/busybox --list-full)
	# upstream's busybox image has every applet in /bin too (tests run /bin/sysctl)
	while read -r a; do
		[[ -e $rf/bin/$a || -L $rf/bin/$a ]] || ln -s busybox "$rf/bin/$a"
	done < <(/bin/busybox --list)
	ln -sf bash "$rf/bin/sh"
	cat >"$rf/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
EOF
	cat >"$rf/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
nogroup:x:65534:
EOF
	echo "hosts: files dns" >"$rf/etc/nsswitch.conf"
}

build_busybox() {
	local tag rf
	tag=$(tag_of busybox)
	have_tag "$tag" && return 0
	rf=$(mktemp -d)
	chmod 755 "$rf"
	busybox_rootfs "$rf"
	new_image "$tag"
	umoci insert --image "$OCI:$tag" "$rf" /
	image_config "$tag" --config.cmd sh
	rm -rf "$rf"
	log "image busybox built ($tag)"
}

# add_dynamic BIN DIR: a host binary and the shared libraries it loads (ldd), same paths
add_dynamic() {
	local bin=$1 rf=$2 lib
	mkdir -p "$rf$(dirname "$bin")"
	cp -L "$bin" "$rf$bin"
	for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
		mkdir -p "$rf$(dirname "$lib")"
		cp -L "$lib" "$rf$lib"
	done
}

# agnhost from k8s.io/kubernetes@KUBE_VERSION, in a module beside cluster.sh's (same module
# and build caches) and under the same lock, so it waits for a running control-plane build.
build_agnhost_binary() {
	local src=$BUILD_DIR/images-src out=$IMAGE_DIR/bin/agnhost-$KUBE_VERSION
	[[ -x $out ]] && return 0
	local go=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
	[[ -x $go ]] || die "no go toolchain (set GO=/path/to/go)"
	bash "$CLUSTER_SH" build # writes the pinned go.mod this module starts from
	mkdir -p "$src" "$IMAGE_DIR/bin"
	(
		flock 9
		[[ -x $out ]] && exit 0
		export GOMODCACHE=$BUILD_DIR/gomod GOCACHE=$BUILD_DIR/gocache
		export GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
		sed 's#^module .*#module knode.invalid/k8s-images#' "$BUILD_DIR/src/go.mod" >"$src/go.mod"
		cp "$BUILD_DIR/src/go.sum" "$src/go.sum"
		cat >"$src/tools.go" <<'EOF'
//go:build tools

package tools

import _ "k8s.io/kubernetes/test/images/agnhost"
EOF
		local start=$SECONDS
		log "building agnhost ($KUBE_VERSION) with $("$go" version)"
		(cd "$src" && "$go" mod tidy) || die "go mod tidy (images) failed"
		(cd "$src" && "$go" build -trimpath -ldflags "-s -w" -o "$out.tmp" k8s.io/kubernetes/test/images/agnhost) ||
			die "go build agnhost failed"
		mv "$out.tmp" "$out"
		log "agnhost built in $((SECONDS - start)) s"
	) 9>"$BUILD_DIR/.lock"
}

# agnhost on the busybox rootfs, with what upstream's image has that the tests use
build_agnhost() {
	local tag rf m
	build_agnhost_binary
	tag=$(tag_of agnhost)
	have_tag "$tag" && return 0
	m=$(cd "$BUILD_DIR/gomod/k8s.io/kubernetes@$KUBE_VERSION/test/images/agnhost" && pwd)
	rf=$(mktemp -d)
	chmod 755 "$rf"
	mkdir -p "$rf/uploads" "$rf/etc"
	cp "$IMAGE_DIR/bin/agnhost-$KUBE_VERSION" "$rf/agnhost"
	ln -s agnhost "$rf/agnhost-2"
	cp "$m/porter/localhost.crt" "$m/porter/localhost.key" "$rf/"
	busybox_rootfs "$rf"
	# the user and group that a SupplementalGroups test expects in the image
	echo "user-defined-in-image:x:1000:1000::/home:/bin/sh" >>"$rf/etc/passwd"
	echo "user-defined-in-image:x:1000:" >>"$rf/etc/group"
	echo "group-defined-in-image:x:50000:user-defined-in-image" >>"$rf/etc/group"
	# upstream's tests exec curl in agnhost pods (lifecycle hooks, networking checks) and
	# nc -u (UDP checks), which busybox's nc lacks
	add_dynamic /usr/bin/curl "$rf"
	add_dynamic /bin/nc.openbsd "$rf"
	ln -sf /bin/nc.openbsd "$rf/bin/nc"
	ln -sf /bin/nc.openbsd "$rf/usr/bin/nc"
	chmod -R u+w "$rf"
	new_image "$tag"
	umoci insert --image "$OCI:$tag" "$rf" /
	image_config "$tag" --config.entrypoint /agnhost --config.cmd pause
	rm -rf "$rf"
	log "image agnhost built ($tag)"
}

# glibc-dns-testing: busybox with glibc's hostname (and the NSS modules), whose
# `hostname -f` resolves through /etc/hosts as the hostname tests expect
build_glibc() {
	local tag rf lib
	tag=$(tag_of glibc)
	have_tag "$tag" && return 0
	rf=$(mktemp -d)
	chmod 755 "$rf"
	busybox_rootfs "$rf"
	rm -f "$rf/bin/hostname"
	add_dynamic /bin/hostname "$rf"
	for lib in /lib/x86_64-linux-gnu/libnss_files.so.2 /lib/x86_64-linux-gnu/libnss_dns.so.2; do
		[[ -e $lib ]] && cp -L "$lib" "$rf$lib"
	done
	chmod -R u+w "$rf"
	new_image "$tag"
	umoci insert --image "$OCI:$tag" "$rf" /
	image_config "$tag" --config.cmd sh
	rm -rf "$rf"
	log "image glibc-dns-testing built ($tag)"
}

# nonroot: busybox whose image config names user 1234 (upstream's e2e-test-images/nonroot)
build_nonroot() {
	local tag rf
	tag=$(tag_of nonroot)
	have_tag "$tag" && return 0
	rf=$(mktemp -d)
	chmod 755 "$rf"
	busybox_rootfs "$rf"
	echo "nonroot:x:1234:1234:nonroot:/home:/bin/sh" >>"$rf/etc/passwd"
	echo "nonroot:x:1234:" >>"$rf/etc/group"
	new_image "$tag"
	umoci insert --image "$OCI:$tag" "$rf" /
	image_config "$tag" --config.cmd sh --config.user 1234
	rm -rf "$rf"
	log "image nonroot built ($tag)"
}

# nonewprivs: busybox with a setuid-root program printing its effective uid
build_nonewprivs() {
	local tag rf
	tag=$(tag_of nonewprivs)
	have_tag "$tag" && return 0
	rf=$(mktemp -d)
	chmod 755 "$rf"
	busybox_rootfs "$rf"
	mkdir -p "$rf/usr/local/bin"
	gcc -static -Os -Wall -Wextra -Werror -o "$rf/usr/local/bin/nnp" "$SCRIPT_DIR/nnp.c"
	chmod 4755 "$rf/usr/local/bin/nnp"
	new_image "$tag"
	umoci insert --image "$OCI:$tag" "$rf" /
	image_config "$tag" --config.cmd nnp
	rm -rf "$rf"
	log "image nonewprivs built ($tag)"
}

# nginx stand-in: agnhost serving HTTP on port 80
build_nginx() {
	local tag
	tag=$(tag_of nginx)
	have_tag "$tag" && return 0
	new_image "$tag" "$(tag_of agnhost)"
	image_config "$tag" --clear config.cmd --clear config.entrypoint \
		--config.entrypoint /agnhost --config.entrypoint test-webserver \
		--config.entrypoint --port=80 --config.exposedports 80/tcp
	log "image nginx built ($tag: agnhost test-webserver on :80)"
}

# CoreDNS (cluster DNS for the conformance suite): the binary that tests/conformance/run.sh
# builds, alone in an image. Skipped while that binary does not exist.
build_coredns() {
	local tag rf
	tag=$(tag_of coredns) || return 0
	have_tag "$tag" && return 0
	rf=$(mktemp -d)
	chmod 755 "$rf"
	mkdir -p "$rf/etc" "$rf/tmp"
	cp "$(coredns_bin)" "$rf/coredns"
	echo "nobody:x:65534:65534:nobody:/:/coredns" >"$rf/etc/passwd"
	new_image "$tag"
	umoci insert --image "$OCI:$tag" "$rf" /
	image_config "$tag" --config.entrypoint /coredns --config.exposedports 53/udp
	rm -rf "$rf"
	log "image coredns built ($tag)"
}

cmd_build_images() {
	local start=$SECONDS
	for t in umoci skopeo gcc; do command -v $t >/dev/null || die "$t missing (scripts/deps.sh)"; done
	[[ -x /bin/busybox && -x /bin/bash-static ]] || die "busybox-static/bash-static missing (scripts/deps.sh)"
	mkdir -p "$IMAGE_DIR"
	(
		flock 8
		[[ -d $OCI ]] || umoci init --layout "$OCI"
		build_pause
		build_busybox
		build_agnhost
		build_nginx
		build_nonroot
		build_nonewprivs
		build_glibc
		build_coredns
		umoci gc --layout "$OCI"
	) 8>"$IMAGE_DIR/.lock"
	log "images ready in $OCI ($((SECONDS - start)) s)"
}

push_images() {
	local line img tag name rest
	for line in "${IMAGES[@]}"; do
		read -r img rest <<<"$line"
		if ! tag=$(tag_of "$img") || ! have_tag "$tag"; then
			[[ $img == coredns ]] && continue
			die "image $img not built: $0 build-images"
		fi
		for name in $rest; do
			in_ns skopeo copy -q --dest-tls-verify=false "oci:$OCI:$tag" "docker://$REGISTRY/$name" >/dev/null ||
				die "push of $tag as $REGISTRY/$name failed"
		done
	done
	log "images pushed to $REGISTRY"
}

write_repo_list() {
	cat >"$NODE_DIR/repo-list.yaml" <<EOF
# KUBE_TEST_REPO_LIST for upstream's e2e.test: every registry it uses maps to the node's
# local registry (only reachable inside network namespace $NETNS).
gcRegistry: $REGISTRY
gcEtcdRegistry: $REGISTRY
promoterE2eRegistry: $REGISTRY/e2e-test-images
buildImageRegistry: $REGISTRY/build-image
sigStorageRegistry: $REGISTRY/sig-storage
privateRegistry: $REGISTRY/k8s-authenticated-test
dockerLibraryRegistry: $REGISTRY/library
cloudProviderGcpRegistry: $REGISTRY/cloud-provider-gcp
EOF
}

# ---------------------------------------------------------------- processes

pid_of() { # name -> pid if running (argv[0] must match what we started)
	local f=$RUN_DIR/$1.pid pid argv0
	[[ -f $f ]] || return 1
	pid=$(head -1 "$f")
	[[ $pid =~ ^[0-9]+$ && -r /proc/$pid/stat ]] || return 1
	[[ $(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null) != Z ]] || return 1
	argv0=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -1) || return 1
	[[ $argv0 == "$(sed -n 2p "$f")" ]] || return 1
	echo "$pid"
}

# start NAME ARGV...: in NETNS and in the cgroup CGROUP_ROOT/runtime, logs to LOG_DIR/NAME.log
start() {
	local name=$1 pid i
	shift
	if pid=$(pid_of "$name"); then
		log "$name already running (pid $pid)"
		return 0
	fi
	mkdir -p "$LOG_DIR" "$RUN_DIR"
	echo "--- $(date -u +%FT%TZ) start: $*" >>"$LOG_DIR/$name.log"
	local -a procs=()
	mapfile -t procs < <(cgroup_hierarchies | sed "s#\$#$CGROUP_ROOT/runtime/cgroup.procs#")
	# shellcheck disable=SC2016
	setsid bash -c 'n=$1; shift; for ((i = 0; i < n; i++)); do echo $$ >"$1" || exit 1; shift; done
		exec nsenter --net="$NSPATH" -- "$@"' _ "${#procs[@]}" "${procs[@]}" "$@" \
		>>"$LOG_DIR/$name.log" 2>&1 </dev/null &
	pid=$!
	printf '%s\n%s\n' "$pid" "$1" >"$RUN_DIR/$name.pid"
	for ((i = 0; i < 100; i++)); do
		[[ $(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -1) == "$1" ]] && break
		[[ -e /proc/$pid ]] || break
		sleep 0.05
	done
	pid_of "$name" >/dev/null || { tail -n 20 "$LOG_DIR/$name.log" >&2; die "$name did not start"; }
	log "started $name (pid $pid, log $LOG_DIR/$name.log)"
}
export NSPATH

stop() { # NAME: SIGTERM, SIGKILL after KNODE_STOP_GRACE (10 s)
	local name=$1 pid i grace=${KNODE_STOP_GRACE:-10}
	if ! pid=$(pid_of "$name"); then
		rm -f "$RUN_DIR/$name.pid"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < grace * 10; i++)); do
		pid_of "$name" >/dev/null || break
		sleep 0.1
	done
	if pid_of "$name" >/dev/null; then
		log "$name (pid $pid) still running ${grace}s after SIGTERM; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do pid_of "$name" >/dev/null || break; sleep 0.1; done
	fi
	rm -f "$RUN_DIR/$name.pid"
	log "stopped $name (pid $pid)"
}

wait_for() { # WHAT TIMEOUT COMMAND...: until COMMAND succeeds
	local what=$1 timeout=$2 deadline
	shift 2
	deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || die "$what not ready after ${timeout}s"
		sleep 0.2
	done
}

# ---------------------------------------------------------------- netns and cgroups

setup_netns() {
	if [[ ! -e $NSPATH ]]; then
		ip netns add "$NETNS"
		: >"$RUN_DIR/netns.owned"
	fi
	ip -n "$NETNS" link set lo up
	if [[ ! -e /run/netns/$SINK_NETNS ]]; then
		ip netns add "$SINK_NETNS"
	fi
	ip -n "$SINK_NETNS" link set lo up
	# The sink routes nothing anywhere: forwarding off, and no interface but the veth.
	nsenter --net="/run/netns/$SINK_NETNS" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
	if ! ip -n "$NETNS" link show kn-uplink >/dev/null 2>&1; then
		ip -n "$NETNS" link add kn-uplink type veth peer name kn-sink netns "$SINK_NETNS"
	fi
	ip -n "$NETNS" addr replace "$NODE_IP/$LINK_PREFIX" dev kn-uplink
	ip -n "$SINK_NETNS" addr replace "$SINK_IP/$LINK_PREFIX" dev kn-sink
	ip -n "$NETNS" link set kn-uplink up
	ip -n "$SINK_NETNS" link set kn-sink up
	ip -n "$NETNS" route replace default via "$SINK_IP" dev kn-uplink
	log "netns $NETNS (node ip $NODE_IP, default route into $SINK_NETNS, which forwards nothing)"
}

cgroup_hierarchies() {
	local h
	for h in /sys/fs/cgroup/*; do
		[[ -d $h ]] && mountpoint -q "$h" && echo "$h"
	done
}

setup_cgroups() {
	local h d
	for h in $(cgroup_hierarchies); do
		for d in "$CGROUP_ROOT" "$CGROUP_ROOT/runtime"; do
			mkdir -p "$h$d"
			if [[ -f $h$d/cpuset.cpus && -z $(cat "$h$d/cpuset.cpus") ]]; then
				cat "$(dirname "$h$d")/cpuset.cpus" >"$h$d/cpuset.cpus"
				cat "$(dirname "$h$d")/cpuset.mems" >"$h$d/cpuset.mems"
			fi
		done
	done
}

# every pid in the cgroup subtree CGROUP_ROOT (of the pids hierarchy, or the first one)
cgroup_pids() {
	local h all
	all=$(cgroup_hierarchies)
	h=$(grep -x '.*/pids' <<<"$all" || head -1 <<<"$all")
	[[ -d $h$CGROUP_ROOT ]] || return 0
	find "$h$CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -un
}

remove_cgroups() {
	local h
	for h in $(cgroup_hierarchies); do
		[[ -d $h$CGROUP_ROOT ]] || continue
		find "$h$CGROUP_ROOT" -depth -type d -exec rmdir {} + 2>/dev/null || true
		[[ -d $h$CGROUP_ROOT ]] && log "could not remove cgroup $h$CGROUP_ROOT"
	done
	return 0
}

# ---------------------------------------------------------------- containerd, CNI, registry

write_containerd_config() {
	mkdir -p "$CTRD_DIR"/{root,state,certs.d} "$NODE_DIR/cni/net.d" "$NODE_DIR/cni/ipam"
	cat >"$CTRD_DIR/config.toml" <<EOF
# containerd for knode's test node (tests/node/node.sh); everything under $NODE_DIR.
version = 2
root = "$CTRD_DIR/root"
state = "$CTRD_DIR/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.grpc.v1.introspection-service"]

[grpc]
  address = "$CTRD_SOCK"

[ttrpc]
  address = "$CTRD_SOCK.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$CTRD_DIR/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$REGISTRY/pause:$PAUSE_VERSION"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$(command -v runc)"
        Root = "$CTRD_DIR/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_DIR/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$CTRD_DIR/certs.d"
EOF
	# The local registry, and the public registries the tests name, all served by it
	# (plain http, no fallback: nothing is ever fetched from outside).
	local host
	for host in "$REGISTRY" registry.k8s.io docker.io gcr.io; do
		mkdir -p "$CTRD_DIR/certs.d/$host"
		cat >"$CTRD_DIR/certs.d/$host/hosts.toml" <<EOF
server = "http://$REGISTRY"

[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
EOF
	done
	# ptp + host-local: routed pod veths, no bridge, no br_netfilter needed. containerd adds
	# the loopback plugin for lo itself.
	cat >"$NODE_DIR/cni/net.d/10-knode.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$CNI_NET",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$NODE_POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$NODE_DIR/cni/ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

start_containerd() {
	write_containerd_config
	start containerd "$(command -v containerd)" --config "$CTRD_DIR/config.toml"
	wait_for containerd 30 ctr --address "$CTRD_SOCK" version
	log "containerd ready at $CTRD_SOCK"
}

start_registry() {
	mkdir -p "$NODE_DIR/registry/data"
	cat >"$NODE_DIR/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $NODE_DIR/registry/data
  delete:
    enabled: true
http:
  addr: $REGISTRY
EOF
	start registry "$(command -v docker-registry)" serve "$NODE_DIR/registry/config.yml"
	wait_for registry 30 in_ns curl -sf "http://$REGISTRY/v2/"
}

# ---------------------------------------------------------------- kubelet, kube-proxy

kubelet_bin() { # -> argv prefix, one word a line
	case $KUBELET in
	upstream) echo "$BIN_DIR/kubelet" ;;
	knode) printf '%s\n%s\n' "$KNODE_BIN" kubelet ;;
	knode-all) printf '%s\n%s\n' "$KNODE_BIN" all ;;
	none) ;;
	*) echo "$KUBELET" ;;
	esac
}

write_kubelet_config() {
	local d=$NODE_DIR/kubelet
	mkdir -p "$d/root" "$d/pod-logs" "$d/volume-plugins" "$d/manifests"
	# Pods with dnsPolicy Default get this file; its nameserver is the sink (drops everything).
	printf 'nameserver %s\noptions ndots:1\n' "$SINK_IP" >"$NODE_DIR/resolv.conf"
	cat >"$d/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 hybrid host (1.35+ refuses v1 unless told), cgroupfs under our own root
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: $CGROUP_ROOT
cgroupsPerQOS: true
failSwapOn: false
containerRuntimeEndpoint: unix://$CTRD_SOCK
imageServiceEndpoint: unix://$CTRD_SOCK
address: 0.0.0.0
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $PKI/ca.crt
authorization:
  mode: Webhook
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
rotateCertificates: false
serverTLSBootstrap: false
clusterDNS: [$CLUSTER_DNS]
clusterDomain: cluster.local
resolvConf: $NODE_DIR/resolv.conf
podLogsDir: $d/pod-logs
volumePluginDir: $d/volume-plugins
staticPodPath: $d/manifests
# the disk is shared with other work: evict only when it is really full
evictionHard:
  memory.available: 100Mi
  nodefs.available: 2%
  nodefs.inodesFree: 2%
  imagefs.available: 2%
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
serializeImagePulls: false
maxPods: 110
EOF
}

# The upstream kubelet sets host-wide sysctls at start (vm.overcommit_memory, kernel.panic,
# kernel.panic_on_oops, kernel.keys.*). This node shares the machine: save them before the
# kubelet starts, and put them back once it runs and at down.
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
save_sysctls() {
	[[ -f $RUN_DIR/sysctl.saved ]] && return 0
	sysctl "${SYSCTLS[@]}" | sed 's/ = /=/' >"$RUN_DIR/sysctl.saved"
}
restore_sysctls() {
	[[ -f $RUN_DIR/sysctl.saved ]] || return 0
	local changed
	changed=$(sysctl "${SYSCTLS[@]}" | sed 's/ = /=/' | grep -vxF -f "$RUN_DIR/sysctl.saved" || true)
	[[ -z $changed ]] && return 0
	xargs sysctl -qw <"$RUN_DIR/sysctl.saved"
	log "restored host sysctls the kubelet changed: $(echo "$changed" | tr '\n' ' ')"
}

node_ready() {
	[[ $(in_ns "$BIN_DIR/kubectl" --kubeconfig "$KNODE_CLUSTER_DIR/admin.kubeconfig" get node "$NODE_NAME" \
		-o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

start_kubelet() {
	local -a bin
	mapfile -t bin < <(kubelet_bin)
	((${#bin[@]})) || { log "KUBELET=none: no kubelet started"; return 0; }
	[[ -x ${bin[0]} ]] || die "kubelet binary ${bin[0]} missing (cluster.sh build, or make)"
	[[ -f $KNODE_CLUSTER_DIR/node.kubeconfig ]] || die "no $KNODE_CLUSTER_DIR/node.kubeconfig: is the control plane up?"
	write_kubelet_config
	save_sysctls
	local -a extra=()
	# shellcheck disable=SC2206
	[[ -n ${KUBELET_ARGS:-} ]] && extra=(${KUBELET_ARGS})
	local config_flag=--config
	if [[ $KUBELET == knode-all ]]; then
		# kubelet and kube-proxy in one process, with one credential: the node's, which
		# then also needs kube-proxy's permissions (EndpointSlices)
		in_ns "$BIN_DIR/kubectl" --kubeconfig "$KNODE_CLUSTER_DIR/admin.kubeconfig" create clusterrolebinding \
			knode-all-node-proxier --clusterrole=system:node-proxier --group=system:nodes \
			--dry-run=client -o yaml |
			in_ns "$BIN_DIR/kubectl" --kubeconfig "$KNODE_CLUSTER_DIR/admin.kubeconfig" apply -f - >/dev/null
		# knode all takes both applets' flags
		config_flag=--kubelet-config
		extra+=(--cluster-cidr="${KNODE_POD_CIDR:-10.244.0.0/16}" --conntrack-max-per-core=0
			--proxy-metrics-bind-address=127.0.0.1:10249 --proxy-healthz-bind-address=127.0.0.1:10256)
	fi
	start kubelet "${bin[@]}" \
		"$config_flag=$NODE_DIR/kubelet/config.yaml" \
		--kubeconfig="$KNODE_CLUSTER_DIR/node.kubeconfig" \
		--root-dir="$NODE_DIR/kubelet/root" \
		--hostname-override="$NODE_NAME" \
		--node-ip="$NODE_IP" \
		--v="${KUBELET_V:-2}" \
		"${extra[@]}"
	local deadline=$((SECONDS + ${KNODE_NODE_READY_TIMEOUT:-120}))
	until node_ready; do
		pid_of kubelet >/dev/null || { tail -n 30 "$LOG_DIR/kubelet.log" >&2; restore_sysctls; die "kubelet exited"; }
		((SECONDS < deadline)) || { restore_sysctls; die "node $NODE_NAME not Ready; log: $LOG_DIR/kubelet.log"; }
		sleep 0.5
	done
	restore_sysctls
	log "node $NODE_NAME Ready (kubelet: ${bin[*]})"
}

start_kube_proxy() {
	local -a bin
	case $KUBE_PROXY in
	none) return 0 ;;
	upstream) bin=("$BIN_DIR/kube-proxy") ;;
	knode) bin=("$KNODE_BIN" kube-proxy) ;;
	*) bin=("$KUBE_PROXY") ;;
	esac
	start kube-proxy "${bin[@]}" \
		--kubeconfig="$KNODE_CLUSTER_DIR/kube-proxy.kubeconfig" \
		--hostname-override="$NODE_NAME" \
		--cluster-cidr="${KNODE_POD_CIDR:-10.244.0.0/16}" \
		--proxy-mode=nftables \
		--conntrack-max-per-core=0 \
		--metrics-bind-address=127.0.0.1:10249 \
		--healthz-bind-address=127.0.0.1:10256 \
		--v=2
}

# ---------------------------------------------------------------- commands

cmd_up() {
	local start=$SECONDS
	[[ $(id -u) == 0 ]] || die "needs root (network namespaces, cgroups, mounts)"
	for t in containerd runc docker-registry skopeo nsenter; do
		command -v $t >/dev/null || die "$t missing (scripts/deps.sh)"
	done
	mkdir -p "$NODE_DIR" "$RUN_DIR" "$LOG_DIR"
	cmd_build_images
	setup_netns
	setup_cgroups
	write_repo_list
	if [[ $WITH_CLUSTER == 1 ]]; then
		bash "$CLUSTER_SH" build
		KNODE_APISERVER_ADVERTISE_ADDRESS=$NODE_IP in_ns bash "$CLUSTER_SH" up --full
		: >"$RUN_DIR/cluster.owned"
	fi
	start_registry
	# a shared lock: another node's build-images does not rewrite the layout meanwhile
	(flock -s 8 && push_images) 8>"$IMAGE_DIR/.lock"
	start_containerd
	start_kube_proxy
	start_kubelet
	log "node up in $((SECONDS - start)) s; eval \"\$($0 env)\""
}

unmount_under() { # DIR: every mount below DIR, deepest first
	local dir=$1 i m
	for ((i = 0; i < 5; i++)); do
		mapfile -t m < <(awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
		((${#m[@]})) || return 0
		for f in "${m[@]}"; do umount "$f" 2>/dev/null || umount -l "$f" 2>/dev/null || true; done
	done
	log "mounts left under $dir: ${m[*]}"
}

cmd_down() {
	local purge=0 a pids i id
	for a in "$@"; do
		case $a in
		--purge) purge=1 ;;
		*) die "down: unknown argument $a" ;;
		esac
	done
	stop kubelet
	stop kube-proxy
	# Containers, then containerd, the registry and the shims: all live under CGROUP_ROOT.
	stop containerd
	stop registry
	for ((i = 0; i < 50; i++)); do
		pids=$(cgroup_pids)
		[[ -z $pids ]] && break
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null || true
		sleep 0.1
	done
	[[ -z $pids ]] || log "processes left in cgroup $CGROUP_ROOT: $pids"
	restore_sysctls
	unmount_under "$NODE_DIR"
	remove_cgroups
	# The CNI library's result cache of our sandboxes (no CNI DEL ran for them)
	for id in $(ls "$CTRD_DIR/root/io.containerd.grpc.v1.cri/sandboxes" 2>/dev/null); do
		rm -f /var/lib/cni/results/*-"$id"-*
	done
	rm -f /var/lib/cni/results/"$CNI_NET"-*
	if [[ -f $RUN_DIR/cluster.owned && -e $NSPATH ]]; then
		in_ns bash "$CLUSTER_SH" down --purge || true
	fi
	rm -f "$RUN_DIR/cluster.owned"
	if [[ -e $NSPATH ]]; then
		ip -n "$NETNS" link del kn-uplink 2>/dev/null || true
		if [[ -f $RUN_DIR/netns.owned ]]; then ip netns del "$NETNS" || true; fi
	fi
	rm -f "$RUN_DIR/netns.owned"
	[[ -e /run/netns/$SINK_NETNS ]] && { ip netns del "$SINK_NETNS" || true; }
	rm -rf "$CTRD_DIR" "$NODE_DIR/kubelet" "$NODE_DIR/cni" "$NODE_DIR/registry"
	if [[ $purge == 1 ]]; then
		rm -rf "$NODE_DIR"
	fi
	log "node down"
}

cmd_status() {
	local c pid rc=0
	for c in registry containerd kube-proxy kubelet; do
		if pid=$(pid_of "$c"); then echo "$c: running (pid $pid)"; else echo "$c: stopped"; fi
	done
	pid_of containerd >/dev/null || rc=1
	[[ -e $NSPATH ]] && echo "netns: $NETNS" || { echo "netns: missing"; rc=1; }
	if [[ -e $NSPATH && -f $KNODE_CLUSTER_DIR/admin.kubeconfig ]]; then
		in_ns bash "$CLUSTER_SH" status || true
		in_ns "$BIN_DIR/kubectl" --kubeconfig "$KNODE_CLUSTER_DIR/admin.kubeconfig" get nodes -o wide 2>/dev/null || true
	fi
	return $rc
}

cmd_env() {
	echo "export KNODE_NODE_DIR=$NODE_DIR"
	echo "export KNODE_NODE_NETNS=$NETNS"
	echo "export KNODE_NODE_IP=$NODE_IP"
	echo "export KNODE_NODE_NAME=$NODE_NAME"
	echo "export KNODE_NODE_CGROUP_ROOT=$CGROUP_ROOT"
	echo "export KNODE_CONTAINERD_SOCK=$CTRD_SOCK"
	echo "export KNODE_REGISTRY=$REGISTRY"
	echo "export KUBE_TEST_REPO_LIST=$NODE_DIR/repo-list.yaml"
	echo "export KNODE_KUBELET_CONFIG=$NODE_DIR/kubelet/config.yaml"
	echo "export KNODE_NSENTER='nsenter --net=$NSPATH --'"
	bash "$CLUSTER_SH" env
}

usage() {
	cat <<EOF
usage: $0 COMMAND
  build-images        build pause, busybox, agnhost, nginx (stand-in) into $OCI (cached)
  up                  netns $NETNS (+ $SINK_NETNS), control plane (KNODE_NODE_CLUSTER=1),
                      registry $REGISTRY, containerd, kube-proxy (KUBE_PROXY=$KUBE_PROXY) and the
                      kubelet (KUBELET=upstream|knode|none|PATH; now $KUBELET); waits for Ready
  kubelet             (re)start only the kubelet (stop-kubelet stops it)
  down [--purge]      stop everything by pid, unmount, remove cgroups and namespaces
  status              what runs
  env                 print exports: eval "\$($0 env)"
  kubectl ARGS...     kubectl (admin) inside the netns
  exec CMD...         run CMD inside the netns
EOF
}

main() {
	local cmd=${1:-}
	[[ $# -gt 0 ]] && shift
	case $cmd in
	build-images) cmd_build_images ;;
	up) cmd_up "$@" ;;
	down) cmd_down "$@" ;;
	kubelet)
		stop kubelet
		start_kubelet
		;;
	stop-kubelet) stop kubelet ;;
	status) cmd_status ;;
	env) cmd_env ;;
	kubectl) in_ns "$BIN_DIR/kubectl" --kubeconfig "$KNODE_CLUSTER_DIR/admin.kubeconfig" "$@" ;;
	exec) in_ns "$@" ;;
	-h | --help | help) usage ;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

# sourced (tests, debugging): only the definitions
[[ ${BASH_SOURCE[0]} != "$0" ]] || main "$@"
