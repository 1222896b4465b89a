/*
 * test_userdata.c - the bootstrap script renderer and the marker parser.
 *
 * What the script does when it runs is tested by the integration test
 * (tests/integration/userdata.cmake); here: what it contains, that every
 * spec value sits inside single quotes and decodes back to itself, the
 * EC2 size limit, base64, input checks, and marker JSON parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "buf.h"
#include "err.h"
#include "mem.h"
#include "spec.h"
#include "userdata.h"
#include "userdata_int.h"

#define PUBKEY	"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0a2V5 alice@laptop"
#define MARKER	"https://envctl-state.s3.us-east-1.amazonaws.com/envctl/e1/bootstrap.json?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc"
#define SECRETS	"https://envctl-state.s3.us-east-1.amazonaws.com/envctl/e1/secrets.env?X-Amz-Signature=def"

/* A full spec, built by hand the way lib/spec fills it in. */
struct fixture {
	struct spec		 spec;
	struct userdata_params	 p;
	const char		*packages[4];
	const char		*setup[16];
	struct spec_kv		 env[16];
	struct spec_secret	 secrets[2];
};

static void
fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->spec.name = "web-alice";
	f->spec.instance.image = "al2023";
	f->spec.bootstrap.docker_image = "node:20-bookworm";
	f->spec.bootstrap.repo_url = "https://github.com/acme/app.git";
	f->spec.bootstrap.repo_branch = "main";
	f->packages[0] = "git";
	f->packages[1] = "make";
	f->spec.bootstrap.system_packages = f->packages;
	f->spec.bootstrap.npackages = 2;
	f->setup[0] = "npm ci";
	f->setup[1] = "npm run build";
	f->spec.bootstrap.setup = f->setup;
	f->spec.bootstrap.nsetup = 2;
	f->env[0].key = "NODE_ENV";
	f->env[0].value = "development";
	f->spec.bootstrap.environment = f->env;
	f->spec.bootstrap.nenvironment = 1;
	f->secrets[0].name = "API_KEY";
	f->secrets[0].ref = "ENVCTL_SECRET_API_KEY";
	f->spec.bootstrap.secrets = f->secrets;
	f->spec.bootstrap.nsecrets = 1;
	f->p.env_id = "5f0c2a9e-1d2b-4c3d-8e4f-0a1b2c3d4e5f";
	f->p.public_key = PUBKEY;
	f->p.marker_url = MARKER;
	f->p.secrets_url = SECRETS;
}

static char *
render_ok(struct fixture *f)
{
	char *out[2] = { NULL, NULL };	/* script, base64 */
	int rc;

	rc = userdata_render(&out[0], &out[1], &f->spec, &f->p);
	assert_int_equal(rc, 0);
	assert_non_null(out[0]);
	assert_non_null(out[1]);
	free(out[1]);
	return out[0];
}

static void
assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("script lacks: %s", needle);
}

static void
test_userdata__full_spec(void **state)
{
	struct fixture f;
	char *s;

	(void)state;
	fixture_init(&f);
	s = render_ok(&f);
	assert_memory_equal(s, "#!/bin/bash\n", 12);
	assert_contains(s, "\nset -Eeuo pipefail\n");
	assert_contains(s, "/var/log/envctl-bootstrap.log");
	assert_contains(s, "\nENV_NAME='web-alice'\n");
	assert_contains(s, "\nENV_ID='5f0c2a9e-1d2b-4c3d-8e4f-0a1b2c3d4e5f'\n");
	assert_contains(s, "\nPKG='dnf'\n");
	assert_contains(s, "\nLOGIN_USER='ec2-user'\n");
	assert_contains(s, "\nPUBLIC_KEY='" PUBKEY "'\n");
	assert_contains(s, "printf '%s\\n' \"$PUBLIC_KEY\" >>\"$SSH_DIR/authorized_keys\"");
	assert_contains(s, "\nIMAGE='node:20-bookworm'\n");
	assert_contains(s, "docker pull \"$IMAGE\"\n");
	assert_contains(s, "\nREPO_URL='https://github.com/acme/app.git'\n");
	assert_contains(s, "\nREPO_BRANCH='main'\n");
	assert_contains(s, "BRANCH=(--branch \"$REPO_BRANCH\")");
	assert_contains(s, "git clone ${BRANCH[@]+\"${BRANCH[@]}\"} -- \"$REPO_URL\" \"$WORKSPACE\"");
	assert_contains(s, "\nPACKAGES=(\n  'git'\n  'make'\n)\n");
	assert_contains(s, "\nSETUP=(\n  'npm ci'\n  'npm run build'\n)\n");
	assert_contains(s, "docker exec -w /workspace envctl sh -c \"$cmd\"");
	assert_contains(s, "\nENVIRONMENT=(\n  'NODE_ENV=development'\n)\n");
	assert_contains(s, "RUN+=(-e \"$e\")");
	assert_contains(s, "\nSECRETS_URL='" SECRETS "'\n");
	assert_contains(s, "RUN+=(--env-file \"$SECRETS_FILE\")");
	assert_contains(s, "rm -f \"$SECRETS_FILE\"");
	assert_contains(s, "\nMARKER_URL='" MARKER "'\n");
	assert_contains(s, "-X PUT -H 'Content-Type: application/json' --data-binary @\"$f\" \"$MARKER_URL\"");
	assert_contains(s, "ssh-keygen -l -E sha256 -f \"$k\"");
	assert_contains(s, "/etc/ssh/ssh_host_*_key.pub");
	assert_contains(s, "trap 'ENVCTL_LINE=$LINENO' ERR");
	assert_contains(s, "marker error \"$ENVCTL_LINE\" \"$code\"");
	assert_contains(s, "\nmarker ready 0 0\n");
	/* the secret's name and source are not in the script, let alone a value */
	assert_null(strstr(s, "ENVCTL_SECRET_API_KEY"));
	free(s);

	/* without docker, repo and secrets: nothing of them is assigned */
	f.spec.bootstrap.docker_image = NULL;
	f.spec.bootstrap.repo_url = NULL;
	f.spec.bootstrap.repo_branch = NULL;
	f.spec.bootstrap.nsecrets = 0;
	f.p.secrets_url = NULL;
	s = render_ok(&f);
	assert_contains(s, "\nIMAGE=''\n");
	assert_contains(s, "\nREPO_URL=''\n");
	assert_contains(s, "\nSECRETS_URL=''\n");
	assert_contains(s, "runuser -u \"$LOGIN_USER\" -- bash -c \"$cmd\"");
	free(s);
}

/*
 * The idle watcher: present only with an idle_stop, its values quoted,
 * started as a systemd service before the ready marker.
 */
static void
test_userdata__idle_watcher(void **state)
{
	struct fixture f;
	char *s;
	size_t off, plain;

	(void)state;
	fixture_init(&f);
	s = render_ok(&f);
	assert_null(strstr(s, "IDLE_STOP="));
	assert_null(strstr(s, "envctl-idle"));
	assert_null(strstr(s, "idle_install()"));
	assert_null(strstr(s, "service_start"));	/* no watcher, no service */
	plain = strlen(s);
	free(s);

	f.p.idle_stop_s = 3600;
	s = render_ok(&f);
	assert_contains(s, "\nIDLE_STOP='3600'\nIDLE_ACTION='stop'\n");
	assert_contains(s, "\nidle_install() {\n");
	assert_contains(s, "/usr/local/sbin/envctl-idle");
	assert_contains(s, "\nservice_start() {\n");
	assert_contains(s, "service_start envctl-idle \"envctl idle watcher\" \"$f\" "
	    "\"$IDLE_STOP\" \"$IDLE_ACTION\"\n");
	assert_contains(s, "ss -Htn state established '( sport = :22 )'");
	assert_contains(s, "shutdown -h now");
	assert_contains(s, "wall \"envctl: idle");
	/* installed before the ready marker, and only where IDLE_STOP is set */
	off = (size_t)(strstr(s, "[ -z \"${IDLE_STOP:-}\" ] || idle_install\n") - s);
	assert_true(off < (size_t)(strstr(s, "\nmarker ready 0 0\n") - s));
	/* the watcher costs the script about 2 KiB */
	assert_true(strlen(s) - plain < 2600);
	free(s);

	f.spec.lifecycle.on_idle = SPEC_IDLE_TERMINATE;
	f.p.idle_stop_s = 600;
	s = render_ok(&f);
	assert_contains(s, "\nIDLE_STOP='600'\nIDLE_ACTION='terminate'\n");
	free(s);
}

static void
test_userdata__image_families(void **state)
{
	static const struct {
		const char		*image;
		enum userdata_family	 family;
		const char		*pkg;
		const char		*user;
	} cases[] = {
		{ "al2023", USERDATA_FAMILY_AL2023, "dnf", "ec2-user" },
		{ "al2", USERDATA_FAMILY_AL2, "yum", "ec2-user" },
		{ "ubuntu-22.04", USERDATA_FAMILY_UBUNTU, "apt-get", "ubuntu" },
		{ "ubuntu-24.04", USERDATA_FAMILY_UBUNTU, "apt-get", "ubuntu" },
		{ "debian-12", USERDATA_FAMILY_DEBIAN, "apt-get", "admin" },
		{ "ami-0123456789abcdef0", USERDATA_FAMILY_UNKNOWN, "", "" },
		{ "al20", USERDATA_FAMILY_UNKNOWN, "", "" },
		{ "ubuntu-", USERDATA_FAMILY_UNKNOWN, "", "" },
	};
	struct fixture f;
	char *s, *want;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(userdata_image_family(cases[i].image), cases[i].family);
		fixture_init(&f);
		f.spec.instance.image = cases[i].image;
		s = render_ok(&f);
		want = xasprintf("\nPKG='%s'\nPUBLIC_KEY=", cases[i].pkg);
		assert_contains(s, want);
		free(want);
		want = xasprintf("\nLOGIN_USER='%s'\n", cases[i].user);
		assert_contains(s, want);
		free(want);
		free(s);
	}
	assert_null(userdata_family_user(USERDATA_FAMILY_UNKNOWN));
	assert_string_equal(userdata_family_user(USERDATA_FAMILY_DEBIAN), "admin");

	/* the pipeline may name the user (an AMI of a known family) */
	fixture_init(&f);
	f.spec.instance.image = "ami-0123456789abcdef0";
	f.p.default_user = "rocky";
	s = render_ok(&f);
	assert_contains(s, "\nLOGIN_USER='rocky'\n");
	free(s);
	f.p.default_user = "root; reboot";
	assert_int_equal(userdata_render(&s, NULL, &f.spec, &f.p), ERR_INVALID);
}

/*
 * Shell lexing, enough for the assignment lines at the top of the script:
 * NAME='word' and NAME=( 'word' ... ) where a word is a run of
 * single-quoted strings and \' escapes.  Fails the test on anything else
 * outside single quotes: no $, `, ", ;, & or | is ever unquoted there.
 */
struct lexed {
	char	*names[32];
	char	*values[64];
	size_t	 nvalues;
};

static char *
lex_word(const char **pp)
{
	struct buf w;
	const char *p = *pp;

	buf_init(&w, 1 << 20);
	assert_true(*p == '\'' || *p == '\\');
	while (*p == '\'' || *p == '\\') {
		if (*p == '\\') {
			assert_int_equal(p[1], '\'');
			assert_int_equal(buf_addch(&w, '\''), 0);
			p += 2;
			continue;
		}
		for (p++; *p != '\''; p++) {
			assert_int_not_equal(*p, '\0');
			assert_int_equal(buf_addch(&w, *p), 0);
		}
		p++;
	}
	*pp = p;
	return buf_detach(&w, NULL);
}

/* Decode every value assigned before the fixed body ("LOG=") in order. */
static void
lex_assignments(struct lexed *l, const char *script)
{
	const char *p, *end = strstr(script, "\nLOG=\"$ENVCTL_ROOT");

	memset(l, 0, sizeof(*l));
	assert_non_null(end);
	p = strstr(script, "\nENV_NAME=");
	assert_non_null(p);
	p++;
	while (p < end) {
		const char *eq = strchr(p, '=');

		assert_non_null(eq);
		for (const char *c = p; c < eq; c++)
			assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ_", *c));
		p = eq + 1;
		if (*p == '(') {
			p++;
			while (*p == '\n' || *p == ' ')
				p++;
			while (*p != ')') {
				assert_true(l->nvalues < 64);
				l->values[l->nvalues++] = lex_word(&p);
				while (*p == '\n' || *p == ' ')
					p++;
			}
			p++;
		} else {
			assert_true(l->nvalues < 64);
			l->values[l->nvalues++] = lex_word(&p);
		}
		assert_int_equal(*p, '\n');
		p++;
	}
}

static void
lexed_free(struct lexed *l)
{
	size_t i;

	for (i = 0; i < l->nvalues; i++)
		free(l->values[i]);
}

static void
test_userdata__hostile_values_quoted(void **state)
{
	static const char *const hostile[] = {
		"it's",
		"$(touch /tmp/pwned)",
		"`touch /tmp/pwned`",
		"a; touch /tmp/pwned",
		"line1\ntouch /tmp/pwned\n",
		"back\\slash\\",
		"'\\''; touch /tmp/pwned; echo '",
		"\"$HOME\" ${IFS} & | > < * ? ~ # !",
		"",
	};
	const size_t n = sizeof(hostile) / sizeof(hostile[0]);
	struct fixture f, plain;
	struct lexed l;
	char *s, *sp, *pk;
	size_t i, j;

	(void)state;
	fixture_init(&f);
	f.spec.bootstrap.docker_image = hostile[2];
	f.spec.bootstrap.repo_url = hostile[1];
	f.spec.bootstrap.repo_branch = hostile[0];
	f.spec.bootstrap.setup = hostile;
	f.spec.bootstrap.nsetup = n;
	for (i = 0; i < n; i++) {
		f.env[i].key = "V";
		f.env[i].value = hostile[i];
	}
	f.spec.bootstrap.nenvironment = n;
	pk = xasprintf("%s %s", PUBKEY, "'$(touch /tmp/pwned)`x`");
	f.p.public_key = pk;
	f.p.marker_url = "https://b/m?a=$(touch${IFS}/tmp/pwned)&b='`x`'";
	s = render_ok(&f);

	lex_assignments(&l, s);
	/* ENV_NAME ENV_ID LOGIN_USER PKG PUBLIC_KEY MARKER_URL SECRETS_URL IMAGE
	 * REPO_URL REPO_BRANCH, PACKAGES (2), ENVIRONMENT (n), SETUP (n) */
	assert_int_equal(l.nvalues, 10 + 2 + n + n);
	assert_string_equal(l.values[4], pk);
	assert_string_equal(l.values[5], f.p.marker_url);
	assert_string_equal(l.values[7], hostile[2]);
	assert_string_equal(l.values[8], hostile[1]);
	assert_string_equal(l.values[9], hostile[0]);
	for (i = 0; i < n; i++) {
		char *kv = xasprintf("V=%s", hostile[i]);

		assert_string_equal(l.values[12 + i], kv);
		assert_string_equal(l.values[12 + n + i], hostile[i]);
		free(kv);
	}
	lexed_free(&l);

	/* below the assignments the script is the same text for any spec */
	fixture_init(&plain);
	sp = render_ok(&plain);
	assert_string_equal(strstr(s, "\nLOG=\"$ENVCTL_ROOT"),
	    strstr(sp, "\nLOG=\"$ENVCTL_ROOT"));
	/* and the header comment holds only checked names */
	j = (size_t)(strstr(s, "\nset -Eeuo") - s);
	assert_null(memchr(s, '$', j));
	free(sp);
	free(s);
	free(pk);
}

static void
test_userdata__shell_quote(void **state)
{
	static const struct {
		const char	*in;
		const char	*out;
	} cases[] = {
		{ "", "''" },
		{ "abc", "'abc'" },
		{ "it's", "'it'\\''s'" },
		{ "''", "''\\'''\\'''" },
		{ "$(x) `y` \\ \"", "'$(x) `y` \\ \"'" },
		{ "a\nb", "'a\nb'" },
	};
	struct buf b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_init(&b, 1024);
		assert_int_equal(userdata_shell_quote(&b, cases[i].in), 0);
		assert_string_equal(buf_cstr(&b), cases[i].out);
		buf_dispose(&b);
	}
	buf_init(&b, 4);
	assert_int_equal(userdata_shell_quote(&b, "abcdef"), ERR_LIMIT);
	buf_dispose(&b);
}

static void
test_userdata__size_limit(void **state)
{
	struct fixture f;
	char *big, *s = NULL, *b64 = NULL, *want;
	size_t lo, hi, mid, blen;
	int rc;

	(void)state;
	fixture_init(&f);
	big = xmalloc(20001);
	memset(big, 'x', 20000);
	big[20000] = '\0';
	f.setup[0] = big;
	rc = userdata_render(&s, &b64, &f.spec, &f.p);
	assert_int_equal(rc, ERR_LIMIT);
	assert_null(s);
	assert_null(b64);
	assert_non_null(strstr(err_get(), "user-data for web-alice is "));
	assert_non_null(strstr(err_get(), " bytes; EC2's limit is 16384 before "
	    "base64: shorten setup or environment"));
	blen = strtoul(err_get() + strlen("user-data for web-alice is "), NULL, 10);
	assert_true(blen > 16384);

	/*
	 * Find the longest setup command that fits: EC2 counts the raw
	 * script (16384 bytes), not its base64 (which may reach 21848).
	 */
	lo = 0;
	hi = 20000;
	while (lo + 1 < hi) {
		mid = (lo + hi) / 2;
		big[mid] = '\0';
		rc = userdata_render(&s, NULL, &f.spec, &f.p);
		if (rc == 0) {
			assert_true(strlen(s) <= USERDATA_RAW_MAX);
			free(s);
			s = NULL;
			lo = mid;
		} else {
			assert_int_equal(rc, ERR_LIMIT);
			hi = mid;
		}
		big[mid] = 'x';
	}
	big[lo] = '\0';
	assert_int_equal(userdata_render(&s, &b64, &f.spec, &f.p), 0);
	assert_int_equal(strlen(s), USERDATA_RAW_MAX);
	assert_true(strlen(b64) > 16384);	/* over the old, wrong limit */
	free(s);
	free(b64);
	big[lo] = 'x';
	big[hi] = '\0';
	assert_int_equal(userdata_render(NULL, &b64, &f.spec, &f.p), ERR_LIMIT);
	want = xasprintf("user-data for web-alice is %d bytes; EC2's limit is "
	    "16384 before base64: shorten setup or environment",
	    USERDATA_RAW_MAX + 1);
	assert_string_equal(err_get(), want);
	free(want);
	free(big);
}

static void
test_userdata__base64_round_trip(void **state)
{
	struct fixture f;
	char *s = NULL, *b64 = NULL;
	unsigned char *dec;
	size_t n, slen;
	int dlen;

	(void)state;
	fixture_init(&f);
	assert_int_equal(userdata_render(&s, &b64, &f.spec, &f.p), 0);
	n = strlen(b64);
	slen = strlen(s);
	assert_int_equal(n % 4, 0);
	assert_int_equal(n, 4 * ((slen + 2) / 3));
	assert_null(strchr(b64, '\n'));
	dec = xmalloc(n);
	dlen = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)n);
	/* EVP_DecodeBlock counts padding as zero bytes */
	assert_true(dlen >= (int)slen && dlen <= (int)slen + 2);
	assert_memory_equal(dec, s, slen);
	free(dec);
	free(s);
	free(b64);
}

static void
test_userdata__refuses_bad_inputs(void **state)
{
	struct fixture f;
	static char x[] = "x";
	char *s = x;
	int rc;
	size_t i;

	(void)state;
	for (i = 0; i < 10; i++) {
		fixture_init(&f);
		switch (i) {
		case 0: f.env[0].key = "BAD-NAME"; break;
		case 1: f.env[0].key = "$(id)"; break;
		case 2: f.env[0].key = "1ABC"; break;
		case 3: f.packages[1] = "make; reboot"; break;
		case 4: f.packages[1] = "--allowerasing"; break;
		case 5: f.p.env_id = "e1; reboot"; break;
		case 6: f.p.public_key = PUBKEY "\nssh-rsa AAAA attacker"; break;
		case 7: f.p.marker_url = "file:///etc/shadow"; break;
		case 8: f.p.secrets_url = NULL; break;	/* the spec has secrets */
		case 9: f.spec.name = "web'alice"; break;
		}
		rc = userdata_render(&s, NULL, &f.spec, &f.p);
		if (rc != ERR_INVALID)
			fail_msg("case %zu: %d", i, rc);
		assert_null(s);
		/* values are not echoed into the message */
		assert_null(strstr(err_get(), "reboot"));
		assert_null(strstr(err_get(), "attacker"));
		s = x;
	}
}

static void
test_userdata__secrets_file(void **state)
{
	const char *names[] = { "API_KEY", "DB_PASSWORD" };
	const char *values[] = { "k3y$(x)'", "p w=d" };
	const char *bad_names[] = { "API-KEY" };
	const char *bad_values[] = { "line1\nINJECTED=1" };
	char *out = NULL;

	(void)state;
	assert_int_equal(userdata_secrets_render(&out, names, values, 2), 0);
	assert_string_equal(out, "API_KEY=k3y$(x)'\nDB_PASSWORD=p w=d\n");
	mem_free_secret(out);
	assert_int_equal(userdata_secrets_render(&out, names, values, 0), 0);
	assert_string_equal(out, "");
	mem_free_secret(out);
	assert_int_equal(userdata_secrets_render(&out, bad_names, values, 1), ERR_INVALID);
	assert_null(out);
	assert_int_equal(userdata_secrets_render(&out, names, bad_values, 1), ERR_INVALID);
	assert_null(out);
	assert_non_null(strstr(err_get(), "API_KEY"));
	assert_null(strstr(err_get(), "INJECTED"));
}

#define FP1	"SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"
#define FP2	"SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"

static void
test_userdata__marker_valid(void **state)
{
	static const char json[] =
	    "{\"version\":1,\"env_id\":\"5f0c2a9e-1d2b\",\"env\":\"web-alice\","
	    "\"status\":\"ready\",\"line\":0,\"exit_code\":0,\"host_keys\":["
	    "{\"type\":\"ED25519\",\"fingerprint\":\"" FP1 "\"},"
	    "{\"type\":\"ECDSA\",\"fingerprint\":\"" FP2 "\"}]}\n";
	struct userdata_marker *m = NULL;
	const char *t, *fp;

	(void)state;
	assert_int_equal(userdata_marker_parse(&m, json, strlen(json)), 0);
	assert_string_equal(userdata_marker_env_id(m), "5f0c2a9e-1d2b");
	assert_int_equal(userdata_marker_status(m), USERDATA_STATUS_READY);
	assert_int_equal(userdata_marker_line(m), 0);
	assert_int_equal(userdata_marker_host_key_count(m), 2);
	userdata_marker_host_key(m, 1, &t, &fp);
	assert_string_equal(t, "ECDSA");
	assert_string_equal(fp, FP2);
	assert_null(userdata_marker_host_key_line(m, 1));	/* an older marker */
	assert_true(userdata_marker_has_fingerprint(m, FP1));
	assert_false(userdata_marker_has_fingerprint(m,
	    "SHA256:AAAAztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"));
	userdata_marker_free(m);
	m = NULL;

	static const char err[] = "{\"version\":1,\"env_id\":\"e1\",\"status\":\"error\","
	    "\"line\":142,\"exit_code\":3,\"host_keys\":[]}";
	assert_int_equal(userdata_marker_parse(&m, err, strlen(err)), 0);
	assert_int_equal(userdata_marker_status(m), USERDATA_STATUS_ERROR);
	assert_int_equal(userdata_marker_line(m), 142);
	assert_int_equal(userdata_marker_exit_code(m), 3);
	assert_int_equal(userdata_marker_host_key_count(m), 0);
	userdata_marker_free(m);
	userdata_marker_free(NULL);
}

#define HK_LINE	"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK5KIg6DkdO7tGtaYS5Q6ZSNCjksSZNykmzlJfDGkD6/"
#define HK_FP	"SHA256:a/RWTKQPgOwJlQ/T58DerO5SihPMq3xGynWyf+hQD7g"
#define HK_JSON(fp, key) "{\"version\":1,\"env_id\":\"e1\",\"status\":\"ready\"," \
	"\"host_keys\":[{\"type\":\"ED25519\",\"fingerprint\":\"" fp "\"," \
	"\"key\":" key "}]}"

/* A host key's public key is kept when its SHA-256 is the stated fingerprint. */
static void
test_userdata__marker_host_key_line(void **state)
{
	static const char ok[] = HK_JSON(HK_FP, "\"" HK_LINE "\"");
	static const char *const bad[] = {
		HK_JSON(FP1, "\"" HK_LINE "\""),	/* another key's fingerprint */
		HK_JSON(HK_FP, "7"),
		HK_JSON(HK_FP, "\"ssh-ed25519\""),
		HK_JSON(HK_FP, "\"" HK_LINE " comment\""),
		HK_JSON(HK_FP, "\"ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIK5KIg6DkdO7tGtaYS5Q6ZSNCjksSZNykmzlJfDGkD6/\""),
		HK_JSON(HK_FP, "\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK5KIg6DkdO7tGtaYS5Q6ZSNCjksSZNykmzlJfDGkD6\""),
		HK_JSON(HK_FP, "\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK5KIg6DkdO7tGtaYS5Q6ZSNCjksSZNykmzlJfDGkD7/\""),
		HK_JSON(HK_FP, "\"ssh-ed25519\\nAAAAC3NzaC1lZDI1NTE5AAAAIK5KIg6DkdO7tGtaYS5Q6ZSNCjksSZNykmzlJfDGkD6/\""),
	};
	struct userdata_marker *m = NULL;
	size_t i;

	(void)state;
	assert_int_equal(userdata_marker_parse(&m, ok, strlen(ok)), 0);
	assert_int_equal(userdata_marker_host_key_count(m), 1);
	assert_string_equal(userdata_marker_host_key_line(m, 0), HK_LINE);
	userdata_marker_free(m);
	m = NULL;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(userdata_marker_parse(&m, bad[i], strlen(bad[i])),
		    ERR_INVALID);
		assert_null(m);
		assert_non_null(strstr(err_get(), "host key 1"));
	}
}

static void
test_userdata__marker_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"garbage",
		"{",
		"[]",
		"\"ready\"",
		"{\"env_id\":\"e1\",\"status\":\"ready\",\"host_keys\":[]}",	/* no version */
		"{\"version\":2,\"env_id\":\"e1\",\"status\":\"ready\",\"host_keys\":[]}",
		"{\"version\":1,\"status\":\"ready\",\"host_keys\":[]}",	/* no env_id */
		"{\"version\":1,\"env_id\":\"\",\"status\":\"ready\",\"host_keys\":[]}",
		"{\"version\":1,\"env_id\":\"e1; x\",\"status\":\"ready\",\"host_keys\":[]}",
		"{\"version\":1,\"env_id\":7,\"status\":\"ready\",\"host_keys\":[]}",
		"{\"version\":1,\"env_id\":\"e1\",\"host_keys\":[]}",	/* no status */
		"{\"version\":1,\"env_id\":\"e1\",\"status\":\"done\",\"host_keys\":[]}",
		"{\"version\":1,\"env_id\":\"e1\",\"status\":\"ready\"}",	/* no host_keys */
		"{\"version\":1,\"env_id\":\"e1\",\"status\":\"ready\",\"host_keys\":{}}",
		"{\"version\":1,\"env_id\":\"e1\",\"status\":\"ready\",\"host_keys\":[1]}",
		"{\"version\":1,\"env_id\":\"e1\",\"status\":\"ready\",\"host_keys\":"
		    "[{\"type\":\"ED25519\",\"fingerprint\":\"MD5:aa:bb\"}]}",
		"{\"version\":1,\"env_id\":\"e1\",\"status\":\"ready\",\"host_keys\":"
		    "[{\"type\":\"ED25519\",\"fingerprint\":\"" FP1 "=\"}]}",
		"{\"version\":1,\"env_id\":\"e1\",\"status\":\"ready\",\"host_keys\":"
		    "[{\"type\":\"ED 25519\",\"fingerprint\":\"" FP1 "\"}]}",
		"{\"version\":1,\"env_id\":\"e1\",\"status\":\"ready\",\"host_keys\":"
		    "[{\"fingerprint\":\"" FP1 "\"}]}",
		"{\"version\":1,\"env_id\":\"e1\",\"status\":\"ready\",\"line\":-1,\"host_keys\":[]}",
		"{\"version\":1,\"env_id\":\"e1\",\"status\":\"ready\",\"line\":\"7\",\"host_keys\":[]}",
		"{\"version\":1,\"env_id\":\"e1\",\"status\":\"ready\",\"exit_code\":256,\"host_keys\":[]}",
		/* duplicate keys could hide a second status */
		"{\"version\":1,\"env_id\":\"e1\",\"status\":\"error\",\"status\":\"ready\",\"host_keys\":[]}",
		"{\"version\":1,\"env_id\":\"e1\",\"status\":\"ready\",\"host_keys\":[]} trailing",
	};
	struct userdata_marker *m = NULL;
	struct buf b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = userdata_marker_parse(&m, bad[i], strlen(bad[i]));

		if (rc != ERR_INVALID)
			fail_msg("case %zu parsed (%d): %s", i, rc, bad[i]);
		assert_null(m);
	}

	/* 17 host keys: more than any sshd has */
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_addstr(&b, "{\"version\":1,\"env_id\":\"e1\",\"status\":"
	    "\"ready\",\"host_keys\":["), 0);
	for (i = 0; i < 17; i++)
		assert_int_equal(buf_printf(&b, "%s{\"type\":\"ED25519\",\"fingerprint\":\""
		    FP1 "\"}", i ? "," : ""), 0);
	assert_int_equal(buf_addstr(&b, "]}"), 0);
	assert_int_equal(userdata_marker_parse(&m, b.ptr, b.len), ERR_INVALID);
	buf_reset(&b);

	/* over the size cap, whatever it holds */
	while (b.len <= USERDATA_MARKER_MAX)
		assert_int_equal(buf_addch(&b, ' '), 0);
	assert_int_equal(userdata_marker_parse(&m, b.ptr, b.len), ERR_LIMIT);
	assert_null(m);
	buf_dispose(&b);
}

/* The interruption watcher: only for spot specs, its commands quoted. */
static void
test_userdata__spot_watcher(void **state)
{
	static const char *cmds[] = { "git push -q origin HEAD",
	    "echo '$(touch /tmp/pwned)' `id` \"$HOME\"; x" };
	struct fixture f;
	struct buf q;
	char *s = NULL;
	size_t i;

	(void)state;
	fixture_init(&f);
	s = render_ok(&f);
	assert_null(strstr(s, "envctl-spot-watcher"));
	assert_null(strstr(s, "ON_INTERRUPTION"));
	free(s);

	f.spec.instance.market = SPEC_MARKET_SPOT;
	assert_int_equal(userdata_render(&s, NULL, &f.spec, &f.p), ERR_INVALID);
	assert_non_null(strstr(err_get(), "interrupted marker"));
	f.p.interrupt_url = "https://b.s3.amazonaws.com/x y";
	assert_int_equal(userdata_render(&s, NULL, &f.spec, &f.p), ERR_INVALID);
	f.p.interrupt_url = MARKER "&i=1";

	/* no commands: the watcher still warns and tells the controller */
	s = render_ok(&f);
	assert_contains(s, "INTERRUPT_URL='" MARKER "&i=1'\n");
	assert_contains(s, "INTERRUPT_TIMEOUT=90\n");
	assert_contains(s, "ON_INTERRUPTION=()\n");
	assert_contains(s, "envctl-spot-watcher");
	assert_contains(s, "/latest/meta-data/$1");
	/* installed before the script waits for sshd and says ready */
	assert_true(strstr(s, "envctl-spot-watcher") < strstr(s, "marker ready 0 0"));
	free(s);

	f.spec.lifecycle.on_interruption = cmds;
	f.spec.lifecycle.non_interruption = 2;
	f.spec.lifecycle.on_interruption_timeout_s = 45;
	s = render_ok(&f);
	assert_contains(s, "INTERRUPT_TIMEOUT=45\n");
	buf_init(&q, 4096);
	for (i = 0; i < 2; i++) {
		buf_reset(&q);
		assert_int_equal(buf_addstr(&q, "\n  "), 0);
		assert_int_equal(userdata_shell_quote(&q, cmds[i]), 0);
		assert_int_equal(buf_addch(&q, '\n'), 0);
		assert_contains(s, buf_cstr(&q));
	}
	buf_dispose(&q);
	free(s);
}

static void
test_userdata__interrupt_marker(void **state)
{
	static const char ok[] = "{\"version\":1,\"env_id\":\"5f0c2a9e-1d2b\","
	    "\"env\":\"web\",\"status\":\"interrupted\",\"kind\":\"interruption\","
	    "\"action\":\"terminate\",\"notice_time\":\"2026-12-07T22:10:00Z\","
	    "\"exit_code\":124}";
	static const char reb[] = "{\"version\":1,\"env_id\":\"e-2\",\"status\":"
	    "\"interrupted\",\"kind\":\"rebalance\",\"action\":\"\",\"exit_code\":0}";
	static const char *const bad[] = {
		"{\"version\":1,\"env_id\":\"e\",\"status\":\"ready\",\"kind\":\"rebalance\"}",
		"{\"version\":2,\"env_id\":\"e\",\"status\":\"interrupted\",\"kind\":\"rebalance\"}",
		"{\"version\":1,\"env_id\":\"e/../x\",\"status\":\"interrupted\",\"kind\":\"rebalance\"}",
		"{\"version\":1,\"env_id\":\"e\",\"status\":\"interrupted\",\"kind\":\"stop\"}",
		"{\"version\":1,\"env_id\":\"e\",\"status\":\"interrupted\",\"kind\":\"rebalance\","
		    "\"action\":\"reboot\"}",
		"{\"version\":1,\"env_id\":\"e\",\"status\":\"interrupted\",\"kind\":\"rebalance\","
		    "\"notice_time\":\"2026 12\"}",
		"{\"version\":1,\"env_id\":\"e\",\"status\":\"interrupted\",\"kind\":\"rebalance\","
		    "\"exit_code\":256}",
		"{\"version\":1,\"env_id\":\"e\",\"env_id\":\"f\",\"status\":\"interrupted\","
		    "\"kind\":\"rebalance\"}",
		"[]", "{",
	};
	struct userdata_interrupt in;
	size_t i;

	(void)state;
	assert_int_equal(userdata_interrupt_parse(&in, ok, strlen(ok)), 0);
	assert_string_equal(in.env_id, "5f0c2a9e-1d2b");
	assert_int_equal(in.kind, USERDATA_INTERRUPT_INTERRUPTION);
	assert_string_equal(in.action, "terminate");
	assert_string_equal(in.notice_time, "2026-12-07T22:10:00Z");
	assert_int_equal(in.exit_code, 124);
	assert_string_equal(userdata_interrupt_kind_name(in.kind), "interruption");
	assert_int_equal(userdata_interrupt_parse(&in, reb, strlen(reb)), 0);
	assert_int_equal(in.kind, USERDATA_INTERRUPT_REBALANCE);
	assert_string_equal(in.action, "");
	assert_string_equal(in.notice_time, "");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (userdata_interrupt_parse(&in, bad[i], strlen(bad[i])) != ERR_INVALID)
			fail_msg("accepted bad interrupted marker %zu", i);
		assert_string_equal(in.env_id, "");
	}
	assert_int_equal(userdata_interrupt_parse(&in, ok, USERDATA_MARKER_MAX + 1),
	    ERR_LIMIT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_userdata__full_spec),
		cmocka_unit_test(test_userdata__image_families),
		cmocka_unit_test(test_userdata__idle_watcher),
		cmocka_unit_test(test_userdata__hostile_values_quoted),
		cmocka_unit_test(test_userdata__shell_quote),
		cmocka_unit_test(test_userdata__size_limit),
		cmocka_unit_test(test_userdata__base64_round_trip),
		cmocka_unit_test(test_userdata__refuses_bad_inputs),
		cmocka_unit_test(test_userdata__secrets_file),
		cmocka_unit_test(test_userdata__marker_valid),
		cmocka_unit_test(test_userdata__marker_host_key_line),
		cmocka_unit_test(test_userdata__marker_invalid),
		cmocka_unit_test(test_userdata__spot_watcher),
		cmocka_unit_test(test_userdata__interrupt_marker),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
