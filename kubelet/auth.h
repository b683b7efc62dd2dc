/* SPDX-License-Identifier: Apache-2.0 */
/* Authentication and authorization of kubelet API requests, as upstream's kubelet:
 * a client certificate verified against the client CA (user = CN, groups = O), else a
 * bearer token reviewed by the API server (TokenReview), else anonymous when enabled;
 * then AlwaysAllow, or a SubjectAccessReview on nodes/<subresource> named after the node.
 * Answers are cached (token: cacheTTL for both outcomes, as upstream's delegating
 * authenticator; access: cacheAuthorizedTTL / cacheUnauthorizedTTL). Thread-safe. */
#ifndef KUBELET_AUTH_H
#define KUBELET_AUTH_H

#include <openssl/ssl.h>

#include "../core/api.h"

typedef struct kubelet_auth kubelet_auth;

typedef struct kubelet_user {
        char *name, *uid;
        char **groups;
        size_t n_groups;
        cJSON *extra; /* object of string arrays, or NULL */
} kubelet_user;

typedef struct kubelet_auth_opts {
        kn_api *api;             /* for the reviews; may be NULL when neither webhook is on */
        const char *node_name;
        bool anonymous;          /* authentication.anonymous.enabled */
        bool webhook_authn;      /* authentication.webhook.enabled */
        bool webhook_authz;      /* authorization.mode == Webhook (else AlwaysAllow) */
        int64_t authn_ttl_ms, authz_allowed_ttl_ms, authz_denied_ttl_ms;
} kubelet_auth_opts;

int kubelet_auth_new(const kubelet_auth_opts *o, kubelet_auth **ret, kn_error *err);
void kubelet_auth_free(kubelet_auth *a);

/* SSL may be NULL. Returns 1 with *RET set, or 0: unauthenticated (401). */
int kubelet_authenticate(kubelet_auth *a, SSL *ssl, const char *headers, kubelet_user *ret);
void kubelet_user_free(kubelet_user *u);

/* Upstream's request attributes: verb from the method (POST create, GET get, PUT update,
 * PATCH patch, DELETE delete, others ""), subresources tried in order: pods/healthz/
 * configz first for /pods, /runningpods/, /healthz, /configz, then stats, metrics, log,
 * checkpoint, statusz, configz (/flagz) by path, proxy for everything else. */
typedef struct kubelet_authz_attrs {
        const char *verb;
        const char *subresources[2];
        size_t n_subresources;
} kubelet_authz_attrs;
void kubelet_authz_attributes(const char *method, const char *path, kubelet_authz_attrs *ret);

/* 0: allowed. Otherwise the HTTP status (403, or 500 when a review failed) with the body
 * upstream writes in *RET_BODY (malloc'd). PATH is the request path without the query. */
int kubelet_authorize(kubelet_auth *a, const kubelet_user *u, const char *method, const char *path,
                      char **ret_body);

#endif
