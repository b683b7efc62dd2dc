/* SPDX-License-Identifier: Apache-2.0 */
/* The pod manager: a table of the pods this kubelet knows (from the API, or found in
 * the runtime), one worker thread per pod while it has work, the PLEG relist that wakes
 * workers when CRI state changes, and the status thread. A pod's worker is the only
 * thread that acts on that pod, so one slow pod (an image pull, a long grace period) never
 * holds up another. A worker with nothing to do for a while exits (its stack and its
 * malloc cache go back) and is started again when the pod is woken or its next timed
 * sync is due (the PLEG thread checks every second). */
#include <stdio.h>

#include "../runtime/msgjson.h"
#include "logs.h"
#include "podconfig.h"
#include "pods.h"

#define PLEG_PERIOD_MS 1000
#define WORKER_STACK (256 * 1024)
#define PARK_AFTER_MS 3000 /* a worker whose next sync is further away than this exits */
#define LOG_ROTATION_MS 10000
#define TRIM_MIN_GROWTH (512 * 1024)
#define MIN_KILL_GRACE_S 2

static kubelet_pod *find_locked(kubelet_pods *m, const char *uid)
{
        for (kubelet_pod *p = m->pods; p; p = p->next)
                if (!strcmp(p->uid, uid))
                        return p;
        return NULL;
}

static void pod_free(kubelet_pod *p)
{
        cJSON_Delete(p->pod);
        cJSON_Delete(p->status);
        cJSON_Delete(p->sandbox_config);
        for (size_t i = 0; i < p->n_cs; i++) {
                free(p->cs[i].name);
                free(p->cs[i].waiting_reason);
                free(p->cs[i].waiting_message);
                free(p->cs[i].started_id);
        }
        free(p->cs);
        free(p->sandbox_id);
        free(p->volume_error);
        free(p->rejected_reason);
        free(p->rejected_message);
        free(p->mirror_uid);
        pthread_cond_destroy(&p->cond);
        free(p->uid);
        free(p->ns);
        free(p->name);
        free(p);
}

/* ---- the worker ---- */

static void *worker(void *arg)
{
        kubelet_pod *p = arg;
        kubelet_pods *m = p->mgr;
        kubelet *k = m->k;

        pthread_mutex_lock(&m->lock);
        while (!p->stop && !p->finished) {
                int64_t now = kn_now_ms(), delay;
                if (!p->wake && p->next_ms && now < p->next_ms) {
                        struct timespec ts;
                        if (p->next_ms - now > PARK_AFTER_MS)
                                break; /* park: the PLEG thread starts a worker when it is due */
                        ts = kn_deadline((long)(p->next_ms - now));
                        pthread_cond_timedwait(&p->cond, &m->lock, &ts);
                        continue;
                }
                p->wake = false;
                pthread_mutex_unlock(&m->lock);
                delay = kubelet_pod_sync(k, p);
                pthread_mutex_lock(&m->lock);
                /* resync at least every syncFrequency plus up to half of it, as upstream
                 * (jitter 0.5): pods started together do not all sync together again */
                if (delay < 0 || delay > k->cfg.sync_frequency) {
                        uint64_t half = (uint64_t)k->cfg.sync_frequency / 2 + 1;
                        delay = k->cfg.sync_frequency + (int64_t)(kn_random() % half);
                }
                p->next_ms = kn_now_ms() + (delay > 0 ? delay : 1);
        }
        /* nothing touches P after the unlock: reap_finished may free it */
        p->running = false;
        if (--m->n_workers == 0)
                pthread_cond_broadcast(&m->workers_cond);
        pthread_mutex_unlock(&m->lock);
        return NULL;
}

/* Start P's worker unless it runs (or the manager stops). Called with the lock held. */
static void start_worker_locked(kubelet_pods *m, kubelet_pod *p)
{
        pthread_attr_t attr;
        pthread_t t;

        if (p->running || p->finished || m->stop)
                return;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, WORKER_STACK);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, worker, p) == 0) {
                p->running = true;
                m->n_workers++;
        } else {
                kn_err("failed to start a worker for pod %s/%s, will retry", p->ns, p->name);
                p->next_ms = kn_now_ms() + PLEG_PERIOD_MS; /* the PLEG thread tries again */
        }
        pthread_attr_destroy(&attr);
}

/* Wake P's worker, starting one if it is parked. Called with the lock held. */
static void wake_locked(kubelet_pods *m, kubelet_pod *p)
{
        p->wake = true;
        if (p->running)
                pthread_cond_signal(&p->cond);
        else
                start_worker_locked(m, p);
}

/* Make (or find) the table entry for UID and start its worker. Called with the lock held. */
static kubelet_pod *ensure_locked(kubelet_pods *m, const char *uid, const char *ns, const char *name)
{
        kubelet_pod *p = find_locked(m, uid);
        pthread_condattr_t ca;

        if (p)
                return p;
        p = kn_calloc(1, sizeof(*p));
        p->uid = kn_strdup(uid);
        p->ns = kn_strdup(ns ? ns : "");
        p->name = kn_strdup(name ? name : "");
        p->mgr = m;
        p->start_time_ms = kn_wall_ms();
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&p->cond, &ca);
        pthread_condattr_destroy(&ca);
        p->next = m->pods;
        m->pods = p;
        wake_locked(m, p);
        return p;
}

void kubelet_pod_wake(kubelet_pods *m, const char *uid)
{
        kubelet_pod *p;

        pthread_mutex_lock(&m->lock);
        p = find_locked(m, uid);
        if (p)
                wake_locked(m, p);
        pthread_mutex_unlock(&m->lock);
}

/* Free the pods that are finished (gone everywhere) once their worker has exited, and
 * start the parked workers whose timed sync is due. */
static void reap_and_resume(kubelet_pods *m)
{
        kubelet_pod *done = NULL;
        int64_t now = kn_now_ms();

        pthread_mutex_lock(&m->lock);
        for (kubelet_pod **pp = &m->pods; *pp;) {
                kubelet_pod *p = *pp;
                if (p->finished && !p->running && !p->status_dirty && !p->want_delete && !p->status_busy) {
                        *pp = p->next;
                        p->next = done;
                        done = p;
                } else {
                        if (!p->running && !p->finished && p->next_ms && now >= p->next_ms)
                                wake_locked(m, p);
                        pp = &p->next;
                }
        }
        pthread_mutex_unlock(&m->lock);
        while (done) {
                kubelet_pod *p = done;
                done = p->next;
                kn_v(3, "pod %s/%s (%s): finished", p->ns, p->name, p->uid);
                pod_free(p);
        }
}

/* ---- informer handlers ---- */

/* The pod was deleted again with a shorter grace period (or force deleted): a kill in
 * progress ends sooner (never sooner than upstream's minimum of 2 s). Called with the lock held. */
static void shorten_kill_locked(kubelet_pods *m, kubelet_pod *p, int64_t grace_s)
{
        int64_t deadline = kn_now_ms() + (grace_s > MIN_KILL_GRACE_S ? grace_s : MIN_KILL_GRACE_S) * 1000;

        if (p->kill_deadline_ms && deadline < p->kill_deadline_ms) {
                p->kill_deadline_ms = deadline;
                pthread_cond_broadcast(&m->kill_cond);
        }
}

static bool is_mirror(const cJSON *obj)
{
        return cJSON_GetObjectItemCaseSensitive(kn_json_path(obj, "metadata.annotations"),
                                                "kubernetes.io/config.mirror") != NULL;
}

static void pod_upsert(void *u, const cJSON *obj)
{
        kubelet *k = u;
        kubelet_pods *m = k->pods;
        const char *uid = kubelet_pod_str(obj, "metadata.uid");
        kubelet_pod *p;

        if (!uid)
                return;
        if (is_mirror(obj)) { /* a static pod's face in the API: its pod runs from the file */
                kubelet_static_mirror(k, obj, false);
                return;
        }
        pthread_mutex_lock(&m->lock);
        p = ensure_locked(m, uid, kubelet_pod_str(obj, "metadata.namespace"), kubelet_pod_str(obj, "metadata.name"));
        if (p) {
                const cJSON *g = kn_json_path(obj, "metadata.deletionGracePeriodSeconds");
                cJSON_Delete(p->pod);
                p->pod = cJSON_Duplicate(obj, true);
                p->gone = false;
                if (cJSON_IsNumber(g))
                        shorten_kill_locked(m, p, (int64_t)g->valuedouble);
                wake_locked(m, p);
        }
        pthread_mutex_unlock(&m->lock);
}

static void pod_added(void *u, const cJSON *obj) { pod_upsert(u, obj); }
static void pod_updated(void *u, const cJSON *old, const cJSON *obj)
{
        (void)old;
        pod_upsert(u, obj);
}

/* The pod named NS/NAME that is not gone (the informer names a pod it dropped during a
 * relist by key only). Called with the lock held. */
static kubelet_pod *find_name_locked(kubelet_pods *m, const char *ns, const char *name)
{
        for (kubelet_pod *p = m->pods; p; p = p->next)
                if (!p->gone && p->pod && kn_streq(p->ns, ns ? ns : "") && kn_streq(p->name, name))
                        return p;
        return NULL;
}

static void pod_deleted(void *u, const cJSON *obj)
{
        kubelet *k = u;
        kubelet_pods *m = k->pods;
        const char *uid = kubelet_pod_str(obj, "metadata.uid");
        kubelet_pod *p;

        if (is_mirror(obj)) {
                kubelet_static_mirror(k, obj, true);
                return;
        }
        pthread_mutex_lock(&m->lock);
        p = uid ? find_locked(m, uid)
                : find_name_locked(m, kubelet_pod_str(obj, "metadata.namespace"), kubelet_pod_str(obj, "metadata.name"));
        if (!p || p->is_static) {
                /* not ours, or named by key only: perhaps a mirror pod; never a static pod */
                pthread_mutex_unlock(&m->lock);
                kubelet_static_mirror(k, obj, true);
                return;
        }
        p->gone = true;
        p->want_delete = false;
        shorten_kill_locked(m, p, 0);
        wake_locked(m, p);
        pthread_mutex_unlock(&m->lock);
}

/* ---- static pods: what staticpods.c reads from staticPodPath ---- */

void kubelet_pods_static_set(kubelet *k, cJSON *const *pods, size_t n)
{
        kubelet_pods *m = k->pods;

        pthread_mutex_lock(&m->lock);
        for (kubelet_pod *p = m->pods; p; p = p->next) {
                bool listed = false;
                if (!p->is_static || p->gone)
                        continue;
                for (size_t i = 0; i < n && !listed; i++)
                        listed = kn_streq(p->uid, kubelet_pod_str(pods[i], "metadata.uid"));
                if (!listed) { /* its manifest went (or changed, and with it the UID) */
                        kn_info("static pod %s/%s (%s) removed from %s", p->ns, p->name, p->uid,
                                k->cfg.static_pod_path);
                        p->gone = true;
                        wake_locked(m, p);
                }
        }
        for (size_t i = 0; i < n; i++) {
                const char *uid = kubelet_pod_str(pods[i], "metadata.uid");
                kubelet_pod *p = find_locked(m, uid);
                if (p && !p->is_static)
                        continue; /* a UID of the API's: not a manifest's (a 128-bit hash) */
                if (!p) {
                        p = ensure_locked(m, uid, kubelet_pod_str(pods[i], "metadata.namespace"),
                                          kubelet_pod_str(pods[i], "metadata.name"));
                        kn_info("static pod %s/%s (%s) from %s", p->ns, p->name, uid, k->cfg.static_pod_path);
                }
                p->is_static = true;
                if (!p->pod || p->gone) {
                        cJSON_Delete(p->pod);
                        p->pod = cJSON_Duplicate(pods[i], true);
                        p->gone = false;
                        wake_locked(m, p);
                }
        }
        pthread_mutex_unlock(&m->lock);
}

size_t kubelet_pods_static_list(kubelet *k, kubelet_static_pod **ret)
{
        kubelet_pods *m = k->pods;
        kubelet_static_pod *sp = NULL;
        size_t n = 0, cap = 0;

        pthread_mutex_lock(&m->lock);
        for (kubelet_pod *p = m->pods; p; p = p->next) {
                if (!p->is_static || p->gone || !p->pod)
                        continue;
                if (n == cap)
                        sp = kn_realloc(sp, (cap = cap ? 2 * cap : 8) * sizeof(*sp));
                sp[n++] = (kubelet_static_pod){.uid = kn_strdup(p->uid), .ns = kn_strdup(p->ns),
                                               .name = kn_strdup(p->name), .pod = cJSON_Duplicate(p->pod, true),
                                               .mirror_tried_ms = p->mirror_tried_ms};
        }
        pthread_mutex_unlock(&m->lock);
        *ret = sp;
        return n;
}

void kubelet_static_pods_free(kubelet_static_pod *sp, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(sp[i].uid);
                free(sp[i].ns);
                free(sp[i].name);
                free(sp[i].mirror_uid);
                cJSON_Delete(sp[i].pod);
        }
        free(sp);
}

void kubelet_pods_static_mirror_set(kubelet *k, const char *uid, const char *mirror_uid)
{
        kubelet_pods *m = k->pods;
        kubelet_pod *p;

        pthread_mutex_lock(&m->lock);
        p = find_locked(m, uid);
        if (p && p->is_static && !kn_streq(p->mirror_uid, mirror_uid)) {
                free(p->mirror_uid);
                p->mirror_uid = kn_strdup(mirror_uid);
                if (mirror_uid && p->status) { /* a new mirror starts Pending: report */
                        p->status_dirty = true;
                        m->status_kick = true;
                        pthread_cond_signal(&m->status_cond);
                }
        }
        pthread_mutex_unlock(&m->lock);
}

void kubelet_pods_static_mirror_tried(kubelet *k, const char *uid, int64_t now_ms)
{
        kubelet_pods *m = k->pods;
        kubelet_pod *p;

        pthread_mutex_lock(&m->lock);
        p = find_locked(m, uid);
        if (p)
                p->mirror_tried_ms = now_ms;
        pthread_mutex_unlock(&m->lock);
}

/* ---- the pods as the kubelet API shows them ---- */

static cJSON *source_get(void *u, const char *ns, const char *name)
{
        kubelet_pods *m = ((kubelet *)u)->pods;
        cJSON *copy = NULL;
        kubelet_pod *p;

        if (!m)
                return NULL;
        pthread_mutex_lock(&m->lock);
        p = find_name_locked(m, ns, name);
        if (p)
                copy = cJSON_Duplicate(p->pod, true);
        pthread_mutex_unlock(&m->lock);
        return copy;
}

static void source_foreach(void *u, void (*fn)(const cJSON *pod, void *arg), void *arg)
{
        kubelet_pods *m = ((kubelet *)u)->pods;

        if (!m)
                return;
        pthread_mutex_lock(&m->lock);
        for (kubelet_pod *p = m->pods; p; p = p->next)
                if (!p->gone && p->pod)
                        fn(p->pod, arg);
        pthread_mutex_unlock(&m->lock);
}

kubelet_pod_source kubelet_pods_source(kubelet *k)
{
        return (kubelet_pod_source){.get = source_get, .foreach = source_foreach, .userdata = k};
}

/* ---- PLEG: relist every second, wake the workers of pods whose CRI state changed ---- */

/* A pod's fingerprint in the runtime: an order-independent sum of hashes of its
 * sandboxes' and containers' IDs and states. */
struct fingerprint {
        uint64_t h;
        char *ns, *name;
};

static void fingerprint_free(void *v)
{
        struct fingerprint *f = v;
        if (!f)
                return;
        free(f->ns);
        free(f->name);
        free(f);
}

static const char *sandbox_label(const Runtime__V1__PodSandbox *sb, const char *key)
{
        for (size_t i = 0; i < sb->n_labels; i++)
                if (sb->labels[i]->key && !strcmp(sb->labels[i]->key, key))
                        return sb->labels[i]->value;
        return NULL;
}

static const char *container_label(const Runtime__V1__Container *c, const char *key)
{
        for (size_t i = 0; i < c->n_labels; i++)
                if (c->labels[i]->key && !strcmp(c->labels[i]->key, key))
                        return c->labels[i]->value;
        return NULL;
}

static void fingerprint_add(kn_hashmap *fps, const char *uid, const char *ns, const char *name, const char *id,
                            int state)
{
        struct fingerprint *f;
        char buf[256];

        if (!uid)
                return;
        f = kn_hashmap_get(fps, uid);
        if (!f) {
                f = kn_calloc(1, sizeof(*f));
                f->ns = kn_strdup(ns ? ns : "");
                f->name = kn_strdup(name ? name : "");
                kn_hashmap_put(fps, uid, f, NULL);
        }
        snprintf(buf, sizeof(buf), "%s/%d", id ? id : "", state);
        f->h += kn_fnv1a64(buf);
}

static void relist(kubelet *k)
{
        kubelet_pods *m = k->pods;
        Runtime__V1__ListPodSandboxRequest sreq = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__ListContainersRequest creq = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        _cleanup_cri_msg_ Runtime__V1__ListPodSandboxResponse *sbs = NULL;
        _cleanup_cri_msg_ Runtime__V1__ListContainersResponse *cs = NULL;
        kn_hashmap fps = {0};
        const char *uid;
        void *v;
        kn_error err;
        bool synced = kn_informer_synced(k->pod_informer);

        if (cri_list_pod_sandbox(k->cri, &sreq, 10000, &sbs, &err) < 0 ||
            cri_list_containers(k->cri, &creq, 10000, &cs, &err) < 0) {
                kn_v(2, "PLEG relist failed: %s", err.msg);
                return;
        }
        for (size_t i = 0; i < sbs->n_items; i++) {
                const Runtime__V1__PodSandbox *sb = sbs->items[i];
                fingerprint_add(&fps, sandbox_label(sb, "io.kubernetes.pod.uid"),
                                sandbox_label(sb, "io.kubernetes.pod.namespace"),
                                sandbox_label(sb, "io.kubernetes.pod.name"), sb->id, sb->state);
        }
        for (size_t i = 0; i < cs->n_containers; i++) {
                const Runtime__V1__Container *c = cs->containers[i];
                fingerprint_add(&fps, container_label(c, "io.kubernetes.pod.uid"),
                                container_label(c, "io.kubernetes.pod.namespace"),
                                container_label(c, "io.kubernetes.pod.name"), c->id, c->state);
        }
        pthread_mutex_lock(&m->lock);
        for (size_t it = 0; kn_hashmap_next(&fps, &it, &uid, &v);) {
                struct fingerprint *f = v, *old = kn_hashmap_get(&m->fingerprints, uid);
                kubelet_pod *p = find_locked(m, uid);
                if (!p && synced) {
                        /* in the runtime but not in the API: an orphan to clean up */
                        p = ensure_locked(m, uid, f->ns, f->name);
                        if (p)
                                p->gone = true;
                }
                if (p && (!old || old->h != f->h))
                        wake_locked(m, p);
        }
        /* pods whose last sandbox or container vanished */
        for (size_t it = 0; kn_hashmap_next(&m->fingerprints, &it, &uid, &v);) {
                if (!kn_hashmap_get(&fps, uid)) {
                        kubelet_pod *p = find_locked(m, uid);
                        if (p)
                                wake_locked(m, p);
                }
        }
        kn_hashmap_clear(&m->fingerprints, fingerprint_free);
        m->fingerprints = fps;
        pthread_mutex_unlock(&m->lock);
}

static void *pleg_thread(void *arg)
{
        kubelet *k = arg;
        kubelet_pods *m = k->pods;
        int64_t next_rotation = 0;

        pthread_mutex_lock(&m->lock);
        while (!m->stop) {
                struct timespec ts;
                pthread_mutex_unlock(&m->lock);
                relist(k);
                reap_and_resume(m);
                /* the container log manager's pass, every 10 s as upstream */
                if (kn_now_ms() >= next_rotation) {
                        kubelet_logs_rotate_all(k->cri, &m->log_paths, k->log_max_size,
                                                (int)k->cfg.container_log_max_files);
                        next_rotation = kn_now_ms() + LOG_ROTATION_MS;
                        /* after a burst (pods started, a big list) the heap keeps free pages */
                        kn_malloc_trim(TRIM_MIN_GROWTH);
                }
                pthread_mutex_lock(&m->lock);
                ts = kn_deadline(PLEG_PERIOD_MS);
                if (!m->stop)
                        pthread_cond_timedwait(&m->pleg_cond, &m->lock, &ts);
        }
        pthread_mutex_unlock(&m->lock);
        return NULL;
}

/* An Event about pod UID, built from the manager's copy of its metadata. */
static void pod_event(kubelet *k, const char *uid, const char *type, const char *reason, const char *msg)
{
        _cleanup_cjson_ cJSON *wrap = cJSON_CreateObject();
        cJSON *meta = NULL;
        kubelet_pod *p;

        pthread_mutex_lock(&k->pods->lock);
        p = find_locked(k->pods, uid);
        if (p && p->pod)
                meta = cJSON_Duplicate(cJSON_GetObjectItem(p->pod, "metadata"), true);
        pthread_mutex_unlock(&k->pods->lock);
        if (!meta)
                return;
        cJSON_AddItemToObject(wrap, "metadata", meta);
        kubelet_event(k->pods, wrap, type, reason, "%s", msg);
}

static void probe_warning(void *ud, const char *pod_uid, const char *container, probe_kind kind, const char *msg)
{
        _cleanup_free_ char *text = kn_asprintf("%s probe warning: %s", probe_kind_name(kind), msg);

        (void)container;
        pod_event(ud, pod_uid, "Warning", "ProbeWarning", text);
}

static void probe_changed(void *ud, const char *pod_uid, const char *container, const char *container_id,
                          probe_kind kind, probe_result r)
{
        kubelet *k = ud;

        kn_v(3, "pod %s container %s (%s): %s probe %s", pod_uid, container, container_id, probe_kind_name(kind),
             probe_result_name(r));
        if (r == PROBE_FAILURE) {
                _cleanup_free_ char *text = kn_asprintf("%s probe failed for container %s", probe_kind_name(kind),
                                                        container);
                pod_event(k, pod_uid, "Warning", "Unhealthy", text);
        }
        kubelet_pod_wake(k->pods, pod_uid);
}

void kubelet_pods_node_allocatable(kubelet *k, const cJSON *allocatable)
{
        if (k->pods && k->pods->volumes && allocatable)
                kubelet_volumes_set_node_allocatable(k->pods->volumes, allocatable);
}

/* ---- start / stop ---- */

int kubelet_pods_start(kubelet *k)
{
        kubelet_pods *m = kn_calloc(1, sizeof(*m));
        pthread_condattr_t ca;
        kubelet_node_resources nr;
        kn_error err;
        int r;

        k->pods = m;
        m->k = k;
        pthread_mutex_init(&m->lock, NULL);
        pthread_mutex_init(&m->pull_lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&m->status_cond, &ca);
        pthread_cond_init(&m->pleg_cond, &ca);
        pthread_cond_init(&m->workers_cond, &ca);
        pthread_cond_init(&m->kill_cond, &ca);
        pthread_condattr_destroy(&ca);
        m->events = cJSON_CreateArray();

        r = kubelet_volumes_new(k->env->api, k->cfg.root_dir, k->node_name, &m->volumes);
        if (r < 0) {
                kn_err("failed to set up the volume manager under %s: %s", k->cfg.root_dir, strerror(-r));
                return r;
        }
        kubelet_node_resources_get(k, &nr);
        r = kubelet_cgroups_new(&k->cfg, nr.allocatable[RES_CPU], nr.allocatable[RES_MEMORY], &m->cgroups, &err);
        if (r < 0 && k->cfg.cgroups_per_qos) {
                kn_err("failed to set up the pods' cgroups: %s", err.msg);
                return r;
        }
        if (r < 0) /* cgroupsPerQOS=false: the runtime places containers itself */
                kn_warn("pod cgroups not managed: %s", err.msg);
        r = kubelet_probes_new(k->cri, probe_changed, k, &m->probes);
        if (r < 0)
                return r;
        kubelet_probes_set_warning_handler(m->probes, probe_warning);

        kn_informer_add_handlers(k->pod_informer, &(kn_informer_handlers){.on_add = pod_added,
                                                                          .on_update = pod_updated,
                                                                          .on_delete = pod_deleted,
                                                                          .userdata = k});
        r = kubelet_static_start(k); /* before the first relist finds their containers */
        if (r < 0)
                return r;
        if (pthread_create(&m->pleg_thread, NULL, pleg_thread, k) != 0)
                return -EAGAIN;
        for (size_t i = 0; i < KUBELET_STATUS_THREADS; i++) {
                if (pthread_create(&m->status_threads[i], NULL, kubelet_status_thread, k) == 0) {
                        m->n_status_threads++;
                        continue;
                }
                pthread_mutex_lock(&m->lock);
                m->stop = true;
                pthread_cond_broadcast(&m->pleg_cond);
                pthread_cond_broadcast(&m->status_cond);
                pthread_mutex_unlock(&m->lock);
                pthread_join(m->pleg_thread, NULL);
                for (size_t j = 0; j < m->n_status_threads; j++)
                        pthread_join(m->status_threads[j], NULL);
                return -EAGAIN;
        }
        m->threads_running = true;
        return 0;
}

void kubelet_pods_stop(kubelet *k)
{
        kubelet_pods *m = k->pods;

        if (!m)
                return;
        kubelet_static_stop(k); /* its thread calls in here */
        if (m->threads_running) {
                pthread_mutex_lock(&m->lock);
                m->stop = true;
                pthread_cond_broadcast(&m->pleg_cond);
                pthread_cond_broadcast(&m->status_cond);
                for (kubelet_pod *p = m->pods; p; p = p->next) {
                        p->stop = true;
                        pthread_cond_signal(&p->cond);
                }
                pthread_cond_broadcast(&m->kill_cond); /* preStop sleeps end */
                pthread_mutex_unlock(&m->lock);
                /* a worker may be inside a CRI call; cancel it so it returns promptly */
                cri_client_cancel(k->cri);
                pthread_join(m->pleg_thread, NULL);
                for (size_t i = 0; i < m->n_status_threads; i++)
                        pthread_join(m->status_threads[i], NULL);
        }
        pthread_mutex_lock(&m->lock);
        while (m->n_workers > 0)
                pthread_cond_wait(&m->workers_cond, &m->lock);
        pthread_mutex_unlock(&m->lock);
        while (m->pods) {
                kubelet_pod *p = m->pods;
                m->pods = p->next;
                pod_free(p);
        }
        kubelet_probes_free(m->probes);
        kubelet_cgroups_free(m->cgroups);
        kubelet_volumes_free(m->volumes);
        kn_hashmap_clear(&m->fingerprints, fingerprint_free);
        kn_hashmap_clear(&m->log_paths, free);
        cJSON_Delete(m->events);
        pthread_mutex_destroy(&m->lock);
        pthread_mutex_destroy(&m->pull_lock);
        pthread_cond_destroy(&m->status_cond);
        pthread_cond_destroy(&m->pleg_cond);
        pthread_cond_destroy(&m->workers_cond);
        pthread_cond_destroy(&m->kill_cond);
        free(m);
        k->pods = NULL;
}
