/* SPDX-License-Identifier: Apache-2.0 */
#include "informer.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "hashmap.h"
#include "kpb.h"
#include "log.h"
#include "watch.h"

#define BACKOFF_INITIAL_MS 800
#define BACKOFF_MAX_MS 30000
#define REFUSED_RETRY_MS 1000

/* A cache value: a struct entry, or in keys-only mode no allocation at all but a digest
 * of the object's resourceVersion in the pointer itself, tagged odd (10k keys-only
 * objects would otherwise be 10k small blocks). The resourceVersion is only compared
 * for equality (is a listed object unchanged?); a digest collision, 2^-63, would
 * skip one update on a re-list. */
struct entry {
        cJSON *obj;
        char rv[32];
};

static bool is_rv_tag(const void *v) { return (uintptr_t)v & 1; }
static void *rv_tag(const char *rv) { return (void *)(uintptr_t)(kn_fnv1a64(rv ? rv : "") | 1); }

/* The cached object of a value, NULL in keys-only mode. */
static cJSON *entry_obj(const void *v) { return v && !is_rv_tag(v) ? ((const struct entry *)v)->obj : NULL; }

static bool entry_rv_is(const void *v, const char *rv)
{
        if (!v || !rv)
                return false;
        return is_rv_tag(v) ? v == rv_tag(rv) : strcmp(((const struct entry *)v)->rv, rv) == 0;
}

struct kn_informer {
        kn_api *api;
        char *gv, *resource, *ns, *label_selector, *field_selector, *path;
        kn_informer_opts opts;

        /* Only the informer thread writes the cache (so it reads it without the lock);
         * other threads read it under the read lock. */
        pthread_rwlock_t cache_lock;
        kn_hashmap cache; /* key -> struct entry, or a tagged rv digest (keys-only) */

        /* Informer thread only: the handlers that see every event; in keys-only mode, late
         * handlers being brought up to date by a list ("fed"), and the keys they were given. */
        kn_informer_handlers *handlers;
        size_t n_handlers;
        kn_informer_handlers *feeding;
        size_t n_feeding;
        kn_hashmap fed;
        bool want_list; /* a watch was ended to list for late keys-only handlers */
        kn_watch_decoder dec;

        pthread_mutex_t mu;          /* guards what follows; with cond for waits */
        pthread_cond_t cond;
        kn_informer_handlers *pending; /* added, not yet brought up to date */
        size_t n_pending;
        unsigned long pending_gen;   /* counts kn_informer_add_handlers calls */
        bool synced, started;
        volatile int stop;
        pthread_t thread;
        char rv[64];
        kn_informer_stats stats;
};

/* STOP is set under MU, and read without it by this thread and curl's progress callback. */
static bool stopping(kn_informer *inf) { return __atomic_load_n(&inf->stop, __ATOMIC_RELAXED); }

static void entry_free(void *p)
{
        struct entry *e = p;
        if (!e || is_rv_tag(e))
                return;
        cJSON_Delete(e->obj);
        free(e);
}

int kn_informer_new(kn_api *api, const char *gv, const char *resource, const char *ns, const kn_informer_opts *opts,
                    kn_informer **ret)
{
        kn_informer *inf = kn_calloc(1, sizeof(*inf));

        inf->api = api;
        inf->gv = kn_strdup(gv);
        inf->resource = kn_strdup(resource);
        inf->ns = kn_strdup(ns);
        if (opts)
                inf->opts = *opts;
        inf->label_selector = kn_strdup(inf->opts.label_selector);
        inf->field_selector = kn_strdup(inf->opts.field_selector);
        inf->opts.label_selector = inf->label_selector;
        inf->opts.field_selector = inf->field_selector;
        if (!inf->opts.page_size)
                inf->opts.page_size = 500;
        if (!inf->opts.max_objects)
                inf->opts.max_objects = 1000000;
        if (inf->opts.backoff_initial_ms <= 0)
                inf->opts.backoff_initial_ms = BACKOFF_INITIAL_MS;
        if (inf->opts.backoff_max_ms <= 0)
                inf->opts.backoff_max_ms = BACKOFF_MAX_MS;
        if (inf->opts.backoff_max_ms < inf->opts.backoff_initial_ms)
                inf->opts.backoff_max_ms = inf->opts.backoff_initial_ms;
        inf->path = kn_api_path(gv, resource, ns, NULL, NULL);
        pthread_rwlock_init(&inf->cache_lock, NULL);
        pthread_mutex_init(&inf->mu, NULL);
        {
                pthread_condattr_t ca;
                pthread_condattr_init(&ca);
                pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
                pthread_cond_init(&inf->cond, &ca);
                pthread_condattr_destroy(&ca);
        }
        *ret = inf;
        return 0;
}

const char *kn_informer_resource(const kn_informer *inf) { return inf->resource; }

/* ---- handlers (informer thread) ---- */

enum event { EV_ADD, EV_UPDATE, EV_DELETE };

static void notify(const kn_informer_handlers *hs, size_t n, enum event ev, const cJSON *old, const cJSON *obj)
{
        for (size_t i = 0; i < n; i++) {
                const kn_informer_handlers *h = &hs[i];
                if (ev == EV_ADD && h->on_add)
                        h->on_add(h->userdata, obj);
                else if (ev == EV_UPDATE && h->on_update)
                        h->on_update(h->userdata, old, obj);
                else if (ev == EV_DELETE && h->on_delete)
                        h->on_delete(h->userdata, obj);
        }
}

static void append_handler(kn_informer_handlers **hs, size_t *n, const kn_informer_handlers *h)
{
        *hs = kn_realloc(*hs, (*n + 1) * sizeof(**hs));
        (*hs)[(*n)++] = *h;
}

/* Handlers are never called here: they are queued, and the informer thread brings each
 * up to date at its next step (serve_pending), so a handler sees the cache as a whole. */
void kn_informer_add_handlers(kn_informer *inf, const kn_informer_handlers *h)
{
        pthread_mutex_lock(&inf->mu);
        append_handler(&inf->pending, &inf->n_pending, h);
        inf->pending_gen++;
        pthread_cond_broadcast(&inf->cond);
        pthread_mutex_unlock(&inf->mu);
}

/* Bring the handlers added since the last call up to date, between two events (never
 * inside one): each is handed every cached object as an add, then on_synced if the
 * informer has synced, and from then on sees every event. A keys-only cache has no
 * objects to hand out, so there a handler joins at once only while the cache is empty;
 * otherwise it waits for a list (do_list feeds it) and this returns true. */
static bool serve_pending(kn_informer *inf)
{
        for (;;) {
                _cleanup_free_ kn_informer_handlers *hs = NULL;
                size_t n;
                bool synced;

                pthread_mutex_lock(&inf->mu);
                if (!inf->n_pending || (inf->opts.keys_only && inf->cache.len)) {
                        bool waiting = inf->n_pending > 0;
                        pthread_mutex_unlock(&inf->mu);
                        return waiting;
                }
                hs = TAKE_PTR(inf->pending);
                n = inf->n_pending;
                inf->n_pending = 0;
                synced = inf->synced;
                pthread_mutex_unlock(&inf->mu);
                for (size_t i = 0; i < n; i++) {
                        const char *key;
                        void *v;
                        if (hs[i].on_add)
                                for (size_t it = 0; kn_hashmap_next(&inf->cache, &it, &key, &v);)
                                        hs[i].on_add(hs[i].userdata, entry_obj(v));
                        if (synced && hs[i].on_synced)
                                hs[i].on_synced(hs[i].userdata);
                        append_handler(&inf->handlers, &inf->n_handlers, &hs[i]);
                }
        }
}

/* Keys-only: a list starts; the handlers waiting for one are fed it from its first item. */
static void start_feeding(kn_informer *inf)
{
        if (!inf->opts.keys_only || inf->n_feeding)
                return;
        pthread_mutex_lock(&inf->mu);
        inf->feeding = TAKE_PTR(inf->pending);
        inf->n_feeding = inf->n_pending;
        inf->n_pending = 0;
        pthread_mutex_unlock(&inf->mu);
        if (inf->n_feeding)
                kn_v(4, "%s informer: listing for %zu late handler(s)", inf->resource, inf->n_feeding);
}

/* The list went through: every cached key was fed, so the fed handlers are up to date. */
static void finish_feeding(kn_informer *inf)
{
        for (size_t i = 0; i < inf->n_feeding; i++) {
                if (inf->feeding[i].on_synced)
                        inf->feeding[i].on_synced(inf->feeding[i].userdata);
                append_handler(&inf->handlers, &inf->n_handlers, &inf->feeding[i]);
        }
        free(TAKE_PTR(inf->feeding));
        inf->n_feeding = 0;
        kn_hashmap_clear(&inf->fed, NULL);
}

/* ---- cache changes (informer thread) ---- */

static void set_rv(kn_informer *inf, const char *rv)
{
        if (!rv || strlen(rv) >= sizeof(inf->rv))
                return;
        pthread_mutex_lock(&inf->mu);
        snprintf(inf->rv, sizeof(inf->rv), "%s", rv);
        pthread_mutex_unlock(&inf->mu);
}

/* Cache OBJ under KEY and tell the handlers; takes OBJ. A listed object (LISTED) whose
 * resourceVersion is cached already is news only to a fed handler that lacks it. */
static void upsert(kn_informer *inf, const char *key, cJSON *obj, bool listed)
{
        bool changed = !listed || !entry_rv_is(kn_hashmap_get(&inf->cache, key),
                                                kn_obj_str(obj, "metadata.resourceVersion"));
        bool feed = inf->n_feeding && !kn_hashmap_get(&inf->fed, key);
        void *old = NULL;

        if (!changed && !feed) {
                cJSON_Delete(obj);
                return;
        }
        if (inf->opts.transform)
                inf->opts.transform(obj);
        if (changed) {
                const char *rv = kn_obj_str(obj, "metadata.resourceVersion");
                void *v;
                if (inf->opts.keys_only) {
                        v = rv_tag(rv);
                } else {
                        struct entry *e = kn_calloc(1, sizeof(*e));
                        snprintf(e->rv, sizeof(e->rv), "%s", rv ? rv : "");
                        e->obj = obj;
                        v = e;
                }
                pthread_rwlock_wrlock(&inf->cache_lock);
                kn_hashmap_put(&inf->cache, key, v, &old);
                pthread_rwlock_unlock(&inf->cache_lock);
                notify(inf->handlers, inf->n_handlers, old ? EV_UPDATE : EV_ADD, entry_obj(old), obj);
                if (!feed) /* fed handlers had this key: they follow like the others */
                        notify(inf->feeding, inf->n_feeding, EV_UPDATE, NULL, obj);
        }
        if (feed) {
                kn_hashmap_put(&inf->fed, key, (void *)1, NULL);
                notify(inf->feeding, inf->n_feeding, EV_ADD, NULL, obj);
        }
        if (inf->opts.keys_only)
                cJSON_Delete(obj);
        entry_free(old);
}

/* Uncache KEY; OBJ (may be NULL: the cached object, or in keys-only mode a stub naming
 * the key) is handed to the handlers that had it. */
static void uncache(kn_informer *inf, const char *key, const cJSON *obj)
{
        _cleanup_cjson_ cJSON *stub = NULL;
        void *old;

        pthread_rwlock_wrlock(&inf->cache_lock);
        old = kn_hashmap_remove(&inf->cache, key);
        pthread_rwlock_unlock(&inf->cache_lock);
        if (!old)
                return;
        if (!obj)
                obj = entry_obj(old);
        if (!obj) {
                const char *slash = strchr(key, '/');
                cJSON *md;
                stub = cJSON_CreateObject();
                md = cJSON_AddObjectToObject(stub, "metadata");
                if (slash) {
                        _cleanup_free_ char *ns = kn_strndup(key, (size_t)(slash - key));
                        cJSON_AddStringToObject(md, "namespace", ns);
                }
                cJSON_AddStringToObject(md, "name", slash ? slash + 1 : key);
                obj = stub;
        }
        notify(inf->handlers, inf->n_handlers, EV_DELETE, NULL, obj);
        if (inf->n_feeding && kn_hashmap_remove(&inf->fed, key))
                notify(inf->feeding, inf->n_feeding, EV_DELETE, NULL, obj);
        entry_free(old);
}

/* ---- list ---- */

/* Delete every cached object whose key is not in SEEN. */
static void delete_unseen(kn_informer *inf, const kn_hashmap *seen)
{
        const char *key;
        void *v;
        size_t n_gone = 0;
        char **gone = kn_calloc(inf->cache.len + 1, sizeof(char *));

        for (size_t it = 0; kn_hashmap_next(&inf->cache, &it, &key, &v);)
                if (!kn_hashmap_get(seen, key))
                        gone[n_gone++] = kn_strdup(key);
        for (size_t i = 0; i < n_gone; i++) {
                uncache(inf, gone[i], NULL);
                free(gone[i]);
        }
        free(gone);
}

struct listing {
        kn_informer *inf;
        kn_hashmap seen; /* keys listed so far -> (void *)1 */
        bool too_many;
};

/* One listed item: handed out unless its key was seen already. Takes IT. */
static int list_one(cJSON *it, void *userdata)
{
        struct listing *l = userdata;
        _cleanup_free_ char *key = kn_obj_key(it);

        if (l->seen.len >= l->inf->opts.max_objects) {
                l->too_many = true;
                cJSON_Delete(it);
                return -E2BIG;
        }
        if (!key || !cJSON_IsObject(it) || kn_hashmap_get(&l->seen, key)) {
                cJSON_Delete(it);
                return 0;
        }
        kn_hashmap_put(&l->seen, key, (void *)1, NULL);
        upsert(l->inf, key, it, true);
        return 0;
}

/* List with paging and replace the cache: each page is handed out (adds and updates)
 * and freed before the next is fetched, so memory stays at one page; what was not
 * listed at all is deleted at the end. A protobuf page is handed out item by item as
 * it is decoded, so it is held only as its encoded bytes. Late keys-only handlers are
 * fed the whole list as adds (a listed object unchanged in the cache is no event for
 * the others). */
static int do_list(kn_informer *inf)
{
        struct listing l = {.inf = inf};
        _cleanup_free_ char *cont = NULL, *rv = NULL;
        kn_api_error err;
        bool first;
        int r;

        serve_pending(inf);
        start_feeding(inf);
        for (;;) {
                _cleanup_cjson_ cJSON *list = NULL;
                kn_list_opts lo = {.label_selector = inf->label_selector,
                                   .field_selector = inf->field_selector,
                                   .limit = inf->opts.page_size,
                                   .continue_token = cont,
                                   .protobuf = inf->opts.protobuf,
                                   .on_item = list_one,
                                   .userdata = &l};
                cJSON *items, *it;
                const char *c;

                r = kn_api_list(inf->api, inf->path, &lo, &list, &err);
                if (l.too_many) {
                        kn_debug("list of %s exceeds %zu objects", inf->resource, inf->opts.max_objects);
                        kn_hashmap_clear(&l.seen, NULL);
                        return -E2BIG;
                }
                if (r == -EIDRM && cont) {
                        /* The continue token expired mid-list: start over. What was already
                         * handed out is real (newer) state, so it stays. */
                        kn_debug("list of %s: continue token expired, restarting", inf->resource);
                        free(TAKE_PTR(cont));
                        kn_hashmap_clear(&l.seen, NULL);
                        continue;
                }
                if (r < 0) {
                        kn_debug("list of %s failed: %s", inf->resource, err.e.msg);
                        kn_hashmap_clear(&l.seen, NULL);
                        return r;
                }
                items = cJSON_GetObjectItemCaseSensitive(list, "items");
                if (items && !cJSON_IsArray(items) && !cJSON_IsNull(items)) {
                        kn_hashmap_clear(&l.seen, NULL);
                        return -EBADMSG;
                }
                if (l.seen.len + (size_t)cJSON_GetArraySize(items) > inf->opts.max_objects) {
                        kn_debug("list of %s exceeds %zu objects", inf->resource, inf->opts.max_objects);
                        kn_hashmap_clear(&l.seen, NULL);
                        return -E2BIG;
                }
                while (items && (it = cJSON_DetachItemFromArray(items, 0)))
                        list_one(it, &l); /* a JSON page; the count was checked above */
                free(rv);
                rv = kn_strdup(kn_obj_str(list, "metadata.resourceVersion"));
                c = kn_obj_str(list, "metadata.continue");
                free(TAKE_PTR(cont));
                if (!c || !*c)
                        break;
                cont = kn_strdup(c);
        }

        serve_pending(inf); /* handlers added during the list: replay the listed objects */
        delete_unseen(inf, &l.seen);
        kn_hashmap_clear(&l.seen, NULL);
        set_rv(inf, rv);
        pthread_mutex_lock(&inf->mu);
        inf->stats.lists++;
        first = !inf->synced;
        inf->synced = true;
        pthread_cond_broadcast(&inf->cond);
        pthread_mutex_unlock(&inf->mu);
        if (first)
                for (size_t i = 0; i < inf->n_handlers; i++)
                        if (inf->handlers[i].on_synced)
                                inf->handlers[i].on_synced(inf->handlers[i].userdata);
        finish_feeding(inf);
        return 0;
}

/* ---- watch ---- */

static int on_event(enum kn_watch_type type, cJSON *obj, void *userdata)
{
        kn_informer *inf = userdata;
        _cleanup_free_ char *key = NULL;
        const char *rv;
        int r = 0;

        pthread_mutex_lock(&inf->mu);
        inf->stats.events++;
        pthread_mutex_unlock(&inf->mu);
        switch (type) {
        case KN_WATCH_ERROR: {
                _cleanup_free_ char *s = cJSON_PrintUnformatted(obj);
                kn_api_error err = {0};
                r = kn_api_decode_status(0, s, s ? strlen(s) : 0, &err);
                if (err.http_status == 410)
                        r = -EIDRM;
                else if (r == 0 || r == -EIO)
                        r = -EPROTO;
                kn_debug("watch of %s: error event: %s", inf->resource, err.e.msg);
                cJSON_Delete(obj);
                return r;
        }
        case KN_WATCH_BOOKMARK:
                set_rv(inf, kn_obj_str(obj, "metadata.resourceVersion"));
                cJSON_Delete(obj);
                return 0;
        default:
                break;
        }
        rv = kn_obj_str(obj, "metadata.resourceVersion");
        if (rv)
                set_rv(inf, rv);
        key = kn_obj_key(obj);
        if (!key) {
                kn_debug("ignoring %s object without metadata.name", inf->resource);
                cJSON_Delete(obj);
        } else if (type == KN_WATCH_DELETED) {
                if (inf->opts.transform)
                        inf->opts.transform(obj);
                uncache(inf, key, obj);
                cJSON_Delete(obj);
        } else {
                upsert(inf, key, obj, false);
        }
        return 0;
}

/* Called by curl at least about once a second during a watch: late handlers are brought
 * up to date now, not at the next event; for late keys-only ones, the watch ends so
 * that a list can feed them. */
static int on_tick(void *userdata)
{
        kn_informer *inf = userdata;

        if (!serve_pending(inf))
                return 0;
        inf->want_list = true;
        return 1;
}

/* The server may answer a protobuf request with JSON: decode what it sent. */
static int on_start(const char *content_type, void *userdata)
{
        kn_informer *inf = userdata;
        kn_watch_decoder_set_format(&inf->dec, kn_kpb_is_content_type(content_type) ? KN_WATCH_PROTOBUF : KN_WATCH_JSON);
        return 0;
}

static int on_data(const char *data, size_t len, void *userdata)
{
        kn_informer *inf = userdata;
        return kn_watch_decoder_feed(&inf->dec, data, len);
}

static int do_watch(kn_informer *inf)
{
        _cleanup_free_ char *q = NULL;
        char rv[64], tmo[32];
        kn_api_error err;
        kn_api_stream_opts so;
        long timeout_s;
        int r;

        pthread_mutex_lock(&inf->mu);
        snprintf(rv, sizeof(rv), "%s", inf->rv);
        inf->stats.watches++;
        pthread_mutex_unlock(&inf->mu);
        timeout_s = inf->opts.watch_timeout_s > 0 ? inf->opts.watch_timeout_s : 300 + (long)(kn_random() % 300);
        snprintf(tmo, sizeof(tmo), "%ld", timeout_s);
        q = kn_api_query(inf->path, "watch", "1", "resourceVersion", rv[0] ? rv : NULL, "allowWatchBookmarks",
                         "true", "timeoutSeconds", tmo, "labelSelector", inf->label_selector, "fieldSelector",
                         inf->field_selector, NULL);
        kn_watch_decoder_reset(&inf->dec);
        kn_watch_decoder_set_format(&inf->dec, KN_WATCH_JSON);
        so = (kn_api_stream_opts){.timeout_ms = (timeout_s + 60) * 1000, .stop = &inf->stop,
                                  .protobuf = inf->opts.protobuf, .start_cb = on_start, .tick_cb = on_tick};
        r = kn_api_stream(inf->api, q, &so, on_data, inf, &err);
        if (r == -EBADMSG || r == -EFBIG)
                kn_debug("watch of %s: %s", inf->resource, inf->dec.error);
        else if (r < 0 && r != -EIDRM && r != -ECANCELED)
                kn_debug("watch of %s failed: %s", inf->resource, err.e.msg);
        if (r == 0 && kn_watch_decoder_pending(&inf->dec))
                kn_debug("watch of %s: stream ended inside an event (%zu bytes dropped)", inf->resource,
                         kn_watch_decoder_pending(&inf->dec));
        return r;
}

/* Sleep up to MS unless stopped; returns true if stopped. Handlers added meanwhile are
 * brought up to date at once, not after the back-off (keys-only: if the cache is empty). */
static bool sleep_or_stop(kn_informer *inf, long ms)
{
        struct timespec ts = kn_deadline(ms);
        unsigned long gen;
        bool stopped;

        pthread_mutex_lock(&inf->mu);
        gen = inf->pending_gen;
        while (!inf->stop) {
                if (gen != inf->pending_gen) {
                        gen = inf->pending_gen;
                        pthread_mutex_unlock(&inf->mu);
                        serve_pending(inf);
                        pthread_mutex_lock(&inf->mu);
                        continue;
                }
                if (pthread_cond_timedwait(&inf->cond, &inf->mu, &ts) == ETIMEDOUT)
                        break;
        }
        stopped = inf->stop;
        pthread_mutex_unlock(&inf->mu);
        return stopped;
}

/* Back off after a failure R: the base doubles from backoff_initial_ms up to backoff_max_ms
 * (*CUR holds the next base; 0 starts over), plus jitter of up to one base, like
 * client-go. A refused connection is the exception: nothing listens, so asking again
 * costs the server nothing; retry within REFUSED_RETRY_MS (plus jitter) without raising
 * the base, so a restarted API server is seen in seconds, not after a 30 s back-off, and
 * its first errors (429, 5xx) still back off from the start. Returns true if stopped
 * meanwhile. */
static bool back_off(kn_informer *inf, long *cur, int r)
{
        long base = *cur ? *cur : inf->opts.backoff_initial_ms, ms;

        if (r == -ECONNREFUSED)
                base = base < REFUSED_RETRY_MS ? base : REFUSED_RETRY_MS;
        else
                *cur = base * 2 > inf->opts.backoff_max_ms ? inf->opts.backoff_max_ms : base * 2;
        ms = base + (long)(kn_random() % (uint64_t)base);
        pthread_mutex_lock(&inf->mu);
        inf->stats.backoff_ms = base;
        pthread_mutex_unlock(&inf->mu);
        return sleep_or_stop(inf, ms);
}

static void *informer_thread(void *p)
{
        kn_informer *inf = p;
        bool need_list = true;
        long backoff = 0;

        kn_watch_decoder_init(&inf->dec, 0, on_event, inf);
        while (!stopping(inf)) {
                int r;

                /* Handlers added before the start or since the last step; late keys-only
                 * ones need a list. */
                if (serve_pending(inf))
                        need_list = true;
                if (need_list) {
                        r = do_list(inf);
                        if (r < 0) {
                                pthread_mutex_lock(&inf->mu);
                                inf->stats.list_errors++;
                                pthread_mutex_unlock(&inf->mu);
                                if (back_off(inf, &backoff, r))
                                        break;
                                continue;
                        }
                        /* The server answers again: a later failure backs off from the start. */
                        backoff = 0;
                        need_list = false;
                        continue;
                }
                {
                        int64_t t0 = kn_now_ms();
                        unsigned long ev0;
                        pthread_mutex_lock(&inf->mu);
                        ev0 = inf->stats.events;
                        pthread_mutex_unlock(&inf->mu);
                        inf->want_list = false;
                        r = do_watch(inf);
                        if (stopping(inf))
                                break;
                        if (inf->want_list) {
                                need_list = true;
                                continue;
                        }
                        if (r == 0) {
                                bool idle;
                                pthread_mutex_lock(&inf->mu);
                                idle = inf->stats.events == ev0 && kn_now_ms() - t0 < 1000;
                                pthread_mutex_unlock(&inf->mu);
                                /* The server closed the stream. Watch again at once, unless it keeps
                                 * closing empty streams right away: then back off, don't spin. */
                                if (!idle) {
                                        backoff = 0;
                                        continue;
                                }
                                if (back_off(inf, &backoff, r))
                                        break;
                                continue;
                        }
                }
                if (r == -EIDRM) {
                        /* 410 Gone: our resourceVersion is too old; start over with a list. */
                        pthread_mutex_lock(&inf->mu);
                        inf->stats.relists_gone++;
                        pthread_mutex_unlock(&inf->mu);
                        kn_v(2, "watch of %s: resourceVersion expired (410 Gone), relisting", inf->resource);
                        need_list = true;
                        continue;
                }
                pthread_mutex_lock(&inf->mu);
                inf->stats.watch_errors++;
                pthread_mutex_unlock(&inf->mu);
                if (back_off(inf, &backoff, r))
                        break;
        }
        kn_watch_decoder_free(&inf->dec);
        return NULL;
}

int kn_informer_start(kn_informer *inf)
{
        int r = 0;

        pthread_mutex_lock(&inf->mu);
        if (!inf->started) {
                r = -pthread_create(&inf->thread, NULL, informer_thread, inf);
                inf->started = r == 0;
        }
        pthread_mutex_unlock(&inf->mu);
        return r;
}

void kn_informer_stop(kn_informer *inf)
{
        bool started;

        pthread_mutex_lock(&inf->mu);
        __atomic_store_n(&inf->stop, 1, __ATOMIC_RELAXED);
        started = inf->started;
        inf->started = false;
        pthread_cond_broadcast(&inf->cond);
        pthread_mutex_unlock(&inf->mu);
        if (started)
                pthread_join(inf->thread, NULL);
}

void kn_informer_free(kn_informer *inf)
{
        if (!inf)
                return;
        kn_informer_stop(inf);
        kn_hashmap_clear(&inf->cache, entry_free);
        kn_hashmap_clear(&inf->fed, NULL);
        pthread_rwlock_destroy(&inf->cache_lock);
        pthread_mutex_destroy(&inf->mu);
        pthread_cond_destroy(&inf->cond);
        free(inf->handlers);
        free(inf->feeding);
        free(inf->pending);
        free(inf->gv);
        free(inf->resource);
        free(inf->ns);
        free(inf->label_selector);
        free(inf->field_selector);
        free(inf->path);
        free(inf);
}

bool kn_informer_synced(kn_informer *inf)
{
        bool s;
        pthread_mutex_lock(&inf->mu);
        s = inf->synced;
        pthread_mutex_unlock(&inf->mu);
        return s;
}

int kn_informer_wait_synced(kn_informer *inf, long timeout_ms)
{
        struct timespec ts = kn_deadline(timeout_ms < 0 ? 0 : timeout_ms);
        int r = 0;

        pthread_mutex_lock(&inf->mu);
        while (!inf->synced && !inf->stop && r == 0)
                r = timeout_ms < 0 ? pthread_cond_wait(&inf->cond, &inf->mu)
                                   : pthread_cond_timedwait(&inf->cond, &inf->mu, &ts);
        r = inf->synced ? 0 : -ETIMEDOUT;
        pthread_mutex_unlock(&inf->mu);
        return r;
}

cJSON *kn_informer_get(kn_informer *inf, const char *ns, const char *name)
{
        _cleanup_free_ char *key = ns && *ns ? kn_asprintf("%s/%s", ns, name) : kn_strdup(name);
        const cJSON *o;
        cJSON *copy = NULL;

        pthread_rwlock_rdlock(&inf->cache_lock);
        o = entry_obj(kn_hashmap_get(&inf->cache, key));
        if (o)
                copy = cJSON_Duplicate(o, true);
        pthread_rwlock_unlock(&inf->cache_lock);
        return copy;
}

size_t kn_informer_count(kn_informer *inf)
{
        size_t n;
        pthread_rwlock_rdlock(&inf->cache_lock);
        n = inf->cache.len;
        pthread_rwlock_unlock(&inf->cache_lock);
        return n;
}

void kn_informer_foreach(kn_informer *inf, int (*cb)(void *, const char *, const cJSON *), void *userdata)
{
        const char *key;
        void *v;

        pthread_rwlock_rdlock(&inf->cache_lock);
        for (size_t it = 0; kn_hashmap_next(&inf->cache, &it, &key, &v);)
                if (cb(userdata, key, entry_obj(v)))
                        break;
        pthread_rwlock_unlock(&inf->cache_lock);
}

void kn_informer_get_stats(kn_informer *inf, kn_informer_stats *ret)
{
        pthread_mutex_lock(&inf->mu);
        *ret = inf->stats;
        snprintf(ret->resource_version, sizeof(ret->resource_version), "%s", inf->rv);
        pthread_mutex_unlock(&inf->mu);
}

/* ---- shared informers ---- */

struct kn_informers {
        kn_api *api;
        pthread_mutex_t mu;
        kn_hashmap by_key; /* "gv|resource|ns|labels|fields|keys|protobuf" -> kn_informer */
};

kn_informers *kn_informers_new(kn_api *api)
{
        kn_informers *f = kn_calloc(1, sizeof(*f));
        f->api = api;
        pthread_mutex_init(&f->mu, NULL);
        return f;
}

kn_informer *kn_informers_get(kn_informers *f, const char *gv, const char *resource, const char *ns,
                              const kn_informer_opts *opts)
{
        _cleanup_free_ char *key = kn_asprintf("%s|%s|%s|%s|%s|%d|%d", gv, resource, ns ? ns : "",
                                               opts && opts->label_selector ? opts->label_selector : "",
                                               opts && opts->field_selector ? opts->field_selector : "",
                                               opts && opts->keys_only, opts && opts->protobuf);
        kn_informer *inf;

        pthread_mutex_lock(&f->mu);
        inf = kn_hashmap_get(&f->by_key, key);
        if (!inf) {
                kn_informer_new(f->api, gv, resource, ns, opts, &inf);
                kn_hashmap_put(&f->by_key, key, inf, NULL);
        }
        pthread_mutex_unlock(&f->mu);
        return inf;
}

void kn_informers_free(kn_informers *f)
{
        if (!f)
                return;
        kn_hashmap_clear(&f->by_key, (void (*)(void *))kn_informer_free);
        pthread_mutex_destroy(&f->mu);
        free(f);
}
