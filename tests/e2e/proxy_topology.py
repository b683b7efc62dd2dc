# SPDX-License-Identifier: Apache-2.0
"""Helpers for the kube-proxy tests: network namespaces, a control plane inside one, the
kube-proxy applet running there, and a small pod/client topology for real traffic.

Network safety: every address, route, veth, bridge and nftables table these helpers make
lives inside a network namespace they created (named kn-e2e-<pid>-...). Nothing is ever
configured in the root namespace: veths are created *inside* the node namespace with their
peer moved straight into the pod/client namespace. Processes are stopped by pid only.
"""
import ctypes
import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time

from conftest import CLUSTER_SH, KNODE

PREFIX = f"kn-e2e-{os.getpid()}"
SERVICE_CIDRS = "10.96.0.0/16,fd00:96::/112"
CLUSTER_CIDRS = "10.244.0.0/16,fd00:244::/64"
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


def sh(*args, check=True, timeout=60, input=None, env=None):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, input=input, env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr.strip()} {r.stdout.strip()}")
    return r


def wait_for(pred, timeout=10.0, interval=0.1, what="condition"):
    """Poll pred() until it returns something truthy; return that value."""
    deadline = time.time() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - reported below if it never succeeds
            last_exc = e
        if time.time() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                                 + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)


class Netns:
    """A named network namespace (ip netns) owned by the tests."""

    def __init__(self, name):
        assert name.startswith("kn-e2e-"), name
        self.name = name
        sh("ip", "netns", "add", name)
        self.ip("link", "set", "lo", "up")

    def ip(self, *args, check=True):
        return sh("ip", "-n", self.name, *args, check=check)

    def run(self, *cmd, check=True, timeout=60, input=None, env=None):
        return sh("ip", "netns", "exec", self.name, *cmd, check=check, timeout=timeout, input=input, env=env)

    def sysctl(self, key, value):
        self.run("sysctl", "-qw", f"{key}={value}")

    def call(self, fn, *args, timeout=120):
        """Run fn(*args) on a fresh thread that has joined this namespace (setns is
        per-thread), so sockets it opens live in the namespace. Returns fn's result."""
        box = {}

        def body():
            try:
                fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY | os.O_CLOEXEC)
                try:
                    if _libc.setns(fd, CLONE_NEWNET) != 0:
                        e = ctypes.get_errno()
                        raise OSError(e, f"setns({self.name}): {os.strerror(e)}")
                finally:
                    os.close(fd)
                box["v"] = fn(*args)
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller
                box["e"] = e

        t = threading.Thread(target=body, daemon=True, name=f"in-{self.name}")
        t.start()
        t.join(timeout)
        if t.is_alive():
            raise AssertionError(f"call in {self.name} did not finish within {timeout}s")
        if "e" in box:
            raise box["e"]
        return box.get("v")

    def delete(self):
        sh("ip", "netns", "delete", self.name, check=False)


# ------------------------------------------------------------------ control plane in a netns

class NodeCluster:
    """etcd + kube-apiserver (dual-stack service CIDRs) inside the "node" namespace, so a
    kube-proxy in that namespace reaches it on 127.0.0.1 there."""

    def __init__(self):
        self.ns = None
        self.dir = f"/tmp/{PREFIX}-cluster"
        self.env = dict(os.environ, KNODE_CLUSTER_DIR=self.dir, KNODE_SERVICE_CIDR=SERVICE_CIDRS,
                        KNODE_CLUSTER_FULL="0")
        for k in ("KNODE_APISERVER_PORT", "KNODE_ETCD_PORT", "KNODE_ETCD_PEER_PORT", "KNODE_APISERVER_EXTRA_ARGS"):
            self.env.pop(k, None)

    def kubeconfig(self):
        return os.path.join(self.dir, "admin.kubeconfig")

    def _cluster(self, *args, timeout=300, check=True):
        return self.ns.run("bash", CLUSTER_SH, *args, env=self.env, timeout=timeout, check=check)

    def up(self):
        sh("bash", CLUSTER_SH, "build", env=self.env, timeout=1200)
        self.ns = Netns(f"{PREFIX}-node")
        self._cluster("up")

    def down(self):
        if self.ns:
            self._cluster("down", "--purge", check=False)
            self.ns.delete()
            self.ns = None

    def kubectl(self, *args, input=None, check=True, timeout=60):
        r = self.ns.run("bash", CLUSTER_SH, "kubectl", *args, env=self.env, input=input, check=False,
                        timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {r.stderr.strip()}")
        return r

    def apply(self, objs):
        """objs: a YAML/JSON string or a list of dicts."""
        text = objs if isinstance(objs, str) else json.dumps({"apiVersion": "v1", "kind": "List", "items": objs})
        return self.kubectl("apply", "-f", "-", input=text).stdout

    def stop_apiserver(self):
        self._cluster("stop-apiserver")

    def start_apiserver(self):
        self._cluster("start-apiserver")

    def ensure_node(self, name, addresses):
        """A Node object with status.addresses InternalIP = addresses (kube-proxy's node IPs)."""
        self.apply([{"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}])
        patch = {"status": {"addresses": [{"type": "InternalIP", "address": a} for a in addresses]}}
        self.kubectl("patch", "node", name, "--subresource=status", "--type=merge", "-p", json.dumps(patch))

    def ensure_namespace(self, name):
        self.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}])

    def clear_namespace(self, ns):
        # No namespace controller runs (no kube-controller-manager): delete the objects, keep the namespace.
        self.kubectl("-n", ns, "delete", "services,endpointslices.discovery.k8s.io", "--all", "--wait=true",
                     "--ignore-not-found")


# ------------------------------------------------------------------ kube-proxy

class ProxyProc:
    """`knode kube-proxy` inside a namespace; its (stderr) log lines are collected."""

    def __init__(self, ns, kubeconfig, hostname, extra=(), cluster_cidr=CLUSTER_CIDRS, v=2):
        self.ns = ns
        self.args = ["ip", "netns", "exec", ns.name, KNODE, "kube-proxy", f"--kubeconfig={kubeconfig}",
                     f"--hostname-override={hostname}", f"--cluster-cidr={cluster_cidr}", f"-v={v}", *extra]
        # ip netns exec execs the command: the pid is knode's own
        self.p = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  start_new_session=True)
        self.lines = []
        self._lock = threading.Lock()
        self._cv = threading.Condition(self._lock)
        for f in (self.p.stdout, self.p.stderr):
            threading.Thread(target=self._pump, args=(f,), daemon=True).start()

    def _pump(self, f):
        for line in f:
            with self._cv:
                self.lines.append(line.rstrip("\n"))
                self._cv.notify_all()

    def mark(self):
        with self._lock:
            return len(self.lines)

    def wait_log(self, needle, since=0, timeout=20):
        deadline = time.time() + timeout
        with self._cv:
            while True:
                for line in self.lines[since:]:
                    if needle in line:
                        return line
                if self.p.poll() is not None:
                    raise AssertionError(f"kube-proxy exited ({self.p.returncode}) before {needle!r}:\n"
                                         + "\n".join(self.lines[-30:]))
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(f"no log line with {needle!r} within {timeout}s:\n"
                                         + "\n".join(self.lines[-30:]))
                self._cv.wait(min(left, 0.2))

    def has_log(self, needle, since=0):
        with self._lock:
            return any(needle in l for l in self.lines[since:])

    def log_tail(self, n=40):
        with self._lock:
            return "\n".join(self.lines[-n:])

    def wait_synced(self, since=0, timeout=30):
        self.wait_log("synced IPv4 rules", since, timeout)
        self.wait_log("synced IPv6 rules", since, timeout)

    def alive(self):
        return self.p.poll() is None

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()

    def stop(self, timeout=10):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


def nft_dump(ns, family):
    r = ns.run("nft", "list", "table", family, "kube-proxy", check=False)
    if r.returncode != 0:
        return None
    return r.stdout


def nft_dumps(ns):
    return nft_dump(ns, "ip"), nft_dump(ns, "ip6")


def wait_table_stable(ns, proxy, since=0, quiet=1.2, timeout=30, ready=None):
    """Wait for the first IPv4+IPv6 syncs and ready((ip, ip6)) if given, then until neither
    the tables nor the log (no further "synced" line) changed for `quiet` seconds.
    Returns the (ip, ip6) dumps."""
    proxy.wait_synced(since, timeout)
    deadline = time.time() + timeout
    last, last_change, nlines = nft_dumps(ns), time.time(), proxy.mark()
    while time.time() < deadline:
        time.sleep(0.1)
        cur = nft_dumps(ns)
        n = proxy.mark()
        synced_again = any("synced IP" in l for l in proxy.lines[nlines:n])
        nlines = n
        if cur != last or synced_again or (ready and not ready(cur)):
            last, last_change = cur, time.time()
        elif time.time() - last_change >= quiet:
            return cur
    raise AssertionError(f"nftables tables did not settle:\n{proxy.log_tail()}")


def canonical(dump):
    """An order-insensitive form of `nft list table` output: {(kind, name): body} where a
    set/map body is its header lines plus its sorted elements (running "expires" times
    dropped) and a chain body is its lines in order. Chain and set order (creation order)
    and element order (hash order) do not matter to the kernel's behaviour."""
    if not dump:
        return None
    out = {}
    cur, lines = None, []
    for raw in dump.splitlines():
        line = raw.strip()
        m = re.match(r"^(set|map|chain) (\S+) \{$", line)
        if m and raw.startswith("\t") and not raw.startswith("\t\t"):
            cur, lines = (m.group(1), m.group(2)), []
            continue
        if cur and line == "}" and raw.startswith("\t") and not raw.startswith("\t\t"):
            if cur[0] == "chain":
                out[cur] = tuple(lines)
            else:
                i = next((n for n, l in enumerate(lines) if l.startswith("elements = {")), len(lines))
                el = re.search(r"elements = \{(.*)\}", " ".join(lines[i:]))
                elems = sorted(re.sub(r" expires [0-9dhms]+", "", e).strip()
                               for e in el.group(1).split(",")) if el else []
                out[cur] = (tuple(lines[:i]), tuple(elems))
            cur = None
            continue
        if cur:
            lines.append(line)
        elif line.startswith("comment"):
            out[("table", "comment")] = line
    return out


def canonical_diff(a, b):
    """Human-readable differences between two canonical() forms."""
    if a is None or b is None:
        return [f"table missing: {a is None} / {b is None}"]
    out = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            out.append(f"{k[0]} {k[1]}:\n  expected {b.get(k)}\n  actual   {a.get(k)}")
    return out


# ------------------------------------------------------------------ traffic topology

POD_SERVER = r'''
import os, socket, sys, threading
name = sys.argv[1]
def tcp(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port)); s.listen(512)
    while True:
        c, a = s.accept()
        try:
            peer = a[0][7:] if a[0].startswith("::ffff:") else a[0]
            c.sendall(f"{name} {peer}\n".encode())
        except OSError:
            pass
        finally:
            c.close()
def udp(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    while True:
        d, a = s.recvfrom(2048)
        peer = a[0][7:] if a[0].startswith("::ffff:") else a[0]
        s.sendto(f"{name} {peer} ".encode() + d, a)
for port in (8080, 8081):
    threading.Thread(target=tcp, args=(port,), daemon=True).start()
threading.Thread(target=udp, args=(5353,), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
'''


class Pod:
    def __init__(self, name, ns, ip4, ip6):
        self.name, self.ns, self.ip4, self.ip6 = name, ns, ip4, ip6
        self.server = None

    def start_server(self):
        self.server = subprocess.Popen(["ip", "netns", "exec", self.ns.name, "python3", "-u", "-c", POD_SERVER,
                                        self.name], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                       start_new_session=True)
        line = self.server.stdout.readline()
        assert line.strip() == "ready", f"pod server {self.name} did not start: {line!r}"

    def stop_server(self):
        if self.server and self.server.poll() is None:
            self.server.kill()
            self.server.wait()


class Topology:
    """node netns (control plane, kube-proxy, bridge kn-br0 10.244.0.1/24 + fd00:244::1/64),
    pod netns attached to the bridge, and a client netns on 192.168.77.0/24 + fd00:77::/64
    routing the service CIDRs and 203.0.113.0/24 (external/LB IPs) via the node."""

    NODE_IP4, NODE_IP6 = "192.168.77.1", "fd00:77::1"
    CLIENT_IP4, CLIENT_IP6 = "192.168.77.2", "fd00:77::2"
    EXT_NET = "203.0.113.0/24"

    def __init__(self, node_ns, n_pods=3):
        self.node = node_ns
        self.pods = []
        self.client = None
        self._n_pods = n_pods

    def build(self):
        n = self.node
        for k, v in (("net.ipv4.ip_forward", 1), ("net.ipv6.conf.all.forwarding", 1),
                     ("net.ipv6.conf.default.accept_dad", 0), ("net.ipv6.conf.all.accept_dad", 0)):
            n.sysctl(k, v)
        for k in ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"):
            if os.path.exists("/proc/sys/" + k.replace(".", "/")):  # br_netfilter, as on a real node
                n.sysctl(k, 1)
        n.ip("link", "add", "kn-br0", "type", "bridge")
        n.ip("addr", "add", "10.244.0.1/24", "dev", "kn-br0")
        n.ip("addr", "add", "fd00:244::1/64", "dev", "kn-br0", "nodad")
        n.ip("link", "set", "kn-br0", "up")
        # rejects are ICMP errors: the kernel's per-host ICMP rate limit (6 back to back, then
        # 1/s) would turn the tests' repeated rejections into timeouts
        n.sysctl("net.ipv4.icmp_ratelimit", 0)
        n.sysctl("net.ipv6.icmp.ratelimit", 0)
        n.sysctl("net.ipv4.conf.all.send_redirects", 0)
        n.sysctl("net.ipv4.conf.default.send_redirects", 0)
        for i in range(1, self._n_pods + 1):
            pns = Netns(f"{PREFIX}-pod{i}")
            self.pods.append(Pod(f"pod{i}", pns, f"10.244.0.1{i}", f"fd00:244::1{i}"))
            pns.sysctl("net.ipv6.conf.all.accept_dad", 0)
            pns.sysctl("net.ipv6.conf.default.accept_dad", 0)
            n.ip("link", "add", f"kn-vp{i}", "type", "veth", "peer", "name", "eth0", "netns", pns.name)
            n.ip("link", "set", f"kn-vp{i}", "master", "kn-br0", "up")
            # as the CNI bridge plugin does: with br_netfilter a pod reaching itself through a
            # service is DNATed back to the port it came from, which needs hairpin mode
            n.ip("link", "set", f"kn-vp{i}", "type", "bridge_slave", "hairpin", "on")
            pns.ip("addr", "add", f"10.244.0.1{i}/24", "dev", "eth0")
            pns.ip("addr", "add", f"fd00:244::1{i}/64", "dev", "eth0", "nodad")
            pns.ip("link", "set", "eth0", "up")
            pns.ip("route", "add", "default", "via", "10.244.0.1")
            pns.ip("-6", "route", "add", "default", "via", "fd00:244::1")
        self.client = Netns(f"{PREFIX}-cli")
        c = self.client
        c.sysctl("net.ipv6.conf.all.accept_dad", 0)
        c.sysctl("net.ipv6.conf.default.accept_dad", 0)
        n.ip("link", "add", "kn-vc0", "type", "veth", "peer", "name", "eth0", "netns", c.name)
        n.ip("addr", "add", f"{self.NODE_IP4}/24", "dev", "kn-vc0")
        n.ip("addr", "add", f"{self.NODE_IP6}/64", "dev", "kn-vc0", "nodad")
        n.ip("link", "set", "kn-vc0", "up")
        c.ip("addr", "add", f"{self.CLIENT_IP4}/24", "dev", "eth0")
        c.ip("addr", "add", f"{self.CLIENT_IP6}/64", "dev", "eth0", "nodad")
        c.ip("link", "set", "eth0", "up")
        c.ip("route", "add", "10.96.0.0/16", "via", self.NODE_IP4)
        c.ip("route", "add", self.EXT_NET, "via", self.NODE_IP4)
        c.ip("-6", "route", "add", "fd00:96::/112", "via", self.NODE_IP6)
        c.sysctl("net.ipv4.ip_forward", 0)
        c.sysctl("net.ipv6.conf.all.forwarding", 0)
        # The node's default route (its "uplink") is the client network, as on a real node;
        # the client does not forward, so service traffic that is not DNATed dies there.
        # The node's own connections to service IPs need some route before DNAT happens.
        n.ip("route", "add", "default", "via", self.CLIENT_IP4)
        n.ip("-6", "route", "add", "default", "via", self.CLIENT_IP6)
        for p in self.pods:
            p.start_server()
        # wait until the node reaches every pod directly (neighbour resolution, links up)
        for p in self.pods:
            wait_for(lambda p=p: tcp_get(self.node, p.ip4, 8080, timeout=1).startswith(p.name), 10,
                     what=f"{p.name} reachable")

    def destroy(self):
        for p in self.pods:
            p.stop_server()
        for p in self.pods:
            p.ns.delete()
        if self.client:
            self.client.delete()
        if self.node:
            for dev in ("kn-vc0", "kn-br0") + tuple(f"kn-vp{i}" for i in range(1, self._n_pods + 1)):
                self.node.ip("link", "del", dev, check=False)


# ------------------------------------------------------------------ traffic helpers (run inside a netns)

def _family(ip):
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def _tcp_get(ip, port, timeout):
    with socket.socket(_family(ip), socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((ip, port))
        data = b""
        while True:
            b = s.recv(256)
            if not b:
                break
            data += b
        return data.decode()


def tcp_get(ns, ip, port, timeout=2.0):
    """Connect from inside ns, return what the server says ("podN <peer-ip>")."""
    return ns.call(_tcp_get, ip, port, timeout)


def _tcp_many(ip, port, n, timeout):
    out = []
    for _ in range(n):
        try:
            out.append(_tcp_get(ip, port, timeout))
        except OSError as e:
            out.append(e)
    return out


def tcp_many(ns, ip, port, n, timeout=2.0):
    """n sequential connections; a list of answers or exceptions."""
    return ns.call(_tcp_many, ip, port, n, timeout)


def _tcp_try(ip, port, timeout):
    t0 = time.time()
    try:
        return _tcp_get(ip, port, timeout), time.time() - t0
    except OSError as e:
        return e, time.time() - t0


def tcp_try(ns, ip, port, timeout=3.0):
    """(answer or exception, seconds taken)."""
    return ns.call(_tcp_try, ip, port, timeout)


def _udp_ask(ip, port, timeout, tries):
    with socket.socket(_family(ip), socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        for _ in range(tries):
            s.sendto(b"ping", (ip, port))
            try:
                return s.recvfrom(2048)[0].decode()
            except socket.timeout:
                continue
        raise TimeoutError(f"no UDP answer from {ip}:{port}")


def udp_ask(ns, ip, port, timeout=0.5, tries=4):
    return ns.call(_udp_ask, ip, port, timeout, tries)


def _http_get(host, port, path, timeout):
    import http.client
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        c.close()


def http_get(ns, host, port, path="/", timeout=3.0):
    return ns.call(_http_get, host, port, path, timeout)


def pod_names(answers):
    return [a.split()[0] for a in answers if isinstance(a, str) and a]


class UdpStreamer:
    """Keeps sending datagrams from one socket (one conntrack flow) inside a namespace and
    records who answered, in order."""

    def __init__(self, ns, ip, port, interval=0.05):
        self.ns, self.ip, self.port, self.interval = ns, ip, port, interval
        self.answers = queue.Queue()
        self.stop_ev = threading.Event()
        self.started = threading.Event()
        self.thread = threading.Thread(target=lambda: ns.call(self._run, timeout=3600), daemon=True)

    def _run(self):
        with socket.socket(_family(self.ip), socket.SOCK_DGRAM) as s:
            s.settimeout(self.interval)
            s.connect((self.ip, self.port))
            self.started.set()
            while not self.stop_ev.is_set():
                try:
                    s.send(b"x")
                    self.answers.put((time.time(), s.recv(2048).decode().split()[0]))
                except socket.timeout:
                    pass
                except OSError as e:  # ICMP errors (e.g. refused) surface here
                    self.answers.put((time.time(), e))
                    time.sleep(self.interval)

    def start(self):
        self.thread.start()
        self.started.wait(5)
        return self

    def stop(self):
        self.stop_ev.set()
        self.thread.join(10)

    def wait_answer_from(self, name, timeout):
        deadline = time.time() + timeout
        seen = []
        while time.time() < deadline:
            try:
                t, who = self.answers.get(timeout=0.2)
            except queue.Empty:
                continue
            seen.append(who)
            if who == name:
                return seen
        raise AssertionError(f"no UDP answer from {name} within {timeout}s; last answers {seen[-10:]}")


class TcpHammer:
    """Opens TCP connections back to back from a namespace and counts failures."""

    def __init__(self, ns, ip, port, timeout=2.0):
        self.ns, self.ip, self.port, self.timeout = ns, ip, port, timeout
        self.ok = 0
        self.failures = []
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=lambda: ns.call(self._run, timeout=3600), daemon=True)

    def _run(self):
        while not self.stop_ev.is_set():
            try:
                a = _tcp_get(self.ip, self.port, self.timeout)
                if a.split()[0].startswith("pod"):
                    self.ok += 1
                else:
                    self.failures.append((time.time(), a))
            except OSError as e:
                self.failures.append((time.time(), e))
            time.sleep(0.01)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_ev.set()
        self.thread.join(10)
