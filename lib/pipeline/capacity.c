/*
 * capacity.c - "no capacity" answers of EC2 and the pools (region,
 * market, instance type, subnet) that just gave one, so that the next
 * launches skip them for a while.  The cache is an object its owner (the
 * engine) creates and lends to every pipeline through pipeline_opts; it
 * is thread-safe (one mutex), bounded (CAPACITY_N pools, the oldest
 * entry replaced) and reads no clock (now is an argument).
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

struct pipeline_capacity {
	pthread_mutex_t		 lock;
	struct capacity_entry	 v[CAPACITY_N];
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

void
pipeline_capacity_spot_interrupted(struct pipeline_capacity *c,
    const char *region, const char *type, time_t now)
{
	pl_capacity_remember(c, region, 1, type, "*", now);
}
