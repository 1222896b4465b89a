/*
 * capacity.c - "no capacity" answers of EC2 and the pools (region,
 * market, instance type, subnet) that just gave one, so that the next
 * launches skip them for a while; the spot placement scores and prices
 * of each (region, type), so that launches rank their pools without
 * asking EC2 each time; and that ranking.  The cache is an object its
 * owner (the engine) creates and lends to every pipeline through
 * pipeline_opts; it is thread-safe (one mutex), bounded (CAPACITY_N
 * pools and SCORES_N types, the oldest entry replaced) and reads no
 * clock (now is an argument).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mem.h"
#include "pipeline_int.h"

int
pl_capacity_error(const char *code)
{
	return strcmp(code, "InsufficientInstanceCapacity") == 0 ||
	    strcmp(code, "InsufficientCapacity") == 0 ||
	    strcmp(code, "SpotMaxPriceTooLow") == 0 ||
	    strcmp(code, "MaxSpotInstanceCountExceeded") == 0 ||
	    strcmp(code, "InsufficientFreeAddressesInSubnet") == 0 ||
	    /* the type is not offered in the subnet's zone: another may */
	    strcmp(code, "Unsupported") == 0;
}

#define CAPACITY_N	64

struct capacity_entry {
	char	key[160];	/* region/market/type/subnet */
	time_t	until;		/* skipped while now < until */
};

#define SCORES_N	32

struct scores_entry {
	char			key[96];	/* region/type */
	time_t			until;
	struct pl_scores	s;
};

struct pipeline_capacity {
	pthread_mutex_t		 lock;
	struct capacity_entry	 v[CAPACITY_N];
	struct scores_entry	 sc[SCORES_N];
};

int
pipeline_capacity_new(struct pipeline_capacity **out)
{
	struct pipeline_capacity *c = xcalloc(1, sizeof(*c));

	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void
pipeline_capacity_free(struct pipeline_capacity *c)
{
	if (c == NULL)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* The key of a pool into out; 0 when it does not fit (never cached). */
static int
pool_key(char out[160], const char *region, int spot, const char *type,
    const char *sub)
{
	int n;

	n = snprintf(out, 160, "%s/%s/%s/%s", region != NULL ? region : "-",
	    spot ? "spot" : "on-demand", type, sub != NULL ? sub : "-");
	return n > 0 && n < 160;
}

int
pl_capacity_exhausted(struct pipeline_capacity *c, const char *region,
    int spot, const char *type, const char *sub, time_t now)
{
	char key[160], any[160];
	int hit = 0;
	size_t i;

	if (c == NULL || !pool_key(key, region, spot, type, sub))
		return 0;
	/* a spot interruption counts for every subnet of (region, type) */
	if (!spot || !pool_key(any, region, 1, type, "*"))
		any[0] = '\0';
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < CAPACITY_N && !hit; i++)
		hit = c->v[i].until > now && (strcmp(c->v[i].key, key) == 0 ||
		    strcmp(c->v[i].key, any) == 0);
	pthread_mutex_unlock(&c->lock);
	return hit;
}

void
pl_capacity_remember(struct pipeline_capacity *c, const char *region,
    int spot, const char *type, const char *sub, time_t now)
{
	char key[160];
	size_t i, slot = 0;

	if (c == NULL || !pool_key(key, region, spot, type, sub))
		return;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < CAPACITY_N; i++) {
		if (strcmp(c->v[i].key, key) == 0 || c->v[i].until <= now) {
			slot = i;
			break;
		}
		if (c->v[i].until < c->v[slot].until)
			slot = i;
	}
	snprintf(c->v[slot].key, sizeof(c->v[slot].key), "%s", key);
	c->v[slot].until = now + PIPELINE_CAPACITY_TTL;
	pthread_mutex_unlock(&c->lock);
}

/* ---- spot placement scores ---- */

static int
scores_key(char out[96], const char *region, const char *type)
{
	int n;

	n = snprintf(out, 96, "%s/%s", region != NULL ? region : "-", type);
	return n > 0 && n < 96;
}

int
pl_scores_cached(struct pipeline_capacity *c, const char *region,
    const char *type, time_t now, struct pl_scores *out)
{
	char key[96];
	int hit = 0;
	size_t i;

	if (c == NULL || !scores_key(key, region, type))
		return 0;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < SCORES_N && !hit; i++)
		if (c->sc[i].until > now && strcmp(c->sc[i].key, key) == 0) {
			*out = c->sc[i].s;
			hit = 1;
		}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

void
pl_scores_remember(struct pipeline_capacity *c, const char *region,
    const char *type, time_t now, const struct pl_scores *s)
{
	char key[96];
	size_t i, slot = 0;

	if (c == NULL || !scores_key(key, region, type))
		return;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < SCORES_N; i++) {
		if (strcmp(c->sc[i].key, key) == 0 || c->sc[i].until <= now) {
			slot = i;
			break;
		}
		if (c->sc[i].until < c->sc[slot].until)
			slot = i;
	}
	snprintf(c->sc[slot].key, sizeof(c->sc[slot].key), "%s", key);
	c->sc[slot].until = now + PL_SCORES_TTL;
	c->sc[slot].s = *s;
	pthread_mutex_unlock(&c->lock);
}

int
pl_scores_score(const struct pl_scores *s, const char *az_id)
{
	size_t i;

	for (i = 0; az_id != NULL && *az_id != '\0' && i < s->n; i++)
		if (strcmp(s->v[i].az_id, az_id) == 0 && s->v[i].score > 0)
			return s->v[i].score;
	return 0;
}

double
pl_scores_price(const struct pl_scores *s, const char *az)
{
	size_t i;

	for (i = 0; az != NULL && *az != '\0' && i < s->n; i++)
		if (strcmp(s->v[i].az, az) == 0 && s->v[i].price > 0)
			return s->v[i].price;
	return 0;
}

static int
pool_cmp(const void *a, const void *b)
{
	const struct pl_pool *x = a, *y = b;

	if (x->spot != y->spot)
		return x->spot ? -1 : 1;
	if (x->spot) {
		if (x->score != y->score)
			return x->score > y->score ? -1 : 1;
		if ((x->price > 0) != (y->price > 0))
			return x->price > 0 ? -1 : 1;
		if (x->price != y->price)
			return x->price < y->price ? -1 : 1;
	}
	return x->index < y->index ? -1 : x->index > y->index;
}

void
pl_pools_rank(struct pl_pool *v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), pool_cmp);
}

void
pipeline_capacity_spot_interrupted(struct pipeline_capacity *c,
    const char *region, const char *type, time_t now)
{
	pl_capacity_remember(c, region, 1, type, "*", now);
}
