/*
 * fuzz_prices.c - libFuzzer target for the operator's price table
 * parser (pipeline_prices_parse, pipeline.h).
 *
 * The bytes are the file, not NUL-terminated.  Then the lookups the
 * cost estimate makes.  Promises checked (pipeline.h): a failure is
 * ERR_INVALID with a "name:" message and no table; an accepted table
 * has no more entries than lines, and every price read from it is a
 * plain number from 0 to below 100000.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "pipeline.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail_unless(int ok)
{
	if (!ok)
		abort();
}

static const char *const regions[] = { "us-east-1", "eu-west-3", "*", "", NULL };
static const char *const types[] = { "t3.micro", "m7g.large", "x.y", "", "t3" };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pipeline_prices *t = NULL;
	size_t i, j, lines;
	double usd;
	int error;

	error = pipeline_prices_parse(&t, (const char *)data, size, "fuzz.prices");
	if (error < 0) {
		fail_unless(error == ERR_INVALID && t == NULL);
		fail_unless(strncmp(err_get(), "fuzz.prices:", 12) == 0);
		return 0;
	}
	fail_unless(error == 0 && t != NULL);
	for (lines = 1, i = 0; i < size; i++)
		lines += data[i] == '\n';
	fail_unless(pipeline_prices_count(t) <= lines);
	for (i = 0; i < sizeof(regions) / sizeof(regions[0]); i++)
		for (j = 0; j < sizeof(types) / sizeof(types[0]); j++) {
			usd = pipeline_price(t, regions[i], types[j]);
			fail_unless(isfinite(usd) && usd >= 0.0 && usd < 100000.0);
		}
	pipeline_prices_free(t);
	pipeline_prices_free(NULL);
	return 0;
}
