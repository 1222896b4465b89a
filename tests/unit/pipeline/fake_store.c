/*
 * fake_store.c - the environments and events tables in memory behind the
 * API of lib/store (store.h): the store_* functions lib/pipeline calls,
 * linked instead of envctl_store.  See fakeworld.h.
 *
 * What store.h promises is kept: an insert starts a row pending at INIT
 * with attempts 0 and only the documented columns; one live row per
 * name; an update writes exactly the fields of its mask (STORE_ENV_ERROR
 * with a NULL error clears failed_at_stage too), bumps row_version and
 * honours STORE_ENV_GUARD; a text with a NUL and an event payload that
 * is not JSON are ERR_INVALID.  A read returns a copy, as a new query
 * would.  fakestore.down_after makes every call after that many writes
 * fail with ERR_UNAVAILABLE: the database (or the process) is gone.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fakeworld.h"
#include "mem.h"
#include "store.h"

struct store {
	int	 unused;
};

struct fakestore fakestore;
static struct store the_store;

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* The text fields of a row and their mask bits (store_env_set_text). */
static const struct {
	unsigned	 bit;
	size_t		 off;
} text_fields[] = {
	{ STORE_ENV_NAME, offsetof(struct store_env, name) },
	{ STORE_ENV_WORKSPACE, offsetof(struct store_env, workspace) },
	{ STORE_ENV_SPEC_HASH, offsetof(struct store_env, spec_hash) },
	{ STORE_ENV_SPEC_REVISION, offsetof(struct store_env, spec_revision) },
	{ STORE_ENV_INSTANCE_ID, offsetof(struct store_env, instance_id) },
	{ STORE_ENV_PUBLIC_IP, offsetof(struct store_env, public_ip) },
	{ STORE_ENV_SSH_KEY_S3_KEY, offsetof(struct store_env, ssh_key_s3_key) },
	{ STORE_ENV_SECURITY_GROUP_ID, offsetof(struct store_env, security_group_id) },
	{ STORE_ENV_AMI_ID, offsetof(struct store_env, ami_id) },
	{ STORE_ENV_MARKET, offsetof(struct store_env, market) },
	{ STORE_ENV_SUBNET_ID, offsetof(struct store_env, subnet_id) },
	{ STORE_ENV_REGION, offsetof(struct store_env, region) },
	{ STORE_ENV_HOST_KEYS, offsetof(struct store_env, host_keys) },
	{ STORE_ENV_TERMINATION_REASON, offsetof(struct store_env, termination_reason) },
	{ STORE_ENV_ERROR, offsetof(struct store_env, error) },
	{ STORE_ENV_FAILED_AT_STAGE, offsetof(struct store_env, failed_at_stage) },
	{ STORE_ENV_INSTANCE_TYPE, offsetof(struct store_env, instance_type) },
};

#define SLOT(env, i)	((char **)(void *)((char *)(env) + text_fields[i].off))
#define CSLOT(env, i)	((char *const *)(const void *)((const char *)(env) + \
			    text_fields[i].off))

static const char *const stage_names[] = {
	"INIT", "KEYS_GENERATED", "KEYS_UPLOADED", "SG_READY",
	"INSTANCE_LAUNCHED", "TAGGED", "DONE",
};

const char *
store_stage_str(enum store_stage s)
{
	return (unsigned)s < NELEM(stage_names) ? stage_names[s] : "?";
}

const char *
store_status_str(enum store_status s)
{
	static const char *const names[] = { "pending", "provisioning",
	    "ready", "error", "terminating", "terminated" };

	return (unsigned)s < NELEM(names) ? names[s] : "?";
}

void
store_env_dispose(struct store_env *env)
{
	size_t i;

	if (env == NULL)
		return;
	for (i = 0; i < NELEM(text_fields); i++)
		free(*SLOT(env, i));
	free(env->metadata);
	memset(env, 0, sizeof(*env));
}

int
store_env_set_text(struct store_env *env, unsigned field, const char *p,
    size_t len)
{
	size_t i;

	for (i = 0; i < NELEM(text_fields); i++)
		if (text_fields[i].bit == field)
			break;
	if (i == NELEM(text_fields)) {
		err_set("store_env_set_text: field %#x is not text", field);
		return ERR_INVALID;
	}
	if (p != NULL && memchr(p, '\0', len) != NULL) {
		err_set("store_env_set_text: a NUL byte");
		return ERR_INVALID;
	}
	free(*SLOT(env, i));
	*SLOT(env, i) = p != NULL ? xstrndup(p, len) : NULL;
	return 0;
}

/* A deep copy of src into dst. */
static void
row_copy(struct store_env *dst, const struct store_env *src)
{
	size_t i;

	*dst = *src;
	for (i = 0; i < NELEM(text_fields); i++)
		if (*CSLOT(src, i) != NULL)
			*SLOT(dst, i) = xstrdup(*CSLOT(src, i));
	dst->metadata = NULL;
	dst->packed = NULL;
}

struct store *
fakestore_reset(void)
{
	size_t i;

	for (i = 0; i < fakestore.nrows; i++)
		store_env_dispose(&fakestore.rows[i]);
	for (i = 0; i < fakestore.nev; i++) {
		free(fakestore.ev[i].type);
		free(fakestore.ev[i].payload);
	}
	memset(&fakestore, 0, sizeof(fakestore));
	fakestore.down_after = -1;
	return &the_store;
}

static struct store_env *
row_find(const char *id)
{
	size_t i;

	for (i = 0; i < fakestore.nrows; i++)
		if (strcmp(fakestore.rows[i].id, id) == 0)
			return &fakestore.rows[i];
	return NULL;
}

const struct store_env *
fakestore_row(const char *id)
{
	return row_find(id);
}

const struct store_env *
fakestore_row_named(const char *name)
{
	const struct store_env *found = NULL;
	size_t i;

	for (i = 0; i < fakestore.nrows; i++)
		if (strcmp(fakestore.rows[i].name, name) == 0) {
			if (found != NULL)
				abort();	/* the tests make one incarnation a name */
			found = &fakestore.rows[i];
		}
	return found;
}

size_t
fakestore_events(const char *env_id, const char *type,
    const struct fs_event **last)
{
	size_t i, n = 0;

	if (last != NULL)
		*last = NULL;
	for (i = 0; i < fakestore.nev; i++)
		if ((env_id == NULL || strcmp(fakestore.ev[i].env_id, env_id) == 0) &&
		    (type == NULL || strcmp(fakestore.ev[i].type, type) == 0)) {
			n++;
			if (last != NULL)
				*last = &fakestore.ev[i];
		}
	return n;
}

/* Whether the database still answers; every call checks. */
static int
up(const char *what)
{
	if (fakestore.down_after >= 0 &&
	    (long)fakestore.writes >= fakestore.down_after) {
		err_set("%s: database unavailable (fake)", what);
		return ERR_UNAVAILABLE;
	}
	return 0;
}

int
store_env_leftover_group(struct store *st, const char *env_id,
    const char *name, const char *region, const char *group_id)
{
	struct store_env *r;
	size_t i;
	int error;

	(void)st;
	if ((error = up("record a leftover group")) < 0)
		return error;
	fakestore.writes++;
	for (i = 0; i < fakestore.nrows; i++)
		if (strcmp(fakestore.rows[i].id, env_id) == 0) {
			r = &fakestore.rows[i];
			free(r->security_group_id);
			r->security_group_id = xstrdup(group_id);
			r->row_version++;
			return 0;
		}
	if (fakestore.nrows == NELEM(fakestore.rows))
		abort();
	r = &fakestore.rows[fakestore.nrows++];
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", env_id);
	r->name = xstrdup(name);
	r->region = region != NULL ? xstrdup(region) : NULL;
	r->status = STORE_STATUS_TERMINATED;
	r->stage = STORE_STAGE_INIT;
	r->security_group_id = xstrdup(group_id);
	r->terminated_at = fakestore.now;
	r->termination_reason = xstrdup("orphan");
	r->created_at = r->updated_at = fakestore.now;
	r->row_version = 1;
	return 0;
}

int
store_env_insert(char id_out[STORE_ID_LEN], struct store *st,
    const struct store_env *env)
{
	struct store_env *r;
	size_t i;
	int error;

	(void)st;
	if ((error = up("insert environment")) < 0)
		return error;
	if (env->name == NULL || *env->name == '\0') {
		err_set("insert environment: the name is empty");
		return ERR_INVALID;
	}
	for (i = 0; i < fakestore.nrows; i++) {
		const struct store_env *o = &fakestore.rows[i];

		if ((strcmp(o->name, env->name) == 0 &&
		    o->status != STORE_STATUS_TERMINATED) ||
		    (env->id[0] != '\0' && strcmp(o->id, env->id) == 0)) {
			err_set("insert environment '%s': it already has a live "
			    "row or the id is taken", env->name);
			return ERR_EXISTS;
		}
	}
	if (fakestore.nrows == NELEM(fakestore.rows))
		abort();
	fakestore.writes++;
	r = &fakestore.rows[fakestore.nrows++];
	memset(r, 0, sizeof(*r));
	if (env->id[0] != '\0')
		snprintf(r->id, sizeof(r->id), "%s", env->id);
	else
		snprintf(r->id, sizeof(r->id), "0000%04zx-0000-4000-8000-%012zx",
		    fakestore.nrows, fakestore.nrows);
	r->name = xstrdup(env->name);
	r->workspace = env->workspace ? xstrdup(env->workspace) : NULL;
	r->spec_hash = env->spec_hash ? xstrdup(env->spec_hash) : NULL;
	r->spec_revision = env->spec_revision ? xstrdup(env->spec_revision) : NULL;
	r->region = env->region ? xstrdup(env->region) : NULL;
	r->market = env->market ? xstrdup(env->market) : NULL;
	r->cost_per_hour_usd = env->cost_per_hour_usd;
	r->status = STORE_STATUS_PENDING;
	r->stage = STORE_STAGE_INIT;
	r->created_at = r->updated_at = fakestore.now;
	r->row_version = 1;
	if (id_out != NULL)
		snprintf(id_out, STORE_ID_LEN, "%s", r->id);
	return 0;
}

static void
text_write(char **dst, const char *src)
{
	free(*dst);
	*dst = src != NULL ? xstrdup(src) : NULL;
}

int
store_env_update(struct store *st, struct store_env *env, unsigned mask)
{
	struct store_env *r;
	size_t i;
	int error;

	(void)st;
	if ((error = up("update environment")) < 0)
		return error;
	if (env->id[0] == '\0') {
		err_set("update environment: the record has no id");
		return ERR_INVALID;
	}
	if ((r = row_find(env->id)) == NULL) {
		err_set("update environment %s: no such row", env->id);
		return ERR_NOTFOUND;
	}
	if ((mask & STORE_ENV_GUARD) && r->row_version != env->row_version) {
		err_set("update environment %s: row version %" PRId64 " is stale "
		    "(now %" PRId64 "): changed concurrently", env->id,
		    env->row_version, r->row_version);
		return ERR_CONFLICT;
	}
	fakestore.writes++;
	for (i = 0; i < NELEM(text_fields); i++) {
		unsigned bit = text_fields[i].bit;

		if ((mask & bit) && bit != STORE_ENV_NAME && bit != STORE_ENV_ERROR &&
		    bit != STORE_ENV_FAILED_AT_STAGE)
			text_write(SLOT(r, i), *SLOT(env, i));
	}
	if (mask & STORE_ENV_ERROR) {
		text_write(&r->error, env->error);
		text_write(&r->failed_at_stage, env->error != NULL ?
		    env->failed_at_stage : NULL);
	}
	if (mask & STORE_ENV_STATUS)
		r->status = env->status;
	if (mask & STORE_ENV_STAGE) {
		r->stage = env->stage;
		if (fakestore.nstages < NELEM(fakestore.stages)) {
			struct fs_stage *s = &fakestore.stages[fakestore.nstages++];

			snprintf(s->env_id, sizeof(s->env_id), "%s", env->id);
			s->stage = env->stage;
		}
	}
	if (mask & STORE_ENV_COST_PER_HOUR)
		r->cost_per_hour_usd = env->cost_per_hour_usd;
	if (mask & STORE_ENV_ATTEMPTS)
		r->attempts = env->attempts;
	if (mask & STORE_ENV_NEXT_ATTEMPT_AT)
		r->next_attempt_at = env->next_attempt_at;
	if (mask & STORE_ENV_LAUNCHED_AT)
		r->launched_at = env->launched_at;
	if (mask & STORE_ENV_READY_AT)
		r->ready_at = env->ready_at;
	if (mask & STORE_ENV_TERMINATED_AT)
		r->terminated_at = env->terminated_at;
	if (mask & STORE_ENV_TOTAL_COST)
		r->total_cost_usd = env->total_cost_usd;
	if (mask & STORE_ENV_STOPPED_AT)
		r->stopped_at = env->stopped_at;
	if (mask & STORE_ENV_STOPPED_SECONDS)
		r->stopped_seconds = env->stopped_seconds;
	r->row_version++;
	r->updated_at = fakestore.now;
	env->row_version = r->row_version;
	env->updated_at = r->updated_at;
	return 0;
}

int
store_env_get(struct store_env *out, struct store *st, const char *id)
{
	const struct store_env *r;
	int error;

	(void)st;
	memset(out, 0, sizeof(*out));
	if ((error = up("read environment")) < 0)
		return error;
	if ((r = row_find(id)) == NULL) {
		err_set("environment %s not found", id);
		return ERR_NOTFOUND;
	}
	row_copy(out, r);
	return 0;
}

int
store_event_add(int64_t *id_out, struct store *st, const char *env_id,
    const char *type, const char *payload, size_t len)
{
	struct fs_event *e;
	json_t *doc;
	int error;

	(void)st;
	if ((error = up("add event")) < 0)
		return error;
	if (payload == NULL) {
		payload = "{}";
		len = 2;
	}
	if (memchr(payload, '\0', len) != NULL ||
	    (doc = json_loadb(payload, len, 0, NULL)) == NULL) {
		err_set("add event %s: the payload is not JSON", type);
		return ERR_INVALID;
	}
	json_decref(doc);
	if (fakestore.nev == NELEM(fakestore.ev))
		abort();
	fakestore.writes++;
	e = &fakestore.ev[fakestore.nev++];
	memset(e, 0, sizeof(*e));
	e->id = (int64_t)fakestore.nev;
	snprintf(e->env_id, sizeof(e->env_id), "%s", env_id ? env_id : "");
	e->type = xstrdup(type);
	e->payload = xstrndup(payload, len);
	e->created_at = fakestore.now;
	if (id_out != NULL)
		*id_out = e->id;
	return 0;
}

int
store_events_recent(struct store_event **out, size_t *n, struct store *st,
    const char *env_id, size_t limit)
{
	size_t i;
	int error;

	(void)st;
	*out = NULL;
	*n = 0;
	if ((error = up("read events")) < 0)
		return error;
	*out = xcalloc(fakestore.nev + 1, sizeof(**out));
	for (i = fakestore.nev; i > 0 && *n < limit; i--) {
		const struct fs_event *e = &fakestore.ev[i - 1];
		struct store_event *o = &(*out)[*n];

		if (env_id != NULL && strcmp(e->env_id, env_id) != 0)
			continue;
		o->id = e->id;
		snprintf(o->env_id, sizeof(o->env_id), "%s", e->env_id);
		o->type = xstrdup(e->type);
		o->payload = xstrdup(e->payload);
		o->created_at = e->created_at;
		(*n)++;
	}
	return 0;
}

void
store_events_free(struct store_event *ev, size_t n)
{
	size_t i;

	for (i = 0; ev != NULL && i < n; i++) {
		free(ev[i].type);
		free(ev[i].payload);
	}
	free(ev);
}

/* ---- the cost ledger ---- */

int
store_cost_open(struct store *st, const struct store_cost_seg *seg)
{
	struct fs_cost *c;
	size_t i;
	int error;

	(void)st;
	if ((error = up("open cost segment")) < 0)
		return error;
	for (i = 0; i < fakestore.ncost; i++) {
		c = &fakestore.cost[i];
		if (strcmp(c->instance_id, seg->instance_id) == 0 &&
		    c->kind == seg->kind && (c->end == 0 ||
		    c->start == seg->started_at))
			return 0;	/* ON CONFLICT DO NOTHING */
	}
	if (fakestore.ncost == NELEM(fakestore.cost)) {
		err_set("open cost segment: fake ledger full");
		return ERR_LIMIT;
	}
	c = &fakestore.cost[fakestore.ncost++];
	memset(c, 0, sizeof(*c));
	snprintf(c->env_id, sizeof(c->env_id), "%s", seg->env_id);
	snprintf(c->instance_id, sizeof(c->instance_id), "%s", seg->instance_id);
	snprintf(c->type, sizeof(c->type), "%s",
	    seg->instance_type ? seg->instance_type : "");
	snprintf(c->az, sizeof(c->az), "%s", seg->az ? seg->az : "");
	snprintf(c->market, sizeof(c->market), "%s",
	    seg->market ? seg->market : "on-demand");
	c->kind = seg->kind;
	c->usd = seg->usd_per_hour;
	c->od = seg->od_usd_per_hour;
	c->start = seg->started_at;
	return 0;
}

int
store_cost_close(struct store *st, const char *instance_id, unsigned kinds,
    time_t at)
{
	struct fs_cost *c;
	size_t i;
	int error;

	(void)st;
	if ((error = up("close cost segment")) < 0)
		return error;
	for (i = 0; i < fakestore.ncost; i++) {
		c = &fakestore.cost[i];
		if (c->end == 0 && (c->kind & kinds) &&
		    strcmp(c->instance_id, instance_id) == 0)
			c->end = at > c->start ? at : c->start;
	}
	return 0;
}

int
store_cost_reopen(struct store *st, const char *instance_id, time_t at)
{
	struct store_cost_seg seg;
	const struct fs_cost *last = NULL;
	size_t i;

	for (i = 0; i < fakestore.ncost; i++)
		if (fakestore.cost[i].kind == STORE_COST_COMPUTE &&
		    strcmp(fakestore.cost[i].instance_id, instance_id) == 0)
			last = &fakestore.cost[i];
	if (last == NULL)
		return up("open cost segment");
	memset(&seg, 0, sizeof(seg));
	snprintf(seg.env_id, sizeof(seg.env_id), "%s", last->env_id);
	seg.instance_id = last->instance_id;
	seg.instance_type = last->type;
	seg.az = last->az;
	seg.market = last->market;
	seg.kind = STORE_COST_COMPUTE;
	seg.usd_per_hour = last->usd;
	seg.od_usd_per_hour = last->od;
	seg.started_at = last->end != 0 && last->end > at ? last->end : at;
	return store_cost_open(st, &seg);
}

static int
cost_cmp(const void *a, const void *b)
{
	const struct store_cost_seg *x = a, *y = b;
	int c = strcmp(x->env_id, y->env_id);

	if (c != 0)
		return c;
	return x->started_at < y->started_at ? -1 : x->started_at > y->started_at;
}

int
store_cost_list(struct store_cost_seg **out, size_t *n, struct store *st,
    const char *env_id, time_t since, bool live)
{
	const struct fs_cost *c;
	const struct store_env *r;
	struct store_cost_seg *s;
	size_t i;
	int error;

	(void)st;
	*out = NULL;
	*n = 0;
	if ((error = up("list cost segments")) < 0)
		return error;
	*out = xcalloc(fakestore.ncost + 1, sizeof(**out));
	for (i = 0; i < fakestore.ncost; i++) {
		c = &fakestore.cost[i];
		if (env_id != NULL && strcmp(c->env_id, env_id) != 0)
			continue;
		if (c->end != 0 && c->end + 60 < since)
			continue;
		if (live && ((r = row_find(c->env_id)) == NULL ||
		    r->status == STORE_STATUS_TERMINATED))
			continue;
		s = &(*out)[(*n)++];
		snprintf(s->env_id, sizeof(s->env_id), "%s", c->env_id);
		s->block = xstrdup(c->instance_id);
		s->instance_id = s->block;
		s->env_name = s->workspace = s->region = "";
		s->market = c->market;
		s->az = c->az;
		s->instance_type = c->type;
		s->kind = c->kind;
		s->usd_per_hour = c->usd;
		s->od_usd_per_hour = c->od;
		s->started_at = c->start;
		s->ended_at = c->end;
	}
	qsort(*out, *n, sizeof(**out), cost_cmp);
	return 0;
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
