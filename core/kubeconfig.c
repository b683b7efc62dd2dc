/* SPDX-License-Identifier: Apache-2.0 */
#include "kubeconfig.h"

#include <libgen.h>
#include <stdio.h>

#include "config.h"

int kn_base64_decode(const char *in, kn_blob *ret)
{
        size_t n = strlen(in), o = 0;
        unsigned acc = 0;
        int bits = 0;
        char *out = kn_malloc(n / 4 * 3 + 4);

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)in[i];
                int v;
                if (c >= 'A' && c <= 'Z')
                        v = c - 'A';
                else if (c >= 'a' && c <= 'z')
                        v = c - 'a' + 26;
                else if (c >= '0' && c <= '9')
                        v = c - '0' + 52;
                else if (c == '+' || c == '-')
                        v = 62;
                else if (c == '/' || c == '_')
                        v = 63;
                else if (c == '=' || c == '\n' || c == '\r' || c == ' ' || c == '\t')
                        continue;
                else {
                        free(out);
                        return -EINVAL;
                }
                acc = (acc << 6) | (unsigned)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[o++] = (char)((acc >> bits) & 0xff);
                }
        }
        out[o] = '\0';
        ret->data = out;
        ret->len = o;
        return 0;
}

void kn_kubeconfig_free(kn_kubeconfig *kc)
{
        if (!kc)
                return;
        free(kc->server);
        free(kc->tls_server_name);
        free(kc->ca_file);
        free(kc->ca_data.data);
        free(kc->cert_file);
        free(kc->key_file);
        free(kc->cert_data.data);
        free(kc->key_data.data);
        if (kc->token)
                explicit_bzero(kc->token, strlen(kc->token));
        free(kc->token);
        free(kc->token_file);
        free(kc->namespace);
        free(kc->context);
        free(kc);
}

/* Find the entry NAME in a list like clusters: [{name: x, cluster: {...}}]; returns its INNER object. */
static const cJSON *named_entry(const cJSON *root, const char *list, const char *inner, const char *name)
{
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(root, list), *it;

        if (!cJSON_IsArray(l))
                return NULL;
        cJSON_ArrayForEach(it, l)
        {
                const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "name");
                if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0) {
                        const cJSON *o = cJSON_GetObjectItemCaseSensitive(it, inner);
                        return cJSON_IsObject(o) ? o : NULL;
                }
        }
        return NULL;
}

static const char *str_of(const cJSON *o, const char *key)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* KEY is set to something (not null, not ""): for fields knode refuses. */
static bool has(const cJSON *o, const char *key)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        return v && !cJSON_IsNull(v) && !(cJSON_IsString(v) && !v->valuestring[0]);
}

static char *resolve_path(const char *dir, const char *p)
{
        if (!p)
                return NULL;
        if (p[0] == '/' || !dir)
                return kn_strdup(p);
        return kn_asprintf("%s/%s", dir, p);
}

static int take_data(const char *name, const char *field, const char *b64, kn_blob *ret, kn_error *err)
{
        if (!b64)
                return 0;
        if (kn_base64_decode(b64, ret) < 0)
                return kn_error_set(err, -EINVAL, "%s: %s is not valid base64", name, field);
        return 0;
}

int kn_kubeconfig_parse(const char *name, const char *data, size_t len, const char *dir, const char *context,
                        kn_kubeconfig **ret, kn_error *err)
{
        _cleanup_config_doc_ kn_config_doc *doc = NULL;
        kn_kubeconfig *kc;
        const cJSON *ctx, *cluster, *user = NULL;
        const char *ctxname, *cname, *uname, *s;
        const cJSON *insecure;
        int r;

        r = kn_config_parse(name, data, len, &doc, err);
        if (r < 0)
                return r;
        if (!cJSON_IsObject(doc->root))
                return kn_error_set(err, -EINVAL, "%s: not a kubeconfig (expected a mapping)", name);
        s = str_of(doc->root, "kind");
        if (s && strcmp(s, "Config") != 0)
                return kn_error_set(err, -EINVAL, "%s: unsupported kind \"%s\" (want Config)", name, s);
        ctxname = context && *context ? context : str_of(doc->root, "current-context");
        if (!ctxname)
                return kn_error_set(err, -EINVAL, "%s: no current-context and no context given", name);
        ctx = named_entry(doc->root, "contexts", "context", ctxname);
        if (!ctx)
                return kn_error_set(err, -ENOENT, "%s: context \"%s\" not found", name, ctxname);
        cname = str_of(ctx, "cluster");
        uname = str_of(ctx, "user");
        cluster = cname ? named_entry(doc->root, "clusters", "cluster", cname) : NULL;
        if (!cluster)
                return kn_error_set(err, -ENOENT, "%s: cluster \"%s\" of context \"%s\" not found", name,
                                    cname ? cname : "", ctxname);
        if (uname) {
                user = named_entry(doc->root, "users", "user", uname);
                if (!user)
                        return kn_error_set(err, -ENOENT, "%s: user \"%s\" of context \"%s\" not found", name,
                                            uname, ctxname);
        }
        s = str_of(cluster, "server");
        if (!s)
                return kn_error_set(err, -EINVAL, "%s: cluster \"%s\" has no server", name, cname);
        if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
                return kn_error_set(err, -EINVAL, "%s: server \"%s\" is not an http(s) URL", name, s);

        kc = kn_calloc(1, sizeof(*kc));
        kc->server = kn_strdup(s);
        while (strlen(kc->server) > 8 && kc->server[strlen(kc->server) - 1] == '/')
                kc->server[strlen(kc->server) - 1] = '\0';
        kc->context = kn_strdup(ctxname);
        kc->namespace = kn_strdup(str_of(ctx, "namespace"));
        kc->tls_server_name = kn_strdup(str_of(cluster, "tls-server-name"));
        kc->ca_file = resolve_path(dir, str_of(cluster, "certificate-authority"));
        insecure = cJSON_GetObjectItemCaseSensitive(cluster, "insecure-skip-tls-verify");
        kc->insecure = cJSON_IsTrue(insecure);
        if (kc->insecure && (kc->ca_file || str_of(cluster, "certificate-authority-data"))) {
                /* as client-go: a CA that would not be checked is a mistake, not a choice */
                kn_kubeconfig_free(kc);
                return kn_error_set(err, -EINVAL, "%s: cluster \"%s\": insecure-skip-tls-verify cannot be used "
                                    "with certificate-authority(-data): specifying a root certificates file "
                                    "with the insecure flag is not allowed", name, cname);
        }
        r = take_data(name, "certificate-authority-data", str_of(cluster, "certificate-authority-data"),
                      &kc->ca_data, err);
        if (r >= 0 && user) {
                kc->cert_file = resolve_path(dir, str_of(user, "client-certificate"));
                kc->key_file = resolve_path(dir, str_of(user, "client-key"));
                kc->token = kn_strdup(str_of(user, "token"));
                kc->token_file = resolve_path(dir, str_of(user, "tokenFile"));
                r = take_data(name, "client-certificate-data", str_of(user, "client-certificate-data"),
                              &kc->cert_data, err);
                if (r >= 0)
                        r = take_data(name, "client-key-data", str_of(user, "client-key-data"), &kc->key_data, err);
                if (r >= 0 && cJSON_GetObjectItemCaseSensitive(user, "exec"))
                        r = kn_error_set(err, -ENOTSUP, "%s: user \"%s\": exec credential plugins are not supported",
                                         name, uname);
                if (r >= 0 && has(user, "auth-provider"))
                        r = kn_error_set(err, -ENOTSUP, "%s: user \"%s\": auth-provider plugins are not supported "
                                         "(use a token, tokenFile or a client certificate)", name, uname);
                if (r >= 0 && (has(user, "username") || has(user, "password")))
                        r = kn_error_set(err, -ENOTSUP, "%s: user \"%s\": basic authentication (username/password) "
                                         "is not supported (use a token, tokenFile or a client certificate)",
                                         name, uname);
                if (r >= 0 && (!!(kc->cert_file || kc->cert_data.data) != !!(kc->key_file || kc->key_data.data)))
                        r = kn_error_set(err, -EINVAL, "%s: user \"%s\" has a client certificate without a key "
                                         "or a key without a certificate", name, uname);
        }
        if (r < 0) {
                kn_kubeconfig_free(kc);
                return r;
        }
        *ret = kc;
        return 0;
}

int kn_kubeconfig_load(const char *path, const char *context, kn_kubeconfig **ret, kn_error *err)
{
        _cleanup_free_ char *data = NULL, *copy = NULL;
        size_t len;
        int r;

        r = kn_read_file(path, KN_CONFIG_MAX_BYTES, &data, &len);
        if (r < 0)
                return kn_error_set(err, r, "failed to read kubeconfig %s: %s", path, strerror(-r));
        copy = kn_strdup(path);
        return kn_kubeconfig_parse(path, data, len, dirname(copy), context, ret, err);
}

int kn_kubeconfig_in_cluster(const char *sa_dir, kn_kubeconfig **ret, kn_error *err)
{
        const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
        _cleanup_free_ char *token_file = NULL, *ns_file = NULL, *ns = NULL;
        kn_kubeconfig *kc;

        if (!host || !*host || !port || !*port)
                return kn_error_set(err, -ENOENT, "not running in a cluster: KUBERNETES_SERVICE_HOST and "
                                    "KUBERNETES_SERVICE_PORT must be set");
        if (!sa_dir)
                sa_dir = KN_SA_DIR;
        token_file = kn_asprintf("%s/token", sa_dir);
        if (access(token_file, R_OK) < 0)
                return kn_error_set(err, -errno, "in-cluster config: cannot read %s: %s", token_file, strerror(errno));
        kc = kn_calloc(1, sizeof(*kc));
        kc->server = strchr(host, ':') ? kn_asprintf("https://[%s]:%s", host, port) : kn_asprintf("https://%s:%s", host, port);
        kc->token_file = TAKE_PTR(token_file);
        kc->ca_file = kn_asprintf("%s/ca.crt", sa_dir);
        ns_file = kn_asprintf("%s/namespace", sa_dir);
        if (kn_read_file(ns_file, 256, &ns, NULL) >= 0) {
                ns[strcspn(ns, "\r\n")] = '\0';
                kc->namespace = TAKE_PTR(ns);
        }
        kc->context = kn_strdup("in-cluster");
        *ret = kc;
        return 0;
}
