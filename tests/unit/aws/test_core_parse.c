/*
 * test_core_parse.c - the pure parts of the AWS core: endpoint
 * resolution, query encoding, error bodies and guidance, hostile XML.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "aws_int.h"
#include "buf.h"
#include "err.h"
#include "fakeaws.h"
#include "mem.h"

/* ---- endpoints ---- */

struct ep_case {
	enum aws_service svc;
	const char	*region;
	const char	*svc_url;	/* AWS_ENDPOINT_URL_<SVC> */
	const char	*all_url;	/* AWS_ENDPOINT_URL */
	const char	*bucket;
	const char	*path;
	const char	*want_url;	/* scheme://host + path, NULL: error */
	int		 want_path_style;
};

static const struct ep_case ep_cases[] = {
	{ AWS_SERVICE_EC2, "us-east-1", NULL, NULL, NULL, "/",
	  "https://ec2.us-east-1.amazonaws.com/", 0 },
	{ AWS_SERVICE_STS, "eu-west-3", NULL, NULL, NULL, "/",
	  "https://sts.eu-west-3.amazonaws.com/", 0 },
	{ AWS_SERVICE_S3, "eu-central-1", NULL, NULL, "keys", "/env/id_ed25519",
	  "https://keys.s3.eu-central-1.amazonaws.com/env/id_ed25519", 0 },
	{ AWS_SERVICE_S3, "us-east-1", NULL, NULL, "keys", NULL,
	  "https://keys.s3.us-east-1.amazonaws.com/", 0 },
	/* a dotted bucket cannot be a TLS host label: path-style */
	{ AWS_SERVICE_S3, "us-east-1", NULL, NULL, "my.keys", "/k",
	  "https://s3.us-east-1.amazonaws.com/my.keys/k", 0 },
	{ AWS_SERVICE_EC2, "cn-north-1", NULL, NULL, NULL, "/",
	  "https://ec2.cn-north-1.amazonaws.com.cn/", 0 },
	/* AWS_ENDPOINT_URL applies to every service */
	{ AWS_SERVICE_EC2, "us-east-1", NULL, "http://127.0.0.1:5000", NULL, "/",
	  "http://127.0.0.1:5000/", 0 },
	/* the service-specific variable wins */
	{ AWS_SERVICE_STS, "us-east-1", "http://localhost:7000/",
	  "http://127.0.0.1:5000", NULL, "/", "http://localhost:7000/", 0 },
	/* custom endpoints are path-style for S3, keys not normalised */
	{ AWS_SERVICE_S3, "us-east-1", NULL, "http://127.0.0.1:5000", "keys",
	  "/a b/../c//d", "http://127.0.0.1:5000/keys/a%20b/../c//d", 1 },
	{ AWS_SERVICE_S3, "us-east-1", "https://minio.example.com/base/", NULL,
	  "keys", NULL, "https://minio.example.com/base/keys", 1 },
	{ AWS_SERVICE_EC2, "us-east-1", NULL, "http://[::1]:8080", NULL, "/",
	  "http://[::1]:8080/", 0 },
	/* an empty override counts as unset */
	{ AWS_SERVICE_EC2, "us-west-2", "", "", NULL, "/",
	  "https://ec2.us-west-2.amazonaws.com/", 0 },
	{ AWS_SERVICE_EC2, "https://x", NULL, NULL, NULL, "/", NULL, 0 },
	{ AWS_SERVICE_EC2, NULL, NULL, NULL, NULL, "/", NULL, 0 },
	{ AWS_SERVICE_EC2, "us-east-1", NULL, "ftp://host", NULL, "/", NULL, 0 },
	{ AWS_SERVICE_EC2, "us-east-1", NULL, "http://user@host", NULL, "/", NULL, 0 },
	{ AWS_SERVICE_EC2, "us-east-1", NULL, "http://host:99999", NULL, "/", NULL, 0 },
	{ AWS_SERVICE_EC2, "us-east-1", NULL, "http://host/?x=1", NULL, "/", NULL, 0 },
};

static void
test_aws_core__endpoint_table(void **state)
{
	const struct ep_case *tc;
	struct aws_endpoint ep;
	struct buf b;
	char host[300];
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(ep_cases) / sizeof(ep_cases[0]); i++) {
		tc = &ep_cases[i];
		rc = aws_endpoint_resolve(&ep, tc->svc, tc->region, tc->svc_url,
		    tc->all_url);
		if (tc->want_url == NULL) {
			if (rc != ERR_INVALID)
				fail_msg("case %zu: want ERR_INVALID, got %d", i, rc);
			continue;
		}
		if (rc != 0)
			fail_msg("case %zu: %s", i, err_get());
		assert_int_equal(ep.path_style, tc->want_path_style);
		assert_int_equal(aws_endpoint_host(host, sizeof(host), &ep,
		    tc->bucket), 0);
		buf_init(&b, 4096);
		assert_int_equal(buf_printf(&b, "%s://%s", ep.scheme, host), 0);
		assert_int_equal(aws_endpoint_path(&b, &ep, tc->bucket, tc->path), 0);
		if (strcmp(buf_cstr(&b), tc->want_url) != 0)
			fail_msg("case %zu: got %s want %s", i, buf_cstr(&b),
			    tc->want_url);
		buf_dispose(&b);
	}
}

static void
test_aws_core__endpoint_loopback(void **state)
{
	struct aws_endpoint ep;
	struct buf b;

	(void)state;
	assert_int_equal(aws_endpoint_resolve(&ep, AWS_SERVICE_EC2, "us-east-1",
	    "http://127.0.0.1:5000", NULL), 0);
	assert_true(aws_endpoint_is_loopback(&ep));
	assert_int_equal(aws_endpoint_resolve(&ep, AWS_SERVICE_EC2, "us-east-1",
	    "http://localhost", NULL), 0);
	assert_true(aws_endpoint_is_loopback(&ep));
	assert_int_equal(aws_endpoint_resolve(&ep, AWS_SERVICE_EC2, "us-east-1",
	    "http://[::1]:1", NULL), 0);
	assert_true(aws_endpoint_is_loopback(&ep));
	assert_int_equal(aws_endpoint_resolve(&ep, AWS_SERVICE_EC2, "us-east-1",
	    "http://127.0.0.1.evil.com", NULL), 0);
	assert_false(aws_endpoint_is_loopback(&ep));
	assert_int_equal(aws_endpoint_resolve(&ep, AWS_SERVICE_EC2, "us-east-1",
	    "http://localhost.evil.com:80", NULL), 0);
	assert_false(aws_endpoint_is_loopback(&ep));
	assert_int_equal(aws_endpoint_resolve(&ep, AWS_SERVICE_EC2, "us-east-1",
	    NULL, NULL), 0);
	assert_false(aws_endpoint_is_loopback(&ep));
	/* default ports are not repeated in the base URL */
	assert_int_equal(aws_endpoint_resolve(&ep, AWS_SERVICE_EC2, "us-east-1",
	    "https://h.example:443/p", NULL), 0);
	buf_init(&b, 256);
	assert_int_equal(aws_endpoint_base(&b, &ep), 0);
	assert_string_equal(buf_cstr(&b), "https://h.example/p");
	buf_dispose(&b);
	assert_string_equal(aws_endpoint_env_name(AWS_SERVICE_S3),
	    "AWS_ENDPOINT_URL_S3");
}

/* ---- query encoding ---- */

static void
test_aws_core__query_encode(void **state)
{
	struct aws_query *q;
	struct buf b;

	(void)state;
	q = aws_query_new("DescribeInstances", "2016-11-15");
	aws_query_addf(q, "tag:envctl:cluster", "Filter.%d.Name", 1);
	aws_query_addf(q, "a b&c=d/é~", "Filter.%d.Value.%d", 1, 1);
	aws_query_add(q, "MaxResults", "1000");
	aws_query_add(q, "Empty", "");
	buf_init(&b, 4096);
	assert_int_equal(aws_query_encode(&b, q), 0);
	assert_string_equal(buf_cstr(&b),
	    "Action=DescribeInstances&Version=2016-11-15"
	    "&Filter.1.Name=tag%3Aenvctl%3Acluster"
	    "&Filter.1.Value.1=a%20b%26c%3Dd%2F%C3%A9~"
	    "&MaxResults=1000&Empty=");
	assert_string_equal(aws_query_get(q, "Filter.1.Value.1"), "a b&c=d/é~");
	assert_null(aws_query_get(q, "Nope"));
	buf_dispose(&b);
	aws_query_free(q);

	buf_init(&b, 64);
	assert_int_equal(aws_uri_escape(&b, "/a b/c+d", 1), 0);
	assert_string_equal(buf_cstr(&b), "/a%20b/c%2Bd");
	buf_dispose(&b);
}

/* ---- error bodies ---- */

static const char ec2_body[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Response><Errors><Error><Code>InstanceLimitExceeded</Code>"
    "<Message>You have requested more instances (21) than your current "
    "instance limit of 20 allows.</Message></Error></Errors>"
    "<RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>";

static const char sts_body[] =
    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    "<Error><Type>Sender</Type><Code>ExpiredToken</Code>"
    "<Message>The security token included in the request is expired</Message>"
    "</Error><RequestId>4c1d-sts</RequestId></ErrorResponse>";

static const char s3_body[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature "
    "we calculated does not match</Message><AWSAccessKeyId>AKIDEXAMPLE"
    "</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256 secret-stuff"
    "</StringToSign><RequestId>S3REQ1</RequestId></Error>";

static const char json_body[] =
    "{\"__type\":\"com.amazonaws.sts#ThrottlingException\","
    "\"message\":\"Rate exceeded\"}";

static void
test_aws_core__error_bodies(void **state)
{
	struct aws_error e;
	struct aws_headers h;
	char line[1024];

	(void)state;
	memset(&e, 0, sizeof(e));
	e.service = AWS_SERVICE_EC2;
	snprintf(e.action, sizeof(e.action), "RunInstances");
	e.attempts = 1;
	aws_error_parse(&e, 400, NULL, ec2_body, strlen(ec2_body));
	assert_string_equal(e.code, "InstanceLimitExceeded");
	assert_string_equal(e.request_id, "ea966190-f9aa-478e-9ede-example");
	assert_true(strstr(e.message, "current instance limit of 20") != NULL);
	assert_int_equal(e.err, ERR_LIMIT);
	assert_non_null(e.guidance);
	assert_true(strstr(e.guidance, "quota increase") != NULL);
	aws_error_format(line, sizeof(line), &e);
	assert_true(strncmp(line, "ec2 RunInstances: InstanceLimitExceeded: You "
	    "have requested", 45) == 0);
	assert_true(strstr(line, "(HTTP 400, request id ea966190-f9aa-478e-9ede-"
	    "example, 1 attempt); request a quota increase") != NULL);

	memset(&e, 0, sizeof(e));
	aws_error_parse(&e, 400, NULL, sts_body, strlen(sts_body));
	assert_string_equal(e.code, "ExpiredToken");
	assert_string_equal(e.request_id, "4c1d-sts");
	assert_true(strstr(e.guidance, "clock") != NULL);
	assert_int_equal(e.err, ERR_INVALID);

	/* S3: only code, message and request id are kept */
	memset(&e, 0, sizeof(e));
	aws_error_parse(&e, 403, NULL, s3_body, strlen(s3_body));
	assert_string_equal(e.code, "SignatureDoesNotMatch");
	assert_string_equal(e.request_id, "S3REQ1");
	assert_null(strstr(e.message, "secret-stuff"));
	aws_error_format(line, sizeof(line), &e);
	assert_null(strstr(line, "secret-stuff"));
	assert_null(strstr(line, "AKIDEXAMPLE"));

	/* JSON with a request id header */
	memset(&e, 0, sizeof(e));
	aws_headers_init(&h);
	aws_headers_add(&h, "x-amzn-RequestId", "json-req-7");
	aws_error_parse(&e, 400, &h, json_body, strlen(json_body));
	assert_string_equal(e.code, "ThrottlingException");
	assert_string_equal(e.message, "Rate exceeded");
	assert_string_equal(e.request_id, "json-req-7");
	assert_int_equal(e.err, ERR_THROTTLED);
	aws_headers_dispose(&h);

	/* x-amzn-ErrorType header, empty body */
	memset(&e, 0, sizeof(e));
	aws_headers_init(&h);
	aws_headers_add(&h, "X-Amzn-ErrorType",
	    "AccessDeniedException:http://internal.amazon.com/");
	aws_error_parse(&e, 403, &h, NULL, 0);
	assert_string_equal(e.code, "AccessDeniedException");
	aws_headers_dispose(&h);

	/* no body: the code comes from the status (S3 HEAD) */
	memset(&e, 0, sizeof(e));
	aws_error_parse(&e, 404, NULL, NULL, 0);
	assert_string_equal(e.code, "NotFound");
	assert_int_equal(e.err, ERR_NOTFOUND);
	memset(&e, 0, sizeof(e));
	aws_error_parse(&e, 503, NULL, "<html>oops", 10);
	assert_string_equal(e.code, "ServiceUnavailable");
	assert_int_equal(e.err, ERR_UNAVAILABLE);

	/* control characters in a message are escaped */
	memset(&e, 0, sizeof(e));
	{
		static const char b[] = "<Error><Code>X\ny</Code>"
		    "<Message>a&#10;b\tc&#13;</Message></Error>";

		aws_error_parse(&e, 400, NULL, b, strlen(b));
	}
	assert_string_equal(e.code, "Xy");
	assert_null(strchr(e.message, '\n'));
	assert_null(strchr(e.message, '\r'));
	assert_null(strchr(e.message, '\t'));
	assert_true(strncmp(e.message, "a", 1) == 0);
}

static void
test_aws_core__error_mapping(void **state)
{
	static const struct { const char *code; long status; int err; } t[] = {
		{ "InvalidInstanceID.NotFound", 400, ERR_NOTFOUND },
		{ "NoSuchKey", 404, ERR_NOTFOUND },
		{ "InvalidPermission.Duplicate", 400, ERR_EXISTS },
		{ "InvalidKeyPair.Duplicate", 400, ERR_EXISTS },
		{ "BucketAlreadyOwnedByYou", 409, ERR_EXISTS },
		{ "IdempotentParameterMismatch", 400, ERR_CONFLICT },
		{ "IncorrectInstanceState", 400, ERR_CONFLICT },
		{ "RequestLimitExceeded", 503, ERR_THROTTLED },
		{ "SlowDown", 503, ERR_THROTTLED },
		{ "InternalError", 500, ERR_UNAVAILABLE },
		{ "InsufficientInstanceCapacity", 500, ERR_UNAVAILABLE },
		{ "RequestTimeout", 400, ERR_TIMEOUT },
		{ "UnauthorizedOperation", 403, ERR_INVALID },
		{ "InvalidParameterValue", 400, ERR_INVALID },
	};
	static const char *const guided[] = {
		"InstanceLimitExceeded", "VcpuLimitExceeded",
		"InsufficientInstanceCapacity", "InvalidAMIID.NotFound",
		"InvalidAMIID.Malformed", "UnauthorizedOperation", "AccessDenied",
		"AuthFailure", "InvalidKeyPair.NotFound", "InvalidGroup.NotFound",
		"SpotMaxPriceTooLow", "IdempotentParameterMismatch", "ExpiredToken",
		"ExpiredTokenException", "RequestExpired", "InvalidClientTokenId",
		"SignatureDoesNotMatch", "OptInRequired", "InvalidParameterValue",
		"NoSuchBucket",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (aws_error_code_to_err(t[i].code, t[i].status) != t[i].err)
			fail_msg("%s: got %d want %d", t[i].code,
			    aws_error_code_to_err(t[i].code, t[i].status), t[i].err);
	for (i = 0; i < sizeof(guided) / sizeof(guided[0]); i++)
		if (aws_error_guidance(guided[i]) == NULL)
			fail_msg("no guidance for %s", guided[i]);
	assert_null(aws_error_guidance("InvalidInstanceID.NotFound"));
	assert_true(strstr(aws_error_guidance("UnauthorizedOperation"),
	    "docs/iam-policy.json") != NULL);
	assert_true(strstr(aws_error_guidance("InsufficientInstanceCapacity"),
	    "subnet") != NULL);
	assert_true(strstr(aws_error_guidance("InvalidAMIID.NotFound"),
	    "region") != NULL);
}

static void
test_aws_core__error_redact(void **state)
{
	struct aws_error e;

	(void)state;
	memset(&e, 0, sizeof(e));
	snprintf(e.message, sizeof(e.message), "bad key CANARYSECRET and "
	    "CANARYSECRET again");
	aws_error_redact(&e, "CANARYSECRET");
	assert_string_equal(e.message, "bad key [redacted] and [redacted] again");
	aws_error_redact(&e, NULL);
	aws_error_redact(&e, "");
	assert_string_equal(e.message, "bad key [redacted] and [redacted] again");
}

/* ---- XML ---- */

static void
test_aws_core__xml_accessors(void **state)
{
	static const char doc[] =
	    "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
	    "<reservationSet><item><instancesSet>"
	    "<item><instanceId>i-1</instanceId><x:tag xmlns:x=\"urn:x\">a</x:tag></item>"
	    "<item><instanceId>i-2</instanceId></item>"
	    "<other/>"
	    "<item><instanceId>i-3 &amp; &lt;more&gt;</instanceId></item>"
	    "</instancesSet></item></reservationSet></DescribeInstancesResponse>";
	struct aws_xml *x;
	const struct aws_xml_node *set, *it;
	char id[16], *s;
	int n = 0;

	(void)state;
	assert_int_equal(aws_xml_parse(&x, doc, strlen(doc)), 0);
	assert_string_equal(aws_xml_name(aws_xml_root(x)),
	    "DescribeInstancesResponse");
	set = aws_xml_path(aws_xml_root(x), "reservationSet/item/instancesSet");
	assert_non_null(set);
	AWS_XML_FOREACH(it, set, "item")
		n++;
	assert_int_equal(n, 3);
	it = aws_xml_child(set, "item");
	assert_int_equal(aws_xml_child_copy(id, sizeof(id), it, "instanceId"), 0);
	assert_string_equal(id, "i-1");
	s = aws_xml_child_text(it, "tag");	/* namespace prefix ignored */
	assert_string_equal(s, "a");
	free(s);
	assert_int_equal(aws_xml_child_copy(id, sizeof(id), it, "nope"),
	    ERR_NOTFOUND);
	it = aws_xml_next(aws_xml_next(it, "item"), "item");
	s = aws_xml_child_text(it, "instanceId");
	assert_string_equal(s, "i-3 & <more>");
	assert_int_equal(aws_xml_child_copy(id, 4, it, "instanceId"), ERR_LIMIT);
	free(s);
	assert_null(aws_xml_path(aws_xml_root(x), "reservationSet/nope/x"));
	assert_null(aws_xml_child(NULL, "x"));
	assert_null(aws_xml_text(NULL));
	aws_xml_free(x);
	aws_xml_free(NULL);
}

static void
test_aws_core__xml_hostile(void **state)
{
	static const char lol[] =
	    "<?xml version=\"1.0\"?>\n"
	    "<!DOCTYPE lolz [\n"
	    " <!ENTITY lol \"lol\">\n"
	    " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
	    " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
	    " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
	    " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
	    " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
	    " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
	    " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
	    " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
	    " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
	    "]>\n<Error><Code>&lol9;</Code></Error>";
	static const char xxe[] =
	    "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM "
	    "\"file:///etc/passwd\">]><Error><Code>&x;</Code></Error>";
	static const char undeclared[] = "<Error><Code>&x;</Code></Error>";
	static const char utf16[] = "\xff\xfe<\0!\0D\0O\0C\0";
	struct aws_xml *x = NULL;
	struct aws_error e;
	char *big;

	(void)state;
	assert_int_equal(aws_xml_parse(&x, lol, strlen(lol)), ERR_INVALID);
	assert_null(x);
	assert_true(strstr(err_get(), "DTD") != NULL);
	assert_int_equal(aws_xml_parse(&x, xxe, strlen(xxe)), ERR_INVALID);
	assert_int_equal(aws_xml_parse(&x, undeclared, strlen(undeclared)),
	    ERR_INVALID);
	assert_int_equal(aws_xml_parse(&x, utf16, sizeof(utf16) - 1), ERR_INVALID);
	assert_int_equal(aws_xml_parse(&x, "<a>", 3), ERR_INVALID);
	assert_int_equal(aws_xml_parse(&x, "", 0), ERR_INVALID);
	assert_null(x);

	/* an error body that is a bomb yields no code from it, not expansion */
	memset(&e, 0, sizeof(e));
	aws_error_parse(&e, 400, NULL, lol, strlen(lol));
	assert_string_equal(e.code, "BadRequest");
	assert_null(strstr(e.message, "lol"));

	/* size cap */
	big = xmalloc(AWS_XML_MAX_INPUT + 2);
	memset(big, ' ', AWS_XML_MAX_INPUT + 1);
	memcpy(big, "<a>", 3);
	big[AWS_XML_MAX_INPUT + 1] = '\0';
	assert_int_equal(aws_xml_parse(&x, big, AWS_XML_MAX_INPUT + 1), ERR_LIMIT);
	free(big);
}

struct stream_seen {
	char	 got[512];	/* "which:text;" per call */
	int	 calls;
	int	 stop_at;	/* return ERR_LIMIT on this call (0: never) */
};

static int
stream_take(void *arg, size_t which, const struct aws_xml_node *n)
{
	struct stream_seen *s = arg;
	char *t = aws_xml_child_text(n, "id");
	size_t len = strlen(s->got);

	if (t == NULL)
		t = aws_xml_text(n);
	snprintf(s->got + len, sizeof(s->got) - len, "%zu:%s;", which, t);
	free(t);
	return ++s->calls == s->stop_at ? ERR_LIMIT : 0;
}

/* aws_xml_stream: the elements on the paths, in order, one at a time. */
static void
test_aws_core__xml_stream(void **state)
{
	static const char doc[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<R xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
	    "<requestId>r-1</requestId>"
	    "<set><item><inner><item><id>a</id><x><item>no</item></x></item>"
	    "<item><id>b&amp;c</id></item></inner></item>"
	    "<item><other><item><id>skipped</id></item></other></item>"
	    "<item><inner/></item>"
	    "<item><inner><item><id>d</id></item></inner></item></set>"
	    "<inner><item><id>not under set</id></item></inner>"
	    "<nextToken>tok</nextToken></R>";
	static const char *const paths[] = { "set/item/inner/item", "nextToken" };
	static const char lol[] =
	    "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaa\">"
	    "<!ENTITY b \"&a;&a;&a;&a;\">]><R><nextToken>&b;</nextToken></R>";
	static const char undeclared[] = "<R><nextToken>&x;</nextToken></R>";
	static const char truncated[] =
	    "<R><set><item><inner><item><id>a</id></item><item><id>b</id>";
	static const char two_roots[] = "<R></R><R></R>";
	struct stream_seen s;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(aws_xml_stream(doc, strlen(doc), paths, 2, stream_take,
	    &s), 0);
	assert_string_equal(s.got, "0:a;0:b&c;0:d;1:tok;");

	/* the callback's error stops the walk */
	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	assert_int_equal(aws_xml_stream(doc, strlen(doc), paths, 2, stream_take,
	    &s), ERR_LIMIT);
	assert_string_equal(s.got, "0:a;0:b&c;");

	/* hostile and broken input: refused, before or while reading */
	memset(&s, 0, sizeof(s));
	assert_int_equal(aws_xml_stream(lol, strlen(lol), paths, 2, stream_take,
	    &s), ERR_INVALID);
	assert_int_equal(aws_xml_stream(undeclared, strlen(undeclared), paths, 2,
	    stream_take, &s), ERR_INVALID);
	assert_int_equal(s.calls, 0);
	assert_int_equal(aws_xml_stream(truncated, strlen(truncated), paths, 2,
	    stream_take, &s), ERR_INVALID);
	assert_true(strstr(err_get(), "malformed") != NULL);
	assert_int_equal(aws_xml_stream(two_roots, strlen(two_roots), paths, 2,
	    stream_take, &s), ERR_INVALID);
	assert_int_equal(aws_xml_stream("", 0, paths, 2, stream_take, &s),
	    ERR_INVALID);
	assert_int_equal(aws_xml_stream("<a>\0</a>", 8, paths, 2, stream_take, &s),
	    ERR_INVALID);
}

/* ---- aws_xml_push: the same reading, fed as the bytes arrive ---- */

/* Everything an element holds, written down: which, name, each child. */
static int
push_record(void *arg, size_t which, const struct aws_xml_node *n)
{
	struct buf *b = arg;
	const struct aws_xml_node *ch;
	char *t;

	assert_int_equal(buf_printf(b, "[%zu %s", which, aws_xml_name(n)), 0);
	for (ch = aws_xml_child(n, NULL); ch != NULL; ch = aws_xml_next(ch, NULL)) {
		t = aws_xml_text(ch);
		assert_int_equal(buf_printf(b, " %s=%s", aws_xml_name(ch), t), 0);
		free(t);
	}
	return buf_addstr(b, "]\n");
}

/* Feed data to px in pieces: step bytes each, or random sizes (step 0). */
static int
push_pieces(struct aws_xml_push *px, const char *data, size_t len,
    size_t step, unsigned int *seed)
{
	size_t off = 0, n;
	int error = 0;

	while (off < len && error == 0) {
		n = step > 0 ? step : 1 + (size_t)rand_r(seed) % 4096;
		if (n > len - off)
			n = len - off;
		error = aws_xml_push_feed(px, data + off, n);
		off += n;
	}
	return error < 0 ? error : aws_xml_push_end(px);
}

/*
 * A DescribeInstances page of many reservations, made from the saved
 * moto answer by repeating its reservations (ids numbered).
 */
static char *
big_page(size_t *len, int copies)
{
	size_t n;
	char *one = fakeaws_fixture("describe_instances.xml", &n);
	const char *a = strstr(one, "<reservationSet>");
	const char *z = strstr(one, "</reservationSet>");
	struct buf b;
	int i;

	assert_non_null(a);
	assert_non_null(z);
	a += strlen("<reservationSet>");
	buf_init(&b, AWS_XML_MAX_INPUT);
	assert_int_equal(buf_add(&b, one, (size_t)(a - one)), 0);
	for (i = 0; i < copies; i++) {
		assert_int_equal(buf_add(&b, a, (size_t)(z - a)), 0);
		assert_int_equal(buf_printf(&b, "<!-- copy %d -->", i), 0);
	}
	assert_int_equal(buf_addstr(&b, z), 0);
	free(one);
	return buf_detach(&b, len);
}

/*
 * The same record made from the whole tree (aws_xml_parse, another code
 * path): the root's children in order, instances under each reservation.
 */
static void
dom_record(struct buf *b, const char *data, size_t len)
{
	const struct aws_xml_node *ch, *res, *it;
	struct aws_xml *x;

	assert_int_equal(aws_xml_parse(&x, data, len), 0);
	for (ch = aws_xml_child(aws_xml_root(x), NULL); ch != NULL;
	    ch = aws_xml_next(ch, NULL)) {
		if (strcmp(aws_xml_name(ch), "requestId") == 0)
			assert_int_equal(push_record(b, 2, ch), 0);
		else if (strcmp(aws_xml_name(ch), "nextToken") == 0)
			assert_int_equal(push_record(b, 1, ch), 0);
		else if (strcmp(aws_xml_name(ch), "reservationSet") == 0)
			AWS_XML_FOREACH(res, ch, "item")
				AWS_XML_FOREACH(it, aws_xml_child(res,
				    "instancesSet"), "item")
					assert_int_equal(push_record(b, 0, it), 0);
	}
	aws_xml_free(x);
}

/* Byte by byte and in random pieces: the same elements as in one piece. */
static void
test_aws_core__xml_push_pieces(void **state)
{
	static const char *const paths[] = {
		"reservationSet/item/instancesSet/item", "nextToken",
		"requestId",
	};
	static const char *const fixtures[] = {
		"describe_instances.xml", "describe_instances_page1.xml",
		"describe_instances_page2.xml", "describe_instances_page.xml",
		NULL,
	};
	struct aws_xml_push *px;
	struct buf want, got;
	unsigned int seed = 7;
	size_t len, f;
	char *data;
	int round;

	(void)state;
	buf_init(&want, AWS_XML_MAX_INPUT);
	buf_init(&got, AWS_XML_MAX_INPUT);
	for (f = 0; f < sizeof(fixtures) / sizeof(fixtures[0]); f++) {
		data = fixtures[f] != NULL ? fakeaws_fixture(fixtures[f], &len) :
		    big_page(&len, 300);
		buf_reset(&want);
		dom_record(&want, data, len);
		buf_reset(&got);
		assert_int_equal(aws_xml_stream(data, len, paths, 3, push_record,
		    &got), 0);
		assert_string_equal(buf_cstr(&got), buf_cstr(&want));
		assert_non_null(strstr(buf_cstr(&want), "[0 item "));
		assert_non_null(strstr(buf_cstr(&want), " instanceId=i-"));
		aws_xml_push_new(&px, paths, 3, push_record, &got);
		for (round = 0; round < 4; round++) {
			buf_reset(&got);
			aws_xml_push_reset(px);
			assert_int_equal(push_pieces(px, data, len,
			    round == 0 ? 1 : round == 1 ? 7 : 0, &seed), 0);
			assert_string_equal(buf_cstr(&got), buf_cstr(&want));
		}
		aws_xml_push_free(px);
		free(data);
	}
	buf_dispose(&want);
	buf_dispose(&got);
}

/* Count the elements on the paths. */
static int
push_count(void *arg, size_t which, const struct aws_xml_node *n)
{
	(void)which;
	(void)n;
	(*(int *)arg)++;
	return 0;
}

/* Hostile and broken input, fed one byte at a time: refused, sticky. */
static void
test_aws_core__xml_push_hostile(void **state)
{
	static const char *const paths[] = { "set/item", "nextToken" };
	static const struct {
		const char	*doc;
		int		 want;
		const char	*msg;
	} cases[] = {
		{ "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaa\">"
		  "<!ENTITY b \"&a;&a;&a;&a;\">]><R><nextToken>&b;</nextToken></R>",
		  ERR_INVALID, "DTD" },
		{ "<!DOCTYPE R SYSTEM \"file:///etc/passwd\"><R/>", ERR_INVALID,
		  "DTD" },
		{ "<R><nextToken>&x;</nextToken></R>", ERR_INVALID, "malformed" },
		{ "<R><set><item>a</item><item>b", ERR_INVALID, "malformed" },
		{ "<R></R><R></R>", ERR_INVALID, "malformed" },
		{ "<R><set><item>a</set></R>", ERR_INVALID, "malformed" },
		{ "", ERR_INVALID, "empty" },
	};
	struct aws_xml_push *px;
	size_t i, k;
	int calls, error;

	(void)state;
	aws_xml_push_new(&px, paths, 2, push_count, &calls);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		aws_xml_push_reset(px);
		calls = 0;
		error = 0;
		for (k = 0; cases[i].doc[k] != '\0' && error == 0; k++)
			error = aws_xml_push_feed(px, cases[i].doc + k, 1);
		if (error == 0)
			error = aws_xml_push_end(px);
		assert_int_equal(error, cases[i].want);
		assert_non_null(strstr(err_get(), cases[i].msg));
		/* the failure sticks, message and all */
		err_set("something else");
		assert_int_equal(aws_xml_push_feed(px, "<R/>", 4), cases[i].want);
		assert_non_null(strstr(err_get(), cases[i].msg));
		assert_int_equal(aws_xml_push_end(px), cases[i].want);
		if (i < 3)
			assert_int_equal(calls, 0);	/* nothing expanded */
	}

	/* a NUL byte (a UTF-16 body has them) */
	aws_xml_push_reset(px);
	assert_int_equal(aws_xml_push_feed(px, "<R>", 3), 0);
	assert_int_equal(aws_xml_push_feed(px, "\0<", 2), ERR_INVALID);
	assert_non_null(strstr(err_get(), "NUL"));

	/* reset after a failure: a good document reads again */
	aws_xml_push_reset(px);
	calls = 0;
	assert_int_equal(aws_xml_push_feed(px, "<R><set><item>a</item>", 22), 0);
	assert_int_equal(aws_xml_push_feed(px, "<item/></set></R>", 17), 0);
	assert_int_equal(aws_xml_push_end(px), 0);
	assert_int_equal(calls, 2);
	aws_xml_push_free(px);
	aws_xml_push_free(NULL);
}

/* The callback's error stops the reading and is what feed returns. */
static int
push_stop_second(void *arg, size_t which, const struct aws_xml_node *n)
{
	(void)which;
	(void)n;
	if (++*(int *)arg == 2) {
		err_set("callback says stop");
		return ERR_CONFLICT;
	}
	return 0;
}

static void
test_aws_core__xml_push_callback_stops(void **state)
{
	static const char *const paths[] = { "set/item" };
	static const char doc[] =
	    "<R><set><item>1</item><item>2</item><item>3</item></set></R>";
	struct aws_xml_push *px;
	int calls = 0;

	(void)state;
	aws_xml_push_new(&px, paths, 1, push_stop_second, &calls);
	assert_int_equal(aws_xml_push_feed(px, doc, sizeof(doc) - 1),
	    ERR_CONFLICT);
	assert_string_equal(err_get(), "callback says stop");
	assert_int_equal(calls, 2);
	assert_int_equal(aws_xml_push_end(px), ERR_CONFLICT);
	aws_xml_push_free(px);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aws_core__endpoint_table),
		cmocka_unit_test(test_aws_core__endpoint_loopback),
		cmocka_unit_test(test_aws_core__query_encode),
		cmocka_unit_test(test_aws_core__error_bodies),
		cmocka_unit_test(test_aws_core__error_mapping),
		cmocka_unit_test(test_aws_core__error_redact),
		cmocka_unit_test(test_aws_core__xml_accessors),
		cmocka_unit_test(test_aws_core__xml_hostile),
		cmocka_unit_test(test_aws_core__xml_stream),
		cmocka_unit_test(test_aws_core__xml_push_pieces),
		cmocka_unit_test(test_aws_core__xml_push_hostile),
		cmocka_unit_test(test_aws_core__xml_push_callback_stops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
