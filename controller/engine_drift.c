/*
 * engine_drift.c - drift.detected and drift.resolved events, and the run
 * rows of passes that act on nothing (engine.h).
 */
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec2.h"
#include "engine.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "pipeline.h"
#include "spec.h"
#include "store.h"

static json_t *
str_or_null(const char *s)
{
	return s != NULL && *s != '\0' ? json_string(s) : json_null();
}

/* The live row action a acts on, or NULL. */
static const struct store_brief *
action_live_row(const struct engine_view *pv, const struct plan_action *a)
{
	if (a->record_index == PLAN_NONE || a->record_index >= pv->rows.nlive)
		return NULL;
	return &pv->rows.live[a->record_index];
}

/*
 * Incarnations that may have an open drift (sorted), and whether the set
 * has been seeded.  The first pass of a process seeds it with one query
 * (store_drift_open_ids()); rows outside it have no open drift unless a
 * later pass sees them drift (and adds them), so only rows in the set
 * have their events read.
 */
static struct {
	pthread_mutex_t	 lock;
	char		(*ids)[STORE_ID_LEN];
	size_t		 n;
	int		 seeded;
} drift_open_set = { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0 };

static int
id_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int
resolved_add(const struct engine_view *pv, const struct plan_action *a,
    const struct store_brief *row, const char *fact, const char *check)
{
	json_t *o = json_object();
	char *text;
	int rc;

	json_object_set_new(o, "env", json_string(a->name));
	json_object_set_new(o, "fact", json_string(fact));
	json_object_set_new(o, "kind", json_string(plan_kind_name(a->kind)));
	json_object_set_new(o, "reason", json_string(a->reason));
	json_object_set_new(o, "instance_id", str_or_null(row->instance_id));
	json_object_set_new(o, "revision", str_or_null(pv->revision));
	json_object_set_new(o, "check", json_string(check));
	text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	if (text == NULL) {
		err_set("drift.resolved for %s: cannot encode", a->name);
		return ERR_GENERIC;
	}
	rc = store_event_add(NULL, pv->store, row->id, "drift.resolved", text,
	    strlen(text));
	free(text);
	if (rc == 0) {
		char esc[256];

		log_info("env=%s env_id=%s drift resolved: %s", log_escape(esc,
		    sizeof(esc), a->name), row->id, a->reason);
	}
	return rc;
}

int
engine_drift_resolve(const struct engine_view *pv, const char *check)
{
	char (*next)[STORE_ID_LEN] = NULL, fact[PIPELINE_DRIFT_FACT_LEN + 1];
	size_t i, nnext = 0;
	int error = 0, rc, open;

	pthread_mutex_lock(&drift_open_set.lock);
	if (!drift_open_set.seeded) {
		/* One query tells which rows may have an open drift. */
		free(drift_open_set.ids);
		drift_open_set.ids = NULL;
		drift_open_set.n = 0;
		if (store_drift_open_ids(&drift_open_set.ids, &drift_open_set.n,
		    pv->store) == 0)
			drift_open_set.seeded = 1;
		else	/* every live row's events are read instead */
			log_warnx("reading open drift: %s", err_get());
	}
	for (i = 0; i < plan_count(pv->plan); i++) {
		const struct plan_action *a = plan_action_at(pv->plan, i);
		const struct store_brief *row = action_live_row(pv, a);
		int drift = plan_kind_info(a->kind)->is_drift;

		if (row == NULL)
			continue;
		if (!drift && drift_open_set.seeded && (drift_open_set.n == 0 ||
		    bsearch(row->id, drift_open_set.ids, drift_open_set.n,
		    STORE_ID_LEN, id_cmp) == NULL))
			continue;
		if (!drift) {
			if ((rc = pipeline_drift_open(&open, fact, pv->store,
			    row->id)) == 0 && open)
				rc = resolved_add(pv, a, row, fact, check);
			if (rc == 0)
				continue;	/* closed (or never open) */
			if (error == 0)
				error = rc;	/* look again next pass */
		}
		next = xreallocarray(next, nnext + 1, sizeof(*next));
		snprintf(next[nnext++], STORE_ID_LEN, "%s", row->id);
	}
	if (nnext > 1)
		qsort(next, nnext, sizeof(*next), id_cmp);
	free(drift_open_set.ids);
	drift_open_set.ids = next;
	drift_open_set.n = nnext;
	drift_open_set.seeded = 1;
	pthread_mutex_unlock(&drift_open_set.lock);
	return error;
}

int
engine_drift_record(size_t *ndrift, const struct engine_view *pv,
    const char *check)
{
	char fact[PIPELINE_DRIFT_FACT_LEN + 1], seen[PIPELINE_DRIFT_FACT_LEN + 1];
	size_t i, n = 0;
	int error, open;

	error = engine_drift_resolve(pv, check);
	for (i = 0; i < plan_count(pv->plan); i++) {
		const struct plan_action *a = plan_action_at(pv->plan, i);
		const struct spec_entry *e;
		const char *want = NULL, *rec = NULL, *have = NULL, *env_id = a->env_id;
		json_t *o;
		char *text;
		int rc;

		if (!plan_kind_info(a->kind)->is_drift)
			continue;
		n++;
		if (*a->name != '\0' && (e = spec_tree_find(pv->tree, a->name)) != NULL &&
		    spec_entry_valid(e))
			want = spec_entry_hash(e);
		if (a->record_index != PLAN_NONE) {
			size_t r = a->record_index;
			const struct store_brief *row = r < pv->rows.nlive ?
			    &pv->rows.live[r] : &pv->rows.ended[r - pv->rows.nlive];

			rec = row->spec_hash;
			if (env_id == NULL)
				env_id = row->id;
		}
		if (a->instance_index != PLAN_NONE)
			have = ec2_instance_tag(&pv->inst.v[a->instance_index],
			    pv->tags.spec_hash);
		/* Once per fact: not again while this drift is the open one. */
		pipeline_drift_fact(fact, plan_kind_name(a->kind), a->instance_id,
		    want, have, a->reason);
		if ((rc = pipeline_drift_open(&open, seen, pv->store, env_id)) == 0 &&
		    open && strcmp(seen, fact) == 0)
			continue;
		o = json_object();
		json_object_set_new(o, "env", json_string(a->name));
		json_object_set_new(o, "kind", json_string(plan_kind_name(a->kind)));
		json_object_set_new(o, "reason", json_string(a->reason));
		json_object_set_new(o, "instance_id", str_or_null(a->instance_id));
		json_object_set_new(o, "spec_hash", str_or_null(want));
		json_object_set_new(o, "recorded_hash", str_or_null(rec));
		json_object_set_new(o, "instance_hash", str_or_null(have));
		json_object_set_new(o, "revision", str_or_null(pv->revision));
		json_object_set_new(o, "check", json_string(check));
		json_object_set_new(o, "fact", json_string(fact));
		text = rc < 0 ? NULL : json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
		json_decref(o);
		if (rc < 0)
			;	/* the events could not be read: err_get() says why */
		else if (text == NULL) {
			err_set("drift event for %s: cannot encode", a->name);
			rc = ERR_GENERIC;
		} else {
			rc = store_event_add(NULL, pv->store, env_id, "drift.detected",
			    text, strlen(text));
			free(text);
		}
		if (rc < 0) {
			char esc[256];

			log_warnx("env=%s drift.detected not recorded: %s",
			    log_escape(esc, sizeof(esc), a->name), err_get());
			if (error == 0)
				error = rc;
		}
	}
	*ndrift = n;
	return error;
}

int
engine_run_record(long long *run_id, const struct engine_view *pv, size_t ndrift,
    int errors, const char *error_text, int drift_check)
{
	struct store_count counts[PLAN_KIND_COUNT + 1];
	size_t n = 0;
	int64_t id = 0;
	int k, error;

	*run_id = 0;
	for (k = 0; k < PLAN_KIND_COUNT; k++) {
		size_t c = plan_count_kind(pv->plan, (enum plan_kind)k);

		if (c > 0 && k != PLAN_NOOP)
			counts[n++] = (struct store_count){
			    plan_kind_name((enum plan_kind)k), (long)c };
	}
	if (drift_check)
		counts[n++] = (struct store_count){ "drift_check", 1 };
	if ((error = store_run_begin(&id, pv->store, pv->revision)) < 0)
		return error;
	*run_id = (long long)id;
	return store_run_finish(pv->store, id, counts, n, (int)ndrift, errors,
	    error_text);
}

/*
 * By rule, the revision whose hold was last logged: a rule's hold is
 * logged once per revision, not every pass (passes run one at a time).
 * By rule, because a directory source's revision is always "local": an
 * empty tree after a budget's hold is news of its own.
 */
static char held_logged[PLAN_HOLD_COUNT][128];

/* One log line per rule that holds something, once per revision. */
static void
held_log(const struct engine_view *pv)
{
	size_t count[PLAN_HOLD_COUNT] = { 0 };
	const char *why[PLAN_HOLD_COUNT] = { NULL };
	const char *rev = pv->revision != NULL ? pv->revision : "";
	size_t i;
	int h;

	for (i = 0; i < plan_count(pv->plan); i++) {
		const struct plan_action *a = plan_action_at(pv->plan, i);
		enum plan_hold hh = plan_action_hold(a);

		if (hh == PLAN_HOLD_NONE)
			continue;
		if (count[hh]++ == 0)
			why[hh] = plan_action_held_why(a);
	}
	for (h = PLAN_HOLD_NONE + 1; h < PLAN_HOLD_COUNT; h++) {
		if (count[h] == 0 || (held_logged[h][0] != '\0' &&
		    strncmp(held_logged[h], rev, sizeof(held_logged[h]) - 1) == 0))
			continue;
		log_warnx("revision=%s held=%s %zu %s%s held: %s",
		    rev, plan_hold_name((enum plan_hold)h), count[h],
		    h == PLAN_HOLD_QUOTA ? "new environment" : "deletion",
		    count[h] == 1 ? "" : "s", why[h]);
		snprintf(held_logged[h], sizeof(held_logged[h]), "%s", rev);
	}
}

/* A termination.held event for a (a budget's hold). */
static int
held_event(const struct engine_view *pv, const struct plan_action *a)
{
	json_t *o = json_object();
	char *payload;
	int error;

	json_object_set_new(o, "env", json_string(a->name));
	json_object_set_new(o, "instance_id", str_or_null(a->instance_id));
	json_object_set_new(o, "kind", json_string(plan_kind_name(a->held)));
	json_object_set_new(o, "reason", json_string(a->reason));
	json_object_set_new(o, "revision", str_or_null(pv->revision));
	if ((payload = json_dumps(o, JSON_COMPACT)) == NULL)
		abort();	/* out of memory */
	error = store_event_add(NULL, pv->store, a->env_id, "termination.held",
	    payload, strlen(payload));
	free(payload);
	json_decref(o);
	return error;
}

int
engine_held_record(const struct engine_view *pv)
{
	const char **ids = NULL;
	const struct plan_action **held = NULL;
	bool *seen = NULL;
	size_t i, n = 0;
	int error = 0, e;

	held_log(pv);
	if ((e = engine_quota_record(pv)) < 0)
		error = e;
	for (i = 0; i < plan_count(pv->plan); i++) {
		const struct plan_action *a = plan_action_at(pv->plan, i);
		enum plan_hold h = plan_action_hold(a);

		if ((h != PLAN_HOLD_PASS && h != PLAN_HOLD_WINDOW) ||
		    a->instance_id == NULL)
			continue;
		ids = xreallocarray(ids, n + 1, sizeof(*ids));
		held = xreallocarray(held, n + 1, sizeof(*held));
		ids[n] = a->instance_id;
		held[n++] = a;
	}
	if (n == 0)
		goto out;
	seen = xcalloc(n, sizeof(*seen));
	if ((error = store_event_instances_seen(seen, pv->store,
	    "termination.held", ids, n)) < 0)
		goto out;
	for (i = 0; i < n; i++)
		if (!seen[i] && (e = held_event(pv, held[i])) < 0 && error == 0)
			error = e;
out:
	free(ids);
	free(held);
	free(seen);
	return error;
}

/*
 * One ready row whose instance the pass saw stopped (stopped) or running
 * again (!stopped) while the row says otherwise: book it on the row and
 * record it (§6.8).
 */
static int
stop_observed(const struct engine_view *pv, const struct store_brief *b,
    const char *instance_id, bool stopped, time_t now)
{
	struct store_env row;
	json_t *o = NULL;
	char *payload = NULL;
	long long secs = 0;
	const char *type;
	char esc[256];
	int error;

	memset(&row, 0, sizeof(row));
	if ((error = store_env_get(&row, pv->store, b->id)) < 0)
		goto out;
	if (stopped ? row.stopped_at > 0 : row.stopped_at == 0)
		goto out;	/* moved since the pass read it */
	if (stopped) {
		row.stopped_at = now;
		type = "remote.idle.stopped";
	} else {
		if (now > row.stopped_at)
			secs = (long long)(now - row.stopped_at);
		row.stopped_seconds += (int)secs;
		row.stopped_at = 0;
		type = "remote.start";
	}
	if ((error = store_env_update(pv->store, &row, STORE_ENV_STOPPED_AT |
	    STORE_ENV_STOPPED_SECONDS)) < 0 ||
	    (error = pipeline_cost_power(pv->store, instance_id, !stopped,
	    now)) < 0)
		goto out;
	o = json_pack("{s:s, s:s, s:b}", "env", row.name, "instance_id",
	    instance_id, "observed", 1);
	if (o == NULL) {
		error = ERR_GENERIC;
		goto out;
	}
	if (!stopped) {
		json_object_set_new(o, "stopped_seconds", json_integer(secs));
		json_object_set_new(o, "saved_usd", json_real((double)secs /
		    3600.0 * row.cost_per_hour_usd));
	}
	if ((payload = json_dumps(o, JSON_COMPACT)) == NULL) {
		error = ERR_GENERIC;
		goto out;
	}
	error = store_event_add(NULL, pv->store, row.id, type, payload,
	    strlen(payload));
	if (error == 0)
		log_info("env=%s env_id=%s instance %s %s out of band",
		    log_escape(esc, sizeof(esc), row.name), row.id, instance_id,
		    stopped ? "stopped" : "running again");
out:
	free(payload);
	json_decref(o);
	store_env_dispose(&row);
	return error;
}

int
engine_stops_record(const struct engine_view *pv, time_t now)
{
	size_t i;
	int error = 0, e;

	for (i = 0; i < plan_count(pv->plan); i++) {
		const struct plan_action *a = plan_action_at(pv->plan, i);
		const struct store_brief *b = action_live_row(pv, a);
		const char *state;
		bool stopped;

		if (a->kind != PLAN_NOOP || b == NULL ||
		    b->status != STORE_STATUS_READY ||
		    a->instance_index == PLAN_NONE)
			continue;
		state = pv->inst.v[a->instance_index].state;
		stopped = strcmp(state, "stopped") == 0 ||
		    strcmp(state, "stopping") == 0;
		if (stopped == b->stopped ||
		    (!stopped && strcmp(state, "running") != 0))
			continue;
		if ((e = stop_observed(pv, b, a->instance_id, stopped,
		    now)) < 0 && error == 0)
			error = e;
	}
	return error;
}
