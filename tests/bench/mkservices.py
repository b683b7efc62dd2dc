#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Create many Services + EndpointSlices fast through the Kubernetes API (stdlib only).

Service i (0-based) in namespace NS is `svc-<i>`: selector-less, ClusterIP svc_ip(i),
one TCP port 80 ("http") -> 8080; its EndpointSlice `svc-<i>-bench` carries the
kubernetes.io/service-name label and E ready endpoints on port 8080.

  mkservices.py --kubeconfig K create --ns bench --from 0 --to 10000 --endpoints 2
  mkservices.py --kubeconfig K node --name bench-node
  mkservices.py --kubeconfig K count --ns bench

Several threads, one keep-alive TLS connection each (admin client certificate from the
kubeconfig's file paths). Also imported by proxy_scale.py.
"""
import argparse
import http.client
import ipaddress
import json
import queue
import ssl
import sys
import threading
import time

SVC_BASE = int(ipaddress.IPv4Address("10.96.4.0"))  # inside the default 10.96.0.0/16
EP_BASE = int(ipaddress.IPv4Address("10.244.0.0"))
PORT = 80
TARGET_PORT = 8080


def svc_ip(i):
    return str(ipaddress.IPv4Address(SVC_BASE + i))


def ep_ip(i, j, e):
    n = (i * e + j) % 65000 + 256  # spread over 10.244.0.0/16, skip 10.244.0.x
    return str(ipaddress.IPv4Address(EP_BASE + n))


def _kubeconfig(path):
    """The few fields we need from a kubeconfig with file paths (cluster.sh's admin.kubeconfig)."""
    vals = {}
    with open(path) as f:
        for line in f:
            s = line.strip()
            for k in ("server", "certificate-authority", "client-certificate", "client-key"):
                if s.startswith(k + ":") and k not in vals:
                    vals[k] = s.split(":", 1)[1].strip()
    missing = [k for k in ("server", "certificate-authority", "client-certificate", "client-key") if k not in vals]
    if missing:
        raise SystemExit(f"{path}: missing {', '.join(missing)} (file-path kubeconfig expected)")
    return vals


class Client:
    def __init__(self, kubeconfig):
        kc = _kubeconfig(kubeconfig)
        u = kc["server"]
        assert u.startswith("https://"), u
        hostport = u[len("https://"):].rstrip("/")
        self.host, _, port = hostport.partition(":")
        self.port = int(port or 443)
        ctx = ssl.create_default_context(cafile=kc["certificate-authority"])
        ctx.load_cert_chain(kc["client-certificate"], kc["client-key"])
        self.ctx = ctx
        self.local = threading.local()

    def _conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=60)
            self.local.conn = c
        return c

    def request(self, method, path, body=None, ok=(200, 201, 202), retries=8):
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"Content-Type": "application/json", "Accept": "application/json"}
        for attempt in range(retries):
            c = self._conn()
            try:
                c.request(method, path, body=data, headers=hdrs)
                r = c.getresponse()
                payload = r.read()
            except (http.client.HTTPException, OSError):
                c.close()
                self.local.conn = None
                time.sleep(0.05 * (attempt + 1))
                continue
            if r.status in ok:
                return r.status, payload
            if r.status in (429, 500, 503, 504):  # overload / timeout: back off and retry
                time.sleep(0.1 * (attempt + 1))
                continue
            return r.status, payload
        raise RuntimeError(f"{method} {path}: no success after {retries} attempts")


def service_obj(ns, i):
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": f"svc-{i}", "namespace": ns},
        "spec": {"type": "ClusterIP", "clusterIP": svc_ip(i),
                 "ports": [{"name": "http", "protocol": "TCP", "port": PORT, "targetPort": TARGET_PORT}]},
    }


def slice_obj(ns, i, e):
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": f"svc-{i}-bench", "namespace": ns,
                     "labels": {"kubernetes.io/service-name": f"svc-{i}",
                                "endpointslice.kubernetes.io/managed-by": "bench.knode"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "protocol": "TCP", "port": TARGET_PORT}],
        "endpoints": [{"addresses": [ep_ip(i, j, e)], "conditions": {"ready": True},
                       "nodeName": f"node-{(i + j) % 100}"} for j in range(e)],
    }


def ensure_ns(cl, ns):
    st, body = cl.request("POST", "/api/v1/namespaces",
                          {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, ok=(201, 409))
    if st not in (201, 409):
        raise RuntimeError(f"create namespace {ns}: HTTP {st}: {body[:300]!r}")


def create_one(cl, ns, i, e, what=("slice", "service")):
    for w in what:
        if w == "service":
            st, body = cl.request("POST", f"/api/v1/namespaces/{ns}/services", service_obj(ns, i), ok=(201, 409))
        else:
            st, body = cl.request("POST", f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices",
                                  slice_obj(ns, i, e), ok=(201, 409))
        if st not in (201, 409):
            raise RuntimeError(f"create {w} svc-{i}: HTTP {st}: {body[:300]!r}")


def create_range(cl, ns, lo, hi, e, threads=16, progress=True):
    """Create services [lo, hi) with E endpoints each. Returns objects/s."""
    ensure_ns(cl, ns)
    q = queue.Queue()
    for i in range(lo, hi):
        q.put(i)
    errors = []
    done = [0]
    lock = threading.Lock()

    def worker():
        while not errors:
            try:
                i = q.get_nowait()
            except queue.Empty:
                return
            try:
                create_one(cl, ns, i, e)
            except Exception as ex:  # noqa: BLE001 - reported below
                errors.append(ex)
                return
            with lock:
                done[0] += 1

    t0 = time.monotonic()
    ts = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    last = t0
    while any(t.is_alive() for t in ts):
        time.sleep(0.2)
        if progress and time.monotonic() - last > 10:
            last = time.monotonic()
            print(f"  ... {done[0]}/{hi - lo} services+slices", file=sys.stderr, flush=True)
    if errors:
        raise errors[0]
    dt = time.monotonic() - t0
    return 2 * (hi - lo) / dt if dt > 0 else 0.0


def ensure_node(cl, name, ip="10.0.0.10", pod_cidr="10.244.1.0/24"):
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]}}
    st, body = cl.request("POST", "/api/v1/nodes", node, ok=(201, 409))
    if st not in (201, 409):
        raise RuntimeError(f"create node {name}: HTTP {st}: {body[:300]!r}")


def count(cl, ns):
    st, body = cl.request("GET", f"/api/v1/namespaces/{ns}/services?limit=1", ok=(200,))
    meta = json.loads(body).get("metadata", {})
    return len(json.loads(body).get("items", [])) + int(meta.get("remainingItemCount", 0) or 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kubeconfig", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create")
    c.add_argument("--ns", default="bench")
    c.add_argument("--from", dest="lo", type=int, default=0)
    c.add_argument("--to", dest="hi", type=int, required=True)
    c.add_argument("--endpoints", type=int, default=2)
    c.add_argument("--threads", type=int, default=16)
    n = sub.add_parser("node")
    n.add_argument("--name", default="bench-node")
    k = sub.add_parser("count")
    k.add_argument("--ns", default="bench")
    a = ap.parse_args()
    cl = Client(a.kubeconfig)
    if a.cmd == "create":
        t0 = time.monotonic()
        rate = create_range(cl, a.ns, a.lo, a.hi, a.endpoints, a.threads)
        print(f"created services {a.lo}..{a.hi - 1} x {a.endpoints} endpoints in "
              f"{time.monotonic() - t0:.1f}s ({rate:.0f} objects/s)")
    elif a.cmd == "node":
        ensure_node(cl, a.name)
    elif a.cmd == "count":
        print(count(cl, a.ns))


if __name__ == "__main__":
    main()
