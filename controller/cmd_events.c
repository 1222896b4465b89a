/*
 * envctl events [NAME] [--since DURATION] [--type TYPE] [--cid ID]
 *     [--limit N] [-o json] - read the audit trail.
 *
 * The cluster's events, oldest of the selection first: when, what, of
 * which environment, the correlation id of the pass or command that made
 * it (grep the logs for cid=<id>) and the spec revision that caused it.
 * NAME selects every incarnation of an environment; --type takes an
 * exact type or a prefix ending in '*' ("remote.*").
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "config.h"
#include "ctl.h"
#include "duration.h"
#include "err.h"
#include "log.h"
#include "store.h"

#define EVENTS_LIMIT_DEFAULT	200

static void
events_usage(void)
{
	fprintf(stderr, "usage: envctl events [NAME] [--since DURATION] "
	    "[--type TYPE] [--cid ID] [--limit N] [-o json]\n");
}

/* The flags of the command into q; NAME stays in argv. */
static int
events_args(struct store_event_query *q, int *argcp, char **argv)
{
	long long v;
	char *end;
	int i, out, argc = *argcp;

	memset(q, 0, sizeof(*q));
	q->limit = EVENTS_LIMIT_DEFAULT;
	for (i = out = 1; i < argc; i++) {
		const char *f = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(f, "--since") == 0 || strcmp(f, "--type") == 0 ||
		    strcmp(f, "--cid") == 0 || strcmp(f, "--limit") == 0) {
			if (val == NULL) {
				cmd_error(f, "needs a value");
				return ERR_INVALID;
			}
			i++;
		} else {
			argv[out++] = argv[i];
			continue;
		}
		if (strcmp(f, "--since") == 0) {
			if (duration_parse(&v, val) < 0 || v <= 0) {
				cmd_error("--since", "not a duration (30m, 24h, 7d)");
				return ERR_INVALID;
			}
			q->since = time(NULL) - (time_t)v;
		} else if (strcmp(f, "--type") == 0)
			q->type = val;
		else if (strcmp(f, "--cid") == 0)
			q->cid = val;
		else {
			v = strtoll(val, &end, 10);
			if (*val == '\0' || *end != '\0' || v < 1 || v > 100000) {
				cmd_error("--limit", "not a number from 1 to 100000");
				return ERR_INVALID;
			}
			q->limit = (size_t)v;
		}
	}
	argv[out] = NULL;
	*argcp = out;
	return 0;
}

/* An event's time as RFC 3339 UTC. */
static void
events_when(char *out, size_t outsz, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
events_print_text(const struct store_event *evs, size_t n)
{
	char when[32], env[128], payload[1024], type[128];
	size_t i;

	for (i = n; i-- > 0;) {
		const struct store_event *e = &evs[i];

		events_when(when, sizeof(when), e->created_at);
		printf("%s %-26s %-20s cid=%-16s rev=%.12s %s\n", when,
		    log_sanitize(type, sizeof(type), e->type),
		    *e->env != '\0' ? log_sanitize(env, sizeof(env), e->env) :
		    (*e->env_id != '\0' ? e->env_id : "-"),
		    *e->cid != '\0' ? e->cid : "-",
		    *e->revision != '\0' ? e->revision : "-",
		    log_sanitize(payload, sizeof(payload), e->payload));
	}
}

static void
events_print_json(const struct store_event *evs, size_t n)
{
	json_t *arr = json_array(), *o, *p;
	char when[32];
	size_t i;

	for (i = n; i-- > 0;) {
		const struct store_event *e = &evs[i];

		events_when(when, sizeof(when), e->created_at);
		o = json_object();
		json_object_set_new(o, "id", json_integer(e->id));
		json_object_set_new(o, "time", json_string(when));
		json_object_set_new(o, "type", json_string(e->type));
		json_object_set_new(o, "env", json_string(e->env));
		json_object_set_new(o, "env_id", json_string(e->env_id));
		json_object_set_new(o, "correlation_id", json_string(e->cid));
		json_object_set_new(o, "revision", json_string(e->revision));
		if ((p = json_loads(e->payload, 0, NULL)) == NULL)
			p = json_string(e->payload);
		json_object_set_new(o, "payload", p);
		json_array_append_new(arr, o);
	}
	json_dumpf(arr, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(arr);
}

int
cmd_events(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct store *st = NULL;
	struct store_event *evs = NULL;
	struct store_event_query q;
	size_t n = 0;
	int json, code = EXIT_ERROR;

	if (ctl_config_load(&cfg, &argc, argv) < 0) {
		cmd_error("configuration", err_get());
		return EXIT_ERROR;
	}
	json = ctl_take_json_flag(&argc, argv);
	if (events_args(&q, &argc, argv) < 0)
		goto out;
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		events_usage();
		goto out;
	}
	if (argc == 2)
		q.name = argv[1];
	if (ctl_store_open(&st, cfg) < 0 ||
	    store_events_query(&evs, &n, st, &q) < 0) {
		cmd_error("events", err_get());
		goto out;
	}
	if (json)
		events_print_json(evs, n);
	else
		events_print_text(evs, n);
	code = EXIT_OK;
out:
	store_events_free(evs, n);
	store_free(st);
	config_free(cfg);
	return code;
}
