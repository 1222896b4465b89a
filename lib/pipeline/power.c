/*
 * power.c - stop and start an environment, keeping its disk
 * (docs/design.md §6.8).  Only on-demand instances stop: a spot
 * environment is a one-time request and is refused.  Before either call
 * the instance must be provably ours (own.c).  The row stays `ready`
 * throughout: a stopped instance of a ready row is a state the planner
 * leaves alone (plan.h); a start waits here until the instance runs and
 * passes the readiness checks again (status checks; the bootstrap
 * marker and the same host keys as stored on the row), and records the
 * public IP it may have changed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ec2.h"
#include "log.h"
#include "pipeline_int.h"

static void
power_sleep(struct pipeline *p, unsigned ms)
{
	struct timespec ts;

	if (p->o.sleep_ms != NULL) {
		p->o.sleep_ms(ms);
		return;
	}
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* What both verbs ask of a row before any call. */
static int
power_check(struct pipeline *p, struct store_env *row, const char *verb)
{
	bool gone = false;
	int error;

	if (row->status != STORE_STATUS_READY || row->instance_id == NULL) {
		err_set("%s is %s, not ready; only a ready environment can %s",
		    row->name, store_status_str(row->status), verb);
		return ERR_INVALID;
	}
	if (row->market != NULL && strcmp(row->market, "spot") == 0) {
		err_set("%s is a spot environment: a one-time spot instance "
		    "cannot stop or start (only terminate)", row->name);
		return ERR_INVALID;
	}
	if ((error = pl_own_instance(&gone, p, row, row->instance_id)) < 0)
		return error;
	if (gone) {
		err_set("%s: instance %s is gone", row->name, row->instance_id);
		return ERR_NOTFOUND;
	}
	return 0;
}

/* The row's instance as EC2 has it now (state "" when gone). */
static int
power_state(struct pl_instance_now *now, struct pipeline *p,
    const struct store_env *row)
{
	int found = 0, error;

	memset(now, 0, sizeof(*now));
	if ((error = pl_instance_now(now, &found, p, NULL,
	    row->instance_id)) < 0)
		return error;
	if (!found)
		now->state[0] = '\0';
	return 0;
}

/* 1 when every fingerprint of have is one of want (space-separated). */
static int
keys_within(const char *have, const char *want)
{
	const char *s = have, *e, *w;
	size_t n;

	while (*s != '\0') {
		while (*s == ' ')
			s++;
		if (*s == '\0')
			break;
		for (e = s; *e != '\0' && *e != ' '; e++)
			;
		n = (size_t)(e - s);
		for (w = want; (w = strstr(w, "SHA256:")) != NULL; w += 7)
			if (strncmp(w, s, n) == 0 && (w[n] == ' ' ||
			    w[n] == '\0'))
				break;
		if (w == NULL)
			return 0;
		s = e;
	}
	return 1;
}

static int
power_event(struct pipeline *p, const struct store_env *row,
    const char *type, const char *extra)
{
	char name[256];

	pl_json_escape(name, sizeof(name), row->name);
	return pl_event(p, row->id, type, "{\"env\":\"%s\",\"instance_id\":"
	    "\"%s\"%s}", name, row->instance_id, extra != NULL ? extra : "");
}

/*
 * EC2 refused the call whose booking was written first: put stopped_at
 * back (and take back seconds), keeping the call's error message.
 */
static void
power_undo(struct pipeline *p, struct store_env *row, time_t stopped_at,
    int seconds)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "%s", err_get());
	row->stopped_at = stopped_at;
	row->stopped_seconds -= seconds;
	if (store_env_update(p->store, row, STORE_ENV_STOPPED_AT |
	    STORE_ENV_STOPPED_SECONDS) < 0)
		log_warnx("env=%s undoing the stop/start booking: %s",
		    row->name, err_get());
	err_set("%s", msg);
}

/* The row is stopped from now on: no compute cost (prices.c). */
static int
power_stopped_at(struct pipeline *p, struct store_env *row)
{
	row->stopped_at = pl_now(p);
	return pl_row_update(p, row, STORE_ENV_STOPPED_AT, "power.stopped.before",
	    "power.stopped.after");
}

int
pipeline_env_stop(struct pipeline *p, struct store_env *row)
{
	struct pl_instance_now now;
	int error;

	if ((error = power_check(p, row, "stop")) < 0)
		goto out;
	if ((error = power_state(&now, p, row)) < 0)
		goto out;
	if (strcmp(now.state, "stopped") == 0 ||
	    strcmp(now.state, "stopping") == 0) {
		log_info("env=%s instance %s already %s", row->name,
		    row->instance_id, now.state);
		if (row->stopped_at == 0)
			error = power_stopped_at(p, row);
		goto out;
	}
	/* Booked first, so a pass in between sees a known stop. */
	if ((error = power_stopped_at(p, row)) < 0)
		goto out;
	FP("power.stop.before");
	if ((error = ec2_instance_stop(p->ec2, row->instance_id)) < 0) {
		power_undo(p, row, 0, 0);
		goto out;
	}
	if ((error = pipeline_cost_power(p->store, row->instance_id, 0,
	    pl_now(p))) < 0)
		goto out;
	if ((error = power_event(p, row, "remote.stop", NULL)) < 0)
		goto out;
	log_info("env=%s env_id=%s stopping instance %s", row->name, row->id,
	    row->instance_id);
out:
	return error;
}

/* After StartInstances: running, the checks, the same host keys. */
static int
power_ready(struct pipeline *p, struct store_env *row, const char **waiting)
{
	struct pl_instance_now now;
	unsigned checks = p->o.ready_checks;
	char hostkeys[PL_HOSTKEYS_MAX] = "";
	int error;

	*waiting = "running";
	if ((error = power_state(&now, p, row)) < 0)
		return error;
	if (strcmp(now.state, "running") != 0)
		return PL_NOT_YET;
	if (now.public_ip[0] != '\0' && (row->public_ip == NULL ||
	    strcmp(row->public_ip, now.public_ip) != 0)) {
		pl_row_set(row, STORE_ENV_PUBLIC_IP, now.public_ip);
		if ((error = pl_row_update(p, row, STORE_ENV_PUBLIC_IP,
		    "power.ip.before", "power.ip.after")) < 0)
			return error;
	}
	*waiting = "status";
	if ((checks & PIPELINE_CHECK_STATUS) &&
	    (error = pl_ready_status(p, NULL, row->instance_id)) != 0)
		return error;
	*waiting = "ssh";
	if ((checks & PIPELINE_CHECK_SSH) && (row->public_ip == NULL ||
	    !pl_ready_tcp(row->public_ip, p->o.ready_ssh_port > 0 ?
	    p->o.ready_ssh_port : 22, 2000)))
		return PL_NOT_YET;
	if ((checks & (PIPELINE_CHECK_MARKER | PIPELINE_CHECK_HOSTKEY)) &&
	    (error = pl_ready_marker(p, row, checks, waiting, hostkeys,
	    sizeof(hostkeys))) != 0)
		return error;
	/* The host keys may not change across a stop: what ready stored. */
	if ((checks & PIPELINE_CHECK_HOSTKEY) && row->host_keys != NULL &&
	    !keys_within(hostkeys, row->host_keys)) {
		err_set("%s: host keys after start (%s) are not the ones "
		    "verified when it became ready (%s); refused", row->name,
		    hostkeys, row->host_keys);
		return ERR_INVALID;
	}
	return 0;
}

int
pipeline_env_start(struct pipeline *p, struct store_env *row,
    unsigned wait_s)
{
	struct pl_instance_now now;
	const char *waiting = "running";
	char extra[128];
	time_t begun;
	long long stopped = 0;
	time_t was_at = 0;
	int error;

	if ((error = power_check(p, row, "start")) < 0)
		goto out;
	if ((error = power_state(&now, p, row)) < 0)
		goto out;
	if (strcmp(now.state, "stopping") == 0) {
		err_set("%s: instance %s is still stopping; start it once it "
		    "is stopped", row->name, row->instance_id);
		error = ERR_CONFLICT;
		goto out;
	}
	begun = pl_now(p);
	/*
	 * The stopped time ends: booked into stopped_seconds first, so a
	 * pass in between sees a known start; undone if EC2 refuses.  (An
	 * instance someone else started already: booked all the same.)
	 */
	was_at = row->stopped_at;
	if (row->stopped_at > 0 && begun > row->stopped_at)
		stopped = (long long)(begun - row->stopped_at);
	if (row->stopped_at > 0) {
		row->stopped_seconds += (int)stopped;
		row->stopped_at = 0;
		if ((error = pl_row_update(p, row, STORE_ENV_STOPPED_AT |
		    STORE_ENV_STOPPED_SECONDS, "power.started.before",
		    "power.started.after")) < 0)
			goto out;
	}
	if (strcmp(now.state, "stopped") == 0) {
		FP("power.start.before");
		if ((error = ec2_instance_start(p->ec2, row->instance_id)) < 0) {
			if (was_at > 0)
				power_undo(p, row, was_at, (int)stopped);
			goto out;
		}
		snprintf(extra, sizeof(extra), ",\"stopped_seconds\":%lld,"
		    "\"saved_usd\":%.6f", stopped, (double)stopped / 3600.0 *
		    row->cost_per_hour_usd);
		if ((error = power_event(p, row, "remote.start", extra)) < 0)
			goto out;
		log_info("env=%s env_id=%s starting instance %s", row->name,
		    row->id, row->instance_id);
	} else if (was_at > 0) {
		snprintf(extra, sizeof(extra), ",\"observed\":true,"
		    "\"stopped_seconds\":%lld,\"saved_usd\":%.6f", stopped,
		    (double)stopped / 3600.0 * row->cost_per_hour_usd);
		if ((error = power_event(p, row, "remote.start", extra)) < 0)
			goto out;
	}
	/* Running (again): its compute segment is open (idempotent). */
	if ((error = pipeline_cost_power(p->store, row->instance_id, 1,
	    pl_now(p))) < 0)
		goto out;
	while ((error = power_ready(p, row, &waiting)) == PL_NOT_YET) {
		if (pl_now(p) - begun >= (time_t)wait_s) {
			err_set("%s: not ready %us after start: the %s check "
			    "still fails", row->name, wait_s, waiting);
			error = ERR_TIMEOUT;
			goto out;
		}
		power_sleep(p, 2000);
	}
	if (error < 0)
		goto out;
	snprintf(extra, sizeof(extra), ",\"ready_seconds\":%lld",
	    (long long)(pl_now(p) - begun));
	error = power_event(p, row, "remote.start.ready", extra);
out:
	return error;
}
