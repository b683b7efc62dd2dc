/* SPDX-License-Identifier: Apache-2.0 */
#include "pb.h"

#include <errno.h>

void kn_pb_init(kn_pb *r, const void *data, size_t len)
{
        r->p = data;
        r->end = data ? r->p + len : r->p; /* no arithmetic on NULL */
        r->depth = 0;
}

int kn_pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *ret)
{
        const uint8_t *q = *p;
        uint64_t v = 0;

        for (unsigned i = 0; i < 10; i++) {
                uint8_t b;
                if (q >= end)
                        return -EBADMSG; /* truncated */
                b = *q++;
                if (i == 9 && b > 1)
                        return -EBADMSG; /* more than 64 bits */
                v |= (uint64_t)(b & 0x7f) << (7 * i);
                if (!(b & 0x80)) {
                        *p = q;
                        *ret = v;
                        return 0;
                }
        }
        return -EBADMSG; /* an 11th byte would follow */
}

static uint64_t load_le(const uint8_t *p, unsigned n)
{
        uint64_t v = 0;
        for (unsigned i = 0; i < n; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

int kn_pb_next(kn_pb *r, kn_pb_field *ret)
{
        const uint8_t *p = r->p;
        uint64_t key, v;
        kn_pb_field f = {0};

        if (p >= r->end)
                return 0;
        if (kn_pb_varint(&p, r->end, &key) < 0)
                return -EBADMSG;
        if ((key >> 3) == 0 || (key >> 3) > 0x1fffffff)
                return -EBADMSG;
        f.num = (uint32_t)(key >> 3);
        f.wire = (enum kn_pb_wire)(key & 7);
        switch (key & 7) {
        case KN_PB_VARINT:
                if (kn_pb_varint(&p, r->end, &f.u) < 0)
                        return -EBADMSG;
                break;
        case KN_PB_I64:
                if (r->end - p < 8)
                        return -EBADMSG;
                f.u = load_le(p, 8);
                p += 8;
                break;
        case KN_PB_I32:
                if (r->end - p < 4)
                        return -EBADMSG;
                f.u = load_le(p, 4);
                p += 4;
                break;
        case KN_PB_LEN:
                if (kn_pb_varint(&p, r->end, &v) < 0 || v > (uint64_t)(r->end - p))
                        return -EBADMSG;
                f.data = p;
                f.len = (size_t)v;
                p += v;
                break;
        default:
                return -EBADMSG; /* groups (3, 4) and the undefined 6, 7 */
        }
        r->p = p;
        *ret = f;
        return 1;
}

int kn_pb_sub(const kn_pb *parent, const kn_pb_field *f, kn_pb *ret)
{
        if (f->wire != KN_PB_LEN)
                return -EBADMSG;
        if (parent->depth + 1 > KN_PB_MAX_DEPTH)
                return -ELOOP;
        ret->p = f->data;
        ret->end = f->data + f->len;
        ret->depth = parent->depth + 1;
        return 0;
}
