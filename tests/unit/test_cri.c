/* SPDX-License-Identifier: Apache-2.0 */
/* The CRI client against a scripted gRPC server (fakecri.h), and the gRPC wire helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <curl/curl.h>
#include <stdio.h>

#include "../../runtime/cri.h"
#include "../../runtime/grpc.h"
#include "fakecri.h"

#define BIG_SANDBOXES 20000

static char dir[64], sock[96], endpoint[160];

/* The script: what each method answers. */
static void handler(void *u, const char *method, const uint8_t *req, size_t len, const char *tmo,
                    fake_cri_reply *reply)
{
        const char *m = strrchr(method, '/') + 1;
        (void)u;

        assert_true(len >= 5);
        if (strcmp(m, "Version") == 0) {
                Runtime__V1__VersionRequest *in = runtime__v1__version_request__unpack(NULL, len - 5, req + 5);
                Runtime__V1__VersionResponse out = RUNTIME__V1__VERSION_RESPONSE__INIT;
                assert_non_null(in);
                out.version = in->version; /* echoed: the test checks what was sent */
                out.runtime_name = "fake";
                out.runtime_version = (char *)tmo;
                out.runtime_api_version = "v1";
                fake_cri_reply_msg(reply, &out.base);
                runtime__v1__version_request__free_unpacked(in, NULL);
        } else if (strcmp(m, "ListContainers") == 0 || strcmp(m, "PullImage") == 0) {
                /* echo the caller's tag back, so a test sees each answer reach its own caller */
                Runtime__V1__ListContainersRequest *in =
                        strcmp(m, "ListContainers") == 0
                                ? runtime__v1__list_containers_request__unpack(NULL, len - 5, req + 5)
                                : NULL;
                Runtime__V1__PullImageRequest *pin =
                        in ? NULL : runtime__v1__pull_image_request__unpack(NULL, len - 5, req + 5);
                if (in) {
                        Runtime__V1__ListContainersResponse out = RUNTIME__V1__LIST_CONTAINERS_RESPONSE__INIT;
                        Runtime__V1__Container ct = RUNTIME__V1__CONTAINER__INIT, *cts[1] = {&ct};
                        assert_non_null(in->filter);
                        ct.id = in->filter->id;
                        out.n_containers = 1;
                        out.containers = cts;
                        fake_cri_reply_msg(reply, &out.base);
                        runtime__v1__list_containers_request__free_unpacked(in, NULL);
                } else {
                        Runtime__V1__PullImageResponse out = RUNTIME__V1__PULL_IMAGE_RESPONSE__INIT;
                        assert_non_null(pin);
                        out.image_ref = pin->image->image;
                        fake_cri_reply_msg(reply, &out.base);
                        runtime__v1__pull_image_request__free_unpacked(pin, NULL);
                        reply->delay_ms = 600;
                }
        } else if (strcmp(m, "ListPodSandbox") == 0) {
                Runtime__V1__ListPodSandboxResponse out = RUNTIME__V1__LIST_POD_SANDBOX_RESPONSE__INIT;
                Runtime__V1__PodSandbox **items = kn_calloc(BIG_SANDBOXES, sizeof(*items));
                Runtime__V1__PodSandbox *sb = kn_calloc(BIG_SANDBOXES, sizeof(*sb));
                char (*ids)[24] = kn_calloc(BIG_SANDBOXES, sizeof(*ids));
                for (int i = 0; i < BIG_SANDBOXES; i++) {
                        runtime__v1__pod_sandbox__init(&sb[i]);
                        snprintf(ids[i], sizeof(ids[i]), "sandbox-%d", i);
                        sb[i].id = ids[i];
                        sb[i].runtime_handler = "runc";
                        items[i] = &sb[i];
                }
                out.n_items = BIG_SANDBOXES;
                out.items = items;
                fake_cri_reply_msg(reply, &out.base);
                free(items), free(sb), free(ids);
        } else if (strcmp(m, "ContainerStatus") == 0) {
                reply->trailers_only = true;
                reply->grpc_status = CRI_GRPC_NOT_FOUND;
                reply->grpc_message = "an%20error%20occurred%20when%20try%20to%20find%20container%20%22abc%22:%20"
                                      "not%20found%25%zz";
        } else if (strcmp(m, "StopContainer") == 0) {
                static char msg[64]; /* the server has one thread */
                snprintf(msg, sizeof(msg), "still%%20running,%%20grpc-timeout%%20%s", tmo);
                reply->grpc_status = CRI_GRPC_FAILED_PRECONDITION; /* headers, then trailers, no body */
                reply->grpc_message = msg;
        } else if (strcmp(m, "RemoveContainer") == 0) {
                static const uint8_t trunc[] = {0, 0, 0, 0, 100, 0x0a, 0x03, 'a', 'b', 'c'};
                kn_buf_append(&reply->body, trunc, sizeof(trunc));
        } else if (strcmp(m, "ListImages") == 0) {
                static const uint8_t huge[] = {0, 0x7f, 0xff, 0xff, 0xff, 0x0a, 0x03, 'a', 'b', 'c'};
                kn_buf_append(&reply->body, huge, sizeof(huge));
        } else if (strcmp(m, "Attach") == 0) {
                static const uint8_t gz[] = {1, 0, 0, 0, 1, 0};
                kn_buf_append(&reply->body, gz, sizeof(gz));
        } else if (strcmp(m, "ExecSync") == 0) {
                reply->http_status = 503;
                reply->no_status = true;
        } else if (strcmp(m, "Exec") == 0) {
                static const uint8_t empty[] = {0, 0, 0, 0, 0};
                kn_buf_append(&reply->body, empty, sizeof(empty));
                reply->no_status = true; /* one whole message but no grpc-status */
        } else if (strcmp(m, "ReopenContainerLog") == 0) {
                static const uint8_t part[] = {0, 0, 0, 0, 4, 0x0a, 0x02};
                kn_buf_append(&reply->body, part, sizeof(part));
                reply->no_status = true; /* part of a message and no grpc-status */
        } else if (strcmp(m, "PortForward") == 0) {
                static const uint8_t bad[] = {0, 0, 0, 0, 2, 0xff, 0xff}; /* not protobuf */
                kn_buf_append(&reply->body, bad, sizeof(bad));
        } else if (strcmp(m, "ImageFsInfo") == 0) {
                reply->never = true;
        } else {
                reply->trailers_only = true;
                reply->grpc_status = CRI_GRPC_UNIMPLEMENTED;
                reply->grpc_message = "unknown method";
        }
}

static fake_cri *srv;
static cri_client *cli;

static int setup(void **state)
{
        kn_error err;
        (void)state;
        snprintf(dir, sizeof(dir), "/tmp/knode-test-cri.XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(sock, sizeof(sock), "%s/cri.sock", dir);
        snprintf(endpoint, sizeof(endpoint), "unix://%s", sock);
        srv = fake_cri_start(sock, handler, NULL);
        assert_int_equal(cri_client_new(endpoint, NULL, 5000, &cli, &err), 0);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        cri_client_free(cli);
        fake_cri_stop(srv);
        rmdir(dir);
        return 0;
}

static int accepts(void) { return __atomic_load_n(&srv->accepts, __ATOMIC_SEQ_CST); }

/* libcurl < 8.0 needs a rejected HTTP/1.1 connection to learn the runtime restarted (cri.c) */
static int reconnects(void) { return curl_version_info(CURLVERSION_NOW)->version_num < 0x080000 ? 2 : 1; }

static void test_success_with_trailers(void **state)
{
        _cleanup_cri_msg_ Runtime__V1__VersionResponse *v = NULL;
        kn_error err;
        (void)state;
        assert_int_equal(cri_version(cli, 0, &v, &err), 0);
        assert_string_equal(v->version, "0.1.0");
        assert_string_equal(v->runtime_name, "fake");
        assert_string_equal(v->runtime_version, "10000m"); /* grpc-timeout: Version's short default */
        assert_int_equal(cri_version(cli, 0, NULL, &err), 0);
        assert_int_equal(cri_client_default_timeout(cli), 5000);
        /* the generic call, and a request of the wrong type */
        {
                Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
                Runtime__V1__StatusRequest sreq = RUNTIME__V1__STATUS_REQUEST__INIT;
                _cleanup_cri_msg_ ProtobufCMessage *m = NULL;
                assert_int_equal(cri_call(cli, false, "Version", &req.base, NULL, 1234, &m, &err), 0);
                assert_ptr_equal(m->descriptor, &runtime__v1__version_response__descriptor);
                assert_string_equal(((Runtime__V1__VersionResponse *)m)->runtime_version, "1234m");
                assert_int_equal(cri_call(cli, false, "Version", &sreq.base, NULL, 0, NULL, &err), -EINVAL);
                assert_int_equal(cri_call(cli, false, "NoSuchMethod", &req.base, NULL, 0, NULL, &err), -EINVAL);
                /* a method this proto does not know, with the caller's response type */
                assert_int_equal(cri_call(cli, false, "NoSuchMethod", &req.base,
                                          &runtime__v1__version_response__descriptor, 0, NULL, &err),
                                 -EOPNOTSUPP);
                assert_string_equal(err.msg, "rpc error: code = Unimplemented desc = unknown method");
        }
        assert_int_equal(accepts(), 1);
}

static void test_errors(void **state)
{
        Runtime__V1__ContainerStatusRequest cs = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
        Runtime__V1__StopContainerRequest sc = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
        Runtime__V1__ExecSyncRequest es = RUNTIME__V1__EXEC_SYNC_REQUEST__INIT;
        Runtime__V1__ExecRequest ex = RUNTIME__V1__EXEC_REQUEST__INIT;
        Runtime__V1__PortForwardRequest pf = RUNTIME__V1__PORT_FORWARD_REQUEST__INIT;
        Runtime__V1__AttachRequest at = RUNTIME__V1__ATTACH_REQUEST__INIT;
        Runtime__V1__ReopenContainerLogRequest rl = RUNTIME__V1__REOPEN_CONTAINER_LOG_REQUEST__INIT;
        Runtime__V1__ContainerStatusResponse *out = (void *)&cs;
        kn_error err;
        (void)state;

        /* trailers-only, percent-encoded message (a bad escape is kept as is) */
        assert_int_equal(cri_container_status(cli, &cs, 0, &out, &err), -ENOENT);
        assert_ptr_equal(out, (void *)&cs); /* untouched on failure */
        assert_int_equal(err.code, -ENOENT);
        assert_string_equal(err.msg, "rpc error: code = NotFound desc = an error occurred when try to find "
                                     "container \"abc\": not found%%zz");
        /* status in trailers after headers and no body */
        sc.timeout = 60; /* the deadline is the default plus the grace period */
        assert_int_equal(cri_stop_container(cli, &sc, 0, NULL, &err), -EIO);
        assert_string_equal(err.msg, "rpc error: code = FailedPrecondition desc = still running, grpc-timeout 65000m");
        assert_int_equal(cri_stop_container(cli, &sc, 700, NULL, &err), -EIO);
        assert_string_equal(err.msg, "rpc error: code = FailedPrecondition desc = still running, grpc-timeout 700m");
        /* HTTP 503 without grpc-status: UNAVAILABLE */
        assert_int_equal(cri_exec_sync(cli, &es, 0, NULL, &err), -ECONNREFUSED);
        assert_non_null(strstr(err.msg, "Unavailable"));
        /* one whole message but no grpc-status (libcurl 7.88 loses trailers now and then):
         * a unary server sends a message only on success */
        assert_int_equal(cri_exec(cli, &ex, 0, NULL, &err), 0);
        /* part of a message and no grpc-status */
        assert_int_equal(cri_reopen_container_log(cli, &rl, 0, NULL, &err), -EPROTO);
        assert_non_null(strstr(err.msg, "no grpc-status"));
        /* bytes that are not the message */
        assert_int_equal(cri_port_forward(cli, &pf, 0, NULL, &err), -EBADMSG);
        /* a compressed message nobody asked for */
        assert_int_equal(cri_attach(cli, &at, 0, NULL, &err), -EPROTO);
        /* all of it over one connection */
        assert_int_equal(accepts(), 1);
        assert_int_equal(cri_version(cli, 0, NULL, &err), 0);
        assert_int_equal(accepts(), 1);
}

static void test_bad_frames(void **state)
{
        Runtime__V1__RemoveContainerRequest rc = RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;
        Runtime__V1__ListImagesRequest li = RUNTIME__V1__LIST_IMAGES_REQUEST__INIT;
        kn_error err;
        (void)state;
        assert_int_equal(cri_remove_container(cli, &rc, 0, NULL, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "truncated"));
        assert_int_equal(cri_list_images(cli, &li, 0, NULL, &err), -EFBIG);
        assert_non_null(strstr(err.msg, "2147483647 bytes"));
        /* the client is still fine */
        assert_int_equal(cri_version(cli, 0, NULL, &err), 0);
}

static void test_big_response(void **state)
{
        Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        _cleanup_cri_msg_ Runtime__V1__ListPodSandboxResponse *l = NULL;
        kn_error err;
        (void)state;
        assert_int_equal(cri_list_pod_sandbox(cli, &req, 0, &l, &err), 0);
        assert_int_equal(l->n_items, BIG_SANDBOXES);
        assert_string_equal(l->items[BIG_SANDBOXES - 1]->id, "sandbox-19999");
}

static void test_deadline(void **state)
{
        _cleanup_cri_msg_ Runtime__V1__ImageFsInfoResponse *r = NULL;
        kn_error err;
        int64_t t0 = kn_now_ms(), dt;
        (void)state;
        assert_int_equal(cri_image_fs_info(cli, 300, &r, &err), -ETIMEDOUT);
        dt = kn_now_ms() - t0;
        assert_true(dt >= 290 && dt < 2000);
        assert_null(r);
        assert_non_null(strstr(err.msg, "DeadlineExceeded"));
        /* only that stream was given up: the connection carries on */
        assert_int_equal(cri_version(cli, 0, NULL, &err), 0);
        assert_int_equal(accepts(), 1);
}

struct worker {
        int n, fails;
        int64_t done_ms;
};

static void *list_worker(void *u)
{
        struct worker *w = u;
        for (int i = 0; i < 50; i++) {
                Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
                Runtime__V1__ContainerFilter f = RUNTIME__V1__CONTAINER_FILTER__INIT;
                _cleanup_cri_msg_ Runtime__V1__ListContainersResponse *l = NULL;
                char tag[32];
                kn_error err;
                snprintf(tag, sizeof(tag), "w%d-%d", w->n, i);
                f.id = tag;
                req.filter = &f;
                if (cri_list_containers(cli, &req, 0, &l, &err) < 0 || l->n_containers != 1 ||
                    strcmp(l->containers[0]->id, tag) != 0)
                        w->fails++;
        }
        w->done_ms = kn_now_ms();
        return NULL;
}

static void *pull_worker(void *u)
{
        struct worker *w = u;
        Runtime__V1__PullImageRequest req = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
        Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
        _cleanup_cri_msg_ Runtime__V1__PullImageResponse *r = NULL;
        kn_error err;
        spec.image = "registry.local/big:1";
        req.image = &spec;
        if (cri_pull_image(cli, &req, 0, &r, &err) < 0 || strcmp(r->image_ref, "registry.local/big:1") != 0)
                w->fails++;
        w->done_ms = kn_now_ms();
        return NULL;
}

static void test_concurrent(void **state)
{
        pthread_t t[5];
        struct worker w[5] = {{.n = 0}, {.n = 1}, {.n = 2}, {.n = 3}, {.n = 4}};
        kn_error err;
        (void)state;
        assert_int_equal(pthread_create(&t[4], NULL, pull_worker, &w[4]), 0);
        for (int i = 0; i < 4; i++)
                assert_int_equal(pthread_create(&t[i], NULL, list_worker, &w[i]), 0);
        for (int i = 0; i < 5; i++)
                pthread_join(t[i], NULL);
        for (int i = 0; i < 5; i++)
                assert_int_equal(w[i].fails, 0);
        /* the slow PullImage (600 ms) held up none of the 200 ListContainers */
        for (int i = 0; i < 4; i++)
                assert_true(w[i].done_ms < w[4].done_ms);
        assert_int_equal(accepts(), 1);
        assert_int_equal(__atomic_load_n(&srv->requests, __ATOMIC_SEQ_CST), 201);
        assert_int_equal(cri_version(cli, 0, NULL, &err), 0);
}

/* More calls in flight than libcurl's default of 100 streams a connection: all of them
 * go over the one connection (a second one could not be opened with prior knowledge). */
#define MANY_CALLS 120
static void test_many_in_flight(void **state)
{
        pthread_t t[MANY_CALLS];
        struct worker w[MANY_CALLS] = {0};
        (void)state;
        for (int i = 0; i < MANY_CALLS; i++)
                assert_int_equal(pthread_create(&t[i], NULL, pull_worker, &w[i]), 0);
        for (int i = 0; i < MANY_CALLS; i++)
                pthread_join(t[i], NULL);
        for (int i = 0; i < MANY_CALLS; i++)
                assert_int_equal(w[i].fails, 0);
        assert_int_equal(accepts(), 1);
}

static void test_restart(void **state)
{
        kn_error err;
        (void)state;
        assert_int_equal(cri_version(cli, 0, NULL, &err), 0);
        fake_cri_stop(srv);
        srv = NULL;
        assert_int_equal(cri_version(cli, 0, NULL, &err), -ECONNREFUSED);
        assert_non_null(strstr(err.msg, sock));
        srv = fake_cri_start(sock, handler, NULL);
        assert_int_equal(cri_version(cli, 0, NULL, &err), 0);
        assert_int_equal(cri_version(cli, 0, NULL, &err), 0);
        assert_int_equal(accepts(), 1);
        /* restarted under a connection that is still open */
        fake_cri_stop(srv);
        srv = fake_cri_start(sock, handler, NULL);
        assert_int_equal(cri_version(cli, 0, NULL, &err), 0);
        assert_int_equal(cri_version(cli, 0, NULL, &err), 0);
        assert_int_equal(accepts(), reconnects());
}

static void *cancel_worker(void *u)
{
        kn_error err;
        *(int *)u = cri_image_fs_info(cli, 0, NULL, &err);
        return NULL;
}

static void test_cancel(void **state)
{
        pthread_t t;
        int r = 1;
        int64_t t0;
        kn_error err;
        (void)state;
        assert_int_equal(pthread_create(&t, NULL, cancel_worker, &r), 0);
        while (__atomic_load_n(&srv->requests, __ATOMIC_SEQ_CST) < 1)
                usleep(1000);
        t0 = kn_now_ms();
        cri_client_cancel(cli);
        pthread_join(t, NULL);
        assert_int_equal(r, -ECANCELED);
        assert_true(kn_now_ms() - t0 < 3000); /* not the call's own deadline */
        assert_int_equal(cri_version(cli, 0, NULL, &err), -ECANCELED);
}

static void test_endpoints(void **state)
{
        cri_client *c = NULL;
        kn_error err;
        (void)state;
        assert_int_equal(cri_client_new("tcp://127.0.0.1:1234", NULL, 0, &c, &err), -EPROTONOSUPPORT);
        assert_int_equal(cri_client_new("unix://relative.sock", NULL, 0, &c, &err), -EINVAL);
        assert_int_equal(cri_client_new("", NULL, 0, &c, &err), -EINVAL);
        assert_null(c);
        /* a bare path, and an image service on another socket */
        assert_int_equal(cri_client_new(sock, "unix:///nonexistent/image.sock", 0, &c, &err), 0);
        assert_int_equal(cri_version(c, 0, NULL, &err), 0);
        assert_int_equal(cri_image_fs_info(c, 0, NULL, &err), -ECONNREFUSED);
        assert_non_null(strstr(err.msg, "/nonexistent/image.sock"));
        cri_client_free(c);
        cri_client_free(NULL);
}

static void test_grpc_helpers(void **state)
{
        char buf[64];
        int code;
        (void)state;
        cri_grpc_format_timeout(1500, buf, sizeof(buf));
        assert_string_equal(buf, "1500m");
        cri_grpc_format_timeout(100000000, buf, sizeof(buf));
        assert_string_equal(buf, "100000S");
        cri_grpc_decode_message("a%2", 3, buf, sizeof(buf));
        assert_string_equal(buf, "a%2");
        cri_grpc_decode_message("%41%4a%e2%9c%93", 15, buf, sizeof(buf));
        assert_string_equal(buf, "AJ\xe2\x9c\x93");
        cri_grpc_decode_message("abcdef", 6, buf, 4);
        assert_string_equal(buf, "abc");
        assert_int_equal(cri_grpc_parse_status("14", 2, &code), 0);
        assert_int_equal(code, 14);
        assert_int_equal(cri_grpc_parse_status("1x", 2, &code), -EBADMSG);
        assert_int_equal(cri_grpc_parse_status("", 0, &code), -EBADMSG);
        assert_int_equal(cri_grpc_errno(CRI_GRPC_NOT_FOUND), -ENOENT);
        assert_int_equal(cri_grpc_errno(CRI_GRPC_DEADLINE_EXCEEDED), -ETIMEDOUT);
        assert_int_equal(cri_grpc_errno(CRI_GRPC_UNAVAILABLE), -ECONNREFUSED);
        assert_int_equal(cri_grpc_errno(CRI_GRPC_UNIMPLEMENTED), -EOPNOTSUPP);
        assert_int_equal(cri_grpc_errno(CRI_GRPC_INVALID_ARGUMENT), -EINVAL);
        assert_int_equal(cri_grpc_errno(CRI_GRPC_ALREADY_EXISTS), -EEXIST);
        assert_int_equal(cri_grpc_errno(CRI_GRPC_PERMISSION_DENIED), -EACCES);
        assert_int_equal(cri_grpc_errno(CRI_GRPC_RESOURCE_EXHAUSTED), -ENOSPC);
        assert_int_equal(cri_grpc_errno(CRI_GRPC_CANCELLED), -ECANCELED);
        assert_int_equal(cri_grpc_errno(CRI_GRPC_ABORTED), -EIO);
        assert_int_equal(cri_grpc_errno(99), -EIO);
        assert_string_equal(cri_grpc_code_name(99), "Unknown");
}

static size_t inheritable(int *fds, size_t max)
{
        size_t n = 0;
        for (int fd = 3; fd < 1024 && n < max; fd++) {
                int fl = fcntl(fd, F_GETFD);
                if (fl >= 0 && !(fl & FD_CLOEXEC))
                        fds[n++] = fd;
        }
        return n;
}

static void test_no_inherited_fds(void **state)
{
        cri_client *c;
        kn_error err;
        int before[64], after[64];
        size_t nb, na;
        (void)state;
        nb = inheritable(before, 64); /* whatever the test runner inherited */
        assert_int_equal(cri_client_new(endpoint, NULL, 0, &c, &err), 0);
        assert_int_equal(cri_version(c, 0, NULL, &err), 0);
        assert_int_equal(cri_version(c, 0, NULL, &err), 0);
        na = inheritable(after, 64);
        cri_client_free(c);
        assert_int_equal(na, nb);
        assert_memory_equal(after, before, nb * sizeof(int));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_success_with_trailers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_frames, setup, teardown),
                cmocka_unit_test_setup_teardown(test_big_response, setup, teardown),
                cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
                cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_many_in_flight, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
                cmocka_unit_test_setup_teardown(test_endpoints, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_inherited_fds, setup, teardown),
                cmocka_unit_test(test_grpc_helpers),
        };
        if (getenv("CRI_TEST_FILTER"))
                cmocka_set_test_filter(getenv("CRI_TEST_FILTER"));
        return cmocka_run_group_tests_name("cri", tests, NULL, NULL);
}
