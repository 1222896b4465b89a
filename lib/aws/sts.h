/*
 * sts.h - AWS Security Token Service: who am I, and AssumeRole.
 *
 * Both calls go through an aws_client (aws.h) and its retries.  The
 * temporary credentials AssumeRole returns live only in wiped memory
 * (creds.h); they never reach a log line or an error message.
 */
#ifndef ENVCTL_STS_H
#define ENVCTL_STS_H

#include "aws.h"

struct aws_creds;

#define STS_API_VERSION		"2011-06-15"

/* GetCallerIdentity's answer.  A plain value; nothing to free. */
struct sts_identity {
	char	account[32];
	char	arn[2048];
	char	user_id[256];
};

/*
 * Ask STS who the client's credentials belong to.  Fills *out and
 * returns 0, or a negative code with err_set() (the one-line AWS error,
 * see aws_error_format) and the client's last error.
 */
int	sts_get_caller_identity(struct sts_identity *out, struct aws_client *c);

/*
 * Assume role_arn with the client's credentials.  session_name NULL
 * means "envctl"; external_id may be NULL; duration_s 0 lets STS choose
 * (one hour), otherwise 900..43200.  On success *out holds new temporary
 * credentials (source "assume-role:<arn>", with their expiration) that
 * the caller frees with aws_creds_free().  On failure *out is NULL.
 */
int	sts_assume_role(struct aws_creds **out, struct aws_client *c,
	    const char *role_arn, const char *session_name,
	    const char *external_id, int duration_s);

/*
 * The assume-role callback of the credentials chain
 * (aws_creds_assume_role_fn in creds.h).  arg is a
 * const struct aws_client_opts * used as a template (region, endpoint,
 * transport, timeouts; its creds are ignored): a short-lived client
 * signs with source and calls AssumeRole, and out is filled with
 * aws_creds_set().
 */
int	sts_assume_role_cb(struct aws_creds *out, const struct aws_creds *source,
	    const char *role_arn, const char *external_id,
	    const char *session_name, void *arg);

#endif
