/*
 * cmd_stop.c - `envctl stop NAME` and `envctl start NAME`: stop an
 * environment's instance keeping its disk, and start it again
 * (docs/design.md §6.8).
 *
 *	envctl stop NAME [-o json]
 *	envctl start NAME [--wait DURATION] [-o json]
 *
 * Each records who asked (a `command` event, audit.c) before anything it
 * causes, under the command's correlation id; the work is the
 * pipeline's (pipeline_env_stop/start, through engine_power_*).  start
 * waits for readiness again (default 10m).  start of a parked
 * environment (shut down idle, on_idle: terminate) un-parks it and
 * returns: the next pass provisions a new instance.  Exit 0, 1 on any error or
 * refusal (a spot environment, a row that is not ready, an instance not
 * provably ours, host keys that changed, readiness not reached in time).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cmd.h"
#include "config.h"
#include "ctl.h"
#include "duration.h"
#include "engine.h"
#include "err.h"
#include "log.h"

#define POWER_WAIT_DEFAULT	600	/* seconds start waits for readiness */

static void
power_print(const struct engine_power *ep, const char *verb, int json)
{
	json_t *o;
	char *s;

	if (!json && ep->parked) {
		printf("%s %s: the next pass provisions it (a new instance)\n",
		    verb, ep->row.name);
		return;
	}
	if (!json) {
		printf("%s %s: instance %s%s%s\n", verb, ep->row.name,
		    ep->row.instance_id, ep->row.public_ip != NULL ?
		    ", public IP " : "", ep->row.public_ip != NULL ?
		    ep->row.public_ip : "");
		return;
	}
	if (ep->parked)
		o = json_pack("{s:s, s:s, s:n}", "action", verb, "env",
		    ep->row.name, "instance_id");
	else
		o = json_pack("{s:s, s:s, s:s, s:s?}", "action", verb, "env",
		    ep->row.name, "instance_id", ep->row.instance_id,
		    "public_ip", ep->row.public_ip);
	if (o == NULL)
		return;
	if ((s = json_dumps(o, JSON_COMPACT)) != NULL) {
		printf("%s\n", s);
		free(s);
	}
	json_decref(o);
}

static int
power_cmd(int argc, char **argv, int start)
{
	const char *verb = start ? "start" : "stop";
	struct config *cfg = NULL;
	struct engine_power ep;
	const char *name = NULL, *waitarg = NULL;
	char cid[LOG_CID_LEN], flags[256], what[64], who[256];
	long long wait_s = POWER_WAIT_DEFAULT;
	int json, code = EXIT_ERROR, i, bad = 0;

	memset(&ep, 0, sizeof(ep));
	audit_flags(flags, sizeof(flags), argc - 1, argv + 1);
	ctl_cid_begin(cid);
	if (ctl_config_load(&cfg, &argc, argv) < 0) {
		cmd_error("configuration", err_get());
		return EXIT_ERROR;
	}
	json = ctl_take_json_flag(&argc, argv);
	for (i = 1; i < argc; i++) {
		if (start && strcmp(argv[i], "--wait") == 0 && i + 1 < argc)
			waitarg = argv[++i];
		else if (start && strncmp(argv[i], "--wait=", 7) == 0)
			waitarg = argv[i] + 7;
		else if (argv[i][0] != '-' && name == NULL)
			name = argv[i];
		else
			bad = 1;
	}
	if (bad || name == NULL) {
		fprintf(stderr, "usage: envctl %s NAME%s [-o json]\n", verb,
		    start ? " [--wait DURATION]" : "");
		goto out;
	}
	if (waitarg != NULL && duration_parse(&wait_s, waitarg) < 0) {
		cmd_error("--wait", err_get());
		goto out;
	}
	snprintf(what, sizeof(what), "%s %s", verb, name);
	if (engine_power_open(&ep, cfg, name, cid) < 0) {
		cmd_error(what, err_get());
		goto out;
	}
	/* who asked, before anything it causes (same correlation id) */
	if (audit_command_record(ep.store, ep.aws, verb, flags) < 0)
		log_warnx("recording the command: %s", err_get());
	audit_who(who, sizeof(who));
	ep.who = who;
	if (engine_power_run(&ep, start, (unsigned)wait_s) < 0) {
		cmd_error(what, err_get());
		goto out;
	}
	power_print(&ep, ep.parked ? "unparked" : start ? "started" :
	    "stopping", json);
	code = EXIT_OK;
out:
	engine_power_close(&ep);
	config_free(cfg);
	return code;
}

int
cmd_stop(int argc, char **argv)
{
	return power_cmd(argc, argv, 0);
}

int
cmd_start(int argc, char **argv)
{
	return power_cmd(argc, argv, 1);
}
