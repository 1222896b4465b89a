/*
 * source_probe - drive lib/source from integration tests.
 *
 *   source_probe sync STATE URL BRANCH [SUBPATH]
 *	one pass: prepare; a candidate is "loaded" by checking that no file
 *	in it contains the word INVALID; publish or discard.  Prints
 *	result=published|unchanged|rejected|error revision=<rev>
 *	forced=0|1 [error=<why>]; exits 0, 0, 3, 1.  Credentials come from
 *	the environment: PROBE_TOKEN_FILE (http(s) token file), PROBE_CA_FILE
 *	(extra CAs for https), PROBE_SSH_KEY and PROBE_KNOWN_HOSTS (ssh).
 *   source_probe watch DIR TIMEOUT_MS
 *	watch DIR, wait for one change; prints changed|overflow|timeout.
 */
#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <git2.h>

#include "err.h"
#include "log.h"
#include "mem.h"
#include "source.h"
#include "watch.h"

/* The stand-in for spec loading: 0 when no file under dir says INVALID. */
static int
tree_ok(const char *dir, char *why, size_t whysz)
{
	DIR *d;
	struct dirent *de;
	struct stat st;
	char *p, line[256];
	FILE *f;
	int ok = 1;

	if ((d = opendir(dir)) == NULL) {
		snprintf(why, whysz, "cannot open %s", dir);
		return 0;
	}
	while (ok && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			ok = tree_ok(p, why, whysz);
		else if ((f = fopen(p, "r")) != NULL) {
			while (fgets(line, sizeof(line), f) != NULL)
				if (strstr(line, "INVALID") != NULL) {
					snprintf(why, whysz, "%s: INVALID",
					    de->d_name);
					ok = 0;
				}
			fclose(f);
		}
		free(p);
	}
	closedir(d);
	return ok;
}

static int
do_sync(int argc, char **argv)
{
	struct source_opts o = { .kind = SOURCE_GIT };
	struct source *s = NULL;
	const char *result = "error";
	char why[512] = "";
	int fresh = 0, forced = 0, rc = 1;

	if (argc < 5)
		return 2;
	o.git.state_dir = argv[2];
	o.git.url = argv[3];
	o.git.branch = argv[4];
	o.git.subpath = argc > 5 ? argv[5] : NULL;
	/* https/http: the token file (its contents are never printed) */
	o.git.token_file = getenv("PROBE_TOKEN_FILE");
	o.git.ca_file = getenv("PROBE_CA_FILE");
	o.git.ssh_key_file = getenv("PROBE_SSH_KEY");
	o.git.ssh_known_hosts = getenv("PROBE_KNOWN_HOSTS");
	if (source_new(&s, &o) != 0) {
		printf("result=error error=%s\n", err_get());
		return 1;
	}
	if (source_prepare(s, &fresh) != 0) {
		snprintf(why, sizeof(why), "%s", err_get());
	} else if (!fresh) {
		result = "unchanged";
		rc = 0;
	} else {
		forced = source_candidate_forced(s);
		if (tree_ok(source_candidate_dir(s), why, sizeof(why))) {
			if (source_publish(s) == 0) {
				result = "published";
				rc = 0;
			} else
				snprintf(why, sizeof(why), "%s", err_get());
		} else {
			source_discard(s, why);
			result = "rejected";
			rc = 3;
		}
	}
	printf("result=%s revision=%s forced=%d%s%s\n", result,
	    source_revision(s) ? source_revision(s) : "none", forced,
	    why[0] ? " error=" : "", why);
	fflush(stdout);		/* before a sanitizer's exit at the end */
	source_free(s);
	return rc;
}

static int
do_watch(int argc, char **argv)
{
	struct watch *w;
	struct pollfd pfd;
	enum watch_result r;
	const char *paths[1];

	if (argc < 4)
		return 2;
	paths[0] = argv[2];
	if (watch_new(&w, paths, 1, WATCH_RECURSIVE) != 0) {
		printf("error %s\n", err_get());
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	pfd.fd = watch_fd(w);
	pfd.events = POLLIN;
	for (;;) {
		if (poll(&pfd, 1, (int)strtol(argv[3], NULL, 10)) <= 0) {
			printf("timeout\n");
			break;
		}
		if (watch_read(w, &r) != 0) {
			printf("error %s\n", err_get());
			break;
		}
		if (r != WATCH_NONE) {
			printf("%s\n", r == WATCH_OVERFLOW ? "overflow" :
			    "changed");
			break;
		}
	}
	watch_free(w);
	return 0;
}

int
main(int argc, char **argv)
{
	int rc = 2;

	log_init("source_probe", LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	git_libgit2_init();
	if (argc > 1 && strcmp(argv[1], "sync") == 0)
		rc = do_sync(argc, argv);
	else if (argc > 1 && strcmp(argv[1], "watch") == 0)
		rc = do_watch(argc, argv);
	else
		fprintf(stderr, "usage: source_probe sync STATE URL BRANCH "
		    "[SUBPATH] | watch DIR TIMEOUT_MS\n");
	git_libgit2_shutdown();
	return rc;
}
