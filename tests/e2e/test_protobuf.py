# SPDX-License-Identifier: Apache-2.0
"""Services and EndpointSlices as Kubernetes protobuf (core/kpb) decode to exactly the
JSON the API server sends, for every field knode reads."""
import json
import time

from conftest import run_knode

NS = "e2e-pb"

# What core/kpb decodes: the JSON objects are projected onto these fields, the protobuf
# ones must then be equal (no field missing, none extra).
META = ["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "labels",
        "annotations"]
SPEC = ["ports", "clusterIP", "clusterIPs", "type", "externalIPs", "sessionAffinity", "sessionAffinityConfig",
        "loadBalancerIP", "loadBalancerSourceRanges", "externalName", "externalTrafficPolicy",
        "healthCheckNodePort", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy", "trafficDistribution"]


def pick(d, keys):
    return {k: d[k] for k in keys if k in d}


def project_service(o):
    r = {"metadata": pick(o["metadata"], META), "spec": pick(o.get("spec", {}), SPEC),
         "status": {"loadBalancer": {}}}
    r["spec"]["ports"] = [pick(p, ["name", "protocol", "appProtocol", "port", "targetPort", "nodePort"])
                          for p in r["spec"].get("ports", [])] or None
    if r["spec"]["ports"] is None:
        del r["spec"]["ports"]
    ing = o.get("status", {}).get("loadBalancer", {}).get("ingress")
    if ing is not None:
        r["status"]["loadBalancer"]["ingress"] = [pick(i, ["ip", "hostname", "ipMode"]) for i in ing]
    return r


def project_slice(o):
    eps = o.get("endpoints")
    if eps is not None:
        eps = [pick(e, ["addresses", "conditions", "hostname", "nodeName", "zone", "hints"]) for e in eps]
    return {"metadata": pick(o["metadata"], META), "addressType": o["addressType"], "endpoints": eps,
            "ports": o.get("ports")}


def debug_list(cp, gv, resource, protobuf):
    args = ["debug", "list", gv, resource, f"--namespace={NS}", f"--kubeconfig={cp.kubeconfig()}", "--objects",
            "--limit=3", "-v=4"]
    if protobuf:
        args.append("--protobuf")
    r = run_knode(*args)
    assert r.returncode == 0, r.stderr
    want = "application/vnd.kubernetes.protobuf" if protobuf else "application/json"
    assert f"of {want}" in r.stderr, r.stderr  # the encoding really used
    objs = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    return {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objs}


SERVICES = [
    # named ports, a named targetPort, affinity with a timeout, externalIPs, labels, annotations
    {"metadata": {"name": "affinity", "labels": {"app": "a", "empty": ""}, "annotations": {"x/y": "z"}},
     "spec": {"ports": [{"name": "http", "port": 80, "targetPort": "web", "appProtocol": "http"},
                        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 5353}],
              "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}},
              "externalIPs": ["192.0.2.10", "192.0.2.11"], "internalTrafficPolicy": "Local",
              "trafficDistribution": "PreferClose"}},
    # NodePort with explicit and allocated nodePorts, externalTrafficPolicy Local
    {"metadata": {"name": "nodeport"},
     "spec": {"type": "NodePort", "externalTrafficPolicy": "Local",
              "ports": [{"name": "a", "port": 8080, "nodePort": 30123}, {"name": "b", "port": 8081}]}},
    # LoadBalancer: healthCheckNodePort, source ranges, loadBalancerIP; status set below
    {"metadata": {"name": "lb"},
     "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "loadBalancerIP": "203.0.113.5",
              "loadBalancerSourceRanges": ["10.0.0.0/8", " 192.168.0.0/16"],
              "ports": [{"port": 443, "protocol": "TCP"}]}},
    # dual-stack policy (single-stack cluster: one clusterIP), a single unnamed port
    {"metadata": {"name": "dual"},
     "spec": {"ipFamilyPolicy": "PreferDualStack", "ports": [{"port": 1, "protocol": "SCTP"}]}},
    {"metadata": {"name": "headless"}, "spec": {"clusterIP": "None", "ports": [{"port": 80}]}},
    {"metadata": {"name": "extname"}, "spec": {"type": "ExternalName", "externalName": "example.com"}},
    # held by a finalizer and deleted: deletionTimestamp set
    {"metadata": {"name": "deleting", "finalizers": ["e2e.knode.io/hold"]}, "spec": {"ports": [{"port": 80}]}},
]

LB_STATUS = {"status": {"loadBalancer": {"ingress": [
    {"ip": "198.51.100.7", "ipMode": "Proxy"}, {"ip": "198.51.100.8", "ipMode": "VIP"},
    {"hostname": "lb.example.com"}]}}}

LABEL = {"kubernetes.io/service-name": "affinity", "endpointslice.kubernetes.io/managed-by": "e2e"}
SLICES = [
    {"metadata": {"name": "v4", "labels": LABEL,
                  "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2024-01-02T03:04:05Z"}},
     "addressType": "IPv4",
     "endpoints": [
         {"addresses": ["10.1.0.1"], "conditions": {"ready": True, "serving": True, "terminating": False},
          "hostname": "pod-1", "nodeName": "node-a", "zone": "zone-a",
          "hints": {"forZones": [{"name": "zone-a"}, {"name": "zone-b"}], "forNodes": [{"name": "node-a"}]}},
         {"addresses": ["10.1.0.2"], "conditions": {"ready": False, "serving": True, "terminating": True},
          "nodeName": "node-b"},
         {"addresses": ["10.1.0.3"], "conditions": {"serving": False}},  # ready absent: unknown
         {"addresses": ["10.1.0.4"]},  # no conditions at all
         {"addresses": ["10.1.0.5"], "hints": {"forZones": [{"name": "zone-c"}]}},
     ],
     "ports": [{"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "http"},
               {"name": "", "port": 53, "protocol": "UDP"}, {"name": "noport"}]},
    {"metadata": {"name": "v6", "labels": LABEL}, "addressType": "IPv6",
     "endpoints": [{"addresses": ["fd00::1"], "conditions": {"ready": True}}],
     "ports": [{"name": "http", "port": 8080}]},
    {"metadata": {"name": "fqdn", "labels": LABEL}, "addressType": "FQDN",
     "endpoints": [{"addresses": ["db.example.com"]}], "ports": []},
    {"metadata": {"name": "empty", "labels": LABEL}, "addressType": "IPv4", "endpoints": [], "ports": None},
]


def apply(cp, obj):
    cp.kubectl("-n", NS, "apply", "-f", "-", input=json.dumps(obj))


def compare(cp, gv, resource, project, expect):
    js = debug_list(cp, gv, resource, False)
    pb = debug_list(cp, gv, resource, True)
    assert set(js) == set(pb) and len(js) == expect, (sorted(js), sorted(pb))
    for key in js:
        want = project(js[key])
        got = pb[key]
        assert got == want, f"{key}:\n json {json.dumps(want, sort_keys=True)}\n   pb {json.dumps(got, sort_keys=True)}"
    return pb


def test_protobuf_equals_json(control_plane):
    cp = control_plane
    cp.kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=true")
    cp.kubectl("create", "namespace", NS)
    try:
        for s in SERVICES:
            apply(cp, {"apiVersion": "v1", "kind": "Service", **s})
        cp.kubectl("-n", NS, "patch", "service", "lb", "--subresource=status", "--type=merge",
                   "-p", json.dumps(LB_STATUS))
        cp.kubectl("-n", NS, "delete", "service", "deleting", "--wait=false")
        for s in SLICES:
            apply(cp, {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", **s})

        svcs = compare(cp, "v1", "services", project_service, len(SERVICES))
        # spot checks that the interesting fields really made it through
        a = svcs[(NS, "affinity")]["spec"]
        assert a["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 600}}
        assert a["ports"][0]["targetPort"] == "web" and a["ports"][1]["targetPort"] == 5353
        assert svcs[(NS, "nodeport")]["spec"]["ports"][0]["nodePort"] == 30123
        assert svcs[(NS, "lb")]["spec"]["healthCheckNodePort"] > 0
        assert len(svcs[(NS, "lb")]["status"]["loadBalancer"]["ingress"]) == 3
        assert svcs[(NS, "deleting")]["metadata"]["deletionTimestamp"].endswith("Z")

        slices = compare(cp, "discovery.k8s.io/v1", "endpointslices", project_slice, len(SLICES))
        eps = slices[(NS, "v4")]["endpoints"]
        assert eps[2]["conditions"] == {"serving": False}
        assert eps[3]["conditions"] == {}
        assert eps[0]["hints"]["forNodes"] == [{"name": "node-a"}]
        assert slices[(NS, "empty")]["endpoints"] is None
    finally:
        cp.kubectl("-n", NS, "patch", "service", "deleting", "--type=merge",
                   "-p", '{"metadata":{"finalizers":null}}', check=False)
        cp.kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=false", check=False)


def test_protobuf_watch(control_plane, knode_proc):
    cp = control_plane
    ns = NS + "-watch"
    cp.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=true")
    cp.kubectl("create", "namespace", ns)
    try:
        slice_ = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                  "metadata": {"name": "w", "labels": LABEL}, "addressType": "IPv4",
                  "endpoints": [{"addresses": ["10.2.0.1"]}], "ports": [{"port": 80}]}
        cp.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(slice_))
        p = knode_proc("debug", "watch", "discovery.k8s.io/v1", "endpointslices", f"--namespace={ns}",
                       f"--kubeconfig={cp.kubeconfig()}", "--protobuf", "--watch-timeout=3s", "-v=4")
        p.expect(lambda l: l.startswith(f"ADDED {ns}/w "), what="listed slice")
        p.expect(lambda l: l == "SYNCED 1", what="synced")
        slice_["metadata"]["name"] = "w2"
        cp.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(slice_))
        p.expect(lambda l: l.startswith(f"ADDED {ns}/w2 "), what="watched add")
        cp.kubectl("-n", ns, "label", "endpointslice", "w", "x=y")
        p.expect(lambda l: l.startswith(f"MODIFIED {ns}/w "), what="watched update")
        cp.kubectl("-n", ns, "delete", "endpointslice", "w2")
        p.expect(lambda l: l.startswith(f"DELETED {ns}/w2 "), what="watched delete")
        # the server closes the stream after 3 s; the informer resumes, still protobuf
        time.sleep(4)
        cp.kubectl("-n", ns, "delete", "endpointslice", "w")
        p.expect(lambda l: l.startswith(f"DELETED {ns}/w "), what="delete after resume")
        assert not any("malformed" in l or "failed" in l for l in p.err), p.err[-20:]
        assert any("of application/vnd.kubernetes.protobuf" in l for l in p.err), p.err[-20:]
    finally:
        cp.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)
