/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes protobuf: the `k8s\0` + runtime.Unknown envelope, and decoders that turn the
 * few types knode reads as protobuf into cJSON of exactly the shape the API server's
 * JSON would have (omitempty, pointer fields present iff set, RFC 3339 times), so the
 * rest of knode does not know which encoding was used.
 *
 * Decoded kinds: Service, ServiceList, EndpointSlice, EndpointSliceList, Status. Of
 * ObjectMeta only name, namespace, uid, resourceVersion, generation, deletionTimestamp,
 * labels and annotations are kept (no managedFields); of each type the fields listed in
 * kpb.c. Anything else is skipped. Duplicate map keys (which no server sends) are kept
 * as duplicate JSON keys: cJSON finds the first.
 *
 * Bounds: the input is bounded by the caller; the decoder makes at most one cJSON node
 * per input byte (plus a constant) and nests at most KN_PB_MAX_DEPTH messages. */
#ifndef KN_KPB_H
#define KN_KPB_H

#include <cjson/cJSON.h>

#include "util.h"

#define KN_KPB_MAGIC "k8s\0"
#define KN_KPB_MAGIC_LEN 4
#define KN_KPB_CONTENT_TYPE "application/vnd.kubernetes.protobuf"

/* True if DATA starts with the envelope's magic bytes. */
bool kn_kpb_is_envelope(const void *data, size_t len);
/* True if a Content-Type header value names Kubernetes protobuf (parameters allowed). */
bool kn_kpb_is_content_type(const char *content_type);

/* Decode an enveloped object. The result carries "kind" and "apiVersion" from the
 * envelope, like a top-level JSON object. -EBADMSG for a missing magic, malformed
 * protobuf, an unknown kind or a content encoding; -ELOOP for too deep nesting;
 * -E2BIG past the node bound. */
int kn_kpb_decode(const void *data, size_t len, cJSON **ret_obj, kn_error *err);

/* Decode an enveloped List handing its items to CB one at a time, as they are decoded
 * (CB takes each; a negative return stops the decoding and is returned). *ret_list is
 * the rest of the List ("metadata", an empty "items"). Memory: one item at a time. */
typedef int (*kn_kpb_item_cb)(cJSON *item, void *userdata);
int kn_kpb_decode_list(const void *data, size_t len, kn_kpb_item_cb cb, void *userdata, cJSON **ret_list,
                       kn_error *err);

/* Decode one meta/v1 WatchEvent message (the payload of one stream frame, no envelope)
 * into {"type": ..., "object": {...}}, the object decoded from its enveloped raw bytes. */
int kn_kpb_decode_watch_event(const void *data, size_t len, cJSON **ret_event, kn_error *err);

#endif
