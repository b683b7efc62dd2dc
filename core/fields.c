/* SPDX-License-Identifier: Apache-2.0 */
/* Typed fields shared by flags and config files: defaults < file < flags. */
#include <math.h>
#include <stdio.h>

#include "config.h"

#define FIELD_PTR(f, t, type) ((type *)((char *)(t) + (f)->offset))

static int parse_bool(const char *v, bool *ret)
{
        if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "t") || !strcmp(v, "T") || !strcmp(v, "TRUE") ||
            !strcmp(v, "True"))
                *ret = true;
        else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "f") || !strcmp(v, "F") ||
                 !strcmp(v, "FALSE") || !strcmp(v, "False"))
                *ret = false;
        else
                return -EINVAL;
        return 0;
}

static void strlist_free(char **l)
{
        for (char **p = l; p && *p; p++)
                free(*p);
        free(l);
}

static char **strlist_split(const char *v)
{
        size_t n = 0, cap = 4;
        char **l = kn_calloc(cap, sizeof(char *));
        const char *p = v;

        while (*v && p) {
                const char *c = strchr(p, ',');
                size_t len = c ? (size_t)(c - p) : strlen(p);
                if (len) {
                        if (n + 2 > cap)
                                l = kn_realloc(l, (cap *= 2) * sizeof(char *));
                        l[n++] = kn_strndup(p, len);
                }
                p = c ? c + 1 : NULL;
        }
        l[n] = NULL;
        return l;
}

static const char *field_name(const kn_field *f) { return f->flag ? f->flag : f->key; }

int kn_field_set_string(const kn_field *f, void *t, const char *v, kn_error *err)
{
        int r;

        switch (f->type) {
        case KN_FIELD_STRING:
                free(*FIELD_PTR(f, t, char *));
                *FIELD_PTR(f, t, char *) = kn_strdup(v);
                return 0;
        case KN_FIELD_BOOL:
                if (parse_bool(v, FIELD_PTR(f, t, bool)) < 0)
                        return kn_error_set(err, -EINVAL, "invalid boolean value \"%s\" for %s", v, field_name(f));
                return 0;
        case KN_FIELD_INT: {
                char *end;
                long long ll;
                errno = 0;
                ll = strtoll(v, &end, 0);
                if (!*v || *end || errno)
                        return kn_error_set(err, -EINVAL, "invalid integer value \"%s\" for %s", v, field_name(f));
                *FIELD_PTR(f, t, int64_t) = ll;
                return 0;
        }
        case KN_FIELD_FLOAT: {
                char *end;
                double d = strtod(v, &end);
                if (!*v || *end || !isfinite(d))
                        return kn_error_set(err, -EINVAL, "invalid number \"%s\" for %s", v, field_name(f));
                *FIELD_PTR(f, t, double) = d;
                return 0;
        }
        case KN_FIELD_DURATION:
                r = kn_parse_duration(v, FIELD_PTR(f, t, int64_t));
                if (r < 0)
                        return kn_error_set(err, r, "invalid duration \"%s\" for %s", v, field_name(f));
                return 0;
        case KN_FIELD_STRLIST:
                strlist_free(*FIELD_PTR(f, t, char **));
                *FIELD_PTR(f, t, char **) = strlist_split(v);
                return 0;
        case KN_FIELD_MAP: {
                cJSON *m = cJSON_CreateObject();
                char **items = strlist_split(v);
                for (char **p = items; *p; p++) {
                        char *eq = strchr(*p, '=');
                        if (!eq || eq == *p) {
                                r = kn_error_set(err, -EINVAL, "invalid key=value pair \"%s\" for %s", *p,
                                                 field_name(f));
                                strlist_free(items);
                                cJSON_Delete(m);
                                return r;
                        }
                        *eq = '\0';
                        cJSON_DeleteItemFromObjectCaseSensitive(m, *p);
                        cJSON_AddStringToObject(m, *p, eq + 1);
                }
                strlist_free(items);
                cJSON_Delete(*FIELD_PTR(f, t, cJSON *));
                *FIELD_PTR(f, t, cJSON *) = m;
                return 0;
        }
        }
        return -EINVAL;
}

int kn_fields_defaults(const kn_field *fields, size_t n, void *t, kn_error *err)
{
        for (size_t i = 0; i < n; i++) {
                int r;
                if (!fields[i].def)
                        continue;
                r = kn_field_set_string(&fields[i], t, fields[i].def, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int apply_value(const kn_field *f, void *t, const cJSON *v, const kn_config_doc *doc, kn_error *err)
{
        char where[300];
        const char *want = NULL;

        if (cJSON_IsNull(v))
                return 0;
        switch (f->type) {
        case KN_FIELD_STRING:
                if (!cJSON_IsString(v)) {
                        want = "a string";
                        break;
                }
                return kn_field_set_string(f, t, v->valuestring, err);
        case KN_FIELD_BOOL:
                if (!cJSON_IsBool(v)) {
                        want = "a boolean";
                        break;
                }
                *FIELD_PTR(f, t, bool) = cJSON_IsTrue(v);
                return 0;
        case KN_FIELD_INT:
                if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 9.0e15) {
                        want = "an integer";
                        break;
                }
                *FIELD_PTR(f, t, int64_t) = (int64_t)v->valuedouble;
                return 0;
        case KN_FIELD_FLOAT:
                if (!cJSON_IsNumber(v)) {
                        want = "a number";
                        break;
                }
                *FIELD_PTR(f, t, double) = v->valuedouble;
                return 0;
        case KN_FIELD_DURATION:
                if (!cJSON_IsString(v) || kn_parse_duration(v->valuestring, FIELD_PTR(f, t, int64_t)) < 0) {
                        want = "a duration such as \"1m30s\"";
                        break;
                }
                return 0;
        case KN_FIELD_STRLIST: {
                const cJSON *it;
                size_t n = 0, i = 0;
                char **l;
                if (!cJSON_IsArray(v)) {
                        want = "a list of strings";
                        break;
                }
                cJSON_ArrayForEach(it, v)
                {
                        if (!cJSON_IsString(it))
                                return kn_error_set(err, -EINVAL, "%s: %s: expected a string",
                                                    kn_config_where(doc, it, where, sizeof(where)), f->key);
                        n++;
                }
                l = kn_calloc(n + 1, sizeof(char *));
                cJSON_ArrayForEach(it, v) l[i++] = kn_strdup(it->valuestring);
                strlist_free(*FIELD_PTR(f, t, char **));
                *FIELD_PTR(f, t, char **) = l;
                return 0;
        }
        case KN_FIELD_MAP: {
                const cJSON *it;
                cJSON *m;
                if (!cJSON_IsObject(v)) {
                        want = "a mapping";
                        break;
                }
                m = cJSON_CreateObject();
                cJSON_ArrayForEach(it, v)
                {
                        if (cJSON_IsString(it) || cJSON_IsBool(it) || cJSON_IsNumber(it)) {
                                cJSON_AddItemToObject(m, it->string, cJSON_Duplicate(it, false));
                                continue;
                        }
                        cJSON_Delete(m);
                        return kn_error_set(err, -EINVAL, "%s: %s.%s: expected a scalar",
                                            kn_config_where(doc, it, where, sizeof(where)), f->key, it->string);
                }
                cJSON_Delete(*FIELD_PTR(f, t, cJSON *));
                *FIELD_PTR(f, t, cJSON *) = m;
                return 0;
        }
        }
        return kn_error_set(err, -EINVAL, "%s: %s: expected %s", kn_config_where(doc, v, where, sizeof(where)),
                            f->key, want ? want : "another type");
}

/* Is prefix.key a field, or an object on the way to one? */
static int key_known(const kn_field *fields, size_t n, const char *path)
{
        size_t len = strlen(path);
        for (size_t i = 0; i < n; i++) {
                const char *k = fields[i].key;
                if (!k)
                        continue;
                if (strcmp(k, path) == 0)
                        return fields[i].type == KN_FIELD_MAP || fields[i].type == KN_FIELD_STRLIST ? 2 : 1;
                if (strncmp(k, path, len) == 0 && k[len] == '.')
                        return 1;
        }
        return 0;
}

static void warn_unknown(const kn_field *fields, size_t n, const cJSON *obj, const char *prefix,
                         const kn_config_doc *doc, void (*warn_cb)(const char *msg))
{
        const cJSON *it;
        char where[300];

        cJSON_ArrayForEach(it, obj)
        {
                _cleanup_free_ char *path = prefix ? kn_asprintf("%s.%s", prefix, it->string) : kn_strdup(it->string);
                int k;

                if (!prefix && (!strcmp(it->string, "apiVersion") || !strcmp(it->string, "kind")))
                        continue;
                k = key_known(fields, n, path);
                if (k == 0) {
                        _cleanup_free_ char *m = kn_asprintf("%s: unknown field \"%s\" ignored",
                                                             kn_config_where(doc, it, where, sizeof(where)), path);
                        warn_cb(m);
                } else if (k == 1 && cJSON_IsObject(it) && strlen(path) < 200) {
                        warn_unknown(fields, n, it, path, doc, warn_cb);
                }
        }
}

int kn_fields_apply_doc(const kn_field *fields, size_t n, void *t, const kn_config_doc *doc,
                        void (*warn_cb)(const char *msg), kn_error *err)
{
        if (!cJSON_IsObject(doc->root))
                return kn_error_set(err, -EINVAL, "%s: expected a mapping at the top level", doc->name);
        for (size_t i = 0; i < n; i++) {
                const cJSON *v;
                int r;
                if (!fields[i].key)
                        continue;
                v = kn_json_path(doc->root, fields[i].key);
                if (!v)
                        continue;
                r = apply_value(&fields[i], t, v, doc, err);
                if (r < 0)
                        return r;
        }
        if (warn_cb)
                warn_unknown(fields, n, doc->root, NULL, doc, warn_cb);
        return 0;
}

void kn_fields_free(const kn_field *fields, size_t n, void *t)
{
        for (size_t i = 0; i < n; i++) {
                const kn_field *f = &fields[i];
                switch (f->type) {
                case KN_FIELD_STRING:
                        free(TAKE_PTR(*FIELD_PTR(f, t, char *)));
                        break;
                case KN_FIELD_STRLIST:
                        strlist_free(TAKE_PTR(*FIELD_PTR(f, t, char **)));
                        break;
                case KN_FIELD_MAP:
                        cJSON_Delete(TAKE_PTR(*FIELD_PTR(f, t, cJSON *)));
                        break;
                default:
                        break;
                }
        }
}

/* Find or make the object that holds the last component of a dotted KEY. */
static cJSON *parent_for(cJSON *root, const char *key, const char **ret_leaf)
{
        const char *dot;
        while ((dot = strchr(key, '.'))) {
                _cleanup_free_ char *part = kn_strndup(key, (size_t)(dot - key));
                cJSON *next = cJSON_GetObjectItemCaseSensitive(root, part);
                if (!next)
                        next = cJSON_AddObjectToObject(root, part);
                root = next;
                key = dot + 1;
        }
        *ret_leaf = key;
        return root;
}

cJSON *kn_fields_to_json(const kn_field *fields, size_t n, const void *t, const char *api_version,
                         const char *kind)
{
        cJSON *root = cJSON_CreateObject();

        if (api_version)
                cJSON_AddStringToObject(root, "apiVersion", api_version);
        if (kind)
                cJSON_AddStringToObject(root, "kind", kind);

        for (size_t i = 0; i < n; i++) {
                const kn_field *f = &fields[i];
                const char *leaf = NULL;
                void *tt = (void *)t;
                cJSON *v = NULL;
                char buf[64];

                switch (f->type) {
                case KN_FIELD_STRING:
                        v = *FIELD_PTR(f, tt, char *) ? cJSON_CreateString(*FIELD_PTR(f, tt, char *)) : cJSON_CreateNull();
                        break;
                case KN_FIELD_BOOL:
                        v = cJSON_CreateBool(*FIELD_PTR(f, tt, bool));
                        break;
                case KN_FIELD_INT:
                        v = cJSON_CreateNumber((double)*FIELD_PTR(f, tt, int64_t));
                        break;
                case KN_FIELD_FLOAT:
                        v = cJSON_CreateNumber(*FIELD_PTR(f, tt, double));
                        break;
                case KN_FIELD_DURATION:
                        kn_format_duration(*FIELD_PTR(f, tt, int64_t), buf, sizeof(buf));
                        v = cJSON_CreateString(buf);
                        break;
                case KN_FIELD_STRLIST:
                        v = cJSON_CreateArray();
                        for (char **p = *FIELD_PTR(f, tt, char **); p && *p; p++)
                                cJSON_AddItemToArray(v, cJSON_CreateString(*p));
                        break;
                case KN_FIELD_MAP:
                        v = *FIELD_PTR(f, tt, cJSON *) ? cJSON_Duplicate(*FIELD_PTR(f, tt, cJSON *), true)
                                                        : cJSON_CreateObject();
                        break;
                }
                if (!f->key) {
                        cJSON_Delete(v); /* flag-only settings are not part of the file */
                        continue;
                }
                {
                        cJSON *parent = parent_for(root, f->key, &leaf);
                        cJSON_AddItemToObject(parent, leaf, v);
                }
        }
        return root;
}
