# SPDX-License-Identifier: Apache-2.0
"""knode's kubelet API (port 10250) on a real node, reached the way clusters reach it: kubectl
through the apiserver (logs, exec, attach, port-forward, the node proxy), authenticated by
the apiserver's client certificate or a bearer token (TokenReview) and authorized by
SubjectAccessReview (tests/node/node.sh configures Webhook for both)."""
import json
import os
import socket
import subprocess
import time

import pytest

from node_harness import node_session

BUSYBOX = "registry.k8s.io/e2e-test-images/busybox:1.37.0-1"
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.63.0"


@pytest.fixture(scope="module")
def node():
    with node_session(os.environ.get("KNODE_E2E_KUBELET", "knode"), tag="e2e-kapi") as n:
        yield n


def wait(pred, timeout=60, what="condition", step=0.5):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


@pytest.fixture(scope="module")
def talker(node):
    """A pod that writes a numbered line to stdout and to stderr every 0.2 s."""
    node.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "talker"},
        "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
            "name": "c", "image": BUSYBOX, "command": ["sh", "-c",
                "i=0; while true; do echo out $i; echo err $i >&2; i=$((i+1)); sleep 0.2; done"]}]}}))
    node.wait_pod_phase("talker", timeout=180)
    wait(lambda: "out 5" in node.kubectl("logs", "talker", check=False), 30, "talker's output")
    return "talker"


def test_logs(node, talker):
    out = node.kubectl("logs", talker)
    assert "out 1\n" in out and "err 1\n" in out
    lines = node.kubectl("logs", talker, "--tail=3").splitlines()
    assert len(lines) == 3 and all(x.startswith(("out ", "err ")) for x in lines), lines
    stamp, _, rest = node.kubectl("logs", talker, "--tail=1", "--timestamps").partition(" ")
    assert len(stamp) == 30 and stamp[10] == "T" and stamp.endswith("Z") and rest.startswith(("out", "err")), stamp
    assert len(node.kubectl("logs", talker, "--limit-bytes=7")) == 7
    recent = node.kubectl("logs", talker, "--since=1s").splitlines()
    assert 0 < len(recent) < 30, recent


def test_logs_follow(node, talker):
    kubectl = os.path.join(node.env["KNODE_K8S_BIN"], "kubectl")
    p = subprocess.Popen(["nsenter", f"--net=/run/netns/{node.netns}", "--", kubectl, "--kubeconfig",
                          node.env["KUBECONFIG"], "logs", "-f", "--tail=1", talker],
                         stdout=subprocess.PIPE, text=True)
    try:
        got = [p.stdout.readline() for _ in range(10)]
    finally:
        p.kill()
        p.wait()
    nums = [int(x.split()[1]) for x in got if x.startswith("out ")]
    assert len(nums) >= 3 and nums == sorted(nums), got


def test_logs_previous(node):
    """--previous is the attempt before the current one, found by the runtime's labels."""
    node.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "restarter"},
        "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
            "name": "c", "image": BUSYBOX, "command": ["sh", "-c",
                "echo run $(cat /proc/sys/kernel/random/uuid); sleep 3; exit 1"]}]}}))

    def restarted():
        p = json.loads(node.kubectl("get", "pod", "restarter", "-o", "json"))
        st = (p.get("status", {}).get("containerStatuses") or [{}])[0]
        return st.get("restartCount", 0) >= 1 and "running" in st.get("state", {})
    wait(restarted, 120, "a restart")
    prev = node.kubectl("logs", "restarter", "--previous")
    cur = wait(lambda: node.kubectl("logs", "restarter", check=False), 30, "the new attempt's output")
    assert prev.startswith("run ") and cur.startswith("run ") and prev != cur, (prev, cur)


def test_exec(node, talker):
    assert node.kubectl("exec", talker, "--", "echo", "hello from exec") == "hello from exec\n"
    r = node.run(os.path.join(node.env["KNODE_K8S_BIN"], "kubectl"), "--kubeconfig", node.env["KUBECONFIG"],
                 "exec", "-i", talker, "--", "sh", "-c", "read x; echo got $x; echo to-err >&2; exit 3",
                 input="line\n", check=False)
    assert r.stdout == "got line\n" and "to-err" in r.stderr and r.returncode == 3, r


def test_attach(node, talker):
    kubectl = os.path.join(node.env["KNODE_K8S_BIN"], "kubectl")
    p = subprocess.Popen(["nsenter", f"--net=/run/netns/{node.netns}", "--", kubectl, "--kubeconfig",
                          node.env["KUBECONFIG"], "attach", talker], stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
    finally:
        p.kill()
        p.wait()
    assert line.startswith(("out ", "err ")), line


def test_port_forward(node):
    node.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
        "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
            "name": "c", "image": AGNHOST, "args": ["netexec", "--http-port=8080"]}]}}))
    node.wait_pod_phase("web", timeout=180)
    kubectl = os.path.join(node.env["KNODE_K8S_BIN"], "kubectl")
    p = subprocess.Popen(["nsenter", f"--net=/run/netns/{node.netns}", "--", kubectl, "--kubeconfig",
                          node.env["KUBECONFIG"], "port-forward", "pod/web", "38080:8080"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "Forwarding from" in p.stdout.readline()
        r = wait(lambda: node.run("curl", "-sS", "-m", "5", "http://127.0.0.1:38080/hostname",
                                  check=False).stdout.strip(), 30, "an answer through the tunnel")
        assert r == "web"
        assert node.run("curl", "-sS", "-m", "5", "http://127.0.0.1:38080/echo?msg=again").stdout == "again"
    finally:
        p.kill()
        p.wait()


def raw(node, path):
    return node.kubectl("get", "--raw", f"/api/v1/nodes/{node.name}/proxy{path}")


def test_node_proxy_endpoints(node, talker):
    assert raw(node, "/healthz") == "ok"
    pods = json.loads(raw(node, "/pods"))
    assert pods["kind"] == "PodList" and talker in [p["metadata"]["name"] for p in pods["items"]]
    running = json.loads(raw(node, "/runningpods/"))
    assert talker in [p["metadata"]["name"] for p in running["items"]]
    summary = json.loads(raw(node, "/stats/summary"))
    assert summary["node"]["nodeName"] == node.name
    assert summary["node"]["memory"]["workingSetBytes"] > 0
    assert talker in [p["podRef"]["name"] for p in summary["pods"]]
    metrics = raw(node, "/metrics/resource")
    assert "node_cpu_usage_seconds_total " in metrics
    assert f'container_cpu_usage_seconds_total{{container="c",namespace="default",pod="{talker}"}}' in metrics
    cadvisor = raw(node, "/metrics/cadvisor")
    assert "machine_cpu_cores " in cadvisor
    assert f'namespace="default",pod="{talker}"' in cadvisor and "container_memory_working_set_bytes{" in cadvisor
    assert "kubelet_http_requests_total" in raw(node, "/metrics")
    assert json.loads(raw(node, "/configz"))["kubeletconfig"]["authorization"]["mode"] == "Webhook"
    assert "# TYPE prober_probe_total counter" in raw(node, "/metrics/probes")


def test_authn_authz(node, talker):
    """Straight to 10250: no credentials is 401; a service account's token is reviewed and
    then refused by SubjectAccessReview until RBAC grants nodes/proxy."""
    ip = json.loads(node.kubectl("get", "node", node.name, "-o", "json"))["status"]["addresses"][0]["address"]
    url = f"https://{ip}:10250/pods"

    def curl(*extra):
        r = node.run("curl", "-sk", "-o", "/dev/stderr", "-w", "%{http_code}", *extra, url, check=False)
        return r.stdout, r.stderr

    assert curl()[0] == "401"
    node.kubectl("create", "serviceaccount", "kapi-reader")
    token = node.kubectl("create", "token", "kapi-reader").strip()
    code, body = curl("-H", f"Authorization: Bearer {token}")
    assert code == "403" and "Forbidden (user=system:serviceaccount:default:kapi-reader, verb=get, " \
        "resource=nodes, subresource(s)=[pods proxy])" in body, (code, body)
    node.kubectl("create", "clusterrole", "kapi-pods", "--verb=get", "--resource=nodes/pods")
    node.kubectl("create", "clusterrolebinding", "kapi-pods", "--clusterrole=kapi-pods",
                 "--serviceaccount=default:kapi-reader")
    # a denial is cached for 30 s (cacheUnauthorizedTTL)
    wait(lambda: curl("-H", f"Authorization: Bearer {token}")[0] == "200", 60, "the grant to take effect", step=2)
