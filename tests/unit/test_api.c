/* SPDX-License-Identifier: Apache-2.0 */
/* The API client and informers against a scripted fake API server (core/httpd). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>

#include "api.h"
#include "fakeapi.h"
#include "httpd.h"
#include "informer.h"
#include "watch.h"

struct fake {
        pthread_mutex_t mu;
        int lists, watches;
        char last_auth[256];
        char last_query[1024];
        int phase; /* informer script */
};

static struct fake F = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void status(kn_http_response *r, int code, const char *reason, const char *msg)
{
        r->status = code;
        r->content_type = "application/json";
        kn_buf_printf(&r->body,
                      "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"%s\","
                      "\"reason\":\"%s\",\"code\":%d}",
                      msg, reason, code);
}

#define CM(name, rv) "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"" name "\",\"resourceVersion\":\"" rv "\"}}"

static void handler(void *u, const kn_http_request *req, kn_http_response *r)
{
        const char *auth = strcasestr(req->headers, "authorization:");
        (void)u;
        pthread_mutex_lock(&F.mu);
        snprintf(F.last_auth, sizeof(F.last_auth), "%.*s", auth ? (int)strcspn(auth, "\r\n") : 0, auth ? auth : "");
        snprintf(F.last_query, sizeof(F.last_query), "%s", req->query);
        if (strcmp(req->path, "/api/v1/notfound") == 0)
                status(r, 404, "NotFound", "configmaps \\\"x\\\" not found");
        else if (strcmp(req->path, "/api/v1/exists") == 0)
                status(r, 409, "AlreadyExists", "already there");
        else if (strcmp(req->path, "/api/v1/conflict") == 0)
                status(r, 409, "Conflict", "the object has been modified");
        else if (strcmp(req->path, "/api/v1/gone") == 0)
                status(r, 410, "Expired", "too old resource version");
        else if (strcmp(req->path, "/api/v1/throttle") == 0) {
                status(r, 429, "TooManyRequests", "slow down");
                snprintf(r->extra_headers, sizeof(r->extra_headers), "Retry-After: 3\r\n");
        } else if (strcmp(req->path, "/api/v1/garbage") == 0) {
                kn_buf_printf(&r->body, "{not json");
        } else if (strcmp(req->path, "/api/v1/badstatus") == 0) {
                r->status = 500;
                kn_buf_printf(&r->body, "<html>oops</html>");
        } else if (strcmp(req->path, "/api/v1/huge") == 0) {
                kn_buf_printf(&r->body, "{\"x\":\"");
                for (int i = 0; i < 4096; i++)
                        kn_buf_printf(&r->body, "%0512d", i);
                kn_buf_printf(&r->body, "\"}");
        } else if (strcmp(req->path, "/api/v1/echo") == 0) {
                kn_buf_printf(&r->body, "{\"method\":\"%s\"}", req->method);
        } else if (strcmp(req->path, "/api/v1/namespaces/ns/pages") == 0) {
                /* three pages of two */
                const char *c = strstr(req->query, "continue=");
                int page = c ? atoi(c + 9) : 0;
                kn_buf_printf(&r->body, "{\"metadata\":{\"resourceVersion\":\"7\",\"continue\":\"%s\"},\"items\":[",
                              page < 2 ? (page == 0 ? "1" : "2") : "");
                kn_buf_printf(&r->body, CM("p%da", "1") "," CM("p%db", "1") "]}", page, page);
                /* (names are literal "p%da": the macro text is a format) */
        } else if (strcmp(req->path, "/api/v1/namespaces/ns/configmaps") == 0) {
                bool watch = strstr(req->query, "watch=1") != NULL;
                if (!watch) {
                        F.lists++;
                        if (F.phase < 2)
                                kn_buf_printf(&r->body, "{\"metadata\":{\"resourceVersion\":\"10\"},\"items\":["
                                              CM("a", "1") "," CM("b", "2") "," CM("c", "3") "]}");
                        else if (F.phase < 4)
                                kn_buf_printf(&r->body, "{\"metadata\":{\"resourceVersion\":\"50\"},\"items\":["
                                              CM("a", "11") "," CM("e", "40") "]}");
                        else /* after +f: a keys-only informer lists again for a late handler */
                                kn_buf_printf(&r->body, "{\"metadata\":{\"resourceVersion\":\"60\"},\"items\":["
                                              CM("a", "11") "," CM("e", "40") "," CM("f", "60") "]}");
                } else {
                        F.watches++;
                        if (F.phase == 0) {
                                /* events, a keep-alive, a bookmark; then the stream ends */
                                kn_buf_printf(&r->body,
                                              "{\"type\":\"ADDED\",\"object\":" CM("d", "11") "}\n\n"
                                              "{\"type\":\"MODIFIED\",\"object\":" CM("a", "11") "}\n"
                                              "{\"type\":\"DELETED\",\"object\":" CM("b", "12") "}\n"
                                              "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"13\"}}}\n");
                                F.phase = 1;
                        } else if (F.phase == 1) {
                                kn_buf_printf(&r->body, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
                                                        "\"code\":410,\"reason\":\"Expired\",\"message\":\"too old\"}}\n");
                                F.phase = 2;
                        } else if (F.phase == 2) {
                                /* a hostile line: the informer must drop the stream and resume */
                                kn_buf_printf(&r->body, "{\"type\":\"ADDED\",\"object\":[1]}\n");
                                F.phase = 3;
                        } else if (F.phase == 3) {
                                kn_buf_printf(&r->body, "{\"type\":\"ADDED\",\"object\":" CM("f", "60") "}\n");
                                F.phase = 4;
                        } else {
                                /* nothing more: an empty stream, as after timeoutSeconds */
                                F.phase++;
                        }
                }
        } else {
                status(r, 404, "NotFound", "no such path");
        }
        pthread_mutex_unlock(&F.mu);
}

static kn_httpd *srv;
static kn_api *api;

static int setup(void **state)
{
        (void)state;
        fake_api_start(handler, "tok123", &srv, &api);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        fake_api_stop(srv, api);
        return 0;
}

static void test_status_errors(void **state)
{
        kn_api_error e;
        cJSON *o = NULL;
        (void)state;
        assert_int_equal(kn_api_get(api, "/api/v1/notfound", &o, &e), -ENOENT);
        assert_int_equal(e.http_status, 404);
        assert_string_equal(e.reason, "NotFound");
        assert_non_null(strstr(e.e.msg, "not found"));
        assert_string_equal(F.last_auth, "Authorization: Bearer tok123");
        assert_int_equal(kn_api_get(api, "/api/v1/exists", &o, &e), -EEXIST);
        assert_int_equal(kn_api_get(api, "/api/v1/conflict", &o, &e), -EBUSY);
        assert_int_equal(kn_api_get(api, "/api/v1/gone", &o, &e), -EIDRM);
        assert_int_equal(kn_api_get(api, "/api/v1/throttle", &o, &e), -EAGAIN);
        assert_int_equal(e.retry_after, 3);
        assert_int_equal(kn_api_get(api, "/api/v1/badstatus", &o, &e), -EIO);
        assert_non_null(strstr(e.e.msg, "unparsable"));
        assert_null(o);
}

static void test_bad_bodies(void **state)
{
        kn_api_error e;
        cJSON *o = NULL;
        (void)state;
        assert_int_equal(kn_api_get(api, "/api/v1/garbage", &o, &e), -EBADMSG);
        assert_int_equal(kn_api_get(api, "/api/v1/huge", &o, &e), -EFBIG);
        assert_null(o);
}

static void test_verbs(void **state)
{
        static const char *const methods[] = {"POST", "PUT", "PATCH", "DELETE"};
        cJSON *body = cJSON_Parse("{\"a\":1}");
        kn_api_error e;
        (void)state;
        for (int i = 0; i < 4; i++) {
                cJSON *o = NULL;
                int r = i == 0   ? kn_api_create(api, "/api/v1/echo", body, &o, &e)
                        : i == 1 ? kn_api_update(api, "/api/v1/echo", body, &o, &e)
                        : i == 2 ? kn_api_patch(api, "/api/v1/echo", KN_PATCH_STRATEGIC, "{}", &o, &e)
                                 : kn_api_request(api, "DELETE", "/api/v1/echo", NULL, NULL, &o, &e);
                assert_int_equal(r, 0);
                assert_string_equal(kn_obj_str(o, "method"), methods[i]);
                cJSON_Delete(o);
        }
        cJSON_Delete(body);
}

static void test_paths(void **state)
{
        char *p = kn_api_path("v1", "pods", "kube system", "a/b", "status");
        char *q;
        (void)state;
        assert_string_equal(p, "/api/v1/namespaces/kube%20system/pods/a%2Fb/status");
        free(p);
        p = kn_api_path("coordination.k8s.io/v1", "leases", "kube-node-lease", "n1", NULL);
        assert_string_equal(p, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1");
        q = kn_api_query(p, "labelSelector", "a=b,!c", "limit", NULL, "x", "1", NULL);
        assert_string_equal(q, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1?labelSelector=a%3Db%2C%21c&x=1");
        free(p);
        free(q);
}

static void test_paging(void **state)
{
        char *cont = NULL;
        int pages = 0, items = 0;
        (void)state;
        do {
                cJSON *list = NULL;
                kn_api_error e;
                kn_list_opts lo = {.limit = 2, .continue_token = cont, .label_selector = "x=y"};
                const char *c;
                assert_int_equal(kn_api_list(api, "/api/v1/namespaces/ns/pages", &lo, &list, &e), 0);
                assert_non_null(strstr(F.last_query, "limit=2"));
                assert_non_null(strstr(F.last_query, "labelSelector=x%3Dy"));
                items += cJSON_GetArraySize(cJSON_GetObjectItem(list, "items"));
                c = kn_obj_str(list, "metadata.continue");
                free(cont);
                cont = c && *c ? strdup(c) : NULL;
                cJSON_Delete(list);
                pages++;
        } while (cont && pages < 10);
        assert_int_equal(pages, 3);
        assert_int_equal(items, 6);
}

static void test_transport_errors(void **state)
{
        kn_kubeconfig kc = {.server = "http://127.0.0.1:1"};
        kn_api *a;
        kn_api_error e;
        kn_error err;
        cJSON *o = NULL;
        (void)state;
        assert_int_equal(kn_api_new(&kc, NULL, &a, &err), 0);
        assert_int_equal(kn_api_get(a, "/api", &o, &e), -ECONNREFUSED);
        kn_api_free(a);
}

struct ticks {
        int n;
        bool end; /* end the stream at the first tick */
};

static int count_tick(void *u)
{
        struct ticks *t = u;
        t->n++;
        return t->end;
}

static int ignore_data(const char *data, size_t len, void *u) { return (void)data, (void)len, (void)u, 0; }

static void test_stream_tick(void **state)
{
        struct ticks t = {0};
        kn_api_error e;
        kn_api_stream_opts so = {.tick_cb = count_tick};
        (void)state;
        assert_int_equal(kn_api_stream(api, "/api/v1/echo", &so, ignore_data, &t, &e), 0);
        assert_true(t.n > 0);
        t = (struct ticks){.end = true};
        assert_int_equal(kn_api_stream(api, "/api/v1/echo", &so, ignore_data, &t, &e), -ECANCELED);
        assert_int_equal(t.n, 1);
}

struct rec {
        pthread_mutex_t mu;
        int adds, updates, deletes, synced, same_rv_updates;
        char log[1024];
};

static void r_add(void *u, const cJSON *o)
{
        struct rec *r = u;
        char *k = kn_obj_key(o);
        pthread_mutex_lock(&r->mu);
        r->adds++;
        strncat(r->log, "+", sizeof(r->log) - strlen(r->log) - 1);
        strncat(r->log, k, sizeof(r->log) - strlen(r->log) - 1);
        pthread_mutex_unlock(&r->mu);
        free(k);
}
static void r_update(void *u, const cJSON *old, const cJSON *o)
{
        struct rec *r = u;
        char *k = kn_obj_key(o);
        pthread_mutex_lock(&r->mu);
        if (old && kn_streq(kn_obj_str(old, "metadata.resourceVersion"), kn_obj_str(o, "metadata.resourceVersion")))
                r->same_rv_updates++; /* checked on the test thread: cmocka asserts are not thread-safe */
        r->updates++;
        strncat(r->log, "~", sizeof(r->log) - strlen(r->log) - 1);
        strncat(r->log, k, sizeof(r->log) - strlen(r->log) - 1);
        pthread_mutex_unlock(&r->mu);
        free(k);
}
static void r_delete(void *u, const cJSON *o)
{
        struct rec *r = u;
        char *k = kn_obj_key(o);
        pthread_mutex_lock(&r->mu);
        r->deletes++;
        strncat(r->log, "-", sizeof(r->log) - strlen(r->log) - 1);
        strncat(r->log, k, sizeof(r->log) - strlen(r->log) - 1);
        pthread_mutex_unlock(&r->mu);
        free(k);
}
static void r_synced(void *u)
{
        struct rec *r = u;
        pthread_mutex_lock(&r->mu);
        r->synced++;
        pthread_mutex_unlock(&r->mu);
}

static void run_informer(bool keys_only)
{
        struct rec rec = {.mu = PTHREAD_MUTEX_INITIALIZER};
        struct rec late = {.mu = PTHREAD_MUTEX_INITIALIZER};
        kn_informer *inf;
        kn_informer_stats st;
        cJSON *o;
        int64_t deadline;

        F.phase = 0;
        F.lists = F.watches = 0;
        kn_informer_new(api, "v1", "configmaps", "ns", &(kn_informer_opts){.keys_only = keys_only}, &inf);
        kn_informer_add_handlers(inf, &(kn_informer_handlers){r_add, r_update, r_delete, r_synced, &rec});
        assert_int_equal(kn_informer_start(inf), 0);
        assert_int_equal(kn_informer_wait_synced(inf, 5000), 0);
        /* Script: list a,b,c -> watch +d ~a -b -> 410 -> relist a(11),e -> hostile line -> +f */
        deadline = kn_now_ms() + 20000;
        while (kn_now_ms() < deadline) {
                pthread_mutex_lock(&F.mu);
                bool done = F.phase >= 4;
                pthread_mutex_unlock(&F.mu);
                if (done && kn_informer_count(inf) == 3)
                        break;
                usleep(20000);
        }
        kn_informer_get_stats(inf, &st);
        assert_int_equal(st.relists_gone, 1);
        assert_int_equal(st.lists, 2);
        assert_true(st.watch_errors >= 1); /* the hostile line */
        assert_string_equal(st.resource_version, "60");
        assert_int_equal(kn_informer_count(inf), 3); /* a, e, f */
        o = kn_informer_get(inf, "ns", "e");
        if (keys_only)
                assert_null(o);
        else
                assert_string_equal(kn_obj_str(o, "metadata.resourceVersion"), "40");
        cJSON_Delete(o);
        pthread_mutex_lock(&rec.mu);
        assert_string_equal(rec.log, "+ns/a+ns/b+ns/c+ns/d~ns/a-ns/b+ns/e-ns/c-ns/d+ns/f");
        assert_int_equal(rec.synced, 1);
        assert_int_equal(rec.same_rv_updates, 0);
        pthread_mutex_unlock(&rec.mu);
        /* A late subscriber is brought up to date by the informer thread: from the cache,
         * or (keys-only) from a list; tests/unit/test_informer.c plays the races. */
        kn_informer_add_handlers(inf, &(kn_informer_handlers){r_add, NULL, NULL, r_synced, &late});
        deadline = kn_now_ms() + 20000;
        while (kn_now_ms() < deadline) {
                pthread_mutex_lock(&late.mu);
                bool done = late.synced > 0;
                pthread_mutex_unlock(&late.mu);
                if (done)
                        break;
                usleep(20000);
        }
        pthread_mutex_lock(&late.mu);
        assert_int_equal(late.adds, 3);
        assert_int_equal(late.synced, 1);
        pthread_mutex_unlock(&late.mu);
        pthread_mutex_lock(&rec.mu);
        assert_string_equal(rec.log, "+ns/a+ns/b+ns/c+ns/d~ns/a-ns/b+ns/e-ns/c-ns/d+ns/f");
        pthread_mutex_unlock(&rec.mu);
        kn_informer_free(inf);
}

static void test_informer(void **state)
{
        (void)state;
        run_informer(false);
}

static void test_informer_keys_only(void **state)
{
        (void)state;
        run_informer(true);
}

static void test_informer_stop_while_failing(void **state)
{
        kn_kubeconfig kc = {.server = "http://127.0.0.1:1"};
        kn_api *a;
        kn_error err;
        kn_informer *inf;
        int64_t t0;
        (void)state;
        assert_int_equal(kn_api_new(&kc, NULL, &a, &err), 0);
        kn_informer_new(a, "v1", "nodes", NULL, NULL, &inf);
        kn_informer_start(inf);
        assert_int_equal(kn_informer_wait_synced(inf, 300), -ETIMEDOUT);
        t0 = kn_now_ms();
        kn_informer_free(inf); /* must not wait out the back-off */
        assert_true(kn_now_ms() - t0 < 2000);
        kn_api_free(a);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_status_errors), cmocka_unit_test(test_bad_bodies),
                cmocka_unit_test(test_verbs),         cmocka_unit_test(test_paths),
                cmocka_unit_test(test_paging),        cmocka_unit_test(test_transport_errors),
                cmocka_unit_test(test_stream_tick),
                cmocka_unit_test(test_informer),      cmocka_unit_test(test_informer_keys_only),
                cmocka_unit_test(test_informer_stop_while_failing),
        };
        return cmocka_run_group_tests_name("api", tests, setup, teardown);
}
