/*
 * run_http.h - what envctl run shows (run_http.c): its metrics, the
 * status pages' view of the last pass, and the HTTP routes serving them.
 */
#ifndef ENVCTL_RUN_HTTP_H
#define ENVCTL_RUN_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "httpd.h"
#include "metrics.h"
#include "store.h"

struct engine_result;
struct engine_view;
struct runner;

#define EVENTS_SHOWN		50	/* events kept for /api/events and / */
#define HELD_SHOWN		200	/* held actions kept for the pages */

struct run_metrics {
	struct metrics_metric	*envs, *passes, *actions, *duration, *last_ok;
	struct metrics_metric	*leader, *db_up, *reconfig, *aws_calls, *held;
	struct metrics_metric	*aws_failures, *aws_retries, *aws_throttled;
	/* process-wide AWS counters (lib/aws) and pacing, synced at each scrape */
	struct metrics_metric	*aws_requests, *aws_attempts, *aws_throttles;
	struct metrics_metric	*pace_wait, *pace_waits, *pace_rate;
	struct metrics_metric	*provision;	/* seconds to ready, per environment */
	struct metrics_metric	*transitions;	/* statuses rows entered */
	struct metrics_metric	*prov_errors;	/* failed provisions, region+stage */
	struct metrics_metric	*sla_misses;	/* provisions over provision_sla */
	struct metrics_metric	*instances;	/* the last pass's, by EC2 state */
	struct metrics_metric	*http_dropped;	/* lib/httpd's limits, at each scrape */
	struct metrics_metric	*cost_total;	/* booked USD by workspace (ledger) */
	struct metrics_metric	*cost_rate;	/* USD per hour now by workspace */
};

/*
 * What the pages show, from one pass: a small record per live
 * environment and the recent events, every string of them in one block
 * (lent to the pages one environment at a time: httpd_status_envs).  At
 * 10,000 environments that is about 0.8 MB, held between passes.
 */
struct run_view_env {
	uint32_t	 strs;		/* offset in strs: name, then RUN_VIEW_* */
	uint8_t		 status;	/* enum store_status */
	uint8_t		 stage;		/* enum store_stage */
	uint8_t		 state;		/* 1 + index of a known EC2 state; 0 none */
	uint8_t		 has;		/* RUN_VIEW_*: the strings after the name */
	int64_t		 age;		/* seconds; negative: unknown */
	double		 cost;		/* USD so far */
	double		 rate;		/* USD per hour now */
	int32_t		 provision_s;	/* row to ready; negative: not ready */
};
/*
 * The actions a pass held (BLOCKED: the empty tree, termination
 * protection, the deletion budgets), the first HELD_SHOWN of them with
 * their strings copied (the pass's are gone once it is released).
 */
struct run_held {
	struct httpd_status_held *v;	/* its strings are strs' */
	char			**strs;		/* 3 per entry: env, instance, reason */
	size_t			 n, total;
};
struct run_view {
	struct run_held		 held;
	struct run_view_env	*envs;
	size_t			 nrows;
	struct httpd_status_event *events;
	size_t			 nevrows;
	char			*strs;
};
/* The pages' list of environments from v (borrows v). */
void	 run_view_envs(struct httpd_status_envs *out, const struct run_view *v);

/* The EC2 state of each instance a pass saw, sorted by id. */
struct run_state {
	char	id[24];		/* "i-" and 17 hex digits */
	char	state[16];
};
struct run_states {
	struct run_state	*v;
	size_t			 n;
};

/* Register envctl run's metrics in a new r->reg; 0 or ERR_GENERIC. */
int	 run_metrics_new(struct runner *r);
/* Fold a finished pass into the metrics (thread-safe: called by the pass). */
void	 run_metrics_pass(struct runner *r, const struct engine_view *pv);
/*
 * The cost ledger by workspace after a pass: booked so far (counter-like:
 * it only grows) and the rate now, by the cost rule.  A ledger that
 * cannot be read leaves the last figures (and logs why).
 */
void	 run_metrics_cost(struct runner *r, struct store *st);
/* What a pass's actions did (engine_execute() with outcomes), counted. */
void	 run_metrics_outcomes(struct runner *r, const struct engine_result *res);
/*
 * Copy lib/aws's process-wide counters of calls (by service, action and
 * code) and the pacers' figures into the registry (before a scrape).
 */
void	 run_metrics_aws(struct runner *r);
/* Copy the states of pv's instances (free with run_states_free()). */
void	 run_states_take(struct run_states *out, const struct engine_view *pv);
void	 run_states_free(struct run_states *);
/*
 * Fill v from the database as a pass leaves it: the live rows (read one
 * at a time, never all at once) with the EC2 state of each row's
 * instance from states, and the recent events.  v owns it all;
 * run_view_clear() frees it and zeroes v.  Read failures are logged and
 * leave that part empty.
 */
void	 run_view_build(struct run_view *v, struct store *st,
	    const struct run_states *states);
/* Copy what pv's plan holds (free with run_held_free()). */
void	 run_held_take(struct run_held *out, const struct engine_view *pv);
void	 run_held_free(struct run_held *);
void	 run_view_clear(struct run_view *v);
/*
 * Listen on addr with the routes /healthz, /metrics, /api/environments,
 * /api/events and /; "" means off (*out NULL, 0).  Handlers read r's
 * loop-owned state: call httpd_handle() from the loop's thread only.
 */
int	 run_httpd_open(struct httpd **out, struct runner *r, const char *addr);

#endif
