/*
 * metrics.h - a Prometheus registry: counters, gauges and histograms with
 * labels, rendered in the text exposition format 0.0.4.
 *
 * A registry owns its metrics; a struct metrics_metric pointer returned at
 * registration stays valid until metrics_registry_free().  Registration is
 * done once at start-up; updates may come from any thread (each metric has
 * its own mutex).  An update names its series by label values given in the
 * order of the label names at registration (NULL when there are no labels).
 *
 * Each metric holds at most max_series label combinations; an update that
 * would create one more is dropped, returns ERR_LIMIT and is counted in
 * envctl_metrics_dropped_total{metric="<name>"}, which every registry has.
 */
#ifndef ENVCTL_METRICS_H
#define ENVCTL_METRICS_H

#include <stddef.h>

struct buf;
struct metrics_registry;
struct metrics_metric;

#define METRICS_MAX_SERIES_DEFAULT	10000
#define METRICS_MAX_LABELS		8
#define METRICS_MAX_VALUE_LEN		256	/* bytes in one label value */

/* A new empty registry; max_series 0 means METRICS_MAX_SERIES_DEFAULT. */
int	 metrics_registry_new(struct metrics_registry **out, size_t max_series);
/* Free the registry and all its metrics; NULL does nothing. */
void	 metrics_registry_free(struct metrics_registry *);

/*
 * Register a metric.  name must match [a-zA-Z_:][a-zA-Z0-9_:]* and be new
 * in the registry (ERR_EXISTS otherwise); labels is a NULL-terminated list
 * (or NULL) of up to METRICS_MAX_LABELS distinct names matching
 * [a-zA-Z_][a-zA-Z0-9_]* and not starting with "__" (histograms also may
 * not use "le").  help is copied.  Returns ERR_INVALID with a message for
 * a bad name.  *out is owned by the registry.
 */
int	 metrics_counter_new(struct metrics_metric **out, struct metrics_registry *,
	    const char *name, const char *help, const char *const *labels);
int	 metrics_gauge_new(struct metrics_metric **out, struct metrics_registry *,
	    const char *name, const char *help, const char *const *labels);
/*
 * buckets are the finite upper bounds, strictly increasing (+Inf is
 * implicit); NULL/0 gives Prometheus' defaults (.005 .. 10 seconds).
 */
int	 metrics_histogram_new(struct metrics_metric **out, struct metrics_registry *,
	    const char *name, const char *help, const char *const *labels,
	    const double *buckets, size_t nbuckets);

/*
 * Bucket bounds for durations of minutes, in seconds: 15 s .. 30 min
 * (provisioning an instance and waiting for it to be ready).
 */
extern const double	 metrics_buckets_minutes[];
extern const size_t	 metrics_buckets_minutes_count;

/*
 * Updates.  values holds one string per label name (any bytes but NUL, at
 * most METRICS_MAX_VALUE_LEN); they are copied.  Return 0, ERR_INVALID
 * (wrong metric type, a negative or NaN counter increment, a NULL value)
 * or ERR_LIMIT (dropped and counted, see above).
 */
int	 metrics_counter_add(struct metrics_metric *, const char *const *values,
	    double delta);
int	 metrics_counter_inc(struct metrics_metric *, const char *const *values);
int	 metrics_gauge_set(struct metrics_metric *, const char *const *values,
	    double value);
int	 metrics_gauge_add(struct metrics_metric *, const char *const *values,
	    double delta);
int	 metrics_histogram_observe(struct metrics_metric *,
	    const char *const *values, double value);

/*
 * Forget every series of a metric (a gauge recomputed from scratch each
 * pass, so label sets that went away stop being exported).  A metric
 * without labels keeps its single series, reset to zero.
 */
void	 metrics_metric_clear(struct metrics_metric *);

/*
 * The current value of one series (counter or gauge), for tests and
 * /healthz-style checks.  ERR_NOTFOUND when the series does not exist.
 */
int	 metrics_value_get(double *out, struct metrics_metric *,
	    const char *const *values);

/*
 * Append the whole registry to out in the Prometheus text format 0.0.4:
 * metrics in registration order, each with # HELP and # TYPE, series
 * sorted by label values.  ERR_LIMIT when out's maximum is reached (out
 * then holds a truncated document the caller must not serve).
 */
int	 metrics_render(struct buf *out, struct metrics_registry *);

/* Append v as Prometheus writes numbers: integers exactly, +Inf, -Inf, NaN. */
int	 metrics_format_value(struct buf *out, double v);

#endif
