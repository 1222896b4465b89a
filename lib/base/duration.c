#include <stdio.h>
#include <time.h>
#include <string.h>

#include "duration.h"
#include "err.h"

#define DURATION_MAX	(10LL * 365 * 86400)

static long long
unit_seconds(char u)
{
	switch (u) {
	case 'd': return 86400;
	case 'h': return 3600;
	case 'm': return 60;
	case 's': return 1;
	default:  return 0;
	}
}

int
duration_parse(long long *out, const char *s)
{
	long long total = 0, last_unit = 0, v, mult;
	const char *p = s;

	if (s == NULL || *s == '\0') {
		err_set("empty duration");
		return ERR_INVALID;
	}
	if (strcmp(s, "0") == 0) {
		*out = 0;
		return 0;
	}
	while (*p != '\0') {
		if (*p < '0' || *p > '9') {
			err_set("bad duration '%s': expected a number like 30s, 5m, 8h, 1h30m", s);
			return ERR_INVALID;
		}
		for (v = 0; *p >= '0' && *p <= '9'; p++) {
			v = v * 10 + (*p - '0');
			if (v > DURATION_MAX) {
				err_set("duration '%s' is too long (at most 10 years)", s);
				return ERR_LIMIT;
			}
		}
		if ((mult = unit_seconds(*p)) == 0) {
			err_set("bad duration '%s': unit must be one of s, m, h, d", s);
			return ERR_INVALID;
		}
		if (last_unit != 0 && mult >= last_unit) {
			err_set("bad duration '%s': units must go from larger to smaller, each once", s);
			return ERR_INVALID;
		}
		last_unit = mult;
		total += v * mult;
		if (total > DURATION_MAX) {
			err_set("duration '%s' is too long (at most 10 years)", s);
			return ERR_LIMIT;
		}
		p++;
	}
	*out = total;
	return 0;
}

char *
duration_format(char *out, size_t outsz, long long secs)
{
	static const struct { char u; long long s; } units[] = {
		{ 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 },
	};
	size_t i, off = 0;

	if (outsz == 0)
		return out;
	out[0] = '\0';
	if (secs <= 0) {
		snprintf(out, outsz, "0s");
		return out;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]) && off < outsz; i++) {
		if (secs >= units[i].s) {
			int n = snprintf(out + off, outsz - off, "%lld%c",
			    secs / units[i].s, units[i].u);
			if (n < 0)
				break;
			off += (size_t)n;
			secs %= units[i].s;
		}
	}
	return out;
}

uint64_t
duration_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
