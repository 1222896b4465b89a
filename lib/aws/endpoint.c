/*
 * endpoint.c - where a service's requests go (pure functions).
 *
 * Precedence as in the SDKs: AWS_ENDPOINT_URL_<SVC>, then
 * AWS_ENDPOINT_URL, then https://<svc>.<region>.amazonaws.com.  S3 is
 * virtual-hosted (<bucket>.s3.<region>.amazonaws.com) on AWS and
 * path-style (<endpoint>/<bucket>/<key>) on a custom endpoint, or when
 * the bucket name cannot be a DNS label under TLS (it holds a dot).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "aws_int.h"
#include "err.h"

static const char *const service_names[AWS_SERVICE_COUNT] = {
	[AWS_SERVICE_EC2] = "ec2",
	[AWS_SERVICE_S3] = "s3",
	[AWS_SERVICE_STS] = "sts",
	[AWS_SERVICE_SSM] = "ssm",
};

static const char *const service_env[AWS_SERVICE_COUNT] = {
	[AWS_SERVICE_EC2] = "AWS_ENDPOINT_URL_EC2",
	[AWS_SERVICE_S3] = "AWS_ENDPOINT_URL_S3",
	[AWS_SERVICE_STS] = "AWS_ENDPOINT_URL_STS",
	[AWS_SERVICE_SSM] = "AWS_ENDPOINT_URL_SSM",
};

const char *
aws_service_name(enum aws_service svc)
{
	if ((unsigned)svc >= AWS_SERVICE_COUNT)
		return "unknown";
	return service_names[svc];
}

const char *
aws_endpoint_env_name(enum aws_service svc)
{
	if ((unsigned)svc >= AWS_SERVICE_COUNT)
		return NULL;
	return service_env[svc];
}

static int
region_valid(const char *region)
{
	size_t i, n;

	if (region == NULL)
		return 0;
	n = strlen(region);
	if (n == 0 || n > 32)
		return 0;
	for (i = 0; i < n; i++)
		if (!islower((unsigned char)region[i]) &&
		    !isdigit((unsigned char)region[i]) && region[i] != '-')
			return 0;
	return 1;
}

static int
host_char_ok(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

/* Parse "scheme://host[:port][/path]" into out. */
static int
endpoint_parse(struct aws_endpoint *out, const char *url)
{
	const char *p, *host, *hend, *port = NULL, *path;
	size_t hlen, plen;
	long portnum = 0;

	if (strncmp(url, "https://", 8) == 0) {
		snprintf(out->scheme, sizeof(out->scheme), "https");
		p = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		snprintf(out->scheme, sizeof(out->scheme), "http");
		p = url + 7;
	} else
		goto bad;
	if (strpbrk(p, "@?#") != NULL || strpbrk(p, " \t\r\n") != NULL)
		goto bad;
	if (*p == '[') {
		host = p + 1;
		if ((hend = strchr(host, ']')) == NULL)
			goto bad;
		p = hend + 1;
		for (const char *q = host; q < hend; q++)
			if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.')
				goto bad;
	} else {
		host = p;
		while (*p != '\0' && host_char_ok(*p))
			p++;
		hend = p;
	}
	hlen = (size_t)(hend - host);
	if (hlen == 0 || hlen >= sizeof(out->host))
		goto bad;
	memcpy(out->host, host, hlen);
	out->host[hlen] = '\0';
	if (*p == ':') {
		port = ++p;
		while (isdigit((unsigned char)*p)) {
			portnum = portnum * 10 + (*p - '0');
			if (portnum > 65535)
				goto bad;
			p++;
		}
		if (p == port || portnum == 0)
			goto bad;
		out->port = (int)portnum;
	}
	if (*p != '\0' && *p != '/')
		goto bad;
	path = p;
	plen = strlen(path);
	while (plen > 0 && path[plen - 1] == '/')
		plen--;
	if (plen >= sizeof(out->base_path))
		goto bad;
	memcpy(out->base_path, path, plen);
	out->base_path[plen] = '\0';
	return 0;
bad:
	err_set("malformed endpoint URL (want http[s]://host[:port][/path])");
	return ERR_INVALID;
}

/*
 * Resolve the endpoint of svc.  The service-specific override wins over
 * the general one; empty strings count as unset (as in the SDKs).
 */
int
aws_endpoint_resolve(struct aws_endpoint *out, enum aws_service svc,
    const char *region, const char *override_service, const char *override_all)
{
	const char *url = NULL, *suffix;
	int n;

	memset(out, 0, sizeof(*out));
	if ((unsigned)svc >= AWS_SERVICE_COUNT) {
		err_set("unknown AWS service");
		return ERR_INVALID;
	}
	if (override_service != NULL && *override_service != '\0')
		url = override_service;
	else if (override_all != NULL && *override_all != '\0')
		url = override_all;
	if (url != NULL) {
		if (endpoint_parse(out, url) < 0)
			return ERR_INVALID;
		out->custom = 1;
		out->path_style = (svc == AWS_SERVICE_S3);
		return 0;
	}
	if (!region_valid(region)) {
		err_set("invalid or missing AWS region (set AWS_REGION)");
		return ERR_INVALID;
	}
	suffix = strncmp(region, "cn-", 3) == 0 ? "amazonaws.com.cn" :
	    "amazonaws.com";
	snprintf(out->scheme, sizeof(out->scheme), "https");
	n = snprintf(out->host, sizeof(out->host), "%s.%s.%s",
	    service_names[svc], region, suffix);
	if (n < 0 || (size_t)n >= sizeof(out->host)) {
		err_set("endpoint host name too long");
		return ERR_INVALID;
	}
	return 0;
}

static int
default_port(const struct aws_endpoint *ep)
{
	return strcmp(ep->scheme, "https") == 0 ? 443 : 80;
}

static int
host_is_ipv6(const struct aws_endpoint *ep)
{
	return strchr(ep->host, ':') != NULL;
}

int
aws_endpoint_base(struct buf *out, const struct aws_endpoint *ep)
{
	int error;

	if (host_is_ipv6(ep))
		error = buf_printf(out, "%s://[%s]", ep->scheme, ep->host);
	else
		error = buf_printf(out, "%s://%s", ep->scheme, ep->host);
	if (error == 0 && ep->port != 0 && ep->port != default_port(ep))
		error = buf_printf(out, ":%d", ep->port);
	if (error == 0)
		error = buf_addstr(out, ep->base_path);
	return error;
}

/* Can bucket be the first label of a TLS host name? */
static int
bucket_dns_ok(const char *bucket)
{
	size_t i, n = strlen(bucket);

	if (n < 3 || n > 63)
		return 0;
	for (i = 0; i < n; i++)
		if (!islower((unsigned char)bucket[i]) &&
		    !isdigit((unsigned char)bucket[i]) && bucket[i] != '-')
			return 0;
	return bucket[0] != '-' && bucket[n - 1] != '-';
}

/* 1 when requests for bucket on ep put the bucket in the path. */
static int
endpoint_bucket_in_path(const struct aws_endpoint *ep, const char *bucket)
{
	return ep->path_style || !bucket_dns_ok(bucket);
}

int
aws_endpoint_host(char *out, size_t outsz, const struct aws_endpoint *ep,
    const char *bucket)
{
	const char *lb = "", *rb = "";
	char port[16] = "";
	int n;

	if (host_is_ipv6(ep)) {
		lb = "[";
		rb = "]";
	}
	if (ep->port != 0 && ep->port != default_port(ep))
		snprintf(port, sizeof(port), ":%d", ep->port);
	if (bucket != NULL && *bucket != '\0' &&
	    !endpoint_bucket_in_path(ep, bucket))
		n = snprintf(out, outsz, "%s.%s%s", bucket, ep->host, port);
	else
		n = snprintf(out, outsz, "%s%s%s%s", lb, ep->host, rb, port);
	if (n < 0 || (size_t)n >= outsz) {
		err_set("endpoint host name too long");
		return ERR_LIMIT;
	}
	return 0;
}

/*
 * Append the encoded request path for key path (raw) in bucket to out:
 * base_path, then "/<bucket>" when path-style, then the path encoded
 * once with '/' kept (never normalised).  A bucket operation (path NULL
 * or "") is "/<bucket>" path-style and "/" virtual-hosted.
 */
int
aws_endpoint_path(struct buf *out, const struct aws_endpoint *ep,
    const char *bucket, const char *path)
{
	int error;

	if ((error = buf_addstr(out, ep->base_path)) < 0)
		return error;
	if (bucket != NULL && *bucket != '\0' &&
	    endpoint_bucket_in_path(ep, bucket)) {
		if ((error = buf_addch(out, '/')) < 0 ||
		    (error = aws_uri_escape(out, bucket, 0)) < 0)
			return error;
		if (path == NULL || *path == '\0')
			return 0;	/* a bucket operation: "/bucket" */
	}
	if (path == NULL || *path == '\0')
		path = "/";
	if (*path != '/' && (error = buf_addch(out, '/')) < 0)
		return error;
	return aws_uri_escape(out, path, 1);
}

int
aws_endpoint_is_loopback(const struct aws_endpoint *ep)
{
	if (strcmp(ep->host, "localhost") == 0 || strcmp(ep->host, "::1") == 0)
		return 1;
	if (strncmp(ep->host, "127.", 4) == 0) {
		for (const char *p = ep->host + 4; *p != '\0'; p++)
			if (!isdigit((unsigned char)*p) && *p != '.')
				return 0;
		return 1;
	}
	return 0;
}
