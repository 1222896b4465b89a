/*
 * fuzz_xml.c - libFuzzer target for the XML reader of lib/aws (xml.c).
 *
 * The first two bytes steer, the rest is the document.  It is read
 * three ways: whole with aws_xml_parse() and walked as the EC2, S3 and
 * STS readers walk an answer; with the push reader fed in two parts
 * (split at a position taken from the steering bytes, the tail fed
 * whole or 7 bytes at a time, as an HTTP body arrives); and with the
 * same reader fed the whole document at once after a reset.  Promises
 * checked: a parsed document has a root with a name; a failure is
 * negative with a message and sticks; how the body is cut does not
 * change whether the push reader accepts it, nor, when it does, what
 * it hands to fn.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws_int.h"
#include "err.h"
#include "mem.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reader stops itself past this many elements (fn's own failure). */
#define FUZZ_MAX_MATCHES	64
/* Elements whose text is read in a walk (text is O(subtree)). */
#define FUZZ_MAX_TEXTS		64

/* What the EC2, S3, STS and error readers stream or look for. */
static const char *const paths[] = {
	"reservationSet/item/instancesSet/item",
	"nextToken",
	"Errors/Error",
	"Contents",
	"instanceStatusSet/item",
	"spotPriceHistorySet/item",
};

struct seen {
	size_t	matches;
	size_t	texts;
	size_t	sum;		/* of which + text lengths: a fingerprint */
};

static void
fail_unless(int ok)
{
	if (!ok)
		abort();
}

/* A failure is negative and has a message. */
static void
check_error(int error)
{
	const char *m;

	fail_unless(error <= 0);
	if (error < 0) {
		m = err_get();
		fail_unless(m != NULL && m[0] != '\0');
	}
}

/* What instance_parse(), tags_parse() and page_take() do with an item. */
static size_t
item_read(const struct aws_xml_node *it, struct seen *s)
{
	const struct aws_xml_node *set, *t;
	char buf[32];
	size_t sum = 0;
	char *v;
	int error;

	fail_unless(aws_xml_name(it) != NULL);
	if (s->texts++ >= FUZZ_MAX_TEXTS)
		return 0;
	v = aws_xml_text(it);
	fail_unless(v != NULL);
	sum += strlen(v);
	free(v);
	if ((v = aws_xml_child_text(it, "instanceId")) != NULL) {
		sum += strlen(v);
		free(v);
	}
	v = aws_xml_text(aws_xml_path(it, "instanceState/name"));
	sum += v != NULL ? strlen(v) : 0;
	free(v);
	error = aws_xml_child_copy(buf, sizeof(buf), it, "Code");
	fail_unless(error == 0 || error == ERR_NOTFOUND || error == ERR_LIMIT);
	fail_unless(memchr(buf, '\0', sizeof(buf)) != NULL);
	sum += strlen(buf);
	set = aws_xml_child(it, "tagSet");
	AWS_XML_FOREACH(t, set, "item") {
		char *k = aws_xml_child_text(t, "key");

		sum += k != NULL ? strlen(k) : 0;
		free(k);
	}
	if ((v = aws_xml_secret_text(aws_xml_child(it, "SecretAccessKey"))) != NULL) {
		sum += strlen(v);
		mem_free_secret(v);
	}
	return sum;
}

static int
stream_take(void *arg, size_t which, const struct aws_xml_node *node)
{
	struct seen *s = arg;

	fail_unless(which < sizeof(paths) / sizeof(paths[0]));
	fail_unless(node != NULL);
	if (++s->matches > FUZZ_MAX_MATCHES) {
		err_set("too many elements");
		return ERR_LIMIT;
	}
	s->sum += which + item_read(node, s);
	return 0;
}

/* Every element, depth first, as far as the text budget goes. */
static void
walk(const struct aws_xml_node *n, struct seen *s, int depth)
{
	const struct aws_xml_node *c;

	if (depth > 300)	/* libxml2 refuses deeper than 256 */
		abort();
	for (c = aws_xml_child(n, NULL); c != NULL; c = aws_xml_next(c, NULL)) {
		s->sum += item_read(c, s);
		walk(c, s, depth + 1);
	}
}

static void
whole(const char *doc, size_t len, int secret)
{
	struct aws_xml *x = NULL;
	const struct aws_xml_node *root;
	struct seen s;
	size_t i;
	int error;

	memset(&s, 0, sizeof(s));
	error = aws_xml_parse(&x, doc, len);
	check_error(error);
	if (error < 0) {
		fail_unless(x == NULL);
		return;
	}
	if (secret)
		aws_xml_set_secret(x);
	root = aws_xml_root(x);
	fail_unless(root != NULL && aws_xml_name(root) != NULL);
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		(void)aws_xml_path(root, paths[i]);
	s.sum += item_read(root, &s);
	walk(root, &s, 0);
	aws_xml_free(x);
}

/* Feed doc in two parts, the tail whole or step bytes at a time. */
static int
push_split(struct aws_xml_push *px, const char *doc, size_t len,
    size_t split, size_t step)
{
	size_t off, n;
	int error;

	if ((error = aws_xml_push_feed(px, doc, split)) < 0)
		return error;
	for (off = split; off < len; off += n) {
		n = len - off < step ? len - off : step;
		if ((error = aws_xml_push_feed(px, doc + off, n)) < 0)
			return error;
	}
	return aws_xml_push_end(px);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aws_xml_push *px;
	struct seen cut, one;
	const char *doc;
	size_t len, split, step;
	int e1, e2;

	if (size < 2)
		return 0;
	doc = (const char *)data + 2;
	len = size - 2;
	split = ((size_t)data[0] | (size_t)(data[1] & 0x7f) << 8) % (len + 1);
	step = (data[1] & 0x80) ? 7 : len;

	whole(doc, len, data[0] & 1);

	memset(&cut, 0, sizeof(cut));
	memset(&one, 0, sizeof(one));
	aws_xml_push_new(&px, paths, sizeof(paths) / sizeof(paths[0]),
	    stream_take, &cut);
	e1 = push_split(px, doc, len, split, step > 0 ? step : 1);
	check_error(e1);
	/* the failure sticks: feeding again answers it again */
	if (e1 < 0)
		fail_unless(aws_xml_push_feed(px, "<a/>", 4) == e1);
	aws_xml_push_free(px);

	aws_xml_push_new(&px, paths, sizeof(paths) / sizeof(paths[0]),
	    stream_take, &one);
	(void)aws_xml_push_feed(px, "<junk>", 6);
	aws_xml_push_reset(px);
	e2 = push_split(px, doc, len, len, len > 0 ? len : 1);
	check_error(e2);
	aws_xml_push_free(px);

	fail_unless((e1 == 0) == (e2 == 0));
	if (e1 == 0)
		fail_unless(cut.matches == one.matches && cut.sum == one.sum);
	return 0;
}
