/*
 * cmd.h - the subcommands of envctl(8).  One cmd_<verb>.c per verb; main.c
 * dispatches from its table (libgit2 src/cli/main.c).
 *
 * Each takes argc/argv starting at the verb itself and returns the
 * process exit code (docs/design.md §9: 0 ok / nothing to do, 2 changes or
 * drift, 1 error).
 */
#ifndef ENVCTL_CMD_H
#define ENVCTL_CMD_H

enum {
	EXIT_OK		= 0,
	EXIT_ERROR	= 1,
	EXIT_CHANGES	= 2,
};

struct cmd {
	const char	*name;
	int		(*fn)(int argc, char **argv);
	const char	*summary;
};

int	cmd_help(int, char **);
int	cmd_cost(int, char **);
int	cmd_events(int, char **);
int	cmd_version(int, char **);
int	cmd_plan(int, char **);
int	cmd_status(int, char **);
int	cmd_config(int, char **);
int	cmd_reconcile(int, char **);
int	cmd_aws(int, char **);
int	cmd_migrate(int, char **);
int	cmd_validate(int, char **);
int	cmd_run(int, char **);
int	cmd_drift(int, char **);
int	cmd_ssh(int, char **);
int	cmd_ssh_config(int, char **);
int	cmd_stop(int, char **);
int	cmd_start(int, char **);

/* Print "envctl: <what>: <why>" on stderr. */
void	cmd_error(const char *what, const char *why);

#endif
