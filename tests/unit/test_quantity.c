/* SPDX-License-Identifier: Apache-2.0 */
/* core/quantity: Kubernetes resource quantities. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>

#include "quantity.h"

static void check(const char *s, int64_t value, int64_t milli)
{
        kn_quantity q;
        int r = kn_quantity_parse(s, &q);
        if (r != 0)
                fail_msg("parse \"%s\": %d", s, r);
        if (kn_quantity_value(&q) != value || kn_quantity_milli_value(&q) != milli)
                fail_msg("\"%s\": value %lld milli %lld, want %lld %lld", s, (long long)kn_quantity_value(&q),
                         (long long)kn_quantity_milli_value(&q), (long long)value, (long long)milli);
}

static void reject(const char *s, int code)
{
        kn_quantity q = {.nanos = 42};
        int r = kn_quantity_parse(s, &q);
        if (r != code)
                fail_msg("\"%s\": got %d, want %d", s ? s : "(null)", r, code);
        assert_true(q.nanos == 42); /* untouched */
}

static void test_quantity_valid(void **state)
{
        (void)state;
        check("0", 0, 0);
        check("-0", 0, 0);
        check("1", 1, 1000);
        check("+1", 1, 1000);
        check("100m", 1, 100);
        check("1500m", 2, 1500);
        check("1.5", 2, 1500);
        check("-1.5", -2, -1500);
        check(".5", 1, 500);
        check("5.", 5, 5000);
        check("2e3", 2000, 2000000);
        check("2E3", 2000, 2000000);
        check("2e+3", 2000, 2000000);
        check("1.5e3", 1500, 1500000);
        check("25e-1", 3, 2500);
        check("1E", 1000000000000000000LL, INT64_MAX); /* exa; milli saturates */
        check("1k", 1000, 1000000);
        check("1M", 1000000, 1000000000);
        check("1G", 1000000000, 1000000000000LL);
        check("1T", 1000000000000LL, 1000000000000000LL);
        check("1P", 1000000000000000LL, 1000000000000000000LL);
        check("10P", 10000000000000000LL, INT64_MAX);
        check("1Ki", 1024, 1024000);
        check("1Mi", 1048576, 1048576000);
        check("1Gi", 1073741824LL, 1073741824000LL);
        check("1.5Gi", 1610612736LL, 1610612736000LL);
        check("0.5Ki", 512, 512000);
        check("1Ti", 1099511627776LL, 1099511627776000LL);
        check("1Ei", 1152921504606846976LL, INT64_MAX);
        check("7Ei", 8070450532247928832LL, INT64_MAX);
        check("1n", 1, 1);     /* rounded up, away from zero */
        check("-1n", -1, -1);
        check("1u", 1, 1);
        check("999999u", 1, 1000);
        check("0.0000000001", 1, 1); /* finer than nano: rounds up to 1n */
        check("1.0000000001Ki", 1025, 1024001);
        check("000000000000000000000000000000000000000000000000000000001", 1, 1000);
        check("0.100000000000000000000000000000000000000000000000000000001", 1, 101);
        check("9223372036854775807", INT64_MAX, INT64_MAX);
        check("128974848", 128974848, 128974848000LL);
        check("129e6", 129000000, 129000000000LL);
        check("123Mi", 128974848, 128974848000LL);
        check("1e-50", 1, 1);
}

static void test_quantity_junk(void **state)
{
        char big[KN_QUANTITY_MAX_LEN + 2];
        (void)state;
        reject(NULL, -EINVAL);
        reject("", -EINVAL);
        reject(" 1", -EINVAL);
        reject("1 ", -EINVAL);
        reject("+", -EINVAL);
        reject("-", -EINVAL);
        reject(".", -EINVAL);
        reject("+-1", -EINVAL);
        reject("1.2.3", -EINVAL);
        reject("1..2", -EINVAL);
        reject("1Ki2", -EINVAL);
        reject("1KiB", -EINVAL);
        reject("1K", -EINVAL); /* kilo is lower case */
        reject("1i", -EINVAL);
        reject("1mi", -EINVAL);
        reject("1e", -EINVAL);
        reject("1ee3", -EINVAL);
        reject("1e3.5", -EINVAL);
        reject("1e+", -EINVAL);
        reject("1mm", -EINVAL);
        reject("0x10", -EINVAL);
        reject("inf", -EINVAL);
        reject("nan", -EINVAL);
        reject("1,5", -EINVAL);
        reject("Gi", -EINVAL);
        reject("1\n", -EINVAL);
        reject("e3", -EINVAL);
        reject("9223372036854775808", -ERANGE);
        reject("8Ei", -ERANGE);
        reject("10E", -ERANGE);
        reject("1e19", -ERANGE);
        reject("-1e19", -ERANGE);
        reject("1e9999999", -ERANGE);
        reject("1e100", -ERANGE);
        memset(big, '1', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        reject(big, -EINVAL);
}

static void test_quantity_misc(void **state)
{
        kn_quantity a, b;
        cJSON *j;
        (void)state;
        assert_int_equal(kn_quantity_parse("1Gi", &a), 0);
        assert_int_equal(a.format, KN_QUANTITY_BINARY_SI);
        assert_int_equal(kn_quantity_parse("1e9", &b), 0);
        assert_int_equal(b.format, KN_QUANTITY_DECIMAL_EXPONENT);
        assert_true(kn_quantity_cmp(&a, &b) > 0);
        assert_true(kn_quantity_cmp(&b, &a) < 0);
        assert_int_equal(kn_quantity_parse("1000M", &a), 0);
        assert_int_equal(a.format, KN_QUANTITY_DECIMAL_SI);
        assert_int_equal(kn_quantity_cmp(&a, &b), 0);
        a = kn_quantity_from_value(-3);
        assert_int_equal(kn_quantity_milli_value(&a), -3000);
        j = cJSON_CreateNumber(2);
        assert_int_equal(kn_quantity_from_json(j, &a), 0);
        assert_int_equal(kn_quantity_value(&a), 2);
        cJSON_SetNumberValue(j, 0.25);
        assert_int_equal(kn_quantity_from_json(j, &a), 0);
        assert_int_equal(kn_quantity_milli_value(&a), 250);
        cJSON_Delete(j);
        j = cJSON_CreateString("250Mi");
        assert_int_equal(kn_quantity_from_json(j, &a), 0);
        assert_int_equal(kn_quantity_value(&a), 262144000);
        cJSON_Delete(j);
        j = cJSON_CreateTrue();
        assert_int_equal(kn_quantity_from_json(j, &a), -EINVAL);
        assert_int_equal(kn_quantity_from_json(NULL, &a), -EINVAL);
        cJSON_Delete(j);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_quantity_valid),
                cmocka_unit_test(test_quantity_junk),
                cmocka_unit_test(test_quantity_misc),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
