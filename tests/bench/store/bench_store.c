/*
 * bench_store - what lib/store costs per reconcile pass with N live
 * environments: N inserts and guarded updates (one statement each, as the
 * pipelines do them), the one-query load of all live rows, the per-pass
 * read, events.  Prints figures; asserts nothing but correctness of counts.
 *
 *   tests/harness/with-pg.sh build/tests/bench/store/bench_store [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "err.h"
#include "log.h"
#include "mem.h"
#include "store.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die_store(const char *what)
{
	fprintf(stderr, "bench_store: %s: %s\n", what, err_get());
	exit(1);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#define REPEAT	7

int
main(int argc, char **argv)
{
	struct store *st = NULL;
	struct store_env e, *live = NULL;
	struct store_pass pass;
	struct store_event *evs = NULL;
	char (*ids)[STORE_ID_LEN], name[64];
	double t0, t, times[REPEAT];
	size_t i, n = 10000, nlive = 0, nev = 0;
	int r;
	const char *url = getenv("ENVCTL_DATABASE_URL");
	PGconn *raw;

	log_init("bench_store", LOG_LEVEL_WARN, LOG_FORMAT_TEXT);
	if (argc > 1)
		n = strtoul(argv[1], NULL, 10);
	if (n == 0 || url == NULL) {
		fprintf(stderr, "usage: with-pg.sh bench_store [N>0]\n");
		return 1;
	}
	ids = xcalloc(n, sizeof(*ids));
	if (store_open(&st, url) != 0)
		die_store("open");
	t0 = now_s();
	if (store_migrate(st, NULL, NULL) != 0)
		die_store("migrate");
	raw = PQconnectdb(url);
	printf("store bench, %zu environments (PostgreSQL %d, over TCP on 127.0.0.1)\n",
	    n, PQserverVersion(raw) / 10000);
	printf("  migrate from empty           %8.1f ms\n", (now_s() - t0) * 1e3);

	/* store_env's strings are writable: give it buffers, not literals */
	char ws[] = "bench", hash[] = "sha256:0123456789abcdef", rev[] = "c0ffee";
	char region[] = "us-east-1", market[] = "on-demand";
	char inst[] = "i-0123456789abcdef0";

	t0 = now_s();
	for (i = 0; i < n; i++) {
		memset(&e, 0, sizeof(e));
		snprintf(name, sizeof(name), "env-%06zu", i);
		e.name = name;
		e.workspace = ws;
		e.spec_hash = hash;
		e.spec_revision = rev;
		e.region = region;
		e.market = market;
		e.cost_per_hour_usd = 0.0416;
		if (store_env_insert(ids[i], st, &e) != 0)
			die_store("insert");
	}
	t = now_s() - t0;
	printf("  insert (one statement each)  %8.0f rows/s  (%.3f ms/row)\n",
	    (double)n / t, t * 1e3 / (double)n);

	t0 = now_s();
	for (i = 0; i < n; i++) {
		memset(&e, 0, sizeof(e));
		memcpy(e.id, ids[i], STORE_ID_LEN);
		e.row_version = 1;
		e.stage = STORE_STAGE_INSTANCE_LAUNCHED;
		e.status = STORE_STATUS_PROVISIONING;
		e.instance_id = inst;
		e.launched_at = time(NULL);
		if (store_env_update(st, &e, STORE_ENV_STAGE | STORE_ENV_STATUS |
		    STORE_ENV_INSTANCE_ID | STORE_ENV_LAUNCHED_AT |
		    STORE_ENV_GUARD) != 0)
			die_store("update");
	}
	t = now_s() - t0;
	printf("  guarded update (4 fields)    %8.0f rows/s  (%.3f ms/row)\n",
	    (double)n / t, t * 1e3 / (double)n);

	for (r = 0; r < REPEAT; r++) {
		t0 = now_s();
		if (store_envs_load_live(&live, &nlive, st) != 0)
			die_store("load_live");
		times[r] = now_s() - t0;
		if (nlive != n) {
			fprintf(stderr, "bench_store: load_live: %zu rows\n", nlive);
			return 1;
		}
		store_envs_free(live, nlive);
	}
	qsort(times, REPEAT, sizeof(times[0]), cmp_double);
	printf("  load_live, all %zu rows       %8.1f ms median (min %.1f, max %.1f)\n",
	    n, times[REPEAT / 2] * 1e3, times[0] * 1e3, times[REPEAT - 1] * 1e3);

	/* the same query with bare libpq, nothing parsed: the floor */
	for (r = 0; r < REPEAT; r++) {
		PGresult *res;

		t0 = now_s();
		res = PQexec(raw, "SELECT * FROM environments WHERE status <> 'terminated'");
		times[r] = now_s() - t0;
		if (PQntuples(res) != (int)n)
			return 1;
		PQclear(res);
	}
	qsort(times, REPEAT, sizeof(times[0]), cmp_double);
	printf("  same rows, bare SELECT *     %8.1f ms median (libpq only, no parsing)\n",
	    times[REPEAT / 2] * 1e3);
	/* load_live's own query (epochs computed by the server), unparsed */
	for (r = 0; r < REPEAT; r++) {
		PGresult *res;

		t0 = now_s();
		res = PQexec(raw, "SELECT id::text, name, workspace, spec_hash,"
		    " spec_revision, status, stage, instance_id, public_ip,"
		    " ssh_key_s3_key, security_group_id, ami_id, market, subnet_id,"
		    " region, cost_per_hour_usd::text, attempts,"
		    " floor(extract(epoch FROM next_attempt_at))::bigint,"
		    " floor(extract(epoch FROM launched_at))::bigint,"
		    " floor(extract(epoch FROM ready_at))::bigint,"
		    " floor(extract(epoch FROM terminated_at))::bigint,"
		    " termination_reason, total_cost_usd::text, metadata->>'error',"
		    " metadata->>'failed_at_stage', metadata::text,"
		    " floor(extract(epoch FROM created_at))::bigint,"
		    " floor(extract(epoch FROM updated_at))::bigint, row_version"
		    " FROM environments WHERE status <> 'terminated' ORDER BY name");
		times[r] = now_s() - t0;
		if (PQntuples(res) != (int)n)
			return 1;
		PQclear(res);
	}
	PQfinish(raw);
	qsort(times, REPEAT, sizeof(times[0]), cmp_double);
	printf("  load_live's query, unparsed  %8.1f ms median\n", times[REPEAT / 2] * 1e3);

	for (r = 0; r < REPEAT; r++) {
		t0 = now_s();
		if (store_pass_load(&pass, st, time(NULL) - 86400) != 0)
			die_store("pass_load");
		times[r] = now_s() - t0;
		store_pass_dispose(&pass);
	}
	qsort(times, REPEAT, sizeof(times[0]), cmp_double);
	printf("  pass_load (check+live+ended) %8.1f ms median\n", times[REPEAT / 2] * 1e3);

	t0 = now_s();
	for (i = 0; i < n; i++)
		if (store_event_add(NULL, st, ids[i], "remote.provision.start",
		    "{\"attempt\": 1}", 14) != 0)
			die_store("event_add");
	t = now_s() - t0;
	printf("  event_add                    %8.0f events/s\n", (double)n / t);
	t0 = now_s();
	if (store_events_recent(&evs, &nev, st, NULL, 100) != 0 || nev != 100)
		die_store("events_recent");
	printf("  events_recent(100)           %8.1f ms\n", (now_s() - t0) * 1e3);
	store_events_free(evs, nev);

	store_free(st);
	free(ids);
	return 0;
}
