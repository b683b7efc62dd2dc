/* SPDX-License-Identifier: Apache-2.0 */
/* The kubelet's volumes for one pod, independent of CRI: emptyDir (disk or tmpfs),
 * hostPath (with upstream's type checks), configMap, secret, downwardAPI and projected
 * (configMap, secret, downwardAPI, serviceAccountToken) laid out as upstream's kubelet
 * does, so tools that know /var/lib/kubelet find their way:
 *
 *   ROOT/pods/UID/volumes/kubernetes.io~empty-dir/NAME      0777 dir, or a tmpfs (1777)
 *   ROOT/pods/UID/volumes/kubernetes.io~configmap/NAME      0777 dir on disk
 *   ROOT/pods/UID/volumes/kubernetes.io~secret/NAME         tmpfs
 *   ROOT/pods/UID/volumes/kubernetes.io~downward-api/NAME   tmpfs
 *   ROOT/pods/UID/volumes/kubernetes.io~projected/NAME      tmpfs
 *   ROOT/pods/UID/plugins/kubernetes.io~empty-dir/NAME/ready
 *   ROOT/pods/UID/volume-subpaths/VOLUME/CONTAINER/INDEX     bind mounts of subPaths
 *
 * configMap, secret, downwardAPI and projected contents are written like upstream's
 * atomic writer: files live in a `..YYYY_MM_DD_HH_MM_SS.N` directory, `..data` is a
 * symlink to it replaced by rename(2), and each top-level user-visible name is a symlink
 * to `..data/NAME`; readers see the old set or the new set, never a mix.
 *
 * Threads: calls for one pod must not overlap (the pod worker serializes them); calls for
 * different pods may run concurrently. Needs CAP_SYS_ADMIN for tmpfs and subPath mounts. */
#ifndef KUBELET_VOLUMES_H
#define KUBELET_VOLUMES_H

#include <stdbool.h>

#include "../core/api.h"

/* CRI's MountPropagation values. */
enum kubelet_propagation {
        KUBELET_PROPAGATION_PRIVATE = 0,           /* "None" or unset */
        KUBELET_PROPAGATION_HOST_TO_CONTAINER = 1, /* rslave */
        KUBELET_PROPAGATION_BIDIRECTIONAL = 2,     /* rshared; privileged containers only */
};

typedef struct kubelet_mount {
        char *host_path;      /* absolute; for a subPath, its bind mount under volume-subpaths */
        char *container_path; /* volumeMounts[].mountPath as given */
        bool readonly;        /* readOnly, and always for configMap/secret/downwardAPI/projected */
        int propagation;      /* enum kubelet_propagation */
        bool selinux_relabel; /* SELinux is enabled and the volume may be relabeled (not hostPath) */
} kubelet_mount;

typedef struct kubelet_volumes kubelet_volumes;

/* API (borrowed, must outlive V) is used for configMaps, secrets and TokenRequests;
 * ROOT_DIR is the kubelet's --root-dir (/var/lib/kubelet), created if missing. */
int kubelet_volumes_new(kn_api *api, const char *root_dir, const char *node_name, kubelet_volumes **ret);
void kubelet_volumes_free(kubelet_volumes *v);

/* The Node's status.allocatable (a JSON map of quantities), for tmpfs sizes and
 * downwardAPI limits a container does not set. Until it is given, the machine's CPUs,
 * memory and the root dir's file system size stand in. Thread-safe. */
void kubelet_volumes_set_node_allocatable(kubelet_volumes *v, const cJSON *allocatable);

/* Make every volume of POD (the Pod JSON as the API returns it) ready under
 * ROOT/pods/UID/. Idempotent; called again (periodically, and when the pod changes) it
 * refreshes configMap/secret/downwardAPI/projected contents atomically and rotates
 * service-account tokens past 80% of their life. All volumes are attempted; the first
 * failure is returned as -errno with ERR->msg the FailedMount event text upstream uses:
 *   MountVolume.SetUp failed for volume "cfg" : configmap "x" not found
 * A missing optional configMap/secret/key is not a failure (an empty volume / no file).
 * Unsupported volume types (persistentVolumeClaim, csi, ephemeral, image, ...) fail with
 * -EOPNOTSUPP. */
int kubelet_volumes_setup(kubelet_volumes *v, const cJSON *pod, kn_error *err);

/* The mounts for CONTAINER (an element of POD's spec.containers or initContainers),
 * after kubelet_volumes_setup: its volumeMounts resolved to host paths, readOnly and
 * mountPropagation applied. subPath and subPathExpr (expanded with the container's env:
 * literal values and fieldRef metadata.*, spec.nodeName, spec.serviceAccountName; other
 * sources are refused with -EOPNOTSUPP) must stay inside the volume: absolute paths and
 * '..' are refused, the path is opened one component at a time without following
 * symlinks after resolving it, refused (-EXDEV) if it leaves the volume, created if it is
 * missing, and bind-mounted at volume-subpaths/VOLUME/CONTAINER/INDEX, so a container
 * swapping a component for a symlink later changes nothing. Not /etc/hosts nor the
 * termination log: the pod lifecycle adds those. *RET is an array of *RET_N mounts. */
int kubelet_volumes_mounts(kubelet_volumes *v, const cJSON *pod, const cJSON *container, kubelet_mount **ret,
                           size_t *ret_n, kn_error *err);
void kubelet_mounts_free(kubelet_mount *m, size_t n);

/* Tear down the volumes of the pod POD_UID once its containers are gone: unmount
 * subPath binds and tmpfs volumes, remove volumes/, plugins/ and volume-subpaths/ without
 * ever crossing into a mount point (-EBUSY if one stays), forget its tokens, and remove
 * ROOT/pods/UID if nothing else is left in it. Idempotent; 0 when nothing is there. */
int kubelet_volumes_teardown(kubelet_volumes *v, const char *pod_uid, kn_error *err);

#endif
