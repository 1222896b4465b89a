/*
 * access.c - `envctl ssh` and `envctl ssh-config`: find an environment's
 * instance, its key and its pinned host keys with AWS access only, and
 * run the system ssh against it (access.h).
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "buf.h"
#include "config.h"
#include "ctl.h"
#include "ec2.h"
#include "err.h"
#include "mem.h"
#include "observe.h"
#include "s3.h"
#include "spec.h"
#include "userdata.h"

#define KEY_MAX		65536
#define CAPTURE_MAX	16384	/* of ssh's stderr, scanned for a refused host key */

void
access_target_free(struct access_target *t)
{
	if (t == NULL)
		return;
	free(t->name);
	free(t->alias);
	free(t->instance_id);
	free(t->host);
	free(t->user);
	free(t->known_hosts);
	free(t->fingerprints);
	if (t->key != NULL) {
		mem_wipe(t->key, t->keylen);
		free(t->key);
	}
	free(t->key_pair);
	free(t);
}

static char *
s3_key(const struct config *cfg, const char *env_id, const char *file)
{
	if (*cfg->s3_prefix == '\0')
		return xasprintf("%s/%s", env_id, file);
	return xasprintf("%s/%s/%s", cfg->s3_prefix, env_id, file);
}

/* The best instance of the pages: running before the rest, then the newest. */
struct pick {
	char		*id;
	char		*state;
	char		*public_ip;
	char		*env_id;
	time_t		 launched;
	int		 rank;
	const char	*env_id_tag;
};

static void
pick_dispose(struct pick *pk)
{
	free(pk->id);
	free(pk->state);
	free(pk->public_ip);
	free(pk->env_id);
	pk->id = pk->state = pk->public_ip = pk->env_id = NULL;
}

static int
pick_page(const struct ec2_instance *v, size_t n, void *arg)
{
	struct pick *pk = arg;
	const char *env_id;
	size_t i;
	int rank;

	for (i = 0; i < n; i++) {
		if ((env_id = ec2_instance_tag(&v[i], pk->env_id_tag)) == NULL)
			continue;
		rank = strcmp(v[i].state, "running") == 0 ? 3 :
		    strcmp(v[i].state, "pending") == 0 ? 2 : 1;
		if (rank < pk->rank || (rank == pk->rank &&
		    v[i].launched <= pk->launched))
			continue;
		pick_dispose(pk);
		pk->id = xstrdup(v[i].id);
		pk->state = xstrdup(v[i].state);
		pk->public_ip = xstrdup(v[i].public_ip);
		pk->env_id = xstrdup(env_id);
		pk->launched = v[i].launched;
		pk->rank = rank;
	}
	return 0;
}

/*
 * The spec of name from the configured spec source, whole: *entry is a
 * standalone entry the caller frees (the tree is lean).
 */
static int
spec_find(struct spec_entry **entry, const struct spec **out,
    const struct config *cfg, const char *name)
{
	struct spec_tree *tree = NULL;
	const struct spec_entry *e;
	struct spec_options opts;
	char prefix[CTL_SPEC_PREFIX_LEN];
	char *rev = NULL;
	int error;

	*entry = NULL;
	*out = NULL;
	if ((error = ctl_specs_load(&tree, &rev, cfg)) < 0) {
		err_prefix("reading the specs (set specs to a checkout of the "
		    "spec repository)");
		goto out;
	}
	if ((e = spec_tree_find(tree, name)) == NULL) {
		err_set("no spec named %s in the spec tree", name);
		error = ERR_NOTFOUND;
		goto out;
	}
	if (!spec_entry_valid(e)) {
		err_set("the spec of %s (%s) is not valid: run 'envctl validate'",
		    name, spec_entry_path(e));
		error = ERR_INVALID;
		goto out;
	}
	ctl_spec_options(&opts, prefix, cfg);
	if ((error = spec_entry_reload(entry, e, &opts)) < 0)
		goto out;
	*out = spec_entry_spec(*entry);
out:
	free(rev);
	spec_tree_free(tree);
	return error;
}

static int
instance_find(struct pick *pk, struct ctl_aws *aws, const struct config *cfg,
    const struct observe_tags *tags, const char *name)
{
	static const char *const states[] = { "pending", "running", "stopping",
	    "stopped" };
	const char *cluster[1] = { cfg->cluster_id }, *env[1] = { name };
	struct ec2_filter f[3];
	struct ec2_describe_instances_input in;
	char fc[80], fe[80];
	int error;

	snprintf(fc, sizeof(fc), "tag:%s", tags->cluster);
	snprintf(fe, sizeof(fe), "tag:%s", tags->env);
	f[0].name = fc;
	f[0].values = cluster;
	f[0].nvalues = 1;
	f[1].name = fe;
	f[1].values = env;
	f[1].nvalues = 1;
	f[2].name = "instance-state-name";
	f[2].values = states;
	f[2].nvalues = sizeof(states) / sizeof(states[0]);
	memset(&in, 0, sizeof(in));
	in.filters = f;
	in.nfilters = 3;
	pk->env_id_tag = tags->env_id;
	if ((error = ec2_instances_describe(aws->ec2, &in, pick_page, pk,
	    NULL)) < 0) {
		err_prefix("finding the instance of %s", name);
		return error;
	}
	if (pk->rank == 0) {
		err_set("%s has no instance in cluster %s (region %s): is it "
		    "provisioned? ('envctl status %s' shows it)", name,
		    cfg->cluster_id, aws->region, name);
		return ERR_NOTFOUND;
	}
	if (strcmp(pk->state, "running") != 0) {
		err_set("%s's instance %s is %s, not running", name, pk->id,
		    pk->state);
		return ERR_UNAVAILABLE;
	}
	if (*pk->public_ip == '\0') {
		err_set("%s's instance %s has no public IP address", name,
		    pk->id);
		return ERR_UNAVAILABLE;
	}
	return 0;
}

/* known_hosts and the fingerprints from the marker of env_id. */
static int
marker_read(struct access_target *t, struct s3_client *s3,
    const struct config *cfg, const char *env_id)
{
	struct userdata_marker *m = NULL;
	struct buf kh, fps;
	char *key, *body = NULL;
	const char *type, *fp, *line;
	size_t len = 0, i, n;
	int error;

	buf_init(&kh, 1 << 20);
	buf_init(&fps, 1 << 16);
	key = s3_key(cfg, env_id, "bootstrap-done.json");
	error = s3_object_get(&body, &len, s3, cfg->s3_bucket, key,
	    USERDATA_MARKER_MAX, 0);
	if (error == ERR_NOTFOUND) {
		err_set("%s is not ready yet: its instance has not reported its "
		    "host keys (no s3://%s/%s)", t->name, cfg->s3_bucket, key);
		goto out;
	}
	if (error < 0) {
		err_prefix("reading s3://%s/%s", cfg->s3_bucket, key);
		goto out;
	}
	if ((error = userdata_marker_parse(&m, body, len)) < 0)
		goto out;
	error = ERR_INVALID;
	if (strcmp(userdata_marker_env_id(m), env_id) != 0) {
		err_set("the bootstrap marker of %s names another environment",
		    t->name);
		goto out;
	}
	if (userdata_marker_status(m) != USERDATA_STATUS_READY) {
		err_set("%s's bootstrap failed (line %ld, exit %d): see "
		    "'envctl status %s'", t->name, userdata_marker_line(m),
		    userdata_marker_exit_code(m), t->name);
		goto out;
	}
	n = userdata_marker_host_key_count(m);
	for (i = 0; i < n; i++) {
		userdata_marker_host_key(m, i, &type, &fp);
		if ((line = userdata_marker_host_key_line(m, i)) == NULL)
			continue;
		if (buf_printf(&kh, "%s %s\n", t->alias, line) < 0 ||
		    buf_printf(&fps, "%s%s %s", fps.len > 0 ? ", " : "", type,
		    fp) < 0) {
			err_set("too many host keys");
			goto out;
		}
	}
	if (kh.len == 0) {
		err_set("%s's instance did not report its host public keys (it was "
		    "launched by an older envctl): re-create the environment, or "
		    "check the host key fingerprint against its console output "
		    "yourself", t->name);
		goto out;
	}
	t->known_hosts = buf_detach(&kh, NULL);
	t->fingerprints = buf_detach(&fps, NULL);
	error = 0;
out:
	buf_dispose(&kh);
	buf_dispose(&fps);
	userdata_marker_free(m);
	free(body);
	free(key);
	return error;
}

/* The private key (key: auto), or the name of the key the developer holds. */
static int
key_read(struct access_target *t, struct s3_client *s3,
    const struct config *cfg, const struct spec *s, const char *env_id)
{
	char *key;
	int error;

	switch (s->access.ssh.key) {
	case SPEC_KEY_NAME:
		t->key_pair = xasprintf("the EC2 key pair %s", s->access.ssh.key_name);
		return 0;
	case SPEC_KEY_PUBLIC:
		t->key_pair = xstrdup("the key of the spec's access.ssh.key.public_key");
		return 0;
	default:
		break;
	}
	key = s3_key(cfg, env_id, s->access.ssh.key_type == SPEC_KEY_RSA ?
	    "id_rsa" : "id_ed25519");
	error = s3_object_get(&t->key, &t->keylen, s3, cfg->s3_bucket, key,
	    KEY_MAX, 1);
	if (error < 0)
		err_prefix("reading the private key of %s", t->name);
	free(key);
	return error;
}

int
access_target_find(struct access_target **out, const struct config *cfg,
    const char *name)
{
	struct access_target *t = xcalloc(1, sizeof(*t));
	struct spec_entry *entry = NULL;
	const struct spec *s;
	struct ctl_aws *aws = NULL;
	struct s3_client *s3 = NULL;
	struct observe_tags tags;
	struct pick pk;
	const char *user;
	int error;

	*out = NULL;
	memset(&pk, 0, sizeof(pk));
	t->name = xstrdup(name);
	t->alias = xasprintf("envctl-%s", name);
	t->port = cfg->ready_ssh_port;
	if (*cfg->s3_bucket == '\0') {
		err_set("no S3 bucket configured: set s3_bucket (ENVCTL_S3_BUCKET "
		    "or --s3-bucket) to the controller's");
		error = ERR_INVALID;
		goto out;
	}
	if ((error = observe_tags_init(&tags, cfg->tag_prefix)) < 0 ||
	    (error = spec_find(&entry, &s, cfg, name)) < 0)
		goto out;
	user = s->access.ssh.user != NULL ? s->access.ssh.user :
	    userdata_family_user(userdata_image_family(s->instance.image));
	if (user == NULL) {
		err_set("%s runs a custom image (%s): say its login user in the "
		    "spec as access.ssh.user", name, s->instance.image);
		error = ERR_INVALID;
		goto out;
	}
	t->user = xstrdup(user);
	if ((error = ctl_aws_open(&aws, cfg, s->region)) < 0 ||
	    (error = instance_find(&pk, aws, cfg, &tags, name)) < 0)
		goto out;
	if (strlen(pk.env_id) < 1 || strlen(pk.env_id) > 64 ||
	    strspn(pk.env_id, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != strlen(pk.env_id)) {
		err_set("instance %s has a malformed %s tag", pk.id, tags.env_id);
		error = ERR_INVALID;
		goto out;
	}
	t->instance_id = xstrdup(pk.id);
	t->host = xstrdup(pk.public_ip);
	(void)s3_client_new(&s3, aws->aws);
	if ((error = marker_read(t, s3, cfg, pk.env_id)) < 0 ||
	    (error = key_read(t, s3, cfg, s, pk.env_id)) < 0)
		goto out;
	*out = t;
	t = NULL;
out:
	if (error < 0)
		err_prefix("%s", name);
	pick_dispose(&pk);
	s3_client_free(s3);
	ctl_aws_free(aws);
	spec_entry_free(entry);
	access_target_free(t);
	return error;
}

/* Write len bytes to path via a temp file and rename, mode 0600. */
static int
file_put(const char *path, const char *data, size_t len)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	ssize_t w;
	size_t off = 0;
	int fd, error = ERR_GENERIC;

	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set("%s: %s", tmp, strerror(errno));
		goto out;
	}
	while (off < len) {
		if ((w = write(fd, data + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			err_set("%s: %s", tmp, strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		err_set("%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		err_set("%s: %s", path, strerror(errno));
		goto out;
	}
	error = 0;
out:
	if (fd >= 0)
		close(fd);
	if (error < 0)
		(void)unlink(tmp);
	free(tmp);
	return error;
}

int
access_files_write(char **keypath, char **khpath, const struct access_target *t,
    const char *dir, const char *base)
{
	int error;

	*keypath = NULL;
	*khpath = xasprintf("%s/%s.known_hosts", dir, base);
	if ((error = file_put(*khpath, t->known_hosts, strlen(t->known_hosts))) < 0)
		goto fail;
	if (t->key != NULL) {
		*keypath = xasprintf("%s/%s", dir, base);
		if ((error = file_put(*keypath, t->key, t->keylen)) < 0)
			goto fail;
	}
	return 0;
fail:
	free(*keypath);
	free(*khpath);
	*keypath = *khpath = NULL;
	return error;
}

int
access_session_dir(char **out)
{
	const char *base = getenv("XDG_RUNTIME_DIR");
	char *tmpl;

	if (base == NULL || *base != '/')
		base = getenv("TMPDIR");
	if (base == NULL || *base != '/')
		base = "/tmp";
	tmpl = xasprintf("%s/envctl-ssh.XXXXXX", base);
	if (mkdtemp(tmpl) == NULL) {	/* made 0700 */
		err_set("making a private directory in %s: %s", base,
		    strerror(errno));
		free(tmpl);
		*out = NULL;
		return ERR_GENERIC;
	}
	*out = tmpl;
	return 0;
}

/* mkdir path 0700 if missing; it must then be our own real directory. */
static int
dir_private(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		err_set("%s: %s", path, strerror(errno));
		return ERR_GENERIC;
	}
	if (lstat(path, &st) < 0) {
		err_set("%s: %s", path, strerror(errno));
		return ERR_GENERIC;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid()) {
		err_set("%s is not a directory of this user", path);
		return ERR_INVALID;
	}
	if ((st.st_mode & 077) != 0 && chmod(path, 0700) < 0) {
		err_set("%s: %s", path, strerror(errno));
		return ERR_GENERIC;
	}
	return 0;
}

int
access_state_dir(char **out)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char *base = NULL, *envctl = NULL, *dir = NULL;
	int error = ERR_INVALID;

	*out = NULL;
	if (state != NULL && *state == '/')
		base = xstrdup(state);
	else if (home != NULL && *home == '/') {
		char *local = xasprintf("%s/.local", home);

		base = xasprintf("%s/.local/state", home);
		(void)mkdir(local, 0700);
		free(local);
	} else {
		err_set("neither XDG_STATE_HOME nor HOME is set to an absolute path");
		goto out;
	}
	if (mkdir(base, 0700) < 0 && errno != EEXIST) {
		err_set("%s: %s", base, strerror(errno));
		error = ERR_GENERIC;
		goto out;
	}
	envctl = xasprintf("%s/envctl", base);
	dir = xasprintf("%s/ssh", envctl);
	if ((error = dir_private(envctl)) < 0 || (error = dir_private(dir)) < 0)
		goto out;
	*out = dir;
	dir = NULL;
out:
	free(base);
	free(envctl);
	free(dir);
	return error;
}

void
access_session_remove(const char *dir, const char *keypath, const char *khpath)
{
	if (keypath != NULL)
		(void)unlink(keypath);
	if (khpath != NULL)
		(void)unlink(khpath);
	if (dir != NULL)
		(void)rmdir(dir);
}

/* The ssh child, for the TERM and HUP handlers. */
static volatile sig_atomic_t ssh_child;

static void
forward_signal(int sig)
{
	if (ssh_child > 0)
		(void)kill((pid_t)ssh_child, sig);
}

/* The fingerprint ssh printed for the key the server sent, or "". */
static void
offered_key(char *out, size_t outsz, const char *text)
{
	const char *p = strstr(text, "sent by the remote host is");
	size_t n;

	*out = '\0';
	if (p == NULL || (p = strstr(p, "SHA256:")) == NULL)
		return;
	n = strspn(p + 7, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/");
	if (n != 43 || outsz < 7 + n + 1)
		return;
	memcpy(out, p, 7 + n);
	out[7 + n] = '\0';
}

static char **
ssh_argv(const struct config *cfg, const struct access_target *t,
    const char *keypath, const char *khpath, char **argv, int argc)
{
	char **v = xcalloc(32 + (size_t)argc, sizeof(*v));
	size_t n = 0;
	int i;

	v[n++] = xstrdup(cfg->ssh);
	v[n++] = xstrdup("-o");
	v[n++] = xstrdup("StrictHostKeyChecking=yes");
	v[n++] = xstrdup("-o");
	v[n++] = xasprintf("UserKnownHostsFile=%s", khpath);
	v[n++] = xstrdup("-o");
	v[n++] = xstrdup("GlobalKnownHostsFile=/dev/null");
	v[n++] = xstrdup("-o");
	v[n++] = xasprintf("HostKeyAlias=%s", t->alias);
	v[n++] = xstrdup("-o");
	v[n++] = xstrdup("UpdateHostKeys=no");
	v[n++] = xstrdup("-o");
	v[n++] = xstrdup("CheckHostIP=no");
	/* a shared master would hold our stderr open past ssh's exit */
	v[n++] = xstrdup("-o");
	v[n++] = xstrdup("ControlMaster=no");
	v[n++] = xstrdup("-o");
	v[n++] = xstrdup("ControlPath=none");
	if (keypath != NULL) {
		v[n++] = xstrdup("-o");
		v[n++] = xstrdup("IdentitiesOnly=yes");
		v[n++] = xstrdup("-i");
		v[n++] = xstrdup(keypath);
	}
	v[n++] = xstrdup("-l");
	v[n++] = xstrdup(t->user);
	if (t->port != 22) {
		v[n++] = xstrdup("-p");
		v[n++] = xasprintf("%d", t->port);
	}
	v[n++] = xstrdup("--");
	v[n++] = xstrdup(t->host);
	for (i = 0; i < argc; i++)
		v[n++] = xstrdup(argv[i]);
	v[n] = NULL;
	return v;
}

static void
argv_free(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

int
access_ssh_run(int *status, const struct config *cfg,
    const struct access_target *t, const char *keypath, const char *khpath,
    char **argv, int argc)
{
	struct sigaction ign, fwd, old_int, old_quit, old_term, old_hup;
	char **v = ssh_argv(cfg, t, keypath, khpath, argv, argc);
	char chunk[4096], offered[64];
	struct buf cap;
	int pfd[2] = { -1, -1 }, wst = 0, error = ERR_GENERIC;
	ssize_t r;
	pid_t pid;

	*status = 255;
	buf_init(&cap, CAPTURE_MAX);
	if (pipe(pfd) < 0) {
		err_set("pipe: %s", strerror(errno));
		goto out;
	}
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	memset(&fwd, 0, sizeof(fwd));
	fwd.sa_handler = forward_signal;
	/* as system(3): the terminal's ^C and ^\ are ssh's to handle */
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	sigaction(SIGTERM, &fwd, &old_term);
	sigaction(SIGHUP, &fwd, &old_hup);
	fflush(NULL);
	if ((pid = fork()) < 0) {
		err_set("fork: %s", strerror(errno));
		goto restore;
	}
	if (pid == 0) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGQUIT, &old_quit, NULL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		close(pfd[0]);
		if (dup2(pfd[1], STDERR_FILENO) < 0)
			_exit(255);
		close(pfd[1]);
		execvp(v[0], v);
		dprintf(STDERR_FILENO, "envctl: %s: %s\n", v[0], strerror(errno));
		_exit(255);
	}
	ssh_child = pid;
	close(pfd[1]);
	pfd[1] = -1;
	for (;;) {
		if ((r = read(pfd[0], chunk, sizeof(chunk))) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (r == 0)
			break;
		(void)write(STDERR_FILENO, chunk, (size_t)r);
		if (cap.len + (size_t)r < CAPTURE_MAX)
			(void)buf_add(&cap, chunk, (size_t)r);
	}
	while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
		;
	ssh_child = 0;
	*status = WIFEXITED(wst) ? WEXITSTATUS(wst) : 255;
	error = 0;
	if (*status == 255 && cap.len > 0 &&
	    (strstr(buf_cstr(&cap), "REMOTE HOST IDENTIFICATION HAS CHANGED") != NULL ||
	    strstr(buf_cstr(&cap), "Host key verification failed") != NULL)) {
		offered_key(offered, sizeof(offered), buf_cstr(&cap));
		err_set("the host at %s offered %s%s, not a host key that %s's "
		    "instance %s reported when it booted (%s), so ssh refused it. "
		    "Do not answer 'yes' or edit known_hosts: this may not be the "
		    "machine envctl launched. If %s was just re-created, run this "
		    "again; otherwise tell your operator", t->host,
		    *offered != '\0' ? "the key " : "a key",
		    *offered != '\0' ? offered : " it has not pinned", t->name,
		    t->instance_id, t->fingerprints, t->name);
		error = ERR_FOREIGN;
	}
restore:
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	buf_dispose(&cap);
	argv_free(v);
	return error;
}
