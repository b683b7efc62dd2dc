#!/usr/bin/env bash
# Upstream's node conformance suite against the test node (tests/node/node.sh), with
# upstream's kubelet (the baseline) or knode's. See README.md beside this file.
#
#   tests/conformance/run.sh build        e2e.test + ginkgo (k8s.io/kubernetes@KUBE_VERSION) and
#                                         CoreDNS, into the shared cache (reused when present)
#   tests/conformance/run.sh [run]        node up, CoreDNS, the suite, node down
#   KUBELET=upstream|knode|PATH  FOCUS=regex  SKIP=regex  PROCS=N  KEEP=1 (leave the node up)
#   DNS=0 (no CoreDNS: for a focus that needs no cluster DNS, e.g. the CI subset)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
NODE_SH=$REPO_ROOT/tests/node/node.sh
CLUSTER_SH=$REPO_ROOT/tests/cluster/cluster.sh
KUBE_VERSION=${KNODE_KUBE_VERSION:-$(tr -d ' \t\r\n' <"$REPO_ROOT/KUBE_VERSION")}
CACHE=${KNODE_CACHE:-/var/cache/knode}
BUILD_DIR=$CACHE/k8s-$KUBE_VERSION
E2E_BIN=$BUILD_DIR/e2e-bin
COREDNS_VERSION=${KNODE_COREDNS_VERSION:-v1.14.2} # kubeadm's CoreDNSVersion at v1.36
COREDNS_DIR=$CACHE/coredns-$COREDNS_VERSION
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}

DEFAULT_FOCUS='\[NodeConformance\]'
DEFAULT_SKIP='\[Serial\]|\[Slow\]|\[Disruptive\]|\[Flaky\]'
FOCUS=${FOCUS:-$DEFAULT_FOCUS}
SKIP=${SKIP:-$DEFAULT_SKIP}
PROCS=${PROCS:-2}
export KUBELET=${KUBELET:-upstream}
# Services need a proxy: upstream's kube-proxy unless told otherwise.
export KUBE_PROXY=${KUBE_PROXY:-upstream}
export KNODE_NODE_DIR=${KNODE_NODE_DIR:-/tmp/knode-conformance}
export KNODE_NODE_NETNS=${KNODE_NODE_NETNS:-knode-conf}
export KNODE_NODE_CGROUP_ROOT=${KNODE_NODE_CGROUP_ROOT:-/knode-conf}

log() { printf '[conformance] %s\n' "$*" >&2; }
die() { printf '[conformance] ERROR: %s\n' "$*" >&2; exit 1; }

go_env() {
	export GOMODCACHE=$BUILD_DIR/gomod GOCACHE=$BUILD_DIR/gocache
	export GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
}

# e2e.test and ginkgo, in a module beside cluster.sh's (same pins, same caches, same lock).
build_e2e() {
	[[ -x $E2E_BIN/e2e.test && -x $E2E_BIN/ginkgo && -f $E2E_BIN/.complete ]] && return 0
	[[ -x $GO ]] || die "no go toolchain (set GO=/path/to/go)"
	bash "$CLUSTER_SH" build
	local src=$BUILD_DIR/e2e-src
	mkdir -p "$src" "$E2E_BIN"
	(
		flock 9
		[[ -f $E2E_BIN/.complete ]] && exit 0
		go_env
		local start=$SECONDS major minor rest ldflags pkg
		sed 's#^module .*#module knode.invalid/k8s-e2e#' "$BUILD_DIR/src/go.mod" >"$src/go.mod"
		cp "$BUILD_DIR/src/go.sum" "$src/go.sum"
		cat >"$src/tools.go" <<'EOF'
//go:build tools

package tools

import (
	_ "github.com/onsi/ginkgo/v2/ginkgo"
	_ "k8s.io/kubernetes/test/e2e"
)
EOF
		log "building e2e.test + ginkgo ($KUBE_VERSION) with $("$GO" version)"
		(cd "$src" && "$GO" mod tidy) || die "go mod tidy (e2e) failed"
		IFS=. read -r major minor rest <<<"${KUBE_VERSION#v}"
		ldflags="-s -w"
		for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
			ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
		done
		(cd "$src" && "$GO" build -trimpath -o "$E2E_BIN/ginkgo" github.com/onsi/ginkgo/v2/ginkgo) ||
			die "go build ginkgo failed"
		(cd "$src" && "$GO" test -c -trimpath -ldflags "$ldflags" -o "$E2E_BIN/e2e.test" k8s.io/kubernetes/test/e2e) ||
			die "go test -c k8s.io/kubernetes/test/e2e failed"
		echo "$KUBE_VERSION" >"$E2E_BIN/.complete"
		log "e2e.test + ginkgo built in $((SECONDS - start)) s"
	) 9>"$BUILD_DIR/.lock"
}

# CoreDNS with only the plugins a cluster's DNS needs (its own module; a small main that
# imports them keeps the cloud backends and their SDKs out).
build_coredns() {
	[[ -x $COREDNS_DIR/bin/coredns ]] && return 0
	[[ -x $GO ]] || die "no go toolchain (set GO=/path/to/go)"
	local src=$COREDNS_DIR/src
	mkdir -p "$src" "$COREDNS_DIR/bin"
	(
		flock 9
		[[ -x $COREDNS_DIR/bin/coredns ]] && exit 0
		export GOMODCACHE=$BUILD_DIR/gomod GOCACHE=$BUILD_DIR/gocache
		export GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
		local start=$SECONDS
		cat >"$src/go.mod" <<EOF
module knode.invalid/coredns

go 1.24

require github.com/coredns/coredns $COREDNS_VERSION
EOF
		cat >"$src/main.go" <<'EOF'
// CoreDNS with the plugins of a Kubernetes cluster's default Corefile only.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/rewrite"
	_ "github.com/coredns/coredns/plugin/whoami"
	"github.com/coredns/coredns/coremain"
)

// The order in which plugins run, as in CoreDNS's plugin.cfg (only those linked in).
var directives = []string{
	"reload", "health", "ready", "prometheus", "errors", "log", "rewrite",
	"loadbalance", "cache", "hosts", "kubernetes", "loop", "forward", "whoami",
}

func init() { dnsserver.Directives = directives }

func main() { coremain.Run() }
EOF
		log "building CoreDNS $COREDNS_VERSION"
		(cd "$src" && "$GO" mod tidy) || die "go mod tidy (coredns) failed"
		(cd "$src" && "$GO" build -trimpath -ldflags "-s -w" -o "$COREDNS_DIR/bin/coredns.tmp" .) ||
			die "go build coredns failed"
		mv "$COREDNS_DIR/bin/coredns.tmp" "$COREDNS_DIR/bin/coredns"
		log "CoreDNS built in $((SECONDS - start)) s"
	) 9>"$BUILD_DIR/.lock"
}

cmd_build() {
	build_e2e
	if [[ ${DNS:-1} == 1 ]]; then
		build_coredns
		KNODE_COREDNS_BIN=$COREDNS_DIR/bin/coredns bash "$NODE_SH" build-images
	else
		bash "$NODE_SH" build-images
	fi
}

# kube-dns: CoreDNS serving cluster.local from the API (no forwarding: nothing outside).
deploy_coredns() {
	local ver=$COREDNS_VERSION
	bash "$NODE_SH" kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:53 {
        errors
        health {
            lameduck 5s
        }
        ready
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
            ttl 30
        }
        prometheus :9153
        cache 30
        loop
        reload
        loadbalance
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      priorityClassName: system-cluster-critical
      dnsPolicy: Default
      containers:
      - name: coredns
        image: registry.k8s.io/coredns/coredns:$ver
        args: [-conf, /etc/coredns/Corefile]
        volumeMounts: [{name: config, mountPath: /etc/coredns, readOnly: true}]
        ports:
        - {containerPort: 53, name: dns, protocol: UDP}
        - {containerPort: 53, name: dns-tcp, protocol: TCP}
        - {containerPort: 9153, name: metrics, protocol: TCP}
        securityContext:
          capabilities: {add: [NET_BIND_SERVICE], drop: [ALL]}
        readinessProbe:
          httpGet: {path: /ready, port: 8181}
        livenessProbe:
          httpGet: {path: /health, port: 8080}
      volumes:
      - name: config
        configMap: {name: coredns, items: [{key: Corefile, path: Corefile}]}
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS}
spec:
  selector: {k8s-app: kube-dns}
  clusterIP: ${KNODE_CLUSTER_DNS:-10.96.0.10}
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
  - {name: metrics, port: 9153, protocol: TCP}
EOF
	bash "$NODE_SH" kubectl -n kube-system rollout status deployment/coredns --timeout=180s >&2 ||
		die "CoreDNS not ready"
	log "CoreDNS ready (kube-dns ${KNODE_CLUSTER_DNS:-10.96.0.10})"
}

node_down() {
	[[ ${KEEP:-0} == 1 ]] && { log "KEEP=1: node left up ($NODE_SH status)"; return 0; }
	bash "$NODE_SH" down >&2 || true
}

cmd_run() {
	local start=$SECONDS report
	cmd_build
	bash "$NODE_SH" up
	trap node_down EXIT
	if [[ ${DNS:-1} == 1 ]]; then deploy_coredns; else log "DNS=0: no cluster DNS (the focus must not need it)"; fi
	report=$KNODE_NODE_DIR/conformance
	rm -rf "$report"
	mkdir -p "$report"
	eval "$(bash "$NODE_SH" env)"
	log "running e2e.test: focus '$FOCUS', skip '$SKIP', $PROCS processes, kubelet $KUBELET"
	local rc=0
	nsenter --net="/run/netns/$KNODE_NODE_NETNS" -- env KUBE_TEST_REPO_LIST="$KUBE_TEST_REPO_LIST" \
		"$E2E_BIN/ginkgo" --nodes="$PROCS" --focus="$FOCUS" --skip="$SKIP" --no-color --silence-skips \
		--timeout=2h "$E2E_BIN/e2e.test" -- \
		--kubeconfig="$KUBECONFIG" --provider=local --report-dir="$report" \
		--e2e-output-dir="$report" --minStartupPods=1 --system-pods-startup-timeout=2m \
		--node-os-distro=debian --dump-logs-on-failure=false "$@" \
		2>&1 | tee "$report/e2e.log" || rc=$?
	# ginkgo's summary: "Ran N of M Specs ... N Passed | F Failed | P Pending | S Skipped"
	local sum passed failed skipped
	sum=$(grep -E '[0-9]+ Passed \| [0-9]+ Failed' "$report/e2e.log" | tail -1 || true)
	passed=$(sed -n 's/.*\b\([0-9]\+\) Passed.*/\1/p' <<<"$sum")
	failed=$(sed -n 's/.*\b\([0-9]\+\) Failed.*/\1/p' <<<"$sum")
	skipped=$(sed -n 's/.*\b\([0-9]\+\) Skipped.*/\1/p' <<<"$sum")
	grep -E '^\s*\[FAIL\]' "$report/e2e.log" | sort -u >&2 || true
	log "kubelet $KUBELET, $((SECONDS - start)) s, log $report/e2e.log"
	echo "conformance: ${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
	[[ -n $sum ]] || { log "no ginkgo summary (rc $rc)"; return 1; }
	# a run that ran nothing is not a pass
	((${passed:-0} + ${failed:-0} > 0)) || { log "no test matched FOCUS"; return 1; }
	return $rc
}

main() {
	local cmd=${1:-run}
	[[ $# -gt 0 ]] && shift
	case $cmd in
	build) cmd_build ;;
	run) cmd_run "$@" ;;
	*) die "usage: $0 [build|run]" ;;
	esac
}

[[ ${BASH_SOURCE[0]} != "$0" ]] || main "$@"
