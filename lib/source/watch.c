/*
 * watch.c - inotify folded into "changed" / "overflow".  See watch.h.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "mem.h"
#include "watch_int.h"

#define WATCH_MASK	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | \
			 IN_CREATE | IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | \
			 IN_MOVE_SELF | IN_ONLYDIR)
#define CHANGE_MASK	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | \
			 IN_CREATE | IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | \
			 IN_MOVE_SELF)
#define MAX_WATCHES	4096
#define MAX_DEPTH	32

struct watch_entry {
	int	 wd;		/* -1 when lost */
	char	*path;
	int	 root;		/* given by the caller: re-added when lost */
	int	 recursive;
	int	 depth;
};

/* A watched path that is a symlink: its parent is watched for a swap. */
struct watch_link {
	int	 wd;		/* the parent directory's watch */
	char	*link;		/* the symlink's path (a root entry's path) */
	char	*name;		/* its last component */
};

struct watch {
	int			 fd;
	struct watch_entry	*ents;
	size_t			 nents;
	struct watch_link	*links;
	size_t			 nlinks;
};

size_t
watch_decode(const void *buf, size_t len, enum watch_result *out,
    watch_event_fn *fn, void *arg)
{
	const char *p = buf;
	struct inotify_event ev;
	size_t off = 0, n = 0, reclen;

	*out = WATCH_NONE;
	while (len - off >= sizeof(ev)) {
		memcpy(&ev, p + off, sizeof(ev));
		reclen = sizeof(ev) + ev.len;
		if (reclen > len - off)
			break;
		n++;
		if (ev.mask & IN_Q_OVERFLOW)
			*out = WATCH_OVERFLOW;
		else if ((ev.mask & CHANGE_MASK) && *out == WATCH_NONE)
			*out = WATCH_CHANGED;
		if (fn != NULL)
			fn((const struct inotify_event *)(const void *)(p + off),
			    arg);
		off += reclen;
	}
	return n;
}

static struct watch_entry *
entry_by_wd(struct watch *w, int wd)
{
	size_t i;

	for (i = 0; i < w->nents; i++)
		if (w->ents[i].wd == wd)
			return &w->ents[i];
	return NULL;
}

static int watch_add_path(struct watch *, const char *, int, int, int);

/* Watch the subdirectories of dir (recursive watches). */
static int
add_subdirs(struct watch *w, const char *dir, int depth)
{
	DIR *d;
	struct dirent *de;
	struct stat st;
	char *p;
	int error = 0;

	if (depth >= MAX_DEPTH || (d = opendir(dir)) == NULL)
		return 0;
	while (error == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' && (de->d_name[1] == '\0' ||
		    (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			error = watch_add_path(w, p, 0, 1, depth + 1);
		free(p);
	}
	closedir(d);
	return error;
}

static int
watch_add_path(struct watch *w, const char *path, int root, int recursive,
    int depth)
{
	struct watch_entry *e;
	int wd;

	if ((wd = inotify_add_watch(w->fd, path, WATCH_MASK)) == -1) {
		int saved = errno;

		err_set("watch %s: %s", path, strerror(saved));
		return saved == ENOENT || saved == ENOTDIR ? ERR_NOTFOUND :
		    saved == ENOSPC ? ERR_LIMIT : ERR_GENERIC;
	}
	if ((e = entry_by_wd(w, wd)) == NULL) {
		if (w->nents >= MAX_WATCHES) {
			(void)inotify_rm_watch(w->fd, wd);
			err_set("watch %s: more than %d directories", path,
			    MAX_WATCHES);
			return ERR_LIMIT;
		}
		w->ents = xreallocarray(w->ents, w->nents + 1, sizeof(*e));
		e = &w->ents[w->nents++];
		e->path = xstrdup(path);
		e->root = root;
	} else
		e->root |= root;
	e->wd = wd;
	e->recursive = recursive;
	e->depth = depth;
	return recursive ? add_subdirs(w, path, depth) : 0;
}

/*
 * path is a symlink (a ConfigMap-style "..data" swap, a deploy tool's
 * "current"): watch its parent too, so replacing the link is seen and the
 * new target watched.
 */
static int
watch_link_add(struct watch *w, const char *path)
{
	struct watch_link *l;
	char *parent, *slash;
	int wd, error = 0;

	parent = xstrdup(path);
	slash = strrchr(parent, '/');
	if (slash == parent)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else {
		free(parent);
		parent = xstrdup(".");
	}
	if ((wd = inotify_add_watch(w->fd, parent, WATCH_MASK)) == -1) {
		err_set("watch %s: %s", parent, strerror(errno));
		error = ERR_GENERIC;
		goto out;
	}
	w->links = xreallocarray(w->links, w->nlinks + 1, sizeof(*l));
	l = &w->links[w->nlinks++];
	l->wd = wd;
	l->link = xstrdup(path);
	l->name = xstrdup(strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
out:
	free(parent);
	return error;
}

int
watch_new(struct watch **out, const char *const *paths, size_t npaths,
    int flags)
{
	struct watch *w;
	size_t i;
	int error = ERR_GENERIC;

	*out = NULL;
	w = xcalloc(1, sizeof(*w));
	if ((w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1) {
		err_set("inotify: %s", strerror(errno));
		goto out;
	}
	for (i = 0; i < npaths; i++) {
		struct stat st;

		error = watch_add_path(w, paths[i], 1,
		    (flags & WATCH_RECURSIVE) != 0, 0);
		if (error != 0)
			goto out;
		if (lstat(paths[i], &st) == 0 && S_ISLNK(st.st_mode) &&
		    (error = watch_link_add(w, paths[i])) != 0)
			goto out;
	}
	*out = w;
	w = NULL;
	error = 0;
out:
	watch_free(w);
	return error;
}

void
watch_free(struct watch *w)
{
	size_t i;

	if (w == NULL)
		return;
	if (w->fd != -1)
		close(w->fd);
	for (i = 0; i < w->nents; i++)
		free(w->ents[i].path);
	free(w->ents);
	for (i = 0; i < w->nlinks; i++) {
		free(w->links[i].link);
		free(w->links[i].name);
	}
	free(w->links);
	free(w);
}

int
watch_fd(const struct watch *w)
{
	return w->fd;
}

/* Stop watching the subdirectories found below root (recursive watches). */
static void
drop_children(struct watch *w, const char *root)
{
	size_t i = 0, len = strlen(root);

	while (i < w->nents) {
		struct watch_entry *c = &w->ents[i];

		if (!c->root && strncmp(c->path, root, len) == 0 &&
		    c->path[len] == '/') {
			if (c->wd != -1)
				(void)inotify_rm_watch(w->fd, c->wd);
			free(c->path);
			*c = w->ents[--w->nents];
			continue;
		}
		i++;
	}
}

/* Stop watching the non-root directory at path and everything below. */
static void
drop_subtree(struct watch *w, const char *path)
{
	size_t i;

	drop_children(w, path);
	for (i = 0; i < w->nents; i++) {
		if (!w->ents[i].root && strcmp(w->ents[i].path, path) == 0) {
			(void)inotify_rm_watch(w->fd, w->ents[i].wd);
			free(w->ents[i].path);
			w->ents[i] = w->ents[--w->nents];
			return;
		}
	}
}

/*
 * The watch on e is gone (or no longer names its path): drop a non-root
 * entry; a root one loses its subdirectory watches and waits to be
 * re-added by watch_refresh().
 */
static void
entry_lost(struct watch *w, struct watch_entry *e)
{
	char *path;

	e->wd = -1;
	if (!e->root) {
		free(e->path);
		*e = w->ents[--w->nents];
		return;
	}
	path = xstrdup(e->path);
	drop_children(w, path);
	free(path);
}

/* A watched symlink was replaced: forget its old target. */
static void
link_swapped(struct watch *w, const char *link)
{
	size_t i;

	for (i = 0; i < w->nents; i++) {
		if (!w->ents[i].root || strcmp(w->ents[i].path, link) != 0)
			continue;
		if (w->ents[i].wd != -1)
			(void)inotify_rm_watch(w->fd, w->ents[i].wd);
		entry_lost(w, &w->ents[i]);
		return;
	}
}

static void
on_event(const struct inotify_event *ev, void *arg)
{
	struct watch *w = arg;
	struct watch_entry *e;
	size_t i;
	char *p;

	for (i = 0; i < w->nlinks && ev->len > 0; i++)
		if (w->links[i].wd == ev->wd &&
		    strcmp(ev->name, w->links[i].name) == 0 &&
		    (ev->mask & (IN_CREATE | IN_MOVED_TO | IN_DELETE |
		    IN_MOVED_FROM)))
			link_swapped(w, w->links[i].link);
	if (ev->wd < 0 || (e = entry_by_wd(w, ev->wd)) == NULL)
		return;
	if (ev->mask & IN_MOVE_SELF) {
		/* the watch follows the inode; we want the path */
		(void)inotify_rm_watch(w->fd, e->wd);
		entry_lost(w, e);
		return;
	}
	if (ev->mask & IN_IGNORED) {
		entry_lost(w, e);
		return;
	}
	if (e->recursive && (ev->mask & IN_ISDIR) && ev->len > 0 &&
	    (ev->mask & IN_MOVED_FROM)) {
		/* a subdirectory moved away (maybe out of the tree) */
		p = xasprintf("%s/%s", e->path, ev->name);
		drop_subtree(w, p);
		free(p);
		return;
	}
	if (e->recursive && (ev->mask & IN_ISDIR) && ev->len > 0 &&
	    (ev->mask & (IN_CREATE | IN_MOVED_TO))) {
		p = xasprintf("%s/%s", e->path, ev->name);
		if (watch_add_path(w, p, 0, 1, e->depth + 1) != 0)
			log_warnx("watch: %s", err_get());
		free(p);
	}
}

int
watch_refresh(struct watch *w, enum watch_result *out)
{
	size_t i, n = w->nents;
	char *path;
	int wd;

	*out = WATCH_NONE;
	for (i = 0; i < n; i++) {
		if (w->ents[i].wd != -1 || !w->ents[i].root)
			continue;
		wd = inotify_add_watch(w->fd, w->ents[i].path, WATCH_MASK);
		if (wd == -1) {
			if (errno != ENOENT && errno != ENOTDIR)
				log_warn("watch %s", w->ents[i].path);
			continue;
		}
		w->ents[i].wd = wd;
		*out = WATCH_CHANGED;
		if (w->ents[i].recursive) {
			path = xstrdup(w->ents[i].path);
			if (add_subdirs(w, path, 0) != 0)
				log_warnx("watch: %s", err_get());
			free(path);
		}
	}
	return 0;
}

int
watch_read(struct watch *w, enum watch_result *out)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	enum watch_result r, refreshed;
	ssize_t n;

	*out = WATCH_NONE;
	for (;;) {
		n = read(w->fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n == -1) {
			err_set("inotify read: %s", strerror(errno));
			return ERR_GENERIC;
		}
		if (n == 0)
			break;
		(void)watch_decode(buf, (size_t)n, &r, on_event, w);
		if (r > *out)
			*out = r;
	}
	(void)watch_refresh(w, &refreshed);
	if (refreshed > *out)
		*out = refreshed;
	return 0;
}

uint64_t
watch_debounce_deadline(uint64_t first_event_ms, uint64_t last_event_ms,
    uint64_t quiet_ms, uint64_t max_ms)
{
	uint64_t quiet_at = last_event_ms + quiet_ms;
	uint64_t ceiling = first_event_ms + max_ms;

	if (last_event_ms < first_event_ms)
		quiet_at = first_event_ms + quiet_ms;
	return quiet_at < ceiling ? quiet_at : ceiling;
}
