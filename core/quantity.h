/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes resource quantities ("100m", "1.5Gi", "2e3"), held in thousandths so cpu
 * millicores and byte counts share one type. Values saturate at ±2^63/1000. */
#ifndef KN_QUANTITY_H
#define KN_QUANTITY_H

#include "util.h"

typedef struct kn_quantity {
        int64_t milli; /* value × 1000, rounded up as upstream's MilliValue() */
} kn_quantity;

/* Parse a quantity string; -EINVAL for anything the API's grammar does not accept. */
int kn_quantity_parse(const char *s, kn_quantity *ret);
static inline int64_t kn_quantity_milli(const kn_quantity *q) { return q->milli; }
/* The value rounded up to a whole number (upstream's Value()). */
int64_t kn_quantity_value(const kn_quantity *q);
/* "250m" or "2" (cpu style). */
void kn_quantity_format_milli(int64_t milli, char *buf, size_t len);
/* Bytes in upstream's canonical binary form: "100Mi", "16384Ki", or plain "1000". */
void kn_quantity_format_bytes(int64_t bytes, char *buf, size_t len);

#endif
