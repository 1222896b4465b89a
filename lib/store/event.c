/*
 * event.c - the events table and reconcile_runs.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "err.h"
#include "log.h"
#include "mem.h"
#include "store_int.h"

#define EPOCH(c)	"floor(extract(epoch FROM " c "))::bigint"

int
store_event_add(int64_t *id_out, struct store *st, const char *env_id,
    const char *type, const char *payload, size_t len)
{
	const char *params[6];
	char *copy = NULL;
	PGresult *res = NULL;
	int error = -1;

	if (type == NULL || *type == '\0') {
		err_set("add event: the type is empty");
		error = ERR_INVALID;
		goto done;
	}
	if ((error = store_text_check(payload, len, "event payload")) != 0)
		goto done;
	if ((error = store_failpoint("store.event_add", "add event")) != 0)
		goto done;
	if (payload != NULL)
		copy = xstrndup(payload, len);
	params[0] = env_id != NULL && *env_id != '\0' ? env_id : NULL;
	params[1] = type;
	params[2] = copy;
	params[3] = store_cluster(st);
	params[4] = st->cid;
	params[5] = st->revision;
	if ((error = store_exec(&res, st, "add event",
	    "INSERT INTO events (env_id, type, payload, cluster_id,"
	    " correlation_id, revision) VALUES ($1::uuid, $2,"
	    " coalesce($3::jsonb, '{}'::jsonb), $4, $5, $6) RETURNING id",
	    6, params, PGRES_TUPLES_OK)) != 0)
		goto done;
	if (id_out != NULL)
		*id_out = store_col_int64(res, 0, 0);
done:
	PQclear(res);
	free(copy);
	return error;
}

/*
 * The columns every event read selects, in the order events_fill()
 * takes them; the name is the environment row's, when it still exists.
 */
#define EVENT_COLS							\
	"ev.id, coalesce(ev.env_id::text, ''), ev.type, ev.payload::text, " \
	EPOCH("ev.created_at") ", coalesce(ev.correlation_id, ''),"	\
	" coalesce(ev.revision, ''), coalesce(e.name, '')"
#define EVENT_FROM							\
	" FROM events ev LEFT JOIN environments e ON e.id = ev.env_id"

static void
events_fill(struct store_event **out, size_t *n, const PGresult *res)
{
	struct store_event *evs = NULL;
	size_t i, rows = (size_t)PQntuples(res);

	if (rows > 0)
		evs = xcalloc(rows, sizeof(*evs));
	for (i = 0; i < rows; i++) {
		int r = (int)i;

		evs[i].id = store_col_int64(res, r, 0);
		snprintf(evs[i].env_id, sizeof(evs[i].env_id), "%s",
		    PQgetvalue(res, r, 1));
		evs[i].type = store_col_strdup(res, r, 2);
		evs[i].payload = store_col_strdup(res, r, 3);
		evs[i].created_at = (time_t)store_col_int64(res, r, 4);
		evs[i].cid = store_col_strdup(res, r, 5);
		evs[i].revision = store_col_strdup(res, r, 6);
		evs[i].env = store_col_strdup(res, r, 7);
	}
	*out = evs;
	*n = rows;
}

int
store_events_recent(struct store_event **out, size_t *n, struct store *st,
    const char *env_id, size_t limit)
{
	const char *params[3];
	char lim[32];
	PGresult *res = NULL;
	int error;

	*out = NULL;
	*n = 0;
	snprintf(lim, sizeof(lim), "%zu", limit);
	params[0] = lim;
	params[1] = env_id;
	params[2] = store_cluster(st);
	if ((error = store_exec(&res, st, "read events",
	    "SELECT " EVENT_COLS EVENT_FROM
	    " WHERE ev.cluster_id = $3 AND ($2::uuid IS NULL OR ev.env_id = $2::uuid)"
	    " ORDER BY ev.id DESC LIMIT $1::bigint", 3, params,
	    PGRES_TUPLES_OK)) == 0)
		events_fill(out, n, res);
	PQclear(res);
	return error;
}

/* q->type as a LIKE pattern ("remote.*" -> "remote.%", _ and % escaped). */
static int
events_type_like(char *out, size_t outsz, const char *type)
{
	size_t i, o = 0, len = strlen(type);

	for (i = 0; i < len; i++) {
		if (o + 3 >= outsz) {
			err_set("event type pattern too long");
			return ERR_INVALID;
		}
		if (type[i] == '*' && i + 1 != len) {
			err_set("event type pattern \"%s\": '*' only at its end",
			    type);
			return ERR_INVALID;
		}
		if (type[i] == '*')
			out[o++] = '%';
		else {
			if (type[i] == '%' || type[i] == '_' || type[i] == '\\')
				out[o++] = '\\';
			out[o++] = type[i];
		}
	}
	out[o] = '\0';
	return 0;
}

int
store_events_query(struct store_event **out, size_t *n, struct store *st,
    const struct store_event_query *q)
{
	const char *params[6];
	char lim[32], since[32], like[256];
	PGresult *res = NULL;
	int error;

	*out = NULL;
	*n = 0;
	if (q->type != NULL && *q->type != '\0' &&
	    (error = events_type_like(like, sizeof(like), q->type)) < 0)
		return error;
	snprintf(lim, sizeof(lim), "%zu", q->limit > 0 ? q->limit : 1000);
	snprintf(since, sizeof(since), "%lld", (long long)q->since);
	params[0] = store_cluster(st);
	params[1] = lim;
	params[2] = q->since > 0 ? since : NULL;
	params[3] = q->type != NULL && *q->type != '\0' ? like : NULL;
	params[4] = q->name != NULL && *q->name != '\0' ? q->name : NULL;
	params[5] = q->cid != NULL && *q->cid != '\0' ? q->cid : NULL;
	if ((error = store_exec(&res, st, "read events",
	    "SELECT " EVENT_COLS EVENT_FROM
	    " WHERE ev.cluster_id = $1"
	    " AND ($3::bigint IS NULL OR ev.created_at >= to_timestamp($3::bigint))"
	    " AND ($4::text IS NULL OR ev.type LIKE $4)"
	    " AND ($5::text IS NULL OR ev.env_id IN (SELECT id FROM environments"
	    "  WHERE cluster_id = $1 AND name = $5))"
	    " AND ($6::text IS NULL OR ev.correlation_id = $6)"
	    " ORDER BY ev.id DESC LIMIT $2::bigint", 6, params,
	    PGRES_TUPLES_OK)) == 0)
		events_fill(out, n, res);
	PQclear(res);
	return error;
}

void
store_events_free(struct store_event *evs, size_t n)
{
	size_t i;

	if (evs == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(evs[i].type);
		free(evs[i].payload);
		free(evs[i].cid);
		free(evs[i].revision);
		free(evs[i].env);
	}
	free(evs);
}

int
store_terminations_since(int64_t **times, size_t *n, struct store *st,
    time_t since)
{
	const char *params[2];
	char sb[32];
	PGresult *res = NULL;
	size_t i, rows;
	int error;

	*times = NULL;
	*n = 0;
	snprintf(sb, sizeof(sb), "%lld", (long long)since);
	params[0] = sb;
	params[1] = store_cluster(st);
	if ((error = store_exec(&res, st, "count terminations",
	    "SELECT " EPOCH("created_at") " FROM events"
	    " WHERE cluster_id = $2 AND created_at > to_timestamp($1::bigint)"
	    " AND (type = 'orphan.terminated' OR (type = 'remote.terminate'"
	    " AND payload->>'instance_id' IS NOT NULL"
	    " AND coalesce(payload->>'kind', '') <> 'close'))"
	    " ORDER BY created_at, id", 2, params, PGRES_TUPLES_OK)) != 0)
		goto done;
	rows = (size_t)PQntuples(res);
	if (rows > 0)
		*times = xcalloc(rows, sizeof(**times));
	for (i = 0; i < rows; i++)
		(*times)[i] = store_col_int64(res, (int)i, 0);
	*n = rows;
done:
	PQclear(res);
	return error;
}

/* The n strings of v as a JSON array (a query's list parameter); free it. */
static char *
strings_json(const char *const *v, size_t n)
{
	json_t *arr = json_array();
	char *json;
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_string(v[i]));
	if ((json = json_dumps(arr, JSON_COMPACT)) == NULL)
		abort();	/* out of memory */
	json_decref(arr);
	return json;
}

/*
 * A hold is open from its first quota.held event until a quota.released
 * naming it or a provision start of a row of that name, whichever comes
 * first; ids order events of one pass.  $1 is the cluster.
 */
const char store_quota_holds_sql[] =
	"SELECT h.payload->>'env', " EPOCH("min(h.created_at)") ","
	" (array_agg(h.payload->>'workspace' ORDER BY h.id DESC))[1],"
	" (array_agg(h.payload->>'reason' ORDER BY h.id DESC))[1]"
	" FROM events h WHERE h.cluster_id = $1 AND h.type = 'quota.held'"
	" AND NOT EXISTS (SELECT 1 FROM events s JOIN environments x"
	"  ON x.id = s.env_id WHERE s.cluster_id = $1"
	"  AND s.type = 'remote.provision.start' AND x.cluster_id = $1"
	"  AND x.name = h.payload->>'env' AND s.created_at > h.created_at)"
	" AND NOT EXISTS (SELECT 1 FROM events r WHERE r.cluster_id = $1"
	"  AND r.type = 'quota.released' AND r.id > h.id"
	"  AND r.payload->>'env' = h.payload->>'env')"
	" GROUP BY 1 ORDER BY 2, 1";

int
store_quota_holds(struct store_quota_hold **out, size_t *n, struct store *st)
{
	const char *params[1];
	struct store_quota_hold *v = NULL;
	PGresult *res = NULL;
	size_t k, rows;
	int error;

	*out = NULL;
	*n = 0;
	params[0] = store_cluster(st);
	if ((error = store_exec(&res, st, "read quota holds",
	    store_quota_holds_sql, 1, params, PGRES_TUPLES_OK)) != 0)
		goto done;
	rows = (size_t)PQntuples(res);
	if (rows > 0)
		v = xcalloc(rows, sizeof(*v));
	for (k = 0; k < rows; k++) {
		v[k].env = store_col_strdup(res, (int)k, 0);
		v[k].since = store_col_int64(res, (int)k, 1);
		v[k].workspace = store_col_strdup(res, (int)k, 2);
		v[k].reason = store_col_strdup(res, (int)k, 3);
	}
	*out = v;
	*n = rows;
done:
	PQclear(res);
	return error;
}

void
store_quota_holds_free(struct store_quota_hold *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].env);
		free(v[i].workspace);
		free(v[i].reason);
	}
	free(v);
}

int
store_event_instances_seen(bool *seen, struct store *st, const char *type,
    const char *const *ids, size_t n)
{
	const char *params[3];
	char *json = strings_json(ids, n);
	PGresult *res = NULL;
	size_t i, k, rows;
	int error;

	for (i = 0; i < n; i++)
		seen[i] = false;
	params[0] = type;
	params[1] = json;
	params[2] = store_cluster(st);
	if ((error = store_exec(&res, st, "read held events",
	    "SELECT DISTINCT payload->>'instance_id' FROM events"
	    " WHERE cluster_id = $3 AND type = $1 AND payload->>'instance_id' IN"
	    " (SELECT jsonb_array_elements_text($2::jsonb))", 3, params,
	    PGRES_TUPLES_OK)) != 0)
		goto done;
	rows = (size_t)PQntuples(res);
	for (k = 0; k < rows; k++)
		for (i = 0; i < n; i++)
			if (strcmp(ids[i], PQgetvalue(res, (int)k, 0)) == 0)
				seen[i] = true;
done:
	PQclear(res);
	free(json);
	return error;
}

int
store_run_begin(int64_t *id_out, struct store *st, const char *revision)
{
	const char *params[3];
	PGresult *res = NULL;
	int error;

	params[0] = revision;
	params[1] = store_cluster(st);
	params[2] = st->cid;
	if ((error = store_exec(&res, st, "record reconcile run",
	    "INSERT INTO reconcile_runs (revision, cluster_id, correlation_id)"
	    " VALUES ($1, $2, $3) RETURNING id", 3, params,
	    PGRES_TUPLES_OK)) == 0)
		*id_out = store_col_int64(res, 0, 0);
	PQclear(res);
	return error;
}

int
store_run_finish(struct store *st, int64_t id, const struct store_count *counts,
    size_t ncounts, int drift_found, int errors, const char *error_text)
{
	const char *params[5];
	char idb[32], driftb[16], errb[16];
	json_t *obj = NULL;
	char *json = NULL;
	PGresult *res = NULL;
	size_t i;
	int error = -1;

	obj = json_object();
	for (i = 0; i < ncounts; i++)
		if (counts[i].action == NULL || json_object_set_new(obj,
		    counts[i].action, json_integer(counts[i].n)) != 0) {
			err_set("finish reconcile run: bad action name in counts");
			error = ERR_INVALID;
			goto done;
		}
	if ((json = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		fatalx("json_dumps: out of memory");
	snprintf(idb, sizeof(idb), "%" PRId64, id);
	snprintf(driftb, sizeof(driftb), "%d", drift_found);
	snprintf(errb, sizeof(errb), "%d", errors);
	params[0] = idb;
	params[1] = json;
	params[2] = driftb;
	params[3] = errb;
	params[4] = error_text;
	if ((error = store_failpoint("store.run_finish", "finish reconcile run")) != 0)
		goto done;
	if ((error = store_exec(&res, st, "finish reconcile run",
	    "UPDATE reconcile_runs SET finished_at = clock_timestamp(),"
	    " counts = $2::jsonb, drift_found = $3::integer, errors = $4::integer,"
	    " error = $5 WHERE id = $1::bigint RETURNING id", 5, params,
	    PGRES_TUPLES_OK)) != 0)
		goto done;
	if (PQntuples(res) == 0) {
		err_set("finish reconcile run: no run %" PRId64, id);
		error = ERR_NOTFOUND;
		goto done;
	}
	error = 0;
done:
	PQclear(res);
	free(json);
	json_decref(obj);
	return error;
}

int
store_runs_recent(struct store_run **out, size_t *n, struct store *st,
    size_t limit)
{
	char lim[32];
	const char *params[2];
	struct store_run *runs = NULL;
	PGresult *res = NULL;
	size_t i, rows = 0;
	int error = -1;

	*out = NULL;
	*n = 0;
	snprintf(lim, sizeof(lim), "%zu", limit);
	params[0] = lim;
	params[1] = store_cluster(st);
	if ((error = store_exec(&res, st, "read reconcile runs",
	    "SELECT id, revision, " EPOCH("started_at") ", "
	    EPOCH("finished_at") ", counts::text, drift_found, errors, error,"
	    " coalesce(correlation_id, '') FROM reconcile_runs"
	    " WHERE cluster_id = $2 ORDER BY id DESC LIMIT $1::bigint", 2, params,
	    PGRES_TUPLES_OK)) != 0)
		goto done;
	rows = (size_t)PQntuples(res);
	if (rows > 0)
		runs = xcalloc(rows, sizeof(*runs));
	for (i = 0; i < rows; i++) {
		int r = (int)i;

		runs[i].id = store_col_int64(res, r, 0);
		runs[i].revision = store_col_strdup(res, r, 1);
		runs[i].started_at = (time_t)store_col_int64(res, r, 2);
		runs[i].finished_at = (time_t)store_col_int64(res, r, 3);
		runs[i].counts = store_col_strdup(res, r, 4);
		runs[i].drift_found = (int)store_col_int64(res, r, 5);
		runs[i].errors = (int)store_col_int64(res, r, 6);
		runs[i].error = store_col_strdup(res, r, 7);
		runs[i].cid = store_col_strdup(res, r, 8);
	}
	*out = runs;
	*n = rows;
	error = 0;
done:
	PQclear(res);
	return error;
}

void
store_runs_free(struct store_run *runs, size_t n)
{
	size_t i;

	if (runs == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(runs[i].revision);
		free(runs[i].counts);
		free(runs[i].error);
		free(runs[i].cid);
	}
	free(runs);
}

int
store_drift_open_ids(char (**ids)[STORE_ID_LEN], size_t *n, struct store *st)
{
	PGresult *res = NULL;
	const char *cl = store_cluster(st);
	size_t i, rows;
	int error;

	*ids = NULL;
	*n = 0;
	if ((error = store_exec(&res, st, "read open drift",
	    "SELECT d.env_id::text FROM ("
	    "  SELECT DISTINCT ON (ev.env_id) ev.env_id, ev.type, ev.payload"
	    "  FROM events ev JOIN environments e ON e.id = ev.env_id"
	    "  WHERE e.cluster_id = $1 AND e.status <> 'terminated'"
	    "    AND ev.type IN ('drift.detected', 'drift.resolved')"
	    "  ORDER BY ev.env_id, ev.id DESC) d"
	    " WHERE d.type = 'drift.detected' AND d.payload ? 'fact'"
	    " ORDER BY d.env_id::text COLLATE \"C\"", 1, &cl,
	    PGRES_TUPLES_OK)) != 0)
		goto done;
	rows = (size_t)PQntuples(res);
	*ids = xcalloc(rows + 1, sizeof(**ids));
	for (i = 0; i < rows; i++)
		snprintf((*ids)[i], STORE_ID_LEN, "%s", PQgetvalue(res, (int)i, 0));
	*n = rows;
done:
	PQclear(res);
	return error;
}
