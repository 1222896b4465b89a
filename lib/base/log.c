#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX	4096

static const char	*log_progname = "envctl";
static enum log_level	 log_cur_level = LOG_LEVEL_INFO;
static enum log_format	 log_cur_format = LOG_FORMAT_TEXT;
static log_sink_fn	*log_sink;
static void		*log_sink_arg;
static __thread struct log_context log_ctx;
static __thread int	 log_ctx_set_;

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

void
log_init(const char *progname, enum log_level level, enum log_format format)
{
	if (progname != NULL)
		log_progname = progname;
	log_cur_level = level;
	log_cur_format = format;
}

void
log_set_level(enum log_level level)
{
	log_cur_level = level;
}

int
log_level_parse(enum log_level *out, const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

int
log_enabled(enum log_level level)
{
	return level <= log_cur_level;
}

void
log_set_sink(log_sink_fn *fn, void *arg)
{
	log_sink = fn;
	log_sink_arg = arg;
}

/*
 * The length of the well-formed UTF-8 sequence at p (2 to 4 bytes) with
 * its code point in *cp, or 0 when p does not start one (a stray
 * continuation byte, an overlong form, a surrogate, past U+10FFFF, or cut
 * short by the NUL).
 */
static size_t
utf8_decode(uint32_t *cp, const unsigned char *p)
{
	size_t n, i;
	uint32_t c, min;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		c = p[0] & 0x1f;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		c = p[0] & 0x0f;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		c = p[0] & 0x07;
		min = 0x10000;
	} else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;	/* also stops at the NUL */
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/*
 * Code points a terminal or a reader would act on rather than show: C1
 * controls, the line and paragraph separators, bidirectional overrides
 * and isolates (text that reads differently from what it holds).
 */
static int
cp_is_control(uint32_t c)
{
	return (c >= 0x80 && c <= 0x9f) || c == 0x2028 || c == 0x2029 ||
	    (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/*
 * The one escaper: see log_escape() and log_sanitize().  quotes: also
 * escape " and backslash.
 */
static char *
escape(char *out, size_t outsz, const char *s, int quotes)
{
	const unsigned char *p;
	size_t o = 0, len;
	uint32_t cp;

	if (outsz == 0)
		return out;
	if (s == NULL)
		s = "(null)";
	for (p = (const unsigned char *)s; *p != '\0'; p += len) {
		char tmp[16];
		const char *src = tmp;
		size_t n;

		len = 1;
		if (*p == '\n' || *p == '\r' || *p == '\t') {
			tmp[0] = '\\';
			tmp[1] = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
			n = 2;
		} else if (*p < 0x20 || *p == 0x7f) {
			n = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", *p);
		} else if (quotes && (*p == '"' || *p == '\\')) {
			tmp[0] = '\\';
			tmp[1] = (char)*p;
			n = 2;
		} else if (*p < 0x80) {
			tmp[0] = (char)*p;
			n = 1;
		} else if ((len = utf8_decode(&cp, p)) == 0) {
			len = 1;	/* not UTF-8: the byte, escaped */
			n = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", *p);
		} else if (cp_is_control(cp)) {
			n = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x",
			    (unsigned)cp);
		} else {
			src = (const char *)p;	/* printable: the sequence */
			n = len;
		}
		if (o + n + 4 > outsz) {
			if (outsz >= 4) {
				while (o + 4 > outsz)
					o--;
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(out + o, src, n);
		o += n;
	}
	out[o < outsz ? o : outsz - 1] = '\0';
	return out;
}

char *
log_escape(char *out, size_t outsz, const char *s)
{
	return escape(out, outsz, s, 1);
}

char *
log_sanitize(char *out, size_t outsz, const char *s)
{
	return escape(out, outsz, s, 0);
}

void
log_context_set(const struct log_context *c)
{
	if (c == NULL) {
		memset(&log_ctx, 0, sizeof(log_ctx));
		log_ctx_set_ = 0;
	} else {
		log_ctx = *c;
		log_ctx_set_ = 1;
	}
}

const struct log_context *
log_context_get(void)
{
	return log_ctx_set_ ? &log_ctx : NULL;
}

void
log_cid_new(char out[LOG_CID_LEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[8];
	size_t i;

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		/* no entropy source left: unique enough for tracing */
		struct timespec ts;
		uint64_t v;

		clock_gettime(CLOCK_REALTIME, &ts);
		v = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		v ^= (uint64_t)getpid() << 48;
		memcpy(b, &v, sizeof(b));
	}
	for (i = 0; i < sizeof(b); i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[16] = '\0';
}

/* Append msg to line as a JSON string body. */
static size_t
json_quote(char *line, size_t off, size_t max, const char *msg)
{
	const unsigned char *p;

	for (p = (const unsigned char *)msg; *p != '\0' && off + 8 < max; p++) {
		if (*p == '"' || *p == '\\') {
			line[off++] = '\\';
			line[off++] = (char)*p;
		} else if (*p < 0x20) {
			off += (size_t)snprintf(line + off, max - off, "\\u%04x", *p);
		} else {
			line[off++] = (char)*p;
		}
	}
	line[off] = '\0';
	return off;
}

/* Keys that are fields wherever they stand in a message, and renames. */
static const struct {
	const char	*key;
	const char	*field;		/* NULL: the key itself */
	int		 number;	/* a JSON number when it looks like one */
} log_keys[] = {
	{ "env", NULL, 0 },		{ "env_id", NULL, 0 },
	{ "region", NULL, 0 },		{ "operation", NULL, 0 },
	{ "action", "operation", 0 },	{ "stage", NULL, 0 },
	{ "run", "run_id", 0 },		{ "run_id", NULL, 0 },
	{ "pass", NULL, 0 },		{ "cid", "correlation_id", 0 },
	{ "correlation_id", NULL, 0 },	{ "instance", "instance_id", 0 },
	{ "instance_id", NULL, 0 },	{ "aws_action", NULL, 0 },
	{ "service", NULL, 0 },		{ "duration_ms", NULL, 1 },
	{ "attempts", NULL, 1 },	{ "http_status", NULL, 1 },
	{ "error_code", NULL, 0 },	{ "code", "error_code", 0 },
	{ "cluster", NULL, 0 },		{ "role", NULL, 0 },
	{ "revision", NULL, 0 },	{ "who", NULL, 0 },
};

#define LOG_FIELDS_MAX	24

struct log_field {
	char		 name[32];
	const char	*val;		/* into the message copy */
	int		 number;
};

/* The field name of key, or NULL when key is not a known one. */
static const char *
log_key_field(const char *key, int *number)
{
	size_t i;

	for (i = 0; i < sizeof(log_keys) / sizeof(log_keys[0]); i++)
		if (strcmp(log_keys[i].key, key) == 0) {
			*number = log_keys[i].number;
			return log_keys[i].field != NULL ? log_keys[i].field :
			    log_keys[i].key;
		}
	return NULL;
}

static int
log_is_number(const char *v)
{
	const char *p = v;

	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.' && p[1] >= '0' && p[1] <= '9')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	return *p == '\0' && p - v < 18;
}

static int
log_field_has(const struct log_field *f, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(f[i].name, name) == 0)
			return 1;
	return 0;
}

/*
 * Split msg (a copy, cut up in place) into key=value fields and the rest:
 * the leading key=value words, and known keys anywhere.  A value's
 * trailing ':' or ',' is punctuation of the sentence, not the value's.
 * rest gets the remaining words joined by single spaces.
 */
static size_t
log_split(struct log_field *f, char *msg, char *rest, size_t restsz)
{
	char *w, *next, *eq, *k;
	size_t n = 0, o = 0, wl;
	int leading = 1, number;
	const char *name;

	*rest = '\0';
	for (w = msg; w != NULL && *w != '\0'; w = next) {
		if ((next = strchr(w, ' ')) != NULL)
			*next++ = '\0';
		if (*w == '\0')
			continue;
		eq = strchr(w, '=');
		for (k = w; eq != NULL && k < eq; k++)
			if (!((*k >= 'a' && *k <= 'z') || *k == '_' ||
			    (k > w && *k >= '0' && *k <= '9')))
				break;
		number = 0;
		name = NULL;
		if (eq != NULL && eq > w && k == eq && eq - w < 31 &&
		    eq[1] != '\0' && n < LOG_FIELDS_MAX) {
			*eq = '\0';
			if ((name = log_key_field(w, &number)) == NULL && leading)
				name = w;
			if (name != NULL && log_field_has(f, n, name))
				name = NULL;
			if (name == NULL)
				*eq = '=';
		}
		if (name != NULL) {
			wl = strlen(eq + 1);
			if (wl > 1 && (eq[wl] == ':' || eq[wl] == ','))
				eq[wl] = '\0';
			memcpy(f[n].name, name, strlen(name) + 1);	/* < 31 */
			f[n].val = eq + 1;
			f[n].number = number && log_is_number(eq + 1);
			n++;
			continue;
		}
		leading = 0;
		wl = strlen(w);
		if (o + wl + 2 >= restsz)
			break;
		if (o > 0)
			rest[o++] = ' ';
		memcpy(rest + o, w, wl + 1);
		o += wl;
	}
	return n;
}

/* Append ,"name":"value" (or a number) to line. */
static size_t
json_field(char *line, size_t off, size_t max, const char *name,
    const char *val, int number)
{
	if (off + strlen(name) + 8 >= max)
		return off;
	off += (size_t)snprintf(line + off, max - off, ",\"%s\":%s", name,
	    number ? "" : "\"");
	off = json_quote(line, off, max, val);
	if (!number && off + 2 < max) {
		line[off++] = '"';
		line[off] = '\0';
	}
	return off;
}

static size_t
log_json(char *line, size_t max, enum log_level level, const char *msg)
{
	static const char *const ctx_names[] = { "correlation_id", "run_id", "env",
	    "env_id", "region", "operation" };
	struct log_field f[LOG_FIELDS_MAX];
	char copy[LOG_LINE_MAX], rest[LOG_LINE_MAX];
	const char *ctx_vals[6];
	struct timespec ts;
	struct tm tm;
	size_t n, nf, i;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = (size_t)snprintf(line, max,
	    "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\","
	    "\"level\":\"%s\",\"prog\":\"%s\"",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
	    level_names[level], log_progname);
	if (n >= max)
		n = max - 1;
	snprintf(copy, sizeof(copy), "%s", msg);
	nf = log_split(f, copy, rest, sizeof(rest));
	memset(ctx_vals, 0, sizeof(ctx_vals));
	if (log_ctx_set_) {
		ctx_vals[0] = log_ctx.correlation_id;
		ctx_vals[1] = log_ctx.run_id;
		ctx_vals[2] = log_ctx.env;
		ctx_vals[3] = log_ctx.env_id;
		ctx_vals[4] = log_ctx.region;
		ctx_vals[5] = log_ctx.operation;
	}
	for (i = 0; i < 6; i++)
		if (ctx_vals[i] != NULL && *ctx_vals[i] != '\0' &&
		    !log_field_has(f, nf, ctx_names[i]))
			n = json_field(line, n, max - 24, ctx_names[i],
			    ctx_vals[i], 0);
	for (i = 0; i < nf; i++)
		n = json_field(line, n, max - 24, f[i].name, f[i].val,
		    f[i].number);
	/* a line of fields only keeps its words as its message */
	n = json_field(line, n, max - 4, "msg", *rest != '\0' ? rest : msg, 0);
	memcpy(line + n, "}", 2);
	return n + 1;
}

static void
log_emit(enum log_level level, const char *msg)
{
	char line[LOG_LINE_MAX + 512];
	const char *cid;
	size_t n;

	if (log_cur_format == LOG_FORMAT_JSON) {
		log_json(line, sizeof(line), level, msg);
	} else {
		cid = log_ctx_set_ ? log_ctx.correlation_id : NULL;
		if (cid != NULL && (*cid == '\0' || strstr(msg, "cid=") != NULL))
			cid = NULL;
		snprintf(line, sizeof(line), "%s: %s%s%s%s", log_progname,
		    level <= LOG_LEVEL_WARN ? (level == LOG_LEVEL_ERROR ?
		    "error: " : "warning: ") : "", msg, cid != NULL ?
		    " cid=" : "", cid != NULL ? cid : "");
	}
	if (log_sink != NULL) {
		log_sink(level, line, log_sink_arg);
		return;
	}
	n = strlen(line);
	line[n++] = '\n';
	/* One write per line so concurrent workers do not interleave. */
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
}

static void
log_vlog(enum log_level level, int with_errno, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX], safe[LOG_LINE_MAX];
	int saved = errno;
	size_t n;

	if (!log_enabled(level))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved));
	}
	/* whatever the arguments held: one line, nothing a terminal obeys */
	log_emit(level, log_sanitize(safe, sizeof(safe), msg));
	errno = saved;
}

#define LOG_FN(name, level, with_errno)				\
void								\
name(const char *fmt, ...)					\
{								\
	va_list ap;						\
								\
	va_start(ap, fmt);					\
	log_vlog(level, with_errno, fmt, ap);			\
	va_end(ap);						\
}

LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_LEVEL_ERROR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_LEVEL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
