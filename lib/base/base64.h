/*
 * base64.h - RFC 4648 base64, standard alphabet, padded.  One copy for
 * the whole tree (user-data, OpenSSH key blobs, known_hosts, console
 * output).
 */
#ifndef ENVCTL_BASE64_H
#define ENVCTL_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Bytes base64_encode() writes for len input bytes, without the NUL. */
size_t	 base64_encoded_len(size_t len);

/*
 * Encode len bytes at data.  Returns a new NUL-terminated string the
 * caller frees; *outlen (may be NULL) gets its length.
 */
char	*base64_encode(const void *data, size_t len, size_t *outlen);

enum base64_flags {
	BASE64_STRICT = 0,		/* canonical only: no whitespace, exact padding, zero pad bits */
	BASE64_SKIP_SPACE = 1 << 0,	/* ignore ' ', \t, \r, \n anywhere (console output) */
};

/*
 * Decode n bytes of text at s.  On success *out is a new buffer the
 * caller frees (NUL-terminated for convenience, not counted in *outlen).
 * ERR_INVALID with a message for anything that is not base64 as flags
 * allow; then *out is NULL.
 */
int	 base64_decode(uint8_t **out, size_t *outlen, const char *s, size_t n,
	    unsigned flags);

#endif
