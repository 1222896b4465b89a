/*
 * test_core_pace.c - client-side pacing of EC2 calls (pace.c) and the
 * counters of calls by (service, action, code) (calls.c): bucket
 * arithmetic on an injected clock, the option's parser, many threads
 * on the real clock, the adaptive decrease, and both seen through the
 * client with an injected transport.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <pthread.h>
#include <time.h>

#include "aws_int.h"
#include "creds.h"
#include "err.h"
#include "mem.h"

/* ---- an injected clock: sleeping moves it forward ---- */

struct fclock {
	double	 now;
	long	 slept[64];
	int	 nslept;
};

static double
fclock_now(void *arg)
{
	return ((struct fclock *)arg)->now;
}

static void
fclock_sleep(void *arg, long ms)
{
	struct fclock *f = arg;

	if (f->nslept < 64)
		f->slept[f->nslept] = ms;
	f->nslept++;
	f->now += (double)ms / 1000.0;
}

static struct aws_pacer *
pacer_from(const char *spec, struct fclock *fc)
{
	struct aws_pace_limits l;
	struct aws_pacer *p;
	int off;

	assert_int_equal(aws_pace_limits_parse(&l, &off, spec), 0);
	assert_int_equal(off, 0);
	assert_int_equal(aws_pacer_new(&p, &l), 0);
	if (fc != NULL)
		aws_pacer_set_clock(p, fclock_now, fclock_sleep, fc);
	return p;
}

/* ---- parsing ---- */

static void
test_aws_pace__parse_default(void **state)
{
	struct aws_pace_limits l;
	int off = -1;

	(void)state;
	assert_int_equal(aws_pace_limits_parse(&l, &off, AWS_PACE_DEFAULT), 0);
	assert_int_equal(off, 0);
	assert_true(l.burst[AWS_PACE_RUN] == 5 && l.rate[AWS_PACE_RUN] == 2);
	assert_true(l.burst[AWS_PACE_MUTATE] == 50 && l.rate[AWS_PACE_MUTATE] == 5);
	assert_true(l.burst[AWS_PACE_DESCRIBE] == 100 &&
	    l.rate[AWS_PACE_DESCRIBE] == 20);
	/* Order is free, rates may be fractions, a class may be left out. */
	assert_int_equal(aws_pace_limits_parse(&l, &off,
	    "describe=400:80,run=20:0.5"), 0);
	assert_true(l.burst[AWS_PACE_DESCRIBE] == 400 &&
	    l.rate[AWS_PACE_DESCRIBE] == 80);
	assert_true(l.rate[AWS_PACE_RUN] == 0.5);
	assert_true(l.rate[AWS_PACE_MUTATE] == 0 && l.burst[AWS_PACE_MUTATE] == 0);
	assert_int_equal(aws_pace_limits_parse(&l, &off, "off"), 0);
	assert_int_equal(off, 1);
	assert_int_equal(aws_pace_limits_parse(&l, &off, ""), 0);
	assert_int_equal(off, 1);
}

static void
test_aws_pace__parse_errors(void **state)
{
	static const struct {
		const char	*in;
		const char	*msg;
	} cases[] = {
		{ "run=5", "expected run=burst:rate" },
		{ "run", "expected class=burst:rate" },
		{ "walk=5:2", "unknown class \"walk\"" },
		{ "RUN=5:2", "unknown class" },
		{ "run=5:2,run=6:2", "class run given twice" },
		{ "run=0:2", "burst must be a whole number" },
		{ "run=2.5:2", "burst must be a whole number" },
		{ "run=-1:2", "burst must be a whole number" },
		{ "run=1000001:2", "burst must be a whole number" },
		{ "run=5:0", "rate must be a number" },
		{ "run=5:-2", "rate must be a number" },
		{ "run=5:2x", "rate must be a number" },
		{ "run=5:1e3", "rate must be a number" },
		{ "run=5:.5", "rate must be a number" },
		{ "run=5:inf", "rate must be a number" },
		{ "run=5:2:3", "rate must be a number" },
		{ "run= 5:2", "burst must be a whole number" },
		{ "run=5:2,", "empty item" },
		{ ",run=5:2", "empty item" },
		{ "run=5:2,,mutate=1:1", "empty item" },
		{ "Off", "expected class=burst:rate" },
	};
	struct aws_pace_limits l;
	size_t i;
	int off;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err_clear();
		if (aws_pace_limits_parse(&l, &off, cases[i].in) != ERR_INVALID)
			fail_msg("\"%s\" was accepted", cases[i].in);
		if (strstr(err_get(), cases[i].msg) == NULL)
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"", cases[i].in,
			    err_get(), cases[i].msg);
		assert_true(l.rate[AWS_PACE_RUN] == 0 && l.burst[AWS_PACE_RUN] == 0);
	}
}

static void
test_aws_pace__classify(void **state)
{
	(void)state;
	assert_int_equal(aws_pace_classify("RunInstances"), AWS_PACE_RUN);
	assert_int_equal(aws_pace_classify("DescribeInstances"), AWS_PACE_DESCRIBE);
	assert_int_equal(aws_pace_classify("DescribeImages"), AWS_PACE_DESCRIBE);
	assert_int_equal(aws_pace_classify("GetConsoleOutput"), AWS_PACE_DESCRIBE);
	assert_int_equal(aws_pace_classify("TerminateInstances"), AWS_PACE_MUTATE);
	assert_int_equal(aws_pace_classify("CreateSecurityGroup"), AWS_PACE_MUTATE);
	assert_int_equal(aws_pace_classify("AuthorizeSecurityGroupIngress"),
	    AWS_PACE_MUTATE);
	assert_int_equal(aws_pace_classify(NULL), AWS_PACE_MUTATE);
	assert_string_equal(aws_pace_class_name(AWS_PACE_RUN), "run");
	assert_string_equal(aws_pace_class_name(AWS_PACE_MUTATE), "mutate");
	assert_string_equal(aws_pace_class_name(AWS_PACE_DESCRIBE), "describe");
}

/* ---- bucket arithmetic ---- */

static void
test_aws_pace__bucket_arithmetic(void **state)
{
	struct fclock fc = { .now = 1000.0 };
	struct aws_pacer *p = pacer_from("mutate=10:2", &fc);
	struct aws_pace_stats st;
	int i;

	(void)state;
	/* 10 tokens, one kept in reserve: 9 go at once. */
	for (i = 0; i < 9; i++)
		assert_int_equal(aws_pacer_acquire(p, AWS_PACE_MUTATE), 0);
	assert_int_equal(fc.nslept, 0);
	/* Then one every 500 ms, reserved in turn. */
	assert_int_equal(aws_pacer_acquire(p, AWS_PACE_MUTATE), 500);
	assert_int_equal(aws_pacer_acquire(p, AWS_PACE_MUTATE), 500);
	assert_true(fc.now == 1001.0);
	/* Idle for 1.25 s earns 2.5 tokens. */
	fc.now += 1.25;
	assert_int_equal(aws_pacer_acquire(p, AWS_PACE_MUTATE), 0);
	assert_int_equal(aws_pacer_acquire(p, AWS_PACE_MUTATE), 0);
	assert_int_equal(aws_pacer_acquire(p, AWS_PACE_MUTATE), 250);
	/* A long idle never fills past the spendable 9. */
	fc.now += 3600;
	for (i = 0; i < 9; i++)
		assert_int_equal(aws_pacer_acquire(p, AWS_PACE_MUTATE), 0);
	assert_int_equal(aws_pacer_acquire(p, AWS_PACE_MUTATE), 500);
	/* Other classes are not paced by this configuration. */
	for (i = 0; i < 1000; i++)
		assert_int_equal(aws_pacer_acquire(p, AWS_PACE_RUN), 0);
	aws_pacer_stats(&st, p, AWS_PACE_MUTATE);
	assert_true(st.burst == 10 && st.rate == 2 && st.cur_rate == 2);
	assert_int_equal(st.acquired, 24);
	assert_int_equal(st.waited, 4);
	assert_true(st.wait_seconds > 1.749 && st.wait_seconds < 1.751);
	aws_pacer_stats(&st, p, AWS_PACE_RUN);
	assert_int_equal(st.acquired, 0);
	aws_pacer_free(p);
}

static void
test_aws_pace__small_buckets(void **state)
{
	struct fclock fc = { .now = 5.0 };
	struct aws_pacer *p = pacer_from("run=1:4,describe=5:1", &fc);

	(void)state;
	/* A bucket of 1 has no reserve. */
	assert_int_equal(aws_pacer_acquire(p, AWS_PACE_RUN), 0);
	assert_int_equal(aws_pacer_acquire(p, AWS_PACE_RUN), 250);
	/* A bucket of 5 keeps 1. */
	assert_int_equal(aws_pacer_acquire(p, AWS_PACE_DESCRIBE), 0);
	assert_int_equal(aws_pacer_acquire(p, AWS_PACE_DESCRIBE), 0);
	assert_int_equal(aws_pacer_acquire(p, AWS_PACE_DESCRIBE), 0);
	assert_int_equal(aws_pacer_acquire(p, AWS_PACE_DESCRIBE), 0);
	assert_int_equal(aws_pacer_acquire(p, AWS_PACE_DESCRIBE), 1000);
	aws_pacer_free(p);
}

/* ---- the adaptive decrease ---- */

static void
test_aws_pace__throttle_decreases(void **state)
{
	struct fclock fc = { .now = 0.0 };
	struct aws_pacer *p = pacer_from("run=5:10", &fc);
	struct aws_pace_stats st;
	int i;

	(void)state;
	/* A throttle empties the bucket and cuts the rate to 7/s. */
	aws_pacer_throttled(p, AWS_PACE_RUN);
	aws_pacer_stats(&st, p, AWS_PACE_RUN);
	assert_true(st.cur_rate > 6.999 && st.cur_rate < 7.001);
	assert_int_equal(st.throttles, 1);
	assert_int_equal(st.decreases, 1);
	assert_int_equal(aws_pacer_acquire(p, AWS_PACE_RUN), 143);	/* 1/7 s */
	/* Within a second, more throttles (of calls in flight) cut no more. */
	aws_pacer_throttled(p, AWS_PACE_RUN);
	aws_pacer_throttled(p, AWS_PACE_RUN);
	aws_pacer_stats(&st, p, AWS_PACE_RUN);
	assert_int_equal(st.throttles, 3);
	assert_int_equal(st.decreases, 1);
	assert_true(st.cur_rate > 6.9 && st.cur_rate < 7.1);
	/*
	 * A second later another one does.  A throttle every second, with
	 * 0.5/s of recovery in between, settles where x = 0.7 (x + 0.5).
	 */
	for (i = 0; i < 20; i++) {
		fc.now += 1.001;
		aws_pacer_throttled(p, AWS_PACE_RUN);
	}
	aws_pacer_stats(&st, p, AWS_PACE_RUN);
	assert_int_equal(st.decreases, 21);
	assert_true(st.cur_rate > 1.16 && st.cur_rate < 1.18);
	/* Without throttles it climbs back by 0.5/s each second, to 10/s. */
	fc.now += 4.0;
	aws_pacer_stats(&st, p, AWS_PACE_RUN);
	assert_true(st.cur_rate > 3.16 && st.cur_rate < 3.18);
	fc.now += 60.0;
	aws_pacer_stats(&st, p, AWS_PACE_RUN);
	assert_true(st.cur_rate == 10.0);
	/* A configuration change starts afresh. */
	aws_pacer_throttled(p, AWS_PACE_RUN);
	{
		struct aws_pace_limits l;
		int off;

		assert_int_equal(aws_pace_limits_parse(&l, &off, "run=5:20"), 0);
		aws_pacer_set_limits(p, &l);
	}
	aws_pacer_stats(&st, p, AWS_PACE_RUN);
	assert_true(st.cur_rate == 20.0 && st.rate == 20.0);
	for (i = 0; i < 4; i++)
		assert_int_equal(aws_pacer_acquire(p, AWS_PACE_RUN), 0);
	aws_pacer_free(p);
}

/* ---- many threads, the real clock ---- */

#define THREADS		6
#define PER_THREAD	30
#define T_BURST		10.0	/* 9 spendable */
#define T_RATE		150.0

struct stamp_log {
	pthread_mutex_t	 lock;
	double		 t[THREADS * PER_THREAD];
	int		 n;
	struct aws_pacer *p;
};

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
hammer(void *arg)
{
	struct stamp_log *s = arg;
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		(void)aws_pacer_acquire(s->p, AWS_PACE_DESCRIBE);
		pthread_mutex_lock(&s->lock);
		s->t[s->n++] = mono();
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
test_aws_pace__threads_never_exceed(void **state)
{
	struct stamp_log s;
	pthread_t tid[THREADS];
	double start, elapsed, allowed;
	int i, j, n = THREADS * PER_THREAD;
	char spec[64];

	(void)state;
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.lock, NULL);
	snprintf(spec, sizeof(spec), "describe=%.0f:%.0f", T_BURST, T_RATE);
	s.p = pacer_from(spec, NULL);
	start = mono();
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&tid[i], NULL, hammer, &s), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(tid[i], NULL);
	elapsed = mono() - start;
	assert_int_equal(s.n, n);
	qsort(s.t, (size_t)n, sizeof(s.t[0]), cmp_double);
	/*
	 * In any window [t_i, t_j] at most spendable + rate x (t_j - t_i)
	 * calls went (one more for the rounding of sleeps to milliseconds),
	 * counted from the start too.
	 */
	for (i = 0; i < n; i++)
		for (j = i; j < n; j++) {
			allowed = (T_BURST - 1) + T_RATE * (s.t[j] - s.t[i]) + 1;
			if ((double)(j - i + 1) > allowed)
				fail_msg("%d calls in %.4f s (allowed %.1f)", j - i + 1,
				    s.t[j] - s.t[i], allowed);
		}
	assert_true((double)n <= (T_BURST - 1) + T_RATE * (s.t[n - 1] - start) + 1);
	/* And pacing did not make it much slower than the rate allows. */
	assert_true(elapsed >= ((double)n - T_BURST) / T_RATE * 0.95);
	assert_true(elapsed < ((double)n - T_BURST) / T_RATE * 2.0 + 0.5);
	aws_pacer_free(s.p);
	pthread_mutex_destroy(&s.lock);
}

/* ---- through the client: counters by action and code ---- */

struct answer {
	long		 status;
	const char	*body;
	int		 tcode;
};

struct fake {
	const struct answer *script;
	size_t		 n;
	size_t		 calls;
};

static int
fake_send(void *arg, struct aws_response *resp, const struct aws_http_request *req)
{
	struct fake *f = arg;
	const struct answer *a = &f->script[f->calls < f->n ? f->calls : f->n - 1];

	(void)req;
	f->calls++;
	if (a->tcode < 0) {
		err_set("scripted transport failure");
		return a->tcode;
	}
	resp->status = a->status;
	return a->body != NULL ? buf_addstr(&resp->body, a->body) : 0;
}

static const struct aws_transport fake_transport = { fake_send };

#define EC2_ERR(code) \
	"<Response><Errors><Error><Code>" code "</Code><Message>m</Message>" \
	"</Error></Errors><RequestID>r-1</RequestID></Response>"

static void
no_sleep(void *arg, long ms)
{
	(void)arg;
	(void)ms;
}

static double
half(void *arg)
{
	(void)arg;
	return 0.5;
}

static int
send_one(struct aws_client *c, enum aws_service svc, const char *action)
{
	struct aws_query *q = aws_query_new(action, "2016-11-15");
	struct aws_request req = {
		.service = svc, .action = action, .method = "POST", .path = "/",
		.params = q,
	};
	struct aws_response resp;
	int rc;

	aws_response_init(&resp);
	rc = aws_client_send(&resp, c, &req);
	aws_response_dispose(&resp);
	aws_query_free(q);
	return rc;
}

struct row_find {
	int		 service;
	const char	*action;
	const char	*code;
	struct aws_call_count got;
	int		 found;
};

static void
find_row(const struct aws_call_count *c, void *arg)
{
	struct row_find *f = arg;

	if ((int)c->service == f->service && strcmp(c->action, f->action) == 0 &&
	    strcmp(c->code, f->code) == 0) {
		f->got = *c;
		f->found++;
	}
}

static struct aws_call_count
row_of(struct aws_call_stats *s, int service, const char *action,
    const char *code)
{
	struct row_find f = { service, action, code, { 0 }, 0 };

	(void)aws_call_stats_foreach(s, find_row, &f);
	if (f.found != 1)
		fail_msg("row %s/%s/%s found %d times", aws_service_name(
		    (enum aws_service)service), action, code, f.found);
	return f.got;
}

static void
test_aws_pace__client_counts_and_paces(void **state)
{
	static const struct answer script[] = {
		/* RunInstances: throttled, then success */
		{ 503, EC2_ERR("RequestLimitExceeded"), 0 },
		{ 200, "<RunInstancesResponse/>", 0 },
		/* DescribeInstances: a bad parameter */
		{ 400, EC2_ERR("InvalidParameterValue"), 0 },
		/* DescribeInstances: success */
		{ 200, "<DescribeInstancesResponse/>", 0 },
		/* S3 PutObject: success (not paced) */
		{ 200, "", 0 },
		/* TerminateInstances: no answer, three times */
		{ 0, NULL, ERR_UNAVAILABLE },
		{ 0, NULL, ERR_UNAVAILABLE },
		{ 0, NULL, ERR_UNAVAILABLE },
	};
	struct fake fk = { script, sizeof(script) / sizeof(script[0]), 0 };
	struct fclock fc = { .now = 0.0 };
	struct aws_call_stats *cs = aws_call_stats_new();
	struct aws_retry_quota *quota = aws_retry_quota_new(AWS_RETRY_QUOTA_MAX);
	struct aws_pacer *p = pacer_from("run=5:2,mutate=50:5,describe=100:20", &fc);
	struct aws_client_opts o;
	struct aws_creds *creds;
	struct aws_client *c;
	struct aws_pace_stats st;
	struct aws_call_count r;

	(void)state;
	assert_int_equal(aws_creds_new(&creds, "AKIDTEST", "secretsecretsecret",
	    NULL, 0, "test"), 0);
	memset(&o, 0, sizeof(o));
	o.region = "us-east-1";
	o.ignore_env_endpoints = 1;
	o.static_creds = creds;
	o.transport = &fake_transport;
	o.transport_arg = &fk;
	o.rand = half;
	o.sleep_ms = no_sleep;
	o.quota = quota;
	o.pacer = p;
	o.call_stats = cs;
	assert_int_equal(aws_client_new(&c, &o), 0);

	assert_int_equal(send_one(c, AWS_SERVICE_EC2, "RunInstances"), 0);
	assert_int_equal(send_one(c, AWS_SERVICE_EC2, "DescribeInstances"),
	    ERR_INVALID);
	assert_int_equal(send_one(c, AWS_SERVICE_EC2, "DescribeInstances"), 0);
	assert_int_equal(send_one(c, AWS_SERVICE_S3, "PutObject"), 0);
	assert_int_equal(send_one(c, AWS_SERVICE_EC2, "TerminateInstances"),
	    ERR_UNAVAILABLE);

	r = row_of(cs, AWS_SERVICE_EC2, "RunInstances", "");
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.attempts, 2);
	assert_int_equal(r.throttled, 1);
	r = row_of(cs, AWS_SERVICE_EC2, "DescribeInstances", "InvalidParameterValue");
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.attempts, 1);
	r = row_of(cs, AWS_SERVICE_EC2, "DescribeInstances", "");
	assert_int_equal(r.calls, 1);
	r = row_of(cs, AWS_SERVICE_S3, "PutObject", "");
	assert_int_equal(r.calls, 1);
	r = row_of(cs, AWS_SERVICE_EC2, "TerminateInstances", "ClientConnectionError");
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.attempts, 3);
	assert_int_equal(aws_call_stats_foreach(cs, NULL, NULL), 5);

	/* The retry of the throttled call took a token too; S3 took none. */
	aws_pacer_stats(&st, p, AWS_PACE_RUN);
	assert_int_equal(st.acquired, 2);
	assert_int_equal(st.throttles, 1);
	assert_int_equal(st.decreases, 1);
	aws_pacer_stats(&st, p, AWS_PACE_DESCRIBE);
	assert_int_equal(st.acquired, 2);
	assert_int_equal(st.throttles, 0);
	aws_pacer_stats(&st, p, AWS_PACE_MUTATE);
	assert_int_equal(st.acquired, 3);
	/* The bucket emptied by the throttle: the retry waited 1/1.4 s. */
	assert_true(fc.nslept >= 1 && fc.slept[0] == 715);

	aws_client_free(c);
	aws_pacer_free(p);
	aws_retry_quota_free(quota);
	aws_call_stats_free(cs);
	aws_creds_free(creds);
}

static void
test_aws_pace__counter_cardinality(void **state)
{
	struct aws_call_stats *cs = aws_call_stats_new();
	char code[32], action[32];
	struct aws_call_count r;
	int i;

	(void)state;
	/* Codes past the cap fold into "other". */
	for (i = 0; i < AWS_CALL_STATS_MAX_CODES + 20; i++) {
		snprintf(code, sizeof(code), "Code%d", i);
		aws_call_stats_add(cs, AWS_SERVICE_EC2, "DescribeInstances", code, 1, 0);
	}
	aws_call_stats_add(cs, AWS_SERVICE_EC2, "DescribeInstances", "Code3", 1, 0);
	assert_int_equal(aws_call_stats_foreach(cs, NULL, NULL),
	    AWS_CALL_STATS_MAX_CODES + 1);
	r = row_of(cs, AWS_SERVICE_EC2, "DescribeInstances", "other");
	assert_int_equal(r.calls, 20);
	r = row_of(cs, AWS_SERVICE_EC2, "DescribeInstances", "Code3");
	assert_int_equal(r.calls, 2);
	/* Success never counts against the cap of codes. */
	aws_call_stats_add(cs, AWS_SERVICE_EC2, "DescribeInstances", "", 1, 0);
	r = row_of(cs, AWS_SERVICE_EC2, "DescribeInstances", "");
	assert_int_equal(r.calls, 1);
	/* Rows past the cap fold into (service, other, other). */
	for (i = 0; i < AWS_CALL_STATS_MAX_SERIES + 50; i++) {
		snprintf(action, sizeof(action), "Action%d", i);
		aws_call_stats_add(cs, AWS_SERVICE_S3, action, "", 1, 0);
	}
	assert_int_equal(aws_call_stats_foreach(cs, NULL, NULL),
	    AWS_CALL_STATS_MAX_SERIES - AWS_SERVICE_COUNT + 1);
	r = row_of(cs, AWS_SERVICE_S3, "other", "other");
	assert_int_equal(r.calls, (unsigned long)(AWS_CALL_STATS_MAX_SERIES + 50 -
	    (AWS_CALL_STATS_MAX_SERIES - AWS_SERVICE_COUNT - AWS_CALL_STATS_MAX_CODES - 2)));
	/* Each service keeps its own overflow row. */
	aws_call_stats_add(cs, AWS_SERVICE_STS, "AssumeRole", "", 1, 0);
	aws_call_stats_add(cs, AWS_SERVICE_EC2, "RunInstances", "", 1, 0);
	r = row_of(cs, AWS_SERVICE_STS, "other", "other");
	assert_int_equal(r.calls, 1);
	r = row_of(cs, AWS_SERVICE_EC2, "other", "other");
	assert_int_equal(r.calls, 1);
	aws_call_stats_add(cs, AWS_SERVICE_SSM, "GetParameter", "", 1, 0);
	r = row_of(cs, AWS_SERVICE_SSM, "other", "other");
	assert_int_equal(r.calls, 1);
	assert_int_equal(aws_call_stats_foreach(cs, NULL, NULL),
	    AWS_CALL_STATS_MAX_SERIES);
	aws_call_stats_free(cs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aws_pace__parse_default),
		cmocka_unit_test(test_aws_pace__parse_errors),
		cmocka_unit_test(test_aws_pace__classify),
		cmocka_unit_test(test_aws_pace__bucket_arithmetic),
		cmocka_unit_test(test_aws_pace__small_buckets),
		cmocka_unit_test(test_aws_pace__throttle_decreases),
		cmocka_unit_test(test_aws_pace__threads_never_exceed),
		cmocka_unit_test(test_aws_pace__client_counts_and_paces),
		cmocka_unit_test(test_aws_pace__counter_cardinality),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
