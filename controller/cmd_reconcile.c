/*
 * envctl reconcile --once - one pass of the loop (or passes until the
 * fleet converges or --wait runs out), then exit.
 *
 *	envctl reconcile --once [--dry-run] [--wait DURATION] [--force]
 *	    [--specs DIR] [-o json]
 *
 * A pass reads the three truths and plans (pass.h: fail closed, nothing
 * changed when specs, the database or EC2 cannot be read), then runs the
 * plan's actions on a pool of max_parallel workers (lib/pipeline), each
 * with its own database connection and AWS clients, and records the pass
 * in reconcile_runs.  Readiness is never waited for inside a pass: with
 * --wait, passes repeat every couple of seconds until the plan has no
 * changes or the time is up.
 *
 * A pass that would act takes the cluster's leader lock first (on the
 * pass's own session, so it goes when the pass ends): beside a running
 * `envctl run` leader it changes nothing and the command exits 1, since
 * the pass could not do its job.  --dry-run takes no lock.
 *
 * Exit: 0 converged, 2 changes pending, 1 error or leader lock held
 * elsewhere (DESIGN.md §11).
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aws.h"
#include "cmd.h"
#include "config.h"
#include "ctl.h"
#include "drift.h"
#include "duration.h"
#include "ec2.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "pass.h"
#include "pipeline.h"
#include "reconcile.h"
#include "plan.h"
#include "spec.h"
#include "store.h"

#define RECONCILE_PASS_GAP	2	/* seconds between passes with --wait */

struct rc_res {
	struct pipeline	*pl;
	struct store	*store;
	struct ctl_aws	*aws;
};

/*
 * Fencing while a pass acts: the session holding the cluster's leader
 * lock, re-checked (at most every RC_FENCE_MS) before each environment's
 * actions start.
 */
#define RC_FENCE_MS	1000

struct rc_fence {
	struct store		*lock;		/* NULL: not fenced */
	const char		*cluster;
	pthread_mutex_t		 mu;
	uint64_t		 checked;	/* monotonic ms of the last check */
	int			 leader;
};

struct rc {
	const struct config	*cfg;
	struct rc_fence		 fence;
	struct pipeline_opts	 opts;
	struct pipeline_prices	*prices;	/* price_table, or NULL */
	struct rc_res		*res;
	size_t			 nres;
	int			 json;
	int			 tty;
	int			 daemon;	/* envctl run: log lines, no stdout */
	int			 pass;
	time_t			 started;
	json_t			*jpasses;
	struct ec2_instance_status_list status;	/* of this pass's waiting instances */
};

static int
rc_open(struct pipeline **out, const char *region, void *arg)
{
	struct rc *rc = arg;
	struct rc_res r;
	int error;

	memset(&r, 0, sizeof(r));
	*out = NULL;
	if ((error = store_open(&r.store, config_str(rc->cfg, "database_url"))) < 0)
		goto fail;
	if ((error = ctl_aws_open(&r.aws, rc->cfg, region)) < 0)
		goto fail;
	if ((error = pipeline_new(&r.pl, r.store, r.aws->aws, r.aws->ec2,
	    r.aws->creds, &rc->opts)) < 0)
		goto fail;
	rc->res = xreallocarray(rc->res, rc->nres + 1, sizeof(*rc->res));
	rc->res[rc->nres++] = r;
	*out = r.pl;
	return 0;
fail:
	ctl_aws_free(r.aws);
	store_free(r.store);
	return error;
}

static void
rc_close(struct pipeline *pl, void *arg)
{
	struct rc *rc = arg;
	size_t i;

	for (i = 0; i < rc->nres; i++) {
		if (rc->res[i].pl != pl)
			continue;
		pipeline_free(rc->res[i].pl);
		ctl_aws_free(rc->res[i].aws);
		store_free(rc->res[i].store);
		rc->res[i] = rc->res[--rc->nres];
		return;
	}
}

/*
 * Give each job with a valid entry (spec_hash set) its whole spec: the
 * pass's tree is lean (ctl_specs_load), so the files of want are read
 * again into *specs, which the jobs borrow from.  A job whose file went,
 * became invalid or changed since the pass read it fails without running
 * (result and error set; the next pass acts on the new version); such
 * jobs are moved last, in order, for rc_execute.
 */
static void
rc_jobs_specs(struct pipeline_job *jobs, size_t n, struct spec_tree **specs,
    const struct pass_view *pv, const struct spec_entry **want, size_t nwant)
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
 * The plan's actions as pipeline jobs (borrowing from pv).  With reload
 * (a pass that acts), jobs get their whole specs from *specs (freed by
 * rc_jobs_free) and those that cannot run come last, failed: see
 * rc_jobs_specs.
 */
static struct pipeline_job *
rc_jobs(size_t *njobs, struct spec_tree **specs, const struct pass_view *pv,
    const struct config *cfg, int reload)
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
			j->region = pass_view_instance_aws(pv, a->instance_index)->region;
		}
		if (b != NULL && b->region != NULL)
			j->region = b->region;
		else if (j->region == NULL && j->row != NULL && j->row->region != NULL)
			j->region = j->row->region;
		else if (j->region == NULL)
			j->region = ctl_region(cfg);
	}
	if (reload && nwant > 0)
		rc_jobs_specs(jobs, n, specs, pv, want, nwant);
	free(want);
	*njobs = n;
	return jobs;
}

static void
rc_jobs_free(struct pipeline_job *jobs, size_t n, struct spec_tree *specs)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(jobs[i].error);
	free(jobs);
	spec_tree_free(specs);
}

/*
 * A line per environment as its action ends (plain lines, or on a
 * terminal with a progress counter and the elapsed time).
 */
static void
rc_done(const struct pipeline_job *j, size_t ndone, size_t njobs, void *arg)
{
	struct rc *rc = arg;
	char esc[512];

	if (rc->daemon) {
		if (j->result < 0)
			log_warnx("env=%s action=%s stage=%s error: %s", j->name,
			    plan_kind_name(j->kind), j->stage[0] ? j->stage : "-",
			    log_escape(esc, sizeof(esc), j->error ? j->error : "?"));
		else
			log_info("env=%s action=%s stage=%s ok", j->name,
			    plan_kind_name(j->kind), j->stage[0] ? j->stage : "-");
		return;
	}
	if (rc->json)
		return;
	if (rc->tty)
		printf("\r\033[K");
	printf("  [pass %d %3llds %zu/%zu] %c %-24s %-13s %-18s %s%s\n", rc->pass,
	    (long long)(time(NULL) - rc->started), ndone, njobs,
	    plan_kind_symbol(j->kind), *j->name ? j->name : "(no env tag)",
	    plan_kind_name(j->kind), j->stage[0] ? j->stage : "-",
	    j->result < 0 ? "error: " : "ok",
	    j->result < 0 ? log_escape(esc, sizeof(esc), j->error ? j->error : "?") : "");
	if (rc->tty && ndone < njobs)
		printf("  ... %zu of %zu actions running or queued", njobs - ndone, njobs);
	fflush(stdout);
}

static json_t *
rc_jobs_json(const struct pipeline_job *jobs, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++) {
		json_t *o = json_object();

		json_object_set_new(o, "kind", json_string(plan_kind_name(jobs[i].kind)));
		json_object_set_new(o, "name", json_string(jobs[i].name));
		json_object_set_new(o, "stage", json_string(jobs[i].stage));
		json_object_set_new(o, "ok", json_boolean(jobs[i].result == 0));
		if (jobs[i].error != NULL)
			json_object_set_new(o, "error", json_string(jobs[i].error));
		json_array_append_new(a, o);
	}
	return a;
}

/* Record the pass in reconcile_runs (counts by action, drift, errors). */
static void
rc_record(struct store *st, int64_t run, const struct plan *plan, size_t failed)
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
 * Whether some job of the pass waits on something outside envctl
 * (readiness, an instance still shutting down): then the next pass waits
 * a little; otherwise it can look again at once.
 */
static int
rc_waiting(const struct pipeline_job *jobs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct pipeline_job *j = &jobs[i];

		if (j->result < 0)
			return 1;
		switch (j->kind) {
		case PLAN_PROVISION: case PLAN_RETRY: case PLAN_ADVANCE:
		case PLAN_REPLACE: case PLAN_DRIFT_GONE:
			if (strcmp(j->stage, "DONE") != 0)
				return 1;
			break;
		case PLAN_GC:
			if (strcmp(j->stage, "gc-waiting") == 0)
				return 1;
			break;
		case PLAN_DRIFT_REPORT:
			return 1;	/* reported drift stays until a human acts */
		default:
			break;
		}
	}
	return 0;
}

/*
 * The provision time of each environment that became ready in this pass:
 * a provisioning job that reached DONE and whose live row (read back) is
 * ready and was not ready before.  Taken from the row's times, so it is
 * the provision_seconds of its remote.provision.ready event.
 */
static void
rc_ready_times(double **out, size_t *nout, const struct pass_view *pv,
    const struct pipeline_job *jobs, size_t njobs)
{
	struct store_env row;
	size_t i;

	*out = NULL;
	*nout = 0;
	for (i = 0; i < njobs; i++) {
		const struct pipeline_job *j = &jobs[i];

		if (j->result < 0 || strcmp(j->stage, "DONE") != 0 || *j->name == '\0')
			continue;
		if (!plan_kind_info(j->kind)->provisions)
			continue;
		memset(&row, 0, sizeof(row));
		if (store_env_get_by_name(&row, pv->store, j->name) < 0) {
			log_warnx("env=%s provision time: %s", j->name, err_get());
			continue;
		}
		if (row.status == STORE_STATUS_READY && row.ready_at != 0 &&
		    row.ready_at >= row.created_at && (j->row == NULL ||
		    j->row->status != STORE_STATUS_READY ||
		    strcmp(j->row->id, row.id) != 0)) {
			*out = xreallocarray(*out, *nout + 1, sizeof(**out));
			(*out)[(*nout)++] = (double)(row.ready_at - row.created_at);
		}
		store_env_dispose(&row);
	}
}

static uint64_t
rc_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * pipeline_go_fn: does this process still hold the leader lock?  Asked by
 * the workers before each environment; once lost, lost for the pass, so
 * a standby that took over never has a second actor beside it for longer
 * than the steps already under way.
 */
static int
rc_fence_go(void *arg)
{
	struct rc_fence *f = &((struct rc *)arg)->fence;
	int leader = 0, go;

	if (f->lock == NULL)
		return 1;
	pthread_mutex_lock(&f->mu);
	if (f->leader && rc_mono_ms() - f->checked >= RC_FENCE_MS) {
		if (store_leader_try(&leader, f->lock, f->cluster) < 0 || !leader) {
			log_warnx("cluster=%s leadership lost during the pass: "
			    "no more environments start", f->cluster);
			f->leader = 0;
		}
		f->checked = rc_mono_ms();
	}
	go = f->leader;
	pthread_mutex_unlock(&f->mu);
	return go;
}

/*
 * Run the jobs made from pv's plan on the worker pool and record the pass
 * in reconcile_runs: the one place where a pass changes anything.  lock
 * is the session holding the leader lock (NULL: not fenced).
 */
static int
status_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ec2_instance_status *)a)->id,
	    ((const struct ec2_instance_status *)b)->id);
}

/*
 * The status checks of every instance waiting to be ready, for the whole
 * pass: one DescribeInstanceStatus per 100 instances of a region instead
 * of one per environment.  A job whose instance is not in the answer (or
 * whose batch failed: one unknown id fails all of it) asks for itself.
 */
static void
rc_status_prefetch(struct rc *rc, const struct pass_view *pv,
    struct pipeline_job *jobs, size_t njobs)
{
	struct ec2_instance_status_list *all = &rc->status;
	struct ec2_instance_status key;
	const char **ids;
	size_t i, k, n, r, m;

	memset(all, 0, sizeof(*all));
	if (!(rc->opts.ready_checks & PIPELINE_CHECK_STATUS))
		return;
	ids = xcalloc(njobs + 1, sizeof(*ids));
	for (r = 0; r < pv->naws; r++) {
		for (i = n = 0; i < njobs; i++) {
			const struct store_brief *row = jobs[i].row;

			if (row != NULL && row->stage == STORE_STAGE_TAGGED &&
			    row->instance_id != NULL && jobs[i].region != NULL &&
			    strcmp(jobs[i].region, pv->aws[r]->region) == 0)
				ids[n++] = row->instance_id;
		}
		for (k = 0; k < n; k += 100) {
			struct ec2_instance_status_list l;

			m = n - k < 100 ? n - k : 100;
			memset(&l, 0, sizeof(l));
			if (ec2_instance_status_describe(&l, pv->aws[r]->ec2,
			    ids + k, m) < 0) {
				log_info("region=%s status checks of %zu instances "
				    "in one call failed (%s); each asks for itself",
				    pv->aws[r]->region, m, err_get());
				continue;
			}
			all->v = xreallocarray(all->v, all->n + l.n + 1,
			    sizeof(*all->v));
			memcpy(all->v + all->n, l.v, l.n * sizeof(*l.v));
			all->n += l.n;
			free(l.v);
		}
	}
	free(ids);
	if (all->n == 0)
		return;
	qsort(all->v, all->n, sizeof(*all->v), status_cmp);
	for (i = 0; i < njobs; i++) {
		if (jobs[i].row == NULL || jobs[i].row->stage != STORE_STAGE_TAGGED ||
		    jobs[i].row->instance_id == NULL)
			continue;
		snprintf(key.id, sizeof(key.id), "%s", jobs[i].row->instance_id);
		jobs[i].status = bsearch(&key, all->v, all->n, sizeof(*all->v),
		    status_cmp);
	}
}

static void
rc_execute(struct rc *rc, const struct pass_view *pv, struct pipeline_job *jobs,
    size_t njobs, struct store *lock, size_t *failed, int *waiting, int64_t *run)
{
	size_t nrun, i;

	*run = 0;
	rc->opts.revision = pv->revision;
	if (store_run_begin(run, pv->store, pv->revision) < 0)
		log_warnx("recording the pass start: %s", err_get());
	rc->fence.lock = lock;
	rc->fence.cluster = config_str(rc->cfg, "cluster_id");
	rc->fence.checked = rc_mono_ms();
	rc->fence.leader = 1;
	pthread_mutex_init(&rc->fence.mu, NULL);
	rc_status_prefetch(rc, pv, jobs, njobs);
	/* the jobs rc_jobs failed (their spec file changed) come last */
	for (nrun = 0; nrun < njobs && jobs[nrun].result == 0; nrun++)
		;
	*failed = pipeline_jobs_run_fenced(jobs, nrun,
	    (unsigned)config_int(rc->cfg, "max_parallel"), rc_open, rc_close,
	    rc_done, rc_fence_go, rc);
	for (i = nrun; i < njobs; i++) {
		rc_done(&jobs[i], i + 1, njobs, rc);
		(*failed)++;
	}
	ec2_instance_status_list_dispose(&rc->status);
	pthread_mutex_destroy(&rc->fence.mu);
	*waiting = rc_waiting(jobs, njobs);
	if (*run > 0)
		rc_record(pv->store, *run, pv->plan, *failed);
}

/*
 * One pass.  *changes: the plan had changes; *failed: jobs that failed.
 * dry_run 1 prints the plan and changes nothing; 2 only plans.
 * Returns 0, or negative when the pass could not run (nothing changed).
 */
static int
rc_pass(struct rc *rc, int pass, int force, int dry_run, int *changes,
    size_t *failed, int *waiting)
{
	struct pass_view pv;
	struct pipeline_job *jobs = NULL;
	struct spec_tree *specs = NULL;
	size_t njobs = 0;
	int64_t run = 0;
	int error;

	*changes = 0;
	*failed = 0;
	*waiting = 1;
	if ((error = pass_view_load(&pv, rc->cfg, force, 1, time(NULL))) < 0)
		return error;
	if (plan_halted(pv.plan)) {
		err_set("%s", plan_action_at(pv.plan, 0)->reason);
		pass_view_dispose(&pv);
		return ERR_UNAVAILABLE;
	}
	*changes = plan_has_changes(pv.plan);
	if (!dry_run) {
		int leader = 0;

		/* One actor per cluster: never beside a running controller. */
		if ((error = store_leader_try(&leader, pv.store,
		    config_str(rc->cfg, "cluster_id"))) < 0 || !leader) {
			if (error == 0) {
				err_set("another controller of cluster %s holds the "
				    "leader lock; this pass changes nothing",
				    config_str(rc->cfg, "cluster_id"));
				error = ERR_CONFLICT;
			}
			pass_view_dispose(&pv);
			return error;
		}
		/* Reported drift that is gone now: drift.resolved (drift.h). */
		if (drift_resolved_record(&pv, "reconcile") < 0)
			log_warnx("recording resolved drift: %s", err_get());
	}
	jobs = rc_jobs(&njobs, &specs, &pv, rc->cfg, !dry_run);
	if (dry_run || njobs == 0) {
		size_t i;

		if (dry_run == 1 && rc->json) {
			json_t *o = json_object(), *a = json_array();

			for (i = 0; i < plan_count(pv.plan); i++) {
				const struct plan_action *pa = plan_action_at(pv.plan, i);
				json_t *x = json_object();

				json_object_set_new(x, "kind",
				    json_string(plan_kind_name(pa->kind)));
				json_object_set_new(x, "name", json_string(pa->name));
				json_object_set_new(x, "reason", json_string(pa->reason));
				json_array_append_new(a, x);
			}
			json_object_set_new(o, "pass", json_integer(pass));
			json_object_set_new(o, "dry_run", json_true());
			json_object_set_new(o, "plan", a);
			json_array_append_new(rc->jpasses, o);
		}

		for (i = 0; i < plan_count(pv.plan) && dry_run == 1; i++) {
			const struct plan_action *a = plan_action_at(pv.plan, i);
			char esc[512];

			if (a->kind == PLAN_NOOP || rc->json)
				continue;
			printf("  %c %-28s %-13s %s\n", plan_kind_symbol(a->kind),
			    *a->name ? a->name : "(no env tag)", plan_kind_name(a->kind),
			    log_escape(esc, sizeof(esc), a->reason));
		}
		goto out;
	}
	rc->pass = pass;
	rc_execute(rc, &pv, jobs, njobs, pv.store, failed, waiting, &run);
	if (rc->json) {
		json_t *o = json_object();

		json_object_set_new(o, "pass", json_integer(pass));
		json_object_set_new(o, "revision", json_string(pv.revision));
		json_object_set_new(o, "failed", json_integer((json_int_t)*failed));
		json_object_set_new(o, "actions", rc_jobs_json(jobs, njobs));
		json_array_append_new(rc->jpasses, o);
	}
out:
	rc_jobs_free(jobs, njobs, specs);
	pass_view_dispose(&pv);
	return 0;
}

/* The pipelines' options from the configuration. */
static int
rc_init(struct rc *rc, const struct config *cfg, int need_bucket)
{
	unsigned checks;

	rc->cfg = cfg;
	if (pipeline_checks_parse(&checks, config_str(cfg, "ready_checks")) < 0) {
		err_prefix("ready_checks");
		return ERR_INVALID;
	}
	rc->opts.bucket = config_str(cfg, "s3_bucket");
	rc->opts.s3_prefix = config_str(cfg, "s3_prefix");
	rc->opts.cluster_id = config_str(cfg, "cluster_id");
	rc->opts.tag_prefix = config_str(cfg, "tag_prefix");
	rc->opts.ready_checks = checks;
	rc->opts.ready_ssh_port = (int)config_int(cfg, "ready_ssh_port");
	if (*config_str(cfg, "price_table") != '\0') {
		if (pipeline_prices_load(&rc->prices,
		    config_str(cfg, "price_table")) < 0) {
			err_prefix("price_table");
			return ERR_INVALID;
		}
		rc->opts.prices = rc->prices;
	}
	plan_config_init(&rc->opts.plan);
	rc->opts.plan.backoff_base = config_int(cfg, "backoff_base");
	rc->opts.plan.backoff_cap = config_int(cfg, "backoff_max");
	if (need_bucket && *rc->opts.bucket == '\0') {
		err_set("no S3 bucket configured: set s3_bucket "
		    "(ENVCTL_S3_BUCKET or --s3-bucket)");
		return ERR_INVALID;
	}
	return 0;
}

int
reconcile_config_check(const struct config *cfg)
{
	struct rc rc;
	int error;

	memset(&rc, 0, sizeof(rc));
	error = rc_init(&rc, cfg, 0);
	pipeline_prices_free(rc.prices);
	return error;
}

int
reconcile_execute(struct reconcile_result *res, const struct config *cfg,
    const struct pass_view *pv, struct store *lock,
    struct pipeline_capacity *capacity)
{
	struct pipeline_job *jobs;
	struct spec_tree *specs = NULL;
	struct rc rc;
	size_t njobs = 0;
	int64_t run = 0;
	int error;

	memset(res, 0, sizeof(*res));
	memset(&rc, 0, sizeof(rc));
	if ((error = rc_init(&rc, cfg, 1)) < 0) {
		pipeline_prices_free(rc.prices);
		return error;
	}
	rc.daemon = 1;
	rc.started = time(NULL);
	rc.opts.capacity = capacity;
	if (drift_resolved_record(pv, "run") < 0)
		log_warnx("recording resolved drift: %s", err_get());
	jobs = rc_jobs(&njobs, &specs, pv, cfg, 1);
	rc_execute(&rc, pv, jobs, njobs, lock, &res->failed, &res->waiting, &run);
	rc_ready_times(&res->provision_s, &res->nprovision, pv, jobs, njobs);
	res->run = run;
	res->njobs = njobs;
	rc_jobs_free(jobs, njobs, specs);
	free(rc.res);
	pipeline_prices_free(rc.prices);
	return 0;
}

int
cmd_reconcile(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct rc rc;
	const char *waitarg = NULL;
	long long wait_s = 0;
	time_t deadline;
	int once, dry_run, force, i, out, pass = 0, changes = 0, waiting = 0;
	int code = EXIT_ERROR;
	size_t failed = 0, failed_total = 0;

	memset(&rc, 0, sizeof(rc));
	if (ctl_config_load(&cfg, &argc, argv) < 0) {
		cmd_error("configuration", err_get());
		return EXIT_ERROR;
	}
	rc.json = ctl_take_json_flag(&argc, argv);
	rc.tty = isatty(STDOUT_FILENO);
	rc.started = time(NULL);
	once = ctl_take_flag(&argc, argv, "--once");
	dry_run = ctl_take_flag(&argc, argv, "--dry-run");
	force = ctl_take_flag(&argc, argv, "--force");
	for (i = 1, out = 1; i < argc; i++) {
		if (strcmp(argv[i], "--wait") == 0 && i + 1 < argc)
			waitarg = argv[++i];
		else if (strncmp(argv[i], "--wait=", 7) == 0)
			waitarg = argv[i] + 7;
		else
			argv[out++] = argv[i];
	}
	argc = out;
	if (argc > 1 || !once) {
		fprintf(stderr, "usage: envctl reconcile --once [--dry-run] "
		    "[--wait DURATION] [--force] [--specs DIR] [-o json]\n"
		    "(the long-running loop is 'envctl run')\n");
		goto done;
	}
	if (waitarg != NULL && duration_parse(&wait_s, waitarg) < 0) {
		cmd_error("--wait", err_get());
		goto done;
	}
	if (rc_init(&rc, cfg, !dry_run) < 0) {
		cmd_error("reconcile", err_get());
		goto done;
	}
	(void)pipeline_capacity_new(&rc.opts.capacity);	/* for all passes */
	if (rc.json)
		rc.jpasses = json_array();
	deadline = time(NULL) + (time_t)wait_s;
	for (;;) {
		pass++;
		if (rc_pass(&rc, pass, force, dry_run, &changes, &failed,
		    &waiting) < 0) {
			cmd_error("reconcile", err_get());
			code = EXIT_ERROR;
			break;
		}
		failed_total += failed;
		if (!changes) {
			code = EXIT_OK;
			break;
		}
		if (dry_run) {
			code = EXIT_CHANGES;
			break;
		}
		if (waitarg == NULL || time(NULL) + RECONCILE_PASS_GAP > deadline) {
			int changes2 = 0;
			size_t f2 = 0;

			if (failed > 0) {
				code = EXIT_ERROR;
				break;
			}
			if (waiting) {
				/* Environments still on their way: not converged. */
				code = EXIT_CHANGES;
				break;
			}
			/* Did this pass converge?  Look once more, changing nothing. */
			if (rc_pass(&rc, pass + 1, force, 2, &changes2, &f2,
			    &waiting) < 0) {
				cmd_error("reconcile", err_get());
				code = EXIT_ERROR;
				break;
			}
			code = changes2 ? EXIT_CHANGES : EXIT_OK;
			break;
		}
		if (waiting)
			sleep(RECONCILE_PASS_GAP);
	}
	if (rc.json) {
		json_t *doc = json_object();

		json_object_set_new(doc, "passes", rc.jpasses);
		json_object_set_new(doc, "converged", json_boolean(code == EXIT_OK));
		json_object_set_new(doc, "failed_actions",
		    json_integer((json_int_t)failed_total));
		json_object_set_new(doc, "exit", json_integer(code));
		json_dumpf(doc, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(doc);
	} else
		printf("reconcile: %d pass%s, %zu failed action%s; %s\n", pass,
		    pass == 1 ? "" : "es", failed_total, failed_total == 1 ? "" : "s",
		    code == EXIT_OK ? "converged" : code == EXIT_CHANGES ?
		    "changes pending" : "error");
done:
	free(rc.res);
	pipeline_prices_free(rc.prices);
	pipeline_capacity_free(rc.opts.capacity);
	config_free(cfg);
	return code;
}
