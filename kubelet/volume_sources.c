/* SPDX-License-Identifier: Apache-2.0 */
/* The contents of configMap, secret, downwardAPI and projected volumes, as upstream
 * builds them (configmap.MakePayload, secret.MakePayload, downwardapi.CollectData,
 * projected.collectData), and the service-account tokens of projected volumes through
 * the TokenRequest API, cached per (namespace, account, audience, lifetime, pod) and
 * renewed past 80% of their life or after 24 h, as upstream's token manager does. */
#include <stdio.h>
#include <time.h>

#include "../core/kubeconfig.h"
#include "../core/log.h"
#include "../core/quantity.h"
#include "volumes_int.h"

#define TOKEN_MAX (64u << 10)
#define TOKEN_MAX_TTL (24 * 3600)
#define TOKEN_DEFAULT_SECONDS 3600

struct kubelet_token {
        struct kubelet_token *next;
        char *key, *pod_uid, *token;
        int64_t exp, ttl; /* unix seconds; seconds */
};

int kubelet_item_mode(const cJSON *item, unsigned def, unsigned *ret)
{
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(item, "mode");

        if (!m) {
                *ret = def;
                return 0;
        }
        if (!cJSON_IsNumber(m) || m->valuedouble < 0 || m->valuedouble > 0777 || m->valuedouble != (double)m->valueint)
                return -EINVAL;
        *ret = (unsigned)m->valueint;
        return 0;
}

/* utilerrors.NewAggregate's message: one error as it is, more as "[a, b]". */
typedef struct errlist {
        kn_buf b;
        int n, code;
} errlist;

static void errlist_add(errlist *l, int code, const char *msg)
{
        if (l->n++)
                kn_buf_printf(&l->b, ", ");
        kn_buf_printf(&l->b, "%s", msg);
        if (!l->code)
                l->code = code;
}

static int errlist_done(errlist *l, kn_error *err)
{
        int r = 0;
        if (l->n == 1)
                r = kn_error_set(err, l->code, "%s", l->b.data);
        else if (l->n > 1)
                r = kn_error_set(err, l->code, "[%s]", l->b.data);
        kn_buf_free(&l->b);
        return r;
}

/* GET a configmap or secret; a missing optional one is *RET = NULL. */
static int get_object(kubelet_volumes *v, const char *resource, const char *what, const char *ns, const char *name,
                      bool optional, cJSON **ret, kn_error *err)
{
        _cleanup_free_ char *path = NULL;
        kn_api_error ae = {0};
        cJSON *obj = NULL;
        int r;

        if (!kubelet_vol_name_ok(name))
                return kn_error_set(err, -EINVAL, "invalid %s name \"%s\"", what, name ? name : "");
        path = kn_api_path("v1", resource, ns, name, NULL);
        r = kn_api_get(v->api, path, &obj, &ae);
        if (r == -ENOENT && optional) {
                *ret = NULL;
                return 0;
        }
        if (r == -ENOENT)
                return kn_error_set(err, r, "%s \"%s\" not found", what, name);
        if (r < 0)
                return kn_error_set(err, r, "%s", ae.e.msg[0] ? ae.e.msg : strerror(-r));
        if (!cJSON_IsObject(obj)) {
                cJSON_Delete(obj);
                return kn_error_set(err, -EBADMSG, "%s \"%s\": not an object", what, name);
        }
        *ret = obj;
        return 0;
}

/* The bytes of KEY in OBJ: "data" (plain for configmaps, base64 for secrets), then
 * "binaryData" (base64). -ENOENT if absent. */
static int object_value(const cJSON *obj, const char *key, bool secret, char **ret, size_t *ret_len)
{
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "data"), key);
        kn_blob b = {0};

        if (d && !secret) {
                if (!cJSON_IsString(d))
                        return -EBADMSG;
                *ret_len = strlen(d->valuestring);
                *ret = kn_strndup(d->valuestring, *ret_len);
                return 0;
        }
        if (!d && !secret)
                d = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "binaryData"), key);
        if (!d)
                return -ENOENT;
        if (!cJSON_IsString(d) || kn_base64_decode(d->valuestring, &b) < 0)
                return -EBADMSG;
        *ret = b.data;
        *ret_len = b.len;
        return 0;
}

/* The API server's bound: keys and values of data and binaryData within 1 MiB. */
static int check_size(const cJSON *obj, bool secret, const char *what, const char *name, kn_error *err)
{
        const char *fields[] = {"data", "binaryData"};
        size_t total = 0;
        const cJSON *e;

        for (size_t i = 0; i < 2; i++)
                cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(obj, fields[i])) {
                        if (!cJSON_IsString(e) || !e->string)
                                return kn_error_set(err, -EBADMSG, "%s \"%s\": %s.%s is not a string", what, name,
                                                    fields[i], e->string ? e->string : "");
                        size_t n = strlen(e->valuestring);
                        total += strlen(e->string) + (secret || i ? n / 4 * 3 : n);
                }
        if (total > KUBELET_VOL_MAX_OBJECT)
                return kn_error_set(err, -EFBIG, "%s \"%s\" is too large (%zu bytes, at most %u)", what, name, total,
                                    KUBELET_VOL_MAX_OBJECT);
        return 0;
}

/* MakePayload of configmap and secret: every key, or the items (key -> path, mode). */
static int make_payload(const cJSON *obj, bool secret, const cJSON *items, unsigned default_mode, bool optional,
                        kubelet_payload *p, kn_error *err)
{
        const char *fields[] = {"data", "binaryData"};
        const cJSON *e;
        int r;

        if (cJSON_GetArraySize(items) == 0) {
                for (size_t i = 0; i < (secret ? 1u : 2u); i++)
                        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(obj, fields[i])) {
                                char *data;
                                size_t len;
                                if (!e->string || object_value(obj, e->string, secret, &data, &len) < 0)
                                        return kn_error_set(err, -EBADMSG, "invalid value of key %s",
                                                            e->string ? e->string : "");
                                if ((r = kubelet_payload_add(p, e->string, data, len, default_mode, -1)) < 0)
                                        return kn_error_set(err, r, "volume contents too large");
                        }
                return 0;
        }
        cJSON_ArrayForEach(e, items) {
                const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "key"));
                const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "path"));
                unsigned mode;
                char *data;
                size_t len;

                if (!key || !path || kubelet_item_mode(e, default_mode, &mode) < 0)
                        return kn_error_set(err, -EINVAL, "invalid item");
                r = obj ? object_value(obj, key, secret, &data, &len) : -ENOENT;
                if (r == -ENOENT) {
                        if (optional)
                                continue;
                        return kn_error_set(err, -ENOENT, secret ? "references non-existent secret key: %s"
                                                                 : "configmap references non-existent config key: %s",
                                            key);
                }
                if (r < 0)
                        return kn_error_set(err, r, "invalid value of key %s", key);
                if ((r = kubelet_payload_add(p, path, data, len, mode, -1)) < 0)
                        return kn_error_set(err, r, "volume contents too large");
        }
        return 0;
}

static int object_payload(kubelet_volumes *v, const kubelet_pod_ctx *pc, const cJSON *src, bool secret,
                          unsigned default_mode, kubelet_payload *p, kn_error *err)
{
        const char *what = secret ? "secret" : "configmap";
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(src, secret ? "secretName" : "name"));
        bool optional = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(src, "optional"));
        _cleanup_cjson_ cJSON *obj = NULL;
        int r;

        if (secret && !cJSON_GetObjectItemCaseSensitive(src, "secretName"))
                name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(src, "name")); /* projected */
        r = get_object(v, secret ? "secrets" : "configmaps", what, pc->ns, name, optional, &obj, err);
        if (r < 0)
                return r;
        if (obj && (r = check_size(obj, secret, what, name, err)) < 0)
                return r;
        return make_payload(obj, secret, cJSON_GetObjectItemCaseSensitive(src, "items"), default_mode, optional, p, err);
}

int kubelet_configmap_payload(kubelet_volumes *v, const kubelet_pod_ctx *pc, const cJSON *src, unsigned default_mode,
                              kubelet_payload *p, kn_error *err)
{
        return object_payload(v, pc, src, false, default_mode, p, err);
}

int kubelet_secret_payload(kubelet_volumes *v, const kubelet_pod_ctx *pc, const cJSON *src, unsigned default_mode,
                           kubelet_payload *p, kn_error *err)
{
        return object_payload(v, pc, src, true, default_mode, p, err);
}

/* Length of the valid UTF-8 sequence at P (2..4), or 0. */
static size_t utf8_len(const unsigned char *p)
{
        size_t n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 && p[0] < 0xe0 ? 2 : 0;
        uint32_t cp;

        for (size_t i = 1; i < n; i++)
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
        if (n == 3) {
                cp = ((p[0] & 0x0fu) << 12) | ((p[1] & 0x3fu) << 6);
                if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))
                        return 0;
        } else if (n == 4) {
                cp = ((p[0] & 0x07u) << 18) | ((p[1] & 0x3fu) << 12);
                if (cp < 0x10000 || cp > 0x10ffff)
                        return 0;
        }
        return n;
}

/* Go's %q (strconv.Quote) of a string. Valid UTF-8 beyond ASCII is kept, except the C1
 * controls (\u0080..\u009f); invalid bytes become \xNN. Go also escapes other runes it
 * finds unprintable (U+00A0, U+200B, ...): those are kept here. */
static void go_quote(kn_buf *b, const char *s)
{
        static const char esc[] = {['\a'] = 'a', ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n',
                                   ['\r'] = 'r', ['\t'] = 't', ['\v'] = 'v'};
        kn_buf_printf(b, "\"");
        for (const unsigned char *p = (const unsigned char *)s; *p;) {
                size_t n;
                if (*p == '"' || *p == '\\') {
                        kn_buf_printf(b, "\\%c", *p++);
                } else if (*p < sizeof(esc) && esc[*p]) {
                        kn_buf_printf(b, "\\%c", esc[*p++]);
                } else if (*p < 0x20 || *p == 0x7f) {
                        kn_buf_printf(b, "\\x%02x", *p++);
                } else if (*p < 0x80) {
                        kn_buf_append(b, p++, 1);
                } else if ((n = utf8_len(p)) == 0) {
                        kn_buf_printf(b, "\\x%02x", *p++);
                } else if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) {
                        kn_buf_printf(b, "\\u%04x", p[1]);
                        p += 2;
                } else {
                        kn_buf_append(b, p, n);
                        p += n;
                }
        }
        kn_buf_printf(b, "\"");
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* fieldpath.FormatMap: key="value" lines, keys sorted. */
static char *format_map(const cJSON *m)
{
        kn_buf b = {0};
        const cJSON *e;
        size_t n = 0, i = 0;
        const char **keys;

        cJSON_ArrayForEach(e, m) n++;
        keys = kn_calloc(n ? n : 1, sizeof(*keys));
        cJSON_ArrayForEach(e, m) if (e->string && cJSON_IsString(e)) keys[i++] = e->string;
        n = i;
        qsort(keys, n, sizeof(*keys), str_cmp);
        for (i = 0; i < n; i++) {
                kn_buf_printf(&b, "%s%s=", i ? "\n" : "", keys[i]);
                go_quote(&b, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, keys[i])));
        }
        free(keys);
        return b.data ? b.data : kn_strdup("");
}

int kubelet_field_ref(const cJSON *pod, const char *path, char **ret, kn_error *err)
{
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
        size_t n = strlen(path);
        const char *maps[] = {"labels", "annotations"};

        /* metadata.labels['key'] */
        if (n > 2 && strcmp(path + n - 2, "']") == 0 && strstr(path, "['")) {
                const char *open = strstr(path, "['");
                _cleanup_free_ char *base = kn_strndup(path, (size_t)(open - path));
                _cleanup_free_ char *key = kn_strndup(open + 2, (size_t)(path + n - 2 - (open + 2)));
                for (size_t i = 0; i < 2; i++) {
                        _cleanup_free_ char *full = kn_asprintf("metadata.%s", maps[i]);
                        if (*base && strcmp(base, full) == 0) {
                                const char *val = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                                        cJSON_GetObjectItemCaseSensitive(meta, maps[i]), key));
                                *ret = kn_strdup(val ? val : "");
                                return 0;
                        }
                }
                return kn_error_set(err, -EINVAL, "unsupported fieldPath: %s", path);
        }
        for (size_t i = 0; i < 2; i++)
                if (strncmp(path, "metadata.", 9) == 0 && strcmp(path + 9, maps[i]) == 0) {
                        *ret = format_map(cJSON_GetObjectItemCaseSensitive(meta, maps[i]));
                        return 0;
                }
        if (strcmp(path, "metadata.name") == 0 || strcmp(path, "metadata.namespace") == 0 ||
            strcmp(path, "metadata.uid") == 0) {
                const char *val = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, path + 9));
                *ret = kn_strdup(val ? val : "");
                return 0;
        }
        return kn_error_set(err, -EINVAL, "unsupported fieldPath: %s", path);
}

static const cJSON *find_container(const cJSON *pod, const char *name)
{
        const char *lists[] = {"spec.containers", "spec.initContainers"};
        const cJSON *c;

        for (size_t i = 0; i < 2; i++)
                cJSON_ArrayForEach(c, kn_json_path(pod, lists[i])) {
                        if (kn_streq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name")), name))
                                return c;
                }
        return NULL;
}

/* ExtractResourceValueByContainerNameAndNodeAllocatable */
static int resource_value(kubelet_volumes *v, const cJSON *pod, const cJSON *ref, char **ret, kn_error *err)
{
        const char *cname = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ref, "containerName"));
        const char *res = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ref, "resource"));
        const cJSON *dj = cJSON_GetObjectItemCaseSensitive(ref, "divisor");
        const cJSON *c = find_container(pod, cname), *qj;
        const char *dot, *name;
        kn_quantity div = kn_quantity_from_value(1), q = {0};
        bool cpu, limits;
        int64_t val, dv;

        if (!c)
                return kn_error_set(err, -ENOENT, "container %s not found", cname ? cname : "");
        if (!res || !(dot = strchr(res, '.')))
                return kn_error_set(err, -EINVAL, "unsupported container resource : %s", res ? res : "");
        limits = strncmp(res, "limits.", 7) == 0;
        if (!limits && strncmp(res, "requests.", 9) != 0)
                return kn_error_set(err, -EINVAL, "unsupported container resource : %s", res);
        name = dot + 1;
        cpu = strcmp(name, "cpu") == 0;
        if (!cpu && strcmp(name, "memory") && strcmp(name, "ephemeral-storage") && strncmp(name, "hugepages-", 10))
                return kn_error_set(err, -EINVAL, "unsupported container resource : %s", res);
        if (dj && (kn_quantity_from_json(dj, &div) < 0))
                return kn_error_set(err, -EINVAL, "invalid divisor of %s", res);
        if (div.nanos == 0)
                div = kn_quantity_from_value(1);
        qj = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "resources"),
                                                 limits ? "limits" : "requests"),
                name);
        if (qj && kn_quantity_from_json(qj, &q) < 0)
                return kn_error_set(err, -EINVAL, "invalid quantity of %s", res);
        if (cpu) {
                val = qj ? kn_quantity_milli_value(&q) : 0;
                if (!qj && limits)
                        val = kubelet_volumes_allocatable(v, "cpu");
                dv = kn_quantity_milli_value(&div);
        } else {
                val = qj ? kn_quantity_value(&q) : 0;
                if (!qj && limits && strncmp(name, "hugepages-", 10))
                        val = kubelet_volumes_allocatable(v, name);
                dv = kn_quantity_value(&div);
        }
        if (dv <= 0)
                return kn_error_set(err, -EINVAL, "invalid divisor of %s", res);
        /* math.Ceil(value / divisor) */
        *ret = kn_asprintf("%lld", (long long)(val >= 0 ? (val + dv - 1) / dv : -((-val) / dv)));
        return 0;
}

/* sortLines of downwardapi: the value's lines, sorted. */
static char *sort_lines(char *s)
{
        size_t n = 1, i = 0;
        char **lines, *save;
        kn_buf b = {0};

        for (char *p = s; *p; p++)
                n += *p == '\n';
        if (n == 1)
                return s;
        lines = kn_calloc(n, sizeof(*lines));
        save = s;
        for (i = 0; i < n; i++)
                lines[i] = strsep(&save, "\n");
        qsort(lines, n, sizeof(*lines), str_cmp);
        for (i = 0; i < n; i++)
                kn_buf_printf(&b, "%s%s", i ? "\n" : "", lines[i]);
        free(lines);
        free(s);
        return b.data ? b.data : kn_strdup("");
}

int kubelet_downward_payload(kubelet_volumes *v, const kubelet_pod_ctx *pc, const cJSON *items, unsigned default_mode,
                             kubelet_payload *p, kn_error *err)
{
        errlist el = {0};
        const cJSON *it;
        int r;

        cJSON_ArrayForEach(it, items) {
                const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "path"));
                const cJSON *fr = cJSON_GetObjectItemCaseSensitive(it, "fieldRef");
                const cJSON *rr = cJSON_GetObjectItemCaseSensitive(it, "resourceFieldRef");
                char *val = NULL;
                unsigned mode;
                kn_error e = {0};

                if (!path || kubelet_item_mode(it, default_mode, &mode) < 0) {
                        errlist_add(&el, -EINVAL, "invalid downwardAPI item");
                        continue;
                }
                if (fr)
                        r = kubelet_field_ref(pc->pod,
                                              cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(fr, "fieldPath"))
                                                      ?: "",
                                              &val, &e);
                else if (rr)
                        r = resource_value(v, pc->pod, rr, &val, &e);
                else
                        r = 0, val = kn_strdup("");
                if (r < 0) {
                        errlist_add(&el, r, e.msg);
                        continue;
                }
                val = sort_lines(val);
                if ((r = kubelet_payload_add(p, path, val, strlen(val), mode, -1)) < 0)
                        errlist_add(&el, r, "volume contents too large");
        }
        return errlist_done(&el, err);
}

/* ---- service-account tokens ---- */

static int64_t parse_time(const char *s)
{
        struct tm tm = {0};
        const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;

        if (!end)
                return -1;
        return (int64_t)timegm(&tm);
}

static bool requires_refresh(const struct kubelet_token *t, int64_t now)
{
        int64_t jitter = (int64_t)(kn_random() % 10);
        int64_t iat = t->exp - t->ttl;

        return now > iat + TOKEN_MAX_TTL - jitter || now > t->exp - t->ttl * 20 / 100 - jitter;
}

static int request_token(kubelet_volumes *v, const kubelet_pod_ctx *pc, const char *sa, const char *aud,
                         int64_t seconds, struct kubelet_token *t, kn_error *err)
{
        _cleanup_free_ char *path = kn_api_path("v1", "serviceaccounts", pc->ns, sa, "token");
        _cleanup_cjson_ cJSON *req = cJSON_CreateObject(), *resp = NULL;
        cJSON *spec, *ref;
        kn_api_error ae = {0};
        const char *tok, *exp;
        int64_t rs;
        int r;

        cJSON_AddStringToObject(req, "apiVersion", "authentication.k8s.io/v1");
        cJSON_AddStringToObject(req, "kind", "TokenRequest");
        spec = cJSON_AddObjectToObject(req, "spec");
        if (aud && *aud)
                cJSON_AddItemToArray(cJSON_AddArrayToObject(spec, "audiences"), cJSON_CreateString(aud));
        cJSON_AddNumberToObject(spec, "expirationSeconds", (double)seconds);
        ref = cJSON_AddObjectToObject(spec, "boundObjectRef");
        cJSON_AddStringToObject(ref, "apiVersion", "v1");
        cJSON_AddStringToObject(ref, "kind", "Pod");
        cJSON_AddStringToObject(ref, "name", pc->name);
        cJSON_AddStringToObject(ref, "uid", pc->uid);
        r = kn_api_create(v->api, path, req, &resp, &ae);
        if (r < 0)
                return kn_error_set(err, r, "%s", ae.e.msg[0] ? ae.e.msg : strerror(-r));
        tok = cJSON_GetStringValue(kn_json_path(resp, "status.token"));
        exp = cJSON_GetStringValue(kn_json_path(resp, "status.expirationTimestamp"));
        if (!tok || !*tok || strlen(tok) > TOKEN_MAX || parse_time(exp) <= 0)
                return kn_error_set(err, -EBADMSG, "invalid TokenRequest response");
        rs = cJSON_IsNumber(kn_json_path(resp, "spec.expirationSeconds"))
                     ? (int64_t)kn_json_path(resp, "spec.expirationSeconds")->valuedouble
                     : seconds;
        t->token = kn_strdup(tok);
        t->exp = parse_time(exp);
        t->ttl = rs > 0 ? rs : seconds;
        return 0;
}

static int get_token(kubelet_volumes *v, const kubelet_pod_ctx *pc, const char *sa, const char *aud, int64_t seconds,
                     char **ret, kn_error *err)
{
        _cleanup_free_ char *key = kn_asprintf("%s/%s/%s/%lld/%s", pc->ns, sa, aud ? aud : "", (long long)seconds,
                                               pc->uid);
        struct kubelet_token *t, fresh = {0};
        int64_t now = (int64_t)time(NULL);
        char *cached = NULL;
        bool expired = true;
        kn_error e = {0};
        int r;

        pthread_mutex_lock(&v->mu);
        for (t = v->tokens; t && strcmp(t->key, key); t = t->next)
                ;
        if (t && !requires_refresh(t, now)) {
                *ret = kn_strdup(t->token);
                pthread_mutex_unlock(&v->mu);
                return 0;
        }
        if (t) {
                cached = kn_strdup(t->token);
                expired = now >= t->exp;
        }
        pthread_mutex_unlock(&v->mu);

        r = request_token(v, pc, sa, aud, seconds, &fresh, &e);
        if (r < 0) {
                if (!cached)
                        return kn_error_set(err, r, "failed to fetch token: %s", e.msg);
                if (expired) {
                        free(cached);
                        return kn_error_set(err, r, "token %s expired and refresh failed: %s", key, e.msg);
                }
                kn_warn("failed to renew the token of service account %s/%s for pod %s/%s, kept the current one: %s",
                        pc->ns, sa, pc->ns, pc->name, e.msg);
                *ret = cached;
                return 0;
        }
        free(cached);
        pthread_mutex_lock(&v->mu);
        for (t = v->tokens; t && strcmp(t->key, key); t = t->next)
                ;
        if (!t) {
                t = kn_calloc(1, sizeof(*t));
                t->key = TAKE_PTR(key);
                t->pod_uid = kn_strdup(pc->uid);
                t->next = v->tokens;
                v->tokens = t;
        }
        free(t->token);
        t->token = fresh.token;
        t->exp = fresh.exp;
        t->ttl = fresh.ttl;
        *ret = kn_strdup(t->token);
        pthread_mutex_unlock(&v->mu);
        kn_v(3, "got a token for service account %s/%s of pod %s/%s, expiring in %llds", pc->ns, sa, pc->ns, pc->name,
             (long long)(fresh.exp - now));
        return 0;
}

static void token_free(struct kubelet_token *t)
{
        free(t->key);
        free(t->pod_uid);
        free(t->token);
        free(t);
}

void kubelet_tokens_forget(kubelet_volumes *v, const char *pod_uid)
{
        pthread_mutex_lock(&v->mu);
        for (struct kubelet_token **pp = &v->tokens; *pp;) {
                struct kubelet_token *t = *pp;
                if (strcmp(t->pod_uid, pod_uid) == 0) {
                        *pp = t->next;
                        token_free(t);
                } else {
                        pp = &t->next;
                }
        }
        pthread_mutex_unlock(&v->mu);
}

void kubelet_tokens_free(kubelet_volumes *v)
{
        while (v->tokens) {
                struct kubelet_token *t = v->tokens;
                v->tokens = t->next;
                token_free(t);
        }
}

int kubelet_projected_payload(kubelet_volumes *v, const kubelet_pod_ctx *pc, const cJSON *src, kubelet_payload *p,
                              kn_error *err)
{
        const cJSON *dm = cJSON_GetObjectItemCaseSensitive(src, "defaultMode"), *s;
        unsigned mode = KUBELET_VOL_DEFAULT_MODE;
        const char *sa = cJSON_GetStringValue(kn_json_path(pc->pod, "spec.serviceAccountName"));
        errlist el = {0};
        int r;

        if (dm) {
                if (!cJSON_IsNumber(dm) || dm->valuedouble < 0 || dm->valuedouble > 0777)
                        return kn_error_set(err, -EINVAL, "invalid defaultMode");
                mode = (unsigned)dm->valueint;
        }
        if (!sa || !*sa)
                sa = "default";
        cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(src, "sources")) {
                const cJSON *x;
                kn_error e = {0};

                if ((x = cJSON_GetObjectItemCaseSensitive(s, "configMap")))
                        r = object_payload(v, pc, x, false, mode, p, &e);
                else if ((x = cJSON_GetObjectItemCaseSensitive(s, "secret")))
                        r = object_payload(v, pc, x, true, mode, p, &e);
                else if ((x = cJSON_GetObjectItemCaseSensitive(s, "downwardAPI")))
                        r = kubelet_downward_payload(v, pc, cJSON_GetObjectItemCaseSensitive(x, "items"), mode, p, &e);
                else if ((x = cJSON_GetObjectItemCaseSensitive(s, "serviceAccountToken"))) {
                        const char *aud = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "audience"));
                        const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "path"));
                        const cJSON *es = cJSON_GetObjectItemCaseSensitive(x, "expirationSeconds");
                        int64_t secs = cJSON_IsNumber(es) ? (int64_t)es->valuedouble : TOKEN_DEFAULT_SECONDS;
                        char *tok = NULL;

                        /* with fsUser or fsGroup the token is 0600 (fsGroup's walk adds 0040) */
                        unsigned tmode = (pc->fs_user >= 0 || pc->fs_group >= 0) ? 0600 : mode;
                        if (!path)
                                r = kn_error_set(&e, -EINVAL, "serviceAccountToken without a path");
                        else if ((r = get_token(v, pc, sa, aud, secs, &tok, &e)) >= 0 &&
                                 (r = kubelet_payload_add(p, path, tok, strlen(tok), tmode, pc->fs_user)) < 0)
                                kn_error_set(&e, r, "volume contents too large");
                } else if (cJSON_GetObjectItemCaseSensitive(s, "clusterTrustBundle") ||
                           cJSON_GetObjectItemCaseSensitive(s, "podCertificate")) {
                        r = kn_error_set(&e, -EOPNOTSUPP, "%s projections are not supported by knode",
                                         cJSON_GetObjectItemCaseSensitive(s, "clusterTrustBundle")
                                                 ? "clusterTrustBundle"
                                                 : "podCertificate");
                } else {
                        r = 0;
                }
                if (r < 0)
                        errlist_add(&el, r, e.msg);
        }
        return errlist_done(&el, err);
}
