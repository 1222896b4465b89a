/*
 * store.c - the connection: open, close, run a query, map errors.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "err.h"
#include "failpoint.h"
#include "log.h"
#include "mem.h"
#include "store_int.h"

/* Defaults so that a dead peer is noticed; a URL may override them. */
#define STORE_CONNECT_TIMEOUT	"5"	/* seconds */
#define STORE_KEEPALIVES_IDLE	"30"	/* seconds before the first probe */
#define STORE_KEEPALIVES_INTVL	"10"	/* seconds between probes */
#define STORE_KEEPALIVES_COUNT	"3"	/* probes before giving up */
#define STORE_TCP_USER_TIMEOUT	"60000"	/* ms unacknowledged data may wait */
/* No statement (or lock wait, advisory ones included) hangs a pass forever. */
#define STORE_SERVER_OPTIONS	"-c statement_timeout=60000 -c lock_timeout=60000" \
				" -c idle_in_transaction_session_timeout=60000"
/*
 * The client's own bound of one call, whatever the server does (a
 * stopped backend enforces no statement_timeout, and its kernel still
 * acknowledges our packets): past it the session is dropped, and the
 * next call opens a new one.  store_timeout_set() changes it.
 */
#define STORE_TIMEOUT_MS	65000

#define STORE_MSG_MAX		300	/* of a server message in our errors */

/*
 * Copy msg into out with every occurrence of secret replaced by "***",
 * quoted "..." fragments replaced by "..." when strip_quoted (libpq's
 * parse errors quote pieces of the conninfo), runs of line breaks, tabs
 * and spaces made one space, trailing space cut.
 */
static void
store_msg_clean(char *out, size_t outsz, const char *msg, const char *secret,
    int strip_quoted)
{
	size_t o = 0, slen = secret != NULL ? strlen(secret) : 0;
	int inq = 0;

	while (*msg != '\0' && o + 4 < outsz) {
		if (slen > 0 && strncmp(msg, secret, slen) == 0) {
			memcpy(out + o, "***", 3);
			o += 3;
			msg += slen;
			continue;
		}
		if (strip_quoted && *msg == '"') {
			inq = !inq;
			if (inq) {
				memcpy(out + o, "\"...", 4);
				o += 4;
			} else
				out[o++] = '"';
			msg++;
			continue;
		}
		if (!inq) {
			char c = (*msg == '\n' || *msg == '\t') ? ' ' : *msg;

			if (c != ' ' || (o > 0 && out[o - 1] != ' '))
				out[o++] = c;
		}
		msg++;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

static void
store_describe_conn(struct store *st)
{
	const char *host = PQhost(st->conn), *port = PQport(st->conn);
	const char *db = PQdb(st->conn), *user = PQuser(st->conn);

	snprintf(st->desc, sizeof(st->desc), "host=%s port=%s dbname=%s user=%s",
	    host != NULL && *host != '\0' ? host : "(default)",
	    port != NULL && *port != '\0' ? port : "(default)",
	    db != NULL ? db : "?", user != NULL ? user : "?");
}

/*
 * libpq takes a conninfo string ("host=... dbname=..."), a URI, or else a
 * bare database name; only the first two can be parsed (and carry a
 * password).
 */
static int
store_url_parsable(const char *url)
{
	return url != NULL && (strchr(url, '=') != NULL ||
	    strncmp(url, "postgresql://", 13) == 0 ||
	    strncmp(url, "postgres://", 11) == 0);
}

/* The password a conninfo/URL carries, or NULL; the caller wipes it. */
static char *
store_url_password(const char *url)
{
	PQconninfoOption *opts, *o;
	char *pw = NULL;

	if (!store_url_parsable(url))
		return NULL;
	if ((opts = PQconninfoParse(url, NULL)) == NULL)
		return NULL;
	for (o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL &&
		    *o->val != '\0')
			pw = xstrdup(o->val);
	PQconninfoFree(opts);
	return pw;
}

/* Server notices ("relation ... already exists, skipping") are debug lines. */
static void
store_notice(void *arg, const char *msg)
{
	char esc[STORE_MSG_MAX];

	(void)arg;
	if (log_enabled(LOG_LEVEL_DEBUG)) {
		store_msg_clean(esc, sizeof(esc), msg, NULL, 0);
		log_debug("store: server notice: %s", esc);
	}
}

int
store_open(struct store **out, const char *database_url)
{
	const char *keys[16], *vals[16];
	struct store *st = NULL;
	char *pw = NULL, *perr = NULL, msg[STORE_MSG_MAX];
	PQconninfoOption *parsed = NULL;
	int n = 0, error = -1;

	*out = NULL;
	if (store_url_parsable(database_url) &&
	    (parsed = PQconninfoParse(database_url, &perr)) == NULL) {
		store_msg_clean(msg, sizeof(msg), perr != NULL ? perr : "", NULL, 1);
		err_set("database URL is not a valid conninfo string or "
		    "postgresql:// URI: %s", msg);
		error = ERR_INVALID;
		goto done;
	}
	pw = store_url_password(database_url);

#define KV(k, v) do { keys[n] = (k); vals[n] = (v); n++; } while (0)
	if (getenv("PGCONNECT_TIMEOUT") == NULL)
		KV("connect_timeout", STORE_CONNECT_TIMEOUT);
	KV("keepalives", "1");
	KV("keepalives_idle", STORE_KEEPALIVES_IDLE);
	KV("keepalives_interval", STORE_KEEPALIVES_INTVL);
	KV("keepalives_count", STORE_KEEPALIVES_COUNT);
	KV("tcp_user_timeout", STORE_TCP_USER_TIMEOUT);
	if (getenv("PGOPTIONS") == NULL)
		KV("options", STORE_SERVER_OPTIONS);
	KV("fallback_application_name", "envctl");
	KV("client_encoding", "UTF8");
	/* Last, so that what the URL says wins over the defaults above. */
	if (database_url != NULL && *database_url != '\0')
		KV("dbname", database_url);
	KV(NULL, NULL);
#undef KV

	st = xcalloc(1, sizeof(*st));
	st->conn = PQconnectdbParams(keys, vals, 1);
	if (st->conn == NULL) {
		err_set("cannot connect to PostgreSQL: out of memory in libpq");
		goto done;
	}
	store_describe_conn(st);
	PQsetNoticeProcessor(st->conn, store_notice, NULL);
	if (PQstatus(st->conn) != CONNECTION_OK) {
		store_msg_clean(msg, sizeof(msg), PQerrorMessage(st->conn), pw, 0);
		err_set("cannot connect to PostgreSQL (%s): %s", st->desc, msg);
		error = ERR_UNAVAILABLE;
		goto done;
	}
	st->timeout_ms = STORE_TIMEOUT_MS;
	(void)PQsetnonblocking(st->conn, 1);	/* every wait is ours: store_wait */
	*out = st;
	st = NULL;
	error = 0;
done:
	if (perr != NULL)
		PQfreemem(perr);
	if (parsed != NULL)
		PQconninfoFree(parsed);
	mem_free_secret(pw);
	store_free(st);
	return error;
}

void
store_free(struct store *st)
{
	if (st == NULL)
		return;
	if (st->conn != NULL)
		PQfinish(st->conn);
	free(st->cluster);
	free(st->cid);
	free(st->revision);
	free(st->fence_cluster);
	free(st->fence_holder);
	free(st->app_name);
	free(st);
}

void
store_context_set(struct store *st, const char *cid, const char *revision)
{
	free(st->cid);
	free(st->revision);
	st->cid = cid != NULL && *cid != '\0' ? xstrdup(cid) : NULL;
	st->revision = revision != NULL && *revision != '\0' ?
	    xstrdup(revision) : NULL;
}

void
store_timeout_set(struct store *st, long ms)
{
	st->timeout_ms = ms > 0 ? ms : STORE_TIMEOUT_MS;
}

void
store_cluster_set(struct store *st, const char *cluster)
{
	free(st->cluster);
	st->cluster = xstrdup(cluster != NULL && *cluster != '\0' ? cluster :
	    STORE_CLUSTER_DEFAULT);
}

const char *
store_cluster(const struct store *st)
{
	return st->cluster != NULL ? st->cluster : STORE_CLUSTER_DEFAULT;
}

const char *
store_describe(const struct store *st)
{
	return st->desc;
}

/* Map a failed result to an ERR_* code and set "what: reason". */
static int
store_result_error(struct store *st, const PGresult *res, const char *what)
{
	const char *state = NULL, *primary = NULL, *hint = "";
	char msg[STORE_MSG_MAX];
	int code = ERR_GENERIC;

	if (res != NULL) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	}
	if (primary == NULL)
		primary = PQerrorMessage(st->conn);
	log_escape(msg, sizeof(msg), primary);

	if (PQstatus(st->conn) == CONNECTION_BAD)
		code = ERR_UNAVAILABLE;
	else if (state == NULL)
		code = ERR_GENERIC;
	else if (strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0 ||
	    strncmp(state, "57P", 3) == 0)
		code = ERR_UNAVAILABLE;
	else if (strcmp(state, "23505") == 0)
		code = ERR_EXISTS;
	else if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
		code = ERR_INVALID;
	else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		code = ERR_CONFLICT;
	else if (strcmp(state, "57014") == 0)
		code = ERR_TIMEOUT;
	else if (strcmp(state, "EF001") == 0)
		code = ERR_FENCED;	/* the lease named by the session is stale */
	else if (strcmp(state, "42P01") == 0 || strcmp(state, "42703") == 0) {
		code = ERR_INVALID;
		hint = " (is the schema migrated? run 'envctl migrate')";
	}
	if (code == ERR_UNAVAILABLE)
		err_set("%s: lost the connection to PostgreSQL (%s): %s", what,
		    st->desc, msg);
	else
		err_set("%s: %s [%s]%s", what, msg,
		    state != NULL ? state : "client", hint);
	return code;
}

/*
 * Wait, at most until deadline (monotonic ms), until the query sent on
 * st has a result ready for PQgetResult (or none is left).  A call that
 * passes the deadline drops the session (st->broken): its query may
 * still be running, so the connection cannot serve another.
 */
static int
store_wait(struct store *st, uint64_t deadline, const char *what)
{
	struct pollfd pfd;
	uint64_t now;
	int flush, rc;

	for (;;) {
		if ((flush = PQflush(st->conn)) < 0)
			return store_result_error(st, NULL, what);
		if (!PQconsumeInput(st->conn))
			return store_result_error(st, NULL, what);
		if (flush == 0 && !PQisBusy(st->conn))
			return 0;
		if ((now = duration_mono_ms()) >= deadline) {
			st->broken = 1;
			err_set("%s: no answer from PostgreSQL (%s) within %ld ms; "
			    "the session is dropped", what, st->desc, st->timeout_ms);
			return ERR_UNAVAILABLE;
		}
		pfd.fd = PQsocket(st->conn);
		pfd.events = POLLIN | (flush == 1 ? POLLOUT : 0);
		pfd.revents = 0;
		rc = poll(&pfd, 1, (int)(deadline - now));
		if (rc < 0 && errno != EINTR) {
			err_set("%s: poll: %s", what, strerror(errno));
			st->broken = 1;
			return ERR_UNAVAILABLE;
		}
	}
}

/* Name the session and its lease again (a new session after a reset). */
static int
store_session_setup(struct store *st)
{
	const char *p[4];
	int error = 0;

	(void)PQsetnonblocking(st->conn, 1);
	if (st->app_name != NULL) {
		p[0] = st->app_name;
		error = store_exec(NULL, st, "name the session",
		    "SELECT set_config('application_name', $1, false)", 1, p,
		    PGRES_TUPLES_OK);
	}
	if (error == 0 && st->fence_cluster != NULL) {
		p[0] = st->fence_cluster;
		p[1] = st->fence_holder;
		p[2] = st->fence_epoch;
		error = store_exec(NULL, st, "set the session's lease",
		    "SELECT set_config('envctl.fence_cluster', $1, false),"
		    " set_config('envctl.fence_holder', $2, false),"
		    " set_config('envctl.fence_epoch', $3, false)", 3, p,
		    PGRES_TUPLES_OK);
	}
	return error;
}

/*
 * A session able to take a query: a broken or timed-out one is reset
 * once, outside transactions (inside one, what it did is gone).
 */
static int
store_ready(struct store *st, const char *what)
{
	char msg[STORE_MSG_MAX];

	if (PQstatus(st->conn) != CONNECTION_BAD && !st->broken)
		return 0;
	if (st->in_tx) {
		err_set("%s: lost the connection to PostgreSQL (%s) inside a "
		    "transaction", what, st->desc);
		return ERR_UNAVAILABLE;
	}
	st->resets++;
	st->broken = 0;
	PQreset(st->conn);
	if (PQstatus(st->conn) != CONNECTION_OK) {
		store_msg_clean(msg, sizeof(msg), PQerrorMessage(st->conn), NULL, 0);
		err_set("%s: cannot reconnect to PostgreSQL (%s): %s", what,
		    st->desc, msg);
		return ERR_UNAVAILABLE;
	}
	return store_session_setup(st);
}

int
store_exec(PGresult **out, struct store *st, const char *what,
    const char *sql, int nparams, const char *const *params,
    ExecStatusType status)
{
	PGresult *res = NULL, *r;
	uint64_t deadline;
	int error = -1, sent;

	if (out != NULL)
		*out = NULL;
	if ((error = store_ready(st, what)) != 0)
		goto done;
	deadline = duration_mono_ms() + (uint64_t)st->timeout_ms;
	if (nparams < 0)
		sent = PQsendQuery(st->conn, sql);	/* a constant script */
	else
		sent = PQsendQueryParams(st->conn, sql, nparams, NULL, params,
		    NULL, NULL, 0);
	if (!sent) {
		error = store_result_error(st, NULL, what);
		goto done;
	}
	/* Every result to the end; the first failure, else the last result, counts. */
	for (;;) {
		if ((error = store_wait(st, deadline, what)) != 0)
			goto done;
		if ((r = PQgetResult(st->conn)) == NULL)
			break;
		if (res != NULL && (PQresultStatus(res) == PGRES_FATAL_ERROR ||
		    PQresultStatus(res) == PGRES_NONFATAL_ERROR)) {
			PQclear(r);
			continue;
		}
		PQclear(res);
		res = r;
	}
	if (res == NULL || PQresultStatus(res) != status) {
		error = store_result_error(st, res, what);
		goto done;
	}
	if (out != NULL) {
		*out = res;
		res = NULL;
	}
	error = 0;
done:
	PQclear(res);
	return error;
}

int
store_exec_rows(struct store *st, const char *what, const char *sql,
    int nparams, const char *const *params, store_row_fn *fn, void *arg)
{
	PGresult *res = NULL;
	uint64_t deadline;
	int error = 0, done = 0, werr;

	if ((error = store_ready(st, what)) != 0)
		return error;
	deadline = duration_mono_ms() + (uint64_t)st->timeout_ms;
	if (!PQsendQueryParams(st->conn, sql, nparams, NULL, params, NULL,
	    NULL, 0))
		return store_result_error(st, NULL, what);
	if (!PQsetSingleRowMode(st->conn))
		log_debug("store: %s: single-row mode refused; whole result", what);
	/* Read every result to the end, even after a failure. */
	for (;;) {
		ExecStatusType rs;

		if ((werr = store_wait(st, deadline, what)) != 0)
			return werr;
		if ((res = PQgetResult(st->conn)) == NULL)
			break;
		rs = PQresultStatus(res);
		if (error == 0 && !done && (rs == PGRES_SINGLE_TUPLE ||
		    rs == PGRES_TUPLES_OK)) {
			int i, n = PQntuples(res);

			for (i = 0; i < n && error == 0; i++)
				error = fn(arg, res, i);
			done = rs == PGRES_TUPLES_OK;
		} else if (error == 0 && !done)
			error = store_result_error(st, res, what);
		PQclear(res);
	}
	if (error == 0 && !done)
		error = store_result_error(st, NULL, what);
	return error;
}

int
store_tx_begin(struct store *st, const char *mode)
{
	char sql[128];
	int error;

	snprintf(sql, sizeof(sql), "BEGIN%s%s", mode != NULL ? " " : "",
	    mode != NULL ? mode : "");
	if ((error = store_exec(NULL, st, "begin transaction", sql, 0, NULL,
	    PGRES_COMMAND_OK)) == 0)
		st->in_tx = 1;
	return error;
}

int
store_tx_commit(struct store *st)
{
	int error;

	error = store_exec(NULL, st, "commit", "COMMIT", 0, NULL,
	    PGRES_COMMAND_OK);
	st->in_tx = 0;
	return error;
}

void
store_tx_rollback(struct store *st)
{
	PGresult *res = NULL;
	char *saved;

	if (!st->in_tx)
		return;
	st->in_tx = 0;
	if (PQstatus(st->conn) != CONNECTION_OK || st->broken)
		return;	/* the server rolls back a session that is gone */
	saved = xstrdup(err_get());	/* the caller's failure stays the message */
	(void)store_exec(&res, st, "rollback", "ROLLBACK", 0, NULL,
	    PGRES_COMMAND_OK);
	PQclear(res);
	err_set("%s", saved);
	free(saved);
}

int
store_text_check(const char *p, size_t len, const char *what)
{
	const char *nul;

	if (p == NULL)
		return 0;
	if ((nul = memchr(p, '\0', len)) != NULL) {
		err_set("%s contains a NUL byte at offset %zu: PostgreSQL text "
		    "cannot store it", what, (size_t)(nul - p));
		return ERR_INVALID;
	}
	return 0;
}

int
store_failpoint(const char *name, const char *what)
{
	int error;

	if ((error = FAILPOINT(name)) != 0)
		err_set("%s: failpoint %s", what, name);
	return error;
}

char *
store_col_strdup(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return xstrndup(PQgetvalue(res, row, col),
	    (size_t)PQgetlength(res, row, col));
}

int64_t
store_col_int64(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/*
 * Leadership: the cluster's lease row (docs/design.md §3.7).  Taken when
 * free or expired by the database's clock (the epoch then goes up by
 * one), renewed by its holder while it has not expired.
 */
int
store_lease_acquire(int64_t *epoch, struct store *st, const char *cluster,
    const char *holder, const char *pidns, long lease_ms, const char *evict)
{
	PGresult *res = NULL;
	char ms[24];
	const char *p[5] = { cluster, holder, ms, pidns, evict };
	int error;

	*epoch = 0;
	snprintf(ms, sizeof(ms), "%ld", lease_ms);
	if ((error = store_failpoint("store.lease", "renew the leader lease")) != 0)
		goto done;
	if ((error = store_exec(&res, st, "renew the leader lease",
	    "INSERT INTO leader_lease AS l (cluster_id, holder, holder_pidns,"
	    "  epoch, expires_at)"
	    " VALUES ($1, $2, $4, 1, now() + $3::bigint * interval '1 millisecond')"
	    " ON CONFLICT (cluster_id) DO UPDATE SET"
	    "  epoch = CASE WHEN l.holder = excluded.holder AND"
	    "    l.expires_at >= now() THEN l.epoch ELSE l.epoch + 1 END,"
	    "  holder = excluded.holder, holder_pidns = excluded.holder_pidns,"
	    "  expires_at = excluded.expires_at, renewed_at = now()"
	    " WHERE l.holder = excluded.holder OR l.expires_at < now()"
	    "  OR l.holder = $5"
	    " RETURNING epoch", 5, p, PGRES_TUPLES_OK)) != 0)
		goto done;
	if (PQntuples(res) == 1)
		*epoch = store_col_int64(res, 0, 0);
done:
	PQclear(res);
	return error;
}

int
store_lease_get(struct store_lease *out, struct store *st, const char *cluster)
{
	PGresult *res = NULL;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = store_exec(&res, st, "read the leader lease",
	    "SELECT holder, coalesce(holder_pidns, ''), epoch,"
	    " (expires_at >= now())::int FROM leader_lease WHERE cluster_id = $1",
	    1, &cluster, PGRES_TUPLES_OK)) != 0)
		goto done;
	if (PQntuples(res) == 1) {
		snprintf(out->holder, sizeof(out->holder), "%s",
		    PQgetvalue(res, 0, 0));
		snprintf(out->pidns, sizeof(out->pidns), "%s",
		    PQgetvalue(res, 0, 1));
		out->epoch = store_col_int64(res, 0, 2);
		out->live = store_col_int64(res, 0, 3) != 0;
	}
done:
	PQclear(res);
	return error;
}

int
store_lease_release(struct store *st, const char *cluster, const char *holder)
{
	const char *p[2] = { cluster, holder };

	return store_exec(NULL, st, "release the leader lease",
	    "UPDATE leader_lease SET expires_at = now() - interval '1 millisecond'"
	    " WHERE cluster_id = $1 AND holder = $2", 2, p, PGRES_COMMAND_OK);
}

int
store_fence_set(struct store *st, const char *cluster, const char *holder,
    int64_t epoch)
{
	free(st->fence_cluster);
	free(st->fence_holder);
	st->fence_cluster = xstrdup(cluster);
	st->fence_holder = xstrdup(holder);
	snprintf(st->fence_epoch, sizeof(st->fence_epoch), "%lld",
	    (long long)epoch);
	return store_session_setup(st);
}

int
store_session_name(struct store *st, const char *name)
{
	free(st->app_name);
	st->app_name = xstrdup(name);
	return store_session_setup(st);
}
