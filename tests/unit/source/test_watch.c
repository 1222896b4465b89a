/*
 * test_watch.c - inotify watch: real events on temp dirs, the decoder on
 * synthetic buffers, the debounce helper, and a latency figure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/inotify.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "err.h"
#include "gitsync.h"
#include "helpers.h"
#include "mem.h"
#include "watch.h"
#include "watch_int.h"

static int
readable(struct watch *w, int timeout_ms)
{
	struct pollfd pfd = { .fd = watch_fd(w), .events = POLLIN };

	return poll(&pfd, 1, timeout_ms);
}

static enum watch_result
drain(struct watch *w)
{
	enum watch_result r;

	assert_int_equal(watch_read(w, &r), 0);
	return r;
}

static void
test_source__watch_write_is_changed(void **state)
{
	struct watch *w;
	char *dir = tmpdir_new();
	const char *paths[] = { dir };

	(void)state;
	assert_int_equal(watch_new(&w, paths, 1, 0), 0);
	/* nothing yet: not readable, and a read does not block */
	assert_int_equal(readable(w, 0), 0);
	assert_int_equal(drain(w), WATCH_NONE);
	put(dir, "web.yaml", "x\n");
	assert_int_equal(readable(w, 2000), 1);
	assert_int_equal(drain(w), WATCH_CHANGED);
	assert_int_equal(readable(w, 0), 0);
	assert_int_equal(drain(w), WATCH_NONE);
	watch_free(w);
	rmtree(dir);
}

static void
test_source__watch_burst_is_one_change(void **state)
{
	struct watch *w;
	char *dir = tmpdir_new();
	const char *paths[] = { dir };
	char name[32];
	int i;

	(void)state;
	assert_int_equal(watch_new(&w, paths, 1, 0), 0);
	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "f%03d.yaml", i);
		put(dir, name, "x\n");
	}
	sh("rm -f %s/f0*.yaml", dir);
	assert_int_equal(readable(w, 2000), 1);
	/* several hundred events, one verdict, queue empty afterwards */
	assert_int_equal(drain(w), WATCH_CHANGED);
	assert_int_equal(readable(w, 0), 0);
	watch_free(w);
	rmtree(dir);
}

static void
test_source__watch_recursive_and_readd(void **state)
{
	struct watch *w;
	char *dir = tmpdir_new(), *root = xasprintf("%s/specs", dir);
	const char *paths[] = { root };

	(void)state;
	put(root, "old/a.yaml", "a\n");
	assert_int_equal(watch_new(&w, paths, 1, WATCH_RECURSIVE), 0);
	/* an existing subdirectory is watched */
	put(root, "old/a.yaml", "a2\n");
	assert_int_equal(readable(w, 2000), 1);
	assert_int_equal(drain(w), WATCH_CHANGED);
	/* a new one is watched as soon as it appears */
	sh("mkdir %s/new", root);
	assert_int_equal(readable(w, 2000), 1);
	assert_int_equal(drain(w), WATCH_CHANGED);
	put(root, "new/b.yaml", "b\n");
	assert_int_equal(readable(w, 2000), 1);
	assert_int_equal(drain(w), WATCH_CHANGED);

	/* the watched dir is replaced: the move is a change, and the new
	 * directory at that path is watched again */
	sh("mv %s %s/specs.old && mkdir %s", root, dir, root);
	assert_int_equal(readable(w, 2000), 1);
	assert_int_equal(drain(w), WATCH_CHANGED);
	put(root, "c.yaml", "c\n");
	assert_int_equal(readable(w, 2000), 1);
	assert_int_equal(drain(w), WATCH_CHANGED);
	/* the moved-away tree (and its subdirectories) is not watched any more */
	put(dir, "specs.old/a2.yaml", "x\n");
	put(dir, "specs.old/old/a3.yaml", "x\n");
	put(dir, "specs.old/new/b2.yaml", "x\n");
	assert_int_equal(readable(w, 100), 0);
	watch_free(w);
	free(root);
	rmtree(dir);

	assert_int_equal(watch_new(&w, (const char *[]){ "/nonexistent/x" }, 1,
	    0), ERR_NOTFOUND);
	assert_null(w);
}

static void
test_source__watch_follows_swapped_link(void **state)
{
	struct watch *w;
	char *dir = tmpdir_new(), *link = xasprintf("%s/specs", dir);
	const char *paths[] = { link };

	(void)state;
	put(dir, "v1/web.yaml", "1\n");
	put(dir, "v1/team/db.yaml", "1\n");
	put(dir, "v2/web.yaml", "2\n");
	sh("ln -s v1 %s", link);
	assert_int_equal(watch_new(&w, paths, 1, WATCH_RECURSIVE), 0);
	put(dir, "v1/team/db.yaml", "1b\n");
	assert_int_equal(readable(w, 2000), 1);
	assert_int_equal(drain(w), WATCH_CHANGED);

	/* atomic swap of the link, as deploy tools and ConfigMaps do */
	sh("cd %s && ln -s v2 specs.new && mv -T specs.new specs", dir);
	assert_int_equal(readable(w, 2000), 1);
	assert_int_equal(drain(w), WATCH_CHANGED);
	/* the new target is watched, the old one (and its subdirs) not */
	put(dir, "v2/web.yaml", "2b\n");
	assert_int_equal(readable(w, 2000), 1);
	assert_int_equal(drain(w), WATCH_CHANGED);
	put(dir, "v1/team/db.yaml", "stale\n");
	put(dir, "v1/web.yaml", "stale\n");
	assert_int_equal(readable(w, 100), 0);

	/* a subdirectory moved out of the tree is dropped too */
	sh("mkdir %s/v2/sub && mv %s/v2/sub %s/outside", dir, dir, dir);
	assert_int_equal(readable(w, 2000), 1);
	assert_int_equal(drain(w), WATCH_CHANGED);
	put(dir, "outside/x.yaml", "x\n");
	assert_int_equal(readable(w, 100), 0);
	watch_free(w);
	free(link);
	rmtree(dir);
}

static void
test_source__watch_sees_symlink_swap(void **state)
{
	struct gitsync *gs;
	struct gitsync_opts o = { 0 };
	struct watch *w;
	char *tmp = tmpdir_new(), *repo = xasprintf("%s/repo", tmp);
	char *st = xasprintf("%s/state", tmp);
	int fresh;

	(void)state;
	sh("git init -q -b main %s && cd %s && echo a > a.yaml && git add . && "
	    "git commit -q -m A", repo, repo);
	o.url = repo;
	o.state_dir = st;
	assert_int_equal(gitsync_new(&gs, &o), 0);
	assert_int_equal(gitsync_prepare(gs, &fresh), 0);
	assert_int_equal(gitsync_publish(gs), 0);
	assert_int_equal(watch_new(&w, (const char *[]){ gitsync_state_dir(gs) },
	    1, 0), 0);
	sh("cd %s && echo b > a.yaml && git commit -q -am B", repo);
	/* fetching and checking out alone touches mirror.git and trees/,
	 * not the state dir's entries that matter; the swap does */
	assert_int_equal(gitsync_prepare(gs, &fresh), 0);
	assert_int_equal(fresh, 1);
	(void)drain(w);
	assert_int_equal(gitsync_publish(gs), 0);
	assert_int_equal(readable(w, 2000), 1);
	assert_int_equal(drain(w), WATCH_CHANGED);
	watch_free(w);
	gitsync_free(gs);
	free(repo);
	free(st);
	rmtree(tmp);
}

/*
 * The real queue overflows too: the kernel keeps max_queued_events (16384
 * by default) and queues IN_Q_OVERFLOW past that.  Alternate attribute
 * changes on two files so consecutive events are not merged.
 */
static void
test_source__watch_real_overflow(void **state)
{
	struct watch *w;
	char *dir = tmpdir_new(), *pa, *pb;
	const char *paths[] = { dir };
	long max = 16384;
	FILE *f;
	int i;

	(void)state;
	if ((f = fopen("/proc/sys/fs/inotify/max_queued_events", "r")) != NULL) {
		if (fscanf(f, "%ld", &max) != 1)
			max = 16384;
		fclose(f);
	}
	if (max > 1000000) {
		rmtree(dir);
		skip();		/* a raised limit: too many events to make */
	}
	put(dir, "a.yaml", "a\n");
	put(dir, "b.yaml", "b\n");
	pa = xasprintf("%s/a.yaml", dir);
	pb = xasprintf("%s/b.yaml", dir);
	assert_int_equal(watch_new(&w, paths, 1, 0), 0);
	for (i = 0; i < max + 100; i++)
		assert_int_equal(utimensat(AT_FDCWD, i % 2 ? pa : pb, NULL, 0), 0);
	assert_int_equal(readable(w, 2000), 1);
	assert_int_equal(drain(w), WATCH_OVERFLOW);
	/* after the rescan verdict the watch keeps working */
	put(dir, "c.yaml", "c\n");
	assert_int_equal(readable(w, 2000), 1);
	assert_int_equal(drain(w), WATCH_CHANGED);
	watch_free(w);
	free(pa);
	free(pb);
	rmtree(dir);
}

/* Append one inotify record to buf at *off. */
static void
add_event(char *buf, size_t *off, int wd, uint32_t mask, const char *name)
{
	struct inotify_event ev = { .wd = wd, .mask = mask };
	size_t nl = name != NULL ? 16 : 0;

	ev.len = (uint32_t)nl;
	memcpy(buf + *off, &ev, sizeof(ev));
	memset(buf + *off + sizeof(ev), 0, nl);
	if (name != NULL)
		memcpy(buf + *off + sizeof(ev), name, strlen(name));
	*off += sizeof(ev) + nl;
}

static void
count_event(const struct inotify_event *ev, void *arg)
{
	(void)ev;
	(*(int *)arg)++;
}

static void
test_source__watch_decode_overflow(void **state)
{
	char buf[1024] __attribute__((aligned(8)));
	enum watch_result r;
	size_t off = 0;
	int calls = 0;

	(void)state;
	add_event(buf, &off, 1, IN_CREATE, "a.yaml");
	add_event(buf, &off, -1, IN_Q_OVERFLOW, NULL);
	add_event(buf, &off, 1, IN_CLOSE_WRITE, "a.yaml");
	assert_int_equal(watch_decode(buf, off, &r, count_event, &calls), 3);
	assert_int_equal(r, WATCH_OVERFLOW);
	assert_int_equal(calls, 3);

	off = 0;
	add_event(buf, &off, 1, IN_MOVED_TO, "b.yaml");
	add_event(buf, &off, 1, IN_DELETE, "c.yaml");
	assert_int_equal(watch_decode(buf, off, &r, NULL, NULL), 2);
	assert_int_equal(r, WATCH_CHANGED);

	/* events that are not changes */
	off = 0;
	add_event(buf, &off, 1, IN_IGNORED, NULL);
	add_event(buf, &off, 1, IN_OPEN, "x");
	assert_int_equal(watch_decode(buf, off, &r, NULL, NULL), 2);
	assert_int_equal(r, WATCH_NONE);

	/* a truncated record ends the walk; nothing is read past len */
	off = 0;
	add_event(buf, &off, 1, IN_CREATE, "a.yaml");
	assert_int_equal(watch_decode(buf, off - 1, &r, NULL, NULL), 0);
	assert_int_equal(r, WATCH_NONE);
	assert_int_equal(watch_decode(buf, 3, &r, NULL, NULL), 0);
}

static void
test_source__watch_debounce(void **state)
{
	static const struct {
		uint64_t first, last, quiet, max, want;
	} t[] = {
		{ 1000, 1000, 200, 2000, 1200 },	/* single event */
		{ 1000, 1500, 200, 2000, 1700 },	/* burst: after the last */
		{ 1000, 2900, 200, 2000, 3000 },	/* storm: the ceiling wins */
		{ 1000, 5000, 200, 2000, 3000 },
		{ 1000,  900, 200, 2000, 1200 },	/* clock order kept */
		{ 0, 0, 0, 0, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(watch_debounce_deadline(t[i].first, t[i].last,
		    t[i].quiet, t[i].max), t[i].want);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A figure, not a timed assertion: write -> poll() returning. */
static void
test_source__watch_latency(void **state)
{
	struct watch *w;
	char *dir = tmpdir_new();
	const char *paths[] = { dir };
	uint64_t lat[50], t0;
	size_t i;

	(void)state;
	assert_int_equal(watch_new(&w, paths, 1, 0), 0);
	for (i = 0; i < 50; i++) {
		t0 = now_us();
		put(dir, "web.yaml", "x\n");
		assert_int_equal(readable(w, 2000), 1);
		lat[i] = now_us() - t0;
		assert_int_equal(drain(w), WATCH_CHANGED);
	}
	qsort(lat, 50, sizeof(lat[0]), cmp_u64);
	printf("FIGURE watch latency (file write+close -> poll() readable), "
	    "50 writes: median %llu us, p90 %llu us, max %llu us\n",
	    (unsigned long long)lat[25], (unsigned long long)lat[45],
	    (unsigned long long)lat[49]);
	watch_free(w);
	rmtree(dir);
}

int
run_watch_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source__watch_write_is_changed),
		cmocka_unit_test(test_source__watch_burst_is_one_change),
		cmocka_unit_test(test_source__watch_recursive_and_readd),
		cmocka_unit_test(test_source__watch_follows_swapped_link),
		cmocka_unit_test(test_source__watch_sees_symlink_swap),
		cmocka_unit_test(test_source__watch_decode_overflow),
		cmocka_unit_test(test_source__watch_real_overflow),
		cmocka_unit_test(test_source__watch_debounce),
		cmocka_unit_test(test_source__watch_latency),
	};

	return cmocka_run_group_tests_name("watch", tests, NULL, NULL);
}
