/* SPDX-License-Identifier: Apache-2.0 */
/* `knode debug`: exercise the shared API client and informers from the command line.
 *
 *   knode debug get PATH                       print the object at PATH
 *   knode debug list GV RESOURCE [--limit N]   list with paging, one key (or --objects: one
 *                                              JSON object) per line
 *   knode debug watch GV RESOURCE              run an informer, one line per event
 *   knode debug cri version|status|pods|containers|images
 *                                              ask the container runtime (CRI), no API server
 *
 * Common flags: --kubeconfig, --namespace, --selector, --field-selector, --watch-timeout,
 * --protobuf (ask for Kubernetes protobuf, printed as the JSON it decodes to). */
#include <stdio.h>

#include "../core/applet.h"
#include "../core/log.h"
#include "../core/watch.h"
#include "../core/signals.h"
#include "applets.h"

typedef struct debug_opts {
        char *kubeconfig, *namespace, *selector, *field_selector;
        char *runtime_endpoint, *image_endpoint;
        int64_t limit, watch_timeout, runtime_timeout, repeat, parallel, interval;
        bool keys_only, protobuf, objects;
} debug_opts;

#define O(f) offsetof(debug_opts, f)
static const kn_field debug_fields[] = {
        {"kubeconfig", NULL, KN_FIELD_STRING, O(kubeconfig), NULL, "kubeconfig (in-cluster when empty)"},
        {"namespace", NULL, KN_FIELD_STRING, O(namespace), NULL, "namespace (all when empty)"},
        {"selector", NULL, KN_FIELD_STRING, O(selector), NULL, "label selector"},
        {"field-selector", NULL, KN_FIELD_STRING, O(field_selector), NULL, "field selector"},
        {"limit", NULL, KN_FIELD_INT, O(limit), "500", "page size for list"},
        {"watch-timeout", NULL, KN_FIELD_DURATION, O(watch_timeout), "0s", "server-side watch timeout"},
        {"keys-only", NULL, KN_FIELD_BOOL, O(keys_only), NULL, "informer keeps keys only"},
        {"protobuf", NULL, KN_FIELD_BOOL, O(protobuf), NULL, "ask for Kubernetes protobuf (list, watch)"},
        {"objects", NULL, KN_FIELD_BOOL, O(objects), NULL, "list: print each object as one JSON line"},
        {"container-runtime-endpoint", NULL, KN_FIELD_STRING, O(runtime_endpoint),
         "unix:///run/containerd/containerd.sock", "cri: the runtime's CRI socket"},
        {"image-service-endpoint", NULL, KN_FIELD_STRING, O(image_endpoint), NULL,
         "cri: the image service's socket (the runtime's when empty)"},
        {"runtime-request-timeout", NULL, KN_FIELD_DURATION, O(runtime_timeout), "2m", "cri: deadline of each call"},
        {"repeat", NULL, KN_FIELD_INT, O(repeat), "1", "cri: make the call this many times (per thread)"},
        {"parallel", NULL, KN_FIELD_INT, O(parallel), "1", "cri: from this many threads, on one connection"},
        {"interval", NULL, KN_FIELD_DURATION, O(interval), "0s", "cri: pause before each repeated call"},
};

static void print_event(const char *what, const cJSON *obj)
{
        _cleanup_free_ char *key = kn_obj_key(obj);
        const char *rv = kn_obj_str(obj, "metadata.resourceVersion");
        printf("%s %s %s\n", what, key ? key : "?", rv ? rv : "-");
        fflush(stdout);
}

static void on_add(void *u, const cJSON *o) { (void)u, print_event("ADDED", o); }
static void on_update(void *u, const cJSON *old, const cJSON *o) { (void)u, (void)old, print_event("MODIFIED", o); }
static void on_delete(void *u, const cJSON *o) { (void)u, print_event("DELETED", o); }
static void on_synced(void *u)
{
        printf("SYNCED %zu\n", kn_informer_count(u));
        fflush(stdout);
}

int debug_main(int argc, char **argv)
{
        kn_common_opts common = {0};
        debug_opts o = {0};
        kn_flagset sets[] = {{kn_common_fields, kn_common_n_fields, &common}, {debug_fields, KN_ARRAY_SIZE(debug_fields), &o}};
        kn_flags fl = {0};
        kn_env *env = NULL;
        kn_error err;
        int r, ret = 1;

        kn_signals_block();
        kn_fields_defaults(kn_common_fields, kn_common_n_fields, &common, NULL);
        kn_fields_defaults(debug_fields, KN_ARRAY_SIZE(debug_fields), &o, NULL);
        r = kn_flags_parse(sets, 2, argc - 1, argv + 1, &fl, &err);
        if (r >= 0)
                r = kn_flags_apply(&fl, &err);
        if (r < 0) {
                fprintf(stderr, "Error: %s\n", err.msg);
                ret = 2;
                goto out;
        }
        kn_common_apply(&common);
        if (common.help || fl.n_args < 2) {
                printf("Usage: knode debug get PATH | list GV RESOURCE | watch GV RESOURCE |\n"
                       "       cri version|status|pods|containers|images [flags]\n");
                kn_flags_usage(stdout, sets, 2);
                ret = common.help ? 0 : 2;
                goto out;
        }
        if (strcmp(fl.args[0], "cri") == 0) {
                ret = debug_cri(fl.args[1], o.runtime_endpoint, o.image_endpoint, (long)o.runtime_timeout,
                                (long)o.repeat, (long)o.parallel, (long)o.interval);
                goto out;
        }
        r = kn_env_new(o.kubeconfig, NULL, "knode-debug", &env, &err);
        if (r < 0) {
                kn_err("failed to set up the API client: %s", err.msg);
                goto out;
        }
        if (strcmp(fl.args[0], "get") == 0) {
                _cleanup_cjson_ cJSON *obj = NULL;
                _cleanup_free_ char *s = NULL;
                kn_api_error e;
                r = kn_api_get(env->api, fl.args[1], &obj, &e);
                if (r < 0) {
                        kn_err("GET %s failed: %s", fl.args[1], e.e.msg);
                        goto out;
                }
                s = cJSON_Print(obj);
                printf("%s\n", s);
                ret = 0;
        } else if (strcmp(fl.args[0], "list") == 0 && fl.n_args == 3) {
                _cleanup_free_ char *path = kn_api_path(fl.args[1], fl.args[2], o.namespace, NULL, NULL);
                _cleanup_free_ char *cont = NULL;
                size_t pages = 0, n = 0;
                do {
                        _cleanup_cjson_ cJSON *list = NULL;
                        kn_list_opts lo = {.label_selector = o.selector, .field_selector = o.field_selector,
                                           .limit = o.limit, .continue_token = cont, .protobuf = o.protobuf};
                        const cJSON *it;
                        const char *c;
                        kn_api_error e;
                        r = kn_api_list(env->api, path, &lo, &list, &e);
                        if (r < 0) {
                                kn_err("list %s failed: %s", path, e.e.msg);
                                goto out;
                        }
                        pages++;
                        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(list, "items"))
                        {
                                _cleanup_free_ char *key = o.objects ? cJSON_PrintUnformatted(it) : kn_obj_key(it);
                                printf("%s\n", key ? key : "?");
                                n++;
                        }
                        c = kn_obj_str(list, "metadata.continue");
                        free(cont);
                        cont = c && *c ? kn_strdup(c) : NULL;
                } while (cont);
                printf("TOTAL %zu PAGES %zu\n", n, pages);
                ret = 0;
        } else if (strcmp(fl.args[0], "watch") == 0 && fl.n_args == 3) {
                kn_informer_opts io = {.label_selector = o.selector, .field_selector = o.field_selector,
                                       .page_size = o.limit, .watch_timeout_s = o.watch_timeout / 1000,
                                       .keys_only = o.keys_only, .protobuf = o.protobuf};
                kn_informer *inf = kn_informers_get(env->informers, fl.args[1], fl.args[2], o.namespace, &io);
                kn_informer_add_handlers(inf, &(kn_informer_handlers){on_add, on_update, on_delete, on_synced, inf});
                kn_informer_start(inf);
                kn_signals_wait();
                ret = 0;
        } else {
                fprintf(stderr, "Error: unknown debug command \"%s\"\n", fl.args[0]);
                ret = 2;
        }
out:
        kn_env_free(env);
        kn_flags_free(&fl);
        kn_fields_free(debug_fields, KN_ARRAY_SIZE(debug_fields), &o);
        kn_common_free(&common);
        return ret;
}
