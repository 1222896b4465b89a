/*
 * response.c - an AWS response: status, headers and a capped body (or a
 * body sink).
 */
#include <string.h>

#include "aws_int.h"

void
aws_response_init(struct aws_response *r)
{
	memset(r, 0, sizeof(*r));
	aws_headers_init(&r->headers);
	buf_init(&r->body, AWS_DEFAULT_MAX_BODY);
}

void
aws_response_dispose(struct aws_response *r)
{
	aws_headers_dispose(&r->headers);
	buf_dispose(&r->body);
	r->status = 0;
}

const char *
aws_response_header(const struct aws_response *r, const char *name)
{
	return aws_headers_get(&r->headers, name);
}

void
aws_response_reset(struct aws_response *r)
{
	aws_headers_dispose(&r->headers);
	buf_reset(&r->body);
	r->status = 0;
	r->sink_error = 0;
	r->sink_fed = 0;
	if (r->sink != NULL && r->sink_begin != NULL)
		r->sink_begin(r->sink_arg);
}
