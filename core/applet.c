/* SPDX-License-Identifier: Apache-2.0 */
#include "applet.h"

#include <ctype.h>
#include <stdio.h>

#include "log.h"

const kn_field kn_common_fields[] = {
        {"v", NULL, KN_FIELD_INT, offsetof(kn_common_opts, v), "0", "number for the log level verbosity"},
        {"logging-format", NULL, KN_FIELD_STRING, offsetof(kn_common_opts, logging_format), "text",
         "log format: text or json"},
        {"help", NULL, KN_FIELD_BOOL, offsetof(kn_common_opts, help), NULL, "show this help"},
        {"h", NULL, KN_FIELD_BOOL, offsetof(kn_common_opts, help), NULL, "show this help"},
        {"version", NULL, KN_FIELD_BOOL, offsetof(kn_common_opts, version), NULL,
         "print the Kubernetes version implemented and knode's own, then exit"},
};
const size_t kn_common_n_fields = KN_ARRAY_SIZE(kn_common_fields);

static void warn_config(const char *msg) { kn_warn("%s", msg); }

int kn_applet_parse(const kn_applet_spec *spec, int argc, char **argv, void *cfg, kn_common_opts *common,
                    kn_flags *ret_flags)
{
        kn_flagset sets[] = {
                {kn_common_fields, kn_common_n_fields, common},
                {spec->fields, spec->n_fields, cfg},
        };
        kn_flags fl = {0};
        kn_error err = {0};
        const char *config_path = NULL;
        int r;

        kn_fields_defaults(kn_common_fields, kn_common_n_fields, common, NULL);
        r = kn_fields_defaults(spec->fields, spec->n_fields, cfg, &err);
        if (r < 0) {
                fprintf(stderr, "%s: bad built-in default: %s\n", spec->name, err.msg);
                return 1;
        }
        r = kn_flags_parse(sets, KN_ARRAY_SIZE(sets), argc, argv, &fl, &err);
        if (r < 0) {
                fprintf(stderr, "Error: %s\nRun '%s --help' for usage.\n", err.msg, spec->name);
                return 2;
        }
        /* Common flags take effect first, so config loading logs at the right level. */
        for (size_t i = 0; i < fl.n_values; i++)
                if (fl.values[i].target == common)
                        kn_field_set_string(fl.values[i].field, common, fl.values[i].value, NULL);
        kn_common_apply(common);
        if (common->help) {
                printf("%s\n\nUsage:\n  %s [flags]\n\nFlags:\n", spec->usage, spec->name);
                kn_flags_usage(stdout, sets, KN_ARRAY_SIZE(sets));
                kn_flags_free(&fl);
                return 0;
        }
        if (common->version) {
                printf("Kubernetes %s (knode %s)\n", KN_KUBE_VERSION, kn_version_string);
                kn_flags_free(&fl);
                return 0;
        }
        if (fl.n_args) {
                fprintf(stderr, "Error: unexpected argument \"%s\"\nRun '%s --help' for usage.\n", fl.args[0],
                        spec->name);
                kn_flags_free(&fl);
                return 2;
        }
        for (size_t i = 0; spec->config_flag && i < fl.n_values; i++)
                if (strcmp(fl.values[i].field->flag, spec->config_flag) == 0)
                        config_path = fl.values[i].value;
        if (config_path && *config_path) {
                _cleanup_config_doc_ kn_config_doc *doc = NULL;
                r = kn_config_load_file(config_path, &doc, &err);
                if (r >= 0)
                        r = kn_config_check_kind(doc, spec->api_version, spec->kind, &err);
                if (r >= 0)
                        r = kn_fields_apply_doc(spec->fields, spec->n_fields, cfg, doc, warn_config, &err);
                if (r < 0) {
                        kn_err("failed to load %s config: %s", spec->name, err.msg);
                        kn_flags_free(&fl);
                        return 1;
                }
                kn_v(1, "loaded %s %s from %s", spec->kind, spec->api_version, config_path);
        }
        r = kn_flags_apply(&fl, &err);
        if (r < 0) {
                fprintf(stderr, "Error: %s\n", err.msg);
                kn_flags_free(&fl);
                return 2;
        }
        if (ret_flags)
                *ret_flags = fl;
        else
                kn_flags_free(&fl);
        return KN_PARSE_CONTINUE;
}

void kn_common_apply(const kn_common_opts *c)
{
        kn_log_set_verbosity((int)c->v);
        kn_log_set_format(c->logging_format && strcmp(c->logging_format, "json") == 0 ? KN_LOG_JSON : KN_LOG_TEXT);
}

void kn_common_free(kn_common_opts *c) { kn_fields_free(kn_common_fields, kn_common_n_fields, c); }

int kn_env_new(const char *kubeconfig, const char *master, const char *agent, kn_env **ret, kn_error *err)
{
        _cleanup_kubeconfig_ kn_kubeconfig *kc = NULL;
        _cleanup_free_ char *ua = kn_asprintf("%s/%s knode/%s", agent, KN_KUBE_VERSION, kn_version_string);
        const char *allow = getenv("KNODE_ALLOW_INSECURE_CREDENTIALS");
        kn_api_opts o = {.user_agent = ua, .allow_insecure_credentials = kn_streq(allow, "1")};
        kn_env *env;
        int r;

        if (kubeconfig && *kubeconfig)
                r = kn_kubeconfig_load(kubeconfig, NULL, &kc, err);
        else
                r = kn_kubeconfig_in_cluster(NULL, &kc, err);
        if (r < 0)
                return r;
        if (master && *master) {
                free(kc->server);
                kc->server = kn_strdup(master);
        }
        env = kn_calloc(1, sizeof(*env));
        r = kn_api_new(kc, &o, &env->api, err);
        if (r < 0) {
                free(env);
                return r;
        }
        env->informers = kn_informers_new(env->api);
        *ret = env;
        return 0;
}

void kn_env_free(kn_env *env)
{
        if (!env)
                return;
        kn_informers_free(env->informers);
        kn_api_free(env->api);
        free(env->node_name);
        free(env);
}

char *kn_node_name(const char *override)
{
        char host[256] = "";
        char *n;

        if (override && *override)
                n = kn_strdup(override);
        else {
                gethostname(host, sizeof(host) - 1);
                n = kn_strdup(host);
        }
        for (char *p = n; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        return n;
}
