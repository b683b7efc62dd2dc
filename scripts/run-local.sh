#!/usr/bin/env bash
# Run knode on a local single-node cluster: a real etcd + kube-apiserver +
# controller-manager + scheduler on loopback (tests/cluster/cluster.sh), and
# `knode all` as the node. Ctrl-C stops knode and the control plane.
set -euo pipefail
cd "$(dirname "$0")/.."
CLUSTER=tests/cluster/cluster.sh
NODE=${KNODE_NODE_NAME:-knode-node}

bash "$CLUSTER" build
bash "$CLUSTER" up --full
eval "$(bash "$CLUSTER" env)"
cleanup() {
	[[ -n ${pid:-} ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	bash "$CLUSTER" down
}
trap cleanup EXIT INT TERM

cat <<MSG
------------------------------------------------------------------------------
knode is starting as node "$NODE". In another shell:
  export KUBECONFIG=$KUBECONFIG
  $KNODE_KUBECTL get --raw /api/v1/nodes
  curl http://127.0.0.1:10248/healthz; curl http://127.0.0.1:10249/metrics
Ctrl-C here stops knode and the control plane.
------------------------------------------------------------------------------
MSG
./knode all --kubeconfig="$KUBECONFIG" --hostname-override="$NODE" \
	--kubelet-healthz-bind-address=127.0.0.1 --proxy-healthz-bind-address=127.0.0.1:10256 -v=2 &
pid=$!
wait "$pid"
