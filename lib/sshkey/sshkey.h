/*
 * sshkey.h - SSH key pairs in OpenSSH formats, made with OpenSSL 3.
 *
 * A struct sshkey is either a key pair generated here (ed25519, the
 * default, or RSA 4096) or a public key parsed from a line a user gave
 * ("ssh-ed25519 AAAA... comment").  Both give the OpenSSH public key line
 * and the SHA256 fingerprint exactly as ssh-keygen prints them; only a
 * generated pair gives the private key, in the "openssh-key-v1" format
 * (cipher none, kdf none) that ssh and ssh-keygen read.
 *
 * Private key material is wiped when it is released; it is never logged
 * and never put in an error message.
 */
#ifndef ENVCTL_SSHKEY_H
#define ENVCTL_SSHKEY_H

#include <stddef.h>

enum sshkey_type {
	SSHKEY_ED25519 = 0,
	SSHKEY_RSA,
	SSHKEY_ECDSA_P256,	/* parsed public keys only */
	SSHKEY_ECDSA_P384,
	SSHKEY_ECDSA_P521,
};

/* Bits of a generated RSA key; parsed RSA keys need at least the minimum. */
#define SSHKEY_RSA_BITS		4096
#define SSHKEY_RSA_MIN_BITS	2048
#define SSHKEY_RSA_MAX_BITS	16384
/* A public key line longer than this is refused. */
#define SSHKEY_LINE_MAX		16384
/* A comment longer than this is refused. */
#define SSHKEY_COMMENT_MAX	1024
/* "SHA256:" + 43 base64 characters + NUL, rounded up. */
#define SSHKEY_FINGERPRINT_SIZE	64

struct sshkey;

/*
 * Generate a new key pair of type SSHKEY_ED25519 or SSHKEY_RSA (4096
 * bits) with comment (NULL means none; printable ASCII without control
 * characters, at most SSHKEY_COMMENT_MAX bytes).  Returns 0 and the key in
 * *out (the caller frees it with sshkey_free()), ERR_INVALID for another
 * type or a bad comment, ERR_GENERIC if OpenSSL fails.
 */
int	 sshkey_generate(struct sshkey **out, enum sshkey_type type,
	    const char *comment);

/*
 * Parse and check an OpenSSH public key line "TYPE BASE64 [COMMENT]" as a
 * user gives it for authorized_keys: TYPE is ssh-ed25519, ssh-rsa (at
 * least SSHKEY_RSA_MIN_BITS) or ecdsa-sha2-nistp256/384/521; the blob must
 * be strict base64 whose inner type string equals TYPE, with nothing
 * missing or left over, and an EC point must be on its curve.  Leading and
 * trailing blanks and one trailing newline are ignored; options before
 * the type, other newlines and control characters are refused.  Returns 0
 * and a public-only key in *out (the caller frees it), or ERR_INVALID
 * with the reason in err_get() (which never quotes the blob).
 */
int	 sshkey_public_parse(struct sshkey **out, const char *line);

/* Wipe the private material, if any, and free key; NULL does nothing. */
void	 sshkey_free(struct sshkey *key);

enum sshkey_type sshkey_get_type(const struct sshkey *key);
/* The SSH name of the type: "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256"... */
const char	*sshkey_type_name(enum sshkey_type type);
/* Key size in bits as ssh-keygen -l prints it (256 for ed25519). */
unsigned	 sshkey_bits(const struct sshkey *key);
/* The comment ("" when none); owned by key. */
const char	*sshkey_comment(const struct sshkey *key);
/* 1 if key holds a private half (generated here), else 0. */
int		 sshkey_has_private(const struct sshkey *key);

/*
 * The public key line "TYPE BASE64[ COMMENT]" without a newline, in a new
 * string the caller frees.
 */
char	*sshkey_public_line(const struct sshkey *key);

/*
 * Write the fingerprint "SHA256:<base64 without padding>" of the public
 * key into out, as `ssh-keygen -l -E sha256` prints it.
 */
void	 sshkey_fingerprint(char out[SSHKEY_FINGERPRINT_SIZE],
	    const struct sshkey *key);

/*
 * Serialize the private key as an OpenSSH private key file
 * ("-----BEGIN OPENSSH PRIVATE KEY-----", unencrypted, base64 wrapped at
 * 70 columns, ending in a newline).  Returns 0 with a new NUL-terminated
 * string in *out and its length in *lenp (may be NULL); the caller
 * releases it with mem_free_secret().  ERR_INVALID for a public-only key.
 */
int	 sshkey_private_openssh(char **out, size_t *lenp, const struct sshkey *key);

#endif
