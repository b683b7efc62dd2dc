#!/usr/bin/env bash
# Run knode on a local single-node cluster: a real etcd + kube-apiserver +
# controller-manager + scheduler (tests/cluster/cluster.sh) and `knode all` as the
# node, all inside the network namespace "knode-local", so that kube-proxy's nftables
# rules never touch the host. Ctrl-C stops knode and the control plane and removes
# the namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
CLUSTER=tests/cluster/cluster.sh
NODE=${KNODE_NODE_NAME:-knode-node}
NS=${KNODE_NETNS:-knode-local}
export KNODE_CLUSTER_DIR=${KNODE_CLUSTER_DIR:-/tmp/knode-local}

bash "$CLUSTER" build
ip netns add "$NS"
cleanup() {
	trap - EXIT INT TERM
	[[ -n ${pid:-} ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	ip netns exec "$NS" bash "$CLUSTER" down || true
	ip netns exec "$NS" ./knode kube-proxy --cleanup || true
	ip netns del "$NS" || true
}
trap cleanup EXIT INT TERM
ip -n "$NS" link set lo up
ip netns exec "$NS" bash "$CLUSTER" up --full
eval "$(bash "$CLUSTER" env)"
# the node object, so kube-proxy's /healthz reports the node eligible (the kubelet
# skeleton does not register it yet)
ip netns exec "$NS" "$KNODE_KUBECTL" --kubeconfig "$KUBECONFIG" apply -f - >/dev/null <<NODE
{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "$NODE"}}
NODE

cat <<MSG
------------------------------------------------------------------------------
knode is starting as node "$NODE" in network namespace "$NS". In another shell:
  ip netns exec $NS $KNODE_KUBECTL --kubeconfig $KUBECONFIG get nodes,services -A
  ip netns exec $NS nft list table ip kube-proxy
  ip netns exec $NS curl -s 127.0.0.1:10256/healthz; ip netns exec $NS curl -s 127.0.0.1:10249/metrics
Ctrl-C here stops knode and the control plane.
------------------------------------------------------------------------------
MSG
ip netns exec "$NS" ./knode all --kubeconfig="$KUBECONFIG" --hostname-override="$NODE" \
	--cluster-cidr=10.244.0.0/16 --kubelet-healthz-bind-address=127.0.0.1 -v=2 &
pid=$!
wait "$pid"
