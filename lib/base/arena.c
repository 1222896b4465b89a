/*
 * arena.c - a bump allocator (arena.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "mem.h"

#define ARENA_CHUNK	(64 * 1024)
#define ARENA_ALIGN	16

struct arena_chunk {
	struct arena_chunk	*next;
	size_t			 used, size;
	_Alignas(16) unsigned char data[];
};

void
arena_init(struct arena *a)
{
	a->head = NULL;
}

void
arena_dispose(struct arena *a)
{
	struct arena_chunk *c, *next;

	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
}

void
arena_reset(struct arena *a)
{
	struct arena_chunk *c, *next;

	if (a->head == NULL)
		return;
	for (c = a->head->next; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	a->head->next = NULL;
	a->head->used = 0;
}

/*
 * len bytes aligned to align (1 or ARENA_ALIGN), not zeroed.  Strings
 * are packed byte by byte: a tree holds tens of thousands of short ones.
 */
static void *
arena_bump(struct arena *a, size_t len, size_t align)
{
	struct arena_chunk *c = a->head;
	size_t need, size, off = 0;
	void *p;

	if (len == 0)
		len = 1;
	need = (len + align - 1) & ~(align - 1);
	if (need < len)
		abort();
	if (c != NULL)
		off = (c->used + align - 1) & ~(align - 1);
	if (c == NULL || off > c->size || c->size - off < need) {
		/* chunks grow from 2 KiB to 64 KiB: a tree holds thousands of small arenas */
		size = c == NULL ? 2048 : c->size * 2;
		if (size > ARENA_CHUNK)
			size = ARENA_CHUNK;
		if (need > size / 4)
			size = need > size ? need : size;
		c = xmalloc(sizeof(*c) + size);
		c->used = 0;
		c->size = size;
		if (need <= size / 4 || a->head == NULL) {
			c->next = a->head;
			a->head = c;
		} else {
			/* a big one-off: keep filling the current chunk */
			c->next = a->head->next;
			a->head->next = c;
		}
		off = 0;
	}
	p = c->data + off;
	c->used = off + need;
	return p;
}

void *
arena_alloc(struct arena *a, size_t len)
{
	void *p = arena_bump(a, len, ARENA_ALIGN);

	memset(p, 0, len);
	return p;
}

char *
arena_strndup(struct arena *a, const char *s, size_t len)
{
	char *p = arena_bump(a, len + 1, 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

size_t
arena_bytes(const struct arena *a)
{
	const struct arena_chunk *c;
	size_t n = 0;

	for (c = a->head; c != NULL; c = c->next)
		n += sizeof(*c) + c->size;
	return n;
}
