/* SPDX-License-Identifier: Apache-2.0 */
/* Private to nft.c and nft_expr.c; nothing else includes it.
 *
 * nft.c owns the transaction's batch buffer and all netlink I/O. nft_expr.c turns
 * kn_nft_op into libnftnl expressions (and the anonymous sets a rule uses) in memory,
 * then hands the finished objects to nft.c with kn_nft_tx_put_*. */
#ifndef PROXY_NFT_INTERNAL_H
#define PROXY_NFT_INTERNAL_H

#include <sys/socket.h>

#include "nft.h"

struct kn_nft_elem_group;
struct nftnl_rule;
struct nftnl_set;

#define KN_NFT_COMMENT_MAX 128 /* knftables CommentLengthMax */

/* nft's datatype numbers, for set keys */
enum { KN_NFT_TYPE_IPV4 = 7, KN_NFT_TYPE_IPV6 = 8, KN_NFT_TYPE_PROTO = 12, KN_NFT_TYPE_SERVICE = 13 };

struct kn_nft_tx {
        kn_nft *n;
        char *table;
        char *buf;
        size_t len, cap;
        size_t n_msgs;
        size_t n_ops;
        uint32_t set_id;
        struct kn_nft_elem_group *groups;
        size_t n_groups, cap_groups;
        int err;              /* sticky error from a void builder */
        char errmsg[256];
        char failed[256];     /* the chain or set the kernel refused (kn_nft_tx_failed_object) */
        uint32_t failed_off;  /* extended ack: offset of the refused attribute in its message */
        size_t failed_idx;    /* the refused message */
};

/* ---------- address helpers ---------- */

static inline size_t kn_nft_addr_len(int family) { return family == AF_INET6 ? 16 : 4; }
static inline const void *kn_nft_addr_bytes(const kn_addr *a)
{
        return a->family == AF_INET6 ? (const void *)&a->v6 : (const void *)&a->v4;
}
void kn_nft_mask_bytes(uint8_t *b, size_t len, int prefix);

/* ---------- transaction (nft.c) ---------- */

void kn_nft_tx_fail(kn_nft_tx *tx, int code, const char *fmt, ...) KN_PRINTF(3, 4);
bool kn_nft_name_ok(kn_nft_tx *tx, const char *what, const char *name);

/* Append one NEWSET message for S; false when the transaction has failed. */
bool kn_nft_tx_put_set(kn_nft_tx *tx, struct nftnl_set *s);
/* Append NEWSETELEM (DELSETELEM if DEL) messages for the NFTA_LIST_ELEM attributes
 * pre-encoded in ENC, for SET of the table (SET_ID: a set added in this batch, or 0). */
void kn_nft_tx_put_elems(kn_nft_tx *tx, const char *set, uint32_t set_id, bool del, const kn_buf *enc);
/* Append one NEWRULE message (appended to its chain) for R; false when the
 * transaction has failed. */
bool kn_nft_tx_put_rule(kn_nft_tx *tx, struct nftnl_rule *r);

/* userdata TLV (struct nftnl_udata: u8 type, u8 len, value) */
void kn_nft_udata_put(uint8_t *buf, size_t *len, uint8_t type, const void *data, size_t dlen);
size_t kn_nft_udata_comment(uint8_t *buf, size_t len, uint8_t type, const char *comment);

/* Tiny attribute writer for pre-encoded elements. */
struct kn_nft_abuf {
        uint8_t b[1024];
        size_t len;
};
size_t kn_nft_abuf_start(struct kn_nft_abuf *a, uint16_t type);
void kn_nft_abuf_end(struct kn_nft_abuf *a, size_t off);
void kn_nft_abuf_put(struct kn_nft_abuf *a, uint16_t type, const void *data, size_t len);
void kn_nft_abuf_put_u32(struct kn_nft_abuf *a, uint16_t type, uint32_t v_host);

#endif
