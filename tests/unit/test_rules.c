/* SPDX-License-Identifier: Apache-2.0 */
/* kube-proxy's model and rule computation (no kernel involved). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>

#include "model.h"
#include "rules.h"

static void test_names(void **state)
{
        /* Upstream's names, checked against its unit tests. */
        static const struct {
                const char *prefix, *s, *want;
        } cases[] = {
                {"service", "ns1/svc1/tcp/p80", "service-ULMVA6XW-ns1/svc1/tcp/p80"},
                {"endpoint", "ns1/svc1/tcp/p80__10.180.0.1/80", "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"},
                {"affinity", "ns5/svc5/tcp/p80__10.180.0.3/80", "affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80"},
                {"service", "default/kubernetes/tcp/https", "service-2QRHZV4L-default/kubernetes/tcp/https"},
        };
        char longs[400];
        char *n;
        (void)state;
        for (size_t i = 0; i < KN_ARRAY_SIZE(cases); i++) {
                n = rules_chain_name(cases[i].prefix, cases[i].s);
                assert_string_equal(n, cases[i].want);
                free(n);
        }
        memset(longs, 'a', sizeof(longs) - 1);
        longs[sizeof(longs) - 1] = 0;
        n = rules_chain_name("endpoint", longs);
        assert_int_equal(strlen(n), strlen("endpoint-") + 240);
        assert_string_equal(n + strlen(n) - 3, "...");
        free(n);
}

static cJSON *j(const char *s)
{
        cJSON *o = cJSON_Parse(s);
        if (!o)
                fail_msg("bad test JSON: %s", s);
        return o;
}

static void apply(model *m, const char *svc, const char *slice)
{
        cJSON *o;
        if (svc) {
                o = j(svc);
                model_service_update(m, o);
                cJSON_Delete(o);
        }
        if (slice) {
                o = j(slice);
                model_slice_update(m, o);
                cJSON_Delete(o);
        }
}

static const plan_elem *find_elem(const plan *p, const char *set)
{
        for (size_t i = 0; i < p->n_elems; i++)
                if (strcmp(p->elems[i].set->name, set) == 0)
                        return &p->elems[i];
        return NULL;
}

static size_t count_rules(const plan *p, const char *chain_prefix)
{
        size_t n = 0;
        for (size_t i = 0; i < p->n_rules; i++)
                n += strncmp(p->rules[i].chain, chain_prefix, strlen(chain_prefix)) == 0;
        return n;
}

#define SVC(extra)                                                                                                   \
        "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"s\"},\"spec\":{\"clusterIP\":\"10.96.0.10\","                \
        "\"ports\":[{\"name\":\"p\",\"port\":80,\"protocol\":\"TCP\",\"nodePort\":30080}]" extra "}}"
#define SLICE(eps)                                                                                                   \
        "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"s-1\",\"labels\":{\"kubernetes.io/service-name\":\"s\"}},"    \
        "\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"p\",\"port\":8080,\"protocol\":\"TCP\"}],\"endpoints\":[" eps "]}"
#define EP(ip, cond, node) "{\"addresses\":[\"" ip "\"],\"conditions\":{" cond "},\"nodeName\":\"" node "\"}"

static rules_config rc4 = {.family = AF_INET, .mark = 0x4000};

static void test_no_endpoints_reject(void **state)
{
        model m;
        plan p;
        const plan_elem *e;
        (void)state;
        model_init(&m, "me");
        apply(&m, SVC(""), NULL);
        rules_service(&rc4, &m, kn_hashmap_get(&m.services, "ns/s"), &p);
        assert_int_equal(p.n_chains, 0);
        e = find_elem(&p, "no-endpoint-services");
        assert_non_null(e);
        assert_int_equal(e->e.verdict, KN_OP_GOTO);
        assert_string_equal(e->e.chain, "reject-chain");
        assert_string_equal(e->e.comment, "ns/s:p");
        e = find_elem(&p, "no-endpoint-nodeports");
        assert_non_null(e);
        assert_int_equal(e->e.port, 30080);
        assert_null(find_elem(&p, "service-ips"));
        assert_non_null(find_elem(&p, "cluster-ips"));
        plan_free(&p);
        model_free(&m);
}

static void test_two_endpoints_sorted(void **state)
{
        model m;
        plan p;
        model_ep *eps;
        size_t n;
        (void)state;
        model_init(&m, "me");
        apply(&m, SVC(""), SLICE(EP("10.244.0.8", "", "x") "," EP("10.244.0.10", "\"ready\":true", "y")));
        {
                const model_service *s = kn_hashmap_get(&m.services, "ns/s");
                n = model_endpoints(&m, s, &s->ports[0], AF_INET, &eps);
                assert_int_equal(n, 2);
                /* a string sort, as upstream: "10.244.0.10:8080" < "10.244.0.8:8080" */
                assert_string_equal(eps[0].str, "10.244.0.10:8080");
                free(eps);
                rules_service(&rc4, &m, s, &p);
        }
        /* service chain: numgen mod 2 == 0 dnat to ep0; dnat to ep1 (no endpoint chains
         * without affinity). external chain: mark, goto service */
        assert_int_equal(count_rules(&p, "service-"), 2);
        assert_int_equal(count_rules(&p, "endpoint-"), 0);
        assert_int_equal(count_rules(&p, "external-"), 2);
        assert_int_equal(p.n_chains, 2);
        assert_string_equal(find_elem(&p, "service-ips")->e.chain, p.chains[0]);
        {
                const kn_nft_rule *r0 = &p.rules[0], *r1 = &p.rules[1];
                char a[INET6_ADDRSTRLEN];
                assert_int_equal(r0->n_ops, 3);
                assert_int_equal(r0->ops[0].type, KN_OP_NUMGEN_EQ);
                assert_int_equal(r0->ops[0].mod, 2);
                assert_int_equal(r0->ops[1].type, KN_OP_L4PROTO);
                assert_int_equal(r0->ops[2].type, KN_OP_DNAT);
                kn_addr_format(&r0->ops[2].addr, a, sizeof(a));
                assert_string_equal(a, "10.244.0.10");
                assert_int_equal(r0->ops[2].port, 8080);
                assert_int_equal(r1->n_ops, 2);
                assert_int_equal(r1->ops[1].type, KN_OP_DNAT);
                kn_addr_format(&r1->ops[1].addr, a, sizeof(a));
                assert_string_equal(a, "10.244.0.8");
        }
        /* neither endpoint is on this node ("me"): no hairpin element */
        assert_null(find_elem(&p, "hairpin-connections"));
        assert_non_null(strstr(find_elem(&p, "service-nodeports")->e.chain, "external-"));
        assert_null(find_elem(&p, "no-endpoint-services"));
        plan_free(&p);
        model_free(&m);
}

/* 30 slices of 1,000 endpoints (the API's limit per slice) for one port: 30k endpoints,
 * the last 100 of each slice repeated at the start of the next one, non-local there
 * but local in the following copy. The merge keeps one of each (a local copy wins),
 * sorted by "IP:port", and is not quadratic: well under 0.2 s (it took 0.85 s). */
static void test_endpoint_merge_at_scale(void **state)
{
        enum { SLICES = 30, PER = 1000, OVERLAP = 100 };
        model m;
        model_ep *eps;
        size_t n, want = SLICES * (PER - OVERLAP) + OVERLAP;
        int64_t t0, ms;
        (void)state;
        model_init(&m, "me");
        apply(&m, SVC(""), NULL);
        for (int sl = 0; sl < SLICES; sl++) {
                kn_buf b = {0};
                kn_buf_printf(&b,
                              "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"s-%d\",\"labels\":{\"kubernetes.io/"
                              "service-name\":\"s\"}},\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"p\",\"port\":"
                              "8080,\"protocol\":\"TCP\"}],\"endpoints\":[",
                              sl);
                for (int i = 0; i < PER; i++) {
                        int k = sl * (PER - OVERLAP) + i; /* endpoint number: overlaps the previous slice */
                        bool local = sl > 0 && i < OVERLAP; /* the second copy is the local one */
                        kn_buf_printf(&b, "%s{\"addresses\":[\"10.%d.%d.%d\"],\"conditions\":{\"ready\":true},"
                                          "\"nodeName\":\"%s\"}",
                                      i ? "," : "", 1 + k / 65536, (k / 256) % 256, k % 256, local ? "me" : "other");
                }
                kn_buf_printf(&b, "]}");
                apply(&m, NULL, b.data);
                kn_buf_free(&b);
        }
        {
                const model_service *s = kn_hashmap_get(&m.services, "ns/s");
                t0 = kn_now_ms();
                for (int rep = 0; rep < 2; rep++) { /* a sync and hc_sync */
                        n = model_endpoints(&m, s, &s->ports[0], AF_INET, &eps);
                        if (rep == 0)
                                free(eps);
                }
                ms = kn_now_ms() - t0;
        }
        print_message("model_endpoints: %zu endpoints merged from %d slices, twice, in %lld ms\n", n, SLICES,
                      (long long)ms);
        assert_int_equal(n, want);
        {
                size_t n_local = 0;
                for (size_t i = 0; i < n; i++) {
                        if (i)
                                assert_true(strcmp(eps[i - 1].str, eps[i].str) < 0);
                        n_local += eps[i].local;
                }
                assert_int_equal(n_local, (SLICES - 1) * OVERLAP);
        }
        assert_true(ms < 1500); /* quadratic took 2.75 s; linear ~33 ms (slack for ASan and a busy host) */
        free(eps);
        model_free(&m);
}

static void test_terminating_fallback_and_local(void **state)
{
        model m;
        plan p;
        (void)state;
        model_init(&m, "me");
        /* only a terminating-but-serving endpoint: used, not rejected */
        apply(&m, SVC(",\"externalTrafficPolicy\":\"Local\""),
              SLICE(EP("10.244.0.5", "\"ready\":false,\"serving\":true,\"terminating\":true", "other")));
        rules_service(&rc4, &m, kn_hashmap_get(&m.services, "ns/s"), &p);
        assert_non_null(find_elem(&p, "service-ips"));
        /* eTP=Local without local endpoints: the NodePort drops */
        assert_int_equal(find_elem(&p, "no-endpoint-nodeports")->e.verdict, KN_OP_DROP);
        assert_int_equal(p.no_local_external, 1);
        plan_free(&p);
        /* not serving either: no endpoints at all */
        apply(&m, NULL, SLICE(EP("10.244.0.5", "\"ready\":false,\"serving\":false,\"terminating\":true", "me")));
        rules_service(&rc4, &m, kn_hashmap_get(&m.services, "ns/s"), &p);
        assert_string_equal(find_elem(&p, "no-endpoint-services")->e.chain, "reject-chain");
        plan_free(&p);
        /* a local ready endpoint: the NodePort goes to the external chain, which ends in local- */
        apply(&m, NULL, SLICE(EP("10.244.0.5", "", "me")));
        rules_service(&rc4, &m, kn_hashmap_get(&m.services, "ns/s"), &p);
        assert_null(find_elem(&p, "no-endpoint-nodeports"));
        assert_true(count_rules(&p, "local-") >= 1);
        {
                /* a local endpoint: its hairpin element, endpoint . endpoint . tcp . 8080 */
                const plan_elem *h = find_elem(&p, "hairpin-connections");
                char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
                assert_non_null(h);
                kn_addr_format(&h->e.addr, a, sizeof(a));
                kn_addr_format(&h->e.addr2, b, sizeof(b));
                assert_string_equal(a, "10.244.0.5");
                assert_string_equal(b, "10.244.0.5");
                assert_int_equal(h->e.proto, IPPROTO_TCP);
                assert_int_equal(h->e.port, 8080);
        }
        plan_free(&p);
        model_free(&m);
}

static void test_affinity_and_udp_flows(void **state)
{
        model m;
        plan p;
        (void)state;
        model_init(&m, "me");
        apply(&m,
              "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"s\"},\"spec\":{\"clusterIP\":\"10.96.0.10\","
              "\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":{\"clientIP\":{\"timeoutSeconds\":60}},"
              "\"ports\":[{\"name\":\"p\",\"port\":53,\"protocol\":\"UDP\"}]}}",
              "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"s-1\",\"labels\":{\"kubernetes.io/service-name\":\"s\"}},"
              "\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"p\",\"port\":5353,\"protocol\":\"UDP\"}],"
              "\"endpoints\":[" EP("10.244.0.5", "", "x") "]}");
        rules_service(&rc4, &m, kn_hashmap_get(&m.services, "ns/s"), &p);
        assert_int_equal(p.n_sets, 1);
        assert_true(p.sets[0].dynamic_timeout);
        assert_int_equal(p.sets[0].timeout_s, 60);
        assert_int_equal(strncmp(p.sets[0].name, "affinity-", 9), 0);
        /* affinity keeps a chain per endpoint: update @affinity-X { ip saddr }, then dnat;
         * the service chain checks the set first, then picks */
        assert_int_equal(count_rules(&p, "endpoint-"), 2);
        assert_int_equal(count_rules(&p, "service-"), 2);
        for (size_t i = 0; i < p.n_rules; i++)
                if (strncmp(p.rules[i].chain, "service-", 8) == 0)
                        assert_int_equal(p.rules[i].ops[p.rules[i].n_ops - 1].type, KN_OP_GOTO);
        assert_int_equal(p.n_flows, 1);
        assert_int_equal(p.flows[0].dport, 53);
        plan_free(&p);
        model_free(&m);
}

static void test_hostile_objects(void **state)
{
        model m;
        cJSON *o;
        kn_buf b = {0};
        (void)state;
        model_init(&m, "me");
        /* bad ports are skipped, the rest of the service stays */
        apply(&m,
              "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"s\"},\"spec\":{\"clusterIP\":\"10.96.0.10\","
              "\"ports\":[{\"port\":70000},{\"port\":-1},{\"port\":\"x\"},{\"port\":80,\"protocol\":\"QUIC\"},"
              "{\"port\":81}]}}",
              NULL);
        assert_int_equal(((model_service *)kn_hashmap_get(&m.services, "ns/s"))->n_ports, 1);
        /* a bad clusterIP refuses the object, and the previous version goes too */
        apply(&m, "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"s\"},\"spec\":{\"clusterIP\":\"banana\"}}", NULL);
        assert_null(kn_hashmap_get(&m.services, "ns/s"));
        /* headless and ExternalName are not proxied */
        apply(&m, "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"s\"},\"spec\":{\"clusterIP\":\"None\"}}", NULL);
        assert_null(kn_hashmap_get(&m.services, "ns/s"));
        /* a slice over the per-slice endpoint limit is refused as a whole */
        kn_buf_printf(&b, "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"big\",\"labels\":{\"kubernetes.io/"
                          "service-name\":\"s\"}},\"addressType\":\"IPv4\",\"endpoints\":[");
        for (int i = 0; i < 10000; i++)
                kn_buf_printf(&b, "%s{\"addresses\":[\"10.%d.%d.%d\"]}", i ? "," : "", i >> 16, (i >> 8) & 255, i & 255);
        kn_buf_printf(&b, "]}");
        o = j(b.data);
        assert_int_equal(model_slice_update(&m, o), -E2BIG);
        assert_null(kn_hashmap_get(&m.slices, "ns/big"));
        cJSON_Delete(o);
        kn_buf_free(&b);
        /* a slice without the service-name label is refused */
        o = j("{\"metadata\":{\"namespace\":\"ns\",\"name\":\"x\"},\"addressType\":\"IPv4\"}");
        assert_true(model_slice_update(&m, o) < 0);
        cJSON_Delete(o);
        model_free(&m);
}

static void test_static(void **state)
{
        plan p;
        kn_addr ip;
        rules_config c = rc4;
        (void)state;
        kn_addr_parse("192.168.1.10", &ip);
        c.nodeport_ips = &ip;
        c.n_nodeport_ips = 1;
        rules_static(&c, &p);
        assert_int_equal(p.n_base_chains, 8);
        assert_int_equal(p.n_sets, 8);
        assert_string_equal(p.sets[7].name, "hairpin-connections");
        assert_int_equal(p.n_elems, 1);
        assert_string_equal(p.elems[0].set->name, "nodeport-ips");
        plan_free(&p);
        c.nodeport_all = true;
        rules_static(&c, &p);
        assert_int_equal(p.n_elems, 0);
        plan_free(&p);
}

static void test_topology_hints(void **state)
{
        model m;
        plan p;
        rules_config c = rc4;
        (void)state;
        c.node_zone = "zone-a";
        c.node_name = "me";
        model_init(&m, "me");
        /* every endpoint has a zone hint and one matches: only that one is used */
        apply(&m, SVC(""),
              SLICE("{\"addresses\":[\"10.244.0.1\"],\"hints\":{\"forZones\":[{\"name\":\"zone-a\"}]}},"
                    "{\"addresses\":[\"10.244.0.2\"],\"hints\":{\"forZones\":[{\"name\":\"zone-b\"}]}}"));
        rules_service(&c, &m, kn_hashmap_get(&m.services, "ns/s"), &p);
        assert_int_equal(count_rules(&p, "service-"), 1);
        plan_free(&p);
        /* one endpoint lacks a hint: all are used */
        apply(&m, NULL,
              SLICE("{\"addresses\":[\"10.244.0.1\"],\"hints\":{\"forZones\":[{\"name\":\"zone-a\"}]}},"
                    "{\"addresses\":[\"10.244.0.2\"]}"));
        rules_service(&c, &m, kn_hashmap_get(&m.services, "ns/s"), &p);
        assert_int_equal(count_rules(&p, "service-"), 2);
        plan_free(&p);
        /* node hints win over zone hints */
        apply(&m, NULL,
              SLICE("{\"addresses\":[\"10.244.0.1\"],\"hints\":{\"forNodes\":[{\"name\":\"other\"}]}},"
                    "{\"addresses\":[\"10.244.0.2\"],\"hints\":{\"forNodes\":[{\"name\":\"me\"}]}},"
                    "{\"addresses\":[\"10.244.0.3\"],\"hints\":{\"forNodes\":[{\"name\":\"me\"}]}}"));
        rules_service(&c, &m, kn_hashmap_get(&m.services, "ns/s"), &p);
        assert_int_equal(count_rules(&p, "service-"), 2);
        plan_free(&p);
        model_free(&m);
}

static void test_local_detectors(void **state)
{
        plan p;
        rules_config c = rc4;
        kn_cidr cidr;
        const kn_nft_rule *r = NULL;
        (void)state;
        /* no detector: no clusterIP masquerade rule */
        rules_static(&c, &p);
        for (size_t i = 0; i < p.n_rules; i++)
                assert_false(p.rules[i].comment && strstr(p.rules[i].comment, "outside cluster"));
        plan_free(&p);
        /* BridgeInterface */
        c.local_iface = "cni0";
        rules_static(&c, &p);
        for (size_t i = 0; i < p.n_rules; i++)
                if (p.rules[i].comment && strstr(p.rules[i].comment, "outside cluster"))
                        r = &p.rules[i];
        assert_non_null(r);
        assert_int_equal(r->ops[1].type, KN_OP_IIFNAME);
        assert_true(r->ops[1].neg);
        assert_string_equal(r->ops[1].name, "cni0");
        plan_free(&p);
        /* InterfaceNamePrefix */
        c.local_iface_prefix = true;
        c.local_iface = "veth";
        rules_static(&c, &p);
        r = NULL;
        for (size_t i = 0; i < p.n_rules; i++)
                if (p.rules[i].comment && strstr(p.rules[i].comment, "outside cluster"))
                        r = &p.rules[i];
        assert_string_equal(r->ops[1].name, "veth*");
        plan_free(&p);
        /* ClusterCIDR with one CIDR: a plain match, as upstream prints it */
        c = rc4;
        kn_cidr_parse("10.244.0.0/16", &cidr);
        c.cluster_cidrs = &cidr;
        c.n_cluster_cidrs = 1;
        rules_static(&c, &p);
        r = NULL;
        for (size_t i = 0; i < p.n_rules; i++)
                if (p.rules[i].comment && strstr(p.rules[i].comment, "outside cluster"))
                        r = &p.rules[i];
        assert_int_equal(r->ops[1].type, KN_OP_SADDR_IN_CIDR);
        plan_free(&p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_no_endpoints_reject),
                cmocka_unit_test(test_two_endpoints_sorted),
                cmocka_unit_test(test_terminating_fallback_and_local),
                cmocka_unit_test(test_affinity_and_udp_flows),
                cmocka_unit_test(test_hostile_objects),
                cmocka_unit_test(test_static),
                cmocka_unit_test(test_local_detectors),
                cmocka_unit_test(test_topology_hints),
                cmocka_unit_test(test_endpoint_merge_at_scale),
        };
        return cmocka_run_group_tests_name("rules", tests, NULL, NULL);
}
