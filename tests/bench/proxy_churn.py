# SPDX-License-Identifier: Apache-2.0
"""Steady EndpointSlice churn for proxy_scale.py: API write -> rule in the kernel.

RATE updates/s for SECS seconds, each replacing the second endpoint of one 2-endpoint
Service with a fresh address from a /16 of the run's own (10.250/16 for the first proxy,
10.251/16 for the next, ...), as a merge patch of the slice's endpoints. A thread reads
the kernel's nftables event group (NFNLGRP_NFTABLES, what `nft monitor` reads: every
object is announced once its transaction has committed) and timestamps the first NEW
chain/rule/set/element message that carries each fresh address, as 4 raw bytes (a dnat's
immediate, a map element) or as text (upstream names a chain per endpoint,
`endpoint-HASH-ns/svc/tcp/http__10.250.0.7/8080`). Latency = that time minus the time the
PATCH was sent. Neither proxy is touched; the helper only listens.
"""
import errno
import re
import socket
import statistics
import struct
import threading
import time

import mkservices

NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NFNLGRP_NFTABLES = 7
NFNL_SUBSYS_NFTABLES = 10
NEW_MSGS = {3, 6, 9, 12}  # NFT_MSG_NEWCHAIN, NEWRULE, NEWSET, NEWSETELEM


def churn_ip(prefix, k):
    return f"{prefix[0]}.{prefix[1]}.{k >> 8}.{k & 255}"


class NftEvents(threading.Thread):
    def __init__(self, prefix):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE (root)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
        self.sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NFNLGRP_NFTABLES)
        self.sock.settimeout(0.2)
        self.raw = re.compile(re.escape(bytes(prefix)) + b"(..)", re.S)
        self.txt = re.compile(rb"(?<![0-9])%d\.%d\.(\d{1,3})\.(\d{1,3})(?![0-9])" % prefix)
        self.seen = {}  # k -> monotonic time of the first message carrying churn_ip(prefix, k)
        self.msgs = self.overruns = 0
        self.done = False

    def run(self):
        while not self.done:
            try:
                data = self.sock.recv(4 << 20)
            except socket.timeout:
                continue
            except OSError as e:
                if e.errno == errno.ENOBUFS:  # events lost: the affected updates show as unseen
                    self.overruns += 1
                    continue
                raise
            now = time.monotonic()
            off = 0
            while off + 16 <= len(data):
                ln, typ = struct.unpack_from("=IH", data, off)
                if ln < 16:
                    break
                if typ >> 8 == NFNL_SUBSYS_NFTABLES and (typ & 0xFF) in NEW_MSGS:
                    self.msgs += 1
                    body = data[off + 16:off + ln]
                    for m in self.raw.finditer(body):
                        self.seen.setdefault((m.group(1)[0] << 8) | m.group(1)[1], now)
                    for m in self.txt.finditer(body):
                        a, b = int(m.group(1)), int(m.group(2))
                        if a < 256 and b < 256:
                            self.seen.setdefault((a << 8) | b, now)
                off += (ln + 3) & ~3

    def stop(self):
        self.done = True
        self.join(2)
        self.sock.close()


def run_churn(cl, ns, n, workload, e, rate, secs, prefix, threads=4, settle=30, log=print):
    """Returns a dict of results (latencies in seconds)."""
    eligible = [i for i in range(n) if mkservices.spec(i, workload, e)["endpoints"] == 2]
    total = int(rate * secs)
    if total > 65536 or not eligible:
        raise ValueError("churn: too many updates for one /16, or no 2-endpoint Service")
    stride = 7919 if len(eligible) % 7919 else 7907  # a prime: consecutive updates hit far-apart Services
    sent = [None] * total  # (t_send, t_reply, http status)
    ev = NftEvents(prefix)
    ev.start()
    t0 = time.monotonic() + 0.2
    nxt = [0]
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                k = nxt[0]
                nxt[0] += 1
            if k >= total:
                return
            delay = t0 + k / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            i = eligible[(k * stride) % len(eligible)]
            body = {"endpoints": mkservices.slice_endpoints(i, 2, [mkservices.ep_ip(i, 0, 2), churn_ip(prefix, k)])}
            ts = time.monotonic()
            st, _ = cl.request("PATCH", f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices/svc-{i}-bench",
                               body, ok=(200,), content_type="application/merge-patch+json")
            sent[k] = (ts, time.monotonic(), st)

    ws = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for w in ws:
        w.start()
    for w in ws:
        w.join()
    t_end = time.monotonic()
    log(f"churn: {total} updates sent in {t_end - t0:.1f}s; waiting up to {settle}s for the last ones")
    while time.monotonic() - t_end < settle and len([k for k in range(total) if k in ev.seen]) < total:
        time.sleep(0.2)
    ev.stop()
    lat, api, missing, failed = [], [], 0, 0
    for k, s in enumerate(sent):
        if s is None or s[2] != 200:
            failed += 1
            continue
        api.append(s[1] - s[0])
        t = ev.seen.get(k)
        if t is None or t < s[0]:
            missing += 1
            continue
        lat.append(t - s[0])
    lat.sort()

    def pct(xs, q):
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else None
    return {"churn_updates": total, "churn_send_s": t_end - t0, "churn_failed": failed, "churn_unseen": missing,
            "churn_p50_s": pct(lat, 0.50), "churn_p99_s": pct(lat, 0.99), "churn_max_s": lat[-1] if lat else None,
            "churn_api_p50_s": statistics.median(api) if api else None, "churn_events": ev.msgs,
            "churn_overruns": ev.overruns}
