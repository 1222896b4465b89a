#include <errno.h>
#include <stdarg.h>
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

char *
log_escape(char *out, size_t outsz, const char *s)
{
	size_t o = 0;
	const unsigned char *p;

	if (outsz == 0)
		return out;
	if (s == NULL)
		s = "(null)";
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		char tmp[8];
		size_t n;

		if (*p == '"' || *p == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)*p;
			n = 2;
		} else if (*p < 0x20 || *p == 0x7f) {
			n = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", *p);
		} else {
			tmp[0] = (char)*p;
			n = 1;
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
		memcpy(out + o, tmp, n);
		o += n;
	}
	out[o < outsz ? o : outsz - 1] = '\0';
	return out;
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
	char msg[LOG_LINE_MAX];
	int saved = errno;
	size_t n;

	if (!log_enabled(level))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved));
	}
	log_emit(level, msg);
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
