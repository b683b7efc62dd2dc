# SPDX-License-Identifier: Apache-2.0
"""knode's kubelet on a real node: real apiserver, containerd + runc + CNI, images from the
local registry (tests/node/node.sh). Each test drives it with kubectl and checks what the API
and the runtime show."""
import base64
import glob
import json
import os
import signal
import subprocess
import time

import pytest

from node_harness import NodeHarness, node_session, _test_node  # noqa: F401 (fixture)

BUSYBOX = "registry.k8s.io/e2e-test-images/busybox:1.37.0-1"
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.63.0"


def apply(n, obj):
    n.kubectl("apply", "-f", "-", input=json.dumps(obj))


def pod(name, containers, **spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": containers, **spec}}


def wait(pred, timeout=60, what="condition", step=0.5):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def cstatus(p, name, init=False):
    key = "initContainerStatuses" if init else "containerStatuses"
    for s in p.get("status", {}).get(key, []) or []:
        if s["name"] == name:
            return s
    return {}


def condition(obj, type_):
    for c in obj.get("status", {}).get("conditions", []) or []:
        if c["type"] == type_:
            return c
    return {}


def delete(n, *names, grace=0):
    n.kubectl("delete", "pod", *names, f"--grace-period={grace}", "--ignore-not-found", "--wait=false")


def terminated_message(n, name, container=None, timeout=90):
    def done():
        p = n.get("pod", name)
        s = cstatus(p, container or p["spec"]["containers"][0]["name"])
        t = s.get("state", {}).get("terminated")
        return t if t else None
    return wait(done, timeout, f"{name} to terminate").get("message", "")


def test_node_registered_ready_with_lease(test_node):
    n = test_node
    node = n.get("node", n.name, namespace=None)
    assert condition(node, "Ready")["status"] == "True"
    assert condition(node, "Ready")["reason"] == "KubeletReady"
    for t in ("MemoryPressure", "DiskPressure", "PIDPressure"):
        assert condition(node, t)["status"] == "False", t
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == n.name
    assert labels["kubernetes.io/os"] == "linux"
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"].startswith("v1.")
    assert info["containerRuntimeVersion"].startswith("containerd://")
    assert info["bootID"] and info["machineID"] is not None
    cap = node["status"]["capacity"]
    assert int(cap["pods"]) == 110 and int(cap["cpu"]) >= 1 and cap["memory"].endswith("Ki")
    assert {"type": "InternalIP", "address": n.env["KNODE_NODE_IP"]} in node["status"]["addresses"]
    lease = n.get("lease", n.name, namespace="kube-node-lease")
    assert lease["spec"]["holderIdentity"] == n.name
    assert lease["spec"]["leaseDurationSeconds"] == 40
    assert lease["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]
    renew = lease["spec"]["renewTime"]
    wait(lambda: n.get("lease", n.name, namespace="kube-node-lease")["spec"]["renewTime"] != renew,
         timeout=15, what="the Lease to be renewed")


def test_deployment_runs_ready_with_ips(test_node):
    n = test_node
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
           "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                                     "name": "web", "image": AGNHOST, "args": ["netexec", "--http-port=8080"],
                                     "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                                                        "periodSeconds": 1}}]}}}}
    apply(n, dep)
    try:
        def ready():
            d = n.get("deployment", "web")
            return d.get("status", {}).get("readyReplicas") == 3
        wait(ready, 120, "3 ready replicas")
        pods = json.loads(n.kubectl("get", "pods", "-l", "app=web", "-o", "json"))["items"]
        ips = {p["status"]["podIP"] for p in pods}
        assert len(ips) == 3 and all(ip.startswith("10.244.") for ip in ips)
        for p in pods:
            assert condition(p, "Ready")["status"] == "True"
            assert p["status"]["qosClass"] == "BestEffort"
            assert p["status"]["hostIP"] == n.env["KNODE_NODE_IP"]
        # traffic to a pod from the node
        ip = sorted(ips)[0]
        r = n.run("/bin/busybox", "wget", "-q", "-O", "-", f"http://{ip}:8080/hostname")
        assert r.stdout.strip().startswith("web-")

        # the node reports the runtime's images, biggest first (within a status period)
        def images():
            ims = n.get("node", n.name, namespace=None)["status"].get("images") or []
            return ims if any(AGNHOST in im["names"] for im in ims) else None
        ims = wait(images, 30, "the agnhost image in the node's status.images")
        sizes = [im["sizeBytes"] for im in ims]
        assert sizes == sorted(sizes, reverse=True) and all(1 <= len(im["names"]) <= 5 for im in ims)
    finally:
        n.kubectl("delete", "deployment", "web", "--wait=false")


def test_crashloop_backoff(test_node):
    n = test_node
    apply(n, pod("crash", [{"name": "c", "image": BUSYBOX, "command": ["sh", "-c", "echo bye; exit 3"]}],
                 terminationGracePeriodSeconds=1))
    try:
        def looping():
            s = cstatus(n.get("pod", "crash"), "c")
            w = s.get("state", {}).get("waiting", {})
            return s if w.get("reason") == "CrashLoopBackOff" and s.get("restartCount", 0) >= 1 else None
        s = wait(looping, 60, "CrashLoopBackOff")
        assert s["lastState"]["terminated"]["exitCode"] == 3
        assert s["lastState"]["terminated"]["reason"] == "Error"
        assert "back-off" in s["state"]["waiting"]["message"]
        # back-off grows: the second restart comes no sooner than 10 s after the first
        t0 = time.time()
        count = s["restartCount"]
        wait(lambda: cstatus(n.get("pod", "crash"), "c").get("restartCount", 0) > count, 60, "another restart")
        assert time.time() - t0 > 5
    finally:
        delete(n, "crash")


def test_liveness_probe_restarts_container(test_node):
    n = test_node
    apply(n, pod("live", [{"name": "c", "image": BUSYBOX, "command": ["sh", "-c", "sleep 3600"],
                           "livenessProbe": {"exec": {"command": ["test", "-e", "/nonexistent"]},
                                             "periodSeconds": 1, "failureThreshold": 2}}],
                 terminationGracePeriodSeconds=1))
    try:
        wait(lambda: cstatus(n.get("pod", "live"), "c").get("restartCount", 0) >= 1, 60, "a liveness restart")
        ev = n.kubectl("get", "events", "--field-selector", "involvedObject.name=live", "-o", "json")
        reasons = {e["reason"] for e in json.loads(ev)["items"]}
        assert "Killing" in reasons
    finally:
        delete(n, "live")


def test_readiness_gates_ready_and_endpoints(test_node):
    n = test_node
    apply(n, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "rsvc"},
              "spec": {"selector": {"app": "rsvc"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    flag_dir = "/tmp/knode-e2e-ready"
    os.makedirs(flag_dir, exist_ok=True)
    if os.path.exists(f"{flag_dir}/ready"):
        os.unlink(f"{flag_dir}/ready")
    apply(n, {**pod("ready", [{"name": "c", "image": AGNHOST, "args": ["netexec", "--http-port=8080"],
                                "readinessProbe": {"exec": {"command": ["cat", "/flags/ready"]},
                                                   "periodSeconds": 1},
                                "volumeMounts": [{"name": "f", "mountPath": "/flags"}]}],
                    terminationGracePeriodSeconds=1,
                    volumes=[{"name": "f", "hostPath": {"path": flag_dir, "type": "Directory"}}]),
              "metadata": {"name": "ready", "labels": {"app": "rsvc"}}})
    try:
        p = n.wait_pod_phase("ready", timeout=90)
        time.sleep(3)
        p = n.get("pod", "ready")
        assert condition(p, "Ready")["status"] == "False"
        assert condition(p, "ContainersReady")["reason"] == "ContainersNotReady"

        def endpoints(ready):
            sl = json.loads(n.kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=rsvc",
                                      "-o", "json"))["items"]
            eps = [e for s in sl for e in (s.get("endpoints") or [])]
            return eps and all(e["conditions"].get("ready") is ready for e in eps)
        wait(lambda: endpoints(False), 30, "a not-ready endpoint")
        open(f"{flag_dir}/ready", "w").close()
        wait(lambda: condition(n.get("pod", "ready"), "Ready").get("status") == "True", 30, "Ready")
        wait(lambda: endpoints(True), 30, "a ready endpoint")
    finally:
        delete(n, "ready")
        n.kubectl("delete", "service", "rsvc", "--wait=false")


def test_volumes_files_and_updates(test_node):
    n = test_node
    apply(n, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "vcm"}, "data": {"a": "one"}})
    apply(n, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "vsec"},
              "data": {"s": base64.b64encode(b"sekrit").decode()}})
    script = ("cat /cm/a; echo; cat /sec/s; echo; cat /dapi/labels; echo; cat /proj/c/a; echo;"
              " stat -c %a /sec/..data/s; test -f /proj/token && echo token;"
              " test -f /proj/ca.crt && echo ca; echo x > /scratch/f && cat /scratch/f;"
              " grep -q tmpfs /proc/mounts && echo tmpfs")
    apply(n, {**pod("vols", [{"name": "c", "image": BUSYBOX, "command": ["sh", "-c", f"({script}) > /dev/termination-log"],
                              "volumeMounts": [{"name": "cm", "mountPath": "/cm"}, {"name": "sec", "mountPath": "/sec"},
                                               {"name": "dapi", "mountPath": "/dapi"},
                                               {"name": "proj", "mountPath": "/proj"},
                                               {"name": "scratch", "mountPath": "/scratch"}]}],
                    restartPolicy="Never",
                    volumes=[{"name": "cm", "configMap": {"name": "vcm"}},
                             {"name": "sec", "secret": {"secretName": "vsec", "defaultMode": 0o400}},
                             {"name": "dapi", "downwardAPI": {"items": [{"path": "labels",
                                                                         "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                             {"name": "proj", "projected": {"sources": [
                                 {"configMap": {"name": "vcm", "items": [{"key": "a", "path": "c/a"}]}},
                                 {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                                 {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}},
                             {"name": "scratch", "emptyDir": {"medium": "Memory"}}]),
              "metadata": {"name": "vols", "labels": {"tier": "x"}}})
    try:
        msg = terminated_message(n, "vols")
        lines = msg.split("\n")
        assert lines[0] == "one" and lines[1] == "sekrit", msg
        assert 'tier="x"' in lines[2], msg
        assert lines[3] == "one", msg
        assert lines[4] == "400", msg
        assert "token" in lines and "ca" in lines and "x" in lines and "tmpfs" in lines, msg
    finally:
        delete(n, "vols")
    # a running pod sees a configMap update
    apply(n, pod("vupd", [{"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"],
                           "volumeMounts": [{"name": "cm", "mountPath": "/cm"}]}],
                 terminationGracePeriodSeconds=1, volumes=[{"name": "cm", "configMap": {"name": "vcm"}}]))
    try:
        p = n.wait_pod_phase("vupd", timeout=60)
        uid = p["metadata"]["uid"]
        root = os.path.join(n.env["KNODE_NODE_DIR"], "kubelet", "root", "pods", uid, "volumes",
                            "kubernetes.io~configmap", "cm")
        assert open(os.path.join(root, "a")).read() == "one"
        apply(n, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "vcm"}, "data": {"a": "two"}})
        wait(lambda: open(os.path.join(root, "a")).read() == "two", 90, "the configMap update in the volume")
        assert os.path.islink(os.path.join(root, "..data"))
    finally:
        delete(n, "vupd")


def test_env_from_every_source(test_node):
    n = test_node
    apply(n, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ecm"}, "data": {"K": "cmv", "J": "jv"}})
    apply(n, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "esec"},
              "data": {"S": base64.b64encode(b"secv").decode()}})
    c = {"name": "c", "image": BUSYBOX, "command": ["sh", "-c", "env > /dev/termination-log"],
         "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}},
         "env": [{"name": "PLAIN", "value": "p"},
                 {"name": "EXP", "value": "$(PLAIN)-x"},
                 {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                 {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                 {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                 {"name": "MEMLIM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                 {"name": "CPULIM", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},
                 {"name": "CMK", "valueFrom": {"configMapKeyRef": {"name": "ecm", "key": "K"}}},
                 {"name": "SK", "valueFrom": {"secretKeyRef": {"name": "esec", "key": "S"}}},
                 {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "x", "optional": True}}}],
         "envFrom": [{"prefix": "P_", "configMapRef": {"name": "ecm"}}, {"secretRef": {"name": "esec"}}]}
    apply(n, pod("envs", [c], restartPolicy="Never"))
    try:
        env = dict(l.split("=", 1) for l in terminated_message(n, "envs").splitlines() if "=" in l)
        assert env["PLAIN"] == "p" and env["EXP"] == "p-x" and env["POD"] == "envs" and env["NS"] == "default"
        assert env["IP"].startswith("10.244.")
        assert env["MEMLIM"] == "64" and env["CPULIM"] == "500"
        assert env["CMK"] == "cmv" and env["SK"] == "secv" and env["P_K"] == "cmv" and env["P_J"] == "jv"
        assert env["S"] == "secv" and "OPT" not in env
        assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    finally:
        delete(n, "envs")
    # a missing secret is CreateContainerConfigError for that pod only
    apply(n, pod("envbad", [{"name": "c", "image": BUSYBOX, "command": ["true"],
                             "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "missing", "key": "k"}}}]}]))
    try:
        def bad():
            w = cstatus(n.get("pod", "envbad"), "c").get("state", {}).get("waiting", {})
            return w if w.get("reason") == "CreateContainerConfigError" else None
        w = wait(bad, 60, "CreateContainerConfigError")
        assert 'secret "missing" not found' in w["message"]
    finally:
        delete(n, "envbad")


def test_delete_runs_prestop_within_grace(test_node):
    n = test_node
    hook_cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hooks"}, "data": {}}
    apply(n, hook_cm)
    apply(n, pod("term", [{"name": "c", "image": BUSYBOX,
                           "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"],
                           "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c",
                                                                          "echo prestop > /shared/prestop"]}}},
                           "volumeMounts": [{"name": "s", "mountPath": "/shared"}]}],
                 terminationGracePeriodSeconds=20, volumes=[{"name": "s", "hostPath": {
                     "path": "/tmp/knode-e2e-prestop", "type": "DirectoryOrCreate"}}]))
    marker = "/tmp/knode-e2e-prestop/prestop"
    if os.path.exists(marker):
        os.unlink(marker)
    n.wait_pod_phase("term", timeout=60)
    t0 = time.time()
    n.kubectl("delete", "pod", "term", "--wait=true", "--timeout=60s")
    took = time.time() - t0
    assert took < 15, f"deletion took {took:.1f}s (the container exits on SIGTERM)"
    assert open(marker).read().strip() == "prestop"
    # the container is gone from the runtime too
    out = n.run("/bin/sh", "-c", f"ls {n.env['KNODE_NODE_DIR']}/kubelet/pod-logs | grep _term_ || true").stdout
    assert out.strip() == ""


def test_shorter_grace_cuts_termination_short(test_node):
    """A pod terminating with a long grace period (its preStop sleeps 60 s) is deleted again
    with a 3 s one: the sleep ends, the container is stopped and the pod is gone in seconds."""
    n = test_node
    apply(n, pod("slowstop", [{"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"],
                               "lifecycle": {"preStop": {"sleep": {"seconds": 60}}}}],
                 terminationGracePeriodSeconds=90))
    try:
        n.wait_pod_phase("slowstop", timeout=60)
        n.kubectl("delete", "pod", "slowstop", "--wait=false")
        time.sleep(3)
        assert n.kubectl("get", "pod", "slowstop", "-o", "name", check=False).strip(), "gone before its preStop ended"
        t0 = time.time()
        n.kubectl("delete", "pod", "slowstop", "--grace-period=3", "--wait=false")

        def gone():
            return not n.kubectl("get", "pod", "slowstop", "--ignore-not-found", "-o", "name").strip()
        wait(gone, 30, "the pod to be deleted after the shorter grace period")
        took = time.time() - t0
        assert took < 15, f"took {took:.1f}s after the 3 s grace period"
    finally:
        delete(n, "slowstop")


def test_oomkilled(test_node):
    n = test_node
    apply(n, pod("oom", [{"name": "c", "image": BUSYBOX,
                          "command": ["sh", "-c", "x=a; while true; do x=$x$x$x$x; done"],
                          "resources": {"limits": {"memory": "20Mi"}}}], restartPolicy="Never"))
    try:
        def oom():
            t = cstatus(n.get("pod", "oom"), "c").get("state", {}).get("terminated")
            return t
        t = wait(oom, 90, "the container to be killed")
        assert t["reason"] == "OOMKilled", t
        assert n.get("pod", "oom")["status"]["phase"] == "Failed"
    finally:
        delete(n, "oom")


def test_image_pull_errors(test_node):
    n = test_node
    apply(n, pod("noimg", [{"name": "c", "image": "registry.k8s.io/e2e-test-images/does-not-exist:1.0"}]))
    apply(n, pod("badimg", [{"name": "c", "image": "Not A Valid::Image"}]))
    try:
        seen = set()

        def reasons():
            w = cstatus(n.get("pod", "noimg"), "c").get("state", {}).get("waiting", {})
            if w.get("reason"):
                seen.add(w["reason"])
            return {"ErrImagePull", "ImagePullBackOff"} <= seen
        wait(reasons, 90, "ErrImagePull then ImagePullBackOff", step=0.2)
        w = wait(lambda: cstatus(n.get("pod", "badimg"), "c").get("state", {}).get("waiting"), 30, "badimg waiting")
        assert w["reason"] in ("InvalidImageName", "ErrImagePull"), w
    finally:
        delete(n, "noimg", "badimg")


def test_bad_input_fails_only_that_pod(test_node):
    """An absurd request, a node selector the node lacks, a hostPath of the wrong type and a
    missing configMap each fail their pod with upstream's reason; a good pod next to them runs."""
    n = test_node
    apply(n, pod("greedy", [{"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"],
                             "resources": {"requests": {"cpu": "100000"}}}], nodeName=n.name))
    apply(n, pod("elsewhere", [{"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"]}],
                 nodeName=n.name, nodeSelector={"no-such-label": "x"}))
    apply(n, pod("badvol", [{"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"],
                             "volumeMounts": [{"name": "v", "mountPath": "/v"}]}],
                 volumes=[{"name": "v", "hostPath": {"path": "/knode-e2e-no-such-file", "type": "File"}}]))
    apply(n, pod("nocm", [{"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"],
                           "volumeMounts": [{"name": "v", "mountPath": "/v"}]}],
                 volumes=[{"name": "v", "configMap": {"name": "knode-e2e-missing"}}]))
    apply(n, pod("good", [{"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"]}],
                 terminationGracePeriodSeconds=1))
    try:
        def rejected(name):
            st = n.get("pod", name).get("status", {})
            return st if st.get("phase") == "Failed" else None
        st = wait(lambda: rejected("greedy"), 60, "greedy to be rejected")
        assert st["reason"] == "OutOfcpu", st
        assert st["message"].startswith("Pod was rejected: Node didn't have enough resource: cpu, requested: 100000000"), st
        st = wait(lambda: rejected("elsewhere"), 60, "elsewhere to be rejected")
        assert st["reason"] == "NodeAffinity", st

        def mount_failed(name, text):
            evs = json.loads(n.kubectl("get", "events", "--field-selector", f"involvedObject.name={name}",
                                       "-o", "json"))["items"]
            return [e for e in evs if e["reason"] == "FailedMount" and text in e["message"]]
        wait(lambda: mount_failed("badvol", "hostPath type check failed"), 60, "badvol's FailedMount")
        wait(lambda: mount_failed("nocm", 'configmap "knode-e2e-missing" not found'), 60, "nocm's FailedMount")
        n.wait_pod_phase("good", timeout=60)
        for name in ("badvol", "nocm"):
            p = n.get("pod", name)
            assert p["status"].get("phase") == "Pending", p["status"]
            assert cstatus(p, "c").get("state", {}).get("waiting", {}).get("reason") == "ContainerCreating", p["status"]
    finally:
        delete(n, "greedy", "elsewhere", "badvol", "nocm", "good")


def kubelet_pid(n):
    with open(os.path.join(n.env["KNODE_NODE_DIR"], "run", "kubelet.pid")) as f:
        return int(f.readline())


def test_kubelet_runs_with_lean_allocator(test_node):
    """knode's kubelet executes itself once more with glibc's per-thread malloc caches and
    its cache of exited threads' stacks off (cmd/main.c, lean_reexec): same pid, same argv."""
    n = test_node
    pid = kubelet_pid(n)
    with open(f"/proc/{pid}/environ", "rb") as f:
        env = f.read()
    assert b"GLIBC_TUNABLES=glibc.malloc.tcache_count=0" in env, env[-300:]
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[1] == b"kubelet"
    # a worker's stack goes back to the kernel when its thread ends: no more pod-worker
    # sized (256 KiB) stacks than live threads
    stacks = 0
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            stacks += hi - lo == 256 * 1024
    threads = len(os.listdir(f"/proc/{pid}/task"))
    assert stacks <= threads, (stacks, threads)


def test_restart_keeps_containers(test_node):
    n = test_node
    apply(n, pod("keep", [{"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"]}],
                 terminationGracePeriodSeconds=1))
    try:
        p = n.wait_pod_phase("keep", timeout=60)
        cid = cstatus(p, "c")["containerID"]
        n.node_sh("kubelet")  # restart the kubelet only
        time.sleep(5)
        p = n.get("pod", "keep")
        s = cstatus(p, "c")
        assert s["containerID"] == cid and s["restartCount"] == 0 and "running" in s["state"]
        assert condition(p, "Ready")["status"] == "True"
    finally:
        delete(n, "keep")


def runtime_containers(n):
    r = n.run("ctr", "--address", n.env["KNODE_CONTAINERD_SOCK"], "-n", "k8s.io", "containers", "ls", "-q")
    return set(r.stdout.split())


def test_static_pod_runs_with_mirror(test_node):
    """A manifest in staticPodPath runs without the API server's say and shows there as a
    mirror pod; deleting the mirror does not stop the pod; the kubelet's restart keeps its
    container; removing the manifest stops it and takes the mirror away. A broken manifest
    beside it is refused with its file named."""
    n = test_node
    d = os.path.join(n.env["KNODE_NODE_DIR"], "kubelet", "manifests")
    path, bad = os.path.join(d, "static-web.yaml"), os.path.join(d, "broken.yaml")
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "static-web", "labels": {"app": "static"}},
                "spec": {"terminationGracePeriodSeconds": 2, "containers": [
                    {"name": "web", "image": AGNHOST, "args": ["netexec", "--http-port=8080"],
                     "readinessProbe": {"httpGet": {"port": 8080, "path": "/"}, "periodSeconds": 1}}]}}
    name = f"static-web-{n.name}"
    try:
        with open(bad, "w") as f:
            f.write("apiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n")
        with open(path, "w") as f:
            json.dump(manifest, f)  # JSON is YAML too

        def mirror_ready():
            try:
                p = n.get("pod", name)
            except AssertionError:
                return None
            return p if condition(p, "Ready").get("status") == "True" else None
        m = wait(mirror_ready, 120, "the static pod's mirror to be Ready")
        ann = m["metadata"]["annotations"]
        assert ann["kubernetes.io/config.source"] == "file"
        assert ann["kubernetes.io/config.mirror"] == ann["kubernetes.io/config.hash"] != m["metadata"]["uid"]
        owner = m["metadata"]["ownerReferences"][0]
        assert owner["kind"] == "Node" and owner["name"] == n.name and owner["controller"] is True
        assert m["spec"]["nodeName"] == n.name and m["status"]["phase"] == "Running"
        cid = cstatus(m, "web")["containerID"]
        assert cid.split("://")[1] in runtime_containers(n)
        assert any("static pod manifest" in line and "broken.yaml" in line for line in n.log("kubelet").splitlines())

        # deleting the mirror leaves the pod running; a new mirror comes back
        n.kubectl("delete", "pod", name, "--wait=false")
        m2 = wait(lambda: (lambda p: p if p and p["metadata"]["uid"] != m["metadata"]["uid"] else None)(
            mirror_ready()), 60, "a new mirror pod")
        assert cstatus(m2, "web")["containerID"] == cid and cstatus(m2, "web")["restartCount"] == 0

        # a restart of the kubelet adopts the container
        n.node_sh("kubelet")
        time.sleep(5)
        m3 = wait(mirror_ready, 60, "the mirror after the kubelet's restart")
        assert cstatus(m3, "web")["containerID"] == cid and cstatus(m3, "web")["restartCount"] == 0

        # the manifest goes: the pod stops within its grace period, the mirror goes too
        os.remove(path)
        wait(lambda: name not in n.kubectl("get", "pods", "-o", "name"), 60, "the mirror to go")
        wait(lambda: cid.split("://")[1] not in runtime_containers(n), 60, "the container to be removed")
    finally:
        for f in (path, bad):
            if os.path.exists(f):
                os.remove(f)


def test_apiserver_outage_loses_no_pod(test_node):
    n = test_node
    apply(n, pod("outage", [{"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"]}],
                 terminationGracePeriodSeconds=1))
    try:
        p = n.wait_pod_phase("outage", timeout=60)
        cid = cstatus(p, "c")["containerID"]
        env = dict(os.environ, KNODE_CLUSTER_DIR=n.env["KNODE_CLUSTER_DIR"])
        sh = os.path.join(os.path.dirname(__file__), "..", "cluster", "cluster.sh")
        subprocess.run(["nsenter", f"--net=/run/netns/{n.netns}", "bash", sh, "stop-apiserver"], env=env,
                       check=True, capture_output=True, timeout=120)
        time.sleep(int(os.environ.get("KNODE_E2E_OUTAGE_S", "60")))
        subprocess.run(["nsenter", f"--net=/run/netns/{n.netns}", "bash", sh, "start-apiserver"], env=env,
                       check=True, capture_output=True, timeout=120)
        p = n.wait_pod_phase("outage", timeout=60)
        assert cstatus(p, "c")["containerID"] == cid
        assert os.kill(kubelet_pid(n), 0) is None
        wait(lambda: condition(n.get("node", n.name, namespace=None), "Ready").get("status") == "True", 60,
             "the node Ready again")
    finally:
        delete(n, "outage")
