/*
 * plan.h - the reconcile planner: a pure function from what should be
 * (the spec tree), what is (EC2, by tag) and what was (the rows in
 * PostgreSQL) to an ordered list of actions (docs/design.md §2).
 *
 * plan_build() does no I/O, reads no clock (now is an argument), keeps
 * no state between calls and allocates only its result (plus scratch it
 * frees before returning).  Same inputs, same list, same order (in
 * whatever order the inputs come).  It runs in O(n log n): the three
 * inputs are sorted by environment name (radix sort on a 16-byte
 * prefix, merge sort for ties) and merged; an instance is tied to its
 * row through a hash table of env ids.
 *
 * The input structs below are plain data owned by the caller; glue code
 * elsewhere fills them from the spec tree, the DescribeInstances results
 * and the store rows.  They need to live only for the duration of the
 * call: the result copies every string it shows and refers back to the
 * inputs only by index (desired_index, instance_index, record_index).
 *
 * Decisions beyond the table in docs/design.md §2 (each one tested):
 *  - Fail closed: if the spec source is unusable, discovery failed or
 *    the store is unreachable, the plan is exactly one PLAN_HALT action
 *    naming what failed, and nothing else.
 *  - Instances whose cluster tag is not config.cluster_id, that lack
 *    envctl:managed=true, or that are terminated are ignored (counted in
 *    plan_ignored()), never acted on.
 *  - An instance belongs to the live row whose env id its env-id tag
 *    names; otherwise to the environment its env tag names ("" if none).
 *  - shutting-down instances are going away: they neither count as
 *    existing nor get terminated again.  stopping/stopped instances do
 *    exist (a second one is never provisioned beside them); for a desired
 *    environment whose row is ready they are a legitimate state, NOOP
 *    "stopped" (or "stopping"): not drift, not replaced even if the spec
 *    changed (that is acted on once it runs again), never an orphan;
 *    TTL and spec removal still terminate them.  With a provisioning row
 *    they give ADVANCE (the pipeline's ready_timeout decides).
 *  - A live row in `terminating` is finished first (TERMINATE, or CLOSE
 *    without instance) even if its spec is desired again; a later pass
 *    provisions a new incarnation.
 *  - Drift compares the instance's spec-hash tag with the spec's hash.
 *    Hashes of different canonical-form versions ("v1:" vs "v2:") are not
 *    drift (NOOP with a note; the pipeline re-stamps the tag).  A missing
 *    tag is reported (DRIFT_REPORT), never replaced automatically.
 *  - Two live instances for one incarnation (same env id): the one the
 *    row names is kept (failing that, the oldest launch, then lowest id);
 *    the others are terminated ("duplicate instance").  A live instance
 *    of the environment whose env id no live row knows is an orphan
 *    candidate; so is one whose row has ended (never adopted).
 *  - ADOPT happens only for a valid desired spec with no live row and an
 *    instance carrying an env-id tag; the adopted instance is the running
 *    one, then oldest launch, then lowest id; other unknown instances of
 *    that name are orphan candidates.
 *  - ORPHAN needs a launch time at least orphan_grace old; a younger or
 *    unknown launch time gives NOOP ("orphan grace").
 *  - TTL: a valid desired environment whose live row was created (or,
 *    without created_at, launched) ttl seconds or more ago is terminated
 *    (TERMINATE, or CLOSE when no instance exists), reason "ttl expired".
 *    If the latest ended row of that name was ended by TTL (ttl_expired)
 *    with the same spec hash, nothing is provisioned again until the spec
 *    changes (NOOP "ttl expired").
 *  - Parked (§6.8): a ready row whose instance is listed in
 *    in->idle_shutdown gives CLOSE with reason PLAN_REASON_PARK (not
 *    DRIFT_GONE: nothing is provisioned); the close marks the ended row
 *    parked.  If the latest ended row of a name is parked, its spec hash
 *    the spec's (or an older canonical form of it), nothing is
 *    provisioned: NOOP "parked (idle; `envctl start NAME`)".  A spec
 *    change, or `envctl start` clearing the mark, provisions again.
 *  - Errored rows: a spec hash different from the row's (same version)
 *    retries at once with attempts reset; otherwise attempts >=
 *    max_attempts gives GAVE_UP, now < next_attempt_at gives BACKOFF, and
 *    anything else RETRY.  next_attempt_at is set by the pipeline with
 *    plan_backoff_delay(); 0 means "no wait".
 *  - Empty tree (flag set or no entries) without allow_empty: every
 *    TERMINATE, CLOSE, ORPHAN (and REPLACE) becomes BLOCKED.  GC of ended
 *    incarnations is still planned (it touches nothing live).
 *  - Termination protection turns TERMINATE, REPLACE and ORPHAN into
 *    BLOCKED; it does not use the budget.  Then the deletion budgets:
 *    the first max_terminations_per_pass TERMINATE/REPLACE/ORPHAN in plan
 *    order go ahead, later ones are BLOCKED, unless force; and of those,
 *    only as many as the window budget has left (budget_count less the
 *    in->terminated inside the last budget_window seconds), the rest
 *    BLOCKED "termination budget N/W used (...); held until T", T being
 *    when the window has room for one more (unless force).
 *  - An invalid spec leaves its environment alone: one NOOP "invalid
 *    spec, left alone", nothing else for that name except GC.
 *  - Spot notice: a ready row with spot_notice whose instance still
 *    exists (any state but shutting-down) is replaced at once: REPLACE
 *    "spot interruption notice (<kind>)", no drift or orphan timer; its
 *    instance gone, DRIFT_GONE says the notice.  Budgets and
 *    protection apply as to any REPLACE.
 *  - GC: one action per ended row flagged has_leftovers.
 *  - Quotas (config.quotas): what live rows use is counted per quota;
 *    then the PROVISION actions, those that have waited longest first
 *    (waiting_since, 0 last), then by name, go ahead while every quota
 *    of theirs (their workspace's and the cluster's) has room; the rest
 *    are BLOCKED "quota <scope>: <what> <used> + <need> > <max>".  Only
 *    new incarnations are held: retries, replacements and adoptions keep
 *    what their environment already has.
 *
 * Order: by environment name (bytewise; instances without an env tag,
 * key "", first); within one environment the current incarnation's
 * action(s), then the other instances by instance id, then GC of ended
 * rows, newest first (created_at, then env id).  The deletion budget is
 * spent in this order.
 */
#ifndef ENVCTL_PLAN_H
#define ENVCTL_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- inputs ---------------------------------------------------------- */

enum plan_on_drift {
	PLAN_ON_DRIFT_REPLACE = 0,
	PLAN_ON_DRIFT_REPORT,
};

/* One entry of the spec tree.  An invalid entry still carries its name. */
struct plan_desired {
	const char		*name;		/* required, non-empty, unique */
	bool			 valid;
	const char		*spec_hash;	/* "v1:..."; required when valid */
	enum plan_on_drift	 on_drift;
	int64_t			 ttl;		/* seconds; 0 = none */
	const char		*workspace;	/* may be NULL */
	/*
	 * For quotas: what one instance of it takes (vCPUs of its type,
	 * on-demand-equivalent dollars per hour), and since when a new
	 * incarnation of it has waited for a quota (0: it has not).
	 */
	unsigned		 vcpus;
	double			 usd_per_hour;
	int64_t			 waiting_since;
};

struct plan_desired_set {
	const struct plan_desired *v;
	size_t			 n;
	bool			 source_usable;	/* false: fail closed */
	bool			 tree_empty;	/* also implied by n == 0 */
};

enum plan_instance_state {
	PLAN_INSTANCE_PENDING = 0,
	PLAN_INSTANCE_RUNNING,
	PLAN_INSTANCE_STOPPING,
	PLAN_INSTANCE_STOPPED,
	PLAN_INSTANCE_SHUTTING_DOWN,
	PLAN_INSTANCE_TERMINATED,	/* ignored if discovery returns it */
};

/* One instance from DescribeInstances, tags already decoded (NULL = tag absent). */
struct plan_instance {
	const char		*instance_id;	/* required, unique */
	enum plan_instance_state state;
	bool			 managed;	/* envctl:managed=true */
	const char		*cluster_id;
	const char		*env_name;
	const char		*env_id;
	const char		*spec_hash;
	int64_t			 launch_time;	/* unix seconds; 0 = unknown */
	bool			 termination_protection;
	const char		*market;	/* informational */
};

struct plan_observed {
	const struct plan_instance *v;
	size_t			 n;
	bool			 ok;		/* discovery succeeded; false: fail closed */
};

enum plan_record_status {
	PLAN_STATUS_PENDING = 0,
	PLAN_STATUS_PROVISIONING,
	PLAN_STATUS_READY,
	PLAN_STATUS_ERROR,
	PLAN_STATUS_TERMINATING,
	PLAN_STATUS_TERMINATED,		/* ended row: only for GC and TTL memory */
};

enum plan_record_stage {
	PLAN_STAGE_INIT = 0,
	PLAN_STAGE_KEYS_GENERATED,
	PLAN_STAGE_KEYS_UPLOADED,
	PLAN_STAGE_SG_READY,
	PLAN_STAGE_INSTANCE_LAUNCHED,
	PLAN_STAGE_TAGGED,
	PLAN_STAGE_DONE,
	PLAN_STAGE_COUNT	/* not a stage: how many there are */
};

/*
 * One row of `environments`.  Live rows (status below TERMINATED) are
 * at most one per name.  Ended rows are optional: pass the latest one
 * per name (for TTL memory) and those with leftovers (for GC).
 */
struct plan_record {
	const char		*env_id;	/* required, unique */
	const char		*name;		/* required, non-empty */
	enum plan_record_status	 status;
	enum plan_record_stage	 stage;
	const char		*spec_hash;
	const char		*instance_id;	/* NULL until recorded */
	unsigned		 attempts;
	int64_t			 next_attempt_at;	/* 0 = none */
	int64_t			 launched_at;
	int64_t			 ready_at;
	int64_t			 created_at;
	bool			 ttl_expired;	/* ended rows: ended by TTL */
	bool			 has_leftovers;	/* ended rows: keys/rules remain */
	bool			 parked;	/* ended rows: parked when idle (§6.8) */
	/*
	 * Set when the pipeline refused to touch a resource of this row
	 * that is not envctl's (docs/design.md §3.9): why.  Every action on
	 * the row that would run a job is `blocked` with it.
	 */
	const char		*not_ours;
	const char		*workspace;	/* may be NULL (quotas) */
	/*
	 * A spot notice the instance reported through its interrupted
	 * marker: "interruption" or "rebalance"; NULL: none.
	 */
	const char		*spot_notice;
};

struct plan_records {
	const struct plan_record *v;
	size_t			 n;
	bool			 ok;		/* store reachable; false: fail closed */
};

/*
 * A quota: of one workspace, or of the whole cluster (workspace NULL).
 * A zero limit is no limit.  Live rows use it (their workspace and
 * footprint are their desired entry's; a row whose spec is gone counts
 * as one environment of its record's workspace, NULL: of the cluster
 * only); a new incarnation (PROVISION) that would go over it is BLOCKED
 * "quota ...".  Nothing already live is ever terminated for a quota.
 */
struct plan_quota {
	const char	*workspace;
	unsigned	 max_envs;
	unsigned	 max_vcpus;
	double		 max_usd_per_hour;
};

/* Start from plan_config_init(); a zeroed config has a deletion budget of 0. */
struct plan_config {
	const char	*cluster_id;			/* required */
	bool		 allow_empty;
	unsigned	 max_terminations_per_pass;	/* default 10 */
	/*
	 * The deletion budget over time (termination_budget): at most
	 * budget_count terminations in any budget_window seconds, counting
	 * plan_input.terminated (the ones already made) and this pass's.
	 * budget_window 0: no such budget.  Defaults 10 in 600 s.
	 */
	unsigned	 budget_count;
	int64_t		 budget_window;
	bool		 force;				/* lifts both budgets */
	int64_t		 orphan_grace;			/* default 600 s */
	int64_t		 backoff_base;			/* default 30 s */
	int64_t		 backoff_cap;			/* default 3600 s */
	unsigned	 max_attempts;			/* default 5; 0 = no limit */
	const struct plan_quota *quotas;		/* borrowed; none by default */
	size_t		 nquotas;
};

struct plan_input {
	struct plan_desired_set	 desired;
	struct plan_observed	 observed;
	struct plan_records	 records;
	struct plan_config	 config;
	int64_t			 now;		/* unix seconds */
	/*
	 * When the terminations the window budget counts were made (unix
	 * seconds, any order): the caller reads them from the store; times
	 * at or before now - budget_window are not counted.
	 */
	const int64_t		*terminated;
	size_t			 nterminated;
	/*
	 * Instances EC2 reports shut down from inside (shutting-down or
	 * terminated, stateReason Client.InstanceInitiatedShutdown) that
	 * belong to ready rows of specs with on_idle: terminate and an
	 * idle_stop in force: the caller looks them up (they are no longer
	 * discovered) and lists their ids here, any order.
	 */
	const char *const	*idle_shutdown;
	size_t			 nidle_shutdown;
};

/* The reason of a CLOSE that parks an idle-terminated environment. */
#define PLAN_REASON_PARK	"idle shutdown (on_idle: terminate): parked"

/* ---- output ---------------------------------------------------------- */

enum plan_kind {
	PLAN_NOOP = 0,		/* =  nothing to do (listed for plan -v) */
	PLAN_PROVISION,		/* +  new incarnation */
	PLAN_RETRY,		/* +  provision again after an error */
	PLAN_ADVANCE,		/* >  continue a provisioning pipeline */
	PLAN_REPLACE,		/* ~  drift, on_drift=replace: terminate + provision */
	PLAN_DRIFT_REPORT,	/* !  drift, on_drift=report (or not safe to fix) */
	PLAN_DRIFT_GONE,	/* !  instance gone out of band: record, provision */
	PLAN_ADOPT,		/* &  rebuild a lost row from tags */
	PLAN_TERMINATE,		/* -  terminate pipeline */
	PLAN_CLOSE,		/* -  close a live row without instance */
	PLAN_ORPHAN,		/* ?  terminate an orphan, event */
	PLAN_GC,		/* *  garbage-collect an ended incarnation's leftovers */
	PLAN_BLOCKED,		/* #  held back by a safety rule (see held) */
	PLAN_BACKOFF,		/* #  errored, waiting for next_attempt_at */
	PLAN_GAVE_UP,		/* #  attempt limit reached for this spec hash */
	PLAN_HALT,		/* #  fail closed: the pass changes nothing */
	PLAN_KIND_COUNT
};

#define PLAN_NONE	SIZE_MAX	/* an index that refers to no input */

struct plan_action {
	enum plan_kind	 kind;
	enum plan_kind	 held;		/* BLOCKED: what was held back; else == kind */
	const char	*name;		/* environment; "" when unknown. Never NULL */
	const char	*env_id;	/* incarnation acted on; NULL when none */
	const char	*instance_id;	/* instance acted on or looked at; NULL when none */
	const char	*reason;	/* human-readable; may quote tag values (escape before logging) */
	int64_t		 next_attempt_at;	/* BACKOFF: when; else 0 */
	size_t		 desired_index;	/* into input desired.v, or PLAN_NONE */
	size_t		 instance_index;	/* into observed.v, or PLAN_NONE */
	size_t		 record_index;	/* into records.v, or PLAN_NONE */
};

struct plan;

/* Fill *cfg with the defaults above (cluster_id NULL, booleans false). */
void		 plan_config_init(struct plan_config *cfg);

/*
 * Seconds to wait after the attempts-th failed attempt:
 * backoff_base * 2^(attempts-1), at most backoff_cap; 0 for attempts 0.
 */
int64_t		 plan_backoff_delay(const struct plan_config *cfg, unsigned attempts);

/*
 * Plan one pass.  On success *out is a new plan the caller frees with
 * plan_free().  Its actions' name, env_id and instance_id are the input's
 * strings (not the input's arrays, which may go): the strings must outlive
 * the plan, which is what a pass does anyway (10,000 no-op actions copied
 * were 0.65 MB of a pass's peak).  Reasons are the plan's own.  Fails
 * with ERR_INVALID (and err_set()) on malformed input: a missing required
 * field, two desired entries or live rows with one name, two rows with one
 * env id, two instances with one id.  Fail-closed conditions are not errors: they
 * give a plan holding one PLAN_HALT.
 */
int		 plan_build(struct plan **out, const struct plan_input *in);
void		 plan_free(struct plan *);

size_t		 plan_count(const struct plan *);
/* The i-th action (i < plan_count()); valid until plan_free(). */
const struct plan_action *plan_action_at(const struct plan *, size_t i);
/* How many actions of this kind (BLOCKED counts as BLOCKED). */
size_t		 plan_count_kind(const struct plan *, enum plan_kind);
/* True when any action is a change (plan_kind_is_change): exit code 2. */
bool		 plan_has_changes(const struct plan *);
/* True when the pass failed closed (PLAN_HALT): exit code 1. */
bool		 plan_halted(const struct plan *);
/* Instances skipped as not ours (other cluster, unmanaged, terminated). */
size_t		 plan_ignored(const struct plan *);
/* Bytes of memory held by the result (benchmarks). */
size_t		 plan_mem_bytes(const struct plan *);

/*
 * What a job of a kind waits on, once it has run without failing: the
 * next pass is then worth making soon rather than at the resync
 * interval.  (A failed job waits whatever its kind.)
 */
enum plan_wait {
	PLAN_WAIT_NEVER = 0,	/* done when it returns */
	PLAN_WAIT_UNTIL_DONE,	/* provisioning: until the row's stage is DONE */
	PLAN_WAIT_WHILE_LEFT,	/* GC: while the security group is left (the
				   instance is still shutting down) */
	PLAN_WAIT_ALWAYS,	/* drift report: until a human acts */
};

/* The properties of a kind: one table in plan.c, the only place they are listed. */
struct plan_kind_info {
	const char	*name;		/* "provision", "drift-report", ... */
	char		 symbol;	/* the `envctl plan` column */
	bool		 runs;		/* a pipeline job runs it */
	bool		 provisions;	/* runs the provision pipeline (DONE = ready) */
	bool		 is_drift;	/* drift found: REPLACE, DRIFT_REPORT, DRIFT_GONE */
	enum plan_wait	 waits;
	/* what it does to the fleet's cost per hour: PLAN_COST_* bits */
	unsigned	 cost;
};

/* plan_kind_info().cost: adds an instance's rate, ends one (or both). */
#define PLAN_COST_ADDS	0x1u
#define PLAN_COST_ENDS	0x2u

/* The safety rule that made an action BLOCKED (docs/design.md §3.2-§3.5). */
enum plan_hold {
	PLAN_HOLD_NONE = 0,	/* not BLOCKED */
	PLAN_HOLD_EMPTY,	/* "empty-tree" */
	PLAN_HOLD_PROTECTION,	/* "protection" */
	PLAN_HOLD_PASS,		/* "pass-budget": max_terminations_per_pass */
	PLAN_HOLD_WINDOW,	/* "window-budget": termination budget over time */
	PLAN_HOLD_QUOTA,	/* "quota": a provision over a quota */
	PLAN_HOLD_COUNT
};

/* Which rule holds a (read from the reason the planner gave it). */
enum plan_hold	 plan_action_hold(const struct plan_action *a);
/* "empty-tree", "protection", "pass-budget", "window-budget", "quota"; "none". */
const char	*plan_hold_name(enum plan_hold);
/* The rule's words in a's reason (after "; held: "); "" when not BLOCKED. */
const char	*plan_action_held_why(const struct plan_action *a);

/* The properties of kind; an out-of-range kind gets "unknown", '?', all false. */
const struct plan_kind_info *plan_kind_info(enum plan_kind);
/* "INIT", ..., "DONE" (the store's spelling); "?" out of range. */
const char	*plan_stage_name(enum plan_record_stage);
/* "provision", "terminate", ...; "unknown" for an out-of-range kind. */
const char	*plan_kind_name(enum plan_kind);
/* The `envctl plan` column: + - ~ ! ? = > # & * (see enum plan_kind). */
char		 plan_kind_symbol(enum plan_kind);
/* Actions of the kinds that are drift (is_drift; BLOCKED ones not counted). */
size_t		 plan_count_drift(const struct plan *);
/*
 * Whether a kind means "not converged" for exit code 2: everything but
 * NOOP and HALT (BLOCKED, BACKOFF and GAVE_UP are held or failed changes
 * an operator must see; ADVANCE is work in flight).
 */
bool		 plan_kind_is_change(enum plan_kind);

#endif
