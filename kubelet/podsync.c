/* SPDX-License-Identifier: Apache-2.0 */
/* One reconcile pass of one pod, on its worker thread (upstream's SyncPod,
 * computePodActions and killPod, as facts): compare what the API wants with what CRI
 * reports, then act — sandbox, volumes, init containers in order, containers with
 * restart policy and back-off, probes' verdicts, termination with preStop and grace —
 * and hand the resulting status to the status thread. */
#include <stdio.h>
#include <sys/stat.h>

#include "../runtime/msgjson.h"
#include "admit.h"
#include "podconfig.h"
#include "pods.h"

#define CRASH_BACKOFF_MIN_MS 10000
#define CRASH_BACKOFF_MAX_MS 300000
#define CRASH_BACKOFF_RESET_MS (10 * 60 * 1000) /* a container that ran this long starts afresh */
#define MIN_GRACE_S 2
#define RETRY_MS 2000

/* ---- small CRI helpers ---- */

static int cri_id_call(kubelet *k, const char *method, const ProtobufCMessageDescriptor *d, const char *field,
                       const char *id, long timeout_ms, kn_error *err)
{
        _cleanup_cjson_ cJSON *req = cJSON_CreateObject();

        cJSON_AddStringToObject(req, field, id);
        return cri_call_json(k->cri, false, method, d, req, timeout_ms, NULL, err);
}

static int remove_container(kubelet *k, const char *id)
{
        kn_error err;
        int r = cri_id_call(k, "RemoveContainer", &runtime__v1__remove_container_request__descriptor, "container_id",
                            id, 0, &err);
        if (r < 0 && r != -ENOENT)
                kn_warn("failed to remove container %s: %s", id, err.msg);
        return r;
}

static int stop_sandbox(kubelet *k, const char *id)
{
        kn_error err;
        int r = cri_id_call(k, "StopPodSandbox", &runtime__v1__stop_pod_sandbox_request__descriptor, "pod_sandbox_id",
                            id, 0, &err);
        if (r < 0 && r != -ENOENT)
                kn_warn("failed to stop sandbox %s: %s", id, err.msg);
        return r;
}

static int remove_sandbox(kubelet *k, const char *id)
{
        kn_error err;
        int r = cri_id_call(k, "RemovePodSandbox", &runtime__v1__remove_pod_sandbox_request__descriptor,
                            "pod_sandbox_id", id, 0, &err);
        if (r < 0 && r != -ENOENT)
                kn_warn("failed to remove sandbox %s: %s", id, err.msg);
        return r;
}

static const cJSON *spec_container(const cJSON *pod, const char *name, bool *ret_init)
{
        const cJSON *it;

        cJSON_ArrayForEach(it, kn_json_path(pod, "spec.containers"))
                if (kn_streq(cJSON_GetStringValue(cJSON_GetObjectItem(it, "name")), name)) {
                        if (ret_init)
                                *ret_init = false;
                        return it;
                }
        cJSON_ArrayForEach(it, kn_json_path(pod, "spec.initContainers"))
                if (kn_streq(cJSON_GetStringValue(cJSON_GetObjectItem(it, "name")), name)) {
                        if (ret_init)
                                *ret_init = true;
                        return it;
                }
        cJSON_ArrayForEach(it, kn_json_path(pod, "spec.ephemeralContainers"))
                if (kn_streq(cJSON_GetStringValue(cJSON_GetObjectItem(it, "name")), name)) {
                        if (ret_init)
                                *ret_init = false;
                        return it;
                }
        return NULL;
}

static int64_t pod_grace_s(const cJSON *pod)
{
        const cJSON *g = kn_json_path(pod, "metadata.deletionGracePeriodSeconds");

        if (!cJSON_IsNumber(g))
                g = kn_json_path(pod, "spec.terminationGracePeriodSeconds");
        return cJSON_IsNumber(g) ? (int64_t)g->valuedouble : 30;
}

/* ---- killing ---- */

/* A kill's deadline lives in P (kill_deadline_ms, under the manager's lock) so that a
 * later, shorter grace period (the pod deleted again with a smaller one, or force
 * deleted) cuts the running kill short: a preStop sleep ends, and every container still
 * stopping gets another StopContainer with the time that is left. */

#define MAX_ESCALATIONS 4

typedef struct kill_job {
        kubelet *k;
        kubelet_pod *p;
        const cJSON *pod;      /* may be NULL (orphan) */
        const rt_container *c;
        const char *reason;
        pthread_t thread;
        bool done;             /* under the manager's lock */
        size_t n_esc;
        pthread_t esc[MAX_ESCALATIONS];
        int64_t esc_timeout_s[MAX_ESCALATIONS];
} kill_job;

/* Seconds left until P's kill deadline (at least 0). Called with the lock held. */
static int64_t kill_left_s_locked(const kubelet_pod *p)
{
        int64_t left = (p->kill_deadline_ms - kn_now_ms() + 999) / 1000;
        return left > 0 ? left : 0;
}

static int64_t kill_left_s(kubelet_pods *m, kubelet_pod *p)
{
        int64_t left;
        pthread_mutex_lock(&m->lock);
        left = kill_left_s_locked(p);
        pthread_mutex_unlock(&m->lock);
        return left;
}

static int stop_container(kubelet *k, kubelet_pod *p, const rt_container *c, int64_t timeout_s)
{
        _cleanup_cjson_ cJSON *req = cJSON_CreateObject();
        kn_error err;
        int r;

        cJSON_AddStringToObject(req, "container_id", c->id);
        cJSON_AddNumberToObject(req, "timeout", (double)timeout_s);
        r = cri_call_json(k->cri, false, "StopContainer", &runtime__v1__stop_container_request__descriptor, req,
                          (timeout_s + 120) * 1000, NULL, &err);
        if (r < 0 && r != -ENOENT)
                kn_warn("failed to stop container %s of pod %s/%s: %s", c->name, p->ns, p->name, err.msg);
        return r;
}

static void *kill_container_job(void *arg)
{
        kill_job *j = arg;
        kubelet *k = j->k;
        kubelet_pods *m = k->pods;
        const cJSON *spec = j->pod ? spec_container(j->pod, j->c->name, NULL) : NULL;
        const cJSON *pre = spec ? kn_json_path(spec, "lifecycle.preStop") : NULL;
        int64_t left = kill_left_s(m, j->p);
        kn_error err;
        int r;

        if (j->pod)
                kubelet_event(m, j->pod, "Normal", "Killing", "Stopping container %s%s%s", j->c->name,
                              j->reason ? ": " : "", j->reason ? j->reason : "");
        if (pre && left > 0) {
                r = kubelet_run_handler(k, j->p, j->pod, j->p->pod_ip, spec, j->c->id, pre, left, &err);
                if (r < 0 && j->pod)
                        kubelet_event(m, j->pod, "Warning", "FailedPreStopHook", "PreStopHook failed: %s", err.msg);
                left = kill_left_s(m, j->p);
                if (left < MIN_GRACE_S)
                        left = MIN_GRACE_S; /* upstream leaves at least 2 s after a preStop hook */
        }
        stop_container(k, j->p, j->c, left);
        kubelet_probes_container_stopped(m->probes, j->p->uid, j->c->name);
        pthread_mutex_lock(&m->lock);
        j->done = true;
        pthread_cond_broadcast(&m->kill_cond);
        pthread_mutex_unlock(&m->lock);
        return NULL;
}

struct escalation {
        kubelet *k;
        kubelet_pod *p;
        const rt_container *c;
        int64_t timeout_s;
};

static void *escalate_job(void *arg)
{
        struct escalation *e = arg;
        kn_v(2, "pod %s/%s: grace period shortened, stopping container %s within %llds", e->p->ns, e->p->name,
             e->c->name, (long long)e->timeout_s);
        stop_container(e->k, e->p, e->c, e->timeout_s);
        free(e);
        return NULL;
}

/* Wait for the N jobs, and give the containers still stopping the shorter time that is
 * left whenever the deadline moves closer. */
static void wait_kill_jobs(kubelet *k, kubelet_pod *p, kill_job *jobs, size_t n)
{
        kubelet_pods *m = k->pods;
        int64_t seen;

        pthread_mutex_lock(&m->lock);
        seen = p->kill_deadline_ms;
        for (;;) {
                size_t busy = 0;
                bool shorter = p->kill_deadline_ms < seen;
                int64_t left_s = kill_left_s_locked(p);
                for (size_t i = 0; i < n; i++) {
                        struct escalation *e;
                        if (jobs[i].done)
                                continue;
                        busy++;
                        if (!shorter || jobs[i].n_esc == MAX_ESCALATIONS)
                                continue;
                        e = kn_malloc(sizeof(*e));
                        *e = (struct escalation){k, p, jobs[i].c, left_s};
                        if (pthread_create(&jobs[i].esc[jobs[i].n_esc], NULL, escalate_job, e) == 0)
                                jobs[i].n_esc++;
                        else
                                free(e);
                }
                seen = p->kill_deadline_ms;
                if (!busy)
                        break;
                pthread_cond_wait(&m->kill_cond, &m->lock);
        }
        pthread_mutex_unlock(&m->lock);
        for (size_t i = 0; i < n; i++) {
                pthread_join(jobs[i].thread, NULL);
                for (size_t e = 0; e < jobs[i].n_esc; e++)
                        pthread_join(jobs[i].esc[e], NULL);
        }
}

static void kill_begin(kubelet_pods *m, kubelet_pod *p, int64_t grace_s)
{
        int64_t deadline = kn_now_ms() + (grace_s > 0 ? grace_s : 0) * 1000;
        pthread_mutex_lock(&m->lock);
        /* a kill already cut shorter (a force delete seen meanwhile) keeps its deadline */
        if (!p->kill_deadline_ms || deadline < p->kill_deadline_ms)
                p->kill_deadline_ms = deadline;
        pthread_mutex_unlock(&m->lock);
}

static void kill_end(kubelet_pods *m, kubelet_pod *p)
{
        pthread_mutex_lock(&m->lock);
        p->kill_deadline_ms = 0;
        pthread_mutex_unlock(&m->lock);
}

/* Stop running containers in parallel (regular ones, then sidecars), then the sandboxes. */
static void kill_pod(kubelet *k, kubelet_pod *p, const cJSON *pod, const rt_pod *rp, int64_t grace_s,
                     bool stop_sandboxes)
{
        kill_begin(k->pods, p, grace_s);
        for (int pass = 0; pass < 2; pass++) {
                kill_job *jobs = kn_calloc(rp->n_c + 1, sizeof(kill_job));
                size_t n = 0;
                for (size_t i = 0; i < rp->n_c; i++) {
                        const rt_container *c = &rp->c[i];
                        bool init = false;
                        const cJSON *sc = pod ? spec_container(pod, c->name, &init) : NULL;
                        bool sidecar = sc && init &&
                                       kn_streq(cJSON_GetStringValue(cJSON_GetObjectItem(sc, "restartPolicy")), "Always");
                        if (c->state != RT_RUNNING && c->state != RT_CREATED && c->state != RT_UNKNOWN)
                                continue;
                        if ((pass == 0) == sidecar)
                                continue;
                        jobs[n] = (kill_job){.k = k, .p = p, .pod = pod, .c = c};
                        if (pthread_create(&jobs[n].thread, NULL, kill_container_job, &jobs[n]) != 0)
                                kill_container_job(&jobs[n]); /* done before the wait; its slot is reused */
                        else
                                n++;
                }
                wait_kill_jobs(k, p, jobs, n);
                free(jobs);
        }
        kill_end(k->pods, p);
        if (stop_sandboxes)
                for (size_t i = 0; i < rp->n_sb; i++)
                        if (rp->sb[i].ready)
                                stop_sandbox(k, rp->sb[i].id);
}

static void kill_one(kubelet *k, kubelet_pod *p, const cJSON *pod, const rt_container *c, int64_t grace_s,
                     const char *reason)
{
        kill_job j = {.k = k, .p = p, .pod = pod, .c = c, .reason = reason};
        kill_begin(k->pods, p, grace_s);
        kill_container_job(&j);
        kill_end(k->pods, p);
}

/* Remove everything of a pod from the runtime and the node (it is gone from the API,
 * or its deletion is complete). */
static void cleanup_pod(kubelet *k, kubelet_pod *p, const rt_pod *rp)
{
        kn_error err;
        _cleanup_free_ char *dir = kubelet_pod_dir(k, p->uid);
        _cleanup_free_ char *logs = kn_asprintf("%s/%s_%s_%s", k->cfg.pod_logs_dir, p->ns, p->name, p->uid);

        for (size_t i = 0; i < rp->n_c; i++)
                remove_container(k, rp->c[i].id);
        for (size_t i = 0; i < rp->n_sb; i++)
                remove_sandbox(k, rp->sb[i].id);
        kubelet_probes_pod_removed(k->pods->probes, p->uid);
        if (kubelet_volumes_teardown(k->pods->volumes, p->uid, &err) < 0)
                kn_warn("failed to tear down volumes of pod %s/%s: %s", p->ns, p->name, err.msg);
        if (k->pods->cgroups && kubelet_cgroups_pod_remove(k->pods->cgroups, p->uid, &err) < 0)
                kn_v(2, "failed to remove the cgroup of pod %s/%s: %s", p->ns, p->name, err.msg);
        kn_rm_rf(dir);
        kn_rm_rf(logs);
}

/* ---- the sandbox ---- */

/* A pod on the host network has the node's addresses. */
static void host_network_ips(kubelet *k, kubelet_pod *p, const cJSON *pod)
{
        if (kubelet_pod_host_network(pod))
                kubelet_node_ips(k, p->pod_ip, p->pod_ip6);
}

static int ensure_sandbox(kubelet *k, kubelet_pod *p, const cJSON *pod, rt_pod *rp, kn_error *err)
{
        _cleanup_free_ char *parent = NULL, *logdir = NULL, *pod_dir = NULL, *hosts = NULL;
        _cleanup_cjson_ cJSON *req = cJSON_CreateObject(), *resp = NULL;
        uint32_t attempt = rp->n_sb ? rp->sb[0].attempt + 1 : 0;
        const char *handler = kubelet_pod_str(pod, "spec.runtimeClassName");
        int r;

        if (rp->n_sb && rp->sb[0].ready) {
                /* adopted or ours: keep a config for CreateContainer */
                if (!p->sandbox_config || !kn_streq(p->sandbox_id, rp->sb[0].id)) {
                        r = k->pods->cgroups ? kubelet_cgroups_pod_ensure(k->pods->cgroups, pod, &parent, err) : 0;
                        cJSON_Delete(p->sandbox_config);
                        p->sandbox_config = kubelet_sandbox_config(k, pod, rp->sb[0].attempt, r >= 0 ? parent : NULL);
                        free(p->sandbox_id);
                        p->sandbox_id = kn_strdup(rp->sb[0].id);
                }
                snprintf(p->pod_ip, sizeof(p->pod_ip), "%s", rp->sb[0].ip);
                snprintf(p->pod_ip6, sizeof(p->pod_ip6), "%s", rp->sb[0].ip6);
                host_network_ips(k, p, pod);
                return 0;
        }
        /* a new sandbox: whatever ran in the old one is stopped first */
        if (rp->n_sb)
                kubelet_event(k->pods, pod, "Normal", "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.");
        kill_pod(k, p, pod, rp, 0, true);
        r = k->pods->cgroups ? kubelet_cgroups_pod_ensure(k->pods->cgroups, pod, &parent, err) : 0;
        if (r < 0)
                return r;
        logdir = kubelet_pod_log_dir(k, pod);
        kn_mkdir_p(logdir, 0755);
        pod_dir = kubelet_pod_dir(k, p->uid);
        kn_mkdir_p(pod_dir, 0750);
        cJSON_Delete(p->sandbox_config);
        p->sandbox_config = kubelet_sandbox_config(k, pod, attempt, parent);
        cJSON_AddItemToObject(req, "config", cJSON_Duplicate(p->sandbox_config, true));
        if (handler && *handler)
                cJSON_AddStringToObject(req, "runtime_handler", handler);
        r = cri_call_json(k->cri, false, "RunPodSandbox", &runtime__v1__run_pod_sandbox_request__descriptor, req, 0,
                          &resp, err);
        if (r < 0) {
                kubelet_event(k->pods, pod, "Warning", "FailedCreatePodSandBox", "Failed to create pod sandbox: %s",
                              err->msg);
                return r;
        }
        free(p->sandbox_id);
        p->sandbox_id = kn_strdup(cJSON_GetStringValue(cJSON_GetObjectItem(resp, "pod_sandbox_id")) ?: "");
        kn_v(2, "pod %s/%s: sandbox %.12s created (attempt %u)", p->ns, p->name, p->sandbox_id, attempt);
        /* stop older sandboxes; read the new one's IP */
        kubelet_runtime_pod_free(rp);
        r = kubelet_runtime_pod(k, p->uid, rp);
        if (r < 0)
                return kn_error_set(err, r, "failed to read the new sandbox's state");
        for (size_t i = 1; i < rp->n_sb; i++)
                if (rp->sb[i].ready)
                        stop_sandbox(k, rp->sb[i].id);
        snprintf(p->pod_ip, sizeof(p->pod_ip), "%s", rp->n_sb ? rp->sb[0].ip : "");
        snprintf(p->pod_ip6, sizeof(p->pod_ip6), "%s", rp->n_sb ? rp->sb[0].ip6 : "");
        host_network_ips(k, p, pod);
        return 0;
}

/* ---- containers ---- */

static const rt_container *current(const kubelet_pod *p, const rt_pod *rp, const char *name)
{
        for (size_t i = 0; i < rp->n_c; i++)
                if (!strcmp(rp->c[i].name, name) && kn_streq(rp->c[i].sandbox_id, p->sandbox_id))
                        return &rp->c[i];
        return NULL;
}

static int next_restart_count(const rt_pod *rp, const char *name)
{
        int n = -1;

        for (size_t i = 0; i < rp->n_c; i++)
                if (!strcmp(rp->c[i].name, name) && rp->c[i].restart_count > n)
                        n = rp->c[i].restart_count;
        return n + 1;
}

static void resources_json(kubelet *k, const cJSON *pod, const cJSON *container, cJSON **ret)
{
        kubelet_container_resources cr;
        kubelet_node_resources nr;
        cJSON *r = cJSON_CreateObject();

        kubelet_node_resources_get(k, &nr);
        kubelet_container_resources_compute(pod, container, nr.capacity[RES_MEMORY], k->cfg.cpu_cfs_quota, &cr);
        cJSON_AddNumberToObject(r, "cpu_shares", (double)cr.cpu_shares);
        if (cr.cpu_quota > 0) {
                cJSON_AddNumberToObject(r, "cpu_quota", (double)cr.cpu_quota);
                cJSON_AddNumberToObject(r, "cpu_period", (double)cr.cpu_period);
        }
        if (cr.memory_limit > 0)
                cJSON_AddNumberToObject(r, "memory_limit_in_bytes", (double)cr.memory_limit);
        cJSON_AddNumberToObject(r, "oom_score_adj", (double)cr.oom_score_adj);
        *ret = r;
}

/* Pull, create, start, postStart. Sets the container's waiting reason on failure. */
static int start_container(kubelet *k, kubelet_pod *p, const cJSON *pod, const cJSON *spec, const rt_pod *rp,
                           bool is_init)
{
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(spec, "name"));
        cstate *cs = kubelet_cstate(p, name);
        _cleanup_free_ char *ref = NULL, *user = NULL, *pod_dir = kubelet_pod_dir(k, p->uid);
        _cleanup_cjson_ cJSON *config = NULL, *req = NULL, *resp = NULL, *res = NULL;
        kubelet_mount *mounts = NULL;
        size_t n_mounts = 0;
        const char *reason = NULL, *id;
        int64_t uid = -1;
        kn_error err;
        int r;

        r = kubelet_ensure_image(k, p, pod, spec, cs, &ref, &uid, &user, &reason, &err);
        if (r < 0) {
                kubelet_cstate_waiting(cs, reason ? reason : "ErrImagePull", err.msg);
                return r;
        }
        r = kubelet_volumes_mounts(k->pods->volumes, pod, spec, &mounts, &n_mounts, &err);
        if (r < 0) {
                kubelet_cstate_waiting(cs, "CreateContainerConfigError", err.msg);
                kubelet_event(k->pods, pod, "Warning", "Failed", "Error: %s", err.msg);
                return r;
        }
        resources_json(k, pod, spec, &res);
        {
                kubelet_start_info si = {
                        .image_ref = ref,
                        .restart_count = (uint32_t)next_restart_count(rp, name),
                        .sandbox_config = p->sandbox_config,
                        .pod_ip = p->pod_ip,
                        .pod_dir = pod_dir,
                        .mounts = mounts,
                        .n_mounts = n_mounts,
                        .image_uid = uid,
                        .image_user = user,
                        .resources = res,
                };
                const char *target = cJSON_GetStringValue(cJSON_GetObjectItem(spec, "targetContainerName"));
                const rt_container *tc = target ? current(p, rp, target) : NULL;
                if (tc && tc->state == RT_RUNNING)
                        si.target_id = tc->id;
                r = kubelet_container_config(k, pod, spec, &si, &config, &err);
        }
        kubelet_mounts_free(mounts, n_mounts);
        if (r < 0) {
                kubelet_cstate_waiting(cs, "CreateContainerConfigError", err.msg);
                kubelet_event(k->pods, pod, "Warning", "Failed", "Error: %s", err.msg);
                return r;
        }
        req = cJSON_CreateObject();
        cJSON_AddStringToObject(req, "pod_sandbox_id", p->sandbox_id);
        cJSON_AddItemToObject(req, "config", TAKE_PTR(config));
        cJSON_AddItemToObject(req, "sandbox_config", cJSON_Duplicate(p->sandbox_config, true));
        r = cri_call_json(k->cri, false, "CreateContainer", &runtime__v1__create_container_request__descriptor, req, 0,
                          &resp, &err);
        if (r < 0) {
                kubelet_cstate_waiting(cs, "CreateContainerError", err.msg);
                kubelet_event(k->pods, pod, "Warning", "Failed", "Error: %s", err.msg);
                return r;
        }
        id = cJSON_GetStringValue(cJSON_GetObjectItem(resp, "container_id"));
        kubelet_event(k->pods, pod, "Normal", "Created", "Created container: %s", name);
        r = cri_id_call(k, "StartContainer", &runtime__v1__start_container_request__descriptor, "container_id", id, 0,
                        &err);
        if (r < 0) {
                kubelet_cstate_waiting(cs, "RunContainerError", err.msg);
                kubelet_event(k->pods, pod, "Warning", "Failed", "Error: %s", err.msg);
                remove_container(k, id);
                return r;
        }
        kubelet_event(k->pods, pod, "Normal", "Started", "Started container %s", name);
        kubelet_cstate_waiting(cs, NULL, NULL);
        free(cs->started_id);
        cs->started_id = kn_strdup(id);
        if (kn_json_path(spec, "lifecycle.postStart")) {
                r = kubelet_run_handler(k, p, pod, p->pod_ip, spec, id, kn_json_path(spec, "lifecycle.postStart"),
                                        pod_grace_s(pod), &err);
                if (r < 0) {
                        rt_container c = {.id = (char *)id, .name = (char *)name};
                        kubelet_event(k->pods, pod, "Warning", "FailedPostStartHook", "PostStartHook failed: %s", err.msg);
                        kill_one(k, p, pod, &c, pod_grace_s(pod), "FailedPostStartHook");
                        return r;
                }
        }
        kubelet_probes_container_started(k->pods->probes, pod, spec, id, p->pod_ip, kn_wall_ms());
        (void)is_init;
        return 0;
}

/* Restart an exited container unless its back-off says wait; returns ms to wait, 0
 * when started (or failed: the caller retries later), -1 when nothing to do. */
static int64_t restart_with_backoff(kubelet *k, kubelet_pod *p, const cJSON *pod, const cJSON *spec,
                                    const rt_pod *rp, const rt_container *cur, bool is_init)
{
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(spec, "name"));
        cstate *cs = kubelet_cstate(p, name);
        int64_t now = kn_wall_ms(), finished = cur ? cur->finished_ns / 1000000 : 0;

        if (cur && cur->finished_ns && cur->started_ns &&
            (cur->finished_ns - cur->started_ns) / 1000000 > CRASH_BACKOFF_RESET_MS)
                cs->backoff_ms = 0;
        if (cur && !cs->image_backoff && cs->backoff_ms > 0 && now < finished + cs->backoff_ms) {
                char msg[512];
                char d[32];
                kn_format_duration(cs->backoff_ms, d, sizeof(d));
                snprintf(msg, sizeof(msg), "back-off %s restarting failed container=%s pod=%s_%s(%s)", d, name, p->name,
                         p->ns, p->uid);
                if (!kn_streq(cs->waiting_reason, "CrashLoopBackOff"))
                        kubelet_event(k->pods, pod, "Warning", "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)",
                                      name, p->name, p->ns, p->uid);
                kubelet_cstate_waiting(cs, "CrashLoopBackOff", msg);
                return finished + cs->backoff_ms - now;
        }
        if (cur && !cs->image_backoff) {
                cs->backoff_ms = cs->backoff_ms ? cs->backoff_ms * 2 : CRASH_BACKOFF_MIN_MS;
                if (cs->backoff_ms > CRASH_BACKOFF_MAX_MS)
                        cs->backoff_ms = CRASH_BACKOFF_MAX_MS;
        }
        if (start_container(k, p, pod, spec, rp, is_init) < 0) {
                /* in image back-off: come back soon to show ImagePullBackOff, then when it ends */
                if (cs->image_backoff && kn_streq(cs->waiting_reason, "ImagePullBackOff"))
                        return cs->backoff_until - kn_now_ms();
                return RETRY_MS;
        }
        return 0;
}

static bool should_restart(const cJSON *pod, const rt_container *c)
{
        const char *policy = kubelet_pod_str(pod, "spec.restartPolicy");

        if (!policy || !strcmp(policy, "Always"))
                return true;
        if (!strcmp(policy, "OnFailure"))
                return c->exit_code != 0;
        return false;
}

static int64_t min_delay(int64_t a, int64_t b)
{
        if (a < 0)
                return b;
        if (b < 0)
                return a;
        return a < b ? a : b;
}

/* A running container: restart it when a liveness or startup probe failed or its spec
 * changed; (re)attach probes to an adopted one. */
static void check_running(kubelet *k, kubelet_pod *p, const cJSON *pod, const cJSON *spec, const rt_container *cur,
                          int64_t *delay)
{
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(spec, "name"));
        probe_result live = kubelet_probes_get(k->pods->probes, p->uid, name, PROBE_LIVENESS);
        probe_result startup = kubelet_probes_get(k->pods->probes, p->uid, name, PROBE_STARTUP);
        char hash[17];

        kubelet_container_hash(spec, hash);
        if (live == PROBE_FAILURE || startup == PROBE_FAILURE) {
                probe_kind kind = live == PROBE_FAILURE ? PROBE_LIVENESS : PROBE_STARTUP;
                int64_t grace = pod_grace_s(pod);
                kubelet_probes_termination_grace_period(k->pods->probes, p->uid, name, kind, &grace);
                kubelet_event(k->pods, pod, "Normal", "Killing", "Container %s failed %s probe, will be restarted", name,
                              kind == PROBE_LIVENESS ? "liveness" : "startup");
                kill_one(k, p, pod, cur, grace, NULL);
                *delay = min_delay(*delay, 0);
        } else if (*cur->hash && strcmp(cur->hash, hash)) {
                kill_one(k, p, pod, cur, pod_grace_s(pod), "Container definition changed");
                *delay = min_delay(*delay, 0);
        } else if (!kn_streq(kubelet_cstate(p, name)->started_id, cur->id)) {
                /* adopted after a restart of knode: probes for it */
                cstate *cs = kubelet_cstate(p, name);
                free(cs->started_id);
                cs->started_id = kn_strdup(cur->id);
                kubelet_probes_container_started(k->pods->probes, pod, spec, cur->id, p->pod_ip, cur->started_ns / 1000000);
        }
}

/* Init containers in order; returns true when all are done (sidecars running). */
static bool sync_init(kubelet *k, kubelet_pod *p, const cJSON *pod, const rt_pod *rp, int64_t *delay)
{
        const cJSON *it;
        const char *policy = kubelet_pod_str(pod, "spec.restartPolicy");

        cJSON_ArrayForEach(it, kn_json_path(pod, "spec.initContainers")) {
                const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(it, "name"));
                bool sidecar = kn_streq(cJSON_GetStringValue(cJSON_GetObjectItem(it, "restartPolicy")), "Always");
                const rt_container *cur = current(p, rp, name);
                if (!name)
                        continue;
                if (cur && cur->state == RT_RUNNING) {
                        if (sidecar) {
                                check_running(k, p, pod, it, cur, delay);
                                if (kubelet_probes_started(k->pods->probes, p->uid, name))
                                        continue;
                        }
                        return false; /* wait for it to finish (or a sidecar to start) */
                }
                if (cur && cur->state == RT_EXITED && cur->exit_code == 0 && !sidecar)
                        continue;
                if (cur && cur->state == RT_EXITED && !sidecar && kn_streq(policy, "Never"))
                        return false; /* failed for good: the pod fails */
                if (cur && cur->state != RT_EXITED && cur->state != RT_RUNNING)
                        remove_container(k, cur->id); /* created but never started */
                *delay = min_delay(*delay, restart_with_backoff(k, p, pod, it, rp, cur && cur->state == RT_EXITED ? cur : NULL, true));
                return false;
        }
        return true;
}

static void sync_containers(kubelet *k, kubelet_pod *p, const cJSON *pod, const rt_pod *rp, int64_t *delay)
{
        const cJSON *it;

        cJSON_ArrayForEach(it, kn_json_path(pod, "spec.containers")) {
                const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(it, "name"));
                const rt_container *cur = current(p, rp, name);
                if (!name)
                        continue;
                if (cur && cur->state == RT_RUNNING) {
                        check_running(k, p, pod, it, cur, delay);
                        continue;
                }
                if (cur && cur->state == RT_EXITED && !should_restart(pod, cur))
                        continue;
                if (cur && cur->state != RT_EXITED)
                        remove_container(k, cur->id);
                *delay = min_delay(*delay, restart_with_backoff(k, p, pod, it, rp, cur && cur->state == RT_EXITED ? cur : NULL, false));
        }
}

/* Ephemeral containers (kubectl debug) run once each, never restarted; one that names a
 * target shares that container's process namespace. */
static void sync_ephemeral(kubelet *k, kubelet_pod *p, const cJSON *pod, const rt_pod *rp, int64_t *delay)
{
        const cJSON *it;

        cJSON_ArrayForEach(it, kn_json_path(pod, "spec.ephemeralContainers")) {
                const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(it, "name"));
                if (!name || current(p, rp, name))
                        continue;
                if (start_container(k, p, pod, it, rp, false) < 0)
                        *delay = min_delay(*delay, RETRY_MS);
        }
}

/* ms until the pod's activeDeadlineSeconds passes (0: it has), or -1 when it has none. */
static int64_t deadline_left_ms(const kubelet_pod *p, const cJSON *pod)
{
        const cJSON *ads = kn_json_path(pod, "spec.activeDeadlineSeconds");
        const char *st = kubelet_pod_str(pod, "status.startTime");
        int64_t start = p->start_time_ms, end;

        if (!cJSON_IsNumber(ads))
                return -1;
        if (st)
                kn_parse_time(st, &start);
        end = start + (int64_t)ads->valuedouble * 1000;
        return kn_wall_ms() >= end ? 0 : end - kn_wall_ms();
}

/* ---- admission ---- */

static bool pod_active_locked(const kubelet_pod *p)
{
        const char *phase = p->status ? cJSON_GetStringValue(cJSON_GetObjectItem(p->status, "phase")) : NULL;
        if (!phase && p->pod)
                phase = kubelet_pod_str(p->pod, "status.phase");
        return p->admitted && !p->rejected_reason && !p->gone && p->pod && !p->deadline_exceeded &&
               !kn_streq(phase, "Succeeded") && !kn_streq(phase, "Failed");
}

/* Admit P, one pod at a time (under the manager's lock, so two pods never both take the
 * last of a resource), against the node and the pods admitted before it that still run. */
static bool admit(kubelet *k, kubelet_pod *p, const cJSON *pod)
{
        kubelet_pods *m = k->pods;
        _cleanup_cjson_ cJSON *node = kn_informer_get(k->node_informer, NULL, k->node_name);
        _cleanup_free_ const cJSON **admitted = NULL;
        kubelet_node_resources nr;
        kubelet_admit_ctx c = {.node_name = k->node_name, .node = node};
        size_t n = 0, cap = 0;
        bool ok;

        kubelet_node_resources_get(k, &nr);
        memcpy(c.allocatable, nr.allocatable, sizeof(c.allocatable));
        pthread_mutex_lock(&m->lock);
        for (kubelet_pod *o = m->pods; o; o = o->next) {
                if (o == p || !pod_active_locked(o))
                        continue;
                if (n == cap)
                        admitted = kn_realloc(admitted, (cap = cap ? cap * 2 : 16) * sizeof(*admitted));
                admitted[n++] = o->pod;
        }
        c.admitted = admitted;
        c.n_admitted = n;
        ok = kubelet_admit(&c, pod, &p->rejected_reason, &p->rejected_message);
        p->admitted = ok;
        pthread_mutex_unlock(&m->lock);
        return ok;
}

/* ---- the pass ---- */

static bool anything_running(const rt_pod *rp)
{
        for (size_t i = 0; i < rp->n_c; i++)
                if (rp->c[i].state == RT_RUNNING || rp->c[i].state == RT_CREATED)
                        return true;
        for (size_t i = 0; i < rp->n_sb; i++)
                if (rp->sb[i].ready)
                        return true;
        return false;
}

int64_t kubelet_pod_sync(kubelet *k, kubelet_pod *p)
{
        kubelet_pods *m = k->pods;
        _cleanup_cjson_ cJSON *pod = NULL;
        rt_pod rp = {0};
        bool gone, deleting, terminal;
        const char *phase;
        int64_t delay = -1;
        kn_error err;
        int r;

        pthread_mutex_lock(&m->lock);
        pod = p->pod ? cJSON_Duplicate(p->pod, true) : NULL;
        if (pod && p->is_static && p->status) /* no API server echoes a static pod's status */
                cJSON_AddItemToObject(pod, "status", cJSON_Duplicate(p->status, true));
        gone = p->gone || !pod;
        pthread_mutex_unlock(&m->lock);

        r = kubelet_runtime_pod(k, p->uid, &rp);
        if (r < 0)
                return RETRY_MS;

        if (gone) {
                /* gone from the API (or an orphan found in the runtime): stop and remove all */
                kill_pod(k, p, pod, &rp, pod ? pod_grace_s(pod) : MIN_GRACE_S, true);
                cleanup_pod(k, p, &rp);
                kubelet_runtime_pod_free(&rp);
                pthread_mutex_lock(&m->lock);
                if (p->gone) /* not re-added meanwhile */
                        p->finished = true;
                pthread_mutex_unlock(&m->lock);
                kn_v(2, "pod %s/%s (%s) cleaned up", p->ns, p->name, p->uid);
                return -1;
        }

        deleting = kn_json_path(pod, "metadata.deletionTimestamp") != NULL;
        /* a pod this node never ran is admitted first; a refused one fails for good */
        if (!p->admitted && !p->rejected_reason) {
                if (rp.n_sb || rp.n_c || kubelet_pod_str(pod, "status.startTime")) {
                        pthread_mutex_lock(&m->lock);
                        p->admitted = true; /* it ran here before */
                        pthread_mutex_unlock(&m->lock);
                } else if (!admit(k, p, pod)) {
                        kn_warn("pod %s/%s rejected: %s: %s", p->ns, p->name, p->rejected_reason, p->rejected_message);
                        kubelet_event(m, pod, "Warning", p->rejected_reason, "%s", p->rejected_message);
                }
        }
        if (p->rejected_reason) {
                kubelet_pod_set_status(m, p, kubelet_pod_status(k, p, pod, &rp));
                if (deleting) {
                        pthread_mutex_lock(&m->lock);
                        p->want_delete = true;
                        m->status_kick = true;
                        pthread_cond_signal(&m->status_cond);
                        pthread_mutex_unlock(&m->lock);
                }
                kubelet_runtime_pod_free(&rp);
                return -1;
        }
        phase = kubelet_pod_str(pod, "status.phase");
        terminal = kn_streq(phase, "Succeeded") || kn_streq(phase, "Failed") || p->deadline_exceeded;
        if (!deleting && !terminal) {
                int64_t left = deadline_left_ms(p, pod);
                if (left == 0) {
                        p->deadline_exceeded = terminal = true;
                        kubelet_event(m, pod, "Normal", "DeadlineExceeded",
                                      "Pod was active on the node longer than the specified deadline");
                } else if (left > 0) {
                        delay = left;
                }
        }
        if (deleting && p->killed) {
                /* stopped and cleaned up: the status posted then stays (a finalizer may keep
                 * the pod around); only the final delete is left */
                kubelet_runtime_pod_free(&rp);
                return -1;
        }
        if (deleting || terminal) {
                if (anything_running(&rp)) {
                        kill_pod(k, p, pod, &rp, pod_grace_s(pod), true);
                        kubelet_runtime_pod_free(&rp);
                        if (kubelet_runtime_pod(k, p->uid, &rp) < 0)
                                return RETRY_MS;
                }
                kubelet_pod_set_status(m, p, kubelet_pod_status(k, p, pod, &rp));
                if (deleting && !anything_running(&rp)) {
                        cleanup_pod(k, p, &rp);
                        p->killed = true;
                        pthread_mutex_lock(&m->lock);
                        p->want_delete = true;
                        m->status_kick = true;
                        pthread_cond_signal(&m->status_cond);
                        pthread_mutex_unlock(&m->lock);
                }
                delay = anything_running(&rp) ? RETRY_MS : -1;
                kubelet_runtime_pod_free(&rp);
                return delay;
        }

        /* volumes first: a pod whose volumes fail stays ContainerCreating */
        r = kubelet_volumes_setup(m->volumes, pod, &err);
        if (r < 0) {
                if (!kn_streq(p->volume_error, err.msg))
                        kubelet_event(m, pod, "Warning", "FailedMount", "%s", err.msg);
                free(p->volume_error);
                p->volume_error = kn_strdup(err.msg);
                kubelet_pod_set_status(m, p, kubelet_pod_status(k, p, pod, &rp));
                kubelet_runtime_pod_free(&rp);
                return RETRY_MS;
        }
        free(TAKE_PTR(p->volume_error));

        /* a pod that ran to completion under restartPolicy Never keeps its dead sandbox */
        if (!(rp.n_sb && !rp.sb[0].ready && rp.n_c && kn_streq(kubelet_pod_str(pod, "spec.restartPolicy"), "Never"))) {
                r = ensure_sandbox(k, p, pod, &rp, &err);
                if (r < 0) {
                        kn_warn("failed to create the sandbox of pod %s/%s: %s", p->ns, p->name, err.msg);
                        kubelet_pod_set_status(m, p, kubelet_pod_status(k, p, pod, &rp));
                        kubelet_runtime_pod_free(&rp);
                        return RETRY_MS;
                }
                if (!kubelet_pod_host_network(pod) || cJSON_GetArraySize(kn_json_path(pod, "spec.hostAliases")) > 0) {
                        _cleanup_free_ char *dir = kubelet_pod_dir(k, p->uid);
                        _cleanup_free_ char *hosts = kn_asprintf("%s/etc-hosts", dir);
                        kn_mkdir_p(dir, 0750);
                        if (kubelet_write_hosts(k, pod, p->pod_ip, hosts, &err) < 0)
                                kn_warn("pod %s/%s: %s", p->ns, p->name, err.msg);
                }
                if (sync_init(k, p, pod, &rp, &delay)) {
                        sync_containers(k, p, pod, &rp, &delay);
                        sync_ephemeral(k, p, pod, &rp, &delay);
                }
                kubelet_runtime_pod_free(&rp);
                if (kubelet_runtime_pod(k, p->uid, &rp) < 0)
                        return RETRY_MS;
        }
        kubelet_pod_set_status(m, p, kubelet_pod_status(k, p, pod, &rp));
        /* a completed pod's sandbox is stopped to give back its IP */
        {
                const char *ph = cJSON_GetStringValue(cJSON_GetObjectItem(p->status, "phase"));
                if ((kn_streq(ph, "Succeeded") || kn_streq(ph, "Failed")) && anything_running(&rp))
                        kill_pod(k, p, pod, &rp, pod_grace_s(pod), true);
        }
        kubelet_runtime_pod_free(&rp);
        return delay;
}
