/*
 * pace.c - client-side pacing of EC2 calls: one token bucket per class
 * of action (RunInstances, other mutating actions, non-mutating ones),
 * refilled continuously from a monotonic clock, shared by every client
 * and thread that holds the pacer (aws.h says what it promises).
 *
 * A call reserves its token under the lock: the bucket may go below
 * zero, and a caller that finds it so sleeps, outside the lock, until
 * its share of the refill has come ((-tokens) / rate seconds).  The
 * tokens are thus handed out in arrival order at exactly the refill
 * rate, whatever the number of threads, and no caller spins.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws_int.h"
#include "err.h"
#include "mem.h"

#define PACE_DECREASE		0.7	/* rate kept after a throttle */
#define PACE_FLOOR		0.05	/* of the configured rate */
#define PACE_RECOVER		0.05	/* of the configured rate, per second */
#define PACE_DECREASE_GAP	1.0	/* seconds between two cuts */

static const char *const class_names[AWS_PACE_CLASS_COUNT] = {
	"run", "mutate", "describe",
};

struct pace_bucket {
	double		 burst, rate;	/* configured; rate 0: not paced */
	double		 spend;		/* burst minus the reserve */
	double		 cur_rate;
	double		 tokens;	/* may be negative: reserved ahead */
	double		 last;		/* clock of the last refill */
	double		 last_cut;	/* clock of the last decrease, -1: none */
	unsigned long	 acquired, waited, throttles, decreases;
	double		 wait_seconds;
};

struct aws_pacer {
	pthread_mutex_t	 lock;
	struct pace_bucket b[AWS_PACE_CLASS_COUNT];
	double		(*now)(void *);
	void		(*sleep_ms)(void *, long);
	void		*arg;
};

const char *
aws_pace_class_name(enum aws_pace_class c)
{
	if ((unsigned)c >= AWS_PACE_CLASS_COUNT)
		return "?";
	return class_names[c];
}

enum aws_pace_class
aws_pace_classify(const char *action)
{
	static const char *const readers[] = { "Describe", "Get", "List",
	    "Search" };
	size_t i;

	if (action == NULL)
		return AWS_PACE_MUTATE;
	if (strcmp(action, "RunInstances") == 0)
		return AWS_PACE_RUN;
	for (i = 0; i < sizeof(readers) / sizeof(readers[0]); i++)
		if (strncmp(action, readers[i], strlen(readers[i])) == 0)
			return AWS_PACE_DESCRIBE;
	return AWS_PACE_MUTATE;
}

/* A decimal number that is the whole of s: digits, at most one '.'. */
static int
parse_number(double *out, const char *s, size_t n, int whole)
{
	char tmp[32];
	size_t i, dots = 0, digits = 0;
	char *end;

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] == '.' && !whole)
			dots++;
		else if (s[i] >= '0' && s[i] <= '9')
			digits++;
		else
			return -1;
	}
	if (dots > 1 || digits == 0 || s[0] == '.' || s[n - 1] == '.')
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	*out = strtod(tmp, &end);
	return *end == '\0' && isfinite(*out) ? 0 : -1;
}

/* One "class=burst:rate" of length n into out; 0 or ERR_INVALID. */
static int
parse_item(struct aws_pace_limits *out, unsigned *seen, const char *s,
    size_t n)
{
	const char *eq = memchr(s, '=', n), *colon;
	double burst, rate;
	size_t k, cn;
	int c = -1;

	if (eq == NULL) {
		err_set("\"%.*s\": expected class=burst:rate", (int)n, s);
		return ERR_INVALID;
	}
	cn = (size_t)(eq - s);
	for (k = 0; k < AWS_PACE_CLASS_COUNT; k++)
		if (cn == strlen(class_names[k]) &&
		    strncmp(s, class_names[k], cn) == 0)
			c = (int)k;
	if (c < 0) {
		err_set("\"%.*s\": unknown class \"%.*s\" (expected run, mutate "
		    "or describe)", (int)n, s, (int)cn, s);
		return ERR_INVALID;
	}
	if (*seen & (1u << c)) {
		err_set("\"%.*s\": class %s given twice", (int)n, s, class_names[c]);
		return ERR_INVALID;
	}
	*seen |= 1u << c;
	colon = memchr(eq + 1, ':', (size_t)(s + n - eq - 1));
	if (colon == NULL) {
		err_set("\"%.*s\": expected %s=burst:rate", (int)n, s,
		    class_names[c]);
		return ERR_INVALID;
	}
	if (parse_number(&burst, eq + 1, (size_t)(colon - eq - 1), 1) < 0 ||
	    burst < 1 || burst > AWS_PACE_MAX_BURST) {
		err_set("\"%.*s\": burst must be a whole number from 1 to %.0f",
		    (int)n, s, AWS_PACE_MAX_BURST);
		return ERR_INVALID;
	}
	if (parse_number(&rate, colon + 1, (size_t)(s + n - colon - 1), 0) < 0 ||
	    rate <= 0 || rate > AWS_PACE_MAX_RATE) {
		err_set("\"%.*s\": rate must be a number of calls per second "
		    "above 0 and up to %.0f", (int)n, s, AWS_PACE_MAX_RATE);
		return ERR_INVALID;
	}
	out->burst[c] = burst;
	out->rate[c] = rate;
	return 0;
}

int
aws_pace_limits_parse(struct aws_pace_limits *out, int *off, const char *s)
{
	const char *p, *comma;
	unsigned seen = 0;
	size_t n;
	int error = 0;

	memset(out, 0, sizeof(*out));
	*off = 0;
	if (s == NULL || *s == '\0' || strcmp(s, "off") == 0) {
		*off = 1;
		return 0;
	}
	for (p = s; error == 0; p = comma + 1) {
		comma = strchr(p, ',');
		n = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (n == 0) {
			err_set("empty item (stray ',')");
			error = ERR_INVALID;
			break;
		}
		error = parse_item(out, &seen, p, n);
		if (comma == NULL)
			break;
	}
	if (error < 0)
		memset(out, 0, sizeof(*out));
	return error;
}

static double
real_now(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
real_sleep(void *arg, long ms)
{
	struct timespec ts;

	(void)arg;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1)
		;
}

/* Configure b afresh (full bucket, configured rate) at clock now. */
static void
bucket_reset(struct pace_bucket *b, double burst, double rate, double now)
{
	double reserve = burst >= 2 ? floor(burst / 10) : 0;

	if (burst >= 2 && reserve < 1)
		reserve = 1;
	b->burst = burst;
	b->rate = rate;
	b->spend = burst - reserve;
	b->cur_rate = rate;
	b->tokens = b->spend;
	b->last = now;
	b->last_cut = -1;
}

/* Bring b up to clock now: tokens earned, then the rate's recovery. */
static void
bucket_refill(struct pace_bucket *b, double now)
{
	double dt = now - b->last;

	if (dt <= 0)
		return;
	b->tokens += dt * b->cur_rate;
	if (b->tokens > b->spend)
		b->tokens = b->spend;
	if (b->cur_rate < b->rate) {
		b->cur_rate += dt * b->rate * PACE_RECOVER;
		if (b->cur_rate > b->rate)
			b->cur_rate = b->rate;
	}
	b->last = now;
}

int
aws_pacer_new(struct aws_pacer **out, const struct aws_pace_limits *l)
{
	struct aws_pacer *p = xcalloc(1, sizeof(*p));
	double now;
	int k;

	pthread_mutex_init(&p->lock, NULL);
	p->now = real_now;
	p->sleep_ms = real_sleep;
	now = p->now(p->arg);
	for (k = 0; k < AWS_PACE_CLASS_COUNT; k++)
		bucket_reset(&p->b[k], l->burst[k], l->rate[k], now);
	*out = p;
	return 0;
}

void
aws_pacer_free(struct aws_pacer *p)
{
	if (p == NULL)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void
aws_pacer_set_limits(struct aws_pacer *p, const struct aws_pace_limits *l)
{
	double now;
	int k;

	pthread_mutex_lock(&p->lock);
	now = p->now(p->arg);
	for (k = 0; k < AWS_PACE_CLASS_COUNT; k++)
		if (p->b[k].burst != l->burst[k] || p->b[k].rate != l->rate[k])
			bucket_reset(&p->b[k], l->burst[k], l->rate[k], now);
	pthread_mutex_unlock(&p->lock);
}

void
aws_pacer_set_clock(struct aws_pacer *p, double (*now)(void *),
    void (*sleep_ms)(void *, long), void *arg)
{
	double t;
	int k;

	pthread_mutex_lock(&p->lock);
	p->now = now != NULL ? now : real_now;
	p->sleep_ms = sleep_ms != NULL ? sleep_ms : real_sleep;
	p->arg = arg;
	t = p->now(p->arg);
	for (k = 0; k < AWS_PACE_CLASS_COUNT; k++)
		p->b[k].last = t;
	pthread_mutex_unlock(&p->lock);
}

long
aws_pacer_acquire(struct aws_pacer *p, enum aws_pace_class cls)
{
	struct pace_bucket *b;
	double wait = 0;
	long ms = 0;

	if (p == NULL || (unsigned)cls >= AWS_PACE_CLASS_COUNT)
		return 0;
	b = &p->b[cls];
	pthread_mutex_lock(&p->lock);
	if (b->rate <= 0) {
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	bucket_refill(b, p->now(p->arg));
	b->tokens -= 1;
	b->acquired++;
	if (b->tokens < 0) {
		wait = -b->tokens / b->cur_rate;
		ms = (long)ceil(wait * 1000.0);
		b->waited++;
		b->wait_seconds += (double)ms / 1000.0;
	}
	pthread_mutex_unlock(&p->lock);
	if (ms > 0)
		p->sleep_ms(p->arg, ms);
	return ms;
}

void
aws_pacer_throttled(struct aws_pacer *p, enum aws_pace_class cls)
{
	struct pace_bucket *b;
	double now;

	if (p == NULL || (unsigned)cls >= AWS_PACE_CLASS_COUNT)
		return;
	b = &p->b[cls];
	pthread_mutex_lock(&p->lock);
	if (b->rate > 0) {
		now = p->now(p->arg);
		bucket_refill(b, now);
		b->throttles++;
		/* EC2's bucket is empty: so is ours, whatever we thought. */
		if (b->tokens > 0)
			b->tokens = 0;
		if (b->last_cut < 0 || now - b->last_cut >= PACE_DECREASE_GAP) {
			b->cur_rate *= PACE_DECREASE;
			if (b->cur_rate < b->rate * PACE_FLOOR)
				b->cur_rate = b->rate * PACE_FLOOR;
			b->last_cut = now;
			b->decreases++;
		}
	}
	pthread_mutex_unlock(&p->lock);
}

void
aws_pacer_stats(struct aws_pace_stats *out, struct aws_pacer *p,
    enum aws_pace_class cls)
{
	const struct pace_bucket *b;

	memset(out, 0, sizeof(*out));
	if (p == NULL || (unsigned)cls >= AWS_PACE_CLASS_COUNT)
		return;
	b = &p->b[cls];
	pthread_mutex_lock(&p->lock);
	bucket_refill(&p->b[cls], p->now(p->arg));
	out->burst = b->burst;
	out->rate = b->rate;
	out->cur_rate = b->cur_rate;
	out->acquired = b->acquired;
	out->waited = b->waited;
	out->wait_seconds = b->wait_seconds;
	out->throttles = b->throttles;
	out->decreases = b->decreases;
	pthread_mutex_unlock(&p->lock);
}
