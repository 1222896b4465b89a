/*
 * plan_int.h - what plan.c, skey.c and idtab.c share (not for callers).
 */
#ifndef ENVCTL_PLAN_INT_H
#define ENVCTL_PLAN_INT_H

#include <stddef.h>
#include <stdint.h>

#include "plan.h"

/*
 * A sort key: the first 16 bytes of s packed big-endian (zero padded),
 * so comparing hi then lo orders like strcmp; obj is what it stands for.
 */
struct skey {
	uint64_t	 hi;
	uint64_t	 lo;
	const char	*s;
	const void	*obj;
};

/* Key k for string s (borrowed), standing for obj. */
void	 skey_set(struct skey *k, const char *s, const void *obj);
/* Orders exactly like strcmp(a->s, b->s). */
int	 skey_cmp(const struct skey *a, const struct skey *b);
/* Decides between keys with equal strings; NULL: they are equal. */
typedef int skey_tie_fn(const struct skey *, const struct skey *);
/*
 * Sort n keys by string, then tie (may be NULL); tmp has room for n
 * keys.  About O(n log n / 8) byte steps for distinct names; O(n log n)
 * at worst.
 */
void	 skey_sort(struct skey *v, struct skey *tmp, size_t n,
	    skey_tie_fn *tie);

/*
 * Open-addressing table of rows by env id.  Each slot keeps the id's
 * hash so a probe looks at a row only when the hashes match.
 */
struct idslot {
	uint64_t			 hash;
	const struct plan_record	*rec;
};

struct idtab {
	struct idslot	*slot;
	size_t		 mask;
};

/* A table for about n rows (load factor at most 2/3); free t->slot. */
void	 idtab_init(struct idtab *t, size_t n);
/* Add r; ERR_INVALID if its env id is there already. */
int	 idtab_add(struct idtab *t, const struct plan_record *r);
/* The row with env id id, or NULL. */
const struct plan_record *idtab_find(const struct idtab *t, const char *id);

#endif
