/*
 * fakeaws.h - what the AWS unit tests share (test_svc, test_core_parse,
 * reconcile's test_observe): a client over an injected transport with
 * test credentials, a fixed clock, no jitter and no sleep; and the
 * fixtures of tests/resources/aws.
 */
#ifndef ENVCTL_FAKEAWS_H
#define ENVCTL_FAKEAWS_H

#include <stddef.h>

struct aws_client;
struct aws_creds_provider;
struct aws_retry_quota;
struct aws_transport;

struct fakeaws {
	struct aws_creds_provider	*creds;
	struct aws_retry_quota		*quota;
	struct aws_client		*aws;
};

/*
 * A client of us-east-1 at a loopback endpoint that sends through t (with
 * arg), at most max_attempts tries a call; credentials are a test pair
 * from a fake environment, the clock says 1700000000 (2023-11-14T22:13:20Z).
 * Asserts on failure.
 */
void	 fakeaws_open(struct fakeaws *, const struct aws_transport *t,
	    void *arg, int max_attempts);
void	 fakeaws_close(struct fakeaws *);

/* tests/resources/aws/name, whole and NUL-terminated; *lenp its length. */
char	*fakeaws_fixture(const char *name, size_t *lenp);

#endif
