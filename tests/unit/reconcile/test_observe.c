/*
 * test_observe.c - discovery's slimmed instances (observe.h): through an
 * injected transport serving a DescribeInstances page, what a pass keeps
 * of each instance (id, state, type, public IP, launch time, market, the
 * prefixed tags with interned keys) and that every other string is "";
 * and a pass's brief rows turned into plan records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "aws.h"
#include "aws_int.h"
#include "buf.h"
#include "ec2.h"
#include "err.h"
#include "fakeaws.h"
#include "mem.h"
#include "observe.h"
#include "store.h"

/* Two reservations: a full envctl instance, and a bare one of another prefix. */
static const char page_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
    "<requestId>r-1</requestId><reservationSet><item><instancesSet><item>"
    "<instanceId>i-0aaaaaaaaaaaaaaa1</instanceId><imageId>ami-0123</imageId>"
    "<instanceState><code>16</code><name>running</name></instanceState>"
    "<privateDnsName>ip-10-0-0-5.ec2.internal</privateDnsName>"
    "<keyName>envctl-web-alice</keyName><instanceType>t3.medium</instanceType>"
    "<launchTime>2024-03-01T10:20:30.000Z</launchTime>"
    "<placement><availabilityZone>us-east-1a</availabilityZone></placement>"
    "<subnetId>subnet-0a</subnetId><vpcId>vpc-0123</vpcId>"
    "<privateIpAddress>10.0.0.5</privateIpAddress>"
    "<ipAddress>198.51.100.7</ipAddress>"
    "<groupSet><item><groupId>sg-0111</groupId><groupName>a</groupName></item>"
    "</groupSet><stateReason><code>x</code><message>because</message>"
    "</stateReason><clientToken>tok-0123456789</clientToken>"
    "<instanceLifecycle>spot</instanceLifecycle><tagSet>"
    "<item><key>Name</key><value>envctl-web-alice</value></item>"
    "<item><key>envctl:managed</key><value>true</value></item>"
    "<item><key>envctl:cluster</key><value>c-1</value></item>"
    "<item><key>cost-center</key><value>1234</value></item>"
    "<item><key>envctl:env</key><value>web-alice</value></item>"
    "<item><key>envctl:env-id</key>"
    "<value>6e98491f-002e-47d9-ab90-234a2bc918e9</value></item>"
    "<item><key>envctl:spec-hash</key><value>v1:aaaaaaaaaaaaaaaa</value></item>"
    "<item><key>envctl:workspace</key><value>team-a</value></item>"
    "<item><key>envctl:other</key><value>dropped</value></item>"
    "</tagSet></item></instancesSet></item>"
    "<item><instancesSet><item><instanceId>i-0bbbbbbbbbbbbbbb2</instanceId>"
    "<instanceState><code>80</code><name>stopped</name></instanceState>"
    "<instanceType>t3.small</instanceType><tagSet>"
    "<item><key>acme:env</key><value>other</value></item>"
    "</tagSet></item></instancesSet></item></reservationSet>"
    "</DescribeInstancesResponse>";

struct fake {
	char	*sent;		/* the last request body */
	int	 calls;
};

static int
fake_send(void *arg, struct aws_response *resp, const struct aws_http_request *req)
{
	struct fake *fk = arg;

	fk->calls++;
	free(fk->sent);
	fk->sent = xstrndup(req->body != NULL ? req->body : "", req->body_len);
	resp->status = 200;
	return buf_add(&resp->body, page_xml, strlen(page_xml));
}

static const struct aws_transport fake_transport = { fake_send };

struct env {
	struct fake			 fk;
	struct fakeaws			 fa;
	struct ec2_client		*ec2;
};

static int
setup(void **state)
{
	struct env *e = xcalloc(1, sizeof(*e));

	fakeaws_open(&e->fa, &fake_transport, &e->fk, 1);
	assert_int_equal(ec2_client_new(&e->ec2, e->fa.aws), 0);
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;

	free(e->fk.sent);
	ec2_client_free(e->ec2);
	fakeaws_close(&e->fa);
	free(e);
	return 0;
}

/* Every string a pass does not use is "" (never NULL), no groups. */
static void
assert_slim(const struct ec2_instance *in)
{
	assert_string_equal(in->image_id, "");
	assert_string_equal(in->private_ip, "");
	assert_string_equal(in->subnet_id, "");
	assert_string_equal(in->vpc_id, "");
	assert_string_equal(in->az, "");
	assert_string_equal(in->key_name, "");
	assert_string_equal(in->client_token, "");
	assert_string_equal(in->state_reason, "");
	assert_int_equal(in->nsecurity_groups, 0);
	assert_null(in->security_groups);
}

static void
test_observe__discover_keeps_what_a_pass_uses(void **state)
{
	struct env *e = *state;
	struct observe_tags tags;
	struct observe_instances inst;
	const struct ec2_instance *a, *b;

	assert_int_equal(observe_tags_init(&tags, "envctl"), 0);
	assert_int_equal(observe_instances_discover(&inst, e->ec2, &tags, "c-1"), 0);
	/* one filtered call: the cluster tag, every state but terminated */
	assert_int_equal(e->fk.calls, 1);
	assert_int_equal(inst.pages, 1);
	assert_non_null(strstr(e->fk.sent, "Filter.1.Name=tag%3Aenvctl%3Acluster"));
	assert_non_null(strstr(e->fk.sent, "Filter.1.Value.1=c-1"));
	assert_non_null(strstr(e->fk.sent, "Filter.2.Name=instance-state-name"));
	assert_null(strstr(e->fk.sent, "=terminated"));
	assert_non_null(strstr(e->fk.sent, "MaxResults=1000"));
	assert_int_equal(inst.n, 2);

	a = &inst.v[0];
	assert_string_equal(a->id, "i-0aaaaaaaaaaaaaaa1");
	assert_string_equal(a->state, "running");
	assert_int_equal(a->state_code, 16);
	assert_string_equal(a->type, "t3.medium");
	assert_string_equal(a->public_ip, "198.51.100.7");
	assert_int_equal(a->launched, 1709288430);	/* 2024-03-01T10:20:30Z */
	assert_int_equal(a->market, EC2_MARKET_SPOT);
	assert_slim(a);
	/* the six prefixed tags only, keys interned (tags' own strings) */
	assert_int_equal(a->ntags, 6);
	assert_string_equal(ec2_instance_tag(a, tags.managed), "true");
	assert_string_equal(ec2_instance_tag(a, tags.cluster), "c-1");
	assert_string_equal(ec2_instance_tag(a, tags.env), "web-alice");
	assert_string_equal(ec2_instance_tag(a, tags.env_id),
	    "6e98491f-002e-47d9-ab90-234a2bc918e9");
	assert_string_equal(ec2_instance_tag(a, tags.spec_hash), "v1:aaaaaaaaaaaaaaaa");
	assert_string_equal(ec2_instance_tag(a, tags.workspace), "team-a");
	assert_null(ec2_instance_tag(a, "Name"));
	assert_null(ec2_instance_tag(a, "cost-center"));
	assert_null(ec2_instance_tag(a, "envctl:other"));
	for (size_t i = 0; i < a->ntags; i++)
		assert_true(a->tags[i].key == tags.managed ||
		    a->tags[i].key == tags.cluster || a->tags[i].key == tags.env ||
		    a->tags[i].key == tags.env_id ||
		    a->tags[i].key == tags.spec_hash ||
		    a->tags[i].key == tags.workspace);

	b = &inst.v[1];
	assert_string_equal(b->id, "i-0bbbbbbbbbbbbbbb2");
	assert_string_equal(b->state, "stopped");
	assert_string_equal(b->type, "t3.small");
	assert_string_equal(b->public_ip, "");
	assert_int_equal(b->launched, 0);
	assert_int_equal(b->market, EC2_MARKET_ON_DEMAND);
	assert_slim(b);
	assert_int_equal(b->ntags, 0);	/* acme:env is not under "envctl" */
	assert_null(b->tags);
	observe_instances_dispose(&inst);
	assert_int_equal(inst.n, 0);
	assert_null(inst.v);
}

/* Another prefix keeps other tags; the plan inputs read the slim copies. */
static void
test_observe__prefix_and_plan_instances(void **state)
{
	struct env *e = *state;
	struct observe_tags tags, env_tags;
	struct observe_instances all, part;
	struct plan_instance *pi = NULL;
	const char *prot[] = { "i-0aaaaaaaaaaaaaaa1" };

	assert_int_equal(observe_tags_init(&tags, "acme"), 0);
	assert_int_equal(observe_instances_discover(&part, e->ec2, &tags, "c-1"), 0);
	assert_non_null(strstr(e->fk.sent, "Filter.1.Name=tag%3Aacme%3Acluster"));
	assert_int_equal(part.n, 2);
	assert_int_equal(part.v[0].ntags, 0);
	assert_int_equal(part.v[1].ntags, 1);
	assert_ptr_equal(part.v[1].tags[0].key, tags.env);
	assert_string_equal(part.v[1].tags[0].value, "other");
	observe_instances_dispose(&part);

	/* two regions' worth moved into one set, then planned */
	assert_int_equal(observe_tags_init(&env_tags, "envctl"), 0);
	memset(&all, 0, sizeof(all));
	assert_int_equal(observe_instances_discover(&part, e->ec2, &env_tags, "c-1"), 0);
	observe_instances_move(&all, &part);
	assert_int_equal(observe_instances_discover(&part, e->ec2, &env_tags, "c-1"), 0);
	observe_instances_move(&all, &part);
	assert_int_equal(all.n, 4);
	assert_int_equal(all.pages, 2);
	assert_int_equal(part.n, 0);
	observe_plan_instances(&pi, &all, &env_tags, prot, 1);
	assert_string_equal(pi[0].instance_id, "i-0aaaaaaaaaaaaaaa1");
	assert_int_equal(pi[0].state, PLAN_INSTANCE_RUNNING);
	assert_true(pi[0].managed);
	assert_string_equal(pi[0].cluster_id, "c-1");
	assert_string_equal(pi[0].env_name, "web-alice");
	assert_string_equal(pi[0].env_id, "6e98491f-002e-47d9-ab90-234a2bc918e9");
	assert_string_equal(pi[0].spec_hash, "v1:aaaaaaaaaaaaaaaa");
	assert_int_equal(pi[0].launch_time, 1709288430);
	assert_string_equal(pi[0].market, "spot");
	assert_true(pi[0].termination_protection);
	assert_int_equal(pi[3].state, PLAN_INSTANCE_STOPPED);
	assert_false(pi[3].managed);
	assert_null(pi[3].env_name);
	assert_false(pi[3].termination_protection);
	assert_string_equal(pi[2].instance_id, "i-0aaaaaaaaaaaaaaa1");
	free(pi);
	observe_instances_dispose(&all);
}

/* A pass's brief rows as plan records: every field, strings borrowed. */
static void
test_observe__plan_records(void **state)
{
	const struct store_brief live[] = {
		{ .id = "11111111-1111-1111-1111-111111111111", .name = "web",
		  .spec_hash = "v1:aa", .instance_id = "i-01", .region = "eu-west-1",
		  .next_attempt_at = 1700000300, .launched_at = 1700000100,
		  .ready_at = 1700000200, .created_at = 1700000000, .attempts = 4,
		  .status = STORE_STATUS_READY, .stage = STORE_STAGE_DONE },
		{ .id = "22222222-2222-2222-2222-222222222222", .name = "db",
		  .attempts = -1, .status = STORE_STATUS_TERMINATING,
		  .stage = STORE_STAGE_TAGGED, .ttl_expired = true },
	};
	const struct store_brief ended[] = {
		{ .id = "33333333-3333-3333-3333-333333333333", .name = "web",
		  .spec_hash = "v1:bb", .created_at = 1600000000,
		  .status = STORE_STATUS_TERMINATED, .stage = STORE_STAGE_SG_READY,
		  .ttl_expired = true, .has_leftovers = true },
	};
	struct plan_record *r;
	size_t n;

	(void)state;
	observe_plan_records(&r, &n, live, 2, ended, 1);
	assert_int_equal(n, 3);
	assert_ptr_equal(r[0].env_id, live[0].id);
	assert_ptr_equal(r[0].name, live[0].name);
	assert_ptr_equal(r[0].spec_hash, live[0].spec_hash);
	assert_ptr_equal(r[0].instance_id, live[0].instance_id);
	assert_int_equal(r[0].status, PLAN_STATUS_READY);
	assert_int_equal(r[0].stage, PLAN_STAGE_DONE);
	assert_int_equal(r[0].attempts, 4);
	assert_int_equal(r[0].next_attempt_at, 1700000300);
	assert_int_equal(r[0].launched_at, 1700000100);
	assert_int_equal(r[0].ready_at, 1700000200);
	assert_int_equal(r[0].created_at, 1700000000);
	assert_false(r[0].ttl_expired);
	assert_false(r[0].has_leftovers);
	assert_ptr_equal(r[1].env_id, live[1].id);
	assert_int_equal(r[1].status, PLAN_STATUS_TERMINATING);
	assert_int_equal(r[1].stage, PLAN_STAGE_TAGGED);
	assert_int_equal(r[1].attempts, 0);
	assert_null(r[1].spec_hash);
	assert_null(r[1].instance_id);
	assert_true(r[1].ttl_expired);
	assert_false(r[1].has_leftovers);
	assert_ptr_equal(r[2].env_id, ended[0].id);
	assert_int_equal(r[2].status, PLAN_STATUS_TERMINATED);
	assert_int_equal(r[2].stage, PLAN_STAGE_SG_READY);
	assert_int_equal(r[2].created_at, 1600000000);
	assert_true(r[2].ttl_expired);
	assert_true(r[2].has_leftovers);
	free(r);

	observe_plan_records(&r, &n, NULL, 0, NULL, 0);
	assert_int_equal(n, 0);
	free(r);
}

/*
 * The stage table: every stored stage becomes the planned stage of the
 * same name (a stage inserted on one side only fails here, beyond the
 * count the build asserts), and a value that is no stage is refused.
 */
static void
test_observe__stage_map(void **state)
{
	enum plan_record_stage ps;
	unsigned s;

	(void)state;
	for (s = 0; s < STORE_STAGE_COUNT; s++) {
		ps = PLAN_STAGE_COUNT;
		assert_int_equal(observe_plan_stage(&ps, s), 0);
		assert_true(ps < PLAN_STAGE_COUNT);
		assert_string_equal(plan_stage_name(ps),
		    store_stage_str((enum store_stage)s));
	}
	assert_int_equal(observe_plan_stage(&ps, STORE_STAGE_COUNT), ERR_INVALID);
	assert_int_equal(observe_plan_stage(&ps, 255), ERR_INVALID);
}

/* A shutdown from inside, by EC2's documented stateReason values. */
static void
test_observe__idle_shutdown(void **state)
{
	static const char in[] = "Client.InstanceInitiatedShutdown: Instance "
	    "initiated shutdown";

	(void)state;
	assert_true(observe_idle_shutdown("terminated", in));
	assert_true(observe_idle_shutdown("shutting-down", in));
	assert_true(observe_idle_shutdown("terminated",
	    "Client.InstanceInitiatedShutdown"));
	/* not going away: a stop from inside keeps the disk (§6.8) */
	assert_false(observe_idle_shutdown("stopped", in));
	assert_false(observe_idle_shutdown("running", in));
	assert_false(observe_idle_shutdown("terminated",
	    "Client.UserInitiatedShutdown: User initiated shutdown"));
	assert_false(observe_idle_shutdown("terminated",
	    "Server.SpotInstanceTermination: Spot instance termination"));
	assert_false(observe_idle_shutdown("terminated",
	    "Client.InstanceInitiatedShutdownX"));
	assert_false(observe_idle_shutdown("terminated", ""));
	assert_false(observe_idle_shutdown("terminated", NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_observe__discover_keeps_what_a_pass_uses, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_observe__prefix_and_plan_instances, setup, teardown),
		cmocka_unit_test(test_observe__plan_records),
		cmocka_unit_test(test_observe__stage_map),
		cmocka_unit_test(test_observe__idle_shutdown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
