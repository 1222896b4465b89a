/*
 * engine_view.c - the engine's view of a pass: the three truths read and
 * planned (engine.h).
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl.h"
#include "ec2.h"
#include "engine.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "spec.h"

/* Ended rows younger than this are passed to the planner (GC, TTL memory). */
#define VIEW_ENDED_WINDOW	(30 * 86400)

static int
region_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The distinct regions: the default one and every valid spec's. */
static const char **
view_regions(size_t *n, const struct spec_tree *tree, const char *def)
{
	size_t i, count = spec_tree_count(tree), k = 0, u;
	const char **v = xcalloc(count + 1, sizeof(*v));

	v[k++] = def;
	for (i = 0; i < count; i++) {
		const struct spec_brief *b = spec_entry_brief(spec_tree_entry(tree, i));

		if (b != NULL && b->region != NULL)
			v[k++] = b->region;
	}
	qsort(v, k, sizeof(*v), region_cmp);
	for (i = 0, u = 0; i < k; i++)
		if (u == 0 || strcmp(v[u - 1], v[i]) != 0)
			v[u++] = v[i];
	*n = u;
	return v;
}

static int
view_discover(struct engine_view *pv, const struct config *cfg)
{
	const char **regions;
	size_t nregions, r, i;
	int error = 0;

	regions = view_regions(&nregions, pv->tree, ctl_region(cfg));
	pv->aws = xcalloc(nregions, sizeof(*pv->aws));
	for (r = 0; r < nregions; r++) {
		struct observe_instances part;
		size_t before = pv->inst.n;

		if ((error = ctl_aws_open(&pv->aws[r], cfg, regions[r])) < 0)
			break;
		pv->naws++;
		if ((error = observe_instances_discover(&part, pv->aws[r]->ec2,
		    &pv->tags, cfg->cluster_id)) < 0) {
			err_prefix("region %s", regions[r]);
			break;
		}
		observe_instances_move(&pv->inst, &part);
		pv->inst_region = xreallocarray(pv->inst_region, pv->inst.n + 1,
		    sizeof(*pv->inst_region));
		for (i = before; i < pv->inst.n; i++)
			pv->inst_region[i] = r;
	}
	free(regions);
	return error;
}

static void
view_config(struct plan_config *pc, const struct config *cfg, int force)
{
	plan_config_init(pc);
	pc->cluster_id = cfg->cluster_id;
	pc->allow_empty = cfg->allow_empty;
	pc->max_terminations_per_pass = (unsigned)cfg->max_terminations_per_pass;
	pc->budget_count = (unsigned)cfg->termination_budget.count;
	pc->budget_window = cfg->termination_budget.window;
	pc->force = force != 0;
	pc->orphan_grace = cfg->orphan_grace;
	pc->backoff_base = cfg->backoff_base;
	pc->backoff_cap = cfg->backoff_max;
	pc->max_attempts = (unsigned)cfg->max_attempts;
	pc->quotas = cfg->quota.v;
	pc->nquotas = cfg->quota.n;
}

static int
view_plan(struct engine_view *pv, const struct config *cfg, int force,
    time_t now, const char *const *protected_ids, size_t nprotected)
{
	struct plan_input in;
	struct plan_desired *desired;
	struct plan_instance *pinst;
	struct plan_record *precs;
	size_t ndesired, nrecs, i;
	int error;

	plan_free(pv->plan);
	pv->plan = NULL;
	observe_plan_desired(&desired, &ndesired, pv->tree);
	for (i = 0; pv->foot != NULL && i < ndesired && i < pv->nfoot; i++) {
		desired[i].vcpus = pv->foot[i].vcpus;
		desired[i].usd_per_hour = pv->foot[i].usd_per_hour;
		desired[i].waiting_since = engine_quota_since(pv, desired[i].name);
	}
	observe_plan_instances(&pinst, &pv->inst, &pv->tags, protected_ids,
	    nprotected);
	observe_plan_records(&precs, &nrecs, pv->rows.live, pv->rows.nlive,
	    pv->rows.ended, pv->rows.nended);
	for (i = 0; pv->nspot > 0 && i < nrecs; i++)
		precs[i].spot_notice = engine_spot_notice(pv, precs[i].env_id);

	memset(&in, 0, sizeof(in));
	in.desired.v = desired;
	in.desired.n = ndesired;
	in.desired.source_usable = true;
	in.desired.tree_empty = ndesired == 0;
	in.observed.v = pinst;
	in.observed.n = pv->inst.n;
	in.observed.ok = true;
	in.records.v = precs;
	in.records.n = nrecs;
	in.records.ok = true;
	view_config(&in.config, cfg, force);
	in.now = (int64_t)now;
	in.terminated = pv->terminated;
	in.nterminated = pv->nterminated;
	in.idle_shutdown = (const char *const *)pv->idle_down;
	in.nidle_shutdown = pv->nidle_down;
	error = plan_build(&pv->plan, &in);
	/*
	 * The plan keeps indexes into these arrays, which are those of the
	 * tree, pv->inst and pv->rows, and borrows their strings: the arrays
	 * themselves can go.
	 */
	free(desired);
	free(pinst);
	free(precs);
	return error;
}

/* Look up termination protection of every instance the plan would end. */
static int
view_check_protection(struct engine_view *pv, const struct config *cfg,
    int force, time_t now)
{
	const char **ids = NULL;
	size_t i, n = 0;
	int error = 0, prot;

	for (i = 0; i < plan_count(pv->plan); i++) {
		const struct plan_action *a = plan_action_at(pv->plan, i);
		size_t ii = a->instance_index;

		if ((a->kind != PLAN_TERMINATE && a->kind != PLAN_REPLACE &&
		    a->kind != PLAN_ORPHAN) || ii == PLAN_NONE)
			continue;
		error = ec2_instance_termination_protection(&prot,
		    pv->aws[pv->inst_region[ii]]->ec2, pv->inst.v[ii].id);
		pv->aws_calls++;
		/*
		 * Launched moments ago, not visible to this call yet (EC2 is
		 * eventually consistent): its protection is unknown, so it is
		 * held as protected for this pass; the next one asks again.
		 */
		if (error == ERR_NOTFOUND) {
			log_warnx("instance %s: termination protection not known "
			    "yet (%s): held this pass", pv->inst.v[ii].id,
			    err_get());
			prot = 1;
			error = 0;
		}
		if (error < 0)
			goto out;
		if (prot) {
			ids = xreallocarray(ids, n + 1, sizeof(*ids));
			ids[n++] = pv->inst.v[ii].id;
		}
	}
	if (n > 0)
		error = view_plan(pv, cfg, force, now, ids, n);
out:
	free(ids);
	return error;
}

/* Whether the valid spec of name parks when idle: on_idle terminate, idle_stop. */
static bool
view_idle_terminates(const struct engine_view *pv, const struct config *cfg,
    const char *name)
{
	const struct spec_entry *e = spec_tree_find(pv->tree, name);
	const struct spec_brief *b;

	if (e == NULL || !spec_entry_valid(e) ||
	    (b = spec_entry_brief(e)) == NULL || b->on_idle != SPEC_IDLE_TERMINATE)
		return false;
	return spec_idle_stop_effective(b->idle_stop_s, b->on_idle, b->market,
	    cfg->idle_stop) > 0;
}

/*
 * A ready row whose instance is gone (DRIFT_GONE) of a spec that
 * terminates when idle: ask EC2 about that instance (discovery leaves
 * terminated ones out; EC2 lists them about an hour).  Shut down from
 * inside (observe_idle_shutdown()), it is parked rather than replaced,
 * and the plan is made again.  Not found, or any other reason, and the
 * row takes the gone path.  One DescribeInstances per such row: rare.
 */
static int
view_check_idle_shutdown(struct engine_view *pv, const struct config *cfg,
    int force, time_t now)
{
	struct ec2_describe_instances_input in;
	struct ec2_instance_page page;
	size_t i, k;
	int error;

	for (i = 0; i < plan_count(pv->plan); i++) {
		const struct plan_action *a = plan_action_at(pv->plan, i);
		const struct store_brief *b;
		struct ctl_aws *aws;

		if (a->kind != PLAN_DRIFT_GONE || a->record_index >= pv->rows.nlive)
			continue;
		b = &pv->rows.live[a->record_index];
		if (b->instance_id == NULL ||
		    !view_idle_terminates(pv, cfg, b->name))
			continue;
		aws = engine_view_region_aws(pv, b->region != NULL ?
		    b->region : ctl_region(cfg));
		if (aws == NULL)
			continue;
		memset(&in, 0, sizeof(in));
		in.instance_ids = &b->instance_id;
		in.ninstance_ids = 1;
		memset(&page, 0, sizeof(page));
		error = ec2_instances_describe_page(&page, aws->ec2, &in, NULL);
		pv->aws_calls++;
		if (error == ERR_NOTFOUND)
			continue;	/* long gone: the gone path */
		if (error < 0)
			return error;
		for (k = 0; k < page.n; k++)
			if (strcmp(page.v[k].id, b->instance_id) == 0 &&
			    observe_idle_shutdown(page.v[k].state,
			    page.v[k].state_reason)) {
				pv->idle_down = xreallocarray(pv->idle_down,
				    pv->nidle_down + 1, sizeof(*pv->idle_down));
				pv->idle_down[pv->nidle_down++] =
				    xstrdup(b->instance_id);
				break;
			}
		ec2_instance_page_dispose(&page);
	}
	if (pv->nidle_down == 0)
		return 0;
	return view_plan(pv, cfg, force, now, NULL, 0);
}

/*
 * Say, every pass, which specs are invalid and why (their first problem,
 * file:line:col): nothing of them is provisioned, and an environment of
 * that name is left as it is.  Diagnostics never hold a secret's value.
 */
static void
view_warn_invalid(const struct spec_tree *t)
{
	char path[512], name[128];
	size_t i;

	for (i = 0; i < spec_tree_count(t); i++) {
		const struct spec_entry *e = spec_tree_entry(t, i);
		const struct spec_diag *d;

		if (spec_entry_valid(e) || (d = spec_entry_diag(e, 0)) == NULL)
			continue;
		log_warnx("env=%s %s:%u:%u: %s (invalid spec: nothing of it changes)",
		    log_escape(name, sizeof(name), spec_entry_name(e)),
		    log_escape(path, sizeof(path), spec_entry_path(e)), d->line,
		    d->col, d->message);
	}
}

/*
 * The pass's correlation id: the one of the thread's log context (the
 * command's, or the one run made for the pass), else a new one.
 */
static void
engine_view_cid(struct engine_view *pv)
{
	const struct log_context *lc = log_context_get();

	if (lc != NULL && lc->correlation_id != NULL &&
	    strlen(lc->correlation_id) == LOG_CID_LEN - 1)
		memcpy(pv->cid, lc->correlation_id, LOG_CID_LEN);
	else
		log_cid_new(pv->cid);
}

int
engine_view_load(struct engine_view *pv, const struct config *cfg, int force,
    int check_protection, time_t now)
{
	int error, waited = 0;

	memset(pv, 0, sizeof(*pv));
	engine_view_cid(pv);
	if ((error = observe_tags_init(&pv->tags, cfg->tag_prefix)) < 0)
		goto fail;
	/* Fail closed, cheapest first: specs, then the database, then AWS. */
	if ((error = ctl_specs_load(&pv->tree, &pv->revision, cfg)) < 0)
		goto fail;
	view_warn_invalid(pv->tree);
	if ((error = ctl_store_open(&pv->store, cfg)) < 0)
		goto fail;
	store_context_set(pv->store, pv->cid, pv->revision);
	if ((error = store_pass_load(&pv->rows, pv->store,
	    now - VIEW_ENDED_WINDOW)) < 0)
		goto fail;
	/* the window budget counts from the database: restarts, leaders */
	if (cfg->termination_budget.window > 0 &&
	    (error = store_terminations_since(&pv->terminated,
	    &pv->nterminated, pv->store,
	    now - (time_t)cfg->termination_budget.window)) < 0)
		goto fail;
	if ((error = view_discover(pv, cfg)) < 0)
		goto fail;
	pv->aws_calls += pv->inst.pages;
	(void)engine_spot_load(pv, cfg);
	if (cfg->quota.n > 0 &&
	    (error = engine_quota_footprints(pv, cfg, now)) < 0)
		goto fail;
	if ((error = view_plan(pv, cfg, force, now, NULL, 0)) < 0 ||
	    (error = view_check_idle_shutdown(pv, cfg, force, now)) < 0)
		goto fail;
	/* quotas: the held that waited longest go first; plan again for that */
	if (cfg->quota.n > 0 && ((error = engine_quota_waits(&waited, pv)) < 0 ||
	    (waited && (error = view_plan(pv, cfg, force, now, NULL, 0)) < 0)))
		goto fail;
	if (check_protection &&
	    (error = view_check_protection(pv, cfg, force, now)) < 0)
		goto fail;
	pv->nspecs = spec_tree_count(pv->tree);
	pv->ninvalid = spec_tree_invalid_count(pv->tree);
	pv->ninstances = pv->inst.n;
	pv->nlive = pv->rows.nlive;
	return 0;
fail:
	engine_view_dispose(pv);
	return error;
}

void
engine_view_dispose(struct engine_view *pv)
{
	size_t i;

	engine_view_release(pv);
	for (i = 0; i < pv->naws; i++)
		ctl_aws_free(pv->aws[i]);
	free(pv->aws);
	store_free(pv->store);
	free(pv->revision);
	memset(pv, 0, sizeof(*pv));
}

void
engine_view_release(struct engine_view *pv)
{
	size_t i;

	plan_free(pv->plan);
	pv->plan = NULL;
	free(pv->inst_region);
	pv->inst_region = NULL;
	free(pv->terminated);
	pv->terminated = NULL;
	pv->nterminated = 0;
	for (i = 0; i < pv->nidle_down; i++)
		free(pv->idle_down[i]);
	free(pv->idle_down);
	pv->idle_down = NULL;
	pv->nidle_down = 0;
	engine_quota_dispose(pv);
	engine_spot_dispose(pv);
	observe_instances_dispose(&pv->inst);
	store_pass_dispose(&pv->rows);
	spec_tree_free(pv->tree);
	pv->tree = NULL;
}

struct ctl_aws *
engine_view_instance_aws(const struct engine_view *pv, size_t i)
{
	return pv->aws[pv->inst_region[i]];
}

struct ctl_aws *
engine_view_region_aws(const struct engine_view *pv, const char *region)
{
	size_t i;

	for (i = 0; i < pv->naws; i++)
		if (strcmp(pv->aws[i]->region, region) == 0)
			return pv->aws[i];
	return NULL;
}
