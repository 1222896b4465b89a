/*
 * capacity.c - "no capacity" answers of EC2 and the pools (market,
 * instance type, subnet) that just gave one, so that the next launches
 * skip them for a while.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pipeline_int.h"

int
pl_capacity_error(const char *code)
{
	return strcmp(code, "InsufficientInstanceCapacity") == 0 ||
	    strcmp(code, "InsufficientCapacity") == 0 ||
	    strcmp(code, "SpotMaxPriceTooLow") == 0 ||
	    strcmp(code, "MaxSpotInstanceCountExceeded") == 0 ||
	    strcmp(code, "InsufficientFreeAddressesInSubnet") == 0;
}

/*
 * Pools (market, instance type, subnet) that just answered "no capacity",
 * process-wide for a few minutes, so the next environments skip them.
 */
#define POOL_CACHE_N	64
#define POOL_CACHE_TTL	300

static struct {
	char	key[128];
	time_t	until;
} pool_cache[POOL_CACHE_N];
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

static void
pool_key(char *out, size_t outsz, int spot, const char *type, const char *sub)
{
	snprintf(out, outsz, "%s/%s/%s", spot ? "spot" : "on-demand", type,
	    sub ? sub : "-");
}

int
pl_pool_cached(int spot, const char *type, const char *sub, time_t now)
{
	char key[128];
	int hit = 0;
	size_t i;

	pool_key(key, sizeof(key), spot, type, sub);
	pthread_mutex_lock(&pool_lock);
	for (i = 0; i < POOL_CACHE_N && !hit; i++)
		hit = pool_cache[i].until > now && strcmp(pool_cache[i].key, key) == 0;
	pthread_mutex_unlock(&pool_lock);
	return hit;
}

void
pl_pool_remember(int spot, const char *type, const char *sub, time_t now)
{
	char key[128];
	size_t i, slot = 0;

	pool_key(key, sizeof(key), spot, type, sub);
	pthread_mutex_lock(&pool_lock);
	for (i = 0; i < POOL_CACHE_N; i++) {
		if (strcmp(pool_cache[i].key, key) == 0 ||
		    pool_cache[i].until <= now) {
			slot = i;
			break;
		}
		if (pool_cache[i].until < pool_cache[slot].until)
			slot = i;
	}
	snprintf(pool_cache[slot].key, sizeof(pool_cache[slot].key), "%s", key);
	pool_cache[slot].until = now + POOL_CACHE_TTL;
	pthread_mutex_unlock(&pool_lock);
}
