/* SPDX-License-Identifier: Apache-2.0 */
/* The nftables actuator: a transaction of table/chain/set/rule/element operations,
 * sent as ONE netlink batch per sync (one sendmsg), with errors mapped back to the
 * object that failed by sequence number. All netlink I/O of the proxy lives in nft.c.
 *
 * Rules are described at the level of the rules kube-proxy writes (kn_nft_op), not as
 * raw expressions; nft_expr.c turns each op into libnftnl expressions (in memory only). */
#ifndef PROXY_NFT_H
#define PROXY_NFT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "../core/util.h"

typedef struct kn_addr {
        int family;         /* AF_INET or AF_INET6 */
        union {
                struct in_addr v4;
                struct in6_addr v6;
        };
} kn_addr;

typedef struct kn_cidr {
        kn_addr addr;
        int prefix;         /* 0..32 / 0..128 */
} kn_cidr;

enum kn_nft_op_type {
        /* matches (all must hold) */
        KN_OP_CT_STATE_NEW,        /* ct state new */
        KN_OP_CT_STATUS_DNAT,      /* ct status dnat */
        KN_OP_L4PROTO,             /* meta l4proto <proto> (IPPROTO_*) */
        KN_OP_DADDR,               /* ip daddr <addr> */
        KN_OP_SADDR,               /* ip saddr <addr> */
        KN_OP_SADDR_IN_CIDR,       /* ip saddr <cidr> (neg: !=) */
        KN_OP_DADDR_IN_CIDR,       /* ip daddr <cidr> (neg: !=), e.g. != 127.0.0.0/8 */
        KN_OP_SADDR_IN_CIDRS,      /* ip saddr { c1, c2 } (neg: !=): an anonymous interval set */
        KN_OP_DADDR_IN_CIDRS,      /* ip daddr { c1, c2 } (neg: !=) */
        KN_OP_DADDR_IN_SET,        /* ip daddr @<set> */
        KN_OP_SADDR_IN_SET,        /* ip saddr @<set> */
        KN_OP_FIB_DADDR_LOCAL,     /* fib daddr type local */
        KN_OP_FIB_SADDR_LOCAL,     /* fib saddr type local */
        KN_OP_NUMGEN_EQ,           /* numgen random mod <mod> == <value> */
        KN_OP_MARK_AND_NONZERO,    /* meta mark & <mark> != 0 */
        KN_OP_MARK_AND_ZERO,       /* meta mark & <mark> == 0 */
        KN_OP_IIFNAME,             /* iifname "<str>" (str may end in '*'), neg: != */
        /* vmap lookups: a verdict comes from the map */
        KN_OP_VMAP_DADDR_PROTO_PORT, /* ip daddr . meta l4proto . th dport vmap @<set> */
        KN_OP_VMAP_PROTO_PORT,       /* meta l4proto . th dport vmap @<set> */
        /* statements */
        KN_OP_UPDATE_SADDR,        /* update @<set> { ip saddr } (the set's timeout applies) */
        KN_OP_MARK_OR,             /* meta mark set meta mark | <mark> */
        KN_OP_MARK_XOR,            /* meta mark set meta mark ^ <mark> */
        KN_OP_MASQUERADE,          /* masquerade fully-random */
        KN_OP_DNAT,                /* dnat to <addr>:<port> (needs a preceding KN_OP_L4PROTO) */
        /* verdicts (last) */
        KN_OP_ACCEPT,
        KN_OP_DROP,
        KN_OP_REJECT,              /* ICMP/ICMPv6 port unreachable */
        KN_OP_RETURN,
        KN_OP_JUMP,                /* jump <chain> */
        KN_OP_GOTO,                /* goto <chain> */
        /* added after the verdicts so existing values keep their numbers; a match: */
        KN_OP_HAIRPIN_IN_SET,      /* ip saddr . ip daddr . meta l4proto . th dport @<set> (neg: !=) */
};

typedef struct kn_nft_op {
        enum kn_nft_op_type type;
        bool neg;
        int proto;                 /* KN_OP_L4PROTO */
        kn_addr addr;              /* DADDR, SADDR, DNAT */
        uint16_t port;             /* DNAT, host order */
        const kn_cidr *cidrs;      /* *_IN_CIDR (first only), *_IN_CIDRS */
        size_t n_cidrs;
        const char *name;          /* set or chain name, iifname */
        uint32_t mod, value;       /* NUMGEN_EQ */
        uint32_t mark;             /* MARK_* */
} kn_nft_op;

typedef struct kn_nft_rule {
        const char *chain;
        const kn_nft_op *ops;
        size_t n_ops;
        const char *comment;       /* may be NULL */
} kn_nft_rule;

enum kn_nft_hook { KN_HOOK_NONE, KN_HOOK_PREROUTING, KN_HOOK_INPUT, KN_HOOK_FORWARD, KN_HOOK_OUTPUT,
                   KN_HOOK_POSTROUTING };

typedef struct kn_nft_chain {
        const char *name;
        enum kn_nft_hook hook;     /* NONE: a regular chain */
        const char *type;          /* "filter" or "nat" for base chains */
        int priority;
        const char *comment;
} kn_nft_chain;

/* Set key types, for the family of the transaction. */
enum kn_nft_key {
        KN_KEY_ADDR,               /* ipv4_addr / ipv6_addr */
        KN_KEY_ADDR_PROTO_PORT,    /* ipv4_addr . inet_proto . inet_service */
        KN_KEY_PROTO_PORT,         /* inet_proto . inet_service */
        KN_KEY_ADDR_ADDR_PROTO_PORT, /* ipv4_addr . ipv4_addr . inet_proto . inet_service */
};

typedef struct kn_nft_set {
        const char *name;
        enum kn_nft_key key;
        bool verdict_map;          /* map to verdicts */
        bool dynamic_timeout;      /* flags dynamic,timeout (affinity sets) */
        uint32_t timeout_s;        /* with dynamic_timeout */
        const char *comment;
} kn_nft_set;

typedef struct kn_nft_elem {
        kn_addr addr, addr2;       /* as the key type needs */
        int proto;
        uint16_t port;
        /* verdict maps: */
        enum kn_nft_op_type verdict; /* KN_OP_GOTO, KN_OP_JUMP, KN_OP_DROP, KN_OP_ACCEPT */
        const char *chain;         /* for GOTO/JUMP */
        const char *comment;       /* may be NULL (bounded to 128 bytes) */
} kn_nft_elem;

typedef struct kn_nft kn_nft;        /* a netlink socket for one family */
typedef struct kn_nft_tx kn_nft_tx;  /* one transaction */

/* FAMILY is AF_INET (table ip) or AF_INET6 (table ip6). */
int kn_nft_open(int family, kn_nft **ret, kn_error *err);
void kn_nft_close(kn_nft *n);
int kn_nft_family(const kn_nft *n);

kn_nft_tx *kn_nft_tx_new(kn_nft *n, const char *table);
void kn_nft_tx_free(kn_nft_tx *tx);
size_t kn_nft_tx_size(const kn_nft_tx *tx); /* number of operations queued */

void kn_nft_tx_add_table(kn_nft_tx *tx, const char *comment); /* create if missing */
void kn_nft_tx_delete_table(kn_nft_tx *tx);
void kn_nft_tx_add_chain(kn_nft_tx *tx, const kn_nft_chain *c);  /* create if missing */
void kn_nft_tx_flush_chain(kn_nft_tx *tx, const char *name);
void kn_nft_tx_delete_chain(kn_nft_tx *tx, const char *name);
void kn_nft_tx_add_set(kn_nft_tx *tx, const kn_nft_set *s);      /* create if missing */
void kn_nft_tx_flush_set(kn_nft_tx *tx, const char *name);       /* remove all elements */
void kn_nft_tx_delete_set(kn_nft_tx *tx, const char *name);
void kn_nft_tx_add_rule(kn_nft_tx *tx, const kn_nft_rule *r);
/* Elements are grouped per set and split across messages to stay under netlink limits. */
void kn_nft_tx_add_elem(kn_nft_tx *tx, const kn_nft_set *s, const kn_nft_elem *e);
void kn_nft_tx_delete_elem(kn_nft_tx *tx, const kn_nft_set *s, const kn_nft_elem *e);

/* Send the whole transaction as one batch. On failure nothing was applied and *err
 * names the object that failed ("add rule in chain X: No such file or directory"). */
int kn_nft_tx_commit(kn_nft_tx *tx, kn_error *err);
/* A dry run: send the transaction with a last message the kernel always refuses, so
 * every message is tried and nothing is applied. Returns 0 when only that message
 * failed, else the first error as kn_nft_tx_commit reports it. The transaction is spent. */
int kn_nft_tx_check(kn_nft_tx *tx, kn_error *err);
/* After a refused commit or check: the chain or set the refused message was about (a
rule's chain, an anonymous set's rule's chain), or NULL (a table or element message). */
const char *kn_nft_tx_failed_object(const kn_nft_tx *tx);
/* After a refused commit or check whose refused message added elements to set S: the
 * key of the element the kernel pointed at (extended ack), into *RET (key fields only).
 * -ENOENT when there is none. */
int kn_nft_tx_failed_element(const kn_nft_tx *tx, const kn_nft_set *s, kn_nft_elem *ret);

/* What is in the kernel now (adoption after a restart; stale-object cleanup).
 * Returns -ENOENT if the table does not exist. Names are returned as a NULL-terminated
 * array the caller frees with kn_strv_free. */
int kn_nft_list_chains(kn_nft *n, const char *table, char ***ret_names, kn_error *err);
int kn_nft_list_sets(kn_nft *n, const char *table, char ***ret_names, kn_error *err);
/* Delete the table if it exists (--cleanup). */
int kn_nft_delete_table(kn_nft *n, const char *table, kn_error *err);
void kn_strv_free(char **v);

/* Address helpers. */
int kn_addr_parse(const char *s, kn_addr *ret);           /* numeric v4/v6 */
int kn_cidr_parse(const char *s, kn_cidr *ret);           /* "10.0.0.0/8", "::1/128", bare IP = host */
bool kn_cidr_contains(const kn_cidr *c, const kn_addr *a);
void kn_addr_format(const kn_addr *a, char *buf, size_t len);

#endif
