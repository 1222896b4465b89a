/*
 * httpd_demo - lib/metrics and lib/httpd put together the way the daemon
 * will, with sample data (hostile strings included), for httpd_it.py.
 *
 *   httpd_demo metrics          print the rendered registry on stdout
 *   httpd_demo page FILE        write the status page to FILE
 *   httpd_demo serve PORTFILE   serve /, /metrics, /healthz, /api/environments
 *                               and /api/events on 127.0.0.1:0,
 *                               write the port to PORTFILE, run until SIGTERM
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "err.h"
#include "httpd.h"
#include "metrics.h"

#define V(...)	((const char *const[]){ __VA_ARGS__ })

static volatile sig_atomic_t stop;

static const struct httpd_status_env sample_envs[] = {
	{ "web-1", "team-frontend", "ready", "done", "i-0123456789abcdef0",
	  "running", "10.0.1.17", 3 * 86400 + 4 * 3600, 41.87, NULL,
	  "SHA256:Lm0S0vUO1Fm3mTQqzq5v1Vt0w2W3jA4tVh0dXzZ1wY8", 0.0832, 95 },
	{ "api-dev", "team-backend", "provisioning", "TAGGED",
	  "i-0fedcba9876543210", "pending", NULL, 42, 0.01, NULL, NULL, 0.0416, -1 },
	{ "<script>alert(1)</script>", "\"><img src=x onerror=alert(2)>",
	  "error", "launch", NULL, NULL, NULL, 600, -1,
	  "RunInstances: InsufficientInstanceCapacity <b>us-east-1a</b> & retrying",
	  NULL, 0, -1 },
	{ "data-lab", "team-ml", "drift", "done", "i-0aaaabbbbccccdddd",
	  "running", "10.0.2.5", 7200, 112.5, NULL, NULL, 0.1664, 170 },
	{ "old-box", "team-ops", "terminating", "terminate", "i-0eeeeffff00001111",
	  "shutting-down", "10.0.3.9", 40 * 86400, 1520.0, NULL, NULL, 0, 540 },
};

static const struct httpd_status_event sample_events[] = {
	{ 0, "web-1", "remote.provision.ready", "ready after 88s" },
	{ 0, "<script>alert(1)</script>", "provision.error",
	  "</td></tr></table><script>alert(3)</script>" },
	{ 0, "data-lab", "drift.detected", "instance_type m5.large != t3.large" },
	{ 0, "old-box", "terminate.started", "spec removed at 0123abc" },
};

static int
sample_page(struct buf *out)
{
	struct httpd_status_event ev[4];
	struct httpd_status_facts facts = {
		.cluster_id = "dev-cluster<1>", .revision = "0123abcdef4567890123",
		.leader = 1, .last_pass_age = 7, .now = (int64_t)time(NULL),
	};
	struct httpd_status_envs envs;
	size_t i;

	memcpy(ev, sample_events, sizeof(ev));
	for (i = 0; i < 4; i++)
		ev[i].time = facts.now - 60 * (int64_t)(i + 1) * 7;
	httpd_status_envs_of(&envs, sample_envs,
	    sizeof(sample_envs) / sizeof(sample_envs[0]));
	return httpd_status_page_render(out, &facts, &envs, ev, 4);
}

static struct metrics_registry *
sample_registry(void)
{
	struct metrics_registry *reg;
	struct metrics_metric *actions, *envs, *prov, *leader, *passes, *cap;
	char name[32];
	int i;

	if (metrics_registry_new(&reg, 3) < 0)
		return NULL;
	if (metrics_counter_new(&actions, reg, "envctl_actions_total",
	    "Actions executed, by action and result.", V("action", "result", NULL)) < 0 ||
	    metrics_gauge_new(&envs, reg, "envctl_environments",
	    "Environments by status.", V("status", NULL)) < 0 ||
	    metrics_histogram_new(&prov, reg, "envctl_provision_seconds",
	    "Time from launch to ready.\nSecond line \\ backslash.", V("instance_type", NULL),
	    (const double[]){ 30, 60, 120, 300, 600 }, 5) < 0 ||
	    metrics_gauge_new(&leader, reg, "envctl_leader",
	    "1 when this controller holds the leader lock.", NULL) < 0 ||
	    metrics_counter_new(&passes, reg, "envctl_passes_total",
	    "Reconcile passes run.", NULL) < 0 ||
	    metrics_counter_new(&cap, reg, "envctl_capped_total",
	    "A metric with an unbounded label (capped at 3).", V("env", NULL)) < 0) {
		metrics_registry_free(reg);
		return NULL;
	}
	metrics_counter_add(actions, V("provision", "ok"), 12);
	metrics_counter_add(actions, V("provision", "error"), 2);
	metrics_counter_inc(actions, V("terminate", "ok"));
	metrics_gauge_set(envs, V("ready"), 40);
	metrics_gauge_set(envs, V("error"), 1);
	metrics_gauge_set(envs, V("weird \"quoted\" \\ status\nline"), 1);
	metrics_histogram_observe(prov, V("t3.micro"), 45.5);
	metrics_histogram_observe(prov, V("t3.micro"), 95);
	metrics_histogram_observe(prov, V("t3.micro"), 1000);
	metrics_histogram_observe(prov, V("m5.large"), 250.25);
	metrics_gauge_set(leader, NULL, 1);
	metrics_counter_add(passes, NULL, 1234);
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "env-%d", i);
		metrics_counter_inc(cap, V(name));
	}
	return reg;
}

static int
h_page(struct httpd_response *resp, const struct httpd_request *req, void *arg)
{
	(void)req;
	(void)arg;
	httpd_response_type(resp, "text/html; charset=utf-8");
	httpd_response_header(resp, "Content-Security-Policy",
	    HTTPD_STATUS_PAGE_CSP);
	return sample_page(httpd_response_body(resp));
}

/* /env?name=NAME: the page of one sample environment (web-1 held). */
static int
h_env(struct httpd_response *resp, const struct httpd_request *req, void *arg)
{
	static const struct httpd_status_held held = { "api-dev", NULL,
	    "quota", "quota of workspace team-backend: environments 4 + 1 > 4" };
	const struct httpd_status_facts facts = {
		.cluster_id = "dev-cluster<1>", .revision = "0123abcdef4567890123",
		.leader = 1, .last_pass_age = 7, .now = (int64_t)time(NULL),
		.ready_checks = "status,marker,hostkey",
	};
	const char *name = httpd_request_param(req, "name");
	struct httpd_status_event ev[4];
	size_t i, n = 0;

	(void)arg;
	for (i = 0; name != NULL &&
	    i < sizeof(sample_envs) / sizeof(sample_envs[0]); i++)
		if (strcmp(sample_envs[i].name, name) == 0)
			break;
	if (name == NULL || i == sizeof(sample_envs) / sizeof(sample_envs[0])) {
		httpd_response_status(resp, 404);
		return buf_addstr(httpd_response_body(resp), "no such environment\n");
	}
	for (size_t k = 0; k < 4; k++)
		if (strcmp(sample_events[k].env, name) == 0) {
			ev[n] = sample_events[k];
			ev[n++].time = facts.now - 60 * (int64_t)(k + 1);
		}
	httpd_response_type(resp, "text/html; charset=utf-8");
	httpd_response_header(resp, "Content-Security-Policy",
	    HTTPD_STATUS_PAGE_CSP);
	return httpd_status_env_page_render(httpd_response_body(resp), &facts,
	    &sample_envs[i], strcmp(name, "api-dev") == 0 ? &held : NULL, ev, n,
	    NULL);
}

static int
h_envs(struct httpd_response *resp, const struct httpd_request *req, void *arg)
{
	const struct httpd_status_facts facts = {
		.cluster_id = "dev-cluster<1>", .revision = "0123abcdef4567890123",
		.leader = 1, .last_pass_age = 7,
	};
	struct httpd_status_envs envs;

	(void)req;
	(void)arg;
	httpd_status_envs_of(&envs, sample_envs,
	    sizeof(sample_envs) / sizeof(sample_envs[0]));
	httpd_response_type(resp, "application/json");
	return httpd_status_envs_json(httpd_response_body(resp), &facts, &envs);
}

static int
h_events(struct httpd_response *resp, const struct httpd_request *req, void *arg)
{
	struct httpd_status_event ev[4];
	long limit;
	size_t i;

	(void)arg;
	if (httpd_request_param_int(&limit, req, "limit", 50, 0, 1000) < 0) {
		httpd_response_status(resp, 400);
		return buf_printf(httpd_response_body(resp), "%s\n", err_get());
	}
	memcpy(ev, sample_events, sizeof(ev));
	for (i = 0; i < 4; i++)
		ev[i].time = 1795000000 - 60 * (int64_t)i;
	httpd_response_type(resp, "application/json");
	return httpd_status_events_json(httpd_response_body(resp), ev,
	    (size_t)limit < 4 ? (size_t)limit : 4);
}

static int
h_healthz(struct httpd_response *resp, const struct httpd_request *req, void *arg)
{
	const struct httpd_status_facts facts = {
		.cluster_id = "dev-cluster<1>", .revision = "0123abcdef4567890123",
		.leader = 1, .last_pass_age = 7,
	};

	(void)req;
	(void)arg;
	return httpd_health_respond(resp, &facts, 600);
}

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int
serve(const char *portfile, struct metrics_registry *reg)
{
	const struct httpd_route routes[] = {
		{ "/", h_page, NULL },
		{ "/metrics", httpd_metrics_handler, reg },
		{ "/healthz", h_healthz, NULL },
		{ "/api/environments", h_envs, NULL },
		{ "/api/events", h_events, NULL },
		{ "/env", h_env, NULL },
	};
	struct httpd *h;
	FILE *f;

	if (httpd_new(&h, "127.0.0.1:0", NULL) < 0) {
		fprintf(stderr, "httpd_demo: %s\n", err_get());
		return 1;
	}
	httpd_routes_set(h, routes, sizeof(routes) / sizeof(routes[0]));
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	if ((f = fopen(portfile, "w")) == NULL) {
		perror(portfile);
		httpd_free(h);
		return 1;
	}
	fprintf(f, "%d\n", httpd_port(h));
	fclose(f);
	while (!stop)
		if (httpd_poll_once(h, 200) < 0 && errno != EINTR)
			break;
	httpd_free(h);
	return 0;
}

int
main(int argc, char **argv)
{
	struct metrics_registry *reg;
	struct buf b;
	FILE *f;
	int rc = 1;

	if (argc < 2 || (reg = sample_registry()) == NULL) {
		fprintf(stderr, "usage: httpd_demo metrics | page FILE | serve PORTFILE\n");
		return 1;
	}
	buf_init(&b, 1 << 20);
	if (strcmp(argv[1], "metrics") == 0) {
		if (metrics_render(&b, reg) == 0 &&
		    fwrite(b.ptr, 1, b.len, stdout) == b.len)
			rc = 0;
	} else if (strcmp(argv[1], "page") == 0 && argc == 3) {
		if (sample_page(&b) == 0 && (f = fopen(argv[2], "w")) != NULL) {
			rc = fwrite(b.ptr, 1, b.len, f) == b.len ? 0 : 1;
			fclose(f);
		}
	} else if (strcmp(argv[1], "serve") == 0 && argc == 3)
		rc = serve(argv[2], reg);
	else
		fprintf(stderr, "usage: httpd_demo metrics | page FILE | serve PORTFILE\n");
	buf_dispose(&b);
	metrics_registry_free(reg);
	return rc;
}
