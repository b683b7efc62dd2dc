#!/usr/bin/env bash
# Run knode on a local single-node cluster: a real etcd + kube-apiserver +
# controller-manager + scheduler, a local image registry, containerd + runc + CNI, and
# `knode all` (kubelet + kube-proxy in one process) as the node — everything inside the
# network namespace "knode-local" (tests/node/node.sh), whose only way out is a sink that
# forwards nothing. Ctrl-C stops it all and removes the namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
export KNODE_NODE_NETNS=${KNODE_NETNS:-knode-local}
export KNODE_NODE_DIR=${KNODE_NODE_DIR:-/tmp/knode-local}
export KNODE_NODE_CGROUP_ROOT=${KNODE_NODE_CGROUP_ROOT:-/knode-local}
export KNODE_CLUSTER_DIR=$KNODE_NODE_DIR/cluster
export KUBELET=knode-all KUBE_PROXY=none
NODE=tests/node/node.sh

bash tests/cluster/cluster.sh build
cleanup() {
	trap - EXIT INT TERM
	bash "$NODE" down || true
}
trap cleanup EXIT INT TERM
bash "$NODE" up
eval "$(bash "$NODE" env)"
K="ip netns exec $KNODE_NODE_NETNS $KNODE_K8S_BIN/kubectl --kubeconfig $KUBECONFIG"

cat <<MSG
------------------------------------------------------------------------------
knode (kubelet + kube-proxy, one process) runs node "$KNODE_NODE_NAME" in network namespace
"$KNODE_NODE_NETNS". In another shell:

  $K get nodes -o wide
  $K create deployment web --image=registry.k8s.io/e2e-test-images/agnhost:2.63.0 -- /agnhost netexec --http-port=8080
  $K expose deployment web --port=80 --target-port=8080
  $K get pods -o wide; $K logs deploy/web
  ip netns exec $KNODE_NODE_NETNS curl -s http://\$($K get svc web -o jsonpath='{.spec.clusterIP}')/hostname

Images come from the local registry (busybox, agnhost, pause, nginx under registry.k8s.io/...).
Logs: $KNODE_NODE_DIR/logs/kubelet.log (knode), containerd.log, cluster/logs/.
Ctrl-C here stops knode, containerd and the control plane.
------------------------------------------------------------------------------
MSG
# wait until interrupted, or until knode exits
pid=$(head -1 "$KNODE_NODE_DIR/run/kubelet.pid")
tail --pid="$pid" -f /dev/null
echo "knode exited; see $KNODE_NODE_DIR/logs/kubelet.log" >&2
