/*
 * bench_plan - plan_build() over a synthetic fleet of N environments
 * (default 100,000) spread over twelve rows of the action table, inputs
 * in shuffled order.  Prints wall time (min and median of RUNS runs) and
 * memory per environment: peak RSS growth during the first plan (result
 * plus scratch) and the bytes the result keeps.  Targets: <= 100 ms,
 * <= 1 KiB per environment.
 *
 * usage: bench_plan [N [RUNS]]
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "err.h"
#include "mem.h"
#include "plan.h"

#define NOW	1800000000LL
#define ROWS	12

struct fleet {
	struct plan_desired	*d;
	struct plan_instance	*i;
	struct plan_record	*r;
	size_t			 nd, ni, nr;
	char			(*names)[48];
	char			(*ids)[64];
	char			(*iids)[32];
};

static uint64_t
rng_next(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

#define SHUFFLE(arr, n, seed) do {					\
	size_t k_;							\
	for (k_ = (n); k_ > 1; k_--) {					\
		size_t j_ = (size_t)(rng_next(seed) % k_);		\
		__typeof__((arr)[0]) t_ = (arr)[k_ - 1];		\
		(arr)[k_ - 1] = (arr)[j_];				\
		(arr)[j_] = t_;						\
	}								\
} while (0)

/*
 * Rows: 0 provision, 1 noop, 2 advance, 3 replace, 4 drift-gone,
 * 5 adopt, 6 terminate, 7 close, 8 orphan, 9 backoff, 10 retry,
 * 11 noop with a foreign instance beside it.
 */
static void
fleet_make(struct fleet *f, size_t n)
{
	uint64_t seed = 7;
	size_t k;

	memset(f, 0, sizeof(*f));
	f->d = xcalloc(n, sizeof(*f->d));
	f->i = xcalloc(2 * n, sizeof(*f->i));
	f->r = xcalloc(n, sizeof(*f->r));
	f->names = xcalloc(n, sizeof(*f->names));
	f->ids = xcalloc(n, sizeof(*f->ids));
	f->iids = xcalloc(2 * n, sizeof(*f->iids));
	for (k = 0; k < n; k++) {
		unsigned row = (unsigned)(k % ROWS);
		int desired = row != 6 && row != 7 && row != 8;
		int inst = row == 1 || row == 2 || row == 3 || row == 5 ||
		    row == 6 || row == 8 || row == 11;
		int rec = row != 0 && row != 5 && row != 8;
		uint64_t h = (uint64_t)k * 0x9e3779b97f4a7c15ULL;

		snprintf(f->names[k], sizeof(f->names[k]), "team%02u-env-%08llx",
		    (unsigned)(h >> 58), (unsigned long long)(h & 0xffffffffu));
		snprintf(f->ids[k], sizeof(f->ids[k]),
		    "%08llx-0000-4000-8000-%012llx",
		    (unsigned long long)(h >> 32), (unsigned long long)k);
		snprintf(f->iids[k], sizeof(f->iids[k]), "i-%017llx",
		    (unsigned long long)(h ^ 0x5555));
		if (desired) {
			struct plan_desired *d = &f->d[f->nd++];

			d->name = f->names[k];
			d->valid = 1;
			d->spec_hash = row == 3 ? "v1:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" :
			    "v1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
			d->workspace = "web";
		}
		if (inst) {
			struct plan_instance *i = &f->i[f->ni++];

			i->instance_id = f->iids[k];
			i->state = row == 2 ? PLAN_INSTANCE_PENDING :
			    PLAN_INSTANCE_RUNNING;
			i->managed = 1;
			i->cluster_id = "prod-1";
			i->env_name = f->names[k];
			i->env_id = f->ids[k];
			i->spec_hash = "v1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
			i->launch_time = NOW - 86400;
			i->market = "on-demand";
		}
		if (row == 11) {
			struct plan_instance *i = &f->i[f->ni++];

			snprintf(f->iids[n + k], sizeof(f->iids[n + k]),
			    "i-%017llx", (unsigned long long)(h ^ 0xaaaa));
			i->instance_id = f->iids[n + k];
			i->state = PLAN_INSTANCE_RUNNING;
			i->managed = 1;
			i->cluster_id = "other-cluster";
			i->env_name = f->names[k];
			i->env_id = f->ids[k];
			i->launch_time = NOW - 86400;
		}
		if (rec) {
			struct plan_record *r = &f->r[f->nr++];

			r->env_id = f->ids[k];
			r->name = f->names[k];
			r->status = row == 2 ? PLAN_STATUS_PROVISIONING :
			    row == 9 || row == 10 ? PLAN_STATUS_ERROR :
			    PLAN_STATUS_READY;
			r->stage = row == 2 ? PLAN_STAGE_TAGGED : PLAN_STAGE_DONE;
			r->spec_hash = "v1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
			r->instance_id = inst ? f->iids[k] : NULL;
			r->attempts = 1;
			r->next_attempt_at = row == 9 ? NOW + 60 : NOW - 60;
			r->created_at = NOW - 86400;
		}
	}
	SHUFFLE(f->d, f->nd, &seed);
	SHUFFLE(f->i, f->ni, &seed);
	SHUFFLE(f->r, f->nr, &seed);
}

static double
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static double
cpu_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static long
maxrss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct fleet f;
	struct plan_input in;
	struct plan *p;
	struct timespec t0;
	struct mallinfo2 m0, m1;
	size_t n = 100000, runs = 5, k;
	long rss0, rss1;
	double *ms, *cpu, first, c0;

	if (argc > 1)
		n = strtoul(argv[1], NULL, 10);
	if (argc > 2)
		runs = strtoul(argv[2], NULL, 10);
	if (n == 0 || runs == 0) {
		fprintf(stderr, "usage: bench_plan [N [RUNS]]\n");
		return 1;
	}
	ms = xcalloc(runs, sizeof(*ms));
	cpu = xcalloc(runs, sizeof(*cpu));
	fleet_make(&f, n);

	memset(&in, 0, sizeof(in));
	in.desired.v = f.d;
	in.desired.n = f.nd;
	in.desired.source_usable = 1;
	in.observed.v = f.i;
	in.observed.n = f.ni;
	in.observed.ok = 1;
	in.records.v = f.r;
	in.records.n = f.nr;
	in.records.ok = 1;
	plan_config_init(&in.config);
	in.config.cluster_id = "prod-1";
	in.now = NOW;

	/* first run: memory */
	rss0 = maxrss_kib();
	m0 = mallinfo2();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (plan_build(&p, &in) != 0) {
		fprintf(stderr, "bench_plan: %s\n", err_get());
		return 1;
	}
	first = ms_since(&t0);
	rss1 = maxrss_kib();
	m1 = mallinfo2();

	printf("plan: %zu environments (%zu desired, %zu instances, %zu rows) -> %zu actions",
	    n, f.nd, f.ni, f.nr, plan_count(p));
	printf(" [provision %zu, noop %zu, advance %zu, replace %zu, terminate %zu, blocked %zu, ignored %zu]\n",
	    plan_count_kind(p, PLAN_PROVISION), plan_count_kind(p, PLAN_NOOP),
	    plan_count_kind(p, PLAN_ADVANCE), plan_count_kind(p, PLAN_REPLACE),
	    plan_count_kind(p, PLAN_TERMINATE), plan_count_kind(p, PLAN_BLOCKED),
	    plan_ignored(p));
	printf("plan: peak RSS growth %ld KiB = %.0f B/env (result + scratch; target <= 1024)\n",
	    rss1 - rss0, (double)(rss1 - rss0) * 1024.0 / (double)n);
	printf("plan: result keeps %zu B = %.0f B/env (heap in use +%.0f B/env)\n",
	    plan_mem_bytes(p), (double)plan_mem_bytes(p) / (double)n,
	    (double)(m1.uordblks + m1.hblkhd - m0.uordblks - m0.hblkhd) / (double)n);
	plan_free(p);

	for (k = 0; k < runs; k++) {
		c0 = cpu_ms();
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (plan_build(&p, &in) != 0)
			return 1;
		ms[k] = ms_since(&t0);
		cpu[k] = cpu_ms() - c0;
		plan_free(p);
	}
	qsort(ms, runs, sizeof(*ms), cmp_double);
	qsort(cpu, runs, sizeof(*cpu), cmp_double);
	printf("plan: wall first %.1f ms, min %.1f ms, median %.1f ms over %zu runs (target <= 100)\n",
	    first, ms[0], ms[runs / 2], runs);
	printf("plan: cpu min %.1f ms, median %.1f ms; %.2f us/env at the minimum\n",
	    cpu[0], cpu[runs / 2], ms[0] * 1e3 / (double)n);

	free(ms);
	free(cpu);
	free(f.d);
	free(f.i);
	free(f.r);
	free(f.names);
	free(f.ids);
	free(f.iids);
	return 0;
}
