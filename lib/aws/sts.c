/*
 * sts.c - GetCallerIdentity and AssumeRole over the Query protocol.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws_int.h"
#include "creds.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "sts.h"

/* Parse "2011-07-15T23:28:33[.359]Z" as UTC. */
static int
sts_parse_time(time_t *out, const char *s)
{
	struct tm tm;
	const char *p;

	memset(&tm, 0, sizeof(tm));
	if ((p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		goto bad;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0 && *p != '\0')
		goto bad;
	*out = timegm(&tm);
	return 0;
bad:
	err_set("STS: unparsable expiration time");
	return ERR_INVALID;
}

/* Parse the 2xx body of action into a document; result is <action>Result. */
static int
sts_result(struct aws_xml **doc, const struct aws_xml_node **result,
    const struct aws_response *resp, const char *action)
{
	char name[64];
	int error;

	if ((error = aws_xml_parse(doc, resp->body.ptr, resp->body.len)) < 0) {
		err_prefix("sts %s: answer", action);
		return error;
	}
	snprintf(name, sizeof(name), "%sResult", action);
	if ((*result = aws_xml_child(aws_xml_root(*doc), name)) == NULL) {
		err_set("sts %s: answer without <%s>", action, name);
		return ERR_INVALID;
	}
	return 0;
}

int
sts_get_caller_identity(struct sts_identity *out, struct aws_client *c)
{
	struct aws_query *q = aws_query_new("GetCallerIdentity", STS_API_VERSION);
	struct aws_request req = {
		.service = AWS_SERVICE_STS, .action = "GetCallerIdentity",
		.method = "POST", .path = "/", .params = q,
	};
	struct aws_response resp;
	struct aws_xml *doc = NULL;
	const struct aws_xml_node *r;
	int error;

	memset(out, 0, sizeof(*out));
	aws_response_init(&resp);
	if ((error = aws_client_send(&resp, c, &req)) < 0)
		goto done;
	if ((error = sts_result(&doc, &r, &resp, "GetCallerIdentity")) < 0)
		goto done;
	if ((error = aws_xml_child_copy(out->account, sizeof(out->account), r,
	    "Account")) < 0 ||
	    (error = aws_xml_child_copy(out->arn, sizeof(out->arn), r, "Arn")) < 0 ||
	    (error = aws_xml_child_copy(out->user_id, sizeof(out->user_id), r,
	    "UserId")) < 0) {
		err_prefix("sts GetCallerIdentity");
		error = ERR_INVALID;
		goto done;
	}
done:
	aws_xml_free(doc);
	aws_response_dispose(&resp);
	aws_query_free(q);
	return error;
}

int
sts_assume_role(struct aws_creds **out, struct aws_client *c,
    const char *role_arn, const char *session_name, const char *external_id,
    int duration_s)
{
	struct aws_query *q = NULL;
	struct aws_request req = {
		.service = AWS_SERVICE_STS, .action = "AssumeRole",
		.method = "POST", .path = "/", .secret_response = 1,
	};
	struct aws_response resp;
	struct aws_xml *doc = NULL;
	const struct aws_xml_node *r, *cr;
	char *akid = NULL, *secret = NULL, *token = NULL, *exp = NULL, *source = NULL;
	char dur[16];
	time_t expiration = 0;
	int error = ERR_INVALID;

	*out = NULL;
	aws_response_init(&resp);
	if (role_arn == NULL || strncmp(role_arn, "arn:", 4) != 0) {
		err_set("sts AssumeRole: role ARN must start with arn:");
		goto done;
	}
	if (duration_s != 0 && (duration_s < 900 || duration_s > 43200)) {
		err_set("sts AssumeRole: duration must be 900..43200 seconds");
		goto done;
	}
	q = aws_query_new("AssumeRole", STS_API_VERSION);
	aws_query_add(q, "RoleArn", role_arn);
	aws_query_add(q, "RoleSessionName",
	    session_name != NULL && *session_name != '\0' ? session_name : "envctl");
	if (external_id != NULL && *external_id != '\0')
		aws_query_add(q, "ExternalId", external_id);
	if (duration_s != 0) {
		snprintf(dur, sizeof(dur), "%d", duration_s);
		aws_query_add(q, "DurationSeconds", dur);
	}
	req.params = q;
	if ((error = aws_client_send(&resp, c, &req)) < 0)
		goto done;
	if ((error = sts_result(&doc, &r, &resp, "AssumeRole")) < 0)
		goto done;
	aws_xml_set_secret(doc);
	error = ERR_INVALID;
	if ((cr = aws_xml_child(r, "Credentials")) == NULL) {
		err_set("sts AssumeRole: answer without <Credentials>");
		goto done;
	}
	akid = aws_xml_child_text(cr, "AccessKeyId");
	secret = aws_xml_secret_text(aws_xml_child(cr, "SecretAccessKey"));
	token = aws_xml_secret_text(aws_xml_child(cr, "SessionToken"));
	exp = aws_xml_child_text(cr, "Expiration");
	if (akid == NULL || secret == NULL || token == NULL || exp == NULL) {
		err_set("sts AssumeRole: incomplete <Credentials>");
		goto done;
	}
	if ((error = sts_parse_time(&expiration, exp)) < 0)
		goto done;
	source = xasprintf("assume-role:%s", role_arn);
	if ((error = aws_creds_new(out, akid, secret, token, expiration,
	    source)) < 0) {
		err_prefix("sts AssumeRole");
		goto done;
	}
	log_debug("aws: sts AssumeRole role=%s expires=%lld", role_arn,
	    (long long)expiration);
	error = 0;
done:
	free(akid);
	mem_free_secret(secret);
	mem_free_secret(token);
	free(exp);
	free(source);
	aws_xml_free(doc);
	aws_response_dispose(&resp);
	aws_query_free(q);
	return error;
}

int
sts_assume_role_cb(struct aws_creds *out, const struct aws_creds *source,
    const char *role_arn, const char *external_id, const char *session_name,
    void *arg)
{
	const struct aws_client_opts *tmpl = arg;
	struct aws_client_opts o;
	struct aws_client *c = NULL;
	struct aws_creds *tmp = NULL;
	int error;

	if (tmpl != NULL)
		o = *tmpl;
	else
		memset(&o, 0, sizeof(o));
	o.creds = NULL;
	o.static_creds = source;
	o.anonymous = 0;
	if ((error = aws_client_new(&c, &o)) < 0)
		goto done;
	if ((error = sts_assume_role(&tmp, c, role_arn, session_name,
	    external_id, 0)) < 0)
		goto done;
	error = aws_creds_set(out, aws_creds_access_key_id(tmp),
	    aws_creds_secret_access_key(tmp), aws_creds_session_token(tmp),
	    aws_creds_expiration(tmp), aws_creds_source(tmp));
done:
	aws_creds_free(tmp);
	aws_client_free(c);
	return error;
}
