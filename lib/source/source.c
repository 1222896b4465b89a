/*
 * source.c - a git branch or a plain directory behind one interface.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "log.h"
#include "mem.h"
#include "source.h"
#include "source_int.h"
#include "watch.h"

#define DIR_MAX_ENTRIES	100000
#define DIR_MAX_DEPTH	32
#define DIR_REV_SIZE	32

struct source {
	enum source_kind	 kind;
	struct gitsync		*gs;
	char			*dir;
	char			 revision[DIR_REV_SIZE];
	char			 candidate[DIR_REV_SIZE];
	char			 rejected[DIR_REV_SIZE];
	char			*last_error;
	unsigned		 failures;	/* consecutive failed prepares */
};

struct dirhash {
	uint64_t	sum;
	size_t		count;
};

/* Order-independent: the sum of one hash per entry. */
static int
hash_dir(struct dirhash *h, const char *dir, const char *rel, int depth)
{
	DIR *d;
	struct dirent *de;
	struct stat st;
	uint64_t eh;
	char *path, *relp;
	int error = 0;

	if (depth > DIR_MAX_DEPTH) {
		err_set("%s: nested deeper than %d", dir, DIR_MAX_DEPTH);
		return ERR_LIMIT;
	}
	if ((d = opendir(dir)) == NULL) {
		int saved = errno;

		err_set("open %s: %s", dir, strerror(saved));
		return saved == ENOENT || saved == ENOTDIR ? ERR_NOTFOUND :
		    ERR_GENERIC;
	}
	while (error == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (++h->count > DIR_MAX_ENTRIES) {
			err_set("%s: more than %d entries", dir, DIR_MAX_ENTRIES);
			error = ERR_LIMIT;
			break;
		}
		path = xasprintf("%s/%s", dir, de->d_name);
		relp = xasprintf("%s/%s", rel, de->d_name);
		if (lstat(path, &st) == 0) {
			uint64_t v[4] = { (uint64_t)st.st_mode,
			    (uint64_t)st.st_size, (uint64_t)st.st_mtim.tv_sec,
			    (uint64_t)st.st_mtim.tv_nsec };

			eh = fnv1a(FNV_OFFSET, relp, strlen(relp) + 1);
			eh = fnv1a(eh, v, sizeof(v));
			h->sum += eh;
			if (S_ISDIR(st.st_mode))
				error = hash_dir(h, path, relp, depth + 1);
		}
		free(path);
		free(relp);
	}
	closedir(d);
	return error;
}

int
source_dir_revision(char *out, size_t outsz, const char *dir)
{
	struct dirhash h = { 0, 0 };
	struct stat st;
	int error;

	if (stat(dir, &st) == -1) {
		err_set("spec directory %s: %s", dir, strerror(errno));
		return ERR_NOTFOUND;
	}
	if (!S_ISDIR(st.st_mode)) {
		err_set("spec directory %s: not a directory", dir);
		return ERR_NOTFOUND;
	}
	if ((error = hash_dir(&h, dir, "", 0)) != 0)
		return error;
	h.sum += fnv1a(FNV_OFFSET, &h.count, sizeof(h.count));
	if ((size_t)snprintf(out, outsz, "dir:%016" PRIx64, h.sum) >= outsz) {
		err_set("revision buffer too small");
		return ERR_INVALID;
	}
	return 0;
}

int
source_new(struct source **out, const struct source_opts *opts)
{
	struct source *s;
	int error = ERR_INVALID;

	*out = NULL;
	s = xcalloc(1, sizeof(*s));
	s->kind = opts->kind;
	if (opts->kind == SOURCE_GIT) {
		if ((error = gitsync_new(&s->gs, &opts->git)) != 0)
			goto out;
	} else {
		if (opts->dir == NULL || *opts->dir == '\0') {
			err_set("source: no spec directory");
			goto out;
		}
		s->dir = xstrdup(opts->dir);
	}
	*out = s;
	s = NULL;
	error = 0;
out:
	source_free(s);
	return error;
}

void
source_free(struct source *s)
{
	if (s == NULL)
		return;
	gitsync_free(s->gs);
	free(s->dir);
	free(s->last_error);
	free(s);
}

enum source_kind
source_kind(const struct source *s)
{
	return s->kind;
}

static void
set_error(struct source *s, const char *msg)
{
	free(s->last_error);
	s->last_error = msg != NULL ? xstrdup(msg) : NULL;
}

static int
dir_prepare(struct source *s, int *freshp)
{
	char rev[DIR_REV_SIZE];
	int error;

	s->candidate[0] = '\0';
	if ((error = source_dir_revision(rev, sizeof(rev), s->dir)) != 0) {
		set_error(s, err_get());
		return error;
	}
	if (strcmp(rev, s->revision) == 0 || strcmp(rev, s->rejected) == 0)
		return 0;
	memcpy(s->candidate, rev, sizeof(rev));
	*freshp = 1;
	return 0;
}

int
source_prepare(struct source *s, int *freshp)
{
	int error;

	*freshp = 0;
	if (s->gs != NULL)
		error = gitsync_prepare(s->gs, freshp);
	else
		error = dir_prepare(s, freshp);
	if (error < 0) {
		if (s->failures < UINT_MAX)
			s->failures++;
	} else
		s->failures = 0;
	return error;
}

unsigned
source_failures(const struct source *s)
{
	return s->failures;
}

uint64_t
source_backoff_ms(uint64_t interval_ms, uint64_t cap_ms, unsigned failures)
{
	uint64_t d = interval_ms;
	unsigned i;

	if (cap_ms < interval_ms)
		cap_ms = interval_ms;
	for (i = 1; i < failures && d < cap_ms; i++)
		d = d > cap_ms / 2 ? cap_ms : d * 2;
	return d < cap_ms ? d : cap_ms;
}

const char *
source_candidate_dir(const struct source *s)
{
	if (s->gs != NULL)
		return gitsync_candidate_dir(s->gs);
	return s->candidate[0] != '\0' ? s->dir : NULL;
}

const char *
source_candidate_revision(const struct source *s)
{
	if (s->gs != NULL)
		return gitsync_candidate_revision(s->gs);
	return s->candidate[0] != '\0' ? s->candidate : NULL;
}

int
source_candidate_forced(const struct source *s)
{
	return s->gs != NULL ? gitsync_candidate_forced(s->gs) : 0;
}

int
source_publish(struct source *s)
{
	if (s->gs != NULL)
		return gitsync_publish(s->gs);
	if (s->candidate[0] == '\0') {
		err_set("source: nothing to publish");
		return ERR_INVALID;
	}
	memcpy(s->revision, s->candidate, sizeof(s->revision));
	s->candidate[0] = '\0';
	s->rejected[0] = '\0';
	set_error(s, NULL);
	return 0;
}

void
source_discard(struct source *s, const char *reason)
{
	char *msg;

	if (s->gs != NULL) {
		gitsync_discard(s->gs, reason);
		return;
	}
	if (s->candidate[0] == '\0')
		return;
	msg = xasprintf("%s rejected: %s", s->candidate,
	    reason != NULL ? reason : "rejected by the caller");
	log_warnx("source: dir=%s %s; keeping revision %s", s->dir, msg,
	    s->revision[0] ? s->revision : "(none)");
	set_error(s, msg);
	free(msg);
	memcpy(s->rejected, s->candidate, sizeof(s->rejected));
	s->candidate[0] = '\0';
}

const char *
source_dir(const struct source *s)
{
	if (s->gs != NULL)
		return gitsync_tree_dir(s->gs);
	return s->revision[0] != '\0' ? s->dir : NULL;
}

const char *
source_revision(const struct source *s)
{
	if (s->gs != NULL)
		return gitsync_revision(s->gs);
	return s->revision[0] != '\0' ? s->revision : NULL;
}

const char *
source_last_error(const struct source *s)
{
	if (s->gs != NULL)
		return gitsync_last_error(s->gs);
	return s->last_error;
}

const char *
source_watch_path(const struct source *s)
{
	return s->gs != NULL ? gitsync_state_dir(s->gs) : s->dir;
}

int
source_watch_flags(const struct source *s)
{
	return s->gs != NULL ? 0 : WATCH_RECURSIVE;
}
