/*
 * query.c - AWS query parameters (Action=...&Version=...) and their
 * encoding: RFC 3986 escaping, sorted by name as SigV4 wants.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_int.h"
#include "mem.h"

struct aws_query {
	struct aws_headers	 p;	/* same shape: ordered name/value pairs */
};

struct aws_query *
aws_query_new(const char *action, const char *version)
{
	struct aws_query *q = xcalloc(1, sizeof(*q));

	aws_headers_init(&q->p);
	aws_headers_add(&q->p, "Action", action);
	aws_headers_add(&q->p, "Version", version);
	return q;
}

void
aws_query_free(struct aws_query *q)
{
	if (q == NULL)
		return;
	aws_headers_dispose(&q->p);
	free(q);
}

void
aws_query_add(struct aws_query *q, const char *name, const char *value)
{
	aws_headers_add(&q->p, name, value);
}

void
aws_query_addf(struct aws_query *q, const char *value, const char *namefmt, ...)
{
	va_list ap;
	char *name;

	va_start(ap, namefmt);
	name = xvasprintf(namefmt, ap);
	va_end(ap);
	aws_headers_add(&q->p, name, value);
	free(name);
}

const char *
aws_query_get(const struct aws_query *q, const char *name)
{
	size_t i;

	for (i = 0; i < q->p.n; i++)
		if (strcmp(q->p.v[i].name, name) == 0)
			return q->p.v[i].value;
	return NULL;
}

int
aws_uri_escape(struct buf *out, const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	char enc[3] = { '%', 0, 0 };
	unsigned char c;
	int error = 0;

	for (; *s != '\0' && error == 0; s++) {
		c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
		    (keep_slash && c == '/'))
			error = buf_addch(out, (char)c);
		else {
			enc[1] = hex[c >> 4];
			enc[2] = hex[c & 15];
			error = buf_add(out, enc, 3);
		}
	}
	return error;
}

int
aws_query_encode(struct buf *out, const struct aws_query *q)
{
	size_t i;
	int error = 0;

	for (i = 0; i < q->p.n && error == 0; i++) {
		if (i > 0)
			error = buf_addch(out, '&');
		if (error == 0)
			error = aws_uri_escape(out, q->p.v[i].name, 0);
		if (error == 0)
			error = buf_addch(out, '=');
		if (error == 0)
			error = aws_uri_escape(out, q->p.v[i].value, 0);
	}
	return error;
}
