/*
 * metrics.c - the registry, series tables and the text renderer.
 *
 * Each metric keeps its series in a chained hash table keyed by the label
 * values and in an array (for iteration); both are guarded by the
 * metric's mutex.  The registry's mutex guards only the list of metrics.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "mem.h"
#include "metrics.h"

enum metrics_type {
	METRICS_COUNTER,
	METRICS_GAUGE,
	METRICS_HISTOGRAM,
};

struct series {
	struct series	*next;		/* hash chain */
	uint64_t	 hash;
	char		**values;	/* nlabels strings */
	double		 value;		/* counter, gauge */
	double		 sum;		/* histogram */
	uint64_t	 count;
	uint64_t	*buckets;	/* per bucket, not cumulative */
};

struct metrics_metric {
	struct metrics_registry	*reg;
	enum metrics_type	 type;
	char			*name;
	char			*help;
	char			**labels;
	size_t			 nlabels;
	double			*bounds;	/* histogram upper bounds */
	size_t			 nbounds;
	pthread_mutex_t		 lock;
	struct series		**table;	/* hash table, ntable slots */
	size_t			 ntable;
	struct series		**all;		/* every series, nall of them */
	size_t			 nall;
	size_t			 capall;
	int			 is_dropped;	/* the drop counter itself */
};

struct metrics_registry {
	pthread_mutex_t		 lock;
	struct metrics_metric	**metrics;
	size_t			 nmetrics;
	size_t			 max_series;
	struct metrics_metric	*dropped;
};

static const double default_buckets[] = {
	.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10,
};

static const char *const type_names[] = { "counter", "gauge", "histogram" };

static void metric_free(struct metrics_metric *);

static int
name_valid(const char *s, int colon)
{
	const char *p;

	if (s == NULL || *s == '\0')
		return 0;
	for (p = s; *p != '\0'; p++) {
		char c = *p;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || (colon && c == ':') ||
		    (p != s && c >= '0' && c <= '9');
		if (!ok)
			return 0;
	}
	return 1;
}

static uint64_t
values_hash(const char *const *values, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	const unsigned char *p;
	size_t i;

	for (i = 0; i < n; i++) {
		for (p = (const unsigned char *)values[i]; *p != '\0'; p++) {
			h ^= *p;
			h *= 1099511628211ULL;
		}
		h ^= 0xff;
		h *= 1099511628211ULL;
	}
	return h;
}

static int
values_equal(char *const *a, const char *const *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return 1;
}

int
metrics_registry_new(struct metrics_registry **out, size_t max_series)
{
	static const char *const labels[] = { "metric", NULL };
	struct metrics_registry *reg;
	int error;

	*out = NULL;
	reg = xcalloc(1, sizeof(*reg));
	pthread_mutex_init(&reg->lock, NULL);
	reg->max_series = max_series ? max_series : METRICS_MAX_SERIES_DEFAULT;
	error = metrics_counter_new(&reg->dropped, reg,
	    "envctl_metrics_dropped_total",
	    "Metric updates dropped because a metric reached its label-combination cap.",
	    labels);
	if (error < 0) {
		metrics_registry_free(reg);
		return error;
	}
	reg->dropped->is_dropped = 1;
	*out = reg;
	return 0;
}

void
metrics_registry_free(struct metrics_registry *reg)
{
	size_t i;

	if (reg == NULL)
		return;
	for (i = 0; i < reg->nmetrics; i++)
		metric_free(reg->metrics[i]);
	free(reg->metrics);
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

static void
series_free(struct series *s, size_t nlabels)
{
	size_t i;

	for (i = 0; i < nlabels; i++)
		free(s->values[i]);
	free(s->values);
	free(s->buckets);
	free(s);
}

static void
metric_series_drop_all(struct metrics_metric *m)
{
	size_t i;

	for (i = 0; i < m->nall; i++)
		series_free(m->all[i], m->nlabels);
	m->nall = 0;
	memset(m->table, 0, m->ntable * sizeof(*m->table));
}

static void
metric_free(struct metrics_metric *m)
{
	size_t i;

	metric_series_drop_all(m);
	free(m->all);
	free(m->table);
	for (i = 0; i < m->nlabels; i++)
		free(m->labels[i]);
	free(m->labels);
	free(m->bounds);
	free(m->name);
	free(m->help);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* Grow the hash table to twice its size and rehash; lock held. */
static void
metric_rehash(struct metrics_metric *m)
{
	size_t n = m->ntable * 2, i;
	struct series **t = xcalloc(n, sizeof(*t));

	for (i = 0; i < m->nall; i++) {
		struct series *s = m->all[i];
		size_t slot = s->hash & (n - 1);
		s->next = t[slot];
		t[slot] = s;
	}
	free(m->table);
	m->table = t;
	m->ntable = n;
}

/* Find the series for values; lock held.  NULL when absent. */
static struct series *
metric_series_find(struct metrics_metric *m, const char *const *values,
    uint64_t hash)
{
	struct series *s;

	for (s = m->table[hash & (m->ntable - 1)]; s != NULL; s = s->next)
		if (s->hash == hash && values_equal(s->values, values, m->nlabels))
			return s;
	return NULL;
}

/* Add a new series for values; lock held.  The caller checked the cap. */
static struct series *
metric_series_add(struct metrics_metric *m, const char *const *values,
    uint64_t hash)
{
	struct series *s;
	size_t i, slot;

	s = xcalloc(1, sizeof(*s));
	s->hash = hash;
	s->values = xcalloc(m->nlabels ? m->nlabels : 1, sizeof(char *));
	for (i = 0; i < m->nlabels; i++)
		s->values[i] = xstrdup(values[i]);
	if (m->type == METRICS_HISTOGRAM)
		s->buckets = xcalloc(m->nbounds + 1, sizeof(uint64_t));
	if (m->nall == m->capall) {
		m->capall = m->capall ? m->capall * 2 : 8;
		m->all = xreallocarray(m->all, m->capall, sizeof(*m->all));
	}
	m->all[m->nall++] = s;
	if (m->nall > m->ntable)
		metric_rehash(m);
	else {
		slot = hash & (m->ntable - 1);
		s->next = m->table[slot];
		m->table[slot] = s;
	}
	return s;
}

static int
labels_check(const char *const *labels, size_t *nout, int histogram)
{
	size_t n, i, j;

	for (n = 0; labels != NULL && labels[n] != NULL; n++) {
		if (n == METRICS_MAX_LABELS) {
			err_set("more than %d label names", METRICS_MAX_LABELS);
			return ERR_INVALID;
		}
		if (!name_valid(labels[n], 0) || strncmp(labels[n], "__", 2) == 0) {
			err_set("invalid label name \"%s\"", labels[n]);
			return ERR_INVALID;
		}
		if (histogram && strcmp(labels[n], "le") == 0) {
			err_set("label name \"le\" is reserved in histograms");
			return ERR_INVALID;
		}
	}
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (strcmp(labels[i], labels[j]) == 0) {
				err_set("duplicate label name \"%s\"", labels[i]);
				return ERR_INVALID;
			}
	*nout = n;
	return 0;
}

static int
buckets_check(const double *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!isfinite(b[i])) {
			err_set("histogram bucket bounds must be finite");
			return ERR_INVALID;
		}
		if (i > 0 && !(b[i] > b[i - 1])) {
			err_set("histogram bucket bounds must increase");
			return ERR_INVALID;
		}
	}
	return 0;
}

static int
metric_register(struct metrics_metric **out, struct metrics_registry *reg,
    enum metrics_type type, const char *name, const char *help,
    const char *const *labels, const double *bounds, size_t nbounds)
{
	struct metrics_metric *m = NULL;
	size_t nlabels = 0, i;
	int error = ERR_INVALID;

	*out = NULL;
	if (!name_valid(name, 1)) {
		err_set("invalid metric name \"%s\"", name ? name : "(null)");
		goto out;
	}
	if ((error = labels_check(labels, &nlabels, type == METRICS_HISTOGRAM)) < 0) {
		err_prefix("metric %s", name);
		goto out;
	}
	if (type == METRICS_HISTOGRAM && (error = buckets_check(bounds, nbounds)) < 0) {
		err_prefix("metric %s", name);
		goto out;
	}
	m = xcalloc(1, sizeof(*m));
	m->reg = reg;
	m->type = type;
	m->name = xstrdup(name);
	m->help = xstrdup(help ? help : "");
	m->nlabels = nlabels;
	m->labels = xcalloc(nlabels ? nlabels : 1, sizeof(char *));
	for (i = 0; i < nlabels; i++)
		m->labels[i] = xstrdup(labels[i]);
	if (type == METRICS_HISTOGRAM) {
		m->nbounds = nbounds;
		m->bounds = xcalloc(nbounds ? nbounds : 1, sizeof(double));
		if (nbounds)
			memcpy(m->bounds, bounds, nbounds * sizeof(double));
	}
	m->ntable = 16;
	m->table = xcalloc(m->ntable, sizeof(*m->table));
	pthread_mutex_init(&m->lock, NULL);
	/* Without labels the one series always exists and is exported as 0. */
	if (nlabels == 0)
		metric_series_add(m, NULL, values_hash(NULL, 0));

	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < reg->nmetrics; i++)
		if (strcmp(reg->metrics[i]->name, name) == 0)
			break;
	if (i < reg->nmetrics) {
		pthread_mutex_unlock(&reg->lock);
		err_set("metric %s is already registered", name);
		error = ERR_EXISTS;
		goto out;
	}
	reg->metrics = xreallocarray(reg->metrics, reg->nmetrics + 1,
	    sizeof(*reg->metrics));
	reg->metrics[reg->nmetrics++] = m;
	pthread_mutex_unlock(&reg->lock);
	*out = m;
	m = NULL;
	error = 0;
out:
	if (m != NULL)
		metric_free(m);
	return error;
}

int
metrics_counter_new(struct metrics_metric **out, struct metrics_registry *reg,
    const char *name, const char *help, const char *const *labels)
{
	return metric_register(out, reg, METRICS_COUNTER, name, help, labels,
	    NULL, 0);
}

int
metrics_gauge_new(struct metrics_metric **out, struct metrics_registry *reg,
    const char *name, const char *help, const char *const *labels)
{
	return metric_register(out, reg, METRICS_GAUGE, name, help, labels,
	    NULL, 0);
}

int
metrics_histogram_new(struct metrics_metric **out, struct metrics_registry *reg,
    const char *name, const char *help, const char *const *labels,
    const double *buckets, size_t nbuckets)
{
	if (buckets == NULL || nbuckets == 0) {
		buckets = default_buckets;
		nbuckets = sizeof(default_buckets) / sizeof(default_buckets[0]);
	}
	return metric_register(out, reg, METRICS_HISTOGRAM, name, help, labels,
	    buckets, nbuckets);
}

/* Count one dropped update of metric m. */
static void
metric_note_drop(struct metrics_metric *m)
{
	struct metrics_metric *d = m->reg->dropped;
	const char *values[1] = { m->name };
	uint64_t hash = values_hash(values, 1);
	struct series *s;

	if (d == NULL || m->is_dropped)
		return;
	/* Bounded by the number of metrics, so not subject to the cap. */
	pthread_mutex_lock(&d->lock);
	if ((s = metric_series_find(d, values, hash)) == NULL)
		s = metric_series_add(d, values, hash);
	s->value += 1;
	pthread_mutex_unlock(&d->lock);
}

/*
 * Check values, lock m and find or create the series.  On success the
 * lock is held and *sp set; on failure it is not held.
 */
static int
metric_series_lock(struct series **sp, struct metrics_metric *m,
    const char *const *values, int create)
{
	struct series *s;
	uint64_t hash;
	size_t i;

	*sp = NULL;
	for (i = 0; i < m->nlabels; i++) {
		if (values == NULL || values[i] == NULL) {
			err_set("metric %s: label %s has no value", m->name,
			    m->labels[i]);
			return ERR_INVALID;
		}
		if (strlen(values[i]) > METRICS_MAX_VALUE_LEN) {
			err_set("metric %s: label %s value longer than %d bytes",
			    m->name, m->labels[i], METRICS_MAX_VALUE_LEN);
			metric_note_drop(m);
			return ERR_LIMIT;
		}
	}
	hash = values_hash(values, m->nlabels);
	pthread_mutex_lock(&m->lock);
	if ((s = metric_series_find(m, values, hash)) == NULL) {
		if (!create) {
			pthread_mutex_unlock(&m->lock);
			err_set("metric %s: no such series", m->name);
			return ERR_NOTFOUND;
		}
		if (m->nall >= m->reg->max_series && !m->is_dropped) {
			pthread_mutex_unlock(&m->lock);
			err_set("metric %s: %zu label combinations, update dropped",
			    m->name, m->reg->max_series);
			metric_note_drop(m);
			return ERR_LIMIT;
		}
		s = metric_series_add(m, values, hash);
	}
	*sp = s;
	return 0;
}

static int
metric_type_check(struct metrics_metric *m, enum metrics_type want)
{
	if (m == NULL || m->type != want) {
		err_set("metric %s is not a %s", m ? m->name : "(null)",
		    type_names[want]);
		return ERR_INVALID;
	}
	return 0;
}

int
metrics_counter_add(struct metrics_metric *m, const char *const *values,
    double delta)
{
	struct series *s;
	int error;

	if ((error = metric_type_check(m, METRICS_COUNTER)) < 0)
		return error;
	if (!(delta >= 0)) {
		err_set("metric %s: counter increment must be >= 0", m->name);
		return ERR_INVALID;
	}
	if ((error = metric_series_lock(&s, m, values, 1)) < 0)
		return error;
	s->value += delta;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int
metrics_counter_inc(struct metrics_metric *m, const char *const *values)
{
	return metrics_counter_add(m, values, 1);
}

static int
gauge_update(struct metrics_metric *m, const char *const *values, double v,
    int add)
{
	struct series *s;
	int error;

	if ((error = metric_type_check(m, METRICS_GAUGE)) < 0)
		return error;
	if ((error = metric_series_lock(&s, m, values, 1)) < 0)
		return error;
	if (add)
		s->value += v;
	else
		s->value = v;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int
metrics_gauge_set(struct metrics_metric *m, const char *const *values,
    double value)
{
	return gauge_update(m, values, value, 0);
}

int
metrics_gauge_add(struct metrics_metric *m, const char *const *values,
    double delta)
{
	return gauge_update(m, values, delta, 1);
}

int
metrics_histogram_observe(struct metrics_metric *m, const char *const *values,
    double value)
{
	struct series *s;
	size_t i;
	int error;

	if ((error = metric_type_check(m, METRICS_HISTOGRAM)) < 0)
		return error;
	if (isnan(value)) {
		err_set("metric %s: NaN observation", m->name);
		return ERR_INVALID;
	}
	if ((error = metric_series_lock(&s, m, values, 1)) < 0)
		return error;
	for (i = 0; i < m->nbounds && value > m->bounds[i]; i++)
		;
	s->buckets[i]++;	/* i == nbounds is the +Inf bucket */
	s->sum += value;
	s->count++;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

void
metrics_metric_clear(struct metrics_metric *m)
{
	pthread_mutex_lock(&m->lock);
	metric_series_drop_all(m);
	if (m->nlabels == 0)
		metric_series_add(m, NULL, values_hash(NULL, 0));
	pthread_mutex_unlock(&m->lock);
}

int
metrics_value_get(double *out, struct metrics_metric *m,
    const char *const *values)
{
	struct series *s;
	int error;

	*out = 0;
	if (m->type == METRICS_HISTOGRAM) {
		err_set("metric %s: histograms have no single value", m->name);
		return ERR_INVALID;
	}
	if ((error = metric_series_lock(&s, m, values, 0)) < 0)
		return error;
	*out = s->value;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

const double metrics_buckets_minutes[] = {
	15, 30, 45, 60, 90, 120, 180, 240, 300, 450, 600, 900, 1200, 1800,
};
const size_t metrics_buckets_minutes_count =
    sizeof(metrics_buckets_minutes) / sizeof(metrics_buckets_minutes[0]);

/* Rendering. */

int
metrics_format_value(struct buf *out, double v)
{
	char tmp[64];
	int prec;

	if (isnan(v))
		return buf_addstr(out, "NaN");
	if (isinf(v))
		return buf_addstr(out, v > 0 ? "+Inf" : "-Inf");
	if (v == floor(v) && fabs(v) < 9007199254740992.0)	/* 2^53 */
		return buf_printf(out, "%.0f", v);
	/* The shortest %g that reads back as the same double. */
	for (prec = 1; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
	return buf_addstr(out, tmp);
}

/* HELP text escapes backslash and newline; label values also '"'. */
static int
escape_add(struct buf *out, const char *s, int quote)
{
	const char *p;
	int error = 0;

	for (p = s; *p != '\0' && error == 0; p++) {
		if (*p == '\\')
			error = buf_addstr(out, "\\\\");
		else if (*p == '\n')
			error = buf_addstr(out, "\\n");
		else if (quote && *p == '"')
			error = buf_addstr(out, "\\\"");
		else
			error = buf_addch(out, *p);
	}
	return error;
}

/*
 * name{l1="v1",l2="v2"[,le="x"]} value: extra_le may be NULL.
 */
static int
render_sample(struct buf *out, const struct metrics_metric *m,
    const char *suffix, const struct series *s, const char *extra_le,
    double value)
{
	size_t i;
	int error = 0, any = m->nlabels > 0 || extra_le != NULL;

	error |= buf_addstr(out, m->name);
	error |= buf_addstr(out, suffix);
	if (any)
		error |= buf_addch(out, '{');
	for (i = 0; i < m->nlabels; i++) {
		error |= buf_printf(out, "%s%s=\"", i ? "," : "", m->labels[i]);
		error |= escape_add(out, s->values[i], 1);
		error |= buf_addch(out, '"');
	}
	if (extra_le != NULL)
		error |= buf_printf(out, "%sle=\"%s\"", m->nlabels ? "," : "",
		    extra_le);
	if (any)
		error |= buf_addch(out, '}');
	error |= buf_addch(out, ' ');
	error |= metrics_format_value(out, value);
	error |= buf_addch(out, '\n');
	return error ? ERR_LIMIT : 0;
}

static int
render_histogram(struct buf *out, const struct metrics_metric *m,
    const struct series *s)
{
	struct buf le;
	uint64_t cum = 0;
	size_t i;
	int error = 0;

	buf_init(&le, 64);
	for (i = 0; i <= m->nbounds && error == 0; i++) {
		cum += s->buckets[i];
		buf_reset(&le);
		if (i == m->nbounds)
			buf_addstr(&le, "+Inf");
		else
			metrics_format_value(&le, m->bounds[i]);
		error = render_sample(out, m, "_bucket", s, buf_cstr(&le),
		    (double)cum);
	}
	if (error == 0)
		error = render_sample(out, m, "_sum", s, NULL, s->sum);
	if (error == 0)
		error = render_sample(out, m, "_count", s, NULL, (double)s->count);
	buf_dispose(&le);
	return error;
}

static int
series_cmp(const void *a, const void *b, void *arg)
{
	const struct series *x = *(const struct series *const *)a;
	const struct series *y = *(const struct series *const *)b;
	size_t i, nlabels = *(const size_t *)arg;
	int c;

	for (i = 0; i < nlabels; i++)
		if ((c = strcmp(x->values[i], y->values[i])) != 0)
			return c;
	return 0;
}

static int
render_metric(struct buf *out, struct metrics_metric *m)
{
	struct series **sorted = NULL;
	size_t i, n;
	int error = 0;

	pthread_mutex_lock(&m->lock);
	if (buf_addstr(out, "# HELP ") < 0 || buf_addstr(out, m->name) < 0 ||
	    buf_addch(out, ' ') < 0 || escape_add(out, m->help, 0) < 0 ||
	    buf_printf(out, "\n# TYPE %s %s\n", m->name, type_names[m->type]) < 0) {
		error = ERR_LIMIT;
		goto out;
	}
	n = m->nall;
	sorted = xcalloc(n ? n : 1, sizeof(*sorted));
	if (n)
		memcpy(sorted, m->all, n * sizeof(*sorted));
	qsort_r(sorted, n, sizeof(*sorted), series_cmp, &m->nlabels);
	for (i = 0; i < n && error == 0; i++) {
		if (m->type == METRICS_HISTOGRAM)
			error = render_histogram(out, m, sorted[i]);
		else
			error = render_sample(out, m, "", sorted[i], NULL,
			    sorted[i]->value);
	}
out:
	pthread_mutex_unlock(&m->lock);
	free(sorted);
	if (error < 0)
		err_set("metrics output larger than %zu bytes", out->max);
	return error;
}

int
metrics_render(struct buf *out, struct metrics_registry *reg)
{
	size_t i, n;
	int error = 0;

	pthread_mutex_lock(&reg->lock);
	n = reg->nmetrics;
	pthread_mutex_unlock(&reg->lock);
	/* Metrics are only ever appended, and never freed before the registry. */
	for (i = 0; i < n && error == 0; i++) {
		struct metrics_metric *m;

		pthread_mutex_lock(&reg->lock);
		m = reg->metrics[i];
		pthread_mutex_unlock(&reg->lock);
		error = render_metric(out, m);
	}
	return error;
}
