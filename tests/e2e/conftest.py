# SPDX-License-Identifier: Apache-2.0
"""Fixtures: a real control plane (tests/cluster/cluster.sh) and helpers to drive knode."""
import os
import queue
import signal
import subprocess
import threading
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KNODE = os.environ.get("KNODE_BIN", os.path.join(REPO, "knode"))
CLUSTER_SH = os.path.join(REPO, "tests", "cluster", "cluster.sh")
CLUSTER_DIR = os.environ.get("KNODE_E2E_CLUSTER_DIR", "/tmp/knode-e2e-cluster")
APISERVER_PORT = os.environ.get("KNODE_E2E_APISERVER_PORT", "16443")
ETCD_PORT = os.environ.get("KNODE_E2E_ETCD_PORT", "23890")

# The control plane and every knode started by these tests live in their own network
# namespace: kube-proxy programs nftables, which must never touch the host's ruleset.
CP_NETNS = os.environ.get("KNODE_E2E_NETNS", "kn-e2e-cp")


def in_ci():
    """CI sets CI=true (GitHub Actions, GitLab, most others)."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def need(ok, reason):
    """A missing prerequisite skips on a developer's machine and FAILS in CI: there a
    skip would be a silent pass."""
    if ok:
        return
    if in_ci():
        pytest.fail(f"{reason} (CI is set: a missing prerequisite fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


def in_netns(argv):
    """Prefix ARGV with `ip netns exec` once the control-plane namespace exists."""
    if os.path.exists(f"/run/netns/{CP_NETNS}"):
        return ["ip", "netns", "exec", CP_NETNS, *argv]
    return list(argv)


# configmaps bypass the watch cache and etcd compacts every 5 s, so a watch that
# resumes from an old resourceVersion really gets 410 Gone.
APISERVER_EXTRA = "--watch-cache-sizes=configmaps#0 --etcd-compaction-interval=5s"


def cluster_env():
    env = dict(os.environ)
    env.update({
        "KNODE_CLUSTER_DIR": CLUSTER_DIR,
        "KNODE_APISERVER_PORT": APISERVER_PORT,
        "KNODE_ETCD_PORT": ETCD_PORT,
        "KNODE_ETCD_PEER_PORT": str(int(ETCD_PORT) + 1),
        "KNODE_APISERVER_EXTRA_ARGS": APISERVER_EXTRA,
    })
    return env


def cluster(*args, check=True):
    argv = ["bash", CLUSTER_SH, *args]
    if args and args[0] != "build":
        argv = in_netns(argv)
    return subprocess.run(argv, env=cluster_env(), check=check, capture_output=True, text=True, timeout=900)


class Cluster:
    dir = CLUSTER_DIR

    def kubeconfig(self, name="admin"):
        return os.path.join(CLUSTER_DIR, f"{name}.kubeconfig")

    def kubectl(self, *args, check=True, input=None):
        r = subprocess.run(in_netns(["bash", CLUSTER_SH, "kubectl", *args]), env=cluster_env(),
                           capture_output=True, text=True, timeout=60, input=input)
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {r.stderr}")
        return r.stdout

    def restart_apiserver(self):
        cluster("restart-apiserver")

    def stop_apiserver(self):
        cluster("stop-apiserver")

    def start_apiserver(self):
        cluster("start-apiserver")


@pytest.fixture(scope="session")
def control_plane():
    cluster("build")
    subprocess.run(["ip", "netns", "del", CP_NETNS], capture_output=True)
    subprocess.run(["ip", "netns", "add", CP_NETNS], check=True)
    subprocess.run(["ip", "-n", CP_NETNS, "link", "set", "lo", "up"], check=True)
    try:
        cluster("down", "--purge", check=False)
        r = cluster("up", check=False)
        if r.returncode != 0:
            raise RuntimeError(f"cluster up failed:\n{r.stdout}\n{r.stderr}")
        yield Cluster()
    finally:
        cluster("down", "--purge", check=False)
        subprocess.run(["ip", "netns", "del", CP_NETNS], capture_output=True)


class Proc:
    """A knode process whose stdout/stderr lines are collected by threads."""

    def __init__(self, args, env=None):
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env, start_new_session=True)
        self.out, self.err = queue.Queue(), []
        self.lines = []
        threading.Thread(target=self._pump, args=(self.p.stdout, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.p.stderr, False), daemon=True).start()

    def _pump(self, f, is_out):
        for line in f:
            line = line.rstrip("\n")
            if is_out:
                self.lines.append(line)
                self.out.put(line)
            else:
                self.err.append(line)

    def expect(self, pred, timeout=30, what=""):
        """Wait for a stdout line for which pred(line) holds."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                line = self.out.get(timeout=max(0.05, deadline - time.time()))
            except queue.Empty:
                break
            if pred(line):
                return line
        raise AssertionError(f"timed out waiting for {what or pred}; stdout={self.lines[-20:]} "
                             f"stderr={self.err[-20:]}")

    def expect_err(self, needle, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(needle in l for l in self.err):
                return
            time.sleep(0.1)
        raise AssertionError(f"no stderr line with {needle!r}; stderr={self.err[-30:]}")

    def signal(self, sig):
        self.p.send_signal(sig)

    def stop(self, timeout=10):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode

    def rss_kib(self):
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1


@pytest.fixture
def knode_proc():
    procs = []

    def start(*args, env=None):
        p = Proc(in_netns([KNODE, *args]), env=env)
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.p.poll() is None:
            try:
                p.p.send_signal(signal.SIGCONT)
            except ProcessLookupError:
                pass
        p.stop()


def run_knode(*args, timeout=60, env=None):
    return subprocess.run(in_netns([KNODE, *args]), capture_output=True, text=True, timeout=timeout, env=env)


# ---- kube-proxy tests (test_golden.py, test_proxy.py): a control plane inside a network
# namespace, so that knode kube-proxy can program nftables there and reach the apiserver
# on that namespace's 127.0.0.1. Helpers live in proxy_topology.py.
@pytest.fixture(scope="session")
def proxy_cluster():
    need(os.geteuid() == 0, "kube-proxy tests need root (network namespaces, nftables)")
    from proxy_topology import NodeCluster
    c = NodeCluster()
    try:
        c.up()
        yield c
    finally:
        c.down()
