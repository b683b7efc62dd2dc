/* SPDX-License-Identifier: Apache-2.0 */
/* Admission of a bound pod: upstream's reasons and messages for resources, node affinity,
 * host ports, NoExecute taints, sysctls and the OS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../kubelet/admit.h"

static cJSON *parse(const char *s)
{
        cJSON *j = cJSON_Parse(s);
        assert_non_null(j);
        return j;
}

static const char NODE[] =
        "{\"metadata\":{\"name\":\"n1\",\"labels\":{\"kubernetes.io/os\":\"linux\",\"zone\":\"a\",\"gpus\":\"4\"}},"
        "\"spec\":{\"taints\":[{\"key\":\"maint\",\"value\":\"soon\",\"effect\":\"NoSchedule\"}]}}";

/* A pod with one container requesting CPU and MEM (NULL: none) and SPEC_EXTRA (JSON members
 * of spec, may be empty). */
static cJSON *pod(const char *cpu, const char *mem, const char *spec_extra)
{
        char req[256] = "", buf[2048];
        if (cpu)
                snprintf(req, sizeof(req), "\"cpu\":\"%s\"%s", cpu, mem ? "," : "");
        if (mem)
                snprintf(req + strlen(req), sizeof(req) - strlen(req), "\"memory\":\"%s\"", mem);
        snprintf(buf, sizeof(buf),
                 "{\"metadata\":{\"name\":\"p\",\"namespace\":\"d\"},\"spec\":{\"nodeName\":\"n1\",%s%s"
                 "\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"resources\":{\"requests\":{%s}}}]}}",
                 spec_extra, *spec_extra ? "," : "", req);
        return parse(buf);
}

struct fixture {
        cJSON *node;
        cJSON *others[4];
        kubelet_admit_ctx c;
};

static void setup_ctx(struct fixture *f, size_t n_others)
{
        f->node = parse(NODE);
        f->c = (kubelet_admit_ctx){.node_name = "n1", .node = f->node, .admitted = (const cJSON *const *)f->others,
                                   .n_admitted = n_others};
        f->c.allocatable[RES_CPU] = 2000;
        f->c.allocatable[RES_MEMORY] = 1LL << 30;
        f->c.allocatable[RES_PODS] = 110;
}

static void teardown_ctx(struct fixture *f)
{
        cJSON_Delete(f->node);
        for (size_t i = 0; i < KN_ARRAY_SIZE(f->others); i++)
                cJSON_Delete(f->others[i]);
}

/* Admits POD (consumed) or fails with REASON and MESSAGE (NULL: admitted). */
static void expect(const kubelet_admit_ctx *c, cJSON *p, const char *reason, const char *message)
{
        char *r = NULL, *m = NULL;
        bool ok = kubelet_admit(c, p, &r, &m);
        cJSON_Delete(p);
        if (!reason) {
                if (!ok)
                        fail_msg("rejected: %s: %s", r, m);
        } else {
                assert_false(ok);
                assert_string_equal(r, reason);
                assert_string_equal(m, message);
        }
        free(r);
        free(m);
}

static void test_resources(void **state)
{
        struct fixture f = {0};
        (void)state;

        f.others[0] = pod("1500m", "512Mi", "");
        setup_ctx(&f, 1);
        expect(&f.c, pod("400m", "100Mi", ""), NULL, NULL);
        expect(&f.c, pod("1", NULL, ""), "OutOfcpu",
               "Node didn't have enough resource: cpu, requested: 1000, used: 1500, capacity: 2000");
        /* an absurd request fails that pod only */
        expect(&f.c, pod(NULL, "1000Gi", ""), "OutOfmemory",
               "Node didn't have enough resource: memory, requested: 1073741824000, used: 536870912, capacity: 1073741824");
        /* no request at all always fits */
        expect(&f.c, pod(NULL, NULL, ""), NULL, NULL);
        f.c.allocatable[RES_PODS] = 1;
        expect(&f.c, pod(NULL, NULL, ""), "OutOfpods",
               "Node didn't have enough resource: pods, requested: 1, used: 1, capacity: 1");
        teardown_ctx(&f);
}

static void test_node_affinity(void **state)
{
        static const char *const fits[] = {
                "\"nodeSelector\":{\"zone\":\"a\"}",
                "\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":["
                "{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\",\"values\":[\"b\"]}]},"
                "{\"matchExpressions\":[{\"key\":\"gpus\",\"operator\":\"Gt\",\"values\":[\"3\"]},"
                "{\"key\":\"x\",\"operator\":\"DoesNotExist\"}]}]}}}",
                "\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":["
                "{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"n1\"]}]}]}}}",
        };
        static const char *const misfits[] = {
                "\"nodeSelector\":{\"zone\":\"b\"}",
                "\"nodeSelector\":{\"missing\":\"x\"}",
                "\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":["
                "{\"matchExpressions\":[{\"key\":\"gpus\",\"operator\":\"Lt\",\"values\":[\"4\"]}]},"
                "{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"NotIn\",\"values\":[\"a\"]}]}]}}}",
                /* an empty term matches nothing */
                "\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":[{}]}}}",
                "\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":["
                "{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"NotIn\",\"values\":[\"n1\"]}]}]}}}",
        };
        struct fixture f = {0};
        (void)state;

        setup_ctx(&f, 0);
        for (size_t i = 0; i < KN_ARRAY_SIZE(fits); i++)
                expect(&f.c, pod(NULL, NULL, fits[i]), NULL, NULL);
        for (size_t i = 0; i < KN_ARRAY_SIZE(misfits); i++)
                expect(&f.c, pod(NULL, NULL, misfits[i]), "NodeAffinity",
                       "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector");
        /* not known yet: not checked */
        f.c.node = NULL;
        expect(&f.c, pod(NULL, NULL, misfits[0]), NULL, NULL);
        teardown_ctx(&f);
}

static void test_host_ports(void **state)
{
        struct fixture f = {0};
        (void)state;

        f.others[0] = parse("{\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":80,"
                            "\"hostPort\":8080,\"protocol\":\"TCP\",\"hostIP\":\"10.0.0.1\"}]}]}}");
        setup_ctx(&f, 1);
        expect(&f.c, parse("{\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":80,\"hostPort\":8080}]}]}}"),
               "NodePorts", "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports");
        expect(&f.c, parse("{\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":80,\"hostPort\":8080,"
                           "\"protocol\":\"UDP\"}]}]}}"),
               NULL, NULL);
        expect(&f.c, parse("{\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":80,\"hostPort\":8080,"
                           "\"hostIP\":\"10.0.0.2\"}]}]}}"),
               NULL, NULL);
        expect(&f.c, parse("{\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":8080}]}]}}"), NULL, NULL);
        teardown_ctx(&f);
}

static void test_taints(void **state)
{
        struct fixture f = {0};
        cJSON *taints;
        (void)state;

        setup_ctx(&f, 0);
        /* NoSchedule is the scheduler's business, not the kubelet's */
        expect(&f.c, pod(NULL, NULL, ""), NULL, NULL);
        taints = cJSON_GetObjectItem(cJSON_GetObjectItem(f.node, "spec"), "taints");
        cJSON_AddItemToArray(taints, parse("{\"key\":\"gone\",\"value\":\"yes\",\"effect\":\"NoExecute\"}"));
        expect(&f.c, pod(NULL, NULL, ""), "TaintToleration",
               "Predicate TaintToleration failed: node(s) had taints that the pod didn't tolerate");
        expect(&f.c, pod(NULL, NULL, "\"tolerations\":[{\"key\":\"gone\",\"value\":\"no\"}]"), "TaintToleration",
               "Predicate TaintToleration failed: node(s) had taints that the pod didn't tolerate");
        expect(&f.c, pod(NULL, NULL, "\"tolerations\":[{\"key\":\"gone\",\"value\":\"yes\",\"effect\":\"NoExecute\"}]"),
               NULL, NULL);
        expect(&f.c, pod(NULL, NULL, "\"tolerations\":[{\"operator\":\"Exists\"}]"), NULL, NULL);
        teardown_ctx(&f);
}

static void test_sysctls_and_os(void **state)
{
        struct fixture f = {0};
        (void)state;

        setup_ctx(&f, 0);
        expect(&f.c, pod(NULL, NULL, "\"securityContext\":{\"sysctls\":[{\"name\":\"kernel.shm_rmid_forced\",\"value\":\"1\"}]}"),
               NULL, NULL);
        expect(&f.c, pod(NULL, NULL, "\"securityContext\":{\"sysctls\":[{\"name\":\"kernel.msgmax\",\"value\":\"1\"}]}"),
               "SysctlForbidden", "forbidden sysctl: \"kernel.msgmax\" not allowlisted");
        expect(&f.c, pod(NULL, NULL, "\"os\":{\"name\":\"windows\"}"), "PodOSNotSupported",
               "Failed to admit pod as the OS field doesn't match node OS");
        expect(&f.c, pod(NULL, NULL, "\"nodeSelector\":{\"kubernetes.io/os\":\"windows\"}"),
               "PodOSSelectorNodeLabelDoesNotMatch",
               "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label");
        teardown_ctx(&f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_resources),     cmocka_unit_test(test_node_affinity),
                cmocka_unit_test(test_host_ports),    cmocka_unit_test(test_taints),
                cmocka_unit_test(test_sysctls_and_os),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
