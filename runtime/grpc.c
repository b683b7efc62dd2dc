/* SPDX-License-Identifier: Apache-2.0 */
#include "grpc.h"

#include <stdio.h>

static const struct {
        const char *name;
        int err;
} codes[] = {
        [CRI_GRPC_OK] = {"OK", 0},
        [CRI_GRPC_CANCELLED] = {"Canceled", -ECANCELED},
        [CRI_GRPC_UNKNOWN] = {"Unknown", -EIO},
        [CRI_GRPC_INVALID_ARGUMENT] = {"InvalidArgument", -EINVAL},
        [CRI_GRPC_DEADLINE_EXCEEDED] = {"DeadlineExceeded", -ETIMEDOUT},
        [CRI_GRPC_NOT_FOUND] = {"NotFound", -ENOENT},
        [CRI_GRPC_ALREADY_EXISTS] = {"AlreadyExists", -EEXIST},
        [CRI_GRPC_PERMISSION_DENIED] = {"PermissionDenied", -EACCES},
        [CRI_GRPC_RESOURCE_EXHAUSTED] = {"ResourceExhausted", -ENOSPC},
        [CRI_GRPC_FAILED_PRECONDITION] = {"FailedPrecondition", -EIO},
        [CRI_GRPC_ABORTED] = {"Aborted", -EIO},
        [CRI_GRPC_OUT_OF_RANGE] = {"OutOfRange", -EIO},
        [CRI_GRPC_UNIMPLEMENTED] = {"Unimplemented", -EOPNOTSUPP},
        [CRI_GRPC_INTERNAL] = {"Internal", -EIO},
        [CRI_GRPC_UNAVAILABLE] = {"Unavailable", -ECONNREFUSED},
        [CRI_GRPC_DATA_LOSS] = {"DataLoss", -EIO},
        [CRI_GRPC_UNAUTHENTICATED] = {"Unauthenticated", -EIO},
};

int cri_grpc_errno(int code)
{
        if (code < 0 || (size_t)code >= KN_ARRAY_SIZE(codes))
                return -EIO;
        return codes[code].err;
}

const char *cri_grpc_code_name(int code)
{
        if (code < 0 || (size_t)code >= KN_ARRAY_SIZE(codes))
                return "Unknown";
        return codes[code].name;
}

int cri_grpc_code_from_http(long http_status)
{
        switch (http_status) {
        case 400:
                return CRI_GRPC_INTERNAL;
        case 401:
                return CRI_GRPC_UNAUTHENTICATED;
        case 403:
                return CRI_GRPC_PERMISSION_DENIED;
        case 404:
                return CRI_GRPC_UNIMPLEMENTED;
        case 429:
        case 502:
        case 503:
        case 504:
                return CRI_GRPC_UNAVAILABLE;
        default:
                return CRI_GRPC_UNKNOWN;
        }
}

int cri_grpc_encode(const ProtobufCMessage *msg, uint8_t **ret, size_t *ret_len)
{
        size_t n = protobuf_c_message_get_packed_size(msg);
        uint8_t *b;

        if (n > UINT32_MAX)
                return -EFBIG;
        b = kn_malloc(CRI_GRPC_PREFIX + n);
        b[0] = 0;
        b[1] = (uint8_t)(n >> 24);
        b[2] = (uint8_t)(n >> 16);
        b[3] = (uint8_t)(n >> 8);
        b[4] = (uint8_t)n;
        if (protobuf_c_message_pack(msg, b + CRI_GRPC_PREFIX) != n) {
                free(b);
                return -EINVAL;
        }
        *ret = b;
        *ret_len = CRI_GRPC_PREFIX + n;
        return 0;
}

int cri_grpc_check_prefix(const uint8_t *p, size_t max, uint32_t *ret_len, kn_error *err)
{
        uint32_t n = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];

        if (p[0] == 1)
                return kn_error_set(err, -EPROTO, "compressed gRPC message, none was asked for");
        if (p[0] != 0)
                return kn_error_set(err, -EBADMSG, "bad gRPC message flag %u", p[0]);
        if (n > max)
                return kn_error_set(err, -EFBIG, "gRPC message of %u bytes is over the %zu byte limit", n, max);
        *ret_len = n;
        return 0;
}

int cri_grpc_decode(const uint8_t *data, size_t len, size_t max, const ProtobufCMessageDescriptor *desc,
                    ProtobufCMessage **ret, kn_error *err)
{
        ProtobufCMessage *m;
        uint32_t n;
        int r;

        if (len < CRI_GRPC_PREFIX)
                return kn_error_set(err, -EBADMSG, "gRPC response of %zu bytes has no message", len);
        r = cri_grpc_check_prefix(data, max, &n, err);
        if (r < 0)
                return r;
        if (len - CRI_GRPC_PREFIX < n)
                return kn_error_set(err, -EBADMSG, "truncated gRPC message: %zu of %u bytes",
                                    len - CRI_GRPC_PREFIX, n);
        if (len - CRI_GRPC_PREFIX > n)
                return kn_error_set(err, -EBADMSG, "%zu bytes after the gRPC message of a unary call",
                                    len - CRI_GRPC_PREFIX - n);
        m = protobuf_c_message_unpack(desc, NULL, n, data + CRI_GRPC_PREFIX);
        if (!m)
                return kn_error_set(err, -EBADMSG, "cannot decode %s (%u bytes)", desc->name, n);
        *ret = m;
        return 0;
}

int cri_grpc_parse_status(const char *s, size_t len, int *ret_code)
{
        int v = 0;

        if (len == 0 || len > 9)
                return -EBADMSG;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EBADMSG;
                v = v * 10 + (s[i] - '0');
        }
        *ret_code = v;
        return 0;
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

void cri_grpc_decode_message(const char *s, size_t len, char *buf, size_t size)
{
        size_t o = 0;

        if (size == 0)
                return;
        for (size_t i = 0; i < len && o + 1 < size; i++) {
                int hi, lo;
                if (s[i] == '%' && i + 2 < len && (hi = hexval(s[i + 1])) >= 0 &&
                    (lo = hexval(s[i + 2])) >= 0) {
                        buf[o++] = (char)(hi << 4 | lo);
                        i += 2;
                } else {
                        buf[o++] = s[i];
                }
        }
        buf[o] = '\0';
}

void cri_grpc_format_timeout(long ms, char *buf, size_t size)
{
        if (ms < 1)
                ms = 1;
        if (ms <= 99999999)
                snprintf(buf, size, "%ldm", ms);
        else if (ms / 1000 <= 99999999)
                snprintf(buf, size, "%ldS", ms / 1000);
        else
                snprintf(buf, size, "%ldH", ms / 3600000 > 99999999 ? 99999999 : ms / 3600000);
}
