/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: the watch-event stream decoder, fed in random-sized chunks. */
#include "api.h"
#include "watch.h"
#include "watch_cb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        kn_watch_decoder d;
        size_t off = 0, step;

        if (size < 1)
                return 0;
        step = (size_t)data[0] % 64 + 1; /* the first byte picks the chunk size */
        data++, size--;
        kn_watch_decoder_init(&d, 4096, cb, NULL);
        while (off < size) {
                size_t n = size - off < step ? size - off : step;
                if (kn_watch_decoder_feed(&d, (const char *)data + off, n) < 0)
                        kn_watch_decoder_reset(&d);
                off += n;
        }
        kn_watch_decoder_free(&d);
        return 0;
}
