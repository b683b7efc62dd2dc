/* SPDX-License-Identifier: Apache-2.0 */
/* Decoder for the API server's watch stream: newline-delimited JSON WatchEvents, or
 * Kubernetes protobuf frames (a 4-byte big-endian length, then a meta/v1 WatchEvent). */
#ifndef KN_WATCH_H
#define KN_WATCH_H

#include <cjson/cJSON.h>

#include "util.h"

#define KN_WATCH_MAX_EVENT_DEFAULT (16u << 20)

enum kn_watch_type { KN_WATCH_ADDED, KN_WATCH_MODIFIED, KN_WATCH_DELETED, KN_WATCH_BOOKMARK, KN_WATCH_ERROR };

/* The callback always takes ownership of OBJECT. A negative return stops decoding
 * with that error. */
typedef int (*kn_watch_event_cb)(enum kn_watch_type type, cJSON *object, void *userdata);

enum kn_watch_format { KN_WATCH_JSON, KN_WATCH_PROTOBUF };

typedef struct kn_watch_decoder {
        kn_buf line;          /* JSON: the partial line; protobuf: the partial frame */
        size_t max_event;
        enum kn_watch_format format;
        uint8_t hdr[4];       /* protobuf: the frame length read so far */
        unsigned hdr_len;
        kn_watch_event_cb cb;
        void *userdata;
        char error[256]; /* why the last feed failed */
} kn_watch_decoder;

void kn_watch_decoder_init(kn_watch_decoder *d, size_t max_event, kn_watch_event_cb cb, void *userdata);
/* The stream's encoding (JSON unless set); set it before the first feed. */
void kn_watch_decoder_set_format(kn_watch_decoder *d, enum kn_watch_format format);
/* Feed raw bytes; events are delivered as complete lines arrive. Returns 0, the callback's
 * negative return, -EBADMSG for a malformed event or -EFBIG for one over the bound. */
int kn_watch_decoder_feed(kn_watch_decoder *d, const char *data, size_t len);
/* Bytes left over that do not form a complete event (a truncated stream). */
size_t kn_watch_decoder_pending(const kn_watch_decoder *d);
void kn_watch_decoder_reset(kn_watch_decoder *d);
void kn_watch_decoder_free(kn_watch_decoder *d);

/* Helpers for objects. */
const char *kn_obj_str(const cJSON *obj, const char *path); /* dotted path, NULL if absent/not string */
/* "ns/name" or "name" for cluster-scoped objects; NULL if the object has no name. */
char *kn_obj_key(const cJSON *obj);

#endif
