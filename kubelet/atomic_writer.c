/* SPDX-License-Identifier: Apache-2.0 */
/* Upstream's atomic writer (pkg/volume/util/atomic_writer.go), the same steps and layout:
 *  1. validate and clean the item paths;       2. read ..data to find the old ts dir;
 *  3. list what the old version has that the new one lacks;
 *  4. compare contents: nothing changed and nothing to remove: no new version;
 *  5. mkdir ..YYYY_MM_DD_HH_MM_SS.N (0755);   6. write the files (mode, owner);
 *  7. set permissions (fsGroup);               8. symlink ..data_tmp -> the new ts dir;
 *  9. rename ..data_tmp over ..data (the atomic step);
 * 10. create the missing top-level symlinks NAME -> ..data/NAME;
 * 11. remove top-level names no longer in the payload; 12. remove the old ts dir.
 * Everything is relative to the volume dir's fd and opens nothing through a symlink. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "../core/log.h"
#include "volumes_int.h"

#define DATA_DIR "..data"
#define NEW_DATA_DIR "..data_tmp"
#define MAX_NAME 255
#define MAX_PATH 4096

int kubelet_payload_add(kubelet_payload *p, const char *path, char *data, size_t len, unsigned mode,
                        int64_t fs_user)
{
        if (p->n >= KUBELET_VOL_MAX_FILES || len > KUBELET_VOL_MAX_PAYLOAD - p->total ||
            strlen(path) > MAX_PATH) {
                free(data);
                return -EFBIG;
        }
        if (p->n == p->cap) {
                p->cap = p->cap ? p->cap * 2 : 16;
                p->files = kn_realloc(p->files, p->cap * sizeof(*p->files));
        }
        p->files[p->n] = (kubelet_file){kn_strdup(path), data, len, mode & 0777, fs_user, p->n};
        p->n++;
        p->total += len;
        return 0;
}

void kubelet_payload_free(kubelet_payload *p)
{
        for (size_t i = 0; i < p->n; i++) {
                free(p->files[i].path);
                free(p->files[i].data);
        }
        free(p->files);
        *p = (kubelet_payload){0};
}

/* validatePath, then filepath.Clean (only "." and empty components can remain). */
static int clean_path(const char *in, char **ret, kn_error *err)
{
        char *out, *o;
        size_t n = strlen(in), depth = 0;

        if (!n)
                return kn_error_set(err, -EINVAL, "invalid path: must not be empty: \"\"");
        if (in[0] == '/')
                return kn_error_set(err, -EINVAL, "invalid path: must be relative path: %s", in);
        if (n > MAX_PATH)
                return kn_error_set(err, -EINVAL, "invalid path: must be less than or equal to %d characters",
                                    MAX_PATH);
        for (const char *s = in; *s;) {
                size_t l = strcspn(s, "/");
                if (l == 2 && s[0] == '.' && s[1] == '.')
                        return kn_error_set(err, -EINVAL, "invalid path: must not contain '..': %s", in);
                if (l > MAX_NAME)
                        return kn_error_set(err, -EINVAL,
                                            "invalid path: filenames must be less than or equal to %d characters",
                                            MAX_NAME);
                s += l;
                s += *s == '/';
        }
        if (strncmp(in, "..", 2) == 0 && strcspn(in, "/") > 2)
                return kn_error_set(err, -EINVAL, "invalid path: must not start with '..': %s", in);
        out = o = kn_malloc(n + 1);
        for (const char *s = in; *s;) {
                size_t l = strcspn(s, "/");
                if (l && !(l == 1 && s[0] == '.')) {
                        if (o != out)
                                *o++ = '/';
                        memcpy(o, s, l);
                        o += l;
                        depth++;
                }
                s += l;
                s += *s == '/';
        }
        *o = '\0';
        if (!*out || depth > KUBELET_VOL_MAX_DEPTH) {
                free(out);
                return kn_error_set(err, -EINVAL, "invalid path: %s: %s", depth ? "too deep" : "must not be empty", in);
        }
        *ret = out;
        return 0;
}

static int file_cmp(const void *a, const void *b)
{
        const kubelet_file *x = a, *y = b;
        int c = strcmp(x->path, y->path);
        return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

static int path_cmp(const void *a, const void *b)
{
        return strcmp(((const kubelet_file *)a)->path, ((const kubelet_file *)b)->path);
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Clean every path, sort, keep the last file given for each path (a map, as upstream's
 * payload is), refuse "a" next to "a/b". */
static int payload_clean(kubelet_payload *p, kn_error *err)
{
        size_t w = 0;

        for (size_t i = 0; i < p->n; i++) {
                char *c = NULL;
                int r = clean_path(p->files[i].path, &c, err);
                if (r < 0)
                        return r;
                free(p->files[i].path);
                p->files[i].path = c;
        }
        if (p->n)
                qsort(p->files, p->n, sizeof(*p->files), file_cmp);
        for (size_t i = 0; i < p->n; i++) {
                if (i + 1 < p->n && strcmp(p->files[i].path, p->files[i + 1].path) == 0) {
                        p->total -= p->files[i].len;
                        free(p->files[i].path);
                        free(p->files[i].data);
                        continue;
                }
                p->files[w++] = p->files[i];
        }
        p->n = w;
        for (size_t i = 0; i < p->n; i++) {
                _cleanup_free_ char *pre = kn_strdup(p->files[i].path);
                for (char *s = strrchr(pre, '/'); s; s = strrchr(pre, '/')) {
                        kubelet_file key = {.path = pre};
                        *s = '\0';
                        if (bsearch(&key, p->files, p->n, sizeof(*p->files), path_cmp))
                                return kn_error_set(err, -EINVAL,
                                                    "invalid payload: %s is both a file and a directory", pre);
                }
        }
        return 0;
}

typedef struct strv {
        char **v;
        size_t n, cap;
} strv;

static void strv_push(strv *s, char *x)
{
        if (s->n == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 16;
                s->v = kn_realloc(s->v, s->cap * sizeof(*s->v));
        }
        s->v[s->n++] = x;
}

static void strv_free(strv *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
        *s = (strv){0};
}

static bool strv_has(const strv *s, const char *x)
{
        return s->n && bsearch(&x, s->v, s->n, sizeof(*s->v), str_cmp);
}

/* Every path under FD (taken), relative, into OUT. */
static int list_tree(int fd, const char *prefix, strv *out, int depth)
{
        DIR *d = fdopendir(fd);
        struct dirent *e;
        int r = 0;

        if (!d) {
                r = -errno;
                close(fd);
                return r;
        }
        while (r >= 0 && (e = readdir(d))) {
                struct stat st;
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                if (out->n >= 2 * KUBELET_VOL_MAX_FILES || depth > KUBELET_VOL_MAX_DEPTH) {
                        r = -EFBIG;
                        break;
                }
                char *path = prefix ? kn_asprintf("%s/%s", prefix, e->d_name) : kn_strdup(e->d_name);
                strv_push(out, path);
                if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
                        int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        r = sub < 0 ? -errno : list_tree(sub, path, out, depth + 1);
                }
        }
        closedir(d);
        return r;
}

static bool same_content(int dfd, const kubelet_file *f)
{
        _cleanup_close_ int fd = openat(dfd, f->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        char buf[16384];
        size_t off = 0;

        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != f->len)
                return false;
        while (off < f->len) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n <= 0 || (size_t)n > f->len - off || memcmp(buf, f->data + off, (size_t)n) != 0)
                        return false;
                off += (size_t)n;
        }
        return true;
}

static int new_ts_dir(int dfd, char *name, size_t len)
{
        time_t t = time(NULL);
        struct tm tm;
        char stamp[64];

        gmtime_r(&t, &tm);
        strftime(stamp, sizeof(stamp), "..%Y_%m_%d_%H_%M_%S.", &tm);
        for (int i = 0; i < 100; i++) {
                snprintf(name, len, "%s%u", stamp, (unsigned)(kn_random() & 0xffffffffu));
                if (mkdirat(dfd, name, 0700) == 0)
                        return fchmodat(dfd, name, 0755, 0) < 0 ? -errno : 0;
                if (errno != EEXIST)
                        return -errno;
        }
        return -EEXIST;
}

static int write_file(int tsfd, const kubelet_file *f, kn_error *err)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *dir = kn_strdup(f->path);
        size_t off = 0;

        /* parents, 0755 whatever the umask (MkdirAll(os.ModePerm) under umask 022) */
        for (char *s = strchr(dir, '/'); s; s = strchr(s + 1, '/')) {
                *s = '\0';
                if (mkdirat(tsfd, dir, 0755) == 0) {
                        if (fchmodat(tsfd, dir, 0755, 0) < 0)
                                return kn_error_set(err, -errno, "chmod %s: %s", dir, strerror(errno));
                } else if (errno != EEXIST) {
                        return kn_error_set(err, -errno, "mkdir %s: %s", dir, strerror(errno));
                }
                *s = '/';
        }
        fd = openat(tsfd, f->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, f->mode);
        if (fd < 0)
                return kn_error_set(err, -errno, "create %s: %s", f->path, strerror(errno));
        while (off < f->len) {
                ssize_t n = write(fd, f->data + off, f->len - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return kn_error_set(err, -errno, "write %s: %s", f->path, strerror(errno));
                off += (size_t)n;
        }
        if (fchmod(fd, f->mode) < 0)
                return kn_error_set(err, -errno, "chmod %s: %s", f->path, strerror(errno));
        if (f->fs_user >= 0 && fchown(fd, (uid_t)f->fs_user, (gid_t)-1) < 0)
                return kn_error_set(err, -errno, "chown %s: %s", f->path, strerror(errno));
        return 0;
}

static bool ts_name_ok(const char *s)
{
        return strncmp(s, "..", 2) == 0 && s[2] && !strchr(s, '/') && strcmp(s, DATA_DIR) != 0 &&
               strcmp(s, NEW_DATA_DIR) != 0;
}

int kubelet_atomic_write(const char *dir, kubelet_payload *p, kubelet_perms_fn set_perms, void *userdata,
                         kn_error *err)
{
        _cleanup_close_ int dfd = -1;
        char old[MAX_NAME + 1] = "", ts[MAX_NAME + 1];
        strv old_paths = {0}, new_paths = {0}, remove = {0};
        bool write = true;
        ssize_t n;
        int r;

        /* (1) */
        r = payload_clean(p, err);
        if (r < 0)
                return r;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return kn_error_set(err, -errno, "open %s: %s", dir, strerror(errno));
        /* (2) */
        n = readlinkat(dfd, DATA_DIR, old, sizeof(old) - 1);
        if (n < 0 && errno != ENOENT)
                return kn_error_set(err, -errno, "read %s/%s: %s", dir, DATA_DIR, strerror(errno));
        old[n > 0 ? n : 0] = '\0';
        if (*old && !ts_name_ok(old))
                return kn_error_set(err, -EINVAL, "%s/%s points to an unexpected %s", dir, DATA_DIR, old);
        if (*old) {
                /* (3) */
                _cleanup_close_ int ofd = openat(dfd, old, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (ofd >= 0) {
                        r = list_tree(TAKE_FD(ofd), NULL, &old_paths, 0);
                        if (r < 0) {
                                kn_error_set(err, r, "list %s/%s: %s", dir, old, strerror(-r));
                                goto out;
                        }
                        for (size_t i = 0; i < p->n; i++) {
                                _cleanup_free_ char *s = kn_strdup(p->files[i].path);
                                strv_push(&new_paths, kn_strdup(s));
                                for (char *sl = strrchr(s, '/'); sl; sl = strrchr(s, '/')) {
                                        *sl = '\0';
                                        strv_push(&new_paths, kn_strdup(s));
                                }
                        }
                        if (new_paths.n)
                                qsort(new_paths.v, new_paths.n, sizeof(char *), str_cmp);
                        for (size_t i = 0; i < old_paths.n; i++)
                                if (!strv_has(&new_paths, old_paths.v[i]))
                                        strv_push(&remove, kn_strdup(old_paths.v[i]));
                        /* (4) */
                        write = false;
                        ofd = openat(dfd, old, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        for (size_t i = 0; i < p->n && !write; i++)
                                write = ofd < 0 || !same_content(ofd, &p->files[i]);
                        if (!write && !remove.n) {
                                kn_v(5, "%s: no update required", dir);
                                *old = '\0'; /* keep it */
                        } else {
                                write = true;
                        }
                }
        }
        if (write) {
                _cleanup_close_ int tsfd = -1;

                /* (5) */
                r = new_ts_dir(dfd, ts, sizeof(ts));
                if (r < 0) {
                        kn_error_set(err, r, "create a new data directory in %s: %s", dir, strerror(-r));
                        goto out;
                }
                tsfd = openat(dfd, ts, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (tsfd < 0) {
                        r = kn_error_set(err, -errno, "open %s/%s: %s", dir, ts, strerror(errno));
                        goto fail_ts;
                }
                /* (6) */
                for (size_t i = 0; i < p->n; i++) {
                        r = write_file(tsfd, &p->files[i], err);
                        if (r < 0)
                                goto fail_ts;
                }
                /* (7) */
                if (set_perms) {
                        r = set_perms(dir, userdata, err);
                        if (r < 0)
                                goto fail_ts;
                }
                /* (8), (9) */
                if (unlinkat(dfd, NEW_DATA_DIR, 0) < 0 && errno != ENOENT) {
                        r = kn_error_set(err, -errno, "remove %s/%s: %s", dir, NEW_DATA_DIR, strerror(errno));
                        goto fail_ts;
                }
                if (symlinkat(ts, dfd, NEW_DATA_DIR) < 0) {
                        r = kn_error_set(err, -errno, "symlink %s/%s: %s", dir, NEW_DATA_DIR, strerror(errno));
                        goto fail_ts;
                }
                if (renameat(dfd, NEW_DATA_DIR, dfd, DATA_DIR) < 0) {
                        r = kn_error_set(err, -errno, "rename %s/%s: %s", dir, NEW_DATA_DIR, strerror(errno));
                        unlinkat(dfd, NEW_DATA_DIR, 0);
                        goto fail_ts;
                }
                kn_v(4, "%s: wrote %zu files to %s", dir, p->n, ts);
        }
        /* (10) */
        for (size_t i = 0; i < p->n; i++) {
                char link[MAX_NAME + 1], target[MAX_NAME + 8];
                size_t l = strcspn(p->files[i].path, "/");
                memcpy(link, p->files[i].path, l);
                link[l] = '\0';
                if (readlinkat(dfd, link, target, sizeof(target)) >= 0 || errno != ENOENT)
                        continue;
                snprintf(target, sizeof(target), DATA_DIR "/%s", link);
                if (symlinkat(target, dfd, link) < 0) {
                        r = kn_error_set(err, -errno, "symlink %s/%s: %s", dir, link, strerror(errno));
                        goto out;
                }
        }
        /* (11) */
        for (size_t i = 0; i < remove.n; i++)
                if (!strchr(remove.v[i], '/') && unlinkat(dfd, remove.v[i], 0) < 0 && errno != ENOENT)
                        kn_warn("%s: failed to remove old path %s: %s", dir, remove.v[i], strerror(errno));
        /* (12) */
        if (*old && (r = kubelet_rm_rf_at(dfd, old)) < 0) {
                kn_error_set(err, r, "remove old data directory %s/%s: %s", dir, old, strerror(-r));
                goto out;
        }
        r = 0;
        goto out;
fail_ts:
        kubelet_rm_rf_at(dfd, ts);
out:
        strv_free(&old_paths);
        strv_free(&new_paths);
        strv_free(&remove);
        return r;
}
