/*
 * prices.c - what an instance costs: the built-in on-demand prices, the
 * operator's price table (config price_table) and the cost rule of an
 * incarnation (pipeline_env_cost()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "ec2.h"
#include "mem.h"
#include "pipeline_int.h"

double
pipeline_price_on_demand(const char *type)
{
	/*
	 * us-east-1 on-demand Linux prices as of 2024-06-01, USD/hour;
	 * price_table overrides them.
	 */
	static const struct { const char *type; double usd; } prices[] = {
		{ "t2.micro", 0.0116 }, { "t2.small", 0.023 }, { "t2.medium", 0.0464 },
		{ "t3.nano", 0.0052 }, { "t3.micro", 0.0104 }, { "t3.small", 0.0208 },
		{ "t3.medium", 0.0416 }, { "t3.large", 0.0832 }, { "t3.xlarge", 0.1664 },
		{ "t3.2xlarge", 0.3328 }, { "t3a.medium", 0.0376 },
		{ "t4g.small", 0.0168 }, { "t4g.medium", 0.0336 },
		{ "m5.large", 0.096 }, { "m5.xlarge", 0.192 }, { "m6i.large", 0.096 },
		{ "m6i.xlarge", 0.192 }, { "m7i.large", 0.1008 },
		{ "c5.large", 0.085 }, { "c6i.large", 0.085 }, { "c6i.xlarge", 0.17 },
		{ "r5.large", 0.126 }, { "r6i.large", 0.126 },
	};
	size_t i;

	for (i = 0; i < sizeof(prices) / sizeof(prices[0]); i++)
		if (strcmp(prices[i].type, type) == 0)
			return prices[i].usd;
	return 0.0;
}

/* ---- the operator's price table ------------------------------------ */

#define PRICES_FILE_MAX		(1024 * 1024)
#define PRICE_MAX		100000.0

struct price_entry {
	char	region[32];
	char	type[48];
	double	usd;
	size_t	line;
};

struct pipeline_prices {
	struct price_entry	*v;
	size_t			 n;
};

void
pipeline_prices_free(struct pipeline_prices *t)
{
	if (t == NULL)
		return;
	free(t->v);
	free(t);
}

size_t
pipeline_prices_count(const struct pipeline_prices *t)
{
	return t != NULL ? t->n : 0;
}

/* Whether s (len bytes) is a plain decimal: digits, at most one '.'. */
static int
price_syntax_ok(const char *s, size_t len)
{
	size_t i, dots = 0, digits = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '.')
			dots++;
		else if (s[i] >= '0' && s[i] <= '9')
			digits++;
		else
			return 0;
	}
	return digits > 0 && dots <= 1 && len < 32;
}

static int
name_syntax_ok(const char *s, size_t len, int type)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '-' || (type && s[i] == '.')))
			return 0;
	return !type || memchr(s, '.', len) != NULL;
}

/* One line (NUL-free, no newline) into t; ERR_INVALID with name:line. */
static int
prices_line(struct pipeline_prices *t, const char *l, size_t len,
    const char *name, size_t lineno)
{
	const char *f[4];
	size_t fl[4], nf = 0, i = 0;
	struct price_entry e;
	char num[32], *end;

	if (memchr(l, '#', len) != NULL)
		len = (size_t)((const char *)memchr(l, '#', len) - l);
	while (i < len) {
		while (i < len && (l[i] == ' ' || l[i] == '\t' || l[i] == '\r'))
			i++;
		if (i == len)
			break;
		if (nf == 4)
			break;
		f[nf] = l + i;
		while (i < len && l[i] != ' ' && l[i] != '\t' && l[i] != '\r')
			i++;
		fl[nf] = (size_t)(l + i - f[nf]);
		nf++;
	}
	if (nf == 0)
		return 0;
	if (nf != 3) {
		err_set("%s:%zu: expected 3 fields (region instance-type "
		    "usd-per-hour), found %s", name, lineno, nf > 3 ? "more" :
		    nf == 1 ? "1" : "2");
		return ERR_INVALID;
	}
	if (!(fl[0] == 1 && f[0][0] == '*') &&
	    (!name_syntax_ok(f[0], fl[0], 0) || fl[0] >= sizeof(e.region))) {
		err_set("%s:%zu: bad region '%.*s' (like us-east-1, or * for any)",
		    name, lineno, (int)(fl[0] > 40 ? 40 : fl[0]), f[0]);
		return ERR_INVALID;
	}
	if (!name_syntax_ok(f[1], fl[1], 1) || fl[1] >= sizeof(e.type)) {
		err_set("%s:%zu: bad instance type '%.*s' (like t3.micro)", name,
		    lineno, (int)(fl[1] > 40 ? 40 : fl[1]), f[1]);
		return ERR_INVALID;
	}
	if (!price_syntax_ok(f[2], fl[2])) {
		err_set("%s:%zu: bad price '%.*s': a plain non-negative decimal "
		    "of US dollars per hour (like 0.0104)", name, lineno,
		    (int)(fl[2] > 40 ? 40 : fl[2]), f[2]);
		return ERR_INVALID;
	}
	memset(&e, 0, sizeof(e));
	memcpy(e.region, f[0], fl[0]);
	memcpy(e.type, f[1], fl[1]);
	memcpy(num, f[2], fl[2]);
	num[fl[2]] = '\0';
	errno = 0;
	e.usd = strtod(num, &end);
	if (errno != 0 || *end != '\0' || !(e.usd >= 0.0) || e.usd >= PRICE_MAX) {
		err_set("%s:%zu: price %s out of range (0 to %.0f)", name, lineno,
		    num, PRICE_MAX);
		return ERR_INVALID;
	}
	e.line = lineno;
	for (i = 0; i < t->n; i++)
		if (strcmp(t->v[i].region, e.region) == 0 &&
		    strcmp(t->v[i].type, e.type) == 0) {
			err_set("%s:%zu: %s %s listed twice (first at line %zu)",
			    name, lineno, e.region, e.type, t->v[i].line);
			return ERR_INVALID;
		}
	t->v = xreallocarray(t->v, t->n + 1, sizeof(*t->v));
	t->v[t->n++] = e;
	return 0;
}

int
pipeline_prices_parse(struct pipeline_prices **out, const char *text,
    size_t len, const char *name)
{
	struct pipeline_prices *t;
	size_t pos = 0, lineno = 0;
	int error = 0;

	*out = NULL;
	if (memchr(text, '\0', len) != NULL) {
		err_set("%s: holds a NUL byte: not a text file", name);
		return ERR_INVALID;
	}
	t = xcalloc(1, sizeof(*t));
	while (pos < len && error == 0) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t ll = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;

		lineno++;
		error = prices_line(t, text + pos, ll, name, lineno);
		pos += ll + 1;
	}
	if (error < 0) {
		pipeline_prices_free(t);
		return error;
	}
	*out = t;
	return 0;
}

int
pipeline_prices_load(struct pipeline_prices **out, const char *path)
{
	FILE *f;
	char *buf;
	size_t n;
	int error;

	*out = NULL;
	if ((f = fopen(path, "re")) == NULL) {
		err_set("%s: %s", path, strerror(errno));
		return ERR_INVALID;
	}
	buf = xmalloc(PRICES_FILE_MAX + 1);
	n = fread(buf, 1, PRICES_FILE_MAX + 1, f);
	if (ferror(f)) {
		err_set("%s: %s", path, strerror(errno));
		error = ERR_INVALID;
	} else if (n > PRICES_FILE_MAX) {
		err_set("%s: larger than %d bytes", path, PRICES_FILE_MAX);
		error = ERR_LIMIT;
	} else
		error = pipeline_prices_parse(out, buf, n, path);
	fclose(f);
	free(buf);
	return error;
}

double
pipeline_price(const struct pipeline_prices *t, const char *region,
    const char *type)
{
	const struct price_entry *any = NULL;
	size_t i;

	for (i = 0; t != NULL && i < t->n; i++) {
		if (strcmp(t->v[i].type, type) != 0)
			continue;
		if (region != NULL && strcmp(t->v[i].region, region) == 0)
			return t->v[i].usd;
		if (strcmp(t->v[i].region, "*") == 0)
			any = &t->v[i];
	}
	return any != NULL ? any->usd : pipeline_price_on_demand(type);
}

double
pipeline_price_storage(const struct pipeline_prices *t, const char *region,
    unsigned gb)
{
	const struct price_entry *any = NULL;
	double month = PIPELINE_GP3_USD_GB_MONTH;
	size_t i;

	for (i = 0; t != NULL && i < t->n; i++) {
		if (strcmp(t->v[i].type, "ebs.gp3") != 0)
			continue;
		if (region != NULL && strcmp(t->v[i].region, region) == 0) {
			any = &t->v[i];
			break;
		}
		if (strcmp(t->v[i].region, "*") == 0)
			any = &t->v[i];
	}
	if (any != NULL)
		month = any->usd;
	return (double)gb * month / PIPELINE_HOURS_MONTH;
}

/* ---- the cost rule ---------------------------------------------------- */

void
pipeline_cost_add(struct pipeline_cost *out, const struct store_cost_seg *s,
    time_t since, time_t now)
{
	time_t a = s->started_at, b = s->ended_at > 0 ? s->ended_at : now;
	long long secs;

	if (s->ended_at == 0 && now >= a)
		out->usd_per_hour += s->usd_per_hour;
	if (b < a || (s->ended_at == 0 && now < a))
		return;
	/*
	 * EC2 Linux: per second, 60 s minimum each time it starts running;
	 * a continuation (a new spot price) is not a start.
	 */
	if (s->kind == STORE_COST_COMPUTE && !s->continues &&
	    b - a < PIPELINE_BILL_MIN_S)
		b = a + PIPELINE_BILL_MIN_S;
	if (a < since)
		a = since;
	if (b <= a)
		return;
	secs = (long long)(b - a);
	out->usd += (double)secs / 3600.0 * s->usd_per_hour;
	out->saved_usd += (double)secs / 3600.0 *
	    (s->od_usd_per_hour - s->usd_per_hour);
	if (s->kind == STORE_COST_COMPUTE)
		out->seconds += secs;
}

void
pipeline_cost_sum(struct pipeline_cost *out, const struct store_cost_seg *v,
    size_t n, time_t since, time_t now)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < n; i++)
		pipeline_cost_add(out, &v[i], since, now);
}

void
pipeline_env_cost(struct pipeline_cost *out, const struct store_cost_seg *v,
    size_t n, const char *env_id, time_t now)
{
	size_t lo = 0, hi = n;

	memset(out, 0, sizeof(*out));
	/* The first segment of env_id (v is sorted by env_id). */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(v[mid].env_id, env_id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n && strcmp(v[lo].env_id, env_id) == 0; lo++)
		pipeline_cost_add(out, &v[lo], 0, now);
}

int
pl_env_booked(struct pipeline_cost *out, struct pipeline *p, const char *env_id)
{
	struct store_cost_seg *v = NULL;
	size_t n = 0;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = store_cost_list(&v, &n, p->store, env_id, 0, false)) < 0)
		return error;
	pipeline_env_cost(out, v, n, env_id, pl_now(p));
	store_cost_list_free(v, n);
	return 0;
}

/* ---- the ledger's writers ------------------------------------------------ */

int
pipeline_cost_power(struct store *st, const char *instance_id, int running,
    time_t at)
{
	if (instance_id == NULL || *instance_id == '\0')
		return 0;
	if (running)
		return store_cost_reopen(st, instance_id, at);
	return store_cost_close(st, instance_id, STORE_COST_COMPUTE, at);
}

size_t
pipeline_spot_newest(const struct ec2_spot_price **out, size_t max,
    const struct ec2_spot_price_list *l)
{
	size_t i, j, n = 0;

	for (i = 0; i < l->n; i++) {
		if (l->v[i].az[0] == '\0')
			continue;
		for (j = 0; j < n; j++)
			if (strcmp(out[j]->az, l->v[i].az) == 0)
				break;
		if (j < n) {
			if (l->v[i].when > out[j]->when)
				out[j] = &l->v[i];
		} else if (n < max)
			out[n++] = &l->v[i];
	}
	return n;
}

#define SPOT_ZONES_MAX	32

/* The newest spot price of type in zone az (any zone when none is its), 0 if none. */
static double
spot_price(struct pipeline *p, const char *type, const char *az)
{
	struct ec2_spot_price_list l;
	const struct ec2_spot_price *z[SPOT_ZONES_MAX];
	double v = 0.0;
	size_t i, n;

	memset(&l, 0, sizeof(l));
	if (ec2_spot_price_history(&l, p->ec2, type, NULL, 0, 20) == 0 &&
	    l.n > 0) {
		n = pipeline_spot_newest(z, SPOT_ZONES_MAX, &l);
		for (i = 0; i < n; i++)
			if (az != NULL && strcmp(z[i]->az, az) == 0)
				break;
		v = strtod(i < n ? z[i]->price : l.v[0].price, NULL);
	}
	ec2_spot_price_list_dispose(&l);
	return v;
}

int
pl_cost_launch(double *usd, struct pipeline *p, const struct store_env *row,
    const struct ec2_instance *in, const char *type, unsigned disk_gb)
{
	const char *region = aws_client_region(p->aws);
	struct store_cost_seg seg;
	double od;
	int error;

	if (in->type != NULL && in->type[0] != '\0')
		type = in->type;	/* what EC2 launched */
	od = pipeline_price(p->o.prices, region, type);

	*usd = in->market == EC2_MARKET_SPOT ? spot_price(p, type, in->az) : 0;
	if (*usd <= 0)
		*usd = od;
	memset(&seg, 0, sizeof(seg));
	snprintf(seg.env_id, sizeof(seg.env_id), "%s", row->id);
	seg.env_name = row->name;
	seg.workspace = row->workspace;
	seg.instance_id = in->id;
	seg.market = in->market == EC2_MARKET_SPOT ? "spot" : "on-demand";
	seg.region = region;
	seg.az = in->az;
	seg.instance_type = type;
	seg.kind = STORE_COST_COMPUTE;
	seg.usd_per_hour = *usd;
	seg.od_usd_per_hour = od;
	seg.started_at = in->launched > 0 ? in->launched : pl_now(p);
	if ((error = store_cost_open(p->store, &seg)) < 0)
		return error;
	seg.kind = STORE_COST_STORAGE;
	seg.usd_per_hour = seg.od_usd_per_hour =
	    pipeline_price_storage(p->o.prices, region, disk_gb);
	return store_cost_open(p->store, &seg);
}

int
pl_cost_end(struct pipeline *p, const char *const *ids, size_t n)
{
	time_t now = pl_now(p);
	size_t i;
	int error;

	for (i = 0; i < n; i++)
		if ((error = store_cost_close(p->store, ids[i],
		    STORE_COST_COMPUTE | STORE_COST_STORAGE, now)) < 0)
			return error;
	return 0;
}
