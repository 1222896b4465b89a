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
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlreader.h>

#include "aws_int.h"
#include "err.h"
#include "mem.h"

struct aws_xml {
	xmlDocPtr	 doc;
	int		 secret;	/* wipe the text before freeing */
};

#define NODE(n)		((xmlNodePtr)(n))
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

int
aws_xml_stream(const char *data, size_t len, const char *const *paths,
    size_t npaths, aws_xml_stream_fn *fn, void *arg)
{
	const xmlChar *stk[XML_STREAM_DEPTH + 1];
	xmlTextReaderPtr r = NULL;
	xmlNodePtr node;
	long m;
	int error, rv, depth, type, roots = 0;

	if ((error = xml_precheck(data, len)) < 0)
		return error;
	error = ERR_INVALID;
	if ((r = xmlReaderForMemory(data, (int)len, "aws.xml", "UTF-8",
	    XML_OPTIONS)) == NULL) {
		err_set("malformed XML document");
		goto done;
	}
	rv = xmlTextReaderRead(r);
	while (rv == 1) {
		type = xmlTextReaderNodeType(r);
		if (type == XML_READER_TYPE_DOCUMENT_TYPE ||
		    type == XML_READER_TYPE_ENTITY_REFERENCE) {
			err_set("XML document has a DTD or an entity; refused");
			goto done;
		}
		if (type != XML_READER_TYPE_ELEMENT) {
			rv = xmlTextReaderRead(r);
			continue;
		}
		if ((depth = xmlTextReaderDepth(r)) == 0) {
			roots++;
			rv = xmlTextReaderRead(r);
			continue;
		}
		if (depth > XML_STREAM_DEPTH) {
			rv = xmlTextReaderNext(r);
			continue;
		}
		stk[depth] = xmlTextReaderConstLocalName(r);
		m = stk[depth] != NULL ? stream_match(paths, npaths, stk, depth) : -2;
		if (m >= 0) {
			/* only this element's subtree is built, then freed */
			if ((node = xmlTextReaderExpand(r)) == NULL)
				break;
			if ((error = fn(arg, (size_t)m, XNODE(node))) < 0)
				goto done;
			error = ERR_INVALID;
			rv = xmlTextReaderNext(r);
		} else if (m == -1)
			rv = xmlTextReaderRead(r);
		else
			rv = xmlTextReaderNext(r);
	}
	if (rv != 0 || roots != 1) {
		err_set("malformed XML document");
		goto done;
	}
	error = 0;
done:
	xmlFreeTextReader(r);
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
