/* helpers.h - shared by the lib/source tests. */
#ifndef TEST_SOURCE_HELPERS_H
#define TEST_SOURCE_HELPERS_H

#include <stdint.h>

/* A fresh temp dir (caller frees, removes with rmtree()). */
char	*tmpdir_new(void);
void	 rmtree(char *dir);
/* Run a shell command; the test fails if it exits non-zero. */
void	 sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Write content to dir/rel (parents created). */
void	 put(const char *dir, const char *rel, const char *content);
/* The contents of a small file (caller frees), NULL if unreadable. */
char	*slurp(const char *path);
uint64_t now_us(void);

/* cmocka groups (main.c runs them) */
int	 run_source_tests(void);
int	 run_watch_tests(void);

#endif
