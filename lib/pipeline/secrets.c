/*
 * secrets.c - a spec secret's value, read on the controller at use from
 * the secret namespace only (docs/spec.md, "Secrets"): a variable under
 * secret_env_prefix, a file in secrets_dir, an SSM parameter under
 * secret_ssm_prefix.  The spec was checked against the same prefixes; the
 * checks are made again here, where the value is read.
 *
 * Values live in wiped memory; messages name the secret and where it
 * was looked for, never the value.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "aws.h"
#include "buf.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "pipeline_int.h"
#include "spec.h"
#include "ssm.h"

/* The longest secret file read. */
#define SECRET_FILE_MAX		8192

static const char *
env_prefix(const struct pipeline *p)
{
	return p->o.secret_env_prefix ? p->o.secret_env_prefix :
	    SPEC_SECRET_ENV_PREFIX;
}

static const char *
ssm_prefix(const struct pipeline *p)
{
	return p->o.secret_ssm_prefix ? p->o.secret_ssm_prefix :
	    SPEC_SECRET_SSM_PREFIX;
}

static int
secret_env(char **out, const struct pipeline *p, const struct spec_secret *s)
{
	const char *pre = env_prefix(p), *v;

	if (*pre == '\0' || strncmp(s->ref, pre, strlen(pre)) != 0 ||
	    strlen(s->ref) == strlen(pre)) {
		err_set("secret %s: variable %s is not in the secret namespace "
		    "(secret_env_prefix %s)", s->name, s->ref, *pre ? pre : "off");
		return ERR_INVALID;
	}
	if ((v = getenv(s->ref)) == NULL) {
		err_set("secret %s: environment variable %s is not set on the "
		    "controller", s->name, s->ref);
		return ERR_INVALID;
	}
	*out = xstrdup(v);
	return 0;
}

/* Linux's POSIX ACL xattr (system.posix_acl_access), little-endian. */
#define ACL_XATTR_VERSION	2
#define ACL_TAG_USER_OBJ	0x01
#define ACL_TAG_USER		0x02
#define ACL_TAG_GROUP_OBJ	0x04
#define ACL_TAG_GROUP		0x08
#define ACL_TAG_MASK		0x10
#define ACL_TAG_OTHER		0x20
#define ACL_PERM_READ		0x04

static uint32_t
le32(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	    (uint32_t)b[3] << 24;
}

/*
 * Whether only the controller's user (and root) can read the open file:
 * owned by the user (or by root: what systemd's LoadCredential= gives a
 * service user, with an ACL entry for it), nothing for others, and, by
 * the mode or by an access ACL, read for no group and no other user.
 * 0, or -1 with why.
 */
int
pl_secret_file_private(int fd, const struct stat *st, char *why, size_t whysz)
{
	unsigned char acl[1024];
	ssize_t n;
	size_t i;
	unsigned mask = 7;
	uid_t me = geteuid();

	if (st->st_uid != me && st->st_uid != 0) {
		snprintf(why, whysz, "owned by uid %u, not by the controller's "
		    "user (uid %u)", (unsigned)st->st_uid, (unsigned)me);
		return -1;
	}
	if (st->st_mode & (S_IROTH | S_IWOTH | S_IXOTH)) {
		snprintf(why, whysz, "others may read it (mode %03o)",
		    (unsigned)(st->st_mode & 0777));
		return -1;
	}
	n = fgetxattr(fd, "system.posix_acl_access", acl, sizeof(acl));
	if (n < 0 && errno != ENODATA && errno != ENOTSUP) {
		snprintf(why, whysz, "its ACL cannot be read");
		return -1;
	}
	if (n < 0) {
		/* No ACL: the group bits are the group's. */
		if (st->st_mode & (S_IRGRP | S_IWGRP | S_IXGRP)) {
			snprintf(why, whysz, "its group may read it (mode %03o)",
			    (unsigned)(st->st_mode & 0777));
			return -1;
		}
		return 0;
	}
	if (n < 4 || (n - 4) % 8 != 0 || le32(acl) != ACL_XATTR_VERSION) {
		snprintf(why, whysz, "its ACL is not understood");
		return -1;
	}
	for (i = 4; i + 8 <= (size_t)n; i += 8)
		if ((acl[i] | acl[i + 1] << 8) == ACL_TAG_MASK)
			mask = acl[i + 2] | acl[i + 3] << 8;
	for (i = 4; i + 8 <= (size_t)n; i += 8) {
		unsigned tag = acl[i] | acl[i + 1] << 8;
		unsigned perm = (acl[i + 2] | acl[i + 3] << 8) & mask;
		uint32_t id = le32(acl + i + 4);

		if (!(perm & ACL_PERM_READ))
			continue;
		if ((tag == ACL_TAG_USER && id != (uint32_t)me) ||
		    tag == ACL_TAG_GROUP_OBJ || tag == ACL_TAG_GROUP) {
			snprintf(why, whysz, "its ACL lets %s %u read it",
			    tag == ACL_TAG_USER ? "uid" : "gid",
			    tag == ACL_TAG_GROUP_OBJ ? (unsigned)st->st_gid :
			    (unsigned)id);
			return -1;
		}
	}
	return 0;
}

static int
secret_file(char **out, const struct pipeline *p, const struct spec_secret *s)
{
	const char *dir = p->o.secrets_dir;
	char why[160];
	struct stat st;
	struct buf b;
	int dfd = -1, fd = -1, error = ERR_INVALID;

	buf_init_secret(&b, SECRET_FILE_MAX + 1);
	if (dir == NULL || *dir == '\0') {
		err_set("secret %s: file secrets need secrets_dir, which is not set",
		    s->name);
		goto out;
	}
	if (spec_secret_file_check(s->ref, why, sizeof(why)) < 0) {
		err_set("secret %s: bad file name %s: %s", s->name, s->ref, why);
		goto out;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (fd = openat(dfd, s->ref, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) < 0) {
		err_set("secret %s: %s/%s: %s", s->name, dir, s->ref, strerror(errno));
		error = errno == ENOENT ? ERR_NOTFOUND : ERR_INVALID;
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err_set("secret %s: %s/%s is not a regular file", s->name, dir, s->ref);
		goto out;
	}
	if (pl_secret_file_private(fd, &st, why, sizeof(why)) < 0) {
		err_set("secret %s: %s/%s is refused: %s", s->name, dir, s->ref, why);
		goto out;
	}
	for (;;) {
		char chunk[1024];
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set("secret %s: reading %s/%s: %s", s->name, dir, s->ref,
			    strerror(errno));
			mem_wipe(chunk, sizeof(chunk));
			goto out;
		}
		if (n == 0)
			break;
		if (buf_add(&b, chunk, (size_t)n) < 0) {
			err_set("secret %s: %s/%s is over %d bytes", s->name, dir,
			    s->ref, SECRET_FILE_MAX);
			mem_wipe(chunk, sizeof(chunk));
			goto out;
		}
		mem_wipe(chunk, sizeof(chunk));
	}
	/* A file written by an editor or echo ends in one newline: not the value's. */
	if (b.len > 0 && b.ptr[b.len - 1] == '\n')
		b.ptr[--b.len] = '\0';
	*out = xstrdup(buf_cstr(&b));
	error = 0;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	buf_dispose(&b);
	return error;
}

static int
secret_ssm(char **out, const struct pipeline *p, const struct spec_secret *s)
{
	struct aws_client_opts o;
	struct aws_client *c = NULL;
	char why[160];
	int error;

	if (*ssm_prefix(p) == '\0' ||
	    spec_secret_ssm_check(s->ref, ssm_prefix(p), why, sizeof(why)) < 0) {
		err_set("secret %s: SSM parameter %s is not in the secret "
		    "namespace (secret_ssm_prefix %s)", s->name, s->ref,
		    *ssm_prefix(p) ? ssm_prefix(p) : "off");
		return ERR_INVALID;
	}
	memset(&o, 0, sizeof(o));
	o.region = p->o.secret_ssm_region ? p->o.secret_ssm_region :
	    aws_client_region(p->aws);
	o.creds = p->creds;
	if ((error = aws_client_new(&c, &o)) < 0)
		return error;
	if ((error = ssm_parameter_get(out, c, s->ref)) < 0)
		err_prefix("secret %s", s->name);
	aws_client_free(c);
	return error;
}

int
pl_secret_read(char **out, struct pipeline *p, const struct spec_secret *s)
{
	int error = ERR_INVALID;

	*out = NULL;
	switch (s->source) {
	case SPEC_SECRET_ENV:
		error = secret_env(out, p, s);
		break;
	case SPEC_SECRET_FILE:
		error = secret_file(out, p, s);
		break;
	case SPEC_SECRET_SSM:
		error = secret_ssm(out, p, s);
		break;
	}
	return error;
}
