/*
 * fakeaws.c - see fakeaws.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "aws.h"
#include "aws_int.h"
#include "creds.h"
#include "fakeaws.h"
#include "mem.h"

static const char *
fake_env(const char *name, void *arg)
{
	(void)arg;
	if (strcmp(name, "AWS_ACCESS_KEY_ID") == 0)
		return "AKIDEXAMPLE";
	if (strcmp(name, "AWS_SECRET_ACCESS_KEY") == 0)
		return "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
	if (strcmp(name, "AWS_EC2_METADATA_DISABLED") == 0)
		return "true";
	return NULL;
}

static time_t
fixed_clock(void *arg)
{
	(void)arg;
	return 1700000000;	/* 2023-11-14T22:13:20Z */
}

static double
no_jitter(void *arg)
{
	(void)arg;
	return 0.0;
}

static void
no_sleep(void *arg, long ms)
{
	(void)arg;
	(void)ms;
}

void
fakeaws_open(struct fakeaws *f, const struct aws_transport *t, void *arg,
    int max_attempts)
{
	struct aws_creds_options co;
	struct aws_client_opts o;

	memset(f, 0, sizeof(*f));
	memset(&co, 0, sizeof(co));
	co.getenv = fake_env;
	co.imds_disabled = 1;
	co.credentials_file = "/nonexistent";
	co.config_file = "/nonexistent";
	assert_int_equal(aws_creds_provider_new(&f->creds, &co), 0);
	f->quota = aws_retry_quota_new(AWS_RETRY_QUOTA_MAX);
	memset(&o, 0, sizeof(o));
	o.region = "us-east-1";
	o.endpoint_url = "http://127.0.0.1:4566";
	o.ignore_env_endpoints = 1;
	o.creds = f->creds;
	o.transport = t;
	o.transport_arg = arg;
	o.clock = fixed_clock;
	o.rand = no_jitter;
	o.sleep_ms = no_sleep;
	o.quota = f->quota;
	o.max_attempts = max_attempts;
	assert_int_equal(aws_client_new(&f->aws, &o), 0);
}

void
fakeaws_close(struct fakeaws *f)
{
	aws_client_free(f->aws);
	aws_retry_quota_free(f->quota);
	aws_creds_provider_free(f->creds);
	memset(f, 0, sizeof(*f));
}

char *
fakeaws_fixture(const char *name, size_t *lenp)
{
	char path[512];
	FILE *f;
	char *data;
	long n;

	snprintf(path, sizeof(path), "%s/aws/%s", TEST_RESOURCES, name);
	assert_non_null(f = fopen(path, "rb"));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	assert_true((n = ftell(f)) >= 0);
	rewind(f);
	data = xmalloc((size_t)n + 1);
	assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
	data[n] = '\0';
	fclose(f);
	*lenp = (size_t)n;
	return data;
}
