/*
 * pipeline.h - the provision and terminate pipelines (docs/design.md §6):
 * the only code that changes anything in AWS.
 *
 * A struct pipeline is one worker's tools: its own store connection and
 * the AWS clients of one region (borrowed), plus the pass's settings.
 * It is not thread-safe: one per worker and region.
 *
 * Provision is an explicit state machine over the row's stage:
 *
 *   INIT -> KEYS_GENERATED -> KEYS_UPLOADED -> SG_READY ->
 *   INSTANCE_LAUNCHED -> TAGGED -> DONE
 *
 * one function per transition; each transition's facts (S3 key path,
 * security group id, instance id, ...) are written to the row before
 * the next step relies on them, so a crash anywhere is resumed (or
 * rolled back) by the next pass.  Readiness is never waited for: every
 * pass checks once (pipeline_advance()) and returns.
 *
 * Rollback undoes exactly what exists, in reverse: the instance (found
 * by id or by its env-id tag), the security group (envctl-<env-id>),
 * the S3 objects under <s3_prefix>/<env-id>/, the key pair
 * envctl-<env-id>; then status error, {error, failed_at_stage},
 * attempts+1, next_attempt_at after the backoff.
 *
 * Failpoints (test builds): "provision.<step>.before" / ".after" and
 * "terminate.<step>.before" / ".after" around every AWS call and every
 * database write; the list is in docs/failpoints.md (pipeline section)
 * and in the table pipeline_failpoints[] below.
 */
#ifndef ENVCTL_PIPELINE_H
#define ENVCTL_PIPELINE_H

#include <stddef.h>
#include <time.h>

#include "plan.h"

struct aws_client;
struct aws_creds_provider;
struct ec2_client;
struct ec2_spot_price;
struct ec2_spot_price_list;
struct ec2_instance;
struct spec;
struct store;
struct store_brief;
struct store_env;
struct pipeline_prices;
struct pipeline_capacity;

/* ready_checks bits. */
enum {
	PIPELINE_CHECK_STATUS	= 1u << 0,	/* DescribeInstanceStatus ok/ok */
	PIPELINE_CHECK_SSH	= 1u << 1,	/* TCP ready_ssh_port answers */
	PIPELINE_CHECK_MARKER	= 1u << 2,	/* bootstrap marker in S3, ready */
	PIPELINE_CHECK_HOSTKEY	= 1u << 3,	/* marker fingerprint on the console */
	PIPELINE_CHECK_ALL	= 0xf,
};

/* Settings of a pass; strings borrowed, they must outlive the pipeline. */
struct pipeline_opts {
	const char		*bucket;	/* s3_bucket, required */
	const char		*s3_prefix;	/* "envctl" */
	const char		*cluster_id;
	const char		*tag_prefix;	/* "envctl"; names: observe_tags_init() */
	const char		*revision;	/* spec revision for new rows */
	const char		*correlation_id; /* of the pass, on the jobs' log lines */
	unsigned		 ready_checks;	/* PIPELINE_CHECK_* */
	int			 ready_ssh_port; /* the ssh check's port; 0: 22 */
	long long		 idle_stop_s;	/* idle_stop fleet default; 0: off */
	const struct pipeline_prices *prices;	/* price_table; NULL: built-in */
	/* The secret namespace (spec.h; NULL: the defaults, "": off). */
	const char		*secret_env_prefix;
	const char		*secret_ssm_prefix;
	const char		*secrets_dir;	/* NULL or "": no file secrets */
	const char		*secret_ssm_region; /* NULL: the pipeline's */
	struct pipeline_capacity *capacity;	/* shared, borrowed; NULL: none */
	struct plan_config	 plan;		/* backoff settings */
	time_t			(*clock)(void);	/* NULL: time() */
	/* Pauses of the waits for EC2's eventual consistency; NULL: nanosleep. */
	void			(*sleep_ms)(unsigned ms);
};

struct pipeline;

/*
 * A pipeline over store (borrowed: the worker's own connection) and the
 * AWS client of one region (borrowed, with ec2 made over it; creds is
 * the provider aws signs with, borrowed too).  An S3 client is made over
 * aws.  The caller frees it with pipeline_free().
 */
int	 pipeline_new(struct pipeline **out, struct store *store,
	    struct aws_client *aws, struct ec2_client *ec2,
	    struct aws_creds_provider *creds, const struct pipeline_opts *opts);
void	 pipeline_free(struct pipeline *);

/*
 * The pools (region, market, instance type, subnet) that just answered
 * "no capacity", remembered PIPELINE_CAPACITY_TTL seconds so that the
 * next launches go straight to the next pool.  Its owner (the engine)
 * creates one, lends it to every pipeline of every pass (opts.capacity)
 * and frees it after the last; the pipelines use it from any thread.
 */
#define PIPELINE_CAPACITY_TTL	300
int	 pipeline_capacity_new(struct pipeline_capacity **out);
void	 pipeline_capacity_free(struct pipeline_capacity *);
/*
 * Count every spot pool of (region, type) as without capacity from now,
 * for PIPELINE_CAPACITY_TTL: an instance of it just got a spot
 * interruption notice, so a replacement whose spec falls back launches
 * on-demand rather than where EC2 is taking instances back (without a
 * fallback the last spot pool is still tried).  c NULL: nothing.
 */
void	 pipeline_capacity_spot_interrupted(struct pipeline_capacity *c,
	    const char *region, const char *type, time_t now);

/*
 * Spot interruption markers: the watcher on a spot instance PUTs
 * <s3_prefix>/interrupted/<env-id>.json (docs/design.md §6.7.1), one
 * prefix for the fleet so that a pass lists them with one call.
 */
#define PIPELINE_SPOT_MARKER_DIR	"interrupted"

/* Parse "status,ssh,marker,hostkey" (any subset) into *out; ERR_INVALID else. */
int	 pipeline_checks_parse(unsigned *out, const char *s);

/*
 * One action of a plan with everything it needs, borrowed from the pass
 * (spec tree, rows, instances).  row is the pass's brief row of the
 * environment (NULL: none); the pipeline takes only its id from it and
 * reads the whole row (store_env_get) before it changes anything.  spec
 * and spec_hash are NULL for an environment no spec asks for; inst is
 * the instance the plan acts on (NULL if none).
 */
struct pipeline_job {
	enum plan_kind			 kind;
	const char			*name;
	const char			*reason;
	const struct spec		*spec;
	const char			*spec_hash;
	const char			*workspace;
	const struct store_brief	*row;
	const struct ec2_instance	*inst;
	/*
	 * The status checks of the row's instance as the pass fetched them
	 * for every environment waiting to be ready (one call per 100
	 * instances); NULL: not fetched, the pipeline asks for itself.
	 */
	const struct ec2_instance_status *status;
	const char			*region;
	/* results */
	int				 result;	/* 0 or ERR_* */
	char				*error;		/* message (owned) or NULL */
	char				 stage[24];	/* stage reached (for the summary) */
	int				 reached;	/* enum store_stage a provision
							   reached; -1: none */
	int				 gc_waiting;	/* GC left the security group */
	/*
	 * 1 when, after the job, its environment still waits on something
	 * outside envctl (pipeline_job_waits()); set by pipeline_job_run()
	 * and by the pool for the jobs it does not run.
	 */
	int				 waiting;
};

/*
 * Whether job's environment still waits on something outside envctl
 * after the job: it failed, a provision did not reach DONE (readiness),
 * a GC left its security group (an instance still shutting down), a
 * drift was reported to a human.  One rule per plan kind (exec.c).
 */
int	 pipeline_job_waits(const struct pipeline_job *job);

/*
 * The instance whose status checks job will read (its row waits at
 * TAGGED for readiness), or NULL: a pass fetches those in batches
 * (struct pipeline_job's status) instead of one call per job.
 */
const char *pipeline_job_status_instance(const struct pipeline_job *job);

/*
 * Run one job: the pipeline(s) its kind names.  Returns 0 or a negative
 * ERR_* with err_get(); a failed provision has been rolled back (or left
 * for the next pass to finish) before this returns.
 */
int	 pipeline_job_run(struct pipeline *, struct pipeline_job *job);

/*
 * Run jobs on at most nworkers threads.  Jobs of one environment (the
 * same name, consecutive in plan order) run in order on one worker;
 * different environments run concurrently.  open is called on the
 * calling thread for each (worker, region) a worker needs, before any
 * thread starts, and close when the pool is done.  Each job's result
 * and error are filled; done (may be NULL) hears of each job as it ends.
 * Returns the number of failed jobs.
 */
typedef int pipeline_open_fn(struct pipeline **out, const char *region,
	    void *arg);
typedef void pipeline_close_fn(struct pipeline *, void *arg);
/* Called after each job, one call at a time (under the pool's lock). */
typedef void pipeline_done_fn(const struct pipeline_job *, size_t ndone,
	    size_t njobs, void *arg);
size_t	 pipeline_jobs_run(struct pipeline_job *jobs, size_t njobs,
	    unsigned nworkers, pipeline_open_fn *open, pipeline_close_fn *close,
	    pipeline_done_fn *done, void *arg);
/*
 * The same with fencing: go (called on a worker thread, possibly by
 * several at once, before each environment's jobs start) returns 1 to
 * go on; after its first 0 no environment starts any more, and the jobs
 * not started fail with ERR_CONFLICT ("not started").  Jobs already
 * running finish their current step (each is durable; the next leader
 * resumes from it).
 */
typedef int pipeline_go_fn(void *arg);
size_t	 pipeline_jobs_run_fenced(struct pipeline_job *jobs, size_t njobs,
	    unsigned nworkers, pipeline_open_fn *open, pipeline_close_fn *close,
	    pipeline_done_fn *done, pipeline_go_fn *go, void *arg);

/* The ClientToken of (env id, attempt, variant): 64 hex digits + NUL. */
void	 pipeline_client_token(char out[65], const char *env_id,
	    unsigned attempt, unsigned variant);

/*
 * The built-in on-demand price per hour of an instance type (us-east-1
 * on-demand Linux prices as of 2024-06-01, used for every region), 0
 * when unknown.
 */
double	 pipeline_price_on_demand(const char *instance_type);

/*
 * An operator's price table (config price_table): one entry a line,
 *
 *	# comment (also after an entry)
 *	<region> <instance-type> <usd-per-hour>
 *	us-east-1  t3.micro  0.0104
 *	*          m7g.large 0.0816	# "*": any region
 *
 * Parsing is strict: exactly three fields, a region of [a-z0-9-] or "*",
 * an instance type of [a-z0-9.-] with a '.', a plain decimal price
 * (digits, at most one '.', no sign, exponent, NaN or infinity) below
 * 100000, no entry twice.  Every problem is ERR_INVALID with
 * "name:line: message".  pipeline_prices_load() reads path (at most
 * 1 MiB); the caller frees *out with pipeline_prices_free().
 */
int	 pipeline_prices_parse(struct pipeline_prices **out, const char *text,
	    size_t len, const char *name);
int	 pipeline_prices_load(struct pipeline_prices **out, const char *path);
void	 pipeline_prices_free(struct pipeline_prices *);
/* Number of entries of a table (0 for NULL). */
size_t	 pipeline_prices_count(const struct pipeline_prices *);

/*
 * The on-demand price per hour of type in region: the table's entry for
 * (region, type), else its entry for (*, type), else the built-in price;
 * 0 when none knows it.  table may be NULL; region may be NULL.
 */
double	 pipeline_price(const struct pipeline_prices *table, const char *region,
	    const char *instance_type);

/*
 * Each zone's newest entry of a DescribeSpotPriceHistory answer (entries
 * without a zone skipped), in the order the zones first appear: up to
 * max pointers into l in out.  Returns how many.  The one reading of
 * spot prices by zone: the launch's price, the placement's tie-break and
 * the engine's refresh.
 */
size_t	 pipeline_spot_newest(const struct ec2_spot_price **out, size_t max,
	    const struct ec2_spot_price_list *l);

/*
 * The cost rule (docs/design.md §6.9), the one formula every report of
 * cost uses (status, the status pages, /api, /metrics, `envctl cost`,
 * quota's dollars per hour, the total booked at termination), over the
 * ledger's segments (store_cost_list()):
 *
 *  - a segment bills usd_per_hour from started_at to ended_at, or to
 *    now while it is open (a start after now bills nothing yet);
 *  - EC2 Linux bills per second with a 60-second minimum each time an
 *    instance starts running: a compute segment bills at least
 *    PIPELINE_BILL_MIN_S seconds (an open one too, from its start);
 *    storage bills per second;
 *  - only the part inside [since, now] counts (since 0: all of it);
 *  - booked usd = the sum over the segments; usd_per_hour = the sum of
 *    the open segments' rates; saved_usd = what the same seconds cost at
 *    od_usd_per_hour minus usd (the spot saving, 0 for on-demand);
 *    seconds = the compute seconds billed.
 */
#define PIPELINE_BILL_MIN_S	60
struct store_cost_seg;
struct pipeline_cost {
	double		 usd;		/* booked in the window */
	double		 usd_per_hour;	/* now; 0 when nothing is open */
	double		 saved_usd;	/* on-demand equivalent - usd */
	long long	 seconds;	/* billed compute seconds */
};
void	 pipeline_cost_sum(struct pipeline_cost *out,
	    const struct store_cost_seg *v, size_t n, time_t since, time_t now);
/*
 * What environment env_id has cost so far and costs now: the rule over
 * its segments in v (n of them, sorted by env_id as store_cost_list()
 * returns them).
 */
void	 pipeline_env_cost(struct pipeline_cost *out,
	    const struct store_cost_seg *v, size_t n, const char *env_id,
	    time_t now);
/* One segment's share of the rule: added to *out. */
void	 pipeline_cost_add(struct pipeline_cost *out,
	    const struct store_cost_seg *s, time_t since, time_t now);

/*
 * Storage: gp3 at PIPELINE_GP3_USD_GB_MONTH per GB-month (us-east-1 as
 * of 2024-06-01; the price table's "ebs.gp3" entry overrides it, in USD
 * per GB-month), a month being PIPELINE_HOURS_MONTH hours as AWS
 * prices it.  The price per hour of gb GB in region.
 */
#define PIPELINE_GP3_USD_GB_MONTH	0.08
#define PIPELINE_HOURS_MONTH		730.0
double	 pipeline_price_storage(const struct pipeline_prices *table,
	    const char *region, unsigned gb);

/*
 * The instance instance_id stopped (running 0) or started running again
 * (running 1) at `at`, seen by the engine or done by the pipeline:
 * close its compute segment, or reopen it.  Idempotent.
 */
int	 pipeline_cost_power(struct store *store, const char *instance_id,
	    int running, time_t at);

/*
 * Drift de-duplication: drift.detected is recorded once per fact, not on
 * every pass.  A fact names what is wrong: the plan kind, the instance,
 * the desired and the instance's spec hash and the plan's reason, hashed
 * into PIPELINE_DRIFT_FACT_LEN hex digits (+ NUL).  Events of a reported
 * drift carry it as "fact"; drift.resolved closes it.
 */
#define PIPELINE_DRIFT_FACT_LEN	32
void	 pipeline_drift_fact(char out[PIPELINE_DRIFT_FACT_LEN + 1],
	    const char *kind, const char *instance_id, const char *want_hash,
	    const char *have_hash, const char *reason);

/*
 * The open drift of incarnation env_id as the events say: the newest of
 * its drift.detected (with a fact) and drift.resolved events.  *open is
 * 1 when that is a drift.detected, with its fact copied to fact; 0 when
 * there is none or it was resolved.  Reads the env's newest 200 events.
 */
int	 pipeline_drift_open(int *open, char fact[PIPELINE_DRIFT_FACT_LEN + 1],
	    struct store *, const char *env_id);

/* Every failpoint name of both pipelines, NULL-terminated (for tests). */
/*
 * Stop and start the instance of a ready row, keeping its disk
 * (docs/design.md §6.8; power.c).  Both refuse a row that is not ready,
 * a spot environment (ERR_INVALID) and an instance that is not provably
 * ours (own.c: ERR_FOREIGN, the row keeps the refusal).  Stop records
 * `remote.stop` and returns once EC2 accepted StopInstances (an instance
 * already stopping or stopped: nothing).  Start records `remote.start`,
 * then waits up to wait_s for the instance to run and pass the
 * configured readiness checks again, records its public IP if it
 * changed, refuses host keys other than the row's (ERR_INVALID), and
 * records `remote.start.ready`; ERR_TIMEOUT past wait_s (the instance
 * keeps starting).  row is the caller's, read whole (store_env_get).
 */
int	 pipeline_env_stop(struct pipeline *, struct store_env *row);
int	 pipeline_env_start(struct pipeline *, struct store_env *row,
	    unsigned wait_s);

extern const char *const pipeline_failpoints[];

#endif
