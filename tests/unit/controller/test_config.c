#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "err.h"
#include "pipeline.h"

static void
test_config__defaults(void **state)
{
	struct config *c = config_new();

	(void)state;
	assert_string_equal(c->cluster_id, "default");
	assert_int_equal(c->max_terminations_per_pass, 10);
	assert_int_equal(c->orphan_grace, 600);
	assert_int_equal(c->resync_interval, 300);
	assert_int_equal(c->spot_resync_interval, 30);
	assert_int_equal(c->allow_empty, 0);
	assert_int_equal(c->ready_checks, PIPELINE_CHECK_STATUS |
	    PIPELINE_CHECK_MARKER | PIPELINE_CHECK_HOSTKEY);
	assert_int_equal(c->ec2_rate_limits.off, 0);
	assert_true(c->ec2_rate_limits.limits.rate[AWS_PACE_RUN] == 2.0);
	assert_int_equal(c->log_level, LOG_LEVEL_INFO);
	assert_int_equal(c->log_format, LOG_FORMAT_TEXT);
	assert_string_equal(c->tag_prefix, "envctl");
	assert_string_equal(c->database_url, "");
	assert_null(c->prices);
	assert_string_equal(config_origin(c, "listen"), "default");
	assert_string_equal(config_text(c, "listen"), "127.0.0.1:9464");
	assert_null(config_text(c, "no_such_option"));
	config_free(c);
}

static void
test_config__file_env_flag_precedence(void **state)
{
	char path[] = "/tmp/envctl-test-conf-XXXXXX";
	char a0[] = "envctl", a1[] = "plan", a2[] = "--cluster-id", a3[] = "fromflag",
	    a4[] = "--config", a6[] = "-v", a7[] = "--max_parallel=3";
	char *argv[9];
	struct config *c = config_new();
	int fd, argc = 8;
	const char *text =
	    "# comment\n"
	    "cluster_id = fromfile\n"
	    "max_parallel = 4\n"
	    "region = \"eu-west-1\"\n"
	    "allow_empty = yes\n";

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	argv[0] = a0; argv[1] = a1; argv[2] = a2; argv[3] = a3;
	argv[4] = a4; argv[5] = path; argv[6] = a6; argv[7] = a7; argv[8] = NULL;
	setenv("ENVCTL_REGION", "ap-south-1", 1);
	setenv("ENVCTL_CLUSTER_ID", "fromenv", 1);
	assert_int_equal(config_load(c, &argc, argv), 0);
	unsetenv("ENVCTL_REGION");
	unsetenv("ENVCTL_CLUSTER_ID");
	/* flag > env > file > default */
	assert_string_equal(c->cluster_id, "fromflag");
	assert_string_equal(config_origin(c, "cluster_id"), "flag");
	assert_string_equal(c->region, "ap-south-1");
	assert_string_equal(config_origin(c, "region"), "ENVCTL_REGION");
	assert_int_equal(c->max_parallel, 3);
	assert_string_equal(config_text(c, "max_parallel"), "3");
	assert_int_equal(c->allow_empty, 1);
	assert_non_null(strstr(config_origin(c, "allow_empty"), ":5"));
	/* what the table knows is consumed; the rest stays, in order */
	assert_int_equal(argc, 3);
	assert_string_equal(argv[1], "plan");
	assert_string_equal(argv[2], "-v");
	assert_null(argv[3]);
	unlink(path);
	config_free(c);
}

static void
test_config__errors_name_the_source(void **state)
{
	struct config *c = config_new();
	char a0[] = "envctl", a1[] = "--config", a2[] = "/nonexistent/envctl.conf";
	char *argv[] = { a0, a1, a2, NULL };
	int argc = 3;

	(void)state;
	assert_int_equal(config_load_text(c, "max_parallel = lots\n", "x.conf"), ERR_INVALID);
	assert_non_null(strstr(err_get(), "x.conf:1"));
	assert_non_null(strstr(err_get(), "whole number"));
	assert_int_equal(config_load_text(c, "\n\nmax_parallel = 0\n", "x.conf"), ERR_INVALID);
	assert_non_null(strstr(err_get(), "x.conf:3"));
	assert_int_equal(config_load_text(c, "colour = blue\n", "y.conf"), ERR_INVALID);
	assert_non_null(strstr(err_get(), "unknown option 'colour'"));
	assert_int_equal(config_load_text(c, "just words\n", "z.conf"), ERR_INVALID);
	assert_int_equal(config_load_text(c, "log_level = loud\n", "z.conf"), ERR_INVALID);
	assert_non_null(strstr(err_get(), "error|warn|info|debug"));
	assert_int_equal(config_load_text(c, "orphan_grace = 10 minutes\n", "z.conf"), ERR_INVALID);
	/* idle_stop: 0 or 10m..7d, as lifecycle.idle_stop in a spec */
	assert_int_equal(c->idle_stop, 0);
	assert_int_equal(config_load_text(c, "idle_stop = 9m\n", "z.conf"), ERR_INVALID);
	assert_non_null(strstr(err_get(), "neither 0 (off) nor between 10m and 7d"));
	assert_int_equal(config_load_text(c, "idle_stop = 8d\n", "z.conf"), ERR_INVALID);
	assert_int_equal(config_load_text(c, "idle_stop = 1h30m\n", "z.conf"), 0);
	assert_int_equal(c->idle_stop, 5400);
	assert_int_equal(config_load_text(c, "idle_stop = 0\n", "z.conf"), 0);
	assert_int_equal(c->idle_stop, 0);
	/* an explicit --config that does not exist is an error */
	assert_true(config_load(c, &argc, argv) < 0);
	assert_non_null(strstr(err_get(), "/nonexistent/envctl.conf"));
	/* nothing was changed by the failures */
	assert_int_equal(c->max_parallel, 8);
	assert_string_equal(config_text(c, "max_parallel"), "8");
	config_free(c);
}

/* "--" ends the flags: what follows is the command's, options included. */
static void
test_config__double_dash(void **state)
{
	char a0[] = "envctl", a1[] = "ssh", a2[] = "--region", a3[] = "eu-west-1",
	    a4[] = "web", a5[] = "--", a6[] = "ls", a7[] = "--region", a8[] = "x";
	char *argv[] = { a0, a1, a2, a3, a4, a5, a6, a7, a8, NULL };
	struct config *c = config_new();
	int argc = 9;

	(void)state;
	assert_int_equal(config_load(c, &argc, argv), 0);
	assert_string_equal(c->region, "eu-west-1");
	assert_int_equal(argc, 7);
	assert_string_equal(argv[1], "ssh");
	assert_string_equal(argv[2], "web");
	assert_string_equal(argv[3], "--");
	assert_string_equal(argv[4], "ls");
	assert_string_equal(argv[5], "--region");
	assert_string_equal(argv[6], "x");
	config_free(c);
}

static void
test_config__bare_bool_flag(void **state)
{
	char a0[] = "envctl", a1[] = "plan", a2[] = "--allow-empty", a3[] = "-v";
	char *argv[] = { a0, a1, a2, a3, NULL };
	struct config *c = config_new();
	int argc = 4;

	(void)state;
	assert_int_equal(config_load(c, &argc, argv), 0);
	assert_int_equal(c->allow_empty, 1);
	assert_int_equal(argc, 3);
	assert_string_equal(argv[2], "-v");
	config_free(c);
}

static void
test_config__secret_not_echoed(void **state)
{
	struct config *c = config_new();

	(void)state;
	assert_int_equal(config_set(c, "database_url",
	    "postgresql://u:CANARY-PW@h/db", "flag"), 0);
	assert_int_equal(config_set(c, "nope", "CANARY-PW", "flag"), ERR_INVALID);
	assert_null(strstr(err_get(), "CANARY-PW"));
	config_free(c);
}

static void
test_config__example_lists_every_option(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);
	struct config *c = config_new();

	(void)state;
	config_write_example(fp);
	fclose(fp);
	assert_non_null(strstr(text, "#max_terminations_per_pass = 10\n"));
	assert_non_null(strstr(text, "#listen = 127.0.0.1:9464\n"));
	/* the example, uncommented, is itself a valid config */
	for (char *p = text; (p = strstr(p, "\n#")) != NULL; p++)
		if (p[2] != ' ' && p[2] != '\n')
			p[1] = ' ';
	assert_int_equal(config_load_text(c, text, "example"), 0);
	free(text);
	config_free(c);
}

/* "envctl" and "envctl:" are one prefix, from every source (issue 12). */
static void
test_config__tag_prefix_colon_optional(void **state)
{
	struct config *c = config_new();

	(void)state;
	assert_int_equal(config_set(c, "tag_prefix", "acme:", "ENVCTL_TAG_PREFIX"), 0);
	assert_string_equal(c->tag_prefix, "acme");
	assert_string_equal(config_text(c, "tag_prefix"), "acme:");
	assert_int_equal(config_set(c, "tag_prefix", "acme", "flag"), 0);
	assert_string_equal(c->tag_prefix, "acme");
	assert_int_equal(config_set(c, "tag_prefix", "team:acme:", "flag"), 0);
	assert_string_equal(c->tag_prefix, "team:acme");
	assert_int_equal(config_set(c, "tag_prefix", ":", "flag"), ERR_INVALID);
	assert_int_equal(config_set(c, "tag_prefix", "", "flag"), ERR_INVALID);
	assert_int_equal(config_set(c, "tag_prefix", "a\nb", "flag"), ERR_INVALID);
	assert_string_equal(c->tag_prefix, "team:acme");
	config_free(c);
}

/*
 * The secret namespace (issue 13): a prefix that the controller's own
 * credentials start with is refused, and so are malformed prefixes.
 */
static void
test_config__secret_namespace(void **state)
{
	struct config *c = config_new();

	(void)state;
	assert_string_equal(c->secret_env_prefix, "ENVCTL_SECRET_");
	assert_string_equal(c->secret_ssm_prefix, "/envctl/");
	assert_string_equal(c->secrets_dir, "");
	assert_int_equal(config_set(c, "secret_env_prefix", "APP_SECRET_", "flag"), 0);
	assert_int_equal(config_set(c, "secret_env_prefix", "", "flag"), 0);
	assert_int_equal(config_set(c, "secret_env_prefix", "AWS_", "flag"), ERR_INVALID);
	assert_int_equal(config_set(c, "secret_env_prefix", "AWS_SECRET", "flag"),
	    ERR_INVALID);
	assert_int_equal(config_set(c, "secret_env_prefix", "PG", "flag"), ERR_INVALID);
	assert_int_equal(config_set(c, "secret_env_prefix", "ENVCTL_", "flag"),
	    ERR_INVALID);
	assert_int_equal(config_set(c, "secret_env_prefix", "E", "flag"), ERR_INVALID);
	assert_int_equal(config_set(c, "secret_env_prefix", "1X_", "flag"), ERR_INVALID);
	assert_int_equal(config_set(c, "secret_env_prefix", "A-B", "flag"), ERR_INVALID);
	assert_string_equal(c->secret_env_prefix, "");
	assert_int_equal(config_set(c, "secret_ssm_prefix", "/team/envs/", "flag"), 0);
	assert_int_equal(config_set(c, "secret_ssm_prefix", "", "flag"), 0);
	assert_int_equal(config_set(c, "secret_ssm_prefix", "/", "flag"), ERR_INVALID);
	assert_int_equal(config_set(c, "secret_ssm_prefix", "/envctl", "flag"), ERR_INVALID);
	assert_int_equal(config_set(c, "secret_ssm_prefix", "envctl/", "flag"), ERR_INVALID);
	assert_int_equal(config_set(c, "secret_ssm_prefix", "/a//b/", "flag"), ERR_INVALID);
	assert_int_equal(config_set(c, "secrets_dir", "/run/credentials/envctl.service",
	    "flag"), 0);
	assert_int_equal(config_set(c, "secrets_dir", "relative/dir", "flag"), ERR_INVALID);
	assert_string_equal(c->secrets_dir, "/run/credentials/envctl.service");
	config_free(c);
}

/* ready_checks and ec2_rate_limits are checked by the table, at load. */
static void
test_config__composites_checked_at_load(void **state)
{
	struct config *c = config_new();

	(void)state;
	assert_int_equal(config_load_text(c, "ready_checks = status, ssh\n", "a.conf"), 0);
	assert_int_equal(c->ready_checks, PIPELINE_CHECK_STATUS | PIPELINE_CHECK_SSH);
	assert_int_equal(config_load_text(c, "ready_checks = status,telepathy\n",
	    "a.conf"), ERR_INVALID);
	assert_non_null(strstr(err_get(), "a.conf:1: ready_checks: unknown check 'telepathy'"));
	assert_int_equal(c->ready_checks, PIPELINE_CHECK_STATUS | PIPELINE_CHECK_SSH);

	assert_int_equal(config_load_text(c, "ec2_rate_limits = off\n", "b.conf"), 0);
	assert_int_equal(c->ec2_rate_limits.off, 1);
	assert_int_equal(config_load_text(c, "ec2_rate_limits = run=5\n", "b.conf"),
	    ERR_INVALID);
	assert_non_null(strstr(err_get(), "b.conf:1: ec2_rate_limits: "));
	assert_int_equal(c->ec2_rate_limits.off, 1);

	assert_int_equal(config_load_text(c, "log_level = debug\nlog_format = json\n",
	    "c.conf"), 0);
	assert_int_equal(c->log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(c->log_format, LOG_FORMAT_JSON);
	config_free(c);
}

/* price_table: the file is read once its path is final, its errors named. */
static void
test_config__price_table_read_at_load(void **state)
{
	char path[] = "/tmp/envctl-test-prices-XXXXXX";
	const char *bad = "us-east-1 t3.micro 0.5\nus-east-1 t3.small -1\n";
	const char *good = "us-east-1 t3.micro 0.5\n";
	struct config *c = config_new();
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
	close(fd);
	assert_int_equal(config_set(c, "price_table", path, "flag"), 0);
	assert_int_equal(config_complete(c), ERR_INVALID);
	assert_non_null(strstr(err_get(), "price_table: "));
	assert_non_null(strstr(err_get(), ":2: bad price '-1'"));
	assert_null(c->prices);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, good, strlen(good)), (ssize_t)strlen(good));
	close(fd);
	assert_int_equal(config_complete(c), 0);
	assert_non_null(c->prices);
	assert_true(pipeline_price(c->prices, "us-east-1", "t3.micro") == 0.5);
	unlink(path);
	config_free(c);
}

/* ENVCTL_DEFAULT_REGION is no option: the region option is ENVCTL_REGION. */
static void
test_config__no_default_region_variable(void **state)
{
	char a0[] = "envctl", a1[] = "--config", a2[] = "/dev/null";
	char *argv[] = { a0, a1, a2, NULL };
	struct config *c = config_new();
	int argc = 3;

	(void)state;
	setenv("ENVCTL_DEFAULT_REGION", "eu-north-1", 1);
	assert_int_equal(config_load(c, &argc, argv), 0);
	unsetenv("ENVCTL_DEFAULT_REGION");
	assert_string_equal(c->region, "");
	assert_null(config_text(c, "default_region"));
	config_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config__defaults),
		cmocka_unit_test(test_config__double_dash),
		cmocka_unit_test(test_config__file_env_flag_precedence),
		cmocka_unit_test(test_config__errors_name_the_source),
		cmocka_unit_test(test_config__bare_bool_flag),
		cmocka_unit_test(test_config__secret_not_echoed),
		cmocka_unit_test(test_config__example_lists_every_option),
		cmocka_unit_test(test_config__tag_prefix_colon_optional),
		cmocka_unit_test(test_config__secret_namespace),
		cmocka_unit_test(test_config__composites_checked_at_load),
		cmocka_unit_test(test_config__price_table_read_at_load),
		cmocka_unit_test(test_config__no_default_region_variable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
