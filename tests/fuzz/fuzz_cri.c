/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: what a container runtime sends back to the CRI client, without the transport.
 * Byte 0 picks the response type; byte 1 is the length of a header value (fed to the
 * grpc-status and grpc-message decoders); the rest is a unary response body: the gRPC
 * prefix and a message, decoded as the picked type, then re-encoded. */
#include "../../runtime/cri.h"
#include "../../runtime/grpc.h"

static const ProtobufCMessageDescriptor *const types[] = {
        &runtime__v1__list_containers_response__descriptor,
        &runtime__v1__list_pod_sandbox_response__descriptor,
        &runtime__v1__pod_sandbox_status_response__descriptor,
        &runtime__v1__container_status_response__descriptor,
        &runtime__v1__status_response__descriptor,
        &runtime__v1__version_response__descriptor,
        &runtime__v1__list_container_stats_response__descriptor,
        &runtime__v1__list_pod_sandbox_stats_response__descriptor,
        &runtime__v1__exec_sync_response__descriptor,
        &runtime__v1__list_images_response__descriptor,
        &runtime__v1__image_status_response__descriptor,
        &runtime__v1__image_fs_info_response__descriptor,
        &runtime__v1__runtime_config_response__descriptor,
        &runtime__v1__pull_image_response__descriptor,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const ProtobufCMessageDescriptor *desc;
        ProtobufCMessage *m = NULL;
        char msg[400];
        kn_error err;
        size_t hlen;
        uint32_t n;
        int code;

        if (size < 2)
                return 0;
        desc = types[data[0] % KN_ARRAY_SIZE(types)];
        hlen = data[1] < size - 2 ? data[1] : size - 2;
        data += 2, size -= 2;
        cri_grpc_decode_message((const char *)data, hlen, msg, sizeof(msg));
        if (cri_grpc_parse_status((const char *)data, hlen, &code) == 0)
                (void)cri_grpc_errno(code), (void)cri_grpc_code_name(code);
        data += hlen, size -= hlen;
        if (size >= CRI_GRPC_PREFIX)
                (void)cri_grpc_check_prefix(data, 1 << 20, &n, &err);
        if (cri_grpc_decode(data, size, 1 << 20, desc, &m, &err) == 0) {
                uint8_t *b = NULL;
                size_t len;
                if (cri_grpc_encode(m, &b, &len) == 0)
                        free(b);
                cri_msg_free(m);
        }
        return 0;
}
