/* SPDX-License-Identifier: Apache-2.0 */
/* From a Pod's spec to CRI configs (as JSON with the proto's field names, turned into
 * messages by runtime/msgjson): the sandbox, each container with its environment,
 * mounts, resources and security context, the DNS config and /etc/hosts. Pure, except
 * for reading ConfigMaps/Secrets (env) and Services (service links). */
#ifndef KUBELET_PODCONFIG_H
#define KUBELET_PODCONFIG_H

#include "internal.h"
#include "resources.h"
#include "volumes.h"

/* CRI labels and annotations upstream's kubelet writes, so adoption works and
 * crictl shows pods as it would under upstream. */
#define LABEL_POD_NAME "io.kubernetes.pod.name"
#define LABEL_POD_NAMESPACE "io.kubernetes.pod.namespace"
#define LABEL_POD_UID "io.kubernetes.pod.uid"
#define LABEL_CONTAINER_NAME "io.kubernetes.container.name"
#define ANN_CONTAINER_HASH "io.kubernetes.container.hash"
#define ANN_RESTART_COUNT "io.kubernetes.container.restartCount"
#define ANN_TERM_PATH "io.kubernetes.container.terminationMessagePath"
#define ANN_TERM_POLICY "io.kubernetes.container.terminationMessagePolicy"
#define ANN_PRESTOP "io.kubernetes.container.preStopHandler"
#define ANN_PORTS "io.kubernetes.container.ports"
#define ANN_POD_GRACE "io.kubernetes.pod.terminationGracePeriod"

/* What a container start needs besides the specs. */
typedef struct kubelet_start_info {
        const char *image_ref;      /* from PullImage / ImageStatus */
        uint32_t restart_count;
        const cJSON *sandbox_config; /* the PodSandboxConfig JSON the sandbox was made with */
        const char *pod_ip;
        const char *pod_dir;        /* ROOT/pods/UID */
        struct kubelet_mount *mounts; /* from the volume manager */
        size_t n_mounts;
        int64_t image_uid;          /* the image's numeric user, -1 if unknown */
        const char *image_user;     /* the image's non-numeric user, or NULL */
        const cJSON *resources;     /* LinuxContainerResources JSON, or NULL */
        const char *target_id;      /* an ephemeral container's target (shared pid namespace) */
} kubelet_start_info;

char *kubelet_expand_vars(const char *in, const cJSON *env);
/* The container's environment as a JSON object name -> value; -errno with a message fit
 * for CreateContainerConfigError (a missing ConfigMap/Secret/key that is not optional). */
int kubelet_container_env(kubelet *k, const cJSON *pod, const cJSON *container, const char *pod_ip, cJSON **ret,
                          kn_error *err);
/* Service link variables ({NAME}_SERVICE_HOST, …) for namespace NS (all of its Services
 * when LINKS, and always the default namespace's "kubernetes"). */
void kubelet_service_env(kubelet *k, const char *ns, bool links, cJSON *env);

/* The pod's directory, ROOT/pods/UID. */
char *kubelet_pod_dir(kubelet *k, const char *uid);
/* /var/log/pods/NS_NAME_UID */
char *kubelet_pod_log_dir(kubelet *k, const cJSON *pod);

cJSON *kubelet_sandbox_config(kubelet *k, const cJSON *pod, uint32_t attempt, const char *cgroup_parent);
int kubelet_container_config(kubelet *k, const cJSON *pod, const cJSON *container, const kubelet_start_info *si,
                             cJSON **ret, kn_error *err);
/* Write ROOT/pods/UID/etc-hosts for a pod not on the host network (upstream's managed
 * hosts file). */
int kubelet_write_hosts(kubelet *k, const cJSON *pod, const char *pod_ip, const char *path, kn_error *err);
/* The pod's hostname (hostnameOverride, else spec.hostname, else its name; ≤ 63
 * characters) and, with a subdomain, its domain "SUB.NS.svc.CLUSTER-DOMAIN" (else ""). */
void kubelet_pod_hostname(kubelet *k, const cJSON *pod, char host[64], char domain[256]);
/* The container spec's hash, as kept in ANN_CONTAINER_HASH ("%x"). */
void kubelet_container_hash(const cJSON *container, char ret[17]);

/* A sysctl name with slashes as separators ("net/ipv4/conf/eth0.100/forwarding") in the
 * dotted form, dots and slashes swapped (upstream's NormalizeName); others as they are. */
char *kubelet_sysctl_name(const char *name);

/* Helpers on pod JSON. */
const char *kubelet_pod_str(const cJSON *pod, const char *path);
bool kubelet_pod_host_network(const cJSON *pod);

#endif
