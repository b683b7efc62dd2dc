/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes resource quantities ("100m", "1Gi", "1.5", "2e3"), as resource.Quantity parses
 * them: <sign?><digits[.digits]><suffix>, suffix one of the binary SI (Ki Mi Gi Ti Pi Ei),
 * the decimal SI (n u m "" k M G T P E) or a decimal exponent (e3, E-2). The value is kept
 * exactly to the nano unit; finer digits round up, away from zero, as upstream. */
#ifndef KN_QUANTITY_H
#define KN_QUANTITY_H

#include "util.h"

/* Longer strings are refused: no real quantity is near it. */
#define KN_QUANTITY_MAX_LEN 128

enum kn_quantity_format { KN_QUANTITY_DECIMAL_SI, KN_QUANTITY_BINARY_SI, KN_QUANTITY_DECIMAL_EXPONENT };

typedef struct kn_quantity {
        __int128 nanos; /* the value in units of 1e-9; |value| < 2^63 */
        enum kn_quantity_format format;
} kn_quantity;

/* -EINVAL for anything but a quantity (spaces, junk, empty, a lone sign or dot, two
 * suffixes), -ERANGE when |value| >= 2^63 or the exponent is absurd. *RET is untouched
 * on failure. */
int kn_quantity_parse(const char *s, kn_quantity *ret);
/* The value rounded up, away from zero, to an integer (Quantity.Value()). */
int64_t kn_quantity_value(const kn_quantity *q);
/* The value in thousandths, rounded up away from zero (Quantity.MilliValue()); saturates
 * at INT64_MAX/INT64_MIN beyond about 9.2e15. */
int64_t kn_quantity_milli_value(const kn_quantity *q);
/* <0, 0, >0 as a is less than, equal to, greater than b. */
int kn_quantity_cmp(const kn_quantity *a, const kn_quantity *b);
/* The quantity of N units (format decimal SI). */
kn_quantity kn_quantity_from_value(int64_t n);
/* A JSON quantity: a string as above, or a number (as the API may send small ints). */
int kn_quantity_from_json(const cJSON *j, kn_quantity *ret);

/* "250m" or "2" (cpu style) from thousandths. */
void kn_quantity_format_milli(int64_t milli, char *buf, size_t len);
/* Bytes in upstream's canonical binary form: "100Mi", "16384Ki", or plain "1000". */
void kn_quantity_format_bytes(int64_t bytes, char *buf, size_t len);

#endif
