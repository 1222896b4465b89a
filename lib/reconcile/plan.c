/*
 * plan.c - the reconcile planner (see plan.h for the rules it applies).
 *
 * Shape: sort the desired entries and the rows by name, tie each of our
 * instances to a name (through its row's env id when a row knows it:
 * a hash table of env ids: idtab.c), sort those by name, then walk the
 * three sorted lists together one environment at a time.  Sorting is on
 * compact keys holding the first 16 bytes of the name in big-endian
 * order (same order as strcmp), so most comparisons touch no string
 * (skey.c).
 * Reasons composed for the result are copied into an arena owned by the
 * plan (fixed reasons are string literals; names and ids are the
 * input's), so the result costs few allocations.
 *
 * Cost (tests/bench/plan, docs/benchmarks.md): about 2,000 instructions
 * and 200 bytes of result per environment.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "duration.h"
#include "err.h"
#include "mem.h"
#include "plan.h"
#include "plan_int.h"

#define REASON_MAX	256

struct plan {
	struct plan_action	*v;
	size_t			 n;
	size_t			 cap;
	struct arena		 strings;	/* composed reasons */
	size_t			 mem;		/* of v and the struct */
	size_t			 ignored;
	size_t			 counts[PLAN_KIND_COUNT];
};

/*
 * One of our instances, tied to the environment it belongs to; its sort
 * key (environment name, "" if none) is kept apart, obj pointing here.
 */
struct iref {
	const struct plan_instance	*inst;
	const struct plan_record	*rec;	/* live row with its env id, or NULL */
	const struct plan_record	*ended;	/* ended row with its env id, or NULL */
};

/* Everything known about one environment name. */
struct group {
	const char			*name;	/* the input's string */
	const struct plan_desired	*d;
	const struct plan_record	*live;
	const struct skey		*ended;	/* rows, newest first */
	size_t				 nended;
	const struct skey		*inst;	/* obj: struct iref, by instance id */
	size_t				 ninst;
};

struct ctx {
	const struct plan_input	*in;
	struct plan		*p;
	unsigned		 budget_used;
	bool			 empty;
	char			 budget_why[96];
	/* the window budget: sorted times inside it, room left, reason */
	int64_t			*window_t;
	size_t			 window_n;
	unsigned		 window_left;
	char			 window_why[160];
	/* the last BLOCKED reason composed, reused for the same parts */
	const char		*held_reason;
	const char		*held_why;
	const char		*held_out;
};

enum hash_cmp {
	HASH_EQUAL,
	HASH_DIFFER,
	HASH_OTHER_VERSION,	/* different canonical-form version: not drift */
	HASH_MISSING,
};

/*
 * What each kind is, in one place: its name and `envctl plan` symbol,
 * whether a pipeline job runs it, whether it provisions, whether it is
 * drift (counted as such by reconcile_runs, `envctl drift` and the
 * summaries) and what it waits on (see enum plan_wait).
 */
#define KIND(k, nm, sym, run, prov, drift, wait, cost) \
	[k] = { nm, sym, run, prov, drift, wait, cost }
#define ADDS	PLAN_COST_ADDS
#define ENDS	PLAN_COST_ENDS
static const struct plan_kind_info kinds[PLAN_KIND_COUNT] = {
	/*    kind		name		sym  runs prov drift waits  cost */
	KIND(PLAN_NOOP,		"noop",		'=', 0, 0, 0, PLAN_WAIT_NEVER, 0),
	KIND(PLAN_PROVISION,	"provision",	'+', 1, 1, 0, PLAN_WAIT_UNTIL_DONE, ADDS),
	KIND(PLAN_RETRY,	"retry",	'+', 1, 1, 0, PLAN_WAIT_UNTIL_DONE, ADDS),
	KIND(PLAN_ADVANCE,	"advance",	'>', 1, 1, 0, PLAN_WAIT_UNTIL_DONE, 0),
	KIND(PLAN_REPLACE,	"replace",	'~', 1, 1, 1, PLAN_WAIT_UNTIL_DONE, ADDS | ENDS),
	KIND(PLAN_DRIFT_REPORT,	"drift-report",	'!', 1, 0, 1, PLAN_WAIT_ALWAYS, 0),
	KIND(PLAN_DRIFT_GONE,	"drift-gone",	'!', 1, 1, 1, PLAN_WAIT_UNTIL_DONE, ADDS | ENDS),
	KIND(PLAN_ADOPT,	"adopt",	'&', 1, 0, 0, PLAN_WAIT_NEVER, 0),
	KIND(PLAN_TERMINATE,	"terminate",	'-', 1, 0, 0, PLAN_WAIT_NEVER, ENDS),
	KIND(PLAN_CLOSE,	"close",	'-', 1, 0, 0, PLAN_WAIT_NEVER, ENDS),
	KIND(PLAN_ORPHAN,	"orphan",	'?', 1, 0, 0, PLAN_WAIT_NEVER, ENDS),
	KIND(PLAN_GC,		"gc",		'*', 1, 0, 0, PLAN_WAIT_WHILE_LEFT, 0),
	KIND(PLAN_BLOCKED,	"blocked",	'#', 0, 0, 0, PLAN_WAIT_NEVER, 0),
	KIND(PLAN_BACKOFF,	"backoff",	'#', 0, 0, 0, PLAN_WAIT_NEVER, 0),
	KIND(PLAN_GAVE_UP,	"gave-up",	'#', 0, 0, 0, PLAN_WAIT_NEVER, 0),
	KIND(PLAN_HALT,		"halt",		'#', 0, 0, 0, PLAN_WAIT_NEVER, 0),
};
#undef ADDS
#undef ENDS
#undef KIND

/* Answers for a kind out of range: nothing runs, waits or is drift. */
static const struct plan_kind_info kind_unknown = {
	"unknown", '?', false, false, false, PLAN_WAIT_NEVER, 0
};

static const char *const stage_names[] = {
	[PLAN_STAGE_INIT] = "INIT",
	[PLAN_STAGE_KEYS_GENERATED] = "KEYS_GENERATED",
	[PLAN_STAGE_KEYS_UPLOADED] = "KEYS_UPLOADED",
	[PLAN_STAGE_SG_READY] = "SG_READY",
	[PLAN_STAGE_INSTANCE_LAUNCHED] = "INSTANCE_LAUNCHED",
	[PLAN_STAGE_TAGGED] = "TAGGED",
	[PLAN_STAGE_DONE] = "DONE",
};
_Static_assert(sizeof(stage_names) / sizeof(stage_names[0]) == PLAN_STAGE_COUNT,
    "a name for every planned stage");

static const char *const state_names[] = {
	[PLAN_INSTANCE_PENDING] = "pending",
	[PLAN_INSTANCE_RUNNING] = "running",
	[PLAN_INSTANCE_STOPPING] = "stopping",
	[PLAN_INSTANCE_STOPPED] = "stopped",
	[PLAN_INSTANCE_SHUTTING_DOWN] = "shutting-down",
	[PLAN_INSTANCE_TERMINATED] = "terminated",
};

/* ---- small helpers --------------------------------------------------- */

static const char *
stage_name(enum plan_record_stage s)
{
	if ((unsigned)s < sizeof(stage_names) / sizeof(stage_names[0]))
		return stage_names[s];
	return "?";
}

static const char *
state_name(enum plan_instance_state s)
{
	if ((unsigned)s < sizeof(state_names) / sizeof(state_names[0]))
		return state_names[s];
	return "?";
}

static bool
is_live_status(enum plan_record_status s)
{
	return s != PLAN_STATUS_TERMINATED;
}

static bool
is_going(const struct plan_instance *i)
{
	return i->state == PLAN_INSTANCE_SHUTTING_DOWN;
}

static bool
is_halted(const struct plan_instance *i)
{
	return i->state == PLAN_INSTANCE_STOPPING ||
	    i->state == PLAN_INSTANCE_STOPPED;
}

static bool
is_empty(const char *s)
{
	return s == NULL || *s == '\0';
}

/* Compare the desired hash with the one found ("v1:..." style). */
static enum hash_cmp
hash_compare(const char *want, const char *have)
{
	const char *a, *b;

	if (is_empty(have))
		return HASH_MISSING;
	if (strcmp(want, have) == 0)
		return HASH_EQUAL;
	a = strchr(want, ':');
	b = strchr(have, ':');
	if (a == NULL || b == NULL)
		return HASH_DIFFER;
	if (a - want == b - have && memcmp(want, have, (size_t)(a - want)) == 0)
		return HASH_DIFFER;
	return HASH_OTHER_VERSION;
}

/*
 * Reasons are put together from pieces (cheaper than printf at 100,000
 * actions a pass): vcat() joins NULL-terminated string arguments into
 * out, cut at outsz - 1 bytes; fmt_int() and fmt_time() make pieces.
 */
static void
vcat(char *out, size_t outsz, const char *first, va_list ap)
{
	const char *s;
	size_t n = 0, len;

	for (s = first; s != NULL; s = va_arg(ap, const char *)) {
		len = strnlen(s, outsz - 1 - n);
		memcpy(out + n, s, len);
		n += len;
	}
	out[n] = '\0';
}

static void
cat(char *out, size_t outsz, const char *first, ...)
    __attribute__((sentinel));

static void
cat(char *out, size_t outsz, const char *first, ...)
{
	va_list ap;

	va_start(ap, first);
	vcat(out, outsz, first, ap);
	va_end(ap);
}

#define NUM_MAX	24

/* Decimal v into out (NUM_MAX bytes); returns out. */
static const char *
fmt_int(char *out, int64_t v)
{
	char tmp[NUM_MAX];
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	size_t n = 0, k = 0;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		out[k++] = '-';
	while (n > 0)
		out[k++] = tmp[--n];
	out[k] = '\0';
	return out;
}

static void
put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

#define TIME_MAX 32

/*
 * Unix time t as "YYYY-MM-DDTHH:MM:SSZ" into out (TIME_MAX bytes), days
 * to civil date after H. Hinnant's algorithm; years outside 0..9999
 * give "@<t>".  Returns out.
 */
static const char *
fmt_time(char *out, int64_t t)
{
	int64_t z, era, y;
	unsigned doe, yoe, doy, mp, m, d, sec;

	z = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	sec = (unsigned)(t - z * 86400);
	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y = (int64_t)yoe + era * 400 + (m <= 2);
	if (y < 0 || y > 9999) {
		out[0] = '@';
		fmt_int(out + 1, t);
		return out;
	}
	memcpy(out, "0000-00-00T00:00:00Z", 21);
	put2(out, (unsigned)(y / 100));
	put2(out + 2, (unsigned)(y % 100));
	put2(out + 5, m);
	put2(out + 8, d);
	put2(out + 11, sec / 3600);
	put2(out + 14, sec / 60 % 60);
	put2(out + 17, sec % 60);
	return out;
}

/* ---- emitting actions ------------------------------------------------ */

static void
reserve(struct plan *p, size_t ncap)
{
	if (ncap <= p->cap)
		return;
	p->v = xreallocarray(p->v, ncap, sizeof(*p->v));
	p->mem += (ncap - p->cap) * sizeof(*p->v);
	p->cap = ncap;
}

static struct plan_action *
push(struct plan *p)
{
	struct plan_action *a;

	if (p->n == p->cap)
		reserve(p, p->cap ? p->cap * 2 : 64);
	a = &p->v[p->n++];
	memset(a, 0, sizeof(*a));
	a->desired_index = PLAN_NONE;
	a->instance_index = PLAN_NONE;
	a->record_index = PLAN_NONE;
	return a;
}

static void	block(struct ctx *, struct plan_action *, const char *why);

/*
 * Append an action about environment g (NULL: none) touching instance
 * inst and row rec (either may be NULL).  reason is copied into the
 * arena unless lit says it is a string literal (static storage).
 * Returns the action, valid until the next push.
 */
static struct plan_action *
emit_reason(struct ctx *c, const struct group *g, enum plan_kind kind,
    const struct plan_instance *inst, const struct plan_record *rec,
    const char *reason, bool lit)
{
	struct plan *p = c->p;
	struct plan_action *a;

	a = push(p);
	a->kind = kind;
	a->held = kind;
	a->name = g != NULL ? g->name : "";
	a->reason = lit ? reason : arena_strdup(&p->strings, reason);
	if (rec != NULL) {
		a->env_id = rec->env_id;
		a->record_index = (size_t)(rec - c->in->records.v);
	} else if (inst != NULL)
		a->env_id = inst->env_id;
	if (inst != NULL) {
		a->instance_id = inst->instance_id;
		a->instance_index = (size_t)(inst - c->in->observed.v);
	} else if (rec != NULL)
		a->instance_id = rec->instance_id;
	if (g != NULL && g->d != NULL)
		a->desired_index = (size_t)(g->d - c->in->desired.v);
	p->counts[kind]++;
	/* A row with a resource that is not ours: nothing acts on it. */
	if (rec != NULL && rec->not_ours != NULL && kinds[kind].runs)
		block(c, a, rec->not_ours);
	return a;
}

/* emit_reason() with a literal reason: nothing formatted or copied. */
#define EMIT_LIT(c, g, kind, inst, rec, lit) \
	emit_reason(c, g, kind, inst, rec, "" lit "", true)

/* emit_reason() with the reason joined from string pieces (see vcat()). */
static struct plan_action *
emit(struct ctx *c, const struct group *g, enum plan_kind kind,
    const struct plan_instance *inst, const struct plan_record *rec,
    const char *first, ...) __attribute__((sentinel));

static struct plan_action *
emit(struct ctx *c, const struct group *g, enum plan_kind kind,
    const struct plan_instance *inst, const struct plan_record *rec,
    const char *first, ...)
{
	char reason[REASON_MAX];
	va_list ap;

	va_start(ap, first);
	vcat(reason, sizeof(reason), first, ap);
	va_end(ap);
	return emit_reason(c, g, kind, inst, rec, reason, false);
}

#define HELD_SEP	"; held: "
#define WHY_EMPTY	"spec tree is empty and allow_empty is off"
#define WHY_PROTECTION	"termination protection"
#define WHY_PASS	"deletion budget of "
#define WHY_WINDOW	"termination budget "
#define WHY_QUOTA	"quota "

/* Turn a into BLOCKED; why must outlive the build (literal or ctx). */
static void
block(struct ctx *c, struct plan_action *a, const char *why)
{
	char reason[REASON_MAX];

	if (a->reason != c->held_reason || why != c->held_why) {
		cat(reason, sizeof(reason), a->reason, HELD_SEP, why, NULL);
		c->held_reason = a->reason;
		c->held_why = why;
		c->held_out = arena_strdup(&c->p->strings, reason);
	}
	a->reason = c->held_out;
	c->p->counts[a->kind]--;
	a->held = a->kind;
	a->kind = PLAN_BLOCKED;
	c->p->counts[PLAN_BLOCKED]++;
}

/*
 * "termination budget N/W used (K in the last W); held until T": K counts
 * this pass's terminations too, T is when the oldest of the K that must
 * leave the window for one more to fit does (now + W for this pass's).
 */
static void
window_why(struct ctx *c)
{
	const struct plan_config *cfg = &c->in->config;
	char n1[NUM_MAX], n2[NUM_MAX], w[32], t[TIME_MAX];
	size_t total = c->window_n + c->budget_used, j;
	int64_t until;

	j = total >= cfg->budget_count ? total - cfg->budget_count : 0;
	until = (j < c->window_n ? c->window_t[j] : c->in->now) +
	    cfg->budget_window;
	duration_format(w, sizeof(w), cfg->budget_window);
	cat(c->window_why, sizeof(c->window_why), WHY_WINDOW,
	    fmt_int(n1, cfg->budget_count), "/", w, " used (",
	    fmt_int(n2, (int64_t)total), " in the last ", w,
	    "); held until ", fmt_time(t, until), NULL);
}

static int
time_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The terminations inside the window, sorted, and the room left in it. */
static void
window_init(struct ctx *c)
{
	const struct plan_input *in = c->in;
	size_t i;

	if (in->config.budget_window <= 0)
		return;
	c->window_t = xreallocarray(NULL, in->nterminated + 1,
	    sizeof(*c->window_t));
	for (i = 0; i < in->nterminated; i++)
		if (in->terminated[i] > in->now - in->config.budget_window)
			c->window_t[c->window_n++] = in->terminated[i];
	qsort(c->window_t, c->window_n, sizeof(*c->window_t), time_cmp);
	c->window_left = c->window_n < in->config.budget_count ?
	    in->config.budget_count - (unsigned)c->window_n : 0;
}

/*
 * Emit a deletion (TERMINATE, CLOSE, ORPHAN, REPLACE) through the safety
 * rules: empty tree, termination protection, deletion budget.  lit: the
 * reason is a string literal (see emit_reason()).
 */
static void
emit_delete(struct ctx *c, const struct group *g, enum plan_kind kind,
    const struct plan_instance *inst, const struct plan_record *rec,
    const char *reason, bool lit)
{
	const struct plan_config *cfg = &c->in->config;
	struct plan_action *a;

	a = emit_reason(c, g, kind, inst, rec, reason, lit);
	if (a->kind == PLAN_BLOCKED)
		return;		/* not ours (emit_reason) */
	if (c->empty) {
		block(c, a, WHY_EMPTY);
		return;
	}
	if (kind == PLAN_CLOSE)
		return;
	if (inst != NULL && inst->termination_protection) {
		block(c, a, WHY_PROTECTION);
		return;
	}
	if (cfg->force)
		return;
	if (c->budget_used >= cfg->max_terminations_per_pass) {
		block(c, a, c->budget_why);
		return;
	}
	if (cfg->budget_window > 0 && c->budget_used >= c->window_left) {
		if (c->window_why[0] == '\0')
			window_why(c);
		block(c, a, c->window_why);
		return;
	}
	c->budget_used++;
}

/* ---- the rules ------------------------------------------------------- */

/* Does the instance belong to the environment's live row? */
static bool
is_own(const struct group *g, const struct iref *r)
{
	if (g->live == NULL)
		return false;
	if (r->rec == g->live)
		return true;
	return g->live->instance_id != NULL &&
	    strcmp(g->live->instance_id, r->inst->instance_id) == 0;
}

/* Lower is better for keeping: launch time, then instance id. */
static int
older_first(const struct plan_instance *a, const struct plan_instance *b)
{
	if (a->launch_time != b->launch_time)
		return a->launch_time < b->launch_time ? -1 : 1;
	return strcmp(a->instance_id, b->instance_id);
}

/*
 * The instance the current incarnation is about: with a live row, the
 * one the row names, else its oldest; without a row (adoption), among
 * those with an env-id tag no row has ended: the running one, else the
 * oldest.
 */
static const struct plan_instance *
pick_current(const struct group *g)
{
	const struct plan_instance *best = NULL, *i;
	size_t k;

	for (k = 0; k < g->ninst; k++) {
		const struct iref *r = g->inst[k].obj;

		i = r->inst;
		if (is_going(i))
			continue;
		if (g->live != NULL) {
			if (!is_own(g, r))
				continue;
			if (g->live->instance_id != NULL &&
			    strcmp(g->live->instance_id, i->instance_id) == 0)
				return i;
		} else if (r->ended != NULL || is_empty(i->env_id))
			continue;
		if (best == NULL)
			best = i;
		else if (g->live == NULL &&
		    (i->state == PLAN_INSTANCE_RUNNING) !=
		    (best->state == PLAN_INSTANCE_RUNNING)) {
			if (i->state == PLAN_INSTANCE_RUNNING)
				best = i;
		} else if (older_first(i, best) < 0)
			best = i;
	}
	return best;
}

static void
plan_orphan_candidate(struct ctx *c, const struct group *g,
    const struct iref *r)
{
	const struct plan_instance *i = r->inst;
	int64_t now = c->in->now, grace = c->in->config.orphan_grace;
	const char *reason;

	if (i->launch_time <= 0) {
		EMIT_LIT(c, g, PLAN_NOOP, i, NULL,
		    "orphan grace: launch time unknown");
		return;
	}
	if (now - i->launch_time < grace) {
		char age[NUM_MAX], gr[NUM_MAX];

		emit(c, g, PLAN_NOOP, i, NULL, "orphan grace: launched ",
		    fmt_int(age, now - i->launch_time), "s ago, grace ",
		    fmt_int(gr, grace), "s", NULL);
		return;
	}
	if (r->ended != NULL)
		reason = "orphan: its incarnation has ended";
	else if (is_empty(i->env_id))
		reason = "orphan: no env-id tag";
	else
		reason = "orphan: env id unknown to any live row";
	emit_delete(c, g, PLAN_ORPHAN, i, NULL, reason, true);
}

/* Instances of a desired environment other than the current one. */
static void
plan_extras(struct ctx *c, const struct group *g,
    const struct plan_instance *cur)
{
	size_t k;

	for (k = 0; k < g->ninst; k++) {
		const struct iref *r = g->inst[k].obj;
		char reason[REASON_MAX];

		if (r->inst == cur || is_going(r->inst))
			continue;
		if (is_own(g, r)) {
			cat(reason, sizeof(reason),
			    "duplicate instance of this incarnation (keeping ",
			    cur != NULL ? cur->instance_id : "none", ")", NULL);
			emit_delete(c, g, PLAN_TERMINATE, r->inst, g->live,
			    reason, false);
		} else
			plan_orphan_candidate(c, g, r);
	}
}

/* A desired environment whose live row is in error. */
static void
plan_errored(struct ctx *c, const struct group *g,
    const struct plan_instance *cur)
{
	const struct plan_record *rec = g->live;
	const struct plan_config *cfg = &c->in->config;
	struct plan_action *a;
	char n1[NUM_MAX], n2[NUM_MAX], when[TIME_MAX];

	if (hash_compare(g->d->spec_hash, rec->spec_hash) == HASH_DIFFER) {
		EMIT_LIT(c, g, PLAN_RETRY, cur, rec,
		    "spec changed since the last failure; attempts reset");
		return;
	}
	if (cfg->max_attempts > 0 && rec->attempts >= cfg->max_attempts) {
		emit(c, g, PLAN_GAVE_UP, cur, rec, fmt_int(n1, rec->attempts),
		    " attempts failed; change the spec to try again", NULL);
		return;
	}
	if (c->in->now < rec->next_attempt_at) {
		a = emit(c, g, PLAN_BACKOFF, cur, rec,
		    "attempt ", fmt_int(n1, rec->attempts),
		    " failed; next attempt at ",
		    fmt_time(when, rec->next_attempt_at), " (in ",
		    fmt_int(n2, rec->next_attempt_at - c->in->now), "s)", NULL);
		a->next_attempt_at = rec->next_attempt_at;
		return;
	}
	emit(c, g, PLAN_RETRY, cur, rec, "attempt ",
	    fmt_int(n1, (int64_t)rec->attempts + 1), " of ",
	    fmt_int(n2, cfg->max_attempts), " after error", NULL);
}

static bool
ttl_expired(const struct ctx *c, const struct group *g,
    const struct plan_instance *cur)
{
	const struct plan_record *rec = g->live;
	int64_t born = 0;

	if (g->d->ttl <= 0)
		return false;
	if (rec->created_at > 0)
		born = rec->created_at;
	else if (rec->launched_at > 0)
		born = rec->launched_at;
	else if (cur != NULL)
		born = cur->launch_time;
	return born > 0 && c->in->now - born >= g->d->ttl;
}

/* A desired environment with no live row: adopt, provision, or wait. */
static void
plan_desired_norow(struct ctx *c, const struct group *g,
    const struct plan_instance *cur)
{
	const struct plan_record *last = g->nended > 0 ? g->ended[0].obj : NULL;
	enum hash_cmp h;

	if (cur != NULL) {
		emit(c, g, PLAN_ADOPT, cur, NULL,
		    "row lost: rebuild it from the tags of ", cur->instance_id,
		    " (", state_name(cur->state), ")", NULL);
		return;
	}
	if (last != NULL && last->parked) {
		h = hash_compare(g->d->spec_hash, last->spec_hash);
		if (h == HASH_EQUAL || h == HASH_OTHER_VERSION) {
			emit(c, g, PLAN_NOOP, NULL, last,
			    "parked (idle; `envctl start ", g->d->name, "`)",
			    NULL);
			return;
		}
	}
	if (last != NULL && last->ttl_expired) {
		h = hash_compare(g->d->spec_hash, last->spec_hash);
		if (h == HASH_EQUAL || h == HASH_OTHER_VERSION) {
			EMIT_LIT(c, g, PLAN_NOOP, NULL, last,
			    "ttl expired; change or remove the spec to provision again");
			return;
		}
	}
	EMIT_LIT(c, g, PLAN_PROVISION, NULL, NULL, "new environment");
}

/* Whether EC2 reported instance id shut down from inside (idle). */
static bool
idle_shutdown(const struct ctx *c, const char *id)
{
	size_t i;

	if (id == NULL)
		return false;
	for (i = 0; i < c->in->nidle_shutdown; i++)
		if (c->in->idle_shutdown[i] != NULL &&
		    strcmp(c->in->idle_shutdown[i], id) == 0)
			return true;
	return false;
}

/* A desired environment whose live row has no instance (yet, or any more). */
static void
plan_desired_gone(struct ctx *c, const struct group *g)
{
	const struct plan_record *rec = g->live;

	switch (rec->status) {
	case PLAN_STATUS_READY:
		if (idle_shutdown(c, rec->instance_id)) {
			EMIT_LIT(c, g, PLAN_CLOSE, NULL, rec, PLAN_REASON_PARK);
			break;
		}
		emit(c, g, PLAN_DRIFT_GONE, NULL, rec, "instance ",
		    rec->instance_id != NULL ? rec->instance_id : "?",
		    rec->spot_notice != NULL ? " gone after a spot interruption "
		    "notice; provision again" : " gone out of band; provision again",
		    NULL);
		break;
	case PLAN_STATUS_ERROR:
		plan_errored(c, g, NULL);
		break;
	default:
		emit(c, g, PLAN_ADVANCE, NULL, rec, "provisioning at stage ",
		    stage_name(rec->stage),
		    rec->stage >= PLAN_STAGE_INSTANCE_LAUNCHED ?
		    "; instance not visible yet" : "", NULL);
		break;
	}
}

/* A desired environment whose live row has its instance cur. */
static void
plan_desired_present(struct ctx *c, const struct group *g,
    const struct plan_instance *cur)
{
	const struct plan_desired *d = g->d;
	const struct plan_record *rec = g->live;
	enum hash_cmp h = hash_compare(d->spec_hash, cur->spec_hash);
	char reason[REASON_MAX], have[25], want[25];

	/*
	 * The instance said EC2 gave it a spot notice (its interrupted
	 * marker): replace it now, while it may still save work, without
	 * waiting for it to vanish (docs/design.md §6.7.1).
	 */
	if (rec->status == PLAN_STATUS_READY && rec->spot_notice != NULL) {
		cat(reason, sizeof(reason), "spot interruption notice (",
		    rec->spot_notice, ")", NULL);
		emit_delete(c, g, PLAN_REPLACE, cur, rec, reason, false);
		return;
	}
	/*
	 * Stopped (by `envctl stop`, the idle watcher or anyone) is a state
	 * of a live environment, not drift: left alone, never replaced while
	 * it keeps its disk; TTL and spec removal still end it (above).
	 */
	if (is_halted(cur) && rec->status == PLAN_STATUS_READY) {
		emit(c, g, PLAN_NOOP, cur, rec, state_name(cur->state),
		    h == HASH_DIFFER ? "; spec changed, acted on once started" :
		    "", NULL);
		return;
	}
	if (cur->state == PLAN_INSTANCE_RUNNING && h == HASH_DIFFER) {
		cat(have, sizeof(have), cur->spec_hash, NULL);
		cat(want, sizeof(want), d->spec_hash, NULL);
		cat(reason, sizeof(reason), "spec changed: instance has ", have,
		    ", spec is ", want, NULL);
		if (d->on_drift == PLAN_ON_DRIFT_REPLACE)
			emit_delete(c, g, PLAN_REPLACE, cur, rec, reason, false);
		else
			emit(c, g, PLAN_DRIFT_REPORT, cur, rec, reason,
			    " (on_drift: report)", NULL);
		return;
	}
	if (cur->state == PLAN_INSTANCE_RUNNING && h == HASH_MISSING) {
		EMIT_LIT(c, g, PLAN_DRIFT_REPORT, cur, rec,
		    "instance has no spec-hash tag");
		return;
	}
	switch (rec->status) {
	case PLAN_STATUS_READY:
		if (h == HASH_EQUAL && cur->state == PLAN_INSTANCE_RUNNING)
			EMIT_LIT(c, g, PLAN_NOOP, cur, rec, "up to date (running)");
		else
			emit(c, g, PLAN_NOOP, cur, rec, "up to date (",
			    state_name(cur->state), ")",
			    h == HASH_OTHER_VERSION ? "; spec-hash tag from an "
			    "older canonical form, re-stamped later" : "", NULL);
		break;
	case PLAN_STATUS_ERROR:
		plan_errored(c, g, cur);
		break;
	default:
		emit(c, g, PLAN_ADVANCE, cur, rec, "provisioning at stage ",
		    stage_name(rec->stage), ", instance ",
		    state_name(cur->state), NULL);
		break;
	}
}

/*
 * A valid desired environment: its current incarnation's action, then
 * what to do with any other instance of that name.
 */
static void
plan_desired(struct ctx *c, const struct group *g)
{
	const struct plan_record *rec = g->live;
	const struct plan_instance *cur = pick_current(g);
	char reason[REASON_MAX], n1[NUM_MAX];

	if (rec == NULL)
		plan_desired_norow(c, g, cur);
	else if (ttl_expired(c, g, cur)) {
		cat(reason, sizeof(reason), "ttl expired (ttl ",
		    fmt_int(n1, g->d->ttl), "s)", NULL);
		emit_delete(c, g, cur != NULL ? PLAN_TERMINATE : PLAN_CLOSE,
		    cur, rec, reason, false);
	} else if (rec->status == PLAN_STATUS_TERMINATING)
		emit_delete(c, g, cur != NULL ? PLAN_TERMINATE : PLAN_CLOSE,
		    cur, rec, "termination in progress", true);
	else if (cur == NULL)
		plan_desired_gone(c, g);
	else
		plan_desired_present(c, g, cur);
	plan_extras(c, g, cur);
}

/* A name no spec asks for: terminate what its row owns, close the row. */
static void
plan_undesired(struct ctx *c, const struct group *g)
{
	bool any = false, going = false;
	size_t k;

	for (k = 0; k < g->ninst; k++) {
		const struct iref *r = g->inst[k].obj;

		if (!is_own(g, r))
			continue;
		if (is_going(r->inst)) {
			going = true;
			continue;
		}
		emit_delete(c, g, PLAN_TERMINATE, r->inst, g->live,
		    "spec removed", true);
		any = true;
	}
	if (g->live != NULL && !any)
		emit_delete(c, g, PLAN_CLOSE, NULL, g->live, going ?
		    "spec removed; instance already shutting down" :
		    "spec removed; no instance", true);
	for (k = 0; k < g->ninst; k++) {
		const struct iref *r = g->inst[k].obj;

		if (!is_own(g, r) && !is_going(r->inst))
			plan_orphan_candidate(c, g, r);
	}
}

static void
plan_group(struct ctx *c, const struct group *g)
{
	size_t k;

	if (g->d != NULL && !g->d->valid) {
		const struct plan_instance *shown = NULL;

			for (k = 0; k < g->ninst && shown == NULL; k++) {
			const struct iref *r = g->inst[k].obj;

			if (!is_going(r->inst))
				shown = r->inst;
		}
		EMIT_LIT(c, g, PLAN_NOOP, shown, g->live,
		    "invalid spec, left alone");
	} else if (g->d != NULL)
		plan_desired(c, g);
	else
		plan_undesired(c, g);

	for (k = 0; k < g->nended; k++) {
		const struct plan_record *e = g->ended[k].obj;

		if (e->has_leftovers)
			EMIT_LIT(c, g, PLAN_GC, NULL, e,
			    "leftovers of an ended incarnation");
	}
}

/* ---- keying and merging (sorting: skey.c, env ids: idtab.c) ---------- */

/* Rows of one name: the live row first; then ended rows newest first, env id. */
static int
tie_record(const struct skey *a, const struct skey *b)
{
	const struct plan_record *x = a->obj, *y = b->obj;

	if (is_live_status(x->status) != is_live_status(y->status))
		return is_live_status(x->status) ? -1 : 1;
	if (x->created_at != y->created_at)
		return x->created_at > y->created_at ? -1 : 1;
	return strcmp(x->env_id, y->env_id);
}

/* Instances of one environment: by instance id. */
static int
tie_iref(const struct skey *a, const struct skey *b)
{
	const struct iref *x = a->obj, *y = b->obj;

	return strcmp(x->inst->instance_id, y->inst->instance_id);
}

/* Checks that need no pass over the entries (those come while keying). */
static int
check_input(const struct plan_input *in)
{
	if (is_empty(in->config.cluster_id)) {
		err_set("plan: config has no cluster id");
		return ERR_INVALID;
	}
	if ((in->desired.n > 0 && in->desired.v == NULL) ||
	    (in->observed.n > 0 && in->observed.v == NULL) ||
	    (in->records.n > 0 && in->records.v == NULL) ||
	    (in->nterminated > 0 && in->terminated == NULL)) {
		err_set("plan: input array missing");
		return ERR_INVALID;
	}
	return 0;
}

/* Key the desired entries by name, checking each. */
static int
key_desired(struct skey *out, const struct plan_input *in)
{
	size_t k;

	for (k = 0; k < in->desired.n; k++) {
		const struct plan_desired *d = &in->desired.v[k];

		if (is_empty(d->name) || (d->valid && is_empty(d->spec_hash))) {
			err_set("plan: desired entry %zu lacks %s", k,
			    is_empty(d->name) ? "a name" : "a spec hash");
			return ERR_INVALID;
		}
		skey_set(&out[k], d->name, d);
	}
	return 0;
}

/* Key the rows by name and enter them in the env id table. */
static int
key_records(struct skey *out, struct idtab *ids, const struct plan_input *in)
{
	size_t k;
	int error;

	for (k = 0; k < in->records.n; k++) {
		const struct plan_record *r = &in->records.v[k];

		if (is_empty(r->env_id) || is_empty(r->name)) {
			err_set("plan: record %zu lacks %s", k,
			    is_empty(r->env_id) ? "an env id" : "a name");
			return ERR_INVALID;
		}
		skey_set(&out[k], r->name, r);
		if ((error = idtab_add(ids, r)) != 0)
			return error;
	}
	return 0;
}

static void
plan_halt(struct ctx *c)
{
	const struct plan_input *in = c->in;

	emit(c, NULL, PLAN_HALT, NULL, NULL, "fail closed, no changes:",
	    in->desired.source_usable ? "" : " spec source unusable;",
	    in->observed.ok ? "" : " instance discovery failed;",
	    in->records.ok ? "" : " store unreachable;", NULL);
}

/*
 * Tie each of our instances to an environment name: out[k] gets the
 * tie, keys[k] its key; *np gets the count.
 */
static int
key_instances(struct iref *out, struct skey *keys, size_t *np,
    struct plan *p, const struct plan_input *in, const struct idtab *ids)
{
	size_t k, n = 0;

	for (k = 0; k < in->observed.n; k++) {
		const struct plan_instance *i = &in->observed.v[k];
		const struct plan_record *r = NULL;
		struct iref *ir;

		if (is_empty(i->instance_id)) {
			err_set("plan: instance %zu lacks an id", k);
			return ERR_INVALID;
		}
		if (!i->managed || i->state == PLAN_INSTANCE_TERMINATED ||
		    is_empty(i->cluster_id) ||
		    strcmp(i->cluster_id, in->config.cluster_id) != 0) {
			p->ignored++;
			continue;
		}
		ir = &out[n++];
		memset(ir, 0, sizeof(*ir));
		ir->inst = i;
		if (!is_empty(i->env_id))
			r = idtab_find(ids, i->env_id);
		if (r != NULL && is_live_status(r->status)) {
			ir->rec = r;
			skey_set(&keys[n - 1], r->name, ir);
		} else {
			ir->ended = r;
			skey_set(&keys[n - 1], i->env_name != NULL ? i->env_name : "",
			    ir);
		}
	}
	*np = n;
	return 0;
}

static int
check_unique(const struct skey *d, size_t nd, const struct skey *byname,
    size_t nr, const struct skey *ik, size_t ni)
{
	size_t k;

	for (k = 1; k < nd; k++)
		if (skey_cmp(&d[k - 1], &d[k]) == 0) {
			err_set("plan: two desired entries named %s", d[k].s);
			return ERR_INVALID;
		}
	for (k = 1; k < nr; k++) {
		const struct plan_record *x = byname[k - 1].obj, *y = byname[k].obj;

		if (is_live_status(x->status) && is_live_status(y->status) &&
		    skey_cmp(&byname[k - 1], &byname[k]) == 0) {
			err_set("plan: two live rows named %s", y->name);
			return ERR_INVALID;
		}
	}
	for (k = 1; k < ni; k++)
		if (skey_cmp(&ik[k - 1], &ik[k]) == 0 &&
		    tie_iref(&ik[k - 1], &ik[k]) == 0) {
			err_set("plan: instance %s listed twice",
			    ((const struct iref *)ik[k].obj)->inst->instance_id);
			return ERR_INVALID;
		}
	return 0;
}

static const struct skey *
min_key(const struct skey *a, const struct skey *b)
{
	if (a == NULL)
		return b;
	if (b == NULL)
		return a;
	return skey_cmp(a, b) <= 0 ? a : b;
}

/* Walk the three sorted lists one environment name at a time. */
static void
merge(struct ctx *c, const struct skey *d, size_t nd, const struct skey *r,
    size_t nr, const struct skey *ik, size_t ni)
{
	size_t i = 0, j = 0, k = 0;

	while (i < nd || j < nr || k < ni) {
		struct group g;
		struct skey key;
		const struct skey *m = NULL;

		if (i < nd)
			m = &d[i];
		if (j < nr)
			m = min_key(m, &r[j]);
		if (k < ni)
			m = min_key(m, &ik[k]);
		key = *m;

		memset(&g, 0, sizeof(g));
		g.name = key.s;		/* the input's: see plan_build() */
		if (i < nd && skey_cmp(&d[i], &key) == 0)
			g.d = d[i++].obj;
		if (j < nr && skey_cmp(&r[j], &key) == 0 &&
		    is_live_status(((const struct plan_record *)r[j].obj)->status))
			g.live = r[j++].obj;
		g.ended = &r[j];
		while (j < nr && skey_cmp(&r[j], &key) == 0) {
			j++;
			g.nended++;
		}
		g.inst = &ik[k];
		while (k < ni && skey_cmp(&ik[k], &key) == 0) {
			k++;
			g.ninst++;
		}
		plan_group(c, &g);
	}
}

/* ---- public ---------------------------------------------------------- */

const char *
plan_action_held_why(const struct plan_action *a)
{
	const char *p, *last = NULL;

	if (a->kind != PLAN_BLOCKED || a->reason == NULL)
		return "";
	for (p = a->reason; (p = strstr(p, HELD_SEP)) != NULL; p++)
		last = p;
	return last != NULL ? last + strlen(HELD_SEP) : "";
}

enum plan_hold
plan_action_hold(const struct plan_action *a)
{
	const char *why = plan_action_held_why(a);

	if (a->kind != PLAN_BLOCKED)
		return PLAN_HOLD_NONE;
	if (strcmp(why, WHY_EMPTY) == 0)
		return PLAN_HOLD_EMPTY;
	if (strcmp(why, WHY_PROTECTION) == 0)
		return PLAN_HOLD_PROTECTION;
	if (strncmp(why, WHY_PASS, strlen(WHY_PASS)) == 0)
		return PLAN_HOLD_PASS;
	if (strncmp(why, WHY_WINDOW, strlen(WHY_WINDOW)) == 0)
		return PLAN_HOLD_WINDOW;
	if (strncmp(why, WHY_QUOTA, strlen(WHY_QUOTA)) == 0)
		return PLAN_HOLD_QUOTA;
	return PLAN_HOLD_NONE;
}

const char *
plan_hold_name(enum plan_hold h)
{
	static const char *const names[PLAN_HOLD_COUNT] = {
		[PLAN_HOLD_NONE] = "none",
		[PLAN_HOLD_EMPTY] = "empty-tree",
		[PLAN_HOLD_PROTECTION] = "protection",
		[PLAN_HOLD_PASS] = "pass-budget",
		[PLAN_HOLD_WINDOW] = "window-budget",
		[PLAN_HOLD_QUOTA] = "quota",
	};

	return (unsigned)h < PLAN_HOLD_COUNT ? names[h] : "none";
}

void
plan_config_init(struct plan_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_terminations_per_pass = 10;
	cfg->budget_count = 10;
	cfg->budget_window = 600;
	cfg->orphan_grace = 600;
	cfg->backoff_base = 30;
	cfg->backoff_cap = 3600;
	cfg->max_attempts = 5;
}

int64_t
plan_backoff_delay(const struct plan_config *cfg, unsigned attempts)
{
	int64_t d = cfg->backoff_base;
	unsigned k;

	if (attempts == 0 || d <= 0)
		return 0;
	for (k = 1; k < attempts && d < cfg->backoff_cap; k++) {
		if (d > INT64_MAX / 2)
			return cfg->backoff_cap;
		d *= 2;
	}
	return d < cfg->backoff_cap ? d : cfg->backoff_cap;
}

/* ---- quotas ----------------------------------------------------------- */

struct quota_use {
	unsigned	 envs;
	unsigned	 vcpus;
	double		 usd;
};

/* Does quota q count an environment of workspace ws? */
static bool
quota_covers(const struct plan_quota *q, const char *ws)
{
	return q->workspace == NULL ||
	    (ws != NULL && strcmp(q->workspace, ws) == 0);
}

/* Add (sign 1) what d (NULL: unknown) takes, for an environment of ws. */
static void
quota_add(struct quota_use *use, const struct plan_config *cfg,
    const char *ws, const struct plan_desired *d)
{
	size_t k;

	for (k = 0; k < cfg->nquotas; k++) {
		if (!quota_covers(&cfg->quotas[k], ws))
			continue;
		use[k].envs++;
		if (d != NULL) {
			use[k].vcpus += d->vcpus;
			use[k].usd += d->usd_per_hour;
		}
	}
}

/*
 * Why d does not fit (into why, whysz), or "" when it does: the first
 * quota of its that one more environment of d would go over.
 */
static void
quota_check(char *why, size_t whysz, const struct quota_use *use,
    const struct plan_config *cfg, const struct plan_desired *d)
{
	const struct plan_quota *q;
	char a[NUM_MAX], b[NUM_MAX], c[NUM_MAX], scope[96];
	size_t k;

	*why = '\0';
	for (k = 0; k < cfg->nquotas; k++) {
		q = &cfg->quotas[k];
		if (!quota_covers(q, d->workspace))
			continue;
		cat(scope, sizeof(scope), q->workspace != NULL ? "of workspace " :
		    "of the cluster", q->workspace != NULL ? q->workspace : "",
		    NULL);
		if (q->max_envs > 0 && use[k].envs + 1 > q->max_envs) {
			cat(why, whysz, WHY_QUOTA, scope, ": environments ",
			    fmt_int(a, use[k].envs), " + 1 > ",
			    fmt_int(b, q->max_envs), NULL);
			return;
		}
		if (q->max_vcpus > 0 && use[k].vcpus + d->vcpus > q->max_vcpus) {
			cat(why, whysz, WHY_QUOTA, scope, ": vCPUs ",
			    fmt_int(a, use[k].vcpus), " + ", fmt_int(b, d->vcpus),
			    " > ", fmt_int(c, q->max_vcpus), NULL);
			return;
		}
		if (q->max_usd_per_hour > 0 &&
		    use[k].usd + d->usd_per_hour > q->max_usd_per_hour + 1e-9) {
			snprintf(a, sizeof(a), "%.4f", use[k].usd);
			snprintf(b, sizeof(b), "%.4f", d->usd_per_hour);
			snprintf(c, sizeof(c), "%.4f", q->max_usd_per_hour);
			cat(why, whysz, WHY_QUOTA, scope, ": $/h ", a, " + ", b,
			    " > ", c, NULL);
			return;
		}
	}
}

/* PROVISION actions by how long they waited (waiting_since, 0 last), then name. */
static const struct plan_input *quota_in;

static int
quota_order(const void *x, const void *y)
{
	const struct plan_action *a = *(const struct plan_action *const *)x;
	const struct plan_action *b = *(const struct plan_action *const *)y;
	int64_t wa = quota_in->desired.v[a->desired_index].waiting_since;
	int64_t wb = quota_in->desired.v[b->desired_index].waiting_since;

	if (wa != wb) {
		if (wa == 0 || wb == 0)
			return wa == 0 ? 1 : -1;
		return wa < wb ? -1 : 1;
	}
	return strcmp(a->name, b->name);
}

/* Hold the new incarnations the quotas have no room for (see plan.h). */
static void
quota_apply(struct ctx *c)
{
	const struct plan_input *in = c->in;
	const struct plan_config *cfg = &in->config;
	struct quota_use *use;
	struct plan_action **prov = NULL;
	unsigned char *counted;
	char why[REASON_MAX];
	size_t i, nprov = 0;

	if (cfg->nquotas == 0)
		return;
	use = xcalloc(cfg->nquotas, sizeof(*use));
	counted = xcalloc(in->records.n + 1, 1);
	/* what is live uses its quotas, whatever the plan does with it */
	for (i = 0; i < c->p->n; i++) {
		const struct plan_action *a = &c->p->v[i];
		const struct plan_record *r;

		if (a->record_index == PLAN_NONE || counted[a->record_index])
			continue;
		r = &in->records.v[a->record_index];
		if (!is_live_status(r->status))
			continue;
		counted[a->record_index] = 1;
		if (a->desired_index != PLAN_NONE)
			quota_add(use, cfg, in->desired.v[a->desired_index].workspace,
			    &in->desired.v[a->desired_index]);
		else
			quota_add(use, cfg, r->workspace, NULL);
	}
	for (i = 0; i < in->records.n; i++)
		if (!counted[i] && is_live_status(in->records.v[i].status))
			quota_add(use, cfg, in->records.v[i].workspace, NULL);
	for (i = 0; i < c->p->n; i++)
		if (c->p->v[i].kind == PLAN_PROVISION &&
		    c->p->v[i].desired_index != PLAN_NONE) {
			prov = xreallocarray(prov, nprov + 1, sizeof(*prov));
			prov[nprov++] = &c->p->v[i];
		}
	quota_in = in;
	if (nprov > 1)
		qsort(prov, nprov, sizeof(*prov), quota_order);
	for (i = 0; i < nprov; i++) {
		const struct plan_desired *d = &in->desired.v[prov[i]->desired_index];

		quota_check(why, sizeof(why), use, cfg, d);
		if (*why == '\0') {
			quota_add(use, cfg, d->workspace, d);
			continue;
		}
		/* each why is its own: block() caches by pointer */
		block(c, prov[i], arena_strdup(&c->p->strings, why));
	}
	free(prov);
	free(counted);
	free(use);
}

int
plan_build(struct plan **out, const struct plan_input *in)
{
	struct skey *d = NULL, *byname = NULL, *ik = NULL, *tmp = NULL;
	struct idtab ids = { NULL, 0 };
	struct iref *ir = NULL;
	size_t most;
	struct plan *p = NULL;
	struct ctx c;
	size_t ni = 0;
	char n1[NUM_MAX];
	int error = -1;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	if ((error = check_input(in)) != 0)
		goto done;

	p = xcalloc(1, sizeof(*p));
	p->mem = sizeof(*p);
	c.in = in;
	c.p = p;
	c.empty = (in->desired.tree_empty || in->desired.n == 0) &&
	    !in->config.allow_empty;
	cat(c.budget_why, sizeof(c.budget_why), WHY_PASS,
	    fmt_int(n1, in->config.max_terminations_per_pass),
	    " per pass used (force lifts it)", NULL);
	window_init(&c);

	if (!in->desired.source_usable || !in->observed.ok || !in->records.ok) {
		plan_halt(&c);
		error = 0;
		goto done;
	}

	d = xreallocarray(NULL, in->desired.n + 1, sizeof(*d));
	byname = xreallocarray(NULL, in->records.n + 1, sizeof(*byname));
	ir = xreallocarray(NULL, in->observed.n + 1, sizeof(*ir));
	ik = xreallocarray(NULL, in->observed.n + 1, sizeof(*ik));
	most = in->desired.n > in->records.n ? in->desired.n : in->records.n;
	if (in->observed.n > most)
		most = in->observed.n;
	tmp = xreallocarray(NULL, most + 1, sizeof(*tmp));
	idtab_init(&ids, in->records.n);
	if ((error = key_desired(d, in)) != 0 ||
	    (error = key_records(byname, &ids, in)) != 0 ||
	    (error = key_instances(ir, ik, &ni, p, in, &ids)) != 0)
		goto done;
	skey_sort(d, tmp, in->desired.n, NULL);
	skey_sort(byname, tmp, in->records.n, tie_record);
	skey_sort(ik, tmp, ni, tie_iref);
	/* what only keying and sorting needed goes before the actions come */
	free(ids.slot);
	ids.slot = NULL;
	free(tmp);
	tmp = NULL;

	if ((error = check_unique(d, in->desired.n, byname, in->records.n,
	    ik, ni)) != 0)
		goto done;

	/* room for the usual count at once: no copies while growing */
	reserve(p, in->desired.n + in->records.n + ni + 1);
	merge(&c, d, in->desired.n, byname, in->records.n, ik, ni);
	quota_apply(&c);
	if (p->n < p->cap) {
		p->v = xreallocarray(p->v, p->n + 1, sizeof(*p->v));
		p->mem -= (p->cap - p->n - 1) * sizeof(*p->v);
		p->cap = p->n + 1;
	}
	error = 0;
done:
	free(d);
	free(byname);
	free(ids.slot);
	free(ir);
	free(ik);
	free(tmp);
	free(c.window_t);
	if (error == 0)
		*out = p;
	else
		plan_free(p);
	return error;
}

void
plan_free(struct plan *p)
{
	if (p == NULL)
		return;
	arena_dispose(&p->strings);
	free(p->v);
	free(p);
}

size_t
plan_count(const struct plan *p)
{
	return p->n;
}

const struct plan_action *
plan_action_at(const struct plan *p, size_t i)
{
	return i < p->n ? &p->v[i] : NULL;
}

size_t
plan_count_kind(const struct plan *p, enum plan_kind kind)
{
	if ((unsigned)kind >= PLAN_KIND_COUNT)
		return 0;
	return p->counts[kind];
}

bool
plan_has_changes(const struct plan *p)
{
	unsigned k;

	for (k = 0; k < PLAN_KIND_COUNT; k++)
		if (p->counts[k] > 0 && plan_kind_is_change((enum plan_kind)k))
			return true;
	return false;
}

bool
plan_halted(const struct plan *p)
{
	return p->counts[PLAN_HALT] > 0;
}

size_t
plan_ignored(const struct plan *p)
{
	return p->ignored;
}

size_t
plan_mem_bytes(const struct plan *p)
{
	return p->mem + arena_bytes(&p->strings);
}

const char *
plan_stage_name(enum plan_record_stage s)
{
	return stage_name(s);
}

const struct plan_kind_info *
plan_kind_info(enum plan_kind kind)
{
	if ((unsigned)kind >= PLAN_KIND_COUNT || kinds[kind].name == NULL)
		return &kind_unknown;
	return &kinds[kind];
}

const char *
plan_kind_name(enum plan_kind kind)
{
	return plan_kind_info(kind)->name;
}

char
plan_kind_symbol(enum plan_kind kind)
{
	return plan_kind_info(kind)->symbol;
}

size_t
plan_count_drift(const struct plan *p)
{
	size_t n = 0;
	unsigned k;

	for (k = 0; k < PLAN_KIND_COUNT; k++)
		if (kinds[k].is_drift)
			n += p->counts[k];
	return n;
}

bool
plan_kind_is_change(enum plan_kind kind)
{
	return (unsigned)kind < PLAN_KIND_COUNT && kind != PLAN_NOOP &&
	    kind != PLAN_HALT;
}
