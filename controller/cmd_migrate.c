/*
 * cmd_migrate.c - envctl migrate [--database-url URL] [--check]
 *
 * Applies the schema migrations the database is missing and prints the
 * version before and after; with --check only compares the database's
 * version with the one this binary expects (exit 1 when they differ).
 * The database comes from --database-url, else ENVCTL_DATABASE_URL,
 * else libpq's PG* variables.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "err.h"
#include "store.h"

static void
migrate_usage(FILE *f)
{
	fprintf(f, "usage: envctl migrate [--database-url URL] [--check]\n"
	    "  --database-url URL  conninfo or postgresql:// URI (default:\n"
	    "                      $ENVCTL_DATABASE_URL, else libpq's PG* variables)\n"
	    "  --check             print the current and expected schema version;\n"
	    "                      exit 1 when they differ\n");
}

int
cmd_migrate(int argc, char **argv)
{
	struct store *st = NULL;
	const char *url = NULL;
	int i, check = 0, from = 0, to = 0, rc = EXIT_ERROR;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--check") == 0)
			check = 1;
		else if (strcmp(argv[i], "--database-url") == 0 && i + 1 < argc)
			url = argv[++i];
		else if (strncmp(argv[i], "--database-url=", 15) == 0)
			url = argv[i] + 15;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			migrate_usage(stdout);
			return EXIT_OK;
		} else {
			cmd_error("migrate", "unknown option or missing value "
			    "(try 'envctl migrate -h')");
			return EXIT_ERROR;
		}
	}
	if (url == NULL)
		url = getenv("ENVCTL_DATABASE_URL");

	if (store_open(&st, url) != 0) {
		cmd_error("migrate", err_get());
		goto done;
	}
	printf("database: %s\n", store_describe(st));
	if (check) {
		if (store_schema_version(&from, st) != 0) {
			cmd_error("migrate", err_get());
			goto done;
		}
		printf("schema version current: %d\nschema version expected: %d\n",
		    from, store_schema_latest());
		if (store_check_version(st) != 0) {
			cmd_error("migrate --check", err_get());
			goto done;
		}
		rc = EXIT_OK;
		goto done;
	}
	if (store_migrate(st, &from, &to) != 0) {
		cmd_error("migrate", err_get());
		goto done;
	}
	printf("schema version before: %d\nschema version after: %d%s\n",
	    from, to, from == to ? " (nothing to do)" : "");
	fflush(stdout);
	rc = EXIT_OK;
done:
	store_free(st);
	return rc;
}
