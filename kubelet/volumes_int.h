/* SPDX-License-Identifier: Apache-2.0 */
/* Shared between the kubelet/volume*.c files and their unit tests; not an interface. */
#ifndef KUBELET_VOLUMES_INT_H
#define KUBELET_VOLUMES_INT_H

#include <pthread.h>
#include <sys/stat.h>

#include "volumes.h"

/* Bounds on what remote input (Pod, ConfigMap, Secret) can make us write. */
#define KUBELET_VOL_MAX_OBJECT (1u << 20)   /* configMap / secret data, as the API server */
#define KUBELET_VOL_MAX_PAYLOAD (64u << 20) /* one volume's files together */
#define KUBELET_VOL_MAX_FILES 65536         /* one volume's files */
#define KUBELET_VOL_MAX_DEPTH 64            /* components in an item path */
#define KUBELET_VOL_MAX_VOLUMES 1024        /* volumes of one pod */

#define KUBELET_VOL_DEFAULT_MODE 0644 /* defaultMode of configMap, secret, downwardAPI, projected */

struct kubelet_token; /* volume_sources.c */

struct kubelet_volumes {
        kn_api *api; /* borrowed */
        char *root, *node_name;
        bool selinux;
        pthread_mutex_t mu; /* guards what follows */
        int64_t alloc_cpu_milli, alloc_memory, alloc_ephemeral; /* 0: unknown, use the machine's */
        struct kubelet_token *tokens;
};

/* One volume's files, by user-visible path. */
typedef struct kubelet_file {
        char *path;
        char *data;
        size_t len;
        unsigned mode;   /* 0..0777 */
        int64_t fs_user; /* owner, or -1 */
        size_t seq;      /* insertion order: a later file for the same path wins */
} kubelet_file;

typedef struct kubelet_payload {
        kubelet_file *files;
        size_t n, cap, total;
} kubelet_payload;

/* Takes DATA (malloc'ed, may be NULL when LEN is 0). -EFBIG past the bounds. */
int kubelet_payload_add(kubelet_payload *p, const char *path, char *data, size_t len, unsigned mode,
                        int64_t fs_user);
void kubelet_payload_free(kubelet_payload *p);

/* Called after the files are written, before the swap, with the volume dir. */
typedef int (*kubelet_perms_fn)(const char *dir, void *userdata, kn_error *err);

/* Upstream's atomic writer over DIR (which must exist). Validates item paths with its
 * messages ("invalid path: must not contain '..': a/../b"). */
int kubelet_atomic_write(const char *dir, kubelet_payload *p, kubelet_perms_fn set_perms, void *userdata,
                         kn_error *err);

/* ---- file system helpers (volume_fs.c) ---- */
/* mkdir DIR and missing parents with MODE (exactly, whatever the umask); an existing
 * directory is left as it is. */
int kubelet_mkdir_p(const char *dir, mode_t mode);
/* 1 if NAME (relative to DFD, not followed) is the root of a mount, 0 if not, -errno. */
int kubelet_is_mount_point_at(int dfd, const char *name);
/* Remove NAME under DFD recursively, never following symlinks nor entering another mount
 * (-EBUSY). ENOENT is success. */
int kubelet_rm_rf_at(int dfd, const char *name);
/* fsGroup ownership as upstream's SetVolumeOwnership: every entry gets group GID; files
 * get mode | (READONLY ? 0440 : 0660), directories that plus setgid and 0110; symlinks
 * only their group. */
int kubelet_set_ownership(const char *dir, int64_t gid, bool readonly, kn_error *err);
/* Mount a tmpfs of SIZE bytes (0: the kernel default) on DIR unless one is there. */
int kubelet_mount_tmpfs(const char *dir, int64_t size, kn_error *err);

/* ---- volume sources (volume_sources.c) ---- */
typedef struct kubelet_pod_ctx {
        const cJSON *pod;
        const char *ns, *name, *uid;
        int64_t fs_group, fs_user; /* -1: none */
} kubelet_pod_ctx;

int kubelet_configmap_payload(kubelet_volumes *v, const kubelet_pod_ctx *pc, const cJSON *src, unsigned default_mode,
                              kubelet_payload *p, kn_error *err);
int kubelet_secret_payload(kubelet_volumes *v, const kubelet_pod_ctx *pc, const cJSON *src, unsigned default_mode,
                           kubelet_payload *p, kn_error *err);
int kubelet_downward_payload(kubelet_volumes *v, const kubelet_pod_ctx *pc, const cJSON *items, unsigned default_mode,
                             kubelet_payload *p, kn_error *err);
int kubelet_projected_payload(kubelet_volumes *v, const kubelet_pod_ctx *pc, const cJSON *src, kubelet_payload *p,
                              kn_error *err);
/* The value of a downward API fieldRef path (metadata.name, metadata.labels['a'], ...). */
int kubelet_field_ref(const cJSON *pod, const char *path, char **ret, kn_error *err);
void kubelet_tokens_forget(kubelet_volumes *v, const char *pod_uid);
void kubelet_tokens_free(kubelet_volumes *v);
/* The mode of an item (its "mode", or DEFAULT): -EINVAL outside 0..0777. */
int kubelet_item_mode(const cJSON *item, unsigned def, unsigned *ret);

/* ---- volumes.c ---- */
/* Node allocatable of RESOURCE ("cpu" in millis, "memory", "ephemeral-storage" in bytes). */
int64_t kubelet_volumes_allocatable(kubelet_volumes *v, const char *resource);
/* namespace, name, uid (checked fit for a path), fsGroup, fsUser of POD */
int kubelet_pod_ctx_init(const cJSON *pod, kubelet_pod_ctx *pc, kn_error *err);
/* A Kubernetes object name fit to be one path component. */
bool kubelet_vol_name_ok(const char *s);

#endif
