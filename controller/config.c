/*
 * config.c - the option table, its parsers and its three sources
 * (see config.h).
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "duration.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "pipeline.h"
#include "spec.h"

struct config_option;

enum config_type {
	CONFIG_STRING,		/* char * */
	CONFIG_INT,		/* int: non-negative decimal, within [min, max] */
	CONFIG_BOOL,		/* int: true/false/yes/no/on/off/1/0 */
	CONFIG_DURATION,	/* long long seconds: 30s, 5m, 1h30m, 2d */
	CONFIG_ENUM,		/* a C enum: one of a '|'-separated list */
	CONFIG_CUSTOM,		/* a parsed composite value */
};

/* Parse value into out (a field of the option's type, not yet in place). */
typedef int config_parse_fn(const struct config_option *, void *out,
    const char *value);
/* Release what a field holds. */
typedef void config_dispose_fn(const struct config_option *, void *field);

struct config_option {
	const char		*name;
	enum config_type	 type;
	size_t			 off, size;	/* the field in struct config */
	const char		*def;
	long long		 min, max;	/* CONFIG_INT, CONFIG_DURATION */
	const char		*choices;	/* CONFIG_ENUM: "a|b|c" */
	int			 secret;	/* never echoed back */
	config_parse_fn		*parse;
	config_dispose_fn	*dispose;	/* NULL: nothing to release */
	const char		*help;
};


struct config_src {
	char	*text;		/* the value as given */
	char	*origin;
};

static config_parse_fn parse_string, parse_int, parse_bool, parse_duration;
static config_parse_fn parse_tag_prefix, parse_ready_checks, parse_pace;
static config_parse_fn parse_secret_env_prefix, parse_secret_ssm_prefix;
static config_parse_fn parse_secrets_dir;
static config_parse_fn parse_log_level, parse_log_format, parse_budget;
static config_parse_fn parse_quota, parse_idle_stop;
static config_dispose_fn dispose_string, dispose_quota;

#define FIELD(f)	offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define STR(f, def, help) \
	{ #f, CONFIG_STRING, FIELD(f), def, 0, 0, NULL, 0, parse_string, \
	  dispose_string, help }
#define SECRET(f, def, help) \
	{ #f, CONFIG_STRING, FIELD(f), def, 0, 0, NULL, 1, parse_string, \
	  dispose_string, help }
#define INT(f, def, lo, hi, help) \
	{ #f, CONFIG_INT, FIELD(f), def, lo, hi, NULL, 0, parse_int, NULL, help }
#define BOOL(f, def, help) \
	{ #f, CONFIG_BOOL, FIELD(f), def, 0, 0, NULL, 0, parse_bool, NULL, help }
#define DURATION(f, def, lo, hi, help) \
	{ #f, CONFIG_DURATION, FIELD(f), def, lo, hi, NULL, 0, parse_duration, \
	  NULL, help }
#define ENUM(f, def, choices, parse, help) \
	{ #f, CONFIG_ENUM, FIELD(f), def, 0, 0, choices, 0, parse, NULL, help }
#define CUSTOM(f, def, parse, dispose, help) \
	{ #f, CONFIG_CUSTOM, FIELD(f), def, 0, 0, NULL, 0, parse, dispose, help }

/*
 * Every setting envctl has, each bound to its field of struct config
 * (the macros take the field's name as the option's name, so the two
 * cannot differ).  Keep docs/envctl.conf.example and envctl.conf(5) in
 * step.
 */
static const struct config_option options[] = {
	SECRET(database_url, "",
	    "PostgreSQL conninfo or URI; empty: libpq's PG* variables"),
	STR(specs, "",
	    "a local directory of spec files (instead of spec_repo)"),
	STR(spec_repo, "",
	    "git URL of the spec repository (https, ssh, file or a path)"),
	STR(spec_branch, "main",
	    "branch of spec_repo to follow"),
	STR(spec_path, "",
	    "directory inside the repository holding the specs"),
	DURATION(spec_poll_interval, "30s", 1, 86400,
	    "how often spec_repo is fetched"),
	DURATION(spec_poll_backoff_max, "5m", 1, 86400,
	    "after failed fetches of spec_repo, the longest wait between tries "
	    "(the wait doubles from spec_poll_interval up to this)"),
	STR(spec_token_file, "",
	    "https spec_repo: file holding the access token (read at each fetch)"),
	STR(spec_ssh_key, "",
	    "ssh spec_repo: private key file (no passphrase)"),
	STR(spec_known_hosts, "",
	    "ssh spec_repo: known_hosts file the server's key must be in"),
	STR(spec_ca_file, "",
	    "https spec_repo: PEM file of CAs trusted besides the system's"),
	STR(state_dir, "/var/lib/envctl",
	    "where checkouts of spec_repo are kept"),
	STR(cluster_id, "default",
	    "this controller's cluster; its instances are tagged with it, its rows carry it"),
	CUSTOM(tag_prefix, "envctl", parse_tag_prefix, dispose_string,
	    "prefix of the tags envctl sets and reads (envctl:managed, ...); a trailing ':' is optional"),
	STR(region, "",
	    "default AWS region; empty: AWS_REGION, then us-east-1"),
	STR(s3_bucket, "",
	    "bucket for SSH keys, secrets and bootstrap markers"),
	STR(s3_prefix, "envctl",
	    "key prefix inside s3_bucket"),
	CUSTOM(secret_env_prefix, "ENVCTL_SECRET_", parse_secret_env_prefix,
	    dispose_string,
	    "spec secrets {env: X}: only variables starting with this; empty: off"),
	CUSTOM(secrets_dir, "", parse_secrets_dir, dispose_string,
	    "spec secrets {file: X}: directory of secret files (systemd: %d); empty: off"),
	CUSTOM(secret_ssm_prefix, "/envctl/", parse_secret_ssm_prefix,
	    dispose_string,
	    "spec secrets {ssm: /X}: only SSM parameters under this path; empty: off"),
	INT(max_parallel, "8", 1, 256,
	    "pipelines run at once"),
	INT(max_terminations_per_pass, "10", 0, 100000,
	    "deletion budget of one pass (unless --force)"),
	CUSTOM(termination_budget, "10/10m", parse_budget, NULL,
	    "deletion budget over time as N/DURATION: at most N terminations in any DURATION, counted from the database (unless --force); off: none"),
	CUSTOM(quota, "", parse_quota, dispose_quota,
	    "quotas on new environments as WHO: LIMIT...; ... where WHO is a workspace or * (the cluster) and LIMIT envs=N, vcpus=N or usd_per_hour=X; empty: none"),
	BOOL(allow_empty, "false",
	    "let an empty spec tree terminate every environment"),
	DURATION(orphan_grace, "10m", 0, 86400 * 30,
	    "age before an unknown tagged instance counts as an orphan"),
	DURATION(resync_interval, "5m", 1, 86400,
	    "time between full passes when nothing changes"),
	DURATION(spot_resync_interval, "30s", 0, 86400,
	    "time between full passes while there are spot instances, so a spot interruption notice is acted on within it; 0: resync_interval"),
	DURATION(spot_price_refresh, "1h", 0, 86400 * 7,
	    "how old a running spot instance's booked price may get before a pass reads its zone's spot price again (one DescribeSpotPriceHistory per region and type) and books the new one from then on; 0: off"),
	DURATION(leader_lease, "15s", 3, 3600,
	    "leader lease: renewed every third of it; a standby takes over once it expired; the leader stops changing AWS a third of it before"),
	INT(max_attempts, "5", 1, 1000,
	    "failed provisions before giving up until the spec changes"),
	DURATION(backoff_base, "30s", 1, 86400,
	    "first retry delay after a failure (doubles each attempt)"),
	DURATION(backoff_max, "1h", 1, 86400 * 7,
	    "longest retry delay"),
	DURATION(provision_sla, "2m", 0, 86400,
	    "provision time (row to ready) above which a provision.sla.missed event is recorded and counted; 0: off"),
	CUSTOM(ready_checks, "status,marker,hostkey", parse_ready_checks, NULL,
	    "readiness checks: any of status, ssh, marker, hostkey"),
	INT(ready_ssh_port, "22", 1, 65535,
	    "port the ssh readiness check connects to on the instance; envctl ssh and ssh-config use it too"),
	CUSTOM(idle_stop, "0", parse_idle_stop, NULL,
	    "fleet default of lifecycle.idle_stop for specs that do not set it: power an environment off after this long without SSH and with low load; 0: off, else 10m..7d; applies to new launches only"),
	STR(ssh, "ssh",
	    "the ssh program envctl ssh runs (a name on PATH or a path)"),
	INT(aws_max_attempts, "3", 1, 20,
	    "attempts per AWS call (standard retry mode)"),
	CUSTOM(ec2_rate_limits, AWS_PACE_DEFAULT, parse_pace, NULL,
	    "client-side pacing of EC2 calls per class as burst:per-second (EC2's account limits); off: none"),
	STR(price_table, "",
	    "file of on-demand prices (region instance-type usd-per-hour) overriding the built-in table"),
	ENUM(log_level, "info", "error|warn|info|debug", parse_log_level,
	    "least important messages logged"),
	ENUM(log_format, "text", "text|json", parse_log_format,
	    "text lines, or one JSON object per line for log shippers"),
	STR(listen, "127.0.0.1:9464",
	    "address of /metrics, /healthz and the status page; empty: off"),
};

#define NOPTIONS	(sizeof(options) / sizeof(options[0]))

static const struct config_option *
option_find(const char *name, size_t *idx)
{
	size_t i;

	for (i = 0; i < NOPTIONS; i++) {
		if (strcmp(options[i].name, name) == 0) {
			if (idx != NULL)
				*idx = i;
			return &options[i];
		}
	}
	return NULL;
}

static void *
option_field(struct config *c, const struct config_option *opt)
{
	return (char *)c + opt->off;
}

/* Parse value into the field of opt, replacing what it held; ERR_INVALID. */
static int
option_apply(struct config *c, const struct config_option *opt,
    const char *value)
{
	union {
		char			*s;
		int			 i;
		long long		 ll;
		unsigned		 u;
		struct config_pace	 pace;
		struct config_quotas	 quotas;
		enum log_level		 level;
		enum log_format		 format;
	} tmp;
	void *field = option_field(c, opt);

	assert(opt->size <= sizeof(tmp));
	memset(&tmp, 0, sizeof(tmp));
	if (opt->parse(opt, &tmp, value) < 0)
		return ERR_INVALID;
	if (opt->dispose != NULL)
		opt->dispose(opt, field);
	memcpy(field, &tmp, opt->size);
	return 0;
}

static void
src_set(struct config_src *s, const struct config_option *opt,
    const char *value, const char *origin)
{
	if (opt->secret)
		mem_free_secret(s->text);
	else
		free(s->text);
	free(s->origin);
	s->text = xstrdup(value);
	s->origin = xstrdup(origin);
}

struct config *
config_new(void)
{
	struct config *c = xcalloc(1, sizeof(*c));
	size_t i;

	c->src = xcalloc(NOPTIONS, sizeof(*c->src));
	for (i = 0; i < NOPTIONS; i++) {
		if (option_apply(c, &options[i], options[i].def) < 0)
			fatalx("config: the default of %s: %s", options[i].name,
			    err_get());
		src_set(&c->src[i], &options[i], options[i].def, "default");
	}
	return c;
}

void
config_free(struct config *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < NOPTIONS; i++) {
		if (options[i].dispose != NULL)
			options[i].dispose(&options[i], option_field(c, &options[i]));
		if (options[i].secret)
			mem_free_secret(c->src[i].text);
		else
			free(c->src[i].text);
		free(c->src[i].origin);
	}
	free(c->src);
	pipeline_prices_free(c->prices);
	free(c);
}

/* ---- parsers, one per kind of field ---------------------------------- */

static void
dispose_quota(const struct config_option *opt, void *field)
{
	struct config_quotas *q = field;
	size_t i;

	(void)opt;
	for (i = 0; i < q->n; i++)
		free((char *)(uintptr_t)q->v[i].workspace);
	free(q->v);
	q->v = NULL;
	q->n = 0;
}

/* One "WHO: LIMIT..." entry of quota into *qt; ERR_INVALID. */
static int
parse_quota_one(const struct config_option *opt, struct plan_quota *qt,
    char *entry)
{
	char *colon = strchr(entry, ':'), *w, *save = NULL, *end, *eq;
	const char *who;
	double v;
	size_t k;

	memset(qt, 0, sizeof(*qt));
	if (colon == NULL) {
		err_set("%s: \"%s\": expected WHO: LIMIT... (\"team-a: envs=10\")",
		    opt->name, entry);
		return ERR_INVALID;
	}
	*colon = '\0';
	who = entry + strspn(entry, " \t");
	for (k = strlen(who); k > 0 && (who[k - 1] == ' ' || who[k - 1] == '\t');)
		entry[(size_t)(who - entry) + --k] = '\0';
	if (*who == '\0' || strspn(who, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-*") != strlen(who) ||
	    (strchr(who, '*') != NULL && strcmp(who, "*") != 0)) {
		err_set("%s: \"%s\": WHO is a workspace name or * (the cluster)",
		    opt->name, who);
		return ERR_INVALID;
	}
	for (w = strtok_r(colon + 1, " \t", &save); w != NULL;
	    w = strtok_r(NULL, " \t", &save)) {
		if ((eq = strchr(w, '=')) == NULL)
			goto bad;
		*eq = '\0';
		errno = 0;
		v = strtod(eq + 1, &end);
		if (errno != 0 || end == eq + 1 || *end != '\0' || v < 0 ||
		    v > 1e9)
			goto bad;
		if (strcmp(w, "envs") == 0 && v == (unsigned)v)
			qt->max_envs = (unsigned)v;
		else if (strcmp(w, "vcpus") == 0 && v == (unsigned)v)
			qt->max_vcpus = (unsigned)v;
		else if (strcmp(w, "usd_per_hour") == 0)
			qt->max_usd_per_hour = v;
		else
			goto bad;
		*eq = '=';
	}
	if (qt->max_envs == 0 && qt->max_vcpus == 0 && qt->max_usd_per_hour == 0) {
		err_set("%s: \"%s\": no limit given (envs=N, vcpus=N, "
		    "usd_per_hour=X)", opt->name, who);
		return ERR_INVALID;
	}
	qt->workspace = strcmp(who, "*") == 0 ? NULL : xstrdup(who);
	return 0;
bad:
	err_set("%s: %s: \"%s\": a limit is envs=N, vcpus=N (whole numbers) or "
	    "usd_per_hour=X", opt->name, who, w);
	return ERR_INVALID;
}

static int
parse_quota(const struct config_option *opt, void *out, const char *value)
{
	struct config_quotas *q = out;
	char *copy = xstrdup(value), *e, *save = NULL;
	size_t i;
	int error = 0;

	memset(q, 0, sizeof(*q));
	for (e = strtok_r(copy, ";", &save); e != NULL;
	    e = strtok_r(NULL, ";", &save)) {
		if (e[strspn(e, " \t")] == '\0')
			continue;
		q->v = xreallocarray(q->v, q->n + 1, sizeof(*q->v));
		if ((error = parse_quota_one(opt, &q->v[q->n], e)) < 0)
			break;
		for (i = 0; i < q->n; i++)
			if ((q->v[i].workspace == NULL) ==
			    (q->v[q->n].workspace == NULL) &&
			    (q->v[i].workspace == NULL || strcmp(q->v[i].workspace,
			    q->v[q->n].workspace) == 0)) {
				err_set("%s: %s is given twice", opt->name,
				    q->v[q->n].workspace != NULL ?
				    q->v[q->n].workspace : "*");
				free((char *)(uintptr_t)q->v[q->n].workspace);
				error = ERR_INVALID;
				break;
			}
		if (error < 0)
			break;
		q->n++;
	}
	free(copy);
	if (error < 0)
		dispose_quota(opt, q);
	return error;
}

static void
dispose_string(const struct config_option *opt, void *field)
{
	char **p = field;

	if (opt->secret)
		mem_free_secret(*p);
	else
		free(*p);
	*p = NULL;
}

static int
parse_string(const struct config_option *opt, void *out, const char *value)
{
	(void)opt;
	*(char **)out = xstrdup(value);
	return 0;
}

static int
bool_word(int *out, const char *s)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

static int
parse_bool(const struct config_option *opt, void *out, const char *value)
{
	if (bool_word(out, value) < 0) {
		err_set("%s: expected true or false", opt->name);
		return ERR_INVALID;
	}
	return 0;
}

static int
in_range(const struct config_option *opt, long long n, const char *value)
{
	if (n < opt->min || n > opt->max) {
		err_set("%s: %s is out of range [%lld, %lld]", opt->name, value,
		    opt->min, opt->max);
		return ERR_INVALID;
	}
	return 0;
}

static int
parse_int(const struct config_option *opt, void *out, const char *value)
{
	long long n;
	char *end;

	if (*value == '\0' || !isdigit((unsigned char)*value)) {
		err_set("%s: expected a whole number", opt->name);
		return ERR_INVALID;
	}
	errno = 0;
	n = strtoll(value, &end, 10);
	if (errno != 0 || *end != '\0') {
		err_set("%s: expected a whole number", opt->name);
		return ERR_INVALID;
	}
	if (in_range(opt, n, value) < 0)
		return ERR_INVALID;
	*(int *)out = (int)n;
	return 0;
}

static int
parse_duration(const struct config_option *opt, void *out, const char *value)
{
	long long n;

	if (duration_parse(&n, value) < 0) {
		err_prefix("%s", opt->name);
		return ERR_INVALID;
	}
	if (in_range(opt, n, value) < 0)
		return ERR_INVALID;
	*(long long *)out = n;
	return 0;
}

/* idle_stop: 0 (off) or a duration of SPEC_IDLE_STOP_MIN..MAX, as in a spec. */
static int
parse_idle_stop(const struct config_option *opt, void *out, const char *value)
{
	long long n;

	if (duration_parse(&n, value) < 0) {
		err_prefix("%s", opt->name);
		return ERR_INVALID;
	}
	if (n != 0 && (n < SPEC_IDLE_STOP_MIN || n > SPEC_IDLE_STOP_MAX)) {
		err_set("%s: '%s' is neither 0 (off) nor between 10m and 7d",
		    opt->name, value);
		return ERR_INVALID;
	}
	*(long long *)out = n;
	return 0;
}

/* "N/DURATION" (N 0..100000, DURATION 1s..30d) or "off". */
static int
parse_budget(const struct config_option *opt, void *out, const char *value)
{
	struct config_budget *b = out;
	long long n, w;
	const char *slash = strchr(value, '/');
	char *end;

	if (strcmp(value, "off") == 0) {
		b->count = 0;
		b->window = 0;
		return 0;
	}
	if (slash == NULL || !isdigit((unsigned char)*value)) {
		err_set("%s: expected N/DURATION (\"10/10m\") or off", opt->name);
		return ERR_INVALID;
	}
	errno = 0;
	n = strtoll(value, &end, 10);
	if (errno != 0 || end != slash || n > 100000) {
		err_set("%s: %s: N must be a whole number 0..100000", opt->name,
		    value);
		return ERR_INVALID;
	}
	if (duration_parse(&w, slash + 1) < 0) {
		err_prefix("%s", opt->name);
		return ERR_INVALID;
	}
	if (w < 1 || w > 86400 * 30) {
		err_set("%s: %s: the window must be 1s..30d", opt->name, value);
		return ERR_INVALID;
	}
	b->count = (int)n;
	b->window = w;
	return 0;
}

/* The index of s in choices "a|b|c", or -1. */
static int
enum_index(const char *choices, const char *s)
{
	size_t n = strlen(s);
	const char *p = choices;
	int i = 0;

	while (*p != '\0') {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == n && strncmp(p, s, n) == 0)
			return i;
		p += len + (bar != NULL);
		i++;
	}
	return -1;
}

static int
enum_parse(int *out, const struct config_option *opt, const char *value)
{
	if ((*out = enum_index(opt->choices, value)) < 0) {
		err_set("%s: expected one of %s", opt->name, opt->choices);
		return ERR_INVALID;
	}
	return 0;
}

static int
parse_log_level(const struct config_option *opt, void *out, const char *value)
{
	static const enum log_level levels[] = { LOG_LEVEL_ERROR, LOG_LEVEL_WARN,
	    LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };	/* in the order of choices */
	int i;

	if (enum_parse(&i, opt, value) < 0)
		return ERR_INVALID;
	*(enum log_level *)out = levels[i];
	return 0;
}

static int
parse_log_format(const struct config_option *opt, void *out, const char *value)
{
	static const enum log_format formats[] = { LOG_FORMAT_TEXT,
	    LOG_FORMAT_JSON };	/* in the order of choices */
	int i;

	if (enum_parse(&i, opt, value) < 0)
		return ERR_INVALID;
	*(enum log_format *)out = formats[i];
	return 0;
}

/*
 * The prefix of envctl's tags, kept without its ':' (the tags are
 * "<prefix>:managed", ...): "envctl" and "envctl:" are the same prefix
 * wherever it is used.
 */
static int
parse_tag_prefix(const struct config_option *opt, void *out, const char *value)
{
	size_t n = strlen(value), i;

	if (n > 0 && value[n - 1] == ':')
		n--;
	if (n == 0 || n > 40) {
		err_set("%s: must be 1..40 characters", opt->name);
		return ERR_INVALID;
	}
	for (i = 0; i < n; i++)
		/* what AWS allows in a tag key */
		if (!isalnum((unsigned char)value[i]) &&
		    strchr(" _.:/=+-@", value[i]) == NULL) {
			err_set("%s: '%c' is not allowed in a tag prefix", opt->name,
			    isprint((unsigned char)value[i]) ? value[i] : '?');
			return ERR_INVALID;
		}
	*(char **)out = xstrndup(value, n);
	return 0;
}

/*
 * The variables a spec's {env: X} may name start with this prefix.  A
 * prefix that the controller's own secrets start with would hand them to
 * whoever commits a spec, so it is refused.
 */
static int
parse_secret_env_prefix(const struct config_option *opt, void *out,
    const char *value)
{
	static const char *const own[] = { "AWS_ACCESS_KEY_ID",
	    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PGPASSWORD",
	    "PGPASSFILE", "ENVCTL_DATABASE_URL", NULL };
	size_t n = strlen(value), i;

	if (n > 64) {
		err_set("%s: at most 64 characters", opt->name);
		return ERR_INVALID;
	}
	for (i = 0; i < n; i++)
		if ((!isalnum((unsigned char)value[i]) && value[i] != '_') ||
		    (i == 0 && isdigit((unsigned char)value[i]))) {
			err_set("%s: must be the start of a variable name "
			    "([A-Za-z_][A-Za-z0-9_]*)", opt->name);
			return ERR_INVALID;
		}
	for (i = 0; n > 0 && own[i] != NULL; i++)
		if (strncmp(own[i], value, n) == 0) {
			err_set("%s: %s starts with it; the prefix must leave out "
			    "the controller's own credentials", opt->name, own[i]);
			return ERR_INVALID;
		}
	*(char **)out = xstrdup(value);
	return 0;
}

/* The SSM parameters a spec's {ssm: X} may name are under this path. */
static int
parse_secret_ssm_prefix(const struct config_option *opt, void *out,
    const char *value)
{
	size_t n = strlen(value), i;

	if (n > 0 && (n < 3 || value[0] != '/' || value[n - 1] != '/' || n > 200 ||
	    strstr(value, "//") != NULL)) {
		err_set("%s: must be a path like /envctl/ (starts and ends with '/', "
		    "not / alone), or empty", opt->name);
		return ERR_INVALID;
	}
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)value[i]) &&
		    strchr("_.-/", value[i]) == NULL) {
			err_set("%s: only letters, digits and '_', '.', '-', '/'",
			    opt->name);
			return ERR_INVALID;
		}
	*(char **)out = xstrdup(value);
	return 0;
}

/* Secret files are read from this directory at use: an absolute path. */
static int
parse_secrets_dir(const struct config_option *opt, void *out, const char *value)
{
	if (*value != '\0' && *value != '/') {
		err_set("%s: must be an absolute path, or empty", opt->name);
		return ERR_INVALID;
	}
	*(char **)out = xstrdup(value);
	return 0;
}

static int
parse_ready_checks(const struct config_option *opt, void *out, const char *value)
{
	(void)opt;
	/* its message starts with "ready_checks: " */
	return pipeline_checks_parse(out, value) < 0 ? ERR_INVALID : 0;
}

static int
parse_pace(const struct config_option *opt, void *out, const char *value)
{
	struct config_pace *p = out;

	if (aws_pace_limits_parse(&p->limits, &p->off, value) < 0) {
		err_prefix("%s", opt->name);
		return ERR_INVALID;
	}
	return 0;
}

/* ---- sources --------------------------------------------------------- */

int
config_set(struct config *c, const char *key, const char *value,
    const char *origin)
{
	const struct config_option *opt;
	size_t i;

	if ((opt = option_find(key, &i)) == NULL) {
		err_set("%s: unknown option '%s'", origin, key);
		return ERR_INVALID;
	}
	if (strlen(value) > 4096) {
		err_set("%s: %s: value longer than 4096 bytes", origin, key);
		return ERR_INVALID;
	}
	if (option_apply(c, opt, value) < 0) {
		err_prefix("%s", origin);
		return ERR_INVALID;
	}
	src_set(&c->src[i], opt, value, origin);
	return 0;
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int
config_load_text(struct config *c, const char *text, const char *file)
{
	char *copy = xstrdup(text), *line, *next, *eq, *key, *val;
	char origin[512];
	int lineno = 0, error = 0;

	for (line = copy; line != NULL && error == 0; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		lineno++;
		line = trim(line);
		if (*line == '\0' || *line == '#')
			continue;
		snprintf(origin, sizeof(origin), "%s:%d", file, lineno);
		if ((eq = strchr(line, '=')) == NULL) {
			err_set("%s: expected 'key = value'", origin);
			error = ERR_INVALID;
			break;
		}
		*eq = '\0';
		key = trim(line);
		val = trim(eq + 1);
		/* Allow "quoted values" for strings with spaces or '#'. */
		if (val[0] == '"' && strlen(val) >= 2 && val[strlen(val) - 1] == '"') {
			val[strlen(val) - 1] = '\0';
			val++;
		}
		error = config_set(c, key, val, origin);
	}
	mem_wipe(copy, strlen(text));
	free(copy);
	return error;
}

static int
config_load_file(struct config *c, const char *path, int must_exist)
{
	struct buf b;
	char chunk[4096];
	FILE *fp;
	size_t n;
	int error = 0;

	if ((fp = fopen(path, "r")) == NULL) {
		if (!must_exist && errno == ENOENT)
			return 0;
		err_set("%s: %s", path, strerror(errno));
		return ERR_NOTFOUND;
	}
	buf_init_secret(&b, 1 << 20);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		if ((error = buf_add(&b, chunk, n)) < 0) {
			err_prefix("%s", path);
			break;
		}
	if (error == 0 && ferror(fp)) {
		err_set("%s: read error", path);
		error = ERR_GENERIC;
	}
	fclose(fp);
	if (error == 0)
		error = config_load_text(c, buf_cstr(&b), path);
	mem_wipe(chunk, sizeof(chunk));
	buf_dispose(&b);
	return error;
}

static int
config_load_env(struct config *c)
{
	char name[128];
	const char *val;
	size_t i, j;
	int error;

	for (i = 0; i < NOPTIONS; i++) {
		snprintf(name, sizeof(name), "ENVCTL_%s", options[i].name);
		for (j = 7; name[j] != '\0'; j++)
			name[j] = (char)toupper((unsigned char)name[j]);
		if ((val = getenv(name)) == NULL)
			continue;
		if ((error = config_set(c, options[i].name, val, name)) < 0)
			return error;
	}
	return 0;
}

static int
is_bool_option(const char *key)
{
	const struct config_option *opt = option_find(key, NULL);

	return opt != NULL && opt->type == CONFIG_BOOL;
}

/*
 * Consume --key value / --key=value for known keys and --config; keep the
 * rest in order.  Returns the config path given (or NULL).
 */
static int
config_take_flags(struct config *c, int *argcp, char **argv,
    const char **config_path, int apply)
{
	int i, out = 1, error = 0;

/* Keep argv[i] for the command (only when applying: pass 0 only looks). */
#define KEEP(i)	do { if (apply) argv[out] = argv[i]; out++; } while (0)
	for (i = 1; i < *argcp; i++) {
		const char *a = argv[i], *val = NULL;
		char key[128];
		size_t klen;
		int consumed_next = 0;

		if (strcmp(a, "--") == 0) {
			/* stop: keep "--" and the rest for the command */
			for (; i < *argcp; i++)
				KEEP(i);	/* not KEEP(i++): apply 0 skips the body */
			break;
		}
		if (strncmp(a, "--", 2) != 0) {
			KEEP(i);
			continue;
		}
		a += 2;
		klen = strcspn(a, "=");
		if (klen >= sizeof(key)) {
			KEEP(i);
			continue;
		}
		memcpy(key, a, klen);
		key[klen] = '\0';
		for (size_t k = 0; k < klen; k++)
			if (key[k] == '-')
				key[k] = '_';
		if (strcmp(key, "config") != 0 && option_find(key, NULL) == NULL) {
			KEEP(i);
			continue;
		}
		if (a[klen] == '=')
			val = a + klen + 1;
		else if (is_bool_option(key)) {
			/* --allow-empty alone means true; a following true/false is its value */
			int b;

			val = "true";
			if (i + 1 < *argcp && bool_word(&b, argv[i + 1]) == 0) {
				val = argv[i + 1];
				consumed_next = 1;
			}
		} else if (i + 1 < *argcp) {
			val = argv[i + 1];
			consumed_next = 1;
		} else {
			err_set("--%s needs a value", key);
			return ERR_INVALID;
		}
		if (strcmp(key, "config") == 0)
			*config_path = val;
		else if (apply && (error = config_set(c, key, val, "flag")) < 0)
			return error;
		i += consumed_next;
	}
#undef KEEP
	if (apply) {
		argv[out] = NULL;
		*argcp = out;
	}
	return 0;
}

int
config_load(struct config *c, int *argcp, char **argv)
{
	const char *path = NULL;
	int error;

	/* First find --config without consuming anything. */
	if ((error = config_take_flags(c, argcp, argv, &path, 0)) < 0)
		return error;
	if (path == NULL && (path = getenv("ENVCTL_CONFIG")) != NULL && *path == '\0')
		path = NULL;
	if ((error = config_load_file(c, path ? path : CONFIG_DEFAULT_PATH,
	    path != NULL)) < 0)
		return error;
	if ((error = config_load_env(c)) < 0)
		return error;
	if ((error = config_take_flags(c, argcp, argv, &path, 1)) < 0)
		return error;
	return config_complete(c);
}

int
config_complete(struct config *c)
{
	struct pipeline_prices *p = NULL;

	if (*c->price_table != '\0' &&
	    pipeline_prices_load(&p, c->price_table) < 0) {
		err_prefix("price_table");
		return ERR_INVALID;
	}
	pipeline_prices_free(c->prices);
	c->prices = p;
	return 0;
}

const char *
config_text(const struct config *c, const char *key)
{
	size_t i;

	if (option_find(key, &i) == NULL)
		return NULL;
	return c->src[i].text;
}

const char *
config_origin(const struct config *c, const char *key)
{
	size_t i;

	if (option_find(key, &i) == NULL)
		return NULL;
	return c->src[i].origin;
}

size_t
config_count(void)
{
	return NOPTIONS;
}

const char *
config_key(size_t i)
{
	return i < NOPTIONS ? options[i].name : NULL;
}

int
config_is_secret(const char *key)
{
	const struct config_option *opt = option_find(key, NULL);

	return opt != NULL && opt->secret;
}

void
config_write_example(FILE *fp)
{
	size_t i;

	fprintf(fp, "# envctl.conf - every option with its default.\n"
	    "# Each can also be set as ENVCTL_<OPTION> in the environment or as\n"
	    "# --<option> on the command line; flags win over the environment,\n"
	    "# which wins over this file.\n");
	for (i = 0; i < NOPTIONS; i++) {
		fprintf(fp, "\n# %s", options[i].help);
		if (options[i].type == CONFIG_ENUM)
			fprintf(fp, " (%s)", options[i].choices);
		else if (options[i].type == CONFIG_INT)
			fprintf(fp, " (%lld..%lld)", options[i].min, options[i].max);
		else if (options[i].type == CONFIG_DURATION)
			fprintf(fp, " (a duration: 30s, 5m, 1h30m)");
		fprintf(fp, "\n#%s = %s\n", options[i].name, options[i].def);
	}
}
