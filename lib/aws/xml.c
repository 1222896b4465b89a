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

int
aws_xml_parse(struct aws_xml **out, const char *data, size_t len)
{
	struct aws_xml *x = NULL;
	xmlDocPtr doc = NULL;
	size_t i;
	int error = ERR_INVALID;

	*out = NULL;
	if (data == NULL || len == 0) {
		err_set("empty XML document");
		goto done;
	}
	if (len > AWS_XML_MAX_INPUT || len > (size_t)INT32_MAX) {
		err_set("XML document larger than %zu bytes", AWS_XML_MAX_INPUT);
		error = ERR_LIMIT;
		goto done;
	}
	if (memchr(data, '\0', len) != NULL) {
		err_set("XML document holds a NUL byte");
		goto done;
	}
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (memmem(data, len, refused[i], strlen(refused[i])) != NULL) {
			err_set("XML document has a DTD or entity declaration; refused");
			goto done;
		}
	pthread_once(&xml_once, xml_init_once);
	doc = xmlReadMemory(data, (int)len, "aws.xml", "UTF-8",
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
	    XML_PARSE_NOCDATA);
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
