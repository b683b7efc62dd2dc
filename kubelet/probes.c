/* SPDX-License-Identifier: Apache-2.0 */
/* The probe manager: the containers being probed, one worker thread per probe, the
 * threshold logic, results and metrics (upstream pkg/kubelet/prober: prober_manager.go,
 * worker.go, results/). */
#include "probes.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/eventfd.h>

#include <curl/curl.h>

#include "../core/log.h"
#include "prober.h"

#define WORKER_STACK (128 * 1024)
#define MAX_WORKERS 8192 /* threads; a node runs at most a few hundred probes */
#if defined(__SANITIZE_ADDRESS__)
#undef WORKER_STACK
#define WORKER_STACK (1024 * 1024) /* ASan's redzones make frames several times larger */
#endif

struct probe_container;

typedef struct probe_worker {
        kubelet_probes *p;
        struct probe_container *c; /* NULL once stopped: the thread then owns the worker */
        probe_kind kind;
        probe_spec *spec;
        char *container_id, *pod_ip, *what; /* copies: read with no lock held */
        probe_exec_fn exec;
        void *exec_ud;
        void *multi; /* HTTP and gRPC probes: their curl multi handle */
        pthread_cond_t cond;
        volatile bool stop;
        int64_t due_ms; /* monotonic */
} probe_worker;

typedef struct probe_container {
        struct probe_container *next;
        char *pod_uid, *pod_ns, *pod_name, *name, *container_id;
        bool has[PROBE_KINDS];
        probe_state st[PROBE_KINDS];
        int64_t grace_s[PROBE_KINDS];      /* -1: unset */
        uint64_t counts[PROBE_KINDS][3];   /* runs by result: unknown, success, failure */
        probe_worker *w[PROBE_KINDS];      /* NULL: not running */
} probe_container;

struct kubelet_probes {
        pthread_mutex_t lock;
        pthread_cond_t idle; /* threads == 0 */
        probe_container *containers;
        size_t threads;
        struct cri_client *cri;
        probe_exec_fn exec;
        void *exec_ud;
        kubelet_probes_change_fn on_change;
        kubelet_probes_warning_fn on_warning;
        void *ud;
        int cancel_fd; /* readable once the manager is freed: ends TCP probes */
        int64_t start_mono_ms, start_wall_ms;
};

void kubelet_probes_set_warning_handler(kubelet_probes *p, kubelet_probes_warning_fn fn)
{
        pthread_mutex_lock(&p->lock);
        p->on_warning = fn;
        pthread_mutex_unlock(&p->lock);
}

const char *probe_kind_name(probe_kind kind)
{
        static const char *const names[] = {"Liveness", "Readiness", "Startup"};
        return (unsigned)kind < PROBE_KINDS ? names[kind] : "?";
}

const char *probe_result_name(probe_result r)
{
        static const char *const names[] = {"unknown", "success", "failure"};
        return (unsigned)r < 3 ? names[r] : "?";
}

static int64_t wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- threshold logic ---- */

void probe_state_init(probe_state *st, probe_kind kind)
{
        static const probe_result initial[] = {PROBE_SUCCESS, PROBE_FAILURE, PROBE_UNKNOWN};
        *st = (probe_state){.result = initial[kind], .last = PROBE_UNKNOWN};
}

bool probe_state_record(probe_state *st, probe_kind kind, int success_threshold, int failure_threshold,
                        probe_result raw)
{
        probe_result old = st->result;

        if (st->last == raw) {
                st->run++;
        } else {
                st->last = raw;
                st->run = 1;
        }
        if ((raw == PROBE_FAILURE && st->run < failure_threshold) ||
            (raw == PROBE_SUCCESS && st->run < success_threshold))
                return false; /* below the threshold: the result stays */
        st->result = raw;
        if (kind != PROBE_READINESS && raw == PROBE_FAILURE) {
                /* the container will be killed: wait for its successor */
                st->on_hold = true;
                st->run = 0;
        }
        return st->result != old;
}

/* ---- workers ---- */

static bool started_locked(const probe_container *c)
{
        return !c->has[PROBE_STARTUP] || c->st[PROBE_STARTUP].result == PROBE_SUCCESS;
}

/* Whether worker W (which still has its container) is done for good: a startup probe
 * that succeeded, a liveness/startup probe that failed (the container will be replaced, and
 * a new container ID brings new workers). */
static bool finished_locked(const probe_worker *w)
{
        const probe_container *c = w->c;
        return c->st[w->kind].on_hold || (w->kind == PROBE_STARTUP && started_locked(c));
}

/* Whether worker W may probe now: liveness and readiness wait for the startup probe. */
static bool runnable_locked(const probe_worker *w)
{
        return w->kind == PROBE_STARTUP || started_locked(w->c);
}

static void worker_free(probe_worker *w)
{
        pthread_cond_destroy(&w->cond);
        probe_multi_free(w->multi);
        probe_spec_free(w->spec);
        free(w->container_id);
        free(w->pod_ip);
        free(w->what);
        free(w);
}

/* Unlink W from its container; its thread frees it. */
static void worker_stop_locked(probe_worker *w)
{
        if (!w)
                return;
        w->c->w[w->kind] = NULL;
        w->c = NULL;
        __atomic_store_n(&w->stop, true, __ATOMIC_RELAXED); /* read unlocked by a probe in flight */
        pthread_cond_signal(&w->cond);
        probe_multi_wakeup(w->multi); /* the thread frees W only under the lock we hold */
}

static void wake_siblings_locked(probe_container *c)
{
        for (int k = 0; k < PROBE_KINDS; k++)
                if (c->w[k])
                        pthread_cond_signal(&c->w[k]->cond);
}

/* One round: up to PROBE_MAX_RETRIES runs while the probe errors. */
static int run_round(kubelet_probes *p, probe_worker *w, probe_result *ret, char *msg, size_t msglen)
{
        probe_run r = {
                .spec = w->spec,
                .pod_ip = w->pod_ip,
                .container_id = w->container_id,
                .exec = w->exec,
                .exec_ud = w->exec_ud,
                .stop = &w->stop,
                .cancel_fd = p->cancel_fd,
                .multi = w->multi,
        };
        int rc = -EIO;

        for (int i = 0; i < PROBE_MAX_RETRIES && !__atomic_load_n(&w->stop, __ATOMIC_RELAXED); i++) {
                rc = probe_run_once(&r, ret, msg, msglen);
                if (rc >= 0)
                        return rc;
        }
        return rc;
}

static void *worker_main(void *arg)
{
        probe_worker *w = arg;
        kubelet_probes *p = w->p;
        char msg[PROBE_MSG_MAX];

        pthread_mutex_lock(&p->lock);
        while (!w->stop) {
                probe_container *c = w->c;
                int64_t now = kn_now_ms();
                probe_result raw = PROBE_UNKNOWN, res;
                bool changed;
                int rc;

                if (finished_locked(w)) {
                        c->w[w->kind] = NULL; /* the result stays with the container */
                        w->c = NULL;
                        break;
                }
                if (!runnable_locked(w)) {
                        pthread_cond_wait(&w->cond, &p->lock);
                        continue;
                }
                if (now < w->due_ms) {
                        struct timespec ts = kn_deadline((long)(w->due_ms - now));
                        pthread_cond_timedwait(&w->cond, &p->lock, &ts);
                        continue;
                }
                pthread_mutex_unlock(&p->lock);

                msg[0] = 0;
                rc = run_round(p, w, &raw, msg, sizeof(msg));

                pthread_mutex_lock(&p->lock);
                if (w->stop)
                        break; /* C may be gone: touch nothing */
                now = kn_now_ms();
                w->due_ms += w->spec->period_s * 1000;
                if (w->due_ms <= now)
                        w->due_ms = now + w->spec->period_s * 1000; /* a slow probe: no burst */
                if (rc < 0) {
                        kn_v(2, "%s probe errored for %s: %s", probe_kind_name(w->kind), w->what, msg);
                        c->counts[w->kind][PROBE_UNKNOWN]++;
                        continue; /* thrown away */
                }
                c->counts[w->kind][raw]++;
                /* a success with something to say (a redirect not followed): upstream's ProbeWarning */
                if (raw == PROBE_SUCCESS && !strncmp(msg, PROBE_WARNING_PREFIX, strlen(PROBE_WARNING_PREFIX)) &&
                    p->on_warning) {
                        _cleanup_free_ char *uid = kn_strdup(c->pod_uid), *name = kn_strdup(c->name);
                        pthread_mutex_unlock(&p->lock);
                        p->on_warning(p->ud, uid, name, w->kind, msg);
                        pthread_mutex_lock(&p->lock);
                        if (w->stop)
                                break;
                }
                if (raw == PROBE_FAILURE)
                        kn_v(1, "%s probe failed for %s: %s", probe_kind_name(w->kind), w->what, msg);
                else
                        kn_v(4, "%s probe succeeded for %s", probe_kind_name(w->kind), w->what);
                changed = probe_state_record(&c->st[w->kind], w->kind, w->spec->success_threshold,
                                             w->spec->failure_threshold, raw);
                if (!changed)
                        continue;
                res = c->st[w->kind].result;
                if (w->kind == PROBE_STARTUP)
                        wake_siblings_locked(c);
                kn_v(2, "%s probe of %s is now %s", probe_kind_name(w->kind), w->what, probe_result_name(res));
                if (p->on_change) {
                        _cleanup_free_ char *uid = kn_strdup(c->pod_uid), *name = kn_strdup(c->name);
                        pthread_mutex_unlock(&p->lock);
                        p->on_change(p->ud, uid, name, w->container_id, w->kind, res);
                        pthread_mutex_lock(&p->lock);
                }
        }
        if (--p->threads == 0)
                pthread_cond_broadcast(&p->idle);
        pthread_mutex_unlock(&p->lock);
        worker_free(w);
        return NULL;
}

static int worker_start_locked(kubelet_probes *p, probe_container *c, probe_kind kind, probe_spec *spec,
                               const char *pod_ip, int64_t started_wall_ms)
{
        pthread_condattr_t ca;
        pthread_attr_t attr;
        pthread_t t;
        probe_worker *w;
        int64_t now = kn_now_ms(), delay = 0, wall = wall_ms();
        int r;

        if (p->threads >= MAX_WORKERS)
                return -EAGAIN;
        w = kn_calloc(1, sizeof(*w));
        w->p = p;
        w->c = c;
        w->kind = kind;
        w->spec = spec;
        w->exec = p->exec;
        w->exec_ud = p->exec_ud;
        if (spec->handler == PROBE_HTTP || spec->handler == PROBE_GRPC)
                w->multi = probe_multi_new();
        w->container_id = kn_strdup(c->container_id);
        w->pod_ip = kn_strdup(pod_ip ? pod_ip : "");
        w->what = kn_asprintf("pod %s/%s container %s", c->pod_ns, c->pod_name, c->name);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&w->cond, &ca);
        pthread_condattr_destroy(&ca);

        /* After a kubelet restart, spread the probes of containers that already ran. */
        if (started_wall_ms < p->start_wall_ms && now - p->start_mono_ms < spec->period_s * 1000)
                delay = (int64_t)(kn_random() % (uint64_t)(spec->period_s * 1000));
        if (started_wall_ms + spec->initial_delay_s * 1000 - wall > delay)
                delay = started_wall_ms + spec->initial_delay_s * 1000 - wall;
        w->due_ms = now + delay;

        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, WORKER_STACK);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = -pthread_create(&t, &attr, worker_main, w);
        pthread_attr_destroy(&attr);
        if (r < 0) {
                w->spec = NULL;
                worker_free(w);
                return r;
        }
        c->w[kind] = w;
        p->threads++;
        return 0;
}

/* ---- containers ---- */

static probe_container **find_locked(kubelet_probes *p, const char *uid, const char *name)
{
        probe_container **pc;
        for (pc = &p->containers; *pc; pc = &(*pc)->next)
                if (strcmp((*pc)->pod_uid, uid) == 0 && (!name || strcmp((*pc)->name, name) == 0))
                        return pc;
        return pc;
}

static void container_drop_locked(probe_container **pc)
{
        probe_container *c = *pc;

        for (int k = 0; k < PROBE_KINDS; k++)
                worker_stop_locked(c->w[k]);
        *pc = c->next;
        free(c->pod_uid);
        free(c->pod_ns);
        free(c->pod_name);
        free(c->name);
        free(c->container_id);
        free(c);
}

int kubelet_probes_new(struct cri_client *cri, kubelet_probes_change_fn on_change, void *ud,
                       kubelet_probes **ret)
{
        kubelet_probes *p;
        pthread_condattr_t ca;
        int fd;

        fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                close(fd);
                return -EIO;
        }
        p = kn_calloc(1, sizeof(*p));
        pthread_mutex_init(&p->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&p->idle, &ca);
        pthread_condattr_destroy(&ca);
        p->cri = cri;
        p->exec = probe_exec_cri;
        p->exec_ud = cri;
        p->on_change = on_change;
        p->ud = ud;
        p->cancel_fd = fd;
        p->start_mono_ms = kn_now_ms();
        p->start_wall_ms = wall_ms();
        *ret = p;
        return 0;
}

void kubelet_probes_free(kubelet_probes *p)
{
        uint64_t one = 1;

        if (!p)
                return;
        pthread_mutex_lock(&p->lock);
        while (p->containers)
                container_drop_locked(&p->containers);
        (void)!write(p->cancel_fd, &one, sizeof(one));
        while (p->threads)
                pthread_cond_wait(&p->idle, &p->lock);
        pthread_mutex_unlock(&p->lock);
        close(p->cancel_fd);
        pthread_cond_destroy(&p->idle);
        pthread_mutex_destroy(&p->lock);
        curl_global_cleanup();
        free(p);
}

void kubelet_probes_set_exec(kubelet_probes *p, probe_exec_fn fn, void *ud)
{
        pthread_mutex_lock(&p->lock);
        p->exec = fn;
        p->exec_ud = ud;
        pthread_mutex_unlock(&p->lock);
}

static const char *const probe_fields[] = {"livenessProbe", "readinessProbe", "startupProbe"};

int kubelet_probes_container_started(kubelet_probes *p, const cJSON *pod, const cJSON *container_spec,
                                     const char *container_id, const char *pod_ip, int64_t started_wall_ms)
{
        const cJSON *uid = kn_json_path(pod, "metadata.uid"), *ns = kn_json_path(pod, "metadata.namespace"),
                    *pname = kn_json_path(pod, "metadata.name"),
                    *name = cJSON_GetObjectItemCaseSensitive(container_spec, "name");
        probe_spec *spec[PROBE_KINDS] = {0};
        probe_container **pc, *c;
        int rv = 0, r;

        if (!cJSON_IsString(uid) || !cJSON_IsString(name) || !container_id || !container_id[0])
                return -EINVAL;
        for (int k = 0; k < PROBE_KINDS; k++) {
                const cJSON *j = cJSON_GetObjectItemCaseSensitive(container_spec, probe_fields[k]);
                if (!j || cJSON_IsNull(j))
                        continue;
                spec[k] = probe_spec_parse(j, container_spec, (probe_kind)k);
        }

        pthread_mutex_lock(&p->lock);
        pc = find_locked(p, uid->valuestring, name->valuestring);
        if (*pc && strcmp((*pc)->container_id, container_id) == 0) {
                pthread_mutex_unlock(&p->lock); /* the same container: keep its probes */
                for (int k = 0; k < PROBE_KINDS; k++)
                        probe_spec_free(spec[k]);
                return rv;
        }
        if (*pc)
                container_drop_locked(pc); /* a new container: results start over */
        c = kn_calloc(1, sizeof(*c));
        c->pod_uid = kn_strdup(uid->valuestring);
        c->pod_ns = kn_strdup(cJSON_IsString(ns) ? ns->valuestring : "");
        c->pod_name = kn_strdup(cJSON_IsString(pname) ? pname->valuestring : "");
        c->name = kn_strdup(name->valuestring);
        c->container_id = kn_strdup(container_id);
        c->next = p->containers;
        p->containers = c;
        for (int k = 0; k < PROBE_KINDS; k++) {
                c->grace_s[k] = -1;
                if (!spec[k])
                        continue;
                if (spec[k]->invalid)
                        kn_warn("%s of pod %s/%s container %s cannot run: %s", probe_fields[k], c->pod_ns,
                                c->pod_name, c->name, spec[k]->invalid);
                c->has[k] = true;
                c->grace_s[k] = spec[k]->termination_grace_s;
                probe_state_init(&c->st[k], (probe_kind)k);
                r = worker_start_locked(p, c, (probe_kind)k, spec[k], pod_ip, started_wall_ms);
                if (r < 0) {
                        kn_err("failed to start %s probe of pod %s/%s container %s: %s",
                               probe_kind_name((probe_kind)k), c->pod_ns, c->pod_name, c->name, strerror(-r));
                        probe_spec_free(spec[k]);
                        rv = r;
                }
        }
        pthread_mutex_unlock(&p->lock);
        return rv;
}

void kubelet_probes_container_stopped(kubelet_probes *p, const char *pod_uid, const char *container)
{
        probe_container **pc;

        pthread_mutex_lock(&p->lock);
        pc = find_locked(p, pod_uid, container);
        if (*pc)
                container_drop_locked(pc);
        pthread_mutex_unlock(&p->lock);
}

void kubelet_probes_stop_liveness_and_startup(kubelet_probes *p, const char *pod_uid)
{
        pthread_mutex_lock(&p->lock);
        for (probe_container *c = p->containers; c; c = c->next) {
                if (strcmp(c->pod_uid, pod_uid) != 0)
                        continue;
                for (int k = 0; k < PROBE_KINDS; k++) {
                        if (k == PROBE_READINESS || !c->has[k])
                                continue;
                        worker_stop_locked(c->w[k]);
                        c->st[k].result = PROBE_SUCCESS; /* a quiet shutdown */
                }
                wake_siblings_locked(c);
        }
        pthread_mutex_unlock(&p->lock);
}

void kubelet_probes_pod_removed(kubelet_probes *p, const char *pod_uid)
{
        probe_container **pc;

        pthread_mutex_lock(&p->lock);
        while (*(pc = find_locked(p, pod_uid, NULL)))
                container_drop_locked(pc);
        pthread_mutex_unlock(&p->lock);
}

probe_result kubelet_probes_get(kubelet_probes *p, const char *pod_uid, const char *container, probe_kind kind)
{
        probe_result r = PROBE_UNKNOWN;
        probe_container *c;

        if ((unsigned)kind >= PROBE_KINDS)
                return r;
        pthread_mutex_lock(&p->lock);
        c = *find_locked(p, pod_uid, container);
        if (c && c->has[kind])
                r = c->st[kind].result;
        pthread_mutex_unlock(&p->lock);
        return r;
}

bool kubelet_probes_started(kubelet_probes *p, const char *pod_uid, const char *container)
{
        probe_container *c;
        bool r;

        pthread_mutex_lock(&p->lock);
        c = *find_locked(p, pod_uid, container);
        r = !c || started_locked(c);
        pthread_mutex_unlock(&p->lock);
        return r;
}

bool kubelet_probes_ready(kubelet_probes *p, const char *pod_uid, const char *container)
{
        probe_container *c;
        bool r;

        pthread_mutex_lock(&p->lock);
        c = *find_locked(p, pod_uid, container);
        r = !c || (started_locked(c) &&
                   (!c->has[PROBE_READINESS] || c->st[PROBE_READINESS].result == PROBE_SUCCESS));
        pthread_mutex_unlock(&p->lock);
        return r;
}

int kubelet_probes_termination_grace_period(kubelet_probes *p, const char *pod_uid, const char *container,
                                            probe_kind kind, int64_t *ret_seconds)
{
        probe_container *c;
        int r = -ENOENT;

        if ((unsigned)kind >= PROBE_KINDS)
                return -EINVAL;
        pthread_mutex_lock(&p->lock);
        c = *find_locked(p, pod_uid, container);
        if (c && c->has[kind] && c->grace_s[kind] >= 0) {
                *ret_seconds = c->grace_s[kind];
                r = 0;
        }
        pthread_mutex_unlock(&p->lock);
        return r;
}

/* ---- metrics ---- */

static void label(kn_buf *out, const char *name, const char *v, bool comma)
{
        kn_buf_printf(out, "%s=\"", name);
        for (; *v; v++) {
                if (*v == '\\' || *v == '"')
                        kn_buf_printf(out, "\\%c", *v);
                else if (*v == '\n')
                        kn_buf_printf(out, "\\n");
                else
                        (void)kn_buf_append(out, v, 1);
        }
        kn_buf_printf(out, "\"%s", comma ? "," : "");
}

void kubelet_probes_metrics(kubelet_probes *p, kn_buf *out)
{
        /* upstream's result label values, in probe_result order */
        static const char *const results[] = {"unknown", "successful", "failed"};

        kn_buf_printf(out, "# HELP prober_probe_total [ALPHA] Cumulative number of a liveness, readiness or "
                           "startup probe for a container by result.\n"
                           "# TYPE prober_probe_total counter\n");
        pthread_mutex_lock(&p->lock);
        for (probe_container *c = p->containers; c; c = c->next)
                for (int k = 0; k < PROBE_KINDS; k++) {
                        if (!c->has[k])
                                continue;
                        for (int res = 0; res < 3; res++) {
                                kn_buf_printf(out, "prober_probe_total{");
                                label(out, "container", c->name, true);
                                label(out, "namespace", c->pod_ns, true);
                                label(out, "pod", c->pod_name, true);
                                label(out, "pod_uid", c->pod_uid, true);
                                label(out, "probe_type", probe_kind_name((probe_kind)k), true);
                                label(out, "result", results[res], false);
                                kn_buf_printf(out, "} %llu\n", (unsigned long long)c->counts[k][res]);
                        }
                }
        pthread_mutex_unlock(&p->lock);
}
