/*
 * headers.c - an HTTP header list (case-insensitive names) for AWS
 * requests and responses.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws_int.h"
#include "mem.h"

void
aws_headers_init(struct aws_headers *h)
{
	memset(h, 0, sizeof(*h));
}

void
aws_headers_dispose(struct aws_headers *h)
{
	size_t i;

	for (i = 0; i < h->n; i++) {
		free(h->v[i].name);
		mem_free_secret(h->v[i].value);
	}
	free(h->v);
	memset(h, 0, sizeof(*h));
}

void
aws_headers_add(struct aws_headers *h, const char *name, const char *value)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 8;
		h->v = xreallocarray(h->v, h->cap, sizeof(h->v[0]));
	}
	h->v[h->n].name = xstrdup(name);
	h->v[h->n].value = xstrdup(value);
	h->n++;
}

void
aws_headers_set(struct aws_headers *h, const char *name, const char *value)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (strcasecmp(h->v[i].name, name) == 0) {
			mem_free_secret(h->v[i].value);
			h->v[i].value = xstrdup(value);
			return;
		}
	aws_headers_add(h, name, value);
}

const char *
aws_headers_get(const struct aws_headers *h, const char *name)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (strcasecmp(h->v[i].name, name) == 0)
			return h->v[i].value;
	return NULL;
}
