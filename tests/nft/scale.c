/* SPDX-License-Identifier: Apache-2.0 */
/* Scale check for proxy/nft.c, run by hand as root (not part of `make unit`):
 *   cc -O2 -D_GNU_SOURCE -o build/nft-scale tests/nft/scale.c proxy/nft.c core/util.c \
 *      $(pkg-config --cflags --libs libnftnl libmnl libcjson)
 *   build/nft-scale [SERVICES]      (default 10000)
 * In a private network namespace it builds SERVICES services x 2 endpoints as knode
 * lays them out (service chain: numgen random mod 2 == 0 meta l4proto tcp dnat to ep1;
 * meta l4proto tcp dnat to ep2; one cluster-ips and one service-ips element each) as
 * one transaction, then a second full sync (flush + rebuild), and prints the times.
 * KN_SCALE_EP_CHAINS=1 uses the older shape with a chain per endpoint (numgen goto
 * endpoint chains holding a hairpin mark rule and the dnat), for comparison. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>

#include "../../proxy/nft.h"

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kb(const char *key)
{
        char line[256];
        long v = -1;
        FILE *f = fopen("/proc/self/status", "r");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, key, strlen(key)) == 0)
                        v = atol(line + strlen(key) + 1);
        fclose(f);
        return v;
}

static const kn_nft_set service_ips = {.name = "service-ips", .key = KN_KEY_ADDR_PROTO_PORT, .verdict_map = true,
                                       .comment = "ClusterIP, ExternalIP and LoadBalancer IP traffic"};
static const kn_nft_set cluster_ips = {.name = "cluster-ips", .key = KN_KEY_ADDR, .comment = "Active ClusterIPs"};

static void build(kn_nft_tx *tx, int nsvc, bool resync, bool ep_chains)
{
        char svc[128], ep[2][128];
        kn_nft_chain base[] = {
                {.name = "nat-prerouting", .hook = KN_HOOK_PREROUTING, .type = "nat", .priority = -100},
                {.name = "nat-output", .hook = KN_HOOK_OUTPUT, .type = "nat", .priority = -100},
                {.name = "services"},
        };
        kn_nft_op jump[] = {{.type = KN_OP_JUMP, .name = "services"}};
        kn_nft_op vmap[] = {{.type = KN_OP_VMAP_DADDR_PROTO_PORT, .name = "service-ips"}};

        kn_nft_tx_add_table(tx, "rules for kube-proxy");
        for (size_t i = 0; i < KN_ARRAY_SIZE(base); i++) {
                kn_nft_tx_add_chain(tx, &base[i]);
                kn_nft_tx_flush_chain(tx, base[i].name);
        }
        kn_nft_tx_add_set(tx, &service_ips);
        kn_nft_tx_add_set(tx, &cluster_ips);
        kn_nft_tx_flush_set(tx, "service-ips");
        kn_nft_tx_flush_set(tx, "cluster-ips");
        kn_nft_tx_add_rule(tx, &(kn_nft_rule){.chain = "nat-prerouting", .ops = jump, .n_ops = 1});
        kn_nft_tx_add_rule(tx, &(kn_nft_rule){.chain = "nat-output", .ops = jump, .n_ops = 1});
        kn_nft_tx_add_rule(tx, &(kn_nft_rule){.chain = "services", .ops = vmap, .n_ops = 1});
        for (int s = 0; s < nsvc; s++) {
                kn_addr cip = {.family = AF_INET}, epa[2] = {{.family = AF_INET}, {.family = AF_INET}};
                cip.v4.s_addr = htonl(0xac1e0000u + (uint32_t)s);                 /* 172.30.x.x */
                snprintf(svc, sizeof(svc), "service-%08X-ns%d/svc%d/tcp/p80", (unsigned)s * 2654435761u, s % 100, s);
                kn_nft_tx_add_chain(tx, &(kn_nft_chain){.name = svc});
                if (resync)
                        kn_nft_tx_flush_chain(tx, svc);
                if (!ep_chains) {
                        for (int e = 0; e < 2; e++)
                                epa[e].v4.s_addr = htonl(0x0ab40000u + (uint32_t)s * 2 + (uint32_t)e);
                        kn_nft_op d0[] = {{.type = KN_OP_NUMGEN_EQ, .mod = 2, .value = 0},
                                          {.type = KN_OP_L4PROTO, .proto = IPPROTO_TCP},
                                          {.type = KN_OP_DNAT, .addr = epa[0], .port = 80}};
                        kn_nft_op d1[] = {{.type = KN_OP_L4PROTO, .proto = IPPROTO_TCP},
                                          {.type = KN_OP_DNAT, .addr = epa[1], .port = 80}};
                        kn_nft_tx_add_rule(tx, &(kn_nft_rule){.chain = svc, .ops = d0, .n_ops = 3});
                        kn_nft_tx_add_rule(tx, &(kn_nft_rule){.chain = svc, .ops = d1, .n_ops = 2});
                }
                for (int e = 0; ep_chains && e < 2; e++) {
                        epa[e].v4.s_addr = htonl(0x0ab40000u + (uint32_t)s * 2 + (uint32_t)e); /* 10.180.x.x */
                        snprintf(ep[e], sizeof(ep[e]), "endpoint-%08X-ns%d/svc%d/tcp/p80__10.180.%u.%u/80",
                                 (unsigned)(s * 2 + e) * 2246822519u, s % 100, s,
                                 (unsigned)((s * 2 + e) >> 8) & 255, (unsigned)(s * 2 + e) & 255);
                        kn_nft_tx_add_chain(tx, &(kn_nft_chain){.name = ep[e]});
                        if (resync)
                                kn_nft_tx_flush_chain(tx, ep[e]);
                        kn_nft_op hair[] = {{.type = KN_OP_SADDR, .addr = epa[e]}, {.type = KN_OP_MARK_OR, .mark = 0x4000}};
                        kn_nft_op dnat[] = {{.type = KN_OP_L4PROTO, .proto = IPPROTO_TCP},
                                            {.type = KN_OP_DNAT, .addr = epa[e], .port = 80}};
                        kn_nft_tx_add_rule(tx, &(kn_nft_rule){.chain = ep[e], .ops = hair, .n_ops = 2});
                        kn_nft_tx_add_rule(tx, &(kn_nft_rule){.chain = ep[e], .ops = dnat, .n_ops = 2});
                }
                if (ep_chains) {
                        kn_nft_op ng[] = {{.type = KN_OP_NUMGEN_EQ, .mod = 2, .value = 0},
                                          {.type = KN_OP_GOTO, .name = ep[0]}};
                        kn_nft_op g2[] = {{.type = KN_OP_GOTO, .name = ep[1]}};
                        kn_nft_tx_add_rule(tx, &(kn_nft_rule){.chain = svc, .ops = ng, .n_ops = 2});
                        kn_nft_tx_add_rule(tx, &(kn_nft_rule){.chain = svc, .ops = g2, .n_ops = 1});
                }
                kn_nft_tx_add_elem(tx, &cluster_ips, &(kn_nft_elem){.addr = cip});
                kn_nft_tx_add_elem(tx, &service_ips, &(kn_nft_elem){.addr = cip, .proto = IPPROTO_TCP, .port = 80,
                                                                    .verdict = KN_OP_GOTO, .chain = svc});
        }
}

int main(int argc, char **argv)
{
        int nsvc = argc > 1 ? atoi(argv[1]) : 10000;
        bool ep_chains = getenv("KN_SCALE_EP_CHAINS") && atoi(getenv("KN_SCALE_EP_CHAINS"));
        kn_error err = {0};
        kn_nft *n;

        if (unshare(CLONE_NEWNET) < 0) {
                perror("unshare(CLONE_NEWNET) (needs root)");
                return 1;
        }
        if (kn_nft_open(AF_INET, &n, &err) < 0) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
        }
        for (int pass = 0; pass < 2; pass++) {
                double t0 = now(), t1, t2;
                kn_nft_tx *tx = kn_nft_tx_new(n, "kube-proxy");
                build(tx, nsvc, pass == 1, ep_chains);
                t1 = now();
                int r = kn_nft_tx_commit(tx, &err);
                t2 = now();
                printf("%s: %d services, %zu ops: build %.3f s, commit %.3f s, total %.3f s%s%s\n",
                       pass ? "resync" : "initial", nsvc, kn_nft_tx_size(tx), t1 - t0, t2 - t1, t2 - t0,
                       r < 0 ? ", FAILED: " : "", r < 0 ? err.msg : "");
                kn_nft_tx_free(tx);
                if (r < 0)
                        return 1;
        }
        printf("RSS now %ld kB, peak %ld kB\n", rss_kb("VmRSS:"), rss_kb("VmHWM:"));
        if (argc > 2) /* show a sample */
                return system("nft list chain ip kube-proxy services; nft list ruleset | grep -c dnat") ? 1 : 0;
        kn_nft_close(n);
        return 0;
}
