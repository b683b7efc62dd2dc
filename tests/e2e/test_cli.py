# SPDX-License-Identifier: Apache-2.0
"""The multicall binary's dispatch and flag handling (no cluster needed)."""
import os
import subprocess

from conftest import KNODE, REPO, run_knode

KUBE_VERSION = open(os.path.join(REPO, "KUBE_VERSION")).read().strip()


def test_help_lists_applets():
    r = run_knode("--help")
    assert r.returncode == 0
    for applet in ("kubelet", "kube-proxy", "all", "version"):
        assert f"  {applet} " in r.stdout


def test_unknown_applet_is_127():
    r = run_knode("frobnicate")
    assert r.returncode == 127
    assert 'unknown applet "frobnicate"' in r.stderr


def test_symlinks_dispatch(tmp_path):
    r = run_knode("--install", str(tmp_path))
    assert r.returncode == 0
    for name in ("kubelet", "kube-proxy"):
        link = tmp_path / name
        assert os.path.islink(link)
        v = subprocess.run([str(link), "--version"], capture_output=True, text=True)
        assert v.returncode == 0
        assert v.stdout.startswith(f"Kubernetes {KUBE_VERSION} (knode ")
    other = tmp_path / "kube-frob"
    os.symlink(KNODE, other)
    r = subprocess.run([str(other)], capture_output=True, text=True)
    assert r.returncode == 127


def test_applet_help_and_version():
    r = run_knode("kube-proxy", "--help")
    assert r.returncode == 0
    assert "--proxy-mode" in r.stdout and "--hostname-override" in r.stdout
    r = run_knode("kubelet", "--version")
    assert r.stdout.split()[1] == KUBE_VERSION


def test_bad_flags_exit_2():
    r = run_knode("kubelet", "--no-such-flag=1")
    assert r.returncode == 2 and "unknown flag: --no-such-flag" in r.stderr
    r = run_knode("kube-proxy", "--iptables-sync-period=forever")
    assert r.returncode == 2 and "--iptables-sync-period" in r.stderr
    r = run_knode("kubelet", "--max-pods")
    assert r.returncode == 2 and "needs an argument" in r.stderr
    r = run_knode("all", "--config=/x")
    assert r.returncode == 2 and "ambiguous" in r.stderr


def test_config_errors_name_file_line_column(tmp_path):
    bad_type = tmp_path / "proxy.yaml"
    bad_type.write_text("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
                        "nftables:\n  minSyncPeriod: 5\n")
    r = run_knode("kube-proxy", f"--config={bad_type}")
    assert r.returncode == 1
    assert f"{bad_type}:4:18" in r.stderr and "nftables.minSyncPeriod" in r.stderr

    malformed = tmp_path / "kubelet.yaml"
    malformed.write_text("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                         "evictionHard: {memory.available: 100Mi\n")
    r = run_knode("kubelet", f"--config={malformed}")
    assert r.returncode == 1 and f"{malformed}:4:" in r.stderr

    wrong_kind = tmp_path / "wrong.json"
    wrong_kind.write_text('{"apiVersion": "kubelet.config.k8s.io/v1", "kind": "KubeletConfiguration"}')
    r = run_knode("kubelet", f"--config={wrong_kind}")
    assert r.returncode == 1 and 'unsupported apiVersion "kubelet.config.k8s.io/v1"' in r.stderr

    r = run_knode("kubelet", f"--config={tmp_path}/missing.yaml")
    assert r.returncode == 1 and "No such file" in r.stderr


def test_flags_override_config_file(tmp_path):
    cfg = tmp_path / "proxy.yaml"
    cfg.write_text("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
                   "mode: nftables\nclusterCIDR: 10.244.0.0/16\nunknownField: 1\n"
                   "nftables: {minSyncPeriod: 2s, masqueradeBit: 13}\n")
    out = tmp_path / "effective.json"
    r = run_knode("kube-proxy", f"--config={cfg}", "--cluster-cidr=10.1.0.0/16", f"--write-config-to={out}")
    assert r.returncode == 0, r.stderr
    assert 'unknown field "unknownField" ignored' in r.stderr
    import json
    eff = json.loads(out.read_text())
    assert eff["clusterCIDR"] == "10.1.0.0/16"          # flag wins
    assert eff["nftables"]["minSyncPeriod"] == "2s"     # file
    assert eff["nftables"]["masqueradeBit"] == 13
    assert eff["nftables"]["syncPeriod"] == "30s"       # default
    assert eff["healthzBindAddress"] == "0.0.0.0:10256"
    assert eff["kind"] == "KubeProxyConfiguration"
