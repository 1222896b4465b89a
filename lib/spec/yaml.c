/*
 * yaml.c - bytes to a small YAML tree, refusing what a spec never needs.
 *
 * First the raw bytes are checked (NUL, UTF-8, tabs, control characters)
 * and every such problem is reported; parsing only starts on clean bytes.
 * Then libyaml's event API builds the tree.  Anchors, aliases, explicit
 * tags, more than one document, nesting deeper than SPEC_DEPTH_MAX and
 * scalars longer than SPEC_SCALAR_MAX are refused; duplicate and
 * non-scalar mapping keys are reported when their mapping ends.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "mem.h"
#include "spec_int.h"

struct frame {
	struct ynode	 *node;
	struct ynode	**items;
	size_t		  n, cap;
};

struct builder {
	struct arena	*arena;
	struct diags	*d;
	struct frame	 stack[SPEC_DEPTH_MAX];
	size_t		 depth;
	struct ynode	*root;
	int		 ndocs;
};

int
ynode_is_null(const struct ynode *n)
{
	if (n == NULL)
		return 1;
	if (n->kind != YNODE_SCALAR || !n->plain || n->bad || n->len > 4)
		return 0;
	return n->len == 0 || strcmp(n->text, "~") == 0 ||
	    strcmp(n->text, "null") == 0 || strcmp(n->text, "Null") == 0 ||
	    strcmp(n->text, "NULL") == 0;
}

/* Length of the UTF-8 sequence at p (<= avail bytes) and its code point; 0 if invalid. */
static size_t
utf8_decode(const unsigned char *p, size_t avail, uint32_t *cp)
{
	size_t n, i;
	uint32_t v, min;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	} else if ((p[0] & 0xE0) == 0xC0) {
		n = 2; v = p[0] & 0x1F; min = 0x80;
	} else if ((p[0] & 0xF0) == 0xE0) {
		n = 3; v = p[0] & 0x0F; min = 0x800;
	} else if ((p[0] & 0xF8) == 0xF0) {
		n = 4; v = p[0] & 0x07; min = 0x10000;
	} else
		return 0;
	if (n > avail)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return n;
}

/* Report every byte-level problem; returns their number. */
static size_t
check_bytes(struct diags *d, const unsigned char *p, size_t len)
{
	size_t i = 0, n, bad = 0;
	unsigned line = 1, col = 1;
	uint32_t cp;

	if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
		i = 3;		/* a UTF-8 byte order mark is allowed */
	while (i < len) {
		if (p[i] == '\n') {
			line++, col = 1, i++;
			continue;
		}
		if (p[i] == '\r') {
			line++, col = 1, i++;
			if (i < len && p[i] == '\n')
				i++;
			continue;
		}
		if ((n = utf8_decode(p + i, len - i, &cp)) == 0) {
			diags_add(d, line, col, "invalid UTF-8 (byte 0x%02x); specs must be UTF-8 text",
			    p[i]);
			bad++, col++, i++;
			continue;
		}
		if (cp == 0)
			diags_add(d, line, col, "NUL byte; specs must be text"), bad++;
		else if (cp == '\t')
			diags_add(d, line, col, "tab character; indent with spaces "
			    "(write \\t inside a double-quoted string)"), bad++;
		else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F && cp != 0x85) ||
		    cp == 0xFFFE || cp == 0xFFFF || cp == 0xFEFF)
			diags_add(d, line, col, "control character U+%04X is not allowed",
			    (unsigned)cp), bad++;
		i += n;
		if (cp == 0x85 || cp == 0x2028 || cp == 0x2029)
			line++, col = 1;
		else
			col++;
	}
	return bad;
}

static struct ynode *
node_new(struct builder *b, enum ynode_kind kind, const yaml_mark_t *m)
{
	struct ynode *n = arena_alloc(b->arena, sizeof(*n));

	n->kind = kind;
	n->line = (unsigned)m->line + 1;
	n->col = (unsigned)m->column + 1;
	n->text = "";
	return n;
}

static void
frame_push_item(struct frame *f, struct ynode *n)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 8;
		f->items = xreallocarray(f->items, f->cap, sizeof(*f->items));
	}
	f->items[f->n++] = n;
}

static void
attach(struct builder *b, struct ynode *n)
{
	if (b->depth == 0)
		b->root = n;
	else
		frame_push_item(&b->stack[b->depth - 1], n);
}

static int
key_cmp(const void *a, const void *b)
{
	const struct ynode *x = *(struct ynode *const *)a;
	const struct ynode *y = *(struct ynode *const *)b;
	int c;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	if ((c = memcmp(x->text, y->text, x->len)) != 0)
		return c;
	/* then by position, so the first occurrence comes first */
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->col < y->col ? -1 : (x->col > y->col);
}

/* Keys must be scalars, each once. */
static void
map_check_keys(struct builder *b, struct ynode *map)
{
	struct ynode **keys, *small[16];
	char q[256];
	size_t i, nk = 0;

	keys = map->n <= 16 ? small : xreallocarray(NULL, map->n, sizeof(*keys));
	for (i = 0; i < map->n; i++) {
		struct ynode *k = map->items[2 * i];

		if (k->bad)
			continue;
		if (k->kind != YNODE_SCALAR) {
			diags_add(b->d, k->line, k->col, "a mapping key must be a string");
			k->bad = 1;
		} else if (ynode_is_null(k)) {
			diags_add(b->d, k->line, k->col, "empty mapping key");
			k->bad = 1;
		} else
			keys[nk++] = k;
	}
	if (nk > 1)
		qsort(keys, nk, sizeof(*keys), key_cmp);
	for (i = 1; i < nk; i++) {
		if (keys[i]->len == keys[i - 1]->len &&
		    memcmp(keys[i]->text, keys[i - 1]->text, keys[i]->len) == 0) {
			size_t f = i - 1;

			while (keys[f]->bad)
				f--;
			diags_add(b->d, keys[i]->line, keys[i]->col,
			    "duplicate key '%s' (first at line %u, column %u)",
			    quote_for_msg(q, sizeof(q), keys[i]->text),
			    keys[f]->line, keys[f]->col);
			keys[i]->bad = 1;
		}
	}
	if (keys != small)
		free(keys);
}

static void
frame_close(struct builder *b)
{
	struct frame *f = &b->stack[--b->depth];
	struct ynode *n = f->node;

	n->items = arena_alloc(b->arena, (f->n ? f->n : 1) * sizeof(*n->items));
	if (f->n > 0)
		memcpy(n->items, f->items, f->n * sizeof(*n->items));
	n->n = n->kind == YNODE_MAP ? f->n / 2 : f->n;
	/* keep f->items: the next container at this depth reuses it */
	f->n = 0;
	f->node = NULL;
	if (n->kind == YNODE_MAP)
		map_check_keys(b, n);
	attach(b, n);
}

static void
refuse_decorations(struct builder *b, const yaml_mark_t *m, const yaml_char_t *anchor,
    const yaml_char_t *tag)
{
	char q[128];

	if (anchor != NULL)
		diags_add(b->d, (unsigned)m->line + 1, (unsigned)m->column + 1,
		    "YAML anchors and aliases are not allowed (anchor '&%s')",
		    quote_for_msg(q, sizeof(q), (const char *)anchor));
	if (tag != NULL)
		diags_add(b->d, (unsigned)m->line + 1, (unsigned)m->column + 1,
		    "YAML tags are not allowed (tag '%s')",
		    quote_for_msg(q, sizeof(q), (const char *)tag));
}

/* Handle one event: 1 to go on, 0 at the end of the stream, -1 to stop. */
static int
builder_event(struct builder *b, yaml_event_t *ev)
{
	const yaml_mark_t *m = &ev->start_mark;
	struct ynode *n;
	char q[128];

	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (++b->ndocs > 1) {
			diags_add(b->d, (unsigned)m->line + 1, (unsigned)m->column + 1,
			    "more than one YAML document in the file; "
			    "put each environment in its own file");
			return -1;
		}
		return 1;
	case YAML_SCALAR_EVENT:
		refuse_decorations(b, m, ev->data.scalar.anchor, ev->data.scalar.tag);
		n = node_new(b, YNODE_SCALAR, m);
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		if (ev->data.scalar.length > SPEC_SCALAR_MAX) {
			diags_add(b->d, n->line, n->col,
			    "scalar is too long (%zu bytes; at most %d)",
			    ev->data.scalar.length, SPEC_SCALAR_MAX);
			n->bad = 1;
		} else if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length) != NULL) {
			diags_add(b->d, n->line, n->col, "NUL character in a string");
			n->bad = 1;
		} else {
			n->text = arena_strndup(b->arena, (const char *)ev->data.scalar.value,
			    ev->data.scalar.length);
			n->len = ev->data.scalar.length;
		}
		if (ev->data.scalar.anchor != NULL || ev->data.scalar.tag != NULL)
			n->bad = 1;
		attach(b, n);
		return 1;
	case YAML_ALIAS_EVENT:
		diags_add(b->d, (unsigned)m->line + 1, (unsigned)m->column + 1,
		    "YAML anchors and aliases are not allowed (alias '*%s')",
		    quote_for_msg(q, sizeof(q), (const char *)ev->data.alias.anchor));
		n = node_new(b, YNODE_SCALAR, m);
		n->bad = 1;
		attach(b, n);
		return 1;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (b->depth == SPEC_DEPTH_MAX) {
			diags_add(b->d, (unsigned)m->line + 1, (unsigned)m->column + 1,
			    "nesting deeper than %d levels", SPEC_DEPTH_MAX);
			return -1;
		}
		if (ev->type == YAML_SEQUENCE_START_EVENT) {
			refuse_decorations(b, m, ev->data.sequence_start.anchor,
			    ev->data.sequence_start.tag);
			n = node_new(b, YNODE_SEQ, m);
			n->bad = ev->data.sequence_start.anchor != NULL ||
			    ev->data.sequence_start.tag != NULL;
		} else {
			refuse_decorations(b, m, ev->data.mapping_start.anchor,
			    ev->data.mapping_start.tag);
			n = node_new(b, YNODE_MAP, m);
			n->bad = ev->data.mapping_start.anchor != NULL ||
			    ev->data.mapping_start.tag != NULL;
		}
		b->stack[b->depth].node = n;
		b->stack[b->depth++].n = 0;
		return 1;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (b->depth > 0)
			frame_close(b);
		return 1;
	default:
		return 1;
	}
}

int
yaml_load(struct ynode **root, struct arena *arena, struct diags *d,
    const char *data, size_t len)
{
	struct builder b;
	yaml_parser_t parser;
	yaml_event_t ev;
	int error = -1, r, parser_ok = 0;
	size_t i;

	*root = NULL;
	memset(&b, 0, sizeof(b));
	b.arena = arena;
	b.d = d;
	if (len > SPEC_FILE_MAX) {
		diags_add(d, 1, 1, "file is too big (%zu bytes; at most %d)", len, SPEC_FILE_MAX);
		goto out;
	}
	if (check_bytes(d, (const unsigned char *)data, len) > 0)
		goto out;
	if (!yaml_parser_initialize(&parser)) {
		diags_add(d, 1, 1, "cannot initialize the YAML parser");
		goto out;
	}
	parser_ok = 1;
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	for (;;) {
		if (!yaml_parser_parse(&parser, &ev)) {
			diags_add(d, (unsigned)parser.problem_mark.line + 1,
			    (unsigned)parser.problem_mark.column + 1,
			    "YAML syntax error: %s%s%s",
			    parser.problem ? parser.problem : "unknown problem",
			    parser.context ? " " : "",
			    parser.context ? parser.context : "");
			goto out;
		}
		r = builder_event(&b, &ev);
		yaml_event_delete(&ev);
		if (r < 0)
			goto out;
		if (r == 0)
			break;
	}
	*root = b.root;
	error = 0;
out:
	for (i = 0; i < SPEC_DEPTH_MAX; i++)
		free(b.stack[i].items);
	if (parser_ok)
		yaml_parser_delete(&parser);
	return error;
}
