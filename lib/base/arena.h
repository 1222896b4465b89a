/*
 * arena.h - a bump allocator: many small pieces freed at once.  Chunks
 * grow from 2 KiB to 64 KiB (below glibc's mmap threshold); a piece
 * larger than a quarter chunk gets a chunk of its own without wasting the
 * current one.  Used for a spec tree and its parse (lib/spec), a plan's
 * strings (lib/reconcile) and a pass's rows (lib/store).
 */
#ifndef ENVCTL_ARENA_H
#define ENVCTL_ARENA_H

#include <stddef.h>

struct arena_chunk;
struct arena {
	struct arena_chunk	*head;
};

void	 arena_init(struct arena *);
void	 arena_dispose(struct arena *);
/* Forget everything allocated but keep the newest chunk for reuse. */
void	 arena_reset(struct arena *);
/* Zeroed, aligned memory owned by the arena (aborts on exhaustion). */
void	*arena_alloc(struct arena *, size_t);
/* Strings are packed byte by byte, unaligned. */
char	*arena_strndup(struct arena *, const char *, size_t);
char	*arena_strdup(struct arena *, const char *);
/* Bytes the arena holds from malloc, headers included. */
size_t	 arena_bytes(const struct arena *);

#endif
