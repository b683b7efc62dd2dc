/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus metrics: counters, gauges and histograms with optional label sets,
 * rendered in the text exposition format. Thread-safe. */
#ifndef KN_METRICS_H
#define KN_METRICS_H

#include "util.h"

typedef struct kn_metrics kn_metrics;
typedef struct kn_metric kn_metric;

enum kn_metric_type { KN_COUNTER, KN_GAUGE, KN_HISTOGRAM };

kn_metrics *kn_metrics_new(void);
void kn_metrics_free(kn_metrics *m);

/* BUCKETS/N_BUCKETS only for histograms (upper bounds, ascending; +Inf is implied). */
kn_metric *kn_metric_register(kn_metrics *m, const char *name, const char *help, enum kn_metric_type type,
                              const double *buckets, size_t n_buckets);
/* LABELS is the rendered label set without braces, e.g. `table="nat"`, or NULL. */
void kn_metric_add(kn_metric *mt, const char *labels, double v);      /* counter/gauge */
void kn_metric_set(kn_metric *mt, const char *labels, double v);      /* gauge */
void kn_metric_observe(kn_metric *mt, const char *labels, double v);  /* histogram */
double kn_metric_value(kn_metric *mt, const char *labels);            /* counter/gauge; histogram: count */

void kn_metrics_render(kn_metrics *m, kn_buf *out);
/* Exponential bucket helper: START, START*FACTOR, … (COUNT buckets). */
void kn_buckets_exponential(double start, double factor, size_t count, double *ret);

#endif
