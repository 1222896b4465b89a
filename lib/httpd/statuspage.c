/*
 * statuspage.c - the read-only HTML status page served at "/".
 *
 * One self-contained document: inline CSS, no scripts, no external
 * assets, refreshed by a meta tag.  Every string shown comes from specs,
 * AWS or the database and goes through httpd_html_escape(); status
 * colours come from a fixed mapping, never from the status text itself.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "err.h"
#include "httpd.h"
#include "mem.h"

#define ERROR_SHOWN_MAX	300	/* bytes of last_error shown */

static const char page_css[] =
    "*{box-sizing:border-box}"
    "body{margin:0;font:14px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;"
    "color:#1f2328;background:#f6f8fa}"
    "header{background:#24292f;color:#fff;padding:14px 24px;display:flex;"
    "flex-wrap:wrap;align-items:baseline;gap:8px 28px}"
    "header h1{font-size:20px;margin:0 12px 0 0;letter-spacing:.5px}"
    ".fact{font-size:13px;color:#d0d7de}.fact b{color:#fff;font-weight:600}"
    "main{padding:16px 24px}"
    "h2{font-size:16px;margin:18px 0 8px}"
    ".counts span{display:inline-block;margin:0 6px 6px 0}"
    "table{border-collapse:collapse;width:100%;background:#fff;"
    "border:1px solid #d0d7de;border-radius:6px}"
    "th,td{padding:6px 10px;text-align:left;border-bottom:1px solid #eaeef2;"
    "vertical-align:top}"
    "th{background:#f0f3f6;font-weight:600;font-size:12px;text-transform:uppercase;"
    "letter-spacing:.4px;color:#57606a}"
    "tr:last-child td{border-bottom:none}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "td.mono,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12.5px}"
    "td.mono{white-space:nowrap}"
    "td.name{font-weight:600}"
    "td.err{color:#a40e26;max-width:28em;overflow-wrap:anywhere}"
    ".st{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;"
    "font-weight:600;border:1px solid transparent;white-space:nowrap}"
    ".st-ok{background:#dafbe1;color:#116329;border-color:#aceebb}"
    ".st-busy{background:#ddf4ff;color:#0550ae;border-color:#b6e3ff}"
    ".st-warn{background:#fff8c5;color:#7d4e00;border-color:#f2cc60}"
    ".st-bad{background:#ffebe9;color:#a40e26;border-color:#ffcecb}"
    ".st-off{background:#eaeef2;color:#57606a;border-color:#d0d7de}"
    ".st-other{background:#fbefff;color:#6639ba;border-color:#e6d2fb}"
    ".fact b.role-leader{color:#4ac26b}.fact b.role-standby{color:#f2cc60}"
    "tr.ev-bad td{background:#fff5f5}"
    ".empty{color:#57606a;font-style:italic}"
    "footer{color:#57606a;font-size:12px;padding:12px 24px 24px}"
    "a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}"
    ".cards{display:flex;flex-wrap:wrap;gap:16px}"
    ".card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;"
    "min-width:260px}"
    ".card dt{font-size:12px;color:#57606a;text-transform:uppercase;letter-spacing:.4px}"
    ".card dd{margin:0 0 8px 0}"
    "ul.checks{list-style:none;padding:0;margin:0}ul.checks li{margin:4px 0}"
    "pre.connect{background:#24292f;color:#fff;padding:8px 12px;border-radius:6px;"
    "display:inline-block;margin:0}"
    "svg.hist{background:#fff;border:1px solid #d0d7de;border-radius:6px}"
    "svg.hist rect{fill:#54aeff}svg.hist text{font-size:11px;fill:#57606a}";

struct status_class {
	const char	*status;
	const char	*cls;
};

static const struct status_class status_classes[] = {
	{ "ready",		"st-ok" },
	{ "running",		"st-ok" },
	{ "converged",		"st-ok" },
	{ "provisioning",	"st-busy" },
	{ "pending",		"st-busy" },
	{ "creating",		"st-busy" },
	{ "starting",		"st-busy" },
	{ "replacing",		"st-busy" },
	{ "drift",		"st-warn" },
	{ "drifted",		"st-warn" },
	{ "stopping",		"st-warn" },
	{ "error",		"st-bad" },
	{ "failed",		"st-bad" },
	{ "terminating",	"st-off" },
	{ "terminated",		"st-off" },
	{ "stopped",		"st-off" },
	{ "closed",		"st-off" },
	{ "shutting-down",	"st-off" },
};

static const char *
status_class(const char *status)
{
	size_t i;

	if (status == NULL)
		return "st-other";
	for (i = 0; i < sizeof(status_classes) / sizeof(status_classes[0]); i++)
		if (strcmp(status, status_classes[i].status) == 0)
			return status_classes[i].cls;
	return "st-other";
}

void
httpd_duration_format(char *out, size_t outsz, int64_t s)
{
	if (s < 0)
		snprintf(out, outsz, "-");
	else if (s < 60)
		snprintf(out, outsz, "%" PRId64 "s", s);
	else if (s < 3600)
		snprintf(out, outsz, "%" PRId64 "m %" PRId64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(out, outsz, "%" PRId64 "h %" PRId64 "m", s / 3600,
		    s % 3600 / 60);
	else
		snprintf(out, outsz, "%" PRId64 "d %" PRId64 "h", s / 86400,
		    s % 86400 / 3600);
}

/* Escape s, or "-" when NULL or empty. */
static int
text(struct buf *out, const char *s)
{
	if (s == NULL || *s == '\0')
		return buf_addch(out, '-');
	return httpd_html_escape(out, s);
}

/* Escape at most max bytes of s, cut on a UTF-8 boundary, with an ellipsis. */
static int
text_cut(struct buf *out, const char *s, size_t max)
{
	struct buf tmp;
	size_t len;
	int error;

	if (s == NULL || strlen(s) <= max)
		return text(out, s);
	len = max;
	while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
		len--;
	buf_init(&tmp, max + 1);
	buf_add(&tmp, s, len);
	error = httpd_html_escape(out, buf_cstr(&tmp));
	buf_dispose(&tmp);
	if (error == 0)
		error = buf_addstr(out, "\xe2\x80\xa6");
	return error;
}

static int
cell(struct buf *out, const char *cls, const char *s)
{
	int error = 0;

	if (cls != NULL)
		error |= buf_printf(out, "<td class=\"%s\">", cls);
	else
		error |= buf_addstr(out, "<td>");
	error |= text(out, s);
	error |= buf_addstr(out, "</td>");
	return error;
}

/* The page's header: the cluster's facts, and nenvs unless SIZE_MAX. */
static int
render_header(struct buf *out, const struct httpd_status_facts *f,
    size_t nenvs)
{
	char age[32];
	int error = 0;

	error |= buf_addstr(out, "<header><h1>envctl</h1>");
	error |= buf_addstr(out, "<span class=\"fact\">cluster <b>");
	error |= text(out, f->cluster_id);
	error |= buf_printf(out, "</b></span><span class=\"fact\">role <b class=\"%s\">%s</b></span>",
	    f->leader ? "role-leader" : "role-standby",
	    f->leader ? "leader" : "standby");
	error |= buf_addstr(out, "<span class=\"fact\">revision <b class=\"mono\">");
	error |= text_cut(out, f->revision, 12);
	httpd_duration_format(age, sizeof(age), f->last_pass_age);
	error |= buf_printf(out, "</b></span><span class=\"fact\">last pass <b>%s%s</b></span>",
	    f->last_pass_age < 0 ? "never" : age, f->last_pass_age < 0 ? "" : " ago");
	if (nenvs != SIZE_MAX)	/* SIZE_MAX: a page of one environment */
		error |= buf_printf(out, "<span class=\"fact\">environments "
		    "<b>%zu</b></span>", nenvs);
	error |= buf_addstr(out, "</header>\n");
	return error;
}

static void
envs_array_at(const void *arg, size_t i, struct httpd_status_env *out)
{
	*out = ((const struct httpd_status_env *)arg)[i];
}

void
httpd_status_envs_of(struct httpd_status_envs *envs,
    const struct httpd_status_env *v, size_t n)
{
	envs->n = n;
	envs->at = envs_array_at;
	envs->arg = v;
}

/* <a href="/env?name=NAME">NAME</a>, the name percent-encoded in the link. */
static int
env_link(struct buf *out, const char *name)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	int error = 0;

	if (name == NULL)
		return text(out, name);
	error |= buf_addstr(out, "<a href=\"/env?name=");
	for (p = (const unsigned char *)name; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		    *p == '.')
			error |= buf_add(out, (const char *)p, 1);
		else
			error |= buf_printf(out, "%%%c%c", hex[*p >> 4],
			    hex[*p & 15]);
	}
	error |= buf_addstr(out, "\">");
	error |= text(out, name);
	error |= buf_addstr(out, "</a>");
	return error;
}

/* "ready 3 · error 1" chips, in the order statuses first appear. */
static int
render_counts(struct buf *out, const struct httpd_status_envs *envs)
{
	struct httpd_status_env e;
	struct { char *st; size_t count; } *seen = NULL;
	size_t i, j, nseen = 0;
	int error = 0;

	for (i = 0; i < envs->n; i++) {
		const char *st;

		envs->at(envs->arg, i, &e);
		st = e.status ? e.status : "";
		for (j = 0; j < nseen && strcmp(seen[j].st, st) != 0; j++)
			;
		if (j == nseen) {
			seen = xreallocarray(seen, nseen + 1, sizeof(*seen));
			seen[nseen].st = xstrdup(st);
			seen[nseen++].count = 0;
		}
		seen[j].count++;
	}
	error |= buf_addstr(out, "<p class=\"counts\">");
	for (j = 0; j < nseen; j++) {
		error |= buf_printf(out, "<span class=\"st %s\">",
		    status_class(seen[j].st));
		error |= text(out, seen[j].st);
		error |= buf_printf(out, " %zu</span>", seen[j].count);
		free(seen[j].st);
	}
	free(seen);
	error |= buf_addstr(out, "</p>\n");
	return error;
}

static int
render_envs(struct buf *out, const struct httpd_status_envs *envs)
{
	struct httpd_status_env env, *e = &env;
	char age[32];
	size_t i, n = envs->n;
	int error = 0;

	error |= buf_printf(out, "<h2>Environments (%zu)</h2>\n", n);
	if (n == 0)
		return error | buf_addstr(out, "<p class=\"empty\">No environments.</p>\n");
	error |= render_counts(out, envs);
	error |= buf_addstr(out, "<table id=\"environments\"><thead><tr>"
	    "<th>Name</th><th>Workspace</th><th>Status</th><th>Stage</th>"
	    "<th>Instance</th><th>State</th><th>IP</th><th>Age</th>"
	    "<th>Cost</th><th>Last error</th></tr></thead><tbody>\n");
	for (i = 0; i < n && error == 0; i++) {
		envs->at(envs->arg, i, e);
		error |= buf_addstr(out, "<tr><td class=\"name\">");
		error |= env_link(out, e->name);
		error |= buf_addstr(out, "</td>");
		error |= cell(out, NULL, e->workspace);
		error |= buf_printf(out, "<td><span class=\"st %s\">",
		    status_class(e->status));
		error |= text(out, e->status);
		error |= buf_addstr(out, "</span></td>");
		error |= cell(out, NULL, e->stage);
		error |= cell(out, "mono", e->instance_id);
		error |= cell(out, NULL, e->state);
		error |= cell(out, "mono", e->ip);
		httpd_duration_format(age, sizeof(age), e->age_seconds);
		error |= buf_printf(out, "<td class=\"num\">%s</td>", age);
		if (e->cost < 0)
			error |= buf_addstr(out, "<td class=\"num\">-</td>");
		else
			error |= buf_printf(out, "<td class=\"num\">$%.2f</td>", e->cost);
		error |= buf_addstr(out, "<td class=\"err\">");
		if (e->last_error != NULL && *e->last_error != '\0')
			error |= text_cut(out, e->last_error, ERROR_SHOWN_MAX);
		error |= buf_addstr(out, "</td></tr>\n");
	}
	error |= buf_addstr(out, "</tbody></table>\n");
	return error;
}

/* The actions the last pass held, with the rule and its reason. */
static int
render_held(struct buf *out, const struct httpd_status_facts *f)
{
	size_t i;
	int error = 0;

	if (f->nheld_total == 0)
		return 0;
	error |= buf_printf(out, "<h2>Held actions (%zu)</h2>\n"
	    "<table class=\"held\"><thead><tr><th>environment</th>"
	    "<th>instance</th><th>rule</th><th>reason</th>"
	    "</tr></thead><tbody>\n", f->nheld_total);
	for (i = 0; i < f->nheld && error == 0; i++) {
		error |= buf_addstr(out, "<tr class=\"ev-bad\">");
		error |= cell(out, "name", f->held[i].env);
		error |= cell(out, "mono", f->held[i].instance_id);
		error |= cell(out, "mono", f->held[i].rule);
		error |= buf_addstr(out, "<td>");
		error |= text_cut(out, f->held[i].reason, ERROR_SHOWN_MAX);
		error |= buf_addstr(out, "</td></tr>\n");
	}
	if (f->nheld < f->nheld_total)
		error |= buf_printf(out, "<tr><td colspan=\"4\">and %zu more "
		    "(envctl plan lists them all)</td></tr>\n",
		    f->nheld_total - f->nheld);
	error |= buf_addstr(out, "</tbody></table>\n");
	return error;
}

static int
bad_event(const char *type)
{
	return type != NULL && (strstr(type, "error") != NULL ||
	    strstr(type, "fail") != NULL);
}

static int
render_events(struct buf *out, const struct httpd_status_event *ev, size_t n,
    int64_t now)
{
	char when[32], ago[32];
	struct tm tm;
	time_t t;
	size_t i;
	int error = 0;

	error |= buf_addstr(out, "<h2>Recent events</h2>\n");
	if (n == 0)
		return error | buf_addstr(out, "<p class=\"empty\">No events.</p>\n");
	error |= buf_addstr(out, "<table id=\"events\"><thead><tr><th>Time (UTC)</th>"
	    "<th>Ago</th><th>Environment</th><th>Type</th><th>Summary</th>"
	    "</tr></thead><tbody>\n");
	for (i = 0; i < n && error == 0; i++) {
		t = (time_t)ev[i].time;
		if (gmtime_r(&t, &tm) == NULL ||
		    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm) == 0)
			snprintf(when, sizeof(when), "-");
		httpd_duration_format(ago, sizeof(ago),
		    now > 0 ? now - ev[i].time : -1);
		error |= buf_printf(out, "<tr%s><td class=\"mono\">%s</td>"
		    "<td class=\"num\">%s</td>",
		    bad_event(ev[i].type) ? " class=\"ev-bad\"" : "", when, ago);
		error |= cell(out, "name", ev[i].env);
		error |= cell(out, "mono", ev[i].type);
		error |= buf_addstr(out, "<td>");
		error |= text_cut(out, ev[i].summary, ERROR_SHOWN_MAX);
		error |= buf_addstr(out, "</td></tr>\n");
	}
	error |= buf_addstr(out, "</tbody></table>\n");
	return error;
}

/* ---- the fleet by workspace, and the provision times ----------------- */

struct fleet_ws {
	char	*ws;
	size_t	 n;
	double	 rate;		/* USD per hour now */
};

static int
fleet_cmp(const void *a, const void *b)
{
	return strcmp(((const struct fleet_ws *)a)->ws,
	    ((const struct fleet_ws *)b)->ws);
}

/* "3 / 10", or "3" when max is 0 (no limit). */
static int
quota_cell(struct buf *out, double used, double max, const char *fmt)
{
	int error = 0;

	error |= buf_addstr(out, "<td class=\"num\">");
	error |= buf_printf(out, fmt, used);
	if (max > 0) {
		error |= buf_addstr(out, " / ");
		error |= buf_printf(out, fmt, max);
	}
	return error | buf_addstr(out, "</td>");
}

/* Environments and cost per hour by workspace, with each quota's use. */
static int
render_fleet(struct buf *out, const struct httpd_status_facts *f,
    const struct httpd_status_envs *envs)
{
	struct httpd_status_env e;
	struct fleet_ws *ws = NULL, all = { NULL, 0, 0 };
	size_t i, j, nws = 0;
	int error = 0;

	for (i = 0; i < envs->n; i++) {
		const char *w;

		envs->at(envs->arg, i, &e);
		w = e.workspace != NULL ? e.workspace : "-";
		for (j = 0; j < nws && strcmp(ws[j].ws, w) != 0; j++)
			;
		if (j == nws) {
			ws = xreallocarray(ws, nws + 1, sizeof(*ws));
			ws[nws].ws = xstrdup(w);
			ws[nws].n = 0;
			ws[nws++].rate = 0;
		}
		ws[j].n++;
		ws[j].rate += e.usd_per_hour;
		all.n++;
		all.rate += e.usd_per_hour;
	}
	if (nws > 1)
		qsort(ws, nws, sizeof(*ws), fleet_cmp);
	error |= buf_addstr(out, "<h2>Fleet by workspace</h2>\n<table id=\"fleet\">"
	    "<thead><tr><th>Workspace</th><th>Environments (quota)</th>"
	    "<th>Cost per hour (quota)</th></tr></thead><tbody>\n");
	for (j = 0; j <= nws && error == 0; j++) {
		const struct fleet_ws *w = j < nws ? &ws[j] : &all;
		const struct httpd_status_quota *q = NULL;

		for (i = 0; i < f->nquotas; i++)
			if ((j == nws && f->quotas[i].workspace == NULL) ||
			    (j < nws && f->quotas[i].workspace != NULL &&
			    strcmp(f->quotas[i].workspace, w->ws) == 0))
				q = &f->quotas[i];
		error |= buf_addstr(out, j < nws ? "<tr><td class=\"name\">" :
		    "<tr class=\"total\"><td class=\"name\">");
		error |= j < nws ? text(out, w->ws) :
		    buf_addstr(out, "all (the cluster)");
		error |= buf_addstr(out, "</td>");
		error |= quota_cell(out, (double)w->n, q != NULL ?
		    (double)q->max_envs : 0, "%.0f");
		error |= quota_cell(out, w->rate, q != NULL ? q->max_usd_per_hour :
		    0, "$%.4f");
		error |= buf_addstr(out, "</tr>\n");
	}
	for (j = 0; j < nws; j++)
		free(ws[j].ws);
	free(ws);
	return error | buf_addstr(out, "</tbody></table>\n");
}

/* The histogram's buckets: provision time at most this many seconds. */
static const int64_t hist_le[] = { 60, 120, 180, 300, 600, 900, 1800, -1 };
static const char *const hist_label[] = { "1m", "2m", "3m", "5m", "10m",
    "15m", "30m", "more" };
#define HIST_N	(sizeof(hist_le) / sizeof(hist_le[0]))

/* An SVG bar chart of the live environments' provision times. */
static int
render_histogram(struct buf *out, const struct httpd_status_envs *envs)
{
	struct httpd_status_env e;
	size_t count[HIST_N] = { 0 }, i, k, most = 0, total = 0;
	const int w = 640, h = 160, pad = 24, bw = (640 - 2 * 24) / (int)HIST_N;
	int error = 0;

	for (i = 0; i < envs->n; i++) {
		envs->at(envs->arg, i, &e);
		if (e.provision_seconds < 0)
			continue;
		for (k = 0; k + 1 < HIST_N && e.provision_seconds > hist_le[k]; k++)
			;
		count[k]++;
		total++;
	}
	error |= buf_printf(out, "<h2>Provision times (%zu environments)</h2>\n",
	    total);
	if (total == 0)
		return error | buf_addstr(out, "<p class=\"empty\">No environment "
		    "has become ready yet.</p>\n");
	for (k = 0; k < HIST_N; k++)
		if (count[k] > most)
			most = count[k];
	error |= buf_printf(out, "<svg class=\"hist\" id=\"provision-times\" "
	    "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
	    "aria-label=\"provision times\">", w, h, w, h);
	for (k = 0; k < HIST_N; k++) {
		int bh = (int)((double)(h - 2 * pad) * (double)count[k] /
		    (double)most);
		int x = pad + (int)k * bw;

		error |= buf_printf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" "
		    "height=\"%d\" data-le=\"%s\" data-count=\"%zu\"></rect>",
		    x + 4, h - pad - bh, bw - 8, bh, hist_label[k], count[k]);
		error |= buf_printf(out, "<text x=\"%d\" y=\"%d\">%s%s</text>",
		    x + 6, h - 8, k + 1 < HIST_N ? "&#8804;" : "", hist_label[k]);
		if (count[k] > 0)
			error |= buf_printf(out, "<text x=\"%d\" y=\"%d\">%zu</text>",
			    x + 6, h - pad - bh - 4, count[k]);
	}
	return error | buf_addstr(out, "</svg>\n");
}

/* ---- the page of one environment ------------------------------------- */

/*
 * The state of check (status, marker, hostkey, ssh) of e: what its
 * status and stage say (a ready environment passed them all).
 */
static const char *
check_state(const struct httpd_status_env *e, const char *check)
{
	int launched = e->stage != NULL && (strcmp(e->stage, "INSTANCE_LAUNCHED") == 0 ||
	    strcmp(e->stage, "TAGGED") == 0 || strcmp(e->stage, "DONE") == 0);

	if (e->status != NULL && strcmp(e->status, "ready") == 0)
		return "passed";
	if (strcmp(check, "hostkey") == 0 && e->host_keys != NULL &&
	    *e->host_keys != '\0')
		return "passed";
	if (e->status != NULL && strcmp(e->status, "error") == 0)
		return "failed";
	return launched ? "waiting" : "not yet";
}

static const char *
check_class(const char *state)
{
	return strcmp(state, "passed") == 0 ? "st-ok" :
	    strcmp(state, "failed") == 0 ? "st-bad" :
	    strcmp(state, "waiting") == 0 ? "st-busy" : "st-off";
}

static int
render_checklist(struct buf *out, const struct httpd_status_facts *f,
    const struct httpd_status_env *e)
{
	char checks[128], *c, *save = NULL;
	const char *st;
	int error = 0;

	snprintf(checks, sizeof(checks), "%s", f->ready_checks != NULL ?
	    f->ready_checks : "");
	error |= buf_addstr(out, "<ul class=\"checks\" id=\"checklist\">");
	for (c = strtok_r(checks, ",", &save); c != NULL;
	    c = strtok_r(NULL, ",", &save)) {
		st = check_state(e, c);
		error |= buf_printf(out, "<li data-check=\"%s\"><span class=\"st %s\">"
		    "%s</span> ", c, check_class(st), st);
		error |= text(out, c);
		error |= buf_addstr(out, "</li>");
	}
	return error | buf_addstr(out, "</ul>");
}

/* Why e waits or is held, in words; "" when it does not. */
static void
env_why(char *out, size_t outsz, const struct httpd_status_env *e,
    const struct httpd_status_held *held)
{
	*out = '\0';
	if (held != NULL)
		snprintf(out, outsz, "held by %s: %s", held->rule != NULL ?
		    held->rule : "-", held->reason != NULL ? held->reason : "-");
	else if (e->status != NULL && strcmp(e->status, "provisioning") == 0)
		snprintf(out, outsz, "waiting for readiness at stage %s (checked "
		    "every pass)", e->stage != NULL ? e->stage : "-");
	else if (e->status != NULL && strcmp(e->status, "error") == 0)
		snprintf(out, outsz, "its last attempt failed; a later pass tries "
		    "again (backoff)");
	else if (e->status != NULL && strcmp(e->status, "pending") == 0)
		snprintf(out, outsz, "about to be provisioned");
}

static int
render_env_facts(struct buf *out, const struct httpd_status_facts *f,
    const struct httpd_status_env *e, const struct httpd_status_held *held)
{
	char age[32], why[1024], fp[1024], *k, *save = NULL;
	int error = 0;

	error |= buf_addstr(out, "<div class=\"cards\"><dl class=\"card\" id=\"facts\">"
	    "<dt>Status</dt><dd>");
	error |= buf_printf(out, "<span class=\"st %s\">", status_class(e->status));
	error |= text(out, e->status);
	error |= buf_addstr(out, "</span> ");
	error |= text(out, e->stage);
	error |= buf_addstr(out, "</dd><dt>Workspace</dt><dd>");
	error |= text(out, e->workspace);
	error |= buf_addstr(out, "</dd><dt>Instance</dt><dd class=\"mono\">");
	error |= text(out, e->instance_id);
	error |= buf_addstr(out, " ");
	error |= text(out, e->state);
	error |= buf_addstr(out, "</dd><dt>Address</dt><dd class=\"mono\">");
	error |= text(out, e->ip);
	httpd_duration_format(age, sizeof(age), e->age_seconds);
	error |= buf_printf(out, "</dd><dt>Age</dt><dd>%s</dd>", age);
	error |= buf_addstr(out, "<dt>Cost</dt><dd id=\"cost\">");
	if (e->cost < 0)
		error |= buf_addstr(out, "-");
	else
		error |= buf_printf(out, "$%.4f so far, $%.4f per hour now",
		    e->cost, e->usd_per_hour);
	error |= buf_addstr(out, "</dd></dl>\n<dl class=\"card\"><dt>Readiness</dt><dd>");
	error |= render_checklist(out, f, e);
	error |= buf_addstr(out, "</dd><dt>Verified host keys</dt><dd class=\"mono\" "
	    "id=\"host-keys\">");
	if (e->host_keys == NULL || *e->host_keys == '\0')
		error |= buf_addstr(out, "none yet");
	else {
		snprintf(fp, sizeof(fp), "%s", e->host_keys);
		for (k = strtok_r(fp, " ", &save); k != NULL;
		    k = strtok_r(NULL, " ", &save)) {
			error |= text(out, k);
			error |= buf_addstr(out, "<br>");
		}
	}
	error |= buf_addstr(out, "</dd><dt>Connect</dt><dd><pre class=\"connect\" "
	    "id=\"connect\">envctl ssh ");
	error |= text(out, e->name);
	error |= buf_addstr(out, "</pre></dd>");
	env_why(why, sizeof(why), e, held);
	if (*why != '\0') {
		error |= buf_addstr(out, "<dt>Why it waits</dt><dd id=\"why\">");
		error |= text_cut(out, why, ERROR_SHOWN_MAX);
		error |= buf_addstr(out, "</dd>");
	}
	if (e->last_error != NULL && *e->last_error != '\0') {
		error |= buf_addstr(out, "<dt>Last error</dt><dd class=\"err\">");
		error |= text_cut(out, e->last_error, ERROR_SHOWN_MAX);
		error |= buf_addstr(out, "</dd>");
	}
	return error | buf_addstr(out, "</dl></div>\n");
}

static int
page_head(struct buf *out, const char *title, const char *sub)
{
	int error = 0;

	error |= buf_addstr(out, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\">"
	    "<meta http-equiv=\"refresh\" content=\"10\">"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	    "<title>envctl: ");
	error |= text(out, title);
	if (sub != NULL) {
		error |= buf_addstr(out, " / ");
		error |= text(out, sub);
	}
	error |= buf_addstr(out, "</title>\n<style>");
	error |= buf_addstr(out, page_css);
	return error | buf_addstr(out, "</style></head>\n<body>\n");
}

static int
page_foot(struct buf *out)
{
	if (buf_addstr(out, "</main>\n<footer>Read-only view; refreshes every 10 s. "
	    "Also: <a href=\"/\">the fleet</a> <a href=\"/metrics\">/metrics</a> "
	    "<a href=\"/healthz\">/healthz</a> "
	    "<a href=\"/api/environments\">/api/environments</a> "
	    "<a href=\"/api/events\">/api/events</a></footer>\n</body></html>\n") < 0) {
		err_set("status page larger than %zu bytes", out->max);
		return ERR_LIMIT;
	}
	return 0;
}

int
httpd_status_env_page_render(struct buf *out,
    const struct httpd_status_facts *facts, const struct httpd_status_env *env,
    const struct httpd_status_held *held, const struct httpd_status_event *events,
    size_t nevents, const char *events_error)
{
	int error = 0;

	error |= page_head(out, facts->cluster_id, env->name);
	error |= render_header(out, facts, SIZE_MAX);
	error |= buf_addstr(out, "<main>\n<h2 id=\"env-name\">");
	error |= text(out, env->name);
	error |= buf_addstr(out, "</h2>\n");
	error |= render_env_facts(out, facts, env, held);
	if (events_error != NULL) {
		error |= buf_addstr(out, "<h2>Recent events</h2>\n<p class=\"err\">"
		    "Events could not be read: ");
		error |= text_cut(out, events_error, ERROR_SHOWN_MAX);
		error |= buf_addstr(out, "</p>\n");
	} else
		error |= render_events(out, events, nevents, facts->now);
	if (error) {
		err_set("status page larger than %zu bytes", out->max);
		return ERR_LIMIT;
	}
	return page_foot(out);
}

int
httpd_status_page_render(struct buf *out, const struct httpd_status_facts *facts,
    const struct httpd_status_envs *envs,
    const struct httpd_status_event *events, size_t nevents)
{
	int error = 0;

	error |= page_head(out, facts->cluster_id, NULL);
	error |= render_header(out, facts, envs->n);
	error |= buf_addstr(out, "<main>\n");
	error |= render_held(out, facts);
	error |= render_fleet(out, facts, envs);
	error |= render_envs(out, envs);
	error |= render_histogram(out, envs);
	error |= render_events(out, events, nevents, facts->now);
	if (error) {
		err_set("status page larger than %zu bytes", out->max);
		return ERR_LIMIT;
	}
	return page_foot(out);
}
