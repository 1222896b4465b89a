/*
 * source.h - where the specs come from: a git branch (gitsync.h) or a
 * plain local directory, behind one two-step interface.
 *
 *	source_prepare(src, &fresh)     is there a new revision?  if so a
 *	                                candidate dir to load
 *	source_publish(src) / source_discard(src, why)
 *	source_dir(src), source_revision(src)   what the last good pass read
 *
 * Revisions: a git source's is the commit id; a plain directory's is
 * "dir:<16 hex>", a hash of every entry's relative path, type, size and
 * mtime (nanoseconds), so any edit changes it.  A plain directory cannot
 * be published atomically: its candidate is the directory itself, read
 * live.  A git source is libgit2-based: see gitsync.h for who calls
 * git_libgit2_init().
 */
#ifndef ENVCTL_SOURCE_H
#define ENVCTL_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "gitsync.h"

struct source;

enum source_kind {
	SOURCE_DIR = 0,
	SOURCE_GIT,
};

struct source_opts {
	enum source_kind	 kind;
	const char		*dir;	/* SOURCE_DIR */
	struct gitsync_opts	 git;	/* SOURCE_GIT */
};

/* Strings in opts are copied.  *out is the caller's (source_free()). */
int		 source_new(struct source **out, const struct source_opts *opts);
void		 source_free(struct source *);
/* SOURCE_DIR or SOURCE_GIT, as created. */
enum source_kind source_kind(const struct source *);

/*
 * Look for a new revision.  *freshp = 1 when source_candidate_dir() has
 * one to load; 0 when nothing changed.  Negative on failure (err_get(),
 * source_last_error()); the last good revision is kept.  Each failure
 * adds one to source_failures(); a call that succeeds resets it.
 */
int		 source_prepare(struct source *, int *freshp);
/* Consecutive failed source_prepare() calls; 0 after a success. */
unsigned	 source_failures(const struct source *);
/*
 * The back-off of a failing source: how long to wait before the next
 * source_prepare() after `failures` consecutive failures.  interval_ms
 * when failures is 0 (the ordinary poll); then interval_ms, 2x, 4x, ...
 * doubling per failure up to cap_ms (a cap below interval_ms is
 * interval_ms).  Pure: the caller owns the clock.  A caller that polls
 * only on this schedule makes at most one fetch, and so at most one
 * fresh clone of a git mirror, per step.
 */
uint64_t	 source_backoff_ms(uint64_t interval_ms, uint64_t cap_ms,
		    unsigned failures);
const char	*source_candidate_dir(const struct source *);
const char	*source_candidate_revision(const struct source *);
/* 1 if the candidate rewrites history (git force-push); 0 otherwise. */
int		 source_candidate_forced(const struct source *);
/* Accept the candidate as the new good revision. */
int		 source_publish(struct source *);
/* Reject it (reason copied); the revision stays the last good one. */
void		 source_discard(struct source *, const char *reason);

/*
 * The good tree to read and its revision; NULL before the first publish.
 * For git the directory is the commit's own tree (gitsync_tree_dir()), so
 * the two always agree.
 */
const char	*source_dir(const struct source *);
const char	*source_revision(const struct source *);
const char	*source_last_error(const struct source *);
/* The path to hand to watch_new(): the state dir (git) or the dir itself. */
const char	*source_watch_path(const struct source *);
/* WATCH_RECURSIVE for a plain directory, 0 for git. */
int		 source_watch_flags(const struct source *);

/*
 * The revision of a plain directory as described above, into out
 * (at least 21 bytes).  ERR_NOTFOUND if dir is missing, ERR_LIMIT past
 * 100000 entries or 32 levels.
 */
int		 source_dir_revision(char *out, size_t outsz, const char *dir);

#endif
