/* SPDX-License-Identifier: Apache-2.0 */
/* Upstream-style command-line flags over kn_field tables:
 * --name=value, --name value, -name, booleans (--flag, --flag=false). */
#ifndef KN_FLAGS_H
#define KN_FLAGS_H

#include <stdio.h>

#include "config.h"

typedef struct kn_flagset {
        const kn_field *fields;
        size_t n;
        void *target;
} kn_flagset;

typedef struct kn_flag_value {
        const kn_field *field;
        void *target;
        char *value;
} kn_flag_value;

typedef struct kn_flags {
        kn_flag_value *values; /* in command-line order */
        size_t n_values;
        char **args;           /* positional arguments */
        size_t n_args;
} kn_flags;

/* Parse argv[0..argc) (argv[0] is not skipped). Nothing is applied yet, so the caller
 * can load a config file first and then let flags override it. */
int kn_flags_parse(const kn_flagset *sets, size_t n_sets, int argc, char **argv, kn_flags *ret, kn_error *err);
/* Apply parsed values to their targets. */
int kn_flags_apply(const kn_flags *flags, kn_error *err);
/* Was this flag given on the command line? */
bool kn_flags_given(const kn_flags *flags, const char *name);
void kn_flags_free(kn_flags *flags);
void kn_flags_usage(FILE *f, const kn_flagset *sets, size_t n_sets);

#endif
