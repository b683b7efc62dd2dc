/* SPDX-License-Identifier: Apache-2.0 */
/* Stale conntrack flow cleanup over raw ctnetlink: dump the family's table, match in
 * user space, then delete each match by its original tuple on the same socket, one
 * acked request at a time. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conntrack.h"

#include "../core/log.h"

/* Netlink dumps come in skbs of up to 32 KiB (older libmnl lacks MNL_SOCKET_DUMP_SIZE). */
#define DUMP_BUF_SIZE 32768

struct ct_tuple {
        kn_addr src, dst;
        uint8_t proto;
        uint16_t sport, dport; /* network order */
};

struct ct_entry {
        int family;
        struct ct_tuple orig;
        uint16_t zone; /* network order, as the kernel sent it */
        bool has_zone;
};

struct dump_ctx {
        int family, proto;                /* family AF_UNSPEC: both */
        const kn_conntrack_filter *f;     /* sorted by (orig_dport, ...) */
        size_t n_f, n_any_port;           /* f[0..n_any_port) have orig_dport 0 */
        size_t scanned;
        bool truncated;
        struct ct_entry *match;
        size_t n_match, cap_match;
};

struct tb_ctx {
        const struct nlattr **tb;
        unsigned max;
};

static int tb_cb(const struct nlattr *a, void *data)
{
        struct tb_ctx *c = data;
        uint16_t type = mnl_attr_get_type(a);

        if (type <= c->max)
                c->tb[type] = a;
        return MNL_CB_OK;
}

static int parse_nested(const struct nlattr *nest, const struct nlattr **tb, unsigned max)
{
        struct tb_ctx c = { tb, max };

        memset(tb, 0, (max + 1) * sizeof(*tb));
        if (mnl_attr_validate(nest, MNL_TYPE_NESTED) < 0)
                return -EINVAL;
        return mnl_attr_parse_nested(nest, tb_cb, &c) < 0 ? -EINVAL : 0;
}

static int get_addr(const struct nlattr *a, int family, kn_addr *ret)
{
        size_t len = family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr);

        if (!a || mnl_attr_get_payload_len(a) != len)
                return -EINVAL;
        memset(ret, 0, sizeof(*ret));
        ret->family = family;
        memcpy(family == AF_INET ? (void *)&ret->v4 : (void *)&ret->v6, mnl_attr_get_payload(a), len);
        return 0;
}

static uint16_t get_port(const struct nlattr *a)
{
        if (!a || mnl_attr_validate(a, MNL_TYPE_U16) < 0)
                return 0;
        return mnl_attr_get_u16(a); /* stays in network order */
}

static int parse_tuple(const struct nlattr *nest, int family, struct ct_tuple *ret)
{
        const struct nlattr *tb[CTA_TUPLE_MAX + 1], *ip[CTA_IP_MAX + 1], *pr[CTA_PROTO_MAX + 1];
        bool v4 = family == AF_INET;

        if (!nest || parse_nested(nest, tb, CTA_TUPLE_MAX) < 0 || !tb[CTA_TUPLE_IP] ||
            !tb[CTA_TUPLE_PROTO])
                return -EINVAL;
        if (parse_nested(tb[CTA_TUPLE_IP], ip, CTA_IP_MAX) < 0 ||
            get_addr(ip[v4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC], family, &ret->src) < 0 ||
            get_addr(ip[v4 ? CTA_IP_V4_DST : CTA_IP_V6_DST], family, &ret->dst) < 0)
                return -EINVAL;
        if (parse_nested(tb[CTA_TUPLE_PROTO], pr, CTA_PROTO_MAX) < 0 || !pr[CTA_PROTO_NUM] ||
            mnl_attr_validate(pr[CTA_PROTO_NUM], MNL_TYPE_U8) < 0)
                return -EINVAL;
        ret->proto = mnl_attr_get_u8(pr[CTA_PROTO_NUM]);
        ret->sport = get_port(pr[CTA_PROTO_SRC_PORT]);
        ret->dport = get_port(pr[CTA_PROTO_DST_PORT]);
        return 0;
}

static bool addr_eq(const kn_addr *a, const kn_addr *b)
{
        if (a->family != b->family)
                return false;
        if (a->family == AF_INET)
                return a->v4.s_addr == b->v4.s_addr;
        return memcmp(&a->v6, &b->v6, sizeof(a->v6)) == 0;
}

static bool filter_match(const kn_conntrack_filter *f, int family, const struct ct_tuple *orig,
                         const struct ct_tuple *reply)
{
        return f->family == family && (!f->orig_dst.family || addr_eq(&orig->dst, &f->orig_dst)) &&
               (!f->reply_src.family || addr_eq(&reply->src, &f->reply_src)) &&
               (!f->untranslated || addr_eq(&reply->src, &orig->dst));
}

static int filter_cmp(const void *a, const void *b)
{
        const kn_conntrack_filter *x = a, *y = b;
        if (x->orig_dport != y->orig_dport)
                return x->orig_dport < y->orig_dport ? -1 : 1;
        return memcmp(x, y, sizeof(*x));
}

/* Whether an entry of FAMILY matches a filter: the ones of its port, by binary search,
 * and the any-port ones. */
static bool entry_wanted(const struct dump_ctx *c, int family, const struct ct_tuple *orig,
                         const struct ct_tuple *reply)
{
        uint16_t port = ntohs(orig->dport);
        size_t lo = c->n_any_port, hi = c->n_f;

        for (size_t i = 0; i < c->n_any_port; i++)
                if (filter_match(&c->f[i], family, orig, reply))
                        return true;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (c->f[mid].orig_dport < port)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        for (size_t i = lo; i < c->n_f && c->f[i].orig_dport == port; i++)
                if (filter_match(&c->f[i], family, orig, reply))
                        return true;
        return false;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
        struct dump_ctx *c = data;
        const struct nlattr *tb[CTA_MAX + 1] = { 0 };
        struct tb_ctx tbc = { tb, CTA_MAX };
        const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
        struct ct_entry e = { 0 };
        struct ct_tuple reply;

        /* Past the bound keep draining the dump (the socket is reused for deletes),
         * but look at nothing more. */
        if (c->scanned >= KN_CONNTRACK_MAX_ENTRIES) {
                c->truncated = true;
                return MNL_CB_OK;
        }
        c->scanned++;
        /* A malformed entry is skipped, not fatal: it cannot be one of ours. */
        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*nfg) ||
            (nfg->nfgen_family != AF_INET && nfg->nfgen_family != AF_INET6) ||
            (c->family != AF_UNSPEC && nfg->nfgen_family != c->family) ||
            mnl_attr_parse(nlh, sizeof(*nfg), tb_cb, &tbc) < 0)
                return MNL_CB_OK;
        e.family = nfg->nfgen_family;
        if (parse_tuple(tb[CTA_TUPLE_ORIG], e.family, &e.orig) < 0 ||
            parse_tuple(tb[CTA_TUPLE_REPLY], e.family, &reply) < 0)
                return MNL_CB_OK;
        if (e.orig.proto != c->proto || !entry_wanted(c, e.family, &e.orig, &reply))
                return MNL_CB_OK;
        if (tb[CTA_ZONE] && mnl_attr_validate(tb[CTA_ZONE], MNL_TYPE_U16) == 0) {
                e.zone = mnl_attr_get_u16(tb[CTA_ZONE]);
                e.has_zone = true;
        }
        if (c->n_match == c->cap_match) {
                c->cap_match = c->cap_match ? 2 * c->cap_match : 16;
                c->match = kn_realloc(c->match, c->cap_match * sizeof(*c->match));
        }
        c->match[c->n_match++] = e;
        return MNL_CB_OK;
}

static struct nlmsghdr *put_request(void *buf, int family, uint16_t msg, uint16_t flags,
                                    uint32_t seq)
{
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct nfgenmsg *nfg;

        nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | msg;
        nlh->nlmsg_flags = NLM_F_REQUEST | flags;
        nlh->nlmsg_seq = seq;
        nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        nfg->nfgen_family = family;
        nfg->version = NFNETLINK_V0;
        nfg->res_id = 0;
        return nlh;
}

static int dump(struct mnl_socket *nl, uint32_t seq, struct dump_ctx *c, kn_error *err)
{
        _cleanup_free_ char *buf = kn_malloc(DUMP_BUF_SIZE);
        struct nlmsghdr *nlh = put_request(buf, c->family, IPCTNL_MSG_CT_GET, NLM_F_DUMP, seq);
        uint32_t portid = mnl_socket_get_portid(nl);
        ssize_t n;
        int r;

        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                return kn_error_set(err, -errno, "failed to request conntrack dump: %s",
                                    strerror(errno));
        for (;;) {
                n = mnl_socket_recvfrom(nl, buf, DUMP_BUF_SIZE);
                if (n < 0)
                        return kn_error_set(err, -errno, "failed to read conntrack dump: %s",
                                            strerror(errno));
                r = mnl_cb_run(buf, n, seq, portid, dump_cb, c);
                if (r < 0)
                        return kn_error_set(err, -errno, "failed to dump conntrack table: %s",
                                            strerror(errno));
                if (r == MNL_CB_STOP)
                        return 0;
        }
}

/* Delete one entry by its original tuple. 0 deleted, -ENOENT already gone, else -errno. */
static int delete_one(struct mnl_socket *nl, int family, uint32_t seq, const struct ct_entry *e)
{
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = put_request(buf, family, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, seq);
        bool v4 = family == AF_INET;
        size_t alen = v4 ? sizeof(struct in_addr) : sizeof(struct in6_addr);
        struct nlattr *tuple, *nest;
        ssize_t n;
        int r;

        tuple = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
        nest = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
        mnl_attr_put(nlh, v4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, alen,
                     v4 ? (const void *)&e->orig.src.v4 : (const void *)&e->orig.src.v6);
        mnl_attr_put(nlh, v4 ? CTA_IP_V4_DST : CTA_IP_V6_DST, alen,
                     v4 ? (const void *)&e->orig.dst.v4 : (const void *)&e->orig.dst.v6);
        mnl_attr_nest_end(nlh, nest);
        nest = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
        mnl_attr_put_u8(nlh, CTA_PROTO_NUM, e->orig.proto);
        mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, e->orig.sport);
        mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, e->orig.dport);
        mnl_attr_nest_end(nlh, nest);
        mnl_attr_nest_end(nlh, tuple);
        if (e->has_zone)
                mnl_attr_put_u16(nlh, CTA_ZONE, e->zone);

        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
        if (n < 0)
                return -errno;
        r = mnl_cb_run(buf, n, seq, mnl_socket_get_portid(nl), NULL, NULL);
        return r < 0 ? -errno : 0;
}

static bool port_proto(int proto)
{
        return proto == IPPROTO_UDP || proto == IPPROTO_TCP || proto == IPPROTO_SCTP ||
               proto == IPPROTO_UDPLITE;
}

int kn_conntrack_delete(int family, int proto, const kn_addr *orig_dst, uint16_t orig_dport,
                        const kn_addr *reply_src, unsigned *ret_deleted, kn_error *err)
{
        kn_conntrack_filter f = {.family = family, .orig_dport = orig_dport};
        unsigned deleted[2] = {0, 0};
        int r;

        if ((family != AF_INET && family != AF_INET6) || (orig_dst && orig_dst->family != family) ||
            (reply_src && reply_src->family != family))
                return kn_error_set(err, -EINVAL, "invalid conntrack filter (family %d, protocol %d)",
                                    family, proto);
        if (orig_dst)
                f.orig_dst = *orig_dst;
        if (reply_src)
                f.reply_src = *reply_src;
        r = kn_conntrack_delete_many(proto, &f, 1, deleted, err);
        if (r >= 0 && ret_deleted)
                *ret_deleted = deleted[0] + deleted[1];
        return r;
}

/* DST = SRC with the bytes its family does not use zeroed (filters are compared whole). */
static void copy_addr(kn_addr *dst, const kn_addr *src)
{
        memset(dst, 0, sizeof(*dst));
        dst->family = src->family;
        if (src->family == AF_INET)
                dst->v4 = src->v4;
        else if (src->family == AF_INET6)
                dst->v6 = src->v6;
}

int kn_conntrack_delete_many(int proto, kn_conntrack_filter *f, size_t n, unsigned ret_deleted[2], kn_error *err)
{
        struct dump_ctx c = {.family = AF_UNSPEC, .proto = proto, .f = f};
        struct mnl_socket *nl;
        uint32_t seq = (uint32_t)kn_now_ms();
        unsigned deleted[2] = {0, 0};
        bool v4 = false, v6 = false;
        size_t k = 0;
        int r;

        if (!port_proto(proto))
                return kn_error_set(err, -EINVAL, "invalid conntrack filter (protocol %d)", proto);
        for (size_t i = 0; i < n; i++) {
                const kn_conntrack_filter *x = &f[i];
                if ((x->family != AF_INET && x->family != AF_INET6) ||
                    (x->orig_dst.family && x->orig_dst.family != x->family) ||
                    (x->reply_src.family && x->reply_src.family != x->family))
                        return kn_error_set(err, -EINVAL, "invalid conntrack filter (family %d, protocol %d)",
                                            x->family, proto);
                v4 |= x->family == AF_INET;
                v6 |= x->family == AF_INET6;
        }
        if (!n) {
                if (ret_deleted)
                        ret_deleted[0] = ret_deleted[1] = 0;
                return 0;
        }
        /* Unused bytes of the addresses take part in the comparison: make them zero. */
        for (size_t i = 0; i < n; i++) {
                kn_conntrack_filter z = {.family = f[i].family, .orig_dport = f[i].orig_dport,
                                         .untranslated = f[i].untranslated};
                copy_addr(&z.orig_dst, &f[i].orig_dst);
                copy_addr(&z.reply_src, &f[i].reply_src);
                f[i] = z;
        }
        qsort(f, n, sizeof(*f), filter_cmp);
        for (size_t i = 0; i < n; i++)
                if (!k || memcmp(&f[k - 1], &f[i], sizeof(*f)) != 0)
                        f[k++] = f[i];
        c.n_f = k;
        while (c.n_any_port < k && f[c.n_any_port].orig_dport == 0)
                c.n_any_port++;
        c.family = v4 && v6 ? AF_UNSPEC : v6 ? AF_INET6 : AF_INET;
        nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
        if (!nl)
                return kn_error_set(err, -errno, "failed to open ctnetlink socket: %s",
                                    strerror(errno));
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                r = kn_error_set(err, -errno, "failed to bind ctnetlink socket: %s", strerror(errno));
                goto out;
        }
        r = dump(nl, seq++, &c, err);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < c.n_match; i++) {
                r = delete_one(nl, c.match[i].family, seq++, &c.match[i]);
                if (r == -ENOENT)
                        continue; /* expired or deleted since the dump */
                if (r < 0) {
                        r = kn_error_set(err, r, "failed to delete conntrack entry (%u deleted before): %s",
                                         deleted[0] + deleted[1], strerror(-r));
                        goto out;
                }
                deleted[c.match[i].family == AF_INET6]++;
        }
        if (c.truncated) {
                r = kn_error_set(err, -E2BIG,
                                 "conntrack table has more than %u entries; only the first were examined (%u deleted)",
                                 KN_CONNTRACK_MAX_ENTRIES, deleted[0] + deleted[1]);
                goto out;
        }
        if (ret_deleted) {
                ret_deleted[0] = deleted[0];
                ret_deleted[1] = deleted[1];
        }
        r = 0;
out:
        free(c.match);
        mnl_socket_close(nl);
        return r;
}

/* ---- conntrack limits and timeouts ---- */

int64_t kn_conntrack_max(int64_t max_per_core, int64_t min, int n_cpus)
{
        int64_t scaled;
        if (max_per_core <= 0)
                return 0;
        if (n_cpus <= 0) {
                cpu_set_t set;
                n_cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
        }
        scaled = max_per_core * n_cpus;
        return scaled > min ? scaled : min;
}

/* Read an integer file; -errno when it cannot be read or parsed. */
static int read_int(const char *path, int64_t *ret)
{
        _cleanup_free_ char *s = NULL;
        char *end;
        long long v;
        int r = kn_read_file(path, 64, &s, NULL);
        if (r < 0)
                return r;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || end == s)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int write_int(const char *path, int64_t v)
{
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%lld\n", (long long)v);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (write(fd, buf, (size_t)n) != n)
                return errno ? -errno : -EIO;
        return 0;
}

/* 1 when written, 0 when already V, -errno when refused (logged). */
static int set_int(const char *dir, const char *name, int64_t v)
{
        _cleanup_free_ char *path = kn_asprintf("%s/%s", dir, name);
        int64_t cur;
        int r;
        if (read_int(path, &cur) >= 0 && cur == v)
                return 0;
        errno = 0;
        r = write_int(path, v);
        if (r < 0) {
                kn_warn("failed to set %s to %lld: %s (the host refuses it; going on without it)", path,
                        (long long)v, strerror(-r));
                return r;
        }
        kn_info("set %s to %lld", path, (long long)v);
        return 1;
}

int kn_conntrack_apply(const kn_conntrack_settings *s)
{
        const char *proc = s->proc_dir ? s->proc_dir : "/proc/sys/net/netfilter";
        const char *sys = s->sys_dir ? s->sys_dir : "/sys/module/nf_conntrack/parameters";
        const struct {
                const char *name;
                int64_t v;
        } t[] = {
                {"nf_conntrack_tcp_timeout_established", s->tcp_established_s},
                {"nf_conntrack_tcp_timeout_close_wait", s->tcp_close_wait_s},
                {"nf_conntrack_tcp_be_liberal", s->tcp_be_liberal ? 1 : 0},
                {"nf_conntrack_udp_timeout", s->udp_s},
                {"nf_conntrack_udp_timeout_stream", s->udp_stream_s},
        };
        int refused = 0;

        if (s->max > 0) {
                if (set_int(proc, "nf_conntrack_max", s->max) < 0) {
                        refused++;
                } else {
                        /* The hash table grows only when too small for the limit (upstream:
                         * hashsize >= max/4); the kernel refuses it outside the initial
                         * network namespace, and a read-only /sys refuses it anywhere. */
                        _cleanup_free_ char *hs = kn_asprintf("%s/hashsize", sys);
                        int64_t cur;
                        if (read_int(hs, &cur) < 0 || cur < s->max / 4)
                                refused += set_int(sys, "hashsize", s->max / 4) < 0;
                }
        }
        for (size_t i = 0; i < KN_ARRAY_SIZE(t); i++)
                if (t[i].v > 0)
                        refused += set_int(proc, t[i].name, t[i].v) < 0;
        return refused;
}
