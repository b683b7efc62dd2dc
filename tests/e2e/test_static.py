# SPDX-License-Identifier: Apache-2.0
"""The fully static build (make static) links no shared library and still speaks TLS
to a real apiserver."""
import json
import os
import subprocess

import pytest

from conftest import REPO, in_netns

STATIC = os.path.join(REPO, "build", "static", "knode.stripped")


@pytest.fixture
def static_bin():
    if not os.path.exists(STATIC):
        pytest.fail("build/static/knode.stripped is missing: run 'make static' first (make test does)")
    return STATIC


def test_no_dynamic_section(static_bin):
    r = subprocess.run(["readelf", "-d", static_bin], capture_output=True, text=True)
    assert "There is no dynamic section" in r.stdout
    size = os.path.getsize(static_bin)
    print(f"\nstatic knode: {size} bytes stripped")
    assert size < 12 * 1024 * 1024


def test_static_speaks_tls(static_bin, control_plane):
    for kc in ("admin", "token"):
        r = subprocess.run(in_netns([static_bin, "debug", "get", "/version", f"--kubeconfig={control_plane.kubeconfig(kc)}"]),
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["gitVersion"].startswith("v1.")
    r = subprocess.run(in_netns([static_bin, "debug", "get", "/version",
                                 f"--kubeconfig={control_plane.kubeconfig('wrongca')}"]), capture_output=True, text=True)
    assert r.returncode == 1
