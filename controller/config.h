/*
 * config.h - envctl's settings: one typed struct, filled once at load
 * from one table of options (Redis config.c standardConfig: each option
 * bound to its field, its parser and its check).
 *
 * Sources, later wins: built-in default < config file (--config FILE,
 * default /etc/envctl/envctl.conf, "key = value" lines) < environment
 * (ENVCTL_<KEY> upper-cased) < command-line flags (--key value or
 * --key=value).  A missing default config file is fine; a missing file
 * named with --config is an error.  Invalid values are errors that name
 * the source and line.
 *
 * Callers read the fields (cfg->cluster_id): a misspelt option is a
 * compile error, and every value has been parsed and checked already.
 * The text of each option as given and where it came from are kept for
 * `envctl config show` (config_count(), config_key(), config_text(),
 * config_origin()).
 */
#ifndef ENVCTL_CONFIG_H
#define ENVCTL_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "aws.h"
#include "log.h"
#include "plan.h"

#define CONFIG_DEFAULT_PATH	"/etc/envctl/envctl.conf"

struct pipeline_prices;

/* ec2_rate_limits, parsed. */
struct config_pace {
	struct aws_pace_limits	 limits;
	int			 off;		/* "off": no pacing */
};

/* termination_budget, parsed: at most count in any window seconds. */
struct config_budget {
	int			 count;
	long long		 window;	/* 0: "off", no such budget */
};

/* quota, parsed: the quotas of workspaces and of the cluster (plan.h). */
struct config_quotas {
	struct plan_quota	*v;		/* workspace strings owned */
	size_t			 n;
};

struct config_src;

/*
 * Every setting, one field per option of the table (config.c), named as
 * the option.  Strings are never NULL ("" when unset).  Durations are
 * seconds.  The struct owns everything it points to.
 */
struct config {
	char			*database_url;	/* secret */
	char			*specs;
	char			*spec_repo;
	char			*spec_branch;
	char			*spec_path;
	long long		 spec_poll_interval;
	long long		 spec_poll_backoff_max;
	char			*spec_token_file;
	char			*spec_ssh_key;
	char			*spec_known_hosts;
	char			*spec_ca_file;
	char			*state_dir;
	char			*cluster_id;
	char			*tag_prefix;	/* without the ':' ("envctl") */
	char			*region;
	char			*s3_bucket;
	char			*s3_prefix;
	char			*secret_env_prefix;	/* "": env secrets off */
	char			*secrets_dir;		/* "": file secrets off */
	char			*secret_ssm_prefix;	/* "": ssm secrets off */
	int			 max_parallel;
	int			 max_terminations_per_pass;
	struct config_budget	 termination_budget;
	struct config_quotas	 quota;
	int			 allow_empty;
	long long		 orphan_grace;
	long long		 resync_interval;
	long long		 spot_resync_interval;	/* 0: resync_interval */
	long long		 spot_price_refresh;	/* seconds; 0: off */
	long long		 leader_lease;	/* seconds */
	int			 max_attempts;
	long long		 backoff_base;
	long long		 backoff_max;
	long long		 provision_sla;	/* seconds; 0: off */
	unsigned		 ready_checks;	/* PIPELINE_CHECK_* bits */
	int			 ready_ssh_port;
	long long		 idle_stop;	/* seconds; fleet default, 0: off */
	char			*ssh;		/* the ssh program of envctl ssh */
	int			 aws_max_attempts;
	struct config_pace	 ec2_rate_limits;
	char			*price_table;	/* the file's path; "" none */
	enum log_level		 log_level;
	enum log_format		 log_format;
	char			*listen;

	/* Derived at load (config_complete()). */
	struct pipeline_prices	*prices;	/* price_table read; NULL: built-in */

	struct config_src	*src;		/* per option: text and origin */
};

/* A fresh configuration holding every default. */
struct config	*config_new(void);
void		 config_free(struct config *);

/*
 * Load file, then environment, then argv flags, then config_complete().
 * Flags the table knows are consumed; the remaining arguments are moved
 * to the front of argv (after argv[0]) and *argcp updated.  Unknown
 * --flags are left for the command.  On error returns negative with
 * err_get() naming the problem.
 */
int		 config_load(struct config *, int *argcp, char **argv);
/* Apply "key = value" text (a config file's contents); file names the source. */
int		 config_load_text(struct config *, const char *text, const char *file);
/*
 * Set one option from a source named by origin ("ENVCTL_X", "flag",
 * file:line): parsed and checked now, or ERR_INVALID and nothing changes.
 */
int		 config_set(struct config *, const char *key, const char *value,
		    const char *origin);
/*
 * Read what options name once their final values are known: the
 * price_table file ("price_table: file:line: ..." on error).
 */
int		 config_complete(struct config *);

/* The value of key as given (secrets included: check config_is_secret). */
const char	*config_text(const struct config *, const char *key);
/* Where a value came from: "default", "ENVCTL_X", "flag" or "file:line". */
const char	*config_origin(const struct config *, const char *key);

/* The number of options, and the name of option i (table order). */
size_t		 config_count(void);
const char	*config_key(size_t i);
/* Whether key holds a secret (never printed back). */
int		 config_is_secret(const char *key);

/* Write every option with its default and help as a commented example file. */
void		 config_write_example(FILE *);

#endif
