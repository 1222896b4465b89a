/*
 * imds.c - instance role credentials from the EC2 instance metadata
 * service, IMDSv2 only (a session token first, as our instances require).
 *
 * Every request has a short timeout: off EC2, or in a container past
 * the hop limit, the token PUT times out or is refused and the chain
 * moves on.  Proxies are never used for the metadata address.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "creds.h"
#include "creds_int.h"
#include "err.h"
#include "log.h"
#include "mem.h"

#define IMDS_MAX_RESPONSE	(64 * 1024)
#define IMDS_TOKEN_TTL		"21600"
#define IMDS_ROLE_PATH		"/latest/meta-data/iam/security-credentials/"

static size_t
imds_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;

	if (buf_add(b, data, size * nmemb) != 0)
		return 0;	/* makes curl fail with CURLE_WRITE_ERROR */
	return size * nmemb;
}

/*
 * One request.  token may be NULL (the token PUT itself).  On 200 the
 * body is in b.  ERR_UNAVAILABLE for transport failures and for any
 * other status on the token PUT; ERR_NOTFOUND for 404 afterwards.
 */
static int
imds_request(struct buf *b, const char *endpoint, const char *path,
    const char *token, long timeout_ms)
{
	CURL *h = NULL;
	struct curl_slist *hdrs = NULL;
	char *url = NULL, *th = NULL;
	long status = 0;
	CURLcode rc;
	int error = ERR_UNAVAILABLE;

	buf_reset(b);
	if ((h = curl_easy_init()) == NULL) {
		err_set("imds: cannot create a curl handle");
		goto done;
	}
	url = xasprintf("%s%s", endpoint, path);
	if (token == NULL) {
		hdrs = curl_slist_append(hdrs,
		    "X-aws-ec2-metadata-token-ttl-seconds: " IMDS_TOKEN_TTL);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
	} else {
		th = xasprintf("X-aws-ec2-metadata-token: %s", token);
		hdrs = curl_slist_append(hdrs, th);
	}
	if (hdrs == NULL) {
		err_set("imds: out of memory building headers");
		goto done;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, imds_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		err_set("imds: %s %s: %s", token ? "GET" : "PUT", path,
		    curl_easy_strerror(rc));
		error = rc == CURLE_OPERATION_TIMEDOUT ? ERR_TIMEOUT :
		    rc == CURLE_WRITE_ERROR ? ERR_LIMIT : ERR_UNAVAILABLE;
		if (token == NULL && error == ERR_TIMEOUT)
			error = ERR_UNAVAILABLE;	/* hop limit: no IMDS */
		goto done;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		err_set("imds: %s %s: HTTP %ld", token ? "GET" : "PUT", path, status);
		error = token == NULL ? ERR_UNAVAILABLE :
		    status == 404 ? ERR_NOTFOUND : ERR_UNAVAILABLE;
		goto done;
	}
	error = 0;
done:
	curl_slist_free_all(hdrs);
	mem_free_secret(th);
	free(url);
	if (h != NULL)
		curl_easy_cleanup(h);
	return error;
}

static const char *
json_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Parse the role document into *out. */
static int
imds_parse_role(struct aws_creds **out, const char *text, size_t len)
{
	json_t *doc = NULL;
	json_error_t jerr;
	const char *code, *akid, *secret, *token, *exp;
	time_t expiration = 0;
	int error = ERR_INVALID;

	if ((doc = json_loadb(text, len, 0, &jerr)) == NULL ||
	    !json_is_object(doc)) {
		/* jerr.text can quote the input: do not show it. */
		err_set("imds: role credentials are not a JSON object");
		goto done;
	}
	code = json_str(doc, "Code");
	if (code != NULL && strcmp(code, "Success") != 0) {
		char esc[64];

		err_set("imds: role credentials not available (Code %s)",
		    log_escape(esc, sizeof(esc), code));
		error = ERR_UNAVAILABLE;
		goto done;
	}
	akid = json_str(doc, "AccessKeyId");
	secret = json_str(doc, "SecretAccessKey");
	token = json_str(doc, "Token");
	exp = json_str(doc, "Expiration");
	if (akid == NULL || secret == NULL || token == NULL) {
		err_set("imds: role credentials lack AccessKeyId, "
		    "SecretAccessKey or Token");
		goto done;
	}
	if (exp != NULL && creds_parse_iso8601(&expiration, exp) != 0) {
		err_set("imds: role credentials have a bad Expiration");
		goto done;
	}
	if ((error = aws_creds_new(out, akid, secret, token, expiration,
	    "imds")) != 0)
		err_prefix("imds");
done:
	json_decref(doc);
	return error;
}

int
imds_creds_fetch(struct aws_creds **out, const char *endpoint, long timeout_ms)
{
	struct buf b;
	char *token = NULL, *role = NULL, *path = NULL;
	size_t n;
	int error;

	*out = NULL;
	buf_init_secret(&b, IMDS_MAX_RESPONSE);
	if ((error = imds_request(&b, endpoint, "/latest/api/token", NULL,
	    timeout_ms)) != 0)
		goto done;
	if (b.len == 0) {
		err_set("imds: empty session token");
		error = ERR_UNAVAILABLE;
		goto done;
	}
	token = buf_detach(&b, NULL);
	if ((error = imds_request(&b, endpoint, IMDS_ROLE_PATH, token,
	    timeout_ms)) != 0) {
		if (error == ERR_NOTFOUND)
			err_set("imds: no instance role attached");
		goto done;
	}
	n = strcspn(buf_cstr(&b), "\r\n");
	if (n == 0) {
		err_set("imds: no instance role attached");
		error = ERR_NOTFOUND;
		goto done;
	}
	role = xstrndup(buf_cstr(&b), n);
	if (strchr(role, '/') != NULL || strchr(role, '?') != NULL ||
	    strchr(role, '#') != NULL) {
		err_set("imds: bad role name");
		error = ERR_INVALID;
		goto done;
	}
	path = xasprintf("%s%s", IMDS_ROLE_PATH, role);
	if ((error = imds_request(&b, endpoint, path, token, timeout_ms)) != 0)
		goto done;
	error = imds_parse_role(out, buf_cstr(&b), b.len);
	if (error == 0) {
		char esc[96];

		log_debug("aws creds: imds role=%s", log_escape(esc, sizeof(esc),
		    role));
	}
done:
	mem_free_secret(token);
	free(role);
	free(path);
	buf_dispose(&b);
	return error;
}
