# SPDX-License-Identifier: Apache-2.0
"""knode's API client and informers against a real kube-apiserver and etcd."""
import json
import signal
import shutil
import tempfile
import time
import subprocess

import pytest

from conftest import in_netns, run_knode


def ns_create(cp, name):
    cp.kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=true")
    cp.kubectl("create", "namespace", name)


def cm_create(cp, ns, name, data="v"):
    cp.kubectl("-n", ns, "create", "configmap", name, f"--from-literal=k={data}")


@pytest.mark.parametrize("kc", ["admin", "admin-data", "token"])
def test_auth_modes(control_plane, kc):
    r = run_knode("debug", "get", "/api/v1/namespaces/default", f"--kubeconfig={control_plane.kubeconfig(kc)}")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["metadata"]["name"] == "default"


def test_wrong_ca_is_refused(control_plane):
    r = run_knode("debug", "get", "/api/v1/namespaces/default",
                  f"--kubeconfig={control_plane.kubeconfig('wrongca')}")
    assert r.returncode == 1
    assert "certificate" in r.stderr.lower()


def test_errors_are_decoded(control_plane):
    r = run_knode("debug", "get", "/api/v1/namespaces/default/configmaps/does-not-exist",
                  f"--kubeconfig={control_plane.kubeconfig()}")
    assert r.returncode == 1
    assert "HTTP 404 NotFound" in r.stderr and '"does-not-exist" not found' in r.stderr


def test_list_pages_with_continue(control_plane):
    ns_create(control_plane, "e2e-paging")
    for i in range(7):
        cm_create(control_plane, "e2e-paging", f"cm-{i}")
    r = run_knode("debug", "list", "v1", "configmaps", "--namespace=e2e-paging", "--limit=3",
                  "--field-selector=metadata.name!=kube-root-ca.crt",
                  f"--kubeconfig={control_plane.kubeconfig()}")
    assert r.returncode == 0, r.stderr
    assert "TOTAL 7 PAGES 3" in r.stdout
    assert "e2e-paging/cm-6" in r.stdout


def test_watch_events_and_selectors(control_plane, knode_proc):
    ns_create(control_plane, "e2e-watch")
    cm_create(control_plane, "e2e-watch", "before")
    p = knode_proc("debug", "watch", "v1", "configmaps", "--namespace=e2e-watch", "--selector=app=x",
                   f"--kubeconfig={control_plane.kubeconfig()}")
    p.expect(lambda l: l.startswith("SYNCED"), what="initial sync")
    control_plane.kubectl("-n", "e2e-watch", "label", "configmap", "before", "app=x")
    p.expect(lambda l: l.startswith("ADDED e2e-watch/before"), what="labelled object appears")
    control_plane.kubectl("-n", "e2e-watch", "patch", "configmap", "before", "-p", '{"data":{"k":"w"}}')
    p.expect(lambda l: l.startswith("MODIFIED e2e-watch/before"))
    control_plane.kubectl("-n", "e2e-watch", "delete", "configmap", "before")
    p.expect(lambda l: l.startswith("DELETED e2e-watch/before"))
    cm_create(control_plane, "e2e-watch", "unlabelled")
    time.sleep(1)
    assert not any("unlabelled" in l for l in p.lines)


def test_watch_survives_apiserver_restart(control_plane, knode_proc):
    ns_create(control_plane, "e2e-restart")
    p = knode_proc("debug", "watch", "v1", "configmaps", "--namespace=e2e-restart", "-v=2",
                   f"--kubeconfig={control_plane.kubeconfig()}")
    p.expect(lambda l: l.startswith("SYNCED"))
    cm_create(control_plane, "e2e-restart", "one")
    p.expect(lambda l: l.startswith("ADDED e2e-restart/one"))
    control_plane.stop_apiserver()
    time.sleep(2)  # the watch breaks and knode backs off while the server is away
    assert p.p.poll() is None
    control_plane.start_apiserver()
    cm_create(control_plane, "e2e-restart", "two")
    p.expect(lambda l: l.startswith("ADDED e2e-restart/two"), timeout=60)
    assert not any("ADDED e2e-restart/one" in l for l in p.lines[1:] if l != p.lines[1])


def test_relist_after_410_gone(control_plane, knode_proc):
    """configmaps bypass the watch cache and etcd compacts every 5 s (see conftest), so a
    watch resumed from a stale resourceVersion gets 410 and knode must re-list."""
    ns_create(control_plane, "e2e-gone")
    cm_create(control_plane, "e2e-gone", "stays")
    cm_create(control_plane, "e2e-gone", "goes")
    p = knode_proc("debug", "watch", "v1", "configmaps", "--namespace=e2e-gone", "-v=2", "--watch-timeout=2s",
                   f"--kubeconfig={control_plane.kubeconfig()}")
    p.expect(lambda l: l.startswith("SYNCED"))
    p.signal(signal.SIGSTOP)  # freeze knode while the world moves on
    try:
        control_plane.kubectl("-n", "e2e-gone", "delete", "configmap", "goes")
        cm_create(control_plane, "e2e-gone", "new")
        for i in range(5):
            control_plane.kubectl("-n", "e2e-gone", "patch", "configmap", "stays", "-p",
                                  json.dumps({"data": {"k": str(i)}}))
        time.sleep(12)  # two compaction intervals, and the server ended the 2 s watch
    finally:
        p.signal(signal.SIGCONT)
    p.expect_err("410 Gone), relisting", timeout=30)
    p.expect(lambda l: l.startswith("DELETED e2e-gone/goes"), what="delete seen through the re-list")
    p.expect(lambda l: l.startswith("ADDED e2e-gone/new"))
    control_plane.kubectl("-n", "e2e-gone", "delete", "configmap", "stays")
    p.expect(lambda l: l.startswith("DELETED e2e-gone/stays"), what="the watch works after re-listing")


def get(url, timeout=5):
    """GET inside the control-plane namespace, where knode listens. Raises OSError when
    nothing listens yet; returns (status, body) otherwise."""
    r = subprocess.run(in_netns(["curl", "-s", "-m", str(timeout), "-w", "\n%{http_code}", url]),
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise OSError(f"curl {url}: exit {r.returncode}")
    body, _, code = r.stdout.rpartition("\n")
    return int(code), body


def test_all_in_one_process(control_plane, knode_proc):
    """knode all: both applets connect over one client, serve health and metrics, and idle."""
    # kube-proxy's /healthz needs its Node to exist (upstream's nodeEligible)
    control_plane.kubectl("apply", "-f", "-", input='{"apiVersion":"v1","kind":"Node",'
                          '"metadata":{"name":"knode-node"}}')
    # no container runtime here (the node stays NotReady), cgroups and files left alone
    root = tempfile.mkdtemp(prefix="knode-all-")
    p = knode_proc("all", f"--kubeconfig={control_plane.kubeconfig()}", "--hostname-override=knode-node",
                   f"--root-dir={root}", f"--cert-dir={root}/pki", "--fail-cgroupv1=false", "--cgroups-per-qos=false",
                   "--container-runtime-endpoint=unix:///nonexistent/knode-e2e.sock", "--port=31250",
                   "--healthz-port=31248", "--kubelet-healthz-bind-address=127.0.0.1",
                   "--proxy-healthz-bind-address=127.0.0.1:31256", "--metrics-bind-address=127.0.0.1:31249",
                   "-v=2")
    p.expect_err("kubelet", timeout=10)
    deadline = time.time() + 20
    status = body = None
    while time.time() < deadline:
        try:
            status, body = get("http://127.0.0.1:31248/healthz")
            break
        except OSError:
            time.sleep(0.2)
    assert (status, body) == (200, "ok"), p.err[-30:]
    status, body = get("http://127.0.0.1:31249/metrics")
    assert status == 200
    deadline = time.time() + 20
    while time.time() < deadline:  # kube-proxy's healthz turns 200 once its informers synced
        try:
            status, body = get("http://127.0.0.1:31256/healthz")
            if status == 200:
                break
        except OSError:
            pass
        time.sleep(0.2)
    assert status == 200 and json.loads(body)["nodeEligible"] is True
    p.expect_err("kube-proxy")
    time.sleep(3)
    rss = p.rss_kib()
    print(f"\nidle RSS of knode all: {rss} KiB")
    assert 0 < rss < 64 * 1024
    assert p.stop() == 0
    shutil.rmtree(root, ignore_errors=True)
