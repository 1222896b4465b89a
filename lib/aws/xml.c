/*
 * xml.c - the little XML the AWS Query and REST-XML protocols need.
 *
 * Parsing is libxml2 with the network off, no DTD loading, no entity
 * substitution, errors kept off stderr, and the input forced to UTF-8
 * (so a UTF-16 body cannot hide a DOCTYPE from the scan below).  A body
 * with a DOCTYPE or an entity declaration is refused before libxml2
 * sees it, and the parsed document is checked once more for any DTD:
 * AWS never sends one, so a body that has one is hostile (billion
 * laughs, external entities).  Accessors walk elements by local name,
 * ignoring namespaces; there is no XPath.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/SAX2.h>
#include <libxml/parserInternals.h>

#include "aws_int.h"
#include "err.h"
#include "log.h"
#include "mem.h"

struct aws_xml {
	xmlDocPtr	 doc;
	int		 secret;	/* wipe the text before freeing */
};

/*
 * libxml2's read functions take non-const nodes; a node handed out as
 * const is never changed through this.
 */
#define NODE(n)		((xmlNodePtr)(uintptr_t)(n))
#define XNODE(n)	((const struct aws_xml_node *)(n))

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void
xml_init_once(void)
{
	xmlInitParser();
}

static const char *const refused[] = { "<!DOCTYPE", "<!ENTITY", "<!doctype" };

#define XML_OPTIONS	(XML_PARSE_NONET | XML_PARSE_NOERROR | \
			 XML_PARSE_NOWARNING | XML_PARSE_NOCDATA)

/* The checks made on the bytes before libxml2 sees them. */
static int
xml_precheck(const char *data, size_t len)
{
	size_t i;

	if (data == NULL || len == 0) {
		err_set("empty XML document");
		return ERR_INVALID;
	}
	if (len > AWS_XML_MAX_INPUT || len > (size_t)INT32_MAX) {
		err_set("XML document larger than %zu bytes", AWS_XML_MAX_INPUT);
		return ERR_LIMIT;
	}
	if (memchr(data, '\0', len) != NULL) {
		err_set("XML document holds a NUL byte");
		return ERR_INVALID;
	}
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (memmem(data, len, refused[i], strlen(refused[i])) != NULL) {
			err_set("XML document has a DTD or entity declaration; refused");
			return ERR_INVALID;
		}
	pthread_once(&xml_once, xml_init_once);
	return 0;
}

int
aws_xml_parse(struct aws_xml **out, const char *data, size_t len)
{
	struct aws_xml *x = NULL;
	xmlDocPtr doc = NULL;
	int error;

	*out = NULL;
	if ((error = xml_precheck(data, len)) < 0)
		goto done;
	error = ERR_INVALID;
	doc = xmlReadMemory(data, (int)len, "aws.xml", "UTF-8", XML_OPTIONS);
	if (doc == NULL) {
		err_set("malformed XML document");
		goto done;
	}
	if (doc->intSubset != NULL || doc->extSubset != NULL ||
	    xmlDocGetRootElement(doc) == NULL) {
		err_set("XML document has a DTD or no root element; refused");
		goto done;
	}
	x = xcalloc(1, sizeof(*x));
	x->doc = doc;
	doc = NULL;
	*out = x;
	error = 0;
done:
	if (doc != NULL)
		xmlFreeDoc(doc);
	return error;
}

/* Deepest element aws_xml_stream() matches against its paths. */
#define XML_STREAM_DEPTH	16
/* The most handed to libxml2 at once (it copies what it is given). */
#define XML_PUSH_CHUNK		(64 * 1024)

/*
 * Does the element path stk[1..depth] (local names below the root) equal
 * one of paths?  Returns its index, -1 when it only leads towards one
 * (descend), -2 when it leads nowhere (skip).
 */
static long
stream_match(const char *const *paths, size_t npaths,
    const xmlChar *const *stk, int depth)
{
	long found = -2;
	size_t i;
	int d;

	for (i = 0; i < npaths; i++) {
		const char *p = paths[i];

		for (d = 1; d <= depth; d++) {
			size_t len = strcspn(p, "/");

			if (len != strlen((const char *)stk[d]) ||
			    memcmp(p, stk[d], len) != 0)
				break;
			p += len;
			if (*p == '/')
				p++;
			else if (d < depth)
				break;		/* the path ends above this element */
		}
		if (d <= depth)
			continue;
		if (*p == '\0')
			return (long)i;
		found = -1;
	}
	return found;
}

/*
 * The push reader behind aws_xml_stream(): libxml2's push parser with its
 * SAX2 tree builder wrapped, so that only the elements on (or leading
 * to) one of the paths are built, a matched element is handed to fn when
 * it closes and freed right after, and an element on no path is skipped
 * unbuilt.  The document never holds more than the matched element being
 * read and the chain of its open ancestors.
 */
enum push_kind { PUSH_DESCEND, PUSH_MATCH, PUSH_SKIP };

struct aws_xml_push {
	xmlParserCtxtPtr	 ctxt;		/* NULL until the first byte */
	const char *const	*paths;
	size_t			 npaths;
	aws_xml_stream_fn	*fn;
	void			*arg;
	const xmlChar		*stk[XML_STREAM_DEPTH + 1];
	int			 depth;		/* open elements */
	int			 match_at;	/* depth of the open match, or -1 */
	int			 skip_at;	/* depth of the open skip, or -1 */
	size_t			 which;		/* path index of the open match */
	int			 roots;
	size_t			 fed;		/* bytes fed so far */
	int			 error;		/* sticky: first failure */
	char			 msg[256];	/* its message */
};

/* Remember the first failure (its message is err_get()'s now) and stop. */
static void
push_fail(struct aws_xml_push *px, int error)
{
	if (px->error == 0) {
		px->error = error;
		snprintf(px->msg, sizeof(px->msg), "%s", err_get());
	}
	if (px->ctxt != NULL)
		xmlStopParser(px->ctxt);
}

static struct aws_xml_push *
push_of(void *ctx)
{
	return ((xmlParserCtxtPtr)ctx)->_private;
}

static void
push_refuse(struct aws_xml_push *px)
{
	err_set("XML document has a DTD or an entity; refused");
	push_fail(px, ERR_INVALID);
}

static void
push_internal_subset(void *ctx, const xmlChar *name, const xmlChar *eid,
    const xmlChar *sid)
{
	(void)name;
	(void)eid;
	(void)sid;
	push_refuse(push_of(ctx));
}

static void
push_entity_decl(void *ctx, const xmlChar *name, int type,
    const xmlChar *pid, const xmlChar *sid, xmlChar *content)
{
	(void)name;
	(void)type;
	(void)pid;
	(void)sid;
	(void)content;
	push_refuse(push_of(ctx));
}

static void
push_reference(void *ctx, const xmlChar *name)
{
	(void)name;
	push_refuse(push_of(ctx));
}

static void
push_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
    const xmlChar *uri, int nns, const xmlChar **ns, int nattrs,
    int ndefaulted, const xmlChar **attrs)
{
	struct aws_xml_push *px = push_of(ctx);
	int depth = px->depth++;
	long m;

	if (px->skip_at >= 0)
		return;
	if (px->match_at < 0 && depth > 0) {
		m = -2;
		if (depth <= XML_STREAM_DEPTH) {
			px->stk[depth] = localname;
			m = stream_match(px->paths, px->npaths, px->stk, depth);
		}
		if (m == -2) {
			px->skip_at = depth;	/* not built, nor what is inside */
			return;
		}
		if (m >= 0) {
			px->match_at = depth;
			px->which = (size_t)m;
		}
	} else if (depth == 0)
		px->roots++;
	xmlSAX2StartElementNs(ctx, localname, prefix, uri, nns, ns, nattrs,
	    ndefaulted, attrs);
}

static void
push_end(void *ctx, const xmlChar *localname, const xmlChar *prefix,
    const xmlChar *uri)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct aws_xml_push *px = push_of(ctx);
	xmlNodePtr node = ctxt->node;
	int depth = --px->depth, error;

	if (px->skip_at >= 0) {
		if (depth == px->skip_at)
			px->skip_at = -1;
		return;
	}
	xmlSAX2EndElementNs(ctx, localname, prefix, uri);
	if (depth == 0 || node == NULL || (px->match_at >= 0 &&
	    depth > px->match_at))
		return;		/* the root, or inside the match: kept */
	if (depth == px->match_at) {
		px->match_at = -1;
		if ((error = px->fn(px->arg, px->which, XNODE(node))) < 0)
			push_fail(px, error);
	}
	/* A match once read, or an ancestor whose matches are all gone. */
	xmlUnlinkNode(node);
	xmlFreeNode(node);
}

/* Text, comments, PIs: kept inside a match only (nothing else reads them). */
static void
push_characters(void *ctx, const xmlChar *ch, int len)
{
	struct aws_xml_push *px = push_of(ctx);

	if (px->match_at >= 0 && px->skip_at < 0)
		xmlSAX2Characters(ctx, ch, len);
}

static void
push_comment(void *ctx, const xmlChar *value)
{
	(void)ctx;
	(void)value;
}

static void
push_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
	(void)ctx;
	(void)target;
	(void)data;
}

/* A parser for the next document: SAX2 defaults, the wrappers above. */
static int
push_begin(struct aws_xml_push *px)
{
	xmlSAXHandler sax;

	pthread_once(&xml_once, xml_init_once);
	memset(&sax, 0, sizeof(sax));
	xmlSAXVersion(&sax, 2);
	sax.internalSubset = push_internal_subset;
	sax.externalSubset = push_internal_subset;
	sax.entityDecl = push_entity_decl;
	sax.reference = push_reference;
	sax.startElementNs = push_start;
	sax.endElementNs = push_end;
	sax.characters = push_characters;
	sax.ignorableWhitespace = push_characters;
	sax.cdataBlock = NULL;		/* CDATA comes as characters */
	sax.comment = push_comment;
	sax.processingInstruction = push_pi;
	if ((px->ctxt = xmlCreatePushParserCtxt(&sax, NULL, NULL, 0,
	    "aws.xml")) == NULL)
		fatalx("xml: out of memory creating a parser");
	px->ctxt->_private = px;
	(void)xmlCtxtUseOptions(px->ctxt, XML_OPTIONS | XML_PARSE_IGNORE_ENC);
	/* UTF-8 whatever the document says (a NUL is refused anyway). */
	if (xmlSwitchEncoding(px->ctxt, XML_CHAR_ENCODING_UTF8) < 0) {
		err_set("XML parser: cannot set UTF-8");
		push_fail(px, ERR_GENERIC);
		return ERR_GENERIC;
	}
	return 0;
}

void
aws_xml_push_new(struct aws_xml_push **out, const char *const *paths,
    size_t npaths, aws_xml_stream_fn *fn, void *arg)
{
	struct aws_xml_push *px = xcalloc(1, sizeof(*px));

	px->paths = paths;
	px->npaths = npaths;
	px->fn = fn;
	px->arg = arg;
	aws_xml_push_reset(px);
	*out = px;
}

void
aws_xml_push_reset(struct aws_xml_push *px)
{
	if (px->ctxt != NULL) {
		if (px->ctxt->myDoc != NULL)
			xmlFreeDoc(px->ctxt->myDoc);
		xmlFreeParserCtxt(px->ctxt);
		px->ctxt = NULL;
	}
	px->depth = 0;
	px->match_at = px->skip_at = -1;
	px->roots = 0;
	px->fed = 0;
	px->error = 0;
	px->msg[0] = '\0';
}

void
aws_xml_push_free(struct aws_xml_push *px)
{
	if (px == NULL)
		return;
	aws_xml_push_reset(px);
	free(px);
}

/* The sticky failure, its message set again. */
static int
push_failed(const struct aws_xml_push *px)
{
	err_set("%s", px->msg);
	return px->error;
}

int
aws_xml_push_feed(struct aws_xml_push *px, const char *data, size_t len)
{
	if (px->error < 0)
		return push_failed(px);
	if (len == 0)
		return 0;
	if (len > AWS_XML_MAX_INPUT - px->fed) {
		err_set("XML document larger than %zu bytes", AWS_XML_MAX_INPUT);
		push_fail(px, ERR_LIMIT);
		return px->error;
	}
	px->fed += len;
	if (memchr(data, '\0', len) != NULL) {
		err_set("XML document holds a NUL byte");
		push_fail(px, ERR_INVALID);
		return px->error;
	}
	if (px->ctxt == NULL && push_begin(px) < 0)
		return px->error;
	while (len > 0 && px->error == 0) {
		int n = len > XML_PUSH_CHUNK ? XML_PUSH_CHUNK : (int)len;

		if (xmlParseChunk(px->ctxt, data, n, 0) != 0 && px->error == 0) {
			err_set("malformed XML document");
			push_fail(px, ERR_INVALID);
		}
		data += n;
		len -= (size_t)n;
	}
	return px->error < 0 ? push_failed(px) : 0;
}

int
aws_xml_push_end(struct aws_xml_push *px)
{
	if (px->error == 0 && px->fed == 0) {
		err_set("empty XML document");
		push_fail(px, ERR_INVALID);
	}
	if (px->error < 0)
		return push_failed(px);
	if ((xmlParseChunk(px->ctxt, NULL, 0, 1) != 0 || !px->ctxt->wellFormed ||
	    px->roots != 1) && px->error == 0) {
		err_set("malformed XML document");
		push_fail(px, ERR_INVALID);
	}
	if (px->error == 0 && px->ctxt->myDoc != NULL &&
	    (px->ctxt->myDoc->intSubset != NULL ||
	    px->ctxt->myDoc->extSubset != NULL))
		push_refuse(px);
	return px->error < 0 ? push_failed(px) : 0;
}

int
aws_xml_stream(const char *data, size_t len, const char *const *paths,
    size_t npaths, aws_xml_stream_fn *fn, void *arg)
{
	struct aws_xml_push *px;
	int error;

	if ((error = xml_precheck(data, len)) < 0)
		return error;
	aws_xml_push_new(&px, paths, npaths, fn, arg);
	if ((error = aws_xml_push_feed(px, data, len)) == 0)
		error = aws_xml_push_end(px);
	aws_xml_push_free(px);
	return error;
}

/* Zero every text and attribute value under n. */
static void
xml_wipe(xmlNodePtr n)
{
	for (; n != NULL; n = n->next) {
		if (n->content != NULL)
			mem_wipe(n->content, strlen((char *)n->content));
		if (n->type == XML_ELEMENT_NODE) {
			for (xmlAttrPtr a = n->properties; a != NULL; a = a->next)
				xml_wipe(a->children);
			xml_wipe(n->children);
		}
	}
}

void
aws_xml_set_secret(struct aws_xml *x)
{
	x->secret = 1;
}

void
aws_xml_free(struct aws_xml *x)
{
	if (x == NULL)
		return;
	if (x->secret)
		xml_wipe(x->doc->children);
	xmlFreeDoc(x->doc);
	free(x);
}

const struct aws_xml_node *
aws_xml_root(const struct aws_xml *x)
{
	return XNODE(xmlDocGetRootElement(x->doc));
}

const char *
aws_xml_name(const struct aws_xml_node *n)
{
	return n != NULL ? (const char *)NODE(n)->name : NULL;
}

static const struct aws_xml_node *
element_from(xmlNodePtr p, const char *name)
{
	for (; p != NULL; p = p->next) {
		if (p->type != XML_ELEMENT_NODE)
			continue;
		if (name == NULL || strcmp((const char *)p->name, name) == 0)
			return XNODE(p);
	}
	return NULL;
}

const struct aws_xml_node *
aws_xml_child(const struct aws_xml_node *n, const char *name)
{
	if (n == NULL)
		return NULL;
	return element_from(NODE(n)->children, name);
}

const struct aws_xml_node *
aws_xml_next(const struct aws_xml_node *n, const char *name)
{
	if (n == NULL)
		return NULL;
	return element_from(NODE(n)->next, name);
}

const struct aws_xml_node *
aws_xml_path(const struct aws_xml_node *n, const char *path)
{
	char step[128];
	const char *p = path, *slash;
	size_t len;

	while (n != NULL && *p != '\0') {
		slash = strchr(p, '/');
		len = slash != NULL ? (size_t)(slash - p) : strlen(p);
		if (len == 0 || len >= sizeof(step))
			return NULL;
		memcpy(step, p, len);
		step[len] = '\0';
		n = aws_xml_child(n, step);
		p += len;
		if (*p == '/')
			p++;
	}
	return n;
}

char *
aws_xml_text(const struct aws_xml_node *n)
{
	xmlChar *c;
	char *s;

	if (n == NULL)
		return NULL;
	if ((c = xmlNodeGetContent(NODE(n))) == NULL)
		return xstrdup("");
	s = xstrdup((const char *)c);
	xmlFree(c);
	return s;
}

char *
aws_xml_secret_text(const struct aws_xml_node *n)
{
	xmlChar *c;
	char *s;

	if (n == NULL)
		return NULL;
	if ((c = xmlNodeGetContent(NODE(n))) == NULL)
		return xstrdup("");
	s = xstrdup((const char *)c);
	mem_wipe(c, strlen((char *)c));
	xmlFree(c);
	return s;
}

char *
aws_xml_child_text(const struct aws_xml_node *n, const char *name)
{
	return aws_xml_text(aws_xml_child(n, name));
}

int
aws_xml_child_copy(char *out, size_t outsz, const struct aws_xml_node *n,
    const char *name)
{
	char *s;
	size_t len;
	int error = 0;

	if (outsz > 0)
		out[0] = '\0';
	if ((s = aws_xml_child_text(n, name)) == NULL) {
		err_set("XML element <%s> missing", name);
		return ERR_NOTFOUND;
	}
	len = strlen(s);
	if (len >= outsz) {
		err_set("XML element <%s> too long (%zu bytes)", name, len);
		error = ERR_LIMIT;
	} else
		memcpy(out, s, len + 1);
	free(s);
	return error;
}
