/* SPDX-License-Identifier: Apache-2.0 */
/* KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1) and kube-proxy's flags. */
#ifndef PROXY_CONFIG_H
#define PROXY_CONFIG_H

#include "../core/config.h"

typedef struct proxy_config {
        char *config, *kubeconfig, *master, *write_config_to;
        bool cleanup, init_only;
        char *bind_address, *healthz_bind_address, *metrics_bind_address;
        bool bind_address_hard_fail, enable_profiling;
        char *hostname_override, *mode, *cluster_cidr, *detect_local_mode;
        char *bridge_interface, *interface_name_prefix;
        char **nodeport_addresses;
        /* nftables.* (iptables.* periods map onto the same fields, as upstream does) */
        bool masquerade_all;
        int64_t masquerade_bit;
        int64_t sync_period, min_sync_period;
        int64_t ipt_sync_period, ipt_min_sync_period; /* iptables.* in the file */
        bool ipt_masquerade_all;
        int64_t config_sync_period;
        int64_t conntrack_max_per_core, conntrack_min;
        int64_t conntrack_tcp_established, conntrack_tcp_close_wait, conntrack_udp, conntrack_udp_stream;
        bool conntrack_tcp_be_liberal;
        int64_t oom_score_adj;
        double kube_api_qps;
        int64_t kube_api_burst;
        char *kube_api_content_type;
        cJSON *feature_gates;
        char *show_hidden_metrics_for_version;
} proxy_config;

extern const kn_field proxy_fields[];
extern const size_t proxy_n_fields;

#define PROXY_CONFIG_API_VERSION "kubeproxy.config.k8s.io/v1alpha1"
#define PROXY_CONFIG_KIND "KubeProxyConfiguration"

#endif
