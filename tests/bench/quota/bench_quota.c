/*
 * bench_quota - what store_quota_holds() costs each pass of the leader
 * when the cluster's events are months deep.  It writes one cluster of
 * N environments (one live row per name, a terminated one for half of
 * the names) and EVENTS events over 180 days, in time order: 15 types
 * of ordinary events on those rows, PAIRS quota.held events each closed
 * by a quota.released and the row's remote.provision.start (every tenth
 * by the provision start alone), and OPEN holds still open at the end:
 * half on names that had rows and an earlier, closed hold (held,
 * released, held again), half on names with no row.  Then it times
 * store_quota_holds() (median of CALLS calls after one warm-up), checks
 * it finds exactly the OPEN holds, and prints the EXPLAIN (ANALYZE) of
 * its query.
 *
 * The events are written at schema version BEFORE_VERSION; when this
 * envctl knows later migrations (say, a candidate index) it then
 * migrates, timing that too, and measures again, and the holds read
 * must be the same.  Prints figures; asserts nothing but counts.
 *
 *   tests/harness/with-pg.sh build/tests/bench/quota/bench_quota \
 *       [-n ENVS] [-e EVENTS] [-p PAIRS] [-o OPEN] [-r CALLS] [-q]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "duration.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "store.h"
#include "store_int.h"

#define CLUSTER		"bench"
#define BEFORE_VERSION	8	/* the schema the events are written at */
#define DAY_US		(86400LL * 1000000)
#define SPAN_DAYS	180

/* Event types, the ordinary ones with their weights. */
enum { T_HELD, T_RELEASED, T_START, T_FIRST_ORDINARY = T_START };
static const struct {
	const char	*type;
	int		 weight;
	int		 rowless;	/* env_id NULL */
} types[] = {
	{ "quota.held", 0, 1 },
	{ "quota.released", 0, 1 },
	{ "remote.provision.start", 8, 0 },
	{ "remote.provision.launched", 8, 0 },
	{ "remote.provision.ready", 8, 0 },
	{ "remote.provision.error", 2, 0 },
	{ "remote.terminate", 8, 0 },
	{ "drift.detected", 10, 0 },
	{ "drift.resolved", 9, 0 },
	{ "orphan.terminated", 1, 1 },
	{ "command", 10, 1 },
	{ "remote.stop", 8, 0 },
	{ "remote.start", 8, 0 },
	{ "remote.start.ready", 8, 0 },
	{ "remote.idle.stopped", 6, 0 },
	{ "termination.held", 1, 0 },
	{ "provision.sla.missed", 1, 0 },
};
#define NTYPES	((int)(sizeof(types) / sizeof(types[0])))

struct bev {
	int64_t	 t;	/* microseconds since the epoch */
	int	 type;	/* index into types[] */
	int	 row;	/* environments row, or -1 */
	int	 name;	/* quota events: index into the names, else -1 */
};

struct world {
	size_t		 n;		/* environments (names with rows) */
	size_t		 nrows;		/* n live + n / 2 terminated */
	size_t		 open;		/* holds open at the end */
	size_t		 reserved;	/* of them on names with rows */
	size_t		 nnames;	/* n + open - reserved */
	char		(*ids)[STORE_ID_LEN];
	int64_t		 start, t0, end;	/* t0: after it only open holds */
	struct bev	*ev;
	size_t		 nev, cap;
	uint64_t	 seed;
};

/* Seconds on the monotonic clock (lib/base's, to the millisecond). */
static double
now_s(void)
{
	return (double)duration_mono_ms() / 1e3;
}

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "bench_quota: %s: %s\n", what, why);
	exit(1);
}

static void
die_store(const char *what)
{
	die(what, err_get());
}

/* splitmix64: the same world on every run */
static uint64_t
rnd(struct world *w)
{
	uint64_t z = (w->seed += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* uniform in [lo, hi) */
static int64_t
rnd_in(struct world *w, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rnd(w) % (uint64_t)(hi - lo));
}

static void
name_of(char *buf, size_t len, const struct world *w, int name)
{
	if ((size_t)name < w->n)
		snprintf(buf, len, "env-%05d", name);
	else
		snprintf(buf, len, "new-%02d", name - (int)w->n);
}

static int
row_name(const struct world *w, int row)
{
	return (size_t)row < w->n ? row : row - (int)w->n;
}

static int
name_reserved(const struct world *w, int name)
{
	return (size_t)name >= w->n - w->reserved;
}

static void
ev_add(struct world *w, int64_t t, int type, int row, int name)
{
	if (w->nev == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 4096;
		w->ev = xreallocarray(w->ev, w->cap, sizeof(*w->ev));
	}
	w->ev[w->nev].t = t;
	w->ev[w->nev].type = type;
	w->ev[w->nev].row = row;
	w->ev[w->nev].name = name;
	w->nev++;
}

/* A hold closed at once or after up to 6 h: released, then provisioned. */
static void
pair_add(struct world *w, int name, int64_t t, int by_start_only)
{
	int64_t d = rnd_in(w, 60LL * 1000000, 6 * 3600LL * 1000000);

	ev_add(w, t, T_HELD, -1, name);
	if (!by_start_only)
		ev_add(w, t + d, T_RELEASED, -1, name);
	ev_add(w, t + d + 1000000, T_START, name, -1);	/* its live row */
}

static int
ev_cmp(const void *a, const void *b)
{
	const struct bev *x = a, *y = b;

	return x->t < y->t ? -1 : x->t > y->t;
}

static void
world_events(struct world *w, size_t nevents, size_t pairs)
{
	size_t i, quota;
	int name, wsum = 0, k, pick;

	for (i = 0; i < w->reserved; i++) {
		name = (int)(w->n - w->reserved + i);
		pair_add(w, name, rnd_in(w, w->start, w->t0 - DAY_US), 0);
		ev_add(w, rnd_in(w, w->t0, w->end), T_HELD, -1, name);
	}
	for (i = w->n; i < w->nnames; i++)
		ev_add(w, rnd_in(w, w->t0, w->end), T_HELD, -1, (int)i);
	for (i = 0; i < pairs; i++)
		pair_add(w, (int)rnd_in(w, 0, (int64_t)(w->n - w->reserved)),
		    rnd_in(w, w->start, w->end - 7 * 3600LL * 1000000),
		    i % 10 == 9);
	quota = w->nev;
	if (quota > nevents)
		die("events", "fewer than the quota events alone");
	for (k = T_FIRST_ORDINARY; k < NTYPES; k++)
		wsum += types[k].weight;
	for (i = quota; i < nevents; i++) {
		int row = -1;
		int64_t hi = w->end;

		pick = (int)rnd_in(w, 0, wsum);
		for (k = T_FIRST_ORDINARY; pick >= types[k].weight; k++)
			pick -= types[k].weight;
		if (!types[k].rowless) {
			row = (int)rnd_in(w, 0, (int64_t)w->nrows);
			if (name_reserved(w, row_name(w, row)))
				hi = w->t0;	/* nothing of theirs after the hold */
		}
		ev_add(w, rnd_in(w, w->start, hi), k, row, -1);
	}
	qsort(w->ev, w->nev, sizeof(*w->ev), ev_cmp);
}

static void
exec_ok(PGconn *c, const char *sql)
{
	PGresult *res = PQexec(c, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		die(sql, PQerrorMessage(c));
	PQclear(res);
}

/* The rows: live ones are rows 0..n-1 by name, terminated ones after. */
static void
world_rows(struct world *w, PGconn *c)
{
	char sql[1024];
	PGresult *res;
	size_t i;
	int live;

	snprintf(sql, sizeof(sql), "INSERT INTO environments (cluster_id, name,"
	    " workspace, status, stage, instance_id, created_at, terminated_at)"
	    " SELECT '" CLUSTER "', 'env-' || lpad(g::text, 5, '0'),"
	    " 'team-' || (g %% 20), 'terminated', 'DONE', 'i-old' || g,"
	    " now() - interval '300 days', now() - interval '250 days'"
	    " FROM generate_series(0, %zu) g;"
	    "INSERT INTO environments (cluster_id, name, workspace, status,"
	    " stage, instance_id, created_at)"
	    " SELECT '" CLUSTER "', 'env-' || lpad(g::text, 5, '0'),"
	    " 'team-' || (g %% 20), 'ready', 'DONE', 'i-' || g,"
	    " now() - interval '200 days' FROM generate_series(0, %zu) g",
	    w->n / 2 - 1, w->n - 1);
	exec_ok(c, sql);
	w->ids = xcalloc(w->nrows, sizeof(*w->ids));
	for (live = 1; live >= 0; live--) {
		res = PQexec(c, live ? "SELECT id FROM environments WHERE"
		    " status <> 'terminated' ORDER BY name" : "SELECT id FROM"
		    " environments WHERE status = 'terminated' ORDER BY name");
		if (PQresultStatus(res) != PGRES_TUPLES_OK ||
		    (size_t)PQntuples(res) != (live ? w->n : w->n / 2))
			die("read rows", PQerrorMessage(c));
		for (i = 0; i < (size_t)PQntuples(res); i++)
			snprintf(w->ids[live ? i : w->n + i], STORE_ID_LEN, "%s",
			    PQgetvalue(res, (int)i, 0));
		PQclear(res);
	}
}

static void
copy_put(PGconn *c, const char *p, size_t len)
{
	if (PQputCopyData(c, p, (int)len) != 1)
		die("copy", PQerrorMessage(c));
}

/* One line of COPY events (env_id, type, payload, created_at, cluster_id). */
static size_t
ev_line(char *buf, size_t len, const struct world *w, const struct bev *e)
{
	char name[32], when[32], payload[256];
	time_t secs = (time_t)(e->t / 1000000);
	struct tm tm;
	int nm = e->name >= 0 ? e->name : e->row >= 0 ? row_name(w, e->row) : 0;
	int r;

	gmtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	name_of(name, sizeof(name), w, nm);
	switch (e->type) {
	case T_HELD:
		snprintf(payload, sizeof(payload), "{\"env\": \"%s\", "
		    "\"reason\": \"quota team-%d: usd_per_hour 10.40 + 0.42 >"
		    " 10.00\", \"workspace\": \"team-%d\"}", name, nm % 20,
		    nm % 20);
		break;
	case T_RELEASED:
		snprintf(payload, sizeof(payload), "{\"env\": \"%s\", "
		    "\"reason\": \"within quota\", \"workspace\": \"team-%d\"}",
		    name, nm % 20);
		break;
	case T_START:
		snprintf(payload, sizeof(payload), "{\"attempt\": 1, "
		    "\"spec_hash\": \"sha256:%016llx\", \"instance_type\": "
		    "\"t3.large\"}", (unsigned long long)e->t);
		break;
	default:
		if (strcmp(types[e->type].type, "command") == 0)
			snprintf(payload, sizeof(payload), "{\"flags\": "
			    "[\"--once\"], \"os_user\": \"dev%d\", "
			    "\"aws_principal\": \"arn:aws:iam::123456789012:"
			    "user/dev%d\"}", nm % 40, nm % 40);
		else
			snprintf(payload, sizeof(payload), "{\"instance_id\": "
			    "\"i-%017llx\", \"detail\": \"%s\"}",
			    (unsigned long long)e->t, name);
		break;
	}
	r = snprintf(buf, len, "%s\t%s\t%s\t%s.%06d+00\t" CLUSTER "\n",
	    e->row >= 0 ? w->ids[e->row] : "\\N", types[e->type].type,
	    payload, when, (int)(e->t % 1000000));
	if (r < 0 || (size_t)r >= len)
		die("copy", "line too long");
	return (size_t)r;
}

static void
world_copy(struct world *w, PGconn *c)
{
	char chunk[65536];
	size_t i, used = 0;
	PGresult *res;

	res = PQexec(c, "COPY events (env_id, type, payload, created_at,"
	    " cluster_id) FROM STDIN");
	if (PQresultStatus(res) != PGRES_COPY_IN)
		die("copy", PQerrorMessage(c));
	PQclear(res);
	for (i = 0; i < w->nev; i++) {
		if (sizeof(chunk) - used < 1024) {
			copy_put(c, chunk, used);
			used = 0;
		}
		used += ev_line(chunk + used, sizeof(chunk) - used, w, &w->ev[i]);
	}
	copy_put(c, chunk, used);
	if (PQputCopyEnd(c, NULL) != 1)
		die("copy", PQerrorMessage(c));
	res = PQgetResult(c);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		die("copy", PQerrorMessage(c));
	PQclear(res);
	while ((res = PQgetResult(c)) != NULL)
		PQclear(res);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
print_explain(PGconn *c)
{
	const char *params[1] = { CLUSTER };
	char *sql = xasprintf("EXPLAIN (ANALYZE, COSTS OFF) %s",
	    store_quota_holds_sql);
	PGresult *res;
	int i;

	res = PQexecParams(c, sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die("explain", PQerrorMessage(c));
	for (i = 0; i < PQntuples(res); i++)
		printf("    %s\n", PQgetvalue(res, i, 0));
	PQclear(res);
	free(sql);
}

/* Is every hold read one of the open ones made, each once? */
static void
holds_check(const struct world *w, const struct store_quota_hold *v, size_t n)
{
	char *seen = xcalloc(w->nnames, 1);
	char name[32];
	size_t i;
	int k, found;

	if (n != w->open) {
		fprintf(stderr, "bench_quota: %zu holds read, %zu open\n", n,
		    w->open);
		exit(1);
	}
	for (i = 0; i < n; i++) {
		found = 0;
		for (k = (int)(w->n - w->reserved); (size_t)k < w->nnames; k++) {
			name_of(name, sizeof(name), w, k);
			if (strcmp(name, v[i].env) == 0 && !seen[k]) {
				seen[k] = found = 1;
				break;
			}
		}
		if (!found)
			die("holds", "a hold read that is not open");
	}
	free(seen);
}

static int
str_same(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static int
holds_same(const struct store_quota_hold *a, size_t na,
    const struct store_quota_hold *b, size_t nb)
{
	size_t i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (!str_same(a[i].env, b[i].env) || a[i].since != b[i].since ||
		    !str_same(a[i].workspace, b[i].workspace) ||
		    !str_same(a[i].reason, b[i].reason))
			return 0;
	return 1;
}

/* Time calls calls (after one warm-up); *out keeps the last answer. */
static void
measure(const char *label, struct store *st, PGconn *raw, struct world *w,
    int calls, int quiet, struct store_quota_hold **out, size_t *nout)
{
	double *times = xcalloc((size_t)calls, sizeof(*times)), t0;
	struct store_quota_hold *v = NULL;
	size_t n = 0;
	int r;

	for (r = -1; r < calls; r++) {
		store_quota_holds_free(v, n);
		t0 = now_s();
		if (store_quota_holds(&v, &n, st) != 0)
			die_store("store_quota_holds");
		if (r >= 0)
			times[r] = now_s() - t0;
	}
	holds_check(w, v, n);
	qsort(times, (size_t)calls, sizeof(*times), cmp_double);
	printf("%s: store_quota_holds() %.2f ms median of %d (min %.2f, max %.2f),"
	    " %zu holds\n", label, times[calls / 2] * 1e3, calls, times[0] * 1e3,
	    times[calls - 1] * 1e3, n);
	if (!quiet) {
		printf("  plan (EXPLAIN ANALYZE, COSTS OFF):\n");
		print_explain(raw);
	}
	*out = v;
	*nout = n;
	free(times);
}

static void
print_sizes(PGconn *c)
{
	PGresult *res = PQexec(c, "SELECT indexrelname,"
	    " pg_size_pretty(pg_relation_size(indexrelid))"
	    " FROM pg_stat_user_indexes WHERE relname = 'events'"
	    " ORDER BY indexrelname");
	int i;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die("sizes", PQerrorMessage(c));
	printf("  events' indexes:");
	for (i = 0; i < PQntuples(res); i++)
		printf("%s %s %s", i ? "," : "", PQgetvalue(res, i, 0),
		    PQgetvalue(res, i, 1));
	printf("\n");
	PQclear(res);
}

static void
usage(void)
{
	fprintf(stderr, "usage: with-pg.sh bench_quota [-n ENVS] [-e EVENTS]"
	    " [-p PAIRS] [-o OPEN] [-r CALLS] [-q]\n");
	exit(1);
}

int
main(int argc, char **argv)
{
	struct store *st = NULL;
	struct store_quota_hold *before = NULL, *after = NULL;
	struct world w;
	size_t nevents = 200000, pairs = 2000, nbefore = 0, nafter = 0;
	const char *url = getenv("ENVCTL_DATABASE_URL");
	int ch, calls = 20, quiet = 0, v0, to = 0;
	PGconn *raw;
	PGresult *res;
	double t0;
	char label[64];

	memset(&w, 0, sizeof(w));
	w.n = 1000;
	w.open = 50;
	w.seed = 1;
	while ((ch = getopt(argc, argv, "n:e:p:o:r:q")) != -1) {
		switch (ch) {
		case 'n':
			w.n = strtoul(optarg, NULL, 10);
			break;
		case 'e':
			nevents = strtoul(optarg, NULL, 10);
			break;
		case 'p':
			pairs = strtoul(optarg, NULL, 10);
			break;
		case 'o':
			w.open = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			calls = (int)strtol(optarg, NULL, 10);
			break;
		case 'q':
			quiet = 1;
			break;
		default:
			usage();
		}
	}
	w.reserved = w.open / 2;
	if (url == NULL || calls < 1 || w.n < 2 * w.reserved + 2 ||
	    w.open - w.reserved > 100)
		usage();
	w.nrows = w.n + w.n / 2;
	w.nnames = w.n + w.open - w.reserved;
	log_init("bench_quota", LOG_LEVEL_WARN, LOG_FORMAT_TEXT);

	if (store_open(&st, url) != 0)
		die_store("open");
	store_cluster_set(st, CLUSTER);
	raw = PQconnectdb(url);
	if (PQstatus(raw) != CONNECTION_OK)
		die("connect", PQerrorMessage(raw));
	v0 = BEFORE_VERSION < store_schema_latest() ? BEFORE_VERSION :
	    store_schema_latest();
	if (store_migrate_to(st, v0, NULL, NULL) != 0)
		die_store("migrate");

	t0 = now_s();
	w.end = ((int64_t)time(NULL) - 3600) * 1000000;
	w.start = w.end - SPAN_DAYS * DAY_US;
	w.t0 = w.end - 2 * DAY_US;
	world_rows(&w, raw);
	world_events(&w, nevents, pairs);
	world_copy(&w, raw);
	exec_ok(raw, "VACUUM ANALYZE environments");
	exec_ok(raw, "VACUUM ANALYZE events");
	res = PQexec(raw, "SELECT count(*), count(*) FILTER (WHERE type ="
	    " 'quota.held'), count(*) FILTER (WHERE type = 'quota.released'),"
	    " count(*) FILTER (WHERE type = 'remote.provision.start'),"
	    " count(DISTINCT type), pg_size_pretty(pg_table_size('events')),"
	    " current_setting('server_version')"
	    " FROM events WHERE cluster_id = '" CLUSTER "'");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die("count", PQerrorMessage(raw));
	printf("quota holds bench: %zu environments (%zu rows), %s events of %s"
	    " types over %d days (%s quota.held, %s quota.released, %s"
	    " remote.provision.start), %zu open holds; table %s, PostgreSQL %s;"
	    " written in %.1f s\n", w.n, w.nrows, PQgetvalue(res, 0, 0),
	    PQgetvalue(res, 0, 4), SPAN_DAYS, PQgetvalue(res, 0, 1),
	    PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3), w.open,
	    PQgetvalue(res, 0, 5), PQgetvalue(res, 0, 6), now_s() - t0);
	PQclear(res);

	snprintf(label, sizeof(label), "schema %d", v0);
	measure(label, st, raw, &w, calls, quiet, &before, &nbefore);
	print_sizes(raw);
	if (v0 < store_schema_latest()) {
		t0 = now_s();
		if (store_migrate(st, NULL, &to) != 0)
			die_store("migrate");
		printf("migrate %d -> %d over these events: %.0f ms\n", v0, to,
		    (now_s() - t0) * 1e3);
		snprintf(label, sizeof(label), "schema %d", to);
		measure(label, st, raw, &w, calls, quiet, &after, &nafter);
		print_sizes(raw);
		if (!holds_same(before, nbefore, after, nafter))
			die("holds", "not the same before and after the migration");
		printf("the same %zu holds (env, since, workspace, reason) on both\n",
		    nafter);
	}
	store_quota_holds_free(before, nbefore);
	store_quota_holds_free(after, nafter);
	PQfinish(raw);
	store_free(st);
	free(w.ids);
	free(w.ev);
	return 0;
}
