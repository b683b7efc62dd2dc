/* SPDX-License-Identifier: Apache-2.0 */
/* kn_conntrack_delete against the real kernel, in a private network namespace: entries
 * are made and checked with the conntrack(8) CLI. The root namespace's table is never
 * touched: every test needs the unshare of the group setup to have succeeded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "need.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conntrack.h"

static bool in_netns;

static int setup_netns(void **state)
{
        (void)state;
        if (unshare(CLONE_NEWNET) < 0) {
                if (errno == EPERM) {
                        printf("test_conntrack: unshare(CLONE_NEWNET) not permitted (run as root); skipping\n");
                        return 0;
                }
                fprintf(stderr, "test_conntrack: unshare(CLONE_NEWNET): %s\n", strerror(errno));
                return -1;
        }
        in_netns = true;
        if (system("ip link set lo up") != 0)
                return -1;
        return 0;
}

static void need_netns(void)
{
        need(in_netns, "a private network namespace (root)");
        /* Only ever inside the private namespace made by setup_netns. */
        assert_int_equal(system("conntrack -F >/dev/null 2>&1"), 0);
}

static kn_addr addr(const char *s)
{
        kn_addr a = { 0 };
        a.family = strchr(s, ':') ? AF_INET6 : AF_INET;
        assert_int_equal(inet_pton(a.family, s, a.family == AF_INET ? (void *)&a.v4 : (void *)&a.v6), 1);
        return a;
}

/* An entry CLIENT:SPORT -> DST:DPORT DNATed to RSRC:DPORT. SPORT names the entry. */
static void add(const char *proto, const char *client, int sport, const char *dst, int dport,
                const char *rsrc)
{
        char cmd[512];
        snprintf(cmd, sizeof(cmd),
                 "conntrack -I -p %s -s %s -d %s --sport %d --dport %d --reply-src %s "
                 "--reply-dst %s --reply-port-src %d --reply-port-dst %d --timeout 100 %s "
                 ">/dev/null 2>&1",
                 proto, client, dst, sport, dport, rsrc, client, dport, sport,
                 strcmp(proto, "tcp") == 0 ? "--state ESTABLISHED" : "");
        assert_int_equal(system(cmd), 0);
}

static char *list(void)
{
        static char out[1 << 20];
        size_t n = 0, r;
        FILE *f = popen("conntrack -L -f ipv4 2>/dev/null; conntrack -L -f ipv6 2>/dev/null", "r");
        assert_non_null(f);
        while ((r = fread(out + n, 1, sizeof(out) - 1 - n, f)) > 0)
                n += r;
        out[n] = 0;
        assert_int_equal(pclose(f), 0);
        return out;
}

static bool present(const char *listing, int sport)
{
        char key[64];
        snprintf(key, sizeof(key), " sport=%d dport=", sport);
        return strstr(listing, key) != NULL;
}

static unsigned count_lines(const char *s)
{
        unsigned n = 0;
        for (; *s; s++)
                n += *s == '\n';
        return n;
}

static void test_clusterip(void **state)
{
        kn_addr svc = addr("10.96.0.10"), ep = addr("10.244.0.5");
        kn_addr svc6 = addr("fd00::10"), ep6 = addr("fd00::5");
        kn_error err = { 0 };
        unsigned deleted = 99;
        const char *l;
        (void)state;
        need_netns();
        add("udp", "10.0.0.1", 40001, "10.96.0.10", 53, "10.244.0.5");  /* match */
        add("udp", "10.0.0.2", 40002, "10.96.0.10", 53, "10.244.0.5");  /* match */
        add("udp", "10.0.0.1", 40003, "10.96.0.10", 53, "10.244.0.6");  /* other endpoint */
        add("udp", "10.0.0.1", 40004, "10.96.0.10", 5353, "10.244.0.5"); /* other port */
        add("tcp", "10.0.0.1", 40005, "10.96.0.10", 53, "10.244.0.5");  /* tcp */
        add("udp", "fd00::1", 40006, "fd00::10", 53, "fd00::5");         /* ipv6 */
        add("udp", "10.0.0.1", 40007, "10.96.0.11", 53, "10.244.0.5");  /* other service */
        assert_int_equal(count_lines(list()), 7);

        assert_int_equal(kn_conntrack_delete(AF_INET, IPPROTO_UDP, &svc, 53, &ep, &deleted, &err), 0);
        assert_int_equal(deleted, 2);
        l = list();
        assert_false(present(l, 40001));
        assert_false(present(l, 40002));
        for (int p = 40003; p <= 40007; p++)
                assert_true(present(l, p));
        assert_int_equal(count_lines(l), 5);

        /* Nothing left to match: 0, not an error. */
        assert_int_equal(kn_conntrack_delete(AF_INET, IPPROTO_UDP, &svc, 53, &ep, &deleted, &err), 0);
        assert_int_equal(deleted, 0);

        /* dport 0 = any port; no reply filter = any endpoint. */
        assert_int_equal(kn_conntrack_delete(AF_INET, IPPROTO_UDP, &svc, 0, &ep, &deleted, &err), 0);
        assert_int_equal(deleted, 1);
        assert_false(present(list(), 40004));
        assert_int_equal(kn_conntrack_delete(AF_INET, IPPROTO_UDP, &svc, 53, NULL, &deleted, &err), 0);
        assert_int_equal(deleted, 1);
        assert_false(present(list(), 40003));

        assert_int_equal(kn_conntrack_delete(AF_INET6, IPPROTO_UDP, &svc6, 53, &ep6, &deleted, &err), 0);
        assert_int_equal(deleted, 1);
        l = list();
        assert_false(present(l, 40006));
        assert_true(present(l, 40005));
        assert_true(present(l, 40007));
        assert_int_equal(count_lines(l), 2);
}

static void test_nodeport(void **state)
{
        kn_addr ep = addr("10.244.0.5");
        kn_error err = { 0 };
        unsigned deleted = 99;
        const char *l;
        (void)state;
        need_netns();
        add("udp", "10.0.0.1", 40011, "192.168.1.2", 30053, "10.244.0.5"); /* match */
        add("udp", "10.0.0.1", 40012, "192.168.1.3", 30053, "10.244.0.5"); /* match: other node IP */
        add("udp", "10.0.0.1", 40013, "192.168.1.2", 30054, "10.244.0.5"); /* other nodePort */
        add("udp", "10.0.0.1", 40014, "192.168.1.2", 30053, "10.244.0.6"); /* other endpoint */
        add("tcp", "10.0.0.1", 40015, "192.168.1.2", 30053, "10.244.0.5"); /* tcp */

        assert_int_equal(kn_conntrack_delete(AF_INET, IPPROTO_UDP, NULL, 30053, &ep, &deleted, &err), 0);
        assert_int_equal(deleted, 2);
        l = list();
        assert_false(present(l, 40011));
        assert_false(present(l, 40012));
        for (int p = 40013; p <= 40015; p++)
                assert_true(present(l, p));
}

/* Enough entries that the dump spans several recvmsg buffers. */
static void test_many(void **state)
{
        kn_addr svc = addr("10.96.0.20"), ep = addr("10.244.1.1");
        kn_error err = { 0 };
        unsigned deleted = 0;
        (void)state;
        need_netns();
        assert_int_equal(system("for i in $(seq 20001 20600); do conntrack -I -p udp -s 10.0.0.1 "
                                "-d 10.96.0.20 --sport $i --dport 53 --reply-src 10.244.1.1 "
                                "--reply-dst 10.0.0.1 --reply-port-src 53 --reply-port-dst $i "
                                "--timeout 100 >/dev/null 2>&1 || exit 1; done"),
                         0);
        add("udp", "10.0.0.1", 40021, "10.96.0.20", 53, "10.244.1.2");
        assert_int_equal(count_lines(list()), 601);
        assert_int_equal(kn_conntrack_delete(AF_INET, IPPROTO_UDP, &svc, 53, &ep, &deleted, &err), 0);
        assert_int_equal(deleted, 600);
        assert_int_equal(count_lines(list()), 1);
        assert_true(present(list(), 40021));
}

/* Many patterns of both families in one call: one dump, exactly the matches deleted,
 * counted per family; duplicates and the order of the filters do not matter. */
static void test_many_filters_one_dump(void **state)
{
        kn_conntrack_filter f[] = {
                {.family = AF_INET, .orig_dst = addr("10.96.0.10"), .orig_dport = 53, .reply_src = addr("10.244.0.5")},
                {.family = AF_INET6, .orig_dst = addr("fd00::10"), .orig_dport = 53, .reply_src = addr("fd00::5")},
                {.family = AF_INET, .orig_dport = 30053, .reply_src = addr("10.244.0.7")}, /* NodePort */
                {.family = AF_INET, .orig_dst = addr("10.96.0.12"), .orig_dport = 53},     /* any endpoint */
                {.family = AF_INET, .orig_dst = addr("10.96.0.10"), .orig_dport = 53, .reply_src = addr("10.244.0.5")},
        };
        unsigned deleted[2] = {99, 99};
        kn_error err = { 0 };
        const char *l;
        (void)state;
        need_netns();
        add("udp", "10.0.0.1", 40031, "10.96.0.10", 53, "10.244.0.5");  /* f0 */
        add("udp", "10.0.0.1", 40032, "10.96.0.10", 53, "10.244.0.6");  /* other endpoint */
        add("udp", "fd00::1", 40033, "fd00::10", 53, "fd00::5");         /* f1 */
        add("udp", "fd00::1", 40034, "fd00::10", 54, "fd00::5");         /* other port */
        add("udp", "10.0.0.1", 40035, "192.168.1.2", 30053, "10.244.0.7"); /* f2 */
        add("udp", "10.0.0.1", 40036, "10.96.0.12", 53, "10.244.0.8");  /* f3 */
        add("udp", "10.0.0.1", 40037, "10.96.0.12", 53, "10.244.0.9");  /* f3 */
        add("tcp", "10.0.0.1", 40038, "10.96.0.12", 53, "10.244.0.8");  /* tcp */
        add("udp", "10.0.0.1", 40039, "10.96.0.13", 53, "10.244.0.7");  /* other service */
        assert_int_equal(kn_conntrack_delete_many(IPPROTO_UDP, f, KN_ARRAY_SIZE(f), deleted, &err), 0);
        assert_int_equal(deleted[0], 4);
        assert_int_equal(deleted[1], 1);
        l = list();
        for (int p = 40031; p <= 40039; p++) {
                bool gone = p == 40031 || p == 40033 || p == 40035 || p == 40036 || p == 40037;
                if (present(l, p) == gone)
                        fail_msg("entry with sport %d: %s", p, gone ? "not deleted" : "deleted");
        }
        /* nothing to do: no dump, no error */
        assert_int_equal(kn_conntrack_delete_many(IPPROTO_UDP, f, 0, deleted, &err), 0);
        assert_int_equal(deleted[0] + deleted[1], 0);
}

/* A Service that just got endpoints: only the flows that never went through DNAT go;
 * those already DNATed to an endpoint (e.g. across a restart of the proxy) stay. */
static void test_untranslated(void **state)
{
        kn_conntrack_filter f[] = {
                {.family = AF_INET, .orig_dst = addr("10.96.0.30"), .orig_dport = 53, .untranslated = true},
        };
        unsigned deleted[2] = {0, 0};
        kn_error err = { 0 };
        const char *l;
        (void)state;
        need_netns();
        add("udp", "10.0.0.1", 40041, "10.96.0.30", 53, "10.96.0.30"); /* untranslated: goes */
        add("udp", "10.0.0.1", 40042, "10.96.0.30", 53, "10.244.0.5"); /* DNATed: stays */
        add("udp", "10.0.0.1", 40043, "10.96.0.31", 53, "10.96.0.31"); /* other service: stays */
        assert_int_equal(kn_conntrack_delete_many(IPPROTO_UDP, f, KN_ARRAY_SIZE(f), deleted, &err), 0);
        l = list();
        if (deleted[0] != 1)
                fail_msg("deleted %u, left:\n%s", deleted[0], l);
        assert_false(present(l, 40041));
        assert_true(present(l, 40042));
        assert_true(present(l, 40043));
}

static void test_invalid(void **state)
{
        kn_addr v6 = addr("fd00::10");
        kn_error err = { 0 };
        unsigned deleted = 99;
        (void)state;
        assert_int_equal(kn_conntrack_delete(AF_INET, IPPROTO_UDP, &v6, 53, NULL, &deleted, &err), -EINVAL);
        assert_int_equal(err.code, -EINVAL);
        assert_non_null(strstr(err.msg, "invalid conntrack filter"));
        assert_int_equal(kn_conntrack_delete(AF_PACKET, IPPROTO_UDP, NULL, 53, NULL, &deleted, NULL), -EINVAL);
        assert_int_equal(kn_conntrack_delete(AF_INET, IPPROTO_ICMP, NULL, 0, NULL, &deleted, NULL), -EINVAL);
        assert_int_equal(deleted, 99); /* untouched on failure */
}

static void put(const char *dir, const char *name, const char *v)
{
        char path[512];
        FILE *f;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "we");
        assert_non_null(f);
        fputs(v, f);
        fclose(f);
}

static long long get(const char *dir, const char *name)
{
        char path[512], buf[64] = "";
        FILE *f;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "re");
        assert_non_null(f);
        assert_non_null(fgets(buf, sizeof(buf), f));
        fclose(f);
        return atoll(buf);
}

/* Upstream's arithmetic and write rules, on files in a temporary directory: max =
 * maxPerCore x CPUs, at least min; hashsize raised to max/4 only when below it;
 * timeouts 0 left alone; a refused write is counted, the others still happen. */
static void test_settings_files(void **state)
{
        char dir[] = "/tmp/kn-ct-XXXXXX";
        kn_conntrack_settings cs = {.proc_dir = dir, .sys_dir = dir};
        (void)state;
        assert_int_equal(kn_conntrack_max(32768, 131072, 2), 131072);
        assert_int_equal(kn_conntrack_max(32768, 131072, 8), 262144);
        assert_int_equal(kn_conntrack_max(0, 131072, 8), 0);
        assert_true(kn_conntrack_max(1, 0, 0) >= 1); /* the CPUs this process may use */

        assert_non_null(mkdtemp(dir));
        put(dir, "nf_conntrack_max", "100\n");
        put(dir, "hashsize", "10\n");
        put(dir, "nf_conntrack_tcp_timeout_established", "432000\n");
        put(dir, "nf_conntrack_tcp_timeout_close_wait", "60\n");
        put(dir, "nf_conntrack_udp_timeout", "30\n");
        put(dir, "nf_conntrack_tcp_be_liberal", "0\n");
        cs.max = 1000;
        cs.tcp_established_s = 86400;
        cs.tcp_close_wait_s = 3600;
        assert_int_equal(kn_conntrack_apply(&cs), 0);
        assert_int_equal(get(dir, "nf_conntrack_max"), 1000);
        assert_int_equal(get(dir, "hashsize"), 250);
        assert_int_equal(get(dir, "nf_conntrack_tcp_timeout_established"), 86400);
        assert_int_equal(get(dir, "nf_conntrack_tcp_timeout_close_wait"), 3600);
        assert_int_equal(get(dir, "nf_conntrack_udp_timeout"), 30);    /* 0: left */
        assert_int_equal(get(dir, "nf_conntrack_tcp_be_liberal"), 0); /* false: left */

        put(dir, "hashsize", "4096\n"); /* big enough: not lowered */
        cs.max = 2000;
        cs.udp_s = 120;
        cs.tcp_be_liberal = true;
        assert_int_equal(kn_conntrack_apply(&cs), 0);
        assert_int_equal(get(dir, "hashsize"), 4096);
        assert_int_equal(get(dir, "nf_conntrack_udp_timeout"), 120);
        assert_int_equal(get(dir, "nf_conntrack_tcp_be_liberal"), 1);

        /* the host refuses the hash size (here: it is a directory): counted, the rest set */
        {
                char hs[512];
                snprintf(hs, sizeof(hs), "%s/hashsize", dir);
                assert_int_equal(unlink(hs), 0);
                assert_int_equal(mkdir(hs, 0755), 0);
                cs.max = 100000;
                cs.udp_s = 240;
                assert_int_equal(kn_conntrack_apply(&cs), 1);
                assert_int_equal(get(dir, "nf_conntrack_max"), 100000);
                assert_int_equal(get(dir, "nf_conntrack_udp_timeout"), 240);
                rmdir(hs);
        }
        assert_int_equal(kn_rm_rf(dir), 0);
}

/* The real kernel, in the private network namespace: the per-namespace timeouts are
 * set; nf_conntrack_max is read-only outside the initial namespace, so it is refused
 * (and the global hash size never attempted), and the call goes on. */
static void test_settings_netns(void **state)
{
        const char *proc = "/proc/sys/net/netfilter";
        kn_conntrack_settings cs = {.tcp_established_s = 7201, .tcp_close_wait_s = 61, .udp_s = 31,
                                    .udp_stream_s = 121};
        (void)state;
        need_netns();
        cs.max = get(proc, "nf_conntrack_max") + 4; /* never equal: a write is attempted */
        assert_int_equal(kn_conntrack_apply(&cs), 1);
        assert_int_equal(get(proc, "nf_conntrack_tcp_timeout_established"), 7201);
        assert_int_equal(get(proc, "nf_conntrack_tcp_timeout_close_wait"), 61);
        assert_int_equal(get(proc, "nf_conntrack_udp_timeout"), 31);
        assert_int_equal(get(proc, "nf_conntrack_udp_timeout_stream"), 121);
        assert_int_equal(get(proc, "nf_conntrack_max"), cs.max - 4);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_clusterip),
                cmocka_unit_test(test_nodeport),
                cmocka_unit_test(test_many),
                cmocka_unit_test(test_many_filters_one_dump),
                cmocka_unit_test(test_untranslated),
                cmocka_unit_test(test_invalid),
                cmocka_unit_test(test_settings_files),
                cmocka_unit_test(test_settings_netns),
        };
        return cmocka_run_group_tests(tests, setup_netns, NULL);
}
