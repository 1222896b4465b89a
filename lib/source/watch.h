/*
 * watch.h - inotify on the spec tree, for the controller's poll loop.
 *
 * watch_new() watches each path (a directory; with WATCH_RECURSIVE its
 * subdirectories too, including ones created later).  The fd is
 * nonblocking: put it in poll() and call watch_read() when it is readable;
 * it drains every queued event and folds them into one verdict, so a burst
 * of writes is one "changed".  The caller debounces (it owns the timer);
 * watch_debounce_deadline() computes when to act.
 *
 * Events that count: IN_CLOSE_WRITE, IN_MOVED_TO/FROM, IN_CREATE,
 * IN_DELETE, IN_ATTRIB.  IN_DELETE_SELF/IN_MOVE_SELF on a watched path
 * counts as a change and the path is watched again as soon as it exists
 * (immediately if it does, else at the next watch_read()/watch_refresh()).
 * IN_Q_OVERFLOW means events were lost: WATCH_OVERFLOW, do a full rescan.
 * A subdirectory moved out of a recursive tree is no longer watched.
 *
 * A path that is a symlink to a directory (a Kubernetes ConfigMap's
 * "..data", a deploy tool's "current") is watched through the link, and
 * its parent directory is watched too: replacing the link is a change and
 * the new target is watched from then on.  Other changes in that parent
 * also count as changes (a spurious rescan, never a missed one).
 *
 * For a git source watch the state directory (the swap of "current" is a
 * rename in it); for a plain directory watch the directory, recursively.
 */
#ifndef ENVCTL_WATCH_H
#define ENVCTL_WATCH_H

#include <stddef.h>
#include <stdint.h>

struct watch;

enum watch_result {
	WATCH_NONE	= 0,	/* nothing relevant (or nothing queued) */
	WATCH_CHANGED	= 1,	/* something in a watched tree changed */
	WATCH_OVERFLOW	= 2,	/* events were lost: rescan everything */
};

#define WATCH_RECURSIVE	0x1

/*
 * Watch npaths paths with flags.  A path that does not exist yet is an
 * error (ERR_NOTFOUND).  *out is the caller's, freed with watch_free().
 */
int		 watch_new(struct watch **out, const char *const *paths,
		    size_t npaths, int flags);
void		 watch_free(struct watch *);
/* The inotify fd (nonblocking, close-on-exec); owned by the watch. */
int		 watch_fd(const struct watch *);
/*
 * Drain the queue (never blocks) and say what happened; 0 on success
 * (including "nothing queued": *out = WATCH_NONE), negative on a read error.
 */
int		 watch_read(struct watch *, enum watch_result *out);
/* Re-add watches lost to a delete/move of the path; WATCH_CHANGED if any came back. */
int		 watch_refresh(struct watch *, enum watch_result *out);

/*
 * Trailing-edge debounce with a ceiling: act quiet_ms after the last
 * event, but never later than max_ms after the first event of the burst.
 * All times in the same monotonic milliseconds.  Pure.
 */
uint64_t	 watch_debounce_deadline(uint64_t first_event_ms,
		    uint64_t last_event_ms, uint64_t quiet_ms, uint64_t max_ms);

#endif
