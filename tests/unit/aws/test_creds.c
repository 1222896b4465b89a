/*
 * test_creds.c - the credentials chain: each source in order, the shared
 * files, role assumption through the callback, refresh by an injected
 * clock, IMDSv2 against a real local HTTP server (tests/harness/imds_stub.py,
 * started on a free 127.0.0.1 port and stopped by pid), and a canary
 * check that no secret reaches a log line or an error message.
 *
 * The environment is injected (a table, not setenv), so the real
 * environment of the machine running the tests does not leak in.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "creds.h"
#include "creds_int.h"
#include "err.h"
#include "log.h"
#include "mem.h"

#define STUB	TEST_RESOURCES "/../harness/imds_stub.py"
#define T0	1800000000	/* 2027-01-15T08:00:00Z */

/* ---- injected environment and clock ---- */

struct fakeenv {
	const char	*k[16];
	const char	*v[16];
	size_t		 n;
};

static const char *
fake_getenv(const char *name, void *arg)
{
	struct fakeenv *e = arg;

	for (size_t i = 0; i < e->n; i++)
		if (strcmp(e->k[i], name) == 0)
			return e->v[i];
	return NULL;
}

static void
env_set(struct fakeenv *e, const char *k, const char *v)
{
	for (size_t i = 0; i < e->n; i++) {
		if (strcmp(e->k[i], k) == 0) {
			e->v[i] = v;
			return;
		}
	}
	assert_true(e->n < 16);
	e->k[e->n] = k;
	e->v[e->n++] = v;
}

static time_t fake_time = T0;

static time_t
fake_now(void *arg)
{
	(void)arg;
	return fake_time;
}

/* ---- temp files ---- */

struct stub {
	pid_t	 pid;
	int	 port;
	char	 endpoint[64];
	char	 log[96];
};


struct fixture {
	char		 dir[64];
	char		*cred_path;
	char		*conf_path;
	struct fakeenv	 env;
	struct stub	 stub;	/* stopped by the teardown too */
};

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void stub_stop(struct stub *);

static int
fx_setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/envctl-creds-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->cred_path = xasprintf("%s/credentials", fx->dir);
	fx->conf_path = xasprintf("%s/config", fx->dir);
	/* Files named, never ~/.aws of whoever runs the tests. */
	env_set(&fx->env, "AWS_SHARED_CREDENTIALS_FILE", fx->cred_path);
	env_set(&fx->env, "AWS_CONFIG_FILE", fx->conf_path);
	/* IMDS off unless a test turns it on. */
	env_set(&fx->env, "AWS_EC2_METADATA_DISABLED", "true");
	fake_time = T0;
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fixture *fx = *state;

	stub_stop(&fx->stub);
	log_set_sink(NULL, NULL);	/* a failed canary test leaves its sink */
	log_init("test", LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	unlink(fx->cred_path);
	unlink(fx->conf_path);
	rmdir(fx->dir);
	free(fx->cred_path);
	free(fx->conf_path);
	free(fx);
	return 0;
}

static struct aws_creds_provider *
provider(struct fixture *fx, struct aws_creds_options *o)
{
	struct aws_creds_options d = { 0 };
	struct aws_creds_provider *p;

	if (o == NULL)
		o = &d;
	o->getenv = fake_getenv;
	o->getenv_arg = &fx->env;
	o->now = fake_now;
	assert_int_equal(aws_creds_provider_new(&p, o), 0);
	return p;
}

/* ---- the IMDS stub: a real HTTP server on loopback ---- */

static void
stub_start(struct stub *s, const char *const *extra)
{
	const char *argv[32];
	size_t n = 0;
	int fds[2];
	char line[32];
	ssize_t r;
	size_t got = 0;

	snprintf(s->log, sizeof(s->log), "/tmp/envctl-imds-%d-XXXXXX", (int)getpid());
	{
		int fd = mkstemp(s->log);

		assert_true(fd >= 0);
		close(fd);
	}
	argv[n++] = "python3";
	argv[n++] = STUB;
	argv[n++] = "--log";
	argv[n++] = s->log;
	for (; extra != NULL && *extra != NULL; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	assert_int_equal(pipe(fds), 0);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		char *cargv[32];	/* exec wants them writable */
		size_t i;

		for (i = 0; argv[i] != NULL; i++)
			cargv[i] = xstrdup(argv[i]);
		cargv[i] = NULL;
		execvp("python3", cargv);
		_exit(127);
	}
	close(fds[1]);
	/* The stub prints its port once it listens. */
	while (got < sizeof(line) - 1 &&
	    (r = read(fds[0], line + got, sizeof(line) - 1 - got)) > 0) {
		got += (size_t)r;
		if (memchr(line, '\n', got) != NULL)
			break;
	}
	close(fds[0]);
	line[got] = '\0';
	s->port = (int)strtol(line, NULL, 10);
	assert_true(s->port > 0 && s->port < 65536);
	snprintf(s->endpoint, sizeof(s->endpoint), "http://127.0.0.1:%d", s->port);
}

static void
stub_stop(struct stub *s)
{
	int st;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, &st, 0);
		s->pid = 0;
	}
	unlink(s->log);
}

static char *
stub_log(const struct stub *s)
{
	FILE *f = fopen(s->log, "r");
	struct buf b;
	char chunk[1024];
	size_t n;

	assert_non_null(f);
	buf_init(&b, 1 << 20);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	return buf_detach(&b, NULL);
}

/* A loopback port nobody listens on (bound, then closed). */
static int
closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- assume-role callback ---- */

struct role_calls {
	int	 n;
	int	 fail_from;	/* calls numbered >= this fail (0 = never) */
	char	 arn[128];
	char	 extid[64];
	char	 session[64];
	char	 src_akid[64];
	char	 src_secret[64];
	char	 src_source[64];
	time_t	 lifetime;
	const char *secret;	/* what the assumed creds carry */
	const char *token;
};

static int
fake_assume_role(struct aws_creds *out, const struct aws_creds *src,
    const char *arn, const char *extid, const char *session, void *arg)
{
	struct role_calls *rc = arg;
	char akid[32];

	rc->n++;
	snprintf(rc->arn, sizeof(rc->arn), "%s", arn);
	snprintf(rc->extid, sizeof(rc->extid), "%s", extid ? extid : "(none)");
	snprintf(rc->session, sizeof(rc->session), "%s", session);
	snprintf(rc->src_akid, sizeof(rc->src_akid), "%s",
	    aws_creds_access_key_id(src));
	snprintf(rc->src_secret, sizeof(rc->src_secret), "%s",
	    aws_creds_secret_access_key(src));
	snprintf(rc->src_source, sizeof(rc->src_source), "%s",
	    aws_creds_source(src));
	if (rc->fail_from > 0 && rc->n >= rc->fail_from) {
		err_set("AccessDenied: not authorized to assume %s", arn);
		return ERR_GENERIC;
	}
	snprintf(akid, sizeof(akid), "ASIAROLE%04d", rc->n);
	return aws_creds_set(out, akid, rc->secret ? rc->secret : "role-secret",
	    rc->token ? rc->token : "role-token",
	    fake_time + (rc->lifetime ? rc->lifetime : 3600), NULL);
}

/* ---- tests ---- */

static void
test_creds__value(void **state)
{
	struct aws_creds *c, *d;

	(void)state;
	assert_int_equal(aws_creds_new(&c, "AKID", "", NULL, 0, NULL), ERR_INVALID);
	assert_null(c);
	assert_int_equal(aws_creds_new(&c, NULL, "s", NULL, 0, NULL), ERR_INVALID);
	assert_int_equal(aws_creds_new(&c, "AKID", "sec", "", 0, NULL), 0);
	assert_null(aws_creds_session_token(c));	/* "" is no token */
	assert_string_equal(aws_creds_source(c), "static");
	assert_int_equal(aws_creds_set(c, "AKID2", "sec2", "tok", 42, "x"), 0);
	d = aws_creds_dup(c);
	aws_creds_free(c);
	assert_string_equal(aws_creds_access_key_id(d), "AKID2");
	assert_string_equal(aws_creds_secret_access_key(d), "sec2");
	assert_string_equal(aws_creds_session_token(d), "tok");
	assert_int_equal(aws_creds_expiration(d), 42);
	assert_string_equal(aws_creds_source(d), "x");
	/* set() with its own strings as arguments. */
	assert_int_equal(aws_creds_set(d, aws_creds_access_key_id(d),
	    aws_creds_secret_access_key(d), aws_creds_session_token(d), 43,
	    NULL), 0);
	assert_string_equal(aws_creds_secret_access_key(d), "sec2");
	assert_string_equal(aws_creds_source(d), "x");
	aws_creds_free(d);
	aws_creds_free(NULL);
}

static void
test_creds__iso8601(void **state)
{
	time_t t;

	(void)state;
	assert_int_equal(creds_parse_iso8601(&t, "2015-08-30T12:36:00Z"), 0);
	assert_int_equal((long long)t, 1440938160LL);
	assert_int_equal(creds_parse_iso8601(&t, "2015-08-30T12:36:00.123Z"), 0);
	assert_int_equal((long long)t, 1440938160LL);
	assert_int_equal(creds_parse_iso8601(&t, "2015-08-30T12:36:00+00:00"), 0);
	assert_int_equal(creds_parse_iso8601(&t, "2015-08-30T12:36:00+02:00"),
	    ERR_INVALID);
	assert_int_equal(creds_parse_iso8601(&t, "yesterday"), ERR_INVALID);
}

static void
test_creds__ini_parse(void **state)
{
	const char text[] =
	    "# comment\n"
	    "; another\n"
	    "[default]\n"
	    "aws_access_key_id=AKIDDEFAULT\n"
	    "\n"
	    "[profile   dev ]\n"
	    "  Region = eu-west-1   \n"
	    "AWS_Secret_Access_Key =  s3cr3t # inline comment\n"
	    "s3 =\n"
	    "    max_concurrent_requests = 20\n"
	    "url = http://x/#frag\n"
	    "[profile dev]\n"
	    "output=json\n";
	struct ini *ini;

	(void)state;
	assert_int_equal(ini_parse(&ini, "t", text, sizeof(text) - 1), 0);
	assert_true(ini_has_section(ini, "default"));
	assert_true(ini_has_section(ini, "profile dev"));
	assert_false(ini_has_section(ini, "dev"));
	assert_string_equal(ini_get(ini, "default", "aws_access_key_id"), "AKIDDEFAULT");
	assert_null(ini_get(ini, "default", "region"));
	/* Indented lines are never top-level keys. */
	assert_null(ini_get(ini, "profile dev", "region"));
	assert_string_equal(ini_get(ini, "profile dev", "aws_secret_access_key"), "s3cr3t");
	assert_string_equal(ini_get(ini, "profile dev", "s3"), "");
	assert_null(ini_get(ini, "profile dev", "max_concurrent_requests"));
	assert_string_equal(ini_get(ini, "profile dev", "url"), "http://x/#frag");
	assert_string_equal(ini_get(ini, "profile dev", "output"), "json");
	ini_free(ini);

	/* Errors name file and line, never the line's text. */
	assert_int_equal(ini_parse(&ini, "f", "[a]\nTOPSECRETLINE\n", 18), ERR_INVALID);
	assert_null(ini);
	assert_non_null(strstr(err_get(), "f:2:"));
	assert_null(strstr(err_get(), "TOPSECRET"));
	assert_int_equal(ini_parse(&ini, "f", "k=v\n", 4), ERR_INVALID);
	assert_int_equal(ini_parse(&ini, "f", "[a\n", 3), ERR_INVALID);
	assert_int_equal(ini_load(&ini, "/nonexistent/envctl/creds"), ERR_NOTFOUND);
}


/* Random bytes: the parser never crashes, and either parses or says where. */
static void
test_creds__ini_random(void **state)
{
	static const char alphabet[] = "[]=#; \t\r\nabcPROFILE_x\x01\xff";
	uint64_t x = 88172645463325252ULL;
	char text[512];
	int parsed = 0, rejected = 0;

	(void)state;
	for (int n = 0; n < 3000; n++) {
		size_t len;
		struct ini *ini;

		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		len = (size_t)(x % sizeof(text));
		for (size_t i = 0; i < len; i++) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			text[i] = alphabet[x % (sizeof(alphabet) - 1)];
		}
		if (ini_parse(&ini, "r", text, len) == 0) {
			assert_non_null(ini);
			(void)ini_get(ini, "x", "a");
			ini_free(ini);
			parsed++;
		} else {
			assert_null(ini);
			assert_true(strncmp(err_get(), "r:", 2) == 0);
			rejected++;
		}
	}
	assert_true(parsed > 0 && rejected > 0);
}

static void
test_creds__env(void **state)
{
	struct fixture *fx = *state;
	struct aws_creds_provider *p;
	struct aws_creds *c;

	env_set(&fx->env, "AWS_ACCESS_KEY_ID", "AKIDENV");
	env_set(&fx->env, "AWS_SECRET_ACCESS_KEY", "envsecret");
	env_set(&fx->env, "AWS_SESSION_TOKEN", "envtoken");
	p = provider(fx, NULL);
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_string_equal(aws_creds_access_key_id(c), "AKIDENV");
	assert_string_equal(aws_creds_secret_access_key(c), "envsecret");
	assert_string_equal(aws_creds_session_token(c), "envtoken");
	assert_string_equal(aws_creds_source(c), "env");
	assert_int_equal(aws_creds_expiration(c), 0);
	aws_creds_free(c);
	aws_creds_provider_free(p);
}

/* env beats files; files beat IMDS; IMDS when nothing else. */
static void
test_creds__chain_order(void **state)
{
	struct fixture *fx = *state;
	struct aws_creds_provider *p;
	struct aws_creds *c;
	struct stub *s = &fx->stub;
	const char *args[] = { "--key-prefix", "ASIAIMDS", NULL };
	char *log;

	stub_start(s, args);
	env_set(&fx->env, "AWS_EC2_METADATA_DISABLED", "false");
	env_set(&fx->env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", s->endpoint);
	write_file(fx->cred_path, "[default]\naws_access_key_id = AKIDFILE\n"
	    "aws_secret_access_key = filesecret\n");
	env_set(&fx->env, "AWS_ACCESS_KEY_ID", "AKIDENV");
	env_set(&fx->env, "AWS_SECRET_ACCESS_KEY", "envsecret");

	p = provider(fx, NULL);
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_string_equal(aws_creds_source(c), "env");
	aws_creds_free(c);
	aws_creds_provider_free(p);

	/* Only one of the pair in the env: skipped, the file wins. */
	env_set(&fx->env, "AWS_SECRET_ACCESS_KEY", NULL);
	p = provider(fx, NULL);
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_string_equal(aws_creds_source(c), "profile:default");
	assert_string_equal(aws_creds_access_key_id(c), "AKIDFILE");
	assert_null(aws_creds_session_token(c));
	aws_creds_free(c);
	aws_creds_provider_free(p);

	/* The IMDS was not asked while something before it answered. */
	log = stub_log(s);
	assert_string_equal(log, "");
	free(log);

	unlink(fx->cred_path);
	env_set(&fx->env, "AWS_ACCESS_KEY_ID", NULL);
	p = provider(fx, NULL);
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_string_equal(aws_creds_source(c), "imds");
	assert_string_equal(aws_creds_access_key_id(c), "ASIAIMDS0001");
	assert_string_equal(aws_creds_secret_access_key(c), "imds-secret");
	assert_string_equal(aws_creds_session_token(c), "imds-token");
	assert_true(aws_creds_expiration(c) > time(NULL));
	aws_creds_free(c);
	aws_creds_provider_free(p);

	/* IMDSv2: token PUT (with a TTL) first, then GETs carrying the token. */
	log = stub_log(s);
	assert_string_equal(log,
	    "PUT /latest/api/token token=no ttl=21600\n"
	    "GET /latest/meta-data/iam/security-credentials/ token=yes\n"
	    "GET /latest/meta-data/iam/security-credentials/envctl-dev token=yes\n");
	free(log);
	stub_stop(s);
}

/* [profile x] in config, [x] in credentials, credentials file wins. */
static void
test_creds__profiles(void **state)
{
	struct fixture *fx = *state;
	struct aws_creds_options o = { 0 };
	struct aws_creds_provider *p;
	struct aws_creds *c;

	write_file(fx->conf_path,
	    "# shared config\n"
	    "[default]\n"
	    "region = us-east-1\n"
	    "[profile dev]\n"
	    "aws_access_key_id = AKIDCONFDEV\n"
	    "aws_secret_access_key = confdevsecret\n"
	    "[profile   ops]   \n"
	    "  # indented comment\n"
	    "aws_access_key_id=AKIDOPS\n"
	    "aws_secret_access_key=opssecret\n"
	    "aws_session_token=opstoken\n"
	    "[staging]\n"
	    "aws_access_key_id = AKIDNOTAPROFILE\n"
	    "aws_secret_access_key = x\n");
	write_file(fx->cred_path,
	    "; credentials\n"
	    "[dev]\n"
	    "aws_access_key_id = AKIDCREDDEV\n"
	    "aws_secret_access_key = creddevsecret\n");

	env_set(&fx->env, "AWS_PROFILE", "dev");
	p = provider(fx, NULL);
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_string_equal(aws_creds_access_key_id(c), "AKIDCREDDEV");
	assert_string_equal(aws_creds_source(c), "profile:dev");
	aws_creds_free(c);
	aws_creds_provider_free(p);

	o.profile = "ops";	/* the option beats AWS_PROFILE */
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_string_equal(aws_creds_access_key_id(c), "AKIDOPS");
	assert_string_equal(aws_creds_session_token(c), "opstoken");
	assert_string_equal(aws_creds_source(c), "profile:ops");
	aws_creds_free(c);
	aws_creds_provider_free(p);

	/* "[staging]" in config is not a profile. */
	env_set(&fx->env, "AWS_PROFILE", "staging");
	p = provider(fx, NULL);
	assert_int_equal(aws_creds_provider_get(&c, p), ERR_NOTFOUND);
	assert_null(c);
	assert_non_null(strstr(err_get(), "profile staging not found"));
	aws_creds_provider_free(p);

	/* default has only a region: fall through to IMDS (disabled): none. */
	env_set(&fx->env, "AWS_PROFILE", NULL);
	p = provider(fx, NULL);
	assert_int_equal(aws_creds_provider_get(&c, p), ERR_NOTFOUND);
	assert_non_null(strstr(err_get(), "no AWS credentials"));
	aws_creds_provider_free(p);

	/* Half a key pair is an error, not a silent fall-through. */
	write_file(fx->cred_path, "[dev]\naws_access_key_id = AKIDHALF\n");
	write_file(fx->conf_path, "");
	env_set(&fx->env, "AWS_PROFILE", "dev");
	p = provider(fx, NULL);
	assert_int_equal(aws_creds_provider_get(&c, p), ERR_INVALID);
	assert_non_null(strstr(err_get(), "profile dev"));
	aws_creds_provider_free(p);

	/* A malformed file fails closed with file:line. */
	write_file(fx->cred_path, "[dev]\nnot a key value line\n");
	p = provider(fx, NULL);
	assert_int_equal(aws_creds_provider_get(&c, p), ERR_INVALID);
	assert_non_null(strstr(err_get(), "credentials:2:"));
	aws_creds_provider_free(p);
}

static void
test_creds__assume_role(void **state)
{
	struct fixture *fx = *state;
	struct role_calls rc = { 0 };
	struct aws_creds_options o = { .assume_role = fake_assume_role,
	    .assume_role_arg = &rc };
	struct aws_creds_provider *p;
	struct aws_creds *c;

	write_file(fx->conf_path,
	    "[profile deploy]\n"
	    "role_arn = arn:aws:iam::123456789012:role/envctl\n"
	    "source_profile = base\n"
	    "external_id = ext-42\n"
	    "role_session_name = envctl-test\n"
	    "[profile chained]\n"
	    "role_arn = arn:aws:iam::210987654321:role/second\n"
	    "source_profile = deploy\n"
	    "[profile loop1]\n"
	    "role_arn = arn:aws:iam::1:role/a\n"
	    "source_profile = loop2\n"
	    "[profile loop2]\n"
	    "role_arn = arn:aws:iam::1:role/b\n"
	    "source_profile = loop1\n"
	    "[profile fromenv]\n"
	    "role_arn = arn:aws:iam::1:role/env\n"
	    "credential_source = Environment\n");
	write_file(fx->cred_path,
	    "[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = basesecret\n");

	o.profile = "deploy";
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_int_equal(rc.n, 1);
	assert_string_equal(rc.arn, "arn:aws:iam::123456789012:role/envctl");
	assert_string_equal(rc.extid, "ext-42");
	assert_string_equal(rc.session, "envctl-test");
	assert_string_equal(rc.src_akid, "AKIDBASE");
	assert_string_equal(rc.src_secret, "basesecret");
	assert_string_equal(rc.src_source, "profile:base");
	assert_string_equal(aws_creds_access_key_id(c), "ASIAROLE0001");
	assert_string_equal(aws_creds_session_token(c), "role-token");
	assert_string_equal(aws_creds_source(c),
	    "assume-role:arn:aws:iam::123456789012:role/envctl");
	assert_int_equal(aws_creds_expiration(c), T0 + 3600);
	aws_creds_free(c);
	aws_creds_provider_free(p);

	/* Role from a role: two calls, the second with the first's creds. */
	rc.n = 0;
	o.profile = "chained";
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_int_equal(rc.n, 2);
	assert_string_equal(rc.arn, "arn:aws:iam::210987654321:role/second");
	assert_string_equal(rc.src_akid, "ASIAROLE0001");
	assert_string_equal(rc.extid, "(none)");
	assert_true(strncmp(rc.session, "envctl-", 7) == 0);
	aws_creds_free(c);
	aws_creds_provider_free(p);

	/* A source_profile loop is caught. */
	o.profile = "loop1";
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), ERR_INVALID);
	assert_non_null(strstr(err_get(), "loop"));
	aws_creds_provider_free(p);

	/* credential_source = Environment. */
	rc.n = 0;
	env_set(&fx->env, "AWS_ACCESS_KEY_ID", "AKIDENV");
	env_set(&fx->env, "AWS_SECRET_ACCESS_KEY", "envsecret");
	env_set(&fx->env, "AWS_PROFILE", "fromenv");
	o.profile = NULL;
	p = provider(fx, &o);
	/* env creds come first in the chain... */
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_string_equal(aws_creds_source(c), "env");
	aws_creds_free(c);
	aws_creds_provider_free(p);
	assert_int_equal(rc.n, 0);

	/* Failure of the STS call is reported with the profile and role. */
	rc.n = 0;
	rc.fail_from = 1;
	o.profile = "deploy";
	env_set(&fx->env, "AWS_ACCESS_KEY_ID", NULL);
	env_set(&fx->env, "AWS_SECRET_ACCESS_KEY", NULL);
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), ERR_GENERIC);
	assert_non_null(strstr(err_get(), "profile deploy: assume role "
	    "arn:aws:iam::123456789012:role/envctl: AccessDenied"));
	aws_creds_provider_free(p);

	/* No callback configured: a clear error. */
	o.assume_role = NULL;
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), ERR_INVALID);
	assert_non_null(strstr(err_get(), "no AssumeRole client"));
	aws_creds_provider_free(p);
}


/* Other ways to name the source of a role: itself, IMDS; bad combinations. */
static void
test_creds__role_sources(void **state)
{
	struct fixture *fx = *state;
	struct role_calls rc = { 0 };
	struct aws_creds_options o = { .assume_role = fake_assume_role,
	    .assume_role_arg = &rc };
	struct aws_creds_provider *p;
	struct aws_creds *c;
	struct stub *s = &fx->stub;

	write_file(fx->conf_path,
	    "[profile self]\n"
	    "aws_access_key_id = AKIDSELF\n"
	    "aws_secret_access_key = selfsecret\n"
	    "role_arn = arn:aws:iam::1:role/self\n"
	    "source_profile = self\n"
	    "[profile fromimds]\n"
	    "role_arn = arn:aws:iam::1:role/imds\n"
	    "credential_source = Ec2InstanceMetadata\n"
	    "[profile both]\n"
	    "role_arn = arn:aws:iam::1:role/x\n"
	    "source_profile = self\n"
	    "credential_source = Environment\n"
	    "[profile nosource]\n"
	    "role_arn = arn:aws:iam::1:role/x\n"
	    "[profile missing]\n"
	    "role_arn = arn:aws:iam::1:role/x\n"
	    "source_profile = ghost\n");

	o.profile = "self";
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_string_equal(rc.src_akid, "AKIDSELF");
	assert_string_equal(aws_creds_source(c), "assume-role:arn:aws:iam::1:role/self");
	aws_creds_free(c);
	aws_creds_provider_free(p);

	stub_start(s, NULL);
	env_set(&fx->env, "AWS_EC2_METADATA_DISABLED", NULL);
	env_set(&fx->env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", s->endpoint);
	o.profile = "fromimds";
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_string_equal(rc.src_source, "imds");
	assert_string_equal(rc.src_akid, "ASIAIMDSSTUB0001");
	assert_string_equal(aws_creds_source(c), "assume-role:arn:aws:iam::1:role/imds");
	aws_creds_free(c);
	aws_creds_provider_free(p);
	stub_stop(s);

	o.profile = "both";
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), ERR_INVALID);
	assert_non_null(strstr(err_get(), "mutually exclusive"));
	aws_creds_provider_free(p);
	o.profile = "nosource";
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), ERR_INVALID);
	assert_non_null(strstr(err_get(), "needs source_profile"));
	aws_creds_provider_free(p);
	o.profile = "missing";
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), ERR_INVALID);
	assert_non_null(strstr(err_get(), "source_profile ghost not found"));
	aws_creds_provider_free(p);
}

/* Cached until refresh_margin before expiry, by the injected clock. */
static void
test_creds__refresh(void **state)
{
	struct fixture *fx = *state;
	struct role_calls rc = { .lifetime = 3600 };
	struct aws_creds_options o = { .assume_role = fake_assume_role,
	    .assume_role_arg = &rc, .profile = "r" };
	struct aws_creds_provider *p;
	struct aws_creds *c;

	write_file(fx->conf_path, "[profile r]\nrole_arn = arn:aws:iam::1:role/r\n"
	    "source_profile = s\n[profile s]\naws_access_key_id = AKIDS\n"
	    "aws_secret_access_key = ssecret\n");
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_string_equal(aws_creds_access_key_id(c), "ASIAROLE0001");
	aws_creds_free(c);

	fake_time = T0 + 3600 - 301;	/* still outside the 5 min margin */
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_string_equal(aws_creds_access_key_id(c), "ASIAROLE0001");
	assert_int_equal(rc.n, 1);
	aws_creds_free(c);

	fake_time = T0 + 3600 - 299;	/* inside it: fetched again */
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_string_equal(aws_creds_access_key_id(c), "ASIAROLE0002");
	assert_int_equal(rc.n, 2);
	assert_int_equal(aws_creds_expiration(c), fake_time + 3600);
	aws_creds_free(c);

	/* A failed refresh keeps serving creds that have not expired yet... */
	rc.fail_from = 3;
	fake_time += 3600 - 100;
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_string_equal(aws_creds_access_key_id(c), "ASIAROLE0002");
	assert_int_equal(rc.n, 3);
	aws_creds_free(c);
	/* ...and fails once they have. */
	fake_time += 200;
	assert_int_equal(aws_creds_provider_get(&c, p), ERR_GENERIC);
	assert_null(c);

	/* invalidate() forces a new fetch. */
	rc.fail_from = 0;
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	aws_creds_free(c);
	aws_creds_provider_invalidate(p);
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_int_equal(rc.n, 6);
	aws_creds_free(c);
	aws_creds_provider_free(p);
}

/* IMDS credentials refresh by their Expiration and the injected clock. */
static void
test_creds__imds_refresh(void **state)
{
	struct fixture *fx = *state;
	struct aws_creds_provider *p;
	struct aws_creds *c;
	struct stub *s = &fx->stub;
	char exp[32];
	const char *args[] = { "--expiration", exp, NULL };

	snprintf(exp, sizeof(exp), "%lld", (long long)T0 + 6 * 3600);
	stub_start(s, args);
	env_set(&fx->env, "AWS_EC2_METADATA_DISABLED", NULL);
	env_set(&fx->env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", s->endpoint);
	p = provider(fx, NULL);
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_string_equal(aws_creds_access_key_id(c), "ASIAIMDSSTUB0001");
	assert_int_equal(aws_creds_expiration(c), T0 + 6 * 3600);
	aws_creds_free(c);
	fake_time = T0 + 5 * 3600;
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_string_equal(aws_creds_access_key_id(c), "ASIAIMDSSTUB0001");
	aws_creds_free(c);
	fake_time = T0 + 6 * 3600 - 60;
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_string_equal(aws_creds_access_key_id(c), "ASIAIMDSSTUB0002");
	aws_creds_free(c);
	aws_creds_provider_free(p);
	stub_stop(s);
}

/* Disabled, refused, timed out, forbidden, no role: fall through, quickly. */
static void
test_creds__imds_unavailable(void **state)
{
	struct fixture *fx = *state;
	struct aws_creds_options o = { .imds_timeout_ms = 300 };
	struct aws_creds_provider *p;
	struct aws_creds *c;
	struct stub *s = &fx->stub;
	char ep[64], *log;
	const char *hang[] = { "--mode", "hang-token", NULL };
	const char *forbid[] = { "--mode", "forbid-token", NULL };
	const char *norole[] = { "--role", "", NULL };
	double t;

	/* Disabled: the stub is never contacted. */
	stub_start(s, NULL);
	env_set(&fx->env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", s->endpoint);
	env_set(&fx->env, "AWS_EC2_METADATA_DISABLED", "TRUE");
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), ERR_NOTFOUND);
	aws_creds_provider_free(p);
	log = stub_log(s);
	assert_string_equal(log, "");
	free(log);
	/* Same with the option. */
	env_set(&fx->env, "AWS_EC2_METADATA_DISABLED", NULL);
	o.imds_disabled = 1;
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), ERR_NOTFOUND);
	aws_creds_provider_free(p);
	o.imds_disabled = 0;
	log = stub_log(s);
	assert_string_equal(log, "");
	free(log);
	stub_stop(s);

	/* Connection refused. */
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d/", closed_port());
	env_set(&fx->env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", ep);
	p = provider(fx, &o);
	t = mono();
	assert_int_equal(aws_creds_provider_get(&c, p), ERR_NOTFOUND);
	assert_true(mono() - t < 1.5);
	assert_non_null(strstr(err_get(), "no AWS credentials"));
	aws_creds_provider_free(p);

	/* Token PUT that never answers (hop limit in a container). */
	stub_start(s, hang);
	env_set(&fx->env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", s->endpoint);
	p = provider(fx, &o);
	t = mono();
	assert_int_equal(aws_creds_provider_get(&c, p), ERR_NOTFOUND);
	t = mono() - t;
	assert_true(t >= 0.25 && t < 3.0);
	aws_creds_provider_free(p);
	stub_stop(s);

	/* Token refused. */
	stub_start(s, forbid);
	env_set(&fx->env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", s->endpoint);
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), ERR_NOTFOUND);
	assert_non_null(strstr(err_get(), "no AWS credentials"));
	aws_creds_provider_free(p);
	stub_stop(s);

	/* IMDS up, no role attached: says so. */
	stub_start(s, norole);
	env_set(&fx->env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", s->endpoint);
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), ERR_NOTFOUND);
	assert_non_null(strstr(err_get(), "no instance role"));
	aws_creds_provider_free(p);
	stub_stop(s);
}


/* Many threads, one refresh: the provider serializes the fetch. */
struct conc {
	struct aws_creds_provider *p;
	int	 ok;
	char	 akid[32];
};

static int conc_calls;
static pthread_mutex_t conc_lock = PTHREAD_MUTEX_INITIALIZER;

static int
slow_assume_role(struct aws_creds *out, const struct aws_creds *src,
    const char *arn, const char *extid, const char *session, void *arg)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	int n;

	(void)src; (void)arn; (void)extid; (void)session; (void)arg;
	pthread_mutex_lock(&conc_lock);
	n = ++conc_calls;
	pthread_mutex_unlock(&conc_lock);
	nanosleep(&ts, NULL);
	return aws_creds_set(out, n == 1 ? "ASIAONE" : "ASIAMANY", "s", "t",
	    fake_time + 3600, NULL);
}

static void *
conc_main(void *arg)
{
	struct conc *c = arg;

	for (int i = 0; i < 20; i++) {
		struct aws_creds *cr;

		if (aws_creds_provider_get(&cr, c->p) != 0)
			return NULL;
		snprintf(c->akid, sizeof(c->akid), "%s", aws_creds_access_key_id(cr));
		aws_creds_free(cr);
	}
	c->ok = 1;
	return NULL;
}

static void
test_creds__concurrent(void **state)
{
	struct fixture *fx = *state;
	struct aws_creds_options o = { .assume_role = slow_assume_role,
	    .profile = "r" };
	struct conc c[8];
	pthread_t th[8];
	struct aws_creds_provider *p;

	write_file(fx->conf_path, "[profile r]\nrole_arn = arn:aws:iam::1:role/r\n"
	    "source_profile = s\n[profile s]\naws_access_key_id = AKIDS\n"
	    "aws_secret_access_key = ssecret\n");
	conc_calls = 0;
	p = provider(fx, &o);
	for (int i = 0; i < 8; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].p = p;
		assert_int_equal(pthread_create(&th[i], NULL, conc_main, &c[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_true(c[i].ok);
		assert_string_equal(c[i].akid, "ASIAONE");
	}
	assert_int_equal(conc_calls, 1);
	aws_creds_provider_free(p);
}

/* ---- canary: no secret in any log line or error message ---- */

#define CANARY_SECRET	"CANARYsecretKEY0123456789abcdefXYZ"
#define CANARY_TOKEN	"CANARYsessionTOKENzyxwvu987654321"

struct capture {
	struct buf	 all;
	int		 lines;
};

static void
capture_sink(enum log_level lvl, const char *line, void *arg)
{
	struct capture *cap = arg;

	(void)lvl;
	cap->lines++;
	buf_printf(&cap->all, "%s\n", line);
}

static void
check_err(struct capture *cap)
{
	/* Error messages are checked as they are produced. */
	buf_printf(&cap->all, "ERR %s\n", err_get());
}

static void
test_creds__canary(void **state)
{
	struct fixture *fx = *state;
	struct capture cap = { .lines = 0 };
	struct role_calls rc = { .secret = CANARY_SECRET, .token = CANARY_TOKEN };
	struct aws_creds_options o = { .assume_role = fake_assume_role,
	    .assume_role_arg = &rc, .imds_timeout_ms = 300 };
	struct aws_creds_provider *p;
	struct aws_creds *c;
	struct stub *s = &fx->stub;
	const char *imds_args[] = { "--secret", CANARY_SECRET, "--token",
	    CANARY_TOKEN, NULL };
	const char *bad_args[] = { "--secret", CANARY_SECRET, "--mode",
	    "bad-json", NULL };

	buf_init(&cap.all, 1 << 20);
	log_init("test", LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT);
	log_set_sink(capture_sink, &cap);

	/* env, success. */
	env_set(&fx->env, "AWS_ACCESS_KEY_ID", "AKIDCANARY");
	env_set(&fx->env, "AWS_SECRET_ACCESS_KEY", CANARY_SECRET);
	env_set(&fx->env, "AWS_SESSION_TOKEN", CANARY_TOKEN);
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_string_equal(aws_creds_secret_access_key(c), CANARY_SECRET);
	aws_creds_free(c);
	aws_creds_provider_free(p);
	env_set(&fx->env, "AWS_SECRET_ACCESS_KEY", NULL);
	env_set(&fx->env, "AWS_SESSION_TOKEN", NULL);

	/* Files: success, half pair, malformed line holding the secret. */
	env_set(&fx->env, "AWS_ACCESS_KEY_ID", NULL);
	write_file(fx->cred_path, "[default]\naws_access_key_id = AKIDC\n"
	    "aws_secret_access_key = " CANARY_SECRET "\n"
	    "aws_session_token = " CANARY_TOKEN "\n"
	    "[half]\naws_secret_access_key = " CANARY_SECRET "\n");
	write_file(fx->conf_path, "[profile role]\nrole_arn = arn:aws:iam::1:role/c\n"
	    "source_profile = default\nexternal_id = ext\n");
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_string_equal(aws_creds_session_token(c), CANARY_TOKEN);
	aws_creds_free(c);
	aws_creds_provider_free(p);
	o.profile = "half";
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), ERR_INVALID);
	check_err(&cap);
	aws_creds_provider_free(p);

	/* Role: success, then refresh failure (warn line), then hard failure. */
	o.profile = "role";
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_string_equal(aws_creds_secret_access_key(c), CANARY_SECRET);
	aws_creds_free(c);
	rc.fail_from = rc.n + 1;
	fake_time += 3600 - 10;
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	aws_creds_free(c);
	fake_time += 20;
	assert_int_equal(aws_creds_provider_get(&c, p), ERR_GENERIC);
	check_err(&cap);
	aws_creds_provider_free(p);
	o.profile = NULL;

	write_file(fx->cred_path, "[default]\n" CANARY_SECRET "\n");
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), ERR_INVALID);
	check_err(&cap);
	aws_creds_provider_free(p);
	unlink(fx->cred_path);
	unlink(fx->conf_path);

	/* IMDS: success and a malformed document echoing the secret. */
	env_set(&fx->env, "AWS_EC2_METADATA_DISABLED", NULL);
	stub_start(s, imds_args);
	env_set(&fx->env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", s->endpoint);
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), 0);
	assert_string_equal(aws_creds_session_token(c), CANARY_TOKEN);
	aws_creds_free(c);
	aws_creds_provider_free(p);
	stub_stop(s);
	stub_start(s, bad_args);
	env_set(&fx->env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", s->endpoint);
	p = provider(fx, &o);
	assert_int_equal(aws_creds_provider_get(&c, p), ERR_INVALID);
	check_err(&cap);
	aws_creds_provider_free(p);
	stub_stop(s);

	log_set_sink(NULL, NULL);
	log_init("test", LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	/* Lines were produced (debug level), and none holds a secret. */
	assert_true(cap.lines >= 5);
	assert_non_null(strstr(buf_cstr(&cap.all), "source=env"));
	assert_non_null(strstr(buf_cstr(&cap.all), "source=imds"));
	assert_non_null(strstr(buf_cstr(&cap.all), "refresh of source=assume-role"));
	if (strstr(buf_cstr(&cap.all), "CANARY") != NULL)
		fail_msg("a secret leaked:\n%s", buf_cstr(&cap.all));
	buf_dispose(&cap.all);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_creds__value),
		cmocka_unit_test(test_creds__iso8601),
		cmocka_unit_test(test_creds__ini_parse),
		cmocka_unit_test(test_creds__ini_random),
		cmocka_unit_test_setup_teardown(test_creds__env, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_creds__chain_order, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_creds__profiles, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_creds__assume_role, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_creds__role_sources, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_creds__refresh, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_creds__imds_refresh, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_creds__imds_unavailable, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_creds__concurrent, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_creds__canary, fx_setup, fx_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
