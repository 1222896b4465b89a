/*
 * pipeline.h - the provision and terminate pipelines (DESIGN.md §5-§6):
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
struct ec2_instance;
struct spec;
struct store;
struct store_env;

/* ready_checks bits. */
enum {
	PIPELINE_CHECK_STATUS	= 1u << 0,	/* DescribeInstanceStatus ok/ok */
	PIPELINE_CHECK_SSH	= 1u << 1,	/* TCP 22 answers */
	PIPELINE_CHECK_MARKER	= 1u << 2,	/* bootstrap marker in S3, ready */
	PIPELINE_CHECK_HOSTKEY	= 1u << 3,	/* marker fingerprint on the console */
	PIPELINE_CHECK_ALL	= 0xf,
};

/* Settings of a pass; strings borrowed, they must outlive the pipeline. */
struct pipeline_opts {
	const char		*bucket;	/* s3_bucket, required */
	const char		*s3_prefix;	/* "envctl" */
	const char		*cluster_id;
	const char		*tag_prefix;	/* "envctl" */
	const char		*revision;	/* spec revision for new rows */
	unsigned		 ready_checks;	/* PIPELINE_CHECK_* */
	struct plan_config	 plan;		/* backoff settings */
	time_t			(*clock)(void);	/* NULL: time() */
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

/* Parse "status,ssh,marker,hostkey" (any subset) into *out; ERR_INVALID else. */
int	 pipeline_checks_parse(unsigned *out, const char *s);

/*
 * One action of a plan with everything it needs, borrowed from the pass
 * (spec tree, rows, instances).  row may be NULL (no live row); spec and
 * spec_hash are NULL for an environment no spec asks for; inst is the
 * instance the plan acts on (NULL if none).
 */
struct pipeline_job {
	enum plan_kind			 kind;
	const char			*name;
	const char			*reason;
	const struct spec		*spec;
	const char			*spec_hash;
	const char			*workspace;
	const struct store_env		*row;
	const struct ec2_instance	*inst;
	const char			*region;
	/* results */
	int				 result;	/* 0 or ERR_* */
	char				*error;		/* message (owned) or NULL */
	char				 stage[24];	/* stage reached (for the summary) */
};

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

/* The ClientToken of (env id, attempt, variant): 64 hex digits + NUL. */
void	 pipeline_client_token(char out[65], const char *env_id,
	    unsigned attempt, unsigned variant);

/* The on-demand price per hour of an instance type, 0 when unknown. */
double	 pipeline_price_on_demand(const char *instance_type);

/* Every failpoint name of both pipelines, NULL-terminated (for tests). */
extern const char *const pipeline_failpoints[];

#endif
