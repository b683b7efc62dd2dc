#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# knode kube-proxy vs upstream kube-proxy (nftables mode) at scale, side by side.
#
# In a network namespace of its own it starts the test control plane
# (tests/cluster/cluster.sh), fills it with selector-less Services + EndpointSlices
# (tests/bench/mkservices.py), then for each scale starts each proxy cold (objects
# already in the apiserver) and measures, from exec:
#   - time until the whole table is programmed (the last Service's element is in
#     `ip kube-proxy service-ips`; both proxies commit a full sync as one transaction),
#   - at BENCH_NPL_AT services: time from creating one more Service (its slice already
#     exists) until its element is there, BENCH_NPL_REPEAT times, median,
#   - peak RSS (VmHWM) and CPU (utime+stime, plus waited-for children: upstream's `nft`),
#   - then a restart over the table it left: time to its first full IPv4 sync (from its log).
# The proxies run one after another in the same namespace; the table is deleted between runs.
#
# Two workloads mirror real clusters (tests/bench/mkservices.py spec()), in place of E:
#   Nxmix  ~30% UDP, ~20% 2-port, ~10% externalIPs or LoadBalancer ingress IPs, ~5% with 100
#          endpoints (the rest 2). After the cold start: steady EndpointSlice churn
#          (BENCH_CHURN_RATE updates/s for BENCH_CHURN_SECS s), p50/p99 from the API write to
#          the rule in the kernel (tests/bench/proxy_churn.py listens to nftables events), CPU and
#          peak RSS over the phase.
#   Nxudp  N UDP Services x 2 endpoints, BENCH_CONNTRACK UDP conntrack entries to them made in
#          the namespace before each proxy starts (half replied by a current endpoint, half by a
#          gone one): its first full sync, including the stale-flow cleanup, is timed.
# Neither workload has the add-one or restart measurements.
#
# usage: tests/bench/proxy-scale.sh [NxE ...]  (default: 1000x2 10000x2 5000x50 10000xmix 1000xudp)
# env:
#   BENCH_30K=1                  add 30000x2 to the default scales. Not default: the test
#                                apiserver creates Services in O(existing) time each (its ClusterIP
#                                allocator recounts every IPAddress per allocation), so filling
#                                30k takes ~20 min on 2 CPUs (10k: ~3 min)
#   KNODE_ONLY=1                 knode only (quick)
#   BENCH_UPSTREAM_MAX=N         upstream is skipped above N services (default 10000: upstream
#                                needs ~35 s for a cold 10k sync and seconds per later sync)
#   BENCH_UPSTREAM_30K=1         same as BENCH_UPSTREAM_MAX=1000000000
#   BENCH_TIMEOUT=S              cap per proxy run to programmed (default 900)
#   BENCH_NPL_AT="N ..."         scales (services, E=2) with the add-one test (default 10000)
#   BENCH_NPL_REPEAT=R           add-one trials (default 5)
#   BENCH_WARM=0                 skip the restart-over-existing-table measurement
#   BENCH_UPSTREAM_WARM_MAX=N    upstream's restart measurement is skipped above N services
#                                (default 10000: at 10k it already takes ~2 min)
#   BENCH_THREADS=T              API client threads creating objects (default 16)
#   BENCH_CHURN_RATE=R           Nxmix: EndpointSlice updates per second (default 50)
#   BENCH_CHURN_SECS=S           Nxmix: length of the churn phase (default 60; 0: no churn)
#   BENCH_CONNTRACK=C            Nxudp: conntrack entries (default 20000)
#   BENCH_OUT=DIR                results and logs (default /tmp/knode-bench-proxy.PID, kept)
#   KNODE=PATH                   knode binary (default: the static build that ships,
#                                build/static/knode, made with `make static` if missing)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/tests/bench
SCALES=("$@")
DEFAULT_SCALES="1000x2 10000x2 5000x50 10000xmix 1000xudp"
[ "${BENCH_30K:-0}" = 1 ] && DEFAULT_SCALES="1000x2 10000x2 30000x2 5000x50 10000xmix 1000xudp"
[ ${#SCALES[@]} -gt 0 ] || read -r -a SCALES <<<"${BENCH_SCALES:-$DEFAULT_SCALES}"
KNODE_ONLY=${KNODE_ONLY:-0}
UPSTREAM_MAX=${BENCH_UPSTREAM_MAX:-10000}
[ "${BENCH_UPSTREAM_30K:-0}" = 1 ] && UPSTREAM_MAX=1000000000
TIMEOUT=${BENCH_TIMEOUT:-900}
NPL_AT=" ${BENCH_NPL_AT:-10000} "
NPL_REPEAT=${BENCH_NPL_REPEAT:-5}
THREADS=${BENCH_THREADS:-16}
CHURN_RATE=${BENCH_CHURN_RATE:-50}
CHURN_SECS=${BENCH_CHURN_SECS:-60}
CONNTRACK=${BENCH_CONNTRACK:-20000}
WARM=--warm
[ "${BENCH_WARM:-1}" = 0 ] && WARM=
UPSTREAM_WARM_MAX=${BENCH_UPSTREAM_WARM_MAX:-10000}
OUT=${BENCH_OUT:-/tmp/knode-bench-proxy.$$}
KNODE=${KNODE:-$ROOT/build/static/knode}
NS=knbench-$$
CLUSTER_DIR=$OUT/cluster
KC=$CLUSTER_DIR/admin.kubeconfig
RESULTS=$OUT/results.jsonl
PIDFILE=$OUT/proxy.pid

say() { printf '[proxy-scale] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (network namespace, nftables)"
for t in ip nft python3; do command -v $t >/dev/null || die "$t not found"; done
if [ ! -x "$KNODE" ]; then
        case $KNODE in
        "$ROOT/build/static/knode") make -C "$ROOT" static >&2 ;;
        *) make -C "$ROOT" knode >&2 ;;
        esac
fi
eval "$(bash "$ROOT/tests/cluster/cluster.sh" env)"
UPSTREAM=$KNODE_K8S_BIN/kube-proxy
[ -x "$KNODE_K8S_BIN/kube-apiserver" ] || die "no control plane binaries: run tests/cluster/cluster.sh build"
if [ "$KNODE_ONLY" != 1 ] && [ ! -x "$UPSTREAM" ]; then
        say "upstream kube-proxy not built ($UPSTREAM; tests/cluster/cluster.sh build): knode only"
        KNODE_ONLY=1
fi

# validate and order the scales: by endpoints per service (numbers first), then services (each group
# grows in place)
for s in "${SCALES[@]}"; do
        [[ $s =~ ^[0-9]+x([0-9]+|mix|udp)$ ]] || die "bad scale '$s' (want NxE, e.g. 10000x2, or Nxmix, Nxudp)"
        [[ $s != *xudp ]] || command -v conntrack >/dev/null || die "$s needs conntrack (conntrack-tools)"
done
mapfile -t SCALES < <(printf '%s\n' "${SCALES[@]}" |
        awk -F x '{ if ($2 ~ /^[0-9]+$/) printf "0 %010d %010d %s\n", $2, $1, $0
                    else printf "1 %s %010d %s\n", $2, $1, $0 }' | sort -u | cut -d" " -f4)

mkdir -p "$OUT"
: >"$RESULTS"

in_ns() { ip netns exec "$NS" "$@"; }
cluster() { KNODE_CLUSTER_DIR=$CLUSTER_DIR in_ns bash "$ROOT/tests/cluster/cluster.sh" "$@"; }
clean_tables() {
        in_ns nft delete table ip kube-proxy 2>/dev/null || true
        in_ns nft delete table ip6 kube-proxy 2>/dev/null || true
}

cleanup() {
        local rc=$? p
        trap - EXIT INT TERM
        if [ -s "$PIDFILE" ]; then
                p=$(cat "$PIDFILE")
                if [ -r /proc/$p/cmdline ] && tr '\0' ' ' </proc/$p/cmdline | grep -Eq 'knode|kube-proxy'; then
                        kill -9 "$p" 2>/dev/null || true
                fi
                rm -f "$PIDFILE"
        fi
        if ip netns list | grep -qw "$NS"; then
                cluster down >/dev/null 2>&1 || true
                clean_tables
                ip netns del "$NS" || true
        fi
        exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cluster_up() {
        KNODE_APISERVER_EXTRA_ARGS="--max-requests-inflight=2000 --max-mutating-requests-inflight=1000 ${KNODE_APISERVER_EXTRA_ARGS:-}" \
                cluster up >"$OUT/cluster-up.log" 2>&1 || { cat "$OUT/cluster-up.log" >&2; die "cluster up failed"; }
        in_ns python3 "$HERE/mkservices.py" --kubeconfig "$KC" node --name bench-node
}

ip netns add "$NS"
ip -n "$NS" link set lo up
say "namespace $NS, output in $OUT"
say "knode: $KNODE ($("$KNODE" version 2>/dev/null | head -1 || true))"
[ "$KNODE_ONLY" = 1 ] || say "upstream: $UPSTREAM ($("$UPSTREAM" --version 2>/dev/null || true))"

run_proxy() { # name n e npl npl_base -- cmd...
        local name=$1 n=$2 e=$3 npl=$4 base=$5 warm=$WARM extra=()
        shift 5
        case $e in
        mix)
                warm= extra=(--workload mix --endpoints 2 --churn-rate "$CHURN_RATE" --churn-secs "$CHURN_SECS")
                [ "$name" = knode ] && extra+=(--churn-prefix 10.250) || extra+=(--churn-prefix 10.251)
                ;;
        udp) warm= extra=(--workload udp --endpoints 2 --conntrack "$CONNTRACK") ;;
        *) extra=(--endpoints "$e") ;;
        esac
        if [ -n "$warm" ] && [ "$name" = upstream ] && [ "$n" -gt "$UPSTREAM_WARM_MAX" ]; then
                warm=
                skipped+=("upstream ${n}x$e restart (over BENCH_UPSTREAM_WARM_MAX=$UPSTREAM_WARM_MAX)")
        fi
        clean_tables
        in_ns python3 "$HERE/proxy_scale.py" run --name "$name" --n "$n" "${extra[@]}" --kubeconfig "$KC" \
                --timeout "$TIMEOUT" --npl "$npl" --npl-base "$base" --log "$OUT/$name-${n}x$e.log" \
                --out "$RESULTS" --pidfile "$PIDFILE" $warm "$@" || say "$name run failed (see $OUT/$name-${n}x$e.log)"
        clean_tables
}

cur_e=
have=0
skipped=()
start=$SECONDS
for s in "${SCALES[@]}"; do
        n=${s%%x*} e=${s#*x}
        if [ "$e" != "$cur_e" ]; then
                [ -z "$cur_e" ] || cluster down >/dev/null 2>&1
                say "starting the control plane (fresh etcd) for $e endpoints/service"
                cluster_up
                cur_e=$e have=0
        fi
        if [ "$n" -gt "$have" ]; then
                wl=(--endpoints "$e")
                [[ $e =~ ^[0-9]+$ ]] || wl=(--workload "$e" --endpoints 2)
                say "creating services $have..$((n - 1)) (${wl[*]})"
                in_ns python3 "$HERE/mkservices.py" --kubeconfig "$KC" create --from "$have" --to "$n" \
                        "${wl[@]}" --threads "$THREADS" >&2
                have=$n
        fi
        npl=0
        [[ "$e" = 2 && "$NPL_AT" == *" $n "* ]] && npl=$NPL_REPEAT
        say "== ${n}x$e: knode"
        run_proxy knode "$n" "$e" "$npl" $((n + 10)) -- "$KNODE" kube-proxy --kubeconfig="$KC" \
                --hostname-override=bench-node --cluster-cidr=10.244.0.0/16 -v=2
        if [ "$KNODE_ONLY" = 1 ]; then
                :
        elif [ "$n" -gt "$UPSTREAM_MAX" ]; then
                skipped+=("upstream ${n}x$e (over BENCH_UPSTREAM_MAX=$UPSTREAM_MAX; BENCH_UPSTREAM_30K=1 runs it)")
        else
                say "== ${n}x$e: upstream"
                run_proxy upstream "$n" "$e" "$npl" $((n + 30)) -- "$UPSTREAM" --proxy-mode=nftables \
                        --kubeconfig="$KC" --hostname-override=bench-node --cluster-cidr=10.244.0.0/16 \
                        --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 \
                        --conntrack-tcp-timeout-close-wait=0 -v=2
        fi
done

echo
echo "kube-proxy scale benchmark: knode vs upstream $(basename "$(dirname "$KNODE_K8S_BIN")") (nftables mode), $(nproc) CPUs"
echo "cold start = proxy exec -> last Service's element in ip kube-proxy service-ips (objects already in the apiserver)"
echo "Nxmix: ~30% UDP, ~20% 2-port, ~10% externalIPs/LoadBalancer, ~5% with 100 endpoints; churn = $CHURN_RATE" \
        "EndpointSlice updates/s for ${CHURN_SECS}s, PATCH sent -> new endpoint's rule committed (nftables event)"
echo "Nxudp: UDP Services x 2 endpoints with $CONNTRACK UDP conntrack entries (half stale) made before each proxy starts"
echo
python3 "$HERE/proxy_scale.py" report "$RESULTS"
[ "$KNODE_ONLY" = 1 ] && echo "upstream: not run (KNODE_ONLY=1)"
for x in "${skipped[@]}"; do echo "skipped: $x"; done
[ $# -gt 0 ] || [ -n "${BENCH_SCALES:-}" ] || [ "${BENCH_30K:-0}" = 1 ] ||
        echo "skipped: 30000x2 (filling 30k Services takes the test apiserver ~20 min; BENCH_30K=1 runs it)"
echo "logs and results.jsonl: $OUT (total $((SECONDS - start)) s)"
