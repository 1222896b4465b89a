/*
 * pipeline.c - the pipeline's context, the small helpers every step
 * uses (rows, events, names, client tokens, presigning) and the dispatch
 * from a plan action to the pipeline(s) it names.  Elsewhere: prices.c
 * (prices and cost), ami.c (image aliases), cleanup.c (undoing an
 * incarnation), provision.c, readiness.c, capacity.c, terminate.c,
 * exec.c (the worker pool).
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws.h"
#include "log.h"
#include "ec2.h"
#include "log.h"
#include "mem.h"
#include "pipeline_int.h"
#include "s3.h"

/*
 * Every failpoint of both pipelines.  Cleanup steps exist three times:
 * provision.rollback.*, terminate.* and gc.* / orphan.*.
 */
const char *const pipeline_failpoints[] = {
	"provision.init.before", "provision.init.after",
	"provision.event_start.before", "provision.event_start.after",
	"provision.keys_generated.before", "provision.keys_generated.after",
	"provision.s3_keys.before", "provision.s3_keys.after",
	"provision.keys_uploaded.before", "provision.keys_uploaded.after",
	"provision.keypair.before", "provision.keypair.after",
	"provision.sg_create.before", "provision.sg_create.after",
	"provision.sg_record.before", "provision.sg_record.after",
	"provision.sg_ingress.before", "provision.sg_ingress.after",
	"provision.sg_ready.before", "provision.sg_ready.after",
	"provision.ami.before", "provision.ami.after",
	"provision.secrets.before", "provision.secrets.after",
	"provision.launch_intent.before", "provision.launch_intent.after",
	"provision.launch_pool.before", "provision.launch_pool.after",
	"provision.launch.before", "provision.launch.after",
	"provision.instance_launched.before", "provision.instance_launched.after",
	"provision.tag.before", "provision.tag.after",
	"provision.tagged.before", "provision.tagged.after",
	"provision.check.before", "provision.check.after",
	"provision.running.before", "provision.running.after",
	"provision.done.before", "provision.done.after",
	"provision.event_ready.before", "provision.event_ready.after",
	"provision.error.before", "provision.error.after",
	"provision.rollback.instance.before", "provision.rollback.instance.after",
	"provision.rollback.s3.before", "provision.rollback.s3.after",
	"provision.rollback.keypair.before", "provision.rollback.keypair.after",
	"provision.rollback.sg.before", "provision.rollback.sg.after",
	"provision.rolled_back.before", "provision.rolled_back.after",
	"provision.adopt.before", "provision.adopt.after",
	"terminate.mark.before", "terminate.mark.after",
	"terminate.protection.before", "terminate.protection.after",
	"terminate.instance.before", "terminate.instance.after",
	"terminate.s3.before", "terminate.s3.after",
	"terminate.keypair.before", "terminate.keypair.after",
	"terminate.sg.before", "terminate.sg.after",
	"terminate.done.before", "terminate.done.after",
	"terminate.event.before", "terminate.event.after",
	"orphan.instance.before", "orphan.instance.after",
	"orphan.s3.before", "orphan.s3.after", "orphan.keypair.before",
	"orphan.keypair.after", "orphan.sg.before", "orphan.sg.after",
	"gc.s3.before", "gc.s3.after", "gc.keypair.before", "gc.keypair.after",
	"gc.sg.before", "gc.sg.after", "gc.done.before", "gc.done.after",
	NULL
};

int
pipeline_new(struct pipeline **out, struct store *store, struct aws_client *aws,
    struct ec2_client *ec2, struct aws_creds_provider *creds,
    const struct pipeline_opts *opts)
{
	struct pipeline *p;
	const char *pre = opts->tag_prefix ? opts->tag_prefix : "envctl";

	*out = NULL;
	if (opts->bucket == NULL || *opts->bucket == '\0') {
		err_set("no S3 bucket configured (s3_bucket): keys and bootstrap "
		    "markers need one");
		return ERR_INVALID;
	}
	p = xcalloc(1, sizeof(*p));
	if (observe_tags_init(&p->tags, pre) < 0) {
		free(p);
		return ERR_INVALID;
	}
	p->store = store;
	p->aws = aws;
	p->ec2 = ec2;
	p->creds = creds;
	p->o = *opts;
	if (p->o.s3_prefix == NULL)
		p->o.s3_prefix = "envctl";
	if (p->o.cluster_id == NULL)
		p->o.cluster_id = "default";
	(void)s3_client_new(&p->s3, aws);
	*out = p;
	return 0;
}

void
pipeline_free(struct pipeline *p)
{
	if (p == NULL)
		return;
	s3_client_free(p->s3);
	free(p);
}

int
pipeline_checks_parse(unsigned *out, const char *s)
{
	static const struct { const char *name; unsigned bit; } names[] = {
		{ "status", PIPELINE_CHECK_STATUS }, { "ssh", PIPELINE_CHECK_SSH },
		{ "marker", PIPELINE_CHECK_MARKER },
		{ "hostkey", PIPELINE_CHECK_HOSTKEY }, { "all", PIPELINE_CHECK_ALL },
	};
	unsigned bits = 0;
	const char *p = s;

	while (*p != '\0') {
		size_t len = strcspn(p, ", "), i;

		if (len > 0) {
			for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
				if (strlen(names[i].name) == len &&
				    strncmp(names[i].name, p, len) == 0)
					break;
			if (i == sizeof(names) / sizeof(names[0])) {
				err_set("ready_checks: unknown check '%.*s' (status, "
				    "ssh, marker, hostkey)", (int)(len > 32 ? 32 : len), p);
				return ERR_INVALID;
			}
			bits |= names[i].bit;
		}
		p += len;
		p += strspn(p, ", ");
	}
	*out = bits;
	return 0;
}

void
pipeline_client_token(char out[65], const char *env_id, unsigned attempt,
    unsigned variant)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	char in[128];
	int n, i;

	n = snprintf(in, sizeof(in), "%s/%u/%u", env_id, attempt, variant);
	if (n < 0 || (size_t)n >= sizeof(in))
		n = (int)sizeof(in) - 1;
	EVP_Digest(in, (size_t)n, md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

time_t
pl_now(const struct pipeline *p)
{
	return p->o.clock != NULL ? p->o.clock() : time(NULL);
}

/* Whether code is one of the space-separated codes. */
static int
code_listed(const char *codes, const char *code)
{
	size_t n = strlen(code);
	const char *q;

	if (n == 0)
		return 0;
	for (q = codes; (q = strstr(q, code)) != NULL; q += n)
		if ((q == codes || q[-1] == ' ') && (q[n] == '\0' || q[n] == ' '))
			return 1;
	return 0;
}

int
pl_consistency_wait(struct pipeline *p, unsigned *waited_ms,
    unsigned budget_ms, int error, const char *codes)
{
	struct timespec ts;
	unsigned step = 250, w;

	if (error != ERR_NOTFOUND || !code_listed(codes, pl_aws_code(p)))
		return 0;
	/* 250, 500, 1000, 2000, 4000, 4000, ...: the next after the sum so far. */
	for (w = 0; w < *waited_ms && step < 4000; w += step)
		step *= 2;
	if (*waited_ms + step > budget_ms)
		return 0;
	log_info("%s: not visible yet (eventual consistency); trying again in "
	    "%u ms", pl_aws_code(p), step);
	*waited_ms += step;
	if (p->o.sleep_ms != NULL)
		p->o.sleep_ms(step);
	else {
		ts.tv_sec = step / 1000;
		ts.tv_nsec = (long)(step % 1000) * 1000000L;
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	return 1;
}

int
pl_row_write(bool *written, struct pipeline *p, struct store_env *row,
    unsigned mask, const char *fp_before, const char *fp_after)
{
	int error;

	*written = false;
	if ((error = FAILPOINT(fp_before)) < 0) {
		err_set("failpoint %s", fp_before);
		return error;
	}
	if ((error = store_env_update(p->store, row, mask)) < 0)
		return error;
	*written = true;
	if ((error = FAILPOINT(fp_after)) < 0)
		err_set("failpoint %s", fp_after);
	return error;
}

int
pl_row_update(struct pipeline *p, struct store_env *row, unsigned mask,
    const char *fp_before, const char *fp_after)
{
	bool written;

	return pl_row_write(&written, p, row, mask, fp_before, fp_after);
}

void
pl_row_set(struct store_env *row, unsigned field, const char *s)
{
	(void)store_env_set_text(row, field, s, s != NULL ? strlen(s) : 0);
}

void
pl_json_escape(char *out, size_t outsz, const char *s)
{
	size_t o = 0;

	if (outsz == 0)
		return;
	for (; s != NULL && *s != '\0' && o + 7 < outsz; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, outsz - o, "\\u%04x", c);
		} else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

int
pl_event(struct pipeline *p, const char *env_id, const char *type,
    const char *fmt, ...)
{
	char *payload;
	va_list ap;
	int error;

	va_start(ap, fmt);
	payload = xvasprintf(fmt, ap);
	va_end(ap);
	error = store_event_add(NULL, p->store, env_id, type, payload,
	    strlen(payload));
	free(payload);
	return error;
}

char *
pl_s3_key(const struct pipeline *p, const char *env_id, const char *file)
{
	if (*p->o.s3_prefix == '\0')
		return xasprintf("%s/%s", env_id, file);
	return xasprintf("%s/%s/%s", p->o.s3_prefix, env_id, file);
}

char *
pl_spot_marker_key(const struct pipeline *p, const char *env_id)
{
	char *file = xasprintf("%s.json", env_id), *key;

	key = pl_s3_key(p, PIPELINE_SPOT_MARKER_DIR, file);
	free(file);
	return key;
}

void
pl_resource_name(char *out, size_t outsz, const char *env_id)
{
	snprintf(out, outsz, "envctl-%s", env_id);
}

const char *
pl_aws_code(const struct pipeline *p)
{
	const struct aws_error *e = aws_client_last_error(p->aws);

	return e != NULL ? e->code : "";
}

static time_t
fixed_clock(void *arg)
{
	return *(const time_t *)arg;
}

int
pl_presign_at(char **out, struct pipeline *p, const char *method,
    const char *key, unsigned expires, time_t at)
{
	struct aws_client_opts o;
	struct aws_client *c = NULL;
	struct s3_client *s3 = NULL;
	char region[S3_REGION_MAX];
	int error;

	*out = NULL;
	/* The bucket's region, asked at the live clock (and then cached). */
	if ((error = s3_bucket_region(region, sizeof(region), p->s3,
	    p->o.bucket)) < 0)
		return error;
	memset(&o, 0, sizeof(o));
	o.region = region;
	o.creds = p->creds;
	o.clock = fixed_clock;
	o.clock_arg = &at;
	if ((error = aws_client_new(&c, &o)) < 0)
		return error;
	(void)s3_client_new(&s3, c);
	error = s3_url_presign(out, s3, method, p->o.bucket, key, expires);
	s3_client_free(s3);
	aws_client_free(c);
	return error;
}

/* The live row job acts on, fresh from the database (caller disposes). */
static int
job_row(struct pipeline *p, const struct pipeline_job *job, struct store_env *row)
{
	int error;

	memset(row, 0, sizeof(*row));
	if (job->row == NULL) {
		err_set("no record to act on");
		return ERR_NOTFOUND;
	}
	if ((error = store_env_get(row, p->store, job->row->id)) < 0)
		err_prefix("reading the record of %s", job->name);
	return error;
}

/* The termination reason recorded for a TERMINATE or CLOSE action. */
static const char *
terminate_reason(const struct pipeline_job *job, const struct store_env *row)
{
	if (strncmp(job->reason, "ttl expired", 11) == 0)
		return "ttl expired";
	if (row->termination_reason != NULL && row->status == STORE_STATUS_TERMINATING)
		return row->termination_reason;
	if (job->spec == NULL)
		return "spec removed";
	return "spec removed";
}

static int
job_terminate_duplicate(struct pipeline *p, struct pipeline_job *job)
{
	const char *id = job->inst != NULL ? job->inst->id : NULL;
	char esc[64], why[256], what[64];
	int error;

	if (id == NULL)
		return 0;
	/* The pass's own DescribeInstances shows its tags: no extra call. */
	if (pl_own_tags(why, sizeof(why), p, job->inst->tags, job->inst->ntags,
	    job->row != NULL ? job->row->id : NULL) < 0) {
		snprintf(what, sizeof(what), "instance %s", id);
		return pl_not_ours(p, NULL, what, why);
	}
	if ((error = FAILPOINT("terminate.instance.before")) < 0) {
		err_set("failpoint terminate.instance.before");
		return error;
	}
	if ((error = ec2_instances_terminate(p->ec2, &id, 1)) < 0 &&
	    error != ERR_NOTFOUND)
		return error;
	if ((error = pl_cost_end(p, &id, 1)) < 0)
		return error;
	pl_json_escape(esc, sizeof(esc), id);
	snprintf(job->stage, sizeof(job->stage), "terminated");
	return pl_event(p, job->row != NULL ? job->row->id : NULL,
	    "orphan.terminated", "{\"instance_id\":\"%s\",\"reason\":"
	    "\"%s\"}", esc, job->row != NULL ? "duplicate instance" :
	    "no record");
}

int
pipeline_job_run(struct pipeline *p, struct pipeline_job *job)
{
	const struct log_context *was = log_context_get();
	struct log_context saved, ctx;
	struct store_env row;
	int error = 0;

	/* the job's lines carry what it works on (JSON fields, cid) */
	memset(&saved, 0, sizeof(saved));
	if (was != NULL)
		saved = *was;
	memset(&ctx, 0, sizeof(ctx));
	ctx.correlation_id = p->o.correlation_id;
	ctx.run_id = saved.run_id;
	ctx.env = *job->name != '\0' ? job->name : NULL;
	ctx.env_id = job->row != NULL ? job->row->id : NULL;
	ctx.region = job->region;
	ctx.operation = plan_kind_name(job->kind);
	log_context_set(&ctx);
	memset(&row, 0, sizeof(row));
	job->reached = -1;
	job->gc_waiting = 0;
	switch (job->kind) {
	case PLAN_PROVISION:
		error = pl_provision_new(p, job);
		break;
	case PLAN_RETRY:
	case PLAN_ADVANCE:
		if ((error = job_row(p, job, &row)) < 0)
			break;
		error = pl_provision_resume(p, job, &row, job->kind == PLAN_RETRY);
		break;
	case PLAN_REPLACE:
		if ((error = job_row(p, job, &row)) < 0)
			break;
		/* the planner's reason says which replacement this is */
		if ((error = pl_terminate(p, job, &row,
		    job->inst ? job->inst->id : NULL, job->reason != NULL &&
		    strncmp(job->reason, "spot interruption notice", 24) == 0 ?
		    "spot interruption notice" : "replaced for drift")) < 0)
			break;
		error = pl_provision_new(p, job);
		break;
	case PLAN_DRIFT_GONE:
		if ((error = job_row(p, job, &row)) < 0)
			break;
		if ((error = pl_drift_gone(p, job, &row)) < 0)
			break;
		error = pl_provision_new(p, job);
		break;
	case PLAN_ADOPT:
		error = pl_adopt(p, job);
		break;
	case PLAN_TERMINATE:
	case PLAN_CLOSE:
		if (strncmp(job->reason, "duplicate", 9) == 0 ||
		    (job->row == NULL && job->inst != NULL)) {
			error = job_terminate_duplicate(p, job);
			break;
		}
		if ((error = job_row(p, job, &row)) < 0)
			break;
		if (job->kind == PLAN_CLOSE &&
		    strcmp(job->reason, PLAN_REASON_PARK) == 0) {
			error = pl_park(p, job, &row);
			break;
		}
		error = pl_terminate(p, job, &row,
		    job->inst != NULL ? job->inst->id : NULL,
		    terminate_reason(job, &row));
		break;
	case PLAN_ORPHAN:
		error = pl_orphan(p, job);
		break;
	case PLAN_DRIFT_REPORT:
		error = pl_drift_report(p, job);
		break;
	case PLAN_GC:
		error = pl_gc(p, job);
		break;
	default:
		break;
	}
	store_env_dispose(&row);
	job->result = error;
	if (error < 0 && job->error == NULL)
		job->error = xstrdup(err_get());
	job->waiting = pipeline_job_waits(job);
	log_context_set(was != NULL ? &saved : NULL);
	return error;
}
