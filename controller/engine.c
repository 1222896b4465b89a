/*
 * engine.c - the acting half of a pass (engine.h): the plan's actions as
 * pipeline jobs, run on a pool of max_parallel workers under the leader
 * lease's fence, and the pass recorded in reconcile_runs.
 *
 * Each worker has its own database connection and AWS clients (one set
 * per region it needs).  Readiness is never waited for inside a pass:
 * a job whose environment still waits says so (pipeline_job_waits()),
 * and the caller looks again a little later.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "ctl.h"
#include "ec2.h"
#include "engine.h"
#include "duration.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "pipeline.h"
#include "plan.h"
#include "spec.h"
#include "store.h"

/* One worker's tools for one region (engine_open). */
struct engine_res {
	struct pipeline	*pl;
	struct store	*store;
	struct ctl_aws	*aws;
};

/*
 * Fencing while a pass acts: the lease's local deadline (ctl.h), looked
 * at before each environment's actions start; every mutating AWS call
 * and every row write is fenced on its own as well.
 */
struct engine_fence {
	int			 on;		/* 0: not fenced */
	const char		*cluster;
	pthread_mutex_t		 mu;
	int			 leader;
};

/* One pass's acting state. */
struct engine {
	const struct config	*cfg;
	const struct engine_exec *x;
	struct engine_fence	 fence;
	struct pipeline_opts	 opts;
	struct engine_res	*res;
	size_t			 nres;
	struct ec2_instance_status_list status;	/* of this pass's waiting instances */
};

static int
engine_open(struct pipeline **out, const char *region, void *arg)
{
	struct engine *e = arg;
	struct engine_res r;
	int error;

	memset(&r, 0, sizeof(r));
	*out = NULL;
	/* under the lease (ctl_lease_store): a stale epoch's writes are refused */
	if ((error = ctl_store_open(&r.store, e->cfg)) < 0)
		goto fail;
	store_context_set(r.store, e->opts.correlation_id, e->opts.revision);
	if ((error = ctl_aws_open(&r.aws, e->cfg, region)) < 0)
		goto fail;
	if ((error = pipeline_new(&r.pl, r.store, r.aws->aws, r.aws->ec2,
	    r.aws->creds, &e->opts)) < 0)
		goto fail;
	e->res = xreallocarray(e->res, e->nres + 1, sizeof(*e->res));
	e->res[e->nres++] = r;
	*out = r.pl;
	return 0;
fail:
	ctl_aws_free(r.aws);
	store_free(r.store);
	return error;
}

static void
engine_close(struct pipeline *pl, void *arg)
{
	struct engine *e = arg;
	size_t i;

	for (i = 0; i < e->nres; i++) {
		if (e->res[i].pl != pl)
			continue;
		pipeline_free(e->res[i].pl);
		ctl_aws_free(e->res[i].aws);
		store_free(e->res[i].store);
		e->res[i] = e->res[--e->nres];
		return;
	}
}

size_t
engine_view_njobs(const struct engine_view *pv)
{
	size_t i, n = 0;

	for (i = 0; i < plan_count(pv->plan); i++)
		n += plan_kind_info(plan_action_at(pv->plan, i)->kind)->runs;
	return n;
}

/*
 * Give each job with a valid entry (spec_hash set) its whole spec: the
 * pass's tree is lean (ctl_specs_load), so the files of want are read
 * again into *specs, which the jobs borrow from.  A job whose file went,
 * became invalid or changed since the pass read it fails without running
 * (result and error set; the next pass acts on the new version); such
 * jobs are moved last, in order, for engine_execute().
 */
static void
engine_jobs_specs(struct pipeline_job *jobs, size_t n, struct spec_tree **specs,
    const struct engine_view *pv, const struct spec_entry **want, size_t nwant)
{
	struct pipeline_job *v;
	const struct spec_entry *r;
	char *why = NULL;
	size_t i, k = 0;

	if (spec_tree_reload(specs, pv->tree, want, nwant) < 0)
		why = xstrdup(err_get());
	for (i = 0; i < n; i++) {
		struct pipeline_job *j = &jobs[i];

		if (j->spec_hash == NULL)
			continue;
		r = *specs != NULL ? spec_tree_find(*specs, j->name) : NULL;
		if (r != NULL && spec_entry_valid(r)) {
			j->spec = spec_entry_spec(r);
			continue;
		}
		j->result = ERR_CONFLICT;
		j->error = xstrdup(r != NULL && spec_entry_diag_count(r) > 0 ?
		    spec_entry_diag(r, 0)->message : why != NULL ? why : "spec not read");
	}
	free(why);
	v = xcalloc(n + 1, sizeof(*v));
	for (i = 0; i < n; i++)
		if (jobs[i].result == 0)
			v[k++] = jobs[i];
	for (i = 0; i < n; i++)
		if (jobs[i].result < 0)
			v[k++] = jobs[i];
	memcpy(jobs, v, n * sizeof(*v));
	free(v);
}

/*
 * The plan's actions as pipeline jobs (borrowing from pv), with their
 * whole specs from *specs (the caller frees it); those that cannot run
 * come last, failed: see engine_jobs_specs.
 */
static struct pipeline_job *
engine_jobs(size_t *njobs, struct spec_tree **specs, const struct engine_view *pv,
    const struct config *cfg)
{
	struct pipeline_job *jobs;
	const struct spec_entry **want;
	size_t i, n = 0, nwant = 0;

	*specs = NULL;
	jobs = xcalloc(plan_count(pv->plan) + 1, sizeof(*jobs));
	want = xcalloc(plan_count(pv->plan) + 1, sizeof(*want));
	for (i = 0; i < plan_count(pv->plan); i++) {
		const struct plan_action *a = plan_action_at(pv->plan, i);
		const struct spec_brief *b = NULL;
		const struct spec_entry *e;
		struct pipeline_job *j;

		if (!plan_kind_info(a->kind)->runs)
			continue;
		j = &jobs[n++];
		j->kind = a->kind;
		j->name = a->name;
		j->reason = a->reason;
		if (*a->name != '\0' && (e = spec_tree_find(pv->tree, a->name)) != NULL &&
		    (b = spec_entry_brief(e)) != NULL) {
			j->spec_hash = spec_entry_hash(e);
			j->workspace = b->workspace;
			want[nwant++] = e;
		}
		if (a->record_index != PLAN_NONE) {
			size_t r = a->record_index;

			j->row = r < pv->rows.nlive ? &pv->rows.live[r] :
			    &pv->rows.ended[r - pv->rows.nlive];
		}
		if (a->instance_index != PLAN_NONE) {
			j->inst = &pv->inst.v[a->instance_index];
			j->region = engine_view_instance_aws(pv, a->instance_index)->region;
		}
		if (b != NULL && b->region != NULL)
			j->region = b->region;
		else if (j->region == NULL && j->row != NULL && j->row->region != NULL)
			j->region = j->row->region;
		else if (j->region == NULL)
			j->region = ctl_region(cfg);
	}
	if (nwant > 0)
		engine_jobs_specs(jobs, n, specs, pv, want, nwant);
	free(want);
	*njobs = n;
	return jobs;
}

/* Record the pass in reconcile_runs (counts by action, drift, errors). */
static void
engine_record(struct store *st, int64_t run, const struct plan *plan, size_t failed)
{
	struct store_count counts[PLAN_KIND_COUNT];
	size_t n = 0;
	int k, drift;

	for (k = 0; k < PLAN_KIND_COUNT; k++) {
		size_t c = plan_count_kind(plan, (enum plan_kind)k);

		if (c > 0 && k != PLAN_NOOP)
			counts[n++] = (struct store_count){ plan_kind_name((enum plan_kind)k),
			    (long)c };
	}
	drift = (int)plan_count_drift(plan);
	if (store_run_finish(st, run, counts, n, drift, (int)failed, NULL) < 0)
		log_warnx("recording the pass: %s", err_get());
}

/*
 * A provision slower than provision_sla: a warning event on its
 * environment (provision.sla.missed), as the metric counts it.
 */
static void
engine_sla_missed(const struct engine_view *pv, const struct store_env *row,
    double seconds, long long sla)
{
	char payload[160];
	int n;

	log_warnx("env=%s provision took %.0f s, over provision_sla (%lld s)",
	    row->name, seconds, sla);
	n = snprintf(payload, sizeof(payload),
	    "{\"provision_seconds\":%.0f,\"sla_seconds\":%lld}", seconds, sla);
	if (store_event_add(NULL, pv->store, row->id, "provision.sla.missed",
	    payload, (size_t)n) < 0)
		log_warnx("env=%s recording the SLA miss: %s", row->name, err_get());
}

/* How one job left its environment's row (read back), into res. */
static void
engine_outcome(struct engine_result *res, const struct config *cfg,
    const struct engine_view *pv, const struct pipeline_job *j)
{
	struct store_env row;
	const struct store_brief *was = j->row;
	int found, now, seconds;

	memset(&row, 0, sizeof(row));
	if ((found = store_env_get_by_name(&row, pv->store, j->name)) < 0 &&
	    found != ERR_NOTFOUND) {
		log_warnx("env=%s reading the row back: %s", j->name, err_get());
		return;
	}
	found = found == 0;
	/* A live row that went away, or was replaced, was terminated. */
	if (was != NULL && (!found || strcmp(was->id, row.id) != 0))
		res->transitions[STORE_STATUS_TERMINATED]++;
	if (found) {
		now = (int)row.status;
		if (was == NULL || strcmp(was->id, row.id) != 0 ||
		    (int)was->status != now)
			res->transitions[now]++;
		/* Became ready in this pass: its provision time, from the
		 * row's times as the remote.provision.ready event has it. */
		if (now == STORE_STATUS_READY && row.ready_at != 0 &&
		    row.ready_at >= row.created_at && (was == NULL ||
		    was->status != STORE_STATUS_READY ||
		    strcmp(was->id, row.id) != 0)) {
			seconds = (int)(row.ready_at - row.created_at);
			res->provision_s = xreallocarray(res->provision_s,
			    res->nprovision + 1, sizeof(*res->provision_s));
			res->provision_s[res->nprovision++] = seconds;
			if (cfg->provision_sla > 0 && seconds > cfg->provision_sla) {
				res->sla_misses++;
				engine_sla_missed(pv, &row, seconds,
				    cfg->provision_sla);
			}
		}
		store_env_dispose(&row);
	}
}

/*
 * What the jobs did to their rows, read back after the pass: the status
 * each entered, the provision time of each environment that became ready and whether it
 * missed provision_sla.
 */
static void
engine_outcomes(struct engine_result *res, const struct config *cfg,
    const struct engine_view *pv)
{
	size_t i;

	/*
	 * A drift report changes no row, and a GC job's row is an ended
	 * incarnation (reading the live row of its name back would count
	 * a transition that did not happen): one query saved per such job.
	 */
	for (i = 0; i < res->njobs; i++) {
		const struct pipeline_job *j = &res->jobs[i];

		if (*j->name != '\0' && j->kind != PLAN_DRIFT_REPORT &&
		    j->kind != PLAN_GC)
			engine_outcome(res, cfg, pv, j);
	}
}

/*
 * pipeline_go_fn: is this process still within its lease's deadline?
 * Asked by the workers before each environment; once out, out for the
 * pass (a step under way is fenced by its own AWS calls and writes).
 */
static int
engine_fence_go(void *arg)
{
	struct engine_fence *f = &((struct engine *)arg)->fence;
	int go;

	if (!f->on)
		return 1;
	pthread_mutex_lock(&f->mu);
	if (f->leader && ctl_lease_check(NULL) < 0) {
		log_warnx("cluster=%s no more environments start: %s",
		    f->cluster, err_get());
		f->leader = 0;
	}
	go = f->leader;
	pthread_mutex_unlock(&f->mu);
	return go;
}

static int
status_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ec2_instance_status *)a)->id,
	    ((const struct ec2_instance_status *)b)->id);
}

static void
status_append(struct ec2_instance_status_list *all,
    struct ec2_instance_status_list *l)
{
	all->v = xreallocarray(all->v, all->n + l->n + 1, sizeof(*all->v));
	memcpy(all->v + all->n, l->v, l->n * sizeof(*l->v));
	all->n += l->n;
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/*
 * DescribeInstanceStatus of ids[0..n) into all.  EC2 refuses the whole
 * call when one id is unknown (InvalidInstanceID.NotFound), as an
 * instance launched seconds ago may be: the ids its message names are
 * set aside, else the batch is split in halves, and the rest asked
 * again.  An id set aside gets status "not-visible" (not ok: its job
 * waits for a later pass, at no call of its own).  Any other failure
 * leaves the batch out (each job asks for itself).
 */
static void
status_batch(struct ec2_instance_status_list *all, struct ec2_client *ec2,
    const char *region, const char **ids, size_t n, unsigned depth)
{
	struct ec2_instance_status_list l;
	const char *msg;
	size_t i, keep;
	int error;

	if (n == 0)
		return;
	memset(&l, 0, sizeof(l));
	if ((error = ec2_instance_status_describe(&l, ec2, ids, n)) == 0) {
		status_append(all, &l);
		return;
	}
	if (error != ERR_NOTFOUND || depth > 16) {
		log_info("region=%s status checks of %zu instances in one call "
		    "failed (%s); each asks for itself", region, n, err_get());
		return;
	}
	/* Set aside the ids the message names ("'i-a'", "'i-a, i-b'"). */
	msg = err_get();
	for (i = keep = 0; i < n; i++) {
		if (strstr(msg, ids[i]) == NULL) {
			ids[keep++] = ids[i];
			continue;
		}
		l.v = xreallocarray(l.v, l.n + 1, sizeof(*l.v));
		memset(&l.v[l.n], 0, sizeof(*l.v));
		snprintf(l.v[l.n].id, sizeof(l.v[l.n].id), "%s", ids[i]);
		snprintf(l.v[l.n].instance_status,
		    sizeof(l.v[l.n].instance_status), "not-visible");
		snprintf(l.v[l.n].system_status,
		    sizeof(l.v[l.n].system_status), "not-visible");
		l.n++;
	}
	if (l.n > 0) {
		log_info("region=%s %zu of %zu instances not visible yet; "
		    "they wait, the rest are asked again", region, l.n, n);
		status_append(all, &l);
		status_batch(all, ec2, region, ids, keep, depth + 1);
	} else if (n == 1) {
		/* Unnamed, alone: it is the one EC2 does not show yet. */
		l.v = xcalloc(1, sizeof(*l.v));
		snprintf(l.v[0].id, sizeof(l.v[0].id), "%s", ids[0]);
		snprintf(l.v[0].instance_status, sizeof(l.v[0].instance_status),
		    "not-visible");
		snprintf(l.v[0].system_status, sizeof(l.v[0].system_status),
		    "not-visible");
		l.n = 1;
		status_append(all, &l);
	} else {
		status_batch(all, ec2, region, ids, n / 2, depth + 1);
		status_batch(all, ec2, region, ids + n / 2, n - n / 2,
		    depth + 1);
	}
}

/*
 * The status checks of every instance a job will read
 * (pipeline_job_status_instance()), for the whole pass: one
 * DescribeInstanceStatus per 100 instances of a region instead of one
 * per environment, made with the pass's own clients of each region
 * (status_batch: an instance not visible yet only waits).  A job whose
 * instance is not in the answer (or whose batch failed) asks for itself.
 */
static void
engine_status_prefetch(struct engine *e, const struct engine_view *pv,
    struct pipeline_job *jobs, size_t njobs)
{
	struct ec2_instance_status_list *all = &e->status;
	struct ec2_instance_status key;
	const char **ids, *id;
	size_t i, k, n, r, m;

	memset(all, 0, sizeof(*all));
	if (!(e->opts.ready_checks & PIPELINE_CHECK_STATUS))
		return;
	ids = xcalloc(njobs + 1, sizeof(*ids));
	for (r = 0; r < pv->naws; r++) {
		for (i = n = 0; i < njobs; i++)
			if ((id = pipeline_job_status_instance(&jobs[i])) != NULL &&
			    jobs[i].region != NULL &&
			    strcmp(jobs[i].region, pv->aws[r]->region) == 0)
				ids[n++] = id;
		for (k = 0; k < n; k += 100) {
			m = n - k < 100 ? n - k : 100;
			status_batch(all, pv->aws[r]->ec2, pv->aws[r]->region,
			    ids + k, m, 0);
		}
	}
	free(ids);
	if (all->n == 0)
		return;
	qsort(all->v, all->n, sizeof(*all->v), status_cmp);
	for (i = 0; i < njobs; i++) {
		if ((id = pipeline_job_status_instance(&jobs[i])) == NULL)
			continue;
		snprintf(key.id, sizeof(key.id), "%s", id);
		jobs[i].status = bsearch(&key, all->v, all->n, sizeof(*all->v),
		    status_cmp);
	}
}

/* A log line per job as it ends (the default engine_done_fn). */
static void
engine_log_done(const struct pipeline_job *j, size_t ndone, size_t njobs,
    void *arg)
{
	char esc[512];

	(void)ndone;
	(void)njobs;
	(void)arg;
	if (j->result < 0)
		log_warnx("env=%s action=%s stage=%s error: %s", j->name,
		    plan_kind_name(j->kind), j->stage[0] ? j->stage : "-",
		    log_escape(esc, sizeof(esc), j->error ? j->error : "?"));
	else
		log_info("env=%s action=%s stage=%s ok", j->name,
		    plan_kind_name(j->kind), j->stage[0] ? j->stage : "-");
}

static void
engine_done(const struct pipeline_job *j, size_t ndone, size_t njobs, void *arg)
{
	const struct engine_exec *x = ((struct engine *)arg)->x;

	if (x->done != NULL)
		x->done(j, ndone, njobs, x->arg);
	else
		engine_log_done(j, ndone, njobs, NULL);
}

int
engine_can_act(const struct config *cfg)
{
	if (*cfg->s3_bucket == '\0') {
		err_set("no S3 bucket configured: set s3_bucket "
		    "(ENVCTL_S3_BUCKET or --s3-bucket)");
		return ERR_INVALID;
	}
	return 0;
}

/* The pipelines' options from the configuration. */
static void
engine_opts(struct pipeline_opts *o, const struct config *cfg)
{
	memset(o, 0, sizeof(*o));
	o->bucket = cfg->s3_bucket;
	o->s3_prefix = cfg->s3_prefix;
	o->cluster_id = cfg->cluster_id;
	o->tag_prefix = cfg->tag_prefix;
	o->ready_checks = cfg->ready_checks;
	o->ready_ssh_port = cfg->ready_ssh_port;
	o->idle_stop_s = cfg->idle_stop;
	o->prices = cfg->prices;
	o->secret_env_prefix = cfg->secret_env_prefix;
	o->secret_ssm_prefix = cfg->secret_ssm_prefix;
	o->secrets_dir = cfg->secrets_dir;
	o->secret_ssm_region = ctl_region(cfg);	/* the controller's own */
	plan_config_init(&o->plan);
	o->plan.backoff_base = cfg->backoff_base;
	o->plan.backoff_cap = cfg->backoff_max;
}

int
engine_execute(struct engine_result *res, const struct config *cfg,
    const struct engine_view *pv, const struct engine_exec *x)
{
	struct engine e;
	size_t nrun, i;
	int error;

	memset(res, 0, sizeof(*res));
	if ((error = engine_can_act(cfg)) < 0)
		return error;
	memset(&e, 0, sizeof(e));
	e.cfg = cfg;
	e.x = x;
	engine_opts(&e.opts, cfg);
	e.opts.revision = pv->revision;
	e.opts.correlation_id = pv->cid;
	e.opts.capacity = x->capacity;
	/* Reported drift that is gone now: drift.resolved. */
	if (engine_drift_resolve(pv, x->who) < 0)
		log_warnx("recording resolved drift: %s", err_get());
	if (engine_held_record(pv) < 0)
		log_warnx("recording held deletions: %s", err_get());
	if (engine_stops_record(pv, time(NULL)) < 0)
		log_warnx("recording observed stops: %s", err_get());
	if (engine_spot_record(pv, cfg, x->capacity, time(NULL)) < 0)
		log_warnx("recording spot notices: %s", err_get());
	if (engine_price_refresh(pv, cfg, time(NULL)) < 0)
		log_warnx("refreshing spot prices: %s", err_get());
	res->jobs = engine_jobs(&res->njobs, &res->specs, pv, cfg);
	if (store_run_begin(&res->run, pv->store, pv->revision) < 0)
		log_warnx("recording the pass start: %s", err_get());
	e.fence.on = x->fenced;
	e.fence.cluster = cfg->cluster_id;
	e.fence.leader = 1;
	pthread_mutex_init(&e.fence.mu, NULL);
	engine_status_prefetch(&e, pv, res->jobs, res->njobs);
	/* the jobs engine_jobs failed (their spec file changed) come last */
	for (nrun = 0; nrun < res->njobs && res->jobs[nrun].result == 0; nrun++)
		;
	res->failed = pipeline_jobs_run_fenced(res->jobs, nrun,
	    (unsigned)cfg->max_parallel, engine_open, engine_close, engine_done,
	    engine_fence_go, &e);
	for (i = nrun; i < res->njobs; i++) {
		res->jobs[i].waiting = pipeline_job_waits(&res->jobs[i]);
		engine_done(&res->jobs[i], i + 1, res->njobs, &e);
		res->failed++;
	}
	ec2_instance_status_list_dispose(&e.status);
	pthread_mutex_destroy(&e.fence.mu);
	for (i = 0; i < res->njobs; i++) {
		res->waiting |= res->jobs[i].waiting;
		if (res->jobs[i].result == ERR_FENCED)
			res->fenced = 1;
	}
	if (e.fence.on && !e.fence.leader)
		res->fenced = 1;
	if (res->run > 0)
		engine_record(pv->store, res->run, pv->plan, res->failed);
	if (x->outcomes)
		engine_outcomes(res, cfg, pv);
	free(e.res);
	return 0;
}

void
engine_result_dispose(struct engine_result *res)
{
	size_t i;

	for (i = 0; i < res->njobs; i++)
		free(res->jobs[i].error);
	free(res->jobs);
	spec_tree_free(res->specs);
	free(res->provision_s);
	memset(res, 0, sizeof(*res));
}

/* The newest incarnation of name into ep->row if it is parked; else ERR_NOTFOUND. */
static int
power_parked(struct engine_power *ep, const char *name)
{
	struct store_env *v = NULL;
	size_t n = 0;
	int error;

	if ((error = store_env_history(&v, &n, ep->store, name, 1)) < 0)
		return error;
	if (n == 1 && v[0].status == STORE_STATUS_TERMINATED &&
	    v[0].parked != NULL &&
	    (error = store_env_get(&ep->row, ep->store, v[0].id)) == 0) {
		ep->parked = 1;
		store_envs_free(v, n);
		return 0;
	}
	store_envs_free(v, n);
	return error < 0 ? error : ERR_NOTFOUND;
}

/*
 * Un-park ep's parked row: the mark goes (so the planner provisions the
 * environment on its next pass), then remote.unpark.  Guarded by the
 * row's version: a second start at the same time un-parks once.
 */
static int
power_unpark(struct engine_power *ep)
{
	json_t *o;
	char *payload = NULL, esc[256];
	int error;

	if ((error = store_env_set_text(&ep->row, STORE_ENV_PARKED, NULL, 0)) < 0 ||
	    (error = store_env_update(ep->store, &ep->row, STORE_ENV_PARKED |
	    STORE_ENV_GUARD)) < 0)
		return error;
	o = json_pack("{s:s, s:s, s:s?, s:s}", "env", ep->row.name, "env_id",
	    ep->row.id, "instance_id", ep->row.instance_id, "who",
	    ep->who != NULL ? ep->who : "");
	if (o == NULL || (payload = json_dumps(o, JSON_COMPACT)) == NULL) {
		json_decref(o);
		err_set("remote.unpark: cannot encode");
		return ERR_GENERIC;
	}
	json_decref(o);
	error = store_event_add(NULL, ep->store, ep->row.id, "remote.unpark",
	    payload, strlen(payload));
	free(payload);
	if (error == 0)
		log_info("env=%s env_id=%s un-parked: the next pass provisions it",
		    log_escape(esc, sizeof(esc), ep->row.name), ep->row.id);
	return error;
}

int
engine_power_open(struct engine_power *ep, const struct config *cfg,
    const char *name, const char *cid)
{
	int error;

	memset(ep, 0, sizeof(*ep));
	if ((error = engine_can_act(cfg)) < 0)
		goto fail;
	if ((error = ctl_store_open(&ep->store, cfg)) < 0)
		goto fail;
	store_context_set(ep->store, cid, NULL);
	if ((error = store_env_get_by_name(&ep->row, ep->store, name)) ==
	    ERR_NOTFOUND && (error = power_parked(ep, name)) == ERR_NOTFOUND)
		err_set("no live environment named %s", name);
	if (error < 0)
		goto fail;
	ep->have_row = 1;
	if ((error = ctl_aws_open(&ep->aws, cfg, ep->row.region != NULL ?
	    ep->row.region : ctl_region(cfg))) < 0)
		goto fail;
	engine_opts(&ep->opts, cfg);
	ep->opts.correlation_id = cid;
	if ((error = pipeline_new(&ep->pl, ep->store, ep->aws->aws,
	    ep->aws->ec2, ep->aws->creds, &ep->opts)) < 0)
		goto fail;
	return 0;
fail:
	engine_power_close(ep);
	return error;
}

int
engine_power_run(struct engine_power *ep, int start, unsigned wait_s)
{
	if (ep->parked && !start) {
		err_set("%s is parked (shut down idle; no instance): nothing to "
		    "stop", ep->row.name);
		return ERR_CONFLICT;
	}
	if (ep->parked)
		return power_unpark(ep);
	return start ? pipeline_env_start(ep->pl, &ep->row, wait_s) :
	    pipeline_env_stop(ep->pl, &ep->row);
}

int
engine_power_wait_ready(struct engine_power *ep, unsigned wait_s)
{
	struct store_env row;
	time_t until = time(NULL) + (time_t)wait_s;
	struct timespec ts = { 2, 0 };
	int error;

	for (;;) {
		memset(&row, 0, sizeof(row));
		error = store_env_get_by_name(&row, ep->store, ep->row.name);
		if (error == 0 && row.status == STORE_STATUS_READY &&
		    row.stopped_at == 0) {
			store_env_dispose(&ep->row);
			ep->row = row;
			ep->parked = 0;
			return 0;
		}
		if (error == 0)
			store_env_dispose(&row);
		else if (error != ERR_NOTFOUND)
			return error;
		if (time(NULL) >= until)
			break;
		nanosleep(&ts, NULL);
	}
	err_set("%s: un-parked, but no pass provisioned it within %us (is "
	    "`envctl run` running?  `envctl reconcile --once` makes one)",
	    ep->row.name, wait_s);
	return ERR_TIMEOUT;
}

void
engine_power_close(struct engine_power *ep)
{
	pipeline_free(ep->pl);
	ctl_aws_free(ep->aws);
	if (ep->have_row)
		store_env_dispose(&ep->row);
	store_free(ep->store);
	memset(ep, 0, sizeof(*ep));
}
