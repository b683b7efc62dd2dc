/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes protobuf: decoders against hand-built messages, the watch frame decoder,
 * and the API client and informer asking a fake server for protobuf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>

#include "api.h"
#include "fakeapi.h"
#include "httpd.h"
#include "informer.h"
#include "kpb.h"
#include "pb.h"
#include "pbenc.h"
#include "watch.h"

/* Decode B (freed) and compare with the JSON text WANT. */
static void check_decodes_to(kn_buf *b, const char *want)
{
        cJSON *got = NULL, *exp = cJSON_Parse(want);
        kn_error err = {0};
        int r = kn_kpb_decode(b->data, b->len, &got, &err);
        if (r < 0)
                fail_msg("decode failed: %d %s", r, err.msg);
        assert_non_null(exp);
        if (!cJSON_Compare(got, exp, true)) {
                char *s = cJSON_PrintUnformatted(got);
                fail_msg("got  %s\nwant %s", s, want);
        }
        cJSON_Delete(got);
        cJSON_Delete(exp);
        kn_buf_free(b);
}

static void build_service(kn_buf *svc)
{
        kn_buf md = {0}, spec = {0}, st = {0}, p = {0}, ts = {0}, t = {0}, s = {0}, lb = {0}, ing = {0}, x = {0};

        pbe_str(&md, 1, "web");
        pbe_str(&md, 2, "");
        pbe_str(&md, 3, "prod");
        pbe_str(&md, 5, "0b1c");
        pbe_str(&md, 6, "123");
        pbe_int(&md, 7, 4);
        pbe_int(&ts, 1, 1700000000); /* creationTimestamp (kube-proxy ranks Services by it) */
        pbe_msg(&md, 8, &ts);
        pbe_int(&ts, 1, 1700000042);
        pbe_int(&ts, 2, 5000);
        pbe_msg(&md, 9, &ts);
        pbe_map(&md, 11, "app", "web");
        pbe_map(&md, 11, "tier", "");
        pbe_map(&md, 12, "a/b", "c");
        pbe_str(&x, 1, "kubectl"); /* a managedFields entry: skipped */
        pbe_msg(&md, 17, &x);
        pbe_msg(svc, 1, &md);

        pbe_str(&p, 1, "http");
        pbe_str(&p, 2, "TCP");
        pbe_int(&p, 3, 80);
        pbe_int(&t, 1, 1);
        pbe_int(&t, 2, 0);
        pbe_str(&t, 3, "web");
        pbe_msg(&p, 4, &t);
        pbe_int(&p, 5, 30080);
        pbe_str(&p, 6, "kubernetes.io/h2c");
        pbe_msg(&spec, 1, &p);
        pbe_str(&p, 1, ""); /* empty strings and zero nodePort: omitted */
        pbe_str(&p, 2, "UDP");
        pbe_int(&p, 3, 53);
        pbe_int(&t, 1, 0);
        pbe_int(&t, 2, 5353);
        pbe_str(&t, 3, "");
        pbe_msg(&p, 4, &t);
        pbe_int(&p, 5, 0);
        pbe_msg(&spec, 1, &p);
        pbe_map(&spec, 2, "app", "web"); /* selector: not decoded */
        pbe_str(&spec, 3, "10.0.0.10");
        pbe_str(&spec, 4, "LoadBalancer");
        pbe_str(&spec, 5, "192.0.2.1");
        pbe_str(&spec, 5, "192.0.2.2");
        pbe_str(&spec, 7, "ClientIP");
        pbe_str(&spec, 8, "");
        pbe_str(&spec, 9, "10.1.0.0/16");
        pbe_str(&spec, 10, "");
        pbe_str(&spec, 11, "Local");
        pbe_int(&spec, 12, 31000);
        pbe_int(&spec, 13, 0);
        pbe_int(&s, 1, 600);
        pbe_msg(&x, 1, &s);
        pbe_msg(&spec, 14, &x);
        pbe_str(&spec, 17, "PreferDualStack");
        pbe_str(&spec, 18, "10.0.0.10");
        pbe_str(&spec, 18, "fd00::10");
        pbe_str(&spec, 19, "IPv4");
        pbe_str(&spec, 19, "IPv6");
        pbe_int(&spec, 20, 1);
        pbe_str(&spec, 22, "Cluster");
        pbe_str(&spec, 23, "PreferClose");
        pbe_msg(svc, 2, &spec);

        pbe_str(&ing, 1, "198.51.100.7");
        pbe_str(&ing, 2, "");
        pbe_str(&ing, 3, "Proxy");
        pbe_msg(&lb, 1, &ing);
        pbe_str(&ing, 1, "");
        pbe_str(&ing, 2, "lb.example.com");
        pbe_msg(&lb, 1, &ing);
        pbe_msg(&st, 1, &lb);
        pbe_msg(svc, 3, &st);
}

#define SERVICE_FIELDS /* a Service's JSON without its opening brace */                                   \
        "\"metadata\":{\"name\":\"web\",\"namespace\":\"prod\",\"uid\":\"0b1c\",\"resourceVersion\":\"123\","  \
        "\"generation\":4,\"creationTimestamp\":\"2023-11-14T22:13:20Z\"," \
        "\"deletionTimestamp\":\"2023-11-14T22:14:02Z\",\"labels\":{\"app\":\"web\",\"tier\":\"\"}," \
        "\"annotations\":{\"a/b\":\"c\"}},"                                                                    \
        "\"spec\":{\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"appProtocol\":\"kubernetes.io/h2c\","   \
        "\"port\":80,\"targetPort\":\"web\",\"nodePort\":30080},{\"protocol\":\"UDP\",\"port\":53,"            \
        "\"targetPort\":5353}],\"clusterIP\":\"10.0.0.10\",\"clusterIPs\":[\"10.0.0.10\",\"fd00::10\"],"       \
        "\"type\":\"LoadBalancer\",\"externalIPs\":[\"192.0.2.1\",\"192.0.2.2\"],\"sessionAffinity\":\"ClientIP\"," \
        "\"loadBalancerSourceRanges\":[\"10.1.0.0/16\"],\"externalTrafficPolicy\":\"Local\","                   \
        "\"healthCheckNodePort\":31000,\"sessionAffinityConfig\":{\"clientIP\":{\"timeoutSeconds\":600}},"       \
        "\"ipFamilies\":[\"IPv4\",\"IPv6\"],\"ipFamilyPolicy\":\"PreferDualStack\","                           \
        "\"internalTrafficPolicy\":\"Cluster\",\"trafficDistribution\":\"PreferClose\"},"                     \
        "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"198.51.100.7\",\"ipMode\":\"Proxy\"},"            \
        "{\"hostname\":\"lb.example.com\"}]}}}"

static void test_service(void **state)
{
        kn_buf raw = {0}, b = {0};
        (void)state;
        build_service(&raw);
        pbe_envelope(&b, "v1", "Service", &raw);
        /* top-level: kind and apiVersion from the envelope, like JSON */
        check_decodes_to(&b, "{\"kind\":\"Service\",\"apiVersion\":\"v1\"," SERVICE_FIELDS);
}

static void test_service_minimal(void **state)
{
        kn_buf raw = {0}, b = {0}, x = {0};
        (void)state;
        /* Absent struct fields still appear as in JSON: spec {}, status {loadBalancer {}}. */
        pbe_meta(&raw, 1, "ns", "a", "5");
        pbe_envelope(&b, "v1", "Service", &raw);
        check_decodes_to(&b, "{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"a\","
                             "\"namespace\":\"ns\",\"resourceVersion\":\"5\"},\"spec\":{},"
                             "\"status\":{\"loadBalancer\":{}}}");
        /* A pointer set to an empty value is kept; a field seen twice: the last wins. */
        pbe_str(&x, 17, "");
        pbe_str(&x, 3, "10.0.0.1");
        pbe_str(&x, 3, "10.0.0.2");
        pbe_str(&x, 4, "ClusterIP");
        pbe_str(&x, 4, "");
        pbe_msg(&raw, 2, &x);
        pbe_envelope(&b, "v1", "Service", &raw);
        check_decodes_to(&b, "{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{},\"spec\":{"
                             "\"ipFamilyPolicy\":\"\",\"clusterIP\":\"10.0.0.2\"},\"status\":{\"loadBalancer\":{}}}");
}

static void build_slice(kn_buf *s, const char *name, const char *rv)
{
        kn_buf md = {0}, ep = {0}, c = {0}, h = {0}, z = {0}, p = {0};

        {
                kn_buf m = {0};
                pbe_str(&m, 1, name);
                pbe_str(&m, 3, "prod");
                pbe_str(&m, 6, rv);
                pbe_map(&m, 11, "kubernetes.io/service-name", "web");
                md = m;
        }
        pbe_msg(s, 1, &md);
        /* ready, serving; hostname, nodeName, zone, hints */
        pbe_str(&ep, 1, "10.1.0.1");
        pbe_int(&c, 1, 1);
        pbe_int(&c, 2, 1);
        pbe_int(&c, 3, 0);
        pbe_msg(&ep, 2, &c);
        pbe_str(&ep, 3, "pod-1");
        pbe_str(&ep, 6, "node-a");
        pbe_str(&ep, 7, "zone-a");
        pbe_str(&z, 1, "zone-a");
        pbe_msg(&h, 1, &z);
        pbe_str(&z, 1, "zone-b");
        pbe_msg(&h, 1, &z);
        pbe_str(&z, 1, "node-a");
        pbe_msg(&h, 2, &z);
        pbe_msg(&ep, 8, &h);
        pbe_msg(s, 2, &ep);
        /* terminating, not ready; ready absent (unknown) */
        pbe_str(&ep, 1, "10.1.0.2");
        pbe_int(&c, 2, 0);
        pbe_int(&c, 3, 1);
        pbe_msg(&ep, 2, &c);
        pbe_msg(s, 2, &ep);
        /* no conditions at all */
        pbe_str(&ep, 1, "10.1.0.3");
        pbe_msg(s, 2, &ep);
        pbe_str(&p, 1, "http");
        pbe_str(&p, 2, "TCP");
        pbe_int(&p, 3, 8080);
        pbe_str(&p, 4, "http");
        pbe_msg(s, 3, &p);
        pbe_str(&p, 1, ""); /* an empty name, set: "" */
        pbe_int(&p, 3, 53);
        pbe_msg(s, 3, &p);
        pbe_str(s, 4, "IPv4");
}

#define SLICE_JSON(name, rv)                                                                                   \
        "{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"prod\",\"resourceVersion\":\"" rv "\","         \
        "\"labels\":{\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv4\",\"endpoints\":["        \
        "{\"addresses\":[\"10.1.0.1\"],\"conditions\":{\"ready\":true,\"serving\":true,\"terminating\":false}," \
        "\"hostname\":\"pod-1\",\"nodeName\":\"node-a\",\"zone\":\"zone-a\",\"hints\":{\"forZones\":"          \
        "[{\"name\":\"zone-a\"},{\"name\":\"zone-b\"}],\"forNodes\":[{\"name\":\"node-a\"}]}},"                \
        "{\"addresses\":[\"10.1.0.2\"],\"conditions\":{\"serving\":false,\"terminating\":true}},"             \
        "{\"addresses\":[\"10.1.0.3\"],\"conditions\":{}}],"                                                 \
        "\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":8080,\"appProtocol\":\"http\"},"          \
        "{\"name\":\"\",\"port\":53}]}"

static void test_slice_list(void **state)
{
        kn_buf raw = {0}, b = {0}, lm = {0}, it = {0};
        (void)state;
        pbe_str(&lm, 1, "");
        pbe_str(&lm, 2, "999");
        pbe_str(&lm, 3, "tok");
        pbe_int(&lm, 4, 7);
        pbe_msg(&raw, 1, &lm);
        build_slice(&it, "web-1", "10");
        pbe_msg(&raw, 2, &it);
        pbe_meta(&it, 1, "prod", "empty", "11"); /* no endpoints, no ports: null, as in JSON */
        pbe_str(&it, 4, "IPv6");
        pbe_msg(&raw, 2, &it);
        pbe_envelope(&b, "discovery.k8s.io/v1", "EndpointSliceList", &raw);
        check_decodes_to(&b, "{\"kind\":\"EndpointSliceList\",\"apiVersion\":\"discovery.k8s.io/v1\","
                             "\"metadata\":{\"resourceVersion\":\"999\",\"continue\":\"tok\",\"remainingItemCount\":7},"
                             "\"items\":[" SLICE_JSON("web-1", "10") ",{\"metadata\":{\"name\":\"empty\","
                             "\"namespace\":\"prod\",\"resourceVersion\":\"11\"},\"addressType\":\"IPv6\","
                             "\"endpoints\":null,\"ports\":null}]}");
        /* An empty list: items [] */
        pbe_str(&lm, 2, "5");
        pbe_msg(&raw, 1, &lm);
        pbe_envelope(&b, "v1", "ServiceList", &raw);
        check_decodes_to(&b, "{\"kind\":\"ServiceList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"5\"},"
                             "\"items\":[]}");
}

struct streamed {
        char *names[8];
        size_t n;
        size_t stop_after; /* 0 = never */
};

static int collect(cJSON *item, void *userdata)
{
        struct streamed *st = userdata;
        const char *name = kn_obj_str(item, "metadata.name");
        assert_non_null(name);
        assert_true(st->n < KN_ARRAY_SIZE(st->names));
        st->names[st->n++] = kn_strdup(name);
        cJSON_Delete(item);
        return st->stop_after && st->n == st->stop_after ? -ECANCELED : 0;
}

static void streamed_free(struct streamed *st)
{
        for (size_t i = 0; i < st->n; i++)
                free(st->names[i]);
        *st = (struct streamed){0};
}

/* A list of three slices (and a malformed fourth item if BAD) in an envelope. */
static void build_streamed_list(kn_buf *b, bool bad)
{
        kn_buf raw = {0}, lm = {0}, it = {0};
        static const uint8_t junk[] = {0x0a, 0x05, 0x0a}; /* metadata claims 5 bytes, has 1 */

        pbe_str(&lm, 2, "42");
        pbe_msg(&raw, 1, &lm);
        for (int i = 0; i < 3; i++) {
                char name[16];
                snprintf(name, sizeof(name), "web-%d", i);
                build_slice(&it, name, "10");
                pbe_msg(&raw, 2, &it);
        }
        if (bad)
                pbe_bytes(&raw, 2, junk, sizeof(junk));
        kn_buf_free(b);
        *b = (kn_buf){0};
        pbe_envelope(b, "discovery.k8s.io/v1", "EndpointSliceList", &raw);
}

/* kn_kpb_decode_list hands items out one at a time, in order; the rest of the list keeps
 * its metadata and an empty items; a callback error or a malformed later item stops it. */
static void test_list_streamed(void **state)
{
        kn_buf b = {0};
        struct streamed st = {0};
        kn_error err;
        cJSON *o = NULL;
        (void)state;

        build_streamed_list(&b, false);
        assert_int_equal(kn_kpb_decode_list(b.data, b.len, collect, &st, &o, &err), 0);
        assert_int_equal(st.n, 3);
        assert_string_equal(st.names[0], "web-0");
        assert_string_equal(st.names[2], "web-2");
        assert_string_equal(kn_obj_str(o, "metadata.resourceVersion"), "42");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "items")), 0);
        cJSON_Delete(o);
        o = NULL;
        streamed_free(&st);

        st.stop_after = 2;
        assert_int_equal(kn_kpb_decode_list(b.data, b.len, collect, &st, &o, &err), -ECANCELED);
        assert_int_equal(st.n, 2);
        assert_null(o);
        streamed_free(&st);

        /* a truncated envelope: refused before any item is handed out */
        assert_int_equal(kn_kpb_decode_list(b.data, b.len - 3, collect, &st, &o, &err), -EBADMSG);
        assert_int_equal(st.n, 0);
        assert_null(o);

        /* a malformed fourth item: three handed out, then the error */
        build_streamed_list(&b, true);
        assert_int_equal(kn_kpb_decode_list(b.data, b.len, collect, &st, &o, &err), -EBADMSG);
        assert_int_equal(st.n, 3);
        assert_null(o);
        streamed_free(&st);
        kn_buf_free(&b);
}

static void build_status(kn_buf *raw, int code, const char *reason, int retry)
{
        kn_buf d = {0}, lm = {0};
        pbe_msg(raw, 1, &lm);
        pbe_str(raw, 2, "Failure");
        pbe_str(raw, 3, "slow down");
        pbe_str(raw, 4, reason);
        if (retry) {
                pbe_str(&d, 1, "");
                pbe_int(&d, 5, retry);
                pbe_msg(raw, 5, &d);
        }
        pbe_int(raw, 6, code);
}

static void test_status(void **state)
{
        kn_buf raw = {0}, b = {0};
        kn_api_error e = {0};
        (void)state;
        build_status(&raw, 429, "TooManyRequests", 7);
        pbe_envelope(&b, "v1", "Status", &raw);
        assert_int_equal(kn_api_decode_status(429, b.data, b.len, &e), -EAGAIN);
        assert_int_equal(e.retry_after, 7);
        assert_string_equal(e.reason, "TooManyRequests");
        assert_non_null(strstr(e.e.msg, "slow down"));
        check_decodes_to(&b, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
                             "\"message\":\"slow down\",\"reason\":\"TooManyRequests\","
                             "\"details\":{\"retryAfterSeconds\":7},\"code\":429}");
        build_status(&raw, 410, "Expired", 0);
        pbe_envelope(&b, "v1", "Status", &raw);
        assert_int_equal(kn_api_decode_status(0, b.data, b.len, &e), -EIDRM);
        assert_int_equal(e.http_status, 410);
        /* A broken protobuf error body still maps by the HTTP status. */
        assert_int_equal(kn_api_decode_status(403, "k8s\0\x0a\x05", 6, &e), -EACCES);
        assert_non_null(strstr(e.e.msg, "unparsable"));
        kn_buf_free(&b);
}

static void test_envelope_errors(void **state)
{
        kn_buf raw = {0}, b = {0};
        cJSON *o = NULL;
        kn_error err;
        (void)state;
        assert_int_equal(kn_kpb_decode("{}", 2, &o, &err), -EBADMSG);
        assert_int_equal(kn_kpb_decode("k8s", 3, &o, &err), -EBADMSG);
        assert_int_equal(kn_kpb_decode(NULL, 0, &o, &err), -EBADMSG);
        /* unknown kind */
        pbe_meta(&raw, 1, "ns", "p", "1");
        pbe_envelope(&b, "v1", "Pod", &raw);
        assert_int_equal(kn_kpb_decode(b.data, b.len, &o, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "\"Pod\""));
        kn_buf_free(&b);
        /* no typeMeta at all */
        kn_buf_append(&b, "k8s\0", 4);
        assert_int_equal(kn_kpb_decode(b.data, b.len, &o, &err), -EBADMSG);
        kn_buf_free(&b);
        /* a content encoding */
        {
                kn_buf tm = {0};
                kn_buf_append(&b, "k8s\0", 4);
                pbe_str(&tm, 2, "Service");
                pbe_msg(&b, 1, &tm);
                pbe_str(&b, 3, "gzip");
                assert_int_equal(kn_kpb_decode(b.data, b.len, &o, &err), -EBADMSG);
                kn_buf_free(&b);
        }
        /* truncated at every length: an error or (for a prefix that ends on a field
         * boundary) an object, never a crash */
        build_service(&raw);
        pbe_envelope(&b, "v1", "Service", &raw);
        for (size_t n = 0; n < b.len; n++) {
                int r = kn_kpb_decode(b.data, n, &o, &err);
                if (r == 0)
                        cJSON_Delete(TAKE_PTR(o));
                else
                        assert_true(r == -EBADMSG);
        }
        /* wrong wire type for a known field: spec.clusterIP as a varint */
        {
                kn_buf spec = {0};
                pbe_int(&spec, 3, 1);
                pbe_msg(&raw, 2, &spec);
                kn_buf_free(&b);
                pbe_envelope(&b, "v1", "Service", &raw);
                assert_int_equal(kn_kpb_decode(b.data, b.len, &o, &err), -EBADMSG);
        }
        kn_buf_free(&b);
}

static void test_hostile_nodes(void **state)
{
        kn_buf raw = {0}, b = {0}, ep = {0};
        cJSON *o = NULL;
        kn_error err;
        int r;
        (void)state;
        /* 50,000 empty endpoints: 2 bytes each on the wire, three JSON nodes each. The
         * node bound (one per input byte) refuses rather than amplifying. */
        for (int i = 0; i < 50000; i++)
                pbe_msg(&raw, 2, &ep);
        pbe_envelope(&b, "discovery.k8s.io/v1", "EndpointSlice", &raw);
        r = kn_kpb_decode(b.data, b.len, &o, &err);
        assert_int_equal(r, -E2BIG);
        kn_buf_free(&b);
        /* A time outside Go's JSON range. */
        {
                kn_buf md = {0}, t = {0};
                pbe_int(&t, 1, INT64_MAX);
                pbe_msg(&md, 9, &t);
                pbe_msg(&raw, 1, &md);
                pbe_envelope(&b, "v1", "Service", &raw);
                assert_int_equal(kn_kpb_decode(b.data, b.len, &o, &err), -EBADMSG);
                kn_buf_free(&b);
        }
        /* A string with a NUL ends there, as a C string from JSON would. */
        {
                kn_buf md = {0};
                pbe_bytes(&md, 1, "ab\0cd", 5);
                pbe_msg(&raw, 1, &md);
                pbe_envelope(&b, "v1", "Service", &raw);
                assert_int_equal(kn_kpb_decode(b.data, b.len, &o, &err), 0);
                assert_string_equal(kn_obj_str(o, "metadata.name"), "ab");
                cJSON_Delete(o);
                kn_buf_free(&b);
        }
}

/* ---- watch frames ---- */

struct seen {
        int n[5];
        char log[512];
};

static int cb(enum kn_watch_type t, cJSON *obj, void *u)
{
        struct seen *s = u;
        _cleanup_free_ char *k = kn_obj_key(obj);
        const char *rv = kn_obj_str(obj, "metadata.resourceVersion");
        size_t l = strlen(s->log);
        s->n[t]++;
        if (t == KN_WATCH_ERROR) {
                _cleanup_free_ char *j = cJSON_PrintUnformatted(obj);
                kn_api_error e;
                snprintf(s->log + l, sizeof(s->log) - l, "E%d;",
                         kn_api_decode_status(0, j, strlen(j), &e) == -EIDRM ? 410 : 0);
        } else {
                snprintf(s->log + l, sizeof(s->log) - l, "%d:%s@%s;", t, k ? k : "", rv ? rv : "");
        }
        cJSON_Delete(obj);
        return 0;
}

static void build_stream(kn_buf *out)
{
        kn_buf raw = {0}, o = {0}, lm = {0};
        build_service(&raw);
        pbe_envelope(&o, "v1", "Service", &raw);
        pbe_watch_frame(out, "ADDED", &o);
        build_slice(&raw, "web-1", "12");
        pbe_envelope(&o, "discovery.k8s.io/v1", "EndpointSlice", &raw);
        pbe_watch_frame(out, "MODIFIED", &o);
        pbe_meta(&raw, 1, "prod", "web", "13");
        pbe_envelope(&o, "v1", "Service", &raw);
        pbe_watch_frame(out, "DELETED", &o);
        /* a bookmark: an object with only metadata.resourceVersion */
        pbe_str(&lm, 6, "20");
        pbe_msg(&raw, 1, &lm);
        pbe_envelope(&o, "v1", "Service", &raw);
        pbe_watch_frame(out, "BOOKMARK", &o);
        build_status(&raw, 410, "Expired", 0);
        pbe_envelope(&o, "v1", "Status", &raw);
        pbe_watch_frame(out, "ERROR", &o);
}

#define STREAM_LOG "0:prod/web@123;1:prod/web-1@12;2:prod/web@13;3:@20;E410;"

static void test_frames_split(void **state)
{
        kn_buf b = {0};
        (void)state;
        build_stream(&b);
        /* cut at every point, then byte by byte */
        for (size_t cut = 0; cut <= b.len; cut++) {
                kn_watch_decoder d;
                struct seen s = {0};
                kn_watch_decoder_init(&d, 0, cb, &s);
                kn_watch_decoder_set_format(&d, KN_WATCH_PROTOBUF);
                assert_int_equal(kn_watch_decoder_feed(&d, b.data, cut), 0);
                assert_int_equal(kn_watch_decoder_feed(&d, b.data + cut, b.len - cut), 0);
                assert_string_equal(s.log, STREAM_LOG);
                assert_int_equal(kn_watch_decoder_pending(&d), 0);
                kn_watch_decoder_free(&d);
        }
        {
                kn_watch_decoder d;
                struct seen s = {0};
                kn_watch_decoder_init(&d, 0, cb, &s);
                kn_watch_decoder_set_format(&d, KN_WATCH_PROTOBUF);
                for (size_t i = 0; i < b.len; i++) {
                        assert_int_equal(kn_watch_decoder_feed(&d, b.data + i, 1), 0);
                        if (i + 1 < b.len)
                                assert_true(kn_watch_decoder_pending(&d) > 0 || s.n[0] + s.n[1] + s.n[2] > 0);
                }
                assert_string_equal(s.log, STREAM_LOG);
                /* a truncated stream leaves bytes pending; reset drops them */
                assert_int_equal(kn_watch_decoder_feed(&d, b.data, 6), 0);
                assert_int_equal(kn_watch_decoder_pending(&d), 6);
                kn_watch_decoder_reset(&d);
                assert_int_equal(kn_watch_decoder_pending(&d), 0);
                kn_watch_decoder_free(&d);
        }
        kn_buf_free(&b);
}

static void test_frames_hostile(void **state)
{
        kn_buf b = {0}, raw = {0}, o = {0}, ev = {0};
        kn_watch_decoder d;
        struct seen s = {0};
        static const uint8_t huge[] = {0x7f, 0xff, 0xff, 0xff, 'x'};
        static const uint8_t empty[] = {0, 0, 0, 0};
        (void)state;
        /* a declared length over the bound: refused before anything is buffered */
        kn_watch_decoder_init(&d, 4096, cb, &s);
        kn_watch_decoder_set_format(&d, KN_WATCH_PROTOBUF);
        assert_int_equal(kn_watch_decoder_feed(&d, (const char *)huge, sizeof(huge)), -EFBIG);
        assert_true(d.line.cap == 0);
        kn_watch_decoder_reset(&d);
        /* an empty frame: no type */
        assert_int_equal(kn_watch_decoder_feed(&d, (const char *)empty, sizeof(empty)), -EBADMSG);
        assert_non_null(strstr(d.error, "type"));
        kn_watch_decoder_reset(&d);
        /* an unknown type */
        pbe_meta(&raw, 1, "a", "b", "1");
        pbe_envelope(&o, "v1", "Service", &raw);
        pbe_watch_frame(&b, "EXPLODED", &o);
        assert_int_equal(kn_watch_decoder_feed(&d, b.data, b.len), -EBADMSG);
        kn_buf_free(&b);
        kn_watch_decoder_reset(&d);
        /* an object of an unknown kind */
        pbe_meta(&raw, 1, "a", "b", "1");
        pbe_envelope(&o, "v1", "ConfigMap", &raw);
        pbe_watch_frame(&b, "ADDED", &o);
        assert_int_equal(kn_watch_decoder_feed(&d, b.data, b.len), -EBADMSG);
        assert_non_null(strstr(d.error, "ConfigMap"));
        kn_buf_free(&b);
        kn_watch_decoder_reset(&d);
        /* raw bytes that are not an envelope */
        {
                uint8_t len[4];
                pbe_str(&ev, 1, "ADDED");
                pbe_str(&raw, 1, "{\"metadata\":{}}");
                pbe_msg(&ev, 2, &raw);
                len[0] = len[1] = len[2] = 0, len[3] = (uint8_t)ev.len;
                kn_buf_append(&b, len, 4);
                kn_buf_append(&b, ev.data, ev.len);
                kn_buf_free(&ev);
                assert_int_equal(kn_watch_decoder_feed(&d, b.data, b.len), -EBADMSG);
                kn_buf_free(&b);
        }
        assert_int_equal(s.n[0], 0);
        kn_watch_decoder_free(&d);
}

/* ---- the API client and informer against a fake server speaking protobuf ---- */

struct fake {
        pthread_mutex_t mu;
        int watches;
        char last_accept[256];
};
static struct fake F = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void pb_status(kn_http_response *r, int code, const char *reason, int retry)
{
        kn_buf raw = {0};
        build_status(&raw, code, reason, retry);
        r->status = code;
        r->content_type = KN_KPB_CONTENT_TYPE;
        pbe_envelope(&r->body, "v1", "Status", &raw);
}

static void handler(void *u, const kn_http_request *req, kn_http_response *r)
{
        const char *acc = strcasestr(req->headers, "accept:");
        int w;
        (void)u;
        pthread_mutex_lock(&F.mu);
        snprintf(F.last_accept, sizeof(F.last_accept), "%.*s", acc ? (int)strcspn(acc, "\r\n") : 0, acc ? acc : "");
        if (strcmp(req->path, "/api/v1/gone") == 0) {
                pb_status(r, 410, "Expired", 0);
        } else if (strcmp(req->path, "/api/v1/throttle") == 0) {
                pb_status(r, 429, "TooManyRequests", 4);
        } else if (strcmp(req->path, "/api/v1/pods") == 0) {
                kn_buf raw = {0};
                pbe_envelope(&r->body, "v1", "PodList", &raw);
                r->content_type = KN_KPB_CONTENT_TYPE;
        } else if (strcmp(req->path, "/apis/discovery.k8s.io/v1/endpointslices") == 0) {
                if (!strstr(req->query, "watch=1")) {
                        kn_buf raw = {0}, lm = {0}, it = {0};
                        pbe_str(&lm, 2, "10");
                        pbe_msg(&raw, 1, &lm);
                        build_slice(&it, "a", "1");
                        pbe_msg(&raw, 2, &it);
                        build_slice(&it, "b", "2");
                        pbe_msg(&raw, 2, &it);
                        pbe_envelope(&r->body, "discovery.k8s.io/v1", "EndpointSliceList", &raw);
                        r->content_type = KN_KPB_CONTENT_TYPE;
                } else if ((w = F.watches++) == 0) {
                        kn_buf raw = {0}, o = {0};
                        build_slice(&raw, "c", "11");
                        pbe_envelope(&o, "discovery.k8s.io/v1", "EndpointSlice", &raw);
                        pbe_watch_frame(&r->body, "ADDED", &o);
                        pbe_meta(&raw, 1, "prod", "a", "12");
                        pbe_envelope(&o, "discovery.k8s.io/v1", "EndpointSlice", &raw);
                        pbe_watch_frame(&r->body, "DELETED", &o);
                        r->content_type = KN_KPB_CONTENT_TYPE ";stream=watch";
                } else if (w == 1) {
                        kn_buf_printf(&r->body, "{\"type\":\"ADDED\",\"object\":%s}\n", SLICE_JSON("j", "30"));
                        r->content_type = "application/json";
                }
        } else {
                r->status = 404;
        }
        pthread_mutex_unlock(&F.mu);
}

static kn_httpd *srv;
static kn_api *api;

static int setup(void **state)
{
        (void)state;
        fake_api_start(handler, NULL, &srv, &api);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        fake_api_stop(srv, api);
        return 0;
}

static void test_api_list(void **state)
{
        cJSON *list = NULL;
        kn_api_error e;
        (void)state;
        assert_int_equal(kn_api_list(api, "/apis/discovery.k8s.io/v1/endpointslices", &(kn_list_opts){.protobuf = true},
                                     &list, &e), 0);
        assert_non_null(strstr(F.last_accept, "application/vnd.kubernetes.protobuf, application/json"));
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(list, "items")), 2);
        assert_string_equal(kn_obj_str(list, "metadata.resourceVersion"), "10");
        cJSON_Delete(list);
        /* without the option: JSON only */
        assert_int_equal(kn_api_list(api, "/api/v1/gone", NULL, &list, &e), -EIDRM);
        assert_non_null(strstr(F.last_accept, "Accept: application/json"));
        /* protobuf Status errors */
        assert_int_equal(kn_api_list(api, "/api/v1/gone", &(kn_list_opts){.protobuf = true}, &list, &e), -EIDRM);
        assert_int_equal(e.http_status, 410);
        assert_string_equal(e.reason, "Expired");
        assert_int_equal(kn_api_list(api, "/api/v1/throttle", &(kn_list_opts){.protobuf = true}, &list, &e), -EAGAIN);
        assert_int_equal(e.retry_after, 4);
        /* a kind knode cannot decode */
        assert_int_equal(kn_api_list(api, "/api/v1/pods", &(kn_list_opts){.protobuf = true}, &list, &e), -EBADMSG);
        assert_non_null(strstr(e.e.msg, "PodList"));
}

struct rec {
        pthread_mutex_t mu;
        char log[512];
};

static void r_log(struct rec *r, char c, const cJSON *o)
{
        _cleanup_free_ char *k = kn_obj_key(o);
        size_t l;
        pthread_mutex_lock(&r->mu);
        l = strlen(r->log);
        snprintf(r->log + l, sizeof(r->log) - l, "%c%s", c, k ? k : "?");
        pthread_mutex_unlock(&r->mu);
}
static void r_add(void *u, const cJSON *o) { r_log(u, '+', o); }
static void r_update(void *u, const cJSON *old, const cJSON *o) { (void)old, r_log(u, '~', o); }
static void r_delete(void *u, const cJSON *o) { r_log(u, '-', o); }

static void test_informer(void **state)
{
        struct rec rec = {.mu = PTHREAD_MUTEX_INITIALIZER};
        kn_informer *inf;
        kn_informer_stats st;
        cJSON *o;
        int64_t deadline = kn_now_ms() + 10000;
        (void)state;
        F.watches = 0;
        kn_informer_new(api, "discovery.k8s.io/v1", "endpointslices", NULL,
                        &(kn_informer_opts){.protobuf = true, .watch_timeout_s = 1}, &inf);
        kn_informer_add_handlers(inf, &(kn_informer_handlers){r_add, r_update, r_delete, NULL, &rec});
        assert_int_equal(kn_informer_start(inf), 0);
        assert_int_equal(kn_informer_wait_synced(inf, 5000), 0);
        /* list a, b (protobuf) -> watch +c -a (protobuf frames) -> watch +j (JSON answer) */
        while (kn_now_ms() < deadline && kn_informer_count(inf) < 3)
                usleep(20000);
        while (kn_now_ms() < deadline) {
                kn_informer_get_stats(inf, &st);
                if (strcmp(st.resource_version, "30") == 0)
                        break;
                usleep(20000);
        }
        kn_informer_get_stats(inf, &st);
        assert_string_equal(st.resource_version, "30");
        assert_int_equal(st.watch_errors, 0);
        pthread_mutex_lock(&rec.mu);
        assert_string_equal(rec.log, "+prod/a+prod/b+prod/c-prod/a+prod/j");
        pthread_mutex_unlock(&rec.mu);
        o = kn_informer_get(inf, "prod", "c");
        assert_non_null(o);
        {
                const cJSON *ep0 = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "endpoints"), 0);
                assert_true(cJSON_IsTrue(kn_json_path(ep0, "conditions.ready")));
                assert_string_equal(kn_obj_str(ep0, "nodeName"), "node-a");
        }
        cJSON_Delete(o);
        kn_informer_free(inf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_service),         cmocka_unit_test(test_service_minimal),
                cmocka_unit_test(test_slice_list),      cmocka_unit_test(test_status),
                cmocka_unit_test(test_list_streamed),
                cmocka_unit_test(test_envelope_errors), cmocka_unit_test(test_hostile_nodes),
                cmocka_unit_test(test_frames_split),    cmocka_unit_test(test_frames_hostile),
                cmocka_unit_test(test_api_list),        cmocka_unit_test(test_informer),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
