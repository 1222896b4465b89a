/*
 * calls.c - counters of AWS calls by (service, action, code), for
 * metrics: a small table under a mutex, with a bound on its size so a
 * server that invents error codes cannot grow it (aws.h).
 *
 * Besides the retry quota, the process-wide table below is the only
 * shared state of lib/aws.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_int.h"
#include "mem.h"

#define OTHER	"other"

struct call_row {
	enum aws_service service;
	char		 action[AWS_ERROR_ACTION_MAX];
	char		 code[AWS_ERROR_CODE_MAX];
	unsigned long	 calls, attempts, throttled;
};

struct aws_call_stats {
	pthread_mutex_t	 lock;
	struct call_row	 rows[AWS_CALL_STATS_MAX_SERIES];
	size_t		 n;
	char		 codes[AWS_CALL_STATS_MAX_CODES][AWS_ERROR_CODE_MAX];
	size_t		 ncodes;
};

static struct aws_call_stats default_stats = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

struct aws_call_stats *
aws_call_stats_new(void)
{
	struct aws_call_stats *s = xcalloc(1, sizeof(*s));

	pthread_mutex_init(&s->lock, NULL);
	return s;
}

void
aws_call_stats_free(struct aws_call_stats *s)
{
	if (s == NULL || s == &default_stats)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}

struct aws_call_stats *
aws_call_stats_default(void)
{
	return &default_stats;
}

/* code itself when it is known or there is room for it, else "other". */
static const char *
code_admit(struct aws_call_stats *s, const char *code)
{
	size_t i;

	if (*code == '\0')
		return code;
	for (i = 0; i < s->ncodes; i++)
		if (strcmp(s->codes[i], code) == 0)
			return code;
	if (s->ncodes == AWS_CALL_STATS_MAX_CODES ||
	    strlen(code) >= AWS_ERROR_CODE_MAX)
		return OTHER;
	snprintf(s->codes[s->ncodes++], AWS_ERROR_CODE_MAX, "%s", code);
	return code;
}

static struct call_row *
row_find(struct aws_call_stats *s, enum aws_service svc, const char *action,
    const char *code)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->rows[i].service == svc &&
		    strcmp(s->rows[i].action, action) == 0 &&
		    strcmp(s->rows[i].code, code) == 0)
			return &s->rows[i];
	return NULL;
}

void
aws_call_stats_add(struct aws_call_stats *s, enum aws_service svc,
    const char *action, const char *code, int attempts, int throttled)
{
	struct call_row *r;
	char act[AWS_ERROR_ACTION_MAX];
	int full;

	if ((unsigned)svc >= AWS_SERVICE_COUNT)
		return;
	snprintf(act, sizeof(act), "%s", action != NULL && *action != '\0' ?
	    action : "unknown");
	pthread_mutex_lock(&s->lock);
	code = code_admit(s, code != NULL ? code : "");
	if ((r = row_find(s, svc, act, code)) == NULL) {
		/* The last rows are kept for (service, "other", "other"). */
		full = s->n >= AWS_CALL_STATS_MAX_SERIES - AWS_SERVICE_COUNT;
		if (full && (r = row_find(s, svc, OTHER, OTHER)) != NULL)
			goto count;
		r = &s->rows[s->n++];
		r->service = svc;
		snprintf(r->action, sizeof(r->action), "%s", full ? OTHER : act);
		snprintf(r->code, sizeof(r->code), "%s", full ? OTHER : code);
	}
count:
	r->calls++;
	r->attempts += attempts > 0 ? (unsigned long)attempts : 0;
	r->throttled += throttled > 0 ? (unsigned long)throttled : 0;
	pthread_mutex_unlock(&s->lock);
}

size_t
aws_call_stats_foreach(struct aws_call_stats *s, aws_call_stats_fn *fn,
    void *arg)
{
	struct call_row *copy;
	struct aws_call_count c;
	size_t i, n;

	pthread_mutex_lock(&s->lock);
	n = s->n;
	copy = xcalloc(n + 1, sizeof(*copy));
	memcpy(copy, s->rows, n * sizeof(*copy));
	pthread_mutex_unlock(&s->lock);
	for (i = 0; i < n && fn != NULL; i++) {
		c.service = copy[i].service;
		c.action = copy[i].action;
		c.code = copy[i].code;
		c.calls = copy[i].calls;
		c.attempts = copy[i].attempts;
		c.throttled = copy[i].throttled;
		fn(&c, arg);
	}
	free(copy);
	return n;
}
