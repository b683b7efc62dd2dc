/* SPDX-License-Identifier: Apache-2.0 */
/* CRI messages <-> cJSON through protobuf-c's descriptors. JSON keys are the proto's
 * field names ("log_directory"), map fields are JSON objects, enums their names
 * ("NODE") or numbers, int64 JSON numbers (exact below 2^53). */
#ifndef CRI_MSGJSON_H
#define CRI_MSGJSON_H

#undef linux
#include <runtime/api.pb-c.h>

#include "../core/util.h"
#include "cri.h"

/* Build a message of type DESC from JSON; unknown fields and wrong types are -EINVAL
 * with a message. Free the result with protobuf_c_message_free_unpacked(msg, NULL). */
int cri_msg_from_json(const ProtobufCMessageDescriptor *desc, const cJSON *json, ProtobufCMessage **ret,
                      kn_error *err);
/* Any message as JSON (unset sub-messages left out). */
cJSON *cri_msg_to_json(const ProtobufCMessage *msg);
/* cri_call with a JSON request (of type REQ_DESC) and a JSON response (may be NULL). */
int cri_call_json(cri_client *c, bool image_service, const char *method, const ProtobufCMessageDescriptor *req_desc,
                  const cJSON *req, long timeout_ms, cJSON **ret_resp, kn_error *err);

#endif
