/*
 * failpoint.h - named places where a test build can make a step fail or
 * abort the process (FreeBSD fail(9)).
 *
 * ENVCTL_FAILPOINTS="name=action,name=action" where action is
 *   error        the step returns ERR_FAILPOINT
 *   abort        the process aborts on the spot (a crash)
 *   exit         the process _exit(70)s (a crash without a core)
 *   N*action     only the Nth hit fires (1-based), e.g. 2*error
 *   off          nothing
 * Release builds (ENVCTL_FAILPOINTS undefined) compile FAILPOINT() to 0.
 */
#ifndef ENVCTL_FAILPOINT_H
#define ENVCTL_FAILPOINT_H

#ifdef ENVCTL_FAILPOINTS
/* Evaluate failpoint name: 0 to go on, ERR_FAILPOINT to fail the step. */
int	failpoint_eval(const char *name);
/* Parse spec (as in ENVCTL_FAILPOINTS) and replace the active set. */
int	failpoint_configure(const char *spec);
#define FAILPOINT(name)	failpoint_eval(name)
#else
#define FAILPOINT(name)	0
static inline int failpoint_configure(const char *spec) { (void)spec; return 0; }
#endif

#endif
