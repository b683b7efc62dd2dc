/* SPDX-License-Identifier: Apache-2.0 */
/* A container's volumeMounts resolved to host paths (upstream's makeMounts), with
 * subPath and subPathExpr prepared as upstream's subpath package does: the path is
 * resolved, checked to stay inside the volume, opened one component at a time with
 * O_NOFOLLOW, and that very file is bind-mounted (through /proc/self/fd) at
 * volume-subpaths/VOLUME/CONTAINER/INDEX, the path the runtime then mounts. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "../core/log.h"
#include "volumes_int.h"

#define MAX_MOUNTS 1024
#define MAX_ENV 4096

static const struct {
        const char *field, *plugin;
        bool readonly;
} kinds[] = {{"emptyDir", "kubernetes.io~empty-dir", false},     {"configMap", "kubernetes.io~configmap", true},
             {"secret", "kubernetes.io~secret", true},           {"downwardAPI", "kubernetes.io~downward-api", true},
             {"projected", "kubernetes.io~projected", true}};

void kubelet_mounts_free(kubelet_mount *m, size_t n)
{
        for (size_t i = 0; m && i < n; i++) {
                free(m[i].host_path);
                free(m[i].container_path);
        }
        free(m);
}

/* ---- env for subPathExpr ---- */
typedef struct env_var {
        const char *name;
        char *value; /* NULL: from a source we cannot resolve here */
} env_var;

typedef struct env {
        env_var *v;
        size_t n;
        bool env_from; /* envFrom may define any name */
} env;

static const env_var *env_get(const env *e, const char *name, size_t len)
{
        for (size_t i = e->n; i-- > 0;) /* the last definition wins */
                if (strlen(e->v[i].name) == len && strncmp(e->v[i].name, name, len) == 0)
                        return &e->v[i];
        return NULL;
}

/* expansion.Expand: $(NAME) is looked up, $$ is $, anything else stays. For env values
 * (SUBPATH false) an unknown name stays as $(NAME); for subPathExpr it is missing.
 * *RET_UNRESOLVED / *RET_MISSING name the first such variable. */
static char *expand(const env *e, const char *in, bool subpath, char **ret_unresolved, char **ret_missing)
{
        kn_buf b = {0};

        for (const char *p = in; *p; p++) {
                if (*p != '$' || !p[1]) {
                        kn_buf_append(&b, p, 1);
                        continue;
                }
                if (p[1] == '$') {
                        kn_buf_append(&b, "$", 1);
                        p++;
                        continue;
                }
                const char *close = p[1] == '(' ? strchr(p + 2, ')') : NULL;
                if (!close) {
                        kn_buf_append(&b, p, 2);
                        p++;
                        continue;
                }
                const char *name = p + 2;
                size_t len = (size_t)(close - name);
                const env_var *v = env_get(e, name, len);
                if (v && !v->value) {
                        if (!*ret_unresolved)
                                *ret_unresolved = kn_strndup(name, len);
                } else if (v && *v->value) {
                        kn_buf_printf(&b, "%s", v->value);
                } else if (!v && e->env_from) {
                        if (!*ret_unresolved)
                                *ret_unresolved = kn_strndup(name, len);
                } else if (!subpath && !v) {
                        kn_buf_append(&b, p, (size_t)(close - p) + 1);
                } else if (subpath && !*ret_missing) {
                        *ret_missing = kn_strndup(name, len);
                }
                p = close;
        }
        return b.data ? b.data : kn_strdup("");
}

static void env_free(env *e)
{
        for (size_t i = 0; i < e->n; i++)
                free(e->v[i].value);
        free(e->v);
}

static void env_build(kubelet_volumes *v, const cJSON *pod, const cJSON *container, env *e)
{
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(container, "env"), *x;

        e->v = kn_calloc((size_t)cJSON_GetArraySize(list) + 1, sizeof(*e->v));
        e->env_from = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(container, "envFrom")) > 0;
        cJSON_ArrayForEach(x, list) {
                const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "name"));
                const cJSON *val = cJSON_GetObjectItemCaseSensitive(x, "value");
                const char *fp = cJSON_GetStringValue(kn_json_path(x, "valueFrom.fieldRef.fieldPath"));
                char *value = NULL;

                if (!name || e->n >= MAX_ENV)
                        continue;
                if (cJSON_IsString(val)) {
                        char *unresolved = NULL, *missing = NULL;
                        value = expand(e, val->valuestring, false, &unresolved, &missing);
                        if (unresolved) {
                                free(value);
                                value = NULL;
                        }
                        free(unresolved);
                        free(missing);
                } else if (!cJSON_GetObjectItemCaseSensitive(x, "valueFrom")) {
                        value = kn_strdup("");
                } else if (fp && strcmp(fp, "spec.nodeName") == 0) {
                        const char *nn = cJSON_GetStringValue(kn_json_path(pod, "spec.nodeName"));
                        value = kn_strdup(nn ? nn : v->node_name);
                } else if (fp && strcmp(fp, "spec.serviceAccountName") == 0) {
                        const char *sa = cJSON_GetStringValue(kn_json_path(pod, "spec.serviceAccountName"));
                        value = kn_strdup(sa ? sa : "");
                } else if (fp && strncmp(fp, "metadata.", 9) == 0) {
                        if (kubelet_field_ref(pod, fp, &value, NULL) < 0)
                                value = NULL;
                }
                e->v[e->n].name = name;
                e->v[e->n].value = value;
                e->n++;
        }
}

/* ---- subPath ---- */

/* Open REL under ROOTFD one component at a time, refusing any symlink. */
static int open_beneath(int rootfd, const char *rel, kn_error *err)
{
        _cleanup_free_ char *copy = kn_strdup(rel);
        int fd = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        char *save = NULL;

        if (fd < 0)
                return -errno;
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                struct stat st;
                int next = openat(fd, c, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                close(fd);
                if (next < 0)
                        return -errno;
                if (fstat(next, &st) < 0 || S_ISLNK(st.st_mode)) {
                        close(next);
                        return kn_error_set(err, -ELOOP, "%s is a symlink", c);
                }
                fd = next;
        }
        return fd;
}

static bool within(const char *path, const char *base)
{
        size_t n = strlen(base);
        return strncmp(path, base, n) == 0 && (path[n] == '/' || path[n] == '\0' || strcmp(base, "/") == 0);
}

/* SafeMakeDir: create the missing components of SUB under VROOT with PERM, never
 * through a symlink and never outside. */
static int make_subdirs(const char *vroot, const char *sub, mode_t perm, kn_error *err)
{
        _cleanup_free_ char *copy = kn_strdup(sub);
        _cleanup_close_ int rootfd = -1, fd = -1;
        char *save = NULL, resolved[PATH_MAX];
        kn_buf have = {0};
        char *c;

        /* the longest prefix that exists, resolved, must stay in the volume */
        kn_buf_printf(&have, "%s", vroot);
        for (c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                _cleanup_free_ char *next = kn_asprintf("%s/%s", have.data, c);
                struct stat st;
                if (lstat(next, &st) < 0)
                        break;
                kn_buf_printf(&have, "/%s", c);
        }
        if (!realpath(have.data, resolved)) {
                kn_buf_free(&have);
                return kn_error_set(err, -errno, "resolve %s: %s", have.data, strerror(errno));
        }
        kn_buf_free(&have);
        if (!within(resolved, vroot))
                return kn_error_set(err, -EXDEV, "%s is outside the volume", resolved);
        rootfd = open(vroot, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return kn_error_set(err, -errno, "open %s: %s", vroot, strerror(errno));
        fd = open_beneath(rootfd, resolved[strlen(vroot)] ? resolved + strlen(vroot) + 1 : ".", err);
        if (fd < 0)
                return fd;
        for (; c; c = strtok_r(NULL, "/", &save)) {
                int next;
                if (mkdirat(fd, c, perm) < 0 && errno != EEXIST)
                        return kn_error_set(err, -errno, "mkdir %s: %s", c, strerror(errno));
                next = openat(fd, c, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
                if (next < 0)
                        return kn_error_set(err, -errno, "open %s: %s", c, strerror(errno));
                close(fd);
                fd = next;
                char proc[64];
                snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
                if (chmod(proc, perm) < 0)
                        return kn_error_set(err, -errno, "chmod %s: %s", c, strerror(errno));
        }
        return 0;
}

static int prepare_subpath(const char *poddir, const char *volpath, const char *sub, const char *volname,
                           const char *cname, size_t index, char **ret, kn_error *err)
{
        char vroot[PATH_MAX], resolved[PATH_MAX], proc[64];
        _cleanup_free_ char *full = NULL, *parent = NULL, *target = NULL;
        _cleanup_close_ int rootfd = -1, fd = -1;
        struct stat st, vst, tst;
        int r;

        if (!realpath(volpath, vroot))
                return kn_error_set(err, -errno, "resolve %s: %s", volpath, strerror(errno));
        if (stat(vroot, &vst) < 0)
                return kn_error_set(err, -errno, "stat %s: %s", vroot, strerror(errno));
        full = kn_asprintf("%s/%s", vroot, sub);
        if (lstat(full, &st) < 0 && errno == ENOENT) {
                /* created with the volume's mode, so the group access of fsGroup works */
                r = make_subdirs(vroot, sub, vst.st_mode & 07777, err);
                if (r < 0)
                        return r;
        }
        if (!realpath(full, resolved))
                return kn_error_set(err, -errno, "resolve %s: %s", full, strerror(errno));
        if (!within(resolved, vroot))
                return kn_error_set(err, -EXDEV, "subpath %s not within volume path %s", resolved, vroot);
        rootfd = open(vroot, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return kn_error_set(err, -errno, "open %s: %s", vroot, strerror(errno));
        fd = open_beneath(rootfd, resolved[strlen(vroot)] ? resolved + strlen(vroot) + 1 : ".", err);
        if (fd < 0)
                return fd == -ELOOP ? fd : kn_error_set(err, fd, "open %s: %s", resolved, strerror(-fd));
        if (fstat(fd, &st) < 0)
                return kn_error_set(err, -errno, "stat %s: %s", resolved, strerror(errno));

        parent = kn_asprintf("%s/volume-subpaths/%s/%s", poddir, volname, cname);
        target = kn_asprintf("%s/%zu", parent, index);
        r = kubelet_mkdir_p(parent, 0750);
        if (r < 0)
                return kn_error_set(err, r, "mkdir %s: %s", parent, strerror(-r));
        if (lstat(target, &tst) == 0 && kubelet_is_mount_point_at(AT_FDCWD, target) > 0) {
                if (tst.st_dev == st.st_dev && tst.st_ino == st.st_ino) {
                        *ret = TAKE_PTR(target);
                        return 0; /* already there */
                }
                if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
                        return kn_error_set(err, -errno, "unmount %s: %s", target, strerror(errno));
        }
        if (S_ISDIR(st.st_mode)) {
                if (mkdir(target, 0750) < 0 && errno != EEXIST)
                        return kn_error_set(err, -errno, "mkdir %s: %s", target, strerror(errno));
        } else {
                int t = open(target, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
                if (t < 0)
                        return kn_error_set(err, -errno, "create %s: %s", target, strerror(errno));
                close(t);
        }
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (mount(proc, target, NULL, MS_BIND, NULL) < 0)
                return kn_error_set(err, -errno, "bind %s on %s: %s", resolved, target, strerror(errno));
        *ret = TAKE_PTR(target);
        return 0;
}

static bool has_backsteps(const char *p)
{
        for (const char *s = p; *s;) {
                size_t l = strcspn(s, "/");
                if (l == 2 && s[0] == '.' && s[1] == '.')
                        return true;
                s += l;
                s += *s == '/';
        }
        return false;
}

static int one_mount(kubelet_volumes *v, const kubelet_pod_ctx *pc, const cJSON *container, const char *cname,
                     bool privileged, env *e, bool *have_env, const cJSON *vm, size_t index, kubelet_mount *m,
                     kn_error *err)
{
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(vm, "name"));
        const char *mpath = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(vm, "mountPath"));
        const char *sub = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(vm, "subPath"));
        const char *expr = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(vm, "subPathExpr"));
        const char *prop = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(vm, "mountPropagation"));
        _cleanup_free_ char *poddir = kn_asprintf("%s/pods/%s", v->root, pc->uid), *host = NULL, *expanded = NULL;
        const cJSON *vol = NULL, *x;
        bool ro = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(vm, "readOnly")), relabel = v->selinux;
        int r;

        cJSON_ArrayForEach(x, kn_json_path(pc->pod, "spec.volumes")) {
                if (kn_streq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "name")), name)) {
                        vol = x;
                        break;
                }
        }
        if (!vol || !kubelet_vol_name_ok(name))
                return kn_error_set(err, -ENOENT, "cannot find volume \"%s\" to mount into container \"%s\"",
                                    name ? name : "", cname);
        if (!mpath || !*mpath)
                return kn_error_set(err, -EINVAL, "volumeMount \"%s\" of container \"%s\" has no mountPath", name,
                                    cname);
        if ((x = cJSON_GetObjectItemCaseSensitive(vol, "hostPath"))) {
                const char *hp = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "path"));
                if (!hp || hp[0] != '/')
                        return kn_error_set(err, -EINVAL, "hostPath of volume \"%s\" is not an absolute path", name);
                host = kn_strdup(hp);
                relabel = false;
        } else {
                for (size_t i = 0; i < KN_ARRAY_SIZE(kinds) && !host; i++)
                        if (cJSON_GetObjectItemCaseSensitive(vol, kinds[i].field)) {
                                host = kn_asprintf("%s/volumes/%s/%s", poddir, kinds[i].plugin, name);
                                ro |= kinds[i].readonly;
                        }
                if (!host)
                        return kn_error_set(err, -EOPNOTSUPP, "volume \"%s\" has a type knode does not support",
                                            name);
        }
        if (!prop || !*prop || strcmp(prop, "None") == 0)
                m->propagation = KUBELET_PROPAGATION_PRIVATE;
        else if (strcmp(prop, "HostToContainer") == 0)
                m->propagation = KUBELET_PROPAGATION_HOST_TO_CONTAINER;
        else if (strcmp(prop, "Bidirectional") == 0 && privileged)
                m->propagation = KUBELET_PROPAGATION_BIDIRECTIONAL;
        else if (strcmp(prop, "Bidirectional") == 0)
                return kn_error_set(err, -EPERM,
                                    "Bidirectional mount propagation is available only to privileged containers");
        else
                return kn_error_set(err, -EINVAL, "invalid propagation mode %s", prop);

        if (expr && *expr) {
                char *unresolved = NULL, *missing = NULL;
                if (!*have_env) {
                        env_build(v, pc->pod, container, e);
                        *have_env = true;
                }
                expanded = expand(e, expr, true, &unresolved, &missing);
                if (unresolved) {
                        r = kn_error_set(err, -EOPNOTSUPP,
                                         "subPathExpr of volumeMount \"%s\" uses $(%s), whose source knode cannot "
                                         "resolve for volumes",
                                         name, unresolved);
                        free(unresolved);
                        free(missing);
                        return r;
                }
                if (missing) {
                        r = kn_error_set(err, -EINVAL, "missing value for %s", missing);
                        free(missing);
                        return r;
                }
                sub = expanded;
        }
        if (sub && *sub) {
                if (sub[0] == '/')
                        return kn_error_set(err, -EINVAL, "error SubPath `%s` must not be an absolute path", sub);
                if (has_backsteps(sub))
                        return kn_error_set(err, -EINVAL, "unable to provision SubPath `%s`: must not contain '..'",
                                            sub);
                char *target = NULL;
                kn_error e2 = {0};
                r = prepare_subpath(poddir, host, sub, name, cname, index, &target, &e2);
                if (r < 0) {
                        /* the details stay in the log: they describe the host */
                        kn_warn("failed to prepare subPath %s of volumeMount %s of container %s in pod %s/%s: %s", sub,
                                name, cname, pc->ns, pc->name, e2.msg);
                        return kn_error_set(err, r, "failed to prepare subPath for volumeMount \"%s\" of container \"%s\"",
                                            name, cname);
                }
                free(host);
                host = target;
        }
        m->host_path = TAKE_PTR(host);
        m->container_path = kn_strdup(mpath);
        m->readonly = ro;
        m->selinux_relabel = relabel;
        return 0;
}

int kubelet_volumes_mounts(kubelet_volumes *v, const cJSON *pod, const cJSON *container, kubelet_mount **ret,
                           size_t *ret_n, kn_error *err)
{
        const char *cname = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(container, "name"));
        const cJSON *vms = cJSON_GetObjectItemCaseSensitive(container, "volumeMounts"), *vm;
        bool privileged = cJSON_IsTrue(kn_json_path(container, "securityContext.privileged")), have_env = false;
        kubelet_mount *m;
        kubelet_pod_ctx pc;
        env e = {0};
        size_t n = 0;
        int r;

        r = kubelet_pod_ctx_init(pod, &pc, err);
        if (r < 0)
                return r;
        if (!kubelet_vol_name_ok(cname))
                return kn_error_set(err, -EINVAL, "invalid container name");
        if (cJSON_GetArraySize(vms) > MAX_MOUNTS)
                return kn_error_set(err, -E2BIG, "container \"%s\" has more than %d volumeMounts", cname, MAX_MOUNTS);
        m = kn_calloc((size_t)cJSON_GetArraySize(vms) + 1, sizeof(*m));
        cJSON_ArrayForEach(vm, vms) {
                r = one_mount(v, &pc, container, cname, privileged, &e, &have_env, vm, n, &m[n], err);
                if (r < 0) {
                        kubelet_mounts_free(m, n);
                        env_free(&e);
                        return r;
                }
                n++;
        }
        env_free(&e);
        *ret = m;
        *ret_n = n;
        return 0;
}
