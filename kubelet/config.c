/* SPDX-License-Identifier: Apache-2.0 */
/* Flag names and defaults follow upstream kubelet (cmd/kubelet/app/options and
 * pkg/kubelet/apis/config/v1beta1/defaults.go). */
#include "config.h"

#define O(f) offsetof(kubelet_config, f)
#define S KN_FIELD_STRING
#define B KN_FIELD_BOOL
#define I KN_FIELD_INT
#define D KN_FIELD_DURATION
#define L KN_FIELD_STRLIST
#define M KN_FIELD_MAP

const kn_field kubelet_fields[] = {
        {"config", NULL, S, O(config), NULL, "path to a KubeletConfiguration file; flags override it"},
        {"kubeconfig", NULL, S, O(kubeconfig), NULL, "path to a kubeconfig file for the API server"},
        {"hostname-override", NULL, S, O(hostname_override), NULL, "use this name as the node name"},
        {"node-ip", NULL, S, O(node_ip), NULL, "IP address(es) of the node (comma-separated, dual-stack)"},
        {"root-dir", NULL, S, O(root_dir), "/var/lib/kubelet", "directory for kubelet files"},
        {"node-labels", NULL, S, O(node_labels), NULL, "labels to add when registering the node (k=v,...)"},
        {NULL, "enableServer", B, O(enable_server), "true", "serve the kubelet API"},
        {"address", "address", S, O(address), "0.0.0.0", "IP address to serve the kubelet API on"},
        {"port", "port", I, O(port), "10250", "port of the kubelet API"},
        {"read-only-port", "readOnlyPort", I, O(read_only_port), "0", "read-only port (0 disables)"},
        {"healthz-port", "healthzPort", I, O(healthz_port), "10248", "port of the healthz endpoint (0 disables)"},
        {"healthz-bind-address", "healthzBindAddress", S, O(healthz_bind_address), "127.0.0.1",
         "IP address of the healthz endpoint"},
        {"cluster-dns", "clusterDNS", L, O(cluster_dns), NULL, "DNS server IPs for pods"},
        {"cluster-domain", "clusterDomain", S, O(cluster_domain), NULL, "cluster domain for pods' search path"},
        {"sync-frequency", "syncFrequency", D, O(sync_frequency), "1m", "max period between pod syncs"},
        {"file-check-frequency", "fileCheckFrequency", D, O(file_check_frequency), "20s",
         "period of checking static pod files"},
        {"node-status-update-frequency", "nodeStatusUpdateFrequency", D, O(node_status_update_frequency), "10s",
         "how often node status is computed"},
        {NULL, "nodeStatusReportFrequency", D, O(node_status_report_frequency), "5m",
         "how often unchanged node status is posted"},
        {NULL, "nodeLeaseDurationSeconds", I, O(node_lease_duration_seconds), "40", "node Lease duration"},
        {"pod-manifest-path", "staticPodPath", S, O(static_pod_path), NULL, "directory of static pod manifests"},
        {"container-runtime-endpoint", "containerRuntimeEndpoint", S, O(container_runtime_endpoint),
         "unix:///run/containerd/containerd.sock", "CRI runtime endpoint"},
        {"image-service-endpoint", "imageServiceEndpoint", S, O(image_service_endpoint), NULL,
         "CRI image service endpoint (default: the runtime endpoint)"},
        {"runtime-request-timeout", "runtimeRequestTimeout", D, O(runtime_request_timeout), "2m",
         "timeout of runtime requests except long-running ones"},
        {"max-pods", "maxPods", I, O(max_pods), "110", "maximum number of pods on this node"},
        {"pod-cidr", "podCIDR", S, O(pod_cidr), NULL, "CIDR for pod IPs (standalone mode)"},
        {"cgroup-driver", "cgroupDriver", S, O(cgroup_driver), "cgroupfs", "cgroupfs or systemd"},
        {"cgroup-root", "cgroupRoot", S, O(cgroup_root), NULL, "root cgroup for pods"},
        {"fail-swap-on", "failSwapOn", B, O(fail_swap_on), "true", "fail to start if swap is on"},
        {"register-node", "registerNode", B, O(register_node), "true", "register the node with the API server"},
        {"serialize-image-pulls", "serializeImagePulls", B, O(serialize_image_pulls), "true",
         "pull images one at a time"},
        {"rotate-certificates", "rotateCertificates", B, O(rotate_certificates), "false",
         "rotate the client certificate"},
        {"eviction-hard", "evictionHard", M, O(eviction_hard),
         "memory.available=100Mi,nodefs.available=10%,imagefs.available=15%,nodefs.inodesFree=5%",
         "hard eviction thresholds"},
        {"feature-gates", "featureGates", M, O(feature_gates), NULL, "feature gates (Name=true,...)"},
        {"kube-api-qps", "kubeAPIQPS", I, O(kube_api_qps), "50", "QPS to the API server"},
        {"kube-api-burst", "kubeAPIBurst", I, O(kube_api_burst), "100", "burst to the API server"},
        {"hairpin-mode", "hairpinMode", S, O(hairpin_mode), "promiscuous-bridge", "hairpin mode"},
        {"image-gc-high-threshold", "imageGCHighThresholdPercent", I, O(image_gc_high), "85",
         "disk usage percent that starts image GC"},
        {"image-gc-low-threshold", "imageGCLowThresholdPercent", I, O(image_gc_low), "80",
         "disk usage percent image GC frees down to"},
        {"anonymous-auth", "authentication.anonymous.enabled", B, O(anonymous_auth), "false",
         "allow anonymous requests to the kubelet API"},
        {"authentication-token-webhook", "authentication.webhook.enabled", B, O(webhook_authn), "true",
         "authenticate bearer tokens with TokenReview"},
        {"authorization-mode", "authorization.mode", S, O(authorization_mode), "Webhook",
         "AlwaysAllow or Webhook"},
        {"client-ca-file", "authentication.x509.clientCAFile", S, O(client_ca_file), NULL,
         "CA bundle for client certificates"},
        {"tls-cert-file", "tlsCertFile", S, O(tls_cert_file), NULL, "serving certificate"},
        {"tls-private-key-file", "tlsPrivateKeyFile", S, O(tls_private_key_file), NULL, "serving key"},
        {"volume-plugin-dir", "volumePluginDir", S, O(volume_plugin_dir),
         "/usr/libexec/kubernetes/kubelet-plugins/volume/exec/", "flex volume plugin directory"},
        {"resolv-conf", "resolvConf", S, O(resolv_conf), "/etc/resolv.conf", "resolver config for pods"},
        {NULL, "shutdownGracePeriod", D, O(shutdown_grace_period), "0s", "node shutdown grace period"},
};
const size_t kubelet_n_fields = KN_ARRAY_SIZE(kubelet_fields);
