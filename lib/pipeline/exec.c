/*
 * exec.c - a bounded pool of worker threads running one pass's jobs.
 *
 * Jobs of one environment are consecutive in plan order and form a
 * group; a worker takes a whole group, so one environment's actions
 * never run concurrently.  Each worker has its own pipelines (its own
 * store connection and AWS clients, opened by the caller's callback on
 * the calling thread before any worker starts).  With a go callback
 * (fencing), a worker asks before each group; once it says no, no
 * group starts any more and the rest fail as "not started".
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "mem.h"
#include "pipeline.h"
#include "store.h"

struct pool {
	struct pipeline_job	*jobs;
	size_t			 njobs;
	size_t			*groups;	/* start index of each group, + njobs */
	size_t			 ngroups;
	size_t			 next;
	size_t			 failed;
	size_t			 ndone;
	pipeline_done_fn	*done;
	pipeline_go_fn		*go;
	int			 stopped;	/* go said no */
	void			*arg;
	pthread_mutex_t		 lock;
};

struct worker {
	pthread_t		 thread;
	struct pool		*pool;
	const char		**regions;	/* borrowed from jobs */
	struct pipeline		**pl;
	size_t			 nregions;
};

static struct pipeline *
worker_pipeline(struct worker *w, const char *region)
{
	size_t i;

	for (i = 0; i < w->nregions; i++)
		if (region != NULL && strcmp(w->regions[i], region) == 0)
			return w->pl[i];
	return w->nregions > 0 ? w->pl[0] : NULL;
}

/* Fail the jobs of group g without running them (fenced). */
static void
group_skip(struct pool *pool, size_t g)
{
	size_t i;

	pthread_mutex_lock(&pool->lock);
	for (i = pool->groups[g]; i < pool->groups[g + 1]; i++) {
		struct pipeline_job *job = &pool->jobs[i];

		job->result = ERR_CONFLICT;
		free(job->error);
		job->error = xstrdup("leadership not confirmed (lease deadline "
		    "passed): not started");
		job->waiting = pipeline_job_waits(job);
		pool->failed++;
		pool->ndone++;
		if (pool->done != NULL)
			pool->done(job, pool->ndone, pool->njobs, pool->arg);
	}
	pthread_mutex_unlock(&pool->lock);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *pool = w->pool;
	size_t g, i, failed;
	int stopped;

	for (;;) {
		pthread_mutex_lock(&pool->lock);
		g = pool->next < pool->ngroups ? pool->next++ : SIZE_MAX;
		stopped = pool->stopped;
		pthread_mutex_unlock(&pool->lock);
		if (g == SIZE_MAX)
			break;
		if (!stopped && pool->go != NULL && !pool->go(pool->arg)) {
			pthread_mutex_lock(&pool->lock);
			pool->stopped = stopped = 1;
			pthread_mutex_unlock(&pool->lock);
		}
		if (stopped) {
			group_skip(pool, g);
			continue;
		}
		failed = 0;
		for (i = pool->groups[g]; i < pool->groups[g + 1]; i++) {
			struct pipeline_job *job = &pool->jobs[i];

			err_clear();
			if (pipeline_job_run(worker_pipeline(w, job->region), job) < 0)
				failed++;
			/* Past the lease's deadline: nothing more starts. */
			if (job->result == ERR_FENCED) {
				pthread_mutex_lock(&pool->lock);
				pool->stopped = 1;
				pthread_mutex_unlock(&pool->lock);
			}
			pthread_mutex_lock(&pool->lock);
			pool->ndone++;
			if (pool->done != NULL)
				pool->done(job, pool->ndone, pool->njobs, pool->arg);
			pthread_mutex_unlock(&pool->lock);
		}
		if (failed > 0) {
			pthread_mutex_lock(&pool->lock);
			pool->failed += failed;
			pthread_mutex_unlock(&pool->lock);
		}
	}
	return NULL;
}

static int
same_env(const struct pipeline_job *a, const struct pipeline_job *b)
{
	return a->name != NULL && b->name != NULL && *a->name != '\0' &&
	    strcmp(a->name, b->name) == 0;
}

size_t
pipeline_jobs_run(struct pipeline_job *jobs, size_t njobs, unsigned nworkers,
    pipeline_open_fn *open, pipeline_close_fn *close, pipeline_done_fn *done,
    void *arg)
{
	return pipeline_jobs_run_fenced(jobs, njobs, nworkers, open, close, done,
	    NULL, arg);
}

size_t
pipeline_jobs_run_fenced(struct pipeline_job *jobs, size_t njobs,
    unsigned nworkers, pipeline_open_fn *open, pipeline_close_fn *close,
    pipeline_done_fn *done, pipeline_go_fn *go, void *arg)
{
	struct pool pool;
	struct worker *w = NULL;
	const char **regions = NULL;
	size_t nregions = 0, i, r, k, nw = 0, started = 0, failed;

	if (njobs == 0)
		return 0;
	memset(&pool, 0, sizeof(pool));
	pool.jobs = jobs;
	pool.njobs = njobs;
	pool.done = done;
	pool.go = go;
	pool.arg = arg;
	pool.groups = xcalloc(njobs + 1, sizeof(*pool.groups));
	for (i = 0; i < njobs; i++)
		if (i == 0 || !same_env(&jobs[i - 1], &jobs[i]))
			pool.groups[pool.ngroups++] = i;
	pool.groups[pool.ngroups] = njobs;
	pthread_mutex_init(&pool.lock, NULL);

	/* The distinct regions of the jobs. */
	regions = xcalloc(njobs, sizeof(*regions));
	for (i = 0; i < njobs; i++) {
		for (r = 0; r < nregions; r++)
			if (strcmp(regions[r], jobs[i].region) == 0)
				break;
		if (r == nregions)
			regions[nregions++] = jobs[i].region;
	}
	nw = nworkers < 1 ? 1 : nworkers;
	if (nw > pool.ngroups)
		nw = pool.ngroups;
	w = xcalloc(nw, sizeof(*w));
	for (k = 0; k < nw; k++) {
		w[k].pool = &pool;
		w[k].regions = regions;
		w[k].pl = xcalloc(nregions, sizeof(*w[k].pl));
		for (r = 0; r < nregions; r++) {
			if (open(&w[k].pl[r], regions[r], arg) < 0) {
				char *why = xstrdup(err_get());

				for (i = 0; i < njobs; i++) {
					jobs[i].result = ERR_UNAVAILABLE;
					if (jobs[i].error == NULL)
						jobs[i].error = xstrdup(why);
					jobs[i].waiting = pipeline_job_waits(&jobs[i]);
				}
				free(why);
				pool.failed = njobs;
				goto out;
			}
			w[k].nregions = r + 1;
		}
	}
	for (k = 0; k < nw; k++) {
		if (pthread_create(&w[k].thread, NULL, worker_main, &w[k]) != 0) {
			log_warn("starting worker %zu", k);
			break;
		}
		started++;
	}
	if (started == 0)
		worker_main(&w[0]);
	for (k = 0; k < started; k++)
		pthread_join(w[k].thread, NULL);
out:
	for (k = 0; k < nw; k++) {
		for (r = 0; r < w[k].nregions; r++)
			close(w[k].pl[r], arg);
		free(w[k].pl);
	}
	failed = pool.failed;
	pthread_mutex_destroy(&pool.lock);
	free(w);
	free(regions);
	free(pool.groups);
	return failed;
}

int
pipeline_job_waits(const struct pipeline_job *job)
{
	if (job->result < 0)
		return 1;
	/* what each kind waits on is the planner's kind table's (plan.h) */
	switch (plan_kind_info(job->kind)->waits) {
	case PLAN_WAIT_UNTIL_DONE:
		return job->reached != STORE_STAGE_DONE;
	case PLAN_WAIT_WHILE_LEFT:
		return job->gc_waiting;
	case PLAN_WAIT_ALWAYS:
		return 1;
	case PLAN_WAIT_NEVER:
		break;
	}
	return 0;
}

const char *
pipeline_job_status_instance(const struct pipeline_job *job)
{
	if (job->row == NULL || job->row->stage != STORE_STAGE_TAGGED)
		return NULL;
	return job->row->instance_id;
}
