/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/claims: one owner per key two Services can both claim, whatever the order in
 * which they arrive, and the loser gets the key when the owner lets it go. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>

#include "../../proxy/claims.h"

/* A Service in namespace NS: ClusterIP CIP, port 80/TCP (nodePort NP if non-zero),
 * externalIPs EXT (a JSON array body, may be ""), created at CREATED. */
static model_service *svc(const char *ns, const char *name, const char *created, const char *cip, const char *ext,
                          int np)
{
        char json[1024], npj[32] = "";
        model_service *s = NULL;
        kn_error err;
        cJSON *o;

        if (np)
                snprintf(npj, sizeof(npj), ",\"nodePort\":%d", np);
        snprintf(json, sizeof(json),
                 "{\"metadata\":{\"namespace\":\"%s\",\"name\":\"%s\",\"creationTimestamp\":\"%s\"},"
                 "\"spec\":{\"clusterIP\":\"%s\",\"externalIPs\":[%s],"
                 "\"ports\":[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\"%s}]}}",
                 ns, name, created, cip, ext, npj);
        o = cJSON_Parse(json);
        assert_non_null(o);
        assert_int_equal(model_parse_service(o, &s, &err), 0);
        assert_non_null(s);
        cJSON_Delete(o);
        return s;
}

static bool in(const kn_hashmap *m, const char *k) { return kn_hashmap_get(m, k) != NULL; }

static void update(claims *c, const char *key, model_service *s, kn_hashmap *changed)
{
        claims_update(c, key, s, changed);
        model_service_free(s);
}

static void test_external_ip_pair_oldest_wins_in_any_order(void **state)
{
        static const char *key = "203.0.113.10:80/TCP";
        (void)state;
        for (int order = 0; order < 2; order++) {
                claims c;
                kn_hashmap ch = {0};
                claims_init(&c, AF_INET);
                for (int i = 0; i < 2; i++) {
                        if ((i == 0) == (order == 0))
                                update(&c, "x/a",
                                       svc("x", "a", "2026-01-01T00:00:00Z", "10.96.0.1", "\"203.0.113.10\"", 0), &ch);
                        else
                                update(&c, "y/b",
                                       svc("y", "b", "2026-01-02T00:00:00Z", "10.96.0.2", "\"203.0.113.10\"", 0), &ch);
                }
                assert_true(claims_owns(&c, "x/a", key));
                assert_false(claims_owns(&c, "y/b", key));
                assert_true(claims_owns(&c, "y/b", "10.96.0.2:80/TCP")); /* only that key is skipped */
                assert_int_equal(claims_conflicts(&c), 1);
                if (order == 1) /* b came first and owned the key: both must be re-planned */
                        assert_true(in(&ch, "x/a") && in(&ch, "y/b"));
                kn_hashmap_clear(&ch, NULL);
                /* the owner goes: b gets the key, and is marked for re-planning */
                claims_update(&c, "x/a", NULL, &ch);
                assert_true(in(&ch, "y/b"));
                assert_true(claims_owns(&c, "y/b", key));
                assert_int_equal(claims_conflicts(&c), 0);
                kn_hashmap_clear(&ch, NULL);
                claims_free(&c);
        }
}

static void test_owner_drops_the_key(void **state)
{
        claims c;
        kn_hashmap ch = {0};
        (void)state;
        claims_init(&c, AF_INET);
        update(&c, "x/a", svc("x", "a", "2026-01-01T00:00:00Z", "10.96.0.1", "\"203.0.113.10\"", 0), NULL);
        update(&c, "y/b", svc("y", "b", "2026-01-02T00:00:00Z", "10.96.0.2", "\"203.0.113.10\"", 0), NULL);
        assert_false(claims_owns(&c, "y/b", "203.0.113.10:80/TCP"));
        /* a changes its externalIP: b gets the old one, a keeps its new one */
        update(&c, "x/a", svc("x", "a", "2026-01-01T00:00:00Z", "10.96.0.1", "\"203.0.113.11\"", 0), &ch);
        assert_true(in(&ch, "y/b"));
        assert_true(claims_owns(&c, "y/b", "203.0.113.10:80/TCP"));
        assert_true(claims_owns(&c, "x/a", "203.0.113.11:80/TCP"));
        assert_int_equal(claims_conflicts(&c), 0);
        kn_hashmap_clear(&ch, NULL);
        /* an unchanged update changes nobody's keys */
        update(&c, "y/b", svc("y", "b", "2026-01-02T00:00:00Z", "10.96.0.2", "\"203.0.113.10\"", 0), &ch);
        assert_false(in(&ch, "x/a"));
        kn_hashmap_clear(&ch, NULL);
        claims_free(&c);
}

static void test_cluster_ip_beats_an_older_external_ip(void **state)
{
        claims c;
        (void)state;
        claims_init(&c, AF_INET);
        /* an old Service names a newer Service's ClusterIP as its externalIP */
        update(&c, "x/old", svc("x", "old", "2020-01-01T00:00:00Z", "10.96.0.1", "\"10.96.0.9\"", 0), NULL);
        update(&c, "y/new", svc("y", "new", "2026-01-01T00:00:00Z", "10.96.0.9", "", 0), NULL);
        assert_true(claims_owns(&c, "y/new", "10.96.0.9:80/TCP"));
        assert_false(claims_owns(&c, "x/old", "10.96.0.9:80/TCP"));
        assert_int_equal(claims_conflicts(&c), 1);
        /* its own ClusterIP as an externalIP is one claim, no conflict with itself */
        update(&c, "z/self", svc("z", "self", "2026-01-01T00:00:00Z", "10.96.0.7", "\"10.96.0.7\"", 0), NULL);
        assert_true(claims_owns(&c, "z/self", "10.96.0.7:80/TCP"));
        assert_int_equal(claims_conflicts(&c), 1);
        claims_free(&c);
}

static void test_same_age_falls_back_to_name_and_nodeports(void **state)
{
        claims c;
        kn_hashmap ch = {0};
        model m;
        (void)state;
        claims_init(&c, AF_INET);
        update(&c, "b/s", svc("b", "s", "2026-01-01T00:00:00Z", "10.96.0.2", "\"203.0.113.10\"", 30080), NULL);
        update(&c, "a/s", svc("a", "s", "2026-01-01T00:00:00Z", "10.96.0.1", "\"203.0.113.10\"", 30080), NULL);
        assert_true(claims_owns(&c, "a/s", "203.0.113.10:80/TCP"));
        assert_true(claims_owns(&c, "a/s", "nodePort 30080/TCP"));
        assert_false(claims_owns(&c, "b/s", "nodePort 30080/TCP"));
        assert_int_equal(claims_conflicts(&c), 2);
        /* a full sync forgets Services the model no longer has: b takes both keys */
        model_init(&m, "node");
        kn_hashmap_put(&m.services, "b/s", svc("b", "s", "2026-01-01T00:00:00Z", "10.96.0.2", "", 0), NULL);
        claims_retain(&c, &m, &ch);
        assert_true(in(&ch, "b/s"));
        assert_true(claims_owns(&c, "b/s", "nodePort 30080/TCP"));
        assert_int_equal(claims_conflicts(&c), 0);
        model_free(&m);
        kn_hashmap_clear(&ch, NULL);
        claims_free(&c);
}

static void test_keys_of_plan_elements(void **state)
{
        char b[CLAIMS_KEY_MAX];
        kn_nft_elem e = {.proto = IPPROTO_UDP, .port = 53};
        plan_flow f = {.dport = 30053};
        (void)state;
        assert_int_equal(kn_addr_parse("fd00::1", &e.addr), 0);
        assert_string_equal(claims_elem_key(&rules_set_no_endpoint_services, &e, b), "[fd00::1]:53/UDP");
        assert_string_equal(claims_elem_key(&rules_set_firewall_ips, &e, b), "[fd00::1]:53/UDP");
        assert_string_equal(claims_elem_key(&rules_set_no_endpoint_nodeports, &e, b), "nodePort 53/UDP");
        assert_string_equal(claims_elem_key(&rules_set_cluster_ips, &e, b), "clusterIP fd00::1");
        assert_null(claims_elem_key(&rules_set_hairpin, &e, b));
        assert_string_equal(claims_flow_key(&f, b), "nodePort 30053/UDP");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_external_ip_pair_oldest_wins_in_any_order),
                cmocka_unit_test(test_owner_drops_the_key),
                cmocka_unit_test(test_cluster_ip_beats_an_older_external_ip),
                cmocka_unit_test(test_same_age_falls_back_to_name_and_nodeports),
                cmocka_unit_test(test_keys_of_plan_elements),
        };
        return cmocka_run_group_tests_name("claims", tests, NULL, NULL);
}
