/*
 * mem.h - allocation that aborts on exhaustion, and wiping of secrets.
 *
 * Out of memory is not a recoverable condition for a controller: every
 * x-function either returns usable memory or aborts the process (Redis
 * zmalloc, rpki-client).  Everything else is handled by the caller.
 */
#ifndef ENVCTL_MEM_H
#define ENVCTL_MEM_H

#include <stdarg.h>
#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
/* Grow an array of nmemb elements of size bytes, checking for overflow. */
void	*xreallocarray(void *, size_t nmemb, size_t size);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
char	*xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));
char	*xvasprintf(const char *, va_list) __attribute__((format(printf, 1, 0)));

/*
 * Copy the string src into dst of size sz, cut to fit and always
 * NUL-terminated (when sz > 0); NULL src gives "".
 */
void	 mem_strcopy(char *dst, size_t sz, const char *src);

/* Zero len bytes at p in a way the compiler may not elide. */
void	 mem_wipe(void *p, size_t len);
/* Wipe a NUL-terminated secret string and free it; NULL does nothing. */
void	 mem_free_secret(char *s);

#endif
