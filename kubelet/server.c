/* SPDX-License-Identifier: Apache-2.0 */
/* The kubelet API server: listeners, connection threads, authentication and
 * authorization, dispatch, and the small endpoints (/healthz, /pods, /metrics*,
 * /stats/summary). Logs, exec/attach/port-forward and run are in kubelet/streams.c. */
#include "server_int.h"

#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "../core/httpd.h"
#include "../core/log.h"

#define MAX_HEAD 16384
#define HEAD_TIMEOUT_MS 10000
#define MAX_SEGS 8

struct job {
        kubelet_server *s;
        int fd;
        bool secure;
};

static int listen_on(const char *addr, int *ret_fd, kn_error *err)
{
        struct sockaddr_storage ss;
        unsigned len;
        int one = 1, fd, r;

        r = kn_parse_hostport(addr, &ss, &len);
        if (r < 0)
                return kn_error_set(err, r, "invalid listen address \"%s\"", addr);
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return kn_error_set(err, -errno, "socket: %s", strerror(errno));
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0) {
                r = kn_error_set(err, -errno, "failed to listen on %s: %s", addr, strerror(errno));
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

static int bound_port(int fd)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
                return 0;
        return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                              : ((struct sockaddr_in *)&ss)->sin_port);
}

static char *host_port(const char *host, int64_t port)
{
        if (!host || !*host)
                host = "0.0.0.0";
        return strchr(host, ':') ? kn_asprintf("[%s]:%lld", host, (long long)port)
                                 : kn_asprintf("%s:%lld", host, (long long)port);
}

int kubelet_server_port(const kubelet_server *s) { return bound_port(s->fd); }
int kubelet_server_read_only_port(const kubelet_server *s) { return bound_port(s->ro_fd); }

int kubelet_server_find_pod(kubelet_server *s, const char *ns, const char *name, const char *container,
                            char **ret_uid)
{
        _cleanup_cjson_ cJSON *pod = s->o.pods.get ? s->o.pods.get(s->o.pods.userdata, ns, name) : NULL;
        static const char *lists[] = {"spec.containers", "spec.initContainers", "spec.ephemeralContainers"};
        const char *uid;
        bool found = !container;

        if (!pod)
                return -ENOENT;
        /* a mirror pod stands for a static pod: the runtime knows the static pod's UID */
        uid = cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(kn_json_path(pod, "metadata.annotations"), "kubernetes.io/config.mirror"));
        if (!uid)
                uid = cJSON_GetStringValue(kn_json_path(pod, "metadata.uid"));
        if (!uid)
                return -ENOENT;
        for (size_t i = 0; i < KN_ARRAY_SIZE(lists) && !found; i++) {
                const cJSON *c;
                cJSON_ArrayForEach(c, kn_json_path(pod, lists[i])) if (kn_streq(
                        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name")), container)) found = true;
        }
        if (!found)
                return -ESRCH;
        if (ret_uid)
                *ret_uid = kn_strdup(uid);
        return 0;
}

static void add_pod(const cJSON *obj, void *items)
{
        cJSON_AddItemToArray(items, cJSON_Duplicate(obj, true));
}

static cJSON *informer_get(void *u, const char *ns, const char *name)
{
        return kn_informer_get(u, ns, name);
}

struct informer_visit {
        void (*fn)(const cJSON *pod, void *arg);
        void *arg;
};

static int informer_visit(void *u, const char *key, const cJSON *obj)
{
        struct informer_visit *v = u;
        (void)key;
        v->fn(obj, v->arg);
        return 0;
}

static void informer_foreach(void *u, void (*fn)(const cJSON *pod, void *arg), void *arg)
{
        struct informer_visit v = {fn, arg};
        kn_informer_foreach(u, informer_visit, &v);
}

kubelet_pod_source kubelet_informer_pod_source(kn_informer *pods)
{
        return (kubelet_pod_source){.get = informer_get, .foreach = informer_foreach, .userdata = pods};
}

static void serve_pods(kubelet_server *s, kubelet_conn *c)
{
        _cleanup_cjson_ cJSON *list = cJSON_CreateObject();
        _cleanup_free_ char *body = NULL;
        cJSON *items;

        cJSON_AddStringToObject(list, "kind", "PodList");
        cJSON_AddStringToObject(list, "apiVersion", "v1");
        cJSON_AddObjectToObject(list, "metadata");
        items = cJSON_AddArrayToObject(list, "items");
        if (s->o.pods.foreach)
                s->o.pods.foreach(s->o.pods.userdata, add_pod, items);
        body = cJSON_PrintUnformatted(list);
        kubelet_respond(c, 200, "application/json", NULL, body, strlen(body));
}

/* {"kubeletconfig": the effective KubeletConfiguration}, as upstream's /configz. */
static void serve_configz(kubelet_server *s, kubelet_conn *c)
{
        _cleanup_cjson_ cJSON *o = cJSON_CreateObject();
        _cleanup_free_ char *body = NULL;

        cJSON_AddItemToObject(o, "kubeletconfig",
                              kn_fields_to_json(kubelet_fields, kubelet_n_fields, s->o.cfg, KUBELET_CONFIG_API_VERSION,
                                                KUBELET_CONFIG_KIND));
        body = cJSON_PrintUnformatted(o);
        kubelet_respond(c, 200, "application/json", NULL, body, strlen(body));
}

static void serve_metrics(kubelet_server *s, kubelet_conn *c, const char *sub)
{
        kn_buf out = {0};
        const char *ctype = "text/plain; version=0.0.4; charset=utf-8";

        if (!sub) {
                kn_metrics_render(s->o.metrics ? s->o.metrics : s->own_metrics, &out);
        } else if (strcmp(sub, "resource") == 0) {
                kubelet_stats_resource_metrics(s->stats, &out);
        } else if (strcmp(sub, "cadvisor") == 0) {
                kubelet_stats_cadvisor_metrics(s->stats, &out);
        } else if (strcmp(sub, "probes") == 0) {
                if (s->o.probe_metrics)
                        s->o.probe_metrics(s->o.probe_metrics_userdata, &out);
        } else {
                kubelet_respond_text(c, 404, "404 page not found\n");
                return;
        }
        kubelet_respond(c, 200, ctype, NULL, out.data ? out.data : "", out.len);
        kn_buf_free(&out);
}

static void serve_summary(kubelet_server *s, kubelet_conn *c, const kubelet_request *req)
{
        _cleanup_free_ char *only = kubelet_query_get(req->query, "only_cpu_and_memory", 0);
        _cleanup_cjson_ cJSON *sum = NULL;
        _cleanup_free_ char *body = NULL;
        kn_error err;
        int r;

        r = kubelet_stats_summary(s->stats, only && strcmp(only, "true") == 0, &sum, &err);
        if (r < 0) {
                kn_err("failed to get the stats summary: %s", err.msg);
                kubelet_respond_text(c, 500, err.msg);
                return;
        }
        body = cJSON_Print(sum);
        kubelet_respond(c, 200, "application/json", NULL, body, strlen(body));
}

/* Upstream's metrics "path" label: the first path segment when it is a known bucket. */
static const char *path_bucket(const char *first, const char *second)
{
        static const char *roots[] = {"healthz", "pods", "stats", "metrics", "run", "exec", "attach",
                                      "portForward", "containerLogs", "configz", "runningpods"};
        if (!first)
                return "other";
        if (strcmp(first, "metrics") == 0 && second &&
            (strcmp(second, "resource") == 0 || strcmp(second, "probes") == 0 || strcmp(second, "cadvisor") == 0))
                return strcmp(second, "resource") == 0 ? "metrics/resource"
                       : strcmp(second, "probes") == 0 ? "metrics/probes"
                                                       : "metrics/cadvisor";
        for (size_t i = 0; i < KN_ARRAY_SIZE(roots); i++)
                if (strcmp(first, roots[i]) == 0)
                        return roots[i];
        return "other";
}

static void dispatch(kubelet_server *s, kubelet_conn *c, const kubelet_request *req, bool secure)
{
        char *segs[MAX_SEGS] = {0};
        int n = kubelet_path_split(req->path, segs, MAX_SEGS);
        const char *first = n > 0 ? segs[0] : "";
        bool get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
        char labels[256];
        int64_t t0 = kn_now_ms();

        static const char *methods[] = {"OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT"};
        const char *method = "other", *bucket = path_bucket(n > 0 ? segs[0] : NULL, n > 1 ? segs[1] : NULL);
        for (size_t i = 0; i < KN_ARRAY_SIZE(methods); i++)
                if (strcmp(req->method, methods[i]) == 0)
                        method = methods[i];
        /* upstream's long_running: exec and attach (its "portforward" never matches the
         * "portForward" bucket, so port-forwards count as short; kept as it is) */
        snprintf(labels, sizeof(labels), "method=\"%s\",path=\"%s\",server_type=\"%s\",long_running=\"%s\"", method,
                 bucket, secure ? "readwrite" : "readonly",
                 strcmp(bucket, "exec") == 0 || strcmp(bucket, "attach") == 0 ? "true" : "false");
        kn_metric_add(s->m_inflight, labels, 1);
        if (n < 0) {
                kubelet_respond_text(c, 400, "invalid path\n");
        } else if (strcmp(first, "healthz") == 0 && n == 1) {
                kubelet_respond_text(c, 200, "ok");
        } else if (strcmp(first, "pods") == 0 && n == 1 && get) {
                serve_pods(s, c);
        } else if (strcmp(first, "metrics") == 0 && n <= 2 && get) {
                serve_metrics(s, c, n == 2 ? segs[1] : NULL);
        } else if (strcmp(first, "stats") == 0 && n == 2 && strcmp(segs[1], "summary") == 0 && (get || post)) {
                serve_summary(s, c, req);
        } else if (!secure) {
                kubelet_respond_text(c, 404, "404 page not found\n");
        } else if (strcmp(first, "runningpods") == 0 && n == 1 && get) {
                kubelet_serve_running_pods(s, c);
        } else if (strcmp(first, "configz") == 0 && n == 1 && get) {
                serve_configz(s, c);
        } else if (strcmp(first, "containerLogs") == 0 && get) {
                kubelet_serve_container_logs(s, c, req, segs + 1, n - 1);
        } else if ((strcmp(first, "exec") == 0 || strcmp(first, "attach") == 0 ||
                    strcmp(first, "portForward") == 0) &&
                   (get || post)) {
                kubelet_serve_stream(s, c, req, first, segs + 1, n - 1);
        } else if (strcmp(first, "run") == 0 && post) {
                kubelet_serve_run(s, c, req, segs + 1, n - 1);
        } else {
                kubelet_respond_text(c, 404, "404 page not found\n");
        }
        kn_metric_add(s->m_inflight, labels, -1);
        kn_metric_add(s->m_requests, labels, 1);
        kn_metric_observe(s->m_duration, labels, (double)(kn_now_ms() - t0) / 1000.0);
        for (int i = 0; i < n; i++)
                free(segs[i]);
}

static void serve_conn(kubelet_server *s, int fd, bool secure)
{
        kubelet_conn c = {.fd = fd, .stop_fd = s->stop_fd};
        kubelet_request req;
        int r;

        if (secure && kubelet_conn_tls_accept(&c, s->ssl, HEAD_TIMEOUT_MS) < 0) {
                kn_v(4, "TLS handshake failed");
                goto out;
        }
        r = kubelet_read_request(&c, MAX_HEAD, HEAD_TIMEOUT_MS, &req);
        if (r == -EFBIG) {
                kubelet_respond_text(&c, 431, "request header too large\n");
                goto out;
        }
        if (r == -EBADMSG) {
                kubelet_respond_text(&c, 400, "malformed request\n");
                goto out;
        }
        if (r < 0)
                goto out;
        if (secure) {
                kubelet_user u = {0};
                _cleanup_free_ char *body = NULL;
                if (!kubelet_authenticate(s->auth, c.ssl, req.headers, &u)) {
                        kubelet_respond_text(&c, 401, "Unauthorized");
                        kubelet_request_free(&req);
                        goto out;
                }
                r = kubelet_authorize(s->auth, &u, req.method, req.path, &body);
                if (r) {
                        kubelet_respond_text(&c, r, body);
                        kubelet_user_free(&u);
                        kubelet_request_free(&req);
                        goto out;
                }
                kn_v(4, "%s %s from user %s", req.method, req.path, u.name);
                kubelet_user_free(&u);
        }
        dispatch(s, &c, &req, secure);
        kubelet_request_free(&req);
out:
        kubelet_conn_close(&c);
}

static void *conn_thread(void *p)
{
        struct job *j = p;
        kubelet_server *s = j->s;

        serve_conn(s, j->fd, j->secure);
        free(j);
        pthread_mutex_lock(&s->lock);
        if (--s->n_conns == 0)
                pthread_cond_broadcast(&s->idle);
        pthread_mutex_unlock(&s->lock);
        return NULL;
}

static void accept_one(kubelet_server *s, int lfd, bool secure)
{
        pthread_attr_t attr;
        pthread_t t;
        struct job *j;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

        if (fd < 0) {
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                        /* the listener stays readable: pause rather than spin (or until stopped) */
                        struct pollfd p = {s->stop_fd, POLLIN, 0};
                        kn_warn("kubelet server: failed to accept a connection: %s", strerror(errno));
                        poll(&p, 1, 500);
                }
                return;
        }
        pthread_mutex_lock(&s->lock);
        if (s->n_conns >= KUBELET_SERVER_MAX_CONNS) {
                pthread_mutex_unlock(&s->lock);
                kn_v(2, "kubelet server: %d connections in progress, closed a new one", KUBELET_SERVER_MAX_CONNS);
                close(fd);
                return;
        }
        s->n_conns++;
        pthread_mutex_unlock(&s->lock);
        j = kn_calloc(1, sizeof(*j));
        *j = (struct job){s, fd, secure};
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        if (pthread_create(&t, &attr, conn_thread, j) != 0) {
                close(fd);
                free(j);
                pthread_mutex_lock(&s->lock);
                if (--s->n_conns == 0)
                        pthread_cond_broadcast(&s->idle);
                pthread_mutex_unlock(&s->lock);
        }
        pthread_attr_destroy(&attr);
}

static void *accept_thread(void *p)
{
        kubelet_server *s = p;

        for (;;) {
                struct pollfd pfd[3] = {{s->stop_fd, POLLIN, 0}, {s->fd, POLLIN, 0}, {s->ro_fd, POLLIN, 0}};
                if (poll(pfd, s->ro_fd >= 0 ? 3 : 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        kn_err("kubelet server: poll: %s", strerror(errno));
                        break;
                }
                if (pfd[0].revents)
                        break;
                if (pfd[1].revents)
                        accept_one(s, s->fd, true);
                if (s->ro_fd >= 0 && pfd[2].revents)
                        accept_one(s, s->ro_fd, false);
        }
        return NULL;
}

int kubelet_server_start(const kubelet_server_opts *o, kubelet_server **ret, kn_error *err)
{
        const kubelet_config *cfg = o->cfg;
        kubelet_server *s = kn_calloc(1, sizeof(*s));
        _cleanup_free_ char *addr = NULL;
        double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
        int r;

        s->o = *o;
        s->fd = s->ro_fd = -1;
        s->node_name = kn_strdup(o->node_name);
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->idle, NULL);
        s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (s->stop_fd < 0) {
                r = kn_error_set(err, -errno, "eventfd: %s", strerror(errno));
                goto fail;
        }
        r = kubelet_auth_new(&(kubelet_auth_opts){.api = o->api,
                                                  .node_name = o->node_name,
                                                  .anonymous = cfg->anonymous_auth,
                                                  .webhook_authn = cfg->webhook_authn,
                                                  .webhook_authz = !kn_streq(cfg->authorization_mode, "AlwaysAllow"),
                                                  .authn_ttl_ms = cfg->authn_cache_ttl,
                                                  .authz_allowed_ttl_ms = cfg->authz_cache_authorized_ttl,
                                                  .authz_denied_ttl_ms = cfg->authz_cache_unauthorized_ttl},
                             &s->auth, err);
        if (r < 0)
                goto fail;
        if (!kn_streq(cfg->authorization_mode, "AlwaysAllow") && !kn_streq(cfg->authorization_mode, "Webhook")) {
                r = kn_error_set(err, -EINVAL, "unsupported authorization mode \"%s\" (AlwaysAllow or Webhook)",
                                 cfg->authorization_mode ? cfg->authorization_mode : "");
                goto fail;
        }
        r = kubelet_tls_ctx_new(cfg->tls_cert_file, cfg->tls_private_key_file,
                                cfg->cert_dir ? cfg->cert_dir : "/var/lib/kubelet/pki", o->node_name, cfg->node_ip,
                                cfg->client_ca_file, &s->ssl, err);
        if (r < 0)
                goto fail;
        addr = o->listen_addr ? kn_strdup(o->listen_addr) : host_port(cfg->address, cfg->port);
        r = listen_on(addr, &s->fd, err);
        if (r < 0)
                goto fail;
        if (o->read_only_listen_addr || cfg->read_only_port > 0) {
                free(addr);
                addr = o->read_only_listen_addr ? kn_strdup(o->read_only_listen_addr)
                                                : host_port(cfg->address, cfg->read_only_port);
                r = listen_on(addr, &s->ro_fd, err);
                if (r < 0)
                        goto fail;
        }
        if (!o->metrics)
                s->own_metrics = kn_metrics_new();
        kn_metrics *m = s->own_metrics ? s->own_metrics : o->metrics;
        s->m_requests = kn_metric_register(m, "kubelet_http_requests_total",
                                           "Number of the http requests received since the server started",
                                           KN_COUNTER, NULL, 0);
        s->m_duration = kn_metric_register(m, "kubelet_http_requests_duration_seconds",
                                           "Duration in seconds to serve http requests", KN_HISTOGRAM, buckets,
                                           KN_ARRAY_SIZE(buckets));
        s->m_inflight = kn_metric_register(m, "kubelet_http_inflight_requests",
                                           "Number of the inflight http requests", KN_GAUGE, NULL, 0);
        s->stats = kubelet_stats_new(o->cri, o->node_name, cfg->root_dir ? cfg->root_dir : "/var/lib/kubelet");
        r = pthread_create(&s->thread, NULL, accept_thread, s);
        if (r) {
                r = kn_error_set(err, -r, "pthread_create: %s", strerror(r));
                goto fail;
        }
        s->started = true;
        kn_info("serving the kubelet API on port %d%s", bound_port(s->fd),
                s->ro_fd >= 0 ? " (and read-only on another port)" : "");
        *ret = s;
        return 0;
fail:
        kubelet_server_free(s);
        return r;
}

void kubelet_server_free(kubelet_server *s)
{
        if (!s)
                return;
        if (s->stop_fd >= 0) {
                uint64_t one = 1;
                (void)!write(s->stop_fd, &one, sizeof(one));
        }
        if (s->started)
                pthread_join(s->thread, NULL);
        pthread_mutex_lock(&s->lock);
        while (s->n_conns > 0)
                pthread_cond_wait(&s->idle, &s->lock);
        pthread_mutex_unlock(&s->lock);
        if (s->fd >= 0)
                close(s->fd);
        if (s->ro_fd >= 0)
                close(s->ro_fd);
        if (s->stop_fd >= 0)
                close(s->stop_fd);
        SSL_CTX_free(s->ssl);
        kubelet_auth_free(s->auth);
        kubelet_stats_free(s->stats);
        kn_metrics_free(s->own_metrics);
        pthread_cond_destroy(&s->idle);
        pthread_mutex_destroy(&s->lock);
        free(s->node_name);
        free(s);
}
