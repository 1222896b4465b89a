/*
 * ini.c - the AWS shared config and credentials file format.
 *
 * As the AWS CLI reads it: "[section]" headers, "key = value" lines,
 * full-line comments starting with '#' or ';', inline comments after
 * whitespace, and indented lines (sub-properties such as "s3 =\n  x = y")
 * that we do not use and skip.  Values may hold secrets: they are wiped
 * when the ini is freed and never quoted in an error message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "creds_int.h"
#include "err.h"
#include "mem.h"

struct ini_entry {
	char	*section;
	char	*key;
	char	*value;
};

struct ini {
	struct ini_entry *e;
	size_t		 n;
	size_t		 cap;
	char		**sections;
	size_t		 nsections;
};

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* [s, e) trimmed of whitespace. */
static void
trim(const char **s, const char **e)
{
	while (*s < *e && is_space(**s))
		(*s)++;
	while (*e > *s && is_space((*e)[-1]))
		(*e)--;
}

static char *
section_name(const char *s, const char *e)
{
	char *out = xmalloc((size_t)(e - s) + 1);
	size_t o = 0;
	int sp = 0;

	trim(&s, &e);
	for (; s < e; s++) {
		if (is_space(*s)) {
			sp = 1;
			continue;
		}
		if (sp && o > 0)
			out[o++] = ' ';
		sp = 0;
		out[o++] = *s;
	}
	out[o] = '\0';
	return out;
}

static void
ini_add_section(struct ini *ini, char *name)
{
	ini->sections = xreallocarray(ini->sections, ini->nsections + 1,
	    sizeof(*ini->sections));
	ini->sections[ini->nsections++] = name;
}

static void
ini_set(struct ini *ini, const char *section, char *key, char *value)
{
	for (size_t i = 0; i < ini->n; i++) {
		if (strcmp(ini->e[i].section, section) == 0 &&
		    strcmp(ini->e[i].key, key) == 0) {
			free(key);
			mem_free_secret(ini->e[i].value);
			ini->e[i].value = value;
			return;
		}
	}
	if (ini->n == ini->cap) {
		ini->cap = ini->cap ? ini->cap * 2 : 16;
		ini->e = xreallocarray(ini->e, ini->cap, sizeof(*ini->e));
	}
	ini->e[ini->n].section = xstrdup(section);
	ini->e[ini->n].key = key;
	ini->e[ini->n].value = value;
	ini->n++;
}

int
ini_parse(struct ini **out, const char *name, const char *text, size_t len)
{
	struct ini *ini = xcalloc(1, sizeof(*ini));
	const char *p = text, *end = text + len, *eol, *s, *e, *eq;
	char *section = NULL;
	size_t lineno = 0;
	int error = ERR_INVALID;

	*out = NULL;
	for (; p < end; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		lineno++;
		s = p;
		e = eol;
		if (s < e && is_space(*s)) {
			/* Sub-property or blank line: nothing we use. */
			trim(&s, &e);
			continue;
		}
		trim(&s, &e);
		if (s == e || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			const char *close = memchr(s, ']', (size_t)(e - s));

			if (close == NULL) {
				err_set("%s:%zu: section header without ']'", name,
				    lineno);
				goto done;
			}
			free(section);
			section = section_name(s + 1, close);
			if (!ini_has_section(ini, section))
				ini_add_section(ini, xstrdup(section));
			continue;
		}
		eq = memchr(s, '=', (size_t)(e - s));
		if (eq == NULL) {
			err_set("%s:%zu: expected \"key = value\"", name, lineno);
			goto done;
		}
		if (section == NULL) {
			err_set("%s:%zu: key outside any [section]", name, lineno);
			goto done;
		}
		{
			const char *ks = s, *ke = eq, *vs = eq + 1, *ve = e;
			char *key;

			trim(&ks, &ke);
			trim(&vs, &ve);
			if (ks == ke) {
				err_set("%s:%zu: empty key", name, lineno);
				goto done;
			}
			/* Inline comment: whitespace then '#' or ';'. */
			for (const char *c = vs; c < ve; c++) {
				if ((*c == '#' || *c == ';') && c > vs &&
				    is_space(c[-1])) {
					ve = c;
					trim(&vs, &ve);
					break;
				}
			}
			key = xstrndup(ks, (size_t)(ke - ks));
			for (char *k = key; *k; k++)
				if (*k >= 'A' && *k <= 'Z')
					*k = (char)(*k - 'A' + 'a');
			ini_set(ini, section, key, xstrndup(vs, (size_t)(ve - vs)));
		}
	}
	*out = ini;
	ini = NULL;
	error = 0;
done:
	free(section);
	ini_free(ini);
	return error;
}

int
ini_load(struct ini **out, const char *path)
{
	struct buf b;
	char chunk[4096];
	ssize_t n;
	int fd = -1, error;

	*out = NULL;
	buf_init_secret(&b, INI_MAX_FILE);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT || errno == ENOTDIR) {
			err_set("%s: no such file", path);
			error = ERR_NOTFOUND;
		} else {
			err_set("%s: %s", path, strerror(errno));
			error = ERR_GENERIC;
		}
		goto done;
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			err_set("%s: %s", path, strerror(errno));
			error = ERR_GENERIC;
			goto done;
		}
		if (n == 0)
			break;
		if ((error = buf_add(&b, chunk, (size_t)n)) != 0) {
			err_set("%s: larger than %d bytes", path, INI_MAX_FILE);
			goto done;
		}
	}
	error = ini_parse(out, path, buf_cstr(&b), b.len);
done:
	mem_wipe(chunk, sizeof(chunk));
	if (fd != -1)
		close(fd);
	buf_dispose(&b);
	return error;
}

void
ini_free(struct ini *ini)
{
	if (ini == NULL)
		return;
	for (size_t i = 0; i < ini->n; i++) {
		free(ini->e[i].section);
		free(ini->e[i].key);
		mem_free_secret(ini->e[i].value);
	}
	for (size_t i = 0; i < ini->nsections; i++)
		free(ini->sections[i]);
	free(ini->sections);
	free(ini->e);
	free(ini);
}

int
ini_has_section(const struct ini *ini, const char *section)
{
	if (ini == NULL)
		return 0;
	for (size_t i = 0; i < ini->nsections; i++)
		if (strcmp(ini->sections[i], section) == 0)
			return 1;
	return 0;
}

const char *
ini_get(const struct ini *ini, const char *section, const char *key)
{
	if (ini == NULL)
		return NULL;
	for (size_t i = 0; i < ini->n; i++)
		if (strcmp(ini->e[i].section, section) == 0 &&
		    strcasecmp(ini->e[i].key, key) == 0)
			return ini->e[i].value;
	return NULL;
}
