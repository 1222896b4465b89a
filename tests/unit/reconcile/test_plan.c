/*
 * test_plan.c - the planner against docs/design.md §2-§3, one case per
 * row of the action table and one per safety rule.
 *
 * Each case states its inputs compactly (SPEC, INST, ROW lines) and the
 * exact list of actions expected (kind, environment, reason substring),
 * in plan order.  Cluster "c1"; now is NOW; OLD is a day ago.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "err.h"
#include "plan.h"

#define NOW	1800000000LL
#define OLD	(NOW - 86400)
#define YOUNG	(NOW - 60)
#define H1	"v1:aaaaaaaaaaaaaaaa"
#define H2	"v1:bbbbbbbbbbbbbbbb"
#define H0	"v0:cccccccccccccccc"	/* older canonical form */

#define SPEC(n, h)	{ .name = n, .valid = true, .spec_hash = h }
#define SPEC_REPORT(n, h) \
	{ .name = n, .valid = true, .spec_hash = h, .on_drift = PLAN_ON_DRIFT_REPORT }
#define SPEC_TTL(n, h, t) { .name = n, .valid = true, .spec_hash = h, .ttl = t }
#define SPEC_INVALID(n)	{ .name = n, .valid = false }
/* with what quotas count: workspace, vCPUs, $/h, waiting since */
#define SPEC_Q(n, ws, cpu, usd, since) \
	{ .name = n, .valid = true, .spec_hash = H1, .workspace = ws, \
	  .vcpus = cpu, .usd_per_hour = usd, .waiting_since = since }

#define INST(id, st, env, eid, h, t) \
	{ .instance_id = id, .state = PLAN_INSTANCE_##st, .managed = true, \
	  .cluster_id = "c1", .env_name = env, .env_id = eid, .spec_hash = h, \
	  .launch_time = t }
#define INST_PROTECTED(id, st, env, eid, h, t) \
	{ .instance_id = id, .state = PLAN_INSTANCE_##st, .managed = true, \
	  .cluster_id = "c1", .env_name = env, .env_id = eid, .spec_hash = h, \
	  .launch_time = t, .termination_protection = true }
#define INST_CLUSTER(id, cl, env, eid, h, t) \
	{ .instance_id = id, .state = PLAN_INSTANCE_RUNNING, .managed = true, \
	  .cluster_id = cl, .env_name = env, .env_id = eid, .spec_hash = h, \
	  .launch_time = t }

#define ROW(eid, n, st, stg, h, inst) \
	{ .env_id = eid, .name = n, .status = PLAN_STATUS_##st, \
	  .stage = PLAN_STAGE_##stg, .spec_hash = h, .instance_id = inst, \
	  .created_at = OLD, .launched_at = OLD }
#define ROW_ERROR(eid, n, h, att, next) \
	{ .env_id = eid, .name = n, .status = PLAN_STATUS_ERROR, \
	  .stage = PLAN_STAGE_SG_READY, .spec_hash = h, .attempts = att, \
	  .next_attempt_at = next, .created_at = OLD }
#define ROW_ENDED(eid, n, h, ttl, left) \
	{ .env_id = eid, .name = n, .status = PLAN_STATUS_TERMINATED, \
	  .stage = PLAN_STAGE_DONE, .spec_hash = h, .created_at = OLD, \
	  .ttl_expired = ttl, .has_leftovers = left }

#define ROW_PARKED(eid, n, h, created) \
	{ .env_id = eid, .name = n, .status = PLAN_STATUS_TERMINATED, \
	  .stage = PLAN_STAGE_DONE, .spec_hash = h, .instance_id = "i-old", \
	  .created_at = created, .parked = true }

#define WANT(k, n, r)		{ .kind = PLAN_##k, .name = n, .reason = r }
#define WANT_I(k, n, i, r)	{ .kind = PLAN_##k, .name = n, .reason = r, .instance_id = i }
#define WANT_HELD(h, n, r)	{ .kind = PLAN_BLOCKED, .name = n, .reason = r, .held = PLAN_##h }

enum {
	F_SOURCE_BAD	= 1 << 0,
	F_DISCOVERY_BAD	= 1 << 1,
	F_STORE_BAD	= 1 << 2,
	F_TREE_EMPTY	= 1 << 3,
	F_ALLOW_EMPTY	= 1 << 4,
	F_FORCE		= 1 << 5,
};

struct want {
	enum plan_kind	 kind;
	const char	*name;
	const char	*reason;	/* substring */
	enum plan_kind	 held;		/* checked when not NOOP */
	const char	*instance_id;	/* checked when set */
};

struct plan_case {
	struct plan_desired	 d[12];
	struct plan_instance	 i[12];
	struct plan_record	 r[12];
	struct want		 want[16];
	unsigned		 flags;
	unsigned		 budget;	/* 0: default (10) */
	unsigned		 window_n;	/* with window_s: termination_budget */
	int64_t			 window_s;	/* 0: default (10/10m) */
	int64_t			 done[8];	/* terminations made (0 ends) */
	struct plan_quota	 quota[4];	/* max_envs etc. 0 and no
						   workspace: the list ends */
	const char		*idle_down[4];	/* idle_shutdown ids (NULL ends) */
	size_t			 ignored;
	int			 changes;	/* expected plan_has_changes() */
};

static size_t
count_desired(const struct plan_desired *d)
{
	size_t n = 0;

	while (n < 12 && d[n].name != NULL)
		n++;
	return n;
}

static size_t
count_inst(const struct plan_instance *i)
{
	size_t n = 0;

	while (n < 12 && i[n].instance_id != NULL)
		n++;
	return n;
}

static size_t
count_rows(const struct plan_record *r)
{
	size_t n = 0;

	while (n < 12 && r[n].env_id != NULL)
		n++;
	return n;
}

static void
case_input(struct plan_input *in, const struct plan_case *c)
{
	memset(in, 0, sizeof(*in));
	in->desired.v = c->d;
	in->desired.n = count_desired(c->d);
	in->desired.source_usable = !(c->flags & F_SOURCE_BAD);
	in->desired.tree_empty = (c->flags & F_TREE_EMPTY) != 0;
	in->observed.v = c->i;
	in->observed.n = count_inst(c->i);
	in->observed.ok = !(c->flags & F_DISCOVERY_BAD);
	in->records.v = c->r;
	in->records.n = count_rows(c->r);
	in->records.ok = !(c->flags & F_STORE_BAD);
	plan_config_init(&in->config);
	in->config.cluster_id = "c1";
	in->config.allow_empty = (c->flags & F_ALLOW_EMPTY) != 0;
	in->config.force = (c->flags & F_FORCE) != 0;
	if (c->budget > 0)
		in->config.max_terminations_per_pass = c->budget;
	if (c->window_s > 0) {
		in->config.budget_count = c->window_n;
		in->config.budget_window = c->window_s;
	}
	in->config.quotas = c->quota;
	while (in->config.nquotas < 4 && (c->quota[in->config.nquotas].max_envs ||
	    c->quota[in->config.nquotas].max_vcpus ||
	    c->quota[in->config.nquotas].max_usd_per_hour > 0))
		in->config.nquotas++;
	in->terminated = c->done;
	while (in->nterminated < 8 && c->done[in->nterminated] != 0)
		in->nterminated++;
	in->idle_shutdown = c->idle_down;
	while (in->nidle_shutdown < 4 && c->idle_down[in->nidle_shutdown] != NULL)
		in->nidle_shutdown++;
	in->now = NOW;
}

static void
dump(const struct plan *p)
{
	size_t k;

	for (k = 0; k < plan_count(p); k++) {
		const struct plan_action *a = plan_action_at(p, k);

		print_message("  got %c %-12s %-10s %s (%s)\n",
		    plan_kind_symbol(a->kind), plan_kind_name(a->kind), a->name,
		    a->reason, a->instance_id ? a->instance_id : "-");
	}
}

static void
run_case(const struct plan_case *c)
{
	struct plan_input in;
	struct plan *p = NULL;
	size_t k, nwant = 0, ndrift;

	case_input(&in, c);
	assert_int_equal(plan_build(&p, &in), 0);
	assert_non_null(p);
	while (nwant < 16 && c->want[nwant].name != NULL)
		nwant++;
	if (plan_count(p) != nwant)
		dump(p);
	assert_int_equal(plan_count(p), nwant);
	for (k = 0; k < nwant; k++) {
		const struct plan_action *a = plan_action_at(p, k);
		const struct want *w = &c->want[k];

		if (a->kind != w->kind || strcmp(a->name, w->name) != 0 ||
		    strstr(a->reason, w->reason) == NULL)
			dump(p);
		assert_string_equal(plan_kind_name(a->kind), plan_kind_name(w->kind));
		assert_string_equal(a->name, w->name);
		assert_non_null(strstr(a->reason, w->reason));
		if (w->held != PLAN_NOOP)
			assert_string_equal(plan_kind_name(a->held),
			    plan_kind_name(w->held));
		else
			assert_int_equal(a->held, a->kind);
		if (w->instance_id != NULL) {
			assert_non_null(a->instance_id);
			assert_string_equal(a->instance_id, w->instance_id);
		}
	}
	/* drift as DESIGN.md counts it: what is replaced, reported or gone */
	for (k = 0, ndrift = 0; k < plan_count(p); k++) {
		enum plan_kind kk = plan_action_at(p, k)->kind;

		ndrift += kk == PLAN_REPLACE || kk == PLAN_DRIFT_REPORT ||
		    kk == PLAN_DRIFT_GONE;
	}
	assert_int_equal(plan_count_drift(p), ndrift);
	assert_int_equal(plan_ignored(p), c->ignored);
	if (c->changes >= 0)
		assert_int_equal(plan_has_changes(p), c->changes);
	plan_free(p);
}

#define CASE(id, ...) \
	static const struct plan_case case_##id = { __VA_ARGS__ }; \
	static void test_plan__##id(void **state) \
	{ (void)state; run_case(&case_##id); }

/* ---- the action table, row by row ------------------------------------ */

/* desired | none | none -> provision */
CASE(provision,
    .d = { SPEC("web-a", H1) },
    .want = { WANT(PROVISION, "web-a", "new environment") },
    .changes = 1)

/* desired | none | error past backoff -> retry */
CASE(retry_past_backoff,
    .d = { SPEC("web-a", H1) },
    .r = { ROW_ERROR("e-1", "web-a", H1, 2, NOW - 1) },
    .want = { WANT(RETRY, "web-a", "attempt 3 of 5") },
    .changes = 1)

/* error within backoff -> backoff, with the time */
CASE(backoff,
    .d = { SPEC("web-a", H1) },
    .r = { ROW_ERROR("e-1", "web-a", H1, 2, NOW + 120) },
    .want = { WANT(BACKOFF, "web-a", "(in 120s)") },
    .changes = 1)

/* attempts >= max with the same hash -> gave up */
CASE(gave_up,
    .d = { SPEC("web-a", H1) },
    .r = { ROW_ERROR("e-1", "web-a", H1, 5, NOW - 1) },
    .want = { WANT(GAVE_UP, "web-a", "5 attempts failed") },
    .changes = 1)

/* a changed spec hash resets the attempts, even within backoff */
CASE(spec_change_resets_attempts,
    .d = { SPEC("web-a", H2) },
    .r = { ROW_ERROR("e-1", "web-a", H1, 5, NOW + 3600) },
    .want = { WANT(RETRY, "web-a", "attempts reset") },
    .changes = 1)

/* desired | running, hash equal | ready -> nothing */
CASE(noop_ready,
    .d = { SPEC("web-a", H1) },
    .i = { INST("i-1", RUNNING, "web-a", "e-1", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1") },
    .want = { WANT_I(NOOP, "web-a", "i-1", "up to date") },
    .changes = 0)

/* desired | pending, hash equal | provisioning -> advance */
CASE(advance_provisioning,
    .d = { SPEC("web-a", H1) },
    .i = { INST("i-1", PENDING, "web-a", "e-1", H1, YOUNG) },
    .r = { ROW("e-1", "web-a", PROVISIONING, INSTANCE_LAUNCHED, H1, "i-1") },
    .want = { WANT_I(ADVANCE, "web-a", "i-1", "stage INSTANCE_LAUNCHED, instance pending") },
    .changes = 1)

/* provisioning before launch (no instance yet) -> advance */
CASE(advance_before_launch,
    .d = { SPEC("web-a", H1) },
    .r = { ROW("e-1", "web-a", PROVISIONING, SG_READY, H1, NULL) },
    .want = { WANT(ADVANCE, "web-a", "stage SG_READY") },
    .changes = 1)

/* desired | running, hash differs | any, on_drift=replace -> replace */
CASE(drift_replace,
    .d = { SPEC("web-a", H2) },
    .i = { INST("i-1", RUNNING, "web-a", "e-1", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1") },
    .want = { WANT_I(REPLACE, "web-a", "i-1", "spec changed") },
    .changes = 1)

/* ... on_drift=report -> drift report */
CASE(drift_report,
    .d = { SPEC_REPORT("web-a", H2) },
    .i = { INST("i-1", RUNNING, "web-a", "e-1", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1") },
    .want = { WANT(DRIFT_REPORT, "web-a", "on_drift: report") },
    .changes = 1)

/* a hash of an older canonical form is not drift */
CASE(older_hash_version_not_drift,
    .d = { SPEC("web-a", H1) },
    .i = { INST("i-1", RUNNING, "web-a", "e-1", H0, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H0, "i-1") },
    .want = { WANT(NOOP, "web-a", "older canonical form") },
    .changes = 0)

/* a running instance without a hash tag is reported, not replaced */
CASE(missing_hash_tag_reported,
    .d = { SPEC("web-a", H1) },
    .i = { INST("i-1", RUNNING, "web-a", "e-1", NULL, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1") },
    .want = { WANT(DRIFT_REPORT, "web-a", "no spec-hash tag") },
    .changes = 1)

/* desired | none | ready -> drift (gone out of band), provision again */
CASE(drift_gone,
    .d = { SPEC("web-a", H1) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1") },
    .want = { WANT_I(DRIFT_GONE, "web-a", "i-1", "gone out of band") },
    .changes = 1)

/* desired | yes | none (row lost) -> adopt */
CASE(adopt,
    .d = { SPEC("web-a", H1) },
    .i = { INST("i-1", RUNNING, "web-a", "e-lost", H1, OLD) },
    .want = { WANT_I(ADOPT, "web-a", "i-1", "row lost") },
    .changes = 1)

/* adoption needs an env-id tag; without one it is an orphan candidate */
CASE(adopt_needs_env_id,
    .d = { SPEC("web-a", H1) },
    .i = { INST("i-1", RUNNING, "web-a", NULL, H1, OLD) },
    .want = { WANT(PROVISION, "web-a", "new environment"),
	      WANT_I(ORPHAN, "web-a", "i-1", "no env-id tag") },
    .changes = 1)

/* not desired | yes | any -> terminate ("zz-keep" keeps the tree non-empty) */
CASE(terminate_spec_removed,
    .d = { SPEC("zz-keep", H1) },
    .i = { INST("i-1", RUNNING, "web-a", "e-1", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1") },
    .want = { WANT_I(TERMINATE, "web-a", "i-1", "spec removed"),
	      WANT(PROVISION, "zz-keep", "new environment") },
    .changes = 1)

/* TTL: desired but older than its ttl -> terminate */
CASE(ttl_expired,
    .d = { SPEC_TTL("web-a", H1, 3600) },
    .i = { INST("i-1", RUNNING, "web-a", "e-1", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1") },
    .want = { WANT_I(TERMINATE, "web-a", "i-1", "ttl expired") },
    .changes = 1)

/* TTL not yet reached -> nothing */
CASE(ttl_not_reached,
    .d = { SPEC_TTL("web-a", H1, 2 * 86400) },
    .i = { INST("i-1", RUNNING, "web-a", "e-1", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1") },
    .want = { WANT(NOOP, "web-a", "up to date") },
    .changes = 0)

/* after a TTL end, the same spec is not provisioned again */
CASE(ttl_ended_not_reprovisioned,
    .d = { SPEC_TTL("web-a", H1, 3600) },
    .r = { ROW_ENDED("e-1", "web-a", H1, true, false) },
    .want = { WANT(NOOP, "web-a", "ttl expired; change or remove the spec") },
    .changes = 0)

/* ... but a changed spec is */
CASE(ttl_ended_spec_changed,
    .d = { SPEC_TTL("web-a", H2, 3600) },
    .r = { ROW_ENDED("e-1", "web-a", H1, true, false) },
    .want = { WANT(PROVISION, "web-a", "new environment") },
    .changes = 1)

/* not desired | none | live -> close the row */
CASE(close,
    .d = { SPEC("zz-keep", H1) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1") },
    .want = { WANT(CLOSE, "web-a", "spec removed; no instance"),
	      WANT(PROVISION, "zz-keep", "new environment") },
    .changes = 1)

/* tagged, unknown env id, older than the grace, no row -> orphan */
CASE(orphan,
    .d = { SPEC("zz-keep", H1) },
    .i = { INST("i-9", RUNNING, "web-x", "e-unknown", H1, OLD) },
    .want = { WANT_I(ORPHAN, "web-x", "i-9", "env id unknown"),
	      WANT(PROVISION, "zz-keep", "new environment") },
    .changes = 1)

/* ... younger than the grace -> wait */
CASE(orphan_grace,
    .d = { SPEC("zz-keep", H1) },
    .i = { INST("i-9", RUNNING, "web-x", "e-unknown", H1, YOUNG) },
    .want = { WANT_I(NOOP, "web-x", "i-9", "orphan grace: launched 60s ago, grace 600s"),
	      WANT(PROVISION, "zz-keep", "new environment") },
    .changes = 1)

/* an instance whose incarnation has ended is an orphan, never adopted */
CASE(ended_incarnation_orphan,
    .d = { SPEC("web-a", H1) },
    .i = { INST("i-1", RUNNING, "web-a", "e-old", H1, OLD) },
    .r = { ROW_ENDED("e-old", "web-a", H1, false, false) },
    .want = { WANT(PROVISION, "web-a", "new environment"),
	      WANT_I(ORPHAN, "web-a", "i-1", "incarnation has ended") },
    .changes = 1)

/* another cluster's (or unmanaged) instances are ignored explicitly */
CASE(foreign_cluster_ignored,
    .d = { SPEC("web-a", H1) },
    .i = { INST_CLUSTER("i-7", "c2", "web-a", "e-1", H1, OLD),
	   INST_CLUSTER("i-8", "c2", "web-z", "e-2", H1, OLD),
	   { .instance_id = "i-9", .state = PLAN_INSTANCE_RUNNING,
	     .managed = false, .cluster_id = "c1", .env_name = "web-y",
	     .env_id = "e-3", .launch_time = OLD } },
    .want = { WANT(PROVISION, "web-a", "new environment") },
    .ignored = 3,
    .changes = 1)

/* leftovers of ended incarnations -> gc */
CASE(gc,
    .d = { SPEC("web-a", H1) },
    .i = { INST("i-1", RUNNING, "web-a", "e-2", H1, OLD) },
    .r = { ROW("e-2", "web-a", READY, DONE, H1, "i-1"),
	   ROW_ENDED("e-1", "web-a", H1, false, true),
	   ROW_ENDED("e-0", "web-a", H1, false, false) },
    .want = { WANT(NOOP, "web-a", "up to date"),
	      WANT(GC, "web-a", "leftovers of an ended incarnation") },
    .changes = 1)

/* ---- safety rules ---------------------------------------------------- */

/* fail closed: each unusable input gives one HALT and nothing else */
#define FAIL_CLOSED_INPUT \
    .d = { SPEC("web-a", H1) }, \
    .i = { INST("i-1", RUNNING, "web-b", "e-1", H1, OLD), \
	   INST("i-9", RUNNING, "web-x", "e-unknown", H1, OLD) }, \
    .r = { ROW("e-1", "web-b", READY, DONE, H1, "i-1") }

CASE(fail_closed_source,
    FAIL_CLOSED_INPUT, .flags = F_SOURCE_BAD,
    .want = { WANT(HALT, "", "spec source unusable") },
    .changes = 0)

CASE(fail_closed_discovery,
    FAIL_CLOSED_INPUT, .flags = F_DISCOVERY_BAD,
    .want = { WANT(HALT, "", "instance discovery failed") },
    .changes = 0)

CASE(fail_closed_store,
    FAIL_CLOSED_INPUT, .flags = F_STORE_BAD,
    .want = { WANT(HALT, "", "store unreachable") },
    .changes = 0)

/* the same inputs, usable: what fail-closed held back */
CASE(fail_closed_control,
    FAIL_CLOSED_INPUT,
    .want = { WANT(PROVISION, "web-a", "new environment"),
	      WANT(TERMINATE, "web-b", "spec removed"),
	      WANT(ORPHAN, "web-x", "env id unknown") },
    .changes = 1)

/* empty tree without allow_empty: every deletion is blocked */
CASE(empty_tree_blocks_deletion,
    .flags = F_TREE_EMPTY,
    .i = { INST("i-1", RUNNING, "web-b", "e-1", H1, OLD),
	   INST("i-9", RUNNING, "web-x", "e-unknown", H1, OLD) },
    .r = { ROW("e-1", "web-b", READY, DONE, H1, "i-1"),
	   ROW("e-2", "web-c", READY, DONE, H1, "i-2") },
    .want = { WANT_HELD(TERMINATE, "web-b", "spec removed; held: spec tree is empty"),
	      WANT_HELD(CLOSE, "web-c", "spec tree is empty"),
	      WANT_HELD(ORPHAN, "web-x", "spec tree is empty") },
    .changes = 1)

/* a tree with no entries counts as empty even without the flag */
CASE(no_entries_is_empty,
    .i = { INST("i-1", RUNNING, "web-b", "e-1", H1, OLD) },
    .r = { ROW("e-1", "web-b", READY, DONE, H1, "i-1") },
    .want = { WANT_HELD(TERMINATE, "web-b", "spec tree is empty") },
    .changes = 1)

CASE(empty_tree_allowed,
    .flags = F_TREE_EMPTY | F_ALLOW_EMPTY,
    .i = { INST("i-1", RUNNING, "web-b", "e-1", H1, OLD) },
    .r = { ROW("e-1", "web-b", READY, DONE, H1, "i-1"),
	   ROW("e-2", "web-c", READY, DONE, H1, "i-2") },
    .want = { WANT(TERMINATE, "web-b", "spec removed"),
	      WANT(CLOSE, "web-c", "spec removed") },
    .changes = 1)

/* an invalid spec: its environment is left alone */
CASE(invalid_spec_left_alone,
    .d = { SPEC_INVALID("web-a"), SPEC_INVALID("web-b") },
    .i = { INST("i-1", RUNNING, "web-a", "e-1", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1") },
    .want = { WANT_I(NOOP, "web-a", "i-1", "invalid spec, left alone"),
	      WANT(NOOP, "web-b", "invalid spec, left alone") },
    .changes = 0)

/* deletion budget: first N in plan order, the rest blocked */
CASE(deletion_budget,
    .d = { SPEC("zz-keep", H1) },
    .budget = 2,
    .i = { INST("i-3", RUNNING, "web-c", "e-3", H1, OLD),
	   INST("i-1", RUNNING, "web-a", "e-1", H1, OLD),
	   INST("i-9", RUNNING, "web-d", "e-unknown", H1, OLD),
	   INST("i-2", RUNNING, "web-b", "e-2", H2, OLD) },
    .r = { ROW("e-3", "web-c", READY, DONE, H1, "i-3"),
	   ROW("e-1", "web-a", READY, DONE, H1, "i-1"),
	   ROW("e-2", "web-b", READY, DONE, H2, "i-2"),
	   ROW("e-4", "web-e", READY, DONE, H1, NULL) },
    .want = { WANT(TERMINATE, "web-a", "spec removed"),
	      WANT(TERMINATE, "web-b", "spec removed"),
	      WANT_HELD(TERMINATE, "web-c", "deletion budget of 2 per pass used"),
	      WANT_HELD(ORPHAN, "web-d", "deletion budget"),
	      WANT(CLOSE, "web-e", "spec removed"),	/* not counted */
	      WANT(PROVISION, "zz-keep", "new environment") },
    .changes = 1)

/* replace counts against the budget too */
CASE(deletion_budget_replace,
    .d = { SPEC("web-a", H2), SPEC("web-b", H2) },
    .budget = 1,
    .i = { INST("i-1", RUNNING, "web-a", "e-1", H1, OLD),
	   INST("i-2", RUNNING, "web-b", "e-2", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1"),
	   ROW("e-2", "web-b", READY, DONE, H1, "i-2") },
    .want = { WANT(REPLACE, "web-a", "spec changed"),
	      WANT_HELD(REPLACE, "web-b", "deletion budget") },
    .changes = 1)

CASE(deletion_budget_force,
    .d = { SPEC("zz-keep", H1) },
    .budget = 1, .flags = F_FORCE,
    .i = { INST("i-1", RUNNING, "web-a", "e-1", H1, OLD),
	   INST("i-2", RUNNING, "web-b", "e-2", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1"),
	   ROW("e-2", "web-b", READY, DONE, H1, "i-2") },
    .want = { WANT(TERMINATE, "web-a", "spec removed"),
	      WANT(TERMINATE, "web-b", "spec removed"),
	      WANT(PROVISION, "zz-keep", "new environment") },
    .changes = 1)

/*
 * The window budget (termination_budget N/W): what was terminated in the
 * last W seconds counts; older terminations (at or before NOW - W) not.
 * Under: 1 of 3 used in the window, 2 go ahead.
 */
CASE(window_budget_under,
    .d = { SPEC("zz-keep", H1) },
    .window_n = 3, .window_s = 600,
    .done = { NOW - 100, NOW - 600, NOW - 4000 },
    .i = { INST("i-1", RUNNING, "web-a", "e-1", H1, OLD),
	   INST("i-2", RUNNING, "web-b", "e-2", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1"),
	   ROW("e-2", "web-b", READY, DONE, H1, "i-2") },
    .want = { WANT(TERMINATE, "web-a", "spec removed"),
	      WANT(TERMINATE, "web-b", "spec removed"),
	      WANT(PROVISION, "zz-keep", "new environment") },
    .changes = 1)

/* At: the window is full; held until its oldest leaves it (NOW-200+600) */
CASE(window_budget_at,
    .d = { SPEC("zz-keep", H1) },
    .window_n = 3, .window_s = 600,
    .done = { NOW - 10, NOW - 200, NOW - 100 },
    .i = { INST("i-1", RUNNING, "web-a", "e-1", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1"),
	   ROW("e-4", "web-e", READY, DONE, H1, NULL) },
    .want = { WANT_HELD(TERMINATE, "web-a", "spec removed; held: termination "
		  "budget 3/10m used (3 in the last 10m); held until "
		  "2027-01-15T08:06:40Z"),
	      WANT(CLOSE, "web-e", "spec removed"),	/* not counted */
	      WANT(PROVISION, "zz-keep", "new environment") },
    .changes = 1)

/*
 * Over: 1 used, 2 removals go, then the window is full; the first slot
 * frees when the one made before the pass leaves it (NOW-100+600).
 */
CASE(window_budget_over,
    .d = { SPEC("zz-keep", H1) },
    .window_n = 3, .window_s = 600,
    .done = { NOW - 100 },
    .i = { INST("i-1", RUNNING, "web-a", "e-1", H1, OLD),
	   INST("i-2", RUNNING, "web-b", "e-2", H1, OLD),
	   INST("i-3", RUNNING, "web-c", "e-3", H1, OLD),
	   INST("i-4", RUNNING, "web-d", "e-4", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1"),
	   ROW("e-2", "web-b", READY, DONE, H1, "i-2"),
	   ROW("e-3", "web-c", READY, DONE, H1, "i-3"),
	   ROW("e-4", "web-d", READY, DONE, H1, "i-4") },
    .want = { WANT(TERMINATE, "web-a", "spec removed"),
	      WANT(TERMINATE, "web-b", "spec removed"),
	      WANT_HELD(TERMINATE, "web-c", "termination budget 3/10m used "
		  "(3 in the last 10m); held until 2027-01-15T08:08:20Z"),
	      WANT_HELD(TERMINATE, "web-d", "held until 2027-01-15T08:08:20Z"),
	      WANT(PROVISION, "zz-keep", "new environment") },
    .changes = 1)

/*
 * Quotas (plan.h): live rows use them; new incarnations go ahead while
 * every quota of theirs has room, the rest are held.  A workspace's
 * quota counts only its own; the cluster's ("*", no workspace) all.
 */
CASE(quota_workspace_envs,
    .d = { SPEC_Q("a1", "team-a", 2, 0.1, 0), SPEC_Q("a2", "team-a", 2, 0.1, 0),
	   SPEC_Q("a3", "team-a", 2, 0.1, 0), SPEC_Q("a4", "team-a", 2, 0.1, 0),
	   SPEC_Q("b1", "team-b", 2, 0.1, 0) },
    .quota = { { .workspace = "team-a", .max_envs = 2 } },
    .i = { INST("i-1", RUNNING, "a1", "e-1", H1, OLD) },
    .r = { ROW("e-1", "a1", READY, DONE, H1, "i-1") },
    .want = { WANT(NOOP, "a1", "up to date"),
	      WANT(PROVISION, "a2", "new environment"),
	      WANT_HELD(PROVISION, "a3", "quota of workspace team-a: "
		  "environments 2 + 1 > 2"),
	      WANT_HELD(PROVISION, "a4", "environments 2 + 1 > 2"),
	      WANT(PROVISION, "b1", "new environment") },
    .changes = 1)

/* Fair order: what has waited longest goes first, whatever its name */
CASE(quota_oldest_first,
    .d = { SPEC_Q("a-new", "w", 1, 0.1, 0), SPEC_Q("m-mid", "w", 1, 0.1, YOUNG),
	   SPEC_Q("z-old", "w", 1, 0.1, OLD) },
    .quota = { { .workspace = NULL, .max_envs = 2 } },
    .want = { WANT_HELD(PROVISION, "a-new", "quota of the cluster: "
		  "environments 2 + 1 > 2"),
	      WANT(PROVISION, "m-mid", "new environment"),
	      WANT(PROVISION, "z-old", "new environment") },
    .changes = 1)

/* vCPUs: the live one's 4 count; 4 more fit, the next 4 do not */
CASE(quota_vcpus,
    .d = { SPEC_Q("c1", "w", 4, 0.1, 0), SPEC_Q("c2", "w", 4, 0.1, 0),
	   SPEC_Q("c3", "w", 4, 0.1, 0) },
    .quota = { { .workspace = "w", .max_vcpus = 8 } },
    .i = { INST("i-1", RUNNING, "c1", "e-1", H1, OLD) },
    .r = { ROW("e-1", "c1", READY, DONE, H1, "i-1") },
    .want = { WANT(NOOP, "c1", "up to date"),
	      WANT(PROVISION, "c2", "new environment"),
	      WANT_HELD(PROVISION, "c3", "vCPUs 8 + 4 > 8") },
    .changes = 1)

/* dollars per hour, on-demand equivalent */
CASE(quota_usd,
    .d = { SPEC_Q("d1", "w", 2, 0.6, 0), SPEC_Q("d2", "w", 2, 0.6, 0) },
    .quota = { { .workspace = NULL, .max_usd_per_hour = 1.0 } },
    .want = { WANT(PROVISION, "d1", "new environment"),
	      WANT_HELD(PROVISION, "d2", "$/h 0.6000 + 0.6000 > 1.0000") },
    .changes = 1)

/*
 * A quota that shrank below what is live terminates nothing; an
 * errored row retries (it has its place), only the new one is held.
 */
CASE(quota_shrunk,
    .d = { SPEC_Q("e1", "w", 1, 0.1, 0), SPEC_Q("e2", "w", 1, 0.1, 0),
	   SPEC_Q("e3", "w", 1, 0.1, 0), SPEC_Q("e4", "w", 1, 0.1, 0) },
    .quota = { { .workspace = "w", .max_envs = 1 },
	       { .workspace = NULL, .max_envs = 100 } },
    .i = { INST("i-1", RUNNING, "e1", "e-1", H1, OLD),
	   INST("i-2", RUNNING, "e2", "e-2", H1, OLD) },
    .r = { ROW("e-1", "e1", READY, DONE, H1, "i-1"),
	   ROW("e-2", "e2", READY, DONE, H1, "i-2"),
	   ROW_ERROR("e-3", "e3", H1, 1, NOW - 1) },
    .want = { WANT(NOOP, "e1", "up to date"),
	      WANT(NOOP, "e2", "up to date"),
	      WANT(RETRY, "e3", "attempt 2 of 5"),
	      WANT_HELD(PROVISION, "e4", "environments 3 + 1 > 1") },
    .changes = 1)

/* None used before the pass: the slot frees W after this pass's first */
CASE(window_budget_this_pass,
    .d = { SPEC("zz-keep", H1) },
    .window_n = 1, .window_s = 600,
    .i = { INST("i-1", RUNNING, "web-a", "e-1", H1, OLD),
	   INST("i-2", RUNNING, "web-b", "e-2", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1"),
	   ROW("e-2", "web-b", READY, DONE, H1, "i-2") },
    .want = { WANT(TERMINATE, "web-a", "spec removed"),
	      WANT_HELD(TERMINATE, "web-b", "termination budget 1/10m used "
		  "(1 in the last 10m); held until 2027-01-15T08:10:00Z"),
	      WANT(PROVISION, "zz-keep", "new environment") },
    .changes = 1)

/* --force lifts the window budget for its pass, as the per-pass one */
CASE(window_budget_force,
    .d = { SPEC("zz-keep", H1) },
    .window_n = 1, .window_s = 600, .flags = F_FORCE,
    .done = { NOW - 10, NOW - 20 },
    .i = { INST("i-1", RUNNING, "web-a", "e-1", H1, OLD),
	   INST("i-2", RUNNING, "web-b", "e-2", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1"),
	   ROW("e-2", "web-b", READY, DONE, H1, "i-2") },
    .want = { WANT(TERMINATE, "web-a", "spec removed"),
	      WANT(TERMINATE, "web-b", "spec removed"),
	      WANT(PROVISION, "zz-keep", "new environment") },
    .changes = 1)

/*
 * Mixed kinds: terminate, orphan and replace count, in plan order; close
 * does not; protection holds without using the budget.
 */
CASE(window_budget_mixed,
    .d = { SPEC("web-r", H2), SPEC("web-s", H2), SPEC("zz-keep", H1) },
    .window_n = 4, .window_s = 3600,
    .done = { NOW - 3000 },
    .i = { INST("i-1", RUNNING, "web-a", "e-1", H1, OLD),
	   INST_PROTECTED("i-2", RUNNING, "web-b", "e-2", H1, OLD),
	   INST("i-9", RUNNING, "web-o", "e-unknown", H1, OLD),
	   INST("i-3", RUNNING, "web-r", "e-3", H1, OLD),
	   INST("i-4", RUNNING, "web-s", "e-4", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1"),
	   ROW("e-2", "web-b", READY, DONE, H1, "i-2"),
	   ROW("e-5", "web-c", READY, DONE, H1, NULL),
	   ROW("e-3", "web-r", READY, DONE, H1, "i-3"),
	   ROW("e-4", "web-s", READY, DONE, H1, "i-4") },
    .want = { WANT(TERMINATE, "web-a", "spec removed"),
	      WANT_HELD(TERMINATE, "web-b", "termination protection"),
	      WANT(CLOSE, "web-c", "spec removed"),
	      WANT(ORPHAN, "web-o", "orphan"),
	      WANT(REPLACE, "web-r", "spec changed"),
	      WANT_HELD(REPLACE, "web-s", "termination budget 4/1h used "
		  "(4 in the last 1h); held until 2027-01-15T08:10:00Z"),
	      WANT(PROVISION, "zz-keep", "new environment") },
    .changes = 1)

/* The per-pass budget used up first: its reason, not the window's */
CASE(window_budget_per_pass_first,
    .d = { SPEC("zz-keep", H1) },
    .window_n = 5, .window_s = 600, .budget = 1,
    .i = { INST("i-1", RUNNING, "web-a", "e-1", H1, OLD),
	   INST("i-2", RUNNING, "web-b", "e-2", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1"),
	   ROW("e-2", "web-b", READY, DONE, H1, "i-2") },
    .want = { WANT(TERMINATE, "web-a", "spec removed"),
	      WANT_HELD(TERMINATE, "web-b", "deletion budget of 1 per pass"),
	      WANT(PROVISION, "zz-keep", "new environment") },
    .changes = 1)

/* termination protection: reported, never overridden; uses no budget */
CASE(termination_protection,
    .d = { SPEC("web-r", H2), SPEC("zz-keep", H1) },
    .budget = 1,
    .i = { INST_PROTECTED("i-1", RUNNING, "web-a", "e-1", H1, OLD),
	   INST("i-2", RUNNING, "web-b", "e-2", H1, OLD),
	   INST_PROTECTED("i-3", RUNNING, "web-r", "e-3", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1"),
	   ROW("e-2", "web-b", READY, DONE, H1, "i-2"),
	   ROW("e-3", "web-r", READY, DONE, H1, "i-3") },
    .want = { WANT_HELD(TERMINATE, "web-a", "termination protection"),
	      WANT(TERMINATE, "web-b", "spec removed"),
	      WANT_HELD(REPLACE, "web-r", "termination protection"),
	      WANT(PROVISION, "zz-keep", "new environment") },
    .changes = 1)

/*
 * not ours (docs/design.md §3.9): a row the pipeline refused to touch is
 * held, whatever would act on it, and uses no budget
 */
#define NOT_OURS "not ours: instance i-9: no tag envctl:managed"
CASE(not_ours_held,
    .d = { SPEC("web-e", H2), SPEC("zz-keep", H1) },
    .budget = 1,
    .i = { INST("i-2", RUNNING, "web-b", "e-2", H1, OLD),
	   INST("i-3", RUNNING, "web-c", "e-3", H1, OLD) },
    .r = { { .env_id = "e-1", .name = "web-a", .status = PLAN_STATUS_TERMINATING,
	     .stage = PLAN_STAGE_DONE, .instance_id = "i-9", .created_at = OLD,
	     .not_ours = NOT_OURS },
	   { .env_id = "e-2", .name = "web-b", .status = PLAN_STATUS_READY,
	     .stage = PLAN_STAGE_DONE, .spec_hash = H1, .instance_id = "i-2",
	     .created_at = OLD, .launched_at = OLD, .not_ours = NOT_OURS },
	   ROW("e-3", "web-c", READY, DONE, H1, "i-3"),
	   { .env_id = "e-4", .name = "web-d", .status = PLAN_STATUS_TERMINATED,
	     .stage = PLAN_STAGE_DONE, .created_at = OLD, .has_leftovers = true,
	     .not_ours = NOT_OURS },
	   { .env_id = "e-5", .name = "web-e", .status = PLAN_STATUS_ERROR,
	     .stage = PLAN_STAGE_SG_READY, .spec_hash = H1, .attempts = 1,
	     .created_at = OLD, .not_ours = NOT_OURS } },
    .want = { WANT_HELD(CLOSE, "web-a", NOT_OURS),
	      WANT_HELD(TERMINATE, "web-b", NOT_OURS),
	      WANT(TERMINATE, "web-c", "spec removed"),
	      WANT_HELD(GC, "web-d", NOT_OURS),
	      WANT_HELD(RETRY, "web-e", NOT_OURS),
	      WANT(PROVISION, "zz-keep", "new environment") },
    .changes = 1)

/* shutting-down is going away: not there for provisioning ... */
CASE(shutting_down_is_gone,
    .d = { SPEC("web-a", H1), SPEC("web-n", H1) },
    .i = { INST("i-1", SHUTTING_DOWN, "web-a", "e-1", H1, OLD),
	   INST("i-2", SHUTTING_DOWN, "web-n", "e-x", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1") },
    .want = { WANT(DRIFT_GONE, "web-a", "gone out of band"),
	      WANT(PROVISION, "web-n", "new environment") },
    .changes = 1)

/* ... nor terminated again: the row is closed */
CASE(shutting_down_closes_row,
    .d = { SPEC("zz-keep", H1) },
    .i = { INST("i-1", SHUTTING_DOWN, "web-a", "e-1", H1, OLD),
	   INST("i-9", SHUTTING_DOWN, "web-x", "e-unknown", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1") },
    .want = { WANT(CLOSE, "web-a", "already shutting down"),
	      WANT(PROVISION, "zz-keep", "new environment") },
    .changes = 1)

/* stopped/stopping instances of ready rows: a state, not drift, no second one */
CASE(stopped_is_not_drift,
    .d = { SPEC("web-a", H1), SPEC("web-b", H1), SPEC("web-c", H1) },
    .i = { INST("i-1", STOPPED, "web-a", "e-1", H1, OLD),
	   INST("i-2", STOPPING, "web-b", "e-2", H1, OLD),
	   INST("i-3", STOPPED, "web-c", "e-3", NULL, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1"),
	   ROW("e-2", "web-b", READY, DONE, H1, "i-2"),
	   ROW("e-3", "web-c", READY, DONE, H1, "i-3") },
    .want = { WANT_I(NOOP, "web-a", "i-1", "stopped"),
	      WANT_I(NOOP, "web-b", "i-2", "stopping"),
	      WANT_I(NOOP, "web-c", "i-3", "stopped") },
    .changes = 0)

/* a stopped instance whose spec changed keeps its disk until started */
CASE(stopped_spec_changed_waits,
    .d = { SPEC("web-a", H2), SPEC_REPORT("web-b", H2) },
    .i = { INST("i-1", STOPPED, "web-a", "e-1", H1, OLD),
	   INST("i-2", STOPPED, "web-b", "e-2", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1"),
	   ROW("e-2", "web-b", READY, DONE, H1, "i-2") },
    .want = { WANT_I(NOOP, "web-a", "i-1", "stopped; spec changed, acted on once started"),
	      WANT_I(NOOP, "web-b", "i-2", "stopped; spec changed") },
    .changes = 0)

/*
 * Parked (§6.8): a ready row whose instance shut itself down idle
 * (listed by the caller) is closed as parked, not replaced; one gone for
 * any other reason (web-b: user terminate, spot interruption) is.
 */
CASE(idle_shutdown_parks,
    .d = { SPEC("web-a", H1), SPEC("web-b", H1), SPEC("web-c", H1) },
    .i = { INST("i-1", SHUTTING_DOWN, "web-a", "e-1", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1"),
	   ROW("e-2", "web-b", READY, DONE, H1, "i-2"),
	   ROW("e-3", "web-c", PROVISIONING, INSTANCE_LAUNCHED, H1, "i-3") },
    .idle_down = { "i-2x", "i-1", "i-3" },
    .want = { WANT(CLOSE, "web-a", PLAN_REASON_PARK),
	      WANT(DRIFT_GONE, "web-b", "gone out of band; provision again"),
	      WANT(ADVANCE, "web-c", "instance not visible yet") },
    .changes = 1)

/* parked, the same spec (or an older canonical form of it): nothing */
CASE(parked_not_reprovisioned,
    .d = { SPEC("web-a", H1), SPEC("web-b", H1) },
    .r = { ROW_PARKED("e-1", "web-a", H1, OLD),
	   ROW_PARKED("e-2", "web-b", H0, OLD) },
    .want = { WANT(NOOP, "web-a", "parked (idle; `envctl start web-a`)"),
	      WANT(NOOP, "web-b", "parked (idle; `envctl start web-b`)") },
    .changes = 0)

/*
 * A changed spec un-parks (web-a); so does a newer incarnation that
 * ended without the mark (web-b); a removed spec leaves nothing to do
 * (web-c).
 */
CASE(parked_spec_changed_or_newer,
    .d = { SPEC("web-a", H2), SPEC("web-b", H1) },
    .r = { ROW_PARKED("e-1", "web-a", H1, OLD),
	   ROW_PARKED("e-2", "web-b", H1, OLD - 10),
	   ROW_ENDED("e-3", "web-b", H1, false, false),
	   ROW_PARKED("e-4", "web-c", H1, OLD) },
    .want = { WANT(PROVISION, "web-a", "new environment"),
	      WANT(PROVISION, "web-b", "new environment") },
    .changes = 1)

/* TTL and spec removal still end a stopped environment */
CASE(stopped_ttl_and_removal_terminate,
    .d = { SPEC_TTL("web-a", H1, 3600) },
    .i = { INST("i-1", STOPPED, "web-a", "e-1", H1, OLD),
	   INST("i-2", STOPPED, "web-b", "e-2", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1"),
	   ROW("e-2", "web-b", READY, DONE, H1, "i-2") },
    .want = { WANT_I(TERMINATE, "web-a", "i-1", "ttl expired"),
	      WANT_I(TERMINATE, "web-b", "i-2", "spec removed") },
    .changes = 1)

#define ROW_SPOT(eid, n, st, h, inst, notice) \
	{ .env_id = eid, .name = n, .status = PLAN_STATUS_##st, \
	  .stage = PLAN_STAGE_DONE, .spec_hash = h, .instance_id = inst, \
	  .created_at = OLD, .launched_at = OLD, .spot_notice = notice }

/*
 * A spot notice (the interrupted marker): a ready environment is
 * replaced at once, running or not; gone, DRIFT_GONE names the notice;
 * a provisioning row ignores it; no notice, nothing.
 */
CASE(spot_notice_replaces,
    .d = { SPEC("sp-a", H1), SPEC("sp-b", H1), SPEC("sp-c", H1),
	   SPEC("sp-d", H1), SPEC("sp-e", H1) },
    .i = { INST("i-1", RUNNING, "sp-a", "e-1", H1, OLD),
	   INST("i-2", STOPPED, "sp-b", "e-2", H1, OLD),
	   INST("i-4", PENDING, "sp-d", "e-4", H1, YOUNG),
	   INST("i-5", RUNNING, "sp-e", "e-5", H1, OLD) },
    .r = { ROW_SPOT("e-1", "sp-a", READY, H1, "i-1", "interruption"),
	   ROW_SPOT("e-2", "sp-b", READY, H1, "i-2", "rebalance"),
	   ROW_SPOT("e-3", "sp-c", READY, H1, "i-3", "interruption"),
	   ROW_SPOT("e-4", "sp-d", PROVISIONING, H1, "i-4", "interruption"),
	   ROW_SPOT("e-5", "sp-e", READY, H1, "i-5", NULL) },
    .want = { WANT_I(REPLACE, "sp-a", "i-1", "spot interruption notice (interruption)"),
	      WANT_I(REPLACE, "sp-b", "i-2", "spot interruption notice (rebalance)"),
	      WANT(DRIFT_GONE, "sp-c", "gone after a spot interruption notice"),
	      WANT_I(ADVANCE, "sp-d", "i-4", "provisioning"),
	      WANT_I(NOOP, "sp-e", "i-5", "up to date") },
    .changes = 1)

/* a spot replacement is a deletion: protection and the budget hold it */
CASE(spot_notice_budget,
    .d = { SPEC("sp-a", H1), SPEC("sp-b", H1) },
    .i = { INST_PROTECTED("i-1", RUNNING, "sp-a", "e-1", H1, OLD),
	   INST("i-2", RUNNING, "sp-b", "e-2", H1, OLD) },
    .r = { ROW_SPOT("e-1", "sp-a", READY, H1, "i-1", "interruption"),
	   ROW_SPOT("e-2", "sp-b", READY, H1, "i-2", "interruption") },
    .budget = 0,
    .want = { WANT_HELD(REPLACE, "sp-a", "protection"),
	      WANT_I(REPLACE, "sp-b", "i-2", "spot interruption notice") },
    .changes = 1)

/* two instances of one incarnation: keep the row's, terminate the other */
CASE(duplicate_instance,
    .d = { SPEC("web-a", H1) },
    .i = { INST("i-2", RUNNING, "web-a", "e-1", H1, OLD - 10),
	   INST("i-1", RUNNING, "web-a", "e-1", H1, OLD) },
    .r = { ROW("e-1", "web-a", READY, DONE, H1, "i-1") },
    .want = { WANT_I(NOOP, "web-a", "i-1", "up to date"),
	      WANT_I(TERMINATE, "web-a", "i-2", "duplicate instance of this incarnation (keeping i-1)") },
    .changes = 1)

/* a live row of another incarnation beside an unknown instance: orphan */
CASE(stray_instance_beside_row,
    .d = { SPEC("web-a", H1) },
    .i = { INST("i-1", RUNNING, "web-a", "e-2", H1, OLD),
	   INST("i-0", RUNNING, "web-a", "e-1", H1, OLD) },
    .r = { ROW("e-2", "web-a", READY, DONE, H1, "i-1") },
    .want = { WANT_I(NOOP, "web-a", "i-1", "up to date"),
	      WANT_I(ORPHAN, "web-a", "i-0", "env id unknown") },
    .changes = 1)

/* a terminating row, still desired: finish the termination */
CASE(terminating_row_continues,
    .d = { SPEC("web-a", H1), SPEC("web-b", H1) },
    .i = { INST("i-1", RUNNING, "web-a", "e-1", H1, OLD) },
    .r = { ROW("e-1", "web-a", TERMINATING, DONE, H1, "i-1"),
	   ROW("e-2", "web-b", TERMINATING, DONE, H1, "i-2") },
    .want = { WANT_I(TERMINATE, "web-a", "i-1", "termination in progress"),
	      WANT(CLOSE, "web-b", "termination in progress") },
    .changes = 1)

/* ten environments, each in a different row of the table, at once */
#define TEN_INPUT \
    .d = { SPEC("a-provision", H1), SPEC("b-noop", H1), SPEC("c-advance", H1), \
	   SPEC("d-replace", H2), SPEC("e-gone", H1), SPEC("f-adopt", H1), \
	   SPEC("i-backoff", H1), SPEC_INVALID("j-invalid") }, \
    .i = { INST("i-b", RUNNING, "b-noop", "e-b", H1, OLD), \
	   INST("i-c", PENDING, "c-advance", "e-c", H1, YOUNG), \
	   INST("i-d", RUNNING, "d-replace", "e-d", H1, OLD), \
	   INST("i-f", RUNNING, "f-adopt", "e-f", H1, OLD), \
	   INST("i-g", RUNNING, "g-removed", "e-g", H1, OLD), \
	   INST("i-k", RUNNING, "k-orphan", "e-k", H1, OLD), \
	   INST_CLUSTER("i-z", "c9", "z-foreign", "e-z", H1, OLD) }, \
    .r = { ROW("e-b", "b-noop", READY, DONE, H1, "i-b"), \
	   ROW("e-c", "c-advance", PROVISIONING, TAGGED, H1, "i-c"), \
	   ROW("e-d", "d-replace", READY, DONE, H1, "i-d"), \
	   ROW("e-e", "e-gone", READY, DONE, H1, "i-e"), \
	   ROW("e-g", "g-removed", READY, DONE, H1, "i-g"), \
	   ROW("e-h", "h-closed", READY, DONE, H1, NULL), \
	   ROW_ERROR("e-i", "i-backoff", H1, 1, NOW + 30) }

CASE(ten_at_once,
    TEN_INPUT,
    .want = { WANT(PROVISION, "a-provision", "new environment"),
	      WANT(NOOP, "b-noop", "up to date"),
	      WANT(ADVANCE, "c-advance", "stage TAGGED"),
	      WANT(REPLACE, "d-replace", "spec changed"),
	      WANT(DRIFT_GONE, "e-gone", "gone out of band"),
	      WANT(ADOPT, "f-adopt", "row lost"),
	      WANT(TERMINATE, "g-removed", "spec removed"),
	      WANT(CLOSE, "h-closed", "spec removed"),
	      WANT(BACKOFF, "i-backoff", "next attempt at"),
	      WANT(NOOP, "j-invalid", "invalid spec"),
	      WANT(ORPHAN, "k-orphan", "env id unknown") },
    .ignored = 1,
    .changes = 1)

/* ---- cases outside the table ----------------------------------------- */

static void
test_plan__backoff_fields(void **state)
{
	static const struct plan_case c = {
		.d = { SPEC("web-a", H1) },
		.r = { ROW_ERROR("e-1", "web-a", H1, 2, NOW + 120) },
	};
	struct plan_input in;
	struct plan *p;
	const struct plan_action *a;

	(void)state;
	case_input(&in, &c);
	assert_int_equal(plan_build(&p, &in), 0);
	a = plan_action_at(p, 0);
	assert_int_equal(a->kind, PLAN_BACKOFF);
	assert_int_equal(a->next_attempt_at, NOW + 120);
	assert_string_equal(a->env_id, "e-1");
	assert_int_equal(a->record_index, 0);
	assert_int_equal(a->desired_index, 0);
	assert_int_equal(a->instance_index, PLAN_NONE);
	/* 1800000120 = 2027-01-15T08:02:00Z */
	assert_non_null(strstr(a->reason, "2027-01-15T08:02:00Z"));
	assert_null(plan_action_at(p, 1));
	plan_free(p);
}

static void
test_plan__backoff_delay(void **state)
{
	struct plan_config cfg;

	(void)state;
	plan_config_init(&cfg);
	assert_int_equal(plan_backoff_delay(&cfg, 0), 0);
	assert_int_equal(plan_backoff_delay(&cfg, 1), 30);
	assert_int_equal(plan_backoff_delay(&cfg, 2), 60);
	assert_int_equal(plan_backoff_delay(&cfg, 4), 240);
	assert_int_equal(plan_backoff_delay(&cfg, 8), 3600);
	assert_int_equal(plan_backoff_delay(&cfg, 4000000000u), 3600);
	cfg.backoff_cap = INT64_MAX;	/* no overflow on the way up */
	assert_int_equal(plan_backoff_delay(&cfg, 200), INT64_MAX);
	assert_int_equal(plan_backoff_delay(&cfg, 3), 120);
}

static void
test_plan__symbols_and_names(void **state)
{
	static const struct {
		enum plan_kind	 kind;
		char		 sym;
		const char	*name;
		bool		 change, runs, provisions, drift;
		enum plan_wait	 waits;
	} t[] = {
		{ PLAN_NOOP, '=', "noop", false, false, false, false, PLAN_WAIT_NEVER },
		{ PLAN_PROVISION, '+', "provision", true, true, true, false,
		    PLAN_WAIT_UNTIL_DONE },
		{ PLAN_RETRY, '+', "retry", true, true, true, false,
		    PLAN_WAIT_UNTIL_DONE },
		{ PLAN_ADVANCE, '>', "advance", true, true, true, false,
		    PLAN_WAIT_UNTIL_DONE },
		{ PLAN_REPLACE, '~', "replace", true, true, true, true,
		    PLAN_WAIT_UNTIL_DONE },
		{ PLAN_DRIFT_REPORT, '!', "drift-report", true, true, false, true,
		    PLAN_WAIT_ALWAYS },
		{ PLAN_DRIFT_GONE, '!', "drift-gone", true, true, true, true,
		    PLAN_WAIT_UNTIL_DONE },
		{ PLAN_ADOPT, '&', "adopt", true, true, false, false, PLAN_WAIT_NEVER },
		{ PLAN_TERMINATE, '-', "terminate", true, true, false, false,
		    PLAN_WAIT_NEVER },
		{ PLAN_CLOSE, '-', "close", true, true, false, false, PLAN_WAIT_NEVER },
		{ PLAN_ORPHAN, '?', "orphan", true, true, false, false, PLAN_WAIT_NEVER },
		{ PLAN_GC, '*', "gc", true, true, false, false, PLAN_WAIT_WHILE_LEFT },
		{ PLAN_BLOCKED, '#', "blocked", true, false, false, false,
		    PLAN_WAIT_NEVER },
		{ PLAN_BACKOFF, '#', "backoff", true, false, false, false,
		    PLAN_WAIT_NEVER },
		{ PLAN_GAVE_UP, '#', "gave-up", true, false, false, false,
		    PLAN_WAIT_NEVER },
		{ PLAN_HALT, '#', "halt", false, false, false, false, PLAN_WAIT_NEVER },
	};
	const struct plan_kind_info *ki;
	size_t k;

	(void)state;
	assert_int_equal(sizeof(t) / sizeof(t[0]), PLAN_KIND_COUNT);
	for (k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		ki = plan_kind_info(t[k].kind);
		assert_int_equal(plan_kind_symbol(t[k].kind), t[k].sym);
		assert_string_equal(plan_kind_name(t[k].kind), t[k].name);
		assert_int_equal(plan_kind_is_change(t[k].kind), t[k].change);
		assert_int_equal(ki->symbol, t[k].sym);
		assert_string_equal(ki->name, t[k].name);
		assert_int_equal(ki->runs, t[k].runs);
		assert_int_equal(ki->provisions, t[k].provisions);
		assert_int_equal(ki->is_drift, t[k].drift);
		assert_int_equal(ki->waits, t[k].waits);
	}
	assert_string_equal(plan_kind_name(PLAN_KIND_COUNT), "unknown");
	ki = plan_kind_info((enum plan_kind)99);
	assert_false(ki->runs || ki->provisions || ki->is_drift);
	assert_int_equal(ki->waits, PLAN_WAIT_NEVER);
	assert_int_equal(plan_kind_symbol((enum plan_kind)99), '?');
}

static void
test_plan__halt_is_not_change(void **state)
{
	static const struct plan_case c = { FAIL_CLOSED_INPUT, .flags = F_STORE_BAD };
	struct plan_input in;
	struct plan *p;

	(void)state;
	case_input(&in, &c);
	assert_int_equal(plan_build(&p, &in), 0);
	assert_true(plan_halted(p));
	assert_false(plan_has_changes(p));
	assert_int_equal(plan_count_kind(p, PLAN_HALT), 1);
	plan_free(p);
}

/* malformed input is refused, not planned around */
static void
test_plan__invalid_input(void **state)
{
	static const struct plan_case dup_spec = {
		.d = { SPEC("web-a", H1), SPEC("web-a", H2) } };
	static const struct plan_case dup_live = {
		.d = { SPEC("web-a", H1) },
		.r = { ROW("e-1", "web-a", READY, DONE, H1, NULL),
		       ROW("e-2", "web-a", READY, DONE, H1, NULL) } };
	static const struct plan_case dup_id = {
		.d = { SPEC("web-a", H1) },
		.r = { ROW("e-1", "web-a", READY, DONE, H1, NULL),
		       ROW_ENDED("e-1", "web-b", H1, false, false) } };
	static const struct plan_case dup_inst = {
		.d = { SPEC("web-a", H1) },
		.i = { INST("i-1", RUNNING, "web-a", "e-1", H1, OLD),
		       INST("i-1", RUNNING, "web-a", "e-1", H1, OLD) } };
	static const struct plan_case no_hash = {
		.d = { SPEC("web-a", NULL) } };
	const struct plan_case *bad[] = { &dup_spec, &dup_live, &dup_id,
	    &dup_inst, &no_hash };
	struct plan_input in;
	struct plan *p;
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		case_input(&in, bad[k]);
		p = (struct plan *)&in;	/* must be reset to NULL */
		assert_int_equal(plan_build(&p, &in), ERR_INVALID);
		assert_null(p);
		assert_non_null(strstr(err_get(), "plan: "));
		if (k == 0)
			assert_non_null(strstr(err_get(), "two desired entries named web-a"));
	}
	case_input(&in, &case_provision);
	in.config.cluster_id = NULL;
	assert_int_equal(plan_build(&p, &in), ERR_INVALID);
	assert_non_null(strstr(err_get(), "cluster id"));
}

/* ---- determinism ----------------------------------------------------- */

static uint64_t
rng_next(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

#define SHUFFLE(arr, n, seed) do {					\
	size_t k_;							\
	for (k_ = (n); k_ > 1; k_--) {					\
		size_t j_ = (size_t)(rng_next(seed) % k_);		\
		__typeof__((arr)[0]) t_ = (arr)[k_ - 1];		\
		(arr)[k_ - 1] = (arr)[j_];				\
		(arr)[j_] = t_;						\
	}								\
} while (0)

static int
same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void
test_plan__deterministic(void **state)
{
	static const struct plan_case base = { TEN_INPUT };
	struct plan_case c;
	struct plan_input in;
	struct plan *ref, *p;
	uint64_t seed = 42;
	size_t k, round;

	(void)state;
	case_input(&in, &base);
	in.config.max_terminations_per_pass = 2;	/* budget choice too */
	assert_int_equal(plan_build(&ref, &in), 0);
	assert_int_equal(plan_count_kind(ref, PLAN_BLOCKED), 1);
	for (round = 0; round < 50; round++) {
		c = base;
		SHUFFLE(c.d, count_desired(c.d), &seed);
		SHUFFLE(c.i, count_inst(c.i), &seed);
		SHUFFLE(c.r, count_rows(c.r), &seed);
		case_input(&in, &c);
		in.config.max_terminations_per_pass = 2;
		assert_int_equal(plan_build(&p, &in), 0);
		assert_int_equal(plan_count(p), plan_count(ref));
		for (k = 0; k < plan_count(p); k++) {
			const struct plan_action *a = plan_action_at(p, k);
			const struct plan_action *b = plan_action_at(ref, k);

			assert_int_equal(a->kind, b->kind);
			assert_int_equal(a->held, b->held);
			assert_string_equal(a->name, b->name);
			assert_true(same_str(a->env_id, b->env_id));
			assert_true(same_str(a->instance_id, b->instance_id));
			assert_string_equal(a->reason, b->reason);
			/* indexes follow the shuffled input */
			if (a->instance_index != PLAN_NONE)
				assert_string_equal(c.i[a->instance_index].instance_id,
				    a->instance_id);
			if (a->desired_index != PLAN_NONE)
				assert_string_equal(c.d[a->desired_index].name,
				    a->name);
		}
		plan_free(p);
	}
	plan_free(ref);
}

/* ---- a large fleet --------------------------------------------------- */

#define LARGE_N	10000
#define LARGE_ROWS 10

struct fleet {
	struct plan_desired	*d;
	struct plan_instance	*i;
	struct plan_record	*r;
	size_t			 nd, ni, nr;
	char			(*names)[24];
	char			(*ids)[24];
	char			(*iids)[24];
};

/* Environment k sits in row k % 10 (see the switch). */
static void
fleet_make(struct fleet *f, size_t n)
{
	size_t k;

	memset(f, 0, sizeof(*f));
	f->d = calloc(n, sizeof(*f->d));
	f->i = calloc(n, sizeof(*f->i));
	f->r = calloc(n, sizeof(*f->r));
	f->names = calloc(n, sizeof(*f->names));
	f->ids = calloc(n, sizeof(*f->ids));
	f->iids = calloc(n, sizeof(*f->iids));
	assert_non_null(f->d);
	assert_non_null(f->names);
	assert_non_null(f->iids);
	/* walk backwards so the input is not already sorted */
	for (k = n; k-- > 0;) {
		unsigned row = (unsigned)(k % LARGE_ROWS);
		bool desired = row != 6 && row != 7 && row != 8;
		bool inst = row == 1 || row == 2 || row == 3 || row == 5 ||
		    row == 6 || row == 8;
		bool rec = row != 0 && row != 5 && row != 8;

		snprintf(f->names[k], sizeof(f->names[k]), "env-%06u", (unsigned)k);
		snprintf(f->ids[k], sizeof(f->ids[k]), "id-%06u", (unsigned)k);
		snprintf(f->iids[k], sizeof(f->iids[k]), "i-%06u", (unsigned)k);
		if (desired) {
			struct plan_desired *d = &f->d[f->nd++];

			d->name = f->names[k];
			d->valid = true;
			d->spec_hash = row == 3 ? H2 : H1;
		}
		if (inst) {
			struct plan_instance *i = &f->i[f->ni++];

			i->instance_id = f->iids[k];
			i->state = row == 2 ? PLAN_INSTANCE_PENDING :
			    PLAN_INSTANCE_RUNNING;
			i->managed = true;
			i->cluster_id = "c1";
			i->env_name = f->names[k];
			i->env_id = f->ids[k];
			i->spec_hash = H1;
			i->launch_time = OLD;
		}
		if (rec) {
			struct plan_record *r = &f->r[f->nr++];

			r->env_id = f->ids[k];
			r->name = f->names[k];
			r->status = row == 2 ? PLAN_STATUS_PROVISIONING :
			    row == 9 ? PLAN_STATUS_ERROR : PLAN_STATUS_READY;
			r->stage = row == 2 ? PLAN_STAGE_TAGGED : PLAN_STAGE_DONE;
			r->spec_hash = H1;
			r->instance_id = inst ? f->iids[k] : NULL;
			r->attempts = 1;
			r->next_attempt_at = NOW + 60;
			r->created_at = OLD;
		}
	}
}

static void
fleet_free(struct fleet *f)
{
	free(f->d);
	free(f->i);
	free(f->r);
	free(f->names);
	free(f->ids);
	free(f->iids);
}

static void
test_plan__large(void **state)
{
	/* row -> expected kind, 1000 each */
	static const enum plan_kind want[LARGE_ROWS] = {
		PLAN_PROVISION,		/* 0 desired, none, none */
		PLAN_NOOP,		/* 1 running, equal, ready */
		PLAN_ADVANCE,		/* 2 pending, provisioning */
		PLAN_REPLACE,		/* 3 hash differs */
		PLAN_DRIFT_GONE,	/* 4 none, ready */
		PLAN_ADOPT,		/* 5 instance, no row */
		PLAN_TERMINATE,		/* 6 not desired, instance, row */
		PLAN_CLOSE,		/* 7 not desired, no instance, row */
		PLAN_ORPHAN,		/* 8 not desired, instance, no row */
		PLAN_BACKOFF,		/* 9 error within backoff */
	};
	struct fleet f;
	struct plan_input in;
	struct plan *p;
	size_t k;

	(void)state;
	fleet_make(&f, LARGE_N);
	memset(&in, 0, sizeof(in));
	in.desired.v = f.d;
	in.desired.n = f.nd;
	in.desired.source_usable = true;
	in.observed.v = f.i;
	in.observed.n = f.ni;
	in.observed.ok = true;
	in.records.v = f.r;
	in.records.n = f.nr;
	in.records.ok = true;
	plan_config_init(&in.config);
	in.config.cluster_id = "c1";
	in.config.force = true;
	in.now = NOW;

	assert_int_equal(plan_build(&p, &in), 0);
	assert_int_equal(plan_count(p), LARGE_N);
	for (k = 0; k < LARGE_ROWS; k++)
		assert_int_equal(plan_count_kind(p, want[k]), LARGE_N / LARGE_ROWS);
	/* sorted by name, and each environment in its row */
	for (k = 0; k < LARGE_N; k++) {
		const struct plan_action *a = plan_action_at(p, k);

		assert_string_equal(a->name, f.names[k]);
		assert_int_equal(a->kind, want[k % LARGE_ROWS]);
	}
	plan_free(p);

	/* without force the budget holds: 10 deletions, the rest blocked */
	in.config.force = false;
	assert_int_equal(plan_build(&p, &in), 0);
	assert_int_equal(plan_count_kind(p, PLAN_TERMINATE) +
	    plan_count_kind(p, PLAN_REPLACE) + plan_count_kind(p, PLAN_ORPHAN), 10);
	assert_int_equal(plan_count_kind(p, PLAN_BLOCKED), 3 * LARGE_N / LARGE_ROWS - 10);
	assert_int_equal(plan_count_kind(p, PLAN_CLOSE), LARGE_N / LARGE_ROWS);
	/* the first ten deletions in name order went ahead */
	assert_int_equal(plan_action_at(p, 3)->kind, PLAN_REPLACE);
	assert_int_equal(plan_action_at(p, 6)->kind, PLAN_TERMINATE);
	assert_int_equal(plan_action_at(p, 8)->kind, PLAN_ORPHAN);
	assert_int_equal(plan_action_at(p, 33)->kind, PLAN_REPLACE);	/* 10th */
	assert_int_equal(plan_action_at(p, 36)->kind, PLAN_BLOCKED);
	assert_int_equal(plan_action_at(p, 36)->held, PLAN_TERMINATE);
	assert_int_equal(plan_action_at(p, 43)->kind, PLAN_BLOCKED);
	assert_int_equal(plan_action_at(p, 43)->held, PLAN_REPLACE);
	plan_free(p);
	fleet_free(&f);
}

/*
 * Names longer than the 16-byte sort prefix and sharing it, in shuffled
 * order, with some shorter names between: the plan comes out in strcmp
 * order (exercises the radix sort's fallbacks).
 */
static void
test_plan__long_names_sorted(void **state)
{
	enum { N = 3000 };
	struct plan_desired *d = calloc(N, sizeof(*d));
	char (*names)[48] = calloc(N, sizeof(*names));
	struct plan_input in;
	struct plan *p;
	uint64_t seed = 9;
	size_t k;

	(void)state;
	assert_non_null(d);
	assert_non_null(names);
	for (k = 0; k < N; k++) {
		unsigned v = (unsigned)(k * 7919u % 100000u);

		if (k % 5 == 0)
			snprintf(names[k], sizeof(names[k]), "w%u", v);
		else
			snprintf(names[k], sizeof(names[k]),
			    "a-long-shared-prefix-%s-%05u", k % 2 ? "x" : "xy", v);
		d[k].name = names[k];
		d[k].valid = true;
		d[k].spec_hash = H1;
	}
	SHUFFLE(d, N, &seed);
	memset(&in, 0, sizeof(in));
	in.desired.v = d;
	in.desired.n = N;
	in.desired.source_usable = true;
	in.observed.ok = true;
	in.records.ok = true;
	plan_config_init(&in.config);
	in.config.cluster_id = "c1";
	in.now = NOW;
	assert_int_equal(plan_build(&p, &in), 0);
	assert_int_equal(plan_count(p), N);
	for (k = 1; k < N; k++)
		assert_true(strcmp(plan_action_at(p, k - 1)->name,
		    plan_action_at(p, k)->name) < 0);
	plan_free(p);
	free(d);
	free(names);
}

/*
 * 40 instances of one incarnation: keep the row's, the rest by id; and
 * "web-a-b" beside it, whose name goes on where "web-a" ends.
 */
static void
test_plan__many_instances_one_env(void **state)
{
	enum { N = 40 };
	struct plan_instance inst[N + 1];
	struct plan_desired d[2] = { SPEC("web-a", H1), SPEC("web-a-b", H1) };
	struct plan_record r = ROW("e-1", "web-a", READY, DONE, H1, "i-017");
	char ids[N][16];
	struct plan_input in;
	struct plan *p;
	uint64_t seed = 3;
	size_t k;

	(void)state;
	for (k = 0; k < N; k++) {
		struct plan_instance i = INST(NULL, RUNNING, "web-a", "e-1", H1, OLD);

		snprintf(ids[k], sizeof(ids[k]), "i-%03u", (unsigned)k);
		i.instance_id = ids[k];
		inst[k] = i;
	}
	inst[N] = (struct plan_instance)INST("i-b", RUNNING, "web-a-b", "e-b", H1, OLD);
	SHUFFLE(inst, N + 1, &seed);
	memset(&in, 0, sizeof(in));
	in.desired.v = d;
	in.desired.n = 2;
	in.desired.source_usable = true;
	in.observed.v = inst;
	in.observed.n = N + 1;
	in.observed.ok = true;
	in.records.v = &r;
	in.records.n = 1;
	in.records.ok = true;
	plan_config_init(&in.config);
	in.config.cluster_id = "c1";
	in.config.force = true;
	in.now = NOW;
	assert_int_equal(plan_build(&p, &in), 0);
	assert_int_equal(plan_count(p), N + 1);
	assert_int_equal(plan_action_at(p, N)->kind, PLAN_ADOPT);
	assert_string_equal(plan_action_at(p, N)->name, "web-a-b");
	assert_int_equal(plan_action_at(p, 0)->kind, PLAN_NOOP);
	assert_string_equal(plan_action_at(p, 0)->instance_id, "i-017");
	for (k = 1; k < N; k++) {
		const struct plan_action *a = plan_action_at(p, k);
		char want[16];

		snprintf(want, sizeof(want), "i-%03u", (unsigned)(k <= 17 ? k - 1 : k));
		assert_int_equal(a->kind, PLAN_TERMINATE);
		assert_string_equal(a->instance_id, want);
	}
	plan_free(p);
}

/* reason times: leap day and year boundaries come out right */
static void
test_plan__backoff_time_format(void **state)
{
	static const struct { int64_t t; const char *iso; } t[] = {
		{ 951782400, "2000-02-29T00:00:00Z" },
		{ 1709251199, "2024-02-29T23:59:59Z" },
		{ 1735689600, "2025-01-01T00:00:00Z" },
		{ 4102444799, "2099-12-31T23:59:59Z" },
	};
	static const struct plan_case c = {
		.d = { SPEC("web-a", H1) },
		.r = { ROW_ERROR("e-1", "web-a", H1, 1, 0) },
	};
	struct plan_case cc;
	struct plan_input in;
	struct plan *p;
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		cc = c;
		cc.r[0].next_attempt_at = t[k].t;
		case_input(&in, &cc);
		in.now = t[k].t - 5;
		assert_int_equal(plan_build(&p, &in), 0);
		assert_int_equal(plan_action_at(p, 0)->kind, PLAN_BACKOFF);
		assert_non_null(strstr(plan_action_at(p, 0)->reason, t[k].iso));
		assert_non_null(strstr(plan_action_at(p, 0)->reason, "(in 5s)"));
		plan_free(p);
	}
}

/* ---- random scenarios, checked against the safety invariants --------- */

#define RN	10	/* names */
#define RI	24	/* instances at most */

struct scenario {
	struct plan_desired	 d[RN];
	struct plan_instance	 i[RI];
	struct plan_record	 r[2 * RN];
	size_t			 nd, ni, nr;
	char			 names[RN][8];
	char			 live_ids[RN][16];
	char			 old_ids[RN][16];
	char			 iids[RI][8];
};

static unsigned
rnd(uint64_t *seed, unsigned n)
{
	return (unsigned)(rng_next(seed) % n);
}

static void
scenario_make(struct scenario *sc, uint64_t *seed)
{
	static const char *const hashes[] = { H0, H1, H2, NULL };
	static const int64_t times[] = { OLD, YOUNG, 0, NOW - 3 * 86400 };
	size_t k;

	memset(sc, 0, sizeof(*sc));
	for (k = 0; k < RN; k++) {
		snprintf(sc->names[k], sizeof(sc->names[k]), "n%02u", (unsigned)k);
		snprintf(sc->live_ids[k], sizeof(sc->live_ids[k]), "e-%02u-live", (unsigned)k);
		snprintf(sc->old_ids[k], sizeof(sc->old_ids[k]), "e-%02u-old", (unsigned)k);
	}
	for (k = 0; k < RI; k++)
		snprintf(sc->iids[k], sizeof(sc->iids[k]), "i-%02u", (unsigned)k);
	for (k = 0; k < RN; k++) {
		if (rnd(seed, 3) != 0) {
			struct plan_desired *d = &sc->d[sc->nd++];

			d->name = sc->names[k];
			d->valid = rnd(seed, 6) != 0;
			d->spec_hash = hashes[rnd(seed, 3)];
			d->on_drift = (enum plan_on_drift)rnd(seed, 2);
			d->ttl = rnd(seed, 3) == 0 ? 2 * 86400 : 0;
		}
		if (rnd(seed, 5) < 3) {
			struct plan_record *r = &sc->r[sc->nr++];

			r->env_id = sc->live_ids[k];
			r->name = sc->names[k];
			r->status = (enum plan_record_status)rnd(seed, 5);
			r->stage = (enum plan_record_stage)rnd(seed, 7);
			r->spec_hash = hashes[rnd(seed, 4)];
			r->attempts = rnd(seed, 7);
			r->next_attempt_at = NOW + (int64_t)rnd(seed, 3) * 60 - 60;
			r->created_at = times[rnd(seed, 4)];
		}
		if (rnd(seed, 3) == 0) {
			struct plan_record *r = &sc->r[sc->nr++];

			r->env_id = sc->old_ids[k];
			r->name = sc->names[k];
			r->status = PLAN_STATUS_TERMINATED;
			r->spec_hash = hashes[rnd(seed, 4)];
			r->ttl_expired = rnd(seed, 2);
			r->has_leftovers = rnd(seed, 2);
			r->created_at = OLD - 1000;
		}
	}
	sc->ni = rnd(seed, RI + 1);
	for (k = 0; k < sc->ni; k++) {
		struct plan_instance *i = &sc->i[k];
		unsigned nm = rnd(seed, RN), e = rnd(seed, 4);

		i->instance_id = sc->iids[k];
		i->state = (enum plan_instance_state)rnd(seed, 6);
		i->managed = rnd(seed, 10) != 0;
		i->cluster_id = rnd(seed, 10) != 0 ? "c1" : "c2";
		i->env_name = rnd(seed, 12) != 0 ? sc->names[nm] : NULL;
		i->env_id = e == 0 ? sc->live_ids[nm] : e == 1 ? sc->old_ids[nm] :
		    e == 2 ? "e-unknown" : NULL;
		i->spec_hash = hashes[rnd(seed, 4)];
		i->launch_time = times[rnd(seed, 4)];
		i->termination_protection = rnd(seed, 8) == 0;
	}
	if (rnd(seed, 10) == 0)
		sc->nd = 0;		/* an empty tree now and then */
	/* rows name one of the instances now and then */
	for (k = 0; k < sc->nr; k++)
		if (sc->ni > 0 && rnd(seed, 2) == 0)
			sc->r[k].instance_id = sc->iids[rnd(seed, (unsigned)sc->ni)];
}

static void
scenario_input(struct plan_input *in, const struct scenario *sc,
    uint64_t *seed)
{
	memset(in, 0, sizeof(*in));
	in->desired.v = sc->d;
	in->desired.n = sc->nd;
	in->desired.source_usable = true;
	in->desired.tree_empty = sc->nd == 0;
	in->observed.v = sc->i;
	in->observed.n = sc->ni;
	in->observed.ok = true;
	in->records.v = sc->r;
	in->records.n = sc->nr;
	in->records.ok = true;
	plan_config_init(&in->config);
	in->config.cluster_id = "c1";
	in->config.max_terminations_per_pass = 1 + rnd(seed, 3);
	in->config.force = rnd(seed, 5) == 0;
	in->config.allow_empty = rnd(seed, 2) == 0;
	in->now = NOW;
}

static bool
is_deletion(enum plan_kind k)
{
	return k == PLAN_TERMINATE || k == PLAN_REPLACE || k == PLAN_ORPHAN;
}

static void
check_invariants(const struct plan *p, const struct plan_input *in)
{
	size_t k, j, deletions = 0;

	for (k = 0; k < plan_count(p); k++) {
		const struct plan_action *a = plan_action_at(p, k);
		const struct plan_instance *i = a->instance_index != PLAN_NONE ?
		    &in->observed.v[a->instance_index] : NULL;

		if (k > 0)	/* sorted by name */
			assert_true(strcmp(plan_action_at(p, k - 1)->name, a->name) <= 0);
		if (is_deletion(a->kind))
			deletions++;
		if (i != NULL) {	/* never a foreign instance */
			assert_true(i->managed);
			assert_string_equal(i->cluster_id, "c1");
		}
		if (i != NULL && is_deletion(a->kind)) {
			assert_false(i->termination_protection);
			assert_int_not_equal(i->state, PLAN_INSTANCE_SHUTTING_DOWN);
		}
		if (in->desired.tree_empty && !in->config.allow_empty)
			assert_false(is_deletion(a->kind) || a->kind == PLAN_CLOSE);
		/* invalid spec: nothing but the NOOP and GC */
		for (j = 0; j < in->desired.n; j++)
			if (!in->desired.v[j].valid &&
			    strcmp(in->desired.v[j].name, a->name) == 0)
				assert_true(a->kind == PLAN_NOOP || a->kind == PLAN_GC);
	}
	if (!in->config.force)
		assert_true(deletions <= in->config.max_terminations_per_pass);
	/* every desired name is accounted for */
	for (j = 0; j < in->desired.n; j++) {
		bool seen = false;

		for (k = 0; k < plan_count(p) && !seen; k++)
			seen = strcmp(plan_action_at(p, k)->name,
			    in->desired.v[j].name) == 0;
		assert_true(seen);
	}
}

static void
test_plan__random_invariants(void **state)
{
	uint64_t seed = 2026;
	size_t round, k;

	(void)state;
	for (round = 0; round < 2000; round++) {
		struct scenario sc, sh;
		struct plan_input in, in2;
		struct plan *p, *q;
		uint64_t cfg_seed = round, cfg_seed2 = round;

		scenario_make(&sc, &seed);
		scenario_input(&in, &sc, &cfg_seed);
		assert_int_equal(plan_build(&p, &in), 0);
		check_invariants(p, &in);

		/* the same scenario shuffled: the same plan */
		sh = sc;
		SHUFFLE(sh.d, sh.nd, &seed);
		SHUFFLE(sh.i, sh.ni, &seed);
		SHUFFLE(sh.r, sh.nr, &seed);
		scenario_input(&in2, &sh, &cfg_seed2);
		assert_int_equal(plan_build(&q, &in2), 0);
		assert_int_equal(plan_count(p), plan_count(q));
		for (k = 0; k < plan_count(p); k++) {
			const struct plan_action *a = plan_action_at(p, k);
			const struct plan_action *b = plan_action_at(q, k);

			assert_int_equal(a->kind, b->kind);
			assert_string_equal(a->name, b->name);
			assert_true(same_str(a->env_id, b->env_id));
			assert_true(same_str(a->instance_id, b->instance_id));
			assert_string_equal(a->reason, b->reason);
		}
		plan_free(q);
		plan_free(p);

		/* fail closed, whatever the scenario */
		in.records.ok = false;
		assert_int_equal(plan_build(&p, &in), 0);
		assert_int_equal(plan_count(p), 1);
		assert_true(plan_halted(p));
		plan_free(p);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan__provision),
		cmocka_unit_test(test_plan__retry_past_backoff),
		cmocka_unit_test(test_plan__backoff),
		cmocka_unit_test(test_plan__gave_up),
		cmocka_unit_test(test_plan__spec_change_resets_attempts),
		cmocka_unit_test(test_plan__noop_ready),
		cmocka_unit_test(test_plan__advance_provisioning),
		cmocka_unit_test(test_plan__advance_before_launch),
		cmocka_unit_test(test_plan__drift_replace),
		cmocka_unit_test(test_plan__drift_report),
		cmocka_unit_test(test_plan__older_hash_version_not_drift),
		cmocka_unit_test(test_plan__missing_hash_tag_reported),
		cmocka_unit_test(test_plan__drift_gone),
		cmocka_unit_test(test_plan__adopt),
		cmocka_unit_test(test_plan__adopt_needs_env_id),
		cmocka_unit_test(test_plan__terminate_spec_removed),
		cmocka_unit_test(test_plan__ttl_expired),
		cmocka_unit_test(test_plan__ttl_not_reached),
		cmocka_unit_test(test_plan__ttl_ended_not_reprovisioned),
		cmocka_unit_test(test_plan__ttl_ended_spec_changed),
		cmocka_unit_test(test_plan__close),
		cmocka_unit_test(test_plan__orphan),
		cmocka_unit_test(test_plan__orphan_grace),
		cmocka_unit_test(test_plan__ended_incarnation_orphan),
		cmocka_unit_test(test_plan__foreign_cluster_ignored),
		cmocka_unit_test(test_plan__gc),
		cmocka_unit_test(test_plan__fail_closed_source),
		cmocka_unit_test(test_plan__fail_closed_discovery),
		cmocka_unit_test(test_plan__fail_closed_store),
		cmocka_unit_test(test_plan__fail_closed_control),
		cmocka_unit_test(test_plan__empty_tree_blocks_deletion),
		cmocka_unit_test(test_plan__no_entries_is_empty),
		cmocka_unit_test(test_plan__empty_tree_allowed),
		cmocka_unit_test(test_plan__invalid_spec_left_alone),
		cmocka_unit_test(test_plan__deletion_budget),
		cmocka_unit_test(test_plan__deletion_budget_replace),
		cmocka_unit_test(test_plan__deletion_budget_force),
		cmocka_unit_test(test_plan__window_budget_under),
		cmocka_unit_test(test_plan__window_budget_at),
		cmocka_unit_test(test_plan__window_budget_over),
		cmocka_unit_test(test_plan__quota_workspace_envs),
		cmocka_unit_test(test_plan__quota_oldest_first),
		cmocka_unit_test(test_plan__quota_vcpus),
		cmocka_unit_test(test_plan__quota_usd),
		cmocka_unit_test(test_plan__quota_shrunk),
		cmocka_unit_test(test_plan__window_budget_this_pass),
		cmocka_unit_test(test_plan__window_budget_force),
		cmocka_unit_test(test_plan__window_budget_mixed),
		cmocka_unit_test(test_plan__window_budget_per_pass_first),
		cmocka_unit_test(test_plan__termination_protection),
		cmocka_unit_test(test_plan__not_ours_held),
		cmocka_unit_test(test_plan__shutting_down_is_gone),
		cmocka_unit_test(test_plan__shutting_down_closes_row),
		cmocka_unit_test(test_plan__stopped_is_not_drift),
		cmocka_unit_test(test_plan__stopped_spec_changed_waits),
		cmocka_unit_test(test_plan__stopped_ttl_and_removal_terminate),
		cmocka_unit_test(test_plan__spot_notice_replaces),
		cmocka_unit_test(test_plan__spot_notice_budget),
		cmocka_unit_test(test_plan__idle_shutdown_parks),
		cmocka_unit_test(test_plan__parked_not_reprovisioned),
		cmocka_unit_test(test_plan__parked_spec_changed_or_newer),
		cmocka_unit_test(test_plan__duplicate_instance),
		cmocka_unit_test(test_plan__stray_instance_beside_row),
		cmocka_unit_test(test_plan__terminating_row_continues),
		cmocka_unit_test(test_plan__ten_at_once),
		cmocka_unit_test(test_plan__backoff_fields),
		cmocka_unit_test(test_plan__backoff_delay),
		cmocka_unit_test(test_plan__symbols_and_names),
		cmocka_unit_test(test_plan__halt_is_not_change),
		cmocka_unit_test(test_plan__invalid_input),
		cmocka_unit_test(test_plan__deterministic),
		cmocka_unit_test(test_plan__large),
		cmocka_unit_test(test_plan__long_names_sorted),
		cmocka_unit_test(test_plan__many_instances_one_env),
		cmocka_unit_test(test_plan__backoff_time_format),
		cmocka_unit_test(test_plan__random_invariants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
