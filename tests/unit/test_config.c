/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>

#include "config.h"
#include "flags.h"

static kn_config_doc *parse_ok(const char *s)
{
        kn_config_doc *d = NULL;
        kn_error err = {0};
        int r = kn_config_parse("t.yaml", s, strlen(s), &d, &err);
        if (r < 0)
                fail_msg("parse failed: %s", err.msg);
        return d;
}

static int parse_err(const char *s, kn_error *err)
{
        kn_config_doc *d = NULL;
        int r = kn_config_parse("t.yaml", s, strlen(s), &d, err);
        assert_true(r < 0);
        assert_null(d);
        return r;
}

static void test_yaml_types(void **state)
{
        kn_config_doc *d = parse_ok("a: 1\nb: \"1\"\nc: true\nd: ~\ne: [x, 2]\nf: {g: h}\ni: 0x10\nj: 1.5\nk: yes\n"
                                    "l: '007'\nm: -3\n");
        cJSON *r = d->root;
        (void)state;
        assert_true(cJSON_IsNumber(cJSON_GetObjectItem(r, "a")));
        assert_string_equal(cJSON_GetObjectItem(r, "b")->valuestring, "1");
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "c")));
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(r, "d")));
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "e")), 2);
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "f"), "g")->valuestring, "h");
        assert_int_equal(cJSON_GetObjectItem(r, "i")->valueint, 16);
        assert_true(cJSON_GetObjectItem(r, "j")->valuedouble == 1.5);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "k")));
        assert_string_equal(cJSON_GetObjectItem(r, "l")->valuestring, "007");
        assert_int_equal(cJSON_GetObjectItem(r, "m")->valueint, -3);
        kn_config_doc_free(d);
}

static void test_json_is_yaml(void **state)
{
        kn_config_doc *d = parse_ok("{\"kind\": \"X\", \"n\": [1, 2, {\"a\": null}], \"s\": \"x\\ny\"}");
        (void)state;
        assert_string_equal(cJSON_GetObjectItem(d->root, "kind")->valuestring, "X");
        assert_string_equal(cJSON_GetObjectItem(d->root, "s")->valuestring, "x\ny");
        kn_config_doc_free(d);
}

static void test_marks(void **state)
{
        kn_config_doc *d = parse_ok("a: 1\nb:\n  c: hello\n");
        char buf[128];
        const cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(d->root, "b"), "c");
        (void)state;
        assert_string_equal(kn_config_where(d, c, buf, sizeof(buf)), "t.yaml:3:6");
        kn_config_doc_free(d);
}

static void test_syntax_errors(void **state)
{
        kn_error err = {0};
        (void)state;
        parse_err("a: [1, 2\n", &err);
        parse_err("a: {b: [1, {c: 2\n", &err); /* open levels are freed on error */
        assert_non_null(strstr(err.msg, "t.yaml:"));
        parse_err("a: 1\n  b: 2\n", &err);
        assert_non_null(strstr(err.msg, "t.yaml:2:"));
        parse_err("a: 1\na: 2\n", &err);
        assert_non_null(strstr(err.msg, "duplicate key"));
        parse_err("{\"a\": [}", &err);
        parse_err("a: *nope\n", &err);
        assert_non_null(strstr(err.msg, "unknown alias"));
        parse_err("---\na: 1\n---\nb: 2\n", &err);
        assert_non_null(strstr(err.msg, "more than one document"));
        parse_err("\t- x\n", &err);
}

static void test_hostile(void **state)
{
        kn_error err = {0};
        char *deep;
        size_t n = 200;
        (void)state;
        deep = malloc(n * 2 + 1);
        memset(deep, '[', n);
        memset(deep + n, ']', n);
        deep[2 * n] = 0;
        assert_int_equal(parse_err(deep, &err), -E2BIG);
        free(deep);
        /* A billion laughs via scalar anchors stays bounded. */
        {
                kn_buf b = {0};
                kn_buf_printf(&b, "a: &a x\n");
                kn_buf_printf(&b, "b: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n");
                kn_config_doc *d = parse_ok(b.data);
                kn_config_doc_free(d);
                kn_buf_free(&b);
        }
        {
                /* an anchored scalar used as a key is freed; its alias must still work */
                kn_config_doc *d = parse_ok("&k key: 1\nother: *k\n");
                assert_string_equal(cJSON_GetObjectItem(d->root, "other")->valuestring, "key");
                kn_config_doc_free(d);
        }
        parse_err("a: &x [1, 2]\nb: *x\n", &err); /* collection anchors refused */
        assert_non_null(strstr(err.msg, "anchors"));
}

static void test_empty(void **state)
{
        kn_config_doc *d = parse_ok("");
        (void)state;
        assert_true(cJSON_IsObject(d->root));
        kn_config_doc_free(d);
        d = parse_ok("# only a comment\n");
        kn_config_doc_free(d);
}

struct cfg {
        char *s;
        bool b;
        int64_t i, dur;
        char **list;
        cJSON *map;
        char *flagonly;
};

static const kn_field fields[] = {
        {"str", "nested.str", KN_FIELD_STRING, offsetof(struct cfg, s), "def", "a string"},
        {"bool", "b", KN_FIELD_BOOL, offsetof(struct cfg, b), "true", NULL},
        {"int", "i", KN_FIELD_INT, offsetof(struct cfg, i), "7", NULL},
        {"dur", "nested.dur", KN_FIELD_DURATION, offsetof(struct cfg, dur), "1m30s", NULL},
        {"list", "list", KN_FIELD_STRLIST, offsetof(struct cfg, list), NULL, NULL},
        {"map", "map", KN_FIELD_MAP, offsetof(struct cfg, map), "a=1", NULL},
        {"only", NULL, KN_FIELD_STRING, offsetof(struct cfg, flagonly), NULL, NULL},
};

static int warnings;
static void count_warn(const char *m)
{
        (void)m;
        warnings++;
}

static void test_fields_precedence(void **state)
{
        struct cfg c = {0};
        kn_error err = {0};
        kn_flags fl = {0};
        kn_flagset set = {fields, KN_ARRAY_SIZE(fields), &c};
        char *argv[] = {"--int=9", "--list", "x,y", "--only=o"};
        kn_config_doc *d = parse_ok("nested: {str: file, dur: 10s, extra: 1}\nb: false\ni: 3\nmap: {k: v}\nbogus: 1\n");
        (void)state;

        assert_int_equal(kn_fields_defaults(fields, KN_ARRAY_SIZE(fields), &c, &err), 0);
        assert_string_equal(c.s, "def");
        assert_int_equal(c.dur, 90000);
        warnings = 0;
        assert_int_equal(kn_fields_apply_doc(fields, KN_ARRAY_SIZE(fields), &c, d, count_warn, &err), 0);
        assert_int_equal(warnings, 2); /* nested.extra, bogus */
        assert_string_equal(c.s, "file");
        assert_false(c.b);
        assert_int_equal(c.i, 3);
        assert_int_equal(c.dur, 10000);
        assert_string_equal(cJSON_GetObjectItem(c.map, "k")->valuestring, "v");
        assert_int_equal(kn_flags_parse(&set, 1, 4, argv, &fl, &err), 0);
        assert_int_equal(kn_flags_apply(&fl, &err), 0);
        assert_int_equal(c.i, 9);
        assert_string_equal(c.list[1], "y");
        assert_null(c.list[2]);
        assert_string_equal(c.flagonly, "o");
        assert_true(kn_flags_given(&fl, "int"));
        assert_false(kn_flags_given(&fl, "str"));
        kn_flags_free(&fl);
        kn_fields_free(fields, KN_ARRAY_SIZE(fields), &c);
        kn_config_doc_free(d);
}

static void test_fields_type_errors(void **state)
{
        struct cfg c = {0};
        kn_error err = {0};
        const char *bad[] = {"i: hello\n", "b: 3\n", "nested: {dur: 5}\n", "nested: {dur: 5x}\n", "list: x\n",
                             "list: [1]\n", "map: [1]\n", "nested: {str: [1]}\n", "i: 1.5\n"};
        (void)state;
        for (size_t k = 0; k < KN_ARRAY_SIZE(bad); k++) {
                kn_config_doc *d = parse_ok(bad[k]);
                kn_fields_defaults(fields, KN_ARRAY_SIZE(fields), &c, &err);
                assert_true(kn_fields_apply_doc(fields, KN_ARRAY_SIZE(fields), &c, d, NULL, &err) < 0);
                assert_non_null(strstr(err.msg, "t.yaml:1:"));
                kn_fields_free(fields, KN_ARRAY_SIZE(fields), &c);
                kn_config_doc_free(d);
        }
}

static void test_flags_errors(void **state)
{
        struct cfg c = {0};
        kn_error err = {0};
        kn_flags fl = {0};
        kn_flagset set = {fields, KN_ARRAY_SIZE(fields), &c};
        char *a1[] = {"--nope=1"};
        char *a2[] = {"--int"};
        char *a3[] = {"--int=x"};
        char *a4[] = {"--bool=maybe"};
        char *a5[] = {"--dur=10"};
        char *a6[] = {"-bool", "pos", "--", "--int=1"};
        (void)state;
        assert_int_equal(kn_flags_parse(&set, 1, 1, a1, &fl, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "unknown flag: --nope"));
        assert_int_equal(kn_flags_parse(&set, 1, 1, a2, &fl, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "needs an argument"));
        assert_true(kn_flags_parse(&set, 1, 1, a3, &fl, &err) < 0);
        assert_non_null(strstr(err.msg, "--int"));
        assert_true(kn_flags_parse(&set, 1, 1, a4, &fl, &err) < 0);
        assert_true(kn_flags_parse(&set, 1, 1, a5, &fl, &err) < 0);
        assert_int_equal(kn_flags_parse(&set, 1, 4, a6, &fl, &err), 0);
        assert_int_equal(fl.n_args, 2);
        assert_string_equal(fl.args[1], "--int=1");
        kn_flags_free(&fl);
}

static void test_durations(void **state)
{
        int64_t ms;
        char buf[32];
        (void)state;
        assert_int_equal(kn_parse_duration("1h2m3s", &ms), 0);
        assert_int_equal(ms, 3723000);
        assert_int_equal(kn_parse_duration("1.5s", &ms), 0);
        assert_int_equal(ms, 1500);
        assert_int_equal(kn_parse_duration("250ms", &ms), 0);
        assert_int_equal(ms, 250);
        assert_int_equal(kn_parse_duration("0", &ms), 0);
        assert_true(kn_parse_duration("10", &ms) < 0);
        assert_true(kn_parse_duration("", &ms) < 0);
        assert_true(kn_parse_duration("1d", &ms) < 0);
        assert_true(kn_parse_duration("99999999999999h", &ms) < 0);
        kn_format_duration(3723000, buf, sizeof(buf));
        assert_string_equal(buf, "1h2m3s");
        kn_format_duration(90000, buf, sizeof(buf));
        assert_string_equal(buf, "1m30s");
}

static void test_kind_check(void **state)
{
        kn_error err = {0};
        kn_config_doc *d = parse_ok("apiVersion: kubelet.config.k8s.io/v1alpha9\nkind: KubeletConfiguration\n");
        (void)state;
        assert_true(kn_config_check_kind(d, "kubelet.config.k8s.io/v1beta1", "KubeletConfiguration", &err) < 0);
        assert_non_null(strstr(err.msg, "unsupported apiVersion"));
        assert_non_null(strstr(err.msg, "t.yaml:1:13"));
        kn_config_doc_free(d);
        d = parse_ok("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: Pod\n");
        assert_true(kn_config_check_kind(d, "kubelet.config.k8s.io/v1beta1", "KubeletConfiguration", &err) < 0);
        assert_non_null(strstr(err.msg, "unsupported kind"));
        kn_config_doc_free(d);
        d = parse_ok("- a\n");
        assert_true(kn_config_check_kind(d, "v1", "X", &err) < 0);
        assert_true(kn_fields_apply_doc(fields, KN_ARRAY_SIZE(fields), NULL, d, count_warn, &err) < 0);
        kn_config_doc_free(d);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_yaml_types),       cmocka_unit_test(test_json_is_yaml),
                cmocka_unit_test(test_marks),            cmocka_unit_test(test_syntax_errors),
                cmocka_unit_test(test_hostile),          cmocka_unit_test(test_empty),
                cmocka_unit_test(test_fields_precedence), cmocka_unit_test(test_fields_type_errors),
                cmocka_unit_test(test_flags_errors),     cmocka_unit_test(test_durations),
                cmocka_unit_test(test_kind_check),
        };
        return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
