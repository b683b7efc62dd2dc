/* SPDX-License-Identifier: Apache-2.0 */
/* One probe, parsed and run once: exec, httpGet, tcpSocket, grpc (upstream pkg/probe). */
#include "../core/curlfd.h"
#include "prober.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>

/* ---- the spec ---- */

static void set_err(char **slot, const char *fmt, ...) KN_PRINTF(2, 3);
static void set_err(char **slot, const char *fmt, ...)
{
        va_list ap;
        char *s;

        if (*slot)
                return; /* the first problem is the one to tell */
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                abort();
        va_end(ap);
        *slot = s;
}

/* A non-negative integer field; 0 or absent gives DEF when DEF > 0. */
static int64_t int_field(const cJSON *o, const char *name, int64_t def, char **err)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
        double d;

        if (!v || cJSON_IsNull(v))
                return def;
        if (!cJSON_IsNumber(v)) {
                set_err(err, "%s is not a number", name);
                return def;
        }
        d = v->valuedouble;
        if (d < 0 || d > INT32_MAX) {
                set_err(err, "%s out of range: %g", name, d);
                return def;
        }
        if (d == 0 && def > 0)
                return def;
        return (int64_t)d;
}

static bool printable(const char *s, bool allow_colon)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f || (!allow_colon && *s == ':'))
                        return false;
        return true;
}

/* upstream probe.ResolveContainerPort: a number, or the name of one of the container's
 * ports, or a number written as a string. */
static void resolve_port(probe_spec *s, const cJSON *port, const cJSON *container)
{
        const cJSON *p;
        long n = -1;
        char *end;

        if (cJSON_IsNumber(port)) {
                n = (long)port->valuedouble;
        } else if (cJSON_IsString(port)) {
                cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(container, "ports"))
                {
                        const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "name");
                        const cJSON *num = cJSON_GetObjectItemCaseSensitive(p, "containerPort");
                        if (cJSON_IsString(name) && strcmp(name->valuestring, port->valuestring) == 0 &&
                            cJSON_IsNumber(num)) {
                                n = (long)num->valuedouble;
                                break;
                        }
                }
                if (n < 0) {
                        errno = 0;
                        n = strtol(port->valuestring, &end, 10);
                        if (errno || end == port->valuestring || *end) {
                                set_err(&s->invalid, "port %s not found in container", port->valuestring);
                                return;
                        }
                }
        } else {
                set_err(&s->invalid, "no port");
                return;
        }
        if (n <= 0 || n > 65535) {
                set_err(&s->invalid, "invalid port number: %ld", n);
                return;
        }
        s->port = (int)n;
}

static char *opt_str(const cJSON *o, const char *name)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
        return cJSON_IsString(v) && v->valuestring[0] ? kn_strdup(v->valuestring) : NULL;
}

probe_spec *probe_spec_parse(const cJSON *probe, const cJSON *container, probe_kind kind)
{
        const cJSON *exec, *http, *tcp, *grpc, *v;
        probe_spec *s = kn_calloc(1, sizeof(*s));

        exec = cJSON_GetObjectItemCaseSensitive(probe, "exec");
        http = cJSON_GetObjectItemCaseSensitive(probe, "httpGet");
        tcp = cJSON_GetObjectItemCaseSensitive(probe, "tcpSocket");
        grpc = cJSON_GetObjectItemCaseSensitive(probe, "grpc");
        s->initial_delay_s = int_field(probe, "initialDelaySeconds", 0, &s->invalid);
        s->timeout_s = int_field(probe, "timeoutSeconds", 1, &s->invalid);
        s->period_s = int_field(probe, "periodSeconds", 10, &s->invalid);
        s->success_threshold = (int)int_field(probe, "successThreshold", 1, &s->invalid);
        s->failure_threshold = (int)int_field(probe, "failureThreshold", 3, &s->invalid);
        s->termination_grace_s = int_field(probe, "terminationGracePeriodSeconds", -1, &s->invalid);
        if (kind != PROBE_READINESS)
                s->success_threshold = 1; /* API validation insists; do not trust it */
        /* A probe whose fields are wrong still exists (readiness stays Failure, liveness
         * Success) but errors on each round, with INVALID telling why. */
        if (!cJSON_IsObject(probe))
                set_err(&s->invalid, "%s probe is not an object", probe_kind_name(kind));

        if (cJSON_IsObject(exec)) {
                s->handler = PROBE_EXEC;
                v = cJSON_GetObjectItemCaseSensitive(exec, "command");
                int n = cJSON_GetArraySize(v);
                if (!cJSON_IsArray(v) || n == 0 || n > PROBE_MAX_ARGS) {
                        set_err(&s->invalid, "exec: command must have 1 to %d words", PROBE_MAX_ARGS);
                        n = 0;
                }
                s->argv = kn_calloc((size_t)n + 1, sizeof(char *)); /* NULL-terminated */
                for (int i = 0; i < n; i++) {
                        const cJSON *a = cJSON_GetArrayItem(v, i);
                        s->argv[s->argc++] = kn_strdup(cJSON_IsString(a) ? a->valuestring : "");
                }
        } else if (cJSON_IsObject(http)) {
                s->handler = PROBE_HTTP;
                s->host = opt_str(http, "host");
                s->path = opt_str(http, "path");
                v = cJSON_GetObjectItemCaseSensitive(http, "scheme");
                if (cJSON_IsString(v) && strcasecmp(v->valuestring, "https") == 0)
                        s->https = true;
                else if (cJSON_IsString(v) && v->valuestring[0] && strcasecmp(v->valuestring, "http") != 0)
                        set_err(&s->invalid, "unsupported scheme %s", v->valuestring);
                resolve_port(s, cJSON_GetObjectItemCaseSensitive(http, "port"), container);
                v = cJSON_GetObjectItemCaseSensitive(http, "httpHeaders");
                int n = cJSON_GetArraySize(v);
                if (n > PROBE_MAX_HEADERS) {
                        set_err(&s->invalid, "more than %d httpHeaders", PROBE_MAX_HEADERS);
                        n = 0;
                }
                s->headers = kn_calloc((size_t)n + 1, sizeof(*s->headers));
                for (int i = 0; i < n; i++) {
                        const cJSON *h = cJSON_GetArrayItem(v, i);
                        const cJSON *name = cJSON_GetObjectItemCaseSensitive(h, "name");
                        const cJSON *val = cJSON_GetObjectItemCaseSensitive(h, "value");
                        if (!cJSON_IsString(name) || !name->valuestring[0] || !printable(name->valuestring, false) ||
                            (val && (!cJSON_IsString(val) || !printable(val->valuestring, true)))) {
                                set_err(&s->invalid, "httpHeaders[%d] is not a valid header", i);
                                continue;
                        }
                        s->headers[s->n_headers].name = kn_strdup(name->valuestring);
                        s->headers[s->n_headers++].value = kn_strdup(val ? val->valuestring : "");
                }
                if ((s->host && !printable(s->host, true)) || (s->path && !printable(s->path, true)))
                        set_err(&s->invalid, "httpGet host or path has control characters");
        } else if (cJSON_IsObject(tcp)) {
                s->handler = PROBE_TCP;
                s->host = opt_str(tcp, "host");
                resolve_port(s, cJSON_GetObjectItemCaseSensitive(tcp, "port"), container);
        } else if (cJSON_IsObject(grpc)) {
                s->handler = PROBE_GRPC;
                v = cJSON_GetObjectItemCaseSensitive(grpc, "port");
                if (!cJSON_IsNumber(v))
                        set_err(&s->invalid, "grpc: port must be a number");
                else
                        resolve_port(s, v, container);
                s->service = opt_str(grpc, "service");
                if (s->service && strlen(s->service) > 1024)
                        set_err(&s->invalid, "grpc: service name too long");
        } else {
                s->handler = PROBE_EXEC; /* with no command: never runs */
                set_err(&s->invalid, "no handler (exec, httpGet, tcpSocket, grpc)");
        }
        if (s->host && !printable(s->host, true))
                set_err(&s->invalid, "host has control characters");
        return s;
}

void probe_spec_free(probe_spec *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->argc; i++)
                free(s->argv[i]);
        free(s->argv);
        for (size_t i = 0; i < s->n_headers; i++) {
                free(s->headers[i].name);
                free(s->headers[i].value);
        }
        free(s->headers);
        free(s->host);
        free(s->invalid);
        free(s->path);
        free(s->service);
        free(s);
}

static char user_agent[64];
static void user_agent_init(void)
{
        unsigned major = 1, minor = 0;
        (void)sscanf(KN_KUBE_VERSION, "v%u.%u", &major, &minor);
        snprintf(user_agent, sizeof(user_agent), "kube-probe/%u.%u", major, minor);
}

const char *probe_user_agent(void)
{
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, user_agent_init);
        return user_agent;
}

/* ---- curl plumbing shared by httpGet and grpc ---- */

typedef struct curl_ctx {
        kn_buf body;
        bool truncated;
        const volatile bool *stop;
        int grpc_status; /* -1: none seen */
        char grpc_message[128];
} curl_ctx;

static void ctx_free(curl_ctx *c) { kn_buf_free(&c->body); }
static void curl_cleanupp(CURL **c)
{
        if (*c)
                curl_easy_cleanup(*c);
}
static void slist_freep(struct curl_slist **l) { curl_slist_free_all(*l); }

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
        curl_ctx *c = ud;
        size_t len = size * n, room = c->body.max - c->body.len;

        if (len > room) {
                (void)kn_buf_append(&c->body, p, room);
                c->truncated = true;
                return 0; /* enough read: end the transfer */
        }
        (void)kn_buf_append(&c->body, p, len);
        return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
        curl_ctx *c = ud;
        size_t len = size * n;

        if (len > 12 && strncasecmp(p, "grpc-status:", 12) == 0)
                c->grpc_status = atoi(p + 12);
        else if (len > 13 && strncasecmp(p, "grpc-message:", 13) == 0) {
                const char *q = p + 13;
                size_t m = len - 13;
                while (m && (q[m - 1] == '\r' || q[m - 1] == '\n'))
                        m--;
                while (m && *q == ' ')
                        q++, m--;
                if (m >= sizeof(c->grpc_message))
                        m = sizeof(c->grpc_message) - 1;
                memcpy(c->grpc_message, q, m);
                c->grpc_message[m] = '\0';
        }
        return len;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c_, curl_off_t d)
{
        curl_ctx *c = ud;
        return c->stop && __atomic_load_n(c->stop, __ATOMIC_RELAXED);
}

static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
        int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
        return fd < 0 ? CURL_SOCKET_BAD : fd;
}

/* upstream's probe dialer: linger 1 s, so probes leave no TIME_WAIT sockets behind. */
static void set_linger(int fd)
{
        struct linger l = {.l_onoff = 1, .l_linger = 1};
        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

static int on_sockopt(void *ud, curl_socket_t fd, curlsocktype purpose)
{
        set_linger(fd);
        return CURL_SOCKOPT_OK;
}

static CURL *probe_curl(curl_ctx *ctx, char *errbuf)
{
        CURL *c = curl_easy_init();
        if (!c)
                return NULL;
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_PROXY, "");
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, ctx);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, ctx);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, ctx);
        curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
        curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
        return c;
}

void *probe_multi_new(void)
{
        return kn_curl_multi_new_cloexec();
}

void probe_multi_wakeup(void *multi)
{
        if (multi)
                curl_multi_wakeup(multi);
}

void probe_multi_free(void *multi)
{
        if (multi)
                curl_multi_cleanup(multi);
}

/* curl_easy_perform() on the worker's multi handle when there is one. */
static CURLcode perform(const probe_run *r, CURL *c)
{
        CURLM *m = r->multi;
        CURLcode rc = CURLE_OK;
        CURLMsg *msg;
        int running = 1, left;

        if (!m)
                return curl_easy_perform(c);
        if (curl_multi_add_handle(m, c) != CURLM_OK)
                return CURLE_FAILED_INIT;
        while (running) {
                if (curl_multi_perform(m, &running) != CURLM_OK) {
                        rc = CURLE_FAILED_INIT;
                        break;
                }
                if (r->stop && __atomic_load_n(r->stop, __ATOMIC_RELAXED)) {
                        rc = CURLE_ABORTED_BY_CALLBACK;
                        break;
                }
                /* sleeps until I/O, one of curl's timers, or probe_multi_wakeup() */
                if (running && curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK) {
                        rc = CURLE_FAILED_INIT;
                        break;
                }
        }
        while ((msg = curl_multi_info_read(m, &left)))
                if (msg->msg == CURLMSG_DONE && msg->easy_handle == c && rc == CURLE_OK)
                        rc = msg->data.result;
        curl_multi_remove_handle(m, c);
        return rc;
}

/* "host:port" with brackets around an IPv6 address. */
static char *join_host_port(const char *host, int port)
{
        if (strchr(host, ':') && host[0] != '[')
                return kn_asprintf("[%s]:%d", host, port);
        return kn_asprintf("%s:%d", host, port);
}

static const char *target_host(const probe_run *r)
{
        return r->spec->host ? r->spec->host : (r->pod_ip ? r->pod_ip : "");
}

/* A curl error as a probe message. */
static int curl_failed(const probe_run *r, CURLcode rc, const char *errbuf, const char *what, probe_result *ret,
                       char *msg, size_t msglen)
{
        if (r->stop && __atomic_load_n(r->stop, __ATOMIC_RELAXED)) {
                snprintf(msg, msglen, "probe stopped");
                return -ECANCELED;
        }
        snprintf(msg, msglen, "%s: %s", what, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        *ret = PROBE_FAILURE; /* upstream turns HTTP errors (timeouts too) into failures */
        return 0;
}

/* ---- httpGet ---- */

static char *http_url(const probe_run *r)
{
        const probe_spec *s = r->spec;
        _cleanup_free_ char *hp = join_host_port(target_host(r), s->port);
        const char *path = s->path ? s->path : "/";
        kn_buf b = {0};

        kn_buf_printf(&b, "%s://%s%s", s->https ? "https" : "http", hp, path[0] == '/' ? "" : "/");
        for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
                if (*p <= 0x20 || *p >= 0x7f)
                        kn_buf_printf(&b, "%%%02X", *p);
                else
                        (void)kn_buf_append(&b, p, 1);
        }
        return b.data;
}

static char *url_hostname(const char *url)
{
        CURLU *u = curl_url();
        char *h = NULL, *ret = NULL;
        size_t n;

        if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK) {
                n = strlen(h);
                if (n >= 2 && h[0] == '[' && h[n - 1] == ']')
                        ret = kn_strndup(h + 1, n - 2);
                else
                        ret = kn_strdup(h);
                curl_free(h);
        }
        curl_url_cleanup(u);
        return ret;
}

/* Resolve URL's host name here and hand curl the addresses (CURLOPT_RESOLVE): curl's own
 * threaded resolver opens a socketpair without O_CLOEXEC. IP literals need nothing. Returns
 * false when the name does not resolve. */
static bool pin_host(CURL *c, const char *url, struct curl_slist **resolve)
{
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
        _cleanup_free_ char *host = url_hostname(url);
        char *port = NULL, addr[INET6_ADDRSTRLEN];
        unsigned char bin[sizeof(struct in6_addr)];
        kn_buf line = {0};
        int n = 0;
        bool ok = false;
        CURLU *u = curl_url();

        if (!host || inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1) {
                curl_url_cleanup(u);
                return host != NULL;
        }
        if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
                goto out;
        if (getaddrinfo(host, port, &hints, &ai) != 0)
                goto out;
        kn_buf_printf(&line, "%s:%s:", host, port);
        for (struct addrinfo *a = ai; a && n < 8; a = a->ai_next) {
                const struct sockaddr_in *v4 = (const struct sockaddr_in *)a->ai_addr;
                const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)a->ai_addr;
                const void *src = a->ai_family == AF_INET ? (const void *)&v4->sin_addr : (const void *)&v6->sin6_addr;
                if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
                    !inet_ntop(a->ai_family, src, addr, sizeof(addr)))
                        continue;
                kn_buf_printf(&line, a->ai_family == AF_INET6 ? "%s[%s]" : "%s%s", n ? "," : "", addr);
                n++;
        }
        freeaddrinfo(ai);
        if (n) {
                *resolve = curl_slist_append(*resolve, line.data);
                curl_easy_setopt(c, CURLOPT_RESOLVE, *resolve);
                ok = true;
        }
out:
        kn_buf_free(&line);
        curl_free(port);
        curl_url_cleanup(u);
        return ok;
}

static bool has_header(const probe_spec *s, const char *name, const char **ret_value)
{
        for (size_t i = 0; i < s->n_headers; i++)
                if (strcasecmp(s->headers[i].name, name) == 0) {
                        *ret_value = s->headers[i].value;
                        return true;
                }
        return false;
}

static struct curl_slist *http_headers(const probe_spec *s)
{
        struct curl_slist *l = NULL;
        const char *v;
        char *line;

        for (size_t i = 0; i < s->n_headers; i++) {
                if (strcasecmp(s->headers[i].name, "Accept") == 0 && !s->headers[i].value[0])
                        continue; /* an empty Accept means none */
                if (s->headers[i].value[0])
                        line = kn_asprintf("%s: %s", s->headers[i].name, s->headers[i].value);
                else
                        line = kn_asprintf("%s;", s->headers[i].name); /* curl's way to send it empty */
                l = curl_slist_append(l, line);
                free(line);
        }
        if (!has_header(s, "User-Agent", &v)) {
                line = kn_asprintf("User-Agent: %s", probe_user_agent());
                l = curl_slist_append(l, line);
                free(line);
        }
        if (!has_header(s, "Accept", &v))
                l = curl_slist_append(l, "Accept: */*");
        else if (!v[0])
                l = curl_slist_append(l, "Accept:");
        return l;
}

int probe_http(const probe_run *r, probe_result *ret, char *msg, size_t msglen)
{
        __attribute__((cleanup(ctx_free)))
        curl_ctx ctx = {.body.max = PROBE_MAX_BODY, .stop = r->stop, .grpc_status = -1};
        __attribute__((cleanup(curl_cleanupp))) CURL *c = NULL;
        __attribute__((cleanup(slist_freep))) struct curl_slist *hdrs = NULL, *resolve = NULL;
        _cleanup_free_ char *url = http_url(r), *origin = NULL;
        char errbuf[CURL_ERROR_SIZE] = "";
        int64_t deadline = kn_now_ms() + r->spec->timeout_s * 1000;
        long code = 0;
        int rv = 0;

        origin = url_hostname(url);
        c = probe_curl(&ctx, errbuf);
        hdrs = http_headers(r->spec);
        if (!c || !hdrs || !origin) {
                snprintf(msg, msglen, "cannot build request for %s", url);
                rv = -ENOMEM;
                goto out;
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        for (int redirects = 0;; redirects++) {
                int64_t left = deadline - kn_now_ms();
                char *next = NULL;
                CURLcode rc;

                if (left <= 0) {
                        snprintf(msg, msglen, "Get \"%s\": timeout", url);
                        *ret = PROBE_FAILURE;
                        goto out;
                }
                if (!pin_host(c, url, &resolve)) {
                        _cleanup_free_ char *host = url_hostname(url);
                        snprintf(msg, msglen, "Get \"%s\": dial tcp: lookup %s: no such host", url, host ? host : "");
                        *ret = PROBE_FAILURE;
                        goto out;
                }
                curl_easy_setopt(c, CURLOPT_URL, url);
                curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)left);
                ctx.body.len = 0;
                ctx.truncated = false;
                errbuf[0] = '\0';
                rc = perform(r, c);
                if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && ctx.truncated)) {
                        _cleanup_free_ char *what = kn_asprintf("Get \"%s\"", url);
                        rv = curl_failed(r, rc, errbuf, what, ret, msg, msglen);
                        goto out;
                }
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
                if (code >= 300 && code < 400 && curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &next) == CURLE_OK &&
                    next) {
                        _cleanup_free_ char *host = url_hostname(next);
                        if (!host || strcmp(host, origin) != 0) {
                                /* upstream: not followed, a "warning" that counts as success */
                                snprintf(msg, msglen, PROBE_WARNING_PREFIX ", Response body: %.*s",
                                         (int)(ctx.body.len < 1024 ? ctx.body.len : 1024),
                                         ctx.body.data ? ctx.body.data : "");
                                *ret = PROBE_SUCCESS;
                                goto out;
                        }
                        if (redirects + 1 >= PROBE_MAX_REDIRECTS) { /* Go: len(via) >= 10 */
                                snprintf(msg, msglen, "Get \"%s\": stopped after %d redirects", url,
                                         PROBE_MAX_REDIRECTS);
                                *ret = PROBE_FAILURE;
                                goto out;
                        }
                        free(url);
                        url = kn_strdup(next);
                        continue;
                }
                break;
        }
        if (code >= 200 && code < 400) {
                snprintf(msg, msglen, "HTTP probe succeeded with statuscode: %ld", code);
                *ret = PROBE_SUCCESS;
        } else {
                snprintf(msg, msglen, "HTTP probe failed with statuscode: %ld", code);
                *ret = PROBE_FAILURE;
        }
out:
        return rv;
}

/* ---- tcpSocket ---- */

int probe_tcp(const probe_run *r, probe_result *ret, char *msg, size_t msglen)
{
        const char *host = target_host(r);
        _cleanup_free_ char *hp = join_host_port(host, r->spec->port);
        _cleanup_close_ int fd = -1;
        struct sockaddr_storage ss = {0};
        socklen_t sl;
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        int64_t deadline = kn_now_ms() + r->spec->timeout_s * 1000;
        int e = 0;

        if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
                sin->sin_family = AF_INET;
                sin->sin_port = htons((uint16_t)r->spec->port);
                sl = sizeof(*sin);
        } else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = htons((uint16_t)r->spec->port);
                sl = sizeof(*sin6);
        } else {
                struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
                char port[8];
                snprintf(port, sizeof(port), "%d", r->spec->port);
                if (!host[0] || getaddrinfo(host, port, &hints, &ai) != 0 || !ai) {
                        snprintf(msg, msglen, "dial tcp %s: lookup %s: no such host", hp, host);
                        *ret = PROBE_FAILURE;
                        return 0;
                }
                memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
                sl = ai->ai_addrlen;
                freeaddrinfo(ai);
        }
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                snprintf(msg, msglen, "dial tcp %s: socket: %s", hp, strerror(errno));
                return -errno;
        }
        set_linger(fd);
        if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
                if (errno != EINPROGRESS) {
                        e = errno;
                } else {
                        for (;;) {
                                struct pollfd pfd[2] = {{.fd = fd, .events = POLLOUT},
                                                        {.fd = r->cancel_fd, .events = POLLIN}};
                                int64_t left = deadline - kn_now_ms();
                                int n;
                                if (left <= 0) {
                                        e = ETIMEDOUT;
                                        break;
                                }
                                n = poll(pfd, r->cancel_fd >= 0 ? 2 : 1, (int)left);
                                if (n < 0 && errno == EINTR)
                                        continue;
                                if (n < 0) {
                                        e = errno;
                                        break;
                                }
                                if (r->cancel_fd >= 0 && (pfd[1].revents & POLLIN)) {
                                        snprintf(msg, msglen, "probe stopped");
                                        return -ECANCELED;
                                }
                                if (pfd[0].revents) {
                                        socklen_t el = sizeof(e);
                                        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
                                                e = errno;
                                        break;
                                }
                        }
                }
        }
        if (e) {
                /* Go's wording: "dial tcp 10.0.0.1:80: connect: connection refused" */
                char why[64];
                snprintf(why, sizeof(why), "%s", e == ETIMEDOUT ? "i/o timeout" : strerror(e));
                why[0] = (char)tolower((unsigned char)why[0]);
                snprintf(msg, msglen, "dial tcp %s: connect: %s", hp, why);
                *ret = PROBE_FAILURE;
                return 0;
        }
        *ret = PROBE_SUCCESS;
        msg[0] = '\0';
        return 0;
}

/* ---- grpc: grpc.health.v1.Health/Check over h2c ---- */

static size_t put_varint(unsigned char *p, uint64_t v)
{
        size_t n = 0;
        do {
                p[n] = (unsigned char)(v & 0x7f);
                v >>= 7;
                if (v)
                        p[n] |= 0x80;
                n++;
        } while (v);
        return n;
}

static bool get_varint(const unsigned char **p, const unsigned char *end, uint64_t *ret)
{
        uint64_t v = 0;
        for (int shift = 0; shift < 64 && *p < end; shift += 7) {
                unsigned char b = *(*p)++;
                v |= (uint64_t)(b & 0x7f) << shift;
                if (!(b & 0x80)) {
                        *ret = v;
                        return true;
                }
        }
        return false;
}

/* HealthCheckResponse.status (field 1) of a length-prefixed gRPC message; -1 if malformed. */
static int grpc_health_status(const unsigned char *p, size_t len)
{
        const unsigned char *end;
        uint64_t status = 0, tag, v;
        uint32_t mlen;

        if (len < 5 || p[0] != 0)
                return -1; /* short, or compressed (never asked for) */
        mlen = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
        if (mlen > len - 5)
                return -1;
        p += 5;
        end = p + mlen;
        while (p < end) {
                if (!get_varint(&p, end, &tag))
                        return -1;
                switch (tag & 7) {
                case 0:
                        if (!get_varint(&p, end, &v))
                                return -1;
                        if (tag >> 3 == 1)
                                status = v;
                        break;
                case 1:
                        if (end - p < 8)
                                return -1;
                        p += 8;
                        break;
                case 2:
                        if (!get_varint(&p, end, &v) || v > (uint64_t)(end - p))
                                return -1;
                        p += v;
                        break;
                case 5:
                        if (end - p < 4)
                                return -1;
                        p += 4;
                        break;
                default:
                        return -1;
                }
        }
        return status > 3 ? 0 : (int)status;
}

int probe_grpc(const probe_run *r, probe_result *ret, char *msg, size_t msglen)
{
        static const char *const status_names[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
        __attribute__((cleanup(ctx_free)))
        curl_ctx ctx = {.body.max = 4096, .stop = r->stop, .grpc_status = -1};
        __attribute__((cleanup(curl_cleanupp))) CURL *c = NULL;
        __attribute__((cleanup(slist_freep))) struct curl_slist *hdrs = NULL;
        _cleanup_free_ char *hp = join_host_port(target_host(r), r->spec->port), *url = NULL, *ua = NULL,
                            *tmo = NULL;
        const char *service = r->spec->service ? r->spec->service : "";
        size_t slen = strlen(service), n = 5;
        _cleanup_free_ unsigned char *req = kn_malloc(slen + 16);
        char errbuf[CURL_ERROR_SIZE] = "";
        long timeout_ms = (long)r->spec->timeout_s * 1000;
        CURLcode rc;
        int status;

        /* HealthCheckRequest{service = 1}, behind the 5-byte gRPC message prefix */
        if (slen) {
                req[n++] = 0x0a;
                n += put_varint(req + n, slen);
                memcpy(req + n, service, slen);
                n += slen;
        }
        req[0] = 0;
        req[1] = (unsigned char)((n - 5) >> 24);
        req[2] = (unsigned char)((n - 5) >> 16);
        req[3] = (unsigned char)((n - 5) >> 8);
        req[4] = (unsigned char)(n - 5);

        url = kn_asprintf("http://%s/grpc.health.v1.Health/Check", hp);
        ua = kn_asprintf("User-Agent: %s", probe_user_agent());
        tmo = kn_asprintf("grpc-timeout: %ldm", timeout_ms);
        c = probe_curl(&ctx, errbuf);
        if (!c) {
                snprintf(msg, msglen, "cannot build request");
                return -ENOMEM;
        }
        hdrs = curl_slist_append(hdrs, "Content-Type: application/grpc");
        hdrs = curl_slist_append(hdrs, "TE: trailers");
        hdrs = curl_slist_append(hdrs, ua);
        hdrs = curl_slist_append(hdrs, tmo);
        hdrs = curl_slist_append(hdrs, "Accept:");
        hdrs = curl_slist_append(hdrs, "Expect:");
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)n);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
        rc = perform(r, c);
        if (rc == CURLE_OPERATION_TIMEDOUT && !(r->stop && __atomic_load_n(r->stop, __ATOMIC_RELAXED))) {
                snprintf(msg, msglen, "timeout: health rpc did not complete within %llds",
                         (long long)r->spec->timeout_s);
                *ret = PROBE_FAILURE;
                return 0;
        }
        if (rc != CURLE_OK) {
                _cleanup_free_ char *what = kn_asprintf("error: failed to connect service at \"%s\"", hp);
                return curl_failed(r, rc, errbuf, what, ret, msg, msglen);
        }
        *ret = PROBE_FAILURE;
        if (ctx.grpc_status == 12) {
                snprintf(msg, msglen,
                         "error: this server does not implement the grpc health protocol "
                         "(grpc.health.v1.Health): %s",
                         ctx.grpc_message);
                return 0;
        }
        if (ctx.grpc_status == 4) {
                snprintf(msg, msglen, "timeout: health rpc did not complete within %llds",
                         (long long)r->spec->timeout_s);
                return 0;
        }
        if (ctx.grpc_status != 0) {
                snprintf(msg, msglen, "error: health rpc probe failed: code %d: %s", ctx.grpc_status,
                         ctx.grpc_status < 0 ? "not a gRPC answer" : ctx.grpc_message);
                return 0;
        }
        status = grpc_health_status((const unsigned char *)ctx.body.data, ctx.body.len);
        if (status < 0) {
                snprintf(msg, msglen, "error: health rpc probe failed: malformed HealthCheckResponse");
                return 0;
        }
        if (status != 1) {
                snprintf(msg, msglen, "service unhealthy (responded with \"%s\")", status_names[status]);
                return 0;
        }
        snprintf(msg, msglen, "service healthy");
        *ret = PROBE_SUCCESS;
        return 0;
}

/* ---- one run ---- */

int probe_run_once(const probe_run *r, probe_result *ret, char *msg, size_t msglen)
{
        const probe_spec *s = r->spec;
        kn_error err = {0};
        char out[PROBE_MSG_MAX / 2] = "";
        int rc, code = -1;

        msg[0] = '\0';
        if (s->invalid) {
                snprintf(msg, msglen, "%s", s->invalid);
                return -EINVAL;
        }
        switch (s->handler) {
        case PROBE_HTTP:
                return probe_http(r, ret, msg, msglen);
        case PROBE_TCP:
                return probe_tcp(r, ret, msg, msglen);
        case PROBE_GRPC:
                return probe_grpc(r, ret, msg, msglen);
        case PROBE_EXEC:
                break;
        }
        if (!r->exec) {
                snprintf(msg, msglen, "no container runtime to exec in");
                return -EOPNOTSUPP;
        }
        rc = r->exec(r->exec_ud, r->container_id, s->argv, (long)s->timeout_s * 1000, &code, out, sizeof(out),
                     &err);
        if (rc == -ETIMEDOUT) {
                snprintf(msg, msglen, "command timed out after %llds", (long long)s->timeout_s);
                *ret = PROBE_FAILURE;
                return 0;
        }
        if (rc < 0) {
                snprintf(msg, msglen, "%s", err.msg[0] ? err.msg : strerror(-rc));
                return rc;
        }
        if (code == 0) {
                snprintf(msg, msglen, "%s", out);
                *ret = PROBE_SUCCESS;
        } else {
                snprintf(msg, msglen, "command exited with %d: %s", code, out);
                *ret = PROBE_FAILURE;
        }
        return 0;
}
