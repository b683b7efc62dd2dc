/* SPDX-License-Identifier: Apache-2.0 */
/* Pod spec -> CRI configs: $(VAR) expansion, DNS, sandbox/container configs and their
 * CRI labels, /etc/hosts, and the JSON <-> protobuf-c conversion they travel through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "../../kubelet/podconfig.h"
#include "../../runtime/msgjson.h"

static cJSON *parse(const char *s)
{
        cJSON *j = cJSON_Parse(s);
        assert_non_null(j);
        return j;
}

static void test_expand_vars(void **state)
{
        (void)state;
        cJSON *env = parse("{\"A\":\"1\",\"B\":\"two\"}");
        char *s;

        s = kubelet_expand_vars("x$(A)-$(B)-$(C)-$$(A)-$(", env);
        assert_string_equal(s, "x1-two-$(C)-$(A)-$(");
        free(s);
        s = kubelet_expand_vars("", env);
        assert_string_equal(s, "");
        free(s);
        cJSON_Delete(env);
}

static kubelet *test_kubelet(const char *resolv)
{
        kubelet *k = kn_calloc(1, sizeof(*k));
        k->cfg.cluster_dns = kn_calloc(2, sizeof(char *));
        k->cfg.cluster_dns[0] = kn_strdup("10.96.0.10");
        k->cfg.cluster_domain = kn_strdup("cluster.local");
        k->cfg.resolv_conf = kn_strdup(resolv);
        k->cfg.root_dir = kn_strdup("/var/lib/kubelet");
        k->cfg.pod_logs_dir = kn_strdup("/var/log/pods");
        k->node_name = kn_strdup("n1");
        return k;
}

static void free_kubelet(kubelet *k)
{
        free(k->cfg.cluster_dns[0]);
        free(k->cfg.cluster_dns);
        free(k->cfg.cluster_domain);
        free(k->cfg.resolv_conf);
        free(k->cfg.root_dir);
        free(k->cfg.pod_logs_dir);
        free(k->node_name);
        free(k);
}

static char *write_resolv(void)
{
        char *path = kn_strdup("/tmp/knode-test-resolv-XXXXXX");
        int fd = mkstemp(path);
        const char *s = "nameserver 192.0.2.53\nsearch old.example\nsearch host.example corp.example\noptions rotate\n";
        assert_true(fd >= 0);
        assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
        close(fd);
        return path;
}

static const char *const POD =
        "{\"metadata\":{\"name\":\"web\",\"namespace\":\"ns1\",\"uid\":\"u-1\",\"labels\":{\"app\":\"x\"},"
        "\"annotations\":{\"a\":\"b\"}},"
        "\"spec\":{\"dnsConfig\":{\"nameservers\":[\"192.0.2.1\"],\"options\":[{\"name\":\"ndots\",\"value\":\"2\"},"
        "{\"name\":\"edns0\"}]},\"securityContext\":{\"fsGroup\":2000,\"sysctls\":[{\"name\":\"net.ipv4.ip_forward\","
        "\"value\":\"0\"}]},\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"ports\":[{\"containerPort\":80,"
        "\"hostPort\":8080,\"protocol\":\"TCP\"}]}]}}";

static void test_sandbox_config_cluster_first(void **state)
{
        (void)state;
        _cleanup_free_ char *resolv = write_resolv();
        kubelet *k = test_kubelet(resolv);
        cJSON *pod = parse(POD), *c = kubelet_sandbox_config(k, pod, 2, "/kubepods/podu-1"), *it;
        _cleanup_free_ char *searches = NULL, *servers = NULL, *options = NULL;
        ProtobufCMessage *msg = NULL;
        kn_error err;

        assert_string_equal(cJSON_GetStringValue((cJSON *)kn_json_path(c, "metadata.name")), "web");
        assert_int_equal((int)cJSON_GetNumberValue((cJSON *)kn_json_path(c, "metadata.attempt")), 2);
        assert_string_equal(cJSON_GetStringValue((cJSON *)kn_json_path(c, "hostname")), "web");
        assert_string_equal(cJSON_GetStringValue((cJSON *)kn_json_path(c, "log_directory")), "/var/log/pods/ns1_web_u-1");
        servers = cJSON_PrintUnformatted(kn_json_path(c, "dns_config.servers"));
        searches = cJSON_PrintUnformatted(kn_json_path(c, "dns_config.searches"));
        options = cJSON_PrintUnformatted(kn_json_path(c, "dns_config.options"));
        /* cluster DNS first, then the pod's; the host's last search line, after the cluster's */
        assert_string_equal(servers, "[\"10.96.0.10\",\"192.0.2.1\"]");
        assert_string_equal(searches,
                            "[\"ns1.svc.cluster.local\",\"svc.cluster.local\",\"cluster.local\",\"host.example\",\"corp.example\"]");
        /* ndots from the pod replaces the cluster's ndots:5 */
        assert_string_equal(options, "[\"ndots:2\",\"edns0\"]");
        it = cJSON_GetObjectItem(c, "labels");
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(it, LABEL_POD_NAMESPACE)), "ns1");
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(it, "app")), "x");
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "linux"), "cgroup_parent")),
                            "/kubepods/podu-1");
        it = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "port_mappings"), 0);
        assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(it, "host_port")), 8080);
        /* the whole config converts into the CRI message and back */
        assert_int_equal(cri_msg_from_json(&runtime__v1__pod_sandbox_config__descriptor, c, &msg, &err), 0);
        {
                Runtime__V1__PodSandboxConfig *p = (Runtime__V1__PodSandboxConfig *)msg;
                cJSON *back = cri_msg_to_json(msg);
                assert_string_equal(p->metadata->uid, "u-1");
                assert_int_equal(p->metadata->attempt, 2);
                assert_int_equal(p->linux->security_context->namespace_options->network,
                                 RUNTIME__V1__NAMESPACE_MODE__POD);
                assert_int_equal(p->n_labels, 4);
                assert_int_equal(p->linux->n_sysctls, 1);
                assert_string_equal(cJSON_GetStringValue((cJSON *)kn_json_path(back, "linux.security_context.namespace_options.network")),
                                    "POD");
                cJSON_Delete(back);
        }
        protobuf_c_message_free_unpacked(msg, NULL);
        cJSON_Delete(c);
        cJSON_Delete(pod);
        unlink(resolv);
        free_kubelet(k);
}

static void test_dns_default_and_none(void **state)
{
        (void)state;
        _cleanup_free_ char *resolv = write_resolv();
        kubelet *k = test_kubelet(resolv);
        cJSON *pod = parse("{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\",\"uid\":\"u\"},"
                           "\"spec\":{\"dnsPolicy\":\"Default\",\"containers\":[]}}");
        cJSON *c = kubelet_sandbox_config(k, pod, 0, NULL);
        _cleanup_free_ char *servers = cJSON_PrintUnformatted(kn_json_path(c, "dns_config.servers"));
        _cleanup_free_ char *searches = cJSON_PrintUnformatted(kn_json_path(c, "dns_config.searches"));

        assert_string_equal(servers, "[\"192.0.2.53\"]");
        assert_string_equal(searches, "[\"host.example\",\"corp.example\"]");
        cJSON_Delete(c);
        cJSON_Delete(pod);
        pod = parse("{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\",\"uid\":\"u\"},\"spec\":{\"dnsPolicy\":\"None\","
                    "\"dnsConfig\":{\"nameservers\":[\"1.2.3.4\"],\"searches\":[\"a.b\"]},\"containers\":[]}}");
        c = kubelet_sandbox_config(k, pod, 0, NULL);
        {
                _cleanup_free_ char *s2 = cJSON_PrintUnformatted(kn_json_path(c, "dns_config"));
                assert_string_equal(s2, "{\"servers\":[\"1.2.3.4\"],\"searches\":[\"a.b\"],\"options\":[]}");
        }
        cJSON_Delete(c);
        cJSON_Delete(pod);
        /* ClusterFirst on the host network falls back to Default, with no hostname */
        pod = parse("{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\",\"uid\":\"u\"},\"spec\":{\"hostNetwork\":true,"
                    "\"containers\":[]}}");
        c = kubelet_sandbox_config(k, pod, 0, NULL);
        assert_null(cJSON_GetObjectItem(c, "hostname"));
        assert_string_equal(cJSON_GetStringValue(cJSON_GetArrayItem((cJSON *)kn_json_path(c, "dns_config.servers"), 0)),
                            "192.0.2.53");
        assert_string_equal(cJSON_GetStringValue((cJSON *)kn_json_path(c, "linux.security_context.namespace_options.network")),
                            "NODE");
        cJSON_Delete(c);
        cJSON_Delete(pod);
        unlink(resolv);
        free_kubelet(k);
}

static void test_hosts_file(void **state)
{
        (void)state;
        kubelet *k = test_kubelet("/nonexistent");
        cJSON *pod = parse("{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\",\"uid\":\"u\"},\"spec\":{\"hostname\":\"h\","
                           "\"subdomain\":\"s\",\"hostAliases\":[{\"ip\":\"192.0.2.9\",\"hostnames\":[\"a\",\"b\"]}],"
                           "\"containers\":[]}}");
        char path[] = "/tmp/knode-test-hosts-XXXXXX";
        _cleanup_free_ char *data = NULL;
        size_t len;
        kn_error err;
        int fd = mkstemp(path);

        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(kubelet_write_hosts(k, pod, "10.244.0.7", path, &err), 0);
        assert_int_equal(kn_read_file(path, 65536, &data, &len), 0);
        assert_non_null(strstr(data, "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert_non_null(strstr(data, "10.244.0.7\th.s.n.svc.cluster.local\th\n"));
        assert_non_null(strstr(data, "# Entries added by HostAliases.\n192.0.2.9\ta\tb\n"));
        unlink(path);
        cJSON_Delete(pod);
        free_kubelet(k);
}

static void test_msgjson_rejects_bad_input(void **state)
{
        (void)state;
        ProtobufCMessage *msg = NULL;
        kn_error err;
        cJSON *j;

        j = parse("{\"metadata\":{\"name\":3}}");
        assert_int_equal(cri_msg_from_json(&runtime__v1__pod_sandbox_config__descriptor, j, &msg, &err), -EINVAL);
        assert_null(msg);
        cJSON_Delete(j);
        j = parse("{\"nosuchfield\":1}");
        assert_int_equal(cri_msg_from_json(&runtime__v1__pod_sandbox_config__descriptor, j, &msg, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "nosuchfield"));
        cJSON_Delete(j);
        j = parse("{\"linux\":{\"security_context\":{\"namespace_options\":{\"network\":\"SIDEWAYS\"}}}}");
        assert_int_equal(cri_msg_from_json(&runtime__v1__pod_sandbox_config__descriptor, j, &msg, &err), -EINVAL);
        cJSON_Delete(j);
        j = parse("{\"labels\":[1,2]}");
        assert_int_equal(cri_msg_from_json(&runtime__v1__pod_sandbox_config__descriptor, j, &msg, &err), -EINVAL);
        cJSON_Delete(j);
        /* a deep nest is refused, not followed */
        {
                kn_buf b = {.max = 1 << 20};
                for (int i = 0; i < 40; i++)
                        kn_buf_printf(&b, "{\"metadata\":");
                kn_buf_printf(&b, "{}");
                for (int i = 0; i < 40; i++)
                        kn_buf_printf(&b, "}");
                kn_buf_append(&b, "", 1);
                j = parse(b.data);
                kn_buf_free(&b);
                assert_true(cri_msg_from_json(&runtime__v1__pod_sandbox_config__descriptor, j, &msg, &err) < 0);
                cJSON_Delete(j);
        }
}

static void test_container_hash_stable(void **state)
{
        (void)state;
        cJSON *a = parse("{\"name\":\"c\",\"image\":\"x\"}"), *b = parse("{\"name\":\"c\",\"image\":\"y\"}");
        char ha[17], ha2[17], hb[17];

        kubelet_container_hash(a, ha);
        kubelet_container_hash(a, ha2);
        kubelet_container_hash(b, hb);
        assert_string_equal(ha, ha2);
        assert_string_not_equal(ha, hb);
        cJSON_Delete(a);
        cJSON_Delete(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_expand_vars),
                cmocka_unit_test(test_sandbox_config_cluster_first),
                cmocka_unit_test(test_dns_default_and_none),
                cmocka_unit_test(test_hosts_file),
                cmocka_unit_test(test_msgjson_rejects_bad_input),
                cmocka_unit_test(test_container_hash_stable),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
