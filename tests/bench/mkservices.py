#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Create many Services + EndpointSlices fast through the Kubernetes API (stdlib only).

Service i (0-based) in namespace NS is `svc-<i>`: selector-less, ClusterIP svc_ip(i),
one TCP port 80 ("http") -> 8080; its EndpointSlice `svc-<i>-bench` carries the
kubernetes.io/service-name label and E ready endpoints on port 8080.

Workloads other than that plain one (--workload, see spec()):
  mix  what clusters have: ~30% UDP, ~20% with a second port (443 "https" -> 8443),
       ~5% externalIPs and ~5% type LoadBalancer with an ingress IP, ~5% with 100
       endpoints (the rest 2); spread over i by a fixed hash, so any prefix is mixed too
  udp  every Service UDP (port 80 -> 8080), E endpoints

  mkservices.py --kubeconfig K create --ns bench --from 0 --to 10000 --endpoints 2
  mkservices.py --kubeconfig K create --ns bench --to 10000 --workload mix
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
PORT2, TARGET_PORT2 = 443, 8443
EXT_BASE = int(ipaddress.IPv4Address("100.64.0.0"))  # externalIPs (mix)
LB_BASE = int(ipaddress.IPv4Address("100.80.0.0"))  # LoadBalancer ingress IPs (mix)
WORKLOADS = ("plain", "mix", "udp")


def svc_ip(i):
    return str(ipaddress.IPv4Address(SVC_BASE + i))


def ep_ip(i, j, e):
    n = (i * e + j) % 65000 + 256  # spread over 10.244.0.0/16, skip 10.244.0.x
    return str(ipaddress.IPv4Address(EP_BASE + n))


def spec(i, workload="plain", e=2):
    """Service i of WORKLOAD: {"proto", "ports" [(name, port, targetPort)], "endpoints",
    "external_ip" or None, "lb_ip" or None}."""
    sp = {"proto": "TCP", "ports": [("http", PORT, TARGET_PORT)], "endpoints": e, "external_ip": None, "lb_ip": None}
    if workload == "udp":
        sp["proto"] = "UDP"
    elif workload == "mix":
        h = (i * 2654435761) % (1 << 32)  # Knuth's multiplicative hash: the classes below are independent
        if h % 10 < 3:
            sp["proto"] = "UDP"
        if (h // 10) % 5 == 0:
            sp["ports"].append(("https", PORT2, TARGET_PORT2))
        x = (h // 50) % 20
        if x == 0:
            sp["external_ip"] = str(ipaddress.IPv4Address(EXT_BASE + i))
        elif x == 1:
            sp["lb_ip"] = str(ipaddress.IPv4Address(LB_BASE + i))
        sp["endpoints"] = 100 if (h // 1000) % 20 == 0 else 2
    elif workload != "plain":
        raise ValueError(f"unknown workload {workload!r}")
    return sp


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

    def request(self, method, path, body=None, ok=(200, 201, 202), retries=8, content_type="application/json"):
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"Content-Type": content_type, "Accept": "application/json"}
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


def service_obj(ns, i, sp=None):
    sp = sp or spec(i)
    o = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": f"svc-{i}", "namespace": ns},
        "spec": {"type": "LoadBalancer" if sp["lb_ip"] else "ClusterIP", "clusterIP": svc_ip(i),
                 "ports": [{"name": n, "protocol": sp["proto"], "port": p, "targetPort": t} for n, p, t in sp["ports"]]},
    }
    if sp["external_ip"]:
        o["spec"]["externalIPs"] = [sp["external_ip"]]
    return o


def slice_endpoints(i, e, addrs=None):
    """The endpoints list of service i's slice: E of them, or ADDRS."""
    addrs = addrs or [ep_ip(i, j, e) for j in range(e)]
    return [{"addresses": [a], "conditions": {"ready": True}, "nodeName": f"node-{(i + j) % 100}"}
            for j, a in enumerate(addrs)]


def slice_obj(ns, i, e, sp=None):
    sp = sp or spec(i, e=e)
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": f"svc-{i}-bench", "namespace": ns,
                     "labels": {"kubernetes.io/service-name": f"svc-{i}",
                                "endpointslice.kubernetes.io/managed-by": "bench.knode"}},
        "addressType": "IPv4",
        "ports": [{"name": n, "protocol": sp["proto"], "port": t} for n, _p, t in sp["ports"]],
        "endpoints": slice_endpoints(i, sp["endpoints"]),
    }


def ensure_ns(cl, ns):
    st, body = cl.request("POST", "/api/v1/namespaces",
                          {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, ok=(201, 409))
    if st not in (201, 409):
        raise RuntimeError(f"create namespace {ns}: HTTP {st}: {body[:300]!r}")


def create_one(cl, ns, i, e, what=("slice", "service"), workload="plain"):
    sp = spec(i, workload, e)
    for w in what:
        if w == "service":
            st, body = cl.request("POST", f"/api/v1/namespaces/{ns}/services", service_obj(ns, i, sp), ok=(201, 409))
            if st == 201 and sp["lb_ip"]:  # what a load-balancer controller would write
                st, body = cl.request("PATCH", f"/api/v1/namespaces/{ns}/services/svc-{i}/status",
                                      {"status": {"loadBalancer": {"ingress": [{"ip": sp["lb_ip"]}]}}},
                                      ok=(200,), content_type="application/merge-patch+json")
                st = 201 if st == 200 else st
        else:
            st, body = cl.request("POST", f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices",
                                  slice_obj(ns, i, e, sp), ok=(201, 409))
        if st not in (201, 409):
            raise RuntimeError(f"create {w} svc-{i}: HTTP {st}: {body[:300]!r}")


def create_range(cl, ns, lo, hi, e, threads=16, progress=True, workload="plain"):
    """Create services [lo, hi) of WORKLOAD (E endpoints each unless it says otherwise). Returns objects/s."""
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
                create_one(cl, ns, i, e, workload=workload)
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
    c.add_argument("--workload", choices=WORKLOADS, default="plain")
    n = sub.add_parser("node")
    n.add_argument("--name", default="bench-node")
    k = sub.add_parser("count")
    k.add_argument("--ns", default="bench")
    a = ap.parse_args()
    cl = Client(a.kubeconfig)
    if a.cmd == "create":
        t0 = time.monotonic()
        rate = create_range(cl, a.ns, a.lo, a.hi, a.endpoints, a.threads, workload=a.workload)
        if a.workload == "mix":
            sps = [spec(i, "mix") for i in range(a.lo, a.hi)]
            what = (f"mix: {sum(s['proto'] == 'UDP' for s in sps)} UDP, {sum(len(s['ports']) == 2 for s in sps)} "
                    f"2-port, {sum(bool(s['external_ip']) for s in sps)} externalIP, {sum(bool(s['lb_ip']) for s in sps)} "
                    f"LoadBalancer, {sum(s['endpoints'] == 100 for s in sps)} with 100 endpoints (the rest 2)")
        else:
            what = f"{a.workload} x {a.endpoints} endpoints"
        print(f"created services {a.lo}..{a.hi - 1} ({what}) in {time.monotonic() - t0:.1f}s ({rate:.0f} objects/s)")
    elif a.cmd == "node":
        ensure_node(cl, a.name)
    elif a.cmd == "count":
        print(count(cl, a.ns))


if __name__ == "__main__":
    main()
