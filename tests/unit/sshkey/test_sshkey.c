/*
 * test_sshkey.c - lib/sshkey against the independent OpenSSH client tools.
 *
 * Generated keys must be read back by ssh-keygen (-y gives the same public
 * key, -l the same fingerprint); keys made by ssh-keygen must parse and
 * fingerprint the same here; malformed lines are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "err.h"
#include "mem.h"
#include "sshkey.h"
#include "sshkey_int.h"

struct tmp {
	char	 dir[64];
};

static int
setup_tmp(void **state)
{
	struct tmp *t = xcalloc(1, sizeof(*t));

	(void)snprintf(t->dir, sizeof(t->dir), "/tmp/test_sshkey.XXXXXX");
	if (mkdtemp(t->dir) == NULL) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int
teardown_tmp(void **state)
{
	struct tmp *t = *state;
	char *cmd = xasprintf("rm -rf '%s'", t->dir);
	int rc = system(cmd);

	free(cmd);
	free(t);
	return rc == 0 ? 0 : -1;
}

static void
write_file(const char *path, const char *data, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	size_t n = strlen(data);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
}

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	s = xcalloc(1, (size_t)n + 1);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return s;
}

/* Run cmd with sh, return its stdout without the trailing newline; assert exit 0. */
static char *
run(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	char buf[8192];
	size_t n;

	assert_non_null(p);
	n = fread(buf, 1, sizeof(buf) - 1, p);
	buf[n] = '\0';
	assert_int_equal(pclose(p), 0);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return xstrdup(buf);
}

/* Field i (0-based, space separated) of s, in a new string. */
static char *
field(const char *s, int i)
{
	const char *p = s, *e;

	for (; i > 0; i--) {
		p = strchr(p, ' ');
		assert_non_null(p);
		p++;
	}
	e = strchr(p, ' ');
	return e != NULL ? xstrndup(p, (size_t)(e - p)) : xstrdup(p);
}

/*
 * Generate a key of type, write both halves, and have ssh-keygen check
 * them: -y must print our public line, -l our fingerprint and bits.
 */
static void
check_generated(struct tmp *t, enum sshkey_type type, unsigned bits, const char *label)
{
	struct sshkey *key = NULL;
	char fp[SSHKEY_FINGERPRINT_SIZE], *priv = NULL, *pub, *ppath, *pubpath;
	char *cmd, *out, *tok;
	size_t len = 0;

	assert_int_equal(sshkey_generate(&key, type, "envctl:web-alice"), 0);
	assert_true(sshkey_has_private(key));
	assert_int_equal(sshkey_bits(key), bits);
	assert_int_equal(sshkey_private_openssh(&priv, &len, key), 0);
	assert_int_equal(strlen(priv), len);
	pub = sshkey_public_line(key);
	sshkey_fingerprint(fp, key);

	ppath = xasprintf("%s/id_%s", t->dir, label);
	pubpath = xasprintf("%s/id_%s.pub", t->dir, label);
	write_file(ppath, priv, 0600);
	out = xasprintf("%s\n", pub);
	write_file(pubpath, out, 0644);
	free(out);

	/* The client derives the same public key from our private key file. */
	cmd = xasprintf("ssh-keygen -y -f '%s'", ppath);
	out = run(cmd);
	assert_string_equal(out, pub);
	free(out);
	free(cmd);

	/* And prints the same fingerprint for the public key and the private one. */
	cmd = xasprintf("ssh-keygen -l -E sha256 -f '%s'", pubpath);
	out = run(cmd);
	tok = field(out, 1);
	assert_string_equal(tok, fp);
	free(tok);
	tok = field(out, 0);
	assert_int_equal(strtoul(tok, NULL, 10), bits);
	free(tok);
	assert_non_null(strstr(out, "envctl:web-alice"));
	free(out);
	free(cmd);
	cmd = xasprintf("ssh-keygen -l -E sha256 -f '%s'", ppath);
	out = run(cmd);
	tok = field(out, 1);
	assert_string_equal(tok, fp);
	free(tok);
	free(out);
	free(cmd);

	/*
	 * The private half really is the key: ssh-keygen signs with it and
	 * the signature verifies against our public line.
	 */
	out = xasprintf("%s/data", t->dir);
	write_file(out, "envctl test data\n", 0644);
	free(out);
	out = xasprintf("envctl %s\n", pub);
	cmd = xasprintf("%s/allowed_signers", t->dir);
	write_file(cmd, out, 0644);
	free(cmd);
	free(out);
	cmd = xasprintf("ssh-keygen -q -Y sign -f '%s' -n envctl '%s/data' 2>&1 && "
	    "ssh-keygen -Y verify -f '%s/allowed_signers' -I envctl -n envctl "
	    "-s '%s/data.sig' < '%s/data' 2>&1", ppath, t->dir, t->dir, t->dir, t->dir);
	out = run(cmd);
	assert_non_null(strstr(out, "Good \"envctl\" signature for envctl"));
	free(out);
	free(cmd);
	cmd = xasprintf("%s/data.sig", t->dir);
	assert_int_equal(unlink(cmd), 0);
	free(cmd);

	/* Our own parser reads the public line back to the same key. */
	{
		struct sshkey *back = NULL;
		char fp2[SSHKEY_FINGERPRINT_SIZE], *line2;

		assert_int_equal(sshkey_public_parse(&back, pub), 0);
		assert_false(sshkey_has_private(back));
		assert_int_equal(sshkey_bits(back), bits);
		sshkey_fingerprint(fp2, back);
		assert_string_equal(fp2, fp);
		line2 = sshkey_public_line(back);
		assert_string_equal(line2, pub);
		free(line2);
		sshkey_free(back);
	}

	free(ppath);
	free(pubpath);
	free(pub);
	mem_free_secret(priv);
	sshkey_free(key);
}

static void
test_sshkey__ed25519_accepted_by_ssh_keygen(void **state)
{
	check_generated(*state, SSHKEY_ED25519, 256, "ed25519");
}

static void
test_sshkey__rsa_accepted_by_ssh_keygen(void **state)
{
	check_generated(*state, SSHKEY_RSA, 4096, "rsa");
}

static void
test_sshkey__generated_keys_differ(void **state)
{
	struct sshkey *a = NULL, *b = NULL;
	char fa[SSHKEY_FINGERPRINT_SIZE], fb[SSHKEY_FINGERPRINT_SIZE];

	(void)state;
	assert_int_equal(sshkey_generate(&a, SSHKEY_ED25519, NULL), 0);
	assert_int_equal(sshkey_generate(&b, SSHKEY_ED25519, NULL), 0);
	sshkey_fingerprint(fa, a);
	sshkey_fingerprint(fb, b);
	assert_string_not_equal(fa, fb);
	assert_string_equal(sshkey_comment(a), "");
	sshkey_free(a);
	sshkey_free(b);
}

/* Decode the PEM body of an OpenSSH private key file into bytes. */
static uint8_t *
pem_body(const char *pem, size_t *lenp)
{
	const char *p, *e;
	char *b64;
	uint8_t *raw;
	size_t n = 0;

	p = strstr(pem, "-----BEGIN OPENSSH PRIVATE KEY-----\n");
	assert_ptr_equal(p, pem);
	p += strlen("-----BEGIN OPENSSH PRIVATE KEY-----\n");
	e = strstr(p, "-----END OPENSSH PRIVATE KEY-----\n");
	assert_non_null(e);
	assert_string_equal(e, "-----END OPENSSH PRIVATE KEY-----\n");
	b64 = xcalloc(1, (size_t)(e - p) + 1);
	while (p < e) {
		const char *nl = strchr(p, '\n');

		assert_non_null(nl);
		/* wrapped at 70 columns: only the last line may be shorter */
		if (nl + 1 < e)
			assert_int_equal(nl - p, 70);
		else
			assert_true(nl - p <= 70 && nl - p > 0);
		memcpy(b64 + n, p, (size_t)(nl - p));
		n += (size_t)(nl - p);
		p = nl + 1;
	}
	assert_int_equal(sshkey_base64_decode(&raw, lenp, b64, n), 0);
	free(b64);
	return raw;
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Skip one SSH string at *p, asserting it fits; return its length. */
static uint32_t
skip_string(const uint8_t **p, const uint8_t *end)
{
	uint32_t n;

	assert_true(end - *p >= 4);
	n = be32(*p);
	assert_true((size_t)(end - *p - 4) >= n);
	*p += 4 + n;
	return n;
}

static void
test_sshkey__private_format(void **state)
{
	struct sshkey *key = NULL;
	char *pem = NULL;
	uint8_t *raw;
	const uint8_t *p, *end, *sec, *secend;
	size_t len, i;
	uint32_t seclen;

	(void)state;
	assert_int_equal(sshkey_generate(&key, SSHKEY_ED25519, "c"), 0);
	assert_int_equal(sshkey_private_openssh(&pem, NULL, key), 0);
	raw = pem_body(pem, &len);
	p = raw;
	end = raw + len;
	assert_memory_equal(p, "openssh-key-v1\0", 15);
	p += 15;
	assert_int_equal(be32(p), 4);
	assert_memory_equal(p + 4, "none", 4);	/* cipher */
	p += 8;
	assert_int_equal(be32(p), 4);
	assert_memory_equal(p + 4, "none", 4);	/* kdf */
	p += 8;
	assert_int_equal(be32(p), 0);		/* kdf options */
	p += 4;
	assert_int_equal(be32(p), 1);		/* one key */
	p += 4;
	skip_string(&p, end);			/* public blob */
	seclen = be32(p);
	sec = p + 4;
	secend = sec + seclen;
	assert_ptr_equal(secend, end);
	assert_int_equal(seclen % 8, 0);
	assert_int_equal(be32(sec), be32(sec + 4));	/* check ints */
	p = sec + 8;
	skip_string(&p, secend);		/* type */
	assert_int_equal(skip_string(&p, secend), 32);	/* pk */
	assert_int_equal(skip_string(&p, secend), 64);	/* seed||pk */
	assert_int_equal(skip_string(&p, secend), 1);	/* comment "c" */
	for (i = 0; p + i < secend; i++)
		assert_int_equal(p[i], i + 1);		/* padding 1, 2, 3... */
	assert_true(i < 8);
	sshkey_wipe(raw, len);
	free(raw);
	mem_free_secret(pem);
	sshkey_free(key);
}

static void
test_sshkey__public_only_has_no_private(void **state)
{
	struct sshkey *key = NULL, *pub = NULL;
	static char unchanged[] = "unchanged";
	char *line, *pem = unchanged;

	(void)state;
	assert_int_equal(sshkey_generate(&key, SSHKEY_ED25519, NULL), 0);
	line = sshkey_public_line(key);
	assert_int_equal(sshkey_public_parse(&pub, line), 0);
	assert_int_equal(sshkey_private_openssh(&pem, NULL, pub), ERR_INVALID);
	assert_null(pem);
	free(line);
	sshkey_free(pub);
	sshkey_free(key);
}

static void
test_sshkey__bad_comment_refused(void **state)
{
	struct sshkey *key = NULL;
	char big[SSHKEY_COMMENT_MAX + 2];

	(void)state;
	assert_int_equal(sshkey_generate(&key, SSHKEY_ED25519, "a\nssh-rsa AAAA"), ERR_INVALID);
	assert_null(key);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(sshkey_generate(&key, SSHKEY_ED25519, big), ERR_INVALID);
	assert_int_equal(sshkey_generate(&key, SSHKEY_ECDSA_P256, NULL), ERR_INVALID);
	assert_null(key);
}

/* Keys made by ssh-keygen itself parse, and fingerprint as ssh-keygen says. */
static void
test_sshkey__parse_ssh_keygen_keys(void **state)
{
	static const struct {
		const char	*args;
		const char	*label;
		enum sshkey_type type;
		unsigned	 bits;
	} cases[] = {
		{ "-t ed25519", "ed25519", SSHKEY_ED25519, 256 },
		{ "-t rsa -b 2048", "rsa2048", SSHKEY_RSA, 2048 },
		{ "-t rsa -b 3072", "rsa3072", SSHKEY_RSA, 3072 },
		{ "-t ecdsa -b 256", "ecdsa256", SSHKEY_ECDSA_P256, 256 },
		{ "-t ecdsa -b 384", "ecdsa384", SSHKEY_ECDSA_P384, 384 },
		{ "-t ecdsa -b 521", "ecdsa521", SSHKEY_ECDSA_P521, 521 },
	};
	struct tmp *t = *state;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sshkey *key = NULL;
		char fp[SSHKEY_FINGERPRINT_SIZE], *cmd, *out, *tok, *file, *line;

		cmd = xasprintf("ssh-keygen -q %s -N '' -C 'user@host %s' -f '%s/k_%s'",
		    cases[i].args, cases[i].label, t->dir, cases[i].label);
		out = run(cmd);
		free(out);
		free(cmd);
		cmd = xasprintf("%s/k_%s.pub", t->dir, cases[i].label);
		file = read_file(cmd);
		free(cmd);

		assert_int_equal(sshkey_public_parse(&key, file), 0);
		assert_int_equal(sshkey_get_type(key), cases[i].type);
		assert_int_equal(sshkey_bits(key), cases[i].bits);
		line = sshkey_public_line(key);
		/* the file is our line plus a newline */
		assert_int_equal(strlen(file), strlen(line) + 1);
		assert_memory_equal(file, line, strlen(line));
		sshkey_fingerprint(fp, key);
		cmd = xasprintf("ssh-keygen -l -E sha256 -f '%s/k_%s.pub'", t->dir,
		    cases[i].label);
		out = run(cmd);
		tok = field(out, 1);
		assert_string_equal(tok, fp);
		free(tok);
		free(out);
		free(cmd);
		free(line);
		free(file);
		sshkey_free(key);
	}
}

/* Replace the base64 of line's second field with the encoding of blob. */
static char *
with_blob(const char *type, const uint8_t *blob, size_t n)
{
	char *b64 = xcalloc(1, 4 * ((n + 2) / 3) + 1), *line;

	EVP_EncodeBlock((unsigned char *)b64, blob, (int)n);
	line = xasprintf("%s %s x", type, b64);
	free(b64);
	return line;
}

static void
test_sshkey__parse_refuses_malformed(void **state)
{
	struct tmp *t = *state;
	struct sshkey *key = NULL, *ed = NULL;
	char *cmd, *out, *edline, *b64, *line;
	uint8_t *blob;
	size_t bloblen, i;
	static const char *const bad[] = {
		"",
		"   ",
		"ssh-ed25519",
		"ssh-ed25519 ",
		"ssh-dss AAAAB3NzaC1kc3MAAACBAP",
		"from=\"1.2.3.4\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA",
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI!==",	/* bad character */
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA",	/* length not a multiple of 4 */
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA=A",	/* '=' in the middle */
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA",	/* truncated blob */
	};

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(sshkey_public_parse(&key, bad[i]), ERR_INVALID);
		assert_null(key);
	}

	assert_int_equal(sshkey_generate(&ed, SSHKEY_ED25519, "me"), 0);
	edline = sshkey_public_line(ed);
	b64 = field(edline, 1);
	assert_int_equal(sshkey_base64_decode(&blob, &bloblen, b64, strlen(b64)), 0);
	assert_int_equal(bloblen, 4 + 11 + 4 + 32);

	/* outer type says rsa, blob says ed25519 */
	line = xasprintf("ssh-rsa %s me", b64);
	assert_int_equal(sshkey_public_parse(&key, line), ERR_INVALID);
	assert_non_null(strstr(err_get(), "does not hold a ssh-rsa key"));
	free(line);
	/* the same with ecdsa */
	line = xasprintf("ecdsa-sha2-nistp256 %s me", b64);
	assert_int_equal(sshkey_public_parse(&key, line), ERR_INVALID);
	free(line);
	/* truncated blob: every shorter prefix is refused */
	for (i = 1; i < bloblen; i++) {
		line = with_blob("ssh-ed25519", blob, i);
		assert_int_equal(sshkey_public_parse(&key, line), ERR_INVALID);
		assert_null(key);
		free(line);
	}
	/* a trailing byte is refused too */
	blob = xrealloc(blob, bloblen + 1);
	blob[bloblen] = 0;
	line = with_blob("ssh-ed25519", blob, bloblen + 1);
	assert_int_equal(sshkey_public_parse(&key, line), ERR_INVALID);
	assert_non_null(strstr(err_get(), "trailing"));
	free(line);
	/* the intact blob parses, with one trailing newline */
	line = with_blob("ssh-ed25519", blob, bloblen);
	assert_int_equal(sshkey_public_parse(&key, line), 0);
	sshkey_free(key);
	key = NULL;
	free(line);
	/* a second key smuggled in after a newline is refused */
	line = xasprintf("%s\n%s\n", edline, edline);
	assert_int_equal(sshkey_public_parse(&key, line), ERR_INVALID);
	assert_non_null(strstr(err_get(), "newline"));
	free(line);
	line = xasprintf("%s\n", edline);
	assert_int_equal(sshkey_public_parse(&key, line), 0);
	sshkey_free(key);
	key = NULL;
	free(line);
	/* the error never quotes the key data */
	line = xasprintf("ssh-rsa %s", b64);
	assert_int_equal(sshkey_public_parse(&key, line), ERR_INVALID);
	assert_null(strstr(err_get(), b64));
	free(line);
	free(blob);
	free(b64);
	free(edline);
	sshkey_free(ed);

	/* RSA 1024 from ssh-keygen is refused for its size */
	cmd = xasprintf("ssh-keygen -q -t rsa -b 1024 -N '' -f '%s/rsa1024'", t->dir);
	out = run(cmd);
	free(out);
	free(cmd);
	cmd = xasprintf("%s/rsa1024.pub", t->dir);
	line = read_file(cmd);
	free(cmd);
	assert_int_equal(sshkey_public_parse(&key, line), ERR_INVALID);
	assert_non_null(strstr(err_get(), "1024 bits"));
	free(line);

	/* an ECDSA point moved off the curve is refused */
	cmd = xasprintf("ssh-keygen -q -t ecdsa -b 256 -N '' -f '%s/ec'", t->dir);
	out = run(cmd);
	free(out);
	free(cmd);
	cmd = xasprintf("%s/ec.pub", t->dir);
	line = read_file(cmd);
	free(cmd);
	assert_int_equal(sshkey_public_parse(&key, line), 0);
	sshkey_free(key);
	key = NULL;
	b64 = field(line, 1);
	assert_int_equal(sshkey_base64_decode(&blob, &bloblen, b64, strlen(b64)), 0);
	blob[bloblen - 1] ^= 0x01;	/* last byte of y */
	free(line);
	line = with_blob("ecdsa-sha2-nistp256", blob, bloblen);
	assert_int_equal(sshkey_public_parse(&key, line), ERR_INVALID);
	assert_non_null(strstr(err_get(), "not a point"));
	assert_null(key);
	free(line);
	free(blob);
	free(b64);
}

static void
test_sshkey__base64_decode_strict(void **state)
{
	static const struct {
		const char	*in;
		const char	*out;	/* NULL: refused */
	} cases[] = {
		{ "TWFu", "Man" },
		{ "TWE=", "Ma" },
		{ "TQ==", "M" },
		{ "TWFuTWFu", "ManMan" },
		{ "", NULL },
		{ "TWF", NULL },
		{ "TWE", NULL },
		{ "TR==", NULL },	/* non-zero pad bits */
		{ "TWF=", NULL },	/* non-zero pad bits */
		{ "T===", NULL },
		{ "=WFu", NULL },
		{ "TW=u", NULL },
		{ "TW u", NULL },
		{ "TWFu\n", NULL },
		{ "TW-_", NULL },	/* url-safe alphabet is not base64 */
	};
	size_t i, n;
	uint8_t *out;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = sshkey_base64_decode(&out, &n, cases[i].in, strlen(cases[i].in));

		if (cases[i].out == NULL) {
			assert_int_equal(rc, ERR_INVALID);
			assert_null(out);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(n, strlen(cases[i].out));
		assert_memory_equal(out, cases[i].out, n);
		free(out);
	}
}

/* Every secret is released through sshkey_wipe(): it must zero the bytes. */
static void
test_sshkey__wipe_zeroes(void **state)
{
	uint8_t b[97];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(i | 1);
	sshkey_wipe(b + 1, sizeof(b) - 2);
	assert_int_equal(b[0], 1);
	for (i = 1; i < sizeof(b) - 1; i++)
		assert_int_equal(b[i], 0);
	assert_int_equal(b[sizeof(b) - 1], (uint8_t)((sizeof(b) - 1) | 1));
	sshkey_wipe(NULL, 10);	/* does nothing */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sshkey__ed25519_accepted_by_ssh_keygen,
		    setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_sshkey__rsa_accepted_by_ssh_keygen,
		    setup_tmp, teardown_tmp),
		cmocka_unit_test(test_sshkey__generated_keys_differ),
		cmocka_unit_test(test_sshkey__private_format),
		cmocka_unit_test(test_sshkey__public_only_has_no_private),
		cmocka_unit_test(test_sshkey__bad_comment_refused),
		cmocka_unit_test_setup_teardown(test_sshkey__parse_ssh_keygen_keys,
		    setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_sshkey__parse_refuses_malformed,
		    setup_tmp, teardown_tmp),
		cmocka_unit_test(test_sshkey__base64_decode_strict),
		cmocka_unit_test(test_sshkey__wipe_zeroes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
