/*
 * test_source.c - gitsync and the source abstraction against real git
 * repositories made with the git CLI in a temp dir.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "err.h"
#include "failpoint.h"
#include "gitsync.h"
#include "helpers.h"
#include "log.h"
#include "mem.h"
#include "source.h"
#include "source_int.h"

struct fx {
	char	*tmp;
	char	*repo;		/* working repository (the "remote") */
	char	*state;
};

static int
fx_setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	f->tmp = tmpdir_new();
	f->repo = xasprintf("%s/repo", f->tmp);
	f->state = xasprintf("%s/state", f->tmp);
	sh("git init -q -b main %s", f->repo);
	*state = f;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *f = *state;

	free(f->repo);
	free(f->state);
	rmtree(f->tmp);
	free(f);
	return 0;
}

/* Commit everything in the repo; returns the commit id (caller frees). */
static char *
commit(struct fx *f, const char *msg)
{
	char *head, *path;
	size_t len;

	sh("cd %s && git add -A && git commit -q --allow-empty -m '%s' && "
	    "git rev-parse HEAD > ../head", f->repo, msg);
	path = xasprintf("%s/head", f->tmp);
	head = slurp(path);
	free(path);
	assert_non_null(head);
	len = strlen(head);
	while (len > 0 && head[len - 1] == '\n')
		head[--len] = '\0';
	assert_int_equal(len, 40);
	return head;
}

static struct gitsync *
gs_new(struct fx *f, const char *subpath)
{
	struct gitsync_opts o = { .url = f->repo, .branch = "main",
	    .subpath = subpath, .state_dir = f->state };
	struct gitsync *gs;

	assert_int_equal(gitsync_new(&gs, &o), 0);
	return gs;
}

/* state/current's target, e.g. "trees/<id>" (static buffer). */
static const char *
current_target(struct fx *f)
{
	static char target[256];
	char *link = xasprintf("%s/current", f->state);
	ssize_t n = readlink(link, target, sizeof(target) - 1);

	free(link);
	if (n < 0)
		return NULL;
	target[n] = '\0';
	return target;
}

static char *
read_current(struct fx *f, const char *rel)
{
	char *p = xasprintf("%s/current/%s", f->state, rel);
	char *data = slurp(p);

	free(p);
	return data;
}

static int
tree_exists(struct fx *f, const char *rev)
{
	struct stat st;
	char *p = xasprintf("%s/trees/%s", f->state, rev);
	int r = stat(p, &st) == 0;

	free(p);
	return r;
}

static ino_t
ino_of(struct fx *f, const char *rev, const char *rel)
{
	struct stat st;
	char *p = xasprintf("%s/trees/%s/%s", f->state, rev, rel);

	assert_int_equal(lstat(p, &st), 0);
	free(p);
	return st.st_ino;
}

/* prepare + publish, asserting a candidate with revision rev */
static void
sync_publish(struct gitsync *gs, const char *rev)
{
	int fresh = -1;

	assert_int_equal(gitsync_prepare(gs, &fresh), 0);
	assert_int_equal(fresh, 1);
	assert_string_equal(gitsync_candidate_revision(gs), rev);
	assert_int_equal(gitsync_publish(gs), 0);
	assert_string_equal(gitsync_revision(gs), rev);
}

static void
test_source__first_fetch_publishes(void **state)
{
	struct fx *f = *state;
	struct gitsync *gs;
	char *a, *data, *want;
	int fresh = -1;

	put(f->repo, "web.yaml", "name: web\n");
	put(f->repo, "db/db.yaml", "name: db\n");
	a = commit(f, "A");
	gs = gs_new(f, NULL);
	assert_null(gitsync_revision(gs));
	assert_null(gitsync_current_dir(gs));
	assert_int_equal(gitsync_prepare(gs, &fresh), 0);
	assert_int_equal(fresh, 1);
	assert_string_equal(gitsync_candidate_revision(gs), a);
	/* the candidate is complete before anything is published */
	assert_null(current_target(f));
	data = xasprintf("%s/web.yaml", gitsync_candidate_dir(gs));
	free(want = slurp(data));
	assert_non_null(want);
	free(data);
	assert_int_equal(gitsync_publish(gs), 0);

	want = xasprintf("trees/%s", a);
	assert_string_equal(current_target(f), want);
	free(want);
	assert_string_equal(gitsync_revision(gs), a);
	assert_null(gitsync_candidate_dir(gs));
	assert_null(gitsync_last_error(gs));
	assert_string_equal(data = read_current(f, "web.yaml"), "name: web\n");
	free(data);
	assert_string_equal(data = read_current(f, "db/db.yaml"), "name: db\n");
	free(data);
	/* no .git and nothing but the commit's files */
	assert_null(read_current(f, ".git/HEAD"));

	/* nothing new: no candidate */
	assert_int_equal(gitsync_prepare(gs, &fresh), 0);
	assert_int_equal(fresh, 0);
	gitsync_free(gs);

	/* a new instance reads the published revision back from "current" */
	gs = gs_new(f, NULL);
	{
		/* and holds the state dir: a second user is refused */
		struct gitsync_opts o = { .url = f->repo, .state_dir = f->state };
		struct gitsync *other;

		assert_int_equal(gitsync_new(&other, &o), ERR_CONFLICT);
		assert_null(other);
		assert_non_null(strstr(err_get(), "in use by another process"));
	}
	assert_string_equal(gitsync_revision(gs), a);
	assert_int_equal(gitsync_prepare(gs, &fresh), 0);
	assert_int_equal(fresh, 0);
	want = xasprintf("%s/trees/%s", f->state, a);
	assert_string_equal(gitsync_tree_dir(gs), want);
	free(want);

	/* the published tree removed by hand: the same commit comes back */
	rmtree(xasprintf("%s/trees/%s", f->state, a));
	assert_null(read_current(f, "web.yaml"));
	sync_publish(gs, a);
	assert_string_equal(data = read_current(f, "web.yaml"), "name: web\n");
	free(data);
	gitsync_free(gs);
	free(a);
}

static void
test_source__new_commit_swaps_atomically(void **state)
{
	struct fx *f = *state;
	struct gitsync *gs;
	char *a, *b, *c, *data, *want, *p;
	char buf[64];
	int fd, fresh;
	ssize_t n;

	put(f->repo, "web.yaml", "rev: A\n");
	put(f->repo, "team/keep.yaml", "same in A and B\n");
	a = commit(f, "A");
	gs = gs_new(f, NULL);
	sync_publish(gs, a);

	/* a pass that is reading A holds a file open through "current" */
	p = xasprintf("%s/current/web.yaml", f->state);
	assert_true((fd = open(p, O_RDONLY)) >= 0);
	free(p);

	put(f->repo, "web.yaml", "rev: B\n");
	put(f->repo, "new.yaml", "new\n");
	b = commit(f, "B");
	assert_int_equal(gitsync_prepare(gs, &fresh), 0);
	assert_int_equal(fresh, 1);
	assert_int_equal(gitsync_candidate_forced(gs), 0);
	/* prepared but not published: readers still see A */
	assert_string_equal(data = read_current(f, "web.yaml"), "rev: A\n");
	free(data);
	assert_string_equal(gitsync_revision(gs), a);
	assert_int_equal(gitsync_publish(gs), 0);

	want = xasprintf("trees/%s", b);
	assert_string_equal(current_target(f), want);
	free(want);
	assert_string_equal(data = read_current(f, "web.yaml"), "rev: B\n");
	free(data);
	assert_string_equal(data = read_current(f, "new.yaml"), "new\n");
	free(data);
	/* the reader of A is undisturbed, and A's tree is kept */
	n = read(fd, buf, sizeof(buf) - 1);
	assert_int_equal(n, 7);
	buf[n] = '\0';
	assert_string_equal(buf, "rev: A\n");
	close(fd);
	assert_true(tree_exists(f, a));
	/* unchanged files are hard links to A's, changed ones new files */
	assert_int_equal(ino_of(f, a, "team/keep.yaml"),
	    ino_of(f, b, "team/keep.yaml"));
	assert_int_not_equal(ino_of(f, a, "web.yaml"), ino_of(f, b, "web.yaml"));
	assert_string_equal(data = read_current(f, "team/keep.yaml"),
	    "same in A and B\n");
	free(data);

	/* the next publish removes A, keeps B (previous) and C */
	put(f->repo, "web.yaml", "rev: C\n");
	c = commit(f, "C");
	sync_publish(gs, c);
	assert_false(tree_exists(f, a));
	/* removing A's tree leaves the files it shared with B and C intact */
	assert_string_equal(data = read_current(f, "team/keep.yaml"),
	    "same in A and B\n");
	free(data);
	assert_true(tree_exists(f, b));
	assert_true(tree_exists(f, c));
	gitsync_free(gs);
	free(a);
	free(b);
	free(c);
}

struct reader {
	const char	*state;
	volatile int	 stop;
	int		 reads;
	int		 torn;
	int		 missing;
};

static char *
read_at(int dfd, const char *name)
{
	char buf[64];
	ssize_t n;
	int fd;

	if ((fd = openat(dfd, name, O_RDONLY)) == -1)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return xstrdup(buf);
}

/*
 * Read two files of the same commit the way a pass does (open "current"
 * once, read below that fd): they must always agree.
 */
static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	char *dir = xasprintf("%s/current", r->state);
	char *x, *y;
	int dfd;

	while (!r->stop) {
		if ((dfd = open(dir, O_RDONLY | O_DIRECTORY)) == -1) {
			r->missing++;
			continue;
		}
		x = read_at(dfd, "a.yaml");
		y = read_at(dfd, "b.yaml");
		if (x == NULL || y == NULL)
			r->missing++;
		else if (strcmp(x, y) != 0)
			r->torn++;
		r->reads++;
		free(x);
		free(y);
		close(dfd);
	}
	free(dir);
	return NULL;
}

static void
test_source__readers_never_see_a_mix(void **state)
{
	struct fx *f = *state;
	struct gitsync *gs;
	struct reader r = { .state = f->state };
	pthread_t t;
	char *rev, n[32];
	int i;

	put(f->repo, "a.yaml", "0\n");
	put(f->repo, "b.yaml", "0\n");
	rev = commit(f, "c0");
	gs = gs_new(f, NULL);
	sync_publish(gs, rev);
	free(rev);
	assert_int_equal(pthread_create(&t, NULL, reader_main, &r), 0);
	for (i = 1; i <= 8; i++) {
		snprintf(n, sizeof(n), "%d\n", i);
		put(f->repo, "a.yaml", n);
		put(f->repo, "b.yaml", n);
		rev = commit(f, "next");
		sync_publish(gs, rev);
		free(rev);
	}
	r.stop = 1;
	pthread_join(t, NULL);
	print_message("readers: %d reads during 8 publishes, %d torn, "
	    "%d missing\n", r.reads, r.torn, r.missing);
	assert_true(r.reads > 0);
	assert_int_equal(r.torn, 0);
	assert_int_equal(r.missing, 0);
	gitsync_free(gs);
}

static void
test_source__rejected_keeps_last_good(void **state)
{
	struct fx *f = *state;
	struct gitsync *gs;
	char *a, *b, *c, *data, *want;
	int fresh;

	put(f->repo, "web.yaml", "good\n");
	a = commit(f, "A");
	gs = gs_new(f, NULL);
	sync_publish(gs, a);

	put(f->repo, "web.yaml", "bad: [\n");
	b = commit(f, "B");
	assert_int_equal(gitsync_prepare(gs, &fresh), 0);
	assert_int_equal(fresh, 1);
	assert_string_equal(gitsync_candidate_revision(gs), b);
	gitsync_discard(gs, "web.yaml:1:6: unexpected end");

	assert_string_equal(gitsync_revision(gs), a);
	want = xasprintf("trees/%s", a);
	assert_string_equal(current_target(f), want);
	free(want);
	assert_string_equal(data = read_current(f, "web.yaml"), "good\n");
	free(data);
	assert_non_null(gitsync_last_error(gs));
	assert_non_null(strstr(gitsync_last_error(gs), b));
	assert_non_null(strstr(gitsync_last_error(gs), "web.yaml:1:6"));
	assert_false(tree_exists(f, b));

	/* the rejected commit is not offered again; the reason stays */
	assert_int_equal(gitsync_prepare(gs, &fresh), 0);
	assert_int_equal(fresh, 0);
	assert_non_null(strstr(gitsync_last_error(gs), "web.yaml:1:6"));

	/* a fix is */
	put(f->repo, "web.yaml", "fixed\n");
	c = commit(f, "C");
	sync_publish(gs, c);
	assert_null(gitsync_last_error(gs));
	gitsync_free(gs);
	free(a);
	free(b);
	free(c);
}

/* A stand-in loader: rejects a tree whose web.yaml says "bad". */
static int
load_web(const char *dir, const char *revision, void *arg)
{
	char *p = xasprintf("%s/web.yaml", dir), *data = slurp(p);
	int *calls = arg, error = 0;

	(*calls)++;
	assert_int_equal(strlen(revision), 40);
	if (data == NULL || strstr(data, "bad") != NULL) {
		err_set("web.yaml:1:1: not a good spec");
		error = ERR_INVALID;
	}
	free(data);
	free(p);
	return error;
}

static void
test_source__fetch_with_loader(void **state)
{
	struct fx *f = *state;
	struct gitsync *gs;
	char *a, *b, *c;
	int published, calls = 0;

	put(f->repo, "web.yaml", "good\n");
	a = commit(f, "A");
	gs = gs_new(f, NULL);
	assert_int_equal(gitsync_fetch(gs, load_web, &calls, &published), 0);
	assert_int_equal(published, 1);
	assert_string_equal(gitsync_revision(gs), a);
	/* nothing new: the loader is not even called */
	assert_int_equal(gitsync_fetch(gs, load_web, &calls, &published), 0);
	assert_int_equal(published, 0);
	assert_int_equal(calls, 1);

	put(f->repo, "web.yaml", "bad\n");
	b = commit(f, "B");
	assert_int_equal(gitsync_fetch(gs, load_web, &calls, &published), 0);
	assert_int_equal(published, 0);
	assert_int_equal(calls, 2);
	assert_string_equal(gitsync_revision(gs), a);
	assert_non_null(strstr(gitsync_last_error(gs), "not a good spec"));
	assert_non_null(strstr(gitsync_last_error(gs), b));
	/* not loaded again until the branch moves */
	assert_int_equal(gitsync_fetch(gs, load_web, &calls, &published), 0);
	assert_int_equal(calls, 2);

	put(f->repo, "web.yaml", "good again\n");
	c = commit(f, "C");
	assert_int_equal(gitsync_fetch(gs, load_web, &calls, &published), 0);
	assert_int_equal(published, 1);
	assert_string_equal(gitsync_revision(gs), c);
	gitsync_free(gs);
	free(a);
	free(b);
	free(c);
}

static void
test_source__unreachable_remote(void **state)
{
	struct fx *f = *state;
	struct gitsync *gs;
	struct gitsync_opts o = { .branch = "main" };
	char *a, *gone, *url, *want, *st2;
	int fresh;

	put(f->repo, "web.yaml", "x\n");
	a = commit(f, "A");

	/* a path that never existed */
	gone = xasprintf("%s/no-such-repo", f->tmp);
	o.url = gone;
	o.state_dir = st2 = xasprintf("%s/state2", f->tmp);
	assert_int_equal(gitsync_new(&gs, &o), 0);
	assert_true(gitsync_prepare(gs, &fresh) < 0);
	assert_int_equal(fresh, 0);
	assert_non_null(strstr(err_get(), "no-such-repo: no repository there"));
	assert_non_null(strstr(gitsync_last_error(gs), "fetch"));
	assert_null(gitsync_revision(gs));
	gitsync_free(gs);
	free(st2);

	/* a file:// URL to a repository that is then removed */
	url = xasprintf("file://%s", f->repo);
	o.url = url;
	o.state_dir = f->state;
	assert_int_equal(gitsync_new(&gs, &o), 0);
	sync_publish(gs, a);
	sh("mv %s %s", f->repo, gone);
	assert_int_equal(gitsync_prepare(gs, &fresh), ERR_UNAVAILABLE);
	print_message("unreachable: %s\n", err_get());
	assert_non_null(strstr(err_get(), "fetch file://"));
	assert_string_equal(gitsync_revision(gs), a);
	want = xasprintf("trees/%s", a);
	assert_string_equal(current_target(f), want);
	free(want);
	sh("mv %s %s", gone, f->repo);
	assert_int_equal(gitsync_prepare(gs, &fresh), 0);
	assert_null(gitsync_last_error(gs));
	gitsync_free(gs);
	free(url);
	free(gone);
	free(a);
}

static void
test_source__credentials_never_in_messages(void **state)
{
	struct fx *f = *state;
	struct gitsync *gs;
	struct gitsync_opts o = { .branch = "main", .state_dir = f->state,
	    .url = "https://robot:s3cr3t-t0ken@127.0.0.1:1/specs.git" };
	int fresh;

	assert_int_equal(gitsync_new(&gs, &o), 0);
	assert_int_equal(gitsync_prepare(gs, &fresh), ERR_UNAVAILABLE);
	print_message("https refused: %s\n", err_get());
	assert_non_null(strstr(err_get(), "https://127.0.0.1:1/specs.git"));
	assert_null(strstr(err_get(), "s3cr3t"));
	assert_null(strstr(gitsync_last_error(gs), "s3cr3t"));
	gitsync_free(gs);

	/* ssh (libssh2) and scp-like URLs go to the network, not the disk */
	o.url = "ssh://git@127.0.0.1:1/specs.git";
	o.ssh_key_file = "/nonexistent/id_ed25519";
	assert_int_equal(gitsync_new(&gs, &o), 0);
	assert_int_equal(gitsync_prepare(gs, &fresh), ERR_UNAVAILABLE);
	print_message("ssh refused: %s\n", err_get());
	assert_non_null(strstr(err_get(), "fetch ssh://127.0.0.1:1/specs.git"));
	gitsync_free(gs);
	o.url = "git@127.0.0.1:specs.git";
	assert_int_equal(gitsync_new(&gs, &o), 0);
	assert_int_equal(gitsync_prepare(gs, &fresh), ERR_UNAVAILABLE);
	assert_null(strstr(err_get(), "no repository there"));
	gitsync_free(gs);
}

static void
test_source__missing_branch(void **state)
{
	struct fx *f = *state;
	struct gitsync *gs;
	struct gitsync_opts o = { .url = f->repo, .branch = "release",
	    .state_dir = f->state };
	char *a;
	int fresh;

	put(f->repo, "web.yaml", "x\n");
	a = commit(f, "A");
	assert_int_equal(gitsync_new(&gs, &o), 0);
	assert_int_equal(gitsync_prepare(gs, &fresh), ERR_NOTFOUND);
	assert_non_null(strstr(err_get(), "branch 'release' not found"));
	gitsync_free(gs);

	/* published, then the branch is deleted: the last good stays */
	sh("git -C %s branch -q release", f->repo);
	assert_int_equal(gitsync_new(&gs, &o), 0);
	sync_publish(gs, a);
	sh("git -C %s branch -q -D release", f->repo);
	assert_int_equal(gitsync_prepare(gs, &fresh), ERR_NOTFOUND);
	assert_string_equal(gitsync_revision(gs), a);
	assert_non_null(gitsync_current_dir(gs));
	gitsync_free(gs);

	o.branch = "bad..name";
	assert_int_equal(gitsync_new(&gs, &o), ERR_INVALID);
	assert_null(gs);
	free(a);
}

struct capture {
	char	lines[4096];
};

static void
capture_sink(enum log_level lvl, const char *line, void *arg)
{
	struct capture *c = arg;
	size_t len = strlen(c->lines);

	(void)lvl;
	snprintf(c->lines + len, sizeof(c->lines) - len, "%s\n", line);
}

static void
test_source__force_push(void **state)
{
	struct fx *f = *state;
	struct gitsync *gs;
	struct capture cap = { { 0 } };
	char *a, *b, *c, *data;
	int fresh;

	put(f->repo, "web.yaml", "A\n");
	a = commit(f, "A");
	gs = gs_new(f, NULL);
	sync_publish(gs, a);
	put(f->repo, "web.yaml", "B\n");
	b = commit(f, "B");
	sync_publish(gs, b);	/* fast-forward: not forced */

	/* rewrite history: main now points to an unrelated commit C */
	sh("cd %s && git checkout -q --orphan other && git rm -q -rf . && "
	    "echo C > web.yaml && git add web.yaml && git commit -q -m C && "
	    "git branch -q -f main other && git checkout -q main && "
	    "git rev-parse HEAD > ../head", f->repo);
	c = slurp(data = xasprintf("%s/head", f->tmp));
	free(data);
	c[40] = '\0';
	log_set_sink(capture_sink, &cap);
	assert_int_equal(gitsync_prepare(gs, &fresh), 0);
	log_set_sink(NULL, NULL);
	assert_int_equal(fresh, 1);
	assert_string_equal(gitsync_candidate_revision(gs), c);
	assert_int_equal(gitsync_candidate_forced(gs), 1);
	assert_non_null(strstr(cap.lines, "force-push"));
	assert_non_null(strstr(cap.lines, c));
	assert_non_null(strstr(cap.lines, b));
	/* policy: accepted if it loads */
	assert_int_equal(gitsync_publish(gs), 0);
	assert_string_equal(gitsync_revision(gs), c);
	assert_string_equal(data = read_current(f, "web.yaml"), "C\n");
	free(data);
	gitsync_free(gs);
	free(a);
	free(b);
	free(c);
}

/* Overwrite every pack and loose object of the mirror with garbage. */
static void
corrupt_mirror(struct fx *f)
{
	sh("cd %s/mirror.git/objects && for o in pack/*.pack [0-9a-f][0-9a-f]/*; do "
	    "[ -f \"$o\" ] || continue; chmod u+w \"$o\"; "
	    "sz=$(stat -c %%s \"$o\"); "
	    "head -c 12 \"$o\" > \"$o.tmp\"; "
	    "head -c $((sz - 12)) /dev/zero | tr '\\0' '\\377' >> \"$o.tmp\"; "
	    "cat \"$o.tmp\" > \"$o\"; rm -f \"$o.tmp\"; done", f->state);
}

static void
test_source__corrupt_mirror_recovers(void **state)
{
	struct fx *f = *state;
	struct gitsync *gs;
	char *a, *b, *want, *data;
	int fresh, rc;

	put(f->repo, "web.yaml", "A\n");
	put(f->repo, "same.yaml", "unchanged in B\n");
	a = commit(f, "A");
	gs = gs_new(f, NULL);
	sync_publish(gs, a);
	put(f->repo, "web.yaml", "B\n");
	b = commit(f, "B");
	corrupt_mirror(f);

	rc = gitsync_prepare(gs, &fresh);
	print_message("corrupt mirror: rc=%d %s\n", rc, err_get());
	assert_true(rc < 0);
	assert_int_equal(fresh, 0);
	assert_non_null(gitsync_last_error(gs));
	assert_string_equal(gitsync_revision(gs), a);
	want = xasprintf("trees/%s", a);
	assert_string_equal(current_target(f), want);
	free(want);
	assert_string_equal(data = read_current(f, "web.yaml"), "A\n");
	free(data);

	/* recovery: the next prepare re-clones the mirror from scratch */
	sync_publish(gs, b);
	assert_string_equal(data = read_current(f, "same.yaml"),
	    "unchanged in B\n");
	free(data);
	assert_null(gitsync_last_error(gs));
	gitsync_free(gs);
	free(a);
	free(b);
}

static void
test_source__subpath_only(void **state)
{
	struct fx *f = *state;
	struct gitsync *gs;
	struct gitsync_opts o = { .url = f->repo, .state_dir = f->state,
	    .subpath = "nope/" };
	char *a, *data;
	int fresh;

	put(f->repo, "README.md", "docs\n");
	put(f->repo, "src/main.c", "int main;\n");
	put(f->repo, "specs/web.yaml", "web\n");
	put(f->repo, "specs/team/db.yaml", "db\n");
	a = commit(f, "A");
	gs = gs_new(f, "/specs/");
	sync_publish(gs, a);
	assert_string_equal(data = read_current(f, "web.yaml"), "web\n");
	free(data);
	assert_string_equal(data = read_current(f, "team/db.yaml"), "db\n");
	free(data);
	assert_null(read_current(f, "README.md"));
	assert_null(read_current(f, "specs/web.yaml"));
	assert_null(read_current(f, "src/main.c"));
	gitsync_free(gs);

	/* a sub-path the commit lacks fails closed */
	rmtree(xstrdup(f->state));
	assert_int_equal(gitsync_new(&gs, &o), 0);
	assert_int_equal(gitsync_prepare(gs, &fresh), ERR_NOTFOUND);
	assert_non_null(strstr(err_get(), "no folder 'nope'"));
	assert_null(gitsync_revision(gs));
	gitsync_free(gs);
	free(a);
}

static void
assert_link_target(const char *path, const char *want)
{
	char buf[256];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);

	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

static void
test_source__hostile_tree(void **state)
{
	struct fx *f = *state;
	struct gitsync *gs;
	struct gitsync_opts o = { .url = f->repo, .state_dir = f->state,
	    .max_file_size = 64 };
	struct stat st;
	char *a, *b, *p;
	int fresh;

	put(f->repo, "web.yaml", "x\n");
	sh("ln -s /etc/passwd %s/evil.yaml && ln -s .. %s/up", f->repo,
	    f->repo);
	/* a submodule (gitlink) named like a spec, pointing at any commit */
	sh("cd %s && git update-index --add --cacheinfo 160000,"
	    "1111111111111111111111111111111111111111,sub.yaml && "
	    "mkdir sub.yaml", f->repo);
	a = commit(f, "A");
	assert_int_equal(gitsync_new(&gs, &o), 0);
	sync_publish(gs, a);
	/*
	 * A symlink stands as a symlink to nowhere (never its own target),
	 * a submodule as an empty directory: invalid specs, not removed ones.
	 */
	p = xasprintf("%s/current/evil.yaml", f->state);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_link_target(p, CHECKOUT_LINK_TARGET);
	assert_int_equal(open(p, O_RDONLY), -1);
	free(p);
	p = xasprintf("%s/current/up", f->state);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_link_target(p, CHECKOUT_LINK_TARGET);
	free(p);
	p = xasprintf("%s/current/sub.yaml", f->state);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	free(p);

	/* a file past the cap: the commit is not published */
	put(f->repo, "big.yaml", "0123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789\n");
	b = commit(f, "B");
	assert_int_equal(gitsync_prepare(gs, &fresh), ERR_LIMIT);
	assert_non_null(strstr(err_get(), "big.yaml"));
	assert_string_equal(gitsync_revision(gs), a);
	assert_false(tree_exists(f, b));
	gitsync_free(gs);
	free(a);
	free(b);
}

static void
test_source__interrupted_checkout(void **state)
{
	struct fx *f = *state;
	struct gitsync *gs;
	char *a, *b, *p;
	struct stat st;
	int fresh;

	put(f->repo, "web.yaml", "A\n");
	a = commit(f, "A");
	gs = gs_new(f, NULL);
	sync_publish(gs, a);
	put(f->repo, "web.yaml", "B\n");
	b = commit(f, "B");
	/* the checkout fails half-way: no tree for B, no temp left */
	assert_int_equal(failpoint_configure("gitsync.rename=error"), 0);
	assert_int_equal(gitsync_prepare(gs, &fresh), ERR_FAILPOINT);
	assert_int_equal(failpoint_configure(""), 0);
	assert_false(tree_exists(f, b));
	assert_string_equal(gitsync_revision(gs), a);
	/* a crash leaves a temp dir: the next start removes it */
	p = xasprintf("%s/trees/.tmp-%s-1", f->state, b);
	assert_int_equal(mkdir(p, 0755), 0);
	gitsync_free(gs);
	gs = gs_new(f, NULL);
	assert_int_equal(stat(p, &st), -1);
	free(p);
	sync_publish(gs, b);
	gitsync_free(gs);
	free(a);
	free(b);
}

static void
test_source__dir_source(void **state)
{
	struct fx *f = *state;
	struct source_opts o = { .kind = SOURCE_DIR, .dir = f->repo };
	struct source *s;
	char rev1[64], rev2[64];
	int fresh;

	put(f->repo, "web.yaml", "a\n");
	assert_int_equal(source_new(&s, &o), 0);
	assert_null(source_revision(s));
	assert_int_equal(source_prepare(s, &fresh), 0);
	assert_int_equal(fresh, 1);
	assert_string_equal(source_candidate_dir(s), f->repo);
	assert_int_equal(strncmp(source_candidate_revision(s), "dir:", 4), 0);
	snprintf(rev1, sizeof(rev1), "%s", source_candidate_revision(s));
	assert_int_equal(source_publish(s), 0);
	assert_string_equal(source_revision(s), rev1);
	assert_string_equal(source_dir(s), f->repo);
	assert_string_equal(source_watch_path(s), f->repo);
	assert_int_equal(source_prepare(s, &fresh), 0);
	assert_int_equal(fresh, 0);

	/* an edit in a subdirectory is a new revision */
	put(f->repo, "team/db.yaml", "db\n");
	assert_int_equal(source_prepare(s, &fresh), 0);
	assert_int_equal(fresh, 1);
	snprintf(rev2, sizeof(rev2), "%s", source_candidate_revision(s));
	assert_string_not_equal(rev1, rev2);
	source_discard(s, "db.yaml: invalid");
	assert_string_equal(source_revision(s), rev1);
	assert_non_null(strstr(source_last_error(s), "db.yaml: invalid"));
	assert_int_equal(source_prepare(s, &fresh), 0);
	assert_int_equal(fresh, 0);
	source_free(s);

	o.dir = "/nonexistent/specs";
	assert_int_equal(source_new(&s, &o), 0);
	assert_int_equal(source_prepare(s, &fresh), ERR_NOTFOUND);
	assert_non_null(strstr(source_last_error(s), "/nonexistent/specs"));
	source_free(s);
}

static void
test_source__git_source(void **state)
{
	struct fx *f = *state;
	struct source_opts o = { .kind = SOURCE_GIT };
	struct source *s;
	char *a, *want;
	int fresh;

	put(f->repo, "specs/web.yaml", "a\n");
	a = commit(f, "A");
	o.git.url = f->repo;
	o.git.subpath = "specs";
	o.git.state_dir = f->state;
	assert_int_equal(source_new(&s, &o), 0);
	assert_int_equal(source_kind(s), SOURCE_GIT);
	assert_int_equal(source_prepare(s, &fresh), 0);
	assert_int_equal(fresh, 1);
	assert_string_equal(source_candidate_revision(s), a);
	assert_int_equal(source_publish(s), 0);
	assert_string_equal(source_revision(s), a);
	want = xasprintf("%s/trees/%s", f->state, a);
	assert_string_equal(source_dir(s), want);
	free(want);
	assert_string_equal(source_watch_path(s), f->state);
	assert_int_equal(source_watch_flags(s), 0);
	source_free(s);
	free(a);
}

/* The back-off schedule: from the poll interval, doubling, to the cap. */
static void
test_source__backoff_schedule(void **state)
{
	static const struct {
		uint64_t	interval, cap;
		unsigned	failures;
		uint64_t	want;
	} t[] = {
		{ 30000, 300000, 0, 30000 },	/* no failure: the poll interval */
		{ 30000, 300000, 1, 30000 },	/* first retry: one interval */
		{ 30000, 300000, 2, 60000 },
		{ 30000, 300000, 3, 120000 },
		{ 30000, 300000, 4, 240000 },
		{ 30000, 300000, 5, 300000 },	/* capped */
		{ 30000, 300000, 60, 300000 },	/* no overflow */
		{ 30000, 300000, UINT_MAX, 300000 },
		{ 1000, 8000, 1, 1000 },
		{ 1000, 8000, 4, 8000 },
		{ 1000, 8000, 5, 8000 },
		{ 60000, 1000, 3, 60000 },	/* a cap below the interval */
		{ 1000, 7000, 4, 7000 },	/* a cap that is not a power of 2 */
	};
	uint64_t at = 0;
	unsigned i, tries;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		print_message("interval=%llu cap=%llu failures=%u\n",
		    (unsigned long long)t[i].interval,
		    (unsigned long long)t[i].cap, t[i].failures);
		assert_int_equal(source_backoff_ms(t[i].interval, t[i].cap,
		    t[i].failures), t[i].want);
	}
	/* poll 1s, cap 8s, failing from t=0: tries at 0 1 3 7 15 23 (30 s) */
	for (tries = 0; at < 30000; tries++)
		at += source_backoff_ms(1000, 8000, tries + 1);
	assert_int_equal(tries, 6);
}

/* source_failures() counts failed prepares and a success resets it. */
static void
test_source__failures_counted(void **state)
{
	struct fx *f = *state;
	struct source_opts o = { .kind = SOURCE_GIT };
	struct source *s;
	char *a, *gone;
	int fresh;

	put(f->repo, "web.yaml", "a\n");
	a = commit(f, "A");
	o.git.url = f->repo;
	o.git.state_dir = f->state;
	assert_int_equal(source_new(&s, &o), 0);
	assert_int_equal(source_failures(s), 0);
	gone = xasprintf("%s/gone", f->tmp);
	sh("mv %s %s", f->repo, gone);
	assert_true(source_prepare(s, &fresh) < 0);
	assert_true(source_prepare(s, &fresh) < 0);
	assert_int_equal(source_failures(s), 2);
	sh("mv %s %s", gone, f->repo);
	assert_int_equal(source_prepare(s, &fresh), 0);
	assert_int_equal(fresh, 1);
	assert_int_equal(source_failures(s), 0);
	source_free(s);
	free(gone);
	free(a);
}

static void
test_source__known_hosts(void **state)
{
	/* "AAAAC3NzaC1lZDI1NTE5" is the base64 of "\0\0\0\vssh-ed25519" */
	const char *kh =
	    "# comment\n"
	    "|1|abc=|def= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\n"
	    "other.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\n"
	    "git.example,10.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 c\n"
	    "[git.example]:2222 ssh-rsa AAAAB3NzaC1yc2E=\n"
	    /* HMAC-SHA1 of "hashed.example" and "[hashed.example]:2222" */
	    "|1|AQIDBAUGBwgJCgsMDQ4PEBESExQ=|XRZ+0Rkpkgj2GPVUX4A2cJK91yI= "
	    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\n"
	    "|1|AQIDBAUGBwgJCgsMDQ4PEBESExQ=|J8gSqcW9aEsfU5IW0APzYbZwG70= "
	    "ssh-rsa AAAAB3NzaC1yc2E=\n"
	    "@cert-authority * ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\n";
	const unsigned char key[] = "\0\0\0\vssh-ed25519";
	const unsigned char rsa[] = "\0\0\0\7ssh-rsa";
	(void)state;
	assert_int_equal(known_hosts_match(kh, "git.example", 22, key, 15), KH_MATCH);
	assert_int_equal(known_hosts_match(kh, "10.0.0.1", 22, key, 15), KH_MATCH);
	/* listed with another key only: changed, not merely unknown */
	assert_int_equal(known_hosts_match(kh, "git.example", 2222, key, 15), KH_CHANGED);
	assert_int_equal(known_hosts_match(kh, "git.example", 2222, rsa, 11), KH_MATCH);
	assert_int_equal(known_hosts_match(kh, "git.exampl", 22, key, 15), KH_UNKNOWN);
	assert_int_equal(known_hosts_match(kh, "evil.example", 22, key, 15), KH_UNKNOWN);
	assert_int_equal(known_hosts_match(kh, "git.example", 22, key, 14), KH_CHANGED);
	/* hashed entries (HashKnownHosts), with and without a port */
	assert_int_equal(known_hosts_match(kh, "hashed.example", 22, key, 15), KH_MATCH);
	assert_int_equal(known_hosts_match(kh, "hashed.example", 22, rsa, 11), KH_CHANGED);
	assert_int_equal(known_hosts_match(kh, "hashed.example", 2222, rsa, 11), KH_MATCH);
	assert_int_equal(known_hosts_match(kh, "hashed.exampl", 22, key, 15), KH_UNKNOWN);
	/* a key field that is not base64 matches nothing */
	assert_int_equal(known_hosts_match("git.example ssh-ed25519 AAAA*3NzaC1lZDI1NTE5\n",
	    "git.example", 22, key, 15), KH_UNKNOWN);
	/* @revoked wins over a plain entry; "*" is any host */
	assert_int_equal(known_hosts_match("git.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\n"
	    "@revoked * ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\n", "git.example", 22, key, 15),
	    KH_REVOKED);
	assert_int_equal(known_hosts_match("* ssh-rsa AAAAB3NzaC1yc2E=\n",
	    "any.example", 2222, rsa, 11), KH_MATCH);
}

static size_t
count_packs(struct fx *f)
{
	char *p = xasprintf("%s/mirror.git/objects/pack", f->state);
	DIR *d = opendir(p);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".pack") != NULL)
			n++;
	closedir(d);
	free(p);
	return n;
}

static void
test_source__mirror_packs_bounded(void **state)
{
	struct fx *f = *state;
	struct gitsync *gs;
	struct gitsync_opts o = { .url = f->repo, .state_dir = f->state,
	    .mirror_max_packs = 3 };
	char *rev, n[16];
	size_t packs, most = 0;
	int i;

	assert_int_equal(gitsync_new(&gs, &o), 0);
	for (i = 0; i < 10; i++) {
		snprintf(n, sizeof(n), "%d\n", i);
		put(f->repo, "web.yaml", n);
		rev = commit(f, "next");
		sync_publish(gs, rev);
		free(rev);
		packs = count_packs(f);
		if (packs > most)
			most = packs;
	}
	/* each fetch adds a pack; past 3 the mirror starts afresh */
	assert_true(most >= 3);
	assert_true(most <= 4);
	gitsync_free(gs);
}

/* Figures, not timed assertions: fetch + checkout + publish of 1000 specs. */
static void
test_source__figure_1000_specs(void **state)
{
	struct fx *f = *state;
	struct gitsync *gs;
	uint64_t t0, full, noop, one;
	char *a, *b, *p;
	int fresh;

	sh("mkdir -p %s/specs && cd %s/specs && for i in $(seq 1000); do "
	    "printf 'apiVersion: envctl/v1\\nkind: Environment\\nmetadata:"
	    "\\n  name: env-%%s\\nspec:\\n  instance: {type: t3.medium}"
	    "\\n' $i > env-$i.yaml; done", f->repo, f->repo);
	a = commit(f, "1000 specs");
	gs = gs_new(f, "specs");
	t0 = now_us();
	sync_publish(gs, a);
	full = now_us() - t0;
	p = read_current(f, "env-1000.yaml");
	assert_non_null(strstr(p, "name: env-1000"));
	free(p);
	t0 = now_us();
	assert_int_equal(gitsync_prepare(gs, &fresh), 0);
	noop = now_us() - t0;
	assert_int_equal(fresh, 0);
	put(f->repo, "specs/env-1.yaml", "changed\n");
	b = commit(f, "one change");
	t0 = now_us();
	sync_publish(gs, b);
	one = now_us() - t0;
	printf("FIGURE gitsync 1000 specs (file://): first fetch+checkout+publish "
	    "%.1f ms, no-change fetch %.1f ms, one-file change fetch+checkout+"
	    "publish %.1f ms\n", full / 1000.0, noop / 1000.0, one / 1000.0);
	gitsync_free(gs);
	free(a);
	free(b);
}

int
run_source_tests(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
		T(test_source__first_fetch_publishes),
		T(test_source__new_commit_swaps_atomically),
		T(test_source__readers_never_see_a_mix),
		T(test_source__rejected_keeps_last_good),
		T(test_source__fetch_with_loader),
		T(test_source__unreachable_remote),
		T(test_source__credentials_never_in_messages),
		T(test_source__missing_branch),
		T(test_source__force_push),
		T(test_source__corrupt_mirror_recovers),
		T(test_source__subpath_only),
		T(test_source__hostile_tree),
		T(test_source__interrupted_checkout),
		T(test_source__dir_source),
		T(test_source__git_source),
		T(test_source__mirror_packs_bounded),
		T(test_source__figure_1000_specs),
		T(test_source__failures_counted),
		cmocka_unit_test(test_source__known_hosts),
		cmocka_unit_test(test_source__backoff_schedule),
#undef T
	};

	return cmocka_run_group_tests_name("source", tests, NULL, NULL);
}
