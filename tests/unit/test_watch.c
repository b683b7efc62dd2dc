/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>

#include "watch.h"

struct seen {
        int n[5];
        char last[128];
        int fail_after;
};

static int cb(enum kn_watch_type t, cJSON *obj, void *u)
{
        struct seen *s = u;
        char *k = kn_obj_key(obj);
        s->n[t]++;
        snprintf(s->last, sizeof(s->last), "%s", k ? k : "");
        free(k);
        cJSON_Delete(obj);
        if (s->fail_after && s->n[0] + s->n[1] + s->n[2] >= s->fail_after)
                return -ECANCELED;
        return 0;
}

#define EV(t, ns, name) "{\"type\":\"" t "\",\"object\":{\"metadata\":{\"namespace\":\"" ns "\",\"name\":\"" name "\",\"resourceVersion\":\"5\"}}}\n"

static void test_split_everywhere(void **state)
{
        const char *stream = EV("ADDED", "a", "x") EV("MODIFIED", "a", "x") "\n" EV("DELETED", "b", "y")
                "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}}\n";
        size_t len = strlen(stream);
        (void)state;
        /* Feed the same stream cut at every possible point, and byte by byte. */
        for (size_t cut = 0; cut <= len; cut++) {
                kn_watch_decoder d;
                struct seen s = {0};
                kn_watch_decoder_init(&d, 0, cb, &s);
                assert_int_equal(kn_watch_decoder_feed(&d, stream, cut), 0);
                assert_int_equal(kn_watch_decoder_feed(&d, stream + cut, len - cut), 0);
                assert_int_equal(s.n[KN_WATCH_ADDED], 1);
                assert_int_equal(s.n[KN_WATCH_MODIFIED], 1);
                assert_int_equal(s.n[KN_WATCH_DELETED], 1);
                assert_int_equal(s.n[KN_WATCH_BOOKMARK], 1);
                assert_int_equal(kn_watch_decoder_pending(&d), 0);
                kn_watch_decoder_free(&d);
        }
        {
                kn_watch_decoder d;
                struct seen s = {0};
                kn_watch_decoder_init(&d, 0, cb, &s);
                for (size_t i = 0; i < len; i++)
                        assert_int_equal(kn_watch_decoder_feed(&d, stream + i, 1), 0);
                assert_int_equal(s.n[KN_WATCH_DELETED], 1);
                assert_string_equal(s.last, "");
                kn_watch_decoder_free(&d);
        }
}

static void test_truncated(void **state)
{
        const char *stream = EV("ADDED", "a", "x") "{\"type\":\"ADDED\",\"obj";
        kn_watch_decoder d;
        struct seen s = {0};
        (void)state;
        kn_watch_decoder_init(&d, 0, cb, &s);
        assert_int_equal(kn_watch_decoder_feed(&d, stream, strlen(stream)), 0);
        assert_int_equal(s.n[KN_WATCH_ADDED], 1);
        assert_true(kn_watch_decoder_pending(&d) > 0);
        kn_watch_decoder_reset(&d);
        assert_int_equal(kn_watch_decoder_pending(&d), 0);
        kn_watch_decoder_free(&d);
}

static void test_hostile(void **state)
{
        const char *bad[] = {
                "not json\n",
                "[1,2]\n",
                "{\"type\":\"ADDED\"}\n",
                "{\"type\":\"EXPLODED\",\"object\":{}}\n",
                "{\"type\":7,\"object\":{}}\n",
                "{\"type\":\"ADDED\",\"object\":\"str\"}\n",
                "{\"type\":\"ADDED\",\"object\":{}\n",
        };
        (void)state;
        for (size_t i = 0; i < KN_ARRAY_SIZE(bad); i++) {
                kn_watch_decoder d;
                struct seen s = {0};
                kn_watch_decoder_init(&d, 0, cb, &s);
                assert_int_equal(kn_watch_decoder_feed(&d, bad[i], strlen(bad[i])), -EBADMSG);
                assert_true(strlen(d.error) > 0);
                kn_watch_decoder_free(&d);
        }
}

static void test_oversized(void **state)
{
        kn_watch_decoder d;
        struct seen s = {0};
        char chunk[1000];
        int r = 0;
        (void)state;
        memset(chunk, 'x', sizeof(chunk));
        kn_watch_decoder_init(&d, 4096, cb, &s);
        for (int i = 0; i < 10 && r == 0; i++)
                r = kn_watch_decoder_feed(&d, chunk, sizeof(chunk));
        assert_int_equal(r, -EFBIG);
        kn_watch_decoder_free(&d);
        /* A complete but oversized line in a single feed is refused too. */
        {
                char *big = malloc(10001);
                memset(big, ' ', 10000);
                big[9999] = '\n';
                big[10000] = 0;
                kn_watch_decoder_init(&d, 4096, cb, &s);
                assert_int_equal(kn_watch_decoder_feed(&d, big, 10000), -EFBIG);
                kn_watch_decoder_free(&d);
                free(big);
        }
}

static void test_callback_error(void **state)
{
        const char *stream = EV("ADDED", "a", "x") EV("ADDED", "a", "y") EV("ADDED", "a", "z");
        kn_watch_decoder d;
        struct seen s = {.fail_after = 2};
        (void)state;
        kn_watch_decoder_init(&d, 0, cb, &s);
        assert_int_equal(kn_watch_decoder_feed(&d, stream, strlen(stream)), -ECANCELED);
        assert_int_equal(s.n[KN_WATCH_ADDED], 2);
        kn_watch_decoder_free(&d);
}

static void test_obj_helpers(void **state)
{
        cJSON *o = cJSON_Parse("{\"metadata\":{\"name\":\"n\"},\"spec\":{\"x\":{\"y\":\"z\"}}}");
        char *k = kn_obj_key(o);
        (void)state;
        assert_string_equal(k, "n");
        assert_string_equal(kn_obj_str(o, "spec.x.y"), "z");
        assert_null(kn_obj_str(o, "spec.x"));
        assert_null(kn_obj_str(o, "spec.q.y"));
        free(k);
        cJSON_Delete(o);
        o = cJSON_Parse("{\"metadata\":{\"name\":\"\"}}");
        assert_null(kn_obj_key(o));
        cJSON_Delete(o);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_split_everywhere), cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_hostile),          cmocka_unit_test(test_oversized),
                cmocka_unit_test(test_callback_error),   cmocka_unit_test(test_obj_helpers),
        };
        return cmocka_run_group_tests_name("watch", tests, NULL, NULL);
}
