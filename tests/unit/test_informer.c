/* SPDX-License-Identifier: Apache-2.0 */
/* Informers against a fake API server that keeps a small model of objects: late handlers
 * (added before the start, mid-page, between pages, during a watch) in both cache modes,
 * and the back-off. The server stops at chosen points until the test lets it go on, so
 * every race is played in one chosen order; no sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "fakeapi.h"
#include "httpd.h"
#include "informer.h"
#include "watch.h"

#define WAIT_MS 10000

struct fobj {
        char name[16];
        int rv;
        bool live;
};

struct fevent {
        const char *type;
        struct fobj obj;
};

/* The server: a model, an event log, and the points where it stops. */
static struct {
        pthread_mutex_t mu;
        pthread_cond_t cond;
        struct fobj objs[16];
        size_t n_objs;
        struct fevent events[32];
        size_t n_events;
        int rv;
        bool hold_pages;   /* a request for a page after the first waits while set */
        bool at_page;      /* ... and says so */
        int watch_waiting; /* watches waiting for events so far */
        int fail_lists, fail_watches;
        int lists;         /* list requests (pages) */
        long backoff_at_list[8];
        kn_informer *inf;
        /* The current test's resource; "" between tests. A request for another one (a
         * freed informer's, sent as it stopped) gets a 404, and one waiting for
         * events or a page ends when the test does, so none stalls the next test. */
        char path[64];
        int busy;          /* requests being answered */
} S = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void s_wait(void)
{
        struct timespec ts = kn_deadline(WAIT_MS);
        pthread_cond_timedwait(&S.cond, &S.mu, &ts);
}

static void fail500(kn_http_response *r)
{
        r->status = 500;
        r->content_type = "application/json";
        kn_buf_printf(&r->body, "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"InternalError\","
                                "\"message\":\"scripted failure\",\"code\":500}");
}

static void obj_json(kn_buf *b, const struct fobj *o)
{
        kn_buf_printf(b, "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"%s\",\"resourceVersion\":\"%d\"}}", o->name,
                      o->rv);
}

static long query_num(const char *q, const char *name)
{
        const char *p = strstr(q, name);
        return p ? strtol(p + strlen(name), NULL, 10) : 0;
}

static void serve_list(const kn_http_request *req, kn_http_response *r)
{
        long start = query_num(req->query, "continue="), limit = query_num(req->query, "limit="), i = 0, n = 0;

        if (S.inf && S.lists < (int)KN_ARRAY_SIZE(S.backoff_at_list)) {
                kn_informer_stats st;
                kn_informer_get_stats(S.inf, &st);
                S.backoff_at_list[S.lists] = st.backoff_ms;
        }
        S.lists++;
        if (S.fail_lists > 0) {
                S.fail_lists--;
                fail500(r);
                return;
        }
        if (start > 0) {
                while (S.hold_pages && strcmp(req->path, S.path) == 0) {
                        S.at_page = true;
                        pthread_cond_broadcast(&S.cond);
                        s_wait();
                }
        }
        kn_buf_printf(&r->body, "{\"metadata\":{\"resourceVersion\":\"%d\"", S.rv);
        for (size_t k = 0; k < S.n_objs; k++)
                n += S.objs[k].live;
        if (limit > 0 && start + limit < n)
                kn_buf_printf(&r->body, ",\"continue\":\"%ld\"", start + limit);
        kn_buf_printf(&r->body, "},\"items\":[");
        for (size_t k = 0; k < S.n_objs; k++) {
                if (!S.objs[k].live)
                        continue;
                if (i >= start && (limit <= 0 || i < start + limit)) {
                        if (i > start)
                                kn_buf_printf(&r->body, ",");
                        obj_json(&r->body, &S.objs[k]);
                }
                i++;
        }
        kn_buf_printf(&r->body, "]}");
}

/* Events after the client's resourceVersion, once there are any: a watch blocks until
 * the test makes a change (or ends the test). */
static void serve_watch(const kn_http_request *req, kn_http_response *r)
{
        long from = query_num(req->query, "resourceVersion=");
        bool any = false;

        if (S.fail_watches > 0) {
                S.fail_watches--;
                fail500(r);
                return;
        }
        S.watch_waiting++;
        pthread_cond_broadcast(&S.cond);
        while (strcmp(req->path, S.path) == 0) {
                for (size_t k = 0; k < S.n_events; k++)
                        any |= S.events[k].obj.rv > from;
                if (any)
                        break;
                s_wait();
        }
        for (size_t k = 0; k < S.n_events; k++) {
                if (S.events[k].obj.rv <= from)
                        continue;
                kn_buf_printf(&r->body, "{\"type\":\"%s\",\"object\":", S.events[k].type);
                obj_json(&r->body, &S.events[k].obj);
                kn_buf_printf(&r->body, "}\n");
        }
}

static void handler(void *u, const kn_http_request *req, kn_http_response *r)
{
        (void)u;
        pthread_mutex_lock(&S.mu);
        S.busy++;
        r->content_type = "application/json";
        if (strcmp(req->path, S.path) != 0 || !S.path[0])
                r->status = 404;
        else if (strstr(req->query, "watch=1"))
                serve_watch(req, r);
        else
                serve_list(req, r);
        S.busy--;
        pthread_cond_broadcast(&S.cond);
        pthread_mutex_unlock(&S.mu);
}

/* Change the model as a client would; the change is an event for watches. */
static void push(const char *type, const char *name)
{
        struct fobj *o = NULL;

        pthread_mutex_lock(&S.mu);
        for (size_t k = 0; k < S.n_objs; k++)
                if (strcmp(S.objs[k].name, name) == 0)
                        o = &S.objs[k];
        if (!o) {
                o = &S.objs[S.n_objs++];
                snprintf(o->name, sizeof(o->name), "%s", name);
        }
        o->rv = ++S.rv;
        o->live = strcmp(type, "DELETED") != 0;
        S.events[S.n_events++] = (struct fevent){type, *o};
        pthread_cond_broadcast(&S.cond);
        pthread_mutex_unlock(&S.mu);
}

/* The world before the informer starts: a, b, c, d at resourceVersions 1-4, no events. */
static void model_reset(void)
{
        pthread_mutex_lock(&S.mu);
        S.n_objs = S.n_events = 0;
        S.rv = 0;
        S.hold_pages = S.at_page = false;
        S.watch_waiting = S.fail_lists = S.fail_watches = S.lists = 0;
        S.inf = NULL;
        memset(S.backoff_at_list, 0, sizeof(S.backoff_at_list));
        for (char n = 'a'; n <= 'd'; n++) {
                struct fobj *o = &S.objs[S.n_objs++];
                snprintf(o->name, sizeof(o->name), "%c", n);
                o->rv = ++S.rv;
                o->live = true;
        }
        pthread_mutex_unlock(&S.mu);
}

/* Wait (on the server's condition variable) until PRED holds; false after WAIT_MS. */
static bool s_until(bool (*pred)(void *), void *arg)
{
        int64_t deadline = kn_now_ms() + WAIT_MS;
        bool ok;

        pthread_mutex_lock(&S.mu);
        while (!(ok = pred(arg)) && kn_now_ms() < deadline)
                s_wait();
        pthread_mutex_unlock(&S.mu);
        return ok;
}

static bool at_page(void *arg) { return (void)arg, S.at_page; }
static bool watches_waiting(void *arg) { return S.watch_waiting >= *(int *)arg; }
static bool idle(void *arg) { return (void)arg, S.busy == 0; }

/* ---- a handler's view: what it was told, checked as it is told ---- */

struct view {
        pthread_mutex_t mu;
        pthread_cond_t cond;
        char keys[16][16];
        size_t n;
        int synced, errors;
        char at_synced[128]; /* the keys when on_synced came, sorted */
        char log[512];
        /* mid-page: on the add of this key, add LATE to INF */
        const char *add_late_on;
        kn_informer *inf;
        struct view *late;
};

static void add_view(kn_informer *inf, struct view *v);

static void view_init(struct view *v)
{
        pthread_condattr_t ca;
        *v = (struct view){.mu = PTHREAD_MUTEX_INITIALIZER};
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&v->cond, &ca);
        pthread_condattr_destroy(&ca);
}

static long view_find(struct view *v, const char *key)
{
        for (size_t i = 0; i < v->n; i++)
                if (strcmp(v->keys[i], key) == 0)
                        return (long)i;
        return -1;
}

static int cmp_key(const void *a, const void *b) { return strcmp(a, b); }

/* The keys seen, sorted, as "a,b,c" (caller holds v->mu). */
static void view_keys(struct view *v, char *buf, size_t len)
{
        char keys[16][16];
        size_t o = 0;
        memcpy(keys, v->keys, sizeof(keys));
        qsort(keys, v->n, sizeof(keys[0]), cmp_key);
        buf[0] = '\0';
        for (size_t i = 0; i < v->n; i++)
                o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "", keys[i]);
}

static void view_event(struct view *v, char c, const cJSON *obj)
{
        const char *name = kn_obj_str(obj, "metadata.name");
        long i;
        size_t l;

        pthread_mutex_lock(&v->mu);
        i = name ? view_find(v, name) : -1;
        l = strlen(v->log);
        snprintf(v->log + l, sizeof(v->log) - l, "%c%s", c, name ? name : "?");
        if (!name || (c == '+') != (i < 0))
                v->errors++; /* an add of a known key, a change of an unknown one */
        else if (c == '+')
                snprintf(v->keys[v->n++], sizeof(v->keys[0]), "%s", name);
        else if (c == '-')
                memmove(v->keys[i], v->keys[i + 1], (v->n-- - (size_t)i - 1) * sizeof(v->keys[0]));
        pthread_cond_broadcast(&v->cond);
        pthread_mutex_unlock(&v->mu);
        if (c == '+' && v->add_late_on && name && strcmp(name, v->add_late_on) == 0)
                add_view(v->inf, v->late);
}

static void v_add(void *u, const cJSON *o) { view_event(u, '+', o); }
static void v_update(void *u, const cJSON *old, const cJSON *o) { (void)old, view_event(u, '~', o); }
static void v_delete(void *u, const cJSON *o) { view_event(u, '-', o); }
static void v_synced(void *u)
{
        struct view *v = u;
        size_t l;
        pthread_mutex_lock(&v->mu);
        v->synced++;
        view_keys(v, v->at_synced, sizeof(v->at_synced));
        l = strlen(v->log);
        snprintf(v->log + l, sizeof(v->log) - l, "!");
        pthread_cond_broadcast(&v->cond);
        pthread_mutex_unlock(&v->mu);
}

static void add_view(kn_informer *inf, struct view *v)
{
        kn_informer_add_handlers(inf, &(kn_informer_handlers){v_add, v_update, v_delete, v_synced, v});
}

/* Wait until V has synced and its keys are WANT ("a,b"); false after WAIT_MS. */
static bool view_until(struct view *v, const char *want)
{
        struct timespec ts = kn_deadline(WAIT_MS);
        char keys[128];
        bool ok;

        pthread_mutex_lock(&v->mu);
        for (;;) {
                view_keys(v, keys, sizeof(keys));
                ok = v->synced && strcmp(keys, want) == 0;
                if (ok || pthread_cond_timedwait(&v->cond, &v->mu, &ts) != 0)
                        break;
        }
        pthread_mutex_unlock(&v->mu);
        return ok;
}

static void assert_view(struct view *v, const char *at_synced, const char *keys)
{
        char k[128];
        pthread_mutex_lock(&v->mu);
        view_keys(v, k, sizeof(k));
        if (v->errors || v->synced != 1 || strcmp(v->at_synced, at_synced) != 0 || strcmp(k, keys) != 0)
                fail_msg("view: log %s, %d errors, synced %d times with %s (want %s), now %s (want %s)", v->log,
                         v->errors, v->synced, v->at_synced, at_synced, k, keys);
        pthread_mutex_unlock(&v->mu);
}

static kn_httpd *srv;
static kn_api *api;

static kn_informer *current; /* freed by the teardown if a test failed before finish() */

static kn_informer *informer(bool keys_only, long page_size)
{
        static int n;
        char resource[32];
        kn_informer *inf;
        kn_informer_opts o = {.keys_only = keys_only, .page_size = page_size, .watch_timeout_s = 600,
                              .backoff_initial_ms = 4, .backoff_max_ms = 1000};
        snprintf(resource, sizeof(resource), "widgets%d", ++n);
        pthread_mutex_lock(&S.mu);
        snprintf(S.path, sizeof(S.path), "/api/v1/namespaces/ns/%s", resource);
        pthread_mutex_unlock(&S.mu);
        assert_int_equal(kn_informer_new(api, "v1", resource, "ns", &o, &inf), 0);
        current = inf;
        return inf;
}

/* End the test: the server lets go of its waits (and answers 404 from now on), the
 * informer stops, and the server is idle. */
static void finish(kn_informer *inf)
{
        int none = 0;
        pthread_mutex_lock(&S.mu);
        S.inf = NULL;
        S.path[0] = '\0';
        S.hold_pages = false;
        pthread_cond_broadcast(&S.cond);
        pthread_mutex_unlock(&S.mu);
        kn_informer_free(inf);
        current = NULL;
        assert_true(s_until(idle, &none));
}

/* A handler added while the list waits between its pages. */
static void late_between_pages(bool keys_only)
{
        struct view early, late;
        kn_informer *inf = informer(keys_only, 2);
        kn_informer_stats st;

        model_reset();
        view_init(&early);
        view_init(&late);
        pthread_mutex_lock(&S.mu);
        S.hold_pages = true;
        pthread_mutex_unlock(&S.mu);
        add_view(inf, &early);
        assert_int_equal(kn_informer_start(inf), 0);
        assert_true(s_until(at_page, NULL)); /* page 1 (a, b) was handed out */
        add_view(inf, &late);
        pthread_mutex_lock(&S.mu);
        S.hold_pages = false;
        pthread_cond_broadcast(&S.cond);
        pthread_mutex_unlock(&S.mu);
        assert_true(view_until(&late, "a,b,c,d"));
        assert_view(&early, "a,b,c,d", "a,b,c,d");
        assert_view(&late, "a,b,c,d", "a,b,c,d");
        assert_string_equal(early.log, "+a+b+c+d!");
        kn_informer_get_stats(inf, &st);
        /* keys-only: a second list feeds the late handler; the early one learns nothing new */
        assert_int_equal(st.lists, keys_only ? 2 : 1);
        if (keys_only)
                assert_string_equal(late.log, "+a+b+c+d!");
        finish(inf);
}

static void test_late_between_pages(void **state) { (void)state, late_between_pages(false); }
static void test_late_between_pages_keys_only(void **state) { (void)state, late_between_pages(true); }

/* A handler added by another handler in the middle of a page (on the add of b). */
static void late_mid_page(bool keys_only)
{
        struct view early, late;
        kn_informer *inf = informer(keys_only, 3);

        model_reset();
        view_init(&early);
        view_init(&late);
        early.add_late_on = "b";
        early.inf = inf;
        early.late = &late;
        add_view(inf, &early);
        assert_int_equal(kn_informer_start(inf), 0);
        assert_true(view_until(&late, "a,b,c,d"));
        assert_true(view_until(&early, "a,b,c,d"));
        assert_view(&early, "a,b,c,d", "a,b,c,d");
        assert_view(&late, "a,b,c,d", "a,b,c,d");
        assert_string_equal(early.log, "+a+b+c+d!");
        finish(inf);
}

static void test_late_mid_page(void **state) { (void)state, late_mid_page(false); }
static void test_late_mid_page_keys_only(void **state) { (void)state, late_mid_page(true); }

/* Handlers added before the start and while a watch waits for events; then changes. */
static void late_during_watch(bool keys_only)
{
        struct view early, before, late;
        kn_informer *inf = informer(keys_only, 0);
        int one = 1;

        model_reset();
        view_init(&early);
        view_init(&before);
        view_init(&late);
        add_view(inf, &early);
        add_view(inf, &before);
        assert_int_equal(kn_informer_start(inf), 0);
        assert_true(s_until(watches_waiting, &one));
        add_view(inf, &late);
        if (!keys_only) {
                /* brought up to date from the cache while the watch is quiet */
                assert_true(view_until(&late, "a,b,c,d"));
                assert_view(&late, "a,b,c,d", "a,b,c,d");
        }
        /* A keys-only informer ends its watch to list for the late handler. The server,
         * which answers one request at a time, answers that list once this change ends
         * the waiting watch, or the watch carries the change first: either way the late
         * handler is fed a list with e, the others see e added once. */
        push("ADDED", "e");
        assert_true(view_until(&late, "a,b,c,d,e"));
        push("MODIFIED", "a");
        push("DELETED", "b");
        assert_true(view_until(&early, "a,c,d,e"));
        assert_true(view_until(&late, "a,c,d,e"));
        assert_view(&early, "a,b,c,d", "a,c,d,e");
        assert_view(&before, "a,b,c,d", "a,c,d,e");
        assert_view(&late, keys_only ? "a,b,c,d,e" : "a,b,c,d", "a,c,d,e");
        assert_string_equal(early.log, "+a+b+c+d!+e~a-b");
        assert_string_equal(before.log, "+a+b+c+d!+e~a-b");
        if (keys_only)
                assert_string_equal(late.log, "+a+b+c+d+e!~a-b");
        else
                assert_string_equal(late.log + strlen(late.log) - 7, "!+e~a-b");
        finish(inf);
}

static void test_late_during_watch(void **state) { (void)state, late_during_watch(false); }
static void test_late_during_watch_keys_only(void **state) { (void)state, late_during_watch(true); }

/* Three failed lists grow the back-off (4, 8, 16 ms); the list that then succeeds starts
 * it over, so a watch failing right after backs off 4 ms, not 32. */
static void test_backoff_reset_by_list(void **state)
{
        struct view v;
        kn_informer *inf = informer(false, 0);
        kn_informer_stats st;
        int one = 1;
        (void)state;

        model_reset();
        view_init(&v);
        pthread_mutex_lock(&S.mu);
        S.fail_lists = 3;
        S.fail_watches = 1;
        S.inf = inf;
        pthread_mutex_unlock(&S.mu);
        add_view(inf, &v);
        assert_int_equal(kn_informer_start(inf), 0);
        /* the first watch fails; the second one waits */
        assert_true(s_until(watches_waiting, &one));
        kn_informer_get_stats(inf, &st);
        pthread_mutex_lock(&S.mu);
        assert_int_equal(S.lists, 4);
        assert_int_equal(S.backoff_at_list[1], 4);
        assert_int_equal(S.backoff_at_list[2], 8);
        assert_int_equal(S.backoff_at_list[3], 16);
        pthread_mutex_unlock(&S.mu);
        assert_int_equal(st.watch_errors, 1);
        assert_int_equal(st.backoff_ms, 4);
        assert_view(&v, "a,b,c,d", "a,b,c,d");
        finish(inf);
}

/* Nothing listens: retried within 1 s (plus jitter) however long it lasts, not after
 * the doubling back-off (3 s, then 6 s here), so a restarted API server is seen at once. */
static void test_refused_retried_quickly(void **state)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        kn_kubeconfig kc = {0};
        kn_api *closed;
        kn_informer *inf;
        kn_informer_stats st = {0};
        kn_error err;
        char url[64];
        (void)state;

        /* a port that was free a moment ago and that nobody listens on */
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        close(fd);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(sa.sin_port));
        kc.server = url;
        assert_int_equal(kn_api_new(&kc, &(kn_api_opts){.timeout_ms = 2000}, &closed, &err), 0);
        assert_int_equal(kn_informer_new(closed, "v1", "widgets", "ns",
                                         &(kn_informer_opts){.backoff_initial_ms = 3000, .backoff_max_ms = 30000},
                                         &inf),
                         0);
        assert_int_equal(kn_informer_start(inf), 0);
        for (int i = 0; i < 150; i++) { /* 3 attempts: at most 4 s; doubling from 3 s: 9 s or more */
                kn_informer_get_stats(inf, &st);
                if (st.list_errors >= 3)
                        break;
                usleep(50 * 1000);
        }
        kn_informer_free(inf);
        kn_api_free(closed);
        assert_true(st.list_errors >= 3);
        assert_int_equal(st.backoff_ms, 1000);
        assert_int_equal(st.lists, 0);
}

static int setup(void **state)
{
        pthread_condattr_t ca;
        (void)state;
        signal(SIGPIPE, SIG_IGN); /* the server may answer a watch the informer has left */
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&S.cond, &ca);
        pthread_condattr_destroy(&ca);
        fake_api_start(handler, NULL, &srv, &api);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        fake_api_stop(srv, api);
        return 0;
}

static int test_teardown(void **state)
{
        (void)state;
        if (current)
                finish(current);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_late_between_pages, test_teardown),
                cmocka_unit_test_teardown(test_late_between_pages_keys_only, test_teardown),
                cmocka_unit_test_teardown(test_late_mid_page, test_teardown),
                cmocka_unit_test_teardown(test_late_mid_page_keys_only, test_teardown),
                cmocka_unit_test_teardown(test_late_during_watch, test_teardown),
                cmocka_unit_test_teardown(test_late_during_watch_keys_only, test_teardown),
                cmocka_unit_test_teardown(test_backoff_reset_by_list, test_teardown),
                cmocka_unit_test(test_refused_retried_quickly),
        };
        return cmocka_run_group_tests_name("informer", tests, setup, teardown);
}
