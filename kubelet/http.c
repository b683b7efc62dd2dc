/* SPDX-License-Identifier: Apache-2.0 */
#include "http.h"

#include <ctype.h>
#include <poll.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/err.h>

/* Wait for FD to be ready for EVENTS, or the stop fd. */
static int wait_fd(kubelet_conn *c, short events, int timeout_ms)
{
        struct pollfd pfd[2] = {{c->fd, events, 0}, {c->stop_fd, POLLIN, 0}};
        int r;

        if (timeout_ms == 0)
                return -EAGAIN;
        do
                r = poll(pfd, c->stop_fd >= 0 ? 2 : 1, timeout_ms);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return -errno;
        if (r == 0)
                return -ETIMEDOUT;
        if (c->stop_fd >= 0 && pfd[1].revents)
                return -ECANCELED;
        return 0;
}

ssize_t kubelet_conn_read(kubelet_conn *c, void *buf, size_t n, int timeout_ms)
{
        int r;

        if (c->in_off < c->in_len) {
                size_t k = c->in_len - c->in_off < n ? c->in_len - c->in_off : n;
                memcpy(buf, c->in + c->in_off, k);
                c->in_off += k;
                return (ssize_t)k;
        }
        for (;;) {
                short want = POLLIN;
                if (c->ssl) {
                        size_t got;
                        ERR_clear_error();
                        if (SSL_read_ex(c->ssl, buf, n, &got) == 1)
                                return (ssize_t)got;
                        switch (SSL_get_error(c->ssl, 0)) {
                        case SSL_ERROR_ZERO_RETURN:
                                return 0;
                        case SSL_ERROR_WANT_READ:
                                break;
                        case SSL_ERROR_WANT_WRITE:
                                want = POLLOUT;
                                break;
                        case SSL_ERROR_SYSCALL:
                                if (ERR_peek_error() == 0 && errno == 0)
                                        return 0; /* EOF without close_notify */
                                return -EIO;
                        default:
                                return -EIO;
                        }
                } else {
                        ssize_t k = read(c->fd, buf, n);
                        if (k >= 0)
                                return k;
                        if (errno == ECONNRESET)
                                return 0;
                        if (errno != EAGAIN && errno != EINTR)
                                return -EIO;
                }
                r = wait_fd(c, want, timeout_ms);
                if (r < 0)
                        return r;
        }
}

int kubelet_conn_write(kubelet_conn *c, const void *p, size_t n, int timeout_ms)
{
        const char *q = p;
        int r;

        while (n) {
                short want = POLLOUT;
                if (c->ssl) {
                        size_t w;
                        ERR_clear_error();
                        if (SSL_write_ex(c->ssl, q, n, &w) == 1) {
                                q += w;
                                n -= w;
                                continue;
                        }
                        switch (SSL_get_error(c->ssl, 0)) {
                        case SSL_ERROR_WANT_WRITE:
                                break;
                        case SSL_ERROR_WANT_READ:
                                want = POLLIN;
                                break;
                        default:
                                return -EPIPE;
                        }
                } else {
                        ssize_t w = send(c->fd, q, n, MSG_NOSIGNAL);
                        if (w > 0) {
                                q += w;
                                n -= (size_t)w;
                                continue;
                        }
                        if (w < 0 && errno != EAGAIN && errno != EINTR)
                                return -EPIPE;
                }
                r = wait_fd(c, want, timeout_ms);
                if (r < 0)
                        return r;
        }
        return 0;
}

int kubelet_conn_tls_accept(kubelet_conn *c, SSL_CTX *ctx, int timeout_ms)
{
        int64_t deadline = kn_now_ms() + timeout_ms;

        c->ssl = SSL_new(ctx);
        if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
                return -ENOMEM;
        for (;;) {
                int r, left;
                ERR_clear_error();
                r = SSL_accept(c->ssl);
                if (r == 1)
                        return 0;
                switch (SSL_get_error(c->ssl, r)) {
                case SSL_ERROR_WANT_READ:
                        left = (int)(deadline - kn_now_ms());
                        r = wait_fd(c, POLLIN, left > 0 ? left : 1);
                        break;
                case SSL_ERROR_WANT_WRITE:
                        left = (int)(deadline - kn_now_ms());
                        r = wait_fd(c, POLLOUT, left > 0 ? left : 1);
                        break;
                default:
                        return -EPROTO;
                }
                if (r < 0)
                        return r;
        }
}

void kubelet_conn_close(kubelet_conn *c)
{
        if (c->ssl) {
                ERR_clear_error();
                (void)SSL_shutdown(c->ssl); /* best effort close_notify, no wait */
                SSL_free(c->ssl);
                c->ssl = NULL;
        }
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        free(c->in);
        c->in = NULL;
}

int kubelet_read_request(kubelet_conn *c, size_t max, int timeout_ms, kubelet_request *ret)
{
        kubelet_request r = {0};
        int64_t deadline = kn_now_ms() + timeout_ms;
        char *end = NULL, *sp, *sp2, *q;
        size_t len = 0;

        r.head = kn_malloc(max + 1);
        for (;;) {
                int left = (int)(deadline - kn_now_ms());
                ssize_t n;
                if (len == max) {
                        free(r.head);
                        return -EFBIG;
                }
                n = kubelet_conn_read(c, r.head + len, max - len, left > 0 ? left : 1);
                if (n <= 0) {
                        free(r.head);
                        return n == 0 ? -ECONNRESET : (int)n;
                }
                len += (size_t)n;
                r.head[len] = '\0';
                end = strstr(r.head, "\r\n\r\n");
                if (end)
                        break;
        }
        r.head_len = (size_t)(end - r.head) + 4;
        if (len > r.head_len) {
                c->in_len = len - r.head_len;
                c->in = kn_malloc(c->in_len);
                memcpy(c->in, r.head + r.head_len, c->in_len);
                c->in_off = 0;
        }
        end[2] = '\0'; /* the head keeps its last "\r\n" */
        sp = strchr(r.head, ' ');
        if (!sp || sp - r.head >= (long)sizeof(r.method))
                goto bad;
        memcpy(r.method, r.head, (size_t)(sp - r.head));
        r.method[sp - r.head] = '\0';
        sp2 = strchr(sp + 1, ' ');
        q = strstr(r.head, "\r\n");
        if (!sp2 || sp2 > q || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || sp[1] != '/')
                goto bad;
        r.path = kn_strndup(sp + 1, (size_t)(sp2 - sp - 1));
        r.headers = q + 2;
        q = strchr(r.path, '?');
        if (q) {
                *q = '\0';
                r.query = q + 1;
        } else {
                r.query = "";
        }
        *ret = r;
        return 0;
bad:
        free(r.head);
        return -EBADMSG;
}

void kubelet_request_free(kubelet_request *r)
{
        free(r->head);
        free(r->path);
        memset(r, 0, sizeof(*r));
}

static const char *header_find(const char *headers, const char *name, const char **ret_end)
{
        size_t nl = strlen(name);
        for (const char *l = headers; l && *l;) {
                const char *eol = strstr(l, "\r\n");
                if (!eol)
                        eol = l + strlen(l);
                if ((size_t)(eol - l) > nl && strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
                        const char *v = l + nl + 1;
                        while (v < eol && (*v == ' ' || *v == '\t'))
                                v++;
                        while (eol > v && (eol[-1] == ' ' || eol[-1] == '\t'))
                                eol--;
                        *ret_end = eol;
                        return v;
                }
                l = *eol ? eol + 2 : eol;
        }
        return NULL;
}

char *kubelet_header_get(const char *headers, const char *name)
{
        const char *end, *v = header_find(headers, name, &end);
        return v ? kn_strndup(v, (size_t)(end - v)) : NULL;
}

bool kubelet_header_has_token(const char *headers, const char *name, const char *token)
{
        _cleanup_free_ char *v = kubelet_header_get(headers, name);
        size_t tl = strlen(token);
        for (char *p = v; p && *p;) {
                while (*p == ' ' || *p == ',')
                        p++;
                char *e = p;
                while (*e && *e != ',')
                        e++;
                char *t = e;
                while (t > p && t[-1] == ' ')
                        t--;
                if ((size_t)(t - p) == tl && strncasecmp(p, token, tl) == 0)
                        return true;
                p = e;
        }
        return false;
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (char)tolower((unsigned char)c);
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int kubelet_url_decode(const char *s, size_t n, bool plus_is_space, char **ret)
{
        char *out = kn_malloc(n + 1), *o = out;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '%') {
                        int h, l;
                        if (i + 2 >= n) {
                                free(out);
                                return -EINVAL;
                        }
                        h = hexval(s[i + 1]);
                        l = hexval(s[i + 2]);
                        if (h < 0 || l < 0 || (h == 0 && l == 0)) {
                                free(out);
                                return -EINVAL;
                        }
                        *o++ = (char)(h * 16 + l);
                        i += 2;
                } else if (s[i] == '+' && plus_is_space) {
                        *o++ = ' ';
                } else {
                        *o++ = s[i];
                }
        }
        *o = '\0';
        *ret = out;
        return 0;
}

char *kubelet_query_get(const char *query, const char *name, size_t index)
{
        size_t nl = strlen(name);
        for (const char *p = query; p && *p;) {
                const char *amp = strchr(p, '&');
                const char *end = amp ? amp : p + strlen(p);
                const char *eq = memchr(p, '=', (size_t)(end - p));
                const char *kend = eq ? eq : end;
                _cleanup_free_ char *key = NULL;
                if (kubelet_url_decode(p, (size_t)(kend - p), true, &key) == 0 && strlen(key) == nl &&
                    memcmp(key, name, nl) == 0) {
                        if (index == 0) {
                                char *v = NULL;
                                if (!eq)
                                        return kn_strdup("");
                                return kubelet_url_decode(eq + 1, (size_t)(end - eq - 1), true, &v) == 0 ? v : NULL;
                        }
                        index--;
                }
                p = amp ? amp + 1 : NULL;
        }
        return NULL;
}

int kubelet_path_split(const char *path, char **ret_segs, size_t max)
{
        size_t n = 0;
        const char *p = path;

        while (*p == '/')
                p++;
        while (*p) {
                const char *e = strchr(p, '/');
                size_t l = e ? (size_t)(e - p) : strlen(p);
                if (n == max || l == 0 || kubelet_url_decode(p, l, false, &ret_segs[n]) < 0) {
                        for (size_t i = 0; i < n; i++)
                                free(ret_segs[i]);
                        return -EINVAL;
                }
                n++;
                p += l;
                if (*p == '/')
                        p++;
        }
        return (int)n;
}

const char *kubelet_status_text(int s)
{
        switch (s) {
        case 101: return "Switching Protocols";
        case 200: return "OK";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 413: return "Request Entity Too Large";
        case 422: return "Unprocessable Entity";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        default: return "Unknown";
        }
}

#define WRITE_TIMEOUT_MS 30000

int kubelet_respond(kubelet_conn *c, int status, const char *ctype, const char *extra, const char *body, size_t len)
{
        char hdr[1024];
        int n = snprintf(hdr, sizeof(hdr),
                         "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n"
                         "X-Content-Type-Options: nosniff\r\n\r\n",
                         status, kubelet_status_text(status), ctype ? ctype : "text/plain; charset=utf-8", len,
                         extra ? extra : "");
        int r;
        if (n < 0 || (size_t)n >= sizeof(hdr))
                return -EINVAL;
        r = kubelet_conn_write(c, hdr, (size_t)n, WRITE_TIMEOUT_MS);
        if (r >= 0 && len)
                r = kubelet_conn_write(c, body, len, WRITE_TIMEOUT_MS);
        return r;
}

int kubelet_stream_begin(kubelet_conn *c, int status, const char *ctype)
{
        char hdr[512];
        int n = snprintf(hdr, sizeof(hdr),
                         "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
                         "X-Content-Type-Options: nosniff\r\n\r\n",
                         status, kubelet_status_text(status), ctype ? ctype : "text/plain; charset=utf-8");
        c->chunked = true;
        c->out_len = 0;
        return kubelet_conn_write(c, hdr, (size_t)n, WRITE_TIMEOUT_MS);
}

int kubelet_stream_flush(kubelet_conn *c)
{
        char pre[24];
        int n, r;
        if (!c->out_len)
                return 0;
        n = snprintf(pre, sizeof(pre), "%zx\r\n", c->out_len);
        /* one write of size, data and CRLF: one TLS record */
        memmove(c->out + n, c->out, c->out_len);
        memcpy(c->out, pre, (size_t)n);
        memcpy(c->out + n + c->out_len, "\r\n", 2);
        r = kubelet_conn_write(c, c->out, (size_t)n + c->out_len + 2, WRITE_TIMEOUT_MS);
        c->out_len = 0;
        return r;
}

#define OUT_ROOM (sizeof(((kubelet_conn *)0)->out) - 32)

int kubelet_stream_write(kubelet_conn *c, const void *p, size_t n)
{
        const char *q = p;
        while (n) {
                size_t k = OUT_ROOM - c->out_len;
                if (k > n)
                        k = n;
                memcpy(c->out + c->out_len, q, k);
                c->out_len += k;
                q += k;
                n -= k;
                if (c->out_len == OUT_ROOM) {
                        int r = kubelet_stream_flush(c);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int kubelet_stream_end(kubelet_conn *c)
{
        int r = kubelet_stream_flush(c);
        if (r >= 0)
                r = kubelet_conn_write(c, "0\r\n\r\n", 5, WRITE_TIMEOUT_MS);
        c->chunked = false;
        return r;
}
