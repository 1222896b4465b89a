/*
 * fuzz_spec.c - libFuzzer target for the spec loader: bytes in, an entry
 * out, never a crash, a leak or an undefined behaviour.  Also checks a
 * few promises on every input: diagnostics have positions and messages,
 * an entry is valid exactly when it has no diagnostics, a valid entry has
 * a current hash.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spec_entry *e = NULL;
	size_t i, n;

	/* with and without a file name (the name rule differs) */
	if (spec_entry_parse(&e, (size & 1) ? "fuzz.yaml" : NULL, data, size, NULL) < 0)
		abort();
	n = spec_entry_diag_count(e);
	if (spec_entry_valid(e) != (n == 0))
		abort();
	for (i = 0; i < n; i++) {
		const struct spec_diag *d = spec_entry_diag(e, i);

		if (d->line == 0 || d->col == 0 || d->message == NULL || d->message[0] == '\0')
			abort();
	}
	if (spec_entry_valid(e) && !spec_hash_is_current(spec_entry_hash(e)))
		abort();
	spec_entry_free(e);
	return 0;
}
