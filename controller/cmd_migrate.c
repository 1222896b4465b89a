/*
 * cmd_migrate.c - envctl migrate [--database-url URL] [--check]
 *
 * Applies the schema migrations the database is missing and prints the
 * version before and after; with --check only compares the database's
 * version with the one this binary expects (exit 1 when they differ).
 * The database is the configuration's database_url, as for every
 * command (--database-url, ENVCTL_DATABASE_URL, the config file), else
 * libpq's PG* variables.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "ctl.h"
#include "err.h"
#include "store.h"

static void
migrate_usage(FILE *f)
{
	fprintf(f, "usage: envctl migrate [--config FILE] [--database-url URL] [--check]\n"
	    "  --database-url URL  conninfo or postgresql:// URI (default: the\n"
	    "                      configuration's database_url, else libpq's PG*\n"
	    "                      variables)\n"
	    "  --check             print the current and expected schema version;\n"
	    "                      exit 1 when they differ\n");
}

int
cmd_migrate(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct store *st = NULL;
	int check, from = 0, to = 0, rc = EXIT_ERROR;

	if (ctl_take_flag(&argc, argv, "-h") || ctl_take_flag(&argc, argv, "--help")) {
		migrate_usage(stdout);
		return EXIT_OK;
	}
	if (ctl_config_load(&cfg, &argc, argv) < 0) {
		cmd_error("configuration", err_get());
		return EXIT_ERROR;
	}
	check = ctl_take_flag(&argc, argv, "--check");
	if (argc > 1) {
		cmd_error("migrate", "unknown option or missing value "
		    "(try 'envctl migrate -h')");
		goto done;
	}
	if (store_open(&st, cfg->database_url) != 0) {
		cmd_error("migrate", err_get());
		goto done;
	}
	/* Rows from before migration 3 become this cluster's. */
	store_cluster_set(st, cfg->cluster_id);
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
	config_free(cfg);
	return rc;
}
