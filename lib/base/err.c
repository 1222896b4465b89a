#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

#define ERR_MSG_MAX	1024

static _Thread_local char	err_msg[ERR_MSG_MAX];

void
err_set(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
	va_end(ap);
}

void
err_prefix(const char *fmt, ...)
{
	char pre[ERR_MSG_MAX], old[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, err_msg, sizeof(old));
	/* Truncation is fine: the message is for people. */
	if (old[0] == '\0')
		memcpy(err_msg, pre, sizeof(err_msg));
	else {
		size_t n = strlen(pre);

		if (n > sizeof(err_msg) - 3)
			n = sizeof(err_msg) - 3;
		memcpy(err_msg, pre, n);
		memcpy(err_msg + n, ": ", 2);
		n += 2;
		memcpy(err_msg + n, old, sizeof(err_msg) - n - 1);
		err_msg[sizeof(err_msg) - 1] = '\0';
	}
}

const char *
err_get(void)
{
	return err_msg[0] != '\0' ? err_msg : "unknown error";
}

void
err_clear(void)
{
	err_msg[0] = '\0';
}

const char *
err_code_str(int code)
{
	switch (code) {
	case ERR_OK:		return "ok";
	case ERR_NOTFOUND:	return "not found";
	case ERR_EXISTS:	return "already exists";
	case ERR_INVALID:	return "invalid";
	case ERR_LIMIT:		return "limit reached";
	case ERR_THROTTLED:	return "throttled";
	case ERR_TIMEOUT:	return "timed out";
	case ERR_UNAVAILABLE:	return "unavailable";
	case ERR_CONFLICT:	return "conflict";
	case ERR_FAILPOINT:	return "failpoint";
	case ERR_FOREIGN:	return "not ours";
	case ERR_FENCED:	return "fenced";
	default:		return "error";
	}
}
