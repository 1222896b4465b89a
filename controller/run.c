/*
 * run.c - the controller behind `envctl run` (run.h): one poll() loop,
 * passes on change.
 *
 * The loop polls
 *   - a signalfd: SIGTERM/SIGINT finish the pass in flight and exit 0;
 *     SIGHUP reloads the configuration (the old one stays if the new one
 *     is invalid, and the log says why);
 *   - one timerfd armed at the nearest deadline: resync, git poll, the
 *     debounce of spec changes, the leadership check, the watchdog;
 *   - the inotify fd of lib/source's watch (a burst of writes is one
 *     change; a queue overflow is a full rescan);
 *   - the HTTP listener and its clients (/metrics, /healthz,
 *     /api/environments, /api/events and the status page at /).
 * Idle means asleep in poll() with a finite timeout computed from the
 * deadlines.  A pass runs on a thread of its own (struct run_job) while
 * the loop keeps serving HTTP, the watchdog and signals; there is at most
 * one, and a change seen during a pass schedules one more after it.
 * SIGTERM lets the pass in flight finish; SIGHUP during a pass is applied
 * after it.
 *
 * Leadership (docs/design.md §3.7): only the holder of the cluster's lease
 * runs passes.  The lease keeper (lease.c) takes and renews it on a
 * thread and a database session of its own, so the loop never waits on
 * the database: a hung backend stops neither the watchdog, nor /healthz,
 * nor SIGTERM.  Past the lease's local deadline every mutating AWS call
 * is refused (ctl_lease_check()) and every row write too (the database
 * checks the epoch): the process steps down and changes nothing.  When
 * the database is unreachable /healthz answers 503 and the keeper keeps
 * trying.
 *
 * A pass is engine_view_load() (fail closed) + run_execute() + metrics;
 * run_execute() hands the plan's actions to engine_execute(), the single
 * place where they are executed and the run is recorded.
 */
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>

#include "config.h"
#include "ctl.h"
#include "engine.h"
#include "duration.h"
#include "err.h"
#include "httpd.h"
#include "lease.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "notify.h"
#include "pipeline.h"
#include "plan.h"
#include "run.h"
#include "run_http.h"
#include "source.h"
#include "spec.h"
#include "store.h"
#include "watch.h"

#define DEBOUNCE_QUIET_MS	100	/* act this long after the last event */
#define DEBOUNCE_MAX_MS		1000	/* ... but at most this after the first */
#define LEADER_CHECK_MS		1000	/* the loop looks at the keeper's state */
#define PASS_RETRY_MS		5000	/* after a pass that could not run */
#define PASS_WAITING_MS		5000	/* after one that left something waiting */
#define BUSY_WAKE_MS		60000	/* longest sleep while a pass runs */
#define MAX_POLLFDS		(6 + HTTPD_MAX_CLIENTS_DEFAULT)

static void	run_reload(struct runner *);

static void
run_notify(const char *state)
{
	if (notify_send(state) < 0)
		log_warnx("systemd notify: %s", err_get());
}

/* ---- the spec source ------------------------------------------------ */

static int git_inited;	/* git_libgit2_init() done, shut down at exit */

static int
run_source_open(struct source **srcp, struct watch **wp, const struct config *c)
{
	struct source_opts o;
	const char *path;
	int error;

	*srcp = NULL;
	*wp = NULL;
	memset(&o, 0, sizeof(o));
	if (*c->specs != '\0') {
		o.kind = SOURCE_DIR;
		o.dir = c->specs;
	} else if (*c->spec_repo != '\0') {
		/*
		 * libgit2 only for a repository: its start (mbedTLS with the
		 * system's CA bundle) costs a directory source nothing then.
		 */
		if (!git_inited) {
			git_libgit2_init();
			git_inited = 1;
		}
		o.kind = SOURCE_GIT;
		o.git.url = c->spec_repo;
		o.git.branch = c->spec_branch;
		o.git.subpath = c->spec_path;
		o.git.state_dir = c->state_dir;
		o.git.token_file = *c->spec_token_file ?
		    c->spec_token_file : NULL;
		o.git.ssh_key_file = *c->spec_ssh_key ?
		    c->spec_ssh_key : NULL;
		o.git.ssh_known_hosts = *c->spec_known_hosts ?
		    c->spec_known_hosts : NULL;
		o.git.ca_file = *c->spec_ca_file ?
		    c->spec_ca_file : NULL;
	} else {
		err_set("no specs to read: give --specs DIR or set spec_repo");
		return ERR_INVALID;
	}
	if ((error = source_new(srcp, &o)) < 0)
		return error;
	path = source_watch_path(*srcp);
	if ((error = watch_new(wp, &path, 1, source_watch_flags(*srcp))) < 0) {
		source_free(*srcp);
		*srcp = NULL;
	}
	return error;
}

/*
 * Check a git candidate: it must load, and every spec in it must be
 * valid.  0, or ERR_INVALID with the first problem in err_get().
 */
static int
run_candidate_check(const struct runner *r, const char *dir)
{
	struct spec_options opts;
	struct spec_tree *tree = NULL;
	char prefix[CTL_SPEC_PREFIX_LEN];
	size_t i;
	int error;

	ctl_spec_options(&opts, prefix, r->cfg);
	opts.lean = 1;		/* validity and diagnostics only */
	if ((error = spec_tree_load(&tree, dir, &opts)) < 0)
		return error;
	for (i = 0; i < spec_tree_count(tree); i++) {
		const struct spec_entry *e = spec_tree_entry(tree, i);
		const struct spec_diag *d;
		const char *path;

		if (spec_entry_valid(e))
			continue;
		path = strrchr(spec_entry_path(e), '/');
		path = path ? path + 1 : spec_entry_path(e);
		d = spec_entry_diag_count(e) > 0 ? spec_entry_diag(e, 0) : NULL;
		err_set("%s:%u:%u: %s (%zu invalid spec%s)", path, d ? d->line : 0,
		    d ? d->col : 0, d ? d->message : "invalid",
		    spec_tree_invalid_count(tree),
		    spec_tree_invalid_count(tree) == 1 ? "" : "s");
		error = ERR_INVALID;
		break;
	}
	spec_tree_free(tree);
	return error;
}

/*
 * When the next fetch of spec_repo is due after the last one: the poll
 * interval, or after failures the back-off up to spec_poll_backoff_max.
 */
static uint64_t
run_git_delay(const struct runner *r)
{
	return source_backoff_ms(1000 * (uint64_t)r->cfg->spec_poll_interval,
	    1000 * (uint64_t)r->cfg->spec_poll_backoff_max,
	    source_failures(r->src));
}

/* Fetch spec_repo; publish a new revision that loads, else keep the last. */
static void
run_git_poll(struct runner *r)
{
	enum watch_result wr;
	char esc[512];
	const char *old, *result = NULL;
	char *oldcopy = NULL;
	int fresh = 0, forced;

	if (source_kind(r->src) != SOURCE_GIT)
		goto done;
	old = source_revision(r->src) ? source_revision(r->src) : "(none)";
	if (source_prepare(r->src, &fresh) < 0) {
		char next[32];

		duration_format(next, sizeof(next),
		    (long long)(run_git_delay(r) / 1000));
		log_warnx("spec_repo: fetch FAILED, keeping revision %s "
		    "(failure %u, next try in %s): %s", old,
		    source_failures(r->src), next,
		    log_escape(esc, sizeof(esc), err_get()));
		snprintf(r->source_why, sizeof(r->source_why), "fetch failed: %s",
		    err_get());
		goto done;
	}
	r->source_why[0] = '\0';
	if (!fresh)
		goto done;
	result = "failed";
	if (run_candidate_check(r, source_candidate_dir(r->src)) < 0) {
		log_warnx("reconfiguration FAILED: revision %s%s does not load, "
		    "keeping revision %s: %s", source_candidate_revision(r->src),
		    source_candidate_forced(r->src) ? " (force-pushed)" : "", old,
		    log_escape(esc, sizeof(esc), err_get()));
		source_discard(r->src, err_get());
		goto done;
	}
	oldcopy = xstrdup(old);
	forced = source_candidate_forced(r->src);
	if (source_publish(r->src) < 0) {
		log_warnx("reconfiguration FAILED: publishing: %s, keeping revision %s",
		    err_get(), oldcopy);
		snprintf(r->source_why, sizeof(r->source_why), "publish failed: %s",
		    err_get());
		goto done;
	}
	log_info("spec_repo: revision %s%s published (was %s)",
	    source_revision(r->src), forced ? " (force-pushed)" : "", oldcopy);
	result = "ok";
	(void)watch_read(r->watch, &wr);	/* our own swap of "current" */
	r->pass_at = duration_mono_ms();
	r->pass_reason = "new revision";
done:
	if (result != NULL) {
		const char *v[] = { result };

		metrics_counter_inc(r->m.reconfig, v);
	}
	free(oldcopy);
}

/* ---- leadership ----------------------------------------------------- */

static void
run_leader_check(struct runner *r)
{
	struct lease_state ls;

	if (r->lease == NULL && lease_new(&r->lease, r->cfg->database_url,
	    run_cluster(r), (long)r->cfg->leader_lease * 1000, r->lfd) < 0) {
		log_warnx("cluster=%s %s", run_cluster(r), err_get());
		r->lease = NULL;
		return;
	}
	lease_state(&ls, r->lease);
	if (!ls.tried)
		return;		/* the keeper's first attempt is under way */
	if (ls.db_ok && !r->db_ok)
		log_info("database is back");
	else if (!ls.db_ok && (r->db_ok || r->leader)) {
		log_warnx("database unavailable, changing nothing until it returns: %s",
		    ls.why);
		run_notify("STATUS=database unavailable: changing nothing");
	}
	r->db_ok = ls.db_ok;
	r->lease_failures = ls.failures;
	snprintf(r->lease_why, sizeof(r->lease_why), "%s", ls.why);
	if (ls.leader && !r->leader) {
		log_info("cluster=%s role=leader epoch=%lld: this controller acts",
		    run_cluster(r), (long long)ls.epoch);
		r->pass_at = duration_mono_ms();
		r->pass_reason = "leadership taken";
	} else if (!ls.leader && r->leader) {
		log_warnx("cluster=%s role=standby: leadership lost, stepping down",
		    run_cluster(r));
		run_notify("STATUS=standby: another controller leads");
	} else if (!ls.leader && !r->ready_sent)
		log_info("cluster=%s role=standby: another controller leads",
		    run_cluster(r));
	r->leader = ls.leader;
	r->epoch = ls.epoch;
	if (!ls.leader && !r->ready_sent) {
		run_notify("READY=1\nSTATUS=standby");
		r->ready_sent = 1;
	}
	metrics_gauge_set(r->m.leader, NULL, r->leader);
	metrics_gauge_set(r->m.db_up, NULL, r->db_ok);
}

/* ---- a pass --------------------------------------------------------- */

/*
 * Seconds to the next resync after job: spot_resync_interval when the
 * pass saw a spot instance (and it is shorter), so that an interrupted
 * marker is acted on within it (docs/design.md §6.7.1); else
 * resync_interval.
 */
static long long
run_resync_s(const struct runner *r, const struct run_job *job)
{
	if (job->spot && r->cfg->spot_resync_interval > 0 &&
	    r->cfg->spot_resync_interval < r->cfg->resync_interval)
		return r->cfg->spot_resync_interval;
	return r->cfg->resync_interval;
}

/*
 * Execute the plan's actions and record the run: the one place where a
 * pass changes anything, reached only after the fencing check.  The
 * pipelines record drift.detected and every other event themselves.
 *
 * Without s3_bucket no pipeline can run (keys, secrets and bootstrap
 * markers live there), so the controller only observes: each pass records
 * its drift.detected events and a reconcile_runs row, changes nothing in
 * AWS, and says so in the log.
 */
static int
run_execute(struct runner *r, struct run_job *job, const struct engine_view *pv,
    size_t *ndrift, long long *run, int *waiting)
{
	struct engine_result res;
	struct engine_exec x;
	size_t i;
	int error, evfail;

	*waiting = 0;
	if (*r->cfg->s3_bucket == '\0') {
		log_warnx("s3_bucket is not set: observing only, this pass "
		    "changes nothing in AWS");
		evfail = engine_drift_record(ndrift, pv, "run") < 0;
		if (engine_run_record(run, pv, *ndrift, evfail,
		    evfail ? "drift events not recorded" : NULL, 0) < 0) {
			log_warnx("recording the pass: %s", err_get());
			return ERR_UNAVAILABLE;
		}
		return evfail ? ERR_UNAVAILABLE : 0;
	}
	*ndrift = plan_count_drift(pv->plan);
	memset(&x, 0, sizeof(x));
	x.fenced = 1;
	x.who = "run";
	x.capacity = r->capacity;
	x.outcomes = 1;
	if ((error = engine_execute(&res, r->cfg, pv, &x)) < 0)
		return error;
	run_metrics_outcomes(r, &res);
	*run = (long long)res.run;
	*waiting = res.waiting;
	job->nfailed = res.failed;
	job->njobs = res.njobs;
	job->fenced = res.fenced;
	for (i = 0; i < res.njobs; i++)
		if (res.jobs[i].result < 0 && res.jobs[i].error != NULL) {
			snprintf(job->fail_why, sizeof(job->fail_why), "%s: %s",
			    res.jobs[i].name, res.jobs[i].error);
			break;
		}
	if (res.fenced)
		log_warnx("fenced mid-pass: %zu of %zu actions not done; the "
		    "leader resumes them", res.failed, res.njobs);
	else if (res.failed > 0)
		log_warnx("%zu of %zu actions failed; the next pass tries again",
		    res.failed, res.njobs);
	engine_result_dispose(&res);
	return 0;
}

/* The pass itself, on the job's thread (see struct run_job). */
static void *
run_pass_work(void *arg)
{
	struct run_job *job = arg;
	struct runner *r = job->r;
	struct engine_view pv;
	struct run_states states;
	struct log_context ctx;
	char cid[LOG_CID_LEN];
	struct run_held held;
	uint64_t t0 = duration_mono_ms(), one = 1;
	int changes;

	/* each pass has its correlation id: its lines, events and run row */
	log_cid_new(cid);
	memset(&ctx, 0, sizeof(ctx));
	ctx.correlation_id = cid;
	log_context_set(&ctx);
	log_info("pass=%lld start reason=%s", job->n, job->reason);
	job->outcome = RUN_FAILED;
	if (engine_view_load(&pv, r->cfg, 0, 1, time(NULL)) < 0) {
		snprintf(job->why, sizeof(job->why), "%s", err_get());
		goto out;	/* pv is zeroed: disposing it again is a no-op */
	}
	if (plan_halted(pv.plan)) {
		snprintf(job->why, sizeof(job->why), "%s",
		    plan_action_at(pv.plan, 0)->reason);
		goto out;
	}
	/* Fencing: still the leader, right before the first change? */
	if (ctl_lease_check(NULL) < 0) {
		snprintf(job->why, sizeof(job->why), "%s", err_get());
		job->outcome = RUN_FENCED;
		goto out;
	}
	if (run_execute(r, job, &pv, &job->ndrift, &job->run, &job->waiting) < 0) {
		snprintf(job->why, sizeof(job->why), "%s", err_get());
		goto out;
	}
	job->outcome = RUN_OK;
	job->spot = pv.nspot_instances > 0;
	metrics_histogram_observe(r->m.duration, NULL,
	    (double)(duration_mono_ms() - t0) / 1000.0);
	run_metrics_pass(r, &pv);
	changes = plan_has_changes(pv.plan);
	/* the pages need only the states: let the pass's bulk go first */
	run_states_take(&states, &pv);
	run_held_take(&held, &pv);
	engine_view_release(&pv);
	run_view_build(&job->view, pv.store, &states);
	run_metrics_cost(r, pv.store);
	job->view.held = held;	/* the view's now */
	run_states_free(&states);
	job->revision = xstrdup(pv.revision);
	snprintf(job->summary, sizeof(job->summary), "STATUS=pass %lld ok: "
	    "revision %.40s, %zu specs, %zu live, %zu instances, %zu drift, %s",
	    job->n, pv.revision, pv.nspecs, pv.nlive, pv.ninstances, job->ndrift,
	    changes ? "changes planned" : "converged");
	log_info("pass=%lld done run=%lld revision=%s specs=%zu live=%zu "
	    "instances=%zu drift=%zu changes=%d seconds=%.3f", job->n, job->run,
	    pv.revision, pv.nspecs, pv.nlive, pv.ninstances, job->ndrift, changes,
	    (double)(duration_mono_ms() - t0) / 1000.0);
out:
	engine_view_dispose(&pv);
	/* A pass over many specs frees a lot at once: give it back to the system. */
	malloc_trim(0);
	if (write(r->efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		log_warn("pass=%lld: eventfd", job->n);
	log_context_set(NULL);
	return NULL;
}

/* Start the pass that is due on its own thread. */
static void
run_pass_start(struct runner *r)
{
	struct run_job *job = xcalloc(1, sizeof(*job));
	int error;

	job->r = r;
	job->n = ++r->npass;
	job->reason = r->pass_reason ? r->pass_reason : "-";
	r->pass_at = 0;
	if ((error = pthread_create(&job->tid, NULL, run_pass_work, job)) != 0) {
		log_warnx("pass=%lld: cannot start a thread: %s", job->n,
		    strerror(error));
		free(job);
		r->pass_at = duration_mono_ms() + PASS_RETRY_MS;
		return;
	}
	r->job = job;
}

/* The pass in flight has ended: take its results on the loop's thread. */
static void
run_pass_finish(struct runner *r)
{
	struct run_job *job = r->job;
	char esc[512];
	const char *res;

	pthread_join(job->tid, NULL);
	r->job = NULL;
	switch (job->outcome) {
	case RUN_OK:
		res = "ok";
		/* every action failed (and not for want of the lease): /healthz says so */
		if (job->njobs > 0 && !job->fenced) {
			r->actions_failing = job->nfailed == job->njobs;
			snprintf(r->actions_why, sizeof(r->actions_why), "every "
			    "action of the last pass failed, e.g. %s", job->fail_why);
		}
		r->last_ok = time(NULL);
		metrics_gauge_set(r->m.last_ok, NULL, (double)r->last_ok);
		r->last_failed = 0;
		free(r->revision);
		r->revision = job->revision;
		job->revision = NULL;
		run_view_clear(&r->view);
		r->view = job->view;
		memset(&job->view, 0, sizeof(job->view));
		snprintf(r->summary, sizeof(r->summary), "%s", job->summary);
		/*
		 * Pending instances, readiness, retries: look again soon rather
		 * than at the next resync (a change seen meanwhile goes first).
		 */
		if (job->waiting && r->pass_at == 0) {
			r->pass_at = duration_mono_ms() + PASS_WAITING_MS;
			r->pass_reason = "waiting";
		}
		if (!r->ready_sent) {
			run_notify("READY=1");
			r->ready_sent = 1;
		}
		break;
	case RUN_FENCED:
		res = "fenced";
		log_warnx("pass=%lld leadership not confirmed, acting on nothing",
		    job->n);
		r->leader = 0;
		metrics_gauge_set(r->m.leader, NULL, 0);
		r->leader_at = duration_mono_ms();
		snprintf(r->summary, sizeof(r->summary), "STATUS=pass %lld fenced",
		    job->n);
		break;
	default:
		res = "error";
		log_warnx("pass=%lld FAILED, nothing changed: %s", job->n,
		    log_escape(esc, sizeof(esc), job->why));
		r->last_failed = 1;
		r->leader_at = duration_mono_ms();	/* is it the database? look now */
		r->pass_at = duration_mono_ms() + PASS_RETRY_MS;
		r->pass_reason = "retry";
		snprintf(r->summary, sizeof(r->summary), "STATUS=pass %lld failed",
		    job->n);
		break;
	}
	{
		const char *v[] = { res };

		metrics_counter_inc(r->m.passes, v);
	}
	run_notify(r->summary);
	r->resync_at = duration_mono_ms() + 1000 * (uint64_t)run_resync_s(r, job);
	run_view_clear(&job->view);
	free(job->revision);
	free(job);
	/*
	 * A pass's thread and workers allocate in arenas of their own; what
	 * they freed stays mapped until trimmed, so an idle controller
	 * would keep a pass's peak for good.  Give it back to the system.
	 */
	malloc_trim(0);
	if (r->reload_pending) {
		r->reload_pending = 0;
		run_reload(r);
	}
}

/* ---- configuration -------------------------------------------------- */

static int
run_config_parse(struct config **out, const struct runner *r)
{
	char **argv = xcalloc((size_t)r->argc + 1, sizeof(*argv));
	int argc = r->argc, error;

	memcpy(argv, r->argv, (size_t)r->argc * sizeof(*argv));
	error = ctl_config_load(out, &argc, argv);
	if (error == 0 && argc > 1) {
		err_set("unexpected argument '%s'", argv[1]);
		error = ERR_INVALID;
	}
	if (error != 0 && *out != NULL) {
		config_free(*out);
		*out = NULL;
	}
	free(argv);
	return error;
}

/* Does the spec source of b differ from a's? */
static int
source_changed(const struct config *a, const struct config *b)
{
	const char *const sa[] = { a->specs, a->spec_repo, a->spec_branch,
	    a->spec_path, a->state_dir, a->spec_token_file, a->spec_ssh_key,
	    a->spec_known_hosts, a->spec_ca_file };
	const char *const sb[] = { b->specs, b->spec_repo, b->spec_branch,
	    b->spec_path, b->state_dir, b->spec_token_file, b->spec_ssh_key,
	    b->spec_known_hosts, b->spec_ca_file };
	size_t i;

	for (i = 0; i < sizeof(sa) / sizeof(sa[0]); i++)
		if (strcmp(sa[i], sb[i]) != 0)
			return 1;
	return 0;
}

/* SIGHUP: the new configuration, or the old one if the new is invalid. */
static void
run_reload(struct runner *r)
{
	struct config *nc = NULL;
	struct source *src = NULL;
	struct watch *w = NULL;
	struct httpd *h = NULL;
	const char *fail[] = { "failed" }, *ok[] = { "ok" };
	int newsrc = 0, newlisten = 0, error = -1;

	log_info("SIGHUP: reloading the configuration");
	if (run_config_parse(&nc, r) < 0)
		goto done;
	newsrc = source_changed(r->cfg, nc);
	newlisten = strcmp(r->cfg->listen, nc->listen) != 0;
	/*
	 * A git source holds a lock on its state directory: the old one goes
	 * first, and is opened again if the new one cannot be.
	 */
	if (newsrc) {
		source_free(r->src);
		watch_free(r->watch);
		r->src = NULL;
		r->watch = NULL;
		if (run_source_open(&src, &w, nc) < 0) {
			err_prefix("spec source");
			goto done;
		}
	}
	if (newlisten && run_httpd_open(&h, r, nc->listen) < 0)
		goto done;
	if (newlisten) {
		httpd_free(r->httpd);
		r->httpd = h;
	}
	if (newsrc) {
		r->src = src;
		r->watch = w;
		r->gitpoll_at = duration_mono_ms();
	}
	if (strcmp(r->cfg->database_url, nc->database_url) != 0 ||
	    strcmp(r->cfg->cluster_id, nc->cluster_id) != 0) {
		lease_free(r->lease);
		r->lease = NULL;
		r->leader = 0;
		r->leader_at = duration_mono_ms();
	}
	config_free(r->cfg);
	r->cfg = nc;
	r->resync_at = duration_mono_ms() + 1000 * (uint64_t)r->cfg->resync_interval;
	r->pass_at = duration_mono_ms();
	r->pass_reason = "configuration reloaded";
	log_info("configuration reloaded");
	error = 0;
done:
	if (error != 0) {
		log_warnx("reconfiguration FAILED, keeping the old configuration: %s",
		    err_get());
		source_free(src);
		watch_free(w);
		if (r->src == NULL && run_source_open(&r->src, &r->watch, r->cfg) < 0)
			fatalx("reopening the old spec source: %s", err_get());
		config_free(nc);
		ctl_log_apply(r->cfg);	/* a parse applies its own */
	}
	metrics_counter_inc(r->m.reconfig, error != 0 ? fail : ok);
}

/* ---- the loop ------------------------------------------------------- */

static void
run_signals(struct runner *r)
{
	struct signalfd_siginfo si;

	while (read(r->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			if (!r->stopping)
				log_info("%s: stopping", si.ssi_signo == SIGTERM ?
				    "SIGTERM" : "SIGINT");
			r->stopping = 1;
			break;
		case SIGHUP:
			if (r->job != NULL) {
				log_info("SIGHUP: reloading after pass=%lld", r->job->n);
				r->reload_pending = 1;
			} else
				run_reload(r);
			break;
		default:
			break;
		}
	}
}

static void
run_watch(struct runner *r, uint64_t now)
{
	enum watch_result wr = WATCH_NONE;

	if (watch_read(r->watch, &wr) < 0) {
		log_warnx("watch: %s", err_get());
		wr = WATCH_OVERFLOW;
	}
	if (wr == WATCH_NONE)
		return;
	if (wr == WATCH_OVERFLOW)
		log_warnx("watch: events lost (queue overflow), full rescan");
	if (source_kind(r->src) == SOURCE_GIT) {
		/*
		 * "current" changed under us (another tool): look at the
		 * repo, unless fetches are failing: then the events are the
		 * failed fetch's own (a mirror made and removed) and the
		 * back-off's deadline stands.
		 */
		if (source_failures(r->src) == 0)
			r->gitpoll_at = now;
		return;
	}
	if (r->burst_first == 0)
		r->burst_first = now;
	r->burst_last = now;
}

static uint64_t
nearest(uint64_t a, uint64_t b)
{
	if (a == 0)
		return b;
	if (b == 0)
		return a;
	return a < b ? a : b;
}

/*
 * Do what is due; return the next deadline (monotonic ms, never 0).
 * While a pass is in flight the leadership check, the git poll and the
 * next pass wait for it (they are not counted as deadlines then: the
 * job's eventfd wakes the loop).
 */
static uint64_t
run_due(struct runner *r)
{
	uint64_t now = duration_mono_ms(), next, debounce = 0;
	int busy = r->job != NULL, git = source_kind(r->src) == SOURCE_GIT;

	if (r->burst_first != 0) {
		debounce = watch_debounce_deadline(r->burst_first, r->burst_last,
		    DEBOUNCE_QUIET_MS, DEBOUNCE_MAX_MS);
		if (now >= debounce) {
			r->burst_first = r->burst_last = 0;
			debounce = 0;
			r->pass_at = now;
			r->pass_reason = "spec change";
		}
	}
	/* The keeper's state only: never waits on the database, even mid-pass. */
	if (now >= r->leader_at) {
		run_leader_check(r);
		r->leader_at = duration_mono_ms() + LEADER_CHECK_MS;
	}
	if (!busy && git && now >= r->gitpoll_at) {
		run_git_poll(r);
		r->gitpoll_at = duration_mono_ms() + run_git_delay(r);
	}
	if (!busy && now >= r->resync_at) {
		r->resync_at = now + 1000 * (uint64_t)r->cfg->resync_interval;
		if (r->pass_at == 0) {
			r->pass_at = now;
			r->pass_reason = "resync";
		}
	}
	if (!busy && !r->stopping && r->pass_at != 0 && now >= r->pass_at) {
		if (r->leader && r->db_ok)
			run_pass_start(r);
		else if (!r->leader && r->db_ok)
			r->pass_at = 0;		/* the leader does it */
		else
			r->pass_at = r->leader_at;	/* after the database is back */
		busy = r->job != NULL;
	}
	now = duration_mono_ms();
	if (r->watchdog_ms != 0 && now >= r->watchdog_at) {
		run_notify("WATCHDOG=1");
		r->watchdog_at = now + r->watchdog_ms;
	}
	next = debounce;
	next = nearest(next, r->leader_at);
	if (!busy) {
		next = nearest(next, r->resync_at);
		next = nearest(next, r->pass_at);
		if (git)
			next = nearest(next, r->gitpoll_at);
	}
	if (r->watchdog_ms != 0)
		next = nearest(next, r->watchdog_at);
	if (next == 0)
		next = now + BUSY_WAKE_MS;	/* the job's eventfd wakes us first */
	return next;
}

static int
run_loop(struct runner *r)
{
	struct pollfd fds[MAX_POLLFDS];
	struct itimerspec its;
	uint64_t next, now, expirations;
	size_t nfds, nh;
	int timeout, hto;

	/* Stopping waits for the pass in flight. */
	while (!r->stopping || r->job != NULL) {
		next = run_due(r);
		if (r->stopping && r->job == NULL)
			break;
		memset(&its, 0, sizeof(its));
		its.it_value.tv_sec = (time_t)(next / 1000);
		its.it_value.tv_nsec = (long)(next % 1000) * 1000000L;
		if (timerfd_settime(r->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
			log_warn("timerfd_settime");
		now = duration_mono_ms();
		timeout = next > now ? (int)(next - now + 1) : 0;
		nfds = 0;
		fds[nfds++] = (struct pollfd){ .fd = r->sfd, .events = POLLIN };
		fds[nfds++] = (struct pollfd){ .fd = r->tfd, .events = POLLIN };
		fds[nfds++] = (struct pollfd){ .fd = watch_fd(r->watch), .events = POLLIN };
		fds[nfds++] = (struct pollfd){ .fd = r->efd, .events = POLLIN };
		fds[nfds++] = (struct pollfd){ .fd = r->lfd, .events = POLLIN };
		if (r->httpd != NULL) {
			nh = httpd_fds(r->httpd, fds + nfds, MAX_POLLFDS - nfds);
			nfds += nh < MAX_POLLFDS - nfds ? nh : MAX_POLLFDS - nfds;
			if ((hto = httpd_timeout_ms(r->httpd)) >= 0 && hto < timeout)
				timeout = hto;
		}
		if (poll(fds, (nfds_t)nfds, timeout) < 0) {
			if (errno == EINTR)
				continue;
			log_warn("poll");
			return ERR_GENERIC;
		}
		if (fds[1].revents & POLLIN)
			(void)!read(r->tfd, &expirations, sizeof(expirations));
		if (fds[2].revents & POLLIN)
			run_watch(r, duration_mono_ms());
		if ((fds[3].revents & POLLIN) &&
		    read(r->efd, &expirations, sizeof(expirations)) > 0 && r->job != NULL)
			run_pass_finish(r);
		if ((fds[4].revents & POLLIN) &&
		    read(r->lfd, &expirations, sizeof(expirations)) > 0)
			r->leader_at = duration_mono_ms();	/* the role changed */
		if (r->httpd != NULL)
			httpd_handle(r->httpd, fds, nfds);
		/* Signals last: a reload may replace the watch and the server. */
		if (fds[0].revents & POLLIN)
			run_signals(r);
	}
	return 0;
}

static void
run_free(struct runner *r)
{
	int i;

	if (r->job != NULL) {		/* the loop failed mid-pass: wait for it */
		r->reload_pending = 0;
		run_pass_finish(r);
	}
	lease_free(r->lease);
	httpd_free(r->httpd);
	watch_free(r->watch);
	source_free(r->src);
	run_view_clear(&r->view);
	metrics_registry_free(r->reg);
	pipeline_capacity_free(r->capacity);
	if (r->efd >= 0)
		close(r->efd);
	if (r->lfd >= 0)
		close(r->lfd);
	if (r->sfd >= 0)
		close(r->sfd);
	if (r->tfd >= 0)
		close(r->tfd);
	free(r->revision);
	for (i = 0; i < r->argc; i++)
		free(r->argv[i]);
	free(r->argv);
	config_free(r->cfg);
}

int
run_controller(const char **what, int argc, char **argv)
{
	struct runner r;
	sigset_t mask;
	uint64_t wd;
	int i, error = ERR_GENERIC;

	*what = "run";
	memset(&r, 0, sizeof(r));
	r.sfd = r.tfd = r.efd = r.lfd = -1;
	r.argc = argc;
	r.argv = xcalloc((size_t)argc + 1, sizeof(*r.argv));
	for (i = 0; i < argc; i++)
		r.argv[i] = xstrdup(argv[i]);
	if (run_config_parse(&r.cfg, &r) < 0) {
		*what = "configuration";
		goto out;
	}
	/* Block the signals before any thread exists: they all go to the signalfd. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (r.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0 ||
	    (r.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0 ||
	    (r.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
	    (r.lfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		err_set("%s", strerror(errno));
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	if (run_metrics_new(&r) < 0) {
		err_set("metrics registry");
		goto out;
	}
	(void)pipeline_capacity_new(&r.capacity);	/* kept across passes */
	if (run_source_open(&r.src, &r.watch, r.cfg) < 0) {
		*what = "spec source";
		goto out;
	}
	if (run_httpd_open(&r.httpd, &r, r.cfg->listen) < 0)
		goto out;
	if ((wd = notify_watchdog_usec()) != 0) {
		r.watchdog_ms = wd / 2000 ? wd / 2000 : 1;
		r.watchdog_at = duration_mono_ms();
	}
	r.resync_at = duration_mono_ms();
	r.leader_at = duration_mono_ms();
	r.gitpoll_at = duration_mono_ms();
	r.db_ok = 1;	/* until the first check says otherwise */
	log_info("envctl run: cluster=%s source=%s resync=%llds pid=%d", run_cluster(&r),
	    source_kind(r.src) == SOURCE_GIT ? r.cfg->spec_repo :
	    r.cfg->specs, r.cfg->resync_interval,
	    (int)getpid());
	*what = NULL;
	error = run_loop(&r);
	run_notify("STOPPING=1");
	log_info("envctl run: stopped after %lld pass%s", r.npass,
	    r.npass == 1 ? "" : "es");
out:
	run_free(&r);
	if (git_inited)
		git_libgit2_shutdown();
	return error;
}
