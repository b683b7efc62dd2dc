/* SPDX-License-Identifier: Apache-2.0 */
/* List/watch informers: one thread per informer keeps a local cache of one resource
 * in step with the API server and calls handlers on changes. */
#ifndef KN_INFORMER_H
#define KN_INFORMER_H

#include <cjson/cJSON.h>

#include "api.h"

typedef struct kn_informer kn_informer;

/* Handlers run on the informer's thread, one call at a time, with no lock of the
 * informer held: a handler may read the cache (get, count, foreach) and stats and add
 * handlers, on this informer or any other. It must not block for long and must not wait
 * for its own informer (kn_informer_wait_synced, _stop, _free wait for the thread it
 * runs on); so, too, whoever stops or frees an informer must not hold a lock its
 * handlers take. Objects are valid only during the call (copy what you keep). OLD is
 * NULL in keys-only mode.
 *
 * Whenever a handler is added (before the start, during a list, between list pages,
 * during a watch, after the sync), it sees every object exactly once as an add, then
 * on_synced exactly once (as soon as the informer has synced), then every later change;
 * its adds, updates and deletes always describe the cache as it is. */
typedef struct kn_informer_handlers {
        void (*on_add)(void *userdata, const cJSON *obj);
        void (*on_update)(void *userdata, const cJSON *old, const cJSON *obj);
        void (*on_delete)(void *userdata, const cJSON *obj);
        void (*on_synced)(void *userdata); /* after the first complete list */
        void *userdata;
} kn_informer_handlers;

typedef struct kn_informer_opts {
        const char *label_selector;
        const char *field_selector;
        long page_size;          /* list paging; 0 = 500 */
        long watch_timeout_s;    /* server-side watch timeout; 0 = random 5-10 min */
        bool keys_only;          /* keep only keys + resourceVersions, not objects (memory) */
        /* Optional: trim an object before it is cached or handed out (drop managedFields…). */
        void (*transform)(cJSON *obj);
        size_t max_objects;      /* refuse lists larger than this; 0 = 1,000,000 */
        /* Ask for Kubernetes protobuf (lists and watches), decoded to the JSON shape; a
         * server answering JSON is still understood. Only kinds core/kpb knows: Service,
         * EndpointSlice (others fail with -EBADMSG). */
        bool protobuf;
        /* Back-off after failures: doubles from backoff_initial_ms (0 = 800 ms) up to
         * backoff_max_ms (0 = 30 s), plus jitter of up to the same again; a list that
         * succeeds, or a watch that ends after events, starts it over. A refused
         * connection is retried within 1 s (plus jitter) instead, without raising it. */
        long backoff_initial_ms, backoff_max_ms;
} kn_informer_opts;

int kn_informer_new(kn_api *api, const char *group_version, const char *resource, const char *ns,
                    const kn_informer_opts *opts, kn_informer **ret);
/* Handlers may be added at any time, from any thread, also from a handler. This only
 * queues H and never calls it: the informer thread brings H up to date at its next step
 * (when it starts, at the end of a running list, within about a second during a watch,
 * at once during a back-off) by handing it the cached objects as adds. A keys-only
 * informer has no objects to hand out: a handler added while its cache is not empty gets
 * them from a fresh list (a running watch is ended for it), and only the new handler
 * sees the objects that list finds unchanged. Handlers are never removed; those added
 * to a stopped informer are never called. */
void kn_informer_add_handlers(kn_informer *inf, const kn_informer_handlers *h);
int kn_informer_start(kn_informer *inf); /* idempotent */
void kn_informer_stop(kn_informer *inf); /* joins the thread */
void kn_informer_free(kn_informer *inf);

bool kn_informer_synced(kn_informer *inf);
/* Wait for the first sync; returns -ETIMEDOUT or 0. timeout_ms < 0 waits forever. */
int kn_informer_wait_synced(kn_informer *inf, long timeout_ms);

/* Reads from the cache (thread-safe). get returns a copy the caller frees. */
cJSON *kn_informer_get(kn_informer *inf, const char *ns, const char *name);
size_t kn_informer_count(kn_informer *inf);
/* Visit every cached object under the cache's read lock; stop when cb returns non-zero. */
void kn_informer_foreach(kn_informer *inf, int (*cb)(void *userdata, const char *key, const cJSON *obj),
                         void *userdata);
/* Statistics for tests and metrics. */
typedef struct kn_informer_stats {
        unsigned long lists, list_errors, watches, relists_gone, watch_errors, events;
        long backoff_ms; /* base of the latest back-off wait (0: none yet) */
        char resource_version[64];
} kn_informer_stats;
void kn_informer_get_stats(kn_informer *inf, kn_informer_stats *ret);
const char *kn_informer_resource(const kn_informer *inf);

/* Shared informers: one per (resource, namespace, selectors) per process, so `knode all`
 * runs one Node informer for both applets. */
typedef struct kn_informers kn_informers;
kn_informers *kn_informers_new(kn_api *api);
kn_informer *kn_informers_get(kn_informers *f, const char *group_version, const char *resource, const char *ns,
                              const kn_informer_opts *opts);
void kn_informers_free(kn_informers *f); /* stops and frees all */

#endif
