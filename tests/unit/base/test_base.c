#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "base64.h"
#include "buf.h"
#include "duration.h"
#include "err.h"
#include "failpoint.h"
#include "log.h"
#include "mem.h"
#include "proc.h"

static void
test_base__buf_limit(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_addstr(&b, "abcd"), 0);
	assert_int_equal(buf_addstr(&b, "efgh"), 0);
	assert_int_equal(buf_addch(&b, 'i'), ERR_LIMIT);
	/* a failed append leaves the contents alone */
	assert_string_equal(buf_cstr(&b), "abcdefgh");
	assert_int_equal(b.len, 8);
	assert_int_equal(buf_printf(&b, "%d", 1), ERR_LIMIT);
	buf_reset(&b);
	assert_string_equal(buf_cstr(&b), "");
	assert_int_equal(buf_printf(&b, "%s-%03d", "x", 7), 0);
	assert_string_equal(buf_cstr(&b), "x-007");
	buf_dispose(&b);
}

static void
test_base__buf_grow_and_detach(void **state)
{
	struct buf b;
	char *s;
	size_t len, i;

	(void)state;
	buf_init_secret(&b, 1 << 20);
	for (i = 0; i < 10000; i++)
		assert_int_equal(buf_addch(&b, (char)('a' + i % 26)), 0);
	s = buf_detach(&b, &len);
	assert_int_equal(len, 10000);
	assert_int_equal(s[25], 'z');
	assert_int_equal(s[10000], '\0');
	assert_null(b.ptr);
	free(s);
	buf_dispose(&b);
}

static void
test_base__err_prefix(void **state)
{
	(void)state;
	err_clear();
	assert_string_equal(err_get(), "unknown error");
	err_set("connection refused");
	err_prefix("database %s", "main");
	assert_string_equal(err_get(), "database main: connection refused");
	assert_string_equal(err_code_str(ERR_NOTFOUND), "not found");
}

static void
test_base__log_escape(void **state)
{
	char out[16];

	(void)state;
	assert_string_equal(log_escape(out, sizeof(out), "a\"b\n"), "a\\\"b\\n");
	/* truncated with an ellipsis, never past the buffer */
	log_escape(out, sizeof(out), "0123456789abcdefghij");
	assert_string_equal(out, "0123456789ab...");
	assert_string_equal(log_escape(out, sizeof(out), NULL), "(null)");
}

/*
 * Fail unless s holds no byte a terminal or a line splitter acts on: no C0
 * control, no DEL, only well-formed UTF-8 and none of it a C1 control, a
 * line or paragraph separator or a bidirectional override or isolate.
 */
static void
assert_inert(const char *s, const char *input_desc)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t c;
	int n, i;

	while (*p != '\0') {
		if (*p < 0x20 || *p == 0x7f)
			fail_msg("%s: control byte 0x%02x survived", input_desc, *p);
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0)
			n = 2, c = *p & 0x1f;
		else if ((*p & 0xf0) == 0xe0)
			n = 3, c = *p & 0x0f;
		else if ((*p & 0xf8) == 0xf0)
			n = 4, c = *p & 0x07;
		else {
			fail_msg("%s: stray byte 0x%02x survived", input_desc, *p);
			return;	/* fail_msg does not return; say so to the compiler */
		}
		for (i = 1; i < n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				fail_msg("%s: broken UTF-8 survived", input_desc);
			c = c << 6 | (p[i] & 0x3f);
		}
		if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) ||
		    (n == 4 && c < 0x10000) || c > 0x10ffff ||
		    (c >= 0xd800 && c <= 0xdfff))
			fail_msg("%s: invalid UTF-8 survived", input_desc);
		if ((c >= 0x80 && c <= 0x9f) || c == 0x2028 || c == 0x2029 ||
		    (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069))
			fail_msg("%s: U+%04X survived", input_desc, (unsigned)c);
		p += n;
	}
}

/*
 * Every byte, alone, in pairs and all together, through both escapers:
 * nothing a terminal obeys survives; printable ASCII and UTF-8 pass.
 */
static void
test_base__log_escape_bytes(void **state)
{
	char in[512], out[2048], desc[64];
	int b, b2, quotes;

	(void)state;
	for (quotes = 0; quotes < 2; quotes++) {
		char *(*esc)(char *, size_t, const char *) =
		    quotes ? log_escape : log_sanitize;

		for (b = 1; b < 256; b++) {
			in[0] = (char)b;
			in[1] = '\0';
			snprintf(desc, sizeof(desc), "byte 0x%02x", b);
			assert_inert(esc(out, sizeof(out), in), desc);
			if (b >= 0x20 && b < 0x7f && !(quotes && (b == '"' ||
			    b == '\\')))
				assert_string_equal(out, in);	/* printable */
			for (b2 = 1; b2 < 256; b2++) {
				in[1] = (char)b2;
				in[2] = '\0';
				snprintf(desc, sizeof(desc), "bytes 0x%02x 0x%02x",
				    b, b2);
				assert_inert(esc(out, sizeof(out), in), desc);
			}
		}
		for (b = 1; b < 256; b++)
			in[b - 1] = (char)b;
		in[255] = '\0';
		assert_inert(esc(out, sizeof(out), in), "bytes 1-255");
		assert_null(strchr(out, '\n'));
	}
	/* the named escapes, C1 and bidi as code points, bad UTF-8 as bytes */
	assert_string_equal(log_sanitize(out, sizeof(out),
	    "a\nb\rc\td\x1b[2Je\x7f\"q\"\\"),
	    "a\\nb\\rc\\td\\x1b[2Je\\x7f\"q\"\\");
	assert_string_equal(log_sanitize(out, sizeof(out),
	    "\xc2\x9b" "2J \xe2\x80\xae" "cba \xe2\x80\xa8"),
	    "\\u009b2J \\u202ecba \\u2028");
	assert_string_equal(log_sanitize(out, sizeof(out),
	    "\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82"),
	    "\\xc0\\xaf \\xed\\xa0\\x80 \\xf4\\x90\\x80\\x80 \\xe2\\x82");
	/* printable UTF-8 passes untouched, and is never cut in half */
	assert_string_equal(log_sanitize(out, sizeof(out),
	    "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 \xc2\xa0"),
	    "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 \xc2\xa0");
	assert_string_equal(log_sanitize(out, 8, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"),
	    "\xc3\xa9\xc3\xa9...");
}

struct captured {
	char	line[512];
	int	count;
};

static void
capture_sink(enum log_level level, const char *line, void *arg)
{
	struct captured *c = arg;

	(void)level;
	snprintf(c->line, sizeof(c->line), "%s", line);
	c->count++;
}

static void
test_base__log_levels_and_json(void **state)
{
	struct captured c = { .count = 0 };
	enum log_level lvl;

	(void)state;
	log_init("t", LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	log_set_sink(capture_sink, &c);
	log_debug("hidden %d", 1);
	assert_int_equal(c.count, 0);
	log_info("env=%s run=%d", "web-1", 42);
	assert_int_equal(c.count, 1);
	assert_string_equal(c.line, "t: env=web-1 run=42");
	log_init("t", LOG_LEVEL_DEBUG, LOG_FORMAT_JSON);
	log_warnx("say \"hi\"\n");
	assert_non_null(strstr(c.line, "\"level\":\"warn\""));
	assert_non_null(strstr(c.line, "\"msg\":\"say \\\"hi\\\"\\\\n\"}"));
	/* no argument forges a line or reaches the terminal, in either format */
	log_info("env=%s err=%s", "a\nenvctl: forged", "\x1b[2J\xc2\x9b\x7f");
	assert_int_equal(c.count, 3);
	assert_null(strchr(c.line, '\n'));
	assert_null(strchr(c.line, '\x1b'));
	assert_non_null(strstr(c.line, "\"env\":\"a\\\\nenvctl\","
	    "\"msg\":\"forged err=\\\\x1b[2J\\\\u009b\\\\x7f\"}"));
	/* key=value words are fields: the leading ones and known keys */
	log_info("pass=%d done run=%d specs=%d aws_action=%s duration_ms=%d "
	    "action=%s: failed", 3, 7, 2, "RunInstances", 41, "provision");
	assert_non_null(strstr(c.line, "\"pass\":\"3\",\"run_id\":\"7\","
	    "\"aws_action\":\"RunInstances\",\"duration_ms\":41,"
	    "\"operation\":\"provision\",\"msg\":\"done specs=2 failed\"}"));
	/* the thread's context adds fields the message does not have */
	{
		struct log_context ctx = { .correlation_id = "00ff00ff00ff00ff",
		    .env = "ctx-env", .region = "eu-west-1" };

		log_context_set(&ctx);
		log_info("env=%s ready", "web-2");
		assert_non_null(strstr(c.line,
		    "\"correlation_id\":\"00ff00ff00ff00ff\","
		    "\"region\":\"eu-west-1\",\"env\":\"web-2\","
		    "\"msg\":\"ready\"}"));
		log_init("t", LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT);
		log_info("env=%s ready", "web-2");
		assert_string_equal(c.line, "t: env=web-2 ready cid=00ff00ff00ff00ff");
		log_context_set(NULL);
		assert_null(log_context_get());
	}
	/* a line of fields only keeps its words as its message */
	log_init("t", LOG_LEVEL_DEBUG, LOG_FORMAT_JSON);
	log_info("env=%s", "x");
	assert_non_null(strstr(c.line, "\"env\":\"x\",\"msg\":\"env=x\"}"));
	log_init("t", LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT);
	log_info("env=%s err=%s", "a\nenvctl: forged", "\x1b[2J\xc2\x9b\x7f");
	assert_int_equal(c.count, 8);
	assert_string_equal(c.line,
	    "t: env=a\\nenvctl: forged err=\\x1b[2J\\u009b\\x7f");
	log_set_sink(NULL, NULL);
	log_init("t", LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	assert_int_equal(log_level_parse(&lvl, "debug"), 0);
	assert_int_equal(lvl, LOG_LEVEL_DEBUG);
	assert_int_equal(log_level_parse(&lvl, "loud"), -1);
}

static void
test_base__cid(void **state)
{
	char a[LOG_CID_LEN], b[LOG_CID_LEN];
	size_t i;

	(void)state;
	log_cid_new(a);
	log_cid_new(b);
	assert_int_equal(strlen(a), 16);
	for (i = 0; i < 16; i++)
		assert_non_null(strchr("0123456789abcdef", a[i]));
	assert_string_not_equal(a, b);
}

static void
test_base__failpoints(void **state)
{
	(void)state;
#ifdef ENVCTL_FAILPOINTS
	assert_int_equal(failpoint_configure("a=error,b=2*error"), 0);
	assert_int_equal(FAILPOINT("a"), ERR_FAILPOINT);
	assert_non_null(strstr(err_get(), "failpoint a fired"));
	assert_int_equal(FAILPOINT("b"), 0);
	assert_int_equal(FAILPOINT("b"), ERR_FAILPOINT);
	assert_int_equal(FAILPOINT("b"), 0);
	assert_int_equal(FAILPOINT("c"), 0);
	assert_int_equal(failpoint_configure("a=explode"), ERR_INVALID);
	assert_int_equal(FAILPOINT("a"), 0);
	assert_int_equal(failpoint_configure(""), 0);
#else
	assert_int_equal(FAILPOINT("a"), 0);
#endif
}

static void
test_base__mem(void **state)
{
	char *s = xstrdup("secret");
	char buf[4] = { 1, 2, 3, 4 };
	char *f;

	(void)state;
	mem_wipe(buf, sizeof(buf));
	assert_int_equal(buf[0] | buf[1] | buf[2] | buf[3], 0);
	mem_free_secret(s);
	mem_free_secret(NULL);
	f = xasprintf("%s=%d", "n", 5);
	assert_string_equal(f, "n=5");
	free(f);
	f = xstrndup("abcdef", 3);
	assert_string_equal(f, "abc");
	free(f);
	{
		char small[4];

		mem_strcopy(small, sizeof(small), "abcdef");
		assert_string_equal(small, "abc");
		mem_strcopy(small, sizeof(small), NULL);
		assert_string_equal(small, "");
		mem_strcopy(small, sizeof(small), "ab");
		assert_string_equal(small, "ab");
	}
}

static void
test_base__duration(void **state)
{
	static const struct { const char *in; long long secs; int err; } cases[] = {
		{ "30s", 30, 0 }, { "5m", 300, 0 }, { "8h", 28800, 0 },
		{ "1h30m", 5400, 0 }, { "2d", 172800, 0 }, { "0", 0, 0 },
		{ "1d2h3m4s", 93784, 0 },
		{ "", 0, ERR_INVALID }, { "5", 0, ERR_INVALID }, { "m", 0, ERR_INVALID },
		{ "5x", 0, ERR_INVALID }, { "30m1h", 0, ERR_INVALID },
		{ "1h1h", 0, ERR_INVALID }, { "-5m", 0, ERR_INVALID },
		{ "99999999999d", 0, ERR_LIMIT },
	};
	char out[32];
	long long v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = -1;
		assert_int_equal(duration_parse(&v, cases[i].in), cases[i].err);
		if (cases[i].err == 0) {
			assert_int_equal(v, cases[i].secs);
			/* format and parse again: the same number */
			duration_format(out, sizeof(out), v);
			assert_int_equal(duration_parse(&v, out), 0);
			assert_int_equal(v, cases[i].secs);
		}
	}
	assert_string_equal(duration_format(out, sizeof(out), 5400), "1h30m");
	assert_string_equal(duration_format(out, sizeof(out), 0), "0s");
}

static void
test_base__base64(void **state)
{
	static const struct { const char *plain, *enc; } rfc4648[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	static const char *const bad[] = {
		"Zg=", "Zg", "Zh==", "Zm9=", "Zg==Zg==", "Zg===", "Z===", "Zm9v!A==",
		"Zm 9v", "====",
	};
	uint8_t bin[256], *dec;
	size_t i, n, len;
	char *enc;

	(void)state;
	for (i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		enc = base64_encode(rfc4648[i].plain, strlen(rfc4648[i].plain), &n);
		assert_string_equal(enc, rfc4648[i].enc);
		assert_int_equal(n, base64_encoded_len(strlen(rfc4648[i].plain)));
		free(enc);
		assert_int_equal(base64_decode(&dec, &len, rfc4648[i].enc,
		    strlen(rfc4648[i].enc), BASE64_STRICT), 0);
		assert_int_equal(len, strlen(rfc4648[i].plain));
		assert_memory_equal(dec, rfc4648[i].plain, len);
		free(dec);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(base64_decode(&dec, &len, bad[i], strlen(bad[i]),
		    BASE64_STRICT), ERR_INVALID);
		assert_null(dec);
	}
	/* console output comes wrapped: whitespace allowed only when asked */
	assert_int_equal(base64_decode(&dec, &len, "Zm9v\r\nYmFy\n", 11,
	    BASE64_SKIP_SPACE), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(dec, "foobar", 6);
	free(dec);
	/* every length and byte value round-trips */
	for (i = 0; i < sizeof(bin); i++)
		bin[i] = (uint8_t)(i * 37 + 11);
	for (n = 0; n <= sizeof(bin); n++) {
		enc = base64_encode(bin, n, &len);
		assert_int_equal(base64_decode(&dec, &len, enc, len, BASE64_STRICT), 0);
		assert_int_equal(len, n);
		assert_memory_equal(dec, bin, n);
		free(dec);
		free(enc);
	}
}

/*
 * In a child (the test runner keeps its own settings): dumpable before,
 * not after; RLIMIT_CORE 0 soft and hard, also when it starts raised;
 * and the kernel says so in /proc/PID/limits.
 */
static void
test_base__proc_harden(void **state)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	char path[64], line[256], soft[16], hard[16];
	int status, found = 0, tries;
	pid_t pid;
	FILE *f;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int code = 0;

		(void)setrlimit(RLIMIT_CORE, &rl);	/* as high as allowed */
		if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1)
			code |= 1;
		if (proc_harden() != 0)
			code |= 2;
		if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
			code |= 4;
		if (getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur != 0 ||
		    rl.rlim_max != 0)
			code |= 8;
		if (proc_harden() != 0)		/* again: nothing to lower */
			code |= 16;
		if (code == 0)
			pause();	/* the parent reads /proc/PID/limits */
		_exit(code);
	}
	/* until the child's limits read 0 0, or it exits with what failed */
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	for (tries = 0; tries < 300 && !found; tries++) {
		usleep(10 * 1000);
		if (waitpid(pid, &status, WNOHANG) == pid)
			fail_msg("child failed: %d", WEXITSTATUS(status));
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "Max core file size %15s %15s", soft,
			    hard) == 2 && strcmp(soft, "0") == 0 &&
			    strcmp(hard, "0") == 0)
				found = 1;
		fclose(f);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	assert_true(found);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base__buf_limit),
		cmocka_unit_test(test_base__buf_grow_and_detach),
		cmocka_unit_test(test_base__err_prefix),
		cmocka_unit_test(test_base__log_escape),
		cmocka_unit_test(test_base__log_escape_bytes),
		cmocka_unit_test(test_base__log_levels_and_json),
		cmocka_unit_test(test_base__cid),
		cmocka_unit_test(test_base__failpoints),
		cmocka_unit_test(test_base__mem),
		cmocka_unit_test(test_base__duration),
		cmocka_unit_test(test_base__base64),
		cmocka_unit_test(test_base__proc_harden),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
