/* SPDX-License-Identifier: Apache-2.0 */
/* The kubelet server's CRI-backed endpoints against a scripted runtime (fakecri.h) and
 * a fake API server serving one pod to the informer: /containerLogs (attempt lookup by
 * labels, previous, follow until the container exits), /exec and /portForward (the
 * streaming URL, the upgraded connection relayed both ways to a fake stream server),
 * /run, /stats/summary and /metrics/resource from pod stats, and log rotation with
 * ReopenContainerLog. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>

#include "../../runtime/cri.h"
#include "../../runtime/grpc.h"

#include "fakeapi.h"
#include "fakecri.h"

#include "../../kubelet/logs.h"
#include "../../kubelet/server.h"

static char dir[64];
static int stream_port;
static int c1_state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
static int n_reopen;
static int no_pod_stats; /* ListPodSandboxStats fails: the server falls back to ListContainerStats */

#define UNPACK(type, fn) Runtime__V1__##type *in = runtime__v1__##fn##__unpack(NULL, len - 5, req + 5)

static const char *label(Runtime__V1__ContainerFilter *f, const char *key)
{
        for (size_t i = 0; f && i < f->n_label_selector; i++)
                if (strcmp(f->label_selector[i]->key, key) == 0)
                        return f->label_selector[i]->value;
        return NULL;
}

static void cri_handler(void *u, const char *method, const uint8_t *req, size_t len, const char *tmo,
                        fake_cri_reply *reply)
{
        const char *m = strrchr(method, '/') + 1;
        char path[160], url[96];
        (void)u, (void)tmo;

        snprintf(url, sizeof(url), "http://127.0.0.1:%d/stream/token", stream_port);
        if (strcmp(m, "ListContainers") == 0) {
                UNPACK(ListContainersRequest, list_containers_request);
                Runtime__V1__ListContainersResponse out = RUNTIME__V1__LIST_CONTAINERS_RESPONSE__INIT;
                Runtime__V1__Container c0 = RUNTIME__V1__CONTAINER__INIT, c1 = RUNTIME__V1__CONTAINER__INIT;
                Runtime__V1__ContainerMetadata m0 = RUNTIME__V1__CONTAINER_METADATA__INIT, m1 = m0;
                Runtime__V1__Container *cs[2] = {&c0, &c1}; /* oldest first: the server sorts */
                bool ours = in->filter && kn_streq(label(in->filter, "io.kubernetes.pod.uid"), "uid-1") &&
                            kn_streq(label(in->filter, "io.kubernetes.container.name"), "app");
                m0.name = m1.name = "app";
                m0.attempt = 0;
                m1.attempt = 1;
                c0.pod_sandbox_id = c1.pod_sandbox_id = "sb1";
                c0.id = "c0", c0.metadata = &m0, c0.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
                c0.created_at = 1000000000000000000LL;
                c1.id = "c1", c1.metadata = &m1, c1.state = __atomic_load_n(&c1_state, __ATOMIC_SEQ_CST);
                c1.created_at = 1100000000000000000LL;
                out.n_containers = ours || !in->filter || !in->filter->n_label_selector ? 2 : 0;
                out.containers = cs;
                fake_cri_reply_msg(reply, &out.base);
                runtime__v1__list_containers_request__free_unpacked(in, NULL);
        } else if (strcmp(m, "ContainerStatus") == 0) {
                UNPACK(ContainerStatusRequest, container_status_request);
                Runtime__V1__ContainerStatusResponse out = RUNTIME__V1__CONTAINER_STATUS_RESPONSE__INIT;
                Runtime__V1__ContainerStatus st = RUNTIME__V1__CONTAINER_STATUS__INIT;
                snprintf(path, sizeof(path), "%s/%s.log", dir, in->container_id);
                st.id = in->container_id;
                st.log_path = path;
                st.state = strcmp(in->container_id, "c1") == 0 ? __atomic_load_n(&c1_state, __ATOMIC_SEQ_CST)
                                                               : RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
                out.status = &st;
                fake_cri_reply_msg(reply, &out.base);
                runtime__v1__container_status_request__free_unpacked(in, NULL);
        } else if (strcmp(m, "Exec") == 0) {
                UNPACK(ExecRequest, exec_request);
                Runtime__V1__ExecResponse out = RUNTIME__V1__EXEC_RESPONSE__INIT;
                assert_string_equal(in->container_id, "c1");
                assert_int_equal(in->n_cmd, 2);
                assert_string_equal(in->cmd[0], "sh");
                assert_string_equal(in->cmd[1], "-c");
                assert_true(in->stdin && in->stdout && !in->stderr && in->tty);
                out.url = url;
                fake_cri_reply_msg(reply, &out.base);
                runtime__v1__exec_request__free_unpacked(in, NULL);
        } else if (strcmp(m, "PortForward") == 0) {
                UNPACK(PortForwardRequest, port_forward_request);
                Runtime__V1__PortForwardResponse out = RUNTIME__V1__PORT_FORWARD_RESPONSE__INIT;
                assert_string_equal(in->pod_sandbox_id, "sb1");
                out.url = url;
                fake_cri_reply_msg(reply, &out.base);
                runtime__v1__port_forward_request__free_unpacked(in, NULL);
        } else if (strcmp(m, "ListPodSandbox") == 0) {
                Runtime__V1__ListPodSandboxResponse out = RUNTIME__V1__LIST_POD_SANDBOX_RESPONSE__INIT;
                /* sb0: the pod's sandbox before a restart, still listed */
                Runtime__V1__PodSandbox sb = RUNTIME__V1__POD_SANDBOX__INIT, sb0 = sb, *sbs[2] = {&sb0, &sb};
                Runtime__V1__PodSandboxMetadata pm = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
                pm.name = "web", pm.namespace_ = "default", pm.uid = "uid-1";
                sb.metadata = sb0.metadata = &pm;
                sb.id = "sb1";
                sb.created_at = 900000000000000000LL;
                sb0.id = "sb0";
                sb0.created_at = 800000000000000000LL;
                out.n_items = 2;
                out.items = sbs;
                fake_cri_reply_msg(reply, &out.base);
        } else if (strcmp(m, "ExecSync") == 0) {
                UNPACK(ExecSyncRequest, exec_sync_request);
                Runtime__V1__ExecSyncResponse out = RUNTIME__V1__EXEC_SYNC_RESPONSE__INIT;
                bool fail = in->n_cmd > 0 && strcmp(in->cmd[0], "false") == 0;
                out.stdout.data = (uint8_t *)(fail ? "" : "hello\n");
                out.stdout.len = fail ? 0 : 6;
                out.stderr.data = (uint8_t *)(fail ? "oops" : "");
                out.stderr.len = fail ? 4 : 0;
                out.exit_code = fail ? 1 : 0;
                fake_cri_reply_msg(reply, &out.base);
                runtime__v1__exec_sync_request__free_unpacked(in, NULL);
        } else if (strcmp(m, "ReopenContainerLog") == 0) {
                UNPACK(ReopenContainerLogRequest, reopen_container_log_request);
                Runtime__V1__ReopenContainerLogResponse out = RUNTIME__V1__REOPEN_CONTAINER_LOG_RESPONSE__INIT;
                if (strcmp(in->container_id, "c1") == 0) {
                        snprintf(path, sizeof(path), "%s/rot/0.log", dir);
                        FILE *f = fopen(path, "w");
                        fclose(f);
                        __atomic_add_fetch(&n_reopen, 1, __ATOMIC_SEQ_CST);
                        fake_cri_reply_msg(reply, &out.base);
                } else {
                        reply->trailers_only = true;
                        reply->grpc_status = CRI_GRPC_NOT_FOUND;
                        reply->grpc_message = "no%20such%20container";
                }
                runtime__v1__reopen_container_log_request__free_unpacked(in, NULL);
        } else if (strcmp(m, "ListPodSandboxStats") == 0 && __atomic_load_n(&no_pod_stats, __ATOMIC_SEQ_CST)) {
                reply->trailers_only = true;
                reply->grpc_status = 2; /* UNKNOWN, as containerd for a sandbox without cgroup */
                reply->grpc_message = "failed%20to%20obtain%20metrics";
        } else if (strcmp(m, "ListPodSandboxStats") == 0 || strcmp(m, "ListContainerStats") == 0) {
                bool containers = strcmp(m, "ListContainerStats") == 0;
                Runtime__V1__ListPodSandboxStatsResponse out = RUNTIME__V1__LIST_POD_SANDBOX_STATS_RESPONSE__INIT;
                Runtime__V1__PodSandboxStats ps = RUNTIME__V1__POD_SANDBOX_STATS__INIT, *pss[1] = {&ps};
                Runtime__V1__PodSandboxAttributes pa = RUNTIME__V1__POD_SANDBOX_ATTRIBUTES__INIT;
                Runtime__V1__PodSandboxMetadata pm = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
                Runtime__V1__LinuxPodSandboxStats lx = RUNTIME__V1__LINUX_POD_SANDBOX_STATS__INIT;
                Runtime__V1__ContainerStats cst = RUNTIME__V1__CONTAINER_STATS__INIT, *csts[1] = {&cst};
                Runtime__V1__ContainerAttributes ca = RUNTIME__V1__CONTAINER_ATTRIBUTES__INIT;
                Runtime__V1__ContainerMetadata cm = RUNTIME__V1__CONTAINER_METADATA__INIT;
                Runtime__V1__CpuUsage cpu = RUNTIME__V1__CPU_USAGE__INIT;
                Runtime__V1__MemoryUsage mem = RUNTIME__V1__MEMORY_USAGE__INIT;
                Runtime__V1__UInt64Value v1 = RUNTIME__V1__UINT64_VALUE__INIT, v2 = v1, v3 = v1;
                pm.name = "web", pm.namespace_ = "default", pm.uid = "uid-1";
                pa.id = "sb1", pa.metadata = &pm;
                cm.name = "app";
                ca.id = "c1", ca.metadata = &cm;
                v1.value = 2500000000ULL; /* 2.5 core-seconds */
                v2.value = 1000000;
                v3.value = 4096;
                cpu.timestamp = 1700000000000000000LL;
                cpu.usage_core_nano_seconds = &v1;
                cpu.usage_nano_cores = &v2;
                mem.timestamp = 1700000000000000000LL;
                mem.working_set_bytes = &v3;
                cst.attributes = &ca, cst.cpu = &cpu, cst.memory = &mem;
                lx.cpu = &cpu, lx.memory = &mem, lx.n_containers = 1, lx.containers = csts;
                ps.attributes = &pa, ps.linux = &lx;
                Runtime__V1__PodSandboxStats ps0 = ps;
                Runtime__V1__PodSandboxAttributes pa0 = pa;
                Runtime__V1__PodSandboxStats *pss2[2] = {&ps0, &ps};
                pa0.id = "sb0";
                ps0.attributes = &pa0;
                ps0.linux = NULL;
                out.n_stats = 2;
                out.stats = pss2;
                (void)pss;
                if (containers) {
                        Runtime__V1__ListContainerStatsResponse cout = RUNTIME__V1__LIST_CONTAINER_STATS_RESPONSE__INIT;
                        cout.n_stats = 1;
                        cout.stats = csts;
                        fake_cri_reply_msg(reply, &cout.base);
                } else {
                        fake_cri_reply_msg(reply, &out.base);
                }
        } else if (strcmp(m, "ImageFsInfo") == 0) {
                Runtime__V1__ImageFsInfoResponse out = RUNTIME__V1__IMAGE_FS_INFO_RESPONSE__INIT;
                Runtime__V1__FilesystemUsage fu = RUNTIME__V1__FILESYSTEM_USAGE__INIT, *fus[1] = {&fu};
                Runtime__V1__FilesystemIdentifier id = RUNTIME__V1__FILESYSTEM_IDENTIFIER__INIT;
                Runtime__V1__UInt64Value used = RUNTIME__V1__UINT64_VALUE__INIT;
                used.value = 12345;
                id.mountpoint = dir;
                fu.fs_id = &id, fu.used_bytes = &used;
                out.n_image_filesystems = 1;
                out.image_filesystems = fus;
                fake_cri_reply_msg(reply, &out.base);
        } else {
                reply->trailers_only = true;
                reply->grpc_status = 12; /* UNIMPLEMENTED */
        }
}

/* The API server: one pod on the node; watches end at once (the informer re-opens). */
static void api_handler(void *u, const kn_http_request *req, kn_http_response *resp)
{
        (void)u;
        resp->content_type = "application/json";
        if (strcmp(req->path, "/api/v1/pods") != 0) {
                resp->status = 404;
                return;
        }
        if (strstr(req->query, "watch=1")) {
                usleep(200000);
                return;
        }
        kn_buf_printf(&resp->body,
                      "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"5\"},"
                      "\"items\":[{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\",\"uid\":\"uid-1\","
                      "\"resourceVersion\":\"5\"},\"spec\":{\"containers\":[{\"name\":\"app\"}]}}]}");
}

/* The runtime's stream server: answers one upgrade, then echoes. */
static int stream_listen_fd;
static char stream_seen[4096];

static void *stream_server(void *p)
{
        int fd = accept4(stream_listen_fd, NULL, NULL, SOCK_CLOEXEC);
        char buf[4096];
        size_t len = 0;
        ssize_t n;
        (void)p;
        if (fd < 0)
                return NULL;
        while (!strstr(stream_seen, "\r\n\r\n") && len < sizeof(stream_seen) - 1 &&
               (n = read(fd, stream_seen + len, sizeof(stream_seen) - 1 - len)) > 0)
                len += (size_t)n;
        const char *resp = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                           "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n";
        (void)!write(fd, resp, strlen(resp));
        /* bytes that came with the head are echoed first */
        char *body = strstr(stream_seen, "\r\n\r\n") + 4;
        if (*body)
                (void)!write(fd, body, strlen(body));
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                (void)!write(fd, buf, (size_t)n);
        close(fd);
        return NULL;
}

static kn_httpd *api_srv;
static kn_api *api;
static kn_informer *pods;
static fake_cri *cri_srv;
static cri_client *cri;
static kubelet_server *srv;
static kubelet_config cfg;
static char pki[128], ca[160], sock[128], endpoint[160];

static void run(const char *fmt, ...) KN_PRINTF(1, 2);
static void run(const char *fmt, ...)
{
        char cmd[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
        kn_error err;
        struct sockaddr_in a = {.sin_family = AF_INET};
        socklen_t al = sizeof(a);
        (void)state;

        strcpy(dir, "/tmp/kn-kcri-XXXXXX");
        assert_non_null(mkdtemp(dir));
        curl_global_init(CURL_GLOBAL_DEFAULT);
        run("cd %s && printf 'extendedKeyUsage=clientAuth\\n' >ext && "
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key "
            "-out ca.crt -days 1 -subj /CN=test-ca 2>/dev/null && "
            "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout client.key "
            "-out client.csr -subj '/CN=admin' 2>/dev/null && "
            "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 1 "
            "-extfile ext 2>/dev/null && mkdir rot",
            dir);
        /* logs of two attempts */
        run("cd %s && printf '2016-10-06T00:00:01Z stdout F zero\\n' >c0.log && "
            "printf '2016-10-06T00:00:02Z stdout F one\\n2016-10-06T00:00:03Z stderr F two\\n' >c1.log",
            dir);

        stream_listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        assert_int_equal(bind(stream_listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(stream_listen_fd, 4), 0);
        getsockname(stream_listen_fd, (struct sockaddr *)&a, &al);
        stream_port = ntohs(a.sin_port);

        snprintf(sock, sizeof(sock), "%s/cri.sock", dir);
        snprintf(endpoint, sizeof(endpoint), "unix://%s", sock);
        cri_srv = fake_cri_start(sock, cri_handler, NULL);
        assert_int_equal(cri_client_new(endpoint, NULL, 10000, &cri, &err), 0);
        fake_api_start(api_handler, NULL, &api_srv, &api);
        assert_int_equal(kn_informer_new(api, "v1", "pods", NULL, NULL, &pods), 0);
        kn_informer_start(pods);
        assert_int_equal(kn_informer_wait_synced(pods, 5000), 0);

        snprintf(pki, sizeof(pki), "%s/pki", dir);
        snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
        cfg = (kubelet_config){.cert_dir = pki, .client_ca_file = ca, .authorization_mode = "AlwaysAllow",
                               .root_dir = dir};
        kubelet_server_opts o = {.cfg = &cfg, .node_name = "node-a", .api = api, .cri = cri, .pods = kubelet_informer_pod_source(pods),
                                 .listen_addr = "127.0.0.1:0"};
        assert_int_equal(kubelet_server_start(&o, &srv, &err), 0);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        kubelet_server_free(srv);
        kn_informer_free(pods);
        fake_api_stop(api_srv, api);
        cri_client_cancel(cri);
        cri_client_free(cri);
        fake_cri_stop(cri_srv);
        close(stream_listen_fd);
        run("rm -rf %s", dir);
        curl_global_cleanup();
        return 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *u)
{
        kn_buf_append(u, p, sz * n);
        return sz * n;
}

static long request(const char *method, const char *path, char **body)
{
        CURL *c = curl_easy_init();
        char url[256], cert[160], key[160];
        kn_buf b = {0};
        long status = 0;

        snprintf(url, sizeof(url), "https://127.0.0.1:%d%s", kubelet_server_port(srv), path);
        snprintf(cert, sizeof(cert), "%s/client.crt", dir);
        snprintf(key, sizeof(key), "%s/client.key", dir);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (strcmp(method, "POST") == 0)
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, key);
        if (curl_easy_perform(c) == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        *body = b.data ? b.data : kn_strdup("");
        return status;
}

static void expect(const char *method, const char *path, long status, const char *want)
{
        char *b;
        long st = request(method, path, &b);
        if (st != status || (want && strcmp(b, want) != 0))
                fprintf(stderr, "%s %s: %ld '%s'\n", method, path, st, b);
        assert_int_equal(st, status);
        if (want)
                assert_string_equal(b, want);
        free(b);
}

static void test_container_logs(void **state)
{
        (void)state;
        expect("GET", "/containerLogs/default/web/app", 200, "one\ntwo\n");
        expect("GET", "/containerLogs/default/web/app?previous=true", 200, "zero\n");
        expect("GET", "/containerLogs/default/web/app?tailLines=1&timestamps=true", 200,
               "2016-10-06T00:00:03.000000000Z two\n");
        expect("GET", "/containerLogs/default/web/nope", 404, "container \"nope\" not found in pod \"web\"");
        expect("GET", "/containerLogs/default/gone/app", 404, "pod \"gone\" does not exist");
        expect("GET", "/containerLogs/default/web", 404, NULL);
}

struct follow {
        char *body;
        long status;
};

static void *follow_thread(void *p)
{
        struct follow *f = p;
        f->status = request("GET", "/containerLogs/default/web/app?follow=true&tailLines=1", &f->body);
        return NULL;
}

static void test_container_logs_follow(void **state)
{
        struct follow f = {0};
        char path[160];
        pthread_t t;
        (void)state;

        pthread_create(&t, NULL, follow_thread, &f);
        usleep(300000);
        snprintf(path, sizeof(path), "%s/c1.log", dir);
        FILE *fp = fopen(path, "a");
        fputs("2016-10-06T00:00:04Z stdout F three\n", fp);
        fclose(fp);
        usleep(300000);
        /* the container exits: the follow ends within a check period */
        __atomic_store_n(&c1_state, RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED, __ATOMIC_SEQ_CST);
        int64_t t0 = kn_now_ms();
        pthread_join(t, NULL);
        assert_true(kn_now_ms() - t0 < 3000);
        __atomic_store_n(&c1_state, RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING, __ATOMIC_SEQ_CST);
        assert_int_equal(f.status, 200);
        assert_string_equal(f.body, "two\nthree\n");
        free(f.body);
}

static void test_run(void **state)
{
        (void)state;
        expect("POST", "/run/default/web/app?cmd=echo+hello", 200, "hello\n");
        expect("POST", "/run/default/web/uid-1/app?cmd=echo+hello", 200, "hello\n");
        expect("POST", "/run/default/web/uid-2/app?cmd=echo+hello", 404, "pod does not exist");
        expect("POST", "/run/default/web/app?cmd=false+x", 500, "command 'false x' exited with 1: oops");
        expect("GET", "/run/default/web/app?cmd=echo", 404, NULL);
}

/* A raw TLS client: send HEAD (and EXTRA right behind it), expect 101, then echo. */
static void upgrade_and_echo(const char *head, const char *extra)
{
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        char cert[160], key[160], buf[4096];
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)kubelet_server_port(srv))};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        size_t len = 0;
        SSL *ssl;
        int n;

        snprintf(cert, sizeof(cert), "%s/client.crt", dir);
        snprintf(key, sizeof(key), "%s/client.key", dir);
        assert_int_equal(SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM), 1);
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        ssl = SSL_new(ctx);
        SSL_set_fd(ssl, fd);
        assert_int_equal(SSL_connect(ssl), 1);
        char *msg = kn_asprintf("%s%s", head, extra);
        assert_int_equal(SSL_write(ssl, msg, (int)strlen(msg)), (int)strlen(msg));
        free(msg);
        while (len < sizeof(buf) - 1 && (n = SSL_read(ssl, buf + len, (int)(sizeof(buf) - 1 - len))) > 0) {
                len += (size_t)n;
                buf[len] = '\0';
                char *e = strstr(buf, "\r\n\r\n");
                if (e && strlen(e + 4) >= strlen(extra))
                        break;
        }
        assert_non_null(strstr(buf, "HTTP/1.1 101 Switching Protocols\r\n"));
        assert_non_null(strstr(buf, "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n"));
        assert_string_equal(strstr(buf, "\r\n\r\n") + 4, extra);
        /* both directions, several round trips */
        for (int i = 0; i < 3; i++) {
                char out[32], in[32] = {0};
                snprintf(out, sizeof(out), "frame-%d", i);
                assert_int_equal(SSL_write(ssl, out, (int)strlen(out)), (int)strlen(out));
                size_t got = 0;
                while (got < strlen(out) && (n = SSL_read(ssl, in + got, (int)(strlen(out) - got))) > 0)
                        got += (size_t)n;
                assert_string_equal(in, out);
        }
        SSL_shutdown(ssl);
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        close(fd);
}

static void test_exec_proxy(void **state)
{
        pthread_t t;
        (void)state;

        memset(stream_seen, 0, sizeof(stream_seen));
        pthread_create(&t, NULL, stream_server, NULL);
        upgrade_and_echo("POST /exec/default/web/app?command=sh&command=-c&input=1&output=1&error=1&tty=1 HTTP/1.1\r\n"
                         "Host: node-a:10250\r\nAuthorization: Bearer secret\r\nConnection: Upgrade\r\n"
                         "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n"
                         "X-Stream-Protocol-Version: v3.channel.k8s.io\r\nContent-Length: 0\r\n\r\n",
                         "early");
        pthread_join(t, NULL);
        /* what the runtime saw: its own URL, the client's upgrade headers, no credentials */
        assert_non_null(strstr(stream_seen, "POST /stream/token HTTP/1.1\r\n"));
        assert_non_null(strstr(stream_seen, "\r\nUpgrade: SPDY/3.1\r\n"));
        assert_non_null(strstr(stream_seen, "\r\nX-Stream-Protocol-Version: v3.channel.k8s.io\r\n"));
        assert_null(strstr(stream_seen, "Authorization"));
        assert_null(strstr(stream_seen, "node-a:10250"));

        memset(stream_seen, 0, sizeof(stream_seen));
        pthread_create(&t, NULL, stream_server, NULL);
        upgrade_and_echo("GET /portForward/default/web HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                         "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n",
                         "");
        pthread_join(t, NULL);
        assert_non_null(strstr(stream_seen, "GET /stream/token HTTP/1.1\r\n"));

        /* no upgrade: refused before the runtime is asked */
        expect("POST", "/exec/default/web/app?command=sh&output=1", 500, "Upgrade request required");
        expect("POST", "/exec/default/web/uid-9/app?command=sh&output=1", 404, "pod does not exist");
}

static void check_stats(void)
{
        char *b;
        assert_int_equal(request("GET", "/stats/summary", &b), 200);
        cJSON *s = cJSON_Parse(b);
        free(b);
        assert_int_equal(cJSON_GetArraySize(kn_json_path(s, "pods")), 1); /* the newest sandbox only */
        const cJSON *pod = cJSON_GetArrayItem(kn_json_path(s, "pods"), 0);
        assert_string_equal(cJSON_GetStringValue(kn_json_path(pod, "podRef.name")), "web");
        assert_string_equal(cJSON_GetStringValue(kn_json_path(pod, "podRef.uid")), "uid-1");
        assert_string_equal(cJSON_GetStringValue(kn_json_path(pod, "startTime")), "1998-07-09T16:00:00Z");
        const cJSON *c = cJSON_GetArrayItem(kn_json_path(pod, "containers"), 0);
        assert_string_equal(cJSON_GetStringValue(kn_json_path(c, "name")), "app");
        assert_string_equal(cJSON_GetStringValue(kn_json_path(c, "startTime")), "2004-11-09T11:33:20Z");
        assert_int_equal((long)cJSON_GetNumberValue(kn_json_path(c, "cpu.usageNanoCores")), 1000000);
        assert_int_equal((long)cJSON_GetNumberValue(kn_json_path(c, "memory.workingSetBytes")), 4096);
        assert_int_equal((long)cJSON_GetNumberValue(kn_json_path(s, "node.runtime.imageFs.usedBytes")), 12345);
        assert_true(cJSON_GetNumberValue(kn_json_path(s, "node.runtime.imageFs.capacityBytes")) > 0);
        cJSON_Delete(s);

        assert_int_equal(request("GET", "/metrics/resource", &b), 200);
        assert_non_null(strstr(b, "\ncontainer_cpu_usage_seconds_total{container=\"app\",namespace=\"default\","
                                  "pod=\"web\"} 2.500000000 1700000000000\n"));
        assert_non_null(strstr(b, "\npod_memory_working_set_bytes{namespace=\"default\",pod=\"web\"} 4096 "
                                  "1700000000000\n"));
        assert_non_null(strstr(b, "\ncontainer_start_time_seconds{container=\"app\",namespace=\"default\",pod=\"web\"} "
                                  "1100000000.000000000\n"));
        assert_non_null(strstr(b, "\nscrape_error 0\n"));
        free(b);

        assert_int_equal(request("GET", "/metrics/cadvisor", &b), 200);
        assert_non_null(strstr(b, "# TYPE container_cpu_usage_seconds_total counter\n"));
        assert_non_null(strstr(b, "\ncontainer_cpu_usage_seconds_total{container=\"app\",id=\""));
        assert_non_null(strstr(b, "namespace=\"default\",pod=\"web\"} 2.500000000 1700000000000\n"));
        assert_non_null(strstr(b, "\ncontainer_memory_working_set_bytes{container=\"app\","));
        assert_non_null(strstr(b, "\nmachine_cpu_cores "));
        assert_non_null(strstr(b, "\ncontainer_scrape_error 0\n"));
        free(b);
}

static void test_running_pods(void **state)
{
        (void)state;
        /* the fake ignores filters: both attempts, under each sandbox they name (sb1) */
        expect("GET", "/runningpods/", 200,
               "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":["
               "{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\",\"uid\":\"uid-1\",\"creationTimestamp\":null},"
               "\"spec\":{\"containers\":[]},\"status\":{}},"
               "{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\",\"uid\":\"uid-1\",\"creationTimestamp\":null},"
               "\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"\",\"resources\":{}},"
               "{\"name\":\"app\",\"image\":\"\",\"resources\":{}}]},\"status\":{}}]}");
}

static void test_stats(void **state)
{
        (void)state;
        check_stats();
        /* the same from container stats when the runtime cannot give pod stats */
        __atomic_store_n(&no_pod_stats, 1, __ATOMIC_SEQ_CST);
        check_stats();
        __atomic_store_n(&no_pod_stats, 0, __ATOMIC_SEQ_CST);
}

static int count_files(const char *d)
{
        DIR *dd = opendir(d);
        int n = 0;
        for (struct dirent *de; (de = readdir(dd));)
                n += de->d_name[0] != '.';
        closedir(dd);
        return n;
}

static void test_rotate(void **state)
{
        char path[160], p2[200];
        kn_error err;
        (void)state;

        snprintf(path, sizeof(path), "%s/rot/0.log", dir);
        run("cd %s/rot && head -c 2048 /dev/zero >0.log && echo old >0.log.20200101-000000.gz && "
            "echo older >0.log.20200102-000000 && echo tmp >0.log.20200103-000000.tmp && echo x >1.log",
            dir);
        assert_int_equal(kubelet_logs_rotate(cri, "c1", path, 4096, 3, &err), 0); /* small enough */
        assert_int_equal(kubelet_logs_rotate(cri, "c1", path, 1024, 3, &err), 1);
        assert_int_equal(n_reopen, 1);
        /* the tmp is gone, the oldest removed, the next gzipped, the current renamed, a new
         * one opened by the runtime; other containers' files untouched */
        snprintf(p2, sizeof(p2), "%s/rot/0.log.20200102-000000.gz", dir);
        assert_int_equal(access(p2, F_OK), 0);
        run("cd %s/rot && gzip -dc 0.log.20200102-000000.gz | grep -qx older && ! ls 0.log.2020010[13]* 2>/dev/null | "
            "grep -v 0.log.20200102-000000.gz && [ ! -s 0.log ] && "
            "[ $(stat -c %%s $(ls 0.log.2* | grep -v 2020)) -eq 2048 ] && [ -f 1.log ]",
            dir);
        assert_int_equal(count_files(p2[0] ? (snprintf(p2, sizeof(p2), "%s/rot", dir), p2) : p2), 4);
        /* the runtime refuses: the rotated file is renamed back */
        run("head -c 2048 /dev/zero >%s", path);
        assert_int_equal(kubelet_logs_rotate(cri, "bad", path, 1024, 3, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "no such container"));
        run("[ $(stat -c %%s %s) -eq 2048 ]", path);
        /* a log removed behind the runtime's back is reopened first */
        int before = n_reopen;
        run("rm %s", path);
        assert_int_equal(kubelet_logs_rotate(cri, "c1", path, 1024, 3, &err), 0);
        assert_int_equal(n_reopen, before + 1);
        assert_int_equal(access(path, F_OK), 0);
        /* one pass over the running containers: c1 (running) is rotated, c0 (exited) not */
        kn_hashmap paths = {0};
        assert_int_equal(kubelet_logs_rotate_all(cri, &paths, 10, 5), 1);
        run("ls %s/c1.log.2* >/dev/null && [ ! -e %s/c1.log ] && ! ls %s/c0.log.* 2>/dev/null", dir, dir, dir);
        /* the running container's path is kept, the exited one's never asked for */
        assert_int_equal(paths.len, 1);
        assert_non_null(kn_hashmap_get(&paths, "c1"));
        kn_hashmap_clear(&paths, free);

}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_container_logs), cmocka_unit_test(test_container_logs_follow),
                cmocka_unit_test(test_run),            cmocka_unit_test(test_exec_proxy),
                cmocka_unit_test(test_stats),          cmocka_unit_test(test_rotate),
                cmocka_unit_test(test_running_pods),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
