/*
 * sshkey.c - SSH key pairs in OpenSSH formats (PROTOCOL.key, RFC 4253,
 * RFC 5656, RFC 8709), made with OpenSSL 3 EVP.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include "base64.h"
#include "buf.h"
#include "err.h"
#include "mem.h"
#include "sshkey.h"
#include "sshkey_int.h"

#define ED25519_PK_LEN	32
#define ED25519_SK_LEN	64	/* seed || public key, as OpenSSH keeps it */
#define BLOB_MAX	(64 * 1024)
#define PEM_BEGIN	"-----BEGIN OPENSSH PRIVATE KEY-----\n"
#define PEM_END		"-----END OPENSSH PRIVATE KEY-----\n"
#define PEM_COLUMNS	70
#define AUTH_MAGIC	"openssh-key-v1"	/* written with its NUL */

struct sshkey {
	enum sshkey_type type;
	EVP_PKEY	*pkey;		/* generated pair; NULL for a parsed public key */
	unsigned	 bits;
	uint8_t		*blob;		/* public key in SSH wire format */
	size_t		 bloblen;
	char		*comment;
};

static const struct keytype {
	enum sshkey_type type;
	const char	*name;
	const char	*curve;		/* SSH curve name for ECDSA */
	const char	*group;		/* OpenSSL group name for ECDSA */
	size_t		 pointlen;	/* uncompressed point */
	unsigned	 bits;
} keytypes[] = {
	{ SSHKEY_ED25519, "ssh-ed25519", NULL, NULL, 0, 256 },
	{ SSHKEY_RSA, "ssh-rsa", NULL, NULL, 0, 0 },
	{ SSHKEY_ECDSA_P256, "ecdsa-sha2-nistp256", "nistp256", "P-256", 65, 256 },
	{ SSHKEY_ECDSA_P384, "ecdsa-sha2-nistp384", "nistp384", "P-384", 97, 384 },
	{ SSHKEY_ECDSA_P521, "ecdsa-sha2-nistp521", "nistp521", "P-521", 133, 521 },
};

static const struct keytype *
keytype_by_type(enum sshkey_type type)
{
	size_t i;

	for (i = 0; i < sizeof(keytypes) / sizeof(keytypes[0]); i++)
		if (keytypes[i].type == type)
			return &keytypes[i];
	return NULL;
}

static const struct keytype *
keytype_by_name(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(keytypes) / sizeof(keytypes[0]); i++)
		if (strlen(keytypes[i].name) == len &&
		    memcmp(keytypes[i].name, name, len) == 0)
			return &keytypes[i];
	return NULL;
}

void
sshkey_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

/*
 * Writing the SSH wire format.  Errors are sticky: check w->error once
 * at the end.
 */
struct wire {
	struct buf	 b;
	int		 error;
};

static void
wire_init(struct wire *w, int secret)
{
	if (secret)
		buf_init_secret(&w->b, BLOB_MAX);
	else
		buf_init(&w->b, BLOB_MAX);
	w->error = 0;
}

static void
wire_add(struct wire *w, const void *p, size_t n)
{
	if (w->error == 0)
		w->error = buf_add(&w->b, p, n);
}

static void
wire_u32(struct wire *w, uint32_t v)
{
	uint8_t b[4];

	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
	wire_add(w, b, sizeof(b));
}

static void
wire_string(struct wire *w, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		w->error = ERR_LIMIT;
		return;
	}
	wire_u32(w, (uint32_t)n);
	wire_add(w, p, n);
}

static void
wire_cstring(struct wire *w, const char *s)
{
	wire_string(w, s, strlen(s));
}

/* An mpint (RFC 4251): big-endian, a 0 byte in front when the top bit is set. */
static void
wire_mpint(struct wire *w, const BIGNUM *bn)
{
	uint8_t *tmp;
	int n;

	n = BN_num_bytes(bn);
	tmp = xmalloc((size_t)n + 1);
	tmp[0] = 0;
	if (BN_bn2bin(bn, tmp + 1) != n) {
		if (w->error == 0)
			w->error = ERR_GENERIC;
	} else if (n > 0 && (tmp[1] & 0x80))
		wire_string(w, tmp, (size_t)n + 1);
	else
		wire_string(w, tmp + 1, (size_t)n);
	sshkey_wipe(tmp, (size_t)n + 1);
	free(tmp);
}

/*
 * Reading the SSH wire format.
 */
struct rd {
	const uint8_t	*p;
	size_t		 len;
};

static int
rd_u32(struct rd *r, uint32_t *v)
{
	if (r->len < 4)
		return -1;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
	    (uint32_t)r->p[2] << 8 | (uint32_t)r->p[3];
	r->p += 4;
	r->len -= 4;
	return 0;
}

static int
rd_string(struct rd *r, const uint8_t **p, size_t *n)
{
	uint32_t len;

	if (rd_u32(r, &len) != 0 || len > r->len)
		return -1;
	*p = r->p;
	*n = len;
	r->p += len;
	r->len -= len;
	return 0;
}

static int
rd_string_eq(struct rd *r, const char *s)
{
	const uint8_t *p;
	size_t n;

	if (rd_string(r, &p, &n) != 0)
		return -1;
	if (n != strlen(s) || memcmp(p, s, n) != 0)
		return -1;
	return 0;
}

/*
 * Base64 (lib/base): a key blob must be canonical base64, and not empty.
 */
int
sshkey_base64_decode(uint8_t **out, size_t *lenp, const char *s, size_t n)
{
	if (n == 0) {
		*out = NULL;
		*lenp = 0;
		return ERR_INVALID;
	}
	return base64_decode(out, lenp, s, n, BASE64_STRICT) < 0 ? ERR_INVALID : 0;
}

/*
 * Generating.
 */
static int
comment_ok(const char *c)
{
	size_t i, n = strlen(c);

	if (n > SSHKEY_COMMENT_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)c[i] < 0x20 || (unsigned char)c[i] == 0x7f)
			return 0;
	return 1;
}

/* Append the public key fields (without the type string) to w. */
static int
pub_fields(struct wire *w, const struct sshkey *key)
{
	uint8_t pk[ED25519_PK_LEN];
	size_t pklen = sizeof(pk);
	BIGNUM *n = NULL, *e = NULL;
	int error = ERR_GENERIC;

	switch (key->type) {
	case SSHKEY_ED25519:
		if (EVP_PKEY_get_raw_public_key(key->pkey, pk, &pklen) != 1 ||
		    pklen != sizeof(pk))
			goto out;
		wire_string(w, pk, pklen);
		break;
	case SSHKEY_RSA:
		if (EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1 ||
		    EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_RSA_N, &n) != 1)
			goto out;
		wire_mpint(w, e);
		wire_mpint(w, n);
		break;
	default:
		goto out;
	}
	error = 0;
out:
	BN_free(n);
	BN_free(e);
	return error;
}

static int
make_blob(struct sshkey *key)
{
	struct wire w;
	int error;

	wire_init(&w, 0);
	wire_cstring(&w, sshkey_type_name(key->type));
	if ((error = pub_fields(&w, key)) == 0 && (error = w.error) == 0)
		key->blob = (uint8_t *)buf_detach(&w.b, &key->bloblen);
	buf_dispose(&w.b);
	return error;
}

int
sshkey_generate(struct sshkey **out, enum sshkey_type type, const char *comment)
{
	struct sshkey *key = NULL;
	int error = ERR_INVALID;

	*out = NULL;
	if (comment == NULL)
		comment = "";
	if (!comment_ok(comment)) {
		err_set("ssh key comment has control characters or is too long");
		goto out;
	}
	key = xcalloc(1, sizeof(*key));
	key->type = type;
	key->comment = xstrdup(comment);
	switch (type) {
	case SSHKEY_ED25519:
		key->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		key->bits = 256;
		break;
	case SSHKEY_RSA:
		key->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
		    (size_t)SSHKEY_RSA_BITS);
		key->bits = SSHKEY_RSA_BITS;
		break;
	default:
		err_set("ssh key type %d cannot be generated", (int)type);
		goto out;
	}
	if (key->pkey == NULL) {
		err_set("OpenSSL could not generate a %s key", sshkey_type_name(type));
		error = ERR_GENERIC;
		goto out;
	}
	if ((error = make_blob(key)) != 0) {
		err_set("cannot encode the %s public key", sshkey_type_name(type));
		goto out;
	}
	*out = key;
	key = NULL;
out:
	sshkey_free(key);
	return error;
}

void
sshkey_free(struct sshkey *key)
{
	if (key == NULL)
		return;
	EVP_PKEY_free(key->pkey);	/* OpenSSL clears private key data */
	free(key->blob);
	free(key->comment);
	free(key);
}

/*
 * Parsing a public key line.
 */
static int
parse_rsa(struct sshkey *key, struct rd *r)
{
	const uint8_t *e, *n;
	size_t elen, nlen;

	if (rd_string(r, &e, &elen) != 0 || rd_string(r, &n, &nlen) != 0) {
		err_set("ssh-rsa key blob is truncated");
		return ERR_INVALID;
	}
	if (elen == 0 || (e[0] & 0x80) || (e[elen - 1] & 1) == 0 ||
	    nlen == 0 || (n[0] & 0x80)) {
		err_set("ssh-rsa key has a malformed exponent or modulus");
		return ERR_INVALID;
	}
	while (nlen > 0 && n[0] == 0) {
		n++;
		nlen--;
	}
	key->bits = 0;
	if (nlen > 0) {
		unsigned top = n[0];

		key->bits = (unsigned)(nlen - 1) * 8;
		while (top != 0) {
			key->bits++;
			top >>= 1;
		}
	}
	if (key->bits < SSHKEY_RSA_MIN_BITS || key->bits > SSHKEY_RSA_MAX_BITS) {
		err_set("ssh-rsa key has %u bits; %u to %u are accepted",
		    key->bits, SSHKEY_RSA_MIN_BITS, SSHKEY_RSA_MAX_BITS);
		return ERR_INVALID;
	}
	return 0;
}

static int
parse_ed25519(struct sshkey *key, struct rd *r)
{
	const uint8_t *pk;
	size_t pklen;
	EVP_PKEY *p;

	if (rd_string(r, &pk, &pklen) != 0 || pklen != ED25519_PK_LEN) {
		err_set("ssh-ed25519 key blob is truncated or malformed");
		return ERR_INVALID;
	}
	p = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, pklen);
	if (p == NULL) {
		err_set("ssh-ed25519 public key is not valid");
		return ERR_INVALID;
	}
	EVP_PKEY_free(p);
	key->bits = 256;
	return 0;
}

/* The point must be an uncompressed point on the named curve. */
static int
ec_point_ok(const struct keytype *kt, const uint8_t *q, size_t qlen)
{
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = NULL, *cctx = NULL;
	EVP_PKEY *p = NULL;
	/* OpenSSL's params take non-const pointers: give it copies */
	char group[32];
	uint8_t point[256];
	int ok = 0;

	if (qlen > sizeof(point) ||
	    (size_t)snprintf(group, sizeof(group), "%s", kt->group) >= sizeof(group))
		return 0;
	memcpy(point, q, qlen);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
	    group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
	    point, qlen);
	params[2] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &p, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	if ((cctx = EVP_PKEY_CTX_new_from_pkey(NULL, p, NULL)) == NULL ||
	    EVP_PKEY_public_check(cctx) != 1)
		goto out;
	ok = 1;
out:
	EVP_PKEY_CTX_free(cctx);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(p);
	return ok;
}

static int
parse_ecdsa(struct sshkey *key, const struct keytype *kt, struct rd *r)
{
	const uint8_t *q;
	size_t qlen;

	if (rd_string_eq(r, kt->curve) != 0) {
		err_set("%s key blob does not name curve %s", kt->name, kt->curve);
		return ERR_INVALID;
	}
	if (rd_string(r, &q, &qlen) != 0 || qlen != kt->pointlen || q[0] != 0x04) {
		err_set("%s key blob is truncated or malformed", kt->name);
		return ERR_INVALID;
	}
	if (!ec_point_ok(kt, q, qlen)) {
		err_set("%s public key is not a point on %s", kt->name, kt->curve);
		return ERR_INVALID;
	}
	key->bits = kt->bits;
	return 0;
}

static int
parse_blob(struct sshkey *key, const struct keytype *kt)
{
	struct rd r = { key->blob, key->bloblen };
	int error;

	if (rd_string_eq(&r, kt->name) != 0) {
		err_set("ssh key blob does not hold a %s key", kt->name);
		return ERR_INVALID;
	}
	switch (kt->type) {
	case SSHKEY_ED25519:
		error = parse_ed25519(key, &r);
		break;
	case SSHKEY_RSA:
		error = parse_rsa(key, &r);
		break;
	default:
		error = parse_ecdsa(key, kt, &r);
		break;
	}
	if (error == 0 && r.len != 0) {
		err_set("%s key blob has %zu unexpected trailing bytes", kt->name, r.len);
		error = ERR_INVALID;
	}
	return error;
}

int
sshkey_public_parse(struct sshkey **out, const char *line)
{
	struct sshkey *key = NULL;
	const struct keytype *kt;
	const char *p, *end, *tok, *b64;
	size_t len, toklen, b64len, i;
	int error = ERR_INVALID;

	*out = NULL;
	len = strnlen(line, SSHKEY_LINE_MAX + 1);
	if (len > SSHKEY_LINE_MAX) {
		err_set("ssh public key is longer than %d bytes", SSHKEY_LINE_MAX);
		goto out;
	}
	end = line + len;
	if (end > line && end[-1] == '\n')
		end--;
	for (p = line; p < end; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f) {
			err_set("ssh public key has a newline or control character");
			goto out;
		}
	p = line;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	tok = p;
	while (p < end && *p != ' ' && *p != '\t')
		p++;
	toklen = (size_t)(p - tok);
	if (toklen == 0) {
		err_set("ssh public key is empty");
		goto out;
	}
	if ((kt = keytype_by_name(tok, toklen)) == NULL) {
		err_set("ssh public key type is not one of ssh-ed25519, ssh-rsa, "
		    "ecdsa-sha2-nistp256/384/521 (options before the type are not accepted)");
		goto out;
	}
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	b64 = p;
	while (p < end && *p != ' ' && *p != '\t')
		p++;
	b64len = (size_t)(p - b64);
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;

	key = xcalloc(1, sizeof(*key));
	key->type = kt->type;
	key->comment = xstrndup(p, (size_t)(end - p));
	for (i = 0; key->comment[i] != '\0'; i++)
		if (key->comment[i] == '\t')
			key->comment[i] = ' ';
	if (b64len == 0) {
		err_set("%s public key has no key data", kt->name);
		goto out;
	}
	if (sshkey_base64_decode(&key->blob, &key->bloblen, b64, b64len) != 0) {
		err_set("%s public key data is not valid base64", kt->name);
		goto out;
	}
	if ((error = parse_blob(key, kt)) != 0)
		goto out;
	*out = key;
	key = NULL;
out:
	sshkey_free(key);
	return error;
}

/*
 * Accessors and output.
 */
enum sshkey_type
sshkey_get_type(const struct sshkey *key)
{
	return key->type;
}

const char *
sshkey_type_name(enum sshkey_type type)
{
	const struct keytype *kt = keytype_by_type(type);

	return kt != NULL ? kt->name : "unknown";
}

unsigned
sshkey_bits(const struct sshkey *key)
{
	return key->bits;
}

const char *
sshkey_comment(const struct sshkey *key)
{
	return key->comment;
}

int
sshkey_has_private(const struct sshkey *key)
{
	return key->pkey != NULL;
}

char *
sshkey_public_line(const struct sshkey *key)
{
	char *b64, *line;

	b64 = base64_encode(key->blob, key->bloblen, NULL);
	if (key->comment[0] != '\0')
		line = xasprintf("%s %s %s", sshkey_type_name(key->type), b64,
		    key->comment);
	else
		line = xasprintf("%s %s", sshkey_type_name(key->type), b64);
	free(b64);
	return line;
}

void
sshkey_fingerprint(char out[SSHKEY_FINGERPRINT_SIZE], const struct sshkey *key)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *b64;
	size_t n;

	if (EVP_Digest(key->blob, key->bloblen, md, &mdlen, EVP_sha256(), NULL) != 1)
		abort();	/* SHA-256 of memory cannot fail short of OOM */
	b64 = base64_encode(md, mdlen, NULL);
	n = strlen(b64);
	while (n > 0 && b64[n - 1] == '=')
		b64[--n] = '\0';
	(void)snprintf(out, SSHKEY_FINGERPRINT_SIZE, "SHA256:%s", b64);
	free(b64);
}

/* Private fields of an ed25519 key: pk, seed||pk. */
static int
priv_ed25519(struct wire *w, const struct sshkey *key)
{
	uint8_t sk[ED25519_SK_LEN];
	size_t seedlen = 32, pklen = ED25519_PK_LEN;
	int error = ERR_GENERIC;

	if (EVP_PKEY_get_raw_private_key(key->pkey, sk, &seedlen) != 1 ||
	    seedlen != 32 ||
	    EVP_PKEY_get_raw_public_key(key->pkey, sk + 32, &pklen) != 1 ||
	    pklen != ED25519_PK_LEN)
		goto out;
	wire_string(w, sk + 32, ED25519_PK_LEN);
	wire_string(w, sk, sizeof(sk));
	error = 0;
out:
	sshkey_wipe(sk, sizeof(sk));
	return error;
}

/* Private fields of an RSA key: n, e, d, iqmp, p, q. */
static int
priv_rsa(struct wire *w, const struct sshkey *key)
{
	static const char *const names[] = {
		OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E,
		OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
		OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2,
	};
	BIGNUM *bn[6] = { NULL };
	size_t i;
	int error = ERR_GENERIC;

	for (i = 0; i < 6; i++)
		if (EVP_PKEY_get_bn_param(key->pkey, names[i], &bn[i]) != 1)
			goto out;
	for (i = 0; i < 6; i++)
		wire_mpint(w, bn[i]);
	error = 0;
out:
	for (i = 0; i < 6; i++)
		BN_clear_free(bn[i]);
	return error;
}

/* The private section: check ints, key, comment, padding 1, 2, 3... */
static int
priv_section(struct wire *w, const struct sshkey *key)
{
	uint32_t check;
	uint8_t pad;
	int error;

	if (RAND_bytes((unsigned char *)&check, sizeof(check)) != 1)
		return ERR_GENERIC;
	wire_u32(w, check);
	wire_u32(w, check);
	wire_cstring(w, sshkey_type_name(key->type));
	if (key->type == SSHKEY_ED25519)
		error = priv_ed25519(w, key);
	else
		error = priv_rsa(w, key);
	if (error != 0)
		return error;
	wire_cstring(w, key->comment);
	for (pad = 1; w->error == 0 && w->b.len % 8 != 0; pad++)
		wire_add(w, &pad, 1);
	return w->error;
}

int
sshkey_private_openssh(char **out, size_t *lenp, const struct sshkey *key)
{
	struct wire sec, all;
	struct buf pem;
	char *b64 = NULL;
	size_t n, i;
	int error = ERR_INVALID;

	*out = NULL;
	if (lenp != NULL)
		*lenp = 0;
	wire_init(&sec, 1);
	wire_init(&all, 1);
	buf_init_secret(&pem, 4 * BLOB_MAX);
	if (key->pkey == NULL) {
		err_set("ssh key has no private half");
		goto out;
	}
	if ((error = priv_section(&sec, key)) != 0) {
		err_set("cannot encode the %s private key", sshkey_type_name(key->type));
		goto out;
	}
	wire_add(&all, AUTH_MAGIC, sizeof(AUTH_MAGIC));
	wire_cstring(&all, "none");
	wire_cstring(&all, "none");
	wire_string(&all, "", 0);
	wire_u32(&all, 1);
	wire_string(&all, key->blob, key->bloblen);
	wire_string(&all, sec.b.ptr, sec.b.len);
	if ((error = all.error) != 0) {
		err_set("cannot encode the %s private key", sshkey_type_name(key->type));
		goto out;
	}
	b64 = base64_encode(all.b.ptr, all.b.len, NULL);
	n = strlen(b64);
	error = buf_addstr(&pem, PEM_BEGIN);
	for (i = 0; error == 0 && i < n; i += PEM_COLUMNS) {
		error = buf_add(&pem, b64 + i, n - i < PEM_COLUMNS ? n - i : PEM_COLUMNS);
		if (error == 0)
			error = buf_addch(&pem, '\n');
	}
	if (error == 0)
		error = buf_addstr(&pem, PEM_END);
	if (error != 0) {
		err_set("cannot encode the %s private key", sshkey_type_name(key->type));
		goto out;
	}
	*out = buf_detach(&pem, lenp);
out:
	if (b64 != NULL) {
		sshkey_wipe(b64, strlen(b64));
		free(b64);
	}
	buf_dispose(&sec.b);
	buf_dispose(&all.b);
	buf_dispose(&pem);
	return error;
}
