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
struct aws_pacer;		/* below: client-side pacing of EC2 calls */
struct aws_call_stats;		/* below: calls by (service, action, code) */

enum aws_service {
	AWS_SERVICE_EC2 = 0,
	AWS_SERVICE_S3,
	AWS_SERVICE_STS,
	AWS_SERVICE_SSM,
	AWS_SERVICE_COUNT
};

/* "ec2", "s3", "sts", "ssm": the signing name and the endpoint label. */
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
	/*
	 * Client-side pacing of EC2 calls (NULL: none).  Give every client
	 * of one region the same pacer: EC2's limits are per account and
	 * region, so the buckets must be shared by all of them.
	 */
	struct aws_pacer		*pacer;
	/* Where calls are counted; NULL: the process-wide table. */
	struct aws_call_stats		*call_stats;
	/*
	 * The fence of mutating calls (NULL: none): asked before every
	 * attempt of a call that changes something (aws_request_mutates():
	 * EC2 and SSM actions not named Describe*, Get*, List*, Search*; S3
	 * methods other than GET and HEAD), after its pacing wait.
	 * A negative return refuses the call unsent and is returned by
	 * aws_client_send() with fence's message (ERR_FENCED: the process is
	 * past its leader lease's deadline).
	 */
	int				(*fence)(void *arg);	/* sets err */
	void				*fence_arg;
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

/*
 * ---- client-side pacing of EC2 calls ----
 *
 * EC2 limits API requests per account and region with token buckets,
 * one per class of action: RunInstances (bucket 5, refill 2/s), other
 * mutating actions (50, 5/s) and non-mutating ones (100, 20/s).  A
 * pacer holds the same buckets on the client side: a call waits for a
 * token of its class instead of being sent and throttled.  When a
 * throttling answer still arrives (the account's limits are lower, or
 * other tools use them too) that class's bucket is emptied and its rate
 * cut to 0.7 of what it was, at most once a second and never below a
 * twentieth of the configured rate; it climbs back by a twentieth of
 * the configured rate per second (additive increase, multiplicative
 * decrease, like the SDKs' adaptive retry mode).  Of a bucket of B
 * tokens the pacer spends only B - max(1, B/10) at once (B >= 2): the
 * rest stays in reserve on EC2's side, so jitter in the network's delay
 * never makes a paced call arrive ahead of EC2's refill.  S3 and STS
 * calls are not paced.  A pacer is thread-safe; a caller waits for its
 * token outside the lock, and callers are served in arrival order.
 */
enum aws_pace_class {
	AWS_PACE_RUN = 0,	/* RunInstances */
	AWS_PACE_MUTATE,	/* every other action (mutating) */
	AWS_PACE_DESCRIBE,	/* Describe*, Get*, List*, Search* (non-mutating) */
	AWS_PACE_CLASS_COUNT
};

/* "run", "mutate", "describe". */
const char	*aws_pace_class_name(enum aws_pace_class);
/* The class of an EC2 action name. */
enum aws_pace_class aws_pace_classify(const char *action);

#define AWS_PACE_MAX_BURST	1000000.0
#define AWS_PACE_MAX_RATE	1000000.0

/* Limits per class; a class with rate 0 is not paced. */
struct aws_pace_limits {
	double	burst[AWS_PACE_CLASS_COUNT];	/* bucket size, >= 1 */
	double	rate[AWS_PACE_CLASS_COUNT];	/* refill, tokens per second */
};

/* The default, EC2's documented limits: "run=5:2,mutate=50:5,describe=100:20". */
#define AWS_PACE_DEFAULT	"run=5:2,mutate=50:5,describe=100:20"

/*
 * Parse "class=burst:rate,..." (classes run, mutate, describe, each at
 * most once; burst a whole number 1..1000000, rate a decimal > 0 up to
 * 1000000 tokens per second; no spaces).  A class left out is not
 * paced.  "off" (or "") sets *off and every rate to 0.  ERR_INVALID
 * with a message naming the bad part; *out is then all zero.
 */
int		 aws_pace_limits_parse(struct aws_pace_limits *out, int *off,
		    const char *s);

/* A pacer with full buckets; free with aws_pacer_free (NULL: nothing). */
int		 aws_pacer_new(struct aws_pacer **out,
		    const struct aws_pace_limits *limits);
void		 aws_pacer_free(struct aws_pacer *);
/*
 * Change the limits (a configuration reload).  A class whose limits
 * change starts afresh: full bucket, configured rate.
 */
void		 aws_pacer_set_limits(struct aws_pacer *,
		    const struct aws_pace_limits *limits);

/* What one class of a pacer has done since it was created. */
struct aws_pace_stats {
	double		 burst;		/* configured */
	double		 rate;		/* configured, tokens per second */
	double		 cur_rate;	/* now, after adaptive decreases */
	unsigned long	 acquired;	/* tokens taken */
	unsigned long	 waited;	/* of which had to wait */
	double		 wait_seconds;	/* total time callers waited */
	unsigned long	 throttles;	/* throttling answers reported */
	unsigned long	 decreases;	/* times the rate was cut */
};

void		 aws_pacer_stats(struct aws_pace_stats *out,
		    struct aws_pacer *, enum aws_pace_class);

/*
 * ---- calls by (service, action, code) ----
 *
 * Every aws_client_send() is counted in a table (the process-wide one
 * unless the client options give another), thread-safe: by service,
 * action and the code it ended with ("" for success; the AWS error
 * code; "ClientTimeout", "ClientConnectionError", "ClientError" when no
 * answer came).  At most AWS_CALL_STATS_MAX_CODES distinct error codes
 * are kept; later ones are counted as "other", as is everything once
 * the table holds AWS_CALL_STATS_MAX_SERIES rows.
 */
#define AWS_CALL_STATS_MAX_CODES	48
#define AWS_CALL_STATS_MAX_SERIES	512

struct aws_call_count {
	enum aws_service service;
	const char	*action;	/* valid during the callback only */
	const char	*code;		/* "" success */
	unsigned long	 calls;		/* calls that ended with code */
	unsigned long	 attempts;	/* requests those calls sent */
	unsigned long	 throttled;	/* throttling answers among them */
};

struct aws_call_stats *aws_call_stats_new(void);
void		 aws_call_stats_free(struct aws_call_stats *);
/* The process-wide table (never freed). */
struct aws_call_stats *aws_call_stats_default(void);
/* Count one call. */
void		 aws_call_stats_add(struct aws_call_stats *, enum aws_service,
		    const char *action, const char *code, int attempts,
		    int throttled);
/*
 * Call fn for every row, in the order the rows were made, on a copy
 * taken under the lock (fn may take its time; it must not call back).
 * Returns the number of rows.
 */
typedef void	 aws_call_stats_fn(const struct aws_call_count *, void *arg);
size_t		 aws_call_stats_foreach(struct aws_call_stats *,
		    aws_call_stats_fn *fn, void *arg);

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
