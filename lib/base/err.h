/*
 * err.h - return codes and the thread-local error message.
 *
 * Functions return 0 on success and a negative code on failure; the
 * human-readable reason is kept apart in a per-thread slot set with
 * err_set() and passed up unchanged (libgit2 docs/error-handling.md).
 * A caller that adds context uses err_prefix().
 */
#ifndef ENVCTL_ERR_H
#define ENVCTL_ERR_H

enum err_code {
	ERR_OK		=  0,
	ERR_GENERIC	= -1,	/* anything without a more specific code */
	ERR_NOTFOUND	= -2,	/* the thing asked for does not exist */
	ERR_EXISTS	= -3,	/* it already exists (often success for idempotent calls) */
	ERR_INVALID	= -4,	/* bad input */
	ERR_LIMIT	= -5,	/* a size or count limit was reached */
	ERR_THROTTLED	= -6,	/* the remote side asked us to slow down */
	ERR_TIMEOUT	= -7,	/* a deadline passed */
	ERR_UNAVAILABLE	= -8,	/* a dependency (database, network) cannot be reached */
	ERR_CONFLICT	= -9,	/* a concurrent change won; retry from a fresh read */
	ERR_FAILPOINT	= -10,	/* a failpoint fired (test builds) */
	ERR_FOREIGN	= -11,	/* not ours: its tags say it is not envctl's to change */
	ERR_FENCED	= -12,	/* not the leader (any more): change nothing, roll nothing back */
};

/* Set the message for this thread, replacing the previous one. */
void		 err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Put "prefix: " in front of the current message. */
void		 err_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The current message; "unknown error" when none was set. Never NULL. */
const char	*err_get(void);
void		 err_clear(void);
/* A short name for a code ("not found"). */
const char	*err_code_str(int code);

#endif
