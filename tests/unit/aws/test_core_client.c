/*
 * test_core_client.c - the AWS client with the network replaced below
 * its boundary: an injected transport (scripted answers, recorded
 * requests), injected clock, randomness and sleep; and the real libcurl
 * transport against a tiny HTTP server on 127.0.0.1 for the body cap
 * and connection errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aws_int.h"
#include "creds.h"
#include "err.h"
#include "failpoint.h"
#include "log.h"
#include "mem.h"
#include "sts.h"

#define CANARY_SECRET	"CANARYsecretKEY0123456789abcdefghijklmn"
#define CANARY_TOKEN	"CANARYsessionTOKENzyxwvutsrqponmlkjihgfedcba9876543210"

/* ---- a scripted transport ---- */

struct answer {
	int		 tcode;		/* < 0: transport failure */
	long		 status;
	const char	*body;
	const char	*header;	/* "Name: value" or NULL */
};

struct fake {
	const struct answer *script;
	size_t		 n;		/* the last answer repeats */
	int		 calls;
	char		 url[1024];
	char		 method[16];
	char		 body[4096];
	struct aws_headers sent;	/* headers of the last request */
};

static int
fake_send(void *arg, struct aws_response *resp, const struct aws_http_request *req)
{
	struct fake *f = arg;
	const struct answer *a;
	size_t i;
	char *name;

	a = &f->script[(size_t)f->calls < f->n ? (size_t)f->calls : f->n - 1];
	f->calls++;
	snprintf(f->url, sizeof(f->url), "%s", req->url);
	snprintf(f->method, sizeof(f->method), "%s", req->method);
	snprintf(f->body, sizeof(f->body), "%.*s", (int)req->body_len,
	    req->body != NULL ? (const char *)req->body : "");
	aws_headers_dispose(&f->sent);
	for (i = 0; i < req->headers->n; i++)
		aws_headers_add(&f->sent, req->headers->v[i].name,
		    req->headers->v[i].value);
	if (a->tcode < 0) {
		err_set("scripted transport failure");
		return a->tcode;
	}
	resp->status = a->status;
	if (a->header != NULL) {
		name = xstrdup(a->header);
		*strchr(name, ':') = '\0';
		aws_headers_add(&resp->headers, name, strchr(a->header, ':') + 2);
		free(name);
	}
	if (a->body != NULL)
		return buf_addstr(&resp->body, a->body);
	return 0;
}

static const struct aws_transport fake_transport = { fake_send };

struct sleeps {
	long	 ms[32];
	int	 n;
	double	 r;
};

static double
fixed_rand(void *arg)
{
	return ((struct sleeps *)arg)->r;
}

static void
record_sleep(void *arg, long ms)
{
	struct sleeps *s = arg;

	if (s->n < 32)
		s->ms[s->n] = ms;
	s->n++;
}

static time_t
fixed_clock(void *arg)
{
	(void)arg;
	return 1767225600;	/* 2026-01-01T00:00:00Z */
}

struct fixture {
	struct fake		 fake;
	struct sleeps		 sleeps;
	struct aws_creds	*creds;
	struct aws_retry_quota	*quota;
	struct aws_client_opts	 opts;
	struct aws_client	*client;
};

static struct fixture *
fixture_new(const struct answer *script, size_t n, int max_attempts)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));

	fx->fake.script = script;
	fx->fake.n = n;
	aws_headers_init(&fx->fake.sent);
	fx->sleeps.r = 0.5;
	assert_int_equal(aws_creds_new(&fx->creds, "AKIDTEST", CANARY_SECRET,
	    CANARY_TOKEN, 0, "test"), 0);
	fx->quota = aws_retry_quota_new(AWS_RETRY_QUOTA_MAX);
	fx->opts.region = "us-east-1";
	fx->opts.ignore_env_endpoints = 1;
	fx->opts.static_creds = fx->creds;
	fx->opts.max_attempts = max_attempts;
	fx->opts.transport = &fake_transport;
	fx->opts.transport_arg = &fx->fake;
	fx->opts.clock = fixed_clock;
	fx->opts.rand = fixed_rand;
	fx->opts.sleep_ms = record_sleep;
	fx->opts.retry_arg = &fx->sleeps;
	fx->opts.quota = fx->quota;
	assert_int_equal(aws_client_new(&fx->client, &fx->opts), 0);
	return fx;
}

static void
fixture_free(struct fixture *fx)
{
	aws_client_free(fx->client);
	aws_retry_quota_free(fx->quota);
	aws_creds_free(fx->creds);
	aws_headers_dispose(&fx->fake.sent);
	free(fx);
}

/* One EC2 Query call; returns aws_client_send's code. */
static int
ec2_call(struct fixture *fx, const char *action)
{
	struct aws_query *q = aws_query_new(action, "2016-11-15");
	struct aws_request req = {
		.service = AWS_SERVICE_EC2, .action = action, .method = "POST",
		.path = "/", .params = q,
	};
	struct aws_response resp;
	int rc;

	aws_response_init(&resp);
	rc = aws_client_send(&resp, fx->client, &req);
	aws_response_dispose(&resp);
	aws_query_free(q);
	return rc;
}

#define EC2_ERR(code) \
	"<Response><Errors><Error><Code>" code "</Code><Message>m</Message>" \
	"</Error></Errors><RequestID>r-1</RequestID></Response>"

static const char ok_body[] = "<DescribeInstancesResponse><reservationSet/>"
    "</DescribeInstancesResponse>";

/* ---- the fence of mutating calls ---- */

struct fence {
	int	 open;		/* 1: calls pass */
	int	 asked;
};

static int
test_fence(void *arg)
{
	struct fence *f = arg;

	f->asked++;
	if (f->open)
		return 0;
	err_set("fenced: test deadline passed");
	return ERR_FENCED;
}

/* One call of service with method (and action); aws_client_send's code. */
static int
svc_call(struct fixture *fx, enum aws_service svc, const char *method,
    const char *action)
{
	struct aws_request req = {
		.service = svc, .action = action, .method = method,
		.bucket = svc == AWS_SERVICE_S3 ? "b" : NULL,
		.path = svc == AWS_SERVICE_S3 ? "/k" : "/",
	};
	struct aws_response resp;
	int rc;

	aws_response_init(&resp);
	rc = aws_client_send(&resp, fx->client, &req);
	aws_response_dispose(&resp);
	return rc;
}

/*
 * A closed fence refuses every mutating call unsent (EC2 actions other
 * than Describe/Get/List/Search, S3 PUT/DELETE/POST) and lets reads
 * through; it is asked again on each retry.
 */
static void
test_aws_core__fence(void **state)
{
	static const struct answer script[] = {
		{ 0, 503, EC2_ERR("Unavailable"), NULL },
		{ 0, 200, ok_body, NULL },
	};
	static const char *const mutating[] = { "RunInstances",
	    "TerminateInstances", "StartInstances", "StopInstances",
	    "CreateSecurityGroup", "DeleteSecurityGroup",
	    "AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress",
	    "ImportKeyPair", "DeleteKeyPair", "CreateTags" };
	struct fence fence = { 0, 0 };
	struct fixture *fx;
	size_t i;

	(void)state;
	fx = fixture_new(script, 2, 3);
	aws_client_free(fx->client);
	fx->opts.fence = test_fence;
	fx->opts.fence_arg = &fence;
	assert_int_equal(aws_client_new(&fx->client, &fx->opts), 0);
	for (i = 0; i < sizeof(mutating) / sizeof(mutating[0]); i++) {
		assert_int_equal(ec2_call(fx, mutating[i]), ERR_FENCED);
		assert_int_equal(fx->fake.calls, 0);
		assert_non_null(strstr(err_get(), "fenced: test deadline passed"));
		assert_non_null(strstr(err_get(), mutating[i]));
	}
	assert_int_equal(svc_call(fx, AWS_SERVICE_S3, "PUT", NULL), ERR_FENCED);
	assert_int_equal(svc_call(fx, AWS_SERVICE_S3, "DELETE", NULL), ERR_FENCED);
	assert_int_equal(fx->fake.calls, 0);
	assert_int_equal(fence.asked, 13);
	/* reads are never fenced (the retry of one neither) */
	assert_int_equal(ec2_call(fx, "DescribeInstances"), 0);
	assert_int_equal(fx->fake.calls, 2);
	fx->fake.calls = 0;
	assert_int_equal(svc_call(fx, AWS_SERVICE_S3, "GET", NULL), 0);
	assert_int_equal(fence.asked, 13);
	/* open: asked before each attempt, the retry included */
	fence.open = 1;
	fx->fake.calls = 0;
	assert_int_equal(ec2_call(fx, "TerminateInstances"), 0);
	assert_int_equal(fx->fake.calls, 2);
	assert_int_equal(fence.asked, 15);
	/* closed again: nothing sent */
	fence.open = 0;
	fx->fake.calls = 0;
	assert_int_equal(svc_call(fx, AWS_SERVICE_S3, "DELETE", NULL), ERR_FENCED);
	assert_int_equal(fx->fake.calls, 0);
	fixture_free(fx);
}

/* ---- retries ---- */

static void
test_aws_core__retry_then_success(void **state)
{
	static const struct answer script[] = {
		{ 0, 503, EC2_ERR("Unavailable"), NULL },
		{ 0, 503, EC2_ERR("RequestLimitExceeded"), NULL },
		{ 0, 200, ok_body, NULL },
	};
	struct fixture *fx = fixture_new(script, 3, 3);

	(void)state;
	assert_int_equal(ec2_call(fx, "DescribeInstances"), 0);
	assert_int_equal(fx->fake.calls, 3);
	/* full jitter with r = 0.5: 0.5 * 1 s, then 0.5 * 2 s */
	assert_int_equal(fx->sleeps.n, 2);
	assert_int_equal(fx->sleeps.ms[0], 500);
	assert_int_equal(fx->sleeps.ms[1], 1000);
	/* the two retries took 10 tokens and the success gave them back */
	assert_int_equal(aws_retry_quota_available(fx->quota), AWS_RETRY_QUOTA_MAX);
	assert_int_equal(aws_client_last_error(fx->client)->err, 0);
	fixture_free(fx);
}

static void
test_aws_core__no_retry_on_client_error(void **state)
{
	static const struct answer script[] = {
		{ 0, 400, EC2_ERR("InvalidParameterValue"), NULL },
	};
	struct fixture *fx = fixture_new(script, 1, 3);
	const struct aws_error *e;

	(void)state;
	assert_int_equal(ec2_call(fx, "RunInstances"), ERR_INVALID);
	assert_int_equal(fx->fake.calls, 1);
	assert_int_equal(fx->sleeps.n, 0);
	e = aws_client_last_error(fx->client);
	assert_string_equal(e->code, "InvalidParameterValue");
	assert_string_equal(e->action, "RunInstances");
	assert_int_equal(e->attempts, 1);
	assert_true(strstr(err_get(), "ec2 RunInstances: InvalidParameterValue: m "
	    "(HTTP 400, request id r-1, 1 attempt)") != NULL);
	fixture_free(fx);
}

static void
test_aws_core__throttle_gives_up(void **state)
{
	static const struct answer script[] = {
		{ 0, 400, EC2_ERR("RequestLimitExceeded"), NULL },
	};
	struct fixture *fx = fixture_new(script, 1, 3);
	struct aws_client_stats st;

	(void)state;
	assert_int_equal(ec2_call(fx, "DescribeInstances"), ERR_THROTTLED);
	assert_int_equal(fx->fake.calls, 3);
	assert_int_equal(aws_client_last_error(fx->client)->attempts, 3);
	assert_int_equal(aws_retry_quota_available(fx->quota),
	    AWS_RETRY_QUOTA_MAX - 2 * AWS_RETRY_COST);
	aws_client_stats(&st, fx->client);
	assert_int_equal(st.throttled, 3);
	assert_int_equal(st.retries, 2);
	assert_int_equal(st.failures, 1);
	fixture_free(fx);
}

static void
test_aws_core__timeouts_cost_more(void **state)
{
	static const struct answer script[] = {
		{ ERR_TIMEOUT, 0, NULL, NULL },
		{ ERR_UNAVAILABLE, 0, NULL, NULL },
	};
	struct fixture *fx = fixture_new(script, 2, 3);

	(void)state;
	assert_int_equal(ec2_call(fx, "DescribeInstances"), ERR_UNAVAILABLE);
	assert_int_equal(fx->fake.calls, 3);
	assert_int_equal(aws_retry_quota_available(fx->quota),
	    AWS_RETRY_QUOTA_MAX - 2 * AWS_RETRY_TIMEOUT_COST);
	fixture_free(fx);
}

static void
test_aws_core__quota_storm(void **state)
{
	static const struct answer fail[] = { { 0, 503, NULL, NULL } };
	static const struct answer ok[] = { { 0, 200, ok_body, NULL } };
	struct fixture *fx = fixture_new(fail, 1, 3);
	struct aws_client_stats st;
	int i, before;

	(void)state;
	/* each failing call pays for two retries: 50 calls drain 500 tokens */
	for (i = 0; i < 50; i++)
		assert_int_equal(ec2_call(fx, "DescribeInstances"), ERR_UNAVAILABLE);
	assert_int_equal(fx->fake.calls, 150);
	assert_int_equal(aws_retry_quota_available(fx->quota), 0);
	/* the bucket is empty: calls fail fast, sent once, no sleep */
	before = fx->sleeps.n;
	for (i = 0; i < 10; i++)
		assert_int_equal(ec2_call(fx, "DescribeInstances"), ERR_UNAVAILABLE);
	assert_int_equal(fx->fake.calls, 160);
	assert_int_equal(fx->sleeps.n, before);
	assert_int_equal(aws_client_last_error(fx->client)->attempts, 1);
	assert_string_equal(aws_client_last_error(fx->client)->code,
	    "ServiceUnavailable");
	/* first-attempt successes refill one token each */
	fx->fake.script = ok;
	for (i = 0; i < 7; i++)
		assert_int_equal(ec2_call(fx, "DescribeInstances"), 0);
	assert_int_equal(aws_retry_quota_available(fx->quota), 7);
	/* enough for one retry (5), not two */
	fx->fake.script = fail;
	fx->fake.calls = 0;
	assert_int_equal(ec2_call(fx, "DescribeInstances"), ERR_UNAVAILABLE);
	assert_int_equal(fx->fake.calls, 2);
	assert_int_equal(aws_retry_quota_available(fx->quota), 2);
	aws_client_stats(&st, fx->client);
	assert_int_equal(st.calls, 68);
	assert_int_equal(st.attempts, 169);
	assert_int_equal(st.retries, 101);
	assert_int_equal(st.failures, 61);
	assert_int_equal(st.quota_exhausted, 11);	/* 10 fail-fast + the last */
	assert_int_equal(st.throttled, 0);
	fixture_free(fx);
}

struct storm_worker {
	struct fixture		*fx;
	struct aws_retry_quota	*quota;
	pthread_t		 thread;
};

static void *
storm_main(void *arg)
{
	struct storm_worker *w = arg;
	struct aws_client *c;
	int i;

	w->fx->opts.quota = w->quota;
	if (aws_client_new(&c, &w->fx->opts) < 0)
		return NULL;
	aws_client_free(w->fx->client);
	w->fx->client = c;
	for (i = 0; i < 25; i++)
		(void)ec2_call(w->fx, "DescribeInstances");
	return NULL;
}

static void
test_aws_core__quota_shared_by_threads(void **state)
{
	static const struct answer fail[] = { { 0, 503, NULL, NULL } };
	struct storm_worker w[4];
	struct aws_retry_quota *q = aws_retry_quota_new(AWS_RETRY_QUOTA_MAX);
	int i, sends = 0;

	(void)state;
	/* 4 clients x 25 failing calls would like 200 retries; 500 tokens pay 100 */
	for (i = 0; i < 4; i++) {
		w[i].fx = fixture_new(fail, 1, 3);
		w[i].quota = q;
		assert_int_equal(pthread_create(&w[i].thread, NULL, storm_main,
		    &w[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(w[i].thread, NULL);
		sends += w[i].fx->fake.calls;
		fixture_free(w[i].fx);
	}
	assert_int_equal(sends, 100 + AWS_RETRY_QUOTA_MAX / AWS_RETRY_COST);
	assert_int_equal(aws_retry_quota_available(q), 0);
	aws_retry_quota_free(q);
}

static void
test_aws_core__quota_capacity(void **state)
{
	struct aws_retry_quota *q = aws_retry_quota_new(20);

	(void)state;
	assert_int_equal(aws_retry_quota_acquire(q, 15), 0);
	assert_int_equal(aws_retry_quota_acquire(q, 10), ERR_LIMIT);
	assert_int_equal(aws_retry_quota_available(q), 5);
	aws_retry_quota_release(q, 100);
	assert_int_equal(aws_retry_quota_available(q), 20);
	aws_retry_quota_free(q);
	assert_int_equal(aws_retry_quota_available(aws_retry_quota_default()),
	    AWS_RETRY_QUOTA_MAX);
	aws_retry_quota_free(aws_retry_quota_default());	/* no-op */
}

static void
test_aws_core__backoff_bounds(void **state)
{
	static const struct answer fail[] = { { 0, 500, NULL, NULL } };
	struct fixture *fx;
	long cap;
	int i;

	(void)state;
	assert_int_equal(aws_retry_delay_ms(1, 0.0), 0);
	assert_int_equal(aws_retry_delay_ms(1, 1.0), 1000);
	assert_int_equal(aws_retry_delay_ms(2, 1.0), 2000);
	assert_int_equal(aws_retry_delay_ms(5, 1.0), 16000);
	assert_int_equal(aws_retry_delay_ms(6, 1.0), 20000);	/* 32 s capped */
	assert_int_equal(aws_retry_delay_ms(60, 1.0), 20000);
	assert_int_equal(aws_retry_delay_ms(3, 0.25), 1000);
	assert_int_equal(aws_retry_delay_ms(3, 7.0), 4000);	/* r clamped */

	fx = fixture_new(fail, 1, 10);
	fx->sleeps.r = 0.999999;
	assert_int_equal(ec2_call(fx, "DescribeInstances"), ERR_UNAVAILABLE);
	assert_int_equal(fx->fake.calls, 10);
	assert_int_equal(fx->sleeps.n, 9);
	for (i = 0; i < 9; i++) {
		cap = (1L << i) * 1000;
		if (cap > AWS_RETRY_MAX_BACKOFF_MS)
			cap = AWS_RETRY_MAX_BACKOFF_MS;
		assert_true(fx->sleeps.ms[i] <= cap);
		assert_true(fx->sleeps.ms[i] >= cap * 99 / 100);
	}
	fixture_free(fx);
}

static void
test_aws_core__retry_classify(void **state)
{
	static const char *const throttles[] = {
		"Throttling", "ThrottlingException", "ThrottledException",
		"RequestThrottledException", "TooManyRequestsException",
		"ProvisionedThroughputExceededException",
		"TransactionInProgressException", "RequestLimitExceeded",
		"BandwidthLimitExceeded", "LimitExceededException",
		"RequestThrottled", "SlowDown", "EC2ThrottledException",
	};
	struct aws_error e;
	size_t i;

	(void)state;
	memset(&e, 0, sizeof(e));
	for (i = 0; i < sizeof(throttles) / sizeof(throttles[0]); i++) {
		snprintf(e.code, sizeof(e.code), "%s", throttles[i]);
		e.http_status = 400;
		assert_int_equal(aws_retry_classify(0, &e), AWS_RETRY_THROTTLE);
	}
	e.http_status = 400;
	snprintf(e.code, sizeof(e.code), "RequestTimeout");
	assert_int_equal(aws_retry_classify(0, &e), AWS_RETRY_TRANSIENT);
	snprintf(e.code, sizeof(e.code), "PriorRequestNotComplete");
	assert_int_equal(aws_retry_classify(0, &e), AWS_RETRY_TRANSIENT);
	snprintf(e.code, sizeof(e.code), "RequestTimeoutException");
	assert_int_equal(aws_retry_classify(0, &e), AWS_RETRY_TRANSIENT);
	snprintf(e.code, sizeof(e.code), "AuthFailure");
	assert_int_equal(aws_retry_classify(0, &e), AWS_RETRY_NONE);
	/* capacity errors come as 500 but go to the next subnet, not a retry */
	e.http_status = 500;
	snprintf(e.code, sizeof(e.code), "InsufficientInstanceCapacity");
	assert_int_equal(aws_retry_classify(0, &e), AWS_RETRY_NONE);
	snprintf(e.code, sizeof(e.code), "InternalError");
	assert_int_equal(aws_retry_classify(0, &e), AWS_RETRY_TRANSIENT);
	e.http_status = 400;
	e.code[0] = '\0';
	for (e.http_status = 500; e.http_status <= 504; e.http_status++)
		assert_int_equal(aws_retry_classify(0, &e),
		    e.http_status == 501 ? AWS_RETRY_NONE : AWS_RETRY_TRANSIENT);
	assert_int_equal(aws_retry_classify(ERR_UNAVAILABLE, NULL), AWS_RETRY_TIMEOUT);
	assert_int_equal(aws_retry_classify(ERR_TIMEOUT, NULL), AWS_RETRY_TIMEOUT);
	assert_int_equal(aws_retry_classify(ERR_LIMIT, NULL), AWS_RETRY_NONE);
}

/* ---- what is sent ---- */

static void
test_aws_core__signed_query_request(void **state)
{
	static const struct answer ok[] = { { 0, 200, ok_body, NULL } };
	struct fixture *fx = fixture_new(ok, 1, 3);
	const char *auth;
	size_t i;

	(void)state;
	assert_int_equal(ec2_call(fx, "DescribeInstances"), 0);
	assert_string_equal(fx->fake.url, "https://ec2.us-east-1.amazonaws.com/");
	assert_string_equal(fx->fake.method, "POST");
	assert_string_equal(fx->fake.body,
	    "Action=DescribeInstances&Version=2016-11-15");
	assert_string_equal(aws_headers_get(&fx->fake.sent, "Host"),
	    "ec2.us-east-1.amazonaws.com");
	assert_string_equal(aws_headers_get(&fx->fake.sent, "Content-Type"),
	    "application/x-www-form-urlencoded; charset=utf-8");
	assert_string_equal(aws_headers_get(&fx->fake.sent, "X-Amz-Date"),
	    "20260101T000000Z");
	assert_string_equal(aws_headers_get(&fx->fake.sent,
	    "X-Amz-Security-Token"), CANARY_TOKEN);
	auth = aws_headers_get(&fx->fake.sent, "Authorization");
	assert_non_null(auth);
	assert_true(strncmp(auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/"
	    "us-east-1/ec2/aws4_request, SignedHeaders=", 78) == 0);
	for (i = 0; i < fx->fake.sent.n; i++)
		assert_null(strstr(fx->fake.sent.v[i].value, CANARY_SECRET));
	fixture_free(fx);
}

static void
test_aws_core__s3_request(void **state)
{
	static const struct answer ok[] = {
		{ 0, 200, "", "ETag: \"abc123\"" },
	};
	struct fixture *fx = fixture_new(ok, 1, 3);
	struct aws_client *c;
	struct aws_request req = {
		.service = AWS_SERVICE_S3, .action = "PutObject", .method = "PUT",
		.bucket = "keys", .path = "/env 1/id_ed25519", .body = "pub",
		.body_len = 3, .unsigned_payload = 1,
	};
	struct aws_response resp;
	struct buf url;

	(void)state;
	fx->opts.endpoint_url = "http://127.0.0.1:4566";
	assert_int_equal(aws_client_new(&c, &fx->opts), 0);
	assert_string_equal(aws_client_endpoint(c, AWS_SERVICE_S3),
	    "http://127.0.0.1:4566");
	aws_response_init(&resp);
	assert_int_equal(aws_client_send(&resp, c, &req), 0);
	assert_string_equal(fx->fake.url,
	    "http://127.0.0.1:4566/keys/env%201/id_ed25519");
	assert_string_equal(fx->fake.body, "pub");
	assert_string_equal(aws_headers_get(&fx->fake.sent, "x-amz-content-sha256"),
	    "UNSIGNED-PAYLOAD");
	assert_string_equal(aws_headers_get(&fx->fake.sent, "Host"),
	    "127.0.0.1:4566");
	assert_string_equal(aws_response_header(&resp, "etag"), "\"abc123\"");
	aws_response_dispose(&resp);
	buf_init(&url, 1024);
	req.query = "list-type=2&prefix=a%2Fb";
	req.path = NULL;
	assert_int_equal(aws_client_url(&url, c, &req), 0);
	assert_string_equal(buf_cstr(&url),
	    "http://127.0.0.1:4566/keys?list-type=2&prefix=a%2Fb");
	buf_dispose(&url);
	aws_client_free(c);
	fixture_free(fx);
}

static void
test_aws_core__client_options(void **state)
{
	static const struct answer ok[] = { { 0, 200, ok_body, NULL } };
	struct fixture *fx = fixture_new(ok, 1, 3);
	struct aws_client *c = NULL;
	struct aws_client_opts o = fx->opts;

	(void)state;
	o.endpoint_url = "http://10.0.0.1:5000";
	assert_int_equal(aws_client_new(&c, &o), ERR_INVALID);
	assert_true(strstr(err_get(), "loopback") != NULL);
	o.endpoint_url = "https://example.com";
	o.insecure_tls = 1;
	assert_int_equal(aws_client_new(&c, &o), ERR_INVALID);
	assert_true(strstr(err_get(), "TLS") != NULL);
	o.endpoint_url = "https://127.0.0.1:8443";
	assert_int_equal(aws_client_new(&c, &o), 0);
	aws_client_free(c);
	o = fx->opts;
	o.region = "";
	o.ignore_env_endpoints = 1;
	setenv("AWS_REGION", "", 1);
	unsetenv("AWS_DEFAULT_REGION");
	assert_int_equal(aws_client_new(&c, &o), ERR_INVALID);
	assert_true(strstr(err_get(), "region") != NULL);
	o.region = NULL;
	setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
	assert_int_equal(aws_client_new(&c, &o), 0);
	assert_string_equal(aws_client_region(c), "eu-west-1");
	assert_string_equal(aws_client_endpoint(c, AWS_SERVICE_STS),
	    "https://sts.eu-west-1.amazonaws.com");
	aws_client_free(c);
	/* AWS_ENDPOINT_URL_<SVC> wins over AWS_ENDPOINT_URL */
	o.ignore_env_endpoints = 0;
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1111", 1);
	setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:2222", 1);
	assert_int_equal(aws_client_new(&c, &o), 0);
	assert_string_equal(aws_client_endpoint(c, AWS_SERVICE_STS),
	    "http://127.0.0.1:2222");
	assert_string_equal(aws_client_endpoint(c, AWS_SERVICE_EC2),
	    "http://127.0.0.1:1111");
	aws_client_free(c);
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_STS");
	unsetenv("AWS_DEFAULT_REGION");
	unsetenv("AWS_REGION");
	fixture_free(fx);
}

static void
test_aws_core__failpoint(void **state)
{
	static const struct answer ok[] = { { 0, 200, ok_body, NULL } };
	struct fixture *fx = fixture_new(ok, 1, 3);

	(void)state;
#ifdef ENVCTL_FAILPOINTS
	assert_int_equal(failpoint_configure("aws.send=error"), 0);
	assert_int_equal(ec2_call(fx, "RunInstances"), ERR_FAILPOINT);
	assert_int_equal(fx->fake.calls, 0);
	assert_int_equal(failpoint_configure(""), 0);
#endif
	assert_int_equal(ec2_call(fx, "RunInstances"), 0);
	assert_int_equal(fx->fake.calls, 1);
	fixture_free(fx);
}

/* ---- STS through the scripted transport ---- */

static const char gci_body[] =
    "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    "<GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/alice</Arn>"
    "<UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account>"
    "</GetCallerIdentityResult><ResponseMetadata><RequestId>x</RequestId>"
    "</ResponseMetadata></GetCallerIdentityResponse>";

static const char ar_body[] =
    "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    "<AssumeRoleResult><Credentials><AccessKeyId>ASIATEMP</AccessKeyId>"
    "<SecretAccessKey>tempSECRET</SecretAccessKey>"
    "<SessionToken>tempTOKEN</SessionToken>"
    "<Expiration>2026-01-01T01:00:00.123Z</Expiration></Credentials>"
    "<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/dev/envctl"
    "</Arn><AssumedRoleId>AROA:envctl</AssumedRoleId></AssumedRoleUser>"
    "</AssumeRoleResult></AssumeRoleResponse>";

static void
test_aws_core__sts_calls(void **state)
{
	static const struct answer script[] = {
		{ 0, 200, gci_body, NULL },
		{ 0, 200, ar_body, NULL },
		{ 0, 200, "<AssumeRoleResponse><AssumeRoleResult/></AssumeRoleResponse>",
		  NULL },
	};
	struct fixture *fx = fixture_new(script, 3, 3);
	struct sts_identity id;
	struct aws_creds *cr = NULL;

	(void)state;
	assert_int_equal(sts_get_caller_identity(&id, fx->client), 0);
	assert_string_equal(id.account, "123456789012");
	assert_string_equal(id.arn, "arn:aws:iam::123456789012:user/alice");
	assert_string_equal(id.user_id, "AIDAEXAMPLE");
	assert_string_equal(fx->fake.url, "https://sts.us-east-1.amazonaws.com/");
	assert_string_equal(fx->fake.body,
	    "Action=GetCallerIdentity&Version=2011-06-15");

	assert_int_equal(sts_assume_role(&cr, fx->client,
	    "arn:aws:iam::123456789012:role/dev", "s1", "ext-42", 900), 0);
	assert_string_equal(fx->fake.body, "Action=AssumeRole&Version=2011-06-15"
	    "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdev"
	    "&RoleSessionName=s1&ExternalId=ext-42&DurationSeconds=900");
	assert_string_equal(aws_creds_access_key_id(cr), "ASIATEMP");
	assert_string_equal(aws_creds_secret_access_key(cr), "tempSECRET");
	assert_string_equal(aws_creds_session_token(cr), "tempTOKEN");
	assert_int_equal(aws_creds_expiration(cr), 1767229200);
	assert_string_equal(aws_creds_source(cr),
	    "assume-role:arn:aws:iam::123456789012:role/dev");
	aws_creds_free(cr);

	assert_int_equal(sts_assume_role(&cr, fx->client,
	    "arn:aws:iam::1:role/x", NULL, NULL, 0), ERR_INVALID);
	assert_null(cr);
	assert_int_equal(sts_assume_role(&cr, fx->client, "role/x", NULL, NULL,
	    0), ERR_INVALID);
	assert_int_equal(sts_assume_role(&cr, fx->client,
	    "arn:aws:iam::1:role/x", NULL, NULL, 60), ERR_INVALID);
	fixture_free(fx);
}

static void
test_aws_core__sts_assume_role_callback(void **state)
{
	static const struct answer script[] = { { 0, 200, ar_body, NULL } };
	struct fixture *fx = fixture_new(script, 1, 3);
	struct aws_creds *out = NULL, *src = NULL;

	(void)state;
	assert_int_equal(aws_creds_new(&src, "AKIDSOURCE", "sourceSECRET", NULL,
	    0, "profile:base"), 0);
	assert_int_equal(aws_creds_new(&out, "x", "y", NULL, 0, NULL), 0);
	assert_int_equal(sts_assume_role_cb(out, src,
	    "arn:aws:iam::123456789012:role/dev", "ext", "sess", &fx->opts), 0);
	assert_string_equal(aws_creds_access_key_id(out), "ASIATEMP");
	assert_string_equal(aws_creds_session_token(out), "tempTOKEN");
	/* signed with the source credentials */
	assert_true(strstr(aws_headers_get(&fx->fake.sent, "Authorization"),
	    "Credential=AKIDSOURCE/") != NULL);
	assert_non_null(strstr(fx->fake.body, "ExternalId=ext"));
	aws_creds_free(out);
	aws_creds_free(src);
	fixture_free(fx);
}

static const char *
fake_getenv(const char *name, void *arg)
{
	const char *akid = arg;

	if (strcmp(name, "AWS_ACCESS_KEY_ID") == 0)
		return akid;
	if (strcmp(name, "AWS_SECRET_ACCESS_KEY") == 0)
		return "secret";
	if (strcmp(name, "AWS_EC2_METADATA_DISABLED") == 0)
		return "true";
	if (strcmp(name, "AWS_SHARED_CREDENTIALS_FILE") == 0 ||
	    strcmp(name, "AWS_CONFIG_FILE") == 0)
		return "/dev/null";
	return NULL;
}

static void
test_aws_core__expired_token_refreshes(void **state)
{
	static const struct answer script[] = {
		{ 0, 400, EC2_ERR("ExpiredToken"), NULL },
		{ 0, 400, EC2_ERR("ExpiredToken"), NULL },
		{ 0, 200, ok_body, NULL },
	};
	struct fixture *fx = fixture_new(script, 3, 3);
	struct aws_creds_options co;
	struct aws_creds_provider *p = NULL;
	struct aws_client *c = NULL;
	char akid[32] = "AKIDFIRST";

	(void)state;
	memset(&co, 0, sizeof(co));
	co.getenv = fake_getenv;
	co.getenv_arg = akid;
	assert_int_equal(aws_creds_provider_new(&p, &co), 0);
	fx->opts.static_creds = NULL;
	fx->opts.creds = p;
	assert_int_equal(aws_client_new(&c, &fx->opts), 0);
	{
		struct aws_client *tmp = fx->client;

		fx->client = c;
		/* credentials fetched again and one more attempt, not more */
		assert_int_equal(ec2_call(fx, "DescribeInstances"), ERR_INVALID);
		assert_int_equal(fx->fake.calls, 2);
		assert_true(strstr(err_get(), "clock") != NULL);	/* guidance */
		assert_non_null(strstr(aws_headers_get(&fx->fake.sent,
		    "Authorization"), "Credential=AKIDFIRST/"));
		/* the provider forgot its cache: the new key is read */
		snprintf(akid, sizeof(akid), "AKIDSECOND");
		assert_int_equal(ec2_call(fx, "DescribeInstances"), 0);
		assert_non_null(strstr(aws_headers_get(&fx->fake.sent,
		    "Authorization"), "Credential=AKIDSECOND/"));
		fx->client = tmp;
	}
	aws_client_free(c);
	aws_creds_provider_free(p);
	fixture_free(fx);
}

/* ---- secrets never leak ---- */

struct capture {
	struct buf	 all;
};

static void
capture_sink(enum log_level lvl, const char *line, void *arg)
{
	struct capture *c = arg;

	(void)lvl;
	(void)buf_addstr(&c->all, line);
	(void)buf_addch(&c->all, '\n');
}

static void
test_aws_core__canary(void **state)
{
	static const struct answer script[] = {
		{ 0, 403, "<Response><Errors><Error><Code>AuthFailure</Code><Message>"
		  "token " CANARY_TOKEN " key " CANARY_SECRET " rejected</Message>"
		  "</Error></Errors></Response>", NULL },
		{ ERR_UNAVAILABLE, 0, NULL, NULL },
	};
	struct fixture *fx = fixture_new(script, 2, 2);
	struct capture cap;
	const struct aws_error *e;
	char line[1024];

	(void)state;
	buf_init(&cap.all, 1 << 20);
	log_set_level(LOG_LEVEL_DEBUG);
	log_set_sink(capture_sink, &cap);
	assert_int_equal(ec2_call(fx, "DescribeInstances"), ERR_INVALID);
	e = aws_client_last_error(fx->client);
	assert_string_equal(e->code, "AuthFailure");
	assert_null(strstr(e->message, "CANARY"));
	assert_null(strstr(err_get(), "CANARY"));
	assert_non_null(strstr(err_get(), "[redacted]"));
	aws_error_format(line, sizeof(line), e);
	assert_null(strstr(line, "CANARY"));
	assert_int_equal(ec2_call(fx, "DescribeInstances"), ERR_UNAVAILABLE);
	assert_null(strstr(err_get(), "CANARY"));
	log_set_sink(NULL, NULL);
	log_set_level(LOG_LEVEL_INFO);
	assert_true(cap.all.len > 0);		/* debug lines were written */
	assert_null(strstr(buf_cstr(&cap.all), "CANARY"));
	buf_dispose(&cap.all);
	fixture_free(fx);
}

/* ---- the real libcurl transport against a loopback server ---- */

struct server {
	int		 fd;
	int		 port;
	size_t		 body_len;	/* bytes of body to answer with */
	size_t		 cut_at;	/* > 0: the first answer stops there */
	int		 requests;	/* how many to serve */
	pthread_t	 thread;
};

static void *
server_main(void *arg)
{
	struct server *s = arg;
	char req[8192], hdr[256];
	size_t got, i, len;
	ssize_t n;
	char *body;
	int c, r;

	body = xmalloc(s->body_len + 1);
	for (i = 0; i < s->body_len; i++)
		body[i] = (char)('a' + i % 26);
	for (r = 0; r < s->requests; r++) {
		if ((c = accept(s->fd, NULL, NULL)) < 0)
			break;
		got = 0;
		while (got < sizeof(req) - 1 &&
		    (n = read(c, req + got, sizeof(req) - 1 - got)) > 0) {
			got += (size_t)n;
			req[got] = '\0';
			if (strstr(req, "\r\n\r\n") != NULL)
				break;
		}
		snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\nContent-Length: %zu"
		    "\r\nx-amz-request-id: srv-1\r\nConnection: close\r\n\r\n",
		    s->body_len);
		(void)!write(c, hdr, strlen(hdr));
		len = r == 0 && s->cut_at > 0 ? s->cut_at : s->body_len;
		for (i = 0; i < len; i += (size_t)n)
			if ((n = send(c, body + i, len - i, MSG_NOSIGNAL)) <= 0)
				break;
		close(c);	/* after a cut: the rest never comes */
	}
	free(body);
	return NULL;
}

/* Serve requests answers of body_len bytes; the first stops at cut_at (> 0). */
static void
server_start_cut(struct server *s, size_t body_len, int requests, size_t cut_at)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	s->body_len = body_len;
	s->cut_at = cut_at;
	s->requests = requests;
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(s->fd, 8), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&sin, &len), 0);
	s->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void
server_start(struct server *s, size_t body_len, int requests)
{
	server_start_cut(s, body_len, requests, 0);
}

static void
server_stop(struct server *s)
{
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->fd);
}

static int
curl_call(int port, size_t max_body, int max_attempts, int *sleeps,
    struct aws_response *resp)
{
	struct aws_creds *cr = NULL;
	struct aws_client_opts o;
	struct aws_client *c = NULL;
	struct aws_retry_quota *q = aws_retry_quota_new(AWS_RETRY_QUOTA_MAX);
	struct sleeps sl;
	char url[64];
	struct aws_request req = {
		.service = AWS_SERVICE_S3, .action = "GetObject", .method = "GET",
		.bucket = "b", .path = "/k",
	};
	int rc;

	memset(&sl, 0, sizeof(sl));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	assert_int_equal(aws_creds_new(&cr, "AKIDTEST", "secret", NULL, 0, NULL), 0);
	memset(&o, 0, sizeof(o));
	o.region = "us-east-1";
	o.endpoint_url = url;
	o.static_creds = cr;
	o.max_body = max_body;
	o.max_attempts = max_attempts;
	o.connect_timeout_ms = 2000;
	o.timeout_ms = 5000;
	o.rand = fixed_rand;
	o.sleep_ms = record_sleep;
	o.retry_arg = &sl;
	o.quota = q;
	assert_int_equal(aws_client_new(&c, &o), 0);
	rc = aws_client_send(resp, c, &req);
	*sleeps = sl.n;
	aws_client_free(c);
	aws_creds_free(cr);
	aws_retry_quota_free(q);
	return rc;
}

static void
test_aws_core__curl_body_cap(void **state)
{
	struct server s;
	struct aws_response resp;
	int sleeps;

	(void)state;
	server_start(&s, 512, 1);
	aws_response_init(&resp);
	assert_int_equal(curl_call(s.port, 1024, 1, &sleeps, &resp), 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.body.len, 512);
	assert_string_equal(aws_response_header(&resp, "X-Amz-Request-Id"), "srv-1");
	aws_response_dispose(&resp);
	server_stop(&s);

	server_start(&s, 4096, 1);
	aws_response_init(&resp);
	assert_int_equal(curl_call(s.port, 1024, 3, &sleeps, &resp), ERR_LIMIT);
	assert_true(strstr(err_get(), "larger than 1024 bytes") != NULL);
	assert_int_equal(resp.error.attempts, 1);	/* not retried */
	assert_int_equal(sleeps, 0);
	assert_true(resp.body.len <= 1024);
	aws_response_dispose(&resp);
	server_stop(&s);
}

static void
test_aws_core__curl_connect_refused(void **state)
{
	struct aws_response resp;
	struct server s;
	int port, sleeps;

	(void)state;
	/* a port that was free a moment ago: nothing listens there */
	server_start(&s, 0, 0);
	port = s.port;
	server_stop(&s);
	aws_response_init(&resp);
	assert_int_equal(curl_call(port, 0, 3, &sleeps, &resp), ERR_UNAVAILABLE);
	assert_int_equal(resp.error.attempts, 3);
	assert_int_equal(sleeps, 2);
	assert_int_equal(resp.error.http_status, 0);
	assert_true(strstr(err_get(), "s3 GetObject: ") == err_get());
	assert_true(strstr(err_get(), "127.0.0.1") != NULL);
	assert_true(strstr(err_get(), "3 attempts") != NULL);
	aws_response_dispose(&resp);
}

/* ---- body sinks: a 2xx body read as it arrives ---- */

struct sink_rec {
	struct buf	 got;		/* what the sink read since its begin */
	int		 begins;
	int		 feeds;
	int		 fail;		/* return ERR_INVALID on the first feed */
};

static int
sink_take(void *arg, const char *data, size_t len)
{
	struct sink_rec *r = arg;

	r->feeds++;
	if (r->fail) {
		err_set("sink refuses this body");
		return ERR_INVALID;
	}
	return buf_add(&r->got, data, len);
}

static void
sink_begin(void *arg)
{
	struct sink_rec *r = arg;

	r->begins++;
	buf_reset(&r->got);
}

static void
sink_setup(struct aws_response *resp, struct sink_rec *r, int fail)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->got, 1024 * 1024);
	r->fail = fail;
	aws_response_init(resp);
	resp->sink = sink_take;
	resp->sink_begin = sink_begin;
	resp->sink_arg = r;
}

/* The expected body of the loopback server: a..z repeated. */
static void
assert_body(const struct buf *b, size_t len)
{
	size_t i;

	assert_int_equal(b->len, len);
	for (i = 0; i < len; i++)
		if (b->ptr[i] != (char)('a' + i % 26))
			fail_msg("byte %zu is %c", i, b->ptr[i]);
}

/* A transport that keeps the body (the fake): the sink gets it in one go. */
static void
test_aws_core__sink_buffered_transport(void **state)
{
	static const struct answer retried[] = {
		{ 0, 503, EC2_ERR("Unavailable"), NULL },
		{ ERR_UNAVAILABLE, 0, NULL, NULL },
		{ 0, 200, ok_body, NULL },
	};
	static const struct answer refused[] = {
		{ 0, 400, EC2_ERR("InvalidParameterValue"), NULL },
	};
	struct aws_query *q = aws_query_new("DescribeInstances", "2016-11-15");
	struct aws_request req = {
		.service = AWS_SERVICE_EC2, .action = "DescribeInstances",
		.method = "POST", .path = "/", .params = q,
	};
	struct aws_response resp;
	struct sink_rec r;
	struct fixture *fx;

	(void)state;
	fx = fixture_new(retried, 3, 3);
	sink_setup(&resp, &r, 0);
	assert_int_equal(aws_client_send(&resp, fx->client, &req), 0);
	assert_int_equal(fx->fake.calls, 3);
	assert_int_equal(r.begins, 3);		/* one per attempt */
	assert_int_equal(r.feeds, 1);		/* the 2xx body only */
	assert_int_equal(r.got.len, strlen(ok_body));
	assert_memory_equal(r.got.ptr, ok_body, r.got.len);
	assert_int_equal(resp.body.len, 0);
	aws_response_dispose(&resp);
	buf_dispose(&r.got);
	fixture_free(fx);

	/* an error answer is kept in body for the error parser */
	fx = fixture_new(refused, 1, 3);
	sink_setup(&resp, &r, 0);
	assert_int_equal(aws_client_send(&resp, fx->client, &req), ERR_INVALID);
	assert_string_equal(resp.error.code, "InvalidParameterValue");
	assert_int_equal(r.feeds, 0);
	assert_true(resp.body.len > 0);
	aws_response_dispose(&resp);
	buf_dispose(&r.got);
	fixture_free(fx);

	/* the sink refuses the body: that code and message, no retry */
	fx = fixture_new(retried + 2, 1, 3);
	sink_setup(&resp, &r, 1);
	assert_int_equal(aws_client_send(&resp, fx->client, &req), ERR_INVALID);
	assert_int_equal(fx->fake.calls, 1);
	assert_int_equal(fx->sleeps.n, 0);
	assert_non_null(strstr(err_get(), "sink refuses this body"));
	aws_response_dispose(&resp);
	buf_dispose(&r.got);
	fixture_free(fx);
	aws_query_free(q);
}

/* libcurl: the body reaches the sink as it arrives, never the buffer. */
static void
test_aws_core__curl_sink(void **state)
{
	struct aws_response resp;
	struct sink_rec r;
	struct server s;
	int sleeps;

	(void)state;
	server_start(&s, 300000, 1);
	sink_setup(&resp, &r, 0);
	assert_int_equal(curl_call(s.port, 0, 1, &sleeps, &resp), 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.body.len, 0);
	assert_body(&r.got, 300000);
	assert_int_equal(r.begins, 1);
	assert_true(r.feeds > 1);		/* in pieces */
	aws_response_dispose(&resp);
	buf_dispose(&r.got);
	server_stop(&s);

	/* cut off mid-body: retried, read again from the start, once */
	server_start_cut(&s, 300000, 2, 100000);
	sink_setup(&resp, &r, 0);
	assert_int_equal(curl_call(s.port, 0, 3, &sleeps, &resp), 0);
	assert_int_equal(resp.error.attempts, 2);
	assert_int_equal(sleeps, 1);
	assert_int_equal(r.begins, 2);
	assert_body(&r.got, 300000);
	aws_response_dispose(&resp);
	buf_dispose(&r.got);
	server_stop(&s);

	/* the body cap holds for a sink too */
	server_start(&s, 4096, 1);
	sink_setup(&resp, &r, 0);
	assert_int_equal(curl_call(s.port, 1024, 3, &sleeps, &resp), ERR_LIMIT);
	assert_int_equal(resp.error.attempts, 1);
	assert_true(r.got.len <= 1024);
	aws_response_dispose(&resp);
	buf_dispose(&r.got);
	server_stop(&s);

	/* the sink refuses: the transfer stops, its message, no retry */
	server_start(&s, 300000, 1);
	sink_setup(&resp, &r, 1);
	assert_int_equal(curl_call(s.port, 0, 3, &sleeps, &resp), ERR_INVALID);
	assert_int_equal(resp.error.attempts, 1);
	assert_int_equal(sleeps, 0);
	assert_int_equal(r.feeds, 1);
	assert_non_null(strstr(err_get(), "sink refuses this body"));
	aws_response_dispose(&resp);
	buf_dispose(&r.got);
	server_stop(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aws_core__fence),
		cmocka_unit_test(test_aws_core__retry_then_success),
		cmocka_unit_test(test_aws_core__no_retry_on_client_error),
		cmocka_unit_test(test_aws_core__throttle_gives_up),
		cmocka_unit_test(test_aws_core__timeouts_cost_more),
		cmocka_unit_test(test_aws_core__quota_storm),
		cmocka_unit_test(test_aws_core__quota_capacity),
		cmocka_unit_test(test_aws_core__quota_shared_by_threads),
		cmocka_unit_test(test_aws_core__backoff_bounds),
		cmocka_unit_test(test_aws_core__retry_classify),
		cmocka_unit_test(test_aws_core__signed_query_request),
		cmocka_unit_test(test_aws_core__s3_request),
		cmocka_unit_test(test_aws_core__client_options),
		cmocka_unit_test(test_aws_core__failpoint),
		cmocka_unit_test(test_aws_core__sts_calls),
		cmocka_unit_test(test_aws_core__sts_assume_role_callback),
		cmocka_unit_test(test_aws_core__expired_token_refreshes),
		cmocka_unit_test(test_aws_core__canary),
		cmocka_unit_test(test_aws_core__curl_body_cap),
		cmocka_unit_test(test_aws_core__curl_connect_refused),
		cmocka_unit_test(test_aws_core__sink_buffered_transport),
		cmocka_unit_test(test_aws_core__curl_sink),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
