/*
 * check.c - syntax checks of single values (names, CIDRs, URLs, image
 * references, keys).  Each says why a value is refused in a short phrase.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "mem.h"
#include "base64.h"
#include "spec_int.h"

static int
why_set(char *why, size_t whysz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
why_set(char *why, size_t whysz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whysz, fmt, ap);
	va_end(ap);
	return -1;
}

static int
is_lower_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int
is_alnum(int c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static int
is_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int
check_name(const char *s, char *why, size_t whysz)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > 63)
		return why_set(why, whysz, "must be 1 to 63 characters long");
	for (i = 0; i < len; i++)
		if (!is_lower_alnum((unsigned char)s[i]) && s[i] != '-')
			return why_set(why, whysz,
			    "may contain only lowercase letters, digits and '-'");
	if (s[0] == '-' || s[len - 1] == '-')
		return why_set(why, whysz, "must not start or end with '-'");
	return 0;
}

int
check_cidr(struct spec_cidr *out, char *norm, size_t normsz, const char *s,
    char *why, size_t whysz)
{
	char addr[64], text[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/'), *p;
	unsigned prefix = 0, max, i, bits;
	uint8_t a[16], net[16];
	int family;
	size_t alen;

	memset(out, 0, sizeof(*out));
	if (slash == NULL)
		return why_set(why, whysz, "missing the prefix length (as in %s/%s)",
		    strchr(s, ':') ? "2001:db8::" : "203.0.113.7", strchr(s, ':') ? "128" : "32");
	alen = (size_t)(slash - s);
	if (alen == 0 || alen >= sizeof(addr))
		return why_set(why, whysz, "not an IPv4 or IPv6 address");
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	family = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET;
	max = family == AF_INET6 ? 128 : 32;
	if (inet_pton(family, addr, a) != 1)
		return why_set(why, whysz, "not an %s address",
		    family == AF_INET6 ? "IPv6" : "IPv4");
	p = slash + 1;
	if (*p == '\0' || strlen(p) > 3)
		return why_set(why, whysz, "the prefix length must be 0 to %u", max);
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return why_set(why, whysz, "the prefix length must be 0 to %u", max);
		prefix = prefix * 10 + (unsigned)(*p - '0');
	}
	if (prefix > max || (slash[1] == '0' && slash[2] != '\0'))
		return why_set(why, whysz, "the prefix length must be 0 to %u", max);
	memcpy(net, a, sizeof(net));
	for (i = 0; i < max / 8; i++) {
		bits = i * 8;
		if (bits >= prefix)
			net[i] = 0;
		else if (prefix - bits < 8)
			net[i] &= (uint8_t)(0xFF << (8 - (prefix - bits)));
	}
	inet_ntop(family, net, text, sizeof(text));
	if (memcmp(net, a, max / 8) != 0)
		return why_set(why, whysz, "host bits are set (the network is %s/%u)",
		    text, prefix);
	out->family = family;
	memcpy(out->addr, net, max / 8);
	out->prefix = prefix;
	snprintf(norm, normsz, "%s/%u", text, prefix);
	return 0;
}

/* One path component of an image name: [a-z0-9]+ joined by . _ __ -+ */
static int
image_component(const char *s, size_t len)
{
	size_t i = 0, sep;

	if (len == 0 || !is_lower_alnum((unsigned char)s[0]) ||
	    !is_lower_alnum((unsigned char)s[len - 1]))
		return 0;
	while (i < len) {
		if (is_lower_alnum((unsigned char)s[i])) {
			i++;
			continue;
		}
		sep = i;
		if (s[i] == '.' || (s[i] == '_' && s[i + 1] != '_'))
			i++;
		else if (s[i] == '_' && s[i + 1] == '_')
			i += 2;
		else if (s[i] == '-')
			while (i < len && s[i] == '-')
				i++;
		else
			return 0;
		if (i >= len || !is_lower_alnum((unsigned char)s[i]) || i == sep)
			return 0;
	}
	return 1;
}

static int
image_domain(const char *s, size_t len)
{
	size_t i, port = len;

	for (i = 0; i < len; i++)
		if (s[i] == ':') {
			port = i;
			break;
		}
	if (port == 0)
		return 0;
	for (i = 0; i < port; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-')
			return 0;
	if (port < len) {
		if (port + 1 == len || len - port - 1 > 5)
			return 0;
		for (i = port + 1; i < len; i++)
			if (s[i] < '0' || s[i] > '9')
				return 0;
	}
	return 1;
}

int
check_docker_image(const char *s, char *why, size_t whysz)
{
	const char *at, *name_end, *p, *slash, *colon;
	size_t len = strlen(s), i, namelen;
	int first = 1;

	if (len == 0 || len > 512)
		return why_set(why, whysz, "must be 1 to 512 characters long");
	name_end = s + len;
	if ((at = strchr(s, '@')) != NULL) {
		if (strncmp(at, "@sha256:", 8) != 0 || strlen(at + 8) != 64)
			return why_set(why, whysz, "a digest must be @sha256: and 64 hex digits");
		for (p = at + 8; *p != '\0'; p++)
			if (!is_hex((unsigned char)*p))
				return why_set(why, whysz,
				    "a digest must be @sha256: and 64 hex digits");
		name_end = at;
	}
	/* a tag is after the last ':' that follows the last '/' */
	slash = NULL;
	for (p = s; p < name_end; p++)
		if (*p == '/')
			slash = p;
	colon = NULL;
	for (p = slash ? slash : s; p < name_end; p++)
		if (*p == ':')
			colon = p;
	if (colon != NULL) {
		size_t tl = (size_t)(name_end - colon - 1);

		if (tl == 0 || tl > 128 || !(is_alnum((unsigned char)colon[1]) || colon[1] == '_'))
			return why_set(why, whysz,
			    "a tag must be 1 to 128 letters, digits, '_', '.' or '-'");
		for (i = 1; i <= tl; i++)
			if (!is_alnum((unsigned char)colon[i]) && colon[i] != '_' &&
			    colon[i] != '.' && colon[i] != '-')
				return why_set(why, whysz,
				    "a tag must be 1 to 128 letters, digits, '_', '.' or '-'");
		name_end = colon;
	}
	namelen = (size_t)(name_end - s);
	if (namelen == 0 || namelen > 255)
		return why_set(why, whysz, "the image name must be 1 to 255 characters long");
	for (p = s; p < name_end; first = 0) {
		const char *e = memchr(p, '/', (size_t)(name_end - p));
		size_t cl;

		if (e == NULL)
			e = name_end;
		cl = (size_t)(e - p);
		if (first && e != name_end && (memchr(p, '.', cl) || memchr(p, ':', cl) ||
		    (cl == 9 && memcmp(p, "localhost", 9) == 0))) {
			if (!image_domain(p, cl))
				return why_set(why, whysz, "bad registry host");
		} else if (!image_component(p, cl))
			return why_set(why, whysz, "bad image name (lowercase letters and "
			    "digits separated by '.', '_', '__', '-' or '/')");
		p = e == name_end ? e : e + 1;
		if (e != name_end && p == name_end)
			return why_set(why, whysz, "the image name ends with '/'");
	}
	return 0;
}

static int
host_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 253)
		return 0;
	if (s[0] == '[') {	/* [IPv6] */
		char a[64];
		uint8_t b[16];

		if (s[len - 1] != ']' || len - 2 >= sizeof(a))
			return 0;
		memcpy(a, s + 1, len - 2);
		a[len - 2] = '\0';
		return inet_pton(AF_INET6, a, b) == 1;
	}
	for (i = 0; i < len; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-')
			return 0;
	return s[0] != '-' && s[0] != '.';
}

/* host[:port] */
static int
hostport_ok(const char *s, size_t len)
{
	size_t i, hl = len;

	for (i = len; i > 0; i--)
		if (s[i - 1] == ':' && s[len - 1] != ']') {
			hl = i - 1;
			break;
		} else if (s[i - 1] == ']')
			break;
	if (hl < len) {
		if (hl + 1 == len || len - hl - 1 > 5)
			return 0;
		for (i = hl + 1; i < len; i++)
			if (s[i] < '0' || s[i] > '9')
				return 0;
	}
	return host_ok(s, hl);
}

int
check_repo_url(const char *s, char *why, size_t whysz)
{
	const char *p, *auth, *path, *at, *colon;
	size_t len = strlen(s);

	if (len == 0 || len > 2048)
		return why_set(why, whysz, "must be 1 to 2048 characters long");
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return why_set(why, whysz, "must not contain spaces or control characters");
	if (strncmp(s, "https://", 8) == 0 || strncmp(s, "ssh://", 6) == 0) {
		int https = s[0] == 'h';

		auth = s + (https ? 8 : 6);
		path = strchr(auth, '/');
		if (path == NULL || path[1] == '\0')
			return why_set(why, whysz, "the URL has no repository path");
		at = memchr(auth, '@', (size_t)(path - auth));
		if (at != NULL) {
			if (https)
				return why_set(why, whysz, "credentials in an https URL are not "
				    "allowed (the spec is not a secret; use a deploy key or token "
				    "on the instance)");
			if (memchr(auth, ':', (size_t)(at - auth)) != NULL)
				return why_set(why, whysz, "a password in the URL is not allowed");
			auth = at + 1;
		}
		if (!hostport_ok(auth, (size_t)(path - auth)))
			return why_set(why, whysz, "bad host in the URL");
		return 0;
	}
	if (strstr(s, "://") != NULL)
		return why_set(why, whysz, "the scheme must be https://, ssh:// or "
		    "scp-like user@host:path");
	/* scp-like: user@host:path */
	at = strchr(s, '@');
	colon = at ? strchr(at, ':') : NULL;
	if (at == NULL || colon == NULL || at == s || colon[1] == '\0')
		return why_set(why, whysz, "the scheme must be https://, ssh:// or "
		    "scp-like user@host:path");
	for (p = s; p < at; p++)
		if (!is_alnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			return why_set(why, whysz, "bad user in the URL");
	if (!host_ok(at + 1, (size_t)(colon - at - 1)))
		return why_set(why, whysz, "bad host in the URL");
	return 0;
}

int
check_branch(const char *s, char *why, size_t whysz)
{
	size_t len = strlen(s);
	const char *p;

	if (len == 0 || len > 255)
		return why_set(why, whysz, "must be 1 to 255 characters long");
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || strchr("~^:?*[\\", *p))
			return why_set(why, whysz, "must not contain spaces, control characters "
			    "or any of ~^:?*[\\");
	if (s[0] == '-' || s[0] == '/' || s[len - 1] == '/' || s[len - 1] == '.' ||
	    strstr(s, "..") || strstr(s, "//") || strstr(s, "@{") || strstr(s, "/.") ||
	    (len >= 5 && strcmp(s + len - 5, ".lock") == 0) || strcmp(s, "@") == 0)
		return why_set(why, whysz, "is not a valid git branch name");
	return 0;
}

int
check_env_name(const char *s, char *why, size_t whysz)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > 128)
		return why_set(why, whysz, "must be 1 to 128 characters long");
	if (s[0] >= '0' && s[0] <= '9')
		return why_set(why, whysz, "must not start with a digit");
	for (i = 0; i < len; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '_')
			return why_set(why, whysz, "may contain only letters, digits and '_'");
	return 0;
}

const char *
spec_secret_source_name(enum spec_secret_source src)
{
	switch (src) {
	case SPEC_SECRET_ENV:
		return "env";
	case SPEC_SECRET_FILE:
		return "file";
	case SPEC_SECRET_SSM:
		return "ssm";
	}
	return "?";
}

int
spec_secret_file_check(const char *s, char *why, size_t whysz)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > SPEC_SECRET_REF_MAX)
		return why_set(why, whysz, "must be 1 to %d characters long",
		    SPEC_SECRET_REF_MAX);
	if (s[0] == '.')
		return why_set(why, whysz, "must not start with '.'");
	for (i = 0; i < len; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' &&
		    s[i] != '.')
			return why_set(why, whysz, "is a file name in secrets_dir: "
			    "only letters, digits, '_', '-' and '.'");
	return 0;
}

int
spec_secret_ssm_check(const char *s, const char *prefix, char *why, size_t whysz)
{
	size_t i, len = strlen(s), plen = strlen(prefix);

	if (len == 0 || len > SPEC_SECRET_REF_MAX)
		return why_set(why, whysz, "must be 1 to %d characters long",
		    SPEC_SECRET_REF_MAX);
	for (i = 0; i < len; i++)
		if (!is_alnum((unsigned char)s[i]) && strchr("_.-/", s[i]) == NULL)
			return why_set(why, whysz, "may contain only letters, digits "
			    "and '_', '-', '.', '/'");
	if (strstr(s, "//") != NULL || strstr(s, "/./") != NULL ||
	    strstr(s, "/../") != NULL || s[len - 1] == '/' ||
	    (len >= 2 && strcmp(s + len - 2, "/.") == 0) ||
	    (len >= 3 && strcmp(s + len - 3, "/..") == 0))
		return why_set(why, whysz, "must be a parameter name, without "
		    "empty, '.' or '..' parts");
	if (plen == 0 || len <= plen || strncmp(s, prefix, plen) != 0)
		return why_set(why, whysz, "must be under %s (secret_ssm_prefix)",
		    plen ? prefix : "a prefix");
	return 0;
}

int
check_region(const char *s, char *why, size_t whysz)
{
	/* like us-east-1, eu-central-2, us-gov-west-1, ap-southeast-4 */
	const char *p = s;
	int parts = 0, ok = 1;
	size_t n;

	if (strlen(s) > 32)
		ok = 0;
	while (ok && *p != '\0') {
		n = 0;
		while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= '0' && p[n] <= '9'))
			n++;
		if (n == 0)
			ok = 0;
		parts++;
		p += n;
		if (*p == '-')
			p++, ok = ok && *p != '\0';
		else if (*p != '\0')
			ok = 0;
	}
	n = strlen(s);
	if (!ok || parts < 3 || n == 0 || s[n - 1] < '0' || s[n - 1] > '9' ||
	    s[0] < 'a' || s[0] > 'z')
		return why_set(why, whysz, "is not an AWS region name (like us-east-1)");
	return 0;
}

int
check_instance_type(const char *s, char *why, size_t whysz)
{
	const char *dot = strchr(s, '.'), *p;
	size_t len = strlen(s);

	if (len == 0 || len > 32 || dot == NULL || dot == s || dot[1] == '\0' ||
	    strchr(dot + 1, '.') != NULL)
		return why_set(why, whysz, "is not an EC2 instance type (like t3.medium)");
	for (p = s; *p != '\0'; p++)
		if (!is_lower_alnum((unsigned char)*p) && *p != '-' && *p != '.')
			return why_set(why, whysz, "is not an EC2 instance type (like t3.medium)");
	return 0;
}

int
check_public_key(const char *s, char *why, size_t whysz)
{
	static const char *const types[] = { "ssh-ed25519", "ssh-rsa" };
	/* OpenSSH types EC2's ImportKeyPair refuses (InvalidKey.Format) */
	static const char *const refused[] = {
		"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
		"sk-ecdsa-sha2-nistp256@openssh.com", "sk-ssh-ed25519@openssh.com",
		"ssh-dss",
	};
	uint8_t *blob = NULL;
	const char *sp, *b64, *end, *p;
	size_t i, tl = 0, n = 0;
	uint32_t l;
	int error = -1;

	if (strlen(s) > 16000)
		return why_set(why, whysz, "is too long");
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return why_set(why, whysz, "must be one line of text");
	if ((sp = strchr(s, ' ')) == NULL)
		return why_set(why, whysz, "must look like 'ssh-ed25519 AAAA... comment'");
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if ((size_t)(sp - s) == strlen(types[i]) &&
		    strncmp(s, types[i], (size_t)(sp - s)) == 0)
			tl = strlen(types[i]);
	for (i = 0; tl == 0 && i < sizeof(refused) / sizeof(refused[0]); i++)
		if ((size_t)(sp - s) == strlen(refused[i]) &&
		    strncmp(s, refused[i], (size_t)(sp - s)) == 0)
			return why_set(why, whysz, "EC2 ImportKeyPair takes only "
			    "ssh-ed25519 and ssh-rsa keys, not %s", refused[i]);
	if (tl == 0)
		return why_set(why, whysz, "the key type must be ssh-ed25519 or ssh-rsa");
	b64 = sp + 1;
	end = strchr(b64, ' ');
	if (end == NULL)
		end = b64 + strlen(b64);
	if (base64_decode(&blob, &n, b64, (size_t)(end - b64), BASE64_STRICT) < 0 ||
	    n < 4) {
		why_set(why, whysz, "the key is not valid base64");
		goto out;
	}
	l = (uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 | (uint32_t)blob[2] << 8 | blob[3];
	if (l != tl || n < 4 + tl || memcmp(blob + 4, s, tl) != 0) {
		why_set(why, whysz, "the key data does not match its type");
		goto out;
	}
	if (tl == 11 && memcmp(s, "ssh-ed25519", 11) == 0 && n != 4 + 11 + 4 + 32) {
		why_set(why, whysz, "an ed25519 key must be 32 bytes");
		goto out;
	}
	error = 0;
out:
	free(blob);
	return error;
}

int
check_price(char *norm, size_t normsz, const char *s, char *why, size_t whysz)
{
	const char *p = s, *dot = NULL;
	size_t ilen, flen, nz = 0;
	int any = 0;

	for (; *p != '\0'; p++) {
		if (*p == '.' && dot == NULL)
			dot = p;
		else if (*p < '0' || *p > '9')
			return why_set(why, whysz, "must be a decimal number like \"0.05\"");
		else if (*p != '0')
			any = 1;
	}
	ilen = dot ? (size_t)(dot - s) : strlen(s);
	flen = dot ? strlen(dot + 1) : 0;
	if (ilen == 0 || (dot && flen == 0))
		return why_set(why, whysz, "must be a decimal number like \"0.05\"");
	if (ilen + flen > 12 || flen > 8)
		return why_set(why, whysz, "has too many digits (at most 12, 8 after the point)");
	if (!any)
		return why_set(why, whysz, "must be more than 0");
	/* normalize: no leading zeros before the point, no trailing zeros after */
	while (ilen > 1 && s[nz] == '0')
		nz++, ilen--;
	while (flen > 0 && dot[flen] == '0')
		flen--;
	if (ilen + 1 + flen + 1 > normsz)
		return why_set(why, whysz, "is too long");
	memcpy(norm, s + nz, ilen);
	if (flen > 0) {
		norm[ilen] = '.';
		memcpy(norm + ilen + 1, dot + 1, flen);
		norm[ilen + 1 + flen] = '\0';
	} else
		norm[ilen] = '\0';
	return 0;
}

int
check_tag_chars(const char *s, char *why, size_t whysz)
{
	const unsigned char *p;

	/* AWS: letters, digits and spaces in UTF-8, and + - = . _ : / @ */
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x80 && !is_alnum(*p) && !strchr(" +-=._:/@", *p))
			return why_set(why, whysz, "may contain only letters, digits, spaces "
			    "and + - = . _ : / @");
	return 0;
}
