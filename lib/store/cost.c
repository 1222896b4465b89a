/*
 * cost.c - the cost ledger (migration 8): billed intervals of instances,
 * opened at launch and start, closed at stop and termination.  What a
 * segment costs is the pipeline's rule (pipeline_cost_usd()), not here.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "mem.h"
#include "store_int.h"

#define EPOCH(c)	"floor(extract(epoch FROM " c "))::bigint"

static const char *
cost_kind_str(unsigned kind)
{
	return kind == STORE_COST_STORAGE ? "storage" : "compute";
}

int
store_cost_open(struct store *st, const struct store_cost_seg *seg)
{
	const char *params[13];
	char usd[32], od[32], at[32];
	int error = -1;

	if (seg->instance_id == NULL || *seg->instance_id == '\0' ||
	    (seg->kind != STORE_COST_COMPUTE && seg->kind != STORE_COST_STORAGE)) {
		err_set("open cost segment: no instance id or kind");
		error = ERR_INVALID;
		goto done;
	}
	if ((error = store_failpoint("store.cost_open", "open cost segment")) != 0)
		goto done;
	snprintf(usd, sizeof(usd), "%.8f", seg->usd_per_hour);
	snprintf(od, sizeof(od), "%.8f", seg->od_usd_per_hour);
	snprintf(at, sizeof(at), "%lld", (long long)seg->started_at);
	params[0] = store_cluster(st);
	params[1] = seg->env_id[0] != '\0' ? seg->env_id : NULL;
	params[2] = seg->env_name != NULL ? seg->env_name : "";
	params[3] = seg->workspace != NULL ? seg->workspace : "";
	params[4] = seg->instance_id;
	params[5] = cost_kind_str(seg->kind);
	params[6] = seg->market != NULL && strcmp(seg->market, "spot") == 0 ?
	    "spot" : "on-demand";
	params[7] = seg->region != NULL ? seg->region : "";
	params[8] = seg->az != NULL ? seg->az : "";
	params[9] = seg->instance_type != NULL ? seg->instance_type : "";
	params[10] = usd;
	params[11] = od;
	params[12] = at;
	error = store_exec(NULL, st, "open cost segment",
	    "INSERT INTO cost_segments (cluster_id, env_id, env_name, workspace,"
	    " instance_id, kind, market, region, az, instance_type,"
	    " usd_per_hour, od_usd_per_hour, started_at) VALUES ($1,"
	    " $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10, $11::numeric,"
	    " $12::numeric, to_timestamp($13::bigint)) ON CONFLICT DO NOTHING",
	    13, params, PGRES_COMMAND_OK);
done:
	return error;
}

int
store_cost_close(struct store *st, const char *instance_id, unsigned kinds,
    time_t at)
{
	const char *params[5];
	char ab[32];
	int error = -1;

	if ((error = store_failpoint("store.cost_close", "close cost segment")) != 0)
		goto done;
	snprintf(ab, sizeof(ab), "%lld", (long long)at);
	params[0] = store_cluster(st);
	params[1] = instance_id;
	params[2] = ab;
	params[3] = (kinds & STORE_COST_COMPUTE) ? "compute" : "";
	params[4] = (kinds & STORE_COST_STORAGE) ? "storage" : "";
	error = store_exec(NULL, st, "close cost segment",
	    "UPDATE cost_segments SET ended_at = greatest(started_at,"
	    " to_timestamp($3::bigint)) WHERE cluster_id = $1"
	    " AND instance_id = $2 AND ended_at IS NULL AND kind IN ($4, $5)",
	    5, params, PGRES_COMMAND_OK);
done:
	return error;
}

int
store_cost_reopen(struct store *st, const char *instance_id, time_t at)
{
	const char *params[3];
	char ab[32];
	int error = -1;

	if ((error = store_failpoint("store.cost_open", "open cost segment")) != 0)
		goto done;
	snprintf(ab, sizeof(ab), "%lld", (long long)at);
	params[0] = store_cluster(st);
	params[1] = instance_id;
	params[2] = ab;
	error = store_exec(NULL, st, "open cost segment",
	    "INSERT INTO cost_segments (cluster_id, env_id, env_name, workspace,"
	    " instance_id, kind, market, region, az, instance_type,"
	    " usd_per_hour, od_usd_per_hour, started_at)"
	    " SELECT cluster_id, env_id, env_name, workspace, instance_id, kind,"
	    " market, region, az, instance_type, usd_per_hour, od_usd_per_hour,"
	    " greatest(to_timestamp($3::bigint), coalesce(ended_at, started_at))"
	    " FROM cost_segments WHERE cluster_id = $1 AND instance_id = $2"
	    " AND kind = 'compute' ORDER BY started_at DESC LIMIT 1"
	    " ON CONFLICT DO NOTHING", 3, params, PGRES_COMMAND_OK);
done:
	return error;
}

int
store_cost_reprice(int *changed, struct store *st, const char *instance_id,
    time_t at, double usd_per_hour)
{
	const char *params[4];
	char ab[32], usd[32];
	PGresult *res = NULL;
	int error = -1;

	if (changed != NULL)
		*changed = 0;
	if (instance_id == NULL || *instance_id == '\0' ||
	    !(usd_per_hour >= 0.0)) {
		err_set("reprice cost segment: no instance id or a bad price");
		error = ERR_INVALID;
		goto done;
	}
	if ((error = store_failpoint("store.cost_open", "reprice cost segment")) != 0)
		goto done;
	snprintf(ab, sizeof(ab), "%lld", (long long)at);
	snprintf(usd, sizeof(usd), "%.8f", usd_per_hour);
	params[0] = store_cluster(st);
	params[1] = instance_id;
	params[2] = ab;
	params[3] = usd;
	/*
	 * One statement: the closed row leaves the partial unique index of
	 * open segments before its continuation enters it.
	 */
	if ((error = store_exec(&res, st, "reprice cost segment",
	    "WITH old AS (UPDATE cost_segments SET ended_at ="
	    " to_timestamp($3::bigint) WHERE cluster_id = $1"
	    " AND instance_id = $2 AND kind = 'compute' AND ended_at IS NULL"
	    " AND started_at < to_timestamp($3::bigint)"
	    " AND abs(usd_per_hour - $4::numeric) >= 0.000001"
	    " RETURNING *)"
	    " INSERT INTO cost_segments (cluster_id, env_id, env_name, workspace,"
	    " instance_id, kind, market, region, az, instance_type,"
	    " usd_per_hour, od_usd_per_hour, started_at, continues)"
	    " SELECT cluster_id, env_id, env_name, workspace, instance_id, kind,"
	    " market, region, az, instance_type, $4::numeric, od_usd_per_hour,"
	    " ended_at, true FROM old", 4, params, PGRES_COMMAND_OK)) != 0)
		goto done;
	if (changed != NULL)
		*changed = strcmp(PQcmdTuples(res), "1") == 0;
done:
	PQclear(res);
	return error;
}

/* The text columns of a listed segment, in the SELECT's order from 2. */
enum { C_ID, C_ENV_ID, C_NAME, C_WS, C_INST, C_KIND, C_MARKET, C_REGION,
    C_AZ, C_TYPE, C_USD, C_OD, C_START, C_END, C_CONT };

static void
cost_row(struct store_cost_seg *s, const PGresult *res, int r)
{
	const char **dst[] = { &s->env_name, &s->workspace, &s->instance_id,
	    &s->market, &s->region, &s->az, &s->instance_type };
	const int col[] = { C_NAME, C_WS, C_INST, C_MARKET, C_REGION, C_AZ,
	    C_TYPE };
	size_t len = 0, i, off = 0;

	memset(s, 0, sizeof(*s));
	s->id = store_col_int64(res, r, C_ID);
	if (!PQgetisnull(res, r, C_ENV_ID))
		snprintf(s->env_id, sizeof(s->env_id), "%s",
		    PQgetvalue(res, r, C_ENV_ID));
	for (i = 0; i < sizeof(col) / sizeof(col[0]); i++)
		len += (size_t)PQgetlength(res, r, col[i]) + 1;
	s->block = xmalloc(len);
	for (i = 0; i < sizeof(col) / sizeof(col[0]); i++) {
		size_t l = (size_t)PQgetlength(res, r, col[i]);

		memcpy(s->block + off, PQgetvalue(res, r, col[i]), l);
		s->block[off + l] = '\0';
		*dst[i] = s->block + off;
		off += l + 1;
	}
	s->kind = strcmp(PQgetvalue(res, r, C_KIND), "storage") == 0 ?
	    STORE_COST_STORAGE : STORE_COST_COMPUTE;
	s->usd_per_hour = strtod(PQgetvalue(res, r, C_USD), NULL);
	s->od_usd_per_hour = strtod(PQgetvalue(res, r, C_OD), NULL);
	s->started_at = (time_t)store_col_int64(res, r, C_START);
	s->ended_at = PQgetisnull(res, r, C_END) ? 0 :
	    (time_t)store_col_int64(res, r, C_END);
	s->continues = PQgetvalue(res, r, C_CONT)[0] == 't';
}

int
store_cost_list(struct store_cost_seg **out, size_t *n, struct store *st,
    const char *env_id, time_t since, bool live)
{
	const char *params[4];
	char sb[32];
	PGresult *res = NULL;
	size_t i, rows;
	int error = -1;

	*out = NULL;
	*n = 0;
	snprintf(sb, sizeof(sb), "%lld", (long long)since);
	params[0] = store_cluster(st);
	params[1] = env_id;
	params[2] = sb;
	params[3] = live ? "t" : "f";
	if ((error = store_exec(&res, st, "list cost segments",
	    "SELECT id, env_id, env_name, workspace, instance_id, kind, market,"
	    " region, az, instance_type, usd_per_hour::text,"
	    " od_usd_per_hour::text, " EPOCH("started_at") ", "
	    EPOCH("ended_at") ", continues FROM cost_segments"
	    " WHERE cluster_id = $1 AND ($2::uuid IS NULL OR env_id = $2::uuid)"
	    " AND coalesce(ended_at, 'infinity') + interval '1 minute'"
	    " >= to_timestamp($3::bigint)"
	    " AND (NOT $4::boolean OR env_id IN (SELECT id FROM environments"
	    " WHERE cluster_id = $1 AND status <> 'terminated'))"
	    " ORDER BY env_id, started_at, id", 4, params,
	    PGRES_TUPLES_OK)) != 0)
		goto done;
	rows = (size_t)PQntuples(res);
	if (rows > 0)
		*out = xcalloc(rows, sizeof(**out));
	for (i = 0; i < rows; i++)
		cost_row(&(*out)[i], res, (int)i);
	*n = rows;
done:
	PQclear(res);
	return error;
}

void
store_cost_list_free(struct store_cost_seg *v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i].block);
	free(v);
}
