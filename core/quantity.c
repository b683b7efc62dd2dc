/* SPDX-License-Identifier: Apache-2.0 */
#include "quantity.h"

#include <stdio.h>

/* Largest magnitude in nanos whose Value() still fits an int64. */
#define LIMIT ((__int128)INT64_MAX * 1000000000)
#define MAX_DIGITS 38 /* 10^38 < 2^127 */

static int suffix_scale(const char *s, int *ret_exp10, int *ret_exp2, enum kn_quantity_format *ret_fmt)
{
        static const struct {
                char c;
                int exp10, exp2;
        } si[] = {{'n', -9, 0}, {'u', -6, 0}, {'m', -3, 0}, {'k', 3, 0},  {'M', 6, 0},
                  {'G', 9, 0},  {'T', 12, 0}, {'P', 15, 0}, {'E', 18, 0}},
          bin[] = {{'K', 0, 10}, {'M', 0, 20}, {'G', 0, 30}, {'T', 0, 40}, {'P', 0, 50}, {'E', 0, 60}};

        *ret_exp10 = *ret_exp2 = 0;
        *ret_fmt = KN_QUANTITY_DECIMAL_SI;
        if (!*s)
                return 0;
        if (s[1] == 'i' && !s[2]) {
                for (size_t i = 0; i < KN_ARRAY_SIZE(bin); i++)
                        if (s[0] == bin[i].c) {
                                *ret_exp2 = bin[i].exp2;
                                *ret_fmt = KN_QUANTITY_BINARY_SI;
                                return 0;
                        }
                return -EINVAL;
        }
        if (!s[1]) {
                for (size_t i = 0; i < KN_ARRAY_SIZE(si); i++)
                        if (s[0] == si[i].c) {
                                *ret_exp10 = si[i].exp10;
                                return 0;
                        }
                return -EINVAL;
        }
        if (s[0] == 'e' || s[0] == 'E') {
                const char *p = s + 1;
                bool neg = false;
                int v = 0, n = 0;

                if (*p == '+' || *p == '-')
                        neg = *p++ == '-';
                for (; *p >= '0' && *p <= '9'; p++, n++) {
                        if (v > 100000)
                                return -ERANGE;
                        v = v * 10 + (*p - '0');
                }
                if (!n || *p)
                        return -EINVAL;
                *ret_exp10 = neg ? -v : v;
                *ret_fmt = KN_QUANTITY_DECIMAL_EXPONENT;
                return 0;
        }
        return -EINVAL;
}

int kn_quantity_parse(const char *s, kn_quantity *ret)
{
        char dig[KN_QUANTITY_MAX_LEN + 1];
        size_t nd = 0, seen = 0;
        const char *p = s;
        bool neg = false, sticky = false;
        enum kn_quantity_format fmt;
        int exp10 = 0, sexp10, exp2, r;
        unsigned __int128 d = 0, mag;

        if (!s || strnlen(s, KN_QUANTITY_MAX_LEN + 1) > KN_QUANTITY_MAX_LEN)
                return -EINVAL;
        if (*p == '+' || *p == '-')
                neg = *p++ == '-';
        for (; *p >= '0' && *p <= '9'; p++, seen++)
                if (nd || *p != '0')
                        dig[nd++] = *p;
        if (*p == '.') {
                for (p++; *p >= '0' && *p <= '9'; p++, seen++) {
                        exp10--;
                        if (nd || *p != '0')
                                dig[nd++] = *p;
                }
        }
        if (!seen)
                return -EINVAL;
        r = suffix_scale(p, &sexp10, &exp2, &fmt);
        if (r < 0)
                return r;
        while (nd && dig[nd - 1] == '0')
                nd--, exp10++;
        while (nd > MAX_DIGITS) /* more precision than anyone means: keep it sticky */
                sticky |= dig[--nd] != '0', exp10++;
        for (size_t i = 0; i < nd; i++)
                d = d * 10 + (unsigned)(dig[i] - '0');

        exp10 += sexp10 + 9; /* now: nanos = d * 10^exp10 * 2^exp2 */
        if (d == 0 && !sticky) {
                mag = 0;
        } else if (exp10 >= 0) {
                if (exp10 > MAX_DIGITS)
                        return -ERANGE;
                mag = d;
                for (int i = 0; i < exp10; i++)
                        if ((mag *= 10) > (unsigned __int128)LIMIT)
                                return -ERANGE;
                for (int i = 0; i < exp2; i++)
                        if ((mag *= 2) > (unsigned __int128)LIMIT)
                                return -ERANGE;
                mag += sticky;
        } else {
                unsigned __int128 pow = 1, rem;
                int k = -exp10;

                for (; k > MAX_DIGITS; k--)
                        sticky |= d % 10 != 0, d /= 10;
                for (int i = 0; i < k; i++)
                        pow *= 10;
                mag = d / pow;
                rem = d % pow;
                /* multiply by 2^exp2 keeping the fraction rem/pow exact */
                for (int i = 0; i < exp2; i++) {
                        mag *= 2;
                        rem *= 2;
                        if (rem >= pow)
                                mag++, rem -= pow;
                        if (mag > (unsigned __int128)LIMIT)
                                return -ERANGE;
                }
                if (rem || sticky)
                        mag++; /* round up, away from zero */
                if (mag > (unsigned __int128)LIMIT)
                        return -ERANGE;
        }
        ret->nanos = neg ? -(__int128)mag : (__int128)mag;
        ret->format = fmt;
        return 0;
}

static int64_t scaled(const kn_quantity *q, int64_t unit)
{
        unsigned __int128 mag = q->nanos < 0 ? (unsigned __int128)-q->nanos : (unsigned __int128)q->nanos;
        unsigned __int128 v = (mag + (unsigned __int128)unit - 1) / (unsigned __int128)unit;

        if (v > (unsigned __int128)INT64_MAX)
                return q->nanos < 0 ? INT64_MIN : INT64_MAX;
        return q->nanos < 0 ? -(int64_t)v : (int64_t)v;
}

int64_t kn_quantity_value(const kn_quantity *q) { return scaled(q, 1000000000); }

int64_t kn_quantity_milli_value(const kn_quantity *q) { return scaled(q, 1000000); }

int kn_quantity_cmp(const kn_quantity *a, const kn_quantity *b)
{
        return (a->nanos > b->nanos) - (a->nanos < b->nanos);
}

kn_quantity kn_quantity_from_value(int64_t n)
{
        return (kn_quantity){.nanos = (__int128)n * 1000000000, .format = KN_QUANTITY_DECIMAL_SI};
}

int kn_quantity_from_json(const cJSON *j, kn_quantity *ret)
{
        char buf[64];

        if (cJSON_IsString(j))
                return kn_quantity_parse(j->valuestring, ret);
        if (!cJSON_IsNumber(j) || j->valuedouble != j->valuedouble)
                return -EINVAL;
        snprintf(buf, sizeof(buf), "%.17g", j->valuedouble);
        if (strpbrk(buf, "in")) /* inf, nan */
                return -EINVAL;
        return kn_quantity_parse(buf, ret);
}

void kn_quantity_format_milli(int64_t milli, char *buf, size_t len)
{
        if (milli % 1000 == 0)
                snprintf(buf, len, "%lld", (long long)(milli / 1000));
        else
                snprintf(buf, len, "%lldm", (long long)milli);
}

void kn_quantity_format_bytes(int64_t bytes, char *buf, size_t len)
{
        static const char *const suffix[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
        int i = 0;

        if (bytes == 0) {
                snprintf(buf, len, "0");
                return;
        }
        while (i < 6 && bytes % 1024 == 0) {
                bytes /= 1024;
                i++;
        }
        snprintf(buf, len, "%lld%s", (long long)bytes, suffix[i]);
}
