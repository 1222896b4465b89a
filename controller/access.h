/*
 * access.h - a developer's way into an environment: `envctl ssh` and
 * `envctl ssh-config`.
 *
 * Needs only AWS: the instance is found by its tags (DescribeInstances),
 * the private key and the bootstrap marker are read from the
 * environment's S3 prefix, the login user and key mode come from the
 * spec.  The database is never opened.  ssh is told to trust exactly the
 * host keys the instance reported in its marker (the keys readiness
 * verified), under the alias "envctl-<name>", so a new public IP does
 * not matter and a different host key is refused.
 */
#ifndef ENVCTL_ACCESS_H
#define ENVCTL_ACCESS_H

#include <stddef.h>

struct config;

/* What connecting to one environment takes. */
struct access_target {
	char	*name;
	char	*alias;		/* "envctl-<name>": the HostKeyAlias and Host */
	char	*instance_id;
	char	*host;		/* the instance's public IP */
	int	 port;		/* ready_ssh_port */
	char	*user;		/* access.ssh.user, or the image's login user */
	char	*known_hosts;	/* "<alias> <key>\n" per host key of the marker */
	char	*fingerprints;	/* "SHA256:a, SHA256:b": the pinned keys, for messages */
	char	*key;		/* the private key (wiped when freed), or NULL: */
	size_t	 keylen;
	char	*key_pair;	/* ...the operator's key pair or public key, named here */
};

/*
 * Find environment name: its spec (for region, user and key mode), its
 * running instance in this cluster, its bootstrap marker (status ready,
 * host public keys present) and, for key: auto, its private key.
 * Returns 0 and a new target (access_target_free()), or a negative
 * ERR_* with a message a developer can act on.
 */
int	 access_target_find(struct access_target **out, const struct config *,
	    const char *name);
void	 access_target_free(struct access_target *);

/*
 * Write t's private key (0600; none without one) and known_hosts into
 * dir, which must be a private directory of ours, as "<dir>/<base>" and
 * "<dir>/<base>.known_hosts" (temp file, then rename).  *keypath (NULL
 * without a key) and *khpath are new strings the caller frees.
 */
int	 access_files_write(char **keypath, char **khpath,
	    const struct access_target *t, const char *dir, const char *base);

/*
 * A new private directory (0700) for one ssh session: under
 * $XDG_RUNTIME_DIR when it is set, else under $TMPDIR or /tmp.  *out is
 * a new string.
 */
int	 access_session_dir(char **out);

/*
 * The stable private directory ssh-config writes its files to:
 * $XDG_STATE_HOME/envctl/ssh, default ~/.local/state/envctl/ssh, made
 * 0700 (and checked to be ours, not a symbolic link).  *out is new.
 */
int	 access_state_dir(char **out);

/*
 * Run the ssh program (cfg's ssh option) as a child against t with the
 * given key (may be NULL) and known_hosts files, then argv[0..argc) as
 * the remote command (none: a login shell).  ssh's stderr passes through.
 * *status is ssh's exit status (255 when it could not be run or was
 * killed).  Returns 0, or ERR_FOREIGN when ssh refused the host key,
 * with a message saying what changed and what to do.
 */
int	 access_ssh_run(int *status, const struct config *,
	    const struct access_target *t, const char *keypath,
	    const char *khpath, char **argv, int argc);

/* Remove a session directory and the files access_files_write() put in it. */
void	 access_session_remove(const char *dir, const char *keypath,
	    const char *khpath);

#endif
