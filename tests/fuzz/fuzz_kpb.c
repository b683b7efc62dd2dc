/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: Kubernetes protobuf. The first byte picks the mode (bit 0: an enveloped
 * object such as a list page or an error Status; or a watch stream of length-prefixed
 * frames) and, for streams, the chunk size the bytes are fed in. */
#include "api.h"
#include "kpb.h"
#include "watch.h"
#include "watch_cb.h"

static int take_item(cJSON *item, void *u)
{
        (void)u;
        free(kn_obj_key(item));
        cJSON_Delete(item);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        uint8_t mode;

        if (size < 1)
                return 0;
        mode = data[0];
        data++, size--;
        if (!(mode & 1)) {
                cJSON *o = NULL;
                kn_error err;
                kn_api_error e;
                if (kn_kpb_decode(data, size, &o, &err) == 0) {
                        const cJSON *it;
                        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "items")) free(kn_obj_key(it));
                        cJSON_Delete(o);
                }
                o = NULL;
                if (kn_kpb_decode_list(data, size, take_item, NULL, &o, &err) == 0)
                        cJSON_Delete(o);
                kn_api_decode_status(500, (const char *)data, size, &e);
        } else {
                kn_watch_decoder d;
                size_t off = 0, step = (size_t)(mode >> 1) % 64 + 1;
                kn_watch_decoder_init(&d, 4096, cb, NULL);
                kn_watch_decoder_set_format(&d, KN_WATCH_PROTOBUF);
                while (off < size) {
                        size_t n = size - off < step ? size - off : step;
                        if (kn_watch_decoder_feed(&d, (const char *)data + off, n) < 0) {
                                kn_watch_decoder_reset(&d);
                                kn_watch_decoder_set_format(&d, KN_WATCH_PROTOBUF);
                        }
                        off += n;
                }
                kn_watch_decoder_free(&d);
        }
        return 0;
}
