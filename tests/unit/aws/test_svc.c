/*
 * test_svc.c - the EC2 and S3 clients through an injected transport:
 * what they put on the wire (form parameters, methods, paths, headers)
 * and how they read saved moto / EC2 answers (tests/resources/aws).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <cmocka.h>

#include "aws.h"
#include "aws_int.h"
#include "buf.h"
#include "creds.h"
#include "ec2.h"
#include "err.h"
#include "fakeaws.h"
#include "log.h"
#include "mem.h"
#include "s3.h"
#include "ssm.h"

#define MAX_CALLS	16

/* ---- the fake transport: canned answers, recorded requests ---- */

struct canned {
	long		 status;
	char		*body;		/* owned */
	size_t		 len;
	const char	*hname[4];
	const char	*hvalue[4];
};

struct sent {
	char		*method;
	char		*url;
	char		*body;
	size_t		 len;
	struct aws_headers headers;
};

struct fake {
	struct canned	 answers[MAX_CALLS];
	size_t		 nanswers;
	struct sent	 sent[MAX_CALLS];
	size_t		 nsent;
};

static struct canned *
fake_answer(struct fake *fk, long status, const char *fixture)
{
	struct canned *c;

	assert_true(fk->nanswers < MAX_CALLS);
	c = &fk->answers[fk->nanswers++];
	memset(c, 0, sizeof(*c));
	c->status = status;
	if (fixture != NULL)
		c->body = fakeaws_fixture(fixture, &c->len);
	return c;
}

static int
fake_send(void *arg, struct aws_response *resp, const struct aws_http_request *req)
{
	struct fake *fk = arg;
	struct canned *c;
	struct sent *s;

	if (fk->nsent >= fk->nanswers) {
		err_set("fake transport: no answer left");
		return ERR_UNAVAILABLE;
	}
	c = &fk->answers[fk->nsent];
	s = &fk->sent[fk->nsent++];
	s->method = xstrdup(req->method);
	s->url = xstrdup(req->url);
	s->body = xmalloc(req->body_len + 1);
	if (req->body_len > 0)
		memcpy(s->body, req->body, req->body_len);
	s->body[req->body_len] = '\0';
	s->len = req->body_len;
	aws_headers_init(&s->headers);
	for (size_t i = 0; req->headers != NULL && i < req->headers->n; i++)
		aws_headers_add(&s->headers, req->headers->v[i].name,
		    req->headers->v[i].value);
	resp->status = c->status;
	for (int i = 0; i < 4 && c->hname[i] != NULL; i++)
		aws_headers_add(&resp->headers, c->hname[i], c->hvalue[i]);
	if (c->len > 0 && buf_add(&resp->body, c->body, c->len) < 0)
		return ERR_LIMIT;
	return 0;
}

static const struct aws_transport fake_transport = { fake_send };

struct env {
	struct fake			 fk;
	struct fakeaws			 fa;
	struct aws_client		*aws;
	struct ec2_client		*ec2;
	struct s3_client		*s3;
};

static int
setup(void **state)
{
	struct env *e;

	e = xcalloc(1, sizeof(*e));
	fakeaws_open(&e->fa, &fake_transport, &e->fk, 3);
	e->aws = e->fa.aws;
	assert_int_equal(ec2_client_new(&e->ec2, e->aws), 0);
	assert_int_equal(s3_client_new(&e->s3, e->aws), 0);
	/* The buckets of most cases are known to be in the client's region. */
	s3_bucket_regions_forget();
	s3_bucket_region_remember("envctl-keys", "us-east-1");
	s3_bucket_region_remember("b", "us-east-1");
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;

	for (size_t i = 0; i < e->fk.nanswers; i++)
		free(e->fk.answers[i].body);
	for (size_t i = 0; i < e->fk.nsent; i++) {
		free(e->fk.sent[i].method);
		free(e->fk.sent[i].url);
		free(e->fk.sent[i].body);
		aws_headers_dispose(&e->fk.sent[i].headers);
	}
	s3_client_free(e->s3);
	ec2_client_free(e->ec2);
	fakeaws_close(&e->fa);
	free(e);
	return 0;
}

/* ---- reading a form body back ---- */

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decoded value of name in the form-encoded body, or NULL (static buffer). */
static const char *
form_get(const struct sent *s, const char *name)
{
	static char val[8192];
	char key[512];
	const char *p = s->body, *end = s->body + s->len;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *eq;
		size_t klen = 0, vlen = 0;
		char *dst = key;
		size_t cap = sizeof(key);

		if (amp == NULL)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq == NULL)
			eq = amp;
		for (int pass = 0; pass < 2; pass++) {
			const char *a = pass == 0 ? p : eq + 1;
			const char *b = pass == 0 ? eq : amp;
			size_t n = 0;

			if (pass == 1 && eq == amp)
				b = a;
			while (a < b && n + 1 < cap) {
				if (*a == '%' && b - a >= 3) {
					dst[n++] = (char)(hexval(a[1]) * 16 + hexval(a[2]));
					a += 3;
				} else {
					dst[n++] = *a == '+' ? ' ' : *a;
					a++;
				}
			}
			dst[n] = '\0';
			if (pass == 0) {
				klen = n;
				dst = val;
				cap = sizeof(val);
			} else
				vlen = n;
		}
		(void)klen;
		(void)vlen;
		if (strcmp(key, name) == 0)
			return val;
		p = amp + 1;
	}
	return NULL;
}

static void
assert_form(const struct sent *s, const char *name, const char *want)
{
	const char *got = form_get(s, name);

	if (got == NULL)
		fail_msg("parameter %s missing from %s", name, s->body);
	if (strcmp(got, want) != 0)
		fail_msg("parameter %s: got \"%s\", want \"%s\"", name, got, want);
}

static const char *
sent_header(const struct sent *s, const char *name)
{
	return aws_headers_get(&s->headers, name);
}

/* ---- EC2: RunInstances ---- */

static const char *const two_sgs[] = { "sg-0111", "sg-0222" };
static const struct ec2_kv launch_tags[] = {
	{ "envctl:managed", "true" },
	{ "envctl:env", "web-alice" },
	{ "Name", "envctl-web-alice" },
};
static const char user_data[] = "#!/bin/sh\necho 'hi there'\n";

static void
run_input(struct ec2_run_input *in)
{
	memset(in, 0, sizeof(*in));
	in->image_id = "ami-0abcdef1234567890";
	in->instance_type = "t3.medium";
	in->client_token = "env-7d3c-attempt-1";
	in->subnet_id = "subnet-0a";
	in->security_group_ids = two_sgs;
	in->nsecurity_group_ids = 2;
	in->key_name = "envctl-web-alice";
	in->iam_profile_name = "dev-env";
	in->user_data = user_data;
	in->user_data_len = strlen(user_data);
	in->tags = launch_tags;
	in->ntags = 3;
	in->root_device_name = "/dev/sda1";
	in->root_size_gb = 30;
	in->spot = 1;
	in->spot_max_price = "0.02";
}

static void
test_svc__run_instances_request_has_every_field(void **state)
{
	struct env *e = *state;
	struct ec2_run_input in;
	struct ec2_instance inst;
	const struct sent *s;

	fake_answer(&e->fk, 200, "run_instances.xml");
	run_input(&in);
	assert_int_equal(ec2_instance_run(&inst, e->ec2, &in), 0);
	assert_int_equal(e->fk.nsent, 1);
	s = &e->fk.sent[0];
	assert_string_equal(s->method, "POST");
	assert_non_null(strstr(sent_header(s, "Content-Type"),
	    "application/x-www-form-urlencoded"));
	assert_non_null(sent_header(s, "Authorization"));
	assert_form(s, "Action", "RunInstances");
	assert_form(s, "Version", "2016-11-15");
	assert_form(s, "ImageId", "ami-0abcdef1234567890");
	assert_form(s, "InstanceType", "t3.medium");
	assert_form(s, "MinCount", "1");
	assert_form(s, "MaxCount", "1");
	assert_form(s, "ClientToken", "env-7d3c-attempt-1");
	assert_form(s, "SubnetId", "subnet-0a");
	assert_form(s, "SecurityGroupId.1", "sg-0111");
	assert_form(s, "SecurityGroupId.2", "sg-0222");
	assert_form(s, "KeyName", "envctl-web-alice");
	assert_form(s, "IamInstanceProfile.Name", "dev-env");
	assert_null(form_get(s, "IamInstanceProfile.Arn"));
	/* base64("#!/bin/sh\necho 'hi there'\n") */
	assert_form(s, "UserData", "IyEvYmluL3NoCmVjaG8gJ2hpIHRoZXJlJwo=");
	assert_form(s, "TagSpecification.1.ResourceType", "instance");
	assert_form(s, "TagSpecification.2.ResourceType", "volume");
	for (int spec = 1; spec <= 2; spec++) {
		for (size_t i = 0; i < 3; i++) {
			char name[80];

			snprintf(name, sizeof(name), "TagSpecification.%d.Tag.%zu.Key",
			    spec, i + 1);
			assert_form(s, name, launch_tags[i].key);
			snprintf(name, sizeof(name),
			    "TagSpecification.%d.Tag.%zu.Value", spec, i + 1);
			assert_form(s, name, launch_tags[i].value);
		}
	}
	assert_form(s, "BlockDeviceMapping.1.DeviceName", "/dev/sda1");
	assert_form(s, "BlockDeviceMapping.1.Ebs.VolumeType", "gp3");
	assert_form(s, "BlockDeviceMapping.1.Ebs.VolumeSize", "30");
	assert_form(s, "BlockDeviceMapping.1.Ebs.Encrypted", "true");
	assert_form(s, "BlockDeviceMapping.1.Ebs.DeleteOnTermination", "true");
	assert_form(s, "MetadataOptions.HttpTokens", "required");
	assert_form(s, "MetadataOptions.HttpPutResponseHopLimit", "2");
	assert_form(s, "InstanceMarketOptions.MarketType", "spot");
	assert_form(s, "InstanceMarketOptions.SpotOptions.MaxPrice", "0.02");
	assert_form(s, "InstanceMarketOptions.SpotOptions.SpotInstanceType",
	    "one-time");
	assert_form(s,
	    "InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior",
	    "terminate");
	assert_null(form_get(s, "DisableApiTermination"));
	/* a one-time spot instance cannot stop: a shutdown terminates */
	assert_form(s, "InstanceInitiatedShutdownBehavior", "terminate");

	/* The answer (moto's) is read back. */
	assert_string_equal(inst.id, "i-ef8115cae2d32b10b");
	assert_string_equal(inst.type, "t3.medium");
	assert_string_equal(inst.key_name, "envctl-web-alice");
	assert_string_equal(inst.client_token, "tok-1");
	assert_string_equal(ec2_instance_tag(&inst, "Name"), "envctl-web-alice");
	ec2_instance_dispose(&inst);
}

static void
test_svc__run_instances_on_demand_and_arn(void **state)
{
	struct env *e = *state;
	struct ec2_run_input in;
	struct ec2_instance inst;
	const struct sent *s;

	fake_answer(&e->fk, 200, "run_instances.xml");
	run_input(&in);
	in.spot = 0;
	in.iam_profile_arn = "arn:aws:iam::123456789012:instance-profile/dev-env";
	in.root_device_name = NULL;
	in.root_size_gb = 0;
	in.metadata_hop_limit = 1;
	in.user_data = NULL;
	in.user_data_len = 0;
	in.disable_api_termination = 1;
	assert_int_equal(ec2_instance_run(&inst, e->ec2, &in), 0);
	s = &e->fk.sent[0];
	assert_null(form_get(s, "InstanceMarketOptions.MarketType"));
	assert_null(form_get(s, "IamInstanceProfile.Name"));
	assert_form(s, "IamInstanceProfile.Arn",
	    "arn:aws:iam::123456789012:instance-profile/dev-env");
	assert_form(s, "BlockDeviceMapping.1.DeviceName", "/dev/xvda");
	assert_null(form_get(s, "BlockDeviceMapping.1.Ebs.VolumeSize"));
	assert_form(s, "MetadataOptions.HttpPutResponseHopLimit", "1");
	assert_form(s, "MetadataOptions.HttpTokens", "required");
	assert_null(form_get(s, "UserData"));
	assert_form(s, "DisableApiTermination", "true");
	/* on-demand: a shutdown from inside stops, keeping the disk */
	assert_form(s, "InstanceInitiatedShutdownBehavior", "stop");
	ec2_instance_dispose(&inst);
}

static void
test_svc__run_instances_refuses_bad_input(void **state)
{
	struct env *e = *state;
	struct ec2_run_input in;
	struct ec2_instance inst;
	static char big[EC2_USER_DATA_MAX + 1];

	run_input(&in);
	in.client_token = NULL;
	assert_int_equal(ec2_instance_run(&inst, e->ec2, &in), ERR_INVALID);
	assert_non_null(strstr(err_get(), "client token"));
	run_input(&in);
	memset(big, 'x', sizeof(big));
	in.user_data = big;
	in.user_data_len = sizeof(big);
	assert_int_equal(ec2_instance_run(&inst, e->ec2, &in), ERR_LIMIT);
	assert_int_equal(e->fk.nsent, 0);	/* nothing went out */
}

static void
test_svc__run_instances_mismatch_is_conflict(void **state)
{
	struct env *e = *state;
	struct ec2_run_input in;
	struct ec2_instance inst;
	struct canned *c;

	c = fake_answer(&e->fk, 400, NULL);
	c->body = xstrdup("<Response><Errors><Error><Code>IdempotentParameterMismatch"
	    "</Code><Message>Arguments on this idempotent request are inconsistent"
	    "</Message></Error></Errors><RequestID>r1</RequestID></Response>");
	c->len = strlen(c->body);
	run_input(&in);
	assert_int_equal(ec2_instance_run(&inst, e->ec2, &in), ERR_CONFLICT);
	assert_string_equal(aws_client_last_error(e->aws)->code,
	    "IdempotentParameterMismatch");
	assert_int_equal(e->fk.nsent, 1);	/* not retried */
}

/* ---- EC2: DescribeInstances ---- */

static void
test_svc__describe_instances_parses_moto(void **state)
{
	struct env *e = *state;
	struct ec2_instance_page page;
	const struct ec2_instance *a, *b;

	fake_answer(&e->fk, 200, "describe_instances.xml");
	assert_int_equal(ec2_instances_describe_page(&page, e->ec2, NULL, NULL), 0);
	assert_int_equal(page.n, 2);
	assert_null(page.next_token);
	a = &page.v[0];
	b = &page.v[1];
	assert_string_equal(a->id, "i-ef8115cae2d32b10b");
	assert_string_equal(a->state, "running");
	assert_int_equal(a->state_code, 16);
	assert_string_equal(a->type, "t3.medium");
	assert_string_equal(a->image_id, "ami-12c6146b");
	assert_string_equal(a->private_ip, "172.31.0.4");
	assert_string_equal(a->public_ip, "54.214.77.219");
	assert_string_equal(a->subnet_id, "subnet-84788c64fffbcc025");
	assert_string_equal(a->az, "us-east-1a");
	assert_string_equal(a->key_name, "envctl-web-alice");
	assert_int_equal(a->market, EC2_MARKET_ON_DEMAND);
	assert_int_equal(a->nsecurity_groups, 1);
	assert_string_equal(a->security_groups[0], "sg-68bc733626c39f7a8");
	assert_int_equal(a->ntags, 2);
	assert_string_equal(ec2_instance_tag(a, "envctl:env"), "web-alice");
	assert_null(ec2_instance_tag(a, "absent"));
	assert_int_equal(a->launched, 1795469286);	/* 2026-11-23T21:28:06Z */
	assert_string_equal(a->vpc_id, "vpc-022a9241b223bf21e");
	assert_string_equal(a->client_token, "tok-1");
	assert_string_equal(a->state_reason, "");	/* <message/> */
	assert_string_equal(ec2_instance_tag(a, "Name"), "envctl-web-alice");
	assert_non_null(a->block);
	assert_int_equal(b->market, EC2_MARKET_SPOT);
	assert_string_equal(b->id, "i-284a71c7e9afe30f1");
	assert_string_equal(b->type, "t3.small");
	assert_string_equal(b->private_ip, "10.229.54.68");
	assert_string_equal(b->public_ip, "54.214.184.53");
	assert_string_equal(b->client_token, "00905ab0-419a-4262-b61b-a10fc70d1130");
	/* absent (no keyName, empty groupSet and tagSet): "", never NULL */
	assert_string_equal(b->key_name, "");
	assert_int_equal(b->nsecurity_groups, 0);
	assert_int_equal(b->ntags, 0);
	assert_null(ec2_instance_tag(b, "envctl:env"));
	/* a documented state is one static string, not a copy per instance */
	assert_ptr_equal(a->state, b->state);
	/* The request: MaxResults 1000, no NextToken. */
	assert_form(&e->fk.sent[0], "Action", "DescribeInstances");
	assert_form(&e->fk.sent[0], "MaxResults", "1000");
	assert_null(form_get(&e->fk.sent[0], "NextToken"));
	ec2_instance_page_dispose(&page);
	ec2_instance_page_dispose(&page);	/* twice is harmless */
}

struct walk {
	size_t	pages;
	size_t	instances;
	char	ids[8][32];
};

static int
walk_page(const struct ec2_instance *v, size_t n, void *arg)
{
	struct walk *w = arg;

	w->pages++;
	for (size_t i = 0; i < n && w->instances < 8; i++)
		snprintf(w->ids[w->instances++], sizeof(w->ids[0]), "%s", v[i].id);
	return 0;
}

static void
test_svc__describe_instances_paginates(void **state)
{
	struct env *e = *state;
	static const char *const states[] = { "pending", "running", "stopped" };
	const struct ec2_filter filters[] = {
		{ "tag:envctl:cluster", (const char *const[]){ "c-1" }, 1 },
		{ "instance-state-name", states, 3 },
	};
	struct ec2_describe_instances_input in = {
		.filters = filters, .nfilters = 2,
	};
	struct walk w;
	int npages = 0;

	memset(&w, 0, sizeof(w));
	fake_answer(&e->fk, 200, "describe_instances_page1.xml");
	fake_answer(&e->fk, 200, "describe_instances_page2.xml");
	assert_int_equal(ec2_instances_describe(e->ec2, &in, walk_page, &w,
	    &npages), 0);
	assert_int_equal(npages, 2);
	assert_int_equal(w.pages, 2);
	assert_int_equal(w.instances, 3);
	assert_string_equal(w.ids[0], "i-0aaaaaaaaaaaaaaa1");
	assert_string_equal(w.ids[2], "i-0aaaaaaaaaaaaaaa3");
	assert_int_equal(e->fk.nsent, 2);
	assert_form(&e->fk.sent[0], "Filter.1.Name", "tag:envctl:cluster");
	assert_form(&e->fk.sent[0], "Filter.1.Value.1", "c-1");
	assert_form(&e->fk.sent[0], "Filter.2.Name", "instance-state-name");
	assert_form(&e->fk.sent[0], "Filter.2.Value.3", "stopped");
	assert_form(&e->fk.sent[0], "MaxResults", "1000");
	assert_null(form_get(&e->fk.sent[0], "NextToken"));
	assert_form(&e->fk.sent[1], "NextToken", "eyJ2IjoiMiIsImMiOiJwYWdlLTIifQ==");
	assert_form(&e->fk.sent[1], "Filter.1.Value.1", "c-1");
}

static void
test_svc__describe_instances_parses_ec2_page(void **state)
{
	struct env *e = *state;
	struct ec2_instance_page page;
	const char *const ids[] = { "i-0aaaaaaaaaaaaaaa1", "i-0aaaaaaaaaaaaaaa2" };
	struct ec2_describe_instances_input in = {
		.instance_ids = ids, .ninstance_ids = 2,
	};
	const struct ec2_instance *a;

	fake_answer(&e->fk, 200, "describe_instances_page1.xml");
	assert_int_equal(ec2_instances_describe_page(&page, e->ec2, &in, NULL), 0);
	/* EC2 refuses MaxResults together with ids. */
	assert_null(form_get(&e->fk.sent[0], "MaxResults"));
	assert_form(&e->fk.sent[0], "InstanceId.2", "i-0aaaaaaaaaaaaaaa2");
	assert_int_equal(page.n, 2);
	assert_string_equal(page.next_token, "eyJ2IjoiMiIsImMiOiJwYWdlLTIifQ==");
	a = &page.v[0];
	assert_string_equal(a->state, "pending");
	assert_int_equal(a->state_code, 0);
	assert_string_equal(a->public_ip, "");
	assert_string_equal(a->vpc_id, "vpc-0123");
	assert_int_equal(a->nsecurity_groups, 2);
	assert_string_equal(a->security_groups[1], "sg-0222");
	assert_string_equal(ec2_instance_tag(a, "note"), "a & b <c>");
	assert_int_equal(a->launched, 1709288430);	/* 2024-03-01T10:20:30Z */
	assert_string_equal(a->state_reason, "pending");
	assert_string_equal(page.v[1].public_ip, "198.51.100.23");
	assert_int_equal(page.v[1].market, EC2_MARKET_SPOT);
	ec2_instance_page_dispose(&page);
}

/* An item with nothing but an id: every other string "", never NULL. */
static void
test_svc__describe_instances_absent_fields(void **state)
{
	struct env *e = *state;
	struct ec2_instance_page page;
	const struct ec2_instance *a, *b;
	struct canned *c;

	c = fake_answer(&e->fk, 200, NULL);
	c->body = xstrdup("<DescribeInstancesResponse><reservationSet><item>"
	    "<instancesSet><item><instanceId>i-0bare</instanceId></item>"
	    "<item><instanceId>i-0odd</instanceId><instanceState><code>272"
	    "</code><name>hibernating-soon</name></instanceState>"
	    "<tagSet><item><key>k</key></item></tagSet></item>"
	    "</instancesSet></item></reservationSet></DescribeInstancesResponse>");
	c->len = strlen(c->body);
	assert_int_equal(ec2_instances_describe_page(&page, e->ec2, NULL, NULL), 0);
	assert_int_equal(page.n, 2);
	a = &page.v[0];
	assert_string_equal(a->id, "i-0bare");
	assert_string_equal(a->state, "");
	assert_int_equal(a->state_code, 0);
	assert_string_equal(a->type, "");
	assert_string_equal(a->image_id, "");
	assert_string_equal(a->private_ip, "");
	assert_string_equal(a->public_ip, "");
	assert_string_equal(a->subnet_id, "");
	assert_string_equal(a->vpc_id, "");
	assert_string_equal(a->az, "");
	assert_string_equal(a->key_name, "");
	assert_string_equal(a->client_token, "");
	assert_string_equal(a->state_reason, "");
	assert_int_equal(a->launched, 0);
	assert_int_equal(a->market, EC2_MARKET_ON_DEMAND);
	assert_int_equal(a->ntags, 0);
	assert_int_equal(a->nsecurity_groups, 0);
	b = &page.v[1];
	/* a state EC2 does not document is kept as sent; the code masked */
	assert_string_equal(b->state, "hibernating-soon");
	assert_int_equal(b->state_code, 16);
	/* a tag without a value has "" */
	assert_int_equal(b->ntags, 1);
	assert_string_equal(ec2_instance_tag(b, "k"), "");
	ec2_instance_page_dispose(&page);
}

static int
stop_walk(const struct ec2_instance *v, size_t n, void *arg)
{
	(void)v;
	(void)n;
	(void)arg;
	err_set("enough");
	return ERR_LIMIT;
}

static void
test_svc__describe_instances_callback_stops(void **state)
{
	struct env *e = *state;
	struct ec2_describe_instances_input in = { .max_results = 3 };
	int npages = -1;

	fake_answer(&e->fk, 200, "describe_instances_page1.xml");
	fake_answer(&e->fk, 200, "describe_instances_page2.xml");
	assert_int_equal(ec2_instances_describe(e->ec2, &in, stop_walk, NULL,
	    &npages), ERR_LIMIT);
	assert_int_equal(npages, 1);
	assert_int_equal(e->fk.nsent, 1);
	assert_form(&e->fk.sent[0], "MaxResults", "5");	/* EC2's minimum */
}

static void
test_svc__describe_instances_bad_xml(void **state)
{
	struct env *e = *state;
	struct ec2_instance_page page;
	struct canned *c;

	c = fake_answer(&e->fk, 200, NULL);
	c->body = xstrdup("<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]>"
	    "<DescribeInstancesResponse>&a;</DescribeInstancesResponse>");
	c->len = strlen(c->body);
	assert_true(ec2_instances_describe_page(&page, e->ec2, NULL, NULL) < 0);
	assert_int_equal(page.n, 0);
	assert_null(page.v);
}

/* ---- EC2: the rest ---- */

static void
test_svc__terminate_and_not_found(void **state)
{
	struct env *e = *state;
	const char *const ids[] = { "i-ef8115cae2d32b10b", "i-2" };

	fake_answer(&e->fk, 200, "terminate_instances.xml");
	fake_answer(&e->fk, 400, "error_instance_notfound.xml");
	assert_int_equal(ec2_instances_terminate(e->ec2, ids, 2), 0);
	assert_form(&e->fk.sent[0], "Action", "TerminateInstances");
	assert_form(&e->fk.sent[0], "InstanceId.1", "i-ef8115cae2d32b10b");
	assert_form(&e->fk.sent[0], "InstanceId.2", "i-2");
	assert_int_equal(ec2_instances_terminate(e->ec2, ids, 1), ERR_NOTFOUND);
	assert_string_equal(aws_client_last_error(e->aws)->code,
	    "InvalidInstanceID.NotFound");
}

static void
test_svc__instance_status_protection_console(void **state)
{
	struct env *e = *state;
	struct ec2_instance_status_list st;
	const char *const ids[] = { "i-ef8115cae2d32b10b" };
	char *out = NULL;
	size_t len = 0;
	int prot = -1;

	fake_answer(&e->fk, 200, "describe_instance_status.xml");
	fake_answer(&e->fk, 200, "describe_instance_attribute.xml");
	fake_answer(&e->fk, 200, "describe_instance_attribute_protected.xml");
	fake_answer(&e->fk, 200, "get_console_output.xml");
	assert_int_equal(ec2_instance_status_describe(&st, e->ec2, ids, 1), 0);
	assert_form(&e->fk.sent[0], "IncludeAllInstances", "true");
	assert_form(&e->fk.sent[0], "InstanceId.1", "i-ef8115cae2d32b10b");
	assert_int_equal(st.n, 1);
	assert_string_equal(st.v[0].id, "i-ef8115cae2d32b10b");
	assert_string_equal(st.v[0].state, "running");
	assert_string_equal(st.v[0].instance_status, "ok");
	assert_string_equal(st.v[0].system_status, "ok");
	assert_string_equal(st.v[0].az, "us-east-1a");
	ec2_instance_status_list_dispose(&st);

	assert_int_equal(ec2_instance_termination_protection(&prot, e->ec2,
	    "i-ef8115cae2d32b10b"), 0);
	assert_int_equal(prot, 0);
	assert_form(&e->fk.sent[1], "Attribute", "disableApiTermination");
	assert_int_equal(ec2_instance_termination_protection(&prot, e->ec2,
	    "i-1234567890abcdef0"), 0);
	assert_int_equal(prot, 1);

	assert_int_equal(ec2_console_output_get(&out, &len, e->ec2,
	    "i-ef8115cae2d32b10b"), 0);
	assert_form(&e->fk.sent[3], "Action", "GetConsoleOutput");
	assert_form(&e->fk.sent[3], "Latest", "true");
	assert_true(strncmp(out, "Linux version 2.6.16-xenU", 25) == 0);
	assert_int_equal(len, strlen(out));
	assert_non_null(strstr(out, "Enabling fast FPU save and restore... done.\n"));
	free(out);
}

static void
test_svc__describe_images(void **state)
{
	struct env *e = *state;
	struct ec2_image_list imgs;
	const char *const owners[] = { "099720109477" };
	const struct ec2_filter filters[] = {
		{ "name", (const char *const[]){ "ubuntu/images/*" }, 1 },
		{ "architecture", (const char *const[]){ "x86_64" }, 1 },
	};
	struct ec2_describe_images_input in = {
		.owners = owners, .nowners = 1, .filters = filters, .nfilters = 2,
	};

	fake_answer(&e->fk, 200, "describe_images.xml");
	assert_int_equal(ec2_images_describe(&imgs, e->ec2, &in), 0);
	assert_form(&e->fk.sent[0], "Owner.1", "099720109477");
	assert_form(&e->fk.sent[0], "Filter.1.Value.1", "ubuntu/images/*");
	assert_form(&e->fk.sent[0], "Filter.2.Name", "architecture");
	assert_true(imgs.n >= 2);
	assert_string_equal(imgs.v[0].id, "ami-1e749f67");
	assert_string_equal(imgs.v[0].name,
	    "ubuntu/images/hvm-ssd/ubuntu-trusty-14.04-amd64-server-20170727");
	assert_string_equal(imgs.v[0].owner_id, "099720109477");
	assert_string_equal(imgs.v[0].architecture, "x86_64");
	assert_string_equal(imgs.v[0].root_device_name, "/dev/sda1");
	assert_string_equal(imgs.v[0].state, "available");
	assert_string_equal(imgs.v[0].creation_date, "2026-11-23T21:28:06.000Z");
	assert_true(imgs.v[0].created > 0);
	ec2_image_list_dispose(&imgs);
}

static void
test_svc__describe_images_paginates(void **state)
{
	struct env *e = *state;
	struct ec2_image_list imgs;
	const char *const owners[] = { "amazon" };
	struct ec2_describe_images_input in = { .owners = owners, .nowners = 1 };

	fake_answer(&e->fk, 200, "describe_images_page1.xml");
	fake_answer(&e->fk, 200, "describe_images.xml");
	assert_int_equal(ec2_images_describe(&imgs, e->ec2, &in), 0);
	assert_int_equal(e->fk.nsent, 2);
	assert_null(strstr(e->fk.sent[0].body, "NextToken"));
	assert_form(&e->fk.sent[1], "NextToken", "eyJ2IjoiMiIsImMiOiJwYWdlMiJ9");
	assert_form(&e->fk.sent[1], "Owner.1", "amazon");
	assert_true(imgs.n >= 3);	/* the first page's image and the second's */
	assert_string_equal(imgs.v[0].id, "ami-0f11cbb02d426f673");
	assert_string_equal(imgs.v[0].architecture, "arm64");
	assert_string_equal(imgs.v[1].id, "ami-1e749f67");
	ec2_image_list_dispose(&imgs);
}

static void
test_svc__describe_instance_types(void **state)
{
	struct env *e = *state;
	struct ec2_instance_type it;

	fake_answer(&e->fk, 200, "describe_instance_types.xml");
	assert_int_equal(ec2_instance_type_describe(&it, e->ec2, "t4g.micro"), 0);
	assert_form(&e->fk.sent[0], "Action", "DescribeInstanceTypes");
	assert_form(&e->fk.sent[0], "InstanceType.1", "t4g.micro");
	assert_string_equal(it.type, "t4g.micro");
	assert_int_equal(it.narchs, 1);
	assert_string_equal(it.archs[0], "arm64");
	/* an answer without the type asked for */
	fake_answer(&e->fk, 200, "describe_instance_types.xml");
	assert_int_equal(ec2_instance_type_describe(&it, e->ec2, "t3.micro"),
	    ERR_NOTFOUND);
}

static const struct ec2_ingress_rule ssh_rule[] = {
	{ "tcp", 22, 22, "203.0.113.7/32", "ssh" },
	{ "tcp", 8080, 8080, "203.0.113.0/24", NULL },
};

static void
test_svc__security_groups(void **state)
{
	struct env *e = *state;
	struct ec2_security_group_list l;
	const struct ec2_kv tags[] = { { "envctl:env", "web-alice" } };
	const char *const ids[] = { "sg-68bc733626c39f7a8" };
	char id[32];

	fake_answer(&e->fk, 200, "create_security_group.xml");
	fake_answer(&e->fk, 200, "describe_security_groups.xml");
	fake_answer(&e->fk, 400, "error_group_notfound.xml");
	assert_int_equal(ec2_security_group_create(id, sizeof(id), e->ec2,
	    "envctl-web-alice", "envctl web-alice", "vpc-1", tags, 1), 0);
	assert_string_equal(id, "sg-68bc733626c39f7a8");
	assert_form(&e->fk.sent[0], "GroupName", "envctl-web-alice");
	assert_form(&e->fk.sent[0], "GroupDescription", "envctl web-alice");
	assert_form(&e->fk.sent[0], "VpcId", "vpc-1");
	assert_form(&e->fk.sent[0], "TagSpecification.1.ResourceType",
	    "security-group");
	assert_form(&e->fk.sent[0], "TagSpecification.1.Tag.1.Value", "web-alice");

	assert_int_equal(ec2_security_groups_describe(&l, e->ec2, ids, 1, NULL, 0), 0);
	assert_form(&e->fk.sent[1], "GroupId.1", "sg-68bc733626c39f7a8");
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].name, "envctl-web-alice");
	assert_string_equal(l.v[0].vpc_id, "vpc-022a9241b223bf21e");
	assert_int_equal(l.v[0].ningress, 1);	/* egress not counted */
	assert_string_equal(l.v[0].ingress[0].protocol, "tcp");
	assert_int_equal(l.v[0].ingress[0].from_port, 22);
	assert_int_equal(l.v[0].ingress[0].to_port, 22);
	assert_string_equal(l.v[0].ingress[0].cidr, "203.0.113.7/32");
	assert_int_equal(l.v[0].ntags, 1);
	ec2_security_group_list_dispose(&l);

	assert_int_equal(ec2_security_group_delete(e->ec2, "sg-0nope"), ERR_NOTFOUND);
	assert_form(&e->fk.sent[2], "Action", "DeleteSecurityGroup");
}

static void
test_svc__ingress_is_idempotent(void **state)
{
	struct env *e = *state;
	struct canned *c;

	/* Batch refused as duplicate: retried one by one, both benign. */
	fake_answer(&e->fk, 400, "error_duplicate.xml");
	fake_answer(&e->fk, 400, "error_duplicate.xml");
	c = fake_answer(&e->fk, 200, NULL);
	c->body = xstrdup("<AuthorizeSecurityGroupIngressResponse><return>true"
	    "</return></AuthorizeSecurityGroupIngressResponse>");
	c->len = strlen(c->body);
	assert_int_equal(ec2_security_group_ingress_authorize(e->ec2, "sg-1",
	    ssh_rule, 2), 0);
	assert_int_equal(e->fk.nsent, 3);
	assert_form(&e->fk.sent[0], "IpPermissions.1.IpProtocol", "tcp");
	assert_form(&e->fk.sent[0], "IpPermissions.1.FromPort", "22");
	assert_form(&e->fk.sent[0], "IpPermissions.1.ToPort", "22");
	assert_form(&e->fk.sent[0], "IpPermissions.1.IpRanges.1.CidrIp",
	    "203.0.113.7/32");
	assert_form(&e->fk.sent[0], "IpPermissions.1.IpRanges.1.Description", "ssh");
	assert_form(&e->fk.sent[0], "IpPermissions.2.FromPort", "8080");
	assert_null(form_get(&e->fk.sent[1], "IpPermissions.2.FromPort"));
	assert_form(&e->fk.sent[2], "IpPermissions.1.FromPort", "8080");

	/* Revoking a rule that is not there is success. */
	fake_answer(&e->fk, 400, "error_permission_notfound.xml");
	assert_int_equal(ec2_security_group_ingress_revoke(e->ec2, "sg-1",
	    ssh_rule, 1), 0);
	assert_form(&e->fk.sent[3], "Action", "RevokeSecurityGroupIngress");

	/* Other errors are not swallowed. */
	fake_answer(&e->fk, 400, "error_group_notfound.xml");
	assert_int_equal(ec2_security_group_ingress_authorize(e->ec2, "sg-0nope",
	    ssh_rule, 1), ERR_NOTFOUND);
	assert_non_null(strstr(err_get(), "InvalidGroup.NotFound"));
}

/* A canned 200 answer with body text (not a fixture file). */
static void
fake_text(struct fake *fk, const char *body)
{
	struct canned *c = fake_answer(fk, 200, NULL);

	c->body = xstrdup(body);
	c->len = strlen(body);
}

static void
test_svc__ingress_ipv6(void **state)
{
	static const struct ec2_ingress_rule rules[] = {
		{ "tcp", 22, 22, "203.0.113.7/32", "ssh" },
		{ "tcp", 22, 22, "2001:db8::/64", "ssh" },
		{ "udp", 9000, 9000, "2001:db8:1::/48", NULL },
	};
	struct env *e = *state;
	struct ec2_security_group_list l;

	/* IPv6 CIDRs go out as Ipv6Ranges.N.CidrIpv6, IPv4 as IpRanges. */
	fake_text(&e->fk, "<AuthorizeSecurityGroupIngressResponse><return>true"
	    "</return></AuthorizeSecurityGroupIngressResponse>");
	assert_int_equal(ec2_security_group_ingress_authorize(e->ec2, "sg-1",
	    rules, 3), 0);
	assert_form(&e->fk.sent[0], "IpPermissions.1.IpRanges.1.CidrIp",
	    "203.0.113.7/32");
	assert_null(form_get(&e->fk.sent[0], "IpPermissions.1.Ipv6Ranges.1.CidrIpv6"));
	assert_form(&e->fk.sent[0], "IpPermissions.2.Ipv6Ranges.1.CidrIpv6",
	    "2001:db8::/64");
	assert_form(&e->fk.sent[0], "IpPermissions.2.Ipv6Ranges.1.Description",
	    "ssh");
	assert_null(form_get(&e->fk.sent[0], "IpPermissions.2.IpRanges.1.CidrIp"));
	assert_form(&e->fk.sent[0], "IpPermissions.3.IpProtocol", "udp");
	assert_form(&e->fk.sent[0], "IpPermissions.3.Ipv6Ranges.1.CidrIpv6",
	    "2001:db8:1::/48");
	assert_null(form_get(&e->fk.sent[0], "IpPermissions.3.Ipv6Ranges.1.Description"));
	/* Revoke encodes them the same way. */
	fake_text(&e->fk, "<RevokeSecurityGroupIngressResponse><return>true"
	    "</return></RevokeSecurityGroupIngressResponse>");
	assert_int_equal(ec2_security_group_ingress_revoke(e->ec2, "sg-1",
	    &rules[1], 1), 0);
	assert_form(&e->fk.sent[1], "Action", "RevokeSecurityGroupIngress");
	assert_form(&e->fk.sent[1], "IpPermissions.1.Ipv6Ranges.1.CidrIpv6",
	    "2001:db8::/64");

	/* Described groups list IPv4 and IPv6 ranges as rules alike. */
	fake_text(&e->fk, "<DescribeSecurityGroupsResponse xmlns=\"http://ec2."
	    "amazonaws.com/doc/2016-11-15/\"><securityGroupInfo><item>"
	    "<groupId>sg-1</groupId><groupName>g</groupName><vpcId>vpc-9</vpcId>"
	    "<ipPermissions><item><ipProtocol>tcp</ipProtocol><fromPort>22"
	    "</fromPort><toPort>22</toPort><ipRanges><item><cidrIp>203.0.113.7/32"
	    "</cidrIp></item></ipRanges><ipv6Ranges><item><cidrIpv6>2001:db8::/64"
	    "</cidrIpv6><description>ssh</description></item></ipv6Ranges></item>"
	    "<item><ipProtocol>udp</ipProtocol><fromPort>9000</fromPort><toPort>"
	    "9000</toPort><ipv6Ranges><item><cidrIpv6>2001:db8:1::/48</cidrIpv6>"
	    "</item></ipv6Ranges></item></ipPermissions></item>"
	    "</securityGroupInfo></DescribeSecurityGroupsResponse>");
	assert_int_equal(ec2_security_groups_describe(&l, e->ec2, NULL, 0, NULL, 0), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].ningress, 3);
	assert_string_equal(l.v[0].ingress[0].cidr, "203.0.113.7/32");
	assert_string_equal(l.v[0].ingress[1].cidr, "2001:db8::/64");
	assert_int_equal(l.v[0].ingress[1].from_port, 22);
	assert_string_equal(l.v[0].ingress[2].protocol, "udp");
	assert_string_equal(l.v[0].ingress[2].cidr, "2001:db8:1::/48");
	assert_int_equal(l.v[0].ingress[2].to_port, 9000);
	ec2_security_group_list_dispose(&l);
}

static void
test_svc__subnets(void **state)
{
	struct env *e = *state;
	struct ec2_subnet_list l;
	const char *const ids[] = { "subnet-0a", "subnet-0b" };

	fake_text(&e->fk, "<DescribeSubnetsResponse xmlns=\"http://ec2.amazonaws."
	    "com/doc/2016-11-15/\"><requestId>r</requestId><subnetSet><item>"
	    "<subnetId>subnet-0a</subnetId><state>available</state><vpcId>"
	    "vpc-0123</vpcId><cidrBlock>10.1.0.0/24</cidrBlock>"
	    "<availabilityZone>us-east-1a</availabilityZone></item><item>"
	    "<subnetId>subnet-0b</subnetId><vpcId>vpc-0123</vpcId><cidrBlock>"
	    "10.1.1.0/24</cidrBlock><availabilityZone>us-east-1b"
	    "</availabilityZone></item></subnetSet></DescribeSubnetsResponse>");
	assert_int_equal(ec2_subnets_describe(&l, e->ec2, ids, 2), 0);
	assert_form(&e->fk.sent[0], "Action", "DescribeSubnets");
	assert_form(&e->fk.sent[0], "SubnetId.1", "subnet-0a");
	assert_form(&e->fk.sent[0], "SubnetId.2", "subnet-0b");
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].id, "subnet-0a");
	assert_string_equal(l.v[0].vpc_id, "vpc-0123");
	assert_string_equal(l.v[0].cidr, "10.1.0.0/24");
	assert_string_equal(l.v[1].az, "us-east-1b");
	ec2_subnet_list_dispose(&l);
	ec2_subnet_list_dispose(NULL);

	/* An unknown subnet is ERR_NOTFOUND, the code in the message. */
	{
		struct canned *c = fake_answer(&e->fk, 400, NULL);

		c->body = xstrdup("<Response><Errors><Error><Code>"
		    "InvalidSubnetID.NotFound</Code><Message>The subnet ID "
		    "'subnet-0c' does not exist</Message></Error></Errors>"
		    "<RequestID>r</RequestID></Response>");
		c->len = strlen(c->body);
	}
	assert_int_equal(ec2_subnets_describe(&l, e->ec2, &ids[0], 1),
	    ERR_NOTFOUND);
	assert_non_null(strstr(err_get(), "InvalidSubnetID.NotFound"));
	assert_int_equal(l.n, 0);
}

static void
test_svc__tags_and_key_pairs(void **state)
{
	struct env *e = *state;
	const char *const res[] = { "i-1", "vol-2" };
	const struct ec2_kv tags[] = { { "a", "b" }, { "empty", NULL } };
	struct ec2_key_pair kp;
	struct ec2_key_pair_list l;
	const char *pub = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDHM test";
	struct canned *c;

	fake_answer(&e->fk, 200, "create_tags.xml");
	fake_answer(&e->fk, 200, "import_key_pair.xml");
	fake_answer(&e->fk, 200, "describe_key_pairs.xml");
	c = fake_answer(&e->fk, 400, NULL);
	c->body = xstrdup("<Response><Errors><Error><Code>InvalidKeyPair.NotFound"
	    "</Code><Message>The key pair 'x' does not exist</Message></Error>"
	    "</Errors><RequestID>r</RequestID></Response>");
	c->len = strlen(c->body);

	assert_int_equal(ec2_tags_create(e->ec2, res, 2, tags, 2), 0);
	assert_form(&e->fk.sent[0], "ResourceId.2", "vol-2");
	assert_form(&e->fk.sent[0], "Tag.1.Key", "a");
	assert_form(&e->fk.sent[0], "Tag.1.Value", "b");
	assert_form(&e->fk.sent[0], "Tag.2.Value", "");

	assert_int_equal(ec2_key_pair_import(&kp, e->ec2, "envctl-web-alice", pub,
	    tags, 1), 0);
	assert_form(&e->fk.sent[1], "KeyName", "envctl-web-alice");
	assert_form(&e->fk.sent[1], "PublicKeyMaterial",
	    "c3NoLWVkMjU1MTkgQUFBQUMzTnphQzFsWkRJMU5URTVBQUFBSURITSB0ZXN0");
	assert_form(&e->fk.sent[1], "TagSpecification.1.ResourceType", "key-pair");
	assert_string_equal(kp.id, "key-7df4c288a24c58484");
	assert_string_equal(kp.name, "envctl-web-alice");
	assert_true(strncmp(kp.fingerprint, "7b:f9:a8", 8) == 0);

	assert_int_equal(ec2_key_pairs_describe(&l, e->ec2, NULL, 0), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].name, "envctl-web-alice");
	ec2_key_pair_list_dispose(&l);

	assert_int_equal(ec2_key_pair_delete(e->ec2, "x"), 0);
	assert_form(&e->fk.sent[3], "Action", "DeleteKeyPair");
}

static void
test_svc__spot_price_history(void **state)
{
	struct env *e = *state;
	struct ec2_spot_price_list l;

	fake_answer(&e->fk, 200, "describe_spot_price_history.xml");
	assert_int_equal(ec2_spot_price_history(&l, e->ec2, "t3.medium", NULL,
	    1700000000, 5), 0);
	assert_form(&e->fk.sent[0], "InstanceType.1", "t3.medium");
	assert_form(&e->fk.sent[0], "ProductDescription.1", "Linux/UNIX");
	assert_form(&e->fk.sent[0], "StartTime", "2023-11-14T22:13:20Z");
	assert_form(&e->fk.sent[0], "MaxResults", "5");
	assert_int_equal(l.n, 5);
	assert_string_equal(l.v[1].az, "us-east-1b");
	assert_string_equal(l.v[1].price, "0.00001");
	assert_string_equal(l.v[1].instance_type, "t3.medium");
	assert_int_equal(l.v[1].when, 1136214245);	/* 2006-01-02T15:04:05Z */
	ec2_spot_price_list_dispose(&l);
}

static void
test_svc__spot_placement_scores(void **state)
{
	struct env *e = *state;
	struct ec2_placement_score_list l;
	const char *types[] = { "m5.large", "m6i.large" };
	const char *regions[] = { "us-east-1" };

	fake_answer(&e->fk, 200, "get_spot_placement_scores.xml");
	assert_int_equal(ec2_spot_placement_scores(&l, e->ec2, types, 2,
	    regions, 1, 1, 1), 0);
	assert_form(&e->fk.sent[0], "Action", "GetSpotPlacementScores");
	assert_form(&e->fk.sent[0], "InstanceType.1", "m5.large");
	assert_form(&e->fk.sent[0], "InstanceType.2", "m6i.large");
	assert_form(&e->fk.sent[0], "TargetCapacity", "1");
	assert_form(&e->fk.sent[0], "SingleAvailabilityZone", "true");
	assert_form(&e->fk.sent[0], "RegionName.1", "us-east-1");
	/* the third item's score (11) is not a score: left out */
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[1].region, "us-east-1");
	assert_string_equal(l.v[1].az_id, "use1-az4");
	assert_int_equal(l.v[1].score, 9);
	assert_int_equal(l.v[0].score, 3);
	ec2_placement_score_list_dispose(&l);
}

/* ---- S3 ---- */

static void
test_svc__s3_put_get_head_delete(void **state)
{
	struct env *e = *state;
	struct s3_put_opts po = { .sse = S3_SSE_AES256, .secret = 1 };
	struct s3_object_info info;
	struct canned *c;
	char *data = NULL;
	size_t len = 0;

	fake_answer(&e->fk, 200, NULL);
	c = fake_answer(&e->fk, 200, NULL);
	c->body = xstrdup("-----BEGIN OPENSSH PRIVATE KEY-----\n");
	c->len = strlen(c->body);
	c = fake_answer(&e->fk, 200, NULL);
	c->hname[0] = "Content-Length";
	c->hvalue[0] = "36";
	c->hname[1] = "ETag";
	c->hvalue[1] = "\"abc\"";
	c->hname[2] = "x-amz-server-side-encryption";
	c->hvalue[2] = "AES256";
	fake_answer(&e->fk, 404, "s3_error_nosuchkey.xml");

	assert_int_equal(s3_object_put(e->s3, "envctl-keys", "p/e 1/id_ed25519",
	    "key", 3, &po), 0);
	assert_string_equal(e->fk.sent[0].method, "PUT");
	assert_string_equal(e->fk.sent[0].url,
	    "http://127.0.0.1:4566/envctl-keys/p/e%201/id_ed25519");
	assert_string_equal(sent_header(&e->fk.sent[0],
	    "x-amz-server-side-encryption"), "AES256");
	assert_non_null(sent_header(&e->fk.sent[0], "x-amz-content-sha256"));
	assert_string_equal(e->fk.sent[0].body, "key");

	assert_int_equal(s3_object_get(&data, &len, e->s3, "envctl-keys",
	    "p/e1/id_ed25519", 1024, 1), 0);
	assert_string_equal(e->fk.sent[1].method, "GET");
	assert_int_equal(len, 36);
	assert_string_equal(data, "-----BEGIN OPENSSH PRIVATE KEY-----\n");
	mem_free_secret(data);

	assert_int_equal(s3_object_head(&info, e->s3, "envctl-keys",
	    "p/e1/id_ed25519"), 0);
	assert_string_equal(e->fk.sent[2].method, "HEAD");
	assert_int_equal(info.size, 36);
	assert_string_equal(info.sse, "AES256");
	assert_string_equal(info.etag, "\"abc\"");

	assert_int_equal(s3_object_delete(e->s3, "envctl-keys", "gone"), 0);
	assert_string_equal(e->fk.sent[3].method, "DELETE");
	assert_int_equal(s3_object_put(e->s3, "", "k", "x", 1, NULL), ERR_INVALID);
	assert_int_equal(e->fk.nsent, 4);
}

static void
test_svc__s3_get_bounded_and_missing(void **state)
{
	struct env *e = *state;
	struct canned *c;
	char *data = NULL;
	size_t len = 0;

	c = fake_answer(&e->fk, 200, NULL);
	c->body = xstrdup("0123456789");
	c->len = 10;
	fake_answer(&e->fk, 404, "s3_error_nosuchkey.xml");
	assert_int_equal(s3_object_get(&data, &len, e->s3, "b", "k", 9, 0),
	    ERR_LIMIT);
	assert_null(data);
	assert_int_equal(s3_object_get(&data, &len, e->s3, "b", "nope", 9, 0),
	    ERR_NOTFOUND);
	assert_string_equal(aws_client_last_error(e->aws)->code, "NoSuchKey");
}

static void
test_svc__s3_list_and_bucket(void **state)
{
	struct env *e = *state;
	struct s3_object_list l;
	struct canned *c;

	fake_answer(&e->fk, 200, "list_objects_v2.xml");
	fake_answer(&e->fk, 200, NULL);
	c = fake_answer(&e->fk, 409, NULL);
	c->body = xstrdup("<Error><Code>BucketAlreadyOwnedByYou</Code><Message>"
	    "yours</Message></Error>");
	c->len = strlen(c->body);
	assert_int_equal(s3_objects_list(&l, e->s3, "envctl-keys", "p/", "tok/+=",
	    1), 0);
	assert_string_equal(e->fk.sent[0].method, "GET");
	assert_non_null(strstr(e->fk.sent[0].url, "list-type=2"));
	assert_non_null(strstr(e->fk.sent[0].url, "prefix=p%2F"));
	assert_non_null(strstr(e->fk.sent[0].url, "continuation-token=tok%2F%2B%3D"));
	assert_non_null(strstr(e->fk.sent[0].url, "max-keys=1"));
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].key, "p/e1/id_ed25519");
	assert_int_equal(l.v[0].size, 1);
	assert_string_equal(l.next_token, "8110ed02cfa91ceadbc1f0854d0e1bac");
	s3_object_list_dispose(&l);

	assert_int_equal(s3_bucket_create(e->s3, "envctl-keys"), 0);
	assert_string_equal(e->fk.sent[1].method, "PUT");
	assert_int_equal(s3_bucket_create(e->s3, "envctl-keys"), 0);
	assert_int_equal(e->fk.nsent, 3);
}

static void
test_svc__s3_presign(void **state)
{
	struct env *e = *state;
	char *url = NULL;

	assert_int_equal(s3_url_presign(&url, e->s3, "PUT", "envctl-keys",
	    "p/e1/ready marker", 300), 0);
	assert_true(strncmp(url, "http://127.0.0.1:4566/envctl-keys/p/e1/ready%20marker?",
	    54) == 0);
	assert_non_null(strstr(url, "X-Amz-Algorithm=AWS4-HMAC-SHA256"));
	assert_non_null(strstr(url, "X-Amz-Credential=AKIDEXAMPLE%2F20231114%2Fus-east-1%2Fs3%2Faws4_request"));
	assert_non_null(strstr(url, "X-Amz-Date=20231114T221320Z"));
	assert_non_null(strstr(url, "X-Amz-Expires=300"));
	assert_non_null(strstr(url, "X-Amz-SignedHeaders=host"));
	/*
	 * The signature botocore's S3SigV4QueryAuth computes for the same
	 * request, keys and time (host 127.0.0.1:4566).
	 */
	assert_non_null(strstr(url, "X-Amz-Signature="
	    "5b8988f60e0527550a6d3815c7e0c43a0fa53519d62e95ac518deff1ba29bdc4"));
	assert_null(strstr(url, "wJalrXUtnFEMI"));	/* never the secret */
	mem_free_secret(url);
	assert_int_equal(s3_url_presign(&url, e->s3, "DELETE", "b", "k", 300),
	    ERR_INVALID);
	assert_int_equal(s3_url_presign(&url, e->s3, "GET", "b", "k", 0),
	    ERR_INVALID);
	assert_int_equal(s3_url_presign(&url, e->s3, "GET", "b", "k",
	    S3_PRESIGN_MAX_EXPIRES + 1), ERR_INVALID);
	assert_null(url);
	assert_int_equal(e->fk.nsent, 0);	/* presigning sends nothing */
}

/* The credential scope's region of a request signed in the header. */
static int
signed_for(const struct sent *s, const char *region)
{
	const char *auth = sent_header(s, "Authorization");
	char want[64];

	snprintf(want, sizeof(want), "/%s/s3/aws4_request", region);
	return auth != NULL && strstr(auth, want) != NULL;
}

static void
test_svc__s3_bucket_region_found_once(void **state)
{
	struct env *e = *state;
	struct canned *c;
	char region[S3_REGION_MAX];

	s3_bucket_regions_forget();
	c = fake_answer(&e->fk, 200, NULL);
	c->body = xstrdup("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	    "ap-southeast-2</LocationConstraint>");
	c->len = strlen(c->body);
	fake_answer(&e->fk, 200, NULL);
	fake_answer(&e->fk, 200, NULL);
	assert_int_equal(s3_object_put(e->s3, "far", "k", "x", 1, NULL), 0);
	assert_int_equal(s3_object_put(e->s3, "far", "k2", "x", 1, NULL), 0);
	assert_int_equal(e->fk.nsent, 3);	/* asked once, then cached */
	assert_string_equal(e->fk.sent[0].method, "GET");
	assert_string_equal(e->fk.sent[0].url, "http://127.0.0.1:4566/far/?location");
	assert_true(signed_for(&e->fk.sent[0], "us-east-1"));
	assert_true(signed_for(&e->fk.sent[1], "ap-southeast-2"));
	assert_true(signed_for(&e->fk.sent[2], "ap-southeast-2"));
	assert_int_equal(s3_bucket_region(region, sizeof(region), e->s3, "far"), 0);
	assert_string_equal(region, "ap-southeast-2");

	/* the header of a refusal says it too, and wins over the body */
	c = fake_answer(&e->fk, 301, NULL);
	c->hname[0] = "x-amz-bucket-region";
	c->hvalue[0] = "eu-west-1";
	assert_int_equal(s3_bucket_region(region, sizeof(region), e->s3, "near"), 0);
	assert_string_equal(region, "eu-west-1");
	/* an empty LocationConstraint is us-east-1, "EU" eu-west-1 */
	c = fake_answer(&e->fk, 200, NULL);
	c->body = xstrdup("<LocationConstraint/>");
	c->len = strlen(c->body);
	assert_int_equal(s3_bucket_region(region, sizeof(region), e->s3, "old"), 0);
	assert_string_equal(region, "us-east-1");
	c = fake_answer(&e->fk, 200, NULL);
	c->body = xstrdup("<LocationConstraint>EU</LocationConstraint>");
	c->len = strlen(c->body);
	assert_int_equal(s3_bucket_region(region, sizeof(region), e->s3, "eu"), 0);
	assert_string_equal(region, "eu-west-1");
	assert_int_equal(e->fk.nsent, 6);
}

static void
test_svc__s3_redirect_followed_once(void **state)
{
	struct env *e = *state;
	struct canned *c;
	char region[S3_REGION_MAX];

	/* the cache is wrong: a 301 names the region, the call is re-signed */
	c = fake_answer(&e->fk, 301, NULL);
	c->hname[0] = "x-amz-bucket-region";
	c->hvalue[0] = "eu-west-2";
	c->body = xstrdup("<Error><Code>PermanentRedirect</Code><Message>m"
	    "</Message><Endpoint>b.s3.eu-west-2.amazonaws.com</Endpoint></Error>");
	c->len = strlen(c->body);
	fake_answer(&e->fk, 200, NULL);
	assert_int_equal(s3_object_put(e->s3, "b", "k", "x", 1, NULL), 0);
	assert_int_equal(e->fk.nsent, 2);
	assert_true(signed_for(&e->fk.sent[0], "us-east-1"));
	assert_true(signed_for(&e->fk.sent[1], "eu-west-2"));
	assert_int_equal(s3_bucket_region(region, sizeof(region), e->s3, "b"), 0);
	assert_string_equal(region, "eu-west-2");

	/* a 400 AuthorizationHeaderMalformed names it in <Region> */
	c = fake_answer(&e->fk, 400, NULL);
	c->body = xstrdup("<Error><Code>AuthorizationHeaderMalformed</Code>"
	    "<Message>the region 'eu-west-2' is wrong; expecting 'ca-central-1'"
	    "</Message><Region>ca-central-1</Region></Error>");
	c->len = strlen(c->body);
	fake_answer(&e->fk, 204, NULL);
	assert_int_equal(s3_object_delete(e->s3, "b", "k"), 0);
	assert_int_equal(e->fk.nsent, 4);
	assert_true(signed_for(&e->fk.sent[3], "ca-central-1"));

	/* followed once only: a second redirect is the call's failure */
	c = fake_answer(&e->fk, 301, NULL);
	c->hname[0] = "x-amz-bucket-region";
	c->hvalue[0] = "us-west-2";
	c = fake_answer(&e->fk, 301, NULL);
	c->hname[0] = "x-amz-bucket-region";
	c->hvalue[0] = "us-west-1";
	assert_true(s3_object_put(e->s3, "b", "k", "x", 1, NULL) < 0);
	assert_int_equal(e->fk.nsent, 6);
	/* nor is a region S3 could not have sent believed */
	c = fake_answer(&e->fk, 301, NULL);
	c->hname[0] = "x-amz-bucket-region";
	c->hvalue[0] = "../evil";
	assert_true(s3_object_put(e->s3, "b", "k", "x", 1, NULL) < 0);
	assert_int_equal(e->fk.nsent, 7);
}

static void
test_svc__s3_presign_in_the_bucket_region(void **state)
{
	struct env *e = *state;
	struct aws_client_opts o;
	struct aws_client *real = NULL;
	struct s3_client *s3 = NULL;
	char *url = NULL;

	/* a custom endpoint keeps its host; the signature is the bucket's region */
	s3_bucket_region_remember("far", "ap-southeast-2");
	assert_int_equal(s3_url_presign(&url, e->s3, "PUT", "far", "p/m", 300), 0);
	assert_true(strncmp(url, "http://127.0.0.1:4566/far/p/m?", 30) == 0);
	assert_non_null(strstr(url, "X-Amz-Credential=AKIDEXAMPLE%2F20231114%2F"
	    "ap-southeast-2%2Fs3%2Faws4_request"));
	mem_free_secret(url);

	/* on AWS, the host is the bucket region's too */
	memset(&o, 0, sizeof(o));
	o.region = "eu-west-1";
	o.ignore_env_endpoints = 1;
	o.creds = e->fa.creds;
	o.transport = &fake_transport;
	o.transport_arg = &e->fk;
	assert_int_equal(aws_client_new(&real, &o), 0);
	assert_int_equal(s3_client_new(&s3, real), 0);
	assert_int_equal(s3_url_presign(&url, s3, "GET", "far", "p/m", 60), 0);
	assert_true(strncmp(url, "https://far.s3.ap-southeast-2.amazonaws.com/p/m?",
	    48) == 0);
	assert_non_null(strstr(url, "%2Fap-southeast-2%2Fs3%2Faws4_request"));
	mem_free_secret(url);
	fake_answer(&e->fk, 200, NULL);
	assert_int_equal(s3_object_put(s3, "far", "k", "x", 1, NULL), 0);
	assert_string_equal(e->fk.sent[0].url,
	    "https://far.s3.ap-southeast-2.amazonaws.com/k");
	assert_true(signed_for(&e->fk.sent[0], "ap-southeast-2"));
	s3_client_free(s3);
	aws_client_free(real);
}

static void
test_svc__clock_skew_corrected_once(void **state)
{
	struct env *e = *state;
	struct aws_client_stats st;
	struct canned *c;
	unsigned long before;

	/* EC2: RequestExpired, the server 10 minutes ahead of our clock */
	c = fake_answer(&e->fk, 400, NULL);
	c->body = xstrdup("<Response><Errors><Error><Code>RequestExpired</Code>"
	    "<Message>Request has expired.</Message></Error></Errors>"
	    "<RequestID>r1</RequestID></Response>");
	c->len = strlen(c->body);
	c->hname[0] = "Date";
	c->hvalue[0] = "Tue, 14 Nov 2023 22:23:20 GMT";
	fake_answer(&e->fk, 200, "terminate_instances.xml");
	assert_int_equal(aws_client_skew(e->aws), 0);
	aws_client_stats(&st, e->aws);
	before = st.retries;
	assert_int_equal(ec2_instances_terminate(e->ec2,
	    (const char *const[]){ "i-1" }, 1), 0);
	assert_int_equal(e->fk.nsent, 2);
	assert_string_equal(sent_header(&e->fk.sent[0], "X-Amz-Date"),
	    "20231114T221320Z");
	assert_string_equal(sent_header(&e->fk.sent[1], "X-Amz-Date"),
	    "20231114T222320Z");	/* signed with the server's time */
	assert_int_equal(aws_client_skew(e->aws), 600);
	aws_client_stats(&st, e->aws);
	assert_int_equal(st.retries, before);	/* not a retry: no quota spent */

	/* S3: ExpiredToken refreshes the credentials and is retried once */
	c = fake_answer(&e->fk, 400, NULL);
	c->body = xstrdup("<Error><Code>ExpiredToken</Code><Message>The provided "
	    "token has expired.</Message></Error>");
	c->len = strlen(c->body);
	fake_answer(&e->fk, 200, NULL);
	assert_int_equal(s3_object_put(e->s3, "b", "k", "x", 1, NULL), 0);
	assert_int_equal(e->fk.nsent, 4);
	/* once only: the same answer twice is the call's failure */
	c = fake_answer(&e->fk, 400, NULL);
	c->body = xstrdup("<Error><Code>ExpiredToken</Code><Message>m</Message>"
	    "</Error>");
	c->len = strlen(c->body);
	c = fake_answer(&e->fk, 400, NULL);
	c->body = xstrdup("<Error><Code>ExpiredToken</Code><Message>m</Message>"
	    "</Error>");
	c->len = strlen(c->body);
	assert_true(s3_object_put(e->s3, "b", "k", "x", 1, NULL) < 0);
	assert_int_equal(e->fk.nsent, 6);
	/* a small difference is no skew to correct: no retry */
	c = fake_answer(&e->fk, 403, NULL);
	c->body = xstrdup("<Error><Code>RequestTimeTooSkewed</Code><Message>m"
	    "</Message></Error>");
	c->len = strlen(c->body);
	c->hname[0] = "Date";
	c->hvalue[0] = "Tue, 14 Nov 2023 22:23:50 GMT";	/* 30 s off now */
	assert_true(s3_object_put(e->s3, "b", "k", "x", 1, NULL) < 0);
	assert_int_equal(e->fk.nsent, 7);
	assert_int_equal(aws_client_skew(e->aws), 600);
}

/* Role credentials lasting *arg seconds from the fake clock, each new. */
static int
short_role(struct aws_creds *out, const struct aws_creds *src,
    const char *role_arn, const char *external_id, const char *session_name,
    void *arg)
{
	const long *life = arg;
	static int n;
	char tok[32];

	(void)src;
	(void)role_arn;
	(void)external_id;
	(void)session_name;
	snprintf(tok, sizeof(tok), "TOKEN%d", ++n);
	return aws_creds_set(out, "ASIAROLE", "rolesecret", tok,
	    (time_t)(1700000000 + *life), "assume-role");
}

static time_t
svc_clock(void *arg)
{
	(void)arg;
	return 1700000000;
}

static void
test_svc__presign_outlives_no_credentials(void **state)
{
	struct env *e = *state;
	struct aws_creds_options co;
	struct aws_creds_provider *prov = NULL;
	struct aws_client_opts o;
	struct aws_client *c = NULL;
	struct s3_client *s3 = NULL;
	char dir[] = "/tmp/envctl-presign-XXXXXX", cred[64], conf[64];
	char *url = NULL;
	long life = 900;
	FILE *f;

	(void)e;
	assert_non_null(mkdtemp(dir));
	snprintf(cred, sizeof(cred), "%s/credentials", dir);
	snprintf(conf, sizeof(conf), "%s/config", dir);
	assert_non_null(f = fopen(cred, "w"));
	fputs("[src]\naws_access_key_id = AKIDSRC\naws_secret_access_key = s\n", f);
	fclose(f);
	assert_non_null(f = fopen(conf, "w"));
	fputs("[profile r]\nrole_arn = arn:aws:iam::123456789012:role/r\n"
	    "source_profile = src\n", f);
	fclose(f);
	memset(&co, 0, sizeof(co));
	co.profile = "r";
	co.credentials_file = cred;
	co.config_file = conf;
	co.imds_disabled = 1;
	co.assume_role = short_role;
	co.assume_role_arg = &life;
	co.now = svc_clock;
	assert_int_equal(aws_creds_provider_new(&prov, &co), 0);
	memset(&o, 0, sizeof(o));
	o.region = "us-east-1";
	o.endpoint_url = "http://127.0.0.1:4566";
	o.ignore_env_endpoints = 1;
	o.creds = prov;
	o.transport = &fake_transport;
	o.transport_arg = &e->fk;
	o.clock = svc_clock;
	assert_int_equal(aws_client_new(&c, &o), 0);
	assert_int_equal(s3_client_new(&s3, c), 0);

	/* the session ends in 15 min, the URL should last an hour: renewed */
	assert_int_equal(s3_url_presign(&url, s3, "PUT", "b", "m", 900), 0);
	assert_non_null(strstr(url, "X-Amz-Security-Token=TOKEN1"));
	mem_free_secret(url);
	life = 7200;
	assert_int_equal(s3_url_presign(&url, s3, "PUT", "b", "m", 3600), 0);
	assert_non_null(strstr(url, "X-Amz-Expires=3600"));
	assert_non_null(strstr(url, "X-Amz-Security-Token=TOKEN2"));
	mem_free_secret(url);
	/* renewed credentials that end sooner too: the URL ends with them */
	life = 1800;
	assert_int_equal(s3_url_presign(&url, s3, "GET", "b", "m", 9000), 0);
	assert_non_null(strstr(url, "X-Amz-Expires=1800"));
	assert_non_null(strstr(url, "X-Amz-Security-Token=TOKEN3"));
	mem_free_secret(url);
	/* a minute or less left: refused */
	life = 30;
	assert_int_equal(s3_url_presign(&url, s3, "GET", "b", "m", 7200),
	    ERR_INVALID);
	assert_null(url);
	assert_int_equal(e->fk.nsent, 0);

	s3_client_free(s3);
	aws_client_free(c);
	aws_creds_provider_free(prov);
	unlink(cred);
	unlink(conf);
	rmdir(dir);
}

struct captured {
	struct buf	all;
	int		lines;
};

static void
capture(enum log_level lvl, const char *line, void *arg)
{
	struct captured *c = arg;

	(void)lvl;
	c->lines++;
	buf_addstr(&c->all, line);
	buf_addch(&c->all, '\n');
}

static void
test_svc__secrets_stay_out_of_logs_and_errors(void **state)
{
	struct env *e = *state;
	struct s3_put_opts po = { .sse = S3_SSE_AES256, .secret = 1 };
	static const char key[] = "-----BEGIN OPENSSH PRIVATE KEY-----\nSEKRIT\n";
	struct captured cap;
	struct canned *c;
	char *url = NULL, *data = NULL;
	size_t len;

	memset(&cap, 0, sizeof(cap));
	buf_init(&cap.all, 1 << 20);
	log_init("test_svc", LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT);
	log_set_sink(capture, &cap);
	fake_answer(&e->fk, 200, NULL);
	c = fake_answer(&e->fk, 500, NULL);	/* fails 3 times: errors logged */
	c->body = xstrdup("<Error><Code>InternalError</Code><Message>boom"
	    "</Message></Error>");
	c->len = strlen(c->body);
	for (int i = 0; i < 2; i++) {
		c = fake_answer(&e->fk, 500, NULL);
		c->body = xstrdup("<Error><Code>InternalError</Code></Error>");
		c->len = strlen(c->body);
	}
	assert_int_equal(s3_object_put(e->s3, "b", "k", key, strlen(key), &po), 0);
	assert_true(s3_object_get(&data, &len, e->s3, "b", "k", 1024, 1) < 0);
	assert_non_null(strstr(err_get(), "InternalError"));
	assert_int_equal(s3_url_presign(&url, e->s3, "GET", "b", "k", 60), 0);
	log_set_sink(NULL, NULL);
	log_set_level(LOG_LEVEL_WARN);
	assert_true(cap.lines > 0);	/* debug lines were written */
	assert_null(strstr(buf_cstr(&cap.all), "SEKRIT"));
	assert_null(strstr(buf_cstr(&cap.all), "wJalrXUtnFEMI"));
	assert_null(strstr(buf_cstr(&cap.all), "X-Amz-Signature"));
	assert_null(strstr(err_get(), "wJalrXUtnFEMI"));
	mem_free_secret(url);
	buf_dispose(&cap.all);
}

/* ---- SSM: GetParameter ---- */

/* The JSON protocol request, signed for "ssm"; the value comes back, copied. */
static void
test_svc__ssm_get_parameter(void **state)
{
	struct env *e = *state;
	struct canned *c;
	const struct sent *s;
	char *v = NULL;

	c = fake_answer(&e->fk, 200, NULL);
	c->body = xstrdup("{\"Parameter\":{\"Name\":\"/envctl/a\",\"Type\":"
	    "\"SecureString\",\"Value\":\"p4ss w=rd\",\"Version\":1}}");
	c->len = strlen(c->body);
	assert_int_equal(ssm_parameter_get(&v, e->aws, "/envctl/a"), 0);
	assert_string_equal(v, "p4ss w=rd");
	mem_free_secret(v);
	s = &e->fk.sent[0];
	assert_string_equal(s->method, "POST");
	assert_string_equal(s->body, "{\"Name\":\"/envctl/a\",\"WithDecryption\":true}");
	assert_string_equal(aws_headers_get(&s->headers, "X-Amz-Target"),
	    "AmazonSSM.GetParameter");
	assert_string_equal(aws_headers_get(&s->headers, "Content-Type"),
	    "application/x-amz-json-1.1");
	assert_non_null(strstr(aws_headers_get(&s->headers, "Authorization"),
	    "/ssm/aws4_request"));
}

/* A missing parameter is ERR_NOTFOUND naming it; an answer without a value fails. */
static void
test_svc__ssm_get_parameter_errors(void **state)
{
	struct env *e = *state;
	struct canned *c;
	char *v = NULL;

	c = fake_answer(&e->fk, 400, NULL);
	c->body = xstrdup("{\"__type\":\"ParameterNotFound\",\"message\":\"\"}");
	c->len = strlen(c->body);
	assert_int_equal(ssm_parameter_get(&v, e->aws, "/envctl/gone"), ERR_NOTFOUND);
	assert_null(v);
	assert_non_null(strstr(err_get(), "ssm parameter /envctl/gone"));
	c = fake_answer(&e->fk, 200, NULL);
	c->body = xstrdup("{\"Parameter\":{\"Name\":\"/envctl/a\",\"Value\":7}}");
	c->len = strlen(c->body);
	assert_int_equal(ssm_parameter_get(&v, e->aws, "/envctl/a"), ERR_INVALID);
	assert_null(v);
	assert_non_null(strstr(err_get(), "no string value"));
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_svc__run_instances_request_has_every_field),
		T(test_svc__ssm_get_parameter),
		T(test_svc__ssm_get_parameter_errors),
		T(test_svc__run_instances_on_demand_and_arn),
		T(test_svc__run_instances_refuses_bad_input),
		T(test_svc__run_instances_mismatch_is_conflict),
		T(test_svc__describe_instances_parses_moto),
		T(test_svc__describe_instances_paginates),
		T(test_svc__describe_instances_parses_ec2_page),
		T(test_svc__describe_instances_absent_fields),
		T(test_svc__describe_instances_callback_stops),
		T(test_svc__describe_instances_bad_xml),
		T(test_svc__terminate_and_not_found),
		T(test_svc__instance_status_protection_console),
		T(test_svc__describe_images),
		T(test_svc__security_groups),
		T(test_svc__ingress_is_idempotent),
		T(test_svc__ingress_ipv6),
		T(test_svc__subnets),
		T(test_svc__tags_and_key_pairs),
		T(test_svc__spot_price_history),
		T(test_svc__spot_placement_scores),
		T(test_svc__s3_put_get_head_delete),
		T(test_svc__s3_get_bounded_and_missing),
		T(test_svc__s3_list_and_bucket),
		T(test_svc__describe_images_paginates),
		T(test_svc__describe_instance_types),
		T(test_svc__s3_presign),
		T(test_svc__clock_skew_corrected_once),
		T(test_svc__presign_outlives_no_credentials),
		T(test_svc__s3_bucket_region_found_once),
		T(test_svc__s3_redirect_followed_once),
		T(test_svc__s3_presign_in_the_bucket_region),
		T(test_svc__secrets_stay_out_of_logs_and_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
