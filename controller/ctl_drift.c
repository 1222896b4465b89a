/*
 * ctl_drift.c - drift.detected events and drift-check run rows (drift.h).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drift.h"
#include "ec2.h"
#include "err.h"
#include "log.h"
#include "pass.h"
#include "spec.h"
#include "store.h"

int
drift_kind_is_drift(int kind)
{
	return kind == PLAN_DRIFT_REPORT || kind == PLAN_REPLACE ||
	    kind == PLAN_DRIFT_GONE;
}

static json_t *
str_or_null(const char *s)
{
	return s != NULL && *s != '\0' ? json_string(s) : json_null();
}

int
drift_events_record(size_t *ndrift, const struct pass_view *pv,
    const char *check)
{
	size_t i, n = 0;
	int error = 0;

	for (i = 0; i < plan_count(pv->plan); i++) {
		const struct plan_action *a = plan_action_at(pv->plan, i);
		const struct spec_entry *e;
		const char *want = NULL, *rec = NULL, *have = NULL, *env_id = a->env_id;
		json_t *o;
		char *text;
		int rc;

		if (!drift_kind_is_drift(a->kind))
			continue;
		n++;
		if (*a->name != '\0' && (e = spec_tree_find(pv->tree, a->name)) != NULL &&
		    spec_entry_valid(e))
			want = spec_entry_hash(e);
		if (a->record_index != PLAN_NONE) {
			size_t r = a->record_index;
			const struct store_env *row = r < pv->rows.nlive ?
			    &pv->rows.live[r] : &pv->rows.ended[r - pv->rows.nlive];

			rec = row->spec_hash;
			if (env_id == NULL)
				env_id = row->id;
		}
		if (a->instance_index != PLAN_NONE)
			have = ec2_instance_tag(&pv->inst.v[a->instance_index],
			    pv->tags.spec_hash);
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
		text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
		json_decref(o);
		if (text == NULL) {
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
drift_run_record(long long *run_id, const struct pass_view *pv, size_t ndrift,
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
