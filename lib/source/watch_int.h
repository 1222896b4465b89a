/*
 * watch_int.h - the event decoder, exposed for tests.
 */
#ifndef ENVCTL_WATCH_INT_H
#define ENVCTL_WATCH_INT_H

#include <stddef.h>
#include <sys/inotify.h>

#include "watch.h"

/* Called for each well-formed event; arg is the decoder's caller's. */
typedef void watch_event_fn(const struct inotify_event *, void *arg);

/*
 * Walk the inotify records in buf[0..len), call fn (if not NULL) for
 * each, and fold them into *out: WATCH_OVERFLOW beats WATCH_CHANGED beats
 * WATCH_NONE.  A truncated record ends the walk.  Returns the number of
 * records seen.  Pure apart from fn.
 */
size_t	 watch_decode(const void *buf, size_t len, enum watch_result *out,
	    watch_event_fn *fn, void *arg);

#endif
