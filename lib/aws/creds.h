/*
 * creds.h - AWS credentials and the provider chain, in the SDKs' order:
 *
 *   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 *      AWS_SESSION_TOKEN                                  source "env"
 *   2. shared files: AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials,
 *      sections "[name]") and AWS_CONFIG_FILE (~/.aws/config, sections
 *      "[profile name]", "[default]"), profile AWS_PROFILE or "default";
 *      static keys                                        source "profile:NAME"
 *      or role_arn + source_profile (+ external_id, role_session_name)
 *      assumed through the assume_role callback         source "assume-role:ARN"
 *   3. IMDSv2 instance role (token PUT first, then the role's JSON);
 *      AWS_EC2_METADATA_SERVICE_ENDPOINT overrides the endpoint
 *      (AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6 picks fd00:ec2::254),
 *      AWS_EC2_METADATA_DISABLED=true turns it off         source "imds"
 *
 * Temporary credentials are cached by the provider and fetched again a
 * few minutes (refresh_margin) before they expire, by the injected clock.
 *
 * Secrets (secret key, session token) live in memory that is wiped when
 * released and never appear in a log line or an error message.
 */
#ifndef ENVCTL_CREDS_H
#define ENVCTL_CREDS_H

#include <time.h>

struct aws_creds;
struct aws_creds_provider;

/* ---- credentials (a value: copy it, free it) ---- */

/*
 * New credentials from copies of the strings.  session_token may be NULL;
 * expiration 0 means "does not expire"; source is a short label ("env",
 * "profile:dev", ...), NULL for "static".  Returns 0, or ERR_INVALID when
 * a key is missing or empty (*out NULL).
 */
int	 aws_creds_new(struct aws_creds **out, const char *access_key_id,
	    const char *secret_access_key, const char *session_token,
	    time_t expiration, const char *source);
/*
 * Replace the contents of c (old secrets wiped).  This is how the
 * assume_role callback fills its out argument.  Same rules as _new;
 * source NULL keeps the current source.
 */
int	 aws_creds_set(struct aws_creds *c, const char *access_key_id,
	    const char *secret_access_key, const char *session_token,
	    time_t expiration, const char *source);
/* A deep copy the caller frees. */
struct aws_creds *aws_creds_dup(const struct aws_creds *);
/* Wipe and free; NULL does nothing. */
void	 aws_creds_free(struct aws_creds *);

/* Accessors; strings belong to c.  Token is NULL when there is none. */
const char *aws_creds_access_key_id(const struct aws_creds *);
const char *aws_creds_secret_access_key(const struct aws_creds *);
const char *aws_creds_session_token(const struct aws_creds *);
time_t	 aws_creds_expiration(const struct aws_creds *);	/* 0 = never */
const char *aws_creds_source(const struct aws_creds *);	/* never NULL */

/* ---- provider chain ---- */

/*
 * Fill out (allocated by the provider, empty) with temporary credentials
 * for role_arn obtained with source's credentials (STS AssumeRole);
 * external_id may be NULL.  Use aws_creds_set() on out.  Return 0 or a
 * negative code with err_set() (no secret in the message).
 */
typedef int aws_creds_assume_role_fn(struct aws_creds *out,
    const struct aws_creds *source, const char *role_arn,
    const char *external_id, const char *session_name, void *arg);

/* Environment lookup; NULL in the options means getenv(3). */
typedef const char *aws_creds_getenv_fn(const char *name, void *arg);
/* Clock; NULL in the options means time(NULL). */
typedef time_t aws_creds_clock_fn(void *arg);

struct aws_creds_options {
	/* Profile name; NULL: AWS_PROFILE, then "default". */
	const char	*profile;
	/* Files; NULL: AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE, then ~/.aws/... */
	const char	*credentials_file;
	const char	*config_file;
	/* "http://host:port"; NULL: AWS_EC2_METADATA_SERVICE_ENDPOINT, then
	 * http://169.254.169.254 */
	const char	*imds_endpoint;
	int		 imds_disabled;		/* also AWS_EC2_METADATA_DISABLED=true */
	long		 imds_timeout_ms;	/* per request; 0 = 1000 */
	int		 refresh_margin_s;	/* 0 = 300 */

	aws_creds_assume_role_fn *assume_role;	/* NULL: role profiles fail */
	void		*assume_role_arg;
	aws_creds_getenv_fn *getenv;
	void		*getenv_arg;
	aws_creds_clock_fn *now;
	void		*now_arg;
};

/*
 * A provider reading the chain described above.  opts is copied (its
 * strings too) and may be NULL for all defaults.  Nothing is fetched
 * until the first aws_creds_provider_get().  Returns 0.
 */
int	 aws_creds_provider_new(struct aws_creds_provider **out,
	    const struct aws_creds_options *opts);
void	 aws_creds_provider_free(struct aws_creds_provider *);

/*
 * Current credentials: a copy the caller frees with aws_creds_free().
 * Cached credentials are returned until refresh_margin before they
 * expire; then the chain is walked again.  Thread-safe: concurrent
 * callers wait for one refresh rather than each fetching.  If a refresh
 * fails while the cached credentials have not expired yet, those are
 * returned (with a warning logged).  Returns 0, or
 * ERR_NOTFOUND when no source has credentials, or another negative code
 * when a source that was configured failed (a broken profile, a failed
 * AssumeRole); err_get() says which, without secrets.
 */
int	 aws_creds_provider_get(struct aws_creds **out, struct aws_creds_provider *p);

/* Forget the cached credentials (e.g. after an ExpiredToken error). */
void	 aws_creds_provider_invalidate(struct aws_creds_provider *);

#endif
