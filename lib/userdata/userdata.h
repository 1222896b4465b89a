/*
 * userdata.h - the instance's bootstrap script (EC2 user-data) and the
 * marker it leaves when it is done.
 *
 * userdata_render() turns a spec plus what the pipeline knows at launch
 * into a bash script that cloud-init runs once as root: it installs
 * Docker and the spec's packages, installs the public key for the image's
 * default user, fetches the secrets (if any) through a presigned GET into
 * a root-only file used as docker's --env-file and removed after use,
 * pulls the image, clones the repo, runs each setup command in the
 * container with the spec's environment, and finally PUTs a marker JSON
 * (env id, status, SSH host key fingerprints) to a presigned URL.  On any
 * failure it PUTs a marker with status "error" and the failing line.
 *
 * Every value from the spec is shell-quoted; secrets never appear in the
 * script, only the expiring presigned URL does.  The script logs to
 * /var/log/envctl-bootstrap.log.  One variable at its top may be set in
 * its environment by tests (never on an instance, where cloud-init starts
 * it without it): ENVCTL_ROOT, a prefix for every file path it writes or
 * reads (log, state, /etc/ssh host keys, the user's home).  Commands are
 * found on PATH, so a test can put stand-ins in front.
 *
 * For spot specs the script also installs and starts the interruption
 * watcher (docs/design.md §6.7.1), which reads two more such variables:
 * ENVCTL_IMDS, the metadata service's base URL (http://169.254.169.254),
 * and ENVCTL_WATCH_POLL, its poll interval in seconds (5).
 *
 * The marker PUT sends "Content-Type: application/json", so its presigned
 * URL must sign only the host header (or that content type).  The secrets
 * object is docker --env-file text as userdata_secrets_render() makes it.
 *
 * Marker JSON, the body of the PUT:
 *   {"version":1,"env_id":"<id>","env":"<name>","status":"ready"|"error",
 *    "line":<failing line or 0>,"exit_code":<n>,
 *    "host_keys":[{"type":"ED25519","fingerprint":"SHA256:...",
 *                  "key":"ssh-ed25519 AAAA..."},...]}
 * "key" (the public key, as known_hosts holds it) is absent from markers
 * of instances launched before it was added; when present, the parser
 * checks that its SHA-256 fingerprint is the stated one.
 */
#ifndef ENVCTL_USERDATA_H
#define ENVCTL_USERDATA_H

#include <stddef.h>

struct spec;

/*
 * EC2 limits user data to this many bytes in raw form, before base64
 * (RunInstances then carries up to 21848 bytes of base64).
 */
#define USERDATA_RAW_MAX	16384
/* A marker body longer than this is refused by the parser. */
#define USERDATA_MARKER_MAX	65536

enum userdata_family {
	USERDATA_FAMILY_UNKNOWN = 0,	/* an ami-... id: detect at boot */
	USERDATA_FAMILY_AL2023,		/* dnf, ec2-user */
	USERDATA_FAMILY_AL2,		/* yum, ec2-user */
	USERDATA_FAMILY_UBUNTU,		/* apt-get, ubuntu */
	USERDATA_FAMILY_DEBIAN,		/* apt-get, admin */
};

/* What the pipeline knows at launch; all strings are borrowed. */
struct userdata_params {
	const char	*env_id;	/* the incarnation's id: [A-Za-z0-9-], 1..64 */
	const char	*public_key;	/* one authorized_keys line (checked by sshkey) */
	const char	*marker_url;	/* presigned https PUT for the marker */
	const char	*secrets_url;	/* presigned GET of the secrets env file, or NULL */
	const char	*default_user;	/* NULL: the image family's user */
	/*
	 * Seconds without SSH and with low load before the idle watcher
	 * powers the instance off (spec_idle_stop_effective()); 0: no watcher.
	 * What the shutdown does (stop, terminate) is the spec's on_idle.
	 */
	long long	 idle_stop_s;
	/*
	 * Spot specs only (required there): presigned https PUT of the
	 * interrupted marker the interruption watcher sends.
	 */
	const char	*interrupt_url;
};

/* The family of an image alias ("al2023", "ubuntu-24.04"...); UNKNOWN otherwise. */
enum userdata_family userdata_image_family(const char *image);

/*
 * The default login user of a family ("ec2-user", "ubuntu", "admin"), or
 * NULL for USERDATA_FAMILY_UNKNOWN.
 */
const char	*userdata_family_user(enum userdata_family family);

/*
 * Render the bootstrap script of spec with params.  Returns 0 with the
 * script in *script and its base64 form (no newlines) in *base64, both new
 * strings the caller frees (either pointer may be NULL if not wanted).
 * ERR_INVALID if a value cannot be used safely (a bad env id, URL, user
 * name, environment variable name or package name, a public key line with
 * a newline), ERR_LIMIT if the script is over USERDATA_RAW_MAX bytes
 * (before base64), with a message naming the spec; on error nothing is returned.
 */
int	 userdata_render(char **script, char **base64, const struct spec *spec,
	    const struct userdata_params *params);

/*
 * Render the secrets file the script fetches (docker --env-file format:
 * one NAME=value line each) from n names and values.  Returns 0 with a new
 * string in *out that the caller releases with mem_free_secret(), or
 * ERR_INVALID for a bad name or a value with a newline or NUL (the message
 * names the variable, never the value).
 */
int	 userdata_secrets_render(char **out, const char *const *names,
	    const char *const *values, size_t n);

/*
 * The marker an instance PUT when its bootstrap ended.
 */
enum userdata_status {
	USERDATA_STATUS_READY = 0,
	USERDATA_STATUS_ERROR,
};

struct userdata_marker;

/*
 * Parse len bytes of marker JSON.  Returns 0 and a new marker in *out
 * (the caller frees it with userdata_marker_free()), or ERR_INVALID with
 * the reason in err_get() for malformed JSON, a missing or mistyped field,
 * an unknown status or a bad fingerprint; ERR_LIMIT when over
 * USERDATA_MARKER_MAX bytes.
 */
int	 userdata_marker_parse(struct userdata_marker **out, const char *json,
	    size_t len);
void	 userdata_marker_free(struct userdata_marker *);

/* The marker's fields; strings are owned by the marker. */
const char	*userdata_marker_env_id(const struct userdata_marker *);
enum userdata_status userdata_marker_status(const struct userdata_marker *);
/* The failing script line for status error (0 when not known). */
long		 userdata_marker_line(const struct userdata_marker *);
int		 userdata_marker_exit_code(const struct userdata_marker *);
size_t		 userdata_marker_host_key_count(const struct userdata_marker *);
/* Host key i: its type ("ED25519") and fingerprint ("SHA256:..."). */
void		 userdata_marker_host_key(const struct userdata_marker *, size_t i,
		    const char **type, const char **fingerprint);
/*
 * Host key i's public key line ("ssh-ed25519 AAAA...", fingerprint
 * checked), or NULL when the marker did not carry it.
 */
const char	*userdata_marker_host_key_line(const struct userdata_marker *,
		    size_t i);
/* 1 if fingerprint is one of the marker's host keys, else 0. */
int		 userdata_marker_has_fingerprint(const struct userdata_marker *,
		    const char *fingerprint);

/*
 * The marker the spot interruption watcher PUTs on a notice (to
 * params.interrupt_url):
 *   {"version":1,"env_id":"<id>","env":"<name>","status":"interrupted",
 *    "kind":"interruption"|"rebalance","action":"terminate"|"stop"|
 *    "hibernate"|"","notice_time":"2026-12-07T22:00:00Z"|"",
 *    "exit_code":<the on_interruption commands' status, 124: timed out>}
 */
enum userdata_interrupt_kind {
	USERDATA_INTERRUPT_INTERRUPTION = 0,	/* spot/instance-action */
	USERDATA_INTERRUPT_REBALANCE,		/* rebalance recommendation */
};

struct userdata_interrupt {
	char				 env_id[65];
	enum userdata_interrupt_kind	 kind;
	char				 action[16];	/* "" when not given */
	char				 notice_time[41];	/* "" when not given */
	int				 exit_code;
};

/*
 * Parse len bytes of interrupted-marker JSON into *out.  0, or
 * ERR_INVALID (malformed, unknown kind or action, a notice time that is
 * not [0-9A-Za-z:.+-]) / ERR_LIMIT (over USERDATA_MARKER_MAX) with
 * err_set(); nothing of the body is quoted in messages.
 */
int	 userdata_interrupt_parse(struct userdata_interrupt *out, const char *json,
	    size_t len);
/* "interruption" or "rebalance". */
const char *userdata_interrupt_kind_name(enum userdata_interrupt_kind kind);

#endif
