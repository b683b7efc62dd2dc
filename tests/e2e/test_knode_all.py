# SPDX-License-Identifier: Apache-2.0
"""`knode all` as the whole node: kubelet and kube-proxy in one process run a Deployment and
program its Service, and traffic to the ClusterIP reaches the pods."""
import json
import time

import pytest

from node_harness import node_session

AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.63.0"


@pytest.fixture(scope="module")
def all_node():
    with node_session("knode-all", tag="e2e-all") as n:
        yield n


def test_pod_and_service_end_to_end(all_node):
    n = all_node
    n.kubectl("create", "deployment", "web", f"--image={AGNHOST}", "--replicas=2", "--",
              "/agnhost", "netexec", "--http-port=8080")
    n.kubectl("expose", "deployment", "web", "--port=80", "--target-port=8080")
    deadline = time.time() + 120
    while time.time() < deadline:
        d = n.get("deployment", "web")
        if d.get("status", {}).get("readyReplicas") == 2:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"deployment not ready: {json.dumps(d.get('status'))}")
    ip = n.get("service", "web")["spec"]["clusterIP"]
    names = set()
    deadline = time.time() + 60
    while time.time() < deadline and len(names) < 2:
        r = n.run("curl", "-s", "-m", "2", f"http://{ip}/hostname", check=False)
        if r.returncode == 0:
            names.add(r.stdout.strip())
    assert len(names) == 2 and all(x.startswith("web-") for x in names), names
    # one process: the kubelet's pid file names knode all, and kube-proxy's healthz answers
    r = n.run("curl", "-s", "-m", "5", "http://127.0.0.1:10256/healthz")
    assert '"currentTime"' in r.stdout or "lastUpdated" in r.stdout
