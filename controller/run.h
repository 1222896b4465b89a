/*
 * run.h - the controller's loop (run.c): the passes on their thread,
 * signals, leadership, the spec source and reloads.  What the HTTP side
 * shows and serves is run_http.h.  Everything here belongs to the
 * controller process.
 */
#ifndef ENVCTL_RUN_H
#define ENVCTL_RUN_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "httpd.h"
#include "run_http.h"

struct httpd;
struct lease;
struct metrics_registry;
struct source;
struct store;
struct watch;

enum run_outcome {
	RUN_OK = 0,
	RUN_FAILED,
	RUN_FENCED,
};

/*
 * The pass in flight, on its own thread.  While it runs the loop leaves
 * cfg and the spec source alone (no git poll or reload until it is
 * joined); the thread writes only to this struct and
 * to the metrics (which are thread-safe), then signals efd.
 */
struct run_job {
	struct runner		*r;
	pthread_t		 tid;
	long long		 n;
	const char		*reason;
	enum run_outcome	 outcome;
	char			 why[512];
	char			 summary[256];
	char			*revision;
	size_t			 ndrift;
	long long		 run;		/* reconcile_runs id */
	int			 waiting;	/* some action waits (readiness, retry) */
	size_t			 njobs, nfailed;	/* actions run, of which failed */
	char			 fail_why[256];	/* the first failed action's error */
	int			 fenced;	/* the lease ran out mid-pass */
	int			 spot;		/* the pass saw a spot instance */
	struct run_view		 view;
};

struct runner {
	struct config		*cfg;
	char			**argv;		/* the command line, for SIGHUP */
	int			 argc;
	struct source		*src;
	struct watch		*watch;
	struct httpd		*httpd;
	struct lease		*lease;		/* the lease keeper (lease.c) */
	int64_t			 epoch;		/* of the lease held, 0: none */
	long long		 lease_failures;	/* renewals failed in a row */
	char			 lease_why[256];	/* the last one's reason */
	char			 source_why[256];	/* the spec source cannot publish */
	int			 actions_failing;	/* every action of the last pass that had any failed */
	char			 actions_why[320];	/* the first one's error */
	struct pipeline_capacity *capacity;	/* no-capacity pools, across passes */
	struct metrics_registry	*reg;
	struct run_metrics	 m;
	int			 sfd, tfd;
	int			 leader, db_ok, stopping, ready_sent;
	uint64_t		 pass_at;	/* 0: none due */
	const char		*pass_reason;
	uint64_t		 resync_at, gitpoll_at, leader_at, watchdog_at;
	uint64_t		 watchdog_ms;	/* 0: no watchdog */
	uint64_t		 burst_first, burst_last;	/* 0: no burst */
	long long		 npass;
	time_t			 last_ok;	/* wall clock of the last good pass */
	int			 last_failed;
	char			*revision;	/* of the last good pass */
	char			 summary[256];	/* of the last pass */
	struct run_view		 view;		/* of the last good pass */
	struct run_job		*job;		/* the pass in flight, or NULL */
	int			 efd;		/* eventfd: the job is done */
	int			 lfd;		/* eventfd: the lease keeper's role changed */
	int			 reload_pending;	/* SIGHUP during a pass */
	/* the pages' view of the configuration (run_http.c, run_facts()) */
	struct httpd_status_quota quotas[16];
	char			 checks_text[48];
};

static inline const char *
run_cluster(const struct runner *r)
{
	return r->cfg->cluster_id;
}

/*
 * The controller: load the configuration from argv (kept for SIGHUP),
 * open the spec source and the HTTP listener, then loop until SIGTERM or
 * SIGINT.  0 after a clean stop; negative when it cannot start, with
 * *what naming the part ("configuration", "spec source", "run") and
 * err_get() the reason, or *what NULL when the loop failed (logged).
 */
int	 run_controller(const char **what, int argc, char **argv);

#endif
