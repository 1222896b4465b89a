/*
 * s3.c - S3 objects, buckets and presigned URLs over aws_int.h.
 *
 * S3 is a REST protocol: method + bucket + key path + query.  The core
 * (aws_client_send) places the bucket (path-style for custom endpoints),
 * signs and retries; this file builds requests and reads answers.
 *
 * Every request about a bucket goes to the bucket's region, whatever the
 * client's: found once per process (GetBucketLocation, the answer's
 * x-amz-bucket-region header first) and cached; a 301 PermanentRedirect
 * or a 400 naming another region (x-amz-bucket-region, or <Region> in
 * AuthorizationHeaderMalformed) updates the cache and is retried once.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_int.h"
#include "creds.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "s3.h"
#include "sigv4.h"

struct s3_client {
	struct aws_client	*aws;
};

/*
 * The process's bucket regions: few buckets (one, usually), so a small
 * array under a lock; the oldest entry goes when it is full.
 */
#define REGION_CACHE_MAX	16

static int	region_ok(const char *);

static struct {
	pthread_mutex_t	 lock;
	struct {
		char	 bucket[64];
		char	 region[S3_REGION_MAX];
	}		 v[REGION_CACHE_MAX];
	size_t		 n, next;
} regions = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int
region_cache_get(char *out, size_t outsz, const char *bucket)
{
	size_t i;
	int found = 0;

	pthread_mutex_lock(&regions.lock);
	for (i = 0; i < regions.n && !found; i++)
		if (strcmp(regions.v[i].bucket, bucket) == 0) {
			mem_strcopy(out, outsz, regions.v[i].region);
			found = 1;
		}
	pthread_mutex_unlock(&regions.lock);
	return found;
}

static void
region_cache_set(const char *bucket, const char *region)
{
	size_t i;

	if (strlen(bucket) >= sizeof(regions.v[0].bucket))
		return;		/* S3 names are at most 63 bytes */
	pthread_mutex_lock(&regions.lock);
	for (i = 0; i < regions.n; i++)
		if (strcmp(regions.v[i].bucket, bucket) == 0)
			break;
	if (i == regions.n) {
		if (regions.n < REGION_CACHE_MAX)
			i = regions.n++;
		else {
			i = regions.next;
			regions.next = (regions.next + 1) % REGION_CACHE_MAX;
		}
		mem_strcopy(regions.v[i].bucket, sizeof(regions.v[i].bucket),
		    bucket);
	}
	mem_strcopy(regions.v[i].region, sizeof(regions.v[i].region), region);
	pthread_mutex_unlock(&regions.lock);
}

void
s3_bucket_region_remember(const char *bucket, const char *region)
{
	if (region_ok(region))
		region_cache_set(bucket, region);
}

void
s3_bucket_regions_forget(void)
{
	pthread_mutex_lock(&regions.lock);
	regions.n = regions.next = 0;
	pthread_mutex_unlock(&regions.lock);
}

/* A region name as S3 sends it: 1..31 of [a-z0-9-]. */
static int
region_ok(const char *r)
{
	size_t i, n;

	if (r == NULL || (n = strlen(r)) == 0 || n >= S3_REGION_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!islower((unsigned char)r[i]) && !isdigit((unsigned char)r[i]) &&
		    r[i] != '-')
			return 0;
	return 1;
}

/*
 * The region a failed answer sends us to, into out: the
 * x-amz-bucket-region header of a 301 or 400, else the <Region> of a
 * 400 AuthorizationHeaderMalformed.  0 when it names one other than
 * was, -1 otherwise.
 */
static int
redirect_region(char *out, size_t outsz, const struct aws_response *resp,
    const char *was)
{
	struct aws_xml *doc = NULL;
	const char *h;
	char *r = NULL;
	int error = -1;

	if (resp->status != 301 && resp->status != 400)
		return -1;
	if ((h = aws_response_header(resp, "x-amz-bucket-region")) != NULL)
		r = xstrdup(h);
	else if (strcmp(resp->error.code, "AuthorizationHeaderMalformed") == 0 &&
	    aws_xml_parse(&doc, resp->body.ptr, resp->body.len) == 0)
		r = aws_xml_child_text(aws_xml_root(doc), "Region");
	if (region_ok(r) && strcmp(r, was) != 0) {
		mem_strcopy(out, outsz, r);
		error = 0;
	}
	aws_xml_free(doc);
	free(r);
	return error;
}

/*
 * Ask S3 where bucket is: GetBucketLocation in the client's region.  The
 * x-amz-bucket-region header of any answer (S3 sends it with a 301 or a
 * 403 too) wins over the body's LocationConstraint ("" is us-east-1,
 * "EU" eu-west-1).  ERR_NOTFOUND when nothing says.
 */
static int
region_discover(char *out, size_t outsz, struct s3_client *c,
    const char *bucket)
{
	struct aws_request req;
	struct aws_response resp;
	struct aws_xml *doc = NULL;
	const char *h;
	char *lc = NULL;
	int error, sent;

	aws_response_init(&resp);
	memset(&req, 0, sizeof(req));
	req.service = AWS_SERVICE_S3;
	req.action = "GetBucketLocation";
	req.method = "GET";
	req.bucket = bucket;
	req.path = "/";
	req.query = "location";
	sent = aws_client_send(&resp, c->aws, &req);
	h = aws_response_header(&resp, "x-amz-bucket-region");
	if (region_ok(h)) {
		mem_strcopy(out, outsz, h);
		error = 0;
	} else if (sent == 0 && aws_xml_parse(&doc, resp.body.ptr,
	    resp.body.len) == 0) {
		lc = aws_xml_text(aws_xml_root(doc));
		if (lc == NULL || *lc == '\0')
			mem_strcopy(out, outsz, "us-east-1");
		else if (strcmp(lc, "EU") == 0)
			mem_strcopy(out, outsz, "eu-west-1");
		else
			mem_strcopy(out, outsz, lc);
		error = region_ok(out) ? 0 : ERR_NOTFOUND;
	} else
		error = sent < 0 && sent != ERR_INVALID && sent != ERR_NOTFOUND ?
		    sent : ERR_NOTFOUND;
	if (error == ERR_NOTFOUND)
		err_set("s3: cannot tell the region of bucket %s", bucket);
	aws_xml_free(doc);
	free(lc);
	aws_response_dispose(&resp);
	return error;
}

int
s3_bucket_region(char *out, size_t outsz, struct s3_client *c,
    const char *bucket)
{
	/* One lookup at a time: workers starting together ask once. */
	static pthread_mutex_t discover_lock = PTHREAD_MUTEX_INITIALIZER;
	int error;

	if (region_cache_get(out, outsz, bucket))
		return 0;
	pthread_mutex_lock(&discover_lock);
	if (region_cache_get(out, outsz, bucket)) {
		pthread_mutex_unlock(&discover_lock);
		return 0;
	}
	error = region_discover(out, outsz, c, bucket);
	if (error == ERR_NOTFOUND) {
		/* A redirect will still say; until then, the client's. */
		log_debug("%s; trying %s", err_get(), aws_client_region(c->aws));
		err_clear();
		mem_strcopy(out, outsz, aws_client_region(c->aws));
		error = 0;
	}
	if (error < 0)
		err_prefix("s3: the region of bucket %s", bucket);
	else {
		log_debug("s3: bucket %s is in %s", bucket, out);
		region_cache_set(bucket, out);
	}
	pthread_mutex_unlock(&discover_lock);
	return error;
}

/*
 * Send req (about req->bucket) to the bucket's region; a redirect to
 * another region is followed once, and remembered.
 */
static int
s3_send(struct aws_response *resp, struct s3_client *c, struct aws_request *req)
{
	char region[S3_REGION_MAX], to[S3_REGION_MAX];
	int error;

	if ((error = s3_bucket_region(region, sizeof(region), c, req->bucket)) < 0)
		return error;
	req->region = region;
	error = aws_client_send(resp, c->aws, req);
	if (error < 0 && redirect_region(to, sizeof(to), resp, region) == 0) {
		log_info("s3: bucket %s is in %s, not %s: following the redirect",
		    req->bucket, to, region);
		region_cache_set(req->bucket, to);
		mem_strcopy(region, sizeof(region), to);
		error = aws_client_send(resp, c->aws, req);
	}
	req->region = NULL;
	return error;
}

int
s3_client_new(struct s3_client **out, struct aws_client *aws)
{
	struct s3_client *c;

	c = xcalloc(1, sizeof(*c));
	c->aws = aws;
	*out = c;
	return 0;
}

void
s3_client_free(struct s3_client *c)
{
	free(c);
}

static int
check_names(const char *action, const char *bucket, const char *key)
{
	if (bucket == NULL || *bucket == '\0' || (key != NULL && *key == '\0')) {
		err_set("s3 %s: bucket and key must not be empty", action);
		return ERR_INVALID;
	}
	return 0;
}

/* "/" + key, the raw path of an object inside its bucket (caller frees). */
static char *
key_path(const char *key)
{
	return xasprintf("/%s", key);
}

static void
req_init(struct aws_request *req, const char *action, const char *method,
    const char *bucket, const char *path)
{
	memset(req, 0, sizeof(*req));
	req->service = AWS_SERVICE_S3;
	req->action = action;
	req->method = method;
	req->bucket = bucket;
	req->path = path;
}

int
s3_object_put(struct s3_client *c, const char *bucket, const char *key,
    const void *data, size_t len, const struct s3_put_opts *opts)
{
	struct aws_request req;
	struct aws_response resp;
	struct aws_headers hdrs;
	char *path = NULL;
	int error;

	if ((error = check_names("PutObject", bucket, key)) < 0)
		return error;
	aws_headers_init(&hdrs);
	aws_response_init(&resp);
	path = key_path(key);
	aws_headers_add(&hdrs, "Content-Type", opts != NULL &&
	    opts->content_type != NULL ? opts->content_type :
	    "application/octet-stream");
	if (opts != NULL && opts->sse == S3_SSE_AES256)
		aws_headers_add(&hdrs, "x-amz-server-side-encryption", "AES256");
	else if (opts != NULL && opts->sse == S3_SSE_KMS) {
		aws_headers_add(&hdrs, "x-amz-server-side-encryption", "aws:kms");
		if (opts->kms_key_id != NULL)
			aws_headers_add(&hdrs,
			    "x-amz-server-side-encryption-aws-kms-key-id",
			    opts->kms_key_id);
	}
	req_init(&req, "PutObject", "PUT", bucket, path);
	req.headers = &hdrs;
	req.body = data;
	req.body_len = len;
	req.secret_body = opts != NULL && opts->secret;
	error = s3_send(&resp, c, &req);
	aws_response_dispose(&resp);
	aws_headers_dispose(&hdrs);
	free(path);
	return error;
}

int
s3_object_get(char **out, size_t *outlen, struct s3_client *c,
    const char *bucket, const char *key, size_t max, int secret)
{
	struct aws_request req;
	struct aws_response resp;
	char *path = NULL;
	int error;

	*out = NULL;
	*outlen = 0;
	if ((error = check_names("GetObject", bucket, key)) < 0)
		return error;
	aws_response_init(&resp);
	path = key_path(key);
	req_init(&req, "GetObject", "GET", bucket, path);
	req.secret_response = secret;
	if ((error = s3_send(&resp, c, &req)) < 0)
		goto done;
	if (resp.body.len > max) {
		err_set("s3 GetObject: object is %zu bytes, limit %zu",
		    resp.body.len, max);
		error = ERR_LIMIT;
		goto done;
	}
	*out = xmalloc(resp.body.len + 1);
	if (resp.body.len > 0)
		memcpy(*out, resp.body.ptr, resp.body.len);
	(*out)[resp.body.len] = '\0';
	*outlen = resp.body.len;
done:
	aws_response_dispose(&resp);	/* wipes the body when secret */
	free(path);
	return error;
}

int
s3_object_head(struct s3_object_info *out, struct s3_client *c,
    const char *bucket, const char *key)
{
	struct aws_request req;
	struct aws_response resp;
	const char *v;
	char *path = NULL;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = check_names("HeadObject", bucket, key)) < 0)
		return error;
	aws_response_init(&resp);
	path = key_path(key);
	req_init(&req, "HeadObject", "HEAD", bucket, path);
	if ((error = s3_send(&resp, c, &req)) < 0)
		goto done;
	if ((v = aws_response_header(&resp, "Content-Length")) != NULL)
		out->size = strtoll(v, NULL, 10);
	mem_strcopy(out->etag, sizeof(out->etag), aws_response_header(&resp, "ETag"));
	mem_strcopy(out->sse, sizeof(out->sse),
	    aws_response_header(&resp, "x-amz-server-side-encryption"));
	mem_strcopy(out->content_type, sizeof(out->content_type),
	    aws_response_header(&resp, "Content-Type"));
	mem_strcopy(out->last_modified, sizeof(out->last_modified),
	    aws_response_header(&resp, "Last-Modified"));
done:
	aws_response_dispose(&resp);
	free(path);
	return error;
}

int
s3_object_delete(struct s3_client *c, const char *bucket, const char *key)
{
	struct aws_request req;
	struct aws_response resp;
	char *path = NULL;
	int error;

	if ((error = check_names("DeleteObject", bucket, key)) < 0)
		return error;
	aws_response_init(&resp);
	path = key_path(key);
	req_init(&req, "DeleteObject", "DELETE", bucket, path);
	error = s3_send(&resp, c, &req);
	if (error == ERR_NOTFOUND) {
		err_clear();
		error = 0;
	}
	aws_response_dispose(&resp);
	free(path);
	return error;
}

void
s3_object_list_dispose(struct s3_object_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].key);
	free(l->v);
	free(l->next_token);
	memset(l, 0, sizeof(*l));
}

int
s3_objects_list(struct s3_object_list *out, struct s3_client *c,
    const char *bucket, const char *prefix, const char *token, int max_keys)
{
	struct aws_request req;
	struct aws_response resp;
	struct aws_xml *doc = NULL;
	const struct aws_xml_node *root, *it;
	struct buf q;
	char *t;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = check_names("ListObjectsV2", bucket, NULL)) < 0)
		return error;
	aws_response_init(&resp);
	buf_init(&q, 4096);
	/* Sorted by name, as SigV4 wants them anyway. */
	if ((error = buf_addstr(&q, "list-type=2")) < 0)
		goto toolong;
	if (token != NULL && ((error = buf_addstr(&q, "&continuation-token=")) < 0 ||
	    (error = aws_uri_escape(&q, token, 0)) < 0))
		goto toolong;
	if ((error = buf_printf(&q, "&max-keys=%d",
	    max_keys > 0 ? max_keys : 1000)) < 0)
		goto toolong;
	if (prefix != NULL && ((error = buf_addstr(&q, "&prefix=")) < 0 ||
	    (error = aws_uri_escape(&q, prefix, 0)) < 0))
		goto toolong;
	req_init(&req, "ListObjectsV2", "GET", bucket, "/");
	req.query = buf_cstr(&q);
	if ((error = s3_send(&resp, c, &req)) < 0)
		goto done;
	if ((error = aws_xml_parse(&doc, resp.body.ptr, resp.body.len)) < 0) {
		err_prefix("s3 ListObjectsV2: answer");
		goto done;
	}
	root = aws_xml_root(doc);
	AWS_XML_FOREACH(it, root, "Contents") {
		struct s3_object *o;
		char *v;

		out->v = xreallocarray(out->v, out->n + 1, sizeof(*out->v));
		o = &out->v[out->n++];
		memset(o, 0, sizeof(*o));
		o->key = aws_xml_child_text(it, "Key");
		if (o->key == NULL)
			o->key = xstrdup("");
		if ((v = aws_xml_child_text(it, "Size")) != NULL)
			o->size = strtoll(v, NULL, 10);
		free(v);
		v = aws_xml_child_text(it, "ETag");
		mem_strcopy(o->etag, sizeof(o->etag), v);
		free(v);
		v = aws_xml_child_text(it, "LastModified");
		mem_strcopy(o->last_modified, sizeof(o->last_modified), v);
		free(v);
	}
	t = aws_xml_child_text(root, "IsTruncated");
	if (t != NULL && strcmp(t, "true") == 0)
		out->next_token = aws_xml_child_text(root, "NextContinuationToken");
	free(t);
	goto done;
toolong:
	err_set("s3 ListObjectsV2: prefix or token too long");
done:
	if (error < 0)
		s3_object_list_dispose(out);
	aws_xml_free(doc);
	buf_dispose(&q);
	aws_response_dispose(&resp);
	return error;
}

int
s3_bucket_create(struct s3_client *c, const char *bucket)
{
	struct aws_request req;
	struct aws_response resp;
	const char *region;
	char *body = NULL;
	int error;

	if ((error = check_names("CreateBucket", bucket, NULL)) < 0)
		return error;
	aws_response_init(&resp);
	req_init(&req, "CreateBucket", "PUT", bucket, "/");
	region = aws_client_region(c->aws);
	if (region != NULL && strcmp(region, "us-east-1") != 0) {
		body = xasprintf("<CreateBucketConfiguration xmlns=\""
		    "http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>"
		    "%s</LocationConstraint></CreateBucketConfiguration>", region);
		req.body = body;
		req.body_len = strlen(body);
	}
	error = aws_client_send(&resp, c->aws, &req);
	if (error < 0 && strcmp(resp.error.code, "BucketAlreadyOwnedByYou") == 0) {
		err_clear();
		error = 0;
	} else if (error == 0 && region != NULL)
		region_cache_set(bucket, region);
	aws_response_dispose(&resp);
	free(body);
	return error;
}

/*
 * Split an absolute URL "scheme://host[:port]/path" into the origin
 * ("scheme://host[:port]", owned by *origin) and a pointer to the path.
 */
static int
url_split(char **origin, const char **path, char **host, const char *url)
{
	const char *p, *slash;

	if ((p = strstr(url, "://")) == NULL)
		return ERR_INVALID;
	p += 3;
	slash = strchr(p, '/');
	if (slash == NULL)
		slash = p + strlen(p);
	*origin = xstrndup(url, (size_t)(slash - url));
	*host = xstrndup(p, (size_t)(slash - p));
	*path = *slash != '\0' ? slash : "/";
	return 0;
}

/*
 * Credentials to presign with, valid as long as the URL: signed with a
 * session that ends sooner, the URL would die with it.  Fetched again
 * once if they expire before the URL would; if they still do, *expires
 * is shortened to their end, and that is said.
 */
static int
presign_creds(struct aws_creds **out, unsigned *expires, struct s3_client *c)
{
	struct aws_creds_provider *prov = aws_client_creds(c->aws);
	time_t at = aws_client_now(c->aws), end;
	int error;

	if ((error = aws_creds_provider_get(out, prov)) < 0) {
		err_prefix("s3 presign");
		return error;
	}
	end = aws_creds_expiration(*out);
	if (end == 0 || end >= at + (time_t)*expires)
		return 0;
	aws_creds_free(*out);
	*out = NULL;
	aws_creds_provider_invalidate(prov);
	if ((error = aws_creds_provider_get(out, prov)) < 0) {
		err_prefix("s3 presign");
		return error;
	}
	end = aws_creds_expiration(*out);
	if (end == 0 || end >= at + (time_t)*expires)
		return 0;
	if (end <= at + 60) {
		err_set("s3 presign: the credentials (%s) expire in %llds",
		    aws_creds_source(*out), (long long)(end - at));
		aws_creds_free(*out);
		*out = NULL;
		return ERR_INVALID;
	}
	log_warnx("s3 presign: the session credentials (%s) expire in %llds, "
	    "before the %us the URL should last: it is valid %llds only",
	    aws_creds_source(*out), (long long)(end - at), *expires,
	    (long long)(end - at));
	*expires = (unsigned)(end - at);
	return 0;
}

int
s3_url_presign(char **out, struct s3_client *c, const char *method,
    const char *bucket, const char *key, unsigned expires)
{
	struct aws_request req;
	struct aws_creds *creds = NULL;
	struct sigv4_result *sig = NULL;
	struct sigv4_request sreq;
	struct sigv4_params sp;
	struct sigv4_header host_hdr;
	struct buf url;
	char region[S3_REGION_MAX];
	char *origin = NULL, *host = NULL, *path = NULL;
	const char *upath;
	int error;

	*out = NULL;
	buf_init(&url, 8192);
	if ((error = check_names("presign", bucket, key)) < 0)
		goto done;
	error = ERR_INVALID;
	if (strcmp(method, "GET") != 0 && strcmp(method, "PUT") != 0) {
		err_set("s3 presign: method must be GET or PUT");
		goto done;
	}
	if (expires == 0 || expires > S3_PRESIGN_MAX_EXPIRES) {
		err_set("s3 presign: expiry %u s out of 1..%u", expires,
		    S3_PRESIGN_MAX_EXPIRES);
		goto done;
	}
	if ((error = s3_bucket_region(region, sizeof(region), c, bucket)) < 0)
		goto done;
	path = key_path(key);
	req_init(&req, method, method, bucket, path);
	req.region = region;
	if ((error = aws_client_url(&url, c->aws, &req)) < 0)
		goto done;
	if ((error = url_split(&origin, &upath, &host, buf_cstr(&url))) < 0) {
		err_set("s3 presign: cannot split the object URL");
		goto done;
	}
	if ((error = presign_creds(&creds, &expires, c)) < 0)
		goto done;
	host_hdr.name = "Host";
	host_hdr.value = host;
	memset(&sreq, 0, sizeof(sreq));
	sreq.method = method;
	sreq.path = upath;
	sreq.headers = &host_hdr;
	sreq.nheaders = 1;
	sreq.payload_hash = SIGV4_UNSIGNED_PAYLOAD;
	memset(&sp, 0, sizeof(sp));
	sp.creds = creds;
	sp.region = region;
	sp.service = "s3";
	sp.time = aws_client_now(c->aws);
	sp.flags = 0;
	sp.form = SIGV4_FORM_QUERY;
	sp.expires = expires;
	if ((error = sigv4_sign(&sig, &sreq, &sp)) < 0) {
		err_prefix("s3 presign");
		goto done;
	}
	*out = xasprintf("%s%s?%s", origin, upath, sigv4_result_query(sig));
	error = 0;
done:
	sigv4_result_free(sig);
	aws_creds_free(creds);
	buf_dispose(&url);
	free(origin);
	free(host);
	free(path);
	return error;
}
