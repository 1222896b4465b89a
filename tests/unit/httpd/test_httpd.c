/*
 * test_httpd.c - the parser on its own, then a real server on 127.0.0.1
 * (port 0) run by a thread and driven over real sockets.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "buf.h"
#include "err.h"
#include "httpd.h"
#include "httpd_int.h"

/* Parsing. */

static void
test_httpd__parse_table(void **state)
{
	static const struct { const char *head; int want; } cases[] = {
		{ "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0 },
		{ "GET /a?b=c HTTP/1.0\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\nHost: x\n\n", 0 },		/* bare LF */
		{ "POST / HTTP/1.1\r\nHost: x\r\n\r\n", 0 },	/* 405 is later */
		{ "GET / HTTP/1.1\r\n\r\n", 400 },		/* no Host */
		{ "GET /  HTTP/1.1\r\nHost: x\r\n\r\n", 400 },	/* two spaces */
		{ "GET / HTTP/1.1 x\r\nHost: x\r\n\r\n", 400 },
		{ "GET HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0 },
		{ "GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505 },
		{ "GET / HTTP/1.x\r\nHost: x\r\n\r\n", 400 },
		{ "GET / FTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost x\r\n\r\n", 400 },	/* no colon */
		{ "GET / HTTP/1.1\r\nHo st: x\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\ry\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: a\x7f\x01\r\n\r\n", 400 },
		{ "\r\n\r\n", 400 },
	};
	struct httpd_request req;
	char *head;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		head = strdup(cases[i].head);
		rc = httpd_request_parse(&req, head);
		if (rc != cases[i].want)
			fail_msg("case %zu: got %d want %d", i, rc, cases[i].want);
		free(head);
	}
}

static void
test_httpd__parse_fields(void **state)
{
	char head[] = "GET /api/events?limit=50&name=a%20b+c&bad=%zz&nul=%00&flag "
	    "HTTP/1.1\r\nHost: localhost\r\nX-Thing:   spaced out  \r\n\r\n";
	struct httpd_request req;
	long n;

	(void)state;
	assert_int_equal(httpd_request_parse(&req, head), 0);
	assert_string_equal(httpd_request_method(&req), "GET");
	assert_string_equal(httpd_request_path(&req), "/api/events");
	assert_string_equal(httpd_request_query(&req),
	    "limit=50&name=a%20b+c&bad=%zz&nul=%00&flag");
	assert_string_equal(httpd_request_header(&req, "x-thing"), "spaced out");
	assert_string_equal(httpd_request_header(&req, "HOST"), "localhost");
	assert_null(httpd_request_header(&req, "Cookie"));
	assert_string_equal(httpd_request_param(&req, "name"), "a b c");
	assert_string_equal(httpd_request_param(&req, "bad"), "%zz");
	assert_string_equal(httpd_request_param(&req, "flag"), "");
	assert_null(httpd_request_param(&req, "nul"));
	assert_null(httpd_request_param(&req, "absent"));
	assert_int_equal(httpd_request_param_int(&n, &req, "limit", 10, 1, 1000), 0);
	assert_int_equal(n, 50);
	assert_int_equal(httpd_request_param_int(&n, &req, "absent", 10, 1, 1000), 0);
	assert_int_equal(n, 10);
	assert_int_equal(httpd_request_param_int(&n, &req, "limit", 10, 1, 49),
	    ERR_INVALID);
	assert_int_equal(httpd_request_param_int(&n, &req, "name", 10, 1, 49),
	    ERR_INVALID);
	httpd_request_dispose(&req);
}

static void
test_httpd__addresses(void **state)
{
	static const struct { const char *addr; int want; } cases[] = {
		{ "127.0.0.1:0", 0 },
		{ "127.1.2.3:0", 0 },
		{ "localhost:0", 0 },
		{ "0.0.0.0:0", ERR_INVALID },
		{ ":0", ERR_INVALID },
		{ "192.0.2.1:0", ERR_INVALID },
		{ "127.0.0.1", ERR_INVALID },
		{ "127.0.0.1:", ERR_INVALID },
		{ "127.0.0.1:65536", ERR_INVALID },
		{ "127.0.0.1:-1", ERR_INVALID },
		{ "127.0.0.1:80x", ERR_INVALID },
		{ "[::1:0", ERR_INVALID },
		{ "not a host:0", ERR_INVALID },
	};
	struct httpd_options opts = { .allow_nonloopback = 1 };
	struct httpd *h;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = httpd_new(&h, cases[i].addr, NULL);

		if (rc != cases[i].want)
			fail_msg("case %s: got %d want %d (%s)", cases[i].addr, rc,
			    cases[i].want, err_get());
		if (rc == 0)
			assert_true(httpd_port(h) > 0);
		else
			assert_null(h);
		httpd_free(h);
	}
	/* the explicit flag lets a wildcard address through */
	assert_int_equal(httpd_new(&h, "0.0.0.0:0", &opts), 0);
	httpd_free(h);
}

static void
test_httpd__html_escape(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(httpd_html_escape(&b,
	    "<script>alert('x')</script> & \"q\"\x01\x7f\tok\n\xc3\xa9"), 0);
	assert_string_equal(buf_cstr(&b),
	    "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
	    "\xef\xbf\xbd\xef\xbf\xbd\tok\n\xc3\xa9");
	buf_dispose(&b);
}

static void
test_httpd__duration_format(void **state)
{
	static const struct { int64_t s; const char *want; } cases[] = {
		{ -1, "-" }, { 0, "0s" }, { 59, "59s" }, { 60, "1m 0s" },
		{ 3599, "59m 59s" }, { 3600, "1h 0m" }, { 86399, "23h 59m" },
		{ 86400 * 3 + 3600 * 4 + 5, "3d 4h" },
	};
	char out[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		httpd_duration_format(out, sizeof(out), cases[i].s);
		assert_string_equal(out, cases[i].want);
	}
}

static void
test_httpd__status_page(void **state)
{
	static const struct httpd_status_quota quotas[] = {
		{ NULL, 5, 2.0 },
	};
	const struct httpd_status_facts facts = {
		.cluster_id = "prod<b>", .revision = "0123456789abcdef0123",
		.leader = 1, .last_pass_age = 12, .now = 1795000000,
		.quotas = quotas, .nquotas = 1,
	};
	const struct httpd_status_env envs[] = {
		{ "web-1", "team-a", "ready", "done", "i-0abc", "running",
		  "10.0.0.5", 3600, 12.345, NULL, NULL, 0.0416, 95 },
		{ "<script>alert(1)</script>", "\"><img src=x onerror=alert(2)>",
		  "error", "launch", NULL, NULL, NULL, -1, -1,
		  "boom <iframe src=//evil>", NULL, 0, -1 },
		{ "db-2", "team-b", "weird\"status", NULL, NULL, NULL, NULL, 5, 0,
		  NULL, NULL, 0.5, 700 },
	};
	const struct httpd_status_event events[] = {
		{ 1795000000 - 90, "web-1", "remote.provision.ready", "ready after 88s" },
		{ 1795000000 - 30, "<script>x</script>", "provision.error",
		  "</td></tr></table><script>alert(3)</script>" },
	};
	struct httpd_status_envs list, none;
	struct buf b;
	const char *s;

	(void)state;
	httpd_status_envs_of(&list, envs, 3);
	httpd_status_envs_of(&none, NULL, 0);
	buf_init(&b, 1 << 20);
	assert_int_equal(httpd_status_page_render(&b, &facts, &list, events, 2), 0);
	s = buf_cstr(&b);
	assert_non_null(strstr(s, "<meta http-equiv=\"refresh\" content=\"10\">"));
	assert_null(strstr(s, "<script"));
	assert_null(strstr(s, "<img"));
	assert_null(strstr(s, "<iframe"));
	assert_null(strstr(s, "prod<b>"));
	assert_non_null(strstr(s, "<title>envctl: prod&lt;b&gt;</title>"));
	/* no external assets at all */
	assert_null(strstr(s, "src=\""));
	assert_null(strstr(s, "<link"));
	assert_null(strstr(s, "http://"));
	assert_null(strstr(s, "https://"));
	assert_non_null(strstr(s, "<td class=\"name\"><a href=\"/env?name="
	    "%3Cscript%3Ealert%281%29%3C%2Fscript%3E\">&lt;script&gt;alert(1)"
	    "&lt;/script&gt;</a></td>"));
	/* the fleet by workspace, with the cluster's quota use */
	assert_non_null(strstr(s, "<td class=\"name\">team-a</td>"
	    "<td class=\"num\">1</td><td class=\"num\">$0.0416</td>"));
	assert_non_null(strstr(s, "all (the cluster)</td><td class=\"num\">3 / 5"
	    "</td><td class=\"num\">$0.5416 / $2.0000</td>"));
	/* the histogram: web-1 at <= 2m, db-2 at <= 15m, the error none */
	assert_non_null(strstr(s, "<svg class=\"hist\""));
	assert_non_null(strstr(s, "data-le=\"2m\" data-count=\"1\""));
	assert_non_null(strstr(s, "data-le=\"15m\" data-count=\"1\""));
	assert_non_null(strstr(s, "data-le=\"1m\" data-count=\"0\""));
	assert_non_null(strstr(s, "Provision times (2 environments)"));
	assert_non_null(strstr(s, "<td>&quot;&gt;&lt;img src=x onerror=alert(2)&gt;</td>"));
	assert_non_null(strstr(s, "<span class=\"st st-ok\">ready</span>"));
	assert_non_null(strstr(s, "<span class=\"st st-bad\">error</span>"));
	assert_non_null(strstr(s, "<span class=\"st st-other\">weird&quot;status</span>"));
	assert_non_null(strstr(s, "<td class=\"num\">$12.35</td>"));
	assert_non_null(strstr(s, "<td class=\"num\">1h 0m</td>"));
	assert_non_null(strstr(s, "<b class=\"mono\">0123456789ab\xe2\x80\xa6</b>"));
	assert_non_null(strstr(s, "role <b class=\"role-leader\">leader</b>"));
	assert_non_null(strstr(s, "last pass <b>12s ago</b>"));
	assert_non_null(strstr(s, "<tr class=\"ev-bad\"><td class=\"mono\">2026-11-18 11:06:10</td>"));
	assert_non_null(strstr(s, "<td class=\"num\">1m 30s</td>"));
	assert_non_null(strstr(s, "Environments (3)"));
	assert_non_null(strstr(s, "<span class=\"st st-bad\">error 1</span>"));

	/* empty lists say so; a small buffer fails cleanly */
	buf_reset(&b);
	assert_int_equal(httpd_status_page_render(&b, &facts, &none, NULL, 0), 0);
	assert_non_null(strstr(buf_cstr(&b), "No environments."));
	assert_non_null(strstr(buf_cstr(&b), "No events."));
	buf_dispose(&b);
	buf_init(&b, 512);
	assert_int_equal(httpd_status_page_render(&b, &facts, &list, events, 2),
	    ERR_LIMIT);
	buf_dispose(&b);
}

/* The page of one environment: its facts, checklist, keys, events. */
static void
test_httpd__env_page(void **state)
{
	const struct httpd_status_facts facts = {
		.cluster_id = "c1", .leader = 1, .last_pass_age = 3,
		.now = 1795000000, .ready_checks = "status,marker,hostkey",
	};
	const struct httpd_status_env prov = {
		"web<1>", "team-a", "provisioning", "TAGGED", "i-0abc", "running",
		"10.0.0.5", 120, 0.01, NULL, "SHA256:abc", 0.0416, -1 };
	const struct httpd_status_env ready = {
		"web-2", "team-a", "ready", "DONE", "i-0def", "running",
		"10.0.0.6", 3600, 0.0416, NULL, "SHA256:k1 SHA256:k2", 0.0416, 88 };
	const struct httpd_status_held held = { "web<1>", NULL, "quota",
	    "quota of workspace team-a: environments 2 + 1 > 2" };
	const struct httpd_status_event ev[] = {
		{ 1795000000 - 30, "web-2", "remote.provision.ready",
		  "{\"provision_seconds\": 88}" },
	};
	struct buf b;
	const char *s;

	(void)state;
	buf_init(&b, 1 << 20);
	assert_int_equal(httpd_status_env_page_render(&b, &facts, &prov, NULL,
	    NULL, 0, "database <down>"), 0);
	s = buf_cstr(&b);
	assert_null(strstr(s, "<script"));
	assert_non_null(strstr(s, "<h2 id=\"env-name\">web&lt;1&gt;</h2>"));
	assert_non_null(strstr(s, "<li data-check=\"status\"><span class=\"st "
	    "st-busy\">waiting</span> status</li>"));
	assert_non_null(strstr(s, "<li data-check=\"hostkey\"><span class=\"st "
	    "st-ok\">passed</span> hostkey</li>"));
	assert_non_null(strstr(s, "envctl ssh web&lt;1&gt;</pre>"));
	assert_non_null(strstr(s, "waiting for readiness at stage TAGGED"));
	assert_non_null(strstr(s, "Events could not be read: database &lt;down&gt;"));
	assert_non_null(strstr(s, "$0.0100 so far, $0.0416 per hour now"));
	buf_reset(&b);
	assert_int_equal(httpd_status_env_page_render(&b, &facts, &prov, &held,
	    NULL, 0, NULL), 0);
	assert_non_null(strstr(buf_cstr(&b), "held by quota: quota of workspace "
	    "team-a: environments 2 + 1 &gt; 2"));
	buf_reset(&b);
	assert_int_equal(httpd_status_env_page_render(&b, &facts, &ready, NULL,
	    ev, 1, NULL), 0);
	s = buf_cstr(&b);
	assert_non_null(strstr(s, "<li data-check=\"marker\"><span class=\"st "
	    "st-ok\">passed</span> marker</li>"));
	assert_non_null(strstr(s, "SHA256:k1<br>SHA256:k2<br>"));
	assert_non_null(strstr(s, "remote.provision.ready"));
	assert_null(strstr(s, "Why it waits"));
	buf_dispose(&b);
}

/*
 * Environments lent one at a time from one scratch buffer that each call
 * overwrites: the renderers must use a string only until the next call.
 */
struct lent {
	char	name[32];
	char	status[16];
};

static void
lent_at(const void *arg, size_t i, struct httpd_status_env *out)
{
	struct lent *l = (struct lent *)(uintptr_t)arg;

	snprintf(l->name, sizeof(l->name), "env-%04zu", i);
	snprintf(l->status, sizeof(l->status), "%s", i % 3 == 2 ? "error" : "ready");
	memset(out, 0, sizeof(*out));
	out->name = l->name;
	out->status = l->status;
	out->age_seconds = (int64_t)i;
	out->cost = -1;
}

static void
test_httpd__status_lent(void **state)
{
	const struct httpd_status_facts facts = { .cluster_id = "c1", .leader = 1 };
	struct lent scratch;
	struct httpd_status_envs list = { 3000, lent_at, &scratch };
	json_t *doc, *arr;
	json_error_t jerr;
	struct buf b;
	char want[64];
	size_t i;

	(void)state;
	buf_init(&b, 8 << 20);
	assert_int_equal(httpd_status_page_render(&b, &facts, &list, NULL, 0), 0);
	assert_non_null(strstr(buf_cstr(&b), "<span class=\"st st-ok\">ready 2000</span>"
	    "<span class=\"st st-bad\">error 1000</span>"));
	for (i = 0; i < 3000; i += 997) {
		snprintf(want, sizeof(want), "\">env-%04zu</a></td>", i);
		assert_non_null(strstr(buf_cstr(&b), want));
	}
	buf_reset(&b);
	assert_int_equal(httpd_status_envs_json(&b, &facts, &list), 0);
	doc = json_loads(buf_cstr(&b), 0, &jerr);
	if (doc == NULL)
		fail_msg("bad JSON: %s", jerr.text);
	assert_string_equal(json_string_value(json_object_get(doc, "cluster_id")), "c1");
	arr = json_object_get(doc, "environments");
	assert_int_equal(json_array_size(arr), 3000);
	for (i = 0; i < 3000; i++) {
		json_t *e = json_array_get(arr, i);

		snprintf(want, sizeof(want), "env-%04zu", i);
		assert_string_equal(json_string_value(json_object_get(e, "name")), want);
		assert_string_equal(json_string_value(json_object_get(e, "status")),
		    i % 3 == 2 ? "error" : "ready");
		assert_int_equal(json_integer_value(json_object_get(e, "age_seconds")),
		    (json_int_t)i);
	}
	json_decref(doc);
	/* without facts the object starts with the list; a full buffer fails */
	buf_reset(&b);
	list.n = 1;
	assert_int_equal(httpd_status_envs_json(&b, NULL, &list), 0);
	assert_true(strncmp(buf_cstr(&b), "{\"environments\":[{", 18) == 0);
	buf_dispose(&b);
	buf_init(&b, 256);
	list.n = 3000;
	assert_int_equal(httpd_status_envs_json(&b, &facts, &list), ERR_LIMIT);
	buf_dispose(&b);
}

static void
test_httpd__status_json(void **state)
{
	const struct httpd_status_facts facts = {
		.cluster_id = "c1", .revision = NULL, .leader = 0,
		.last_pass_age = -1,
	};
	const struct httpd_status_env envs[] = {
		{ "web-1", "team-a", "ready", "done", "i-0abc", "running",
		  "10.0.0.5", 3600, 12.5, NULL, "SHA256:abc SHA256:def", 0, -1 },
		{ "bad\xff\xc3utf8\"</script>", NULL, "error", NULL, NULL, NULL,
		  NULL, -1, -1, "line1\nline2", NULL, 0, -1 },
	};
	const struct httpd_status_event ev[] = {
		{ 1795000000, "web-1", "provision.ready", "ok \x01 ctl" },
	};
	struct httpd_status_envs list;
	json_t *doc, *e;
	json_error_t jerr;
	struct buf b;

	(void)state;
	httpd_status_envs_of(&list, envs, 2);
	buf_init(&b, 1 << 16);
	assert_int_equal(httpd_status_envs_json(&b, &facts, &list), 0);
	doc = json_loads(buf_cstr(&b), 0, &jerr);
	if (doc == NULL)
		fail_msg("bad JSON: %s: %s", jerr.text, buf_cstr(&b));
	assert_string_equal(json_string_value(json_object_get(doc, "role")), "standby");
	assert_true(json_is_null(json_object_get(doc, "revision")));
	assert_true(json_is_null(json_object_get(doc, "last_pass_age_seconds")));
	e = json_array_get(json_object_get(doc, "environments"), 0);
	assert_string_equal(json_string_value(json_object_get(e, "ip")), "10.0.0.5");
	assert_int_equal(json_integer_value(json_object_get(e, "age_seconds")), 3600);
	assert_true(json_real_value(json_object_get(e, "cost_usd")) == 12.5);
	assert_string_equal(json_string_value(json_object_get(e, "host_keys")),
	    "SHA256:abc SHA256:def");
	assert_true(json_is_null(json_object_get(e, "last_error")));
	e = json_array_get(json_object_get(doc, "environments"), 1);
	assert_string_equal(json_string_value(json_object_get(e, "name")),
	    "bad\xef\xbf\xbd\xef\xbf\xbdutf8\"</script>");
	assert_true(json_is_null(json_object_get(e, "cost_usd")));
	assert_true(json_is_null(json_object_get(e, "age_seconds")));
	assert_string_equal(json_string_value(json_object_get(e, "last_error")),
	    "line1\nline2");
	json_decref(doc);

	buf_reset(&b);
	assert_int_equal(httpd_status_events_json(&b, ev, 1), 0);
	doc = json_loads(buf_cstr(&b), 0, &jerr);
	assert_non_null(doc);
	e = json_array_get(json_object_get(doc, "events"), 0);
	assert_string_equal(json_string_value(json_object_get(e, "time")),
	    "2026-11-18T11:06:40Z");
	assert_string_equal(json_string_value(json_object_get(e, "summary")),
	    "ok \x01 ctl");
	json_decref(doc);
	buf_dispose(&b);

	buf_init(&b, 16);
	assert_int_equal(httpd_status_events_json(&b, ev, 1), ERR_LIMIT);
	buf_dispose(&b);
}

static void
test_httpd__fds_room(void **state)
{
	struct httpd *h;
	struct pollfd fds[2];

	(void)state;
	assert_int_equal(httpd_new(&h, "127.0.0.1:0", NULL), 0);
	assert_int_equal(httpd_fds(h, NULL, 0), 1);
	assert_int_equal(httpd_fds(h, fds, 2), 1);
	assert_int_equal(fds[0].events, POLLIN);
	assert_int_equal(httpd_timeout_ms(h), -1);
	/* fds it does not own are ignored */
	fds[1] = (struct pollfd){ .fd = 0, .events = POLLIN, .revents = POLLIN };
	fds[0].revents = 0;
	assert_int_equal(httpd_handle(h, fds, 2), 0);
	assert_int_equal(httpd_clients(h), 0);
	httpd_free(h);
}

/* A live server. */

struct server {
	struct httpd	*h;
	pthread_t	 thread;
	atomic_int	 stop;
	atomic_int	 max_seen;	/* most connections open at once */
	int		 port;
	struct httpd_stats stats;	/* at the end, read after the join */
};

static int
h_hello(struct httpd_response *resp, const struct httpd_request *req, void *arg)
{
	(void)req;
	httpd_response_type(resp, "text/plain; charset=utf-8");
	return buf_printf(httpd_response_body(resp), "hello %s\n", (const char *)arg);
}

static int
h_echo(struct httpd_response *resp, const struct httpd_request *req, void *arg)
{
	long limit;
	const char *name = httpd_request_param(req, "name");

	(void)arg;
	if (httpd_request_param_int(&limit, req, "limit", 10, 1, 500) < 0) {
		httpd_response_status(resp, 400);
		return buf_printf(httpd_response_body(resp), "%s\n", err_get());
	}
	httpd_response_type(resp, "application/json");
	httpd_response_header(resp, "X-Test", "yes");
	return buf_printf(httpd_response_body(resp),
	    "{\"path\":\"%s\",\"limit\":%ld,\"name\":\"%s\"}",
	    httpd_request_path(req), limit, name ? name : "");
}

static int
h_fail(struct httpd_response *resp, const struct httpd_request *req, void *arg)
{
	(void)resp;
	(void)req;
	(void)arg;
	err_set("deliberate");
	return ERR_GENERIC;
}

static int
h_unhealthy(struct httpd_response *resp, const struct httpd_request *req,
    void *arg)
{
	(void)req;
	(void)arg;
	httpd_response_status(resp, 503);
	return buf_addstr(httpd_response_body(resp), "standby\n");
}

static int
h_health(struct httpd_response *resp, const struct httpd_request *req,
    void *arg)
{
	struct httpd_status_facts f = { .cluster_id = "c", .leader = 1 };
	const char *q = httpd_request_query(req);

	(void)arg;
	f.leader = strstr(q, "standby") == NULL;
	f.last_pass_age = strstr(q, "never") ? -1 : strstr(q, "old") ? 601 : 600;
	return httpd_health_respond(resp, &f, 600);
}

#define BIG_LEN	(12u << 20)	/* past the kernel's 4 MiB send buffer */

/* BIG_LEN bytes, each its offset's low byte mixed: any shift shows. */
static int
h_big(struct httpd_response *resp, const struct httpd_request *req, void *arg)
{
	struct buf *b = httpd_response_body(resp);
	size_t i;

	(void)req;
	(void)arg;
	httpd_response_type(resp, "application/octet-stream");
	for (i = 0; i < BIG_LEN; i++)
		if (buf_addch(b, (char)((i * 31u + (i >> 12)) & 0xff)) < 0)
			return ERR_LIMIT;
	return 0;
}

static char root_arg[] = "root", static_arg[] = "static";

static const struct httpd_route routes[] = {
	{ "/big", h_big, NULL },
	{ "/health", h_health, NULL },
	{ "/", h_hello, root_arg },
	{ "/api/echo", h_echo, NULL },
	{ "/fail", h_fail, NULL },
	{ "/healthz", h_unhealthy, NULL },
	{ "/static/*", h_hello, static_arg },
};

static void *
server_main(void *arg)
{
	struct server *s = arg;
	int i;

	while (!atomic_load(&s->stop)) {
		int n;

		httpd_poll_once(s->h, 20);
		n = (int)httpd_clients(s->h);
		if (n > atomic_load(&s->max_seen))
			atomic_store(&s->max_seen, n);
	}
	httpd_stats_get(&s->stats, s->h);
	/* let clients that already have their answer finish closing */
	for (i = 0; i < 100 && httpd_clients(s->h) > 0; i++)
		httpd_poll_once(s->h, 20);
	return NULL;
}

static struct server *
server_start(const struct httpd_options *opts)
{
	struct server *s = calloc(1, sizeof(*s));

	assert_int_equal(httpd_new(&s->h, "127.0.0.1:0", opts), 0);
	httpd_routes_set(s->h, routes, sizeof(routes) / sizeof(routes[0]));
	s->port = httpd_port(s->h);
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
	return s;
}

/* Stop the server; its counters as they were when it stopped into *st. */
static size_t
server_stop_stats(struct server *s, struct httpd_stats *st)
{
	size_t left;

	atomic_store(&s->stop, 1);
	pthread_join(s->thread, NULL);
	if (st != NULL)
		*st = s->stats;
	left = httpd_clients(s->h);
	httpd_free(s->h);
	free(s);
	return left;
}

static size_t
server_stop(struct server *s)
{
	return server_stop_stats(s, NULL);
}

/* Connect from 127.0.0.<from> (0: let the kernel pick 127.0.0.1). */
static int
client_connect_from(int port, int from)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 10 };
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	if (from > 0) {
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK - 1 + (uint32_t)from);
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
			fail_msg("bind 127.0.0.%d: %s", from, strerror(errno));
	}
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static int
client_connect(int port)
{
	return client_connect_from(port, 0);
}

static void
send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0)
			return;		/* the server may have closed already */
		p += n;
		len -= (size_t)n;
	}
}

/* Read until EOF (*lenp bytes); the caller frees.  NULL on a receive timeout. */
static char *
recv_all_len(int fd, size_t *lenp)
{
	struct buf b;
	char tmp[4096];
	ssize_t n;

	buf_init(&b, 1 << 25);
	while ((n = recv(fd, tmp, sizeof(tmp), 0)) > 0)
		buf_add(&b, tmp, (size_t)n);
	if (n < 0 && errno != ECONNRESET) {
		buf_dispose(&b);
		return NULL;
	}
	return buf_detach(&b, lenp);
}

static char *
recv_all(int fd)
{
	return recv_all_len(fd, NULL);
}

static char *
request(int port, const char *raw)
{
	int fd = client_connect(port);
	char *resp;

	send_all(fd, raw, strlen(raw));
	resp = recv_all(fd);
	close(fd);
	assert_non_null(resp);
	return resp;
}

static int
status_of(const char *resp)
{
	int status = 0;

	if (sscanf(resp, "HTTP/1.1 %d ", &status) != 1)
		return -1;
	return status;
}

static const char *
body_of(const char *resp)
{
	const char *p = strstr(resp, "\r\n\r\n");

	return p ? p + 4 : "";
}

/*
 * A body larger than the socket's send buffer: sent in several partial
 * writes, across head and body, every byte in place; HEAD gives its
 * length and no body.
 */
static void
test_httpd__big_body(void **state)
{
	struct server *s;
	const char *body;
	char *r, want[64];
	size_t i, len, bad = 0;
	int fd;

	(void)state;
	s = server_start(NULL);
	fd = client_connect(s->port);
	send_all(fd, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n",
	    strlen("GET /big HTTP/1.1\r\nHost: t\r\n\r\n"));
	r = recv_all_len(fd, &len);
	close(fd);
	assert_non_null(r);
	assert_int_equal(status_of(r), 200);
	snprintf(want, sizeof(want), "\r\nContent-Length: %u\r\n", BIG_LEN);
	assert_non_null(strstr(r, want));
	body = body_of(r);
	assert_int_equal(len - (size_t)(body - r), BIG_LEN);
	for (i = 0; i < BIG_LEN; i++)
		if ((unsigned char)body[i] != ((i * 31u + (i >> 12)) & 0xff))
			bad++;
	assert_int_equal(bad, 0);
	free(r);

	r = request(s->port, "HEAD /big HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(status_of(r), 200);
	assert_non_null(strstr(r, want));
	assert_string_equal(body_of(r), "");
	free(r);
	assert_int_equal(server_stop(s), 0);
}

static void
test_httpd__routes(void **state)
{
	struct server *s;
	char *r;

	(void)state;
	s = server_start(NULL);

	r = request(s->port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(status_of(r), 200);
	assert_non_null(strstr(r, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
	assert_non_null(strstr(r, "\r\nContent-Length: 11\r\n"));
	assert_non_null(strstr(r, "\r\nConnection: close\r\n"));
	assert_string_equal(body_of(r), "hello root\n");
	free(r);

	r = request(s->port, "GET /api/echo?limit=50&name=a%3Cb HTTP/1.0\r\n\r\n");
	assert_int_equal(status_of(r), 200);
	assert_non_null(strstr(r, "\r\nX-Test: yes\r\n"));
	assert_non_null(strstr(r, "\r\nContent-Type: application/json\r\n"));
	assert_string_equal(body_of(r),
	    "{\"path\":\"/api/echo\",\"limit\":50,\"name\":\"a<b\"}");
	free(r);

	r = request(s->port, "GET /api/echo?limit=5000 HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(status_of(r), 400);
	free(r);

	r = request(s->port, "GET /static/app.css HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(status_of(r), 200);
	assert_string_equal(body_of(r), "hello static\n");
	free(r);

	r = request(s->port, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(status_of(r), 404);
	free(r);

	r = request(s->port, "GET /fail HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(status_of(r), 500);
	assert_null(strstr(r, "deliberate"));	/* internals stay in the log */
	free(r);

	r = request(s->port, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(status_of(r), 503);
	assert_string_equal(body_of(r), "standby\n");
	free(r);

	r = request(s->port, "GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(status_of(r), 200);
	assert_string_equal(body_of(r), "{\"cluster_id\":\"c\",\"role\":\"leader\","
	    "\"revision\":null,\"last_pass_age_seconds\":600,\"status\":\"ok\","
	    "\"max_pass_age_seconds\":600}");
	free(r);
	r = request(s->port, "GET /health?old HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(status_of(r), 503);
	assert_non_null(strstr(body_of(r), "\"status\":\"stale\""));
	free(r);
	r = request(s->port, "GET /health?never HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(status_of(r), 503);
	assert_non_null(strstr(body_of(r), "\"status\":\"starting\""));
	free(r);
	r = request(s->port, "GET /health?standby,never HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(status_of(r), 200);
	assert_non_null(strstr(body_of(r), "\"role\":\"standby\""));
	free(r);

	r = request(s->port, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
	assert_int_equal(status_of(r), 405);
	assert_non_null(strstr(r, "\r\nAllow: GET, HEAD\r\n"));
	free(r);

	r = request(s->port, "DELETE /api/echo HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(status_of(r), 405);
	free(r);

	r = request(s->port, "GARBAGE\r\n\r\n");
	assert_int_equal(status_of(r), 400);
	free(r);

	r = request(s->port, "GET / HTTP/1.1\r\n\r\n");	/* no Host */
	assert_int_equal(status_of(r), 400);
	free(r);

	r = request(s->port, "GET / HTTP/3.0\r\nHost: t\r\n\r\n");
	assert_int_equal(status_of(r), 505);
	free(r);

	{
		static const char nul[] = "GET /\0x HTTP/1.1\r\nHost: t\r\n\r\n";
		int fd = client_connect(s->port);

		send_all(fd, nul, sizeof(nul) - 1);
		r = recv_all(fd);
		close(fd);
		assert_non_null(r);
		assert_int_equal(status_of(r), 400);
		free(r);
	}

	/* HEAD: same headers (Content-Length of the GET body), no body */
	r = request(s->port, "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(status_of(r), 200);
	assert_non_null(strstr(r, "\r\nContent-Length: 11\r\n"));
	assert_string_equal(body_of(r), "");
	free(r);

	assert_int_equal(server_stop(s), 0);
}

static void
test_httpd__oversized(void **state)
{
	struct server *s;
	struct buf b;
	char *r;
	int i;

	(void)state;
	s = server_start(NULL);

	/* 9 KiB of headers: 431, and the client gets the answer, not a reset */
	buf_init(&b, 1 << 20);
	buf_addstr(&b, "GET / HTTP/1.1\r\nHost: t\r\n");
	for (i = 0; i < 300; i++)
		buf_printf(&b, "X-Filler-%03d: %s\r\n", i, "abcdefghijklmnop");
	buf_addstr(&b, "\r\n");
	assert_true(b.len > 8192);
	r = request(s->port, buf_cstr(&b));
	assert_int_equal(status_of(r), 431);
	free(r);

	/* a 9 KiB request line: 414 */
	buf_reset(&b);
	buf_addstr(&b, "GET /");
	for (i = 0; i < 9000; i++)
		buf_addch(&b, 'a');
	buf_addstr(&b, " HTTP/1.1\r\nHost: t\r\n\r\n");
	r = request(s->port, buf_cstr(&b));
	assert_int_equal(status_of(r), 414);
	free(r);

	/* just under the limit is fine */
	buf_reset(&b);
	buf_addstr(&b, "GET / HTTP/1.1\r\nHost: t\r\nX-Pad: ");
	while (b.len < 8192 - 4)
		buf_addch(&b, 'p');
	buf_addstr(&b, "\r\n\r\n");
	assert_int_equal(b.len, 8192);
	r = request(s->port, buf_cstr(&b));
	assert_int_equal(status_of(r), 200);
	free(r);
	buf_dispose(&b);

	assert_int_equal(server_stop(s), 0);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
test_httpd__slowloris(void **state)
{
	const struct httpd_options opts = { .request_timeout_ms = 300 };
	struct server *s;
	int64_t t0, took;
	char *r;
	int fd, fd2, i;

	(void)state;
	s = server_start(&opts);
	t0 = now_ms();
	fd = client_connect(s->port);
	/* dribble a header byte every 50 ms: never finishes in 300 ms */
	send_all(fd, "GET / HTTP/1.1\r\n", 16);
	fd2 = client_connect(s->port);	/* connects and says nothing */
	for (i = 0; i < 10; i++) {
		if (send(fd, "X", 1, MSG_NOSIGNAL) < 0)
			break;
		usleep(50 * 1000);
	}
	r = recv_all(fd);
	took = now_ms() - t0;
	assert_non_null(r);
	assert_string_equal(r, "");		/* dropped without a response */
	free(r);
	assert_true(took >= 250);
	assert_true(took < 3000);
	r = recv_all(fd2);
	assert_non_null(r);
	assert_string_equal(r, "");
	free(r);
	close(fd);
	close(fd2);

	/* the server still answers afterwards */
	r = request(s->port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(status_of(r), 200);
	free(r);
	assert_int_equal(server_stop(s), 0);
}

static int64_t
fake_clock(void *arg)
{
	return *(int64_t *)arg;
}

/* The default 3 s header timeout, on an injected clock, without sleeping. */
static void
test_httpd__timeout_clock(void **state)
{
	int64_t now = 1000000;
	const struct httpd_options opts = { .clock = fake_clock, .clock_arg = &now };
	struct httpd *h;
	char *r;
	int fd, fd2;

	(void)state;
	assert_int_equal(httpd_new(&h, "127.0.0.1:0", &opts), 0);
	fd = client_connect(httpd_port(h));	/* the kernel completes it */
	assert_int_equal(httpd_poll_once(h, 1000), 0);
	assert_int_equal(httpd_clients(h), 1);
	assert_int_equal(httpd_timeout_ms(h), 3000);
	now += 2999;
	assert_int_equal(httpd_timeout_ms(h), 1);
	assert_int_equal(httpd_handle(h, NULL, 0), 0);
	assert_int_equal(httpd_clients(h), 1);	/* not yet */
	fd2 = client_connect(httpd_port(h));
	assert_int_equal(httpd_poll_once(h, 1000), 0);
	assert_int_equal(httpd_clients(h), 2);
	now += 1;
	assert_int_equal(httpd_timeout_ms(h), 0);
	assert_int_equal(httpd_handle(h, NULL, 0), 0);
	assert_int_equal(httpd_clients(h), 1);	/* the first one went */
	r = recv_all(fd);
	assert_non_null(r);
	assert_string_equal(r, "");
	free(r);
	assert_int_equal(httpd_timeout_ms(h), 2999);
	close(fd);
	close(fd2);
	httpd_free(h);
}

/* n rounds of the server's loop, waiting at most 50 ms each. */
static void
pump(struct httpd *h, int n)
{
	while (n-- > 0)
		assert_int_equal(httpd_poll_once(h, 50), 0);
}

/* 1 when the server has closed fd (EOF or reset), 0 while it is open. */
static int
client_dropped(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, 20) == 0)
		return 0;
	return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

/*
 * Full: the least recently active connection goes for a new one, but only
 * once it has had min_idle_ms to send its request; until then the new one
 * waits in the backlog and the server wakes when that time comes.
 */
static void
test_httpd__evict_lru(void **state)
{
	int64_t now = 1000000;
	const struct httpd_options opts = { .clock = fake_clock,
	    .clock_arg = &now, .max_clients = 3, .max_per_client = 3 };
	struct httpd_stats st;
	struct httpd *h;
	int c1, c2, c3, c4;

	(void)state;
	assert_int_equal(httpd_new(&h, "127.0.0.1:0", &opts), 0);
	c1 = client_connect(httpd_port(h));
	c2 = client_connect(httpd_port(h));
	c3 = client_connect(httpd_port(h));
	pump(h, 4);
	assert_int_equal(httpd_clients(h), 3);
	send_all(c1, "GET / HTTP/1.1\r\n", 16);	/* c1: most recently active */
	pump(h, 1);
	c4 = client_connect(httpd_port(h));
	pump(h, 2);
	assert_int_equal(httpd_clients(h), 3);	/* c4 waits: nobody idle enough */
	assert_int_equal(httpd_fds(h, NULL, 0), 3);	/* not the listener */
	assert_int_equal(httpd_timeout_ms(h), 250);
	now += 250;
	assert_int_equal(httpd_fds(h, NULL, 0), 4);
	assert_int_equal(httpd_timeout_ms(h), 3000 - 250);
	pump(h, 2);
	assert_int_equal(httpd_clients(h), 3);
	assert_true(client_dropped(c2));	/* accepted before c3, idle since */
	assert_false(client_dropped(c1));
	assert_false(client_dropped(c3));
	assert_false(client_dropped(c4));
	httpd_stats_get(&st, h);
	assert_int_equal(st.accepted, 4);
	assert_int_equal(st.dropped_full, 1);
	assert_int_equal(st.dropped_client, 0);
	/* the header deadline still counts from connecting, trickle or not */
	now += 3000 - 250;
	pump(h, 1);
	assert_true(client_dropped(c1));
	assert_true(client_dropped(c3));
	assert_false(client_dropped(c4));
	httpd_stats_get(&st, h);
	assert_int_equal(st.timed_out, 2);
	close(c1);
	close(c2);
	close(c3);
	close(c4);
	httpd_free(h);
}

/*
 * An address at its cap gives up its own least recently active connection
 * for its new one, at once; other addresses keep theirs.
 */
static void
test_httpd__evict_per_client(void **state)
{
	int64_t now = 1000000;
	const struct httpd_options opts = { .clock = fake_clock,
	    .clock_arg = &now, .max_clients = 8, .max_per_client = 2 };
	struct httpd_stats st;
	struct httpd *h;
	int b1, a1, a2, a3;

	(void)state;
	assert_int_equal(httpd_new(&h, "127.0.0.1:0", &opts), 0);
	b1 = client_connect_from(httpd_port(h), 3);
	pump(h, 2);
	a1 = client_connect_from(httpd_port(h), 2);
	pump(h, 2);
	a2 = client_connect_from(httpd_port(h), 2);
	pump(h, 2);
	assert_int_equal(httpd_clients(h), 3);
	a3 = client_connect_from(httpd_port(h), 2);
	pump(h, 2);
	assert_int_equal(httpd_clients(h), 3);
	assert_true(client_dropped(a1));
	assert_false(client_dropped(a2));
	assert_false(client_dropped(a3));
	assert_false(client_dropped(b1));
	httpd_stats_get(&st, h);
	assert_int_equal(st.dropped_client, 1);
	assert_int_equal(st.dropped_full, 0);
	close(a1);
	close(a2);
	close(a3);
	close(b1);
	httpd_free(h);
}

#define FLOOD		200
#define FLOOD_PROBES	5

/*
 * GET / on a fresh connection from 127.0.0.1, every probe answered 200
 * within a second; print how long each took.  Returns the slowest, in ms.
 */
static int64_t
probe_under_flood(int port, const char *what)
{
	int64_t t0, took, worst = 0;
	char *r;
	int i;

	for (i = 0; i < FLOOD_PROBES; i++) {
		t0 = now_ms();
		r = request(port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
		took = now_ms() - t0;
		assert_int_equal(status_of(r), 200);
		free(r);
		print_message("httpd: %s: probe %d answered in %lld ms\n", what, i,
		    (long long)took);
		if (took >= 1000)
			fail_msg("%s: probe %d took %lld ms", what, i, (long long)took);
		if (took > worst)
			worst = took;
		usleep(100 * 1000);
	}
	return worst;
}

static void
stats_print(const struct httpd_stats *st, int dropped)
{
	print_message("httpd: accepted %llu, dropped: %llu full, %llu per-client "
	    "cap, %llu timed out; %d flood connections closed\n",
	    (unsigned long long)st->accepted,
	    (unsigned long long)st->dropped_full,
	    (unsigned long long)st->dropped_client,
	    (unsigned long long)st->timed_out, dropped);
}

/* 200 idle connections from the address the probes come from. */
static void
test_httpd__flood_idle_one_client(void **state)
{
	struct httpd_stats st;
	struct server *s;
	int fds[FLOOD], i, dropped = 0;

	(void)state;
	s = server_start(NULL);
	for (i = 0; i < FLOOD; i++)
		fds[i] = client_connect(s->port);
	probe_under_flood(s->port, "200 idle from 127.0.0.1");
	assert_true(atomic_load(&s->max_seen) <= 32);	/* one address */
	for (i = 0; i < FLOOD; i++) {
		dropped += client_dropped(fds[i]);
		close(fds[i]);
	}
	assert_int_equal(server_stop_stats(s, &st), 0);
	stats_print(&st, dropped);
	/* at most 32 from one address: the rest went, oldest first */
	assert_true(dropped >= FLOOD - 32);
	assert_true(st.dropped_client >= FLOOD - 32 + 1);
	assert_int_equal(st.dropped_full, 0);
}

/* 200 idle connections from 200 other addresses. */
static void
test_httpd__flood_idle_many_clients(void **state)
{
	struct httpd_stats st;
	struct server *s;
	int fds[FLOOD], i, dropped = 0;

	(void)state;
	s = server_start(NULL);
	for (i = 0; i < FLOOD; i++)
		fds[i] = client_connect_from(s->port, 2 + i);
	probe_under_flood(s->port, "200 idle from 127.0.0.2-201");
	assert_true(atomic_load(&s->max_seen) <= HTTPD_MAX_CLIENTS_DEFAULT);
	for (i = 0; i < FLOOD; i++) {
		dropped += client_dropped(fds[i]);
		close(fds[i]);
	}
	assert_int_equal(server_stop_stats(s, &st), 0);
	stats_print(&st, dropped);
	assert_true(dropped >= FLOOD - HTTPD_MAX_CLIENTS_DEFAULT);
	assert_true(st.dropped_full >= FLOOD - HTTPD_MAX_CLIENTS_DEFAULT);
	assert_int_equal(st.dropped_client, 0);
}

struct trickle {
	int		*fds;
	int		 n;
	atomic_int	 stop;
	int		 sent;		/* bytes that went out */
};

/* A header byte on every connection every 50 ms. */
static void *
trickle_main(void *arg)
{
	struct trickle *t = arg;
	int i;

	while (!atomic_load(&t->stop)) {
		for (i = 0; i < t->n; i++)
			if (send(t->fds[i], "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
				t->sent++;
		usleep(50 * 1000);
	}
	return NULL;
}

/*
 * Slowloris: 200 connections, half from the probes' address and half from
 * 100 others, each trickling its header a byte every 50 ms.  The probes
 * are answered; no trickler outlives the header deadline.
 */
static void
test_httpd__flood_slowloris(void **state)
{
	const struct httpd_options opts = { .header_timeout_ms = 1500 };
	struct trickle t = { 0 };
	struct httpd_stats st;
	struct server *s;
	pthread_t thr;
	int fds[FLOOD], i, dropped = 0;
	int64_t t0;

	(void)state;
	s = server_start(&opts);
	t0 = now_ms();
	for (i = 0; i < FLOOD; i++) {
		fds[i] = client_connect_from(s->port, i % 2 ? 0 : 2 + i / 2);
		send_all(fds[i], "GET / HTTP/1.1\r\nX-Slow: ",
		    strlen("GET / HTTP/1.1\r\nX-Slow: "));
	}
	t.fds = fds;
	t.n = FLOOD;
	assert_int_equal(pthread_create(&thr, NULL, trickle_main, &t), 0);
	probe_under_flood(s->port, "200 slowloris");
	/* keep trickling past the deadline: every trickler is dropped */
	while (now_ms() - t0 < 1500 + 1000)
		usleep(50 * 1000);
	atomic_store(&t.stop, 1);
	pthread_join(thr, NULL);
	assert_true(t.sent > FLOOD);
	for (i = 0; i < FLOOD; i++) {
		dropped += client_dropped(fds[i]);
		close(fds[i]);
	}
	assert_int_equal(server_stop_stats(s, &st), 0);
	stats_print(&st, dropped);
	assert_int_equal(dropped, FLOOD);
	assert_true(st.timed_out > 0);
	assert_true(st.dropped_client > 0);
	/* each trickler accepted once and gone by a deadline or for a newer one */
	assert_int_equal(st.accepted, FLOOD + FLOOD_PROBES);
	assert_true(st.timed_out + st.dropped_client + st.dropped_full >= FLOOD);
	assert_true(st.timed_out + st.dropped_client + st.dropped_full <=
	    FLOOD + FLOOD_PROBES);
}

#define NCLIENTS	64

struct client {
	int	port;
	int	id;
	int	ok;
};

static void *
client_main(void *arg)
{
	struct client *c = arg;
	char req[128], want[64], *r;
	int fd;

	snprintf(req, sizeof(req),
	    "GET /api/echo?name=c%d HTTP/1.1\r\nHost: t\r\n\r\n", c->id);
	snprintf(want, sizeof(want), "\"name\":\"c%d\"}", c->id);
	fd = client_connect(c->port);
	send_all(fd, req, strlen(req));
	r = recv_all(fd);
	close(fd);
	c->ok = r != NULL && status_of(r) == 200 && strstr(r, want) != NULL;
	free(r);
	return NULL;
}

/*
 * 64 clients at once against 8 slots held by idle connections: the idle
 * ones are dropped for them (once they have had min_idle_ms), every client
 * is answered, and no more than 8 connections are ever open.
 */
static void
test_httpd__concurrent_clients(void **state)
{
	const struct httpd_options opts = { .max_clients = 8,
	    .max_per_client = 8 };
	struct client c[NCLIENTS];
	pthread_t t[NCLIENTS];
	struct httpd_stats st;
	struct server *s;
	int i, fds[8];

	(void)state;
	s = server_start(&opts);
	for (i = 0; i < 8; i++)
		fds[i] = client_connect(s->port);
	usleep(100 * 1000);
	for (i = 0; i < NCLIENTS; i++) {
		c[i] = (struct client){ s->port, i, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, client_main, &c[i]), 0);
	}
	for (i = 0; i < NCLIENTS; i++) {
		pthread_join(t[i], NULL);
		if (!c[i].ok)
			fail_msg("client %d failed", i);
	}
	for (i = 0; i < 8; i++) {
		assert_true(client_dropped(fds[i]));
		close(fds[i]);
	}
	assert_int_equal(atomic_load(&s->max_seen), 8);
	assert_int_equal(server_stop_stats(s, &st), 0);
	assert_int_equal(st.accepted, 8 + NCLIENTS);
	assert_true(st.dropped_full >= 8);
	assert_int_equal(st.dropped_client, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_httpd__parse_table),
		cmocka_unit_test(test_httpd__parse_fields),
		cmocka_unit_test(test_httpd__addresses),
		cmocka_unit_test(test_httpd__html_escape),
		cmocka_unit_test(test_httpd__duration_format),
		cmocka_unit_test(test_httpd__status_page),
		cmocka_unit_test(test_httpd__env_page),
		cmocka_unit_test(test_httpd__status_json),
		cmocka_unit_test(test_httpd__status_lent),
		cmocka_unit_test(test_httpd__fds_room),
		cmocka_unit_test(test_httpd__routes),
		cmocka_unit_test(test_httpd__oversized),
		cmocka_unit_test(test_httpd__slowloris),
		cmocka_unit_test(test_httpd__big_body),
		cmocka_unit_test(test_httpd__timeout_clock),
		cmocka_unit_test(test_httpd__concurrent_clients),
		cmocka_unit_test(test_httpd__evict_lru),
		cmocka_unit_test(test_httpd__evict_per_client),
		cmocka_unit_test(test_httpd__flood_idle_one_client),
		cmocka_unit_test(test_httpd__flood_idle_many_clients),
		cmocka_unit_test(test_httpd__flood_slowloris),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
