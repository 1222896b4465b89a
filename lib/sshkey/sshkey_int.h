/*
 * sshkey_int.h - what lib/sshkey's tests see beyond sshkey.h.
 */
#ifndef ENVCTL_SSHKEY_INT_H
#define ENVCTL_SSHKEY_INT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Decode strict base64 (RFC 4648 alphabet, '=' padding required to a
 * multiple of 4, no whitespace, zero pad bits).  Returns 0 with a new
 * buffer in *out (the caller frees it) and its length in *lenp, or
 * ERR_INVALID.
 */
int	 sshkey_base64_decode(uint8_t **out, size_t *lenp, const char *s, size_t n);

/* Zero n bytes at p (OPENSSL_cleanse); every secret is released through it. */
void	 sshkey_wipe(void *p, size_t n);

#endif
