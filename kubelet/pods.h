/* SPDX-License-Identifier: Apache-2.0 */
/* Pod lifecycle: the pod manager (pods.c), one worker thread per pod that reconciles
 * the API's wish with what CRI reports (podsync.c), the status it reports (podstatus.c).
 *
 *   pod informer ──> manager table (uid -> kubelet_pod) ──wake──> pod worker
 *   PLEG relist (1 s) ──wake on change──┘      probes ──wake──┘
 *   pod worker: runtime view (CRI lists) -> actions (sandbox, pull, create, start, kill)
 *               -> status -> status manager thread -> PATCH pods/NAME/status
 */
#ifndef KUBELET_PODS_H
#define KUBELET_PODS_H

#include "../core/hashmap.h"
#include "cgroups.h"
#include "internal.h"
#include "probes.h"
#include "server.h"
#include "volumes.h"

/* What CRI says about one pod. */
typedef struct rt_container {
        char *id, *sandbox_id, *name, *image, *image_ref, *reason, *message, *hash, *term_path, *term_policy;
        int state; /* CONTAINER_CREATED 0, CONTAINER_RUNNING 1, CONTAINER_EXITED 2, CONTAINER_UNKNOWN 3 */
        uint32_t attempt;
        int restart_count;
        int64_t created_ns, started_ns, finished_ns;
        int exit_code;
} rt_container;

typedef struct rt_sandbox {
        char *id;
        uint32_t attempt;
        bool ready;
        int64_t created_ns;
        char ip[64], ip6[64];
} rt_sandbox;

typedef struct rt_pod {
        rt_sandbox *sb; /* newest first */
        size_t n_sb;
        rt_container *c; /* newest first */
        size_t n_c;
} rt_pod;

enum { RT_CREATED = 0, RT_RUNNING = 1, RT_EXITED = 2, RT_UNKNOWN = 3 };

/* Per container name, kept by the worker across syncs. */
typedef struct cstate {
        char *name;
        int64_t backoff_until; /* monotonic ms; a restart waits until then */
        int64_t backoff_ms;
        char *waiting_reason, *waiting_message; /* why it is not running (last failed start) */
        char *started_id; /* the container whose postStart/probes were set up */
        bool image_backoff;
        int64_t pull_failed_at; /* monotonic ms of the last failed pull */
} cstate;

/* Threads posting pod statuses and events: a burst of pod starts is reported in parallel. */
#define KUBELET_STATUS_THREADS 3

typedef struct kubelet_pod {
        struct kubelet_pod *next;
        char *uid, *ns, *name;
        kubelet_pods *mgr;

        /* guarded by the manager's lock */
        cJSON *pod;   /* the latest object from the API; NULL once gone from it */
        bool gone;    /* deleted from the API (or never seen there: an orphan) */
        bool wake, stop, finished;
        bool running;    /* a worker thread runs for it (detached; it parks when idle) */
        int64_t next_ms; /* monotonic ms of its next timed sync; 0 = none yet */
        pthread_cond_t cond;
        cJSON *status;        /* the status to report, set by the worker */
        bool status_dirty, want_delete;
        bool status_busy;     /* the status thread is using it without the lock */

        /* worker-private */
        cstate *cs;
        size_t n_cs;
        int64_t start_time_ms; /* wall clock */
        char *sandbox_id;
        cJSON *sandbox_config;
        char pod_ip[64], pod_ip6[64];
        bool killed;           /* every container and the sandbox stopped */
        bool deadline_exceeded; /* activeDeadlineSeconds passed: the pod fails */
        char *rejected_reason, *rejected_message; /* refused at admission: Failed, never run */
        bool admitted;         /* admitted, or found running (guarded by the manager's lock) */
        int64_t kill_deadline_ms; /* monotonic end of the kill in progress, 0: none (the lock's) */
        bool volumes_ready;
        char *volume_error;

        /* static pods (staticpods.c), under the manager's lock */
        bool is_static;          /* from a manifest in staticPodPath, not from the API */
        char *mirror_uid;        /* its mirror pod in the API, where its status goes; NULL: none */
        int64_t mirror_tried_ms; /* monotonic: the last attempt to create the mirror */
} kubelet_pod;

struct kubelet_pods {
        kubelet *k;
        pthread_mutex_t lock;
        pthread_cond_t status_cond, pleg_cond, workers_cond;
        pthread_cond_t kill_cond;  /* kill jobs done, or a kill deadline moved closer */
        size_t n_workers;          /* worker threads running; stop waits for none */
        kubelet_pod *pods;
        bool stop, status_kick;
        pthread_t pleg_thread, status_threads[KUBELET_STATUS_THREADS];
        size_t n_status_threads;
        bool threads_running;
        kn_hashmap fingerprints;   /* uid -> struct fingerprint (the PLEG thread's, under the lock) */
        kubelet_volumes *volumes;
        kubelet_probes *probes;
        kubelet_cgroups *cgroups;
        pthread_mutex_t pull_lock; /* serializeImagePulls */
        cJSON *events;             /* Events waiting for the status thread to post them */
        kn_hashmap log_paths;      /* container ID -> its log path (the PLEG thread's) */
};

int kubelet_pods_start(kubelet *k);
/* The pods for the kubelet API (/pods, name -> UID), from the manager's copies. */
kubelet_pod_source kubelet_pods_source(kubelet *k);
void kubelet_pods_stop(kubelet *k);

/* Wake a pod's worker (any thread; takes the manager lock). */
void kubelet_pod_wake(kubelet_pods *m, const char *uid);

/* podsync.c: one reconcile pass of a pod, on its worker thread. Returns the delay in ms
 * until it wants to run again (backoffs, pending work), or -1 for "on events only". */
int64_t kubelet_pod_sync(kubelet *k, kubelet_pod *p);

/* podstatus.c */
int kubelet_runtime_pod(kubelet *k, const char *uid, rt_pod *ret);
void kubelet_runtime_pod_free(rt_pod *rp);
cJSON *kubelet_pod_status(kubelet *k, kubelet_pod *p, const cJSON *pod, const rt_pod *rp);
cstate *kubelet_cstate(kubelet_pod *p, const char *name);
void kubelet_cstate_waiting(cstate *cs, const char *reason, const char *message);
/* Hand the worker's status to the status thread. */
void kubelet_pod_set_status(kubelet_pods *m, kubelet_pod *p, cJSON *status);
void *kubelet_status_thread(void *arg);
/* Queue a core/v1 Event about POD (the status thread posts it; bounded, dropped when full). */
/* DELETE pod NS/NAME at once (grace 0), provided it still has UID: -ENOENT gone, -EBUSY
 * another pod of that name. */
int kubelet_delete_pod_now(kubelet *k, const char *ns, const char *name, const char *uid, kn_api_error *aerr);
void kubelet_event(kubelet_pods *m, const cJSON *pod, const char *type, const char *reason, const char *fmt, ...)
        KN_PRINTF(5, 6);

/* podimage.c: the pull policy the API server gives a container with IMAGE and none:
 * Always for :latest or no tag (unless by digest), else IfNotPresent. */
const char *kubelet_default_pull_policy(const char *image);
/* podimage.c: make IMAGE present per the container's pull policy; *RET_REF is the image
 * reference to create the container from. Errors carry upstream's waiting reason in
 * *RET_REASON (ErrImagePull, ImagePullBackOff, ErrImageNeverPull, InvalidImageName). */
int kubelet_ensure_image(kubelet *k, kubelet_pod *p, const cJSON *pod, const cJSON *container, cstate *cs,
                         char **ret_ref, int64_t *ret_uid, char **ret_user, const char **ret_reason, kn_error *err);
/* Run a lifecycle handler (exec, httpGet, sleep) within TIMEOUT_S seconds. */
int kubelet_run_handler(kubelet *k, kubelet_pod *p, const cJSON *pod, const char *pod_ip, const cJSON *container,
                        const char *container_id, const cJSON *handler, int64_t timeout_s, kn_error *err);

/* ---- static pods (staticpods.c) ---- */

typedef struct kubelet_static kubelet_static;

/* A static pod as the static thread sees it (a copy). */
typedef struct kubelet_static_pod {
        char *uid, *ns, *name;
        cJSON *pod;
        char *mirror_uid; /* set by the caller */
        int64_t mirror_tried_ms;
        bool has_mirror;
} kubelet_static_pod;

/* Read staticPodPath (before the first relist) and start the thread that keeps reading it
 * and keeps the mirror pods; nothing without staticPodPath. */
int kubelet_static_start(kubelet *k);
void kubelet_static_stop(kubelet *k);
/* One manifest's pod for NODE: parsed (YAML or JSON), checked, defaulted as the API
 * server would, named NAME-NODE, with upstream's file-source annotations and a UID hashed
 * from node, path and content. */
int kubelet_static_manifest_pod(const char *node, const char *path, const char *data, size_t len, cJSON **ret,
                                kn_error *err);
/* A mirror pod seen by the pod informer (never run as a pod of its own). */
void kubelet_static_mirror(kubelet *k, const cJSON *obj, bool deleted);

/* pods.c, for staticpods.c: the manifests' pods, whole (the others go); the live ones; */
void kubelet_pods_static_set(kubelet *k, cJSON *const *pods, size_t n);
size_t kubelet_pods_static_list(kubelet *k, kubelet_static_pod **ret);
void kubelet_static_pods_free(kubelet_static_pod *sp, size_t n);
/* a static pod's mirror (NULL: none; a new one has the status posted again); */
void kubelet_pods_static_mirror_set(kubelet *k, const char *uid, const char *mirror_uid);
void kubelet_pods_static_mirror_tried(kubelet *k, const char *uid, int64_t now_ms);

#endif
