/* SPDX-License-Identifier: Apache-2.0 */
#include "metrics.h"

#include <math.h>
#include <pthread.h>

struct series {
        char *labels;
        double value; /* counter/gauge; histogram sum */
        uint64_t count;
        uint64_t *buckets;
};

struct kn_metric {
        char *name, *help;
        enum kn_metric_type type;
        double *bounds;
        size_t n_bounds;
        struct series *series;
        size_t n_series;
        pthread_mutex_t *lock;
};

struct kn_metrics {
        pthread_mutex_t lock;
        kn_metric **metrics;
        size_t n;
};

kn_metrics *kn_metrics_new(void)
{
        kn_metrics *m = kn_calloc(1, sizeof(*m));
        pthread_mutex_init(&m->lock, NULL);
        return m;
}

void kn_metrics_free(kn_metrics *m)
{
        if (!m)
                return;
        for (size_t i = 0; i < m->n; i++) {
                kn_metric *mt = m->metrics[i];
                for (size_t s = 0; s < mt->n_series; s++) {
                        free(mt->series[s].labels);
                        free(mt->series[s].buckets);
                }
                free(mt->series);
                free(mt->bounds);
                free(mt->name);
                free(mt->help);
                free(mt);
        }
        free(m->metrics);
        pthread_mutex_destroy(&m->lock);
        free(m);
}

kn_metric *kn_metric_register(kn_metrics *m, const char *name, const char *help, enum kn_metric_type type,
                              const double *buckets, size_t n_buckets)
{
        kn_metric *mt = kn_calloc(1, sizeof(*mt));

        mt->name = kn_strdup(name);
        mt->help = kn_strdup(help);
        mt->type = type;
        if (type == KN_HISTOGRAM && n_buckets) {
                mt->bounds = kn_malloc(n_buckets * sizeof(double));
                memcpy(mt->bounds, buckets, n_buckets * sizeof(double));
                mt->n_bounds = n_buckets;
        }
        mt->lock = &m->lock;
        pthread_mutex_lock(&m->lock);
        m->metrics = kn_realloc(m->metrics, (m->n + 1) * sizeof(*m->metrics));
        m->metrics[m->n++] = mt;
        pthread_mutex_unlock(&m->lock);
        return mt;
}

static struct series *series_get(kn_metric *mt, const char *labels)
{
        if (!labels)
                labels = "";
        for (size_t i = 0; i < mt->n_series; i++)
                if (strcmp(mt->series[i].labels, labels) == 0)
                        return &mt->series[i];
        mt->series = kn_realloc(mt->series, (mt->n_series + 1) * sizeof(*mt->series));
        mt->series[mt->n_series] = (struct series){.labels = kn_strdup(labels)};
        if (mt->type == KN_HISTOGRAM)
                mt->series[mt->n_series].buckets = kn_calloc(mt->n_bounds + 1, sizeof(uint64_t));
        return &mt->series[mt->n_series++];
}

void kn_metric_add(kn_metric *mt, const char *labels, double v)
{
        pthread_mutex_lock(mt->lock);
        series_get(mt, labels)->value += v;
        pthread_mutex_unlock(mt->lock);
}

void kn_metric_set(kn_metric *mt, const char *labels, double v)
{
        pthread_mutex_lock(mt->lock);
        series_get(mt, labels)->value = v;
        pthread_mutex_unlock(mt->lock);
}

void kn_metric_observe(kn_metric *mt, const char *labels, double v)
{
        struct series *s;
        pthread_mutex_lock(mt->lock);
        s = series_get(mt, labels);
        s->value += v;
        s->count++;
        for (size_t i = 0; i < mt->n_bounds; i++)
                if (v <= mt->bounds[i])
                        s->buckets[i]++;
        s->buckets[mt->n_bounds]++;
        pthread_mutex_unlock(mt->lock);
}

double kn_metric_value(kn_metric *mt, const char *labels)
{
        double v;
        struct series *s;
        pthread_mutex_lock(mt->lock);
        s = series_get(mt, labels);
        v = mt->type == KN_HISTOGRAM ? (double)s->count : s->value;
        pthread_mutex_unlock(mt->lock);
        return v;
}

static void fmt_double(kn_buf *out, double v)
{
        if (isinf(v))
                kn_buf_printf(out, v > 0 ? "+Inf" : "-Inf");
        else if (v == floor(v) && fabs(v) < 1e15)
                kn_buf_printf(out, "%.0f", v);
        else
                kn_buf_printf(out, "%.17g", v);
}

void kn_metrics_render(kn_metrics *m, kn_buf *out)
{
        static const char *const tn[] = {"counter", "gauge", "histogram"};

        pthread_mutex_lock(&m->lock);
        for (size_t i = 0; i < m->n; i++) {
                kn_metric *mt = m->metrics[i];
                kn_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", mt->name, mt->help, mt->name, tn[mt->type]);
                if (mt->n_series == 0 && mt->type != KN_HISTOGRAM) {
                        kn_buf_printf(out, "%s 0\n", mt->name);
                        continue;
                }
                for (size_t s = 0; s < mt->n_series; s++) {
                        struct series *se = &mt->series[s];
                        const char *l = se->labels, *sep = l[0] ? "," : "";
                        if (mt->type != KN_HISTOGRAM) {
                                kn_buf_printf(out, l[0] ? "%s{%s} " : "%s%s ", mt->name, l);
                                fmt_double(out, se->value);
                                kn_buf_printf(out, "\n");
                                continue;
                        }
                        for (size_t b = 0; b <= mt->n_bounds; b++) {
                                kn_buf_printf(out, "%s_bucket{%s%sle=\"", mt->name, l, sep);
                                fmt_double(out, b < mt->n_bounds ? mt->bounds[b] : INFINITY);
                                kn_buf_printf(out, "\"} %llu\n", (unsigned long long)se->buckets[b]);
                        }
                        kn_buf_printf(out, l[0] ? "%s_sum{%s} " : "%s_sum%s ", mt->name, l);
                        fmt_double(out, se->value);
                        kn_buf_printf(out, l[0] ? "\n%s_count{%s} %llu\n" : "\n%s_count%s %llu\n", mt->name, l,
                                      (unsigned long long)se->count);
                }
        }
        pthread_mutex_unlock(&m->lock);
}

void kn_buckets_exponential(double start, double factor, size_t count, double *ret)
{
        for (size_t i = 0; i < count; i++, start *= factor)
                ret[i] = start;
}
