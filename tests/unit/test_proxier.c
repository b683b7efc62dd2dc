/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/proxier, as root in a private network namespace: full and partial syncs of a
 * small model, read back with nft(8). Hairpin elements shared by two Services live as
 * long as one of them uses them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "need.h"
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "../../proxy/proxier.h"

static bool have_netns; /* set in main after unshare(CLONE_NEWNET) */

#define SVC(name, ip)                                                                                             \
        "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"" name "\"},\"spec\":{\"clusterIP\":\"" ip "\","       \
        "\"ports\":[{\"name\":\"p\",\"port\":80,\"protocol\":\"TCP\"}]}}"
#define SLICE(name, ep, node)                                                                                     \
        "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"" name "-1\",\"labels\":{\"kubernetes.io/service-name\":" \
        "\"" name "\"}},\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"p\",\"port\":8080,\"protocol\":\"TCP\"}],"  \
        "\"endpoints\":[{\"addresses\":[\"" ep "\"],\"conditions\":{\"ready\":true},\"nodeName\":\"" node "\"}]}"

static void apply(model *m, const char *json, bool del)
{
        cJSON *o = cJSON_Parse(json);
        bool svc = strstr(json, "\"spec\"") != NULL;
        assert_non_null(o);
        if (svc)
                del ? model_service_delete(m, o) : (void)model_service_update(m, o);
        else
                del ? model_slice_delete(m, o) : (void)model_slice_update(m, o);
        cJSON_Delete(o);
}

static void do_sync(proxier *px, model *m, bool want_full)
{
        kn_hashmap dirty = model_take_dirty(m);
        proxier_stats st;
        kn_error err = {0};
        bool full;
        int r = proxier_sync(px, m, &dirty, &full, &st, &err);
        if (r < 0)
                fail_msg("sync: %s", err.msg);
        assert_int_equal(full, want_full);
        kn_hashmap_clear(&dirty, NULL);
}

/* The elements of a set or map, as nft prints them. */
static char *set_dump(const char *set)
{
        char cmd[128], buf[16384];
        size_t n;
        FILE *f;
        snprintf(cmd, sizeof(cmd), "nft list %s ip kube-proxy %s 2>&1",
                 strcmp(set, "hairpin-connections") == 0 ? "set" : "map", set);
        f = popen(cmd, "r");
        assert_non_null(f);
        n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        pclose(f);
        return kn_strdup(buf);
}

static size_t count(const char *hay, const char *needle)
{
        size_t n = 0;
        for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

static void test_shared_hairpin(void **state)
{
        static const char *hp = "10.244.0.5 . 10.244.0.5 . tcp . 8080";
        rules_config rc = {.family = AF_INET, .mark = 0x4000, .node_name = "me"};
        kn_error err = {0};
        proxier *px;
        model m;
        char *d;
        (void)state;
        need(have_netns, "a private network namespace with nft (root)");
        model_init(&m, "me");
        assert_int_equal(proxier_new(AF_INET, &px, &err), 0);
        proxier_set_config(px, &rc);
        /* two Services backed by the same local pod and port, and one remote endpoint */
        apply(&m, SVC("a", "10.96.0.1"), false);
        apply(&m, SLICE("a", "10.244.0.5", "me"), false);
        apply(&m, SVC("b", "10.96.0.2"), false);
        apply(&m, SLICE("b", "10.244.0.5", "me"), false);
        apply(&m, SVC("c", "10.96.0.3"), false);
        apply(&m, SLICE("c", "10.244.9.9", "other"), false);
        do_sync(px, &m, true);
        d = set_dump("hairpin-connections");
        assert_int_equal(count(d, hp), 1);
        assert_null(strstr(d, "10.244.9.9"));
        free(d);
        /* one user goes: the element stays */
        apply(&m, SLICE("a", "10.244.0.5", "me"), true);
        apply(&m, SVC("a", "10.96.0.1"), true);
        do_sync(px, &m, false);
        d = set_dump("hairpin-connections");
        assert_int_equal(count(d, hp), 1);
        free(d);
        /* a third user comes and goes while one remains, then the last goes */
        apply(&m, SVC("a", "10.96.0.1"), false);
        apply(&m, SLICE("a", "10.244.0.5", "me"), false);
        do_sync(px, &m, false);
        apply(&m, SLICE("a", "10.244.0.5", "me"), true);
        do_sync(px, &m, false);
        d = set_dump("hairpin-connections");
        assert_int_equal(count(d, hp), 1);
        free(d);
        apply(&m, SLICE("b", "10.244.0.5", "other"), false); /* b's pod moves away */
        do_sync(px, &m, false);
        d = set_dump("hairpin-connections");
        assert_int_equal(count(d, hp), 0);
        free(d);
        /* the pick is a plain dnat rule in the service chain, no endpoint chain */
        proxier_need_full(px);
        do_sync(px, &m, true);
        {
                FILE *f = popen("nft list table ip kube-proxy", "r");
                char buf[65536];
                size_t n = fread(buf, 1, sizeof(buf) - 1, f);
                buf[n] = '\0';
                pclose(f);
                assert_non_null(strstr(buf, "meta l4proto tcp dnat to 10.244.9.9:8080"));
                assert_null(strstr(buf, "chain endpoint-"));
                assert_non_null(strstr(buf, "ct status dnat ip saddr . ip daddr . meta l4proto . th dport "
                                            "@hairpin-connections masquerade fully-random"));
        }
        proxier_free(px);
        model_free(&m);
        assert_int_equal(proxier_cleanup(AF_INET, &err), 0);
}

/* A Service in namespace NS created at CREATED, port 80/TCP, externalIPs EXT (a JSON
 * array body), and its slice with endpoint EP ("" = no slice). */
static void apply_svc(model *m, const char *ns, const char *name, const char *created, const char *cip,
                      const char *ext, const char *ep, bool del)
{
        char json[1024];
        snprintf(json, sizeof(json),
                 "{\"metadata\":{\"namespace\":\"%s\",\"name\":\"%s\",\"creationTimestamp\":\"%s\"},"
                 "\"spec\":{\"clusterIP\":\"%s\",\"externalIPs\":[%s],"
                 "\"ports\":[{\"name\":\"p\",\"port\":80,\"protocol\":\"TCP\"}]}}",
                 ns, name, created, cip, ext);
        apply(m, json, del);
        if (!*ep)
                return;
        snprintf(json, sizeof(json),
                 "{\"metadata\":{\"namespace\":\"%s\",\"name\":\"%s-1\",\"labels\":{\"kubernetes.io/service-name\":"
                 "\"%s\"}},\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"p\",\"port\":8080,\"protocol\":\"TCP\"}],"
                 "\"endpoints\":[{\"addresses\":[\"%s\"],\"conditions\":{\"ready\":true},\"nodeName\":\"other\"}]}",
                 ns, name, name, ep);
        apply(m, json, del);
}

/* What the element of SET whose key starts with KEY maps to ("goto external-…"), or
 * "" when there is none. The caller frees. */
static char *elem_value(const char *set, const char *key)
{
        _cleanup_free_ char *d = set_dump(set);
        _cleanup_free_ char *k = kn_asprintf("%s ", key); /* then a comment or ": verdict" */
        const char *at = strstr(d, k), *colon;
        size_t n;
        if (!at)
                return kn_strdup("");
        if (strstr(at + 1, k))
                fail_msg("%s has two elements for %s:\n%s", set, key, d);
        n = strcspn(at, ",\n}");
        colon = memmem(at, n, ": ", 2);
        if (!colon)
                fail_msg("%s: no value for %s:\n%s", set, key, d);
        return kn_strndup(colon + 2, n - (size_t)(colon + 2 - at));
}

#define EXPECT_ELEM(set, key, want)                                                                               \
        do {                                                                                                      \
                _cleanup_free_ char *_v = elem_value(set, key);                                                   \
                if (!strstr(_v, want))                                                                            \
                        fail_msg("%s %s: got \"%s\", want \"%s\"", set, key, _v, want);                           \
                if (!*(want) && *_v)                                                                              \
                        fail_msg("%s %s: got \"%s\", want none", set, key, _v);                                   \
        } while (0)

static void test_conflicting_external_ips(void **state)
{
        static const char *ext = "203.0.113.10 . tcp . 80";
        rules_config rc = {.family = AF_INET, .mark = 0x4000, .node_name = "me"};
        kn_error err = {0};
        proxier *px;
        model m;
        (void)state;
        need(have_netns, "a private network namespace with nft (root)");
        model_init(&m, "me");
        assert_int_equal(proxier_new(AF_INET, &px, &err), 0);
        proxier_set_config(px, &rc);
        /* a proxy started with the pair already there: the first (full) sync works */
        apply_svc(&m, "y", "b", "2026-01-02T00:00:00Z", "10.96.0.2", "\"203.0.113.10\"", "10.244.0.6", false);
        apply_svc(&m, "x", "a", "2026-01-01T00:00:00Z", "10.96.0.1", "\"203.0.113.10\"", "10.244.0.5", false);
        do_sync(px, &m, true);
        EXPECT_ELEM("service-ips", ext, "x/a/tcp/p");
        EXPECT_ELEM("service-ips", "10.96.0.2 . tcp . 80", "y/b/tcp/p"); /* b keeps the rest */
        /* an unrelated Service afterwards: a partial sync that works */
        apply_svc(&m, "z", "c", "2026-01-03T00:00:00Z", "10.96.0.3", "", "10.244.0.7", false);
        do_sync(px, &m, false);
        EXPECT_ELEM("service-ips", "10.96.0.3 . tcp . 80", "z/c/tcp/p");
        EXPECT_ELEM("service-ips", ext, "x/a/tcp/p");
        /* the owner goes: b gets the key in the same partial sync */
        apply_svc(&m, "x", "a", "2026-01-01T00:00:00Z", "10.96.0.1", "\"203.0.113.10\"", "10.244.0.5", true);
        do_sync(px, &m, false);
        EXPECT_ELEM("service-ips", ext, "y/b/tcp/p");
        EXPECT_ELEM("service-ips", "10.96.0.1 . tcp . 80", "");
        /* the older one comes back: it takes the key from b (b re-planned without it) */
        apply_svc(&m, "x", "a", "2026-01-01T00:00:00Z", "10.96.0.1", "\"203.0.113.10\"", "10.244.0.5", false);
        do_sync(px, &m, false);
        EXPECT_ELEM("service-ips", ext, "x/a/tcp/p");
        /* the loser loses its endpoints: no no-endpoint element rejects the owner's traffic */
        apply_svc(&m, "y", "b", "2026-01-02T00:00:00Z", "10.96.0.2", "\"203.0.113.10\"", "10.244.0.6", true);
        apply_svc(&m, "y", "b", "2026-01-02T00:00:00Z", "10.96.0.2", "\"203.0.113.10\"", "", false);
        do_sync(px, &m, false);
        EXPECT_ELEM("no-endpoint-services", ext, "");
        EXPECT_ELEM("no-endpoint-services", "10.96.0.2 . tcp . 80", "reject-chain");
        EXPECT_ELEM("service-ips", ext, "x/a/tcp/p");
        /* a newer Service naming c's ClusterIP as its externalIP does not take it */
        apply_svc(&m, "y", "d", "2026-01-04T00:00:00Z", "10.96.0.4", "\"10.96.0.3\"", "10.244.0.8", false);
        do_sync(px, &m, false);
        EXPECT_ELEM("service-ips", "10.96.0.3 . tcp . 80", "z/c/tcp/p");
        /* the owner of the ClusterIP goes: then the externalIP is d's */
        apply_svc(&m, "z", "c", "2026-01-03T00:00:00Z", "10.96.0.3", "", "10.244.0.7", true);
        do_sync(px, &m, false);
        EXPECT_ELEM("service-ips", "10.96.0.3 . tcp . 80", "y/d/tcp/p");
        /* and a full sync agrees with what the partial syncs built */
        proxier_need_full(px);
        do_sync(px, &m, true);
        EXPECT_ELEM("service-ips", ext, "x/a/tcp/p");
        EXPECT_ELEM("service-ips", "10.96.0.3 . tcp . 80", "y/d/tcp/p");
        proxier_free(px);
        model_free(&m);
        assert_int_equal(proxier_cleanup(AF_INET, &err), 0);
}

/* Both claimants arrive in one partial sync, the newer one listed first. */
static void test_conflict_in_one_partial_sync(void **state)
{
        rules_config rc = {.family = AF_INET, .mark = 0x4000, .node_name = "me"};
        kn_error err = {0};
        proxier *px;
        model m;
        (void)state;
        need(have_netns, "a private network namespace with nft (root)");
        model_init(&m, "me");
        assert_int_equal(proxier_new(AF_INET, &px, &err), 0);
        proxier_set_config(px, &rc);
        do_sync(px, &m, true);
        {
                /* same age: the namespace/name decides, whatever the hash order */
                static const char *const names[] = {"s3", "s2", "s1", "s0"}, *const ips[] = {
                        "10.96.1.4", "10.96.1.3", "10.96.1.2", "10.96.1.1"};
                for (int i = 0; i < 4; i++)
                        apply_svc(&m, "n", names[i], "2026-01-01T00:00:00Z", ips[i], "\"203.0.113.20\"", "10.244.0.9",
                                  false);
        }
        do_sync(px, &m, false);
        EXPECT_ELEM("service-ips", "203.0.113.20 . tcp . 80", "n/s0/tcp/p");
        proxier_free(px);
        model_free(&m);
        assert_int_equal(proxier_cleanup(AF_INET, &err), 0);
}

static proxier_stats sync_stats(proxier *px, model *m, bool want_full)
{
        kn_hashmap dirty = model_take_dirty(m);
        proxier_stats st;
        kn_error err = {0};
        bool full;
        int r = proxier_sync(px, m, &dirty, &full, &st, &err);
        if (r < 0)
                fail_msg("sync: %s", err.msg);
        assert_int_equal(full, want_full);
        kn_hashmap_clear(&dirty, NULL);
        return st;
}

/* A base chain named like SVC's service chain (ns/SVC/tcp/p): the kernel refuses a
 * goto to it and a dnat in it, so that Service's part of any transaction fails. */
static void hostile_chain(const char *svc)
{
        _cleanup_free_ char *base = kn_asprintf("ns/%s/tcp/p", svc);
        _cleanup_free_ char *name = rules_chain_name("service", base);
        _cleanup_free_ char *cmd = kn_asprintf("nft add table ip kube-proxy && nft add chain ip kube-proxy '%s' "
                                               "'{ type filter hook input priority 0; }'", name);
        assert_int_equal(system(cmd), 0);
}

static void test_quarantine_refused_service(void **state)
{
        rules_config rc = {.family = AF_INET, .mark = 0x4000, .node_name = "me"};
        kn_error err = {0};
        proxier_stats st;
        proxier *px;
        model m;
        (void)state;
        need(have_netns, "a private network namespace with nft (root)");
        model_init(&m, "me");
        assert_int_equal(proxier_new(AF_INET, &px, &err), 0);
        proxier_set_config(px, &rc);
        /* start-up (a full sync) with one Service the kernel refuses */
        hostile_chain("bad");
        apply(&m, SVC("a", "10.96.3.1"), false);
        apply(&m, SLICE("a", "10.244.3.1", "other"), false);
        apply(&m, SVC("bad", "10.96.3.2"), false);
        apply(&m, SLICE("bad", "10.244.3.2", "other"), false);
        apply(&m, SVC("c", "10.96.3.3"), false);
        apply(&m, SLICE("c", "10.244.3.3", "other"), false);
        st = sync_stats(px, &m, true);
        assert_int_equal(st.quarantined, 1);
        /* the kernel points at the refused element (extended ack), whose key's owner is
         * bad: the table alone, then all but bad */
        if (st.dry_runs > 2)
                fail_msg("%u dry runs to find the refused Service", st.dry_runs);
        EXPECT_ELEM("service-ips", "10.96.3.1 . tcp . 80", "ns/a/tcp/p");
        EXPECT_ELEM("service-ips", "10.96.3.3 . tcp . 80", "ns/c/tcp/p");
        EXPECT_ELEM("service-ips", "10.96.3.2 . tcp . 80", "");
        assert_true(proxier_next_retry_ms(px) > kn_now_ms());
        /* not due yet: left out of the next sync */
        st = sync_stats(px, &m, false);
        assert_int_equal(st.quarantined, 1);
        EXPECT_ELEM("service-ips", "10.96.3.2 . tcp . 80", "");
        /* the full sync removed the stray base chain (not one of ours): once due, bad works */
        usleep((useconds_t)(proxier_next_retry_ms(px) - kn_now_ms() + 50) * 1000);
        st = sync_stats(px, &m, false);
        assert_int_equal(st.quarantined, 0);
        assert_int_equal(proxier_next_retry_ms(px), 0);
        EXPECT_ELEM("service-ips", "10.96.3.2 . tcp . 80", "ns/bad/tcp/p");

        /* a partial sync with a refused Service and a good one: the good one is programmed */
        hostile_chain("bad2");
        apply(&m, SVC("bad2", "10.96.3.4"), false);
        apply(&m, SLICE("bad2", "10.244.3.4", "other"), false);
        apply(&m, SVC("d", "10.96.3.5"), false);
        apply(&m, SLICE("d", "10.244.3.5", "other"), false);
        st = sync_stats(px, &m, false);
        assert_int_equal(st.quarantined, 1);
        EXPECT_ELEM("service-ips", "10.96.3.5 . tcp . 80", "ns/d/tcp/p");
        EXPECT_ELEM("service-ips", "10.96.3.4 . tcp . 80", "");
        /* a change is tried at once; still refused: back-off doubles */
        {
                int64_t first = proxier_next_retry_ms(px) - kn_now_ms();
                apply(&m, SLICE("bad2", "10.244.3.6", "other"), false);
                st = sync_stats(px, &m, false);
                assert_int_equal(st.quarantined, 1);
                assert_true(proxier_next_retry_ms(px) - kn_now_ms() > first + 500);
        }
        /* the hostile chain goes; the next change of bad2 programs it */
        {
                _cleanup_free_ char *name = rules_chain_name("service", "ns/bad2/tcp/p");
                _cleanup_free_ char *cmd = kn_asprintf("nft delete chain ip kube-proxy '%s'", name);
                assert_int_equal(system(cmd), 0);
        }
        apply(&m, SLICE("bad2", "10.244.3.4", "other"), false);
        st = sync_stats(px, &m, false);
        assert_int_equal(st.quarantined, 0);
        EXPECT_ELEM("service-ips", "10.96.3.4 . tcp . 80", "ns/bad2/tcp/p");
        proxier_free(px);
        model_free(&m);
        assert_int_equal(proxier_cleanup(AF_INET, &err), 0);
}

/* UDP flows to clear: an endpoint that stops serving while it stays in its slice loses
 * its flows, a destination that gets its first endpoint is cleared whole. */
static void test_stale_udp_flows(void **state)
{
        static const char *svc = "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"dns\"},\"spec\":{\"clusterIP\":"
                                 "\"10.96.4.1\",\"ports\":[{\"name\":\"p\",\"port\":53,\"protocol\":\"UDP\"}]}}";
        char slice[1024];
        rules_config rc = {.family = AF_INET, .mark = 0x4000, .node_name = "me"};
        kn_error err = {0};
        kn_conntrack_filter *f = NULL;
        kn_addr vip, e1, e2;
        proxier *px;
        model m;
        size_t n;
        (void)state;
        need(have_netns, "a private network namespace with nft (root)");
        assert_int_equal(kn_addr_parse("10.96.4.1", &vip), 0);
        assert_int_equal(kn_addr_parse("10.244.4.1", &e1), 0);
        assert_int_equal(kn_addr_parse("10.244.4.2", &e2), 0);
        model_init(&m, "me");
        assert_int_equal(proxier_new(AF_INET, &px, &err), 0);
        proxier_set_config(px, &rc);
        apply(&m, svc, false);
        do_sync(px, &m, true);
        free(f), f = NULL;
        n = proxier_take_stale_flows(px, &f);
        assert_int_equal(n, 0); /* no endpoints, no flows */
#define DNS_SLICE(serving1)                                                                                       \
        snprintf(slice, sizeof(slice),                                                                            \
                 "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"dns-1\",\"labels\":{\"kubernetes.io/service-name\":" \
                 "\"dns\"}},\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"p\",\"port\":5353,\"protocol\":\"UDP\"}]," \
                 "\"endpoints\":[{\"addresses\":[\"10.244.4.1\"],\"conditions\":{\"ready\":%s,\"serving\":%s}},"     \
                 "{\"addresses\":[\"10.244.4.2\"],\"conditions\":{\"ready\":true}}]}",                               \
                 serving1, serving1)
        DNS_SLICE("true");
        apply(&m, slice, false);
        do_sync(px, &m, false);
        free(f), f = NULL;
        n = proxier_take_stale_flows(px, &f);
        /* the first endpoints: every flow to the ClusterIP port goes (it never was DNATed) */
        assert_int_equal(n, 1);
        assert_int_equal(f[0].orig_dport, 53);
        assert_memory_equal(&f[0].orig_dst.v4, &vip.v4, 4);
        assert_int_equal(f[0].reply_src.family, 0);
        /* 10.244.4.1 stops serving, still in the slice: its flows go, 10.244.4.2's stay */
        DNS_SLICE("false");
        apply(&m, slice, false);
        do_sync(px, &m, false);
        free(f), f = NULL;
        n = proxier_take_stale_flows(px, &f);
        assert_int_equal(n, 1);
        assert_int_equal(f[0].family, AF_INET);
        assert_int_equal(f[0].orig_dport, 53);
        assert_memory_equal(&f[0].orig_dst.v4, &vip.v4, 4);
        assert_memory_equal(&f[0].reply_src.v4, &e1.v4, 4);
        /* an unrelated change queues nothing; taking again gives nothing */
        apply(&m, SVC("other", "10.96.4.2"), false);
        do_sync(px, &m, false);
        free(f), f = NULL;
        assert_int_equal(proxier_take_stale_flows(px, &f), 0);
        /* the Service goes: the remaining endpoint's flows go */
        apply(&m, svc, true);
        do_sync(px, &m, false);
        free(f), f = NULL;
        n = proxier_take_stale_flows(px, &f);
        assert_int_equal(n, 1);
        assert_memory_equal(&f[0].reply_src.v4, &e2.v4, 4);
        free(f);
        proxier_free(px);
        model_free(&m);
        assert_int_equal(proxier_cleanup(AF_INET, &err), 0);
}

/* A refused message that names a Service's chain or set (here: an affinity set whose
 * name is taken by a set of another type) points at the Service: one dry run without
 * it confirms, no halving of the others. */
static void test_quarantine_from_the_refused_message(void **state)
{
        rules_config rc = {.family = AF_INET, .mark = 0x4000, .node_name = "me"};
        kn_error err = {0};
        proxier_stats st;
        proxier *px;
        model m;
        char json[1024];
        (void)state;
        need(have_netns, "a private network namespace with nft (root)");
        model_init(&m, "me");
        assert_int_equal(proxier_new(AF_INET, &px, &err), 0);
        proxier_set_config(px, &rc);
        for (int i = 0; i < 16; i++) {
                snprintf(json, sizeof(json),
                         "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"s%02d\"},\"spec\":{\"clusterIP\":"
                         "\"10.96.5.%d\",\"sessionAffinity\":\"ClientIP\",\"ports\":[{\"name\":\"p\",\"port\":80,"
                         "\"protocol\":\"TCP\"}]}}",
                         i, i + 1);
                apply(&m, json, false);
                snprintf(json, sizeof(json),
                         "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"s%02d-1\",\"labels\":{\"kubernetes.io/"
                         "service-name\":\"s%02d\"}},\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"p\",\"port\":8080,"
                         "\"protocol\":\"TCP\"}],\"endpoints\":[{\"addresses\":[\"10.244.5.%d\"],\"conditions\":"
                         "{\"ready\":true}}]}",
                         i, i, i + 1);
                apply(&m, json, false);
        }
        {
                _cleanup_free_ char *set = rules_chain_name("affinity", "ns/s07/tcp/p__10.244.5.8/8080");
                _cleanup_free_ char *cmd = kn_asprintf("nft add table ip kube-proxy && nft add set ip kube-proxy '%s' "
                                                       "'{ type inet_service; }'", set);
                assert_int_equal(system(cmd), 0);
        }
        st = sync_stats(px, &m, true);
        assert_int_equal(st.quarantined, 1);
        assert_true(st.dry_runs <= 2); /* the table alone, then all but ns/s07 */
        EXPECT_ELEM("service-ips", "10.96.5.8 . tcp . 80", "");
        EXPECT_ELEM("service-ips", "10.96.5.7 . tcp . 80", "ns/s06/tcp/p");
        EXPECT_ELEM("service-ips", "10.96.5.9 . tcp . 80", "ns/s08/tcp/p");
        proxier_free(px);
        model_free(&m);
        assert_int_equal(proxier_cleanup(AF_INET, &err), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_shared_hairpin),
                cmocka_unit_test(test_conflicting_external_ips),
                cmocka_unit_test(test_conflict_in_one_partial_sync),
                cmocka_unit_test(test_quarantine_refused_service),
                cmocka_unit_test(test_quarantine_from_the_refused_message),
                cmocka_unit_test(test_stale_udp_flows),
        };
        if (geteuid() == 0 && system("nft --version >/dev/null 2>&1") == 0 && unshare(CLONE_NEWNET) == 0)
                have_netns = true;
        return cmocka_run_group_tests_name("proxier", tests, NULL, NULL);
}
