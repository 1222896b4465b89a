/*
 * httpd_int.h - internals of lib/httpd that the unit tests reach.
 */
#ifndef ENVCTL_HTTPD_INT_H
#define ENVCTL_HTTPD_INT_H

#include <stddef.h>

#define HTTPD_MAX_HEADERS	64

struct httpd_header {
	const char	*name;
	const char	*value;
};

/* Decoded query parameters a request hands out (freed by dispose). */
struct httpd_params {
	char	**v;
	size_t	  n;
};

/*
 * Strings point into the connection's input buffer, parsed in place.
 * Parameter lookups take a const request and keep what they decode in
 * params, through own (= &params, set by httpd_request_parse()).
 */
struct httpd_request {
	const char		*method;
	const char		*path;
	const char		*query;
	const char		*version;
	struct httpd_header	 hdr[HTTPD_MAX_HEADERS];
	size_t			 nhdr;
	struct httpd_params	 params;
	struct httpd_params	*own;
};

/*
 * Parse a complete request head (request line, headers, the empty line),
 * NUL-terminated, in place into req.  Returns 0 or the HTTP status to
 * refuse it with (400, 431, 505).  Strings in req point into head.
 */
int	 httpd_request_parse(struct httpd_request *req, char *head);
/* Free what httpd_request_param() allocated. */
void	 httpd_request_dispose(struct httpd_request *);
/* Split "host:port" or "[v6]:port"; the caller frees both. */
int	 httpd_addr_split(char **hostp, char **portp, const char *addr);
/* Percent-decode ('+' is space); NULL if it decodes to a NUL byte. */
char	*httpd_url_decode(const char *s, size_t len);

#endif
