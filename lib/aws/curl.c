/*
 * curl.c - the libcurl transport: one easy handle per client, reset (not
 * recreated) between requests so connections are reused; responses
 * capped, failures mapped to our codes without a URL query or header.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "aws_int.h"
#include "err.h"
#include "mem.h"

struct aws_curl {
	CURL		*h;
	char		 errbuf[CURL_ERROR_SIZE];
	int		 over_limit;
	int		 to_sink;	/* -1: not known yet, 0: body, 1: sink */
	size_t		 sunk;		/* bytes given to the sink */
	struct aws_response *resp;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_code;

static void
curl_init_once(void)
{
	curl_init_code = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int
aws_curl_new(struct aws_curl **out)
{
	struct aws_curl *c;

	*out = NULL;
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_code != CURLE_OK) {
		err_set("libcurl initialisation failed: %s",
		    curl_easy_strerror(curl_init_code));
		return ERR_GENERIC;
	}
	c = xcalloc(1, sizeof(*c));
	if ((c->h = curl_easy_init()) == NULL) {
		free(c);
		err_set("libcurl: cannot create a handle");
		return ERR_GENERIC;
	}
	*out = c;
	return 0;
}

void
aws_curl_free(struct aws_curl *c)
{
	if (c == NULL)
		return;
	curl_easy_cleanup(c->h);
	free(c);
}

static size_t
curl_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct aws_curl *c = arg;
	struct aws_response *r = c->resp;
	size_t n = size * nmemb;
	long status = 0;
	int error;

	if (c->to_sink < 0) {
		/* The headers are in: a 2xx body goes to the sink, if any. */
		curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
		c->to_sink = r->sink != NULL && status >= 200 && status < 300;
	}
	if (c->to_sink) {
		if (n > r->body.max - c->sunk) {
			c->over_limit = 1;
			return 0;
		}
		c->sunk += n;
		r->sink_fed = 1;
		if ((error = r->sink(r->sink_arg, data, n)) < 0) {
			r->sink_error = error;
			return 0;	/* CURLE_WRITE_ERROR; the sink said why */
		}
		return n;
	}
	if (buf_add(&r->body, data, n) < 0) {
		c->over_limit = 1;
		return 0;	/* makes curl fail with CURLE_WRITE_ERROR */
	}
	return n;
}

static size_t
curl_header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct aws_curl *c = arg;
	size_t n = size * nmemb, len = n, nlen;
	char *line, *colon, *v;

	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* A new status line (after 100 Continue): start over. */
		aws_headers_dispose(&c->resp->headers);
		return n;
	}
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	if (len == 0 || len > 8192)
		return n;
	line = xstrndup(data, len);
	if ((colon = strchr(line, ':')) != NULL) {
		nlen = (size_t)(colon - line);
		line[nlen] = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if (nlen > 0 && c->resp->headers.n < 256)
			aws_headers_add(&c->resp->headers, line, v);
	}
	mem_free_secret(line);
	return n;
}

/* Map a curl failure to our codes; the message names no URL or header. */
static int
curl_fail(struct aws_curl *c, CURLcode rc, const char *host)
{
	const char *why = c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(rc);

	/* curl's text may quote the URL; never repeat a query string. */
	if (strchr(why, '?') != NULL || strcasestr(why, "amz") != NULL)
		why = curl_easy_strerror(rc);
	switch (rc) {
	case CURLE_WRITE_ERROR:
		if (c->over_limit) {
			err_set("response from %s larger than %zu bytes", host,
			    c->resp->body.max);
			return ERR_LIMIT;
		}
		break;
	case CURLE_OPERATION_TIMEDOUT:
		err_set("%s: %s", host, why);
		return ERR_TIMEOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		err_set("%s: %s", host, why);
		return ERR_UNAVAILABLE;
	default:
		break;
	}
	err_set("%s: %s", host, why);
	return ERR_GENERIC;
}

/* The host part of url, for messages (no path, no query). */
static void
url_host(char *out, size_t outsz, const char *url)
{
	const char *p = strstr(url, "://");
	size_t n;

	p = p != NULL ? p + 3 : url;
	n = strcspn(p, "/?#");
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

int
aws_curl_send(void *arg, struct aws_response *resp,
    const struct aws_http_request *req)
{
	struct aws_curl *c = arg;
	struct curl_slist *hl = NULL, *tmp;
	struct buf line;
	char host[256];
	long status = 0;
	size_t i;
	CURLcode rc;
	int error = ERR_GENERIC, have_ct = 0;

	buf_init_secret(&line, 16384);
	url_host(host, sizeof(host), req->url);
	curl_easy_reset(c->h);
	c->errbuf[0] = '\0';
	c->over_limit = 0;
	c->to_sink = -1;
	c->sunk = 0;
	c->resp = resp;
	resp->body.max = req->max_body;

	for (i = 0; req->headers != NULL && i < req->headers->n; i++) {
		const struct aws_header *h = &req->headers->v[i];

		if (strcasecmp(h->name, "Content-Type") == 0)
			have_ct = 1;
		buf_reset(&line);
		if (*h->value == '\0')
			error = buf_printf(&line, "%s;", h->name);
		else
			error = buf_printf(&line, "%s: %s", h->name, h->value);
		if (error < 0)
			goto done;
		if ((tmp = curl_slist_append(hl, buf_cstr(&line))) == NULL) {
			err_set("out of memory building headers");
			error = ERR_GENERIC;
			goto done;
		}
		hl = tmp;
	}
	/* No headers of curl's own that the signature did not cover. */
	if (!have_ct && (tmp = curl_slist_append(hl, "Content-Type:")) != NULL)
		hl = tmp;
	if ((tmp = curl_slist_append(hl, "Expect:")) != NULL)
		hl = tmp;

	curl_easy_setopt(c->h, CURLOPT_URL, req->url);
	curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, curl_write_cb);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, curl_header_cb);
	curl_easy_setopt(c->h, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(c->h, CURLOPT_SSL_VERIFYPEER, req->insecure_tls ? 0L : 1L);
	curl_easy_setopt(c->h, CURLOPT_SSL_VERIFYHOST, req->insecure_tls ? 0L : 2L);
	if (req->max_body > 0)
		curl_easy_setopt(c->h, CURLOPT_MAXFILESIZE_LARGE,
		    (curl_off_t)req->max_body);
	if (strcmp(req->method, "HEAD") == 0)
		curl_easy_setopt(c->h, CURLOPT_NOBODY, 1L);
	else if (strcmp(req->method, "GET") == 0 && req->body_len == 0)
		curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
	else {
		curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, req->method);
		if (req->body_len > 0 || strcmp(req->method, "DELETE") != 0) {
			curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)req->body_len);
			curl_easy_setopt(c->h, CURLOPT_POSTFIELDS,
			    req->body != NULL ? req->body : "");
		}
	}

	rc = curl_easy_perform(c->h);
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
	resp->status = status;
	if (rc == CURLE_FILESIZE_EXCEEDED) {
		c->over_limit = 1;
		rc = CURLE_WRITE_ERROR;
	}
	if (resp->sink_error < 0) {
		error = resp->sink_error;	/* the sink's message stands */
		goto done;
	}
	if (rc != CURLE_OK) {
		error = curl_fail(c, rc, host);
		goto done;
	}
	error = 0;
done:
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hl);	/* held signatures and the token */
	buf_dispose(&line);
	c->resp = NULL;
	return error;
}
