/* SPDX-License-Identifier: Apache-2.0 */
/* The CRI client's transport: gRPC unary calls over HTTP/2 (prior knowledge) on a unix
 * socket through libcurl. One I/O thread owns a curl multi handle; callers hand it a
 * ready easy handle and sleep on their own condition variable until it is done.
 *
 * libcurl before 8.0 (Debian 12 has 7.88) breaks a prior-knowledge connection when a
 * second prior-knowledge request reuses it ("Error in the HTTP2 framing layer", curl
 * issue 10634). There, per socket, one request at a time opens the connection with prior
 * knowledge (the "opener"; the others wait) and, once it is connected, every request asks
 * for plain HTTP/2 with PIPEWAIT, which multiplexes on that connection. If such a request
 * finds no connection (the runtime restarted) curl opens one with an HTTP/1.1 Upgrade the
 * runtime rejects before any call runs; that request is then retried once as an opener. */
#include "../core/curlfd.h"
#include "cri.h"

#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "../core/log.h"
#include "grpc.h"

#define CRI_MAX_STREAMS 1000 /* calls in flight on one connection; the rest wait their turn */

enum { SOCK_DOWN, SOCK_OPENING, SOCK_UP };

typedef struct cri_req {
        struct cri_req *next, *prev; /* the submit queue (lock), then the I/O thread's lists */
        CURL *easy;
        struct cri_client *client;
        int sock;                    /* index in cri_client.socks */
        int64_t deadline_ms;
        bool opener, retried;
        struct curl_slist *headers;
        uint8_t *body;
        size_t body_len;
        kn_buf resp;           /* the length-prefixed message, at most max + prefix */
        size_t max;
        bool prefix_checked;
        kn_error body_err;     /* set (code < 0) when the write callback gave up */
        bool answering;        /* the response's headers arrived */
        bool have_status;
        int grpc_status;
        char grpc_message[400];
        CURLcode result;
        bool done;             /* lock */
        pthread_cond_t cond;
        const char *socket_path;
        char errbuf[CURL_ERROR_SIZE];
} cri_req;

struct cri_client {
        char *runtime_path, *image_path;
        long default_timeout_ms;
        CURLM *multi;
        pthread_t thread;
        pthread_mutex_t lock; /* guards queue, cancelled, exiting, every req's done */
        cri_req *queue;       /* submitted, newest first */
        bool cancelled, exiting;
        /* I/O thread only */
        cri_req *active; /* added to the multi handle */
        bool reuse_bug;  /* libcurl < 8.0: see the top of this file */
        struct {
                int state;
                cri_req *held, **held_tail; /* waiting for the opener, or for a free stream */
                unsigned inflight;          /* calls added to the multi handle */
        } socks[2];      /* runtime, image (when it has its own socket) */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static curl_socket_t open_socket(void *u, curlsocktype purpose, struct curl_sockaddr *a)
{
        (void)u, (void)purpose;
        return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* ---- the I/O thread ---- */

static void finish(cri_client *c, cri_req *r, CURLcode result)
{
        pthread_mutex_lock(&c->lock);
        r->result = result;
        r->done = true;
        pthread_cond_signal(&r->cond);
        pthread_mutex_unlock(&c->lock);
}

static void active_add(cri_client *c, cri_req *r)
{
        r->prev = NULL;
        r->next = c->active;
        if (c->active)
                c->active->prev = r;
        c->active = r;
}

static void active_remove(cri_client *c, cri_req *r)
{
        if (r->prev)
                r->prev->next = r->next;
        else
                c->active = r->next;
        if (r->next)
                r->next->prev = r->prev;
        r->next = r->prev = NULL;
}

/* The opener is connected: a request that asks for plain HTTP/2 from now on reuses its
 * connection (the prior-knowledge switch happens right after this, in the same step). */
static int on_prereq(void *u, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
        cri_req *r = u;
        (void)primary_ip, (void)local_ip, (void)primary_port, (void)local_port;
        if (r->opener && r->client->socks[r->sock].state == SOCK_OPENING)
                r->client->socks[r->sock].state = SOCK_UP;
        return CURL_PREREQFUNC_OK;
}

static void hold(cri_client *c, cri_req *r)
{
        r->next = NULL;
        *c->socks[r->sock].held_tail = r;
        c->socks[r->sock].held_tail = &r->next;
}

static void start(cri_client *c, cri_req *r)
{
        long version = CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
        long left = (long)(r->deadline_ms - kn_now_ms());

        if (c->socks[r->sock].inflight >= CRI_MAX_STREAMS) {
                hold(c, r);
                return;
        }
        if (c->reuse_bug) {
                switch (c->socks[r->sock].state) {
                case SOCK_DOWN:
                        r->opener = true;
                        c->socks[r->sock].state = SOCK_OPENING;
                        break;
                case SOCK_OPENING:
                        hold(c, r);
                        return;
                default:
                        r->opener = false;
                        version = CURL_HTTP_VERSION_2_0;
                }
        }
        curl_easy_setopt(r->easy, CURLOPT_HTTP_VERSION, version);
        /* An opener must not land on a live connection: with prior knowledge libcurl 7.88
         * would stack a second HTTP/2 layer on it (bug 10634), fail with a framing error,
         * and the next opener would do the same, for as long as that connection lives. */
        curl_easy_setopt(r->easy, CURLOPT_FRESH_CONNECT, (long)(c->reuse_bug && r->opener));
        curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, left > 0 ? left : 1L);
        if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
                if (r->opener)
                        c->socks[r->sock].state = SOCK_DOWN;
                finish(c, r, CURLE_FAILED_INIT);
                return;
        }
        c->socks[r->sock].inflight++;
        active_add(c, r);
}

/* Start the requests held for an opener once there is none. */
static void start_held(cri_client *c)
{
        for (size_t i = 0; i < KN_ARRAY_SIZE(c->socks); i++) {
                while (c->socks[i].held && c->socks[i].state != SOCK_OPENING &&
                       c->socks[i].inflight < CRI_MAX_STREAMS) {
                        cri_req *r = c->socks[i].held;
                        c->socks[i].held = r->next;
                        if (!c->socks[i].held)
                                c->socks[i].held_tail = &c->socks[i].held;
                        start(c, r);
                }
        }
}

static void req_reset(cri_req *r)
{
        r->resp.len = 0;
        r->prefix_checked = false;
        r->body_err = (kn_error){0};
        r->have_status = r->answering = false;
        r->grpc_message[0] = '\0';
        r->errbuf[0] = '\0';
}

static void done(cri_client *c, cri_req *r, CURLcode res)
{
        long connects = 0;

        active_remove(c, r);
        c->socks[r->sock].inflight--;
        if ((r->opener && c->socks[r->sock].state == SOCK_OPENING) || res == CURLE_COULDNT_CONNECT)
                c->socks[r->sock].state = SOCK_DOWN; /* failed before it was connected */
        curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &connects);
        if (c->reuse_bug && !r->opener && connects > 0) {
                /* it had to open an HTTP/1.1 connection: the runtime ran no call */
                if (c->socks[r->sock].state == SOCK_UP)
                        c->socks[r->sock].state = SOCK_DOWN;
                if (!r->retried && res != CURLE_OPERATION_TIMEDOUT) {
                        r->retried = true;
                        req_reset(r);
                        start(c, r);
                        return;
                }
        }
        finish(c, r, res);
}

static void cancel_all(cri_client *c)
{
        cri_req *r;

        while ((r = c->active)) {
                active_remove(c, r);
                c->socks[r->sock].inflight--;
                curl_multi_remove_handle(c->multi, r->easy);
                finish(c, r, CURLE_ABORTED_BY_CALLBACK);
        }
        for (size_t i = 0; i < KN_ARRAY_SIZE(c->socks); i++) {
                while ((r = c->socks[i].held)) {
                        c->socks[i].held = r->next;
                        finish(c, r, CURLE_ABORTED_BY_CALLBACK);
                }
                c->socks[i].held_tail = &c->socks[i].held;
                c->socks[i].state = SOCK_DOWN;
        }
}

/* libcurl 7.88 can leave the tail of an HTTP/2 response in its buffers with the socket
 * drained, and then waits for the socket (the deadline) before it looks again. While an
 * answer is arriving, curl_multi_perform (which visits every transfer) runs this often. */
#define STALL_CHECK_MS 20
static bool answering(cri_client *c)
{
        for (cri_req *r = c->active; r; r = r->next)
                if (r->answering)
                        return true;
        return false;
}

static void *io_main(void *u)
{
        cri_client *c = u;

        for (;;) {
                cri_req *q, *r, *next, *fifo = NULL;
                bool cancelled, exiting;
                struct CURLMsg *m;
                int running, left;

                pthread_mutex_lock(&c->lock);
                q = c->queue;
                c->queue = NULL;
                cancelled = c->cancelled;
                exiting = c->exiting;
                pthread_mutex_unlock(&c->lock);
                for (r = q; r; r = next) { /* the queue is newest first */
                        next = r->next;
                        r->next = fifo;
                        fifo = r;
                }
                for (r = fifo; r; r = next) {
                        next = r->next;
                        r->next = r->prev = NULL;
                        if (cancelled)
                                finish(c, r, CURLE_ABORTED_BY_CALLBACK);
                        else
                                start(c, r);
                }
                if (cancelled)
                        cancel_all(c);
                if (exiting)
                        break;
                curl_multi_perform(c->multi, &running);
                while ((m = curl_multi_info_read(c->multi, &left))) {
                        CURLcode res = m->data.result;
                        CURL *e = m->easy_handle;
                        if (m->msg != CURLMSG_DONE)
                                continue;
                        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r);
                        curl_multi_remove_handle(c->multi, e);
                        done(c, r, res);
                }
                start_held(c);
                /* curl shortens the wait to its own next timeout (0 for a handle just added);
                 * curl_multi_wakeup ends it */
                curl_multi_poll(c->multi, NULL, 0, answering(c) ? STALL_CHECK_MS : 60 * 1000, NULL);
        }
        return NULL;
}

/* ---- callbacks, on the I/O thread ---- */

static size_t on_body(char *p, size_t size, size_t n, void *u)
{
        cri_req *r = u;
        size_t len = size * n;

        if (kn_buf_append(&r->resp, p, len) < 0) {
                kn_error_set(&r->body_err, -EFBIG, "gRPC response over the %zu byte limit", r->max);
                return 0;
        }
        if (!r->prefix_checked && r->resp.len >= CRI_GRPC_PREFIX) {
                uint32_t want;
                r->prefix_checked = true;
                if (cri_grpc_check_prefix((uint8_t *)r->resp.data, r->max, &want, &r->body_err) < 0)
                        return 0;
        }
        return len;
}

static bool header_is(const char *line, size_t len, const char *name, const char **ret_val, size_t *ret_len)
{
        size_t n = strlen(name);

        if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
                return false;
        line += n + 1;
        len -= n + 1;
        while (len && (*line == ' ' || *line == '\t'))
                line++, len--;
        while (len && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
                len--;
        *ret_val = line;
        *ret_len = len;
        return true;
}

/* Headers and (libcurl hands them here too) trailers. */
static size_t on_header(char *p, size_t size, size_t n, void *u)
{
        cri_req *r = u;
        size_t len = size * n;
        const char *v;
        size_t vlen;

        r->answering = true;
        if (header_is(p, len, "grpc-status", &v, &vlen)) {
                int code;
                if (cri_grpc_parse_status(v, vlen, &code) < 0)
                        code = CRI_GRPC_UNKNOWN;
                r->grpc_status = code;
                r->have_status = true;
        } else if (header_is(p, len, "grpc-message", &v, &vlen)) {
                cri_grpc_decode_message(v, vlen, r->grpc_message, sizeof(r->grpc_message));
        }
        return len;
}

/* ---- the client ---- */

static int parse_endpoint(const char *ep, char **ret, kn_error *err)
{
        const char *path = ep;

        if (!ep || !*ep)
                return kn_error_set(err, -EINVAL, "no container runtime endpoint");
        if (strncmp(ep, "unix://", 7) == 0)
                path = ep + 7;
        else if (strstr(ep, "://"))
                return kn_error_set(err, -EPROTONOSUPPORT, "endpoint %s: only unix:// endpoints are supported",
                                    ep);
        if (path[0] != '/')
                return kn_error_set(err, -EINVAL, "endpoint %s: not an absolute socket path", ep);
        if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
                return kn_error_set(err, -ENAMETOOLONG, "endpoint %s: socket path too long", ep);
        *ret = kn_strdup(path);
        return 0;
}

int cri_client_new(const char *runtime_endpoint, const char *image_endpoint, long default_timeout_ms,
                   cri_client **ret, kn_error *err)
{
        _cleanup_free_ char *rt = NULL, *img = NULL;
        sigset_t all, old;
        cri_client *c;
        int r;

        r = parse_endpoint(runtime_endpoint, &rt, err);
        if (r < 0)
                return r;
        if (image_endpoint && *image_endpoint) {
                r = parse_endpoint(image_endpoint, &img, err);
                if (r < 0)
                        return r;
        } else {
                img = kn_strdup(rt);
        }
        pthread_once(&curl_once, curl_init_once);
        c = kn_calloc(1, sizeof(*c));
        c->runtime_path = TAKE_PTR(rt);
        c->image_path = TAKE_PTR(img);
        c->default_timeout_ms = default_timeout_ms > 0 ? default_timeout_ms : CRI_DEFAULT_TIMEOUT_MS;
        c->reuse_bug = curl_version_info(CURLVERSION_NOW)->version_num < 0x080000;
        for (size_t i = 0; i < KN_ARRAY_SIZE(c->socks); i++)
                c->socks[i].held_tail = &c->socks[i].held;
        pthread_mutex_init(&c->lock, NULL);
        c->multi = kn_curl_multi_new_cloexec();
        curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
        /* Past libcurl's default of 100 streams a connection, a call would open a second
         * connection, which cannot be HTTP/2 with prior knowledge while the first lives
         * (see start()); a burst of 100 pod starts has more calls than that in flight. The
         * runtime's SETTINGS still bound the streams: nghttp2 queues the rest. */
        curl_multi_setopt(c->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, (long)CRI_MAX_STREAMS);
        /* the I/O thread takes no signals: the main thread sigwaits for them */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        r = -pthread_create(&c->thread, NULL, io_main, c);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0) {
                curl_multi_cleanup(c->multi);
                pthread_mutex_destroy(&c->lock);
                free(c->runtime_path);
                free(c->image_path);
                free(c);
                return kn_error_set(err, r, "failed to start the CRI I/O thread: %s", strerror(-r));
        }
        *ret = c;
        return 0;
}

long cri_client_default_timeout(const cri_client *c) { return c->default_timeout_ms; }

void cri_client_cancel(cri_client *c)
{
        pthread_mutex_lock(&c->lock);
        c->cancelled = true;
        pthread_mutex_unlock(&c->lock);
        curl_multi_wakeup(c->multi);
}

void cri_client_free(cri_client *c)
{
        if (!c)
                return;
        pthread_mutex_lock(&c->lock);
        c->cancelled = c->exiting = true;
        pthread_mutex_unlock(&c->lock);
        curl_multi_wakeup(c->multi);
        pthread_join(c->thread, NULL);
        curl_multi_cleanup(c->multi);
        pthread_mutex_destroy(&c->lock);
        free(c->runtime_path);
        free(c->image_path);
        free(c);
}

static void req_free(cri_req *r)
{
        curl_easy_cleanup(r->easy);
        curl_slist_free_all(r->headers);
        free(r->body);
        kn_buf_free(&r->resp);
        pthread_cond_destroy(&r->cond);
}

static int curl_errno(const cri_req *r, const char *what, long timeout_ms, kn_error *err)
{
        const char *why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->result);

        switch (r->result) {
        case CURLE_OPERATION_TIMEDOUT:
                return kn_error_set(err, -ETIMEDOUT, "rpc error: code = DeadlineExceeded desc = %s: "
                                    "deadline of %ld ms exceeded (%zu bytes of the answer received)", what,
                                    timeout_ms, r->resp.len);
        case CURLE_COULDNT_CONNECT: {
                long os = 0;
                curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os);
                return kn_error_set(err, -ECONNREFUSED,
                                    "rpc error: code = Unavailable desc = %s: cannot connect to %s: %s", what,
                                    r->socket_path, os ? strerror((int)os) : why);
        }
        case CURLE_ABORTED_BY_CALLBACK:
                return kn_error_set(err, -ECANCELED, "rpc error: code = Canceled desc = %s: client cancelled",
                                    what);
        default:
                return kn_error_set(err, -ECONNRESET, "rpc error: code = Unavailable desc = %s: %s", what, why);
        }
}

/* libcurl 7.88, with many streams on one connection, now and then ends a stream without
 * handing over its trailers, grpc-status among them (a 100-pod burst lost several).
 * A unary gRPC server sends its one message only when the call succeeded and a failed
 * call has none, so an answer with HTTP 200 and exactly one whole message is a success. */
static bool whole_message(const cri_req *r)
{
        uint32_t len;

        return r->resp.len >= CRI_GRPC_PREFIX &&
               cri_grpc_check_prefix((const uint8_t *)r->resp.data, r->max, &len, NULL) == 0 &&
               r->resp.len - CRI_GRPC_PREFIX == len;
}

/* Turn a finished exchange into the call's result. */
static int req_result(cri_req *r, const char *what, const ProtobufCMessageDescriptor *desc, long timeout_ms,
                      ProtobufCMessage **ret, kn_error *err)
{
        kn_error e = {0};
        long http = 0;
        int code, rc;

        if (r->body_err.code < 0)
                return kn_error_set(err, r->body_err.code, "%s: %s", what, r->body_err.msg);
        if (r->result != CURLE_OK)
                return curl_errno(r, what, timeout_ms, err);
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &http);
        if (r->have_status)
                code = r->grpc_status;
        else if (http != 200)
                code = cri_grpc_code_from_http(http);
        else if (whole_message(r))
                code = CRI_GRPC_OK; /* the trailers were lost on the way: see whole_message() */
        else
                return kn_error_set(err, -EPROTO, "%s: the answer has no grpc-status", what);
        if (code != CRI_GRPC_OK) {
                if (!r->have_status)
                        snprintf(r->grpc_message, sizeof(r->grpc_message), "HTTP status %ld", http);
                return kn_error_set(err, cri_grpc_errno(code), "rpc error: code = %s desc = %s",
                                    cri_grpc_code_name(code), r->grpc_message);
        }
        rc = cri_grpc_decode((uint8_t *)r->resp.data, r->resp.len, r->max, desc, ret, &e);
        if (rc < 0)
                return kn_error_set(err, rc, "%s: %s", what, e.msg);
        return 0;
}

int cri_call(cri_client *c, bool image_service, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, long timeout_ms, ProtobufCMessage **ret_resp,
             kn_error *err)
{
        const ProtobufCServiceDescriptor *sd =
                image_service ? &runtime__v1__image_service__descriptor : &runtime__v1__runtime_service__descriptor;
        const ProtobufCMethodDescriptor *md = protobuf_c_service_descriptor_get_method_by_name(sd, method);
        _cleanup_free_ char *url = NULL, *what = NULL;
        ProtobufCMessage *resp = NULL;
        char hdr[64], tmo[16];
        cri_req r = {0};
        int rc;

        if (md) {
                if (req->descriptor != md->input)
                        return kn_error_set(err, -EINVAL, "%s/%s takes %s, not %s", sd->name, method,
                                            md->input->name, req->descriptor->name);
                if (resp_desc && resp_desc != md->output)
                        return kn_error_set(err, -EINVAL, "%s/%s returns %s, not %s", sd->name, method,
                                            md->output->name, resp_desc->name);
                resp_desc = md->output;
        } else if (!resp_desc) {
                return kn_error_set(err, -EINVAL, "%s has no method %s", sd->name, method);
        }
        if (timeout_ms <= 0)
                timeout_ms = c->default_timeout_ms;
        what = kn_asprintf("%s/%s", sd->name, method);
        url = kn_asprintf("http://localhost/%s", what);

        rc = cri_grpc_encode(req, &r.body, &r.body_len);
        if (rc < 0)
                return kn_error_set(err, rc, "%s: cannot encode %s", what, req->descriptor->name);
        r.max = CRI_MAX_RESPONSE;
        r.resp.max = CRI_GRPC_PREFIX + CRI_MAX_RESPONSE;
        pthread_cond_init(&r.cond, NULL);
        r.easy = curl_easy_init();
        if (!r.easy)
                abort();
        cri_grpc_format_timeout(timeout_ms, tmo, sizeof(tmo));
        snprintf(hdr, sizeof(hdr), "grpc-timeout: %s", tmo);
        r.headers = curl_slist_append(r.headers, "content-type: application/grpc");
        r.headers = curl_slist_append(r.headers, "te: trailers");
        r.headers = curl_slist_append(r.headers, hdr);
        r.headers = curl_slist_append(r.headers, "Accept:");
        r.headers = curl_slist_append(r.headers, "Expect:");
        if (!r.headers)
                abort();
        curl_easy_setopt(r.easy, CURLOPT_URL, url);
        r.client = c;
        r.sock = image_service && strcmp(c->image_path, c->runtime_path) != 0;
        r.deadline_ms = kn_now_ms() + timeout_ms;
        r.socket_path = image_service ? c->image_path : c->runtime_path;
        curl_easy_setopt(r.easy, CURLOPT_UNIX_SOCKET_PATH, r.socket_path);
        curl_easy_setopt(r.easy, CURLOPT_PROTOCOLS_STR, "http");
        curl_easy_setopt(r.easy, CURLOPT_PIPEWAIT, 1L); /* wait to multiplex rather than open another */
        curl_easy_setopt(r.easy, CURLOPT_POST, 1L);
        curl_easy_setopt(r.easy, CURLOPT_POSTFIELDS, r.body);
        curl_easy_setopt(r.easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r.body_len);
        /* CRI requests are small: the smallest upload buffer (64 KiB by default, per call) */
        curl_easy_setopt(r.easy, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
        curl_easy_setopt(r.easy, CURLOPT_HTTPHEADER, r.headers);
        curl_easy_setopt(r.easy, CURLOPT_USERAGENT, "knode-cri");
        curl_easy_setopt(r.easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(r.easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
        curl_easy_setopt(r.easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(r.easy, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(r.easy, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(r.easy, CURLOPT_HEADERDATA, &r);
        curl_easy_setopt(r.easy, CURLOPT_ERRORBUFFER, r.errbuf);
        curl_easy_setopt(r.easy, CURLOPT_PRIVATE, &r);
        curl_easy_setopt(r.easy, CURLOPT_PREREQFUNCTION, on_prereq);
        curl_easy_setopt(r.easy, CURLOPT_PREREQDATA, &r);

        pthread_mutex_lock(&c->lock);
        if (c->cancelled) {
                pthread_mutex_unlock(&c->lock);
                req_free(&r);
                return kn_error_set(err, -ECANCELED, "rpc error: code = Canceled desc = %s: client cancelled",
                                    what);
        }
        r.next = c->queue;
        c->queue = &r;
        pthread_mutex_unlock(&c->lock);
        curl_multi_wakeup(c->multi);
        pthread_mutex_lock(&c->lock);
        while (!r.done)
                pthread_cond_wait(&r.cond, &c->lock);
        pthread_mutex_unlock(&c->lock);

        rc = req_result(&r, what, resp_desc, timeout_ms, &resp, err);
        req_free(&r);
        if (rc < 0) {
                kn_debug("CRI %s failed: %s", what, err ? err->msg : strerror(-rc));
                return rc;
        }
        if (ret_resp)
                *ret_resp = resp;
        else
                protobuf_c_message_free_unpacked(resp, NULL);
        return 0;
}
