/*
 * fake_aws.c - an in-memory EC2 and S3 behind the API of lib/aws (aws.h,
 * ec2.h, s3.h): the functions lib/pipeline calls, linked instead of
 * envctl_aws.  See fakeworld.h.
 */
#include <fnmatch.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "err.h"
#include "fakeworld.h"
#include "mem.h"
#include "s3.h"
#include "ssm.h"

struct fakeworld fakeworld;

struct aws_client {
	char		 region[32];
	struct aws_error last;
	time_t		(*clock)(void *);
	void		*clock_arg;
};

struct ec2_client {
	struct aws_client *aws;
};

struct s3_client {
	struct aws_client *aws;
};

static const struct {
	const char	*id;
	const char	*name;
	time_t		 created;
	const char	*arch;
} images[] = {
	{ "ami-0aaa", "al2023-ami-2023.1.20230705.0-kernel-6.1-x86_64", 1688515200,
	  "x86_64" },
	{ "ami-0bbb", "al2023-ami-2023.2.20230920.1-kernel-6.1-x86_64", 1695168000,
	  "x86_64" },
	{ "ami-0ccc", "debian-12-amd64-20230910-1499", 1694304000, "x86_64" },
	{ "ami-0ddd0001", "al2023-ami-2023.2.20230920.1-kernel-6.1-arm64",
	  1695168000, "arm64" },
	{ "ami-0eee0002", "al2023-ami-2023.0.20230101.0-kernel-6.1-x86_64",
	  1672531200, "x86_64" },
};

static const struct {
	const char	*id;
	const char	*vpc;
	const char	*az;
	const char	*az_id;
} subnets[] = {
	{ "subnet-0a", "vpc-1", "us-east-1a", "use1-az6" },
	{ "subnet-0b", "vpc-1", "us-east-1b", "use1-az1" },
	{ "subnet-0c", "vpc-2", "us-east-1c", "use1-az2" },
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* ---- bookkeeping ---- */

static void
tags_free(struct fw_tag *t, size_t *n)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		free(t[i].key);
		free(t[i].value);
	}
	*n = 0;
}

static void
tags_set(struct fw_tag *t, size_t *n, const struct ec2_kv *kv, size_t nkv)
{
	size_t i, j;

	for (i = 0; i < nkv; i++) {
		for (j = 0; j < *n; j++)
			if (strcmp(t[j].key, kv[i].key) == 0)
				break;
		if (j == *n) {
			if (*n == FW_TAGS)
				abort();
			t[j].key = xstrdup(kv[i].key);
			t[j].value = NULL;
			(*n)++;
		}
		free(t[j].value);
		t[j].value = xstrdup(kv[i].value);
	}
}

void
fakeworld_reset(void)
{
	struct fakeworld *w = &fakeworld;
	size_t i;

	for (i = 0; i < w->ninst; i++) {
		tags_free(w->inst[i].tags, &w->inst[i].ntags);
		free(w->inst[i].user_data);
	}
	for (i = 0; i < w->nsg; i++)
		tags_free(w->sg[i].tags, &w->sg[i].ntags);
	for (i = 0; i < w->nkp; i++) {
		tags_free(w->kp[i].tags, &w->kp[i].ntags);
		free(w->kp[i].public_key);
	}
	for (i = 0; i < w->nobj; i++) {
		free(w->obj[i].key);
		free(w->obj[i].body);
	}
	memset(w, 0, sizeof(*w));
	snprintf(w->bucket, sizeof(w->bucket), "bkt");
	w->down_after = -1;
	w->next_id = 0x100;
}

void
fakeworld_fail(const char *action, const char *match, unsigned nth,
    const char *code)
{
	struct fw_fault *f;

	if (fakeworld.nfaults == NELEM(fakeworld.faults))
		abort();
	f = &fakeworld.faults[fakeworld.nfaults++];
	memset(f, 0, sizeof(*f));
	snprintf(f->action, sizeof(f->action), "%s", action);
	snprintf(f->match, sizeof(f->match), "%s", match ? match : "");
	f->nth = nth;
	snprintf(f->code, sizeof(f->code), "%s", code);
}

unsigned
fakeworld_count(const char *action)
{
	size_t i;

	for (i = 0; i < fakeworld.ncounts; i++)
		if (strcmp(fakeworld.counts[i].action, action) == 0)
			return fakeworld.counts[i].n;
	return 0;
}

static void
count(const char *action)
{
	struct fakeworld *w = &fakeworld;
	size_t i;

	w->calls++;
	for (i = 0; i < w->ncounts; i++)
		if (strcmp(w->counts[i].action, action) == 0) {
			w->counts[i].n++;
			return;
		}
	if (w->ncounts == NELEM(w->counts))
		abort();
	snprintf(w->counts[i].action, sizeof(w->counts[i].action), "%s", action);
	w->counts[i].n = 1;
	w->ncounts++;
}

/* What lib/aws's error.c maps these codes to (aws_error_code_to_err). */
static int
code_err(const char *code)
{
	size_t n = strlen(code);

	if (n >= 8 && strcmp(code + n - 8, "NotFound") == 0)
		return ERR_NOTFOUND;
	if (strncmp(code, "NoSuch", 6) == 0)
		return ERR_NOTFOUND;
	if (n >= 10 && strcmp(code + n - 10, ".Duplicate") == 0)
		return ERR_EXISTS;
	if (strcmp(code, "IdempotentParameterMismatch") == 0)
		return ERR_CONFLICT;
	if (strcmp(code, "InsufficientInstanceCapacity") == 0 ||
	    strcmp(code, "InternalError") == 0 ||
	    strcmp(code, "ServiceUnavailable") == 0)
		return ERR_UNAVAILABLE;
	if (strcmp(code, "RequestLimitExceeded") == 0)
		return ERR_THROTTLED;
	return ERR_INVALID;
}

/* Answer an AWS error for action: the client's last error and err_get(). */
static int
answer(struct aws_client *c, const char *action, const char *code)
{
	struct aws_error *e = &c->last;

	memset(e, 0, sizeof(*e));
	e->err = code_err(code);
	e->http_status = e->err == ERR_UNAVAILABLE ? 503 : 400;
	snprintf(e->code, sizeof(e->code), "%s", code);
	snprintf(e->action, sizeof(e->action), "%s", action);
	snprintf(e->message, sizeof(e->message), "fake %s", code);
	e->attempts = 1;
	err_set("%s: %s: fake %s", action, code, code);
	return e->err;
}

/*
 * Every call starts here: count it, answer a scripted fault (matching
 * detail, or alt when not NULL) or go on.
 */
static int
call_alt(struct aws_client *c, const char *action, const char *detail,
    const char *alt);

static int
call(struct aws_client *c, const char *action, const char *detail)
{
	return call_alt(c, action, detail, NULL);
}

static int
call_alt(struct aws_client *c, const char *action, const char *detail,
    const char *alt)
{
	struct fakeworld *w = &fakeworld;
	size_t i;

	count(action);
	memset(&c->last, 0, sizeof(c->last));
	if (w->down_after >= 0 && (long)w->calls > w->down_after)
		return answer(c, action, "ServiceUnavailable");
	for (i = 0; i < w->nfaults; i++) {
		struct fw_fault *f = &w->faults[i];

		if (strcmp(f->action, action) != 0 || (f->match[0] != '\0' &&
		    (detail == NULL || strcmp(f->match, detail) != 0) &&
		    (alt == NULL || strcmp(f->match, alt) != 0)))
			continue;
		f->seen++;
		if (f->nth == 0 || f->nth == f->seen)
			return answer(c, action, f->code);
	}
	return 0;
}

struct fw_instance *
fakeworld_instance(const char *id)
{
	size_t i;

	for (i = 0; id != NULL && i < fakeworld.ninst; i++)
		if (strcmp(fakeworld.inst[i].id, id) == 0)
			return &fakeworld.inst[i];
	return NULL;
}

struct fw_group *
fakeworld_group_named(const char *name)
{
	size_t i;

	for (i = 0; i < fakeworld.nsg; i++)
		if (strcmp(fakeworld.sg[i].name, name) == 0)
			return &fakeworld.sg[i];
	return NULL;
}

static struct fw_group *
group_id(const char *id)
{
	size_t i;

	for (i = 0; id != NULL && i < fakeworld.nsg; i++)
		if (strcmp(fakeworld.sg[i].id, id) == 0)
			return &fakeworld.sg[i];
	return NULL;
}

struct fw_keypair *
fakeworld_keypair(const char *name)
{
	size_t i;

	for (i = 0; i < fakeworld.nkp; i++)
		if (strcmp(fakeworld.kp[i].name, name) == 0)
			return &fakeworld.kp[i];
	return NULL;
}

struct fw_object *
fakeworld_object(const char *key)
{
	size_t i;

	for (i = 0; i < fakeworld.nobj; i++)
		if (strcmp(fakeworld.obj[i].key, key) == 0)
			return &fakeworld.obj[i];
	return NULL;
}

const char *
fakeworld_tag(const struct fw_instance *in, const char *key)
{
	size_t i;

	for (i = 0; i < in->ntags; i++)
		if (strcmp(in->tags[i].key, key) == 0)
			return in->tags[i].value;
	return NULL;
}

size_t
fakeworld_live_instances(void)
{
	size_t i, n = 0;

	for (i = 0; i < fakeworld.ninst; i++)
		n += strcmp(fakeworld.inst[i].state, "terminated") != 0;
	return n;
}

void
fakeworld_settle(void)
{
	size_t i;

	for (i = 0; i < fakeworld.ninst; i++) {
		struct fw_instance *in = &fakeworld.inst[i];

		in->hidden = false;
		if (strcmp(in->state, "pending") == 0) {
			snprintf(in->state, sizeof(in->state), "running");
			snprintf(in->public_ip, sizeof(in->public_ip),
			    "198.51.100.%zu", i + 10);
		} else if (strcmp(in->state, "shutting-down") == 0)
			snprintf(in->state, sizeof(in->state), "terminated");
	}
}

static void
object_put(const char *key, const void *data, size_t len, int sse)
{
	struct fw_object *o = fakeworld_object(key);

	if (o == NULL) {
		if (fakeworld.nobj == FW_MAX)
			abort();
		o = &fakeworld.obj[fakeworld.nobj++];
		o->key = xstrdup(key);
	} else
		free(o->body);
	o->body = xmalloc(len + 1);
	memcpy(o->body, data, len);
	o->body[len] = '\0';
	o->len = len;
	o->sse = sse;
}

void
fakeworld_put(const char *key, const char *body)
{
	object_put(key, body, strlen(body), S3_SSE_NONE);
}

/* ---- aws.h ---- */

int
aws_client_new(struct aws_client **out, const struct aws_client_opts *o)
{
	struct aws_client *c = xcalloc(1, sizeof(*c));

	snprintf(c->region, sizeof(c->region), "%s",
	    o->region != NULL ? o->region : "us-east-1");
	c->clock = o->clock;
	c->clock_arg = o->clock_arg;
	*out = c;
	return 0;
}

void
aws_client_free(struct aws_client *c)
{
	free(c);
}

const char *
aws_client_region(const struct aws_client *c)
{
	return c->region;
}

const struct aws_error *
aws_client_last_error(const struct aws_client *c)
{
	return &c->last;
}

/* ---- ec2.h: clients and instances ---- */

int
ec2_client_new(struct ec2_client **out, struct aws_client *aws)
{
	*out = xcalloc(1, sizeof(**out));
	(*out)->aws = aws;
	return 0;
}

void
ec2_client_free(struct ec2_client *c)
{
	free(c);
}

void
ec2_instance_dispose(struct ec2_instance *inst)
{
	free(inst->block);
	memset(inst, 0, sizeof(*inst));
}

const char *
ec2_instance_tag(const struct ec2_instance *inst, const char *key)
{
	size_t i;

	for (i = 0; i < inst->ntags; i++)
		if (strcmp(inst->tags[i].key, key) == 0)
			return inst->tags[i].value;
	return NULL;
}

void
ec2_instance_page_dispose(struct ec2_instance_page *page)
{
	size_t i;

	for (i = 0; i < page->n; i++)
		ec2_instance_dispose(&page->v[i]);
	free(page->v);
	free(page->next_token);
	memset(page, 0, sizeof(*page));
}

/* Copy s into the block at *pos; the copy's address. */
static const char *
block_str(char **pos, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = *pos;

	memcpy(p, s, n);
	*pos += n;
	return p;
}

/* The instance as EC2 answers it: every string in one block. */
static void
instance_export(struct ec2_instance *out, const struct fw_instance *in,
    bool with_tags)
{
	const char *strs[] = { in->id, in->state, in->type, in->image, "10.0.0.9",
	    in->public_ip, in->subnet, in->vpc, "us-east-1a", in->key_name,
	    in->token, "", in->sg };
	size_t ntags = with_tags ? in->ntags : 0, size, i;
	struct ec2_tag *tags;
	const char **sgs;
	char *pos;

	size = ntags * sizeof(struct ec2_tag) + sizeof(char *);
	for (i = 0; i < NELEM(strs); i++)
		size += strlen(strs[i]) + 1;
	for (i = 0; i < ntags; i++)
		size += strlen(in->tags[i].key) + strlen(in->tags[i].value) + 2;
	memset(out, 0, sizeof(*out));
	out->block = xmalloc(size);
	tags = out->block;
	sgs = (const char **)(void *)(tags + ntags);
	pos = (char *)(sgs + 1);
	out->id = block_str(&pos, strs[0]);
	out->state = block_str(&pos, strs[1]);
	out->type = block_str(&pos, strs[2]);
	out->image_id = block_str(&pos, strs[3]);
	out->private_ip = block_str(&pos, strs[4]);
	out->public_ip = block_str(&pos, strs[5]);
	out->subnet_id = block_str(&pos, strs[6]);
	out->vpc_id = block_str(&pos, strs[7]);
	out->az = block_str(&pos, strs[8]);
	out->key_name = block_str(&pos, strs[9]);
	out->client_token = block_str(&pos, strs[10]);
	out->state_reason = block_str(&pos, strs[11]);
	sgs[0] = block_str(&pos, strs[12]);
	out->security_groups = sgs;
	out->nsecurity_groups = in->sg[0] != '\0';
	for (i = 0; i < ntags; i++) {
		tags[i].key = block_str(&pos, in->tags[i].key);
		tags[i].value = block_str(&pos, in->tags[i].value);
	}
	out->tags = tags;
	out->ntags = ntags;
	out->launched = in->launched;
	out->market = in->spot ? EC2_MARKET_SPOT : EC2_MARKET_ON_DEMAND;
	out->state_code = strcmp(in->state, "running") == 0 ? 16 :
	    strcmp(in->state, "terminated") == 0 ? 48 : 0;
}

static bool
value_in(const char *v, const struct ec2_filter *f)
{
	size_t i;

	for (i = 0; v != NULL && i < f->nvalues; i++)
		if (strcmp(v, f->values[i]) == 0)
			return true;
	return false;
}

/* Whether in passes the filters; -1 for a filter this fake does not know. */
static int
instance_match(const struct fw_instance *in, const struct ec2_filter *f,
    size_t nf)
{
	size_t i;

	for (i = 0; i < nf; i++) {
		if (strncmp(f[i].name, "tag:", 4) == 0) {
			if (!value_in(fakeworld_tag(in, f[i].name + 4), &f[i]))
				return 0;
		} else if (strcmp(f[i].name, "instance-state-name") == 0) {
			if (!value_in(in->state, &f[i]))
				return 0;
		} else
			return -1;
	}
	return 1;
}

int
ec2_instances_describe_page(struct ec2_instance_page *out,
    struct ec2_client *c, const struct ec2_describe_instances_input *in,
    const char *next_token)
{
	struct fakeworld *w = &fakeworld;
	size_t i, j;
	int error, m;

	(void)next_token;
	memset(out, 0, sizeof(*out));
	if ((error = call(c->aws, "DescribeInstances", NULL)) < 0)
		return error;
	for (i = 0; i < in->ninstance_ids; i++)
		if (fakeworld_instance(in->instance_ids[i]) == NULL)
			return answer(c->aws, "DescribeInstances",
			    "InvalidInstanceID.NotFound");
	out->v = xcalloc(w->ninst + 1, sizeof(*out->v));
	for (i = 0; i < w->ninst; i++) {
		const struct fw_instance *fi = &w->inst[i];

		if (in->ninstance_ids > 0) {
			for (j = 0; j < in->ninstance_ids; j++)
				if (strcmp(in->instance_ids[j], fi->id) == 0)
					break;
			if (j == in->ninstance_ids)
				continue;
		} else if (fi->hidden && in->nfilters > 0)
			continue;
		if ((m = instance_match(fi, in->filters, in->nfilters)) < 0) {
			ec2_instance_page_dispose(out);
			return answer(c->aws, "DescribeInstances",
			    "InvalidParameterValue");
		}
		if (m)
			instance_export(&out->v[out->n++], fi, true);
	}
	return 0;
}

int
ec2_instances_describe(struct ec2_client *c,
    const struct ec2_describe_instances_input *in, ec2_instance_page_fn *fn,
    void *arg, int *npages)
{
	struct ec2_instance_page page;
	int error;

	if (npages != NULL)
		*npages = 0;
	if ((error = ec2_instances_describe_page(&page, c, in, NULL)) < 0)
		return error;
	if (npages != NULL)
		*npages = 1;
	error = fn(page.v, page.n, arg);
	ec2_instance_page_dispose(&page);
	return error < 0 ? error : 0;
}

static void
digest_str(EVP_MD_CTX *ctx, const char *s)
{
	s = s != NULL ? s : "(null)";
	EVP_DigestUpdate(ctx, s, strlen(s) + 1);
}

/* SHA-256 of everything RunInstances is sent (the idempotency check). */
static void
run_params(unsigned char md[32], const struct ec2_run_input *in)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char num[64];
	size_t i;

	if (ctx == NULL)
		abort();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	digest_str(ctx, in->image_id);
	digest_str(ctx, in->instance_type);
	digest_str(ctx, in->subnet_id);
	for (i = 0; i < in->nsecurity_group_ids; i++)
		digest_str(ctx, in->security_group_ids[i]);
	digest_str(ctx, in->key_name);
	digest_str(ctx, in->iam_profile_name);
	digest_str(ctx, in->root_device_name);
	digest_str(ctx, in->spot_max_price);
	snprintf(num, sizeof(num), "%d/%d/%zu", in->root_size_gb, in->spot,
	    in->user_data_len);
	digest_str(ctx, num);
	EVP_DigestUpdate(ctx, in->user_data, in->user_data_len);
	for (i = 0; i < in->ntags; i++) {
		digest_str(ctx, in->tags[i].key);
		digest_str(ctx, in->tags[i].value);
	}
	EVP_DigestFinal_ex(ctx, md, NULL);
	EVP_MD_CTX_free(ctx);
}

static const char *
subnet_vpc(const char *id)
{
	size_t i;

	for (i = 0; i < NELEM(subnets); i++)
		if (strcmp(subnets[i].id, id) == 0)
			return subnets[i].vpc;
	return NULL;
}

static bool
image_known(const char *id)
{
	size_t i;

	for (i = 0; i < NELEM(images); i++)
		if (strcmp(images[i].id, id) == 0)
			return true;
	return false;
}

int
ec2_instance_run(struct ec2_instance *out, struct ec2_client *c,
    const struct ec2_run_input *in)
{
	struct fakeworld *w = &fakeworld;
	struct fw_instance *fi;
	struct fw_run *r;
	char pool[64], typed[96];
	size_t i;
	int error;

	memset(out, 0, sizeof(*out));
	if (in->image_id == NULL || in->instance_type == NULL ||
	    in->client_token == NULL) {
		err_set("RunInstances: image, type and client token are required");
		return ERR_INVALID;
	}
	snprintf(pool, sizeof(pool), "%s/%s", in->spot ? "spot" : "on-demand",
	    in->subnet_id ? in->subnet_id : "-");
	if (w->nruns == FW_MAX)
		abort();
	r = &w->runs[w->nruns++];
	snprintf(r->token, sizeof(r->token), "%s", in->client_token);
	snprintf(r->pool, sizeof(r->pool), "%s", pool);
	snprintf(r->type, sizeof(r->type), "%s", in->instance_type);
	run_params(r->params, in);
	snprintf(typed, sizeof(typed), "%s/%s/%s", in->spot ? "spot" : "on-demand",
	    in->instance_type, in->subnet_id ? in->subnet_id : "-");
	if ((error = call_alt(c->aws, "RunInstances", pool, typed)) < 0)
		return error;
	for (i = 0; i < w->ninst; i++) {
		fi = &w->inst[i];
		if (strcmp(fi->token, in->client_token) != 0)
			continue;
		if (memcmp(fi->params, r->params, sizeof(r->params)) != 0)
			return answer(c->aws, "RunInstances",
			    "IdempotentParameterMismatch");
		instance_export(out, fi, !w->run_answer_untagged);
		return 0;
	}
	if (!image_known(in->image_id))
		return answer(c->aws, "RunInstances", "InvalidAMIID.NotFound");
	if (in->subnet_id != NULL && subnet_vpc(in->subnet_id) == NULL)
		return answer(c->aws, "RunInstances", "InvalidSubnetID.NotFound");
	if (in->key_name != NULL && fakeworld_keypair(in->key_name) == NULL)
		return answer(c->aws, "RunInstances", "InvalidKeyPair.NotFound");
	for (i = 0; i < in->nsecurity_group_ids; i++)
		if (group_id(in->security_group_ids[i]) == NULL)
			return answer(c->aws, "RunInstances", "InvalidGroup.NotFound");
	if (w->ninst == FW_MAX)
		abort();
	fi = &w->inst[w->ninst++];
	memset(fi, 0, sizeof(*fi));
	snprintf(fi->id, sizeof(fi->id), "i-%017x", w->next_id++);
	snprintf(fi->state, sizeof(fi->state), "pending");
	snprintf(fi->type, sizeof(fi->type), "%s", in->instance_type);
	snprintf(fi->image, sizeof(fi->image), "%s", in->image_id);
	snprintf(fi->subnet, sizeof(fi->subnet), "%s",
	    in->subnet_id ? in->subnet_id : "subnet-0d");
	snprintf(fi->vpc, sizeof(fi->vpc), "%s",
	    in->subnet_id ? subnet_vpc(in->subnet_id) : "vpc-default");
	snprintf(fi->key_name, sizeof(fi->key_name), "%s",
	    in->key_name ? in->key_name : "");
	snprintf(fi->token, sizeof(fi->token), "%s", in->client_token);
	snprintf(fi->sg, sizeof(fi->sg), "%s", in->nsecurity_group_ids > 0 ?
	    in->security_group_ids[0] : "");
	fi->spot = in->spot;
	fi->protected = in->disable_api_termination;
	fi->hidden = w->lag;
	fi->launched = w->now;
	memcpy(fi->params, r->params, sizeof(fi->params));
	fi->user_data = xmalloc(in->user_data_len + 1);
	memcpy(fi->user_data, in->user_data, in->user_data_len);
	fi->user_data[in->user_data_len] = '\0';
	tags_set(fi->tags, &fi->ntags, in->tags, in->ntags);
	instance_export(out, fi, !w->run_answer_untagged);
	return 0;
}

int
ec2_instances_terminate(struct ec2_client *c, const char *const *ids,
    size_t nids)
{
	struct fw_instance *fi;
	size_t i;
	int error;

	if ((error = call(c->aws, "TerminateInstances", nids > 0 ? ids[0] :
	    NULL)) < 0)
		return error;
	for (i = 0; i < nids; i++)
		if (fakeworld_instance(ids[i]) == NULL)
			return answer(c->aws, "TerminateInstances",
			    "InvalidInstanceID.NotFound");
	for (i = 0; i < nids; i++) {
		fi = fakeworld_instance(ids[i]);
		if (fi->protected)
			return answer(c->aws, "TerminateInstances",
			    "OperationNotPermitted");
	}
	for (i = 0; i < nids; i++) {
		fi = fakeworld_instance(ids[i]);
		if (strcmp(fi->state, "terminated") != 0)
			snprintf(fi->state, sizeof(fi->state), "%s",
			    fakeworld.slow_shutdown ? "shutting-down" : "terminated");
		fi->public_ip[0] = '\0';
	}
	return 0;
}

/* StopInstances / StartInstances: stopped at once, started at once. */
static int
power(struct ec2_client *c, const char *action, const char *id,
    const char *from, const char *to)
{
	struct fw_instance *fi;
	int error;

	if ((error = call(c->aws, action, id)) < 0)
		return error;
	if ((fi = fakeworld_instance(id)) == NULL)
		return answer(c->aws, action, "InvalidInstanceID.NotFound");
	if (strcmp(fi->state, from) != 0 && strcmp(fi->state, to) != 0)
		return answer(c->aws, action, "IncorrectInstanceState");
	snprintf(fi->state, sizeof(fi->state), "%s", to);
	return 0;
}

int
ec2_instance_stop(struct ec2_client *c, const char *id)
{
	return power(c, "StopInstances", id, "running", "stopped");
}

int
ec2_instance_start(struct ec2_client *c, const char *id)
{
	return power(c, "StartInstances", id, "stopped", "running");
}

void
ec2_instance_status_list_dispose(struct ec2_instance_status_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int
ec2_instance_status_describe(struct ec2_instance_status_list *out,
    struct ec2_client *c, const char *const *ids, size_t nids)
{
	const struct fw_instance *fi;
	size_t i;
	int error, ok;

	memset(out, 0, sizeof(*out));
	if ((error = call(c->aws, "DescribeInstanceStatus", NULL)) < 0)
		return error;
	out->v = xcalloc(nids + 1, sizeof(*out->v));
	for (i = 0; i < nids; i++) {
		struct ec2_instance_status *s = &out->v[out->n];

		if ((fi = fakeworld_instance(ids[i])) == NULL)
			continue;
		ok = strcmp(fi->state, "running") == 0 && !fakeworld.impaired;
		snprintf(s->id, sizeof(s->id), "%s", fi->id);
		snprintf(s->state, sizeof(s->state), "%s", fi->state);
		snprintf(s->az, sizeof(s->az), "us-east-1a");
		snprintf(s->instance_status, sizeof(s->instance_status), "%s",
		    ok ? "ok" : "initializing");
		snprintf(s->system_status, sizeof(s->system_status), "%s",
		    ok ? "ok" : "initializing");
		out->n++;
	}
	return 0;
}

int
ec2_instance_termination_protection(int *out, struct ec2_client *c,
    const char *id)
{
	const struct fw_instance *fi;
	int error;

	*out = 0;
	if ((error = call(c->aws, "DescribeInstanceAttribute", id)) < 0)
		return error;
	if ((fi = fakeworld_instance(id)) == NULL)
		return answer(c->aws, "DescribeInstanceAttribute",
		    "InvalidInstanceID.NotFound");
	*out = fi->protected;
	return 0;
}

int
ec2_console_output_get(char **out, size_t *outlen, struct ec2_client *c,
    const char *id)
{
	int error;

	*out = NULL;
	*outlen = 0;
	if ((error = call(c->aws, "GetConsoleOutput", id)) < 0)
		return error;
	if (fakeworld_instance(id) == NULL)
		return answer(c->aws, "GetConsoleOutput",
		    "InvalidInstanceID.NotFound");
	*out = xstrdup(fakeworld.console);
	*outlen = strlen(*out);
	return 0;
}

/* ---- images, subnets, spot prices ---- */

void
ec2_image_list_dispose(struct ec2_image_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int
ec2_images_describe(struct ec2_image_list *out, struct ec2_client *c,
    const struct ec2_describe_images_input *in)
{
	size_t i, j, k;
	int error, ok;

	memset(out, 0, sizeof(*out));
	if ((error = call(c->aws, "DescribeImages", NULL)) < 0)
		return error;
	out->v = xcalloc(NELEM(images), sizeof(*out->v));
	for (i = 0; i < NELEM(images); i++) {
		ok = in->nimage_ids == 0;
		for (j = 0; j < in->nimage_ids; j++)
			ok |= strcmp(in->image_ids[j], images[i].id) == 0;
		for (j = 0; ok && j < in->nfilters; j++) {
			const struct ec2_filter *f = &in->filters[j];

			if (strcmp(f->name, "name") == 0) {
				for (k = 0; k < f->nvalues; k++)
					if (fnmatch(f->values[k], images[i].name, 0) == 0)
						break;
			} else if (strcmp(f->name, "architecture") == 0) {
				for (k = 0; k < f->nvalues; k++)
					if (strcmp(f->values[k], images[i].arch) == 0)
						break;
			} else
				continue;	/* state: all match */
			ok = k < f->nvalues;
		}
		if (!ok)
			continue;
		snprintf(out->v[out->n].id, sizeof(out->v[0].id), "%s", images[i].id);
		snprintf(out->v[out->n].name, sizeof(out->v[0].name), "%s",
		    images[i].name);
		snprintf(out->v[out->n].state, sizeof(out->v[0].state), "available");
		snprintf(out->v[out->n].architecture,
		    sizeof(out->v[0].architecture), "%s", images[i].arch);
		snprintf(out->v[out->n].root_device_name,
		    sizeof(out->v[0].root_device_name), "/dev/xvda");
		out->v[out->n].created = images[i].created;
		out->n++;
	}
	if (in->nimage_ids > 0 && out->n < in->nimage_ids) {
		ec2_image_list_dispose(out);
		return answer(c->aws, "DescribeImages", "InvalidAMIID.NotFound");
	}
	return 0;
}

/* Graviton families (a "g" after the generation digit) run arm64. */
int
ec2_instance_type_describe(struct ec2_instance_type *out, struct ec2_client *c,
    const char *type)
{
	const char *d;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = call(c->aws, "DescribeInstanceTypes", type)) < 0)
		return error;
	snprintf(out->type, sizeof(out->type), "%s", type);
	d = strpbrk(type, "0123456789");
	snprintf(out->archs[0], sizeof(out->archs[0]), "%s",
	    d != NULL && d[1] == 'g' ? "arm64" : "x86_64");
	out->narchs = 1;
	return 0;
}

void
ec2_subnet_list_dispose(struct ec2_subnet_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int
ec2_subnets_describe(struct ec2_subnet_list *out, struct ec2_client *c,
    const char *const *ids, size_t nids)
{
	size_t i, j;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = call(c->aws, "DescribeSubnets", NULL)) < 0)
		return error;
	for (i = 0; i < nids; i++)
		if (subnet_vpc(ids[i]) == NULL)
			return answer(c->aws, "DescribeSubnets",
			    "InvalidSubnetID.NotFound");
	out->v = xcalloc(NELEM(subnets), sizeof(*out->v));
	for (i = 0; i < NELEM(subnets); i++) {
		for (j = 0; j < nids; j++)
			if (strcmp(ids[j], subnets[i].id) == 0)
				break;
		if (nids > 0 && j == nids)
			continue;
		snprintf(out->v[out->n].id, sizeof(out->v[0].id), "%s", subnets[i].id);
		snprintf(out->v[out->n].vpc_id, sizeof(out->v[0].vpc_id), "%s",
		    subnets[i].vpc);
		snprintf(out->v[out->n].az, sizeof(out->v[0].az), "%s", subnets[i].az);
		snprintf(out->v[out->n].az_id, sizeof(out->v[0].az_id), "%s",
		    subnets[i].az_id);
		out->n++;
	}
	return 0;
}

/* The default VPC is vpc-1: its subnets, one per zone, by zone. */
int
ec2_subnets_default_describe(struct ec2_subnet_list *out, struct ec2_client *c)
{
	size_t i;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = call(c->aws, "DescribeSubnets", "default-for-az")) < 0)
		return error;
	out->v = xcalloc(NELEM(subnets), sizeof(*out->v));
	for (i = 0; i < NELEM(subnets); i++) {
		if (strcmp(subnets[i].vpc, "vpc-1") != 0)
			continue;
		snprintf(out->v[out->n].id, sizeof(out->v[0].id), "%s", subnets[i].id);
		snprintf(out->v[out->n].vpc_id, sizeof(out->v[0].vpc_id), "%s",
		    subnets[i].vpc);
		snprintf(out->v[out->n].az, sizeof(out->v[0].az), "%s", subnets[i].az);
		snprintf(out->v[out->n].az_id, sizeof(out->v[0].az_id), "%s",
		    subnets[i].az_id);
		out->n++;
	}
	return 0;
}

void
ec2_spot_price_list_dispose(struct ec2_spot_price_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int
ec2_spot_price_history(struct ec2_spot_price_list *out, struct ec2_client *c,
    const char *instance_type, const char *product, time_t start,
    int max_results)
{
	int error;

	(void)product;
	(void)start;
	(void)max_results;
	memset(out, 0, sizeof(*out));
	if ((error = call(c->aws, "DescribeSpotPriceHistory", instance_type)) < 0)
		return error;
	out->v = xcalloc(1, sizeof(*out->v));
	snprintf(out->v[0].instance_type, sizeof(out->v[0].instance_type), "%s",
	    instance_type);
	snprintf(out->v[0].price, sizeof(out->v[0].price), "0.006200");
	out->n = 1;
	return 0;
}

void
ec2_placement_score_list_dispose(struct ec2_placement_score_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* The scores fakeworld.scores holds for the first type, one per zone. */
int
ec2_spot_placement_scores(struct ec2_placement_score_list *out,
    struct ec2_client *c, const char *const *types, size_t ntypes,
    const char *const *regions, size_t nregions, int single_az,
    int target_capacity)
{
	struct fakeworld *w = &fakeworld;
	size_t i;
	int error;

	(void)single_az;
	(void)target_capacity;
	memset(out, 0, sizeof(*out));
	if (ntypes == 0 || nregions == 0) {
		err_set("GetSpotPlacementScores: types and regions are required");
		return ERR_INVALID;
	}
	if ((error = call(c->aws, "GetSpotPlacementScores", types[0])) < 0)
		return error;
	out->v = xcalloc(NELEM(w->scores), sizeof(*out->v));
	for (i = 0; i < w->nscores; i++) {
		if (strcmp(w->scores[i].type, types[0]) != 0)
			continue;
		snprintf(out->v[out->n].region, sizeof(out->v[0].region), "%s",
		    regions[0]);
		snprintf(out->v[out->n].az_id, sizeof(out->v[0].az_id), "%s",
		    w->scores[i].az_id);
		out->v[out->n++].score = w->scores[i].score;
	}
	return 0;
}

/* ---- security groups ---- */

void
ec2_security_group_list_dispose(struct ec2_security_group_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].tags);	/* one block, as lib/aws's */
		free(l->v[i].ingress);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int
ec2_security_group_create(char *id_out, size_t id_outsz, struct ec2_client *c,
    const char *name, const char *description, const char *vpc_id,
    const struct ec2_kv *tags, size_t ntags)
{
	struct fw_group *g;
	int error;

	(void)description;
	if (id_outsz > 0)
		id_out[0] = '\0';
	if ((error = call(c->aws, "CreateSecurityGroup", name)) < 0)
		return error;
	if (vpc_id != NULL && strcmp(vpc_id, "vpc-1") != 0 &&
	    strcmp(vpc_id, "vpc-2") != 0)
		return answer(c->aws, "CreateSecurityGroup", "InvalidVpcID.NotFound");
	if (fakeworld_group_named(name) != NULL)
		return answer(c->aws, "CreateSecurityGroup", "InvalidGroup.Duplicate");
	if (fakeworld.nsg == FW_MAX)
		abort();
	g = &fakeworld.sg[fakeworld.nsg++];
	memset(g, 0, sizeof(*g));
	snprintf(g->id, sizeof(g->id), "sg-%08x", fakeworld.next_id++);
	snprintf(g->name, sizeof(g->name), "%s", name);
	snprintf(g->vpc, sizeof(g->vpc), "%s", vpc_id ? vpc_id : "vpc-default");
	tags_set(g->tags, &g->ntags, tags, ntags);
	snprintf(id_out, id_outsz, "%s", g->id);
	return 0;
}

/* Copy s to *p and move *p past its NUL; returns where it went. */
static const char *
pack_str(char **p, const char *s)
{
	size_t n = strlen(s) + 1;
	char *at = *p;

	memcpy(at, s, n);
	*p += n;
	return at;
}

static void
group_export(struct ec2_security_group *out, const struct fw_group *g)
{
	size_t i, bytes;
	char *p;

	snprintf(out->id, sizeof(out->id), "%s", g->id);
	snprintf(out->name, sizeof(out->name), "%s", g->name);
	snprintf(out->vpc_id, sizeof(out->vpc_id), "%s", g->vpc);
	out->ingress = xcalloc(g->nrules + 1, sizeof(*out->ingress));
	memcpy(out->ingress, g->rules, g->nrules * sizeof(*g->rules));
	out->ningress = g->nrules;
	/* the tags and their strings in one block, as lib/aws makes them */
	for (i = bytes = 0; i < g->ntags; i++)
		bytes += strlen(g->tags[i].key) + strlen(g->tags[i].value) + 2;
	out->tags = xcalloc(1, (g->ntags + 1) * sizeof(*out->tags) + bytes);
	p = (char *)(out->tags + g->ntags + 1);
	for (i = 0; i < g->ntags; i++) {
		out->tags[i].key = pack_str(&p, g->tags[i].key);
		out->tags[i].value = pack_str(&p, g->tags[i].value);
	}
	out->ntags = g->ntags;
}

int
ec2_security_groups_describe(struct ec2_security_group_list *out,
    struct ec2_client *c, const char *const *ids, size_t nids,
    const struct ec2_filter *filters, size_t nfilters)
{
	size_t i, j;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = call(c->aws, "DescribeSecurityGroups", NULL)) < 0)
		return error;
	for (i = 0; i < nids; i++)
		if (group_id(ids[i]) == NULL)
			return answer(c->aws, "DescribeSecurityGroups",
			    "InvalidGroup.NotFound");
	for (j = 0; j < nfilters; j++)
		if (strcmp(filters[j].name, "group-name") != 0)
			return answer(c->aws, "DescribeSecurityGroups",
			    "InvalidParameterValue");
	out->v = xcalloc(fakeworld.nsg + 1, sizeof(*out->v));
	for (i = 0; i < fakeworld.nsg; i++) {
		const struct fw_group *g = &fakeworld.sg[i];
		bool ok = true;

		for (j = 0; j < nids; j++)
			if (strcmp(ids[j], g->id) == 0)
				break;
		if (nids > 0 && j == nids)
			continue;
		for (j = 0; j < nfilters; j++)
			ok = ok && value_in(g->name, &filters[j]);
		if (ok)
			group_export(&out->v[out->n++], g);
	}
	return 0;
}

int
ec2_security_group_delete(struct ec2_client *c, const char *group_id_)
{
	struct fakeworld *w = &fakeworld;
	struct fw_group *g;
	size_t i;
	int error;

	if ((error = call(c->aws, "DeleteSecurityGroup", group_id_)) < 0)
		return error;
	if ((g = group_id(group_id_)) == NULL)
		return answer(c->aws, "DeleteSecurityGroup", "InvalidGroup.NotFound");
	for (i = 0; i < w->ninst; i++)
		if (strcmp(w->inst[i].sg, g->id) == 0 &&
		    strcmp(w->inst[i].state, "terminated") != 0)
			return answer(c->aws, "DeleteSecurityGroup",
			    "DependencyViolation");
	tags_free(g->tags, &g->ntags);
	i = (size_t)(g - w->sg);
	memmove(&w->sg[i], &w->sg[i + 1], (w->nsg - i - 1) * sizeof(*g));
	w->nsg--;
	return 0;
}

static bool
rule_equal(const struct ec2_sg_rule *a, const struct ec2_ingress_rule *b)
{
	return strcmp(a->protocol, b->protocol) == 0 &&
	    a->from_port == b->from_port && a->to_port == b->to_port &&
	    strcmp(a->cidr, b->cidr) == 0;
}

int
ec2_security_group_ingress_authorize(struct ec2_client *c,
    const char *gid, const struct ec2_ingress_rule *rules, size_t nrules)
{
	struct fw_group *g;
	size_t i, j;
	int error;

	if ((error = call(c->aws, "AuthorizeSecurityGroupIngress", gid)) < 0)
		return error;
	if ((g = group_id(gid)) == NULL)
		return answer(c->aws, "AuthorizeSecurityGroupIngress",
		    "InvalidGroup.NotFound");
	for (i = 0; i < nrules; i++) {
		for (j = 0; j < g->nrules; j++)
			if (rule_equal(&g->rules[j], &rules[i]))
				break;
		if (j < g->nrules)
			continue;	/* InvalidPermission.Duplicate: success */
		if (g->nrules == FW_RULES)
			abort();
		snprintf(g->rules[j].protocol, sizeof(g->rules[j].protocol), "%s",
		    rules[i].protocol);
		g->rules[j].from_port = rules[i].from_port;
		g->rules[j].to_port = rules[i].to_port;
		snprintf(g->rules[j].cidr, sizeof(g->rules[j].cidr), "%s",
		    rules[i].cidr);
		g->nrules++;
	}
	return 0;
}

int
ec2_security_group_ingress_revoke(struct ec2_client *c, const char *gid,
    const struct ec2_ingress_rule *rules, size_t nrules)
{
	struct fw_group *g;
	size_t i, j;
	int error;

	if ((error = call(c->aws, "RevokeSecurityGroupIngress", gid)) < 0)
		return error;
	if ((g = group_id(gid)) == NULL)
		return answer(c->aws, "RevokeSecurityGroupIngress",
		    "InvalidGroup.NotFound");
	for (i = 0; i < nrules; i++)
		for (j = 0; j < g->nrules; j++)
			if (rule_equal(&g->rules[j], &rules[i])) {
				memmove(&g->rules[j], &g->rules[j + 1],
				    (g->nrules - j - 1) * sizeof(g->rules[0]));
				g->nrules--;
				break;
			}
	return 0;
}

/* ---- tags, key pairs ---- */

int
ec2_tags_create(struct ec2_client *c, const char *const *ids, size_t nids,
    const struct ec2_kv *tags, size_t ntags)
{
	struct fw_instance *fi;
	size_t i;
	int error;

	if ((error = call(c->aws, "CreateTags", nids > 0 ? ids[0] : NULL)) < 0)
		return error;
	for (i = 0; i < nids; i++)
		if ((fi = fakeworld_instance(ids[i])) == NULL || fi->hidden)
			return answer(c->aws, "CreateTags",
			    "InvalidInstanceID.NotFound");
	for (i = 0; i < nids; i++) {
		fi = fakeworld_instance(ids[i]);
		tags_set(fi->tags, &fi->ntags, tags, ntags);
	}
	return 0;
}

void
ec2_key_pair_list_dispose(struct ec2_key_pair_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].tags);	/* one block, as lib/aws's */
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* DescribeKeyPairs by names: a missing name is InvalidKeyPair.NotFound. */
int
ec2_key_pairs_describe(struct ec2_key_pair_list *out, struct ec2_client *c,
    const char *const *names, size_t nnames)
{
	const struct fw_keypair *k;
	size_t i, j, bytes;
	char *p;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = call(c->aws, "DescribeKeyPairs", nnames > 0 ? names[0] :
	    NULL)) < 0)
		return error;
	for (i = 0; i < nnames; i++)
		if (fakeworld_keypair(names[i]) == NULL)
			return answer(c->aws, "DescribeKeyPairs",
			    "InvalidKeyPair.NotFound");
	out->v = xcalloc(nnames + 1, sizeof(*out->v));
	for (i = 0; i < nnames; i++) {
		struct ec2_key_pair *o;

		if ((k = fakeworld_keypair(names[i])) == NULL)
			continue;	/* answered NotFound above */
		o = &out->v[out->n++];
		snprintf(o->name, sizeof(o->name), "%s", k->name);
		for (j = bytes = 0; j < k->ntags; j++)
			bytes += strlen(k->tags[j].key) + strlen(k->tags[j].value) + 2;
		o->tags = xcalloc(1, (k->ntags + 1) * sizeof(*o->tags) + bytes);
		p = (char *)(o->tags + k->ntags + 1);
		for (j = 0; j < k->ntags; j++) {
			o->tags[j].key = pack_str(&p, k->tags[j].key);
			o->tags[j].value = pack_str(&p, k->tags[j].value);
		}
		o->ntags = k->ntags;
	}
	return 0;
}

int
ec2_key_pair_import(struct ec2_key_pair *out, struct ec2_client *c,
    const char *name, const char *public_key, const struct ec2_kv *tags,
    size_t ntags)
{
	struct fw_keypair *k;
	int error;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if ((error = call(c->aws, "ImportKeyPair", name)) < 0)
		return error;
	if (strncmp(public_key, "ssh-", 4) != 0 || strchr(public_key, '\n') != NULL)
		return answer(c->aws, "ImportKeyPair", "InvalidKey.Format");
	if (fakeworld_keypair(name) != NULL)
		return answer(c->aws, "ImportKeyPair", "InvalidKeyPair.Duplicate");
	if (fakeworld.nkp == FW_MAX)
		abort();
	k = &fakeworld.kp[fakeworld.nkp++];
	memset(k, 0, sizeof(*k));
	snprintf(k->name, sizeof(k->name), "%s", name);
	k->public_key = xstrdup(public_key);
	tags_set(k->tags, &k->ntags, tags, ntags);
	if (out != NULL)
		snprintf(out->name, sizeof(out->name), "%s", name);
	return 0;
}

int
ec2_key_pair_delete(struct ec2_client *c, const char *name)
{
	struct fw_keypair *k;
	size_t i;
	int error;

	if ((error = call(c->aws, "DeleteKeyPair", name)) < 0)
		return error;
	if ((k = fakeworld_keypair(name)) == NULL)
		return 0;
	tags_free(k->tags, &k->ntags);
	free(k->public_key);
	i = (size_t)(k - fakeworld.kp);
	memmove(&fakeworld.kp[i], &fakeworld.kp[i + 1],
	    (fakeworld.nkp - i - 1) * sizeof(*k));
	fakeworld.nkp--;
	return 0;
}

/* ---- s3.h ---- */

int
s3_client_new(struct s3_client **out, struct aws_client *aws)
{
	*out = xcalloc(1, sizeof(**out));
	(*out)->aws = aws;
	return 0;
}

void
s3_client_free(struct s3_client *c)
{
	free(c);
}

/* The fake's buckets live in the client's region. */
int
s3_bucket_region(char *out, size_t outsz, struct s3_client *c,
    const char *bucket)
{
	(void)bucket;
	snprintf(out, outsz, "%s", c->aws->region);
	return 0;
}

void
s3_bucket_region_remember(const char *bucket, const char *region)
{
	(void)bucket;
	(void)region;
}

void
s3_bucket_regions_forget(void)
{
}

static int
bucket_check(struct s3_client *c, const char *action, const char *bucket)
{
	if (strcmp(bucket, fakeworld.bucket) != 0)
		return answer(c->aws, action, "NoSuchBucket");
	return 0;
}

int
s3_object_put(struct s3_client *c, const char *bucket, const char *key,
    const void *data, size_t len, const struct s3_put_opts *opts)
{
	int error;

	if ((error = call(c->aws, "PutObject", key)) < 0 ||
	    (error = bucket_check(c, "PutObject", bucket)) < 0)
		return error;
	object_put(key, data, len, opts != NULL ? (int)opts->sse : S3_SSE_NONE);
	return 0;
}

int
s3_object_get(char **out, size_t *outlen, struct s3_client *c,
    const char *bucket, const char *key, size_t max, int secret)
{
	const struct fw_object *o;
	int error;

	(void)secret;
	*out = NULL;
	*outlen = 0;
	if ((error = call(c->aws, "GetObject", key)) < 0 ||
	    (error = bucket_check(c, "GetObject", bucket)) < 0)
		return error;
	if ((o = fakeworld_object(key)) == NULL)
		return answer(c->aws, "GetObject", "NoSuchKey");
	if (o->len > max) {
		err_set("GetObject %s: larger than %zu bytes", key, max);
		return ERR_LIMIT;
	}
	*out = xmalloc(o->len + 1);
	memcpy(*out, o->body, o->len + 1);
	*outlen = o->len;
	return 0;
}

int
s3_object_head(struct s3_object_info *out, struct s3_client *c,
    const char *bucket, const char *key)
{
	const struct fw_object *o;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = call(c->aws, "HeadObject", key)) < 0 ||
	    (error = bucket_check(c, "HeadObject", bucket)) < 0)
		return error;
	if ((o = fakeworld_object(key)) == NULL)
		return answer(c->aws, "HeadObject", "NotFound");
	out->size = (long long)o->len;
	snprintf(out->sse, sizeof(out->sse), "%s",
	    o->sse == S3_SSE_AES256 ? "AES256" : "");
	return 0;
}

int
s3_object_delete(struct s3_client *c, const char *bucket, const char *key)
{
	struct fw_object *o;
	size_t i;
	int error;

	if ((error = call(c->aws, "DeleteObject", key)) < 0 ||
	    (error = bucket_check(c, "DeleteObject", bucket)) < 0)
		return error;
	if ((o = fakeworld_object(key)) == NULL)
		return 0;
	free(o->key);
	free(o->body);
	i = (size_t)(o - fakeworld.obj);
	memmove(&fakeworld.obj[i], &fakeworld.obj[i + 1],
	    (fakeworld.nobj - i - 1) * sizeof(*o));
	fakeworld.nobj--;
	return 0;
}

void
s3_object_list_dispose(struct s3_object_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].key);
	free(l->v);
	free(l->next_token);
	memset(l, 0, sizeof(*l));
}

int
s3_objects_list(struct s3_object_list *out, struct s3_client *c,
    const char *bucket, const char *prefix, const char *token, int max_keys)
{
	size_t i, plen = prefix != NULL ? strlen(prefix) : 0;
	int error;

	(void)token;
	(void)max_keys;
	memset(out, 0, sizeof(*out));
	if ((error = call(c->aws, "ListObjectsV2", prefix)) < 0 ||
	    (error = bucket_check(c, "ListObjectsV2", bucket)) < 0)
		return error;
	out->v = xcalloc(fakeworld.nobj + 1, sizeof(*out->v));
	for (i = 0; i < fakeworld.nobj; i++) {
		if (strncmp(fakeworld.obj[i].key, prefix ? prefix : "", plen) != 0)
			continue;
		out->v[out->n].key = xstrdup(fakeworld.obj[i].key);
		out->v[out->n].size = (long long)fakeworld.obj[i].len;
		out->n++;
	}
	return 0;
}

int
s3_url_presign(char **out, struct s3_client *c, const char *method,
    const char *bucket, const char *key, unsigned expires)
{
	time_t at = c->aws->clock != NULL ? c->aws->clock(c->aws->clock_arg) :
	    time(NULL);

	*out = xasprintf("https://%s.s3.%s.amazonaws.com/%s?X-Amz-Credential="
	    "AKID%d&X-Amz-Date=%lld&X-Amz-Expires=%u&X-Amz-Signature=%s", bucket,
	    c->aws->region, key, fakeworld.cred_epoch, (long long)at, expires,
	    strcmp(method, "PUT") == 0 ? "put" : "get");
	return 0;
}

/* ---- ssm.h: one parameter, /envctl/stages/s ---- */

int
ssm_parameter_get(char **value, struct aws_client *c, const char *name)
{
	(void)c;
	*value = NULL;
	if (strcmp(name, "/envctl/stages/s") != 0) {
		err_set("ssm parameter %s: ParameterNotFound", name);
		return ERR_NOTFOUND;
	}
	*value = xstrdup("ssm-v4lue");
	return 0;
}
