/*
 * duration.h - "30s", "5m", "8h", "1h30m", "2d" <-> seconds.
 */
#ifndef ENVCTL_DURATION_H
#define ENVCTL_DURATION_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse s: one or more <digits><unit> groups, unit one of s m h d, units
 * in decreasing order, each at most once ("1h30m", not "30m1h").  A bare
 * "0" is zero.  Sets *out to seconds; ERR_INVALID with a message on bad
 * input, ERR_LIMIT past 10 years.
 */
int	 duration_parse(long long *out, const char *s);
/* Write secs as the shortest such string ("1h30m", "0s") into out. */
char	*duration_format(char *out, size_t outsz, long long secs);
/* Milliseconds of CLOCK_MONOTONIC: for deadlines and elapsed times. */
uint64_t duration_mono_ms(void);

#endif
