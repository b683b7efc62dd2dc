/* SPDX-License-Identifier: Apache-2.0 */
/* Static pod manifests: parsing, refusal of what is not a runnable Pod, the API server's
 * defaults, upstream's file-source naming, annotations and a stable UID. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../kubelet/pods.h"

static const char WEB[] = "apiVersion: v1\n"
                          "kind: Pod\n"
                          "metadata:\n"
                          "  name: web\n"
                          "  labels: {app: web}\n"
                          "spec:\n"
                          "  containers:\n"
                          "  - name: c\n"
                          "    image: registry.local/web\n"
                          "    ports: [{containerPort: 80}]\n"
                          "    readinessProbe: {httpGet: {port: 80}}\n"
                          "    env: [{name: N, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]\n"
                          "  - name: d\n"
                          "    image: registry.local/db:1.2\n"
                          "  volumes: [{name: v, configMap: {name: cm}}]\n";

static cJSON *load(const char *node, const char *path, const char *data)
{
        cJSON *pod = NULL;
        kn_error err;
        assert_int_equal(kubelet_static_manifest_pod(node, path, data, strlen(data), &pod, &err), 0);
        assert_non_null(pod);
        return pod;
}

static const char *str(const cJSON *o, const char *path)
{
        return cJSON_GetStringValue((cJSON *)kn_json_path(o, path));
}

static double num(const cJSON *o, const char *path)
{
        const cJSON *n = kn_json_path(o, path);
        assert_true(cJSON_IsNumber(n));
        return n->valuedouble;
}

static void test_defaults_and_naming(void **state)
{
        _cleanup_cjson_ cJSON *pod = load("Node-1", "/etc/kubernetes/manifests/web.yaml", WEB);
        const cJSON *ann = kn_json_path(pod, "metadata.annotations"), *tols, *last;
        const char *uid = str(pod, "metadata.uid");
        (void)state;

        assert_string_equal(str(pod, "metadata.name"), "web-node-1"); /* the node name lowercased */
        assert_string_equal(str(pod, "metadata.namespace"), "default");
        assert_non_null(uid);
        assert_int_equal(strlen(uid), 32);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(ann, "kubernetes.io/config.hash")), uid);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(ann, "kubernetes.io/config.source")), "file");
        assert_non_null(cJSON_GetObjectItem(ann, "kubernetes.io/config.seen"));
        assert_null(cJSON_GetObjectItem(ann, "kubernetes.io/config.mirror"));
        assert_string_equal(str(pod, "spec.nodeName"), "Node-1");
        assert_string_equal(str(pod, "spec.restartPolicy"), "Always");
        assert_string_equal(str(pod, "spec.dnsPolicy"), "ClusterFirst");
        assert_true(num(pod, "spec.terminationGracePeriodSeconds") == 30);
        tols = kn_json_path(pod, "spec.tolerations");
        last = cJSON_GetArrayItem(tols, cJSON_GetArraySize(tols) - 1);
        assert_string_equal(str(last, "operator"), "Exists");
        assert_string_equal(str(last, "effect"), "NoExecute");
        /* per container */
        const cJSON *c = cJSON_GetArrayItem(kn_json_path(pod, "spec.containers"), 0);
        const cJSON *d = cJSON_GetArrayItem(kn_json_path(pod, "spec.containers"), 1);
        assert_string_equal(str(c, "imagePullPolicy"), "Always"); /* no tag */
        assert_string_equal(str(d, "imagePullPolicy"), "IfNotPresent");
        assert_string_equal(str(c, "terminationMessagePath"), "/dev/termination-log");
        assert_string_equal(str(c, "terminationMessagePolicy"), "File");
        assert_string_equal(str(cJSON_GetArrayItem(cJSON_GetObjectItem(c, "ports"), 0), "protocol"), "TCP");
        assert_true(num(c, "readinessProbe.periodSeconds") == 10);
        assert_true(num(c, "readinessProbe.timeoutSeconds") == 1);
        assert_true(num(c, "readinessProbe.failureThreshold") == 3);
        assert_string_equal(str(c, "readinessProbe.httpGet.scheme"), "HTTP");
        assert_string_equal(str(cJSON_GetArrayItem(cJSON_GetObjectItem(c, "env"), 0), "valueFrom.fieldRef.apiVersion"),
                            "v1");
        assert_true(num(cJSON_GetArrayItem(kn_json_path(pod, "spec.volumes"), 0), "configMap.defaultMode") == 0644);
}

static void test_uid_is_stable(void **state)
{
        _cleanup_cjson_ cJSON *a = load("n1", "/m/web.yaml", WEB), *b = load("n1", "/m/web.yaml", WEB);
        _cleanup_cjson_ cJSON *other_node = load("n2", "/m/web.yaml", WEB);
        _cleanup_cjson_ cJSON *other_path = load("n1", "/m/web2.yaml", WEB);
        _cleanup_free_ char *changed_text = kn_asprintf("%s  restartPolicy: Never\n", WEB);
        _cleanup_cjson_ cJSON *changed = load("n1", "/m/web.yaml", changed_text);
        const char *uid = str(a, "metadata.uid");
        (void)state;

        assert_string_equal(str(b, "metadata.uid"), uid); /* a restart finds the same pod */
        assert_string_not_equal(str(other_node, "metadata.uid"), uid);
        assert_string_not_equal(str(other_path, "metadata.uid"), uid);
        assert_string_not_equal(str(changed, "metadata.uid"), uid); /* an edit replaces the pod */
        assert_string_equal(str(changed, "spec.restartPolicy"), "Never"); /* given values stay */
}

static void test_own_fields_replaced(void **state)
{
        static const char in[] = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"x\",\"namespace\":"
                                 "\"kube-system\",\"uid\":\"mine\",\"resourceVersion\":\"7\",\"annotations\":{"
                                 "\"kubernetes.io/config.mirror\":\"forged\",\"keep\":\"me\"}},\"spec\":{\"nodeName\":"
                                 "\"elsewhere\",\"containers\":[{\"name\":\"c\",\"image\":\"i:1\"}]},\"status\":{"
                                 "\"phase\":\"Succeeded\"}}";
        _cleanup_cjson_ cJSON *pod = load("n1", "/m/x.json", in);
        const cJSON *ann = kn_json_path(pod, "metadata.annotations");
        (void)state;

        assert_string_equal(str(pod, "metadata.namespace"), "kube-system");
        assert_string_not_equal(str(pod, "metadata.uid"), "mine");
        assert_null(kn_json_path(pod, "metadata.resourceVersion"));
        assert_null(cJSON_GetObjectItem(ann, "kubernetes.io/config.mirror"));
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(ann, "keep")), "me");
        assert_string_equal(str(pod, "spec.nodeName"), "n1");
        assert_null(kn_json_path(pod, "status"));
}

static void test_refused(void **state)
{
        static const struct {
                const char *text, *why;
        } bad[] = {
                {"metadata: {name: [unclosed\n", "/m/bad.yaml:"},
                {"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n", "not a v1 Pod"},
                {"apiVersion: v1\nkind: Pod\nmetadata: {name: Web}\nspec: {containers: [{name: c, image: i}]}\n",
                 "metadata.name"},
                {"apiVersion: v1\nkind: Pod\nmetadata: {name: w}\nspec: {containers: []}\n", "spec.containers"},
                {"apiVersion: v1\nkind: Pod\nmetadata: {name: w}\nspec: {containers: [{name: c}]}\n",
                 "needs a name and an image"},
                {"", "not a v1 Pod"},
        };
        (void)state;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                cJSON *pod = NULL;
                kn_error err;
                assert_true(kubelet_static_manifest_pod("n1", "/m/bad.yaml", bad[i].text, strlen(bad[i].text), &pod,
                                                        &err) < 0);
                assert_null(pod);
                if (!strstr(err.msg, bad[i].why))
                        fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err.msg, bad[i].why);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults_and_naming),
                cmocka_unit_test(test_uid_is_stable),
                cmocka_unit_test(test_own_fields_replaced),
                cmocka_unit_test(test_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
