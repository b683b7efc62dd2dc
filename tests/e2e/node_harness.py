# SPDX-License-Identifier: Apache-2.0
"""A real test node for e2e tests: the control plane (cluster.sh up --full) and a node
(containerd, CNI, local registry, a kubelet) in one network namespace, from tests/node/node.sh.

Use the `test_node` session fixture (import it into the test module), or `node_session()` for a
node of one's own. The defaults (netns kn-e2e-node, /tmp/knode-e2e-node, cgroup /knode-e2e)
collide neither with conftest's control plane nor with node.sh's own defaults. The kubelet is
KNODE_E2E_KUBELET: a binary path (default: this repo's knode), `upstream`, or `knode`.
"""
import contextlib
import json
import os
import subprocess
import time

import pytest

from conftest import KNODE, REPO

NODE_SH = os.path.join(REPO, "tests", "node", "node.sh")


class NodeHarness:
    """A running test node. `env` holds node.sh's exports (KUBECONFIG, KNODE_NODE_NETNS,
    KNODE_CONTAINERD_SOCK, KUBE_TEST_REPO_LIST, ...)."""

    def __init__(self, base_env):
        self.base_env = base_env
        r = self.node_sh("env")
        self.env = {}
        for line in r.stdout.splitlines():
            if line.startswith("export ") and "=" in line:
                k, v = line[len("export "):].split("=", 1)
                self.env[k] = v.strip("'")
        self.netns = self.env["KNODE_NODE_NETNS"]
        self.name = self.env["KNODE_NODE_NAME"]

    def node_sh(self, *args, check=True, timeout=900):
        r = subprocess.run(["bash", NODE_SH, *args], env=self.base_env, capture_output=True,
                           text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"node.sh {' '.join(args)} failed ({r.returncode}):\n"
                                 f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        return r

    def run(self, *argv, check=True, timeout=60, input=None):
        """Run argv inside the node's network namespace (same mount namespace as the host)."""
        r = subprocess.run(["nsenter", f"--net=/run/netns/{self.netns}", "--", *argv],
                           capture_output=True, text=True, timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")
        return r

    def kubectl(self, *args, check=True, input=None, timeout=60):
        r = self.run(os.path.join(self.env["KNODE_K8S_BIN"], "kubectl"), "--kubeconfig",
                     self.env["KUBECONFIG"], *args, check=False, input=input, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {r.stderr}")
        return r.stdout

    def get(self, kind, name, namespace="default"):
        ns = ["-n", namespace] if namespace else []
        return json.loads(self.kubectl("get", kind, name, *ns, "-o", "json"))

    def wait_pod_phase(self, name, phase="Running", namespace="default", timeout=120):
        deadline = time.time() + timeout
        pod = None
        while time.time() < deadline:
            pod = self.get("pod", name, namespace)
            if pod.get("status", {}).get("phase") == phase:
                return pod
            time.sleep(0.5)
        raise AssertionError(f"pod {namespace}/{name} not {phase} after {timeout}s: "
                             f"{json.dumps(pod.get('status') if pod else None)}")

    def log(self, component):
        with open(os.path.join(self.env["KNODE_NODE_DIR"], "logs", f"{component}.log")) as f:
            return f.read()


def node_env(kubelet, tag="e2e", **extra):
    """Environment for node.sh: every name and dir of this node carries TAG."""
    env = dict(os.environ)
    env.update({
        "KNODE_NODE_DIR": f"/tmp/knode-{tag}-node",
        "KNODE_NODE_NETNS": f"kn-{tag}-node",
        "KNODE_NODE_CGROUP_ROOT": f"/knode-{tag}",
        "KNODE_CLUSTER_DIR": f"/tmp/knode-{tag}-node/cluster",
        "KUBELET": kubelet,
    })
    env.update(extra)
    return env


@contextlib.contextmanager
def node_session(kubelet, tag="e2e", **extra):
    """Bring the control plane + node up; yield a NodeHarness; tear everything down."""
    if os.geteuid() != 0:
        pytest.fail("the test node needs root (network namespaces, cgroups, mounts)")
    env = node_env(kubelet, tag, **extra)
    subprocess.run(["bash", NODE_SH, "down", "--purge"], env=env, capture_output=True, timeout=300)
    r = subprocess.run(["bash", NODE_SH, "up"], env=env, capture_output=True, text=True, timeout=1800)
    try:
        if r.returncode != 0:
            raise RuntimeError(f"node.sh up failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}")
        yield NodeHarness(env)
    finally:
        subprocess.run(["bash", NODE_SH, "down"], env=env, capture_output=True, timeout=300)


@pytest.fixture(scope="session", name="test_node")
def _test_node():
    with node_session(os.environ.get("KNODE_E2E_KUBELET", "knode")) as n:
        yield n


# so that a test module can `from node_harness import test_node` (pytest does not collect it)
test_node = _test_node
