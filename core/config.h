/* SPDX-License-Identifier: Apache-2.0 */
/* One loader for YAML and JSON config files: libyaml events into a cJSON tree,
 * remembering where each node came from so errors can name file:line:column. */
#ifndef KN_CONFIG_H
#define KN_CONFIG_H

#include <cjson/cJSON.h>

#include "util.h"

#define KN_CONFIG_MAX_BYTES (8u << 20) /* config files and kubeconfigs */
#define KN_CONFIG_MAX_DEPTH 64
#define KN_CONFIG_MAX_NODES 1000000 /* bounds alias expansion too */

typedef struct kn_config_mark {
        const cJSON *node;
        int line, column; /* 1-based */
} kn_config_mark;

typedef struct kn_config_doc {
        cJSON *root;
        char *name; /* file name used in messages */
        kn_config_mark *marks;
        size_t n_marks, cap_marks;
} kn_config_doc;

/* Parse YAML (or JSON, a subset) from memory. Empty input gives an empty object. */
int kn_config_parse(const char *name, const char *data, size_t len, kn_config_doc **ret, kn_error *err);
int kn_config_load_file(const char *path, kn_config_doc **ret, kn_error *err);
void kn_config_doc_free(kn_config_doc *doc);
static inline void kn_config_doc_freep(kn_config_doc **d) { kn_config_doc_free(*d); }
#define _cleanup_config_doc_ __attribute__((cleanup(kn_config_doc_freep)))

/* Where a node was defined; 0/0 if unknown. Formats "file:line:col" into buf. */
const char *kn_config_where(const kn_config_doc *doc, const cJSON *node, char *buf, size_t len);


/* Typed loading: a table of fields mapped into a C struct. */
enum kn_field_type {
        KN_FIELD_STRING,   /* char * */
        KN_FIELD_BOOL,     /* bool */
        KN_FIELD_INT,      /* int64_t */
        KN_FIELD_DURATION, /* int64_t milliseconds; Go duration string */
        KN_FIELD_STRLIST,  /* char ** NULL-terminated; comma list on the command line */
        KN_FIELD_MAP,      /* cJSON * object of strings; k=v,k2=v2 on the command line */
        KN_FIELD_FLOAT,    /* double */
};

typedef struct kn_field {
        const char *flag;     /* command-line name without "--", or NULL */
        const char *key;      /* dotted JSON path in the config file, or NULL */
        enum kn_field_type type;
        size_t offset;        /* into the target struct */
        const char *def;      /* default, in flag syntax; NULL = zero */
        const char *help;
} kn_field;

/* Set defaults for every field. */
int kn_fields_defaults(const kn_field *fields, size_t n, void *target, kn_error *err);
/* Parse a value in flag syntax into the field. */
int kn_field_set_string(const kn_field *f, void *target, const char *value, kn_error *err);
/* Apply a loaded config document (already kind/apiVersion-checked). Unknown keys are
 * reported through warn_cb (upstream decodes leniently and warns). */
int kn_fields_apply_doc(const kn_field *fields, size_t n, void *target, const kn_config_doc *doc,
                        void (*warn_cb)(const char *msg), kn_error *err);
/* Free strings/lists/maps owned by the struct. */
void kn_fields_free(const kn_field *fields, size_t n, void *target);
/* Render the effective configuration as a config document (for --write-config-to). */
cJSON *kn_fields_to_json(const kn_field *fields, size_t n, const void *target, const char *api_version,
                         const char *kind);

/* Check apiVersion/kind of a config document. */
int kn_config_check_kind(const kn_config_doc *doc, const char *api_version, const char *kind, kn_error *err);

#endif
