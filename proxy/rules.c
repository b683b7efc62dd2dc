/* SPDX-License-Identifier: Apache-2.0 */
#include "rules.h"

#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>

const kn_nft_set rules_set_cluster_ips = {"cluster-ips", KN_KEY_ADDR, false, false, 0, "Active ClusterIPs"};
const kn_nft_set rules_set_nodeport_ips = {"nodeport-ips", KN_KEY_ADDR, false, false, 0,
                                           "IPs that accept NodePort traffic"};
const kn_nft_set rules_set_service_ips = {"service-ips", KN_KEY_ADDR_PROTO_PORT, true, false, 0,
                                          "ClusterIP, ExternalIP and LoadBalancer IP traffic"};
const kn_nft_set rules_set_service_nodeports = {"service-nodeports", KN_KEY_PROTO_PORT, true, false, 0,
                                                "NodePort traffic"};
const kn_nft_set rules_set_no_endpoint_services = {
        "no-endpoint-services", KN_KEY_ADDR_PROTO_PORT, true, false, 0,
        "vmap to drop or reject packets to services with no endpoints"};
const kn_nft_set rules_set_no_endpoint_nodeports = {
        "no-endpoint-nodeports", KN_KEY_PROTO_PORT, true, false, 0,
        "vmap to drop or reject packets to service nodeports with no endpoints"};
const kn_nft_set rules_set_firewall_ips = {"firewall-ips", KN_KEY_ADDR_PROTO_PORT, true, false, 0,
                                           "destinations that are subject to LoadBalancerSourceRanges"};
const kn_nft_set rules_set_hairpin = {"hairpin-connections", KN_KEY_ADDR_ADDR_PROTO_PORT, false, false, 0,
                                      "service hairpin connections"};

/* ---- plan building helpers ---- */

static void *own(plan *p, void *ptr)
{
        p->owned = kn_realloc(p->owned, (p->n_owned + 1) * sizeof(void *));
        p->owned[p->n_owned++] = ptr;
        return ptr;
}

static char *own_str(plan *p, char *s) { return own(p, s); }

static const char *add_chain(plan *p, char *name)
{
        p->chains = kn_realloc(p->chains, (p->n_chains + 1) * sizeof(char *));
        p->chains[p->n_chains++] = own_str(p, name);
        return name;
}

/* Append a rule of N ops (copied into the arena). */
static void add_rule(plan *p, const char *chain, const char *comment, const kn_nft_op *ops, size_t n)
{
        kn_nft_op *copy = own(p, kn_malloc(n * sizeof(*ops)));
        memcpy(copy, ops, n * sizeof(*ops));
        p->rules = kn_realloc(p->rules, (p->n_rules + 1) * sizeof(*p->rules));
        p->rules[p->n_rules++] = (kn_nft_rule){chain, copy, n, comment};
}
#define RULE(p, chain, comment, ...)                                                                    \
        do {                                                                                            \
                const kn_nft_op _ops[] = {__VA_ARGS__};                                                 \
                add_rule(p, chain, comment, _ops, KN_ARRAY_SIZE(_ops));                                 \
        } while (0)

const char *rules_elem_id(const kn_nft_set *set, const kn_nft_elem *e, char *buf, size_t len)
{
        char a[INET6_ADDRSTRLEN] = "";

        if (set->key != KN_KEY_PROTO_PORT)
                kn_addr_format(&e->addr, a, sizeof(a));
        snprintf(buf, len, "%s|%s|%d|%u", set->name, a, e->proto, e->port);
        return buf;
}

static void add_elem(plan *p, const kn_nft_set *set, const kn_nft_elem *e)
{
        char k[RULES_ELEM_ID_MAX], v[300];
        plan_elem *pe;

        rules_elem_id(set, e, k, sizeof(k));
        for (size_t i = 0; i < p->n_elems; i++)
                if (strcmp(p->elems[i].id, k) == 0)
                        return; /* e.g. the ClusterIP of a multi-port service */
        snprintf(v, sizeof(v), "%d|%s", (int)e->verdict, e->chain ? e->chain : "");
        p->elems = kn_realloc(p->elems, (p->n_elems + 1) * sizeof(*p->elems));
        pe = &p->elems[p->n_elems++];
        pe->set = set;
        pe->e = *e;
        pe->id = own_str(p, kn_strdup(k));
        pe->value = own_str(p, kn_strdup(v));
}

void plan_free(plan *p)
{
        for (size_t i = 0; i < p->n_owned; i++)
                free(p->owned[i]);
        free(p->owned);
        free(p->chains);
        free(p->base_chains);
        free(p->sets);
        free(p->rules);
        free(p->elems);
        free(p->flows);
        *p = (plan){0};
}

/* ---- names ---- */

const char *rules_chain_comment(const char *name)
{
        return strcmp(name, "reject-chain") == 0 ? "helper for @no-endpoint-services / @no-endpoint-nodeports" : NULL;
}

char *rules_chain_name(const char *prefix, const char *s)
{
        static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        unsigned char d[SHA256_DIGEST_LENGTH];
        char hash[9];
        char *base;
        uint64_t bits = 0;

        SHA256((const unsigned char *)s, strlen(s), d);
        /* 8 base32 characters = the first 40 bits */
        for (int i = 0; i < 5; i++)
                bits = (bits << 8) | d[i];
        for (int i = 0; i < 8; i++)
                hash[i] = b32[(bits >> (35 - 5 * i)) & 31];
        hash[8] = '\0';
        base = kn_asprintf("%s-%s", hash, s);
        if (strlen(base) > 240)
                strcpy(base + 237, "...");
        {
                char *name = kn_asprintf("%s-%s", prefix, base);
                free(base);
                return name;
        }
}

/* ---- the static skeleton ---- */

#define OP(t, ...) ((kn_nft_op){.type = (t), __VA_ARGS__})

static bool has_detector(const rules_config *c) { return c->n_cluster_cidrs || c->local_iface; }

/* "Traffic comes from a local pod" (or, with NEG, does not). */
static kn_nft_op local_match(plan *p, const rules_config *c, bool neg)
{
        if (c->local_iface)
                return OP(KN_OP_IIFNAME, .neg = neg,
                          .name = own_str(p, kn_asprintf("%s%s", c->local_iface, c->local_iface_prefix ? "*" : "")));
        return OP(c->n_cluster_cidrs == 1 ? KN_OP_SADDR_IN_CIDR : KN_OP_SADDR_IN_CIDRS, .neg = neg,
                  .cidrs = c->cluster_cidrs, .n_cidrs = c->n_cluster_cidrs);
}

void rules_static(const rules_config *c, plan *p)
{
        static const kn_nft_chain base[] = {
                {"filter-prerouting-pre-dnat", KN_HOOK_PREROUTING, "filter", -110, NULL},
                {"filter-output-pre-dnat", KN_HOOK_OUTPUT, "filter", -110, NULL},
                {"filter-input", KN_HOOK_INPUT, "filter", 0, NULL},
                {"filter-forward", KN_HOOK_FORWARD, "filter", 0, NULL},
                {"filter-output", KN_HOOK_OUTPUT, "filter", 0, NULL},
                {"nat-prerouting", KN_HOOK_PREROUTING, "nat", -100, NULL},
                {"nat-output", KN_HOOK_OUTPUT, "nat", -100, NULL},
                {"nat-postrouting", KN_HOOK_POSTROUTING, "nat", 100, NULL},
        };
        static const char *const regular[] = {"services", "masquerading", "cluster-ips-check", "firewall-check",
                                              "service-endpoints-check", "nodeport-endpoints-check",
                                              "reject-chain"};
        const kn_nft_set *sets[] = {&rules_set_cluster_ips, &rules_set_nodeport_ips, &rules_set_service_ips,
                                    &rules_set_service_nodeports, &rules_set_no_endpoint_services,
                                    &rules_set_no_endpoint_nodeports, &rules_set_firewall_ips,
                                    &rules_set_hairpin};
        static const kn_cidr lo4 = {.addr = {.family = AF_INET, .v4 = {0x0000007f}}, .prefix = 8};
        static kn_cidr lo6 = {.addr = {.family = AF_INET6}, .prefix = 128};
        const kn_cidr *lo = c->family == AF_INET6 ? &lo6 : &lo4;

        lo6.addr.v6.s6_addr[15] = 1;
        *p = (plan){0};
        p->base_chains = kn_malloc(sizeof(base));
        memcpy(p->base_chains, base, sizeof(base));
        p->n_base_chains = KN_ARRAY_SIZE(base);
        for (size_t i = 0; i < KN_ARRAY_SIZE(regular); i++)
                add_chain(p, kn_strdup(regular[i]));
        p->sets = kn_malloc(sizeof(kn_nft_set) * KN_ARRAY_SIZE(sets));
        for (size_t i = 0; i < KN_ARRAY_SIZE(sets); i++)
                p->sets[p->n_sets++] = *sets[i];

        RULE(p, "filter-prerouting-pre-dnat", NULL, OP(KN_OP_CT_STATE_NEW), OP(KN_OP_JUMP, .name = "firewall-check"));
        RULE(p, "filter-output-pre-dnat", NULL, OP(KN_OP_CT_STATE_NEW), OP(KN_OP_JUMP, .name = "firewall-check"));
        RULE(p, "filter-input", NULL, OP(KN_OP_CT_STATE_NEW), OP(KN_OP_JUMP, .name = "nodeport-endpoints-check"));
        RULE(p, "filter-input", NULL, OP(KN_OP_CT_STATE_NEW), OP(KN_OP_JUMP, .name = "service-endpoints-check"));
        RULE(p, "filter-forward", NULL, OP(KN_OP_CT_STATE_NEW), OP(KN_OP_JUMP, .name = "service-endpoints-check"));
        RULE(p, "filter-forward", NULL, OP(KN_OP_CT_STATE_NEW), OP(KN_OP_JUMP, .name = "cluster-ips-check"));
        RULE(p, "filter-output", NULL, OP(KN_OP_CT_STATE_NEW), OP(KN_OP_JUMP, .name = "service-endpoints-check"));
        RULE(p, "filter-output", NULL, OP(KN_OP_CT_STATE_NEW), OP(KN_OP_JUMP, .name = "cluster-ips-check"));
        RULE(p, "nat-prerouting", NULL, OP(KN_OP_JUMP, .name = "services"));
        RULE(p, "nat-output", NULL, OP(KN_OP_JUMP, .name = "services"));
        RULE(p, "nat-postrouting", NULL, OP(KN_OP_JUMP, .name = "masquerading"));

        RULE(p, "masquerading", NULL, OP(KN_OP_MARK_AND_NONZERO, .mark = c->mark), OP(KN_OP_MARK_XOR, .mark = c->mark),
             OP(KN_OP_MASQUERADE));
        RULE(p, "masquerading", NULL, OP(KN_OP_CT_STATUS_DNAT), OP(KN_OP_HAIRPIN_IN_SET, .name = "hairpin-connections"),
             OP(KN_OP_MASQUERADE));
        RULE(p, "reject-chain", NULL, OP(KN_OP_REJECT));
        RULE(p, "cluster-ips-check", "Reject traffic to invalid ports of ClusterIPs",
             OP(KN_OP_DADDR_IN_SET, .name = "cluster-ips"), OP(KN_OP_REJECT));
        if (c->n_service_cidrs)
                RULE(p, "cluster-ips-check", "Drop traffic to unallocated ClusterIPs",
                     OP(c->n_service_cidrs == 1 ? KN_OP_DADDR_IN_CIDR : KN_OP_DADDR_IN_CIDRS,
                        .cidrs = c->service_cidrs, .n_cidrs = c->n_service_cidrs),
                     OP(KN_OP_DROP));
        RULE(p, "firewall-check", NULL, OP(KN_OP_VMAP_DADDR_PROTO_PORT, .name = "firewall-ips"));
        RULE(p, "service-endpoints-check", NULL, OP(KN_OP_VMAP_DADDR_PROTO_PORT, .name = "no-endpoint-services"));
        if (c->nodeport_all)
                RULE(p, "nodeport-endpoints-check", NULL, OP(KN_OP_DADDR_IN_CIDR, .neg = true, .cidrs = lo, .n_cidrs = 1),
                     OP(KN_OP_VMAP_PROTO_PORT, .name = "no-endpoint-nodeports"));
        else
                RULE(p, "nodeport-endpoints-check", NULL, OP(KN_OP_DADDR_IN_SET, .name = "nodeport-ips"),
                     OP(KN_OP_VMAP_PROTO_PORT, .name = "no-endpoint-nodeports"));

        if (c->masquerade_all)
                RULE(p, "services", "masquerade all clusterIP traffic", OP(KN_OP_DADDR_IN_SET, .name = "cluster-ips"),
                     OP(KN_OP_MARK_OR, .mark = c->mark));
        else if (has_detector(c))
                RULE(p, "services", "masquerade clusterIP traffic from outside cluster",
                     OP(KN_OP_DADDR_IN_SET, .name = "cluster-ips"), local_match(p, c, true),
                     OP(KN_OP_MARK_OR, .mark = c->mark));
        RULE(p, "services", NULL, OP(KN_OP_VMAP_DADDR_PROTO_PORT, .name = "service-ips"));
        if (c->nodeport_all)
                RULE(p, "services", NULL, OP(KN_OP_FIB_DADDR_LOCAL),
                     OP(KN_OP_DADDR_IN_CIDR, .neg = true, .cidrs = lo, .n_cidrs = 1),
                     OP(KN_OP_VMAP_PROTO_PORT, .name = "service-nodeports"));
        else
                RULE(p, "services", NULL, OP(KN_OP_DADDR_IN_SET, .name = "nodeport-ips"),
                     OP(KN_OP_VMAP_PROTO_PORT, .name = "service-nodeports"));
        for (size_t i = 0; !c->nodeport_all && i < c->n_nodeport_ips; i++)
                add_elem(p, &rules_set_nodeport_ips, &(kn_nft_elem){.addr = c->nodeport_ips[i]});
}

/* ---- one service ---- */

struct cat {
        model_ep *all;
        size_t n_all;
        model_ep **cluster, **local;
        size_t n_cluster, n_local;
        bool has_endpoints;
};

static bool in_list(const char *list, const char *name)
{
        size_t len = name ? strlen(name) : 0;
        for (const char *p = list; p && len;) {
                const char *comma = strchr(p, ',');
                size_t l = comma ? (size_t)(comma - p) : strlen(p);
                if (l == len && strncmp(p, name, len) == 0)
                        return true;
                p = comma ? comma + 1 : NULL;
        }
        return false;
}

/* Topology-aware routing: use only the ready endpoints hinted for this node (forNodes)
 * or zone (forZones), if every ready endpoint carries such a hint and at least one
 * matches; otherwise all of them. KIND 0 = node hints, 1 = zone hints. */
static bool topology_filter(model_ep **v, size_t *n, int kind, const char *me)
{
        size_t keep = 0;
        bool any = false;

        if (!me || !*me || !*n)
                return false;
        for (size_t i = 0; i < *n; i++) {
                const char *h = kind ? v[i]->zone_hints : v[i]->node_hints;
                if (!h)
                        return false;
                any |= in_list(h, me);
        }
        if (!any)
                return false;
        for (size_t i = 0; i < *n; i++)
                if (in_list(kind ? v[i]->zone_hints : v[i]->node_hints, me))
                        v[keep++] = v[i];
        *n = keep;
        return true;
}

/* Upstream's CategorizeEndpoints. */
static void categorize(const rules_config *rc, model_ep *eps, size_t n, struct cat *c)
{
        c->all = eps;
        c->n_all = n;
        c->cluster = kn_calloc(n + 1, sizeof(model_ep *));
        c->local = kn_calloc(n + 1, sizeof(model_ep *));
        for (size_t i = 0; i < n; i++) {
                if (eps[i].ready) {
                        c->cluster[c->n_cluster++] = &eps[i];
                        if (eps[i].local)
                                c->local[c->n_local++] = &eps[i];
                }
                if (eps[i].ready || (eps[i].serving && eps[i].terminating))
                        c->has_endpoints = true;
        }
        if (c->n_cluster && !topology_filter(c->cluster, &c->n_cluster, 0, rc->node_name))
                topology_filter(c->cluster, &c->n_cluster, 1, rc->node_zone);
        if (!c->n_cluster)
                for (size_t i = 0; i < n; i++)
                        if (eps[i].serving && eps[i].terminating)
                                c->cluster[c->n_cluster++] = &eps[i];
        if (!c->n_local)
                for (size_t i = 0; i < n; i++)
                        if (eps[i].local && eps[i].serving && eps[i].terminating)
                                c->local[c->n_local++] = &eps[i];
}

static char *ep_base(const model_service *s, const model_port *pt, const model_ep *e)
{
        char ip[INET6_ADDRSTRLEN];
        kn_addr_format(&e->addr, ip, sizeof(ip));
        for (char *q = ip; *q; q++)
                if (*q == ':')
                        *q = '.';
        return kn_asprintf("%s/%s/%s/%s__%s/%u", s->ns, s->name, model_proto_name(pt->proto), pt->name, ip, e->port);
}

/* The endpoint-choosing chain (service- or local-): a uniform random pick written as
 * plain rules ("numgen random mod K == 0 dnat to …", K = n, n-1, …, then an
 * unconditional dnat), which the kernel loads far faster than upstream's anonymous
 * numgen map per service. With ClientIP affinity each endpoint has a chain (it records
 * the client in its affinity set), checked first and then picked the same way. EPS
 * point into ALL; ep_chains[k] and aff_sets[k] name the chain and set of ALL[k]. */
static void pick_rules(plan *p, const char *chain, const model_port *pt, model_ep **eps, size_t n,
                       const model_ep *all, char **ep_chains, char **aff_sets, bool affinity)
{
        for (size_t i = 0; affinity && i < n; i++)
                RULE(p, chain, NULL, OP(KN_OP_SADDR_IN_SET, .name = aff_sets[eps[i] - all]),
                     OP(KN_OP_GOTO, .name = ep_chains[eps[i] - all]));
        for (size_t i = 0; i < n; i++) {
                kn_nft_op ops[3];
                size_t k = 0;
                if (i + 1 < n)
                        ops[k++] = OP(KN_OP_NUMGEN_EQ, .mod = (uint32_t)(n - i), .value = 0);
                if (affinity) {
                        ops[k++] = OP(KN_OP_GOTO, .name = ep_chains[eps[i] - all]);
                } else {
                        ops[k++] = OP(KN_OP_L4PROTO, .proto = pt->proto);
                        ops[k++] = OP(KN_OP_DNAT, .addr = eps[i]->addr, .port = eps[i]->port);
                }
                add_rule(p, chain, NULL, ops, k);
        }
}

static kn_nft_elem verdict_elem(const kn_addr *a, int proto, uint16_t port, enum kn_nft_op_type v, const char *chain,
                                const char *comment)
{
        kn_nft_elem e = {.proto = proto, .port = port, .verdict = v, .chain = chain, .comment = comment};
        if (a)
                e.addr = *a;
        return e;
}

static void service_port(const rules_config *c, const model *m, const model_service *s, const model_port *pt,
                         plan *p)
{
        const kn_addr *cip = &s->cluster_ips[model_family_index(c->family)];
        _cleanup_free_ char *base = kn_asprintf("%s/%s/%s/%s", s->ns, s->name, model_proto_name(pt->proto), pt->name);
        char *spn = own_str(p, pt->name[0] ? kn_asprintf("%s/%s:%s", s->ns, s->name, pt->name)
                                           : kn_asprintf("%s/%s", s->ns, s->name));
        model_ep *eps = NULL;
        struct cat cat = {0};
        kn_addr lb_ips[MODEL_MAX_IPS], ext_ips[MODEL_MAX_IPS];
        size_t n_lb = 0, n_ext = 0, n_ranges = 0;
        kn_cidr ranges[MODEL_MAX_IPS];
        bool ext_access, use_cluster, use_local, has_internal, has_external;
        const char *svc_chain = NULL, *local_chain = NULL, *ext_chain = NULL, *fw_chain = NULL;
        enum kn_nft_op_type noep = KN_OP_DROP;
        const char *noep_chain = NULL;

        for (size_t i = 0; i < s->n_external_ips; i++)
                if (s->external_ips[i].family == c->family)
                        ext_ips[n_ext++] = s->external_ips[i];
        for (size_t i = 0; i < s->n_lb_ips; i++)
                if (s->lb_ips[i].family == c->family)
                        lb_ips[n_lb++] = s->lb_ips[i];
        for (size_t i = 0; i < s->n_source_ranges; i++)
                if (s->source_ranges[i].addr.family == c->family)
                        ranges[n_ranges++] = s->source_ranges[i];

        {
                size_t n = model_endpoints(m, s, pt, c->family, &eps);
                own(p, eps);
                categorize(c, eps, n, &cat);
        }
        ext_access = pt->node_port || n_ext || n_lb;
        use_cluster = !s->itp_local || ext_access;
        use_local = s->itp_local || (s->etp_local && ext_access);
        has_internal = cat.has_endpoints && (!s->itp_local || cat.n_local);
        has_external = cat.has_endpoints && (!(s->etp_local && ext_access) || cat.n_local);
        if (!cat.has_endpoints) {
                noep = KN_OP_GOTO;
                noep_chain = "reject-chain";
        }
        if (cat.has_endpoints && s->itp_local && !cat.n_local)
                p->no_local_internal++;
        if (cat.has_endpoints && s->etp_local && ext_access && !cat.n_local)
                p->no_local_external++;

        if (cat.has_endpoints) {
                /* per endpoint used by either policy: its hairpin element if it is local
                 * (a pod reaching itself through the service is masqueraded), and with
                 * affinity its chain and affinity set */
                size_t n = cat.n_all;
                char **ep_chain = kn_calloc(n + 1, sizeof(char *)), **aff = kn_calloc(n + 1, sizeof(char *));
                bool *used = kn_calloc(n + 1, sizeof(bool));
                own(p, ep_chain), own(p, aff), own(p, used);
                for (size_t i = 0; use_cluster && i < cat.n_cluster; i++)
                        used[cat.cluster[i] - cat.all] = true;
                for (size_t i = 0; use_local && i < cat.n_local; i++)
                        used[cat.local[i] - cat.all] = true;
                for (size_t i = 0; i < n; i++) {
                        model_ep *e = &cat.all[i];
                        _cleanup_free_ char *eb = NULL;
                        if (!used[i])
                                continue;
                        if (e->local)
                                add_elem(p, &rules_set_hairpin,
                                         &(kn_nft_elem){.addr = e->addr, .addr2 = e->addr, .proto = pt->proto,
                                                        .port = e->port});
                        if (!s->affinity)
                                continue;
                        eb = ep_base(s, pt, e);
                        ep_chain[i] = (char *)add_chain(p, rules_chain_name("endpoint", eb));
                        aff[i] = own_str(p, rules_chain_name("affinity", eb));
                        p->sets = kn_realloc(p->sets, (p->n_sets + 1) * sizeof(*p->sets));
                        p->sets[p->n_sets++] = (kn_nft_set){aff[i], KN_KEY_ADDR, false, true, s->affinity_timeout_s, NULL};
                        RULE(p, ep_chain[i], NULL, OP(KN_OP_UPDATE_SADDR, .name = aff[i]));
                        RULE(p, ep_chain[i], NULL, OP(KN_OP_L4PROTO, .proto = pt->proto),
                             OP(KN_OP_DNAT, .addr = e->addr, .port = e->port));
                }
                if (use_cluster && cat.n_cluster) {
                        svc_chain = add_chain(p, rules_chain_name("service", base));
                        pick_rules(p, svc_chain, pt, cat.cluster, cat.n_cluster, cat.all, ep_chain, aff, s->affinity);
                }
                if (use_local && cat.n_local) {
                        local_chain = add_chain(p, rules_chain_name("local", base));
                        pick_rules(p, local_chain, pt, cat.local, cat.n_local, cat.all, ep_chain, aff, s->affinity);
                }
                if (ext_access) {
                        ext_chain = add_chain(p, rules_chain_name("external", base));
                        if (!s->etp_local) {
                                RULE(p, ext_chain, "masquerade", OP(KN_OP_MARK_OR, .mark = c->mark));
                                if (svc_chain)
                                        RULE(p, ext_chain, NULL, OP(KN_OP_GOTO, .name = svc_chain));
                        } else {
                                if (has_detector(c) && svc_chain)
                                        RULE(p, ext_chain, "short-circuit pod traffic", local_match(p, c, false),
                                             OP(KN_OP_GOTO, .name = svc_chain));
                                RULE(p, ext_chain, "masquerade local traffic", OP(KN_OP_FIB_SADDR_LOCAL),
                                     OP(KN_OP_MARK_OR, .mark = c->mark));
                                if (svc_chain)
                                        RULE(p, ext_chain, "short-circuit local traffic", OP(KN_OP_FIB_SADDR_LOCAL),
                                             OP(KN_OP_GOTO, .name = svc_chain));
                                if (local_chain)
                                        RULE(p, ext_chain, NULL, OP(KN_OP_GOTO, .name = local_chain));
                        }
                }
        }
        if (n_lb && n_ranges) {
                kn_cidr *r = own(p, kn_malloc((n_ranges + n_lb) * sizeof(kn_cidr)));
                size_t n_r = n_ranges;
                bool from_node = false;
                memcpy(r, ranges, n_ranges * sizeof(kn_cidr));
                for (size_t i = 0; i < n_ranges && c->node_ip.family == c->family; i++)
                        from_node |= kn_cidr_contains(&ranges[i], &c->node_ip);
                /* Upstream: a VIP-like LB's IP is often local to the node, so the node's own
                 * requests to it loop back with the VIP as source: admit the LB IPs too. */
                for (size_t i = 0; from_node && i < n_lb; i++)
                        r[n_r++] = (kn_cidr){.addr = lb_ips[i], .prefix = c->family == AF_INET6 ? 128 : 32};
                fw_chain = add_chain(p, rules_chain_name("firewall", base));
                RULE(p, fw_chain, NULL, OP(KN_OP_SADDR_IN_CIDRS, .neg = true, .cidrs = r, .n_cidrs = n_r),
                     OP(KN_OP_DROP));
        }

        /* map elements */
        add_elem(p, &rules_set_cluster_ips, &(kn_nft_elem){.addr = *cip});
        if (has_internal) {
                kn_nft_elem e = verdict_elem(cip, pt->proto, pt->port, KN_OP_GOTO, s->itp_local ? local_chain : svc_chain, NULL);
                add_elem(p, &rules_set_service_ips, &e);
        } else {
                kn_nft_elem e = verdict_elem(cip, pt->proto, pt->port, noep, noep_chain, spn);
                add_elem(p, &rules_set_no_endpoint_services, &e);
        }
        for (size_t pass = 0; pass < 2; pass++) {
                const kn_addr *v = pass ? lb_ips : ext_ips;
                size_t nv = pass ? n_lb : n_ext;
                for (size_t i = 0; i < nv; i++) {
                        if (cat.has_endpoints && ext_chain) {
                                kn_nft_elem e = verdict_elem(&v[i], pt->proto, pt->port, KN_OP_GOTO, ext_chain, NULL);
                                add_elem(p, &rules_set_service_ips, &e);
                        }
                        if (!has_external) {
                                kn_nft_elem e = verdict_elem(&v[i], pt->proto, pt->port, noep, noep_chain, spn);
                                add_elem(p, &rules_set_no_endpoint_services, &e);
                        }
                        if (pass && fw_chain) {
                                kn_nft_elem e = verdict_elem(&v[i], pt->proto, pt->port, KN_OP_GOTO, fw_chain, NULL);
                                add_elem(p, &rules_set_firewall_ips, &e);
                        }
                }
        }
        if (pt->node_port) {
                if (cat.has_endpoints && ext_chain) {
                        kn_nft_elem e = verdict_elem(NULL, pt->proto, pt->node_port, KN_OP_GOTO, ext_chain, NULL);
                        add_elem(p, &rules_set_service_nodeports, &e);
                }
                if (!has_external) {
                        kn_nft_elem e = verdict_elem(NULL, pt->proto, pt->node_port, noep, noep_chain, spn);
                        add_elem(p, &rules_set_no_endpoint_nodeports, &e);
                }
        }
        if (pt->proto == IPPROTO_UDP && cat.has_endpoints) {
                for (size_t i = 0; i < cat.n_all; i++) {
                        const kn_addr *ep = &cat.all[i].addr;
                        size_t nv = 1 + n_ext + n_lb + (pt->node_port ? 1 : 0);
                        /* an endpoint that stops serving (still in its slice) loses its flows */
                        if (!cat.all[i].ready && !cat.all[i].serving)
                                continue;
                        p->flows = kn_realloc(p->flows, (p->n_flows + nv) * sizeof(*p->flows));
                        p->flows[p->n_flows++] = (plan_flow){*cip, pt->port, *ep};
                        for (size_t k = 0; k < n_ext; k++)
                                p->flows[p->n_flows++] = (plan_flow){ext_ips[k], pt->port, *ep};
                        for (size_t k = 0; k < n_lb; k++)
                                p->flows[p->n_flows++] = (plan_flow){lb_ips[k], pt->port, *ep};
                        if (pt->node_port)
                                p->flows[p->n_flows++] = (plan_flow){{0}, pt->node_port, *ep};
                }
        }
        free(cat.cluster);
        free(cat.local);
}

void rules_service(const rules_config *c, const model *m, const model_service *s, plan *p)
{
        *p = (plan){0};
        if (!s || s->cluster_ips[model_family_index(c->family)].family != c->family)
                return;
        for (size_t i = 0; i < s->n_ports; i++)
                service_port(c, m, s, &s->ports[i], p);
}
