/* SPDX-License-Identifier: Apache-2.0 */
/* The kubelet API's container endpoints: /containerLogs (CRI log files), /exec, /attach
 * and /portForward (the runtime's streaming URL from CRI, then the upgraded connection
 * proxied byte for byte, as upstream's kubelet does without redirect-container-streaming:
 * SPDY and WebSocket frames are not parsed) and /run (ExecSync). */
#include "server_int.h"

#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>

#include "../core/httpd.h"
#include "../core/log.h"
#include "../runtime/cri.h"
#include "logs.h"

#define MAX_COMMAND_ARGS 1024
#define MAX_PORTS 64
#define CONNECT_TIMEOUT_MS 10000
#define RELAY_WRITE_TIMEOUT_MS 60000
#define RELAY_IDLE_TIMEOUT_MS (4 * 3600 * 1000) /* streamingConnectionIdleTimeout's default */
#define MAX_UPSTREAM_HEAD 16384
#define MAX_UPSTREAM_ERROR_BODY (1u << 20)

static int64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void respond_errorf(kubelet_conn *c, int status, const char *fmt, ...) KN_PRINTF(3, 4);
static void respond_errorf(kubelet_conn *c, int status, const char *fmt, ...)
{
        va_list ap;
        char *msg;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                abort();
        va_end(ap);
        kubelet_respond_text(c, status, msg);
        free(msg);
}

static int cmp_attempt(const void *a, const void *b)
{
        const Runtime__V1__Container *x = *(Runtime__V1__Container *const *)a;
        const Runtime__V1__Container *y = *(Runtime__V1__Container *const *)b;
        uint32_t ax = x->metadata ? x->metadata->attempt : 0, ay = y->metadata ? y->metadata->attempt : 0;
        if (ax != ay)
                return ax > ay ? -1 : 1;
        return x->created_at > y->created_at ? -1 : x->created_at < y->created_at ? 1 : 0;
}

/* The pod's containers named NAME, newest attempt first (sorted in place). */
static int list_attempts(kubelet_server *s, const char *uid, const char *name,
                         Runtime__V1__ListContainersResponse **ret, kn_error *err)
{
        Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        Runtime__V1__ContainerFilter f = RUNTIME__V1__CONTAINER_FILTER__INIT;
        Runtime__V1__ContainerFilter__LabelSelectorEntry l1 = RUNTIME__V1__CONTAINER_FILTER__LABEL_SELECTOR_ENTRY__INIT;
        Runtime__V1__ContainerFilter__LabelSelectorEntry l2 = RUNTIME__V1__CONTAINER_FILTER__LABEL_SELECTOR_ENTRY__INIT;
        Runtime__V1__ContainerFilter__LabelSelectorEntry *ls[2] = {&l1, &l2};
        Runtime__V1__ListContainersResponse *resp = NULL;
        int r;

        if (!s->o.cri)
                return kn_error_set(err, -ENOTCONN, "no container runtime");
        l1.key = "io.kubernetes.pod.uid";
        l1.value = (char *)uid;
        l2.key = "io.kubernetes.container.name";
        l2.value = (char *)name;
        f.n_label_selector = 2;
        f.label_selector = ls;
        req.filter = &f;
        r = cri_list_containers(s->o.cri, &req, 0, &resp, err);
        if (r < 0)
                return r;
        qsort(resp->containers, resp->n_containers, sizeof(*resp->containers), cmp_attempt);
        *ret = resp;
        return 0;
}

/* ---- /containerLogs/{namespace}/{pod}/{container} ---- */

struct log_ctx {
        kubelet_server *s;
        kubelet_conn *c;
        const char *container_id;
        bool started;
};

static int log_write(void *u, const char *p, size_t n)
{
        struct log_ctx *l = u;
        if (!l->started) {
                l->started = true;
                int r = kubelet_stream_begin(l->c, 200, NULL);
                if (r < 0)
                        return r;
        }
        return kubelet_stream_write(l->c, p, n);
}

static int log_flush(void *u)
{
        struct log_ctx *l = u;
        if (!l->started) {
                l->started = true;
                int r = kubelet_stream_begin(l->c, 200, NULL);
                if (r < 0)
                        return r;
        }
        return kubelet_stream_flush(l->c);
}

static int log_running(void *u)
{
        struct log_ctx *l = u;
        Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
        _cleanup_cri_msg_ Runtime__V1__ContainerStatusResponse *resp = NULL;
        int r;

        req.container_id = (char *)l->container_id;
        r = cri_container_status(l->s->o.cri, &req, 10000, &resp, NULL);
        if (r == -ECONNREFUSED)
                return 1; /* a runtime that is down keeps its containers running */
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        return resp->status && resp->status->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
}

/* The client's socket or the stop fd is readable: stop, unless it was stray bytes. */
static bool log_cancelled(void *u)
{
        struct log_ctx *l = u;
        char buf[512];
        struct pollfd p = {l->c->stop_fd, POLLIN, 0};
        if (l->c->stop_fd >= 0 && poll(&p, 1, 0) > 0)
                return true;
        ssize_t n = kubelet_conn_read(l->c, buf, sizeof(buf), 0);
        return n != -EAGAIN && n <= 0;
}

void kubelet_serve_container_logs(kubelet_server *s, kubelet_conn *c, const kubelet_request *req, char **segs,
                                  int n)
{
        _cleanup_cri_msg_ Runtime__V1__ListContainersResponse *list = NULL;
        _cleanup_cri_msg_ Runtime__V1__ContainerStatusResponse *st = NULL;
        Runtime__V1__ContainerStatusRequest sreq = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
        _cleanup_free_ char *uid = NULL;
        kubelet_log_opts o;
        struct log_ctx l = {.s = s, .c = c};
        kn_error err;
        size_t idx;
        int r;

        if (n != 3) {
                kubelet_respond_text(c, 404, "404 page not found\n");
                return;
        }
        r = kubelet_log_opts_parse(req->query, now_ns(), &o, &err);
        if (r < 0) {
                kubelet_respond_text(c, r == -EDOM ? 422 : 400, err.msg);
                return;
        }
        r = kubelet_server_find_pod(s, segs[0], segs[1], segs[2], &uid);
        if (r == -ENOENT) {
                respond_errorf(c, 404, "pod \"%s\" does not exist", segs[1]);
                return;
        }
        if (r < 0) {
                respond_errorf(c, 404, "container \"%s\" not found in pod \"%s\"", segs[2], segs[1]);
                return;
        }
        r = list_attempts(s, uid, segs[2], &list, &err);
        if (r < 0) {
                respond_errorf(c, 500, "failed to list containers: %s", err.msg);
                return;
        }
        idx = o.previous ? 1 : 0;
        if (list->n_containers <= idx) {
                if (o.previous)
                        respond_errorf(c, 400, "previous terminated container \"%s\" in pod \"%s\" not found",
                                       segs[2], segs[1]);
                else
                        respond_errorf(c, 400, "container \"%s\" in pod \"%s\" is waiting to start: ContainerCreating",
                                       segs[2], segs[1]);
                return;
        }
        sreq.container_id = list->containers[idx]->id;
        r = cri_container_status(s->o.cri, &sreq, 0, &st, &err);
        if (r < 0 || !st->status || !st->status->log_path || !st->status->log_path[0]) {
                respond_errorf(c, 400, "failed to get the log path of container \"%s\" in pod \"%s\": %s", segs[2],
                               segs[1], r < 0 ? err.msg : "the runtime gave none");
                return;
        }
        l.container_id = sreq.container_id;
        kubelet_log_sink sink = {.write = log_write,
                                 .flush = log_flush,
                                 .running = log_running,
                                 .wake_fds = {c->fd, c->stop_fd},
                                 .cancelled = log_cancelled,
                                 .userdata = &l};
        r = kubelet_logs_read(st->status->log_path, &o, &sink, &err);
        if (r < 0 && !l.started) {
                kubelet_respond_text(c, 400, err.msg);
                return;
        }
        if (r < 0)
                kn_v(2, "logs of container %s/%s/%s ended: %s", segs[0], segs[1], segs[2], err.msg);
        if (!l.started && kubelet_stream_begin(c, 200, NULL) < 0)
                return;
        kubelet_stream_end(c);
}

/* ---- /exec, /attach, /portForward: the runtime's streaming URL, proxied ---- */

static int connect_url(const char *url, char **ret_hostport, char **ret_target, int *ret_fd, kn_error *err)
{
        struct sockaddr_storage ss;
        unsigned len;
        const char *p, *slash;
        _cleanup_free_ char *hp = NULL;
        int fd, r, soerr = 0;
        socklen_t sl = sizeof(soerr);
        struct pollfd pfd;

        if (strncmp(url, "http://", 7) != 0)
                return kn_error_set(err, -EPROTONOSUPPORT, "unsupported streaming URL \"%s\" (only http:// is proxied)",
                                    url);
        p = url + 7;
        slash = strchr(p, '/');
        hp = slash ? kn_strndup(p, (size_t)(slash - p)) : kn_strdup(p);
        if (!strchr(hp, ':') || (hp[0] == '[' && !strstr(hp, "]:"))) {
                char *t = kn_asprintf("%s:80", hp);
                free(hp);
                hp = t;
        }
        r = kn_parse_hostport(hp, &ss, &len);
        if (r < 0)
                return kn_error_set(err, r, "unsupported streaming URL \"%s\" (want a numeric host)", url);
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return kn_error_set(err, -errno, "socket: %s", strerror(errno));
        if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
                r = kn_error_set(err, -errno, "failed to connect to %s: %s", hp, strerror(errno));
                close(fd);
                return r;
        }
        pfd = (struct pollfd){fd, POLLOUT, 0};
        if (poll(&pfd, 1, CONNECT_TIMEOUT_MS) <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
                r = kn_error_set(err, -(soerr ? soerr : ETIMEDOUT), "failed to connect to %s: %s", hp,
                                 strerror(soerr ? soerr : ETIMEDOUT));
                close(fd);
                return r;
        }
        *ret_target = kn_strdup(slash ? slash : "/");
        *ret_hostport = TAKE_PTR(hp);
        *ret_fd = fd;
        return 0;
}

/* The client's request for the runtime: its method, the URL's path, its headers but Host
 * (rewritten) and Authorization (the kubelet's business, not the runtime's). */
static void build_upstream_request(const kubelet_request *req, const char *hostport, const char *target, kn_buf *out)
{
        kn_buf_printf(out, "%s %s HTTP/1.1\r\nHost: %s\r\n", req->method, target, hostport);
        for (const char *l = req->headers; *l;) {
                const char *eol = strstr(l, "\r\n");
                if (!eol)
                        break;
                if (!(strncasecmp(l, "Host:", 5) == 0 || strncasecmp(l, "Authorization:", 14) == 0))
                        kn_buf_append(out, l, (size_t)(eol - l) + 2);
                l = eol + 2;
        }
        kn_buf_append(out, "\r\n", 2);
}

/* Read the runtime's response head (and whatever came with it). Returns the status. */
static int read_upstream_head(kubelet_conn *up, char *buf, size_t *ret_len, size_t *ret_head_len)
{
        size_t len = 0;
        int64_t deadline = kn_now_ms() + CONNECT_TIMEOUT_MS;
        char *end;
        int status;

        for (;;) {
                int left = (int)(deadline - kn_now_ms());
                ssize_t n;
                if (len == MAX_UPSTREAM_HEAD)
                        return -EFBIG;
                n = kubelet_conn_read(up, buf + len, MAX_UPSTREAM_HEAD - len, left > 0 ? left : 1);
                if (n <= 0)
                        return n == 0 ? -ECONNRESET : (int)n;
                len += (size_t)n;
                buf[len] = '\0';
                end = strstr(buf, "\r\n\r\n");
                if (end)
                        break;
        }
        if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
                return -EBADMSG;
        *ret_len = len;
        *ret_head_len = (size_t)(end - buf) + 4;
        return status;
}

/* Both directions until either side ends (or the server stops, or 4 h of silence). */
static void relay(kubelet_conn *client, kubelet_conn *up)
{
        _cleanup_free_ char *buf = kn_malloc(32768);

        for (;;) {
                bool idle = true;
                kubelet_conn *from[2] = {client, up}, *to[2] = {up, client};
                for (int i = 0; i < 2; i++) {
                        ssize_t n = kubelet_conn_read(from[i], buf, 32768, 0);
                        if (n == -EAGAIN)
                                continue;
                        if (n <= 0)
                                return;
                        if (kubelet_conn_write(to[i], buf, (size_t)n, RELAY_WRITE_TIMEOUT_MS) < 0)
                                return;
                        idle = false;
                }
                if (!idle)
                        continue;
                struct pollfd pfd[3] = {{client->fd, POLLIN, 0}, {up->fd, POLLIN, 0}, {client->stop_fd, POLLIN, 0}};
                int r = poll(pfd, client->stop_fd >= 0 ? 3 : 2, RELAY_IDLE_TIMEOUT_MS);
                if (r == 0 || (r < 0 && errno != EINTR) || (client->stop_fd >= 0 && pfd[2].revents))
                        return;
        }
}

static void proxy_stream(kubelet_conn *c, const kubelet_request *req, const char *url)
{
        _cleanup_free_ char *hostport = NULL, *target = NULL, *head = NULL;
        kubelet_conn up = {.fd = -1, .stop_fd = c->stop_fd};
        kn_buf out = {0};
        size_t len = 0, head_len = 0;
        kn_error err;
        int status, r;

        r = connect_url(url, &hostport, &target, &up.fd, &err);
        if (r < 0) {
                kn_err("failed to proxy a stream to the runtime: %s", err.msg);
                kubelet_respond_text(c, 500, err.msg);
                return;
        }
        build_upstream_request(req, hostport, target, &out);
        if (c->in_off < c->in_len) /* bytes the client sent after its request head */
                kn_buf_append(&out, c->in + c->in_off, c->in_len - c->in_off);
        c->in_off = c->in_len;
        r = kubelet_conn_write(&up, out.data, out.len, CONNECT_TIMEOUT_MS);
        kn_buf_free(&out);
        head = kn_malloc(MAX_UPSTREAM_HEAD + 1);
        status = r < 0 ? r : read_upstream_head(&up, head, &len, &head_len);
        if (status < 0) {
                kn_err("failed to proxy a stream to the runtime at %s: %s", hostport, strerror(-status));
                respond_errorf(c, 500, "error dialing backend: %s", strerror(-status));
                kubelet_conn_close(&up);
                return;
        }
        /* the runtime's answer goes to the client as it is, upgraded or not */
        if (kubelet_conn_write(c, head, len, RELAY_WRITE_TIMEOUT_MS) < 0) {
                kubelet_conn_close(&up);
                return;
        }
        if (status == 101) {
                relay(c, &up);
        } else {
                /* not upgraded: echo the rest of the runtime's response, then close */
                size_t total = 0;
                ssize_t n;
                while (total < MAX_UPSTREAM_ERROR_BODY && (n = kubelet_conn_read(&up, head, MAX_UPSTREAM_HEAD,
                                                                                   CONNECT_TIMEOUT_MS)) > 0) {
                        if (kubelet_conn_write(c, head, (size_t)n, RELAY_WRITE_TIMEOUT_MS) < 0)
                                break;
                        total += (size_t)n;
                }
        }
        kubelet_conn_close(&up);
}

static void append_bytes(kn_buf *b, const ProtobufCBinaryData *d)
{
        if (d->len) /* protobuf-c leaves data NULL when empty */
                kn_buf_append(b, d->data, d->len);
}

static bool flag_param(const char *query, const char *name)
{
        _cleanup_free_ char *v = kubelet_query_get(query, name, 0);
        return v && strcmp(v, "1") == 0;
}

static int sandbox_id(kubelet_server *s, const char *uid, char **ret, kn_error *err)
{
        Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__PodSandboxFilter f = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
        Runtime__V1__PodSandboxStateValue state = RUNTIME__V1__POD_SANDBOX_STATE_VALUE__INIT;
        Runtime__V1__PodSandboxFilter__LabelSelectorEntry l = RUNTIME__V1__POD_SANDBOX_FILTER__LABEL_SELECTOR_ENTRY__INIT;
        Runtime__V1__PodSandboxFilter__LabelSelectorEntry *ls[1] = {&l};
        _cleanup_cri_msg_ Runtime__V1__ListPodSandboxResponse *resp = NULL;
        Runtime__V1__PodSandbox *best = NULL;
        int r;

        if (!s->o.cri)
                return kn_error_set(err, -ENOTCONN, "no container runtime");
        l.key = "io.kubernetes.pod.uid";
        l.value = (char *)uid;
        f.n_label_selector = 1;
        f.label_selector = ls;
        state.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
        f.state = &state;
        req.filter = &f;
        r = cri_list_pod_sandbox(s->o.cri, &req, 0, &resp, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < resp->n_items; i++)
                if (!best || resp->items[i]->created_at > best->created_at)
                        best = resp->items[i];
        if (!best)
                return kn_error_set(err, -ENOENT, "no ready sandbox for pod %s", uid);
        *ret = kn_strdup(best->id);
        return 0;
}

static int running_container(kubelet_server *s, const char *uid, const char *name, char **ret, kn_error *err)
{
        _cleanup_cri_msg_ Runtime__V1__ListContainersResponse *list = NULL;
        int r = list_attempts(s, uid, name, &list, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < list->n_containers; i++)
                if (list->containers[i]->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING) {
                        *ret = kn_strdup(list->containers[i]->id);
                        return 0;
                }
        return kn_error_set(err, -ENOENT, "container not found (\"%s\")", name);
}

void kubelet_serve_stream(kubelet_server *s, kubelet_conn *c, const kubelet_request *req, const char *kind,
                          char **segs, int n)
{
        bool pf = strcmp(kind, "portForward") == 0;
        /* remotecommand's parameter names, "1" for true */
        bool stdin_ = flag_param(req->query, "input");
        bool stdout_ = flag_param(req->query, "output");
        bool stderr_ = flag_param(req->query, "error");
        bool tty = flag_param(req->query, "tty");
        const char *container = pf ? NULL : segs[n - 1];
        const char *want_uid = (pf && n == 3) || (!pf && n == 4) ? segs[2] : NULL;
        _cleanup_free_ char *uid = NULL, *id = NULL, *url = NULL;
        kn_error err;
        int r;

        if ((pf && n != 2 && n != 3) || (!pf && n != 3 && n != 4)) {
                kubelet_respond_text(c, 404, "404 page not found\n");
                return;
        }
        if (!pf) {
                if (tty && stderr_)
                        stderr_ = false; /* as upstream: a tty has no separate stderr */
                if (!stdin_ && !stdout_ && !stderr_) {
                        kubelet_respond_text(c, 400, "you must specify at least 1 of stdin, stdout, stderr");
                        return;
                }
        }
        r = kubelet_server_find_pod(s, segs[0], segs[1], NULL, &uid);
        if (r < 0 || (want_uid && strcmp(want_uid, uid) != 0)) {
                kubelet_respond_text(c, 404, "pod does not exist");
                return;
        }
        if (!kubelet_header_has_token(req->headers, "Connection", "upgrade")) {
                kubelet_respond_text(c, 500, "Upgrade request required");
                return;
        }
        r = pf ? sandbox_id(s, uid, &id, &err) : running_container(s, uid, container, &id, &err);
        if (r < 0) {
                kubelet_respond_text(c, r == -ENOENT ? 404 : 500, err.msg);
                return;
        }
        if (strcmp(kind, "exec") == 0) {
                Runtime__V1__ExecRequest er = RUNTIME__V1__EXEC_REQUEST__INIT;
                _cleanup_cri_msg_ Runtime__V1__ExecResponse *resp = NULL;
                char *cmd[MAX_COMMAND_ARGS];
                size_t nc = 0;
                while (nc < MAX_COMMAND_ARGS && (cmd[nc] = kubelet_query_get(req->query, "command", nc)))
                        nc++;
                er.container_id = id;
                er.cmd = cmd;
                er.n_cmd = nc;
                er.tty = tty;
                er.stdin = stdin_;
                er.stdout = stdout_;
                er.stderr = stderr_;
                r = cri_exec(s->o.cri, &er, 0, &resp, &err);
                for (size_t i = 0; i < nc; i++)
                        free(cmd[i]);
                if (r >= 0)
                        url = kn_strdup(resp->url);
        } else if (strcmp(kind, "attach") == 0) {
                Runtime__V1__AttachRequest ar = RUNTIME__V1__ATTACH_REQUEST__INIT;
                _cleanup_cri_msg_ Runtime__V1__AttachResponse *resp = NULL;
                ar.container_id = id;
                ar.tty = tty;
                ar.stdin = stdin_;
                ar.stdout = stdout_;
                ar.stderr = stderr_;
                r = cri_attach(s->o.cri, &ar, 0, &resp, &err);
                if (r >= 0)
                        url = kn_strdup(resp->url);
        } else {
                Runtime__V1__PortForwardRequest pr = RUNTIME__V1__PORT_FORWARD_REQUEST__INIT;
                _cleanup_cri_msg_ Runtime__V1__PortForwardResponse *resp = NULL;
                int32_t ports[MAX_PORTS];
                size_t np = 0;
                /* WebSocket clients name the ports in the query; SPDY ones in stream headers */
                for (char *v; np < MAX_PORTS && (v = kubelet_query_get(req->query, "port", np)); np++) {
                        ports[np] = (int32_t)atoi(v);
                        free(v);
                }
                pr.pod_sandbox_id = id;
                pr.port = ports;
                pr.n_port = np;
                r = cri_port_forward(s->o.cri, &pr, 0, &resp, &err);
                if (r >= 0)
                        url = kn_strdup(resp->url);
        }
        if (r < 0) {
                kubelet_respond_text(c, r == -ENOENT ? 404 : 500, err.msg);
                return;
        }
        kn_v(3, "%s for pod %s/%s through %s", kind, segs[0], segs[1], url);
        proxy_stream(c, req, url);
}

/* ---- /run/{namespace}/{pod}[/{uid}]/{container}?cmd=... ---- */

void kubelet_serve_run(kubelet_server *s, kubelet_conn *c, const kubelet_request *req, char **segs, int n)
{
        _cleanup_free_ char *uid = NULL, *id = NULL, *cmdline = kubelet_query_get(req->query, "cmd", 0);
        _cleanup_cri_msg_ Runtime__V1__ExecSyncResponse *resp = NULL;
        Runtime__V1__ExecSyncRequest er = RUNTIME__V1__EXEC_SYNC_REQUEST__INIT;
        char *cmd[MAX_COMMAND_ARGS], *save = NULL;
        size_t nc = 0;
        kn_buf out = {0};
        kn_error err;
        int r;

        if (n != 3 && n != 4) {
                kubelet_respond_text(c, 404, "404 page not found\n");
                return;
        }
        r = kubelet_server_find_pod(s, segs[0], segs[1], NULL, &uid);
        if (r < 0 || (n == 4 && strcmp(segs[2], uid) != 0)) {
                kubelet_respond_text(c, 404, "pod does not exist");
                return;
        }
        r = running_container(s, uid, segs[n - 1], &id, &err);
        if (r < 0) {
                kubelet_respond_text(c, 500, err.msg);
                return;
        }
        /* as upstream, the command is the cmd parameter split at spaces */
        for (char *t = cmdline ? strtok_r(cmdline, " ", &save) : NULL; t && nc < MAX_COMMAND_ARGS;
             t = strtok_r(NULL, " ", &save))
                cmd[nc++] = t;
        er.container_id = id;
        er.cmd = cmd;
        er.n_cmd = nc;
        r = cri_exec_sync(s->o.cri, &er, 0, &resp, &err);
        if (r < 0) {
                kubelet_respond_text(c, 500, err.msg);
                return;
        }
        append_bytes(&out, &resp->stdout);
        if (resp->exit_code != 0) {
                kn_buf_free(&out);
                kn_buf_printf(&out, "command '");
                for (size_t i = 0; i < nc; i++)
                        kn_buf_printf(&out, "%s%s", i ? " " : "", cmd[i]);
                kn_buf_printf(&out, "' exited with %d: ", resp->exit_code);
                append_bytes(&out, &resp->stderr);
                kubelet_respond(c, 500, NULL, NULL, out.data, out.len);
        } else {
                append_bytes(&out, &resp->stderr);
                kubelet_respond(c, 200, "application/json", NULL, out.data ? out.data : "", out.len);
        }
        kn_buf_free(&out);
}

/* ---- /runningpods/: the runtime's running pods, as upstream's GetRunningPods ---- */

void kubelet_serve_running_pods(kubelet_server *s, kubelet_conn *c)
{
        Runtime__V1__ListPodSandboxRequest sreq = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__ListContainersRequest creq = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        Runtime__V1__PodSandboxFilter sf = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
        Runtime__V1__PodSandboxStateValue ready = RUNTIME__V1__POD_SANDBOX_STATE_VALUE__INIT;
        Runtime__V1__ContainerFilter cf = RUNTIME__V1__CONTAINER_FILTER__INIT;
        Runtime__V1__ContainerStateValue running = RUNTIME__V1__CONTAINER_STATE_VALUE__INIT;
        _cleanup_cri_msg_ Runtime__V1__ListPodSandboxResponse *sandboxes = NULL;
        _cleanup_cri_msg_ Runtime__V1__ListContainersResponse *containers = NULL;
        _cleanup_cjson_ cJSON *list = cJSON_CreateObject();
        _cleanup_free_ char *body = NULL;
        cJSON *items;
        kn_error err;

        if (!s->o.cri) {
                kubelet_respond_text(c, 500, "no container runtime");
                return;
        }
        ready.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
        sf.state = &ready;
        sreq.filter = &sf;
        running.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
        cf.state = &running;
        creq.filter = &cf;
        if (cri_list_pod_sandbox(s->o.cri, &sreq, 0, &sandboxes, &err) < 0 ||
            cri_list_containers(s->o.cri, &creq, 0, &containers, &err) < 0) {
                kubelet_respond_text(c, 500, err.msg);
                return;
        }
        cJSON_AddStringToObject(list, "kind", "PodList");
        cJSON_AddStringToObject(list, "apiVersion", "v1");
        cJSON_AddObjectToObject(list, "metadata");
        items = cJSON_AddArrayToObject(list, "items");
        for (size_t i = 0; i < sandboxes->n_items; i++) {
                const Runtime__V1__PodSandbox *sb = sandboxes->items[i];
                cJSON *pod, *md, *cs;
                if (!sb->metadata)
                        continue;
                cJSON_AddItemToArray(items, pod = cJSON_CreateObject());
                md = cJSON_AddObjectToObject(pod, "metadata");
                cJSON_AddStringToObject(md, "name", sb->metadata->name);
                cJSON_AddStringToObject(md, "namespace", sb->metadata->namespace_);
                cJSON_AddStringToObject(md, "uid", sb->metadata->uid);
                cJSON_AddNullToObject(md, "creationTimestamp");
                cs = cJSON_AddArrayToObject(cJSON_AddObjectToObject(pod, "spec"), "containers");
                for (size_t j = 0; j < containers->n_containers; j++) {
                        const Runtime__V1__Container *ct = containers->containers[j];
                        cJSON *x;
                        if (!kn_streq(ct->pod_sandbox_id, sb->id) || !ct->metadata)
                                continue;
                        cJSON_AddItemToArray(cs, x = cJSON_CreateObject());
                        cJSON_AddStringToObject(x, "name", ct->metadata->name);
                        cJSON_AddStringToObject(x, "image", ct->image && ct->image->image && ct->image->image[0]
                                                                    ? ct->image->image
                                                                    : ct->image_ref ? ct->image_ref : "");
                        cJSON_AddObjectToObject(x, "resources");
                }
                cJSON_AddObjectToObject(pod, "status");
        }
        body = cJSON_PrintUnformatted(list);
        kubelet_respond(c, 200, "application/json", NULL, body, strlen(body));
}
