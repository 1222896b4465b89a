/*
 * test_pipeline.c - the pipeline's pure pieces: ClientToken derivation,
 * ready_checks parsing, the price table, the failpoint table, and the
 * refusal to run without a bucket.  The pipelines themselves run against
 * real PostgreSQL and moto in tests/integration/reconcile_it.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "err.h"
#include "pipeline.h"

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipeline__client_token),
		cmocka_unit_test(test_pipeline__checks_parse),
		cmocka_unit_test(test_pipeline__prices),
		cmocka_unit_test(test_pipeline__failpoint_table),
		cmocka_unit_test(test_pipeline__needs_bucket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
