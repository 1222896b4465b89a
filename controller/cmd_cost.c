/*
 * envctl cost [--by workspace|environment] [--since DURATION] [-o json]
 * - what the fleet has cost and costs now, from the cost ledger
 * (docs/design.md §6.9).
 *
 * Booked: what each segment bills inside [now - since, now] (the cost
 * rule, pipeline_cost_add()); running: the dollars per hour of what is
 * open now; the spot saving: what the same seconds would have cost on
 * demand minus what they cost.  Grouped by workspace (default) or by
 * environment name (every incarnation of it), with the totals.
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
#include "mem.h"
#include "pipeline.h"
#include "store.h"

#define COST_SINCE_DEFAULT	(30LL * 86400)	/* 30d */

struct cost_group {
	const char		*key;	/* borrowed from the segments */
	struct pipeline_cost	 c;
};

static void
cost_usage(void)
{
	fprintf(stderr, "usage: envctl cost [--by workspace|environment] "
	    "[--since DURATION] [-o json]\n");
}

/* The flags into *by_env and *since_s; ERR_INVALID after saying why. */
static int
cost_args(int *by_env, long long *since_s, int argc, char **argv)
{
	int i;

	*by_env = 0;
	*since_s = COST_SINCE_DEFAULT;
	for (i = 1; i < argc; i++) {
		const char *f = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(f, "--by") != 0 && strcmp(f, "--since") != 0) {
			cost_usage();
			return ERR_INVALID;
		}
		if (val == NULL) {
			cmd_error(f, "needs a value");
			return ERR_INVALID;
		}
		i++;
		if (strcmp(f, "--by") == 0) {
			if (strcmp(val, "workspace") == 0)
				*by_env = 0;
			else if (strcmp(val, "environment") == 0)
				*by_env = 1;
			else {
				cmd_error("--by", "workspace or environment");
				return ERR_INVALID;
			}
		} else if (duration_parse(since_s, val) < 0 || *since_s <= 0) {
			cmd_error("--since", "not a duration (30m, 24h, 7d)");
			return ERR_INVALID;
		}
	}
	return 0;
}

/* The group of key in g (n of them, grown as needed). */
static struct cost_group *
cost_group_of(struct cost_group **g, size_t *n, const char *key)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp((*g)[i].key, key) == 0)
			return &(*g)[i];
	*g = xreallocarray(*g, *n + 1, sizeof(**g));
	memset(&(*g)[*n], 0, sizeof(**g));
	(*g)[*n].key = key;
	return &(*g)[(*n)++];
}

static int
cost_group_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cost_group *)a)->key,
	    ((const struct cost_group *)b)->key);
}

static json_t *
cost_json(const struct pipeline_cost *c)
{
	return json_pack("{s:f, s:f, s:f, s:I}", "booked_usd", c->usd,
	    "usd_per_hour", c->usd_per_hour, "spot_saving_usd", c->saved_usd,
	    "compute_seconds", (json_int_t)c->seconds);
}

static void
cost_print_json(const struct cost_group *g, size_t n,
    const struct pipeline_cost *total, int by_env, time_t since, time_t now)
{
	json_t *o = json_object(), *arr = json_array(), *e;
	size_t i;

	json_object_set_new(o, "by", json_string(by_env ? "environment" :
	    "workspace"));
	json_object_set_new(o, "since", json_integer((json_int_t)since));
	json_object_set_new(o, "now", json_integer((json_int_t)now));
	for (i = 0; i < n; i++) {
		e = cost_json(&g[i].c);
		json_object_set_new(e, by_env ? "environment" : "workspace",
		    json_string(g[i].key));
		json_array_append_new(arr, e);
	}
	json_object_set_new(o, "groups", arr);
	json_object_set_new(o, "total", cost_json(total));
	json_dumpf(o, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(o);
}

static void
cost_print_text(const struct cost_group *g, size_t n,
    const struct pipeline_cost *total, int by_env)
{
	char key[128];
	size_t i;

	printf("%-32s %14s %12s %14s\n", by_env ? "ENVIRONMENT" : "WORKSPACE",
	    "BOOKED_USD", "USD_PER_H", "SPOT_SAVED_USD");
	for (i = 0; i < n; i++)
		printf("%-32s %14.4f %12.4f %14.4f\n",
		    log_sanitize(key, sizeof(key), *g[i].key ? g[i].key : "-"),
		    g[i].c.usd, g[i].c.usd_per_hour, g[i].c.saved_usd);
	printf("%-32s %14.4f %12.4f %14.4f\n", "TOTAL", total->usd,
	    total->usd_per_hour, total->saved_usd);
}

int
cmd_cost(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct store *st = NULL;
	struct store_cost_seg *v = NULL;
	struct cost_group *g = NULL, *grp;
	struct pipeline_cost total;
	long long since_s;
	time_t now = time(NULL), since;
	size_t n = 0, ng = 0, i;
	int json, by_env, code = EXIT_ERROR;

	if (ctl_config_load(&cfg, &argc, argv) < 0) {
		cmd_error("configuration", err_get());
		return EXIT_ERROR;
	}
	json = ctl_take_json_flag(&argc, argv);
	if (cost_args(&by_env, &since_s, argc, argv) < 0)
		goto out;
	since = now - (time_t)since_s;
	if (ctl_store_open(&st, cfg) < 0 ||
	    store_cost_list(&v, &n, st, NULL, since, false) < 0) {
		cmd_error("cost", err_get());
		goto out;
	}
	memset(&total, 0, sizeof(total));
	for (i = 0; i < n; i++) {
		grp = cost_group_of(&g, &ng, by_env ? v[i].env_name :
		    v[i].workspace);
		pipeline_cost_add(&grp->c, &v[i], since, now);
		pipeline_cost_add(&total, &v[i], since, now);
	}
	if (ng > 1)
		qsort(g, ng, sizeof(*g), cost_group_cmp);
	if (json)
		cost_print_json(g, ng, &total, by_env, since, now);
	else
		cost_print_text(g, ng, &total, by_env);
	code = EXIT_OK;
out:
	free(g);
	store_cost_list_free(v, n);
	store_free(st);
	config_free(cfg);
	return code;
}
