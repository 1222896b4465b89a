/*
 * lease.h - the leader lease's keeper (lease.c): a thread of its own that
 * takes and renews the cluster's lease row (docs/design.md §3.7) and
 * tells ctl's fence (ctl_lease_set()) what it holds, so a database that
 * hangs never holds the caller's loop.
 */
#ifndef ENVCTL_LEASE_H
#define ENVCTL_LEASE_H

#include <stdint.h>

struct lease;

/* What the keeper knows now (lease_state()). */
struct lease_state {
	int		 leader;	/* held, and its deadline has not passed */
	int		 db_ok;		/* the last attempt reached the database
					   (failures > 0 and db_ok: it answered,
					   but the renewal failed) */
	int		 tried;		/* at least one attempt has ended */
	int64_t		 epoch;		/* held (0: not) */
	uint64_t	 deadline;	/* ctl_lease_clock_ms() time; 0 when not held */
	long long	 failures;	/* renewals failed in a row */
	char		 why[256];	/* the last failure ("" none) */
};

/*
 * Start keeping cluster's lease of lease_ms (renewed every lease_ms / 3,
 * tried every second while another controller holds it) on a database
 * session of its own (application_name "envctl-lease:<pid>", each call bounded
 * by lease_ms / 3).  The holder is "host:pid:random".  wake_fd (or -1)
 * gets an eventfd write when the role changes.  The keeper arms ctl's
 * fence at once: until the lease is taken, no mutating AWS call is made.
 */
int	 lease_new(struct lease **out, const char *database_url,
	    const char *cluster, long lease_ms, int wake_fd);
/* Stop the keeper; give the lease up when held (bounded). */
void	 lease_free(struct lease *);
void	 lease_state(struct lease_state *out, struct lease *);
/* Block until the first attempt has ended (reconcile's one look). */
void	 lease_wait_first(struct lease *);
/* "host:pid:random"; owned by the keeper. */
const char *lease_holder(const struct lease *);

#endif
