/* SPDX-License-Identifier: Apache-2.0 */
/* Rules for the nftables actuator (see nft.h): each kn_nft_op becomes the libnftnl
 * expressions nft itself would generate, and a CIDR list becomes an anonymous interval
 * set. Everything here is built in memory; nft.c appends the finished set, element and
 * rule messages to the transaction and does all netlink I/O. */
#include "nft_internal.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/ip_icmp.h>
#include <stdio.h>

#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>

struct rb {
        kn_nft_tx *tx;
        struct nftnl_rule *r;
        int family;
        const char *chain;
        bool have_proto;
};

static struct nftnl_expr *ex(struct rb *b, const char *name)
{
        struct nftnl_expr *e = nftnl_expr_alloc(name);
        if (!e)
                abort();
        nftnl_rule_add_expr(b->r, e);
        return e;
}

/* Register for a 32-bit word offset inside a concatenation, as nft numbers them. */
static uint32_t reg32(size_t words) { return words == 0 ? NFT_REG_1 : NFT_REG32_00 + (uint32_t)words; }

static void e_payload(struct rb *b, uint32_t base, uint32_t off, uint32_t len, uint32_t dreg)
{
        struct nftnl_expr *e = ex(b, "payload");
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
}

static void e_addr(struct rb *b, bool daddr, uint32_t len, uint32_t dreg)
{
        uint32_t off = b->family == AF_INET6 ? (daddr ? 24 : 8) : (daddr ? 16 : 12);
        e_payload(b, NFT_PAYLOAD_NETWORK_HEADER, off, len, dreg);
}

static void e_meta(struct rb *b, uint32_t key, uint32_t dreg)
{
        struct nftnl_expr *e = ex(b, "meta");
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
}

static void e_cmp(struct rb *b, bool neq, const void *data, uint32_t len)
{
        struct nftnl_expr *e = ex(b, "cmp");
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, neq ? NFT_CMP_NEQ : NFT_CMP_EQ);
        nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
}

static void e_cmp_u32(struct rb *b, bool neq, uint32_t v)
{
        e_cmp(b, neq, &v, 4);
}

static void e_bitwise(struct rb *b, const void *mask, const void *xor, uint32_t len)
{
        struct nftnl_expr *e = ex(b, "bitwise");
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
        nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
        nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor, len);
}

static void e_bitwise_u32(struct rb *b, uint32_t mask, uint32_t xor)
{
        e_bitwise(b, &mask, &xor, 4);
}

static void e_ct(struct rb *b, uint32_t key)
{
        struct nftnl_expr *e = ex(b, "ct");
        nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
}

static void e_lookup(struct rb *b, const char *set, uint32_t set_id, bool verdict, bool inv)
{
        struct nftnl_expr *e = ex(b, "lookup");
        nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
        nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
        if (set_id)
                nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
        if (verdict)
                nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
        if (inv)
                nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
}

static void e_verdict(struct rb *b, int code, const char *chain)
{
        struct nftnl_expr *e = ex(b, "immediate");
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)code);
        if (chain)
                nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
}

static void e_mark_set(struct rb *b, uint32_t mask, uint32_t xor)
{
        struct nftnl_expr *e;
        e_meta(b, NFT_META_MARK, NFT_REG_1);
        e_bitwise_u32(b, mask, xor);
        e = ex(b, "meta");
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_MARK);
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, NFT_REG_1);
}

/* ip saddr/daddr <cidr>: compare the prefix bytes, masking a partial last byte. */
static void e_cidr(struct rb *b, bool daddr, const kn_cidr *c, bool neg)
{
        uint8_t net[16], mask[16], zero[16] = {0};
        size_t al = kn_nft_addr_len(b->family);
        uint32_t nbytes;

        if (c->prefix <= 0) {
                if (neg) { /* != 0/0 never matches */
                        e_addr(b, daddr, 1, NFT_REG_1);
                        e_bitwise(b, zero, zero, 1);
                        e_cmp(b, true, zero, 1);
                }
                return;
        }
        nbytes = (uint32_t)(c->prefix + 7) / 8;
        memcpy(net, kn_nft_addr_bytes(&c->addr), al);
        memset(mask, 0xff, sizeof(mask));
        kn_nft_mask_bytes(mask, al, c->prefix);
        kn_nft_mask_bytes(net, al, c->prefix);
        e_addr(b, daddr, nbytes, NFT_REG_1);
        if (c->prefix % 8)
                e_bitwise(b, mask, zero, nbytes);
        e_cmp(b, neg, net, nbytes);
}

static int iv_cmp(const void *a, const void *b) { return memcmp(a, b, 16); }

/* One element of an anonymous interval set, as an NFTA_LIST_ELEM attribute. */
static void interval_elem(kn_buf *enc, const uint8_t *key, size_t al, bool end)
{
        struct kn_nft_abuf a = {.len = 0};
        size_t el, k;

        el = kn_nft_abuf_start(&a, NFTA_LIST_ELEM);
        if (end)
                kn_nft_abuf_put_u32(&a, NFTA_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
        k = kn_nft_abuf_start(&a, NFTA_SET_ELEM_KEY);
        kn_nft_abuf_put(&a, NFTA_DATA_VALUE, key, al);
        kn_nft_abuf_end(&a, k);
        kn_nft_abuf_end(&a, el);
        kn_buf_append(enc, a.b, a.len); /* no max: at most 2 * 65536 + 1 small elements */
}

/* ip saddr/daddr { c1, c2 }: an anonymous constant interval set, encoded as nft does:
 * a start element per interval and an end-flagged element at end+1. */
static void e_cidrs(struct rb *b, bool daddr, const kn_cidr *cidrs, size_t n, bool neg)
{
        kn_nft_tx *tx = b->tx;
        size_t al = kn_nft_addr_len(b->family), ni = 0, count = 0;
        uint8_t(*iv)[2][16];
        uint8_t zero[16] = {0}, ones[16];
        kn_buf enc = {.max = SIZE_MAX};
        struct nftnl_set *set;
        uint32_t id, bo = 2;
        uint8_t ud[16];
        size_t ulen = 0;
        bool ok;

        if (n == 0 || n > 65536) {
                kn_nft_tx_fail(tx, -EINVAL, "add rule in chain %s: CIDR list has %zu entries", b->chain, n);
                return;
        }
        iv = kn_calloc(n, sizeof(*iv));
        for (size_t i = 0; i < n; i++) {
                if (cidrs[i].addr.family != b->family) {
                        free(iv);
                        kn_nft_tx_fail(tx, -EAFNOSUPPORT, "add rule in chain %s: CIDR of another family", b->chain);
                        return;
                }
                memcpy(iv[i][0], kn_nft_addr_bytes(&cidrs[i].addr), al);
                kn_nft_mask_bytes(iv[i][0], al, cidrs[i].prefix);
                memcpy(iv[i][1], iv[i][0], al);
                for (size_t j = 0; j < al; j++) { /* last address: set host bits */
                        int bits = cidrs[i].prefix - (int)j * 8;
                        if (bits < 8)
                                iv[i][1][j] |= bits <= 0 ? 0xff : (uint8_t)(0xff >> bits);
                }
        }
        /* sort by start (big-endian bytes compare as numbers), merge overlapping and
         * adjacent intervals (as nft does: 192.0.2.1 and 192.0.2.2 become one range) */
        qsort(iv, n, sizeof(*iv), iv_cmp);
        for (size_t i = 0; i < n; i++) {
                if (ni > 0) {
                        uint8_t after[16]; /* the previous interval's end + 1 */
                        bool wrapped = true;
                        memcpy(after, iv[ni - 1][1], al);
                        for (size_t j = al; j-- > 0;)
                                if (++after[j] != 0) {
                                        wrapped = false;
                                        break;
                                }
                        if (wrapped || memcmp(iv[i][0], after, al) <= 0) {
                                if (memcmp(iv[i][1], iv[ni - 1][1], al) > 0)
                                        memcpy(iv[ni - 1][1], iv[i][1], al);
                                continue;
                        }
                }
                memmove(iv[ni], iv[i], sizeof(*iv));
                ni++;
        }
        /* elements: a leading end at zero unless the first interval starts there, then
         * per interval its start and, unless it reaches the last address, an end at end+1 */
        memset(ones, 0xff, al);
        if (memcmp(iv[0][0], zero, al) != 0) {
                interval_elem(&enc, zero, al, true);
                count++;
        }
        for (size_t i = 0; i < ni; i++) {
                uint8_t *nx = iv[i][1];
                interval_elem(&enc, iv[i][0], al, false);
                count++;
                if (memcmp(nx, ones, al) == 0)
                        continue;
                for (size_t j = al; j-- > 0;) /* end + 1 */
                        if (++nx[j] != 0)
                                break;
                interval_elem(&enc, nx, al, true);
                count++;
        }
        free(iv);

        id = ++tx->set_id;
        set = nftnl_set_alloc();
        if (!set)
                abort();
        nftnl_set_set_str(set, NFTNL_SET_TABLE, tx->table);
        nftnl_set_set_str(set, NFTNL_SET_NAME, "__set%d");
        nftnl_set_set_u32(set, NFTNL_SET_KEY_TYPE, b->family == AF_INET6 ? KN_NFT_TYPE_IPV6 : KN_NFT_TYPE_IPV4);
        nftnl_set_set_u32(set, NFTNL_SET_KEY_LEN, (uint32_t)al);
        nftnl_set_set_u32(set, NFTNL_SET_FLAGS, NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_INTERVAL);
        nftnl_set_set_u32(set, NFTNL_SET_ID, id);
        nftnl_set_set_u32(set, NFTNL_SET_DESC_SIZE, (uint32_t)count);
        kn_nft_udata_put(ud, &ulen, NFTNL_UDATA_SET_KEYBYTEORDER, &bo, 4);
        nftnl_set_set_data(set, NFTNL_SET_USERDATA, ud, (uint32_t)ulen);
        ok = kn_nft_tx_put_set(tx, set);
        nftnl_set_free(set);
        if (ok) /* the set, then its elements, then (later) the rule that uses it */
                kn_nft_tx_put_elems(tx, "__set%d", id, false, &enc);
        kn_buf_free(&enc);
        if (!ok)
                return;
        e_addr(b, daddr, (uint32_t)al, NFT_REG_1);
        e_lookup(b, "__set%d", id, false, neg);
}

/* [ip saddr .] [ip daddr .] meta l4proto . th dport, in consecutive registers */
static void e_concat_proto_port(struct rb *b, bool with_saddr, bool with_daddr)
{
        size_t w = 0, aw = kn_nft_addr_len(b->family) / 4;
        if (with_saddr) {
                e_addr(b, false, (uint32_t)kn_nft_addr_len(b->family), reg32(w));
                w += aw;
        }
        if (with_daddr) {
                e_addr(b, true, (uint32_t)kn_nft_addr_len(b->family), reg32(w));
                w += aw;
        }
        e_meta(b, NFT_META_L4PROTO, reg32(w));
        e_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, reg32(w + 1));
}

static void rule_op(struct rb *b, const kn_nft_op *op)
{
        kn_nft_tx *tx = b->tx;
        size_t al = kn_nft_addr_len(b->family);

        switch (op->type) {
        case KN_OP_CT_STATE_NEW:
                e_ct(b, NFT_CT_STATE);
                e_bitwise_u32(b, 1u << 3 /* NF_CT_STATE_BIT(IP_CT_NEW) */, 0);
                e_cmp_u32(b, !op->neg, 0);
                break;
        case KN_OP_CT_STATUS_DNAT:
                e_ct(b, NFT_CT_STATUS);
                e_bitwise_u32(b, 1u << 5 /* IPS_DST_NAT */, 0);
                e_cmp_u32(b, !op->neg, 0);
                break;
        case KN_OP_L4PROTO: {
                uint8_t p = (uint8_t)op->proto;
                e_meta(b, NFT_META_L4PROTO, NFT_REG_1);
                e_cmp(b, op->neg, &p, 1);
                b->have_proto = true;
                break;
        }
        case KN_OP_DADDR:
        case KN_OP_SADDR:
                if (op->addr.family != b->family) {
                        kn_nft_tx_fail(tx, -EAFNOSUPPORT, "add rule in chain %s: address of another family", b->chain);
                        return;
                }
                e_addr(b, op->type == KN_OP_DADDR, (uint32_t)al, NFT_REG_1);
                e_cmp(b, op->neg, kn_nft_addr_bytes(&op->addr), (uint32_t)al);
                break;
        case KN_OP_SADDR_IN_CIDR:
        case KN_OP_DADDR_IN_CIDR:
                if (!op->cidrs || op->n_cidrs < 1 || op->cidrs[0].addr.family != b->family) {
                        kn_nft_tx_fail(tx, -EINVAL, "add rule in chain %s: missing CIDR or CIDR of another family", b->chain);
                        return;
                }
                e_cidr(b, op->type == KN_OP_DADDR_IN_CIDR, &op->cidrs[0], op->neg);
                break;
        case KN_OP_SADDR_IN_CIDRS:
        case KN_OP_DADDR_IN_CIDRS:
                if (!op->cidrs) {
                        kn_nft_tx_fail(tx, -EINVAL, "add rule in chain %s: missing CIDR list", b->chain);
                        return;
                }
                e_cidrs(b, op->type == KN_OP_DADDR_IN_CIDRS, op->cidrs, op->n_cidrs, op->neg);
                break;
        case KN_OP_DADDR_IN_SET:
        case KN_OP_SADDR_IN_SET:
                if (!kn_nft_name_ok(tx, "set", op->name))
                        return;
                e_addr(b, op->type == KN_OP_DADDR_IN_SET, (uint32_t)al, NFT_REG_1);
                e_lookup(b, op->name, 0, false, op->neg);
                break;
        case KN_OP_FIB_DADDR_LOCAL:
        case KN_OP_FIB_SADDR_LOCAL: {
                struct nftnl_expr *e = ex(b, "fib");
                nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS,
                                   op->type == KN_OP_FIB_DADDR_LOCAL ? NFTA_FIB_F_DADDR : NFTA_FIB_F_SADDR);
                nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
                nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
                e_cmp_u32(b, op->neg, RTN_LOCAL);
                break;
        }
        case KN_OP_NUMGEN_EQ: {
                struct nftnl_expr *e;
                if (op->mod == 0 || op->value >= op->mod) {
                        kn_nft_tx_fail(tx, -EINVAL, "add rule in chain %s: numgen mod %u value %u", b->chain, op->mod, op->value);
                        return;
                }
                e = ex(b, "numgen");
                nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, NFT_REG_1);
                nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, op->mod);
                nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
                e_cmp_u32(b, op->neg, op->value);
                break;
        }
        case KN_OP_MARK_AND_NONZERO:
        case KN_OP_MARK_AND_ZERO:
                e_meta(b, NFT_META_MARK, NFT_REG_1);
                e_bitwise_u32(b, op->mark, 0);
                e_cmp_u32(b, (op->type == KN_OP_MARK_AND_NONZERO) != op->neg, 0);
                break;
        case KN_OP_IIFNAME: {
                char name[IFNAMSIZ] = {0};
                size_t len = op->name ? strlen(op->name) : 0;
                bool wild = len > 0 && op->name[len - 1] == '*';
                if (len == 0 || len >= IFNAMSIZ) {
                        kn_nft_tx_fail(tx, -EINVAL, "add rule in chain %s: bad interface name", b->chain);
                        return;
                }
                memcpy(name, op->name, len);
                if (wild && len == 1)
                        break; /* "*" matches every name */
                e_meta(b, NFT_META_IIFNAME, NFT_REG_1);
                e_cmp(b, op->neg, name, wild ? (uint32_t)len - 1 : IFNAMSIZ);
                break;
        }
        case KN_OP_VMAP_DADDR_PROTO_PORT:
        case KN_OP_VMAP_PROTO_PORT:
                if (!kn_nft_name_ok(tx, "map", op->name))
                        return;
                e_concat_proto_port(b, false, op->type == KN_OP_VMAP_DADDR_PROTO_PORT);
                e_lookup(b, op->name, 0, true, false);
                break;
        case KN_OP_HAIRPIN_IN_SET:
                if (!kn_nft_name_ok(tx, "set", op->name))
                        return;
                e_concat_proto_port(b, true, true);
                e_lookup(b, op->name, 0, false, op->neg);
                break;
        case KN_OP_UPDATE_SADDR: {
                struct nftnl_expr *e;
                if (!kn_nft_name_ok(tx, "set", op->name))
                        return;
                e_addr(b, false, (uint32_t)al, NFT_REG_1);
                e = ex(b, "dynset");
                nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG_1);
                nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
                nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, op->name);
                break;
        }
        case KN_OP_MARK_OR:
                e_mark_set(b, ~op->mark, op->mark);
                break;
        case KN_OP_MARK_XOR:
                e_mark_set(b, 0xffffffffu, op->mark);
                break;
        case KN_OP_MASQUERADE: {
                struct nftnl_expr *e = ex(b, "masq");
                nftnl_expr_set_u32(e, NFTNL_EXPR_MASQ_FLAGS, NF_NAT_RANGE_PROTO_RANDOM_FULLY);
                break;
        }
        case KN_OP_DNAT: {
                struct nftnl_expr *e;
                uint16_t port = htons(op->port);
                if (op->addr.family != b->family) {
                        kn_nft_tx_fail(tx, -EAFNOSUPPORT, "add rule in chain %s: dnat address of another family", b->chain);
                        return;
                }
                if (op->port && !b->have_proto) {
                        kn_nft_tx_fail(tx, -EINVAL, "add rule in chain %s: dnat to a port needs an l4proto match", b->chain);
                        return;
                }
                e = ex(b, "immediate");
                nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
                nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, kn_nft_addr_bytes(&op->addr), (uint32_t)al);
                if (op->port) {
                        e = ex(b, "immediate");
                        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_2);
                        nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &port, 2);
                }
                e = ex(b, "nat");
                nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
                nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, b->family == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
                nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
                if (op->port) {
                        nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, NFT_REG_2);
                        nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
                }
                break;
        }
        case KN_OP_ACCEPT: e_verdict(b, NF_ACCEPT, NULL); break;
        case KN_OP_DROP: e_verdict(b, NF_DROP, NULL); break;
        case KN_OP_RETURN: e_verdict(b, NFT_RETURN, NULL); break;
        case KN_OP_REJECT: {
                struct nftnl_expr *e = ex(b, "reject");
                nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMP_UNREACH);
                nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE,
                                  b->family == AF_INET6 ? ICMP6_DST_UNREACH_NOPORT : ICMP_PORT_UNREACH);
                break;
        }
        case KN_OP_JUMP:
        case KN_OP_GOTO:
                if (!kn_nft_name_ok(tx, "chain", op->name))
                        return;
                e_verdict(b, op->type == KN_OP_JUMP ? NFT_JUMP : NFT_GOTO, op->name);
                break;
        default:
                kn_nft_tx_fail(tx, -EINVAL, "add rule in chain %s: unknown operation %d", b->chain, (int)op->type);
        }
}

void kn_nft_tx_add_rule(kn_nft_tx *tx, const kn_nft_rule *r)
{
        struct rb b = {.tx = tx, .family = kn_nft_family(tx->n)};
        uint8_t ud[KN_NFT_COMMENT_MAX + 8];
        size_t ulen;

        if (tx->err || !r || !kn_nft_name_ok(tx, "chain", r->chain))
                return;
        if (r->n_ops > 256) {
                kn_nft_tx_fail(tx, -E2BIG, "add rule in chain %s: %zu operations", r->chain, r->n_ops);
                return;
        }
        b.chain = r->chain;
        b.r = nftnl_rule_alloc();
        if (!b.r)
                abort();
        nftnl_rule_set_str(b.r, NFTNL_RULE_TABLE, tx->table);
        nftnl_rule_set_str(b.r, NFTNL_RULE_CHAIN, r->chain);
        /* anonymous sets of this rule are emitted (before the rule) while its ops are built */
        for (size_t i = 0; i < r->n_ops && !tx->err; i++)
                rule_op(&b, &r->ops[i]);
        ulen = kn_nft_udata_comment(ud, 0, NFTNL_UDATA_RULE_COMMENT, r->comment);
        if (ulen)
                nftnl_rule_set_data(b.r, NFTNL_RULE_USERDATA, ud, (uint32_t)ulen);
        if (kn_nft_tx_put_rule(tx, b.r))
                tx->n_ops++;
        nftnl_rule_free(b.r);
}
