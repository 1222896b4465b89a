/*
 * test_store.c - lib/store against a real PostgreSQL.
 *
 * Run under tests/harness/with-pg.sh, which exports PGHOST/PGPORT/PGUSER
 * and ENVCTL_DATABASE_URL.  Every test gets a database of its own
 * (created and dropped here), and what the store wrote is checked with
 * psql as an independent client where it matters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "buf.h"
#include "err.h"
#include "failpoint.h"
#include "mem.h"
#include "store.h"
#include "store_int.h"

extern char **environ;

static PGconn	*admin;		/* to the harness's database, for CREATE DATABASE */
static int	 dbseq;

struct fx {
	char		 db[64];	/* this test's database */
	char		 conninfo[96];	/* "dbname=..." (host etc. from PG*) */
	struct store	*st;
};

static void
admin_exec(const char *sql)
{
	PGresult *res = PQexec(admin, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(admin));
	PQclear(res);
}

/* Create a fresh empty database; fills f->db and f->conninfo. */
static void
db_create(struct fx *f)
{
	char sql[160];

	snprintf(f->db, sizeof(f->db), "t_%d_%d", (int)getpid(), ++dbseq);
	snprintf(f->conninfo, sizeof(f->conninfo), "dbname=%s", f->db);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f->db);
	admin_exec(sql);
}

static void
db_drop(struct fx *f)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->db);
	admin_exec(sql);
}

static int
group_setup(void **state)
{
	const char *url = getenv("ENVCTL_DATABASE_URL");

	(void)state;
	if (url == NULL || getenv("PGHOST") == NULL) {
		fprintf(stderr, "test_store: run me under tests/harness/with-pg.sh\n");
		return -1;
	}
	admin = PQconnectdb(url);
	if (PQstatus(admin) != CONNECTION_OK) {
		fprintf(stderr, "test_store: %s", PQerrorMessage(admin));
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	PQfinish(admin);
	return 0;
}

/* Per test: a new database and a store connected to it (not migrated). */
static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	db_create(f);
	if (store_open(&f->st, f->conninfo) != 0) {
		fprintf(stderr, "store_open: %s\n", err_get());
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	store_free(f->st);
	db_drop(f);
	free(f);
	return 0;
}

static void
migrate_ok(struct store *st)
{
	int from = -1, to = -1;

	if (store_migrate(st, &from, &to) != 0)
		fail_msg("store_migrate: %s", err_get());
	assert_int_equal(to, store_schema_latest());
}

/*
 * Run psql (an independent client) on database db with sql; return its
 * unaligned, tuples-only output without the final newline (caller frees).
 * Fails the test if psql fails.
 */
static char *
psql(const char *db, const char *sql)
{
	const char *const args[] = { "psql", "-X", "-q", "-A", "-t", "-v",
	    "ON_ERROR_STOP=1", "-d", db, "-c", sql, NULL };
	char *argv[sizeof(args) / sizeof(args[0])];
	size_t i;
	posix_spawn_file_actions_t fa;
	struct buf out;
	char chunk[65536];
	ssize_t r;
	pid_t pid;
	int fds[2], status;

	for (i = 0; args[i] != NULL; i++)	/* spawn wants them writable */
		argv[i] = xstrdup(args[i]);
	argv[i] = NULL;
	assert_int_equal(pipe(fds), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	assert_int_equal(posix_spawnp(&pid, "psql", &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	close(fds[1]);
	buf_init(&out, 64u << 20);
	while ((r = read(fds[0], chunk, sizeof(chunk))) > 0)
		assert_int_equal(buf_add(&out, chunk, (size_t)r), 0);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("psql -c '%s' failed", sql);
	if (out.len > 0 && out.ptr[out.len - 1] == '\n')
		out.ptr[--out.len] = '\0';
	return buf_detach(&out, NULL) ?: xstrdup("");
}

static void
assert_psql(const char *db, const char *sql, const char *want)
{
	char *got = psql(db, sql);

	if (strcmp(got, want) != 0)
		fail_msg("psql '%s': got '%s', want '%s'", sql, got, want);
	free(got);
}

static void
assert_err_contains(const char *needle)
{
	if (strstr(err_get(), needle) == NULL)
		fail_msg("error '%s' does not contain '%s'", err_get(), needle);
}

static void
env_fill(struct store_env *e, const char *name)
{
	memset(e, 0, sizeof(*e));
	e->name = xstrdup(name);
	e->workspace = xstrdup("web");
	e->spec_hash = xstrdup("sha256:0123");
	e->spec_revision = xstrdup("c0ffee");
	e->region = xstrdup("us-east-1");
	e->market = xstrdup("on-demand");
	e->cost_per_hour_usd = 0.0416;
}

/* Insert a new incarnation of name; returns its id in id. */
static void
env_insert_ok(struct store *st, const char *name, char id[STORE_ID_LEN])
{
	struct store_env e;

	env_fill(&e, name);
	if (store_env_insert(id, st, &e) != 0)
		fail_msg("insert %s: %s", name, err_get());
	store_env_dispose(&e);
}

static void
env_set_status(struct store *st, const char *id, enum store_status s)
{
	struct store_env e;

	assert_int_equal(store_env_get(&e, st, id), 0);
	e.status = s;
	e.terminated_at = s == STORE_STATUS_TERMINATED ? time(NULL) : 0;
	assert_int_equal(store_env_update(st, &e,
	    STORE_ENV_STATUS | STORE_ENV_TERMINATED_AT), 0);
	store_env_dispose(&e);
}

/* ---- migrations ------------------------------------------------------ */

static void
test_store__migrate_from_empty(void **state)
{
	struct fx *f = *state;
	int v = -1, from = -1, to = -1;
	char want[16];

	assert_int_equal(store_schema_version(&v, f->st), 0);
	assert_int_equal(v, 0);
	assert_int_equal(store_check_version(f->st), ERR_INVALID);
	assert_err_contains("run 'envctl migrate'");

	assert_int_equal(store_migrate(f->st, &from, &to), 0);
	assert_int_equal(from, 0);
	assert_int_equal(to, store_schema_latest());
	assert_true(store_schema_latest() >= 2);
	assert_int_equal(store_check_version(f->st), 0);

	assert_psql(f->db, "SELECT string_agg(tablename, ',' ORDER BY tablename)"
	    " FROM pg_tables WHERE schemaname = 'public'",
	    "cost_segments,environments,events,leader_lease,reconcile_runs,schema_version");
	snprintf(want, sizeof(want), "%d", store_schema_latest());
	assert_psql(f->db, "SELECT max(version) FROM schema_version", want);
	assert_psql(f->db, "SELECT count(*) FROM pg_indexes WHERE indexname ="
	    " 'environments_one_live_per_name'", "1");
}

static void
test_store__migrate_from_each_version(void **state)
{
	struct fx *f = *state;
	int v, from, to, cur;

	(void)f;
	for (v = 1; v < store_schema_latest(); v++) {
		struct fx g;
		struct store_env e;
		struct store_event *evs = NULL;
		size_t nev = 0;
		char msg[64];

		memset(&g, 0, sizeof(g));
		db_create(&g);
		assert_int_equal(store_open(&g.st, g.conninfo), 0);
		assert_int_equal(store_migrate_to(g.st, v, &from, &to), 0);
		assert_int_equal(from, 0);
		assert_int_equal(to, v);
		assert_int_equal(store_schema_version(&cur, g.st), 0);
		assert_int_equal(cur, v);
		assert_int_equal(store_check_version(g.st), ERR_INVALID);
		snprintf(msg, sizeof(msg), "at version %d", v);
		assert_err_contains(msg);
		assert_err_contains("run 'envctl migrate'");

		/* data written at version v, with plain SQL (as that version had it) */
		/* from version 3 on a row names its cluster (NOT NULL) */
		free(psql(g.db, v < 3 ? "INSERT INTO environments (name, status,"
		    " stage, instance_id, cost_per_hour_usd, metadata) VALUES"
		    " ('kept', 'ready', 'DONE', 'i-0abc', 0.0416,"
		    " '{\"note\": \"v1\"}')" :
		    "INSERT INTO environments (name, status, stage, instance_id,"
		    " cost_per_hour_usd, metadata, cluster_id) VALUES ('kept',"
		    " 'ready', 'DONE', 'i-0abc', 0.0416, '{\"note\": \"v1\"}',"
		    " 'default')"));
		/* from version 4 on an event names its cluster (NOT NULL) */
		free(psql(g.db, v < 4 ? "INSERT INTO events (type, payload) VALUES"
		    " ('remote.provision.ready', '{\"n\": 1}')" :
		    "INSERT INTO events (type, payload, cluster_id) VALUES"
		    " ('remote.provision.ready', '{\"n\": 1}', 'default')"));

		assert_int_equal(store_migrate(g.st, &from, &to), 0);
		assert_int_equal(from, v);
		assert_int_equal(to, store_schema_latest());
		assert_int_equal(store_check_version(g.st), 0);

		if (store_env_get_by_name(&e, g.st, "kept") != 0)
			fail_msg("kept row lost: %s", err_get());
		assert_int_equal(e.status, STORE_STATUS_READY);
		assert_int_equal(e.stage, STORE_STAGE_DONE);
		assert_string_equal(e.instance_id, "i-0abc");
		assert_true(e.cost_per_hour_usd == 0.0416);
		assert_string_equal(e.metadata, "{\"note\": \"v1\"}");
		assert_int_equal(e.row_version, 1);
		store_env_dispose(&e);
		assert_int_equal(store_events_recent(&evs, &nev, g.st, NULL, 10), 0);
		assert_int_equal(nev, 1);
		assert_string_equal(evs[0].type, "remote.provision.ready");
		store_events_free(evs, nev);

		store_free(g.st);
		db_drop(&g);
	}
}

/*
 * Rows belong to a cluster: rows written before migration 3 are adopted
 * by the migrator's cluster; a store of another cluster neither reads,
 * updates nor counts them, and may have a live row of the same name.
 */
static void
test_store__rows_per_cluster(void **state)
{
	struct fx *f = *state;
	struct store *other = NULL;
	struct store_env e;
	struct store_pass pass;
	char id[STORE_ID_LEN], oid[STORE_ID_LEN];
	int from, to;

	assert_int_equal(store_migrate_to(f->st, 2, &from, &to), 0);
	free(psql(f->db, "INSERT INTO environments (name, status, stage)"
	    " VALUES ('old', 'ready', 'DONE')"));
	store_cluster_set(f->st, "blue");
	assert_int_equal(store_migrate(f->st, &from, &to), 0);
	assert_psql(f->db, "SELECT cluster_id FROM environments WHERE name = 'old'",
	    "blue");
	env_insert_ok(f->st, "web", id);

	assert_int_equal(store_open(&other, f->conninfo), 0);
	store_cluster_set(other, "green");
	assert_int_equal(store_env_get(&e, other, id), ERR_NOTFOUND);
	assert_int_equal(store_env_get_by_name(&e, other, "old"), ERR_NOTFOUND);
	assert_int_equal(store_pass_load(&pass, other, 0), 0);
	assert_int_equal(pass.nlive + pass.nended, 0);
	store_pass_dispose(&pass);
	/* the same name lives once per cluster */
	env_insert_ok(other, "web", oid);
	/* an update by the other cluster's store finds no row of its own */
	assert_int_equal(store_env_get(&e, f->st, id), 0);
	e.status = STORE_STATUS_TERMINATING;
	assert_true(store_env_update(other, &e, STORE_ENV_STATUS) < 0);
	store_env_dispose(&e);
	assert_int_equal(store_pass_load(&pass, f->st, 0), 0);
	assert_int_equal(pass.nlive, 2);
	assert_int_equal(pass.live[0].status, STORE_STATUS_READY);
	assert_int_equal(pass.live[1].status, STORE_STATUS_PENDING);
	store_pass_dispose(&pass);
	assert_psql(f->db, "SELECT string_agg(cluster_id || ':' || name, ','"
	    " ORDER BY cluster_id, name) FROM environments", "blue:old,blue:web,green:web");
	store_free(other);
}

static void
test_store__migrate_twice_is_noop(void **state)
{
	struct fx *f = *state;
	char id[STORE_ID_LEN], want[16];
	int from = -1, to = -1;

	migrate_ok(f->st);
	env_insert_ok(f->st, "survivor", id);
	free(psql(f->db, "UPDATE schema_version SET applied_at = '2001-01-01'"));
	assert_int_equal(store_migrate(f->st, &from, &to), 0);
	assert_int_equal(from, store_schema_latest());
	assert_int_equal(to, store_schema_latest());
	snprintf(want, sizeof(want), "%d", store_schema_latest());
	assert_psql(f->db, "SELECT count(*) FROM schema_version", want);
	/* nothing was re-applied */
	assert_psql(f->db, "SELECT count(*) FROM schema_version"
	    " WHERE applied_at <> '2001-01-01'", "0");
	assert_psql(f->db, "SELECT name FROM environments", "survivor");
}

static void
test_store__newer_schema_refused(void **state)
{
	struct fx *f = *state;
	char sql[128], want[16];
	int v = 0, from = -1, to = -1;

	migrate_ok(f->st);
	snprintf(sql, sizeof(sql), "INSERT INTO schema_version (version, name)"
	    " VALUES (%d, 'from the future')", store_schema_latest() + 1);
	free(psql(f->db, sql));

	assert_int_equal(store_schema_version(&v, f->st), 0);
	assert_int_equal(v, store_schema_latest() + 1);
	assert_int_equal(store_check_version(f->st), ERR_INVALID);
	assert_err_contains("newer than this envctl knows");
	assert_int_equal(store_migrate(f->st, &from, &to), ERR_INVALID);
	assert_err_contains("newer than this envctl knows");
	assert_int_equal(from, store_schema_latest() + 1);
	snprintf(want, sizeof(want), "%d", store_schema_latest() + 1);
	assert_psql(f->db, "SELECT count(*) FROM schema_version", want);
	{
		struct store_pass p;

		assert_int_equal(store_pass_load(&p, f->st, 0), ERR_INVALID);
		assert_err_contains("newer");
	}
}

#ifdef ENVCTL_FAILPOINTS
/* A migration and its version bump commit together or not at all. */
static void
test_store__migration_is_atomic(void **state)
{
	struct fx *f = *state;
	int from = -1, to = -1, v = -1;

	/* the second migration fails just before its COMMIT */
	assert_int_equal(failpoint_configure("store.migrate.before_commit=2*error"), 0);
	assert_int_equal(store_migrate(f->st, &from, &to), ERR_FAILPOINT);
	assert_int_equal(failpoint_configure(""), 0);
	assert_int_equal(from, 0);
	assert_int_equal(to, 1);
	assert_int_equal(store_schema_version(&v, f->st), 0);
	assert_int_equal(v, 1);
	/* nothing of migration 2 is there */
	assert_psql(f->db, "SELECT count(*) FROM pg_tables WHERE tablename ="
	    " 'reconcile_runs'", "0");
	assert_psql(f->db, "SELECT count(*) FROM information_schema.columns"
	    " WHERE table_name = 'environments' AND column_name = 'row_version'",
	    "0");
	assert_psql(f->db, "SELECT max(version) FROM schema_version", "1");
	/* and the next run finishes the job */
	assert_int_equal(store_migrate(f->st, &from, &to), 0);
	assert_int_equal(from, 1);
	assert_int_equal(to, store_schema_latest());
	assert_int_equal(store_check_version(f->st), 0);
}
#endif

struct migrator {
	const char		*conninfo;
	pthread_barrier_t	*barrier;
	int			 rc, to;
	char			 err[256];
};

static void *
migrator_run(void *arg)
{
	struct migrator *m = arg;
	struct store *st = NULL;
	int from;

	m->rc = store_open(&st, m->conninfo);
	pthread_barrier_wait(m->barrier);
	if (m->rc == 0)
		m->rc = store_migrate(st, &from, &m->to);
	if (m->rc != 0)
		snprintf(m->err, sizeof(m->err), "%s", err_get());
	store_free(st);
	return NULL;
}

static void
test_store__migrate_concurrent(void **state)
{
	enum { NTHREADS = 4, ROUNDS = 3 };
	struct fx *f = *state;
	int round, i;
	char want[16];

	(void)f;
	snprintf(want, sizeof(want), "%d", store_schema_latest());
	for (round = 0; round < ROUNDS; round++) {
		struct migrator m[NTHREADS];
		pthread_t th[NTHREADS];
		pthread_barrier_t barrier;
		struct fx g;

		memset(&g, 0, sizeof(g));
		db_create(&g);
		pthread_barrier_init(&barrier, NULL, NTHREADS);
		for (i = 0; i < NTHREADS; i++) {
			memset(&m[i], 0, sizeof(m[i]));
			m[i].conninfo = g.conninfo;
			m[i].barrier = &barrier;
			assert_int_equal(pthread_create(&th[i], NULL,
			    migrator_run, &m[i]), 0);
		}
		for (i = 0; i < NTHREADS; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&barrier);
		for (i = 0; i < NTHREADS; i++) {
			if (m[i].rc != 0)
				fail_msg("migrator %d: %s", i, m[i].err);
			assert_int_equal(m[i].to, store_schema_latest());
		}
		assert_psql(g.db, "SELECT count(*) FROM schema_version", want);
		assert_psql(g.db, "SELECT count(*) FROM pg_tables WHERE"
		    " schemaname = 'public'", "6");
		db_drop(&g);
	}
}

/* ---- the one-live-row rule ---------------------------------------------- */

static void
test_store__one_live_row_per_name(void **state)
{
	struct fx *f = *state;
	char id1[STORE_ID_LEN], id2[STORE_ID_LEN], id3[STORE_ID_LEN];
	char sql[256];
	struct store_env e;
	PGconn *raw;
	PGresult *res;

	migrate_ok(f->st);
	env_insert_ok(f->st, "web-alice", id1);

	/* through the API */
	env_fill(&e, "web-alice");
	assert_int_equal(store_env_insert(NULL, f->st, &e), ERR_EXISTS);
	assert_err_contains("already has a live row");
	assert_err_contains("web-alice");

	/* and directly: the database itself refuses it */
	raw = PQconnectdb(f->conninfo);
	assert_int_equal(PQstatus(raw), CONNECTION_OK);
	res = PQexec(raw, "INSERT INTO environments (name, status, cluster_id)"
	    " VALUES ('web-alice', 'provisioning', 'default')");
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "23505");
	PQclear(res);

	/* every status but terminated is live */
	env_set_status(f->st, id1, STORE_STATUS_ERROR);
	assert_int_equal(store_env_insert(NULL, f->st, &e), ERR_EXISTS);
	env_set_status(f->st, id1, STORE_STATUS_TERMINATING);
	assert_int_equal(store_env_insert(NULL, f->st, &e), ERR_EXISTS);

	/* terminated rows may repeat */
	env_set_status(f->st, id1, STORE_STATUS_TERMINATED);
	assert_int_equal(store_env_insert(id2, f->st, &e), 0);
	assert_string_not_equal(id1, id2);
	env_set_status(f->st, id2, STORE_STATUS_TERMINATED);
	res = PQexec(raw, "INSERT INTO environments (name, status, cluster_id)"
	    " VALUES ('web-alice', 'terminated', 'default')");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	assert_int_equal(store_env_insert(id3, f->st, &e), 0);
	store_env_dispose(&e);

	/* a terminated row cannot be brought back to life beside a live one */
	snprintf(sql, sizeof(sql), "UPDATE environments SET status = 'ready'"
	    " WHERE id = '%s'", id1);
	res = PQexec(raw, sql);
	assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "23505");
	PQclear(res);
	PQfinish(raw);

	assert_psql(f->db, "SELECT count(*) FROM environments"
	    " WHERE name = 'web-alice'", "4");
	assert_psql(f->db, "SELECT count(*) FROM environments"
	    " WHERE name = 'web-alice' AND status <> 'terminated'", "1");
	assert_int_equal(store_env_get_by_name(&e, f->st, "web-alice"), 0);
	assert_string_equal(e.id, id3);
	store_env_dispose(&e);
	{
		struct store_env *h = NULL;
		size_t nh = 0;

		assert_int_equal(store_env_history(&h, &nh, f->st, "web-alice", 10), 0);
		assert_int_equal(nh, 4);
		assert_string_equal(h[0].id, id3);	/* newest first */
		assert_int_equal(h[0].status, STORE_STATUS_PENDING);
		assert_int_equal(h[1].status, STORE_STATUS_TERMINATED);
		assert_string_equal(h[3].id, id1);
		store_envs_free(h, nh);
		assert_int_equal(store_env_history(&h, &nh, f->st, "web-alice", 2), 0);
		assert_int_equal(nh, 2);
		store_envs_free(h, nh);
	}

	/* an adopted instance keeps its id; the same id twice is refused */
	env_fill(&e, "adopted");
	snprintf(e.id, sizeof(e.id), "%s", "7d4f2f0e-3c1a-4b8e-9a4e-2b1c0d9e8f70");
	assert_int_equal(store_env_insert(id1, f->st, &e), 0);
	assert_string_equal(id1, e.id);
	free(e.name);
	e.name = xstrdup("adopted-2");
	assert_int_equal(store_env_insert(NULL, f->st, &e), ERR_EXISTS);
	assert_err_contains("is taken");
	store_env_dispose(&e);
}

/* ---- hostile values ------------------------------------------------------ */

static const char *const hostile[] = {
	"o'brien",
	"'; DROP TABLE environments; --",
	"\"; DROP TABLE events; --",
	"back\\slash\\\\ and \\' and \\x00",
	"ünïcødé-名前-🚀",
	"$1 $$ %s %n %%",
	"tab\tnew\nline\r",
	"E'\\\\' || chr(0)",
};

/*
 * instance_type: a key of metadata (no column), written and cleared by
 * itself, beside the error (which rewrites metadata too), read back by
 * every read; never in one update with the error.
 */
static void
test_store__instance_type(void **state)
{
	struct fx *f = *state;
	char id[STORE_ID_LEN];
	struct store_env e, r;

	migrate_ok(f->st);
	env_fill(&e, "typed");
	assert_int_equal(store_env_insert(id, f->st, &e), 0);
	snprintf(e.id, sizeof(e.id), "%s", id);
	assert_int_equal(store_env_get(&r, f->st, id), 0);
	assert_null(r.instance_type);
	store_env_dispose(&r);
	assert_int_equal(store_env_set_text(&e, STORE_ENV_INSTANCE_TYPE,
	    "m5.large", 8), 0);
	assert_int_equal(store_env_update(f->st, &e, STORE_ENV_INSTANCE_TYPE), 0);
	assert_int_equal(store_env_set_text(&e, STORE_ENV_ERROR, "boom", 4), 0);
	e.failed_at_stage = xstrdup("SG_READY");
	assert_int_equal(store_env_update(f->st, &e, STORE_ENV_ERROR), 0);
	assert_int_equal(store_env_get(&r, f->st, id), 0);
	assert_string_equal(r.instance_type, "m5.large");	/* kept by the error */
	assert_string_equal(r.error, "boom");
	store_env_dispose(&r);
	assert_int_equal(store_env_update(f->st, &e, STORE_ENV_ERROR |
	    STORE_ENV_INSTANCE_TYPE), ERR_INVALID);
	assert_int_equal(store_env_set_text(&e, STORE_ENV_INSTANCE_TYPE, NULL, 0), 0);
	assert_int_equal(store_env_update(f->st, &e, STORE_ENV_INSTANCE_TYPE), 0);
	assert_int_equal(store_env_get(&r, f->st, id), 0);
	assert_null(r.instance_type);
	assert_string_equal(r.error, "boom");	/* and the error by it */
	store_env_dispose(&r);
	store_env_dispose(&e);
}

static void
test_store__hostile_values(void **state)
{
	struct fx *f = *state;
	size_t i, big_len = 1u << 20;
	char id[STORE_ID_LEN], *big, *got, sql[256];
	struct store_env e;
	struct store_event *evs = NULL;
	size_t nev = 0;

	migrate_ok(f->st);
	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		struct store_env r;

		env_fill(&e, hostile[i]);
		free(e.workspace);
		e.workspace = xstrdup(hostile[i]);
		if (store_env_insert(id, f->st, &e) != 0)
			fail_msg("insert '%s': %s", hostile[i], err_get());
		snprintf(e.id, sizeof(e.id), "%s", id);
		assert_int_equal(store_env_set_text(&e, STORE_ENV_TERMINATION_REASON,
		    hostile[i], strlen(hostile[i])), 0);
		assert_int_equal(store_env_set_text(&e, STORE_ENV_ERROR,
		    hostile[i], strlen(hostile[i])), 0);
		e.failed_at_stage = xstrdup(hostile[i]);
		assert_int_equal(store_env_update(f->st, &e,
		    STORE_ENV_TERMINATION_REASON | STORE_ENV_ERROR), 0);
		assert_int_equal(store_env_get_by_name(&r, f->st, hostile[i]), 0);
		assert_string_equal(r.id, id);
		assert_string_equal(r.name, hostile[i]);
		assert_string_equal(r.workspace, hostile[i]);
		assert_string_equal(r.termination_reason, hostile[i]);
		assert_string_equal(r.error, hostile[i]);
		assert_string_equal(r.failed_at_stage, hostile[i]);
		store_env_dispose(&r);
		assert_int_equal(store_event_add(NULL, f->st, id, hostile[i],
		    "{\"x\": \"'; DROP TABLE reconcile_runs; --\"}", 41), 0);
		store_env_dispose(&e);
	}

	/* 1 MiB of every printable byte, quotes and backslashes included */
	big = xmalloc(big_len + 1);
	for (i = 0; i < big_len; i++)
		big[i] = (char)(33 + (i * 7 + i / 94) % 94);
	big[big_len] = '\0';
	env_fill(&e, "big");
	assert_int_equal(store_env_set_text(&e, STORE_ENV_WORKSPACE, big, big_len), 0);
	assert_int_equal(store_env_insert(id, f->st, &e), 0);
	store_env_dispose(&e);
	assert_int_equal(store_env_get_by_name(&e, f->st, "big"), 0);
	assert_int_equal(strlen(e.workspace), big_len);
	assert_memory_equal(e.workspace, big, big_len);
	store_env_dispose(&e);
	got = psql(f->db, "SELECT workspace FROM environments WHERE name = 'big'");
	assert_int_equal(strlen(got), big_len);
	assert_memory_equal(got, big, big_len);
	free(got);
	assert_psql(f->db, "SELECT octet_length(workspace) FROM environments"
	    " WHERE name = 'big'", "1048576");

	/* a NUL byte is refused, never truncated */
	env_fill(&e, "clean");
	assert_int_equal(store_env_set_text(&e, STORE_ENV_NAME, "evil\0tail", 9),
	    ERR_INVALID);
	assert_err_contains("NUL byte at offset 4");
	assert_string_equal(e.name, "clean");
	assert_int_equal(store_env_set_text(&e, STORE_ENV_SPEC_HASH, big, big_len),
	    0);
	big[big_len / 2] = '\0';
	assert_int_equal(store_env_set_text(&e, STORE_ENV_SPEC_HASH, big, big_len),
	    ERR_INVALID);
	assert_int_equal(strlen(e.spec_hash), big_len);
	store_env_dispose(&e);
	assert_int_equal(store_event_add(NULL, f->st, NULL, "spec.invalid",
	    "{\"a\": \"x\0y\"}", 12), ERR_INVALID);
	assert_err_contains("NUL byte");
	free(big);

	/* bytes that are not UTF-8 are refused by the database */
	env_fill(&e, "bad-\xff\xfe-utf8");
	assert_int_equal(store_env_insert(NULL, f->st, &e), ERR_INVALID);
	assert_err_contains("UTF8");
	store_env_dispose(&e);
	/* so is a payload that is not JSON */
	assert_int_equal(store_event_add(NULL, f->st, NULL, "spec.invalid",
	    "'; DROP TABLE events; --", 24), ERR_INVALID);

	/* after all that, everything is still there (seen by psql) */
	assert_psql(f->db, "SELECT count(*) FROM pg_tables WHERE schemaname ="
	    " 'public' AND tablename IN ('environments', 'events',"
	    " 'reconcile_runs', 'schema_version')", "4");
	snprintf(sql, sizeof(sql), "%zu", sizeof(hostile) / sizeof(hostile[0]) + 1);
	assert_psql(f->db, "SELECT count(*) FROM environments", sql);
	assert_psql(f->db, "SELECT count(*) FROM environments WHERE name ="
	    " '''; DROP TABLE environments; --'", "1");
	assert_int_equal(store_events_recent(&evs, &nev, f->st, NULL, 100), 0);
	assert_int_equal(nev, sizeof(hostile) / sizeof(hostile[0]));
	assert_string_equal(evs[nev - 1].type, hostile[0]);
	assert_string_equal(evs[0].payload,
	    "{\"x\": \"'; DROP TABLE reconcile_runs; --\"}");
	store_events_free(evs, nev);
}

/* ---- records round trip ------------------------------------------------ */

struct each_seen {
	char	 names[64];
	char	 b_ip[32];
	char	 b_error[32];
	int	 n, stop_at;
};

static int
live_each(void *arg, const struct store_env *e)
{
	struct each_seen *s = arg;

	size_t len = strlen(s->names);

	snprintf(s->names + len, sizeof(s->names) - len, "%s,", e->name);
	if (strcmp(e->name, "b") == 0) {
		snprintf(s->b_ip, sizeof(s->b_ip), "%s", e->public_ip);
		snprintf(s->b_error, sizeof(s->b_error), "%s", e->error);
	}
	return ++s->n == s->stop_at ? ERR_LIMIT : 0;
}

static void
test_store__load_live_round_trip(void **state)
{
	struct fx *f = *state;
	const char *names[] = { "a", "b", "c", "d", "e" };
	char ids[7][STORE_ID_LEN], *got, want[256];
	struct store_env e, *live = NULL;
	const struct store_brief *b;
	struct store_pass pass;
	struct each_seen each;
	size_t i, n = 0;
	time_t now = time(NULL);

	migrate_ok(f->st);
	for (i = 0; i < 5; i++)
		env_insert_ok(f->st, names[i], ids[i]);

	/* b: every field a pipeline step writes */
	assert_int_equal(store_env_get(&e, f->st, ids[1]), 0);
	assert_int_equal(e.status, STORE_STATUS_PENDING);
	assert_int_equal(e.stage, STORE_STAGE_INIT);
	assert_int_equal(e.attempts, 0);
	assert_true(e.created_at >= now - 60 && e.created_at <= now + 60);
	assert_int_equal(store_env_set_text(&e, STORE_ENV_INSTANCE_ID,
	    "i-0123456789abcdef0", 19), 0);
	free(e.workspace);
	e.workspace = xstrdup("ws-2");
	free(e.spec_hash);
	e.spec_hash = xstrdup("sha256:ffff");
	free(e.spec_revision);
	e.spec_revision = xstrdup("deadbeef");
	e.status = STORE_STATUS_READY;
	e.stage = STORE_STAGE_DONE;
	e.public_ip = xstrdup("198.51.100.7");
	e.ssh_key_s3_key = xstrdup("envctl/keys/b/id_ed25519");
	e.security_group_id = xstrdup("sg-0abc");
	e.ami_id = xstrdup("ami-0def");
	free(e.market);
	e.market = xstrdup("spot");
	e.subnet_id = xstrdup("subnet-0b");
	free(e.region);
	e.region = xstrdup("eu-west-1");
	e.cost_per_hour_usd = 0.123456;
	e.attempts = 3;
	e.next_attempt_at = 1900000000;
	e.launched_at = 1800000000;
	e.ready_at = 1800000123;
	e.terminated_at = 0;
	e.termination_reason = xstrdup("not yet");
	e.total_cost_usd = 12345678.5;
	e.error = xstrdup("InsufficientInstanceCapacity");
	e.failed_at_stage = xstrdup("SG_READY");
	assert_int_equal(store_env_update(f->st, &e, 0x3fffffu | STORE_ENV_GUARD), 0);
	assert_int_equal(e.row_version, 2);
	store_env_dispose(&e);

	/* c: terminated, so not live; d: error */
	env_set_status(f->st, ids[2], STORE_STATUS_TERMINATED);
	assert_int_equal(store_env_get(&e, f->st, ids[3]), 0);
	e.status = STORE_STATUS_ERROR;
	e.error = xstrdup("boom");
	e.failed_at_stage = xstrdup("KEYS_UPLOADED");
	assert_int_equal(store_env_update(f->st, &e,
	    STORE_ENV_STATUS | STORE_ENV_ERROR), 0);
	store_env_dispose(&e);

	assert_int_equal(store_envs_load_live(&live, &n, f->st), 0);
	assert_int_equal(n, 4);
	assert_string_equal(live[0].name, "a");
	assert_string_equal(live[1].name, "b");
	assert_string_equal(live[2].name, "d");
	assert_string_equal(live[3].name, "e");

	/* a: as inserted */
	assert_string_equal(live[0].id, ids[0]);
	assert_string_equal(live[0].workspace, "web");
	assert_string_equal(live[0].market, "on-demand");
	assert_true(live[0].cost_per_hour_usd == 0.0416);
	assert_null(live[0].instance_id);
	assert_null(live[0].error);
	assert_int_equal(live[0].launched_at, 0);
	assert_string_equal(live[0].metadata, "{}");
	assert_int_equal(live[0].row_version, 1);

	/* b: every column */
	e = live[1];
	assert_string_equal(e.id, ids[1]);
	assert_string_equal(e.workspace, "ws-2");
	assert_string_equal(e.spec_hash, "sha256:ffff");
	assert_string_equal(e.spec_revision, "deadbeef");
	assert_int_equal(e.status, STORE_STATUS_READY);
	assert_int_equal(e.stage, STORE_STAGE_DONE);
	assert_string_equal(e.instance_id, "i-0123456789abcdef0");
	assert_string_equal(e.public_ip, "198.51.100.7");
	assert_string_equal(e.ssh_key_s3_key, "envctl/keys/b/id_ed25519");
	assert_string_equal(e.security_group_id, "sg-0abc");
	assert_string_equal(e.ami_id, "ami-0def");
	assert_string_equal(e.market, "spot");
	assert_string_equal(e.subnet_id, "subnet-0b");
	assert_string_equal(e.region, "eu-west-1");
	assert_true(e.cost_per_hour_usd == 0.123456);
	assert_int_equal(e.attempts, 3);
	assert_int_equal(e.next_attempt_at, 1900000000);
	assert_int_equal(e.launched_at, 1800000000);
	assert_int_equal(e.ready_at, 1800000123);
	assert_int_equal(e.terminated_at, 0);
	assert_string_equal(e.termination_reason, "not yet");
	assert_true(e.total_cost_usd == 12345678.5);
	assert_string_equal(e.error, "InsufficientInstanceCapacity");
	assert_string_equal(e.failed_at_stage, "SG_READY");
	assert_int_equal(e.row_version, 2);
	assert_true(e.updated_at >= e.created_at);

	/* d */
	assert_int_equal(live[2].status, STORE_STATUS_ERROR);
	assert_string_equal(live[2].error, "boom");
	assert_string_equal(live[2].failed_at_stage, "KEYS_UPLOADED");
	store_envs_free(live, n);

	/* the same seen by psql */
	assert_psql(f->db, "SELECT string_agg(name, ',' ORDER BY name) FROM"
	    " environments WHERE status <> 'terminated'", "a,b,d,e");
	assert_psql(f->db, "SELECT cost_per_hour_usd || '|' || total_cost_usd ||"
	    " '|' || to_char(launched_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"
	    " || '|' || (metadata->>'failed_at_stage') FROM environments"
	    " WHERE name = 'b'",
	    "0.123456|12345678.500000|2027-01-15 08:00:00|SG_READY");

	/* clearing the error removes it from metadata */
	assert_int_equal(store_env_get(&e, f->st, ids[3]), 0);
	free(e.error);
	e.error = NULL;
	assert_int_equal(store_env_update(f->st, &e, STORE_ENV_ERROR), 0);
	store_env_dispose(&e);
	got = psql(f->db, "SELECT metadata FROM environments WHERE name = 'd'");
	assert_string_equal(got, "{}");
	free(got);

	/*
	 * The per-pass read: brief rows, live and ended.  e: live, being
	 * ended by its TTL (its keys still named: no leftovers while live);
	 * f: ended by its TTL with its keys left; g: ended for another
	 * reason with its group left; c (ended above): nothing left.
	 */
	assert_int_equal(store_env_get(&e, f->st, ids[4]), 0);
	e.status = STORE_STATUS_TERMINATING;
	e.termination_reason = xstrdup("ttl expired");
	e.ssh_key_s3_key = xstrdup("envctl/keys/e/id_ed25519");
	assert_int_equal(store_env_update(f->st, &e, STORE_ENV_STATUS |
	    STORE_ENV_TERMINATION_REASON | STORE_ENV_SSH_KEY_S3_KEY), 0);
	store_env_dispose(&e);
	env_insert_ok(f->st, "f", ids[5]);
	assert_int_equal(store_env_get(&e, f->st, ids[5]), 0);
	free(e.spec_hash);
	e.spec_hash = xstrdup("sha256:ffee");
	e.status = STORE_STATUS_TERMINATED;
	e.stage = STORE_STAGE_TAGGED;
	e.instance_id = xstrdup("i-0fff");
	free(e.region);
	e.region = xstrdup("ap-south-1");
	e.attempts = 2;
	e.next_attempt_at = 1700000100;
	e.launched_at = 1700000000;
	e.ready_at = 1700000060;
	e.terminated_at = now - 100;
	e.termination_reason = xstrdup("ttl expired");
	e.ssh_key_s3_key = xstrdup("envctl/keys/f/id_ed25519");
	assert_int_equal(store_env_update(f->st, &e, STORE_ENV_SPEC_HASH |
	    STORE_ENV_STATUS | STORE_ENV_STAGE | STORE_ENV_INSTANCE_ID |
	    STORE_ENV_REGION | STORE_ENV_ATTEMPTS | STORE_ENV_NEXT_ATTEMPT_AT |
	    STORE_ENV_LAUNCHED_AT | STORE_ENV_READY_AT | STORE_ENV_TERMINATED_AT |
	    STORE_ENV_TERMINATION_REASON | STORE_ENV_SSH_KEY_S3_KEY), 0);
	store_env_dispose(&e);
	env_insert_ok(f->st, "g", ids[6]);
	assert_int_equal(store_env_get(&e, f->st, ids[6]), 0);
	e.status = STORE_STATUS_TERMINATED;
	e.terminated_at = now - 50;
	e.termination_reason = xstrdup("spec removed");
	e.security_group_id = xstrdup("sg-0g");
	assert_int_equal(store_env_update(f->st, &e, STORE_ENV_STATUS |
	    STORE_ENV_TERMINATED_AT | STORE_ENV_TERMINATION_REASON |
	    STORE_ENV_SECURITY_GROUP_ID), 0);
	store_env_dispose(&e);

	assert_int_equal(store_pass_load(&pass, f->st, now - 3600), 0);
	assert_int_equal(pass.nlive, 4);
	assert_string_equal(pass.live[0].name, "a");
	assert_string_equal(pass.live[2].name, "d");
	assert_int_equal(pass.live[2].status, STORE_STATUS_ERROR);

	/* a: as inserted */
	b = &pass.live[0];
	assert_string_equal(b->id, ids[0]);
	assert_string_equal(b->spec_hash, "sha256:0123");
	assert_null(b->instance_id);
	assert_string_equal(b->region, "us-east-1");
	assert_int_equal(b->status, STORE_STATUS_PENDING);
	assert_int_equal(b->stage, STORE_STAGE_INIT);
	assert_int_equal(b->attempts, 0);
	assert_int_equal(b->next_attempt_at, 0);
	assert_int_equal(b->launched_at, 0);
	assert_int_equal(b->ready_at, 0);
	assert_true(b->created_at >= now - 60 && b->created_at <= now + 60);
	assert_false(b->ttl_expired);
	assert_false(b->has_leftovers);

	/* b: every brief field as written; keys named but live: no leftovers */
	b = &pass.live[1];
	assert_string_equal(b->id, ids[1]);
	assert_string_equal(b->name, "b");
	assert_string_equal(b->spec_hash, "sha256:ffff");
	assert_int_equal(b->status, STORE_STATUS_READY);
	assert_int_equal(b->stage, STORE_STAGE_DONE);
	assert_string_equal(b->instance_id, "i-0123456789abcdef0");
	assert_string_equal(b->region, "eu-west-1");
	assert_int_equal(b->attempts, 3);
	assert_int_equal(b->next_attempt_at, 1900000000);
	assert_int_equal(b->launched_at, 1800000000);
	assert_int_equal(b->ready_at, 1800000123);
	assert_false(b->ttl_expired);
	assert_false(b->has_leftovers);

	/* e: live, being ended by its TTL */
	b = &pass.live[3];
	assert_string_equal(b->id, ids[4]);
	assert_string_equal(b->name, "e");
	assert_int_equal(b->status, STORE_STATUS_TERMINATING);
	assert_true(b->ttl_expired);
	assert_false(b->has_leftovers);
	/* one copy of a region for all the rows that name it */
	assert_ptr_equal(b->region, pass.live[0].region);

	/* ended rows in the order they ended: f, g, c */
	assert_int_equal(pass.nended, 3);
	b = &pass.ended[0];
	assert_string_equal(b->id, ids[5]);
	assert_string_equal(b->name, "f");
	assert_string_equal(b->spec_hash, "sha256:ffee");
	assert_int_equal(b->status, STORE_STATUS_TERMINATED);
	assert_int_equal(b->stage, STORE_STAGE_TAGGED);
	assert_string_equal(b->instance_id, "i-0fff");
	assert_string_equal(b->region, "ap-south-1");
	assert_int_equal(b->attempts, 2);
	assert_int_equal(b->next_attempt_at, 1700000100);
	assert_int_equal(b->launched_at, 1700000000);
	assert_int_equal(b->ready_at, 1700000060);
	assert_true(b->ttl_expired);
	assert_true(b->has_leftovers);
	b = &pass.ended[1];
	assert_string_equal(b->id, ids[6]);
	assert_string_equal(b->name, "g");
	assert_int_equal(b->stage, STORE_STAGE_INIT);
	assert_null(b->instance_id);
	assert_false(b->ttl_expired);
	assert_true(b->has_leftovers);
	b = &pass.ended[2];
	assert_string_equal(b->id, ids[2]);
	assert_string_equal(b->name, "c");
	assert_int_equal(b->status, STORE_STATUS_TERMINATED);
	assert_false(b->ttl_expired);
	assert_false(b->has_leftovers);

	/* created_at as psql sees it, for every row of the pass */
	got = psql(f->db, "SELECT string_agg(floor(extract(epoch FROM"
	    " created_at))::bigint::text, ',' ORDER BY name) FROM environments");
	snprintf(want, sizeof(want), "%lld,%lld,%lld,%lld,%lld,%lld,%lld",
	    (long long)pass.live[0].created_at, (long long)pass.live[1].created_at,
	    (long long)pass.ended[2].created_at, (long long)pass.live[2].created_at,
	    (long long)pass.live[3].created_at, (long long)pass.ended[0].created_at,
	    (long long)pass.ended[1].created_at);
	assert_string_equal(got, want);
	free(got);
	store_pass_dispose(&pass);
	assert_null(pass.live);
	assert_null(pass.strings);
	memset(&e, 0, sizeof(e));

	/* the live rows one at a time: whole, in name order, and it can stop */
	memset(&each, 0, sizeof(each));
	assert_int_equal(store_envs_live_each(f->st, live_each, &each), 0);
	assert_string_equal(each.names, "a,b,d,e,");
	assert_string_equal(each.b_ip, "198.51.100.7");
	assert_string_equal(each.b_error, "InsufficientInstanceCapacity");
	memset(&each, 0, sizeof(each));
	each.stop_at = 2;
	assert_int_equal(store_envs_live_each(f->st, live_each, &each), ERR_LIMIT);
	assert_string_equal(each.names, "a,b,");
	assert_int_equal(store_pass_load(&pass, f->st, now + 3600), 0);
	assert_int_equal(pass.nended, 0);
	store_pass_dispose(&pass);

	/* get_by_name of a name with only ended rows */
	assert_int_equal(store_env_get_by_name(&e, f->st, "c"), ERR_NOTFOUND);
	assert_int_equal(store_env_get_by_name(&e, f->st, "zz"), ERR_NOTFOUND);
}

struct rows_seen {
	int	 n;
	int	 stop_at;	/* return ERR_LIMIT at this row (0: never) */
	int	 bad;		/* a row out of order */
};

static int
rows_count(void *arg, const PGresult *res, int row)
{
	struct rows_seen *r = arg;

	if (strtol(PQgetvalue(res, row, 0), NULL, 10) != r->n + 1)
		r->bad++;
	if (++r->n == r->stop_at)
		return ERR_LIMIT;
	return 0;
}

/* Rows are read one by one: all of them, in order; failures mid-way. */
static void
test_store__rows_streamed(void **state)
{
	struct fx *f = *state;
	struct store_pass pass;
	struct rows_seen r;
	struct store_env *live;
	struct buf ids;
	char name[32], *got;
	size_t i, n;
	int error;

	migrate_ok(f->st);
	got = psql(f->db, "INSERT INTO environments (id, name, workspace, spec_hash,"
	    " status, stage, instance_id, region, cluster_id) SELECT"
	    " gen_random_uuid(), 'n' || lpad(i::text, 5, '0'), 'w', 'v1:h' || i,"
	    " 'ready', 'DONE', 'i-' || i, CASE i % 3 WHEN 0 THEN 'us-east-1'"
	    " WHEN 1 THEN 'eu-west-1' END, 'default' FROM generate_series(1, 2500) i");
	free(got);
	assert_int_equal(store_pass_load(&pass, f->st, time(NULL) - 60), 0);
	assert_int_equal(pass.nlive, 2500);
	assert_int_equal(pass.nended, 0);
	buf_init(&ids, 2500 * STORE_ID_LEN);
	for (i = 0; i < pass.nlive; i++) {
		const struct store_brief *b = &pass.live[i];

		snprintf(name, sizeof(name), "n%05zu", i + 1);
		assert_string_equal(b->name, name);
		assert_int_equal(b->status, STORE_STATUS_READY);
		assert_int_equal(b->stage, STORE_STAGE_DONE);
		assert_int_equal(strtol(b->instance_id + 2, NULL, 10), (int)i + 1);
		assert_int_equal(strtol(b->spec_hash + 4, NULL, 10), (int)i + 1);
		if ((i + 1) % 3 == 2)
			assert_null(b->region);
		else
			assert_string_equal(b->region, (i + 1) % 3 == 0 ?
			    "us-east-1" : "eu-west-1");
		buf_printf(&ids, "%s%s", i > 0 ? "," : "", b->id);
	}
	/* the ids, strings of several chunks, are the rows' own */
	got = psql(f->db, "SELECT string_agg(id::text, ',' ORDER BY name)"
	    " FROM environments");
	assert_string_equal(got, buf_cstr(&ids));
	free(got);
	buf_dispose(&ids);
	store_pass_dispose(&pass);

	/* every row, in order, through the callback */
	memset(&r, 0, sizeof(r));
	assert_int_equal(store_exec_rows(f->st, "count", "SELECT i FROM"
	    " generate_series(1, 3000) i ORDER BY i", 0, NULL, rows_count, &r), 0);
	assert_int_equal(r.n, 3000);
	assert_int_equal(r.bad, 0);

	/* the callback stops it: its error, no more calls, connection usable */
	memset(&r, 0, sizeof(r));
	r.stop_at = 10;
	assert_int_equal(store_exec_rows(f->st, "stop", "SELECT i FROM"
	    " generate_series(1, 3000) i ORDER BY i", 0, NULL, rows_count, &r),
	    ERR_LIMIT);
	assert_int_equal(r.n, 10);

	/* the server fails after sending rows: mapped, connection usable */
	memset(&r, 0, sizeof(r));
	error = store_exec_rows(f->st, "midway", "SELECT CASE WHEN i < 2000 THEN i"
	    " ELSE 1 / (i - i) END FROM generate_series(1, 3000) i", 0, NULL,
	    rows_count, &r);
	assert_int_equal(error, ERR_INVALID);
	assert_err_contains("midway: division by zero");
	assert_true(r.n < 2000);

	/* a query that never starts */
	memset(&r, 0, sizeof(r));
	assert_int_equal(store_exec_rows(f->st, "bad", "SELECT nosuchcolumn FROM"
	    " environments", 0, NULL, rows_count, &r), ERR_INVALID);
	assert_err_contains("bad: ");
	assert_int_equal(r.n, 0);

	/* no rows at all */
	memset(&r, 0, sizeof(r));
	assert_int_equal(store_exec_rows(f->st, "none", "SELECT 1 WHERE false",
	    0, NULL, rows_count, &r), 0);
	assert_int_equal(r.n, 0);

	/* lists come packed; setting a text field unpacks the row first */
	assert_int_equal(store_envs_load_live(&live, &n, f->st), 0);
	assert_int_equal(n, 2500);
	assert_non_null(live[0].packed);
	assert_string_equal(live[0].workspace, "w");
	assert_null(live[0].public_ip);
	assert_int_equal(store_env_set_text(&live[0], STORE_ENV_INSTANCE_ID,
	    "i-new", 5), 0);
	assert_null(live[0].packed);
	assert_string_equal(live[0].instance_id, "i-new");
	assert_string_equal(live[0].name, "n00001");
	assert_string_equal(live[0].spec_hash, "v1:h1");
	assert_string_equal(live[0].metadata, "{}");
	assert_int_equal(store_env_set_text(&live[1], STORE_ENV_PUBLIC_IP,
	    "198.51.100.1", 12), 0);
	assert_string_equal(live[1].public_ip, "198.51.100.1");
	assert_string_equal(live[1].instance_id, "i-2");
	store_envs_free(live, n);
}

static void
test_store__update_guard(void **state)
{
	struct fx *f = *state;
	char id[STORE_ID_LEN];
	struct store_env a, b;

	migrate_ok(f->st);
	env_insert_ok(f->st, "guarded", id);
	assert_int_equal(store_env_get(&a, f->st, id), 0);
	assert_int_equal(store_env_get(&b, f->st, id), 0);
	a.stage = STORE_STAGE_KEYS_GENERATED;
	assert_int_equal(store_env_update(f->st, &a,
	    STORE_ENV_STAGE | STORE_ENV_GUARD), 0);
	assert_int_equal(a.row_version, 2);
	/* b is stale now */
	b.stage = STORE_STAGE_SG_READY;
	assert_int_equal(store_env_update(f->st, &b,
	    STORE_ENV_STAGE | STORE_ENV_GUARD), ERR_CONFLICT);
	assert_err_contains("stale");
	assert_psql(f->db, "SELECT stage FROM environments", "KEYS_GENERATED");
	/* unguarded, the last writer wins */
	assert_int_equal(store_env_update(f->st, &b, STORE_ENV_STAGE), 0);
	assert_int_equal(b.row_version, 3);
	assert_psql(f->db, "SELECT stage || row_version FROM environments",
	    "SG_READY3");
	/* a row that is not there */
	snprintf(b.id, sizeof(b.id), "%s", "00000000-0000-4000-8000-000000000000");
	assert_int_equal(store_env_update(f->st, &b, STORE_ENV_STAGE), ERR_NOTFOUND);
	snprintf(b.id, sizeof(b.id), "%s", "not-a-uuid");
	assert_int_equal(store_env_update(f->st, &b, STORE_ENV_STAGE), ERR_INVALID);
#ifdef ENVCTL_FAILPOINTS
	/* a failpoint stops the update before it reaches the database */
	assert_int_equal(failpoint_configure("store.env_update=error"), 0);
	b.stage = STORE_STAGE_DONE;
	snprintf(b.id, sizeof(b.id), "%s", id);
	assert_int_equal(store_env_update(f->st, &b, STORE_ENV_STAGE), ERR_FAILPOINT);
	assert_int_equal(failpoint_configure(""), 0);
	assert_err_contains("failpoint store.env_update");
	assert_psql(f->db, "SELECT stage FROM environments", "SG_READY");
#endif
	/* a value the CHECK constraint refuses */
	snprintf(b.id, sizeof(b.id), "%s", id);
	b.attempts = -1;
	assert_int_equal(store_env_update(f->st, &b, STORE_ENV_ATTEMPTS), ERR_INVALID);
	store_env_dispose(&a);
	store_env_dispose(&b);
}

/*
 * The deletion budget's count: terminations of instances (terminate,
 * replace: remote.terminate naming an instance, not a close; orphans and
 * duplicates: orphan.terminated) after since, oldest first.
 */
static void
test_store__terminations_since(void **state)
{
	struct fx *f = *state;
	static const char *const ids[] = { "i-held", "i-new", "i-other" };
	char id[STORE_ID_LEN], sql[256];
	int64_t *t = NULL, old = 0;
	bool seen[3];
	time_t now = time(NULL);
	size_t n = 99;

	migrate_ok(f->st);
	env_insert_ok(f->st, "tb", id);
	assert_int_equal(store_terminations_since(&t, &n, f->st, now - 3600), 0);
	assert_int_equal(n, 0);
	assert_null(t);
#define EV(eid, type, json) \
	assert_int_equal(store_event_add(NULL, f->st, eid, type, json, \
	    strlen(json)), 0)
	EV(id, "remote.terminate", "{\"instance_id\":\"i-1\",\"kind\":\"terminate\"}");
	EV(id, "remote.terminate", "{\"instance_id\":\"i-2\",\"kind\":\"close\"}");
	EV(id, "remote.terminate", "{\"instance_id\":null}");
	EV(id, "remote.terminate", "{\"instance_id\":\"i-3\"}");	/* before "kind" */
	EV(NULL, "orphan.terminated", "{\"instance_id\":\"i-4\"}");
	EV(id, "remote.provision.start", "{\"instance_id\":\"i-5\"}");
	EV(id, "remote.terminate", "{\"instance_id\":\"i-6\",\"kind\":\"replace\"}");
	EV(NULL, "termination.held", "{\"instance_id\":\"i-held\"}");
#undef EV
	/* i-6 two hours ago: outside a one-hour window; i-3 ten minutes ago */
	snprintf(sql, sizeof(sql), "UPDATE events SET created_at = now() - "
	    "interval '2 hours' WHERE payload->>'instance_id' = 'i-6'");
	free(psql(f->db, sql));
	snprintf(sql, sizeof(sql), "UPDATE events SET created_at = now() - "
	    "interval '10 minutes' WHERE payload->>'instance_id' = 'i-3'");
	free(psql(f->db, sql));
	assert_int_equal(store_terminations_since(&t, &n, f->st, now - 3600), 0);
	assert_int_equal(n, 3);	/* i-3, then i-1 and i-4 */
	assert_true(t[0] <= now - 590 && t[0] >= now - 610);
	assert_true(t[1] >= now - 5 && t[2] >= t[1]);
	free(t);
	assert_int_equal(store_terminations_since(&t, &n, f->st, now - 3 * 3600),
	    0);
	assert_int_equal(n, 4);
	old = t[0];
	assert_true(old <= now - 7190 && old >= now - 7210);
	free(t);
	assert_psql(f->db, "SELECT count(*) FROM events WHERE created_at > now() - "
	    "interval '1 hour' AND type IN ('remote.terminate', "
	    "'orphan.terminated')", "5");

	assert_int_equal(store_event_instances_seen(seen, f->st,
	    "termination.held", ids, 3), 0);
	assert_true(seen[0]);
	assert_false(seen[1]);
	assert_false(seen[2]);
	assert_int_equal(store_event_instances_seen(seen, f->st,
	    "orphan.terminated", ids, 0), 0);
}

static void
test_store__events_and_runs(void **state)
{
	struct fx *f = *state;
	char id[STORE_ID_LEN];
	struct store_event *evs = NULL;
	struct store_run *runs = NULL;
	struct store_count counts[] = { { "terminate", 1 }, { "provision", 2 } };
	int64_t eid = 0, rid = 0, rid2 = 0;
	size_t n = 0;
	char *got;

	migrate_ok(f->st);
	env_insert_ok(f->st, "ev", id);
	assert_int_equal(store_event_add(&eid, f->st, id, "remote.provision.start",
	    "{\"attempt\": 1}", 14), 0);
	assert_true(eid > 0);
	assert_int_equal(store_event_add(NULL, f->st, NULL, "orphan.terminated",
	    NULL, 0), 0);
	assert_int_equal(store_event_add(NULL, f->st, id, "remote.provision.error",
	    "{\"error\":\"x\",  \"stage\" : \"SG_READY\"}", 36), 0);
	assert_int_equal(store_event_add(NULL, f->st, id, "remote.provision.ready",
	    "{}", 2), 0);
	assert_int_equal(store_event_add(NULL, f->st, id, "", "{}", 2), ERR_INVALID);
	assert_int_equal(store_event_add(NULL, f->st, id, "x", "{", 1), ERR_INVALID);

	assert_int_equal(store_events_recent(&evs, &n, f->st, NULL, 10), 0);
	assert_int_equal(n, 4);
	assert_string_equal(evs[0].type, "remote.provision.ready");
	assert_string_equal(evs[2].type, "orphan.terminated");
	assert_string_equal(evs[2].env_id, "");
	assert_string_equal(evs[2].payload, "{}");
	assert_string_equal(evs[3].env_id, id);
	assert_int_equal(evs[3].id, eid);
	assert_true(evs[3].created_at > 0);
	store_events_free(evs, n);
	assert_int_equal(store_events_recent(&evs, &n, f->st, id, 2), 0);
	assert_int_equal(n, 2);
	assert_string_equal(evs[1].type, "remote.provision.error");
	assert_string_equal(evs[1].payload, "{\"error\": \"x\", \"stage\": \"SG_READY\"}");
	store_events_free(evs, n);
	assert_psql(f->db, "SELECT count(*) FILTER (WHERE env_id IS NULL) || '/'"
	    " || count(*) FROM events", "1/4");

	assert_int_equal(store_run_begin(&rid, f->st, "c0ffee"), 0);
	assert_int_equal(store_run_begin(&rid2, f->st, NULL), 0);
	assert_int_equal(store_run_finish(f->st, rid, counts, 2, 1, 0, NULL), 0);
	assert_int_equal(store_run_finish(f->st, rid2, NULL, 0, 0, 3,
	    "spec source unreadable"), 0);
	assert_int_equal(store_run_finish(f->st, rid2 + 100, NULL, 0, 0, 0, NULL),
	    ERR_NOTFOUND);
	assert_int_equal(store_runs_recent(&runs, &n, f->st, 10), 0);
	assert_int_equal(n, 2);
	assert_int_equal(runs[1].id, rid);
	assert_string_equal(runs[1].revision, "c0ffee");
	assert_string_equal(runs[1].counts, "{\"provision\": 2, \"terminate\": 1}");
	assert_int_equal(runs[1].drift_found, 1);
	assert_int_equal(runs[1].errors, 0);
	assert_null(runs[1].error);
	assert_true(runs[1].finished_at >= runs[1].started_at);
	assert_null(runs[0].revision);
	assert_int_equal(runs[0].errors, 3);
	assert_string_equal(runs[0].error, "spec source unreadable");
	assert_string_equal(runs[0].counts, "{}");
	store_runs_free(runs, n);
	got = psql(f->db, "SELECT (counts->>'provision') || '|' || drift_found ||"
	    " '|' || (finished_at IS NOT NULL) FROM reconcile_runs"
	    " WHERE revision = 'c0ffee'");
	assert_string_equal(got, "2|1|true");
	free(got);
}

/* ---- connections ------------------------------------------------------- */

static int
dead_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);	/* nothing listens there now */
	return ntohs(sa.sin_port);
}

static double
elapsed(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
test_store__unreachable(void **state)
{
	struct store *st = NULL;
	struct timespec t0;
	char url[256], portstr[16];
	int port = dead_port();

	(void)state;
	snprintf(portstr, sizeof(portstr), "%d", port);
	snprintf(url, sizeof(url),
	    "postgresql://envctl:s3cr3t-pw@127.0.0.1:%d/envctl", port);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(store_open(&st, url), ERR_UNAVAILABLE);
	assert_true(elapsed(&t0) < 3.0);
	assert_null(st);
	assert_err_contains("cannot connect to PostgreSQL");
	assert_err_contains("127.0.0.1");
	assert_err_contains(portstr);
	assert_null(strstr(err_get(), "s3cr3t"));

	snprintf(url, sizeof(url), "host=127.0.0.1 port=%d password=s3cr3t-pw"
	    " dbname=x", port);
	assert_int_equal(store_open(&st, url), ERR_UNAVAILABLE);
	assert_err_contains(portstr);
	assert_null(strstr(err_get(), "s3cr3t"));

	/* a URL libpq cannot parse: refused, and the secret not echoed */
	assert_int_equal(store_open(&st, "postgresql://u:s3cr3t@h/db?bogus=1"),
	    ERR_INVALID);
	assert_null(strstr(err_get(), "s3cr3t"));
	assert_int_equal(store_open(&st, "host=x password='s3cr3t"), ERR_INVALID);
	assert_null(strstr(err_get(), "s3cr3t"));
}

/* A server that accepts the connection but never answers. */
static void
test_store__server_never_answers(void **state)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	struct store *st = NULL;
	struct timespec t0;
	char url[256];
	double took;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	(void)state;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);	/* the kernel completes handshakes */
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	/* the URL's connect_timeout overrides the store's default (5 s) */
	snprintf(url, sizeof(url), "postgresql://u@127.0.0.1:%d/db?connect_timeout=2",
	    ntohs(sa.sin_port));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(store_open(&st, url), ERR_UNAVAILABLE);
	took = elapsed(&t0);
	close(fd);
	assert_true(took >= 1.5 && took < 4.5);
	assert_err_contains("timeout");
}

static const char *
conn_option(PQconninfoOption *opts, const char *key)
{
	for (; opts->keyword != NULL; opts++)
		if (strcmp(opts->keyword, key) == 0)
			return opts->val != NULL ? opts->val : "";
	return "";
}

/*
 * The connection is set up to notice a dead peer and never to wait
 * forever; these are defaults, and the URL's own settings win.
 */
static void
test_store__connection_settings(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	PGresult *res = NULL;
	PQconninfoOption *opts;
	char url[160];

	opts = PQconninfo(f->st->conn);
	assert_string_equal(conn_option(opts, "keepalives"), "1");
	assert_string_equal(conn_option(opts, "keepalives_idle"), "30");
	assert_string_equal(conn_option(opts, "keepalives_interval"), "10");
	assert_string_equal(conn_option(opts, "keepalives_count"), "3");
	assert_string_equal(conn_option(opts, "tcp_user_timeout"), "60000");
	assert_string_equal(conn_option(opts, "connect_timeout"), "5");
	assert_string_equal(conn_option(opts, "client_encoding"), "UTF8");
	PQconninfoFree(opts);

	assert_int_equal(store_exec(&res, f->st, "show", "SHOW statement_timeout",
	    0, NULL, PGRES_TUPLES_OK), 0);
	assert_string_equal(PQgetvalue(res, 0, 0), "1min");
	PQclear(res);
	snprintf(url, sizeof(url), "dbname=%s options='-c statement_timeout=200'",
	    f->db);
	assert_int_equal(store_open(&st, url), 0);
	assert_int_equal(store_exec(NULL, st, "sleep", "SELECT pg_sleep(3)", 0,
	    NULL, PGRES_TUPLES_OK), ERR_TIMEOUT);
	assert_err_contains("statement timeout");
	store_free(st);
}

static void
test_store__reconnects(void **state)
{
	struct fx *f = *state;
	char sql[256];
	int v = 0, rc;

	migrate_ok(f->st);
	/* a bare database name is a valid database_url too (host etc. from PG*) */
	{
		struct store *st2 = NULL;

		if (store_open(&st2, f->db) != 0)
			fail_msg("open by bare name: %s", err_get());
		assert_int_equal(store_check_version(st2), 0);
		assert_non_null(strstr(store_describe(st2), f->db));
		store_free(st2);
	}
	snprintf(sql, sizeof(sql), "SELECT count(pg_terminate_backend(pid)) FROM"
	    " pg_stat_activity WHERE datname = '%s' AND application_name ="
	    " 'envctl'", f->db);
	assert_psql("postgres", sql, "1");
	/* the first use notices the loss; the next one reconnects */
	rc = store_schema_version(&v, f->st);
	if (rc != 0) {
		assert_int_equal(rc, ERR_UNAVAILABLE);
		assert_err_contains("lost the connection");
		rc = store_schema_version(&v, f->st);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(v, store_schema_latest());
}

/*
 * The leader lease: taken only when free or expired (by the database's
 * clock), renewed by its holder at the same epoch, one epoch more on
 * every takeover; a session writing under a stale epoch changes nothing
 * (ERR_FENCED); a dead holder can be evicted; released, it is free at once.
 */
static void
test_store__lease(void **state)
{
	struct fx *f = *state;
	struct store *b = NULL;
	struct store_lease cur;
	int64_t ea = -1, eb = -1;
	char sql[96];

	migrate_ok(f->st);
	assert_int_equal(store_open(&b, f->conninfo), 0);
	store_cluster_set(b, "c1");
	store_cluster_set(f->st, "c1");
	assert_int_equal(store_lease_acquire(&ea, f->st, "c1", "A", NULL, 600,
	    NULL), 0);
	assert_int_equal(ea, 1);
	assert_int_equal(store_lease_acquire(&eb, b, "c1", "B", NULL, 600, NULL), 0);
	assert_int_equal(eb, 0);
	/* another cluster is another lease */
	assert_int_equal(store_lease_acquire(&eb, b, "c2", "B", NULL, 600, NULL), 0);
	assert_int_equal(eb, 1);
	/* renewed in time: the same epoch */
	assert_int_equal(store_lease_acquire(&ea, f->st, "c1", "A", NULL, 600,
	    NULL), 0);
	assert_int_equal(ea, 1);
	assert_psql(f->db, "SELECT holder || ':' || epoch || ':' ||"
	    " (expires_at > now()) FROM leader_lease WHERE cluster_id = 'c1'",
	    "A:1:true");

	/* A's writes under epoch 1 pass */
	assert_int_equal(store_fence_set(f->st, "c1", "A", 1), 0);
	assert_int_equal(store_event_add(NULL, f->st, NULL, "t.a1", NULL, 0), 0);

	/* B takes over only once A's lease expired */
	usleep(700000);
	assert_int_equal(store_lease_acquire(&eb, b, "c1", "B", NULL, 60000,
	    NULL), 0);
	assert_int_equal(eb, 2);
	assert_psql(f->db, "SELECT holder || ':' || epoch FROM leader_lease"
	    " WHERE cluster_id = 'c1'", "B:2");
	/* A finds it taken */
	assert_int_equal(store_lease_acquire(&ea, f->st, "c1", "A", NULL, 600,
	    NULL), 0);
	assert_int_equal(ea, 0);

	/* A's epoch is stale now: its writes change nothing */
	assert_int_equal(store_event_add(NULL, f->st, NULL, "t.a2", NULL, 0),
	    ERR_FENCED);
	assert_err_contains("fenced");
	{
		struct store_env e;
		char id[STORE_ID_LEN];

		env_fill(&e, "fx");
		assert_int_equal(store_env_insert(id, f->st, &e), ERR_FENCED);
		store_env_dispose(&e);
	}
	assert_psql(f->db, "SELECT count(*) FILTER (WHERE type = 't.a1') || '/' ||"
	    " count(*) FILTER (WHERE type = 't.a2') FROM events", "1/0");
	assert_psql(f->db, "SELECT count(*) FROM environments WHERE name = 'fx'",
	    "0");
	{
		struct store_cost_seg seg;

		memset(&seg, 0, sizeof(seg));
		seg.instance_id = "i-fenced";
		seg.kind = STORE_COST_COMPUTE;
		seg.started_at = 1000;
		assert_int_equal(store_cost_open(f->st, &seg), ERR_FENCED);
		assert_int_equal(store_cost_close(f->st, "i-fenced",
		    STORE_COST_COMPUTE, 2000), ERR_FENCED);
		assert_int_equal(store_cost_reprice(NULL, f->st, "i-fenced",
		    2000, 0.5), ERR_FENCED);
	}
	assert_psql(f->db, "SELECT count(*) FROM cost_segments", "0");
	/* B's pass under epoch 2; epoch 1 under B's name is stale too */
	assert_int_equal(store_fence_set(b, "c1", "B", 1), 0);
	assert_int_equal(store_event_add(NULL, b, NULL, "t.b1", NULL, 0),
	    ERR_FENCED);
	assert_int_equal(store_fence_set(b, "c1", "B", 2), 0);
	assert_int_equal(store_event_add(NULL, b, NULL, "t.b2", NULL, 0), 0);
	/* the fence outlives a reconnection */
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)",
	    PQbackendPID(f->st->conn));
	assert_psql("postgres", sql, "t");
	if (store_event_add(NULL, f->st, NULL, "t.a3", NULL, 0) == ERR_UNAVAILABLE)
		assert_int_equal(store_event_add(NULL, f->st, NULL, "t.a3", NULL,
		    0), ERR_FENCED);
	assert_psql(f->db, "SELECT count(*) FROM events WHERE type = 't.a3'", "0");

	/* a holder known dead is evicted before its expiry; a live name is not */
	assert_int_equal(store_lease_acquire(&ea, f->st, "c1", "A", "ns", 60000,
	    "nobody"), 0);
	assert_int_equal(ea, 0);
	assert_int_equal(store_lease_acquire(&ea, f->st, "c1", "A", "ns", 60000,
	    "B"), 0);
	assert_int_equal(ea, 3);
	assert_int_equal(store_lease_get(&cur, b, "c1"), 0);
	assert_string_equal(cur.holder, "A");
	assert_string_equal(cur.pidns, "ns");
	assert_true(cur.live && cur.epoch == 3);
	/* released: free at once, the next holder's epoch is one more */
	assert_int_equal(store_lease_release(f->st, "c1", "A"), 0);
	assert_psql(f->db, "SELECT expires_at < now() FROM leader_lease WHERE"
	    " cluster_id = 'c1'", "t");
	assert_int_equal(store_lease_acquire(&eb, b, "c1", "B", NULL, 60000,
	    NULL), 0);
	assert_int_equal(eb, 4);
	store_free(b);
}

/*
 * A backend that stops answering (SIGSTOP: no statement_timeout runs, the
 * kernel still acknowledges) holds a call no longer than the store's
 * client-side bound; the next call opens a new session.
 */
static void
test_store__call_bounded(void **state)
{
	struct fx *f = *state;
	struct store *b = NULL;
	struct timespec t0;
	double took;
	pid_t pid;
	int v = 0, rc;

	migrate_ok(f->st);
	assert_int_equal(store_open(&b, f->conninfo), 0);
	store_timeout_set(b, 500);
	assert_int_equal(store_session_name(b, "envctl-bounded"), 0);
	assert_psql(f->db, "SELECT count(*) FROM pg_stat_activity WHERE"
	    " application_name = 'envctl-bounded'", "1");
	pid = (pid_t)PQbackendPID(b->conn);
	if (kill(pid, SIGSTOP) < 0) {
		store_free(b);
		skip();		/* the server runs as another user */
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = store_schema_version(&v, b);
	took = elapsed(&t0);
	kill(pid, SIGCONT);	/* before any assertion: teardown drops the database */
	assert_int_equal(rc, ERR_UNAVAILABLE);
	assert_true(took < 1.5);
	assert_err_contains("no answer from PostgreSQL");
	assert_int_equal(store_schema_version(&v, b), 0);
	assert_int_equal(v, store_schema_latest());
	/* the new session has its name again */
	assert_psql(f->db, "SELECT count(*) FROM pg_stat_activity WHERE"
	    " application_name = 'envctl-bounded'", "1");
	store_free(b);
}

/* Run sql in db with psql, its output dropped. */
static void
psql_run(const char *db, const char *sql)
{
	free(psql(db, sql));
}

/*
 * The cost ledger (migration 8): the backfill of live rows, an open that
 * a replay repeats opens nothing twice, a stop closes compute only, a
 * start reopens it at the same prices, a termination closes everything;
 * the list is by env id and start; checked against psql.
 */
static void
test_store__cost_ledger(void **state)
{
	struct fx *f = *state;
	struct store_cost_seg seg, *v = NULL;
	char id[STORE_ID_LEN], old[STORE_ID_LEN], sql[512];
	size_t n = 0;

	assert_int_equal(store_migrate_to(f->st, 7, NULL, NULL), 0);
	env_insert_ok(f->st, "old", old);
	snprintf(sql, sizeof(sql), "UPDATE environments SET status = 'ready',"
	    " instance_id = 'i-old', launched_at = to_timestamp(1000),"
	    " stopped_seconds = 100, cost_per_hour_usd = 0.5 WHERE id = '%s'",
	    old);
	psql_run(f->db, sql);
	assert_int_equal(store_migrate_to(f->st, 8, NULL, NULL), 0);
	assert_psql(f->db, "SELECT instance_id || ':' || kind || ':' ||"
	    " extract(epoch FROM started_at)::bigint || ':' ||"
	    " (ended_at IS NULL) || ':' || usd_per_hour FROM cost_segments",
	    "i-old:compute:1100:true:0.50000000");

	env_insert_ok(f->st, "web", id);
	memset(&seg, 0, sizeof(seg));
	snprintf(seg.env_id, sizeof(seg.env_id), "%s", id);
	seg.env_name = "web";
	seg.workspace = "team";
	seg.instance_id = "i-1";
	seg.market = "spot";
	seg.region = "us-east-1";
	seg.az = "us-east-1b";
	seg.instance_type = "t3.micro";
	seg.kind = STORE_COST_COMPUTE;
	seg.usd_per_hour = 0.0031;
	seg.od_usd_per_hour = 0.0104;
	seg.started_at = 2000;
	assert_int_equal(store_cost_open(f->st, &seg), 0);
	seg.kind = STORE_COST_STORAGE;
	seg.usd_per_hour = seg.od_usd_per_hour = 0.002;
	assert_int_equal(store_cost_open(f->st, &seg), 0);
	/* a replay (even with another start) opens nothing */
	assert_int_equal(store_cost_open(f->st, &seg), 0);
	seg.kind = STORE_COST_COMPUTE;
	seg.started_at = 2005;
	assert_int_equal(store_cost_open(f->st, &seg), 0);
	assert_psql(f->db, "SELECT count(*) FROM cost_segments WHERE"
	    " instance_id = 'i-1'", "2");
	/* stop at 3000, start at 4000, terminate at 5000 */
	assert_int_equal(store_cost_close(f->st, "i-1", STORE_COST_COMPUTE,
	    3000), 0);
	assert_int_equal(store_cost_reopen(f->st, "i-1", 4000), 0);
	assert_int_equal(store_cost_reopen(f->st, "i-1", 4001), 0);
	assert_int_equal(store_cost_close(f->st, "i-1", STORE_COST_COMPUTE |
	    STORE_COST_STORAGE, 5000), 0);
	/* closing again changes nothing */
	assert_int_equal(store_cost_close(f->st, "i-1", STORE_COST_COMPUTE |
	    STORE_COST_STORAGE, 6000), 0);
	assert_psql(f->db, "SELECT string_agg(kind || ':' || market || ':' ||"
	    " az || ':' || usd_per_hour || ':' || extract(epoch FROM started_at)::bigint"
	    " || '-' || extract(epoch FROM ended_at)::bigint, ',' ORDER BY started_at,"
	    " kind) FROM cost_segments WHERE instance_id = 'i-1'",
	    "compute:spot:us-east-1b:0.00310000:2000-3000,"
	    "storage:spot:us-east-1b:0.00200000:2000-5000,"
	    "compute:spot:us-east-1b:0.00310000:4000-5000");
	/* the list: one env, by start; since drops what ended before */
	assert_int_equal(store_cost_list(&v, &n, f->st, id, 0, false), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].instance_id, "i-1");
	assert_string_equal(v[0].workspace, "team");
	assert_string_equal(v[0].instance_type, "t3.micro");
	assert_int_equal(v[0].started_at, 2000);
	assert_int_equal(v[2].started_at, 4000);
	assert_int_equal(v[2].ended_at, 5000);
	assert_true(v[0].od_usd_per_hour > 0.0103 && v[0].od_usd_per_hour < 0.0105);
	store_cost_list_free(v, n);
	assert_int_equal(store_cost_list(&v, &n, f->st, NULL, 4500, false), 0);
	assert_int_equal(n, 3);	/* i-old (open), storage and compute to 5000 */
	store_cost_list_free(v, n);
	assert_int_equal(store_cost_list(&v, &n, f->st, NULL, 0, true), 0);
	assert_int_equal(n, 4);
	store_cost_list_free(v, n);
	psql_run(f->db, "UPDATE environments SET status = 'terminated'");
	assert_int_equal(store_cost_list(&v, &n, f->st, NULL, 0, true), 0);
	assert_int_equal(n, 0);
	store_cost_list_free(v, n);
}

/*
 * A spot price change: store_cost_reprice() closes the open compute
 * segment and opens its continuation (continues, same zone and type,
 * the on-demand price kept) in one go; an unchanged price, no open
 * segment, and a replay change nothing; a start after a stop is a
 * start again (continues false); checked against psql.
 */
static void
test_store__cost_reprice(void **state)
{
	struct fx *f = *state;
	struct store_cost_seg seg, *v = NULL;
	char id[STORE_ID_LEN];
	size_t n = 0;
	int changed = -1;

	migrate_ok(f->st);
	env_insert_ok(f->st, "web", id);
	memset(&seg, 0, sizeof(seg));
	snprintf(seg.env_id, sizeof(seg.env_id), "%s", id);
	seg.env_name = "web";
	seg.instance_id = "i-1";
	seg.market = "spot";
	seg.region = "us-east-1";
	seg.az = "us-east-1b";
	seg.instance_type = "t3.micro";
	seg.kind = STORE_COST_COMPUTE;
	seg.usd_per_hour = 0.0031;
	seg.od_usd_per_hour = 0.0104;
	seg.started_at = 2000;
	assert_int_equal(store_cost_open(f->st, &seg), 0);
	seg.kind = STORE_COST_STORAGE;
	seg.usd_per_hour = seg.od_usd_per_hour = 0.002;
	assert_int_equal(store_cost_open(f->st, &seg), 0);
	/* unchanged (within 1e-6), and not after the segment's start: nothing */
	assert_int_equal(store_cost_reprice(&changed, f->st, "i-1", 2500,
	    0.0031004), 0);
	assert_int_equal(changed, 0);
	assert_int_equal(store_cost_reprice(&changed, f->st, "i-1", 2000,
	    0.004), 0);
	assert_int_equal(changed, 0);
	assert_int_equal(store_cost_reprice(&changed, f->st, "i-none", 2500,
	    0.004), 0);
	assert_int_equal(changed, 0);
	assert_psql(f->db, "SELECT count(*) FROM cost_segments", "2");
	/* a new price at 2600; its replay (same or other price) changes nothing */
	assert_int_equal(store_cost_reprice(&changed, f->st, "i-1", 2600,
	    0.0042), 0);
	assert_int_equal(changed, 1);
	assert_int_equal(store_cost_reprice(&changed, f->st, "i-1", 2600,
	    0.0042), 0);
	assert_int_equal(changed, 0);
	assert_int_equal(store_cost_reprice(&changed, f->st, "i-1", 2600,
	    0.0050), 0);
	assert_int_equal(changed, 0);
	/* stop at 3000, start at 4000: a start, not a continuation */
	assert_int_equal(store_cost_close(f->st, "i-1", STORE_COST_COMPUTE,
	    3000), 0);
	assert_int_equal(store_cost_reprice(&changed, f->st, "i-1", 3500,
	    0.006), 0);
	assert_int_equal(changed, 0);
	assert_int_equal(store_cost_reopen(f->st, "i-1", 4000), 0);
	assert_psql(f->db, "SELECT string_agg(kind || ':' || az || ':' ||"
	    " instance_type || ':' || usd_per_hour || ':' || od_usd_per_hour"
	    " || ':' || continues || ':' || extract(epoch FROM started_at)::bigint"
	    " || '-' || coalesce(extract(epoch FROM ended_at)::bigint::text, ''),"
	    " ',' ORDER BY started_at, kind) FROM cost_segments",
	    "compute:us-east-1b:t3.micro:0.00310000:0.01040000:false:2000-2600,"
	    "storage:us-east-1b:t3.micro:0.00200000:0.00200000:false:2000-,"
	    "compute:us-east-1b:t3.micro:0.00420000:0.01040000:true:2600-3000,"
	    "compute:us-east-1b:t3.micro:0.00420000:0.01040000:false:4000-");
	assert_int_equal(store_cost_list(&v, &n, f->st, id, 0, false), 0);
	assert_int_equal(n, 4);
	assert_false(v[0].continues);
	assert_true(v[2].continues);
	assert_false(v[3].continues);
	store_cost_list_free(v, n);
}

/* Which live rows may have an open drift: one query, checked against psql. */
static void
test_store__drift_open_ids(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = { "open", "closed", "reopened",
	    "nofact", "gone", "never" };
	char ids[6][STORE_ID_LEN], (*got)[STORE_ID_LEN] = NULL;
	const char *want[2];
	struct store_env e;
	size_t i, n = 0;

	migrate_ok(f->st);
	for (i = 0; i < 6; i++) {
		env_fill(&e, names[i]);
		assert_int_equal(store_env_insert(ids[i], f->st, &e), 0);
		store_env_dispose(&e);
	}
#define EV(i, type, payload)						\
	assert_int_equal(store_event_add(NULL, f->st, ids[i], type, payload,	\
	    strlen(payload)), 0)
	EV(0, "drift.detected", "{\"fact\": \"a\"}");
	EV(0, "remote.provision.ready", "{}");		/* not a drift event */
	EV(1, "drift.detected", "{\"fact\": \"b\"}");
	EV(1, "drift.resolved", "{\"fact\": \"b\"}");
	EV(2, "drift.detected", "{\"fact\": \"c\"}");
	EV(2, "drift.resolved", "{\"fact\": \"c\"}");
	EV(2, "drift.detected", "{\"fact\": \"c\"}");
	EV(3, "drift.detected", "{\"action\": \"replace\"}");	/* acted on */
	EV(4, "drift.detected", "{\"fact\": \"d\"}");
#undef EV
	free(psql(f->db, "UPDATE environments SET status = 'terminated' "
	    "WHERE name = 'gone'"));
	assert_int_equal(store_drift_open_ids(&got, &n, f->st), 0);
	want[0] = strcmp(ids[0], ids[2]) < 0 ? ids[0] : ids[2];
	want[1] = want[0] == ids[0] ? ids[2] : ids[0];
	assert_int_equal(n, 2);
	assert_string_equal(got[0], want[0]);
	assert_string_equal(got[1], want[1]);
	free(got);
}

/*
 * An event of type with payload, on row env_id (or none), recorded
 * minutes ago by the database's clock (set with psql).
 */
static void
event_at(struct fx *f, struct store *st, const char *env_id,
    const char *type, const char *payload, int minutes)
{
	char sql[160];
	int64_t id = 0;

	if (store_event_add(&id, st, env_id, type, payload, strlen(payload)) != 0)
		fail_msg("event %s: %s", type, err_get());
	snprintf(sql, sizeof(sql), "UPDATE events SET created_at = date_trunc("
	    "'second', now()) - interval '%d minutes' WHERE id = %lld", minutes,
	    (long long)id);
	free(psql(f->db, sql));
}

/*
 * The open quota holds (design §3.10): a quota.held is open until a
 * later quota.released naming it or a later provision start of a row of
 * that name (later: by time; within one second of the clock, by id).
 * One hold per name, since its oldest open quota.held, with the
 * workspace and reason of its newest; oldest first, then by name.
 * Another cluster's events neither open nor close ours.
 */
static void
test_store__quota_holds(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char	*env;
		int		 minutes;	/* ago */
		const char	*workspace, *reason;
	} want[] = {
		{ "open", 300, "api", "r2" },
		{ "startedbefore", 240, "web", "r" },
		{ "otherstart", 100, "web", "r" },
		{ "relother", 80, "web", "r" },
		{ "again", 60, "web", "r-again" },
		{ "nows", 50, NULL, NULL },
		{ "relfirst", 20, "web", "r" },
		{ "tie-a", 10, "web", "r" },
		{ "tie-b", 10, "web", "r" },
	};
	struct store *other = NULL;
	struct store_quota_hold *v = NULL;
	char started[STORE_ID_LEN], before[STORE_ID_LEN], x[STORE_ID_LEN];
	char oid[STORE_ID_LEN];
	time_t now;
	size_t i, n = 99;

	migrate_ok(f->st);
	assert_int_equal(store_quota_holds(&v, &n, f->st), 0);
	assert_int_equal(n, 0);
	assert_null(v);
	env_insert_ok(f->st, "started", started);
	env_insert_ok(f->st, "startedbefore", before);
	env_insert_ok(f->st, "x", x);
#define HELD(env, ws, why, m) event_at(f, f->st, NULL, "quota.held", \
	"{\"env\": \"" env "\", \"workspace\": \"" ws "\", \"reason\": \"" \
	why "\"}", m)
#define RELEASED(env, m) event_at(f, f->st, NULL, "quota.released", \
	"{\"env\": \"" env "\", \"workspace\": \"web\", \"reason\": " \
	"\"within quota\"}", m)
	HELD("open", "web", "r1", 300);
	HELD("open", "api", "r2", 120);		/* the newest says api, r2 */
	event_at(f, f->st, before, "remote.provision.start", "{}", 250);
	HELD("startedbefore", "web", "r", 240);	/* a start before: open */
	HELD("again", "web", "r-first", 200);
	RELEASED("again", 190);
	HELD("again", "web", "r-again", 60);	/* released, held again */
	HELD("released", "web", "r", 150);
	RELEASED("released", 140);
	HELD("started", "web", "r", 130);
	event_at(f, f->st, started, "remote.provision.start", "{}", 125);
	HELD("otherstart", "web", "r", 100);
	event_at(f, f->st, x, "remote.provision.start", "{}", 90);
	HELD("relother", "web", "r", 80);
	RELEASED("relx", 70);
	event_at(f, f->st, NULL, "quota.held", "{\"env\": \"nows\"}", 50);
	HELD("samepass", "web", "r", 30);	/* the same second: by id */
	RELEASED("samepass", 30);
	RELEASED("relfirst", 20);
	HELD("relfirst", "web", "r", 20);
	HELD("tie-b", "web", "r", 10);
	HELD("tie-a", "web", "r", 10);
	/* one second for both, even if the clock ticked between the two */
	free(psql(f->db, "UPDATE events SET created_at = (SELECT created_at "
	    "FROM events WHERE payload->>'env' = 'tie-b') "
	    "WHERE payload->>'env' = 'tie-a'"));

	/* another cluster: its hold is not ours, its release and start close nothing of ours */
	assert_int_equal(store_open(&other, f->conninfo), 0);
	store_cluster_set(other, "green");
	env_insert_ok(other, "otherstart", oid);
	event_at(f, other, NULL, "quota.held", "{\"env\": \"foreign\"}", 5);
	event_at(f, other, NULL, "quota.released", "{\"env\": \"again\"}", 5);
	event_at(f, other, oid, "remote.provision.start", "{}", 5);
#undef HELD
#undef RELEASED
	assert_psql(f->db, "SELECT count(*) FROM events WHERE type = 'quota.held'",
	    "15");

	now = time(NULL);
	assert_int_equal(store_quota_holds(&v, &n, f->st), 0);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < n; i++) {
		int64_t at = (int64_t)now - want[i].minutes * 60;

		assert_string_equal(v[i].env, want[i].env);
		if (v[i].since < at - 65 || v[i].since > at + 5)
			fail_msg("%s: since %lld, want about %lld", v[i].env,
			    (long long)v[i].since, (long long)at);
		if (want[i].workspace == NULL) {
			assert_null(v[i].workspace);
			assert_null(v[i].reason);
		} else {
			assert_string_equal(v[i].workspace, want[i].workspace);
			assert_string_equal(v[i].reason, want[i].reason);
		}
	}
	assert_int_equal(v[7].since, v[8].since);
	store_quota_holds_free(v, n);
	assert_int_equal(store_quota_holds(&v, &n, other), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].env, "foreign");
	store_quota_holds_free(v, n);
	store_free(other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_store__migrate_from_empty),
		T(test_store__migrate_from_each_version),
		T(test_store__migrate_twice_is_noop),
		T(test_store__newer_schema_refused),
		T(test_store__migrate_concurrent),
#ifdef ENVCTL_FAILPOINTS
		T(test_store__migration_is_atomic),
#endif
		T(test_store__one_live_row_per_name),
		T(test_store__rows_per_cluster),
		T(test_store__instance_type),
		T(test_store__hostile_values),
		T(test_store__load_live_round_trip),
		T(test_store__rows_streamed),
		T(test_store__update_guard),
		T(test_store__events_and_runs),
		T(test_store__terminations_since),
		T(test_store__connection_settings),
		T(test_store__reconnects),
		T(test_store__lease),
		T(test_store__call_bounded),
		T(test_store__drift_open_ids),
		T(test_store__quota_holds),
		T(test_store__cost_ledger),
		T(test_store__cost_reprice),
		cmocka_unit_test(test_store__unreachable),
		cmocka_unit_test(test_store__server_never_answers),
#undef T
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
