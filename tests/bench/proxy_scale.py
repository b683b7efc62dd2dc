#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Measurement half of proxy-scale.sh (runs inside the benchmark's network namespace).

  proxy_scale.py run --name knode --n 10000 --endpoints 2 --kubeconfig K --out R.jsonl -- CMD...
      cold start: exec CMD, poll until service N-1's element is in `ip kube-proxy service-ips`;
      then optionally --npl R trials (one added Service each); peak RSS and CPU; one JSON line to R.jsonl
      --workload mix|udp: the Services mkservices.py made with that workload
      --churn-rate R --churn-secs S: then steady EndpointSlice churn (proxy_churn.py): p50/p99
          API write -> rule in the kernel, CPU and peak RSS over the phase
      --conntrack C: before exec, C UDP conntrack entries to the Services (half to a current
          endpoint, half to one that is gone); the first full sync (incl. its stale-flow
          cleanup) is timed
  proxy_scale.py report R.jsonl
      the side-by-side table

"Programmed" is checked with one NFT_MSG_GETSETELEM netlink request for the exact key
(what `nft get element` sends, minus nft's cache load, which costs ~50 ms at 4k services
and grows with the table): microseconds, so polling every few ms does not load the box.
Both proxies commit a full sync as one nftables transaction, so the last Service's element
being present means the whole table is there; the element count is verified afterwards.
"""
import argparse
import errno
import ipaddress
import json
import os
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mkservices  # noqa: E402
import proxy_churn  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")

# ---- netlink: one GETSETELEM for ip kube-proxy service-ips { IP . tcp . PORT } ----

NETLINK_NETFILTER = 12
NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_GETSETELEM = 13
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
NLA_F_NESTED = 0x8000
NFPROTO_IPV4 = 2


def _nla(t, payload):
    n = 4 + len(payload)
    return struct.pack("=HH", n, t) + payload + b"\0" * ((4 - n % 4) % 4)


class ElemProbe:
    def __init__(self, table="kube-proxy", set_name="service-ips"):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.table, self.set = table.encode() + b"\0", set_name.encode() + b"\0"
        self.seq = int(time.time()) & 0xFFFFFF

    def present(self, ip, port, proto=6):
        """True if { ip . proto . port } is an element of the map; False on ENOENT (also: no table yet)."""
        key = ipaddress.IPv4Address(ip).packed + struct.pack("=B3x", proto) + struct.pack(">H2x", port)
        elem = _nla(1 | NLA_F_NESTED, _nla(1 | NLA_F_NESTED, _nla(1, key)))  # LIST_ELEM{ KEY{ DATA_VALUE } }
        attrs = _nla(1, self.table) + _nla(2, self.set) + _nla(3 | NLA_F_NESTED, elem)
        body = struct.pack("=BBH", NFPROTO_IPV4, 0, 0) + attrs
        self.seq += 1
        hdr = struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM,
                          NLM_F_REQUEST | NLM_F_ACK, self.seq, 0)
        self.sock.send(hdr + body)
        found = False
        while True:
            data = self.sock.recv(1 << 16)
            off = 0
            while off + 16 <= len(data):
                ln, typ, _fl, seq, _pid = struct.unpack_from("=IHHII", data, off)
                if seq == self.seq:
                    if typ == NLMSG_ERROR:
                        err = -struct.unpack_from("=i", data, off + 16)[0]
                        if err == 0:
                            return found
                        if err in (errno.ENOENT,):
                            return False
                        raise OSError(err, f"GETSETELEM: {os.strerror(err)}")
                    found = True
                off += (ln + 3) & ~3


def count_elements(table="kube-proxy", set_name="service-ips"):
    try:
        out = subprocess.run(["nft", "-j", "list", "map", "ip", table, set_name], capture_output=True,
                             text=True, timeout=120).stdout
        for o in json.loads(out).get("nftables", []):
            if "map" in o:
                return len(o["map"].get("elem", []))
    except (subprocess.TimeoutExpired, ValueError):
        pass
    return -1


# ---- process accounting ----

def proc_cpu(pid):
    """utime+stime of PID, and cutime+cstime (its waited-for children, e.g. upstream's `nft`)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None, None
    fields = s[s.rindex(")") + 2:].split()
    u, st, cu, cs = (int(x) for x in fields[11:15])
    return (u + st) / CLK_TCK, (cu + cs) / CLK_TCK


def live_children_cpu(pid):
    """utime+stime of PID's children not yet waited for (running, or exited and not reaped:
    upstream's `nft` may commit the table a moment before upstream reaps it)."""
    tot = 0.0
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                for c in f.read().split():
                    cpu, _ = proc_cpu(c)
                    tot += cpu or 0
    except OSError:
        pass
    return tot


def proc_hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def proc_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def children_rss_kib(pid):
    tot = 0
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                for c in f.read().split():
                    try:
                        with open(f"/proc/{c}/status") as g:
                            for line in g:
                                if line.startswith("VmRSS:"):
                                    tot = max(tot, int(line.split()[1]))
                    except OSError:
                        pass
    except OSError:
        pass
    return tot


def sync_count(url="http://127.0.0.1:10249/metrics"):
    """Completed IPv4 syncs so far (kubeproxy_sync_proxy_rules_duration_seconds_count), or None."""
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode(errors="replace")
    except OSError:
        return None
    lines = [x for x in text.splitlines() if x.startswith("kubeproxy_sync_proxy_rules_duration_seconds_count")]
    v4 = [x for x in lines if 'ip_family="IPv4"' in x]
    return sum(int(float(x.rsplit(None, 1)[-1])) for x in (v4 or lines))


def wait_idle(before, timeout=20, min_sync=1.0):
    """After a change: wait until the sync it triggered has completed (the count moved past
    BEFORE), then past min-sync-period, so the next change is not queued behind it."""
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        c = sync_count()
        if c is None or before is None or c > before:
            break
        time.sleep(0.02)
    time.sleep(min_sync + 0.2)


def log_has(path, needle):
    try:
        with open(path, "rb") as f:
            return needle.encode() in f.read()
    except OSError:
        return False


# ---- run one proxy ----

def stop(proc):
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


SYNC_DONE = {"knode": "synced IPv4 rules (full", "upstream": 'SyncProxyRules complete" ipFamily="IPv4"'}


def go_duration_s(s):
    """ "1.5s", "523.4ms", "1m2.5s", "80µs" -> seconds."""
    unit = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    parts = re.findall(r"([0-9.]+)(h|ms|us|µs|ns|m|s)", s)
    return sum(float(v) * unit[u] for v, u in parts) if parts else None


def own_sync_s(name, line):
    """The sync duration a proxy logs for itself (knode's excludes the stale-flow cleanup, logged after it)."""
    m = re.search(r"\) in ([0-9.]+)s" if name == "knode" else r'elapsed="([^"]+)"', line)
    if not m:
        return None
    return float(m.group(1)) if name == "knode" else go_duration_s(m.group(1))


# ---- UDP conntrack entries (inside the benchmark's netns) ----

def conntrack_count():
    try:
        return int(open("/proc/sys/net/netfilter/nf_conntrack_count").read())
    except (OSError, ValueError):
        return None


def conntrack_fill(n_svc, workload, e, total, path):
    """TOTAL UDP entries spread over the Services: client -> ClusterIP:80, replied by a current
    endpoint (even k) or by a gone one (odd k: stale, both proxies must clear it)."""
    subprocess.run(["conntrack", "-F"], capture_output=True)
    lines = []
    for k in range(total):
        i = k % n_svc
        sp = mkservices.spec(i, workload, e)
        client = f"10.1.{(k >> 8) & 255}.{k & 255}"
        sport = 10000 + k // 65536
        ep = mkservices.ep_ip(i, k % 2, sp["endpoints"]) if k % 2 == 0 else f"10.252.{(k >> 8) & 255}.{k & 255}"
        proto = sp["proto"].lower()
        lines.append(f"-I -p {proto} -s {client} -d {mkservices.svc_ip(i)} --sport {sport} --dport {mkservices.PORT} "
                     f"-r {ep} -q {client} --reply-port-src {mkservices.TARGET_PORT} --reply-port-dst {sport} -t 3600\n")
    with open(path, "w") as f:
        f.writelines(lines)
    r = subprocess.run(["conntrack", "-R", path], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"conntrack -R: {r.stderr.strip()[:300]}")
    return conntrack_count()


def warm_restart(a, res):
    """Start the proxy again over the table the first run left: time to its first IPv4 sync."""
    needle = SYNC_DONE["knode" if a.name == "knode" else "upstream"].encode()
    log = a.log + ".warm"
    with open(log, "wb") as logf:
        t0 = time.monotonic()
        proc = subprocess.Popen(a.cmd, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write(f"{proc.pid}\n")
    print(f"  [{a.name}] warm restart over the existing table, pid {proc.pid}", file=sys.stderr, flush=True)
    status = "timeout"
    with open(log, "rb") as f:
        buf = b""
        while time.monotonic() - t0 < a.timeout:
            buf += f.read()
            if needle in buf:
                status = "ok"
                res["warm_s"] = time.monotonic() - t0
                break
            if proc.poll() is not None:
                status = f"exited({proc.returncode})"
                break
            buf = buf[-200:]
            time.sleep(0.01)
    cpu, ccpu = proc_cpu(proc.pid)
    res["warm_cpu_s"] = (cpu or 0) + (ccpu or 0)
    res["warm_hwm_kib"] = proc_hwm_kib(proc.pid)
    res["warm_status"] = status
    stop(proc)
    for line in open(log, errors="replace"):
        if needle.decode() in line:
            res["warm_own_sync"] = line.split("] ", 1)[-1].strip()
            break
    print(f"  [{a.name}] warm restart: {status}" + (f" in {res['warm_s']:.3f}s" if status == "ok" else ""),
          file=sys.stderr, flush=True)


def conntrack_synced(a, res, t0):
    """After programmed: wait for the log line of the first full IPv4 sync, which both proxies
    write once that sync's stale UDP flows are cleared."""
    needle = SYNC_DONE["knode" if a.name == "knode" else "upstream"]
    t_prog = t0 + res["cold_s"]
    while time.monotonic() - t_prog < 120:
        line = next((x for x in open(a.log, errors="replace") if needle in x), None)
        if line:
            now = time.monotonic()
            res["ct_synced_s"] = now - t0
            res["ct_after_commit_s"] = now - t_prog  # commit -> cleanup done (+ <= 10 ms polling)
            res["ct_own_sync_s"] = own_sync_s(a.name, line)
            # knode logs the sync's own time without the cleanup that follows it; upstream's includes it
            res["ct_full_sync_s"] = (res["ct_own_sync_s"] or 0) + (res["ct_after_commit_s"] if a.name == "knode" else 0)
            break
        time.sleep(0.01)
    time.sleep(1)
    res["ct_after"] = conntrack_count()


def churn(a, res, cl, pid):
    """Steady EndpointSlice churn; CPU (+children) and peak RSS over the phase. Returns the largest child RSS."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5\n")  # reset VmHWM: the phase's own peak
    cpu0, ccpu0 = proc_cpu(pid)
    live0 = live_children_cpu(pid)
    stop_ev = threading.Event()
    child = [0]

    def sample():
        while not stop_ev.wait(0.1):
            child[0] = max(child[0], children_rss_kib(pid))
    smp = threading.Thread(target=sample, daemon=True)
    smp.start()
    print(f"  [{a.name}] churn: {a.churn_rate:g} EndpointSlice updates/s for {a.churn_secs:g}s", file=sys.stderr,
          flush=True)
    r = proxy_churn.run_churn(cl, a.ns, a.n, a.workload, a.endpoints, a.churn_rate, a.churn_secs,
                              tuple(int(x) for x in a.churn_prefix.split(".")),
                              log=lambda m: print(f"  [{a.name}] {m}", file=sys.stderr, flush=True))
    stop_ev.set()
    smp.join()
    cpu1, ccpu1 = proc_cpu(pid)
    r["churn_cpu_s"] = (cpu1 or 0) - (cpu0 or 0) + (ccpu1 or 0) - (ccpu0 or 0) + live_children_cpu(pid) - live0
    r["churn_hwm_kib"] = proc_hwm_kib(pid)
    r["churn_child_rss_kib"] = child[0]
    res.update(r)
    print(f"  [{a.name}] churn: p50 {fmt_s(r['churn_p50_s'])}, p99 {fmt_s(r['churn_p99_s'])}, "
          f"{r['churn_unseen']} unseen, CPU {r['churn_cpu_s']:.2f}s", file=sys.stderr, flush=True)
    return child[0]


def run(a):
    probe = ElemProbe()
    cl = mkservices.Client(a.kubeconfig)
    last_ip = mkservices.svc_ip(a.n - 1)
    last = mkservices.spec(a.n - 1, a.workload, a.endpoints)
    last_proto = 17 if last["proto"] == "UDP" else 6
    res = {"proxy": a.name, "n": a.n, "endpoints": a.endpoints if a.workload == "plain" else a.workload, "status": "ok"}
    if a.conntrack:
        res["ct_before"] = conntrack_fill(a.n, a.workload, a.endpoints, a.conntrack, a.log + ".conntrack")
        print(f"  [{a.name}] {res['ct_before']} conntrack entries in the namespace", file=sys.stderr, flush=True)
    logf = open(a.log, "wb")
    t0 = time.monotonic()
    proc = subprocess.Popen(a.cmd, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
    pid = proc.pid
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write(f"{pid}\n")

    def on_signal(sig, _frame):  # interrupted: take our proxy down with us
        if proc.poll() is None:
            os.kill(pid, signal.SIGKILL)
            proc.wait()
        sys.exit(128 + sig)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    child_rss = 0
    rss_tl = []  # (s since exec, VmRSS KiB) every ~100 ms until programmed
    deadline = t0 + a.timeout
    ticks = 0
    print(f"  [{a.name}] pid {pid}, waiting for {a.n} services x {a.endpoints} endpoints "
          f"(timeout {a.timeout:.0f}s)", file=sys.stderr, flush=True)
    while True:
        if probe.present(last_ip, mkservices.PORT, last_proto):
            res["cold_s"] = time.monotonic() - t0
            break
        if proc.poll() is not None:
            res["status"] = f"exited({proc.returncode})"
            break
        if time.monotonic() > deadline:
            res["status"] = "timeout"
            break
        ticks += 1
        if ticks % 10 == 0:
            child_rss = max(child_rss, children_rss_kib(pid))
            rss_tl.append((round(time.monotonic() - t0, 2), proc_rss_kib(pid)))
        if ticks % 3000 == 0:
            print(f"  [{a.name}] ... {time.monotonic() - t0:.0f}s", file=sys.stderr, flush=True)
        time.sleep(0.01)
    cpu, ccpu = proc_cpu(pid)
    res["cold_cpu_s"] = (cpu or 0) + (ccpu or 0) + live_children_cpu(pid)
    res["cold_hwm_kib"] = proc_hwm_kib(pid)
    res["rss_timeline"] = rss_tl
    if res["status"] == "ok":
        print(f"  [{a.name}] programmed in {res['cold_s']:.3f}s", file=sys.stderr, flush=True)
        if a.conntrack:
            conntrack_synced(a, res, t0)
        res["elements"] = count_elements()
        if a.workload != "plain":
            res["elements_expected"] = sum(
                len(sp["ports"]) * (1 + bool(sp["external_ip"]) + bool(sp["lb_ip"]))
                for sp in (mkservices.spec(i, a.workload, a.endpoints) for i in range(a.n)))
        time.sleep(2.5)  # past min-sync-period and any follow-up sync (IPv6, first resync)
        if a.npl > 0:
            lat, post = [], []
            for k in range(a.npl):
                i = a.npl_base + k
                before = sync_count()
                mkservices.create_one(cl, a.ns, i, a.endpoints, what=("slice",))
                wait_idle(before)  # the slice alone triggers a sync (upstream: seconds at 10k)
                ip = mkservices.svc_ip(i)
                before = sync_count()
                t1 = time.monotonic()
                mkservices.create_one(cl, a.ns, i, a.endpoints, what=("service",))
                post.append(time.monotonic() - t1)
                while not probe.present(ip, mkservices.PORT):
                    if time.monotonic() - t1 > 120 or proc.poll() is not None:
                        lat.append(None)
                        break
                    time.sleep(0.005)
                else:
                    lat.append(time.monotonic() - t1)
                wait_idle(before)
            res["npl_post_s"] = post
            res["npl_s"] = lat
            ok = [x for x in lat if x is not None]
            res["npl_median_s"] = statistics.median(ok) if ok else None
            for k in range(a.npl):  # leave the apiserver as we found it for the next proxy
                i = a.npl_base + k
                cl.request("DELETE", f"/api/v1/namespaces/{a.ns}/services/svc-{i}", ok=(200, 202, 404))
                cl.request("DELETE", f"/apis/discovery.k8s.io/v1/namespaces/{a.ns}/endpointslices/svc-{i}-bench",
                           ok=(200, 202, 404))
        if a.churn_rate > 0 and a.churn_secs > 0 and proc.poll() is None:
            child_rss = max(child_rss, churn(a, res, cl, pid))
        child_rss = max(child_rss, children_rss_kib(pid))
    cpu, ccpu = proc_cpu(pid)
    res["cpu_s"] = cpu
    res["child_cpu_s"] = ccpu
    res["rss_end_kib"] = proc_rss_kib(pid)
    res["hwm_kib"] = max(proc_hwm_kib(pid) or 0, res["cold_hwm_kib"] or 0) or None
    # stop it by its pid (a session of its own: nothing else is signalled)
    stop(proc)
    if a.warm and res["status"] == "ok":
        warm_restart(a, res)
    res["child_rss_kib"] = child_rss
    if a.pidfile:
        os.unlink(a.pidfile)
    if a.name == "knode":
        for line in open(a.log, errors="replace"):
            if "synced IPv4 rules (full" in line:
                res["own_sync"] = line.split("] ", 1)[-1].strip()
                break
    else:
        for line in open(a.log, errors="replace"):
            if "SyncProxyRules complete" in line and 'ipFamily="IPv4"' in line:
                res["own_sync"] = line.split("] ", 1)[-1].strip()
                break
    if res["status"] != "ok":
        with open(a.log, errors="replace") as f:
            res["log_tail"] = f.readlines()[-5:]
    with open(a.out, "a") as f:
        f.write(json.dumps(res) + "\n")
    s = json.dumps({k: v for k, v in res.items() if k not in ("log_tail", "rss_timeline")})
    print(f"  [{a.name}] {s}", file=sys.stderr, flush=True)
    return 0


# ---- report ----

def fmt_s(x):
    if x is None:
        return "-"
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def fmt_mib(kib):
    return "-" if kib is None else f"{kib / 1024:.1f} MiB"


def ratio(u, k):
    if u is None or k is None or k <= 0:
        return "-"
    return f"{u / k:.1f}x"


def report(a):
    rows = [json.loads(line) for line in open(a.file) if line.strip()]
    cases = []
    for r in rows:
        c = (r["n"], r["endpoints"])
        if c not in cases:
            cases.append(c)
    by = {(r["n"], r["endpoints"], r["proxy"]): r for r in rows}

    def val(r, key):
        if r is None:
            return None
        return r.get(key) if r.get("status") == "ok" or key in ("hwm_kib", "cpu_s", "cold_cpu_s") else None

    def secs(x):
        return "-" if x is None else f"{x:.2f} s"

    def cell(r, key, f):
        if r is None:
            return "skipped"
        if r.get("status") != "ok" and key in ("cold_s", "npl_median_s"):
            return r["status"]
        if key == "warm_s" and r.get("warm_status") not in (None, "ok"):
            return r["warm_status"]
        return f(r.get(key))

    hdr = ("case", "metric", "knode", "upstream", "upstream/knode")
    out = []
    for n, e in cases:
        k, u = by.get((n, e, "knode")), by.get((n, e, "upstream"))
        name = f"{n}x{e}"
        metrics = [("cold start -> programmed", "cold_s", fmt_s),
                   ("restart over its table -> synced", "warm_s", fmt_s),
                   ("CPU to programmed (+children)", "cold_cpu_s", lambda x: "-" if x is None else f"{x:.2f} s"),
                   ("peak RSS (VmHWM)", "hwm_kib", fmt_mib),
                   ("CPU whole run (+children)", None, None)]
        if (k and k.get("npl_s")) or (u and u.get("npl_s")):
            metrics.insert(1, ("add 1 Service, median", "npl_median_s", fmt_s))
        if any(r and "ct_before" in r for r in (k, u)):
            metrics[1:1] = [("first full sync incl. conntrack", "ct_full_sync_s", fmt_s),
                            ("commit -> stale flows cleared", "ct_after_commit_s", fmt_s)]
        if any(r and "churn_updates" in r for r in (k, u)):
            metrics += [("churn: write -> kernel p50", "churn_p50_s", fmt_s),
                        ("churn: write -> kernel p99", "churn_p99_s", fmt_s),
                        ("churn: CPU in the phase (+children)", "churn_cpu_s", secs),
                        ("churn: peak RSS in the phase", "churn_hwm_kib", fmt_mib)]
        if all(r is None or "warm_s" not in r for r in (k, u)):
            metrics = [m for m in metrics if m[1] != "warm_s"]
        for label, key, f in metrics:
            if key is None:
                def tot(r):
                    if r is None or r.get("cpu_s") is None:
                        return None
                    return r["cpu_s"] + (r.get("child_cpu_s") or 0)
                kv, uv = tot(k), tot(u)
                kc = "skipped" if k is None else ("-" if kv is None else f"{kv:.2f} s")
                uc = "skipped" if u is None else ("-" if uv is None else f"{uv:.2f} s")
            else:
                kv, uv = val(k, key), val(u, key)
                kc, uc = cell(k, key, f), cell(u, key, f)
            out.append((name, label, kc, uc, ratio(uv, kv)))
            name = ""
    w = [max(len(str(r[i])) for r in out + [hdr]) for i in range(len(hdr))]
    line = "  ".join(h.ljust(w[i]) for i, h in enumerate(hdr))
    print(line)
    print("-" * len(line))
    for r in out:
        print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)))
    print()
    for r in rows:
        extra = []
        if r.get("npl_s"):
            extra.append("add-1 trials: " + ", ".join(fmt_s(x) if x is not None else "timeout" for x in r["npl_s"]))
            if r.get("npl_post_s"):
                extra.append("of which API create: " + ", ".join(fmt_s(x) for x in r["npl_post_s"]))
        if r.get("elements") is not None:
            extra.append(f"service-ips elements: {r['elements']}"
                         + (f" (expected {r['elements_expected']})" if "elements_expected" in r else ""))
        if "ct_before" in r:
            extra.append(f"conntrack entries {r['ct_before']} -> {r.get('ct_after')} after the first sync "
                         f"(exec -> that sync done: {fmt_s(r.get('ct_synced_s'))}, own log: {fmt_s(r.get('ct_own_sync_s'))})")
        if "churn_updates" in r:
            extra.append(f"churn: {r['churn_updates']} updates in {r['churn_send_s']:.1f}s, API write p50 "
                         f"{fmt_s(r['churn_api_p50_s'])}, max {fmt_s(r['churn_max_s'])}, {r['churn_unseen']} not seen in "
                         f"the kernel, {r['churn_failed']} failed writes, {r['churn_events']} nft events, "
                         f"{r['churn_overruns']} event overruns, largest child RSS {fmt_mib(r.get('churn_child_rss_kib'))}")
        if r.get("rss_end_kib"):
            extra.append(f"RSS at end: {fmt_mib(r['rss_end_kib'])}")
        tl = r.get("rss_timeline") or []
        if tl:
            pts = tl[:: max(1, len(tl) // 8)] + tl[-1:]
            extra.append("RSS timeline: " + " ".join(f"{t:.1f}s={k / 1024:.0f}M" for t, k in pts if k))
        if r.get("child_rss_kib"):
            extra.append(f"largest child RSS seen: {fmt_mib(r['child_rss_kib'])}")
        if r.get("own_sync"):
            extra.append(f"own log: {r['own_sync'][:160]}")
        if r.get("warm_own_sync"):
            extra.append(f"restart: {r['warm_own_sync'][:160]}, peak RSS {fmt_mib(r.get('warm_hwm_kib'))}")
        if r.get("log_tail"):
            extra.append("log tail: " + " | ".join(x.strip()[:200] for x in r["log_tail"]))
        print(f"{r['n']}x{r['endpoints']} {r['proxy']}: " + "; ".join(extra))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="action", required=True)
    r = sub.add_parser("run")
    r.add_argument("--name", required=True)
    r.add_argument("--n", type=int, required=True)
    r.add_argument("--endpoints", type=int, required=True)
    r.add_argument("--kubeconfig", required=True)
    r.add_argument("--ns", default="bench")
    r.add_argument("--timeout", type=float, default=900)
    r.add_argument("--npl", type=int, default=0)
    r.add_argument("--npl-base", type=int, default=0)
    r.add_argument("--log", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--pidfile")
    r.add_argument("--warm", action="store_true", help="then restart it over the table it left")
    r.add_argument("--workload", choices=mkservices.WORKLOADS, default="plain")
    r.add_argument("--churn-rate", type=float, default=0)
    r.add_argument("--churn-secs", type=float, default=0)
    r.add_argument("--churn-prefix", default="10.250", help="the /16 the churned endpoints come from")
    r.add_argument("--conntrack", type=int, default=0)
    r.add_argument("command", nargs=argparse.REMAINDER)
    p = sub.add_parser("report")
    p.add_argument("file")
    a = ap.parse_args()
    if a.action == "run":
        a.cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
        if not a.cmd:
            ap.error("run: no proxy command after --")
        return run(a)
    return report(a)


if __name__ == "__main__":
    sys.exit(main())
