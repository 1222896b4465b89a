/*
 * envctl reconcile --once - one pass of the loop (or passes until the
 * fleet converges or --wait runs out), then exit.
 *
 *	envctl reconcile --once [--dry-run] [--wait DURATION] [--force]
 *	    [--specs DIR] [-o json]
 *
 * A pass is the engine's (engine.h): read the three truths and plan
 * (fail closed, nothing changed when specs, the database or EC2 cannot
 * be read), then run the plan's actions on a pool of max_parallel
 * workers and record the pass in reconcile_runs.  This file parses the
 * arguments, takes the lock and prints.  Readiness is never waited for
 * inside a pass: with
 * --wait, passes repeat every couple of seconds until the plan has no
 * changes or the time is up.
 *
 * A pass that would act takes the cluster's leader lease first (lease.c,
 * kept and renewed until the command exits, then given up): beside a
 * running `envctl run` leader it changes nothing and the command exits
 * 1, since the pass could not do its job.  --dry-run takes no lease.
 *
 * Exit: 0 converged, 2 changes pending, 1 error or leader lease held
 * elsewhere (docs/design.md §9).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "cmd.h"
#include "config.h"
#include "ctl.h"
#include "duration.h"
#include "engine.h"
#include "err.h"
#include "lease.h"
#include "log.h"
#include "pipeline.h"
#include "plan.h"
#include "store.h"

#define RECONCILE_PASS_GAP	2	/* seconds between passes with --wait */

/* The command's output: plain lines, progress on a terminal, or JSON. */
struct rc {
	const struct config	*cfg;
	int			 json;
	int			 tty;
	int			 pass;
	time_t			 started;
	json_t			*jpasses;
	struct pipeline_capacity *capacity;	/* for all the passes */
	char			 flags[256];	/* audit_flags() of the command */
	int			 recorded;	/* its "command" event is */
	struct lease		*lease;		/* taken by the first pass that acts */
};

/* Take the cluster's lease (once), or say who has it. */
static int
rc_lease(struct rc *rc)
{
	struct lease_state ls;
	int error;

	if (rc->lease == NULL) {
		if ((error = lease_new(&rc->lease, rc->cfg->database_url,
		    rc->cfg->cluster_id, (long)rc->cfg->leader_lease * 1000,
		    -1)) < 0)
			return error;
		lease_wait_first(rc->lease);
	}
	lease_state(&ls, rc->lease);
	if (!ls.db_ok) {
		err_set("%s", ls.why);
		return ERR_UNAVAILABLE;
	}
	if (!ls.leader) {
		err_set("another controller of cluster %s holds the leader "
		    "lease; this pass changes nothing", rc->cfg->cluster_id);
		return ERR_CONFLICT;
	}
	return 0;
}

/*
 * A line per environment as its action ends (plain lines, or on a
 * terminal with a progress counter and the elapsed time).
 */
static void
rc_done(const struct pipeline_job *j, size_t ndone, size_t njobs, void *arg)
{
	struct rc *rc = arg;
	char esc[512], nm[256];

	if (rc->json)
		return;
	if (rc->tty)
		printf("\r\033[K");
	printf("  [pass %d %3llds %zu/%zu] %c %-24s %-13s %-18s %s%s\n", rc->pass,
	    (long long)(time(NULL) - rc->started), ndone, njobs,
	    plan_kind_symbol(j->kind), log_sanitize(nm, sizeof(nm),
	    *j->name ? j->name : "(no env tag)"),
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

/* The plan of a dry run: a line per action (or a JSON pass). */
static void
rc_print_plan(struct rc *rc, const struct engine_view *pv, int pass)
{
	size_t i;

	if (rc->json) {
		json_t *o = json_object(), *a = json_array();

		for (i = 0; i < plan_count(pv->plan); i++) {
			const struct plan_action *pa = plan_action_at(pv->plan, i);
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
		return;
	}
	for (i = 0; i < plan_count(pv->plan); i++) {
		const struct plan_action *a = plan_action_at(pv->plan, i);
		char esc[512], nm[256];

		if (a->kind == PLAN_NOOP)
			continue;
		printf("  %c %-28s %-13s %s\n", plan_kind_symbol(a->kind),
		    log_sanitize(nm, sizeof(nm), *a->name ? a->name :
		    "(no env tag)"), plan_kind_name(a->kind),
		    log_escape(esc, sizeof(esc), a->reason));
	}
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
	struct engine_view pv;
	struct engine_result res;
	struct engine_exec x;
	int error;

	*changes = 0;
	*failed = 0;
	*waiting = 1;
	if ((error = engine_view_load(&pv, rc->cfg, force, 1, time(NULL))) < 0)
		return error;
	if (plan_halted(pv.plan)) {
		err_set("%s", plan_action_at(pv.plan, 0)->reason);
		engine_view_dispose(&pv);
		return ERR_UNAVAILABLE;
	}
	*changes = plan_has_changes(pv.plan);
	if (dry_run) {
		if (dry_run == 1)
			rc_print_plan(rc, &pv, pass);
		goto out;
	}
	/* One actor per cluster: never beside a running controller. */
	if ((error = rc_lease(rc)) < 0 ||
	    (error = ctl_lease_store(pv.store)) < 0) {
		engine_view_dispose(&pv);
		return error;
	}
	/* who asked, once, before anything it causes (same correlation id) */
	if (!rc->recorded) {
		if (audit_command_record(pv.store, pv.naws > 0 ? pv.aws[0] : NULL,
		    "reconcile", rc->flags) < 0)
			log_warnx("recording the command: %s", err_get());
		rc->recorded = 1;
	}
	if (engine_view_njobs(&pv) == 0) {
		/* Reported drift that is gone now: drift.resolved. */
		if (engine_drift_resolve(&pv, "reconcile") < 0)
			log_warnx("recording resolved drift: %s", err_get());
		if (engine_held_record(&pv) < 0)
			log_warnx("recording held deletions: %s", err_get());
		if (engine_stops_record(&pv, time(NULL)) < 0)
			log_warnx("recording observed stops: %s", err_get());
		if (engine_spot_record(&pv, rc->cfg, rc->capacity, time(NULL)) < 0)
			log_warnx("recording spot notices: %s", err_get());
		if (engine_price_refresh(&pv, rc->cfg, time(NULL)) < 0)
			log_warnx("refreshing spot prices: %s", err_get());
		goto out;
	}
	rc->pass = pass;
	memset(&x, 0, sizeof(x));
	x.fenced = 1;
	x.who = "reconcile";
	x.done = rc_done;
	x.capacity = rc->capacity;
	x.arg = rc;
	if ((error = engine_execute(&res, rc->cfg, &pv, &x)) < 0) {
		engine_view_dispose(&pv);
		return error;
	}
	*failed = res.failed;
	*waiting = res.waiting;
	if (rc->json) {
		json_t *o = json_object();

		json_object_set_new(o, "pass", json_integer(pass));
		json_object_set_new(o, "revision", json_string(pv.revision));
		json_object_set_new(o, "failed", json_integer((json_int_t)*failed));
		json_object_set_new(o, "actions", rc_jobs_json(res.jobs, res.njobs));
		json_array_append_new(rc->jpasses, o);
	}
	engine_result_dispose(&res);
out:
	engine_view_dispose(&pv);
	return 0;
}

/* The command's flags: --once [--dry-run] [--wait DURATION] [--force]. */
struct rc_args {
	int		 once, dry_run, force;
	const char	*waitarg;	/* NULL: no --wait */
	long long	 wait_s;
};

static int
rc_args_parse(struct rc_args *a, int *argcp, char **argv)
{
	int i, out, argc;

	memset(a, 0, sizeof(*a));
	a->once = ctl_take_flag(argcp, argv, "--once");
	a->dry_run = ctl_take_flag(argcp, argv, "--dry-run");
	a->force = ctl_take_flag(argcp, argv, "--force");
	argc = *argcp;
	for (i = 1, out = 1; i < argc; i++) {
		if (strcmp(argv[i], "--wait") == 0 && i + 1 < argc)
			a->waitarg = argv[++i];
		else if (strncmp(argv[i], "--wait=", 7) == 0)
			a->waitarg = argv[i] + 7;
		else
			argv[out++] = argv[i];
	}
	*argcp = out;
	if (out > 1 || !a->once) {
		fprintf(stderr, "usage: envctl reconcile --once [--dry-run] "
		    "[--wait DURATION] [--force] [--specs DIR] [-o json]\n"
		    "(the long-running loop is 'envctl run')\n");
		return ERR_INVALID;
	}
	if (a->waitarg != NULL && duration_parse(&a->wait_s, a->waitarg) < 0) {
		cmd_error("--wait", err_get());
		return ERR_INVALID;
	}
	return 0;
}

/*
 * Passes until the fleet converges, a pass fails or --wait runs out; the
 * exit code.  *npass and *failed_total: passes run and actions failed.
 */
static int
rc_passes(struct rc *rc, const struct rc_args *a, int *npass,
    size_t *failed_total)
{
	time_t deadline = time(NULL) + (time_t)a->wait_s;
	int changes = 0, waiting = 0, changes2 = 0;
	size_t failed = 0, f2 = 0;

	for (*npass = 1;; (*npass)++) {
		if (rc_pass(rc, *npass, a->force, a->dry_run, &changes, &failed,
		    &waiting) < 0)
			break;
		*failed_total += failed;
		if (!changes)
			return EXIT_OK;
		if (a->dry_run)
			return EXIT_CHANGES;
		if (a->waitarg == NULL ||
		    time(NULL) + RECONCILE_PASS_GAP > deadline) {
			if (failed > 0)
				return EXIT_ERROR;
			if (waiting)	/* environments still on their way */
				return EXIT_CHANGES;
			/* Did this pass converge?  Look once more, changing nothing. */
			if (rc_pass(rc, *npass + 1, a->force, 2, &changes2, &f2,
			    &waiting) < 0)
				break;
			return changes2 ? EXIT_CHANGES : EXIT_OK;
		}
		if (waiting)
			sleep(RECONCILE_PASS_GAP);
	}
	cmd_error("reconcile", err_get());
	return EXIT_ERROR;
}

static void
rc_summary(const struct rc *rc, int code, int npass, size_t failed_total)
{
	json_t *doc;

	if (!rc->json) {
		printf("reconcile: %d pass%s, %zu failed action%s; %s\n", npass,
		    npass == 1 ? "" : "es", failed_total,
		    failed_total == 1 ? "" : "s", code == EXIT_OK ? "converged" :
		    code == EXIT_CHANGES ? "changes pending" : "error");
		return;
	}
	doc = json_object();
	json_object_set(doc, "passes", rc->jpasses);
	json_object_set_new(doc, "converged", json_boolean(code == EXIT_OK));
	json_object_set_new(doc, "failed_actions",
	    json_integer((json_int_t)failed_total));
	json_object_set_new(doc, "exit", json_integer(code));
	json_dumpf(doc, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(doc);
}

int
cmd_reconcile(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct rc rc;
	struct rc_args a;
	char cid[LOG_CID_LEN];
	int code = EXIT_ERROR, npass = 0;
	size_t failed_total = 0;

	memset(&rc, 0, sizeof(rc));
	audit_flags(rc.flags, sizeof(rc.flags), argc - 1, argv + 1);
	ctl_cid_begin(cid);
	if (ctl_config_load(&cfg, &argc, argv) < 0) {
		cmd_error("configuration", err_get());
		return EXIT_ERROR;
	}
	rc.json = ctl_take_json_flag(&argc, argv);
	rc.tty = isatty(STDOUT_FILENO);
	rc.started = time(NULL);
	rc.cfg = cfg;
	if (rc_args_parse(&a, &argc, argv) < 0)
		goto done;
	if (!a.dry_run && engine_can_act(cfg) < 0) {
		cmd_error("reconcile", err_get());
		goto done;
	}
	(void)pipeline_capacity_new(&rc.capacity);
	if (rc.json)
		rc.jpasses = json_array();
	code = rc_passes(&rc, &a, &npass, &failed_total);
	rc_summary(&rc, code, npass, failed_total);
done:
	json_decref(rc.jpasses);
	lease_free(rc.lease);
	pipeline_capacity_free(rc.capacity);
	config_free(cfg);
	return code;
}
