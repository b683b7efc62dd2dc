/* SPDX-License-Identifier: Apache-2.0 */
/* CRI messages to and from cJSON, driven by protobuf-c's descriptors: the kubelet builds
 * a request as JSON with the proto's field names and converts it once, instead of
 * allocating nested C structs by hand. Everything is malloc'd so that
 * protobuf_c_message_free_unpacked(msg, NULL) frees what we build. */
#include <stdio.h>

#include "msgjson.h"

#define MAX_DEPTH 32

static void *field_ptr(void *msg, unsigned off) { return (char *)msg + off; }

static size_t scalar_size(ProtobufCType t)
{
        switch (t) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
        case PROTOBUF_C_TYPE_ENUM:
                return 4;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
                return 8;
        case PROTOBUF_C_TYPE_FLOAT:
                return sizeof(float);
        case PROTOBUF_C_TYPE_DOUBLE:
                return sizeof(double);
        case PROTOBUF_C_TYPE_BOOL:
                return sizeof(protobuf_c_boolean);
        case PROTOBUF_C_TYPE_STRING:
        case PROTOBUF_C_TYPE_MESSAGE:
                return sizeof(void *);
        case PROTOBUF_C_TYPE_BYTES:
                return sizeof(ProtobufCBinaryData);
        }
        return 0;
}

static int from_json(const ProtobufCMessageDescriptor *d, const cJSON *j, int depth, ProtobufCMessage **ret,
                     kn_error *err);

/* Store one JSON value into the slot DST of field F. */
static int set_value(const ProtobufCFieldDescriptor *f, const cJSON *v, void *dst, int depth, kn_error *err)
{
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING:
                if (!cJSON_IsString(v))
                        return kn_error_set(err, -EINVAL, "field %s: want a string", f->name);
                *(char **)dst = kn_strdup(v->valuestring);
                return 0;
        case PROTOBUF_C_TYPE_BYTES: {
                ProtobufCBinaryData *b = dst;
                if (!cJSON_IsString(v))
                        return kn_error_set(err, -EINVAL, "field %s: want a string", f->name);
                b->len = strlen(v->valuestring);
                b->data = (uint8_t *)kn_strdup(v->valuestring);
                return 0;
        }
        case PROTOBUF_C_TYPE_BOOL:
                if (!cJSON_IsBool(v))
                        return kn_error_set(err, -EINVAL, "field %s: want a boolean", f->name);
                *(protobuf_c_boolean *)dst = cJSON_IsTrue(v);
                return 0;
        case PROTOBUF_C_TYPE_ENUM: {
                const ProtobufCEnumValue *ev = NULL;
                if (cJSON_IsString(v))
                        ev = protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, v->valuestring);
                else if (cJSON_IsNumber(v))
                        ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v->valueint);
                if (!ev)
                        return kn_error_set(err, -EINVAL, "field %s: unknown enum value", f->name);
                *(int *)dst = ev->value;
                return 0;
        }
        case PROTOBUF_C_TYPE_MESSAGE:
                return from_json(f->descriptor, v, depth + 1, (ProtobufCMessage **)dst, err);
        default:
                break;
        }
        if (!cJSON_IsNumber(v))
                return kn_error_set(err, -EINVAL, "field %s: want a number", f->name);
        switch (f->type) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
                *(int32_t *)dst = (int32_t)v->valuedouble;
                break;
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
                *(uint32_t *)dst = (uint32_t)v->valuedouble;
                break;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
                *(int64_t *)dst = (int64_t)v->valuedouble;
                break;
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
                *(uint64_t *)dst = (uint64_t)v->valuedouble;
                break;
        case PROTOBUF_C_TYPE_FLOAT:
                *(float *)dst = (float)v->valuedouble;
                break;
        case PROTOBUF_C_TYPE_DOUBLE:
                *(double *)dst = v->valuedouble;
                break;
        default:
                return kn_error_set(err, -EINVAL, "field %s: unsupported type", f->name);
        }
        return 0;
}

/* A map field is a repeated *Entry message with "key" and "value"; JSON gives an object. */
static bool is_map(const ProtobufCFieldDescriptor *f)
{
        const ProtobufCMessageDescriptor *e = f->descriptor;
        return f->label == PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_MESSAGE && e &&
               e->n_fields == 2 && !strcmp(e->fields[0].name, "key") && !strcmp(e->fields[1].name, "value") &&
               strlen(e->name) > 5 && !strcmp(e->name + strlen(e->name) - 5, "Entry");
}

static int from_json(const ProtobufCMessageDescriptor *d, const cJSON *j, int depth, ProtobufCMessage **ret,
                     kn_error *err)
{
        ProtobufCMessage *m;
        const cJSON *it;
        int r = 0;

        if (depth > MAX_DEPTH)
                return kn_error_set(err, -ELOOP, "message nested too deeply");
        if (!cJSON_IsObject(j))
                return kn_error_set(err, -EINVAL, "%s: want an object", d->short_name);
        m = kn_calloc(1, d->sizeof_message);
        d->message_init(m);
        cJSON_ArrayForEach(it, j) {
                const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, it->string);
                if (!f) {
                        r = kn_error_set(err, -EINVAL, "%s has no field %s", d->short_name, it->string);
                        break;
                }
                if (cJSON_IsNull(it))
                        continue;
                if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                        size_t n = 0, sz = scalar_size(f->type), cnt;
                        void **arr = field_ptr(m, f->offset);
                        bool map = is_map(f);
                        const cJSON *e;
                        if (map ? !cJSON_IsObject(it) : !cJSON_IsArray(it)) {
                                r = kn_error_set(err, -EINVAL, "field %s: want %s", f->name,
                                                 map ? "an object" : "an array");
                                break;
                        }
                        cnt = (size_t)cJSON_GetArraySize(it);
                        *arr = cnt ? kn_calloc(cnt, sz) : NULL;
                        cJSON_ArrayForEach(e, it) {
                                void *slot = (char *)*arr + n * sz;
                                if (map) {
                                        _cleanup_cjson_ cJSON *kv = cJSON_CreateObject();
                                        cJSON_AddStringToObject(kv, "key", e->string);
                                        cJSON_AddItemToObject(kv, "value", cJSON_Duplicate(e, true));
                                        r = from_json(f->descriptor, kv, depth + 1, slot, err);
                                } else {
                                        r = set_value(f, e, slot, depth, err);
                                }
                                if (r < 0)
                                        break;
                                n++;
                        }
                        *(size_t *)field_ptr(m, f->quantifier_offset) = n;
                        if (r < 0)
                                break;
                        continue;
                }
                r = set_value(f, it, field_ptr(m, f->offset), depth, err);
                if (r < 0)
                        break;
                if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
                        *(uint32_t *)field_ptr(m, f->quantifier_offset) = f->id;
                else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
                         f->type != PROTOBUF_C_TYPE_STRING)
                        *(protobuf_c_boolean *)field_ptr(m, f->quantifier_offset) = 1;
        }
        if (r < 0) {
                protobuf_c_message_free_unpacked(m, NULL);
                return r;
        }
        *ret = m;
        return 0;
}

int cri_msg_from_json(const ProtobufCMessageDescriptor *desc, const cJSON *json, ProtobufCMessage **ret,
                      kn_error *err)
{
        return from_json(desc, json, 0, ret, err);
}

static cJSON *to_json(const ProtobufCMessage *m, int depth);

static cJSON *value_json(const ProtobufCFieldDescriptor *f, const void *src, int depth)
{
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING:
                return cJSON_CreateString(*(char *const *)src ? *(char *const *)src : "");
        case PROTOBUF_C_TYPE_BYTES: {
                const ProtobufCBinaryData *b = src;
                _cleanup_free_ char *s = kn_strndup((const char *)b->data, b->len);
                return cJSON_CreateString(s);
        }
        case PROTOBUF_C_TYPE_BOOL:
                return cJSON_CreateBool(*(const protobuf_c_boolean *)src);
        case PROTOBUF_C_TYPE_ENUM: {
                const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)src);
                return ev ? cJSON_CreateString(ev->name) : cJSON_CreateNumber(*(const int *)src);
        }
        case PROTOBUF_C_TYPE_MESSAGE:
                return *(ProtobufCMessage *const *)src ? to_json(*(ProtobufCMessage *const *)src, depth + 1)
                                                       : cJSON_CreateNull();
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
                return cJSON_CreateNumber(*(const int32_t *)src);
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
                return cJSON_CreateNumber(*(const uint32_t *)src);
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
                return cJSON_CreateNumber((double)*(const int64_t *)src);
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
                return cJSON_CreateNumber((double)*(const uint64_t *)src);
        case PROTOBUF_C_TYPE_FLOAT:
                return cJSON_CreateNumber(*(const float *)src);
        case PROTOBUF_C_TYPE_DOUBLE:
                return cJSON_CreateNumber(*(const double *)src);
        }
        return cJSON_CreateNull();
}

static cJSON *to_json(const ProtobufCMessage *m, int depth)
{
        const ProtobufCMessageDescriptor *d = m->descriptor;
        cJSON *o = cJSON_CreateObject();

        if (depth > MAX_DEPTH)
                return o;
        for (unsigned i = 0; i < d->n_fields; i++) {
                const ProtobufCFieldDescriptor *f = &d->fields[i];
                const void *p = (const char *)m + f->offset;
                if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF &&
                    *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
                        continue;
                if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                        size_t n = *(const size_t *)((const char *)m + f->quantifier_offset), sz = scalar_size(f->type);
                        const char *arr = *(char *const *)p;
                        bool map = is_map(f);
                        cJSON *a = map ? cJSON_CreateObject() : cJSON_CreateArray();
                        for (size_t k = 0; k < n; k++) {
                                if (map) {
                                        const ProtobufCMessage *e = ((ProtobufCMessage *const *)arr)[k];
                                        const ProtobufCMessageDescriptor *ed = e->descriptor;
                                        const char *key = *(char *const *)((const char *)e + ed->fields[0].offset);
                                        cJSON_AddItemToObject(a, key ? key : "",
                                                              value_json(&ed->fields[1],
                                                                         (const char *)e + ed->fields[1].offset,
                                                                         depth));
                                } else {
                                        cJSON_AddItemToArray(a, value_json(f, arr + k * sz, depth));
                                }
                        }
                        cJSON_AddItemToObject(o, f->name, a);
                        continue;
                }
                if (f->type == PROTOBUF_C_TYPE_MESSAGE && !*(ProtobufCMessage *const *)p)
                        continue;
                cJSON_AddItemToObject(o, f->name, value_json(f, p, depth));
        }
        return o;
}

cJSON *cri_msg_to_json(const ProtobufCMessage *msg)
{
        return msg ? to_json(msg, 0) : cJSON_CreateNull();
}

int cri_call_json(cri_client *c, bool image_service, const char *method, const ProtobufCMessageDescriptor *req_desc,
                  const cJSON *req, long timeout_ms, cJSON **ret_resp, kn_error *err)
{
        ProtobufCMessage *msg = NULL, *resp = NULL;
        int r;

        r = cri_msg_from_json(req_desc, req, &msg, err);
        if (r < 0)
                return r;
        r = cri_call(c, image_service, method, msg, NULL, timeout_ms, &resp, err);
        protobuf_c_message_free_unpacked(msg, NULL);
        if (r < 0)
                return r;
        if (ret_resp)
                *ret_resp = cri_msg_to_json(resp);
        protobuf_c_message_free_unpacked(resp, NULL);
        return 0;
}
