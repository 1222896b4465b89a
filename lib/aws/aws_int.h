/*
 * aws_int.h - the request API the service clients (ec2.c, s3.c, sts.c)
 * are written against, plus the pieces tests replace or inspect:
 * transport function table, endpoints, retry quota, XML and error-body
 * parsing.  Not for code outside lib/aws and its tests.
 *
 * A service call looks like:
 *
 *	struct aws_query *q = aws_query_new("DescribeInstances", "2016-11-15");
 *	struct aws_request req = { .service = AWS_SERVICE_EC2,
 *	    .action = "DescribeInstances", .method = "POST", .path = "/",
 *	    .params = q };
 *	struct aws_response resp;
 *	aws_query_addf(q, "tag:envctl:cluster", "Filter.%d.Name", 1);
 *	aws_response_init(&resp);
 *	if ((error = aws_client_send(&resp, client, &req)) < 0)
 *		... resp.error.code says which AWS error (err_get() the line)
 *	else
 *		aws_xml_parse(&doc, resp.body.ptr, resp.body.len) ...
 *	aws_response_dispose(&resp);
 *	aws_query_free(q);
 */
#ifndef ENVCTL_AWS_INT_H
#define ENVCTL_AWS_INT_H

#include <stddef.h>

#include "aws.h"
#include "buf.h"

/* ---- headers: an ordered list of owned name/value pairs ---- */

struct aws_header {
	char	*name;
	char	*value;
};

struct aws_headers {
	struct aws_header	*v;
	size_t			 n;
	size_t			 cap;
};

void		 aws_headers_init(struct aws_headers *);
/* Wipes values before freeing (they may hold a signature or token). */
void		 aws_headers_dispose(struct aws_headers *);
/* Append a copy of name and value. */
void		 aws_headers_add(struct aws_headers *, const char *name,
		    const char *value);
/* Replace (or add) the value of name, compared case-insensitively. */
void		 aws_headers_set(struct aws_headers *, const char *name,
		    const char *value);
/* The value of the first header named name (case-insensitive) or NULL. */
const char	*aws_headers_get(const struct aws_headers *, const char *name);

/* ---- Query protocol parameters (EC2, STS) ---- */

struct aws_query;

/* A list starting with Action=action&Version=version. Free with aws_query_free. */
struct aws_query *aws_query_new(const char *action, const char *version);
void		 aws_query_free(struct aws_query *);
/* Append name=value (copies both). */
void		 aws_query_add(struct aws_query *, const char *name,
		    const char *value);
/* Append with a printf-formatted name: ("x", "Filter.%d.Value.%d", 1, 2). */
void		 aws_query_addf(struct aws_query *, const char *value,
		    const char *namefmt, ...) __attribute__((format(printf, 3, 4)));
/* The value of name, or NULL (for tests and logs). */
const char	*aws_query_get(const struct aws_query *, const char *name);
/*
 * Append the form encoding (name=value&..., in insertion order, RFC 3986
 * percent-encoding: only A-Z a-z 0-9 - _ . ~ left as is) to out.
 */
int		 aws_query_encode(struct buf *out, const struct aws_query *);

/* Append s percent-encoded (RFC 3986); '/' kept as is when keep_slash. */
int		 aws_uri_escape(struct buf *out, const char *s, int keep_slash);

/* ---- requests and responses ---- */

struct aws_request {
	enum aws_service	 service;
	const char		*action;	/* for errors, retries, logs: "RunInstances" */
	const char		*method;	/* "GET", "POST", "PUT", "HEAD", "DELETE" */
	/*
	 * Raw path, not encoded and not normalised ("/a b//c" stays as it is
	 * and is percent-encoded once, '/' kept); NULL means "/".  For S3
	 * it is the key path inside the bucket.
	 */
	const char		*path;
	const char		*bucket;	/* S3 only: virtual-hosted or path-style */
	/*
	 * The region signed for and sent to; NULL: the client's.  S3 sets
	 * the bucket's region here (s3.c); a custom endpoint keeps its
	 * host, only the signature changes.
	 */
	const char		*region;
	/*
	 * Extra query string, already encoded ("list-type=2&prefix=a%2Fb");
	 * may be NULL.  S3 uses it; the Query protocol uses params.
	 */
	const char		*query;
	/*
	 * Query protocol: when set, sent as a form-encoded POST body
	 * (Content-Type application/x-www-form-urlencoded); body must be NULL.
	 */
	const struct aws_query	*params;
	const struct aws_headers *headers;	/* extra headers, may be NULL */
	const void		*body;
	size_t			 body_len;
	/* S3: sign with x-amz-content-sha256: UNSIGNED-PAYLOAD. */
	int			 unsigned_payload;
	/* Body holds a secret (e.g. a private key upload): never logged. */
	int			 secret_body;
	/* The response holds secrets (AssumeRole): its body buffer is wiped. */
	int			 secret_response;
};

struct aws_response {
	long			 status;	/* last HTTP status, 0 if none */
	struct aws_headers	 headers;	/* response headers, names as sent */
	struct buf		 body;		/* capped at the client's max_body */
	struct aws_error	 error;		/* filled when the call fails */
	/*
	 * Optional body sink, set by the caller after aws_response_init():
	 * a 2xx answer's body goes to sink as it arrives instead of into
	 * body (which stays empty); any other answer is kept in body as
	 * usual.  sink_begin (may be NULL) is called before every attempt,
	 * retries included, so the reader starts over: a body cut off and
	 * retried is never read twice.  sink returning < 0 stops the
	 * transfer and the call fails with that code and the sink's message,
	 * without a retry.  A transport that fills body itself has its 2xx
	 * body handed to sink in one piece after send().
	 */
	int			(*sink)(void *arg, const char *data, size_t len);
	void			(*sink_begin)(void *arg);
	void			*sink_arg;
	int			 sink_error;	/* sink's failure, this attempt */
	int			 sink_fed;	/* the transport fed sink itself */
};

void		 aws_response_init(struct aws_response *);
void		 aws_response_dispose(struct aws_response *);
/* A response header (case-insensitive name) or NULL: "ETag", "x-amz-request-id". */
const char	*aws_response_header(const struct aws_response *, const char *name);
/*
 * Forget the previous attempt's answer, keep the buffer's limits; the
 * sink's reader starts over (sink_begin).
 */
void		 aws_response_reset(struct aws_response *);

/*
 * Send req through client: resolve the endpoint, sign, send, retry in
 * "standard" mode (throttling, 5xx, connection errors and timeouts,
 * with backoff and the retry quota).  resp is reset first.
 *
 * Returns 0 for a 2xx answer: resp holds status, headers and body.
 * Otherwise a negative code and resp->error (and the client's last
 * error) says what happened; err_get() holds aws_error_format()'s line:
 *   ERR_THROTTLED   throttling codes, after retries
 *   ERR_UNAVAILABLE connection errors, 5xx
 *   ERR_TIMEOUT     a request timed out
 *   ERR_NOTFOUND    HTTP 404 or a code ending in ".NotFound"/"NoSuch..."
 *   ERR_EXISTS      ".Duplicate", "AlreadyExists", "BucketAlreadyOwnedByYou"
 *   ERR_CONFLICT    IdempotentParameterMismatch, IncorrectState...
 *   ERR_INVALID     other 4xx (bad parameters, denied, auth)
 *   ERR_LIMIT       the response body passed max_body
 *   ERR_FAILPOINT   failpoint "aws.send" fired (test builds)
 *   ERR_FENCED      (or the fence's other code) the client's fence refused
 *                   a mutating call: nothing was sent
 * The body of a failed call stays in resp->body for inspection.
 */
int		 aws_client_send(struct aws_response *resp, struct aws_client *,
		    const struct aws_request *req);
/* 1 when req changes something (the calls the client's fence guards). */
int		 aws_request_mutates(const struct aws_request *req);

/*
 * The full URL req would be sent to (endpoint, bucket, encoded path,
 * query), appended to out.  For presigning.
 */
int		 aws_client_url(struct buf *out, const struct aws_client *,
		    const struct aws_request *req);
/* The credentials provider and signing clock of the client (borrowed). */
struct aws_creds_provider *aws_client_creds(const struct aws_client *);
time_t		 aws_client_now(const struct aws_client *);
/*
 * Seconds the servers' clock is ahead of ours (negative: behind), as
 * corrected after an answer said the clock was off (RequestTimeTooSkewed,
 * RequestExpired...; its Date header AWS_SKEW_MIN or more away); 0 until
 * then.  aws_client_now() adds it.
 */
long		 aws_client_skew(const struct aws_client *);
#define AWS_SKEW_MIN	60

/* ---- transport: what is below the module's boundary ---- */

struct aws_http_request {
	const char		*method;
	const char		*url;		/* may hold a presigned query: never log it */
	const struct aws_headers *headers;	/* signed headers, all of them */
	const void		*body;
	size_t			 body_len;
	long			 connect_timeout_ms;
	long			 timeout_ms;
	size_t			 max_body;
	int			 insecure_tls;
};

/*
 * send() fills resp->status, resp->headers and resp->body (initialised by
 * the caller; the body buffer's max is already set to max_body).  A
 * transport may instead pass a 2xx body to resp->sink as it arrives
 * (then it sets resp->sink_fed, and resp->sink_error when sink failed,
 * returning that code); one that does not is still correct.
 * Returns 0 when an HTTP answer arrived (any status), or
 *   ERR_UNAVAILABLE  could not connect, connection reset, DNS failure
 *   ERR_TIMEOUT      connect or total timeout
 *   ERR_LIMIT        body larger than max_body
 *   ERR_GENERIC      anything else
 * with err_set() saying why (no URL query, no headers).
 */
struct aws_transport {
	int	(*send)(void *arg, struct aws_response *resp,
		    const struct aws_http_request *req);
};

/* The libcurl transport; arg is a struct aws_curl (one per client). */
struct aws_curl;
int		 aws_curl_new(struct aws_curl **out);
void		 aws_curl_free(struct aws_curl *);
int		 aws_curl_send(void *curl, struct aws_response *resp,
		    const struct aws_http_request *req);

/* ---- endpoints (pure) ---- */

struct aws_endpoint {
	char	 scheme[8];		/* "https" or "http" */
	char	 host[256];		/* without port; IPv6 without brackets */
	int	 port;			/* 0: the scheme's default */
	char	 base_path[256];	/* "" or "/prefix" (no trailing '/') */
	int	 path_style;		/* S3: bucket goes in the path */
	int	 custom;		/* came from an override */
};

/*
 * Resolve the endpoint of service in region.  override_service is the
 * value of AWS_ENDPOINT_URL_<SVC> (or an explicit option), override_all
 * of AWS_ENDPOINT_URL; either may be NULL; the service-specific one wins.
 * Without an override: https://<svc>.<region>.amazonaws.com, S3
 * virtual-hosted.  Custom endpoints are path-style for S3.
 * ERR_INVALID for a malformed URL or region.
 */
int		 aws_endpoint_resolve(struct aws_endpoint *out, enum aws_service,
		    const char *region, const char *override_service,
		    const char *override_all);
/* Append "scheme://host[:port]base_path" (brackets for IPv6) to out. */
int		 aws_endpoint_base(struct buf *out, const struct aws_endpoint *);
/*
 * The host (with ":port" when not default) the request goes to: for S3
 * virtual-hosted "<bucket>.<host>".  Written to out (outsz bytes).
 */
int		 aws_endpoint_host(char *out, size_t outsz,
		    const struct aws_endpoint *, const char *bucket);
/*
 * Append the encoded path for path (raw) in bucket (may be NULL): the
 * base path, "/<bucket>" when path-style, then path encoded once, '/'
 * kept, never normalised.  A bucket operation (path NULL or "") is
 * "/<bucket>" path-style and "/" virtual-hosted.
 */
int		 aws_endpoint_path(struct buf *out, const struct aws_endpoint *,
		    const char *bucket, const char *path);
/* 1 when host is 127.0.0.1 (any 127/8), localhost or ::1. */
int		 aws_endpoint_is_loopback(const struct aws_endpoint *);
/* The name of the per-service variable: "AWS_ENDPOINT_URL_EC2". */
const char	*aws_endpoint_env_name(enum aws_service);

/* ---- retries ("standard" mode) ---- */

#define AWS_RETRY_QUOTA_MAX		500
#define AWS_RETRY_COST			5
#define AWS_RETRY_TIMEOUT_COST		10
#define AWS_RETRY_SUCCESS_REFUND	1
#define AWS_RETRY_MAX_BACKOFF_MS	20000L

enum aws_retry_kind {
	AWS_RETRY_NONE = 0,	/* do not retry */
	AWS_RETRY_THROTTLE,	/* throttling code */
	AWS_RETRY_TRANSIENT,	/* 5xx, transient code */
	AWS_RETRY_TIMEOUT,	/* connection error or timeout (costs more) */
};

/* A token bucket, thread-safe. */
struct aws_retry_quota *aws_retry_quota_new(int capacity);
void		 aws_retry_quota_free(struct aws_retry_quota *);
/* The process-wide bucket (500 tokens) shared by clients without their own. */
struct aws_retry_quota *aws_retry_quota_default(void);
/* Take cost tokens: 0, or ERR_LIMIT (nothing taken) when there are too few. */
int		 aws_retry_quota_acquire(struct aws_retry_quota *, int cost);
/* Give amount tokens back, up to the capacity. */
void		 aws_retry_quota_release(struct aws_retry_quota *, int amount);
int		 aws_retry_quota_available(struct aws_retry_quota *);

/* Classify a failed attempt (transport code tcode, or the parsed error). */
enum aws_retry_kind aws_retry_classify(int tcode, const struct aws_error *);
/* 1 when code is one of the throttling codes. */
int		 aws_retry_is_throttle(const char *code);
/* Backoff before attempt+1 (attempt >= 1): r * min(2^(attempt-1) s, 20 s). */
long		 aws_retry_delay_ms(int attempt, double r);

/* ---- pacing (pace.c; the public part is in aws.h) ---- */

/*
 * Take a token of class cls, sleeping (the pacer's sleep) until it is
 * due.  Returns the milliseconds slept, 0 when a token was there.
 */
long		 aws_pacer_acquire(struct aws_pacer *, enum aws_pace_class cls);
/* A throttling answer came for a call of class cls: cut its rate. */
void		 aws_pacer_throttled(struct aws_pacer *, enum aws_pace_class cls);
/*
 * Replace the pacer's monotonic clock (seconds) and sleep, for tests;
 * NULL keeps the real one.
 */
void		 aws_pacer_set_clock(struct aws_pacer *, double (*now)(void *arg),
		    void (*sleep_ms)(void *arg, long ms), void *arg);

/* ---- errors ---- */

/*
 * Fill e from an error answer: status, request id (headers
 * x-amzn-RequestId / x-amz-request-id or the body), code and message
 * from the body (EC2 <Response><Errors><Error>, S3/STS <Error>, or JSON
 * {"__type"|"code", "message"}); without a body the code comes from the
 * status ("NotFound" for 404...).  Sets e->err and e->guidance.
 * Action and service are left as the caller set them.
 */
void		 aws_error_parse(struct aws_error *e, long status,
		    const struct aws_headers *headers, const char *body,
		    size_t body_len);
/* The ERR_* code for an AWS error code and status. */
int		 aws_error_code_to_err(const char *code, long status);
/* Remove every occurrence of secret from e's text fields (a last guard). */
void		 aws_error_redact(struct aws_error *e, const char *secret);

/* ---- XML (libxml2: no network, no DTD, no entities, capped) ---- */

struct aws_xml;
struct aws_xml_node;

#define AWS_XML_MAX_INPUT	((size_t)16 * 1024 * 1024)

/*
 * Parse data.  Refuses (ERR_INVALID) DTDs, entity declarations and
 * references other than the predefined ones, inputs over
 * AWS_XML_MAX_INPUT, and malformed documents.  Free with aws_xml_free.
 */
int		 aws_xml_parse(struct aws_xml **out, const char *data, size_t len);
/*
 * Read data as a stream, with aws_xml_parse()'s refusals, never holding
 * the whole tree: each element whose path of local names below the root
 * is one of paths ("reservationSet/item/instancesSet/item") is built on
 * its own and passed to fn with the index of its path; the node lives
 * during the call only.  Elements on no path are skipped.  Memory is one
 * such element, not the document: for long lists (a DescribeInstances
 * page of 1,000).  fn returning < 0 stops the walk with that value.
 */
typedef int	 aws_xml_stream_fn(void *arg, size_t which,
		    const struct aws_xml_node *node);
int		 aws_xml_stream(const char *data, size_t len,
		    const char *const *paths, size_t npaths,
		    aws_xml_stream_fn *fn, void *arg);
/*
 * The same reading, fed as the bytes arrive (an HTTP body chunk by
 * chunk): the document is never whole in memory, neither as text nor as
 * a tree.  Same refusals, limits and errors as aws_xml_stream(); fn is
 * called from inside feed.  paths and arg are borrowed for the life of
 * the reader.  Free with aws_xml_push_free.
 */
struct aws_xml_push;
void		 aws_xml_push_new(struct aws_xml_push **out,
		    const char *const *paths, size_t npaths,
		    aws_xml_stream_fn *fn, void *arg);
/*
 * Read len more bytes.  0, or the first failure (ERR_INVALID malformed,
 * DTD or entity; ERR_LIMIT past AWS_XML_MAX_INPUT; fn's own code), which
 * sticks: every later feed and end returns it again, message included.
 */
int		 aws_xml_push_feed(struct aws_xml_push *, const char *data,
		    size_t len);
/* The document is complete: 0 when it was whole and well-formed. */
int		 aws_xml_push_end(struct aws_xml_push *);
/* Forget what was fed (and any failure): ready for a new document. */
void		 aws_xml_push_reset(struct aws_xml_push *);
void		 aws_xml_push_free(struct aws_xml_push *);
/* Free the document; NULL does nothing. */
void		 aws_xml_free(struct aws_xml *);
/* Mark the document as holding secrets: its text is wiped when freed. */
void		 aws_xml_set_secret(struct aws_xml *);
/* The root element (never NULL for a parsed document). */
const struct aws_xml_node *aws_xml_root(const struct aws_xml *);
/* The local name of an element (namespace prefix ignored). */
const char	*aws_xml_name(const struct aws_xml_node *);
/* First child element with that local name (any element if NULL), or NULL. */
const struct aws_xml_node *aws_xml_child(const struct aws_xml_node *,
		    const char *name);
/* Next sibling element with that local name (any if NULL), or NULL. */
const struct aws_xml_node *aws_xml_next(const struct aws_xml_node *,
		    const char *name);
/* Follow "a/b/c" through first children; NULL if a step is missing. */
const struct aws_xml_node *aws_xml_path(const struct aws_xml_node *,
		    const char *path);
/* The text content of node, a fresh string (caller frees), or NULL if node is NULL. */
char		*aws_xml_text(const struct aws_xml_node *);
/* Like aws_xml_text, the intermediate copy wiped; free with mem_free_secret. */
char		*aws_xml_secret_text(const struct aws_xml_node *);
/* aws_xml_text(aws_xml_child(node, name)). */
char		*aws_xml_child_text(const struct aws_xml_node *, const char *name);
/*
 * Copy the text of child name into out (outsz bytes, NUL-terminated).
 * 0, ERR_NOTFOUND when the child is missing, ERR_LIMIT when it does not fit.
 */
int		 aws_xml_child_copy(char *out, size_t outsz,
		    const struct aws_xml_node *, const char *name);

/* Iterate the <item> (or other) children of a set element. */
#define AWS_XML_FOREACH(it, parent, name)				\
	for ((it) = aws_xml_child((parent), (name)); (it) != NULL;	\
	    (it) = aws_xml_next((it), (name)))

#endif
