/*
 * pipeline_int.h - what the pipeline's files share (not for callers).
 */
#ifndef ENVCTL_PIPELINE_INT_H
#define ENVCTL_PIPELINE_INT_H

#include <stdbool.h>
#include <stdio.h>

#include "err.h"
#include "failpoint.h"
#include "observe.h"
#include "pipeline.h"
#include "store.h"

struct s3_client;

#define PL_AMI_CACHE	8
#define PL_TYPE_CACHE	8

struct pl_ami {
	char	alias[32];
	char	arch[16];		/* the architecture it was resolved for */
	char	id[32];
	char	root_device[64];
};

/* An instance type's architectures (DescribeInstanceTypes), in this region. */
struct pl_type {
	char	type[32];
	unsigned archs;			/* PL_ARCH_* bits */
};

#define PL_ARCH_X86_64	0x1u
#define PL_ARCH_ARM64	0x2u
#define PL_ARCH_OTHER	0x4u		/* i386, the mac ones */

struct pipeline {
	struct store		*store;
	struct aws_client	*aws;
	struct ec2_client	*ec2;
	struct s3_client	*s3;
	struct aws_creds_provider *creds;
	struct pipeline_opts	 o;
	struct observe_tags	 tags;		/* names of the tags we set and read */
	struct pl_ami		 ami[PL_AMI_CACHE];	/* per pass (per pipeline) */
	size_t			 nami;
	struct pl_type		 types[PL_TYPE_CACHE];	/* per pipeline (one region) */
	size_t			 ntypes;
};

/*
 * FP(name): evaluate failpoint name (a string literal); on ERR_FAILPOINT
 * set the message and jump to the function's cleanup label "out" with
 * error set.  Every function using it has `int error` and `out:`.
 */
#define FP(name) do {							\
	if ((error = FAILPOINT(name)) < 0) {				\
		err_set("failpoint %s", name);				\
		goto out;						\
	}								\
} while (0)

/* ---- pipeline.c ---- */

time_t	 pl_now(const struct pipeline *);

/*
 * EC2 is eventually consistent: a group, key pair or instance made
 * moments ago may be unknown to the next call for a few seconds.  After
 * a call answered error, pl_consistency_wait() returns 1 (having slept
 * a back-off: 250 ms doubling, at most 4 s) when error is ERR_NOTFOUND
 * with one of codes (a space-separated list of AWS codes) and the
 * pauses so far (*waited_ms, 0 before the first call) stay within
 * budget_ms; else 0, and the caller takes the answer as it is:
 *
 *	unsigned waited = 0;
 *	do
 *		error = ec2_...(...);
 *	while (pl_consistency_wait(p, &waited, PL_CONSISTENCY_MS, error,
 *	    "InvalidGroup.NotFound"));
 */
#define PL_CONSISTENCY_MS	30000
int	 pl_consistency_wait(struct pipeline *, unsigned *waited_ms,
	    unsigned budget_ms, int error, const char *codes);

/* The provision stage job has reached, as enum and as text. */
static inline void
pl_job_stage(struct pipeline_job *job, enum store_stage stage)
{
	job->reached = (int)stage;
	snprintf(job->stage, sizeof(job->stage), "%s", store_stage_str(stage));
}

/*
 * Write mask of row between failpoints fp_before and fp_after.
 * pl_row_write() also says whether the row was written: *written is true
 * once the update succeeded, even if fp_after then fails.
 */
int	 pl_row_write(bool *written, struct pipeline *, struct store_env *row,
	    unsigned mask, const char *fp_before, const char *fp_after);
int	 pl_row_update(struct pipeline *, struct store_env *row, unsigned mask,
	    const char *fp_before, const char *fp_after);
/* Set a string column of row (copy; NULL clears). */
void	 pl_row_set(struct store_env *row, unsigned field, const char *s);
/* Add an event with a JSON payload (printf-formatted; values pre-escaped). */
int	 pl_event(struct pipeline *, const char *env_id, const char *type,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* "<prefix>/<env-id>/<file>" (caller frees). */
char	*pl_s3_key(const struct pipeline *, const char *env_id, const char *file);
/* <s3_prefix>/interrupted/<env_id>.json: the spot interruption marker's key. */
char	*pl_spot_marker_key(const struct pipeline *, const char *env_id);
/* "envctl-<env-id>" into out. */
void	 pl_resource_name(char *out, size_t outsz, const char *env_id);

/* The AWS code of the last failure ("" when none). */
const char *pl_aws_code(const struct pipeline *);

/*
 * A presigned URL whose signing time is at (not now), so that a replayed
 * launch renders byte-identical user-data (same ClientToken, same
 * parameters).  *out is freed with mem_free_secret().
 */
int	 pl_presign_at(char **out, struct pipeline *, const char *method,
	    const char *key, unsigned expires, time_t at);

/* ---- secrets.c ---- */

struct spec_secret;
struct stat;

/*
 * The value of spec secret s, read now from the secret namespace (its
 * prefix checked again).  *out is freed with mem_free_secret().  Errors
 * name the secret and its source, never the value.
 */
int	 pl_secret_read(char **out, struct pipeline *, const struct spec_secret *s);
/*
 * Whether the open file fd (st its fstat) is the controller's alone:
 * owned by its user or by root, no access for others, read for no group
 * and no other user (mode bits, or the access ACL with its mask).  0, or
 * -1 with the reason in why.
 */
int	 pl_secret_file_private(int fd, const struct stat *st, char *why,
	    size_t whysz);

/* ---- cleanup.c ---- */

/* Live (not terminated/shutting-down) instances tagged with env_id; ids into out. */
int	 pl_instances_by_env_id(struct pipeline *, const char *env_id,
	    char ids[][32], size_t max, size_t *n);

/*
 * Undo what exists of incarnation row (instance, security group, S3
 * objects, key pair), updating row's columns as things go; every step
 * idempotent.  *sg_left is set when the group could not be deleted yet
 * (instance still shutting down).  Failpoints named prefix.<step>.
 * flags: PL_CLEANUP_INSTANCE terminates the instance(s) too;
 * PL_CLEANUP_KEY_FRESH and PL_CLEANUP_SG_FRESH say this job imported the
 * key pair / created the row's group moments ago, so "not found" is
 * waited out (docs/design.md §6.2); else it means gone.
 */
#define PL_CLEANUP_INSTANCE	0x1
#define PL_CLEANUP_KEY_FRESH	0x2
#define PL_CLEANUP_SG_FRESH	0x4
int	 pl_cleanup(struct pipeline *, struct store_env *row, bool *sg_left,
	    unsigned flags, const char *fp_prefix);

/*
 * The id of security group envctl-<row id> into id ("" if none);
 * ERR_FOREIGN (pl_not_ours) when its tags are not row's.
 */
int	 pl_sg_find(struct pipeline *, struct store_env *row, char id[32]);

/* Whether env_id is a uuid (36 of [0-9a-f-]): never a path. */
bool	 pl_env_id_valid(const char *env_id);

/*
 * Delete every S3 object under <prefix>/<env-id>/ (ERR_FOREIGN, nothing
 * deleted, when env_id is not a uuid).
 */
int	 pl_s3_prefix_delete(struct pipeline *, const char *env_id);

/* ---- own.c: only what is provably ours (docs/design.md §3.9) ---- */

struct ec2_tag;
struct ec2_security_group_list;

#define PL_STAGE_OWNERSHIP	STORE_FAILED_OWNERSHIP

/*
 * 0 when tags say managed=true, this cluster and env id env_id (NULL:
 * any env id); else ERR_FOREIGN with the first mismatch in why.
 */
int	 pl_own_tags(char *why, size_t whysz, const struct pipeline *,
	    const struct ec2_tag *tags, size_t ntags, const char *env_id);
/*
 * Refuse to touch what (e.g. "instance i-1") of row (may be NULL):
 * the row keeps error "not ours: ..." at stage ownership and event
 * ownership.refused is added, both only the first time for this reason.
 * Returns ERR_FOREIGN with that message (or a store error).
 */
int	 pl_not_ours(struct pipeline *, struct store_env *row, const char *what,
	    const char *why);
/*
 * DescribeInstances of row's instance_id: *gone when EC2 has no such
 * instance or it is terminated/shutting down; ERR_FOREIGN (pl_not_ours)
 * when its tags are not row's.
 */
int	 pl_own_instance(bool *gone, struct pipeline *, struct store_env *row,
	    const char *instance_id);
/*
 * DescribeSecurityGroups of group_id into *out (caller disposes):
 * ERR_NOTFOUND when there is none, ERR_FOREIGN (pl_not_ours, *out
 * empty) when its tags are not row's.
 */
int	 pl_own_sg(struct ec2_security_group_list *out, struct pipeline *,
	    struct store_env *row, const char *group_id);
/*
 * DescribeKeyPairs of name: *gone when there is none (after waiting up to
 * budget_ms for one made moments ago to show); else as above.
 */
int	 pl_own_key_pair(bool *gone, struct pipeline *, struct store_env *row,
	    const char *name, unsigned budget_ms);

/* ---- ami.c ---- */

/*
 * Resolve spec image (alias or ami id) to an AMI instance type can run
 * (its architectures from DescribeInstanceTypes): an alias to the newest
 * image of the type's architecture, an ami id checked (ERR_INVALID, the
 * reason in the message, when its architecture does not fit).  Types and
 * images cached per pipeline.
 */
int	 pl_ami_resolve(struct pipeline *, const char *image, const char *type,
	    char id[32], char root_device[64]);

/* ---- readiness.c: each probe looks once ---- */

/* A readiness probe says "not yet" with this (not an error). */
#define PL_NOT_YET	1

/* What step_ready reads of an instance. */
struct pl_instance_now {
	char	state[16];
	char	public_ip[48];
};

/*
 * Instance instance_id as EC2 sees it now into *out (*found 0 when EC2
 * knows none): seen, the pass's observation, when it is that instance,
 * else one DescribeInstances by id.
 */
int	 pl_instance_now(struct pl_instance_now *out, int *found,
	    struct pipeline *, const struct ec2_instance *seen,
	    const char *instance_id);
/*
 * EC2's status checks of instance_id both ok: 0, else PL_NOT_YET.  seen
 * (may be NULL) is what the pass fetched; asked for when it is not this
 * instance's.
 */
int	 pl_ready_status(struct pipeline *,
	    const struct ec2_instance_status *seen, const char *instance_id);
/* 1 when a TCP connect to ip:port succeeds within timeout_ms, else 0. */
int	 pl_ready_tcp(const char *ip, int port, int timeout_ms);
/*
 * The bootstrap marker of row in S3 says ready (and, with
 * PIPELINE_CHECK_HOSTKEY in checks, a host key it names is on the
 * instance console, read with Latest=true): 0, PL_NOT_YET while there is
 * no marker or no fingerprint on the console yet (*waiting names the
 * check: "marker", "hostkey"), or an error (the bootstrap failed,
 * another env id, a host key mismatch).  On 0 with the hostkey check,
 * verified (vlen bytes) holds the fingerprints that matched,
 * space-separated; "" otherwise.
 */
#define PL_HOSTKEYS_MAX	256
int	 pl_ready_marker(struct pipeline *, const struct store_env *row,
	    unsigned checks, const char **waiting, char *verified, size_t vlen);

/* ---- capacity.c ---- */

/*
 * Whether an AWS error code means "not in this pool, maybe the next": no
 * capacity, no free address in the subnet, or the type not offered in
 * the subnet's zone (Unsupported).
 */
int	 pl_capacity_error(const char *code);
/*
 * Whether pool (region, spot?, type, subnet) said "no capacity" less
 * than PIPELINE_CAPACITY_TTL seconds before now.  c NULL: never.
 */
int	 pl_capacity_exhausted(struct pipeline_capacity *c, const char *region,
	    int spot, const char *type, const char *subnet, time_t now);
/* Remember that the pool said "no capacity" at now (c NULL: nothing). */
void	 pl_capacity_remember(struct pipeline_capacity *c, const char *region,
	    int spot, const char *type, const char *subnet, time_t now);

/*
 * Spot placement: per (region, type), the scores GetSpotPlacementScores
 * gave each availability zone id and the recent spot price of each zone
 * (DescribeSpotPriceHistory), kept PL_SCORES_TTL seconds in the same
 * object (and under the same lock) as the capacity cache.  A failed call
 * is kept too (failed set, no zones), so that it is asked and logged
 * once per PL_SCORES_TTL, not at every launch.
 */
#define PL_SCORES_TTL		600
#define PL_SCORES_AZ_MAX	16

struct pl_az_score {
	char	az_id[32];	/* use1-az1 ("" for a price of a zone name) */
	char	az[32];		/* us-east-1a ("" for a score of a zone id) */
	int	score;		/* 1..10; 0: none */
	double	price;		/* USD/h; 0: none */
};

struct pl_scores {
	int			failed;	/* the scores call failed: none */
	size_t			n;
	struct pl_az_score	v[PL_SCORES_AZ_MAX];
};

/* 1 and *out when (region, type) is cached at now; 0 otherwise. */
int	 pl_scores_cached(struct pipeline_capacity *c, const char *region,
	    const char *type, time_t now, struct pl_scores *out);
void	 pl_scores_remember(struct pipeline_capacity *c, const char *region,
	    const char *type, time_t now, const struct pl_scores *);
/* The score of az_id (0: none) and the price of zone az (0: none). */
int	 pl_scores_score(const struct pl_scores *, const char *az_id);
double	 pl_scores_price(const struct pl_scores *, const char *az);

/*
 * A pool a launch may use: market, type and subnet.  index is its place
 * in the spec's order (market, then type, then subnet): the launch's
 * ClientToken is made of it, so a pool keeps its token whatever its rank.
 */
struct pl_pool {
	int		 spot;
	const char	*type;
	const char	*subnet;	/* NULL: EC2 picks the zone */
	const char	*az;		/* the subnet's zone name, or NULL */
	const char	*az_id;		/* the subnet's zone id, or NULL */
	int		 score;		/* placement score 1..10; 0: none */
	double		 price;		/* recent spot price; 0: none */
	size_t		 index;
};

/*
 * Order pools for a launch: the markets as the spec lists them (spot
 * before its on-demand fallback); spot pools by placement score (higher
 * first), then by recent spot price (cheaper first, unknown last), then
 * in the spec's order; on-demand pools in the spec's order.  Pure.
 */
void	 pl_pools_rank(struct pl_pool *v, size_t n);

/* Provision pieces (provision.c). */
int	 pl_provision_new(struct pipeline *, struct pipeline_job *);
int	 pl_provision_resume(struct pipeline *, struct pipeline_job *,
	    struct store_env *row, bool retry);
int	 pl_adopt(struct pipeline *, struct pipeline_job *);

/* Terminate pieces (terminate.c). */
int	 pl_terminate(struct pipeline *, struct pipeline_job *,
	    struct store_env *row, const char *instance_id, const char *reason);
int	 pl_orphan(struct pipeline *, struct pipeline_job *);
int	 pl_gc(struct pipeline *, struct pipeline_job *);
int	 pl_drift_report(struct pipeline *, struct pipeline_job *);
int	 pl_drift_gone(struct pipeline *, struct pipeline_job *,
	    struct store_env *row);
int	 pl_park(struct pipeline *, struct pipeline_job *,
	    struct store_env *row);

/* JSON string escaping for event payloads (no quotes added). */
void	 pl_json_escape(char *out, size_t outsz, const char *s);

/* ---- prices.c: the cost ledger's writers (docs/design.md §6.9) ---- */

/*
 * The instance in (of row, type, root volume disk_gb) answered
 * RunInstances or was found after a crash: its price per hour to *usd
 * (the spot price of its zone for a spot instance, else the table's
 * on-demand price) and its compute and storage segments opened from its
 * launch time (idempotent).
 */
int	 pl_cost_launch(double *usd, struct pipeline *p,
	    const struct store_env *row, const struct ec2_instance *in,
	    const char *type, unsigned disk_gb);
/* What env_id's segments have billed up to now (pipeline_env_cost()). */
int	 pl_env_booked(struct pipeline_cost *out, struct pipeline *p,
	    const char *env_id);
/* The instances ids[0..n) are terminated: close all their segments now. */
int	 pl_cost_end(struct pipeline *p, const char *const *ids, size_t n);

#endif
