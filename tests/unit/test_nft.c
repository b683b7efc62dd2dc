/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/nft: address helpers, and (as root) real transactions in a private network
 * namespace, checked against `nft list table` golden text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "need.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <sys/wait.h>

#include "../../proxy/nft.h"

static bool have_netns; /* set in main after unshare(CLONE_NEWNET) */

static void test_addr(void **state)
{
        kn_addr a;
        kn_cidr c;
        char buf[64];
        (void)state;

        assert_int_equal(kn_addr_parse("10.180.0.1", &a), 0);
        assert_int_equal(a.family, AF_INET);
        kn_addr_format(&a, buf, sizeof(buf));
        assert_string_equal(buf, "10.180.0.1");
        assert_int_equal(kn_addr_parse("fd00::1", &a), 0);
        assert_int_equal(a.family, AF_INET6);
        kn_addr_format(&a, buf, sizeof(buf));
        assert_string_equal(buf, "fd00::1");
        assert_int_equal(kn_addr_parse("10.0.0.256", &a), -EINVAL);
        assert_int_equal(kn_addr_parse("", &a), -EINVAL);
        assert_int_equal(kn_addr_parse("10.0.0.1/8", &a), -EINVAL);
        assert_int_equal(kn_addr_parse(NULL, &a), -EINVAL);

        assert_int_equal(kn_cidr_parse("10.0.0.0/8", &c), 0);
        assert_int_equal(c.prefix, 8);
        assert_int_equal(kn_cidr_parse("10.1.2.3/8", &c), 0); /* host bits cleared */
        kn_addr_format(&c.addr, buf, sizeof(buf));
        assert_string_equal(buf, "10.0.0.0");
        assert_int_equal(kn_cidr_parse("192.168.1.7", &c), 0);
        assert_int_equal(c.prefix, 32);
        assert_int_equal(kn_cidr_parse("::1/128", &c), 0);
        assert_int_equal(c.prefix, 128);
        assert_int_equal(kn_cidr_parse("fd00::/8", &c), 0);
        assert_int_equal(kn_cidr_parse("0.0.0.0/0", &c), 0);
        assert_int_equal(c.prefix, 0);
        assert_int_equal(kn_cidr_parse("10.0.0.0/33", &c), -EINVAL);
        assert_int_equal(kn_cidr_parse("fd00::/129", &c), -EINVAL);
        assert_int_equal(kn_cidr_parse("10.0.0.0/", &c), -EINVAL);
        assert_int_equal(kn_cidr_parse("10.0.0.0/8x", &c), -EINVAL);
        assert_int_equal(kn_cidr_parse("10.0.0.0/-1", &c), -EINVAL);
        assert_int_equal(kn_cidr_parse("/8", &c), -EINVAL);

        assert_int_equal(kn_cidr_parse("203.0.113.0/25", &c), 0);
        kn_addr_parse("203.0.113.127", &a);
        assert_true(kn_cidr_contains(&c, &a));
        kn_addr_parse("203.0.113.128", &a);
        assert_false(kn_cidr_contains(&c, &a));
        kn_addr_parse("fd00::1", &a);
        assert_false(kn_cidr_contains(&c, &a)); /* other family */
        kn_cidr_parse("0.0.0.0/0", &c);
        kn_addr_parse("1.2.3.4", &a);
        assert_true(kn_cidr_contains(&c, &a));
        kn_cidr_parse("fd00:1::/33", &c);
        kn_addr_parse("fd00:1:7fff::5", &a);
        assert_true(kn_cidr_contains(&c, &a));
        kn_addr_parse("fd00:1:8000::5", &a);
        assert_false(kn_cidr_contains(&c, &a));

        kn_addr_parse("fd00::1", &a);
        kn_addr_format(&a, buf, 4); /* too small: empty, no overflow */
        assert_string_equal(buf, "");
        kn_strv_free(NULL);
}

/* ---- real round trips (root, private netns) ---- */

static char *run(const char *cmd)
{
        FILE *f = popen(cmd, "r");
        kn_buf b = {.max = 64 << 20};
        char chunk[4096];
        size_t n;

        assert_non_null(f);
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                assert_int_equal(kn_buf_append(&b, chunk, n), 0);
        pclose(f);
        kn_buf_append(&b, "", 1);
        return b.data;
}

#define ADDR(s) ({ kn_addr _a; assert_int_equal(kn_addr_parse(s, &_a), 0); _a; })
#define CIDR(s) ({ kn_cidr _c; assert_int_equal(kn_cidr_parse(s, &_c), 0); _c; })
#define RULE(tx, ch, cm, ...)                                                          \
        do {                                                                           \
                const kn_nft_op _ops[] = {__VA_ARGS__};                                \
                kn_nft_rule _r = {.chain = ch, .ops = _ops, .n_ops = KN_ARRAY_SIZE(_ops), .comment = cm}; \
                kn_nft_tx_add_rule(tx, &_r);                                           \
        } while (0)

#define SVC "service-ULMVA6XW-ns1/svc1/tcp/p80"
#define EP1 "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
#define EP2 "endpoint-GTK6MW7G-ns1/svc1/tcp/p80__10.180.0.2/80"
#define AFF1 "affinity-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
#define EXT "external-ULMVA6XW-ns1/svc1/tcp/p80"
#define FW "firewall-ULMVA6XW-ns1/svc1/tcp/p80"

/* Every op type, in a layout-C-shaped table. */
static void build_all(kn_nft_tx *tx, bool v6)
{
        const char *cip = v6 ? "fd00:30::29" : "172.30.0.41", *ep1 = v6 ? "fd00:180::1" : "10.180.0.1",
                   *ep2 = v6 ? "fd00:180::2" : "10.180.0.2", *lb = v6 ? "2001:db8::5" : "5.6.7.8";
        const kn_cidr pod = CIDR(v6 ? "fd00::/48" : "10.0.0.0/8");
        const kn_cidr lo = CIDR(v6 ? "::1/128" : "127.0.0.0/8");
        const kn_cidr svccidr = CIDR(v6 ? "fd00:30::/108" : "10.96.0.0/16");
        /* adjacent entries merge into one range, as nft merges them */
        const kn_cidr ranges[] = {CIDR(v6 ? "2001:db8:1::/64" : "203.0.113.0/25"),
                                  CIDR(v6 ? "2001:db8:2::/60" : "198.51.100.7/32"),
                                  CIDR(v6 ? "2001:db8:1:1::/64" : "198.51.100.8/32")};
        const uint32_t mark = 0x4000;
        static const struct {
                const char *name;
                enum kn_nft_hook hook;
                const char *type;
                int prio;
        } base[] = {
                {"filter-prerouting-pre-dnat", KN_HOOK_PREROUTING, "filter", -110},
                {"filter-input", KN_HOOK_INPUT, "filter", 0},
                {"filter-output", KN_HOOK_OUTPUT, "filter", 0},
                {"nat-prerouting", KN_HOOK_PREROUTING, "nat", -100},
                {"nat-postrouting", KN_HOOK_POSTROUTING, "nat", 100},
        };
        static const char *regular[] = {"services", "masquerading", "cluster-ips-check", "firewall-check",
                                        "service-endpoints-check", "nodeport-endpoints-check", SVC, EP1, EP2,
                                        EXT, FW};
        kn_nft_set sets[] = {
                {.name = "cluster-ips", .key = KN_KEY_ADDR, .comment = "Active ClusterIPs"},
                {.name = "nodeport-ips", .key = KN_KEY_ADDR, .comment = "IPs that accept NodePort traffic"},
                {.name = "service-ips", .key = KN_KEY_ADDR_PROTO_PORT, .verdict_map = true,
                 .comment = "ClusterIP, ExternalIP and LoadBalancer IP traffic"},
                {.name = "service-nodeports", .key = KN_KEY_PROTO_PORT, .verdict_map = true, .comment = "NodePort traffic"},
                {.name = "no-endpoint-services", .key = KN_KEY_ADDR_PROTO_PORT, .verdict_map = true,
                 .comment = "vmap to drop or reject packets to services with no endpoints"},
                {.name = "firewall-ips", .key = KN_KEY_ADDR_PROTO_PORT, .verdict_map = true,
                 .comment = "destinations that are subject to LoadBalancerSourceRanges"},
                {.name = "hairpin-connections", .key = KN_KEY_ADDR_ADDR_PROTO_PORT, .comment = "service hairpin connections"},
                {.name = AFF1, .key = KN_KEY_ADDR, .dynamic_timeout = true, .timeout_s = 10800},
        };
        kn_nft_chain rc = {.name = "reject-chain", .comment = "helper for @no-endpoint-services / @no-endpoint-nodeports"};

        kn_nft_tx_add_table(tx, "rules for kube-proxy");
        for (size_t i = 0; i < KN_ARRAY_SIZE(base); i++) {
                kn_nft_chain c = {.name = base[i].name, .hook = base[i].hook, .type = base[i].type,
                                  .priority = base[i].prio};
                kn_nft_tx_add_chain(tx, &c);
        }
        for (size_t i = 0; i < KN_ARRAY_SIZE(regular); i++) {
                kn_nft_chain c = {.name = regular[i]};
                kn_nft_tx_add_chain(tx, &c);
        }
        kn_nft_tx_add_chain(tx, &rc);
        kn_nft_tx_add_chain(tx, &rc); /* create if missing: twice is fine */
        for (size_t i = 0; i < KN_ARRAY_SIZE(sets); i++) {
                kn_nft_tx_add_set(tx, &sets[i]);
                kn_nft_tx_add_set(tx, &sets[i]);
        }
        /* flushes come first in a sync */
        kn_nft_tx_flush_chain(tx, "services");
        kn_nft_tx_flush_set(tx, "cluster-ips");

        RULE(tx, "filter-prerouting-pre-dnat", NULL, {.type = KN_OP_CT_STATE_NEW}, {.type = KN_OP_JUMP, .name = "firewall-check"});
        RULE(tx, "filter-input", NULL, {.type = KN_OP_CT_STATE_NEW}, {.type = KN_OP_JUMP, .name = "nodeport-endpoints-check"});
        RULE(tx, "filter-input", NULL, {.type = KN_OP_CT_STATE_NEW}, {.type = KN_OP_JUMP, .name = "service-endpoints-check"});
        RULE(tx, "filter-output", NULL, {.type = KN_OP_CT_STATE_NEW}, {.type = KN_OP_JUMP, .name = "cluster-ips-check"});
        RULE(tx, "nat-prerouting", NULL, {.type = KN_OP_JUMP, .name = "services"});
        RULE(tx, "nat-postrouting", NULL, {.type = KN_OP_JUMP, .name = "masquerading"});
        RULE(tx, "masquerading", NULL, {.type = KN_OP_MARK_AND_NONZERO, .mark = mark},
             {.type = KN_OP_MARK_XOR, .mark = mark}, {.type = KN_OP_MASQUERADE});
        RULE(tx, "masquerading", NULL, {.type = KN_OP_CT_STATUS_DNAT},
             {.type = KN_OP_HAIRPIN_IN_SET, .name = "hairpin-connections"}, {.type = KN_OP_MASQUERADE});
        RULE(tx, "services", "masquerade clusterIP traffic from outside cluster",
             {.type = KN_OP_DADDR_IN_SET, .name = "cluster-ips"},
             {.type = KN_OP_SADDR_IN_CIDR, .neg = true, .cidrs = &pod, .n_cidrs = 1},
             {.type = KN_OP_MARK_OR, .mark = mark});
        RULE(tx, "services", NULL, {.type = KN_OP_VMAP_DADDR_PROTO_PORT, .name = "service-ips"});
        RULE(tx, "services", NULL, {.type = KN_OP_DADDR_IN_SET, .name = "nodeport-ips"},
             {.type = KN_OP_VMAP_PROTO_PORT, .name = "service-nodeports"});
        RULE(tx, "services", NULL, {.type = KN_OP_FIB_DADDR_LOCAL},
             {.type = KN_OP_DADDR_IN_CIDR, .neg = true, .cidrs = &lo, .n_cidrs = 1},
             {.type = KN_OP_VMAP_PROTO_PORT, .name = "service-nodeports"});
        RULE(tx, "reject-chain", NULL, {.type = KN_OP_REJECT});
        RULE(tx, "cluster-ips-check", "Reject traffic to invalid ports of ClusterIPs",
             {.type = KN_OP_DADDR_IN_SET, .name = "cluster-ips"}, {.type = KN_OP_REJECT});
        RULE(tx, "cluster-ips-check", "Drop traffic to unallocated ClusterIPs",
             {.type = KN_OP_DADDR_IN_CIDRS, .cidrs = &svccidr, .n_cidrs = 1}, {.type = KN_OP_DROP});
        RULE(tx, "firewall-check", NULL, {.type = KN_OP_VMAP_DADDR_PROTO_PORT, .name = "firewall-ips"});
        RULE(tx, "service-endpoints-check", NULL, {.type = KN_OP_VMAP_DADDR_PROTO_PORT, .name = "no-endpoint-services"});
        /* service chain with affinity, numgen and the last endpoint */
        RULE(tx, SVC, NULL, {.type = KN_OP_SADDR_IN_SET, .name = AFF1}, {.type = KN_OP_GOTO, .name = EP1});
        RULE(tx, SVC, NULL, {.type = KN_OP_NUMGEN_EQ, .mod = 2, .value = 0}, {.type = KN_OP_GOTO, .name = EP1});
        RULE(tx, SVC, NULL, {.type = KN_OP_GOTO, .name = EP2});
        RULE(tx, EP1, NULL, {.type = KN_OP_SADDR, .addr = ADDR(ep1)}, {.type = KN_OP_MARK_OR, .mark = mark});
        RULE(tx, EP1, NULL, {.type = KN_OP_UPDATE_SADDR, .name = AFF1});
        RULE(tx, EP1, NULL, {.type = KN_OP_L4PROTO, .proto = IPPROTO_TCP},
             {.type = KN_OP_DNAT, .addr = ADDR(ep1), .port = 80});
        RULE(tx, EP2, NULL, {.type = KN_OP_L4PROTO, .proto = IPPROTO_UDP},
             {.type = KN_OP_DNAT, .addr = ADDR(ep2), .port = 8080});
        RULE(tx, EXT, "short-circuit pod traffic", {.type = KN_OP_SADDR_IN_CIDR, .cidrs = &pod, .n_cidrs = 1},
             {.type = KN_OP_GOTO, .name = SVC});
        RULE(tx, EXT, "masquerade local traffic", {.type = KN_OP_FIB_SADDR_LOCAL}, {.type = KN_OP_MARK_OR, .mark = mark});
        RULE(tx, EXT, NULL, {.type = KN_OP_IIFNAME, .name = "cni0"}, {.type = KN_OP_GOTO, .name = SVC});
        RULE(tx, EXT, NULL, {.type = KN_OP_IIFNAME, .neg = true, .name = "veth*"},
             {.type = KN_OP_DADDR, .addr = ADDR(cip)}, {.type = KN_OP_ACCEPT});
        RULE(tx, EXT, NULL, {.type = KN_OP_MARK_AND_ZERO, .mark = mark}, {.type = KN_OP_RETURN});
        RULE(tx, FW, NULL, {.type = KN_OP_SADDR_IN_CIDRS, .neg = true, .cidrs = ranges, .n_cidrs = 3},
             {.type = KN_OP_DROP});

        /* elements */
        kn_nft_elem e = {.addr = ADDR(cip)};
        kn_nft_tx_add_elem(tx, &sets[0], &e);
        e = (kn_nft_elem){.addr = ADDR(ep1)};
        kn_nft_tx_add_elem(tx, &sets[1], &e);
        e = (kn_nft_elem){.addr = ADDR(cip), .proto = IPPROTO_TCP, .port = 80, .verdict = KN_OP_GOTO, .chain = SVC};
        kn_nft_tx_add_elem(tx, &sets[2], &e);
        e = (kn_nft_elem){.addr = ADDR(lb), .proto = IPPROTO_TCP, .port = 80, .verdict = KN_OP_GOTO, .chain = EXT};
        kn_nft_tx_add_elem(tx, &sets[2], &e);
        e = (kn_nft_elem){.proto = IPPROTO_TCP, .port = 3001, .verdict = KN_OP_GOTO, .chain = EXT};
        kn_nft_tx_add_elem(tx, &sets[3], &e);
        e = (kn_nft_elem){.proto = IPPROTO_UDP, .port = 3002, .verdict = KN_OP_DROP, .comment = "ns2/svc2:p80"};
        kn_nft_tx_add_elem(tx, &sets[3], &e);
        e = (kn_nft_elem){.addr = ADDR(v6 ? "fd00:30::46" : "172.30.0.46"), .proto = IPPROTO_TCP, .port = 80,
                          .verdict = KN_OP_GOTO, .chain = "reject-chain", .comment = "ns6/svc6:p80"};
        kn_nft_tx_add_elem(tx, &sets[4], &e);
        e = (kn_nft_elem){.addr = ADDR(v6 ? "fd00:30::47" : "172.30.0.47"), .proto = IPPROTO_SCTP, .port = 81,
                          .verdict = KN_OP_JUMP, .chain = "reject-chain"};
        kn_nft_tx_add_elem(tx, &sets[4], &e);
        e = (kn_nft_elem){.addr = ADDR(v6 ? "fd00:30::48" : "172.30.0.48"), .proto = IPPROTO_TCP, .port = 82,
                          .verdict = KN_OP_ACCEPT};
        kn_nft_tx_add_elem(tx, &sets[4], &e);
        e = (kn_nft_elem){.addr = ADDR(lb), .proto = IPPROTO_TCP, .port = 80, .verdict = KN_OP_GOTO, .chain = FW};
        kn_nft_tx_add_elem(tx, &sets[5], &e);
        e = (kn_nft_elem){.addr = ADDR(ep1), .addr2 = ADDR(ep1), .proto = IPPROTO_TCP, .port = 80};
        kn_nft_tx_add_elem(tx, &sets[6], &e);
        /* an element added then deleted in the same transaction */
        e = (kn_nft_elem){.addr = ADDR(ep2), .addr2 = ADDR(ep2), .proto = IPPROTO_TCP, .port = 80};
        kn_nft_tx_add_elem(tx, &sets[6], &e);
        kn_nft_tx_delete_elem(tx, &sets[6], &e);
}

static const char golden_ip[] =
        "table ip kube-proxy {\n"
        "\tcomment \"rules for kube-proxy\"\n"
        "\tset cluster-ips {\n"
        "\t\ttype ipv4_addr\n"
        "\t\tcomment \"Active ClusterIPs\"\n"
        "\t\telements = { 172.30.0.41 }\n"
        "\t}\n"
        "\n"
        "\tset nodeport-ips {\n"
        "\t\ttype ipv4_addr\n"
        "\t\tcomment \"IPs that accept NodePort traffic\"\n"
        "\t\telements = { 10.180.0.1 }\n"
        "\t}\n"
        "\n"
        "\tmap service-ips {\n"
        "\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n"
        "\t\tcomment \"ClusterIP, ExternalIP and LoadBalancer IP traffic\"\n"
        "\t\telements = { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80,\n"
        "\t\t\t     5.6.7.8 . tcp . 80 : goto external-ULMVA6XW-ns1/svc1/tcp/p80 }\n"
        "\t}\n"
        "\n"
        "\tmap service-nodeports {\n"
        "\t\ttype inet_proto . inet_service : verdict\n"
        "\t\tcomment \"NodePort traffic\"\n"
        "\t\telements = { tcp . 3001 : goto external-ULMVA6XW-ns1/svc1/tcp/p80,\n"
        "\t\t\t     udp . 3002 comment \"ns2/svc2:p80\" : drop }\n"
        "\t}\n"
        "\n"
        "\tmap no-endpoint-services {\n"
        "\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n"
        "\t\tcomment \"vmap to drop or reject packets to services with no endpoints\"\n"
        "\t\telements = { 172.30.0.46 . tcp . 80 comment \"ns6/svc6:p80\" : goto reject-chain,\n"
        "\t\t\t     172.30.0.47 . sctp . 81 : jump reject-chain,\n"
        "\t\t\t     172.30.0.48 . tcp . 82 : accept }\n"
        "\t}\n"
        "\n"
        "\tmap firewall-ips {\n"
        "\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n"
        "\t\tcomment \"destinations that are subject to LoadBalancerSourceRanges\"\n"
        "\t\telements = { 5.6.7.8 . tcp . 80 : goto firewall-ULMVA6XW-ns1/svc1/tcp/p80 }\n"
        "\t}\n"
        "\n"
        "\tset hairpin-connections {\n"
        "\t\ttype ipv4_addr . ipv4_addr . inet_proto . inet_service\n"
        "\t\tcomment \"service hairpin connections\"\n"
        "\t\telements = { 10.180.0.1 . 10.180.0.1 . tcp . 80 }\n"
        "\t}\n"
        "\n"
        "\tset affinity-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 {\n"
        "\t\ttype ipv4_addr\n"
        "\t\tsize 65535\n" /* the kernel sizes a set that an update statement uses */
        "\t\tflags dynamic,timeout\n"
        "\t\ttimeout 3h\n"
        "\t}\n"
        "\n"
        "\tchain filter-prerouting-pre-dnat {\n"
        "\t\ttype filter hook prerouting priority dstnat - 10; policy accept;\n"
        "\t\tct state new jump firewall-check\n"
        "\t}\n"
        "\n"
        "\tchain filter-input {\n"
        "\t\ttype filter hook input priority filter; policy accept;\n"
        "\t\tct state new jump nodeport-endpoints-check\n"
        "\t\tct state new jump service-endpoints-check\n"
        "\t}\n"
        "\n"
        "\tchain filter-output {\n"
        "\t\ttype filter hook output priority filter; policy accept;\n"
        "\t\tct state new jump cluster-ips-check\n"
        "\t}\n"
        "\n"
        "\tchain nat-prerouting {\n"
        "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
        "\t\tjump services\n"
        "\t}\n"
        "\n"
        "\tchain nat-postrouting {\n"
        "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
        "\t\tjump masquerading\n"
        "\t}\n"
        "\n"
        "\tchain services {\n"
        "\t\tip daddr @cluster-ips ip saddr != 10.0.0.0/8 meta mark set meta mark | 0x00004000 comment \"masquerade clusterIP traffic from outside cluster\"\n"
        "\t\tip daddr . meta l4proto . th dport vmap @service-ips\n"
        "\t\tip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports\n"
        "\t\tfib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports\n"
        "\t}\n"
        "\n"
        "\tchain masquerading {\n"
        "\t\tmeta mark & 0x00004000 != 0x00000000 meta mark set meta mark ^ 0x00004000 masquerade fully-random\n"
        "\t\tct status dnat ip saddr . ip daddr . meta l4proto . th dport @hairpin-connections masquerade fully-random\n"
        "\t}\n"
        "\n"
        "\tchain cluster-ips-check {\n"
        "\t\tip daddr @cluster-ips reject comment \"Reject traffic to invalid ports of ClusterIPs\"\n"
        "\t\tip daddr { 10.96.0.0/16 } drop comment \"Drop traffic to unallocated ClusterIPs\"\n"
        "\t}\n"
        "\n"
        "\tchain firewall-check {\n"
        "\t\tip daddr . meta l4proto . th dport vmap @firewall-ips\n"
        "\t}\n"
        "\n"
        "\tchain service-endpoints-check {\n"
        "\t\tip daddr . meta l4proto . th dport vmap @no-endpoint-services\n"
        "\t}\n"
        "\n"
        "\tchain nodeport-endpoints-check {\n"
        "\t}\n"
        "\n"
        "\tchain service-ULMVA6XW-ns1/svc1/tcp/p80 {\n"
        "\t\tip saddr @affinity-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80\n"
        "\t\tnumgen random mod 2 0 goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80\n"
        "\t\tgoto endpoint-GTK6MW7G-ns1/svc1/tcp/p80__10.180.0.2/80\n"
        "\t}\n"
        "\n"
        "\tchain endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 {\n"
        "\t\tip saddr 10.180.0.1 meta mark set meta mark | 0x00004000\n"
        "\t\tupdate @affinity-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 { ip saddr }\n"
        "\t\tmeta l4proto tcp dnat to 10.180.0.1:80\n"
        "\t}\n"
        "\n"
        "\tchain endpoint-GTK6MW7G-ns1/svc1/tcp/p80__10.180.0.2/80 {\n"
        "\t\tmeta l4proto udp dnat to 10.180.0.2:8080\n"
        "\t}\n"
        "\n"
        "\tchain external-ULMVA6XW-ns1/svc1/tcp/p80 {\n"
        "\t\tip saddr 10.0.0.0/8 goto service-ULMVA6XW-ns1/svc1/tcp/p80 comment \"short-circuit pod traffic\"\n"
        "\t\tfib saddr type local meta mark set meta mark | 0x00004000 comment \"masquerade local traffic\"\n"
        "\t\tiifname \"cni0\" goto service-ULMVA6XW-ns1/svc1/tcp/p80\n"
        "\t\tiifname != \"veth*\" ip daddr 172.30.0.41 accept\n"
        "\t\tmeta mark & 0x00004000 == 0x00000000 return\n"
        "\t}\n"
        "\n"
        "\tchain firewall-ULMVA6XW-ns1/svc1/tcp/p80 {\n"
        "\t\tip saddr != { 198.51.100.7-198.51.100.8, 203.0.113.0/25 } drop\n"
        "\t}\n"
        "\n"
        "\tchain reject-chain {\n"
        "\t\tcomment \"helper for @no-endpoint-services / @no-endpoint-nodeports\"\n"
        "\t\treject\n"
        "\t}\n"
        "}\n";

static const char golden_ip6[] =
        "table ip6 kube-proxy {\n"
        "\tcomment \"rules for kube-proxy\"\n"
        "\tset cluster-ips {\n"
        "\t\ttype ipv6_addr\n"
        "\t\tcomment \"Active ClusterIPs\"\n"
        "\t\telements = { fd00:30::29 }\n"
        "\t}\n"
        "\n"
        "\tset nodeport-ips {\n"
        "\t\ttype ipv6_addr\n"
        "\t\tcomment \"IPs that accept NodePort traffic\"\n"
        "\t\telements = { fd00:180::1 }\n"
        "\t}\n"
        "\n"
        "\tmap service-ips {\n"
        "\t\ttype ipv6_addr . inet_proto . inet_service : verdict\n"
        "\t\tcomment \"ClusterIP, ExternalIP and LoadBalancer IP traffic\"\n"
        "\t\telements = { 2001:db8::5 . tcp . 80 : goto external-ULMVA6XW-ns1/svc1/tcp/p80,\n"
        "\t\t\t     fd00:30::29 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }\n"
        "\t}\n"
        "\n"
        "\tmap service-nodeports {\n"
        "\t\ttype inet_proto . inet_service : verdict\n"
        "\t\tcomment \"NodePort traffic\"\n"
        "\t\telements = { tcp . 3001 : goto external-ULMVA6XW-ns1/svc1/tcp/p80,\n"
        "\t\t\t     udp . 3002 comment \"ns2/svc2:p80\" : drop }\n"
        "\t}\n"
        "\n"
        "\tmap no-endpoint-services {\n"
        "\t\ttype ipv6_addr . inet_proto . inet_service : verdict\n"
        "\t\tcomment \"vmap to drop or reject packets to services with no endpoints\"\n"
        "\t\telements = { fd00:30::46 . tcp . 80 comment \"ns6/svc6:p80\" : goto reject-chain,\n"
        "\t\t\t     fd00:30::47 . sctp . 81 : jump reject-chain,\n"
        "\t\t\t     fd00:30::48 . tcp . 82 : accept }\n"
        "\t}\n"
        "\n"
        "\tmap firewall-ips {\n"
        "\t\ttype ipv6_addr . inet_proto . inet_service : verdict\n"
        "\t\tcomment \"destinations that are subject to LoadBalancerSourceRanges\"\n"
        "\t\telements = { 2001:db8::5 . tcp . 80 : goto firewall-ULMVA6XW-ns1/svc1/tcp/p80 }\n"
        "\t}\n"
        "\n"
        "\tset hairpin-connections {\n"
        "\t\ttype ipv6_addr . ipv6_addr . inet_proto . inet_service\n"
        "\t\tcomment \"service hairpin connections\"\n"
        "\t\telements = { fd00:180::1 . fd00:180::1 . tcp . 80 }\n"
        "\t}\n"
        "\n"
        "\tset affinity-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 {\n"
        "\t\ttype ipv6_addr\n"
        "\t\tsize 65535\n"
        "\t\tflags dynamic,timeout\n"
        "\t\ttimeout 3h\n"
        "\t}\n"
        "\n"
        "\tchain filter-prerouting-pre-dnat {\n"
        "\t\ttype filter hook prerouting priority dstnat - 10; policy accept;\n"
        "\t\tct state new jump firewall-check\n"
        "\t}\n"
        "\n"
        "\tchain filter-input {\n"
        "\t\ttype filter hook input priority filter; policy accept;\n"
        "\t\tct state new jump nodeport-endpoints-check\n"
        "\t\tct state new jump service-endpoints-check\n"
        "\t}\n"
        "\n"
        "\tchain filter-output {\n"
        "\t\ttype filter hook output priority filter; policy accept;\n"
        "\t\tct state new jump cluster-ips-check\n"
        "\t}\n"
        "\n"
        "\tchain nat-prerouting {\n"
        "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
        "\t\tjump services\n"
        "\t}\n"
        "\n"
        "\tchain nat-postrouting {\n"
        "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
        "\t\tjump masquerading\n"
        "\t}\n"
        "\n"
        "\tchain services {\n"
        "\t\tip6 daddr @cluster-ips ip6 saddr != fd00::/48 meta mark set meta mark | 0x00004000 comment \"masquerade clusterIP traffic from outside cluster\"\n"
        "\t\tip6 daddr . meta l4proto . th dport vmap @service-ips\n"
        "\t\tip6 daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports\n"
        "\t\tfib daddr type local ip6 daddr != ::1 meta l4proto . th dport vmap @service-nodeports\n"
        "\t}\n"
        "\n"
        "\tchain masquerading {\n"
        "\t\tmeta mark & 0x00004000 != 0x00000000 meta mark set meta mark ^ 0x00004000 masquerade fully-random\n"
        "\t\tct status dnat ip6 saddr . ip6 daddr . meta l4proto . th dport @hairpin-connections masquerade fully-random\n"
        "\t}\n"
        "\n"
        "\tchain cluster-ips-check {\n"
        "\t\tip6 daddr @cluster-ips reject comment \"Reject traffic to invalid ports of ClusterIPs\"\n"
        "\t\tip6 daddr { fd00:30::/108 } drop comment \"Drop traffic to unallocated ClusterIPs\"\n"
        "\t}\n"
        "\n"
        "\tchain firewall-check {\n"
        "\t\tip6 daddr . meta l4proto . th dport vmap @firewall-ips\n"
        "\t}\n"
        "\n"
        "\tchain service-endpoints-check {\n"
        "\t\tip6 daddr . meta l4proto . th dport vmap @no-endpoint-services\n"
        "\t}\n"
        "\n"
        "\tchain nodeport-endpoints-check {\n"
        "\t}\n"
        "\n"
        "\tchain service-ULMVA6XW-ns1/svc1/tcp/p80 {\n"
        "\t\tip6 saddr @affinity-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80\n"
        "\t\tnumgen random mod 2 0 goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80\n"
        "\t\tgoto endpoint-GTK6MW7G-ns1/svc1/tcp/p80__10.180.0.2/80\n"
        "\t}\n"
        "\n"
        "\tchain endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 {\n"
        "\t\tip6 saddr fd00:180::1 meta mark set meta mark | 0x00004000\n"
        "\t\tupdate @affinity-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 { ip6 saddr }\n"
        "\t\tmeta l4proto tcp dnat to [fd00:180::1]:80\n"
        "\t}\n"
        "\n"
        "\tchain endpoint-GTK6MW7G-ns1/svc1/tcp/p80__10.180.0.2/80 {\n"
        "\t\tmeta l4proto udp dnat to [fd00:180::2]:8080\n"
        "\t}\n"
        "\n"
        "\tchain external-ULMVA6XW-ns1/svc1/tcp/p80 {\n"
        "\t\tip6 saddr fd00::/48 goto service-ULMVA6XW-ns1/svc1/tcp/p80 comment \"short-circuit pod traffic\"\n"
        "\t\tfib saddr type local meta mark set meta mark | 0x00004000 comment \"masquerade local traffic\"\n"
        "\t\tiifname \"cni0\" goto service-ULMVA6XW-ns1/svc1/tcp/p80\n"
        "\t\tiifname != \"veth*\" ip6 daddr fd00:30::29 accept\n"
        "\t\tmeta mark & 0x00004000 == 0x00000000 return\n"
        "\t}\n"
        "\n"
        "\tchain firewall-ULMVA6XW-ns1/svc1/tcp/p80 {\n"
        "\t\tip6 saddr != { 2001:db8:1::/63, 2001:db8:2::/60 } drop\n"
        "\t}\n"
        "\n"
        "\tchain reject-chain {\n"
        "\t\tcomment \"helper for @no-endpoint-services / @no-endpoint-nodeports\"\n"
        "\t\treject\n"
        "\t}\n"
        "}\n";

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Hash sets list their elements in hash order: sort the items of every
 * "elements = { ... }" block and put them on one line. */
static char *normalize(const char *in)
{
        kn_buf out = {.max = 64 << 20};
        const char *p = in, *start;

        while ((start = strstr(p, "elements = { "))) {
                const char *end = strstr(start, " }\n");
                char *items[4096], *block, *tok, *save = NULL;
                size_t n = 0;

                assert_non_null(end);
                start += strlen("elements = { ");
                kn_buf_append(&out, p, (size_t)(start - p));
                block = kn_strndup(start, (size_t)(end - start));
                for (tok = strtok_r(block, ",", &save); tok && n < 4096; tok = strtok_r(NULL, ",", &save)) {
                        while (*tok == '\n' || *tok == '\t' || *tok == ' ')
                                tok++;
                        items[n++] = tok;
                }
                qsort(items, n, sizeof(char *), cmp_str);
                for (size_t i = 0; i < n; i++) {
                        if (i)
                                kn_buf_append(&out, ", ", 2);
                        kn_buf_append(&out, items[i], strlen(items[i]));
                }
                free(block);
                p = end;
        }
        kn_buf_append(&out, p, strlen(p) + 1);
        return out.data;
}

static void check_golden(const char *family, const char *golden)
{
        char cmd[128];
        _cleanup_free_ char *out = NULL, *got = NULL, *want = NULL;

        snprintf(cmd, sizeof(cmd), "nft list table %s kube-proxy 2>&1", family);
        out = run(cmd);
        got = normalize(out);
        want = normalize(golden);
        if (strcmp(got, want) != 0) {
                char path[64];
                snprintf(path, sizeof(path), "/tmp/test_nft.%s.out", family);
                FILE *f = fopen(path, "w");
                if (f) {
                        fputs(out, f);
                        fclose(f);
                }
                print_error("nft list table %s kube-proxy differs from the golden text (output in %s)\n"
                            "normalized, want:\n%s\ngot:\n%s\n", family, path, want, got);
                fail();
        }
}

static void test_roundtrip_ip(void **state)
{
        kn_nft *n;
        kn_error err = {0};
        (void)state;

        need(have_netns, "a private network namespace with nft (root)");
        assert_int_equal(kn_nft_open(AF_INET, &n, &err), 0);
        kn_nft_tx *tx = kn_nft_tx_new(n, "kube-proxy");
        build_all(tx, false);
        assert_true(kn_nft_tx_size(tx) > 50);
        if (kn_nft_tx_commit(tx, &err) < 0)
                fail_msg("commit: %s", err.msg);
        kn_nft_tx_free(tx);
        check_golden("ip", golden_ip);

        /* a full resync over the existing table (flush everything listed, rebuild)
         * gives the same ruleset: add_* are create-if-missing */
        char **chains = NULL, **sets = NULL;
        assert_int_equal(kn_nft_list_chains(n, "kube-proxy", &chains, &err), 0);
        assert_int_equal(kn_nft_list_sets(n, "kube-proxy", &sets, &err), 0);
        size_t nc = 0, ns = 0;
        bool found = false;
        tx = kn_nft_tx_new(n, "kube-proxy");
        for (; chains[nc]; nc++) {
                found |= strcmp(chains[nc], SVC) == 0;
                kn_nft_tx_flush_chain(tx, chains[nc]);
        }
        for (; sets[ns]; ns++)
                kn_nft_tx_flush_set(tx, sets[ns]);
        assert_true(found);
        assert_int_equal(nc, 17);
        assert_int_equal(ns, 8); /* anonymous sets are not listed */
        kn_strv_free(chains);
        kn_strv_free(sets);
        build_all(tx, false);
        if (kn_nft_tx_commit(tx, &err) < 0)
                fail_msg("resync commit: %s", err.msg);
        kn_nft_tx_free(tx);
        check_golden("ip", golden_ip);
        kn_nft_close(n);
}

static void test_roundtrip_ip6(void **state)
{
        kn_nft *n;
        kn_error err = {0};
        (void)state;

        need(have_netns, "a private network namespace with nft (root)");
        assert_int_equal(kn_nft_open(AF_INET6, &n, &err), 0);
        assert_int_equal(kn_nft_family(n), AF_INET6);
        kn_nft_tx *tx = kn_nft_tx_new(n, "kube-proxy");
        build_all(tx, true);
        if (kn_nft_tx_commit(tx, &err) < 0)
                fail_msg("commit: %s", err.msg);
        kn_nft_tx_free(tx);
        check_golden("ip6", golden_ip6);
        kn_nft_close(n);
}

/* A rule that jumps to a missing chain fails the whole batch; the error names it. */
static void test_error_mapping(void **state)
{
        kn_nft *n;
        kn_error err = {0};
        kn_nft_chain a = {.name = "errtest-a"}, b = {.name = "errtest-b"};
        kn_nft_set s = {.name = "errtest-set", .key = KN_KEY_ADDR};
        kn_nft_elem e = {.addr = ADDR("10.1.2.3")};
        char **names = NULL;
        (void)state;

        need(have_netns, "a private network namespace with nft (root)");
        assert_int_equal(kn_nft_open(AF_INET, &n, &err), 0);
        kn_nft_tx *tx = kn_nft_tx_new(n, "errtest");
        kn_nft_tx_add_table(tx, NULL);
        kn_nft_tx_add_chain(tx, &a);
        kn_nft_tx_add_set(tx, &s);
        kn_nft_tx_add_elem(tx, &s, &e);
        for (int i = 0; i < 2000; i++)
                RULE(tx, "errtest-a", NULL, {.type = KN_OP_L4PROTO, .proto = IPPROTO_TCP}, {.type = KN_OP_ACCEPT});
        kn_nft_tx_add_chain(tx, &b);
        RULE(tx, "errtest-b", NULL, {.type = KN_OP_JUMP, .name = "no-such-chain"});
        for (int i = 0; i < 2000; i++)
                RULE(tx, "errtest-a", NULL, {.type = KN_OP_DROP});
        int r = kn_nft_tx_commit(tx, &err);
        assert_string_equal(kn_nft_tx_failed_object(tx), "errtest-b"); /* the rule's chain */
        kn_nft_tx_free(tx);
        assert_int_equal(r, -ENOENT);
        assert_int_equal(err.code, -ENOENT);
        if (!strstr(err.msg, "add rule in chain errtest-b"))
                fail_msg("error does not name the rule: %s", err.msg);
        /* nothing was applied */
        assert_int_equal(kn_nft_list_chains(n, "errtest", &names, &err), -ENOENT);
        assert_null(names);
        assert_int_equal(kn_nft_delete_table(n, "errtest", &err), 0); /* missing: fine */

        /* an element for a missing set: the error names the set */
        tx = kn_nft_tx_new(n, "errtest");
        kn_nft_tx_add_table(tx, NULL);
        kn_nft_tx_add_elem(tx, &s, &e);
        r = kn_nft_tx_commit(tx, &err);
        assert_null(kn_nft_tx_failed_object(tx)); /* an element: no chain or set object */
        kn_nft_tx_free(tx);
        assert_int_equal(r, -ENOENT);
        if (!strstr(err.msg, "add element to set errtest-set"))
                fail_msg("error does not name the set: %s", err.msg);

        /* builder errors are sticky and reported by commit without sending */
        char longname[300];
        memset(longname, 'x', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = 0;
        tx = kn_nft_tx_new(n, "errtest");
        kn_nft_tx_add_table(tx, NULL);
        kn_nft_chain lc = {.name = longname};
        kn_nft_tx_add_chain(tx, &lc);
        r = kn_nft_tx_commit(tx, &err);
        kn_nft_tx_free(tx);
        assert_int_equal(r, -ENAMETOOLONG);
        tx = kn_nft_tx_new(n, "errtest");
        kn_nft_tx_add_table(tx, NULL);
        kn_nft_tx_add_chain(tx, &a);
        RULE(tx, "errtest-a", NULL, {.type = KN_OP_DNAT, .addr = ADDR("fd00::1"), .port = 80});
        r = kn_nft_tx_commit(tx, &err);
        kn_nft_tx_free(tx);
        assert_int_equal(r, -EAFNOSUPPORT);
        assert_int_equal(kn_nft_list_chains(n, "errtest", &names, &err), -ENOENT);
        kn_nft_close(n);
}

/* A dry run tries every message and applies none: a good transaction passes and leaves
 * nothing behind, a bad one reports its own error (not the sentinel's). */
static void test_dry_run(void **state)
{
        kn_nft *n;
        kn_error err = {0};
        kn_nft_chain a = {.name = "dry-a"};
        char **names = NULL;
        kn_nft_tx *tx;
        int r;
        (void)state;

        need(have_netns, "a private network namespace with nft (root)");
        assert_int_equal(kn_nft_open(AF_INET, &n, &err), 0);
        tx = kn_nft_tx_new(n, "drytest");
        kn_nft_tx_add_table(tx, NULL);
        kn_nft_tx_add_chain(tx, &a);
        RULE(tx, "dry-a", NULL, {.type = KN_OP_DROP});
        r = kn_nft_tx_check(tx, &err);
        kn_nft_tx_free(tx);
        if (r < 0)
                fail_msg("a good transaction failed its dry run: %s", err.msg);
        assert_int_equal(kn_nft_list_chains(n, "drytest", &names, &err), -ENOENT); /* nothing applied */
        /* the table exists: still nothing applied, and a bad rule is named */
        tx = kn_nft_tx_new(n, "drytest");
        kn_nft_tx_add_table(tx, NULL);
        kn_nft_tx_add_chain(tx, &a);
        assert_int_equal(kn_nft_tx_commit(tx, &err), 0);
        kn_nft_tx_free(tx);
        tx = kn_nft_tx_new(n, "drytest");
        RULE(tx, "dry-a", NULL, {.type = KN_OP_DROP});
        RULE(tx, "dry-a", NULL, {.type = KN_OP_JUMP, .name = "no-such-chain"});
        r = kn_nft_tx_check(tx, &err);
        kn_nft_tx_free(tx);
        assert_int_equal(r, -ENOENT);
        if (!strstr(err.msg, "add rule in chain dry-a"))
                fail_msg("error does not name the rule: %s", err.msg);
        {
                _cleanup_free_ char *d = run("nft list chain ip drytest dry-a");
                if (strstr(d, "drop"))
                        fail_msg("a dry run applied a rule:\n%s", d);
        }
        assert_int_equal(kn_nft_delete_table(n, "drytest", &err), 0);
        kn_nft_close(n);
}

/* 100k map elements are split across messages; flush and delete of elements too. */
static void test_big_map(void **state)
{
        kn_nft *n;
        kn_error err = {0};
        kn_nft_chain c = {.name = "target"};
        kn_nft_set m = {.name = "big", .key = KN_KEY_ADDR_PROTO_PORT, .verdict_map = true};
        char **names = NULL;
        (void)state;

        need(have_netns, "a private network namespace with nft (root)");
        assert_int_equal(kn_nft_open(AF_INET, &n, &err), 0);
        kn_nft_tx *tx = kn_nft_tx_new(n, "bigtest");
        kn_nft_tx_add_table(tx, "big");
        kn_nft_tx_add_chain(tx, &c);
        kn_nft_tx_add_set(tx, &m);
        for (uint32_t i = 0; i < 100000; i++) {
                kn_nft_elem e = {.proto = IPPROTO_TCP, .port = (uint16_t)(1000 + i % 50000),
                                 .verdict = KN_OP_GOTO, .chain = "target",
                                 .comment = "ns/a-fairly-long-service-name-to-make-the-elements-bigger:port"};
                e.addr.family = AF_INET;
                e.addr.v4.s_addr = htonl(0x0a000000u + i / 2);
                kn_nft_tx_add_elem(tx, &m, &e);
        }
        assert_int_equal(kn_nft_tx_size(tx), 100003);
        if (kn_nft_tx_commit(tx, &err) < 0)
                fail_msg("commit: %s", err.msg);
        kn_nft_tx_free(tx);
        /* Listing 100k elements with nft takes seconds; deleting probes instead: a
         * delete fails with ENOENT unless the element is there. */
        static const uint32_t probes[] = {0, 50001, 99999};
        tx = kn_nft_tx_new(n, "bigtest");
        for (size_t i = 0; i < KN_ARRAY_SIZE(probes); i++) {
                kn_nft_elem e = {.proto = IPPROTO_TCP, .port = (uint16_t)(1000 + probes[i] % 50000)};
                e.addr.family = AF_INET;
                e.addr.v4.s_addr = htonl(0x0a000000u + probes[i] / 2);
                kn_nft_tx_delete_elem(tx, &m, &e);
        }
        if (kn_nft_tx_commit(tx, &err) < 0)
                fail_msg("delete elem: %s", err.msg);
        kn_nft_tx_free(tx);
        tx = kn_nft_tx_new(n, "bigtest");
        kn_nft_elem e = {.proto = IPPROTO_TCP, .port = 1000};
        e.addr.family = AF_INET;
        e.addr.v4.s_addr = htonl(0x0a000000u);
        kn_nft_tx_delete_elem(tx, &m, &e); /* gone now */
        assert_int_equal(kn_nft_tx_commit(tx, &err), -ENOENT);
        if (!strstr(err.msg, "delete element from set big"))
                fail_msg("error does not name the map: %s", err.msg);
        kn_nft_tx_free(tx);
        tx = kn_nft_tx_new(n, "bigtest");
        kn_nft_tx_flush_set(tx, "big");
        kn_nft_tx_delete_chain(tx, "target");
        if (kn_nft_tx_commit(tx, &err) < 0)
                fail_msg("flush: %s", err.msg);
        kn_nft_tx_free(tx);
        assert_int_equal(kn_nft_list_chains(n, "bigtest", &names, &err), 0);
        assert_null(names[0]);
        kn_strv_free(names);
        assert_int_equal(kn_nft_list_sets(n, "bigtest", &names, &err), 0);
        assert_string_equal(names[0], "big");
        assert_null(names[1]);
        kn_strv_free(names);

        /* delete table (twice: the second finds nothing) and the transaction form */
        assert_int_equal(kn_nft_delete_table(n, "bigtest", &err), 0);
        assert_int_equal(kn_nft_list_sets(n, "bigtest", &names, &err), -ENOENT);
        assert_int_equal(kn_nft_delete_table(n, "bigtest", &err), 0);
        tx = kn_nft_tx_new(n, "bigtest");
        kn_nft_tx_delete_table(tx);
        assert_int_equal(kn_nft_tx_commit(tx, &err), 0);
        kn_nft_tx_free(tx);
        kn_nft_close(n);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_addr),
                cmocka_unit_test(test_roundtrip_ip),
                cmocka_unit_test(test_roundtrip_ip6),
                cmocka_unit_test(test_error_mapping),
                cmocka_unit_test(test_dry_run),
                cmocka_unit_test(test_big_map),
        };

        /* The nftables tests need root and nft(8); they run in a private network
         * namespace so the host ruleset is never touched. */
        if (geteuid() == 0 && system("nft --version >/dev/null 2>&1") == 0 && unshare(CLONE_NEWNET) == 0)
                have_netns = true;
        return cmocka_run_group_tests_name("nft", tests, NULL, NULL);
}
