/*
 * ctl.h - what the commands share: configuration, the spec tree, the
 * store and AWS clients, each opened from the configuration with a
 * clear message when it cannot be.
 */
#ifndef ENVCTL_CTL_H
#define ENVCTL_CTL_H

#include <stdint.h>
#include <stdio.h>

struct config;
struct spec_options;
struct spec_tree;
struct store;

/* Load the configuration (file, environment, flags) and apply log settings. */
int	 ctl_config_load(struct config **out, int *argcp, char **argv);
/* Apply the configuration's log_level and log_format. */
void	 ctl_log_apply(const struct config *);
/*
 * Give this command a correlation id (into cid, which must outlive the
 * command): set as the thread's log context, so its lines, its events
 * and its reconcile runs carry it (docs/design.md §5.1).
 */
void	 ctl_cid_begin(char *cid);

/* The default region: config region, AWS_REGION, AWS_DEFAULT_REGION, us-east-1. */
const char *ctl_region(const struct config *);

/*
 * Load the spec tree named by the configuration (specs, or the published
 * checkout of spec_repo under state_dir).  *revision gets a copy of the
 * revision string (caller frees).  Fails when the source cannot be read.
 */
int	 ctl_specs_load(struct spec_tree **out, char **revision,
	    const struct config *);

/*
 * The spec options of the configuration: the default region
 * (ctl_region()) and the reserved tag prefix "<tag_prefix>:", written to
 * prefix, which opts borrows.
 */
#define CTL_SPEC_PREFIX_LEN	48
void	 ctl_spec_options(struct spec_options *opts,
	    char prefix[CTL_SPEC_PREFIX_LEN], const struct config *);

/* Open the database and check its schema version ("run 'envctl migrate'"). */
int	 ctl_store_open(struct store **out, const struct config *);

/*
 * ---- the leader lease's fence (docs/design.md §3.7) ----
 *
 * Process-wide, like the pacers: what the lease keeper (lease.c) last
 * confirmed.  Once armed, every mutating AWS call of a client from
 * ctl_aws_open() asks ctl_lease_check() first, and every store from
 * ctl_store_open() writes under the lease (store_fence_set()): nothing
 * can forget the fence.  A process that never arms it (status, plan,
 * the aws admin commands) is not fenced.
 */

/* The clock of the deadline: monotonic ms, suspend included (CLOCK_BOOTTIME). */
uint64_t ctl_lease_clock_ms(void);
/*
 * Arm the fence and say what the lease is now: holder has cluster's
 * lease at epoch until deadline_ms (ctl_lease_clock_ms() time).  epoch 0:
 * not held (every mutating call is refused, every fenced write too).
 */
void	 ctl_lease_set(const char *cluster, const char *holder, int64_t epoch,
	    uint64_t deadline_ms);
/*
 * 0 when not armed, or when the lease is held and its deadline has not
 * passed; else ERR_FENCED with the reason set.  The AWS clients' fence.
 */
int	 ctl_lease_check(void *arg);
/* The epoch held now (0: none, or not armed). */
int64_t	 ctl_lease_epoch(void);
/* Write under the lease on st from now on (nothing when not armed). */
int	 ctl_lease_store(struct store *st);

/* AWS clients of one region: credentials chain, transport, EC2. */
struct ctl_aws {
	struct aws_creds_provider	*creds;
	struct aws_client		*aws;
	struct ec2_client		*ec2;
	char				*region;
	struct aws_client_opts		*sts_template;	/* for AssumeRole profiles */
};

/*
 * Open the clients of region.  Their EC2 calls are paced by the
 * region's pacer (ctl_pacer_get), shared with every other client of the
 * process in that region.
 */
int	 ctl_aws_open(struct ctl_aws **out, const struct config *,
	    const char *region);
void	 ctl_aws_free(struct ctl_aws *);

/*
 * The EC2 pacer of region with the limits of ec2_rate_limits: made on
 * first use, then the same one for the life of the process (the limits
 * of a reloaded configuration are applied to it); owned here, never
 * freed.  *out is NULL when ec2_rate_limits is "off".
 */
struct aws_pacer;
void	 ctl_pacer_get(struct aws_pacer **out, const struct config *,
	    const char *region);
/* Call fn for every region's pacer, under a lock (fn must not block). */
typedef void ctl_pacer_fn(const char *region, struct aws_pacer *, void *arg);
void	 ctl_pacers_foreach(ctl_pacer_fn *fn, void *arg);

/* Is "-o json" (or "-ojson", "--output=json") among argv? Removes it. */
int	 ctl_take_json_flag(int *argcp, char **argv);
/* Remove a bare flag (e.g. "-v") from argv; 1 if it was there. */
int	 ctl_take_flag(int *argcp, char **argv, const char *flag);

#endif
