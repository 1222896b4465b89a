/*
 * skey.c - the planner's sort keys: the first 16 bytes of a name packed
 * big-endian, compared like strcmp, sorted by an MSD radix sort on
 * those bytes with merge and insertion sorts where they run out.
 */
#include <stdint.h>
#include <string.h>

#include "plan_int.h"

static uint64_t
load_be64(const unsigned char *b)
{
	uint64_t v;

	memcpy(&v, b, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

void
skey_set(struct skey *k, const char *s, const void *obj)
{
	unsigned char b[16] = { 0 };

	memcpy(b, s, strnlen(s, sizeof(b)));
	k->hi = load_be64(b);
	k->lo = load_be64(b + 8);
	k->s = s;
	k->obj = obj;
}

/* Orders exactly like strcmp(a->s, b->s). */
int
skey_cmp(const struct skey *a, const struct skey *b)
{
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	if ((a->lo & 0xff) == 0)	/* both end within the prefix */
		return 0;
	return strcmp(a->s + 16, b->s + 16);
}

static int
skey_order(const struct skey *a, const struct skey *b, skey_tie_fn *tie)
{
	int r = skey_cmp(a, b);

	return r != 0 || tie == NULL ? r : tie(a, b);
}

/*
 * Stable bottom-up merge sort of n keys (insertion-sorted runs of 16
 * first); tmp has room for n keys.  O(n log n) comparisons.
 */
static void
skey_msort(struct skey *v, struct skey *tmp, size_t n, skey_tie_fn *tie)
{
	struct skey *src = v, *dst = tmp, *t, x;
	size_t w, i, j, end;

	for (i = 0; i < n; i += 16) {
		end = i + 16 < n ? i + 16 : n;
		for (j = i + 1; j < end; j++) {
			size_t h = j;

			x = v[j];
			while (h > i && skey_order(&x, &v[h - 1], tie) < 0) {
				v[h] = v[h - 1];
				h--;
			}
			v[h] = x;
		}
	}
	for (w = 16; w < n; w *= 2) {
		for (i = 0; i < n; i += 2 * w) {
			size_t mid = i + w < n ? i + w : n;
			size_t hi = i + 2 * w < n ? i + 2 * w : n;
			size_t a = i, b = mid, k = i;

			while (a < mid && b < hi)
				dst[k++] = skey_order(&src[b], &src[a], tie) < 0 ?
				    src[b++] : src[a++];
			while (a < mid)
				dst[k++] = src[a++];
			while (b < hi)
				dst[k++] = src[b++];
		}
		t = src;
		src = dst;
		dst = t;
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
}

static unsigned
skey_byte(const struct skey *k, unsigned b)
{
	uint64_t w = b < 8 ? k->hi : k->lo;

	return (unsigned)(w >> (56 - 8 * (b % 8))) & 0xff;
}

static void
skey_isort(struct skey *v, size_t n, skey_tie_fn *tie)
{
	struct skey x;
	size_t j, h;

	for (j = 1; j < n; j++) {
		x = v[j];
		for (h = j; h > 0 && skey_order(&x, &v[h - 1], tie) < 0; h--)
			v[h] = v[h - 1];
		v[h] = x;
	}
}

/*
 * Sort n keys like skey_order(): MSD radix sort on the 16 prefix bytes
 * from byte b on (a byte where all keys agree costs one counting pass),
 * insertion sort for small buckets, skey_msort() when prefixes are
 * exhausted (long names, tie-breaker).  tmp has room for n keys.  About
 * O(n log n / 8) byte steps for distinct names; O(n log n) at worst.
 */
static void
skey_sort_from(struct skey *v, struct skey *tmp, size_t n, unsigned b,
    skey_tie_fn *tie)
{
	size_t count[256], k, sum, c;
	uint64_t dhi = 0, dlo = 0;
	unsigned x, lo = 255, hi = 0;

	if (n <= 32) {
		skey_isort(v, n, tie);
		return;
	}
	/* skip the bytes on which all keys agree, in one pass */
	for (k = 1; k < n; k++) {
		dhi |= v[k].hi ^ v[0].hi;
		dlo |= v[k].lo ^ v[0].lo;
	}
	if (b < 8)
		dhi &= ~0ULL >> (8 * b);
	else {
		dhi = 0;
		dlo &= ~0ULL >> (8 * (b - 8));
	}
	if (dhi != 0)
		b = (unsigned)__builtin_clzll(dhi) / 8;
	else if (dlo != 0)
		b = 8 + (unsigned)__builtin_clzll(dlo) / 8;
	else {
		/* equal prefixes: longer names or the tie-breaker decide */
		if ((v[0].lo & 0xff) != 0 || tie != NULL)
			skey_msort(v, tmp, n, tie);
		return;
	}
	memset(count, 0, sizeof(count));
	for (k = 0; k < n; k++) {
		x = skey_byte(&v[k], b);
		count[x]++;
		lo = x < lo ? x : lo;
		hi = x > hi ? x : hi;
	}
	for (sum = 0, x = lo; x <= hi; x++) {
		c = count[x];
		count[x] = sum;
		sum += c;
	}
	for (k = 0; k < n; k++)
		tmp[count[skey_byte(&v[k], b)]++] = v[k];
	memcpy(v, tmp, n * sizeof(*v));
	/* count[x] is now the end of bucket x */
	for (k = lo, sum = 0; k <= hi; sum = count[k], k++) {
		c = count[k] - sum;
		if (c < 2)
			continue;
		if (k == 0) {
			/* names ended: equal strings, only the tie-breaker left */
			if (tie != NULL)
				skey_msort(v + sum, tmp, c, tie);
		} else
			skey_sort_from(v + sum, tmp, c, b + 1, tie);
	}
}

void
skey_sort(struct skey *v, struct skey *tmp, size_t n, skey_tie_fn *tie)
{
	skey_sort_from(v, tmp, n, 0, tie);
}
