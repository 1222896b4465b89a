/*
 * ssm.c - GetParameter over the JSON protocol (see ssm.h).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aws_int.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "ssm.h"

/* The value of Parameter.Value in a GetParameter answer, copied; or NULL. */
static char *
ssm_value(const char *body, size_t len)
{
	json_error_t jerr;
	json_t *doc, *v;
	char *out = NULL;

	/* jerr.text may quote the answer, so it is never shown. */
	if ((doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		return NULL;
	v = json_object_get(json_object_get(doc, "Parameter"), "Value");
	if (json_is_string(v) && json_string_length(v) <= SSM_VALUE_MAX &&
	    strlen(json_string_value(v)) == json_string_length(v))
		out = xstrdup(json_string_value(v));
	json_decref(doc);
	return out;
}

int
ssm_parameter_get(char **value, struct aws_client *c, const char *name)
{
	struct aws_headers hdrs;
	struct aws_response resp;
	struct aws_request req = {
		.service = AWS_SERVICE_SSM, .action = "GetParameter",
		.method = "POST", .path = "/", .secret_response = 1,
	};
	json_t *in = NULL;
	char *body = NULL, esc[300];
	int error;

	*value = NULL;
	aws_headers_init(&hdrs);
	aws_response_init(&resp);
	log_escape(esc, sizeof(esc), name);
	if ((in = json_pack("{s:s, s:b}", "Name", name, "WithDecryption", 1)) == NULL ||
	    (body = json_dumps(in, JSON_COMPACT)) == NULL) {
		err_set("ssm GetParameter %s: the request cannot be built", esc);
		error = ERR_INVALID;
		goto done;
	}
	aws_headers_add(&hdrs, "Content-Type", "application/x-amz-json-1.1");
	aws_headers_add(&hdrs, "X-Amz-Target", "AmazonSSM.GetParameter");
	req.headers = &hdrs;
	req.body = body;
	req.body_len = strlen(body);
	if ((error = aws_client_send(&resp, c, &req)) < 0) {
		err_prefix("ssm parameter %s", esc);
		goto done;
	}
	if ((*value = ssm_value(resp.body.ptr, resp.body.len)) == NULL) {
		err_set("ssm parameter %s: the answer has no string value (at most "
		    "%d bytes)", esc, SSM_VALUE_MAX);
		error = ERR_INVALID;
	}
done:
	free(body);
	json_decref(in);
	aws_headers_dispose(&hdrs);
	aws_response_dispose(&resp);
	return error;
}
