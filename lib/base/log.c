#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX	4096

static const char	*log_progname = "envctl";
static enum log_level	 log_cur_level = LOG_LEVEL_INFO;
static enum log_format	 log_cur_format = LOG_FORMAT_TEXT;
static log_sink_fn	*log_sink;
static void		*log_sink_arg;

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

static void
log_emit(enum log_level level, const char *msg)
{
	char line[LOG_LINE_MAX + 128];
	size_t n;

	if (log_cur_format == LOG_FORMAT_JSON) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = (size_t)snprintf(line, sizeof(line),
		    "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\","
		    "\"level\":\"%s\",\"prog\":\"%s\",\"msg\":\"",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		    level_names[level], log_progname);
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		n = json_quote(line, n, sizeof(line) - 4, msg);
		memcpy(line + n, "\"}", 3);
	} else {
		snprintf(line, sizeof(line), "%s: %s%s", log_progname,
		    level <= LOG_LEVEL_WARN ? (level == LOG_LEVEL_ERROR ?
		    "error: " : "warning: ") : "", msg);
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
