/*
 * tree.c - spec entries (one file each) and the immutable spec tree.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "failpoint.h"
#include "mem.h"
#include "spec_int.h"

/*
 * An entry of a tree lives in the tree's arena: the entry, its path and
 * name, its spec and its messages, so 10,000 specs are packed into 64 KiB
 * chunks instead of 10,000 small arenas (only diags.v is malloc'd).  A
 * standalone entry (spec_entry_parse/load) has its own arena and owns
 * path and name.
 */
struct spec_entry {
	char		*path;
	char		*name;
	struct arena	*arena;		/* &own, or the tree's */
	struct arena	 own;
	struct diags	 diags;
	struct spec	*spec;		/* NULL when invalid */
	char		 hash[SPEC_HASH_SIZE];
	unsigned	 name_line, name_col;
};

struct spec_tree {
	struct spec_entry	**v;
	size_t			  n;
	size_t			  ninvalid;
	struct arena		  arena;	/* every entry */
};

void
spec_options_init(struct spec_options *opts)
{
	memset(opts, 0, sizeof(*opts));
}

/* The length of the file name's stem: no directory, no .yaml/.yml. */
static size_t
path_stem(const char **base, const char *path)
{
	size_t len;

	*base = strrchr(path, '/');
	*base = *base ? *base + 1 : path;
	len = strlen(*base);
	if (len > 5 && strcmp(*base + len - 5, ".yaml") == 0)
		len -= 5;
	else if (len > 4 && strcmp(*base + len - 4, ".yml") == 0)
		len -= 4;
	return len;
}

static int
entry_standalone(const struct spec_entry *e)
{
	return e->arena == &e->own;
}

/* A new entry in tree_arena, or standalone when tree_arena is NULL. */
static struct spec_entry *
entry_new(const char *path, struct arena *tree_arena)
{
	struct spec_entry *e;
	const char *p = path ? path : "<input>", *base;
	size_t len = path ? path_stem(&base, path) : 0;

	if (tree_arena == NULL) {
		e = xcalloc(1, sizeof(*e));
		arena_init(&e->own);
		e->arena = &e->own;
		e->path = xstrdup(p);
		e->name = path ? xstrndup(base, len) : xstrdup("");
	} else {
		e = arena_alloc(tree_arena, sizeof(*e));
		e->arena = tree_arena;
		e->path = arena_strdup(tree_arena, p);
		e->name = path ? arena_strndup(tree_arena, base, len) : "";
	}
	diags_init(&e->diags, e->arena);
	e->name_line = e->name_col = 1;
	return e;
}

/* Name the entry after its spec (s->name lives in e's arena). */
static void
entry_set_name(struct spec_entry *e, const struct spec *s)
{
	if (entry_standalone(e)) {
		free(e->name);
		e->name = xstrdup(s->name);
	} else
		e->name = (char *)(uintptr_t)s->name;
}

/* What an entry holds outside its arena. */
static void
entry_dispose(struct spec_entry *e)
{
	diags_dispose(&e->diags);
}

void
spec_entry_free(struct spec_entry *e)
{
	if (e == NULL)
		return;
	assert(entry_standalone(e));
	entry_dispose(e);
	arena_dispose(&e->own);
	free(e->path);
	free(e->name);
	free(e);
}

/* Where metadata.name is written, for messages about the name. */
static void
find_name_pos(struct spec_entry *e, const struct ynode *root)
{
	size_t i, j;

	if (root == NULL || root->kind != YNODE_MAP)
		return;
	for (i = 0; i < root->n; i++) {
		const struct ynode *md = root->items[2 * i + 1];

		if (strcmp(root->items[2 * i]->text, "metadata") != 0 || md->kind != YNODE_MAP)
			continue;
		for (j = 0; j < md->n; j++)
			if (strcmp(md->items[2 * j]->text, "name") == 0) {
				e->name_line = md->items[2 * j + 1]->line;
				e->name_col = md->items[2 * j + 1]->col;
				return;
			}
	}
}

/*
 * Parse into a new entry (in tree_arena, or standalone when NULL), using
 * scratch (reset first) for the YAML tree.
 */
static void
entry_parse(struct spec_entry **out, const char *path, const void *data, size_t len,
    const struct spec_options *opts, struct arena *scratch, struct arena *tree_arena)
{
	struct spec_entry *e = entry_new(path, tree_arena);
	struct ynode *root;
	struct spec *s;

	arena_reset(scratch);
	if (yaml_load(&root, scratch, &e->diags, data, len) == 0) {
		find_name_pos(e, root);
		s = schema_build(e->arena, &e->diags, root, path ? e->name : NULL, opts);
		if (s != NULL && e->diags.n == 0) {
			if (spec_hash(e->hash, s) < 0)
				diags_add(&e->diags, 1, 1, "%s", err_get());
			else {
				e->spec = s;
				entry_set_name(e, s);
			}
		}
	}
	diags_sort(&e->diags);
	*out = e;
}

int
spec_entry_parse(struct spec_entry **out, const char *path, const void *data, size_t len,
    const struct spec_options *opts)
{
	struct arena scratch;

	arena_init(&scratch);
	entry_parse(out, path, data, len, opts, &scratch, NULL);
	arena_dispose(&scratch);
	return 0;
}

/* An entry that is invalid before parsing (size, type of file). */
static struct spec_entry *
entry_refused(const char *path, struct arena *tree_arena, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static struct spec_entry *
entry_refused(const char *path, struct arena *tree_arena, const char *fmt, ...)
{
	struct spec_entry *e = entry_new(path, tree_arena);
	va_list ap;

	va_start(ap, fmt);
	diags_vadd(&e->diags, 1, 1, fmt, ap);
	va_end(ap);
	return e;
}

/*
 * Read the spec file name in dirfd (AT_FDCWD for a path), shown as path,
 * into an entry in tree_arena (standalone when NULL).
 */
static int
entry_load_at(struct spec_entry **out, int dirfd, const char *name, const char *path,
    const struct spec_options *opts, struct arena *scratch, struct arena *tree_arena)
{
	struct stat st;
	char *data = NULL;
	size_t len = 0;
	ssize_t r;
	int fd = -1, error = ERR_GENERIC;

	*out = NULL;
	if ((error = FAILPOINT("spec_file_read")) < 0) {
		err_set("%s: failpoint", path);
		goto out;
	}
	error = ERR_GENERIC;
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		if (errno == ELOOP) {
			*out = entry_refused(path, tree_arena, "is a symbolic link; specs must be "
			    "regular files");
			error = 0;
		} else {
			err_set("%s: %s", path, strerror(errno));
			error = errno == ENOENT ? ERR_NOTFOUND : ERR_GENERIC;
		}
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		err_set("%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		*out = entry_refused(path, tree_arena, "not a regular file");
		error = 0;
		goto out;
	}
	if (st.st_size > SPEC_FILE_MAX) {
		*out = entry_refused(path, tree_arena,
		    "file is too big (%lld bytes; at most %d)",
		    (long long)st.st_size, SPEC_FILE_MAX);
		error = 0;
		goto out;
	}
	/* read at most one byte past the limit: the file may have grown */
	data = xmalloc((size_t)st.st_size + 2);
	for (;;) {
		size_t room = (size_t)st.st_size + 1 - len;

		if (room == 0)
			break;
		r = read(fd, data + len, room);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_set("%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > SPEC_FILE_MAX) {
		*out = entry_refused(path, tree_arena,
		    "file is too big (more than %d bytes)",
		    SPEC_FILE_MAX);
		error = 0;
		goto out;
	}
	entry_parse(out, path, data, len, opts, scratch, tree_arena);
	error = 0;
out:
	free(data);
	if (fd >= 0)
		close(fd);
	return error;
}

int
spec_entry_load(struct spec_entry **out, const char *path, const struct spec_options *opts)
{
	struct arena scratch;
	int error;

	arena_init(&scratch);
	error = entry_load_at(out, AT_FDCWD, path, path, opts, &scratch, NULL);
	arena_dispose(&scratch);
	return error;
}

const char *
spec_entry_name(const struct spec_entry *e)
{
	return e->name;
}

const char *
spec_entry_path(const struct spec_entry *e)
{
	return e->path;
}

int
spec_entry_valid(const struct spec_entry *e)
{
	return e->spec != NULL;
}

const struct spec *
spec_entry_spec(const struct spec_entry *e)
{
	return e->spec;
}

const char *
spec_entry_hash(const struct spec_entry *e)
{
	return e->spec != NULL ? e->hash : NULL;
}

size_t
spec_entry_diag_count(const struct spec_entry *e)
{
	return e->diags.n;
}

const struct spec_diag *
spec_entry_diag(const struct spec_entry *e, size_t i)
{
	return i < e->diags.n ? &e->diags.v[i] : NULL;
}

/* ---- the tree ---- */

static int
entry_cmp(const void *a, const void *b)
{
	const struct spec_entry *x = *(struct spec_entry *const *)a;
	const struct spec_entry *y = *(struct spec_entry *const *)b;
	int c;

	if ((c = strcmp(x->name, y->name)) != 0)
		return c;
	return strcmp(x->path, y->path);
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort, then make every entry that shares its name with another invalid. */
static void
tree_finish(struct spec_tree *t)
{
	size_t i, j, k;

	if (t->n > 1)
		qsort(t->v, t->n, sizeof(*t->v), entry_cmp);
	for (i = 0; i < t->n; i = j) {
		for (j = i + 1; j < t->n && strcmp(t->v[i]->name, t->v[j]->name) == 0; j++)
			;
		if (j - i < 2)
			continue;
		for (k = i; k < j; k++) {
			struct spec_entry *e = t->v[k];
			const struct spec_entry *other = t->v[k == i ? i + 1 : i];
			char nq[128], pq[256];

			diags_add(&e->diags, e->name_line, e->name_col, "the environment "
			    "'%s' is also declared by %s; names must be unique",
			    quote_for_msg(nq, sizeof(nq), e->name),
			    quote_for_msg(pq, sizeof(pq), other->path));
			diags_sort(&e->diags);
			e->spec = NULL;
		}
	}
	t->ninvalid = 0;
	for (i = 0; i < t->n; i++)
		if (t->v[i]->spec == NULL)
			t->ninvalid++;
}

static void
tree_add(struct spec_tree *t, size_t *cap, struct spec_entry *e)
{
	if (t->n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		t->v = xreallocarray(t->v, *cap, sizeof(*t->v));
	}
	t->v[t->n++] = e;
}

static int
is_spec_name(const char *n)
{
	size_t len = strlen(n);

	if (n[0] == '.')
		return 0;
	return (len > 5 && strcmp(n + len - 5, ".yaml") == 0) ||
	    (len > 4 && strcmp(n + len - 4, ".yml") == 0);
}

int
spec_tree_load(struct spec_tree **out, const char *dir, const struct spec_options *opts)
{
	struct spec_tree *t = xcalloc(1, sizeof(*t));	/* t->arena zeroed: arena_init */
	struct spec_entry *e;
	struct arena scratch;
	struct dirent *de;
	DIR *d = NULL;
	char **names = NULL, *path = NULL;
	size_t nnames = 0, capnames = 0, cap = 0, i;
	int dfd = -1, error = ERR_GENERIC;
	const char *sep;

	*out = NULL;
	arena_init(&scratch);
	if ((error = FAILPOINT("spec_tree_load")) < 0) {
		err_set("spec directory %s: failpoint", dir);
		goto out;
	}
	error = ERR_GENERIC;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		error = errno == ENOENT ? ERR_NOTFOUND : ERR_GENERIC;
		err_set("spec directory %s: %s", dir, strerror(errno));
		goto out;
	}
	if ((d = fdopendir(dup(dfd))) == NULL) {
		err_set("spec directory %s: %s", dir, strerror(errno));
		goto out;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0) {
				err_set("spec directory %s: %s", dir, strerror(errno));
				goto out;
			}
			break;
		}
		if (!is_spec_name(de->d_name))
			continue;
		if (nnames == capnames) {
			capnames = capnames ? capnames * 2 : 64;
			names = xreallocarray(names, capnames, sizeof(*names));
		}
		names[nnames++] = xstrdup(de->d_name);
	}
	if (nnames > 1)
		qsort(names, nnames, sizeof(*names), str_cmp);
	sep = dir[0] != '\0' && dir[strlen(dir) - 1] == '/' ? "" : "/";
	for (i = 0; i < nnames; i++) {
		free(path);
		path = xasprintf("%s%s%s", dir, sep, names[i]);
		if ((error = entry_load_at(&e, dfd, names[i], path, opts, &scratch,
		    &t->arena)) < 0)
			goto out;
		tree_add(t, &cap, e);
	}
	tree_finish(t);
	*out = t;
	t = NULL;
	error = 0;
out:
	for (i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	free(path);
	arena_dispose(&scratch);
	if (d != NULL)
		closedir(d);
	if (dfd >= 0)
		close(dfd);
	spec_tree_free(t);
	return error;
}

int
spec_tree_load_files(struct spec_tree **out, const char *const *paths, size_t npaths,
    const struct spec_options *opts)
{
	struct spec_tree *t = xcalloc(1, sizeof(*t));
	struct spec_entry *e;
	struct arena scratch;
	size_t i, cap = 0;
	int error = 0;

	*out = NULL;
	arena_init(&scratch);
	for (i = 0; i < npaths; i++) {
		if ((error = entry_load_at(&e, AT_FDCWD, paths[i], paths[i], opts,
		    &scratch, &t->arena)) < 0)
			goto out;
		tree_add(t, &cap, e);
	}
	tree_finish(t);
	*out = t;
	t = NULL;
out:
	arena_dispose(&scratch);
	spec_tree_free(t);
	return error;
}

void
spec_tree_free(struct spec_tree *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		entry_dispose(t->v[i]);
	arena_dispose(&t->arena);
	free(t->v);
	free(t);
}

size_t
spec_tree_count(const struct spec_tree *t)
{
	return t->n;
}

size_t
spec_tree_invalid_count(const struct spec_tree *t)
{
	return t->ninvalid;
}

const struct spec_entry *
spec_tree_entry(const struct spec_tree *t, size_t i)
{
	return i < t->n ? t->v[i] : NULL;
}

const struct spec_entry *
spec_tree_find(const struct spec_tree *t, const char *name)
{
	size_t lo = 0, hi = t->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(t->v[mid]->name, name);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < t->n && strcmp(t->v[lo]->name, name) == 0 ? t->v[lo] : NULL;
}
