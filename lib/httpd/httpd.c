/*
 * httpd.c - the listener, connections and their state machine.
 *
 * A connection goes READ (collecting the request head) -> WRITE (sending
 * the one response) -> DRAIN (our side shut down; reading and discarding
 * until the client closes, so unread input does not turn our close into a
 * reset that eats the response) -> closed.  Every state has a deadline:
 * header_timeout_ms from connecting for READ, request_timeout_ms for
 * WRITE, HTTPD_DRAIN_MS for DRAIN.
 *
 * Limits under a flood (httpd.h): a connection records when it was
 * accepted, when it last moved a byte and a sequence number bumped at each
 * such moment, so "least recently active" is a strict order even on a
 * coarse or injected clock.  A connection accepted in the current
 * httpd_handle() call is never the one dropped: every connection is polled
 * once, and read if its request is there, before a newer one can push it
 * out.
 */
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/types.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "httpd.h"
#include "httpd_int.h"
#include "log.h"
#include "mem.h"

#define HTTPD_TIMEOUT_DEFAULT	5000
#define HTTPD_HEADER_TIMEOUT_DEFAULT 3000
#define HTTPD_MIN_IDLE_DEFAULT	250
#define HTTPD_CLIENTS_DEFAULT	HTTPD_MAX_CLIENTS_DEFAULT
#define HTTPD_REQUEST_DEFAULT	8192
#define HTTPD_RESPONSE_DEFAULT	(16u << 20)
#define HTTPD_DRAIN_MS		1000
#define HTTPD_MAX_RESP_HEADERS	16
#define HTTPD_MAX_HEADER_VALUE	1024	/* bytes in a response header value */
#define HTTPD_ACCEPT_PAUSE_MS	100	/* after EMFILE and the like */
#define HTTPD_WARN_EVERY_MS	60000	/* at most one "dropping" warning */

enum conn_state {
	CONN_READ,
	CONN_WRITE,
	CONN_DRAIN,
};

struct conn {
	int		 fd;
	enum conn_state	 state;
	int64_t		 deadline;
	int64_t		 accepted;	/* ms */
	int64_t		 active;	/* ms, last byte moved (or accepted) */
	uint64_t	 seq;		/* orders activity strictly */
	uint64_t	 gen;		/* the httpd_handle() call that accepted it */
	char		*in;		/* max_request + 1 bytes */
	size_t		 inlen;
	struct buf	 out;		/* status line and headers */
	struct buf	 body;		/* the response's body, moved, not copied */
	size_t		 outoff;	/* sent so far, of out then body */
	char		 peer[64];
};

struct httpd {
	int			 lfd;
	int			 port;
	struct httpd_options	 opts;
	struct httpd_route	*routes;
	size_t			 nroutes;
	struct conn		**conns;	/* max_clients slots, nconns used */
	size_t			 nconns;
	int64_t			 accept_paused_until;
	uint64_t		 seq;		/* last conn->seq given */
	uint64_t		 gen;		/* httpd_handle() calls */
	struct httpd_stats	 stats;
	uint64_t		 dropped_warned;	/* drops already warned of */
	int64_t			 warned_at;
};

struct httpd_response {
	int		 status;
	char		*type;
	struct {
		char	*name;
		char	*value;
	}		 hdr[HTTPD_MAX_RESP_HEADERS];	/* owned copies */
	size_t		 nhdr;
	struct buf	 body;
};

static int64_t
clock_monotonic_ms(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
httpd_now(const struct httpd *h)
{
	return h->opts.clock(h->opts.clock_arg);
}

const char *
httpd_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default:  return "Unknown";
	}
}

/* Addresses. */

static int
addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		const uint8_t *b = in6->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && b[12] == 127;
	}
	return 0;
}

/* Split "host:port" / "[v6]:port"; the caller frees *hostp. */
int
httpd_addr_split(char **hostp, char **portp, const char *addr)
{
	const char *colon, *host, *hend;
	char *end;
	long port;

	*hostp = *portp = NULL;
	if (addr == NULL || (colon = strrchr(addr, ':')) == NULL) {
		err_set("listen address \"%s\" is not HOST:PORT", addr ? addr : "");
		return ERR_INVALID;
	}
	host = addr;
	hend = colon;
	if (*addr == '[') {
		if (colon == addr || colon[-1] != ']') {
			err_set("listen address \"%s\": bad [IPv6] form", addr);
			return ERR_INVALID;
		}
		host = addr + 1;
		hend = colon - 1;
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 0 ||
	    port > 65535 || !isdigit((unsigned char)colon[1])) {
		err_set("listen address \"%s\": bad port", addr);
		return ERR_INVALID;
	}
	*hostp = xstrndup(host, (size_t)(hend - host));
	*portp = xasprintf("%ld", port);
	return 0;
}

static int
httpd_listen(struct httpd *h, const char *addr)
{
	struct addrinfo hints, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char *host = NULL, *port = NULL;
	int fd = -1, one = 1, rc, error;

	if ((error = httpd_addr_split(&host, &port, addr)) < 0)
		goto out;
	error = ERR_INVALID;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	if ((rc = getaddrinfo(*host ? host : NULL, port, &hints, &res)) != 0) {
		err_set("listen address \"%s\": %s", addr, gai_strerror(rc));
		goto out;
	}
	if (!addr_is_loopback(res->ai_addr) && !h->opts.allow_nonloopback) {
		err_set("listen address \"%s\" is not a loopback address", addr);
		goto out;
	}
	error = ERR_UNAVAILABLE;
	fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    res->ai_protocol);
	if (fd < 0) {
		err_set("socket: %s", strerror(errno));
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
		err_set("bind %s: %s", addr, strerror(errno));
		goto out;
	}
	if (listen(fd, h->opts.listen_backlog) < 0) {
		err_set("listen %s: %s", addr, strerror(errno));
		goto out;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0) {
		err_set("getsockname: %s", strerror(errno));
		goto out;
	}
	h->port = ntohs(ss.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port);
	h->lfd = fd;
	fd = -1;
	error = 0;
out:
	if (fd >= 0)
		close(fd);
	if (res != NULL)
		freeaddrinfo(res);
	free(host);
	free(port);
	return error;
}

int
httpd_new(struct httpd **out, const char *addr, const struct httpd_options *opts)
{
	struct httpd *h;
	int error;

	*out = NULL;
	h = xcalloc(1, sizeof(*h));
	h->lfd = -1;
	if (opts != NULL)
		h->opts = *opts;
	if (h->opts.request_timeout_ms <= 0)
		h->opts.request_timeout_ms = HTTPD_TIMEOUT_DEFAULT;
	if (h->opts.header_timeout_ms <= 0)
		h->opts.header_timeout_ms = HTTPD_HEADER_TIMEOUT_DEFAULT;
	if (h->opts.header_timeout_ms > h->opts.request_timeout_ms)
		h->opts.header_timeout_ms = h->opts.request_timeout_ms;
	if (h->opts.min_idle_ms <= 0)
		h->opts.min_idle_ms = HTTPD_MIN_IDLE_DEFAULT;
	if (h->opts.max_clients == 0)
		h->opts.max_clients = HTTPD_CLIENTS_DEFAULT;
	if (h->opts.max_per_client == 0)
		h->opts.max_per_client = h->opts.max_clients / 4;
	if (h->opts.max_per_client == 0)
		h->opts.max_per_client = 1;
	if (h->opts.listen_backlog <= 0)
		h->opts.listen_backlog = h->opts.max_clients > INT_MAX / 2 ?
		    INT_MAX : (int)(2 * h->opts.max_clients);
	if (h->opts.max_request == 0)
		h->opts.max_request = HTTPD_REQUEST_DEFAULT;
	if (h->opts.max_response == 0)
		h->opts.max_response = HTTPD_RESPONSE_DEFAULT;
	if (h->opts.clock == NULL)
		h->opts.clock = clock_monotonic_ms;
	h->conns = xcalloc(h->opts.max_clients, sizeof(*h->conns));
	if ((error = httpd_listen(h, addr)) < 0) {
		httpd_free(h);
		return error;
	}
	*out = h;
	return 0;
}

static void
conn_close(struct httpd *h, size_t i)
{
	struct conn *c = h->conns[i];

	close(c->fd);
	free(c->in);
	buf_dispose(&c->out);
	buf_dispose(&c->body);
	free(c);
	h->conns[i] = h->conns[--h->nconns];
	h->conns[h->nconns] = NULL;
}

void
httpd_free(struct httpd *h)
{
	if (h == NULL)
		return;
	while (h->nconns > 0)
		conn_close(h, h->nconns - 1);
	if (h->lfd >= 0)
		close(h->lfd);
	free(h->conns);
	free(h->routes);
	free(h);
}

int
httpd_port(const struct httpd *h)
{
	return h->port;
}

size_t
httpd_clients(const struct httpd *h)
{
	return h->nconns;
}

void
httpd_stats_get(struct httpd_stats *out, const struct httpd *h)
{
	*out = h->stats;
}

static void
conn_touch(struct httpd *h, struct conn *c)
{
	c->active = httpd_now(h);
	c->seq = ++h->seq;
}

/*
 * When c may be dropped for a newer connection when the server is full:
 * min_idle_ms after it connected while it has not sent a whole request,
 * min_idle_ms after it last moved a byte once it has.
 */
static int64_t
conn_evictable_at(const struct httpd *h, const struct conn *c)
{
	return (c->state == CONN_READ ? c->accepted : c->active) +
	    h->opts.min_idle_ms;
}

/*
 * The connection to drop for a newer one, or -1: the least recently
 * active of those not accepted in this httpd_handle() call (gen), only
 * from peer when peer is not NULL, only evictable ones when strict;
 * otherwise evictable ones first.
 */
static ssize_t
conn_victim(const struct httpd *h, const char *peer, int strict, int64_t now,
    uint64_t gen)
{
	ssize_t best = -1;
	int best_ok = 0, ok;
	size_t i;

	for (i = 0; i < h->nconns; i++) {
		const struct conn *c = h->conns[i];

		if (c->gen == gen || (peer != NULL && strcmp(c->peer, peer) != 0))
			continue;
		ok = now >= conn_evictable_at(h, c);
		if (strict && !ok)
			continue;
		if (best < 0 || ok > best_ok ||
		    (ok == best_ok && c->seq < h->conns[best]->seq)) {
			best = (ssize_t)i;
			best_ok = ok;
		}
	}
	return best;
}

/* Whether a connection may be accepted now (gen: this call's). */
static int
httpd_has_room(const struct httpd *h, int64_t now, uint64_t gen)
{
	return h->nconns < h->opts.max_clients ||
	    conn_victim(h, NULL, 1, now, gen) >= 0;
}

void
httpd_routes_set(struct httpd *h, const struct httpd_route *routes, size_t n)
{
	free(h->routes);
	h->routes = NULL;
	h->nroutes = n;
	if (n > 0) {
		h->routes = xcalloc(n, sizeof(*routes));
		memcpy(h->routes, routes, n * sizeof(*routes));
	}
}

size_t
httpd_fds(struct httpd *h, struct pollfd *fds, size_t nfds)
{
	int64_t now = httpd_now(h);
	size_t n = 0, i;

	if ((h->accept_paused_until == 0 || now >= h->accept_paused_until) &&
	    httpd_has_room(h, now, 0)) {
		h->accept_paused_until = 0;
		if (n < nfds)
			fds[n] = (struct pollfd){ .fd = h->lfd, .events = POLLIN };
		n++;
	}
	for (i = 0; i < h->nconns; i++, n++) {
		if (n < nfds)
			fds[n] = (struct pollfd){
				.fd = h->conns[i]->fd,
				.events = h->conns[i]->state == CONN_WRITE ?
				    POLLOUT : POLLIN,
			};
	}
	return n;
}

int
httpd_timeout_ms(struct httpd *h)
{
	int64_t now, best = -1, left, room_at = -1;
	size_t i;

	if (h->nconns == 0 && h->accept_paused_until == 0)
		return -1;
	now = httpd_now(h);
	if (h->accept_paused_until != 0)
		best = h->accept_paused_until > now ? h->accept_paused_until - now : 0;
	for (i = 0; i < h->nconns; i++) {
		const struct conn *c = h->conns[i];

		left = c->deadline - now;
		if (left < 0)
			left = 0;
		if (best < 0 || left < best)
			best = left;
		if (room_at < 0 || conn_evictable_at(h, c) < room_at)
			room_at = conn_evictable_at(h, c);
	}
	/* full: wake when the listener may be polled again */
	if (h->nconns >= h->opts.max_clients && room_at > now &&
	    (best < 0 || room_at - now < best))
		best = room_at - now;
	return best > INT_MAX ? INT_MAX : (int)best;
}

/* Requests. */

const char *
httpd_request_method(const struct httpd_request *r)
{
	return r->method;
}

const char *
httpd_request_path(const struct httpd_request *r)
{
	return r->path;
}

const char *
httpd_request_query(const struct httpd_request *r)
{
	return r->query;
}

const char *
httpd_request_header(const struct httpd_request *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nhdr; i++)
		if (strcasecmp(r->hdr[i].name, name) == 0)
			return r->hdr[i].value;
	return NULL;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Percent-decode s[0..len) ('+' is a space) into a new string; invalid
 * escapes stay as they are.  NULL when the result would hold a NUL.
 */
char *
httpd_url_decode(const char *s, size_t len)
{
	char *out = xmalloc(len + 1), *o = out;
	size_t i;

	for (i = 0; i < len; i++) {
		int hi, lo;

		if (s[i] == '+')
			*o++ = ' ';
		else if (s[i] == '%' && i + 2 < len &&
		    (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)s[i + 2])) >= 0) {
			if (hi == 0 && lo == 0) {
				free(out);
				return NULL;
			}
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else
			*o++ = s[i];
	}
	*o = '\0';
	return out;
}

const char *
httpd_request_param(const struct httpd_request *r, const char *name)
{
	struct httpd_params *own = r->own;
	const char *p = r->query, *amp, *eq;
	char *key, *val;
	int match;

	while (*p != '\0') {
		amp = strchr(p, '&');
		if (amp == NULL)
			amp = p + strlen(p);
		eq = memchr(p, '=', (size_t)(amp - p));
		key = httpd_url_decode(p, (size_t)((eq ? eq : amp) - p));
		match = key != NULL && strcmp(key, name) == 0;
		free(key);
		if (match) {
			val = eq ? httpd_url_decode(eq + 1, (size_t)(amp - eq - 1))
			    : xstrdup("");
			if (val == NULL)
				return NULL;
			if (own == NULL) {	/* not from httpd_request_parse() */
				free(val);
				return NULL;
			}
			own->v = xreallocarray(own->v, own->n + 1, sizeof(*own->v));
			own->v[own->n++] = val;
			return val;
		}
		p = *amp ? amp + 1 : amp;
	}
	return NULL;
}

void
httpd_request_dispose(struct httpd_request *r)
{
	size_t i;

	for (i = 0; i < r->params.n; i++)
		free(r->params.v[i]);
	free(r->params.v);
	r->params.v = NULL;
	r->params.n = 0;
}

int
httpd_request_param_int(long *out, const struct httpd_request *r,
    const char *name, long def, long min, long max)
{
	const char *v = httpd_request_param(r, name);
	char *end;
	long n;

	*out = def;
	if (v == NULL)
		return 0;
	errno = 0;
	n = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0 || n < min || n > max) {
		err_set("parameter %s must be an integer from %ld to %ld", name,
		    min, max);
		return ERR_INVALID;
	}
	*out = n;
	return 0;
}

/* Responses. */

void
httpd_response_status(struct httpd_response *r, int status)
{
	r->status = status;
}

static int
header_value_ok(const char *v)
{
	const char *p;

	for (p = v; *p != '\0'; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			return 0;
	return 1;
}

static int
is_tchar(int c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int
token_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!is_tchar((unsigned char)*s))
			return 0;
	return 1;
}

int
httpd_response_type(struct httpd_response *r, const char *type)
{
	if (!header_value_ok(type) || strlen(type) > HTTPD_MAX_HEADER_VALUE) {
		err_set("content type too long or with control characters");
		return ERR_INVALID;
	}
	free(r->type);
	r->type = xstrdup(type);
	return 0;
}

int
httpd_response_header(struct httpd_response *r, const char *name,
    const char *value)
{
	if (!token_ok(name) || strlen(name) > 64 || !header_value_ok(value) ||
	    strlen(value) > HTTPD_MAX_HEADER_VALUE) {
		err_set("invalid response header");
		return ERR_INVALID;
	}
	if (r->nhdr == HTTPD_MAX_RESP_HEADERS) {
		err_set("more than %d response headers", HTTPD_MAX_RESP_HEADERS);
		return ERR_LIMIT;
	}
	r->hdr[r->nhdr].name = xstrdup(name);
	r->hdr[r->nhdr].value = xstrdup(value);
	r->nhdr++;
	return 0;
}

struct buf *
httpd_response_body(struct httpd_response *r)
{
	return &r->body;
}

static void
response_init(struct httpd_response *r, size_t max)
{
	memset(r, 0, sizeof(*r));
	r->status = 200;
	buf_init(&r->body, max);
}

static void
response_dispose(struct httpd_response *r)
{
	size_t i;

	for (i = 0; i < r->nhdr; i++) {
		free(r->hdr[i].name);
		free(r->hdr[i].value);
	}
	free(r->type);
	buf_dispose(&r->body);
}

/*
 * Put status line and headers in c->out and (unless head_only) move r's
 * body to c->body: a page of megabytes is not held twice while it is sent.
 */
static void
conn_respond(struct conn *c, struct httpd_response *r, int head_only)
{
	size_t i;

	buf_init(&c->out, 4096 + HTTPD_MAX_RESP_HEADERS * 1024);
	buf_printf(&c->out, "HTTP/1.1 %d %s\r\n", r->status,
	    httpd_status_text(r->status));
	buf_printf(&c->out, "Content-Type: %s\r\n",
	    r->type ? r->type : "text/plain; charset=utf-8");
	buf_printf(&c->out, "Content-Length: %zu\r\n", r->body.len);
	buf_addstr(&c->out, "Connection: close\r\n"
	    "Cache-Control: no-store\r\n"
	    "X-Content-Type-Options: nosniff\r\n");
	for (i = 0; i < r->nhdr; i++)
		buf_printf(&c->out, "%s: %s\r\n", r->hdr[i].name, r->hdr[i].value);
	buf_addstr(&c->out, "\r\n");
	buf_init(&c->body, 0);
	if (!head_only) {
		c->body = r->body;
		buf_init(&r->body, 0);
	}
	c->outoff = 0;
	c->state = CONN_WRITE;
}

static void
conn_respond_error(struct httpd *h, struct conn *c, int status)
{
	struct httpd_response r;

	response_init(&r, 256);
	r.status = status;
	buf_printf(&r.body, "%d %s\n", status, httpd_status_text(status));
	if (status == 405)
		httpd_response_header(&r, "Allow", "GET, HEAD");
	conn_respond(c, &r, 0);
	response_dispose(&r);
	c->deadline = httpd_now(h) + h->opts.request_timeout_ms;
	log_debug("httpd: peer=%s status=%d", c->peer, status);
}

static const struct httpd_route *
route_find(const struct httpd *h, const char *path)
{
	size_t i, len;

	for (i = 0; i < h->nroutes; i++) {
		const char *rp = h->routes[i].path;

		len = strlen(rp);
		if (len > 0 && rp[len - 1] == '*') {
			if (strncmp(path, rp, len - 1) == 0)
				return &h->routes[i];
		} else if (strcmp(path, rp) == 0)
			return &h->routes[i];
	}
	return NULL;
}

static void
conn_dispatch(struct httpd *h, struct conn *c, struct httpd_request *req)
{
	const struct httpd_route *rt;
	struct httpd_response r;
	char esc[128];
	int head = strcmp(req->method, "HEAD") == 0;

	response_init(&r, h->opts.max_response);
	if ((rt = route_find(h, req->path)) == NULL) {
		r.status = 404;
		buf_printf(&r.body, "404 %s\n", httpd_status_text(404));
	} else if (rt->handler(&r, req, rt->arg) < 0) {
		log_warnx("httpd: handler for %s failed: %s",
		    log_escape(esc, sizeof(esc), req->path), err_get());
		response_dispose(&r);
		response_init(&r, 256);
		r.status = 500;
		buf_printf(&r.body, "500 %s\n", httpd_status_text(500));
	}
	if (r.status < 100 || r.status > 599)
		r.status = 500;
	log_debug("httpd: peer=%s %s %s status=%d bytes=%zu", c->peer,
	    req->method, log_escape(esc, sizeof(esc), req->path), r.status,
	    r.body.len);
	httpd_request_dispose(req);
	conn_respond(c, &r, head);
	response_dispose(&r);
	c->deadline = httpd_now(h) + h->opts.request_timeout_ms;
}

/*
 * Parse the request head in c->in (NUL-terminated, complete) in place.
 * Returns 0 or the HTTP status to refuse it with.
 */
int
httpd_request_parse(struct httpd_request *req, char *head)
{
	char *line, *next, *sp1, *sp2, *p, *colon, *v, *e;
	int first = 1;

	memset(req, 0, sizeof(*req));
	req->own = &req->params;
	for (line = head; *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) == NULL)
			return 400;
		*next++ = '\0';
		if (next - line >= 2 && next[-2] == '\r')
			next[-2] = '\0';
		if (strchr(line, '\r') != NULL)
			return 400;
		if (first) {
			first = 0;
			if ((sp1 = strchr(line, ' ')) == NULL ||
			    (sp2 = strchr(sp1 + 1, ' ')) == NULL ||
			    strchr(sp2 + 1, ' ') != NULL)
				return 400;
			*sp1 = *sp2 = '\0';
			if (!token_ok(line) || sp1[1] != '/')
				return 400;
			for (p = sp1 + 1; *p != '\0'; p++)
				if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
					return 400;
			if (strncmp(sp2 + 1, "HTTP/", 5) != 0 ||
			    !isdigit((unsigned char)sp2[6]) || sp2[7] != '.' ||
			    !isdigit((unsigned char)sp2[8]) || sp2[9] != '\0')
				return 400;
			if (strcmp(sp2 + 1, "HTTP/1.1") != 0 &&
			    strcmp(sp2 + 1, "HTTP/1.0") != 0)
				return 505;
			req->method = line;
			req->path = sp1 + 1;
			if ((p = strchr(sp1 + 1, '?')) != NULL) {
				*p = '\0';
				req->query = p + 1;
			} else
				req->query = "";
			req->version = sp2 + 1;
			continue;
		}
		if (*line == '\0')
			break;
		if (*line == ' ' || *line == '\t')
			return 400;	/* obsolete line folding */
		if ((colon = strchr(line, ':')) == NULL)
			return 400;
		*colon = '\0';
		if (!token_ok(line))
			return 400;
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		for (e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		if (!header_value_ok(v))
			return 400;
		if (req->nhdr == HTTPD_MAX_HEADERS)
			return 431;
		req->hdr[req->nhdr].name = line;
		req->hdr[req->nhdr].value = v;
		req->nhdr++;
	}
	if (req->method == NULL)
		return 400;
	/* RFC 9112 3.2: a 1.1 request without Host is refused. */
	if (strcmp(req->version, "HTTP/1.1") == 0 &&
	    httpd_request_header(req, "Host") == NULL)
		return 400;
	return 0;
}

/* A complete head is in c->in: parse, route, respond. */
static void
conn_process(struct httpd *h, struct conn *c)
{
	struct httpd_request req;
	int status;

	status = httpd_request_parse(&req, c->in);
	if (status == 0 && strcmp(req.method, "GET") != 0 &&
	    strcmp(req.method, "HEAD") != 0)
		status = 405;
	if (status != 0) {
		conn_respond_error(h, c, status);
		return;
	}
	conn_dispatch(h, c, &req);
}

/* The end of the request head in buf[0..len), or NULL. */
static char *
head_end(char *buf, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return buf + i + 2;
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			return buf + i + 3;
	}
	return NULL;
}

static int	conn_write(struct httpd *, struct conn *);

/* Returns -1 when the connection is to be closed. */
static int
conn_read(struct httpd *h, struct conn *c)
{
	char *end;
	ssize_t n;
	int status;

	for (;;) {
		size_t room = h->opts.max_request - c->inlen;

		if (room == 0) {
			status = memchr(c->in, '\n', c->inlen) ? 431 : 414;
			conn_respond_error(h, c, status);
			return conn_write(h, c);
		}
		n = recv(c->fd, c->in + c->inlen, room, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		conn_touch(h, c);
		if (memchr(c->in + c->inlen, '\0', (size_t)n) != NULL) {
			c->inlen += (size_t)n;
			conn_respond_error(h, c, 400);
			return conn_write(h, c);
		}
		c->inlen += (size_t)n;
		c->in[c->inlen] = '\0';
		if ((end = head_end(c->in, c->inlen)) != NULL) {
			*end = '\0';	/* anything after the head is ignored */
			conn_process(h, c);
			return conn_write(h, c);
		}
	}
}

static int
conn_write(struct httpd *h, struct conn *c)
{
	struct iovec iov[2];
	struct msghdr msg;
	ssize_t n;

	while (c->outoff < c->out.len + c->body.len) {
		/* what is left of the head, then of the body, in one call */
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		if (c->outoff < c->out.len) {
			iov[0].iov_base = c->out.ptr + c->outoff;
			iov[0].iov_len = c->out.len - c->outoff;
			iov[1].iov_base = c->body.ptr;
			iov[1].iov_len = c->body.len;
			msg.msg_iovlen = c->body.len > 0 ? 2 : 1;
		} else {
			iov[0].iov_base = c->body.ptr + (c->outoff - c->out.len);
			iov[0].iov_len = c->body.len - (c->outoff - c->out.len);
			msg.msg_iovlen = 1;
		}
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return -1;
		c->outoff += (size_t)n;
		conn_touch(h, c);
	}
	buf_dispose(&c->out);
	buf_dispose(&c->body);
	shutdown(c->fd, SHUT_WR);
	c->state = CONN_DRAIN;
	c->deadline = httpd_now(h) + HTTPD_DRAIN_MS;
	return 0;
}

static int
conn_drain(struct conn *c)
{
	char junk[4096];
	ssize_t n;

	for (;;) {
		n = recv(c->fd, junk, sizeof(junk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
	}
}

/* Note a connection dropped for a newer one; warn at most once a minute. */
static void
httpd_dropped(struct httpd *h, size_t victim, uint64_t *counter,
    const char *why, int64_t now)
{
	uint64_t total;

	(*counter)++;
	total = h->stats.dropped_full + h->stats.dropped_client;
	log_debug("httpd: peer=%s dropped for a newer connection (%s)",
	    h->conns[victim]->peer, why);
	if (h->warned_at == 0 || now - h->warned_at >= HTTPD_WARN_EVERY_MS) {
		log_warnx("httpd: %llu connection(s) dropped for newer ones (%s), "
		    "the least recently active first",
		    (unsigned long long)(total - h->dropped_warned), why);
		h->warned_at = now;
		h->dropped_warned = total;
	}
	conn_close(h, victim);
}

/* Connections from peer. */
static size_t
httpd_peer_count(const struct httpd *h, const char *peer)
{
	size_t i, n = 0;

	for (i = 0; i < h->nconns; i++)
		if (strcmp(h->conns[i]->peer, peer) == 0)
			n++;
	return n;
}

/*
 * Accept what is waiting, making room by the rules in httpd.h; at most
 * half a per-client cap in one call, so that an address at its cap always
 * has a connection from an earlier call to give up.
 */
static void
httpd_accept(struct httpd *h, int64_t now)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct conn *c;
	char host[INET6_ADDRSTRLEN];
	size_t batch, k, own_cap;
	ssize_t v;
	int fd;

	own_cap = h->opts.max_per_client < h->opts.max_clients ?
	    h->opts.max_per_client : h->opts.max_clients;
	batch = own_cap / 2 > 0 ? own_cap / 2 : 1;
	for (k = 0; k < batch && httpd_has_room(h, now, h->gen); k++) {
		sslen = sizeof(ss);
		fd = accept4(h->lfd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED) {
				/* EMFILE and friends: the listener stays readable,
				 * so stop polling it for a moment, not spin. */
				log_warn("httpd: accept");
				h->accept_paused_until = now + HTTPD_ACCEPT_PAUSE_MS;
			}
			return;
		}
		if (getnameinfo((struct sockaddr *)&ss, sslen, host, sizeof(host),
		    NULL, 0, NI_NUMERICHOST) != 0)
			snprintf(host, sizeof(host), "?");
		h->stats.accepted++;
		if (h->opts.max_per_client < h->opts.max_clients &&
		    httpd_peer_count(h, host) >= h->opts.max_per_client &&
		    (v = conn_victim(h, host, 0, now, h->gen)) >= 0)
			httpd_dropped(h, (size_t)v, &h->stats.dropped_client,
			    "per-client cap", now);
		else if (h->nconns >= h->opts.max_clients &&
		    (v = conn_victim(h, NULL, 1, now, h->gen)) >= 0)
			httpd_dropped(h, (size_t)v, &h->stats.dropped_full,
			    "connection cap", now);
		if (h->nconns >= h->opts.max_clients) {	/* not reached */
			close(fd);
			break;
		}
		c = xcalloc(1, sizeof(*c));
		c->fd = fd;
		c->state = CONN_READ;
		c->in = xmalloc(h->opts.max_request + 1);
		c->in[0] = '\0';
		c->accepted = now;
		c->gen = h->gen;
		conn_touch(h, c);
		c->deadline = now + h->opts.header_timeout_ms;
		snprintf(c->peer, sizeof(c->peer), "%s", host);
		h->conns[h->nconns++] = c;
	}
}

static struct conn *
conn_find(struct httpd *h, int fd, size_t *idx)
{
	size_t i;

	for (i = 0; i < h->nconns; i++)
		if (h->conns[i]->fd == fd) {
			*idx = i;
			return h->conns[i];
		}
	return NULL;
}

int
httpd_handle(struct httpd *h, const struct pollfd *fds, size_t nfds)
{
	struct conn *c;
	size_t i, idx;
	int64_t now;
	int listener_ready = 0, rc;

	h->gen++;
	for (i = 0; i < nfds; i++) {
		if (fds[i].revents == 0 || fds[i].fd < 0)
			continue;
		if (fds[i].fd == h->lfd) {
			listener_ready = 1;
			continue;
		}
		if ((c = conn_find(h, fds[i].fd, &idx)) == NULL)
			continue;
		switch (c->state) {
		case CONN_READ:
			rc = conn_read(h, c);
			break;
		case CONN_WRITE:
			rc = conn_write(h, c);
			break;
		default:
			rc = conn_drain(c);
			break;
		}
		if (rc < 0)
			conn_close(h, idx);
	}
	now = httpd_now(h);
	for (i = h->nconns; i-- > 0; ) {
		c = h->conns[i];
		if (now >= c->deadline) {
			if (c->state != CONN_DRAIN) {
				h->stats.timed_out++;
				log_debug("httpd: peer=%s %s timed out", c->peer,
				    c->state == CONN_READ ? "request" : "response");
			}
			conn_close(h, i);
		}
	}
	/* After the clients, so a reused fd number is never mistaken. */
	if (listener_ready)
		httpd_accept(h, now);
	return 0;
}

int
httpd_poll_once(struct httpd *h, int max_wait_ms)
{
	struct pollfd *fds;
	size_t n;
	int timeout, rc;

	n = 1 + h->opts.max_clients;
	fds = xcalloc(n, sizeof(*fds));
	n = httpd_fds(h, fds, n);
	timeout = httpd_timeout_ms(h);
	if (timeout < 0 || timeout > max_wait_ms)
		timeout = max_wait_ms;
	rc = poll(fds, n, timeout);
	if (rc < 0 && errno != EINTR) {
		err_set("poll: %s", strerror(errno));
		free(fds);
		return ERR_GENERIC;
	}
	if (rc < 0)
		n = 0;
	httpd_handle(h, fds, n);
	free(fds);
	return 0;
}

/* HTML. */

int
httpd_html_escape(struct buf *out, const char *s)
{
	const unsigned char *p;
	int error = 0;

	if (s == NULL)
		return 0;
	for (p = (const unsigned char *)s; *p != '\0' && error == 0; p++) {
		switch (*p) {
		case '&':  error = buf_addstr(out, "&amp;"); break;
		case '<':  error = buf_addstr(out, "&lt;"); break;
		case '>':  error = buf_addstr(out, "&gt;"); break;
		case '"':  error = buf_addstr(out, "&quot;"); break;
		case '\'': error = buf_addstr(out, "&#39;"); break;
		case '\t':
		case '\n': error = buf_addch(out, (char)*p); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				error = buf_addstr(out, "\xef\xbf\xbd");
			else
				error = buf_addch(out, (char)*p);
		}
	}
	return error;
}
