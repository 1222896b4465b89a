/*
 * gitsync.c - fetch one branch into a private mirror, check a new commit
 * out into a fresh directory, publish it by an atomic symlink swap.
 * See gitsync.h for the promises.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <git2.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "err.h"
#include "failpoint.h"
#include "gitsync.h"
#include "log.h"
#include "mem.h"
#include "source_int.h"

#define HEXSZ		GIT_OID_HEXSZ
#define TOKEN_MAX	4096
#define KNOWN_HOSTS_MAX	(1024 * 1024)

struct gitsync {
	char			*url;
	char			*url_safe;	/* without user:password@, for messages */
	char			*branch;
	char			*subpath;
	char			*state_dir;
	char			*username;
	char			*token_file;
	char			*ssh_key_file;
	char			*ssh_known_hosts;
	char			*ca_file;
	struct checkout_caps	 caps;
	size_t			 max_packs;

	char			*mirror_dir;	/* <state>/mirror.git */
	char			*trees_dir;	/* <state>/trees */
	char			*current_link;	/* <state>/current */

	char			 revision[HEXSZ + 1];	/* "" when nothing is published */
	char			*tree_dir;	/* <state>/trees/<revision> */
	char			 previous[HEXSZ + 1];	/* the tree current replaced */
	char			 rejected[HEXSZ + 1];
	char			 cand_rev[HEXSZ + 1];
	char			*cand_dir;
	int			 cand_forced;
	char			*last_error;
	int			 mirror_suspect;	/* re-clone on the next prepare */
	int			 lock_fd;	/* flock on <state>/lock */
	int			 auth_tries;
	char			 auth_what[320];	/* what the last try offered */
};

/* Copy url leaving out any "user:password@" so it can be logged. */
static char *
url_redact(const char *url)
{
	const char *scheme, *at, *slash;

	if ((scheme = strstr(url, "://")) == NULL)
		return xstrdup(url);
	scheme += 3;
	slash = strchr(scheme, '/');
	at = strchr(scheme, '@');
	if (at == NULL || (slash != NULL && at > slash))
		return xstrdup(url);
	return xasprintf("%.*s%s", (int)(scheme - url), url, at + 1);
}

static void
set_last_error(struct gitsync *gs, const char *msg)
{
	free(gs->last_error);
	gs->last_error = msg != NULL ? xstrdup(msg) : NULL;
}

static const char *
git_msg(void)
{
	const git_error *ge = git_error_last();

	return ge != NULL && ge->message != NULL ? ge->message : "unknown error";
}

static int
git_err_class(void)
{
	const git_error *ge = git_error_last();

	return ge != NULL ? ge->klass : GIT_ERROR_NONE;
}

static char *
dupopt(const char *s)
{
	return s != NULL && *s != '\0' ? xstrdup(s) : NULL;
}

static void
set_revision(struct gitsync *gs, const char *hex)
{
	memcpy(gs->revision, hex, HEXSZ + 1);
	free(gs->tree_dir);
	gs->tree_dir = xasprintf("%s/%s", gs->trees_dir, hex);
}

/* Read "current" -> "trees/<id>" and take <id> as the published revision. */
static void
read_current(struct gitsync *gs)
{
	char target[512];
	const char *base;
	ssize_t n;

	gs->revision[0] = '\0';
	n = readlink(gs->current_link, target, sizeof(target) - 1);
	if (n <= 0)
		return;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base != NULL ? base + 1 : target;
	if (strlen(base) == HEXSZ && strspn(base, "0123456789abcdef") == HEXSZ)
		set_revision(gs, base);
	else
		log_warnx("gitsync: %s points to an unexpected target",
		    gs->current_link);
}

/* Remove leftovers of an interrupted checkout or publish. */
static void
remove_temporaries(struct gitsync *gs)
{
	DIR *d;
	struct dirent *de;
	char *p;

	if ((d = opendir(gs->trees_dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, ".tmp-", 5) != 0)
			continue;
		p = xasprintf("%s/%s", gs->trees_dir, de->d_name);
		(void)fs_remove_tree(p);
		free(p);
	}
	closedir(d);
	if ((d = opendir(gs->state_dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, ".current.tmp-", 13) != 0)
			continue;
		p = xasprintf("%s/%s", gs->state_dir, de->d_name);
		(void)unlink(p);
		free(p);
	}
	closedir(d);
}

/* One process per state directory: take <state>/lock for our lifetime. */
static int
lock_state(struct gitsync *gs)
{
	char *path = xasprintf("%s/lock", gs->state_dir);
	int error = ERR_GENERIC;

	gs->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (gs->lock_fd == -1) {
		err_set("gitsync: %s: %s", path, strerror(errno));
		goto out;
	}
	if (flock(gs->lock_fd, LOCK_EX | LOCK_NB) == -1) {
		error = errno == EWOULDBLOCK ? ERR_CONFLICT : ERR_GENERIC;
		err_set("gitsync: state directory %s is in use by another "
		    "process", gs->state_dir);
		goto out;
	}
	error = 0;
out:
	free(path);
	return error;
}

static int
branch_valid(const char *branch)
{
	char *refname = xasprintf("refs/heads/%s", branch);
	int ok = 0;

	if (git_reference_name_is_valid(&ok, refname) != 0)
		ok = 0;
	free(refname);
	return ok;
}

int
gitsync_new(struct gitsync **out, const struct gitsync_opts *opts)
{
	struct gitsync *gs = NULL;
	int error = ERR_INVALID;

	*out = NULL;
	if (opts->url == NULL || *opts->url == '\0') {
		err_set("gitsync: no repository URL");
		goto out;
	}
	if (opts->state_dir == NULL || *opts->state_dir == '\0') {
		err_set("gitsync: no state directory");
		goto out;
	}
	gs = xcalloc(1, sizeof(*gs));
	gs->lock_fd = -1;
	gs->url = xstrdup(opts->url);
	gs->url_safe = url_redact(opts->url);
	gs->branch = xstrdup(opts->branch != NULL && *opts->branch != '\0' ?
	    opts->branch : "main");
	if (opts->subpath != NULL) {
		const char *s = opts->subpath;
		size_t len;

		while (*s == '/')
			s++;
		len = strlen(s);
		while (len > 0 && s[len - 1] == '/')
			len--;
		if (len > 0)
			gs->subpath = xstrndup(s, len);
	}
	gs->state_dir = xstrdup(opts->state_dir);
	gs->username = dupopt(opts->username);
	gs->token_file = dupopt(opts->token_file);
	gs->ssh_key_file = dupopt(opts->ssh_key_file);
	gs->ssh_known_hosts = dupopt(opts->ssh_known_hosts);
	gs->ca_file = dupopt(opts->ca_file);
	gs->caps.max_file_size = opts->max_file_size ? opts->max_file_size :
	    4u * 1024 * 1024;
	gs->caps.max_tree_size = opts->max_tree_size ? opts->max_tree_size :
	    64u * 1024 * 1024;
	gs->caps.max_files = opts->max_files ? opts->max_files : 10000;
	gs->caps.max_depth = 32;
	gs->max_packs = opts->mirror_max_packs ? opts->mirror_max_packs : 64;
	gs->mirror_dir = xasprintf("%s/mirror.git", gs->state_dir);
	gs->trees_dir = xasprintf("%s/trees", gs->state_dir);
	gs->current_link = xasprintf("%s/current", gs->state_dir);

	if (!branch_valid(gs->branch)) {
		err_set("gitsync: invalid branch name");
		goto out;
	}
	if ((error = fs_mkdir_p(gs->trees_dir, 0755)) != 0) {
		err_prefix("gitsync: state directory");
		goto out;
	}
	if ((error = lock_state(gs)) != 0)
		goto out;
	remove_temporaries(gs);
	read_current(gs);
	*out = gs;
	gs = NULL;
	error = 0;
out:
	gitsync_free(gs);
	return error;
}

static void
candidate_clear(struct gitsync *gs, int remove)
{
	if (gs->cand_dir != NULL && remove &&
	    strcmp(gs->cand_rev, gs->revision) != 0 &&
	    strcmp(gs->cand_rev, gs->previous) != 0)
		(void)fs_remove_tree(gs->cand_dir);
	free(gs->cand_dir);
	gs->cand_dir = NULL;
	gs->cand_rev[0] = '\0';
	gs->cand_forced = 0;
}

void
gitsync_free(struct gitsync *gs)
{
	if (gs == NULL)
		return;
	candidate_clear(gs, 1);
	free(gs->url);
	free(gs->url_safe);
	free(gs->branch);
	free(gs->subpath);
	free(gs->state_dir);
	free(gs->username);
	free(gs->token_file);
	free(gs->ssh_key_file);
	free(gs->ssh_known_hosts);
	free(gs->ca_file);
	free(gs->mirror_dir);
	free(gs->trees_dir);
	free(gs->current_link);
	free(gs->last_error);
	free(gs->tree_dir);
	if (gs->lock_fd != -1)
		close(gs->lock_fd);
	free(gs);
}

/* A plain path: no "scheme://" and not scp-like "host:path". */
static int
url_is_local_path(const char *url)
{
	const char *colon = strchr(url, ':'), *slash = strchr(url, '/');

	if (strstr(url, "://") != NULL)
		return 0;
	return colon == NULL || (slash != NULL && slash < colon);
}

/* ssh://, its aliases, or scp-like "[user@]host:path". */
static int
url_is_ssh(const char *url)
{
	if (strstr(url, "://") == NULL)
		return !url_is_local_path(url);
	return strncmp(url, "ssh://", 6) == 0 ||
	    strncmp(url, "ssh+git://", 10) == 0 ||
	    strncmp(url, "git+ssh://", 10) == 0;
}

/* Port of an ssh://host:port/ URL (or its aliases), 22 otherwise. */
static int
url_port(const char *url)
{
	const char *h, *slash, *colon, *at;

	if ((h = strstr(url, "://")) == NULL)
		return 22;	/* scp-like has no port */
	h += 3;
	slash = strchr(h, '/');
	if ((at = strchr(h, '@')) != NULL && (slash == NULL || at < slash))
		h = at + 1;
	if (*h == '[' && (h = strchr(h, ']')) == NULL)
		return 22;
	colon = strchr(h, ':');
	if (colon == NULL || (slash != NULL && colon > slash))
		return 22;
	return (int)strtol(colon + 1, NULL, 10);
}

/* The key type named at the start of a wire-format key ("ssh-ed25519"). */
static void
hostkey_type(char *out, size_t outsz, const unsigned char *key, size_t len)
{
	size_t n;

	mem_strcopy(out, outsz, "unknown");
	if (len < 4)
		return;
	n = (size_t)key[0] << 24 | (size_t)key[1] << 16 |
	    (size_t)key[2] << 8 | key[3];
	if (n == 0 || n > len - 4 || n >= outsz || n > 64)
		return;
	memcpy(out, key + 4, n);
	out[n] = '\0';
	if (strspn(out, "abcdefghijklmnopqrstuvwxyz0123456789-@.") != n)
		mem_strcopy(out, outsz, "unknown");
}

/*
 * ssh: the server's host key must be in ssh_known_hosts when one is
 * configured.  Without one, libgit2 (1.5.1 and later) has already looked
 * in $HOME/.ssh/known_hosts and says so in valid: unknown is refused
 * either way (fail closed, like StrictHostKeyChecking=yes).
 */
static int
check_hostkey(struct gitsync *gs, const git_cert_hostkey *hk, int valid,
    const char *host)
{
	char *kh = NULL, type[72];
	const char *home;
	int port = url_port(gs->url), r;

	if (gs->ssh_known_hosts == NULL) {
		if (valid)
			return 0;
		home = getenv("HOME");
		git_error_set(GIT_ERROR_SSH, "ssh host key of %s port %d is "
		    "unknown or changed: it is not in %s/.ssh/known_hosts and "
		    "no known_hosts file is configured", host, port,
		    home != NULL ? home : "$HOME");
		return GIT_ECERTIFICATE;
	}
	if (!(hk->type & GIT_CERT_SSH_RAW)) {
		git_error_set_str(GIT_ERROR_SSH, "ssh host key not available");
		return GIT_ECERTIFICATE;
	}
	if (fs_read_small(&kh, NULL, gs->ssh_known_hosts, KNOWN_HOSTS_MAX) != 0) {
		git_error_set(GIT_ERROR_SSH, "known_hosts: %s", err_get());
		return GIT_ECERTIFICATE;
	}
	r = known_hosts_match(kh, host, port,
	    (const unsigned char *)hk->hostkey, hk->hostkey_len);
	free(kh);
	if (r == KH_MATCH)
		return 0;
	hostkey_type(type, sizeof(type), (const unsigned char *)hk->hostkey,
	    hk->hostkey_len);
	if (r == KH_REVOKED)
		git_error_set(GIT_ERROR_SSH, "ssh host key of %s port %d (%s) "
		    "is marked @revoked in %s", host, port, type,
		    gs->ssh_known_hosts);
	else if (r == KH_CHANGED)
		git_error_set(GIT_ERROR_SSH, "ssh host key of %s port %d does "
		    "not match %s: the server offered a %s key that is not "
		    "listed for it (host key changed, or only other key types "
		    "are listed)", host, port, gs->ssh_known_hosts, type);
	else
		git_error_set(GIT_ERROR_SSH, "ssh host key of %s port %d (%s) "
		    "is unknown: no entry for it in %s", host, port, type,
		    gs->ssh_known_hosts);
	return GIT_ECERTIFICATE;
}

/*
 * https: a certificate the TLS library accepted (system CAs) is fine.
 * One it refused is checked again against ca_file, when configured:
 * chain to a CA in that file, the URL's host (name or address), a server
 * certificate.  Only the server's own certificate is available here, so
 * intermediates must be in ca_file too.
 */
static int
check_x509(struct gitsync *gs, const git_cert_x509 *xc, int valid,
    const char *host)
{
	const unsigned char *der = xc->data;
	X509 *leaf = NULL;
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	X509_VERIFY_PARAM *param;
	unsigned char addr[16];
	int error = GIT_ECERTIFICATE, ip;

	if (valid)
		return 0;
	if (gs->ca_file == NULL) {
		git_error_set(GIT_ERROR_SSL, "TLS certificate of %s is not "
		    "trusted: not issued by a system CA for that name, and no "
		    "CA file is configured", host);
		return GIT_ECERTIFICATE;
	}
	ip = inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1;
	if ((leaf = d2i_X509(NULL, &der, (long)xc->len)) == NULL) {
		git_error_set(GIT_ERROR_SSL, "TLS certificate of %s cannot "
		    "be parsed", host);
		goto out;
	}
	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	if (store == NULL || ctx == NULL)
		abort();
	if (X509_STORE_load_file(store, gs->ca_file) != 1) {
		git_error_set(GIT_ERROR_SSL, "CA file %s cannot be read or "
		    "holds no PEM certificate", gs->ca_file);
		goto out;
	}
	if (X509_STORE_CTX_init(ctx, store, leaf, NULL) != 1)
		abort();
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
	if ((ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host) :
	    X509_VERIFY_PARAM_set1_host(param, host, 0)) != 1) {
		git_error_set(GIT_ERROR_SSL, "TLS certificate of %s: bad "
		    "host name", host);
		goto out;
	}
	if (X509_verify_cert(ctx) != 1) {
		git_error_set(GIT_ERROR_SSL, "TLS certificate of %s is not "
		    "trusted: %s (checked against the system CAs and %s)", host,
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)),
		    gs->ca_file);
		goto out;
	}
	error = 0;
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(leaf);
	return error;
}

static int
cb_certificate(git_cert *cert, int valid, const char *host, void *payload)
{
	struct gitsync *gs = payload;

	if (cert->cert_type == GIT_CERT_HOSTKEY_LIBSSH2)
		return check_hostkey(gs, (const git_cert_hostkey *)cert, valid,
		    host);
	if (cert->cert_type == GIT_CERT_X509)
		return check_x509(gs, (const git_cert_x509 *)cert, valid, host);
	return valid ? 0 : GIT_PASSTHROUGH;
}

/* The ssh user: the URL's, else the configured one, else "git". */
static const char *
ssh_user(const struct gitsync *gs, const char *user_url)
{
	if (user_url != NULL && *user_url != '\0')
		return user_url;
	return gs->username != NULL ? gs->username : "git";
}

static int
cred_ssh_key(git_credential **out, struct gitsync *gs, const char *user)
{
	char *pub = NULL;
	int error;

	if (access(gs->ssh_key_file, R_OK) != 0) {
		git_error_set(GIT_ERROR_SSH, "ssh key %s: %s",
		    gs->ssh_key_file, strerror(errno));
		return GIT_EAUTH;
	}
	/* the public half next to it, else libssh2 derives it */
	pub = xasprintf("%s.pub", gs->ssh_key_file);
	if (access(pub, R_OK) != 0) {
		free(pub);
		pub = NULL;
	}
	snprintf(gs->auth_what, sizeof(gs->auth_what), "ssh key %s for "
	    "user '%s'", gs->ssh_key_file, user);
	error = git_credential_ssh_key_new(out, user, pub, gs->ssh_key_file,
	    NULL);
	free(pub);
	return error;
}

/* The token file's first line, trailing blanks cut; wiped by the caller. */
static int
cred_token(git_credential **out, struct gitsync *gs, const char *user)
{
	char *token = NULL;
	size_t len;
	int error;

	if (fs_read_small(&token, &len, gs->token_file, TOKEN_MAX) != 0) {
		git_error_set(GIT_ERROR_HTTP, "token file: %s", err_get());
		return GIT_EAUTH;
	}
	len = strcspn(token, "\r\n");
	while (len > 0 && (token[len - 1] == ' ' || token[len - 1] == '\t'))
		len--;
	if (len == 0) {
		mem_free_secret(token);
		git_error_set(GIT_ERROR_HTTP, "token file %s is empty",
		    gs->token_file);
		return GIT_EAUTH;
	}
	mem_wipe(token + len, strlen(token + len));
	snprintf(gs->auth_what, sizeof(gs->auth_what), "the token in %s "
	    "for user '%s'", gs->token_file, user);
	error = git_credential_userpass_plaintext_new(out, user, token);
	mem_free_secret(token);
	return error;
}

/*
 * libgit2 asks for credentials: first the ssh user name when the URL
 * has none, then one offer (key or token); being asked again means the
 * server refused it.
 */
static int
cb_credentials(git_credential **out, const char *url, const char *user_url,
    unsigned int allowed, void *payload)
{
	struct gitsync *gs = payload;

	(void)url;
	if (allowed == GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, ssh_user(gs, user_url));
	if (gs->auth_tries++ > 0) {
		git_error_set(GIT_ERROR_NET, "authentication failed: the "
		    "server refused %s", gs->auth_what);
		return GIT_EAUTH;
	}
	if ((allowed & GIT_CREDENTIAL_SSH_KEY) && gs->ssh_key_file != NULL)
		return cred_ssh_key(out, gs, ssh_user(gs, user_url));
	if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) &&
	    gs->token_file != NULL)
		return cred_token(out, gs, user_url != NULL && *user_url ?
		    user_url : gs->username != NULL ? gs->username :
		    "x-access-token");
	git_error_set(GIT_ERROR_NET, "authentication failed: the remote asks "
	    "for credentials (%s) and none are configured for it",
	    (allowed & GIT_CREDENTIAL_SSH_KEY) ? "an ssh key" : "a token");
	return GIT_EAUTH;
}

/* How many packs the mirror has. */
static size_t
mirror_packs(const struct gitsync *gs)
{
	DIR *d;
	struct dirent *de;
	char *dir = xasprintf("%s/objects/pack", gs->mirror_dir);
	size_t n = 0, len;

	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			len = strlen(de->d_name);
			if (len > 5 && strcmp(de->d_name + len - 5, ".pack") == 0)
				n++;
		}
		closedir(d);
	}
	free(dir);
	return n;
}

/* Open the mirror, making a fresh one if it is missing or unusable. */
static int
mirror_open(git_repository **out, struct gitsync *gs)
{
	struct stat st;

	if (gs->mirror_suspect) {
		log_warnx("gitsync: url=%s mirror was unreadable; removing it "
		    "and fetching from scratch", gs->url_safe);
		(void)fs_remove_tree(gs->mirror_dir);
		gs->mirror_suspect = 0;
	}
	if (!gs->mirror_suspect && mirror_packs(gs) > gs->max_packs) {
		log_info("gitsync: url=%s mirror has more than %zu packs; "
		    "fetching into a fresh one", gs->url_safe, gs->max_packs);
		(void)fs_remove_tree(gs->mirror_dir);
	}
	if (stat(gs->mirror_dir, &st) == 0) {
		if (git_repository_open_bare(out, gs->mirror_dir) == 0)
			return 0;
		log_warnx("gitsync: mirror %s: %s; re-creating it",
		    gs->mirror_dir, git_msg());
		(void)fs_remove_tree(gs->mirror_dir);
	}
	if (git_repository_init(out, gs->mirror_dir, 1) != 0) {
		err_set("gitsync: create mirror %s: %s", gs->mirror_dir,
		    git_msg());
		return ERR_GENERIC;
	}
	return 0;
}

/* Fetch the branch; *oid is its commit as the remote advertised it. */
static int
fetch_branch(git_oid *oid, struct gitsync *gs, git_repository *repo)
{
	git_fetch_options fo;
	git_remote_create_options ro;
	git_remote *remote = NULL;
	const git_remote_head **heads;
	git_strarray specs;
	char *spec = NULL, *want = NULL;
	size_t n, i;
	int error = ERR_UNAVAILABLE, found = 0;

	if ((error = FAILPOINT("gitsync.fetch")) != 0) {
		err_set("fetch %s: failpoint", gs->url_safe);
		goto out;
	}
	if (url_is_local_path(gs->url) && access(gs->url, F_OK) != 0) {
		err_set("fetch %s: no repository there (%s)", gs->url_safe,
		    strerror(errno));
		error = ERR_UNAVAILABLE;
		goto out;
	}
	/* libgit2 1.5 fails every ssh fetch when it cannot read $HOME */
	if (url_is_ssh(gs->url) && getenv("HOME") == NULL) {
		err_set("fetch %s: ssh needs HOME in the environment (libgit2 "
		    "reads $HOME/.ssh/known_hosts even when a known_hosts "
		    "file is configured)", gs->url_safe);
		error = ERR_UNAVAILABLE;
		goto out;
	}
	error = ERR_UNAVAILABLE;
	spec = xasprintf("+refs/heads/%s:refs/gitsync/head", gs->branch);
	want = xasprintf("refs/heads/%s", gs->branch);
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	specs.strings = &spec;
	specs.count = 1;
	fo.callbacks.credentials = cb_credentials;
	fo.callbacks.certificate_check = cb_certificate;
	fo.callbacks.payload = gs;
	fo.update_fetchhead = 0;
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	gs->auth_tries = 0;
	gs->auth_what[0] = '\0';
	/*
	 * No url.*.insteadOf rewriting from whatever config is around (and
	 * libgit2 1.5 leaks in that regexp lookup, libgit2 PR #6382).
	 */
	git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	ro.repository = repo;
	ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF |
	    GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	if (git_remote_create_with_opts(&remote, gs->url, &ro) != 0 ||
	    git_remote_fetch(remote, &specs, &fo, NULL) != 0) {
		int klass = git_err_class();

		err_set("fetch %s: %s", gs->url_safe, git_msg());
		if (klass == GIT_ERROR_ODB || klass == GIT_ERROR_ZLIB ||
		    klass == GIT_ERROR_OBJECT || klass == GIT_ERROR_INDEXER ||
		    klass == GIT_ERROR_REPOSITORY || klass == GIT_ERROR_TREE) {
			gs->mirror_suspect = 1;
			error = ERR_GENERIC;
		}
		goto out;
	}
	if (git_remote_ls(&heads, &n, remote) != 0) {
		err_set("fetch %s: %s", gs->url_safe, git_msg());
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(heads[i]->name, want) == 0) {
			git_oid_cpy(oid, &heads[i]->oid);
			found = 1;
			break;
		}
	}
	if (!found) {
		err_set("fetch %s: branch '%s' not found", gs->url_safe,
		    gs->branch);
		error = ERR_NOTFOUND;
		goto out;
	}
	error = 0;
out:
	git_remote_free(remote);
	free(spec);
	free(want);
	return error;
}

/* The tree to publish: the commit's root or its sub-path. */
static int
commit_spec_tree(git_tree **out, struct gitsync *gs, git_repository *repo,
    const git_oid *oid)
{
	git_commit *commit = NULL;
	git_tree *root = NULL;
	git_tree_entry *te = NULL;
	char hex[HEXSZ + 1];
	int error = ERR_GENERIC;

	git_oid_tostr(hex, sizeof(hex), oid);
	if (git_commit_lookup(&commit, repo, oid) != 0 ||
	    git_commit_tree(&root, commit) != 0) {
		err_set("corrupt object: commit %s: %s", hex, git_msg());
		gs->mirror_suspect = 1;
		goto out;
	}
	if (gs->subpath == NULL) {
		*out = root;
		root = NULL;
		error = 0;
		goto out;
	}
	if (git_tree_entry_bypath(&te, root, gs->subpath) != 0 ||
	    git_tree_entry_type(te) != GIT_OBJECT_TREE) {
		err_set("commit %s: no folder '%s'", hex, gs->subpath);
		error = ERR_NOTFOUND;
		goto out;
	}
	if (git_tree_lookup(out, repo, git_tree_entry_id(te)) != 0) {
		err_set("corrupt object: tree %s in commit %s: %s",
		    gs->subpath, hex, git_msg());
		gs->mirror_suspect = 1;
		goto out;
	}
	error = 0;
out:
	git_tree_entry_free(te);
	git_tree_free(root);
	git_commit_free(commit);
	return error;
}

/*
 * The published commit's spec tree, to hard-link unchanged files from;
 * NULL when it cannot be read (gone after a re-clone, say): then every
 * file is written.
 */
static git_tree *
base_tree(struct gitsync *gs, git_repository *repo)
{
	git_commit *commit = NULL;
	git_tree *root = NULL, *out = NULL;
	git_tree_entry *te = NULL;
	git_oid oid;

	if (gs->revision[0] == '\0' || git_oid_fromstr(&oid, gs->revision) != 0 ||
	    git_commit_lookup(&commit, repo, &oid) != 0 ||
	    git_commit_tree(&root, commit) != 0)
		goto out;
	if (gs->subpath == NULL) {
		out = root;
		root = NULL;
	} else if (git_tree_entry_bypath(&te, root, gs->subpath) == 0 &&
	    git_tree_entry_type(te) == GIT_OBJECT_TREE)
		(void)git_tree_lookup(&out, repo, git_tree_entry_id(te));
out:
	git_tree_entry_free(te);
	git_tree_free(root);
	git_commit_free(commit);
	return out;
}

/* Is the new commit a descendant of the published one?  Log it if not. */
static int
check_forced(struct gitsync *gs, git_repository *repo, const git_oid *oid,
    const char *hex)
{
	git_oid old;
	int r;

	if (gs->revision[0] == '\0' || git_oid_fromstr(&old, gs->revision) != 0 ||
	    git_oid_equal(&old, oid))
		return 0;
	r = git_graph_descendant_of(repo, oid, &old);
	if (r == 1)
		return 0;
	if (r < 0) {
		log_warnx("gitsync: url=%s branch=%s cannot tell whether %s "
		    "descends from published %s (%s); treating it as a "
		    "force-push", gs->url_safe, gs->branch, hex, gs->revision,
		    git_msg());
		return 1;
	}
	log_warnx("gitsync: url=%s branch=%s force-push: new commit %s is not "
	    "a descendant of published %s; accepting it if it loads",
	    gs->url_safe, gs->branch, hex, gs->revision);
	return 1;
}

/* Write the tree into trees/<hex> (via a temporary name). */
static int
checkout_candidate(struct gitsync *gs, git_repository *repo,
    const git_tree *tree, const char *hex, const char *dest)
{
	struct stat st;
	git_tree *base = NULL;
	char *tmp = NULL, *base_dir = NULL;
	int error = ERR_GENERIC;

	if (lstat(dest, &st) == 0 && S_ISDIR(st.st_mode)) {
		error = 0;	/* renamed into place only when complete */
		goto out;
	}
	tmp = xasprintf("%s/.tmp-%s-%ld", gs->trees_dir, hex, (long)getpid());
	(void)fs_remove_tree(tmp);
	if (mkdir(tmp, 0755) == -1) {
		err_set("mkdir %s: %s", tmp, strerror(errno));
		goto out;
	}
	base = base_tree(gs, repo);
	base_dir = xasprintf("%s/%s", gs->trees_dir, gs->revision);
	error = checkout_tree_write(repo, tree, tmp, &gs->caps, base,
	    gs->revision[0] ? base_dir : NULL);
	if (error != 0) {
		if (error == ERR_GENERIC)
			gs->mirror_suspect = 1;
		err_prefix("checkout %s", hex);
		goto out;
	}
	if ((error = FAILPOINT("gitsync.rename")) != 0) {
		err_set("checkout %s: failpoint gitsync.rename", hex);
		goto out;
	}
	if (rename(tmp, dest) == -1) {
		err_set("rename %s: %s", dest, strerror(errno));
		error = ERR_GENERIC;
		goto out;
	}
	fs_sync_dir(gs->trees_dir);
	error = 0;
out:
	if (tmp != NULL && error != 0)
		(void)fs_remove_tree(tmp);
	git_tree_free(base);
	free(base_dir);
	free(tmp);
	return error;
}

/*
 * Is the published tree still there?  If someone removed it, the same
 * commit is checked out and published again.
 */
static int
published_ok(struct gitsync *gs)
{
	struct stat st;

	if (stat(gs->current_link, &st) == 0 && S_ISDIR(st.st_mode))
		return 1;
	log_warnx("gitsync: url=%s published tree %s is missing; checking "
	    "it out again", gs->url_safe, gs->revision);
	return 0;
}

int
gitsync_prepare(struct gitsync *gs, int *freshp)
{
	git_repository *repo = NULL;
	git_tree *tree = NULL;
	git_oid oid;
	char hex[HEXSZ + 1];
	char *dest = NULL;
	int error = ERR_GENERIC;

	*freshp = 0;
	candidate_clear(gs, 1);
	if ((error = mirror_open(&repo, gs)) != 0)
		goto out;
	if ((error = fetch_branch(&oid, gs, repo)) != 0)
		goto out;
	git_oid_tostr(hex, sizeof(hex), &oid);
	if (strcmp(hex, gs->revision) == 0 && published_ok(gs)) {
		set_last_error(gs, NULL);
		error = 0;
		goto out;
	}
	if (strcmp(hex, gs->rejected) == 0) {
		err_set("commit %s was rejected: %s", hex,
		    gs->last_error ? gs->last_error : "unknown reason");
		error = 0;	/* nothing new; the reason stays */
		goto out;
	}
	if ((error = commit_spec_tree(&tree, gs, repo, &oid)) != 0)
		goto out;
	gs->cand_forced = check_forced(gs, repo, &oid, hex);
	dest = xasprintf("%s/%s", gs->trees_dir, hex);
	if ((error = checkout_candidate(gs, repo, tree, hex, dest)) != 0)
		goto out;
	memcpy(gs->cand_rev, hex, sizeof(hex));
	gs->cand_dir = dest;
	dest = NULL;
	*freshp = 1;
	log_info("gitsync: url=%s branch=%s candidate %s%s", gs->url_safe,
	    gs->branch, hex, gs->cand_forced ? " (force-pushed)" : "");
	error = 0;
out:
	if (error != 0) {
		set_last_error(gs, err_get());
		log_warnx("gitsync: url=%s branch=%s keeping revision %s: %s",
		    gs->url_safe, gs->branch,
		    gs->revision[0] ? gs->revision : "(none)", err_get());
	}
	free(dest);
	git_tree_free(tree);
	git_repository_free(repo);
	return error;
}

const char *
gitsync_candidate_dir(const struct gitsync *gs)
{
	return gs->cand_dir;
}

const char *
gitsync_candidate_revision(const struct gitsync *gs)
{
	return gs->cand_dir != NULL ? gs->cand_rev : NULL;
}

int
gitsync_candidate_forced(const struct gitsync *gs)
{
	return gs->cand_dir != NULL && gs->cand_forced;
}

/* Remove every tree but the published one and the one it replaced. */
static void
prune_trees(struct gitsync *gs)
{
	DIR *d;
	struct dirent *de;
	char *p;

	if ((d = opendir(gs->trees_dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, gs->revision) == 0 ||
		    strcmp(de->d_name, gs->previous) == 0)
			continue;
		p = xasprintf("%s/%s", gs->trees_dir, de->d_name);
		if (fs_remove_tree(p) != 0)
			log_warnx("gitsync: %s", err_get());
		free(p);
	}
	closedir(d);
}

int
gitsync_publish(struct gitsync *gs)
{
	char *tmp = NULL, *target = NULL;
	int error = ERR_GENERIC;

	if (gs->cand_dir == NULL) {
		err_set("gitsync: nothing to publish");
		return ERR_INVALID;
	}
	target = xasprintf("trees/%s", gs->cand_rev);
	tmp = xasprintf("%s/.current.tmp-%ld", gs->state_dir, (long)getpid());
	(void)unlink(tmp);
	if (symlink(target, tmp) == -1) {
		err_set("gitsync: symlink %s: %s", tmp, strerror(errno));
		goto out;
	}
	if ((error = FAILPOINT("gitsync.publish")) != 0) {
		err_set("gitsync: publish: failpoint");
		(void)unlink(tmp);
		goto out;
	}
	if (rename(tmp, gs->current_link) == -1) {
		err_set("gitsync: rename %s: %s", gs->current_link,
		    strerror(errno));
		(void)unlink(tmp);
		error = ERR_GENERIC;
		goto out;
	}
	fs_sync_dir(gs->state_dir);
	memcpy(gs->previous, gs->revision, sizeof(gs->previous));
	set_revision(gs, gs->cand_rev);
	log_info("gitsync: url=%s branch=%s published %s%s", gs->url_safe,
	    gs->branch, gs->revision,
	    gs->cand_forced ? " (force-pushed history accepted)" : "");
	candidate_clear(gs, 0);
	gs->rejected[0] = '\0';
	set_last_error(gs, NULL);
	prune_trees(gs);
	error = 0;
out:
	free(tmp);
	free(target);
	return error;
}

void
gitsync_discard(struct gitsync *gs, const char *reason)
{
	char *msg;

	if (gs->cand_dir == NULL)
		return;
	msg = xasprintf("commit %s rejected: %s", gs->cand_rev,
	    reason != NULL ? reason : "rejected by the caller");
	log_warnx("gitsync: url=%s branch=%s %s; keeping revision %s",
	    gs->url_safe, gs->branch, msg,
	    gs->revision[0] ? gs->revision : "(none)");
	memcpy(gs->rejected, gs->cand_rev, sizeof(gs->rejected));
	set_last_error(gs, msg);
	free(msg);
	candidate_clear(gs, 1);
}

int
gitsync_fetch(struct gitsync *gs, gitsync_load_fn *load, void *arg,
    int *publishedp)
{
	char *why;
	int error, fresh;

	*publishedp = 0;
	if ((error = gitsync_prepare(gs, &fresh)) != 0 || !fresh)
		return error;
	err_clear();
	if (load(gs->cand_dir, gs->cand_rev, arg) != 0) {
		why = xstrdup(err_get());
		gitsync_discard(gs, why);
		free(why);
		return 0;
	}
	if ((error = gitsync_publish(gs)) != 0)
		return error;
	*publishedp = 1;
	return 0;
}

const char *
gitsync_current_dir(const struct gitsync *gs)
{
	return gs->revision[0] != '\0' ? gs->current_link : NULL;
}

const char *
gitsync_tree_dir(const struct gitsync *gs)
{
	return gs->revision[0] != '\0' ? gs->tree_dir : NULL;
}

const char *
gitsync_revision(const struct gitsync *gs)
{
	return gs->revision[0] != '\0' ? gs->revision : NULL;
}

const char *
gitsync_last_error(const struct gitsync *gs)
{
	return gs->last_error;
}

const char *
gitsync_state_dir(const struct gitsync *gs)
{
	return gs->state_dir;
}
