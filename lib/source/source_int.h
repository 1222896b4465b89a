/*
 * source_int.h - what only lib/source and its tests use.
 */
#ifndef ENVCTL_SOURCE_INT_H
#define ENVCTL_SOURCE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <git2.h>

/* What a symlink of the tree points to in a checkout: nothing, ever. */
#define CHECKOUT_LINK_TARGET	"/dev/null/envctl: a symbolic link is not a spec"

/* Limits for writing a git tree out to disk. */
struct checkout_caps {
	size_t	max_file_size;
	size_t	max_tree_size;
	size_t	max_files;
	int	max_depth;
};

/*
 * Write the regular files of tree (recursively) under dir, which must
 * exist and be empty.  Only blobs become files (mode 0644, or 0755 when
 * executable); a symlink becomes a symlink to CHECKOUT_LINK_TARGET and a
 * submodule an empty directory, so that a spec replaced by either is an
 * invalid spec and not a removed one; names
 * that are not a single path component are refused, and nothing is ever
 * opened through a symlink (openat with O_NOFOLLOW|O_EXCL below a
 * directory fd we created).  Passing a cap fails with ERR_LIMIT; an
 * object that cannot be read fails with ERR_GENERIC ("corrupt").
 * base_tree/base_dir (both may be NULL) are the published tree and its
 * directory: a file whose blob id and mode are unchanged is hard-linked
 * from there instead of read and written again.
 */
int	 checkout_tree_write(git_repository *repo, const git_tree *tree,
	    const char *dir, const struct checkout_caps *caps,
	    const git_tree *base_tree, const char *base_dir);

/* mkdir -p with mode for the created components. */
int	 fs_mkdir_p(const char *path, mode_t mode);
/* rm -rf path without following symlinks; a missing path is success. */
int	 fs_remove_tree(const char *path);
/* Read a whole small file (at most max bytes) into a NUL-terminated buffer. */
int	 fs_read_small(char **out, size_t *lenp, const char *path, size_t max);
/* fsync the directory at path (after a rename in it). */
void	 fs_sync_dir(const char *path);

/*
 * Look host's key up in known_hosts (the text of an OpenSSH known_hosts
 * file).  host and port name the server: 22 means the plain "host" form,
 * otherwise "[host]:port"; host fields may be plain, comma-separated,
 * hashed ("|1|salt|hmac", HashKnownHosts) or "*".  key/keylen is the raw
 * SSH wire-format host key.  @revoked lines are honoured; @cert-authority
 * lines and other patterns are ignored.  Returns KH_MATCH when an entry
 * for host has this key, KH_REVOKED when the key is revoked, KH_CHANGED
 * when host is listed but only with other keys, KH_UNKNOWN otherwise.
 */
#define KH_MATCH	1
#define KH_UNKNOWN	0
#define KH_CHANGED	(-1)
#define KH_REVOKED	(-2)
int	 known_hosts_match(const char *known_hosts, const char *host, int port,
	    const unsigned char *key, size_t keylen);

/* A 64-bit FNV-1a over data, chainable through h (start with FNV_OFFSET). */
#define FNV_OFFSET	UINT64_C(0xcbf29ce484222325)
uint64_t fnv1a(uint64_t h, const void *data, size_t len);

#endif
