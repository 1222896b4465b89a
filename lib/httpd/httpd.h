/*
 * httpd.h - a minimal HTTP/1.1 server for the controller's poll() loop,
 * and the HTML status page.
 *
 * The server is single-threaded: the owner asks httpd_fds() what to poll,
 * polls (together with its own fds) and passes the results to
 * httpd_handle().  Requests are GET or HEAD (others get 405), at most
 * max_request bytes of request line and headers (414/431 past that), and
 * each connection is closed after one response.
 *
 * Idle and slow clients cannot lock others out: a connection that has not
 * sent its whole request head within header_timeout_ms of connecting is
 * dropped, as is one that does not take its response within
 * request_timeout_ms.  At most max_clients connections are open, at most
 * max_per_client of them from one source address.  When a new connection
 * comes from an address at its cap, that address's least recently active
 * connection is dropped for it; when all max_clients are open, the least
 * recently active connection that has had min_idle_ms to send its request
 * (or to read its response) is dropped for it, and while there is none
 * the new one waits in the listen backlog.  A connection is always polled
 * at least once before it can be dropped for a newer one, so a client that
 * sends its request as it connects is answered under any flood.
 *
 * Handlers are called from httpd_handle() and must not block.  Everything
 * in a request is untrusted.
 */
#ifndef ENVCTL_HTTPD_H
#define ENVCTL_HTTPD_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct httpd;
struct httpd_request;
struct httpd_response;

/* Milliseconds on a monotonic clock. */
typedef int64_t httpd_clock_fn(void *arg);

/* The default of httpd_options.max_clients; a caller sizing its poll set. */
#define HTTPD_MAX_CLIENTS_DEFAULT	128

struct httpd_options {
	int		 allow_nonloopback;	/* bind beyond 127/8 and ::1 */
	int		 request_timeout_ms;	/* 0: 5000 */
	int		 header_timeout_ms;	/* 0: 3000, at most request_timeout_ms */
	int		 min_idle_ms;		/* 0: 250 */
	size_t		 max_clients;		/* 0: HTTPD_MAX_CLIENTS_DEFAULT */
	size_t		 max_per_client;	/* 0: max_clients / 4, at least 1;
						 * >= max_clients: no own cap */
	int		 listen_backlog;	/* 0: 2 * max_clients */
	size_t		 max_request;		/* 0: 8192 bytes */
	size_t		 max_response;		/* 0: 16 MiB body */
	httpd_clock_fn	*clock;			/* NULL: CLOCK_MONOTONIC */
	void		*clock_arg;
};

/* What the limits did, counted since httpd_new(). */
struct httpd_stats {
	uint64_t	 accepted;		/* connections accepted */
	uint64_t	 dropped_full;		/* for a newer one: max_clients open */
	uint64_t	 dropped_client;	/* for a newer one from the same
						 * address: max_per_client open */
	uint64_t	 timed_out;		/* no whole request, or the
						 * response not taken, in time */
};

/*
 * Fill resp for req.  Return 0 (the response as filled in is sent; status
 * 200 and text/plain unless set) or negative (a 500 is sent instead and
 * err_get() is logged).
 */
typedef int httpd_handler_fn(struct httpd_response *resp,
    const struct httpd_request *req, void *arg);

struct httpd_route {
	const char		*path;	/* exact, or a prefix ending in '*' */
	httpd_handler_fn	*handler;
	void			*arg;
};

/*
 * Listen on addr, "HOST:PORT" with HOST an IPv4 address, "[IPv6]" or
 * "localhost"; port 0 picks a free port (see httpd_port()).  A non-loopback
 * address is refused with ERR_INVALID unless opts->allow_nonloopback.
 * opts may be NULL.  The caller frees *out with httpd_free().
 */
int	 httpd_new(struct httpd **out, const char *addr,
	    const struct httpd_options *opts);
/* Close the listener and every connection; NULL does nothing. */
void	 httpd_free(struct httpd *);
/* The bound port. */
int	 httpd_port(const struct httpd *);
/*
 * Set the routing table (copied; path strings and args must outlive the
 * server).  Routes are tried in order; the first match wins; no match is 404.
 */
void	 httpd_routes_set(struct httpd *, const struct httpd_route *, size_t n);

/*
 * Write the fds to poll, with their events, into fds (room for nfds
 * entries) and return how many there are; when that is more than nfds,
 * only nfds were written and the caller should retry with more room.
 * At most 1 + max_clients.
 */
size_t	 httpd_fds(struct httpd *, struct pollfd *fds, size_t nfds);
/* Milliseconds until the nearest client deadline, or -1 when none. */
int	 httpd_timeout_ms(struct httpd *);
/*
 * Act on poll() results: fds/nfds may hold other fds too, those are
 * ignored.  Expired clients are dropped.  Returns 0; a failure on one
 * connection only closes that connection.
 */
int	 httpd_handle(struct httpd *, const struct pollfd *fds, size_t nfds);
/* poll() the server's own fds for at most max_wait_ms and handle them. */
int	 httpd_poll_once(struct httpd *, int max_wait_ms);
/* Connections currently open. */
size_t	 httpd_clients(const struct httpd *);
/* Copy the counters into *out. */
void	 httpd_stats_get(struct httpd_stats *out, const struct httpd *);

/* Requests: every string is valid until the handler returns. */
const char *httpd_request_method(const struct httpd_request *);	/* "GET", "HEAD" */
/* The path, without the query, as sent (not percent-decoded). */
const char *httpd_request_path(const struct httpd_request *);
/* The raw query string after '?', "" when none. */
const char *httpd_request_query(const struct httpd_request *);
/* The first value of a header (name case-insensitive), or NULL. */
const char *httpd_request_header(const struct httpd_request *, const char *name);
/*
 * The percent-decoded value of query parameter name ('+' is a space), or
 * NULL when absent.  Also NULL when the value decodes to a NUL byte.
 */
const char *httpd_request_param(const struct httpd_request *, const char *name);
/* Parse parameter name as an integer in [min, max]; def when absent. */
int	 httpd_request_param_int(long *out, const struct httpd_request *,
	    const char *name, long def, long min, long max);

/* Responses. */
void	 httpd_response_status(struct httpd_response *, int status);
/* The Content-Type, copied; no control characters (ERR_INVALID). */
int	 httpd_response_type(struct httpd_response *, const char *type);
/*
 * Add a header (copied): name a token of up to 64 bytes, value up to
 * 1024 bytes without control characters; at most 16 headers.
 */
int	 httpd_response_header(struct httpd_response *, const char *name,
	    const char *value);
/* The body, to append to; it is bounded by max_response. */
struct buf *httpd_response_body(struct httpd_response *);

/* The reason phrase for a status ("Not Found"). */
const char *httpd_status_text(int status);

/*
 * Append s to out with & < > " ' as character references and control
 * characters (other than tab and newline) as U+FFFD, so the result is
 * safe in element content and in quoted attribute values.
 */
int	 httpd_html_escape(struct buf *out, const char *s);

/* The status page (statuspage.c).  Any string may be NULL (shown as -). */

/* An action the last pass held back, and the rule holding it. */
struct httpd_status_held {
	const char	*env;
	const char	*instance_id;
	const char	*rule;		/* empty-tree, protection, pass-budget, window-budget */
	const char	*reason;	/* the rule's words: why, until when */
};

struct httpd_status_facts {
	const char	*cluster_id;
	const char	*revision;	/* spec revision of the last pass */
	int		 leader;	/* 1 leader, 0 standby */
	int64_t		 last_pass_age;	/* seconds; negative: no pass yet */
	int64_t		 now;		/* unix seconds, for event times */
	const struct httpd_status_held *held;	/* the first nheld shown */
	size_t		 nheld;
	size_t		 nheld_total;	/* all the last pass held */
	const struct httpd_status_quota *quotas;	/* the fleet table's limits */
	size_t		 nquotas;
	const char	*ready_checks;	/* "status,marker,hostkey": the checklist */
};

/* A quota, as the fleet table shows its use (0: no limit). */
struct httpd_status_quota {
	const char	*workspace;	/* NULL: the whole cluster */
	unsigned	 max_envs;
	double		 max_usd_per_hour;
};

struct httpd_status_env {
	const char	*name;
	const char	*workspace;
	const char	*status;	/* ready, provisioning, error, ... */
	const char	*stage;
	const char	*instance_id;
	const char	*state;		/* EC2 instance state */
	const char	*ip;
	int64_t		 age_seconds;	/* negative: unknown */
	double		 cost;		/* USD so far; negative: unknown */
	const char	*last_error;
	const char	*host_keys;	/* verified fingerprints, space-separated */
	double		 usd_per_hour;	/* the rate it costs at now; 0: none */
	int64_t		 provision_seconds;	/* row to ready; negative: not ready */
};

/*
 * The environments a page shows, read one at a time: at(arg, i, out)
 * fills *out with the i-th (0 <= i < n), its strings valid until the next
 * call, so a caller can keep them compact and lend them out one by one.
 * httpd_status_envs_of() serves a plain array.
 */
struct httpd_status_envs {
	size_t		 n;
	void		(*at)(const void *arg, size_t i,
			    struct httpd_status_env *out);
	const void	*arg;
};
void	 httpd_status_envs_of(struct httpd_status_envs *,
	    const struct httpd_status_env *v, size_t n);

struct httpd_status_event {
	int64_t		 time;		/* unix seconds */
	const char	*env;
	const char	*type;
	const char	*summary;
};

/*
 * Append a self-contained HTML page (inline CSS, no scripts, no external
 * assets, refreshing every 10 s) showing facts (with the held actions,
 * when there are any), envs and events; every
 * string is HTML-escaped.  ERR_LIMIT when out's maximum is reached.
 */
int	 httpd_status_page_render(struct buf *out,
	    const struct httpd_status_facts *facts,
	    const struct httpd_status_envs *envs,
	    const struct httpd_status_event *events, size_t nevents);

/*
 * The page of one environment (/env?name=NAME): its facts, the readiness
 * checklist (facts->ready_checks, each check's state from its status and
 * stage), the verified host-key fingerprints, the line a developer types
 * to connect, its cost, why it waits or is held (held: the last pass's
 * hold of it, or NULL), and its events (events_error: why they could not
 * be read, or NULL).  Same rules as the status page.
 */
int	 httpd_status_env_page_render(struct buf *out,
	    const struct httpd_status_facts *facts,
	    const struct httpd_status_env *env, const struct httpd_status_held *held,
	    const struct httpd_status_event *events, size_t nevents,
	    const char *events_error);

/*
 * JSON bodies (statusjson.c) from the same structs: {"cluster_id", "role",
 * "revision", "last_pass_age_seconds", "held_total", "held": [{env,
 * instance_id, rule, reason}] (facts may be NULL, then these are
 * left out), "environments": [{name, workspace, status, stage,
 * instance_id, state, ip, age_seconds, cost_usd, last_error, host_keys}]} and
 * {"events": [{time (RFC 3339 UTC), env, type, summary}]}.  NULL strings
 * and negative "unknown" numbers are null; invalid UTF-8 becomes U+FFFD.
 * The environments are written one by one: 10,000 of them never exist as
 * one JSON tree.
 */
int	 httpd_status_envs_json(struct buf *out,
	    const struct httpd_status_facts *facts,
	    const struct httpd_status_envs *envs);
int	 httpd_status_events_json(struct buf *out,
	    const struct httpd_status_event *events, size_t nevents);

/*
 * Fill resp for /healthz: 200 when this controller is a standby, or the
 * leader and its last pass is at most max_pass_age seconds old; 503 with
 * status "starting" (leader, no pass yet) or "stale" otherwise.  The body
 * is JSON: {cluster_id, role, revision, last_pass_age_seconds, status,
 * max_pass_age_seconds}.
 */
int	 httpd_health_respond(struct httpd_response *,
	    const struct httpd_status_facts *, int64_t max_pass_age);

/*
 * A route handler for /metrics: arg is the struct metrics_registry * to
 * render, in the text format 0.0.4 with its content type.
 */
#define HTTPD_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
int	 httpd_metrics_handler(struct httpd_response *,
	    const struct httpd_request *, void *registry);

/* The Content-Security-Policy to serve the status page with. */
#define HTTPD_STATUS_PAGE_CSP	"default-src 'none'; style-src 'unsafe-inline'"

/* "3d 4h", "5m 10s", "42s"; "-" when negative. */
void	 httpd_duration_format(char *out, size_t outsz, int64_t seconds);

#endif
