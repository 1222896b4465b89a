/*
 * ctl.h - what the commands share: configuration, the spec tree, the
 * store and AWS clients, each opened from the configuration with a
 * clear message when it cannot be.
 */
#ifndef ENVCTL_CTL_H
#define ENVCTL_CTL_H

#include <stdio.h>

struct config;
struct spec_tree;
struct store;

/* Load the configuration (file, environment, flags) and apply log settings. */
int	 ctl_config_load(struct config **out, int *argcp, char **argv);

/* The default region: config region, AWS_REGION, AWS_DEFAULT_REGION, us-east-1. */
const char *ctl_region(const struct config *);

/*
 * Load the spec tree named by the configuration (specs, or the published
 * checkout of spec_repo under state_dir).  *revision gets a copy of the
 * revision string (caller frees).  Fails when the source cannot be read.
 */
int	 ctl_specs_load(struct spec_tree **out, char **revision,
	    const struct config *);

/* Open the database and check its schema version ("run 'envctl migrate'"). */
int	 ctl_store_open(struct store **out, const struct config *);

/* AWS clients of one region: credentials chain, transport, EC2. */
struct ctl_aws {
	struct aws_creds_provider	*creds;
	struct aws_client		*aws;
	struct ec2_client		*ec2;
	char				*region;
	struct aws_client_opts		*sts_template;	/* for AssumeRole profiles */
};

int	 ctl_aws_open(struct ctl_aws **out, const struct config *,
	    const char *region);
void	 ctl_aws_free(struct ctl_aws *);

/* Is "-o json" (or "-ojson", "--output=json") among argv? Removes it. */
int	 ctl_take_json_flag(int *argcp, char **argv);
/* Remove a bare flag (e.g. "-v") from argv; 1 if it was there. */
int	 ctl_take_flag(int *argcp, char **argv, const char *flag);

#endif
