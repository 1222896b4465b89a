/*
 * userdata_int.h - what lib/userdata's own files and tests share.
 */
#ifndef ENVCTL_USERDATA_INT_H
#define ENVCTL_USERDATA_INT_H

#include <stddef.h>

struct buf;

/*
 * Append s to b as one shell word in single quotes ('it'\''s').  Returns
 * 0 or ERR_LIMIT (b's maximum).
 */
int	 userdata_shell_quote(struct buf *b, const char *s);
/* 1 if s is [A-Za-z_][A-Za-z0-9_]* (at most 255 bytes), else 0. */
int	 userdata_env_name_ok(const char *s);
/* 1 if s is a package name [A-Za-z0-9][A-Za-z0-9.+_:~=-]*, else 0. */
int	 userdata_package_ok(const char *s);
/* base64 of len bytes (no newlines) in a new string; its length in *b64len. */
char	*userdata_base64(const char *data, size_t len, size_t *b64len);

#endif
