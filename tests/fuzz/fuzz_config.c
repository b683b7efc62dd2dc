/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: the YAML/JSON config loader and typed field application. */
#include "config.h"

struct t {
        char *s;
        int64_t i, d;
        bool b;
        char **l;
        cJSON *m;
};

static const kn_field fields[] = {
        {NULL, "a.s", KN_FIELD_STRING, offsetof(struct t, s), NULL, NULL},
        {NULL, "i", KN_FIELD_INT, offsetof(struct t, i), NULL, NULL},
        {NULL, "d", KN_FIELD_DURATION, offsetof(struct t, d), NULL, NULL},
        {NULL, "b", KN_FIELD_BOOL, offsetof(struct t, b), NULL, NULL},
        {NULL, "l", KN_FIELD_STRLIST, offsetof(struct t, l), NULL, NULL},
        {NULL, "a.m", KN_FIELD_MAP, offsetof(struct t, m), NULL, NULL},
};

static void nowarn(const char *m) { (void)m; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        kn_config_doc *doc = NULL;
        kn_error err;
        struct t t = {0};

        if (kn_config_parse("fuzz", (const char *)data, size, &doc, &err) < 0)
                return 0;
        kn_fields_apply_doc(fields, KN_ARRAY_SIZE(fields), &t, doc, nowarn, &err);
        kn_config_check_kind(doc, "v1", "X", &err);
        kn_fields_free(fields, KN_ARRAY_SIZE(fields), &t);
        kn_config_doc_free(doc);
        return 0;
}
