# SPDX-License-Identifier: Apache-2.0
"""Checks the test node harness (tests/node/node.sh) itself with upstream's kubelet: the
node registers and goes Ready, a busybox pod runs and its IP answers from the node's netns.
Not a test of knode: it keeps the baseline the kubelet is compared with honest."""

import pytest

from node_harness import node_session

BUSYBOX = "registry.k8s.io/e2e-test-images/busybox:1.37.0-1"


@pytest.fixture(scope="module")
def upstream_node():
    with node_session("upstream", tag="e2e-up") as n:
        yield n


def test_busybox_pod_runs(upstream_node):
    n = upstream_node
    node = n.get("node", n.name, namespace=None)
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True"
    n.kubectl("run", "bb", f"--image={BUSYBOX}", "--restart=Never", "--", "sleep", "3600")
    pod = n.wait_pod_phase("bb", timeout=120)
    ip = pod["status"]["podIP"]
    assert ip.startswith("10.244.0."), ip
    n.run("/bin/busybox", "ping", "-c", "1", "-W", "2", ip)
    out = n.kubectl("exec", "bb", "--", "sh", "-c", "echo $((6 * 7)) from $(hostname)")
    assert out.strip() == "42 from bb"
    n.kubectl("delete", "pod", "bb", "--grace-period=1", "--wait=true", "--timeout=60s")
