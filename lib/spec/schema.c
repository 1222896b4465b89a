/*
 * schema.c - the YAML tree to a struct spec, every field checked and
 * every default applied (docs/spec.md is the reference of each field).
 *
 * The walk never stops at the first problem: each field is checked on
 * its own and every problem is reported at the node it concerns.  A
 * YAML null (`key:`, `~`, `null`) counts as "not given".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "duration.h"
#include "err.h"
#include "spec_int.h"

#define LIMIT_LABELS		32
#define LIMIT_SUBNETS		16
#define LIMIT_TYPES		8
#define LIMIT_CIDRS		64
#define LIMIT_PORTS		32
#define LIMIT_PACKAGES		200
#define LIMIT_SETUP		100
#define LIMIT_SETUP_LEN		4096
#define LIMIT_ON_INTERRUPTION	20
#define LIMIT_ENV		100
#define LIMIT_ENV_VALUE		4096
#define LIMIT_SECRETS		50
#define LIMIT_TAG_KEY		128
#define LIMIT_TAG_VALUE		256
#define LIMIT_USER_TAGS		(SPEC_TAGS_AWS_MAX - SPEC_TAGS_RESERVED)

#define DEFAULT_REGION		"us-east-1"
#define DEFAULT_TAG_PREFIX	"envctl:"

struct sctx {
	struct arena		*a;		/* the spec's arena */
	struct diags		*d;
	struct spec		*s;
	const char		*tag_prefix;
	const char		*secret_env_prefix;	/* "": env secrets off */
	const char		*secret_ssm_prefix;	/* "": ssm secrets off */
	int			 secret_files;
};

static void
err_at(struct sctx *c, const struct ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
err_at(struct sctx *c, const struct ynode *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diags_vadd(c->d, n ? n->line : 1, n ? n->col : 1, fmt, ap);
	va_end(ap);
}

static const char *
describe(const struct ynode *n)
{
	if (n->kind == YNODE_MAP)
		return "a mapping";
	if (n->kind == YNODE_SEQ)
		return "a list";
	if (ynode_is_null(n))
		return "null";
	if (n->plain && (strcmp(n->text, "true") == 0 || strcmp(n->text, "false") == 0))
		return "a boolean";
	if (n->plain && n->len > 0 && strspn(n->text, "+-0123456789.") == n->len)
		return strchr(n->text, '.') ? "a decimal number" : "a number";
	return "a string";
}

static const char *
q(char *buf, size_t sz, const char *s)
{
	return quote_for_msg(buf, sz, s);
}

/* The value of key in map, or NULL when absent or null. */
static const struct ynode *
map_get(const struct ynode *map, const char *key)
{
	size_t i;

	if (map == NULL || map->kind != YNODE_MAP)
		return NULL;
	for (i = 0; i < map->n; i++) {
		const struct ynode *k = map->items[2 * i], *v = map->items[2 * i + 1];

		if (!k->bad && k->kind == YNODE_SCALAR && strcmp(k->text, key) == 0)
			return ynode_is_null(v) ? NULL : v;
	}
	return NULL;
}

/* Report the keys of map not in known[] (NULL-terminated). */
static void
map_unknown(struct sctx *c, const struct ynode *map, const char *const *known,
    const char *where)
{
	char kq[128], list[512];
	const char *best;
	size_t i, j, dist, bestd, off;

	for (i = 0; i < map->n; i++) {
		const struct ynode *k = map->items[2 * i];

		if (k->bad)
			continue;
		for (j = 0; known[j] != NULL; j++)
			if (strcmp(k->text, known[j]) == 0)
				break;
		if (known[j] != NULL)
			continue;
		best = NULL;
		bestd = 3;
		for (j = 0; known[j] != NULL; j++) {
			size_t cap = strlen(known[j]) / 3 + 1;

			if (cap > 3)
				cap = 3;
			dist = edit_distance(k->text, known[j], cap);
			if (dist <= cap && dist < bestd) {
				bestd = dist;
				best = known[j];
			}
			/* a different case only is a near miss too */
			if (best == NULL && strcasecmp(k->text, known[j]) == 0)
				best = known[j], bestd = 1;
		}
		if (best != NULL) {
			err_at(c, k, "unknown key '%s'; did you mean '%s'?",
			    q(kq, sizeof(kq), k->text), best);
			continue;
		}
		off = 0;
		list[0] = '\0';
		for (j = 0; known[j] != NULL && off < sizeof(list) - 1; j++) {
			int r = snprintf(list + off, sizeof(list) - off, "%s%s",
			    j ? ", " : "", known[j]);

			if (r < 0)
				break;
			off += (size_t)r;
		}
		err_at(c, k, "unknown key '%s' in %s (known keys: %s)",
		    q(kq, sizeof(kq), k->text), where, list);
	}
}

/* A mapping, or report it; NULL means "skip". */
static const struct ynode *
as_map(struct sctx *c, const struct ynode *v, const char *path)
{
	if (v == NULL || v->bad)
		return NULL;
	if (v->kind != YNODE_MAP) {
		err_at(c, v, "%s must be a mapping, got %s", path, describe(v));
		return NULL;
	}
	return v;
}

static const struct ynode *
as_seq(struct sctx *c, const struct ynode *v, const char *path)
{
	if (v == NULL || v->bad)
		return NULL;
	if (v->kind != YNODE_SEQ) {
		err_at(c, v, "%s must be a list, got %s", path, describe(v));
		return NULL;
	}
	return v;
}

/* The text of a scalar, or NULL (reported unless already bad). */
static const char *
as_str(struct sctx *c, const struct ynode *v, const char *path)
{
	if (v == NULL || v->bad)
		return NULL;
	if (v->kind != YNODE_SCALAR || ynode_is_null(v)) {
		err_at(c, v, "%s must be a string, got %s", path, describe(v));
		return NULL;
	}
	return v->text;
}

static int
as_int(struct sctx *c, const struct ynode *v, const char *path, long long min,
    long long max, long long *out)
{
	char vq[128];
	long long n = 0;
	size_t i;

	if (v == NULL || v->bad)
		return -1;
	if (v->kind != YNODE_SCALAR || !v->plain || v->len == 0 ||
	    strspn(v->text, "0123456789") != v->len) {
		if (v->kind == YNODE_SCALAR && !v->plain)
			err_at(c, v, "%s must be a number, got a quoted string '%s'", path,
			    q(vq, sizeof(vq), v->text));
		else if (v->kind == YNODE_SCALAR && v->text[0] == '-' &&
		    strspn(v->text + 1, "0123456789") == v->len - 1 && v->len > 1)
			err_at(c, v, "%s must be %lld to %lld, got %s", path, min, max,
			    q(vq, sizeof(vq), v->text));
		else
			err_at(c, v, "%s must be a whole number, got %s", path, describe(v));
		return -1;
	}
	if (v->len > 1 && v->text[0] == '0') {
		err_at(c, v, "%s must be a whole number without leading zeros, got %s", path,
		    q(vq, sizeof(vq), v->text));
		return -1;
	}
	for (i = 0; i < v->len; i++) {
		n = n * 10 + (v->text[i] - '0');
		if (n > max)
			break;
	}
	if (n < min || n > max) {
		err_at(c, v, "%s must be %lld to %lld, got %s", path, min, max,
		    q(vq, sizeof(vq), v->text));
		return -1;
	}
	*out = n;
	return 0;
}

static int
as_bool(struct sctx *c, const struct ynode *v, const char *path, int *out)
{
	if (v == NULL || v->bad)
		return -1;
	if (v->kind == YNODE_SCALAR && v->plain && strcmp(v->text, "true") == 0)
		*out = 1;
	else if (v->kind == YNODE_SCALAR && v->plain && strcmp(v->text, "false") == 0)
		*out = 0;
	else {
		err_at(c, v, "%s must be true or false, got %s", path, describe(v));
		return -1;
	}
	return 0;
}

/* One of names[] (NULL-terminated); *out is its index. */
static int
as_enum(struct sctx *c, const struct ynode *v, const char *path,
    const char *const *names, int *out)
{
	char vq[128], list[256];
	const char *s;
	size_t i, off = 0;

	if ((s = as_str(c, v, path)) == NULL)
		return -1;
	for (i = 0; names[i] != NULL; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	list[0] = '\0';
	for (i = 0; names[i] != NULL && off < sizeof(list) - 1; i++) {
		int r = snprintf(list + off, sizeof(list) - off, "%s%s",
		    i == 0 ? "" : names[i + 1] == NULL ? " or " : ", ", names[i]);

		if (r < 0)
			break;
		off += (size_t)r;
	}
	err_at(c, v, "%s must be %s, got '%s'", path, list, q(vq, sizeof(vq), s));
	return -1;
}

static void
fmt_duration(char *out, size_t sz, long long secs)
{
	duration_format(out, sz, secs);
}

static int
as_duration(struct sctx *c, const struct ynode *v, const char *path, long long min,
    long long max, long long *out)
{
	char vq[128], a[32], b[32];
	const char *s;
	long long secs;

	if (v == NULL || v->bad)
		return -1;
	if (v->kind == YNODE_SCALAR && v->plain && v->len > 0 &&
	    strspn(v->text, "0123456789") == v->len && strcmp(v->text, "0") != 0) {
		err_at(c, v, "%s needs a unit: write %ss or another duration like 30s, "
		    "5m, 8h, 1h30m, 2d", path, q(vq, sizeof(vq), v->text));
		return -1;
	}
	if ((s = as_str(c, v, path)) == NULL)
		return -1;
	if (duration_parse(&secs, s) < 0) {
		err_at(c, v, "%s: bad duration '%s' (like 30s, 5m, 8h, 1h30m, 2d)", path,
		    q(vq, sizeof(vq), s));
		return -1;
	}
	if (secs < min || secs > max) {
		fmt_duration(a, sizeof(a), min);
		fmt_duration(b, sizeof(b), max);
		err_at(c, v, "%s must be between %s and %s, got %s", path, a, b,
		    q(vq, sizeof(vq), s));
		return -1;
	}
	*out = secs;
	return 0;
}

static const char *
dup(struct sctx *c, const char *s)
{
	return s ? arena_strdup(c->a, s) : NULL;
}

static int
kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct spec_kv *)a)->key, ((const struct spec_kv *)b)->key);
}

/* ---- metadata ---- */

static int
label_key_ok(const char *s)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > 63)
		return 0;
	for (i = 0; i < len; i++) {
		char ch = s[i];
		int alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9');

		if (!alnum && !((i > 0 && i < len - 1) && strchr("._/-", ch)))
			return 0;
	}
	return 1;
}

static int
label_value_ok(const char *s)
{
	size_t i, len = strlen(s);

	if (len > 63)
		return 0;
	for (i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("._-", ch)))
			return 0;
	}
	return 1;
}

/* A map of strings; a null value is "". *out is sorted by key. */
static size_t
user_map(struct sctx *c, const struct ynode *map, const char *path, size_t limit,
    const char *what, struct spec_kv **out)
{
	struct spec_kv *kv;
	char vpath[256], kq[128];
	size_t i, n = 0;

	*out = NULL;
	if ((map = as_map(c, map, path)) == NULL)
		return 0;
	if (map->n > limit) {
		err_at(c, map, "too many %s (%zu; at most %zu)", what, map->n, limit);
		return 0;
	}
	kv = arena_alloc(c->a, (map->n ? map->n : 1) * sizeof(*kv));
	for (i = 0; i < map->n; i++) {
		const struct ynode *k = map->items[2 * i], *v = map->items[2 * i + 1];
		const char *val = "";

		if (k->bad || v->bad)
			continue;
		snprintf(vpath, sizeof(vpath), "%s.%s", path, q(kq, sizeof(kq), k->text));
		if (!ynode_is_null(v) && (val = as_str(c, v, vpath)) == NULL)
			continue;
		kv[n].key = k->text;	/* checked and copied by the caller */
		kv[n].value = val;
		n++;
	}
	*out = kv;
	return n;
}

static const struct ynode *
user_map_key_node(const struct ynode *map, const char *key)
{
	size_t i;

	for (i = 0; i < map->n; i++)
		if (!map->items[2 * i]->bad && strcmp(map->items[2 * i]->text, key) == 0)
			return map->items[2 * i];
	return map;
}

static const struct ynode *
user_map_value_node(const struct ynode *map, const char *key)
{
	size_t i;

	for (i = 0; i < map->n; i++)
		if (!map->items[2 * i]->bad && strcmp(map->items[2 * i]->text, key) == 0)
			return map->items[2 * i + 1];
	return map;
}

/* Check one entry of a user map: 0 keeps it, -1 drops it (error reported). */
typedef int kv_check_fn(struct sctx *, const struct ynode *map,
    const struct spec_kv *);

/*
 * Keep the n entries of kv (read from map) that check accepts, copied into
 * the spec, sorted by key; returns how many were kept.
 */
static size_t
user_map_keep(struct sctx *c, const struct ynode *map, struct spec_kv *kv,
    size_t n, kv_check_fn *check)
{
	size_t i, ok = 0;

	for (i = 0; i < n; i++) {
		if (check(c, map, &kv[i]) < 0)
			continue;
		kv[ok].key = dup(c, kv[i].key);
		kv[ok].value = dup(c, kv[i].value);
		ok++;
	}
	if (ok > 0)
		qsort(kv, ok, sizeof(*kv), kv_cmp);
	return ok;
}

static int
label_check(struct sctx *c, const struct ynode *v, const struct spec_kv *kv)
{
	char kq[128], vq[128];

	if (!label_key_ok(kv->key)) {
		err_at(c, user_map_key_node(v, kv->key), "bad label key '%s': 1 to 63 "
		    "letters, digits and . _ / - (starting and ending with a letter "
		    "or digit)", q(kq, sizeof(kq), kv->key));
		return -1;
	}
	if (!label_value_ok(kv->value)) {
		err_at(c, user_map_value_node(v, kv->key), "bad value '%s' of label "
		    "'%s': at most 63 letters, digits and . _ -",
		    q(vq, sizeof(vq), kv->value), q(kq, sizeof(kq), kv->key));
		return -1;
	}
	return 0;
}

static void
do_labels(struct sctx *c, const struct ynode *v)
{
	struct spec_kv *kv;
	size_t n;

	n = user_map(c, v, "metadata.labels", LIMIT_LABELS, "labels", &kv);
	c->s->nlabels = user_map_keep(c, v, kv, n, label_check);
	c->s->labels = kv;
}

static void
do_metadata(struct sctx *c, const struct ynode *md, const char *stem)
{
	static const char *const keys[] = { "name", "workspace", "labels", NULL };
	const struct ynode *v;
	const char *s;
	char why[256], vq[128], sq[128];

	c->s->workspace = "default";
	if ((md = as_map(c, md, "metadata")) != NULL)
		map_unknown(c, md, keys, "metadata");
	if ((v = map_get(md, "name")) != NULL) {
		if ((s = as_str(c, v, "metadata.name")) != NULL) {
			if (check_name(s, why, sizeof(why)) < 0)
				err_at(c, v, "bad name '%s': %s", q(vq, sizeof(vq), s), why);
			else if (stem != NULL && strcmp(s, stem) != 0)
				err_at(c, v, "metadata.name '%s' does not match the file name "
				    "'%s' (name the file %s.yaml)", q(vq, sizeof(vq), s),
				    q(sq, sizeof(sq), stem), s);
			else
				c->s->name = dup(c, s);
		}
	} else if (stem == NULL)
		err_at(c, md ? md : NULL, "missing metadata.name (needed when the spec "
		    "is not read from a file)");
	else if (check_name(stem, why, sizeof(why)) < 0)
		err_at(c, NULL, "the file name '%s' is not a valid environment name: %s",
		    q(sq, sizeof(sq), stem), why);
	else
		c->s->name = dup(c, stem);
	if ((v = map_get(md, "workspace")) != NULL &&
	    (s = as_str(c, v, "metadata.workspace")) != NULL) {
		if (check_name(s, why, sizeof(why)) < 0)
			err_at(c, v, "bad workspace '%s': %s", q(vq, sizeof(vq), s), why);
		else
			c->s->workspace = dup(c, s);
	}
	if ((v = map_get(md, "labels")) != NULL)
		do_labels(c, v);
}

/* ---- spec.instance ---- */

static const char *const image_aliases[] = {
	"al2023", "al2", "ubuntu-22.04", "ubuntu-24.04", "debian-12", NULL,
};

static void
do_image(struct sctx *c, const struct ynode *v)
{
	const char *s;
	char vq[128];
	size_t i, hex;

	if ((s = as_str(c, v, "spec.instance.image")) == NULL)
		return;
	for (i = 0; image_aliases[i] != NULL; i++)
		if (strcmp(s, image_aliases[i]) == 0) {
			c->s->instance.image = image_aliases[i];
			return;
		}
	if (strncmp(s, "ami-", 4) == 0) {
		hex = strspn(s + 4, "0123456789abcdef");
		if (s[4 + hex] == '\0' && hex >= 8 && hex <= 17) {
			c->s->instance.image = dup(c, s);
			c->s->instance.image_is_ami = 1;
			return;
		}
		err_at(c, v, "bad AMI id '%s': ami- and 8 to 17 lowercase hex digits",
		    q(vq, sizeof(vq), s));
		return;
	}
	err_at(c, v, "unknown image '%s': use al2023, al2, ubuntu-22.04, ubuntu-24.04, "
	    "debian-12 or an AMI id (ami-...)", q(vq, sizeof(vq), s));
}

static void
do_subnets(struct sctx *c, const struct ynode *v)
{
	const char **out;
	char vq[128];
	size_t i, j, n = 0, hex;

	if ((v = as_seq(c, v, "spec.instance.subnets")) == NULL)
		return;
	if (v->n > LIMIT_SUBNETS) {
		err_at(c, v, "too many subnets (%zu; at most %d)", v->n, LIMIT_SUBNETS);
		return;
	}
	out = arena_alloc(c->a, (v->n ? v->n : 1) * sizeof(*out));
	for (i = 0; i < v->n; i++) {
		const struct ynode *it = v->items[i];
		const char *s = as_str(c, it, "a subnet");

		if (s == NULL)
			continue;
		hex = strncmp(s, "subnet-", 7) == 0 ? strspn(s + 7, "0123456789abcdef") : 0;
		if (hex == 0 || hex > 17 || s[7 + hex] != '\0') {
			err_at(c, it, "bad subnet id '%s': subnet- and up to 17 lowercase hex "
			    "digits", q(vq, sizeof(vq), s));
			continue;
		}
		for (j = 0; j < n; j++)
			if (strcmp(out[j], s) == 0)
				break;
		if (j < n) {
			err_at(c, it, "subnet '%s' is listed twice", s);
			continue;
		}
		out[n++] = dup(c, s);
	}
	c->s->instance.subnets = out;
	c->s->instance.nsubnets = n;
}

/*
 * instance.types: acceptable types in order of preference, at least one,
 * each listed once.  instance.type is then the first (the most preferred).
 */
static void
do_types(struct sctx *c, const struct ynode *v)
{
	const char **out;
	char why[256], vq[128];
	size_t i, j, n = 0;

	if ((v = as_seq(c, v, "spec.instance.types")) == NULL)
		return;
	if (v->n == 0 || v->n > LIMIT_TYPES) {
		err_at(c, v, "instance.types lists %zu types (1 to %d)", v->n,
		    LIMIT_TYPES);
		return;
	}
	out = arena_alloc(c->a, v->n * sizeof(*out));
	for (i = 0; i < v->n; i++) {
		const struct ynode *it = v->items[i];
		const char *s = as_str(c, it, "an instance type");

		if (s == NULL)
			continue;
		if (check_instance_type(s, why, sizeof(why)) < 0) {
			err_at(c, it, "instance type '%s' %s", q(vq, sizeof(vq), s),
			    why);
			continue;
		}
		for (j = 0; j < n; j++)
			if (strcmp(out[j], s) == 0)
				break;
		if (j < n) {
			err_at(c, it, "instance type '%s' is listed twice", s);
			continue;
		}
		out[n++] = dup(c, s);
	}
	if (n == 0)
		return;
	c->s->instance.types = out;
	c->s->instance.ntypes = n;
	c->s->instance.type = out[0];
}

static void
do_spot(struct sctx *c, const struct ynode *spot)
{
	static const char *const keys[] = { "max_price", "fallback", "timeout", NULL };
	static const char *const fallbacks[] = { "on-demand", "none", NULL };
	const struct ynode *v;
	const char *s;
	char why[256], norm[32], vq[128];
	int e;

	if ((spot = as_map(c, spot, "spec.instance.spot")) == NULL)
		return;
	map_unknown(c, spot, keys, "spec.instance.spot");
	if ((v = map_get(spot, "max_price")) != NULL &&
	    (s = as_str(c, v, "spec.instance.spot.max_price")) != NULL) {
		if (check_price(norm, sizeof(norm), s, why, sizeof(why)) < 0)
			err_at(c, v, "bad spot max_price '%s': %s", q(vq, sizeof(vq), s), why);
		else
			c->s->instance.spot.max_price = dup(c, norm);
	}
	if (as_enum(c, map_get(spot, "fallback"), "spec.instance.spot.fallback",
	    fallbacks, &e) == 0)
		c->s->instance.spot.fallback = (enum spec_spot_fallback)e;
	as_duration(c, map_get(spot, "timeout"), "spec.instance.spot.timeout", 30, 3600,
	    &c->s->instance.spot.timeout_s);
}

static void
do_instance(struct sctx *c, const struct ynode *in)
{
	static const char *const keys[] = { "type", "types", "image", "disk",
	    "subnets", "iam_instance_profile", "market", "spot", NULL };
	static const char *const disk_keys[] = { "size_gb", NULL };
	static const char *const markets[] = { "on-demand", "spot", NULL };
	const struct ynode *v, *disk;
	const char **one;
	const char *s;
	char why[256], vq[128];
	long long n;
	int e;

	c->s->instance.type = "t3.medium";
	one = arena_alloc(c->a, sizeof(*one));
	one[0] = c->s->instance.type;
	c->s->instance.types = one;
	c->s->instance.ntypes = 1;
	c->s->instance.image = "al2023";
	c->s->instance.disk_size_gb = 20;
	c->s->instance.spot.timeout_s = 300;
	if ((in = as_map(c, in, "spec.instance")) == NULL)
		return;
	map_unknown(c, in, keys, "spec.instance");
	if ((v = map_get(in, "type")) != NULL && (s = as_str(c, v, "spec.instance.type"))) {
		if (check_instance_type(s, why, sizeof(why)) < 0)
			err_at(c, v, "instance type '%s' %s", q(vq, sizeof(vq), s), why);
		else
			c->s->instance.type = one[0] = dup(c, s);
	}
	if ((v = map_get(in, "types")) != NULL) {
		if (map_get(in, "type") != NULL)
			err_at(c, user_map_key_node(in, "types"), "give either "
			    "instance.type or instance.types, not both");
		else
			do_types(c, v);
	}
	if ((v = map_get(in, "image")) != NULL)
		do_image(c, v);
	if ((disk = as_map(c, map_get(in, "disk"), "spec.instance.disk")) != NULL) {
		map_unknown(c, disk, disk_keys, "spec.instance.disk");
		if (as_int(c, map_get(disk, "size_gb"), "spec.instance.disk.size_gb", 8,
		    16384, &n) == 0)
			c->s->instance.disk_size_gb = (unsigned)n;
	}
	if ((v = map_get(in, "subnets")) != NULL)
		do_subnets(c, v);
	if ((v = map_get(in, "iam_instance_profile")) != NULL &&
	    (s = as_str(c, v, "spec.instance.iam_instance_profile")) != NULL) {
		size_t len = strlen(s);

		if (len == 0 || len > 128 || strspn(s, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-") != len)
			err_at(c, v, "bad iam_instance_profile '%s': 1 to 128 letters, digits "
			    "and + = , . @ _ -", q(vq, sizeof(vq), s));
		else
			c->s->instance.iam_instance_profile = dup(c, s);
	}
	if (as_enum(c, map_get(in, "market"), "spec.instance.market", markets, &e) == 0)
		c->s->instance.market = (enum spec_market)e;
	if ((v = map_get(in, "spot")) != NULL) {
		const struct ynode *mk = map_get(in, "market");

		if (mk != NULL && !mk->bad && c->s->instance.market != SPEC_MARKET_SPOT)
			err_at(c, user_map_key_node(in, "spot"), "spot settings need "
			    "'market: spot'");
		else if (mk == NULL)
			err_at(c, user_map_key_node(in, "spot"), "spot settings need "
			    "'market: spot'");
		do_spot(c, v);
	}
}

/* ---- spec.access ---- */

static size_t
do_cidrs(struct sctx *c, const struct ynode *v, const char *path, int ssh,
    const struct spec_cidr **out)
{
	struct spec_cidr *cidrs;
	char why[256], norm[64], vq[128];
	size_t i, j, n = 0;
	const char *s;

	*out = NULL;
	if ((v = as_seq(c, v, path)) == NULL)
		return 0;
	if (v->n > LIMIT_CIDRS) {
		err_at(c, v, "too many CIDR blocks in %s (%zu; at most %d)", path, v->n,
		    LIMIT_CIDRS);
		return 0;
	}
	cidrs = arena_alloc(c->a, (v->n ? v->n : 1) * sizeof(*cidrs));
	for (i = 0; i < v->n; i++) {
		const struct ynode *it = v->items[i];

		if ((s = as_str(c, it, "a CIDR block")) == NULL)
			continue;
		if (check_cidr(&cidrs[n], norm, sizeof(norm), s, why, sizeof(why)) < 0) {
			err_at(c, it, "bad CIDR '%s': %s", q(vq, sizeof(vq), s), why);
			continue;
		}
		for (j = 0; j < n; j++)
			if (strcmp(cidrs[j].text, norm) == 0)
				break;
		if (j < n) {
			err_at(c, it, "CIDR %s is listed twice in %s", norm, path);
			continue;
		}
		if (ssh && cidrs[n].prefix == 0 && !c->s->access.ssh.allow_world) {
			err_at(c, it, "%s opens SSH to the whole internet; set "
			    "access.ssh.allow_world: true if that is really meant", norm);
			continue;
		}
		cidrs[n].text = dup(c, norm);
		n++;
	}
	*out = cidrs;
	return n;
}

static void
do_key(struct sctx *c, const struct ynode *v)
{
	static const char *const keys[] = { "name", "public_key", NULL };
	const struct ynode *name, *pub;
	const char *s;
	char why[256], vq[128];

	if (v->bad)
		return;
	if (v->kind == YNODE_SCALAR) {
		if (strcmp(v->text, "auto") != 0)
			err_at(c, v, "access.ssh.key must be auto, {name: EXISTING_KEY_PAIR} or "
			    "{public_key: \"ssh-ed25519 ...\"}, got '%s'",
			    q(vq, sizeof(vq), v->text));
		return;
	}
	if ((v = as_map(c, v, "access.ssh.key")) == NULL)
		return;
	map_unknown(c, v, keys, "access.ssh.key");
	name = map_get(v, "name");
	pub = map_get(v, "public_key");
	if ((name == NULL) == (pub == NULL)) {
		err_at(c, v, "access.ssh.key needs exactly one of 'name' and 'public_key'");
		return;
	}
	if (name != NULL && (s = as_str(c, name, "access.ssh.key.name")) != NULL) {
		size_t len = strlen(s);

		if (len == 0 || len > 255)
			err_at(c, name, "access.ssh.key.name must be 1 to 255 characters long");
		else {
			c->s->access.ssh.key = SPEC_KEY_NAME;
			c->s->access.ssh.key_name = dup(c, s);
		}
	}
	if (pub != NULL && (s = as_str(c, pub, "access.ssh.key.public_key")) != NULL) {
		if (check_public_key(s, why, sizeof(why)) < 0)
			err_at(c, pub, "bad access.ssh.key.public_key: %s", why);
		else {
			c->s->access.ssh.key = SPEC_KEY_PUBLIC;
			c->s->access.ssh.public_key = dup(c, s);
		}
	}
}

static void
do_ssh(struct sctx *c, const struct ynode *ssh)
{
	static const char *const keys[] = { "key", "key_type", "allow_from",
	    "allow_world", "user", NULL };
	static const char *const types[] = { "ed25519", "rsa", NULL };
	const struct ynode *v;
	const char *s;
	int e;

	if ((ssh = as_map(c, ssh, "spec.access.ssh")) == NULL)
		return;
	map_unknown(c, ssh, keys, "spec.access.ssh");
	if ((v = map_get(ssh, "allow_world")) != NULL)
		as_bool(c, v, "spec.access.ssh.allow_world", &c->s->access.ssh.allow_world);
	if ((v = map_get(ssh, "key")) != NULL)
		do_key(c, v);
	if ((v = map_get(ssh, "key_type")) != NULL &&
	    as_enum(c, v, "spec.access.ssh.key_type", types, &e) == 0) {
		const struct ynode *k = map_get(ssh, "key");

		if (k != NULL && k->kind != YNODE_SCALAR)
			err_at(c, v, "key_type applies only to key: auto");
		else
			c->s->access.ssh.key_type = (enum spec_key_type)e;
	}
	if ((v = map_get(ssh, "user")) != NULL &&
	    (s = as_str(c, v, "spec.access.ssh.user")) != NULL) {
		size_t n = strlen(s);

		/* what useradd accepts, and what the bootstrap may quote */
		if (n < 1 || n > 32 || strchr("abcdefghijklmnopqrstuvwxyz_", *s) ==
		    NULL || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
			err_at(c, v, "spec.access.ssh.user must be 1 to 32 lowercase "
			    "letters, digits, '_' and '-', starting with a letter or '_'");
		else
			c->s->access.ssh.user = dup(c, s);
	}
	c->s->access.ssh.nallow = do_cidrs(c, map_get(ssh, "allow_from"),
	    "spec.access.ssh.allow_from", 1, &c->s->access.ssh.allow_from);
}

static void
do_ports(struct sctx *c, const struct ynode *v)
{
	static const char *const keys[] = { "port", "protocol", "allow_from", NULL };
	static const char *const protos[] = { "tcp", "udp", NULL };
	struct spec_port *ports;
	size_t i, j, n = 0;
	long long port;
	int e, bad;

	if ((v = as_seq(c, v, "spec.access.ports")) == NULL)
		return;
	if (v->n > LIMIT_PORTS) {
		err_at(c, v, "too many ports (%zu; at most %d)", v->n, LIMIT_PORTS);
		return;
	}
	ports = arena_alloc(c->a, (v->n ? v->n : 1) * sizeof(*ports));
	for (i = 0; i < v->n; i++) {
		const struct ynode *p = as_map(c, v->items[i], "each of spec.access.ports");
		const struct ynode *pn = NULL;
		struct spec_port *pt = &ports[n];

		if (p == NULL)
			continue;
		map_unknown(c, p, keys, "a port");
		bad = 0;
		if ((pn = map_get(p, "port")) == NULL) {
			err_at(c, p, "missing 'port' (1 to 65535)");
			bad = 1;
		} else if (as_int(c, pn, "port", 1, 65535, &port) < 0)
			bad = 1;
		else
			pt->port = (unsigned)port;
		if (map_get(p, "protocol") != NULL) {
			if (as_enum(c, map_get(p, "protocol"), "protocol", protos, &e) < 0)
				bad = 1;
			else
				pt->protocol = (enum spec_protocol)e;
		}
		if (map_get(p, "allow_from") == NULL) {
			err_at(c, p, "missing 'allow_from' (the CIDR blocks that may connect)");
			bad = 1;
		} else {
			pt->nallow = do_cidrs(c, map_get(p, "allow_from"), "allow_from", 0,
			    &pt->allow_from);
			if (pt->nallow == 0 && map_get(p, "allow_from")->kind == YNODE_SEQ &&
			    map_get(p, "allow_from")->n == 0) {
				err_at(c, map_get(p, "allow_from"), "allow_from is empty");
				bad = 1;
			}
		}
		if (bad)
			continue;
		if (pt->port == 22 && pt->protocol == SPEC_PROTO_TCP) {
			err_at(c, pn, "port 22 is SSH: configure it under access.ssh");
			continue;
		}
		for (j = 0; j < n; j++)
			if (ports[j].port == pt->port && ports[j].protocol == pt->protocol)
				break;
		if (j < n) {
			err_at(c, pn, "port %u/%s is listed twice", pt->port,
			    protos[pt->protocol]);
			continue;
		}
		n++;
	}
	c->s->access.ports = ports;
	c->s->access.nports = n;
}

static void
do_access(struct sctx *c, const struct ynode *ac)
{
	static const char *const keys[] = { "ssh", "ports", NULL };
	const struct ynode *v;

	if ((ac = as_map(c, ac, "spec.access")) == NULL)
		return;
	map_unknown(c, ac, keys, "spec.access");
	if ((v = map_get(ac, "ssh")) != NULL)
		do_ssh(c, v);
	if ((v = map_get(ac, "ports")) != NULL)
		do_ports(c, v);
}

/* ---- spec.bootstrap ---- */

static size_t
do_strlist(struct sctx *c, const struct ynode *v, const char *path, size_t limit,
    size_t maxlen, int package, const char *const **out)
{
	const char **list;
	char vq[128], epath[128];
	size_t i, n = 0;
	const char *s;

	*out = NULL;
	if ((v = as_seq(c, v, path)) == NULL)
		return 0;
	if (v->n > limit) {
		err_at(c, v, "too many entries in %s (%zu; at most %zu)", path, v->n, limit);
		return 0;
	}
	list = arena_alloc(c->a, (v->n ? v->n : 1) * sizeof(*list));
	snprintf(epath, sizeof(epath), "each entry of %s", path);
	for (i = 0; i < v->n; i++) {
		const struct ynode *it = v->items[i];

		if ((s = as_str(c, it, epath)) == NULL)
			continue;
		if (it->len == 0 || it->len > maxlen) {
			err_at(c, it, "each entry of %s must be 1 to %zu bytes long", path, maxlen);
			continue;
		}
		if (package && (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789.+_:=~-") != it->len || strchr(".+_:=~-", s[0]) != NULL)) {
			err_at(c, it, "bad package name '%s'", q(vq, sizeof(vq), s));
			continue;
		}
		list[n++] = dup(c, s);
	}
	*out = list;
	return n;
}

static int
env_check(struct sctx *c, const struct ynode *v, const struct spec_kv *kv)
{
	char why[256], kq[128];

	if (check_env_name(kv->key, why, sizeof(why)) < 0) {
		err_at(c, user_map_key_node(v, kv->key), "bad environment variable "
		    "name '%s': %s", q(kq, sizeof(kq), kv->key), why);
		return -1;
	}
	if (strlen(kv->value) > LIMIT_ENV_VALUE) {
		err_at(c, user_map_value_node(v, kv->key), "the value of %s is too "
		    "long (at most %d bytes)", kv->key, LIMIT_ENV_VALUE);
		return -1;
	}
	return 0;
}

static void
do_environment(struct sctx *c, const struct ynode *v)
{
	struct spec_kv *kv;
	size_t n;

	n = user_map(c, v, "spec.bootstrap.environment", LIMIT_ENV,
	    "environment variables", &kv);
	c->s->bootstrap.nenvironment = user_map_keep(c, v, kv, n, env_check);
	c->s->bootstrap.environment = kv;
}

static int
secret_cmp(const void *a, const void *b)
{
	return strcmp(((const struct spec_secret *)a)->name,
	    ((const struct spec_secret *)b)->name);
}

/*
 * The reference of secret k in ref, which is a one-key mapping: 0 and
 * *src, *out set, or -1 (reported).  Only the secret namespace is
 * accepted: a variable under secret_env_prefix, a file name in
 * secrets_dir, an SSM parameter under secret_ssm_prefix.
 */
static int
secret_ref(struct sctx *c, const struct ynode *k, const struct ynode *ref,
    enum spec_secret_source *src, const char **out)
{
	static const char *const keys[] = { "env", "file", "ssm", NULL };
	const struct ynode *v = NULL;
	char why[256], vq[128];
	const char *s;
	size_t i, given = 0;

	map_unknown(c, ref, keys, "a secret reference");
	for (i = 0; keys[i] != NULL; i++)
		if (map_get(ref, keys[i]) != NULL) {
			v = map_get(ref, keys[i]);
			*src = (enum spec_secret_source)i;
			given++;
		}
	if (given != 1) {
		err_at(c, ref, "secret %s needs exactly one of {env: VARIABLE}, "
		    "{file: NAME} or {ssm: /PATH}", k->text);
		return -1;
	}
	if ((s = as_str(c, v, spec_secret_source_name(*src))) == NULL)
		return -1;
	switch (*src) {
	case SPEC_SECRET_ENV:
		if (check_env_name(s, why, sizeof(why)) < 0) {
			err_at(c, v, "bad variable name '%s' for secret %s: %s",
			    q(vq, sizeof(vq), s), k->text, why);
			return -1;
		}
		if (*c->secret_env_prefix == '\0' || strncmp(s,
		    c->secret_env_prefix, strlen(c->secret_env_prefix)) != 0 ||
		    strlen(s) == strlen(c->secret_env_prefix)) {
			err_at(c, v, "secret %s: variable %s is not in the secret "
			    "namespace: %s%s%s", k->text, s,
			    *c->secret_env_prefix ? "its name must start with " :
			    "environment secrets are off (secret_env_prefix is empty)",
			    c->secret_env_prefix, *c->secret_env_prefix ?
			    " (secret_env_prefix)" : "");
			return -1;
		}
		break;
	case SPEC_SECRET_FILE:
		if (!c->secret_files) {
			err_at(c, v, "secret %s: file secrets need secrets_dir, "
			    "which is not set", k->text);
			return -1;
		}
		if (spec_secret_file_check(s, why, sizeof(why)) < 0) {
			err_at(c, v, "bad file name '%s' for secret %s: %s",
			    q(vq, sizeof(vq), s), k->text, why);
			return -1;
		}
		break;
	case SPEC_SECRET_SSM:
		if (*c->secret_ssm_prefix == '\0') {
			err_at(c, v, "secret %s: SSM secrets are off "
			    "(secret_ssm_prefix is empty)", k->text);
			return -1;
		}
		if (spec_secret_ssm_check(s, c->secret_ssm_prefix, why,
		    sizeof(why)) < 0) {
			err_at(c, v, "bad SSM parameter '%s' for secret %s: %s",
			    q(vq, sizeof(vq), s), k->text, why);
			return -1;
		}
		break;
	}
	*out = s;
	return 0;
}

static void
do_secrets(struct sctx *c, const struct ynode *v)
{
	struct spec_secret *out;
	enum spec_secret_source src = SPEC_SECRET_ENV;
	char why[256], kq[128];
	size_t i, j, n = 0;

	if ((v = as_map(c, v, "spec.bootstrap.secrets")) == NULL)
		return;
	if (v->n > LIMIT_SECRETS) {
		err_at(c, v, "too many secrets (%zu; at most %d)", v->n, LIMIT_SECRETS);
		return;
	}
	out = arena_alloc(c->a, (v->n ? v->n : 1) * sizeof(*out));
	for (i = 0; i < v->n; i++) {
		const struct ynode *k = v->items[2 * i], *ref = v->items[2 * i + 1];
		const char *s;

		if (k->bad || ref->bad)
			continue;
		if (check_env_name(k->text, why, sizeof(why)) < 0) {
			err_at(c, k, "bad secret name '%s': %s", q(kq, sizeof(kq), k->text), why);
			continue;
		}
		if (ref->kind != YNODE_MAP) {
			/* never echo what might be the secret itself */
			err_at(c, ref, "secret %s must be a reference {env: VARIABLE}, "
			    "{file: NAME} or {ssm: /PATH}; a secret's value never goes "
			    "in a spec", k->text);
			continue;
		}
		if (secret_ref(c, k, ref, &src, &s) < 0)
			continue;
		for (j = 0; j < c->s->bootstrap.nenvironment; j++)
			if (strcmp(c->s->bootstrap.environment[j].key, k->text) == 0)
				break;
		if (j < c->s->bootstrap.nenvironment) {
			err_at(c, k, "%s is both in environment and in secrets", k->text);
			continue;
		}
		out[n].name = dup(c, k->text);
		out[n].source = src;
		out[n].ref = dup(c, s);
		n++;
	}
	if (n > 0)
		qsort(out, n, sizeof(*out), secret_cmp);
	c->s->bootstrap.secrets = out;
	c->s->bootstrap.nsecrets = n;
}

static void
do_bootstrap(struct sctx *c, const struct ynode *bs)
{
	static const char *const keys[] = { "docker_image", "repo", "system_packages",
	    "setup", "environment", "secrets", NULL };
	static const char *const repo_keys[] = { "url", "branch", NULL };
	const struct ynode *v, *repo;
	const char *s;
	char why[256], vq[128];

	if ((bs = as_map(c, bs, "spec.bootstrap")) == NULL)
		return;
	map_unknown(c, bs, keys, "spec.bootstrap");
	if ((v = map_get(bs, "docker_image")) != NULL &&
	    (s = as_str(c, v, "spec.bootstrap.docker_image")) != NULL) {
		if (check_docker_image(s, why, sizeof(why)) < 0)
			err_at(c, v, "bad docker_image '%s': %s", q(vq, sizeof(vq), s), why);
		else
			c->s->bootstrap.docker_image = dup(c, s);
	}
	if ((repo = as_map(c, map_get(bs, "repo"), "spec.bootstrap.repo")) != NULL) {
		map_unknown(c, repo, repo_keys, "spec.bootstrap.repo");
		if ((v = map_get(repo, "url")) == NULL)
			err_at(c, repo, "spec.bootstrap.repo needs a url");
		else if ((s = as_str(c, v, "spec.bootstrap.repo.url")) != NULL) {
			/* the URL may hold a credential: do not echo it */
			if (check_repo_url(s, why, sizeof(why)) < 0)
				err_at(c, v, "bad repo url: %s", why);
			else
				c->s->bootstrap.repo_url = dup(c, s);
		}
		if ((v = map_get(repo, "branch")) != NULL &&
		    (s = as_str(c, v, "spec.bootstrap.repo.branch")) != NULL) {
			if (check_branch(s, why, sizeof(why)) < 0)
				err_at(c, v, "bad branch '%s': %s", q(vq, sizeof(vq), s), why);
			else
				c->s->bootstrap.repo_branch = dup(c, s);
		}
	}
	c->s->bootstrap.npackages = do_strlist(c, map_get(bs, "system_packages"),
	    "spec.bootstrap.system_packages", LIMIT_PACKAGES, 128, 1,
	    &c->s->bootstrap.system_packages);
	c->s->bootstrap.nsetup = do_strlist(c, map_get(bs, "setup"), "spec.bootstrap.setup",
	    LIMIT_SETUP, LIMIT_SETUP_LEN, 0, &c->s->bootstrap.setup);
	if ((v = map_get(bs, "environment")) != NULL)
		do_environment(c, v);
	if ((v = map_get(bs, "secrets")) != NULL)
		do_secrets(c, v);
}

/* ---- spec.lifecycle, spec.tags ---- */

/*
 * lifecycle.idle_stop (0 or SPEC_IDLE_STOP_MIN..MAX) and on_idle.  A
 * one-time spot instance cannot stop, so a spot spec with an idle_stop
 * must say on_idle: terminate.  Runs after do_instance (the market).
 */
static void
do_idle(struct sctx *c, const struct ynode *lc)
{
	static const char *const actions[] = { "stop", "terminate", NULL };
	const struct ynode *v = map_get(lc, "idle_stop");
	char a[32], b[32];
	long long secs;
	int e;

	if (as_enum(c, map_get(lc, "on_idle"), "spec.lifecycle.on_idle", actions,
	    &e) == 0)
		c->s->lifecycle.on_idle = (enum spec_on_idle)e;
	if (as_duration(c, v, "spec.lifecycle.idle_stop", 0, SPEC_IDLE_STOP_MAX,
	    &secs) < 0)
		return;
	if (secs > 0 && secs < SPEC_IDLE_STOP_MIN) {
		fmt_duration(a, sizeof(a), SPEC_IDLE_STOP_MIN);
		fmt_duration(b, sizeof(b), SPEC_IDLE_STOP_MAX);
		err_at(c, v, "spec.lifecycle.idle_stop must be 0 (off) or between %s "
		    "and %s", a, b);
		return;
	}
	c->s->lifecycle.idle_stop_s = secs;
	if (secs > 0 && c->s->instance.market == SPEC_MARKET_SPOT &&
	    c->s->lifecycle.on_idle != SPEC_IDLE_TERMINATE)
		err_at(c, v, "spec.lifecycle.idle_stop on a spot instance needs "
		    "'on_idle: terminate': a one-time spot instance cannot stop, "
		    "so its idle shutdown ends it and its disk");
}

/*
 * lifecycle.on_interruption and its timeout: what the spot watcher runs
 * on a notice.  Spot only (an on-demand instance gets no notice): an
 * error otherwise, as spot settings are.  At most 110 s, inside EC2's
 * two-minute notice with time left for the marker.
 */
static void
do_on_interruption(struct sctx *c, const struct ynode *lc)
{
	const struct ynode *v = map_get(lc, "on_interruption"),
	    *t = map_get(lc, "on_interruption_timeout");

	if ((v != NULL || t != NULL) &&
	    c->s->instance.market != SPEC_MARKET_SPOT)
		err_at(c, user_map_key_node(lc, v != NULL ? "on_interruption" :
		    "on_interruption_timeout"), "on_interruption needs "
		    "'instance.market: spot' (only spot instances are interrupted)");
	c->s->lifecycle.non_interruption = do_strlist(c, v,
	    "spec.lifecycle.on_interruption", LIMIT_ON_INTERRUPTION,
	    LIMIT_SETUP_LEN, 0, &c->s->lifecycle.on_interruption);
	as_duration(c, t, "spec.lifecycle.on_interruption_timeout", 5, 110,
	    &c->s->lifecycle.on_interruption_timeout_s);
}

static void
do_lifecycle(struct sctx *c, const struct ynode *lc)
{
	static const char *const keys[] = { "ttl", "ready_timeout", "on_drift",
	    "idle_stop", "on_idle", "on_interruption", "on_interruption_timeout",
	    NULL };
	static const char *const drift[] = { "replace", "report", NULL };
	int e;

	c->s->lifecycle.ready_timeout_s = 300;
	c->s->lifecycle.idle_stop_s = -1;
	c->s->lifecycle.on_interruption_timeout_s = 90;
	if ((lc = as_map(c, lc, "spec.lifecycle")) == NULL)
		return;
	do_on_interruption(c, lc);
	map_unknown(c, lc, keys, "spec.lifecycle");
	as_duration(c, map_get(lc, "ttl"), "spec.lifecycle.ttl", 600, 365LL * 86400,
	    &c->s->lifecycle.ttl_s);
	as_duration(c, map_get(lc, "ready_timeout"), "spec.lifecycle.ready_timeout", 60,
	    7200, &c->s->lifecycle.ready_timeout_s);
	if (as_enum(c, map_get(lc, "on_drift"), "spec.lifecycle.on_drift", drift, &e) == 0)
		c->s->lifecycle.on_drift = (enum spec_on_drift)e;
	do_idle(c, lc);
}

static int
tag_check(struct sctx *c, const struct ynode *v, const struct spec_kv *kv)
{
	const struct ynode *kn = user_map_key_node(v, kv->key);
	size_t kl = utf8_count(kv->key), plen = strlen(c->tag_prefix);
	char why[256], kq[128], pq[128];

	q(kq, sizeof(kq), kv->key);
	if (kl == 0 || kl > LIMIT_TAG_KEY) {
		err_at(c, kn, "tag key '%s' must be 1 to %d characters long", kq,
		    LIMIT_TAG_KEY);
		return -1;
	}
	if (strncasecmp(kv->key, "aws:", 4) == 0) {
		err_at(c, kn, "tag key '%s': the prefix 'aws:' is reserved by AWS", kq);
		return -1;
	}
	if (plen > 0 && strncmp(kv->key, c->tag_prefix, plen) == 0) {
		err_at(c, kn, "tag key '%s': the prefix '%s' is reserved for envctl's "
		    "own tags", kq, q(pq, sizeof(pq), c->tag_prefix));
		return -1;
	}
	if (strcmp(kv->key, "Name") == 0) {
		err_at(c, kn, "tag key 'Name' is set by envctl (envctl-<name>)");
		return -1;
	}
	if (check_tag_chars(kv->key, why, sizeof(why)) < 0) {
		err_at(c, kn, "tag key '%s' %s", kq, why);
		return -1;
	}
	if (utf8_count(kv->value) > LIMIT_TAG_VALUE) {
		err_at(c, user_map_value_node(v, kv->key), "the value of tag '%s' is "
		    "too long (at most %d characters)", kq, LIMIT_TAG_VALUE);
		return -1;
	}
	if (check_tag_chars(kv->value, why, sizeof(why)) < 0) {
		err_at(c, user_map_value_node(v, kv->key), "the value of tag '%s' %s",
		    kq, why);
		return -1;
	}
	return 0;
}

static void
do_tags(struct sctx *c, const struct ynode *v)
{
	struct spec_kv *kv;
	size_t n;

	if ((v = as_map(c, v, "spec.tags")) == NULL)
		return;
	if (v->n > LIMIT_USER_TAGS) {
		err_at(c, v, "too many tags (%zu; at most %d: AWS allows %d per resource "
		    "and envctl sets %d)", v->n, LIMIT_USER_TAGS, SPEC_TAGS_AWS_MAX,
		    SPEC_TAGS_RESERVED);
		return;
	}
	n = user_map(c, v, "spec.tags", LIMIT_USER_TAGS, "tags", &kv);
	c->s->ntags = user_map_keep(c, v, kv, n, tag_check);
	c->s->tags = kv;
}

static void
do_spec(struct sctx *c, const struct ynode *sp, const char *default_region)
{
	static const char *const keys[] = { "region", "instance", "access", "bootstrap",
	    "lifecycle", "tags", NULL };
	const struct ynode *v;
	const char *s;
	char why[256], vq[128];

	c->s->region = default_region;
	sp = as_map(c, sp, "spec");
	if (sp != NULL)
		map_unknown(c, sp, keys, "spec");
	if ((v = map_get(sp, "region")) != NULL && (s = as_str(c, v, "spec.region"))) {
		if (check_region(s, why, sizeof(why)) < 0)
			err_at(c, v, "region '%s' %s", q(vq, sizeof(vq), s), why);
		else
			c->s->region = dup(c, s);
	}
	do_instance(c, map_get(sp, "instance"));
	do_access(c, map_get(sp, "access"));
	do_bootstrap(c, map_get(sp, "bootstrap"));
	do_lifecycle(c, map_get(sp, "lifecycle"));
	if ((v = map_get(sp, "tags")) != NULL)
		do_tags(c, v);
}

struct spec *
schema_build(struct arena *a, struct diags *d, const struct ynode *root,
    const char *stem, const struct spec_options *opts)
{
	static const char *const keys[] = { "apiVersion", "kind", "metadata", "spec", NULL };
	struct sctx c;
	const struct ynode *v;
	const char *s;
	char vq[128];
	size_t before = d->n;

	memset(&c, 0, sizeof(c));
	c.a = a;
	c.d = d;
	c.s = arena_alloc(a, sizeof(*c.s));
	c.tag_prefix = opts && opts->tag_prefix ? opts->tag_prefix : DEFAULT_TAG_PREFIX;
	c.secret_env_prefix = opts && opts->secret_env_prefix ?
	    opts->secret_env_prefix : SPEC_SECRET_ENV_PREFIX;
	c.secret_ssm_prefix = opts && opts->secret_ssm_prefix ?
	    opts->secret_ssm_prefix : SPEC_SECRET_SSM_PREFIX;
	c.secret_files = opts ? opts->secret_files : 0;
	if (root == NULL || ynode_is_null(root)) {
		diags_add(d, 1, 1, "the spec is empty; expected a mapping with apiVersion, "
		    "kind, metadata and spec");
		return NULL;
	}
	if (root->bad)
		return NULL;
	if (root->kind != YNODE_MAP) {
		err_at(&c, root, "the spec must be a mapping (apiVersion, kind, metadata, "
		    "spec), got %s", describe(root));
		return NULL;
	}
	map_unknown(&c, root, keys, "the spec file");
	c.s->api_version = "envctl/v1";
	c.s->kind = "Environment";
	if ((v = map_get(root, "apiVersion")) == NULL)
		err_at(&c, root, "missing apiVersion (apiVersion: envctl/v1)");
	else if ((s = as_str(&c, v, "apiVersion")) != NULL && strcmp(s, "envctl/v1") != 0)
		err_at(&c, v, "unsupported apiVersion '%s'; expected envctl/v1",
		    q(vq, sizeof(vq), s));
	if ((v = map_get(root, "kind")) == NULL)
		err_at(&c, root, "missing kind (kind: Environment)");
	else if ((s = as_str(&c, v, "kind")) != NULL && strcmp(s, "Environment") != 0)
		err_at(&c, v, "unsupported kind '%s'; expected Environment",
		    q(vq, sizeof(vq), s));
	do_metadata(&c, map_get(root, "metadata"), stem);
	do_spec(&c, map_get(root, "spec"), opts && opts->default_region ?
	    dup(&c, opts->default_region) : DEFAULT_REGION);
	return d->n == before ? c.s : NULL;
}
