#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "err.h"
#include "metrics.h"

#define V(...)	((const char *const[]){ __VA_ARGS__ })

static const char dropped_hdr[] =
    "# HELP envctl_metrics_dropped_total Metric updates dropped because a metric reached its label-combination cap.\n"
    "# TYPE envctl_metrics_dropped_total counter\n";

static char *
render(struct metrics_registry *reg)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	assert_int_equal(metrics_render(&b, reg), 0);
	return buf_detach(&b, NULL);
}

static void
test_metrics__names_validated(void **state)
{
	struct metrics_registry *reg;
	struct metrics_metric *m;
	static const struct { const char *name; const char *labels[3]; int want; } cases[] = {
		{ "ok_name", { NULL }, 0 },
		{ "ns:sub_name_total", { "a", "B_9", NULL }, 0 },
		{ "_leading_underscore", { "_x", NULL }, 0 },
		{ "9starts_with_digit", { NULL }, ERR_INVALID },
		{ "has-dash", { NULL }, ERR_INVALID },
		{ "has space", { NULL }, ERR_INVALID },
		{ "", { NULL }, ERR_INVALID },
		{ "uni\xc3\xa9", { NULL }, ERR_INVALID },
		{ "lbl_colon", { "a:b", NULL }, ERR_INVALID },
		{ "lbl_reserved", { "__name__", NULL }, ERR_INVALID },
		{ "lbl_digit", { "1a", NULL }, ERR_INVALID },
		{ "lbl_dup", { "a", "a", NULL }, ERR_INVALID },
		{ "lbl_empty", { "", NULL }, ERR_INVALID },
		{ "ok_name", { NULL }, ERR_EXISTS },
	};
	size_t i;

	(void)state;
	assert_int_equal(metrics_registry_new(&reg, 0), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = metrics_counter_new(&m, reg, cases[i].name, "h",
		    cases[i].labels);
		if (rc != cases[i].want)
			fail_msg("case %zu (%s): got %d want %d (%s)", i,
			    cases[i].name, rc, cases[i].want, err_get());
		if (rc == 0)
			assert_non_null(m);
		else
			assert_null(m);
	}
	/* histograms reserve le and need increasing finite bounds */
	assert_int_equal(metrics_histogram_new(&m, reg, "h1", "h", V("le", NULL),
	    NULL, 0), ERR_INVALID);
	assert_int_equal(metrics_histogram_new(&m, reg, "h2", "h", NULL,
	    (const double[]){ 1, 1 }, 2), ERR_INVALID);
	assert_int_equal(metrics_histogram_new(&m, reg, "h3", "h", NULL,
	    (const double[]){ 1, INFINITY }, 2), ERR_INVALID);
	assert_int_equal(metrics_histogram_new(&m, reg, "h4", "h", NULL,
	    (const double[]){ 1, 2 }, 2), 0);
	/* a counter wants non-negative increments; types are checked */
	assert_int_equal(metrics_counter_add(m, NULL, 1), ERR_INVALID);
	assert_int_equal(metrics_counter_new(&m, reg, "c", "h", NULL), 0);
	assert_int_equal(metrics_counter_add(m, NULL, -1), ERR_INVALID);
	assert_int_equal(metrics_counter_add(m, NULL, NAN), ERR_INVALID);
	assert_int_equal(metrics_gauge_set(m, NULL, 1), ERR_INVALID);
	metrics_registry_free(reg);
}

static void
test_metrics__render_exact(void **state)
{
	struct metrics_registry *reg;
	struct metrics_metric *c, *g, *h, *plain;
	char *out;
	char *expect;

	(void)state;
	assert_int_equal(metrics_registry_new(&reg, 0), 0);
	assert_int_equal(metrics_counter_new(&c, reg, "envctl_actions_total",
	    "Actions executed.", V("action", "result", NULL)), 0);
	assert_int_equal(metrics_gauge_new(&g, reg, "envctl_environments",
	    "Environments by status.", V("status", NULL)), 0);
	assert_int_equal(metrics_histogram_new(&h, reg,
	    "envctl_provision_seconds", "Provision time.", V("type", NULL),
	    (const double[]){ 0.5, 1, 2.5 }, 3), 0);
	assert_int_equal(metrics_gauge_new(&plain, reg, "envctl_leader",
	    "1 when leader.", NULL), 0);

	/* inserted out of order: output is sorted by label values */
	assert_int_equal(metrics_counter_inc(c, V("terminate", "ok")), 0);
	assert_int_equal(metrics_counter_add(c, V("provision", "ok"), 3), 0);
	assert_int_equal(metrics_counter_inc(c, V("provision", "error")), 0);
	assert_int_equal(metrics_counter_add(c, V("terminate", "ok"), 0.25), 0);
	assert_int_equal(metrics_gauge_set(g, V("ready"), 12), 0);
	assert_int_equal(metrics_gauge_set(g, V("error"), 2), 0);
	assert_int_equal(metrics_gauge_add(g, V("error"), -3.5), 0);
	assert_int_equal(metrics_histogram_observe(h, V("t3.micro"), 0.2), 0);
	assert_int_equal(metrics_histogram_observe(h, V("t3.micro"), 1), 0);
	assert_int_equal(metrics_histogram_observe(h, V("t3.micro"), 7), 0);
	assert_int_equal(metrics_histogram_observe(h, V("m5.large"), 2), 0);

	out = render(reg);
	expect = NULL;
	assert_true(asprintf(&expect, "%s"
	    "# HELP envctl_actions_total Actions executed.\n"
	    "# TYPE envctl_actions_total counter\n"
	    "envctl_actions_total{action=\"provision\",result=\"error\"} 1\n"
	    "envctl_actions_total{action=\"provision\",result=\"ok\"} 3\n"
	    "envctl_actions_total{action=\"terminate\",result=\"ok\"} 1.25\n"
	    "# HELP envctl_environments Environments by status.\n"
	    "# TYPE envctl_environments gauge\n"
	    "envctl_environments{status=\"error\"} -1.5\n"
	    "envctl_environments{status=\"ready\"} 12\n"
	    "# HELP envctl_provision_seconds Provision time.\n"
	    "# TYPE envctl_provision_seconds histogram\n"
	    "envctl_provision_seconds_bucket{type=\"m5.large\",le=\"0.5\"} 0\n"
	    "envctl_provision_seconds_bucket{type=\"m5.large\",le=\"1\"} 0\n"
	    "envctl_provision_seconds_bucket{type=\"m5.large\",le=\"2.5\"} 1\n"
	    "envctl_provision_seconds_bucket{type=\"m5.large\",le=\"+Inf\"} 1\n"
	    "envctl_provision_seconds_sum{type=\"m5.large\"} 2\n"
	    "envctl_provision_seconds_count{type=\"m5.large\"} 1\n"
	    "envctl_provision_seconds_bucket{type=\"t3.micro\",le=\"0.5\"} 1\n"
	    "envctl_provision_seconds_bucket{type=\"t3.micro\",le=\"1\"} 2\n"
	    "envctl_provision_seconds_bucket{type=\"t3.micro\",le=\"2.5\"} 2\n"
	    "envctl_provision_seconds_bucket{type=\"t3.micro\",le=\"+Inf\"} 3\n"
	    "envctl_provision_seconds_sum{type=\"t3.micro\"} 8.2\n"
	    "envctl_provision_seconds_count{type=\"t3.micro\"} 3\n"
	    "# HELP envctl_leader 1 when leader.\n"
	    "# TYPE envctl_leader gauge\n"
	    "envctl_leader 0\n", dropped_hdr) > 0);
	assert_string_equal(out, expect);
	free(out);
	free(expect);

	/* clear forgets label sets; a plain metric goes back to 0 */
	assert_int_equal(metrics_gauge_set(plain, NULL, 1), 0);
	metrics_metric_clear(g);
	metrics_metric_clear(plain);
	out = render(reg);
	assert_null(strstr(out, "envctl_environments{"));
	assert_non_null(strstr(out, "\nenvctl_leader 0\n"));
	free(out);
	metrics_registry_free(reg);
}

static void
test_metrics__escaping(void **state)
{
	struct metrics_registry *reg;
	struct metrics_metric *g;
	char *out;

	(void)state;
	assert_int_equal(metrics_registry_new(&reg, 0), 0);
	assert_int_equal(metrics_gauge_new(&g, reg, "esc", "back\\slash\nnew \"q\"",
	    V("v", NULL)), 0);
	assert_int_equal(metrics_gauge_set(g, V("a\\b\"c\nd}e,f=g"), 1), 0);
	out = render(reg);
	assert_non_null(strstr(out,
	    "# HELP esc back\\\\slash\\nnew \"q\"\n# TYPE esc gauge\n"
	    "esc{v=\"a\\\\b\\\"c\\nd}e,f=g\"} 1\n"));
	free(out);
	metrics_registry_free(reg);
}

static void
test_metrics__format_value(void **state)
{
	static const struct { double v; const char *s; } cases[] = {
		{ 0, "0" }, { 1, "1" }, { -2, "-2" }, { 800000, "800000" },
		{ 0.1, "0.1" }, { 1.5e-7, "1.5e-07" }, { 0.005, "0.005" },
		{ 1e20, "1e+20" }, { 1.0 / 3, "0.3333333333333333" },
	};
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b, 64);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&b);
		assert_int_equal(metrics_format_value(&b, cases[i].v), 0);
		assert_string_equal(buf_cstr(&b), cases[i].s);
	}
	buf_reset(&b);
	metrics_format_value(&b, INFINITY);
	metrics_format_value(&b, -INFINITY);
	metrics_format_value(&b, NAN);
	assert_string_equal(buf_cstr(&b), "+Inf-InfNaN");
	buf_dispose(&b);
}

static void
test_metrics__label_cap(void **state)
{
	struct metrics_registry *reg;
	struct metrics_metric *c, *g;
	char name[32], *out, *big;
	double v;
	int i;

	(void)state;
	assert_int_equal(metrics_registry_new(&reg, 5), 0);
	assert_int_equal(metrics_counter_new(&c, reg, "per_env_total", "h",
	    V("env", NULL)), 0);
	assert_int_equal(metrics_gauge_new(&g, reg, "other", "h",
	    V("env", NULL)), 0);
	for (i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "env-%d", i);
		assert_int_equal(metrics_counter_inc(c, V(name)),
		    i < 5 ? 0 : ERR_LIMIT);
	}
	/* existing series still update past the cap */
	assert_int_equal(metrics_counter_inc(c, V("env-0")), 0);
	assert_int_equal(metrics_value_get(&v, c, V("env-0")), 0);
	assert_true(v == 2);
	assert_int_equal(metrics_value_get(&v, c, V("env-7")), ERR_NOTFOUND);
	/* an over-long value is dropped and counted too */
	big = malloc(METRICS_MAX_VALUE_LEN + 2);
	memset(big, 'x', METRICS_MAX_VALUE_LEN + 1);
	big[METRICS_MAX_VALUE_LEN + 1] = '\0';
	assert_int_equal(metrics_gauge_set(g, V(big), 1), ERR_LIMIT);
	free(big);
	assert_int_equal(metrics_gauge_set(g, V(NULL), 1), ERR_INVALID);

	out = render(reg);
	assert_non_null(strstr(out,
	    "envctl_metrics_dropped_total{metric=\"other\"} 1\n"
	    "envctl_metrics_dropped_total{metric=\"per_env_total\"} 3\n"));
	assert_non_null(strstr(out, "per_env_total{env=\"env-4\"} 1\n"));
	assert_null(strstr(out, "env-5"));
	free(out);
	metrics_registry_free(reg);
}

#define NTHREADS	8
#define NINCR		100000

struct worker {
	struct metrics_metric	*c, *h, *g;
	int			 id;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	char id[8];
	int i;

	snprintf(id, sizeof(id), "w%d", w->id % 2);
	for (i = 0; i < NINCR; i++) {
		metrics_counter_inc(w->c, V("shared"));
		metrics_counter_inc(w->c, V(id));
		metrics_histogram_observe(w->h, NULL, (i % 4) * 0.5);
		metrics_gauge_add(w->g, NULL, 1);
	}
	return NULL;
}

static void
test_metrics__threads(void **state)
{
	struct metrics_registry *reg;
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];
	struct metrics_metric *c, *h, *g;
	double v;
	char *out;
	int i;

	(void)state;
	assert_int_equal(metrics_registry_new(&reg, 0), 0);
	assert_int_equal(metrics_counter_new(&c, reg, "hits_total", "h",
	    V("who", NULL)), 0);
	assert_int_equal(metrics_histogram_new(&h, reg, "lat", "h", NULL,
	    (const double[]){ 0.5, 1 }, 2), 0);
	assert_int_equal(metrics_gauge_new(&g, reg, "g", "h", NULL), 0);
	for (i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ c, h, g, i };
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	/* render while they run: must not crash or deadlock */
	for (i = 0; i < 20; i++)
		free(render(reg));
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(metrics_value_get(&v, c, V("shared")), 0);
	assert_true(v == (double)NTHREADS * NINCR);
	assert_int_equal(metrics_value_get(&v, c, V("w0")), 0);
	assert_true(v == (double)NTHREADS / 2 * NINCR);
	assert_int_equal(metrics_value_get(&v, g, NULL), 0);
	assert_true(v == (double)NTHREADS * NINCR);
	out = render(reg);
	assert_non_null(strstr(out, "hits_total{who=\"shared\"} 800000\n"));
	/* values 0, .5, 1, 1.5 each a quarter of the time */
	assert_non_null(strstr(out,
	    "lat_bucket{le=\"0.5\"} 400000\n"
	    "lat_bucket{le=\"1\"} 600000\n"
	    "lat_bucket{le=\"+Inf\"} 800000\n"
	    "lat_sum 600000\n"
	    "lat_count 800000\n"));
	free(out);
	metrics_registry_free(reg);
}

static void
test_metrics__render_limit(void **state)
{
	struct metrics_registry *reg;
	struct metrics_metric *c;
	struct buf b;

	(void)state;
	assert_int_equal(metrics_registry_new(&reg, 0), 0);
	assert_int_equal(metrics_counter_new(&c, reg, "x_total", "h", NULL), 0);
	buf_init(&b, 100);
	assert_int_equal(metrics_render(&b, reg), ERR_LIMIT);
	buf_dispose(&b);
	metrics_registry_free(reg);
}

/*
 * The provision-duration buckets: 15 s .. 30 min, increasing; a value
 * equal to a bound is counted in that bound's bucket, a longer one only
 * in +Inf; rendered exactly as Prometheus parses it.
 */
static void
test_metrics__buckets_minutes(void **state)
{
	struct metrics_registry *reg;
	struct metrics_metric *h;
	static const double obs[] = { 3, 15, 15.5, 44, 600, 1800, 1801, 7200 };
	char *out, *p;
	size_t i;

	(void)state;
	assert_true(metrics_buckets_minutes_count >= 8);
	assert_true(metrics_buckets_minutes[0] == 15);
	assert_true(metrics_buckets_minutes[metrics_buckets_minutes_count - 1] == 1800);
	for (i = 1; i < metrics_buckets_minutes_count; i++)
		assert_true(metrics_buckets_minutes[i] > metrics_buckets_minutes[i - 1]);
	assert_int_equal(metrics_registry_new(&reg, 0), 0);
	assert_int_equal(metrics_histogram_new(&h, reg,
	    "envctl_provision_duration_seconds", "Provision time.", NULL,
	    metrics_buckets_minutes, metrics_buckets_minutes_count), 0);
	for (i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
		assert_int_equal(metrics_histogram_observe(h, NULL, obs[i]), 0);
	out = render(reg);
	p = strstr(out, "# TYPE envctl_provision_duration_seconds histogram\n");
	assert_non_null(p);
	assert_non_null(strstr(p, "\nenvctl_provision_duration_seconds_bucket{le=\"15\"} 2\n"
	    "envctl_provision_duration_seconds_bucket{le=\"30\"} 3\n"
	    "envctl_provision_duration_seconds_bucket{le=\"45\"} 4\n"));
	assert_non_null(strstr(p, "\nenvctl_provision_duration_seconds_bucket{le=\"450\"} 4\n"
	    "envctl_provision_duration_seconds_bucket{le=\"600\"} 5\n"));
	assert_non_null(strstr(p, "\nenvctl_provision_duration_seconds_bucket{le=\"1200\"} 5\n"
	    "envctl_provision_duration_seconds_bucket{le=\"1800\"} 6\n"
	    "envctl_provision_duration_seconds_bucket{le=\"+Inf\"} 8\n"
	    "envctl_provision_duration_seconds_sum 11478.5\n"
	    "envctl_provision_duration_seconds_count 8\n"));
	free(out);
	metrics_registry_free(reg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics__names_validated),
		cmocka_unit_test(test_metrics__render_exact),
		cmocka_unit_test(test_metrics__escaping),
		cmocka_unit_test(test_metrics__format_value),
		cmocka_unit_test(test_metrics__label_cap),
		cmocka_unit_test(test_metrics__threads),
		cmocka_unit_test(test_metrics__render_limit),
		cmocka_unit_test(test_metrics__buckets_minutes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
