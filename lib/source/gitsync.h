/*
 * gitsync.h - keep a published copy of one branch of a git repository.
 *
 * The state directory holds
 *   mirror.git/        a private bare repository the branch is fetched into
 *   trees/<commit-id>/ the files of one commit (only its sub-path), written
 *                      under a temporary name and renamed into place
 *   current            a symlink to trees/<commit-id>, replaced by rename(2)
 * so a reader that opens "current" sees one whole commit, never a mix.
 * The commit id is the revision.
 *
 * A pass is two-step, so a tree that fails to load never replaces the last
 * good one (relayd "reconfiguration FAILED"):
 *
 *	gitsync_prepare(gs, &fresh)       fetch; if the branch moved, check
 *	                                  the new commit out as a candidate
 *	... caller loads gitsync_candidate_dir(gs) ...
 *	gitsync_publish(gs)               swap "current" to the candidate, or
 *	gitsync_discard(gs, "why")        drop it; current stays as it was
 *
 * Any failure (unreachable remote, authentication, missing branch, corrupt
 * object, sub-path missing, size caps) leaves "current" and the revision
 * untouched and keeps the reason in gitsync_last_error().  A commit that is
 * not a descendant of the published one (force-push) is logged and offered
 * as a candidate like any other: the policy is to accept it if it loads.
 * A rejected commit is remembered and not offered again until the branch
 * moves.  When objects in the mirror cannot be read, the mirror is deemed
 * corrupt: the call fails, and the next gitsync_prepare() removes the mirror
 * and fetches into a fresh one (a full re-clone).  Every fetch that brings
 * something adds a pack (libgit2 does not repack); past mirror_max_packs
 * the mirror is likewise replaced by a fresh clone, which for a spec repo
 * is cheap and keeps a long-running controller's fetches fast.
 *
 * One process uses a state directory at a time: gitsync_new() takes an
 * exclusive flock on <state>/lock (ERR_CONFLICT if another holds it) and
 * gitsync_free() releases it.
 *
 * libgit2: the process calls git_libgit2_init() once before the first
 * gitsync_new() (the controller's main does; tests do in their setup) and
 * git_libgit2_shutdown() at exit.  A struct gitsync is used by one thread
 * at a time.
 *
 * Credentials.  https: Basic auth with a token read from token_file on
 * every fetch (so a rotated token is picked up; its first line, trailing
 * blanks cut) as the password, the user being the URL's ("https://me@..."),
 * else username, else "x-access-token"; the token is wiped after use and
 * never logged.  ssh (libssh2): the private key ssh_key_file, without a
 * passphrase, its public half from ssh_key_file + ".pub" if present,
 * otherwise derived; the user is the URL's, else username, else "git".
 * A refused key or token fails the fetch with "authentication failed:
 * the server refused <what>".
 *
 * Host keys fail closed (like StrictHostKeyChecking=yes): with
 * ssh_known_hosts set the server's key must be listed there for "host"
 * (port 22) or "[host]:port", plain, hashed (|1|) or "*" entries, not
 * under @revoked; without it libgit2 checks $HOME/.ssh/known_hosts.  A
 * host that is not listed, or listed only with other keys (changed, or
 * another key type than the one the server offers first), is refused.
 *
 * https certificates are checked by libgit2's TLS (Debian: mbedTLS with
 * /etc/ssl/certs/ca-certificates.crt; SSL_CERT_FILE and git's
 * http.sslCAInfo are not honoured).  ca_file adds a PEM bundle for a
 * private CA or a self-signed server: a certificate the system CAs
 * refuse is accepted if it chains to ca_file, names the URL's host and
 * is valid now (intermediates must be in ca_file).
 *
 * libgit2 1.5 (Debian 12) and ssh: every ssh fetch needs HOME set (it
 * reads $HOME/.ssh/known_hosts even when ssh_known_hosts is given; without
 * HOME the fetch fails with a message saying so), and leaks about 120
 * bytes plus the parsed $HOME/.ssh/known_hosts per connection (its
 * load_known_hosts(); fixed in libgit2 1.6).
 */
#ifndef ENVCTL_GITSYNC_H
#define ENVCTL_GITSYNC_H

#include <stddef.h>

struct gitsync;

struct gitsync_opts {
	const char	*url;		/* https://, ssh://, user@host:path, git://, file://, or a path */
	const char	*branch;	/* default "main" */
	const char	*subpath;	/* folder inside the repo holding the specs; NULL/"" = root */
	const char	*state_dir;	/* created if missing */
	const char	*username;	/* https: default "x-access-token"; ssh: default from URL or "git" */
	const char	*token_file;	/* https password/token */
	const char	*ssh_key_file;	/* ssh private key (no passphrase) */
	const char	*ssh_known_hosts;
	const char	*ca_file;	/* https: extra trusted CAs (PEM) */
	size_t		 max_file_size;	/* default 4 MiB: a bigger blob fails the checkout */
	size_t		 max_tree_size;	/* default 64 MiB in all */
	size_t		 max_files;	/* default 10000 */
	size_t		 mirror_max_packs; /* default 64: more packs -> fresh mirror */
};

/*
 * Check opts, create the state directory, remove leftovers of an
 * interrupted checkout and read the published revision from "current".
 * Strings are copied; *out is the caller's, freed with gitsync_free().
 */
int		 gitsync_new(struct gitsync **out, const struct gitsync_opts *opts);
void		 gitsync_free(struct gitsync *);

/*
 * Fetch the branch and, if its commit is neither the published one nor a
 * rejected one, check it out into trees/<id> as the candidate: *freshp = 1.
 * Nothing new: 0 and *freshp = 0.  On failure a negative code (ERR_UNAVAILABLE
 * fetch/auth, ERR_NOTFOUND missing branch or sub-path, ERR_LIMIT caps,
 * ERR_GENERIC corrupt objects) with the reason in err_get() and in
 * gitsync_last_error(); the published tree is untouched.  A candidate still
 * pending from an earlier call is discarded first.
 */
int		 gitsync_prepare(struct gitsync *, int *freshp);

/* The candidate's directory and commit id; NULL when there is none. */
const char	*gitsync_candidate_dir(const struct gitsync *);
const char	*gitsync_candidate_revision(const struct gitsync *);
/* 1 if the candidate is not a descendant of the published commit. */
int		 gitsync_candidate_forced(const struct gitsync *);

/*
 * Make the candidate current by an atomic symlink swap, then remove every
 * tree but the new one and the one it replaced (a pass may still be
 * reading that).  ERR_INVALID when there is no candidate.
 */
int		 gitsync_publish(struct gitsync *);
/*
 * Drop the candidate (the caller could not load it); reason is kept as
 * gitsync_last_error() and the commit is not offered again.
 */
void		 gitsync_discard(struct gitsync *, const char *reason);

/*
 * The one-call form of prepare -> load -> publish/discard.  load is called
 * with the candidate's directory and commit id; it returns 0 to accept the
 * tree or a negative code with the reason in err_get() to reject it.
 * *publishedp = 1 when a new revision was published.  Returns 0 when
 * nothing was new, the candidate was published or it was rejected (the
 * reason is then in gitsync_last_error()); negative when prepare or
 * publish failed.
 */
typedef int	 gitsync_load_fn(const char *dir, const char *revision, void *arg);
int		 gitsync_fetch(struct gitsync *, gitsync_load_fn *load, void *arg,
		    int *publishedp);

/*
 * The published tree and its commit id; NULL if nothing is published yet.
 * gitsync_current_dir() is "<state>/current", the symlink other processes
 * open.  gitsync_tree_dir() is "<state>/trees/<id>", the very tree of
 * gitsync_revision(): a pass in this process reads that, so its files and
 * its revision always agree; it stays on disk until the publish after the
 * next one.  Both strings are owned by gs and change on publish.
 */
const char	*gitsync_current_dir(const struct gitsync *);
const char	*gitsync_tree_dir(const struct gitsync *);
const char	*gitsync_revision(const struct gitsync *);
/* Why the last prepare failed or the last candidate was rejected; NULL after a publish. */
const char	*gitsync_last_error(const struct gitsync *);
/* The state directory (watch it to see the swap of "current"). */
const char	*gitsync_state_dir(const struct gitsync *);

#endif
