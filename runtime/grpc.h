/* SPDX-License-Identifier: Apache-2.0 */
/* gRPC's unary wire format, without any transport: the 5-byte message prefix, the
 * grpc-status / grpc-message / grpc-timeout headers, status codes as -errno. Pure
 * functions over bytes, so the fuzzer reaches everything a runtime can send. */
#ifndef CRI_GRPC_H
#define CRI_GRPC_H

#include <protobuf-c/protobuf-c.h>

#include "../core/util.h"

#define CRI_GRPC_PREFIX 5 /* compressed flag + 4-byte big-endian length */

/* The canonical gRPC status codes (grpc/doc/statuscodes.md). */
enum {
        CRI_GRPC_OK = 0,
        CRI_GRPC_CANCELLED = 1,
        CRI_GRPC_UNKNOWN = 2,
        CRI_GRPC_INVALID_ARGUMENT = 3,
        CRI_GRPC_DEADLINE_EXCEEDED = 4,
        CRI_GRPC_NOT_FOUND = 5,
        CRI_GRPC_ALREADY_EXISTS = 6,
        CRI_GRPC_PERMISSION_DENIED = 7,
        CRI_GRPC_RESOURCE_EXHAUSTED = 8,
        CRI_GRPC_FAILED_PRECONDITION = 9,
        CRI_GRPC_ABORTED = 10,
        CRI_GRPC_OUT_OF_RANGE = 11,
        CRI_GRPC_UNIMPLEMENTED = 12,
        CRI_GRPC_INTERNAL = 13,
        CRI_GRPC_UNAVAILABLE = 14,
        CRI_GRPC_DATA_LOSS = 15,
        CRI_GRPC_UNAUTHENTICATED = 16,
};

/* A status code as a negative errno (0 for OK); codes without a closer match are -EIO. */
int cri_grpc_errno(int code);
/* The code's name as grpc-go spells it ("NotFound"), "Unknown" outside the table. */
const char *cri_grpc_code_name(int code);
/* The gRPC code an HTTP status other than 200 stands for (the gRPC HTTP/2 mapping). */
int cri_grpc_code_from_http(long http_status);

/* Encode MSG as one length-prefixed, uncompressed message; *ret_len bytes in *ret (malloc). */
int cri_grpc_encode(const ProtobufCMessage *msg, uint8_t **ret, size_t *ret_len);
/* Check the prefix of a response body once CRI_GRPC_PREFIX bytes are in: -EPROTO for a
 * compressed message (none was asked for), -EFBIG when the declared length exceeds MAX. */
int cri_grpc_check_prefix(const uint8_t *p, size_t max, uint32_t *ret_len, kn_error *err);
/* Decode a complete unary response body: exactly one message of at most MAX bytes, then
 * unpacked as DESC. -EBADMSG for truncated, trailing or unparsable bytes. */
int cri_grpc_decode(const uint8_t *data, size_t len, size_t max, const ProtobufCMessageDescriptor *desc,
                    ProtobufCMessage **ret, kn_error *err);

/* Parse a grpc-status value ("0".."16"; other numbers are kept, garbage is -EBADMSG). */
int cri_grpc_parse_status(const char *s, size_t len, int *ret_code);
/* Percent-decode a grpc-message value into BUF (always NUL-terminated, truncated to fit);
 * malformed escapes are kept as they are, as the gRPC spec asks. */
void cri_grpc_decode_message(const char *s, size_t len, char *buf, size_t size);
/* Format a grpc-timeout value ("250m", "120S": at most 8 digits) for MS milliseconds. */
void cri_grpc_format_timeout(long ms, char *buf, size_t size);

#endif
