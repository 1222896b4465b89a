/*
 * store_int.h - what the store's own files and its tests share.
 */
#ifndef ENVCTL_STORE_INT_H
#define ENVCTL_STORE_INT_H

#include <libpq-fe.h>

#include "store.h"

struct store {
	PGconn		*conn;
	int		 in_tx;		/* inside BEGIN..COMMIT: never reconnect */
	unsigned	 resets;	/* reconnections so far */
	char		*cluster;	/* rows read and written are this cluster's */
	char		*cid;		/* correlation id of what writes, or NULL */
	char		*revision;	/* spec revision of what writes, or NULL */
	char		 desc[256];	/* host/port/dbname/user, no password */
	int		 broken;	/* a call timed out mid-query: reset first */
	long		 timeout_ms;	/* client-side bound of one call */
	char		*fence_cluster;	/* the lease this session writes under, */
	char		*fence_holder;	/* or NULL (store_fence_set) */
	char		 fence_epoch[24];
	char		*app_name;	/* application_name set on every session */
};

/*
 * Run sql with nparams text parameters (NULL entries are SQL NULL) and
 * expect status (PGRES_TUPLES_OK or PGRES_COMMAND_OK).  On success *out
 * (if not NULL) owns the result; on failure the error is mapped to an
 * ERR_* code and "what: reason" is set.  A connection found broken
 * before the query is reset once, outside transactions.  nparams -1
 * sends sql, a constant script of several statements, with PQexec.
 */
int	 store_exec(PGresult **out, struct store *, const char *what,
	    const char *sql, int nparams, const char *const *params,
	    ExecStatusType status);

/*
 * Run a query that returns rows and pass each row to fn as (res, row)
 * while it arrives (libpq single-row mode), so a large result is never
 * held whole: memory is one row plus what fn keeps.  fn returning
 * non-zero stops the calls (the rest is read and dropped) and is
 * returned; failures are mapped as store_exec() maps them.
 */
typedef int	 store_row_fn(void *arg, const PGresult *res, int row);
int	 store_exec_rows(struct store *, const char *what, const char *sql,
	    int nparams, const char *const *params, store_row_fn *fn, void *arg);

/* BEGIN (with optional mode text, a constant), COMMIT and ROLLBACK. */
int	 store_tx_begin(struct store *, const char *mode);
int	 store_tx_commit(struct store *);
/* Roll back if a transaction is open; errors are ignored (cleanup path). */
void	 store_tx_rollback(struct store *);

/*
 * 0 when the len bytes at p can be stored as PostgreSQL text; else
 * ERR_INVALID naming what and the offset of the NUL byte.
 */
int	 store_text_check(const char *p, size_t len, const char *what);

/*
 * FAILPOINT(name) with a message: 0, or ERR_FAILPOINT with err set to
 * "<what>: failpoint <name>".  Test builds only (0 otherwise).
 */
int	 store_failpoint(const char *name, const char *what);

/* Migrate to version target (tests walk the versions one by one). */
int	 store_migrate_to(struct store *, int target, int *from, int *to);

/* store_quota_holds()'s query, $1 the cluster (benchmarks EXPLAIN it). */
extern const char store_quota_holds_sql[];

/* Column helpers for result rows: NULL for SQL NULL, xstrdup'ed copies. */
char	*store_col_strdup(const PGresult *, int row, int col);
int64_t	 store_col_int64(const PGresult *, int row, int col);

#endif
