/*
 * terminate.c - the terminate pipeline and the rest of the action table
 * that ends things: orphans, garbage collection, drift records.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "ec2.h"
#include "log.h"
#include "mem.h"
#include "pipeline_int.h"
#include "spec.h"

/*
 * End incarnation row: status terminating (with the reason) first, then
 * the instance (unless it has termination protection: reported, never
 * overridden), its S3 objects, key pair and security group (kept on the
 * row for GC when the instance is still shutting down), then terminated
 * with the cost booked (pipeline_env_cost()).  Idempotent: anything
 * already gone is success.
 */
int
pl_terminate(struct pipeline *p, struct pipeline_job *job,
    struct store_env *row, const char *instance_id, const char *reason)
{
	time_t now = pl_now(p);
	char esc_name[256], esc_reason[256], esc_id[64];
	struct pipeline_cost cost;
	bool sg_left = false;
	int error = 0, prot = 0;

	if (instance_id != NULL && (row->instance_id == NULL ||
	    strcmp(row->instance_id, instance_id) != 0))
		pl_row_set(row, STORE_ENV_INSTANCE_ID, instance_id);
	if (row->status != STORE_STATUS_TERMINATING) {
		row->status = STORE_STATUS_TERMINATING;
		pl_row_set(row, STORE_ENV_TERMINATION_REASON, reason);
		if ((error = pl_row_update(p, row, STORE_ENV_STATUS |
		    STORE_ENV_TERMINATION_REASON | STORE_ENV_INSTANCE_ID,
		    "terminate.mark.before", "terminate.mark.after")) < 0)
			goto out;
	}
	snprintf(job->stage, sizeof(job->stage), "terminating");
	if (row->instance_id != NULL) {
		FP("terminate.protection.before");
		error = ec2_instance_termination_protection(&prot, p->ec2,
		    row->instance_id);
		if (error == ERR_NOTFOUND)
			error = 0;
		if (error < 0)
			goto out;
		FP("terminate.protection.after");
		if (prot) {
			err_set("instance %s has termination protection; envctl does "
			    "not override it (turn it off to let the termination "
			    "finish)", row->instance_id);
			pl_row_set(row, STORE_ENV_ERROR, err_get());
			pl_row_set(row, STORE_ENV_FAILED_AT_STAGE, "terminating");
			(void)store_env_update(p->store, row, STORE_ENV_ERROR);
			err_set("instance %s has termination protection; envctl does "
			    "not override it", row->instance_id);
			error = ERR_CONFLICT;
			goto out;
		}
	}
	if ((error = pl_cleanup(p, row, &sg_left, PL_CLEANUP_INSTANCE, "terminate")) < 0)
		goto out;
	/* Its segments closed by the cleanup: what the ledger billed. */
	if ((error = pl_env_booked(&cost, p, row->id)) < 0)
		goto out;
	row->status = STORE_STATUS_TERMINATED;
	row->terminated_at = now;
	row->total_cost_usd = cost.usd;
	if (row->termination_reason == NULL)
		pl_row_set(row, STORE_ENV_TERMINATION_REASON, reason);
	if ((error = pl_row_update(p, row, STORE_ENV_STATUS |
	    STORE_ENV_TERMINATED_AT | STORE_ENV_TOTAL_COST |
	    STORE_ENV_TERMINATION_REASON | STORE_ENV_SSH_KEY_S3_KEY |
	    STORE_ENV_SECURITY_GROUP_ID, "terminate.done.before",
	    "terminate.done.after")) < 0)
		goto out;
	snprintf(job->stage, sizeof(job->stage), "terminated");
	pl_json_escape(esc_name, sizeof(esc_name), row->name);
	pl_json_escape(esc_reason, sizeof(esc_reason), row->termination_reason);
	pl_json_escape(esc_id, sizeof(esc_id), row->instance_id);
	FP("terminate.event.before");
	if ((error = pl_event(p, row->id, "remote.terminate",
	    "{\"env\":\"%s\",\"instance_id\":%s%s%s,\"reason\":\"%s\","
	    "\"kind\":\"%s\",\"uptime_seconds\":%lld,\"cost_usd\":%.6f}",
	    esc_name, row->instance_id ? "\"" : "",
	    row->instance_id ? esc_id : "null", row->instance_id ? "\"" : "",
	    esc_reason, plan_kind_name(job->kind), cost.seconds, cost.usd)) < 0)
		goto out;
	FP("terminate.event.after");
	log_info("env=%s env_id=%s terminated (%s); uptime %llds, cost $%.4f",
	    row->name, row->id, row->termination_reason, cost.seconds, cost.usd);
out:
	return error;
}

/*
 * The orphan's group is still in use while its instance shuts down
 * (DependencyViolation): recorded on a row (its own, or an ended one
 * made for it) so that garbage collection deletes it on a later pass,
 * with the same ownership checks; event orphan.group_left.
 */
static int
orphan_group_left(struct pipeline *p, struct pipeline_job *job,
    const char *env_id, const char *group_id)
{
	char esc_env[256], esc_eid[128], esc_sg[80];
	int error;

	FP("orphan.group_left.before");
	if ((error = store_env_leftover_group(p->store, env_id,
	    job->name != NULL && *job->name != '\0' ? job->name : env_id,
	    aws_client_region(p->aws), group_id)) < 0) {
		err_prefix("recording security group %s", group_id);
		goto out;
	}
	FP("orphan.group_left.after");
	pl_json_escape(esc_env, sizeof(esc_env), job->name);
	pl_json_escape(esc_eid, sizeof(esc_eid), env_id);
	pl_json_escape(esc_sg, sizeof(esc_sg), group_id);
	error = pl_event(p, env_id, "orphan.group_left",
	    "{\"env\":\"%s\",\"env_id\":\"%s\",\"security_group_id\":\"%s\","
	    "\"reason\":\"in use while the instance shuts down\"}", esc_env,
	    esc_eid, esc_sg);
	job->gc_waiting = 1;
out:
	return error;
}

/* An instance with our cluster tag that no live row knows: end it. */
int
pl_orphan(struct pipeline *p, struct pipeline_job *job)
{
	const struct ec2_instance *in = job->inst;
	const char *id, *env_id;
	struct store_env tmp;
	char esc_env[256], esc_eid[128], why[256], what[64];
	bool sg_left = false;
	int error = 0;

	if (in == NULL)
		return 0;
	id = in->id;
	env_id = ec2_instance_tag(in, p->tags.env_id);
	/* Ours by the pass's own DescribeInstances: managed, this cluster. */
	if (pl_own_tags(why, sizeof(why), p, in->tags, in->ntags, NULL) < 0) {
		snprintf(what, sizeof(what), "instance %s", id);
		return pl_not_ours(p, NULL, what, why);
	}
	FP("orphan.instance.before");
	if ((error = ec2_instances_terminate(p->ec2, &id, 1)) < 0 &&
	    error != ERR_NOTFOUND) {
		err_prefix("terminating orphan %s", id);
		goto out;
	}
	if ((error = pl_cost_end(p, &id, 1)) < 0)
		goto out;
	FP("orphan.instance.after");
	pl_json_escape(esc_env, sizeof(esc_env), job->name);
	pl_json_escape(esc_eid, sizeof(esc_eid), env_id);
	if ((error = pl_event(p, NULL, "orphan.terminated",
	    "{\"instance_id\":\"%s\",\"env\":\"%s\",\"env_id\":\"%s\","
	    "\"reason\":\"orphan\"}", id, esc_env, esc_eid)) < 0)
		goto out;
	log_info("env=%s orphan instance %s terminated", job->name, id);
	/* What the orphan's incarnation left under its (unknown) env id. */
	if (pl_env_id_valid(env_id)) {
		memset(&tmp, 0, sizeof(tmp));
		snprintf(tmp.id, sizeof(tmp.id), "%s", env_id);
		error = pl_cleanup(p, &tmp, &sg_left, 0, "orphan");
		if (error == 0 && sg_left)
			error = orphan_group_left(p, job, env_id,
			    tmp.security_group_id);
		store_env_dispose(&tmp);
	}
out:
	return error;
}

/* Leftovers of an ended incarnation: S3 objects, key pair, security group. */
int
pl_gc(struct pipeline *p, struct pipeline_job *job)
{
	struct store_env row;
	char sg[32] = "", esc_sg[80];
	bool sg_left = false;
	int error;

	memset(&row, 0, sizeof(row));
	if (job->row == NULL)
		return 0;
	if ((error = store_env_get(&row, p->store, job->row->id)) < 0)
		goto out;
	if (row.security_group_id != NULL)
		snprintf(sg, sizeof(sg), "%s", row.security_group_id);
	if ((error = pl_cleanup(p, &row, &sg_left, 0, "gc")) < 0)
		goto out;
	if (row.instance_id != NULL && (error = pl_cost_end(p,
	    (const char *const *)&row.instance_id, 1)) < 0)
		goto out;	/* ended: whatever is still open closes */
	if ((error = pl_row_update(p, &row, STORE_ENV_SSH_KEY_S3_KEY |
	    STORE_ENV_SECURITY_GROUP_ID, "gc.done.before", "gc.done.after")) < 0)
		goto out;
	/* A group left earlier (in use then) is gone now. */
	if (sg[0] != '\0' && row.security_group_id == NULL) {
		pl_json_escape(esc_sg, sizeof(esc_sg), sg);
		if ((error = pl_event(p, row.id, "gc.group_deleted",
		    "{\"security_group_id\":\"%s\"}", esc_sg)) < 0)
			goto out;
	}
	snprintf(job->stage, sizeof(job->stage), sg_left ? "gc-waiting" : "collected");
	job->gc_waiting = sg_left;
out:
	store_env_dispose(&row);
	return error;
}

void
pipeline_drift_fact(char out[PIPELINE_DRIFT_FACT_LEN + 1], const char *kind,
    const char *instance_id, const char *want, const char *have,
    const char *reason)
{
	const char *part[5] = { kind, instance_id, want, have, reason };
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t i;

	if (ctx == NULL)
		abort();	/* out of memory */
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (i = 0; i < 5; i++) {
		const char *v = part[i] != NULL ? part[i] : "";

		/* NUL-separated, so ("a", "bc") and ("ab", "c") differ. */
		EVP_DigestUpdate(ctx, v, strlen(v) + 1);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < PIPELINE_DRIFT_FACT_LEN / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[PIPELINE_DRIFT_FACT_LEN] = '\0';
}

int
pipeline_drift_open(int *open, char fact[PIPELINE_DRIFT_FACT_LEN + 1],
    struct store *st, const char *env_id)
{
	struct store_event *ev = NULL;
	size_t n = 0, i;
	int error;

	*open = 0;
	fact[0] = '\0';
	if (env_id == NULL || *env_id == '\0')
		return 0;
	if ((error = store_events_recent(&ev, &n, st, env_id, 200)) < 0)
		return error;
	for (i = 0; i < n; i++) {
		json_t *doc, *f;

		if (strcmp(ev[i].type, "drift.resolved") == 0)
			break;
		if (strcmp(ev[i].type, "drift.detected") != 0)
			continue;
		/* Drift acted on (adopted, replaced) has no fact: not open. */
		doc = json_loads(ev[i].payload ? ev[i].payload : "{}", 0, NULL);
		f = doc != NULL ? json_object_get(doc, "fact") : NULL;
		if (json_is_string(f) &&
		    strlen(json_string_value(f)) == PIPELINE_DRIFT_FACT_LEN) {
			*open = 1;
			snprintf(fact, PIPELINE_DRIFT_FACT_LEN + 1, "%s",
			    json_string_value(f));
		}
		json_decref(doc);
		break;
	}
	store_events_free(ev, n);
	return 0;
}

/*
 * on_drift: report.  drift.detected once per fact: nothing is recorded
 * when the environment's open drift (pipeline_drift_open()) is this one.
 */
int
pl_drift_report(struct pipeline *p, struct pipeline_job *job)
{
	char name[256], reason[600], iid[64], want[128], have[128];
	char fact[PIPELINE_DRIFT_FACT_LEN + 1], seen[PIPELINE_DRIFT_FACT_LEN + 1];
	const char *env_id = job->row ? job->row->id : NULL, *hv;
	int open = 0, error;

	hv = job->inst ? ec2_instance_tag(job->inst, p->tags.spec_hash) : NULL;
	pipeline_drift_fact(fact, plan_kind_name(job->kind),
	    job->inst ? job->inst->id : NULL, job->spec_hash, hv, job->reason);
	if ((error = pipeline_drift_open(&open, seen, p->store, env_id)) < 0)
		return error;
	if (open && strcmp(seen, fact) == 0) {
		snprintf(job->stage, sizeof(job->stage), "reported before");
		return 0;
	}
	pl_json_escape(name, sizeof(name), job->name);
	pl_json_escape(reason, sizeof(reason), job->reason);
	pl_json_escape(iid, sizeof(iid), job->inst ? job->inst->id : "");
	pl_json_escape(want, sizeof(want), job->spec_hash);
	pl_json_escape(have, sizeof(have), hv);
	snprintf(job->stage, sizeof(job->stage), "reported");
	return pl_event(p, env_id, "drift.detected",
	    "{\"env\":\"%s\",\"kind\":\"%s\",\"instance_id\":\"%s\","
	    "\"reason\":\"%s\",\"spec_hash\":\"%s\",\"instance_hash\":\"%s\","
	    "\"action\":\"report\",\"fact\":\"%s\",\"check\":\"reconcile\"}",
	    name, plan_kind_name(job->kind), iid, reason, want, have, fact);
}

/* The instance of a ready row went away out of band: record it, close the row. */
int
pl_drift_gone(struct pipeline *p, struct pipeline_job *job, struct store_env *row)
{
	char name[256], iid[64];
	int error;

	pl_json_escape(name, sizeof(name), job->name);
	pl_json_escape(iid, sizeof(iid), row->instance_id);
	if ((error = pl_event(p, row->id, "drift.detected",
	    "{\"env\":\"%s\",\"instance_id\":\"%s\",\"reason\":\"instance gone "
	    "out of band\",\"action\":\"replace\"}", name, iid)) < 0)
		return error;
	return pl_terminate(p, job, row, NULL, "replaced for drift");
}

/*
 * The instance of a ready row shut itself down idle and EC2 terminated
 * it (on_idle: terminate; plan reason PLAN_REASON_PARK): the row is
 * marked parked first (a crash before the close leaves a live row the
 * next pass parks again while EC2 still lists the instance), then ended
 * as any gone instance's row is (pl_terminate: cost booked the same
 * way), then remote.idle.parked.  The planner provisions nothing for a
 * parked environment until `envctl start` or a spec change (§6.8).
 */
int
pl_park(struct pipeline *p, struct pipeline_job *job, struct store_env *row)
{
	char name[256], iid[64];
	long long idle = 0;
	int error = 0;

	if (row->parked == NULL) {
		pl_row_set(row, STORE_ENV_PARKED, "idle");
		if ((error = pl_row_update(p, row, STORE_ENV_PARKED,
		    "park.mark.before", "park.mark.after")) < 0)
			goto out;
	}
	if ((error = pl_terminate(p, job, row, NULL, "idle shutdown")) < 0)
		goto out;
	if (job->spec != NULL)
		idle = spec_idle_stop_effective(job->spec->lifecycle.idle_stop_s,
		    job->spec->lifecycle.on_idle, job->spec->instance.market,
		    p->o.idle_stop_s);
	pl_json_escape(name, sizeof(name), row->name);
	pl_json_escape(iid, sizeof(iid), row->instance_id);
	snprintf(job->stage, sizeof(job->stage), "parked");
	FP("park.event.before");
	if ((error = pl_event(p, row->id, "remote.idle.parked",
	    "{\"env\":\"%s\",\"instance_id\":\"%s\",\"idle_stop\":%lld}",
	    name, iid, idle)) < 0)
		goto out;
	log_info("env=%s env_id=%s parked: instance %s shut down idle; "
	    "`envctl start` brings it back", row->name, row->id,
	    row->instance_id != NULL ? row->instance_id : "?");
out:
	return error;
}
