/*
 * envctl status [NAME] [-o json] - environments as the records and EC2
 * see them: status, stage, instance, its state, IP, age, cost so far
 * (pipeline_env_cost(), as the status pages), last error, and whether
 * the two agree; with quotas configured, also the new environments a
 * quota holds (status "held", the reason as their agreement), and the
 * parked environments (status "parked": shut down idle, no instance,
 * waiting for `envctl start`; §6.8).
 *
 * Reads the live rows (one query) and the cluster's instances (one
 * paginated DescribeInstances per region the rows and the default
 * region name); changes nothing.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "config.h"
#include "ctl.h"
#include "duration.h"
#include "ec2.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "observe.h"
#include "pipeline.h"
#include "spec.h"
#include "store.h"

struct status_row {
	const struct store_env		*env;	/* NULL: an instance without a row */
	const struct ec2_instance	*inst;	/* NULL: no instance found */
	const struct store_quota_hold	*hold;	/* a new environment a quota holds */
	const char			*name;
	const char			*agreement;
	double				 per_hour;	/* 0 while stopped */
	double				 cost;
	long long			 idle_stop;	/* -1: no valid spec read */
	int				 parked;	/* env is its parked ended row */
	int				 idle_terminate;
};

/*
 * The idle stop a row's spec puts in force (§6.7): its own idle_stop or
 * the idle_stop option, from the specs as they are now (which is what the
 * next launch gets; a running instance has what its launch got).  -1
 * when the specs cannot be read or name no valid spec of that name.
 */
static void
row_idle(struct status_row *r, const struct spec_tree *tree,
    const struct config *cfg)
{
	const struct spec_entry *se;
	const struct spec_brief *b;

	r->idle_stop = -1;
	if (tree == NULL || (se = spec_tree_find(tree, r->name)) == NULL ||
	    !spec_entry_valid(se))
		return;
	b = spec_entry_brief(se);
	r->idle_stop = spec_idle_stop_effective(b->idle_stop_s, b->on_idle,
	    b->market, cfg->idle_stop);
	r->idle_terminate = b->on_idle == SPEC_IDLE_TERMINATE;
}

static const char *
agreement_of(const struct store_env *e, const struct ec2_instance *inst)
{
	if (e == NULL)
		return "no record (lost row or orphan)";
	if (inst == NULL) {
		if (e->instance_id == NULL)
			return e->status == STORE_STATUS_READY ?
			    "instance missing" : "ok (no instance yet)";
		return "instance missing";
	}
	if (e->instance_id == NULL)
		return "instance not recorded yet";
	if (strcmp(e->instance_id, inst->id) != 0)
		return "different instance";
	/* Stopped is a state of a live environment (§6.8), not a disagreement. */
	if (e->status == STORE_STATUS_READY && (strcmp(inst->state, "stopped") == 0 ||
	    strcmp(inst->state, "stopping") == 0))
		return e->stopped_at > 0 ? "ok (stopped)" :
		    "ok (stopped out of band; booked by the next pass)";
	if (e->status == STORE_STATUS_READY && strcmp(inst->state, "running") != 0)
		return "ready but not running";
	return "ok";
}

static const struct ec2_instance *
instance_for(const struct observe_instances *in, const struct observe_tags *tags,
    const struct store_env *e, unsigned char *used)
{
	size_t i;

	for (i = 0; i < in->n; i++) {
		const char *id = ec2_instance_tag(&in->v[i], tags->env_id);

		if ((e->instance_id != NULL && strcmp(in->v[i].id, e->instance_id) == 0) ||
		    (id != NULL && strcmp(id, e->id) == 0)) {
			used[i] = 1;
			return &in->v[i];
		}
	}
	return NULL;
}

static int
row_cmp(const void *a, const void *b)
{
	const struct status_row *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static void
print_text(const struct status_row *rows, size_t n, time_t now)
{
	char age[32], esc[256], nm[256], id[64], st[64], ip[64], fs[64];
	size_t i;

	printf("%-24s %-12s %-17s %-20s %-13s %-15s %-8s %9s  %s\n", "NAME",
	    "STATUS", "STAGE", "INSTANCE", "STATE", "IP", "AGE", "COST",
	    "AGREEMENT");
	for (i = 0; i < n; i++) {
		const struct store_env *e = rows[i].env;
		const struct ec2_instance *in = rows[i].inst;
		time_t born = e ? e->created_at : (in ? in->launched :
		    (rows[i].hold ? (time_t)rows[i].hold->since : 0));

		duration_format(age, sizeof(age), born ? (long long)(now - born) : 0);
		printf("%-24s %-12s %-17s %-20s %-13s %-15s %-8s %9.2f  %s\n",
		    log_sanitize(nm, sizeof(nm), rows[i].name),
		    rows[i].parked ? "parked" : e ? store_status_str(e->status) :
		    (rows[i].hold ? "held" : "-"),
		    e ? store_stage_str(e->stage) : "-",
		    log_sanitize(id, sizeof(id), in ? in->id :
		    (e && e->instance_id ? e->instance_id : "-")),
		    log_sanitize(st, sizeof(st), in ? in->state : "-"),
		    log_sanitize(ip, sizeof(ip), in && in->public_ip[0] ?
		    in->public_ip : (e && e->public_ip ? e->public_ip : "-")),
		    age, rows[i].cost, rows[i].agreement);
		if (e != NULL && e->error != NULL)
			printf("    last error%s%s: %s\n",
			    e->failed_at_stage ? " at " : "",
			    log_sanitize(fs, sizeof(fs),
			    e->failed_at_stage ? e->failed_at_stage : ""),
			    log_escape(esc, sizeof(esc), e->error));
		if (rows[i].hold != NULL && rows[i].hold->reason != NULL)
			printf("    held: %s\n", log_escape(esc, sizeof(esc),
			    rows[i].hold->reason));
		if (e != NULL && e->host_keys != NULL)
			printf("    host keys (verified): %s\n",
			    log_escape(esc, sizeof(esc), e->host_keys));
	}
	if (n == 0)
		printf("(no environments)\n");
}

static json_t *
jstr(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static void
print_json(const struct status_row *rows, size_t n, time_t now)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < n; i++) {
		const struct store_env *e = rows[i].env;
		const struct ec2_instance *in = rows[i].inst;
		json_t *o = json_object();

		json_object_set_new(o, "name", json_string(rows[i].name));
		json_object_set_new(o, "env_id", e ? json_string(e->id) : json_null());
		json_object_set_new(o, "status", rows[i].parked ?
		    json_string("parked") : e ? json_string(store_status_str(e->status)) :
		    (rows[i].hold ? json_string("held") : json_null()));
		json_object_set_new(o, "stage", e ? json_string(store_stage_str(e->stage)) : json_null());
		json_object_set_new(o, "recorded_instance_id", e ? jstr(e->instance_id) : json_null());
		json_object_set_new(o, "instance_id", in ? json_string(in->id) : json_null());
		json_object_set_new(o, "instance_state", in ? json_string(in->state) : json_null());
		json_object_set_new(o, "public_ip", in && in->public_ip[0] ?
		    json_string(in->public_ip) : (e ? jstr(e->public_ip) : json_null()));
		json_object_set_new(o, "age_seconds", json_integer(e && e->created_at ?
		    (json_int_t)(now - e->created_at) : 0));
		if (rows[i].hold != NULL) {
			json_object_set_new(o, "held_since", json_integer(
			    (json_int_t)rows[i].hold->since));
			json_object_set_new(o, "held_reason", jstr(rows[i].hold->reason));
			json_object_set_new(o, "workspace", jstr(rows[i].hold->workspace));
		}
		json_object_set_new(o, "cost_usd", json_real(rows[i].cost));
		json_object_set_new(o, "cost_usd_per_hour", json_real(rows[i].per_hour));
		json_object_set_new(o, "stopped_seconds", json_integer(e ?
		    e->stopped_seconds + (e->stopped_at > 0 && now > e->stopped_at ?
		    (long long)(now - e->stopped_at) : 0) : 0));
		json_object_set_new(o, "idle_stop_seconds", rows[i].idle_stop >= 0 ?
		    json_integer(rows[i].idle_stop) : json_null());
		json_object_set_new(o, "on_idle", rows[i].idle_stop > 0 ?
		    json_string(rows[i].idle_terminate ? "terminate" : "stop") :
		    json_null());
		json_object_set_new(o, "last_error", e ? jstr(e->error) : json_null());
		json_object_set_new(o, "failed_at_stage", e ? jstr(e->failed_at_stage) : json_null());
		json_object_set_new(o, "host_keys", e ? jstr(e->host_keys) : json_null());
		json_object_set_new(o, "agreement", json_string(rows[i].agreement));
		json_object_set_new(o, "agree", json_boolean(strncmp(rows[i].agreement, "ok", 2) == 0));
		json_array_append_new(arr, o);
	}
	json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(arr);
}

/*
 * The cluster's instances in the default region and every region a live
 * row names: one paginated DescribeInstances per region.
 */
static int
status_discover(struct observe_instances *out, const struct config *cfg,
    const struct observe_tags *tags, const struct store_env *live, size_t nlive)
{
	const char **regions = xcalloc(nlive + 1, sizeof(*regions));
	size_t n = 0, i, j;
	int error = 0;

	memset(out, 0, sizeof(*out));
	regions[n++] = ctl_region(cfg);
	for (i = 0; i < nlive; i++) {
		if (live[i].region == NULL || *live[i].region == '\0')
			continue;
		for (j = 0; j < n && strcmp(regions[j], live[i].region) != 0; j++)
			;
		if (j == n)
			regions[n++] = live[i].region;
	}
	for (i = 0; i < n && error == 0; i++) {
		struct observe_instances part;
		struct ctl_aws *aws = NULL;

		if ((error = ctl_aws_open(&aws, cfg, regions[i])) == 0 &&
		    (error = observe_instances_discover(&part, aws->ec2, tags,
		    cfg->cluster_id)) == 0)
			observe_instances_move(out, &part);
		else
			err_prefix("region %s", regions[i]);
		ctl_aws_free(aws);
	}
	free(regions);
	if (error < 0)
		observe_instances_dispose(out);
	return error;
}

int
cmd_status(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct store *st = NULL;
	struct store_env *live = NULL, *parked = NULL;
	struct observe_tags tags;
	struct observe_instances inst = { 0 };
	struct status_row *rows = NULL;
	struct store_quota_hold *holds = NULL;
	struct spec_tree *tree = NULL;
	char *revision = NULL;
	struct pipeline_cost cost;
	struct store_cost_seg *segs = NULL;
	unsigned char *used = NULL;
	const char *only = NULL;
	size_t nlive = 0, nrows = 0, nholds = 0, nsegs = 0, nparked = 0, i;
	time_t now = time(NULL);
	int json, code = EXIT_ERROR;

	if (ctl_config_load(&cfg, &argc, argv) < 0) {
		cmd_error("configuration", err_get());
		return EXIT_ERROR;
	}
	json = ctl_take_json_flag(&argc, argv);
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: envctl status [NAME] [-o json]\n");
		goto out;
	}
	if (argc == 2)
		only = argv[1];
	if (observe_tags_init(&tags, cfg->tag_prefix) < 0 ||
	    ctl_store_open(&st, cfg) < 0 ||
	    store_envs_load_live(&live, &nlive, st) < 0 ||
	    store_cost_list(&segs, &nsegs, st, NULL, 0, true) < 0 ||
	    store_envs_parked(&parked, &nparked, st) < 0) {
		cmd_error("status", err_get());
		goto out;
	}
	/* holds are recorded only while quotas are configured (§3.10) */
	if (cfg->quota.n > 0 && store_quota_holds(&holds, &nholds, st) < 0) {
		cmd_error("status", err_get());
		goto out;
	}
	if (status_discover(&inst, cfg, &tags, live, nlive) < 0) {
		cmd_error("status", err_get());
		goto out;
	}
	/* the specs only for idle_stop_seconds: status works without them */
	if (ctl_specs_load(&tree, &revision, cfg) < 0) {
		log_debug("status: no specs for idle_stop: %s", err_get());
		err_clear();
	}
	rows = xcalloc(nlive + inst.n + nholds + nparked + 1, sizeof(*rows));
	used = xcalloc(inst.n + 1, 1);
	for (i = 0; i < nlive; i++) {
		rows[nrows].env = &live[i];
		rows[nrows].name = live[i].name;
		rows[nrows].inst = instance_for(&inst, &tags, &live[i], used);
		rows[nrows].agreement = agreement_of(&live[i], rows[nrows].inst);
		pipeline_env_cost(&cost, segs, nsegs, live[i].id, now);
		rows[nrows].cost = cost.usd;
		rows[nrows].per_hour = cost.usd_per_hour;
		row_idle(&rows[nrows], tree, cfg);
		nrows++;
	}
	for (i = 0; i < inst.n; i++) {
		const char *name;

		if (used[i])
			continue;
		name = ec2_instance_tag(&inst.v[i], tags.env);
		rows[nrows].inst = &inst.v[i];
		rows[nrows].name = name ? name : "(no env tag)";
		rows[nrows].agreement = agreement_of(NULL, &inst.v[i]);
		rows[nrows].idle_stop = -1;
		nrows++;
	}
	for (i = 0; i < nparked; i++) {
		/* its spec removed: the mark is moot, nothing is parked */
		if (tree != NULL && spec_tree_find(tree, parked[i].name) == NULL)
			continue;
		rows[nrows].env = &parked[i];
		rows[nrows].name = parked[i].name;
		rows[nrows].parked = 1;
		rows[nrows].agreement = "ok (parked: shut down idle; "
		    "`envctl start` brings it back)";
		/* ended: what its termination booked from the ledger (§6.9) */
		rows[nrows].cost = parked[i].total_cost_usd;
		row_idle(&rows[nrows], tree, cfg);
		nrows++;
	}
	for (i = 0; i < nholds; i++) {
		rows[nrows].hold = &holds[i];
		rows[nrows].name = holds[i].env;
		rows[nrows].agreement = "ok (held for a quota)";
		rows[nrows].idle_stop = -1;
		nrows++;
	}
	if (only != NULL) {
		size_t k = 0;

		for (i = 0; i < nrows; i++)
			if (strcmp(rows[i].name, only) == 0)
				rows[k++] = rows[i];
		nrows = k;
	}
	qsort(rows, nrows, sizeof(*rows), row_cmp);
	if (json)
		print_json(rows, nrows, now);
	else
		print_text(rows, nrows, now);
	if (only != NULL && nrows == 0) {
		cmd_error(only, "no such environment");
		goto out;
	}
	code = EXIT_OK;
out:
	free(used);
	free(rows);
	store_quota_holds_free(holds, nholds);
	spec_tree_free(tree);
	free(revision);
	observe_instances_dispose(&inst);
	store_envs_free(live, nlive);
	store_cost_list_free(segs, nsegs);
	store_envs_free(parked, nparked);
	store_free(st);
	config_free(cfg);
	return code;
}
