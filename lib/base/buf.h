/*
 * buf.h - growable byte buffer with a hard maximum (curl DYNBUF.md).
 *
 * A buffer is embedded by value: buf_init() it with its maximum size,
 * append, and buf_dispose() it.  An append that would pass the maximum
 * fails with ERR_LIMIT and leaves the contents as they were.  The data
 * is always NUL-terminated so it can be used as a string.
 */
#ifndef ENVCTL_BUF_H
#define ENVCTL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char	*ptr;
	size_t	 len;
	size_t	 cap;
	size_t	 max;
	int	 secret;	/* wipe on growth and dispose */
};

void	 buf_init(struct buf *, size_t max);
/* Like buf_init(), and the contents are wiped before memory is released. */
void	 buf_init_secret(struct buf *, size_t max);
void	 buf_dispose(struct buf *);
void	 buf_reset(struct buf *);
int	 buf_add(struct buf *, const void *, size_t);
int	 buf_addstr(struct buf *, const char *);
int	 buf_addch(struct buf *, char);
int	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 buf_vprintf(struct buf *, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));
/* The NUL-terminated contents ("" when empty). Never NULL. */
const char *buf_cstr(const struct buf *);
/* Hand the contents to the caller (who frees them) and reset. */
char	*buf_detach(struct buf *, size_t *lenp);

#endif
