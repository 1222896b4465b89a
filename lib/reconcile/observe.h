/*
 * observe.h - the three truths turned into the planner's inputs.
 *
 * Discovery is one paginated DescribeInstances per region per pass,
 * filtered on this controller's cluster tag and every state but
 * terminated (docs/design.md §1.2); never one call per environment.  The spec
 * tree and the store's rows are converted without I/O.
 *
 * Everything here borrows: the plan_* structs point into the ec2
 * instances, the spec tree and the store rows they were made from, which
 * must outlive them.
 */
#ifndef ENVCTL_OBSERVE_H
#define ENVCTL_OBSERVE_H

#include <stddef.h>

#include "plan.h"

struct ec2_client;
struct ec2_instance;
struct spec_tree;
struct store_brief;

/*
 * The names of the tags envctl sets and reads, derived from the
 * configured prefix ("envctl" -> "envctl:env").  The one place they are
 * spelled: discovery, `envctl status` and the pipelines (which set them
 * at launch and read them back) all take them from here.
 */
struct observe_tags {
	char	managed[64];
	char	cluster[64];
	char	env[64];
	char	env_id[64];
	char	spec_hash[64];
	char	workspace[64];
};

/* Fill t from prefix (without the trailing colon); ERR_INVALID if too long. */
int	 observe_tags_init(struct observe_tags *t, const char *prefix);

/*
 * The instances of one cluster, slimmed to what a pass uses: id, state,
 * type, public_ip, launched, market and the tags of struct observe_tags
 * (the six under the configured prefix; no other tag is kept).  Every
 * other string (image_id, subnet_id, private_ip, vpc_id, az, key_name,
 * client_token, state_reason) is "", and there are no security groups:
 * describe the instance (ec2_instances_describe with its id) to see the
 * rest.  Each instance's strings live in one block it owns
 * (ec2_instance_dispose frees it); the tag keys are not copied but point
 * at the strings of the observe_tags given to observe_instances_discover():
 * the instances borrow that tags struct, which must outlive them.
 */
struct observe_instances {
	struct ec2_instance	*v;
	size_t			 n;
	int			 pages;		/* DescribeInstances calls made */
};

/*
 * One paginated DescribeInstances (MaxResults 1000) filtered on
 * tag:<prefix>:cluster=cluster_id and every state but terminated.  out is
 * filled (dispose it) with slimmed copies that borrow tags (see above);
 * on failure it is left empty and the error is in err_get().
 */
int	 observe_instances_discover(struct observe_instances *out,
	    struct ec2_client *ec2, const struct observe_tags *tags,
	    const char *cluster_id);
/* Append src's instances to dst (moving them); src is left empty. */
void	 observe_instances_move(struct observe_instances *dst,
	    struct observe_instances *src);
void	 observe_instances_dispose(struct observe_instances *);

/*
 * Decode in's instances into n plan_instance entries at *out (the caller
 * frees the array with free()); strings point into in.  protected_ids
 * (may be NULL) lists instances known to have termination protection.
 */
void	 observe_plan_instances(struct plan_instance **out,
	    const struct observe_instances *in, const struct observe_tags *tags,
	    const char *const *protected_ids, size_t nprotected);

/*
 * The spec tree as the planner's desired set (caller frees *out with
 * free()); invalid entries carry their name and valid=false.
 */
void	 observe_plan_desired(struct plan_desired **out, size_t *n,
	    const struct spec_tree *tree);

/*
 * Store rows (a pass's brief rows) as plan records: live rows first,
 * then ended rows.  The records borrow the rows' strings.  The caller
 * frees *out with free().
 */
void	 observe_plan_records(struct plan_record **out, size_t *n,
	    const struct store_brief *live, size_t nlive,
	    const struct store_brief *ended, size_t nended);

/*
 * A stored stage (enum store_stage, as a row or brief row holds it) as
 * the planner's enum plan_record_stage; ERR_INVALID for a value that is
 * no stage.  The only way a stored stage becomes a planned one.
 */
int	 observe_plan_stage(enum plan_record_stage *out, unsigned stored);

/* "running" -> PLAN_INSTANCE_RUNNING; unknown states map to running. */
enum plan_instance_state observe_instance_state(const char *state);

/*
 * Whether EC2 reports an instance (its state's name, its stateReason
 * message as DescribeInstances gives it) shut down from inside: going
 * away (shutting-down or terminated) with the reason code
 * Client.InstanceInitiatedShutdown ("Client.InstanceInitiatedShutdown:
 * Instance initiated shutdown").  A user's terminate
 * (Client.UserInitiatedShutdown), a spot interruption
 * (Server.SpotInstanceTermination) or no reason is not.
 */
bool	 observe_idle_shutdown(const char *state, const char *state_reason);

#endif
