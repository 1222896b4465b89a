/*
 * engine_quota.c - what the planner's quotas need from the world before a
 * pass plans (docs/design.md §3.10): each valid spec's footprint (the
 * vCPUs of its instance type from DescribeInstanceTypes, cached for the
 * process, and its on-demand-equivalent price from the price table) and,
 * for the new environments a quota holds, since when they have waited
 * (their open holds: quota.held until quota.released or a provision
 * start), so the longest-waiting goes first.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "config.h"
#include "ctl.h"
#include "ec2.h"
#include "engine.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "pipeline.h"
#include "plan.h"
#include "spec.h"
#include "store.h"

#define VCPU_TTL	86400		/* instance types do not change */
#define VCPU_CACHE_MAX	256

struct vcpu_entry {
	char	 region[32];
	char	 type[32];
	unsigned vcpus;
	time_t	 at;
};

static pthread_mutex_t vcpu_mu = PTHREAD_MUTEX_INITIALIZER;
static struct vcpu_entry vcpu_cache[VCPU_CACHE_MAX];
static size_t vcpu_n;

/* The vCPUs of type in region: cached, else DescribeInstanceTypes. */
static int
quota_vcpus(unsigned *out, struct engine_view *pv, const char *region,
    const char *type, time_t now)
{
	struct ec2_instance_type it;
	struct ctl_aws *aws = NULL;
	size_t i;
	int error;

	pthread_mutex_lock(&vcpu_mu);
	for (i = 0; i < vcpu_n; i++)
		if (strcmp(vcpu_cache[i].region, region) == 0 &&
		    strcmp(vcpu_cache[i].type, type) == 0 &&
		    now - vcpu_cache[i].at < VCPU_TTL) {
			*out = vcpu_cache[i].vcpus;
			pthread_mutex_unlock(&vcpu_mu);
			return 0;
		}
	pthread_mutex_unlock(&vcpu_mu);
	if ((aws = engine_view_region_aws(pv, region)) == NULL) {
		err_set("quota: no AWS client for region %s", region);
		return ERR_INVALID;
	}
	if ((error = ec2_instance_type_describe(&it, aws->ec2, type)) < 0) {
		err_prefix("quota: the vCPUs of %s in %s", type, region);
		return error;
	}
	pv->aws_calls++;
	*out = it.vcpus;
	pthread_mutex_lock(&vcpu_mu);
	i = vcpu_n < VCPU_CACHE_MAX ? vcpu_n++ : (size_t)now % VCPU_CACHE_MAX;
	snprintf(vcpu_cache[i].region, sizeof(vcpu_cache[i].region), "%s", region);
	snprintf(vcpu_cache[i].type, sizeof(vcpu_cache[i].type), "%s", type);
	vcpu_cache[i].vcpus = it.vcpus;
	vcpu_cache[i].at = now;
	pthread_mutex_unlock(&vcpu_mu);
	return 0;
}

/* Does any quota limit vCPUs? (Only then is DescribeInstanceTypes asked.) */
static int
quota_counts_vcpus(const struct config *cfg)
{
	size_t k;

	for (k = 0; k < cfg->quota.n; k++)
		if (cfg->quota.v[k].max_vcpus > 0)
			return 1;
	return 0;
}

int
engine_quota_footprints(struct engine_view *pv, const struct config *cfg,
    time_t now)
{
	size_t i, t, n = spec_tree_count(pv->tree);
	int error, cpus = quota_counts_vcpus(cfg);

	free(pv->foot);
	pv->foot = xcalloc(n + 1, sizeof(*pv->foot));
	pv->nfoot = n;
	for (i = 0; i < n; i++) {
		const struct spec_brief *b = spec_entry_brief(
		    spec_tree_entry(pv->tree, i));

		if (b == NULL || b->instance_type == NULL)
			continue;
		/*
		 * instance.types: the launch may get any of them, so count
		 * the largest (vCPUs and price each), not the preferred.
		 */
		for (t = 0; t < b->ninstance_types || t == 0; t++) {
			const char *type = b->ninstance_types > 0 ?
			    b->instance_types[t] : b->instance_type;
			double usd = pipeline_price(cfg->prices, b->region, type);
			unsigned vcpus = 0;

			if (usd > pv->foot[i].usd_per_hour)
				pv->foot[i].usd_per_hour = usd;
			if (cpus && (error = quota_vcpus(&vcpus, pv,
			    b->region != NULL ? b->region : ctl_region(cfg),
			    type, now)) < 0)
				return error;
			if (vcpus > pv->foot[i].vcpus)
				pv->foot[i].vcpus = vcpus;
		}
	}
	return 0;
}

static int
hold_cmp(const void *a, const void *b)
{
	return strcmp(((const struct store_quota_hold *)a)->env,
	    ((const struct store_quota_hold *)b)->env);
}

int
engine_quota_waits(int *found, struct engine_view *pv)
{
	size_t i;
	int error;

	*found = 0;
	pv->quotas = 1;
	if ((error = store_quota_holds(&pv->holds, &pv->nholds, pv->store)) < 0)
		return error;
	if (pv->nholds > 1)
		qsort(pv->holds, pv->nholds, sizeof(*pv->holds), hold_cmp);
	for (i = 0; i < plan_count(pv->plan) && !*found; i++) {
		const struct plan_action *a = plan_action_at(pv->plan, i);

		if (plan_action_hold(a) == PLAN_HOLD_QUOTA &&
		    engine_quota_since(pv, a->name) != 0)
			*found = 1;
	}
	return 0;
}

static const struct store_quota_hold *
hold_find(const struct engine_view *pv, const char *name)
{
	struct store_quota_hold key;

	if (pv->nholds == 0)
		return NULL;
	key.env = (char *)(uintptr_t)name;
	return bsearch(&key, pv->holds, pv->nholds, sizeof(*pv->holds),
	    hold_cmp);
}

int64_t
engine_quota_since(const struct engine_view *pv, const char *name)
{
	const struct store_quota_hold *h = hold_find(pv, name);

	return h != NULL ? h->since : 0;
}

void
engine_quota_dispose(struct engine_view *pv)
{
	store_quota_holds_free(pv->holds, pv->nholds);
	free(pv->foot);
	pv->holds = NULL;
	pv->quotas = 0;
	pv->foot = NULL;
	pv->nholds = pv->nfoot = 0;
}

/*
 * One quota event: quota.held for a new hold (with the reason), or
 * quota.released for an open hold the plan no longer holds (why: the
 * environment provisions now, or its spec is gone).
 */
static int
quota_event(const struct engine_view *pv, const char *type, const char *env,
    const char *workspace, const char *why)
{
	json_t *o = json_object();
	char *payload;
	int error;

	json_object_set_new(o, "env", json_string(env));
	json_object_set_new(o, "workspace", workspace != NULL ?
	    json_string(workspace) : json_null());
	json_object_set_new(o, "reason", json_string(why));
	if ((payload = json_dumps(o, JSON_COMPACT)) == NULL)
		abort();	/* out of memory */
	error = store_event_add(NULL, pv->store, NULL, type, payload,
	    strlen(payload));
	free(payload);
	json_decref(o);
	return error;
}

/* The plan's action on name, or NULL. */
static const struct plan_action *
quota_action(const struct engine_view *pv, const char *name)
{
	size_t i;

	for (i = 0; i < plan_count(pv->plan); i++)
		if (strcmp(plan_action_at(pv->plan, i)->name, name) == 0)
			return plan_action_at(pv->plan, i);
	return NULL;
}

int
engine_quota_record(const struct engine_view *pv)
{
	size_t i;
	int error = 0, e;

	if (!pv->quotas)
		return 0;	/* no holds made, none read (engine_quota_waits) */
	for (i = 0; i < plan_count(pv->plan); i++) {
		const struct plan_action *a = plan_action_at(pv->plan, i);
		const struct spec_brief *b = NULL;

		if (plan_action_hold(a) != PLAN_HOLD_QUOTA ||
		    engine_quota_since(pv, a->name) != 0)
			continue;	/* not held, or its hold has its event */
		if (a->desired_index != PLAN_NONE)
			b = spec_entry_brief(spec_tree_entry(pv->tree,
			    a->desired_index));
		if ((e = quota_event(pv, "quota.held", a->name, b != NULL ?
		    b->workspace : NULL, plan_action_held_why(a))) < 0 &&
		    error == 0)
			error = e;
	}
	for (i = 0; i < pv->nholds; i++) {
		const struct store_quota_hold *h = &pv->holds[i];
		const struct plan_action *a = quota_action(pv, h->env);

		if (a != NULL && plan_action_hold(a) == PLAN_HOLD_QUOTA)
			continue;	/* still held */
		if ((e = quota_event(pv, "quota.released", h->env, h->workspace,
		    spec_tree_find(pv->tree, h->env) == NULL ? "spec removed" :
		    "within quota")) < 0 && error == 0)
			error = e;
	}
	return error;
}
