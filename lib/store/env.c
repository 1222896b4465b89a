/*
 * env.c - rows of environments: insert, update by field mask, load.
 */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "store_int.h"

static const char *const status_names[] = {
	"pending", "provisioning", "ready", "error", "terminating", "terminated",
};
static const char *const stage_names[] = {
	[STORE_STAGE_INIT] = "INIT",
	[STORE_STAGE_KEYS_GENERATED] = "KEYS_GENERATED",
	[STORE_STAGE_KEYS_UPLOADED] = "KEYS_UPLOADED",
	[STORE_STAGE_SG_READY] = "SG_READY",
	[STORE_STAGE_INSTANCE_LAUNCHED] = "INSTANCE_LAUNCHED",
	[STORE_STAGE_TAGGED] = "TAGGED",
	[STORE_STAGE_DONE] = "DONE",
};
#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
_Static_assert(NELEM(stage_names) == STORE_STAGE_COUNT,
    "a name for every stored stage");

const char *
store_status_str(enum store_status s)
{
	return (unsigned)s < NELEM(status_names) ? status_names[s] : "?";
}

const char *
store_stage_str(enum store_stage s)
{
	return (unsigned)s < NELEM(stage_names) ? stage_names[s] : "?";
}

int
store_status_parse(enum store_status *out, const char *s)
{
	size_t i;

	for (i = 0; i < NELEM(status_names); i++)
		if (strcmp(s, status_names[i]) == 0) {
			*out = (enum store_status)i;
			return 0;
		}
	err_set("unknown environment status");
	return ERR_INVALID;
}

int
store_stage_parse(enum store_stage *out, const char *s)
{
	size_t i;

	for (i = 0; i < NELEM(stage_names); i++)
		if (strcmp(s, stage_names[i]) == 0) {
			*out = (enum store_stage)i;
			return 0;
		}
	err_set("unknown environment stage");
	return ERR_INVALID;
}

/* How store_env_update() writes each field. */
enum field_kind { F_TEXT, F_STATUS, F_STAGE, F_MONEY, F_INT, F_TIME, F_ERROR,
	F_META };

struct env_field {
	unsigned	 bit;
	const char	*column;
	enum field_kind	 kind;
	size_t		 off;
};

#define OFF(m)	offsetof(struct store_env, m)
static const struct env_field env_fields[] = {
	{ STORE_ENV_WORKSPACE, "workspace", F_TEXT, OFF(workspace) },
	{ STORE_ENV_SPEC_HASH, "spec_hash", F_TEXT, OFF(spec_hash) },
	{ STORE_ENV_SPEC_REVISION, "spec_revision", F_TEXT, OFF(spec_revision) },
	{ STORE_ENV_STATUS, "status", F_STATUS, OFF(status) },
	{ STORE_ENV_STAGE, "stage", F_STAGE, OFF(stage) },
	{ STORE_ENV_INSTANCE_ID, "instance_id", F_TEXT, OFF(instance_id) },
	{ STORE_ENV_PUBLIC_IP, "public_ip", F_TEXT, OFF(public_ip) },
	{ STORE_ENV_SSH_KEY_S3_KEY, "ssh_key_s3_key", F_TEXT, OFF(ssh_key_s3_key) },
	{ STORE_ENV_SECURITY_GROUP_ID, "security_group_id", F_TEXT,
	  OFF(security_group_id) },
	{ STORE_ENV_AMI_ID, "ami_id", F_TEXT, OFF(ami_id) },
	{ STORE_ENV_MARKET, "market", F_TEXT, OFF(market) },
	{ STORE_ENV_SUBNET_ID, "subnet_id", F_TEXT, OFF(subnet_id) },
	{ STORE_ENV_REGION, "region", F_TEXT, OFF(region) },
	{ STORE_ENV_HOST_KEYS, "host_keys", F_TEXT, OFF(host_keys) },
	{ STORE_ENV_STOPPED_AT, "stopped_at", F_TIME, OFF(stopped_at) },
	{ STORE_ENV_STOPPED_SECONDS, "stopped_seconds", F_INT,
	  OFF(stopped_seconds) },
	{ STORE_ENV_COST_PER_HOUR, "cost_per_hour_usd", F_MONEY,
	  OFF(cost_per_hour_usd) },
	{ STORE_ENV_ATTEMPTS, "attempts", F_INT, OFF(attempts) },
	{ STORE_ENV_NEXT_ATTEMPT_AT, "next_attempt_at", F_TIME, OFF(next_attempt_at) },
	{ STORE_ENV_LAUNCHED_AT, "launched_at", F_TIME, OFF(launched_at) },
	{ STORE_ENV_READY_AT, "ready_at", F_TIME, OFF(ready_at) },
	{ STORE_ENV_TERMINATED_AT, "terminated_at", F_TIME, OFF(terminated_at) },
	{ STORE_ENV_TERMINATION_REASON, "termination_reason", F_TEXT,
	  OFF(termination_reason) },
	{ STORE_ENV_TOTAL_COST, "total_cost_usd", F_MONEY, OFF(total_cost_usd) },
	{ STORE_ENV_ERROR, "metadata", F_ERROR, OFF(error) },
	/* a key of metadata (no migration: jsonb takes it as it is) */
	{ STORE_ENV_INSTANCE_TYPE, "instance_type", F_META, OFF(instance_type) },
	{ STORE_ENV_PARKED, "parked", F_META, OFF(parked) },
	/* the text fields that are not updatable, for store_env_set_text() */
	{ STORE_ENV_NAME, "name", F_TEXT, OFF(name) },
	{ STORE_ENV_FAILED_AT_STAGE, "failed_at_stage", F_TEXT,
	  OFF(failed_at_stage) },
};
#undef OFF

#define FIELD(env, f, type)	((type *)(void *)((char *)(env) + (f)->off))

static const struct env_field *
env_field_find(unsigned bit)
{
	size_t i;

	for (i = 0; i < NELEM(env_fields); i++)
		if (env_fields[i].bit == bit)
			return &env_fields[i];
	return NULL;
}

/* The columns every read returns, in the order env_row_parse() expects. */
#define EPOCH(c)	"floor(extract(epoch FROM " c "))::bigint"
#define ENV_COLUMNS							\
	"id::text, name, workspace, spec_hash, spec_revision,"		\
	" status, stage, instance_id, public_ip,"			\
	" ssh_key_s3_key, security_group_id, ami_id,"			\
	" market, subnet_id, region,"					\
	" cost_per_hour_usd::text, attempts, "				\
	EPOCH("next_attempt_at") ", " EPOCH("launched_at") ", "		\
	EPOCH("ready_at") ", " EPOCH("terminated_at") ", "		\
	"termination_reason, total_cost_usd::text, "			\
	"metadata->>'error', metadata->>'failed_at_stage', "		\
	"metadata::text, "						\
	EPOCH("created_at") ", " EPOCH("updated_at") ", row_version, "	\
	"host_keys, " EPOCH("stopped_at") ", stopped_seconds, "		\
	"metadata->>'instance_type', metadata->>'parked'"
enum {
	C_ID, C_NAME, C_WORKSPACE, C_SPEC_HASH, C_SPEC_REVISION, C_STATUS,
	C_STAGE, C_INSTANCE_ID, C_PUBLIC_IP, C_SSH_KEY, C_SG_ID, C_AMI_ID,
	C_MARKET, C_SUBNET_ID, C_REGION, C_COST, C_ATTEMPTS, C_NEXT_ATTEMPT,
	C_LAUNCHED, C_READY, C_TERMINATED, C_REASON, C_TOTAL_COST, C_ERROR,
	C_FAILED_AT, C_METADATA, C_CREATED, C_UPDATED, C_ROW_VERSION,
	C_HOST_KEYS, C_STOPPED_AT, C_STOPPED_SECONDS, C_INSTANCE_TYPE, C_PARKED,
	C_NCOLS
};

/* The text columns of a row and where each goes. */
static const struct {
	int	 col;
	size_t	 off;
} text_cols[] = {
	{ C_NAME, offsetof(struct store_env, name) },
	{ C_WORKSPACE, offsetof(struct store_env, workspace) },
	{ C_SPEC_HASH, offsetof(struct store_env, spec_hash) },
	{ C_SPEC_REVISION, offsetof(struct store_env, spec_revision) },
	{ C_INSTANCE_ID, offsetof(struct store_env, instance_id) },
	{ C_PUBLIC_IP, offsetof(struct store_env, public_ip) },
	{ C_SSH_KEY, offsetof(struct store_env, ssh_key_s3_key) },
	{ C_SG_ID, offsetof(struct store_env, security_group_id) },
	{ C_AMI_ID, offsetof(struct store_env, ami_id) },
	{ C_MARKET, offsetof(struct store_env, market) },
	{ C_SUBNET_ID, offsetof(struct store_env, subnet_id) },
	{ C_REGION, offsetof(struct store_env, region) },
	{ C_REASON, offsetof(struct store_env, termination_reason) },
	{ C_ERROR, offsetof(struct store_env, error) },
	{ C_FAILED_AT, offsetof(struct store_env, failed_at_stage) },
	{ C_METADATA, offsetof(struct store_env, metadata) },
	{ C_HOST_KEYS, offsetof(struct store_env, host_keys) },
	{ C_INSTANCE_TYPE, offsetof(struct store_env, instance_type) },
	{ C_PARKED, offsetof(struct store_env, parked) },
};
#define TEXT_SLOT(env, i)	((char **)(void *)((char *)(env) + text_cols[i].off))

void
store_env_dispose(struct store_env *env)
{
	size_t i;

	if (env == NULL)
		return;
	if (env->packed != NULL)
		free(env->packed);
	else
		for (i = 0; i < NELEM(text_cols); i++)
			free(*TEXT_SLOT(env, i));
	memset(env, 0, sizeof(*env));
}

/* Give a packed row's strings allocations of their own. */
static void
env_unpack(struct store_env *env)
{
	size_t i;

	if (env->packed == NULL)
		return;
	for (i = 0; i < NELEM(text_cols); i++)
		if (*TEXT_SLOT(env, i) != NULL)
			*TEXT_SLOT(env, i) = xstrdup(*TEXT_SLOT(env, i));
	free(env->packed);
	env->packed = NULL;
}

void
store_envs_free(struct store_env *envs, size_t n)
{
	size_t i;

	if (envs == NULL)
		return;
	for (i = 0; i < n; i++)
		store_env_dispose(&envs[i]);
	free(envs);
}

int
store_env_set_text(struct store_env *env, unsigned field, const char *p,
    size_t len)
{
	const struct env_field *f = env_field_find(field);
	char **slot;
	int error;

	if (f == NULL || (f->kind != F_TEXT && f->kind != F_ERROR &&
	    f->kind != F_META)) {
		err_set("store_env_set_text: field %#x is not text", field);
		return ERR_INVALID;
	}
	if ((error = store_text_check(p, len, f->column)) != 0)
		return error;
	env_unpack(env);
	slot = FIELD(env, f, char *);
	free(*slot);
	*slot = p != NULL ? xstrndup(p, len) : NULL;
	return 0;
}

static char *
fmt_time(char *b, size_t sz, time_t t)
{
	if (t == 0)
		return NULL;
	snprintf(b, sz, "%lld", (long long)t);
	return b;
}

static int
fmt_money(char *b, size_t sz, double v, const char *what)
{
	if (!isfinite(v) || fabs(v) >= 1e8) {
		err_set("%s out of range", what);
		return ERR_INVALID;
	}
	snprintf(b, sz, "%.6f", v);
	return 0;
}

/*
 * Parse row of res into env; with pack, every string goes into one block
 * (env->packed) instead of an allocation each.
 */
static int
env_row_parse(struct store_env *env, const PGresult *res, int row, int pack)
{
	size_t i, size = 0;
	char *p;
	int error = -1;

	memset(env, 0, sizeof(*env));
	snprintf(env->id, sizeof(env->id), "%s", PQgetvalue(res, row, C_ID));
	if (pack) {
		for (i = 0; i < NELEM(text_cols); i++)
			if (!PQgetisnull(res, row, text_cols[i].col))
				size += (size_t)PQgetlength(res, row, text_cols[i].col) + 1;
		p = env->packed = xmalloc(size > 0 ? size : 1);
		for (i = 0; i < NELEM(text_cols); i++) {
			size_t len;

			if (PQgetisnull(res, row, text_cols[i].col))
				continue;
			len = (size_t)PQgetlength(res, row, text_cols[i].col);
			memcpy(p, PQgetvalue(res, row, text_cols[i].col), len);
			p[len] = '\0';
			*TEXT_SLOT(env, i) = p;
			p += len + 1;
		}
	} else
		for (i = 0; i < NELEM(text_cols); i++)
			*TEXT_SLOT(env, i) = store_col_strdup(res, row,
			    text_cols[i].col);
	if ((error = store_status_parse(&env->status,
	    PQgetvalue(res, row, C_STATUS))) != 0 ||
	    (error = store_stage_parse(&env->stage,
	    PQgetvalue(res, row, C_STAGE))) != 0) {
		err_prefix("row %s", env->id);
		goto done;
	}
	env->cost_per_hour_usd = PQgetisnull(res, row, C_COST) ? 0.0 :
	    strtod(PQgetvalue(res, row, C_COST), NULL);
	env->attempts = (int)store_col_int64(res, row, C_ATTEMPTS);
	env->next_attempt_at = (time_t)store_col_int64(res, row, C_NEXT_ATTEMPT);
	env->launched_at = (time_t)store_col_int64(res, row, C_LAUNCHED);
	env->ready_at = (time_t)store_col_int64(res, row, C_READY);
	env->terminated_at = (time_t)store_col_int64(res, row, C_TERMINATED);
	env->total_cost_usd = PQgetisnull(res, row, C_TOTAL_COST) ? 0.0 :
	    strtod(PQgetvalue(res, row, C_TOTAL_COST), NULL);
	env->created_at = (time_t)store_col_int64(res, row, C_CREATED);
	env->updated_at = (time_t)store_col_int64(res, row, C_UPDATED);
	env->row_version = store_col_int64(res, row, C_ROW_VERSION);
	env->stopped_at = (time_t)store_col_int64(res, row, C_STOPPED_AT);
	env->stopped_seconds = (int)store_col_int64(res, row, C_STOPPED_SECONDS);
	error = 0;
done:
	if (error != 0)
		store_env_dispose(env);
	return error;
}

/* Rows arriving one by one (store_exec_rows) into a growing array. */
struct env_rows {
	struct store_env	*v;
	size_t			 n, cap;
	int			 pack;	/* env_row_parse's pack */
};

static int
env_rows_add(void *arg, const PGresult *res, int row)
{
	struct env_rows *r = arg;
	int error;

	if (PQnfields(res) != C_NCOLS) {
		err_set("environments: unexpected column count %d", PQnfields(res));
		return ERR_GENERIC;
	}
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->v = xreallocarray(r->v, r->cap, sizeof(*r->v));
	}
	if ((error = env_row_parse(&r->v[r->n], res, row, r->pack)) != 0)
		return error;
	r->n++;
	return 0;
}

int
store_env_leftover_group(struct store *st, const char *env_id,
    const char *name, const char *region, const char *group_id)
{
	const char *params[5] = { env_id, name, region, group_id,
	    store_cluster(st) };
	PGresult *res = NULL;
	int error;

	if ((error = store_failpoint("store.env_leftover",
	    "record a leftover group")) != 0)
		goto done;
	/* A row of another cluster with this id is left alone (no update). */
	error = store_exec(&res, st, "record a leftover group",
	    "INSERT INTO environments (id, name, region, status, stage,"
	    " security_group_id, terminated_at, termination_reason, cluster_id)"
	    " VALUES ($1::uuid, $2, $3, 'terminated', 'INIT', $4, now(),"
	    " 'orphan', $5)"
	    " ON CONFLICT (id) DO UPDATE SET security_group_id ="
	    " EXCLUDED.security_group_id, updated_at = now(),"
	    " row_version = environments.row_version + 1"
	    " WHERE environments.cluster_id = EXCLUDED.cluster_id",
	    5, params, PGRES_COMMAND_OK);
done:
	PQclear(res);
	return error;
}

int
store_env_insert(char id_out[STORE_ID_LEN], struct store *st,
    const struct store_env *env)
{
	const char *params[9];
	char cost[64], name[80];
	PGresult *res = NULL;
	int error = -1;

	if (env->name == NULL || *env->name == '\0') {
		err_set("insert environment: the name is empty");
		return ERR_INVALID;
	}
	log_escape(name, sizeof(name), env->name);
	if ((error = store_failpoint("store.env_insert", "insert environment")) != 0)
		goto done;
	if ((error = fmt_money(cost, sizeof(cost), env->cost_per_hour_usd,
	    "cost_per_hour_usd")) != 0)
		goto done;
	params[0] = env->id[0] != '\0' ? env->id : NULL;
	params[1] = env->name;
	params[2] = env->workspace;
	params[3] = env->spec_hash;
	params[4] = env->spec_revision;
	params[5] = env->region;
	params[6] = env->market;
	params[7] = cost;
	params[8] = store_cluster(st);
	error = store_exec(&res, st, "insert environment",
	    "INSERT INTO environments (id, name, workspace, spec_hash,"
	    " spec_revision, region, market, cost_per_hour_usd, cluster_id)"
	    " VALUES (coalesce($1::uuid, gen_random_uuid()), $2, $3, $4, $5,"
	    " $6, $7, $8::numeric, $9) RETURNING id::text",
	    9, params, PGRES_TUPLES_OK);
	if (error == ERR_EXISTS &&
	    strstr(err_get(), "environments_one_live_per_name") != NULL)
		err_set("insert environment '%s': it already has a live row "
		    "(at most one live row per name)", name);
	else if (error == ERR_EXISTS)
		err_set("insert environment '%s': id %s is taken", name, env->id);
	else if (error != 0)
		err_prefix("environment '%s'", name);
	if (error != 0)
		goto done;
	if (id_out != NULL)
		snprintf(id_out, STORE_ID_LEN, "%s", PQgetvalue(res, 0, 0));
done:
	PQclear(res);
	return error;
}

int
store_env_update(struct store *st, struct store_env *env, unsigned mask)
{
	const char *params[64];
	char tbuf[64][32], vbuf[32];
	struct buf sql;
	PGresult *res = NULL;
	size_t i;
	int np = 0, error = -1;

	buf_init(&sql, 8192);
	if (env->id[0] == '\0') {
		err_set("update environment: the record has no id");
		error = ERR_INVALID;
		goto done;
	}
	if ((mask & STORE_ENV_ERROR) &&
	    (mask & (STORE_ENV_INSTANCE_TYPE | STORE_ENV_PARKED))) {
		err_set("update environment: error and a metadata key (instance "
		    "type, parked) are both metadata: one update each");
		error = ERR_INVALID;
		goto done;
	}
	if ((error = store_failpoint("store.env_update", "update environment")) != 0)
		goto done;
	params[np++] = env->id;
	params[np++] = store_cluster(st);
	buf_addstr(&sql, "UPDATE environments SET updated_at = now(),"
	    " row_version = row_version + 1");
	/* Column names come from the constant table, values are parameters. */
	for (i = 0; i < NELEM(env_fields); i++) {
		const struct env_field *f = &env_fields[i];

		if ((mask & f->bit) == 0 || f->bit == STORE_ENV_NAME ||
		    f->bit == STORE_ENV_FAILED_AT_STAGE)
			continue;
		switch (f->kind) {
		case F_TEXT:
			params[np] = *FIELD(env, f, char *);
			buf_printf(&sql, ", %s = $%d", f->column, np + 1);
			break;
		case F_STATUS:
			params[np] = store_status_str(*FIELD(env, f, enum store_status));
			buf_printf(&sql, ", %s = $%d", f->column, np + 1);
			break;
		case F_STAGE:
			params[np] = store_stage_str(*FIELD(env, f, enum store_stage));
			buf_printf(&sql, ", %s = $%d", f->column, np + 1);
			break;
		case F_MONEY:
			if ((error = fmt_money(tbuf[np], sizeof(tbuf[np]),
			    *FIELD(env, f, double), f->column)) != 0)
				goto done;
			params[np] = tbuf[np];
			buf_printf(&sql, ", %s = $%d::numeric", f->column, np + 1);
			break;
		case F_INT:
			snprintf(tbuf[np], sizeof(tbuf[np]), "%d", *FIELD(env, f, int));
			params[np] = tbuf[np];
			buf_printf(&sql, ", %s = $%d::integer", f->column, np + 1);
			break;
		case F_TIME:
			params[np] = fmt_time(tbuf[np], sizeof(tbuf[np]),
			    *FIELD(env, f, time_t));
			buf_printf(&sql, ", %s = to_timestamp($%d::bigint)",
			    f->column, np + 1);
			break;
		case F_ERROR:
			params[np] = env->error;
			params[np + 1] = env->error != NULL ? env->failed_at_stage : NULL;
			buf_printf(&sql, ", metadata = (metadata - 'error' -"
			    " 'failed_at_stage') || jsonb_strip_nulls("
			    "jsonb_build_object('error', $%d::text,"
			    " 'failed_at_stage', $%d::text))", np + 1, np + 2);
			np++;
			break;
		case F_META:
			params[np] = *FIELD(env, f, char *);
			buf_printf(&sql, ", metadata = (metadata - '%s') ||"
			    " jsonb_strip_nulls(jsonb_build_object('%s', $%d::text))",
			    f->column, f->column, np + 1);
			break;
		}
		np++;
	}
	buf_addstr(&sql, " WHERE id = $1::uuid AND cluster_id = $2");
	if (mask & STORE_ENV_GUARD) {
		snprintf(vbuf, sizeof(vbuf), "%" PRId64, env->row_version);
		params[np++] = vbuf;
		buf_printf(&sql, " AND row_version = $%d::bigint", np);
	}
	buf_addstr(&sql, " RETURNING row_version, " EPOCH("updated_at"));
	if ((error = store_exec(&res, st, "update environment", buf_cstr(&sql),
	    np, params, PGRES_TUPLES_OK)) != 0) {
		err_prefix("environment %s", env->id);
		goto done;
	}
	if (PQntuples(res) == 0) {
		struct store_env cur;

		if ((error = store_env_get(&cur, st, env->id)) == 0) {
			err_set("update environment %s: row version %" PRId64
			    " is stale (now %" PRId64 "): changed concurrently",
			    env->id, env->row_version, cur.row_version);
			store_env_dispose(&cur);
			error = ERR_CONFLICT;
		}
		goto done;
	}
	env->row_version = store_col_int64(res, 0, 0);
	env->updated_at = (time_t)store_col_int64(res, 0, 1);
	error = 0;
done:
	PQclear(res);
	buf_dispose(&sql);
	return error;
}

/* Lists of rows are packed (env_row_parse); a row read alone is not. */
static int
env_query(struct store_env **out, size_t *n, struct store *st, const char *what,
    const char *sql, int nparams, const char *const *params, int pack)
{
	struct env_rows r;
	int error;

	*out = NULL;
	*n = 0;
	memset(&r, 0, sizeof(r));
	r.pack = pack;
	if ((error = store_exec_rows(st, what, sql, nparams, params,
	    env_rows_add, &r)) != 0) {
		store_envs_free(r.v, r.n);
		return error;
	}
	/* one row of slack at most per doubling: give the tail back */
	if (r.n > 0 && r.n < r.cap)
		r.v = xreallocarray(r.v, r.n, sizeof(*r.v));
	else if (r.n == 0) {
		free(r.v);
		r.v = NULL;
	}
	*out = r.v;
	*n = r.n;
	return 0;
}

/* Every query on environments names the store's cluster as $1. */
#define LIVE_FROM	" FROM environments WHERE cluster_id = $1"	\
	" AND status <> 'terminated' ORDER BY name"
#define LIVE_SQL	"SELECT " ENV_COLUMNS LIVE_FROM

int
store_envs_load_live(struct store_env **out, size_t *n, struct store *st)
{
	const char *cl = store_cluster(st);

	return env_query(out, n, st, "load live environments", LIVE_SQL, 1, &cl,
	    1);
}

/* store_envs_live_each(): parse each row, hand it over, forget it. */
struct env_each {
	int	(*fn)(void *, const struct store_env *);
	void	*arg;
};

static int
env_each_row(void *arg, const PGresult *res, int row)
{
	struct env_each *e = arg;
	struct store_env env;
	int error;

	if (PQnfields(res) != C_NCOLS) {
		err_set("environments: unexpected column count %d", PQnfields(res));
		return ERR_GENERIC;
	}
	if ((error = env_row_parse(&env, res, row, 1)) != 0)
		return error;
	error = e->fn(e->arg, &env);
	store_env_dispose(&env);
	return error;
}

int
store_envs_live_each(struct store *st, int (*fn)(void *, const struct store_env *),
    void *arg)
{
	struct env_each e = { fn, arg };
	const char *cl = store_cluster(st);

	return store_exec_rows(st, "load live environments", LIVE_SQL, 1, &cl,
	    env_each_row, &e);
}

/* The one row sql selects into *out; ERR_NOTFOUND when none. */
static int
env_query_one(struct store_env *out, struct store *st, const char *what,
    const char *sql, const char *param)
{
	struct store_env *envs = NULL;
	const char *params[2] = { store_cluster(st), param };
	size_t n = 0;
	char esc[80];
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = env_query(&envs, &n, st, what, sql, 2, params, 0)) != 0)
		return error;
	if (n == 0) {
		log_escape(esc, sizeof(esc), param);
		err_set("%s: no environment '%s'", what, esc);
		error = ERR_NOTFOUND;
	} else {
		*out = envs[0];
		memset(&envs[0], 0, sizeof(envs[0]));
	}
	store_envs_free(envs, n);
	return error;
}

int
store_env_get_by_name(struct store_env *out, struct store *st, const char *name)
{
	return env_query_one(out, st, "get environment",
	    "SELECT " ENV_COLUMNS " FROM environments"
	    " WHERE cluster_id = $1 AND name = $2 AND status <> 'terminated'",
	    name);
}

int
store_env_get(struct store_env *out, struct store *st, const char *id)
{
	return env_query_one(out, st, "get environment",
	    "SELECT " ENV_COLUMNS " FROM environments"
	    " WHERE cluster_id = $1 AND id = $2::uuid", id);
}

int
store_env_history(struct store_env **out, size_t *n, struct store *st,
    const char *name, size_t limit)
{
	const char *params[3];
	char lim[32];

	snprintf(lim, sizeof(lim), "%zu", limit);
	params[0] = store_cluster(st);
	params[1] = name;
	params[2] = lim;
	return env_query(out, n, st, "environment history",
	    "SELECT " ENV_COLUMNS " FROM environments WHERE cluster_id = $1"
	    " AND name = $2 ORDER BY created_at DESC, id LIMIT $3::bigint", 3,
	    params, 1);
}

int
store_envs_parked(struct store_env **out, size_t *n, struct store *st)
{
	const char *params[1];

	params[0] = store_cluster(st);
	return env_query(out, n, st, "parked environments",
	    "SELECT " ENV_COLUMNS " FROM environments e WHERE cluster_id = $1"
	    " AND status = 'terminated' AND metadata ? 'parked'"
	    " AND NOT EXISTS (SELECT 1 FROM environments l"
	    " WHERE l.cluster_id = e.cluster_id AND l.name = e.name"
	    " AND (l.created_at, l.id) > (e.created_at, e.id))"
	    " ORDER BY name", 1, params, 1);
}

/*
 * The rows of a pass: brief rows (struct store_brief) whose strings go
 * into an arena the store_pass owns: 10,000 rows are a few dozen chunks
 * instead of 10,000 blocks of ~150 bytes, each with its malloc header
 * and rounding.
 */

/*
 * The columns of a brief row.  ttl_expired and has_leftovers are
 * computed by the database (the rows' reason and keys stay there).
 */
#define BRIEF_COLUMNS							\
	"id::text, name, spec_hash, instance_id, region, status, stage,"	\
	" attempts, " EPOCH("next_attempt_at") ", " EPOCH("launched_at")	\
	", " EPOCH("ready_at") ", " EPOCH("created_at") ","		\
	" coalesce(termination_reason = 'ttl expired', false),"	\
	" status = 'terminated' AND (ssh_key_s3_key IS NOT NULL"	\
	" OR security_group_id IS NOT NULL),"				\
	" CASE WHEN metadata->>'failed_at_stage' = '"			\
	STORE_FAILED_OWNERSHIP "' THEN metadata->>'error' END,"		\
	" stopped_at IS NOT NULL, metadata ? 'parked'"
enum {
	B_ID, B_NAME, B_SPEC_HASH, B_INSTANCE_ID, B_REGION, B_STATUS, B_STAGE,
	B_ATTEMPTS, B_NEXT_ATTEMPT, B_LAUNCHED, B_READY, B_CREATED,
	B_TTL_EXPIRED, B_HAS_LEFTOVERS, B_NOT_OURS, B_STOPPED, B_PARKED,
	B_NCOLS
};

/* Loading a pass: rows arriving one by one into a growing array. */
struct brief_load {
	struct store_brief	*v;
	size_t			 n, cap;
	struct arena		*strings;
	/* the regions seen so far, shared by the rows that name them */
	const char		*regions[8];
	size_t			 nregions;
};

/* Column col of row as a string of l's chunks; NULL for SQL NULL. */
static const char *
brief_str(struct brief_load *l, const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return arena_strndup(l->strings, PQgetvalue(res, row, col),
	    (size_t)PQgetlength(res, row, col));
}

/* The region of row: one copy per distinct region (a fleet has few). */
static const char *
brief_region(struct brief_load *l, const PGresult *res, int row)
{
	const char *v = PQgetvalue(res, row, B_REGION), *s;
	size_t i;

	if (PQgetisnull(res, row, B_REGION))
		return NULL;
	for (i = 0; i < l->nregions; i++)
		if (strcmp(l->regions[i], v) == 0)
			return l->regions[i];
	s = brief_str(l, res, row, B_REGION);
	if (l->nregions < NELEM(l->regions))
		l->regions[l->nregions++] = s;
	return s;
}

static int
brief_row_add(void *arg, const PGresult *res, int row)
{
	struct brief_load *l = arg;
	struct store_brief *b;
	enum store_status status;
	enum store_stage stage;
	int error;

	if (PQnfields(res) != B_NCOLS) {
		err_set("environments: unexpected column count %d", PQnfields(res));
		return ERR_GENERIC;
	}
	if ((error = store_status_parse(&status,
	    PQgetvalue(res, row, B_STATUS))) != 0 ||
	    (error = store_stage_parse(&stage,
	    PQgetvalue(res, row, B_STAGE))) != 0) {
		err_prefix("row %s", PQgetvalue(res, row, B_ID));
		return error;
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	b = &l->v[l->n++];
	memset(b, 0, sizeof(*b));
	b->id = brief_str(l, res, row, B_ID);
	b->name = brief_str(l, res, row, B_NAME);
	b->spec_hash = brief_str(l, res, row, B_SPEC_HASH);
	b->instance_id = brief_str(l, res, row, B_INSTANCE_ID);
	b->region = brief_region(l, res, row);
	b->status = (uint8_t)status;
	b->stage = (uint8_t)stage;
	b->attempts = (int)store_col_int64(res, row, B_ATTEMPTS);
	b->next_attempt_at = (time_t)store_col_int64(res, row, B_NEXT_ATTEMPT);
	b->launched_at = (time_t)store_col_int64(res, row, B_LAUNCHED);
	b->ready_at = (time_t)store_col_int64(res, row, B_READY);
	b->created_at = (time_t)store_col_int64(res, row, B_CREATED);
	b->ttl_expired = *PQgetvalue(res, row, B_TTL_EXPIRED) == 't';
	b->has_leftovers = *PQgetvalue(res, row, B_HAS_LEFTOVERS) == 't';
	b->stopped = *PQgetvalue(res, row, B_STOPPED) == 't';
	b->parked = *PQgetvalue(res, row, B_PARKED) == 't';
	b->not_ours = brief_str(l, res, row, B_NOT_OURS);
	return 0;
}

/* The brief rows sql selects into *out, *n (the caller frees *out). */
static int
brief_query(struct store_brief **out, size_t *n, struct brief_load *l,
    struct store *st, const char *what, const char *sql, int nparams,
    const char *const *params)
{
	int error;

	l->v = NULL;
	l->n = l->cap = 0;
	if ((error = store_exec_rows(st, what, sql, nparams, params,
	    brief_row_add, l)) != 0) {
		free(l->v);
		return error;
	}
	/* the tail of the last doubling goes back */
	if (l->n > 0 && l->n < l->cap)
		l->v = xreallocarray(l->v, l->n, sizeof(*l->v));
	else if (l->n == 0) {
		free(l->v);
		l->v = NULL;
	}
	*out = l->v;
	*n = l->n;
	return 0;
}

int
store_pass_load(struct store_pass *out, struct store *st, time_t ended_since)
{
	struct brief_load l;
	char tb[32];
	const char *params[2];
	int error = -1;

	memset(out, 0, sizeof(*out));
	memset(&l, 0, sizeof(l));
	l.strings = out->strings = xcalloc(1, sizeof(*out->strings));
	snprintf(tb, sizeof(tb), "%lld", (long long)ended_since);
	params[0] = store_cluster(st);
	params[1] = tb;
	if ((error = store_failpoint("store.pass_load", "load pass")) != 0)
		goto done;
	if ((error = store_tx_begin(st,
	    "ISOLATION LEVEL REPEATABLE READ READ ONLY")) != 0)
		goto done;
	if ((error = store_check_version(st)) != 0)
		goto done;
	if ((error = brief_query(&out->live, &out->nlive, &l, st,
	    "load live environments", "SELECT " BRIEF_COLUMNS LIVE_FROM, 1,
	    params)) != 0)
		goto done;
	if ((error = brief_query(&out->ended, &out->nended, &l, st,
	    "load ended environments",
	    "SELECT " BRIEF_COLUMNS " FROM environments"
	    " WHERE cluster_id = $1 AND status = 'terminated'"
	    " AND (terminated_at >= to_timestamp($2::bigint)"
	    " OR metadata ? 'parked')"
	    " ORDER BY terminated_at, name", 2, params)) != 0)
		goto done;
	error = store_tx_commit(st);
done:
	store_tx_rollback(st);
	if (error != 0)
		store_pass_dispose(out);
	return error;
}

void
store_pass_dispose(struct store_pass *p)
{
	if (p == NULL)
		return;
	free(p->live);
	free(p->ended);
	if (p->strings != NULL)
		arena_dispose(p->strings);
	free(p->strings);
	memset(p, 0, sizeof(*p));
}
