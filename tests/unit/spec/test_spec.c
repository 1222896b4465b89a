/*
 * test_spec.c - lib/spec: the invalid-spec table, hostile inputs, defaults,
 * the canonical hash (invariance, sensitivity, golden value), the spec
 * tree, lean trees and reading entries again, and the shipped examples.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>
#include <cmocka.h>

#include "err.h"
#include "failpoint.h"
#include "mem.h"
#include "spec.h"
#include "spec_int.h"

#define INVALID_DIR	TEST_RESOURCES "/spec/invalid"

/* ---- helpers ---- */

static struct spec_entry *
parse_str(const char *path, const char *text)
{
	struct spec_entry *e = NULL;

	assert_int_equal(spec_entry_parse(&e, path, text, strlen(text), NULL), 0);
	assert_non_null(e);
	return e;
}

/* The entry has a diagnostic at line:col whose message contains want. */
static int
has_diag(const struct spec_entry *e, unsigned line, unsigned col, const char *want)
{
	size_t i;

	for (i = 0; i < spec_entry_diag_count(e); i++) {
		const struct spec_diag *d = spec_entry_diag(e, i);

		if (d->line == line && d->col == col && strstr(d->message, want) != NULL)
			return 1;
	}
	return 0;
}

static void
dump_diags(const struct spec_entry *e)
{
	size_t i;

	for (i = 0; i < spec_entry_diag_count(e); i++) {
		const struct spec_diag *d = spec_entry_diag(e, i);

		fprintf(stderr, "  %s:%u:%u: %s\n", spec_entry_path(e), d->line, d->col,
		    d->message);
	}
}

static void
write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static char *
make_tmpdir(void)
{
	char tmpl[] = "/tmp/envctl-spec-test.XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

static void
rm_rf(const char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);

	assert_int_equal(system(cmd), 0);
	free(cmd);
}

/* ---- the table of invalid specs: file, line, column, message ---- */

static const struct invalid_case {
	const char	*file;
	unsigned	 line, col;
	const char	*msg;
} invalid_cases[] = {
	{ "billion-laughs.yaml", 5, 8, "anchors and aliases are not allowed (anchor '&a')" },
	{ "alias.yaml", 4, 11, "anchors and aliases are not allowed" },
	{ "alias.yaml", 6, 9, "alias '*l'" },
	{ "duplicate-key.yaml", 6, 3, "duplicate key 'region' (first at line 4, column 3)" },
	{ "tabs.yaml", 4, 1, "tab character" },
	{ "invalid-utf8.yaml", 4, 22, "invalid UTF-8 (byte 0xe9)" },
	{ "control-char.yaml", 4, 20, "control character U+0001" },
	{ "unknown-key.yaml", 4, 3, "unknown key 'insance'; did you mean 'instance'?" },
	{ "unknown-key-nested.yaml", 5, 11, "unknown key 'allow_form'; did you mean 'allow_from'?" },
	{ "unknown-key-top.yaml", 3, 1, "unknown key 'metdata'; did you mean 'metadata'?" },
	{ "unknown-key-nosuggest.yaml", 4, 3, "unknown key 'frobnicate' in spec (known keys: region," },
	{ "wrong-type-map.yaml", 4, 13, "spec.instance must be a mapping, got a list" },
	{ "wrong-type-int.yaml", 5, 21, "size_gb must be a whole number, got a string" },
	{ "quoted-int.yaml", 5, 21, "must be a number, got a quoted string '30'" },
	{ "disk-range.yaml", 5, 21, "size_gb must be 8 to 16384, got 4" },
	{ "wrong-type-list.yaml", 5, 12, "spec.bootstrap.setup must be a list, got a string" },
	{ "wrong-type-string.yaml", 5, 13, "each entry of spec.bootstrap.setup must be a string" },
	{ "bad-bool.yaml", 5, 24, "allow_world must be true or false" },
	{ "bad-cidr-v4.yaml", 5, 24, "bad CIDR '10.0.0.256/24': not an IPv4 address" },
	{ "bad-cidr-v6.yaml", 5, 24, "bad CIDR '2001:db8::g/64': not an IPv6 address" },
	{ "cidr-hostbits-v4.yaml", 5, 24, "host bits are set (the network is 10.1.0.0/16)" },
	{ "cidr-hostbits-v6.yaml", 7, 11, "host bits are set (the network is 2001:db8::/64)" },
	{ "cidr-prefix.yaml", 5, 24, "the prefix length must be 0 to 32" },
	{ "cidr-no-prefix.yaml", 5, 24, "missing the prefix length" },
	{ "cidr-duplicate.yaml", 5, 36, "CIDR 10.0.0.0/8 is listed twice" },
	{ "world-ssh-v4.yaml", 6, 20, "0.0.0.0/0 opens SSH to the whole internet" },
	{ "world-ssh-v6.yaml", 6, 20, "::/0 opens SSH to the whole internet" },
	{ "bad-duration.yaml", 4, 20, "bad duration '5x'" },
	{ "duration-no-unit.yaml", 4, 20, "ttl needs a unit: write 300s" },
	{ "duration-range.yaml", 5, 20, "ready_timeout must be between 1m and 2h, got 3h" },
	{ "duration-order.yaml", 5, 10, "bad duration '30m1h'" },
	{ "tag-aws.yaml", 5, 5, "the prefix 'aws:' is reserved by AWS" },
	{ "tag-envctl.yaml", 5, 5, "the prefix 'envctl:' is reserved for envctl" },
	{ "tag-name.yaml", 4, 10, "tag key 'Name' is set by envctl" },
	{ "too-many-tags.yaml", 5, 5, "too many tags (43; at most 42" },
	{ "tag-key-long.yaml", 5, 5, "must be 1 to 128 characters long" },
	{ "tag-value-chars.yaml", 5, 12, "the value of tag 'owner' may contain only" },
	/* columns count characters: the value is at byte 17 but character 16 */
	{ "unicode-column.yaml", 4, 16, "the value of tag 'caf\xc3\xa9' may contain only" },
	{ "name-mismatch.yaml", 4, 9, "metadata.name 'other-name' does not match the file name 'name-mismatch'" },
	{ "bad-name.yaml", 4, 9, "bad name '-bad-name-': must not start or end with '-'" },
	{ "Bad_File.yaml", 1, 1, "the file name 'Bad_File' is not a valid environment name" },
	{ "bad-workspace.yaml", 4, 14, "bad workspace 'Web Team'" },
	{ "bad-image.yaml", 4, 21, "unknown image 'ubuntu-20.04'" },
	{ "bad-ami.yaml", 4, 21, "bad AMI id 'ami-12zz'" },
	{ "bad-instance-type.yaml", 4, 20, "instance type 'large' is not an EC2 instance type" },
	{ "bad-port.yaml", 6, 16, "port must be 1 to 65535, got 70000" },
	{ "port-zero.yaml", 6, 16, "port must be 1 to 65535, got 0" },
	{ "port-leading-zero.yaml", 6, 16, "without leading zeros, got 0080" },
	{ "port-22.yaml", 6, 16, "port 22 is SSH" },
	{ "port-duplicate.yaml", 7, 16, "port 80/tcp is listed twice" },
	{ "port-no-allow.yaml", 6, 9, "missing 'allow_from'" },
	{ "bad-protocol.yaml", 6, 30, "protocol must be tcp or udp, got 'icmp'" },
	{ "multi-document.yaml", 3, 1, "more than one YAML document" },
	{ "not-a-mapping.yaml", 1, 1, "the spec must be a mapping" },
	{ "empty.yaml", 1, 1, "the spec is empty" },
	{ "api-version.yaml", 1, 13, "unsupported apiVersion 'envctl/v2'" },
	{ "kind.yaml", 2, 7, "unsupported kind 'Pod'" },
	{ "missing-api-version.yaml", 1, 1, "missing apiVersion" },
	{ "secret-value.yaml", 6, 16, "secret API_KEY must be a reference {env: VARIABLE}" },
	{ "secret-bad-env.yaml", 6, 22, "bad variable name '1BAD' for secret API_KEY" },
	{ "secret-and-env.yaml", 7, 7, "API_KEY is both in environment and in secrets" },
	{ "bad-env-name.yaml", 5, 19, "bad environment variable name 'NODE-ENV'" },
	{ "repo-credentials.yaml", 5, 17, "credentials in an https URL are not allowed" },
	{ "repo-scheme.yaml", 5, 17, "the scheme must be https://, ssh://" },
	{ "repo-no-url.yaml", 5, 11, "spec.bootstrap.repo needs a url" },
	{ "bad-branch.yaml", 5, 60, "bad branch 'a..b'" },
	{ "bad-docker-image.yaml", 5, 19, "bad docker_image 'Node:20'" },
	{ "bad-package.yaml", 5, 28, "bad package name 'rm -rf'" },
	{ "bad-market.yaml", 4, 22, "market must be on-demand or spot, got 'reserved'" },
	{ "spot-without-market.yaml", 5, 5, "spot settings need 'market: spot'" },
	{ "bad-price.yaml", 6, 23, "bad spot max_price '$0.05'" },
	{ "key-both.yaml", 6, 12, "exactly one of 'name' and 'public_key'" },
	{ "key-bad-scalar.yaml", 5, 16, "access.ssh.key must be auto," },
	{ "key-type-with-name.yaml", 7, 17, "key_type applies only to key: auto" },
	{ "bad-public-key.yaml", 6, 25, "the key is not valid base64" },
	{ "key-ecdsa.yaml", 6, 25, "bad access.ssh.key.public_key: EC2 ImportKeyPair "
	    "takes only ssh-ed25519 and ssh-rsa keys, not ecdsa-sha2-nistp256" },
	{ "key-dss.yaml", 7, 21, "EC2 ImportKeyPair takes only ssh-ed25519 and "
	    "ssh-rsa keys, not ssh-dss" },
	{ "key-sk-ecdsa.yaml", 6, 25, "not sk-ecdsa-sha2-nistp256@openssh.com" },
	{ "bad-region.yaml", 4, 11, "region 'mars-1' is not an AWS region name" },
	{ "bad-subnet.yaml", 5, 26, "bad subnet id 'vpc-123'" },
	{ "bad-label.yaml", 4, 12, "bad label key '-team'" },
	{ "yaml-tag.yaml", 4, 11, "YAML tags are not allowed" },
	{ "syntax-error.yaml", 5, 1, "YAML syntax error: did not find expected ',' or '}'" },
	{ "non-scalar-key.yaml", 4, 5, "a mapping key must be a string" },
};

static void
test_spec__invalid_table(void **state)
{
	size_t i, failures = 0;

	(void)state;
	assert_true(sizeof(invalid_cases) / sizeof(invalid_cases[0]) >= 40);
	for (i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]); i++) {
		const struct invalid_case *c = &invalid_cases[i];
		struct spec_entry *e = NULL;
		char *path = xasprintf("%s/%s", INVALID_DIR, c->file);

		assert_int_equal(spec_entry_load(&e, path, NULL), 0);
		if (spec_entry_valid(e) || spec_entry_spec(e) != NULL ||
		    spec_entry_hash(e) != NULL || !has_diag(e, c->line, c->col, c->msg)) {
			fprintf(stderr, "case %s: want %u:%u: %s; got:\n", c->file, c->line,
			    c->col, c->msg);
			dump_diags(e);
			failures++;
		}
		spec_entry_free(e);
		free(path);
	}
	assert_int_equal(failures, 0);
}

/* Every file of the invalid directory is in the table and invalid in a tree too. */
static void
test_spec__invalid_dir_all_listed(void **state)
{
	struct spec_tree *t = NULL;
	size_t i, j, n;

	(void)state;
	assert_int_equal(spec_tree_load(&t, INVALID_DIR, NULL), 0);
	n = spec_tree_count(t);
	assert_true(n >= 40);
	assert_int_equal(spec_tree_invalid_count(t), n);
	for (i = 0; i < n; i++) {
		const struct spec_entry *e = spec_tree_entry(t, i);
		const char *base = strrchr(spec_entry_path(e), '/') + 1;

		assert_false(spec_entry_valid(e));
		assert_true(spec_entry_diag_count(e) > 0);
		for (j = 0; j < sizeof(invalid_cases) / sizeof(invalid_cases[0]); j++)
			if (strcmp(invalid_cases[j].file, base) == 0)
				break;
		if (j == sizeof(invalid_cases) / sizeof(invalid_cases[0]))
			fail_msg("%s is not in the table", base);
	}
	spec_tree_free(t);
}

/* ---- hostile input made on the fly ---- */

static void
test_spec__file_2mib(void **state)
{
	size_t len = 2 * 1024 * 1024, i;
	char *big = xmalloc(len), *dir, *path;
	struct spec_entry *e = NULL;

	(void)state;
	for (i = 0; i < len; i++)
		big[i] = (i % 64 == 63) ? '\n' : '#';
	e = parse_str(NULL, "");
	spec_entry_free(e);
	assert_int_equal(spec_entry_parse(&e, "big.yaml", big, len, NULL), 0);
	assert_false(spec_entry_valid(e));
	assert_true(has_diag(e, 1, 1, "file is too big (2097152 bytes; at most 1048576)"));
	spec_entry_free(e);
	/* from disk the size is checked before anything is read */
	dir = make_tmpdir();
	path = xasprintf("%s/big.yaml", dir);
	write_file(path, big, len);
	assert_int_equal(spec_entry_load(&e, path, NULL), 0);
	assert_true(has_diag(e, 1, 1, "file is too big (2097152 bytes"));
	assert_int_equal(spec_entry_diag_count(e), 1);
	spec_entry_free(e);
	rm_rf(dir);
	free(path);
	free(dir);
	free(big);
}

static void
test_spec__deep_nesting(void **state)
{
	struct buf b;
	struct spec_entry *e;
	int i;

	(void)state;
	buf_init(&b, 1 << 20);
	buf_addstr(&b, "apiVersion: envctl/v1\nkind: Environment\nspec:\n  x: ");
	for (i = 0; i < 1000; i++)
		buf_addch(&b, '[');
	for (i = 0; i < 1000; i++)
		buf_addch(&b, ']');
	buf_addch(&b, '\n');
	/* root map and spec are levels 1 and 2; the 31st '[' is level 33 */
	e = parse_str("deep.yaml", buf_cstr(&b));
	assert_false(spec_entry_valid(e));
	assert_true(has_diag(e, 4, 6 + 30, "nesting deeper than 32 levels"));
	spec_entry_free(e);
	/* 30 levels of lists under spec.x is still only an unknown key */
	buf_reset(&b);
	buf_addstr(&b, "apiVersion: envctl/v1\nkind: Environment\nspec:\n  x: ");
	for (i = 0; i < 30; i++)
		buf_addch(&b, '[');
	for (i = 0; i < 30; i++)
		buf_addch(&b, ']');
	e = parse_str("deep.yaml", buf_cstr(&b));
	assert_int_equal(spec_entry_diag_count(e), 1);
	assert_true(has_diag(e, 4, 3, "unknown key 'x'"));
	spec_entry_free(e);
	buf_dispose(&b);
}

static void
test_spec__huge_scalar(void **state)
{
	struct buf b;
	struct spec_entry *e;
	size_t i;

	(void)state;
	buf_init(&b, 2 << 20);
	buf_addstr(&b, "apiVersion: envctl/v1\nkind: Environment\nspec:\n  region: ");
	for (i = 0; i < 900000; i++)
		buf_addch(&b, 'a');
	buf_addstr(&b, "\n  instance: {type: t3}\n");
	e = parse_str("huge.yaml", buf_cstr(&b));
	assert_true(has_diag(e, 4, 11, "scalar is too long (900000 bytes; at most 16384)"));
	/* and the walk went on past it */
	assert_true(has_diag(e, 5, 20, "instance type 't3'"));
	spec_entry_free(e);
	buf_dispose(&b);
}

static void
test_spec__nul_bytes(void **state)
{
	static const char text[] = "apiVersion: envctl/v1\nkind: Environ\0ment\nx: \0\n";
	struct spec_entry *e = NULL;

	(void)state;
	assert_int_equal(spec_entry_parse(&e, "nul.yaml", text, sizeof(text) - 1, NULL), 0);
	assert_false(spec_entry_valid(e));
	assert_true(has_diag(e, 2, 14, "NUL byte"));
	assert_true(has_diag(e, 3, 4, "NUL byte"));
	spec_entry_free(e);
}

static void
test_spec__many_aliases_capped(void **state)
{
	struct buf b;
	struct spec_entry *e;
	const struct spec_diag *last;
	int i;

	(void)state;
	buf_init(&b, 1 << 20);
	buf_addstr(&b, "apiVersion: envctl/v1\nkind: Environment\nmetadata:\n  labels:\n"
	    "    a: &a [x, y]\n    b: [");
	for (i = 0; i < 5000; i++)
		buf_addstr(&b, i ? ",*a" : "*a");
	buf_addstr(&b, "]\n");
	e = parse_str("lol.yaml", buf_cstr(&b));
	assert_int_equal(spec_entry_diag_count(e), SPEC_DIAG_MAX);
	last = spec_entry_diag(e, SPEC_DIAG_MAX - 1);
	assert_non_null(strstr(last->message, "too many problems"));
	assert_true(has_diag(e, 5, 8, "anchor '&a'"));
	spec_entry_free(e);
	buf_dispose(&b);
}

/* Every problem of a file is reported, in position order. */
static void
test_spec__collects_every_problem(void **state)
{
	struct spec_entry *e = NULL;
	size_t i;

	(void)state;
	assert_int_equal(spec_entry_load(&e, TEST_RESOURCES "/spec/many-problems.yaml", NULL), 0);
	assert_false(spec_entry_valid(e));
	assert_int_equal(spec_entry_diag_count(e), 20);
	assert_true(has_diag(e, 1, 13, "unsupported apiVersion"));
	assert_true(has_diag(e, 6, 3, "did you mean 'instance'?"));
	assert_true(has_diag(e, 13, 35, "0.0.0.0/0 opens SSH"));
	assert_true(has_diag(e, 13, 58, "2001:db8::/32"));
	assert_true(has_diag(e, 19, 41, "'Name' is set by envctl"));
	for (i = 1; i < spec_entry_diag_count(e); i++) {
		const struct spec_diag *a = spec_entry_diag(e, i - 1), *b = spec_entry_diag(e, i);

		assert_true(a->line < b->line || (a->line == b->line && a->col <= b->col));
	}
	spec_entry_free(e);
}

/* What might be a secret is never echoed in a message. */
static void
test_spec__no_secret_in_messages(void **state)
{
	static const struct { const char *file, *secret; } cases[] = {
		{ "secret-value.yaml", "sk-live" },
		{ "repo-credentials.yaml", "hunter2" },
	};
	struct spec_entry *e;
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path = xasprintf("%s/%s", INVALID_DIR, cases[i].file);

		assert_int_equal(spec_entry_load(&e, path, NULL), 0);
		assert_true(spec_entry_diag_count(e) > 0);
		for (j = 0; j < spec_entry_diag_count(e); j++)
			assert_null(strstr(spec_entry_diag(e, j)->message, cases[i].secret));
		spec_entry_free(e);
		free(path);
	}
}

/* ---- parsing valid specs ---- */

static void
test_spec__defaults(void **state)
{
	struct spec_entry *e;
	const struct spec *s;
	struct spec_options opts;

	(void)state;
	e = parse_str("/some/dir/tiny.yml", "apiVersion: envctl/v1\nkind: Environment\n");
	dump_diags(e);
	assert_true(spec_entry_valid(e));
	s = spec_entry_spec(e);
	assert_string_equal(spec_entry_name(e), "tiny");
	assert_string_equal(s->name, "tiny");
	assert_string_equal(s->workspace, "default");
	assert_int_equal(s->nlabels, 0);
	assert_string_equal(s->region, "us-east-1");
	assert_string_equal(s->instance.type, "t3.medium");
	assert_string_equal(s->instance.image, "al2023");
	assert_false(s->instance.image_is_ami);
	assert_int_equal(s->instance.disk_size_gb, 20);
	assert_int_equal(s->instance.nsubnets, 0);
	assert_null(s->instance.iam_instance_profile);
	assert_int_equal(s->instance.market, SPEC_MARKET_ON_DEMAND);
	assert_int_equal(s->instance.spot.timeout_s, 300);
	assert_int_equal(s->access.ssh.key, SPEC_KEY_AUTO);
	assert_int_equal(s->access.ssh.key_type, SPEC_KEY_ED25519);
	assert_int_equal(s->access.ssh.nallow, 0);
	assert_false(s->access.ssh.allow_world);
	assert_null(s->access.ssh.user);
	assert_int_equal(s->access.nports, 0);
	assert_null(s->bootstrap.docker_image);
	assert_null(s->bootstrap.repo_url);
	assert_int_equal(s->bootstrap.nsecrets, 0);
	assert_int_equal(s->lifecycle.ttl_s, 0);
	assert_int_equal(s->lifecycle.ready_timeout_s, 300);
	assert_int_equal(s->lifecycle.on_drift, SPEC_DRIFT_REPLACE);
	assert_int_equal(s->ntags, 0);
	assert_true(spec_hash_is_current(spec_entry_hash(e)));
	spec_entry_free(e);

	/* the default region comes from the options */
	spec_options_init(&opts);
	opts.default_region = "ap-southeast-2";
	assert_int_equal(spec_entry_parse(&e, "tiny.yaml",
	    "apiVersion: envctl/v1\nkind: Environment\n", 39, &opts), 0);
	assert_true(spec_entry_valid(e));
	assert_string_equal(spec_entry_spec(e)->region, "ap-southeast-2");
	spec_entry_free(e);
}

/* instance.types: a preference list; one type stays valid; not both. */
static void
test_spec__instance_types(void **state)
{
	static const char head[] = "apiVersion: envctl/v1\nkind: Environment\n"
	    "spec:\n  instance:\n";
	static const struct { const char *body; unsigned line, col;
	    const char *want; } bad[] = {
		{ "    type: t3.large\n    types: [t3.large, m5.large]\n", 6, 5,
		  "not both" },
		{ "    types: []\n", 5, 12, "1 to 8" },
		{ "    types: [t3.large, t3.large]\n", 5, 23, "listed twice" },
		{ "    types: [t3.large, 'm5 large']\n", 5, 23,
		  "is not an EC2 instance type" },
	};
	struct spec_entry *e, *e1;
	const struct spec *s;
	char text[512];
	size_t i;

	(void)state;
	e = parse_str("t.yaml", "apiVersion: envctl/v1\nkind: Environment\n"
	    "spec:\n  instance:\n    types: [m5.large, m6i.large, c5.large]\n");
	dump_diags(e);
	assert_true(spec_entry_valid(e));
	s = spec_entry_spec(e);
	assert_int_equal(s->instance.ntypes, 3);
	assert_string_equal(s->instance.type, "m5.large");
	assert_string_equal(s->instance.types[2], "c5.large");
	assert_int_equal(spec_entry_brief(e)->ninstance_types, 3);
	assert_string_equal(spec_entry_brief(e)->instance_types[1], "m6i.large");
	/* one type: a list of one, and the hash of before types existed */
	e1 = parse_str("t.yaml", "apiVersion: envctl/v1\nkind: Environment\n"
	    "spec:\n  instance:\n    type: m5.large\n");
	s = spec_entry_spec(e1);
	assert_int_equal(s->instance.ntypes, 1);
	assert_string_equal(s->instance.types[0], "m5.large");
	assert_string_not_equal(spec_entry_hash(e), spec_entry_hash(e1));
	spec_entry_free(e1);
	e1 = parse_str("t.yaml", "apiVersion: envctl/v1\nkind: Environment\n"
	    "spec:\n  instance:\n    types: [m5.large]\n");
	assert_true(spec_entry_valid(e1));
	s = spec_entry_spec(e1);
	assert_int_equal(s->instance.ntypes, 1);
	spec_entry_free(e1);
	e1 = parse_str("t.yaml", "apiVersion: envctl/v1\nkind: Environment\n");
	assert_int_equal(spec_entry_spec(e1)->instance.ntypes, 1);
	assert_string_equal(spec_entry_spec(e1)->instance.types[0], "t3.medium");
	spec_entry_free(e1);
	/* the order is a preference: another order is another spec */
	e1 = parse_str("t.yaml", "apiVersion: envctl/v1\nkind: Environment\n"
	    "spec:\n  instance:\n    types: [m6i.large, m5.large, c5.large]\n");
	assert_string_not_equal(spec_entry_hash(e), spec_entry_hash(e1));
	spec_entry_free(e1);
	spec_entry_free(e);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", head, bad[i].body);
		e = parse_str("t.yaml", text);
		assert_false(spec_entry_valid(e));
		if (!has_diag(e, bad[i].line, bad[i].col, bad[i].want)) {
			dump_diags(e);
			fail_msg("case %zu: no '%s' at %u:%u", i, bad[i].want,
			    bad[i].line, bad[i].col);
		}
		spec_entry_free(e);
	}
}

static void
test_spec__full_parse(void **state)
{
	struct spec_entry *e = NULL;
	const struct spec *s;

	(void)state;
	assert_int_equal(spec_entry_load(&e, TEST_RESOURCES "/spec/valid/golden.yaml", NULL), 0);
	dump_diags(e);
	assert_true(spec_entry_valid(e));
	s = spec_entry_spec(e);
	assert_string_equal(s->name, "golden");
	assert_string_equal(s->workspace, "web");
	assert_int_equal(s->nlabels, 1);
	assert_string_equal(s->labels[0].key, "team");
	assert_string_equal(s->instance.type, "t3.medium");
	assert_int_equal(s->instance.disk_size_gb, 30);
	assert_int_equal(s->instance.nsubnets, 2);
	assert_string_equal(s->instance.subnets[1], "subnet-0b");
	assert_int_equal(s->instance.market, SPEC_MARKET_SPOT);
	assert_string_equal(s->instance.spot.max_price, "0.02");
	assert_int_equal(s->instance.spot.fallback, SPEC_SPOT_FALLBACK_ON_DEMAND);
	assert_int_equal(s->access.ssh.nallow, 1);
	assert_string_equal(s->access.ssh.allow_from[0].text, "203.0.113.7/32");
	assert_int_equal(s->access.ssh.allow_from[0].prefix, 32);
	assert_int_equal(s->access.nports, 1);
	assert_int_equal(s->access.ports[0].port, 8080);
	assert_int_equal(s->access.ports[0].protocol, SPEC_PROTO_TCP);
	assert_string_equal(s->bootstrap.docker_image, "node:20-bookworm");
	assert_string_equal(s->bootstrap.repo_branch, "main");
	assert_int_equal(s->bootstrap.nsetup, 1);
	assert_string_equal(s->bootstrap.setup[0], "npm ci");
	assert_string_equal(s->bootstrap.secrets[0].name, "API_KEY");
	assert_int_equal(s->bootstrap.secrets[0].source, SPEC_SECRET_ENV);
	assert_string_equal(s->bootstrap.secrets[0].ref, "ENVCTL_SECRET_API_KEY");
	assert_int_equal(s->lifecycle.ttl_s, 8 * 3600);
	assert_string_equal(s->tags[0].key, "cost-center");
	assert_string_equal(s->tags[0].value, "1234");
	spec_entry_free(e);
}

static void
test_spec__reserved_prefix_option(void **state)
{
	static const char text[] = "apiVersion: envctl/v1\nkind: Environment\n"
	    "spec:\n  tags: {\"fuel-code:managed\": \"x\", \"envctl:x\": y}\n";
	struct spec_options opts;
	struct spec_entry *e;

	(void)state;
	spec_options_init(&opts);
	opts.tag_prefix = "fuel-code:";
	assert_int_equal(spec_entry_parse(&e, "t.yaml", text, sizeof(text) - 1, &opts), 0);
	assert_true(has_diag(e, 4, 10, "the prefix 'fuel-code:' is reserved"));
	assert_int_equal(spec_entry_diag_count(e), 1);	/* envctl: is fine then */
	spec_entry_free(e);
}

/*
 * Secrets come only from the secret namespace: a variable under
 * secret_env_prefix, a file in secrets_dir, an SSM parameter under
 * secret_ssm_prefix.  The controller's own variables are refused where
 * they are written; a refused value is never echoed.
 */
static void
test_spec__secret_namespace(void **state)
{
	static const char head[] = "apiVersion: envctl/v1\nkind: Environment\n"
	    "metadata: {name: sec}\nspec:\n  bootstrap:\n    secrets:\n";
	static const struct {
		const char	*line;		/* the secret's line */
		int		 files;		/* opts.secret_files */
		unsigned	 col;		/* 0: valid */
		const char	*msg;
	} cases[] = {
		{ "      A: {env: AWS_SECRET_ACCESS_KEY}", 0, 16,
		  "variable AWS_SECRET_ACCESS_KEY is not in the secret namespace: "
		  "its name must start with ENVCTL_SECRET_" },
		{ "      A: {env: PGPASSWORD}", 0, 16, "is not in the secret namespace" },
		{ "      A: {env: ENVCTL_DATABASE_URL}", 0, 16,
		  "is not in the secret namespace" },
		{ "      A: {env: AWS_SESSION_TOKEN}", 0, 16, "not in the secret namespace" },
		{ "      A: {env: ENVCTL_SECRET_}", 0, 16, "not in the secret namespace" },
		{ "      A: {env: ENVCTL_SECRET_X}", 0, 0, NULL },
		{ "      A: {file: api-key}", 0, 17, "file secrets need secrets_dir" },
		{ "      A: {file: api-key.v2}", 1, 0, NULL },
		{ "      A: {file: ../etc/shadow}", 1, 17, "must not start with '.'" },
		{ "      A: {file: a/b}", 1, 17, "only letters, digits" },
		{ "      A: {file: ..}", 1, 17, "must not start with '.'" },
		{ "      A: {ssm: /envctl/app/key}", 0, 0, NULL },
		{ "      A: {ssm: /prod/db/password}", 0, 16, "must be under /envctl/" },
		{ "      A: {ssm: /envctl/../prod/x}", 0, 16, "without empty, '.' or '..'" },
		{ "      A: {ssm: /envctl/}", 0, 16, "without empty, '.' or" },
		{ "      A: {ssm: envctl/x}", 0, 16, "must be under /envctl/" },
		{ "      A: {env: ENVCTL_SECRET_X, ssm: /envctl/x}", 0, 10,
		  "needs exactly one of" },
		{ "      A: {value: hunter2}", 0, 11, "unknown key 'value'" },
	};
	char text[512];
	struct spec_options opts;
	struct spec_entry *e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = snprintf(text, sizeof(text), "%s%s\n", head, cases[i].line);

		spec_options_init(&opts);
		opts.secret_files = cases[i].files;
		assert_int_equal(spec_entry_parse(&e, "sec.yaml", text, (size_t)n, &opts), 0);
		if (cases[i].msg == NULL) {
			if (!spec_entry_valid(e))
				print_error("case %zu: %s\n", i, spec_entry_diag(e, 0)->message);
			assert_true(spec_entry_valid(e));
		} else if (!has_diag(e, 7, cases[i].col, cases[i].msg)) {
			print_error("case %zu: %u:%u %s\n", i,
			    spec_entry_diag_count(e) ? spec_entry_diag(e, 0)->line : 0,
			    spec_entry_diag_count(e) ? spec_entry_diag(e, 0)->col : 0,
			    spec_entry_diag_count(e) ? spec_entry_diag(e, 0)->message : "valid");
			fail();
		}
		if (cases[i].msg != NULL)
			assert_null(strstr(spec_entry_diag(e, 0)->message, "hunter2"));
		spec_entry_free(e);
	}

	/* The prefixes are the controller's: another prefix, or a source off. */
	spec_options_init(&opts);
	opts.secret_env_prefix = "APP_";
	opts.secret_ssm_prefix = "";
	snprintf(text, sizeof(text), "%s      A: {env: APP_KEY}\n      B: {env: "
	    "ENVCTL_SECRET_KEY}\n      C: {ssm: /envctl/c}\n", head);
	assert_int_equal(spec_entry_parse(&e, "sec.yaml", text, strlen(text), &opts), 0);
	assert_int_equal(spec_entry_diag_count(e), 2);
	assert_true(has_diag(e, 8, 16, "must start with APP_"));
	assert_true(has_diag(e, 9, 16, "SSM secrets are off"));
	spec_entry_free(e);
	opts.secret_env_prefix = "";
	snprintf(text, sizeof(text), "%s      A: {env: APP_KEY}\n", head);
	assert_int_equal(spec_entry_parse(&e, "sec.yaml", text, strlen(text), &opts), 0);
	assert_true(has_diag(e, 7, 16, "environment secrets are off"));
	spec_entry_free(e);

	/* Each source is its own reference in the hash. */
	{
		char h1[SPEC_HASH_SIZE], h2[SPEC_HASH_SIZE];
		const struct spec *s;

		spec_options_init(&opts);
		opts.secret_files = 1;
		snprintf(text, sizeof(text), "%s      A: {file: xy}\n", head);
		assert_int_equal(spec_entry_parse(&e, "sec.yaml", text, strlen(text), &opts), 0);
		assert_non_null(s = spec_entry_spec(e));
		assert_int_equal(s->bootstrap.secrets[0].source, SPEC_SECRET_FILE);
		assert_string_equal(s->bootstrap.secrets[0].ref, "xy");
		assert_int_equal(spec_hash(h1, s), 0);
		spec_entry_free(e);
		opts.secret_env_prefix = "x";	/* the same name, another source */
		snprintf(text, sizeof(text), "%s      A: {env: xy}\n", head);
		assert_int_equal(spec_entry_parse(&e, "sec.yaml", text, strlen(text), &opts), 0);
		assert_non_null(s = spec_entry_spec(e));
		assert_int_equal(spec_hash(h2, s), 0);
		assert_string_not_equal(h1, h2);
		spec_entry_free(e);
	}
}

/* ---- the hash ---- */

static const char hash_base[] =
"apiVersion: envctl/v1\n"
"kind: Environment\n"
"metadata:\n"
"  name: hashy\n"
"  workspace: web\n"
"  labels: {team: web, tier: dev}\n"
"spec:\n"
"  region: eu-west-1\n"
"  instance:\n"
"    type: t3.large\n"
"    image: ubuntu-24.04\n"
"    disk: {size_gb: 40}\n"
"    subnets: [subnet-0a, subnet-0b]\n"
"    iam_instance_profile: dev-env\n"
"    market: spot\n"
"    spot: {max_price: \"0.05\", fallback: none, timeout: 10m}\n"
"  access:\n"
"    ssh: {key: auto, key_type: rsa, allow_from: [203.0.113.0/24, \"2001:db8::/32\"]}\n"
"    ports:\n"
"      - {port: 8080, allow_from: [198.51.100.0/24]}\n"
"      - {port: 5353, protocol: udp, allow_from: [10.0.0.0/8]}\n"
"  bootstrap:\n"
"    docker_image: node:20\n"
"    repo: {url: \"https://github.com/acme/app.git\", branch: dev}\n"
"    system_packages: [git, make]\n"
"    setup: [\"npm ci\", \"npm test\"]\n"
"    environment: {A: \"1\", B: two}\n"
"    secrets: {TOKEN: {env: ENVCTL_SECRET_TOKEN}}\n"
"  lifecycle: {ttl: 8h, ready_timeout: 10m, on_drift: report}\n"
"  tags: {cost-center: \"1234\", owner: alice}\n";

/* The same meaning: other key order, comments, quoting, layout, defaults spelled out. */
static const char hash_same[] =
"# the same environment, written differently\n"
"kind: \"Environment\"\n"
"apiVersion: 'envctl/v1'\n"
"spec:\n"
"  tags:\n"
"    owner: \"alice\"      # trailing comment\n"
"    cost-center: '1234'\n"
"  lifecycle:\n"
"    on_drift: report\n"
"    ready_timeout: 600s\n"
"    ttl: \"8h\"\n"
"  bootstrap:\n"
"    secrets:\n"
"      TOKEN:\n"
"        env: ENVCTL_SECRET_TOKEN\n"
"    environment:\n"
"      B: \"two\"\n"
"      A: '1'\n"
"    setup:\n"
"      - npm ci\n"
"      - >-\n"
"        npm test\n"
"    system_packages:\n"
"    - git\n"
"    - make\n"
"    repo:\n"
"      branch: dev\n"
"      url: https://github.com/acme/app.git\n"
"    docker_image: \"node:20\"\n"
"  access:\n"
"    ports:\n"
"      - allow_from: [\"198.51.100.0/24\"]\n"
"        port: 8080\n"
"        protocol: tcp\n"
"      - protocol: udp\n"
"        port: 5353\n"
"        allow_from:\n"
"          - 10.0.0.0/8\n"
"    ssh:\n"
"      allow_world: false\n"
"      allow_from: [203.0.113.0/24, \"2001:DB8:0::/32\"]\n"
"      key_type: rsa\n"
"      key: auto\n"
"  instance:\n"
"    spot:\n"
"      timeout: 600s\n"
"      fallback: none\n"
"      max_price: 0.050\n"
"    market: spot\n"
"    iam_instance_profile: dev-env\n"
"    subnets: [subnet-0a, subnet-0b]\n"
"    disk:\n"
"      size_gb: 40\n"
"    image: ubuntu-24.04\n"
"    type: t3.large\n"
"  region:    eu-west-1\n"
"metadata:\n"
"  labels: {tier: dev, team: web}\n"
"  workspace: web\n"
"  name: hashy\n"
"\n\n";

static void
hash_of(char out[SPEC_HASH_SIZE], const char *text)
{
	struct spec_entry *e = parse_str(NULL, text);

	if (!spec_entry_valid(e)) {
		dump_diags(e);
		fail_msg("spec should be valid");
	}
	assert_string_equal(spec_entry_hash(e), spec_entry_hash(e));
	memcpy(out, spec_entry_hash(e), SPEC_HASH_SIZE);
	spec_entry_free(e);
}

/* text with the first occurrence of from replaced by to */
static char *
replace(const char *text, const char *from, const char *to)
{
	const char *p = strstr(text, from);

	if (p == NULL)
		fail_msg("'%s' not in the base spec", from);
	return xasprintf("%.*s%s%s", (int)(p - text), text, to, p + strlen(from));
}

static void
test_spec__hash_invariance(void **state)
{
	char a[SPEC_HASH_SIZE], b[SPEC_HASH_SIZE];
	static const char minimal[] = "apiVersion: envctl/v1\nkind: Environment\n"
	    "metadata: {name: m}\n";
	static const char explicit_defaults[] =
	    "apiVersion: envctl/v1\nkind: Environment\n"
	    "metadata: {name: m, workspace: default, labels: {}}\n"
	    "spec:\n"
	    "  region: us-east-1\n"
	    "  instance: {type: t3.medium, image: al2023, disk: {size_gb: 20}, "
	    "subnets: [], market: on-demand}\n"
	    "  access:\n"
	    "    ssh: {key: auto, key_type: ed25519, allow_from: [], allow_world: false}\n"
	    "    ports: []\n"
	    "  bootstrap: {system_packages: [], setup: [], environment: {}, secrets: {}}\n"
	    "  lifecycle: {ready_timeout: 5m, on_drift: replace}\n"
	    "  tags: {}\n";
	static const char with_nulls[] = "apiVersion: envctl/v1\nkind: Environment\n"
	    "metadata: {name: m, workspace: ~}\nspec:\n  instance:\n  lifecycle: null\n";

	(void)state;
	hash_of(a, hash_base);
	hash_of(b, hash_same);
	assert_string_equal(a, b);
	hash_of(a, minimal);
	hash_of(b, explicit_defaults);
	assert_string_equal(a, b);
	hash_of(b, with_nulls);
	assert_string_equal(a, b);
}

/* access.ssh.user: a login name or an error at its value. */
static void
test_spec__ssh_user(void **state)
{
	static const char *const bad[] = { "Root", "1dev", "-dev", "de v", "\"\"",
	    "a23456789012345678901234567890123", "[dev]", "\"dev;id\"" };
	char text[256];
	struct spec_entry *e;
	size_t i;

	(void)state;
	e = parse_str("u.yaml", "apiVersion: envctl/v1\nkind: Environment\n"
	    "metadata: {name: u}\nspec:\n  access:\n    ssh: {user: _dev-1}\n");
	assert_true(spec_entry_valid(e));
	assert_string_equal(spec_entry_spec(e)->access.ssh.user, "_dev-1");
	spec_entry_free(e);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "apiVersion: envctl/v1\nkind: Environment\n"
		    "metadata: {name: u}\nspec:\n  access:\n    ssh: {user: %s}\n", bad[i]);
		e = parse_str("u.yaml", text);
		assert_false(spec_entry_valid(e));
		assert_true(has_diag(e, 6, 17, "spec.access.ssh.user"));
		spec_entry_free(e);
	}
}

/* lifecycle.on_interruption: spot only, a list of commands, timeout 5s..110s */
static void
test_spec__on_interruption(void **state)
{
	static const char head[] =
"apiVersion: envctl/v1\n"
"kind: Environment\n"
"metadata: {name: sp}\n"
"spec:\n"
"  instance: {type: t3.small, image: al2023, market: %s}\n"
"  lifecycle:\n"
"    %s\n";
	static const struct {
		const char	*market, *lc, *diag;	/* diag NULL: valid */
		long long	 timeout;
		size_t		 n;
	} cases[] = {
		{ "spot", "on_interruption: [\"git push -q\", \"sync 'a b'\"]", NULL, 90, 2 },
		{ "spot", "on_interruption: [x]\n    on_interruption_timeout: 110s", NULL, 110, 1 },
		{ "spot", "ttl: 8h", NULL, 90, 0 },
		{ "on-demand", "on_interruption: [x]", "needs 'instance.market: spot'", 0, 0 },
		{ "on-demand", "on_interruption_timeout: 30s", "needs 'instance.market: spot'", 0, 0 },
		{ "spot", "on_interruption: [x]\n    on_interruption_timeout: 111s",
		    "between 5s and 1m50s", 0, 0 },
		{ "spot", "on_interruption: x", "on_interruption", 0, 0 },
		{ "spot", "on_interruption: [\"\"]", "1 to 4096 bytes", 0, 0 },
	};
	char text[1024];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spec_entry *e;
		const struct spec *s;

		snprintf(text, sizeof(text), head, cases[i].market, cases[i].lc);
		e = parse_str("sp.yaml", text);
		if (cases[i].diag == NULL) {
			if (!spec_entry_valid(e))
				dump_diags(e);
			assert_true(spec_entry_valid(e));
			s = spec_entry_spec(e);
			assert_int_equal(s->lifecycle.on_interruption_timeout_s,
			    cases[i].timeout);
			assert_int_equal(s->lifecycle.non_interruption, cases[i].n);
			if (i == 0)
				assert_string_equal(s->lifecycle.on_interruption[1],
				    "sync 'a b'");
		} else {
			assert_false(spec_entry_valid(e));
			assert_non_null(strstr(spec_entry_diag(e, 0)->message,
			    cases[i].diag));
		}
		spec_entry_free(e);
	}
}

static void
test_spec__hash_sensitivity(void **state)
{
	static const struct { const char *from, *to; } changes[] = {
		{ "name: hashy", "name: hashy2" },
		{ "workspace: web", "workspace: api" },
		{ "team: web", "team: ops" },
		{ "tier: dev}", "tier: dev, x: y}" },
		{ "region: eu-west-1", "region: eu-west-2" },
		{ "type: t3.large", "type: t3.xlarge" },
		{ "image: ubuntu-24.04", "image: ubuntu-22.04" },
		{ "image: ubuntu-24.04", "image: ami-0123456789abcdef0" },
		{ "size_gb: 40", "size_gb: 41" },
		{ "[subnet-0a, subnet-0b]", "[subnet-0b, subnet-0a]" },
		{ "[subnet-0a, subnet-0b]", "[subnet-0a]" },
		{ "profile: dev-env", "profile: dev-env2" },
		{ "market: spot\n    spot: {max_price: \"0.05\", fallback: none, timeout: 10m}\n",
		  "market: on-demand\n" },
		{ "max_price: \"0.05\"", "max_price: \"0.06\"" },
		{ "max_price: \"0.05\", ", "" },
		{ "fallback: none", "fallback: on-demand" },
		{ "timeout: 10m}", "timeout: 11m}" },
		{ "key: auto, key_type: rsa", "key: auto" },
		{ "key: auto, key_type: rsa", "key: {name: team}" },
		{ "key: auto, key_type: rsa", "key: {public_key: \"ssh-ed25519 "
		  "AAAAC3NzaC1lZDI1NTE5AAAAIHE8X5mDg4XQMqSRXL9n7nBvUdgu6W1sQMlFm9OAHtTq a@b\"}" },
		{ "allow_from: [203.0.113.0/24,", "allow_world: true, allow_from: [203.0.113.0/24," },
		{ "allow_from: [203.0.113.0/24,", "user: dev, allow_from: [203.0.113.0/24," },
		{ "203.0.113.0/24", "203.0.113.0/25" },
		{ "\"2001:db8::/32\"", "\"2001:db8::/33\"" },
		{ "[203.0.113.0/24, \"2001:db8::/32\"]", "[\"2001:db8::/32\", 203.0.113.0/24]" },
		{ "port: 8080", "port: 8081" },
		{ "protocol: udp", "protocol: tcp" },
		{ "[198.51.100.0/24]", "[198.51.100.0/24, 192.0.2.0/24]" },
		{ "      - {port: 5353, protocol: udp, allow_from: [10.0.0.0/8]}\n", "" },
		{ "docker_image: node:20", "docker_image: node:22" },
		{ "branch: dev", "branch: main" },
		{ ", branch: dev", "" },
		{ "app.git\"", "app2.git\"" },
		{ "[git, make]", "[git, make, jq]" },
		{ "[\"npm ci\", \"npm test\"]", "[\"npm test\", \"npm ci\"]" },
		{ "\"npm test\"", "\"npm  test\"" },
		{ "A: \"1\"", "A: \"2\"" },
		{ "B: two}", "B: two, C: \"\"}" },
		{ "env: ENVCTL_SECRET_TOKEN", "env: ENVCTL_SECRET_TOKEN2" },
		{ "{env: ENVCTL_SECRET_TOKEN}", "{ssm: /envctl/ENVCTL_SECRET_TOKEN}" },
		{ "{TOKEN:", "{TOKEN2:" },
		{ "ttl: 8h", "ttl: 9h" },
		{ "ttl: 8h, ", "" },
		{ "ready_timeout: 10m", "ready_timeout: 11m" },
		{ "on_drift: report", "on_drift: replace" },
		{ "on_drift: report}", "on_drift: report, on_idle: terminate}" },
		{ "on_drift: report}", "on_drift: report, on_idle: terminate, "
		  "idle_stop: 1h}" },
		{ "on_drift: report}", "on_drift: report, on_interruption: [\"git push\"]}" },
		{ "owner: alice", "owner: bob" },
		{ "owner: alice", "Owner: alice" },
		{ "owner: alice}", "owner: alice, x: y}" },
	};
	size_t n = sizeof(changes) / sizeof(changes[0]), i, j;
	char (*h)[SPEC_HASH_SIZE] = xcalloc(n + 1, SPEC_HASH_SIZE);

	(void)state;
	hash_of(h[n], hash_base);
	for (i = 0; i < n; i++) {
		char *text = replace(hash_base, changes[i].from, changes[i].to);

		hash_of(h[i], text);
		if (strcmp(h[i], h[n]) == 0)
			fail_msg("change %zu ('%s' -> '%s') did not change the hash", i,
			    changes[i].from, changes[i].to);
		free(text);
	}
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (strcmp(h[i], h[j]) == 0)
				fail_msg("changes %zu and %zu give the same hash", i, j);
	free(h);
}

/*
 * lifecycle.idle_stop and on_idle: parsed, bounded, refused on spot unless
 * on_idle: terminate; the effective value with a fleet default.
 */
static void
test_spec__idle_stop(void **state)
{
	static const char head[] = "apiVersion: envctl/v1\nkind: Environment\n"
	    "metadata: {name: idle}\nspec:\n";
	static const struct {
		const char	*body;
		long long	 secs;		/* -2: invalid */
		int		 terminate;
		const char	*msg;		/* of an invalid one, on line 5 */
	} cases[] = {
		{ "  lifecycle: {idle_stop: 1h}\n", 3600, 0, NULL },
		{ "  lifecycle: {idle_stop: 10m}\n", 600, 0, NULL },
		{ "  lifecycle: {idle_stop: 7d}\n", 7 * 86400, 0, NULL },
		{ "  lifecycle: {idle_stop: 0}\n", 0, 0, NULL },
		{ "  lifecycle: {ttl: 8h}\n", -1, 0, NULL },
		{ "  lifecycle: {idle_stop: 2h, on_idle: terminate}\n", 7200, 1, NULL },
		{ "  instance: {market: spot}\n  lifecycle: {idle_stop: 1h, "
		  "on_idle: terminate}\n", 3600, 1, NULL },
		{ "  instance: {market: spot}\n  lifecycle: {ttl: 8h}\n", -1, 0, NULL },
		{ "  lifecycle: {idle_stop: 9m}\n", -2, 0,
		  "idle_stop must be 0 (off) or between 10m and 7d" },
		{ "  lifecycle: {idle_stop: 8d}\n", -2, 0,
		  "idle_stop must be between 0s and 7d, got 8d" },
		{ "  lifecycle: {idle_stop: 60}\n", -2, 0, "idle_stop needs a unit" },
		{ "  lifecycle: {on_idle: halt}\n", -2, 0, "on_idle" },
		{ "  instance: {market: spot}\n  lifecycle: {idle_stop: 1h}\n", -2, 0,
		  "spec.lifecycle.idle_stop on a spot instance needs 'on_idle: "
		  "terminate'" },
		{ "  instance: {market: spot}\n  lifecycle: {idle_stop: 1h, "
		  "on_idle: stop}\n", -2, 0, "needs 'on_idle: terminate'" },
	};
	size_t i, j;
	char text[512];

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spec_entry *e;
		const struct spec *s;
		int found = 0;

		snprintf(text, sizeof(text), "%s%s", head, cases[i].body);
		e = parse_str("idle.yaml", text);
		if (cases[i].secs == -2) {
			for (j = 0; j < spec_entry_diag_count(e); j++)
				if (strstr(spec_entry_diag(e, j)->message,
				    cases[i].msg) != NULL)
					found = 1;
			if (spec_entry_valid(e) || !found) {
				dump_diags(e);
				fail_msg("case %zu: want an error '%s'", i, cases[i].msg);
			}
			spec_entry_free(e);
			continue;
		}
		if (!spec_entry_valid(e)) {
			dump_diags(e);
			fail_msg("case %zu should be valid", i);
		}
		s = spec_entry_spec(e);
		assert_int_equal(s->lifecycle.idle_stop_s, cases[i].secs);
		assert_int_equal(s->lifecycle.on_idle == SPEC_IDLE_TERMINATE,
		    cases[i].terminate);
		spec_entry_free(e);
	}
	/* the fleet default fills in only what a spec does not say */
	assert_int_equal(spec_idle_stop_effective(-1, SPEC_IDLE_STOP,
	    SPEC_MARKET_ON_DEMAND, 3600), 3600);
	assert_int_equal(spec_idle_stop_effective(0, SPEC_IDLE_STOP,
	    SPEC_MARKET_ON_DEMAND, 3600), 0);
	assert_int_equal(spec_idle_stop_effective(1800, SPEC_IDLE_STOP,
	    SPEC_MARKET_ON_DEMAND, 3600), 1800);
	assert_int_equal(spec_idle_stop_effective(-1, SPEC_IDLE_STOP,
	    SPEC_MARKET_SPOT, 3600), 0);	/* spot cannot stop */
	assert_int_equal(spec_idle_stop_effective(-1, SPEC_IDLE_TERMINATE,
	    SPEC_MARKET_SPOT, 3600), 3600);
	assert_int_equal(spec_idle_stop_effective(-1, SPEC_IDLE_STOP,
	    SPEC_MARKET_ON_DEMAND, 0), 0);
}

/* A change of the canonical form must be on purpose: update docs/spec.md too. */
static void
test_spec__hash_golden(void **state)
{
	struct spec_entry *e = NULL;

	(void)state;
	assert_int_equal(spec_entry_load(&e, TEST_RESOURCES "/spec/valid/golden.yaml", NULL), 0);
	assert_true(spec_entry_valid(e));
	assert_string_equal(spec_entry_hash(e),
	    "v1:7e2064b59a5a5c7fc15446fa885f4496e984455f1e887bb64ae03211dbc5c0c1");
	spec_entry_free(e);
}

static void
test_spec__canonical_form(void **state)
{
	struct spec_entry *e;
	struct buf b;

	(void)state;
	e = parse_str("c.yaml", "apiVersion: envctl/v1\nkind: Environment\n"
	    "metadata: {labels: {b: \"2\", a: \"1\"}}\n"
	    "spec: {bootstrap: {environment: {K: \"say \\\"hi\\\" \\\\ \\u0001\\n\\t\"}}}\n");
	assert_true(spec_entry_valid(e));
	buf_init(&b, 1 << 16);
	assert_int_equal(spec_canonical(&b, spec_entry_spec(e)), 0);
	/* == json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=False) */
	assert_string_equal(buf_cstr(&b),
	    "{\"apiVersion\":\"envctl/v1\",\"kind\":\"Environment\",\"metadata\":"
	    "{\"labels\":{\"a\":\"1\",\"b\":\"2\"},\"name\":\"c\",\"workspace\":\""
	    "default\"},\"spec\":{\"access\":{\"ports\":[],\"ssh\":{\"allow_from\""
	    ":[],\"allow_world\":false,\"key\":\"auto\",\"key_type\":\"ed25519\"}"
	    "},\"bootstrap\":{\"docker_image\":null,\"environment\":{\"K\":\"say "
	    "\\\"hi\\\" \\\\ \\u0001\\n\\t\"},\"repo\":null,\"secrets\":{},\"setu"
	    "p\":[],\"system_packages\":[]},\"instance\":{\"disk\":{\"size_gb\":2"
	    "0},\"iam_instance_profile\":null,\"image\":\"al2023\",\"market\":\"o"
	    "n-demand\",\"spot\":null,\"subnets\":[],\"type\":\"t3.medium\"},\"li"
	    "fecycle\":{\"on_drift\":\"replace\",\"ready_timeout\":300,\"ttl\":nu"
	    "ll},\"region\":\"us-east-1\",\"tags\":{}}}");
	/* and the hash is the SHA-256 of exactly those bytes */
	assert_string_equal(spec_entry_hash(e),
	    "v1:154140b8e475752e93ece74e29b816359a3a73b370139653dac1c59418867834");
	buf_dispose(&b);
	spec_entry_free(e);
}

static void
test_spec__hash_form_version(void **state)
{
	char h[SPEC_HASH_SIZE];
	char *v2;

	(void)state;
	hash_of(h, hash_base);
	assert_int_equal(strncmp(h, SPEC_HASH_PREFIX, 3), 0);
	assert_int_equal(strlen(h), SPEC_HASH_SIZE - 1);
	assert_true(spec_hash_is_current(h));
	assert_int_equal(spec_hash_form_version(h), SPEC_HASH_FORM_VERSION);
	v2 = xasprintf("v2:%s", h + 3);
	assert_false(spec_hash_is_current(v2));
	assert_int_equal(spec_hash_form_version(v2), 2);
	free(v2);
	assert_false(spec_hash_is_current(NULL));
	assert_false(spec_hash_is_current(""));
	assert_false(spec_hash_is_current("v1:abc"));
	assert_false(spec_hash_is_current("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
	assert_int_equal(spec_hash_form_version("v1:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"), -1);
}

/* ---- value checks ---- */

static void
test_spec__checks(void **state)
{
	static const char *const good_images[] = { "node:20-bookworm", "python:3.12-slim",
	    "ghcr.io/acme/app:1.2.3", "localhost:5000/dev/app", "ubuntu",
	    "library/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	    "registry.example.com:8443/a__b/c-d.e:latest" };
	static const char *const bad_images[] = { "Node:20", "a//b", "app:", ":tag", "-app",
	    "app:-x", "app@sha256:12", "x/", "a b" };
	static const char *const good_urls[] = { "https://github.com/acme/app.git",
	    "ssh://git@github.com:22/acme/app.git", "git@github.com:acme/app.git",
	    "https://[2001:db8::1]:8443/r.git" };
	static const char *const bad_urls[] = { "http://github.com/a.git", "file:///srv/a.git",
	    "https://u:p@github.com/a.git", "git@github.com:", "https://github.com",
	    "ftp://x/y", "https://gith ub.com/a", "ssh://u:pw@h/x" };
	struct spec_cidr c;
	char why[256], norm[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good_images) / sizeof(good_images[0]); i++)
		if (check_docker_image(good_images[i], why, sizeof(why)) != 0)
			fail_msg("%s: %s", good_images[i], why);
	for (i = 0; i < sizeof(bad_images) / sizeof(bad_images[0]); i++)
		if (check_docker_image(bad_images[i], why, sizeof(why)) == 0)
			fail_msg("%s was accepted", bad_images[i]);
	for (i = 0; i < sizeof(good_urls) / sizeof(good_urls[0]); i++)
		if (check_repo_url(good_urls[i], why, sizeof(why)) != 0)
			fail_msg("%s: %s", good_urls[i], why);
	for (i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++)
		if (check_repo_url(bad_urls[i], why, sizeof(why)) == 0)
			fail_msg("%s was accepted", bad_urls[i]);
	assert_int_equal(check_cidr(&c, norm, sizeof(norm), "2001:DB8:0:0::/48", why,
	    sizeof(why)), 0);
	assert_string_equal(norm, "2001:db8::/48");
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.prefix, 48);
	assert_int_equal(check_cidr(&c, norm, sizeof(norm), "10.0.0.0/8", why, sizeof(why)), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.addr[0], 10);
	assert_int_equal(check_cidr(&c, norm, sizeof(norm), "10.0.0.0/08", why, sizeof(why)), -1);
	assert_int_equal(check_cidr(&c, norm, sizeof(norm), "10.0.0.0/", why, sizeof(why)), -1);
	assert_int_equal(check_cidr(&c, norm, sizeof(norm), "::ffff:1.2.3.0/120", why,
	    sizeof(why)), 0);
	assert_int_equal(check_price(norm, sizeof(norm), "000.0500", why, sizeof(why)), 0);
	assert_string_equal(norm, "0.05");
	assert_int_equal(check_price(norm, sizeof(norm), "2.000", why, sizeof(why)), 0);
	assert_string_equal(norm, "2");
	assert_int_equal(check_price(norm, sizeof(norm), "0.000", why, sizeof(why)), -1);
	assert_int_equal(check_branch("feature/x-1", why, sizeof(why)), 0);
	assert_int_equal(check_branch("a.lock", why, sizeof(why)), -1);
	assert_int_equal(check_region("us-gov-west-1", why, sizeof(why)), 0);
	assert_int_equal(check_region("us-east", why, sizeof(why)), -1);
	assert_int_equal(edit_distance("insance", "instance", 3), 1);
	assert_int_equal(edit_distance("abc", "xyz", 2), 3);
}

/* ---- the tree ---- */

static const char tiny[] = "apiVersion: envctl/v1\nkind: Environment\n";

static void
test_spec__tree_keeps_invalid_and_duplicates(void **state)
{
	char *dir = make_tmpdir(), *p;
	struct spec_tree *t = NULL;
	const struct spec_entry *e;
	static const char *const order[] = { "a", "b", "c", "d", "d", "link" };
	size_t i;

	(void)state;
#define W(name, text) do { p = xasprintf("%s/%s", dir, name); \
	write_file(p, text, strlen(text)); free(p); } while (0)
	W("b.yml", tiny);
	W("a.yaml", tiny);
	W("c.yaml", "apiVersion: envctl/v1\nkind: Environment\nspce: {}\n");
	W("d.yaml", tiny);
	W("d.yml", tiny);
	W(".hidden.yaml", "not: [valid");
	W("notes.txt", "ignored");
	p = xasprintf("%s/sub", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	W("sub/e.yaml", tiny);
	p = xasprintf("%s/link.yaml", dir);
	assert_int_equal(symlink("a.yaml", p), 0);
	free(p);
#undef W
	assert_int_equal(spec_tree_load(&t, dir, NULL), 0);
	assert_int_equal(spec_tree_count(t), 6);
	assert_int_equal(spec_tree_invalid_count(t), 4);
	for (i = 0; i < 6; i++)
		assert_string_equal(spec_entry_name(spec_tree_entry(t, i)), order[i]);
	assert_null(spec_tree_entry(t, 6));
	assert_true(spec_entry_valid(spec_tree_entry(t, 0)));
	assert_true(spec_entry_valid(spec_tree_entry(t, 1)));
	e = spec_tree_entry(t, 2);
	assert_false(spec_entry_valid(e));
	assert_null(spec_entry_spec(e));
	assert_null(spec_entry_hash(e));
	assert_true(has_diag(e, 3, 1, "unknown key 'spce'; did you mean 'spec'?"));
	for (i = 3; i <= 4; i++) {
		e = spec_tree_entry(t, i);
		assert_false(spec_entry_valid(e));
		assert_true(has_diag(e, 1, 1, "the environment 'd' is also declared by"));
	}
	assert_non_null(strstr(spec_entry_diag(spec_tree_entry(t, 3), 0)->message, "d.yml"));
	e = spec_tree_entry(t, 5);
	assert_false(spec_entry_valid(e));
	assert_true(has_diag(e, 1, 1, "symbolic link"));
	assert_ptr_equal(spec_tree_find(t, "a"), spec_tree_entry(t, 0));
	assert_ptr_equal(spec_tree_find(t, "c"), spec_tree_entry(t, 2));
	assert_null(spec_tree_find(t, "sub"));
	assert_null(spec_tree_find(t, "e"));
	assert_null(spec_tree_find(t, "hidden"));
	spec_tree_free(t);
	rm_rf(dir);
	free(dir);
}

static void
test_spec__tree_missing_vs_empty(void **state)
{
	char *dir = make_tmpdir(), *p;
	struct spec_tree *t = (struct spec_tree *)1;

	(void)state;
	/* empty: a tree with nothing in it */
	assert_int_equal(spec_tree_load(&t, dir, NULL), 0);
	assert_non_null(t);
	assert_int_equal(spec_tree_count(t), 0);
	assert_int_equal(spec_tree_invalid_count(t), 0);
	spec_tree_free(t);
	/* missing: the whole load fails */
	p = xasprintf("%s/nope", dir);
	assert_int_equal(spec_tree_load(&t, p, NULL), ERR_NOTFOUND);
	assert_null(t);
	assert_non_null(strstr(err_get(), "nope"));
	free(p);
	/* not a directory */
	p = xasprintf("%s/file.yaml", dir);
	write_file(p, tiny, strlen(tiny));
	assert_true(spec_tree_load(&t, p, NULL) < 0);
	assert_null(t);
	free(p);
	/* a file that cannot be read fails the whole load too (fail closed) */
	assert_int_equal(failpoint_configure("spec_file_read=error"), 0);
	assert_true(spec_tree_load(&t, dir, NULL) < 0);
	assert_null(t);
	assert_int_equal(failpoint_configure(""), 0);
	assert_int_equal(spec_tree_load(&t, dir, NULL), 0);
	assert_int_equal(spec_tree_count(t), 1);
	spec_tree_free(t);
	rm_rf(dir);
	free(dir);
}

static void
test_spec__tree_files(void **state)
{
	const char *paths[] = {
		TEST_RESOURCES "/spec/valid/golden.yaml",
		TEST_RESOURCES "/spec/invalid/tabs.yaml",
	};
	const char *missing[] = { TEST_RESOURCES "/spec/valid/missing.yaml" };
	struct spec_tree *t = NULL;

	(void)state;
	assert_int_equal(spec_tree_load_files(&t, paths, 2, NULL), 0);
	assert_int_equal(spec_tree_count(t), 2);
	assert_int_equal(spec_tree_invalid_count(t), 1);
	assert_string_equal(spec_entry_name(spec_tree_entry(t, 0)), "golden");
	assert_string_equal(spec_entry_name(spec_tree_entry(t, 1)), "tabs");
	spec_tree_free(t);
	assert_int_equal(spec_tree_load_files(&t, missing, 1, NULL), ERR_NOTFOUND);
	assert_null(t);
}

static void
test_spec__examples_valid(void **state)
{
	struct spec_tree *t = NULL;
	size_t i;

	(void)state;
	assert_int_equal(spec_tree_load(&t, TEST_EXAMPLES, NULL), 0);
	assert_true(spec_tree_count(t) >= 4);
	for (i = 0; i < spec_tree_count(t); i++) {
		const struct spec_entry *e = spec_tree_entry(t, i);

		dump_diags(e);
		assert_true(spec_entry_valid(e));
		assert_true(spec_hash_is_current(spec_entry_hash(e)));
	}
	assert_int_equal(spec_tree_invalid_count(t), 0);
	assert_non_null(spec_tree_find(t, "minimal"));
	spec_tree_free(t);
}

/* ---- lean trees and reading an entry again ---- */

static const char explicit_spec[] =
    "apiVersion: envctl/v1\nkind: Environment\n"
    "metadata:\n  name: a\n  workspace: web\n"
    "spec:\n  region: eu-central-1\n  instance: {type: t3.small}\n"
    "  lifecycle:\n    ttl: 8h\n    on_drift: report\n";

static void
write_at(const char *dir, const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", dir, name);

	write_file(p, text, strlen(text));
	free(p);
}

static void
str_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

/* A lean tree of dir is the full tree without specs: every other answer equal. */
static void
lean_matches_full(const char *dir, const struct spec_options *base)
{
	struct spec_options o = *base;
	struct spec_tree *full = NULL, *lean = NULL;
	size_t i, j;

	o.lean = 0;
	assert_int_equal(spec_tree_load(&full, dir, &o), 0);
	o.lean = 1;
	assert_int_equal(spec_tree_load(&lean, dir, &o), 0);
	assert_int_equal(spec_tree_count(lean), spec_tree_count(full));
	assert_int_equal(spec_tree_invalid_count(lean), spec_tree_invalid_count(full));
	for (i = 0; i < spec_tree_count(full); i++) {
		const struct spec_entry *f = spec_tree_entry(full, i);
		const struct spec_entry *l = spec_tree_entry(lean, i);
		const struct spec_brief *fb = spec_entry_brief(f), *lb = spec_entry_brief(l);
		const struct spec *s = spec_entry_spec(f);

		assert_string_equal(spec_entry_name(l), spec_entry_name(f));
		assert_string_equal(spec_entry_path(l), spec_entry_path(f));
		assert_int_equal(spec_entry_valid(l), spec_entry_valid(f));
		str_same(spec_entry_hash(l), spec_entry_hash(f));
		assert_null(spec_entry_spec(l));
		assert_int_equal(spec_entry_diag_count(l), spec_entry_diag_count(f));
		for (j = 0; j < spec_entry_diag_count(f); j++) {
			assert_int_equal(spec_entry_diag(l, j)->line, spec_entry_diag(f, j)->line);
			assert_int_equal(spec_entry_diag(l, j)->col, spec_entry_diag(f, j)->col);
			assert_string_equal(spec_entry_diag(l, j)->message,
			    spec_entry_diag(f, j)->message);
		}
		assert_ptr_equal(spec_tree_find(lean, spec_entry_name(l)) != NULL,
		    spec_tree_find(full, spec_entry_name(f)) != NULL);
		if (!spec_entry_valid(f)) {
			assert_null(s);
			assert_null(fb);
			assert_null(lb);
			continue;
		}
		assert_non_null(s);
		assert_non_null(fb);
		assert_non_null(lb);
		/* the full tree's brief is its spec's; the lean one says the same */
		assert_string_equal(fb->workspace, s->workspace);
		assert_string_equal(fb->region, s->region);
		assert_true(fb->ttl_s == s->lifecycle.ttl_s);
		assert_int_equal(fb->on_drift, s->lifecycle.on_drift);
		assert_string_equal(lb->workspace, fb->workspace);
		assert_string_equal(lb->region, fb->region);
		assert_true(lb->ttl_s == fb->ttl_s);
		assert_int_equal(lb->on_drift, fb->on_drift);
	}
	spec_tree_free(full);
	spec_tree_free(lean);
}

static void
test_spec__lean_same_as_full(void **state)
{
	struct spec_options o;
	char *dir = make_tmpdir(), *p;
	DIR *d;
	struct dirent *de;
	size_t ninvalid = 0;

	(void)state;
	spec_options_init(&o);
	o.default_region = "eu-west-1";
	o.tag_prefix = "acme:";
	write_at(dir, "a.yaml", explicit_spec);
	write_at(dir, "b.yml", tiny);
	write_at(dir, "c.yaml", "apiVersion: envctl/v1\nkind: Environment\nspce: {}\n");
	write_at(dir, "d.yaml", tiny);
	write_at(dir, "d.yml", tiny);
	write_at(dir, "e.yaml", "apiVersion: envctl/v1\nkind: Environment\n"
	    "spec:\n  tags: {acme:x: y}\n");
	/* and every file of the invalid-spec table */
	assert_non_null(d = opendir(INVALID_DIR));
	while ((de = readdir(d)) != NULL) {
		char *src, *data;
		FILE *f;
		long n;

		if (de->d_name[0] == '.')
			continue;
		src = xasprintf("%s/%s", INVALID_DIR, de->d_name);
		assert_non_null(f = fopen(src, "rb"));
		assert_int_equal(fseek(f, 0, SEEK_END), 0);
		n = ftell(f);
		rewind(f);
		data = xmalloc((size_t)n + 1);
		assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
		fclose(f);
		p = xasprintf("%s/inv-%s", dir, de->d_name);
		write_file(p, data, (size_t)n);
		free(p);
		free(data);
		free(src);
		ninvalid++;
	}
	closedir(d);
	assert_true(ninvalid > 10);
	lean_matches_full(dir, &o);
	lean_matches_full(TEST_EXAMPLES, &o);
	spec_options_init(&o);
	lean_matches_full(dir, &o);
	rm_rf(dir);
	free(dir);
}

static void
test_spec__lean_briefs(void **state)
{
	struct spec_options o;
	struct spec_tree *t = NULL;
	const struct spec_brief *a, *b;
	char *dir = make_tmpdir();

	(void)state;
	spec_options_init(&o);
	o.default_region = "ap-south-1";
	o.lean = 1;
	write_at(dir, "a.yaml", explicit_spec);
	write_at(dir, "b.yaml", tiny);
	write_at(dir, "c.yaml", tiny);
	write_at(dir, "d.yaml", "apiVersion: envctl/v1\nkind: Environment\n"
	    "spec:\n  instance: {types: [m5.large, m5.xlarge]}\n");
	write_at(dir, "z.yaml", "apiVersion: envctl/v1\nkind: Nope\n");
	assert_int_equal(spec_tree_load(&t, dir, &o), 0);
	assert_int_equal(spec_tree_count(t), 5);
	/* instance.types kept in the brief (quotas count the largest) */
	assert_non_null(b = spec_entry_brief(spec_tree_find(t, "d")));
	assert_int_equal(b->ninstance_types, 2);
	assert_string_equal(b->instance_types[1], "m5.xlarge");
	assert_string_equal(b->instance_type, "m5.large");
	assert_non_null(a = spec_entry_brief(spec_tree_find(t, "a")));
	assert_string_equal(a->workspace, "web");
	assert_string_equal(a->region, "eu-central-1");
	assert_true(a->ttl_s == 8 * 3600);
	assert_int_equal(a->on_drift, SPEC_DRIFT_REPORT);
	assert_non_null(b = spec_entry_brief(spec_tree_find(t, "b")));
	assert_string_equal(b->workspace, "default");
	assert_string_equal(b->region, "ap-south-1");
	assert_true(b->ttl_s == 0);
	assert_int_equal(b->on_drift, SPEC_DRIFT_REPLACE);
	/* shared strings are kept once */
	assert_ptr_equal(spec_entry_brief(spec_tree_find(t, "c"))->region, b->region);
	assert_null(spec_entry_spec(spec_tree_find(t, "a")));
	assert_false(spec_entry_valid(spec_tree_find(t, "z")));
	assert_null(spec_entry_brief(spec_tree_find(t, "z")));
	assert_null(spec_entry_hash(spec_tree_find(t, "z")));
	spec_tree_free(t);
	rm_rf(dir);
	free(dir);
}

/* reload fails with code and a message naming the file and saying why */
static void
reload_fails(const struct spec_entry *e, const struct spec_options *o, int code,
    const char *why)
{
	struct spec_entry *r = (struct spec_entry *)1;

	assert_int_equal(spec_entry_reload(&r, e, o), code);
	assert_null(r);
	assert_non_null(strstr(err_get(), spec_entry_path(e)));
	assert_non_null(strstr(err_get(), why));
}

static void
test_spec__reload(void **state)
{
	struct spec_options o, other;
	struct spec_tree *t = NULL;
	struct spec_entry *r = NULL;
	const struct spec_entry *a, *b;
	char *dir = make_tmpdir(), *p;
	char hash_a[SPEC_HASH_SIZE];

	(void)state;
	spec_options_init(&o);
	o.default_region = "eu-west-1";
	o.lean = 1;
	write_at(dir, "a.yaml", explicit_spec);
	write_at(dir, "b.yaml", tiny);
	write_at(dir, "c.yaml", "kind: Environment\n");
	assert_int_equal(spec_tree_load(&t, dir, &o), 0);
	a = spec_tree_find(t, "a");
	b = spec_tree_find(t, "b");
	snprintf(hash_a, sizeof(hash_a), "%s", spec_entry_hash(a));

	/* unchanged: the whole spec, same hash */
	assert_int_equal(spec_entry_reload(&r, a, &o), 0);
	assert_non_null(r);
	assert_true(spec_entry_valid(r));
	assert_string_equal(spec_entry_hash(r), hash_a);
	assert_string_equal(spec_entry_name(r), "a");
	assert_string_equal(spec_entry_spec(r)->instance.type, "t3.small");
	assert_string_equal(spec_entry_spec(r)->region, "eu-central-1");
	assert_string_equal(spec_entry_brief(r)->workspace, "web");
	spec_entry_free(r);
	assert_int_equal(spec_entry_reload(&r, b, &o), 0);
	assert_string_equal(spec_entry_spec(r)->region, "eu-west-1");
	spec_entry_free(r);
	/* other options give another hash: b takes the default region */
	spec_options_init(&other);
	reload_fails(b, &other, ERR_CONFLICT, "changed since the pass read it");
	/* an invalid entry has nothing to load */
	reload_fails(spec_tree_find(t, "c"), &o, ERR_INVALID, "not a valid spec");

	/* changed, invalid, gone */
	write_at(dir, "a.yaml", "apiVersion: envctl/v1\nkind: Environment\n"
	    "metadata:\n  name: a\n");
	reload_fails(a, &o, ERR_CONFLICT, "changed since the pass read it; the "
	    "next pass acts on the new version");
	write_at(dir, "a.yaml", "apiVersion: envctl/v1\nkind: Environment\nspce: {}\n");
	reload_fails(a, &o, ERR_CONFLICT, "invalid since the pass read it");
	assert_non_null(strstr(err_get(), "unknown key 'spce'"));
	p = xasprintf("%s/a.yaml", dir);
	assert_int_equal(unlink(p), 0);
	reload_fails(a, &o, ERR_CONFLICT, "removed since the pass read it");
	/* the tree is as it was */
	assert_true(spec_entry_valid(a));
	assert_string_equal(spec_entry_hash(a), hash_a);
	assert_null(spec_entry_spec(a));
	/* back as it was read: fine again */
	write_file(p, explicit_spec, strlen(explicit_spec));
	assert_int_equal(spec_entry_reload(&r, a, &o), 0);
	spec_entry_free(r);
	free(p);
	spec_tree_free(t);
	rm_rf(dir);
	free(dir);
}

static void
test_spec__tree_reload(void **state)
{
	struct spec_options o;
	struct spec_tree *t = NULL, *r = NULL;
	const struct spec_entry *v[6], *x;
	char *dir = make_tmpdir(), *p;

	(void)state;
	spec_options_init(&o);
	o.default_region = "eu-west-1";
	o.tag_prefix = "acme:";
	o.lean = 1;
	write_at(dir, "a.yaml", explicit_spec);
	write_at(dir, "b.yaml", tiny);
	write_at(dir, "c.yaml", tiny);
	write_at(dir, "d.yaml", tiny);
	write_at(dir, "e.yaml", "apiVersion: envctl/v1\nkind: Environment\n"
	    "spec:\n  tags: {envctl:x: y}\n");
	write_at(dir, "z.yaml", "kind: Environment\n");
	assert_int_equal(spec_tree_load(&t, dir, &o), 0);
	assert_int_equal(spec_tree_invalid_count(t), 1);
	v[0] = spec_tree_find(t, "d");
	v[1] = spec_tree_find(t, "a");
	v[2] = spec_tree_find(t, "b");
	v[3] = spec_tree_find(t, "a");		/* twice: read once */
	v[4] = spec_tree_find(t, "c");
	v[5] = spec_tree_find(t, "e");		/* valid with acme: (tree's options) */
	write_at(dir, "b.yaml", "apiVersion: envctl/v1\nkind: Environment\n"
	    "spec:\n  region: us-west-2\n");
	write_at(dir, "c.yaml", "apiVersion: envctl/v1\nkind: Environment\nspce: {}\n");
	p = xasprintf("%s/d.yaml", dir);
	assert_int_equal(unlink(p), 0);
	free(p);

	assert_int_equal(spec_tree_reload(&r, t, v, 6), 0);
	assert_int_equal(spec_tree_count(r), 5);
	assert_int_equal(spec_tree_invalid_count(r), 3);
	x = spec_tree_find(r, "a");
	assert_true(spec_entry_valid(x));
	assert_string_equal(spec_entry_hash(x), spec_entry_hash(v[1]));
	assert_string_equal(spec_entry_spec(x)->instance.type, "t3.small");
	x = spec_tree_find(r, "e");
	assert_true(spec_entry_valid(x));
	assert_string_equal(spec_entry_spec(x)->region, "eu-west-1");
	assert_string_equal(spec_entry_hash(x), spec_entry_hash(v[5]));
	x = spec_tree_find(r, "b");
	assert_false(spec_entry_valid(x));
	assert_null(spec_entry_spec(x));
	assert_int_equal(spec_entry_diag_count(x), 1);
	assert_non_null(strstr(spec_entry_diag(x, 0)->message, "b.yaml: changed since "
	    "the pass read it"));
	x = spec_tree_find(r, "c");
	assert_false(spec_entry_valid(x));
	assert_non_null(strstr(spec_entry_diag(x, 0)->message, "invalid since"));
	x = spec_tree_find(r, "d");
	assert_false(spec_entry_valid(x));
	assert_non_null(strstr(spec_entry_diag(x, 0)->message, "d.yaml: removed since"));
	assert_null(spec_tree_find(r, "z"));
	spec_tree_free(r);
	/* nothing asked: an empty tree */
	assert_int_equal(spec_tree_reload(&r, t, v, 0), 0);
	assert_int_equal(spec_tree_count(r), 0);
	spec_tree_free(r);
	/* an invalid entry given comes back invalid */
	v[0] = spec_tree_find(t, "z");
	assert_int_equal(spec_tree_reload(&r, t, v, 1), 0);
	assert_non_null(strstr(spec_entry_diag(spec_tree_find(r, "z"), 0)->message,
	    "not a valid spec"));
	spec_tree_free(r);
	assert_int_equal(failpoint_configure("spec_tree_reload=error"), 0);
	r = (struct spec_tree *)1;
	assert_true(spec_tree_reload(&r, t, v, 1) < 0);
	assert_null(r);
	assert_int_equal(failpoint_configure(""), 0);
	spec_tree_free(t);
	rm_rf(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec__invalid_table),
		cmocka_unit_test(test_spec__invalid_dir_all_listed),
		cmocka_unit_test(test_spec__file_2mib),
		cmocka_unit_test(test_spec__deep_nesting),
		cmocka_unit_test(test_spec__huge_scalar),
		cmocka_unit_test(test_spec__nul_bytes),
		cmocka_unit_test(test_spec__many_aliases_capped),
		cmocka_unit_test(test_spec__collects_every_problem),
		cmocka_unit_test(test_spec__no_secret_in_messages),
		cmocka_unit_test(test_spec__defaults),
		cmocka_unit_test(test_spec__full_parse),
		cmocka_unit_test(test_spec__reserved_prefix_option),
		cmocka_unit_test(test_spec__secret_namespace),
		cmocka_unit_test(test_spec__hash_invariance),
		cmocka_unit_test(test_spec__ssh_user),
		cmocka_unit_test(test_spec__hash_sensitivity),
		cmocka_unit_test(test_spec__on_interruption),
		cmocka_unit_test(test_spec__hash_golden),
		cmocka_unit_test(test_spec__canonical_form),
		cmocka_unit_test(test_spec__hash_form_version),
		cmocka_unit_test(test_spec__checks),
		cmocka_unit_test(test_spec__tree_keeps_invalid_and_duplicates),
		cmocka_unit_test(test_spec__tree_missing_vs_empty),
		cmocka_unit_test(test_spec__tree_files),
		cmocka_unit_test(test_spec__idle_stop),
		cmocka_unit_test(test_spec__instance_types),
		cmocka_unit_test(test_spec__examples_valid),
		cmocka_unit_test(test_spec__lean_same_as_full),
		cmocka_unit_test(test_spec__lean_briefs),
		cmocka_unit_test(test_spec__reload),
		cmocka_unit_test(test_spec__tree_reload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
