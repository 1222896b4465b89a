/*
 * envctl plan - what a pass would do, and why, without changing anything.
 *
 *	envctl plan [-v] [-o json] [--specs DIR] [--force] [--allow-empty]
 *	    [--check-protection]
 *
 * Reads the three truths (the spec tree, EC2 by tag, the store's rows),
 * runs the pure planner and prints one line per action, terraform-like.
 * Exit 0 nothing to do, 2 changes or drift, 1 error (docs/design.md §9).
 *
 * AWS calls: one DescribeInstances page per 1,000 instances per region,
 * nothing else.  With --check-protection, also one
 * DescribeInstanceAttribute per instance the plan would terminate, so
 * termination protection shows in the plan; without it the terminate
 * pipeline checks right before acting.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "config.h"
#include "ctl.h"
#include "ec2.h"
#include "engine.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "observe.h"
#include "plan.h"
#include "spec.h"
#include "store.h"

/*
 * What the plan does to the fleet's cost per hour (docs/design.md §6.9):
 * an action that adds an instance (plan_kind_info().cost) adds the
 * on-demand price of its spec's type, as quotas price a provision; one
 * that ends an instance (or an incarnation without one) takes away what
 * its open segments cost now (the ledger, by the cost rule).
 */
struct plan_cost {
	double	now, add, remove, after;
};

static void
plan_cost_of(struct plan_cost *out, const struct engine_view *pv,
    const struct config *cfg, const struct store_cost_seg *v, size_t n,
    time_t now)
{
	struct pipeline_cost fleet, c;
	const struct spec_entry *e;
	const struct spec_brief *b;
	size_t i, k;

	memset(out, 0, sizeof(*out));
	pipeline_cost_sum(&fleet, v, n, now, now);
	out->now = fleet.usd_per_hour;
	for (i = 0; i < plan_count(pv->plan); i++) {
		const struct plan_action *a = plan_action_at(pv->plan, i);
		unsigned how = plan_kind_info(a->kind)->cost;

		if ((how & PLAN_COST_ADDS) &&
		    (e = spec_tree_find(pv->tree, a->name)) != NULL &&
		    (b = spec_entry_brief(e)) != NULL && b->instance_type != NULL)
			out->add += pipeline_price(cfg->prices, b->region,
			    b->instance_type);
		if (!(how & PLAN_COST_ENDS))
			continue;
		memset(&c, 0, sizeof(c));
		for (k = 0; k < n; k++)
			if (a->instance_id != NULL ? strcmp(v[k].instance_id,
			    a->instance_id) == 0 : a->env_id != NULL &&
			    strcmp(v[k].env_id, a->env_id) == 0)
				pipeline_cost_add(&c, &v[k], now, now);
		out->remove += c.usd_per_hour;
	}
	out->after = out->now + out->add - out->remove;
	if (out->after < 0)
		out->after = 0;
}

static void
plan_print_text(const struct engine_view *pv, const struct plan_cost *pc,
    int verbose)
{
	const struct plan *p = pv->plan;
	size_t i, shown = 0;
	char esc[512], nm[256], id[64];

	printf("envctl plan: revision %s; %zu specs (%zu invalid), "
	    "%zu instances, %zu live records\n\n",
	    log_sanitize(esc, sizeof(esc), pv->revision),
	    pv->nspecs, pv->ninvalid, pv->ninstances, pv->nlive);
	for (i = 0; i < plan_count(p); i++) {
		const struct plan_action *a = plan_action_at(p, i);

		if (a->kind == PLAN_NOOP && !verbose)
			continue;
		printf("  %c %-28s %-13s %s%s%s\n", plan_kind_symbol(a->kind),
		    log_sanitize(nm, sizeof(nm), a->name[0] ? a->name :
		    "(no env tag)"),
		    plan_kind_name(a->kind),
		    log_sanitize(id, sizeof(id),
		    a->instance_id ? a->instance_id : ""),
		    a->instance_id ? ": " : "",
		    log_escape(esc, sizeof(esc), a->reason));
		shown++;
	}
	if (shown == 0)
		printf("  No changes. The fleet matches the specs.\n");
	printf("\nPlan: %zu to provision, %zu to terminate, %zu to replace, "
	    "%zu drift, %zu orphans, %zu held back, %zu in progress.\n",
	    plan_count_kind(p, PLAN_PROVISION) + plan_count_kind(p, PLAN_RETRY) +
	    plan_count_kind(p, PLAN_DRIFT_GONE),
	    plan_count_kind(p, PLAN_TERMINATE) + plan_count_kind(p, PLAN_CLOSE),
	    plan_count_kind(p, PLAN_REPLACE),
	    plan_count_drift(p),
	    plan_count_kind(p, PLAN_ORPHAN),
	    plan_count_kind(p, PLAN_BLOCKED) + plan_count_kind(p, PLAN_BACKOFF) +
	    plan_count_kind(p, PLAN_GAVE_UP),
	    plan_count_kind(p, PLAN_ADVANCE));
	printf("Cost: +$%.4f/h to add, -$%.4f/h to remove; the fleet "
	    "$%.4f/h now, $%.4f/h after.\n", pc->add, pc->remove, pc->now,
	    pc->after);
}

static void
plan_print_json(const struct engine_view *pv, const struct plan_cost *pc)
{
	const struct plan *p = pv->plan;
	json_t *doc = json_object(), *actions = json_array(), *counts = json_object();
	size_t i;
	int k;

	for (i = 0; i < plan_count(p); i++) {
		const struct plan_action *a = plan_action_at(p, i);
		json_t *o = json_object();
		char sym[2] = { plan_kind_symbol(a->kind), '\0' };

		json_object_set_new(o, "kind", json_string(plan_kind_name(a->kind)));
		json_object_set_new(o, "symbol", json_string(sym));
		json_object_set_new(o, "name", json_string(a->name));
		json_object_set_new(o, "env_id", a->env_id ? json_string(a->env_id) : json_null());
		json_object_set_new(o, "instance_id",
		    a->instance_id ? json_string(a->instance_id) : json_null());
		json_object_set_new(o, "reason", json_string(a->reason));
		if (a->kind == PLAN_BLOCKED)
			json_object_set_new(o, "held", json_string(plan_kind_name(a->held)));
		if (a->kind == PLAN_BACKOFF)
			json_object_set_new(o, "next_attempt_at", json_integer(a->next_attempt_at));
		json_array_append_new(actions, o);
	}
	for (k = 0; k < PLAN_KIND_COUNT; k++)
		if (plan_count_kind(p, (enum plan_kind)k) > 0)
			json_object_set_new(counts, plan_kind_name((enum plan_kind)k),
			    json_integer((json_int_t)plan_count_kind(p, (enum plan_kind)k)));
	json_object_set_new(doc, "revision", json_string(pv->revision));
	json_object_set_new(doc, "specs", json_integer((json_int_t)pv->nspecs));
	json_object_set_new(doc, "invalid_specs", json_integer((json_int_t)pv->ninvalid));
	json_object_set_new(doc, "instances", json_integer((json_int_t)pv->ninstances));
	json_object_set_new(doc, "live_records", json_integer((json_int_t)pv->nlive));
	json_object_set_new(doc, "aws_calls", json_integer(pv->aws_calls));
	json_object_set_new(doc, "changes", json_boolean(plan_has_changes(p)));
	json_object_set_new(doc, "counts", counts);
	json_object_set_new(doc, "cost", json_pack("{s:f, s:f, s:f, s:f}",
	    "add_usd_per_hour", pc->add, "remove_usd_per_hour", pc->remove,
	    "fleet_usd_per_hour_now", pc->now,
	    "fleet_usd_per_hour_after", pc->after));
	json_object_set_new(doc, "actions", actions);
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(doc);
}

int
cmd_plan(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct engine_view pv;
	struct store_cost_seg *segs = NULL;
	struct plan_cost pc;
	size_t nsegs = 0;
	time_t now = time(NULL);
	int json, verbose, check_protection, force, code = EXIT_ERROR;

	if (ctl_config_load(&cfg, &argc, argv) < 0) {
		cmd_error("configuration", err_get());
		return EXIT_ERROR;
	}
	json = ctl_take_json_flag(&argc, argv);
	verbose = ctl_take_flag(&argc, argv, "-v");
	check_protection = ctl_take_flag(&argc, argv, "--check-protection");
	force = ctl_take_flag(&argc, argv, "--force");
	if (argc > 1) {
		fprintf(stderr, "usage: envctl plan [-v] [-o json] [--specs DIR] "
		    "[--force] [--allow-empty] [--check-protection]\n");
		goto out;
	}
	if (engine_view_load(&pv, cfg, force, check_protection, now) < 0) {
		cmd_error("plan", err_get());
		goto out;
	}
	if (store_cost_list(&segs, &nsegs, pv.store, NULL, now, false) < 0) {
		cmd_error("plan: cost", err_get());
		engine_view_dispose(&pv);
		goto out;
	}
	plan_cost_of(&pc, &pv, cfg, segs, nsegs, now);
	if (json)
		plan_print_json(&pv, &pc);
	else
		plan_print_text(&pv, &pc, verbose);
	if (plan_halted(pv.plan)) {
		const struct plan_action *a = plan_action_at(pv.plan, 0);

		cmd_error("plan", a->reason);
		code = EXIT_ERROR;
	} else
		code = plan_has_changes(pv.plan) ? EXIT_CHANGES : EXIT_OK;
	engine_view_dispose(&pv);
out:
	store_cost_list_free(segs, nsegs);
	config_free(cfg);
	return code;
}
