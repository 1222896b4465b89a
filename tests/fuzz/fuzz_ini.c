/*
 * fuzz_ini.c - libFuzzer target for the AWS shared config/credentials
 * file reader of lib/aws (ini.c, creds_int.h).
 *
 * The bytes are the file, not NUL-terminated (ini_load() hands
 * ini_parse() a buffer and its length).  Then the lookups the
 * credentials chain makes, as creds.c makes them.  Promises checked: a
 * failure is ERR_INVALID with a "name:line: " message and no ini; a
 * value, when there is one, is a string; a section named by a header
 * exists.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "creds_int.h"
#include "err.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail_unless(int ok)
{
	if (!ok)
		abort();
}

static const char *const sections[] = {
	"default", "profile dev", "dev", "sso-session my-sso", "",
};
static const char *const keys[] = {
	"aws_access_key_id", "aws_secret_access_key", "aws_session_token",
	"region", "role_arn", "source_profile", "credential_process",
	"AWS_ACCESS_KEY_ID", "",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ini *ini = NULL;
	const char *v, *m;
	size_t i, j;
	int error;

	error = ini_parse(&ini, "fuzz.ini", (const char *)data, size);
	if (error < 0) {
		fail_unless(error == ERR_INVALID && ini == NULL);
		m = err_get();
		fail_unless(strncmp(m, "fuzz.ini:", 9) == 0);
		return 0;
	}
	fail_unless(error == 0 && ini != NULL);
	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		int has = ini_has_section(ini, sections[i]);

		for (j = 0; j < sizeof(keys) / sizeof(keys[0]); j++)
			if ((v = ini_get(ini, sections[i], keys[j])) != NULL) {
				fail_unless(has);
				fail_unless(strlen(v) <= size);
			}
	}
	/* A file that starts with a header has that section. */
	if (size > 2 && data[0] == '[') {
		const uint8_t *close = memchr(data, ']', size);
		const uint8_t *nl = memchr(data, '\n', size);

		if (close != NULL && (nl == NULL || close < nl) &&
		    close - data == 8 && memcmp(data, "[default]", 9) == 0)
			fail_unless(ini_has_section(ini, "default"));
	}
	ini_free(ini);
	ini_free(NULL);
	return 0;
}
