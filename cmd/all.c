/* SPDX-License-Identifier: Apache-2.0 */
/* `knode all`: kubelet and kube-proxy in one process over one API client and one
 * informer factory (so the Node informer is shared).
 *
 *   knode all [--kubeconfig=F] [--hostname-override=N] [-v=N] [--kubelet-config=F]
 *             [--proxy-config=F] [any kubelet or kube-proxy flag]...
 *
 * A flag both applets know goes to both; one only one knows goes to that one.
 * --kubelet-X / --proxy-X give flag X to that applet only (--kubelet-config,
 * --proxy-healthz-bind-address, ...). */
#include <stdio.h>

#include "../core/log.h"
#include "../core/signals.h"
#include "../kubelet/kubelet.h"
#include "../proxy/proxy.h"
#include "applets.h"

static const kn_field *lookup(const kn_field *f, size_t n, const char *name, size_t len)
{
        for (size_t i = 0; i < n; i++)
                if (f[i].flag && strlen(f[i].flag) == len && strncmp(f[i].flag, name, len) == 0)
                        return &f[i];
        return NULL;
}

struct owned {
        char *s[64];
        size_t n;
};

static void owned_free(struct owned *o)
{
        for (size_t i = 0; i < o->n; i++)
                free(o->s[i]);
}

static void push(char ***argv, int *argc, const char *s)
{
        *argv = kn_realloc(*argv, ((size_t)*argc + 2) * sizeof(char *));
        (*argv)[(*argc)++] = (char *)s;
        (*argv)[*argc] = NULL;
}

int all_main(int argc, char **argv)
{
        _cleanup_free_ char **kargv = NULL, **pargv = NULL;
        struct owned owned __attribute__((cleanup(owned_free))) = {0};
        int kargc = 0, pargc = 0, r;
        kubelet *k = NULL;
        proxy *p = NULL;
        kn_env *env = NULL;
        kn_error err;

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *name, *eq;
                const kn_field *kf, *pf, *cf;
                size_t len;

                if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
                        printf("knode all: kubelet and kube-proxy in one process.\n\nUsage:\n  knode all "
                               "[--kubelet-config=FILE] [--proxy-config=FILE] [flags of either applet]\n\n"
                               "A flag both applets know (--kubeconfig, --hostname-override, -v, "
                               "--feature-gates) is given to both;\n--kubelet-FLAG / --proxy-FLAG give FLAG to "
                               "one applet only.\nSee 'knode kubelet --help' and "
                               "'knode kube-proxy --help' for their flags.\n");
                        return 0;
                }
                if (a[0] != '-') {
                        fprintf(stderr, "Error: unexpected argument \"%s\"\n", a);
                        return 2;
                }
                name = a + (a[1] == '-' ? 2 : 1);
                eq = strchr(name, '=');
                len = eq ? (size_t)(eq - name) : strlen(name);
                if (len == 6 && strncmp(name, "config", 6) == 0) {
                        fprintf(stderr, "Error: --config is ambiguous in 'knode all': use --kubelet-config or "
                                        "--proxy-config\n");
                        return 2;
                }
                kf = lookup(kubelet_fields, kubelet_n_fields, name, len);
                pf = lookup(proxy_fields, proxy_n_fields, name, len);
                cf = lookup(kn_common_fields, kn_common_n_fields, name, len);
                if (!kf && !pf && !cf) {
                        /* --kubelet-X / --proxy-X: flag X for that applet only. */
                        bool to_kubelet = len > 8 && strncmp(name, "kubelet-", 8) == 0;
                        bool to_proxy = len > 6 && strncmp(name, "proxy-", 6) == 0;
                        size_t skip = to_kubelet ? 8 : 6;
                        const kn_field *f = NULL;
                        if (to_kubelet)
                                f = lookup(kubelet_fields, kubelet_n_fields, name + skip, len - skip);
                        else if (to_proxy)
                                f = lookup(proxy_fields, proxy_n_fields, name + skip, len - skip);
                        if (!f) {
                                fprintf(stderr, "Error: unknown flag: --%.*s\n", (int)(len > 200 ? 200 : len), name);
                                return 2;
                        }
                        if (owned.n == KN_ARRAY_SIZE(owned.s)) {
                                fprintf(stderr, "Error: too many applet-prefixed flags\n");
                                return 2;
                        }
                        owned.s[owned.n] = kn_asprintf("--%s", name + skip);
                        push(to_kubelet ? &kargv : &pargv, to_kubelet ? &kargc : &pargc, owned.s[owned.n++]);
                        if (!eq && f->type != KN_FIELD_BOOL && i + 1 < argc)
                                push(to_kubelet ? &kargv : &pargv, to_kubelet ? &kargc : &pargc, argv[++i]);
                        continue;
                }
                if (kf || cf)
                        push(&kargv, &kargc, a);
                if (pf || cf)
                        push(&pargv, &pargc, a);
                if (!eq && !((kf ? kf : pf ? pf : cf)->type == KN_FIELD_BOOL) && i + 1 < argc) {
                        i++;
                        if (kf || cf)
                                push(&kargv, &kargc, argv[i]);
                        if (pf || cf)
                                push(&pargv, &pargc, argv[i]);
                }
        }
        if (!kargv)
                push(&kargv, &kargc, NULL), kargc = 0;
        if (!pargv)
                push(&pargv, &pargc, NULL), pargc = 0;

        kn_signals_block();
        r = kubelet_new(kargc, kargv, &k);
        if (r != KN_PARSE_CONTINUE)
                return r;
        r = proxy_new(pargc, pargv, &p);
        if (r != KN_PARSE_CONTINUE) {
                kubelet_free(k);
                return r;
        }
        if (!kn_streq(kubelet_get_config(k)->kubeconfig, proxy_get_config(p)->kubeconfig) &&
            proxy_get_config(p)->kubeconfig)
                kn_warn("kube-proxy's kubeconfig differs from the kubelet's; using the kubelet's for both");
        r = kn_env_new(kubelet_get_config(k)->kubeconfig ? kubelet_get_config(k)->kubeconfig
                                                          : proxy_get_config(p)->kubeconfig,
                       proxy_get_config(p)->master, "knode-all", &env, &err);
        if (r < 0) {
                kn_err("failed to set up the API client: %s", err.msg);
                goto out;
        }
        r = kubelet_start(k, env);
        if (r >= 0)
                r = proxy_start(p, env);
        if (r >= 0)
                kn_info("received signal %d, shutting down", kn_signals_wait());
out:
        kubelet_stop(k);
        proxy_stop(p);
        kn_env_free(env);
        kubelet_free(k);
        proxy_free(p);
        return r < 0 ? 1 : 0;
}
