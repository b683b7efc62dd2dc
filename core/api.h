/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes API client on libcurl. One kn_api per process: its share handle pools
 * connections, TLS sessions and DNS for every thread, so `knode all` reuses them. */
#ifndef KN_API_H
#define KN_API_H

#include <cjson/cJSON.h>

#include "kubeconfig.h"

#define KN_API_MAX_RESPONSE_DEFAULT (128u << 20)

typedef struct kn_api kn_api;

typedef struct kn_api_opts {
        const char *user_agent; /* "kubelet/v1.36.3 (linux/amd64) knode/0.1" */
        long timeout_ms;        /* per request; 0 = 60 s */
        long connect_timeout_ms;/* 0 = 10 s */
        size_t max_response;    /* 0 = KN_API_MAX_RESPONSE_DEFAULT */
        /* Allow a token or client key with a plain http:// server (refused otherwise;
         * kn_env_new sets it from KNODE_ALLOW_INSECURE_CREDENTIALS=1). */
        bool allow_insecure_credentials;
} kn_api_opts;

/* Errors: the return value is a negative errno; *err says more.
 *   -ENOENT 404, -EEXIST 409 AlreadyExists, -EBUSY 409 Conflict, -EIDRM 410 Gone,
 *   -EAGAIN 429 (retry_after set), -EKEYREJECTED 401, -EACCES 403, -EINVAL 400/422,
 *   -EIO other HTTP errors, -EFBIG response over the bound, -EBADMSG unparsable body,
 *   -ECONNREFUSED/-ETIMEDOUT/-EPROTO/-EHOSTUNREACH transport failures, -ECANCELED stopped. */
typedef struct kn_api_error {
        kn_error e;
        long http_status;   /* 0 if no response */
        char reason[64];    /* Status.reason */
        int retry_after;    /* seconds, from Retry-After or Status.details.retryAfterSeconds */
} kn_api_error;

enum kn_patch_type { KN_PATCH_MERGE, KN_PATCH_STRATEGIC, KN_PATCH_JSON, KN_PATCH_APPLY };

typedef struct kn_list_opts {
        const char *label_selector;
        const char *field_selector;
        long limit;                 /* 0 = server default */
        const char *continue_token;
        const char *resource_version;
        bool protobuf;              /* accept Kubernetes protobuf (decoded to the same JSON shape) */
        /* Optional, with protobuf: a protobuf answer's items are handed to on_item one at a
         * time (it takes each; a negative return fails the list with it) and *ret_list has
         * an empty "items". A JSON answer is returned whole, as without it. */
        int (*on_item)(cJSON *item, void *userdata);
        void *userdata;
} kn_list_opts;

/* Refuses (-EINVAL) insecure-skip-tls-verify with a CA, as client-go does, and (-EPERM)
 * credentials that plain http:// would expose or ignore, unless allowed in OPTS. */
int kn_api_new(const kn_kubeconfig *kc, const kn_api_opts *opts, kn_api **ret, kn_error *err);
void kn_api_free(kn_api *api);
const char *kn_api_server(const kn_api *api);

/* Build "/api/v1/namespaces/NS/RESOURCE/NAME/SUB" or "/apis/GROUP/VERSION/...". NS, NAME, SUB may be NULL. */
char *kn_api_path(const char *group_version, const char *resource, const char *ns, const char *name,
                  const char *sub);
/* Append ?k=v&k2=v2 (URL-escaped) to a path; NULL values are skipped. List ends with NULL. */
char *kn_api_query(const char *path, ...) __attribute__((sentinel));

/* The general request. BODY may be NULL. *ret_obj (may be NULL) receives the decoded JSON. */
int kn_api_request(kn_api *api, const char *method, const char *path, const char *content_type,
                   const char *body, cJSON **ret_obj, kn_api_error *err);

int kn_api_get(kn_api *api, const char *path, cJSON **ret_obj, kn_api_error *err);
int kn_api_list(kn_api *api, const char *path, const kn_list_opts *o, cJSON **ret_list, kn_api_error *err);
int kn_api_create(kn_api *api, const char *path, const cJSON *obj, cJSON **ret_obj, kn_api_error *err);
int kn_api_update(kn_api *api, const char *path, const cJSON *obj, cJSON **ret_obj, kn_api_error *err);
int kn_api_patch(kn_api *api, const char *path, enum kn_patch_type type, const char *patch, cJSON **ret_obj,
                 kn_api_error *err);
int kn_api_delete(kn_api *api, const char *path, const cJSON *delete_options, kn_api_error *err);

/* Streaming GET for watches: DATA_CB gets raw bytes as they arrive; a non-zero return
 * aborts. Returns 0 when the server ends the stream. */
typedef int (*kn_api_data_cb)(const char *data, size_t len, void *userdata);
/* Called once before the first bytes of a successful response, with its Content-Type
 * ("" when none); a non-zero return aborts. */
typedef int (*kn_api_start_cb)(const char *content_type, void *userdata);
typedef struct kn_api_stream_opts {
        long timeout_ms;           /* 0: none */
        const volatile int *stop;  /* may be NULL; polled about once a second */
        bool protobuf;             /* accept Kubernetes protobuf (then see START_CB's type) */
        kn_api_start_cb start_cb;  /* may be NULL */
        /* May be NULL: called with USERDATA on the calling thread, between DATA_CB calls,
         * at least about once a second while the request is open (often more: keep it
         * cheap); a non-zero return ends the stream with -ECANCELED. */
        int (*tick_cb)(void *userdata);
} kn_api_stream_opts;
int kn_api_stream(kn_api *api, const char *path, const kn_api_stream_opts *o, kn_api_data_cb cb, void *userdata,
                  kn_api_error *err);

/* Decode an HTTP error body (a metav1.Status, JSON or protobuf) into ERR; returns the
 * errno mapping. */
int kn_api_decode_status(long http_status, const char *body, size_t len, kn_api_error *err);

#endif
