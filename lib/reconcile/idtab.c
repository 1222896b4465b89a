/*
 * idtab.c - the planner's table of rows by env id (open addressing).
 */
#include <stdint.h>
#include <string.h>

#include "err.h"
#include "mem.h"
#include "plan_int.h"

/* Eight bytes at a time, multiply-xorshift mixing; not for hostile keys
 * beyond a slower probe (the table is rebuilt every pass). */
static uint64_t
hash_str(const char *s)
{
	size_t len = strlen(s), k;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ len, w;

	for (k = 0; k + 8 <= len; k += 8) {
		memcpy(&w, s + k, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	if (k < len) {
		w = 0;
		memcpy(&w, s + k, len - k);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
	}
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 29);
}

void
idtab_init(struct idtab *t, size_t n)
{
	size_t size = 16;

	while (size < n + n / 2)	/* load factor at most 2/3 */
		size *= 2;
	t->slot = xcalloc(size, sizeof(*t->slot));
	t->mask = size - 1;
}

/* Add r; ERR_INVALID if its env id is there already. */
int
idtab_add(struct idtab *t, const struct plan_record *r)
{
	uint64_t h = hash_str(r->env_id);
	size_t k = (size_t)h & t->mask;

	for (; t->slot[k].rec != NULL; k = (k + 1) & t->mask)
		if (t->slot[k].hash == h &&
		    strcmp(t->slot[k].rec->env_id, r->env_id) == 0) {
			err_set("plan: two rows with env id %s", r->env_id);
			return ERR_INVALID;
		}
	t->slot[k].hash = h;
	t->slot[k].rec = r;
	return 0;
}

const struct plan_record *
idtab_find(const struct idtab *t, const char *id)
{
	uint64_t h = hash_str(id);
	size_t k = (size_t)h & t->mask;

	for (; t->slot[k].rec != NULL; k = (k + 1) & t->mask)
		if (t->slot[k].hash == h &&
		    strcmp(t->slot[k].rec->env_id, id) == 0)
			return t->slot[k].rec;
	return NULL;
}
