/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: resource quantities. Besides not crashing: Value() is MilliValue() rounded
 * up away from zero, whenever MilliValue() did not saturate. */
#include <stdlib.h>

#include "quantity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char s[KN_QUANTITY_MAX_LEN + 2];
        kn_quantity q;
        int64_t v, m;
        __int128 want;

        if (size > KN_QUANTITY_MAX_LEN + 1)
                size = KN_QUANTITY_MAX_LEN + 1;
        memcpy(s, data, size);
        s[size] = '\0';
        if (kn_quantity_parse(s, &q) < 0)
                return 0;
        v = kn_quantity_value(&q);
        m = kn_quantity_milli_value(&q);
        if (m == INT64_MAX || m == INT64_MIN)
                return 0;
        want = m >= 0 ? ((__int128)m + 999) / 1000 : -((-(__int128)m + 999) / 1000);
        if (v != want)
                abort();
        return 0;
}
