/*
 * reconcile.h - the acting half of a pass, shared by `envctl reconcile`
 * and `envctl run` (cmd_reconcile.c).
 */
#ifndef ENVCTL_RECONCILE_H
#define ENVCTL_RECONCILE_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct pass_view;
struct pipeline_capacity;
struct store;

struct reconcile_result {
	size_t	 njobs;		/* actions run */
	size_t	 failed;	/* of which failed */
	int	 waiting;	/* some wait on something outside envctl */
	int64_t	 run;		/* reconcile_runs id, 0 if not recorded */
	/*
	 * Provision time in seconds (the row's ready_at - created_at, as the
	 * remote.provision.ready event has it) of each environment that
	 * became ready in this pass; owned, free() it.
	 */
	double	*provision_s;
	size_t	 nprovision;
};

/*
 * Check the options the pipelines read (ready_checks, price_table): 0,
 * or ERR_INVALID with err_get() naming the option and the problem.
 */
int	reconcile_config_check(const struct config *cfg);

/*
 * Run the actions of pv's plan on max_parallel workers (each with its own
 * database connection and AWS clients), logging a line per action, and
 * record the pass in reconcile_runs.  The caller has loaded pv, checked it
 * did not halt, and holds the leader lock on the session lock: it is
 * checked again (at most once a second) before each environment's actions
 * start, and once it is lost no more start (they fail as "not started").
 * ERR_INVALID when the configuration cannot run pipelines (no s3_bucket,
 * bad ready_checks).  capacity (borrowed, may be NULL) is the caller's
 * cache of pools without capacity, kept from pass to pass.
 */
int	reconcile_execute(struct reconcile_result *res, const struct config *cfg,
	    const struct pass_view *pv, struct store *lock,
	    struct pipeline_capacity *capacity);

#endif
