/* SPDX-License-Identifier: Apache-2.0 */
#include "flags.h"

static const kn_field *find_flag(const kn_flagset *sets, size_t n_sets, const char *name, size_t len,
                                 void **ret_target)
{
        for (size_t s = 0; s < n_sets; s++)
                for (size_t i = 0; i < sets[s].n; i++) {
                        const char *f = sets[s].fields[i].flag;
                        if (f && strlen(f) == len && strncmp(f, name, len) == 0) {
                                *ret_target = sets[s].target;
                                return &sets[s].fields[i];
                        }
                }
        return NULL;
}

static void push_value(kn_flags *fl, const kn_field *f, void *target, const char *v)
{
        fl->values = kn_realloc(fl->values, (fl->n_values + 1) * sizeof(*fl->values));
        fl->values[fl->n_values++] = (kn_flag_value){f, target, kn_strdup(v)};
}

int kn_flags_parse(const kn_flagset *sets, size_t n_sets, int argc, char **argv, kn_flags *ret, kn_error *err)
{
        kn_flags fl = {0};
        bool only_args = false;
        int r;

        fl.args = kn_calloc((size_t)argc + 1, sizeof(char *));
        for (int i = 0; i < argc; i++) {
                const char *a = argv[i], *name, *eq;
                const kn_field *f;
                void *target;
                size_t len;

                if (only_args || a[0] != '-' || a[1] == '\0') {
                        fl.args[fl.n_args++] = kn_strdup(a);
                        continue;
                }
                if (strcmp(a, "--") == 0) {
                        only_args = true;
                        continue;
                }
                name = a + (a[1] == '-' ? 2 : 1);
                eq = strchr(name, '=');
                len = eq ? (size_t)(eq - name) : strlen(name);
                f = find_flag(sets, n_sets, name, len, &target);
                if (!f) {
                        r = kn_error_set(err, -EINVAL, "unknown flag: --%.*s", (int)(len > 200 ? 200 : len), name);
                        goto fail;
                }
                if (eq) {
                        push_value(&fl, f, target, eq + 1);
                } else if (f->type == KN_FIELD_BOOL) {
                        push_value(&fl, f, target, "true");
                } else if (i + 1 < argc) {
                        push_value(&fl, f, target, argv[++i]);
                } else {
                        r = kn_error_set(err, -EINVAL, "flag needs an argument: --%s", f->flag);
                        goto fail;
                }
        }
        /* Validate every value now, so a malformed flag fails before any work starts. */
        for (size_t i = 0; i < fl.n_values; i++) {
                const kn_field *f = fl.values[i].field;
                kn_field probe = *f;
                union {
                        char *s;
                        bool b;
                        int64_t i;
                        double d;
                        char **l;
                        cJSON *m;
                } scratch = {0};
                probe.offset = 0;
                r = kn_field_set_string(&probe, &scratch, fl.values[i].value, err);
                kn_fields_free(&probe, 1, &scratch);
                if (r < 0) {
                        char why[sizeof(err->msg)];
                        snprintf(why, sizeof(why), "%s", err ? err->msg : "");
                        kn_error_set(err, r, "invalid argument \"%s\" for \"--%s\" flag: %s", fl.values[i].value,
                                     f->flag, why);
                        goto fail;
                }
        }
        *ret = fl;
        return 0;
fail:
        kn_flags_free(&fl);
        return r;
}

int kn_flags_apply(const kn_flags *fl, kn_error *err)
{
        for (size_t i = 0; i < fl->n_values; i++) {
                int r = kn_field_set_string(fl->values[i].field, fl->values[i].target, fl->values[i].value, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

bool kn_flags_given(const kn_flags *fl, const char *name)
{
        for (size_t i = 0; i < fl->n_values; i++)
                if (strcmp(fl->values[i].field->flag, name) == 0)
                        return true;
        return false;
}

void kn_flags_free(kn_flags *fl)
{
        for (size_t i = 0; i < fl->n_values; i++)
                free(fl->values[i].value);
        free(fl->values);
        for (size_t i = 0; i < fl->n_args; i++)
                free(fl->args[i]);
        free(fl->args);
        *fl = (kn_flags){0};
}

void kn_flags_usage(FILE *f, const kn_flagset *sets, size_t n_sets)
{
        static const char *const tnames[] = {
                [KN_FIELD_STRING] = "string",     [KN_FIELD_BOOL] = "",          [KN_FIELD_INT] = "int",
                [KN_FIELD_DURATION] = "duration", [KN_FIELD_STRLIST] = "strings", [KN_FIELD_MAP] = "mapStringString",
                [KN_FIELD_FLOAT] = "float",
        };
        for (size_t s = 0; s < n_sets; s++)
                for (size_t i = 0; i < sets[s].n; i++) {
                        const kn_field *fd = &sets[s].fields[i];
                        char lhs[96];
                        if (!fd->flag)
                                continue;
                        snprintf(lhs, sizeof(lhs), "--%s %s", fd->flag, tnames[fd->type]);
                        fprintf(f, "      %-36s %s", lhs, fd->help ? fd->help : "");
                        if (fd->def && fd->type != KN_FIELD_BOOL)
                                fprintf(f, " (default %s)", fd->def);
                        if (fd->key)
                                fprintf(f, " [config: %s]", fd->key);
                        fputc('\n', f);
                }
}
