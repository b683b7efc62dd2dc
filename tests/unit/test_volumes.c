/* SPDX-License-Identifier: Apache-2.0 */
/* kubelet/volumes against a fake API server and a temporary root dir. The kernel-facing
 * tests (tmpfs, bind mounts) need root: without it they fail, they do not skip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/vfs.h>

#include "fakeapi.h"
#include "volumes.h"
#include "volumes_int.h"

#define UID "0b6c5b3e-1111-4222-8333-944445555666"

static struct fake {
        pthread_mutex_t mu;
        char cm_data[4096];     /* JSON of configmap "cm" data */
        int token_posts;
        long token_life;        /* seconds until expirationTimestamp */
        char last_token_path[256];
} F = {.mu = PTHREAD_MUTEX_INITIALIZER};

static kn_httpd *srv;
static kn_api *api;
static char root[64];
static kubelet_volumes *V;

static void status(kn_http_response *r, int code, const char *reason, const char *msg)
{
        r->status = code;
        r->content_type = "application/json";
        kn_buf_printf(&r->body,
                      "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"%s\","
                      "\"reason\":\"%s\",\"code\":%d}",
                      msg, reason, code);
}

static void handler(void *u, const kn_http_request *req, kn_http_response *r)
{
        (void)u;
        pthread_mutex_lock(&F.mu);
        r->content_type = "application/json";
        if (strcmp(req->path, "/api/v1/namespaces/ns/configmaps/cm") == 0) {
                kn_buf_printf(&r->body, "{\"metadata\":{\"name\":\"cm\"},\"data\":%s,\"binaryData\":{\"bin\":\"AAEC/w==\"}}",
                              F.cm_data);
        } else if (strcmp(req->path, "/api/v1/namespaces/ns/configmaps/kube-root-ca.crt") == 0) {
                kn_buf_printf(&r->body, "{\"data\":{\"ca.crt\":\"-----BEGIN CERTIFICATE-----\\n\"}}");
        } else if (strcmp(req->path, "/api/v1/namespaces/ns/configmaps/huge") == 0) {
                kn_buf_printf(&r->body, "{\"data\":{\"a\":\"");
                for (int i = 0; i < 1100; i++)
                        kn_buf_printf(&r->body, "%01024d", i);
                kn_buf_printf(&r->body, "\"}}");
        } else if (strcmp(req->path, "/api/v1/namespaces/ns/secrets/sec") == 0) {
                /* "hunter2", "\x00\x01" */
                kn_buf_printf(&r->body, "{\"data\":{\"password\":\"aHVudGVyMg==\",\"raw\":\"AAE=\"}}");
        } else if (strcmp(req->path, "/api/v1/namespaces/ns/secrets/forbidden") == 0) {
                status(r, 403, "Forbidden", "secrets \\\"forbidden\\\" is forbidden: no");
        } else if (strncmp(req->path, "/api/v1/namespaces/ns/serviceaccounts/", 38) == 0 &&
                   strcmp(req->method, "POST") == 0) {
                time_t exp = time(NULL) + F.token_life;
                struct tm tm;
                char ts[64];
                gmtime_r(&exp, &tm);
                strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
                F.token_posts++;
                snprintf(F.last_token_path, sizeof(F.last_token_path), "%s", req->path);
                r->status = 201;
                kn_buf_printf(&r->body,
                              "{\"kind\":\"TokenRequest\",\"spec\":{\"expirationSeconds\":3607},"
                              "\"status\":{\"token\":\"token-%d\",\"expirationTimestamp\":\"%s\"}}",
                              F.token_posts, ts);
        } else {
                status(r, 404, "NotFound", "not found");
        }
        pthread_mutex_unlock(&F.mu);
}

static int setup(void **state)
{
        (void)state;
        snprintf(F.cm_data, sizeof(F.cm_data), "{\"a\":\"alpha\",\"b\":\"beta\"}");
        F.token_life = 3607;
        fake_api_start(handler, NULL, &srv, &api);
        snprintf(root, sizeof(root), "/tmp/kn-volumes-XXXXXX");
        assert_non_null(mkdtemp(root));
        assert_int_equal(kubelet_volumes_new(api, root, "node1", &V), 0);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        kubelet_volumes_free(V);
        fake_api_stop(srv, api);
        assert_int_equal(kubelet_rm_rf_at(AT_FDCWD, root), 0);
        return 0;
}

static void need_root(void)
{
        if (geteuid() != 0)
                fail_msg("this test mounts file systems and needs root");
}

static cJSON *pod_json(const char *spec_fmt, ...)
{
        va_list ap;
        char *spec;
        kn_buf b = {0};
        cJSON *j;

        va_start(ap, spec_fmt);
        assert_true(vasprintf(&spec, spec_fmt, ap) > 0);
        va_end(ap);
        kn_buf_printf(&b,
                      "{\"metadata\":{\"name\":\"web\",\"namespace\":\"ns\",\"uid\":\"" UID "\","
                      "\"labels\":{\"app\":\"web\",\"tier\":\"a\\\"b\"},\"annotations\":{\"note\":\"x\\ny\"}},"
                      "\"spec\":%s}",
                      spec);
        free(spec);
        j = cJSON_Parse(b.data);
        if (!j)
                fail_msg("bad test JSON: %s", b.data);
        kn_buf_free(&b);
        return j;
}

static char *vol_path(const char *plugin, const char *name, const char *file)
{
        return kn_asprintf("%s/pods/" UID "/volumes/kubernetes.io~%s/%s%s%s", root, plugin, name, file ? "/" : "",
                           file ? file : "");
}

static void assert_file(const char *path, const char *content, unsigned mode)
{
        char *data;
        size_t len;
        struct stat st;
        if (kn_read_file(path, 1 << 20, &data, &len) < 0)
                fail_msg("cannot read %s", path);
        if (len != strlen(content) || memcmp(data, content, len) != 0)
                fail_msg("%s: \"%.*s\", want \"%s\"", path, (int)len, data, content);
        free(data);
        assert_int_equal(stat(path, &st), 0);
        if ((st.st_mode & 07777) != mode)
                fail_msg("%s: mode %o, want %o", path, st.st_mode & 07777, mode);
}

static void assert_link(const char *path, const char *target)
{
        char buf[256];
        ssize_t n = readlink(path, buf, sizeof(buf) - 1);
        if (n < 0)
                fail_msg("%s is not a symlink", path);
        buf[n] = '\0';
        assert_string_equal(buf, target);
}

static bool is_tmpfs(const char *path)
{
        struct statfs sf;
        return statfs(path, &sf) == 0 && sf.f_type == TMPFS_MAGIC;
}

/* ---- atomic writer ---- */

static void add(kubelet_payload *p, const char *path, const char *data, unsigned mode)
{
        assert_int_equal(kubelet_payload_add(p, path, kn_strdup(data), strlen(data), mode, -1), 0);
}

static void test_atomic_writer(void **state)
{
        _cleanup_free_ char *dir = kn_asprintf("%s/aw", root), *f = NULL, *ts1 = NULL;
        kubelet_payload p = {0};
        kn_error err;
        char buf[256];
        ssize_t n;
        int fd;
        (void)state;

        assert_int_equal(mkdir(dir, 0755), 0);
        add(&p, "a", "one", 0644);
        add(&p, "./dir//b", "two", 0600);
        add(&p, "dir/c", "three", 0400);
        add(&p, "a", "ONE", 0640); /* the later one wins */
        assert_int_equal(kubelet_atomic_write(dir, &p, NULL, NULL, &err), 0);
        kubelet_payload_free(&p);

        f = kn_asprintf("%s/..data", dir);
        n = readlink(f, buf, sizeof(buf) - 1);
        assert_true(n > 0);
        buf[n] = '\0';
        /* ..YYYY_MM_DD_HH_MM_SS.N */
        assert_true(strncmp(buf, "..20", 4) == 0 && buf[6] == '_' && buf[21] == '.' && strlen(buf) > 22);
        ts1 = kn_strdup(buf);
        free(f);
        f = kn_asprintf("%s/a", dir);
        assert_link(f, "..data/a");
        assert_file(f, "ONE", 0640);
        free(f);
        f = kn_asprintf("%s/dir", dir);
        assert_link(f, "..data/dir");
        free(f);
        f = kn_asprintf("%s/dir/b", dir);
        assert_file(f, "two", 0600);
        free(f);
        f = kn_asprintf("%s/dir/c", dir);
        assert_file(f, "three", 0400);
        free(f);
        f = kn_asprintf("%s/%s", dir, ts1);
        {
                struct stat st;
                assert_int_equal(stat(f, &st), 0);
                assert_int_equal(st.st_mode & 07777, 0755);
        }
        free(f);

        /* the same payload again: nothing is rewritten */
        add(&p, "a", "ONE", 0640);
        add(&p, "dir/b", "two", 0600);
        add(&p, "dir/c", "three", 0400);
        assert_int_equal(kubelet_atomic_write(dir, &p, NULL, NULL, &err), 0);
        kubelet_payload_free(&p);
        f = kn_asprintf("%s/..data", dir);
        n = readlink(f, buf, sizeof(buf) - 1);
        buf[n] = '\0';
        assert_string_equal(buf, ts1);
        free(f);

        /* an update: a reader with the old file open keeps the old bytes; a key removed
         * disappears; a new one appears */
        f = kn_asprintf("%s/a", dir);
        fd = open(f, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        add(&p, "a", "uno", 0644);
        add(&p, "e", "new", 0644);
        assert_int_equal(kubelet_atomic_write(dir, &p, NULL, NULL, &err), 0);
        kubelet_payload_free(&p);
        n = read(fd, buf, sizeof(buf));
        assert_int_equal(n, 3);
        assert_memory_equal(buf, "ONE", 3);
        close(fd);
        assert_file(f, "uno", 0644);
        free(f);
        f = kn_asprintf("%s/dir", dir);
        assert_int_equal(access(f, F_OK), -1);
        {
                struct stat st;
                assert_int_equal(lstat(f, &st), -1); /* the symlink itself is gone */
        }
        free(f);
        f = kn_asprintf("%s/e", dir);
        assert_file(f, "new", 0644);
        free(f);
        f = kn_asprintf("%s/%s", dir, ts1);
        assert_int_equal(access(f, F_OK), -1); /* the old version is removed */
        free(f);
        f = kn_asprintf("%s/..data_tmp", dir);
        assert_int_equal(access(f, F_OK), -1);
        free(f);

        /* an empty payload empties the volume */
        assert_int_equal(kubelet_atomic_write(dir, &p, NULL, NULL, &err), 0);
        f = kn_asprintf("%s/a", dir);
        assert_int_equal(access(f, F_OK), -1);
        free(TAKE_PTR(f));
}

static void test_atomic_writer_paths(void **state)
{
        static const struct {
                const char *path, *msg;
        } bad[] = {
                {"../x", "invalid path: must not contain '..': ../x"},
                {"a/../b", "invalid path: must not contain '..': a/../b"},
                {"..", "invalid path: must not contain '..': .."},
                {"/etc/passwd", "invalid path: must be relative path: /etc/passwd"},
                {"..data/x", "invalid path: must not start with '..': ..data/x"},
                {"..2020_01_01", "invalid path: must not start with '..': ..2020_01_01"},
                {"", "invalid path: must not be empty: \"\""},
                {"./", "invalid path: must not be empty: ./"},
        };
        _cleanup_free_ char *dir = kn_asprintf("%s/awp", root);
        kubelet_payload p = {0};
        kn_error err;
        char longname[300];
        (void)state;

        assert_int_equal(mkdir(dir, 0755), 0);
        for (size_t i = 0; i < KN_ARRAY_SIZE(bad); i++) {
                add(&p, "fine", "x", 0644);
                add(&p, bad[i].path, "x", 0644);
                assert_int_equal(kubelet_atomic_write(dir, &p, NULL, NULL, &err), -EINVAL);
                if (strcmp(err.msg, bad[i].msg) != 0)
                        fail_msg("%s: \"%s\", want \"%s\"", bad[i].path, err.msg, bad[i].msg);
                kubelet_payload_free(&p);
        }
        memset(longname, 'n', 256);
        longname[256] = '\0';
        add(&p, longname, "x", 0644);
        assert_int_equal(kubelet_atomic_write(dir, &p, NULL, NULL, &err), -EINVAL);
        assert_string_equal(err.msg, "invalid path: filenames must be less than or equal to 255 characters");
        kubelet_payload_free(&p);
        add(&p, "a", "x", 0644);
        add(&p, "a/b", "x", 0644);
        assert_int_equal(kubelet_atomic_write(dir, &p, NULL, NULL, &err), -EINVAL);
        kubelet_payload_free(&p);
        /* nothing was written by the refused payloads */
        {
                _cleanup_free_ char *d = kn_asprintf("%s/..data", dir);
                assert_int_equal(access(d, F_OK), -1);
        }
        /* bounds */
        for (int i = 0; i < KUBELET_VOL_MAX_FILES; i++)
                assert_int_equal(kubelet_payload_add(&p, "f", NULL, 0, 0644, -1), 0);
        assert_int_equal(kubelet_payload_add(&p, "f", NULL, 0, 0644, -1), -EFBIG);
        kubelet_payload_free(&p);
}

/* Readers that resolve ..data once see one version, never a mix, while versions swap. */
struct reader {
        const char *dir;
        volatile int stop;
        long reads, mixed;
};

static void *reader_main(void *p)
{
        struct reader *r = p;
        while (!r->stop) {
                char a[32] = "", b[32] = "";
                int d = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fa, fb;
                int data = d >= 0 ? openat(d, "..data", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
                if (d >= 0)
                        close(d);
                if (data < 0)
                        continue;
                fa = openat(data, "a", O_RDONLY | O_CLOEXEC);
                fb = openat(data, "sub/b", O_RDONLY | O_CLOEXEC);
                if (fa >= 0 && fb >= 0 && read(fa, a, sizeof(a) - 1) > 0 && read(fb, b, sizeof(b) - 1) > 0) {
                        r->reads++;
                        if (strcmp(a, b) != 0)
                                r->mixed++;
                }
                if (fa >= 0)
                        close(fa);
                if (fb >= 0)
                        close(fb);
                close(data);
        }
        return NULL;
}

static void test_atomic_writer_readers(void **state)
{
        _cleanup_free_ char *dir = kn_asprintf("%s/awr", root);
        struct reader rd = {.dir = dir};
        pthread_t t;
        kn_error err;
        (void)state;

        assert_int_equal(mkdir(dir, 0755), 0);
        assert_int_equal(pthread_create(&t, NULL, reader_main, &rd), 0);
        for (int i = 0; i < 300; i++) {
                kubelet_payload p = {0};
                char v[32];
                snprintf(v, sizeof(v), "version-%d", i);
                add(&p, "a", v, 0644);
                add(&p, "sub/b", v, 0644);
                if (i % 3 == 0)
                        add(&p, "sometimes", v, 0644);
                assert_int_equal(kubelet_atomic_write(dir, &p, NULL, NULL, &err), 0);
                kubelet_payload_free(&p);
        }
        rd.stop = 1;
        pthread_join(t, NULL);
        assert_true(rd.reads > 0);
        assert_int_equal(rd.mixed, 0);
        {
                /* one version left on disk */
                DIR *d = opendir(dir);
                struct dirent *e;
                int ts = 0;
                while ((e = readdir(d)))
                        ts += strncmp(e->d_name, "..2", 3) == 0;
                closedir(d);
                assert_int_equal(ts, 1);
        }
}

/* A mount a container propagated into its emptyDir is never deleted through. */
static void test_teardown_busy(void **state)
{
        _cleanup_cjson_ cJSON *pod = pod_json("{\"volumes\":[{\"name\":\"shared\",\"emptyDir\":{}}]}");
        _cleanup_free_ char *sub = NULL, *keep = NULL, *shared = vol_path("empty-dir", "shared", NULL);
        kn_error err;
        (void)state;

        need_root();
        assert_int_equal(kubelet_volumes_setup(V, pod, &err), 0);
        sub = kn_asprintf("%s/mnt", shared);
        assert_int_equal(mkdir(sub, 0755), 0);
        assert_int_equal(mount("tmpfs", sub, "tmpfs", 0, "size=1m"), 0);
        keep = kn_asprintf("%s/precious", sub);
        assert_int_equal(close(open(keep, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)), 0);
        assert_int_equal(kubelet_volumes_teardown(V, UID, &err), -EBUSY);
        assert_non_null(strstr(err.msg, "a mount point is still there"));
        assert_int_equal(access(keep, F_OK), 0);
        assert_int_equal(umount2(sub, 0), 0);
        assert_int_equal(kubelet_volumes_teardown(V, UID, &err), 0);
        assert_int_equal(access(shared, F_OK), -1);
}

/* ---- emptyDir ---- */

static void test_empty_dir(void **state)
{
        _cleanup_cjson_ cJSON *pod = pod_json(
                "{\"securityContext\":{\"fsGroup\":2000},\"volumes\":["
                "{\"name\":\"scratch\",\"emptyDir\":{}},"
                "{\"name\":\"cache\",\"emptyDir\":{\"sizeLimit\":\"1Gi\"}},"
                "{\"name\":\"mem\",\"emptyDir\":{\"medium\":\"Memory\",\"sizeLimit\":\"1Mi\"}},"
                "{\"name\":\"big\",\"emptyDir\":{\"medium\":\"Memory\"}}],"
                "\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":{\"memory\":\"3Mi\"}}}]}");
        _cleanup_free_ char *scratch = vol_path("empty-dir", "scratch", NULL);
        _cleanup_free_ char *mem = vol_path("empty-dir", "mem", NULL), *big = vol_path("empty-dir", "big", NULL);
        _cleanup_free_ char *ready = kn_asprintf("%s/pods/" UID "/plugins/kubernetes.io~empty-dir/scratch/ready", root);
        _cleanup_free_ char *file = kn_asprintf("%s/keep", scratch);
        struct stat st;
        struct statfs sf;
        kn_error err;
        int fd;
        (void)state;

        need_root();
        assert_int_equal(kubelet_volumes_setup(V, pod, &err), 0);
        assert_int_equal(stat(scratch, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 02777); /* 0777 + fsGroup's setgid */
        assert_int_equal(st.st_gid, 2000);
        assert_int_equal(access(ready, F_OK), 0);
        assert_false(is_tmpfs(scratch));

        /* Memory: a tmpfs, 1777, sized by sizeLimit, or by the pod's limit */
        assert_true(is_tmpfs(mem));
        assert_int_equal(statfs(mem, &sf), 0);
        assert_int_equal((long long)sf.f_blocks * sf.f_bsize, 1 << 20);
        assert_int_equal(stat(mem, &st), 0);
        assert_int_equal(st.st_mode & 07777, 03777);
        assert_int_equal(statfs(big, &sf), 0);
        assert_int_equal((long long)sf.f_blocks * sf.f_bsize, 3 << 20);

        /* idempotent: contents survive, no second tmpfs on top */
        fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(kubelet_volumes_setup(V, pod, &err), 0);
        assert_int_equal(access(file, F_OK), 0);
        assert_int_equal(umount2(mem, 0), 0);
        assert_false(is_tmpfs(mem)); /* exactly one mount was there */
        assert_int_equal(kubelet_volumes_setup(V, pod, &err), 0);
        assert_true(is_tmpfs(mem)); /* and it comes back (after a reboot, say) */

        assert_int_equal(kubelet_volumes_teardown(V, UID, &err), 0);
        assert_int_equal(access(mem, F_OK), -1);
        {
                _cleanup_free_ char *pd = kn_asprintf("%s/pods/" UID, root);
                assert_int_equal(access(pd, F_OK), -1);
        }
        assert_int_equal(kubelet_volumes_teardown(V, UID, &err), 0); /* again: nothing to do */
}

static void test_empty_dir_bad(void **state)
{
        _cleanup_cjson_ cJSON *pod = pod_json("{\"volumes\":[{\"name\":\"h\",\"emptyDir\":{\"medium\":\"HugePages\"}},"
                                              "{\"name\":\"x\",\"persistentVolumeClaim\":{\"claimName\":\"c\"}}]}");
        _cleanup_cjson_ cJSON *bad = pod_json("{\"volumes\":[{\"name\":\"../../etc\",\"emptyDir\":{}}]}");
        kn_error err;
        (void)state;
        assert_int_equal(kubelet_volumes_setup(V, pod, &err), -EOPNOTSUPP);
        assert_string_equal(err.msg, "MountVolume.SetUp failed for volume \"h\" : emptyDir medium HugePages is not supported");
        assert_int_equal(kubelet_volumes_setup(V, bad, &err), -EINVAL);
        assert_int_equal(kubelet_volumes_teardown(V, UID, &err), 0);
        assert_int_equal(kubelet_volumes_teardown(V, "../..", &err), -EINVAL);
}

/* ---- hostPath ---- */

static void host_path(const char *path, const char *type, int code, const char *msg)
{
        _cleanup_cjson_ cJSON *pod = pod_json("{\"volumes\":[{\"name\":\"hp\",\"hostPath\":{\"path\":\"%s\",\"type\":\"%s\"}}]}",
                                              path, type);
        kn_error err = {0};
        int r = kubelet_volumes_setup(V, pod, &err);
        if (r != code)
                fail_msg("%s %s: %d (%s), want %d", path, type, r, err.msg, code);
        if (msg) {
                _cleanup_free_ char *want = kn_asprintf("MountVolume.SetUp failed for volume \"hp\" : %s", msg);
                assert_string_equal(err.msg, want);
        }
}

static void test_host_path(void **state)
{
        _cleanup_free_ char *d = kn_asprintf("%s/hp/newdir/sub", root), *f = kn_asprintf("%s/hp/file", root);
        _cleanup_free_ char *sock = kn_asprintf("%s/hp/sock", root), *missing = kn_asprintf("%s/hp/missing", root);
        _cleanup_free_ char *m1 = NULL, *m2 = NULL, *m3 = NULL, *m4 = NULL;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct stat st;
        int s;
        (void)state;

        host_path(d, "DirectoryOrCreate", 0, NULL);
        assert_int_equal(stat(d, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 0777, 0755);
        host_path(d, "Directory", 0, NULL);
        host_path(d, "", 0, NULL);
        host_path(f, "FileOrCreate", 0, NULL);
        assert_int_equal(stat(f, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 0777, 0644);
        host_path(f, "File", 0, NULL);
        m1 = kn_asprintf("hostPath type check failed: %s is not a directory", f);
        host_path(f, "Directory", -EINVAL, m1);
        host_path(f, "DirectoryOrCreate", -EINVAL, m1);
        m2 = kn_asprintf("hostPath type check failed: %s is not a file", d);
        host_path(d, "File", -EINVAL, m2);
        host_path(d, "FileOrCreate", -EINVAL, m2);
        m3 = kn_asprintf("hostPath type check failed: %s is not a file", missing);
        host_path(missing, "File", -EINVAL, m3);
        host_path(missing, "", 0, NULL); /* no type, no check */

        s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
        assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
        host_path(sock, "Socket", 0, NULL);
        close(s);
        host_path("/dev/null", "CharDevice", 0, NULL);
        host_path("/dev/null", "BlockDevice", -EINVAL,
                  "hostPath type check failed: /dev/null is not a block device");
        m4 = kn_asprintf("hostPath type check failed: %s is not a socket file", f);
        host_path(f, "Socket", -EINVAL, m4);
        host_path(f, "Fifo", -EINVAL, "Fifo is an invalid volume type");
        host_path("relative/path", "", -EINVAL, "hostPath relative/path is not an absolute path");
}

/* ---- configMap, secret ---- */

static void test_config_map(void **state)
{
        _cleanup_cjson_ cJSON *pod = pod_json(
                "{\"volumes\":["
                "{\"name\":\"all\",\"configMap\":{\"name\":\"cm\"}},"
                "{\"name\":\"items\",\"configMap\":{\"name\":\"cm\",\"defaultMode\":384,\"items\":["
                "{\"key\":\"a\",\"path\":\"sub/dir/a.txt\"},{\"key\":\"bin\",\"path\":\"b\",\"mode\":256}]}},"
                "{\"name\":\"opt\",\"configMap\":{\"name\":\"nope\",\"optional\":true}},"
                "{\"name\":\"optkey\",\"configMap\":{\"name\":\"cm\",\"optional\":true,\"items\":["
                "{\"key\":\"zz\",\"path\":\"zz\"},{\"key\":\"b\",\"path\":\"b\"}]}}],"
                "\"containers\":[{\"name\":\"c\",\"volumeMounts\":["
                "{\"name\":\"all\",\"mountPath\":\"/etc/cfg/\"},"
                "{\"name\":\"x\",\"mountPath\":\"/etc/cfg/nested/./dir\"},"
                "{\"name\":\"y\",\"mountPath\":\"/etc/cfg/nested/dir/deeper\"},"
                "{\"name\":\"z\",\"mountPath\":\"/etc/cfgother\"},"
                "{\"name\":\"w\",\"mountPath\":\"/etc/cfg/a/../up\"}]}]}");
        _cleanup_free_ char *a = vol_path("configmap", "all", "a"), *b = vol_path("configmap", "all", "b");
        _cleanup_free_ char *bin = vol_path("configmap", "all", "bin"), *ia = vol_path("configmap", "items", "sub/dir/a.txt");
        _cleanup_free_ char *ib = vol_path("configmap", "items", "b"), *ooo = vol_path("configmap", "opt", "..data");
        _cleanup_free_ char *ozz = vol_path("configmap", "optkey", "zz"), *ob = vol_path("configmap", "optkey", "b");
        _cleanup_free_ char *dir = vol_path("configmap", "all", NULL);
        kn_error err;
        struct stat st;
        char *data;
        size_t len;
        (void)state;

        assert_int_equal(kubelet_volumes_setup(V, pod, &err), 0);
        assert_file(a, "alpha", 0644);
        assert_file(b, "beta", 0644);
        assert_link(a, "..data/a");
        assert_int_equal(kn_read_file(bin, 100, &data, &len), 0);
        assert_int_equal(len, 4);
        assert_memory_equal(data, "\x00\x01\x02\xff", 4);
        free(data);
        assert_file(ia, "alpha", 0600);
        assert_int_equal(stat(ib, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0400);
        assert_int_equal(access(ooo, F_OK), 0); /* optional and missing: an empty volume */
        assert_int_equal(access(ozz, F_OK), -1);
        assert_file(ob, "beta", 0644);
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0777);
        assert_false(is_tmpfs(dir));
        {
                /* mount points of volumes nested in the read-only one: the outermost only */
                _cleanup_free_ char *nd = vol_path("configmap", "all", "nested/dir");
                _cleanup_free_ char *deeper = vol_path("configmap", "all", "nested/dir/deeper");
                _cleanup_free_ char *up = vol_path("configmap", "all", "up");
                _cleanup_free_ char *other = vol_path("configmap", "all", "other");
                assert_int_equal(stat(nd, &st), 0);
                assert_true(S_ISDIR(st.st_mode));
                assert_int_equal(st.st_mode & 0777, 0755);
                assert_int_equal(access(deeper, F_OK), -1);
                assert_int_equal(access(up, F_OK), 0);
                assert_int_equal(access(other, F_OK), -1);
                assert_int_equal(access(dir, F_OK), 0);
        }

        /* the configmap changes: a refresh swaps the contents, b disappears */
        pthread_mutex_lock(&F.mu);
        snprintf(F.cm_data, sizeof(F.cm_data), "{\"a\":\"ALPHA\",\"c\":\"gamma\"}");
        pthread_mutex_unlock(&F.mu);
        /* (optkey's b is gone too: optional, so skipped) */
        assert_int_equal(kubelet_volumes_setup(V, pod, &err), 0);
        assert_file(a, "ALPHA", 0644);
        assert_int_equal(access(b, F_OK), -1);
        assert_int_equal(lstat(b, &st), -1);
        {
                _cleanup_free_ char *c = vol_path("configmap", "all", "c");
                assert_file(c, "gamma", 0644);
        }
        assert_int_equal(kubelet_volumes_teardown(V, UID, &err), 0);
        snprintf(F.cm_data, sizeof(F.cm_data), "{\"a\":\"alpha\",\"b\":\"beta\"}");
}

static void test_config_map_errors(void **state)
{
        _cleanup_cjson_ cJSON *missing = pod_json("{\"volumes\":[{\"name\":\"cfg\",\"configMap\":{\"name\":\"nope\"}}]}");
        _cleanup_cjson_ cJSON *key = pod_json("{\"volumes\":[{\"name\":\"cfg\",\"configMap\":{\"name\":\"cm\",\"items\":["
                                              "{\"key\":\"zz\",\"path\":\"zz\"}]}}]}");
        _cleanup_cjson_ cJSON *huge = pod_json("{\"volumes\":[{\"name\":\"cfg\",\"configMap\":{\"name\":\"huge\"}}]}");
        _cleanup_cjson_ cJSON *escape = pod_json("{\"volumes\":[{\"name\":\"cfg\",\"configMap\":{\"name\":\"cm\",\"items\":["
                                                 "{\"key\":\"a\",\"path\":\"../../../../etc/x\"}]}}]}");
        _cleanup_cjson_ cJSON *forbidden = pod_json("{\"volumes\":[{\"name\":\"s\",\"secret\":{\"secretName\":\"forbidden\"}}]}");
        _cleanup_cjson_ cJSON *mode = pod_json("{\"volumes\":[{\"name\":\"cfg\",\"configMap\":{\"name\":\"cm\",\"defaultMode\":4095}}]}");
        kn_error err;
        (void)state;

        assert_int_equal(kubelet_volumes_setup(V, missing, &err), -ENOENT);
        assert_string_equal(err.msg, "MountVolume.SetUp failed for volume \"cfg\" : configmap \"nope\" not found");
        assert_int_equal(kubelet_volumes_setup(V, key, &err), -ENOENT);
        assert_string_equal(err.msg,
                            "MountVolume.SetUp failed for volume \"cfg\" : configmap references non-existent config key: zz");
        {
                /* a client whose response bound does not stop it first */
                char url[64];
                kn_kubeconfig kc = {.server = url};
                kn_api *big;
                kubelet_volumes *v2;
                snprintf(url, sizeof(url), "http://127.0.0.1:%d", kn_httpd_port(srv));
                assert_int_equal(kn_api_new(&kc, &(kn_api_opts){.max_response = 8 << 20}, &big, &err), 0);
                assert_int_equal(kubelet_volumes_new(big, root, "node1", &v2), 0);
                assert_int_equal(kubelet_volumes_setup(v2, huge, &err), -EFBIG);
                assert_non_null(strstr(err.msg, "configmap \"huge\" is too large"));
                kubelet_volumes_free(v2);
                kn_api_free(big);
        }
        assert_int_equal(kubelet_volumes_setup(V, escape, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "invalid path: must not contain '..'"));
        assert_int_equal(kubelet_volumes_setup(V, forbidden, &err), -EACCES);
        assert_non_null(strstr(err.msg, "is forbidden"));
        assert_int_equal(kubelet_volumes_setup(V, mode, &err), -EINVAL);
        assert_int_equal(kubelet_volumes_teardown(V, UID, &err), 0);
}

static void test_secret(void **state)
{
        _cleanup_cjson_ cJSON *pod = pod_json(
                "{\"securityContext\":{\"fsGroup\":3000},\"volumes\":["
                "{\"name\":\"s\",\"secret\":{\"secretName\":\"sec\",\"defaultMode\":256}},"
                "{\"name\":\"gone\",\"secret\":{\"secretName\":\"nope\",\"optional\":true}}]}");
        _cleanup_cjson_ cJSON *missing = pod_json("{\"volumes\":[{\"name\":\"s\",\"secret\":{\"secretName\":\"nope\"}}]}");
        _cleanup_free_ char *dir = vol_path("secret", "s", NULL), *pw = vol_path("secret", "s", "password");
        _cleanup_free_ char *raw = vol_path("secret", "s", "raw");
        struct stat st;
        kn_error err;
        char *data;
        size_t len;
        (void)state;

        need_root();
        assert_int_equal(kubelet_volumes_setup(V, pod, &err), 0);
        assert_true(is_tmpfs(dir));
        assert_file(pw, "hunter2", 0440); /* 0400 + fsGroup's 0440 */
        assert_int_equal(stat(pw, &st), 0);
        assert_int_equal(st.st_gid, 3000);
        assert_int_equal(kn_read_file(raw, 100, &data, &len), 0);
        assert_int_equal(len, 2);
        assert_memory_equal(data, "\x00\x01", 2);
        free(data);
        assert_int_equal(kubelet_volumes_setup(V, pod, &err), 0);
        assert_int_equal(kubelet_volumes_teardown(V, UID, &err), 0);
        assert_int_equal(access(dir, F_OK), -1);
        assert_int_equal(kubelet_volumes_setup(V, missing, &err), -ENOENT);
        assert_string_equal(err.msg, "MountVolume.SetUp failed for volume \"s\" : secret \"nope\" not found");
        assert_int_equal(kubelet_volumes_teardown(V, UID, &err), 0);
}


/* ---- downwardAPI, projected ---- */

static void test_downward_api(void **state)
{
        _cleanup_cjson_ cJSON *pod = pod_json(
                "{\"volumes\":[{\"name\":\"info\",\"downwardAPI\":{\"items\":["
                "{\"path\":\"name\",\"fieldRef\":{\"fieldPath\":\"metadata.name\"}},"
                "{\"path\":\"ns\",\"fieldRef\":{\"fieldPath\":\"metadata.namespace\"},\"mode\":384},"
                "{\"path\":\"uid\",\"fieldRef\":{\"fieldPath\":\"metadata.uid\"}},"
                "{\"path\":\"labels\",\"fieldRef\":{\"fieldPath\":\"metadata.labels\"}},"
                "{\"path\":\"app\",\"fieldRef\":{\"fieldPath\":\"metadata.labels['app']\"}},"
                "{\"path\":\"none\",\"fieldRef\":{\"fieldPath\":\"metadata.labels['none']\"}},"
                "{\"path\":\"meta/annotations\",\"fieldRef\":{\"fieldPath\":\"metadata.annotations\"}},"
                "{\"path\":\"mem_mi\",\"resourceFieldRef\":{\"containerName\":\"c\",\"resource\":\"limits.memory\","
                "\"divisor\":\"1Mi\"}},"
                "{\"path\":\"cpu_m\",\"resourceFieldRef\":{\"containerName\":\"c\",\"resource\":\"limits.cpu\","
                "\"divisor\":\"1m\"}},"
                "{\"path\":\"cpu_req\",\"resourceFieldRef\":{\"containerName\":\"c\",\"resource\":\"requests.cpu\"}},"
                "{\"path\":\"cpu_alloc\",\"resourceFieldRef\":{\"containerName\":\"init\",\"resource\":\"limits.cpu\"}},"
                "{\"path\":\"mem_alloc\",\"resourceFieldRef\":{\"containerName\":\"init\",\"resource\":\"limits.memory\","
                "\"divisor\":\"1Gi\"}}"
                "]}}],"
                "\"initContainers\":[{\"name\":\"init\"}],"
                "\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":{\"memory\":\"64Mi\",\"cpu\":\"1500m\"},"
                "\"requests\":{\"cpu\":\"0.25\"}}}]}");
        _cleanup_cjson_ cJSON *bad = pod_json(
                "{\"volumes\":[{\"name\":\"info\",\"downwardAPI\":{\"items\":["
                "{\"path\":\"x\",\"fieldRef\":{\"fieldPath\":\"spec.nodeName\"}},"
                "{\"path\":\"y\",\"resourceFieldRef\":{\"containerName\":\"ghost\",\"resource\":\"limits.cpu\"}}]}}],"
                "\"containers\":[{\"name\":\"c\"}]}");
        _cleanup_cjson_ cJSON *alloc = cJSON_Parse("{\"cpu\":\"3\",\"memory\":\"8Gi\",\"pods\":\"110\"}");
        static const struct {
                const char *file, *content;
                unsigned mode;
        } want[] = {
                {"name", "web", 0644},
                {"ns", "ns", 0600},
                {"uid", UID, 0644},
                {"labels", "app=\"web\"\ntier=\"a\\\"b\"", 0644},
                {"app", "web", 0644},
                {"none", "", 0644},
                {"meta/annotations", "note=\"x\\ny\"", 0644},
                {"mem_mi", "64", 0644},
                {"cpu_m", "1500", 0644},
                {"cpu_req", "1", 0644}, /* 250m, rounded up to whole cores */
                {"cpu_alloc", "3", 0644},
                {"mem_alloc", "8", 0644},
        };
        kn_error err;
        (void)state;

        need_root();
        kubelet_volumes_set_node_allocatable(V, alloc);
        assert_int_equal(kubelet_volumes_setup(V, pod, &err), 0);
        for (size_t i = 0; i < KN_ARRAY_SIZE(want); i++) {
                _cleanup_free_ char *f = vol_path("downward-api", "info", want[i].file);
                assert_file(f, want[i].content, want[i].mode);
        }
        {
                _cleanup_free_ char *d = vol_path("downward-api", "info", NULL);
                assert_true(is_tmpfs(d));
        }
        assert_int_equal(kubelet_volumes_setup(V, bad, &err), -EINVAL);
        assert_string_equal(err.msg, "MountVolume.SetUp failed for volume \"info\" : "
                                     "[unsupported fieldPath: spec.nodeName, container ghost not found]");
        assert_int_equal(kubelet_volumes_teardown(V, UID, &err), 0);
}

static void test_field_ref(void **state)
{
        _cleanup_cjson_ cJSON *pod = cJSON_CreateObject();
        cJSON *ann = cJSON_AddObjectToObject(cJSON_AddObjectToObject(pod, "metadata"), "annotations");
        char *v = NULL;
        kn_error err;
        (void)state;

        cJSON_AddStringToObject(ann, "z", "caf\xc3\xa9 \t\x01\x7f\\");
        cJSON_AddStringToObject(ann, "a", "bad\xff\xc3(\xc2\x85");
        cJSON_AddStringToObject(ann, "m", "");
        assert_int_equal(kubelet_field_ref(pod, "metadata.annotations", &v, &err), 0);
        assert_string_equal(v, "a=\"bad\\xff\\xc3(\\u0085\"\nm=\"\"\nz=\"caf\xc3\xa9 \\t\\x01\\x7f\\\\\"");
        free(v);
        assert_int_equal(kubelet_field_ref(pod, "metadata.labels", &v, &err), 0);
        assert_string_equal(v, "");
        free(v);
        assert_int_equal(kubelet_field_ref(pod, "metadata.annotations['m']", &v, &err), 0);
        assert_string_equal(v, "");
        free(v);
        assert_int_equal(kubelet_field_ref(pod, "metadata.name['x']", &v, &err), -EINVAL);
        assert_int_equal(kubelet_field_ref(pod, "['x']", &v, &err), -EINVAL);
        assert_int_equal(kubelet_field_ref(pod, "status.podIP", &v, &err), -EINVAL);
        assert_string_equal(err.msg, "unsupported fieldPath: status.podIP");
}

#define KUBE_API_ACCESS                                                                                       \
        "{\"name\":\"kube-api-access-x1\",\"projected\":{\"defaultMode\":420,\"sources\":["                   \
        "{\"serviceAccountToken\":{\"expirationSeconds\":3607,\"path\":\"token\"}},"                          \
        "{\"configMap\":{\"name\":\"kube-root-ca.crt\",\"items\":[{\"key\":\"ca.crt\",\"path\":\"ca.crt\"}]}}," \
        "{\"downwardAPI\":{\"items\":[{\"path\":\"namespace\",\"fieldRef\":{\"apiVersion\":\"v1\","          \
        "\"fieldPath\":\"metadata.namespace\"}}]}}]}}"

static void test_projected(void **state)
{
        _cleanup_cjson_ cJSON *pod = pod_json(
                "{\"serviceAccountName\":\"builder\",\"volumes\":[" KUBE_API_ACCESS ","
                "{\"name\":\"mix\",\"projected\":{\"sources\":["
                "{\"configMap\":{\"name\":\"cm\",\"items\":[{\"key\":\"a\",\"path\":\"cfg/a\"}]}},"
                "{\"secret\":{\"name\":\"sec\",\"items\":[{\"key\":\"password\",\"path\":\"pw\",\"mode\":256}]}},"
                "{\"secret\":{\"name\":\"nope\",\"optional\":true}},"
                "{\"serviceAccountToken\":{\"audience\":\"vault\",\"expirationSeconds\":600,\"path\":\"vault/token\"}}"
                "]}}]}");
        _cleanup_cjson_ cJSON *grouped = pod_json(
                "{\"securityContext\":{\"fsGroup\":4000},\"volumes\":[" KUBE_API_ACCESS "]}");
        _cleanup_cjson_ cJSON *broken = pod_json(
                "{\"volumes\":[{\"name\":\"p\",\"projected\":{\"sources\":["
                "{\"configMap\":{\"name\":\"nope\"}},{\"clusterTrustBundle\":{\"name\":\"b\",\"path\":\"b\"}}]}}]}");
        _cleanup_free_ char *dir = vol_path("projected", "kube-api-access-x1", NULL);
        _cleanup_free_ char *token = vol_path("projected", "kube-api-access-x1", "token");
        _cleanup_free_ char *ca = vol_path("projected", "kube-api-access-x1", "ca.crt");
        _cleanup_free_ char *ns = vol_path("projected", "kube-api-access-x1", "namespace");
        kn_error err;
        struct stat st;
        int posts;
        (void)state;

        need_root();
        pthread_mutex_lock(&F.mu);
        F.token_posts = 0;
        F.token_life = 3607;
        pthread_mutex_unlock(&F.mu);
        assert_int_equal(kubelet_volumes_setup(V, pod, &err), 0);
        assert_true(is_tmpfs(dir));
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(st.st_mode & 07777, 01777);
        assert_link(token, "..data/token");
        assert_file(ca, "-----BEGIN CERTIFICATE-----\n", 0644);
        assert_file(ns, "ns", 0644);
        {
                char *t;
                assert_int_equal(kn_read_file(token, 100, &t, NULL), 0);
                assert_true(strncmp(t, "token-", 6) == 0);
                free(t);
        }
        assert_string_equal(F.last_token_path + strlen(F.last_token_path) - strlen("/builder/token"),
                            "/builder/token");
        {
                _cleanup_free_ char *a = vol_path("projected", "mix", "cfg/a");
                _cleanup_free_ char *pw = vol_path("projected", "mix", "pw");
                _cleanup_free_ char *vt = vol_path("projected", "mix", "vault/token");
                assert_file(a, "alpha", 0644);
                assert_file(pw, "hunter2", 0400);
                assert_int_equal(access(vt, F_OK), 0);
        }
        posts = F.token_posts;
        assert_int_equal(posts, 2); /* two audiences/lifetimes: two tokens */

        /* a refresh within the token's life asks for nothing */
        assert_int_equal(kubelet_volumes_setup(V, pod, &err), 0);
        assert_int_equal(F.token_posts, posts);
        assert_int_equal(kubelet_volumes_teardown(V, UID, &err), 0);

        /* tokens that live 60 s of the asked 3607: past 80% of their life at once, so
         * every refresh renews them and the file follows */
        pthread_mutex_lock(&F.mu);
        F.token_life = 60;
        pthread_mutex_unlock(&F.mu);
        assert_int_equal(kubelet_volumes_setup(V, grouped, &err), 0);
        posts = F.token_posts;
        assert_file(token, "token-3", 0640); /* 0600 with fsGroup, then the group's read */
        assert_int_equal(stat(token, &st), 0);
        assert_int_equal(st.st_gid, 4000);
        assert_int_equal(kubelet_volumes_setup(V, grouped, &err), 0);
        assert_int_equal(F.token_posts, posts + 1);
        assert_file(token, "token-4", 0640);

        assert_int_equal(kubelet_volumes_setup(V, broken, &err), -ENOENT);
        assert_string_equal(err.msg, "MountVolume.SetUp failed for volume \"p\" : [configmap \"nope\" not found, "
                                     "clusterTrustBundle projections are not supported by knode]");
        assert_int_equal(kubelet_volumes_teardown(V, UID, &err), 0);
}

/* ---- container mounts ---- */

static void test_mounts(void **state)
{
        _cleanup_cjson_ cJSON *pod = pod_json(
                "{\"nodeName\":\"node1\",\"volumes\":[{\"name\":\"data\",\"emptyDir\":{}},"
                "{\"name\":\"cfg\",\"configMap\":{\"name\":\"cm\"}},"
                "{\"name\":\"host\",\"hostPath\":{\"path\":\"/tmp\"}}],"
                "\"containers\":[{\"name\":\"app\",\"env\":["
                "{\"name\":\"POD\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}},"
                "{\"name\":\"DIR\",\"value\":\"logs-$(POD)\"},"
                "{\"name\":\"PW\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"sec\",\"key\":\"password\"}}}],"
                "\"volumeMounts\":["
                "{\"name\":\"data\",\"mountPath\":\"/data\"},"
                "{\"name\":\"cfg\",\"mountPath\":\"/etc/cfg\"},"
                "{\"name\":\"host\",\"mountPath\":\"/host\",\"readOnly\":true,\"mountPropagation\":\"HostToContainer\"},"
                "{\"name\":\"data\",\"mountPath\":\"/logs\",\"subPathExpr\":\"$(DIR)/$(NODE_X)$$\"},"
                "{\"name\":\"data\",\"mountPath\":\"/work\",\"subPath\":\"a/b\"},"
                "{\"name\":\"cfg\",\"mountPath\":\"/etc/a\",\"subPath\":\"a\"}]}]}");
        kubelet_mount *m = NULL;
        size_t n = 0;
        kn_error err;
        struct stat st, st2;
        _cleanup_free_ char *data = vol_path("empty-dir", "data", NULL);
        _cleanup_free_ char *sp3 = kn_asprintf("%s/pods/" UID "/volume-subpaths/data/app/3", root);
        _cleanup_free_ char *sp4 = kn_asprintf("%s/pods/" UID "/volume-subpaths/data/app/4", root);
        _cleanup_free_ char *sp5 = kn_asprintf("%s/pods/" UID "/volume-subpaths/cfg/app/5", root);
        const cJSON *c;
        (void)state;

        need_root();
        assert_int_equal(kubelet_volumes_setup(V, pod, &err), 0);
        c = cJSON_GetArrayItem(kn_json_path(pod, "spec.containers"), 0);
        /* $(NODE_X) is not defined: upstream's "missing value" */
        assert_int_equal(kubelet_volumes_mounts(V, pod, c, &m, &n, &err), -EINVAL);
        assert_string_equal(err.msg, "missing value for NODE_X");
        cJSON_ReplaceItemInObject((cJSON *)cJSON_GetArrayItem(cJSON_GetObjectItem((cJSON *)c, "volumeMounts"), 3),
                                  "subPathExpr", cJSON_CreateString("$(DIR)/x$$"));
        assert_int_equal(kubelet_volumes_mounts(V, pod, c, &m, &n, &err), 0);
        assert_int_equal(n, 6);
        assert_string_equal(m[0].host_path, data);
        assert_string_equal(m[0].container_path, "/data");
        assert_false(m[0].readonly);
        assert_true(m[1].readonly); /* configMaps are always read-only */
        assert_string_equal(m[2].host_path, "/tmp");
        assert_true(m[2].readonly);
        assert_int_equal(m[2].propagation, KUBELET_PROPAGATION_HOST_TO_CONTAINER);
        assert_false(m[2].selinux_relabel);
        /* subPathExpr: created with the volume's mode, bind-mounted */
        assert_string_equal(m[3].host_path, sp3);
        {
                _cleanup_free_ char *made = kn_asprintf("%s/logs-web/x$", data);
                assert_int_equal(stat(made, &st), 0);
                assert_true(S_ISDIR(st.st_mode));
                assert_int_equal(st.st_mode & 0777, 0777);
                assert_int_equal(stat(sp3, &st2), 0);
                assert_true(st.st_ino == st2.st_ino && st.st_dev == st2.st_dev);
        }
        assert_string_equal(m[4].host_path, sp4);
        /* a subPath into a configMap: the file of the current version (no updates, as upstream) */
        assert_string_equal(m[5].host_path, sp5);
        assert_file(sp5, "alpha", 0644);
        assert_true(m[5].readonly);
        kubelet_mounts_free(m, n);

        /* again (a container restart): the same binds, not stacked */
        assert_int_equal(kubelet_volumes_mounts(V, pod, c, &m, &n, &err), 0);
        kubelet_mounts_free(m, n);
        assert_int_equal(umount2(sp4, 0), 0);
        assert_int_equal(kubelet_is_mount_point_at(AT_FDCWD, sp4), 0); /* exactly one */
        assert_int_equal(kubelet_volumes_teardown(V, UID, &err), 0);
        assert_int_equal(access(sp3, F_OK), -1);
}

static void mount_refused(cJSON *pod, const char *vm_json, int code, const char *msg)
{
        _cleanup_cjson_ cJSON *c = NULL;
        kubelet_mount *m = NULL;
        size_t n = 0;
        kn_error err = {0};
        _cleanup_free_ char *cj = kn_asprintf("{\"name\":\"app\",\"env\":[{\"name\":\"PW\",\"valueFrom\":"
                                              "{\"secretKeyRef\":{\"name\":\"s\",\"key\":\"k\"}}}],"
                                              "\"volumeMounts\":[%s]}",
                                              vm_json);
        int r;

        c = cJSON_Parse(cj);
        assert_non_null(c);
        r = kubelet_volumes_mounts(V, pod, c, &m, &n, &err);
        if (r != code)
                fail_msg("%s: %d (%s), want %d", vm_json, r, err.msg, code);
        assert_string_equal(err.msg, msg);
        assert_null(m);
}

static void test_subpath_escapes(void **state)
{
        _cleanup_cjson_ cJSON *pod = pod_json("{\"volumes\":[{\"name\":\"data\",\"emptyDir\":{}}],"
                                              "\"containers\":[{\"name\":\"app\"}]}");
        _cleanup_free_ char *data = vol_path("empty-dir", "data", NULL), *link = NULL, *link2 = NULL, *inner = NULL;
        _cleanup_free_ char *outside = kn_asprintf("%s/outside", root), *secret = NULL;
        const char *fail = "failed to prepare subPath for volumeMount \"data\" of container \"app\"";
        kn_error err;
        (void)state;

        need_root();
        assert_int_equal(kubelet_volumes_setup(V, pod, &err), 0);
        /* what a container can do inside its emptyDir */
        assert_int_equal(mkdir(outside, 0700), 0);
        secret = kn_asprintf("%s/secret", outside);
        assert_int_equal(close(open(secret, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)), 0);
        link = kn_asprintf("%s/escape", data);
        assert_int_equal(symlink(outside, link), 0);
        link2 = kn_asprintf("%s/abs", data);
        assert_int_equal(symlink("/etc", link2), 0);
        inner = kn_asprintf("%s/inner", data);
        assert_int_equal(symlink(".", inner), 0);

        mount_refused(pod, "{\"name\":\"data\",\"mountPath\":\"/x\",\"subPath\":\"escape\"}", -EXDEV, fail);
        mount_refused(pod, "{\"name\":\"data\",\"mountPath\":\"/x\",\"subPath\":\"escape/secret\"}", -EXDEV, fail);
        mount_refused(pod, "{\"name\":\"data\",\"mountPath\":\"/x\",\"subPath\":\"escape/new/dir\"}", -EXDEV, fail);
        mount_refused(pod, "{\"name\":\"data\",\"mountPath\":\"/x\",\"subPath\":\"abs/passwd\"}", -EXDEV, fail);
        mount_refused(pod, "{\"name\":\"data\",\"mountPath\":\"/x\",\"subPath\":\"../../../etc\"}", -EINVAL,
                      "unable to provision SubPath `../../../etc`: must not contain '..'");
        mount_refused(pod, "{\"name\":\"data\",\"mountPath\":\"/x\",\"subPath\":\"a/..\"}", -EINVAL,
                      "unable to provision SubPath `a/..`: must not contain '..'");
        mount_refused(pod, "{\"name\":\"data\",\"mountPath\":\"/x\",\"subPath\":\"/etc\"}", -EINVAL,
                      "error SubPath `/etc` must not be an absolute path");
        mount_refused(pod, "{\"name\":\"data\",\"mountPath\":\"/x\",\"subPathExpr\":\"$(PW)\"}", -EOPNOTSUPP,
                      "subPathExpr of volumeMount \"data\" uses $(PW), whose source knode cannot resolve for volumes");
        mount_refused(pod, "{\"name\":\"nope\",\"mountPath\":\"/x\"}", -ENOENT,
                      "cannot find volume \"nope\" to mount into container \"app\"");
        mount_refused(pod, "{\"name\":\"data\",\"mountPath\":\"/x\",\"mountPropagation\":\"Bidirectional\"}", -EPERM,
                      "Bidirectional mount propagation is available only to privileged containers");
        /* nothing was created outside */
        {
                _cleanup_free_ char *nd = kn_asprintf("%s/new", outside);
                assert_int_equal(access(nd, F_OK), -1);
        }
        /* a symlink that stays inside is fine, as upstream */
        {
                kubelet_mount *m = NULL;
                size_t n = 0;
                _cleanup_cjson_ cJSON *c = cJSON_Parse(
                        "{\"name\":\"app\",\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/x\",\"subPath\":\"inner\"}]}");
                assert_int_equal(kubelet_volumes_mounts(V, pod, c, &m, &n, &err), 0);
                kubelet_mounts_free(m, n);
        }
        assert_int_equal(kubelet_volumes_teardown(V, UID, &err), 0);
        assert_int_equal(kubelet_rm_rf_at(AT_FDCWD, outside), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_atomic_writer),
                cmocka_unit_test(test_atomic_writer_paths),
                cmocka_unit_test(test_atomic_writer_readers),
                cmocka_unit_test(test_teardown_busy),
                cmocka_unit_test(test_empty_dir),
                cmocka_unit_test(test_empty_dir_bad),
                cmocka_unit_test(test_host_path),
                cmocka_unit_test(test_config_map),
                cmocka_unit_test(test_config_map_errors),
                cmocka_unit_test(test_secret),
                cmocka_unit_test(test_downward_api),
                cmocka_unit_test(test_field_ref),
                cmocka_unit_test(test_projected),
                cmocka_unit_test(test_mounts),
                cmocka_unit_test(test_subpath_escapes),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
