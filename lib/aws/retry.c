/*
 * retry.c - the SDKs' "standard" retry mode: which failures are worth
 * another attempt, how long to wait, and the token bucket that keeps a
 * storm of failures from becoming a storm of retries.
 *
 * The bucket holds AWS_RETRY_QUOTA_MAX tokens.  A retry costs
 * AWS_RETRY_COST (AWS_RETRY_TIMEOUT_COST after a timeout or connection
 * error); a call that succeeds after retries gives back what its retries
 * took, and a first-attempt success gives back AWS_RETRY_SUCCESS_REFUND,
 * never past the capacity (as the SDKs do).  When the bucket cannot pay
 * for a retry, the call fails at once with its last error.
 *
 * The process-wide bucket below is the one piece of shared state of
 * lib/aws; it is guarded by its mutex.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "aws_int.h"
#include "err.h"
#include "mem.h"

struct aws_retry_quota {
	pthread_mutex_t	 lock;
	int		 capacity;
	int		 available;
};

static struct aws_retry_quota default_quota = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.capacity = AWS_RETRY_QUOTA_MAX,
	.available = AWS_RETRY_QUOTA_MAX,
};

static const char *const throttle_codes[] = {
	"Throttling",
	"ThrottlingException",
	"ThrottledException",
	"RequestThrottledException",
	"TooManyRequestsException",
	"ProvisionedThroughputExceededException",
	"TransactionInProgressException",
	"RequestLimitExceeded",
	"BandwidthLimitExceeded",
	"LimitExceededException",
	"RequestThrottled",
	"SlowDown",
	"EC2ThrottledException",
};

static const char *const transient_codes[] = {
	"RequestTimeout",
	"RequestTimeoutException",
	"PriorRequestNotComplete",
	"InternalError",
	"InternalFailure",
	"ServiceUnavailable",
};

struct aws_retry_quota *
aws_retry_quota_new(int capacity)
{
	struct aws_retry_quota *q = xcalloc(1, sizeof(*q));

	pthread_mutex_init(&q->lock, NULL);
	q->capacity = q->available = capacity;
	return q;
}

void
aws_retry_quota_free(struct aws_retry_quota *q)
{
	if (q == NULL || q == &default_quota)
		return;
	pthread_mutex_destroy(&q->lock);
	free(q);
}

struct aws_retry_quota *
aws_retry_quota_default(void)
{
	return &default_quota;
}

int
aws_retry_quota_acquire(struct aws_retry_quota *q, int cost)
{
	int error = ERR_LIMIT;

	pthread_mutex_lock(&q->lock);
	if (q->available >= cost) {
		q->available -= cost;
		error = 0;
	}
	pthread_mutex_unlock(&q->lock);
	return error;
}

void
aws_retry_quota_release(struct aws_retry_quota *q, int amount)
{
	pthread_mutex_lock(&q->lock);
	q->available += amount;
	if (q->available > q->capacity)
		q->available = q->capacity;
	pthread_mutex_unlock(&q->lock);
}

int
aws_retry_quota_available(struct aws_retry_quota *q)
{
	int n;

	pthread_mutex_lock(&q->lock);
	n = q->available;
	pthread_mutex_unlock(&q->lock);
	return n;
}

static int
code_in(const char *code, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(code, list[i]) == 0)
			return 1;
	return 0;
}

int
aws_retry_is_throttle(const char *code)
{
	if (code == NULL)
		return 0;
	return code_in(code, throttle_codes,
	    sizeof(throttle_codes) / sizeof(throttle_codes[0]));
}

/*
 * tcode is what the transport returned (0 when an HTTP answer came);
 * e is the parsed error of that answer (may be NULL when tcode < 0).
 */
enum aws_retry_kind
aws_retry_classify(int tcode, const struct aws_error *e)
{
	if (tcode == ERR_UNAVAILABLE || tcode == ERR_TIMEOUT)
		return AWS_RETRY_TIMEOUT;
	if (tcode < 0 || e == NULL)
		return AWS_RETRY_NONE;
	if (aws_retry_is_throttle(e->code) || e->http_status == 429)
		return AWS_RETRY_THROTTLE;
	/*
	 * EC2 answers these with HTTP 500, but another attempt a second later
	 * in the same AZ fails the same way; the pipeline moves on to the
	 * next subnet or type instead (a deliberate departure from the SDKs).
	 */
	if (strncmp(e->code, "Insufficient", 12) == 0 &&
	    strstr(e->code, "Capacity") != NULL)
		return AWS_RETRY_NONE;
	if (code_in(e->code, transient_codes,
	    sizeof(transient_codes) / sizeof(transient_codes[0])))
		return AWS_RETRY_TRANSIENT;
	switch (e->http_status) {
	case 500:
	case 502:
	case 503:
	case 504:
		return AWS_RETRY_TRANSIENT;
	default:
		return AWS_RETRY_NONE;
	}
}

long
aws_retry_delay_ms(int attempt, double r)
{
	long cap = 1000;
	int i;

	if (r < 0.0)
		r = 0.0;
	if (r > 1.0)
		r = 1.0;
	for (i = 1; i < attempt && cap < AWS_RETRY_MAX_BACKOFF_MS; i++)
		cap *= 2;
	if (cap > AWS_RETRY_MAX_BACKOFF_MS)
		cap = AWS_RETRY_MAX_BACKOFF_MS;
	return (long)(r * (double)cap);
}
