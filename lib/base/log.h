/*
 * log.h - one line per fact, relayd style.
 *
 * log_warn() adds strerror(errno); log_warnx() does not.  The level is
 * checked before anything is formatted.  Lines go to stderr (journald
 * takes them from there) as plain text or, with LOG_FORMAT_JSON, as one
 * JSON object per line.  Put the object on every line ("env=web-1 run=42")
 * and pass untrusted strings through log_escape().  In JSON, key=value
 * words of the message (the leading ones, and known keys anywhere: env,
 * env_id, region, stage, aws_action, duration_ms, ...) are fields of the
 * object, not text of "msg"; a few keys take their canonical names
 * (action: operation, run: run_id, cid: correlation_id, instance:
 * instance_id, code: error_code).  Every message is passed
 * through log_sanitize() once formatted, so no argument can end a line or
 * send a terminal an escape sequence, whatever it holds.
 */
#ifndef ENVCTL_LOG_H
#define ENVCTL_LOG_H

#include <stddef.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

enum log_format {
	LOG_FORMAT_TEXT = 0,
	LOG_FORMAT_JSON,
};

/* Where finished lines go; the default writes them to stderr. */
typedef void log_sink_fn(enum log_level, const char *line, void *arg);

void	 log_init(const char *progname, enum log_level, enum log_format);
void	 log_set_level(enum log_level);
int	 log_level_parse(enum log_level *out, const char *name);
int	 log_enabled(enum log_level);
/* Replace the sink (tests capture lines with it); NULL restores stderr. */
void	 log_set_sink(log_sink_fn *, void *arg);

void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	 fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * What the current thread works on, added to each line it logs: as
 * fields of JSON lines; text lines end with " cid=<correlation id>".
 * NULL members are left out.  The strings are borrowed and must outlive
 * the context; log_context_set(NULL) clears it.  Per thread.
 */
struct log_context {
	const char	*correlation_id;
	const char	*run_id;
	const char	*env;
	const char	*env_id;
	const char	*region;
	const char	*operation;
};
void	 log_context_set(const struct log_context *);
const struct log_context *log_context_get(void);	/* NULL: none */

/* A fresh correlation id: 16 lowercase hex digits (64 random bits). */
#define LOG_CID_LEN	17
void	 log_cid_new(char out[LOG_CID_LEN]);

/*
 * Copy untrusted s into out (size outsz, always NUL-terminated) with
 * control characters, quotes and backslashes escaped and the result cut
 * at outsz-4 bytes with "..." appended (never inside a UTF-8 sequence).
 * Returns out; s NULL is "(null)".  Escaped: \n \r \t, other C0 bytes
 * and DEL as \xNN, bytes that are not well-formed UTF-8 as \xNN, and C1
 * controls, U+2028, U+2029 and the bidirectional overrides and isolates
 * (U+202A-202E, U+2066-2069) as \uNNNN.  Printable UTF-8 is kept.
 */
char	*log_escape(char *out, size_t outsz, const char *s);
/*
 * log_escape() without escaping quotes and backslashes: for whole log
 * lines and for values printed to a terminal or in plain text output.
 */
char	*log_sanitize(char *out, size_t outsz, const char *s);

#endif
