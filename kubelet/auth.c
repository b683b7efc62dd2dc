/* SPDX-License-Identifier: Apache-2.0 */
#include "auth.h"

#include <pthread.h>
#include <stdio.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "../core/hashmap.h"
#include "../core/log.h"
#include "http.h"

#define CACHE_MAX 4096  /* entries per cache; past it expired ones go, then all */
#define MAX_GROUPS 256
#define MAX_TOKEN 16384 /* a bearer token longer than this is not looked at */

struct cache_entry {
        int64_t expires_ms;
        bool ok;
        kubelet_user user; /* token cache only */
};

struct kubelet_auth {
        kubelet_auth_opts o;
        char *node_name;
        pthread_mutex_t lock;
        kn_hashmap tokens, decisions;
};

void kubelet_user_free(kubelet_user *u)
{
        if (!u)
                return;
        free(u->name);
        free(u->uid);
        for (size_t i = 0; i < u->n_groups; i++)
                free(u->groups[i]);
        free(u->groups);
        cJSON_Delete(u->extra);
        memset(u, 0, sizeof(*u));
}

static void user_copy(kubelet_user *dst, const kubelet_user *src)
{
        dst->name = kn_strdup(src->name ? src->name : "");
        dst->uid = src->uid ? kn_strdup(src->uid) : NULL;
        dst->n_groups = src->n_groups;
        dst->groups = kn_calloc(src->n_groups + 1, sizeof(char *));
        for (size_t i = 0; i < src->n_groups; i++)
                dst->groups[i] = kn_strdup(src->groups[i]);
        dst->extra = src->extra ? cJSON_Duplicate(src->extra, true) : NULL;
}

static void user_add_group(kubelet_user *u, const char *g)
{
        if (u->n_groups >= MAX_GROUPS)
                return;
        u->groups = kn_realloc(u->groups, (u->n_groups + 2) * sizeof(char *));
        u->groups[u->n_groups++] = kn_strdup(g);
        u->groups[u->n_groups] = NULL;
}

static void entry_free(void *p)
{
        struct cache_entry *e = p;
        if (e)
                kubelet_user_free(&e->user);
        free(e);
}

int kubelet_auth_new(const kubelet_auth_opts *o, kubelet_auth **ret, kn_error *err)
{
        kubelet_auth *a;

        if ((o->webhook_authn || o->webhook_authz) && !o->api)
                return kn_error_set(err, -EINVAL, "webhook authentication/authorization needs an API client");
        a = kn_calloc(1, sizeof(*a));
        a->o = *o;
        a->node_name = kn_strdup(o->node_name);
        a->o.node_name = a->node_name;
        pthread_mutex_init(&a->lock, NULL);
        *ret = a;
        return 0;
}

void kubelet_auth_free(kubelet_auth *a)
{
        if (!a)
                return;
        kn_hashmap_clear(&a->tokens, entry_free);
        kn_hashmap_clear(&a->decisions, entry_free);
        pthread_mutex_destroy(&a->lock);
        free(a->node_name);
        free(a);
}

/* Under the lock: make room for one more entry. */
static void cache_make_room(kn_hashmap *m)
{
        int64_t now = kn_now_ms();
        const char *k;
        void *v;
        if (m->len < CACHE_MAX)
                return;
        for (size_t it = 0; kn_hashmap_next(m, &it, &k, &v);)
                if (((struct cache_entry *)v)->expires_ms <= now) {
                        _cleanup_free_ char *key = kn_strdup(k);
                        entry_free(kn_hashmap_remove(m, key));
                }
        if (m->len >= CACHE_MAX)
                kn_hashmap_clear(m, entry_free);
}

static void cache_put(kubelet_auth *a, kn_hashmap *m, const char *key, struct cache_entry *e)
{
        void *old = NULL;
        pthread_mutex_lock(&a->lock);
        cache_make_room(m);
        kn_hashmap_put(m, key, e, &old);
        entry_free(old);
        pthread_mutex_unlock(&a->lock);
}

/* Copies a live entry out; false when absent or expired. */
static bool cache_get(kubelet_auth *a, kn_hashmap *m, const char *key, bool *ret_ok, kubelet_user *ret_user)
{
        bool hit = false;
        pthread_mutex_lock(&a->lock);
        struct cache_entry *e = kn_hashmap_get(m, key);
        if (e && e->expires_ms > kn_now_ms()) {
                hit = true;
                *ret_ok = e->ok;
                if (ret_user && e->ok)
                        user_copy(ret_user, &e->user);
        }
        pthread_mutex_unlock(&a->lock);
        return hit;
}

/* ---- authentication ---- */

static int authn_x509(SSL *ssl, kubelet_user *ret)
{
        X509 *cert;
        X509_NAME *subj;
        kubelet_user u = {0};
        int idx;

        if (!ssl || !(cert = SSL_get0_peer_certificate(ssl)))
                return 0;
        if (SSL_get_verify_result(ssl) != X509_V_OK) {
                kn_v(2, "client certificate did not verify: %s",
                     X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
                return 0;
        }
        subj = X509_get_subject_name(cert);
        idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
        if (idx >= 0) {
                ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
                unsigned char *utf8 = NULL;
                int n = ASN1_STRING_to_UTF8(&utf8, s);
                if (n >= 0)
                        u.name = kn_strndup((char *)utf8, (size_t)n);
                OPENSSL_free(utf8);
        }
        if (!u.name || !u.name[0]) {
                kubelet_user_free(&u);
                return 0;
        }
        u.groups = kn_calloc(1, sizeof(char *));
        for (idx = -1; (idx = X509_NAME_get_index_by_NID(subj, NID_organizationName, idx)) >= 0;) {
                ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
                unsigned char *utf8 = NULL;
                int n = ASN1_STRING_to_UTF8(&utf8, s);
                if (n >= 0) {
                        _cleanup_free_ char *g = kn_strndup((char *)utf8, (size_t)n);
                        user_add_group(&u, g);
                }
                OPENSSL_free(utf8);
        }
        *ret = u;
        return 1;
}

static char *bearer_token(const char *headers)
{
        _cleanup_free_ char *v = kubelet_header_get(headers, "Authorization");
        char *t;
        if (!v || strncasecmp(v, "bearer ", 7) != 0)
                return NULL;
        t = v + 7;
        while (*t == ' ')
                t++;
        if (!*t || strlen(t) > MAX_TOKEN || strchr(t, ' '))
                return NULL;
        return kn_strdup(t);
}

static char *token_key(const char *token)
{
        unsigned char md[32];
        unsigned int n = 0;
        char *hex = kn_malloc(65);
        EVP_Digest(token, strlen(token), md, &n, EVP_sha256(), NULL);
        for (unsigned i = 0; i < 32; i++)
                sprintf(hex + 2 * i, "%02x", md[i]);
        return hex;
}

static int user_from_json(const cJSON *ju, kubelet_user *ret)
{
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(ju, "username");
        const cJSON *uid = cJSON_GetObjectItemCaseSensitive(ju, "uid");
        const cJSON *groups = cJSON_GetObjectItemCaseSensitive(ju, "groups");
        const cJSON *extra = cJSON_GetObjectItemCaseSensitive(ju, "extra");
        const cJSON *g;
        kubelet_user u = {0};

        if (!cJSON_IsString(name) || !name->valuestring[0])
                return -EBADMSG;
        u.name = kn_strdup(name->valuestring);
        u.uid = cJSON_IsString(uid) ? kn_strdup(uid->valuestring) : NULL;
        u.groups = kn_calloc(1, sizeof(char *));
        cJSON_ArrayForEach(g, groups) if (cJSON_IsString(g)) user_add_group(&u, g->valuestring);
        u.extra = cJSON_IsObject(extra) ? cJSON_Duplicate(extra, true) : NULL;
        *ret = u;
        return 0;
}

static int authn_token(kubelet_auth *a, const char *token, kubelet_user *ret)
{
        _cleanup_free_ char *key = token_key(token);
        _cleanup_cjson_ cJSON *req = NULL, *resp = NULL;
        struct cache_entry *e;
        kn_api_error aerr;
        const cJSON *st;
        bool ok;
        int r;

        if (cache_get(a, &a->tokens, key, &ok, ret))
                return ok;
        req = cJSON_CreateObject();
        cJSON_AddStringToObject(req, "apiVersion", "authentication.k8s.io/v1");
        cJSON_AddStringToObject(req, "kind", "TokenReview");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(req, "spec"), "token", token);
        r = kn_api_create(a->o.api, "/apis/authentication.k8s.io/v1/tokenreviews", req, &resp, &aerr);
        if (r < 0) {
                kn_err("failed to authenticate a bearer token with TokenReview: %s", aerr.e.msg);
                return 0; /* not cached: the next request asks again */
        }
        st = cJSON_GetObjectItemCaseSensitive(resp, "status");
        e = kn_calloc(1, sizeof(*e));
        e->ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "authenticated")) &&
                user_from_json(cJSON_GetObjectItemCaseSensitive(st, "user"), &e->user) == 0;
        e->expires_ms = kn_now_ms() + a->o.authn_ttl_ms;
        if (e->ok)
                user_copy(ret, &e->user);
        else
                kn_v(2, "bearer token not authenticated: %s",
                     cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "error"))
                             ?: "authenticated is false");
        ok = e->ok;
        cache_put(a, &a->tokens, key, e);
        return ok;
}

int kubelet_authenticate(kubelet_auth *a, SSL *ssl, const char *headers, kubelet_user *ret)
{
        kubelet_user u = {0};
        int ok = authn_x509(ssl, &u);

        if (!ok && a->o.webhook_authn) {
                _cleanup_free_ char *token = bearer_token(headers);
                if (token)
                        ok = authn_token(a, token, &u);
        }
        if (ok) {
                bool skip = strcmp(u.name, "system:anonymous") == 0;
                for (size_t i = 0; i < u.n_groups && !skip; i++)
                        skip = strcmp(u.groups[i], "system:authenticated") == 0 ||
                               strcmp(u.groups[i], "system:unauthenticated") == 0;
                if (!skip)
                        user_add_group(&u, "system:authenticated");
                *ret = u;
                return 1;
        }
        if (a->o.anonymous) {
                u.name = kn_strdup("system:anonymous");
                u.groups = kn_calloc(1, sizeof(char *));
                user_add_group(&u, "system:unauthenticated");
                *ret = u;
                return 1;
        }
        return 0;
}

/* ---- authorization ---- */

static bool is_subpath(const char *path, const char *prefix)
{
        size_t n = strlen(prefix);
        if (n && prefix[n - 1] == '/')
                n--;
        return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

void kubelet_authz_attributes(const char *method, const char *path, kubelet_authz_attrs *ret)
{
        static const struct {
                const char *method, *verb;
        } verbs[] = {{"POST", "create"}, {"GET", "get"}, {"PUT", "update"}, {"PATCH", "patch"}, {"DELETE", "delete"}};
        static const struct {
                const char *prefix, *sub;
        } fine[] = {{"/pods", "pods"}, {"/healthz", "healthz"}, {"/configz", "configz"}, {"/runningpods/", "pods"}},
          coarse[] = {{"/stats/", "stats"},         {"/metrics", "metrics"},   {"/logs/", "log"},
                      {"/checkpoint/", "checkpoint"}, {"/statusz", "statusz"}, {"/flagz", "configz"}};
        kubelet_authz_attrs a = {.verb = ""};

        for (size_t i = 0; i < KN_ARRAY_SIZE(verbs); i++)
                if (strcmp(method, verbs[i].method) == 0)
                        a.verb = verbs[i].verb;
        /* KubeletFineGrainedAuthz, GA and locked on since 1.36 */
        for (size_t i = 0; i < KN_ARRAY_SIZE(fine); i++)
                if (is_subpath(path, fine[i].prefix)) {
                        a.subresources[a.n_subresources++] = fine[i].sub;
                        break;
                }
        a.subresources[a.n_subresources] = "proxy";
        for (size_t i = 0; i < KN_ARRAY_SIZE(coarse); i++)
                if (is_subpath(path, coarse[i].prefix)) {
                        a.subresources[a.n_subresources] = coarse[i].sub;
                        break;
                }
        a.n_subresources++;
        *ret = a;
}

static cJSON *sar_spec(kubelet_auth *a, const kubelet_user *u, const char *verb, const char *sub)
{
        cJSON *spec = cJSON_CreateObject();
        cJSON *ra = cJSON_AddObjectToObject(spec, "resourceAttributes");
        cJSON *groups;

        cJSON_AddStringToObject(ra, "verb", verb);
        cJSON_AddStringToObject(ra, "version", "v1");
        cJSON_AddStringToObject(ra, "resource", "nodes");
        cJSON_AddStringToObject(ra, "subresource", sub);
        cJSON_AddStringToObject(ra, "name", a->node_name);
        cJSON_AddStringToObject(spec, "user", u->name);
        groups = cJSON_AddArrayToObject(spec, "groups");
        for (size_t i = 0; i < u->n_groups; i++)
                cJSON_AddItemToArray(groups, cJSON_CreateString(u->groups[i]));
        if (u->extra)
                cJSON_AddItemToObject(spec, "extra", cJSON_Duplicate(u->extra, true));
        if (u->uid)
                cJSON_AddStringToObject(spec, "uid", u->uid);
        return spec;
}

/* 1 allowed, 0 denied, < 0 the review failed. */
static int authz_one(kubelet_auth *a, const kubelet_user *u, const char *verb, const char *sub)
{
        _cleanup_cjson_ cJSON *req = cJSON_CreateObject(), *resp = NULL;
        cJSON *spec = sar_spec(a, u, verb, sub);
        _cleanup_free_ char *key = cJSON_PrintUnformatted(spec);
        struct cache_entry *e;
        kn_api_error aerr;
        const cJSON *st;
        bool ok;
        int r;

        cJSON_AddStringToObject(req, "apiVersion", "authorization.k8s.io/v1");
        cJSON_AddStringToObject(req, "kind", "SubjectAccessReview");
        cJSON_AddItemToObject(req, "spec", spec);
        if (!key)
                return -ENOMEM;
        if (cache_get(a, &a->decisions, key, &ok, NULL))
                return ok;
        r = kn_api_create(a->o.api, "/apis/authorization.k8s.io/v1/subjectaccessreviews", req, &resp, &aerr);
        if (r < 0) {
                kn_err("failed to authorize user %s (verb=%s, resource=nodes, subresource=%s) with "
                       "SubjectAccessReview: %s",
                       u->name, verb, sub, aerr.e.msg);
                return r;
        }
        st = cJSON_GetObjectItemCaseSensitive(resp, "status");
        e = kn_calloc(1, sizeof(*e));
        e->ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "allowed"));
        e->expires_ms = kn_now_ms() + (e->ok ? a->o.authz_allowed_ttl_ms : a->o.authz_denied_ttl_ms);
        ok = e->ok;
        cache_put(a, &a->decisions, key, e);
        return ok;
}

int kubelet_authorize(kubelet_auth *a, const kubelet_user *u, const char *method, const char *path,
                      char **ret_body)
{
        kubelet_authz_attrs at;
        kn_buf subs = {0};

        if (!a->o.webhook_authz)
                return 0;
        kubelet_authz_attributes(method, path, &at);
        for (size_t i = 0; i < at.n_subresources; i++) {
                int r = authz_one(a, u, at.verb, at.subresources[i]);
                if (r < 0) {
                        *ret_body = kn_asprintf("Authorization error (user=%s, verb=%s, resource=nodes, subresource=%s)",
                                                u->name, at.verb, at.subresources[i]);
                        return 500;
                }
                if (r > 0)
                        return 0;
        }
        for (size_t i = 0; i < at.n_subresources; i++)
                kn_buf_printf(&subs, "%s%s", i ? " " : "", at.subresources[i]);
        kn_v(2, "forbidden: user=%s verb=%s resource=nodes subresource(s)=[%s]", u->name, at.verb, subs.data);
        *ret_body = kn_asprintf("Forbidden (user=%s, verb=%s, resource=nodes, subresource(s)=[%s])\n", u->name, at.verb,
                                subs.data);
        kn_buf_free(&subs);
        return 403;
}
