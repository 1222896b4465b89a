/*
 * engine.h - the engine: one pass of reconciliation, shared by
 * `envctl reconcile`, `envctl run`, `envctl drift` and `envctl plan`.
 *
 * A pass is
 *   1. engine_view_load(): read the three truths (specs, rows, EC2) and
 *      plan (lib/reconcile/plan.c, "the planner"); fails closed
 *      (engine_view.c);
 *   2. engine_execute(): run the plan's actions as pipeline jobs on a
 *      pool of workers, fenced by the leader lease, record the pass in
 *      reconcile_runs and say whether something still waits (engine.c);
 *   or, for a pass that only looks, engine_drift_record() and
 *   engine_run_record() (engine_drift.c).
 * The engine prints nothing: the commands own their output, and hear of
 * each job as it ends through engine_done_fn.
 */
#ifndef ENVCTL_ENGINE_H
#define ENVCTL_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "log.h"
#include "observe.h"
#include "pipeline.h"
#include "plan.h"
#include "store.h"
#include "userdata.h"

struct config;
struct ctl_aws;
struct pipeline_capacity;
struct pipeline_job;
struct spec_tree;

/* ---- the view: the three truths and the plan (engine_view.c) -------- */

/* What one spec takes of a quota (engine_quota.c). */
struct engine_foot {
	unsigned	 vcpus;
	double		 usd_per_hour;
};

/* A spot notice an instance reported (engine_spot.c). */
struct engine_spot {
	char				 env_id[STORE_ID_LEN];
	struct userdata_interrupt	 in;
	char				*name;
	char				*instance_id;
	char				*type;
	char				*region;
};

struct engine_view {
	struct spec_tree	*tree;
	char			*revision;
	/* The pass's correlation id: on its events, run row and log lines. */
	char			 cid[LOG_CID_LEN];
	struct store		*store;
	struct store_pass	 rows;
	struct ctl_aws		**aws;		/* one per region */
	size_t			 naws;
	struct observe_tags	 tags;
	struct observe_instances inst;
	size_t			*inst_region;	/* index into aws, per instance */
	struct plan		*plan;		/* borrows from tree, inst, rows */
	int64_t			*terminated;	/* the window budget's count (store) */
	size_t			 nterminated;
	/* instances EC2 reports shut down idle from inside (plan_input) */
	char			**idle_down;
	size_t			 nidle_down;
	/* quotas (only with some): per tree entry, and the open holds (by env) */
	struct engine_foot	*foot;
	size_t			 nfoot;
	struct store_quota_hold	*holds;
	size_t			 nholds;
	int			 quotas;	/* holds read: quotas configured */
	/* spot notices of ready rows (their interrupted markers) */
	struct engine_spot	*spot;
	/* markers of this cluster's ended incarnations: an acting pass deletes them */
	char			**spot_stale;
	size_t			 nspot_stale;
	size_t			 nspot;
	size_t			 nspot_instances;	/* spot instances discovered */
	size_t			 nspecs, ninvalid, ninstances, nlive;
	int			 aws_calls;
};

/*
 * Load the spec tree, the store's rows and the instances of every region
 * the specs name (plus the default one), then plan.  Fails (nothing to
 * dispose) when any source cannot be read: fail closed, and in that
 * order, so an unreachable database means no AWS call at all.  With
 * check_protection, instances the plan would terminate are checked for
 * termination protection and the plan is made again.
 */
int	 engine_view_load(struct engine_view *, const struct config *, int force,
	    int check_protection, time_t now);
void	 engine_view_dispose(struct engine_view *);
/*
 * Free what planning needed, the bulk of a pass: the spec tree, the
 * instances, the rows and the plan (pv->plan and the arrays become NULL).
 * The store, the revision, the AWS clients and the counts stay until
 * engine_view_dispose().
 */
void	 engine_view_release(struct engine_view *);

/* The AWS clients of the region an instance of pv->inst was found in. */
struct ctl_aws *engine_view_instance_aws(const struct engine_view *, size_t i);
/* The view's AWS clients of region; NULL when it has none there. */
struct ctl_aws *engine_view_region_aws(const struct engine_view *,
	    const char *region);

/* The number of the plan's actions a pass runs as jobs. */
size_t	 engine_view_njobs(const struct engine_view *);

/* ---- quotas (engine_quota.c) ------------------------------------------ */

/* pv->foot for every entry of pv->tree (DescribeInstanceTypes, cached). */
int	 engine_quota_footprints(struct engine_view *pv,
	    const struct config *cfg, time_t now);
/*
 * After a plan: the cluster's open quota holds (store_quota_holds()) into
 * pv->holds; *found 1 when one the plan holds has waited already, and the
 * plan is worth making again with that order.
 */
int	 engine_quota_waits(int *found, struct engine_view *pv);
/* Since when name has waited for a quota; 0: it has not (or no hold yet). */
int64_t	 engine_quota_since(const struct engine_view *pv, const char *name);
/*
 * With quotas configured (pv->quotas): a quota.held event for each
 * environment held for the first time, a quota.released event for each
 * open hold the plan no longer holds (it provisions now, or its spec is
 * gone).
 */
int	 engine_quota_record(const struct engine_view *pv);
void	 engine_quota_dispose(struct engine_view *pv);

/* ---- spot notices (engine_spot.c) ------------------------------------ */

/*
 * When the pass saw a spot instance: ListObjectsV2 of the spot
 * interruption markers (<s3_prefix>/interrupted/, page by page, at most
 * 50 pages), and a GetObject of each whose row is ready, into pv->spot;
 * the keys of markers of this cluster's ended incarnations into
 * pv->spot_stale (nothing is changed: `envctl plan` loads too).  S3 failing
 * is a warning, not a failed pass (EC2 still shows the instance going);
 * what earlier pages found is kept.  Returns 0.
 */
int	 engine_spot_load(struct engine_view *pv, const struct config *cfg);
/* "interruption" or "rebalance" when env_id has a notice, else NULL. */
const char *engine_spot_notice(const struct engine_view *pv, const char *env_id);
/*
 * Before acting: remote.spot.interrupted / remote.spot.rebalance once per
 * instance, and for an interruption the type's spot pools of its region
 * counted as without capacity in capacity (may be NULL); the markers of
 * ended incarnations the load found are deleted (a failure is a warning:
 * a later pass lists them again).
 */
int	 engine_spot_record(const struct engine_view *pv, const struct config *cfg,
	    struct pipeline_capacity *capacity, time_t now);
void	 engine_spot_dispose(struct engine_view *pv);

/* ---- spot prices of running instances (engine_price.c) -------------- */

/*
 * With spot_price_refresh set and a spot instance in the pass (else no
 * query and no call): each open spot compute segment of the cluster whose
 * price was set at least spot_price_refresh ago is continued at its
 * zone's newest spot price when that changed (store_cost_reprice()).
 * Prices are read with one DescribeSpotPriceHistory per (region, type),
 * cached for the process for spot_price_refresh.  A read that fails is
 * a warning (the segment keeps its price).  Returns 0 or the first
 * store error (the other segments are still tried).
 */
int	 engine_price_refresh(const struct engine_view *pv,
	    const struct config *cfg, time_t now);

/* ---- acting (engine.c) ----------------------------------------------- */

/* Called after each job, one call at a time (see pipeline_done_fn). */
typedef void engine_done_fn(const struct pipeline_job *, size_t ndone,
	    size_t njobs, void *arg);

struct engine_exec {
	int		 fenced;	/* under the leader lease's fence (ctl.h) */
	const char	*who;		/* "run", "reconcile": drift.resolved's check */
	engine_done_fn	*done;		/* NULL: a log line per job */
	void		*arg;
	int		 outcomes;	/* fill transitions, provision_s,
					   sla_misses (reads rows back) */
	/*
	 * The pools that just answered "no capacity", kept by the caller
	 * across its passes (keyed by region, market, type and subnet);
	 * NULL: none remembered.
	 */
	struct pipeline_capacity *capacity;
};

struct engine_result {
	size_t	 njobs;		/* actions run */
	size_t	 failed;	/* of which failed */
	int	 waiting;	/* some wait on something outside envctl */
	int	 fenced;	/* the lease's deadline passed: some were not done */
	int64_t	 run;		/* reconcile_runs id, 0 if not recorded */
	/*
	 * With outcomes: the provision time in seconds (the row's
	 * ready_at - created_at, as the remote.provision.ready event has it)
	 * of each environment that became ready in this pass.
	 */
	double	*provision_s;
	size_t	 nprovision;
	/* With outcomes: of those, slower than provision_sla (each has its
	 * provision.sla.missed event). */
	size_t	 sla_misses;
	/*
	 * With outcomes: rows that entered each status through this pass's
	 * jobs, by enum store_status (a live row that went away or was
	 * replaced counts as terminated).
	 */
	size_t	 transitions[STORE_STATUS_TERMINATED + 1];
	/* The jobs in the order they were given to the pool (kind, name, results). */
	struct pipeline_job *jobs;
	struct spec_tree *specs;	/* the jobs' specs */
};

/*
 * 0 when the configuration can run pipelines, else ERR_INVALID ("no S3
 * bucket configured ...").
 */
int	 engine_can_act(const struct config *);

/*
 * Act on pv's plan: close the drift that is gone (drift.resolved, check
 * x->who), run the plan's actions on max_parallel workers (each with its
 * own database connection and AWS clients), and record the pass in
 * reconcile_runs.  The caller has loaded pv, checked it did not halt, and
 * with x->fenced holds the leader lease (ctl_lease_check()): it is
 * checked again before each environment's actions start, and once its
 * deadline passed no more start (they fail as "not started"); a job
 * under way is stopped by its next mutating call or write (ERR_FENCED,
 * nothing rolled back).  ERR_INVALID
 * when the configuration cannot run pipelines (engine_can_act()).  res
 * borrows from pv; free it with engine_result_dispose() before pv.
 */
int	 engine_execute(struct engine_result *res, const struct config *cfg,
	    const struct engine_view *pv, const struct engine_exec *x);
void	 engine_result_dispose(struct engine_result *);

/* ---- drift and run rows (engine_drift.c) ----------------------------- */

/*
 * Record drift of pv->plan in pv->store, once per fact (the way Argo CD
 * records an OutOfSync transition, not every refresh): a drift action
 * whose fact (pipeline_drift_fact()) is the environment's open drift
 * (pipeline_drift_open()) records nothing; any other gets a
 * drift.detected event: payload {"env", "kind", "reason", "instance_id",
 * "spec_hash" (desired), "recorded_hash" (the row's), "instance_hash"
 * (the instance's tag), "revision", "check", "fact"}, check naming who
 * looked ("drift" or "run").  engine_drift_resolve() runs first.
 * *ndrift gets the number of drift actions (recorded now or before).
 * Returns 0, or the first store error (the others are still tried).
 */
int	 engine_drift_record(size_t *ndrift, const struct engine_view *pv,
	    const char *check);

/*
 * Close the open drift of every live environment that no longer drifts:
 * a drift.resolved event {"env", "fact" (of the drift it closes),
 * "kind" and "reason" (the plan's action now), "instance_id",
 * "revision", "check"}, so the same drift coming back is recorded again.
 * One query finds the rows whose drift may be open (the first call of a
 * process); only their events are read.  Returns 0 or the first
 * store error (that row is looked at again next pass).
 */
int	 engine_drift_resolve(const struct engine_view *pv, const char *check);

/*
 * The deletions pv->plan holds (BLOCKED): a termination.held event the
 * first time an instance's termination is held by a deletion budget
 * (payload {"env", "instance_id", "kind" (held), "reason", "revision"};
 * once per instance, whatever the passes after), and a log line per
 * rule that holds something, once per revision (the empty tree, the
 * budgets, termination protection).  Returns 0 or the store's error.
 */
int	 engine_held_record(const struct engine_view *pv);

/*
 * Stops and starts nobody asked envctl for (§6.8): a ready row whose
 * instance the pass saw stopped while the row knows no stop (the idle
 * watcher's shutdown, the console) gets stopped_at = now and event
 * `remote.idle.stopped` (once: the row then knows); one seen running
 * while the row says stopped gets its stopped time booked and event
 * `remote.start` with "observed": true, stopped_seconds and saved_usd.
 * 0, or the first error (every row is still tried).
 */
int	 engine_stops_record(const struct engine_view *pv, time_t now);

/*
 * A reconcile_runs row for pv's pass that acted on nothing: counts by
 * plan kind (plus "drift_check": 1 when drift_check, a pass that only
 * looked), drift_found = ndrift, errors, error (NULL: ran to its end).
 * *run_id gets the row's id (0 when it could not be written).
 */
int	 engine_run_record(long long *run_id, const struct engine_view *pv,
	    size_t ndrift, int errors, const char *error, int drift_check);

/*
 * `envctl stop` / `envctl start` (docs/design.md §6.8): the live row of
 * name, its region's AWS clients and a pipeline over them, opened by
 * engine_power_open() (store and aws are the caller's to read, e.g. for
 * the audit record); engine_power_run() stops or starts (waiting up to
 * wait_s for readiness); engine_power_close() frees (also after a
 * failed open).
 *
 * Without a live row, an environment whose newest incarnation is parked
 * (it shut itself down idle, on_idle: terminate) opens with parked set
 * and row that ended row: start un-parks it (clears the mark, event
 * remote.unpark with who, the caller's words for the person asking) and
 * the next pass provisions it; stop refuses (nothing runs).
 */
struct engine_power {
	struct store		*store;
	struct ctl_aws		*aws;
	struct pipeline		*pl;
	struct pipeline_opts	 opts;
	struct store_env	 row;
	int			 have_row;
	int			 parked;	/* row is the parked ended row */
	const char		*who;		/* for remote.unpark; NULL: "" */
};
int	 engine_power_open(struct engine_power *, const struct config *,
	    const char *name, const char *cid);
int	 engine_power_run(struct engine_power *, int start, unsigned wait_s);
/*
 * After un-parking: wait up to wait_s for a pass (the controller's, or
 * a `reconcile`) to provision the environment again (a live row, ready
 * and running), polling the store; then ep->row is that row.
 * ERR_TIMEOUT when no pass did.
 */
int	 engine_power_wait_ready(struct engine_power *, unsigned wait_s);
void	 engine_power_close(struct engine_power *);

#endif
