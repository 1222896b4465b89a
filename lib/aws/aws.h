/*
 * aws.h - the AWS client core: options, client lifecycle, the error.
 *
 * One struct aws_client talks to every service (EC2, S3, STS) of one
 * region with one set of credentials.  It owns a libcurl easy handle
 * that is reused across calls (connection reuse), so a client is NOT
 * thread-safe: use one client per worker thread.  The retry quota
 * (token bucket) is shared by every client of the process unless the
 * options give one.
 *
 * Requests are signed with SigV4 using credentials from the provider
 * given in the options; secrets never appear in logs or error text.
 * Service clients (ec2.h, s3.h, sts.h) build on the request API in
 * aws_int.h.
 */
#ifndef ENVCTL_AWS_H
#define ENVCTL_AWS_H

#include <stddef.h>
#include <time.h>

struct aws_client;
struct aws_creds;		/* creds.h */
struct aws_creds_provider;	/* creds.h */
struct aws_transport;		/* aws_int.h: replaceable network layer */
struct aws_retry_quota;		/* aws_int.h: retry token bucket */

enum aws_service {
	AWS_SERVICE_EC2 = 0,
	AWS_SERVICE_S3,
	AWS_SERVICE_STS,
	AWS_SERVICE_COUNT
};

/* "ec2", "s3", "sts": the signing name and the endpoint label. */
const char	*aws_service_name(enum aws_service);

/* Defaults used when an option is left 0/NULL. */
#define AWS_DEFAULT_MAX_ATTEMPTS	3
#define AWS_DEFAULT_CONNECT_TIMEOUT_MS	5000L
#define AWS_DEFAULT_TIMEOUT_MS		60000L
#define AWS_DEFAULT_MAX_BODY		((size_t)16 * 1024 * 1024)

/*
 * Client options.  Zero-initialise and set what you need; every pointer
 * is borrowed and must outlive the client.
 */
struct aws_client_opts {
	/* Region; NULL reads AWS_REGION, then AWS_DEFAULT_REGION. */
	const char			*region;
	/*
	 * Endpoint override for every service (wins over the environment).
	 * NULL: AWS_ENDPOINT_URL_<SVC>, then AWS_ENDPOINT_URL, then the
	 * regional default.  Custom endpoints use path-style S3.
	 */
	const char			*endpoint_url;
	/* Ignore AWS_ENDPOINT_URL* (tests that must not see the caller's env). */
	int				 ignore_env_endpoints;
	/* Where credentials come from (creds.h); required unless anonymous. */
	struct aws_creds_provider	*creds;
	/* Fixed credentials used instead of creds (e.g. AssumeRole's source). */
	const struct aws_creds		*static_creds;
	/* Send requests unsigned (only for tests of the transport). */
	int				 anonymous;

	int				 max_attempts;		/* 0: 3 */
	long				 connect_timeout_ms;	/* 0: 5 s */
	long				 timeout_ms;		/* 0: 60 s, whole request */
	size_t				 max_body;		/* 0: 16 MiB; larger is an error */
	/*
	 * Turn TLS verification off.  Refused unless the endpoint is a
	 * loopback address (127.0.0.1, localhost, ::1); plain http to
	 * loopback needs no flag.  Never done silently: a warning is logged.
	 */
	int				 insecure_tls;
	const char			*user_agent;		/* NULL: "envctl/<version>" */

	/* Injection points for tests (NULL: the real thing). */
	const struct aws_transport	*transport;
	void				*transport_arg;
	time_t				(*clock)(void *arg);	/* signing time */
	void				*clock_arg;
	double				(*rand)(void *arg);	/* uniform in [0,1) */
	void				(*sleep_ms)(void *arg, long ms);
	void				*retry_arg;		/* passed to rand, sleep_ms */
	struct aws_retry_quota		*quota;			/* NULL: the process-wide one */
};

/*
 * What went wrong with an AWS call.  A plain value: fixed-size fields,
 * nothing to free.  Strings are "" when unknown.  message is the
 * server's text, control characters escaped; it never holds request
 * headers, URLs or credentials.
 */
#define AWS_ERROR_CODE_MAX	128
#define AWS_ERROR_MESSAGE_MAX	512
#define AWS_ERROR_REQID_MAX	128
#define AWS_ERROR_ACTION_MAX	64

struct aws_error {
	int		 err;		/* ERR_* (err.h); 0 when no error */
	long		 http_status;	/* 0 when no response arrived */
	char		 code[AWS_ERROR_CODE_MAX];	/* "InstanceLimitExceeded" */
	char		 message[AWS_ERROR_MESSAGE_MAX];
	char		 request_id[AWS_ERROR_REQID_MAX];
	char		 action[AWS_ERROR_ACTION_MAX];	/* "RunInstances" */
	enum aws_service service;
	int		 attempts;	/* how many times the call was sent */
	const char	*guidance;	/* static; NULL when the code has none */
};

/*
 * Create a client.  Fails with ERR_INVALID (message set) when no region
 * is known, an endpoint is malformed, or insecure_tls is asked for a
 * non-loopback endpoint.  The caller frees *out with aws_client_free().
 */
int		 aws_client_new(struct aws_client **out,
		    const struct aws_client_opts *opts);
void		 aws_client_free(struct aws_client *);

/* The client's region; owned by the client. */
const char	*aws_client_region(const struct aws_client *);
/* The base URL used for service (no bucket); owned by the client. */
const char	*aws_client_endpoint(const struct aws_client *, enum aws_service);
/* Counters of one client since it was created (for metrics and logs). */
struct aws_client_stats {
	unsigned long	calls;		/* aws_client_send() calls */
	unsigned long	attempts;	/* requests sent */
	unsigned long	retries;	/* attempts after the first */
	unsigned long	throttled;	/* answers with a throttling code */
	unsigned long	failures;	/* calls that returned an error */
	unsigned long	quota_exhausted; /* retries refused by the retry quota */
};

/* Copy the client's counters into *out. */
void		 aws_client_stats(struct aws_client_stats *out,
		    const struct aws_client *);

/* The error of the last failed call (err == 0 after a success). */
const struct aws_error *aws_client_last_error(const struct aws_client *);

/*
 * The region from the environment (AWS_REGION, then AWS_DEFAULT_REGION)
 * or NULL.  Points into the environment.
 */
const char	*aws_region_from_env(void);

/*
 * Format e as one line for "envctl: <call>: <why>" messages, e.g.
 * "ec2 RunInstances: InstanceLimitExceeded: You have requested more
 * instances than your current limit (HTTP 400, request id 1a2b);
 * request a quota increase ...".  Always NUL-terminates out; truncates.
 * Returns out.
 */
char		*aws_error_format(char *out, size_t outsz, const struct aws_error *e);

/* The guidance line for an AWS error code, or NULL. Static storage. */
const char	*aws_error_guidance(const char *code);

#endif
