#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "err.h"
#include "mem.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
base64_encoded_len(size_t len)
{
	return 4 * ((len + 2) / 3);
}

char *
base64_encode(const void *data, size_t len, size_t *outlen)
{
	const uint8_t *p = data;
	size_t n = base64_encoded_len(len), i, o = 0;
	char *out = xmalloc(n + 1);

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
		out[o++] = alphabet[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = i + 1 < len ? alphabet[v >> 6 & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	if (outlen != NULL)
		*outlen = o;
	return out;
}

static int
value_of(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int
base64_decode(uint8_t **out, size_t *outlen, const char *s, size_t n,
    unsigned flags)
{
	uint8_t *res = xmalloc(n / 4 * 3 + 4);
	uint32_t acc = 0;
	size_t i, o = 0, chars = 0, pad = 0;
	int bits = 0, v;

	*out = NULL;
	*outlen = 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((flags & BASE64_SKIP_SPACE) && is_space(c))
			continue;
		if (c == '=') {
			pad++;
			chars++;
			continue;
		}
		if (pad > 0 || (v = value_of(c)) < 0)
			goto bad;	/* data after padding, or not base64 */
		chars++;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			res[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* Whole quanta, at most two '=', and the unused bits zero (canonical). */
	if (chars % 4 != 0 || pad > 2 || (pad > 0 && bits != 2 * (int)pad) ||
	    (acc & ((1u << bits) - 1)) != 0)
		goto bad;
	res[o] = '\0';
	*out = res;
	*outlen = o;
	return 0;
bad:
	free(res);
	err_set("invalid base64");
	return ERR_INVALID;
}
