/*
 * drift.h - drift.detected events and drift-check run rows, shared by
 * envctl drift and envctl run.
 */
#ifndef ENVCTL_DRIFT_H
#define ENVCTL_DRIFT_H

#include <stddef.h>

struct pass_view;

/*
 * Record drift of pv->plan in pv->store, once per fact (the way Argo CD
 * records an OutOfSync transition, not every refresh): a drift action
 * whose fact (pipeline_drift_fact()) is the environment's open drift
 * (pipeline_drift_open()) records nothing; any other gets a
 * drift.detected event: payload {"env", "kind", "reason", "instance_id",
 * "spec_hash" (desired), "recorded_hash" (the row's), "instance_hash"
 * (the instance's tag), "revision", "check", "fact"}, check naming who
 * looked ("drift" or "run").  drift_resolved_record() runs first.
 * *ndrift gets the number of drift actions (recorded now or before).
 * Returns 0, or the first store error (the others are still tried).
 */
int	 drift_events_record(size_t *ndrift, const struct pass_view *pv,
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
int	 drift_resolved_record(const struct pass_view *pv, const char *check);

/*
 * A reconcile_runs row for pv's pass: counts by plan kind (plus
 * "drift_check": 1 when drift_check, a pass that only looked),
 * drift_found = ndrift, errors, error (NULL: ran to its end).  *run_id
 * gets the row's id (0 when it could not be written).
 */
int	 drift_run_record(long long *run_id, const struct pass_view *pv,
	    size_t ndrift, int errors, const char *error, int drift_check);

#endif
