/*
 * migrate.c - the schema, made and versioned by envctl itself.
 *
 * migrations[i] takes the schema from version i to i+1.  Each is applied
 * in one transaction together with its schema_version row, after taking
 * an advisory lock that serializes concurrent migrators; a migrator that
 * waited finds the work done and does nothing.  Never edit a migration
 * that has shipped: add a new one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "mem.h"
#include "store_int.h"

/* pg_advisory_xact_lock(STORE_LOCK_CLASS, STORE_LOCK_MIGRATE) */
#define STORE_LOCK_SQL	"SELECT pg_advisory_xact_lock(1701738100, 1)"

struct migration {
	const char	*name;
	const char	*sql;
	const char	*adopt;	/* then this, $1 the migrator's cluster (or NULL) */
	const char	*after;	/* then this constant script (or NULL) */
};

static const struct migration migrations[] = {
	/* 1 */
	{ "environments and events",
	"CREATE TABLE environments ("
	"  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
	"  name text NOT NULL CHECK (name <> ''),"
	"  workspace text,"
	"  spec_hash text,"
	"  spec_revision text,"
	"  status text NOT NULL DEFAULT 'pending' CHECK (status IN"
	"    ('pending', 'provisioning', 'ready', 'error', 'terminating',"
	"     'terminated')),"
	"  stage text NOT NULL DEFAULT 'INIT' CHECK (stage IN"
	"    ('INIT', 'KEYS_GENERATED', 'KEYS_UPLOADED', 'SG_READY',"
	"     'INSTANCE_LAUNCHED', 'TAGGED', 'DONE')),"
	"  instance_id text,"
	"  public_ip text,"
	"  ssh_key_s3_key text,"
	"  security_group_id text,"
	"  ami_id text,"
	"  market text,"
	"  subnet_id text,"
	"  region text,"
	"  cost_per_hour_usd numeric(14,6),"
	"  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),"
	"  next_attempt_at timestamptz,"
	"  launched_at timestamptz,"
	"  ready_at timestamptz,"
	"  terminated_at timestamptz,"
	"  termination_reason text,"
	"  total_cost_usd numeric(14,6),"
	"  metadata jsonb NOT NULL DEFAULT '{}',"
	"  created_at timestamptz NOT NULL DEFAULT now(),"
	"  updated_at timestamptz NOT NULL DEFAULT now()"
	");"
	/* At most one live row per name, enforced by the database. */
	"CREATE UNIQUE INDEX environments_one_live_per_name"
	"  ON environments (name) WHERE status <> 'terminated';"
	/* env_id is deliberately not a foreign key: events outlive rows. */
	"CREATE TABLE events ("
	"  id bigserial PRIMARY KEY,"
	"  env_id uuid,"
	"  type text NOT NULL CHECK (type <> ''),"
	"  payload jsonb NOT NULL DEFAULT '{}',"
	"  created_at timestamptz NOT NULL DEFAULT now()"
	");", NULL, NULL },
	/* 2 */
	{ "reconcile_runs, row versions, indexes",
	"ALTER TABLE environments"
	"  ADD COLUMN row_version bigint NOT NULL DEFAULT 1;"
	"CREATE TABLE reconcile_runs ("
	"  id bigserial PRIMARY KEY,"
	"  revision text,"
	"  started_at timestamptz NOT NULL DEFAULT now(),"
	"  finished_at timestamptz,"
	"  counts jsonb NOT NULL DEFAULT '{}',"
	"  drift_found integer NOT NULL DEFAULT 0,"
	"  errors integer NOT NULL DEFAULT 0,"
	"  error text"
	");"
	"CREATE INDEX reconcile_runs_started ON reconcile_runs (started_at DESC);"
	"CREATE INDEX events_env_id ON events (env_id, id DESC);"
	"CREATE INDEX environments_name_history ON environments (name, created_at DESC);"
	"CREATE INDEX environments_terminated_at ON environments (terminated_at)"
	"  WHERE status = 'terminated';", NULL, NULL },
	/*
	 * 3: rows belong to a cluster (docs/design.md §5.1).  Rows written
	 * before it are adopted by the cluster of the controller that
	 * migrates; one live row per name within a cluster.
	 */
	{ "environments per cluster",
	"ALTER TABLE environments ADD COLUMN cluster_id text"
	"  CHECK (cluster_id <> '');",
	"UPDATE environments SET cluster_id = $1 WHERE cluster_id IS NULL",
	"ALTER TABLE environments ALTER COLUMN cluster_id SET NOT NULL;"
	"DROP INDEX environments_one_live_per_name;"
	"CREATE UNIQUE INDEX environments_one_live_per_name"
	"  ON environments (cluster_id, name) WHERE status <> 'terminated';"
	"DROP INDEX environments_name_history;"
	"CREATE INDEX environments_name_history"
	"  ON environments (cluster_id, name, created_at DESC);" },
	/*
	 * 4: the audit trail (docs/design.md §5.1).  Events and runs belong
	 * to a cluster too, and carry the correlation id of the pass or
	 * command that made them; events also the spec revision.  Older
	 * ones are adopted by the migrator's cluster and have no
	 * correlation id.
	 */
	{ "audit trail: events and runs per cluster, correlation ids",
	"ALTER TABLE events ADD COLUMN cluster_id text CHECK (cluster_id <> ''),"
	"  ADD COLUMN correlation_id text, ADD COLUMN revision text;"
	"ALTER TABLE reconcile_runs ADD COLUMN cluster_id text"
	"  CHECK (cluster_id <> ''), ADD COLUMN correlation_id text;",
	"WITH ev AS (UPDATE events SET cluster_id = $1 WHERE cluster_id IS NULL)"
	" UPDATE reconcile_runs SET cluster_id = $1 WHERE cluster_id IS NULL",
	"ALTER TABLE events ALTER COLUMN cluster_id SET NOT NULL;"
	"ALTER TABLE reconcile_runs ALTER COLUMN cluster_id SET NOT NULL;"
	"CREATE INDEX events_cluster_created ON events (cluster_id, created_at DESC);"
	"CREATE INDEX events_correlation ON events (correlation_id)"
	"  WHERE correlation_id IS NOT NULL;"
	"DROP INDEX reconcile_runs_started;"
	"CREATE INDEX reconcile_runs_started"
	"  ON reconcile_runs (cluster_id, started_at DESC);" },
	/*
	 * 5: the host key fingerprints verified when the environment became
	 * ready (docs/design.md §6.1).
	 */
	{ "verified host keys",
	"ALTER TABLE environments ADD COLUMN host_keys text"
	"  CHECK (host_keys <> '');", NULL, NULL },
	/*
	 * 6: leadership is a lease (docs/design.md §3.7): one row per
	 * cluster, its expiry by the database's clock.  A session that names
	 * a lease (store_fence_set(): envctl.fence_* settings) writes rows
	 * and events only while that lease's holder and epoch are current;
	 * the row lock taken (FOR SHARE) makes a takeover wait for the write
	 * in flight.  Sessions that name none (psql, migrate) are not fenced.
	 */
	{ "leader lease and fenced writes",
	"CREATE TABLE leader_lease ("
	"  cluster_id text PRIMARY KEY CHECK (cluster_id <> ''),"
	"  holder text NOT NULL CHECK (holder <> ''),"
	"  holder_pidns text,"
	"  epoch bigint NOT NULL CHECK (epoch > 0),"
	"  expires_at timestamptz NOT NULL,"
	"  renewed_at timestamptz NOT NULL DEFAULT now()"
	");"
	"CREATE FUNCTION envctl_fence() RETURNS trigger LANGUAGE plpgsql AS $f$"
	"DECLARE"
	"  c text := current_setting('envctl.fence_cluster', true);"
	"  h text := current_setting('envctl.fence_holder', true);"
	"  e text := current_setting('envctl.fence_epoch', true);"
	"BEGIN"
	"  IF coalesce(c, '') = '' THEN RETURN NULL; END IF;"
	"  PERFORM 1 FROM leader_lease WHERE cluster_id = c AND holder = h"
	"    AND epoch = e::bigint FOR SHARE;"
	"  IF NOT FOUND THEN"
	"    RAISE EXCEPTION 'fenced: epoch % of cluster %''s lease is not "
	"current (holder %)', e, c, h USING ERRCODE = 'EF001';"
	"  END IF;"
	"  RETURN NULL;"
	"END $f$;"
	"CREATE TRIGGER environments_fence BEFORE INSERT OR UPDATE OR DELETE"
	"  ON environments FOR EACH STATEMENT EXECUTE FUNCTION envctl_fence();"
	"CREATE TRIGGER events_fence BEFORE INSERT OR UPDATE OR DELETE"
	"  ON events FOR EACH STATEMENT EXECUTE FUNCTION envctl_fence();",
	NULL, NULL },
	/*
	 * 7: stop and start (docs/design.md §6.8): since when the instance
	 * has been stopped (NULL: running), and the seconds it spent stopped
	 * before, which accrue no compute cost.
	 */
	{ "stopped time",
	"ALTER TABLE environments ADD COLUMN stopped_at timestamptz,"
	"  ADD COLUMN stopped_seconds integer NOT NULL DEFAULT 0"
	"  CHECK (stopped_seconds >= 0);", NULL, NULL },
	/*
	 * 8: the cost ledger (docs/design.md §6.9): one row per billed
	 * interval of an instance ("segment"): compute while it runs,
	 * storage (its root volume) from launch to termination.  ended_at
	 * is NULL while the segment is open; at most one open segment per
	 * (instance, kind), so a replayed launch opens nothing twice.
	 * continues: a compute segment that carries on the previous one of
	 * its instance at a new spot price (store_cost_reprice()), not a
	 * start, so EC2's 60-second minimum does not apply to it.
	 * Written under the lease's fence like environments and events.
	 */
	{ "cost ledger",
	"CREATE TABLE cost_segments ("
	"  id bigserial PRIMARY KEY,"
	"  cluster_id text NOT NULL CHECK (cluster_id <> ''),"
	"  env_id uuid,"
	"  env_name text NOT NULL DEFAULT '',"
	"  workspace text NOT NULL DEFAULT '',"
	"  instance_id text NOT NULL CHECK (instance_id <> ''),"
	"  kind text NOT NULL CHECK (kind IN ('compute', 'storage')),"
	"  market text NOT NULL DEFAULT 'on-demand'"
	"    CHECK (market IN ('on-demand', 'spot')),"
	"  region text NOT NULL DEFAULT '',"
	"  az text NOT NULL DEFAULT '',"
	"  instance_type text NOT NULL DEFAULT '',"
	"  usd_per_hour numeric(14,8) NOT NULL CHECK (usd_per_hour >= 0),"
	"  od_usd_per_hour numeric(14,8) NOT NULL CHECK (od_usd_per_hour >= 0),"
	"  started_at timestamptz NOT NULL,"
	"  ended_at timestamptz CHECK (ended_at >= started_at),"
	"  continues boolean NOT NULL DEFAULT false,"
	"  UNIQUE (instance_id, kind, started_at)"
	");"
	"CREATE UNIQUE INDEX cost_segments_one_open"
	"  ON cost_segments (instance_id, kind) WHERE ended_at IS NULL;"
	"CREATE INDEX cost_segments_cluster_time"
	"  ON cost_segments (cluster_id, coalesce(ended_at, 'infinity'));"
	"CREATE INDEX cost_segments_env ON cost_segments (env_id);"
	"CREATE TRIGGER cost_segments_fence BEFORE INSERT OR UPDATE OR DELETE"
	"  ON cost_segments FOR EACH STATEMENT EXECUTE FUNCTION envctl_fence();"
	/*
	 * Live rows launched before the ledger: one compute segment at the
	 * row's rate, its start moved on by the seconds already stopped so
	 * that it bills what pipeline_env_cost() billed before; closed at
	 * stopped_at when stopped.  No storage (the disk size is the spec's,
	 * not the row's) and nothing for ended rows (total_cost_usd stays).
	 */
	"INSERT INTO cost_segments (cluster_id, env_id, env_name, workspace,"
	"  instance_id, kind, market, region, usd_per_hour, od_usd_per_hour,"
	"  started_at, ended_at)"
	"  SELECT cluster_id, id, name, coalesce(workspace, ''), instance_id,"
	"    'compute', CASE WHEN market = 'spot' THEN 'spot'"
	"    ELSE 'on-demand' END, coalesce(region, ''),"
	"    coalesce(cost_per_hour_usd, 0), coalesce(cost_per_hour_usd, 0),"
	"    launched_at + make_interval(secs => stopped_seconds),"
	"    CASE WHEN stopped_at IS NULL THEN NULL ELSE greatest(stopped_at,"
	"    launched_at + make_interval(secs => stopped_seconds)) END"
	"  FROM environments WHERE status IN ('provisioning', 'ready',"
	"    'terminating') AND instance_id IS NOT NULL"
	"    AND launched_at IS NOT NULL;",
	NULL, NULL },
};

#define NMIGRATIONS	((int)(sizeof(migrations) / sizeof(migrations[0])))

int
store_schema_latest(void)
{
	return NMIGRATIONS;
}

/* The schema_version table is made outside the numbered migrations. */
static const char schema_version_sql[] =
	"CREATE TABLE IF NOT EXISTS schema_version ("
	"  version integer PRIMARY KEY CHECK (version > 0),"
	"  name text NOT NULL,"
	"  applied_at timestamptz NOT NULL DEFAULT now()"
	")";

int
store_schema_version(int *out, struct store *st)
{
	PGresult *res = NULL;
	int error = -1;

	*out = 0;
	if ((error = store_exec(&res, st, "read schema version",
	    "SELECT CASE WHEN to_regclass('schema_version') IS NULL THEN NULL"
	    " ELSE 1 END", 0, NULL, PGRES_TUPLES_OK)) != 0)
		goto done;
	if (PQgetisnull(res, 0, 0))
		goto done;
	PQclear(res);
	res = NULL;
	if ((error = store_exec(&res, st, "read schema version",
	    "SELECT coalesce(max(version), 0) FROM schema_version", 0, NULL,
	    PGRES_TUPLES_OK)) != 0)
		goto done;
	*out = (int)store_col_int64(res, 0, 0);
done:
	PQclear(res);
	return error;
}

static int
store_newer_error(int version)
{
	err_set("the database schema is at version %d, newer than this envctl "
	    "knows (%d): refusing to use it; upgrade envctl", version,
	    NMIGRATIONS);
	return ERR_INVALID;
}

/*
 * Apply migration number v (1-based) if the database is below it, all in
 * one transaction.  *now gets the version after.
 */
static int
store_migrate_one(struct store *st, int v, int *now)
{
	char vbuf[16];
	const char *params[2];
	int error = -1, cur = 0;

	if ((error = store_tx_begin(st, NULL)) != 0)
		goto done;
	if ((error = store_exec(NULL, st, "lock for migration", STORE_LOCK_SQL,
	    0, NULL, PGRES_TUPLES_OK)) != 0)
		goto done;
	if ((error = store_exec(NULL, st, "create schema_version",
	    schema_version_sql, 0, NULL, PGRES_COMMAND_OK)) != 0)
		goto done;
	if ((error = store_schema_version(&cur, st)) != 0)
		goto done;
	if (cur > NMIGRATIONS) {
		error = store_newer_error(cur);
		goto done;
	}
	if (cur >= v) {
		/* Someone else got there first. */
		*now = cur;
		store_tx_rollback(st);
		error = 0;
		goto done;
	}
	if (cur != v - 1) {
		err_set("schema version %d cannot take migration %d", cur, v);
		error = ERR_INVALID;
		goto done;
	}
	/* A constant script of several statements: nparams -1. */
	if ((error = store_exec(NULL, st, "apply migration", migrations[v - 1].sql,
	    -1, NULL, PGRES_COMMAND_OK)) != 0) {
		err_prefix("migration %d (%s)", v, migrations[v - 1].name);
		goto done;
	}
	if (migrations[v - 1].adopt != NULL) {
		params[0] = store_cluster(st);
		if ((error = store_exec(NULL, st, "apply migration",
		    migrations[v - 1].adopt, 1, params, PGRES_COMMAND_OK)) != 0 ||
		    (error = store_exec(NULL, st, "apply migration",
		    migrations[v - 1].after, -1, NULL, PGRES_COMMAND_OK)) != 0) {
			err_prefix("migration %d (%s)", v, migrations[v - 1].name);
			goto done;
		}
		log_info("store: migration %d: rows without a cluster now belong "
		    "to cluster %s", v, store_cluster(st));
	}
	snprintf(vbuf, sizeof(vbuf), "%d", v);
	params[0] = vbuf;
	params[1] = migrations[v - 1].name;
	if ((error = store_exec(NULL, st, "record schema version",
	    "INSERT INTO schema_version (version, name) VALUES ($1, $2)",
	    2, params, PGRES_COMMAND_OK)) != 0)
		goto done;
	if ((error = store_failpoint("store.migrate.before_commit",
	    "apply migration")) != 0)
		goto done;
	if ((error = store_tx_commit(st)) != 0)
		goto done;
	log_info("store: applied migration %d (%s)", v, migrations[v - 1].name);
	*now = v;
done:
	store_tx_rollback(st);
	return error;
}

int
store_migrate_to(struct store *st, int target, int *from, int *to)
{
	int error = -1, cur = 0, v;

	if ((error = store_schema_version(&cur, st)) != 0)
		goto done;
	if (from != NULL)
		*from = cur;
	if (to != NULL)
		*to = cur;
	if (cur > NMIGRATIONS) {
		error = store_newer_error(cur);
		goto done;
	}
	if (target < 0 || target > NMIGRATIONS) {
		err_set("no schema version %d (this envctl knows 1..%d)",
		    target, NMIGRATIONS);
		error = ERR_INVALID;
		goto done;
	}
	for (v = cur + 1; v <= target; v++) {
		if ((error = store_migrate_one(st, v, &cur)) != 0)
			goto done;
		if (to != NULL)
			*to = cur;
		if (cur >= target)
			break;
		v = cur;	/* another migrator may have gone further */
	}
	error = 0;
done:
	return error;
}

int
store_migrate(struct store *st, int *from, int *to)
{
	return store_migrate_to(st, NMIGRATIONS, from, to);
}

int
store_check_version(struct store *st)
{
	int error, cur = 0;

	if ((error = store_schema_version(&cur, st)) != 0)
		return error;
	if (cur > NMIGRATIONS)
		return store_newer_error(cur);
	if (cur < NMIGRATIONS) {
		if (cur == 0)
			err_set("the database has no envctl schema (this envctl "
			    "needs version %d): run 'envctl migrate'", NMIGRATIONS);
		else
			err_set("the database schema is at version %d, this "
			    "envctl needs %d: run 'envctl migrate'", cur,
			    NMIGRATIONS);
		return ERR_INVALID;
	}
	return 0;
}
