/* SPDX-License-Identifier: Apache-2.0 */
/* kubelet/server.c end to end over HTTPS on loopback: the self-signed serving
 * certificate, client certificates made by the openssl command against a test CA,
 * 401 for anonymous and foreign certificates, AlwaysAllow; bearer tokens and
 * SubjectAccessReviews against a fake API server (caching, 403 body); the read-only
 * port; bounded request heads; a silent client does not hold up others. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "fakeapi.h"

#include "../../kubelet/server.h"

static char dir[64];

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
        (void)state;
        strcpy(dir, "/tmp/kn-ksrv-XXXXXX");
        assert_non_null(mkdtemp(dir));
        curl_global_init(CURL_GLOBAL_DEFAULT);
        /* a client CA, a client certificate from it, and one from nowhere */
        run("cd %s && printf 'extendedKeyUsage=clientAuth\\n' >ext && "
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key "
            "-out ca.crt -days 1 -subj /CN=test-ca 2>/dev/null && "
            "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout client.key "
            "-out client.csr -subj '/O=dev/O=ops/CN=alice' 2>/dev/null && "
            "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 1 "
            "-extfile ext 2>/dev/null && "
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout rogue.key "
            "-out rogue.crt -days 1 -subj '/O=system:masters/CN=mallory' 2>/dev/null",
            dir);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        run("rm -rf %s", dir);
        curl_global_cleanup();
        return 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *u)
{
        kn_buf_append(u, p, sz * n);
        return sz * n;
}

struct client {
        const char *cert, *key, *token, *cafile;
};

/* GET https://127.0.0.1:PORT/PATH; returns the status, *BODY the body. */
static long get(const struct client *cl, bool tls, int port, const char *path, char **body)
{
        CURL *c = curl_easy_init();
        char url[256], file[160], kfile[160], auth[256];
        struct curl_slist *h = NULL;
        kn_buf b = {0};
        long status = 0;

        snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s", tls ? "https" : "http", port, path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
        if (cl && cl->cafile) {
                curl_easy_setopt(c, CURLOPT_CAINFO, cl->cafile);
        } else {
                curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (cl && cl->cert) {
                snprintf(file, sizeof(file), "%s/%s", dir, cl->cert);
                snprintf(kfile, sizeof(kfile), "%s/%s", dir, cl->key);
                curl_easy_setopt(c, CURLOPT_SSLCERT, file);
                curl_easy_setopt(c, CURLOPT_SSLKEY, kfile);
        }
        if (cl && cl->token) {
                snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cl->token);
                h = curl_slist_append(h, auth);
                curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        }
        if (curl_easy_perform(c) == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        curl_slist_free_all(h);
        *body = b.data ? b.data : kn_strdup("");
        return status;
}

static void expect(const struct client *cl, bool tls, int port, const char *path, long status, const char *body)
{
        char *b = NULL;
        long st = get(cl, tls, port, path, &b);
        if (st != status)
                fprintf(stderr, "GET %s: %ld %s\n", path, st, b);
        assert_int_equal(st, status);
        if (body)
                assert_string_equal(b, body);
        free(b);
}

static void base_config(kubelet_config *cfg, char *pki, size_t len, char *ca)
{
        snprintf(pki, len, "%s/pki", dir);
        snprintf(ca, 160, "%s/ca.crt", dir);
        *cfg = (kubelet_config){.cert_dir = pki,
                                .node_ip = "127.0.0.1",
                                .client_ca_file = ca,
                                .authorization_mode = "AlwaysAllow",
                                .root_dir = dir,
                                .authn_cache_ttl = 120000,
                                .authz_cache_authorized_ttl = 300000,
                                .authz_cache_unauthorized_ttl = 30000};
}

static void test_https_always_allow(void **state)
{
        kubelet_config cfg;
        char pki[128], ca[160], crt[160], *b = NULL;
        kubelet_server *s = NULL;
        kn_error err;
        struct stat st;
        int port, ro;
        (void)state;

        base_config(&cfg, pki, sizeof(pki), ca);
        kubelet_server_opts o = {.cfg = &cfg,
                                 .node_name = "node-a",
                                 .listen_addr = "127.0.0.1:0",
                                 .read_only_listen_addr = "127.0.0.1:0"};
        assert_int_equal(kubelet_server_start(&o, &s, &err), 0);
        port = kubelet_server_port(s);
        ro = kubelet_server_read_only_port(s);
        assert_true(port > 0 && ro > 0 && port != ro);
        /* the self-signed pair, key private, the node's IP as a SAN: curl verifies it */
        snprintf(crt, sizeof(crt), "%s/kubelet.crt", pki);
        assert_int_equal(stat(crt, &st), 0);
        snprintf(crt, sizeof(crt), "%s/kubelet.key", pki);
        assert_int_equal(stat(crt, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        snprintf(crt, sizeof(crt), "%s/kubelet.crt", pki);
        run("openssl x509 -in %s -noout -subject -ext subjectAltName | grep -q 'CN *= *node-a@' && "
            "openssl x509 -in %s -noout -ext subjectAltName | grep -q 'DNS:node-a, IP Address:127.0.0.1'",
            crt, crt);

        struct client alice = {.cert = "client.crt", .key = "client.key", .cafile = crt};
        struct client mallory = {.cert = "rogue.crt", .key = "rogue.key"};
        expect(NULL, true, port, "/healthz", 401, "Unauthorized");
        expect(&mallory, true, port, "/healthz", 401, "Unauthorized");
        expect(&alice, true, port, "/healthz", 200, "ok");
        expect(&alice, true, port, "/pods", 200, "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[]}");
        expect(&alice, true, port, "/nope", 404, NULL);
        expect(&alice, true, port, "/containerLogs/ns/pod/c", 404, "pod \"pod\" does not exist");
        expect(&alice, true, port, "/containerLogs/ns/pod/c?tailLines=-1", 422, "{\"message\": \"Invalid request.\"}");
        expect(&alice, true, port, "/containerLogs/ns/pod/c?follow=perhaps", 400, NULL);
        expect(&alice, true, port, "/exec/ns/pod/c?command=ls", 400,
               "you must specify at least 1 of stdin, stdout, stderr");
        expect(&alice, true, port, "/exec/ns/pod/c?command=ls&output=1", 404, "pod does not exist");
        expect(&alice, true, port, "/metrics/probes", 200, "");
        /* no runtime here: cAdvisor's series are empty and say so */
        assert_int_equal(get(&alice, true, port, "/metrics/cadvisor", &b), 200);
        assert_non_null(strstr(b, "\ncontainer_scrape_error 1\n"));
        free(b);
        assert_int_equal(get(&alice, true, port, "/configz", &b), 200);
        cJSON *cz = cJSON_Parse(b);
        assert_string_equal(cJSON_GetStringValue(kn_json_path(cz, "kubeletconfig.authorization.mode")), "AlwaysAllow");
        assert_string_equal(cJSON_GetStringValue(kn_json_path(cz, "kubeletconfig.kind")), "KubeletConfiguration");
        cJSON_Delete(cz);
        free(b);
        expect(NULL, false, ro, "/configz", 404, NULL);

        assert_int_equal(get(&alice, true, port, "/stats/summary", &b), 200);
        cJSON *sum = cJSON_Parse(b);
        assert_non_null(sum);
        assert_string_equal(cJSON_GetStringValue(kn_json_path(sum, "node.nodeName")), "node-a");
        assert_true(cJSON_GetNumberValue(kn_json_path(sum, "node.memory.workingSetBytes")) > 0);
        assert_true(cJSON_GetNumberValue(kn_json_path(sum, "node.cpu.usageCoreNanoSeconds")) > 0);
        assert_true(cJSON_GetNumberValue(kn_json_path(sum, "node.fs.capacityBytes")) > 0);
        assert_true(cJSON_IsArray(kn_json_path(sum, "pods")));
        cJSON_Delete(sum);
        free(b);
        assert_int_equal(get(&alice, true, port, "/metrics/resource", &b), 200);
        assert_non_null(strstr(b, "\nnode_cpu_usage_seconds_total "));
        assert_non_null(strstr(b, "\nnode_memory_working_set_bytes "));
        assert_non_null(strstr(b, "\nscrape_error 1\n")); /* no runtime */
        free(b);
        assert_int_equal(get(&alice, true, port, "/metrics", &b), 200);
        assert_non_null(strstr(b, "kubelet_http_requests_total{method=\"GET\",path=\"healthz\",server_type=\"readwrite\","
                                  "long_running=\"false\"} "));
        free(b);

        /* read-only: plain HTTP, no authentication, only the read endpoints */
        expect(NULL, false, ro, "/healthz", 200, "ok");
        expect(NULL, false, ro, "/pods", 200, NULL);
        expect(NULL, false, ro, "/exec/ns/pod/c?command=ls&output=1", 404, NULL);
        expect(NULL, false, ro, "/containerLogs/ns/pod/c", 404, NULL);
        /* TLS is not spoken on the read-only port, nor plain HTTP on the secure one */
        expect(NULL, false, port, "/healthz", 0, NULL);
        kubelet_server_free(s);
}

static int raw_connect(int port)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        return fd;
}

static void test_bounds_and_concurrency(void **state)
{
        kubelet_config cfg;
        char pki[128], ca[160], buf[256];
        kubelet_server *s = NULL;
        kn_error err;
        int silent, fd;
        ssize_t n;
        (void)state;

        base_config(&cfg, pki, sizeof(pki), ca);
        kubelet_server_opts o = {.cfg = &cfg,
                                 .node_name = "node-a",
                                 .listen_addr = "127.0.0.1:0",
                                 .read_only_listen_addr = "127.0.0.1:0"};
        assert_int_equal(kubelet_server_start(&o, &s, &err), 0);
        /* a client that says nothing holds its own thread only */
        silent = raw_connect(kubelet_server_read_only_port(s));
        int tls_silent = raw_connect(kubelet_server_port(s));
        expect(NULL, false, kubelet_server_read_only_port(s), "/healthz", 200, "ok");
        struct client alice = {.cert = "client.crt", .key = "client.key"};
        expect(&alice, true, kubelet_server_port(s), "/healthz", 200, "ok");
        /* an oversized request head is refused */
        fd = raw_connect(kubelet_server_read_only_port(s));
        char *big = kn_malloc(20000);
        memset(big, 'a', 20000);
        memcpy(big, "GET /healthz HTTP/1.1\r\nX-Big: ", 30);
        (void)!write(fd, big, 20000);
        n = read(fd, buf, sizeof(buf) - 1);
        assert_true(n > 0);
        buf[n] = '\0';
        assert_non_null(strstr(buf, "HTTP/1.1 431 "));
        close(fd);
        free(big);
        /* a malformed one too */
        fd = raw_connect(kubelet_server_read_only_port(s));
        (void)!write(fd, "HELLO\r\n\r\n", 9);
        n = read(fd, buf, sizeof(buf) - 1);
        assert_true(n > 0);
        buf[n] = '\0';
        assert_non_null(strstr(buf, "HTTP/1.1 400 "));
        close(fd);
        /* at most KUBELET_SERVER_MAX_CONNS at a time: one more is closed at once; when one
         * goes, the next is served */
        int fds[KUBELET_SERVER_MAX_CONNS];
        fds[0] = silent, fds[1] = tls_silent;
        for (int i = 2; i < KUBELET_SERVER_MAX_CONNS; i++)
                fds[i] = raw_connect(kubelet_server_read_only_port(s));
        usleep(200000);
        fd = raw_connect(kubelet_server_read_only_port(s));
        (void)!write(fd, "GET /healthz HTTP/1.1\r\n\r\n", 26);
        assert_true(read(fd, buf, sizeof(buf)) <= 0);
        close(fd);
        for (int i = 2; i < KUBELET_SERVER_MAX_CONNS; i++)
                close(fds[i]);
        usleep(200000);
        expect(NULL, false, kubelet_server_read_only_port(s), "/healthz", 200, "ok");
        /* stopping does not wait for the silent clients' timeouts */
        int64_t t0 = kn_now_ms();
        kubelet_server_free(s);
        assert_true(kn_now_ms() - t0 < 2000);
        close(silent);
        close(tls_silent);
}

/* ---- webhook authentication and authorization against a fake API server ---- */

static int n_token_reviews, n_sars;

static void fake_api(void *u, const kn_http_request *req, kn_http_response *resp)
{
        (void)u;
        /* the request body arrives with the head (curl sends small bodies in one write) */
        if (strcmp(req->path, "/apis/authentication.k8s.io/v1/tokenreviews") == 0) {
                __atomic_add_fetch(&n_token_reviews, 1, __ATOMIC_SEQ_CST);
                if (strstr(req->headers, "\"token\":\"good\""))
                        kn_buf_printf(&resp->body, "{\"kind\":\"TokenReview\",\"status\":{\"authenticated\":true,"
                                                   "\"user\":{\"username\":\"alice\",\"uid\":\"42\","
                                                   "\"groups\":[\"dev\"]}}}");
                else
                        kn_buf_printf(&resp->body, "{\"kind\":\"TokenReview\",\"status\":{\"authenticated\":false,"
                                                   "\"error\":\"invalid token\"}}");
                resp->status = 201;
        } else if (strcmp(req->path, "/apis/authorization.k8s.io/v1/subjectaccessreviews") == 0) {
                bool allowed = strstr(req->headers, "\"user\":\"alice\"") &&
                               strstr(req->headers, "\"groups\":[\"dev\",\"system:authenticated\"]") &&
                               strstr(req->headers, "\"subresource\":\"proxy\"") &&
                               strstr(req->headers, "\"name\":\"node-a\"") &&
                               strstr(req->headers, "\"resource\":\"nodes\"");
                __atomic_add_fetch(&n_sars, 1, __ATOMIC_SEQ_CST);
                kn_buf_printf(&resp->body, "{\"kind\":\"SubjectAccessReview\",\"status\":{\"allowed\":%s}}",
                              allowed ? "true" : "false");
                resp->status = 201;
        } else {
                resp->status = 404;
        }
        resp->content_type = "application/json";
}

static void test_webhooks(void **state)
{
        kubelet_config cfg;
        char pki[128], ca[160];
        kubelet_server *s = NULL;
        kn_httpd *srv;
        kn_api *api;
        kn_error err;
        int port;
        (void)state;

        fake_api_start(fake_api, NULL, &srv, &api);
        base_config(&cfg, pki, sizeof(pki), ca);
        cfg.authorization_mode = "Webhook";
        cfg.webhook_authn = true;
        cfg.anonymous_auth = true;
        kubelet_server_opts o = {.cfg = &cfg, .node_name = "node-a", .api = api, .listen_addr = "127.0.0.1:0"};
        assert_int_equal(kubelet_server_start(&o, &s, &err), 0);
        port = kubelet_server_port(s);

        struct client good = {.token = "good"}, bad = {.token = "bad"};
        /* /pods is tried as nodes/pods, then nodes/proxy */
        expect(&good, true, port, "/pods", 200, NULL);
        assert_int_equal(n_token_reviews, 1);
        assert_int_equal(n_sars, 2);
        /* cached: no more reviews */
        expect(&good, true, port, "/pods", 200, NULL);
        assert_int_equal(n_token_reviews, 1);
        assert_int_equal(n_sars, 2);
        expect(&good, true, port, "/stats/summary", 403,
               "Forbidden (user=alice, verb=get, resource=nodes, subresource(s)=[stats])\n");
        assert_int_equal(n_sars, 3);
        expect(&good, true, port, "/stats/summary", 403, NULL);
        assert_int_equal(n_sars, 3);
        /* an unauthenticated token falls to anonymous (enabled here), which is denied */
        expect(&bad, true, port, "/healthz", 403,
               "Forbidden (user=system:anonymous, verb=get, resource=nodes, subresource(s)=[healthz proxy])\n");
        assert_int_equal(n_token_reviews, 2);
        expect(&bad, true, port, "/healthz", 403, NULL);
        assert_int_equal(n_token_reviews, 2);
        /* a client certificate wins over a token and is not reviewed */
        struct client alice = {.cert = "client.crt", .key = "client.key", .token = "bad"};
        expect(&alice, true, port, "/healthz", 403,
               "Forbidden (user=alice, verb=get, resource=nodes, subresource(s)=[healthz proxy])\n");
        assert_int_equal(n_token_reviews, 2);
        kubelet_server_free(s);

        /* without anonymous, a bad token is a 401; the API server being away too */
        cfg.anonymous_auth = false;
        assert_int_equal(kubelet_server_start(&o, &s, &err), 0);
        port = kubelet_server_port(s);
        expect(&bad, true, port, "/healthz", 401, "Unauthorized");
        expect(NULL, true, port, "/healthz", 401, "Unauthorized");
        kubelet_server_free(s);
        fake_api_stop(srv, api);

        /* a SubjectAccessReview that fails is a 500 */
        kn_kubeconfig kc = {.server = "http://127.0.0.1:1"};
        assert_int_equal(kn_api_new(&kc, &(kn_api_opts){.timeout_ms = 2000}, &api, &err), 0);
        o.api = api;
        assert_int_equal(kubelet_server_start(&o, &s, &err), 0);
        alice.token = NULL;
        expect(&alice, true, kubelet_server_port(s), "/healthz", 500,
               "Authorization error (user=alice, verb=get, resource=nodes, subresource=healthz)");
        kubelet_server_free(s);
        kn_api_free(api);
}

static void test_bad_config(void **state)
{
        kubelet_config cfg;
        char pki[128], ca[160];
        kubelet_server *s = NULL;
        kn_error err;
        (void)state;

        base_config(&cfg, pki, sizeof(pki), ca);
        kubelet_server_opts o = {.cfg = &cfg, .node_name = "node-a", .listen_addr = "127.0.0.1:0"};
        cfg.authorization_mode = "RBAC";
        assert_int_equal(kubelet_server_start(&o, &s, &err), -EINVAL);
        cfg.authorization_mode = "Webhook";
        assert_int_equal(kubelet_server_start(&o, &s, &err), -EINVAL); /* no API client */
        cfg.authorization_mode = "AlwaysAllow";
        cfg.tls_cert_file = "/nonexistent.crt";
        assert_int_equal(kubelet_server_start(&o, &s, &err), -EINVAL);
        cfg.tls_private_key_file = "/nonexistent.key";
        assert_int_equal(kubelet_server_start(&o, &s, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "/nonexistent.crt"));
        /* a given pair is used as it is */
        char c[160], k[160];
        snprintf(c, sizeof(c), "%s/client.crt", dir);
        snprintf(k, sizeof(k), "%s/client.key", dir);
        cfg.tls_cert_file = c;
        cfg.tls_private_key_file = k;
        assert_int_equal(kubelet_server_start(&o, &s, &err), 0);
        kubelet_server_free(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_https_always_allow),
                cmocka_unit_test(test_bounds_and_concurrency),
                cmocka_unit_test(test_webhooks),
                cmocka_unit_test(test_bad_config),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
