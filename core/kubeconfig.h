/* SPDX-License-Identifier: Apache-2.0 */
/* kubeconfig files and in-cluster service-account config. */
#ifndef KN_KUBECONFIG_H
#define KN_KUBECONFIG_H

#include "util.h"

#define KN_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

typedef struct kn_blob {
        char *data;
        size_t len;
} kn_blob;

typedef struct kn_kubeconfig {
        char *server;          /* https://host:port, no trailing slash */
        char *tls_server_name;
        char *ca_file;         /* certificate-authority (absolute) */
        kn_blob ca_data;       /* certificate-authority-data (decoded PEM) */
        char *cert_file, *key_file;
        kn_blob cert_data, key_data;
        char *token;           /* token */
        char *token_file;      /* tokenFile: re-read when it changes (bound SA tokens rotate) */
        bool insecure;         /* insecure-skip-tls-verify */
        char *namespace;       /* context namespace, or the SA namespace in-cluster */
        char *context;         /* the context used */
} kn_kubeconfig;

/* Load PATH, using CONTEXT (or current-context when NULL). */
int kn_kubeconfig_load(const char *path, const char *context, kn_kubeconfig **ret, kn_error *err);
/* Same, from memory; DIR resolves relative paths. */
int kn_kubeconfig_parse(const char *name, const char *data, size_t len, const char *dir, const char *context,
                        kn_kubeconfig **ret, kn_error *err);
/* In-cluster: KUBERNETES_SERVICE_HOST/PORT and the service-account files under SA_DIR. */
int kn_kubeconfig_in_cluster(const char *sa_dir, kn_kubeconfig **ret, kn_error *err);
void kn_kubeconfig_free(kn_kubeconfig *kc);
static inline void kn_kubeconfig_freep(kn_kubeconfig **k) { kn_kubeconfig_free(*k); }
#define _cleanup_kubeconfig_ __attribute__((cleanup(kn_kubeconfig_freep)))

int kn_base64_decode(const char *in, kn_blob *ret);

#endif
