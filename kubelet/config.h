/* SPDX-License-Identifier: Apache-2.0 */
/* KubeletConfiguration (kubelet.config.k8s.io/v1beta1) and the kubelet's flags. */
#ifndef KUBELET_CONFIG_H
#define KUBELET_CONFIG_H

#include "../core/config.h"

typedef struct kubelet_config {
        /* flag-only */
        char *config, *kubeconfig, *hostname_override, *node_ip, *root_dir, *node_labels;
        /* KubeletConfiguration */
        bool enable_server;
        char *address;
        int64_t port, read_only_port, healthz_port;
        char *healthz_bind_address;
        char **cluster_dns;
        char *cluster_domain;
        int64_t sync_frequency, file_check_frequency, node_status_update_frequency, node_status_report_frequency;
        int64_t node_lease_duration_seconds;
        char *static_pod_path;
        char *container_runtime_endpoint, *image_service_endpoint;
        int64_t runtime_request_timeout;
        int64_t max_pods;
        char *pod_cidr;
        char *cgroup_driver, *cgroup_root;
        bool fail_swap_on, register_node, serialize_image_pulls, rotate_certificates;
        cJSON *eviction_hard, *feature_gates;
        int64_t kube_api_qps, kube_api_burst;
        char *hairpin_mode;
        int64_t image_gc_high, image_gc_low;
        bool anonymous_auth, webhook_authn;
        char *authorization_mode, *client_ca_file;
        char *tls_cert_file, *tls_private_key_file;
        char *volume_plugin_dir;
        char *resolv_conf;
        int64_t shutdown_grace_period;
        char *register_with_taints, *cert_dir, *pod_infra_container_image;
        cJSON *kube_reserved, *system_reserved;
        bool fail_cgroupv1, cgroups_per_qos, cpu_cfs_quota;
        int64_t pod_pids_limit, container_log_max_files, node_status_max_images;
        char *container_log_max_size;
        char *provider_id;
        char *pod_logs_dir;
        /* the kubelet API server's webhook caches (kubelet/auth.c), ms */
        int64_t authn_cache_ttl, authz_cache_authorized_ttl, authz_cache_unauthorized_ttl;
} kubelet_config;

extern const kn_field kubelet_fields[];
extern const size_t kubelet_n_fields;

#define KUBELET_CONFIG_API_VERSION "kubelet.config.k8s.io/v1beta1"
#define KUBELET_CONFIG_KIND "KubeletConfiguration"

#endif
