#!/usr/bin/env bash
# Kubelet benchmark, knode's and upstream's side by side on the same test node
# (see kubelet_bench.py). Root only; ~15 min with the defaults.
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ -x knode ]] || make knode
[[ -x build/static/knode.stripped ]] || make static >/dev/null || true
bash tests/cluster/cluster.sh build
exec python3 tests/bench/kubelet_bench.py "$@"
