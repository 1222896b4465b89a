#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <git2.h>

#include "helpers.h"
#include "mem.h"
#include "source_int.h"

char *
tmpdir_new(void)
{
	char *d = xstrdup("/tmp/envctl-source-XXXXXX");

	assert_non_null(mkdtemp(d));
	return d;
}

void
rmtree(char *dir)
{
	if (dir == NULL)
		return;
	(void)fs_remove_tree(dir);
	free(dir);
}

void
sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int rc;

	va_start(ap, fmt);
	cmd = xvasprintf(fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
	free(cmd);
	assert_int_equal(rc, 0);
}

void
put(const char *dir, const char *rel, const char *content)
{
	char *path = xasprintf("%s/%s", dir, rel);
	char *slash = strrchr(path, '/');
	FILE *f;

	*slash = '\0';
	assert_int_equal(fs_mkdir_p(path, 0755), 0);
	*slash = '/';
	assert_non_null(f = fopen(path, "w"));
	fputs(content, f);
	assert_int_equal(fclose(f), 0);
	free(path);
}

char *
slurp(const char *path)
{
	char *data;

	if (fs_read_small(&data, NULL, path, 1 << 20) != 0)
		return NULL;
	return data;
}

uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Open file descriptors of this process, to catch fd leaks. */
static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

int
main(void)
{
	char *home;
	int fails = 0, fds;

	/* git CLI: no system or user config, a known identity */
	home = tmpdir_new();
	setenv("HOME", home, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_AUTHOR_NAME", "envctl test", 1);
	setenv("GIT_AUTHOR_EMAIL", "test@envctl.invalid", 1);
	setenv("GIT_COMMITTER_NAME", "envctl test", 1);
	setenv("GIT_COMMITTER_EMAIL", "test@envctl.invalid", 1);
	/* the process initialises libgit2 once (gitsync.h) */
	git_libgit2_init();
	fds = count_fds();
	fails += run_source_tests();
	fails += run_watch_tests();
	git_libgit2_shutdown();
	if (count_fds() != fds) {
		fprintf(stderr, "file descriptors leaked: %d open before the "
		    "tests, %d after\n", fds, count_fds());
		fails++;
	}
	rmtree(home);
	return fails != 0;
}
