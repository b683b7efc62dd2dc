/* SPDX-License-Identifier: Apache-2.0 */
/* What CRI says about a pod (the runtime view), the PodStatus computed from it (upstream's
 * generateAPIPodStatus and getPhase, as facts), and the status thread that reports it:
 * only when it changed, retried while the API server is away, and the final delete. */
#include <fcntl.h>
#include <stdio.h>

#include "../runtime/msgjson.h"
#include "podconfig.h"
#include "pods.h"

#define TERM_MSG_MAX 4096
#define TERM_LOG_BYTES 2048
#define STATUS_RETRY_MS 2000

/* ---- the runtime view ---- */

static char *jstr(const cJSON *o, const char *path)
{
        const char *s = cJSON_GetStringValue((cJSON *)kn_json_path(o, path));
        return kn_strdup(s ? s : "");
}

static int64_t jnum(const cJSON *o, const char *path)
{
        const cJSON *v = kn_json_path(o, path);
        return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static int state_of(const char *s)
{
        if (!s)
                return RT_UNKNOWN;
        if (!strcmp(s, "CONTAINER_CREATED"))
                return RT_CREATED;
        if (!strcmp(s, "CONTAINER_RUNNING"))
                return RT_RUNNING;
        if (!strcmp(s, "CONTAINER_EXITED"))
                return RT_EXITED;
        return RT_UNKNOWN;
}

static int newer_container(const void *a, const void *b)
{
        const rt_container *x = a, *y = b;
        return x->created_ns < y->created_ns ? 1 : x->created_ns > y->created_ns ? -1 : 0;
}

static int newer_sandbox(const void *a, const void *b)
{
        const rt_sandbox *x = a, *y = b;
        return x->created_ns < y->created_ns ? 1 : x->created_ns > y->created_ns ? -1 : 0;
}

int kubelet_runtime_pod(kubelet *k, const char *uid, rt_pod *ret)
{
        _cleanup_cjson_ cJSON *req = cJSON_CreateObject(), *sbs = NULL, *cs = NULL;
        const cJSON *it;
        kn_error err;
        rt_pod rp = {0};
        int r;

        cJSON_AddStringToObject(cJSON_AddObjectToObject(cJSON_AddObjectToObject(req, "filter"), "label_selector"),
                                LABEL_POD_UID, uid);
        r = cri_call_json(k->cri, false, "ListPodSandbox", &runtime__v1__list_pod_sandbox_request__descriptor, req, 0,
                          &sbs, &err);
        if (r >= 0)
                r = cri_call_json(k->cri, false, "ListContainers", &runtime__v1__list_containers_request__descriptor,
                                  req, 0, &cs, &err);
        if (r < 0) {
                kn_v(2, "failed to list pod %s in the runtime: %s", uid, err.msg);
                return r;
        }
        rp.sb = kn_calloc((size_t)cJSON_GetArraySize(cJSON_GetObjectItem(sbs, "items")) + 1, sizeof(rt_sandbox));
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(sbs, "items")) {
                rt_sandbox *s = &rp.sb[rp.n_sb++];
                s->id = jstr(it, "id");
                s->attempt = (uint32_t)jnum(it, "metadata.attempt");
                s->ready = kn_streq(cJSON_GetStringValue(cJSON_GetObjectItem(it, "state")), "SANDBOX_READY");
                s->created_ns = jnum(it, "created_at");
        }
        qsort(rp.sb, rp.n_sb, sizeof(rt_sandbox), newer_sandbox);
        if (rp.n_sb && rp.sb[0].ready) {
                _cleanup_cjson_ cJSON *sreq = cJSON_CreateObject(), *st = NULL;
                cJSON_AddStringToObject(sreq, "pod_sandbox_id", rp.sb[0].id);
                if (cri_call_json(k->cri, false, "PodSandboxStatus", &runtime__v1__pod_sandbox_status_request__descriptor,
                                  sreq, 0, &st, &err) >= 0) {
                        const cJSON *ip;
                        snprintf(rp.sb[0].ip, sizeof(rp.sb[0].ip), "%s",
                                 cJSON_GetStringValue((cJSON *)kn_json_path(st, "status.network.ip")) ?: "");
                        cJSON_ArrayForEach(ip, kn_json_path(st, "status.network.additional_ips")) {
                                const char *a = cJSON_GetStringValue(cJSON_GetObjectItem(ip, "ip"));
                                if (a && strchr(a, ':') && !rp.sb[0].ip6[0])
                                        snprintf(rp.sb[0].ip6, sizeof(rp.sb[0].ip6), "%s", a);
                        }
                }
        }
        rp.c = kn_calloc((size_t)cJSON_GetArraySize(cJSON_GetObjectItem(cs, "containers")) + 1, sizeof(rt_container));
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(cs, "containers")) {
                _cleanup_cjson_ cJSON *sreq = cJSON_CreateObject(), *st = NULL;
                rt_container *c = &rp.c[rp.n_c++];
                const cJSON *s, *ann;
                c->id = jstr(it, "id");
                c->sandbox_id = jstr(it, "pod_sandbox_id");
                c->name = jstr(it, "metadata.name");
                c->attempt = (uint32_t)jnum(it, "metadata.attempt");
                c->state = state_of(cJSON_GetStringValue(cJSON_GetObjectItem(it, "state")));
                c->created_ns = jnum(it, "created_at");
                c->image = jstr(it, "image.image");
                c->image_ref = jstr(it, "image_ref");
                ann = cJSON_GetObjectItem(it, "annotations");
                c->hash = kn_strdup(cJSON_GetStringValue(cJSON_GetObjectItem(ann, ANN_CONTAINER_HASH)) ?: "");
                c->restart_count = atoi(cJSON_GetStringValue(cJSON_GetObjectItem(ann, ANN_RESTART_COUNT)) ?: "0");
                c->term_path = kn_strdup(
                        cJSON_GetStringValue(cJSON_GetObjectItem(ann, "io.kubernetes.container.terminationMessageHostPath")) ?: "");
                c->term_policy = kn_strdup(cJSON_GetStringValue(cJSON_GetObjectItem(ann, ANN_TERM_POLICY)) ?: "File");
                cJSON_AddStringToObject(sreq, "container_id", c->id);
                if (cri_call_json(k->cri, false, "ContainerStatus", &runtime__v1__container_status_request__descriptor,
                                  sreq, 0, &st, &err) < 0) {
                        c->reason = kn_strdup("");
                        c->message = kn_strdup("");
                        continue;
                }
                s = cJSON_GetObjectItem(st, "status");
                c->state = state_of(cJSON_GetStringValue(cJSON_GetObjectItem(s, "state")));
                c->started_ns = jnum(s, "started_at");
                c->finished_ns = jnum(s, "finished_at");
                c->exit_code = (int)jnum(s, "exit_code");
                c->reason = jstr(s, "reason");
                c->message = jstr(s, "message");
                free(c->image_ref);
                c->image_ref = jstr(s, "image_ref");
        }
        qsort(rp.c, rp.n_c, sizeof(rt_container), newer_container);
        *ret = rp;
        return 0;
}

void kubelet_runtime_pod_free(rt_pod *rp)
{
        for (size_t i = 0; i < rp->n_sb; i++)
                free(rp->sb[i].id);
        for (size_t i = 0; i < rp->n_c; i++) {
                rt_container *c = &rp->c[i];
                free(c->id);
                free(c->sandbox_id);
                free(c->name);
                free(c->image);
                free(c->image_ref);
                free(c->reason);
                free(c->message);
                free(c->hash);
                free(c->term_path);
                free(c->term_policy);
        }
        free(rp->sb);
        free(rp->c);
        memset(rp, 0, sizeof(*rp));
}

/* ---- per-container worker state ---- */

cstate *kubelet_cstate(kubelet_pod *p, const char *name)
{
        for (size_t i = 0; i < p->n_cs; i++)
                if (!strcmp(p->cs[i].name, name))
                        return &p->cs[i];
        p->cs = kn_realloc(p->cs, (p->n_cs + 1) * sizeof(cstate));
        memset(&p->cs[p->n_cs], 0, sizeof(cstate));
        p->cs[p->n_cs].name = kn_strdup(name);
        return &p->cs[p->n_cs++];
}

void kubelet_cstate_waiting(cstate *cs, const char *reason, const char *message)
{
        free(cs->waiting_reason);
        free(cs->waiting_message);
        cs->waiting_reason = reason ? kn_strdup(reason) : NULL;
        cs->waiting_message = message ? kn_strdup(message) : NULL;
}

/* ---- the PodStatus ---- */

static void ns_time(int64_t ns, char buf[32])
{
        kn_format_time(ns / 1000000, false, buf, 32);
}

/* The termination message: the file the container wrote, or with FallbackToLogsOnError
 * the tail of its log when it failed and wrote nothing. */
static char *termination_message(kubelet *k, const kubelet_pod *p, const rt_container *c)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;

        if (c->term_path && *c->term_path && kn_read_file(c->term_path, TERM_MSG_MAX, &data, &len) >= 0 && len)
                return TAKE_PTR(data);
        if (c->exit_code != 0 && kn_streq(c->term_policy, "FallbackToLogsOnError")) {
                _cleanup_free_ char *path = kn_asprintf("%s/%s_%s_%s/%s/%d.log", k->cfg.pod_logs_dir, p->ns, p->name, p->uid,
                                                        c->name, c->restart_count);
                _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
                char buf[TERM_LOG_BYTES * 2 + 1];
                kn_buf out = {.max = TERM_LOG_BYTES + 1};
                off_t size;
                ssize_t n;
                if (fd < 0)
                        return NULL;
                size = lseek(fd, 0, SEEK_END);
                lseek(fd, size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0, SEEK_SET);
                n = read(fd, buf, sizeof(buf) - 1);
                if (n <= 0)
                        return NULL;
                buf[n] = 0;
                /* CRI log lines: "TIME STREAM TAG message" */
                for (char *line = buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
                        char *msg = line;
                        nl = strchr(line, '\n');
                        if (nl)
                                *nl = 0;
                        for (int f = 0; f < 3 && msg; f++)
                                msg = strchr(msg, ' ') ? strchr(msg, ' ') + 1 : NULL;
                        if (msg) {
                                kn_buf_append(&out, msg, strlen(msg));
                                kn_buf_append(&out, "\n", 1);
                        }
                }
                /* the log's lines, without the last line's newline */
                if (out.len && out.data[out.len - 1] == '\n')
                        out.len--;
                if (out.len > TERM_LOG_BYTES) {
                        char *tail = kn_strdup(out.data + out.len - TERM_LOG_BYTES);
                        kn_buf_free(&out);
                        return tail;
                }
                kn_buf_append(&out, "", 1);
                return out.data;
        }
        return NULL;
}

static cJSON *terminated_json(kubelet *k, const kubelet_pod *p, const rt_container *c)
{
        cJSON *t = cJSON_CreateObject();
        _cleanup_free_ char *msg = termination_message(k, p, c);
        _cleanup_free_ char *cid = kn_asprintf("%s://%s", k->runtime.name[0] ? k->runtime.name : "containerd", c->id);
        char buf[32];

        cJSON_AddNumberToObject(t, "exitCode", c->exit_code);
        cJSON_AddStringToObject(t, "reason", c->reason && *c->reason ? c->reason : c->exit_code ? "Error" : "Completed");
        if (msg && *msg)
                cJSON_AddStringToObject(t, "message", msg);
        ns_time(c->started_ns ? c->started_ns : c->created_ns, buf);
        cJSON_AddStringToObject(t, "startedAt", buf);
        ns_time(c->finished_ns, buf);
        cJSON_AddStringToObject(t, "finishedAt", buf);
        cJSON_AddStringToObject(t, "containerID", cid);
        return t;
}

/* The newest and the one before of the containers named NAME. */
static void find_containers(const rt_pod *rp, const char *name, const rt_container **ret_cur,
                            const rt_container **ret_prev)
{
        *ret_cur = *ret_prev = NULL;
        for (size_t i = 0; i < rp->n_c; i++) {
                if (strcmp(rp->c[i].name, name))
                        continue;
                if (!*ret_cur)
                        *ret_cur = &rp->c[i];
                else if (!*ret_prev) {
                        *ret_prev = &rp->c[i];
                        break;
                }
        }
}

typedef struct phase_count {
        int running, waiting, stopped, succeeded, unknown;
        int init_pending, init_failed;
        kn_buf not_ready, not_init;
} phase_count;

static cJSON *container_status(kubelet *k, kubelet_pod *p, const cJSON *spec_c, const rt_pod *rp, bool init,
                               bool has_init, phase_count *pc)
{
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(spec_c, "name"));
        const char *image = cJSON_GetStringValue(cJSON_GetObjectItem(spec_c, "image"));
        bool sidecar = init && kn_streq(cJSON_GetStringValue(cJSON_GetObjectItem(spec_c, "restartPolicy")), "Always");
        const rt_container *cur, *prev;
        cstate *cs = kubelet_cstate(p, name);
        cJSON *s = cJSON_CreateObject(), *state, *last;
        bool ready = false, started = false;
        char buf[32];

        find_containers(rp, name, &cur, &prev);
        cJSON_AddStringToObject(s, "name", name);
        state = cJSON_AddObjectToObject(s, "state");
        last = cJSON_AddObjectToObject(s, "lastState");
        if (cur && cur->state == RT_RUNNING) {
                cJSON *r = cJSON_AddObjectToObject(state, "running");
                ns_time(cur->started_ns ? cur->started_ns : cur->created_ns, buf);
                cJSON_AddStringToObject(r, "startedAt", buf);
                if (prev && prev->state == RT_EXITED)
                        cJSON_AddItemToObject(last, "terminated", terminated_json(k, p, prev));
                started = kubelet_probes_started(p->mgr->probes, p->uid, name);
                ready = started && kubelet_probes_ready(p->mgr->probes, p->uid, name);
                if (init && !sidecar)
                        ready = false;
                pc->running++;
                if (init && !sidecar)
                        pc->init_pending++;
        } else if (cur && cur->state == RT_EXITED && cs->waiting_reason) {
                cJSON *w = cJSON_AddObjectToObject(state, "waiting");
                cJSON_AddStringToObject(w, "reason", cs->waiting_reason);
                if (cs->waiting_message)
                        cJSON_AddStringToObject(w, "message", cs->waiting_message);
                cJSON_AddItemToObject(last, "terminated", terminated_json(k, p, cur));
                pc->stopped++;
                if (init && !sidecar) {
                        if (cur->exit_code)
                                pc->init_failed++;
                        else
                                pc->init_pending++;
                }
        } else if (cur && cur->state == RT_EXITED) {
                cJSON_AddItemToObject(state, "terminated", terminated_json(k, p, cur));
                if (prev && prev->state == RT_EXITED)
                        cJSON_AddItemToObject(last, "terminated", terminated_json(k, p, prev));
                /* an init container that completed is ready, as upstream's prober manager says */
                if (init && !sidecar && cur->exit_code == 0)
                        ready = true;
                pc->stopped++;
                if (cur->exit_code == 0)
                        pc->succeeded++;
                if (init && !sidecar && cur->exit_code)
                        pc->init_failed++;
                if (init && sidecar)
                        pc->init_pending++;
        } else {
                cJSON *w = cJSON_AddObjectToObject(state, "waiting");
                /* upstream's default waiting state: PodInitializing in a pod with init
                 * containers (for all of them), ContainerCreating otherwise */
                const char *reason = cs->waiting_reason ? cs->waiting_reason
                                     : has_init         ? "PodInitializing"
                                                        : "ContainerCreating";
                cJSON_AddStringToObject(w, "reason", reason);
                if (cs->waiting_reason && cs->waiting_message)
                        cJSON_AddStringToObject(w, "message", cs->waiting_message);
                if (prev && prev->state == RT_EXITED)
                        cJSON_AddItemToObject(last, "terminated", terminated_json(k, p, prev));
                pc->waiting++;
                if (init)
                        pc->init_pending++;
        }
        cJSON_AddBoolToObject(s, "ready", ready);
        cJSON_AddNumberToObject(s, "restartCount", cur ? cur->restart_count : 0);
        cJSON_AddStringToObject(s, "image", image ? image : "");
        cJSON_AddStringToObject(s, "imageID", cur && cur->image_ref ? cur->image_ref : "");
        if (cur) {
                _cleanup_free_ char *cid = kn_asprintf("%s://%s", k->runtime.name[0] ? k->runtime.name : "containerd",
                                                       cur->id);
                cJSON_AddStringToObject(s, "containerID", cid);
        }
        cJSON_AddBoolToObject(s, "started", started);
        if (!ready && (!init || sidecar))
                kn_buf_printf(&pc->not_ready, "%s%s", pc->not_ready.len ? " " : "", name);
        return s;
}

static void add_condition(cJSON *conds, const cJSON *old_status, const char *type, bool status, const char *reason,
                          const char *message)
{
        const cJSON *old, *it;
        cJSON *c = cJSON_CreateObject();
        const char *st = status ? "True" : "False";
        char now[32];

        cJSON_AddStringToObject(c, "type", type);
        cJSON_AddStringToObject(c, "status", st);
        cJSON_AddNullToObject(c, "lastProbeTime");
        old = NULL;
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(old_status, "conditions"))
                if (kn_streq(cJSON_GetStringValue(cJSON_GetObjectItem(it, "type")), type))
                        old = it;
        if (old && kn_streq(cJSON_GetStringValue(cJSON_GetObjectItem(old, "status")), st) &&
            cJSON_GetStringValue(cJSON_GetObjectItem(old, "lastTransitionTime"))) {
                cJSON_AddStringToObject(c, "lastTransitionTime",
                                        cJSON_GetStringValue(cJSON_GetObjectItem(old, "lastTransitionTime")));
        } else {
                kn_format_time(kn_wall_ms(), false, now, sizeof(now));
                cJSON_AddStringToObject(c, "lastTransitionTime", now);
        }
        /* explicit nulls: the status is a strategic merge patch, and a condition that
         * turns True must lose the reason and message it had */
        if (reason)
                cJSON_AddStringToObject(c, "reason", reason);
        else
                cJSON_AddNullToObject(c, "reason");
        if (message)
                cJSON_AddStringToObject(c, "message", message);
        else
                cJSON_AddNullToObject(c, "message");
        cJSON_AddItemToArray(conds, c);
}

static const char *compute_phase(const cJSON *pod, const phase_count *pc, int n_containers)
{
        const char *policy = kubelet_pod_str(pod, "spec.restartPolicy");
        const char *old = kubelet_pod_str(pod, "status.phase");

        if (kn_streq(old, "Succeeded") || kn_streq(old, "Failed"))
                return old; /* terminal phases are final */
        if (!policy)
                policy = "Always";
        if (pc->init_failed && !strcmp(policy, "Never"))
                return "Failed";
        if (pc->init_pending || pc->init_failed)
                return "Pending";
        if (pc->waiting)
                return "Pending";
        if (pc->running && !pc->unknown)
                return "Running";
        if (!pc->running && pc->stopped && !pc->unknown && pc->stopped >= n_containers) {
                if (!strcmp(policy, "Always"))
                        return "Running";
                if (!strcmp(policy, "OnFailure"))
                        return pc->stopped == pc->succeeded ? "Succeeded" : "Running";
                return pc->stopped == pc->succeeded ? "Succeeded" : "Failed";
        }
        return "Pending";
}

cJSON *kubelet_pod_status(kubelet *k, kubelet_pod *p, const cJSON *pod, const rt_pod *rp)
{
        const cJSON *old = cJSON_GetObjectItem(pod, "status"), *spec = cJSON_GetObjectItem(pod, "spec"), *it;
        cJSON *st = cJSON_CreateObject(), *conds, *ics, *cs, *ips;
        phase_count pc = {.not_ready = {.max = 1 << 16}, .not_init = {.max = 1 << 16}};
        const char *phase;
        bool init_done = true, sandbox_ready, terminal;
        char hip4[64], hip6[64], buf[64];
        int n_containers = cJSON_GetArraySize(cJSON_GetObjectItem(spec, "containers"));
        bool has_init = cJSON_GetArraySize(cJSON_GetObjectItem(spec, "initContainers")) > 0;

        /* init containers first: their state decides Initialized */
        ics = cJSON_CreateArray();
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(spec, "initContainers")) {
                int before = pc.init_pending + pc.init_failed;
                cJSON_AddItemToArray(ics, container_status(k, p, it, rp, true, true, &pc));
                if (pc.init_pending + pc.init_failed > before)
                        kn_buf_printf(&pc.not_init, "%s%s", pc.not_init.len ? " " : "",
                                      cJSON_GetStringValue(cJSON_GetObjectItem(it, "name")));
        }
        init_done = !pc.init_pending && !pc.init_failed;
        /* sidecars count toward readiness, not toward the phase's container counts */
        pc.running = pc.waiting = pc.stopped = pc.succeeded = 0;
        cs = cJSON_CreateArray();
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(spec, "containers"))
                cJSON_AddItemToArray(cs, container_status(k, p, it, rp, false, has_init, &pc));

        phase = p->deadline_exceeded || p->rejected_reason ? "Failed" : compute_phase(pod, &pc, n_containers);
        terminal = !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed");
        cJSON_AddStringToObject(st, "phase", phase);
        if (p->rejected_reason) {
                cJSON_AddStringToObject(st, "reason", p->rejected_reason);
                _cleanup_free_ char *msg = kn_asprintf("Pod was rejected: %s", p->rejected_message);
                cJSON_AddStringToObject(st, "message", msg);
        } else if (p->deadline_exceeded) {
                cJSON_AddStringToObject(st, "reason", "DeadlineExceeded");
                cJSON_AddStringToObject(st, "message", "Pod was active on the node longer than the specified deadline");
        }

        conds = cJSON_AddArrayToObject(st, "conditions");
        sandbox_ready = rp->n_sb && rp->sb[0].ready;
        add_condition(conds, old, "PodReadyToStartContainers", sandbox_ready, NULL, NULL);
        if (init_done)
                add_condition(conds, old, "Initialized", true, NULL, NULL);
        else {
                _cleanup_free_ char *msg = kn_asprintf("containers with incomplete status: [%s]",
                                                       pc.not_init.data ? pc.not_init.data : "");
                add_condition(conds, old, "Initialized", false, "ContainersNotInitialized", msg);
        }
        if (terminal) {
                add_condition(conds, old, "ContainersReady", false, "PodCompleted", NULL);
                add_condition(conds, old, "Ready", false, "PodCompleted", NULL);
        } else {
                bool cready = pc.not_ready.len == 0 && init_done;
                _cleanup_free_ char *msg = kn_asprintf("containers with unready status: [%s]",
                                                       pc.not_ready.data ? pc.not_ready.data : "");
                kn_buf gates = {.max = 1 << 16};
                const cJSON *g;
                add_condition(conds, old, "ContainersReady", cready, cready ? NULL : "ContainersNotReady",
                              cready ? NULL : msg);
                /* readiness gates: conditions others set on the pod */
                cJSON_ArrayForEach(g, cJSON_GetObjectItem(spec, "readinessGates")) {
                        const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(g, "conditionType"));
                        const cJSON *c;
                        bool ok = false;
                        cJSON_ArrayForEach(c, cJSON_GetObjectItem(old, "conditions"))
                                if (kn_streq(cJSON_GetStringValue(cJSON_GetObjectItem(c, "type")), type))
                                        ok = kn_streq(cJSON_GetStringValue(cJSON_GetObjectItem(c, "status")), "True");
                        if (!ok && type)
                                kn_buf_printf(&gates, "corresponding condition of pod readiness gate \"%s\" does not exist.", type);
                }
                if (!cready)
                        add_condition(conds, old, "Ready", false, "ContainersNotReady", msg);
                else if (gates.len)
                        add_condition(conds, old, "Ready", false, "ReadinessGatesNotReady", gates.data);
                else
                        add_condition(conds, old, "Ready", true, NULL, NULL);
                kn_buf_free(&gates);
        }
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(old, "conditions")) {
                const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(it, "type"));
                if (kn_streq(type, "PodScheduled"))
                        cJSON_AddItemToArray(conds, cJSON_Duplicate(it, true));
        }

        kubelet_node_ips(k, hip4, hip6);
        cJSON_AddStringToObject(st, "hostIP", hip4);
        ips = cJSON_AddArrayToObject(st, "hostIPs");
        cJSON_AddItemToArray(ips, cJSON_CreateObject());
        cJSON_AddStringToObject(cJSON_GetArrayItem(ips, 0), "ip", hip4);
        if (kubelet_pod_host_network(pod) || (rp->n_sb && rp->sb[0].ip[0])) {
                const char *ip = kubelet_pod_host_network(pod) ? hip4 : rp->sb[0].ip;
                cJSON *o;
                cJSON_AddStringToObject(st, "podIP", ip);
                ips = cJSON_AddArrayToObject(st, "podIPs");
                cJSON_AddItemToArray(ips, o = cJSON_CreateObject());
                cJSON_AddStringToObject(o, "ip", ip);
                if (!kubelet_pod_host_network(pod) && rp->sb[0].ip6[0]) {
                        cJSON_AddItemToArray(ips, o = cJSON_CreateObject());
                        cJSON_AddStringToObject(o, "ip", rp->sb[0].ip6);
                }
        } else if (cJSON_GetStringValue(cJSON_GetObjectItem(old, "podIP")) && !rp->n_sb) {
                /* keep what was reported while the runtime has nothing (e.g. after a completed pod's cleanup) */
                cJSON_AddItemToObject(st, "podIP", cJSON_Duplicate(cJSON_GetObjectItem(old, "podIP"), true));
                if (cJSON_GetObjectItem(old, "podIPs"))
                        cJSON_AddItemToObject(st, "podIPs", cJSON_Duplicate(cJSON_GetObjectItem(old, "podIPs"), true));
        }
        if (cJSON_GetStringValue(cJSON_GetObjectItem(old, "startTime")))
                cJSON_AddStringToObject(st, "startTime", cJSON_GetStringValue(cJSON_GetObjectItem(old, "startTime")));
        else {
                kn_format_time(p->start_time_ms, false, buf, sizeof(buf));
                cJSON_AddStringToObject(st, "startTime", buf);
        }
        cJSON_AddItemToObject(st, "initContainerStatuses", ics);
        cJSON_AddItemToObject(st, "containerStatuses", cs);
        if (cJSON_GetArraySize(cJSON_GetObjectItem(spec, "ephemeralContainers")) > 0) {
                phase_count ec = {.not_ready = {.max = 1 << 16}, .not_init = {.max = 1 << 16}};
                cJSON *es = cJSON_AddArrayToObject(st, "ephemeralContainerStatuses");
                cJSON_ArrayForEach(it, cJSON_GetObjectItem(spec, "ephemeralContainers"))
                        cJSON_AddItemToArray(es, container_status(k, p, it, rp, false, has_init, &ec));
                kn_buf_free(&ec.not_ready);
                kn_buf_free(&ec.not_init);
        }
        cJSON_AddStringToObject(st, "qosClass", kubelet_pod_qos(pod));
        kn_buf_free(&pc.not_ready);
        kn_buf_free(&pc.not_init);
        return st;
}

/* ---- the status thread ---- */

void kubelet_pod_set_status(kubelet_pods *m, kubelet_pod *p, cJSON *status)
{
        pthread_mutex_lock(&m->lock);
        if (!p->status || !cJSON_Compare(p->status, status, true)) {
                cJSON_Delete(p->status);
                p->status = status;
                p->status_dirty = true;
                m->status_kick = true;
                pthread_cond_signal(&m->status_cond);
        } else {
                cJSON_Delete(status);
        }
        pthread_mutex_unlock(&m->lock);
}

/* UID: the pod's, or for a static pod its mirror's. */
static int post_status(kubelet *k, kubelet_pod *p, const char *uid, const cJSON *status)
{
        _cleanup_cjson_ cJSON *patch = cJSON_CreateObject();
        _cleanup_free_ char *path = kn_api_path("v1", "pods", p->ns, p->name, "status"), *body = NULL;
        kn_api_error aerr = {0};
        int r;

        cJSON_AddStringToObject(cJSON_AddObjectToObject(patch, "metadata"), "uid", uid);
        cJSON_AddItemReferenceToObject(patch, "status", (cJSON *)status);
        body = cJSON_PrintUnformatted(patch);
        r = kn_api_patch(k->env->api, path, KN_PATCH_STRATEGIC, body, NULL, &aerr);
        if (r == -ENOENT)
                return 0; /* the pod is gone: nothing left to report */
        if (r < 0)
                kn_v(2, "failed to update status for pod %s/%s: %s", p->ns, p->name, aerr.e.msg);
        return r;
}

int kubelet_delete_pod_now(kubelet *k, const char *ns, const char *name, const char *uid, kn_api_error *aerr)
{
        _cleanup_free_ char *path = kn_api_path("v1", "pods", ns, name, NULL);
        _cleanup_cjson_ cJSON *opts = cJSON_CreateObject();

        cJSON_AddStringToObject(opts, "kind", "DeleteOptions");
        cJSON_AddStringToObject(opts, "apiVersion", "v1");
        cJSON_AddNumberToObject(opts, "gracePeriodSeconds", 0);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(opts, "preconditions"), "uid", uid);
        return kn_api_delete(k->env->api, path, opts, aerr);
}

static int final_delete(kubelet *k, kubelet_pod *p)
{
        kn_api_error aerr = {0};
        int r = kubelet_delete_pod_now(k, p->ns, p->name, p->uid, &aerr);

        if (r == -ENOENT || r == -EBUSY) /* gone, or another pod of the same name */
                return 0;
        if (r < 0)
                kn_v(2, "failed to delete pod %s/%s: %s", p->ns, p->name, aerr.e.msg);
        else
                kn_v(2, "pod %s/%s deleted from the API server", p->ns, p->name);
        return r;
}

static void post_event(kubelet *k, const cJSON *e);

void *kubelet_status_thread(void *arg)
{
        kubelet *k = arg;
        kubelet_pods *m = k->pods;
        bool retry = false;

        pthread_mutex_lock(&m->lock);
        while (!m->stop) {
                kubelet_pod *p;
                if (!m->status_kick && !cJSON_GetArraySize(m->events)) {
                        struct timespec ts = kn_deadline(retry ? STATUS_RETRY_MS : 10000);
                        pthread_cond_timedwait(&m->status_cond, &m->lock, &ts);
                        if (m->stop)
                                break;
                }
                m->status_kick = false;
                retry = false;
                for (p = m->pods; p && !m->stop; p = p->next) {
                        cJSON *st;
                        int r = 0;
                        if (p->status_busy) /* another status thread posts it */
                                continue;
                        if (p->status_dirty && p->is_static && !p->mirror_uid) {
                                p->status_dirty = false; /* posted when its mirror appears */
                        } else if (p->status_dirty && p->status && p->pod) {
                                _cleanup_free_ char *uid = kn_strdup(p->is_static ? p->mirror_uid : p->uid);
                                st = cJSON_Duplicate(p->status, true);
                                p->status_dirty = false;
                                p->status_busy = true;
                                pthread_mutex_unlock(&m->lock);
                                r = post_status(k, p, uid, st);
                                pthread_mutex_lock(&m->lock);
                                p->status_busy = false;
                                if (r < 0) {
                                        p->status_dirty = true;
                                        retry = true;
                                        cJSON_Delete(st);
                                } else {
                                        cJSON_Delete(st);
                                }
                        } else if (p->status_dirty && !p->pod) {
                                p->status_dirty = false;
                        }
                        if (p->is_static) /* its mirror goes with its manifest (staticpods.c) */
                                p->want_delete = false;
                        if (r >= 0 && p->want_delete && !p->status_dirty) {
                                p->status_busy = true;
                                pthread_mutex_unlock(&m->lock);
                                r = final_delete(k, p);
                                pthread_mutex_lock(&m->lock);
                                p->status_busy = false;
                                if (r < 0)
                                        retry = true;
                                else
                                        p->want_delete = false;
                        }
                }
                /* Events after the statuses, one at a time: a status that changes meanwhile
                 * goes first (at least one event is posted per round, so none starve). */
                while (!m->stop && cJSON_GetArraySize(m->events)) {
                        cJSON *e = cJSON_DetachItemFromArray(m->events, 0);
                        pthread_mutex_unlock(&m->lock);
                        post_event(k, e);
                        cJSON_Delete(e);
                        pthread_mutex_lock(&m->lock);
                        if (m->status_kick)
                                break;
                }
        }
        pthread_mutex_unlock(&m->lock);
        return NULL;
}

/* ---- events ---- */

#define MAX_QUEUED_EVENTS 1000

void kubelet_event(kubelet_pods *m, const cJSON *pod, const char *type, const char *reason, const char *fmt, ...)
{
        cJSON *e = cJSON_CreateObject(), *meta, *obj, *src;
        char now[32], msg[1024];
        _cleanup_free_ char *name = kn_asprintf("%s.%016llx", kubelet_pod_str(pod, "metadata.name") ?: "pod",
                                                 (unsigned long long)kn_random());
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        kn_format_time(kn_wall_ms(), false, now, sizeof(now));
        cJSON_AddStringToObject(e, "apiVersion", "v1");
        cJSON_AddStringToObject(e, "kind", "Event");
        meta = cJSON_AddObjectToObject(e, "metadata");
        cJSON_AddStringToObject(meta, "name", name);
        cJSON_AddStringToObject(meta, "namespace", kubelet_pod_str(pod, "metadata.namespace") ?: "default");
        obj = cJSON_AddObjectToObject(e, "involvedObject");
        cJSON_AddStringToObject(obj, "apiVersion", "v1");
        cJSON_AddStringToObject(obj, "kind", "Pod");
        cJSON_AddStringToObject(obj, "namespace", kubelet_pod_str(pod, "metadata.namespace") ?: "");
        cJSON_AddStringToObject(obj, "name", kubelet_pod_str(pod, "metadata.name") ?: "");
        cJSON_AddStringToObject(obj, "uid", kubelet_pod_str(pod, "metadata.uid") ?: "");
        cJSON_AddStringToObject(e, "reason", reason);
        cJSON_AddStringToObject(e, "message", msg);
        cJSON_AddStringToObject(e, "type", type);
        src = cJSON_AddObjectToObject(e, "source");
        cJSON_AddStringToObject(src, "component", "kubelet");
        cJSON_AddStringToObject(src, "host", m->k->node_name);
        cJSON_AddStringToObject(e, "firstTimestamp", now);
        cJSON_AddStringToObject(e, "lastTimestamp", now);
        cJSON_AddNumberToObject(e, "count", 1);
        cJSON_AddStringToObject(e, "reportingComponent", "kubelet");
        cJSON_AddStringToObject(e, "reportingInstance", m->k->node_name);
        kn_v(2, "event for pod %s/%s: %s %s: %s", kubelet_pod_str(pod, "metadata.namespace"),
             kubelet_pod_str(pod, "metadata.name"), type, reason, msg);
        pthread_mutex_lock(&m->lock);
        if (cJSON_GetArraySize(m->events) < MAX_QUEUED_EVENTS) {
                cJSON_AddItemToArray(m->events, e);
                e = NULL;
                m->status_kick = true;
                pthread_cond_signal(&m->status_cond);
        }
        pthread_mutex_unlock(&m->lock);
        cJSON_Delete(e);
}

/* Post one queued event (called without the lock); one that fails is dropped. */
static void post_event(kubelet *k, const cJSON *e)
{
        const char *ns = kubelet_pod_str(e, "metadata.namespace");
        _cleanup_free_ char *path = kn_api_path("v1", "events", ns, NULL, NULL);
        kn_api_error aerr = {0};

        if (kn_api_create(k->env->api, path, e, NULL, &aerr) < 0)
                kn_v(3, "dropped an event: %s", aerr.e.msg);
}
