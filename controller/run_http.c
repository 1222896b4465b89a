/*
 * run_http.c - envctl run's metrics, status pages and HTTP routes
 * (run_http.h).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "aws.h"
#include "buf.h"
#include "ctl.h"
#include "ec2.h"
#include "engine.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "pipeline.h"
#include "plan.h"
#include "run.h"
#include "run_http.h"

/* ---- metrics -------------------------------------------------------- */

int
run_metrics_new(struct runner *r)
{
	static const char *const status_l[] = { "status", NULL };
	static const char *const result_l[] = { "result", NULL };
	static const char *const kind_l[] = { "kind", NULL };
	static const char *const rule_l[] = { "rule", NULL };
	static const char *const state_l[] = { "state", NULL };
	static const char *const region_l[] = { "region", NULL };
	static const char *const sac_l[] = { "service", "action", "code", NULL };
	static const char *const sa_l[] = { "service", "action", NULL };
	static const char *const rc_l[] = { "region", "class", NULL };
	static const char *const reason_l[] = { "reason", NULL };
	static const char *const ws_l[] = { "workspace", NULL };
	static const char *const rs_l[] = { "region", "stage", NULL };
	static const double dur_b[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300 };
	struct metrics_registry *g;
	int e = 0;

	if (metrics_registry_new(&r->reg, 0) < 0)
		return ERR_GENERIC;
	g = r->reg;
	e |= metrics_gauge_new(&r->m.envs, g, "envctl_environments",
	    "Live environments by status, as of the last pass", status_l);
	e |= metrics_gauge_new(&r->m.instances, g, "envctl_instances",
	    "Instances of this cluster the last pass saw, by EC2 state "
	    "(running, stopped: an environment stopped keeping its disk)",
	    state_l);
	e |= metrics_counter_new(&r->m.passes, g, "envctl_passes_total",
	    "Passes by result (ok, error, fenced)", result_l);
	e |= metrics_counter_new(&r->m.actions, g, "envctl_actions_total",
	    "Plan actions of the passes, by kind", kind_l);
	e |= metrics_gauge_new(&r->m.held, g, "envctl_held_actions",
	    "Deletions the last pass held, by the safety rule holding them "
	    "(empty-tree, protection, pass-budget, window-budget)", rule_l);
	e |= metrics_histogram_new(&r->m.duration, g, "envctl_pass_duration_seconds",
	    "Duration of a pass, load to record", NULL, dur_b,
	    sizeof(dur_b) / sizeof(dur_b[0]));
	e |= metrics_gauge_new(&r->m.last_ok, g,
	    "envctl_last_successful_pass_timestamp_seconds",
	    "Unix time of the last pass that ran to its end", NULL);
	e |= metrics_gauge_new(&r->m.leader, g, "envctl_leader",
	    "1 when this controller holds the cluster's leadership", NULL);
	e |= metrics_gauge_new(&r->m.db_up, g, "envctl_database_up",
	    "1 when the database answered the last check", NULL);
	e |= metrics_counter_new(&r->m.reconfig, g, "envctl_reconfigurations_total",
	    "Spec revisions and configuration reloads, by result", result_l);
	e |= metrics_counter_new(&r->m.aws_calls, g, "envctl_aws_calls_total",
	    "AWS API calls made by passes, by region", region_l);
	e |= metrics_counter_new(&r->m.aws_failures, g, "envctl_aws_errors_total",
	    "AWS API calls that failed, by region", region_l);
	e |= metrics_counter_new(&r->m.aws_retries, g, "envctl_aws_retries_total",
	    "AWS attempts after the first, by region", region_l);
	e |= metrics_counter_new(&r->m.aws_throttled, g, "envctl_aws_throttled_total",
	    "AWS answers with a throttling code, by region", region_l);
	e |= metrics_counter_new(&r->m.aws_requests, g, "envctl_aws_requests_total",
	    "AWS calls of the process by service, action and the code they ended "
	    "with (empty: success; other: past the cap of codes)", sac_l);
	e |= metrics_counter_new(&r->m.aws_attempts, g,
	    "envctl_aws_request_attempts_total",
	    "AWS requests sent (retries included), by service and action", sa_l);
	e |= metrics_counter_new(&r->m.aws_throttles, g,
	    "envctl_aws_request_throttles_total",
	    "AWS answers with a throttling code, by service and action", sa_l);
	e |= metrics_counter_new(&r->m.pace_wait, g,
	    "envctl_aws_pacing_wait_seconds_total",
	    "Time EC2 calls waited for a token of ec2_rate_limits, by region and "
	    "class (run, mutate, describe)", rc_l);
	e |= metrics_counter_new(&r->m.pace_waits, g, "envctl_aws_pacing_waits_total",
	    "EC2 calls that had to wait for a pacing token, by region and class",
	    rc_l);
	e |= metrics_gauge_new(&r->m.pace_rate, g, "envctl_aws_pacing_rate",
	    "Current pacing rate (calls per second) by region and class; below "
	    "the configured one after throttling answers", rc_l);
	e |= metrics_histogram_new(&r->m.provision, g,
	    "envctl_provision_duration_seconds",
	    "Time from an incarnation's row to ready (remote.provision.ready), "
	    "per environment", NULL, metrics_buckets_minutes,
	    metrics_buckets_minutes_count);
	e |= metrics_counter_new(&r->m.transitions, g,
	    "envctl_environment_transitions_total",
	    "Statuses environments entered through the passes' actions, by the "
	    "status entered", status_l);
	e |= metrics_counter_new(&r->m.prov_errors, g,
	    "envctl_provision_errors_total",
	    "Provision actions that failed, by region and the stage they "
	    "reached", rs_l);
	e |= metrics_counter_new(&r->m.sla_misses, g,
	    "envctl_provision_sla_misses_total",
	    "Environments whose provision (row to ready) took longer than "
	    "provision_sla; each has a provision.sla.missed event", NULL);
	e |= metrics_counter_new(&r->m.cost_total, g, "envctl_cost_usd_total",
	    "USD booked by the cost ledger, by workspace: every billed second "
	    "of every instance, failed attempts included", ws_l);
	e |= metrics_gauge_new(&r->m.cost_rate, g, "envctl_cost_usd_per_hour",
	    "USD per hour of what runs now (compute and disks), by workspace",
	    ws_l);
	e |= metrics_counter_new(&r->m.http_dropped, g,
	    "envctl_http_connections_dropped_total",
	    "Status server connections dropped for a newer one when all slots "
	    "were taken (full) or their address held its share (per_client), "
	    "or at a deadline (timeout)", reason_l);
	return e != 0 ? ERR_GENERIC : 0;
}

void
run_metrics_pass(struct runner *r, const struct engine_view *pv)
{
	static const char *const inst_states[] = { "pending", "running",
	    "stopping", "stopped", "shutting-down" };
	size_t i;
	int k;

	metrics_metric_clear(r->m.envs);
	for (k = STORE_STATUS_PENDING; k < STORE_STATUS_TERMINATED; k++) {
		const char *v[] = { store_status_str((enum store_status)k) };

		metrics_gauge_set(r->m.envs, v, 0);
	}
	for (i = 0; i < pv->rows.nlive; i++) {
		const char *v[] = { store_status_str(
		    (enum store_status)pv->rows.live[i].status) };

		metrics_gauge_add(r->m.envs, v, 1);
	}
	metrics_metric_clear(r->m.instances);
	for (k = 0; k < (int)(sizeof(inst_states) / sizeof(inst_states[0])); k++) {
		const char *v[] = { inst_states[k] };

		metrics_gauge_set(r->m.instances, v, 0);
	}
	for (i = 0; i < pv->inst.n; i++) {
		const char *v[] = { pv->inst.v[i].state };

		for (k = 0; k < (int)(sizeof(inst_states) /
		    sizeof(inst_states[0])); k++)
			if (strcmp(inst_states[k], v[0]) == 0)
				metrics_gauge_add(r->m.instances, v, 1);
	}
	for (k = 0; k < PLAN_KIND_COUNT; k++) {
		size_t c = plan_count_kind(pv->plan, (enum plan_kind)k);
		const char *v[] = { plan_kind_name((enum plan_kind)k) };

		if (c > 0)
			metrics_counter_add(r->m.actions, v, (double)c);
	}
	for (k = PLAN_HOLD_NONE + 1; k < PLAN_HOLD_COUNT; k++) {
		const char *v[] = { plan_hold_name((enum plan_hold)k) };

		metrics_gauge_set(r->m.held, v, 0);
	}
	for (i = 0; i < plan_count(pv->plan); i++) {
		enum plan_hold h = plan_action_hold(plan_action_at(pv->plan, i));
		const char *v[] = { plan_hold_name(h) };

		if (h != PLAN_HOLD_NONE)
			metrics_gauge_add(r->m.held, v, 1);
	}
	for (i = 0; i < pv->naws; i++) {
		struct aws_client_stats st;
		const char *v[] = { pv->aws[i]->region };

		aws_client_stats(&st, pv->aws[i]->aws);
		metrics_counter_add(r->m.aws_calls, v, (double)st.calls);
		metrics_counter_add(r->m.aws_failures, v, (double)st.failures);
		metrics_counter_add(r->m.aws_retries, v, (double)st.retries);
		metrics_counter_add(r->m.aws_throttled, v, (double)st.throttled);
	}
}

void
run_metrics_outcomes(struct runner *r, const struct engine_result *res)
{
	size_t i;
	int k;

	for (i = 0; i < res->nprovision; i++)
		metrics_histogram_observe(r->m.provision, NULL, res->provision_s[i]);
	for (k = STORE_STATUS_PENDING; k <= STORE_STATUS_TERMINATED; k++) {
		const char *v[] = { store_status_str((enum store_status)k) };

		/* every status shows, 0 until it happens (rate() needs it) */
		metrics_counter_add(r->m.transitions, v,
		    (double)res->transitions[k]);
	}
	for (i = 0; i < res->njobs; i++) {
		const struct pipeline_job *j = &res->jobs[i];
		const char *v[] = { j->region != NULL ? j->region : "",
		    *j->stage != '\0' ? j->stage : "none" };

		if (j->result < 0 && plan_kind_info(j->kind)->provisions)
			metrics_counter_add(r->m.prov_errors, v, 1);
	}
	metrics_counter_add(r->m.sla_misses, NULL, (double)res->sla_misses);
}

/*
 * The process-wide counters of lib/aws and the pacers' figures, copied
 * into the registry before each scrape.  Counters are brought up to the
 * source's value (never down); one sync at a time.
 */
static pthread_mutex_t aws_sync_lock = PTHREAD_MUTEX_INITIALIZER;

struct aws_sum {
	char		 service[8];
	char		 action[AWS_ERROR_ACTION_MAX];
	unsigned long	 attempts, throttled;
};

struct aws_sync {
	struct runner	*r;
	struct aws_sum	*sums;
	size_t		 n;
};

static void
counter_sync(struct metrics_metric *m, const char *const *v, double to)
{
	double cur = 0;

	if (metrics_value_get(&cur, m, v) < 0)
		cur = 0;
	if (to > cur)
		metrics_counter_add(m, v, to - cur);
	else if (to == 0 && cur == 0)
		metrics_counter_add(m, v, 0);
}

void
run_metrics_cost(struct runner *r, struct store *st)
{
	struct store_cost_seg *v = NULL;
	struct {
		const char		*ws;
		struct pipeline_cost	 c;
	} *g = NULL;
	time_t now = time(NULL);
	size_t n = 0, ng = 0, i, k;

	if (store_cost_list(&v, &n, st, NULL, 0, false) < 0) {
		log_warnx("metrics: cost ledger: %s", err_get());
		return;
	}
	for (i = 0; i < n; i++) {
		for (k = 0; k < ng && strcmp(g[k].ws, v[i].workspace) != 0; k++)
			;
		if (k == ng) {
			g = xreallocarray(g, ng + 1, sizeof(*g));
			memset(&g[ng], 0, sizeof(*g));
			g[ng++].ws = v[i].workspace;
		}
		pipeline_cost_add(&g[k].c, &v[i], 0, now);
	}
	metrics_metric_clear(r->m.cost_rate);
	for (k = 0; k < ng; k++) {
		const char *lv[] = { g[k].ws };

		counter_sync(r->m.cost_total, lv, g[k].c.usd);
		metrics_gauge_set(r->m.cost_rate, lv, g[k].c.usd_per_hour);
	}
	free(g);
	store_cost_list_free(v, n);
}

static void
aws_sync_row(const struct aws_call_count *c, void *arg)
{
	struct aws_sync *s = arg;
	const char *svc = aws_service_name(c->service);
	const char *v[] = { svc, c->action, c->code };
	size_t i;

	counter_sync(s->r->m.aws_requests, v, (double)c->calls);
	for (i = 0; i < s->n; i++)
		if (strcmp(s->sums[i].service, svc) == 0 &&
		    strcmp(s->sums[i].action, c->action) == 0)
			break;
	if (i == s->n) {
		s->sums = xreallocarray(s->sums, s->n + 1, sizeof(*s->sums));
		memset(&s->sums[i], 0, sizeof(s->sums[i]));
		snprintf(s->sums[i].service, sizeof(s->sums[i].service), "%s", svc);
		snprintf(s->sums[i].action, sizeof(s->sums[i].action), "%s",
		    c->action);
		s->n++;
	}
	s->sums[i].attempts += c->attempts;
	s->sums[i].throttled += c->throttled;
}

static void
aws_sync_pacer(const char *region, struct aws_pacer *p, void *arg)
{
	struct runner *r = arg;
	struct aws_pace_stats st;
	int k;

	for (k = 0; k < AWS_PACE_CLASS_COUNT; k++) {
		const char *v[] = { region, aws_pace_class_name((enum aws_pace_class)k) };

		aws_pacer_stats(&st, p, (enum aws_pace_class)k);
		if (st.rate <= 0)
			continue;
		counter_sync(r->m.pace_wait, v, st.wait_seconds);
		counter_sync(r->m.pace_waits, v, (double)st.waited);
		metrics_gauge_set(r->m.pace_rate, v, st.cur_rate);
	}
}

void
run_metrics_aws(struct runner *r)
{
	struct aws_sync s = { r, NULL, 0 };
	size_t i;

	pthread_mutex_lock(&aws_sync_lock);
	(void)aws_call_stats_foreach(aws_call_stats_default(), aws_sync_row, &s);
	for (i = 0; i < s.n; i++) {
		const char *v[] = { s.sums[i].service, s.sums[i].action };

		counter_sync(r->m.aws_attempts, v, (double)s.sums[i].attempts);
		counter_sync(r->m.aws_throttles, v, (double)s.sums[i].throttled);
	}
	ctl_pacers_foreach(aws_sync_pacer, r);
	pthread_mutex_unlock(&aws_sync_lock);
	free(s.sums);
}

static int
h_metrics(struct httpd_response *resp, const struct httpd_request *req,
    void *arg)
{
	static const char *const full[] = { "full" }, *const pc[] = { "per_client" },
	    *const to[] = { "timeout" };
	struct runner *r = arg;
	struct httpd_stats st;

	run_metrics_aws(r);
	if (r->httpd != NULL) {
		httpd_stats_get(&st, r->httpd);
		counter_sync(r->m.http_dropped, full, (double)st.dropped_full);
		counter_sync(r->m.http_dropped, pc, (double)st.dropped_client);
		counter_sync(r->m.http_dropped, to, (double)st.timed_out);
	}
	return httpd_metrics_handler(resp, req, r->reg);
}

/* ---- what the pages show -------------------------------------------- */

void
run_held_take(struct run_held *out, const struct engine_view *pv)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < plan_count(pv->plan); i++) {
		const struct plan_action *a = plan_action_at(pv->plan, i);
		enum plan_hold h = plan_action_hold(a);
		struct httpd_status_held *e;
		char **s;

		if (h == PLAN_HOLD_NONE)
			continue;
		if (out->total++ >= HELD_SHOWN)
			continue;
		out->v = xreallocarray(out->v, out->n + 1, sizeof(*out->v));
		out->strs = xreallocarray(out->strs, 3 * (out->n + 1),
		    sizeof(*out->strs));
		s = &out->strs[3 * out->n];
		e = &out->v[out->n++];
		e->env = s[0] = xstrdup(a->name != NULL ? a->name : "");
		e->instance_id = s[1] = a->instance_id != NULL ?
		    xstrdup(a->instance_id) : NULL;
		e->rule = plan_hold_name(h);	/* static */
		e->reason = s[2] = xstrdup(plan_action_held_why(a));
	}
}

void
run_held_free(struct run_held *h)
{
	size_t i;

	for (i = 0; i < 3 * h->n; i++)
		free(h->strs[i]);
	free(h->strs);
	free(h->v);
	memset(h, 0, sizeof(*h));
}

void
run_view_clear(struct run_view *v)
{
	run_held_free(&v->held);
	free(v->envs);
	free(v->events);
	free(v->strs);
	memset(v, 0, sizeof(*v));
}

static int
state_cmp(const void *a, const void *b)
{
	return strcmp(((const struct run_state *)a)->id,
	    ((const struct run_state *)b)->id);
}

void
run_states_take(struct run_states *out, const struct engine_view *pv)
{
	size_t i;

	out->v = xcalloc(pv->inst.n + 1, sizeof(*out->v));
	out->n = 0;
	for (i = 0; i < pv->inst.n; i++) {
		struct run_state *s = &out->v[out->n];
		const char *id = pv->inst.v[i].id, *state = pv->inst.v[i].state;

		if (strlen(id) >= sizeof(s->id) || strlen(state) >= sizeof(s->state))
			continue;	/* not what EC2 gives */
		memcpy(s->id, id, strlen(id) + 1);
		memcpy(s->state, state, strlen(state) + 1);
		out->n++;
	}
	qsort(out->v, out->n, sizeof(*out->v), state_cmp);
}

void
run_states_free(struct run_states *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* EC2's instance states, kept as an index; any other is kept as text. */
static const char *const ec2_states[] = {
	"pending", "running", "shutting-down", "terminated", "stopping",
	"stopped",
};

/* The strings after an entry's name, in this order, when its bit is set. */
#define RUN_VIEW_WORKSPACE	0x01
#define RUN_VIEW_INSTANCE	0x02
#define RUN_VIEW_STATE		0x04	/* a state not in ec2_states */
#define RUN_VIEW_IP		0x08
#define RUN_VIEW_ERROR		0x10
#define RUN_VIEW_HOST_KEYS	0x20
#define RUN_VIEW_PARKED		0x40	/* no string: a parked ended row (§6.8) */

#define VIEW_STRS_MAX	(256u << 20)	/* the view's strings, at most */

struct view_build {
	struct run_view		*v;
	size_t			 cap;
	const struct run_states	*states;
	struct buf		 strs;
	char			(*ids)[STORE_ID_LEN];	/* env id of each entry */
	time_t			 now;
	int			 full;	/* strs reached VIEW_STRS_MAX */
	struct store_cost_seg	*segs;	/* the live rows' ledger */
	size_t			 nsegs;
};

/* Append s to the view's strings if it is set; its bit in *has then. */
static void
view_str(struct view_build *b, uint8_t *has, uint8_t bit, const char *s)
{
	if (s == NULL)
		return;
	if (buf_add(&b->strs, s, strlen(s) + 1) < 0)
		b->full = 1;
	else
		*has |= bit;
}

static void
view_env_at(const void *arg, size_t i, struct httpd_status_env *out)
{
	const struct run_view *v = arg;
	const struct run_view_env *e = &v->envs[i];
	const char *p = v->strs + e->strs;
	const char **next[] = { &out->workspace, &out->instance_id, &out->state,
	    &out->ip, &out->last_error, &out->host_keys };
	size_t k;

	memset(out, 0, sizeof(*out));
	out->name = p;
	p += strlen(p) + 1;
	for (k = 0; k < sizeof(next) / sizeof(next[0]); k++)
		if (e->has & (1u << k)) {
			*next[k] = p;
			p += strlen(p) + 1;
		}
	if (e->state > 0)
		out->state = ec2_states[e->state - 1];
	out->status = (e->has & RUN_VIEW_PARKED) ? "parked" :
	    store_status_str((enum store_status)e->status);
	out->stage = store_stage_str((enum store_stage)e->stage);
	out->age_seconds = e->age;
	out->cost = e->cost;
	out->usd_per_hour = e->rate;
	out->provision_seconds = e->provision_s;
}

void
run_view_envs(struct httpd_status_envs *out, const struct run_view *v)
{
	out->n = v->nrows;
	out->at = view_env_at;
	out->arg = v;
}

static int
view_env_add(void *arg, const struct store_env *e)
{
	struct view_build *b = arg;
	struct run_view *v = b->v;
	struct run_view_env *s;
	struct run_state key, *st = NULL;
	struct pipeline_cost cost;
	time_t since = e->launched_at ? e->launched_at : e->created_at;
	const char *state = NULL;
	size_t k;

	if (v->nrows == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		v->envs = xreallocarray(v->envs, b->cap, sizeof(*v->envs));
		b->ids = xreallocarray(b->ids, b->cap, sizeof(*b->ids));
	}
	if (e->instance_id != NULL && strlen(e->instance_id) < sizeof(key.id)) {
		snprintf(key.id, sizeof(key.id), "%s", e->instance_id);
		if ((st = bsearch(&key, b->states->v, b->states->n,
		    sizeof(*b->states->v), state_cmp)) != NULL)
			state = st->state;
	}
	s = &v->envs[v->nrows];
	memset(s, 0, sizeof(*s));
	s->strs = (uint32_t)b->strs.len;
	s->status = (uint8_t)e->status;
	s->stage = (uint8_t)e->stage;
	for (k = 0; state != NULL && k < sizeof(ec2_states) / sizeof(ec2_states[0]); k++)
		if (strcmp(state, ec2_states[k]) == 0) {
			s->state = (uint8_t)(k + 1);
			state = NULL;
		}
	view_str(b, &s->has, 0, e->name != NULL ? e->name : "");
	view_str(b, &s->has, RUN_VIEW_WORKSPACE, e->workspace);
	view_str(b, &s->has, RUN_VIEW_INSTANCE, e->instance_id);
	view_str(b, &s->has, RUN_VIEW_STATE, state);
	view_str(b, &s->has, RUN_VIEW_IP, e->public_ip);
	view_str(b, &s->has, RUN_VIEW_ERROR, e->error);
	view_str(b, &s->has, RUN_VIEW_HOST_KEYS, e->host_keys);
	s->age = since ? (int64_t)(b->now - since) : -1;
	pipeline_env_cost(&cost, b->segs, b->nsegs, e->id, b->now);
	s->cost = cost.usd;
	s->rate = cost.usd_per_hour;
	s->provision_s = e->status == STORE_STATUS_READY && e->ready_at != 0 &&
	    e->ready_at >= e->created_at ? (int32_t)(e->ready_at - e->created_at) : -1;
	memcpy(b->ids[v->nrows], e->id, STORE_ID_LEN);
	v->nrows++;
	return 0;
}

/* An entry of the view by its environment's id. */
struct view_id {
	const char	*id;
	size_t		 i;
};

static int
view_id_cmp(const void *a, const void *b)
{
	return strcmp(((const struct view_id *)a)->id,
	    ((const struct view_id *)b)->id);
}

static int
view_id_find(const void *key, const void *elem)
{
	return strcmp(key, ((const struct view_id *)elem)->id);
}

/* The live rows and recent events as a pass leaves them, for the pages. */
void
run_view_build(struct run_view *v, struct store *st,
    const struct run_states *states)
{
	struct view_id *byid = NULL, *hit;
	struct view_build b;
	struct store_event *ev = NULL;
	struct store_env *parked = NULL;
	uint32_t *evoff;
	uint8_t unused = 0;
	size_t i, nev = 0, nparked = 0;

	memset(v, 0, sizeof(*v));
	memset(&b, 0, sizeof(b));
	b.v = v;
	b.states = states;
	b.now = time(NULL);
	buf_init(&b.strs, VIEW_STRS_MAX);
	if (store_cost_list(&b.segs, &b.nsegs, st, NULL, 0, true) < 0)
		log_warnx("status page: cost ledger: %s", err_get());
	if (store_envs_live_each(st, view_env_add, &b) < 0) {
		log_warnx("status page: environments: %s", err_get());
		v->nrows = 0;
	}
	/* parked: shut down idle, waiting for `envctl start` (§6.8) */
	if (store_envs_parked(&parked, &nparked, st) < 0)
		log_warnx("status page: parked environments: %s", err_get());
	for (i = 0; i < nparked; i++) {
		view_env_add(&b, &parked[i]);
		v->envs[v->nrows - 1].has |= RUN_VIEW_PARKED;
	}
	store_envs_free(parked, nparked);
	if (store_events_recent(&ev, &nev, st, NULL, EVENTS_SHOWN) < 0) {
		log_warnx("status page: events: %s", err_get());
		ev = NULL;
		nev = 0;
	}
	/* an event names its environment: live rows by id, else the id */
	byid = xcalloc(v->nrows + 1, sizeof(*byid));
	for (i = 0; i < v->nrows; i++) {
		byid[i].id = b.ids[i];
		byid[i].i = i;
	}
	qsort(byid, v->nrows, sizeof(*byid), view_id_cmp);
	evoff = xcalloc(3 * nev + 1, sizeof(*evoff));	/* type, summary, env */
	for (i = 0; i < nev; i++) {
		hit = bsearch(ev[i].env_id, byid, v->nrows, sizeof(*byid), view_id_find);
		evoff[3 * i] = (uint32_t)b.strs.len;
		view_str(&b, &unused, 0, ev[i].type != NULL ? ev[i].type : "");
		evoff[3 * i + 1] = (uint32_t)b.strs.len;
		view_str(&b, &unused, 0, ev[i].payload != NULL ? ev[i].payload : "");
		evoff[3 * i + 2] = hit != NULL ? v->envs[hit->i].strs : (uint32_t)b.strs.len;
		if (hit == NULL)
			view_str(&b, &unused, 0, ev[i].env_id);
	}
	free(byid);
	free(b.ids);
	store_cost_list_free(b.segs, b.nsegs);
	if (b.full) {
		log_warnx("status page: more than %u bytes of text, nothing shown",
		    VIEW_STRS_MAX);
		v->nrows = 0;
		store_events_free(ev, nev);
		ev = NULL;
		nev = 0;
	}
	/* the block no longer moves: the events' pointers into it */
	v->strs = buf_detach(&b.strs, NULL);
	v->events = xcalloc(nev + 1, sizeof(*v->events));
	for (i = 0; i < nev; i++) {
		v->events[i].time = (int64_t)ev[i].created_at;
		v->events[i].type = v->strs + evoff[3 * i];
		v->events[i].summary = v->strs + evoff[3 * i + 1];
		v->events[i].env = ev[i].env_id[0] != '\0' ?
		    v->strs + evoff[3 * i + 2] : NULL;
	}
	v->nevrows = nev;
	free(evoff);
	store_events_free(ev, nev);
}

/* The checks of bits as "status,marker,hostkey". */
static void
checks_text(char *out, size_t outsz, unsigned bits)
{
	static const struct { const char *name; unsigned bit; } names[] = {
		{ "status", PIPELINE_CHECK_STATUS }, { "ssh", PIPELINE_CHECK_SSH },
		{ "marker", PIPELINE_CHECK_MARKER },
		{ "hostkey", PIPELINE_CHECK_HOSTKEY },
	};
	size_t i, o = 0;

	*out = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if ((bits & names[i].bit) && o + strlen(names[i].name) + 2 < outsz)
			o += (size_t)snprintf(out + o, outsz - o, "%s%s",
			    o > 0 ? "," : "", names[i].name);
}

static void
run_facts(struct httpd_status_facts *f, struct runner *r)
{
	size_t i, nq = r->cfg->quota.n;

	if (nq > sizeof(r->quotas) / sizeof(r->quotas[0]))
		nq = sizeof(r->quotas) / sizeof(r->quotas[0]);
	for (i = 0; i < nq; i++) {
		r->quotas[i].workspace = r->cfg->quota.v[i].workspace;
		r->quotas[i].max_envs = r->cfg->quota.v[i].max_envs;
		r->quotas[i].max_usd_per_hour = r->cfg->quota.v[i].max_usd_per_hour;
	}
	checks_text(r->checks_text, sizeof(r->checks_text), r->cfg->ready_checks);
	memset(f, 0, sizeof(*f));
	f->cluster_id = run_cluster(r);
	f->revision = r->revision;
	f->leader = r->leader;
	f->last_pass_age = r->last_ok ? (int64_t)(time(NULL) - r->last_ok) : -1;
	f->now = (int64_t)time(NULL);
	f->held = r->view.held.v;
	f->nheld = r->view.held.n;
	f->nheld_total = r->view.held.total;
	f->quotas = r->quotas;
	f->nquotas = nq;
	f->ready_checks = r->checks_text;
}

/*
 * /healthz: 200 "ok" (leader) or "standby"; 503 with the status and the
 * reason when this controller cannot do its job: the database (or the
 * lease) cannot be reached, the lease cannot be renewed, the last pass
 * failed, every action of the last pass that had any failed, the spec
 * source cannot fetch or publish, or the last good pass is too old.
 */
static int
h_health(struct httpd_response *resp, const struct httpd_request *req, void *arg)
{
	struct runner *r = arg;
	struct httpd_status_facts f;
	struct buf *b = httpd_response_body(resp);
	int64_t max_age = 2 * r->cfg->resync_interval + 60;
	const char *status = NULL, *why = NULL;
	json_t *o;
	char *text;
	int error;

	(void)req;
	run_facts(&f, r);
	if (!r->db_ok) {
		status = "database-unavailable";
		why = r->lease_why;
	} else if (r->lease_failures > 0) {
		status = "lease-not-renewed";
		why = r->lease_why;
	} else if (r->leader && r->last_failed) {
		status = "pass-failing";
		why = "the last pass failed";
	} else if (r->leader && r->actions_failing) {
		status = "actions-failing";
		why = r->actions_why;
	} else if (r->source_why[0] != '\0') {
		status = "source-not-publishing";
		why = r->source_why;
	}
	if (status == NULL)
		return httpd_health_respond(resp, &f, max_age);
	httpd_response_status(resp, 503);
	httpd_response_type(resp, "application/json");
	o = json_object();
	json_object_set_new(o, "cluster_id", json_string(run_cluster(r)));
	json_object_set_new(o, "role", json_string(r->leader ? "leader" : "standby"));
	json_object_set_new(o, "revision", r->revision ? json_string(r->revision) :
	    json_null());
	json_object_set_new(o, "last_pass_age_seconds", f.last_pass_age < 0 ?
	    json_null() : json_integer(f.last_pass_age));
	json_object_set_new(o, "status", json_string(status));
	json_object_set_new(o, "reason", json_string(why != NULL && *why != '\0' ?
	    why : status));
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	error = text != NULL ? buf_printf(b, "%s\n", text) : ERR_GENERIC;
	free(text);
	return error;
}

static int
h_envs(struct httpd_response *resp, const struct httpd_request *req, void *arg)
{
	struct runner *r = arg;
	struct httpd_status_facts f;
	struct httpd_status_envs envs;

	(void)req;
	run_facts(&f, r);
	httpd_response_type(resp, "application/json");
	run_view_envs(&envs, &r->view);
	return httpd_status_envs_json(httpd_response_body(resp), &f, &envs);
}

static int
h_events(struct httpd_response *resp, const struct httpd_request *req, void *arg)
{
	struct runner *r = arg;

	(void)req;
	httpd_response_type(resp, "application/json");
	return httpd_status_events_json(httpd_response_body(resp), r->view.events,
	    r->view.nevrows);
}

static int
h_page(struct httpd_response *resp, const struct httpd_request *req, void *arg)
{
	struct runner *r = arg;
	struct httpd_status_facts f;
	struct httpd_status_envs envs;

	(void)req;
	run_facts(&f, r);
	httpd_response_type(resp, "text/html; charset=utf-8");
	httpd_response_header(resp, "Content-Security-Policy", HTTPD_STATUS_PAGE_CSP);
	run_view_envs(&envs, &r->view);
	return httpd_status_page_render(httpd_response_body(resp), &f, &envs,
	    r->view.events, r->view.nevrows);
}

/*
 * /env?name=NAME: one environment of the last pass's view, its hold if
 * the pass held it, and its events read now (a connection of its own,
 * bounded as every database call is).
 */
static int
h_env(struct httpd_response *resp, const struct httpd_request *req, void *arg)
{
	struct runner *r = arg;
	struct httpd_status_facts f;
	struct httpd_status_env e;
	struct httpd_status_event *hev = NULL;
	const struct httpd_status_held *held = NULL;
	struct store_event_query q;
	struct store_event *ev = NULL;
	struct store *st = NULL;
	const char *name = httpd_request_param(req, "name"), *why = NULL;
	size_t i, n = 0;
	int found = 0, error;

	run_facts(&f, r);
	for (i = 0; name != NULL && i < r->view.nrows && !found; i++) {
		view_env_at(&r->view, i, &e);
		found = strcmp(e.name, name) == 0;
	}
	if (!found) {
		httpd_response_status(resp, 404);
		httpd_response_type(resp, "text/plain; charset=utf-8");
		return buf_addstr(httpd_response_body(resp), "no such live "
		    "environment in the last pass (see /)\n") < 0 ? ERR_LIMIT : 0;
	}
	for (i = 0; i < r->view.held.n && held == NULL; i++)
		if (r->view.held.v[i].env != NULL &&
		    strcmp(r->view.held.v[i].env, name) == 0)
			held = &r->view.held.v[i];
	memset(&q, 0, sizeof(q));
	q.name = name;
	q.limit = EVENTS_SHOWN;
	if (ctl_store_open(&st, r->cfg) < 0 ||
	    store_events_query(&ev, &n, st, &q) < 0)
		why = err_get();
	hev = xcalloc(n + 1, sizeof(*hev));
	for (i = 0; i < n; i++) {
		hev[i].time = (int64_t)ev[i].created_at;
		hev[i].env = name;
		hev[i].type = ev[i].type;
		hev[i].summary = ev[i].payload;
	}
	httpd_response_type(resp, "text/html; charset=utf-8");
	httpd_response_header(resp, "Content-Security-Policy", HTTPD_STATUS_PAGE_CSP);
	error = httpd_status_env_page_render(httpd_response_body(resp), &f, &e,
	    held, hev, n, why);
	free(hev);
	store_events_free(ev, n);
	store_free(st);
	return error;
}

int
run_httpd_open(struct httpd **out, struct runner *r, const char *addr)
{
	struct httpd_route routes[] = {
		{ "/healthz", h_health, r },
		{ "/metrics", h_metrics, r },
		{ "/api/environments", h_envs, r },
		{ "/api/events", h_events, r },
		{ "/env", h_env, r },
		{ "/", h_page, r },
	};
	int error;

	*out = NULL;
	if (*addr == '\0')
		return 0;
	if ((error = httpd_new(out, addr, NULL)) < 0) {
		err_prefix("listen %s", addr);
		return error;
	}
	httpd_routes_set(*out, routes, sizeof(routes) / sizeof(routes[0]));
	log_info("listening on %s (port %d): /metrics /healthz /api/environments "
	    "/api/events / /env?name=", addr, httpd_port(*out));
	return 0;
}
