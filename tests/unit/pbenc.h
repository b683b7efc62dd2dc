/* SPDX-License-Identifier: Apache-2.0 */
/* Test-side protobuf encoder: just enough to build Kubernetes messages by hand.
 * A message is a kn_buf; nested messages are built in their own buffer and appended
 * with pbe_msg (which frees them). */
#ifndef KN_TEST_PBENC_H
#define KN_TEST_PBENC_H

#include "util.h"

static KN_UNUSED void pbe_varint(kn_buf *b, uint64_t v)
{
        uint8_t t[10];
        size_t n = 0;
        do {
                t[n] = (uint8_t)(v & 0x7f);
                v >>= 7;
                if (v)
                        t[n] |= 0x80;
                n++;
        } while (v);
        kn_buf_append(b, t, n);
}

static KN_UNUSED void pbe_key(kn_buf *b, uint32_t num, unsigned wire) { pbe_varint(b, (uint64_t)num << 3 | wire); }

/* A varint field (int32, int64, bool, enum); negative int32/int64 as 10 bytes, like Go. */
static KN_UNUSED void pbe_int(kn_buf *b, uint32_t num, int64_t v)
{
        pbe_key(b, num, 0);
        pbe_varint(b, (uint64_t)v);
}

static KN_UNUSED void pbe_bytes(kn_buf *b, uint32_t num, const void *p, size_t n)
{
        pbe_key(b, num, 2);
        pbe_varint(b, n);
        kn_buf_append(b, p, n);
}

static KN_UNUSED void pbe_str(kn_buf *b, uint32_t num, const char *s) { pbe_bytes(b, num, s, strlen(s)); }

/* Append SUB as an embedded message and free it. */
static KN_UNUSED void pbe_msg(kn_buf *b, uint32_t num, kn_buf *sub)
{
        pbe_bytes(b, num, sub->data ? sub->data : "", sub->len);
        kn_buf_free(sub);
        *sub = (kn_buf){0};
}

/* A map<string,string> entry. */
static KN_UNUSED void pbe_map(kn_buf *b, uint32_t num, const char *k, const char *v)
{
        kn_buf e = {0};
        pbe_str(&e, 1, k);
        pbe_str(&e, 2, v);
        pbe_msg(b, num, &e);
}

/* `k8s\0` + runtime.Unknown{typeMeta{apiVersion, kind}, raw}; frees RAW. */
static KN_UNUSED void pbe_envelope(kn_buf *out, const char *api_version, const char *kind, kn_buf *raw)
{
        kn_buf tm = {0};
        kn_buf_append(out, "k8s\0", 4);
        pbe_str(&tm, 1, api_version);
        pbe_str(&tm, 2, kind);
        pbe_msg(out, 1, &tm);
        pbe_msg(out, 2, raw);
        pbe_str(out, 3, "");
        pbe_str(out, 4, "");
}

/* meta/v1 WatchEvent{type, object: RawExtension{raw: envelope}} as one stream frame
 * (4-byte big-endian length first); frees OBJ (an enveloped object). */
static KN_UNUSED void pbe_watch_frame(kn_buf *out, const char *type, kn_buf *obj)
{
        kn_buf ev = {0}, raw = {0};
        uint8_t len[4];
        pbe_str(&ev, 1, type);
        pbe_msg(&raw, 1, obj);
        pbe_msg(&ev, 2, &raw);
        len[0] = (uint8_t)(ev.len >> 24), len[1] = (uint8_t)(ev.len >> 16);
        len[2] = (uint8_t)(ev.len >> 8), len[3] = (uint8_t)ev.len;
        kn_buf_append(out, len, 4);
        kn_buf_append(out, ev.data, ev.len);
        kn_buf_free(&ev);
}

/* ObjectMeta with name, namespace, resourceVersion, and (like Go) the empty strings. */
static KN_UNUSED void pbe_meta(kn_buf *b, uint32_t num, const char *ns, const char *name, const char *rv)
{
        kn_buf m = {0};
        pbe_str(&m, 1, name);
        pbe_str(&m, 2, "");
        pbe_str(&m, 3, ns);
        pbe_str(&m, 4, "");
        pbe_str(&m, 5, "");
        pbe_str(&m, 6, rv);
        pbe_int(&m, 7, 0);
        pbe_msg(b, num, &m);
}

#endif
