/* SPDX-License-Identifier: Apache-2.0 */
/* File system helpers of the volume code: mkdir -p, mount points, a removal that never
 * crosses a mount, fsGroup ownership, tmpfs. Everything works relative to directory fds
 * and never follows a symlink it did not mean to. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "../core/log.h"
#include "volumes_int.h"

int kubelet_mkdir_p(const char *dir, mode_t mode)
{
        _cleanup_free_ char *p = kn_strdup(dir);
        struct stat st;

        for (char *s = p + 1;; s++) {
                if (*s != '/' && *s)
                        continue;
                char c = *s;
                *s = '\0';
                if (mkdir(p, mode) == 0) {
                        if (chmod(p, mode) < 0)
                                return -errno;
                } else if (errno != EEXIST) {
                        return -errno;
                } else if (stat(p, &st) < 0) {
                        return -errno;
                } else if (!S_ISDIR(st.st_mode)) {
                        return -ENOTDIR;
                }
                *s = c;
                if (!c)
                        return 0;
        }
}

int kubelet_is_mount_point_at(int dfd, const char *name)
{
        struct statx sx, parent;
        _cleanup_free_ char *up = NULL;
        char *slash;

        if (statx(dfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS, &sx) < 0)
                return -errno;
        if (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
                return !!(sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
        /* kernels before 5.8: another device than the parent's (misses same-fs binds) */
        up = kn_strdup(name);
        slash = strrchr(up, '/');
        if (!slash)
                strcpy(up, ".");
        else
                slash[slash == up] = '\0';
        if (statx(dfd, up, AT_NO_AUTOMOUNT, STATX_BASIC_STATS, &parent) < 0)
                return -errno;
        return sx.stx_dev_major != parent.stx_dev_major || sx.stx_dev_minor != parent.stx_dev_minor;
}

static int rm_rf(int dfd, const char *name, int depth)
{
        struct stat st;
        DIR *d;
        struct dirent *e;
        int fd, r = 0;

        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode))
                return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
        if (depth > 256)
                return -ELOOP;
        r = kubelet_is_mount_point_at(dfd, name);
        if (r != 0)
                return r < 0 ? r : -EBUSY;
        fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                close(fd);
                return r;
        }
        while ((e = readdir(d))) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                int q = rm_rf(fd, e->d_name, depth + 1);
                if (q < 0 && r == 0)
                        r = q;
        }
        closedir(d);
        if (r < 0)
                return r;
        return unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

int kubelet_rm_rf_at(int dfd, const char *name) { return rm_rf(dfd, name, 0); }

/* One entry: group, then mode unless a symlink. Directories are opened (no symlink
 * followed) so a name swapped under us changes nothing outside. */
static int own_one(int dfd, const char *name, gid_t gid, mode_t mask, int depth, kn_error *err);

static int own_dir(int fd, gid_t gid, mode_t mask, int depth, kn_error *err)
{
        DIR *d = fdopendir(fd);
        struct dirent *e;
        int r = 0;

        if (!d) {
                r = -errno;
                close(fd);
                return r;
        }
        while ((e = readdir(d)) && r >= 0)
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                        r = own_one(dirfd(d), e->d_name, gid, mask, depth + 1, err);
        closedir(d);
        return r;
}

static int own_one(int dfd, const char *name, gid_t gid, mode_t mask, int depth, kn_error *err)
{
        _cleanup_close_ int fd = -1;
        struct stat st;
        char proc[64];

        if (depth > 256)
                return kn_error_set(err, -ELOOP, "volume tree deeper than 256 levels");
        fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : kn_error_set(err, -errno, "open %s: %s", name, strerror(errno));
        if (fstat(fd, &st) < 0)
                return kn_error_set(err, -errno, "stat %s: %s", name, strerror(errno));
        if (S_ISLNK(st.st_mode)) {
                if (fchownat(fd, "", (uid_t)-1, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
                        return kn_error_set(err, -errno, "chown %s: %s", name, strerror(errno));
                return 0;
        }
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (fchownat(fd, "", (uid_t)-1, gid, AT_EMPTY_PATH) < 0)
                return kn_error_set(err, -errno, "chown %s: %s", name, strerror(errno));
        mode_t m = mask | (S_ISDIR(st.st_mode) ? (S_ISGID | 0110) : 0);
        if (chmod(proc, (st.st_mode & 07777) | m) < 0)
                return kn_error_set(err, -errno, "chmod %s: %s", name, strerror(errno));
        if (S_ISDIR(st.st_mode)) {
                int d = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (d < 0)
                        return kn_error_set(err, -errno, "open %s: %s", name, strerror(errno));
                return own_dir(d, gid, mask, depth, err);
        }
        return 0;
}

int kubelet_set_ownership(const char *dir, int64_t gid, bool readonly, kn_error *err)
{
        if (gid < 0 || gid > UINT32_MAX - 1)
                return kn_error_set(err, -EINVAL, "invalid fsGroup %lld", (long long)gid);
        return own_one(AT_FDCWD, dir, (gid_t)gid, readonly ? 0440 : 0660, 0, err);
}

int kubelet_mount_tmpfs(const char *dir, int64_t size, kn_error *err)
{
        char opts[64] = "";
        struct statfs sf;
        int r;

        r = kubelet_is_mount_point_at(AT_FDCWD, dir);
        if (r < 0)
                return kn_error_set(err, r, "stat %s: %s", dir, strerror(-r));
        if (r > 0) {
                if (statfs(dir, &sf) < 0)
                        return kn_error_set(err, -errno, "statfs %s: %s", dir, strerror(errno));
                if (sf.f_type == TMPFS_MAGIC)
                        return 0;
                return kn_error_set(err, -EBUSY, "%s is a mount point, but not a tmpfs", dir);
        }
        if (size > 0)
                snprintf(opts, sizeof(opts), "size=%lld", (long long)size);
        if (mount("tmpfs", dir, "tmpfs", 0, size > 0 ? opts : NULL) < 0)
                return kn_error_set(err, -errno, "mount tmpfs on %s: %s", dir, strerror(errno));
        kn_v(3, "mounted tmpfs (%s) on %s", size > 0 ? opts : "default size", dir);
        return 0;
}
