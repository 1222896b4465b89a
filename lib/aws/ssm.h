/*
 * ssm.h - AWS Systems Manager Parameter Store: read one parameter.
 *
 * GetParameter over the JSON protocol (X-Amz-Target
 * AmazonSSM.GetParameter, SigV4 service "ssm"), through an aws_client
 * and its retries.  The endpoint is AWS_ENDPOINT_URL_SSM, then
 * AWS_ENDPOINT_URL, then https://ssm.<region>.amazonaws.com.
 *
 * Parameters hold secrets: the value lives in wiped memory (the answer's
 * buffer is wiped, the caller frees the value with mem_free_secret());
 * it never reaches a log line or an error, which name the parameter.
 */
#ifndef ENVCTL_SSM_H
#define ENVCTL_SSM_H

#include "aws.h"

/* The longest value read (SSM's advanced tier holds 8 KiB). */
#define SSM_VALUE_MAX	8192

/*
 * Read the parameter name with WithDecryption (a SecureString comes back
 * decrypted).  On success *value is a new NUL-terminated string the
 * caller frees with mem_free_secret().  On failure *value is NULL and
 * the code is aws_client_send()'s (ERR_NOTFOUND: no such parameter,
 * ERR_INVALID: denied or a bad name...) or ERR_INVALID for an answer
 * without a string value, with err_get() naming the parameter.
 */
int	ssm_parameter_get(char **value, struct aws_client *c, const char *name);

#endif
