/*
 * config.h - envctl's settings: one table of options with defaults and
 * validators (Redis config.c static_configs[]).
 *
 * Sources, later wins: built-in default < config file (--config FILE,
 * default /etc/envctl/envctl.conf, "key = value" lines) < environment
 * (ENVCTL_<KEY> upper-cased) < command-line flags (--key value or
 * --key=value).  A missing default config file is fine; a missing file
 * named with --config is an error.  Invalid values are errors that name
 * the source and line.
 */
#ifndef ENVCTL_CONFIG_H
#define ENVCTL_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#define CONFIG_DEFAULT_PATH	"/etc/envctl/envctl.conf"

enum config_type {
	CONFIG_STRING,
	CONFIG_INT,		/* non-negative decimal, within [min, max] */
	CONFIG_BOOL,		/* true/false/yes/no/on/off/1/0 */
	CONFIG_DURATION,	/* 30s, 5m, 1h30m, 2d; stored as seconds */
	CONFIG_ENUM,		/* one of a '|'-separated list */
};

struct config;

/* A fresh configuration holding every default. */
struct config	*config_new(void);
void		 config_free(struct config *);

/*
 * Load file, then environment, then argv flags.  Flags the table knows
 * are consumed; the remaining arguments are moved to the front of argv
 * (after argv[0]) and *argcp updated.  Unknown --flags are left for the
 * command.  On error returns negative with err_get() naming the problem.
 */
int		 config_load(struct config *, int *argcp, char **argv);
/* Apply "key = value" text (a config file's contents); file names the source. */
int		 config_load_text(struct config *, const char *text, const char *file);
/* Set one option from a source named by origin ("env", "flag", file:line). */
int		 config_set(struct config *, const char *key, const char *value,
		    const char *origin);

const char	*config_str(const struct config *, const char *key);
long long	 config_int(const struct config *, const char *key);
int		 config_bool(const struct config *, const char *key);
/* Where a value came from: "default", "env", "flag" or "file:line". */
const char	*config_origin(const struct config *, const char *key);

/* The number of options, and the name of option i (table order). */
size_t		 config_count(void);
const char	*config_key(size_t i);
/* Whether key holds a secret (never printed back). */
int		 config_is_secret(const char *key);

/* Write every option with its default and help as a commented example file. */
void		 config_write_example(FILE *);

#endif
