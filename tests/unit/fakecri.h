/* SPDX-License-Identifier: Apache-2.0 */
/* For unit tests that script a container runtime: a gRPC server speaking HTTP/2 with prior
 * knowledge on a unix socket (libnghttp2's server API), one thread, many connections and
 * streams. A handler sees each complete unary request and describes the answer; answers
 * may be delayed or never sent. Include after cmocka.h; link with -lnghttp2. */
#ifndef KN_TEST_FAKECRI_H
#define KN_TEST_FAKECRI_H

#include <fcntl.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "util.h"

/* What the handler fills in; zeroed before each call. */
typedef struct fake_cri_reply {
        int http_status;       /* 0 = 200 */
        bool trailers_only;    /* grpc-status/grpc-message in the header block, no body */
        bool no_status;        /* send no grpc-status at all */
        int grpc_status;       /* in trailers, after the body */
        const char *grpc_message; /* sent as is (percent-encode it yourself) */
        kn_buf body;           /* raw body bytes: a gRPC prefix + message (fake_cri_reply_msg) */
        long delay_ms;         /* answer this much later */
        bool never;            /* never answer */
} fake_cri_reply;

/* METHOD is "/runtime.v1.RuntimeService/Version"; REQ the request body as received;
 * GRPC_TIMEOUT the grpc-timeout header ("" if none). Runs on the server thread. */
typedef void (*fake_cri_handler)(void *u, const char *method, const uint8_t *req, size_t len,
                                 const char *grpc_timeout, fake_cri_reply *reply);

typedef struct fake_cri_stream {
        struct fake_cri_stream *next;
        int32_t id;
        char path[160], timeout[32];
        kn_buf req;
        fake_cri_reply reply;
        size_t off;
        int64_t due_ms; /* -1: not yet asked, or never */
        bool answered;
} fake_cri_stream;

typedef struct fake_cri_conn {
        struct fake_cri_conn *next;
        int fd;
        nghttp2_session *s;
        fake_cri_stream *streams;
        struct fake_cri *srv;
} fake_cri_conn;

typedef struct fake_cri {
        char path[108];
        int lfd, stop_fd;
        pthread_t thread;
        fake_cri_handler handler;
        void *userdata;
        fake_cri_conn *conns;
        int accepts, requests; /* read with __atomic_load_n */
} fake_cri;

static KN_UNUSED void fake_cri_reply_msg(fake_cri_reply *r, const ProtobufCMessage *m)
{
        size_t n = protobuf_c_message_get_packed_size(m);
        uint8_t *b = kn_malloc(n + 5);
        b[0] = 0;
        b[1] = n >> 24, b[2] = n >> 16, b[3] = n >> 8, b[4] = n;
        protobuf_c_message_pack(m, b + 5);
        kn_buf_append(&r->body, b, n + 5);
        free(b);
}

static fake_cri_stream *fake_cri_find(fake_cri_conn *c, int32_t id)
{
        for (fake_cri_stream *st = c->streams; st; st = st->next)
                if (st->id == id)
                        return st;
        return NULL;
}

static void fake_cri_stream_free(fake_cri_stream *st)
{
        kn_buf_free(&st->req);
        kn_buf_free(&st->reply.body);
        free(st);
}

static ssize_t fake_cri_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *u)
{
        fake_cri_conn *c = u;
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        (void)s, (void)flags;
        return n < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : n;
}

static int fake_cri_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *u)
{
        fake_cri_conn *c = u;
        fake_cri_stream *st;
        (void)s;
        if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
                return 0;
        st = kn_calloc(1, sizeof(*st));
        st->id = f->hd.stream_id;
        st->due_ms = -1;
        st->req.max = 64 << 20;
        st->next = c->streams;
        c->streams = st;
        return 0;
}

static int fake_cri_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                           const uint8_t *value, size_t vlen, uint8_t flags, void *u)
{
        fake_cri_stream *st = fake_cri_find(u, f->hd.stream_id);
        (void)s, (void)flags;
        if (!st)
                return 0;
        if (nlen == 5 && memcmp(name, ":path", 5) == 0)
                snprintf(st->path, sizeof(st->path), "%.*s", (int)vlen, value);
        else if (nlen == 12 && memcmp(name, "grpc-timeout", 12) == 0)
                snprintf(st->timeout, sizeof(st->timeout), "%.*s", (int)vlen, value);
        return 0;
}

static int fake_cri_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *u)
{
        fake_cri_stream *st = fake_cri_find(u, id);
        (void)s, (void)flags;
        if (st)
                kn_buf_append(&st->req, data, len);
        return 0;
}

static int fake_cri_frame(nghttp2_session *s, const nghttp2_frame *f, void *u)
{
        fake_cri_conn *c = u;
        fake_cri_stream *st;
        (void)s;
        if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM) || (f->hd.type != NGHTTP2_DATA && f->hd.type != NGHTTP2_HEADERS))
                return 0;
        st = fake_cri_find(c, f->hd.stream_id);
        if (!st)
                return 0;
        __atomic_add_fetch(&c->srv->requests, 1, __ATOMIC_SEQ_CST);
        c->srv->handler(c->srv->userdata, st->path, (uint8_t *)st->req.data, st->req.len, st->timeout, &st->reply);
        st->due_ms = st->reply.never ? -1 : kn_now_ms() + st->reply.delay_ms;
        return 0;
}

static int fake_cri_close(nghttp2_session *s, int32_t id, uint32_t code, void *u)
{
        fake_cri_conn *c = u;
        (void)s, (void)code;
        for (fake_cri_stream **p = &c->streams; *p; p = &(*p)->next) {
                if ((*p)->id == id) {
                        fake_cri_stream *st = *p;
                        *p = st->next;
                        fake_cri_stream_free(st);
                        break;
                }
        }
        return 0;
}

#define FAKE_NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}

static ssize_t fake_cri_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                             nghttp2_data_source *src, void *u)
{
        fake_cri_stream *st = src->ptr;
        size_t n = st->reply.body.len - st->off;
        char code[16];
        (void)u;
        if (n > len)
                n = len;
        if (n)
                memcpy(buf, st->reply.body.data + st->off, n);
        st->off += n;
        if (st->off == st->reply.body.len) {
                *flags |= NGHTTP2_DATA_FLAG_EOF;
                if (!st->reply.no_status) {
                        nghttp2_nv t[2] = {FAKE_NV("grpc-status", code), FAKE_NV("grpc-message", "")};
                        snprintf(code, sizeof(code), "%d", st->reply.grpc_status);
                        t[0].valuelen = strlen(code);
                        if (st->reply.grpc_message) {
                                t[1].value = (uint8_t *)st->reply.grpc_message;
                                t[1].valuelen = strlen(st->reply.grpc_message);
                        }
                        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
                        nghttp2_submit_trailer(s, id, t, st->reply.grpc_message ? 2 : 1);
                }
        }
        return (ssize_t)n;
}

static void fake_cri_answer(fake_cri_conn *c, fake_cri_stream *st)
{
        char status[8], code[16];
        nghttp2_nv h[5] = {FAKE_NV(":status", status), FAKE_NV("content-type", "application/grpc")};
        size_t n = 2;
        nghttp2_data_provider dp = {.source.ptr = st, .read_callback = fake_cri_read};

        st->answered = true;
        snprintf(status, sizeof(status), "%d", st->reply.http_status ? st->reply.http_status : 200);
        h[0].valuelen = strlen(status);
        if (st->reply.trailers_only) {
                snprintf(code, sizeof(code), "%d", st->reply.grpc_status);
                h[n++] = (nghttp2_nv)FAKE_NV("grpc-status", code);
                if (st->reply.grpc_message)
                        h[n++] = (nghttp2_nv)FAKE_NV("grpc-message", st->reply.grpc_message);
                nghttp2_submit_response(c->s, st->id, h, n, NULL);
        } else if (st->reply.http_status && st->reply.http_status != 200 && !st->reply.body.len) {
                nghttp2_submit_response(c->s, st->id, h, n, NULL);
        } else {
                nghttp2_submit_response(c->s, st->id, h, n, &dp);
        }
}

static void fake_cri_conn_free(fake_cri_conn *c)
{
        while (c->streams) {
                fake_cri_stream *st = c->streams;
                c->streams = st->next;
                fake_cri_stream_free(st);
        }
        nghttp2_session_del(c->s);
        close(c->fd);
        free(c);
}

static void fake_cri_accept(fake_cri *f)
{
        nghttp2_session_callbacks *cb;
        nghttp2_settings_entry iv = {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000};
        fake_cri_conn *c;
        int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);

        if (fd < 0)
                return;
        __atomic_add_fetch(&f->accepts, 1, __ATOMIC_SEQ_CST);
        c = kn_calloc(1, sizeof(*c));
        c->fd = fd;
        c->srv = f;
        nghttp2_session_callbacks_new(&cb);
        nghttp2_session_callbacks_set_send_callback(cb, fake_cri_send);
        nghttp2_session_callbacks_set_on_begin_headers_callback(cb, fake_cri_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cb, fake_cri_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, fake_cri_data);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, fake_cri_frame);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, fake_cri_close);
        nghttp2_session_server_new(&c->s, cb, c);
        nghttp2_session_callbacks_del(cb);
        nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, &iv, 1);
        c->next = f->conns;
        f->conns = c;
}

static void *fake_cri_main(void *u)
{
        fake_cri *f = u;

        for (;;) {
                struct pollfd p[66];
                fake_cri_conn *cs[64];
                size_t n = 2, nc = 0;
                int64_t now = kn_now_ms(), wait = -1;

                p[0] = (struct pollfd){.fd = f->stop_fd, .events = POLLIN};
                p[1] = (struct pollfd){.fd = f->lfd, .events = POLLIN};
                for (fake_cri_conn *c = f->conns; c && nc < 64; c = c->next) {
                        cs[nc++] = c;
                        p[n++] = (struct pollfd){.fd = c->fd,
                                                 .events = POLLIN | (nghttp2_session_want_write(c->s) ? POLLOUT : 0)};
                        for (fake_cri_stream *st = c->streams; st; st = st->next)
                                if (!st->answered && st->due_ms >= 0 && (wait < 0 || st->due_ms - now < wait))
                                        wait = st->due_ms > now ? st->due_ms - now : 0;
                }
                poll(p, n, (int)wait);
                if (p[0].revents)
                        break;
                if (p[1].revents)
                        fake_cri_accept(f);
                now = kn_now_ms();
                for (size_t i = 0; i < nc; i++) {
                        fake_cri_conn *c = cs[i];
                        bool dead = false;
                        if (p[i + 2].revents & (POLLIN | POLLHUP | POLLERR)) {
                                uint8_t buf[16384];
                                ssize_t r = read(c->fd, buf, sizeof(buf));
                                dead = r <= 0 || nghttp2_session_mem_recv(c->s, buf, (size_t)r) < 0;
                        }
                        for (fake_cri_stream *st = c->streams; !dead && st; st = st->next)
                                if (!st->answered && st->due_ms >= 0 && st->due_ms <= now)
                                        fake_cri_answer(c, st);
                        if (!dead)
                                dead = nghttp2_session_send(c->s) < 0 ||
                                       (!nghttp2_session_want_read(c->s) && !nghttp2_session_want_write(c->s));
                        if (dead) {
                                for (fake_cri_conn **pc = &f->conns; *pc; pc = &(*pc)->next)
                                        if (*pc == c) {
                                                *pc = c->next;
                                                break;
                                        }
                                fake_cri_conn_free(c);
                        }
                }
        }
        return NULL;
}

/* Serve on PATH (unlinked first) until fake_cri_stop. */
static KN_UNUSED fake_cri *fake_cri_start(const char *path, fake_cri_handler handler, void *userdata)
{
        fake_cri *f = kn_calloc(1, sizeof(*f));
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        assert_true(strlen(path) < sizeof(f->path));
        memcpy(f->path, path, strlen(path) + 1);
        memcpy(sa.sun_path, path, strlen(path) + 1);
        f->handler = handler;
        f->userdata = userdata;
        unlink(path);
        f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(f->lfd >= 0);
        assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(f->lfd, 64), 0);
        f->stop_fd = eventfd(0, EFD_CLOEXEC);
        assert_int_equal(pthread_create(&f->thread, NULL, fake_cri_main, f), 0);
        return f;
}

/* Stop serving: every connection is closed, the socket removed. */
static KN_UNUSED void fake_cri_stop(fake_cri *f)
{
        if (!f)
                return;
        assert_int_equal(eventfd_write(f->stop_fd, 1), 0);
        pthread_join(f->thread, NULL);
        while (f->conns) {
                fake_cri_conn *c = f->conns;
                f->conns = c->next;
                fake_cri_conn_free(c);
        }
        close(f->lfd);
        close(f->stop_fd);
        unlink(f->path);
        free(f);
}

#endif
