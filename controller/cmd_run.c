/*
 * envctl run - the controller: one poll() loop, passes on change (run.c).
 *
 *	envctl run [--config FILE] [--specs DIR | --spec_repo URL] [--listen ADDR]
 *
 * Exit: 0 after SIGTERM or SIGINT, 1 when it cannot start or the loop
 * fails.
 */
#include <stdio.h>

#include "cmd.h"
#include "ctl.h"
#include "err.h"
#include "run.h"

int
cmd_run(int argc, char **argv)
{
	const char *what = NULL;

	if (ctl_take_flag(&argc, argv, "-h") || ctl_take_flag(&argc, argv, "--help")) {
		printf("usage: envctl run [--config FILE] [--specs DIR | --spec_repo URL] "
		    "[--listen ADDR] [--option value ...]\n");
		return EXIT_OK;
	}
	if (run_controller(&what, argc, argv) < 0) {
		if (what != NULL)
			cmd_error(what, err_get());
		return EXIT_ERROR;
	}
	return EXIT_OK;
}
