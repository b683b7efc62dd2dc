/* SPDX-License-Identifier: Apache-2.0 */
/* Flag names and defaults follow upstream kube-proxy (cmd/kube-proxy/app and
 * pkg/proxy/apis/config/v1alpha1/defaults.go). Unlike upstream, flags given together
 * with --config override the file instead of being ignored. */
#include "config.h"

#define O(f) offsetof(proxy_config, f)
#define S KN_FIELD_STRING
#define B KN_FIELD_BOOL
#define I KN_FIELD_INT
#define D KN_FIELD_DURATION
#define L KN_FIELD_STRLIST
#define M KN_FIELD_MAP
#define F KN_FIELD_FLOAT

const kn_field proxy_fields[] = {
        {"config", NULL, S, O(config), NULL, "path to a KubeProxyConfiguration file; flags override it"},
        {"kubeconfig", "clientConnection.kubeconfig", S, O(kubeconfig), NULL, "path to a kubeconfig file"},
        {"master", NULL, S, O(master), NULL, "API server address (overrides the kubeconfig)"},
        {"write-config-to", NULL, S, O(write_config_to), NULL, "write the effective configuration and exit"},
        {"cleanup", NULL, B, O(cleanup), NULL, "remove every rule knode created, then exit"},
        {"init-only", NULL, B, O(init_only), NULL, "do initialization only, then exit"},
        {"bind-address", "bindAddress", S, O(bind_address), "0.0.0.0", "node IP override"},
        {"healthz-bind-address", "healthzBindAddress", S, O(healthz_bind_address), "0.0.0.0:10256",
         "address of the health check server (empty disables)"},
        {"metrics-bind-address", "metricsBindAddress", S, O(metrics_bind_address), "127.0.0.1:10249",
         "address of the metrics server (empty disables)"},
        {"bind-address-hard-fail", "bindAddressHardFail", B, O(bind_address_hard_fail), "false",
         "fail if a server port cannot be bound"},
        {"profiling", "enableProfiling", B, O(enable_profiling), "false", "unused (Go profiling)"},
        {"hostname-override", "hostnameOverride", S, O(hostname_override), NULL, "use this name as the node name"},
        {"proxy-mode", "mode", S, O(mode), "nftables", "proxy mode; knode implements nftables"},
        {"cluster-cidr", "clusterCIDR", S, O(cluster_cidr), NULL, "pod CIDR(s), comma-separated"},
        {"detect-local-mode", "detectLocalMode", S, O(detect_local_mode), NULL,
         "ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix"},
        {"pod-bridge-interface", "detectLocal.bridgeInterface", S, O(bridge_interface), NULL, "bridge name"},
        {"pod-interface-name-prefix", "detectLocal.interfaceNamePrefix", S, O(interface_name_prefix), NULL,
         "pod interface prefix"},
        {"nodeport-addresses", "nodePortAddresses", L, O(nodeport_addresses), NULL,
         "CIDRs (or \"primary\") whose addresses accept NodePorts"},
        {"masquerade-all", "nftables.masqueradeAll", B, O(masquerade_all), "false",
         "SNAT all traffic to service IPs"},
        {NULL, "nftables.masqueradeBit", I, O(masquerade_bit), "14", "fwmark bit for masquerading"},
        {NULL, "nftables.syncPeriod", D, O(sync_period), "30s", "full resync period"},
        {NULL, "nftables.minSyncPeriod", D, O(min_sync_period), "1s", "minimum time between syncs"},
        {"iptables-sync-period", "iptables.syncPeriod", D, O(ipt_sync_period), NULL,
         "full resync period (applies to nftables mode too)"},
        {"iptables-min-sync-period", "iptables.minSyncPeriod", D, O(ipt_min_sync_period), NULL,
         "minimum time between syncs (applies to nftables mode too)"},
        {NULL, "iptables.masqueradeAll", B, O(ipt_masquerade_all), NULL, "iptables mode only"},
        {"config-sync-period", "configSyncPeriod", D, O(config_sync_period), "15m", "informer resync period"},
        {"conntrack-max-per-core", "conntrack.maxPerCore", I, O(conntrack_max_per_core), "32768",
         "conntrack entries per CPU (0 leaves the limit)"},
        {"conntrack-min", "conntrack.min", I, O(conntrack_min), "131072", "minimum conntrack entries"},
        {"conntrack-tcp-timeout-established", "conntrack.tcpEstablishedTimeout", D, O(conntrack_tcp_established),
         "24h", "idle timeout of established TCP connections"},
        {"conntrack-tcp-timeout-close-wait", "conntrack.tcpCloseWaitTimeout", D, O(conntrack_tcp_close_wait), "1h",
         "CLOSE_WAIT timeout"},
        {"conntrack-tcp-be-liberal", "conntrack.tcpBeLiberal", B, O(conntrack_tcp_be_liberal), "false",
         "mark out-of-window packets INVALID less eagerly"},
        {"conntrack-udp-timeout", "conntrack.udpTimeout", D, O(conntrack_udp), "0s", "UDP timeout (0 leaves it)"},
        {"conntrack-udp-timeout-stream", "conntrack.udpStreamTimeout", D, O(conntrack_udp_stream), "0s",
         "UDP stream timeout (0 leaves it)"},
        {"oom-score-adj", "oomScoreAdj", I, O(oom_score_adj), "-999", "oom_score_adj of the process"},
        {"kube-api-qps", "clientConnection.qps", F, O(kube_api_qps), "5", "QPS to the API server"},
        {"kube-api-burst", "clientConnection.burst", I, O(kube_api_burst), "10", "burst to the API server"},
        {"kube-api-content-type", "clientConnection.contentType", S, O(kube_api_content_type),
         "application/vnd.kubernetes.protobuf", "content type (knode always speaks JSON)"},
        {"feature-gates", "featureGates", M, O(feature_gates), NULL, "feature gates (Name=true,...)"},
        {"show-hidden-metrics-for-version", "showHiddenMetricsForVersion", S, O(show_hidden_metrics_for_version),
         NULL, "unused"},
};
const size_t proxy_n_fields = KN_ARRAY_SIZE(proxy_fields);
