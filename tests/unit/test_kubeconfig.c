/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "api.h"
#include "applet.h"
#include "kubeconfig.h"

static const char *good =
        "apiVersion: v1\nkind: Config\ncurrent-context: main\n"
        "clusters:\n- name: c1\n  cluster:\n    server: https://127.0.0.1:6443/\n"
        "    certificate-authority-data: aGVsbG8=\n"
        "- name: c2\n  cluster:\n    server: https://10.0.0.1\n    certificate-authority: ca.crt\n"
        "- name: c3\n  cluster:\n    server: https://10.0.0.2\n    insecure-skip-tls-verify: true\n"
        "users:\n- name: u1\n  user:\n    client-certificate: certs/c.crt\n    client-key: /abs/c.key\n"
        "- name: u2\n  user:\n    token: sekret\n"
        "- name: u3\n  user:\n    tokenFile: tok\n"
        "contexts:\n- name: main\n  context: {cluster: c1, user: u2, namespace: ns1}\n"
        "- name: other\n  context: {cluster: c2, user: u1}\n"
        "- name: tf\n  context: {cluster: c2, user: u3}\n"
        "- name: insecure\n  context: {cluster: c3, user: u1}\n"
        "- name: broken\n  context: {cluster: nope, user: u1}\n";

static void test_current_context(void **state)
{
        kn_kubeconfig *kc = NULL;
        kn_error err = {0};
        (void)state;
        assert_int_equal(kn_kubeconfig_parse("kc", good, strlen(good), "/etc/k", NULL, &kc, &err), 0);
        assert_string_equal(kc->server, "https://127.0.0.1:6443");
        assert_int_equal(kc->ca_data.len, 5);
        assert_memory_equal(kc->ca_data.data, "hello", 5);
        assert_string_equal(kc->token, "sekret");
        assert_string_equal(kc->namespace, "ns1");
        assert_false(kc->insecure);
        kn_kubeconfig_free(kc);
}

static void test_other_context(void **state)
{
        kn_kubeconfig *kc = NULL;
        kn_error err = {0};
        (void)state;
        assert_int_equal(kn_kubeconfig_parse("kc", good, strlen(good), "/etc/k", "other", &kc, &err), 0);
        assert_string_equal(kc->ca_file, "/etc/k/ca.crt");
        assert_string_equal(kc->cert_file, "/etc/k/certs/c.crt");
        assert_string_equal(kc->key_file, "/abs/c.key");
        assert_false(kc->insecure);
        kn_kubeconfig_free(kc);
        assert_int_equal(kn_kubeconfig_parse("kc", good, strlen(good), "/etc/k", "insecure", &kc, &err), 0);
        assert_true(kc->insecure);
        assert_null(kc->ca_file);
        kn_kubeconfig_free(kc);
        assert_int_equal(kn_kubeconfig_parse("kc", good, strlen(good), "/etc/k", "tf", &kc, &err), 0);
        assert_string_equal(kc->token_file, "/etc/k/tok");
        kn_kubeconfig_free(kc);
}

static void test_errors(void **state)
{
        kn_kubeconfig *kc = NULL;
        kn_error err = {0};
        const char *bad[] = {
                "",
                "- a\n",
                "kind: Pod\ncurrent-context: x\n",
                "current-context: x\ncontexts: []\n",
                "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: {}}]\n",
                "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
                "clusters: [{name: c, cluster: {server: ftp://x}}]\n",
                "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
                "clusters: [{name: c, cluster: {server: https://x, certificate-authority-data: '!!!'}}]\n",
                "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                "clusters: [{name: c, cluster: {server: https://x}}]\nusers: [{name: u, user: {client-key: k}}]\n",
                "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                "clusters: [{name: c, cluster: {server: https://x}}]\nusers: [{name: u, user: {exec: {command: x}}}]\n",
                "clusters: [\n",
        };
        (void)state;
        for (size_t i = 0; i < KN_ARRAY_SIZE(bad); i++) {
                int r = kn_kubeconfig_parse("kc", bad[i], strlen(bad[i]), NULL, NULL, &kc, &err);
                if (r >= 0)
                        fail_msg("case %zu parsed", i);
                assert_true(strlen(err.msg) > 0);
        }
        assert_true(kn_kubeconfig_parse("kc", good, strlen(good), NULL, "broken", &kc, &err) < 0);
        assert_non_null(strstr(err.msg, "nope"));
        assert_true(kn_kubeconfig_parse("kc", good, strlen(good), NULL, "absent", &kc, &err) < 0);
        assert_true(kn_kubeconfig_load("/nonexistent/kc", NULL, &kc, &err) < 0);
}

#define ONE_CONTEXT(cluster, user)                                                                        \
        "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"                     \
        "clusters: [{name: c, cluster: {server: https://x" cluster "}}]\nusers: [{name: u, user: {" user "}}]\n"

/* What client-go refuses, or knode cannot honour, is an error naming it, not ignored. */
static void test_refused(void **state)
{
        static const struct {
                const char *doc, *msg;
        } cases[] = {
                {ONE_CONTEXT(", certificate-authority: ca.crt, insecure-skip-tls-verify: true", "token: t"),
                 "insecure-skip-tls-verify cannot be used with certificate-authority"},
                {ONE_CONTEXT(", certificate-authority-data: aGVsbG8=, insecure-skip-tls-verify: true", "token: t"),
                 "insecure-skip-tls-verify cannot be used with certificate-authority"},
                {ONE_CONTEXT("", "auth-provider: {name: oidc, config: {id-token: x}}"),
                 "auth-provider plugins are not supported"},
                {ONE_CONTEXT("", "username: admin, password: sekret"), "basic authentication"},
                {ONE_CONTEXT("", "password: sekret"), "basic authentication"},
        };
        kn_kubeconfig *kc = NULL;
        kn_error err = {0};
        (void)state;
        for (size_t i = 0; i < KN_ARRAY_SIZE(cases); i++) {
                int r = kn_kubeconfig_parse("kc", cases[i].doc, strlen(cases[i].doc), NULL, NULL, &kc, &err);
                if (r >= 0)
                        fail_msg("case %zu parsed", i);
                if (!strstr(err.msg, cases[i].msg))
                        fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err.msg, cases[i].msg);
                if (!strstr(err.msg, "user \"u\"") && !strstr(err.msg, "cluster \"c\""))
                        fail_msg("case %zu: \"%s\" names neither the user nor the cluster", i, err.msg);
        }
        /* insecure alone, and an empty username, are fine */
        {
                const char *ok = ONE_CONTEXT(", insecure-skip-tls-verify: true", "token: t, username: ''");
                assert_int_equal(kn_kubeconfig_parse("kc", ok, strlen(ok), NULL, NULL, &kc, &err), 0);
                assert_true(kc->insecure);
                kn_kubeconfig_free(kc);
        }
}

/* The API client checks the final config (after --master), however it was made. */
static void test_api_refuses(void **state)
{
        kn_blob key = {.data = "k", .len = 1}, ca = {.data = "c", .len = 1};
        static const char *const http = "http://127.0.0.1:8080", *https = "https://127.0.0.1:6443";
        const struct {
                kn_kubeconfig kc;
                int r;
                const char *msg;
        } cases[] = {
                {{.server = (char *)http, .token = "t"}, -EPERM, "bearer token"},
                {{.server = (char *)http, .token_file = "/nonexistent/token"}, -EPERM, "bearer token"},
                {{.server = (char *)http, .key_file = "k.pem", .cert_file = "c.pem"}, -EPERM, "client key"},
                {{.server = (char *)http, .key_data = key, .cert_data = key}, -EPERM, "client key"},
                {{.server = (char *)https, .insecure = true, .ca_file = "ca.crt"}, -EINVAL, "insecure"},
                {{.server = (char *)https, .insecure = true, .ca_data = ca}, -EINVAL, "insecure"},
                {{.server = (char *)http}, 0, NULL},
                {{.server = (char *)https, .token = "t"}, 0, NULL},
                {{.server = (char *)https, .insecure = true, .token = "t"}, 0, NULL},
        };
        (void)state;
        for (size_t i = 0; i < KN_ARRAY_SIZE(cases); i++) {
                kn_api *api = NULL;
                kn_error err = {0};
                int r = kn_api_new(&cases[i].kc, NULL, &api, &err);
                if (r != cases[i].r || (cases[i].msg && !strstr(err.msg, cases[i].msg)))
                        fail_msg("case %zu: %d (want %d): %s", i, r, cases[i].r, err.msg);
                if (r == -EPERM && !strstr(err.msg, "KNODE_ALLOW_INSECURE_CREDENTIALS=1"))
                        fail_msg("case %zu does not say how to allow it: %s", i, err.msg);
                kn_api_free(api);
        }
        /* an explicit opt-in allows credentials over http:// (not insecure with a CA) */
        for (size_t i = 0; i < KN_ARRAY_SIZE(cases); i++) {
                kn_api *api = NULL;
                kn_error err = {0};
                int r;
                if (cases[i].kc.token_file)
                        continue; /* would read the file */
                r = kn_api_new(&cases[i].kc, &(kn_api_opts){.allow_insecure_credentials = true}, &api, &err);
                assert_int_equal(r, cases[i].r == -EPERM ? 0 : cases[i].r);
                kn_api_free(api);
        }
}

/* kn_env_new takes the opt-in from KNODE_ALLOW_INSECURE_CREDENTIALS=1. */
static void test_env_opt_in(void **state)
{
        char path[] = "/tmp/kn-kc-XXXXXX";
        const char *doc = "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                          "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:8080'}}]\n"
                          "users: [{name: u, user: {token: t}}]\n";
        int fd = mkstemp(path);
        kn_env *env = NULL;
        kn_error err = {0};
        (void)state;
        assert_true(fd >= 0);
        assert_int_equal(write(fd, doc, strlen(doc)), (ssize_t)strlen(doc));
        close(fd);
        unsetenv("KNODE_ALLOW_INSECURE_CREDENTIALS");
        assert_int_equal(kn_env_new(path, NULL, "test", &env, &err), -EPERM);
        setenv("KNODE_ALLOW_INSECURE_CREDENTIALS", "yes", 1); /* only "1" */
        assert_int_equal(kn_env_new(path, NULL, "test", &env, &err), -EPERM);
        setenv("KNODE_ALLOW_INSECURE_CREDENTIALS", "1", 1);
        assert_int_equal(kn_env_new(path, NULL, "test", &env, &err), 0);
        kn_env_free(env);
        unsetenv("KNODE_ALLOW_INSECURE_CREDENTIALS");
        /* --master to a plain http:// server is checked too */
        doc = "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
              "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:6443'}}]\n"
              "users: [{name: u, user: {token: t}}]\n";
        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        assert_int_equal(write(fd, doc, strlen(doc)), (ssize_t)strlen(doc));
        close(fd);
        assert_int_equal(kn_env_new(path, "http://127.0.0.1:8080", "test", &env, &err), -EPERM);
        assert_int_equal(kn_env_new(path, NULL, "test", &env, &err), 0);
        kn_env_free(env);
        unlink(path);
}

static void test_in_cluster(void **state)
{
        char dir[] = "/tmp/kn-sa-XXXXXX";
        char path[256];
        kn_kubeconfig *kc = NULL;
        kn_error err = {0};
        FILE *f;
        (void)state;
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/token", dir);
        f = fopen(path, "w");
        fputs("tok\n", f);
        fclose(f);
        snprintf(path, sizeof(path), "%s/namespace", dir);
        f = fopen(path, "w");
        fputs("kube-system", f);
        fclose(f);
        unsetenv("KUBERNETES_SERVICE_HOST");
        assert_true(kn_kubeconfig_in_cluster(dir, &kc, &err) < 0);
        setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
        setenv("KUBERNETES_SERVICE_PORT", "443", 1);
        assert_int_equal(kn_kubeconfig_in_cluster(dir, &kc, &err), 0);
        assert_string_equal(kc->server, "https://[fd00::1]:443");
        assert_string_equal(kc->namespace, "kube-system");
        assert_non_null(strstr(kc->ca_file, "/ca.crt"));
        kn_kubeconfig_free(kc);
        snprintf(path, sizeof(path), "rm -rf %s", dir);
        assert_int_equal(system(path), 0);
}

static void test_base64(void **state)
{
        kn_blob b;
        (void)state;
        assert_int_equal(kn_base64_decode("aGVs\nbG8gd29ybGQ=", &b), 0);
        assert_string_equal(b.data, "hello world");
        free(b.data);
        assert_true(kn_base64_decode("a*b", &b) < 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_current_context), cmocka_unit_test(test_other_context),
                cmocka_unit_test(test_errors),          cmocka_unit_test(test_in_cluster),
                cmocka_unit_test(test_base64),          cmocka_unit_test(test_refused),
                cmocka_unit_test(test_api_refuses),     cmocka_unit_test(test_env_opt_in),
        };
        return cmocka_run_group_tests_name("kubeconfig", tests, NULL, NULL);
}
