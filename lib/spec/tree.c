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
 * chunks instead of 10,000 small arenas (only diags.v is malloc'd).  An
 * entry of a lean tree keeps no spec, only the brief (its strings in the
 * tree's arena too).  A standalone entry (spec_entry_parse/load/reload)
 * is the head of a struct standalone: it has its own arena and keeps
 * everything there.
 */
struct spec_entry {
	char		*path;
	const char	*name;
	struct diags	 diags;		/* diags.arena: the tree's, or own */
	struct spec	*spec;		/* NULL when invalid or lean */
	struct spec_brief brief;	/* when valid */
	unsigned	 name_line, name_col;
	unsigned char	 valid;
	unsigned char	 standalone;
	char		 hash[SPEC_HASH_SIZE];
};

struct standalone {
	struct spec_entry	 e;	/* first: an entry is its standalone */
	struct arena		 own;
};

struct spec_tree {
	struct spec_entry	**v;
	size_t			  n;
	size_t			  ninvalid;
	struct arena		  arena;	/* every entry */
	/* the options it was loaded with, for spec_tree_reload() */
	const char		 *default_region;
	const char		 *tag_prefix;
	const char		 *secret_env_prefix;
	const char		 *secret_ssm_prefix;
	int			  secret_files;
};

/*
 * Strings many briefs share (workspaces, regions), kept once while a
 * lean tree loads; past INTERN_MAX distinct ones each is copied.
 */
#define INTERN_MAX	32

struct intern {
	struct arena	*arena;
	const char	*v[INTERN_MAX];
	size_t		 n;
};

static const char *
intern(struct intern *in, const char *s)
{
	size_t i;

	if (s == NULL)
		return NULL;
	for (i = 0; i < in->n; i++)
		if (strcmp(in->v[i], s) == 0)
			return in->v[i];
	if (in->n == INTERN_MAX)
		return arena_strdup(in->arena, s);
	return in->v[in->n++] = arena_strdup(in->arena, s);
}

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

/* A new entry in tree_arena, or standalone when tree_arena is NULL. */
static struct spec_entry *
entry_new(const char *path, struct arena *tree_arena)
{
	struct spec_entry *e;
	struct standalone *sa;
	struct arena *a = tree_arena;
	const char *p = path ? path : "<input>", *base;
	size_t len = path ? path_stem(&base, path) : 0;

	if (a == NULL) {
		sa = xcalloc(1, sizeof(*sa));
		arena_init(&sa->own);
		a = &sa->own;
		e = &sa->e;
		e->standalone = 1;
	} else
		e = arena_alloc(a, sizeof(*e));
	e->path = arena_strdup(a, p);
	e->name = path ? arena_strndup(a, base, len) : "";
	diags_init(&e->diags, a);
	e->name_line = e->name_col = 1;
	return e;
}

/*
 * Mark e valid with spec s: name and brief from s.  Full (in_arena
 * NULL): they point into s, which lives in e's arena.  Lean: s is about
 * to go; what the entry keeps is copied (or interned) into e's arena.
 */
static void
entry_set_valid(struct spec_entry *e, const struct spec *s, struct intern *in)
{
	const char **types;
	size_t i;

	e->valid = 1;
	e->brief.ttl_s = s->lifecycle.ttl_s;
	e->brief.on_drift = s->lifecycle.on_drift;
	e->brief.idle_stop_s = s->lifecycle.idle_stop_s;
	e->brief.on_idle = s->lifecycle.on_idle;
	e->brief.market = s->instance.market;
	if (in == NULL) {
		e->spec = (struct spec *)(uintptr_t)s;
		e->name = s->name;
		e->brief.workspace = s->workspace;
		e->brief.region = s->region;
		e->brief.instance_type = s->instance.type;
		e->brief.instance_types = s->instance.types;
		e->brief.ninstance_types = s->instance.ntypes;
		return;
	}
	if (strcmp(e->name, s->name) != 0)
		e->name = arena_strdup(e->diags.arena, s->name);
	e->brief.workspace = intern(in, s->workspace);
	e->brief.region = intern(in, s->region);
	e->brief.instance_type = intern(in, s->instance.type);
	types = arena_alloc(e->diags.arena, s->instance.ntypes * sizeof(*types));
	for (i = 0; i < s->instance.ntypes; i++)
		types[i] = intern(in, s->instance.types[i]);
	e->brief.instance_types = types;
	e->brief.ninstance_types = s->instance.ntypes;
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
	struct standalone *sa = (struct standalone *)e;

	if (e == NULL)
		return;
	assert(e->standalone);
	entry_dispose(e);
	arena_dispose(&sa->own);
	free(sa);
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
 * scratch (reset first) for the YAML tree.  With lean (in != NULL) the
 * spec is built in scratch too and only the brief is kept.
 */
static void
entry_parse(struct spec_entry **out, const char *path, const void *data, size_t len,
    const struct spec_options *opts, struct arena *scratch, struct arena *tree_arena,
    struct intern *in)
{
	struct spec_entry *e = entry_new(path, tree_arena);
	struct ynode *root;
	struct spec *s;

	arena_reset(scratch);
	if (yaml_load(&root, scratch, &e->diags, data, len) == 0) {
		find_name_pos(e, root);
		s = schema_build(in != NULL ? scratch : e->diags.arena, &e->diags, root,
		    path ? e->name : NULL, opts);
		if (s != NULL && e->diags.n == 0) {
			if (spec_hash(e->hash, s) < 0)
				diags_add(&e->diags, 1, 1, "%s", err_get());
			else
				entry_set_valid(e, s, in);
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
	entry_parse(out, path, data, len, opts, &scratch, NULL, NULL);
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
 * into an entry in tree_arena (standalone when NULL); lean when in is set.
 */
static int
entry_load_at(struct spec_entry **out, int dirfd, const char *name, const char *path,
    const struct spec_options *opts, struct arena *scratch, struct arena *tree_arena,
    struct intern *in)
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
	entry_parse(out, path, data, len, opts, scratch, tree_arena, in);
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
	error = entry_load_at(out, AT_FDCWD, path, path, opts, &scratch, NULL, NULL);
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
	return e->valid;
}

const struct spec *
spec_entry_spec(const struct spec_entry *e)
{
	return e->spec;
}

const char *
spec_entry_hash(const struct spec_entry *e)
{
	return e->valid ? e->hash : NULL;
}

const struct spec_brief *
spec_entry_brief(const struct spec_entry *e)
{
	return e->valid ? &e->brief : NULL;
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
			e->valid = 0;
		}
	}
	t->ninvalid = 0;
	for (i = 0; i < t->n; i++)
		if (!t->v[i]->valid)
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

/*
 * A new empty tree that remembers opts (for spec_tree_reload).  *inp is
 * in, ready for this tree, when opts asks for a lean tree, else NULL.
 */
static struct spec_tree *
tree_new(const struct spec_options *opts, struct intern *in, struct intern **inp)
{
	struct spec_tree *t = xcalloc(1, sizeof(*t));	/* t->arena zeroed: arena_init */

	if (opts != NULL && opts->default_region != NULL)
		t->default_region = arena_strdup(&t->arena, opts->default_region);
	if (opts != NULL && opts->tag_prefix != NULL)
		t->tag_prefix = arena_strdup(&t->arena, opts->tag_prefix);
	if (opts != NULL && opts->secret_env_prefix != NULL)
		t->secret_env_prefix = arena_strdup(&t->arena,
		    opts->secret_env_prefix);
	if (opts != NULL && opts->secret_ssm_prefix != NULL)
		t->secret_ssm_prefix = arena_strdup(&t->arena,
		    opts->secret_ssm_prefix);
	t->secret_files = opts != NULL && opts->secret_files;
	memset(in, 0, sizeof(*in));
	in->arena = &t->arena;
	*inp = opts != NULL && opts->lean ? in : NULL;
	return t;
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
	struct intern in, *inp;
	struct spec_tree *t = tree_new(opts, &in, &inp);
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
		    &t->arena, inp)) < 0)
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
	struct intern in, *inp;
	struct spec_tree *t = tree_new(opts, &in, &inp);
	struct spec_entry *e;
	struct arena scratch;
	size_t i, cap = 0;
	int error = 0;

	*out = NULL;
	arena_init(&scratch);
	for (i = 0; i < npaths; i++) {
		if ((error = entry_load_at(&e, AT_FDCWD, paths[i], paths[i], opts,
		    &scratch, &t->arena, inp)) < 0)
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

/*
 * Whether r, e's file loaded again (error: how that went), is still e.
 * 0, or ERR_CONFLICT (or the load's error) with the message set.
 */
static int
reload_check(const struct spec_entry *r, int error, const struct spec_entry *e)
{
	const struct spec_diag *d;

	if (error == ERR_NOTFOUND) {
		err_set("%s: removed since the pass read it; the next pass acts on "
		    "that", e->path);
		return ERR_CONFLICT;
	}
	if (error < 0)
		return error;	/* "path: reason" */
	if (!r->valid) {
		d = r->diags.n > 0 ? &r->diags.v[0] : NULL;
		err_set("%s:%u:%u: invalid since the pass read it (%s); the next "
		    "pass acts on the new version", e->path, d ? d->line : 1,
		    d ? d->col : 1, d ? d->message : "invalid");
		return ERR_CONFLICT;
	}
	if (strcmp(r->hash, e->hash) != 0 || strcmp(r->name, e->name) != 0) {
		err_set("%s: changed since the pass read it; the next pass acts on "
		    "the new version", e->path);
		return ERR_CONFLICT;
	}
	return 0;
}

int
spec_entry_reload(struct spec_entry **out, const struct spec_entry *e,
    const struct spec_options *opts)
{
	struct spec_entry *r = NULL;
	int error;

	*out = NULL;
	if (!e->valid) {
		err_set("%s: not a valid spec; nothing to load again", e->path);
		return ERR_INVALID;
	}
	error = spec_entry_load(&r, e->path, opts);
	if ((error = reload_check(r, error, e)) < 0) {
		spec_entry_free(r);
		return error;
	}
	*out = r;
	return 0;
}

int
spec_tree_reload(struct spec_tree **out, const struct spec_tree *from,
    const struct spec_entry *const *v, size_t n)
{
	struct spec_options opts;
	struct intern in, *inp;
	struct spec_tree *t;
	struct spec_entry *r;
	const struct spec_entry **w;
	struct arena scratch;
	size_t i, cap = 0;
	int error;

	*out = NULL;
	if ((error = FAILPOINT("spec_tree_reload")) < 0) {
		err_set("reading specs again: failpoint");
		return error;
	}
	spec_options_init(&opts);
	opts.default_region = from->default_region;
	opts.tag_prefix = from->tag_prefix;
	opts.secret_env_prefix = from->secret_env_prefix;
	opts.secret_ssm_prefix = from->secret_ssm_prefix;
	opts.secret_files = from->secret_files;
	t = tree_new(&opts, &in, &inp);
	arena_init(&scratch);
	w = xcalloc(n ? n : 1, sizeof(*w));
	memcpy(w, v, n * sizeof(*w));
	if (n > 1)
		qsort(w, n, sizeof(*w), entry_cmp);
	for (i = 0; i < n; i++) {
		if (i > 0 && strcmp(w[i]->name, w[i - 1]->name) == 0)
			continue;
		r = NULL;
		if (!w[i]->valid) {
			err_set("%s: not a valid spec; nothing to load again",
			    w[i]->path);
			error = ERR_INVALID;
		} else {
			error = entry_load_at(&r, AT_FDCWD, w[i]->path, w[i]->path,
			    &opts, &scratch, &t->arena, inp);
			error = reload_check(r, error, w[i]);
		}
		if (error < 0) {
			/* r (if any) stays in the arena, unused */
			if (r != NULL)
				entry_dispose(r);
			r = entry_refused(w[i]->path, &t->arena, "%s", err_get());
			r->name = arena_strdup(&t->arena, w[i]->name);
		}
		tree_add(t, &cap, r);
	}
	tree_finish(t);
	free(w);
	arena_dispose(&scratch);
	*out = t;
	return 0;
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
