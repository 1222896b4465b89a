/*
 * http.c - the AWS client: build a request, sign it, send it through the
 * transport (libcurl, curl.c, unless a test injects another), retry it in
 * the SDKs' "standard" mode, and turn a failure into a struct aws_error.
 * Its pieces: headers.c, query.c (parameters and their encoding),
 * response.c.
 *
 * A client owns one libcurl easy handle, reset (not recreated) between
 * requests so connections are reused; a client is therefore not
 * thread-safe.  Nothing here logs a URL query, a header value or a body.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws_int.h"
#include "creds.h"
#include "duration.h"
#include "err.h"
#include "failpoint.h"
#include "log.h"
#include "mem.h"
#include "sigv4.h"


struct aws_client {
	char			*region;
	struct aws_endpoint	 ep[AWS_SERVICE_COUNT];
	char			*base[AWS_SERVICE_COUNT];
	struct aws_creds_provider *creds;
	const struct aws_creds	*static_creds;
	int			 anonymous;
	int			 max_attempts;
	long			 connect_timeout_ms;
	long			 timeout_ms;
	size_t			 max_body;
	int			 insecure_tls;
	char			*user_agent;
	const struct aws_transport *transport;
	void			*transport_arg;
	struct aws_curl		*curl;
	time_t			(*clock)(void *);
	void			*clock_arg;
	long			 skew;		/* server time - ours, when corrected */
	double			(*rand)(void *);
	void			(*sleep_ms)(void *, long);
	void			*retry_arg;
	struct aws_retry_quota	*quota;
	struct aws_pacer	*pacer;		/* shared, borrowed; NULL: none */
	struct aws_call_stats	*calls;		/* shared, borrowed */
	int			(*fence)(void *);	/* NULL: none */
	void			*fence_arg;
	struct aws_error	 last;
	struct aws_client_stats	 stats;
};

static const struct aws_transport curl_transport = { aws_curl_send };

static double
default_rand(void *arg)
{
	/* Jitter only, not security-relevant; per-thread state, no lock. */
	static __thread unsigned int state;

	(void)arg;
	if (state == 0)
		state = (unsigned int)time(NULL) ^ (unsigned int)(uintptr_t)&state;
	return (double)rand_r(&state) / ((double)RAND_MAX + 1.0);
}

static void
default_sleep(void *arg, long ms)
{
	struct timespec ts;

	(void)arg;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1)
		;
}

const char *
aws_region_from_env(void)
{
	const char *r;

	if ((r = getenv("AWS_REGION")) != NULL && *r != '\0')
		return r;
	if ((r = getenv("AWS_DEFAULT_REGION")) != NULL && *r != '\0')
		return r;
	return NULL;
}

static int
client_endpoints(struct aws_client *c, const struct aws_client_opts *o)
{
	const char *svc_url, *all_url;
	struct buf b;
	int s, error = 0;

	for (s = 0; s < AWS_SERVICE_COUNT && error == 0; s++) {
		svc_url = o->endpoint_url;
		all_url = NULL;
		if (svc_url == NULL && !o->ignore_env_endpoints) {
			svc_url = getenv(aws_endpoint_env_name((enum aws_service)s));
			all_url = getenv("AWS_ENDPOINT_URL");
		}
		if ((error = aws_endpoint_resolve(&c->ep[s], (enum aws_service)s,
		    c->region, svc_url, all_url)) < 0) {
			err_prefix("%s endpoint", aws_service_name((enum aws_service)s));
			break;
		}
		if (!aws_endpoint_is_loopback(&c->ep[s])) {
			if (strcmp(c->ep[s].scheme, "http") == 0) {
				err_set("%s endpoint %s: plain http is only allowed to "
				    "a loopback address", aws_service_name((enum aws_service)s),
				    c->ep[s].host);
				error = ERR_INVALID;
				break;
			}
			if (o->insecure_tls) {
				err_set("%s endpoint %s: TLS verification can only be "
				    "turned off for a loopback address",
				    aws_service_name((enum aws_service)s), c->ep[s].host);
				error = ERR_INVALID;
				break;
			}
		}
		buf_init(&b, 1024);
		if ((error = aws_endpoint_base(&b, &c->ep[s])) == 0)
			c->base[s] = buf_detach(&b, NULL);
		buf_dispose(&b);
	}
	return error;
}

int
aws_client_new(struct aws_client **out, const struct aws_client_opts *o)
{
	struct aws_client *c;
	const char *region;
	int error = ERR_INVALID;

	*out = NULL;
	c = xcalloc(1, sizeof(*c));
	if ((region = o->region) == NULL)
		region = aws_region_from_env();
	if (region == NULL || *region == '\0') {
		err_set("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION)");
		goto done;
	}
	c->region = xstrdup(region);
	if (!o->anonymous && o->creds == NULL && o->static_creds == NULL) {
		err_set("no AWS credentials provider");
		goto done;
	}
	if ((error = client_endpoints(c, o)) < 0)
		goto done;
	if (o->insecure_tls)
		log_warnx("aws: TLS verification is off for loopback endpoints "
		    "(test option)");
	c->creds = o->creds;
	c->static_creds = o->static_creds;
	c->anonymous = o->anonymous;
	c->max_attempts = o->max_attempts > 0 ? o->max_attempts :
	    AWS_DEFAULT_MAX_ATTEMPTS;
	c->connect_timeout_ms = o->connect_timeout_ms > 0 ?
	    o->connect_timeout_ms : AWS_DEFAULT_CONNECT_TIMEOUT_MS;
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : AWS_DEFAULT_TIMEOUT_MS;
	c->max_body = o->max_body > 0 ? o->max_body : AWS_DEFAULT_MAX_BODY;
	c->insecure_tls = o->insecure_tls;
	c->user_agent = o->user_agent != NULL ? xstrdup(o->user_agent) :
	    xstrdup("envctl/" ENVCTL_VERSION);
	c->clock = o->clock;
	c->clock_arg = o->clock_arg;
	c->rand = o->rand != NULL ? o->rand : default_rand;
	c->sleep_ms = o->sleep_ms != NULL ? o->sleep_ms : default_sleep;
	c->retry_arg = o->retry_arg;
	c->quota = o->quota != NULL ? o->quota : aws_retry_quota_default();
	c->pacer = o->pacer;
	c->fence = o->fence;
	c->fence_arg = o->fence_arg;
	c->calls = o->call_stats != NULL ? o->call_stats :
	    aws_call_stats_default();
	if (o->transport != NULL) {
		c->transport = o->transport;
		c->transport_arg = o->transport_arg;
	} else {
		if ((error = aws_curl_new(&c->curl)) < 0)
			goto done;
		c->transport = &curl_transport;
		c->transport_arg = c->curl;
	}
	*out = c;
	c = NULL;
	error = 0;
done:
	aws_client_free(c);
	return error;
}

void
aws_client_free(struct aws_client *c)
{
	int s;

	if (c == NULL)
		return;
	for (s = 0; s < AWS_SERVICE_COUNT; s++)
		free(c->base[s]);
	aws_curl_free(c->curl);
	free(c->region);
	free(c->user_agent);
	free(c);
}

const char *
aws_client_region(const struct aws_client *c)
{
	return c->region;
}

const char *
aws_client_endpoint(const struct aws_client *c, enum aws_service s)
{
	if ((unsigned)s >= AWS_SERVICE_COUNT)
		return NULL;
	return c->base[s];
}

void
aws_client_stats(struct aws_client_stats *out, const struct aws_client *c)
{
	*out = c->stats;
}

const struct aws_error *
aws_client_last_error(const struct aws_client *c)
{
	return &c->last;
}

struct aws_creds_provider *
aws_client_creds(const struct aws_client *c)
{
	return c->creds;
}

/* Our clock, uncorrected. */
static time_t
client_clock(const struct aws_client *c)
{
	return c->clock != NULL ? c->clock(c->clock_arg) : time(NULL);
}

time_t
aws_client_now(const struct aws_client *c)
{
	return client_clock(c) + c->skew;
}

long
aws_client_skew(const struct aws_client *c)
{
	return c->skew;
}

/* The region req is signed for and sent to. */
static const char *
req_region(const struct aws_client *c, const struct aws_request *req)
{
	return req->region != NULL ? req->region : c->region;
}

/*
 * The endpoint of req: the client's, or for a request in another region
 * (req->region) that region's default endpoint, resolved into tmp.  A
 * custom endpoint (an override: moto, the tests) serves every region.
 */
static int
req_endpoint(const struct aws_endpoint **out, struct aws_endpoint *tmp,
    const struct aws_client *c, const struct aws_request *req)
{
	const struct aws_endpoint *ep = &c->ep[req->service];
	int error;

	*out = ep;
	if (req->region == NULL || ep->custom || strcmp(req->region, c->region) == 0)
		return 0;
	if ((error = aws_endpoint_resolve(tmp, req->service, req->region,
	    NULL, NULL)) < 0) {
		err_prefix("%s endpoint in %s", aws_service_name(req->service),
		    req->region);
		return error;
	}
	*out = tmp;
	return 0;
}

/* Scheme, host, encoded path: everything of the URL but the query. */
static int
client_url_base(struct buf *out, const struct aws_client *c,
    const struct aws_request *req, char *host, size_t hostsz)
{
	struct aws_endpoint tmp;
	const struct aws_endpoint *ep;
	const char *bucket = req->service == AWS_SERVICE_S3 ? req->bucket : NULL;
	int error;

	if ((error = req_endpoint(&ep, &tmp, c, req)) < 0)
		return error;
	if ((error = aws_endpoint_host(host, hostsz, ep, bucket)) < 0)
		return error;
	if ((error = buf_printf(out, "%s://%s", ep->scheme, host)) < 0)
		return error;
	return aws_endpoint_path(out, ep, bucket, req->path);
}

int
aws_client_url(struct buf *out, const struct aws_client *c,
    const struct aws_request *req)
{
	char host[512];
	int error;

	if ((unsigned)req->service >= AWS_SERVICE_COUNT) {
		err_set("unknown AWS service");
		return ERR_INVALID;
	}
	if ((error = client_url_base(out, c, req, host, sizeof(host))) < 0)
		return error;
	if (req->query != NULL && *req->query != '\0')
		error = buf_printf(out, "?%s", req->query);
	return error;
}

/* Everything one call needs, prepared once for all its attempts. */
struct call {
	struct buf		 url;		/* full URL, query included */
	struct buf		 path;		/* encoded path as sent */
	struct buf		 form;		/* Query protocol body */
	char			 host[512];
	const void		*body;
	size_t			 body_len;
	char			 payload_hash[SIGV4_SHA256_HEX_LEN + 1];
	struct aws_creds	*creds;		/* owned copy, or NULL */
	const struct aws_creds	*sign_creds;
};

static int
call_prepare(struct call *k, struct aws_client *c, const struct aws_request *req)
{
	struct aws_endpoint tmp;
	const struct aws_endpoint *ep;
	const char *bucket = req->service == AWS_SERVICE_S3 ? req->bucket : NULL;
	int error;

	if ((error = req_endpoint(&ep, &tmp, c, req)) < 0)
		return error;
	if ((error = aws_endpoint_host(k->host, sizeof(k->host), ep, bucket)) < 0)
		return error;
	if ((error = aws_endpoint_path(&k->path, ep, bucket, req->path)) < 0)
		return error;
	if ((error = buf_printf(&k->url, "%s://%s%s", ep->scheme, k->host,
	    buf_cstr(&k->path))) < 0)
		return error;
	if (req->query != NULL && *req->query != '\0' &&
	    (error = buf_printf(&k->url, "?%s", req->query)) < 0)
		return error;
	if (req->params != NULL) {
		if ((error = aws_query_encode(&k->form, req->params)) < 0)
			return error;
		k->body = k->form.ptr;
		k->body_len = k->form.len;
	} else {
		k->body = req->body;
		k->body_len = req->body != NULL ? req->body_len : 0;
	}
	if (req->unsigned_payload)
		snprintf(k->payload_hash, sizeof(k->payload_hash), "%s",
		    SIGV4_UNSIGNED_PAYLOAD);
	else
		sigv4_sha256_hex(k->payload_hash, k->body != NULL ? k->body : "",
		    k->body_len);
	if (c->anonymous)
		return 0;
	if (c->static_creds != NULL) {
		k->sign_creds = c->static_creds;
		return 0;
	}
	if ((error = aws_creds_provider_get(&k->creds, c->creds)) < 0) {
		err_prefix("credentials");
		return error;
	}
	k->sign_creds = k->creds;
	return 0;
}

static void
call_dispose(struct call *k)
{
	buf_dispose(&k->url);
	buf_dispose(&k->path);
	buf_dispose(&k->form);
	aws_creds_free(k->creds);
}

/* Build the headers of one attempt, signed at the client's clock now. */
static int
call_sign(struct aws_headers *out, struct aws_client *c,
    const struct aws_request *req, const struct call *k)
{
	struct sigv4_header *sh = NULL;
	struct sigv4_result *r = NULL;
	struct sigv4_request sreq;
	struct sigv4_params p;
	const struct sigv4_header *h;
	size_t i, n;
	int error = -1;

	aws_headers_add(out, "Host", k->host);
	if (req->params != NULL)
		aws_headers_add(out, "Content-Type",
		    "application/x-www-form-urlencoded; charset=utf-8");
	aws_headers_add(out, "User-Agent", c->user_agent);
	for (i = 0; req->headers != NULL && i < req->headers->n; i++)
		aws_headers_set(out, req->headers->v[i].name,
		    req->headers->v[i].value);
	if (c->anonymous) {
		error = 0;
		goto done;
	}
	n = out->n;
	sh = xcalloc(n, sizeof(*sh));
	for (i = 0; i < n; i++) {
		sh[i].name = out->v[i].name;
		sh[i].value = out->v[i].value;
	}
	memset(&sreq, 0, sizeof(sreq));
	sreq.method = req->method;
	sreq.path = buf_cstr(&k->path);
	sreq.query = req->query;
	sreq.headers = sh;
	sreq.nheaders = n;
	sreq.payload_hash = k->payload_hash;
	memset(&p, 0, sizeof(p));
	p.creds = k->sign_creds;
	p.region = req_region(c, req);
	p.service = aws_service_name(req->service);
	p.time = aws_client_now(c);
	p.form = SIGV4_FORM_HEADER;
	p.flags = req->service == AWS_SERVICE_S3 ? SIGV4_FLAGS_S3 :
	    SIGV4_FLAGS_DEFAULT;
	if ((error = sigv4_sign(&r, &sreq, &p)) < 0) {
		err_prefix("signing");
		goto done;
	}
	for (i = 0; i < sigv4_result_header_count(r); i++) {
		h = sigv4_result_header(r, i);
		aws_headers_set(out, h->name, h->value);
	}
	error = 0;
done:
	free(sh);
	sigv4_result_free(r);
	return error;
}

/* Fill e for a failed attempt: transport failure or error answer. */
static void
call_error(struct aws_error *e, int tcode, const struct aws_response *resp)
{
	if (tcode < 0) {
		e->http_status = 0;
		e->code[0] = '\0';
		e->request_id[0] = '\0';
		log_escape(e->message, sizeof(e->message), err_get());
		e->err = tcode;
		e->guidance = NULL;
		return;
	}
	aws_error_parse(e, resp->status, &resp->headers, resp->body.ptr,
	    resp->body.len);
}

static void
call_redact(struct aws_error *e, const struct call *k)
{
	if (k->sign_creds == NULL)
		return;
	aws_error_redact(e, aws_creds_secret_access_key(k->sign_creds));
	aws_error_redact(e, aws_creds_session_token(k->sign_creds));
}

/* Start resp afresh for req: empty headers, a body capped at max_body. */
static void
response_start(struct aws_response *resp, const struct aws_client *c,
    const struct aws_request *req)
{
	aws_headers_dispose(&resp->headers);
	buf_dispose(&resp->body);
	if (req->secret_response)
		buf_init_secret(&resp->body, c->max_body);
	else
		buf_init(&resp->body, c->max_body);
	resp->status = 0;
	memset(&resp->error, 0, sizeof(resp->error));
	resp->error.service = req->service;
	snprintf(resp->error.action, sizeof(resp->error.action), "%s",
	    req->action != NULL ? req->action : "");
}

/*
 * One attempt: sign at the clock's now and send.  Returns a negative code
 * only when the request could not be signed; otherwise 0 with *tcode set
 * to what the transport returned.
 */
static int
call_attempt(int *tcode, struct aws_client *c, const struct aws_request *req,
    const struct call *k, struct aws_response *resp)
{
	struct aws_http_request hreq;
	struct aws_headers hdrs;
	int error;

	aws_headers_init(&hdrs);
	aws_response_reset(resp);
	if ((error = call_sign(&hdrs, c, req, k)) < 0)
		goto done;
	memset(&hreq, 0, sizeof(hreq));
	hreq.method = req->method;
	hreq.url = buf_cstr(&k->url);
	hreq.headers = &hdrs;
	hreq.body = k->body;
	hreq.body_len = k->body_len;
	hreq.connect_timeout_ms = c->connect_timeout_ms;
	hreq.timeout_ms = c->timeout_ms;
	hreq.max_body = c->max_body;
	hreq.insecure_tls = c->insecure_tls;
	resp->body.max = c->max_body;
	*tcode = c->transport->send(c->transport_arg, resp, &hreq);
	if (*tcode == 0 && resp->sink != NULL && !resp->sink_fed &&
	    resp->status >= 200 && resp->status < 300 && resp->body.len > 0) {
		/* The transport kept the body: the sink reads it in one go. */
		resp->sink_fed = 1;
		if ((resp->sink_error = resp->sink(resp->sink_arg,
		    resp->body.ptr, resp->body.len)) < 0)
			*tcode = resp->sink_error;
		buf_reset(&resp->body);
	}
done:
	aws_headers_dispose(&hdrs);	/* wipes the signature and token */
	return error;
}

/* Codes that say our clock is off, or the signing credentials expired. */
static const char *const skew_codes[] = {
	"RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture",
	"InvalidSignatureException", "SignatureDoesNotMatch", "AuthFailure",
};
static const char *const expired_codes[] = {
	"ExpiredToken", "ExpiredTokenException", "RequestExpired",
	"TokenRefreshRequired",
};

static int
code_in(const char *code, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(code, v[i]) == 0)
			return 1;
	return 0;
}

/*
 * After a failed attempt: when the answer says the clock is off (its Date
 * header is AWS_SKEW_MIN or more away from ours) the skew is corrected,
 * as the SDKs do; when it says the credentials expired, they are fetched
 * again.  1 when either happened and the call is worth one more attempt.
 */
static int
call_recover(struct aws_client *c, struct call *k,
    const struct aws_response *resp, const struct aws_error *e)
{
	const char *date;
	struct tm tm;
	time_t server;
	long skew;
	int fixed = 0;

	if (code_in(e->code, skew_codes, sizeof(skew_codes) / sizeof(skew_codes[0])) &&
	    (date = aws_response_header(resp, "Date")) != NULL) {
		memset(&tm, 0, sizeof(tm));
		if (strptime(date, "%a, %d %b %Y %H:%M:%S GMT", &tm) != NULL &&
		    (server = timegm(&tm)) > 0) {
			/* off by this much even with the correction so far */
			skew = (long)(server - aws_client_now(c));
			if (skew >= AWS_SKEW_MIN || skew <= -AWS_SKEW_MIN) {
				c->skew += skew;
				log_warnx("aws: %s %s: our clock is %+lds off the "
				    "server's; signing with the server's time",
				    aws_service_name(e->service), e->action, c->skew);
				fixed = 1;
			}
		}
	}
	if (code_in(e->code, expired_codes,
	    sizeof(expired_codes) / sizeof(expired_codes[0])) &&
	    c->creds != NULL && c->static_creds == NULL && !c->anonymous) {
		aws_creds_provider_invalidate(c->creds);
		aws_creds_free(k->creds);
		k->creds = NULL;
		k->sign_creds = NULL;
		if (aws_creds_provider_get(&k->creds, c->creds) < 0) {
			log_warnx("aws: %s %s: refreshing expired credentials: %s",
			    aws_service_name(e->service), e->action, err_get());
			return 0;
		}
		k->sign_creds = k->creds;
		log_info("aws: %s %s: %s; credentials refreshed",
		    aws_service_name(e->service), e->action, e->code);
		fixed = 1;
	}
	return fixed;
}

/* The code a call is counted under: "" for success, the AWS code, or ours. */
static const char *
call_code(int error, const struct aws_error *e)
{
	if (error == 0)
		return "";
	if (e->code[0] != '\0')
		return e->code;
	switch (error) {
	case ERR_TIMEOUT:
		return "ClientTimeout";
	case ERR_UNAVAILABLE:
		return "ClientConnectionError";
	default:
		return "ClientError";
	}
}

/*
 * After a failed attempt of kind: 0 when another attempt may follow (the
 * quota paid, the backoff slept), -1 when the call stops here.
 */
static int
call_backoff(struct aws_client *c, const struct aws_error *e,
    enum aws_retry_kind kind, int attempt, int *taken)
{
	int cost;

	if (kind == AWS_RETRY_NONE || attempt >= c->max_attempts)
		return -1;
	cost = kind == AWS_RETRY_TIMEOUT ? AWS_RETRY_TIMEOUT_COST : AWS_RETRY_COST;
	if (aws_retry_quota_acquire(c->quota, cost) < 0) {
		c->stats.quota_exhausted++;
		log_debug("aws: %s %s: retry quota exhausted, not retrying",
		    aws_service_name(e->service), e->action);
		return -1;
	}
	*taken += cost;
	c->stats.retries++;
	c->sleep_ms(c->retry_arg, aws_retry_delay_ms(attempt,
	    c->rand(c->retry_arg)));
	return 0;
}

/* Does req change anything?  (What the fence of aws_client_opts guards.) */
int
aws_request_mutates(const struct aws_request *req)
{
	switch (req->service) {
	case AWS_SERVICE_S3:
		return req->method == NULL || (strcmp(req->method, "GET") != 0 &&
		    strcmp(req->method, "HEAD") != 0);
	case AWS_SERVICE_STS:
		return 0;	/* credentials only */
	default:
		return aws_pace_classify(req->action) != AWS_PACE_DESCRIBE;
	}
}

int
aws_client_send(struct aws_response *resp, struct aws_client *c,
    const struct aws_request *req)
{
	struct call k;
	struct aws_error *e = &resp->error;
	enum aws_retry_kind kind = AWS_RETRY_NONE;
	enum aws_pace_class pc = aws_pace_classify(req->action);
	int paced = c->pacer != NULL && req->service == AWS_SERVICE_EC2;
	int mutates = c->fence != NULL && aws_request_mutates(req);
	int attempt, tcode = 0, taken = 0, throttles = 0, error = -1;
	uint64_t t0 = duration_mono_ms();
	int recovered = 0;
	char line[1024];

	memset(&k, 0, sizeof(k));
	buf_init(&k.url, 64 * 1024);
	buf_init(&k.path, 16 * 1024);
	buf_init(&k.form, 1024 * 1024);
	response_start(resp, c, req);
	c->stats.calls++;
	if ((unsigned)req->service >= AWS_SERVICE_COUNT || req->method == NULL ||
	    (req->params != NULL && req->body != NULL)) {
		err_set("invalid AWS request");
		error = ERR_INVALID;
		goto fail;
	}
	if ((error = FAILPOINT("aws.send")) < 0) {
		err_set("failpoint aws.send");
		goto fail;
	}
	if ((error = call_prepare(&k, c, req)) < 0)
		goto fail;

	for (attempt = 1;; attempt++) {
		/* Every attempt, retries too, waits for its token. */
		if (paced)
			(void)aws_pacer_acquire(c->pacer, pc);
		/* Right before sending: a pacing wait may have crossed the deadline. */
		if (mutates && (error = c->fence(c->fence_arg)) < 0)
			goto fail;
		if ((error = call_attempt(&tcode, c, req, &k, resp)) < 0)
			goto fail;
		e->attempts = attempt;
		c->stats.attempts++;
		if (resp->sink_error < 0) {
			/* An answer came, and its reader refused it: no retry. */
			error = resp->sink_error;
			e->http_status = resp->status;
			goto fail;
		}
		if (tcode == 0 && resp->status >= 200 && resp->status < 300) {
			aws_retry_quota_release(c->quota,
			    taken > 0 ? taken : AWS_RETRY_SUCCESS_REFUND);
			log_debug("aws: %s %s host=%s status=%ld attempt=%d",
			    aws_service_name(req->service), e->action, k.host,
			    resp->status, attempt);
			error = 0;
			goto done;
		}
		call_error(e, tcode, resp);
		call_redact(e, &k);
		/* Clock skew or expired credentials: fixed, one more attempt. */
		if (tcode == 0 && !recovered && call_recover(c, &k, resp, e)) {
			recovered = 1;
			attempt--;
			continue;
		}
		kind = aws_retry_classify(tcode, e);
		if (kind == AWS_RETRY_THROTTLE) {
			c->stats.throttled++;
			throttles++;
			if (paced)
				aws_pacer_throttled(c->pacer, pc);
		}
		log_debug("aws: %s %s host=%s status=%ld code=%s attempt=%d "
		    "retryable=%d%s%s", aws_service_name(req->service), e->action,
		    k.host, resp->status, e->code, attempt, kind != AWS_RETRY_NONE,
		    tcode < 0 ? " error=" : "", tcode < 0 ? e->message : "");
		if (call_backoff(c, e, kind, attempt, &taken) < 0)
			break;
	}
	/* Expired session credentials: make the provider fetch new ones. */
	if (c->creds != NULL && (strcmp(e->code, "ExpiredToken") == 0 ||
	    strcmp(e->code, "ExpiredTokenException") == 0))
		aws_creds_provider_invalidate(c->creds);
	error = kind == AWS_RETRY_THROTTLE ? ERR_THROTTLED :
	    e->err != 0 ? e->err : ERR_GENERIC;
	goto done;
fail:
	/* Nothing was answered: the reason is the current message. */
	log_escape(e->message, sizeof(e->message), err_get());
done:
	if (error < 0) {
		c->stats.failures++;
		e->err = error;
		call_redact(e, &k);
		err_set("%s", aws_error_format(line, sizeof(line), e));
		c->last = *e;
	} else
		memset(&c->last, 0, sizeof(c->last));
	aws_call_stats_add(c->calls, req->service, req->action,
	    call_code(error, e), e->attempts, throttles);
	/* one line per call (the attempts are the lines above it) */
	log_debug("aws call aws_action=%s service=%s region=%s attempts=%d "
	    "http_status=%ld error_code=%s duration_ms=%llu",
	    req->action, aws_service_name(req->service), c->region, e->attempts,
	    resp->status, error < 0 ? call_code(error, e) : "-",
	    (unsigned long long)(duration_mono_ms() - t0));
	call_dispose(&k);
	return error;
}
