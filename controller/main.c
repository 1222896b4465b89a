/*
 * envctl - keep a fleet of EC2 development environments equal to the
 * YAML specs kept in git.  See envctl(8) and docs/.
 */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "err.h"
#include "log.h"
#include "proc.h"

static const struct cmd commands[] = {
	{ "plan",	cmd_plan,	"what a pass would do, and why; exit 0 nothing, 2 changes, 1 error" },
	{ "reconcile",	cmd_reconcile,	"one pass (--once), or passes until converged (--wait); exit 0 converged, 2 pending, 1 error" },
	{ "run",	cmd_run,	"the controller: a pass on every spec change and resync, one leader per cluster" },
	{ "drift",	cmd_drift,	"record drift between specs, records and EC2; exit 0 none, 2 drift, 1 error" },
	{ "status",	cmd_status,	"environments as the records and EC2 see them" },
	{ "cost",	cmd_cost,	"what the fleet cost (booked) and costs now, by workspace or environment, with the spot saving" },
	{ "events",	cmd_events,	"the audit trail: events by environment, type, time and correlation id" },
	{ "version",	cmd_version,	"print the version" },
	{ "migrate",	cmd_migrate,	"apply database schema migrations (--check to compare)" },
	{ "validate",	cmd_validate,	"check spec files: file:line:col: message per problem" },
	{ "config",	cmd_config,	"show the settings in force and their origin, or an example file" },
	{ "ssh",	cmd_ssh,	"log in to an environment (or run -- COMMAND) with its pinned host keys; AWS access only" },
	{ "ssh-config",	cmd_ssh_config,	"print Host envctl-NAME blocks for ~/.ssh/config (scp, rsync, VS Code Remote-SSH)" },
	{ "stop",	cmd_stop,	"stop an environment's instance, keeping its disk (on-demand only)" },
	{ "start",	cmd_start,	"start a stopped environment and wait until it is ready again" },
	{ "aws",	cmd_aws,	"AWS helpers: whoami (identity, region, endpoint, credential source)" },
	{ "help",	cmd_help,	"show this help" },
};

void
cmd_error(const char *what, const char *why)
{
	char w[256], y[4096];

	fprintf(stderr, "envctl: %s: %s\n", log_sanitize(w, sizeof(w), what),
	    log_sanitize(y, sizeof(y), why));
}

int
cmd_help(int argc, char **argv)
{
	size_t i;

	(void)argc;
	(void)argv;
	printf("usage: envctl <command> [options]\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		printf("  %-12s %s\n", commands[i].name, commands[i].summary);
	printf("\nRun 'envctl <command> -h' for a command's options.\n");
	return EXIT_OK;
}

int
cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("envctl %s\n", ENVCTL_VERSION);
	return EXIT_OK;
}

int
main(int argc, char **argv)
{
	const char *verb;
	size_t i;

	log_init("envctl", LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	if (proc_harden() < 0)	/* no core files, no same-uid peeking */
		log_warnx("%s", err_get());
#ifdef M_MMAP_THRESHOLD
	/*
	 * A pass's big arrays (instances, rows, planner inputs: megabytes at
	 * 10,000 environments) come and go with every pass.  glibc raises its
	 * mmap threshold when the first of them is freed, so the next ones
	 * would be carved from the heap and fragment it; a fixed threshold
	 * keeps each in a mapping of its own, returned when freed (peak RSS
	 * of a pass at 10,000: 31.2 -> 29.8 MB, docs/benchmarks.md).
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
	if (argc < 2) {
		cmd_help(0, NULL);
		return EXIT_ERROR;
	}
	verb = argv[1];
	if (strcmp(verb, "-h") == 0 || strcmp(verb, "--help") == 0)
		return cmd_help(argc - 1, argv + 1);
	if (strcmp(verb, "--version") == 0)
		return cmd_version(argc - 1, argv + 1);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(verb, commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	cmd_error(verb, "unknown command (try 'envctl help')");
	return EXIT_ERROR;
}
