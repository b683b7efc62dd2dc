/* SPDX-License-Identifier: Apache-2.0 */
/* What the nftables table should hold, computed from the model: the static skeleton
 * (base chains, helper chains, sets and maps, their fixed rules) and, per Service,
 * its chains, rules, affinity sets and map elements. Pure computation, no I/O: the
 * result (a plan) is handed to nft.c by the proxier. Names and rule shapes follow
 * upstream kube-proxy's nftables mode; see docs/proxy-nftables-facts.md. */
#ifndef PROXY_RULES_H
#define PROXY_RULES_H

#include "model.h"
#include "nft.h"

#define KN_TABLE "kube-proxy"

typedef struct rules_config {
        int family;
        uint32_t mark;                /* 1 << masqueradeBit */
        /* The local-traffic detector (detectLocalMode): pod CIDRs of this family
         * (ClusterCIDR, NodeCIDR), or an interface name (BridgeInterface) or prefix
         * (InterfaceNamePrefix). Neither = no detector. */
        const kn_cidr *cluster_cidrs;
        size_t n_cluster_cidrs;
        const char *local_iface;
        bool local_iface_prefix;
        bool masquerade_all;
        const kn_cidr *service_cidrs; /* ServiceCIDRs of this family: drop unallocated ClusterIPs */
        size_t n_service_cidrs;
        bool nodeport_all;            /* nodePortAddresses match every address */
        const char *node_name, *node_zone; /* for topology hints (forNodes, forZones) */
        const kn_addr *nodeport_ips;  /* otherwise: the node IPs that accept NodePorts */
        size_t n_nodeport_ips;
        /* The node's IP of this family (bindAddress, else the Node's first InternalIP,
         * else loopback, as upstream): a loadBalancerSourceRange containing it also
         * admits the LB IPs as sources (the node reaching its own VIP). family 0 = none. */
        kn_addr node_ip;
} rules_config;

/* The static maps, shared by every plan (element descriptors point at these). */
extern const kn_nft_set rules_set_cluster_ips, rules_set_nodeport_ips, rules_set_service_ips,
        rules_set_service_nodeports, rules_set_no_endpoint_services, rules_set_no_endpoint_nodeports,
        rules_set_firewall_ips,
        rules_set_hairpin; /* its elements can be shared by Services: the proxier counts them */

typedef struct plan_elem {
        const kn_nft_set *set;
        kn_nft_elem e;
        char *id;      /* "set|key": identity */
        char *value;   /* verdict text, for change detection */
} plan_elem;

/* A UDP flow that the rules send to an endpoint: conntrack entries of flows that lose
 * their endpoint must be cleared (UDP has no connection end to make them go away). */
typedef struct plan_flow {
        kn_addr vip;    /* family 0: a NodePort (any local destination) */
        uint16_t dport;
        kn_addr ep;
} plan_flow;

typedef struct plan {
        char **chains;          /* regular chains this plan owns */
        size_t n_chains;
        kn_nft_chain *base_chains; /* static plan only */
        size_t n_base_chains;
        kn_nft_set *sets;       /* affinity sets (or the static sets) */
        size_t n_sets;
        kn_nft_rule *rules;
        size_t n_rules;
        plan_elem *elems;
        size_t n_elems;
        /* arena: everything the arrays above point into */
        void **owned;
        size_t n_owned;
        plan_flow *flows;
        size_t n_flows;
        /* counts for metrics */
        unsigned no_local_internal, no_local_external;
} plan;

/* An element's identity in a plan ("set|key"), written to BUF; returns BUF. */
const char *rules_elem_id(const kn_nft_set *set, const kn_nft_elem *e, char *buf, size_t len);
#define RULES_ELEM_ID_MAX 160

/* Static skeleton of the table. */
void rules_static(const rules_config *c, plan *ret);
/* Everything for one Service (all ports) in c->family; empty if it has no ClusterIP there. */
void rules_service(const rules_config *c, const model *m, const model_service *s, plan *ret);
void plan_free(plan *p);

/* The comment of a static regular chain, or NULL. */
const char *rules_chain_comment(const char *name);

/* Upstream's object names: PREFIX-HASH-S, HASH = base32(sha256(S))[:8], capped at 240. */
char *rules_chain_name(const char *prefix, const char *s);

#endif
