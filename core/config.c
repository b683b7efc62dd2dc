/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <yaml.h>

#include "log.h"

static void yaml_parser_freep(yaml_parser_t *p) { yaml_parser_delete(p); }

static void add_mark(kn_config_doc *doc, const cJSON *node, const yaml_mark_t *m)
{
        if (doc->n_marks == doc->cap_marks) {
                doc->cap_marks = doc->cap_marks ? doc->cap_marks * 2 : 64;
                doc->marks = kn_realloc(doc->marks, doc->cap_marks * sizeof(*doc->marks));
        }
        doc->marks[doc->n_marks++] = (kn_config_mark){node, (int)m->line + 1, (int)m->column + 1};
}

const char *kn_config_where(const kn_config_doc *doc, const cJSON *node, char *buf, size_t len)
{
        for (size_t i = 0; doc && i < doc->n_marks; i++)
                if (doc->marks[i].node == node) {
                        snprintf(buf, len, "%s:%d:%d", doc->name, doc->marks[i].line, doc->marks[i].column);
                        return buf;
                }
        snprintf(buf, len, "%s", doc ? doc->name : "?");
        return buf;
}

static bool strin(const char *s, const char *const *set)
{
        for (; *set; set++)
                if (strcmp(s, *set) == 0)
                        return true;
        return false;
}

/* Resolve a plain (unquoted) scalar the way Kubernetes' YAML decoder does. */
static cJSON *resolve_plain(const char *s)
{
        static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
        static const char *const trues[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", NULL};
        static const char *const falses[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", NULL};
        char *end;

        if (strin(s, nulls))
                return cJSON_CreateNull();
        if (strin(s, trues))
                return cJSON_CreateTrue();
        if (strin(s, falses))
                return cJSON_CreateFalse();
        if ((s[0] >= '0' && s[0] <= '9') || ((s[0] == '-' || s[0] == '+') && s[1] >= '0' && s[1] <= '9') ||
            (s[0] == '.' && s[1] >= '0' && s[1] <= '9')) {
                long long ll;
                double d;

                errno = 0;
                if (strncmp(s, "0x", 2) == 0 || strncmp(s, "0o", 2) == 0) {
                        ll = strtoll(s + 2, &end, s[1] == 'x' ? 16 : 8);
                        if (*end == '\0' && errno == 0 && s[2])
                                return cJSON_CreateNumber((double)ll);
                        return cJSON_CreateString(s);
                }
                ll = strtoll(s, &end, 10);
                if (*end == '\0' && errno == 0)
                        return cJSON_CreateNumber((double)ll);
                d = strtod(s, &end);
                if (*end == '\0' && isfinite(d))
                        return cJSON_CreateNumber(d);
        }
        return cJSON_CreateString(s);
}

struct anchor {
        char *name;
        cJSON *node; /* a private copy: the anchored node itself may become a key and be freed */
};

struct builder {
        kn_config_doc *doc;
        cJSON *stack[KN_CONFIG_MAX_DEPTH];
        char *pending_key[KN_CONFIG_MAX_DEPTH]; /* for mappings: key waiting for its value */
        yaml_mark_t start[KN_CONFIG_MAX_DEPTH];
        int depth;
        size_t nodes;
        struct anchor *anchors;
        size_t n_anchors;
        cJSON *result;
};

static void builder_free(struct builder *b)
{
        /* Collections are attached to their parent only when they end, so every open
         * level is a tree of its own. */
        for (int i = 0; i < b->depth; i++) {
                free(b->pending_key[i]);
                cJSON_Delete(b->stack[i]);
        }
        for (size_t i = 0; i < b->n_anchors; i++) {
                free(b->anchors[i].name);
                cJSON_Delete(b->anchors[i].node);
        }
        free(b->anchors);
}

static size_t count_nodes(const cJSON *n)
{
        size_t c = 1;
        for (const cJSON *ch = n->child; ch; ch = ch->next)
                c += count_nodes(ch);
        return c;
}

/* Attach a finished node to its parent (or make it the result). */
static int builder_add(struct builder *b, cJSON *node, const yaml_mark_t *mark, const char *anchor,
                       kn_error *err)
{
        cJSON *parent;

        add_mark(b->doc, node, mark);
        if (anchor) {
                b->anchors = kn_realloc(b->anchors, (b->n_anchors + 1) * sizeof(*b->anchors));
                b->anchors[b->n_anchors++] = (struct anchor){kn_strdup(anchor), cJSON_Duplicate(node, true)};
        }
        if (b->depth == 0) {
                if (b->result) {
                        cJSON_Delete(node);
                        return kn_error_set(err, -EINVAL, "%s:%zu:%zu: more than one document", b->doc->name,
                                            mark->line + 1, mark->column + 1);
                }
                b->result = node;
                return 0;
        }
        parent = b->stack[b->depth - 1];
        if (cJSON_IsArray(parent)) {
                cJSON_AddItemToArray(parent, node);
                return 0;
        }
        /* A mapping: alternate key, value. */
        if (!b->pending_key[b->depth - 1]) {
                if (!cJSON_IsString(node) && !cJSON_IsNumber(node) && !cJSON_IsBool(node)) {
                        cJSON_Delete(node);
                        return kn_error_set(err, -EINVAL, "%s:%zu:%zu: mapping key must be a scalar",
                                            b->doc->name, mark->line + 1, mark->column + 1);
                }
                if (cJSON_IsString(node))
                        b->pending_key[b->depth - 1] = kn_strdup(node->valuestring);
                else if (cJSON_IsBool(node))
                        b->pending_key[b->depth - 1] = kn_strdup(cJSON_IsTrue(node) ? "true" : "false");
                else
                        b->pending_key[b->depth - 1] = kn_asprintf("%g", node->valuedouble);
                b->doc->n_marks--; /* the key node goes away; its address may be reused */
                cJSON_Delete(node);
                return 0;
        }
        {
                _cleanup_free_ char *key = TAKE_PTR(b->pending_key[b->depth - 1]);
                if (cJSON_GetObjectItemCaseSensitive(parent, key)) {
                        cJSON_Delete(node);
                        return kn_error_set(err, -EINVAL, "%s:%zu:%zu: duplicate key \"%s\"", b->doc->name,
                                            mark->line + 1, mark->column + 1, key);
                }
                cJSON_AddItemToObject(parent, key, node);
        }
        return 0;
}

int kn_config_parse(const char *name, const char *data, size_t len, kn_config_doc **ret, kn_error *err)
{
        yaml_parser_t parser __attribute__((cleanup(yaml_parser_freep)));
        struct builder b = {0};
        kn_config_doc *doc;
        bool done = false;
        int r = 0;

        if (len > KN_CONFIG_MAX_BYTES)
                return kn_error_set(err, -EFBIG, "%s: file is larger than %u bytes", name, KN_CONFIG_MAX_BYTES);
        if (!yaml_parser_initialize(&parser))
                abort();
        yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
        doc = kn_calloc(1, sizeof(*doc));
        doc->name = kn_strdup(name);
        b.doc = doc;

        while (!done && r >= 0) {
                yaml_event_t ev;
                cJSON *node = NULL;

                if (!yaml_parser_parse(&parser, &ev)) {
                        r = kn_error_set(err, -EINVAL, "%s:%zu:%zu: %s%s%s", name, parser.problem_mark.line + 1,
                                         parser.problem_mark.column + 1, parser.problem ? parser.problem : "syntax error",
                                         parser.context ? " " : "", parser.context ? parser.context : "");
                        break;
                }
                if (++b.nodes > KN_CONFIG_MAX_NODES) {
                        r = kn_error_set(err, -E2BIG, "%s: too many nodes", name);
                        yaml_event_delete(&ev);
                        break;
                }
                switch (ev.type) {
                case YAML_STREAM_END_EVENT:
                        done = true;
                        break;
                case YAML_MAPPING_START_EVENT:
                case YAML_SEQUENCE_START_EVENT:
                        if (b.depth >= KN_CONFIG_MAX_DEPTH) {
                                r = kn_error_set(err, -E2BIG, "%s:%zu:%zu: nesting deeper than %d", name,
                                                 ev.start_mark.line + 1, ev.start_mark.column + 1, KN_CONFIG_MAX_DEPTH);
                                break;
                        }
                        node = ev.type == YAML_MAPPING_START_EVENT ? cJSON_CreateObject() : cJSON_CreateArray();
                        if (ev.type == YAML_MAPPING_START_EVENT && ev.data.mapping_start.anchor)
                                r = kn_error_set(err, -ENOTSUP, "%s:%zu:%zu: anchors on collections are not supported",
                                                 name, ev.start_mark.line + 1, ev.start_mark.column + 1);
                        if (ev.type == YAML_SEQUENCE_START_EVENT && ev.data.sequence_start.anchor)
                                r = kn_error_set(err, -ENOTSUP, "%s:%zu:%zu: anchors on collections are not supported",
                                                 name, ev.start_mark.line + 1, ev.start_mark.column + 1);
                        if (r < 0) {
                                cJSON_Delete(node);
                                break;
                        }
                        b.stack[b.depth] = node;
                        b.pending_key[b.depth] = NULL;
                        b.start[b.depth] = ev.start_mark;
                        b.depth++;
                        break;
                case YAML_MAPPING_END_EVENT:
                case YAML_SEQUENCE_END_EVENT:
                        node = b.stack[--b.depth];
                        free(TAKE_PTR(b.pending_key[b.depth]));
                        r = builder_add(&b, node, &b.start[b.depth], NULL, err);
                        break;
                case YAML_SCALAR_EVENT: {
                        const char *v = (const char *)ev.data.scalar.value;
                        const char *tag = (const char *)ev.data.scalar.tag;
                        if (ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !tag)
                                node = resolve_plain(v);
                        else if (tag && strcmp(tag, YAML_INT_TAG) == 0)
                                node = resolve_plain(v);
                        else
                                node = cJSON_CreateString(v);
                        r = builder_add(&b, node, &ev.start_mark, (const char *)ev.data.scalar.anchor, err);
                        break;
                }
                case YAML_ALIAS_EVENT: {
                        const cJSON *target = NULL;
                        for (size_t i = b.n_anchors; i-- > 0;)
                                if (strcmp(b.anchors[i].name, (const char *)ev.data.alias.anchor) == 0) {
                                        target = b.anchors[i].node;
                                        break;
                                }
                        if (!target) {
                                r = kn_error_set(err, -EINVAL, "%s:%zu:%zu: unknown alias \"%s\"", name,
                                                 ev.start_mark.line + 1, ev.start_mark.column + 1,
                                                 (const char *)ev.data.alias.anchor);
                                break;
                        }
                        b.nodes += count_nodes(target);
                        if (b.nodes > KN_CONFIG_MAX_NODES) {
                                r = kn_error_set(err, -E2BIG, "%s: too many nodes (alias expansion)", name);
                                break;
                        }
                        node = cJSON_Duplicate(target, true);
                        r = builder_add(&b, node, &ev.start_mark, NULL, err);
                        break;
                }
                default:
                        break;
                }
                yaml_event_delete(&ev);
        }
        if (r < 0) {
                builder_free(&b);
                cJSON_Delete(b.result);
                kn_config_doc_free(doc);
                return r;
        }
        builder_free(&b);
        if (!b.result || cJSON_IsNull(b.result)) {
                cJSON_Delete(b.result);
                b.result = cJSON_CreateObject();
        }
        doc->root = b.result;
        *ret = doc;
        return 0;
}

int kn_config_load_file(const char *path, kn_config_doc **ret, kn_error *err)
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r;

        r = kn_read_file(path, KN_CONFIG_MAX_BYTES, &data, &len);
        if (r == -EFBIG)
                return kn_error_set(err, r, "%s: file is larger than %u bytes", path, KN_CONFIG_MAX_BYTES);
        if (r < 0)
                return kn_error_set(err, r, "failed to read %s: %s", path, strerror(-r));
        if (memchr(data, '\0', len))
                return kn_error_set(err, -EINVAL, "%s: file contains a NUL byte", path);
        return kn_config_parse(path, data, len, ret, err);
}

void kn_config_doc_free(kn_config_doc *doc)
{
        if (!doc)
                return;
        cJSON_Delete(doc->root);
        free(doc->marks);
        free(doc->name);
        free(doc);
}

int kn_config_check_kind(const kn_config_doc *doc, const char *api_version, const char *kind, kn_error *err)
{
        const cJSON *av, *k;
        char where[256];

        if (!cJSON_IsObject(doc->root))
                return kn_error_set(err, -EINVAL, "%s: expected a %s object", kn_config_where(doc, doc->root, where, sizeof(where)), kind);
        av = cJSON_GetObjectItemCaseSensitive(doc->root, "apiVersion");
        k = cJSON_GetObjectItemCaseSensitive(doc->root, "kind");
        if (!cJSON_IsString(k) || !cJSON_IsString(av))
                return kn_error_set(err, -EINVAL, "%s: missing apiVersion or kind (want %s %s)", doc->name,
                                    api_version, kind);
        if (strcmp(k->valuestring, kind) != 0)
                return kn_error_set(err, -EINVAL, "%s: unsupported kind \"%s\" (want %s)",
                                    kn_config_where(doc, k, where, sizeof(where)), k->valuestring, kind);
        if (strcmp(av->valuestring, api_version) != 0)
                return kn_error_set(err, -EINVAL, "%s: unsupported apiVersion \"%s\" for %s (want %s)",
                                    kn_config_where(doc, av, where, sizeof(where)), av->valuestring, kind, api_version);
        return 0;
}
