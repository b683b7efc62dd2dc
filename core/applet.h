/* SPDX-License-Identifier: Apache-2.0 */
/* What every applet shares: common flags, the parse-config-then-flags sequence, and
 * the process environment (one API client, one informer factory) that `knode all`
 * hands to both applets. */
#ifndef KN_APPLET_H
#define KN_APPLET_H

#include "api.h"
#include "flags.h"
#include "informer.h"

#ifndef KN_KUBE_VERSION
#define KN_KUBE_VERSION "v0.0.0"
#endif
#ifndef KN_VERSION
#define KN_VERSION "0.0.0"
#endif
/* knode's version; use this, not KN_VERSION, outside core/version.c. */
extern const char kn_version_string[];

typedef struct kn_common_opts {
        int64_t v;
        char *logging_format;
        bool help, version;
} kn_common_opts;

extern const kn_field kn_common_fields[];
extern const size_t kn_common_n_fields;

/* The shared process environment. */
typedef struct kn_env {
        kn_api *api;
        kn_informers *informers;
        char *node_name;
} kn_env;

/* Result of kn_applet_parse: continue, or exit with this status. */
#define KN_PARSE_CONTINUE (-1)

typedef struct kn_applet_spec {
        const char *name;           /* "kubelet" */
        const char *usage;          /* one paragraph */
        const kn_field *fields;     /* applet fields (flags and config keys) */
        size_t n_fields;
        const char *config_flag;    /* flag naming the config file ("config") */
        const char *api_version, *kind; /* of the config file */
} kn_applet_spec;

/* Defaults, then the --config file, then flags (flags win). Prints usage/version/errors
 * to stderr/stdout and returns an exit status, or KN_PARSE_CONTINUE. */
int kn_applet_parse(const kn_applet_spec *spec, int argc, char **argv, void *cfg, kn_common_opts *common,
                    kn_flags *ret_flags);
/* Apply -v / --logging-format to the logging core. */
void kn_common_apply(const kn_common_opts *c);
void kn_common_free(kn_common_opts *c);

/* Build an API client from KUBECONFIG (in-cluster when NULL/empty). AGENT names the
 * program in the User-Agent ("kubelet" -> "kubelet/v1.36.3 knode/0.1.0"). */
int kn_env_new(const char *kubeconfig, const char *master, const char *agent, kn_env **ret, kn_error *err);
void kn_env_free(kn_env *env);

/* The node name: override if set, else the host name, lowercased. */
char *kn_node_name(const char *override);

#endif
