/* SPDX-License-Identifier: Apache-2.0 */
/* Pure resource arithmetic of the kubelet: QoS class, pod requests and limits, the pod
 * cgroup's values and a container's LinuxContainerResources. The rules are upstream's
 * (pkg/apis/core/v1/helper/qos, component-helpers/resource, pkg/kubelet/cm/helpers_linux.go,
 * pkg/kubelet/qos/policy.go, kuberuntime's container resources); the code is ours. */
#include "cgroups.h"

#include "../core/quantity.h"

const char kubelet_qos_guaranteed[] = "Guaranteed", kubelet_qos_burstable[] = "Burstable",
           kubelet_qos_besteffort[] = "BestEffort";

enum { R_CPU, R_MEM, N_R };
static const char *const res_names[N_R] = {"cpu", "memory"};

/* A resource list of cpu and memory, in thousandths (millicores, millibytes). */
typedef struct rlist {
        int64_t v[N_R];
        bool set[N_R];
} rlist;

#define GUARANTEED_OOM_SCORE_ADJ (-997)
#define BESTEFFORT_OOM_SCORE_ADJ 1000
#define SYSTEM_CRITICAL_PRIORITY 2000000000LL

static int64_t sat_add(int64_t a, int64_t b)
{
        int64_t r;
        if (__builtin_add_overflow(a, b, &r))
                return a > 0 ? INT64_MAX : INT64_MIN;
        return r;
}

static int64_t milli_to_value(int64_t milli)
{
        /* rounded up to a whole number, as upstream's Value() */
        return milli / 1000 + (milli > 0 && milli % 1000 ? 1 : 0);
}

static const cJSON *member(const cJSON *o, const char *name)
{
        return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
}

/* One quantity of a ResourceList object; false when absent or not a quantity. */
static bool quantity(const cJSON *list, const char *name, int64_t *ret_milli)
{
        const cJSON *j = member(list, name);
        kn_quantity q;

        if (kn_quantity_from_json(j, &q) < 0)
                return false;
        *ret_milli = kn_quantity_milli_value(&q);
        return true;
}

/* Requests and limits of one ResourceRequirements; a missing request takes the limit,
 * as the API server's defaulting does. RAW_REQ tells which requests were written. */
static void requirements(const cJSON *resources, rlist *req, rlist *lim, rlist *raw_req)
{
        const cJSON *rq = member(resources, "requests"), *lm = member(resources, "limits");
        rlist dummy;

        if (!raw_req)
                raw_req = &dummy;
        *req = *lim = *raw_req = (rlist){0};
        for (int r = 0; r < N_R; r++) {
                lim->set[r] = quantity(lm, res_names[r], &lim->v[r]);
                raw_req->set[r] = quantity(rq, res_names[r], &raw_req->v[r]);
                req->set[r] = raw_req->set[r];
                req->v[r] = raw_req->v[r];
                if (!req->set[r] && lim->set[r]) {
                        req->set[r] = true;
                        req->v[r] = lim->v[r];
                }
        }
}

static void rl_add(rlist *a, const rlist *b)
{
        for (int r = 0; r < N_R; r++)
                if (b->set[r]) {
                        a->v[r] = a->set[r] ? sat_add(a->v[r], b->v[r]) : b->v[r];
                        a->set[r] = true;
                }
}

static void rl_max(rlist *a, const rlist *b)
{
        for (int r = 0; r < N_R; r++)
                if (b->set[r] && (!a->set[r] || b->v[r] > a->v[r])) {
                        a->v[r] = b->v[r];
                        a->set[r] = true;
                }
}

static bool is_restartable(const cJSON *container)
{
        const cJSON *p = member(container, "restartPolicy");
        return cJSON_IsString(p) && !strcmp(p->valuestring, "Always");
}

static const cJSON *spec_of(const cJSON *pod) { return member(pod, "spec"); }

/* Supported pod-level resources (cpu, memory) in spec.resources.requests / .limits. */
static bool pod_level_set(const cJSON *pod, const char *which)
{
        const cJSON *l = member(member(spec_of(pod), "resources"), which);
        int64_t v;
        return quantity(l, "cpu", &v) || quantity(l, "memory", &v);
}

static bool pod_level_resources_set(const cJSON *pod)
{
        return pod_level_set(pod, "requests") || pod_level_set(pod, "limits");
}

typedef struct declared {
        bool cpu, mem;
} declared;

static void declare(declared *d, const rlist *l)
{
        if (!d)
                return;
        if (!l->set[R_CPU] || l->v[R_CPU] == 0)
                d->cpu = false;
        if (!l->set[R_MEM] || l->v[R_MEM] == 0)
                d->mem = false;
}

/* upstream's aggregation over containers: regular containers and restartable init
 * containers (sidecars) add up; each other init container runs alone next to the
 * sidecars started before it; the pod needs the larger of the two. D, when given, is
 * cleared for a resource some container (or init step) leaves without a limit. */
static void aggregate(const cJSON *pod, bool limits, rlist *ret, declared *d)
{
        const cJSON *spec = spec_of(pod), *c;
        rlist sum = {0}, init_max = {0}, sidecars = {0};

        cJSON_ArrayForEach(c, member(spec, "containers"))
        {
                rlist req, lim;
                requirements(member(c, "resources"), &req, &lim, NULL);
                rl_add(&sum, limits ? &lim : &req);
                declare(d, limits ? &lim : &req);
        }
        cJSON_ArrayForEach(c, member(spec, "initContainers"))
        {
                rlist req, lim, step;
                requirements(member(c, "resources"), &req, &lim, NULL);
                if (is_restartable(c)) {
                        rl_add(&sum, limits ? &lim : &req);
                        rl_add(&sidecars, limits ? &lim : &req);
                        step = sidecars;
                } else {
                        step = limits ? lim : req;
                        rl_add(&step, &sidecars);
                }
                declare(d, &step);
                rl_max(&init_max, &step);
        }
        rl_max(&sum, &init_max);
        *ret = sum;
}

static void overhead(const cJSON *pod, rlist *l, bool only_set)
{
        const cJSON *o = member(spec_of(pod), "overhead");
        for (int r = 0; r < N_R; r++) {
                int64_t v;
                if (!quantity(o, res_names[r], &v) || (only_set && !l->set[r]))
                        continue;
                l->v[r] = l->set[r] ? sat_add(l->v[r], v) : v;
                l->set[r] = true;
        }
}

/* upstream's PodRequests: containers aggregated, pod-level requests win, plus overhead.
 * A pod-level limit without a request is the request when no container asks for that
 * resource (the API's defaulting of pod-level requests). */
static void pod_requests(const cJSON *pod, rlist *ret)
{
        const cJSON *pres = member(spec_of(pod), "resources");
        rlist preq, plim;

        aggregate(pod, false, ret, NULL);
        requirements(pres, &preq, &plim, NULL);
        for (int r = 0; r < N_R; r++) {
                int64_t v;
                bool raw = quantity(member(pres, "requests"), res_names[r], &v);
                if (raw || (preq.set[r] && (!ret->set[r] || ret->v[r] == 0))) {
                        ret->v[r] = preq.v[r];
                        ret->set[r] = true;
                }
        }
        overhead(pod, ret, false);
}

/* upstream's PodLimits: containers aggregated, pod-level limits win, overhead added to the
 * limits that exist. */
static void pod_limits(const cJSON *pod, rlist *ret, declared *d)
{
        const cJSON *plim = member(member(spec_of(pod), "resources"), "limits");

        aggregate(pod, true, ret, d);
        for (int r = 0; r < N_R; r++) {
                int64_t v;
                if (quantity(plim, res_names[r], &v)) {
                        ret->v[r] = v;
                        ret->set[r] = true;
                }
        }
        overhead(pod, ret, true);
}

/* QoS of one ResourceRequirements, as upstream's resourceQOS. */
static const char *resource_qos(const cJSON *resources)
{
        const char *qos = NULL;
        rlist req, lim;

        if (cJSON_GetArraySize(member(resources, "requests")) == 0 &&
            cJSON_GetArraySize(member(resources, "limits")) == 0)
                return KUBELET_QOS_BESTEFFORT;
        requirements(resources, &req, &lim, NULL);
        for (int r = 0; r < N_R; r++) {
                int64_t rv = req.set[r] ? req.v[r] : 0, lv = lim.set[r] ? lim.v[r] : 0;
                bool besteffort = rv == 0 && lv == 0;
                if (rv != lv)
                        return KUBELET_QOS_BURSTABLE;
                if (!qos)
                        qos = besteffort ? KUBELET_QOS_BESTEFFORT : KUBELET_QOS_GUARANTEED;
                else if (besteffort != (qos == KUBELET_QOS_BESTEFFORT))
                        return KUBELET_QOS_BURSTABLE;
        }
        return qos;
}

const char *kubelet_pod_qos(const cJSON *pod)
{
        static const char *const classes[] = {KUBELET_QOS_GUARANTEED, KUBELET_QOS_BURSTABLE,
                                              KUBELET_QOS_BESTEFFORT};
        const cJSON *status_qos = kn_json_path(pod, "status.qosClass");
        const cJSON *spec = spec_of(pod), *c, *pres = member(spec, "resources");
        const char *pod_qos = NULL;
        const char *lists[] = {"initContainers", "containers"};

        if (cJSON_IsString(status_qos))
                for (size_t i = 0; i < KN_ARRAY_SIZE(classes); i++)
                        if (!strcmp(status_qos->valuestring, classes[i]))
                                return classes[i];
        if (cJSON_IsObject(pres))
                return resource_qos(pres);
        for (size_t i = 0; i < KN_ARRAY_SIZE(lists); i++)
                cJSON_ArrayForEach(c, member(spec, lists[i]))
                {
                        const char *q = resource_qos(member(c, "resources"));
                        if (q == KUBELET_QOS_BURSTABLE)
                                return q;
                        if (!pod_qos)
                                pod_qos = q;
                        else if (pod_qos != q)
                                return KUBELET_QOS_BURSTABLE;
                }
        return pod_qos ? pod_qos : KUBELET_QOS_BESTEFFORT;
}

int64_t kubelet_milli_cpu_to_shares(int64_t milli_cpu)
{
        int64_t shares;

        if (milli_cpu <= 0)
                return KUBELET_MIN_SHARES;
        if (milli_cpu > INT64_MAX / KUBELET_SHARES_PER_CPU)
                return KUBELET_MAX_SHARES;
        shares = milli_cpu * KUBELET_SHARES_PER_CPU / 1000;
        if (shares < KUBELET_MIN_SHARES)
                return KUBELET_MIN_SHARES;
        return shares > KUBELET_MAX_SHARES ? KUBELET_MAX_SHARES : shares;
}

int64_t kubelet_milli_cpu_to_quota(int64_t milli_cpu, int64_t period)
{
        __int128 quota;

        if (milli_cpu <= 0)
                return 0;
        quota = (__int128)milli_cpu * period / 1000;
        if (quota < KUBELET_MIN_QUOTA)
                return KUBELET_MIN_QUOTA;
        return quota > INT64_MAX ? INT64_MAX : (int64_t)quota;
}

void kubelet_pod_resource_requests(const cJSON *pod, int64_t *ret_cpu_milli, int64_t *ret_mem_bytes)
{
        rlist req;
        pod_requests(pod, &req);
        *ret_cpu_milli = req.set[R_CPU] && req.v[R_CPU] > 0 ? req.v[R_CPU] : 0;
        *ret_mem_bytes = req.set[R_MEM] && req.v[R_MEM] > 0 ? milli_to_value(req.v[R_MEM]) : 0;
}

int64_t kubelet_pod_cpu_request(const cJSON *pod)
{
        rlist req;
        pod_requests(pod, &req);
        return req.set[R_CPU] && req.v[R_CPU] > 0 ? req.v[R_CPU] : 0;
}

void kubelet_pod_cgroup_config(const cJSON *pod, bool cfs_quota, kubelet_cgroup_config *ret)
{
        const cJSON *plim = member(member(spec_of(pod), "resources"), "limits");
        const char *qos = kubelet_pod_qos(pod);
        declared d = {true, true};
        rlist req, lim;
        int64_t cpu_req, cpu_lim, mem_lim, shares, quota, v;

        pod_requests(pod, &req);
        pod_limits(pod, &lim, &d);
        if (pod_level_resources_set(pod)) {
                if (quantity(plim, "cpu", &v) && v != 0)
                        d.cpu = true;
                if (quantity(plim, "memory", &v) && v != 0)
                        d.mem = true;
        }
        cpu_req = req.set[R_CPU] ? req.v[R_CPU] : 0;
        cpu_lim = lim.set[R_CPU] ? lim.v[R_CPU] : 0;
        mem_lim = lim.set[R_MEM] ? milli_to_value(lim.v[R_MEM]) : 0;
        shares = kubelet_milli_cpu_to_shares(cpu_req);
        quota = cfs_quota ? kubelet_milli_cpu_to_quota(cpu_lim, KUBELET_QUOTA_PERIOD) : -1;

        *ret = (kubelet_cgroup_config){.cpu_shares = shares};
        if (qos == KUBELET_QOS_GUARANTEED) {
                ret->cpu_quota = quota;
                ret->cpu_period = KUBELET_QUOTA_PERIOD;
                ret->memory_limit = mem_lim;
        } else if (qos == KUBELET_QOS_BURSTABLE) {
                if (d.cpu) {
                        ret->cpu_quota = quota;
                        ret->cpu_period = KUBELET_QUOTA_PERIOD;
                }
                if (d.mem)
                        ret->memory_limit = mem_lim;
        } else
                ret->cpu_shares = KUBELET_MIN_SHARES;
}

/* upstream's IsNodeCriticalPod: priorityClassName system-node-critical on a critical pod
 * (static, mirror, or priority >= system-critical). */
static bool node_critical(const cJSON *pod)
{
        const cJSON *pcn = kn_json_path(pod, "spec.priorityClassName");
        const cJSON *prio = kn_json_path(pod, "spec.priority");
        const cJSON *ann = kn_json_path(pod, "metadata.annotations");
        const cJSON *source = member(ann, "kubernetes.io/config.source");

        if (!cJSON_IsString(pcn) || strcmp(pcn->valuestring, "system-node-critical"))
                return false;
        if (cJSON_IsString(source) && strcmp(source->valuestring, "api"))
                return true; /* static */
        if (member(ann, "kubernetes.io/config.mirror"))
                return true;
        return cJSON_IsNumber(prio) && prio->valuedouble >= (double)SYSTEM_CRITICAL_PRIORITY;
}

static bool is_sidecar(const cJSON *pod, const cJSON *container)
{
        const cJSON *name = member(container, "name"), *c;

        if (!is_restartable(container) || !cJSON_IsString(name))
                return false;
        cJSON_ArrayForEach(c, kn_json_path(pod, "spec.initContainers"))
        {
                const cJSON *n = member(c, "name");
                if (cJSON_IsString(n) && !strcmp(n->valuestring, name->valuestring))
                        return true;
        }
        return false;
}

static int64_t container_mem_request(const cJSON *container)
{
        rlist req, lim;
        requirements(member(container, "resources"), &req, &lim, NULL);
        return req.set[R_MEM] && req.v[R_MEM] > 0 ? milli_to_value(req.v[R_MEM]) : 0;
}

/* The pod-level memory request not claimed by containers, shared by all of them. */
static int64_t remaining_mem_per_container(const cJSON *pod)
{
        const cJSON *spec = spec_of(pod);
        int64_t preq, n;
        rlist aggr;

        if (!quantity(member(member(spec, "resources"), "requests"), "memory", &preq) || preq == 0)
                return 0;
        n = cJSON_GetArraySize(member(spec, "containers")) +
            cJSON_GetArraySize(member(spec, "initContainers"));
        if (n == 0)
                return 0;
        aggregate(pod, false, &aggr, NULL);
        return (milli_to_value(preq) - (aggr.set[R_MEM] ? milli_to_value(aggr.v[R_MEM]) : 0)) / n;
}

static int64_t oom_formula(int64_t mem_request, int64_t capacity)
{
        if (capacity <= 0)
                return BESTEFFORT_OOM_SCORE_ADJ;
        return 1000 - (int64_t)((__int128)1000 * mem_request / capacity);
}

static int64_t oom_score_adj(const cJSON *pod, const cJSON *container, int64_t capacity)
{
        const char *qos;
        int64_t req, remaining = 0, adj;
        bool pod_level = pod_level_set(pod, "requests");

        if (node_critical(pod))
                return GUARANTEED_OOM_SCORE_ADJ;
        qos = kubelet_pod_qos(pod);
        if (qos == KUBELET_QOS_GUARANTEED)
                return GUARANTEED_OOM_SCORE_ADJ;
        if (qos == KUBELET_QOS_BESTEFFORT)
                return BESTEFFORT_OOM_SCORE_ADJ;

        req = container_mem_request(container);
        if (pod_level)
                remaining = remaining_mem_per_container(pod);
        adj = oom_formula(sat_add(req, remaining), capacity);
        if (is_sidecar(pod, container)) {
                /* a sidecar gets no higher a score than the pod's smallest regular container */
                const cJSON *c, *cs = kn_json_path(pod, "spec.containers");
                int64_t min_req = 0, min_adj;
                bool first = true;
                cJSON_ArrayForEach(c, cs)
                {
                        int64_t m = container_mem_request(c);
                        if (first || m < min_req)
                                min_req = m;
                        first = false;
                }
                min_adj = oom_formula(sat_add(min_req, remaining), capacity);
                if (adj > min_adj)
                        adj = min_adj;
        }
        if (adj < 1000 + GUARANTEED_OOM_SCORE_ADJ)
                return 1000 + GUARANTEED_OOM_SCORE_ADJ;
        if (adj == BESTEFFORT_OOM_SCORE_ADJ)
                return adj - 1;
        return adj;
}

void kubelet_container_resources_compute(const cJSON *pod, const cJSON *container,
                                         int64_t node_memory_capacity, bool cfs_quota,
                                         kubelet_container_resources *ret)
{
        const cJSON *plim = member(member(spec_of(pod), "resources"), "limits");
        bool pod_level = pod_level_resources_set(pod);
        rlist req, lim, raw;
        int64_t cpu_lim, mem_lim, v;

        requirements(member(container, "resources"), &req, &lim, &raw);
        cpu_lim = lim.set[R_CPU] ? lim.v[R_CPU] : 0;
        mem_lim = lim.set[R_MEM] ? lim.v[R_MEM] : 0;
        /* a container without a limit of its own runs within the pod-level limit */
        if (pod_level && cpu_lim == 0 && quantity(plim, "cpu", &v))
                cpu_lim = v;
        if (pod_level && mem_lim == 0 && quantity(plim, "memory", &v))
                mem_lim = v;

        *ret = (kubelet_container_resources){0};
        ret->cpu_shares = kubelet_milli_cpu_to_shares(raw.set[R_CPU] ? raw.v[R_CPU] : cpu_lim);
        ret->memory_limit = mem_lim > 0 ? milli_to_value(mem_lim) : 0;
        if (cfs_quota) {
                ret->cpu_period = KUBELET_QUOTA_PERIOD;
                ret->cpu_quota = kubelet_milli_cpu_to_quota(cpu_lim, KUBELET_QUOTA_PERIOD);
        }
        ret->oom_score_adj = oom_score_adj(pod, container, node_memory_capacity);
}
