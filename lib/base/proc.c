/*
 * proc.c - process-wide hardening (proc.h).
 */
#include <sys/prctl.h>
#include <sys/resource.h>

#include <errno.h>
#include <string.h>

#include "err.h"
#include "proc.h"

int
proc_harden(void)
{
	struct rlimit rl;
	int error = 0;

	if (getrlimit(RLIMIT_CORE, &rl) < 0 || rl.rlim_cur != 0 ||
	    rl.rlim_max != 0) {
		rl.rlim_cur = rl.rlim_max = 0;
		if (setrlimit(RLIMIT_CORE, &rl) < 0) {
			err_set("setrlimit RLIMIT_CORE 0: %s", strerror(errno));
			error = ERR_GENERIC;
		}
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		err_set("prctl PR_SET_DUMPABLE 0: %s", strerror(errno));
		error = ERR_GENERIC;
	}
	return error;
}
