/*
 * test_pipeline.c - the pipeline's pure pieces: ClientToken derivation,
 * ready_checks parsing, the price tables (built-in and price_table
 * files), the cost rule, the capacity-pool cache, drift facts, the
 * failpoint table, and the refusal to run without a bucket.  The
 * pipelines themselves run against fakes below their boundary in
 * test_stages.c, and against real PostgreSQL and moto in
 * tests/integration/reconcile_it.py.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <cmocka.h>

#include "err.h"
#include "pipeline.h"
#include "pipeline_int.h"
#include "store.h"

static void
test_pipeline__client_token(void **state)
{
	char a[65], b[65], c[65], d[65];
	size_t i;

	(void)state;
	pipeline_client_token(a, "6e98491f-002e-47d9-ab90-234a2bc918e9", 0, 0);
	pipeline_client_token(b, "6e98491f-002e-47d9-ab90-234a2bc918e9", 0, 0);
	pipeline_client_token(c, "6e98491f-002e-47d9-ab90-234a2bc918e9", 1, 0);
	pipeline_client_token(d, "6e98491f-002e-47d9-ab90-234a2bc918e9", 0, 1);
	assert_int_equal(strlen(a), 64);
	for (i = 0; i < 64; i++)
		assert_non_null(strchr("0123456789abcdef", a[i]));
	/* Same (env, attempt, variant): same token, so a replay is idempotent. */
	assert_string_equal(a, b);
	/* Another attempt or pool: another token. */
	assert_string_not_equal(a, c);
	assert_string_not_equal(a, d);
	assert_string_not_equal(c, d);
	/* SHA-256("x/0/0") in hex, computed with sha256sum. */
	pipeline_client_token(a, "x", 0, 0);
	assert_string_equal(a,
	    "5d98e6415770dbaa0487b0c46c3bda8418daeb02233ba661364ff810fbde4046");
}

static void
test_pipeline__checks_parse(void **state)
{
	unsigned bits = 99;

	(void)state;
	assert_int_equal(pipeline_checks_parse(&bits, "status,marker"), 0);
	assert_int_equal(bits, PIPELINE_CHECK_STATUS | PIPELINE_CHECK_MARKER);
	assert_int_equal(pipeline_checks_parse(&bits, "status,ssh,marker,hostkey"), 0);
	assert_int_equal(bits, PIPELINE_CHECK_ALL);
	assert_int_equal(pipeline_checks_parse(&bits, " ssh , hostkey "), 0);
	assert_int_equal(bits, PIPELINE_CHECK_SSH | PIPELINE_CHECK_HOSTKEY);
	assert_int_equal(pipeline_checks_parse(&bits, ""), 0);
	assert_int_equal(bits, 0);
	assert_int_equal(pipeline_checks_parse(&bits, "status,pingg"), ERR_INVALID);
	assert_non_null(strstr(err_get(), "pingg"));
}

static void
test_pipeline__prices(void **state)
{
	(void)state;
	assert_true(pipeline_price_on_demand("t3.micro") > 0.01 &&
	    pipeline_price_on_demand("t3.micro") < 0.011);
	assert_true(pipeline_price_on_demand("t3.medium") >
	    pipeline_price_on_demand("t3.small"));
	assert_true(pipeline_price_on_demand("x9.mystery") == 0.0);
}

/* A table parsed from text; asserts it parses. */
static struct pipeline_prices *
prices_ok(const char *text)
{
	struct pipeline_prices *t = NULL;

	if (pipeline_prices_parse(&t, text, strlen(text), "prices.txt") != 0)
		fail_msg("refused: %s", err_get());
	return t;
}

static void
test_pipeline__price_table(void **state)
{
	struct pipeline_prices *t;

	(void)state;
	t = prices_ok(
	    "# operator prices\n"
	    "\n"
	    "us-east-1  t3.micro   0.0200   # negotiated\n"
	    "eu-west-1\tt3.micro\t0.0114\n"
	    "*          m7g.large  0.0816\n"
	    "   # indented comment\n"
	    "us-east-1  x9.custom  1\n"
	    "us-east-1  t3.nano    0\n"
	    "eu-west-1  m7g.large  0.09\r\n");
	assert_int_equal(pipeline_prices_count(t), 6);
	/* An entry overrides the built-in price for its region only. */
	assert_true(pipeline_price(t, "us-east-1", "t3.micro") == 0.02);
	assert_true(pipeline_price(t, "eu-west-1", "t3.micro") == 0.0114);
	assert_true(pipeline_price(t, "us-west-2", "t3.micro") ==
	    pipeline_price_on_demand("t3.micro"));
	/* "*" is any region; an exact region wins over it. */
	assert_true(pipeline_price(t, "ap-south-1", "m7g.large") == 0.0816);
	assert_true(pipeline_price(t, "eu-west-1", "m7g.large") == 0.09);
	/* Entries extend the built-in table; zero is a price (free tier). */
	assert_true(pipeline_price(t, "us-east-1", "x9.custom") == 1.0);
	assert_true(pipeline_price(t, "us-east-1", "t3.nano") == 0.0);
	assert_true(pipeline_price(t, "us-east-1", "t3.medium") ==
	    pipeline_price_on_demand("t3.medium"));
	assert_true(pipeline_price(t, "us-east-1", "z1.unknown") == 0.0);
	assert_true(pipeline_price(NULL, "us-east-1", "t3.micro") ==
	    pipeline_price_on_demand("t3.micro"));
	assert_true(pipeline_price(t, NULL, "m7g.large") == 0.0816);
	pipeline_prices_free(t);
	pipeline_prices_free(NULL);
	t = prices_ok("# nothing but comments\n\n");
	assert_int_equal(pipeline_prices_count(t), 0);
	pipeline_prices_free(t);
}

static void
test_pipeline__price_table_errors(void **state)
{
	static const struct {
		const char	*text;
		const char	*error;
	} bad[] = {
		{ "us-east-1 t3.micro -0.01\n", "prices.txt:1: bad price '-0.01'" },
		{ "\nus-east-1 t3.micro nan\n", "prices.txt:2: bad price 'nan'" },
		{ "us-east-1 t3.micro NaN\n", "prices.txt:1: bad price" },
		{ "us-east-1 t3.micro inf\n", "prices.txt:1: bad price 'inf'" },
		{ "us-east-1 t3.micro 1e3\n", "prices.txt:1: bad price '1e3'" },
		{ "us-east-1 t3.micro 0x10\n", "prices.txt:1: bad price" },
		{ "us-east-1 t3.micro 1.2.3\n", "prices.txt:1: bad price" },
		{ "us-east-1 t3.micro .\n", "prices.txt:1: bad price" },
		{ "us-east-1 t3.micro +1\n", "prices.txt:1: bad price" },
		{ "us-east-1 t3.micro 100000\n", "prices.txt:1: price 100000 out of range" },
		{ "us-east-1 t3.micro\n", "prices.txt:1: expected 3 fields" },
		{ "us-east-1 t3.micro 0.1 0.2\n", "prices.txt:1: expected 3 fields" },
		{ "t3.micro\n", "prices.txt:1: expected 3 fields" },
		{ "US-EAST-1 t3.micro 0.1\n", "prices.txt:1: bad region 'US-EAST-1'" },
		{ "us-east-1 micro 0.1\n", "prices.txt:1: bad instance type 'micro'" },
		{ "us-east-1 t3.micro 0.1 # ok\nus-east-1 t3.micro 0.2\n",
		  "prices.txt:2: us-east-1 t3.micro listed twice (first at line 1)" },
		{ "us-east-1 t3.micro 0.1#x\nus-east-1 t3.small 0,1\n",
		  "prices.txt:2: bad price '0,1'" },
	};
	struct pipeline_prices *t;
	size_t i;
	const char nul[] = "us-east-1 t3.micro 0.1\n\0\n";

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = (struct pipeline_prices *)&t;
		assert_int_equal(pipeline_prices_parse(&t, bad[i].text,
		    strlen(bad[i].text), "prices.txt"), ERR_INVALID);
		assert_null(t);
		if (strstr(err_get(), bad[i].error) == NULL)
			fail_msg("case %zu: '%s' does not say '%s'", i, err_get(),
			    bad[i].error);
	}
	assert_int_equal(pipeline_prices_parse(&t, nul, sizeof(nul) - 1,
	    "prices.txt"), ERR_INVALID);
	assert_non_null(strstr(err_get(), "NUL"));
	assert_int_equal(pipeline_prices_load(&t, "/nonexistent/prices.txt"),
	    ERR_INVALID);
	assert_non_null(strstr(err_get(), "/nonexistent/prices.txt"));
}

static void
test_pipeline__price_table_load(void **state)
{
	char path[] = "/tmp/envctl-prices-XXXXXX";
	struct pipeline_prices *t = NULL;
	FILE *f;
	int fd;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	assert_non_null(f = fdopen(fd, "w"));
	fputs("# file\nus-east-1 t3.micro 0.5\nus-east-1 t3.small -1\n", f);
	fclose(f);
	assert_int_equal(pipeline_prices_load(&t, path), ERR_INVALID);
	assert_non_null(strstr(err_get(), ":3: bad price '-1'"));
	assert_non_null(strstr(err_get(), path));
	assert_non_null(f = fopen(path, "w"));
	fputs("us-east-1 t3.micro 0.5\n", f);
	fclose(f);
	assert_int_equal(pipeline_prices_load(&t, path), 0);
	assert_true(pipeline_price(t, "us-east-1", "t3.micro") == 0.5);
	pipeline_prices_free(t);
	unlink(path);
}

static void
test_pipeline__drift_fact(void **state)
{
	char a[PIPELINE_DRIFT_FACT_LEN + 1], b[PIPELINE_DRIFT_FACT_LEN + 1];
	char c[PIPELINE_DRIFT_FACT_LEN + 1];

	(void)state;
	pipeline_drift_fact(a, "drift-report", "i-1", "v1:aa", "v1:bb", "spec changed");
	pipeline_drift_fact(b, "drift-report", "i-1", "v1:aa", "v1:bb", "spec changed");
	assert_int_equal(strlen(a), PIPELINE_DRIFT_FACT_LEN);
	assert_string_equal(a, b);
	/* Any part changing is another fact. */
	pipeline_drift_fact(c, "drift-report", "i-1", "v1:ab", "v1:bb", "spec changed");
	assert_string_not_equal(a, c);
	pipeline_drift_fact(c, "drift-report", "i-2", "v1:aa", "v1:bb", "spec changed");
	assert_string_not_equal(a, c);
	pipeline_drift_fact(c, "replace", "i-1", "v1:aa", "v1:bb", "spec changed");
	assert_string_not_equal(a, c);
	/* Parts are separated: moving a character between them differs. */
	pipeline_drift_fact(b, "drift-report", "i-1", "v1:a", "av1:bb", "spec changed");
	assert_string_not_equal(a, b);
	/* NULL parts are allowed (no instance, no tag). */
	pipeline_drift_fact(c, "drift-gone", NULL, "v1:aa", NULL, "gone");
	assert_int_equal(strlen(c), PIPELINE_DRIFT_FACT_LEN);
}

static void
test_pipeline__failpoint_table(void **state)
{
	size_t i, j, n = 0;

	(void)state;
	for (i = 0; pipeline_failpoints[i] != NULL; i++) {
		const char *s = pipeline_failpoints[i];
		size_t len = strlen(s);

		n++;
		assert_true(strncmp(s, "provision.", 10) == 0 ||
		    strncmp(s, "terminate.", 10) == 0 ||
		    strncmp(s, "orphan.", 7) == 0 || strncmp(s, "gc.", 3) == 0);
		assert_true((len > 7 && strcmp(s + len - 7, ".before") == 0) ||
		    (len > 6 && strcmp(s + len - 6, ".after") == 0));
		for (j = 0; j < i; j++)
			assert_string_not_equal(s, pipeline_failpoints[j]);
	}
	/* before/after pairs */
	assert_int_equal(n % 2, 0);
	assert_true(n >= 60);
}

static void
test_pipeline__needs_bucket(void **state)
{
	struct pipeline *p = (struct pipeline *)1;
	struct pipeline_opts o;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.bucket = "";
	assert_int_equal(pipeline_new(&p, NULL, NULL, NULL, NULL, &o), ERR_INVALID);
	assert_null(p);
	assert_non_null(strstr(err_get(), "s3_bucket"));
}

/*
 * The waiting rule, every plan kind x outcome: after a job, does its
 * environment still wait on something outside envctl?
 */
static void
test_pipeline__job_waits(void **state)
{
	enum { FAILED, DONE, TAGGED, NO_STAGE, GC_LEFT, NOUTCOMES };
	/* per kind: failed, reached DONE, stopped at TAGGED, no stage, GC left the SG */
	static const struct { enum plan_kind kind; int want[NOUTCOMES]; } rows[] = {
		{ PLAN_NOOP,		{ 1, 0, 0, 0, 0 } },
		{ PLAN_PROVISION,	{ 1, 0, 1, 1, 1 } },
		{ PLAN_RETRY,		{ 1, 0, 1, 1, 1 } },
		{ PLAN_ADVANCE,		{ 1, 0, 1, 1, 1 } },
		{ PLAN_REPLACE,		{ 1, 0, 1, 1, 1 } },
		{ PLAN_DRIFT_REPORT,	{ 1, 1, 1, 1, 1 } },
		{ PLAN_DRIFT_GONE,	{ 1, 0, 1, 1, 1 } },
		{ PLAN_ADOPT,		{ 1, 0, 0, 0, 0 } },
		{ PLAN_TERMINATE,	{ 1, 0, 0, 0, 0 } },
		{ PLAN_CLOSE,		{ 1, 0, 0, 0, 0 } },
		{ PLAN_ORPHAN,		{ 1, 0, 0, 0, 0 } },
		{ PLAN_GC,		{ 1, 0, 0, 0, 1 } },
		{ PLAN_BLOCKED,		{ 1, 0, 0, 0, 0 } },
		{ PLAN_BACKOFF,		{ 1, 0, 0, 0, 0 } },
		{ PLAN_GAVE_UP,		{ 1, 0, 0, 0, 0 } },
		{ PLAN_HALT,		{ 1, 0, 0, 0, 0 } },
	};
	size_t i, seen = 0;
	int o;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		for (o = 0; o < NOUTCOMES; o++) {
			struct pipeline_job j;

			memset(&j, 0, sizeof(j));
			j.kind = rows[i].kind;
			j.reached = -1;
			switch (o) {
			case FAILED:
				j.result = ERR_GENERIC;
				break;
			case DONE:
				j.reached = STORE_STAGE_DONE;
				break;
			case TAGGED:
				j.reached = STORE_STAGE_TAGGED;
				break;
			case GC_LEFT:
				j.gc_waiting = 1;
				break;
			default:
				break;
			}
			if (pipeline_job_waits(&j) != rows[i].want[o])
				fail_msg("kind %s outcome %d: waits %d, want %d",
				    plan_kind_name(rows[i].kind), o,
				    pipeline_job_waits(&j), rows[i].want[o]);
		}
		seen |= 1u << rows[i].kind;
	}
	/* every kind has its row */
	assert_int_equal(seen, (1u << PLAN_KIND_COUNT) - 1);
}

/* A pass prefetches the status checks of rows waiting at TAGGED only. */
static void
test_pipeline__job_status_instance(void **state)
{
	struct store_brief row;
	struct pipeline_job j;
	char id[] = "i-0123456789abcdef0";

	(void)state;
	memset(&row, 0, sizeof(row));
	memset(&j, 0, sizeof(j));
	j.kind = PLAN_ADVANCE;
	assert_null(pipeline_job_status_instance(&j));
	j.row = &row;
	row.instance_id = id;
	row.stage = STORE_STAGE_INSTANCE_LAUNCHED;
	assert_null(pipeline_job_status_instance(&j));
	row.stage = STORE_STAGE_TAGGED;
	assert_string_equal(pipeline_job_status_instance(&j), id);
	row.instance_id = NULL;
	assert_null(pipeline_job_status_instance(&j));
	row.instance_id = id;
	row.stage = STORE_STAGE_DONE;
	assert_null(pipeline_job_status_instance(&j));
}

/*
 * The cost rule (pipeline_cost_sum(), pipeline_env_cost()), one row per
 * case: a segment bills from its start to its end (now while open), a
 * compute segment at least 60 s, only inside the window; the rate now
 * is the open segments'; the saving is on-demand minus paid.
 */
static void
test_pipeline__env_cost(void **state)
{
	/* One segment each; rate 0.5 $/h (on-demand 0.8 $/h), now 17200. */
	static const struct {
		const char	*what;
		unsigned	 kind;
		time_t		 started, ended, since;
		double		 usd, per_hour, saved;
		long long	 seconds;
	} cases[] = {
		{ "open compute: from its start", STORE_COST_COMPUTE, 10000, 0,
		    0, 1.0, 0.5, 0.6, 7200 },
		{ "closed compute: start to end, no rate now",
		    STORE_COST_COMPUTE, 10000, 13600, 0, 0.5, 0, 0.3, 3600 },
		{ "a 10 s run bills the 60 s minimum", STORE_COST_COMPUTE,
		    10000, 10010, 0, 60 * 0.5 / 3600, 0, 60 * 0.3 / 3600, 60 },
		{ "storage: no minimum", STORE_COST_STORAGE, 10000, 10010, 0,
		    10 * 0.5 / 3600, 0, 10 * 0.3 / 3600, 0 },
		{ "open, started 10 s ago: the minimum already",
		    STORE_COST_COMPUTE, 17190, 0, 0, 60 * 0.5 / 3600, 0.5,
		    60 * 0.3 / 3600, 60 },
		{ "started in the future: nothing yet", STORE_COST_COMPUTE,
		    20000, 0, 0, 0, 0, 0, 0 },
		{ "window: only the part after since", STORE_COST_COMPUTE,
		    10000, 13600, 12800, 0.5 * 800 / 3600, 0, 0.3 * 800 / 3600,
		    800 },
		{ "window: ended before since", STORE_COST_COMPUTE, 10000,
		    13600, 14000, 0, 0, 0, 0 },
		{ "window: the minimum reaches into it", STORE_COST_COMPUTE,
		    13580, 13590, 13600, 40 * 0.5 / 3600, 0, 40 * 0.3 / 3600,
		    40 },
	};
	const time_t now = 17200;
	struct store_cost_seg v[3];
	struct pipeline_cost c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(v, 0, sizeof(v));
		v[0].kind = cases[i].kind;
		v[0].usd_per_hour = 0.5;
		v[0].od_usd_per_hour = 0.8;
		v[0].started_at = cases[i].started;
		v[0].ended_at = cases[i].ended;
		pipeline_cost_sum(&c, v, 1, cases[i].since, now);
		if (fabs(c.usd - cases[i].usd) > 1e-9 ||
		    fabs(c.usd_per_hour - cases[i].per_hour) > 1e-9 ||
		    fabs(c.saved_usd - cases[i].saved) > 1e-9 ||
		    c.seconds != cases[i].seconds)
			fail_msg("%s: usd %.6f/h %.4f/saved %.6f/%llds, want "
			    "%.6f/h %.4f/saved %.6f/%llds", cases[i].what,
			    c.usd, c.usd_per_hour, c.saved_usd, c.seconds,
			    cases[i].usd, cases[i].per_hour, cases[i].saved,
			    cases[i].seconds);
	}
	/*
	 * A spot price change 10 s after the start: the first segment keeps
	 * the 60 s minimum, its continuation (20 s at 0.7, then open at 0.9
	 * for 10 s) has none: a price change is not a start.
	 */
	memset(v, 0, sizeof(v));
	for (i = 0; i < 3; i++) {
		v[i].kind = STORE_COST_COMPUTE;
		v[i].od_usd_per_hour = 0.8;
		v[i].continues = i > 0;
	}
	v[0].usd_per_hour = 0.5;
	v[0].started_at = 17100;
	v[0].ended_at = 17110;
	v[1].usd_per_hour = 0.7;
	v[1].started_at = 17110;
	v[1].ended_at = 17130;
	v[2].usd_per_hour = 0.9;
	v[2].started_at = 17190;
	pipeline_cost_sum(&c, v, 3, 0, now);
	assert_true(fabs(c.usd - (60 * 0.5 + 20 * 0.7 + 10 * 0.9) / 3600) <
	    1e-9);
	assert_true(fabs(c.usd_per_hour - 0.9) < 1e-9);
	assert_int_equal(c.seconds, 60 + 20 + 10);
	/* By environment: only its own segments, sorted by env id. */
	memset(v, 0, sizeof(v));
	snprintf(v[0].env_id, sizeof(v[0].env_id), "a");
	snprintf(v[1].env_id, sizeof(v[1].env_id), "b");
	snprintf(v[2].env_id, sizeof(v[2].env_id), "b");
	for (i = 0; i < 3; i++) {
		v[i].kind = i == 2 ? STORE_COST_STORAGE : STORE_COST_COMPUTE;
		v[i].usd_per_hour = v[i].od_usd_per_hour = 1.0 + (double)i;
		v[i].started_at = 10000;
	}
	v[1].ended_at = 13600;
	pipeline_env_cost(&c, v, 3, "b", now);
	assert_true(fabs(c.usd - (2.0 + 3.0 * 2)) < 1e-9);
	assert_true(fabs(c.usd_per_hour - 3.0) < 1e-9);
	assert_true(fabs(c.saved_usd) < 1e-9);
	pipeline_env_cost(&c, v, 3, "c", now);
	assert_true(c.usd == 0 && c.usd_per_hour == 0);
	/* Storage: gp3 per GB-month, the table's ebs.gp3 entry first. */
	assert_true(fabs(pipeline_price_storage(NULL, "us-east-1", 730) -
	    PIPELINE_GP3_USD_GB_MONTH) < 1e-9);
	{
		static const char tab[] = "* ebs.gp3 0.16\n"
		    "eu-west-1 ebs.gp3 0.088\n";
		struct pipeline_prices *t = NULL;

		assert_int_equal(pipeline_prices_parse(&t, tab, sizeof(tab) - 1,
		    "t"), 0);
		assert_true(fabs(pipeline_price_storage(t, "us-east-1", 730) -
		    0.16) < 1e-9);
		assert_true(fabs(pipeline_price_storage(t, "eu-west-1", 730) -
		    0.088) < 1e-9);
		pipeline_prices_free(t);
	}
}

/*
 * Pool ranking: spot before on-demand; spot pools by placement score,
 * ties by recent price (unknown last), then the spec's order; on-demand
 * pools in the spec's order whatever their score.
 */
static void
test_pipeline__pools_rank(void **state)
{
	/* index: the spec's order; score; price */
	struct pl_pool v[] = {
		{ 1, "a", "s1", NULL, NULL, 3, 0.020, 0 },
		{ 1, "a", "s2", NULL, NULL, 7, 0.030, 1 },
		{ 1, "b", "s1", NULL, NULL, 7, 0.010, 2 },
		{ 1, "b", "s2", NULL, NULL, 3, 0,     3 },
		{ 1, "c", "s1", NULL, NULL, 3, 0.020, 4 },
		{ 0, "a", "s1", NULL, NULL, 9, 0,     5 },
		{ 0, "b", "s1", NULL, NULL, 0, 0,     6 },
		{ 1, "c", "s2", NULL, NULL, 0, 0.001, 7 },
	};
	static const size_t want[] = { 2, 1, 0, 4, 3, 7, 5, 6 };
	struct pl_pool one[1] = { { 1, "a", NULL, NULL, NULL, 0, 0, 0 } };
	size_t i;

	(void)state;
	pl_pools_rank(v, sizeof(v) / sizeof(v[0]));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (v[i].index != want[i])
			fail_msg("rank %zu: pool %zu, want %zu", i, v[i].index,
			    want[i]);
	pl_pools_rank(one, 1);
	assert_int_equal(one[0].index, 0);
	pl_pools_rank(NULL, 0);
}

/*
 * The scores cache: per (region, type), PL_SCORES_TTL seconds of the
 * clock given, a failure kept too, bounded; a zone's score by id, its
 * price by name.
 */
static void
test_pipeline__scores_cache(void **state)
{
	struct pipeline_capacity *c = NULL;
	struct pl_scores s, got;
	const time_t t0 = 1700000000;
	char type[32];
	int i;

	(void)state;
	assert_int_equal(pipeline_capacity_new(&c), 0);
	memset(&s, 0, sizeof(s));
	snprintf(s.v[0].az_id, sizeof(s.v[0].az_id), "use1-az1");
	s.v[0].score = 8;
	snprintf(s.v[1].az, sizeof(s.v[1].az), "us-east-1b");
	s.v[1].price = 0.0123;
	s.n = 2;
	assert_false(pl_scores_cached(c, "us-east-1", "m5.large", t0, &got));
	pl_scores_remember(c, "us-east-1", "m5.large", t0, &s);
	assert_true(pl_scores_cached(c, "us-east-1", "m5.large", t0, &got));
	assert_int_equal(pl_scores_score(&got, "use1-az1"), 8);
	assert_int_equal(pl_scores_score(&got, "use1-az2"), 0);
	assert_int_equal(pl_scores_score(&got, NULL), 0);
	assert_true(pl_scores_price(&got, "us-east-1b") > 0.0122);
	assert_true(pl_scores_price(&got, "us-east-1a") == 0);
	/* another region or type: not cached */
	assert_false(pl_scores_cached(c, "eu-west-1", "m5.large", t0, &got));
	assert_false(pl_scores_cached(c, "us-east-1", "m6i.large", t0, &got));
	/* expiry */
	assert_true(pl_scores_cached(c, "us-east-1", "m5.large",
	    t0 + PL_SCORES_TTL - 1, &got));
	assert_false(pl_scores_cached(c, "us-east-1", "m5.large",
	    t0 + PL_SCORES_TTL, &got));
	/* a failure is kept: asked (and logged) once per TTL */
	memset(&s, 0, sizeof(s));
	s.failed = 1;
	pl_scores_remember(c, "us-east-1", "c5.large", t0, &s);
	assert_true(pl_scores_cached(c, "us-east-1", "c5.large", t0 + 1, &got));
	assert_true(got.failed);
	/* bounded: 100 types later, the newest are there */
	s.failed = 0;
	for (i = 0; i < 100; i++) {
		snprintf(type, sizeof(type), "c%d.large", i);
		pl_scores_remember(c, "us-east-1", type, t0 + i, &s);
	}
	assert_true(pl_scores_cached(c, "us-east-1", "c99.large", t0 + 100, &got));
	assert_false(pl_scores_cached(c, "us-east-1", "c0.large", t0 + 100, &got));
	pipeline_capacity_free(c);
}

/*
 * The capacity-pool cache: keyed by region, market, type and subnet (two
 * regions never share an entry), an entry lasts PIPELINE_CAPACITY_TTL
 * seconds of the clock the caller passes, and a full cache replaces its
 * oldest entry.
 */
static void
test_pipeline__capacity_cache(void **state)
{
	struct pipeline_capacity *c = NULL;
	const time_t t0 = 1700000000;
	char type[32];
	int i;

	(void)state;
	assert_int_equal(pipeline_capacity_new(&c), 0);
	assert_non_null(c);
	assert_false(pl_capacity_exhausted(c, "us-east-1", 1, "t3.micro",
	    "subnet-1", t0));
	pl_capacity_remember(c, "us-east-1", 1, "t3.micro", "subnet-1", t0);
	assert_true(pl_capacity_exhausted(c, "us-east-1", 1, "t3.micro",
	    "subnet-1", t0));
	/* another region, market, type or subnet is another pool */
	assert_false(pl_capacity_exhausted(c, "eu-west-1", 1, "t3.micro",
	    "subnet-1", t0));
	assert_false(pl_capacity_exhausted(c, "us-east-1", 0, "t3.micro",
	    "subnet-1", t0));
	assert_false(pl_capacity_exhausted(c, "us-east-1", 1, "t3.small",
	    "subnet-1", t0));
	assert_false(pl_capacity_exhausted(c, "us-east-1", 1, "t3.micro",
	    NULL, t0));
	/* remembered in one region, the other still tries it */
	pl_capacity_remember(c, "eu-west-1", 0, "m5.large", NULL, t0);
	assert_true(pl_capacity_exhausted(c, "eu-west-1", 0, "m5.large", NULL,
	    t0 + 10));
	assert_false(pl_capacity_exhausted(c, "us-east-1", 0, "m5.large", NULL,
	    t0 + 10));
	/* expiry, by the clock given */
	assert_true(pl_capacity_exhausted(c, "us-east-1", 1, "t3.micro",
	    "subnet-1", t0 + PIPELINE_CAPACITY_TTL - 1));
	assert_false(pl_capacity_exhausted(c, "us-east-1", 1, "t3.micro",
	    "subnet-1", t0 + PIPELINE_CAPACITY_TTL));
	/* remembered again: lasts from then */
	pl_capacity_remember(c, "us-east-1", 1, "t3.micro", "subnet-1", t0 + 400);
	assert_true(pl_capacity_exhausted(c, "us-east-1", 1, "t3.micro",
	    "subnet-1", t0 + 400 + PIPELINE_CAPACITY_TTL - 1));
	/* bounded: 100 pools later, the newest are there */
	for (i = 0; i < 100; i++) {
		snprintf(type, sizeof(type), "c%d.large", i);
		pl_capacity_remember(c, "us-east-1", 0, type, NULL, t0 + 500 + i);
	}
	assert_true(pl_capacity_exhausted(c, "us-east-1", 0, "c99.large", NULL,
	    t0 + 600));
	assert_false(pl_capacity_exhausted(c, "us-east-1", 0, "c0.large", NULL,
	    t0 + 600));
	pipeline_capacity_free(c);

	/* a spot interruption: every spot pool of the type, not on-demand */
	assert_int_equal(pipeline_capacity_new(&c), 0);
	pipeline_capacity_spot_interrupted(c, "us-east-1", "t3.micro", t0);
	assert_true(pl_capacity_exhausted(c, "us-east-1", 1, "t3.micro", NULL, t0));
	assert_true(pl_capacity_exhausted(c, "us-east-1", 1, "t3.micro",
	    "subnet-9", t0 + PIPELINE_CAPACITY_TTL - 1));
	assert_false(pl_capacity_exhausted(c, "us-east-1", 0, "t3.micro", NULL, t0));
	assert_false(pl_capacity_exhausted(c, "us-east-1", 1, "t3.small", NULL, t0));
	assert_false(pl_capacity_exhausted(c, "eu-west-1", 1, "t3.micro", NULL, t0));
	assert_false(pl_capacity_exhausted(c, "us-east-1", 1, "t3.micro", NULL,
	    t0 + PIPELINE_CAPACITY_TTL));
	pipeline_capacity_free(c);

	/* no cache: every pool is tried */
	pl_capacity_remember(NULL, "us-east-1", 1, "t3.micro", NULL, t0);
	assert_false(pl_capacity_exhausted(NULL, "us-east-1", 1, "t3.micro",
	    NULL, t0));
	pipeline_capacity_free(NULL);
}

/* The tag names come from observe_tags_init(): its limits apply. */
static void
test_pipeline__tag_prefix_checked(void **state)
{
	struct pipeline *p = (struct pipeline *)1;
	struct pipeline_opts o;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.bucket = "b";
	o.tag_prefix = "a-prefix-of-forty-one-characters-too-long";
	assert_int_equal(pipeline_new(&p, NULL, NULL, NULL, NULL, &o), ERR_INVALID);
	assert_null(p);
	assert_non_null(strstr(err_get(), "tag prefix"));
}

/* An access ACL: USER_OBJ rw, a named user, GROUP_OBJ, MASK, OTHER none. */
static int
acl_set(int fd, unsigned user, unsigned user_perm, unsigned group_perm,
    unsigned mask)
{
	unsigned char b[4 + 5 * 8];
	const unsigned e[5][3] = { { 0x01, 6, 0xffffffffu }, { 0x02, user_perm, user },
	    { 0x04, group_perm, 0xffffffffu }, { 0x10, mask, 0xffffffffu },
	    { 0x20, 0, 0xffffffffu } };
	size_t i, j;

	memset(b, 0, sizeof(b));
	b[0] = 2;
	for (i = 0; i < 5; i++) {
		unsigned char *p = b + 4 + 8 * i;

		p[0] = (unsigned char)e[i][0];
		p[2] = (unsigned char)e[i][1];
		for (j = 0; j < 4; j++)
			p[4 + j] = (unsigned char)(e[i][2] >> (8 * j));
	}
	return fsetxattr(fd, "system.posix_acl_access", b, sizeof(b), 0);
}

static int
private(int fd, const char *want)
{
	struct stat st;
	char why[160] = "";
	int r;

	assert_int_equal(fstat(fd, &st), 0);
	r = pl_secret_file_private(fd, &st, why, sizeof(why));
	if (want == NULL && r != 0)
		fail_msg("refused: %s", why);
	if (want != NULL && (r == 0 || strstr(why, want) == NULL))
		fail_msg("want '%s', got %d '%s'", want, r, why);
	return r;
}

/*
 * A secret file is the controller's alone: by the mode, or by an access
 * ACL (systemd's LoadCredential= gives a service user one, and the group
 * bits then show the ACL's mask).
 */
static void
test_pipeline__secret_file_private(void **state)
{
	char path[] = "/tmp/envctl-secret-file.XXXXXX";
	unsigned me = (unsigned)geteuid();
	int fd;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(fchmod(fd, 0600), 0);
	private(fd, NULL);
	assert_int_equal(fchmod(fd, 0640), 0);
	private(fd, "its group may read it (mode 640)");
	assert_int_equal(fchmod(fd, 0604), 0);
	private(fd, "others may read it");
	assert_int_equal(fchmod(fd, 0600), 0);
	if (acl_set(fd, me, 4, 0, 4) < 0 && errno == ENOTSUP) {
		print_message("no ACLs on /tmp: ACL cases skipped\n");
	} else {
		private(fd, NULL);		/* read for us only, mode shows 640 */
		assert_int_equal(acl_set(fd, 4242, 4, 0, 4), 0);
		private(fd, "its ACL lets uid 4242 read it");
		assert_int_equal(acl_set(fd, 4242, 4, 0, 0), 0);
		private(fd, NULL);		/* masked off */
		assert_int_equal(acl_set(fd, me, 4, 4, 4), 0);
		private(fd, "its ACL lets gid");
		assert_int_equal(fremovexattr(fd, "system.posix_acl_access"), 0);
	}
	if (me == 0) {
		assert_int_equal(fchown(fd, 4242, 0), 0);
		private(fd, "owned by uid 4242, not by the controller's user");
	}
	close(fd);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipeline__client_token),
		cmocka_unit_test(test_pipeline__checks_parse),
		cmocka_unit_test(test_pipeline__prices),
		cmocka_unit_test(test_pipeline__price_table),
		cmocka_unit_test(test_pipeline__price_table_errors),
		cmocka_unit_test(test_pipeline__price_table_load),
		cmocka_unit_test(test_pipeline__drift_fact),
		cmocka_unit_test(test_pipeline__failpoint_table),
		cmocka_unit_test(test_pipeline__needs_bucket),
		cmocka_unit_test(test_pipeline__job_waits),
		cmocka_unit_test(test_pipeline__job_status_instance),
		cmocka_unit_test(test_pipeline__env_cost),
		cmocka_unit_test(test_pipeline__capacity_cache),
		cmocka_unit_test(test_pipeline__pools_rank),
		cmocka_unit_test(test_pipeline__scores_cache),
		cmocka_unit_test(test_pipeline__tag_prefix_checked),
		cmocka_unit_test(test_pipeline__secret_file_private),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
