/*
 * spec_int.h - what lib/spec's own files and its tests share.
 */
#ifndef ENVCTL_SPEC_INT_H
#define ENVCTL_SPEC_INT_H

#include <stdarg.h>
#include <stddef.h>

#include "arena.h"
#include "buf.h"
#include "spec.h"


/*
 * The diagnostics of one file.
 */
struct diags {
	struct arena	*arena;
	struct spec_diag *v;
	size_t		 n, cap;
	int		 full;		/* SPEC_DIAG_MAX reached */
};

void	 diags_init(struct diags *, struct arena *);
void	 diags_dispose(struct diags *);
void	 diags_add(struct diags *, unsigned line, unsigned col, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));
void	 diags_vadd(struct diags *, unsigned line, unsigned col, const char *fmt, va_list)
	    __attribute__((format(printf, 4, 0)));
/* Sort by (line, col), keeping the order of equal positions. */
void	 diags_sort(struct diags *);

/*
 * The YAML document as a small tree (lib/spec/yaml.c).
 */
enum ynode_kind {
	YNODE_SCALAR = 0,
	YNODE_MAP,
	YNODE_SEQ,
};

struct ynode {
	enum ynode_kind	 kind;
	unsigned	 line, col;	/* 1-based */
	int		 plain;		/* scalar written without quotes */
	int		 bad;		/* already reported; skip silently */
	const char	*text;		/* scalar, NUL-terminated */
	size_t		 len;
	size_t		 n;		/* items, or pairs for a map */
	struct ynode	**items;	/* seq: n items; map: key,value,key,value... */
};

/*
 * Check the bytes (NUL, UTF-8, tabs, control characters), then parse one
 * YAML document into *root (NULL when the document is empty).  Returns 0
 * when the tree can be walked, -1 when parsing had to stop (the reason
 * is in d).
 */
int	 yaml_load(struct ynode **root, struct arena *, struct diags *d,
	    const char *data, size_t len);

/* A plain scalar that YAML reads as null ("", "~", "null"). */
int	 ynode_is_null(const struct ynode *);

/*
 * Build the spec from the tree (lib/spec/schema.c).  stem may be NULL.
 * Returns the spec (in the arena) or NULL if anything was reported.
 */
struct spec *schema_build(struct arena *, struct diags *, const struct ynode *root,
	    const char *stem, const struct spec_options *);

/* Canonical form of spec (docs/spec.md), appended to out. */
int	 spec_canonical(struct buf *out, const struct spec *);

/*
 * Value checks (lib/spec/check.c).  Each returns 0 when s is acceptable,
 * else -1 with a reason (no trailing period) written to why.
 */
int	 check_name(const char *s, char *why, size_t whysz);
int	 check_cidr(struct spec_cidr *out, char *norm, size_t normsz, const char *s,
	    char *why, size_t whysz);
int	 check_docker_image(const char *s, char *why, size_t whysz);
int	 check_repo_url(const char *s, char *why, size_t whysz);
int	 check_branch(const char *s, char *why, size_t whysz);
int	 check_env_name(const char *s, char *why, size_t whysz);
int	 check_region(const char *s, char *why, size_t whysz);
int	 check_instance_type(const char *s, char *why, size_t whysz);
int	 check_public_key(const char *s, char *why, size_t whysz);
int	 check_price(char *norm, size_t normsz, const char *s, char *why, size_t whysz);
int	 check_tag_chars(const char *s, char *why, size_t whysz);
/* Number of UTF-8 characters in s (s is valid UTF-8). */
size_t	 utf8_count(const char *s);
/* Levenshtein distance, capped at cap+1. */
size_t	 edit_distance(const char *a, const char *b, size_t cap);
/* Quote s for a message: escaped, at most ~60 characters. */
char	*quote_for_msg(char *out, size_t outsz, const char *s);

#endif
