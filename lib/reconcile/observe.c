/*
 * observe.c - discovery by tag, and the conversions into plan inputs.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec2.h"
#include "err.h"
#include "mem.h"
#include "observe.h"
#include "spec.h"
#include "store.h"

int
observe_tags_init(struct observe_tags *t, const char *prefix)
{
	if (prefix == NULL || *prefix == '\0' || strlen(prefix) > 40) {
		err_set("tag prefix must be 1..40 characters");
		return ERR_INVALID;
	}
	snprintf(t->managed, sizeof(t->managed), "%s:managed", prefix);
	snprintf(t->cluster, sizeof(t->cluster), "%s:cluster", prefix);
	snprintf(t->env, sizeof(t->env), "%s:env", prefix);
	snprintf(t->env_id, sizeof(t->env_id), "%s:env-id", prefix);
	snprintf(t->spec_hash, sizeof(t->spec_hash), "%s:spec-hash", prefix);
	snprintf(t->workspace, sizeof(t->workspace), "%s:workspace", prefix);
	return 0;
}

void
observe_instances_dispose(struct observe_instances *o)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		ec2_instance_dispose(&o->v[i]);
	free(o->v);
	memset(o, 0, sizeof(*o));
}

void
observe_instances_move(struct observe_instances *dst,
    struct observe_instances *src)
{
	if (dst->n == 0) {
		/* the common case, one region: take the array, no copy */
		free(dst->v);
		dst->v = src->v;
		src->v = NULL;
	} else if (src->n > 0) {
		dst->v = xreallocarray(dst->v, dst->n + src->n, sizeof(*dst->v));
		memcpy(dst->v + dst->n, src->v, src->n * sizeof(*src->v));
	}
	dst->n += src->n;
	dst->pages += src->pages;
	free(src->v);
	memset(src, 0, sizeof(*src));
}

/* EC2's instance states: the planner's names, and static strings. */
static const struct {
	const char		*name;
	enum plan_instance_state state;
} state_map[] = {
	{ "pending",		PLAN_INSTANCE_PENDING },
	{ "running",		PLAN_INSTANCE_RUNNING },
	{ "stopping",		PLAN_INSTANCE_STOPPING },
	{ "stopped",		PLAN_INSTANCE_STOPPED },
	{ "shutting-down",	PLAN_INSTANCE_SHUTTING_DOWN },
	{ "terminated",		PLAN_INSTANCE_TERMINATED },
};

/* The static name of a documented state, or NULL for any other. */
static const char *
observe_state_name(const char *state)
{
	size_t i;

	for (i = 0; i < sizeof(state_map) / sizeof(state_map[0]); i++)
		if (strcmp(state, state_map[i].name) == 0)
			return state_map[i].name;
	return NULL;
}

/* Copy s to *p and advance *p. */
static const char *
pack_str(char **p, const char *s)
{
	size_t len = strlen(s) + 1;
	char *at = memcpy(*p, s, len);

	*p += len;
	return at;
}

/*
 * Copy of src with only what a pass reads, in one block (dst->block):
 * id, state, type, public_ip, launched, market and the tags named in t,
 * whose keys point at t's strings.  Every other string is "".  The block
 * holds the tag array, then the text.
 */
static void
pack_instance(struct ec2_instance *dst, const struct ec2_instance *src,
    const struct observe_tags *t)
{
	const char *const keys[] = {
		t->managed, t->cluster, t->env, t->env_id, t->spec_hash,
		t->workspace,
	};
	enum { NKEYS = sizeof(keys) / sizeof(keys[0]) };
	const char *key[NKEYS], *value[NKEYS];
	const char *state = observe_state_name(src->state);
	size_t i, k, nt = 0, size;
	struct ec2_tag *tags;
	char *p;

	for (i = 0; i < src->ntags && nt < NKEYS; i++)
		for (k = 0; k < NKEYS; k++)
			if (strcmp(src->tags[i].key, keys[k]) == 0) {
				key[nt] = keys[k];
				value[nt++] = src->tags[i].value;
				break;
			}
	size = nt * sizeof(*tags) + strlen(src->id) + 1 +
	    strlen(src->type) + 1 + strlen(src->public_ip) + 1 +
	    (state != NULL ? 0 : strlen(src->state) + 1);
	for (i = 0; i < nt; i++)
		size += strlen(value[i]) + 1;
	memset(dst, 0, sizeof(*dst));
	dst->block = xmalloc(size);
	tags = dst->block;
	p = (char *)(void *)(tags + nt);
	dst->id = pack_str(&p, src->id);
	dst->state = state != NULL ? state : pack_str(&p, src->state);
	dst->type = pack_str(&p, src->type);
	dst->public_ip = pack_str(&p, src->public_ip);
	dst->image_id = dst->private_ip = dst->subnet_id = dst->vpc_id =
	    dst->az = dst->key_name = dst->client_token =
	    dst->state_reason = "";
	dst->launched = src->launched;
	dst->state_code = src->state_code;
	dst->market = src->market;
	for (i = 0; i < nt; i++) {
		tags[i].key = key[i];
		tags[i].value = pack_str(&p, value[i]);
	}
	dst->tags = nt > 0 ? tags : NULL;
	dst->ntags = nt;
}

struct collect {
	struct observe_instances	*out;
	const struct observe_tags	*tags;
};

/* Take the page's instances: the page is borrowed, so copy them packed. */
static int
collect_page(const struct ec2_instance *v, size_t n, void *arg)
{
	struct collect *c = arg;
	struct observe_instances *o = c->out;
	size_t i;

	o->v = xreallocarray(o->v, o->n + n, sizeof(*o->v));
	for (i = 0; i < n; i++)
		pack_instance(&o->v[o->n + i], &v[i], c->tags);
	o->n += n;
	return 0;
}

int
observe_instances_discover(struct observe_instances *out,
    struct ec2_client *ec2, const struct observe_tags *tags,
    const char *cluster_id)
{
	static const char *const states[] = {
		"pending", "running", "shutting-down", "stopping", "stopped",
	};
	const char *cluster_values[1] = { cluster_id };
	char filter_name[96];
	struct ec2_filter filters[2];
	struct ec2_describe_instances_input in;
	struct collect c = { out, tags };
	int error;

	memset(out, 0, sizeof(*out));
	snprintf(filter_name, sizeof(filter_name), "tag:%s", tags->cluster);
	filters[0].name = filter_name;
	filters[0].values = cluster_values;
	filters[0].nvalues = 1;
	filters[1].name = "instance-state-name";
	filters[1].values = states;
	filters[1].nvalues = sizeof(states) / sizeof(states[0]);
	memset(&in, 0, sizeof(in));
	in.filters = filters;
	in.nfilters = 2;
	in.max_results = EC2_DESCRIBE_MAX_RESULTS;
	if ((error = ec2_instances_describe(ec2, &in, collect_page, &c,
	    &out->pages)) < 0) {
		observe_instances_dispose(out);
		err_prefix("discovering instances");
		return error;
	}
	return 0;
}

enum plan_instance_state
observe_instance_state(const char *state)
{
	size_t i;

	for (i = 0; i < sizeof(state_map) / sizeof(state_map[0]); i++)
		if (strcmp(state, state_map[i].name) == 0)
			return state_map[i].state;
	return PLAN_INSTANCE_RUNNING;
}

void
observe_plan_instances(struct plan_instance **out,
    const struct observe_instances *in, const struct observe_tags *tags,
    const char *const *protected_ids, size_t nprotected)
{
	struct plan_instance *v = xcalloc(in->n ? in->n : 1, sizeof(*v));
	size_t i, j;

	for (i = 0; i < in->n; i++) {
		const struct ec2_instance *inst = &in->v[i];
		const char *managed = ec2_instance_tag(inst, tags->managed);

		v[i].instance_id = inst->id;
		v[i].state = observe_instance_state(inst->state);
		v[i].managed = managed != NULL && strcmp(managed, "true") == 0;
		v[i].cluster_id = ec2_instance_tag(inst, tags->cluster);
		v[i].env_name = ec2_instance_tag(inst, tags->env);
		v[i].env_id = ec2_instance_tag(inst, tags->env_id);
		v[i].spec_hash = ec2_instance_tag(inst, tags->spec_hash);
		v[i].launch_time = (int64_t)inst->launched;
		v[i].market = inst->market == EC2_MARKET_SPOT ? "spot" : "on-demand";
		for (j = 0; j < nprotected; j++)
			if (strcmp(protected_ids[j], inst->id) == 0)
				v[i].termination_protection = true;
	}
	*out = v;
}

void
observe_plan_desired(struct plan_desired **out, size_t *n,
    const struct spec_tree *tree)
{
	size_t i, count = spec_tree_count(tree);
	struct plan_desired *v = xcalloc(count ? count : 1, sizeof(*v));

	for (i = 0; i < count; i++) {
		const struct spec_entry *e = spec_tree_entry(tree, i);
		const struct spec_brief *b = spec_entry_brief(e);

		v[i].name = spec_entry_name(e);
		v[i].valid = b != NULL;
		if (v[i].valid) {
			v[i].spec_hash = spec_entry_hash(e);
			v[i].on_drift = b->on_drift == SPEC_DRIFT_REPORT ?
			    PLAN_ON_DRIFT_REPORT : PLAN_ON_DRIFT_REPLACE;
			v[i].ttl = b->ttl_s;
			v[i].workspace = b->workspace;
		}
	}
	*out = v;
	*n = count;
}

/*
 * The stored stage (lib/store) as the planner's: the one table between
 * the two enums.  Indexed by the stored stage; the assertions fail the
 * build when either enum grows without this table (a stage in the middle
 * is caught by test_observe__stage_map, which compares the names).
 */
static const enum plan_record_stage stage_map[] = {
	[STORE_STAGE_INIT]		= PLAN_STAGE_INIT,
	[STORE_STAGE_KEYS_GENERATED]	= PLAN_STAGE_KEYS_GENERATED,
	[STORE_STAGE_KEYS_UPLOADED]	= PLAN_STAGE_KEYS_UPLOADED,
	[STORE_STAGE_SG_READY]		= PLAN_STAGE_SG_READY,
	[STORE_STAGE_INSTANCE_LAUNCHED]	= PLAN_STAGE_INSTANCE_LAUNCHED,
	[STORE_STAGE_TAGGED]		= PLAN_STAGE_TAGGED,
	[STORE_STAGE_DONE]		= PLAN_STAGE_DONE,
};
_Static_assert(sizeof(stage_map) / sizeof(stage_map[0]) == STORE_STAGE_COUNT,
    "every stored stage maps to a planned stage");
_Static_assert((int)STORE_STAGE_COUNT == (int)PLAN_STAGE_COUNT,
    "the stored and the planned stages are the same set");

int
observe_plan_stage(enum plan_record_stage *out, unsigned stored)
{
	if (stored >= sizeof(stage_map) / sizeof(stage_map[0])) {
		err_set("stored stage %u is not one the planner knows", stored);
		return ERR_INVALID;
	}
	*out = stage_map[stored];
	return 0;
}

static void
record_from_row(struct plan_record *r, const struct store_brief *e)
{
	static const enum plan_record_status status_map[] = {
		[STORE_STATUS_PENDING] = PLAN_STATUS_PENDING,
		[STORE_STATUS_PROVISIONING] = PLAN_STATUS_PROVISIONING,
		[STORE_STATUS_READY] = PLAN_STATUS_READY,
		[STORE_STATUS_ERROR] = PLAN_STATUS_ERROR,
		[STORE_STATUS_TERMINATING] = PLAN_STATUS_TERMINATING,
		[STORE_STATUS_TERMINATED] = PLAN_STATUS_TERMINATED,
	};
	int error;

	memset(r, 0, sizeof(*r));
	r->env_id = e->id;
	r->name = e->name;
	r->status = status_map[e->status];
	error = observe_plan_stage(&r->stage, e->stage);
	assert(error == 0);	/* store_stage_parse() lets only stages in */
	(void)error;
	r->spec_hash = e->spec_hash;
	r->instance_id = e->instance_id;
	r->attempts = e->attempts > 0 ? (unsigned)e->attempts : 0;
	r->next_attempt_at = (int64_t)e->next_attempt_at;
	r->launched_at = (int64_t)e->launched_at;
	r->ready_at = (int64_t)e->ready_at;
	r->created_at = (int64_t)e->created_at;
	r->ttl_expired = e->ttl_expired;
	r->has_leftovers = e->has_leftovers;
	r->parked = e->parked;
	r->not_ours = e->not_ours;
}

void
observe_plan_records(struct plan_record **out, size_t *n,
    const struct store_brief *live, size_t nlive,
    const struct store_brief *ended, size_t nended)
{
	struct plan_record *v = xcalloc(nlive + nended ? nlive + nended : 1,
	    sizeof(*v));
	size_t i;

	for (i = 0; i < nlive; i++)
		record_from_row(&v[i], &live[i]);
	for (i = 0; i < nended; i++)
		record_from_row(&v[nlive + i], &ended[i]);
	*out = v;
	*n = nlive + nended;
}

bool
observe_idle_shutdown(const char *state, const char *state_reason)
{
	static const char code[] = "Client.InstanceInitiatedShutdown";
	const size_t len = sizeof(code) - 1;

	if (state == NULL || state_reason == NULL ||
	    (strcmp(state, "shutting-down") != 0 &&
	    strcmp(state, "terminated") != 0))
		return false;
	return strncmp(state_reason, code, len) == 0 &&
	    (state_reason[len] == '\0' || state_reason[len] == ':');
}
