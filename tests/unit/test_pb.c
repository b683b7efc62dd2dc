/* SPDX-License-Identifier: Apache-2.0 */
/* The protobuf wire-format reader: good input and hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "pb.h"
#include "pbenc.h"

static void test_fields(void **state)
{
        kn_buf b = {0}, sub = {0};
        kn_pb r, s;
        kn_pb_field f;
        static const uint8_t fixed[] = {0x09, 1, 2, 3, 4, 5, 6, 7, 8, 0x15, 0xfe, 0xff, 0xff, 0xff};
        (void)state;
        pbe_int(&b, 1, 150);
        pbe_int(&b, 2, -1);                /* int32 -1: ten bytes */
        pbe_int(&b, 536870911, 1);         /* the largest field number */
        pbe_str(&b, 3, "hello");
        pbe_str(&sub, 1, "inner");
        pbe_msg(&b, 4, &sub);
        pbe_str(&b, 5, "");
        kn_pb_init(&r, b.data, b.len);
        assert_int_equal(kn_pb_next(&r, &f), 1);
        assert_int_equal(f.num, 1);
        assert_int_equal(f.wire, KN_PB_VARINT);
        assert_int_equal(f.u, 150);
        assert_int_equal(kn_pb_next(&r, &f), 1);
        assert_int_equal(kn_pb_int32(&f), -1);
        assert_int_equal(kn_pb_int64(&f), -1);
        assert_int_equal(kn_pb_next(&r, &f), 1);
        assert_int_equal(f.num, 536870911);
        assert_int_equal(kn_pb_next(&r, &f), 1);
        assert_int_equal(f.wire, KN_PB_LEN);
        assert_int_equal(f.len, 5);
        assert_memory_equal(f.data, "hello", 5);
        assert_int_equal(kn_pb_next(&r, &f), 1);
        assert_int_equal(f.num, 4);
        assert_int_equal(kn_pb_sub(&r, &f, &s), 0);
        assert_int_equal(s.depth, 1);
        assert_int_equal(kn_pb_next(&s, &f), 1);
        assert_memory_equal(f.data, "inner", 5);
        assert_int_equal(kn_pb_next(&s, &f), 0);
        assert_int_equal(kn_pb_next(&r, &f), 1);
        assert_int_equal(f.len, 0);
        assert_int_equal(kn_pb_next(&r, &f), 0);
        assert_int_equal(kn_pb_next(&r, &f), 0); /* stays at the end */
        kn_buf_free(&b);

        kn_pb_init(&r, fixed, sizeof(fixed));
        assert_int_equal(kn_pb_next(&r, &f), 1);
        assert_int_equal(f.wire, KN_PB_I64);
        assert_true(f.u == 0x0807060504030201ull);
        assert_int_equal(kn_pb_next(&r, &f), 1);
        assert_int_equal(f.wire, KN_PB_I32);
        assert_true(f.u == 0xfffffffeull);
        assert_int_equal(kn_pb_next(&r, &f), 0);

        kn_pb_init(&r, NULL, 0);
        assert_int_equal(kn_pb_next(&r, &f), 0);
}

static void test_varint(void **state)
{
        static const uint8_t max[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
        static const uint8_t over[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
        static const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
        static const uint8_t padded[] = {0x80, 0x00}; /* non-minimal but valid: 0 */
        const uint8_t *p;
        uint64_t v;
        (void)state;
        p = max;
        assert_int_equal(kn_pb_varint(&p, max + sizeof(max), &v), 0);
        assert_true(v == UINT64_MAX);
        assert_ptr_equal(p, max + sizeof(max));
        p = over;
        assert_int_equal(kn_pb_varint(&p, over + sizeof(over), &v), -EBADMSG);
        assert_ptr_equal(p, over); /* untouched on failure */
        p = eleven;
        assert_int_equal(kn_pb_varint(&p, eleven + sizeof(eleven), &v), -EBADMSG);
        p = padded;
        assert_int_equal(kn_pb_varint(&p, padded + 2, &v), 0);
        assert_int_equal(v, 0);
        p = max;
        assert_int_equal(kn_pb_varint(&p, max + 5, &v), -EBADMSG); /* truncated */
}

static void test_hostile(void **state)
{
        static const struct {
                const char *what;
                uint8_t b[16];
                size_t n;
        } bad[] = {
                {"truncated key", {0x80}, 1},
                {"field number 0", {0x00, 0x01}, 2},
                {"field number 0, LEN", {0x02, 0x00}, 2},
                {"field number past 2^29-1", {0xf8, 0xff, 0xff, 0xff, 0x7f, 0x00}, 6},
                {"truncated varint value", {0x08, 0x96}, 2},
                {"truncated i64", {0x09, 1, 2, 3}, 4},
                {"truncated i32", {0x0d, 1, 2}, 3},
                {"length past the end", {0x0a, 0x05, 'a', 'b'}, 4},
                {"huge declared length", {0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 'x'}, 11},
                {"length varint truncated", {0x0a, 0xff}, 2},
                {"start group", {0x0b, 0x0c}, 2},
                {"end group", {0x0c}, 1},
                {"wire type 6", {0x0e, 0x00}, 2},
                {"wire type 7", {0x0f, 0x00}, 2},
                {"overlong varint", {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 12},
        };
        (void)state;
        for (size_t i = 0; i < KN_ARRAY_SIZE(bad); i++) {
                kn_pb r;
                kn_pb_field f;
                int ret;
                kn_pb_init(&r, bad[i].b, bad[i].n);
                while ((ret = kn_pb_next(&r, &f)) > 0)
                        ;
                if (ret != -EBADMSG)
                        fail_msg("%s: got %d", bad[i].what, ret);
        }
}

static void test_depth(void **state)
{
        kn_buf b = {0};
        kn_pb r;
        kn_pb_field f;
        int levels = 0, ret = 0;
        (void)state;
        /* 100 nested messages: the reader refuses past KN_PB_MAX_DEPTH. */
        for (int i = 0; i < 100; i++) {
                kn_buf outer = {0};
                pbe_msg(&outer, 1, &b);
                b = outer;
        }
        kn_pb_init(&r, b.data, b.len);
        while ((ret = kn_pb_next(&r, &f)) > 0) {
                kn_pb s;
                if ((ret = kn_pb_sub(&r, &f, &s)) < 0)
                        break;
                r = s;
                levels++;
        }
        assert_int_equal(ret, -ELOOP);
        assert_int_equal(levels, KN_PB_MAX_DEPTH);
        /* A varint field is not a message. */
        kn_buf_free(&b);
        pbe_int(&b, 1, 5);
        kn_pb_init(&r, b.data, b.len);
        assert_int_equal(kn_pb_next(&r, &f), 1);
        {
                kn_pb s;
                assert_int_equal(kn_pb_sub(&r, &f, &s), -EBADMSG);
        }
        kn_buf_free(&b);
}

static void test_random(void **state)
{
        /* Random bytes: every call ends (the reader always advances) and never reads past
         * the buffer (ASan checks). */
        uint8_t buf[64];
        uint64_t x = 88172645463325252ull;
        (void)state;
        for (int i = 0; i < 20000; i++) {
                kn_pb r;
                kn_pb_field f;
                size_t n = (size_t)(i % 64);
                int steps = 0;
                for (size_t j = 0; j < n; j++) {
                        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                        buf[j] = (uint8_t)x;
                }
                kn_pb_init(&r, buf, n);
                while (kn_pb_next(&r, &f) > 0)
                        assert_true(++steps <= 64);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fields), cmocka_unit_test(test_varint), cmocka_unit_test(test_hostile),
                cmocka_unit_test(test_depth),  cmocka_unit_test(test_random),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
