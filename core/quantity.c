/* SPDX-License-Identifier: Apache-2.0 */
#include "quantity.h"

#include <stdio.h>

#define MILLI_MAX (INT64_MAX / 1000)

int kn_quantity_parse(const char *s, kn_quantity *ret)
{
        static const struct {
                const char *suffix;
                int base2, exp; /* 2^base2 or 10^exp */
        } suffixes[] = {
                {"Ki", 10, 0}, {"Mi", 20, 0}, {"Gi", 30, 0}, {"Ti", 40, 0}, {"Pi", 50, 0}, {"Ei", 60, 0},
                {"n", 0, -9},  {"u", 0, -6},  {"m", 0, -3},  {"k", 0, 3},   {"M", 0, 6},   {"G", 0, 9},
                {"T", 0, 12},  {"P", 0, 15},  {"E", 0, 18},  {"", 0, 0},
        };
        const char *p = s;
        long double mant = 0, frac = 0.1L, v;
        bool neg = false, digits = false;
        int exp = 0, base2 = 0;

        if (!s || strlen(s) > 64)
                return -EINVAL;
        if (*p == '+' || *p == '-')
                neg = *p++ == '-';
        for (; *p >= '0' && *p <= '9'; p++, digits = true)
                mant = mant * 10 + (*p - '0');
        if (*p == '.')
                for (p++; *p >= '0' && *p <= '9'; p++, digits = true, frac /= 10)
                        mant += frac * (*p - '0');
        if (!digits)
                return -EINVAL;
        if ((*p == 'e' || *p == 'E') && p[1] && (p[1] == '-' || p[1] == '+' || (p[1] >= '0' && p[1] <= '9'))) {
                char *end;
                long e = strtol(p + 1, &end, 10);
                if (*end || e < -30 || e > 30)
                        return -EINVAL;
                exp = (int)e;
                p = end;
        } else {
                size_t i;
                for (i = 0; i < KN_ARRAY_SIZE(suffixes); i++)
                        if (!strcmp(p, suffixes[i].suffix))
                                break;
                if (i == KN_ARRAY_SIZE(suffixes))
                        return -EINVAL;
                base2 = suffixes[i].base2;
                exp = suffixes[i].exp;
        }
        v = mant * 1000.0L;
        for (; base2 > 0; base2--)
                v *= 2;
        for (; exp > 0; exp--)
                v *= 10;
        for (; exp < 0; exp++)
                v /= 10;
        if (v > (long double)MILLI_MAX * 1000)
                v = (long double)MILLI_MAX * 1000;
        /* round up, as upstream's MilliValue does */
        ret->milli = (int64_t)v;
        if ((long double)ret->milli < v)
                ret->milli++;
        if (neg)
                ret->milli = -ret->milli;
        return 0;
}

int64_t kn_quantity_value(const kn_quantity *q)
{
        int64_t v = q->milli / 1000;
        return q->milli > 0 && q->milli % 1000 ? v + 1 : v;
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
