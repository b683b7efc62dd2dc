/* SPDX-License-Identifier: Apache-2.0 */
/* The nftables actuator (see nft.h). A transaction is serialized as it is built into
 * one contiguous buffer of netlink messages; commit wraps it in BATCH_BEGIN/BATCH_END,
 * numbers the messages, sends it with one sendmsg and maps errors back to the message
 * that failed by sequence number (nftables src/mnl.c does the same).
 *
 * Only the END message asks for an ack: asking for one per message floods the
 * receive buffer on big batches. The kernel processes the batch synchronously inside
 * sendmsg, so every reply is queued by the time sendmsg returns. */
#include "nft.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/ip_icmp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#define NAME_MAX_LEN 255             /* NFT_NAME_MAXLEN without the NUL */
#define COMMENT_MAX 128              /* knftables CommentLengthMax */
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
struct elem_group {
        char *set;
        bool del, map;
        kn_buf enc;
        size_t count;
};

struct kn_nft_tx {
        kn_nft *n;
        char *table;
        char *buf;
        size_t len, cap;
        size_t n_msgs;
        size_t n_ops;
        uint32_t set_id;
        struct elem_group *groups;
        size_t n_groups, cap_groups;
        int err;              /* sticky error from a void builder */
        char errmsg[256];
};

/* ---------- address helpers ---------- */

static size_t addr_len(int family) { return family == AF_INET6 ? 16 : 4; }
static const void *addr_bytes(const kn_addr *a) { return a->family == AF_INET6 ? (const void *)&a->v6 : (const void *)&a->v4; }

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

static void mask_bytes(uint8_t *b, size_t len, int prefix)
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
        mask_bytes((uint8_t *)addr_bytes(&c.addr), addr_len(c.addr.family), c.prefix);
        *ret = c;
        return 0;
}

bool kn_cidr_contains(const kn_cidr *c, const kn_addr *a)
{
        uint8_t x[16], y[16];
        size_t len;

        if (!c || !a || c->addr.family != a->family)
                return false;
        len = addr_len(a->family);
        memcpy(x, addr_bytes(&c->addr), len);
        memcpy(y, addr_bytes(a), len);
        mask_bytes(x, len, c->prefix);
        mask_bytes(y, len, c->prefix);
        return memcmp(x, y, len) == 0;
}

void kn_addr_format(const kn_addr *a, char *buf, size_t len)
{
        if (!len)
                return;
        buf[0] = 0;
        if (!a || (a->family != AF_INET && a->family != AF_INET6) ||
            !inet_ntop(a->family, addr_bytes(a), buf, (socklen_t)len))
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

static void tx_fail(kn_nft_tx *tx, int code, const char *fmt, ...) KN_PRINTF(3, 4);
static void tx_fail(kn_nft_tx *tx, int code, const char *fmt, ...)
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
                tx_fail(tx, -EFBIG, "transaction larger than %zu bytes", BATCH_MAX);
                return false;
        }
        cap = tx->cap ? tx->cap : 65536;
        while (cap < tx->len + need)
                cap *= 2;
        tx->buf = kn_realloc(tx->buf, cap);
        tx->cap = cap;
        return true;
}

static bool name_ok(kn_nft_tx *tx, const char *what, const char *name)
{
        if (!name || !*name) {
                tx_fail(tx, -EINVAL, "%s: empty name", what);
                return false;
        }
        if (strlen(name) > NAME_MAX_LEN) {
                tx_fail(tx, -ENAMETOOLONG, "%s %.64s...: name longer than %d bytes", what, name, NAME_MAX_LEN);
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
        if (!name_ok(tx, "table", table))
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

/* userdata TLV (struct nftnl_udata: u8 type, u8 len, value) */
static void udata_put(uint8_t *buf, size_t *len, uint8_t type, const void *data, size_t dlen)
{
        buf[(*len)++] = type;
        buf[(*len)++] = (uint8_t)dlen;
        memcpy(buf + *len, data, dlen);
        *len += dlen;
}

static size_t udata_comment(uint8_t *buf, size_t len, uint8_t type, const char *comment)
{
        char c[COMMENT_MAX + 1];
        size_t n;

        if (!comment || !*comment)
                return len;
        n = strnlen(comment, COMMENT_MAX);
        memcpy(c, comment, n);
        c[n] = 0;
        udata_put(buf, &len, type, c, n + 1);
        return len;
}

/* ---------- element groups ---------- */

static void group_emit(kn_nft_tx *tx, struct elem_group *g)
{
        size_t off = 0;

        while (off < g->enc.len && !tx->err) {
                struct nlmsghdr *nlh = msg_begin(tx, g->del ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM,
                                                 g->del ? 0 : NLM_F_CREATE, MSG_RESERVE + 1024);
                struct nlattr *nest;
                size_t count = 0;

                if (!nlh)
                        break;
                mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, tx->table);
                mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, g->set);
                nest = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
                while (off < g->enc.len && count < ELEMS_PER_MSG) {
                        const struct nlattr *a = (const struct nlattr *)(g->enc.data + off);
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
        kn_buf_free(&g->enc);
        g->enc = (kn_buf){.max = SIZE_MAX};
        g->count = 0;
}

/* Emit queued elements: of set NAME only, or of all sets when NAME is NULL. */
static void groups_flush(kn_nft_tx *tx, const char *name)
{
        size_t j = 0;

        for (size_t i = 0; i < tx->n_groups; i++) {
                struct elem_group *g = &tx->groups[i];
                if (!name || strcmp(g->set, name) == 0) {
                        group_emit(tx, g);
                        free(g->set);
                        continue;
                }
                tx->groups[j++] = *g;
        }
        tx->n_groups = j;
}

static struct elem_group *group_get(kn_nft_tx *tx, const char *set, bool del)
{
        for (size_t i = tx->n_groups; i-- > 0;) {
                struct elem_group *g = &tx->groups[i];
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
        tx->groups[tx->n_groups] = (struct elem_group){.set = kn_strdup(set), .del = del, .enc = {.max = SIZE_MAX}};
        return &tx->groups[tx->n_groups++];
}

/* Tiny attribute writer for pre-encoded elements. */
struct abuf {
        uint8_t b[1024];
        size_t len;
};
static size_t a_start(struct abuf *a, uint16_t type)
{
        size_t off = a->len;
        struct nlattr *h = (struct nlattr *)(a->b + off);
        h->nla_type = type | NLA_F_NESTED;
        a->len += MNL_ATTR_HDRLEN;
        return off;
}
static void a_end(struct abuf *a, size_t off) { ((struct nlattr *)(a->b + off))->nla_len = (uint16_t)(a->len - off); }
static void a_put(struct abuf *a, uint16_t type, const void *data, size_t len)
{
        struct nlattr *h = (struct nlattr *)(a->b + a->len);
        h->nla_type = type;
        h->nla_len = (uint16_t)(MNL_ATTR_HDRLEN + len);
        memcpy(a->b + a->len + MNL_ATTR_HDRLEN, data, len);
        memset(a->b + a->len + MNL_ATTR_HDRLEN + len, 0, MNL_ALIGN(len) - len);
        a->len += MNL_ATTR_HDRLEN + MNL_ALIGN(len);
}
static void a_put_u32(struct abuf *a, uint16_t type, uint32_t v_host)
{
        uint32_t be = htonl(v_host);
        a_put(a, type, &be, 4);
}

/* ---------- key types ---------- */

enum { TYPE_IPV4 = 7, TYPE_IPV6 = 8, TYPE_PROTO = 12, TYPE_SERVICE = 13 };

static uint32_t key_type(int family, enum kn_nft_key k)
{
        uint32_t a = family == AF_INET6 ? TYPE_IPV6 : TYPE_IPV4;

        switch (k) {
        case KN_KEY_ADDR: return a;
        case KN_KEY_ADDR_PROTO_PORT: return ((a << 6 | TYPE_PROTO) << 6) | TYPE_SERVICE;
        case KN_KEY_PROTO_PORT: return TYPE_PROTO << 6 | TYPE_SERVICE;
        case KN_KEY_ADDR_ADDR_PROTO_PORT: return (((a << 6 | a) << 6 | TYPE_PROTO) << 6) | TYPE_SERVICE;
        }
        return a;
}

/* Key data, each field padded to 4 bytes. Returns the length. */
static size_t key_data(int family, enum kn_nft_key k, const kn_nft_elem *e, uint8_t *out)
{
        size_t al = addr_len(family), len = 0;
        uint16_t port = htons(e->port);

        memset(out, 0, 48);
        if (k == KN_KEY_ADDR || k == KN_KEY_ADDR_PROTO_PORT || k == KN_KEY_ADDR_ADDR_PROTO_PORT) {
                memcpy(out, addr_bytes(&e->addr), al);
                len += al;
        }
        if (k == KN_KEY_ADDR_ADDR_PROTO_PORT) {
                memcpy(out + len, addr_bytes(&e->addr2), al);
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
                tx_fail(tx, -EAFNOSUPPORT, "element for %s %s: address family does not match the table",
                        s->verdict_map ? "map" : "set", s->name);
                return false;
        }
        return true;
}

static void tx_elem(kn_nft_tx *tx, const kn_nft_set *s, const kn_nft_elem *e, bool del)
{
        struct abuf a = {.len = 0};
        uint8_t key[48];
        size_t klen, el, k, d, v;
        struct elem_group *g;

        if (tx->err || !s || !e || !name_ok(tx, "set", s->name) || !elem_family_ok(tx, s, e))
                return;
        klen = key_data(tx->n->family, s->key, e, key);
        el = a_start(&a, NFTA_LIST_ELEM);
        k = a_start(&a, NFTA_SET_ELEM_KEY);
        a_put(&a, NFTA_DATA_VALUE, key, klen);
        a_end(&a, k);
        if (s->verdict_map && !del) {
                int code;
                switch (e->verdict) {
                case KN_OP_GOTO: code = NFT_GOTO; break;
                case KN_OP_JUMP: code = NFT_JUMP; break;
                case KN_OP_DROP: code = NF_DROP; break;
                case KN_OP_ACCEPT: code = NF_ACCEPT; break;
                case KN_OP_RETURN: code = NFT_RETURN; break;
                default:
                        tx_fail(tx, -EINVAL, "element for map %s: unsupported verdict", s->name);
                        return;
                }
                if ((code == NFT_GOTO || code == NFT_JUMP) && !name_ok(tx, "verdict chain", e->chain))
                        return;
                d = a_start(&a, NFTA_SET_ELEM_DATA);
                v = a_start(&a, NFTA_DATA_VERDICT);
                a_put_u32(&a, NFTA_VERDICT_CODE, (uint32_t)code);
                if (code == NFT_GOTO || code == NFT_JUMP)
                        a_put(&a, NFTA_VERDICT_CHAIN, e->chain, strlen(e->chain) + 1);
                a_end(&a, v);
                a_end(&a, d);
        }
        if (e->comment && *e->comment && !del) {
                uint8_t ud[COMMENT_MAX + 8];
                size_t ulen = udata_comment(ud, 0, NFTNL_UDATA_SET_ELEM_COMMENT, e->comment);
                a_put(&a, NFTA_SET_ELEM_USERDATA, ud, ulen);
        }
        a_end(&a, el);
        g = group_get(tx, s->name, del);
        g->map = s->verdict_map;
        if (kn_buf_append(&g->enc, a.b, a.len) < 0) {
                tx_fail(tx, -EFBIG, "too many elements for set %s", s->name);
                return;
        }
        g->count++;
        tx->n_ops++;
}

void kn_nft_tx_add_elem(kn_nft_tx *tx, const kn_nft_set *s, const kn_nft_elem *e) { tx_elem(tx, s, e, false); }
void kn_nft_tx_delete_elem(kn_nft_tx *tx, const kn_nft_set *s, const kn_nft_elem *e) { tx_elem(tx, s, e, true); }

/* ---------- tables, chains, sets ---------- */

static void put_table_msg(kn_nft_tx *tx, uint16_t type, uint16_t flags, const char *comment)
{
        struct nftnl_table *t;
        struct nlmsghdr *nlh = msg_begin(tx, type, flags, 4096);
        uint8_t ud[COMMENT_MAX + 8];
        size_t ulen;

        if (!nlh)
                return;
        t = nftnl_table_alloc();
        if (!t)
                abort();
        nftnl_table_set_str(t, NFTNL_TABLE_NAME, tx->table);
        ulen = udata_comment(ud, 0, NFTNL_UDATA_TABLE_COMMENT, comment);
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
        uint8_t ud[COMMENT_MAX + 8];
        size_t ulen;

        if (tx->err || !name_ok(tx, "chain", name))
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
                ulen = udata_comment(ud, 0, NFTNL_UDATA_CHAIN_COMMENT, c->comment);
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
                tx_fail(tx, -EINVAL, "add chain: no chain");
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

        if (tx->err || !name_ok(tx, "chain", name))
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
        uint8_t ud[COMMENT_MAX + 32];
        size_t ulen = 0;
        uint32_t flags = 0, bo;
        int fam;

        if (tx->err || !s || !name_ok(tx, "set", s->name))
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
        udata_put(ud, &ulen, NFTNL_UDATA_SET_KEYBYTEORDER, &bo, 4);
        if (s->verdict_map) {
                bo = 0;
                udata_put(ud, &ulen, NFTNL_UDATA_SET_DATABYTEORDER, &bo, 4);
        }
        ulen = udata_comment(ud, ulen, NFTNL_UDATA_SET_COMMENT, s->comment);
        nftnl_set_set_data(set, NFTNL_SET_USERDATA, ud, (uint32_t)ulen);
        nftnl_set_nlmsg_build_payload(nlh, set);
        nftnl_set_free(set);
        msg_end(tx, nlh);
        tx->n_ops++;
}

static void set_name_msg(kn_nft_tx *tx, uint16_t type, const char *name, const char *verb)
{
        struct nlmsghdr *nlh;

        if (tx->err || !name_ok(tx, "set", name))
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

/* ---------- rules ---------- */

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
        size_t al = addr_len(b->family);
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
        memcpy(net, addr_bytes(&c->addr), al);
        memset(mask, 0xff, sizeof(mask));
        mask_bytes(mask, al, c->prefix);
        mask_bytes(net, al, c->prefix);
        e_addr(b, daddr, nbytes, NFT_REG_1);
        if (c->prefix % 8)
                e_bitwise(b, mask, zero, nbytes);
        e_cmp(b, neg, net, nbytes);
}

static int iv_cmp(const void *a, const void *b) { return memcmp(a, b, 16); }

/* ip saddr/daddr { c1, c2 }: an anonymous constant interval set, encoded as nft does:
 * a start element per interval and an end-flagged element at end+1. */
static void e_cidrs(struct rb *b, bool daddr, const kn_cidr *cidrs, size_t n, bool neg)
{
        kn_nft_tx *tx = b->tx;
        size_t al = addr_len(b->family), ni = 0, count = 0;
        uint8_t(*iv)[2][16];
        struct nftnl_set *set;
        struct nlmsghdr *nlh;
        struct nlattr *nest;
        uint32_t id, bo = 2;
        uint8_t ud[16];
        size_t ulen = 0;

        if (n == 0 || n > 65536) {
                tx_fail(tx, -EINVAL, "add rule in chain %s: CIDR list has %zu entries", b->chain, n);
                return;
        }
        iv = kn_calloc(n, sizeof(*iv));
        for (size_t i = 0; i < n; i++) {
                if (cidrs[i].addr.family != b->family) {
                        free(iv);
                        tx_fail(tx, -EAFNOSUPPORT, "add rule in chain %s: CIDR of another family", b->chain);
                        return;
                }
                memcpy(iv[i][0], addr_bytes(&cidrs[i].addr), al);
                mask_bytes(iv[i][0], al, cidrs[i].prefix);
                memcpy(iv[i][1], iv[i][0], al);
                for (size_t j = 0; j < al; j++) { /* last address: set host bits */
                        int bits = cidrs[i].prefix - (int)j * 8;
                        if (bits < 8)
                                iv[i][1][j] |= bits <= 0 ? 0xff : (uint8_t)(0xff >> bits);
                }
        }
        /* sort by start (big-endian bytes compare as numbers), merge overlaps */
        qsort(iv, n, sizeof(*iv), iv_cmp);
        for (size_t i = 0; i < n; i++) {
                if (ni > 0 && memcmp(iv[i][0], iv[ni - 1][1], al) <= 0) {
                        if (memcmp(iv[i][1], iv[ni - 1][1], al) > 0)
                                memcpy(iv[ni - 1][1], iv[i][1], al);
                        continue;
                }
                memmove(iv[ni], iv[i], sizeof(*iv));
                ni++;
        }
        id = ++tx->set_id;
        /* elements message first built into a scratch abuf list, then the set */
        nlh = msg_begin(tx, NFT_MSG_NEWSET, NLM_F_CREATE, 4096);
        if (!nlh) {
                free(iv);
                return;
        }
        set = nftnl_set_alloc();
        if (!set)
                abort();
        /* count elements */
        {
                uint8_t zero[16] = {0};
                if (memcmp(iv[0][0], zero, al) != 0)
                        count++;
                for (size_t i = 0; i < ni; i++) {
                        uint8_t ones[16];
                        memset(ones, 0xff, al);
                        count++;
                        if (memcmp(iv[i][1], ones, al) != 0)
                                count++;
                }
        }
        nftnl_set_set_str(set, NFTNL_SET_TABLE, tx->table);
        nftnl_set_set_str(set, NFTNL_SET_NAME, "__set%d");
        nftnl_set_set_u32(set, NFTNL_SET_KEY_TYPE, b->family == AF_INET6 ? TYPE_IPV6 : TYPE_IPV4);
        nftnl_set_set_u32(set, NFTNL_SET_KEY_LEN, (uint32_t)al);
        nftnl_set_set_u32(set, NFTNL_SET_FLAGS, NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_INTERVAL);
        nftnl_set_set_u32(set, NFTNL_SET_ID, id);
        nftnl_set_set_u32(set, NFTNL_SET_DESC_SIZE, (uint32_t)count);
        udata_put(ud, &ulen, NFTNL_UDATA_SET_KEYBYTEORDER, &bo, 4);
        nftnl_set_set_data(set, NFTNL_SET_USERDATA, ud, (uint32_t)ulen);
        nftnl_set_nlmsg_build_payload(nlh, set);
        nftnl_set_free(set);
        msg_end(tx, nlh);

        /* elements: at most 65536 intervals; split like named sets */
        {
                size_t i = 0, stage = 0; /* stage: 0 leading zero-end, then per interval start/end */
                uint8_t zero[16] = {0}, ones[16];
                bool lead = memcmp(iv[0][0], zero, al) != 0;
                memset(ones, 0xff, al);
                while (!tx->err && (lead || i < ni)) {
                        size_t c = 0;
                        nlh = msg_begin(tx, NFT_MSG_NEWSETELEM, NLM_F_CREATE, MSG_RESERVE + 1024);
                        if (!nlh)
                                break;
                        mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, tx->table);
                        mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, "__set%d");
                        mnl_attr_put_u32(nlh, NFTA_SET_ELEM_LIST_SET_ID, htonl(id));
                        nest = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
                        while ((lead || i < ni) && c < ELEMS_PER_MSG) {
                                struct abuf a = {.len = 0};
                                size_t el, k;
                                const uint8_t *key;
                                bool end;
                                if (lead) {
                                        key = zero, end = true, lead = false;
                                } else if (stage == 0) {
                                        key = iv[i][0], end = false, stage = 1;
                                } else {
                                        uint8_t *nx = iv[i][1];
                                        stage = 0;
                                        i++;
                                        if (memcmp(nx, ones, al) == 0)
                                                continue;
                                        for (size_t j = al; j-- > 0;) /* end + 1 */
                                                if (++nx[j] != 0)
                                                        break;
                                        key = nx, end = true;
                                }
                                el = a_start(&a, NFTA_LIST_ELEM);
                                if (end)
                                        a_put_u32(&a, NFTA_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
                                k = a_start(&a, NFTA_SET_ELEM_KEY);
                                a_put(&a, NFTA_DATA_VALUE, key, al);
                                a_end(&a, k);
                                a_end(&a, el);
                                memcpy(mnl_nlmsg_get_payload_tail(nlh), a.b, a.len);
                                nlh->nlmsg_len += (uint32_t)a.len;
                                c++;
                        }
                        mnl_attr_nest_end(nlh, nest);
                        msg_end(tx, nlh);
                }
        }
        free(iv);
        e_addr(b, daddr, (uint32_t)al, NFT_REG_1);
        e_lookup(b, "__set%d", id, false, neg);
}

/* [ip saddr .] [ip daddr .] meta l4proto . th dport, in consecutive registers */
static void e_concat_proto_port(struct rb *b, bool with_saddr, bool with_daddr)
{
        size_t w = 0, aw = addr_len(b->family) / 4;
        if (with_saddr) {
                e_addr(b, false, (uint32_t)addr_len(b->family), reg32(w));
                w += aw;
        }
        if (with_daddr) {
                e_addr(b, true, (uint32_t)addr_len(b->family), reg32(w));
                w += aw;
        }
        e_meta(b, NFT_META_L4PROTO, reg32(w));
        e_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, reg32(w + 1));
}

static void rule_op(struct rb *b, const kn_nft_op *op)
{
        kn_nft_tx *tx = b->tx;
        size_t al = addr_len(b->family);

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
                        tx_fail(tx, -EAFNOSUPPORT, "add rule in chain %s: address of another family", b->chain);
                        return;
                }
                e_addr(b, op->type == KN_OP_DADDR, (uint32_t)al, NFT_REG_1);
                e_cmp(b, op->neg, addr_bytes(&op->addr), (uint32_t)al);
                break;
        case KN_OP_SADDR_IN_CIDR:
        case KN_OP_DADDR_IN_CIDR:
                if (!op->cidrs || op->n_cidrs < 1 || op->cidrs[0].addr.family != b->family) {
                        tx_fail(tx, -EINVAL, "add rule in chain %s: missing CIDR or CIDR of another family", b->chain);
                        return;
                }
                e_cidr(b, op->type == KN_OP_DADDR_IN_CIDR, &op->cidrs[0], op->neg);
                break;
        case KN_OP_SADDR_IN_CIDRS:
        case KN_OP_DADDR_IN_CIDRS:
                if (!op->cidrs) {
                        tx_fail(tx, -EINVAL, "add rule in chain %s: missing CIDR list", b->chain);
                        return;
                }
                e_cidrs(b, op->type == KN_OP_DADDR_IN_CIDRS, op->cidrs, op->n_cidrs, op->neg);
                break;
        case KN_OP_DADDR_IN_SET:
        case KN_OP_SADDR_IN_SET:
                if (!name_ok(tx, "set", op->name))
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
                        tx_fail(tx, -EINVAL, "add rule in chain %s: numgen mod %u value %u", b->chain, op->mod, op->value);
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
                        tx_fail(tx, -EINVAL, "add rule in chain %s: bad interface name", b->chain);
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
                if (!name_ok(tx, "map", op->name))
                        return;
                e_concat_proto_port(b, false, op->type == KN_OP_VMAP_DADDR_PROTO_PORT);
                e_lookup(b, op->name, 0, true, false);
                break;
        case KN_OP_HAIRPIN_IN_SET:
                if (!name_ok(tx, "set", op->name))
                        return;
                e_concat_proto_port(b, true, true);
                e_lookup(b, op->name, 0, false, op->neg);
                break;
        case KN_OP_UPDATE_SADDR: {
                struct nftnl_expr *e;
                if (!name_ok(tx, "set", op->name))
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
                        tx_fail(tx, -EAFNOSUPPORT, "add rule in chain %s: dnat address of another family", b->chain);
                        return;
                }
                if (op->port && !b->have_proto) {
                        tx_fail(tx, -EINVAL, "add rule in chain %s: dnat to a port needs an l4proto match", b->chain);
                        return;
                }
                e = ex(b, "immediate");
                nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
                nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, addr_bytes(&op->addr), (uint32_t)al);
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
                if (!name_ok(tx, "chain", op->name))
                        return;
                e_verdict(b, op->type == KN_OP_JUMP ? NFT_JUMP : NFT_GOTO, op->name);
                break;
        default:
                tx_fail(tx, -EINVAL, "add rule in chain %s: unknown operation %d", b->chain, (int)op->type);
        }
}

void kn_nft_tx_add_rule(kn_nft_tx *tx, const kn_nft_rule *r)
{
        struct rb b = {.tx = tx, .family = tx->n->family};
        struct nlmsghdr *nlh;
        uint8_t ud[COMMENT_MAX + 8];
        size_t ulen;

        if (tx->err || !r || !name_ok(tx, "chain", r->chain))
                return;
        if (r->n_ops > 256) {
                tx_fail(tx, -E2BIG, "add rule in chain %s: %zu operations", r->chain, r->n_ops);
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
        ulen = udata_comment(ud, 0, NFTNL_UDATA_RULE_COMMENT, r->comment);
        if (ulen)
                nftnl_rule_set_data(b.r, NFTNL_RULE_USERDATA, ud, (uint32_t)ulen);
        nlh = msg_begin(tx, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, MSG_RESERVE);
        if (nlh) {
                nftnl_rule_nlmsg_build_payload(nlh, b.r);
                msg_end(tx, nlh);
                tx->n_ops++;
        }
        nftnl_rule_free(b.r);
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

/* Drain the replies queued by the synchronous batch processing. */
static int read_replies(kn_nft_tx *tx, uint32_t base, uint32_t end_seq, kn_error *err)
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
                                else if (!first_err)
                                        first_err = e->error;
                                continue;
                        }
                        if (e->error == 0)
                                continue;
                        idx = nlh->nlmsg_seq - base - 1;
                        n_err++;
                        if (idx < tx->n_msgs && (first_idx == SIZE_MAX || idx < first_idx)) {
                                first_idx = idx;
                                first_err = e->error;
                        } else if (!first_err) {
                                first_err = e->error;
                        }
                }
        }
        if (first_idx != SIZE_MAX)
        {
                char desc[400];
                describe(tx, first_idx, desc, sizeof(desc));
                return kn_error_set(err, first_err, "%s: %s%s", desc, strerror(-first_err),
                                    n_err > 1 ? " (and more errors)" : "");
        }
        if (first_err)
                return kn_error_set(err, first_err, "nftables: batch failed: %s", strerror(-first_err));
        if (lost && !acked)
                return kn_error_set(err, -ENOBUFS, "nftables: replies to the batch were lost (receive buffer full)");
        return 0;
}

int kn_nft_tx_commit(kn_nft_tx *tx, kn_error *err)
{
        kn_nft *n = tx->n;
        struct nlmsghdr *nlh;
        uint32_t base;

        groups_flush(tx, NULL);
        if (tx->err)
                return kn_error_set(err, tx->err, "%s", tx->errmsg);
        if (tx->n_msgs == 0)
                return 0;
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
        {
                int r = send_batch(n, tx->buf, tx->len + HDR_LEN, err);
                if (r < 0)
                        return r;
        }
        return read_replies(tx, base, base + (uint32_t)tx->n_msgs + 1, err);
}

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
