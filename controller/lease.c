/*
 * lease.c - the leader lease's keeper (lease.h).
 *
 * One thread, one database session.  Each attempt notes the time it is
 * sent, then takes or renews the lease (store_lease_acquire()).  Held,
 * the local deadline is that send time + lease - lease/3: the database
 * expires the row at its own now() + lease, which is later than the send,
 * so the process stops acting at least lease/3 before a standby may
 * start (the margin covers clock rate differences and the call under
 * way).  The deadline only moves on a renewal that succeeded; a process
 * stopped (SIGSTOP, a VM pause) wakes past it and is fenced before it can
 * send anything, whatever its threads do first.
 *
 * A holder that provably cannot act any more is not waited for: one on
 * this host, in this PID namespace, whose process is gone (a crashed
 * `reconcile --once`, a killed controller).  Anything less certain (a
 * stopped process, another host) waits for the expiry.
 */
#include <sys/random.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "duration.h"
#include "err.h"
#include "lease.h"
#include "log.h"
#include "mem.h"
#include "store.h"

#define LEASE_STANDBY_MS	1000	/* a standby looks this often */

struct lease {
	char			*url;
	char			*cluster;
	char			 holder[320];
	char			 host[256];
	char			 pidns[64];	/* "pid:[4026531836]", or "" */
	char			 appname[64];	/* "envctl-lease:<pid>" */
	long			 ms;
	int			 wake_fd;
	struct store		*st;
	pthread_t		 tid;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	int			 stop;
	struct lease_state	 s;
	char			 cid[LOG_CID_LEN];	/* its creator's, or "" */
};

static void
lease_wake(struct lease *l)
{
	uint64_t one = 1;

	if (l->wake_fd >= 0 && write(l->wake_fd, &one, sizeof(one)) < 0 &&
	    errno != EAGAIN)
		log_warn("lease: eventfd");
}

/*
 * Is the lease's holder a process of this host and PID namespace that is
 * gone?  Then *dead gets its name (the caller evicts it).
 */
static int
lease_holder_dead(struct lease *l, char *dead, size_t deadsz)
{
	struct store_lease cur;
	char *colon, *end;
	size_t hl;
	long pid;

	if (l->pidns[0] == '\0' ||
	    store_lease_get(&cur, l->st, l->cluster) < 0 || !cur.live ||
	    strcmp(cur.pidns, l->pidns) != 0 ||
	    strcmp(cur.holder, l->holder) == 0)
		return 0;
	hl = strlen(l->host);
	if (strncmp(cur.holder, l->host, hl) != 0 || cur.holder[hl] != ':')
		return 0;
	pid = strtol(cur.holder + hl + 1, &end, 10);
	if (pid <= 1 || *end != ':' || (colon = strchr(end + 1, ':')) != NULL)
		return 0;
	if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
		return 0;	/* alive, or not ours to know */
	snprintf(dead, deadsz, "%s", cur.holder);
	return 1;
}

/* One attempt: take or renew; publish what it says. */
static void
lease_try(struct lease *l)
{
	struct lease_state old;
	uint64_t sent;
	int64_t epoch = 0;
	int error = 0;
	char why[256] = "", dead[320];

	if (l->st == NULL) {
		if ((error = store_open(&l->st, l->url)) == 0) {
			store_timeout_set(l->st, l->ms / 3);
			error = store_session_name(l->st, l->appname);
		}
		if (error < 0) {
			store_free(l->st);
			l->st = NULL;
		}
	}
	sent = ctl_lease_clock_ms();
	if (error == 0)
		error = store_lease_acquire(&epoch, l->st, l->cluster, l->holder,
		    l->pidns, l->ms, NULL);
	if (error == 0 && epoch == 0 && lease_holder_dead(l, dead, sizeof(dead))) {
		sent = ctl_lease_clock_ms();
		if ((error = store_lease_acquire(&epoch, l->st, l->cluster,
		    l->holder, l->pidns, l->ms, dead)) == 0 && epoch > 0)
			log_info("cluster=%s lease of %s taken over: its process "
			    "is gone", l->cluster, dead);
	}
	if (error < 0)
		snprintf(why, sizeof(why), "%s", err_get());
	pthread_mutex_lock(&l->mu);
	old = l->s;
	l->s.tried = 1;
	/* reached, but the renewal failed (a lock or statement timeout) */
	l->s.db_ok = error == 0 || (error != ERR_UNAVAILABLE && l->st != NULL);
	if (error < 0) {
		l->s.failures++;
		snprintf(l->s.why, sizeof(l->s.why), "%s", why);
	} else {
		l->s.failures = 0;
		l->s.why[0] = '\0';
		l->s.epoch = epoch;
		l->s.deadline = epoch > 0 ? sent + (uint64_t)(l->ms - l->ms / 3) : 0;
	}
	/* A failed renewal keeps the deadline it had: it runs out by itself. */
	if (l->s.epoch > 0 && ctl_lease_clock_ms() >= l->s.deadline) {
		l->s.epoch = 0;
		l->s.deadline = 0;
	}
	l->s.leader = l->s.epoch > 0;
	ctl_lease_set(l->cluster, l->holder, l->s.epoch, l->s.deadline);
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);

	if (l->s.leader && (!old.leader || old.epoch != l->s.epoch))
		log_info("cluster=%s lease taken: epoch=%lld holder=%s",
		    l->cluster, (long long)l->s.epoch, l->holder);
	else if (!l->s.leader && old.leader)
		log_warnx("cluster=%s lease lost (epoch %lld): %s", l->cluster,
		    (long long)old.epoch, error < 0 ? why :
		    "another controller holds it");
	else if (error < 0 && (old.db_ok || !old.tried))
		log_warnx("cluster=%s lease: %s", l->cluster, why);
	/*
	 * Wake the loop on a change it reports: the role, the database, and a
	 * renewal that starts or stops failing (/healthz says
	 * lease-not-renewed only until the next renewal, a second later).
	 */
	if (old.leader != l->s.leader || old.epoch != l->s.epoch ||
	    old.db_ok != l->s.db_ok || !old.tried ||
	    (old.failures > 0) != (l->s.failures > 0))
		lease_wake(l);
}

static void *
lease_main(void *arg)
{
	struct lease *l = arg;
	struct log_context ctx;
	struct timespec ts;
	uint64_t next;
	int stop;

	/* its lines belong to the command that took it (reconcile's cid) */
	if (l->cid[0] != '\0') {
		memset(&ctx, 0, sizeof(ctx));
		ctx.correlation_id = l->cid;
		log_context_set(&ctx);
	}
	for (;;) {
		lease_try(l);
		pthread_mutex_lock(&l->mu);
		next = (uint64_t)(l->s.leader ? l->ms / 3 : LEASE_STANDBY_MS);
		/* a failed renewal: look again before the deadline runs out */
		if (l->s.leader && l->s.failures > 0)
			next = LEASE_STANDBY_MS;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(next / 1000);
		ts.tv_nsec += (long)(next % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!l->stop && pthread_cond_timedwait(&l->cv, &l->mu, &ts) == 0)
			;
		stop = l->stop;
		pthread_mutex_unlock(&l->mu);
		if (stop)
			break;
	}
	return NULL;
}

int
lease_new(struct lease **out, const char *database_url, const char *cluster,
    long lease_ms, int wake_fd)
{
	struct lease *l = xcalloc(1, sizeof(*l));
	pthread_condattr_t ca;
	unsigned char rnd[6];
	char host[256];
	ssize_t n;
	int error;

	*out = NULL;
	if (log_context_get() != NULL &&
	    log_context_get()->correlation_id != NULL)
		snprintf(l->cid, sizeof(l->cid), "%s",
		    log_context_get()->correlation_id);
	l->url = xstrdup(database_url);
	l->cluster = xstrdup(cluster);
	l->ms = lease_ms;
	l->wake_fd = wake_fd;
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	host[strcspn(host, ":")] = '\0';
	snprintf(l->host, sizeof(l->host), "%s", host);
	if ((n = readlink("/proc/self/ns/pid", l->pidns,
	    sizeof(l->pidns) - 1)) < 0)
		n = 0;
	l->pidns[n] = '\0';
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	snprintf(l->holder, sizeof(l->holder), "%s:%d:%02x%02x%02x%02x%02x%02x",
	    host, (int)getpid(), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	snprintf(l->appname, sizeof(l->appname), "envctl-lease:%d", (int)getpid());
	pthread_mutex_init(&l->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cv, &ca);
	pthread_condattr_destroy(&ca);
	ctl_lease_set(l->cluster, l->holder, 0, 0);	/* fenced until taken */
	if ((error = pthread_create(&l->tid, NULL, lease_main, l)) != 0) {
		err_set("lease keeper: cannot start a thread: %s", strerror(error));
		pthread_cond_destroy(&l->cv);
		pthread_mutex_destroy(&l->mu);
		free(l->url);
		free(l->cluster);
		free(l);
		return ERR_GENERIC;
	}
	*out = l;
	return 0;
}

void
lease_free(struct lease *l)
{
	if (l == NULL)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = 1;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->tid, NULL);
	ctl_lease_set(l->cluster, l->holder, 0, 0);
	if (l->s.leader && l->s.db_ok && l->st != NULL) {
		if (store_lease_release(l->st, l->cluster, l->holder) < 0)
			log_warnx("cluster=%s lease not released (it expires by "
			    "itself): %s", l->cluster, err_get());
		else
			log_info("cluster=%s lease released", l->cluster);
	}
	store_free(l->st);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l->url);
	free(l->cluster);
	free(l);
}

void
lease_state(struct lease_state *out, struct lease *l)
{
	pthread_mutex_lock(&l->mu);
	*out = l->s;
	pthread_mutex_unlock(&l->mu);
	/* the deadline runs out between attempts too */
	if (out->leader && ctl_lease_clock_ms() >= out->deadline)
		out->leader = 0;
}

void
lease_wait_first(struct lease *l)
{
	pthread_mutex_lock(&l->mu);
	while (!l->s.tried)
		pthread_cond_wait(&l->cv, &l->mu);
	pthread_mutex_unlock(&l->mu);
}

const char *
lease_holder(const struct lease *l)
{
	return l->holder;
}
