/*
 * spec.h - environment specs: parse, validate, hash, load a directory.
 *
 * A spec file (docs/spec.md, docs/design.md §4) is parsed with libyaml into a
 * typed struct spec with every default applied.  Every problem of a file
 * is collected as a diagnostic "file:line:col: message" (1-based line and
 * column, columns counted in characters).  A valid spec has a canonical
 * hash "v1:<64 hex>" (SHA-256 over the canonical form in docs/spec.md).
 *
 * A directory of specs is loaded into one immutable snapshot, struct
 * spec_tree, sorted by name.  Invalid files are kept as invalid entries;
 * they are never dropped.  A loaded tree never changes, so several
 * threads may read it at once; loading and freeing are the caller's to
 * order.
 *
 * struct spec and its parts are plain read-only data owned by the entry
 * (or tree) they come from: they live until spec_entry_free() /
 * spec_tree_free() and must not be modified.
 *
 * A lean tree (spec_options.lean) is for passes over many specs: every
 * file is read, parsed, validated and hashed exactly as in a full tree
 * (same entries, validity, hashes, diagnostics, duplicate handling), but
 * each spec is built in scratch memory reused from file to file, and an
 * entry keeps only its path, name, hash, diagnostics and a struct
 * spec_brief: what a pass plans with.  spec_entry_spec() is NULL there;
 * the whole spec of the few entries an action runs for is read again
 * with spec_tree_reload() or spec_entry_reload(), which fail when the
 * file is no longer what the tree holds.
 */
#ifndef ENVCTL_SPEC_H
#define ENVCTL_SPEC_H

#include <stddef.h>
#include <stdint.h>

/* The canonical form's version; a stored hash of another form is not drift. */
#define SPEC_HASH_FORM_VERSION	1
#define SPEC_HASH_PREFIX	"v1:"
/* "v1:" + 64 hex digits + NUL */
#define SPEC_HASH_SIZE		(3 + 64 + 1)

/* Hostile-input limits (docs/spec.md "Limits"). */
#define SPEC_FILE_MAX		(1024 * 1024)	/* bytes, checked before parsing */
#define SPEC_DEPTH_MAX		32		/* nested mappings/sequences */
#define SPEC_SCALAR_MAX		16384		/* bytes in any one scalar */
#define SPEC_DIAG_MAX		100		/* diagnostics kept per file */
/* Tags the controller puts on every instance (envctl:managed, ..., Name). */
#define SPEC_TAGS_RESERVED	8
#define SPEC_TAGS_AWS_MAX	50

enum spec_market {
	SPEC_MARKET_ON_DEMAND = 0,
	SPEC_MARKET_SPOT,
};

enum spec_spot_fallback {
	SPEC_SPOT_FALLBACK_ON_DEMAND = 0,
	SPEC_SPOT_FALLBACK_NONE,
};

enum spec_key_mode {
	SPEC_KEY_AUTO = 0,	/* envctl generates a key pair */
	SPEC_KEY_NAME,		/* an existing EC2 key pair, by name */
	SPEC_KEY_PUBLIC,	/* the user's own public key */
};

enum spec_key_type {
	SPEC_KEY_ED25519 = 0,
	SPEC_KEY_RSA,
};

enum spec_protocol {
	SPEC_PROTO_TCP = 0,
	SPEC_PROTO_UDP,
};

enum spec_on_drift {
	SPEC_DRIFT_REPLACE = 0,
	SPEC_DRIFT_REPORT,
};

/* What an idle instance's own shutdown does (lifecycle.on_idle). */
enum spec_on_idle {
	SPEC_IDLE_STOP = 0,		/* stop, keeping the disk (on-demand) */
	SPEC_IDLE_TERMINATE,		/* terminate (spot; or asked for) */
};

/* lifecycle.idle_stop bounds; 0 is off. */
#define SPEC_IDLE_STOP_MIN	600
#define SPEC_IDLE_STOP_MAX	(7LL * 86400)

/* A key/value pair; the maps of a spec are sorted by key (bytewise). */
struct spec_kv {
	const char	*key;
	const char	*value;
};

/* A CIDR block; text is normalized ("2001:db8::/32"). */
struct spec_cidr {
	const char	*text;
	int		 family;	/* AF_INET or AF_INET6 */
	uint8_t		 addr[16];	/* network byte order, host bits zero */
	unsigned	 prefix;
};

struct spec_port {
	unsigned		 port;
	enum spec_protocol	 protocol;
	size_t			 nallow;
	const struct spec_cidr	*allow_from;
};

/*
 * A secret is a reference to a value the controller holds, never the
 * value: {env: VARIABLE} (a variable under secret_env_prefix), {file:
 * NAME} (a file in secrets_dir) or {ssm: /path} (an SSM parameter under
 * secret_ssm_prefix).  The prefixes are the spec_options' ones.
 */
enum spec_secret_source {
	SPEC_SECRET_ENV = 0,
	SPEC_SECRET_FILE,
	SPEC_SECRET_SSM,
};

struct spec_secret {
	const char		*name;
	enum spec_secret_source	 source;
	const char		*ref;	/* the variable, file name or parameter */
};

/* "env", "file" or "ssm": the reference's key in a spec and in the hash. */
const char	*spec_secret_source_name(enum spec_secret_source);

struct spec {
	const char	*api_version;		/* "envctl/v1" */
	const char	*kind;			/* "Environment" */
	const char	*name;
	const char	*workspace;		/* default "default" */
	size_t		 nlabels;
	const struct spec_kv *labels;
	const char	*region;		/* default from spec_options */

	struct {
		const char	*type;		/* default "t3.medium"; types[0] */
		/* acceptable types, most preferred first (at least type) */
		size_t		 ntypes;
		const char *const *types;
		const char	*image;		/* alias or ami id; default "al2023" */
		int		 image_is_ami;
		unsigned	 disk_size_gb;	/* default 20 */
		size_t		 nsubnets;
		const char *const *subnets;
		const char	*iam_instance_profile;	/* NULL: none */
		enum spec_market market;
		struct {
			const char		*max_price;	/* NULL: on-demand price */
			enum spec_spot_fallback	 fallback;
			long long		 timeout_s;	/* default 300 */
		} spot;
	} instance;

	struct {
		struct {
			enum spec_key_mode	 key;
			const char		*key_name;	/* SPEC_KEY_NAME */
			const char		*public_key;	/* SPEC_KEY_PUBLIC */
			enum spec_key_type	 key_type;	/* SPEC_KEY_AUTO */
			size_t			 nallow;
			const struct spec_cidr	*allow_from;
			int			 allow_world;
			const char		*user;	/* NULL: the image's login user */
		} ssh;
		size_t			 nports;
		const struct spec_port	*ports;
	} access;

	struct {
		const char	*docker_image;		/* NULL: none */
		const char	*repo_url;		/* NULL: none */
		const char	*repo_branch;		/* NULL: the remote's HEAD */
		size_t		 npackages;
		const char *const *system_packages;
		size_t		 nsetup;
		const char *const *setup;
		size_t		 nenvironment;
		const struct spec_kv *environment;
		size_t		 nsecrets;
		const struct spec_secret *secrets;
	} bootstrap;

	struct {
		long long	 ttl_s;			/* 0: no ttl */
		long long	 ready_timeout_s;	/* default 300 */
		enum spec_on_drift on_drift;		/* default replace */
		long long	 idle_stop_s;		/* -1: not said (the fleet
							   default), 0: off */
		enum spec_on_idle on_idle;		/* default stop */
		/*
		 * Spot only: shell commands the instance's interruption
		 * watcher runs once on a notice, as the login user in the
		 * workspace, within on_interruption_timeout_s (default 90).
		 */
		size_t		 non_interruption;
		const char *const *on_interruption;
		long long	 on_interruption_timeout_s;
	} lifecycle;

	size_t		 ntags;
	const struct spec_kv *tags;
};

/* One problem in one file.  line/col are 1-based; 0 when not known. */
struct spec_diag {
	unsigned	 line;
	unsigned	 col;
	const char	*message;
};

/*
 * The secret namespace: a spec may name only what is in it, so
 * validation and every pass refuse the controller's own variables
 * (AWS_SECRET_ACCESS_KEY, PGPASSWORD, ENVCTL_DATABASE_URL...).  An empty
 * prefix turns its source off; secret_files 0 turns {file:} off.
 */
struct spec_options {
	const char	*default_region;	/* NULL: "us-east-1" */
	const char	*tag_prefix;		/* NULL: "envctl:" */
	const char	*secret_env_prefix;	/* NULL: SPEC_SECRET_ENV_PREFIX */
	const char	*secret_ssm_prefix;	/* NULL: SPEC_SECRET_SSM_PREFIX */
	int		 secret_files;		/* 1: secrets_dir is set */
	int		 lean;			/* trees: keep briefs, not specs */
};

#define SPEC_SECRET_ENV_PREFIX	"ENVCTL_SECRET_"
#define SPEC_SECRET_SSM_PREFIX	"/envctl/"
/* The longest file name or SSM parameter name a secret may give. */
#define SPEC_SECRET_REF_MAX	255

/*
 * Whether a secret file name is acceptable: 1 to SPEC_SECRET_REF_MAX of
 * [A-Za-z0-9_.-], not starting with '.' (so never "." or "..") and no
 * '/'.  0 or -1 with a reason in why (for the pipeline's second check).
 */
int	 spec_secret_file_check(const char *s, char *why, size_t whysz);
/*
 * Whether an SSM parameter name is under prefix (which starts and ends
 * with '/'): [A-Za-z0-9_.-/] only, no "//", "/./" or "/../" part, at most
 * SPEC_SECRET_REF_MAX bytes.  0 or -1 with a reason in why.
 */
int	 spec_secret_ssm_check(const char *s, const char *prefix, char *why,
	    size_t whysz);

/*
 * What a pass needs of a valid spec, in full and lean trees alike; the
 * strings are owned by the entry's tree (or the standalone entry).
 */
struct spec_brief {
	const char		*workspace;
	const char		*region;
	const char		*instance_type;	/* the first of instance_types */
	/* instance.types: quotas count the largest (vCPUs, price) */
	const char *const	*instance_types;
	size_t			 ninstance_types;
	long long		 ttl_s;		/* 0: no ttl */
	enum spec_on_drift	 on_drift;
	long long		 idle_stop_s;	/* as in struct spec: -1 not said */
	enum spec_on_idle	 on_idle;
	enum spec_market	 market;
};

/*
 * The idle_stop in force for a spec, in seconds (0: no idle watcher):
 * the spec's own lifecycle.idle_stop when it says one (0 included), else
 * fleet_default_s (the idle_stop option), except for a spot spec that
 * does not say on_idle: terminate (a one-time spot instance cannot stop).
 */
long long spec_idle_stop_effective(long long idle_stop_s, enum spec_on_idle,
	    enum spec_market market, long long fleet_default_s);

struct spec_entry;
struct spec_tree;

/* Fill opts with the defaults (strings NULL, a full tree). */
void	 spec_options_init(struct spec_options *opts);

/*
 * Parse and validate len bytes at data as the spec file at path (used in
 * diagnostics and for the name's file stem; NULL means "<input>" and no
 * stem, so metadata.name is required).  opts may be NULL (opts->lean
 * does not apply: a standalone entry always has its spec).  Returns 0 and
 * a new entry in *out, valid or not (the caller frees it with
 * spec_entry_free()); data need not be NUL-terminated and is not kept.
 */
int	 spec_entry_parse(struct spec_entry **out, const char *path,
	    const void *data, size_t len, const struct spec_options *opts);

/*
 * Read and parse the file at path.  A file that is too big, not a regular
 * file or a symbolic link gives an invalid entry (0 is returned); a file
 * that cannot be opened or read gives ERR_NOTFOUND / ERR_GENERIC and no
 * entry.
 */
int	 spec_entry_load(struct spec_entry **out, const char *path,
	    const struct spec_options *opts);
/*
 * Read e's file again (e valid, typically of a lean tree) into a new
 * standalone entry with its whole spec, loaded with opts (give the
 * options e's tree was loaded with, or the hash cannot match).  Fails,
 * *out NULL and the message naming the file, with ERR_CONFLICT when the
 * file is gone, is now invalid or its hash differs from e's ("changed
 * since the pass read it; the next pass acts on the new version"),
 * ERR_INVALID when e is invalid, or ERR_GENERIC when it cannot be read.
 * e and its tree are not touched.  The caller frees *out.
 */
int	 spec_entry_reload(struct spec_entry **out, const struct spec_entry *e,
	    const struct spec_options *opts);
/* Free an entry from parse/load/reload (never one of a tree); NULL does nothing. */
void	 spec_entry_free(struct spec_entry *);

/* The name: metadata.name when valid, else the file stem ("" if none). */
const char	*spec_entry_name(const struct spec_entry *);
/* The path given to parse/load ("<input>" when none). */
const char	*spec_entry_path(const struct spec_entry *);
/* 1 when the file is a valid spec (no diagnostics), else 0. */
int		 spec_entry_valid(const struct spec_entry *);
/* The parsed spec; NULL when the entry is invalid or of a lean tree. */
const struct spec *spec_entry_spec(const struct spec_entry *);
/* "v1:<64 hex>", or NULL when the entry is invalid. */
const char	*spec_entry_hash(const struct spec_entry *);
/* The brief of a valid entry (lean or not), or NULL when invalid. */
const struct spec_brief *spec_entry_brief(const struct spec_entry *);
/* Number of diagnostics (0 exactly when valid); at most SPEC_DIAG_MAX. */
size_t		 spec_entry_diag_count(const struct spec_entry *);
/*
 * Diagnostic i in position order, or NULL past the end.  The message is
 * owned by the entry; print it as "<path>:<line>:<col>: <message>".
 */
const struct spec_diag *spec_entry_diag(const struct spec_entry *, size_t i);

/*
 * Load every *.yaml and *.yml file directly in dir (not recursive;
 * dotfiles and subdirectories are ignored) into a new tree sorted by name.
 * Two files with the same name are both invalid.  A missing or unreadable
 * directory, or a spec file that cannot be read, fails the whole load
 * (ERR_NOTFOUND / ERR_GENERIC, message in err_get()) and *out is NULL; an
 * empty directory gives an empty tree.  The caller frees the tree.
 */
int	 spec_tree_load(struct spec_tree **out, const char *dir,
	    const struct spec_options *opts);
/* Like spec_tree_load() for an explicit list of files (any extension). */
int	 spec_tree_load_files(struct spec_tree **out, const char *const *paths,
	    size_t npaths, const struct spec_options *opts);
/*
 * Read the files of v, valid entries of the tree from (lean or not),
 * again into a new full tree *out (sorted by name; an entry given twice
 * is read once), loaded with from's options.  Each is a valid entry
 * with its whole spec when the file still holds what from's entry was
 * read from, else an invalid one with e's name and, as its only
 * diagnostic, why (spec_entry_reload's messages: gone, invalid now,
 * changed since the pass read it).  from and its entries must outlive
 * the call only.  Returns 0, or a failpoint's error (test builds) with *out
 * NULL.  The caller frees *out.
 */
int	 spec_tree_reload(struct spec_tree **out, const struct spec_tree *from,
	    const struct spec_entry *const *v, size_t n);
/* Free the tree, its entries and their specs; NULL does nothing. */
void	 spec_tree_free(struct spec_tree *);

/* Entries in the tree, valid or not: a broken file still counts. */
size_t	 spec_tree_count(const struct spec_tree *);
/* How many of them are invalid. */
size_t	 spec_tree_invalid_count(const struct spec_tree *);
/* Entry i (0 <= i < count) in name order; owned by the tree. */
const struct spec_entry *spec_tree_entry(const struct spec_tree *, size_t i);
/* The first entry called name, or NULL. */
const struct spec_entry *spec_tree_find(const struct spec_tree *, const char *name);

/*
 * Write the hash of spec into out ("v1:" + 64 lowercase hex digits).
 * Returns 0, or ERR_LIMIT if the canonical form does not fit in memory
 * limits (it always does for a spec that passed validation).
 */
int	 spec_hash(char out[SPEC_HASH_SIZE], const struct spec *spec);
/* 1 if s is a hash of the current canonical form, else 0. */
int	 spec_hash_is_current(const char *s);
/* The form version of a stored hash ("v1:..." -> 1), or -1 if malformed. */
int	 spec_hash_form_version(const char *s);

#endif
