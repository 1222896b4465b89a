/*
 * error.c - AWS error answers: parse the body (EC2 Query, STS Query,
 * S3 REST-XML, JSON), map the code to an ERR_* value, attach a guidance
 * line for the codes an operator causes and can fix, and format the
 * whole as one line.
 *
 * Only the code, the message, the request id and the status are kept;
 * other elements of an error body (S3's StringToSign, CanonicalRequest,
 * AWSAccessKeyId) are never copied, and the message is escaped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "aws_int.h"
#include "err.h"
#include "log.h"
#include "mem.h"

struct guidance {
	const char	*code;
	const char	*text;
};

static const struct guidance guidance_table[] = {
	{ "InstanceLimitExceeded",
	  "request a quota increase for this instance type and region (Service Quotas)" },
	{ "VcpuLimitExceeded",
	  "request a vCPU quota increase for this region (Service Quotas)" },
	{ "InsufficientInstanceCapacity",
	  "AWS has no capacity for this type in that AZ: list another subnet/AZ or instance type in the spec" },
	{ "InvalidAMIID.NotFound",
	  "check the image alias or AMI id and that it exists in this region" },
	{ "InvalidAMIID.Malformed",
	  "check the image alias or AMI id (ami-...) in the spec" },
	{ "UnauthorizedOperation",
	  "the credentials lack a permission; docs/iam-policy.json has what envctl needs (docs/aws-setup.md)" },
	{ "AccessDenied",
	  "the credentials lack a permission; docs/iam-policy.json has what envctl needs (docs/aws-setup.md)" },
	{ "AuthFailure",
	  "AWS rejected the credentials; check them (docs/aws-setup.md), and docs/iam-policy.json for permissions" },
	{ "InvalidKeyPair.NotFound",
	  "the named key pair does not exist in this region; fix access.ssh.key or use key: auto" },
	{ "InvalidGroup.NotFound",
	  "the security group does not exist (deleted out of band?); the next pass recreates it" },
	{ "SpotMaxPriceTooLow",
	  "raise spec.instance.spot.max_price or allow fallback: on-demand" },
	{ "IdempotentParameterMismatch",
	  "a ClientToken was reused with different parameters; the next attempt uses a new token" },
	{ "ExpiredToken",
	  "the session credentials expired: refresh them, and check the system clock" },
	{ "ExpiredTokenException",
	  "the session credentials expired: refresh them, and check the system clock" },
	{ "RequestExpired",
	  "the request time is too far from AWS's: check the system clock (NTP)" },
	{ "InvalidClientTokenId",
	  "the access key id is unknown to AWS: check AWS_ACCESS_KEY_ID / the profile" },
	{ "SignatureDoesNotMatch",
	  "the secret key does not match the access key id, or the clock is off" },
	{ "OptInRequired",
	  "the account is not subscribed to this service or region: opt in first" },
	{ "InvalidParameterValue",
	  "a value in the spec or configuration is not accepted by AWS; see the message" },
	{ "NoSuchBucket",
	  "the S3 bucket does not exist: create it or fix the bucket in the configuration" },
};

const char *
aws_error_guidance(const char *code)
{
	size_t i;

	if (code == NULL)
		return NULL;
	for (i = 0; i < sizeof(guidance_table) / sizeof(guidance_table[0]); i++)
		if (strcmp(code, guidance_table[i].code) == 0)
			return guidance_table[i].text;
	return NULL;
}

static int
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

int
aws_error_code_to_err(const char *code, long status)
{
	if (code == NULL)
		code = "";
	if (aws_retry_is_throttle(code) || status == 429)
		return ERR_THROTTLED;
	if (strcmp(code, "RequestTimeout") == 0 ||
	    strcmp(code, "RequestTimeoutException") == 0)
		return ERR_TIMEOUT;
	if (has_suffix(code, "NotFound") || strncmp(code, "NoSuch", 6) == 0 ||
	    status == 404)
		return ERR_NOTFOUND;
	if (has_suffix(code, ".Duplicate") || has_suffix(code, "AlreadyExists") ||
	    strcmp(code, "BucketAlreadyOwnedByYou") == 0)
		return ERR_EXISTS;
	if (strcmp(code, "InstanceLimitExceeded") == 0 ||
	    strcmp(code, "VcpuLimitExceeded") == 0)
		return ERR_LIMIT;
	if (strcmp(code, "IdempotentParameterMismatch") == 0 ||
	    strncmp(code, "IncorrectState", 14) == 0 ||
	    strcmp(code, "IncorrectInstanceState") == 0 ||
	    strcmp(code, "OperationAborted") == 0 || status == 409)
		return ERR_CONFLICT;
	if (status >= 500 || strcmp(code, "InsufficientInstanceCapacity") == 0)
		return ERR_UNAVAILABLE;
	if (status >= 300 || *code != '\0')
		return ERR_INVALID;
	return ERR_GENERIC;
}

/* Keep only the characters an AWS code is made of. */
static void
set_code(struct aws_error *e, const char *code)
{
	size_t i, j = 0;

	for (i = 0; code[i] != '\0' && j + 1 < sizeof(e->code); i++) {
		char c = code[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')
			e->code[j++] = c;
	}
	e->code[j] = '\0';
}

static void
set_message(struct aws_error *e, const char *msg)
{
	log_escape(e->message, sizeof(e->message), msg);
}

static void
set_request_id(struct aws_error *e, const char *id)
{
	log_escape(e->request_id, sizeof(e->request_id), id);
}

/* JSON "__type" may be "com.amazon.coral#ThrottlingException" or "X:http://..." */
static void
set_json_code(struct aws_error *e, const char *type)
{
	char tmp[AWS_ERROR_CODE_MAX];
	const char *p;
	size_t n;

	if ((p = strrchr(type, '#')) != NULL)
		type = p + 1;
	n = strcspn(type, ":");
	if (n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	memcpy(tmp, type, n);
	tmp[n] = '\0';
	set_code(e, tmp);
}

static void
parse_xml_body(struct aws_error *e, const char *body, size_t len)
{
	struct aws_xml *doc = NULL;
	const struct aws_xml_node *root, *err, *n;
	char *s;

	if (aws_xml_parse(&doc, body, len) < 0) {
		err_clear();
		return;
	}
	root = aws_xml_root(doc);
	if (strcmp(aws_xml_name(root), "Error") == 0)
		err = root;				/* S3 */
	else if ((err = aws_xml_path(root, "Errors/Error")) == NULL)	/* EC2 */
		err = aws_xml_child(root, "Error");	/* STS, IAM */
	if (err != NULL) {
		if ((s = aws_xml_child_text(err, "Code")) != NULL) {
			set_code(e, s);
			free(s);
		}
		if ((s = aws_xml_child_text(err, "Message")) != NULL) {
			set_message(e, s);
			free(s);
		}
	}
	if (e->request_id[0] == '\0') {
		if ((n = aws_xml_child(root, "RequestID")) == NULL &&
		    (n = aws_xml_child(root, "RequestId")) == NULL && err != NULL)
			n = aws_xml_child(err, "RequestId");
		if ((s = aws_xml_text(n)) != NULL) {
			set_request_id(e, s);
			free(s);
		}
	}
	aws_xml_free(doc);
}

static const char *
json_str(json_t *o, const char *a, const char *b)
{
	json_t *v;

	if ((v = json_object_get(o, a)) == NULL)
		v = json_object_get(o, b);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void
parse_json_body(struct aws_error *e, const char *body, size_t len)
{
	json_error_t jerr;
	json_t *o;
	const char *s;

	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL)
		return;
	if (json_is_object(o)) {
		if ((s = json_str(o, "__type", "code")) != NULL ||
		    (s = json_str(o, "Code", "Type")) != NULL)
			set_json_code(e, s);
		if ((s = json_str(o, "message", "Message")) != NULL)
			set_message(e, s);
	}
	json_decref(o);
}

static const char *
status_code_name(long status)
{
	switch (status) {
	case 301: return "MovedPermanently";
	case 304: return "NotModified";
	case 400: return "BadRequest";
	case 403: return "Forbidden";
	case 404: return "NotFound";
	case 409: return "Conflict";
	case 412: return "PreconditionFailed";
	case 429: return "TooManyRequests";
	case 500: return "InternalError";
	case 502: return "BadGateway";
	case 503: return "ServiceUnavailable";
	case 504: return "GatewayTimeout";
	default: return "";
	}
}

void
aws_error_parse(struct aws_error *e, long status,
    const struct aws_headers *headers, const char *body, size_t body_len)
{
	const char *h, *p;

	e->http_status = status;
	e->code[0] = e->message[0] = e->request_id[0] = '\0';
	if (headers != NULL) {
		if ((h = aws_headers_get(headers, "x-amzn-RequestId")) != NULL ||
		    (h = aws_headers_get(headers, "x-amz-request-id")) != NULL)
			set_request_id(e, h);
		if ((h = aws_headers_get(headers, "x-amzn-ErrorType")) != NULL)
			set_json_code(e, h);
	}
	if (body != NULL && body_len > 0) {
		for (p = body; p < body + body_len &&
		    (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'); p++)
			;
		if (p < body + body_len && *p == '<')
			parse_xml_body(e, body, body_len);
		else if (p < body + body_len && *p == '{')
			parse_json_body(e, body, body_len);
	}
	if (e->code[0] == '\0')
		set_code(e, status_code_name(status));
	e->err = aws_error_code_to_err(e->code, status);
	e->guidance = aws_error_guidance(e->code);
}

/* Replace every occurrence of secret in s (size sz) with "[redacted]". */
static void
redact_field(char *s, size_t sz, const char *secret)
{
	static const char mark[] = "[redacted]";
	size_t slen = strlen(secret), mlen = sizeof(mark) - 1, tail;
	char *p;

	while ((p = strstr(s, secret)) != NULL) {
		tail = strlen(p + slen);
		if ((size_t)(p - s) + mlen + tail + 1 > sz)
			tail = sz - (size_t)(p - s) - mlen - 1;
		memmove(p + mlen, p + slen, tail);
		p[mlen + tail] = '\0';
		memcpy(p, mark, mlen);
	}
}

void
aws_error_redact(struct aws_error *e, const char *secret)
{
	if (secret == NULL || strlen(secret) < 4)
		return;
	redact_field(e->code, sizeof(e->code), secret);
	redact_field(e->message, sizeof(e->message), secret);
	redact_field(e->request_id, sizeof(e->request_id), secret);
}

char *
aws_error_format(char *out, size_t outsz, const struct aws_error *e)
{
	struct buf b;
	const char *sep = " (";

	buf_init(&b, 4096);
	(void)buf_printf(&b, "%s %s: ", aws_service_name(e->service),
	    e->action[0] != '\0' ? e->action : "request");
	if (e->code[0] != '\0')
		(void)buf_printf(&b, "%s: ", e->code);
	(void)buf_addstr(&b, e->message[0] != '\0' ? e->message :
	    err_code_str(e->err));
	if (e->http_status != 0) {
		(void)buf_printf(&b, "%sHTTP %ld", sep, e->http_status);
		sep = ", ";
	}
	if (e->request_id[0] != '\0') {
		(void)buf_printf(&b, "%srequest id %s", sep, e->request_id);
		sep = ", ";
	}
	if (e->attempts > 0) {
		(void)buf_printf(&b, "%s%d attempt%s", sep, e->attempts,
		    e->attempts == 1 ? "" : "s");
		sep = ", ";
	}
	if (strcmp(sep, ", ") == 0)
		(void)buf_addch(&b, ')');
	if (e->guidance != NULL)
		(void)buf_printf(&b, "; %s", e->guidance);
	if (outsz > 0) {
		size_t n = b.len < outsz - 1 ? b.len : outsz - 1;

		memcpy(out, buf_cstr(&b), n);
		out[n] = '\0';
	}
	buf_dispose(&b);
	return out;
}
