/* SPDX-License-Identifier: Apache-2.0 */
/* The probe manager and its handlers against local HTTP(S)/TCP servers on 127.0.0.1, a fake
 * exec runner and a scripted h2c gRPC health server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "../../kubelet/prober.h"
#include "../../runtime/cri.h"
#include "../../runtime/grpc.h"
#include "fakecri.h"

/* ---- a small HTTP/1.1 server: one thread per connection ---- */

struct srv {
        int fd, port;
        SSL_CTX *tls; /* NULL: plain HTTP */
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t idle;
        int live;          /* connection threads running */
        int toggle_code;   /* what /toggle answers */
        int hits[8];       /* per path: see path_index */
        char last_headers[4096];
        int64_t first_hit_ms[8];
};

static int path_index(const char *path)
{
        static const char *const paths[] = {"/ok", "/fail", "/slow", "/hdr", "/toggle", "/live", "/big", "/other"};
        for (size_t i = 0; i < KN_ARRAY_SIZE(paths); i++)
                if (strcmp(path, paths[i]) == 0)
                        return (int)i;
        return 7;
}

struct conn {
        struct srv *s;
        int fd;
};

static void *conn_main(void *arg)
{
        struct conn *c = arg;
        struct srv *s = c->s;
        char req[4096], path[256] = "", resp[512];
        size_t len = 0;
        ssize_t n;
        SSL *ssl = NULL;
        int code = 200, i;
        const char *extra = "", *body = "ok";
        char location[256];

        if (s->tls) {
                ssl = SSL_new(s->tls);
                SSL_set_fd(ssl, c->fd);
                if (SSL_accept(ssl) <= 0)
                        goto out;
        }
        while (len < sizeof(req) - 1) {
                n = ssl ? SSL_read(ssl, req + len, (int)(sizeof(req) - 1 - len))
                        : read(c->fd, req + len, sizeof(req) - 1 - len);
                if (n <= 0)
                        goto out;
                len += (size_t)n;
                req[len] = '\0';
                if (strstr(req, "\r\n\r\n"))
                        break;
        }
        (void)sscanf(req, "GET %255s", path);
        i = path_index(path);
        pthread_mutex_lock(&s->mu);
        if (s->hits[i]++ == 0)
                s->first_hit_ms[i] = kn_now_ms();
        snprintf(s->last_headers, sizeof(s->last_headers), "%s", req);
        if (i == 4)
                code = s->toggle_code;
        pthread_mutex_unlock(&s->mu);
        if (strcmp(path, "/fail") == 0)
                code = 500;
        else if (strcmp(path, "/slow") == 0)
                usleep(1500 * 1000);
        else if (strcmp(path, "/hdr") == 0)
                code = strstr(req, "\r\nX-Probe: yes\r\n") ? 200 : 403;
        else if (strncmp(path, "/redir-same", 11) == 0) {
                code = 302;
                snprintf(location, sizeof(location), "Location: http://127.0.0.1:%d/ok\r\n", s->port);
                extra = location;
        } else if (strcmp(path, "/redir-other") == 0) {
                code = 302; /* elsewhere: not followed, a success */
                snprintf(location, sizeof(location), "Location: http://127.0.0.2:%d/fail\r\n", s->port);
                extra = location;
        } else if (strcmp(path, "/redir-loop") == 0) {
                code = 302;
                extra = "Location: /redir-loop\r\n";
        } else if (strcmp(path, "/redir-fail") == 0) {
                code = 301;
                extra = "Location: /fail\r\n";
        }
        if (strcmp(path, "/big") == 0) {
                snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
                         1 << 20);
                if (ssl ? SSL_write(ssl, resp, (int)strlen(resp)) : write(c->fd, resp, strlen(resp))) {
                        char chunk[16384];
                        memset(chunk, 'x', sizeof(chunk));
                        for (int k = 0; k < 64; k++) {
                                long w = ssl ? SSL_write(ssl, chunk, sizeof(chunk)) : write(c->fd, chunk, sizeof(chunk));
                                if (w <= 0)
                                        break;
                        }
                }
                goto out;
        }
        snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s", code,
                 extra, strlen(body), body);
        if (ssl)
                SSL_write(ssl, resp, (int)strlen(resp));
        else
                (void)!write(c->fd, resp, strlen(resp));
out:
        if (ssl) {
                SSL_shutdown(ssl);
                SSL_free(ssl);
        }
        close(c->fd);
        free(c);
        pthread_mutex_lock(&s->mu);
        if (--s->live == 0)
                pthread_cond_broadcast(&s->idle);
        pthread_mutex_unlock(&s->mu);
        return NULL;
}

static void *srv_main(void *arg)
{
        struct srv *s = arg;
        for (;;) {
                int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
                pthread_t t;
                struct conn *c;
                if (fd < 0)
                        return NULL; /* shut down */
                c = kn_calloc(1, sizeof(*c));
                c->s = s;
                c->fd = fd;
                pthread_mutex_lock(&s->mu);
                s->live++;
                pthread_mutex_unlock(&s->mu);
                pthread_create(&t, NULL, conn_main, c);
                pthread_detach(t);
        }
}

static int listen_any(int *ret_port)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t al = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(fd, 64), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
        *ret_port = ntohs(a.sin_port);
        return fd;
}

static SSL_CTX *self_signed_ctx(void)
{
        EVP_PKEY *key = EVP_EC_gen("P-256");
        X509 *x = X509_new();
        X509_NAME *n;
        SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

        assert_non_null(key);
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), -60);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_set_pubkey(x, key);
        n = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"probe-test", -1, -1, 0);
        X509_set_issuer_name(x, n);
        assert_true(X509_sign(x, key, EVP_sha256()) > 0);
        assert_int_equal(SSL_CTX_use_certificate(ctx, x), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
        X509_free(x);
        EVP_PKEY_free(key);
        return ctx;
}

static struct srv *srv_start(bool tls)
{
        struct srv *s = kn_calloc(1, sizeof(*s));
        pthread_mutex_init(&s->mu, NULL);
        pthread_cond_init(&s->idle, NULL);
        s->toggle_code = 200;
        s->fd = listen_any(&s->port);
        if (tls)
                s->tls = self_signed_ctx();
        pthread_create(&s->thread, NULL, srv_main, s);
        return s;
}

static void srv_stop(struct srv *s)
{
        shutdown(s->fd, SHUT_RDWR);
        pthread_join(s->thread, NULL);
        close(s->fd);
        pthread_mutex_lock(&s->mu);
        while (s->live)
                pthread_cond_wait(&s->idle, &s->mu);
        pthread_mutex_unlock(&s->mu);
        if (s->tls)
                SSL_CTX_free(s->tls);
        pthread_cond_destroy(&s->idle);
        pthread_mutex_destroy(&s->mu);
        free(s);
}

static int hits(struct srv *s, const char *path)
{
        int n;
        pthread_mutex_lock(&s->mu);
        n = s->hits[path_index(path)];
        pthread_mutex_unlock(&s->mu);
        return n;
}

static void set_toggle(struct srv *s, int code)
{
        pthread_mutex_lock(&s->mu);
        s->toggle_code = code;
        pthread_mutex_unlock(&s->mu);
}

/* ---- helpers ---- */

static cJSON *json(const char *fmt, ...) KN_PRINTF(1, 2);
static cJSON *json(const char *fmt, ...)
{
        _cleanup_free_ char *s = NULL;
        va_list ap;
        cJSON *j;
        va_start(ap, fmt);
        assert_true(vasprintf(&s, fmt, ap) >= 0);
        va_end(ap);
        j = cJSON_Parse(s);
        if (!j)
                fail_msg("bad JSON: %s", s);
        return j;
}

/* Run one probe of JSON spec PROBE (of a container with a port named "http" = PORT). */
static int run1(const char *probe, int port, probe_result *res, char *msg)
{
        _cleanup_cjson_ cJSON *p = json("%s", probe);
        _cleanup_cjson_ cJSON *c = json("{\"name\":\"c\",\"ports\":[{\"name\":\"http\",\"containerPort\":%d}]}", port);
        probe_spec *s = NULL;
        probe_run r = {.pod_ip = "127.0.0.1", .cancel_fd = -1};
        int rc;

        s = probe_spec_parse(p, c, PROBE_READINESS);
        r.spec = s;
        *res = PROBE_UNKNOWN;
        rc = probe_run_once(&r, res, msg, PROBE_MSG_MAX);
        probe_spec_free(s);
        return rc;
}

static probe_result http1(struct srv *s, const char *path, const char *more)
{
        char probe[1024], msg[PROBE_MSG_MAX];
        probe_result res;
        snprintf(probe, sizeof(probe), "{\"httpGet\":{\"path\":\"%s\",\"port\":%d%s}}", path, s->port, more);
        assert_int_equal(run1(probe, s->port, &res, msg), 0);
        return res;
}

/* ---- handlers, one run at a time ---- */

static void test_http_handler(void **state)
{
        struct srv *s = srv_start(false);
        char probe[256], msg[PROBE_MSG_MAX];
        probe_result res;
        int64_t t0;

        assert_int_equal(http1(s, "/ok", ""), PROBE_SUCCESS);
        assert_int_equal(http1(s, "/fail", ""), PROBE_FAILURE);
        assert_non_null(strstr(s->last_headers, "\r\nUser-Agent: kube-probe/1."));
        assert_non_null(strstr(s->last_headers, "\r\nAccept: */*\r\n"));
        /* headers, and a User-Agent of our own */
        assert_int_equal(http1(s, "/hdr", ""), PROBE_FAILURE);
        assert_int_equal(http1(s, "/hdr", ",\"httpHeaders\":[{\"name\":\"X-Probe\",\"value\":\"yes\"},"
                                          "{\"name\":\"User-Agent\",\"value\":\"mine\"}]"),
                         PROBE_SUCCESS);
        assert_non_null(strstr(s->last_headers, "\r\nUser-Agent: mine\r\n"));
        assert_null(strstr(s->last_headers, "kube-probe"));
        /* named port, and a port number written as a string */
        snprintf(probe, sizeof(probe), "{\"httpGet\":{\"path\":\"/ok\",\"port\":\"http\"}}");
        assert_int_equal(run1(probe, s->port, &res, msg), 0);
        assert_int_equal(res, PROBE_SUCCESS);
        snprintf(probe, sizeof(probe), "{\"httpGet\":{\"path\":\"/ok\",\"port\":\"%d\"}}", s->port);
        assert_int_equal(run1(probe, 1, &res, msg), 0);
        assert_int_equal(res, PROBE_SUCCESS);
        assert_int_equal(run1("{\"httpGet\":{\"path\":\"/ok\",\"port\":\"nope\"}}", s->port, &res, msg), -EINVAL);
        assert_non_null(strstr(msg, "nope"));
        /* redirects: same host followed, elsewhere a success, loops fail */
        assert_int_equal(http1(s, "/redir-same", ""), PROBE_SUCCESS);
        assert_int_equal(http1(s, "/redir-fail", ""), PROBE_FAILURE);
        assert_int_equal(http1(s, "/redir-other", ""), PROBE_SUCCESS);
        assert_int_equal(hits(s, "/other"), 3); /* the three /redir-*, nothing for 127.0.0.2 */
        assert_int_equal(http1(s, "/redir-loop", ""), PROBE_FAILURE);
        /* a large body is read up to the bound, and the answer stands */
        assert_int_equal(http1(s, "/big", ""), PROBE_SUCCESS);
        /* timeout (1 s) */
        t0 = kn_now_ms();
        assert_int_equal(http1(s, "/slow", ""), PROBE_FAILURE);
        assert_true(kn_now_ms() - t0 < 1400);
        srv_stop(s);
        /* nobody listening */
        assert_int_equal(http1(&(struct srv){.port = 1}, "/ok", ""), PROBE_FAILURE);
}

static void test_https_handler(void **state)
{
        struct srv *s = srv_start(true);
        assert_int_equal(http1(s, "/ok", ",\"scheme\":\"HTTPS\""), PROBE_SUCCESS);
        assert_int_equal(http1(s, "/fail", ",\"scheme\":\"HTTPS\""), PROBE_FAILURE);
        assert_int_equal(http1(s, "/big", ",\"scheme\":\"HTTPS\""), PROBE_SUCCESS);
        srv_stop(s);
}

static void test_tcp_handler(void **state)
{
        char probe[256], msg[PROBE_MSG_MAX];
        probe_result res;
        int port, fd = listen_any(&port);

        snprintf(probe, sizeof(probe), "{\"tcpSocket\":{\"port\":%d}}", port);
        assert_int_equal(run1(probe, port, &res, msg), 0);
        assert_int_equal(res, PROBE_SUCCESS);
        assert_int_equal(run1("{\"tcpSocket\":{\"port\":\"http\"}}", port, &res, msg), 0);
        assert_int_equal(res, PROBE_SUCCESS);
        snprintf(probe, sizeof(probe), "{\"tcpSocket\":{\"port\":%d,\"host\":\"localhost\"}}", port);
        assert_int_equal(run1(probe, port, &res, msg), 0);
        assert_int_equal(res, PROBE_SUCCESS);
        close(fd);
        snprintf(probe, sizeof(probe), "{\"tcpSocket\":{\"port\":%d}}", port);
        assert_int_equal(run1(probe, port, &res, msg), 0);
        assert_int_equal(res, PROBE_FAILURE);
        assert_non_null(strstr(msg, "connection refused"));
        assert_int_equal(run1("{\"tcpSocket\":{\"port\":70000}}", port, &res, msg), -EINVAL);
}

/* ---- a scripted gRPC health server over h2c (libnghttp2), one thread per connection ---- */

struct h2c {
        int fd;
        char service[64], ua[128];
        unsigned char resp[8];
        size_t resp_len, resp_off;
};

static ssize_t h2_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
        struct h2c *c = ud;
        ssize_t n = write(c->fd, data, len);
        return n < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : n;
}

static int h2_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                     const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
        struct h2c *c = ud;
        if (nl == 10 && memcmp(name, "user-agent", 10) == 0)
                snprintf(c->ua, sizeof(c->ua), "%.*s", (int)vl, value);
        return 0;
}

static int h2_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *d, size_t len, void *ud)
{
        struct h2c *c = ud;
        /* HealthCheckRequest behind the 5-byte prefix: 0x0a LEN service, or nothing */
        if (len >= 7 && d[5] == 0x0a && d[6] < sizeof(c->service) && (size_t)d[6] + 7 <= len)
                snprintf(c->service, sizeof(c->service), "%.*s", d[6], (const char *)d + 7);
        return 0;
}

static ssize_t h2_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                       nghttp2_data_source *src, void *ud)
{
        struct h2c *c = ud;
        nghttp2_nv trailer[] = {{(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, 0}};
        size_t n = c->resp_len - c->resp_off;
        if (n > len)
                n = len;
        memcpy(buf, c->resp + c->resp_off, n);
        c->resp_off += n;
        if (c->resp_off == c->resp_len) {
                *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
                nghttp2_submit_trailer(s, id, trailer, 1);
        }
        return (ssize_t)n;
}

#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, 0}

static int h2_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
        struct h2c *c = ud;
        nghttp2_nv ok[] = {NV(":status", "200"), NV("content-type", "application/grpc")};
        nghttp2_nv unimpl[] = {NV(":status", "200"), NV("content-type", "application/grpc"),
                               NV("grpc-status", "12"), NV("grpc-message", "unknown service")};
        nghttp2_data_provider dp = {.read_callback = h2_read};

        if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM) || (f->hd.type != NGHTTP2_DATA && f->hd.type != NGHTTP2_HEADERS))
                return 0;
        if (strcmp(c->service, "slow") == 0)
                return 0; /* never answers */
        if (strcmp(c->service, "unimpl") == 0)
                return nghttp2_submit_response(s, f->hd.stream_id, unimpl, 4, NULL);
        /* HealthCheckResponse{status = SERVING (1) or NOT_SERVING (2)} */
        memcpy(c->resp, "\0\0\0\0\2\x08", 6);
        c->resp[6] = strcmp(c->service, "down") == 0 ? 2 : 1;
        c->resp_len = 7;
        return nghttp2_submit_response(s, f->hd.stream_id, ok, 2, &dp);
}

static char grpc_last_ua[128];
static pthread_mutex_t grpc_mu = PTHREAD_MUTEX_INITIALIZER;

static void *h2c_main(void *arg)
{
        struct h2c *c = arg;
        nghttp2_session_callbacks *cb;
        nghttp2_session *s;
        uint8_t buf[4096];
        ssize_t n;

        nghttp2_session_callbacks_new(&cb);
        nghttp2_session_callbacks_set_send_callback(cb, h2_send);
        nghttp2_session_callbacks_set_on_header_callback(cb, h2_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2_data);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, h2_frame);
        nghttp2_session_server_new(&s, cb, c);
        nghttp2_session_callbacks_del(cb);
        nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);
        nghttp2_session_send(s);
        while ((n = read(c->fd, buf, sizeof(buf))) > 0) {
                if (nghttp2_session_mem_recv(s, buf, (size_t)n) < 0 || nghttp2_session_send(s) != 0)
                        break;
                pthread_mutex_lock(&grpc_mu);
                snprintf(grpc_last_ua, sizeof(grpc_last_ua), "%s", c->ua);
                pthread_mutex_unlock(&grpc_mu);
        }
        nghttp2_session_del(s);
        close(c->fd);
        free(c);
        return NULL;
}

static void *h2c_accept(void *arg)
{
        int lfd = (int)(intptr_t)arg;
        for (;;) {
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                struct h2c *c;
                pthread_t t;
                if (fd < 0)
                        return NULL;
                c = kn_calloc(1, sizeof(*c));
                c->fd = fd;
                pthread_create(&t, NULL, h2c_main, c);
                pthread_detach(t);
        }
}

static probe_result grpc1(int port, const char *service, char *msg)
{
        char probe[256];
        probe_result res;
        snprintf(probe, sizeof(probe), "{\"grpc\":{\"port\":%d%s%s%s}}", port, service ? ",\"service\":\"" : "",
                 service ? service : "", service ? "\"" : "");
        assert_int_equal(run1(probe, port, &res, msg), 0);
        return res;
}

static void test_grpc_handler(void **state)
{
        char msg[PROBE_MSG_MAX];
        pthread_t t;
        int port, fd = listen_any(&port);
        int64_t t0;

        pthread_create(&t, NULL, h2c_accept, (void *)(intptr_t)fd);
        assert_int_equal(grpc1(port, NULL, msg), PROBE_SUCCESS);
        assert_string_equal(msg, "service healthy");
        pthread_mutex_lock(&grpc_mu);
        assert_non_null(strstr(grpc_last_ua, "kube-probe/1."));
        pthread_mutex_unlock(&grpc_mu);
        assert_int_equal(grpc1(port, "web", msg), PROBE_SUCCESS);
        assert_int_equal(grpc1(port, "down", msg), PROBE_FAILURE);
        assert_string_equal(msg, "service unhealthy (responded with \"NOT_SERVING\")");
        assert_int_equal(grpc1(port, "unimpl", msg), PROBE_FAILURE);
        assert_non_null(strstr(msg, "does not implement the grpc health protocol"));
        t0 = kn_now_ms();
        assert_int_equal(grpc1(port, "slow", msg), PROBE_FAILURE);
        assert_non_null(strstr(msg, "timeout"));
        assert_true(kn_now_ms() - t0 < 1400);
        shutdown(fd, SHUT_RDWR);
        pthread_join(t, NULL);
        close(fd);
        /* nobody listening */
        assert_int_equal(grpc1(port, NULL, msg), PROBE_FAILURE);
        usleep(50 * 1000);
}

/* ---- the exec runner over CRI ExecSync, against a scripted runtime ---- */

static char exec_seen[128];

static void cri_handler(void *u, const char *method, const uint8_t *req, size_t len, const char *tmo,
                        fake_cri_reply *reply)
{
        Runtime__V1__ExecSyncRequest *in;
        Runtime__V1__ExecSyncResponse out = RUNTIME__V1__EXEC_SYNC_RESPONSE__INIT;

        if (strcmp(method, "/runtime.v1.RuntimeService/ExecSync") != 0 || len < 5 ||
            !(in = runtime__v1__exec_sync_request__unpack(NULL, len - 5, req + 5))) {
                reply->trailers_only = true;
                reply->grpc_status = CRI_GRPC_UNIMPLEMENTED;
                return;
        }
        snprintf(exec_seen, sizeof(exec_seen), "%s %s %zu %lld %s", in->container_id, in->n_cmd ? in->cmd[0] : "",
                 in->n_cmd, (long long)in->timeout, tmo);
        if (in->n_cmd && strcmp(in->cmd[0], "hang") == 0) {
                reply->trailers_only = true;
                reply->grpc_status = CRI_GRPC_DEADLINE_EXCEEDED;
                reply->grpc_message = "timeout%201s%20exceeded";
        } else if (in->n_cmd && strcmp(in->cmd[0], "gone") == 0) {
                reply->trailers_only = true;
                reply->grpc_status = CRI_GRPC_NOT_FOUND;
                reply->grpc_message = "container%20not%20found";
        } else {
                bool ok = in->n_cmd && strcmp(in->cmd[0], "ok") == 0;
                out.exit_code = ok ? 0 : 3;
                out.stdout.data = (uint8_t *)(ok ? "fine\n" : "");
                out.stdout.len = ok ? 5 : 0;
                out.stderr.data = (uint8_t *)(ok ? "" : "broken\n");
                out.stderr.len = ok ? 0 : 7;
                fake_cri_reply_msg(reply, &out.base);
        }
        runtime__v1__exec_sync_request__free_unpacked(in, NULL);
}

static int exec1(cri_client *cli, const char *cmd, probe_result *res, char *msg)
{
        char probe[256];
        _cleanup_cjson_ cJSON *p = NULL, *c = json("{\"name\":\"c\"}");
        probe_spec *s = NULL;
        probe_run r = {.container_id = "ctr1", .exec = probe_exec_cri, .exec_ud = cli, .cancel_fd = -1};
        int rc;

        snprintf(probe, sizeof(probe), "{\"exec\":{\"command\":[\"%s\",\"arg\"]},\"timeoutSeconds\":2}", cmd);
        p = json("%s", probe);
        s = probe_spec_parse(p, c, PROBE_LIVENESS);
        r.spec = s;
        *res = PROBE_UNKNOWN;
        rc = probe_run_once(&r, res, msg, PROBE_MSG_MAX);
        probe_spec_free(s);
        return rc;
}

static void test_exec_cri(void **state)
{
        char dir[64] = "/tmp/knode-test-probes.XXXXXX", sock[96], endpoint[160], msg[PROBE_MSG_MAX];
        fake_cri *srv;
        cri_client *cli;
        probe_result res;
        kn_error err;

        assert_non_null(mkdtemp(dir));
        snprintf(sock, sizeof(sock), "%s/cri.sock", dir);
        snprintf(endpoint, sizeof(endpoint), "unix://%s", sock);
        srv = fake_cri_start(sock, cri_handler, NULL);
        assert_int_equal(cri_client_new(endpoint, NULL, 5000, &cli, &err), 0);

        assert_int_equal(exec1(cli, "ok", &res, msg), 0);
        assert_int_equal(res, PROBE_SUCCESS);
        /* ExecSync{container_id, cmd, timeout: 2 s}; the call's deadline is the client's 5 s + 2 s */
        assert_string_equal(exec_seen, "ctr1 ok 2 2 7000m");
        assert_string_equal(msg, "fine");
        assert_int_equal(exec1(cli, "bad", &res, msg), 0);
        assert_int_equal(res, PROBE_FAILURE);
        assert_string_equal(msg, "command exited with 3: broken");
        /* the runtime's timeout is a failure */
        assert_int_equal(exec1(cli, "hang", &res, msg), 0);
        assert_int_equal(res, PROBE_FAILURE);
        assert_non_null(strstr(msg, "timed out"));
        /* any other runtime error: the probe could not run */
        assert_true(exec1(cli, "gone", &res, msg) < 0);
        assert_non_null(strstr(msg, "not found"));
        /* no runtime at all */
        assert_int_equal(probe_exec_cri(NULL, "x", (char *[]){"ok", NULL}, 1000, &(int){0}, msg, sizeof(msg), &err),
                         -EOPNOTSUPP);

        cri_client_free(cli);
        fake_cri_stop(srv);
        rmdir(dir);
}

static void test_spec_parse(void **state)
{
        _cleanup_cjson_ cJSON *c = json("{\"name\":\"c\"}");
        _cleanup_cjson_ cJSON *p1 = json("{\"exec\":{\"command\":[\"cat\",\"/tmp/ok\"]}}");
        _cleanup_cjson_ cJSON *p2 = json("{\"tcpSocket\":{\"port\":80},\"periodSeconds\":5,\"timeoutSeconds\":2,"
                                         "\"successThreshold\":3,\"failureThreshold\":4,\"initialDelaySeconds\":7,"
                                         "\"terminationGracePeriodSeconds\":9}");
        _cleanup_cjson_ cJSON *p3 = json("{\"periodSeconds\":5}");
        _cleanup_cjson_ cJSON *p4 =
                json("{\"httpGet\":{\"port\":80,\"httpHeaders\":[{\"name\":\"A\\r\\nB\",\"value\":\"x\"}]}}");
        probe_spec *s;

        s = probe_spec_parse(p1, c, PROBE_LIVENESS);
        assert_int_equal(s->handler, PROBE_EXEC);
        assert_int_equal(s->argc, 2);
        assert_string_equal(s->argv[1], "/tmp/ok");
        assert_null(s->argv[2]);
        assert_int_equal(s->period_s, 10);
        assert_int_equal(s->timeout_s, 1);
        assert_int_equal(s->success_threshold, 1);
        assert_int_equal(s->failure_threshold, 3);
        assert_int_equal(s->termination_grace_s, -1);
        probe_spec_free(s);
        s = probe_spec_parse(p2, c, PROBE_READINESS);
        assert_int_equal(s->period_s, 5);
        assert_int_equal(s->timeout_s, 2);
        assert_int_equal(s->success_threshold, 3);
        assert_int_equal(s->failure_threshold, 4);
        assert_int_equal(s->initial_delay_s, 7);
        assert_int_equal(s->termination_grace_s, 9);
        probe_spec_free(s);
        /* successThreshold is 1 for liveness, whatever the spec says */
        s = probe_spec_parse(p2, c, PROBE_LIVENESS);
        assert_int_equal(s->success_threshold, 1);
        probe_spec_free(s);
        /* no handler: the probe exists but cannot run */
        s = probe_spec_parse(p3, c, PROBE_LIVENESS);
        assert_non_null(strstr(s->invalid, "no handler"));
        assert_int_equal(s->period_s, 5);
        probe_spec_free(s);
        /* a header that would split the request: the probe exists but cannot run */
        s = probe_spec_parse(p4, c, PROBE_READINESS);
        assert_non_null(s->invalid);
        probe_spec_free(s);
}

static void test_state_logic(void **state)
{
        probe_state st;

        probe_state_init(&st, PROBE_READINESS);
        assert_int_equal(st.result, PROBE_FAILURE);
        /* successThreshold 2, failureThreshold 3 */
        assert_false(probe_state_record(&st, PROBE_READINESS, 2, 3, PROBE_SUCCESS));
        assert_int_equal(st.result, PROBE_FAILURE);
        assert_true(probe_state_record(&st, PROBE_READINESS, 2, 3, PROBE_SUCCESS));
        assert_int_equal(st.result, PROBE_SUCCESS);
        assert_false(probe_state_record(&st, PROBE_READINESS, 2, 3, PROBE_FAILURE));
        assert_false(probe_state_record(&st, PROBE_READINESS, 2, 3, PROBE_FAILURE));
        assert_false(probe_state_record(&st, PROBE_READINESS, 2, 3, PROBE_SUCCESS)); /* run broken */
        assert_false(probe_state_record(&st, PROBE_READINESS, 2, 3, PROBE_FAILURE));
        assert_false(probe_state_record(&st, PROBE_READINESS, 2, 3, PROBE_FAILURE));
        assert_true(probe_state_record(&st, PROBE_READINESS, 2, 3, PROBE_FAILURE));
        assert_int_equal(st.result, PROBE_FAILURE);
        assert_false(st.on_hold); /* readiness goes on */
        assert_false(probe_state_record(&st, PROBE_READINESS, 2, 3, PROBE_FAILURE));

        probe_state_init(&st, PROBE_LIVENESS);
        assert_int_equal(st.result, PROBE_SUCCESS);
        assert_false(probe_state_record(&st, PROBE_LIVENESS, 1, 2, PROBE_FAILURE));
        assert_true(probe_state_record(&st, PROBE_LIVENESS, 1, 2, PROBE_FAILURE));
        assert_true(st.on_hold);

        probe_state_init(&st, PROBE_STARTUP);
        assert_int_equal(st.result, PROBE_UNKNOWN);
        assert_true(probe_state_record(&st, PROBE_STARTUP, 1, 3, PROBE_SUCCESS));
        assert_int_equal(st.result, PROBE_SUCCESS);
}

/* ---- the manager ---- */

struct events {
        pthread_mutex_t mu;
        int n;
        struct {
                char container[32], id[32];
                probe_kind kind;
                probe_result r;
        } ev[64];
};

static void on_change(void *ud, const char *uid, const char *container, const char *id, probe_kind kind,
                      probe_result r)
{
        struct events *e = ud;
        pthread_mutex_lock(&e->mu);
        if (e->n < 64) {
                snprintf(e->ev[e->n].container, sizeof(e->ev[0].container), "%s", container);
                snprintf(e->ev[e->n].id, sizeof(e->ev[0].id), "%s", id);
                e->ev[e->n].kind = kind;
                e->ev[e->n].r = r;
                e->n++;
        }
        pthread_mutex_unlock(&e->mu);
}

/* Wait up to MS for the result; the time it took, or -1. */
static int64_t wait_result(kubelet_probes *p, const char *c, probe_kind kind, probe_result want, int64_t ms)
{
        int64_t t0 = kn_now_ms();
        while (kn_now_ms() - t0 < ms) {
                if (kubelet_probes_get(p, "uid1", c, kind) == want)
                        return kn_now_ms() - t0;
                usleep(10 * 1000);
        }
        return -1;
}

static const char *POD = "{\"metadata\":{\"uid\":\"uid1\",\"namespace\":\"ns\",\"name\":\"web\"}}";

static int start(kubelet_probes *p, const char *container_fmt, int port, const char *id, int64_t started)
{
        _cleanup_cjson_ cJSON *pod = json("%s", POD);
        char buf[2048];
        _cleanup_cjson_ cJSON *c = NULL;
        snprintf(buf, sizeof(buf), container_fmt, port, port, port);
        c = json("%s", buf);
        return kubelet_probes_container_started(p, pod, c, id, "127.0.0.1", started);
}

static int64_t wall_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_manager_thresholds(void **state)
{
        struct srv *s = srv_start(false);
        struct events e = {.mu = PTHREAD_MUTEX_INITIALIZER};
        kubelet_probes *p;
        int64_t t;

        assert_int_equal(kubelet_probes_new(NULL, on_change, &e, &p), 0);
        assert_int_equal(start(p,
                               "{\"name\":\"c\",\"readinessProbe\":{\"httpGet\":{\"path\":\"/toggle\",\"port\":%d},"
                               "\"periodSeconds\":1,\"successThreshold\":2,\"failureThreshold\":2},"
                               "\"livenessProbe\":{\"httpGet\":{\"path\":\"/ok\",\"port\":%d},\"periodSeconds\":1}}",
                               s->port, "id1", wall_now()),
                         0);
        /* readiness starts as Failure, liveness as Success; no startup probe: started */
        assert_int_equal(kubelet_probes_get(p, "uid1", "c", PROBE_READINESS), PROBE_FAILURE);
        assert_int_equal(kubelet_probes_get(p, "uid1", "c", PROBE_LIVENESS), PROBE_SUCCESS);
        assert_int_equal(kubelet_probes_get(p, "uid1", "c", PROBE_STARTUP), PROBE_UNKNOWN);
        assert_true(kubelet_probes_started(p, "uid1", "c"));
        assert_false(kubelet_probes_ready(p, "uid1", "c"));
        /* two successes (now and 1 s later) make it ready */
        t = wait_result(p, "c", PROBE_READINESS, PROBE_SUCCESS, 2500);
        assert_true(t >= 800);
        assert_true(kubelet_probes_ready(p, "uid1", "c"));
        pthread_mutex_lock(&e.mu);
        assert_int_equal(e.n, 1);
        assert_int_equal(e.ev[0].kind, PROBE_READINESS);
        assert_int_equal(e.ev[0].r, PROBE_SUCCESS);
        assert_string_equal(e.ev[0].id, "id1");
        pthread_mutex_unlock(&e.mu);
        /* two failures make it unready */
        set_toggle(s, 503);
        t = wait_result(p, "c", PROBE_READINESS, PROBE_FAILURE, 3000);
        assert_true(t >= 800);
        assert_false(kubelet_probes_ready(p, "uid1", "c"));
        /* metrics */
        {
                kn_buf m = {0};
                kubelet_probes_metrics(p, &m);
                assert_non_null(strstr(m.data, "# TYPE prober_probe_total counter\n"));
                assert_non_null(strstr(m.data, "prober_probe_total{container=\"c\",namespace=\"ns\",pod=\"web\","
                                               "pod_uid=\"uid1\",probe_type=\"Readiness\",result=\"failed\"} 2\n"));
                assert_non_null(strstr(m.data, "probe_type=\"Liveness\",result=\"successful\"} "));
                kn_buf_free(&m);
        }
        kubelet_probes_container_stopped(p, "uid1", "c");
        assert_int_equal(kubelet_probes_get(p, "uid1", "c", PROBE_READINESS), PROBE_UNKNOWN);
        kubelet_probes_free(p);
        srv_stop(s);
}

static void test_manager_initial_delay_and_jitter(void **state)
{
        struct srv *s = srv_start(false);
        kubelet_probes *p;
        int64_t t0;

        assert_int_equal(kubelet_probes_new(NULL, NULL, NULL, &p), 0);
        /* a container that starts now, with a 1 s initial delay */
        t0 = kn_now_ms();
        assert_int_equal(start(p,
                               "{\"name\":\"c\",\"readinessProbe\":{\"httpGet\":{\"path\":\"/ok\",\"port\":%d},"
                               "\"periodSeconds\":1,\"initialDelaySeconds\":1}}",
                               s->port, "id1", wall_now()),
                         0);
        assert_true(wait_result(p, "c", PROBE_READINESS, PROBE_SUCCESS, 2000) >= 0);
        assert_true(s->first_hit_ms[path_index("/ok")] - t0 >= 950);
        /* one that ran before the manager (a kubelet restart): the delay has passed, the
         * first probe comes after a random part of the period */
        assert_int_equal(start(p,
                               "{\"name\":\"d\",\"readinessProbe\":{\"httpGet\":{\"path\":\"/live\",\"port\":%d},"
                               "\"periodSeconds\":1,\"initialDelaySeconds\":1}}",
                               s->port, "id2", wall_now() - 60000),
                         0);
        assert_true(wait_result(p, "d", PROBE_READINESS, PROBE_SUCCESS, 1500) >= 0);
        kubelet_probes_free(p);
        srv_stop(s);
}

static void test_manager_startup_gates(void **state)
{
        struct srv *s = srv_start(false);
        struct events e = {.mu = PTHREAD_MUTEX_INITIALIZER};
        kubelet_probes *p;
        int64_t grace = 0;
        int n_startup;

        set_toggle(s, 500);
        assert_int_equal(kubelet_probes_new(NULL, on_change, &e, &p), 0);
        assert_int_equal(start(p,
                               "{\"name\":\"c\",\"startupProbe\":{\"httpGet\":{\"path\":\"/toggle\",\"port\":%d},"
                               "\"periodSeconds\":1,\"failureThreshold\":30},"
                               "\"livenessProbe\":{\"httpGet\":{\"path\":\"/live\",\"port\":%d},\"periodSeconds\":1,"
                               "\"failureThreshold\":1,\"terminationGracePeriodSeconds\":3},"
                               "\"readinessProbe\":{\"tcpSocket\":{\"port\":%d},\"periodSeconds\":1}}",
                               s->port, "id1", wall_now()),
                         0);
        assert_int_equal(kubelet_probes_get(p, "uid1", "c", PROBE_STARTUP), PROBE_UNKNOWN);
        assert_false(kubelet_probes_started(p, "uid1", "c"));
        usleep(1300 * 1000);
        /* startup failed twice; liveness and readiness wait */
        assert_true(hits(s, "/toggle") >= 2);
        assert_int_equal(hits(s, "/live"), 0);
        assert_int_equal(kubelet_probes_get(p, "uid1", "c", PROBE_READINESS), PROBE_FAILURE);
        assert_false(kubelet_probes_ready(p, "uid1", "c"));
        set_toggle(s, 200);
        assert_true(wait_result(p, "c", PROBE_STARTUP, PROBE_SUCCESS, 1500) >= 0);
        assert_true(kubelet_probes_started(p, "uid1", "c"));
        n_startup = hits(s, "/toggle");
        assert_true(wait_result(p, "c", PROBE_READINESS, PROBE_SUCCESS, 1000) >= 0);
        usleep(200 * 1000);
        assert_true(hits(s, "/live") >= 1);
        /* liveness fails once (threshold 1): Failure, and probing stops until a new container */
        assert_int_equal(kubelet_probes_termination_grace_period(p, "uid1", "c", PROBE_LIVENESS, &grace), 0);
        assert_int_equal(grace, 3);
        assert_int_equal(kubelet_probes_termination_grace_period(p, "uid1", "c", PROBE_READINESS, &grace), -ENOENT);
        set_toggle(s, 500); /* startup would fail now, but it is done */
        usleep(1100 * 1000);
        assert_int_equal(hits(s, "/toggle"), n_startup);
        assert_int_equal(kubelet_probes_get(p, "uid1", "c", PROBE_STARTUP), PROBE_SUCCESS);
        {
                /* make /live fail by restarting the container with a failing liveness path */
                assert_int_equal(start(p,
                                       "{\"name\":\"c\",\"livenessProbe\":{\"httpGet\":{\"path\":\"/fail\",\"port\":%d},"
                                       "\"periodSeconds\":1,\"failureThreshold\":1}}",
                                       s->port, "id2", wall_now()),
                                 0);
                assert_int_equal(kubelet_probes_get(p, "uid1", "c", PROBE_LIVENESS), PROBE_SUCCESS);
                assert_true(wait_result(p, "c", PROBE_LIVENESS, PROBE_FAILURE, 1000) >= 0);
                int n = hits(s, "/fail");
                usleep(1300 * 1000);
                assert_int_equal(hits(s, "/fail"), n); /* on hold */
        }
        pthread_mutex_lock(&e.mu);
        assert_true(e.n >= 3);
        assert_int_equal(e.ev[e.n - 1].kind, PROBE_LIVENESS);
        assert_int_equal(e.ev[e.n - 1].r, PROBE_FAILURE);
        assert_string_equal(e.ev[e.n - 1].id, "id2");
        pthread_mutex_unlock(&e.mu);
        /* the same ID again keeps the state */
        assert_int_equal(start(p, "{\"name\":\"c\",\"livenessProbe\":{\"tcpSocket\":{\"port\":%d}}}", s->port, "id2",
                               wall_now()),
                         0);
        assert_int_equal(kubelet_probes_get(p, "uid1", "c", PROBE_LIVENESS), PROBE_FAILURE);
        kubelet_probes_pod_removed(p, "uid1");
        assert_int_equal(kubelet_probes_get(p, "uid1", "c", PROBE_LIVENESS), PROBE_UNKNOWN);
        kubelet_probes_free(p);
        srv_stop(s);
}

struct fake_exec {
        pthread_mutex_t mu;
        int rc, code, calls;
        char last[64];
};

static int fake_exec(void *ud, const char *id, char *const *argv, long timeout_ms, int *ret_code, char *out,
                     size_t outlen, kn_error *err)
{
        struct fake_exec *f = ud;
        int rc;
        pthread_mutex_lock(&f->mu);
        f->calls++;
        snprintf(f->last, sizeof(f->last), "%s %s %s %ld", id, argv[0], argv[1] ? argv[1] : "", timeout_ms);
        rc = f->rc;
        if (rc == 0)
                *ret_code = f->code;
        pthread_mutex_unlock(&f->mu);
        if (rc < 0)
                return kn_error_set(err, rc, "rpc error: fake");
        return 0;
}

static void test_manager_exec(void **state)
{
        struct fake_exec f = {.mu = PTHREAD_MUTEX_INITIALIZER};
        kubelet_probes *p;
        kn_buf m = {0};

        assert_int_equal(kubelet_probes_new(NULL, NULL, NULL, &p), 0);
        kubelet_probes_set_exec(p, fake_exec, &f);
        assert_int_equal(start(p,
                               "{\"name\":\"c\",\"readinessProbe\":{\"exec\":{\"command\":[\"cat\",\"/ok\"]},"
                               "\"periodSeconds\":1,\"timeoutSeconds\":2,\"failureThreshold\":1}}",
                               0, "id1", wall_now()),
                         0);
        assert_true(wait_result(p, "c", PROBE_READINESS, PROBE_SUCCESS, 500) >= 0);
        pthread_mutex_lock(&f.mu);
        assert_string_equal(f.last, "id1 cat /ok 2000");
        f.rc = -ETIMEDOUT; /* a timeout is a failure */
        pthread_mutex_unlock(&f.mu);
        assert_true(wait_result(p, "c", PROBE_READINESS, PROBE_FAILURE, 1500) >= 0);
        pthread_mutex_lock(&f.mu);
        f.rc = 0;
        pthread_mutex_unlock(&f.mu);
        assert_true(wait_result(p, "c", PROBE_READINESS, PROBE_SUCCESS, 1500) >= 0);
        pthread_mutex_lock(&f.mu);
        f.code = 1; /* a non-zero exit code is a failure */
        pthread_mutex_unlock(&f.mu);
        assert_true(wait_result(p, "c", PROBE_READINESS, PROBE_FAILURE, 1500) >= 0);
        /* a runtime error is retried, then thrown away: the result stays */
        pthread_mutex_lock(&f.mu);
        f.code = 0;
        f.rc = -ENOENT;
        f.calls = 0;
        pthread_mutex_unlock(&f.mu);
        usleep(1100 * 1000);
        assert_int_equal(kubelet_probes_get(p, "uid1", "c", PROBE_READINESS), PROBE_FAILURE);
        pthread_mutex_lock(&f.mu);
        assert_true(f.calls == 3 || f.calls == 6);
        pthread_mutex_unlock(&f.mu);
        /* a readiness probe with no handler keeps the container unready */
        assert_int_equal(start(p, "{\"name\":\"e\",\"readinessProbe\":{\"periodSeconds\":1}}", 0, "id9", wall_now()),
                         0);
        usleep(100 * 1000);
        assert_int_equal(kubelet_probes_get(p, "uid1", "e", PROBE_READINESS), PROBE_FAILURE);
        assert_false(kubelet_probes_ready(p, "uid1", "e"));
        kubelet_probes_metrics(p, &m);
        assert_non_null(strstr(m.data, "probe_type=\"Readiness\",result=\"unknown\"} "));
        assert_non_null(strstr(m.data, "{container=\"e\",namespace=\"ns\",pod=\"web\",pod_uid=\"uid1\","
                                       "probe_type=\"Readiness\",result=\"unknown\"} 1\n"));
        kn_buf_free(&m);
        kubelet_probes_free(p);
}

/* Inheritable fds (no FD_CLOEXEC) of this process, as a bit set of fds < 64. */
static uint64_t inheritable_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        uint64_t set = 0;

        assert_non_null(d);
        while ((de = readdir(d))) {
                int fd = atoi(de->d_name);
                if (de->d_name[0] == '.' || fd == dirfd(d))
                        continue;
                if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
                        set |= fd < 64 ? 1ull << fd : 1ull << 63;
        }
        closedir(d);
        return set;
}

/* Every handler on a worker thread's small stack: HTTPS (a TLS handshake), gRPC, TCP to a
 * name that needs resolving. */
static void test_manager_handlers_in_workers(void **state)
{
        struct srv *s = srv_start(true);
        kubelet_probes *p;
        pthread_t t;
        int gport, gfd = listen_any(&gport), tport, tfd = listen_any(&tport);
        char c[1024];
        kn_buf m = {0};
        uint64_t inherited_at_start = inheritable_fds(); /* what the test runner handed us */

        pthread_create(&t, NULL, h2c_accept, (void *)(intptr_t)gfd);
        assert_int_equal(kubelet_probes_new(NULL, NULL, NULL, &p), 0);
        snprintf(c, sizeof(c),
                 "{\"name\":\"c\",\"readinessProbe\":{\"httpGet\":{\"path\":\"/ok\",\"port\":%d,\"scheme\":\"HTTPS\"},"
                 "\"periodSeconds\":1},\"livenessProbe\":{\"grpc\":{\"port\":%d},\"periodSeconds\":1,"
                 "\"failureThreshold\":1},\"startupProbe\":{\"tcpSocket\":{\"port\":%d,\"host\":\"localhost\"},"
                 "\"periodSeconds\":1,\"failureThreshold\":1}}",
                 s->port, gport, tport);
        assert_int_equal(start(p, c, 0, "id1", wall_now()), 0);
        assert_true(wait_result(p, "c", PROBE_STARTUP, PROBE_SUCCESS, 1000) >= 0);
        assert_true(wait_result(p, "c", PROBE_READINESS, PROBE_SUCCESS, 1000) >= 0);
        usleep(300 * 1000);
        /* every fd the workers hold (curl's multi handles included) is O_CLOEXEC */
        assert_int_equal(inheritable_fds(), inherited_at_start);
        kubelet_probes_metrics(p, &m);
        assert_non_null(strstr(m.data, "probe_type=\"Liveness\",result=\"successful\"} 1\n"));
        assert_int_equal(kubelet_probes_get(p, "uid1", "c", PROBE_LIVENESS), PROBE_SUCCESS);
        kn_buf_free(&m);
        kubelet_probes_free(p);
        shutdown(gfd, SHUT_RDWR);
        pthread_join(t, NULL);
        close(gfd);
        close(tfd);
        srv_stop(s);
}

static void test_manager_stops_promptly(void **state)
{
        struct srv *s = srv_start(false);
        kubelet_probes *p;
        int64_t t0;

        assert_int_equal(kubelet_probes_new(NULL, NULL, NULL, &p), 0);
        assert_int_equal(start(p,
                               "{\"name\":\"c\",\"readinessProbe\":{\"httpGet\":{\"path\":\"/slow\",\"port\":%d},"
                               "\"timeoutSeconds\":5}}",
                               s->port, "id1", wall_now()),
                         0);
        while (hits(s, "/slow") == 0)
                usleep(10 * 1000);
        t0 = kn_now_ms();
        kubelet_probes_pod_removed(p, "uid1");
        assert_true(kn_now_ms() - t0 < 1000); /* removal never waits for the 5 s probe */
        kubelet_probes_free(p);                /* the probe in flight is aborted */
        assert_true(kn_now_ms() - t0 < 3000);
        srv_stop(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_spec_parse),
                cmocka_unit_test(test_state_logic),
                cmocka_unit_test(test_http_handler),
                cmocka_unit_test(test_https_handler),
                cmocka_unit_test(test_tcp_handler),
                cmocka_unit_test(test_grpc_handler),
                cmocka_unit_test(test_exec_cri),
                cmocka_unit_test(test_manager_thresholds),
                cmocka_unit_test(test_manager_initial_delay_and_jitter),
                cmocka_unit_test(test_manager_startup_gates),
                cmocka_unit_test(test_manager_exec),
                cmocka_unit_test(test_manager_handlers_in_workers),
                cmocka_unit_test(test_manager_stops_promptly),
        };
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
