/*
 * aws_svc_it.c - drives the EC2 and S3 clients against moto behind the
 * fault proxy (tests/harness/with-aws.sh).  Each subcommand is one step
 * of a scenario in aws_svc_it.py, which scripts the proxy and reads
 * back what was written with the aws CLI (an independent client).
 *
 *   calls BUCKET PROFILE     every EC2/S3 call once; prints key=value lines
 *   run TOKEN TYPE [TAG]     one RunInstances; prints id=..., or code=...
 *   state ID                 DescribeInstances by id; prints state=... or code=...
 *   protection ID            termination protection, then TerminateInstances
 *   count CLUSTER            walk every page with the cluster filter
 *   ids CLUSTER              the same; prints ids=ID,ID,... (as read, in
 *                            order, duplicates kept) and pages=N
 *   storm N                  N DescribeInstances without sleeping between
 *                            retries, own retry quota; prints attempts per call
 *   paced LIMITS T D R TAG   T threads, each with its own client, all sharing
 *                            one pacer of LIMITS (ec2_rate_limits syntax, or
 *                            "off"), make D DescribeInstances and R
 *                            RunInstances (tagged it-paced=TAG) between them;
 *                            prints ok, failed, throttled, seconds
 *
 * Endpoint, region and credentials come from the environment.
 * Exit 0 when every check passed, 1 (with a message) otherwise.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws.h"
#include "aws_int.h"
#include "buf.h"
#include "creds.h"
#include "ec2.h"
#include "err.h"
#include "mem.h"
#include "s3.h"

static int failures;

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", \
		    __FILE__, __LINE__, #cond, err_get());		\
		failures++;						\
	}								\
} while (0)

#define MUST(call) do {							\
	int rc_ = (call);						\
	if (rc_ < 0) {							\
		fprintf(stderr, "%s:%d: %s failed: %d: %s\n", __FILE__,	\
		    __LINE__, #call, rc_, err_get());			\
		exit(1);						\
	}								\
} while (0)

struct ctx {
	struct aws_creds_provider	*creds;
	struct aws_retry_quota		*quota;
	struct aws_client		*aws;
	struct ec2_client		*ec2;
	struct s3_client		*s3;
};

static void
nosleep(void *arg, long ms)
{
	(void)arg;
	(void)ms;
}

static double
half(void *arg)
{
	(void)arg;
	return 0.05;	/* short, deterministic backoff */
}

static void
ctx_open(struct ctx *c, int storm)
{
	struct aws_client_opts o;

	memset(c, 0, sizeof(*c));
	MUST(aws_creds_provider_new(&c->creds, NULL));
	memset(&o, 0, sizeof(o));
	o.creds = c->creds;
	o.rand = half;
	o.user_agent = "envctl-it/aws_svc";
	if (storm) {
		c->quota = aws_retry_quota_new(AWS_RETRY_QUOTA_MAX);
		o.quota = c->quota;
		o.sleep_ms = nosleep;
	}
	MUST(aws_client_new(&c->aws, &o));
	MUST(ec2_client_new(&c->ec2, c->aws));
	MUST(s3_client_new(&c->s3, c->aws));
}

static void
ctx_close(struct ctx *c)
{
	s3_client_free(c->s3);
	ec2_client_free(c->ec2);
	aws_client_free(c->aws);
	aws_retry_quota_free(c->quota);
	aws_creds_provider_free(c->creds);
}

/* ---- calls: every call once ---- */

static const struct ec2_kv env_tags[] = {
	{ "envctl:managed", "true" },
	{ "envctl:cluster", "it-cluster" },
	{ "envctl:env", "web-alice" },
	{ "Name", "envctl-web-alice" },
};

static const char pubkey[] = "ssh-ed25519 "
    "AAAAC3NzaC1lZDI1NTE5AAAAIDHM9n0Ckk4eUpl3K2o5AxcPiqtbHgXyDlCxQ6lAUhrS it@envctl";
static const char privkey[] = "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n";

static void
calls_s3(struct ctx *c, const char *bucket)
{
	struct s3_put_opts sse = { .sse = S3_SSE_AES256, .secret = 1 };
	struct s3_put_opts kms = { .sse = S3_SSE_KMS, .content_type = "text/plain" };
	struct s3_object_info info;
	struct s3_object_list l;
	char *data = NULL, *url = NULL, *token;
	size_t len = 0, seen = 0;

	MUST(s3_bucket_create(c->s3, bucket));
	MUST(s3_bucket_create(c->s3, bucket));	/* owned by us: success */
	MUST(s3_object_put(c->s3, bucket, "envctl/e1/id_ed25519", privkey,
	    strlen(privkey), &sse));
	MUST(s3_object_put(c->s3, bucket, "envctl/e1/id_ed25519.pub", pubkey,
	    strlen(pubkey), &kms));
	MUST(s3_object_put(c->s3, bucket, "envctl/e1/odd name+%.txt", "x", 1, NULL));
	{
		/* Big enough for curl's "Expect: 100-continue" through the proxy. */
		size_t big = 256 * 1024;
		char *blob = malloc(big);

		if (blob == NULL)
			exit(1);
		for (size_t i = 0; i < big; i++)
			blob[i] = (char)('a' + i % 26);
		MUST(s3_object_put(c->s3, bucket, "big/blob", blob, big, &sse));
		MUST(s3_object_get(&data, &len, c->s3, bucket, "big/blob", big, 0));
		CHECK(len == big && memcmp(data, blob, big) == 0);
		free(data);
		MUST(s3_object_delete(c->s3, bucket, "big/blob"));
		free(blob);
	}
	MUST(s3_object_head(&info, c->s3, bucket, "envctl/e1/id_ed25519"));
	CHECK(info.size == (long long)strlen(privkey));
	CHECK(strcmp(info.sse, "AES256") == 0);
	MUST(s3_object_get(&data, &len, c->s3, bucket, "envctl/e1/id_ed25519",
	    4096, 1));
	CHECK(len == strlen(privkey) && memcmp(data, privkey, len) == 0);
	mem_wipe(data, len);
	free(data);
	MUST(s3_object_get(&data, &len, c->s3, bucket, "envctl/e1/odd name+%.txt",
	    16, 0));
	CHECK(len == 1 && data[0] == 'x');
	free(data);
	CHECK(s3_object_get(&data, &len, c->s3, bucket, "envctl/e1/id_ed25519",
	    10, 1) == ERR_LIMIT);
	CHECK(s3_object_get(&data, &len, c->s3, bucket, "envctl/none", 10, 0) ==
	    ERR_NOTFOUND);
	CHECK(s3_object_head(&info, c->s3, bucket, "envctl/none") == ERR_NOTFOUND);

	/* List one key per page: three pages. */
	token = NULL;
	for (int page = 0; page < 10; page++) {
		MUST(s3_objects_list(&l, c->s3, bucket, "envctl/e1/", token, 1));
		free(token);
		seen += l.n;
		token = l.next_token;
		l.next_token = NULL;
		s3_object_list_dispose(&l);
		if (token == NULL)
			break;
	}
	CHECK(seen == 3);
	MUST(s3_objects_list(&l, c->s3, bucket, "nothing/", NULL, 0));
	CHECK(l.n == 0 && l.next_token == NULL);
	s3_object_list_dispose(&l);

	MUST(s3_object_delete(c->s3, bucket, "envctl/e1/odd name+%.txt"));
	MUST(s3_object_delete(c->s3, bucket, "envctl/e1/odd name+%.txt"));
	MUST(s3_object_delete(c->s3, bucket, "never/was"));

	MUST(s3_url_presign(&url, c->s3, "GET", bucket, "envctl/e1/id_ed25519.pub",
	    300));
	printf("presigned_get=%s\n", url);
	mem_free_secret(url);
	MUST(s3_url_presign(&url, c->s3, "PUT", bucket, "envctl/e1/ready", 300));
	printf("presigned_put=%s\n", url);
	mem_free_secret(url);
}

static void
newest_image(char *id, size_t idsz, char *root, size_t rootsz, struct ctx *c)
{
	struct ec2_image_list imgs;
	const char *const owners[] = { "099720109477" };
	const struct ec2_filter f[] = {
		{ "name", (const char *const[]){ "ubuntu/images/*" }, 1 },
		{ "architecture", (const char *const[]){ "x86_64" }, 1 },
	};
	struct ec2_describe_images_input in = {
		.owners = owners, .nowners = 1, .filters = f, .nfilters = 2,
	};
	size_t best = 0;

	MUST(ec2_images_describe(&imgs, c->ec2, &in));
	CHECK(imgs.n > 0);
	if (imgs.n == 0)
		exit(1);
	for (size_t i = 0; i < imgs.n; i++) {
		CHECK(strcmp(imgs.v[i].owner_id, "099720109477") == 0);
		CHECK(strncmp(imgs.v[i].name, "ubuntu/images/", 14) == 0);
		CHECK(imgs.v[i].created > 0);
		if (imgs.v[i].created > imgs.v[best].created ||
		    (imgs.v[i].created == imgs.v[best].created &&
		    strcmp(imgs.v[i].name, imgs.v[best].name) > 0))
			best = i;
	}
	snprintf(id, idsz, "%s", imgs.v[best].id);
	snprintf(root, rootsz, "%s", imgs.v[best].root_device_name);
	ec2_image_list_dispose(&imgs);
}

static int
find_in_page(const struct ec2_instance *v, size_t n, void *arg)
{
	const char *want = ((const char **)arg)[0];

	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].id, want) == 0)
			((const char **)arg)[1] = "found";
	return 0;
}

static void
calls_ec2(struct ctx *c, const char *profile)
{
	static const char ud[] = "#!/bin/sh\necho 'envctl it' > /tmp/marker\n";
	const struct ec2_ingress_rule rules[] = {
		{ "tcp", 22, 22, "203.0.113.7/32", "ssh" },
		{ "tcp", 8080, 8080, "203.0.113.0/24", NULL },
	};
	struct ec2_security_group_list sgs;
	struct ec2_key_pair kp;
	struct ec2_key_pair_list kps;
	struct ec2_run_input in;
	struct ec2_instance inst, spot;
	struct ec2_instance_page page;
	struct ec2_instance_status_list st;
	struct ec2_spot_price_list prices;
	char image[32], rootdev[64], sg[32], sg2[32], *console = NULL;
	const char *sgids[1];
	const char *ids[2];
	const char *find[2];
	size_t clen = 0;
	int prot = -1, npages = 0;

	newest_image(image, sizeof(image), rootdev, sizeof(rootdev), c);
	printf("image=%s\nroot_device=%s\n", image, rootdev);

	MUST(ec2_key_pair_import(&kp, c->ec2, "envctl-web-alice", pubkey,
	    env_tags, 4));
	CHECK(strcmp(kp.name, "envctl-web-alice") == 0 && kp.fingerprint[0] != '\0');
	CHECK(ec2_key_pair_import(NULL, c->ec2, "envctl-web-alice", pubkey,
	    NULL, 0) == ERR_EXISTS);
	MUST(ec2_key_pair_import(NULL, c->ec2, "envctl-temp", pubkey, NULL, 0));
	MUST(ec2_key_pairs_describe(&kps, c->ec2,
	    (const char *const[]){ "envctl-web-alice" }, 1));
	CHECK(kps.n == 1 && strcmp(kps.v[0].fingerprint, kp.fingerprint) == 0);
	ec2_key_pair_list_dispose(&kps);
	MUST(ec2_key_pair_delete(c->ec2, "envctl-temp"));
	MUST(ec2_key_pair_delete(c->ec2, "envctl-temp"));	/* gone: success */
	printf("key_name=%s\n", kp.name);

	MUST(ec2_security_group_create(sg, sizeof(sg), c->ec2, "envctl-web-alice",
	    "envctl environment web-alice", NULL, env_tags, 4));
	CHECK(ec2_security_group_create(sg2, sizeof(sg2), c->ec2,
	    "envctl-web-alice", "again", NULL, NULL, 0) == ERR_EXISTS);
	MUST(ec2_security_group_ingress_authorize(c->ec2, sg, rules, 2));
	MUST(ec2_security_group_ingress_authorize(c->ec2, sg, rules, 2));
	MUST(ec2_security_group_ingress_authorize(c->ec2, sg, rules, 1));
	MUST(ec2_security_group_ingress_revoke(c->ec2, sg, &rules[1], 1));
	MUST(ec2_security_group_ingress_revoke(c->ec2, sg, &rules[1], 1));
	sgids[0] = sg;
	MUST(ec2_security_groups_describe(&sgs, c->ec2, sgids, 1, NULL, 0));
	CHECK(sgs.n == 1 && sgs.v[0].ningress == 1);
	if (sgs.n == 1 && sgs.v[0].ningress == 1) {
		CHECK(sgs.v[0].ingress[0].from_port == 22);
		CHECK(strcmp(sgs.v[0].ingress[0].cidr, "203.0.113.7/32") == 0);
	}
	ec2_security_group_list_dispose(&sgs);
	MUST(ec2_security_group_create(sg2, sizeof(sg2), c->ec2, "envctl-temp",
	    "deleted below", NULL, NULL, 0));
	MUST(ec2_security_group_delete(c->ec2, sg2));
	CHECK(ec2_security_group_delete(c->ec2, sg2) == ERR_NOTFOUND);
	printf("security_group=%s\ndeleted_group=%s\n", sg, sg2);

	memset(&in, 0, sizeof(in));
	in.image_id = image;
	in.instance_type = "t3.medium";
	in.client_token = "it-web-alice-attempt-1";
	in.security_group_ids = sgids;
	in.nsecurity_group_ids = 1;
	in.key_name = kp.name;
	in.iam_profile_name = profile;
	in.user_data = ud;
	in.user_data_len = strlen(ud);
	in.tags = env_tags;
	in.ntags = 4;
	in.root_device_name = rootdev;
	in.root_size_gb = 30;
	in.metadata_hop_limit = 2;
	MUST(ec2_instance_run(&inst, c->ec2, &in));
	CHECK(strncmp(inst.id, "i-", 2) == 0);
	CHECK(strcmp(inst.type, "t3.medium") == 0);
	CHECK(strcmp(inst.image_id, image) == 0);
	printf("instance=%s\n", inst.id);

	in.client_token = "it-web-alice-spot-1";
	in.instance_type = "t3.small";
	in.spot = 1;
	in.spot_max_price = "0.05";
	MUST(ec2_instance_run(&spot, c->ec2, &in));
	printf("spot_instance=%s\n", spot.id);

	/* Discovery: the cluster filter, every page. */
	find[0] = inst.id;
	find[1] = NULL;
	{
		const char *const states[] = { "pending", "running", "stopping",
		    "stopped", "shutting-down" };
		const struct ec2_filter f[] = {
			{ "tag:envctl:cluster", (const char *const[]){ "it-cluster" }, 1 },
			{ "instance-state-name", states, 5 },
		};
		struct ec2_describe_instances_input din = {
			.filters = f, .nfilters = 2,
		};

		MUST(ec2_instances_describe(c->ec2, &din, find_in_page, find,
		    &npages));
	}
	CHECK(find[1] != NULL);
	CHECK(npages == 1);

	ids[0] = inst.id;
	ids[1] = spot.id;
	{
		struct ec2_describe_instances_input din = {
			.instance_ids = ids, .ninstance_ids = 2,
		};

		MUST(ec2_instances_describe_page(&page, c->ec2, &din, NULL));
	}
	CHECK(page.n == 2);
	for (size_t i = 0; i < page.n; i++) {
		const struct ec2_instance *x = &page.v[i];
		int is_spot = strcmp(x->id, spot.id) == 0;

		CHECK(strcmp(x->state, "running") == 0 ||
		    strcmp(x->state, "pending") == 0);
		CHECK(x->market == (is_spot ? EC2_MARKET_SPOT : EC2_MARKET_ON_DEMAND));
		CHECK(strcmp(x->key_name, "envctl-web-alice") == 0);
		CHECK(x->nsecurity_groups == 1 &&
		    strcmp(x->security_groups[0], sg) == 0);
		CHECK(x->private_ip[0] != '\0' && x->az[0] != '\0' &&
		    x->subnet_id[0] != '\0');
		CHECK(x->launched > 0);
		CHECK(ec2_instance_tag(x, "envctl:env") != NULL &&
		    strcmp(ec2_instance_tag(x, "envctl:env"), "web-alice") == 0);
	}
	ec2_instance_page_dispose(&page);

	MUST(ec2_tags_create(c->ec2, ids, 1,
	    (const struct ec2_kv[]){ { "envctl:spec-hash", "abc123" } }, 1));

	MUST(ec2_instance_status_describe(&st, c->ec2, ids, 1));
	CHECK(st.n == 1 && strcmp(st.v[0].id, inst.id) == 0);
	CHECK(st.n == 1 && st.v[0].system_status[0] != '\0' &&
	    st.v[0].instance_status[0] != '\0');
	ec2_instance_status_list_dispose(&st);

	MUST(ec2_instance_termination_protection(&prot, c->ec2, inst.id));
	CHECK(prot == 0);

	MUST(ec2_console_output_get(&console, &clen, c->ec2, inst.id));
	CHECK(clen > 0 && strlen(console) == clen);
	CHECK(strstr(console, "Linux") != NULL);
	free(console);

	MUST(ec2_spot_price_history(&prices, c->ec2, "t3.medium", NULL, 0, 10));
	CHECK(prices.n > 0);
	for (size_t i = 0; i < prices.n; i++)
		CHECK(strcmp(prices.v[i].instance_type, "t3.medium") == 0 &&
		    strtod(prices.v[i].price, NULL) > 0);
	ec2_spot_price_list_dispose(&prices);

	MUST(ec2_instances_terminate(c->ec2, &ids[1], 1));
	CHECK(ec2_instances_terminate(c->ec2,
	    (const char *const[]){ "i-0123456789abcdef0" }, 1) == ERR_NOTFOUND);
	CHECK(strcmp(aws_client_last_error(c->aws)->code,
	    "InvalidInstanceID.NotFound") == 0);
	ec2_instance_dispose(&inst);
	ec2_instance_dispose(&spot);
}

static int
cmd_calls(int argc, char **argv)
{
	struct ctx c;

	if (argc != 4) {
		fprintf(stderr, "usage: calls BUCKET PROFILE\n");
		return 2;
	}
	ctx_open(&c, 0);
	calls_s3(&c, argv[2]);
	calls_ec2(&c, argv[3]);
	ctx_close(&c);
	return failures ? 1 : 0;
}

/* ---- single steps for the fault scenarios ---- */

static int
cmd_run(int argc, char **argv)
{
	struct ctx c;
	struct ec2_run_input in;
	struct ec2_instance inst;
	const struct ec2_kv tags[] = { { "it-run", argc > 4 ? argv[4] : "x" } };
	int rc;

	if (argc < 4) {
		fprintf(stderr, "usage: run TOKEN TYPE [TAG]\n");
		return 2;
	}
	ctx_open(&c, 0);
	memset(&in, 0, sizeof(in));
	in.image_id = "ami-12c6146b";
	in.instance_type = argv[3];
	in.client_token = argv[2];
	in.root_size_gb = 8;	/* moto insists on a size in the mapping */
	in.tags = tags;
	in.ntags = 1;
	rc = ec2_instance_run(&inst, c.ec2, &in);
	if (rc == 0) {
		printf("id=%s\nstate=%s\n", inst.id, inst.state);
		ec2_instance_dispose(&inst);
	} else
		printf("code=%s\nerr=%d\nattempts=%d\n",
		    aws_client_last_error(c.aws)->code, rc,
		    aws_client_last_error(c.aws)->attempts);
	ctx_close(&c);
	return 0;
}

static int
cmd_state(int argc, char **argv)
{
	struct ctx c;
	struct ec2_instance_page page;
	const char *ids[1];
	struct ec2_describe_instances_input in = { .instance_ids = ids,
	    .ninstance_ids = 1 };
	int rc;

	if (argc != 3)
		return 2;
	ids[0] = argv[2];
	ctx_open(&c, 0);
	rc = ec2_instances_describe_page(&page, c.ec2, &in, NULL);
	if (rc == 0) {
		printf("n=%zu\nstate=%s\n", page.n, page.n ? page.v[0].state : "");
		ec2_instance_page_dispose(&page);
	} else
		printf("code=%s\n", aws_client_last_error(c.aws)->code);
	ctx_close(&c);
	return 0;
}

/* Read termination protection of ID, then try to terminate it. */
static int
cmd_protection(int argc, char **argv)
{
	struct ctx c;
	const char *ids[1];
	int prot = -1, rc;

	if (argc != 3)
		return 2;
	ids[0] = argv[2];
	ctx_open(&c, 0);
	MUST(ec2_instance_termination_protection(&prot, c.ec2, argv[2]));
	printf("protection=%d\n", prot);
	rc = ec2_instances_terminate(c.ec2, ids, 1);
	printf("terminate=%d\ncode=%s\n", rc,
	    rc < 0 ? aws_client_last_error(c.aws)->code : "");
	ctx_close(&c);
	return 0;
}

static int
count_page(const struct ec2_instance *v, size_t n, void *arg)
{
	(void)v;
	*(size_t *)arg += n;
	return 0;
}

static int
cmd_count(int argc, char **argv)
{
	struct ctx c;
	const struct ec2_filter f[] = {
		{ "tag:envctl:cluster", (const char *const[]){ argv[2] }, 1 },
	};
	struct ec2_describe_instances_input in = { .filters = f, .nfilters = 1 };
	size_t n = 0;
	int pages = 0;

	if (argc != 3)
		return 2;
	ctx_open(&c, 0);
	MUST(ec2_instances_describe(c.ec2, &in, count_page, &n, &pages));
	printf("instances=%zu\npages=%d\n", n, pages);
	ctx_close(&c);
	return 0;
}

static int
ids_page(const struct ec2_instance *v, size_t n, void *arg)
{
	struct buf *b = arg;

	for (size_t i = 0; i < n; i++)
		if (buf_printf(b, "%s%s", b->len > 0 ? "," : "", v[i].id) < 0)
			return ERR_LIMIT;
	return 0;
}

static int
cmd_ids(int argc, char **argv)
{
	struct ctx c;
	const struct ec2_filter f[] = {
		{ "tag:envctl:cluster", (const char *const[]){ argv[2] }, 1 },
	};
	struct ec2_describe_instances_input in = { .filters = f, .nfilters = 1 };
	struct buf ids;
	int pages = 0;

	if (argc != 3)
		return 2;
	buf_init(&ids, 1024 * 1024);
	ctx_open(&c, 0);
	MUST(ec2_instances_describe(c.ec2, &in, ids_page, &ids, &pages));
	printf("ids=%s\npages=%d\n", buf_cstr(&ids), pages);
	buf_dispose(&ids);
	ctx_close(&c);
	return 0;
}

static int
cmd_storm(int argc, char **argv)
{
	struct ctx c;
	struct ec2_instance_page page;
	int n, ok = 0, sent = 0;

	if (argc != 3)
		return 2;
	n = (int)strtol(argv[2], NULL, 10);
	ctx_open(&c, 1);
	printf("quota_before=%d\n", aws_retry_quota_available(c.quota));
	printf("attempts=");
	for (int i = 0; i < n; i++) {
		int rc = ec2_instances_describe_page(&page, c.ec2, NULL, NULL);

		if (rc == 0) {
			ok++;
			ec2_instance_page_dispose(&page);
		} else
			CHECK(rc == ERR_THROTTLED);
		printf("%s%d", i ? "," : "", aws_client_last_error(c.aws)->attempts);
		sent += rc == 0 ? 1 : aws_client_last_error(c.aws)->attempts;
	}
	printf("\nok=%d\nsent=%d\nquota_after=%d\n", ok, sent,
	    aws_retry_quota_available(c.quota));
	ctx_close(&c);
	return failures ? 1 : 0;
}

/* ---- paced: a burst from several threads through one pacer ---- */

struct paced {
	struct aws_pacer	*pacer;
	const char		*tag;
	pthread_mutex_t		 lock;
	int			 next_d, next_r, nd, nr;
	int			 ok, failed;
	unsigned long		 throttled, attempts;
};

static void
paced_one(struct paced *p, struct ctx *c, int run, int i)
{
	const struct ec2_kv tags[] = { { "it-paced", p->tag } };
	struct ec2_instance_page page;
	struct ec2_run_input in;
	struct ec2_instance inst;
	char token[64];
	int rc;

	if (run) {
		memset(&in, 0, sizeof(in));
		snprintf(token, sizeof(token), "paced-%s-%d", p->tag, i);
		in.image_id = "ami-12c6146b";
		in.instance_type = "t3.micro";
		in.client_token = token;
		in.root_size_gb = 8;
		in.tags = tags;
		in.ntags = 1;
		if ((rc = ec2_instance_run(&inst, c->ec2, &in)) == 0)
			ec2_instance_dispose(&inst);
	} else if ((rc = ec2_instances_describe_page(&page, c->ec2, NULL,
	    NULL)) == 0)
		ec2_instance_page_dispose(&page);
	pthread_mutex_lock(&p->lock);
	if (rc == 0)
		p->ok++;
	else {
		p->failed++;
		fprintf(stderr, "paced: %s\n", err_get());
	}
	pthread_mutex_unlock(&p->lock);
}

static void *
paced_worker(void *arg)
{
	struct paced *p = arg;
	struct aws_client_opts o;
	struct aws_client_stats st;
	struct ctx c;
	int i, run;

	memset(&c, 0, sizeof(c));
	MUST(aws_creds_provider_new(&c.creds, NULL));
	memset(&o, 0, sizeof(o));
	o.creds = c.creds;
	o.pacer = p->pacer;
	o.user_agent = "envctl-it/aws_svc";
	MUST(aws_client_new(&c.aws, &o));
	MUST(ec2_client_new(&c.ec2, c.aws));
	for (;;) {
		pthread_mutex_lock(&p->lock);
		/* Interleave: a RunInstances after every few describes. */
		run = p->next_r < p->nr && (p->next_d >= p->nd ||
		    p->next_d * p->nr >= p->next_r * p->nd);
		i = run ? p->next_r++ : p->next_d < p->nd ? p->next_d++ : -1;
		pthread_mutex_unlock(&p->lock);
		if (i < 0)
			break;
		paced_one(p, &c, run, i);
	}
	aws_client_stats(&st, c.aws);
	pthread_mutex_lock(&p->lock);
	p->throttled += st.throttled;
	p->attempts += st.attempts;
	pthread_mutex_unlock(&p->lock);
	ctx_close(&c);
	return NULL;
}

static int
cmd_paced(int argc, char **argv)
{
	struct aws_pace_limits l;
	struct paced p;
	struct timespec t0, t1;
	pthread_t tid[16];
	int off, i, nt;

	if (argc != 7)
		return 2;
	memset(&p, 0, sizeof(p));
	pthread_mutex_init(&p.lock, NULL);
	MUST(aws_pace_limits_parse(&l, &off, argv[2]));
	if (!off)
		MUST(aws_pacer_new(&p.pacer, &l));
	nt = (int)strtol(argv[3], NULL, 10);
	if (nt < 1 || nt > 16)
		return 2;
	p.nd = (int)strtol(argv[4], NULL, 10);
	p.nr = (int)strtol(argv[5], NULL, 10);
	p.tag = argv[6];
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < nt; i++)
		CHECK(pthread_create(&tid[i], NULL, paced_worker, &p) == 0);
	for (i = 0; i < nt; i++)
		pthread_join(tid[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("ok=%d\nfailed=%d\nthrottled=%lu\nattempts=%lu\nseconds=%.3f\n",
	    p.ok, p.failed, p.throttled, p.attempts,
	    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	for (i = 0; p.pacer != NULL && i < AWS_PACE_CLASS_COUNT; i++) {
		struct aws_pace_stats st;

		aws_pacer_stats(&st, p.pacer, (enum aws_pace_class)i);
		printf("%s_acquired=%lu\n%s_waited=%lu\n",
		    aws_pace_class_name((enum aws_pace_class)i), st.acquired,
		    aws_pace_class_name((enum aws_pace_class)i), st.waited);
	}
	aws_pacer_free(p.pacer);
	pthread_mutex_destroy(&p.lock);
	return failures ? 1 : 0;
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: aws_svc_it calls|run|state|count|storm ...\n");
		return 2;
	}
	if (strcmp(argv[1], "calls") == 0)
		return cmd_calls(argc, argv);
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc, argv);
	if (strcmp(argv[1], "state") == 0)
		return cmd_state(argc, argv);
	if (strcmp(argv[1], "protection") == 0)
		return cmd_protection(argc, argv);
	if (strcmp(argv[1], "count") == 0)
		return cmd_count(argc, argv);
	if (strcmp(argv[1], "ids") == 0)
		return cmd_ids(argc, argv);
	if (strcmp(argv[1], "storm") == 0)
		return cmd_storm(argc, argv);
	if (strcmp(argv[1], "paced") == 0)
		return cmd_paced(argc, argv);
	fprintf(stderr, "aws_svc_it: unknown step %s\n", argv[1]);
	return 2;
}
