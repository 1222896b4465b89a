/*
 * util.c - diagnostics and small string helpers of lib/spec.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "spec_int.h"

void
diags_init(struct diags *d, struct arena *a)
{
	memset(d, 0, sizeof(*d));
	d->arena = a;
}

void
diags_dispose(struct diags *d)
{
	free(d->v);
	d->v = NULL;
	d->n = d->cap = 0;
}

void
diags_vadd(struct diags *d, unsigned line, unsigned col, const char *fmt, va_list ap)
{
	char msg[512];

	if (d->full)
		return;
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 8;
		d->v = xreallocarray(d->v, d->cap, sizeof(*d->v));
	}
	if (d->n == SPEC_DIAG_MAX - 1) {
		d->full = 1;
		snprintf(msg, sizeof(msg), "too many problems (%d); stopping here",
		    SPEC_DIAG_MAX - 1);
	} else
		vsnprintf(msg, sizeof(msg), fmt, ap);
	d->v[d->n].line = line;
	d->v[d->n].col = col;
	d->v[d->n].message = arena_strdup(d->arena, msg);
	d->n++;
}

void
diags_add(struct diags *d, unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diags_vadd(d, line, col, fmt, ap);
	va_end(ap);
}

void
diags_sort(struct diags *d)
{
	struct spec_diag t;
	size_t i, j, last;

	/* insertion sort: stable, and the list is short and nearly sorted */
	last = d->full ? d->n - 1 : d->n;	/* "too many" stays last */
	for (i = 1; i < last; i++) {
		t = d->v[i];
		for (j = i; j > 0 && (d->v[j - 1].line > t.line ||
		    (d->v[j - 1].line == t.line && d->v[j - 1].col > t.col)); j--)
			d->v[j] = d->v[j - 1];
		d->v[j] = t;
	}
}

size_t
utf8_count(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

size_t
edit_distance(const char *a, const char *b, size_t cap)
{
	size_t la = strlen(a), lb = strlen(b), i, j, best;
	size_t row[65], prev, tmp;

	if (la > 64 || lb > 64)
		return cap + 1;
	if ((la > lb ? la - lb : lb - la) > cap)
		return cap + 1;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		best = row[0];
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = prev + (a[i - 1] != b[j - 1]);
			if (tmp + 1 < row[j])
				row[j] = tmp + 1;
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			prev = tmp;
			if (row[j] < best)
				best = row[j];
		}
		if (best > cap)
			return cap + 1;
	}
	return row[lb] > cap ? cap + 1 : row[lb];
}

char *
quote_for_msg(char *out, size_t outsz, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, shown = 0, limit = 60;
	unsigned char c;

	if (outsz < 16) {
		if (outsz > 0)
			out[0] = '\0';
		return out;
	}
	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if ((c & 0xC0) != 0x80) {
			/* a character starts: room for it (<= 4) and "..." */
			if (shown >= limit || o + 12 >= outsz) {
				memcpy(out + o, "...", 3);
				o += 3;
				break;
			}
			shown++;
		} else if (o + 5 >= outsz)
			break;		/* not UTF-8 after all */
		if (c < 0x20 || c == 0x7f || c == '\\' || c == '\'') {
			out[o++] = '\\';
			if (c == '\\' || c == '\'')
				out[o++] = (char)c;
			else {
				out[o++] = 'x';
				out[o++] = hex[c >> 4];
				out[o++] = hex[c & 15];
			}
		} else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

long long
spec_idle_stop_effective(long long idle_stop_s, enum spec_on_idle on_idle,
    enum spec_market market, long long fleet_default_s)
{
	if (idle_stop_s >= 0)
		return idle_stop_s;
	if (market == SPEC_MARKET_SPOT && on_idle != SPEC_IDLE_TERMINATE)
		return 0;
	return fleet_default_s > 0 ? fleet_default_s : 0;
}
