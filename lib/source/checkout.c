/*
 * checkout.c - write a git tree out as plain files, with caps.
 *
 * We walk the tree ourselves instead of git_checkout_tree(): only regular
 * files are written, every file is created with O_EXCL|O_NOFOLLOW below a
 * directory fd we made, so a hostile tree can neither escape the target
 * directory nor make us follow a link, and sizes are capped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "failpoint.h"
#include "log.h"
#include "source_int.h"

struct walk {
	git_repository			*repo;
	const struct checkout_caps	*caps;
	size_t				 files;
	size_t				 bytes;
	size_t				 linked;
};

/* The same place in the published tree, if there is one. */
struct base {
	const git_tree	*tree;	/* NULL: no base */
	int		 fd;	/* its directory, -1: none */
};

/* Count one file of size bytes against the caps. */
static int
account(struct walk *w, const char *name, unsigned long long size)
{
	char esc[256];

	if (size > w->caps->max_file_size) {
		err_set("file %s: %llu bytes, more than the limit of %zu",
		    log_escape(esc, sizeof(esc), name), size,
		    w->caps->max_file_size);
		return ERR_LIMIT;
	}
	if (++w->files > w->caps->max_files) {
		err_set("more than %zu files in the tree", w->caps->max_files);
		return ERR_LIMIT;
	}
	w->bytes += (size_t)size;
	if (w->bytes > w->caps->max_tree_size) {
		err_set("tree larger than the limit of %zu bytes",
		    w->caps->max_tree_size);
		return ERR_LIMIT;
	}
	return 0;
}

/*
 * The blob is unchanged since the published tree (same id, same mode):
 * hard-link the published file instead of writing a copy.  Published
 * trees are never modified, so sharing the inode is safe.  1 if linked.
 */
static int
link_unchanged(struct walk *w, int dirfd, const git_tree_entry *te,
    const struct base *b, int *errorp)
{
	const git_tree_entry *be;
	struct stat st;
	const char *name = git_tree_entry_name(te);

	*errorp = 0;
	if (b->tree == NULL || b->fd == -1 ||
	    (be = git_tree_entry_byname(b->tree, name)) == NULL ||
	    git_tree_entry_filemode(be) != git_tree_entry_filemode(te) ||
	    !git_oid_equal(git_tree_entry_id(be), git_tree_entry_id(te)))
		return 0;
	if (fstatat(b->fd, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISREG(st.st_mode))
		return 0;
	if ((*errorp = account(w, name, (unsigned long long)st.st_size)) != 0)
		return 1;
	if (linkat(b->fd, name, dirfd, name, 0) == -1) {
		w->files--;
		w->bytes -= (size_t)st.st_size;
		return 0;	/* write it instead */
	}
	w->linked++;
	return 1;
}

static int
name_ok(const char *name)
{
	return name[0] != '\0' && strcmp(name, ".") != 0 &&
	    strcmp(name, "..") != 0 && strchr(name, '/') == NULL &&
	    strcmp(name, ".git") != 0;
}

static int
git_fail(const char *what, const char *name)
{
	const git_error *ge = git_error_last();
	char esc[256];

	err_set("corrupt object: %s %s: %s", what,
	    log_escape(esc, sizeof(esc), name),
	    ge != NULL && ge->message != NULL ? ge->message : "unreadable");
	return ERR_GENERIC;
}

static int
write_blob(struct walk *w, int dirfd, const git_tree_entry *te)
{
	const char *name = git_tree_entry_name(te);
	git_blob *blob = NULL;
	const unsigned char *p;
	git_object_size_t size;
	mode_t mode;
	ssize_t n;
	size_t off = 0;
	int fd = -1, error = ERR_GENERIC;
	char esc[256];

	if (git_blob_lookup(&blob, w->repo, git_tree_entry_id(te)) != 0) {
		error = git_fail("blob", name);
		goto out;
	}
	size = git_blob_rawsize(blob);
	if ((error = account(w, name, (unsigned long long)size)) != 0)
		goto out;
	error = ERR_GENERIC;
	mode = git_tree_entry_filemode(te) == GIT_FILEMODE_BLOB_EXECUTABLE ?
	    0755 : 0644;
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode);
	if (fd == -1) {
		err_set("create %s: %s", log_escape(esc, sizeof(esc), name),
		    strerror(errno));
		goto out;
	}
	p = git_blob_rawcontent(blob);
	while (off < (size_t)size) {
		n = write(fd, p + off, (size_t)size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			err_set("write %s: %s", log_escape(esc, sizeof(esc),
			    name), strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	error = 0;
out:
	if (fd != -1)
		close(fd);
	git_blob_free(blob);
	return error;
}

/*
 * A tree entry that is neither a file nor a directory (a symbolic link, a
 * submodule) stands in the checkout as what a spec directory would hold in
 * its place, so the spec tree sees an invalid spec there and never a
 * removed one (docs/design.md §3): a symbolic link whose target is a fixed
 * string that resolves nowhere (the blob's own target is never written,
 * and no reader of the checkout follows links), and a submodule as an
 * empty directory.
 */
static int
write_placeholder(struct walk *w, int dirfd, const git_tree_entry *te)
{
	const char *name = git_tree_entry_name(te);
	int error, sub = git_tree_entry_filemode(te) == GIT_FILEMODE_COMMIT;
	char esc[256];

	if ((error = account(w, name, 0)) != 0)
		return error;
	if (sub ? mkdirat(dirfd, name, 0755) == -1 :
	    symlinkat(CHECKOUT_LINK_TARGET, dirfd, name) == -1) {
		err_set("create %s: %s", log_escape(esc, sizeof(esc), name),
		    strerror(errno));
		return ERR_GENERIC;
	}
	log_info("gitsync: '%s' is a %s, not a regular file: kept in its "
	    "place as an invalid entry", log_escape(esc, sizeof(esc), name),
	    sub ? "submodule" : "symbolic link");
	return 0;
}

/* The base for subdirectory name of b, into *sub (close sub->fd). */
static void
base_descend(struct base *sub, git_tree **subtree, git_repository *repo,
    const struct base *b, const char *name)
{
	const git_tree_entry *be;

	sub->tree = NULL;
	sub->fd = -1;
	*subtree = NULL;
	if (b->tree == NULL || b->fd == -1 ||
	    (be = git_tree_entry_byname(b->tree, name)) == NULL ||
	    git_tree_entry_type(be) != GIT_OBJECT_TREE ||
	    git_tree_lookup(subtree, repo, git_tree_entry_id(be)) != 0)
		return;
	sub->fd = openat(b->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	sub->tree = sub->fd != -1 ? *subtree : NULL;
}

static int
write_tree(struct walk *w, int dirfd, const git_tree *tree,
    const struct base *b, int depth)
{
	const git_tree_entry *te;
	git_tree *sub = NULL, *basesub = NULL;
	struct base bsub;
	size_t i, n;
	int subfd = -1, error = 0;
	char esc[256];

	if (depth > w->caps->max_depth) {
		err_set("tree nested deeper than %d", w->caps->max_depth);
		return ERR_LIMIT;
	}
	n = git_tree_entrycount(tree);
	for (i = 0; i < n && error == 0; i++) {
		te = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(te);
		if (!name_ok(name)) {
			err_set("tree entry with an unsafe name '%s'",
			    log_escape(esc, sizeof(esc), name));
			error = ERR_INVALID;
			break;
		}
		switch (git_tree_entry_filemode(te)) {
		case GIT_FILEMODE_BLOB:
		case GIT_FILEMODE_BLOB_EXECUTABLE:
			if (!link_unchanged(w, dirfd, te, b, &error))
				error = write_blob(w, dirfd, te);
			break;
		case GIT_FILEMODE_TREE:
			if (git_tree_lookup(&sub, w->repo,
			    git_tree_entry_id(te)) != 0) {
				error = git_fail("tree", name);
				break;
			}
			if (mkdirat(dirfd, name, 0755) == -1 ||
			    (subfd = openat(dirfd, name, O_RDONLY |
			    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
				err_set("mkdir %s: %s", log_escape(esc,
				    sizeof(esc), name), strerror(errno));
				error = ERR_GENERIC;
			} else {
				base_descend(&bsub, &basesub, w->repo, b, name);
				error = write_tree(w, subfd, sub, &bsub,
				    depth + 1);
				if (bsub.fd != -1)
					close(bsub.fd);
				git_tree_free(basesub);
				basesub = NULL;
			}
			if (subfd != -1)
				close(subfd);
			subfd = -1;
			git_tree_free(sub);
			sub = NULL;
			break;
		default:	/* symlink, submodule */
			error = write_placeholder(w, dirfd, te);
			break;
		}
	}
	return error;
}

int
checkout_tree_write(git_repository *repo, const git_tree *tree,
    const char *dir, const struct checkout_caps *caps,
    const git_tree *base_tree, const char *base_dir)
{
	struct walk w = { .repo = repo, .caps = caps };
	struct base b = { .tree = NULL, .fd = -1 };
	int dirfd = -1, error = ERR_GENERIC;

	if ((error = FAILPOINT("gitsync.checkout")) != 0) {
		err_set("failpoint gitsync.checkout");
		goto out;
	}
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		err_set("open %s: %s", dir, strerror(errno));
		error = ERR_GENERIC;
		goto out;
	}
	if (base_tree != NULL && base_dir != NULL &&
	    (b.fd = open(base_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1)
		b.tree = base_tree;
	error = write_tree(&w, dirfd, tree, &b, 0);
	/*
	 * One syncfs() instead of an fsync() per file: the tree is renamed
	 * into place only after its data is on disk, so a power cut never
	 * publishes empty files, and 1000 specs cost one flush, not 1000.
	 */
	if (error == 0 && syncfs(dirfd) == -1) {
		err_set("sync %s: %s", dir, strerror(errno));
		error = ERR_GENERIC;
	}
	if (error == 0)
		log_debug("gitsync: wrote %zu files (%zu linked from the "
		    "published tree), %zu bytes", w.files, w.linked, w.bytes);
out:
	if (b.fd != -1)
		close(b.fd);
	if (dirfd != -1)
		close(dirfd);
	return error;
}
