/*
 * sigv4.c - AWS Signature Version 4 signing (header and query forms).
 *
 * Follows the published algorithm step by step:
 *   1. canonical request  (method, path, query, headers, signed headers, payload hash)
 *   2. string to sign     (algorithm, time, scope, hex SHA-256 of 1)
 *   3. signing key        (HMAC chain over date, region, service, "aws4_request")
 *   4. signature          (hex HMAC of 2 with 3)
 * and keeps each stage in the result so tests compare them one by one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pthread.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "buf.h"
#include "creds.h"
#include "err.h"
#include "mem.h"
#include "sigv4.h"

#define SIGV4_MAX_TEXT		(1024 * 1024)	/* any one stage */
#define SIGV4_MAX_EXPIRES	604800		/* 7 days, the AWS limit */
#define SIGV4_MAX_ADDED		4

struct sigv4_result {
	char			*creq;
	char			*sts;
	char			*signature;
	char			*signed_headers;
	char			*authorization;
	char			*query;
	struct sigv4_header	 added[SIGV4_MAX_ADDED];
	char			*added_values[SIGV4_MAX_ADDED];
	size_t			 nadded;
};

/* One header or query parameter while canonicalizing. */
struct kv {
	char	*name;
	char	*value;
	size_t	 order;		/* input position, keeps sorting stable */
};

struct kvlist {
	struct kv	*v;
	size_t		 n;
	size_t		 cap;
};

static const char hexdig[] = "0123456789ABCDEF";
static const char hexlow[] = "0123456789abcdef";

static void
kvlist_add(struct kvlist *l, char *name, char *value)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n].name = name;
	l->v[l->n].value = value;
	l->v[l->n].order = l->n;
	l->n++;
}

static void
kvlist_dispose(struct kvlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		mem_free_secret(l->v[i].name);
		mem_free_secret(l->v[i].value);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int
kv_cmp_name(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int
kv_cmp_name_value(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return strcmp(x->value, y->value);
}

static int
is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

int
sigv4_uri_encode(struct buf *b, const char *s, size_t len, int keep_slash)
{
	char esc[3];
	int error;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_unreserved(c) || (keep_slash && c == '/')) {
			if ((error = buf_addch(b, (char)c)) != 0)
				return error;
			continue;
		}
		esc[0] = '%';
		esc[1] = hexdig[c >> 4];
		esc[2] = hexdig[c & 0xf];
		if ((error = buf_add(b, esc, 3)) != 0)
			return error;
	}
	return 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..len) into a new string; bad escapes stay literal. */
static char *
uri_decode(const char *s, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			out[o++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 2;
		} else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

/* Encode s[0..len) as a query component into a new string. */
static char *
query_encode(const char *s, size_t len)
{
	struct buf b;

	buf_init_secret(&b, SIGV4_MAX_TEXT);
	if (sigv4_uri_encode(&b, s, len, 0) != 0) {
		buf_dispose(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

void
sigv4_sha256_hex(char out[SIGV4_SHA256_HEX_LEN + 1], const void *data, size_t len)
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(data, len, md);
	for (size_t i = 0; i < sizeof(md); i++) {
		out[2 * i] = hexlow[md[i] >> 4];
		out[2 * i + 1] = hexlow[md[i] & 0xf];
	}
	out[SIGV4_SHA256_HEX_LEN] = '\0';
}

void
sigv4_format_time(char out[17], time_t t)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
		memcpy(out, "19700101T000000Z", 17);
}

/*
 * The canonical URI: optionally remove dot segments and empty segments
 * (RFC 3986 5.2.4 plus "//" collapsing), then optionally encode once.
 */
static int
canonical_path(struct buf *out, const char *path, unsigned flags)
{
	struct buf norm;
	const char **seg = NULL;
	size_t *seglen = NULL, nseg = 0, cap = 0;
	const char *p, *e;
	int trailing = 0, error = ERR_INVALID;

	buf_init(&norm, SIGV4_MAX_TEXT);
	if (path == NULL || *path == '\0')
		path = "/";
	if (!(flags & SIGV4_NORMALIZE_PATH)) {
		if ((error = buf_addstr(&norm, path)) != 0)
			goto done;
	} else {
		for (p = path; ; p = e + 1) {
			size_t len;

			e = strchr(p, '/');
			len = e ? (size_t)(e - p) : strlen(p);
			if (len == 2 && p[0] == '.' && p[1] == '.') {
				if (nseg > 0)
					nseg--;
			} else if (!(len == 0 || (len == 1 && p[0] == '.'))) {
				if (nseg == cap) {
					cap = cap ? cap * 2 : 16;
					seg = xreallocarray(seg, cap, sizeof(*seg));
					seglen = xreallocarray(seglen, cap, sizeof(*seglen));
				}
				seg[nseg] = p;
				seglen[nseg++] = len;
			}
			if (e == NULL)
				break;
		}
		/* A trailing '/' stays when something is left (as botocore). */
		trailing = path[strlen(path) - 1] == '/';
		if ((error = buf_addch(&norm, '/')) != 0)
			goto done;
		for (size_t i = 0; i < nseg; i++) {
			if (i > 0 && (error = buf_addch(&norm, '/')) != 0)
				goto done;
			if ((error = buf_add(&norm, seg[i], seglen[i])) != 0)
				goto done;
		}
		if (nseg > 0 && trailing && (error = buf_addch(&norm, '/')) != 0)
			goto done;
	}
	if (flags & SIGV4_ENCODE_PATH)
		error = sigv4_uri_encode(out, norm.ptr, norm.len, 1);
	else
		error = buf_add(out, buf_cstr(&norm), norm.len);
done:
	free(seg);
	free(seglen);
	buf_dispose(&norm);
	return error;
}

/* Split query (as sent) into encoded name/value pairs appended to l. */
static int
query_parse(struct kvlist *l, const char *query)
{
	const char *p, *e, *eq;

	if (query == NULL || *query == '\0')
		return 0;
	for (p = query; ; p = e + 1) {
		char *dn, *dv, *n, *v;
		size_t len;

		e = strchr(p, '&');
		len = e ? (size_t)(e - p) : strlen(p);
		if (len > 0) {
			eq = memchr(p, '=', len);
			dn = uri_decode(p, eq ? (size_t)(eq - p) : len);
			dv = eq ? uri_decode(eq + 1, len - (size_t)(eq + 1 - p)) :
			    xstrdup("");
			n = query_encode(dn, strlen(dn));
			v = query_encode(dv, strlen(dv));
			mem_free_secret(dn);
			mem_free_secret(dv);
			if (n == NULL || v == NULL) {
				mem_free_secret(n);
				mem_free_secret(v);
				return ERR_LIMIT;
			}
			kvlist_add(l, n, v);
		}
		if (e == NULL)
			break;
	}
	return 0;
}

/* Trim and collapse whitespace (folded lines included) into a new string. */
static char *
header_value_trim(const char *v)
{
	size_t len = strlen(v), o = 0;
	char *out = xmalloc(len + 1);
	int space = 0;

	for (size_t i = 0; i < len; i++) {
		char c = v[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			space = 1;
			continue;
		}
		if (space && o > 0)
			out[o++] = ' ';
		space = 0;
		out[o++] = c;
	}
	out[o] = '\0';
	return out;
}

static char *
lower_dup(const char *s)
{
	char *d = xstrdup(s);

	for (char *p = d; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return d;
}

static const char *
header_find(const struct sigv4_request *req, const char *name)
{
	for (size_t i = 0; i < req->nheaders; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

static void
result_add_header(struct sigv4_result *r, const char *name, const char *value)
{
	r->added_values[r->nadded] = xstrdup(value);
	r->added[r->nadded].name = name;
	r->added[r->nadded].value = r->added_values[r->nadded];
	r->nadded++;
}

static int
hmac_sha256(unsigned char out[32], const void *key, size_t keylen,
    const void *data, size_t len)
{
	unsigned int outlen = 32;

	if (HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &outlen) == NULL ||
	    outlen != 32) {
		err_set("sigv4: HMAC-SHA256 failed");
		return ERR_GENERIC;
	}
	return 0;
}

/* kSigning = HMAC chain over date, region, service, "aws4_request". */
static int
derive_key(unsigned char key[32], const char *secret, const char *date,
    const char *region, const char *service)
{
	unsigned char k1[32], k2[32];
	char *kseed;
	int error;

	kseed = xasprintf("AWS4%s", secret);
	error = hmac_sha256(k1, kseed, strlen(kseed), date, strlen(date));
	mem_free_secret(kseed);
	if (error == 0 &&
	    (error = hmac_sha256(k2, k1, 32, region, strlen(region))) == 0 &&
	    (error = hmac_sha256(k1, k2, 32, service, strlen(service))) == 0)
		error = hmac_sha256(key, k1, 32, "aws4_request", 12);
	mem_wipe(k1, sizeof(k1));
	mem_wipe(k2, sizeof(k2));
	return error;
}

/* ---- signing-key cache ---- */

#define KEY_CACHE_SLOTS	8

struct key_slot {
	int		 used;
	char		 akid[129];
	unsigned char	 secret_hash[32];	/* SHA-256 of the secret */
	char		 date[9];
	char		 region[64];
	char		 service[64];
	unsigned char	 key[32];
};

struct sigv4_key_cache {
	pthread_mutex_t	 lock;
	struct key_slot	 slot[KEY_CACHE_SLOTS];
	size_t		 next;		/* round-robin victim */
	unsigned long	 hits, misses;
};

int
sigv4_key_cache_new(struct sigv4_key_cache **out)
{
	struct sigv4_key_cache *c = xcalloc(1, sizeof(*c));

	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void
sigv4_key_cache_free(struct sigv4_key_cache *c)
{
	if (c == NULL)
		return;
	pthread_mutex_destroy(&c->lock);
	mem_wipe(c, sizeof(*c));
	free(c);
}

void
sigv4_key_cache_stats(const struct sigv4_key_cache *c, unsigned long *hits,
    unsigned long *misses)
{
	*hits = c->hits;
	*misses = c->misses;
}

/* The signing key from the cache, or derived and remembered. */
static int
cached_key(unsigned char key[32], struct sigv4_key_cache *c,
    const char *akid, const char *secret, const char *date,
    const char *region, const char *service)
{
	unsigned char sh[32];
	struct key_slot *s;
	int error;

	if (c == NULL || strlen(akid) >= sizeof(s->akid) ||
	    strlen(region) >= sizeof(s->region) ||
	    strlen(service) >= sizeof(s->service))
		return derive_key(key, secret, date, region, service);
	SHA256((const unsigned char *)secret, strlen(secret), sh);
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < KEY_CACHE_SLOTS; i++) {
		s = &c->slot[i];
		if (s->used && strcmp(s->date, date) == 0 &&
		    strcmp(s->akid, akid) == 0 &&
		    strcmp(s->region, region) == 0 &&
		    strcmp(s->service, service) == 0 &&
		    CRYPTO_memcmp(s->secret_hash, sh, 32) == 0) {
			memcpy(key, s->key, 32);
			c->hits++;
			pthread_mutex_unlock(&c->lock);
			mem_wipe(sh, sizeof(sh));
			return 0;
		}
	}
	c->misses++;
	pthread_mutex_unlock(&c->lock);
	if ((error = derive_key(key, secret, date, region, service)) != 0)
		goto done;
	pthread_mutex_lock(&c->lock);
	s = &c->slot[c->next];
	c->next = (c->next + 1) % KEY_CACHE_SLOTS;
	mem_wipe(s, sizeof(*s));
	s->used = 1;
	snprintf(s->akid, sizeof(s->akid), "%s", akid);
	memcpy(s->secret_hash, sh, 32);
	snprintf(s->date, sizeof(s->date), "%s", date);
	snprintf(s->region, sizeof(s->region), "%s", region);
	snprintf(s->service, sizeof(s->service), "%s", service);
	memcpy(s->key, key, 32);
	pthread_mutex_unlock(&c->lock);
done:
	mem_wipe(sh, sizeof(sh));
	return error;
}

/* signature = hex(HMAC(kSigning, sts)); every key is wiped on the way. */
static int
compute_signature(char out[65], const struct sigv4_params *p,
    const char *date, const char *sts)
{
	unsigned char key[32], mac[32];
	int error;

	if ((error = cached_key(key, p->key_cache,
	    aws_creds_access_key_id(p->creds),
	    aws_creds_secret_access_key(p->creds), date, p->region,
	    p->service)) != 0 ||
	    (error = hmac_sha256(mac, key, 32, sts, strlen(sts))) != 0)
		goto done;
	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = hexlow[mac[i] >> 4];
		out[2 * i + 1] = hexlow[mac[i] & 0xf];
	}
	out[64] = '\0';
done:
	mem_wipe(key, sizeof(key));
	mem_wipe(mac, sizeof(mac));
	return error;
}

/* 1 if s has a control byte (or a space, with no_space). NULL is fine. */
static int
has_bad_bytes(const char *s, int no_space)
{
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f || (no_space && c == ' '))
			return 1;
	}
	return 0;
}

static int
check_inputs(const struct sigv4_request *req, const struct sigv4_params *p)
{
	if (req == NULL || p == NULL || p->creds == NULL) {
		err_set("sigv4: no request or credentials");
		return ERR_INVALID;
	}
	if (req->method == NULL || *req->method == '\0') {
		err_set("sigv4: no method");
		return ERR_INVALID;
	}
	if (p->region == NULL || *p->region == '\0' ||
	    p->service == NULL || *p->service == '\0') {
		err_set("sigv4: region and service are required");
		return ERR_INVALID;
	}
	if (header_find(req, "host") == NULL) {
		err_set("sigv4: the Host header is required");
		return ERR_INVALID;
	}
	if (p->form == SIGV4_FORM_QUERY &&
	    (p->expires < 1 || p->expires > SIGV4_MAX_EXPIRES)) {
		err_set("sigv4: expires must be 1..%d seconds, not %u",
		    SIGV4_MAX_EXPIRES, p->expires);
		return ERR_INVALID;
	}
	if (req->payload_hash != NULL &&
	    strcmp(req->payload_hash, SIGV4_UNSIGNED_PAYLOAD) != 0 &&
	    strlen(req->payload_hash) != SIGV4_SHA256_HEX_LEN) {
		err_set("sigv4: payload hash is neither hex SHA-256 nor %s",
		    SIGV4_UNSIGNED_PAYLOAD);
		return ERR_INVALID;
	}
	/*
	 * Nothing that would break the request line: no control bytes in the
	 * path or the query, and no space in a path signed as sent.
	 */
	if (has_bad_bytes(req->path, !(p->flags & SIGV4_ENCODE_PATH)) ||
	    has_bad_bytes(req->query, 0) || has_bad_bytes(req->method, 1)) {
		err_set("sigv4: control characters in the method, path or query");
		return ERR_INVALID;
	}
	for (size_t i = 0; i < req->nheaders; i++) {
		const char *n = req->headers[i].name;

		if (n == NULL || *n == '\0' || req->headers[i].value == NULL ||
		    strpbrk(n, ":") != NULL || has_bad_bytes(n, 1)) {
			err_set("sigv4: header %zu has a bad name or no value", i);
			return ERR_INVALID;
		}
		/* Values may be folded (CR, LF, tab); other controls are bad. */
		for (const char *v = req->headers[i].value; *v; v++) {
			unsigned char c = (unsigned char)*v;

			if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') ||
			    c == 0x7f) {
				err_set("sigv4: header %zu has a control character "
				    "in its value", i);
				return ERR_INVALID;
			}
		}
	}
	return 0;
}

/*
 * Canonical headers into creq and the signed header list into sh.
 * Builds the list of (lower-case name, trimmed value), adds what the
 * signer itself signs, sorts stably and combines repeated names.
 */
static int
canonical_headers(struct buf *creq, struct buf *sh,
    const struct sigv4_request *req, const struct sigv4_params *p,
    const char *amzdate, const char *token, const char *payload)
{
	struct kvlist l = { 0 };
	int error = 0;

	for (size_t i = 0; i < req->nheaders; i++)
		kvlist_add(&l, lower_dup(req->headers[i].name),
		    header_value_trim(req->headers[i].value));
	if (p->form == SIGV4_FORM_HEADER) {
		if (header_find(req, "x-amz-date") == NULL)
			kvlist_add(&l, xstrdup("x-amz-date"), xstrdup(amzdate));
		if (token != NULL && !(p->flags & SIGV4_OMIT_SESSION_TOKEN) &&
		    header_find(req, "x-amz-security-token") == NULL)
			kvlist_add(&l, xstrdup("x-amz-security-token"),
			    xstrdup(token));
		if ((p->flags & SIGV4_CONTENT_SHA256) &&
		    header_find(req, "x-amz-content-sha256") == NULL)
			kvlist_add(&l, xstrdup("x-amz-content-sha256"),
			    xstrdup(payload));
	}
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), kv_cmp_name);
	for (size_t i = 0; i < l.n && error == 0; i++) {
		int same = i > 0 && strcmp(l.v[i].name, l.v[i - 1].name) == 0;

		if (same) {
			/* Continue the previous line: ",value". */
			creq->len--;		/* drop its '\n' */
			creq->ptr[creq->len] = '\0';
			error = buf_printf(creq, ",%s\n", l.v[i].value);
			continue;
		}
		error = buf_printf(creq, "%s:%s\n", l.v[i].name, l.v[i].value);
		if (error == 0 && sh->len > 0)
			error = buf_addch(sh, ';');
		if (error == 0)
			error = buf_addstr(sh, l.v[i].name);
	}
	kvlist_dispose(&l);
	return error;
}

/*
 * Canonical query into creq.  In query form the X-Amz-* parameters are
 * part of it; signed_headers is known by then.
 */
static int
canonical_query(struct buf *creq, const struct sigv4_request *req,
    const struct sigv4_params *p, const char *amzdate, const char *token,
    const char *credential, const char *signed_headers)
{
	struct kvlist l = { 0 };
	int error;

	if ((error = query_parse(&l, req->query)) != 0)
		goto done;
	if (p->form == SIGV4_FORM_QUERY) {
		char exp[16];
		char *c = query_encode(credential, strlen(credential));
		char *s = query_encode(signed_headers, strlen(signed_headers));

		if (c == NULL || s == NULL) {
			free(c);
			free(s);
			error = ERR_LIMIT;
			goto done;
		}
		snprintf(exp, sizeof(exp), "%u", p->expires);
		kvlist_add(&l, xstrdup("X-Amz-Algorithm"), xstrdup(SIGV4_ALGORITHM));
		kvlist_add(&l, xstrdup("X-Amz-Credential"), c);
		kvlist_add(&l, xstrdup("X-Amz-Date"), xstrdup(amzdate));
		kvlist_add(&l, xstrdup("X-Amz-Expires"), xstrdup(exp));
		kvlist_add(&l, xstrdup("X-Amz-SignedHeaders"), s);
		if (token != NULL && !(p->flags & SIGV4_OMIT_SESSION_TOKEN)) {
			char *t = query_encode(token, strlen(token));

			if (t == NULL) {
				error = ERR_LIMIT;
				goto done;
			}
			kvlist_add(&l, xstrdup("X-Amz-Security-Token"), t);
		}
	}
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), kv_cmp_name_value);
	for (size_t i = 0; i < l.n && error == 0; i++)
		error = buf_printf(creq, "%s%s=%s", i ? "&" : "", l.v[i].name,
		    l.v[i].value);
done:
	kvlist_dispose(&l);
	return error;
}

/* The query string to send in query form: as sent, then X-Amz-*. */
static int
signed_query(struct buf *q, const struct sigv4_request *req,
    const struct sigv4_params *p, const char *amzdate, const char *token,
    const char *credential, const char *signed_headers, const char *sig)
{
	int error;

	if (req->query != NULL && *req->query != '\0' &&
	    ((error = buf_addstr(q, req->query)) != 0 ||
	    (error = buf_addch(q, '&')) != 0))
		return error;
	if ((error = buf_printf(q, "X-Amz-Algorithm=%s&X-Amz-Credential=",
	    SIGV4_ALGORITHM)) != 0 ||
	    (error = sigv4_uri_encode(q, credential, strlen(credential), 0)) != 0 ||
	    (error = buf_printf(q, "&X-Amz-Date=%s&X-Amz-SignedHeaders=",
	    amzdate)) != 0 ||
	    (error = sigv4_uri_encode(q, signed_headers, strlen(signed_headers),
	    0)) != 0 ||
	    (error = buf_printf(q, "&X-Amz-Expires=%u", p->expires)) != 0)
		return error;
	if (token != NULL &&
	    ((error = buf_addstr(q, "&X-Amz-Security-Token=")) != 0 ||
	    (error = sigv4_uri_encode(q, token, strlen(token), 0)) != 0))
		return error;
	return buf_printf(q, "&X-Amz-Signature=%s", sig);
}

int
sigv4_sign(struct sigv4_result **out, const struct sigv4_request *req,
    const struct sigv4_params *p)
{
	struct sigv4_result *r = NULL;
	struct buf creq, sh, sts, q, hdrs;
	char amzdate[17], date[9], sig[65], crhash[65];
	const char *token, *payload, *have_date;
	char *scope = NULL, *credential = NULL;
	int error;

	*out = NULL;
	buf_init_secret(&creq, SIGV4_MAX_TEXT);
	buf_init(&sh, SIGV4_MAX_TEXT);
	buf_init(&sts, SIGV4_MAX_TEXT);
	buf_init_secret(&q, SIGV4_MAX_TEXT);
	buf_init_secret(&hdrs, SIGV4_MAX_TEXT);
	if ((error = check_inputs(req, p)) != 0)
		goto done;

	sigv4_format_time(amzdate, p->time);
	memcpy(date, amzdate, 8);
	date[8] = '\0';
	have_date = header_find(req, "x-amz-date");
	if (p->form == SIGV4_FORM_HEADER && have_date != NULL &&
	    strcmp(have_date, amzdate) != 0) {
		err_set("sigv4: X-Amz-Date header differs from the signing time %s",
		    amzdate);
		error = ERR_INVALID;
		goto done;
	}
	token = aws_creds_session_token(p->creds);
	if (token != NULL && *token == '\0')
		token = NULL;
	payload = req->payload_hash ? req->payload_hash : SIGV4_EMPTY_SHA256;
	scope = xasprintf("%s/%s/%s/aws4_request", date, p->region, p->service);
	credential = xasprintf("%s/%s", aws_creds_access_key_id(p->creds), scope);

	/* 1. canonical request; headers first to learn the signed list. */
	error = canonical_headers(&hdrs, &sh, req, p, amzdate, token, payload);
	if (error == 0 &&
	    (error = buf_printf(&creq, "%s\n", req->method)) == 0 &&
	    (error = canonical_path(&creq, req->path, p->flags)) == 0 &&
	    (error = buf_addch(&creq, '\n')) == 0 &&
	    (error = canonical_query(&creq, req, p, amzdate, token, credential,
	    buf_cstr(&sh))) == 0)
		error = buf_printf(&creq, "\n%s\n%s\n%s", buf_cstr(&hdrs),
		    buf_cstr(&sh), payload);
	if (error != 0)
		goto done;

	/* 2. string to sign. */
	sigv4_sha256_hex(crhash, creq.ptr, creq.len);
	if ((error = buf_printf(&sts, "%s\n%s\n%s\n%s", SIGV4_ALGORITHM, amzdate,
	    scope, crhash)) != 0)
		goto done;

	/* 3 and 4. */
	if ((error = compute_signature(sig, p, date, buf_cstr(&sts))) != 0)
		goto done;

	r = xcalloc(1, sizeof(*r));
	r->signature = xstrdup(sig);
	r->signed_headers = xstrdup(buf_cstr(&sh));
	if (p->form == SIGV4_FORM_HEADER) {
		r->authorization = xasprintf("%s Credential=%s, SignedHeaders=%s, "
		    "Signature=%s", SIGV4_ALGORITHM, credential, buf_cstr(&sh), sig);
		if (token != NULL &&
		    header_find(req, "x-amz-security-token") == NULL)
			result_add_header(r, "X-Amz-Security-Token", token);
		if (have_date == NULL)
			result_add_header(r, "X-Amz-Date", amzdate);
		if ((p->flags & SIGV4_CONTENT_SHA256) &&
		    header_find(req, "x-amz-content-sha256") == NULL)
			result_add_header(r, "x-amz-content-sha256", payload);
		result_add_header(r, "Authorization", r->authorization);
		r->query = xstrdup(req->query ? req->query : "");
	} else {
		if ((error = signed_query(&q, req, p, amzdate, token, credential,
		    buf_cstr(&sh), sig)) != 0)
			goto done;
		r->query = buf_detach(&q, NULL);
	}
	r->creq = buf_detach(&creq, NULL);
	r->sts = buf_detach(&sts, NULL);
	*out = r;
	r = NULL;
	error = 0;
done:
	sigv4_result_free(r);
	free(scope);
	free(credential);
	buf_dispose(&creq);
	buf_dispose(&sh);
	buf_dispose(&sts);
	buf_dispose(&q);
	buf_dispose(&hdrs);
	mem_wipe(sig, sizeof(sig));
	return error;
}

void
sigv4_result_free(struct sigv4_result *r)
{
	if (r == NULL)
		return;
	mem_free_secret(r->creq);
	mem_free_secret(r->sts);
	mem_free_secret(r->signature);
	mem_free_secret(r->signed_headers);
	mem_free_secret(r->authorization);
	mem_free_secret(r->query);
	for (size_t i = 0; i < r->nadded; i++)
		mem_free_secret(r->added_values[i]);
	free(r);
}

const char *
sigv4_result_canonical_request(const struct sigv4_result *r)
{
	return r->creq;
}

const char *
sigv4_result_string_to_sign(const struct sigv4_result *r)
{
	return r->sts;
}

const char *
sigv4_result_signature(const struct sigv4_result *r)
{
	return r->signature;
}

const char *
sigv4_result_signed_headers(const struct sigv4_result *r)
{
	return r->signed_headers;
}

const char *
sigv4_result_authorization(const struct sigv4_result *r)
{
	return r->authorization;
}

const char *
sigv4_result_query(const struct sigv4_result *r)
{
	return r->query;
}

size_t
sigv4_result_header_count(const struct sigv4_result *r)
{
	return r->nadded;
}

const struct sigv4_header *
sigv4_result_header(const struct sigv4_result *r, size_t i)
{
	if (i >= r->nadded)
		return NULL;
	return &r->added[i];
}
