/* SPDX-License-Identifier: Apache-2.0 */
#include "api.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>

#include "kpb.h"
#include "log.h"

#define ACCEPT_JSON "application/json"
#define ACCEPT_PROTOBUF KN_KPB_CONTENT_TYPE ", application/json"

struct kn_api {
        char *server;
        char *tls_server_name;
        char *ca_file, *cert_file, *key_file;
        kn_blob ca_data, cert_data, key_data;
        bool insecure;
        char *user_agent;
        long timeout_ms, connect_timeout_ms;
        size_t max_response;

        pthread_mutex_t token_lock; /* guards token, token_mtime */
        char *token, *token_file;
        struct timespec token_mtime;

        CURLSH *share;
        pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
        (void)h, (void)a;
        pthread_mutex_lock(&((kn_api *)u)->share_locks[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *u)
{
        (void)h;
        pthread_mutex_unlock(&((kn_api *)u)->share_locks[d]);
}

static void blob_dup(kn_blob *dst, const kn_blob *src)
{
        if (!src->data)
                return;
        dst->data = kn_malloc(src->len + 1);
        memcpy(dst->data, src->data, src->len);
        dst->data[src->len] = '\0';
        dst->len = src->len;
}

int kn_api_new(const kn_kubeconfig *kc, const kn_api_opts *opts, kn_api **ret, kn_error *err)
{
        kn_api *api;

        pthread_once(&curl_once, curl_init_once);
        if (!kc->server)
                return kn_error_set(err, -EINVAL, "no API server address");
        if (kc->tls_server_name)
                return kn_error_set(err, -ENOTSUP, "tls-server-name is not supported");
        if (kc->insecure && (kc->ca_file || kc->ca_data.data))
                return kn_error_set(err, -EINVAL, "insecure-skip-tls-verify cannot be used with a certificate "
                                    "authority: specifying a root certificates file with the insecure flag is "
                                    "not allowed");
        if (strncmp(kc->server, "http://", 7) == 0 && !(opts && opts->allow_insecure_credentials)) {
                /* A token would travel in clear text; a client key would not be used at all. */
                if (kc->token || kc->token_file)
                        return kn_error_set(err, -EPERM, "refusing to send a bearer token to %s over plain "
                                            "http://; use https://, or set KNODE_ALLOW_INSECURE_CREDENTIALS=1 "
                                            "to allow it", kc->server);
                if (kc->key_file || kc->key_data.data)
                        return kn_error_set(err, -EPERM, "refusing a client key with %s: plain http:// would "
                                            "not authenticate with it; use https://, or set "
                                            "KNODE_ALLOW_INSECURE_CREDENTIALS=1 to allow it", kc->server);
        }
        api = kn_calloc(1, sizeof(*api));
        api->server = kn_strdup(kc->server);
        api->tls_server_name = kn_strdup(kc->tls_server_name);
        api->ca_file = kn_strdup(kc->ca_file);
        api->cert_file = kn_strdup(kc->cert_file);
        api->key_file = kn_strdup(kc->key_file);
        blob_dup(&api->ca_data, &kc->ca_data);
        blob_dup(&api->cert_data, &kc->cert_data);
        blob_dup(&api->key_data, &kc->key_data);
        api->insecure = kc->insecure;
        api->token = kn_strdup(kc->token);
        api->token_file = kn_strdup(kc->token_file);
        api->user_agent = kn_strdup(opts && opts->user_agent ? opts->user_agent : "knode");
        api->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms : 60000;
        api->connect_timeout_ms = opts && opts->connect_timeout_ms ? opts->connect_timeout_ms : 10000;
        api->max_response = opts && opts->max_response ? opts->max_response : KN_API_MAX_RESPONSE_DEFAULT;
        pthread_mutex_init(&api->token_lock, NULL);
        for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
                pthread_mutex_init(&api->share_locks[i], NULL);
        api->share = curl_share_init();
        if (!api->share)
                abort();
        curl_share_setopt(api->share, CURLSHOPT_LOCKFUNC, share_lock);
        curl_share_setopt(api->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
        curl_share_setopt(api->share, CURLSHOPT_USERDATA, api);
        curl_share_setopt(api->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
        curl_share_setopt(api->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
        curl_share_setopt(api->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        if (api->token_file && !api->token) {
                _cleanup_free_ char *t = NULL;
                int r = kn_read_file(api->token_file, 64 * 1024, &t, NULL);
                if (r < 0) {
                        kn_error_set(err, r, "failed to read token file %s: %s", api->token_file, strerror(-r));
                        kn_api_free(api);
                        return r;
                }
        }
        *ret = api;
        return 0;
}

void kn_api_free(kn_api *api)
{
        if (!api)
                return;
        curl_share_cleanup(api->share);
        for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
                pthread_mutex_destroy(&api->share_locks[i]);
        pthread_mutex_destroy(&api->token_lock);
        free(api->server);
        free(api->tls_server_name);
        free(api->ca_file);
        free(api->cert_file);
        free(api->key_file);
        free(api->ca_data.data);
        free(api->cert_data.data);
        if (api->key_data.data)
                explicit_bzero(api->key_data.data, api->key_data.len);
        free(api->key_data.data);
        if (api->token)
                explicit_bzero(api->token, strlen(api->token));
        free(api->token);
        free(api->token_file);
        free(api->user_agent);
        free(api);
}

const char *kn_api_server(const kn_api *api) { return api->server; }

static char *escape(const char *s)
{
        kn_buf b = {0};
        static const char hex[] = "0123456789ABCDEF";
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_' || c == '~') {
                        kn_buf_append(&b, s, 1);
                } else {
                        char e[3] = {'%', hex[c >> 4], hex[c & 15]};
                        kn_buf_append(&b, e, 3);
                }
        }
        if (!b.data)
                return kn_strdup("");
        return b.data;
}

char *kn_api_path(const char *gv, const char *resource, const char *ns, const char *name, const char *sub)
{
        kn_buf b = {0};
        kn_buf_printf(&b, "%s/%s", strchr(gv, '/') ? "/apis" : "/api", gv);
        if (ns) {
                _cleanup_free_ char *e = escape(ns);
                kn_buf_printf(&b, "/namespaces/%s", e);
        }
        kn_buf_printf(&b, "/%s", resource);
        if (name) {
                _cleanup_free_ char *e = escape(name);
                kn_buf_printf(&b, "/%s", e);
        }
        if (sub)
                kn_buf_printf(&b, "/%s", sub);
        return b.data;
}

char *kn_api_query(const char *path, ...)
{
        kn_buf b = {0};
        bool first = !strchr(path, '?');
        va_list ap;
        const char *k;

        kn_buf_printf(&b, "%s", path);
        va_start(ap, path);
        while ((k = va_arg(ap, const char *))) {
                const char *v = va_arg(ap, const char *);
                _cleanup_free_ char *e = NULL;
                if (!v)
                        continue;
                e = escape(v);
                kn_buf_printf(&b, "%c%s=%s", first ? '?' : '&', k, e);
                first = false;
        }
        va_end(ap);
        return b.data;
}

/* Current bearer token; re-read from tokenFile when the file changes. Caller frees. */
static char *current_token(kn_api *api)
{
        char *t = NULL;
        struct stat st;

        pthread_mutex_lock(&api->token_lock);
        if (api->token_file && stat(api->token_file, &st) == 0 &&
            (st.st_mtim.tv_sec != api->token_mtime.tv_sec || st.st_mtim.tv_nsec != api->token_mtime.tv_nsec ||
             !api->token)) {
                _cleanup_free_ char *data = NULL;
                if (kn_read_file(api->token_file, 64 * 1024, &data, NULL) >= 0) {
                        data[strcspn(data, "\r\n")] = '\0';
                        free(api->token);
                        api->token = TAKE_PTR(data);
                        api->token_mtime = st.st_mtim;
                } else {
                        kn_debug("failed to re-read token file %s, keeping the old token", api->token_file);
                }
        }
        t = kn_strdup(api->token);
        pthread_mutex_unlock(&api->token_lock);
        return t;
}

struct xfer {
        kn_buf body;
        int retry_after;
        kn_api_data_cb cb;
        kn_api_start_cb start_cb;
        int (*tick_cb)(void *userdata);
        void *userdata;
        const volatile int *stop;
        int cb_ret;
        bool started;
        long status;
        char content_type[128];
};

static size_t write_cb(char *ptr, size_t sz, size_t nm, void *u)
{
        struct xfer *x = u;
        size_t n = sz * nm;

        if (x->cb) {
                /* Stream only successful responses; errors are collected for decoding. */
                if (x->status == 200) {
                        if (!x->started) {
                                x->started = true;
                                if (x->start_cb && (x->cb_ret = x->start_cb(x->content_type, x->userdata)))
                                        return 0;
                        }
                        x->cb_ret = x->cb(ptr, n, x->userdata);
                        return x->cb_ret ? 0 : n;
                }
        }
        if (kn_buf_append(&x->body, ptr, n) < 0)
                return 0;
        return n;
}

static size_t header_cb(char *buf, size_t sz, size_t nm, void *u)
{
        struct xfer *x = u;
        size_t n = sz * nm;

        if (n > 12 && strncasecmp(buf, "retry-after:", 12) == 0)
                x->retry_after = atoi(buf + 12);
        if (n > 13 && strncasecmp(buf, "content-type:", 13) == 0) {
                size_t b = 13, e = n;
                while (b < e && (buf[b] == ' ' || buf[b] == '\t'))
                        b++;
                while (e > b && (buf[e - 1] == '\r' || buf[e - 1] == '\n' || buf[e - 1] == ' '))
                        e--;
                snprintf(x->content_type, sizeof(x->content_type), "%.*s", (int)(e - b), buf + b);
        }
        if (n > 5 && strncmp(buf, "HTTP/", 5) == 0) {
                const char *sp = memchr(buf, ' ', n);
                x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
                x->content_type[0] = '\0'; /* a new response (after a 100 or a redirect) */
        }
        return n;
}

static int progress_cb(void *u, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
        struct xfer *x = u;
        (void)dt, (void)dn, (void)ut, (void)un;
        if (x->stop && __atomic_load_n(x->stop, __ATOMIC_RELAXED))
                return 1;
        return x->tick_cb && x->tick_cb(x->userdata) ? 1 : 0;
}

static int map_status(long code, const char *reason)
{
        switch (code) {
        case 400:
        case 422:
                return -EINVAL;
        case 401:
                return -EKEYREJECTED;
        case 403:
                return -EACCES;
        case 404:
                return -ENOENT;
        case 409:
                return reason && strcmp(reason, "AlreadyExists") == 0 ? -EEXIST : -EBUSY;
        case 410:
                return -EIDRM;
        case 429:
                return -EAGAIN;
        case 504:
                return -ETIMEDOUT;
        default:
                return -EIO;
        }
}

int kn_api_decode_status(long http_status, const char *body, size_t len, kn_api_error *err)
{
        _cleanup_cjson_ cJSON *st = NULL;
        const char *reason = NULL, *message = NULL;
        int r;

        /* A Status in protobuf starts with the envelope's magic, which JSON cannot. */
        if (body && len && kn_kpb_is_envelope(body, len))
                kn_kpb_decode(body, len, &st, NULL);
        else if (body && len)
                st = cJSON_ParseWithLength(body, len);
        if (cJSON_IsObject(st)) {
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(st, "reason");
                const cJSON *m = cJSON_GetObjectItemCaseSensitive(st, "message");
                const cJSON *c = cJSON_GetObjectItemCaseSensitive(st, "code");
                const cJSON *d = cJSON_GetObjectItemCaseSensitive(st, "details");
                const cJSON *ra = d ? cJSON_GetObjectItemCaseSensitive(d, "retryAfterSeconds") : NULL;
                reason = cJSON_IsString(v) ? v->valuestring : NULL;
                message = cJSON_IsString(m) ? m->valuestring : NULL;
                if (cJSON_IsNumber(c) && c->valueint >= 400 && c->valueint < 600 && http_status < 400)
                        http_status = c->valueint; /* ERROR events inside a watch carry a Status */
                if (err && cJSON_IsNumber(ra) && ra->valueint > 0 && ra->valueint < 3600)
                        err->retry_after = ra->valueint;
        }
        r = map_status(http_status, reason);
        if (err) {
                err->http_status = http_status;
                snprintf(err->reason, sizeof(err->reason), "%s", reason ? reason : "");
                kn_error_set(&err->e, r, "HTTP %ld%s%s: %s", http_status, reason ? " " : "", reason ? reason : "",
                             message ? message : (body && len && !st ? "(unparsable error body)" : "(no message)"));
        }
        return r;
}

static int map_curl(CURLcode c)
{
        switch (c) {
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
                return -EHOSTUNREACH;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CACERT_BADFILE:
                return -EPROTO;
        case CURLE_ABORTED_BY_CALLBACK:
                return -ECANCELED;
        case CURLE_WRITE_ERROR:
                return -EFBIG;
        default:
                return -EIO;
        }
}

static void curl_freep(CURL **c) { curl_easy_cleanup(*c); }
static void slist_freep(struct curl_slist **l) { curl_slist_free_all(*l); }

static void set_blob(CURL *c, CURLoption o, const kn_blob *b)
{
        struct curl_blob blob = {.data = b->data, .len = b->len, .flags = CURL_BLOB_COPY};
        curl_easy_setopt(c, o, &blob);
}

static int perform(kn_api *api, const char *method, const char *path, const char *content_type, const char *body,
                   const char *accept, long timeout_ms, struct xfer *x, kn_api_error *err)
{
        CURL *c __attribute__((cleanup(curl_freep))) = curl_easy_init();
        struct curl_slist *hdrs __attribute__((cleanup(slist_freep))) = NULL;
        _cleanup_free_ char *url = NULL, *token = NULL, *auth = NULL, *ctype = NULL, *acc = NULL;
        char errbuf[CURL_ERROR_SIZE] = "";
        CURLcode cc;

        if (!c)
                abort();
        if (err)
                *err = (kn_api_error){0};
        url = kn_asprintf("%s%s", api->server, path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_SHARE, api->share);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_USERAGENT, api->user_agent);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, api->connect_timeout_ms);
        if (timeout_ms > 0)
                curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
        /* Each request runs in its own transfer on a connection of the shared pool, and
         * a watch holds its connection alone, so HTTP/2 would multiplex nothing here; it
         * would only add an HTTP/2 session (~25 KiB) to every connection. */
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* gzip if the server offers it */
        if (strcmp(method, "GET") == 0)
                curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        if (body) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
                curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 16384L); /* not 64 KiB a request */
        }
        if (api->ca_data.data)
                set_blob(c, CURLOPT_CAINFO_BLOB, &api->ca_data);
        else if (api->ca_file)
                curl_easy_setopt(c, CURLOPT_CAINFO, api->ca_file);
        if (api->cert_data.data)
                set_blob(c, CURLOPT_SSLCERT_BLOB, &api->cert_data);
        else if (api->cert_file)
                curl_easy_setopt(c, CURLOPT_SSLCERT, api->cert_file);
        if (api->key_data.data)
                set_blob(c, CURLOPT_SSLKEY_BLOB, &api->key_data);
        else if (api->key_file)
                curl_easy_setopt(c, CURLOPT_SSLKEY, api->key_file);
        if (api->insecure) {
                curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        acc = kn_asprintf("Accept: %s", accept ? accept : ACCEPT_JSON);
        hdrs = curl_slist_append(hdrs, acc);
        if (content_type) {
                ctype = kn_asprintf("Content-Type: %s", content_type);
                hdrs = curl_slist_append(hdrs, ctype);
        }
        token = current_token(api);
        if (token && *token) {
                auth = kn_asprintf("Authorization: Bearer %s", token);
                hdrs = curl_slist_append(hdrs, auth);
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        if (!x->body.max)
                x->body.max = api->max_response;
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
        if (x->stop || x->tick_cb) {
                curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
                curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
                curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
        }

        cc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x->status);
        if (cc != CURLE_OK) {
                int r = map_curl(cc);
                if (cc == CURLE_WRITE_ERROR && x->cb_ret)
                        r = x->cb_ret < 0 ? x->cb_ret : -ECANCELED;
                if (err) {
                        err->http_status = x->status;
                        kn_error_set(&err->e, r, "%s %s: %s", method, path,
                                     r == -EFBIG ? "response larger than the configured bound" :
                                     errbuf[0] ? errbuf : curl_easy_strerror(cc));
                }
                return r;
        }
        if (x->status < 200 || x->status > 299) {
                int r = kn_api_decode_status(x->status, x->body.data, x->body.len, err);
                if (err && x->retry_after > 0 && !err->retry_after)
                        err->retry_after = x->retry_after;
                return r;
        }
        return 0;
}

static int request_items(kn_api *api, const char *method, const char *path, const char *content_type,
                         const char *body, const char *accept, const kn_list_opts *lo, cJSON **ret_obj,
                         kn_api_error *err)
{
        struct xfer x = {0};
        int r;

        r = perform(api, method, path, content_type, body, accept, api->timeout_ms, &x, err);
        kn_debug("%s %s: HTTP %ld, %zu bytes of %s", method, path, x.status, x.body.len,
                 x.content_type[0] ? x.content_type : "(no content type)");
        if (r >= 0 && ret_obj && kn_kpb_is_content_type(x.content_type)) {
                cJSON *o = NULL;
                kn_error e = {0};
                r = lo && lo->on_item ? kn_kpb_decode_list(x.body.data, x.body.len, lo->on_item, lo->userdata, &o, &e)
                                      : kn_kpb_decode(x.body.data, x.body.len, &o, &e);
                if (r < 0) {
                        r = r == -ELOOP || r == -E2BIG ? -EBADMSG : r;
                        if (err)
                                kn_error_set(&err->e, r, "%s %s: %s", method, path, e.msg);
                } else {
                        *ret_obj = o;
                }
        } else if (r >= 0 && ret_obj) {
                cJSON *o = x.body.len ? cJSON_ParseWithLength(x.body.data, x.body.len) : NULL;
                if (!o) {
                        r = -EBADMSG;
                        if (err)
                                kn_error_set(&err->e, r, "%s %s: response is not valid JSON", method, path);
                } else {
                        *ret_obj = o;
                }
        }
        kn_buf_free(&x.body);
        return r;
}

static int request(kn_api *api, const char *method, const char *path, const char *content_type, const char *body,
                   const char *accept, cJSON **ret_obj, kn_api_error *err)
{
        return request_items(api, method, path, content_type, body, accept, NULL, ret_obj, err);
}

int kn_api_request(kn_api *api, const char *method, const char *path, const char *content_type, const char *body,
                   cJSON **ret_obj, kn_api_error *err)
{
        return request(api, method, path, content_type, body, NULL, ret_obj, err);
}

int kn_api_get(kn_api *api, const char *path, cJSON **ret_obj, kn_api_error *err)
{
        return kn_api_request(api, "GET", path, NULL, NULL, ret_obj, err);
}

int kn_api_list(kn_api *api, const char *path, const kn_list_opts *o, cJSON **ret_list, kn_api_error *err)
{
        _cleanup_free_ char *q = NULL;
        char limit[32] = "";

        if (o && o->limit > 0)
                snprintf(limit, sizeof(limit), "%ld", o->limit);
        q = kn_api_query(path, "labelSelector", o ? o->label_selector : NULL, "fieldSelector",
                         o ? o->field_selector : NULL, "limit", limit[0] ? limit : NULL, "continue",
                         o ? o->continue_token : NULL, "resourceVersion", o ? o->resource_version : NULL, NULL);
        return request_items(api, "GET", q, NULL, NULL, o && o->protobuf ? ACCEPT_PROTOBUF : NULL, o, ret_list, err);
}

static int send_obj(kn_api *api, const char *method, const char *path, const cJSON *obj, cJSON **ret_obj,
                    kn_api_error *err)
{
        _cleanup_free_ char *body = cJSON_PrintUnformatted(obj);
        if (!body)
                abort();
        return kn_api_request(api, method, path, "application/json", body, ret_obj, err);
}

int kn_api_create(kn_api *api, const char *path, const cJSON *obj, cJSON **ret_obj, kn_api_error *err)
{
        return send_obj(api, "POST", path, obj, ret_obj, err);
}

int kn_api_update(kn_api *api, const char *path, const cJSON *obj, cJSON **ret_obj, kn_api_error *err)
{
        return send_obj(api, "PUT", path, obj, ret_obj, err);
}

int kn_api_patch(kn_api *api, const char *path, enum kn_patch_type type, const char *patch, cJSON **ret_obj,
                 kn_api_error *err)
{
        static const char *const ctypes[] = {
                [KN_PATCH_MERGE] = "application/merge-patch+json",
                [KN_PATCH_STRATEGIC] = "application/strategic-merge-patch+json",
                [KN_PATCH_JSON] = "application/json-patch+json",
                [KN_PATCH_APPLY] = "application/apply-patch+yaml",
        };
        return kn_api_request(api, "PATCH", path, ctypes[type], patch, ret_obj, err);
}

int kn_api_delete(kn_api *api, const char *path, const cJSON *delete_options, kn_api_error *err)
{
        if (delete_options)
                return send_obj(api, "DELETE", path, delete_options, NULL, err);
        return kn_api_request(api, "DELETE", path, NULL, NULL, NULL, err);
}

int kn_api_stream(kn_api *api, const char *path, const kn_api_stream_opts *o, kn_api_data_cb cb, void *userdata,
                  kn_api_error *err)
{
        struct xfer x = {.cb = cb,
                         .start_cb = o ? o->start_cb : NULL,
                         .tick_cb = o ? o->tick_cb : NULL,
                         .userdata = userdata,
                         .stop = o ? o->stop : NULL};
        int r;

        x.body.max = 1 << 20; /* only error bodies are collected */
        r = perform(api, "GET", path, NULL, NULL, o && o->protobuf ? ACCEPT_PROTOBUF : NULL, o ? o->timeout_ms : 0,
                    &x, err);
        kn_buf_free(&x.body);
        return r;
}
