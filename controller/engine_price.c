/*
 * engine_price.c - the spot price of a running instance, refreshed while
 * it runs (docs/design.md §6.9).
 *
 * A spot compute segment of the ledger is booked at the zone's spot price
 * read at launch.  Once per pass of the leader, each open spot compute
 * segment of the cluster whose price was set at least spot_price_refresh
 * ago is priced again: its (region, type) is read with one
 * DescribeSpotPriceHistory (every zone's newest price at once), cached
 * for the process for spot_price_refresh, and when its zone's price
 * changed the segment is closed and continued at the new price
 * (store_cost_reprice()).  A pass that saw no spot instance asks
 * nothing; a price that cannot be read is a warning and the segment
 * keeps its price.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "ctl.h"
#include "ec2.h"
#include "engine.h"
#include "err.h"
#include "log.h"
#include "store.h"

#define PRICE_CACHE_MAX		512
#define PRICE_FAIL_TTL		60	/* a failed read is not retried sooner */
#define PRICE_MAX_RESULTS	100
#define PRICE_ZONES_MAX		32	/* a region has fewer zones */

/*
 * One zone's newest price of a (region, type); az "" marks when the
 * (region, type) was read (usd < 0: the read failed).
 */
struct price_entry {
	char	 region[32];
	char	 type[32];
	char	 az[32];
	double	 usd;
	time_t	 at;
};

static pthread_mutex_t price_mu = PTHREAD_MUTEX_INITIALIZER;
static struct price_entry price_cache[PRICE_CACHE_MAX];
static size_t price_n;

/* The entry of (region, type, az), or NULL; price_mu held. */
static struct price_entry *
price_find(const char *region, const char *type, const char *az)
{
	size_t i;

	for (i = 0; i < price_n; i++)
		if (strcmp(price_cache[i].region, region) == 0 &&
		    strcmp(price_cache[i].type, type) == 0 &&
		    strcmp(price_cache[i].az, az) == 0)
			return &price_cache[i];
	return NULL;
}

/* Set (region, type, az) to usd read at `at`; price_mu held. */
static void
price_put(const char *region, const char *type, const char *az, double usd,
    time_t at)
{
	struct price_entry *e;

	if ((e = price_find(region, type, az)) == NULL) {
		if (price_n == PRICE_CACHE_MAX)
			price_n = 0;	/* full: start again */
		e = &price_cache[price_n++];
		snprintf(e->region, sizeof(e->region), "%s", region);
		snprintf(e->type, sizeof(e->type), "%s", type);
		snprintf(e->az, sizeof(e->az), "%s", az);
	}
	e->usd = usd;
	e->at = at;
}

/*
 * From the cache, what is known of (region, type, az) read since
 * now - ttl: 1 and *usd (the zone's price), 0 (read, no price for the
 * zone; or a read failed lately), -1 (not read: ask EC2).
 */
static int
price_cached(double *usd, const char *region, const char *type,
    const char *az, time_t now, long long ttl)
{
	const struct price_entry *mark, *e;
	int found = -1;

	pthread_mutex_lock(&price_mu);
	mark = price_find(region, type, "");
	if (mark != NULL && mark->usd < 0 &&
	    now - mark->at < (ttl < PRICE_FAIL_TTL ? ttl : PRICE_FAIL_TTL))
		found = 0;
	else if (mark != NULL && mark->usd >= 0 && now - mark->at < ttl) {
		e = price_find(region, type, az);
		found = e != NULL && e->at == mark->at;
		if (found)
			*usd = e->usd;
	}
	pthread_mutex_unlock(&price_mu);
	return found;
}

/*
 * The newest spot price of type in zone az of region: cached, else one
 * DescribeSpotPriceHistory whose every zone is cached.  1 and *usd, 0
 * when EC2 has no price for the zone, or a negative error.
 */
static int
price_get(double *usd, const struct engine_view *pv, const char *region,
    const char *type, const char *az, time_t now, long long ttl)
{
	struct ec2_spot_price_list l;
	const struct ec2_spot_price *z[PRICE_ZONES_MAX];
	struct ctl_aws *aws = NULL;
	size_t i, nz;
	int found, error;

	if ((found = price_cached(usd, region, type, az, now, ttl)) >= 0)
		return found;
	if ((aws = engine_view_region_aws(pv, region)) == NULL) {
		log_debug("spot price: no AWS client for region %s", region);
		return 0;
	}
	memset(&l, 0, sizeof(l));
	error = ec2_spot_price_history(&l, aws->ec2, type, NULL, 0,
	    PRICE_MAX_RESULTS);
	pthread_mutex_lock(&price_mu);
	if (error < 0)
		price_put(region, type, "", -1.0, now);
	else {
		nz = pipeline_spot_newest(z, PRICE_ZONES_MAX, &l);
		for (i = 0; i < nz; i++)
			price_put(region, type, z[i]->az,
			    strtod(z[i]->price, NULL), now);
		price_put(region, type, "", 0.0, now);
	}
	pthread_mutex_unlock(&price_mu);
	ec2_spot_price_list_dispose(&l);
	if (error < 0) {
		err_prefix("DescribeSpotPriceHistory of %s in %s", type, region);
		return error;
	}
	return price_cached(usd, region, type, az, now, ttl) > 0;
}

int
engine_price_refresh(const struct engine_view *pv, const struct config *cfg,
    time_t now)
{
	struct store_cost_seg *v = NULL;
	size_t n = 0, i;
	double usd = 0.0;
	int error = 0, e, changed;

	if (cfg->spot_price_refresh <= 0 || pv->nspot_instances == 0 ||
	    pv->store == NULL)
		return 0;	/* off, or no spot instance: no query, no call */
	if ((error = store_cost_list(&v, &n, pv->store, NULL, now, false)) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		const struct store_cost_seg *s = &v[i];

		if (s->kind != STORE_COST_COMPUTE || s->ended_at != 0 ||
		    strcmp(s->market, "spot") != 0 || *s->region == '\0' ||
		    *s->instance_type == '\0' || *s->az == '\0' ||
		    now - s->started_at < cfg->spot_price_refresh)
			continue;
		if ((e = price_get(&usd, pv, s->region, s->instance_type, s->az,
		    now, cfg->spot_price_refresh)) < 0) {
			log_warnx("env=%s instance_id=%s: keeping its spot price "
			    "$%.6f/h: %s", s->env_name, s->instance_id,
			    s->usd_per_hour, err_get());
			continue;
		}
		if (e == 0 || (usd - s->usd_per_hour < 1e-6 &&
		    s->usd_per_hour - usd < 1e-6))
			continue;	/* no price for the zone, or unchanged */
		if ((e = store_cost_reprice(&changed, pv->store, s->instance_id,
		    now, usd)) < 0) {
			log_warnx("env=%s instance_id=%s: booking its new spot "
			    "price: %s", s->env_name, s->instance_id, err_get());
			if (error == 0)
				error = e;
			continue;
		}
		if (changed)
			log_info("env=%s instance_id=%s: spot price of %s in %s "
			    "$%.6f/h, was $%.6f/h", s->env_name, s->instance_id,
			    s->instance_type, s->az, usd, s->usd_per_hour);
	}
out:
	store_cost_list_free(v, n);
	return error;
}
