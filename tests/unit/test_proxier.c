/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/proxier, as root in a private network namespace: full and partial syncs of a
 * small model, read back with nft(8). Hairpin elements shared by two Services live as
 * long as one of them uses them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sched.h>
#include <stdio.h>

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

/* The elements of a set, one per line, as nft prints them. */
static char *set_dump(const char *set)
{
        char cmd[128], buf[4096];
        size_t n;
        FILE *f;
        snprintf(cmd, sizeof(cmd), "nft list set ip kube-proxy %s 2>&1", set);
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
        if (!have_netns)
                skip();
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

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_shared_hairpin),
        };
        if (geteuid() == 0 && system("nft --version >/dev/null 2>&1") == 0 && unshare(CLONE_NEWNET) == 0)
                have_netns = true;
        return cmocka_run_group_tests_name("proxier", tests, NULL, NULL);
}
