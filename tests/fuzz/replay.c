/*
 * replay.c - run a libFuzzer target's LLVMFuzzerTestOneInput once over
 * each file of its seed corpus, without libFuzzer (any compiler), so the
 * normal and the sanitized builds test the corpora and the targets.
 *
 *	fuzz_xml_replay DIR|FILE...
 *
 * Every regular file of a directory (not recursive) is one input.  Exits
 * 1 when an argument cannot be read or no input was found (an empty or
 * misplaced corpus must not pass); a target's failure is its abort().
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "mem.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT	(16 * 1024 * 1024)

/* Read path whole and run the target on it; -1 when it cannot be read. */
static int
replay_file(const char *path)
{
	struct buf b;
	char chunk[8192];
	uint8_t *data = NULL;
	size_t n;
	FILE *f = NULL;
	int error = -1;

	buf_init(&b, REPLAY_MAX_INPUT);
	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		goto done;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_add(&b, chunk, n) != 0) {
			fprintf(stderr, "replay: %s: too large\n", path);
			goto done;
		}
	if (ferror(f)) {
		fprintf(stderr, "replay: %s: read error\n", path);
		goto done;
	}
	/* A copy of the exact size, so ASan sees any read past the end. */
	data = xmalloc(b.len > 0 ? b.len : 1);
	if (b.len > 0)
		memcpy(data, b.ptr, b.len);
	(void)LLVMFuzzerTestOneInput(data, b.len);
	error = 0;
done:
	free(data);
	if (f != NULL)
		fclose(f);
	buf_dispose(&b);
	return error;
}

/* Run every regular file of dir; the number run, or -1. */
static long
replay_dir(const char *dir)
{
	struct dirent *de;
	struct stat st;
	long count = 0;
	char *path;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while (count >= 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			count = replay_file(path) == 0 ? count + 1 : -1;
		free(path);
	}
	closedir(d);
	return count;
}

int
main(int argc, char **argv)
{
	struct stat st;
	long total = 0, n;
	int i;

	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) :
		    replay_file(argv[i]) == 0 ? 1 : -1;
		if (n < 0)
			return 1;
		total += n;
	}
	if (total == 0) {
		fprintf(stderr, "replay: no input\n");
		return 1;
	}
	printf("replay: %ld inputs, no failure\n", total);
	return 0;
}
