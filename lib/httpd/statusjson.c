/*
 * statusjson.c - /api/environments, /api/events and /metrics bodies from
 * the same plain structs as the status page.
 *
 * Strings are untrusted and may not be UTF-8 (jansson refuses those): an
 * invalid byte becomes U+FFFD.  A NULL string or a negative number that
 * means "unknown" is JSON null.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "buf.h"
#include "err.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t
utf8_seq(const unsigned char *p)
{
	size_t n, i;
	unsigned int cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* A JSON string for s, invalid UTF-8 replaced; null for NULL. */
static json_t *
jstr(const char *s)
{
	struct buf b;
	const unsigned char *p;
	json_t *j;
	size_t n;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	buf_init(&b, strlen(s) * 3 + 1);
	for (p = (const unsigned char *)s; *p != '\0'; p += n) {
		if ((n = utf8_seq(p)) == 0) {
			buf_addstr(&b, "\xef\xbf\xbd");
			n = 1;
		} else
			buf_add(&b, p, n);
	}
	j = json_string(buf_cstr(&b));
	buf_dispose(&b);
	return j != NULL ? j : json_null();
}

static json_t *
jint_or_null(int64_t v)
{
	return v < 0 ? json_null() : json_integer((json_int_t)v);
}

static int
json_emit(struct buf *out, json_t *doc)
{
	char *s;
	int error;

	if ((s = json_dumps(doc, JSON_COMPACT)) == NULL)
		fatalx("json_dumps: out of memory");
	error = buf_addstr(out, s);
	free(s);
	json_decref(doc);
	if (error < 0)
		err_set("JSON body larger than %zu bytes", out->max);
	return error;
}

static json_t *
facts_json(const struct httpd_status_facts *f)
{
	json_t *o = json_object();

	json_object_set_new(o, "cluster_id", jstr(f->cluster_id));
	json_object_set_new(o, "role", json_string(f->leader ? "leader" : "standby"));
	json_object_set_new(o, "revision", jstr(f->revision));
	json_object_set_new(o, "last_pass_age_seconds", jint_or_null(f->last_pass_age));
	return o;
}

/* Append v's compact JSON (taking it); ERR_LIMIT past out's maximum. */
static int
json_add(struct buf *out, json_t *v)
{
	char *s;
	int error;

	if ((s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		fatalx("json_dumps: out of memory");
	error = buf_addstr(out, s);
	free(s);
	json_decref(v);
	return error;
}

int
httpd_status_envs_json(struct buf *out, const struct httpd_status_facts *facts,
    const struct httpd_status_envs *envs)
{
	struct httpd_status_env e;
	json_t *doc = facts ? facts_json(facts) : json_object();
	char *head;
	size_t i, len;
	int error = 0;

	if (facts != NULL) {
		json_t *held = json_array();

		for (i = 0; i < facts->nheld; i++) {
			json_t *o = json_object();

			json_object_set_new(o, "env", jstr(facts->held[i].env));
			json_object_set_new(o, "instance_id",
			    jstr(facts->held[i].instance_id));
			json_object_set_new(o, "rule", jstr(facts->held[i].rule));
			json_object_set_new(o, "reason", jstr(facts->held[i].reason));
			json_array_append_new(held, o);
		}
		json_object_set_new(doc, "held_total",
		    json_integer((json_int_t)facts->nheld_total));
		json_object_set_new(doc, "held", held);
	}
	/* the facts, then the environments written one at a time */
	if ((head = json_dumps(doc, JSON_COMPACT)) == NULL)
		fatalx("json_dumps: out of memory");
	json_decref(doc);
	len = strlen(head);		/* "{...}" or "{}" */
	head[len - 1] = '\0';
	error |= buf_addstr(out, head);
	error |= buf_addstr(out, len > 2 ? ",\"environments\":[" :
	    "\"environments\":[");
	free(head);
	for (i = 0; i < envs->n && error == 0; i++) {
		json_t *o = json_object();

		envs->at(envs->arg, i, &e);
		json_object_set_new(o, "name", jstr(e.name));
		json_object_set_new(o, "workspace", jstr(e.workspace));
		json_object_set_new(o, "status", jstr(e.status));
		json_object_set_new(o, "stage", jstr(e.stage));
		json_object_set_new(o, "instance_id", jstr(e.instance_id));
		json_object_set_new(o, "state", jstr(e.state));
		json_object_set_new(o, "ip", jstr(e.ip));
		json_object_set_new(o, "age_seconds", jint_or_null(e.age_seconds));
		json_object_set_new(o, "cost_usd",
		    e.cost < 0 ? json_null() : json_real(e.cost));
		json_object_set_new(o, "last_error", jstr(e.last_error));
		json_object_set_new(o, "host_keys", jstr(e.host_keys));
		if (i > 0)
			error |= buf_addch(out, ',');
		error |= json_add(out, o);
	}
	error |= buf_addstr(out, "]}");
	if (error) {
		err_set("JSON body larger than %zu bytes", out->max);
		return ERR_LIMIT;
	}
	return 0;
}

int
httpd_status_events_json(struct buf *out, const struct httpd_status_event *ev,
    size_t n)
{
	json_t *doc = json_object(), *arr = json_array();
	char when[32];
	struct tm tm;
	time_t t;
	size_t i;

	for (i = 0; i < n; i++) {
		json_t *o = json_object();

		t = (time_t)ev[i].time;
		if (gmtime_r(&t, &tm) == NULL ||
		    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			snprintf(when, sizeof(when), "%" PRId64, ev[i].time);
		json_object_set_new(o, "time", json_string(when));
		json_object_set_new(o, "env", jstr(ev[i].env));
		json_object_set_new(o, "type", jstr(ev[i].type));
		json_object_set_new(o, "summary", jstr(ev[i].summary));
		json_array_append_new(arr, o);
	}
	json_object_set_new(doc, "events", arr);
	return json_emit(out, doc);
}

int
httpd_metrics_handler(struct httpd_response *resp,
    const struct httpd_request *req, void *registry)
{
	(void)req;
	httpd_response_type(resp, HTTPD_METRICS_CONTENT_TYPE);
	return metrics_render(httpd_response_body(resp), registry);
}

int
httpd_health_respond(struct httpd_response *resp,
    const struct httpd_status_facts *f, int64_t max_pass_age)
{
	json_t *doc = facts_json(f);
	const char *status;

	if (!f->leader)
		status = "standby";	/* it waits; nothing to be late for */
	else if (f->last_pass_age < 0)
		status = "starting";
	else if (f->last_pass_age > max_pass_age)
		status = "stale";
	else
		status = "ok";
	json_object_set_new(doc, "status", json_string(status));
	json_object_set_new(doc, "max_pass_age_seconds", json_integer(max_pass_age));
	httpd_response_status(resp, strcmp(status, "ok") == 0 ||
	    strcmp(status, "standby") == 0 ? 200 : 503);
	httpd_response_type(resp, "application/json");
	return json_emit(httpd_response_body(resp), doc);
}
