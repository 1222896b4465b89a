/*
 * pass.h - read the three truths and plan: the first half of every pass,
 * shared by plan, drift, status and reconcile.
 */
#ifndef ENVCTL_PASS_H
#define ENVCTL_PASS_H

#include <stddef.h>
#include <time.h>

#include "observe.h"
#include "plan.h"
#include "store.h"

struct config;
struct ctl_aws;
struct spec_tree;

struct pass_view {
	struct spec_tree	*tree;
	char			*revision;
	struct store		*store;
	struct store_pass	 rows;
	struct ctl_aws		**aws;		/* one per region */
	size_t			 naws;
	struct observe_tags	 tags;
	struct observe_instances inst;
	size_t			*inst_region;	/* index into aws, per instance */
	struct plan		*plan;		/* borrows from tree, inst, rows */
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
int	 pass_view_load(struct pass_view *, const struct config *, int force,
	    int check_protection, time_t now);
void	 pass_view_dispose(struct pass_view *);
/*
 * Free what planning needed, the bulk of a pass: the spec tree, the
 * instances, the rows and the plan (pv->plan and the arrays become NULL).
 * The store, the revision, the AWS clients and the counts stay until
 * pass_view_dispose().
 */
void	 pass_view_release(struct pass_view *);

/* The AWS clients of the region an instance of pv->inst was found in. */
struct ctl_aws *pass_view_instance_aws(const struct pass_view *, size_t i);

#endif
