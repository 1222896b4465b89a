/*
 * test_stages.c - the provision and terminate stage machines against the
 * fakes below the pipeline's boundary (fakeworld.h: an in-memory EC2, S3
 * and store linked instead of envctl_aws and envctl_store), so every
 * transition, crash point and rollback path runs in milliseconds without
 * PostgreSQL or moto.  Faults come from the pipeline's own failpoints
 * (docs/failpoints.md) and from AWS errors scripted in the fake; every
 * case asserts what the fake world and the row hold afterwards.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "aws.h"
#include "ec2.h"
#include "err.h"
#include "failpoint.h"
#include "fakeworld.h"
#include "pipeline.h"
#include "s3.h"
#include "spec.h"
#include "store.h"

#define T0		1700000000
#define BACKOFF_BASE	30

static const char web_yaml[] =
    "apiVersion: envctl/v1\n"
    "kind: Environment\n"
    "metadata: {name: web, workspace: team}\n"
    "spec:\n"
    "  region: us-east-1\n"
    "  instance: {type: t3.small, subnets: [subnet-0a, subnet-0b]}\n"
    "  access:\n"
    "    ssh: {allow_from: [203.0.113.0/24]}\n"
    "    ports:\n"
    "      - {port: 3000, allow_from: [198.51.100.0/24]}\n"
    "  bootstrap:\n"
    "    secrets: {TOKEN: {env: ENVCTL_SECRET_STAGES_TOKEN}}\n"
    "  lifecycle: {ready_timeout: 10m}\n"
    "  tags: {owner: stages}\n";

static const char spot_yaml[] =
    "apiVersion: envctl/v1\n"
    "kind: Environment\n"
    "metadata: {name: web}\n"
    "spec:\n"
    "  instance: {type: t3.small, market: spot, spot: {fallback: on-demand}}\n"
    "  access:\n"
    "    ssh: {allow_from: [203.0.113.0/24]}\n";

static time_t now;

static time_t
test_clock(void)
{
	return now;
}

static void
tick(time_t s)
{
	now += s;
	fakeworld.now = fakestore.now = now;
}

/* What the pipeline slept (eventual-consistency waits), in ms; never sleeps. */
static unsigned slept_ms, sleeps;

static void
test_sleep(unsigned ms)
{
	slept_ms += ms;
	sleeps++;
}

/* The world of one test: fakes, specs, a pipeline over them. */
static struct {
	struct spec_entry	*web, *spot;
	struct aws_client	*aws;
	struct ec2_client	*ec2;
	struct store		*st;
	struct pipeline		*p;
	struct pipeline_opts	 o;
} F;

static struct spec_entry *
spec_load(const char *yaml)
{
	struct spec_entry *e = NULL;

	assert_int_equal(spec_entry_parse(&e, NULL, yaml, strlen(yaml), NULL), 0);
	if (!spec_entry_valid(e))
		fail_msg("spec: %s", spec_entry_diag(e, 0)->message);
	return e;
}

/* A new process: a new pipeline over the same world. */
static void
restart(void)
{
	pipeline_free(F.p);
	F.p = NULL;
	assert_int_equal(pipeline_new(&F.p, F.st, F.aws, F.ec2, NULL, &F.o), 0);
}

/*
 * An empty world and store, no failpoint, a clock past every pool the
 * capacity cache remembers (it is process-wide, 300 s), a new pipeline.
 */
static void
fresh(void)
{
	fakeworld_reset();
	F.st = fakestore_reset();
	assert_int_equal(failpoint_configure(""), 0);
	tick(1000);
	slept_ms = sleeps = 0;
	restart();
}

static int
setup(void **state)
{
	struct aws_client_opts ao;

	(void)state;
	memset(&F, 0, sizeof(F));
	F.web = spec_load(web_yaml);
	F.spot = spec_load(spot_yaml);
	memset(&ao, 0, sizeof(ao));
	ao.region = "us-east-1";
	assert_int_equal(aws_client_new(&F.aws, &ao), 0);
	assert_int_equal(ec2_client_new(&F.ec2, F.aws), 0);
	memset(&F.o, 0, sizeof(F.o));
	F.o.bucket = "bkt";
	F.o.s3_prefix = "envctl";
	F.o.cluster_id = "c1";
	F.o.revision = "rev1";
	F.o.ready_checks = PIPELINE_CHECK_STATUS | PIPELINE_CHECK_MARKER;
	plan_config_init(&F.o.plan);
	F.o.plan.cluster_id = "c1";
	F.o.plan.backoff_base = BACKOFF_BASE;
	F.o.plan.backoff_cap = 3600;
	F.o.clock = test_clock;
	F.o.sleep_ms = test_sleep;
	fresh();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	pipeline_free(F.p);
	ec2_client_free(F.ec2);
	aws_client_free(F.aws);
	spec_entry_free(F.web);
	spec_entry_free(F.spot);
	fakeworld_reset();
	fakestore_reset();
	failpoint_configure("");
	return 0;
}

/*
 * Run one job of kind on spec e (NULL: none) and the row of env_id (NULL:
 * none), as a pass would; its result, the stage it reached in stage.
 */
static int
job(enum plan_kind kind, const struct spec_entry *e, const char *env_id,
    char stage[24])
{
	struct store_brief b;
	struct pipeline_job j;
	int error;

	memset(&b, 0, sizeof(b));
	b.id = env_id;
	b.name = "web";
	memset(&j, 0, sizeof(j));
	j.kind = kind;
	j.name = "web";
	j.reason = kind == PLAN_TERMINATE ? "spec removed" : "test";
	j.spec = e != NULL ? spec_entry_spec(e) : NULL;
	j.spec_hash = e != NULL ? spec_entry_hash(e) : NULL;
	j.workspace = "team";
	j.row = env_id != NULL ? &b : NULL;
	j.region = "us-east-1";
	error = pipeline_job_run(F.p, &j);
	assert_int_equal(j.result, error);
	assert_true(error == 0 || j.error != NULL);
	if (stage != NULL)
		snprintf(stage, 24, "%s", j.stage);
	free(j.error);
	return error;
}

static void
fp(const char *spec)
{
	assert_int_equal(failpoint_configure(spec), 0);
}

/* The one row of "web" (asserts it exists); its id copied to id. */
static const struct store_env *
row(char id[STORE_ID_LEN])
{
	const struct store_env *r = fakestore_row_named("web");

	assert_non_null(r);
	if (id != NULL)
		snprintf(id, STORE_ID_LEN, "%s", r->id);
	return r;
}

static const char *
key(const char *id, const char *file)
{
	static char buf[4][160];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "envctl/%s/%s", id, file);
	return buf[i];
}

static const char *
res_name(const char *id)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "envctl-%s", id);
	return buf;
}

/* Nothing of any incarnation left in EC2 or S3. */
static void
assert_world_clean(void)
{
	assert_int_equal(fakeworld_live_instances(), 0);
	assert_int_equal(fakeworld.nsg, 0);
	assert_int_equal(fakeworld.nkp, 0);
	if (fakeworld.nobj != 0)
		fail_msg("S3 still holds %s", fakeworld.obj[0].key);
}

/* Every instance launched was billed, and none is billed any more. */
static void
assert_ledger_closed(void)
{
	size_t i, k, n;

	for (i = 0; i < fakestore.ncost; i++)
		if (fakestore.cost[i].end == 0)
			fail_msg("segment of %s still open",
			    fakestore.cost[i].instance_id);
	for (k = 0; k < fakeworld.ninst; k++) {
		for (i = n = 0; i < fakestore.ncost; i++)
			n += strcmp(fakestore.cost[i].instance_id,
			    fakeworld.inst[k].id) == 0;
		if (n != 2)
			fail_msg("instance %s: %zu segments, want 2",
			    fakeworld.inst[k].id, n);
	}
}

/*
 * The row was rolled back from failed_at after attempts failed attempts
 * because of why (a substring); the world holds nothing of it.
 */
static void
assert_rolled_back(const char *failed_at, const char *why, int attempts)
{
	const struct store_env *r;
	const struct fs_event *ev;
	char id[STORE_ID_LEN], want[96];

	r = row(id);
	assert_int_equal(r->status, STORE_STATUS_ERROR);
	assert_int_equal(r->stage, STORE_STAGE_INIT);
	assert_int_equal(r->attempts, attempts);
	assert_int_equal(r->next_attempt_at,
	    now + plan_backoff_delay(&F.o.plan, (unsigned)attempts));
	assert_non_null(r->error);
	if (strstr(r->error, why) == NULL)
		fail_msg("error '%s' does not say '%s'", r->error, why);
	assert_non_null(r->failed_at_stage);
	assert_string_equal(r->failed_at_stage, failed_at);
	assert_null(r->ssh_key_s3_key);
	assert_null(r->security_group_id);
	assert_int_equal(fakestore_events(id, "remote.provision.error", &ev), 1);
	snprintf(want, sizeof(want), "\"failed_at_stage\":\"%s\"", failed_at);
	assert_non_null(strstr(ev->payload, want));
	snprintf(want, sizeof(want), "\"attempt\":%d", attempts);
	assert_non_null(strstr(ev->payload, want));
	assert_world_clean();
	assert_ledger_closed();
}

/*
 * Exactly one of everything for the row, all agreeing: one live
 * instance tagged with its id, launched with its key pair into its
 * group; the group with exactly the spec's rules; the key pair holding
 * the public half stored in S3; the keys and the secrets in S3 (SSE).
 */
static void
assert_one_of_each(const char *id)
{
	const struct store_env *r = fakestore_row(id);
	const struct fw_instance *in = NULL;
	const struct fw_group *g;
	const struct fw_keypair *kp;
	const struct fw_object *priv, *pub, *sec, *ud;
	char udname[32];
	size_t i;

	assert_non_null(r);
	assert_int_equal(fakeworld_live_instances(), 1);
	for (i = 0; i < fakeworld.ninst; i++)
		if (strcmp(fakeworld.inst[i].state, "terminated") != 0)
			in = &fakeworld.inst[i];
	assert_non_null(in);
	assert_non_null(r->instance_id);
	assert_string_equal(r->instance_id, in->id);
	assert_string_equal(fakeworld_tag(in, "envctl:env-id"), id);
	assert_string_equal(fakeworld_tag(in, "envctl:spec-hash"),
	    spec_entry_hash(F.web));
	assert_string_equal(in->key_name, res_name(id));
	assert_int_equal(fakeworld.nsg, 1);
	assert_non_null(g = fakeworld_group_named(res_name(id)));
	assert_non_null(r->security_group_id);
	assert_string_equal(r->security_group_id, g->id);
	assert_string_equal(in->sg, g->id);
	assert_string_equal(g->vpc, "vpc-1");
	assert_int_equal(g->nrules, 2);
	assert_string_equal(g->rules[0].protocol, "tcp");
	assert_int_equal(g->rules[0].from_port, 22);
	assert_string_equal(g->rules[0].cidr, "203.0.113.0/24");
	assert_int_equal(g->rules[1].from_port, 3000);
	assert_string_equal(g->rules[1].cidr, "198.51.100.0/24");
	assert_int_equal(fakeworld.nkp, 1);
	assert_non_null(kp = fakeworld_keypair(res_name(id)));
	assert_non_null(priv = fakeworld_object(key(id, "id_ed25519")));
	assert_non_null(pub = fakeworld_object(key(id, "id_ed25519.pub")));
	assert_non_null(sec = fakeworld_object(key(id, "secrets.env")));
	/* the user-data kept for a replay (§6.1), with its presigned URLs */
	snprintf(udname, sizeof(udname), "user-data-%d.sh", r->attempts);
	assert_non_null(ud = fakeworld_object(key(id, udname)));
	assert_int_equal(fakeworld.nobj, 4);
	assert_int_equal(ud->sse, S3_SSE_AES256);
	assert_non_null(strstr(ud->body, "X-Amz-Signature="));
	assert_int_equal(priv->sse, S3_SSE_AES256);
	assert_int_equal(sec->sse, S3_SSE_AES256);
	assert_non_null(strstr(priv->body, "BEGIN OPENSSH PRIVATE KEY"));
	assert_non_null(strstr(sec->body, "s3cr3t"));
	assert_int_equal(strncmp(pub->body, kp->public_key,
	    strlen(kp->public_key)), 0);
	assert_non_null(r->ssh_key_s3_key);
	assert_string_equal(r->ssh_key_s3_key, key(id, "id_ed25519"));
}

/* The stages written to the row of id, in order, as "A,B,C". */
static const char *
stages_written(const char *id)
{
	static char out[256];
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < fakestore.nstages; i++)
		if (strcmp(fakestore.stages[i].env_id, id) == 0)
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s",
			    o > 0 ? "," : "", store_stage_str(fakestore.stages[i].stage));
	return out;
}

/* The instance booted: running, status ok, the bootstrap marker in S3. */
static void
boot(const char *id)
{
	char body[256];

	fakeworld_settle();
	snprintf(body, sizeof(body), "{\"version\":1,\"env_id\":\"%s\","
	    "\"env\":\"web\",\"status\":\"ready\",\"line\":0,\"exit_code\":0,"
	    "\"host_keys\":[]}", id);
	fakeworld_put(key(id, "bootstrap-done.json"), body);
}

/* A fresh environment provisioned to DONE; its id into id. */
static void
provision_ready(char id[STORE_ID_LEN])
{
	char stage[24];

	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, stage), 0);
	assert_string_equal(stage, "TAGGED");
	row(id);
	tick(90);
	boot(id);
	assert_int_equal(job(PLAN_ADVANCE, F.web, id, stage), 0);
	assert_string_equal(stage, "DONE");
	assert_int_equal(row(NULL)->status, STORE_STATUS_READY);
}

/* ---- secrets: only the secret namespace, read at use ---- */

static const char secrets_yaml[] =
    "apiVersion: envctl/v1\n"
    "kind: Environment\n"
    "metadata: {name: web}\n"
    "spec:\n"
    "  access:\n"
    "    ssh: {allow_from: [203.0.113.0/24]}\n"
    "  bootstrap:\n"
    "    secrets:\n"
    "      E: {env: ENVCTL_SECRET_STAGES_TOKEN}\n"
    "      F: {file: api-key}\n"
    "      S: {%s}\n";

static struct spec_entry *
secrets_spec(const char *ssm, const char *env_prefix)
{
	struct spec_options opts;
	struct spec_entry *e = NULL;
	char text[1024];

	snprintf(text, sizeof(text), secrets_yaml, ssm);
	spec_options_init(&opts);
	opts.secret_files = 1;
	opts.secret_env_prefix = env_prefix;
	assert_int_equal(spec_entry_parse(&e, NULL, text, strlen(text), &opts), 0);
	if (!spec_entry_valid(e))
		fail_msg("spec: %s", spec_entry_diag(e, 0)->message);
	return e;
}

/* A provision with e fails before launching, its error saying why (not the values). */
static void
secrets_refused(const struct spec_entry *e, const char *why)
{
	const struct store_env *r;

	fresh();
	assert_true(job(PLAN_PROVISION, e, NULL, NULL) < 0);
	r = row(NULL);
	assert_non_null(r->error);
	if (strstr(r->error, why) == NULL)
		fail_msg("error '%s' does not say '%s'", r->error, why);
	assert_null(strstr(r->error, "v4lue"));
	assert_null(strstr(r->error, "s3cr3t"));
	assert_int_equal(fakeworld.nruns, 0);
	assert_world_clean();
}

static void
test_stages__secret_sources(void **state)
{
	struct spec_entry *e, *bad;
	const struct fw_object *sec;
	char dir[] = "/tmp/envctl-stages-secrets.XXXXXX", path[128], other[128];
	char id[STORE_ID_LEN];
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/api-key", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("file-v4lue\n", f);
	fclose(f);
	assert_int_equal(chmod(path, 0600), 0);
	F.o.secrets_dir = dir;
	e = secrets_spec("ssm: /envctl/stages/s", NULL);

	/* Each source delivers its value into the secrets object. */
	fresh();
	assert_int_equal(job(PLAN_PROVISION, e, NULL, NULL), 0);
	row(id);
	assert_non_null(sec = fakeworld_object(key(id, "secrets.env")));
	assert_string_equal(sec->body, "E=s3cr3t\nF=file-v4lue\nS=ssm-v4lue\n");

	/* A file others could read, a link, a missing one: refused. */
	assert_int_equal(chmod(path, 0640), 0);
	secrets_refused(e, "api-key is refused: its group may read it (mode 640)");
	assert_int_equal(chmod(path, 0604), 0);
	secrets_refused(e, "is refused: others may read it");
	assert_int_equal(chmod(path, 0600), 0);
	snprintf(other, sizeof(other), "%s/real", dir);
	assert_int_equal(rename(path, other), 0);
	assert_int_equal(symlink(other, path), 0);
	secrets_refused(e, "secret F:");
	assert_int_equal(unlink(path), 0);
	secrets_refused(e, "api-key: No such file");
	assert_int_equal(rename(other, path), 0);

	/* No secrets_dir: no file secrets, whatever the spec says. */
	F.o.secrets_dir = NULL;
	secrets_refused(e, "file secrets need secrets_dir");
	F.o.secrets_dir = dir;

	/* An SSM parameter that is not there is named, not guessed. */
	bad = secrets_spec("ssm: /envctl/stages/missing", NULL);
	secrets_refused(bad, "/envctl/stages/missing");
	spec_entry_free(bad);

	/* The pipeline checks the namespace again: a spec read with other prefixes. */
	F.o.secret_env_prefix = "OTHER_";
	secrets_refused(e, "variable ENVCTL_SECRET_STAGES_TOKEN is not in the "
	    "secret namespace (secret_env_prefix OTHER_)");
	F.o.secret_env_prefix = NULL;
	F.o.secret_ssm_prefix = "/other/";
	secrets_refused(e, "SSM parameter /envctl/stages/s is not in the secret "
	    "namespace");
	F.o.secret_ssm_prefix = NULL;

	spec_entry_free(e);
	F.o.secrets_dir = NULL;
	unlink(path);
	rmdir(dir);
	fresh();
}

/* ---- provision: the image fits the instance type's architecture ---- */

static const char arch_yaml[] =
    "apiVersion: envctl/v1\n"
    "kind: Environment\n"
    "metadata: {name: web}\n"
    "spec:\n"
    "  instance: {type: %s, image: %s}\n"
    "  access:\n"
    "    ssh: {allow_from: [203.0.113.0/24]}\n";

static struct spec_entry *
arch_spec(const char *type, const char *image)
{
	char text[512];

	snprintf(text, sizeof(text), arch_yaml, type, image);
	return spec_load(text);
}

static void
test_stages__provision_image_architecture(void **state)
{
	struct spec_entry *e;
	const struct store_env *r;
	const struct fw_instance *in;
	char id[STORE_ID_LEN], stage[24];
	const char *msg;

	(void)state;
	/* Graviton: the alias resolves the newest arm64 al2023 */
	e = arch_spec("t4g.small", "al2023");
	assert_int_equal(job(PLAN_PROVISION, e, NULL, stage), 0);
	r = row(id);
	assert_string_equal(r->ami_id, "ami-0ddd0001");
	in = fakeworld_instance(r->instance_id);
	assert_string_equal(in->image, "ami-0ddd0001");
	assert_string_equal(in->type, "t4g.small");
	assert_int_equal(fakeworld_count("DescribeInstanceTypes"), 1);
	spec_entry_free(e);

	/* an explicit AMI of another architecture: refused before RunInstances */
	fresh();
	e = arch_spec("t3.small", "ami-0ddd0001");
	assert_true(job(PLAN_PROVISION, e, NULL, stage) < 0);
	r = row(id);
	msg = r->error != NULL ? r->error : "";
	assert_non_null(strstr(msg, "image ami-0ddd0001 is arm64, but instance type "
	    "t3.small runs x86_64 images: choose an image of that architecture, "
	    "or an image alias"));
	assert_int_equal(fakeworld_count("RunInstances"), 0);
	assert_int_equal(fakeworld.nruns, 0);
	spec_entry_free(e);

	/* and the other way round */
	fresh();
	e = arch_spec("m7g.large", "ami-0eee0002");
	assert_true(job(PLAN_PROVISION, e, NULL, stage) < 0);
	r = row(id);
	assert_non_null(strstr(r->error, "image ami-0eee0002 is x86_64, but instance "
	    "type m7g.large runs arm64 images"));
	assert_int_equal(fakeworld_count("RunInstances"), 0);
	spec_entry_free(e);
	fresh();
}

/* ---- provision: the happy path ---- */

static void
test_stages__provision_fresh(void **state)
{
	const struct store_env *r;
	const struct fw_instance *in;
	const struct fs_event *ev;
	char id[STORE_ID_LEN], stage[24], token[65];
	time_t launched = 0;

	(void)state;
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, stage), 0);
	assert_string_equal(stage, "TAGGED");
	r = row(id);
	/* Every transition, in order, each written before the next step. */
	assert_string_equal(stages_written(id), "KEYS_GENERATED,KEYS_UPLOADED,"
	    "SG_READY,INSTANCE_LAUNCHED,TAGGED");
	assert_int_equal(r->status, STORE_STATUS_PROVISIONING);
	assert_int_equal(r->stage, STORE_STAGE_TAGGED);
	assert_int_equal(r->attempts, 0);
	assert_string_equal(r->spec_hash, spec_entry_hash(F.web));
	assert_string_equal(r->workspace, "team");
	assert_string_equal(r->ami_id, "ami-0bbb");	/* the newest al2023 */
	assert_string_equal(r->market, "on-demand");
	assert_string_equal(r->subnet_id, "subnet-0a");
	assert_int_equal(r->launched_at, now);
	assert_null(r->error);
	assert_one_of_each(id);
	in = fakeworld_instance(r->instance_id);
	assert_string_equal(in->state, "pending");
	assert_string_equal(in->type, "t3.small");
	assert_string_equal(in->image, "ami-0bbb");
	assert_string_equal(in->subnet, "subnet-0a");
	assert_string_equal(fakeworld_tag(in, "envctl:managed"), "true");
	assert_string_equal(fakeworld_tag(in, "envctl:cluster"), "c1");
	assert_string_equal(fakeworld_tag(in, "envctl:env"), "web");
	assert_string_equal(fakeworld_tag(in, "envctl:workspace"), "team");
	assert_string_equal(fakeworld_tag(in, "Name"), "envctl-web");
	assert_string_equal(fakeworld_tag(in, "owner"), "stages");
	assert_non_null(strstr(in->user_data, id));
	/* One launch, with the token of (env id, attempt 0, pool 0). */
	assert_int_equal(fakeworld.nruns, 1);
	pipeline_client_token(token, id, 0, 0);
	assert_string_equal(fakeworld.runs[0].token, token);
	/* Tagged at launch: no CreateTags; launched by this job: no describe. */
	assert_int_equal(fakeworld_count("CreateTags"), 0);
	assert_int_equal(fakeworld_count("DescribeInstances"), 0);
	assert_int_equal(fakestore_events(id, "remote.provision.start", &ev), 1);
	assert_non_null(strstr(ev->payload, "\"attempt\":1"));
	/* the launch: its pool (on-demand, one type: not ranked) */
	assert_int_equal(fakestore_events(id, "remote.provision.launched", &ev), 1);
	assert_non_null(strstr(ev->payload, "\"market\":\"on-demand\","
	    "\"type\":\"t3.small\",\"subnet\":\"subnet-0a\""));
	assert_non_null(strstr(ev->payload, "\"pool\":1,\"ranked\":false"));
	assert_int_equal(fakestore_events(id, NULL, NULL), 2);
	launched = r->launched_at;

	/* The next pass: not booted yet, nothing changes. */
	tick(30);
	assert_int_equal(job(PLAN_ADVANCE, F.web, id, stage), 0);
	assert_string_equal(stage, "TAGGED");
	assert_int_equal(row(NULL)->stage, STORE_STAGE_TAGGED);
	/* Running with status ok but no marker yet: still waiting. */
	fakeworld_settle();
	assert_int_equal(job(PLAN_ADVANCE, F.web, id, stage), 0);
	assert_string_equal(stage, "TAGGED");
	r = row(NULL);
	assert_int_equal(r->stage, STORE_STAGE_TAGGED);
	assert_non_null(r->public_ip);	/* recorded once running */
	/* Marker there: DONE, ready, the secrets object deleted. */
	tick(30);
	boot(id);
	assert_int_equal(job(PLAN_ADVANCE, F.web, id, stage), 0);
	assert_string_equal(stage, "DONE");
	r = row(NULL);
	assert_int_equal(r->status, STORE_STATUS_READY);
	assert_int_equal(r->stage, STORE_STAGE_DONE);
	assert_int_equal(r->ready_at, now);
	assert_int_equal(r->launched_at, launched);
	assert_string_equal(stages_written(id), "KEYS_GENERATED,KEYS_UPLOADED,"
	    "SG_READY,INSTANCE_LAUNCHED,TAGGED,DONE");
	assert_int_equal(fakestore_events(id, "remote.provision.ready", &ev), 1);
	assert_non_null(strstr(ev->payload, r->instance_id));
	assert_non_null(strstr(ev->payload, "\"provision_seconds\":60"));
	assert_null(fakeworld_object(key(id, "secrets.env")));
	assert_non_null(fakeworld_object(key(id, "id_ed25519")));
	assert_int_equal(fakeworld.nruns, 1);
}

static void
test_stages__not_ready_checks(void **state)
{
	char id[STORE_ID_LEN], stage[24];

	(void)state;
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, stage), 0);
	row(id);
	/* Status checks failing: waiting, not an error. */
	fakeworld.impaired = true;
	boot(id);
	assert_int_equal(job(PLAN_ADVANCE, F.web, id, stage), 0);
	assert_int_equal(row(NULL)->stage, STORE_STAGE_TAGGED);
	assert_int_equal(row(NULL)->status, STORE_STATUS_PROVISIONING);
	fakeworld.impaired = false;
	/* A bootstrap that failed on the instance: rolled back. */
	fakeworld_put(key(id, "bootstrap-done.json"), "{\"version\":1,"
	    "\"env_id\":\"x\",\"env\":\"web\",\"status\":\"error\",\"line\":7,"
	    "\"exit_code\":2,\"host_keys\":[]}");
	assert_int_equal(job(PLAN_ADVANCE, F.web, id, stage), ERR_INVALID);
	assert_rolled_back("TAGGED", "marker names another environment", 1);
}

/* ---- provision: every failpoint of a fresh run ---- */

/*
 * A failpoint of a fresh provision and what follows: the stage the row
 * had reached ("" when nothing is rolled back: no row, or a row left
 * pending at INIT for the next pass).
 */
static const struct {
	const char	*fp;
	const char	*failed_at;
} fresh_fps[] = {
	{ "provision.init.before", NULL },
	{ "provision.init.after", "" },
	{ "provision.event_start.before", "" },
	{ "provision.event_start.after", "" },
	{ "provision.keys_generated.before", "INIT" },
	{ "provision.keys_generated.after", "KEYS_GENERATED" },
	{ "provision.s3_keys.before", "KEYS_GENERATED" },
	{ "provision.s3_keys.after", "KEYS_GENERATED" },
	{ "provision.keys_uploaded.before", "KEYS_GENERATED" },
	{ "provision.keys_uploaded.after", "KEYS_UPLOADED" },
	{ "provision.keypair.before", "KEYS_UPLOADED" },
	{ "provision.keypair.after", "KEYS_UPLOADED" },
	{ "provision.sg_create.before", "KEYS_UPLOADED" },
	{ "provision.sg_create.after", "KEYS_UPLOADED" },
	{ "provision.sg_record.before", "KEYS_UPLOADED" },
	{ "provision.sg_record.after", "KEYS_UPLOADED" },
	{ "provision.sg_ingress.before", "KEYS_UPLOADED" },
	{ "provision.sg_ingress.after", "KEYS_UPLOADED" },
	{ "provision.sg_ready.before", "KEYS_UPLOADED" },
	{ "provision.sg_ready.after", "SG_READY" },
	{ "provision.ami.before", "SG_READY" },
	{ "provision.ami.after", "SG_READY" },
	{ "provision.launch_intent.before", "SG_READY" },
	{ "provision.launch_intent.after", "SG_READY" },
	{ "provision.secrets.before", "SG_READY" },
	{ "provision.secrets.after", "SG_READY" },
	{ "provision.launch.before", "SG_READY" },
	/* launched, not recorded: the rollback finds it by its env-id tag */
	{ "provision.launch.after", "SG_READY" },
	{ "provision.instance_launched.before", "SG_READY" },
	{ "provision.instance_launched.after", "INSTANCE_LAUNCHED" },
	{ "provision.tag.before", "INSTANCE_LAUNCHED" },
	{ "provision.tag.after", "INSTANCE_LAUNCHED" },
	{ "provision.tagged.before", "INSTANCE_LAUNCHED" },
	{ "provision.tagged.after", "TAGGED" },
};

/* Failpoints of a later pass (readiness), from a row at TAGGED. */
static const struct {
	const char	*fp;
	const char	*failed_at;
} advance_fps[] = {
	{ "provision.check.before", "TAGGED" },
	{ "provision.check.after", "TAGGED" },
	{ "provision.running.before", "TAGGED" },
	{ "provision.running.after", "TAGGED" },
	{ "provision.done.before", "TAGGED" },
	{ "provision.done.after", "DONE" },
	{ "provision.event_ready.before", "DONE" },
	{ "provision.event_ready.after", "DONE" },
};

static void
test_stages__provision_failpoints(void **state)
{
	char spec[128], why[128];
	size_t i;
	int error;

	(void)state;
	for (i = 0; i < sizeof(fresh_fps) / sizeof(fresh_fps[0]); i++) {
		fresh();
		snprintf(spec, sizeof(spec), "%s=error", fresh_fps[i].fp);
		snprintf(why, sizeof(why), "failpoint %s", fresh_fps[i].fp);
		fp(spec);
		error = job(PLAN_PROVISION, F.web, NULL, NULL);
		fp("");
		if (error != ERR_FAILPOINT)
			fail_msg("%s: result %d", fresh_fps[i].fp, error);
		if (fresh_fps[i].failed_at == NULL) {
			assert_int_equal(fakestore.nrows, 0);
			assert_int_equal(fakestore.nev, 0);
		} else if (*fresh_fps[i].failed_at == '\0') {
			/* The row stays pending at INIT: the next pass advances it. */
			assert_int_equal(row(NULL)->status, STORE_STATUS_PENDING);
			assert_int_equal(row(NULL)->stage, STORE_STAGE_INIT);
			assert_int_equal(row(NULL)->attempts, 0);
			assert_int_equal(fakestore_events(NULL,
			    "remote.provision.error", NULL), 0);
		} else
			assert_rolled_back(fresh_fps[i].failed_at, why, 1);
		assert_world_clean();
	}
	for (i = 0; i < sizeof(advance_fps) / sizeof(advance_fps[0]); i++) {
		char id[STORE_ID_LEN];

		fresh();
		assert_int_equal(job(PLAN_PROVISION, F.web, NULL, NULL), 0);
		row(id);
		tick(60);
		boot(id);
		snprintf(spec, sizeof(spec), "%s=error", advance_fps[i].fp);
		snprintf(why, sizeof(why), "failpoint %s", advance_fps[i].fp);
		fp(spec);
		error = job(PLAN_ADVANCE, F.web, id, NULL);
		fp("");
		if (error != ERR_FAILPOINT)
			fail_msg("%s: result %d", advance_fps[i].fp, error);
		assert_rolled_back(advance_fps[i].failed_at, why, 1);
	}
}

/* ---- provision: AWS answering errors at each step ---- */

static void
test_stages__provision_aws_errors(void **state)
{
	static const struct {
		const char	*action;
		unsigned	 nth;
		const char	*code;
		const char	*failed_at;
		const char	*why;
		int		 result;
	} cases[] = {
		{ "PutObject", 1, "InternalError", "KEYS_GENERATED",
		  "uploading the private key", ERR_UNAVAILABLE },
		/* the private half is up already: the rollback deletes it */
		{ "PutObject", 2, "AccessDenied", "KEYS_GENERATED",
		  "uploading the public key", ERR_INVALID },
		{ "GetObject", 1, "InternalError", "KEYS_UPLOADED",
		  "reading the public key", ERR_UNAVAILABLE },
		{ "ImportKeyPair", 1, "InvalidKey.Format", "KEYS_UPLOADED",
		  "importing key pair", ERR_INVALID },
		{ "DescribeSubnets", 1, "InvalidSubnetID.NotFound", "KEYS_UPLOADED",
		  "looking up the VPC of subnets subnet-0a", ERR_NOTFOUND },
		{ "CreateSecurityGroup", 1, "SecurityGroupLimitExceeded",
		  "KEYS_UPLOADED", "creating security group", ERR_INVALID },
		{ "AuthorizeSecurityGroupIngress", 1, "RulesPerSecurityGroupLimitExceeded",
		  "KEYS_UPLOADED", "authorizing ingress", ERR_INVALID },
		{ "DescribeImages", 1, "InternalError", "SG_READY",
		  "resolving image al2023", ERR_UNAVAILABLE },
		{ "PutObject", 3, "InternalError", "SG_READY",
		  "uploading the secrets object", ERR_UNAVAILABLE },
		/* not a capacity error: no other pool is tried */
		{ "RunInstances", 0, "InvalidParameterCombination", "SG_READY",
		  "InvalidParameterCombination", ERR_INVALID },
		/* no capacity in any pool */
		{ "RunInstances", 0, "InsufficientInstanceCapacity", "SG_READY",
		  "InsufficientInstanceCapacity", ERR_UNAVAILABLE },
		{ "CreateTags", 1, "InternalError", "INSTANCE_LAUNCHED",
		  "tagging i-", ERR_UNAVAILABLE },
	};
	size_t i;
	int error;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fresh();
		/* RunInstances answers without tags: the spec hash is stamped. */
		fakeworld.run_answer_untagged = true;
		fakeworld_fail(cases[i].action, NULL, cases[i].nth, cases[i].code);
		error = job(PLAN_PROVISION, F.web, NULL, NULL);
		if (error != cases[i].result)
			fail_msg("case %zu (%s): result %d, %s", i, cases[i].action,
			    error, err_get());
		assert_rolled_back(cases[i].failed_at, cases[i].why, 1);
		if (strcmp(cases[i].action, "RunInstances") == 0)
			assert_int_equal(fakeworld.nruns,
			    cases[i].code[0] == 'I' && cases[i].code[2] == 's' ? 2 : 1);
	}
}

/* ---- provision: what EC2 does not show yet ---- */

/*
 * A group, key pair or instance made moments ago that the next call does
 * not know yet (EC2's eventual consistency): the step tries again after
 * a back-off, within a bounded time, and only then fails.
 */
static void
test_stages__notfound_just_made(void **state)
{
	static const struct {
		const char	*action;
		const char	*code;
		unsigned	 times;		/* answers NotFound this often */
		unsigned	 calls;		/* calls of action in all */
		unsigned	 ms;		/* slept */
	} cases[] = {
		{ "AuthorizeSecurityGroupIngress", "InvalidGroup.NotFound", 2, 3, 750 },
		{ "RunInstances", "InvalidKeyPair.NotFound", 1, 2, 250 },
		{ "RunInstances", "InvalidGroup.NotFound", 3, 4, 1750 },
		{ "CreateTags", "InvalidInstanceID.NotFound", 1, 2, 250 },
	};
	char id[STORE_ID_LEN], stage[24];
	const struct store_env *r;
	size_t i;
	unsigned n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fresh();
		fakeworld.run_answer_untagged = true;
		/* Each entry counts its own calls: the first n calls fail. */
		for (n = 0; n < cases[i].times; n++)
			fakeworld_fail(cases[i].action, NULL, 1, cases[i].code);
		if (job(PLAN_PROVISION, F.web, NULL, stage) != 0)
			fail_msg("case %zu (%s): %s", i, cases[i].action, err_get());
		assert_string_equal(stage, "TAGGED");
		assert_int_equal(row(id)->attempts, 0);
		assert_int_equal(fakeworld_count(cases[i].action), cases[i].calls);
		assert_int_equal(slept_ms, cases[i].ms);
		assert_one_of_each(id);
	}

	/* Never visible: bounded (30 s of back-off), then the usual rollback. */
	fresh();
	fakeworld_fail("AuthorizeSecurityGroupIngress", NULL, 0,
	    "InvalidGroup.NotFound");
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, NULL), ERR_NOTFOUND);
	assert_true(slept_ms <= 30000 && slept_ms > 20000);
	assert_int_equal(sleeps, 10);	/* 250..4000: 3750, then 4000 x 6 */
	assert_rolled_back("KEYS_UPLOADED", "authorizing ingress", 1);

	/* Another code is no consistency matter: no wait. */
	fresh();
	fakeworld_fail("RunInstances", NULL, 0, "InvalidAMIID.NotFound");
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, NULL), ERR_NOTFOUND);
	assert_int_equal(sleeps, 0);
	assert_rolled_back("SG_READY", "InvalidAMIID.NotFound", 1);

	/*
	 * A rollback moments after the group was made: the row names it, so
	 * "not found" is EC2 not showing it yet; the group is deleted, not
	 * forgotten (and leaked).
	 */
	fresh();
	fp("provision.ami.before=error");
	fakeworld_fail("DescribeSecurityGroups", NULL, 1, "InvalidGroup.NotFound");
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, NULL), ERR_FAILPOINT);
	r = row(id);
	assert_null(r->security_group_id);
	assert_int_equal(sleeps, 1);
	assert_rolled_back("SG_READY", "failpoint provision.ami.before", 1);

	/*
	 * The same for the instance launched moments ago: unknown to the
	 * tag filter and at first by id too; terminated, not leaked.
	 */
	fresh();
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, NULL), 0);
	row(id);
	fakeworld.inst[0].hidden = true;
	fakeworld_fail("DescribeInstances", NULL, 2, "InvalidInstanceID.NotFound");
	fp("provision.check.before=error");
	assert_int_equal(job(PLAN_ADVANCE, F.web, id, NULL), ERR_FAILPOINT);
	assert_int_equal(sleeps, 1);
	assert_int_equal(fakeworld_live_instances(), 0);
	assert_rolled_back("TAGGED", "failpoint provision.check.before", 1);
}

/* ---- provision: capacity, the next pool ---- */

static void
test_stages__capacity_next_pool(void **state)
{
	const struct store_env *r;
	char id[STORE_ID_LEN], t0[65], t1[65], stage[24];

	(void)state;
	fakeworld_fail("RunInstances", "on-demand/subnet-0a", 0,
	    "InsufficientInstanceCapacity");
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, stage), 0);
	assert_string_equal(stage, "TAGGED");
	r = row(id);
	assert_string_equal(r->subnet_id, "subnet-0b");
	assert_string_equal(r->market, "on-demand");
	assert_one_of_each(id);
	assert_string_equal(fakeworld_instance(r->instance_id)->subnet, "subnet-0b");
	/* One token per pool: a replay of pool 1 cannot collide with pool 0. */
	assert_int_equal(fakeworld.nruns, 2);
	pipeline_client_token(t0, id, 0, 0);
	pipeline_client_token(t1, id, 0, 1);
	assert_string_equal(fakeworld.runs[0].token, t0);
	assert_string_equal(fakeworld.runs[0].pool, "on-demand/subnet-0a");
	assert_string_equal(fakeworld.runs[1].token, t1);
	assert_string_equal(fakeworld.runs[1].pool, "on-demand/subnet-0b");

	/* The pool's row write failing rolls back (at SG_READY). */
	fresh();
	fakeworld_fail("RunInstances", "on-demand/subnet-0a", 0,
	    "InsufficientInstanceCapacity");
	fp("provision.launch_pool.before=error");
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, NULL), ERR_FAILPOINT);
	assert_rolled_back("SG_READY", "failpoint provision.launch_pool.before", 1);
	fresh();
	fakeworld_fail("RunInstances", "on-demand/subnet-0a", 0,
	    "InsufficientInstanceCapacity");
	fp("provision.launch_pool.after=error");
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, NULL), ERR_FAILPOINT);
	assert_rolled_back("SG_READY", "failpoint provision.launch_pool.after", 1);
	assert_int_equal(fakeworld.nruns, 1);

	/*
	 * Spot without capacity anywhere falls back to on-demand.  No
	 * subnets listed: no subnet (EC2 picks the zone), then the default
	 * VPC's subnets zone by zone (subnet-0a, subnet-0b in the fake).
	 */
	fresh();
	fakeworld_fail("RunInstances", "spot/-", 0, "SpotMaxPriceTooLow");
	fakeworld_fail("RunInstances", "spot/subnet-0a", 0, "SpotMaxPriceTooLow");
	fakeworld_fail("RunInstances", "spot/subnet-0b", 0, "SpotMaxPriceTooLow");
	assert_int_equal(job(PLAN_PROVISION, F.spot, NULL, stage), 0);
	r = row(id);
	assert_string_equal(r->market, "on-demand");
	assert_int_equal(fakeworld.nruns, 4);
	assert_string_equal(fakeworld.runs[0].pool, "spot/-");
	assert_string_equal(fakeworld.runs[1].pool, "spot/subnet-0a");
	assert_string_equal(fakeworld.runs[2].pool, "spot/subnet-0b");
	assert_string_equal(fakeworld.runs[3].pool, "on-demand/-");
	assert_int_equal(fakeworld_instance(r->instance_id)->spot, 0);
	assert_int_equal(fakeworld_live_instances(), 1);
}

static void
score(const char *type, const char *az_id, int v)
{
	size_t n = fakeworld.nscores++;

	snprintf(fakeworld.scores[n].type, sizeof(fakeworld.scores[n].type),
	    "%s", type);
	snprintf(fakeworld.scores[n].az_id, sizeof(fakeworld.scores[n].az_id),
	    "%s", az_id);
	fakeworld.scores[n].score = v;
}

/*
 * Spot placement (instance.types): the (type, zone) pools ranked by
 * GetSpotPlacementScores; the best pool first, the next when it has no
 * capacity; the spec's order when the scores cannot be had; the type
 * chosen on the row and in the launch event; one architecture across
 * the list.  The fake's zones: subnet-0a use1-az6, subnet-0b use1-az1.
 */
static void
test_stages__spot_placement(void **state)
{
	static const char yaml[] =
	    "apiVersion: envctl/v1\n"
	    "kind: Environment\n"
	    "metadata: {name: web}\n"
	    "spec:\n"
	    "  instance: {types: [t3.small, m5.large], market: spot,\n"
	    "    subnets: [subnet-0a, subnet-0b]}\n"
	    "  access:\n"
	    "    ssh: {allow_from: [203.0.113.0/24]}\n";
	static const char arm_yaml[] =
	    "apiVersion: envctl/v1\n"
	    "kind: Environment\n"
	    "metadata: {name: web}\n"
	    "spec:\n"
	    "  instance: {types: [t3.small, m7g.large], market: spot}\n"
	    "  access:\n"
	    "    ssh: {allow_from: [203.0.113.0/24]}\n";
	struct spec_entry *e = spec_load(yaml), *arm = spec_load(arm_yaml);
	const struct fs_event *ev;
	const struct store_env *r;
	char id[STORE_ID_LEN], stage[24];
	struct pipeline_capacity *cap = NULL;
	unsigned calls;
	long i;

	(void)state;
	assert_int_equal(pipeline_capacity_new(&cap), 0);
	F.o.capacity = cap;
	restart();
	/* (m5.large, use1-az1) scores best: m5.large in subnet-0b */
	score("t3.small", "use1-az6", 3);
	score("t3.small", "use1-az1", 5);
	score("m5.large", "use1-az6", 2);
	score("m5.large", "use1-az1", 9);
	assert_int_equal(job(PLAN_PROVISION, e, NULL, stage), 0);
	r = row(id);
	assert_int_equal(fakeworld.nruns, 1);
	assert_string_equal(fakeworld.runs[0].type, "m5.large");
	assert_string_equal(fakeworld.runs[0].pool, "spot/subnet-0b");
	assert_string_equal(r->instance_type, "m5.large");
	assert_string_equal(r->subnet_id, "subnet-0b");
	assert_string_equal(fakeworld_instance(r->instance_id)->type, "m5.large");
	assert_int_equal(fakestore_events(id, "remote.provision.launched", &ev), 1);
	assert_non_null(strstr(ev->payload, "\"market\":\"spot\",\"type\":"
	    "\"m5.large\",\"subnet\":\"subnet-0b\""));
	assert_non_null(strstr(ev->payload, "\"az_id\":\"use1-az1\",\"pool\":1,"
	    "\"ranked\":true,\"score\":9"));
	assert_int_equal(fakeworld_count("GetSpotPlacementScores"), 2);

	/* the best pool without capacity: the next best, (t3.small, az1) */
	fresh();
	score("t3.small", "use1-az6", 3);
	score("t3.small", "use1-az1", 5);
	score("m5.large", "use1-az6", 2);
	score("m5.large", "use1-az1", 9);
	fakeworld_fail("RunInstances", "spot/m5.large/subnet-0b", 0,
	    "InsufficientInstanceCapacity");
	assert_int_equal(job(PLAN_PROVISION, e, NULL, stage), 0);
	r = row(id);
	assert_int_equal(fakeworld.nruns, 2);
	assert_string_equal(fakeworld.runs[1].type, "t3.small");
	assert_string_equal(fakeworld.runs[1].pool, "spot/subnet-0b");
	assert_string_equal(r->instance_type, "t3.small");
	assert_int_equal(fakestore_events(id, "remote.provision.launched", &ev), 1);
	assert_non_null(strstr(ev->payload, "\"pool\":2,\"ranked\":true,"
	    "\"score\":5"));
	/* the next launch (same process): the scores cached, the pool skipped */
	assert_int_equal(job(PLAN_TERMINATE, e, id, NULL), 0);
	calls = fakeworld_count("GetSpotPlacementScores");
	assert_int_equal(job(PLAN_PROVISION, e, NULL, stage), 0);
	assert_int_equal(fakeworld_count("GetSpotPlacementScores"), calls);
	assert_int_equal(fakeworld.nruns, 3);
	assert_string_equal(fakeworld.runs[2].type, "t3.small");

	/* no scores (not allowed): the spec's order, and the launch goes on */
	fresh();
	fakeworld_fail("GetSpotPlacementScores", NULL, 0, "UnauthorizedOperation");
	assert_int_equal(job(PLAN_PROVISION, e, NULL, stage), 0);
	r = row(id);
	assert_int_equal(fakeworld.nruns, 1);
	assert_string_equal(fakeworld.runs[0].type, "t3.small");
	assert_string_equal(fakeworld.runs[0].pool, "spot/subnet-0a");
	assert_int_equal(fakestore_events(id, "remote.provision.launched", &ev), 1);
	assert_non_null(strstr(ev->payload, "\"ranked\":false,\"score\":0"));

	/*
	 * A crash between the launch and its record, the instance not yet
	 * visible: the next process, whose scores now rank another pool
	 * first, resumes in the pool the row records (its type too), with
	 * the same token: one instance.
	 */
	for (i = 1; i < 100; i++) {
		fresh();
		score("m5.large", "use1-az1", 9);
		fakeworld.lag = true;
		fakestore.down_after = (long)i;
		(void)job(PLAN_PROVISION, e, NULL, NULL);
		fakestore.down_after = -1;
		if (fakeworld.ninst == 1 && row(id)->instance_id == NULL)
			break;
	}
	assert_true(i < 100);
	assert_string_equal(row(NULL)->instance_type, "m5.large");
	fakeworld.nscores = 0;
	score("t3.small", "use1-az6", 10);
	/* a new process: a new (empty) scores cache */
	pipeline_free(F.p);
	F.p = NULL;
	pipeline_capacity_free(cap);
	assert_int_equal(pipeline_capacity_new(&cap), 0);
	F.o.capacity = cap;
	tick(45);
	restart();
	assert_int_equal(job(PLAN_ADVANCE, e, id, NULL), 0);
	assert_int_equal(fakeworld.nruns, 2);
	assert_string_equal(fakeworld.runs[1].token, fakeworld.runs[0].token);
	assert_string_equal(fakeworld.runs[1].type, "m5.large");
	assert_int_equal(fakeworld.ninst, 1);
	assert_string_equal(row(NULL)->instance_id, fakeworld.inst[0].id);

	/* two architectures in one list: refused before RunInstances */
	fresh();
	assert_int_equal(job(PLAN_PROVISION, arm, NULL, stage), ERR_INVALID);
	assert_non_null(strstr(err_get(), "one architecture"));
	assert_int_equal(fakeworld.nruns, 0);
	spec_entry_free(arm);
	spec_entry_free(e);
	pipeline_free(F.p);
	F.p = NULL;
	F.o.capacity = NULL;
	pipeline_capacity_free(cap);
}

/*
 * The type not offered in a subnet's zone (Unsupported) or no address
 * left in the subnet: the next subnet; with none listed, the default
 * VPC's subnets zone by zone.
 */
static void
test_stages__unsupported_next_subnet(void **state)
{
	static const char od_yaml[] =
	    "apiVersion: envctl/v1\n"
	    "kind: Environment\n"
	    "metadata: {name: web}\n"
	    "spec:\n"
	    "  instance: {type: t3.small}\n"
	    "  access:\n"
	    "    ssh: {allow_from: [203.0.113.0/24]}\n";
	struct spec_entry *od = spec_load(od_yaml);
	const struct store_env *r;
	char id[STORE_ID_LEN], stage[24], t2[65];

	(void)state;
	fakeworld_fail("RunInstances", "on-demand/subnet-0a", 0, "Unsupported");
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, stage), 0);
	assert_string_equal(stage, "TAGGED");
	r = row(id);
	assert_string_equal(r->subnet_id, "subnet-0b");
	assert_int_equal(fakeworld.nruns, 2);

	fresh();
	fakeworld_fail("RunInstances", "on-demand/subnet-0a", 0,
	    "InsufficientFreeAddressesInSubnet");
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, stage), 0);
	assert_string_equal(row(NULL)->subnet_id, "subnet-0b");

	/* No subnets: EC2's pick, then the default VPC's zones in order. */
	fresh();
	fakeworld_fail("RunInstances", "on-demand/-", 0,
	    "InsufficientInstanceCapacity");
	fakeworld_fail("RunInstances", "on-demand/subnet-0a", 0, "Unsupported");
	assert_int_equal(job(PLAN_PROVISION, od, NULL, stage), 0);
	r = row(id);
	assert_string_equal(r->subnet_id, "subnet-0b");
	assert_int_equal(fakeworld.nruns, 3);
	assert_string_equal(fakeworld.runs[2].pool, "on-demand/subnet-0b");
	assert_string_equal(fakeworld_instance(r->instance_id)->subnet,
	    "subnet-0b");
	/* A replay numbers the pools alike: pool 2's token. */
	pipeline_client_token(t2, id, 0, 2);
	assert_string_equal(fakeworld.runs[2].token, t2);

	/* Unsupported everywhere: the last answer, after every pool. */
	fresh();
	fakeworld_fail("RunInstances", NULL, 0, "Unsupported");
	assert_int_equal(job(PLAN_PROVISION, od, NULL, NULL), ERR_INVALID);
	assert_int_equal(fakeworld.nruns, 3);
	assert_rolled_back("SG_READY", "Unsupported", 1);
	spec_entry_free(od);
}

/* ---- provision: readiness ---- */

static void
test_stages__readiness_timeout(void **state)
{
	char id[STORE_ID_LEN], stage[24];

	(void)state;
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, stage), 0);
	row(id);
	tick(600);	/* ready_timeout 10m: not yet past it */
	assert_int_equal(job(PLAN_ADVANCE, F.web, id, stage), 0);
	assert_int_equal(row(NULL)->stage, STORE_STAGE_TAGGED);
	tick(1);
	assert_int_equal(job(PLAN_ADVANCE, F.web, id, stage), ERR_TIMEOUT);
	assert_rolled_back("TAGGED", "not ready 601s after launch", 1);

	/* Gone out of band while booting: rolled back too. */
	fresh();
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, stage), 0);
	row(id);
	snprintf(fakeworld_instance(row(NULL)->instance_id)->state, 16, "stopped");
	assert_int_equal(job(PLAN_ADVANCE, F.web, id, stage), ERR_GENERIC);
	assert_rolled_back("TAGGED", "is stopped", 1);
}

/*
 * spot.timeout (5m by default): a spot instance still pending after it is
 * given up and rolled back; its pool counts as without capacity, so the
 * next attempt launches in the next pool.  On-demand waits on.
 */
static void
test_stages__spot_timeout(void **state)
{
	struct pipeline_capacity *cap = NULL;
	char id[STORE_ID_LEN], stage[24];

	(void)state;
	assert_int_equal(pipeline_capacity_new(&cap), 0);
	F.o.capacity = cap;
	restart();
	assert_int_equal(job(PLAN_PROVISION, F.spot, NULL, stage), 0);
	row(id);
	assert_string_equal(row(NULL)->market, "spot");
	assert_string_equal(fakeworld_instance(row(NULL)->instance_id)->state,
	    "pending");
	tick(300);	/* at spot.timeout: still waiting */
	assert_int_equal(job(PLAN_ADVANCE, F.spot, id, stage), 0);
	assert_int_equal(row(NULL)->stage, STORE_STAGE_TAGGED);
	tick(1);
	assert_int_equal(job(PLAN_ADVANCE, F.spot, id, stage), ERR_UNAVAILABLE);
	assert_rolled_back("TAGGED", "still pending 301s after launch (spot.timeout "
	    "300s): given up", 1);
	assert_int_equal(fakeworld_live_instances(), 0);
	/* the next attempt skips the pool that timed out, EC2's pick */
	assert_string_equal(fakeworld.runs[fakeworld.nruns - 1].pool, "spot/-");
	tick(BACKOFF_BASE);
	assert_int_equal(job(PLAN_RETRY, F.spot, id, stage), 0);
	assert_string_equal(fakeworld.runs[fakeworld.nruns - 1].pool,
	    "spot/subnet-0a");
	assert_int_equal(fakeworld_live_instances(), 1);

	/* an on-demand instance pending as long is only waited for */
	fresh();
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, stage), 0);
	row(id);
	tick(301);
	assert_int_equal(job(PLAN_ADVANCE, F.web, id, stage), 0);
	assert_int_equal(row(NULL)->stage, STORE_STAGE_TAGGED);
	F.o.capacity = NULL;
	restart();
	pipeline_capacity_free(cap);
}

/* A bootstrap marker of id saying ready with host key fp. */
static void
marker_with_key(const char *id, const char *fp)
{
	char body[512];

	snprintf(body, sizeof(body), "{\"version\":1,\"env_id\":\"%s\","
	    "\"env\":\"web\",\"status\":\"ready\",\"line\":0,\"exit_code\":0,"
	    "\"host_keys\":[{\"type\":\"ED25519\",\"fingerprint\":\"%s\"}]}",
	    id, fp);
	fakeworld_put(key(id, "bootstrap-done.json"), body);
}

/* What the ledger says env id costs now (pipeline_env_cost()). */
static void
ledger_cost(struct pipeline_cost *out, const char *id)
{
	struct store_cost_seg *v = NULL;
	size_t n = 0;

	assert_int_equal(store_cost_list(&v, &n, F.st, id, 0, false), 0);
	pipeline_env_cost(out, v, n, id, now);
	store_cost_list_free(v, n);
}

/*
 * Stop and start (power.c): the same instance, the stopped hour booked
 * and unbilled, readiness checked again; host keys other than the
 * row's refused; spot and rows that are not ready refused before any
 * call.
 */
static void
test_stages__stop_start(void **state)
{
	static const char fpa[] = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
	static const char fpb[] = "SHA256:Bq0ZOx8gAm2gYB2qOyd4nE0A0xTtWjyOOTfQ7cG61Zc";
	char id[STORE_ID_LEN], stage[24], iid[32];
	struct store_env r;
	struct pipeline_cost cost;

	(void)state;
	F.o.ready_checks = PIPELINE_CHECK_STATUS | PIPELINE_CHECK_MARKER |
	    PIPELINE_CHECK_HOSTKEY;
	restart();
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, stage), 0);
	row(id);
	fakeworld_settle();
	marker_with_key(id, fpa);
	snprintf(fakeworld.console, sizeof(fakeworld.console),
	    "ec2: 256 %s root@h (ED25519)\n", fpa);
	tick(60);
	assert_int_equal(job(PLAN_ADVANCE, F.web, id, stage), 0);
	assert_int_equal(row(NULL)->status, STORE_STATUS_READY);
	snprintf(iid, sizeof(iid), "%s", row(NULL)->instance_id);

	/* stop: stopped, stopped_at booked, remote.stop */
	memset(&r, 0, sizeof(r));
	assert_int_equal(store_env_get(&r, F.st, id), 0);
	assert_int_equal(pipeline_env_stop(F.p, &r), 0);
	assert_string_equal(fakeworld_instance(iid)->state, "stopped");
	assert_int_equal(row(NULL)->stopped_at, now);
	assert_int_equal(fakestore_events(id, "remote.stop", NULL), 1);
	tick(3600);
	/* stopped: its disk only */
	ledger_cost(&cost, id);
	assert_true(fabs(cost.usd_per_hour -
	    pipeline_price_storage(NULL, "us-east-1", 20)) < 1e-12);
	store_env_dispose(&r);

	/* start with other host keys (a new marker and console): refused */
	marker_with_key(id, fpb);
	snprintf(fakeworld.console, sizeof(fakeworld.console),
	    "ec2: 256 %s root@h (ED25519)\n", fpb);
	assert_int_equal(store_env_get(&r, F.st, id), 0);
	assert_int_equal(pipeline_env_start(F.p, &r, 60), ERR_INVALID);
	assert_non_null(strstr(err_get(), "not the ones verified"));
	assert_int_equal(fakestore_events(id, "remote.start.ready", NULL), 0);
	/* the start itself happened and its stopped hour is booked */
	assert_string_equal(fakeworld_instance(iid)->state, "running");
	assert_int_equal(row(NULL)->stopped_at, 0);
	assert_int_equal(row(NULL)->stopped_seconds, 3600);
	store_env_dispose(&r);

	/* the same keys again: ready, the same instance */
	marker_with_key(id, fpa);
	snprintf(fakeworld.console, sizeof(fakeworld.console),
	    "ec2: 256 %s root@h (ED25519)\n", fpa);
	assert_int_equal(store_env_get(&r, F.st, id), 0);
	assert_int_equal(pipeline_env_start(F.p, &r, 60), 0);
	assert_int_equal(fakestore_events(id, "remote.start.ready", NULL), 1);
	assert_string_equal(row(NULL)->instance_id, iid);
	assert_int_equal(fakeworld_count("StartInstances"), 1);

	/* spot: refused before any call */
	assert_int_equal(store_env_set_text(&r, STORE_ENV_MARKET, "spot", 4), 0);
	assert_int_equal(pipeline_env_stop(F.p, &r), ERR_INVALID);
	assert_non_null(strstr(err_get(), "spot"));
	assert_int_equal(fakeworld_count("StopInstances"), 1);
	/* a row that is not ready: refused */
	r.status = STORE_STATUS_PROVISIONING;
	assert_int_equal(store_env_set_text(&r, STORE_ENV_MARKET, "on-demand",
	    9), 0);
	assert_int_equal(pipeline_env_stop(F.p, &r), ERR_INVALID);
	assert_int_equal(fakeworld_count("StopInstances"), 1);
	store_env_dispose(&r);
}

/*
 * The host-key check: no fingerprint on the console yet is "not yet",
 * never a pass; a match stores the verified fingerprints on the row; a
 * mismatch fails; a timeout names the check still failing.
 */
static void
test_stages__hostkey_check(void **state)
{
	static const char fpa[] = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
	static const char fpb[] = "SHA256:Bq0ZOx8gAm2gYB2qOyd4nE0A0xTtWjyOOTfQ7cG61Zc";
	char id[STORE_ID_LEN], stage[24];
	const struct store_env *r;
	int pass;

	(void)state;
	F.o.ready_checks = PIPELINE_CHECK_STATUS | PIPELINE_CHECK_MARKER |
	    PIPELINE_CHECK_HOSTKEY;
	restart();
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, stage), 0);
	row(id);
	fakeworld_settle();
	marker_with_key(id, fpa);
	/* An empty console for a while: waiting, never passed vacuously. */
	for (pass = 0; pass < 3; pass++) {
		tick(60);
		assert_int_equal(job(PLAN_ADVANCE, F.web, id, stage), 0);
		assert_int_equal(row(NULL)->stage, STORE_STAGE_TAGGED);
	}
	assert_int_equal(fakeworld_count("GetConsoleOutput"), 3);
	/* cloud-init printed the fingerprints: ready, and they are kept. */
	snprintf(fakeworld.console, sizeof(fakeworld.console),
	    "ec2: #####BEGIN SSH HOST KEY FINGERPRINTS#####\n"
	    "ec2: 256 %s root@ip-10-0-0-5 (ED25519)\n"
	    "ec2: 256 %s root@ip-10-0-0-5 (ECDSA)\n", fpa, fpb);
	tick(60);
	assert_int_equal(job(PLAN_ADVANCE, F.web, id, stage), 0);
	r = row(NULL);
	assert_int_equal(r->stage, STORE_STAGE_DONE);
	assert_non_null(r->host_keys);
	assert_string_equal(r->host_keys, fpa);

	/* Another key on the console: refused, rolled back. */
	fresh();
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, stage), 0);
	row(id);
	fakeworld_settle();
	marker_with_key(id, fpa);
	snprintf(fakeworld.console, sizeof(fakeworld.console),
	    "ec2: 256 %s root@h (ED25519)\n", fpb);
	assert_int_equal(job(PLAN_ADVANCE, F.web, id, stage), ERR_INVALID);
	assert_rolled_back("TAGGED", "does not match the one on the instance console", 1);
	assert_null(row(NULL)->host_keys);

	/* Never a fingerprint: the timeout names the hostkey check. */
	fresh();
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, stage), 0);
	row(id);
	fakeworld_settle();
	marker_with_key(id, fpa);
	tick(601);
	assert_int_equal(job(PLAN_ADVANCE, F.web, id, stage), ERR_TIMEOUT);
	assert_rolled_back("TAGGED", "the hostkey check still fails", 1);

	/* Status checks still initializing at the timeout: named too. */
	fresh();
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, stage), 0);
	row(id);
	fakeworld_settle();
	fakeworld.impaired = true;
	tick(601);
	assert_int_equal(job(PLAN_ADVANCE, F.web, id, stage), ERR_TIMEOUT);
	assert_rolled_back("TAGGED", "the status check still fails", 1);
	fakeworld.impaired = false;
	F.o.ready_checks = PIPELINE_CHECK_STATUS | PIPELINE_CHECK_MARKER;
	restart();
}

/* ---- provision: tagging ---- */

static void
test_stages__tagging(void **state)
{
	char id[STORE_ID_LEN], stage[24];
	const struct fw_instance *in;

	(void)state;
	/* Not visible yet (eventual consistency): the next pass tags it. */
	fakeworld.run_answer_untagged = true;
	fakeworld.lag = true;
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, stage), 0);
	assert_string_equal(stage, "INSTANCE_LAUNCHED");
	row(id);
	assert_int_equal(row(NULL)->stage, STORE_STAGE_INSTANCE_LAUNCHED);
	assert_int_equal(row(NULL)->status, STORE_STATUS_PROVISIONING);
	/* Tried again within the step (10 back-offs, < 30 s), then next pass. */
	assert_int_equal(fakeworld_count("CreateTags"), 11);
	fakeworld_settle();
	assert_int_equal(job(PLAN_ADVANCE, F.web, id, stage), 0);
	assert_int_equal(row(NULL)->stage, STORE_STAGE_TAGGED);
	in = fakeworld_instance(row(NULL)->instance_id);
	assert_string_equal(fakeworld_tag(in, "envctl:spec-hash"),
	    spec_entry_hash(F.web));
	assert_int_equal(fakeworld_count("CreateTags"), 12);
	assert_int_equal(fakeworld.nruns, 1);
	assert_int_equal(fakeworld_live_instances(), 1);
}

/* ---- provision: crashes ---- */

/* Resume a row as the next passes would until it is TAGGED. */
static void
resume_to_tagged(const char *id)
{
	const struct store_env *r;
	int pass;

	for (pass = 0; pass < 3; pass++) {
		r = fakestore_row(id);
		if (r->stage == STORE_STAGE_TAGGED)
			return;
		restart();
		tick(r->next_attempt_at > now ? r->next_attempt_at - now : 1);
		if (job(r->status == STORE_STATUS_ERROR ? PLAN_RETRY : PLAN_ADVANCE,
		    F.web, id, NULL) < 0)
			fail_msg("resuming %s from %s: %s", id,
			    store_stage_str(fakestore_row(id)->stage), err_get());
	}
	fail_msg("%s not TAGGED after 3 passes", id);
}

/*
 * The process dies after each durable write of a fresh provision in
 * turn (the store stops answering: nothing later is written, nothing
 * is rolled back); the next process resumes the row from the stage it
 * reached and ends with exactly one of everything, launched once.
 */
static void
crash_every_write(bool lag)
{
	bool seen[STORE_STAGE_DONE + 1];
	char id[STORE_ID_LEN];
	long n;
	int s;

	memset(seen, 0, sizeof(seen));
	for (n = 0; n < 100; n++) {
		const struct store_env *r;
		unsigned instances;

		fresh();
		fakeworld.lag = lag;
		fakestore.down_after = n;
		(void)job(PLAN_PROVISION, F.web, NULL, NULL);
		fakestore.down_after = -1;
		if (fakestore.writes < (unsigned)n)
			break;	/* the run ended before its n-th write */
		if (fakestore.nrows == 0) {
			assert_world_clean();
			continue;
		}
		r = row(id);
		seen[r->stage] = true;
		assert_true(r->status == STORE_STATUS_PENDING ||
		    r->status == STORE_STATUS_PROVISIONING);
		fakeworld_settle();	/* time passes; the new process sees all */
		resume_to_tagged(id);
		assert_one_of_each(id);
		assert_int_equal(row(NULL)->attempts, 0);
		/* Never a second instance: found by tag, or the same ClientToken. */
		instances = (unsigned)fakeworld.ninst;
		assert_int_equal(instances, 1);
		if (fakeworld.nruns == 2) {
			assert_string_equal(fakeworld.runs[0].token,
			    fakeworld.runs[1].token);
			assert_memory_equal(fakeworld.runs[0].params,
			    fakeworld.runs[1].params, 32);
		} else
			assert_int_equal(fakeworld.nruns, 1);
		/* And it finishes. */
		tick(60);
		boot(id);
		assert_int_equal(job(PLAN_ADVANCE, F.web, id, NULL), 0);
		assert_int_equal(row(NULL)->status, STORE_STATUS_READY);
	}
	if (!(n > 5 && n < 100))
		fail_msg("crash loop ended at %ld", n);
	for (s = STORE_STAGE_INIT; s <= STORE_STAGE_TAGGED; s++)
		if (!seen[s])
			fail_msg("no crash left a row at %s", store_stage_str(s));
}

static void
test_stages__crash_every_write(void **state)
{
	(void)state;
	crash_every_write(false);
}

/*
 * The same with EC2's eventual consistency: a crash between RunInstances
 * and its record is found by no filtered describe, so the launch is sent
 * again; the same ClientToken with byte-identical parameters (user-data
 * signed at the recorded launch time) answers the same instance.
 */
static void
test_stages__crash_replay_client_token(void **state)
{
	char id[STORE_ID_LEN], token[65];
	const struct store_env *r;
	long n;

	(void)state;
	crash_every_write(true);
	/* The crash between the launch and its record, looked at closely. */
	for (n = 1; n < 100; n++) {
		fresh();
		fakeworld.lag = true;
		fakestore.down_after = n;
		(void)job(PLAN_PROVISION, F.web, NULL, NULL);
		fakestore.down_after = -1;
		if (fakeworld.ninst == 1 && row(id)->instance_id == NULL)
			break;
	}
	assert_true(n < 100);
	r = row(id);
	assert_int_equal(r->stage, STORE_STAGE_SG_READY);
	assert_int_not_equal(r->launched_at, 0);
	tick(45);	/* a later process: another "now" */
	fakeworld.cred_epoch++;	/* and other credentials to presign with */
	restart();
	assert_int_equal(job(PLAN_ADVANCE, F.web, id, NULL), 0);
	assert_int_equal(fakeworld.nruns, 2);
	pipeline_client_token(token, id, 0, 0);
	assert_string_equal(fakeworld.runs[1].token, token);
	assert_memory_equal(fakeworld.runs[0].params, fakeworld.runs[1].params, 32);
	assert_int_equal(fakeworld.ninst, 1);
	assert_string_equal(row(NULL)->instance_id, fakeworld.inst[0].id);
	assert_int_equal(row(NULL)->stage, STORE_STAGE_TAGGED);
}

/*
 * AWS stops answering after each call of a fresh provision in turn: the
 * rollback cannot finish (the row says error, what exists stays); once
 * AWS is back the retry undoes the leftovers first, then provisions
 * attempt 2 (ClientToken of attempt 1) to exactly one of everything.
 */
static void
test_stages__aws_down_every_call(void **state)
{
	const struct store_env *r;
	char id[STORE_ID_LEN], token[65];
	long n;
	int error;

	(void)state;
	for (n = 0; n < 200; n++) {
		fresh();
		fakeworld.down_after = n;
		error = job(PLAN_PROVISION, F.web, NULL, NULL);
		fakeworld.down_after = -1;
		if (error == 0)
			break;
		r = row(id);
		assert_int_equal(r->status, STORE_STATUS_ERROR);
		assert_int_equal(r->attempts, 1);
		assert_int_equal(r->next_attempt_at, now + BACKOFF_BASE);
		fakeworld_settle();
		tick(BACKOFF_BASE);
		restart();
		if ((error = job(PLAN_RETRY, F.web, id, NULL)) != 0)
			fail_msg("call %ld: retry: %s", n, err_get());
		r = row(NULL);
		assert_int_equal(r->stage, STORE_STAGE_TAGGED);
		assert_int_equal(r->attempts, 1);
		assert_null(r->error);
		assert_one_of_each(id);
		pipeline_client_token(token, id, 1, 0);
		assert_string_equal(fakeworld.runs[fakeworld.nruns - 1].token, token);
		assert_int_equal(fakestore_events(id, "remote.provision.start", NULL), 2);
	}
	assert_true(n > 10 && n < 200);
}

/* ---- provision: a rollback that fails half-way ---- */

static void
test_stages__rollback_interrupted(void **state)
{
	static const char *const fps[] = {
		"provision.error.before", "provision.error.after",
		"provision.rollback.instance.before",
		"provision.rollback.instance.after",
		"provision.rollback.s3.before", "provision.rollback.s3.after",
		"provision.rollback.keypair.before",
		"provision.rollback.keypair.after",
		"provision.rollback.sg.before", "provision.rollback.sg.after",
		"provision.rolled_back.before", "provision.rolled_back.after",
	};
	const struct store_env *r;
	char spec[160], id[STORE_ID_LEN];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(fps) / sizeof(fps[0]); i++) {
		fresh();
		/* A failure after the launch, then the rollback's own. */
		snprintf(spec, sizeof(spec), "provision.tagged.before=error,%s=error",
		    fps[i]);
		fp(spec);
		assert_int_equal(job(PLAN_PROVISION, F.web, NULL, NULL),
		    ERR_FAILPOINT);
		fp("");
		r = row(id);
		if (i == 0) {
			/* Not even marked failed: the next pass resumes it. */
			assert_int_equal(r->status, STORE_STATUS_PROVISIONING);
			assert_int_equal(r->stage, STORE_STAGE_INSTANCE_LAUNCHED);
		} else {
			assert_int_equal(r->status, STORE_STATUS_ERROR);
			assert_int_equal(r->attempts, 1);
			assert_string_equal(r->failed_at_stage, "INSTANCE_LAUNCHED");
		}
		/* Until the rollback deleted the group, something is left. */
		if (i < 9 && fakeworld_live_instances() + fakeworld.nsg +
		    fakeworld.nkp + fakeworld.nobj == 0)
			fail_msg("%s: nothing left", fps[i]);
		assert_int_equal(fakestore_events(id, "remote.provision.error",
		    NULL), 0);
		resume_to_tagged(id);
		assert_one_of_each(id);
	}
}

/* ---- provision: a group still in use ---- */

static void
test_stages__rollback_group_in_use(void **state)
{
	const struct store_env *r;
	char id[STORE_ID_LEN], gid[32];

	(void)state;
	fakeworld.slow_shutdown = true;
	fp("provision.tagged.before=error");
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, NULL), ERR_FAILPOINT);
	fp("");
	r = row(id);
	/* The instance is shutting down: the group stays, named on the row. */
	assert_int_equal(r->status, STORE_STATUS_ERROR);
	assert_int_equal(r->stage, STORE_STAGE_INIT);
	assert_non_null(r->security_group_id);
	snprintf(gid, sizeof(gid), "%s", r->security_group_id);
	assert_int_equal(fakeworld.nsg, 1);
	assert_string_equal(fakeworld.sg[0].id, gid);
	assert_int_equal(fakeworld_live_instances(), 1);
	assert_string_equal(fakeworld.inst[0].state, "shutting-down");
	assert_int_equal(fakeworld.nkp, 0);
	assert_int_equal(fakeworld.nobj, 0);
	assert_int_equal(fakestore_events(id, "remote.provision.error", NULL), 1);
	/* Later the retry deletes it first, then makes a new one. */
	fakeworld_settle();
	fakeworld.slow_shutdown = false;
	resume_to_tagged(id);
	assert_one_of_each(id);
	assert_string_not_equal(fakeworld.sg[0].id, gid);
}

/* ---- terminate ---- */

static void
test_stages__terminate(void **state)
{
	const struct store_env *r;
	const struct fs_event *ev;
	char id[STORE_ID_LEN], stage[24], want[96];
	double cost, want_cost;

	(void)state;
	provision_ready(id);
	cost = row(NULL)->cost_per_hour_usd;
	assert_true(cost > 0.0);
	tick(7200);
	assert_int_equal(job(PLAN_TERMINATE, NULL, id, stage), 0);
	assert_string_equal(stage, "terminated");
	r = row(NULL);
	assert_int_equal(r->status, STORE_STATUS_TERMINATED);
	assert_int_equal(r->terminated_at, now);
	assert_string_equal(r->termination_reason, "spec removed");
	/* billed from launch, not from ready (pipeline_env_cost) */
	assert_true(r->launched_at > 0 && r->launched_at < r->ready_at);
	/* compute and its 20 GB of gp3 storage (the ledger) */
	want_cost = (double)(now - r->launched_at) / 3600.0 * (cost +
	    pipeline_price_storage(NULL, "us-east-1", 20));
	assert_true(r->total_cost_usd > want_cost - 1e-9 &&
	    r->total_cost_usd < want_cost + 1e-9);
	assert_null(r->ssh_key_s3_key);
	assert_null(r->security_group_id);
	assert_world_clean();
	assert_string_equal(fakeworld.inst[0].state, "terminated");
	assert_int_equal(fakestore_events(id, "remote.terminate", &ev), 1);
	snprintf(want, sizeof(want), "\"uptime_seconds\":%lld",
	    (long long)(now - r->launched_at));
	assert_non_null(strstr(ev->payload, want));
	snprintf(want, sizeof(want), "\"instance_id\":\"%s\"", r->instance_id);
	assert_non_null(strstr(ev->payload, want));
}

/*
 * The ledger over a failed attempt and a termination: the attempt
 * rolled back after RunInstances is billed (60 s minimum, its disk for
 * the seconds it existed), the replayed launch of a crash opens nothing
 * twice, the termination closes everything and books what the rule
 * says.
 */
static void
test_stages__cost_ledger(void **state)
{
	struct pipeline_cost c;
	char id[STORE_ID_LEN], stage[24];
	double rate, disk = pipeline_price_storage(NULL, "us-east-1", 20);

	(void)state;
	fresh();
	fp("provision.launch.after=error");
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, NULL), ERR_FAILPOINT);
	fp("");
	row(id);
	assert_int_equal(fakeworld.ninst, 1);
	assert_int_equal(fakestore.ncost, 2);
	rate = fakestore.cost[0].usd;
	assert_true(rate > 0);
	ledger_cost(&c, id);
	assert_true(fabs(c.usd - 60 * rate / 3600) < 1e-12);
	assert_true(c.usd_per_hour == 0);
	assert_int_equal(c.seconds, 60);

	fresh();
	provision_ready(id);
	assert_int_equal(fakestore.ncost, 2);
	rate = row(NULL)->cost_per_hour_usd;
	assert_true(fabs(fakestore.cost[0].usd - rate) < 1e-12);
	tick(3600);
	ledger_cost(&c, id);
	assert_true(fabs(c.usd_per_hour - (rate + disk)) < 1e-12);
	assert_int_equal(job(PLAN_TERMINATE, NULL, id, stage), 0);
	assert_ledger_closed();
	ledger_cost(&c, id);
	assert_true(c.usd_per_hour == 0);
	assert_true(fabs(row(NULL)->total_cost_usd - c.usd) < 1e-6);
	assert_true(fabs(c.usd - (double)(now - fakestore.cost[0].start) /
	    3600 * (rate + disk)) < 1e-9);
}

static void
test_stages__terminate_instance_gone(void **state)
{
	char id[STORE_ID_LEN], stage[24];

	(void)state;
	/* Terminated out of band: still described, as EC2 does for a while. */
	provision_ready(id);
	snprintf(fakeworld.inst[0].state, 16, "terminated");
	assert_int_equal(job(PLAN_TERMINATE, NULL, id, stage), 0);
	assert_int_equal(row(NULL)->status, STORE_STATUS_TERMINATED);
	assert_world_clean();
	/* Long gone: EC2 no longer knows the id at all. */
	fresh();
	provision_ready(id);
	snprintf(fakeworld.inst[0].id, 32, "i-forgotten");
	snprintf(fakeworld.inst[0].state, 16, "terminated");
	assert_int_equal(job(PLAN_TERMINATE, NULL, id, stage), 0);
	assert_string_equal(stage, "terminated");
	assert_int_equal(row(NULL)->status, STORE_STATUS_TERMINATED);
	assert_world_clean();
	assert_int_equal(fakestore_events(id, "remote.terminate", NULL), 1);
}

static void
test_stages__terminate_group_in_use(void **state)
{
	const struct store_env *r;
	char id[STORE_ID_LEN], stage[24], gid[32];

	(void)state;
	provision_ready(id);
	snprintf(gid, sizeof(gid), "%s", row(NULL)->security_group_id);
	fakeworld.slow_shutdown = true;
	assert_int_equal(job(PLAN_TERMINATE, NULL, id, stage), 0);
	r = row(NULL);
	/* Ended, with the group left on the row for garbage collection. */
	assert_int_equal(r->status, STORE_STATUS_TERMINATED);
	assert_non_null(r->security_group_id);
	assert_string_equal(r->security_group_id, gid);
	assert_null(r->ssh_key_s3_key);
	assert_int_equal(fakeworld.nsg, 1);
	assert_int_equal(fakeworld.nkp, 0);
	assert_int_equal(fakeworld.nobj, 0);
	/* GC while the instance is still shutting down: waiting. */
	assert_int_equal(job(PLAN_GC, NULL, id, stage), 0);
	assert_string_equal(stage, "gc-waiting");
	assert_string_equal(row(NULL)->security_group_id, gid);
	assert_int_equal(fakeworld.nsg, 1);
	/* Once it is gone: collected. */
	fakeworld_settle();
	assert_int_equal(job(PLAN_GC, NULL, id, stage), 0);
	assert_string_equal(stage, "collected");
	assert_null(row(NULL)->security_group_id);
	assert_world_clean();
}

static void
test_stages__terminate_protected(void **state)
{
	const struct store_env *r;
	char id[STORE_ID_LEN];

	(void)state;
	provision_ready(id);
	fakeworld_instance(row(NULL)->instance_id)->protected = 1;
	assert_int_equal(job(PLAN_TERMINATE, NULL, id, NULL), ERR_CONFLICT);
	r = row(NULL);
	assert_int_equal(r->status, STORE_STATUS_TERMINATING);
	assert_non_null(strstr(r->error, "termination protection"));
	/* Reported, never overridden: nothing of it was touched. */
	assert_string_equal(fakeworld.inst[0].state, "running");
	assert_int_equal(fakeworld.nsg, 1);
	assert_int_equal(fakeworld.nkp, 1);
	assert_int_equal(fakeworld.nobj, 3);	/* keys and the marker */
	assert_int_equal(fakeworld_count("TerminateInstances"), 0);
	/* Turned off: the next pass finishes it. */
	fakeworld.inst[0].protected = 0;
	assert_int_equal(job(PLAN_TERMINATE, NULL, id, NULL), 0);
	assert_int_equal(row(NULL)->status, STORE_STATUS_TERMINATED);
	assert_world_clean();
}

/* ---- only what is provably ours (docs/design.md §3.9) ---- */

/* Set tag key of t to value (NULL: remove it). */
static void
retag(struct fw_tag *t, size_t *n, const char *key, const char *value)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp(t[i].key, key) == 0)
			break;
	if (i == *n) {
		assert_true(*n < FW_TAGS);
		t[i].key = strdup(key);
		t[i].value = NULL;
		(*n)++;
	}
	free(t[i].value);
	t[i].value = NULL;
	if (value != NULL) {
		t[i].value = strdup(value);
		return;
	}
	free(t[i].key);
	t[i] = t[--*n];
}

/* Point string column field of the stored row of id at v. */
static void
row_point(const char *id, unsigned field, const char *v)
{
	struct store_env r;

	assert_int_equal(store_env_get(&r, F.st, id), 0);
	if (field == STORE_ENV_INSTANCE_ID) {
		free(r.instance_id);
		r.instance_id = strdup(v);
	} else {
		free(r.security_group_id);
		r.security_group_id = strdup(v);
	}
	assert_int_equal(store_env_update(F.st, &r, field), 0);
	store_env_dispose(&r);
}

/*
 * The row of id was refused once for what (a substring of its error,
 * which says why): status kept, stage ownership, one ownership.refused.
 */
static void
assert_refused(const char *id, enum store_status status, const char *what,
    const char *why)
{
	const struct store_env *r = fakestore_row(id);
	const struct fs_event *ev;

	assert_non_null(r);
	assert_int_equal(r->status, status);
	assert_non_null(r->error);
	if (strstr(r->error, what) == NULL || strstr(r->error, why) == NULL ||
	    strncmp(r->error, "not ours: ", 10) != 0)
		fail_msg("error '%s' does not say '%s' and '%s'", r->error, what,
		    why);
	assert_string_equal(r->failed_at_stage, STORE_FAILED_OWNERSHIP);
	assert_int_equal(fakestore_events(id, "ownership.refused", &ev), 1);
	assert_non_null(strstr(ev->payload, why));
}

/*
 * Terminate a row whose instance is not ours (no managed tag, another
 * cluster's, another env id's, an unrelated untagged one): nothing in
 * AWS is touched, and a second pass records nothing more.
 */
static void
test_stages__own_instance_refused(void **state)
{
	static const struct {
		const char	*key, *value, *why;
	} c[] = {
		{ "envctl:managed", NULL, "no tag envctl:managed" },
		{ "envctl:managed", "false", "tag envctl:managed is 'false', not 'true'" },
		{ "envctl:cluster", "c2", "tag envctl:cluster is 'c2', not 'c1'" },
		{ "envctl:env-id", "0000", "tag envctl:env-id is '0000'" },
		{ NULL, NULL, "no tag envctl:managed" },	/* another instance */
	};
	struct ec2_run_input ri;
	struct ec2_instance other;
	struct fw_instance *in;
	char id[STORE_ID_LEN], iid[32];
	size_t i, nobj;
	unsigned deletes;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		fresh();
		provision_ready(id);
		in = fakeworld_instance(row(NULL)->instance_id);
		if (c[i].key != NULL)
			retag(in->tags, &in->ntags, c[i].key, c[i].value);
		else {
			memset(&ri, 0, sizeof(ri));
			ri.image_id = "ami-0aaa";
			ri.instance_type = "t3.micro";
			ri.client_token = "someone-else";
			ri.user_data = "#!/bin/sh\n";
			ri.user_data_len = 10;
			assert_int_equal(ec2_instance_run(&other, F.ec2, &ri), 0);
			row_point(id, STORE_ENV_INSTANCE_ID, other.id);
			ec2_instance_dispose(&other);
		}
		snprintf(iid, sizeof(iid), "instance %s", row(NULL)->instance_id);
		deletes = fakeworld_count("DeleteObject");
		nobj = fakeworld.nobj;
		assert_int_equal(job(PLAN_TERMINATE, NULL, id, NULL), ERR_FOREIGN);
		assert_refused(id, STORE_STATUS_TERMINATING, iid, c[i].why);
		assert_int_equal(fakeworld_count("TerminateInstances"), 0);
		assert_int_equal(fakeworld_count("DeleteSecurityGroup"), 0);
		assert_int_equal(fakeworld_count("DeleteKeyPair"), 0);
		assert_int_equal(fakeworld_count("DeleteObject"), deletes);
		assert_int_equal(fakeworld.nobj, nobj);
		assert_int_equal(fakeworld_live_instances(), c[i].key ? 1 : 2);
		/* The next pass (were it planned) adds no second event. */
		assert_int_equal(job(PLAN_TERMINATE, NULL, id, NULL), ERR_FOREIGN);
		assert_refused(id, STORE_STATUS_TERMINATING, iid, c[i].why);
		assert_int_equal(fakeworld_count("TerminateInstances"), 0);
	}
}

/*
 * A row's security group or key pair that is not ours: the instance (ours)
 * goes, the foreign group or key pair stays, untouched.
 */
static void
test_stages__own_group_and_key_pair_refused(void **state)
{
	static const struct ec2_kv theirs[] = { { "team", "db" } };
	struct fw_group *g;
	struct fw_keypair *kp;
	char id[STORE_ID_LEN], gid[32], what[192];

	(void)state;
	/* The row names an unrelated group (untagged). */
	provision_ready(id);
	assert_int_equal(ec2_security_group_create(gid, sizeof(gid), F.ec2,
	    "database", "theirs", "vpc-1", theirs, 1), 0);
	row_point(id, STORE_ENV_SECURITY_GROUP_ID, gid);
	snprintf(what, sizeof(what), "security group %s", gid);
	assert_int_equal(job(PLAN_TERMINATE, NULL, id, NULL), ERR_FOREIGN);
	assert_refused(id, STORE_STATUS_TERMINATING, what, "no tag envctl:managed");
	assert_int_equal(fakeworld_count("DeleteSecurityGroup"), 0);
	assert_non_null(fakeworld_group_named("database"));
	assert_string_equal(fakeworld.inst[0].state, "terminated");

	/* Its own group, found by name, retagged to another cluster. */
	fresh();
	provision_ready(id);
	g = fakeworld_group_named(res_name(id));
	retag(g->tags, &g->ntags, "envctl:cluster", "c2");
	fakeworld_settle();
	row_point(id, STORE_ENV_SECURITY_GROUP_ID, g->id);
	snprintf(what, sizeof(what), "security group %s", g->id);
	assert_int_equal(job(PLAN_TERMINATE, NULL, id, NULL), ERR_FOREIGN);
	assert_refused(id, STORE_STATUS_TERMINATING, what,
	    "tag envctl:cluster is 'c2', not 'c1'");
	assert_int_equal(fakeworld_count("DeleteSecurityGroup"), 0);
	assert_int_equal(fakeworld.nsg, 1);

	/* The key pair of another env id. */
	fresh();
	provision_ready(id);
	kp = fakeworld_keypair(res_name(id));
	retag(kp->tags, &kp->ntags, "envctl:env-id", "other");
	assert_int_equal(job(PLAN_TERMINATE, NULL, id, NULL), ERR_FOREIGN);
	snprintf(what, sizeof(what), "key pair %s", res_name(id));
	assert_refused(id, STORE_STATUS_TERMINATING, what,
	    "tag envctl:env-id is 'other'");
	assert_int_equal(fakeworld_count("DeleteKeyPair"), 0);
	assert_int_equal(fakeworld_count("DeleteSecurityGroup"), 0);
	assert_int_equal(fakeworld.nkp, 1);
}

/*
 * A group that already exists (a retried create) is given rules only if
 * it is ours; refused, the provision stops without a rollback.
 */
static void
test_stages__own_existing_group_not_changed(void **state)
{
	static const struct ec2_kv theirs[] = {
		{ "envctl:managed", "true" }, { "envctl:cluster", "c2" } };
	char id[STORE_ID_LEN], gid[32];

	(void)state;
	fp("provision.sg_create.before=error");
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, NULL), ERR_FAILPOINT);
	fp("");
	row(id);
	/* Another cluster's controller made a group of that name meanwhile. */
	assert_int_equal(ec2_security_group_create(gid, sizeof(gid), F.ec2,
	    res_name(id), "theirs", "vpc-1", theirs, 2), 0);
	tick(3600);
	assert_int_equal(job(PLAN_RETRY, F.web, id, NULL), ERR_FOREIGN);
	assert_refused(id, STORE_STATUS_PROVISIONING, gid,
	    "tag envctl:cluster is 'c2', not 'c1'");
	assert_int_equal(fakeworld_count("AuthorizeSecurityGroupIngress"), 0);
	assert_int_equal(fakeworld_count("RevokeSecurityGroupIngress"), 0);
	assert_int_equal(fakeworld_count("DeleteSecurityGroup"), 0);
	assert_int_equal(fakeworld_count("RunInstances"), 0);
	assert_int_equal(fakeworld_group_named(res_name(id))->nrules, 0);
	assert_int_equal(fakestore_events(id, "remote.provision.error", NULL), 1);

	/* The group the row recorded, retagged before the rules were set. */
	fresh();
	fp("provision.sg_ingress.before=error,provision.error.before=error");
	assert_int_equal(job(PLAN_PROVISION, F.web, NULL, NULL), ERR_FAILPOINT);
	fp("");
	assert_int_equal(row(id)->stage, STORE_STAGE_KEYS_UPLOADED);
	assert_non_null(row(NULL)->security_group_id);
	snprintf(gid, sizeof(gid), "%s", row(NULL)->security_group_id);
	retag(fakeworld.sg[0].tags, &fakeworld.sg[0].ntags, "envctl:cluster", "c2");
	assert_int_equal(job(PLAN_ADVANCE, F.web, id, NULL), ERR_FOREIGN);
	assert_refused(id, STORE_STATUS_PROVISIONING, gid,
	    "tag envctl:cluster is 'c2', not 'c1'");
	assert_int_equal(fakeworld_count("AuthorizeSecurityGroupIngress"), 0);
	assert_int_equal(fakeworld_count("RevokeSecurityGroupIngress"), 0);
	assert_int_equal(fakeworld_count("DeleteSecurityGroup"), 0);
	assert_int_equal(fakeworld.sg[0].nrules, 0);
}

/* Orphans and duplicates are checked on the pass's own description. */
static void
test_stages__own_orphan_and_duplicate(void **state)
{
	struct ec2_tag tags[3] = {
		{ "envctl:managed", "true" }, { "envctl:cluster", "c2" },
		{ "envctl:env-id", "11111111-1111-1111-1111-111111111111" } };
	struct ec2_instance in;
	struct store_brief b;
	struct pipeline_job j;
	char id[STORE_ID_LEN];
	const struct fs_event *ev;

	(void)state;
	provision_ready(id);
	memset(&in, 0, sizeof(in));
	in.id = fakeworld.inst[0].id;
	in.state = "running";
	in.tags = tags;
	in.ntags = 3;
	memset(&j, 0, sizeof(j));
	j.kind = PLAN_ORPHAN;
	j.name = "web";
	j.reason = "orphan";
	j.inst = &in;
	j.region = "us-east-1";
	assert_int_equal(pipeline_job_run(F.p, &j), ERR_FOREIGN);
	assert_non_null(strstr(j.error, "tag envctl:cluster is 'c2'"));
	free(j.error);
	assert_int_equal(fakestore_events(NULL, "ownership.refused", &ev), 1);
	assert_non_null(strstr(ev->payload, "envctl:cluster"));
	/* A duplicate of the row whose env-id tag is another's. */
	tags[1].value = "c1";
	memset(&b, 0, sizeof(b));
	b.id = id;
	b.name = "web";
	j.kind = PLAN_TERMINATE;
	j.reason = "duplicate instance";
	j.row = &b;
	j.error = NULL;
	assert_int_equal(pipeline_job_run(F.p, &j), ERR_FOREIGN);
	assert_non_null(strstr(j.error, "tag envctl:env-id is '1111"));
	free(j.error);
	assert_int_equal(fakeworld_count("TerminateInstances"), 0);
	assert_string_equal(fakeworld.inst[0].state, "running");
	/* Ours after all: the orphan goes. */
	tags[2].value = id;
	j.kind = PLAN_ORPHAN;
	j.row = NULL;
	j.error = NULL;
	assert_int_equal(pipeline_job_run(F.p, &j), 0);
	assert_int_equal(fakeworld_count("TerminateInstances"), 1);
}

static const char *const terminate_fps[] = {
	"terminate.mark.before", "terminate.mark.after",
	"terminate.protection.before", "terminate.protection.after",
	"terminate.instance.before", "terminate.instance.after",
	"terminate.s3.before", "terminate.s3.after",
	"terminate.keypair.before", "terminate.keypair.after",
	"terminate.sg.before", "terminate.sg.after",
	"terminate.done.before", "terminate.done.after",
	"terminate.event.before", "terminate.event.after",
};

/*
 * Every terminate failpoint: the job fails; the next pass (terminate
 * again while the row is live, else garbage collection) ends with the
 * row terminated and nothing left; the event recorded once at most.
 */
/*
 * An orphan's group still in use while its instance shuts down
 * (DependencyViolation): recorded on a row (an ended one made for it
 * when its incarnation has none), event orphan.group_left; a later GC
 * pass deletes it (event gc.group_deleted) and the row forgets it.
 */
static void
test_stages__orphan_group_left(void **state)
{
	struct ec2_tag tags[4] = {
		{ "envctl:managed", "true" }, { "envctl:cluster", "c1" },
		{ "envctl:env-id", NULL }, { "envctl:name", "web" } };
	struct ec2_instance in;
	struct pipeline_job j;
	char id[STORE_ID_LEN], gid[32], stage[24];
	const struct store_env *r;
	const struct fs_event *ev;

	(void)state;
	provision_ready(id);
	snprintf(gid, sizeof(gid), "%s", row(NULL)->security_group_id);
	/* The row is lost: no row of this cluster names the incarnation. */
	snprintf(fakestore.rows[0].id, sizeof(fakestore.rows[0].id),
	    "22222222-2222-4222-8222-222222222222");
	fakestore.rows[0].status = STORE_STATUS_TERMINATED;
	tags[2].value = id;
	memset(&in, 0, sizeof(in));
	in.id = fakeworld.inst[0].id;
	in.state = "running";
	in.tags = tags;
	in.ntags = 4;
	memset(&j, 0, sizeof(j));
	j.kind = PLAN_ORPHAN;
	j.name = "web";
	j.reason = "orphan";
	j.inst = &in;
	j.region = "us-east-1";
	fakeworld.slow_shutdown = true;
	assert_int_equal(pipeline_job_run(F.p, &j), 0);
	free(j.error);
	assert_int_equal(j.gc_waiting, 1);
	assert_int_equal(fakeworld_count("DeleteSecurityGroup"), 1);
	assert_non_null(fakeworld_group_named(res_name(id)));
	r = fakestore_row(id);
	assert_non_null(r);
	assert_int_equal(r->status, STORE_STATUS_TERMINATED);
	assert_string_equal(r->security_group_id, gid);
	assert_string_equal(r->termination_reason, "orphan");
	assert_int_equal(fakestore_events(id, "orphan.group_left", &ev), 1);
	assert_non_null(strstr(ev->payload, gid));

	/* Still shutting down at the next pass: GC waits, keeps it. */
	assert_int_equal(job(PLAN_GC, NULL, id, stage), 0);
	assert_string_equal(stage, "gc-waiting");
	assert_string_equal(fakestore_row(id)->security_group_id, gid);
	/* Terminated: the group goes, the row forgets it. */
	fakeworld_settle();
	assert_int_equal(job(PLAN_GC, NULL, id, stage), 0);
	assert_string_equal(stage, "collected");
	assert_null(fakestore_row(id)->security_group_id);
	assert_null(fakeworld_group_named(res_name(id)));
	assert_int_equal(fakestore_events(id, "gc.group_deleted", &ev), 1);
}

static void
test_stages__terminate_failpoints(void **state)
{
	char spec[128], id[STORE_ID_LEN];
	const struct store_env *r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(terminate_fps) / sizeof(terminate_fps[0]); i++) {
		fresh();
		provision_ready(id);
		snprintf(spec, sizeof(spec), "%s=error", terminate_fps[i]);
		fp(spec);
		assert_int_equal(job(PLAN_TERMINATE, NULL, id, NULL), ERR_FAILPOINT);
		fp("");
		r = row(NULL);
		if (i >= 13)	/* done.after and the event: already ended */
			assert_int_equal(r->status, STORE_STATUS_TERMINATED);
		else if (i >= 1)
			assert_int_equal(r->status, STORE_STATUS_TERMINATING);
		if (r->status != STORE_STATUS_TERMINATED)
			assert_int_equal(job(PLAN_TERMINATE, NULL, id, NULL), 0);
		else if (r->ssh_key_s3_key != NULL || r->security_group_id != NULL)
			assert_int_equal(job(PLAN_GC, NULL, id, NULL), 0);
		r = row(NULL);
		assert_int_equal(r->status, STORE_STATUS_TERMINATED);
		assert_null(r->security_group_id);
		assert_world_clean();
		assert_int_equal(fakestore_events(id, "remote.terminate", NULL),
		    strcmp(terminate_fps[i], "terminate.event.before") == 0 ||
		    strcmp(terminate_fps[i], "terminate.done.after") == 0 ? 0 : 1);
	}
}

/* Every provision and terminate failpoint is driven by a case above. */
static void
test_stages__failpoints_covered(void **state)
{
	static const char *const elsewhere[] = {
		"provision.launch_pool.before", "provision.launch_pool.after",
		"provision.error.before", "provision.error.after",
		"provision.rollback.instance.before",
		"provision.rollback.instance.after",
		"provision.rollback.s3.before", "provision.rollback.s3.after",
		"provision.rollback.keypair.before",
		"provision.rollback.keypair.after",
		"provision.rollback.sg.before", "provision.rollback.sg.after",
		"provision.rolled_back.before", "provision.rolled_back.after",
		/* adoption is not a stage of the machine */
		"provision.adopt.before", "provision.adopt.after",
	};
	size_t i, j;
	int found;

	(void)state;
	for (i = 0; pipeline_failpoints[i] != NULL; i++) {
		const char *f = pipeline_failpoints[i];

		found = strncmp(f, "terminate.", 10) != 0 &&
		    strncmp(f, "provision.", 10) != 0;
		for (j = 0; !found && j < sizeof(fresh_fps) / sizeof(fresh_fps[0]); j++)
			found = strcmp(f, fresh_fps[j].fp) == 0;
		for (j = 0; !found && j < sizeof(advance_fps) / sizeof(advance_fps[0]); j++)
			found = strcmp(f, advance_fps[j].fp) == 0;
		for (j = 0; !found && j < sizeof(elsewhere) / sizeof(elsewhere[0]); j++)
			found = strcmp(f, elsewhere[j]) == 0;
		for (j = 0; !found && j < sizeof(terminate_fps) / sizeof(terminate_fps[0]); j++)
			found = strcmp(f, terminate_fps[j]) == 0;
		if (!found)
			fail_msg("failpoint %s has no case in test_stages.c", f);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stages__provision_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__provision_image_architecture,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__not_ready_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__provision_failpoints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__provision_aws_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__notfound_just_made, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__capacity_next_pool, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__unsupported_next_subnet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__readiness_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__hostkey_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__stop_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__tagging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__crash_every_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__crash_replay_client_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__aws_down_every_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__rollback_interrupted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__rollback_group_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__terminate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__cost_ledger, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__terminate_instance_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__terminate_group_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__terminate_protected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__terminate_failpoints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__own_instance_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__own_group_and_key_pair_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__own_existing_group_not_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__own_orphan_and_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__orphan_group_left, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__spot_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages__spot_placement, setup, teardown),
		cmocka_unit_test(test_stages__failpoints_covered),
		cmocka_unit_test_setup_teardown(test_stages__secret_sources, setup, teardown),
	};

	now = T0;
	setenv("ENVCTL_SECRET_STAGES_TOKEN", "s3cr3t", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
