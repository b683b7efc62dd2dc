/* SPDX-License-Identifier: Apache-2.0 */
/* Admission of a pod bound to this node, with the facts of upstream's admit handlers
 * (pkg/kubelet/lifecycle/predicate.go and the scheduler's AdmissionCheck): the OS, safe
 * sysctls, then resources (pods, cpu, memory) against allocatable minus what admitted pods
 * request, the required node affinity and nodeSelector, the node name, host ports, and
 * NoExecute taints. The first failure is the reason. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/util.h"
#include "admit.h"
#include "cgroups.h"
#include "podconfig.h"

/* upstream's safe sysctls (pkg/kubelet/sysctl), the only ones a pod may set here */
static const char *const safe_sysctls[] = {
        "kernel.shm_rmid_forced",       "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",    "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
};

static int64_t sat_add(int64_t a, int64_t b)
{
        return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static bool refuse(char **ret_reason, char **ret_message, const char *reason, char *message)
{
        *ret_reason = kn_strdup(reason);
        *ret_message = message;
        return false;
}

static bool refuse_predicate(char **ret_reason, char **ret_message, const char *name, const char *desc)
{
        return refuse(ret_reason, ret_message, name, kn_asprintf("Predicate %s failed: %s", name, desc));
}

/* ---- node affinity ---- */

static bool parse_int(const char *s, long long *ret)
{
        char *end;
        errno = 0;
        long long v = s && *s ? strtoll(s, &end, 10) : 0;
        if (!s || !*s || *end || errno)
                return false;
        *ret = v;
        return true;
}

static bool in_values(const cJSON *values, const char *v)
{
        const cJSON *it;
        cJSON_ArrayForEach(it, values)
                if (cJSON_IsString(it) && v && !strcmp(it->valuestring, v))
                        return true;
        return false;
}

/* One NodeSelectorRequirement against VALUE (NULL: no such label). */
static bool requirement_matches(const cJSON *req, const char *value)
{
        const char *op = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "operator"));
        const cJSON *values = cJSON_GetObjectItemCaseSensitive(req, "values");
        long long want, have;

        if (!op)
                return false;
        if (!strcmp(op, "In"))
                return value && in_values(values, value);
        if (!strcmp(op, "NotIn"))
                return !value || !in_values(values, value);
        if (!strcmp(op, "Exists"))
                return value != NULL;
        if (!strcmp(op, "DoesNotExist"))
                return value == NULL;
        if (!strcmp(op, "Gt") || !strcmp(op, "Lt")) {
                if (!value || cJSON_GetArraySize(values) != 1 ||
                    !parse_int(cJSON_GetStringValue(cJSON_GetArrayItem(values, 0)), &want) ||
                    !parse_int(value, &have))
                        return false;
                return op[0] == 'G' ? have > want : have < want;
        }
        return false; /* an unknown operator matches nothing */
}

bool kubelet_node_selector_term_matches(const cJSON *term, const cJSON *labels, const char *name)
{
        const cJSON *exprs = cJSON_GetObjectItemCaseSensitive(term, "matchExpressions");
        const cJSON *fields = cJSON_GetObjectItemCaseSensitive(term, "matchFields");
        const cJSON *req;

        /* an empty term matches nothing */
        if (cJSON_GetArraySize(exprs) == 0 && cJSON_GetArraySize(fields) == 0)
                return false;
        cJSON_ArrayForEach(req, exprs) {
                const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "key"));
                const char *v = key ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(labels, key)) : NULL;
                if (!key || !requirement_matches(req, v))
                        return false;
        }
        cJSON_ArrayForEach(req, fields) {
                const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "key"));
                /* metadata.name is the only field a node selector may name */
                if (!key || strcmp(key, "metadata.name") || !requirement_matches(req, name))
                        return false;
        }
        return true;
}

static bool node_affinity_matches(const cJSON *pod, const cJSON *node)
{
        const cJSON *labels = kn_json_path(node, "metadata.labels");
        const char *name = cJSON_GetStringValue(kn_json_path(node, "metadata.name"));
        const cJSON *sel = kn_json_path(pod, "spec.nodeSelector"), *it;
        const cJSON *required = kn_json_path(pod, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution");

        cJSON_ArrayForEach(it, sel) {
                const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(labels, it->string));
                if (!v || !cJSON_IsString(it) || strcmp(v, it->valuestring))
                        return false;
        }
        if (cJSON_IsObject(required)) {
                cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(required, "nodeSelectorTerms"))
                        if (kubelet_node_selector_term_matches(it, labels, name))
                                return true;
                return false; /* no term (or none that matches) */
        }
        return true;
}

/* ---- taints ---- */

static bool tolerates(const cJSON *tol, const cJSON *taint)
{
        const char *teffect = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(tol, "effect"));
        const char *tkey = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(tol, "key"));
        const char *op = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(tol, "operator"));
        const char *tval = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(tol, "value"));
        const char *effect = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(taint, "effect"));
        const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(taint, "key"));
        const char *val = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(taint, "value"));

        if (teffect && *teffect && !kn_streq(teffect, effect))
                return false;
        if (tkey && *tkey && !kn_streq(tkey, key))
                return false;
        if (!op || !*op || !strcmp(op, "Equal"))
                return tkey && *tkey && kn_streq(tval ? tval : "", val ? val : "");
        if (!strcmp(op, "Exists"))
                return true; /* an empty key with Exists tolerates every taint */
        return false;
}

static bool untolerated_no_execute(const cJSON *pod, const cJSON *node)
{
        const cJSON *taint, *tol;

        cJSON_ArrayForEach(taint, kn_json_path(node, "spec.taints")) {
                bool ok = false;
                if (!kn_streq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(taint, "effect")), "NoExecute"))
                        continue; /* the kubelet cares for NoExecute only */
                cJSON_ArrayForEach(tol, kn_json_path(pod, "spec.tolerations"))
                        if ((ok = tolerates(tol, taint)))
                                break;
                if (!ok)
                        return true;
        }
        return false;
}

/* ---- host ports ---- */

static bool port_conflicts(const cJSON *a, const cJSON *b)
{
        const char *pa = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "protocol"));
        const char *pb = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "protocol"));
        const char *ia = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "hostIP"));
        const char *ib = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "hostIP"));
        bool wild_a = !ia || !*ia || !strcmp(ia, "0.0.0.0"), wild_b = !ib || !*ib || !strcmp(ib, "0.0.0.0");

        if (!kn_streq(pa && *pa ? pa : "TCP", pb && *pb ? pb : "TCP"))
                return false;
        return wild_a || wild_b || !strcmp(ia, ib);
}

static int host_port(const cJSON *p)
{
        const cJSON *hp = cJSON_GetObjectItemCaseSensitive(p, "hostPort");
        return cJSON_IsNumber(hp) && hp->valuedouble > 0 ? (int)hp->valuedouble : 0;
}

/* Calls FN for each container port with a hostPort of POD (init containers too). */
static bool any_port(const cJSON *pod, bool (*fn)(const cJSON *port, void *u), void *u)
{
        static const char *const lists[] = {"spec.initContainers", "spec.containers"};
        const cJSON *c, *p;

        for (size_t i = 0; i < KN_ARRAY_SIZE(lists); i++)
                cJSON_ArrayForEach(c, kn_json_path(pod, lists[i]))
                        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(c, "ports"))
                                if (host_port(p) && fn(p, u))
                                        return true;
        return false;
}

struct port_check { const cJSON *port; };

static bool same_port(const cJSON *p, void *u)
{
        const cJSON *want = ((struct port_check *)u)->port;
        return host_port(p) == host_port(want) && port_conflicts(p, want);
}

struct pods_check { const kubelet_admit_ctx *c; };

static bool port_taken(const cJSON *p, void *u)
{
        const kubelet_admit_ctx *c = ((struct pods_check *)u)->c;
        struct port_check pc = {p};

        for (size_t i = 0; i < c->n_admitted; i++)
                if (any_port(c->admitted[i], same_port, &pc))
                        return true;
        return false;
}

/* ---- the whole check ---- */

bool kubelet_admit(const kubelet_admit_ctx *c, const cJSON *pod, char **ret_reason, char **ret_message)
{
        const char *os = cJSON_GetStringValue(kn_json_path(pod, "spec.os.name"));
        const cJSON *sel = kn_json_path(pod, "spec.nodeSelector"), *it;
        const char *sel_os = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sel, "kubernetes.io/os"));
        const char *node_name = cJSON_GetStringValue(kn_json_path(pod, "spec.nodeName"));
        int64_t cpu = 0, mem = 0, used_cpu = 0, used_mem = 0;
        struct pods_check pc = {c};

        /* the sysctl handler, then the predicate handler's OS checks, as upstream orders them */
        cJSON_ArrayForEach(it, kn_json_path(pod, "spec.securityContext.sysctls")) {
                const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "name"));
                _cleanup_free_ char *norm = kubelet_sysctl_name(name ? name : "");
                bool ok = false;
                for (size_t i = 0; i < KN_ARRAY_SIZE(safe_sysctls) && !ok; i++)
                        ok = !strcmp(norm, safe_sysctls[i]);
                if (ok && !strncmp(norm, "net.", 4) && kubelet_pod_host_network(pod))
                        return refuse(ret_reason, ret_message, "SysctlForbidden",
                                      kn_asprintf("forbidden sysctl: \"%s\" not allowed with host net enabled", norm));
                if (!ok)
                        return refuse(ret_reason, ret_message, "SysctlForbidden",
                                      kn_asprintf("forbidden sysctl: \"%s\" not allowlisted", norm));
        }
        if (sel_os && strcmp(sel_os, "linux"))
                return refuse(ret_reason, ret_message, "PodOSSelectorNodeLabelDoesNotMatch",
                              kn_strdup("Failed to admit pod as the `kubernetes.io/os` label doesn't match node label"));
        if (os && strcmp(os, "linux"))
                return refuse(ret_reason, ret_message, "PodOSNotSupported",
                              kn_strdup("Failed to admit pod as the OS field doesn't match node OS"));

        /* resources: what the pods admitted before request, plus this one, within allocatable */
        if ((int64_t)c->n_admitted + 1 > c->allocatable[RES_PODS])
                return refuse(ret_reason, ret_message, "OutOfpods",
                              kn_asprintf("Node didn't have enough resource: pods, requested: 1, used: %zu, capacity: %lld",
                                          c->n_admitted, (long long)c->allocatable[RES_PODS]));
        kubelet_pod_resource_requests(pod, &cpu, &mem);
        for (size_t i = 0; i < c->n_admitted; i++) {
                int64_t pcpu, pmem;
                kubelet_pod_resource_requests(c->admitted[i], &pcpu, &pmem);
                used_cpu = sat_add(used_cpu, pcpu);
                used_mem = sat_add(used_mem, pmem);
        }
        if (cpu > 0 && cpu > c->allocatable[RES_CPU] - used_cpu)
                return refuse(ret_reason, ret_message, "OutOfcpu",
                              kn_asprintf("Node didn't have enough resource: cpu, requested: %lld, used: %lld, capacity: %lld",
                                          (long long)cpu, (long long)used_cpu, (long long)c->allocatable[RES_CPU]));
        if (mem > 0 && mem > c->allocatable[RES_MEMORY] - used_mem)
                return refuse(ret_reason, ret_message, "OutOfmemory",
                              kn_asprintf("Node didn't have enough resource: memory, requested: %lld, used: %lld, capacity: %lld",
                                          (long long)mem, (long long)used_mem, (long long)c->allocatable[RES_MEMORY]));

        if (c->node && !node_affinity_matches(pod, c->node))
                return refuse_predicate(ret_reason, ret_message, "NodeAffinity",
                                        "node(s) didn't match Pod's node affinity/selector");
        if (node_name && *node_name && c->node_name && strcmp(node_name, c->node_name))
                return refuse_predicate(ret_reason, ret_message, "NodeName",
                                        "node(s) didn't match the requested node name");
        if (any_port(pod, port_taken, &pc))
                return refuse_predicate(ret_reason, ret_message, "NodePorts",
                                        "node(s) didn't have free ports for the requested pod ports");
        if (c->node && untolerated_no_execute(pod, c->node))
                return refuse_predicate(ret_reason, ret_message, "TaintToleration",
                                        "node(s) had taints that the pod didn't tolerate");
        return true;
}
