/* SPDX-License-Identifier: Apache-2.0 */
#include "httpd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "log.h"

#define MAX_REQUEST 8192
#define READ_TIMEOUT_MS 5000
#define MAX_CONNS 128

struct route {
        char *path;
        kn_http_handler fn;
        void *userdata;
};

struct kn_httpd {
        int fd, stop_fd;
        struct route *routes;
        size_t n_routes;
        pthread_t thread;
        bool started;
};

int kn_parse_hostport(const char *addr, void *ret, unsigned *ret_len)
{
        char host[128];
        const char *colon, *h = addr;
        size_t hl;
        long port;
        char *end;

        if (addr[0] == '[') {
                const char *rb = strchr(addr, ']');
                if (!rb || rb[1] != ':')
                        return -EINVAL;
                h = addr + 1;
                hl = (size_t)(rb - h);
                colon = rb + 1;
        } else {
                colon = strrchr(addr, ':');
                if (!colon)
                        return -EINVAL;
                hl = (size_t)(colon - addr);
        }
        if (hl >= sizeof(host))
                return -EINVAL;
        memcpy(host, h, hl);
        host[hl] = '\0';
        port = strtol(colon + 1, &end, 10);
        if (!colon[1] || *end || port < 0 || port > 65535)
                return -EINVAL;
        memset(ret, 0, sizeof(struct sockaddr_storage));
        if (!host[0] || strcmp(host, "::") == 0 || strchr(host, ':')) {
                struct sockaddr_in6 *s6 = ret;
                s6->sin6_family = AF_INET6;
                s6->sin6_port = htons((uint16_t)port);
                if (host[0] && inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
                        return -EINVAL;
                *ret_len = sizeof(*s6);
        } else {
                struct sockaddr_in *s4 = ret;
                s4->sin_family = AF_INET;
                s4->sin_port = htons((uint16_t)port);
                if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
                        return -EINVAL;
                *ret_len = sizeof(*s4);
        }
        return 0;
}

int kn_httpd_new(const char *addr, kn_httpd **ret, kn_error *err)
{
        struct sockaddr_storage ss;
        _cleanup_close_ int fd = -1;
        unsigned len;
        int one = 1, r;
        kn_httpd *h;

        r = kn_parse_hostport(addr, &ss, &len);
        if (r < 0)
                return kn_error_set(err, r, "invalid listen address \"%s\" (want host:port)", addr);
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return kn_error_set(err, -errno, "socket: %s", strerror(errno));
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ss.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr)) {
                int zero = 0; /* "[::]:port" and ":port" take IPv4 too, whatever net.ipv6.bindv6only says */
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        }
        if (bind(fd, (struct sockaddr *)&ss, len) < 0)
                return kn_error_set(err, -errno, "failed to listen on %s: %s", addr, strerror(errno));
        if (listen(fd, 64) < 0)
                return kn_error_set(err, -errno, "failed to listen on %s: %s", addr, strerror(errno));
        h = kn_calloc(1, sizeof(*h));
        h->fd = TAKE_FD(fd);
        h->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (h->stop_fd < 0) {
                r = kn_error_set(err, -errno, "eventfd: %s", strerror(errno));
                kn_httpd_free(h);
                return r;
        }
        *ret = h;
        return 0;
}

int kn_httpd_port(const kn_httpd *h)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        if (getsockname(h->fd, (struct sockaddr *)&ss, &len) < 0)
                return -errno;
        return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                              : ((struct sockaddr_in *)&ss)->sin_port);
}

void kn_httpd_route(kn_httpd *h, const char *path, kn_http_handler fn, void *userdata)
{
        h->routes = kn_realloc(h->routes, (h->n_routes + 1) * sizeof(*h->routes));
        h->routes[h->n_routes++] = (struct route){kn_strdup(path), fn, userdata};
}

static const char *status_text(int s)
{
        switch (s) {
        case 200: return "OK";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 413: return "Request Entity Too Large";
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
        default: return "Unknown";
        }
}

/* One client connection: the request read so far, then the response left to write. */
struct conn {
        int fd;
        int64_t deadline; /* monotonic ms: the whole exchange, read and write */
        size_t len;       /* bytes of req read */
        kn_buf out;       /* response; written from out_off */
        size_t out_off;
        bool writing;
        char req[MAX_REQUEST + 1];
};

static void conn_close(struct conn *c)
{
        close(c->fd);
        kn_buf_free(&c->out);
        free(c);
}

static void respond(struct conn *c, kn_http_response *resp, bool head)
{
        kn_buf_printf(&c->out,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
                      resp->status, status_text(resp->status),
                      resp->content_type ? resp->content_type : "text/plain; charset=utf-8", resp->body.len,
                      resp->extra_headers);
        if (!head && resp->body.len)
                kn_buf_append(&c->out, resp->body.data, resp->body.len);
        c->writing = true;
}

/* A complete request head is in c->req: run its handler and queue the response. */
static void handle(kn_httpd *h, struct conn *c)
{
        kn_http_response resp = {.status = 404};
        char method[16], target[2048];
        char *q;

        if (sscanf(c->req, "%15s %2047s", method, target) != 2) {
                resp.status = 400;
                respond(c, &resp, false);
                return;
        }
        q = strchr(target, '?');
        if (q)
                *q++ = '\0';
        for (size_t i = 0; i < h->n_routes; i++) {
                const char *p = h->routes[i].path;
                size_t pl = strlen(p);
                if (strcmp(p, target) == 0 || (pl > 1 && p[pl - 1] == '/' && strncmp(p, target, pl) == 0)) {
                        resp.status = 200;
                        const char *hdrs = strstr(c->req, "\r\n");
                        kn_http_request hr = {method, target, q ? q : "", hdrs ? hdrs + 2 : ""};
                        h->routes[i].fn(h->routes[i].userdata, &hr, &resp);
                        break;
                }
        }
        if (resp.status == 404 && !resp.body.len)
                kn_buf_printf(&resp.body, "404 page not found\n");
        respond(c, &resp, strcmp(method, "HEAD") == 0);
        kn_buf_free(&resp.body);
}

/* Progress on a readable/writable connection; false when it is done (to be closed). */
static bool conn_io(kn_httpd *h, struct conn *c)
{
        if (!c->writing) {
                ssize_t n = read(c->fd, c->req + c->len, MAX_REQUEST - c->len);
                if (n < 0)
                        return errno == EINTR || errno == EAGAIN;
                if (n == 0)
                        return false;
                c->len += (size_t)n;
                c->req[c->len] = '\0';
                if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n")) {
                        handle(h, c);
                } else if (c->len == MAX_REQUEST) {
                        kn_http_response resp = {.status = 413};
                        respond(c, &resp, false);
                } else {
                        return true;
                }
        }
        while (c->out_off < c->out.len) {
                ssize_t w = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
                if (w < 0)
                        return errno == EINTR || errno == EAGAIN;
                c->out_off += (size_t)w;
        }
        return false;
}

/* Every connection is served at once by one poll loop: a slow or idle client costs a
 * slot until its deadline, never the others' time. When all slots are taken, the
 * connection closest to its deadline makes room for the new one. Handlers run on this
 * thread and must not block. */
static void *httpd_thread(void *p)
{
        kn_httpd *h = p;
        struct conn *conns[MAX_CONNS];
        struct pollfd pfd[MAX_CONNS + 2];
        size_t n = 0;

        for (;;) {
                int64_t now = kn_now_ms(), next = -1;
                int r;

                for (size_t i = 0; i < n;) {
                        if (conns[i]->deadline <= now) {
                                conn_close(conns[i]);
                                conns[i] = conns[--n];
                                continue;
                        }
                        if (next < 0 || conns[i]->deadline < next)
                                next = conns[i]->deadline;
                        pfd[i + 2] = (struct pollfd){conns[i]->fd, conns[i]->writing ? POLLOUT : POLLIN, 0};
                        i++;
                }
                pfd[0] = (struct pollfd){h->fd, POLLIN, 0};
                pfd[1] = (struct pollfd){h->stop_fd, POLLIN, 0};
                r = poll(pfd, n + 2, next < 0 ? -1 : (int)(next - now));
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (pfd[1].revents)
                        break;
                for (size_t i = n; i-- > 0;) {
                        if (!pfd[i + 2].revents || conn_io(h, conns[i]))
                                continue;
                        conn_close(conns[i]);
                        conns[i] = conns[--n];
                }
                if (pfd[0].revents) {
                        int fd = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                        struct conn *c;
                        if (fd < 0)
                                continue;
                        if (n == MAX_CONNS) {
                                size_t old = 0;
                                for (size_t i = 1; i < n; i++)
                                        if (conns[i]->deadline < conns[old]->deadline)
                                                old = i;
                                conn_close(conns[old]);
                                conns[old] = conns[--n];
                        }
                        c = kn_calloc(1, sizeof(*c));
                        c->fd = fd;
                        c->deadline = kn_now_ms() + READ_TIMEOUT_MS;
                        conns[n++] = c;
                }
        }
        for (size_t i = 0; i < n; i++)
                conn_close(conns[i]);
        return NULL;
}

int kn_httpd_start(kn_httpd *h)
{
        int r;
        if (h->started)
                return 0;
        r = pthread_create(&h->thread, NULL, httpd_thread, h);
        if (r)
                return -r;
        h->started = true;
        return 0;
}

void kn_httpd_free(kn_httpd *h)
{
        if (!h)
                return;
        if (h->started) {
                uint64_t one = 1;
                (void)!write(h->stop_fd, &one, sizeof(one));
                pthread_join(h->thread, NULL);
        }
        if (h->fd >= 0)
                close(h->fd);
        if (h->stop_fd >= 0)
                close(h->stop_fd);
        for (size_t i = 0; i < h->n_routes; i++)
                free(h->routes[i].path);
        free(h->routes);
        free(h);
}
