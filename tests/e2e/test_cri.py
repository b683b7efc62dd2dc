# SPDX-License-Identifier: Apache-2.0
"""The CRI client against a real containerd, started here with its own config, root, state
and socket under /tmp (never the host's containerd), through `knode debug cri`."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import KNODE, REPO

STATIC = os.path.join(REPO, "build", "static", "knode.stripped")

CONFIG = """version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
  sandbox_image = "knode.local/pause:test"
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d}/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{d}/certs.d"
"""


def mounts_under(d):
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == d or p.startswith(d + "/")]


class Containerd:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="knode-cri-test.", dir="/tmp")
        for sub in ("root", "state", "cni", "certs.d", "opt"):
            os.makedirs(os.path.join(self.dir, sub))
        self.config = os.path.join(self.dir, "config.toml")
        with open(self.config, "w") as f:
            f.write(CONFIG.format(d=self.dir))
        self.sock = os.path.join(self.dir, "containerd.sock")
        self.endpoint = "unix://" + self.sock
        self.log = open(os.path.join(self.dir, "containerd.log"), "w")
        self.proc = None

    def start(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.proc = subprocess.Popen(["containerd", "--config", self.config], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"containerd exited with {self.proc.returncode}: {self.logtail()}")
            if os.path.exists(self.sock):
                r = subprocess.run([KNODE, "debug", "cri", "version", f"--container-runtime-endpoint={self.endpoint}"],
                                   capture_output=True, text=True, timeout=30)
                if r.returncode == 0:
                    return
            time.sleep(0.1)
        raise AssertionError(f"containerd did not answer on {self.sock}: {self.logtail()}")

    def logtail(self):
        with open(os.path.join(self.dir, "containerd.log")) as f:
            return f.read()[-2000:]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)

    def cleanup(self):
        self.stop()
        self.log.close()
        for p in sorted(mounts_under(self.dir), key=len, reverse=True):
            subprocess.run(["umount", "-l", p], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def containerd():
    if os.geteuid() != 0:
        pytest.fail("the CRI tests need root to run containerd")
    if not shutil.which("containerd") or not shutil.which("runc"):
        pytest.fail("containerd and runc are missing: run scripts/deps.sh")
    c = Containerd()
    try:
        c.start()
        yield c
    finally:
        c.cleanup()
        assert not os.path.exists(c.dir)


def cri(c, *args, binary=KNODE, endpoint=None):
    return subprocess.run([binary, "debug", "cri", *args, f"--container-runtime-endpoint={endpoint or c.endpoint}"],
                          capture_output=True, text=True, timeout=60)


def test_version(containerd):
    r = cri(containerd, "version")
    assert r.returncode == 0, r.stderr
    fields = dict(line.split(":", 1) for line in r.stdout.splitlines())
    assert fields["RuntimeName"].strip() == "containerd"
    assert fields["RuntimeApiVersion"].strip() == "v1"
    assert fields["Version"].strip() == "0.1.0"


def test_status_runtime_ready(containerd):
    r = cri(containerd, "status")
    assert r.returncode == 0, r.stderr
    conds = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] in ("true", "false"):
            conds[parts[0]] = parts[1]
    assert conds.get("RuntimeReady") == "true", r.stdout
    assert "NetworkReady" in conds  # false here: no CNI config in the test's conf_dir


def test_lists(containerd):
    for what in ("pods", "containers", "images"):
        r = cri(containerd, what)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[-1] == "TOTAL 0"


def test_many_calls_one_client(containerd):
    # reuse of one HTTP/2 connection, sequentially and from 8 threads at once
    r = cri(containerd, "status", "--repeat=300")
    assert r.returncode == 0, r.stderr
    r = cri(containerd, "version", "--repeat=50", "--parallel=8")
    assert r.returncode == 0, r.stderr
    assert "400 more calls from 8 threads" in r.stderr
    print("\n" + r.stderr.strip())


def test_runtime_restart(containerd):
    # one client across a containerd restart: the call after it reconnects (with libcurl
    # 7.88 through the retried HTTP/1.1 attempt containerd rejects, see runtime/cri.c)
    p = subprocess.Popen([KNODE, "debug", "cri", "version", "--repeat=3", "--interval=5s",
                          f"--container-runtime-endpoint={containerd.endpoint}"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1)
        containerd.stop()
        containerd.start()
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert "2 more calls from 1 threads" in err


def test_unreachable(containerd):
    r = cri(containerd, "version", endpoint="unix://" + containerd.dir + "/nonexistent.sock")
    assert r.returncode == 1
    assert "code = Unavailable" in r.stderr and "nonexistent.sock" in r.stderr


def test_static_binary(containerd):
    if not os.path.exists(STATIC):
        pytest.fail("build/static/knode.stripped is missing: run 'make static' first (make test does)")
    r = cri(containerd, "version", "--repeat=20", "--parallel=4", binary=STATIC)
    assert r.returncode == 0, r.stderr
    assert "RuntimeName:  containerd" in r.stdout
