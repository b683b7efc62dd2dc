/* SPDX-License-Identifier: Apache-2.0 */
/* A small, bounded reader of the protobuf wire format: varints, 64-bit, length-delimited
 * and 32-bit fields, one field at a time. Groups (wire types 3 and 4) are refused; they
 * are deprecated and no Kubernetes type uses them. Nothing is allocated; hostile input
 * yields -EBADMSG (or -ELOOP for nesting deeper than KN_PB_MAX_DEPTH). */
#ifndef KN_PB_H
#define KN_PB_H

#include <stddef.h>
#include <stdint.h>

#define KN_PB_MAX_DEPTH 32

enum kn_pb_wire { KN_PB_VARINT = 0, KN_PB_I64 = 1, KN_PB_LEN = 2, KN_PB_I32 = 5 };

typedef struct kn_pb {
        const uint8_t *p, *end;
        unsigned depth;
} kn_pb;

typedef struct kn_pb_field {
        uint32_t num;         /* 1 .. 2^29-1 */
        enum kn_pb_wire wire;
        uint64_t u;           /* the value of VARINT, I64 and I32 fields */
        const uint8_t *data;  /* LEN fields: the bytes, inside the reader's buffer */
        size_t len;
} kn_pb_field;

void kn_pb_init(kn_pb *r, const void *data, size_t len);
/* Read the next field into *RET: 1 when a field was read, 0 at the end of the message,
 * -EBADMSG for truncated data, an over-long varint, a length past the end, field number
 * 0 or an unsupported wire type. */
int kn_pb_next(kn_pb *r, kn_pb_field *ret);
/* A reader over the embedded message in LEN field F, one level deeper than PARENT:
 * -EBADMSG if F is not length-delimited, -ELOOP past KN_PB_MAX_DEPTH. */
int kn_pb_sub(const kn_pb *parent, const kn_pb_field *f, kn_pb *ret);
/* One varint at *P (before END); advances *P. -EBADMSG if truncated or over 10 bytes. */
int kn_pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *ret);

/* Scalar views of a field's value, as protobuf's int32/int64/bool read them. */
static inline int32_t kn_pb_int32(const kn_pb_field *f) { return (int32_t)(uint32_t)f->u; }
static inline int64_t kn_pb_int64(const kn_pb_field *f) { return (int64_t)f->u; }
static inline int kn_pb_bool(const kn_pb_field *f) { return f->u != 0; }

#endif
