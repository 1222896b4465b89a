/*
 * fsutil.c - small file-system helpers for lib/source.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "err.h"
#include "mem.h"
#include "base64.h"
#include "source_int.h"

int
fs_mkdir_p(const char *path, mode_t mode)
{
	char *p = NULL, *s;
	int error = ERR_GENERIC;

	p = xstrdup(path);
	for (s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, mode) == -1 && errno != EEXIST) {
			err_set("mkdir %s: %s", p, strerror(errno));
			goto out;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	error = 0;
out:
	free(p);
	return error;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) == -1 && errno != ENOENT) {
		err_set("remove %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int
fs_remove_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		err_set("%s: %s", path, strerror(errno));
		return ERR_GENERIC;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) == -1 && errno != ENOENT) {
			err_set("unlink %s: %s", path, strerror(errno));
			return ERR_GENERIC;
		}
		return 0;
	}
	if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		return ERR_GENERIC;
	return 0;
}

int
fs_read_small(char **out, size_t *lenp, const char *path, size_t max)
{
	char *data = NULL;
	size_t len = 0;
	ssize_t n;
	int fd = -1, error = ERR_GENERIC;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		error = errno == ENOENT ? ERR_NOTFOUND : ERR_GENERIC;
		err_set("open %s: %s", path, strerror(errno));
		goto out;
	}
	data = xmalloc(max + 1);
	for (;;) {
		n = read(fd, data + len, max + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			err_set("read %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			err_set("%s: larger than %zu bytes", path, max);
			error = ERR_LIMIT;
			goto out;
		}
	}
	data[len] = '\0';
	*out = data;
	data = NULL;
	if (lenp != NULL)
		*lenp = len;
	error = 0;
out:
	if (data != NULL) {
		mem_wipe(data, max + 1);
		free(data);
	}
	if (fd != -1)
		close(fd);
	return error;
}

void
fs_sync_dir(const char *path)
{
	int fd;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	(void)fsync(fd);
	close(fd);
}

uint64_t
fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

/*
 * Does the comma-separated host field hosts name host[:port]?  Of the
 * patterns only a lone "*" (any host) is understood.
 */
static int
hosts_field_has(const char *hosts, size_t len, const char *want)
{
	size_t wl = strlen(want), i = 0, j;

	while (i < len) {
		for (j = i; j < len && hosts[j] != ','; j++)
			;
		if ((j - i == wl && strncmp(hosts + i, want, wl) == 0) ||
		    (j - i == 1 && hosts[i] == '*'))
			return 1;
		i = j + 1;
	}
	return 0;
}

/*
 * Does the hashed host field "|1|<salt>|<hash>" (OpenSSH HashKnownHosts)
 * name want?  hash is HMAC-SHA1 keyed with salt over want.
 */
static int
hashed_field_has(const char *f, size_t len, const char *want)
{
	const char *salt, *hash;
	uint8_t *s = NULL, *h = NULL;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t slen, hlen;
	int match = 0;

	if (len < 3 || strncmp(f, "|1|", 3) != 0)
		return 0;
	salt = f + 3;
	hash = memchr(salt, '|', len - 3);
	if (hash == NULL)
		return 0;
	hash++;
	if (base64_decode(&s, &slen, salt, (size_t)(hash - 1 - salt),
	    BASE64_STRICT) < 0 ||
	    base64_decode(&h, &hlen, hash, (size_t)(f + len - hash),
	    BASE64_STRICT) < 0)
		goto out;
	if (slen != 20 || hlen != 20 ||
	    HMAC(EVP_sha1(), s, (int)slen, (const unsigned char *)want,
	    strlen(want), mac, &maclen) == NULL || maclen != hlen)
		goto out;
	match = CRYPTO_memcmp(mac, h, hlen) == 0;
out:
	free(s);
	free(h);
	return match;
}

int
known_hosts_match(const char *kh, const char *host, int port,
    const unsigned char *key, size_t keylen)
{
	uint8_t *dec;
	char want[300];
	const char *line, *end, *f[3], *fe[3], *p;
	size_t n;
	int i, r, same, revoked, listed = 0, matched = 0;

	if (port == 22 || port <= 0)
		r = snprintf(want, sizeof(want), "%s", host);
	else
		r = snprintf(want, sizeof(want), "[%s]:%d", host, port);
	if (r < 0 || (size_t)r >= sizeof(want))
		return KH_UNKNOWN;
	for (line = kh; *line != '\0'; line = *end ? end + 1 : end) {
		end = strchr(line, '\n');
		if (end == NULL)
			end = line + strlen(line);
		p = line;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end || *p == '#')
			continue;
		revoked = 0;
		if (*p == '@') {
			/* @revoked counts; @cert-authority is not understood */
			if ((size_t)(end - p) < 9 || strncmp(p, "@revoked", 8) != 0 ||
			    (p[8] != ' ' && p[8] != '\t'))
				continue;
			revoked = 1;
			p += 8;
		}
		for (i = 0; i < 3; i++) {
			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
			f[i] = p;
			while (p < end && *p != ' ' && *p != '\t' && *p != '\r')
				p++;
			fe[i] = p;
		}
		if (fe[2] == f[2])
			continue;
		if (!hosts_field_has(f[0], (size_t)(fe[0] - f[0]), want) &&
		    !hashed_field_has(f[0], (size_t)(fe[0] - f[0]), want))
			continue;
		if (base64_decode(&dec, &n, f[2], (size_t)(fe[2] - f[2]),
		    BASE64_STRICT) < 0)
			continue;
		same = n == keylen && memcmp(dec, key, keylen) == 0;
		free(dec);
		if (revoked && same)
			return KH_REVOKED;
		if (!revoked) {
			listed = 1;
			matched |= same;
		}
	}
	return matched ? KH_MATCH : listed ? KH_CHANGED : KH_UNKNOWN;
}
