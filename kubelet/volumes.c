/* SPDX-License-Identifier: Apache-2.0 */
/* Volume setup and teardown for one pod: the per-kubelet state, emptyDir, hostPath, the
 * wrappers of configMap/secret/downwardAPI/projected (a disk dir or a tmpfs under the
 * atomic writer) and the teardown. Contents come from volume_sources.c, container mounts
 * from volume_mounts.c. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include "../core/log.h"
#include "../core/quantity.h"
#include "volumes_int.h"

#define EMPTY_DIR "kubernetes.io~empty-dir"

bool kubelet_vol_name_ok(const char *s)
{
        size_t n = s ? strlen(s) : 0;

        if (!n || n > 253 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                      *s == '-' || *s == '.' || *s == '_'))
                        return false;
        return true;
}

int kubelet_volumes_new(kn_api *api, const char *root_dir, const char *node_name, kubelet_volumes **ret)
{
        kubelet_volumes *v;
        struct stat st;
        int r;

        if (!root_dir || root_dir[0] != '/')
                return -EINVAL;
        r = kubelet_mkdir_p(root_dir, 0750);
        if (r < 0)
                return r;
        v = kn_calloc(1, sizeof(*v));
        v->api = api;
        v->root = kn_strdup(root_dir);
        v->node_name = kn_strdup(node_name ? node_name : "");
        v->selinux = stat("/sys/fs/selinux/enforce", &st) == 0;
        pthread_mutex_init(&v->mu, NULL);
        *ret = v;
        return 0;
}

void kubelet_volumes_free(kubelet_volumes *v)
{
        if (!v)
                return;
        kubelet_tokens_free(v);
        pthread_mutex_destroy(&v->mu);
        free(v->root);
        free(v->node_name);
        free(v);
}

static int64_t json_quantity_value(const cJSON *j, bool milli)
{
        kn_quantity q;

        if (kn_quantity_from_json(j, &q) < 0)
                return 0;
        return milli ? kn_quantity_milli_value(&q) : kn_quantity_value(&q);
}

void kubelet_volumes_set_node_allocatable(kubelet_volumes *v, const cJSON *a)
{
        int64_t cpu = json_quantity_value(cJSON_GetObjectItemCaseSensitive(a, "cpu"), true);
        int64_t mem = json_quantity_value(cJSON_GetObjectItemCaseSensitive(a, "memory"), false);
        int64_t eph = json_quantity_value(cJSON_GetObjectItemCaseSensitive(a, "ephemeral-storage"), false);

        pthread_mutex_lock(&v->mu);
        v->alloc_cpu_milli = cpu > 0 ? cpu : 0;
        v->alloc_memory = mem > 0 ? mem : 0;
        v->alloc_ephemeral = eph > 0 ? eph : 0;
        pthread_mutex_unlock(&v->mu);
}

int64_t kubelet_volumes_allocatable(kubelet_volumes *v, const char *resource)
{
        int64_t r = 0;
        struct statvfs sv;

        pthread_mutex_lock(&v->mu);
        if (strcmp(resource, "cpu") == 0)
                r = v->alloc_cpu_milli;
        else if (strcmp(resource, "memory") == 0)
                r = v->alloc_memory;
        else if (strcmp(resource, "ephemeral-storage") == 0)
                r = v->alloc_ephemeral;
        pthread_mutex_unlock(&v->mu);
        if (r > 0)
                return r;
        if (strcmp(resource, "cpu") == 0)
                return sysconf(_SC_NPROCESSORS_ONLN) * 1000;
        if (strcmp(resource, "memory") == 0)
                return (int64_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
        if (strcmp(resource, "ephemeral-storage") == 0 && statvfs(v->root, &sv) == 0)
                return (int64_t)sv.f_blocks * (int64_t)sv.f_frsize;
        return 0;
}

/* A container's limits.memory, or -1 if it has none. */
static int64_t container_mem_limit(const cJSON *c)
{
        const cJSON *m = kn_json_path(c, "resources.limits.memory");
        int64_t v = m ? json_quantity_value(m, false) : 0;
        return v > 0 ? v : -1;
}

/* The pod's memory limit as its cgroup gets it (0: unlimited): pod-level resources, or
 * the sum of containers and sidecars against the largest init container, plus overhead. */
static int64_t pod_memory_limit(const cJSON *pod)
{
        const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec"), *c;
        const cJSON *pl = kn_json_path(spec, "resources.limits.memory");
        int64_t sum = 0, init = 0, l;

        if (pl)
                return json_quantity_value(pl, false) > 0 ? json_quantity_value(pl, false) : 0;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(spec, "containers")) {
                if ((l = container_mem_limit(c)) < 0)
                        return 0;
                sum += l;
        }
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(spec, "initContainers")) {
                if ((l = container_mem_limit(c)) < 0)
                        return 0;
                if (kn_streq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "restartPolicy")), "Always"))
                        sum += l;
                else if (l > init)
                        init = l;
        }
        if (!sum && !init)
                return 0;
        return (sum > init ? sum : init) + json_quantity_value(kn_json_path(spec, "overhead.memory"), false);
}

/* upstream's calculateEmptyDirMemorySize: node allocatable, or less: the pod's limit,
 * the volume's sizeLimit. */
static int64_t tmpfs_size(kubelet_volumes *v, const cJSON *pod, const cJSON *size_limit)
{
        int64_t size = kubelet_volumes_allocatable(v, "memory"), pod_limit = pod_memory_limit(pod), vl;

        if (pod_limit > 0 && pod_limit <= size)
                size = pod_limit;
        vl = size_limit ? json_quantity_value(size_limit, false) : 0;
        if (vl > 0 && vl <= size)
                size = vl;
        return size;
}

static int setup_dir(const char *dir, mode_t mode, kn_error *err)
{
        struct stat st;
        int r = kubelet_mkdir_p(dir, mode);

        if (r < 0)
                return kn_error_set(err, r, "mkdir %s: %s", dir, strerror(-r));
        if (lstat(dir, &st) < 0)
                return kn_error_set(err, -errno, "stat %s: %s", dir, strerror(errno));
        if ((st.st_mode & 0777) != (mode & 0777) && chmod(dir, (st.st_mode & 07000) | mode) < 0)
                return kn_error_set(err, -errno, "chmod %s: %s", dir, strerror(errno));
        return 0;
}

static int setup_empty_dir(kubelet_volumes *v, const kubelet_pod_ctx *pc, const char *poddir, const char *name,
                           const cJSON *src, kn_error *err)
{
        _cleanup_free_ char *dir = kn_asprintf("%s/volumes/" EMPTY_DIR "/%s", poddir, name);
        _cleanup_free_ char *meta = kn_asprintf("%s/plugins/" EMPTY_DIR "/%s", poddir, name);
        _cleanup_free_ char *ready = kn_asprintf("%s/ready", meta);
        const char *medium = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(src, "medium"));
        const cJSON *size_limit = cJSON_GetObjectItemCaseSensitive(src, "sizeLimit");
        bool memory = kn_streq(medium, "Memory");
        kn_quantity q;
        int r;

        if (medium && *medium && !memory)
                return kn_error_set(err, -EOPNOTSUPP, "emptyDir medium %s is not supported", medium);
        if (size_limit && kn_quantity_from_json(size_limit, &q) < 0)
                return kn_error_set(err, -EINVAL, "invalid emptyDir sizeLimit");
        if (access(ready, F_OK) == 0 &&
            (!memory || kubelet_is_mount_point_at(AT_FDCWD, dir) > 0))
                return 0;
        r = setup_dir(dir, 0777, err);
        if (r < 0)
                return r;
        if (memory) {
                r = kubelet_mount_tmpfs(dir, tmpfs_size(v, pc->pod, size_limit), err);
                if (r < 0)
                        return r;
        } else if (size_limit) {
                kn_v(2, "emptyDir %s of pod %s/%s: sizeLimit %s is enforced by eviction, not by the file system",
                     name, pc->ns, pc->name, cJSON_IsString(size_limit) ? size_limit->valuestring : "(number)");
        }
        if (pc->fs_group >= 0) {
                r = kubelet_set_ownership(dir, pc->fs_group, false, err);
                if (r < 0)
                        return r;
        }
        r = kubelet_mkdir_p(meta, 0750);
        if (r >= 0) {
                int fd = open(ready, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
                r = fd < 0 ? -errno : close(fd);
        }
        if (r < 0)
                return kn_error_set(err, r, "write %s: %s", ready, strerror(-r));
        return 0;
}

static const char *file_type(mode_t m)
{
        switch (m & S_IFMT) {
        case S_IFDIR:
                return "Directory";
        case S_IFREG:
                return "File";
        case S_IFSOCK:
                return "Socket";
        case S_IFCHR:
                return "CharDevice";
        case S_IFBLK:
                return "BlockDevice";
        }
        return NULL;
}

/* upstream's checkType and its messages */
static int setup_host_path(const cJSON *src, kn_error *err)
{
        const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(src, "path"));
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(src, "type"));
        static const struct {
                const char *type, *want, *desc;
        } types[] = {{"DirectoryOrCreate", "Directory", "directory"}, {"Directory", "Directory", "directory"},
                     {"FileOrCreate", "File", "file"},                {"File", "File", "file"},
                     {"Socket", "Socket", "socket file"},             {"CharDevice", "CharDevice", "character device"},
                     {"BlockDevice", "BlockDevice", "block device"}};
        struct stat st;
        size_t i;

        if (!path || path[0] != '/')
                return kn_error_set(err, -EINVAL, "hostPath %s is not an absolute path", path ? path : "\"\"");
        if (!type || !*type)
                return 0;
        for (i = 0; i < KN_ARRAY_SIZE(types) && strcmp(types[i].type, type); i++)
                ;
        if (i == KN_ARRAY_SIZE(types))
                return kn_error_set(err, -EINVAL, "%s is an invalid volume type", type);
        if (stat(path, &st) < 0 && errno == ENOENT) {
                if (strcmp(type, "DirectoryOrCreate") == 0) {
                        int r = kubelet_mkdir_p(path, 0755);
                        return r < 0 ? kn_error_set(err, r, "mkdir %s: %s", path, strerror(-r)) : 0;
                }
                if (strcmp(type, "FileOrCreate") == 0) {
                        int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
                        if (fd < 0 && errno != EEXIST)
                                return kn_error_set(err, -errno, "open %s: %s", path, strerror(errno));
                        if (fd >= 0)
                                close(fd);
                        return 0;
                }
        }
        if (stat(path, &st) < 0 || !file_type(st.st_mode) || strcmp(file_type(st.st_mode), types[i].want) != 0)
                return kn_error_set(err, -EINVAL, "hostPath type check failed: %s is not a %s", path, types[i].desc);
        return 0;
}

static int ownership_ro(const char *dir, void *u, kn_error *err)
{
        return kubelet_set_ownership(dir, *(const int64_t *)u, true, err);
}

/* filepath.Clean: no empty or "." components, ".." applied lexically (kept at the
 * start of a relative path, dropped at the root), no trailing slash. */
static char *clean_mount_path(const char *in)
{
        size_t n = strlen(in), depth = 0;
        const char **comp = kn_calloc(n / 2 + 2, sizeof(*comp));
        size_t *len = kn_calloc(n / 2 + 2, sizeof(*len));
        bool abs = in[0] == '/';
        kn_buf b = {0};

        for (const char *s = in; *s;) {
                size_t l = strcspn(s, "/");
                bool dotdot = l == 2 && s[0] == '.' && s[1] == '.';
                if (dotdot && depth && !(len[depth - 1] == 2 && strncmp(comp[depth - 1], "..", 2) == 0))
                        depth--;
                else if ((dotdot && !abs) || (!dotdot && l && !(l == 1 && s[0] == '.')))
                        comp[depth] = s, len[depth++] = l;
                s += l;
                s += *s == '/';
        }
        for (size_t i = 0; i < depth; i++) {
                if (i || abs)
                        kn_buf_append(&b, "/", 1);
                kn_buf_append(&b, comp[i], len[i]);
        }
        if (!b.len)
                kn_buf_printf(&b, abs ? "/" : ".");
        free(comp);
        free(len);
        return b.data;
}

static bool beneath(const char *path, const char *dir)
{
        size_t n = strlen(dir);
        if (strcmp(dir, "/") == 0)
                return path[0] == '/' && path[1];
        return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* upstream's MakeNestedMountpoints: when a container mounts another volume beneath this
 * read-only one, the mount point must exist in it, so it is made here (0755); only the
 * outermost ones, as deeper ones are in the nested volume. */
static int make_nested_mountpoints(const cJSON *pod, const char *name, const char *dir, kn_error *err)
{
        const char *lists[] = {"spec.initContainers", "spec.containers"};
        const cJSON *c, *vm;
        int r = 0;

        for (size_t l = 0; l < 2 && r >= 0; l++)
                cJSON_ArrayForEach(c, kn_json_path(pod, lists[l])) {
                        const cJSON *vms = cJSON_GetObjectItemCaseSensitive(c, "volumeMounts");
                        size_t n = 0, cap = (size_t)cJSON_GetArraySize(vms);
                        char **mps = kn_calloc(cap ? cap : 1, sizeof(char *));
                        bool *mine = kn_calloc(cap ? cap : 1, sizeof(bool));

                        cJSON_ArrayForEach(vm, vms) {
                                const char *mp = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(vm, "mountPath"));
                                if (!mp || n >= cap)
                                        continue;
                                mine[n] = kn_streq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(vm, "name")),
                                                   name);
                                mps[n++] = clean_mount_path(mp);
                        }
                        for (size_t i = 0; i < n && r >= 0; i++) {
                                if (!mine[i])
                                        continue;
                                if (strncmp(mps[i], "../", 3) == 0 || strcmp(mps[i], "..") == 0) {
                                        r = kn_error_set(err, -EINVAL, "invalid container mount point %s", mps[i]);
                                        break;
                                }
                                for (size_t j = 0; j < n && r >= 0; j++) {
                                        bool deeper = false;
                                        if (!beneath(mps[j], mps[i]))
                                                continue;
                                        for (size_t k = 0; k < n && !deeper; k++)
                                                deeper = k != j && beneath(mps[k], mps[i]) && beneath(mps[j], mps[k]);
                                        if (deeper)
                                                continue;
                                        const char *rel = mps[j] + strlen(mps[i]) + (strcmp(mps[i], "/") != 0);
                                        if (strncmp(rel, "..", 2) == 0) { /* the atomic writer's names */
                                                r = kn_error_set(err, -EINVAL, "invalid container mount point %s",
                                                                 mps[j]);
                                                break;
                                        }
                                        _cleanup_free_ char *full = kn_asprintf("%s/%s", dir, rel);
                                        r = kubelet_mkdir_p(full, 0755);
                                        if (r < 0)
                                                kn_error_set(err, r, "unable to create nested volume mountpoints: %s",
                                                             strerror(-r));
                                }
                        }
                        for (size_t i = 0; i < n; i++)
                                free(mps[i]);
                        free(mps);
                        free(mine);
                        if (r < 0)
                                break;
                }
        return r;
}

/* configMap (disk), secret, downwardAPI, projected (tmpfs): the wrapper, then the atomic writer. */
static int setup_projection(kubelet_volumes *v, const kubelet_pod_ctx *pc, const char *poddir, const char *name,
                            const char *kind, const cJSON *src, kn_error *err)
{
        static const struct {
                const char *kind, *plugin;
                bool memory;
        } kinds[] = {{"configMap", "kubernetes.io~configmap", false},
                     {"secret", "kubernetes.io~secret", true},
                     {"downwardAPI", "kubernetes.io~downward-api", true},
                     {"projected", "kubernetes.io~projected", true}};
        kubelet_payload p = {0};
        _cleanup_free_ char *dir = NULL;
        unsigned mode;
        size_t i;
        int r;

        for (i = 0; strcmp(kinds[i].kind, kind); i++)
                ;
        const cJSON *dm = cJSON_GetObjectItemCaseSensitive(src, "defaultMode");
        mode = KUBELET_VOL_DEFAULT_MODE;
        if (dm) {
                if (!cJSON_IsNumber(dm) || dm->valuedouble < 0 || dm->valuedouble > 0777 ||
                    dm->valuedouble != (double)dm->valueint)
                        return kn_error_set(err, -EINVAL, "invalid defaultMode");
                mode = (unsigned)dm->valueint;
        }
        /* gather first: a failure leaves the last good contents in place */
        if (strcmp(kind, "configMap") == 0)
                r = kubelet_configmap_payload(v, pc, src, mode, &p, err);
        else if (strcmp(kind, "secret") == 0)
                r = kubelet_secret_payload(v, pc, src, mode, &p, err);
        else if (strcmp(kind, "downwardAPI") == 0)
                r = kubelet_downward_payload(v, pc, cJSON_GetObjectItemCaseSensitive(src, "items"), mode, &p, err);
        else
                r = kubelet_projected_payload(v, pc, src, &p, err);
        if (r < 0)
                goto out;
        dir = kn_asprintf("%s/volumes/%s/%s", poddir, kinds[i].plugin, name);
        r = setup_dir(dir, 0777, err);
        if (r >= 0 && kinds[i].memory)
                r = kubelet_mount_tmpfs(dir, tmpfs_size(v, pc->pod, NULL), err);
        if (r >= 0)
                r = make_nested_mountpoints(pc->pod, name, dir, err);
        if (r >= 0)
                r = kubelet_atomic_write(dir, &p, pc->fs_group >= 0 ? ownership_ro : NULL, (void *)&pc->fs_group,
                                         err);
out:
        kubelet_payload_free(&p);
        return r;
}

static int64_t json_int(const cJSON *j, int64_t def)
{
        return cJSON_IsNumber(j) ? (int64_t)j->valuedouble : def;
}

/* upstream's FsUserFrom: the one runAsUser all containers share, or -1. */
static int64_t fs_user(const cJSON *spec)
{
        const char *lists[] = {"initContainers", "containers"};
        int64_t pod = json_int(kn_json_path(spec, "securityContext.runAsUser"), -1), user = -1;
        const cJSON *c;

        for (size_t i = 0; i < 2; i++)
                cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(spec, lists[i])) {
                        int64_t u = json_int(kn_json_path(c, "securityContext.runAsUser"), pod);
                        if (u < 0 || (user >= 0 && u != user))
                                return -1;
                        user = u;
                }
        return user;
}

int kubelet_pod_ctx_init(const cJSON *pod, kubelet_pod_ctx *pc, kn_error *err)
{
        const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");

        *pc = (kubelet_pod_ctx){
                .pod = pod,
                .ns = cJSON_GetStringValue(kn_json_path(pod, "metadata.namespace")),
                .name = cJSON_GetStringValue(kn_json_path(pod, "metadata.name")),
                .uid = cJSON_GetStringValue(kn_json_path(pod, "metadata.uid")),
                .fs_group = json_int(kn_json_path(spec, "securityContext.fsGroup"), -1),
                .fs_user = fs_user(spec),
        };
        if (!pc->name || !kubelet_vol_name_ok(pc->uid))
                return kn_error_set(err, -EINVAL, "pod without a name or a valid uid");
        if (!pc->ns || !pc->ns[0])
                pc->ns = "default"; /* a static pod's file may leave it out */
        return 0;
}

static const char *const unsupported[] = {
        "persistentVolumeClaim", "ephemeral", "csi", "image", "nfs", "iscsi", "rbd", "cephfs", "fc", "flexVolume",
        "gitRepo", "awsElasticBlockStore", "gcePersistentDisk", "azureDisk", "azureFile", "glusterfs", "cinder",
        "vsphereVolume", "portworxVolume", "flocker", "quobyte", "scaleIO", "storageos", "photonPersistentDisk"};

static int setup_volume(kubelet_volumes *v, const kubelet_pod_ctx *pc, const char *poddir, const cJSON *vol,
                        kn_error *err)
{
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(vol, "name"));
        const char *proj[] = {"configMap", "secret", "downwardAPI", "projected"};
        const cJSON *src;

        if ((src = cJSON_GetObjectItemCaseSensitive(vol, "emptyDir")))
                return setup_empty_dir(v, pc, poddir, name, src, err);
        if ((src = cJSON_GetObjectItemCaseSensitive(vol, "hostPath")))
                return setup_host_path(src, err);
        for (size_t i = 0; i < KN_ARRAY_SIZE(proj); i++)
                if ((src = cJSON_GetObjectItemCaseSensitive(vol, proj[i])))
                        return setup_projection(v, pc, poddir, name, proj[i], src, err);
        for (size_t i = 0; i < KN_ARRAY_SIZE(unsupported); i++)
                if (cJSON_GetObjectItemCaseSensitive(vol, unsupported[i]))
                        return kn_error_set(err, -EOPNOTSUPP, "volume type %s is not supported by knode",
                                            unsupported[i]);
        return kn_error_set(err, -EOPNOTSUPP, "volume has no supported source");
}

int kubelet_volumes_setup(kubelet_volumes *v, const cJSON *pod, kn_error *err)
{
        const cJSON *vols = kn_json_path(pod, "spec.volumes"), *vol;
        _cleanup_free_ char *poddir = NULL, *voldir = NULL, *plugdir = NULL;
        kubelet_pod_ctx pc;
        int r, first = 0;

        r = kubelet_pod_ctx_init(pod, &pc, err);
        if (r < 0)
                return r;
        if (cJSON_GetArraySize(vols) > KUBELET_VOL_MAX_VOLUMES)
                return kn_error_set(err, -E2BIG, "pod %s/%s has more than %d volumes", pc.ns, pc.name,
                                    KUBELET_VOL_MAX_VOLUMES);
        poddir = kn_asprintf("%s/pods/%s", v->root, pc.uid);
        voldir = kn_asprintf("%s/volumes", poddir);
        plugdir = kn_asprintf("%s/plugins", poddir);
        if ((r = kubelet_mkdir_p(voldir, 0750)) < 0 || (r = kubelet_mkdir_p(plugdir, 0750)) < 0)
                return kn_error_set(err, r, "failed to create the directories of pod %s/%s: %s", pc.ns, pc.name,
                                    strerror(-r));
        cJSON_ArrayForEach(vol, vols) {
                const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(vol, "name"));
                kn_error e = {0};

                if (!kubelet_vol_name_ok(name))
                        r = kn_error_set(&e, -EINVAL, "invalid volume name");
                else
                        r = setup_volume(v, &pc, poddir, vol, &e);
                if (r < 0) {
                        kn_v(2, "MountVolume.SetUp failed for volume \"%s\" of pod %s/%s: %s", name ? name : "",
                             pc.ns, pc.name, e.msg);
                        if (!first)
                                first = kn_error_set(err, r, "MountVolume.SetUp failed for volume \"%s\" : %s",
                                                     name ? name : "", e.msg);
                }
        }
        return first;
}

/* Unmount what is mounted on NAME under DFD (lazily if busy). */
static int unmount_at(int dfd, const char *path, const char *name)
{
        _cleanup_free_ char *full = kn_asprintf("%s/%s", path, name);
        int r;

        for (int i = 0; i < 8 && (r = kubelet_is_mount_point_at(dfd, name)) > 0; i++)
                if (umount2(full, UMOUNT_NOFOLLOW) < 0 && umount2(full, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
                        return -errno;
        return r < 0 && r != -ENOENT ? r : 0;
}

/* Unmount every mount LEVELS directories below DIR (volumes/PLUGIN/NAME: 2,
 * volume-subpaths/VOLUME/CONTAINER/INDEX: 3). */
static int unmount_tree(const char *dir, int levels)
{
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d;
        struct dirent *e;
        int r = 0;

        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        d = fdopendir(TAKE_FD(fd));
        if (!d)
                return -errno;
        while ((e = readdir(d))) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                int q = levels == 1 ? unmount_at(dirfd(d), dir, e->d_name) : 0;
                struct stat st;
                if (levels > 1 && (e->d_type == DT_DIR || (e->d_type == DT_UNKNOWN &&
                                                           fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                                                           S_ISDIR(st.st_mode)))) {
                        _cleanup_free_ char *sub = kn_asprintf("%s/%s", dir, e->d_name);
                        q = unmount_tree(sub, levels - 1);
                }
                if (q < 0 && r == 0)
                        r = q;
        }
        closedir(d);
        return r;
}

int kubelet_volumes_teardown(kubelet_volumes *v, const char *pod_uid, kn_error *err)
{
        _cleanup_free_ char *poddir = NULL, *subpaths = NULL, *vols = NULL;
        _cleanup_close_ int fd = -1;
        const char *const dirs[] = {"volume-subpaths", "volumes", "plugins"};
        int r;

        if (!kubelet_vol_name_ok(pod_uid))
                return kn_error_set(err, -EINVAL, "invalid pod uid");
        kubelet_tokens_forget(v, pod_uid);
        poddir = kn_asprintf("%s/pods/%s", v->root, pod_uid);
        fd = open(poddir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : kn_error_set(err, -errno, "open %s: %s", poddir, strerror(errno));
        subpaths = kn_asprintf("%s/volume-subpaths", poddir);
        vols = kn_asprintf("%s/volumes", poddir);
        if ((r = unmount_tree(subpaths, 3)) < 0 || (r = unmount_tree(vols, 2)) < 0)
                return kn_error_set(err, r, "failed to unmount the volumes of pod %s: %s", pod_uid, strerror(-r));
        for (size_t i = 0; i < KN_ARRAY_SIZE(dirs); i++) {
                r = kubelet_rm_rf_at(fd, dirs[i]);
                if (r < 0)
                        return kn_error_set(err, r, "failed to remove %s/%s: %s", poddir, dirs[i],
                                            r == -EBUSY ? "a mount point is still there" : strerror(-r));
        }
        if (rmdir(poddir) < 0 && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT)
                kn_v(2, "kept %s: %s", poddir, strerror(errno));
        kn_v(3, "tore down the volumes of pod %s", pod_uid);
        return 0;
}
