/* SPDX-License-Identifier: Apache-2.0 */
/* Field numbers and JSON names follow the generated.proto and types.go files of
 * k8s.io/api (core/v1, discovery/v1) and k8s.io/apimachinery (pkg/apis/meta/v1,
 * pkg/runtime, pkg/util/intstr) at Kubernetes v1.36. The Go marshaller writes every
 * non-pointer field, empty or not, and pointer fields only when set; the JSON side
 * drops empty omitempty fields. Each field's kind below says which JSON rule applies. */
#include "kpb.h"

#include <stdio.h>
#include <time.h>

#include "pb.h"

enum kind {
        STR,          /* string, omitempty */
        STR_PTR,      /* *string: emitted when set, even if empty */
        STR_ALWAYS,   /* string without omitempty: "" when absent */
        STRS,         /* []string, omitempty */
        STRS_NULL,    /* []string without omitempty: null when absent */
        INT32,        /* int32, omitempty */
        INT32_ALWAYS, /* int32 without omitempty: 0 when absent */
        INT32_PTR,    /* *int32 */
        INT64,        /* int64, omitempty */
        INT64_PTR,    /* *int64 */
        BOOL_PTR,     /* *bool */
        MSG,          /* a struct value: always emitted, {} at least */
        MSG_PTR,      /* *struct */
        MSGS,         /* []struct, omitempty */
        MSGS_NULL,    /* []struct without omitempty: null when absent */
        MSGS_LIST,    /* a List's items: [] when absent */
        MAP,          /* map[string]string, omitempty */
        TIME_PTR,     /* *metav1.Time, as RFC 3339 in UTC */
        INTSTR,       /* intstr.IntOrString: a number or a string, always emitted */
};

struct msg;
struct field {
        uint32_t num;
        const char *json;
        enum kind kind;
        const struct msg *sub;
};
struct msg {
        const struct field *f;
        size_t n;
};
#define MSG(name, ...)                                                                                         \
        static const struct field name##_fields[] = {__VA_ARGS__};                                             \
        static const struct msg name = {name##_fields, KN_ARRAY_SIZE(name##_fields)}

/* meta/v1 */
MSG(object_meta, {1, "name", STR, NULL}, {3, "namespace", STR, NULL}, {5, "uid", STR, NULL},
    {6, "resourceVersion", STR, NULL}, {7, "generation", INT64, NULL}, {8, "creationTimestamp", TIME_PTR, NULL},
    {9, "deletionTimestamp", TIME_PTR, NULL},
    {11, "labels", MAP, NULL}, {12, "annotations", MAP, NULL});
MSG(list_meta, {2, "resourceVersion", STR, NULL}, {3, "continue", STR, NULL},
    {4, "remainingItemCount", INT64_PTR, NULL});
MSG(status_details, {1, "name", STR, NULL}, {2, "group", STR, NULL}, {3, "kind", STR, NULL},
    {6, "uid", STR, NULL}, {5, "retryAfterSeconds", INT32, NULL});
MSG(status, {1, "metadata", MSG, &list_meta}, {2, "status", STR, NULL}, {3, "message", STR, NULL},
    {4, "reason", STR, NULL}, {5, "details", MSG_PTR, &status_details}, {6, "code", INT32, NULL});

/* core/v1 Service */
MSG(service_port, {1, "name", STR, NULL}, {2, "protocol", STR, NULL}, {6, "appProtocol", STR_PTR, NULL},
    {3, "port", INT32_ALWAYS, NULL}, {4, "targetPort", INTSTR, NULL}, {5, "nodePort", INT32, NULL});
MSG(client_ip_config, {1, "timeoutSeconds", INT32_PTR, NULL});
MSG(session_affinity_config, {1, "clientIP", MSG_PTR, &client_ip_config});
MSG(service_spec, {1, "ports", MSGS, &service_port}, {3, "clusterIP", STR, NULL}, {18, "clusterIPs", STRS, NULL},
    {4, "type", STR, NULL}, {5, "externalIPs", STRS, NULL}, {7, "sessionAffinity", STR, NULL},
    {8, "loadBalancerIP", STR, NULL}, {9, "loadBalancerSourceRanges", STRS, NULL},
    {10, "externalName", STR, NULL}, {11, "externalTrafficPolicy", STR, NULL},
    {12, "healthCheckNodePort", INT32, NULL}, {14, "sessionAffinityConfig", MSG_PTR, &session_affinity_config},
    {19, "ipFamilies", STRS, NULL}, {17, "ipFamilyPolicy", STR_PTR, NULL},
    {22, "internalTrafficPolicy", STR_PTR, NULL}, {23, "trafficDistribution", STR_PTR, NULL});
MSG(lb_ingress, {1, "ip", STR, NULL}, {2, "hostname", STR, NULL}, {3, "ipMode", STR_PTR, NULL});
MSG(lb_status, {1, "ingress", MSGS, &lb_ingress});
MSG(service_status, {1, "loadBalancer", MSG, &lb_status});
MSG(service, {1, "metadata", MSG, &object_meta}, {2, "spec", MSG, &service_spec},
    {3, "status", MSG, &service_status});
MSG(service_list, {1, "metadata", MSG, &list_meta}, {2, "items", MSGS_LIST, &service});

/* discovery/v1 EndpointSlice */
MSG(endpoint_conditions, {1, "ready", BOOL_PTR, NULL}, {2, "serving", BOOL_PTR, NULL},
    {3, "terminating", BOOL_PTR, NULL});
MSG(for_name, {1, "name", STR_ALWAYS, NULL}); /* ForZone and ForNode */
MSG(endpoint_hints, {1, "forZones", MSGS, &for_name}, {2, "forNodes", MSGS, &for_name});
MSG(endpoint, {1, "addresses", STRS_NULL, NULL}, {2, "conditions", MSG, &endpoint_conditions},
    {3, "hostname", STR_PTR, NULL}, {6, "nodeName", STR_PTR, NULL}, {7, "zone", STR_PTR, NULL},
    {8, "hints", MSG_PTR, &endpoint_hints});
MSG(endpoint_port, {1, "name", STR_PTR, NULL}, {2, "protocol", STR_PTR, NULL}, {3, "port", INT32_PTR, NULL},
    {4, "appProtocol", STR_PTR, NULL});
MSG(endpoint_slice, {1, "metadata", MSG, &object_meta}, {4, "addressType", STR_ALWAYS, NULL},
    {2, "endpoints", MSGS_NULL, &endpoint}, {3, "ports", MSGS_NULL, &endpoint_port});
MSG(endpoint_slice_list, {1, "metadata", MSG, &list_meta}, {2, "items", MSGS_LIST, &endpoint_slice});

static const struct {
        const char *kind;
        const struct msg *msg;
} kinds[] = {
        {"Service", &service},
        {"ServiceList", &service_list},
        {"EndpointSlice", &endpoint_slice},
        {"EndpointSliceList", &endpoint_slice_list},
        {"Status", &status},
};

struct dec {
        size_t nodes, max_nodes;
        kn_error *err;
        kn_kpb_item_cb item_cb; /* a List's items go here, one at a time, instead of into "items" */
        void *item_ud;
};

static int fail(struct dec *d, int r, const char *what)
{
        return kn_error_set(d->err, r, "protobuf: %s", what);
}

/* Count one cJSON node against the bound. */
static int node(struct dec *d)
{
        if (++d->nodes > d->max_nodes)
                return fail(d, -E2BIG, "more objects than the input can justify");
        return 0;
}

/* A string node from protobuf bytes; a NUL ends it, as in a C string from JSON. */
static cJSON *new_string(const uint8_t *data, size_t len)
{
        char buf[256];
        size_t n = strnlen((const char *)data, len);
        _cleanup_free_ char *heap = NULL;
        const char *s = buf;

        if (n < sizeof(buf)) {
                memcpy(buf, data, n);
                buf[n] = '\0';
        } else {
                s = heap = kn_strndup((const char *)data, n);
        }
        return cJSON_CreateString(s);
}

static cJSON *must(cJSON *j)
{
        if (!j)
                abort(); /* cJSON's allocation failed */
        return j;
}

/* Set OBJ[KEY] = ITEM, replacing an earlier value (the last occurrence of a field wins). */
static void set(cJSON *obj, const char *key, cJSON *item)
{
        if (cJSON_GetObjectItemCaseSensitive(obj, key))
                cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item);
        else
                cJSON_AddItemToObject(obj, key, item);
}

/* OBJ[KEY] as a container of TYPE (an array or object), made when absent. */
static cJSON *container(struct dec *d, cJSON *obj, const char *key, bool array, int *r)
{
        cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, key);
        if (array ? cJSON_IsArray(c) : cJSON_IsObject(c))
                return c;
        if ((*r = node(d)) < 0)
                return NULL;
        c = must(array ? cJSON_CreateArray() : cJSON_CreateObject());
        set(obj, key, c);
        return c;
}

static int decode_msg(struct dec *d, const kn_pb *r, const struct msg *m, cJSON *obj);

static int decode_sub(struct dec *d, const kn_pb *parent, const kn_pb_field *f, const struct msg *m, cJSON *obj)
{
        kn_pb sub;
        int r = kn_pb_sub(parent, f, &sub);
        if (r == -ELOOP)
                return fail(d, r, "messages nested too deeply");
        if (r < 0)
                return fail(d, r, "malformed embedded message");
        return decode_msg(d, &sub, m, obj);
}

/* map<string,string> entry: key = 1, value = 2. */
static int decode_map_entry(struct dec *d, const kn_pb *parent, const kn_pb_field *f, cJSON *map)
{
        kn_pb sub;
        kn_pb_field e;
        const kn_pb_field *k = NULL, *v = NULL;
        kn_pb_field kf, vf;
        _cleanup_free_ char *key = NULL;
        int r;

        if ((r = kn_pb_sub(parent, f, &sub)) < 0)
                return fail(d, r, "malformed map entry");
        while ((r = kn_pb_next(&sub, &e)) > 0) {
                if (e.num == 1 && e.wire == KN_PB_LEN)
                        kf = e, k = &kf;
                else if (e.num == 2 && e.wire == KN_PB_LEN)
                        vf = e, v = &vf;
                else if (e.num <= 2)
                        return fail(d, -EBADMSG, "map entry with a wrong wire type");
        }
        if (r < 0)
                return fail(d, r, "malformed map entry");
        if ((r = node(d)) < 0)
                return r;
        key = kn_strndup(k ? (const char *)k->data : "", k ? strnlen((const char *)k->data, k->len) : 0);
        cJSON_AddItemToObject(map, key, must(v ? new_string(v->data, v->len) : cJSON_CreateString("")));
        return 0;
}

/* metav1.Time {seconds = 1, nanos = 2} as Go's JSON: RFC 3339, UTC, whole seconds. */
static int decode_time(struct dec *d, const kn_pb *parent, const kn_pb_field *f, cJSON *obj, const char *key)
{
        kn_pb sub;
        kn_pb_field e;
        int64_t secs = 0;
        time_t t;
        struct tm tm;
        char buf[80]; /* the compiler does not know the fields' ranges */
        int r;

        if ((r = kn_pb_sub(parent, f, &sub)) < 0)
                return fail(d, r, "malformed time");
        while ((r = kn_pb_next(&sub, &e)) > 0)
                if (e.num == 1 && e.wire == KN_PB_VARINT)
                        secs = kn_pb_int64(&e);
        if (r < 0)
                return fail(d, r, "malformed time");
        /* Go refuses to marshal years outside [0, 9999] to JSON. */
        if (secs < -62167219200LL || secs > 253402300799LL)
                return fail(d, -EBADMSG, "time out of range");
        t = (time_t)secs;
        if (!gmtime_r(&t, &tm))
                return fail(d, -EBADMSG, "time out of range");
        snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
        if ((r = node(d)) < 0)
                return r;
        set(obj, key, must(cJSON_CreateString(buf)));
        return 0;
}

/* intstr.IntOrString {type = 1 (0 int, 1 string), intVal = 2, strVal = 3}. */
static int decode_intstr(struct dec *d, const kn_pb *parent, const kn_pb_field *f, cJSON *obj, const char *key)
{
        kn_pb sub;
        kn_pb_field e, sv = {0};
        int64_t type = 0;
        int32_t iv = 0;
        int r;

        if ((r = kn_pb_sub(parent, f, &sub)) < 0)
                return fail(d, r, "malformed IntOrString");
        while ((r = kn_pb_next(&sub, &e)) > 0) {
                if (e.num == 1 && e.wire == KN_PB_VARINT)
                        type = kn_pb_int64(&e);
                else if (e.num == 2 && e.wire == KN_PB_VARINT)
                        iv = kn_pb_int32(&e);
                else if (e.num == 3 && e.wire == KN_PB_LEN)
                        sv = e;
        }
        if (r < 0)
                return fail(d, r, "malformed IntOrString");
        if ((r = node(d)) < 0)
                return r;
        set(obj, key, must(type == 1 ? new_string(sv.data ? sv.data : (const uint8_t *)"", sv.len)
                                     : cJSON_CreateNumber(iv)));
        return 0;
}

static bool wire_ok(enum kind k, enum kn_pb_wire w)
{
        switch (k) {
        case INT32:
        case INT32_ALWAYS:
        case INT32_PTR:
        case INT64:
        case INT64_PTR:
        case BOOL_PTR:
                return w == KN_PB_VARINT;
        default:
                return w == KN_PB_LEN;
        }
}

static int decode_field(struct dec *d, const kn_pb *r, const kn_pb_field *f, const struct field *fd, cJSON *obj)
{
        cJSON *c;
        int ret = 0;

        switch (fd->kind) {
        case STR:
                if (f->len == 0) {
                        cJSON_DeleteItemFromObjectCaseSensitive(obj, fd->json); /* omitempty */
                        return 0;
                }
                /* fall through */
        case STR_PTR:
        case STR_ALWAYS:
                if ((ret = node(d)) < 0)
                        return ret;
                set(obj, fd->json, must(new_string(f->data, f->len)));
                return 0;
        case STRS:
        case STRS_NULL:
                if (!(c = container(d, obj, fd->json, true, &ret)) || (ret = node(d)) < 0)
                        return ret;
                cJSON_AddItemToArray(c, must(new_string(f->data, f->len)));
                return 0;
        case INT32:
        case INT64:
                if ((fd->kind == INT32 ? kn_pb_int32(f) : kn_pb_int64(f)) == 0) {
                        cJSON_DeleteItemFromObjectCaseSensitive(obj, fd->json);
                        return 0;
                }
                /* fall through */
        case INT32_ALWAYS:
        case INT32_PTR:
        case INT64_PTR:
                if ((ret = node(d)) < 0)
                        return ret;
                set(obj, fd->json,
                    must(cJSON_CreateNumber(fd->kind == INT64 || fd->kind == INT64_PTR ? (double)kn_pb_int64(f)
                                                                                      : (double)kn_pb_int32(f))));
                return 0;
        case BOOL_PTR:
                if ((ret = node(d)) < 0)
                        return ret;
                set(obj, fd->json, must(cJSON_CreateBool(kn_pb_bool(f))));
                return 0;
        case MSG:
        case MSG_PTR:
                /* A message seen twice is merged, as protobuf does. */
                if (!(c = container(d, obj, fd->json, false, &ret)))
                        return ret;
                return decode_sub(d, r, f, fd->sub, c);
        case MSGS:
        case MSGS_NULL:
        case MSGS_LIST: {
                cJSON *item;
                if (!(c = container(d, obj, fd->json, true, &ret)) || (ret = node(d)) < 0)
                        return ret;
                item = must(cJSON_CreateObject());
                if (fd->kind == MSGS_LIST && d->item_cb) {
                        if ((ret = decode_sub(d, r, f, fd->sub, item)) < 0) {
                                cJSON_Delete(item);
                                return ret;
                        }
                        return d->item_cb(item, d->item_ud);
                }
                cJSON_AddItemToArray(c, item);
                return decode_sub(d, r, f, fd->sub, item);
        }
        case MAP:
                if (!(c = container(d, obj, fd->json, false, &ret)))
                        return ret;
                return decode_map_entry(d, r, f, c);
        case TIME_PTR:
                return decode_time(d, r, f, obj, fd->json);
        case INTSTR:
                return decode_intstr(d, r, f, obj, fd->json);
        }
        return 0;
}

/* The JSON value of a field the message did not carry, or NULL for none. */
static int absent_value(struct dec *d, const kn_pb *r, const struct field *fd, cJSON **ret)
{
        int rr;

        *ret = NULL;
        switch (fd->kind) {
        case STR_ALWAYS:
                *ret = cJSON_CreateString("");
                break;
        case STRS_NULL:
        case MSGS_NULL:
                *ret = cJSON_CreateNull();
                break;
        case MSGS_LIST:
                *ret = cJSON_CreateArray();
                break;
        case INT32_ALWAYS:
        case INTSTR:
                *ret = cJSON_CreateNumber(0);
                break;
        case MSG: {
                /* An empty struct still has its own always-emitted fields. */
                kn_pb empty = {.p = NULL, .end = NULL, .depth = r->depth + 1};
                if (empty.depth > KN_PB_MAX_DEPTH)
                        return fail(d, -ELOOP, "messages nested too deeply");
                if ((rr = node(d)) < 0)
                        return rr;
                *ret = must(cJSON_CreateObject());
                if ((rr = decode_msg(d, &empty, fd->sub, *ret)) < 0) {
                        cJSON_Delete(TAKE_PTR(*ret));
                        return rr;
                }
                return 0;
        }
        default:
                return 0;
        }
        must(*ret);
        return node(d);
}

static int decode_msg(struct dec *d, const kn_pb *r, const struct msg *m, cJSON *obj)
{
        kn_pb it = *r;
        kn_pb_field f;
        int ret;

        while ((ret = kn_pb_next(&it, &f)) > 0) {
                const struct field *fd = NULL;
                for (size_t i = 0; i < m->n && !fd; i++)
                        if (m->f[i].num == f.num)
                                fd = &m->f[i];
                if (!fd)
                        continue; /* a field knode does not read */
                if (!wire_ok(fd->kind, f.wire))
                        return fail(d, -EBADMSG, "field with a wrong wire type");
                if ((ret = decode_field(d, &it, &f, fd, obj)) < 0)
                        return ret;
        }
        if (ret < 0)
                return fail(d, ret, "malformed message");
        for (size_t i = 0; i < m->n; i++) {
                cJSON *v;
                if (cJSON_GetObjectItemCaseSensitive(obj, m->f[i].json))
                        continue;
                if ((ret = absent_value(d, r, &m->f[i], &v)) < 0)
                        return ret;
                if (v)
                        cJSON_AddItemToObject(obj, m->f[i].json, v);
        }
        return 0;
}

bool kn_kpb_is_envelope(const void *data, size_t len)
{
        return data && len >= KN_KPB_MAGIC_LEN && memcmp(data, KN_KPB_MAGIC, KN_KPB_MAGIC_LEN) == 0;
}

bool kn_kpb_is_content_type(const char *ct)
{
        size_t n = strlen(KN_KPB_CONTENT_TYPE);
        if (!ct)
                return false;
        while (*ct == ' ' || *ct == '\t')
                ct++;
        return strncasecmp(ct, KN_KPB_CONTENT_TYPE, n) == 0 &&
               (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t' || ct[n] == '\r' || ct[n] == '\n');
}

/* Copy a string field into BUF (bounded); false if it does not fit. */
static bool field_str(const kn_pb_field *f, char *buf, size_t size)
{
        if (f->len >= size)
                return false;
        memcpy(buf, f->data, f->len);
        buf[f->len] = '\0';
        return strlen(buf) == f->len;
}

static int decode_envelope(struct dec *d, const uint8_t *p, size_t len, cJSON **ret_obj)
{
        kn_pb u, sub;
        kn_pb_field f, raw = {0};
        char api_version[128] = "", kind[64] = "";
        const struct msg *m = NULL;
        _cleanup_cjson_ cJSON *obj = NULL;
        int r;

        if (!kn_kpb_is_envelope(p, len))
                return fail(d, -EBADMSG, "not a Kubernetes protobuf object (no k8s\\0 magic)");
        kn_pb_init(&u, p + KN_KPB_MAGIC_LEN, len - KN_KPB_MAGIC_LEN);
        while ((r = kn_pb_next(&u, &f)) > 0) {
                if (f.num == 1 && f.wire == KN_PB_LEN) { /* typeMeta */
                        kn_pb_field t;
                        if ((r = kn_pb_sub(&u, &f, &sub)) < 0)
                                return fail(d, r, "malformed typeMeta");
                        while ((r = kn_pb_next(&sub, &t)) > 0) {
                                if (t.num == 1 && t.wire == KN_PB_LEN && !field_str(&t, api_version, sizeof(api_version)))
                                        return fail(d, -EBADMSG, "bad apiVersion");
                                if (t.num == 2 && t.wire == KN_PB_LEN && !field_str(&t, kind, sizeof(kind)))
                                        return fail(d, -EBADMSG, "bad kind");
                        }
                        if (r < 0)
                                return fail(d, r, "malformed typeMeta");
                } else if (f.num == 2 && f.wire == KN_PB_LEN) {
                        raw = f;
                } else if (f.num == 3 && f.wire == KN_PB_LEN && f.len > 0) {
                        return fail(d, -EBADMSG, "unsupported contentEncoding");
                }
        }
        if (r < 0)
                return fail(d, r, "malformed envelope");
        for (size_t i = 0; i < KN_ARRAY_SIZE(kinds) && !m; i++)
                if (strcmp(kinds[i].kind, kind) == 0)
                        m = kinds[i].msg;
        if (!m) {
                kn_error_set(d->err, -EBADMSG, "protobuf: cannot decode kind \"%s\"", kind);
                return -EBADMSG;
        }
        if ((r = node(d)) < 0)
                return r;
        obj = must(cJSON_CreateObject());
        cJSON_AddItemToObject(obj, "kind", must(cJSON_CreateString(kind)));
        if (api_version[0])
                cJSON_AddItemToObject(obj, "apiVersion", must(cJSON_CreateString(api_version)));
        kn_pb_init(&sub, raw.data, raw.len);
        sub.depth = u.depth + 1;
        if ((r = decode_msg(d, &sub, m, obj)) < 0)
                return r;
        *ret_obj = TAKE_PTR(obj);
        return 0;
}

static void dec_init(struct dec *d, size_t len, kn_error *err)
{
        *d = (struct dec){.max_nodes = len + 4096, .err = err};
}

int kn_kpb_decode(const void *data, size_t len, cJSON **ret_obj, kn_error *err)
{
        struct dec d;
        dec_init(&d, len, err);
        return decode_envelope(&d, data, len, ret_obj);
}

int kn_kpb_decode_list(const void *data, size_t len, kn_kpb_item_cb cb, void *userdata, cJSON **ret_list,
                       kn_error *err)
{
        struct dec d;
        dec_init(&d, len, err);
        d.item_cb = cb;
        d.item_ud = userdata;
        return decode_envelope(&d, data, len, ret_list);
}

int kn_kpb_decode_watch_event(const void *data, size_t len, cJSON **ret_event, kn_error *err)
{
        struct dec d;
        kn_pb r;
        kn_pb_field f, obj = {0};
        char type[32] = "";
        bool have_obj = false;
        _cleanup_cjson_ cJSON *ev = NULL;
        cJSON *o = NULL;
        int ret;

        dec_init(&d, len, err);
        kn_pb_init(&r, data, len);
        while ((ret = kn_pb_next(&r, &f)) > 0) {
                if (f.num == 1 && f.wire == KN_PB_LEN) {
                        if (!field_str(&f, type, sizeof(type)))
                                return fail(&d, -EBADMSG, "bad watch event type");
                } else if (f.num == 2 && f.wire == KN_PB_LEN) { /* RawExtension {raw = 1} */
                        kn_pb sub;
                        kn_pb_field e;
                        kn_pb_sub(&r, &f, &sub);
                        while ((ret = kn_pb_next(&sub, &e)) > 0)
                                if (e.num == 1 && e.wire == KN_PB_LEN)
                                        obj = e, have_obj = true;
                        if (ret < 0)
                                return fail(&d, ret, "malformed watch event object");
                } else if (f.num <= 2) {
                        return fail(&d, -EBADMSG, "watch event field with a wrong wire type");
                }
        }
        if (ret < 0)
                return fail(&d, ret, "malformed watch event");
        if (!type[0] || !have_obj)
                return fail(&d, -EBADMSG, type[0] ? "watch event without an object" : "watch event without a type");
        if ((ret = decode_envelope(&d, obj.data, obj.len, &o)) < 0)
                return ret;
        ev = must(cJSON_CreateObject());
        cJSON_AddItemToObject(ev, "type", must(cJSON_CreateString(type)));
        cJSON_AddItemToObject(ev, "object", o);
        *ret_event = TAKE_PTR(ev);
        return 0;
}
