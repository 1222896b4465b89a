/*
 * engine_spot.c - spot interruption notices (docs/design.md §6.7.1).
 *
 * The watcher on a spot instance PUTs <s3_prefix>/interrupted/<env-id>.json
 * when IMDS gives it an interruption notice or a rebalance recommendation.
 * Each pass that sees a spot instance lists that prefix (ListObjectsV2
 * for the whole fleet, page by page up to SPOT_LIST_PAGES: it holds
 * only the markers of interrupted environments, usually none, so one
 * page), reads the marker of each ready live row listed, and hands the
 * planner the notice (plan_record.spot_notice), which replaces the
 * environment in that same pass.  A pass that acts records
 * remote.spot.interrupted or remote.spot.rebalance once per instance and
 * counts the type's spot pools of the region as without capacity for a
 * while, so a replacement whose spec falls back to on-demand launches
 * on-demand.  Markers of this cluster's ended incarnations are deleted.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "ctl.h"
#include "ec2.h"
#include "engine.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "s3.h"
#include "userdata.h"

/* A marker is a few hundred bytes; anything much bigger is not one. */
#define SPOT_MARKER_MAX	4096
/* ListObjectsV2 pages of markers per pass: 50,000 keys. */
#define SPOT_LIST_PAGES	50

static char *
marker_prefix(const struct config *cfg)
{
	if (cfg->s3_prefix == NULL || *cfg->s3_prefix == '\0')
		return xasprintf("%s/", PIPELINE_SPOT_MARKER_DIR);
	return xasprintf("%s/%s/", cfg->s3_prefix, PIPELINE_SPOT_MARKER_DIR);
}

/* The env id a listed key names ("" when it is not <prefix><uuid>.json). */
static void
key_env_id(char out[STORE_ID_LEN], const char *key, const char *prefix)
{
	size_t plen = strlen(prefix), n;

	out[0] = '\0';
	if (strncmp(key, prefix, plen) != 0)
		return;
	key += plen;
	n = strlen(key);
	if (n != STORE_ID_LEN - 1 + 5 || strcmp(key + STORE_ID_LEN - 1, ".json") != 0 ||
	    strspn(key, "0123456789abcdef-") != STORE_ID_LEN - 1)
		return;
	memcpy(out, key, STORE_ID_LEN - 1);
	out[STORE_ID_LEN - 1] = '\0';
}

static const struct store_brief *
find_row(const struct store_brief *v, size_t n, const char *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].id, id) == 0)
			return &v[i];
	return NULL;
}

static size_t
find_instance(const struct engine_view *pv, const char *id)
{
	size_t i;

	for (i = 0; id != NULL && i < pv->inst.n; i++)
		if (strcmp(pv->inst.v[i].id, id) == 0)
			return i;
	return PLAN_NONE;
}

static struct s3_client *
default_s3(const struct engine_view *pv, const struct config *cfg)
{
	struct s3_client *s3 = NULL;
	struct ctl_aws *aws = engine_view_region_aws(pv, ctl_region(cfg));

	if (aws == NULL)
		return NULL;
	(void)s3_client_new(&s3, aws->aws);
	return s3;
}

/* Read the marker of ready row b (instance k) at key into pv->spot. */
static int
spot_read(struct engine_view *pv, struct s3_client *s3,
    const struct config *cfg, const struct store_brief *b, size_t k,
    const char *key)
{
	struct engine_spot *sp;
	struct userdata_interrupt in;
	char *body = NULL, esc[256];
	size_t len = 0;
	int error;

	error = s3_object_get(&body, &len, s3, cfg->s3_bucket, key,
	    SPOT_MARKER_MAX, 0);
	pv->aws_calls++;
	if (error == ERR_NOTFOUND)
		return 0;	/* deleted since the listing */
	if (error == ERR_LIMIT) {
		log_warnx("env=%s env_id=%s spot interruption marker over %d "
		    "bytes: ignored", log_escape(esc, sizeof(esc), b->name), b->id,
		    SPOT_MARKER_MAX);
		return 0;
	}
	if (error < 0)
		return error;
	if (userdata_interrupt_parse(&in, body, len) < 0 ||
	    strcmp(in.env_id, b->id) != 0) {
		/* from the instance: untrusted, never fatal to the pass */
		log_warnx("env=%s env_id=%s spot interruption marker ignored: %s",
		    log_escape(esc, sizeof(esc), b->name), b->id,
		    in.env_id[0] != '\0' ? "it names another environment" :
		    err_get());
		goto out;
	}
	pv->spot = xreallocarray(pv->spot, pv->nspot + 1, sizeof(*pv->spot));
	sp = &pv->spot[pv->nspot++];
	memset(sp, 0, sizeof(*sp));
	memcpy(sp->env_id, b->id, sizeof(sp->env_id));
	sp->in = in;
	sp->name = xstrdup(b->name);
	sp->instance_id = xstrdup(pv->inst.v[k].id);
	sp->type = xstrdup(pv->inst.v[k].type);
	sp->region = xstrdup(pv->aws[pv->inst_region[k]]->region);
out:
	free(body);
	return 0;
}

/*
 * One listed page: read the marker of each ready live row; keep the keys
 * of this cluster's ended incarnations' markers for engine_spot_record().
 */
static int
spot_page(struct engine_view *pv, struct s3_client *s3,
    const struct config *cfg, const char *prefix,
    const struct s3_object_list *l)
{
	const struct store_brief *b;
	char id[STORE_ID_LEN];
	size_t i, k;
	int error;

	for (i = 0; i < l->n; i++) {
		key_env_id(id, l->v[i].key, prefix);
		if (id[0] == '\0')
			continue;
		b = find_row(pv->rows.live, pv->rows.nlive, id);
		if (b == NULL) {
			/* an ended incarnation of ours: its marker goes */
			if (find_row(pv->rows.ended, pv->rows.nended, id) == NULL)
				continue;
			pv->spot_stale = xreallocarray(pv->spot_stale,
			    pv->nspot_stale + 1, sizeof(*pv->spot_stale));
			pv->spot_stale[pv->nspot_stale++] = xstrdup(l->v[i].key);
			continue;
		}
		if (b->status != STORE_STATUS_READY ||
		    (k = find_instance(pv, b->instance_id)) == PLAN_NONE)
			continue;
		if ((error = spot_read(pv, s3, cfg, b, k, l->v[i].key)) < 0)
			return error;
	}
	return 0;
}

int
engine_spot_load(struct engine_view *pv, const struct config *cfg)
{
	struct s3_object_list l;
	struct s3_client *s3 = NULL;
	char *prefix = NULL, *token = NULL;
	size_t i, nkeys = 0;
	int error = 0, page = 0;

	memset(&l, 0, sizeof(l));
	for (i = 0; i < pv->inst.n; i++)
		if (pv->inst.v[i].market == EC2_MARKET_SPOT)
			pv->nspot_instances++;
	if (pv->nspot_instances == 0 || cfg->s3_bucket == NULL)
		return 0;	/* no spot instance: no call */
	if ((s3 = default_s3(pv, cfg)) == NULL)
		return 0;
	prefix = marker_prefix(cfg);
	/*
	 * Page by page (1,000 keys each), each page handled and disposed
	 * before the next; what earlier pages found stays when a later
	 * one fails.
	 */
	for (page = 0; page < SPOT_LIST_PAGES; page++) {
		error = s3_objects_list(&l, s3, cfg->s3_bucket, prefix, token, 0);
		pv->aws_calls++;
		free(token);
		token = NULL;
		if (error < 0)
			goto out;
		nkeys += l.n;
		error = spot_page(pv, s3, cfg, prefix, &l);
		token = l.next_token;
		l.next_token = NULL;
		s3_object_list_dispose(&l);
		if (error < 0 || token == NULL)
			goto out;
	}
	/*
	 * S3 does not say how many are left.  Later passes list from the
	 * start again; ended markers go as they are listed and replaced
	 * ones with their incarnations, so the backlog shrinks.
	 */
	log_warnx("spot interruption markers: %zu keys under %s in %d pages "
	    "read, more left for a later pass", nkeys, prefix, page);
out:
	/*
	 * Not fatal: EC2 still shows an interrupted instance going away
	 * (DRIFT_GONE replaces it); the notice only makes that earlier.
	 */
	if (error < 0)
		log_warnx("spot interruption markers from listing page %d on "
		    "not read this pass: %s", page + 1, err_get());
	s3_object_list_dispose(&l);
	s3_client_free(s3);
	free(token);
	free(prefix);
	return 0;
}

const char *
engine_spot_notice(const struct engine_view *pv, const char *env_id)
{
	size_t i;

	for (i = 0; env_id != NULL && i < pv->nspot; i++)
		if (strcmp(pv->spot[i].env_id, env_id) == 0)
			return userdata_interrupt_kind_name(pv->spot[i].in.kind);
	return NULL;
}

static const char *
event_type(const struct engine_spot *sp)
{
	return sp->in.kind == USERDATA_INTERRUPT_REBALANCE ?
	    "remote.spot.rebalance" : "remote.spot.interrupted";
}

static int
spot_event(const struct engine_view *pv, const struct engine_spot *sp)
{
	json_t *o;
	char *payload = NULL, esc[256];
	int error = ERR_GENERIC;

	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "env", sp->name,
	    "instance_id", sp->instance_id, "kind",
	    userdata_interrupt_kind_name(sp->in.kind), "action", sp->in.action,
	    "notice_time", sp->in.notice_time, "exit_code", sp->in.exit_code);
	if (o != NULL && (payload = json_dumps(o, JSON_COMPACT)) != NULL)
		error = store_event_add(NULL, pv->store, sp->env_id,
		    event_type(sp), payload, strlen(payload));
	if (error == 0)
		log_info("env=%s env_id=%s instance %s: spot %s notice (time %s, "
		    "on_interruption status %d): replacing it",
		    log_escape(esc, sizeof(esc), sp->name), sp->env_id,
		    sp->instance_id, userdata_interrupt_kind_name(sp->in.kind),
		    sp->in.notice_time[0] != '\0' ? sp->in.notice_time : "-",
		    sp->in.exit_code);
	free(payload);
	json_decref(o);
	return error;
}

/* Delete the markers of ended incarnations the load found. */
static void
spot_stale_delete(const struct engine_view *pv, const struct config *cfg)
{
	struct s3_client *s3;
	size_t i;

	if (pv->nspot_stale == 0 || (s3 = default_s3(pv, cfg)) == NULL)
		return;
	for (i = 0; i < pv->nspot_stale; i++)
		if (s3_object_delete(s3, cfg->s3_bucket, pv->spot_stale[i]) < 0)
			log_warnx("deleting %s: %s", pv->spot_stale[i],
			    err_get());
	s3_client_free(s3);
}

int
engine_spot_record(const struct engine_view *pv, const struct config *cfg,
    struct pipeline_capacity *capacity, time_t now)
{
	const char *ids[1];
	size_t i;
	bool seen;
	int error = 0, e;

	spot_stale_delete(pv, cfg);
	for (i = 0; i < pv->nspot; i++) {
		const struct engine_spot *sp = &pv->spot[i];

		/* the replacement avoids the pools that take instances back */
		if (sp->in.kind == USERDATA_INTERRUPT_INTERRUPTION)
			pipeline_capacity_spot_interrupted(capacity, sp->region,
			    sp->type, now);
		ids[0] = sp->instance_id;
		seen = false;
		if ((e = store_event_instances_seen(&seen, pv->store,
		    event_type(sp), ids, 1)) == 0 && !seen)
			e = spot_event(pv, sp);
		if (e < 0 && error == 0)
			error = e;
	}
	return error;
}

void
engine_spot_dispose(struct engine_view *pv)
{
	size_t i;

	for (i = 0; i < pv->nspot; i++) {
		free(pv->spot[i].name);
		free(pv->spot[i].instance_id);
		free(pv->spot[i].type);
		free(pv->spot[i].region);
	}
	free(pv->spot);
	pv->spot = NULL;
	pv->nspot = 0;
	for (i = 0; i < pv->nspot_stale; i++)
		free(pv->spot_stale[i]);
	free(pv->spot_stale);
	pv->spot_stale = NULL;
	pv->nspot_stale = 0;
}
