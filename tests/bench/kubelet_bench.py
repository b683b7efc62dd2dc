# SPDX-License-Identifier: Apache-2.0
"""Kubelet benchmark: knode's kubelet and upstream's, each on the same kind of test node
(tests/node/node.sh: real apiserver, containerd, CNI), one after the other, side by side.

Figures per kubelet:
  start -> Ready      the kubelet restarted with the runtime up and its Node object present
                      (Ready set to False first, as the node controller does), until Ready=True
  30 / 100 pods       pods created already bound (spec.nodeName) until all Running and Ready
  RSS / CPU idle      VmHWM and CPU of the kubelet over IDLE_S seconds with 0 and 30 pods
                      (the peak is reset at the window's start through /proc/PID/clear_refs)
  outage recovery     apiserver stopped OUTAGE_S s; a bound pod created right after it returns,
                      until Ready
  binary size

Environment: BENCH_KUBELETS="knode upstream", BENCH_IDLE_S (60), BENCH_OUTAGE_S (60),
BENCH_PODS="30 100". Prints a table at the end.
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

from node_harness import node_session  # noqa: E402

PAUSE = "registry.k8s.io/pause:3.10.2"
IDLE_S = int(os.environ.get("BENCH_IDLE_S", "60"))
OUTAGE_S = int(os.environ.get("BENCH_OUTAGE_S", "60"))
POD_COUNTS = [int(x) for x in os.environ.get("BENCH_PODS", "30 100").split()]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print("[bench]", *a, file=sys.stderr, flush=True)


def kubelet_pid(n):
    with open(os.path.join(n.env["KNODE_NODE_DIR"], "run", "kubelet.pid")) as f:
        return int(f.readline())


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def vm_hwm_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def reset_hwm(pid):
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS


def idle_window(pid):
    """CPU (% of a core) and VmHWM (MiB) of PID over IDLE_S seconds."""
    time.sleep(5)
    reset_hwm(pid)
    c0 = proc_stat(pid)
    time.sleep(IDLE_S)
    return round((proc_stat(pid) - c0) / IDLE_S * 100, 2), round(vm_hwm_kib(pid) / 1024, 1)


def ready_status(n):
    node = n.get("node", n.name, namespace=None)
    for c in node["status"]["conditions"]:
        if c["type"] == "Ready":
            return c["status"]
    return None


def bound_pod(n, name):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"bench": "1"}},
            "spec": {"nodeName": n.name, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "p", "image": PAUSE,
                                     "resources": {"requests": {"cpu": "1m", "memory": "1Mi"}}}]}}


def all_ready(n, count):
    items = json.loads(n.kubectl("get", "pods", "-l", "bench=1", "-o", "json"))["items"]
    ready = 0
    for p in items:
        for c in p.get("status", {}).get("conditions", []) or []:
            if c["type"] == "Ready" and c["status"] == "True":
                ready += 1
    return ready >= count


def create_pods(n, count, prefix):
    lst = {"apiVersion": "v1", "kind": "List", "items": [bound_pod(n, f"{prefix}-{i}") for i in range(count)]}
    n.kubectl("create", "-f", "-", input=json.dumps(lst), timeout=120)


def delete_pods(n):
    n.kubectl("delete", "pods", "-l", "bench=1", "--grace-period=1", "--wait=true", "--timeout=300s", timeout=320)


def time_until(pred, timeout, step=0.1):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return time.time() - t0
        time.sleep(step)
    return None


def measure(kubelet):
    res = {}
    tag = f"bench-{kubelet}"
    extra = {}
    static = os.path.join(REPO, "build", "static", "knode.stripped")
    if kubelet == "knode" and os.path.exists(static):
        extra["KNODE_BIN"] = static  # the binary we ship
    with node_session(kubelet, tag=tag, **extra) as n:
        # start -> Ready with the Node present and the runtime up
        pid = kubelet_pid(n)
        os.kill(pid, 15)
        time_until(lambda: not os.path.exists(f"/proc/{pid}"), 30)
        patch = {"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Bench",
                                             "message": "set by the benchmark"}]}}
        n.kubectl("patch", "node", n.name, "--subresource=status", "--type=strategic", "-p", json.dumps(patch))
        # from the kubelet process's start (its /proc start time) to Ready=True
        starter = subprocess.Popen(["bash", os.path.join(REPO, "tests", "node", "node.sh"), "kubelet"],
                                   env=n.base_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time_until(lambda: os.path.exists(os.path.join(n.env["KNODE_NODE_DIR"], "run", "kubelet.pid")) and
                   kubelet_pid(n) != pid and os.path.exists(f"/proc/{kubelet_pid(n)}"), 60, step=0.01)
        pid = kubelet_pid(n)
        started = time.time()  # within ~10 ms of the exec (the pid file appears first)
        took = time_until(lambda: ready_status(n) == "True", 120, step=0.05)
        res["start_ready_s"] = round(time.time() - started, 2) if took is not None else None
        starter.wait(timeout=300)

        # idle with 0 pods
        time.sleep(5)
        peak = vm_hwm_kib(pid)  # start-up included
        res["idle0_cpu_pct"], res["idle0_rss_mib"] = idle_window(pid)

        for count in POD_COUNTS:
            t0 = time.time()
            create_pods(n, count, f"b{count}")
            took = time_until(lambda: all_ready(n, count), 600, step=0.25)
            res[f"pods{count}_ready_s"] = round(time.time() - t0, 2) if took is not None else None
            if count == 30:
                peak = max(peak, vm_hwm_kib(pid))
                res["idle30_cpu_pct"], res["idle30_rss_mib"] = idle_window(pid)
            delete_pods(n)
        res["peak_rss_mib"] = round(max(peak, vm_hwm_kib(pid)) / 1024, 1)

        # apiserver outage, then a bound pod
        env = dict(os.environ, KNODE_CLUSTER_DIR=n.env["KNODE_CLUSTER_DIR"])
        sh = os.path.join(REPO, "tests", "cluster", "cluster.sh")
        ns = ["nsenter", f"--net=/run/netns/{n.netns}", "bash", sh]
        subprocess.run(ns + ["stop-apiserver"], env=env, check=True, capture_output=True, timeout=120)
        time.sleep(OUTAGE_S)
        subprocess.run(ns + ["start-apiserver"], env=env, check=True, capture_output=True, timeout=120)
        t0 = time.time()
        n.kubectl("create", "-f", "-", input=json.dumps(bound_pod(n, "after-outage")))
        took = time_until(lambda: all_ready(n, 1), 300, step=0.1)
        res["outage_pod_ready_s"] = round(time.time() - t0, 2) if took is not None else None
        delete_pods(n)
        binp = os.path.join(REPO, "build", "static", "knode.stripped") if kubelet == "knode" else \
            os.path.join(n.env["KNODE_K8S_BIN"], "kubelet")
        if kubelet == "knode" and not os.path.exists(binp):
            binp = os.path.join(REPO, "knode")
        res["binary_bytes"] = os.path.getsize(binp)
        res["binary"] = os.path.relpath(binp, REPO) if binp.startswith(REPO) else binp
    return res


def main():
    kubelets = os.environ.get("BENCH_KUBELETS", "knode upstream").split()
    results = {}
    for k in kubelets:
        log(f"measuring {k} ...")
        results[k] = measure(k)
        log(k, json.dumps(results[k]))
    rows = [("start -> Ready (s)", "start_ready_s"), ("30 pods bound -> all Ready (s)", "pods30_ready_s"),
            ("100 pods bound -> all Ready (s)", "pods100_ready_s"), ("idle RSS (VmHWM), 0 pods (MiB)", "idle0_rss_mib"),
            ("idle CPU, 0 pods (% of a core)", "idle0_cpu_pct"), ("idle RSS (VmHWM), 30 pods (MiB)", "idle30_rss_mib"),
            ("idle CPU, 30 pods (% of a core)", "idle30_cpu_pct"), ("peak RSS, whole run (MiB)", "peak_rss_mib"),
            (f"pod Ready after a {OUTAGE_S} s apiserver outage (s)", "outage_pod_ready_s"),
            ("binary size (bytes)", "binary_bytes")]
    print("| figure | " + " | ".join(kubelets) + " |")
    print("|---|" + "---|" * len(kubelets))
    for label, key in rows:
        print(f"| {label} | " + " | ".join(str(results[k].get(key)) for k in kubelets) + " |")


if __name__ == "__main__":
    main()
