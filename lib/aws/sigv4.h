/*
 * sigv4.h - AWS Signature Version 4 (AWS4-HMAC-SHA256), header and
 * query (presigned URL) forms.
 *
 * The signer is a pure function of its inputs: the signing time is an
 * argument and nothing is read from the clock or the environment.  The
 * result keeps every stage (canonical request, string to sign, signature)
 * so tests check them one by one against AWS's own test suite.
 *
 * Typical use (header form, EC2 Query API):
 *
 *	struct sigv4_header hdrs[] = {
 *		{ "Host", "ec2.us-east-1.amazonaws.com" },
 *		{ "Content-Type", "application/x-www-form-urlencoded; charset=utf-8" },
 *	};
 *	struct sigv4_request req = {
 *		.method = "POST", .path = "/", .query = NULL,
 *		.headers = hdrs, .nheaders = 2, .payload_hash = hex,
 *	};
 *	struct sigv4_params p = {
 *		.creds = creds, .region = "us-east-1", .service = "ec2",
 *		.time = now, .flags = SIGV4_FLAGS_DEFAULT, .form = SIGV4_FORM_HEADER,
 *	};
 *	struct sigv4_result *r;
 *	if (sigv4_sign(&r, &req, &p) == 0) {
 *		for (size_t i = 0; i < sigv4_result_header_count(r); i++)
 *			... add sigv4_result_header(r, i) to the request ...
 *		sigv4_result_free(r);
 *	}
 *
 * For S3 use SIGV4_FLAGS_S3 (path signed exactly as sent) and, to
 * presign, SIGV4_FORM_QUERY with .expires and payload_hash
 * SIGV4_UNSIGNED_PAYLOAD; the URL is path + "?" + sigv4_result_query(r).
 *
 * Secrets: the secret key and the derived keys are wiped after use; the
 * session token appears (as it must) in the canonical request and in the
 * added header/query parameter, and the result is wiped when freed.
 */
#ifndef ENVCTL_SIGV4_H
#define ENVCTL_SIGV4_H

#include <stddef.h>
#include <time.h>

struct aws_creds;		/* creds.h */
struct sigv4_result;
struct sigv4_key_cache;

#define SIGV4_ALGORITHM		"AWS4-HMAC-SHA256"
#define SIGV4_UNSIGNED_PAYLOAD	"UNSIGNED-PAYLOAD"
/* Hex SHA-256 of the empty string. */
#define SIGV4_EMPTY_SHA256	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_SHA256_HEX_LEN	64

enum sigv4_form {
	SIGV4_FORM_HEADER = 0,	/* Authorization header */
	SIGV4_FORM_QUERY,	/* X-Amz-* query parameters (presigned URL) */
};

enum sigv4_flags {
	/* Remove "." and ".." segments and collapse "//" in the path. */
	SIGV4_NORMALIZE_PATH	 = 1 << 0,
	/*
	 * URI-encode the path once more (RFC 3986 unreserved kept, '/'
	 * kept).  Services other than S3 sign the path encoded twice when it
	 * is given as sent on the wire; S3 signs it as sent.
	 */
	SIGV4_ENCODE_PATH	 = 1 << 1,
	/*
	 * Sign without the session token and add it afterwards (the
	 * X-Amz-Security-Token header or query parameter is still returned,
	 * just not covered by the signature).  A few services want this.
	 */
	SIGV4_OMIT_SESSION_TOKEN = 1 << 2,
	/* Header form: add and sign "x-amz-content-sha256: <payload_hash>" (S3). */
	SIGV4_CONTENT_SHA256	 = 1 << 3,
};

#define SIGV4_FLAGS_DEFAULT	(SIGV4_NORMALIZE_PATH | SIGV4_ENCODE_PATH)
#define SIGV4_FLAGS_S3		(SIGV4_CONTENT_SHA256)

struct sigv4_header {
	const char	*name;
	const char	*value;
};

struct sigv4_request {
	const char	*method;	/* "GET", "POST", ... */
	const char	*path;		/* as sent, "/" when empty; no query */
	const char	*query;		/* as sent, without '?'; NULL or "" for none */
	/*
	 * Every header that will be sent and signed; Host is required.
	 * Names compare case-insensitively; repeated names are combined
	 * in order.  If X-Amz-Date or X-Amz-Security-Token are already
	 * present they are used (the date must match params.time) and not
	 * added again.
	 */
	const struct sigv4_header *headers;
	size_t		 nheaders;
	/* Hex SHA-256 of the body or SIGV4_UNSIGNED_PAYLOAD; NULL = empty body. */
	const char	*payload_hash;
};

struct sigv4_params {
	const struct aws_creds *creds;	/* key id, secret, optional token */
	const char	*region;	/* "us-east-1" */
	const char	*service;	/* "ec2", "s3", "sts" */
	time_t		 time;		/* signing time, UTC seconds */
	unsigned	 flags;		/* enum sigv4_flags */
	enum sigv4_form	 form;
	unsigned	 expires;	/* query form: X-Amz-Expires, 1..604800 */
	/* Optional: remembers derived signing keys (one per key id, day,
	 * region and service); NULL derives the key every time. */
	struct sigv4_key_cache *key_cache;
};

/*
 * A small thread-safe cache of signing keys, so a client signing many
 * requests derives each day's key once.  The derived keys are wiped on
 * free; entries match on a SHA-256 of the secret as well as the key id,
 * so rotated secrets never reuse a stale key.  Returns 0.
 */
int	 sigv4_key_cache_new(struct sigv4_key_cache **out);
void	 sigv4_key_cache_free(struct sigv4_key_cache *);
/* How many signings found their key in the cache, and how many did not. */
void	 sigv4_key_cache_stats(const struct sigv4_key_cache *,
	    unsigned long *hits, unsigned long *misses);

/*
 * Sign req with p.  On success *out is a new result the caller frees
 * with sigv4_result_free(); on failure *out is NULL and the return is
 * ERR_INVALID for bad input (no Host, control bytes in the method, path,
 * query or a header, a space in a path signed as sent, an X-Amz-Date
 * header other than p->time, expires out of range) or ERR_LIMIT past
 * 1 MiB; the message in err_get() never contains a secret.  Neither req
 * nor p is kept.
 */
int	 sigv4_sign(struct sigv4_result **out, const struct sigv4_request *req,
	    const struct sigv4_params *p);
/* Wipe and free; NULL does nothing. */
void	 sigv4_result_free(struct sigv4_result *);

/* The stages; strings belong to the result. */
const char *sigv4_result_canonical_request(const struct sigv4_result *);
const char *sigv4_result_string_to_sign(const struct sigv4_result *);
const char *sigv4_result_signature(const struct sigv4_result *);	/* 64 hex */
const char *sigv4_result_signed_headers(const struct sigv4_result *);	/* "host;x-amz-date" */
/* Header form: the Authorization header value; query form: NULL. */
const char *sigv4_result_authorization(const struct sigv4_result *);
/*
 * Query form: the complete query string to send (the request's own
 * query as sent, then the X-Amz-* parameters, X-Amz-Signature last),
 * without '?'.  Header form: the request's query as sent ("" if none).
 */
const char *sigv4_result_query(const struct sigv4_result *);
/*
 * Headers the caller adds to the request, in order: header form
 * X-Amz-Security-Token (if any), X-Amz-Date, x-amz-content-sha256 (with
 * SIGV4_CONTENT_SHA256), Authorization; query form: none.  Each entry
 * belongs to the result.
 */
size_t	 sigv4_result_header_count(const struct sigv4_result *);
const struct sigv4_header *sigv4_result_header(const struct sigv4_result *, size_t i);

/* Hex SHA-256 of len bytes at data into out (65 bytes with the NUL). */
void	 sigv4_sha256_hex(char out[SIGV4_SHA256_HEX_LEN + 1], const void *data,
	    size_t len);
/*
 * URI-encode s (len bytes) into b per SigV4: A-Z a-z 0-9 - . _ ~ kept,
 * everything else %XX in upper-case hex, and '/' kept when keep_slash.
 * Returns 0 or ERR_LIMIT from the buffer.
 */
struct buf;
int	 sigv4_uri_encode(struct buf *b, const char *s, size_t len, int keep_slash);
/* Format t as "YYYYMMDDTHHMMSSZ" (amz) into out[17]. */
void	 sigv4_format_time(char out[17], time_t t);

#endif
