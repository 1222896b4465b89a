#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "mem.h"

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
buf_init_secret(struct buf *b, size_t max)
{
	buf_init(b, max);
	b->secret = 1;
}

void
buf_dispose(struct buf *b)
{
	if (b->ptr != NULL && b->secret)
		mem_wipe(b->ptr, b->cap);
	free(b->ptr);
	b->ptr = NULL;
	b->len = b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	if (b->ptr != NULL && b->secret)
		mem_wipe(b->ptr, b->len);
	b->len = 0;
	if (b->ptr != NULL)
		b->ptr[0] = '\0';
}

static int
buf_grow(struct buf *b, size_t add)
{
	size_t need, cap;
	char *p;

	if (add > b->max || b->len > b->max - add) {
		err_set("buffer limit of %zu bytes reached", b->max);
		return ERR_LIMIT;
	}
	need = b->len + add + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	if (b->secret) {
		/* realloc could leave a copy behind: move by hand and wipe. */
		p = xmalloc(cap);
		if (b->ptr != NULL) {
			memcpy(p, b->ptr, b->len + 1);
			mem_wipe(b->ptr, b->cap);
			free(b->ptr);
		}
	} else
		p = xrealloc(b->ptr, cap);
	b->ptr = p;
	b->cap = cap;
	return 0;
}

int
buf_add(struct buf *b, const void *data, size_t len)
{
	int error;

	if ((error = buf_grow(b, len)) < 0)
		return error;
	if (len > 0)
		memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return 0;
}

int
buf_addstr(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_addch(struct buf *b, char c)
{
	return buf_add(b, &c, 1);
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n, error;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		err_set("format error");
		return ERR_INVALID;
	}
	if ((error = buf_grow(b, (size_t)n)) < 0)
		return error;
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int error;

	va_start(ap, fmt);
	error = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return error;
}

const char *
buf_cstr(const struct buf *b)
{
	return b->ptr != NULL ? b->ptr : "";
}

char *
buf_detach(struct buf *b, size_t *lenp)
{
	char *p = b->ptr != NULL ? b->ptr : xstrdup("");

	if (lenp != NULL)
		*lenp = b->len;
	b->ptr = NULL;
	b->len = b->cap = 0;
	return p;
}
