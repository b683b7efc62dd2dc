#!/usr/bin/env bash
# A real Kubernetes control plane (etcd + kube-apiserver [+ controller-manager,
# scheduler]) on loopback, for knode's tests. See README.md beside this file.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
KUBE_VERSION=${KNODE_KUBE_VERSION:-$(tr -d ' \t\r\n' <"$REPO_ROOT/KUBE_VERSION")}
CACHE=${KNODE_CACHE:-/var/cache/knode}
BUILD_DIR=$CACHE/k8s-$KUBE_VERSION
BIN_DIR=$BUILD_DIR/bin
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl kube-proxy kubelet etcd)

CLUSTER_DIR=${KNODE_CLUSTER_DIR:-/tmp/knode-cluster}
PKI=$CLUSTER_DIR/pki
RUN_DIR=$CLUSTER_DIR/run
LOG_DIR=$CLUSTER_DIR/logs
ETCD_DATA=$CLUSTER_DIR/etcd-data

APISERVER_PORT=${KNODE_APISERVER_PORT:-6443}
ETCD_PORT=${KNODE_ETCD_PORT:-23790}
ETCD_PEER_PORT=${KNODE_ETCD_PEER_PORT:-23800}
KCM_PORT=${KNODE_KCM_PORT:-10257}
SCHEDULER_PORT=${KNODE_SCHEDULER_PORT:-10259}
NODE_NAME=${KNODE_NODE_NAME:-knode-node}
SERVICE_CIDR=${KNODE_SERVICE_CIDR:-10.96.0.0/16}
SERVICE_IP=${KNODE_SERVICE_IP:-10.96.0.1}
POD_CIDR=${KNODE_POD_CIDR:-10.244.0.0/16}
READY_TIMEOUT=${KNODE_READY_TIMEOUT:-60}
# A real (non-loopback) address of the network namespace the cluster runs in: the apiserver
# then listens on all addresses and advertises this one, and the `kubernetes` Service gets
# it as its endpoint (tests/node/node.sh). Only for a cluster inside its own netns.
ADVERTISE_ADDRESS=${KNODE_APISERVER_ADVERTISE_ADDRESS:-}
SERVER=https://127.0.0.1:$APISERVER_PORT

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
ETCD_BIN=${KNODE_ETCD_BIN:-$BIN_DIR/etcd}
KUBECTL=$BIN_DIR/kubectl

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- build

binaries_present() {
	[[ -f $BIN_DIR/.complete ]] || return 1
	local b
	for b in "${BINARIES[@]}"; do [[ -x $BIN_DIR/$b ]] || return 1; done
}

cmd_build() {
	if binaries_present; then
		log "binaries for $KUBE_VERSION already in $BIN_DIR (reusing)"
		return 0
	fi
	[[ -x $GO ]] || die "no go toolchain (set GO=/path/to/go)"
	# One build at a time per version (parallel test jobs may all call up). A subshell,
	# so that the lock's fd is not inherited by the daemons that up starts afterwards.
	mkdir -p "$BUILD_DIR"
	(
		flock 9
		if binaries_present; then
			log "binaries for $KUBE_VERSION built meanwhile by another process"
			exit 0
		fi
		build_locked
	) 9>"$BUILD_DIR/.lock"
}

build_locked() {
	local start src gomod_file gover stg_ver major minor rest ldflags pkg date
	start=$(date +%s)
	src=$BUILD_DIR/src
	mkdir -p "$src/cmd/etcd" "$BIN_DIR"
	export GOMODCACHE=$BUILD_DIR/gomod GOCACHE=$BUILD_DIR/gocache
	export GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
	log "building Kubernetes $KUBE_VERSION + etcd into $BIN_DIR with $("$GO" version)"

	# kubernetes' own go.mod names every staging module (k8s.io/X => ./staging/src/k8s.io/X);
	# a consumer must pin each of them to the matching v0.Y.Z.
	gomod_file=$(cd "$BUILD_DIR" && "$GO" mod download -json "k8s.io/kubernetes@$KUBE_VERSION" |
		sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
	[[ -f $gomod_file ]] || die "could not download k8s.io/kubernetes@$KUBE_VERSION"
	gover=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod_file" | head -1)
	stg_ver=v0.${KUBE_VERSION#v1.}
	local -a staging
	mapfile -t staging < <(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/src/.*#\1#p' "$gomod_file")
	((${#staging[@]} > 0)) || die "no staging replaces found in $gomod_file"
	log "go $gover; pinning ${#staging[@]} staging modules to $stg_ver"

	{
		echo "module knode.invalid/k8s-build"
		echo
		echo "go ${gover:-1.26}"
		echo
		echo "require k8s.io/kubernetes $KUBE_VERSION"
		echo
		echo "replace ("
		local m
		for m in "${staging[@]}"; do echo "	$m => $m $stg_ver"; done
		echo ")"
	} >"$src/go.mod"
	cat >"$src/tools.go" <<'EOF'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3/etcdmain"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOF
	cat >"$src/cmd/etcd/main.go" <<'EOF'
// etcd server at the version kubernetes itself requires.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
	(cd "$src" && "$GO" mod tidy) || die "go mod tidy failed"
	log "etcd server: $(cd "$src" && "$GO" list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"

	IFS=. read -r major minor rest <<<"${KUBE_VERSION#v}"
	date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	ldflags="-s -w"
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
		ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
	done
	rm -f "$BIN_DIR/.complete"
	# One invocation, so the shared packages compile once.
	(cd "$src" && "$GO" build -trimpath -ldflags "$ldflags" -o "$BIN_DIR/" \
		./cmd/etcd \
		k8s.io/kubernetes/cmd/kube-apiserver \
		k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler \
		k8s.io/kubernetes/cmd/kubectl \
		k8s.io/kubernetes/cmd/kube-proxy \
		k8s.io/kubernetes/cmd/kubelet) || die "go build failed"
	echo "$KUBE_VERSION" >"$BIN_DIR/.complete"
	"$BIN_DIR/kube-apiserver" --version >&2
	"$BIN_DIR/etcd" --version 2>&1 | head -1 >&2
	log "build took $(($(date +%s) - start)) s"
}

need_binaries() {
	binaries_present || cmd_build
	[[ -x $ETCD_BIN ]] || die "etcd binary $ETCD_BIN missing"
}

# ---------------------------------------------------------------- pki

# openssl config with the extension profiles used below.
write_openssl_cnf() {
	cat >"$PKI/openssl.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature,keyEncipherment,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
[apiserver]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1,DNS:localhost,IP:$SERVICE_IP${ADVERTISE_ADDRESS:+,IP:$ADVERTISE_ADDRESS},DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
[kubelet]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1,DNS:localhost,DNS:$NODE_NAME
EOF
}

make_ca() { # name CN
	[[ -f $PKI/$1.crt && -f $PKI/$1.key ]] && return 0
	openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days 3650 \
		-config "$PKI/openssl.cnf" -extensions ca -subj "/CN=$2" \
		-keyout "$PKI/$1.key" -out "$PKI/$1.crt" 2>/dev/null
	chmod 600 "$PKI/$1.key"
}

make_cert() { # name subject profile [ca]
	local name=$1 subj=$2 profile=$3 ca=${4:-ca}
	[[ -f $PKI/$name.crt && -f $PKI/$name.key ]] && return 0
	openssl req -new -nodes -newkey rsa:2048 -sha256 -config "$PKI/openssl.cnf" \
		-subj "$subj" -keyout "$PKI/$name.key" -out "$PKI/$name.csr" 2>/dev/null
	openssl x509 -req -sha256 -days 3650 -in "$PKI/$name.csr" \
		-CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" -set_serial "0x$(openssl rand -hex 16)" \
		-extfile "$PKI/openssl.cnf" -extensions "$profile" -out "$PKI/$name.crt" 2>/dev/null
	rm -f "$PKI/$name.csr"
	chmod 600 "$PKI/$name.key"
}

b64() { base64 -w0 <"$1"; }

# write_kubeconfig FILE USER CA_FILE MODE(files|data|token) [CERT KEY | TOKEN]
write_kubeconfig() {
	local file=$1 user=$2 ca=$3 mode=$4
	{
		echo "apiVersion: v1"
		echo "kind: Config"
		echo "clusters:"
		echo "- name: knode"
		echo "  cluster:"
		echo "    server: $SERVER"
		if [[ $mode == data ]]; then
			echo "    certificate-authority-data: $(b64 "$ca")"
		else
			echo "    certificate-authority: $ca"
		fi
		echo "users:"
		echo "- name: $user"
		echo "  user:"
		case $mode in
		files)
			echo "    client-certificate: $5"
			echo "    client-key: $6"
			;;
		data)
			echo "    client-certificate-data: $(b64 "$5")"
			echo "    client-key-data: $(b64 "$6")"
			;;
		token) echo "    token: $5" ;;
		esac
		echo "contexts:"
		echo "- name: knode"
		echo "  context:"
		echo "    cluster: knode"
		echo "    user: $user"
		echo "current-context: knode"
	} >"$file.tmp"
	chmod 600 "$file.tmp"
	mv "$file.tmp" "$file"
}

cmd_pki() {
	command -v openssl >/dev/null || die "openssl not installed"
	mkdir -p "$PKI"
	chmod 700 "$PKI"
	write_openssl_cnf
	make_ca ca knode-ca
	make_ca wrong-ca knode-unrelated-ca
	if [[ -n $ADVERTISE_ADDRESS && -f $PKI/apiserver.crt ]] &&
		! grep -q "IP Address:$ADVERTISE_ADDRESS\(,\|$\)" <<<"$(openssl x509 -noout -ext subjectAltName -in "$PKI/apiserver.crt")"; then
		rm -f "$PKI/apiserver.crt" "$PKI/apiserver.key"
	fi
	make_cert apiserver "/CN=kube-apiserver" apiserver
	make_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" client
	make_cert admin "/O=system:masters/CN=admin" client
	make_cert node "/O=system:nodes/CN=system:node:$NODE_NAME" client
	make_cert kubelet-serving "/CN=$NODE_NAME" kubelet
	make_cert controller-manager "/CN=system:kube-controller-manager" client
	make_cert scheduler "/CN=system:kube-scheduler" client
	make_cert kube-proxy "/CN=system:kube-proxy" client
	if [[ ! -f $PKI/sa.key ]]; then
		openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
		chmod 600 "$PKI/sa.key"
	fi
	[[ -f $PKI/sa.pub ]] || openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
	if [[ ! -f $PKI/tokens.csv ]]; then
		(umask 077 && echo "$(openssl rand -hex 24),tokenuser,tokenuser-uid,\"system:masters\"" >"$PKI/tokens.csv")
	fi
	local token
	token=$(cut -d, -f1 "$PKI/tokens.csv" | head -1)

	# Kubeconfigs are rewritten every time (the port may have changed).
	write_kubeconfig "$CLUSTER_DIR/admin.kubeconfig" admin "$PKI/ca.crt" files "$PKI/admin.crt" "$PKI/admin.key"
	write_kubeconfig "$CLUSTER_DIR/admin-data.kubeconfig" admin "$PKI/ca.crt" data "$PKI/admin.crt" "$PKI/admin.key"
	write_kubeconfig "$CLUSTER_DIR/node.kubeconfig" "system:node:$NODE_NAME" "$PKI/ca.crt" files "$PKI/node.crt" "$PKI/node.key"
	write_kubeconfig "$CLUSTER_DIR/wrongca.kubeconfig" admin "$PKI/wrong-ca.crt" files "$PKI/admin.crt" "$PKI/admin.key"
	write_kubeconfig "$CLUSTER_DIR/token.kubeconfig" tokenuser "$PKI/ca.crt" token "$token"
	write_kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" system:kube-controller-manager "$PKI/ca.crt" files "$PKI/controller-manager.crt" "$PKI/controller-manager.key"
	write_kubeconfig "$CLUSTER_DIR/scheduler.kubeconfig" system:kube-scheduler "$PKI/ca.crt" files "$PKI/scheduler.crt" "$PKI/scheduler.key"
	write_kubeconfig "$CLUSTER_DIR/kube-proxy.kubeconfig" system:kube-proxy "$PKI/ca.crt" files "$PKI/kube-proxy.crt" "$PKI/kube-proxy.key"
	log "pki and kubeconfigs in $CLUSTER_DIR"
}

# ---------------------------------------------------------------- processes

pid_of() { # name -> prints the pid if that component is running
	local f=$RUN_DIR/$1.pid pid stat
	[[ -f $f ]] || return 1
	pid=$(head -1 "$f")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ -r /proc/$pid/stat ]] || return 1
	stat=$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null) || return 1
	[[ $stat != Z ]] || return 1
	# Guard against a recycled pid: argv[0] must be what we started.
	local argv0
	argv0=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -1) || return 1
	[[ $argv0 == "$(sed -n 2p "$f")" ]] || return 1
	echo "$pid"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start NAME PORT: runs the saved argv in $RUN_DIR/NAME.args in the background.
start_saved() {
	local name=$1 port=$2 pid
	local -a argv
	if pid=$(pid_of "$name"); then
		log "$name already running (pid $pid)"
		return 0
	fi
	local i
	for ((i = 0; i < 50; i++)); do port_busy "$port" || break; sleep 0.1; done
	if port_busy "$port"; then
		die "port 127.0.0.1:$port is in use by something else; set KNODE_*_PORT or run down"
	fi
	mapfile -d '' -t argv <"$RUN_DIR/$name.args"
	mkdir -p "$LOG_DIR"
	echo "--- $(date -u +%FT%TZ) start" >>"$LOG_DIR/$name.log"
	setsid "${argv[@]}" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
	pid=$!
	printf '%s\n%s\n' "$pid" "${argv[0]}" >"$RUN_DIR/$name.pid"
	# Until the child has exec'd, its argv[0] is still the shell's or setsid's, and
	# pid_of would report the component as gone.
	for ((i = 0; i < 50; i++)); do
		[[ $(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -1) == "${argv[0]}" ]] && break
		[[ -e /proc/$pid ]] || break
		sleep 0.05
	done
	log "started $name (pid $pid, log $LOG_DIR/$name.log)"
}

save_args() { # name argv...
	local name=$1
	shift
	mkdir -p "$RUN_DIR"
	printf '%s\0' "$@" >"$RUN_DIR/$name.args"
}

# stop_component NAME [--kill]: SIGTERM, then SIGKILL after KNODE_STOP_GRACE seconds (default 5;
# kube-apiserver otherwise holds open watches for up to its 60 s request timeout).
# --kill sends SIGKILL at once (a crash).
stop_component() {
	local name=$1 mode=${2:-} pid i grace=${KNODE_STOP_GRACE:-5}
	if ! pid=$(pid_of "$name"); then
		rm -f "$RUN_DIR/$name.pid"
		return 0
	fi
	if [[ $mode == --kill ]]; then
		kill -KILL "$pid" 2>/dev/null || true
	else
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < grace * 10; i++)); do
			pid_of "$name" >/dev/null || break
			sleep 0.1
		done
		if pid_of "$name" >/dev/null; then
			log "$name (pid $pid) still running ${grace}s after SIGTERM; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	# A killed Go process's leader turns zombie before its other threads are gone (and
	# with them its sockets): wait for those too.
	for ((i = 0; i < 100; i++)); do
		if ! pid_of "$name" >/dev/null; then
			local tasks=(/proc/"$pid"/task/*)
			[[ -e ${tasks[0]} && ${#tasks[@]} -gt 1 ]] || break
		fi
		sleep 0.1
	done
	pid_of "$name" >/dev/null && die "$name (pid $pid) did not exit"
	rm -f "$RUN_DIR/$name.pid"
	log "stopped $name (pid $pid)"
}

# wait_url NAME URL REGEX [curl args...]: until the body matches REGEX (grep -E)
wait_url() {
	local name=$1 url=$2 re=$3 deadline
	shift 3
	deadline=$(($(date +%s) + READY_TIMEOUT))
	while :; do
		if curl -s --max-time 2 "$@" "$url" 2>/dev/null | grep -qE -- "$re"; then
			return 0
		fi
		if ! pid_of "$name" >/dev/null; then
			tail -n 30 "$LOG_DIR/$name.log" >&2 || true
			die "$name exited; log: $LOG_DIR/$name.log"
		fi
		if (($(date +%s) >= deadline)); then
			tail -n 30 "$LOG_DIR/$name.log" >&2 || true
			die "$name not ready at $url after ${READY_TIMEOUT}s; log: $LOG_DIR/$name.log"
		fi
		sleep 0.5
	done
}

wait_apiserver() {
	wait_url kube-apiserver "$SERVER/readyz" '^ok$' --cacert "$PKI/ca.crt" \
		--cert "$PKI/admin.crt" --key "$PKI/admin.key"
	log "kube-apiserver ready at $SERVER"
}

wait_etcd() {
	local deadline
	deadline=$(($(date +%s) + READY_TIMEOUT))
	until curl -s --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'; do
		pid_of etcd >/dev/null || { tail -n 30 "$LOG_DIR/etcd.log" >&2; die "etcd exited"; }
		(($(date +%s) < deadline)) || die "etcd not healthy after ${READY_TIMEOUT}s"
		sleep 0.3
	done
}

# ---------------------------------------------------------------- components

etcd_args() {
	local -a a=("$ETCD_BIN"
		--name=knode
		--data-dir="$ETCD_DATA"
		--listen-client-urls="http://127.0.0.1:$ETCD_PORT"
		--advertise-client-urls="http://127.0.0.1:$ETCD_PORT"
		--listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT"
		--initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT"
		--initial-cluster="knode=http://127.0.0.1:$ETCD_PEER_PORT"
		--initial-cluster-state=new
		--log-level=warn)
	[[ ${KNODE_ETCD_FSYNC:-0} == 1 ]] || a+=(--unsafe-no-fsync)
	save_args etcd "${a[@]}"
}

apiserver_args() {
	local -a extra=()
	# shellcheck disable=SC2206
	[[ -n ${KNODE_APISERVER_EXTRA_ARGS:-} ]] && extra=(${KNODE_APISERVER_EXTRA_ARGS})
	local -a addr=(--bind-address=127.0.0.1 --advertise-address=127.0.0.1 --endpoint-reconciler-type=none)
	if [[ -n $ADVERTISE_ADDRESS ]]; then
		addr=(--bind-address=0.0.0.0 --advertise-address="$ADVERTISE_ADDRESS")
	fi
	save_args kube-apiserver "$BIN_DIR/kube-apiserver" \
		"${addr[@]}" \
		--secure-port="$APISERVER_PORT" \
		--etcd-servers="http://127.0.0.1:$ETCD_PORT" \
		--service-cluster-ip-range="$SERVICE_CIDR" \
		--authorization-mode=Node,RBAC \
		--enable-admission-plugins=NodeRestriction \
		--allow-privileged=true \
		--client-ca-file="$PKI/ca.crt" \
		--tls-cert-file="$PKI/apiserver.crt" \
		--tls-private-key-file="$PKI/apiserver.key" \
		--kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
		--kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
		--kubelet-preferred-address-types=InternalIP,Hostname \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$PKI/sa.pub" \
		--service-account-signing-key-file="$PKI/sa.key" \
		--token-auth-file="$PKI/tokens.csv" \
		--cert-dir="$PKI" \
		--v="${KNODE_APISERVER_V:-1}" \
		"${extra[@]}"
}

controller_manager_args() {
	save_args kube-controller-manager "$BIN_DIR/kube-controller-manager" \
		--kubeconfig="$CLUSTER_DIR/controller-manager.kubeconfig" \
		--authentication-kubeconfig="$CLUSTER_DIR/controller-manager.kubeconfig" \
		--authorization-kubeconfig="$CLUSTER_DIR/controller-manager.kubeconfig" \
		--bind-address=127.0.0.1 \
		--secure-port="$KCM_PORT" \
		--cert-dir="$RUN_DIR/kcm-certs" \
		--leader-elect=false \
		--use-service-account-credentials=true \
		--service-account-private-key-file="$PKI/sa.key" \
		--root-ca-file="$PKI/ca.crt" \
		--cluster-signing-cert-file="$PKI/ca.crt" \
		--cluster-signing-key-file="$PKI/ca.key" \
		--service-cluster-ip-range="$SERVICE_CIDR" \
		--allocate-node-cidrs=true \
		--cluster-cidr="$POD_CIDR" \
		--node-cidr-mask-size=24 \
		--v="${KNODE_CONTROLLERS_V:-1}"
}

scheduler_args() {
	save_args kube-scheduler "$BIN_DIR/kube-scheduler" \
		--kubeconfig="$CLUSTER_DIR/scheduler.kubeconfig" \
		--authentication-kubeconfig="$CLUSTER_DIR/scheduler.kubeconfig" \
		--authorization-kubeconfig="$CLUSTER_DIR/scheduler.kubeconfig" \
		--bind-address=127.0.0.1 \
		--secure-port="$SCHEDULER_PORT" \
		--cert-dir="$RUN_DIR/scheduler-certs" \
		--leader-elect=false \
		--v="${KNODE_CONTROLLERS_V:-1}"
}

start_apiserver() {
	# Reuse the argv of the previous start (restart = same args) if there is one.
	[[ -f $RUN_DIR/kube-apiserver.args ]] || apiserver_args
	start_saved kube-apiserver "$(apiserver_port_saved)"
	wait_apiserver
}

apiserver_port_saved() {
	tr '\0' '\n' <"$RUN_DIR/kube-apiserver.args" | sed -n 's/^--secure-port=//p'
}

cmd_up() {
	local full=${KNODE_CLUSTER_FULL:-0} a
	for a in "$@"; do
		case $a in
		--full | --with-controllers) full=1 ;;
		*) die "up: unknown argument $a" ;;
		esac
	done
	need_binaries
	cmd_pki
	mkdir -p "$RUN_DIR" "$LOG_DIR"
	if ! pid_of etcd >/dev/null && ! pid_of kube-apiserver >/dev/null; then
		# A fresh cluster: start with fresh logs (a restarted component appends).
		rm -f "$LOG_DIR"/*.log
	fi
	if ! pid_of etcd >/dev/null; then etcd_args; fi
	start_saved etcd "$ETCD_PORT"
	wait_etcd
	if ! pid_of kube-apiserver >/dev/null; then apiserver_args; fi
	start_saved kube-apiserver "$APISERVER_PORT"
	wait_apiserver
	if [[ $full == 1 ]]; then
		if ! pid_of kube-controller-manager >/dev/null; then controller_manager_args; fi
		start_saved kube-controller-manager "$KCM_PORT"
		if ! pid_of kube-scheduler >/dev/null; then scheduler_args; fi
		start_saved kube-scheduler "$SCHEDULER_PORT"
		# healthz lists one check per controller only once all controllers are built;
		# before that, losing the apiserver makes kube-controller-manager exit.
		wait_url kube-controller-manager "https://127.0.0.1:$KCM_PORT/healthz?verbose" \
			'serviceaccount-controller ok' -k
		wait_url kube-scheduler "https://127.0.0.1:$SCHEDULER_PORT/healthz" '^ok$' -k
		log "controller-manager and scheduler healthy"
	fi
	log "cluster up: $SERVER (KUBECONFIG=$CLUSTER_DIR/admin.kubeconfig)"
}

cmd_down() {
	local keep=0 purge=0 a
	for a in "$@"; do
		case $a in
		--keep) keep=1 ;;
		--purge) purge=1 ;;
		*) die "down: unknown argument $a" ;;
		esac
	done
	[[ -d $CLUSTER_DIR ]] || { log "nothing at $CLUSTER_DIR"; return 0; }
	local c
	for c in kube-scheduler kube-controller-manager kube-apiserver etcd; do
		stop_component "$c"
	done
	rm -f "$RUN_DIR"/*.args
	if [[ $purge == 1 ]]; then
		rm -rf "$CLUSTER_DIR"
		log "removed $CLUSTER_DIR"
	elif [[ $keep == 0 ]]; then
		rm -rf "$ETCD_DATA"
		log "removed etcd data $ETCD_DATA (pki, kubeconfigs and logs kept)"
	fi
}

cmd_status() {
	local c pid rc=0
	for c in etcd kube-apiserver kube-controller-manager kube-scheduler; do
		if pid=$(pid_of "$c"); then
			echo "$c: running (pid $pid)"
		else
			echo "$c: stopped"
			[[ $c == etcd || $c == kube-apiserver ]] && rc=1
		fi
	done
	return $rc
}

cmd_env() {
	echo "export KUBECONFIG=$CLUSTER_DIR/admin.kubeconfig"
	echo "export KNODE_KUBECTL=$KUBECTL"
	echo "export KNODE_CLUSTER_DIR=$CLUSTER_DIR"
	echo "export KNODE_APISERVER_URL=$SERVER"
	echo "export KNODE_K8S_BIN=$BIN_DIR"
}

usage() {
	cat <<EOF
usage: $0 COMMAND
  build                 build $KUBE_VERSION binaries + etcd into $BIN_DIR (reused when present)
  pki                   (re)write certificates and kubeconfigs in $CLUSTER_DIR
  up [--full]           start etcd + kube-apiserver (+ controller-manager, scheduler with --full
                        or KNODE_CLUSTER_FULL=1); waits for /readyz
  down [--keep|--purge] stop everything by pid; removes etcd data unless --keep (--purge: whole dir)
  stop-apiserver [--kill] | start-apiserver | restart-apiserver [--kill]
                        outages: SIGTERM (SIGKILL after KNODE_STOP_GRACE=5 s), or SIGKILL at once
  status                which components run
  env                   print exports: eval "\$($0 env)"
  kubectl ARGS...       run the built kubectl with admin.kubeconfig
EOF
}

main() {
	local cmd=${1:-}
	[[ $# -gt 0 ]] && shift
	case $cmd in
	build) cmd_build ;;
	pki) cmd_pki ;;
	up) cmd_up "$@" ;;
	down) cmd_down "$@" ;;
	stop-apiserver) stop_component kube-apiserver "$@" ;;
	start-apiserver) start_apiserver ;;
	restart-apiserver)
		stop_component kube-apiserver "$@"
		start_apiserver
		;;
	status) cmd_status ;;
	env) cmd_env ;;
	kubectl) exec "$KUBECTL" --kubeconfig "$CLUSTER_DIR/admin.kubeconfig" "$@" ;;
	-h | --help | help) usage ;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
