/*
 * envctl drift - compare the three truths and record what has drifted.
 *
 *	envctl drift [-o json] [--specs DIR]
 *
 * Reads specs, the store's rows and EC2 and plans (engine.h: fails closed);
 * every drift action (drift-report, replace, drift-gone) is reported on
 * stdout on every run, and recorded as a drift.detected event with the
 * reason and the three hashes once per fact: a drift already recorded
 * (by this command, envctl run or reconcile) and not resolved since is
 * not recorded again, and drift that went away gets drift.resolved
 * (engine_drift.c).  Each check itself is a reconcile_runs row whose counts hold
 * "drift_check": 1 and whose drift_found counts every drift it saw, so
 * the timer's history stays complete without an event per run.
 * Nothing in AWS is changed.  systemd/envctl-drift.timer runs it.
 *
 * Exit: 0 no drift, 2 drift found, 1 error (docs/design.md §9).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "config.h"
#include "ctl.h"
#include "engine.h"
#include "err.h"
#include "log.h"
#include "plan.h"

static void
drift_print_text(const struct engine_view *pv, size_t ndrift, long long run)
{
	size_t i;
	char esc[512];

	printf("envctl drift: revision %s; %zu specs, %zu instances, "
	    "%zu live records\n\n", pv->revision, pv->nspecs, pv->ninstances,
	    pv->nlive);
	for (i = 0; i < plan_count(pv->plan); i++) {
		const struct plan_action *a = plan_action_at(pv->plan, i);

		if (!plan_kind_info(a->kind)->is_drift)
			continue;
		printf("  %c %-28s %-13s %s%s%s\n", plan_kind_symbol(a->kind),
		    a->name[0] ? a->name : "(no env tag)", plan_kind_name(a->kind),
		    a->instance_id ? a->instance_id : "",
		    a->instance_id ? ": " : "",
		    log_escape(esc, sizeof(esc), a->reason));
	}
	if (ndrift == 0)
		printf("  No drift. EC2 matches the specs and the records.\n");
	printf("\nDrift: %zu found (run %lld).\n", ndrift, run);
}

static void
drift_print_json(const struct engine_view *pv, size_t ndrift, long long run)
{
	json_t *doc = json_object(), *arr = json_array();
	size_t i;

	for (i = 0; i < plan_count(pv->plan); i++) {
		const struct plan_action *a = plan_action_at(pv->plan, i);
		json_t *o;

		if (!plan_kind_info(a->kind)->is_drift)
			continue;
		o = json_object();
		json_object_set_new(o, "kind", json_string(plan_kind_name(a->kind)));
		json_object_set_new(o, "name", json_string(a->name));
		json_object_set_new(o, "env_id", a->env_id ? json_string(a->env_id) : json_null());
		json_object_set_new(o, "instance_id",
		    a->instance_id ? json_string(a->instance_id) : json_null());
		json_object_set_new(o, "reason", json_string(a->reason));
		json_array_append_new(arr, o);
	}
	json_object_set_new(doc, "revision", json_string(pv->revision));
	json_object_set_new(doc, "run_id", json_integer(run));
	json_object_set_new(doc, "drift", json_integer((json_int_t)ndrift));
	json_object_set_new(doc, "actions", arr);
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(doc);
}

int
cmd_drift(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct engine_view pv;
	size_t ndrift = 0;
	long long run = 0;
	char cid[LOG_CID_LEN];
	int json, code = EXIT_ERROR, evfail;

	ctl_cid_begin(cid);
	if (ctl_config_load(&cfg, &argc, argv) < 0) {
		cmd_error("configuration", err_get());
		return EXIT_ERROR;
	}
	json = ctl_take_json_flag(&argc, argv);
	if (argc > 1) {
		fprintf(stderr, "usage: envctl drift [-o json] [--specs DIR]\n");
		goto out;
	}
	if (engine_view_load(&pv, cfg, 0, 0, time(NULL)) < 0) {
		cmd_error("drift", err_get());
		goto out;
	}
	if (plan_halted(pv.plan)) {
		cmd_error("drift", plan_action_at(pv.plan, 0)->reason);
		goto dispose;
	}
	evfail = engine_drift_record(&ndrift, &pv, "drift") < 0;
	if (evfail)
		cmd_error("drift", "some drift.detected events were not recorded");
	if (engine_run_record(&run, &pv, ndrift, evfail,
	    evfail ? "drift events not recorded" : NULL, 1) < 0) {
		cmd_error("drift: recording the run", err_get());
		evfail = 1;
	}
	if (json)
		drift_print_json(&pv, ndrift, run);
	else
		drift_print_text(&pv, ndrift, run);
	if (ndrift > 0)
		log_info("drift: %zu drift action%s found run=%lld", ndrift,
		    ndrift == 1 ? "" : "s", run);
	code = evfail ? EXIT_ERROR : ndrift > 0 ? EXIT_CHANGES : EXIT_OK;
dispose:
	engine_view_dispose(&pv);
out:
	config_free(cfg);
	return code;
}
