/*
 * fuzz_httpd.c - libFuzzer target for the request head parser of
 * lib/httpd (httpd_request_parse, httpd_int.h), the query parameters
 * read from it, and the listen address splitter.
 *
 * The bytes are what a client sent.  As conn_read() does, a NUL byte is
 * refused before parsing and the head is cut after its empty line; an
 * input with no empty line is parsed whole too (the parser must hold on
 * any NUL-terminated string).  Promises checked: the answer is 0 or a
 * status to refuse with (400, 431, 505); an accepted request has a
 * method, a path starting with '/', a query and a version, all inside
 * the buffer, and at most HTTPD_MAX_HEADERS headers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "httpd_int.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail_unless(int ok)
{
	if (!ok)
		abort();
}

static int
inside(const char *s, const char *buf, size_t size)
{
	return s >= buf && s <= buf + size;
}

/* Where conn_read()'s head_end() cuts: after "\n\n" or "\n\r\n". */
static size_t
head_len(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

static void
request(const uint8_t *data, size_t size)
{
	struct httpd_request req;
	const char *v;
	char *buf;
	size_t i;
	long n;
	int status, error;

	buf = malloc(size + 1);
	fail_unless(buf != NULL);
	memcpy(buf, data, size);
	buf[size] = '\0';
	buf[head_len(buf, size)] = '\0';
	status = httpd_request_parse(&req, buf);
	fail_unless(status == 0 || status == 400 || status == 431 ||
	    status == 505);
	if (status == 0) {
		fail_unless(req.method != NULL && inside(req.method, buf, size));
		fail_unless(req.path != NULL && inside(req.path, buf, size));
		fail_unless(req.path[0] == '/');
		fail_unless(req.query != NULL);
		fail_unless(req.version != NULL && inside(req.version, buf, size));
		fail_unless(req.nhdr <= HTTPD_MAX_HEADERS);
		for (i = 0; i < req.nhdr; i++)
			fail_unless(inside(req.hdr[i].name, buf, size) &&
			    inside(req.hdr[i].value, buf, size) &&
			    req.hdr[i].name[0] != '\0');
		(void)httpd_request_header(&req, "Host");
		(void)httpd_request_header(&req, "if-none-match");
		if ((v = httpd_request_param(&req, "env")) != NULL)
			fail_unless(strlen(v) <= size);
		(void)httpd_request_param(&req, "");
		(void)httpd_request_param(&req, "a b");
		error = httpd_request_param_int(&n, &req, "limit", 50, 1, 1000);
		fail_unless(error == 0 ? n >= 1 && n <= 1000 : n == 50);
		httpd_request_dispose(&req);
		fail_unless(req.params.v == NULL && req.params.n == 0);
	}
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, *host, *port;
	int error;

	if (memchr(data, '\0', size) != NULL)
		return 0;	/* conn_read() answers 400 before parsing */
	request(data, size);

	if ((s = httpd_url_decode((const char *)data, size)) != NULL) {
		fail_unless(strlen(s) <= size);
		free(s);
	}
	if (size < 256 && memchr(data, '\n', size) == NULL) {
		s = malloc(size + 1);
		fail_unless(s != NULL);
		memcpy(s, data, size);
		s[size] = '\0';
		error = httpd_addr_split(&host, &port, s);
		fail_unless(error == 0 ? host != NULL && port != NULL :
		    host == NULL && port == NULL);
		free(host);
		free(port);
		free(s);
	}
	return 0;
}
