# SPDX-License-Identifier: Apache-2.0
"""knode kube-proxy with real traffic.

Topology (all inside network namespaces made by proxy_topology.py, nothing in the root
namespace):
  node   : control plane + knode kube-proxy; bridge kn-br0 10.244.0.1/24, fd00:244::1/64;
           kn-vc0 192.168.77.1/24, fd00:77::1/64 towards the client; forwarding on
  pod1-3 : 10.244.0.1N / fd00:244::1N on the bridge; TCP 8080+8081 answer "podN <peer-ip>",
           UDP 5353 answers "podN <peer-ip> <payload>". pod1 and pod2 are "on" this node
           (nodeName kn-e2e-node), pod3 on another node (nodeName kn-e2e-other)
  client : 192.168.77.2, fd00:77::2; routes 10.96.0.0/16, fd00:96::/112 and 203.0.113.0/24
           via the node, and is the node's default route (it does not forward)
The node runs with br_netfilter on and hairpin mode on the pod ports (as the CNI bridge
plugin sets up), ICMP rate limits and redirects off (see proxy_topology.Topology).
Services are selector-less with hand-made EndpointSlices, so the tests decide the
endpoints exactly. Tests run in file order; the disruptive ones (apiserver and proxy
restarts, --cleanup) come last.
"""
import json
import re
import time

import pytest

from conftest import KNODE
from proxy_topology import (ProxyProc, TcpHammer, Topology, UdpStreamer, http_get, nft_dump, pod_names, tcp_get,
                            tcp_many, tcp_try, udp_ask, wait_for)

NS = "kn-e2e"
NODE = "kn-e2e-node"
OTHER = "kn-e2e-other"
LOCAL_PODS = {"pod1", "pod2"}
HTTP = [{"name": "http", "port": 80, "protocol": "TCP"}]
HTTP_EP = [{"name": "http", "port": 8080, "protocol": "TCP"}]


class Env:
    def __init__(self, cp, topo):
        self.cp, self.topo = cp, topo
        self.node, self.client = topo.node, topo.client
        self.proxy = None
        self.proxies = []

    def pod(self, n):
        return self.topo.pods[n - 1]

    def start_proxy(self, *extra):
        self.proxy = ProxyProc(self.cp.ns, self.cp.kubeconfig(), NODE, extra=extra)
        self.proxies.append(self.proxy)
        self.proxy.wait_synced(timeout=30)
        return self.proxy

    # ---- objects

    @staticmethod
    def svc_obj(name, cip, ports=None, labels=None, **spec):
        md = {"name": name, "namespace": NS}
        if labels:
            md["labels"] = labels
        s = {"clusterIP": cip, "ports": ports or HTTP}
        s.update(spec)
        return {"apiVersion": "v1", "kind": "Service", "metadata": md, "spec": s}

    @staticmethod
    def slice_obj(svc, pods, ports=None, family="IPv4", name=None, conditions=None, annotations=None):
        eps = []
        for p in pods:
            eps.append({"addresses": [p.ip4 if family == "IPv4" else p.ip6],
                        "conditions": conditions or {"ready": True},
                        "nodeName": NODE if p.name in LOCAL_PODS else OTHER})
        md = {"name": name or f"{svc}-{family.lower()}", "namespace": NS,
              "labels": {"kubernetes.io/service-name": svc}}
        if annotations:
            md["annotations"] = annotations
        return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": md,
                "addressType": family, "ports": ports or HTTP_EP, "endpoints": eps}

    def apply(self, *objs):
        self.cp.apply(list(objs))

    def get(self, kind, name):
        return json.loads(self.cp.kubectl("-n", NS, "get", kind, name, "-o", "json").stdout)

    def delete(self, kind, *names):
        self.cp.kubectl("-n", NS, "delete", kind, *names, "--ignore-not-found")

    # ---- traffic

    def wait_answers(self, ns, ip, port, want, n=20, timeout=15):
        """Poll until n connections are all answered and the set of answering pods == want."""
        def ok():
            got = tcp_many(ns, ip, port, n, timeout=1)
            names = pod_names(got)
            return len(names) == n and set(names) == set(want) and got
        return wait_for(ok, timeout, interval=0.2, what=f"{ip}:{port} answered by exactly {sorted(want)}")


@pytest.fixture(scope="module")
def env(proxy_cluster):
    cp = proxy_cluster
    topo = Topology(cp.ns)
    e = None
    try:
        topo.build()
        cp.ensure_node(NODE, [Topology.NODE_IP4, Topology.NODE_IP6])
        cp.ensure_namespace(NS)
        cp.clear_namespace(NS)
        e = Env(cp, topo)
        e.start_proxy()
        yield e
    finally:
        if e and e.proxy:
            e.proxy.stop()
        if e:  # visible with -s: what the proxies complained about
            for i, p in enumerate(e.proxies):
                for line in p.lines:
                    if line[:1] in "EWF":
                        print(f"proxy#{i}: {line}")
        try:
            cp.clear_namespace(NS)
        finally:
            topo.destroy()
            for fam in ("ip", "ip6"):
                cp.ns.run("nft", "delete", "table", fam, "kube-proxy", check=False)


def refused(res):
    return isinstance(res, ConnectionRefusedError)


# ------------------------------------------------------------------ ClusterIP

def test_clusterip_from_node_pod_client_and_hairpin(env):
    env.apply(env.svc_obj("web", "10.96.100.1"), env.slice_obj("web", [env.pod(1), env.pod(2)]),
              env.svc_obj("hairpin", "10.96.100.2"), env.slice_obj("hairpin", [env.pod(1)]))
    env.wait_answers(env.node, "10.96.100.1", 80, {"pod1", "pod2"})
    # from a pod (inside the cluster CIDR: not masqueraded, the endpoint sees the pod's IP)
    a = tcp_get(env.pod(3).ns, "10.96.100.1", 80).split()
    assert a[0] in ("pod1", "pod2") and a[1] == env.pod(3).ip4, a
    # from outside the cluster CIDR: masqueraded to the node's address on the bridge
    a = tcp_get(env.client, "10.96.100.1", 80).split()
    assert a[0] in ("pod1", "pod2") and a[1] == "10.244.0.1", a
    # hairpin: pod1 -> service -> pod1 only works if the connection is masqueraded
    wait_for(lambda: tcp_get(env.pod(1).ns, "10.96.100.2", 80, timeout=1).split() == ["pod1", "10.244.0.1"], 10,
             what="hairpin answer from pod1 via the node")
    # a port the ClusterIP does not serve is rejected at once (cluster-ips-check)
    res, secs = tcp_try(env.pod(3).ns, "10.96.100.1", 81)
    assert refused(res) and secs < 1, (res, secs)


def test_load_spreads_over_endpoints(env):
    env.apply(env.svc_obj("spread", "10.96.100.3"),
              env.slice_obj("spread", [env.pod(1), env.pod(2), env.pod(3)]))
    env.wait_answers(env.node, "10.96.100.3", 80, {"pod1", "pod2", "pod3"}, n=60)
    env.apply(env.slice_obj("spread", [env.pod(1), env.pod(2)]))
    got = env.wait_answers(env.node, "10.96.100.3", 80, {"pod1", "pod2"}, n=40)
    names = pod_names(got)
    assert min(names.count("pod1"), names.count("pod2")) >= 5, names


def test_ipv6_clusterip(env):
    env.apply(env.svc_obj("web6", "10.96.100.6", ipFamilyPolicy="RequireDualStack", ipFamilies=["IPv4", "IPv6"],
                          clusterIPs=["10.96.100.6", "fd00:96::6"]),
              env.slice_obj("web6", [env.pod(1), env.pod(2)], family="IPv6"),
              env.slice_obj("web6", [env.pod(3)], family="IPv4"))
    env.wait_answers(env.node, "fd00:96::6", 80, {"pod1", "pod2"})
    env.wait_answers(env.node, "10.96.100.6", 80, {"pod3"}, n=5)  # each family has its own endpoints
    a = tcp_get(env.pod(3).ns, "fd00:96::6", 80).split()
    assert a[0] in ("pod1", "pod2") and a[1] == env.pod(3).ip6, a
    a = tcp_get(env.client, "fd00:96::6", 80).split()
    assert a[0] in ("pod1", "pod2") and a[1] == "fd00:244::1", a  # masqueraded


def test_udp_clusterip(env):
    env.apply(env.svc_obj("dns", "10.96.100.53", ports=[{"name": "dns", "port": 53, "protocol": "UDP"}]),
              env.slice_obj("dns", [env.pod(2)], ports=[{"name": "dns", "port": 5353, "protocol": "UDP"}]))
    ans = wait_for(lambda: udp_ask(env.node, "10.96.100.53", 53), 10, what="UDP answer")
    assert ans.split()[0] == "pod2", ans


# ------------------------------------------------------------------ no endpoints

def test_service_without_endpoints_is_rejected_at_once(env):
    env.apply(env.svc_obj("empty", "10.96.100.4", ports=HTTP + [{"name": "dns", "port": 53, "protocol": "UDP"}]),
              env.svc_obj("np-empty", "10.96.100.5", type="NodePort",
                          ports=[{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30405}]))
    wait_for(lambda: refused(tcp_try(env.node, "10.96.100.4", 80)[0]), 10, what="connection refused")
    for ns in (env.node, env.pod(1).ns, env.client):
        res, secs = tcp_try(ns, "10.96.100.4", 80)
        assert refused(res) and secs < 1.0, (ns.name, res, secs)
    res, secs = tcp_try(env.client, Topology.NODE_IP4, 30405)
    assert refused(res) and secs < 1.0, (res, secs)
    # UDP from a pod: the ICMP port-unreachable surfaces as ECONNREFUSED on a connected
    # socket (from the node itself the rejected send() fails with EPERM instead)
    with pytest.raises(ConnectionRefusedError):
        env.pod(2).ns.call(_udp_connected_ask, "10.96.100.4", 53)


def _udp_connected_ask(ip, port):
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1)
        s.connect((ip, port))
        s.send(b"x")
        s.recv(100)


# ------------------------------------------------------------------ NodePort, externalIPs, LoadBalancer

def test_nodeport_from_client(env):
    env.apply(env.svc_obj("np", "10.96.101.1", type="NodePort",
                          ports=[{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30501}]),
              env.slice_obj("np", [env.pod(1), env.pod(3)]))
    got = env.wait_answers(env.client, Topology.NODE_IP4, 30501, {"pod1", "pod3"})
    assert all(a.split()[1] == "10.244.0.1" for a in got), got  # eTP=Cluster masquerades
    # IPv6 NodePort of a dual-stack service
    env.apply(env.svc_obj("np6", "10.96.101.6", type="NodePort", ipFamilyPolicy="RequireDualStack",
                          ipFamilies=["IPv4", "IPv6"], clusterIPs=["10.96.101.6", "fd00:96::1016"],
                          ports=[{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30506}]),
              env.slice_obj("np6", [env.pod(2)], family="IPv6"), env.slice_obj("np6", [env.pod(1)]))
    got = env.wait_answers(env.client, Topology.NODE_IP6, 30506, {"pod2"}, n=5)
    assert all(a.split()[1] == "fd00:244::1" for a in got), got
    env.wait_answers(env.client, Topology.NODE_IP4, 30506, {"pod1"}, n=5)


def test_external_ip_from_client(env):
    env.apply(env.svc_obj("ext", "10.96.101.2", externalIPs=["203.0.113.10"]),
              env.slice_obj("ext", [env.pod(2)]))
    env.wait_answers(env.client, "203.0.113.10", 80, {"pod2"}, n=5)


def test_loadbalancer_ip_and_source_ranges(env):
    env.apply(env.svc_obj("lb", "10.96.101.3", type="LoadBalancer", loadBalancerSourceRanges=["192.168.77.0/24"],
                          ports=[{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30503}]),
              env.slice_obj("lb", [env.pod(1)]))
    env.cp.kubectl("-n", NS, "patch", "service", "lb", "--subresource=status", "--type=merge", "-p",
                   json.dumps({"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.20"}]}}}))
    env.wait_answers(env.client, "203.0.113.20", 80, {"pod1"}, n=5)
    # a source range that excludes the client: its packets to the LB IP are dropped (a timeout, not a refusal)
    env.apply(env.svc_obj("lb", "10.96.101.3", type="LoadBalancer", loadBalancerSourceRanges=["198.51.100.0/24"],
                          ports=[{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30503}]))

    def dropped():
        res, _ = tcp_try(env.client, "203.0.113.20", 80, timeout=0.7)
        return isinstance(res, TimeoutError)
    wait_for(dropped, 10, interval=0.1, what="LB IP dropped for a source outside loadBalancerSourceRanges")
    # NodePorts bypass source ranges
    env.wait_answers(env.client, Topology.NODE_IP4, 30503, {"pod1"}, n=3)


def test_session_affinity_client_ip(env):
    env.apply(env.svc_obj("sticky", "10.96.101.4", sessionAffinity="ClientIP",
                          sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}}),
              env.slice_obj("sticky", [env.pod(1), env.pod(2), env.pod(3)]))
    wait_for(lambda: pod_names([tcp_get(env.client, "10.96.101.4", 80, timeout=1)]), 10, what="sticky service up")
    # The in-cluster client is a pod on this node (pod1): if affinity picks pod1 itself, the
    # connection hairpins through @hairpin-connections, which (as upstream) holds only local
    # endpoints. pod3 is declared on another node, whose own proxy would serve its traffic;
    # here its hairpin to itself would fail one run in three.
    for ns in (env.client, env.pod(1).ns):
        names = pod_names(tcp_many(ns, "10.96.101.4", 80, 30))
        assert len(names) == 30 and len(set(names)) == 1, names


# ------------------------------------------------------------------ traffic policies

def test_external_traffic_policy_local(env):
    port = {"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30601}
    env.apply(env.svc_obj("etp", "10.96.102.1", type="LoadBalancer", externalTrafficPolicy="Local", ports=[port]),
              env.slice_obj("etp", [env.pod(1), env.pod(3)]))
    hc = env.get("service", "etp")["spec"]["healthCheckNodePort"]
    assert hc
    # only the local endpoint answers via the NodePort, and the client's address is kept
    got = env.wait_answers(env.client, Topology.NODE_IP4, 30601, {"pod1"})
    assert all(a.split()[1] == Topology.CLIENT_IP4 for a in got), got
    # the ClusterIP still uses every endpoint
    env.wait_answers(env.node, "10.96.102.1", 80, {"pod1", "pod3"}, n=30)
    # traffic from pods and from the node itself to the NodePort is short-circuited to all endpoints
    env.wait_answers(env.pod(2).ns, Topology.NODE_IP4, 30601, {"pod1", "pod3"}, n=30)
    env.wait_answers(env.node, Topology.NODE_IP4, 30601, {"pod1", "pod3"}, n=30)

    def hc_status(code, n):
        st, hdrs, body = http_get(env.node, "127.0.0.1", hc, "/")
        b = json.loads(body)
        return st == code and b["localEndpoints"] == n and (b, hdrs)
    b, hdrs = wait_for(lambda: hc_status(200, 1), 10, what="health check 200")
    assert b["service"] == {"namespace": NS, "name": "etp"}
    assert hdrs.get("X-Load-Balancing-Endpoint-Weight") == "1"
    # the node has IPv6: load balancers probe the health check over both families
    for host in (Topology.NODE_IP4, Topology.NODE_IP6):
        st, _, body = http_get(env.client, host, hc, "/")
        assert st == 200 and json.loads(body)["localEndpoints"] == 1, (host, st, body)
    # no local endpoint left: health check 503, NodePort traffic dropped, ClusterIP fine
    env.apply(env.slice_obj("etp", [env.pod(3)]))
    wait_for(lambda: hc_status(503, 0), 10, what="health check 503")

    def np_dropped():
        res, _ = tcp_try(env.client, Topology.NODE_IP4, 30601, timeout=0.7)
        return isinstance(res, TimeoutError)
    wait_for(np_dropped, 10, interval=0.1, what="NodePort dropped without local endpoints")
    env.wait_answers(env.node, "10.96.102.1", 80, {"pod3"}, n=5)
    # pods still reach it through the NodePort: DNATed (short-circuit) before the drop check
    env.wait_answers(env.pod(2).ns, Topology.NODE_IP4, 30601, {"pod3"}, n=5)
    # the health check server goes away with the service
    env.delete("services", "etp")

    def hc_closed():
        try:
            http_get(env.node, "127.0.0.1", hc, "/", timeout=1)
            return False
        except ConnectionRefusedError:
            return True
    wait_for(hc_closed, 10, what="health check port closed after the service was deleted")


def test_internal_traffic_policy_local(env):
    env.apply(env.svc_obj("itp", "10.96.102.2", internalTrafficPolicy="Local"),
              env.slice_obj("itp", [env.pod(2), env.pod(3)]))
    env.wait_answers(env.pod(1).ns, "10.96.102.2", 80, {"pod2"}, n=20)


# ------------------------------------------------------------------ endpoint changes

def test_scale_up_and_down(env):
    env.apply(env.svc_obj("scale", "10.96.103.1"), env.slice_obj("scale", [env.pod(1)]))
    env.wait_answers(env.node, "10.96.103.1", 80, {"pod1"}, n=5)
    t0 = time.time()
    env.apply(env.slice_obj("scale", [env.pod(1), env.pod(2), env.pod(3)]))
    env.wait_answers(env.node, "10.96.103.1", 80, {"pod1", "pod2", "pod3"}, n=60, timeout=5)
    up = time.time() - t0
    t0 = time.time()
    env.apply(env.slice_obj("scale", [env.pod(2)]))
    env.wait_answers(env.node, "10.96.103.1", 80, {"pod2"}, n=10, timeout=5)
    down = time.time() - t0
    print(f"\nscale up seen after {up:.2f}s, scale down after {down:.2f}s")
    # the endpoint becomes not ready: the service now has no endpoints and rejects
    env.apply(env.slice_obj("scale", [env.pod(2)], conditions={"ready": False, "serving": False}))
    wait_for(lambda: refused(tcp_try(env.node, "10.96.103.1", 80)[0]), 5, what="rejected once not ready")
    # terminating but still serving endpoints are used when nothing is ready
    env.apply(env.slice_obj("scale", [env.pod(3)], conditions={"ready": False, "serving": True,
                                                                "terminating": True}))
    env.wait_answers(env.node, "10.96.103.1", 80, {"pod3"}, n=5, timeout=5)


def test_udp_flow_follows_replaced_endpoint(env):
    """A UDP client that keeps sending over one socket (one conntrack entry) must reach the
    new endpoint after its endpoint is replaced: the proxy deletes the stale flow."""
    udp = [{"name": "dns", "port": 53, "protocol": "UDP"}]
    udp_ep = [{"name": "dns", "port": 5353, "protocol": "UDP"}]
    env.apply(env.svc_obj("udpflow", "10.96.103.53", ports=udp), env.slice_obj("udpflow", [env.pod(1)], ports=udp_ep))
    wait_for(lambda: udp_ask(env.client, "10.96.103.53", 53).startswith("pod1"), 10, what="UDP via pod1")
    s = UdpStreamer(env.client, "10.96.103.53", 53).start()
    try:
        s.wait_answer_from("pod1", 5)
        mark = env.proxy.mark()
        env.apply(env.slice_obj("udpflow", [env.pod(2)], ports=udp_ep))  # pod1's server still answers
        s.wait_answer_from("pod2", 8)
    finally:
        s.stop()
    # the proxy logs the sync (with the count of deleted flows) after the flows are gone
    wait_for(lambda: re.search(r"synced IPv4 rules.* [1-9]\d* stale UDP flows cleared", "\n".join(env.proxy.lines[mark:])),
             5, what="a sync that cleared stale UDP flows")
    # and a flow that started while the service had no endpoints recovers once it has one
    env.apply(env.svc_obj("udplate", "10.96.103.54", ports=udp))
    s = UdpStreamer(env.client, "10.96.103.54", 53).start()
    try:
        time.sleep(1.5)  # rejected meanwhile (ICMP unreachable), the conntrack entry exists
        env.apply(env.slice_obj("udplate", [env.pod(3)], ports=udp_ep))
        s.wait_answer_from("pod3", 8)
    finally:
        s.stop()


def test_udp_flow_leaves_endpoint_that_stops_serving(env):
    """An endpoint that stops serving but stays in its slice (its pod still answers)
    loses its UDP flows: the client moves to the serving endpoint."""
    udp = [{"name": "dns", "port": 53, "protocol": "UDP"}]
    udp_ep = [{"name": "dns", "port": 5353, "protocol": "UDP"}]
    env.apply(env.svc_obj("udpserve", "10.96.103.55", ports=udp),
              env.slice_obj("udpserve", [env.pod(1)], ports=udp_ep))
    wait_for(lambda: udp_ask(env.client, "10.96.103.55", 53).startswith("pod1"), 10, what="UDP via pod1")
    s = UdpStreamer(env.client, "10.96.103.55", 53).start()
    try:
        s.wait_answer_from("pod1", 5)
        sl = env.slice_obj("udpserve", [env.pod(1), env.pod(2)], ports=udp_ep)
        sl["endpoints"][0]["conditions"] = {"ready": False, "serving": False, "terminating": False}
        env.apply(sl)
        s.wait_answer_from("pod2", 8)
    finally:
        s.stop()


# ------------------------------------------------------------------ health, metrics

def test_healthz_and_metrics(env):
    # a slice carrying the trigger-time annotation feeds the network programming histogram
    trig = {"endpoints.kubernetes.io/last-change-trigger-time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    env.apply(env.svc_obj("npl", "10.96.104.1"), env.slice_obj("npl", [env.pod(1)], annotations=trig))
    env.wait_answers(env.node, "10.96.104.1", 80, {"pod1"}, n=3)
    st, _, body = http_get(env.node, "127.0.0.1", 10256, "/healthz")
    b = json.loads(body)
    assert st == 200 and b["healthy"] is True and b["nodeEligible"] is True, (st, body)
    st, _, body = http_get(env.node, "127.0.0.1", 10256, "/livez")
    assert st == 200
    st, _, metrics = http_get(env.node, "127.0.0.1", 10249, "/metrics")
    assert st == 200
    for name in ("kubeproxy_sync_proxy_rules_duration_seconds_bucket",
                 "kubeproxy_network_programming_duration_seconds_bucket",
                 "kubeproxy_sync_proxy_rules_last_timestamp_seconds"):
        assert name in metrics, name
    m = re.search(r'^kubeproxy_sync_proxy_rules_duration_seconds_count\{ip_family="IPv4"\} (\d+)', metrics, re.M)
    assert m and int(m.group(1)) > 0, metrics[:2000]
    m = re.search(r'^kubeproxy_network_programming_duration_seconds_count\{ip_family="IPv4"\} (\d+)', metrics, re.M)
    assert m and int(m.group(1)) > 0, [l for l in metrics.splitlines() if "network_programming" in l][-5:]
    st, _, mode = http_get(env.node, "127.0.0.1", 10249, "/proxyMode")
    assert (st, mode) == (200, "nftables")
    # /healthz needs the Node: gone -> 503 (nodeEligible false); /livez does not care
    env.cp.kubectl("delete", "node", NODE)
    try:
        def healthz_is(code):
            st, _, body = http_get(env.node, "127.0.0.1", 10256, "/healthz")
            return st == code and json.loads(body)
        b = wait_for(lambda: healthz_is(503), 10, what="/healthz 503 without a Node")
        assert b["nodeEligible"] is False, b
        assert http_get(env.node, "127.0.0.1", 10256, "/livez")[0] == 200
    finally:
        env.cp.ensure_node(NODE, [Topology.NODE_IP4, Topology.NODE_IP6])
    wait_for(lambda: healthz_is(200), 10, what="/healthz 200 with the Node back")


def _slow_clients_then_get(port, path, n_idle):
    """Hold n_idle idle connections and one half-sent request open, then time a GET."""
    import socket
    idle = []
    try:
        for i in range(n_idle):
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            if i == 0:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
            idle.append(s)
        t0 = time.monotonic()
        st, _, body = _http_get_direct("127.0.0.1", port, path)
        return st, time.monotonic() - t0
    finally:
        for s in idle:
            s.close()


def _http_get_direct(host, port, path):
    import http.client
    c = http.client.HTTPConnection(host, port, timeout=5)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        c.close()


def test_health_servers_ignore_idle_clients(env):
    """Idle clients and a half-sent request do not delay /healthz, /livez or /metrics."""
    for port, path in ((10256, "/healthz"), (10256, "/livez"), (10249, "/metrics")):
        st, secs = env.node.call(_slow_clients_then_get, port, path, 20)
        assert st == 200 and secs < 0.2, (port, path, st, secs)


def test_node_ip_change_moves_nodeports(env):
    """nodeport-ips follows the Node object's InternalIP (a full sync)."""
    env.apply(env.svc_obj("np2", "10.96.104.2", type="NodePort",
                          ports=[{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30702}]),
              env.slice_obj("np2", [env.pod(2)]))
    env.wait_answers(env.client, Topology.NODE_IP4, 30702, {"pod2"}, n=3)
    env.node.ip("addr", "add", "192.168.77.3/24", "dev", "kn-vc0")
    try:
        env.cp.ensure_node(NODE, ["192.168.77.3", Topology.NODE_IP6])
        env.wait_answers(env.client, "192.168.77.3", 30702, {"pod2"}, n=3)
        # the old address is no NodePort address any more: nothing listens there
        wait_for(lambda: refused(tcp_try(env.client, Topology.NODE_IP4, 30702)[0]), 10,
                 what="NodePort on the old node IP refused")
    finally:
        env.cp.ensure_node(NODE, [Topology.NODE_IP4, Topology.NODE_IP6])
        env.node.ip("addr", "del", "192.168.77.3/24", "dev", "kn-vc0")
    env.wait_answers(env.client, Topology.NODE_IP4, 30702, {"pod2"}, n=3)


# ------------------------------------------------------------------ hostile objects

def test_hostile_objects_keep_the_table_intact(env):
    p = env.proxy
    mark = p.mark()
    objs = []
    # 100 ports, each with its own NodePort-less TCP port, and a slice serving all of them on pod1
    ports = [{"name": f"p{i}", "port": 1000 + i, "protocol": "TCP"} for i in range(100)]
    objs.append(env.svc_obj("many-ports", "10.96.105.1", ports=ports))
    objs.append(env.slice_obj("many-ports", [env.pod(1)], ports=[{"name": f"p{i}", "port": 8080, "protocol": "TCP"}
                                                                   for i in range(100)]))
    # a huge selector (no controller: it selects nothing) and a large annotation
    objs.append(env.svc_obj("big-selector", "10.96.105.2",
                            selector={f"k{i}.example.com/l{i}": "v" * 63 for i in range(200)}))
    objs[-1]["metadata"]["annotations"] = {"big": "x" * 100000}  # kubectl apply doubles it (last-applied)
    # 1000 endpoints (the API's maximum per slice), on addresses no one answers
    many = env.slice_obj("thousand", [], name="thousand-a")
    many["endpoints"] = [{"addresses": [f"10.245.{i // 250}.{i % 250 + 1}"], "conditions": {"ready": True}}
                         for i in range(1000)]
    objs += [env.svc_obj("thousand", "10.96.105.3"), many]
    # names at their length limits
    long_svc = "x" + "-y" * 31  # 63 characters
    objs.append(env.svc_obj(long_svc, "10.96.105.4", ports=[{"name": "a" * 15, "port": 65535, "protocol": "TCP"}]))
    objs.append(env.slice_obj(long_svc, [env.pod(2)], name="z" * 253,
                              ports=[{"name": "a" * 15, "port": 8080, "protocol": "TCP"}]))
    # a slice without its service-name label, and a slice for a service that does not exist
    orphan = env.slice_obj("nobody", [env.pod(3)], name="orphan")
    unlabelled = env.slice_obj("web", [env.pod(3)], name="unlabelled")
    del unlabelled["metadata"]["labels"]
    objs += [orphan, unlabelled]
    # a duplicate endpoint across two slices of one service
    objs += [env.svc_obj("dup", "10.96.105.5"), env.slice_obj("dup", [env.pod(1)], name="dup-a"),
             env.slice_obj("dup", [env.pod(1)], name="dup-b")]
    env.apply(*objs)

    env.wait_answers(env.node, "10.96.105.1", 1099, {"pod1"}, n=2)
    env.wait_answers(env.node, "10.96.105.1", 1000, {"pod1"}, n=2)
    env.wait_answers(env.node, "10.96.105.4", 65535, {"pod2"}, n=2)
    env.wait_answers(env.node, "10.96.105.5", 80, {"pod1"}, n=5)
    p.wait_log("synced IPv4 rules", since=mark)
    table = nft_dump(env.node, "ip")
    thousand = re.search(r"chain service-\w+-kn-e2e/thousand/[^{]*\{(.*?)\n\t\}", table, re.S).group(1)
    assert len(re.findall(r"dnat to 10\.245\.", thousand)) == 1000
    assert "10.96.105.2 . tcp . 80 comment" in table  # the big-selector service has no endpoints: reject
    assert p.alive()
    # the rest still works: an earlier service, from a pod and from the client
    env.wait_answers(env.pod(3).ns, "10.96.100.1", 80, {"pod1", "pod2"})
    env.wait_answers(env.client, "10.96.101.1", 80, {"pod1", "pod3"})
    # the unlabelled slice is ignored, with a log line naming it
    assert p.has_log("unlabelled", since=mark), p.log_tail()
    # remove them again: everything of theirs leaves the table
    env.delete("services", "many-ports", "big-selector", "thousand", long_svc, "dup")
    env.delete("endpointslices.discovery.k8s.io", "many-ports-ipv4", "thousand-a", "z" * 253, "orphan", "unlabelled",
               "dup-a", "dup-b")
    wait_for(lambda: "thousand" not in nft_dump(env.node, "ip") and "many-ports" not in nft_dump(env.node, "ip"),
             15, what="hostile services removed from the table")
    env.wait_answers(env.node, "10.96.100.1", 80, {"pod1", "pod2"})
    assert not p.has_log("failed to sync", since=mark), p.log_tail()


# ------------------------------------------------------------------ one object never stops the others

NS2 = "kn-e2e-b"


def _in_ns(obj, ns):
    obj["metadata"]["namespace"] = ns
    return obj


def _metric(env, name, family="IPv4"):
    st, _, metrics = http_get(env.node, "127.0.0.1", 10249, "/metrics")
    assert st == 200
    m = re.search(rf'^{name}\{{ip_family="{family}"\}} (\S+)', metrics, re.M)
    return float(m.group(1)) if m else None


def _wait_gone(env, *names):
    """Until no chain of the named Services (ns/name) is left in the IPv4 table."""
    wait_for(lambda: not any(f"{n}/" in (nft_dump(env.node, "ip") or "") for n in names), 15,
             what=f"{names} removed from the table")


def _service_chain(svc_port):
    """Upstream's chain name for "ns/name/tcp/port": service-<base32(sha256)[:8]>-..."""
    import base64
    import hashlib
    h = base64.b32encode(hashlib.sha256(svc_port.encode()).digest()).decode()[:8]
    return f"service-{h}-{svc_port}"


def test_conflicting_external_ips_one_owner(env):
    """Two Services in two namespaces with the same externalIP and port: the older one
    owns it, the other keeps the rest, unrelated Services still get programmed, and the
    IP moves to the other one when the owner is deleted."""
    p = env.proxy
    mark = p.mark()
    env.cp.ensure_namespace(NS2)
    ext = "203.0.113.50"
    try:
        env.apply(env.svc_obj("ipa", "10.96.109.1", externalIPs=[ext]), env.slice_obj("ipa", [env.pod(1)]))
        env.wait_answers(env.client, ext, 80, {"pod1"}, n=5)
        time.sleep(1.1)  # creationTimestamp has whole seconds: b is strictly younger
        env.apply(_in_ns(env.svc_obj("ipb", "10.96.109.2", externalIPs=[ext]), NS2),
                  _in_ns(env.slice_obj("ipb", [env.pod(2)]), NS2))
        # b's own ClusterIP works: it was programmed, without the key a owns
        env.wait_answers(env.client, "10.96.109.2", 80, {"pod2"}, n=5)
        env.wait_answers(env.client, ext, 80, {"pod1"}, n=20)
        p.wait_log(f"service {NS2}/ipb: {ext}:80/TCP is already used by service {NS}/ipa", since=mark)
        assert wait_for(lambda: _metric(env, "kubeproxy_sync_proxy_rules_service_conflicts") == 1, 10,
                        what="conflicts gauge 1")
        # an unrelated Service created afterwards is programmed and reachable
        env.apply(env.svc_obj("ipc", "10.96.109.3"), env.slice_obj("ipc", [env.pod(3)]))
        env.wait_answers(env.client, "10.96.109.3", 80, {"pod3"}, n=5)
        # more changes of both: the conflict is logged once, no sync fails
        env.apply(_in_ns(env.slice_obj("ipb", [env.pod(2), env.pod(3)]), NS2))
        env.wait_answers(env.client, "10.96.109.2", 80, {"pod2", "pod3"})
        env.apply(env.slice_obj("ipa", [env.pod(1), env.pod(3)]))
        env.wait_answers(env.client, ext, 80, {"pod1", "pod3"})
        warn = [l for l in p.lines[mark:] if "is already used by service" in l and "/ipb" in l]
        assert len(warn) == 1, warn
        # the owner goes: b gets the IP
        env.delete("services", "ipa")
        env.delete("endpointslices.discovery.k8s.io", "ipa-ipv4")
        env.wait_answers(env.client, ext, 80, {"pod2", "pod3"})
        assert _metric(env, "kubeproxy_sync_proxy_rules_service_conflicts") == 0
        p.wait_log(f"service {NS2}/ipb now owns {ext}:80/TCP", since=mark)
        assert not p.has_log("failed to sync", since=mark), p.log_tail()
    finally:
        env.delete("services", "ipa", "ipc")
        env.delete("endpointslices.discovery.k8s.io", "ipa-ipv4", "ipc-ipv4")
        env.cp.clear_namespace(NS2)
        _wait_gone(env, f"{NS}/ipa", f"{NS2}/ipb", f"{NS}/ipc")


def test_refused_service_is_quarantined(env):
    """A Service whose part of the transaction the kernel refuses (here: a stray base
    chain carrying the name of its service chain; a goto into a base chain is refused)
    is left out; a Service created with it is programmed; once the obstacle is gone the
    Service is programmed too."""
    p = env.proxy
    mark = p.mark()
    chain = _service_chain(f"{NS}/qbad/tcp/http")
    env.node.run("nft", "add", "chain", "ip", "kube-proxy", chain, "{ type filter hook input priority 0; }")
    try:
        env.apply(env.svc_obj("qbad", "10.96.107.1"), env.slice_obj("qbad", [env.pod(1)]),
                  env.svc_obj("qgood", "10.96.107.2"), env.slice_obj("qgood", [env.pod(2)]))
        env.wait_answers(env.client, "10.96.107.2", 80, {"pod2"}, n=5)
        p.wait_log(f"failed to program service {NS}/qbad (IPv4 rules), left out", since=mark)
        assert wait_for(lambda: _metric(env, "kubeproxy_sync_proxy_rules_quarantined_services") == 1, 10,
                        what="quarantined gauge 1")
        assert not p.has_log("failed to sync", since=mark), p.log_tail()
        res, _ = tcp_try(env.client, "10.96.107.1", 80, timeout=0.7)
        assert not isinstance(res, str), res
        # the rest of the node keeps taking changes
        env.apply(env.slice_obj("qgood", [env.pod(3)]))
        env.wait_answers(env.client, "10.96.107.2", 80, {"pod3"}, n=5)
        # the obstacle goes: the retry (back-off) programs qbad without any change to it
        env.node.run("nft", "delete", "chain", "ip", "kube-proxy", chain)
        env.wait_answers(env.client, "10.96.107.1", 80, {"pod1"}, n=5, timeout=40)
        p.wait_log(f"service {NS}/qbad: IPv4 rules programmed after quarantine", since=mark)
        assert _metric(env, "kubeproxy_sync_proxy_rules_quarantined_services") == 0
    finally:
        env.node.run("nft", "delete", "chain", "ip", "kube-proxy", chain, check=False)
        env.delete("services", "qbad", "qgood")
        env.delete("endpointslices.discovery.k8s.io", "qbad-ipv4", "qgood-ipv4")
        _wait_gone(env, f"{NS}/qbad", f"{NS}/qgood")


# ------------------------------------------------------------------ faults

def test_apiserver_restart(env):
    """Rules stay while the apiserver is away; traffic keeps flowing; the proxy picks up
    changes made after it comes back."""
    env.apply(env.svc_obj("before", "10.96.106.1"), env.slice_obj("before", [env.pod(1)]))
    env.wait_answers(env.client, "10.96.106.1", 80, {"pod1"}, n=3)
    env.cp.stop_apiserver()
    try:
        for _ in range(3):
            env.wait_answers(env.client, "10.96.106.1", 80, {"pod1"}, n=5, timeout=2)
            env.wait_answers(env.node, "10.96.100.1", 80, {"pod1", "pod2"}, n=20, timeout=2)
            time.sleep(0.5)
        assert env.proxy.alive()
        # a proxy (re)started while the apiserver is away must leave the table alone
        before = nft_dump(env.node, "ip")
        assert env.proxy.stop(timeout=15) == 0
        env.proxy = ProxyProc(env.cp.ns, env.cp.kubeconfig(), NODE)
        env.proxies.append(env.proxy)
        time.sleep(2)
        assert env.proxy.alive(), env.proxy.log_tail()
        assert _static(nft_dump(env.node, "ip")) == _static(before)
        env.wait_answers(env.client, "10.96.106.1", 80, {"pod1"}, n=5, timeout=2)
    finally:
        env.cp.start_apiserver()
    t0 = time.time()
    env.apply(env.svc_obj("after", "10.96.106.2"), env.slice_obj("after", [env.pod(2)]),
              env.slice_obj("before", [env.pod(3)]))
    env.wait_answers(env.client, "10.96.106.2", 80, {"pod2"}, n=3, timeout=60)
    env.wait_answers(env.client, "10.96.106.1", 80, {"pod3"}, n=3, timeout=10)
    print(f"\nchanges after the apiserver restart programmed within {time.time() - t0:.1f}s")


def test_proxy_started_with_conflicting_pair(env):
    """A kube-proxy started on a cluster that already has two Services with the same
    externalIP programs everything: the older one owns the IP."""
    ext = "203.0.113.51"
    env.cp.ensure_namespace(NS2)
    try:
        assert env.proxy.stop(timeout=15) == 0, env.proxy.log_tail()
        env.apply(env.svc_obj("spa", "10.96.108.1", externalIPs=[ext]), env.slice_obj("spa", [env.pod(1)]))
        time.sleep(1.1)
        env.apply(_in_ns(env.svc_obj("spb", "10.96.108.2", externalIPs=[ext]), NS2),
                  _in_ns(env.slice_obj("spb", [env.pod(2)]), NS2),
                  env.svc_obj("spc", "10.96.108.3"), env.slice_obj("spc", [env.pod(3)]))
        p = env.start_proxy()
        env.wait_answers(env.client, ext, 80, {"pod1"}, n=10)
        env.wait_answers(env.client, "10.96.108.2", 80, {"pod2"}, n=5)
        env.wait_answers(env.client, "10.96.108.3", 80, {"pod3"}, n=5)
        assert not p.has_log("failed to sync"), p.log_tail()
        assert p.has_log(f"service {NS2}/spb: {ext}:80/TCP is already used by service {NS}/spa")
    finally:
        env.delete("services", "spa", "spc")
        env.delete("endpointslices.discovery.k8s.io", "spa-ipv4", "spc-ipv4")
        env.cp.clear_namespace(NS2)
        if not env.proxy.alive():
            env.start_proxy()
        _wait_gone(env, f"{NS}/spa", f"{NS2}/spb", f"{NS}/spc")


def test_proxy_restart_under_traffic(env):
    """SIGTERM the proxy while a client opens connections back to back, start a new one:
    no connection fails, and the new proxy adopts the table (same content)."""
    env.wait_answers(env.client, "10.96.100.1", 80, {"pod1", "pod2"})
    before = nft_dump(env.node, "ip")
    h = TcpHammer(env.client, "10.96.100.1", 80).start()
    try:
        time.sleep(0.5)
        t0 = time.time()
        assert env.proxy.stop(timeout=15) == 0, env.proxy.log_tail()
        stop_secs = time.time() - t0
        down = nft_dump(env.node, "ip")
        assert _static(down) == _static(before), "the table changed when kube-proxy stopped"
        # while no proxy runs, a service goes away: the next proxy must prune it
        env.delete("services", "hairpin")
        env.delete("endpointslices.discovery.k8s.io", "hairpin-ipv4")
        old = env.proxy
        env.start_proxy()
        time.sleep(1.0)
    finally:
        h.stop()
    print(f"\n{h.ok} connections during the restart, stop took {stop_secs:.1f}s")
    assert h.ok > 20
    assert not h.failures, h.failures[:5]
    assert old.has_log("shutting down")
    after = nft_dump(env.node, "ip")
    assert "kn-e2e/hairpin/" in before and "10.96.100.2" in before
    assert "kn-e2e/hairpin/" not in after and "10.96.100.2" not in after, after
    strip = lambda d: re.sub(r".*kn-e2e/hairpin/.*\n|10\.96\.100\.2, ", "", d)  # noqa: E731
    assert _chains(after) == _chains(strip(before))
    assert _elements(_static(after)) == _elements(_static(strip(before)))
    env.wait_answers(env.client, "10.96.100.1", 80, {"pod1", "pod2"})
    # and it keeps working: a change after the restart is programmed
    env.apply(env.slice_obj("web", [env.pod(3)]))
    env.wait_answers(env.client, "10.96.100.1", 80, {"pod3"}, timeout=10)
    env.apply(env.slice_obj("web", [env.pod(1), env.pod(2)]))


def _static(dump):
    """The dump without affinity entries: the kernel adds them per client and times them
    out (timeoutSeconds), so one can vanish between two dumps a few seconds apart."""
    return re.sub(r"(\n\tset affinity-[^\n]*\{\n(?:\t\t(?!elements)[^\n]*\n)*)\t\telements = \{[^}]*\}\n", r"\1",
                  re.sub(r" expires [0-9dhms]+", "", dump))


def _chains(dump):
    return sorted(re.findall(r"^\tchain (\S+) \{", dump, re.M))


def _elements(dump):
    out = {}
    for m in re.finditer(r"^\t(?:set|map) (\S+) \{(.*?)^\t\}", dump, re.M | re.S):
        el = re.search(r"elements = \{(.*?)\}\s*$", m.group(2), re.S)
        out[m.group(1)] = sorted(x.strip() for x in el.group(1).split(",")) if el else []
    return out


def test_cleanup_removes_both_tables(env):
    assert env.proxy.stop() == 0
    assert nft_dump(env.node, "ip") and nft_dump(env.node, "ip6")
    r = env.node.run(KNODE, "kube-proxy", "--cleanup", check=False)
    assert r.returncode == 0, r.stderr
    assert nft_dump(env.node, "ip") is None and nft_dump(env.node, "ip6") is None
    # a second cleanup (nothing left) succeeds too
    r = env.node.run(KNODE, "kube-proxy", "--cleanup", check=False)
    assert r.returncode == 0, r.stderr
    # without rules the service IP goes nowhere: the node routes it to the bridge, no one answers
    res, _ = tcp_try(env.node, "10.96.100.1", 80, timeout=0.5)
    assert isinstance(res, OSError)
