/* SPDX-License-Identifier: Apache-2.0 */
/* The nftables actuator (see nft.h). A transaction is serialized as it is built into
 * one contiguous buffer of netlink messages; commit wraps it in BATCH_BEGIN/BATCH_END,
 * numbers the messages, sends it with one sendmsg and maps errors back to the message
 * that failed by sequence number (nftables src/mnl.c does the same).
 *
 * Only the END message asks for an ack: asking for one per message floods the
 * receive buffer on big batches. The kernel processes the batch synchronously inside
 * sendmsg, so every reply is queued by the time sendmsg returns. */
#include "nft_internal.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#define NAME_MAX_LEN 255             /* NFT_NAME_MAXLEN without the NUL */
#define BATCH_MAX ((size_t)1 << 30)  /* bound on one transaction's bytes */
#define MSG_RESERVE 65536            /* room reserved before building one message */
#define ELEMS_PER_MSG 800            /* elements per NEWSETELEM message */
#define ELEMS_NEST_MAX 60000         /* bytes per elements nest (nla_len is 16 bits) */
#define RCVBUF_SIZE (8 << 20)
#define DUMP_MAX_NAMES (1 << 20)
#define DUMP_BUF (128 * 1024)
#define HDR_LEN (MNL_ALIGN(sizeof(struct nlmsghdr)) + MNL_ALIGN(sizeof(struct nfgenmsg)))

struct kn_nft {
        struct mnl_socket *nl;
        int family;
        uint8_t nfproto;
        uint32_t portid;
        uint32_t seq;
        size_t sndbuf;
};

/* Elements queued for one set, pre-encoded as NFTA_LIST_ELEM attributes. */
struct kn_nft_elem_group {
        char *set;
        bool del, map;
        kn_buf enc;
        size_t count;
};

/* ---------- address helpers ---------- */

int kn_addr_parse(const char *s, kn_addr *ret)
{
        kn_addr a = {0};

        if (!s)
                return -EINVAL;
        if (inet_pton(AF_INET, s, &a.v4) == 1)
                a.family = AF_INET;
        else if (inet_pton(AF_INET6, s, &a.v6) == 1)
                a.family = AF_INET6;
        else
                return -EINVAL;
        *ret = a;
        return 0;
}

void kn_nft_mask_bytes(uint8_t *b, size_t len, int prefix)
{
        for (size_t i = 0; i < len; i++) {
                int bits = prefix - (int)i * 8;
                b[i] &= bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
        }
}

int kn_cidr_parse(const char *s, kn_cidr *ret)
{
        char ip[INET6_ADDRSTRLEN + 1];
        const char *slash;
        kn_cidr c = {0};
        size_t n;
        int r, max;

        if (!s)
                return -EINVAL;
        slash = strchr(s, '/');
        n = slash ? (size_t)(slash - s) : strlen(s);
        if (n == 0 || n >= sizeof(ip))
                return -EINVAL;
        memcpy(ip, s, n);
        ip[n] = 0;
        r = kn_addr_parse(ip, &c.addr);
        if (r < 0)
                return r;
        max = c.addr.family == AF_INET6 ? 128 : 32;
        if (slash) {
                const char *p = slash + 1;
                int v = 0;
                if (!*p || strlen(p) > 3)
                        return -EINVAL;
                for (; *p; p++) {
                        if (*p < '0' || *p > '9')
                                return -EINVAL;
                        v = v * 10 + (*p - '0');
                }
                if (v > max)
                        return -EINVAL;
                c.prefix = v;
        } else {
                c.prefix = max;
        }
        kn_nft_mask_bytes((uint8_t *)kn_nft_addr_bytes(&c.addr), kn_nft_addr_len(c.addr.family), c.prefix);
        *ret = c;
        return 0;
}

bool kn_cidr_contains(const kn_cidr *c, const kn_addr *a)
{
        uint8_t x[16], y[16];
        size_t len;

        if (!c || !a || c->addr.family != a->family)
                return false;
        len = kn_nft_addr_len(a->family);
        memcpy(x, kn_nft_addr_bytes(&c->addr), len);
        memcpy(y, kn_nft_addr_bytes(a), len);
        kn_nft_mask_bytes(x, len, c->prefix);
        kn_nft_mask_bytes(y, len, c->prefix);
        return memcmp(x, y, len) == 0;
}

void kn_addr_format(const kn_addr *a, char *buf, size_t len)
{
        if (!len)
                return;
        buf[0] = 0;
        if (!a || (a->family != AF_INET && a->family != AF_INET6) ||
            !inet_ntop(a->family, kn_nft_addr_bytes(a), buf, (socklen_t)len))
                buf[0] = 0;
}

void kn_strv_free(char **v)
{
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

/* ---------- socket ---------- */

int kn_nft_open(int family, kn_nft **ret, kn_error *err)
{
        kn_nft *n;
        int one = 1, rcv = RCVBUF_SIZE;

        if (family != AF_INET && family != AF_INET6)
                return kn_error_set(err, -EAFNOSUPPORT, "nftables: unsupported address family %d", family);
        n = kn_calloc(1, sizeof(*n));
        n->family = family;
        n->nfproto = family == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
        n->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
        if (!n->nl) {
                int e = -errno;
                free(n);
                return kn_error_set(err, e, "nftables: cannot open netlink socket: %s", strerror(-e));
        }
        if (mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                int e = -errno;
                kn_nft_close(n);
                return kn_error_set(err, e, "nftables: cannot bind netlink socket: %s", strerror(-e));
        }
        n->portid = mnl_socket_get_portid(n->nl);
        /* Errors carry only the header of the failing message, not all of it. */
        (void)mnl_socket_setsockopt(n->nl, NETLINK_CAP_ACK, &one, sizeof(one));
        (void)mnl_socket_setsockopt(n->nl, NETLINK_EXT_ACK, &one, sizeof(one));
        if (setsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) < 0)
                (void)setsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
        n->seq = (uint32_t)time(NULL);
        *ret = n;
        return 0;
}

void kn_nft_close(kn_nft *n)
{
        if (!n)
                return;
        if (n->nl)
                mnl_socket_close(n->nl);
        free(n);
}

int kn_nft_family(const kn_nft *n) { return n->family; }

/* ---------- transaction buffer ---------- */

void kn_nft_tx_fail(kn_nft_tx *tx, int code, const char *fmt, ...)
{
        va_list ap;

        if (tx->err)
                return;
        tx->err = code;
        va_start(ap, fmt);
        vsnprintf(tx->errmsg, sizeof(tx->errmsg), fmt, ap);
        va_end(ap);
}

static bool tx_reserve(kn_nft_tx *tx, size_t need)
{
        size_t cap;

        if (tx->len + need <= tx->cap)
                return true;
        if (tx->len + need > BATCH_MAX) {
                kn_nft_tx_fail(tx, -EFBIG, "transaction larger than %zu bytes", BATCH_MAX);
                return false;
        }
        cap = tx->cap ? tx->cap : 65536;
        while (cap < tx->len + need)
                cap *= 2;
        tx->buf = kn_realloc(tx->buf, cap);
        tx->cap = cap;
        return true;
}

bool kn_nft_name_ok(kn_nft_tx *tx, const char *what, const char *name)
{
        if (!name || !*name) {
                kn_nft_tx_fail(tx, -EINVAL, "%s: empty name", what);
                return false;
        }
        if (strlen(name) > NAME_MAX_LEN) {
                kn_nft_tx_fail(tx, -ENAMETOOLONG, "%s %.64s...: name longer than %d bytes", what, name, NAME_MAX_LEN);
                return false;
        }
        return true;
}

/* Start a message at the end of the buffer; the caller fills it and calls msg_end. */
static struct nlmsghdr *msg_begin(kn_nft_tx *tx, uint16_t type, uint16_t flags, size_t room)
{
        if (tx->err || !tx_reserve(tx, room))
                return NULL;
        return nftnl_nlmsg_build_hdr(tx->buf + tx->len, type, tx->n->nfproto, flags, 0);
}

static void msg_end(kn_nft_tx *tx, struct nlmsghdr *nlh)
{
        tx->len += MNL_ALIGN(nlh->nlmsg_len);
        tx->n_msgs++;
}

kn_nft_tx *kn_nft_tx_new(kn_nft *n, const char *table)
{
        kn_nft_tx *tx = kn_calloc(1, sizeof(*tx));

        tx->n = n;
        tx->table = kn_strdup(table ? table : "");
        tx_reserve(tx, HDR_LEN);
        tx->len = HDR_LEN; /* room for BATCH_BEGIN */
        if (!kn_nft_name_ok(tx, "table", table))
                return tx;
        return tx;
}

void kn_nft_tx_free(kn_nft_tx *tx)
{
        if (!tx)
                return;
        for (size_t i = 0; i < tx->n_groups; i++) {
                free(tx->groups[i].set);
                kn_buf_free(&tx->groups[i].enc);
        }
        free(tx->groups);
        free(tx->buf);
        free(tx->table);
        free(tx);
}

size_t kn_nft_tx_size(const kn_nft_tx *tx) { return tx->n_ops; }

void kn_nft_udata_put(uint8_t *buf, size_t *len, uint8_t type, const void *data, size_t dlen)
{
        buf[(*len)++] = type;
        buf[(*len)++] = (uint8_t)dlen;
        memcpy(buf + *len, data, dlen);
        *len += dlen;
}

size_t kn_nft_udata_comment(uint8_t *buf, size_t len, uint8_t type, const char *comment)
{
        char c[KN_NFT_COMMENT_MAX + 1];
        size_t n;

        if (!comment || !*comment)
                return len;
        n = strnlen(comment, KN_NFT_COMMENT_MAX);
        memcpy(c, comment, n);
        c[n] = 0;
        kn_nft_udata_put(buf, &len, type, c, n + 1);
        return len;
}

/* ---------- element groups ---------- */

void kn_nft_tx_put_elems(kn_nft_tx *tx, const char *set, uint32_t set_id, bool del, const kn_buf *enc)
{
        size_t off = 0;

        while (off < enc->len && !tx->err) {
                struct nlmsghdr *nlh = msg_begin(tx, del ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM,
                                                 del ? 0 : NLM_F_CREATE, MSG_RESERVE + 1024);
                struct nlattr *nest;
                size_t count = 0;

                if (!nlh)
                        break;
                mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, tx->table);
                mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
                if (set_id)
                        mnl_attr_put_u32(nlh, NFTA_SET_ELEM_LIST_SET_ID, htonl(set_id));
                nest = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
                while (off < enc->len && count < ELEMS_PER_MSG) {
                        const struct nlattr *a = (const struct nlattr *)(enc->data + off);
                        size_t alen = MNL_ALIGN(a->nla_len);
                        size_t used = (size_t)((char *)mnl_nlmsg_get_payload_tail(nlh) - (char *)nest);
                        if (count > 0 && used + alen > ELEMS_NEST_MAX)
                                break;
                        memcpy(mnl_nlmsg_get_payload_tail(nlh), a, alen);
                        nlh->nlmsg_len += (uint32_t)alen;
                        off += alen;
                        count++;
                }
                mnl_attr_nest_end(nlh, nest);
                msg_end(tx, nlh);
        }
}

static void group_emit(kn_nft_tx *tx, struct kn_nft_elem_group *g)
{
        kn_nft_tx_put_elems(tx, g->set, 0, g->del, &g->enc);
        kn_buf_free(&g->enc);
        g->enc = (kn_buf){.max = SIZE_MAX};
        g->count = 0;
}

/* Emit queued elements: of set NAME only, or of all sets when NAME is NULL. */
static void groups_flush(kn_nft_tx *tx, const char *name)
{
        size_t j = 0;

        for (size_t i = 0; i < tx->n_groups; i++) {
                struct kn_nft_elem_group *g = &tx->groups[i];
                if (!name || strcmp(g->set, name) == 0) {
                        group_emit(tx, g);
                        free(g->set);
                        continue;
                }
                tx->groups[j++] = *g;
        }
        tx->n_groups = j;
}

static struct kn_nft_elem_group *group_get(kn_nft_tx *tx, const char *set, bool del)
{
        for (size_t i = tx->n_groups; i-- > 0;) {
                struct kn_nft_elem_group *g = &tx->groups[i];
                if (strcmp(g->set, set) != 0)
                        continue;
                if (g->del == del)
                        return g;
                /* an add after a delete (or the reverse) keeps its order */
                groups_flush(tx, set);
                break;
        }
        if (tx->n_groups == tx->cap_groups) {
                tx->cap_groups = tx->cap_groups ? tx->cap_groups * 2 : 16;
                tx->groups = kn_realloc(tx->groups, tx->cap_groups * sizeof(*tx->groups));
        }
        tx->groups[tx->n_groups] = (struct kn_nft_elem_group){.set = kn_strdup(set), .del = del, .enc = {.max = SIZE_MAX}};
        return &tx->groups[tx->n_groups++];
}

/* ---------- pre-encoded element attributes ---------- */

size_t kn_nft_abuf_start(struct kn_nft_abuf *a, uint16_t type)
{
        size_t off = a->len;
        struct nlattr *h = (struct nlattr *)(a->b + off);
        h->nla_type = type | NLA_F_NESTED;
        a->len += MNL_ATTR_HDRLEN;
        return off;
}
void kn_nft_abuf_end(struct kn_nft_abuf *a, size_t off) { ((struct nlattr *)(a->b + off))->nla_len = (uint16_t)(a->len - off); }
void kn_nft_abuf_put(struct kn_nft_abuf *a, uint16_t type, const void *data, size_t len)
{
        struct nlattr *h = (struct nlattr *)(a->b + a->len);
        h->nla_type = type;
        h->nla_len = (uint16_t)(MNL_ATTR_HDRLEN + len);
        memcpy(a->b + a->len + MNL_ATTR_HDRLEN, data, len);
        memset(a->b + a->len + MNL_ATTR_HDRLEN + len, 0, MNL_ALIGN(len) - len);
        a->len += MNL_ATTR_HDRLEN + MNL_ALIGN(len);
}
void kn_nft_abuf_put_u32(struct kn_nft_abuf *a, uint16_t type, uint32_t v_host)
{
        uint32_t be = htonl(v_host);
        kn_nft_abuf_put(a, type, &be, 4);
}

/* ---------- key types ---------- */

static uint32_t key_type(int family, enum kn_nft_key k)
{
        uint32_t a = family == AF_INET6 ? KN_NFT_TYPE_IPV6 : KN_NFT_TYPE_IPV4;

        switch (k) {
        case KN_KEY_ADDR: return a;
        case KN_KEY_ADDR_PROTO_PORT: return ((a << 6 | KN_NFT_TYPE_PROTO) << 6) | KN_NFT_TYPE_SERVICE;
        case KN_KEY_PROTO_PORT: return KN_NFT_TYPE_PROTO << 6 | KN_NFT_TYPE_SERVICE;
        case KN_KEY_ADDR_ADDR_PROTO_PORT: return (((a << 6 | a) << 6 | KN_NFT_TYPE_PROTO) << 6) | KN_NFT_TYPE_SERVICE;
        }
        return a;
}

/* Key data, each field padded to 4 bytes. Returns the length. */
static size_t key_data(int family, enum kn_nft_key k, const kn_nft_elem *e, uint8_t *out)
{
        size_t al = kn_nft_addr_len(family), len = 0;
        uint16_t port = htons(e->port);

        memset(out, 0, 48);
        if (k == KN_KEY_ADDR || k == KN_KEY_ADDR_PROTO_PORT || k == KN_KEY_ADDR_ADDR_PROTO_PORT) {
                memcpy(out, kn_nft_addr_bytes(&e->addr), al);
                len += al;
        }
        if (k == KN_KEY_ADDR_ADDR_PROTO_PORT) {
                memcpy(out + len, kn_nft_addr_bytes(&e->addr2), al);
                len += al;
        }
        if (k != KN_KEY_ADDR) {
                out[len] = (uint8_t)e->proto;
                len += 4;
                memcpy(out + len, &port, 2);
                len += 4;
        }
        return len;
}

static size_t key_len(int family, enum kn_nft_key k)
{
        kn_nft_elem e = {0};
        uint8_t tmp[48];
        return key_data(family, k, &e, tmp);
}

static bool elem_family_ok(kn_nft_tx *tx, const kn_nft_set *s, const kn_nft_elem *e)
{
        bool addr = s->key != KN_KEY_PROTO_PORT, addr2 = s->key == KN_KEY_ADDR_ADDR_PROTO_PORT;

        if ((addr && e->addr.family != tx->n->family) || (addr2 && e->addr2.family != tx->n->family)) {
                kn_nft_tx_fail(tx, -EAFNOSUPPORT, "element for %s %s: address family does not match the table",
                        s->verdict_map ? "map" : "set", s->name);
                return false;
        }
        return true;
}

static void tx_elem(kn_nft_tx *tx, const kn_nft_set *s, const kn_nft_elem *e, bool del)
{
        struct kn_nft_abuf a = {.len = 0};
        uint8_t key[48];
        size_t klen, el, k, d, v;
        struct kn_nft_elem_group *g;

        if (tx->err || !s || !e || !kn_nft_name_ok(tx, "set", s->name) || !elem_family_ok(tx, s, e))
                return;
        klen = key_data(tx->n->family, s->key, e, key);
        el = kn_nft_abuf_start(&a, NFTA_LIST_ELEM);
        k = kn_nft_abuf_start(&a, NFTA_SET_ELEM_KEY);
        kn_nft_abuf_put(&a, NFTA_DATA_VALUE, key, klen);
        kn_nft_abuf_end(&a, k);
        if (s->verdict_map && !del) {
                int code;
                switch (e->verdict) {
                case KN_OP_GOTO: code = NFT_GOTO; break;
                case KN_OP_JUMP: code = NFT_JUMP; break;
                case KN_OP_DROP: code = NF_DROP; break;
                case KN_OP_ACCEPT: code = NF_ACCEPT; break;
                case KN_OP_RETURN: code = NFT_RETURN; break;
                default:
                        kn_nft_tx_fail(tx, -EINVAL, "element for map %s: unsupported verdict", s->name);
                        return;
                }
                if ((code == NFT_GOTO || code == NFT_JUMP) && !kn_nft_name_ok(tx, "verdict chain", e->chain))
                        return;
                d = kn_nft_abuf_start(&a, NFTA_SET_ELEM_DATA);
                v = kn_nft_abuf_start(&a, NFTA_DATA_VERDICT);
                kn_nft_abuf_put_u32(&a, NFTA_VERDICT_CODE, (uint32_t)code);
                if (code == NFT_GOTO || code == NFT_JUMP)
                        kn_nft_abuf_put(&a, NFTA_VERDICT_CHAIN, e->chain, strlen(e->chain) + 1);
                kn_nft_abuf_end(&a, v);
                kn_nft_abuf_end(&a, d);
        }
        if (e->comment && *e->comment && !del) {
                uint8_t ud[KN_NFT_COMMENT_MAX + 8];
                size_t ulen = kn_nft_udata_comment(ud, 0, NFTNL_UDATA_SET_ELEM_COMMENT, e->comment);
                kn_nft_abuf_put(&a, NFTA_SET_ELEM_USERDATA, ud, ulen);
        }
        kn_nft_abuf_end(&a, el);
        g = group_get(tx, s->name, del);
        g->map = s->verdict_map;
        if (kn_buf_append(&g->enc, a.b, a.len) < 0) {
                kn_nft_tx_fail(tx, -EFBIG, "too many elements for set %s", s->name);
                return;
        }
        g->count++;
        tx->n_ops++;
        if (g->count >= ELEMS_PER_MSG || g->enc.len >= ELEMS_NEST_MAX)
                group_emit(tx, g); /* a full message: into the batch now, not held twice */
}

void kn_nft_tx_add_elem(kn_nft_tx *tx, const kn_nft_set *s, const kn_nft_elem *e) { tx_elem(tx, s, e, false); }
void kn_nft_tx_delete_elem(kn_nft_tx *tx, const kn_nft_set *s, const kn_nft_elem *e) { tx_elem(tx, s, e, true); }

/* ---------- tables, chains, sets ---------- */

static void put_table_msg(kn_nft_tx *tx, uint16_t type, uint16_t flags, const char *comment)
{
        struct nftnl_table *t;
        struct nlmsghdr *nlh = msg_begin(tx, type, flags, 4096);
        uint8_t ud[KN_NFT_COMMENT_MAX + 8];
        size_t ulen;

        if (!nlh)
                return;
        t = nftnl_table_alloc();
        if (!t)
                abort();
        nftnl_table_set_str(t, NFTNL_TABLE_NAME, tx->table);
        ulen = kn_nft_udata_comment(ud, 0, NFTNL_UDATA_TABLE_COMMENT, comment);
        if (ulen)
                nftnl_table_set_data(t, NFTNL_TABLE_USERDATA, ud, (uint32_t)ulen);
        nftnl_table_nlmsg_build_payload(nlh, t);
        nftnl_table_free(t);
        msg_end(tx, nlh);
}

void kn_nft_tx_add_table(kn_nft_tx *tx, const char *comment)
{
        put_table_msg(tx, NFT_MSG_NEWTABLE, NLM_F_CREATE, comment);
        tx->n_ops++;
}

void kn_nft_tx_delete_table(kn_nft_tx *tx)
{
        /* queued elements of this table are moot; add-then-delete never fails on a
         * missing table (knftables does the same) */
        groups_flush(tx, NULL);
        put_table_msg(tx, NFT_MSG_NEWTABLE, NLM_F_CREATE, NULL);
        put_table_msg(tx, NFT_MSG_DELTABLE, 0, NULL);
        tx->n_ops++;
}

static const int hooknum[] = {
        [KN_HOOK_PREROUTING] = NF_INET_PRE_ROUTING, [KN_HOOK_INPUT] = NF_INET_LOCAL_IN,
        [KN_HOOK_FORWARD] = NF_INET_FORWARD,        [KN_HOOK_OUTPUT] = NF_INET_LOCAL_OUT,
        [KN_HOOK_POSTROUTING] = NF_INET_POST_ROUTING,
};

static void chain_msg(kn_nft_tx *tx, uint16_t type, uint16_t flags, const kn_nft_chain *c, const char *name,
                      const char *verb)
{
        struct nftnl_chain *ch;
        struct nlmsghdr *nlh;
        uint8_t ud[KN_NFT_COMMENT_MAX + 8];
        size_t ulen;

        if (tx->err || !kn_nft_name_ok(tx, "chain", name))
                return;
        nlh = msg_begin(tx, type, flags, 4096);
        if (!nlh)
                return;
        ch = nftnl_chain_alloc();
        if (!ch)
                abort();
        nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, tx->table);
        nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, name);
        if (c && c->hook > KN_HOOK_NONE && c->hook <= KN_HOOK_POSTROUTING) {
                nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, (uint32_t)hooknum[c->hook]);
                nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, c->priority);
                nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, c->type ? c->type : "filter");
        }
        if (c) {
                ulen = kn_nft_udata_comment(ud, 0, NFTNL_UDATA_CHAIN_COMMENT, c->comment);
                if (ulen)
                        nftnl_chain_set_data(ch, NFTNL_CHAIN_USERDATA, ud, (uint32_t)ulen);
        }
        nftnl_chain_nlmsg_build_payload(nlh, ch);
        nftnl_chain_free(ch);
        msg_end(tx, nlh);
        tx->n_ops++;
}

void kn_nft_tx_add_chain(kn_nft_tx *tx, const kn_nft_chain *c)
{
        if (!c) {
                kn_nft_tx_fail(tx, -EINVAL, "add chain: no chain");
                return;
        }
        chain_msg(tx, NFT_MSG_NEWCHAIN, NLM_F_CREATE, c, c->name, "add");
}

void kn_nft_tx_delete_chain(kn_nft_tx *tx, const char *name)
{
        groups_flush(tx, NULL); /* queued element deletes may reference it */
        chain_msg(tx, NFT_MSG_DELCHAIN, 0, NULL, name, "delete");
}

void kn_nft_tx_flush_chain(kn_nft_tx *tx, const char *name)
{
        struct nftnl_rule *r;
        struct nlmsghdr *nlh;

        if (tx->err || !kn_nft_name_ok(tx, "chain", name))
                return;
        nlh = msg_begin(tx, NFT_MSG_DELRULE, 0, 4096);
        if (!nlh)
                return;
        r = nftnl_rule_alloc();
        if (!r)
                abort();
        nftnl_rule_set_str(r, NFTNL_RULE_TABLE, tx->table);
        nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, name);
        nftnl_rule_nlmsg_build_payload(nlh, r);
        nftnl_rule_free(r);
        msg_end(tx, nlh);
        tx->n_ops++;
}

void kn_nft_tx_add_set(kn_nft_tx *tx, const kn_nft_set *s)
{
        struct nftnl_set *set;
        struct nlmsghdr *nlh;
        uint8_t ud[KN_NFT_COMMENT_MAX + 32];
        size_t ulen = 0;
        uint32_t flags = 0, bo;
        int fam;

        if (tx->err || !s || !kn_nft_name_ok(tx, "set", s->name))
                return;
        groups_flush(tx, s->name);
        fam = tx->n->family;
        nlh = msg_begin(tx, NFT_MSG_NEWSET, NLM_F_CREATE, 4096);
        if (!nlh)
                return;
        set = nftnl_set_alloc();
        if (!set)
                abort();
        nftnl_set_set_str(set, NFTNL_SET_TABLE, tx->table);
        nftnl_set_set_str(set, NFTNL_SET_NAME, s->name);
        nftnl_set_set_u32(set, NFTNL_SET_KEY_TYPE, key_type(fam, s->key));
        nftnl_set_set_u32(set, NFTNL_SET_KEY_LEN, (uint32_t)key_len(fam, s->key));
        nftnl_set_set_u32(set, NFTNL_SET_ID, ++tx->set_id);
        if (s->verdict_map) {
                flags |= NFT_SET_MAP;
                nftnl_set_set_u32(set, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
                nftnl_set_set_u32(set, NFTNL_SET_DATA_LEN, 0);
        }
        if (s->dynamic_timeout) {
                flags |= NFT_SET_TIMEOUT | NFT_SET_EVAL;
                nftnl_set_set_u64(set, NFTNL_SET_TIMEOUT, (uint64_t)s->timeout_s * 1000);
        }
        nftnl_set_set_u32(set, NFTNL_SET_FLAGS, flags);
        /* as nft writes it: BYTEORDER_BIG_ENDIAN (2) for addresses, invalid (0) for concats */
        bo = s->key == KN_KEY_ADDR ? 2 : 0;
        kn_nft_udata_put(ud, &ulen, NFTNL_UDATA_SET_KEYBYTEORDER, &bo, 4);
        if (s->verdict_map) {
                bo = 0;
                kn_nft_udata_put(ud, &ulen, NFTNL_UDATA_SET_DATABYTEORDER, &bo, 4);
        }
        ulen = kn_nft_udata_comment(ud, ulen, NFTNL_UDATA_SET_COMMENT, s->comment);
        nftnl_set_set_data(set, NFTNL_SET_USERDATA, ud, (uint32_t)ulen);
        nftnl_set_nlmsg_build_payload(nlh, set);
        nftnl_set_free(set);
        msg_end(tx, nlh);
        tx->n_ops++;
}

static void set_name_msg(kn_nft_tx *tx, uint16_t type, const char *name, const char *verb)
{
        struct nlmsghdr *nlh;

        if (tx->err || !kn_nft_name_ok(tx, "set", name))
                return;
        groups_flush(tx, name);
        nlh = msg_begin(tx, type, 0, 4096);
        if (!nlh)
                return;
        if (type == NFT_MSG_DELSET) {
                mnl_attr_put_strz(nlh, NFTA_SET_TABLE, tx->table);
                mnl_attr_put_strz(nlh, NFTA_SET_NAME, name);
        } else {
                mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, tx->table);
                mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, name);
        }
        msg_end(tx, nlh);
        tx->n_ops++;
}

void kn_nft_tx_flush_set(kn_nft_tx *tx, const char *name) { set_name_msg(tx, NFT_MSG_DELSETELEM, name, "flush"); }
void kn_nft_tx_delete_set(kn_nft_tx *tx, const char *name) { set_name_msg(tx, NFT_MSG_DELSET, name, "delete"); }

/* ---------- objects built by nft_expr.c ---------- */

bool kn_nft_tx_put_set(kn_nft_tx *tx, struct nftnl_set *s)
{
        struct nlmsghdr *nlh = msg_begin(tx, NFT_MSG_NEWSET, NLM_F_CREATE, 4096);

        if (!nlh)
                return false;
        nftnl_set_nlmsg_build_payload(nlh, s);
        msg_end(tx, nlh);
        return true;
}

bool kn_nft_tx_put_rule(kn_nft_tx *tx, struct nftnl_rule *r)
{
        struct nlmsghdr *nlh = msg_begin(tx, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, MSG_RESERVE);

        if (!nlh)
                return false;
        nftnl_rule_nlmsg_build_payload(nlh, r);
        msg_end(tx, nlh);
        return true;
}

/* ---------- commit ---------- */

static int send_batch(kn_nft *n, const void *buf, size_t len, kn_error *err)
{
        struct sockaddr_nl snl = {.nl_family = AF_NETLINK};
        struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
        struct msghdr mh = {.msg_name = &snl, .msg_namelen = sizeof(snl), .msg_iov = &iov, .msg_iovlen = 1};
        int fd = mnl_socket_get_fd(n->nl);
        ssize_t r;

        if (len + 4096 > n->sndbuf) {
                int v = (int)(len + 4096 > INT32_MAX ? INT32_MAX : len + 4096);
                if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
                        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
                n->sndbuf = (size_t)v;
        }
        do
                r = sendmsg(fd, &mh, 0);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return kn_error_set(err, -errno, "nftables: sending a %zu-byte batch failed: %s", len, strerror(errno));
        if ((size_t)r != len)
                return kn_error_set(err, -EIO, "nftables: short send of batch (%zd of %zu bytes)", r, len);
        return 0;
}

/* Whether the first element of a SETELEM message carries data (a map). */
static bool elems_have_data(const struct nlmsghdr *m)
{
        const struct nlattr *a, *el, *x;

        mnl_attr_for_each(a, m, sizeof(struct nfgenmsg)) {
                if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS)
                        continue;
                mnl_attr_for_each_nested(el, a) {
                        mnl_attr_for_each_nested(x, el) {
                                if (mnl_attr_get_type(x) == NFTA_SET_ELEM_DATA)
                                        return true;
                        }
                        return false;
                }
        }
        return false;
}

static const struct nlmsghdr *msg_at(const kn_nft_tx *tx, size_t idx)
{
        size_t off = HDR_LEN;

        for (size_t i = 0; off < tx->len; i++) {
                const struct nlmsghdr *m = (const struct nlmsghdr *)(tx->buf + off);
                if (i == idx)
                        return m;
                off += MNL_ALIGN(m->nlmsg_len);
        }
        return NULL;
}

static const char *msg_str(const struct nlmsghdr *m, uint16_t type)
{
        const struct nlattr *a;

        mnl_attr_for_each(a, m, sizeof(struct nfgenmsg)) {
                if (mnl_attr_get_type(a) == type && mnl_attr_get_payload_len(a) > 0 &&
                    ((const char *)mnl_attr_get_payload(a))[mnl_attr_get_payload_len(a) - 1] == 0)
                        return mnl_attr_get_payload(a);
        }
        return "?";
}

static bool msg_has(const struct nlmsghdr *m, uint16_t type, uint32_t *ret_u32)
{
        const struct nlattr *a;

        mnl_attr_for_each(a, m, sizeof(struct nfgenmsg)) {
                if (mnl_attr_get_type(a) == type) {
                        if (ret_u32 && mnl_attr_get_payload_len(a) == 4)
                                *ret_u32 = ntohl(mnl_attr_get_u32(a));
                        return true;
                }
        }
        return false;
}

/* Describe message IDX from its own attributes: the netlink text is the record, so
 * a transaction keeps no per-message bookkeeping. */
static void describe(const kn_nft_tx *tx, size_t idx, char *buf, size_t len)
{
        const struct nlmsghdr *m = msg_at(tx, idx), *next;
        uint16_t type;
        uint32_t flags = 0;

        if (!m) {
                snprintf(buf, len, "message %zu of the batch", idx);
                return;
        }
        type = m->nlmsg_type & 0xff;
        switch (type) {
        case NFT_MSG_NEWTABLE:
        case NFT_MSG_DELTABLE:
                snprintf(buf, len, "%s table %s", type == NFT_MSG_NEWTABLE ? "add" : "delete",
                         msg_str(m, NFTA_TABLE_NAME));
                break;
        case NFT_MSG_NEWCHAIN:
        case NFT_MSG_DELCHAIN:
                snprintf(buf, len, "%s chain %s", type == NFT_MSG_NEWCHAIN ? "add" : "delete",
                         msg_str(m, NFTA_CHAIN_NAME));
                break;
        case NFT_MSG_NEWRULE:
                snprintf(buf, len, "add rule in chain %s", msg_str(m, NFTA_RULE_CHAIN));
                break;
        case NFT_MSG_DELRULE:
                snprintf(buf, len, "flush chain %s", msg_str(m, NFTA_RULE_CHAIN));
                break;
        case NFT_MSG_NEWSET:
        case NFT_MSG_DELSET:
                msg_has(m, NFTA_SET_FLAGS, &flags);
                if (flags & NFT_SET_ANONYMOUS) {
                        /* the rule it belongs to follows its elements */
                        for (size_t i = idx + 1; (next = msg_at(tx, i)); i++)
                                if ((next->nlmsg_type & 0xff) == NFT_MSG_NEWRULE)
                                        break;
                        snprintf(buf, len, "add anonymous set for rule in chain %s",
                                 next ? msg_str(next, NFTA_RULE_CHAIN) : "?");
                } else {
                        snprintf(buf, len, "%s %s %s", type == NFT_MSG_NEWSET ? "add" : "delete",
                                 flags & NFT_SET_MAP ? "map" : "set", msg_str(m, NFTA_SET_NAME));
                }
                break;
        case NFT_MSG_NEWSETELEM:
        case NFT_MSG_DELSETELEM: {
                const char *set = msg_str(m, NFTA_SET_ELEM_LIST_SET);
                if (!msg_has(m, NFTA_SET_ELEM_LIST_ELEMENTS, NULL))
                        snprintf(buf, len, "flush set %s", set);
                else if (strcmp(set, "__set%d") == 0)
                        snprintf(buf, len, "add element to anonymous set");
                else
                        snprintf(buf, len, "%s element %s %s %s", type == NFT_MSG_NEWSETELEM ? "add" : "delete",
                                 type == NFT_MSG_NEWSETELEM ? "to" : "from",
                                 msg_has(m, NFTA_SET_ELEM_LIST_ELEMENTS, NULL) && elems_have_data(m) ? "map" : "set",
                                 set);
                break;
        }
        default:
                snprintf(buf, len, "message %zu (type %u) of the batch", idx, type);
        }
}

/* The chain or set message IDX is about ("" for tables and elements): the object a
 * refusal can be traced to. An anonymous set belongs to the rule that follows it. */
static void failed_object(kn_nft_tx *tx, size_t idx)
{
        const struct nlmsghdr *m = msg_at(tx, idx), *next;
        const char *name = "";
        uint32_t flags = 0;

        switch (m ? m->nlmsg_type & 0xff : 0) {
        case NFT_MSG_NEWCHAIN:
        case NFT_MSG_DELCHAIN:
                name = msg_str(m, NFTA_CHAIN_NAME);
                break;
        case NFT_MSG_NEWRULE:
        case NFT_MSG_DELRULE:
                name = msg_str(m, NFTA_RULE_CHAIN);
                break;
        case NFT_MSG_NEWSET:
        case NFT_MSG_DELSET:
                msg_has(m, NFTA_SET_FLAGS, &flags);
                if (!(flags & NFT_SET_ANONYMOUS)) {
                        name = msg_str(m, NFTA_SET_NAME);
                        break;
                }
                for (size_t i = idx + 1; (next = msg_at(tx, i)); i++)
                        if ((next->nlmsg_type & 0xff) == NFT_MSG_NEWRULE) {
                                name = msg_str(next, NFTA_RULE_CHAIN);
                                break;
                        }
                break;
        }
        snprintf(tx->failed, sizeof(tx->failed), "%s", name && strcmp(name, "?") != 0 ? name : "");
}

const char *kn_nft_tx_failed_object(const kn_nft_tx *tx) { return tx->failed[0] ? tx->failed : NULL; }

/* The extended ack's NLMSGERR_ATTR_OFFS of an error message, 0 when absent. */
static uint32_t err_offset(const struct nlmsghdr *nlh)
{
        const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
        const struct nlattr *a;
        size_t off = sizeof(*e);

        if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
                return 0;
        if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
                off += MNL_ALIGN(e->msg.nlmsg_len) - sizeof(e->msg);
        if (MNL_ALIGN(sizeof(struct nlmsghdr)) + off > nlh->nlmsg_len)
                return 0;
        mnl_attr_for_each(a, nlh, off) {
                if (mnl_attr_get_type(a) == NLMSGERR_ATTR_OFFS && mnl_attr_get_payload_len(a) == 4)
                        return mnl_attr_get_u32(a);
        }
        return 0;
}

int kn_nft_tx_failed_element(const kn_nft_tx *tx, const kn_nft_set *s, kn_nft_elem *ret)
{
        const struct nlmsghdr *m = tx->failed_off ? msg_at(tx, tx->failed_idx) : NULL;
        const struct nlattr *el, *a, *key = NULL, *val = NULL;
        size_t al = kn_nft_addr_len(tx->n->family), need = key_len(tx->n->family, s->key), at = 0;
        kn_nft_elem e = {0};
        const uint8_t *k;

        if (!m || (m->nlmsg_type & 0xff) != NFT_MSG_NEWSETELEM || strcmp(msg_str(m, NFTA_SET_ELEM_LIST_SET), s->name) ||
            tx->failed_off + sizeof(struct nlattr) > m->nlmsg_len)
                return -ENOENT;
        el = (const struct nlattr *)((const char *)m + tx->failed_off);
        if (el->nla_len < sizeof(*el) || tx->failed_off + el->nla_len > m->nlmsg_len ||
            (el->nla_type & NLA_TYPE_MASK) != NFTA_LIST_ELEM)
                return -ENOENT;
        mnl_attr_for_each_nested(a, el) if ((mnl_attr_get_type(a)) == NFTA_SET_ELEM_KEY) key = a;
        if (key)
                mnl_attr_for_each_nested(a, key) if (mnl_attr_get_type(a) == NFTA_DATA_VALUE) val = a;
        if (!val || mnl_attr_get_payload_len(val) != need)
                return -ENOENT;
        k = mnl_attr_get_payload(val);
        if (s->key != KN_KEY_PROTO_PORT) {
                e.addr.family = tx->n->family;
                memcpy((void *)kn_nft_addr_bytes(&e.addr), k, al);
                at += al;
        }
        if (s->key == KN_KEY_ADDR_ADDR_PROTO_PORT) {
                e.addr2.family = tx->n->family;
                memcpy((void *)kn_nft_addr_bytes(&e.addr2), k + at, al);
                at += al;
        }
        if (s->key != KN_KEY_ADDR) {
                uint16_t port;
                e.proto = k[at];
                memcpy(&port, k + at + 4, 2);
                e.port = ntohs(port);
        }
        *ret = e;
        return 0;
}

/* Drain the replies queued by the synchronous batch processing. An error of message
 * SENTINEL (SIZE_MAX: none) is expected: *ret_sentinel tells whether it came. */
static int read_replies(kn_nft_tx *tx, uint32_t base, uint32_t end_seq, size_t sentinel, bool *ret_sentinel,
                        kn_error *err)
{
        kn_nft *n = tx->n;
        int fd = mnl_socket_get_fd(n->nl);
        _cleanup_free_ char *buf = kn_malloc(65536);
        int first_err = 0, n_err = 0, lost = 0;
        size_t first_idx = SIZE_MAX;
        bool acked = false;

        for (;;) {
                ssize_t len = recv(fd, buf, 65536, MSG_DONTWAIT);
                const struct nlmsghdr *nlh;
                int rem;

                if (len < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == ENOBUFS) {
                                lost = 1;
                                continue;
                        }
                        break; /* EAGAIN: everything read */
                }
                rem = (int)len;
                for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem)) {
                        const struct nlmsgerr *e;
                        uint32_t idx;

                        if (nlh->nlmsg_type != NLMSG_ERROR ||
                            nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nlmsgerr))
                                continue;
                        e = mnl_nlmsg_get_payload(nlh);
                        if (nlh->nlmsg_seq == end_seq) {
                                if (e->error == 0)
                                        acked = true;
                                else if (!first_err && sentinel == SIZE_MAX)
                                        first_err = e->error;
                                continue;
                        }
                        if (e->error == 0)
                                continue;
                        idx = nlh->nlmsg_seq - base - 1;
                        if (idx == sentinel) {
                                *ret_sentinel = true;
                                continue;
                        }
                        n_err++;
                        if (idx < tx->n_msgs && (first_idx == SIZE_MAX || idx < first_idx)) {
                                first_idx = idx;
                                first_err = e->error;
                                tx->failed_idx = idx;
                                tx->failed_off = err_offset(nlh);
                        } else if (!first_err) {
                                first_err = e->error;
                        }
                }
        }
        if (first_idx != SIZE_MAX)
        {
                char desc[400];
                describe(tx, first_idx, desc, sizeof(desc));
                failed_object(tx, first_idx);
                return kn_error_set(err, first_err, "%s: %s%s", desc, strerror(-first_err),
                                    n_err > 1 ? " (and more errors)" : "");
        }
        if (first_err)
                return kn_error_set(err, first_err, "nftables: batch failed: %s", strerror(-first_err));
        if (lost && !acked)
                return kn_error_set(err, -ENOBUFS, "nftables: replies to the batch were lost (receive buffer full)");
        return 0;
}

static int tx_send(kn_nft_tx *tx, bool check, kn_error *err)
{
        kn_nft *n = tx->n;
        struct nlmsghdr *nlh;
        uint32_t base;
        size_t sentinel = SIZE_MAX;
        bool sentinel_failed = false;
        int r;

        groups_flush(tx, NULL);
        if (tx->err)
                return kn_error_set(err, tx->err, "%s", tx->errmsg);
        if (tx->n_msgs == 0)
                return 0;
        if (check) {
                /* The last message deletes a chain whose name is longer than the kernel
                 * accepts (NFT_CHAIN_MAXNAMELEN): its attribute policy refuses it whatever
                 * the ruleset holds, so the batch is aborted after every other message was
                 * tried, and errors before it are the transaction's own. */
                char name[NAME_MAX_LEN + 64];
                memset(name, 'x', sizeof(name) - 1);
                name[sizeof(name) - 1] = '\0';
                nlh = msg_begin(tx, NFT_MSG_DELCHAIN, 0, sizeof(name) + 512);
                if (!nlh)
                        return kn_error_set(err, tx->err, "%s", tx->errmsg);
                mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, tx->table);
                mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, name);
                msg_end(tx, nlh);
                sentinel = tx->n_msgs - 1;
        }
        if (!tx_reserve(tx, HDR_LEN))
                return kn_error_set(err, tx->err, "%s", tx->errmsg);
        base = n->seq;
        n->seq += (uint32_t)tx->n_msgs + 2;
        nftnl_batch_begin(tx->buf, base);
        {
                uint32_t seq = base;
                for (size_t off = HDR_LEN; off < tx->len;) {
                        struct nlmsghdr *m = (struct nlmsghdr *)(tx->buf + off);
                        m->nlmsg_seq = ++seq;
                        off += MNL_ALIGN(m->nlmsg_len);
                }
        }
        nlh = nftnl_batch_end(tx->buf + tx->len, base + (uint32_t)tx->n_msgs + 1);
        nlh->nlmsg_flags |= NLM_F_ACK;
        r = send_batch(n, tx->buf, tx->len + HDR_LEN, err);
        if (r < 0)
                return r;
        r = read_replies(tx, base, base + (uint32_t)tx->n_msgs + 1, sentinel, &sentinel_failed, err);
        if (r >= 0 && check && !sentinel_failed)
                return kn_error_set(err, -EPROTO, "nftables: the dry run's sentinel was not refused");
        return r;
}

int kn_nft_tx_commit(kn_nft_tx *tx, kn_error *err) { return tx_send(tx, false, err); }
int kn_nft_tx_check(kn_nft_tx *tx, kn_error *err) { return tx_send(tx, true, err); }

/* ---------- queries ---------- */

/* One request; collect replies until DONE or the ack. CB sees each data message. */
static int nl_query(kn_nft *n, struct nlmsghdr *req, int (*cb)(const struct nlmsghdr *, void *), void *data)
{
        int fd = mnl_socket_get_fd(n->nl);
        _cleanup_free_ char *buf = kn_malloc(DUMP_BUF);
        uint32_t seq = ++n->seq;
        bool dump = req->nlmsg_flags & NLM_F_DUMP;

        req->nlmsg_seq = seq;
        req->nlmsg_flags |= NLM_F_ACK;
        if (mnl_socket_sendto(n->nl, req, req->nlmsg_len) < 0)
                return -errno;
        for (;;) {
                ssize_t len = recv(fd, buf, DUMP_BUF, 0);
                const struct nlmsghdr *nlh;
                int rem;

                if (len < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                rem = (int)len;
                for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem)) {
                        if (nlh->nlmsg_seq != seq)
                                continue; /* a stale reply */
                        if (nlh->nlmsg_type == NLMSG_DONE)
                                return 0;
                        if (nlh->nlmsg_type == NLMSG_ERROR) {
                                const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
                                if (e->error || !dump)
                                        return e->error;
                                continue;
                        }
                        if (cb) {
                                int r = cb(nlh, data);
                                if (r < 0)
                                        return r;
                        }
                }
        }
}

static int table_exists(kn_nft *n, const char *table)
{
        char buf[512];
        struct nlmsghdr *nlh;

        if (strlen(table) > NAME_MAX_LEN)
                return -ENAMETOOLONG;
        nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, n->nfproto, 0, 0);
        mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, table);
        return nl_query(n, nlh, NULL, NULL);
}

struct names {
        const char *table;
        char **v;
        size_t n, cap;
        bool sets;
};

static int names_cb(const struct nlmsghdr *nlh, void *data)
{
        struct names *ns = data;
        const char *table, *name;

        if (ns->n >= DUMP_MAX_NAMES)
                return -E2BIG;
        if (ns->sets) {
                struct nftnl_set *s = nftnl_set_alloc();
                if (!s)
                        abort();
                if (nftnl_set_nlmsg_parse(nlh, s) < 0) {
                        nftnl_set_free(s);
                        return 0;
                }
                table = nftnl_set_get_str(s, NFTNL_SET_TABLE);
                name = nftnl_set_get_str(s, NFTNL_SET_NAME);
                /* anonymous sets belong to rules */
                if (table && name && strcmp(table, ns->table) == 0 &&
                    !(nftnl_set_get_u32(s, NFTNL_SET_FLAGS) & NFT_SET_ANONYMOUS))
                        goto add_set;
                nftnl_set_free(s);
                return 0;
add_set:
                if (ns->n + 2 > ns->cap) {
                        ns->cap = ns->cap ? ns->cap * 2 : 64;
                        ns->v = kn_realloc(ns->v, ns->cap * sizeof(char *));
                }
                ns->v[ns->n++] = kn_strdup(name);
                ns->v[ns->n] = NULL;
                nftnl_set_free(s);
                return 0;
        } else {
                struct nftnl_chain *c = nftnl_chain_alloc();
                if (!c)
                        abort();
                if (nftnl_chain_nlmsg_parse(nlh, c) == 0) {
                        table = nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE);
                        name = nftnl_chain_get_str(c, NFTNL_CHAIN_NAME);
                        if (table && name && strcmp(table, ns->table) == 0) {
                                if (ns->n + 2 > ns->cap) {
                                        ns->cap = ns->cap ? ns->cap * 2 : 64;
                                        ns->v = kn_realloc(ns->v, ns->cap * sizeof(char *));
                                }
                                ns->v[ns->n++] = kn_strdup(name);
                                ns->v[ns->n] = NULL;
                        }
                }
                nftnl_chain_free(c);
                return 0;
        }
}

static int list_names(kn_nft *n, const char *table, bool sets, char ***ret, kn_error *err)
{
        struct names ns = {.table = table, .sets = sets};
        char buf[512];
        struct nlmsghdr *nlh;
        int r;

        r = table_exists(n, table);
        if (r == -ENOENT)
                return kn_error_set(err, r, "nftables: table %s does not exist", table);
        if (r < 0)
                return kn_error_set(err, r, "nftables: cannot get table %s: %s", table, strerror(-r));
        nlh = nftnl_nlmsg_build_hdr(buf, sets ? NFT_MSG_GETSET : NFT_MSG_GETCHAIN, n->nfproto, NLM_F_DUMP, 0);
        if (sets)
                mnl_attr_put_strz(nlh, NFTA_SET_TABLE, table);
        r = nl_query(n, nlh, names_cb, &ns);
        if (r < 0) {
                kn_strv_free(ns.v);
                return kn_error_set(err, r, "nftables: cannot list %s of table %s: %s", sets ? "sets" : "chains",
                                    table, strerror(-r));
        }
        if (!ns.v)
                ns.v = kn_calloc(1, sizeof(char *));
        *ret = ns.v;
        return 0;
}

int kn_nft_list_chains(kn_nft *n, const char *table, char ***ret_names, kn_error *err)
{
        return list_names(n, table, false, ret_names, err);
}

int kn_nft_list_sets(kn_nft *n, const char *table, char ***ret_names, kn_error *err)
{
        return list_names(n, table, true, ret_names, err);
}

int kn_nft_delete_table(kn_nft *n, const char *table, kn_error *err)
{
        kn_nft_tx *tx = kn_nft_tx_new(n, table);
        int r;

        kn_nft_tx_delete_table(tx);
        r = kn_nft_tx_commit(tx, err);
        kn_nft_tx_free(tx);
        return r == -ENOENT ? 0 : r;
}
