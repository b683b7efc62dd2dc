/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <sys/stat.h>

#include "kubeconfig.h"

static const char *good =
        "apiVersion: v1\nkind: Config\ncurrent-context: main\n"
        "clusters:\n- name: c1\n  cluster:\n    server: https://127.0.0.1:6443/\n"
        "    certificate-authority-data: aGVsbG8=\n"
        "- name: c2\n  cluster:\n    server: https://10.0.0.1\n    certificate-authority: ca.crt\n"
        "    insecure-skip-tls-verify: true\n"
        "users:\n- name: u1\n  user:\n    client-certificate: certs/c.crt\n    client-key: /abs/c.key\n"
        "- name: u2\n  user:\n    token: sekret\n"
        "- name: u3\n  user:\n    tokenFile: tok\n"
        "contexts:\n- name: main\n  context: {cluster: c1, user: u2, namespace: ns1}\n"
        "- name: other\n  context: {cluster: c2, user: u1}\n"
        "- name: tf\n  context: {cluster: c2, user: u3}\n"
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
        assert_true(kc->insecure);
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
                cmocka_unit_test(test_base64),
        };
        return cmocka_run_group_tests_name("kubeconfig", tests, NULL, NULL);
}
