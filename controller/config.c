/*
 * config.c - the option table and its three sources (see config.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "duration.h"
#include "err.h"
#include "mem.h"

struct config_option {
	const char		*name;
	enum config_type	 type;
	const char		*def;
	long long		 min, max;	/* CONFIG_INT, CONFIG_DURATION */
	const char		*choices;	/* CONFIG_ENUM: "a|b|c" */
	int			 secret;	/* never echoed back */
	const char		*help;
};

/* Every setting envctl has.  Keep docs/envctl.conf.example in step. */
static const struct config_option options[] = {
	{ "database_url", CONFIG_STRING, "", 0, 0, NULL, 1,
	  "PostgreSQL conninfo or URI; empty: libpq's PG* variables" },
	{ "specs", CONFIG_STRING, "", 0, 0, NULL, 0,
	  "a local directory of spec files (instead of spec_repo)" },
	{ "spec_repo", CONFIG_STRING, "", 0, 0, NULL, 0,
	  "git URL of the spec repository (https, ssh, file or a path)" },
	{ "spec_branch", CONFIG_STRING, "main", 0, 0, NULL, 0,
	  "branch of spec_repo to follow" },
	{ "spec_path", CONFIG_STRING, "", 0, 0, NULL, 0,
	  "directory inside the repository holding the specs" },
	{ "spec_poll_interval", CONFIG_DURATION, "30s", 1, 86400, NULL, 0,
	  "how often spec_repo is fetched" },
	{ "spec_token_file", CONFIG_STRING, "", 0, 0, NULL, 0,
	  "https spec_repo: file holding the access token (read at each fetch)" },
	{ "spec_ssh_key", CONFIG_STRING, "", 0, 0, NULL, 0,
	  "ssh spec_repo: private key file (no passphrase)" },
	{ "spec_known_hosts", CONFIG_STRING, "", 0, 0, NULL, 0,
	  "ssh spec_repo: known_hosts file the server's key must be in" },
	{ "spec_ca_file", CONFIG_STRING, "", 0, 0, NULL, 0,
	  "https spec_repo: PEM file of CAs trusted besides the system's" },
	{ "state_dir", CONFIG_STRING, "/var/lib/envctl", 0, 0, NULL, 0,
	  "where checkouts of spec_repo are kept" },
	{ "cluster_id", CONFIG_STRING, "default", 0, 0, NULL, 0,
	  "this controller's cluster; instances are tagged with it" },
	{ "tag_prefix", CONFIG_STRING, "envctl", 0, 0, NULL, 0,
	  "prefix of the tags envctl sets and reads (envctl:managed, ...)" },
	{ "region", CONFIG_STRING, "", 0, 0, NULL, 0,
	  "default AWS region; empty: AWS_REGION, then us-east-1" },
	{ "s3_bucket", CONFIG_STRING, "", 0, 0, NULL, 0,
	  "bucket for SSH keys, secrets and bootstrap markers" },
	{ "s3_prefix", CONFIG_STRING, "envctl", 0, 0, NULL, 0,
	  "key prefix inside s3_bucket" },
	{ "max_parallel", CONFIG_INT, "8", 1, 256, NULL, 0,
	  "pipelines run at once" },
	{ "max_terminations_per_pass", CONFIG_INT, "10", 0, 100000, NULL, 0,
	  "deletion budget of one pass (unless --force)" },
	{ "allow_empty", CONFIG_BOOL, "false", 0, 0, NULL, 0,
	  "let an empty spec tree terminate every environment" },
	{ "orphan_grace", CONFIG_DURATION, "10m", 0, 86400 * 30, NULL, 0,
	  "age before an unknown tagged instance counts as an orphan" },
	{ "resync_interval", CONFIG_DURATION, "5m", 1, 86400, NULL, 0,
	  "time between full passes when nothing changes" },
	{ "max_attempts", CONFIG_INT, "5", 1, 1000, NULL, 0,
	  "failed provisions before giving up until the spec changes" },
	{ "backoff_base", CONFIG_DURATION, "30s", 1, 86400, NULL, 0,
	  "first retry delay after a failure (doubles each attempt)" },
	{ "backoff_max", CONFIG_DURATION, "1h", 1, 86400 * 7, NULL, 0,
	  "longest retry delay" },
	{ "ready_checks", CONFIG_STRING, "status,ssh,marker,hostkey", 0, 0, NULL, 0,
	  "readiness checks: any of status, ssh, marker, hostkey" },
	{ "ready_ssh_port", CONFIG_INT, "22", 1, 65535, NULL, 0,
	  "port the ssh readiness check connects to on the instance" },
	{ "aws_max_attempts", CONFIG_INT, "3", 1, 20, NULL, 0,
	  "attempts per AWS call (standard retry mode)" },
	{ "ec2_rate_limits", CONFIG_STRING, "run=5:2,mutate=50:5,describe=100:20", 0, 0, NULL, 0,
	  "client-side pacing of EC2 calls per class as burst:per-second (EC2's account limits); off: none" },
	{ "price_table", CONFIG_STRING, "", 0, 0, NULL, 0,
	  "file of on-demand prices (region instance-type usd-per-hour) overriding the built-in table" },
	{ "log_level", CONFIG_ENUM, "info", 0, 0, "error|warn|info|debug", 0,
	  "least important messages logged" },
	{ "log_format", CONFIG_ENUM, "text", 0, 0, "text|json", 0,
	  "text lines, or one JSON object per line for log shippers" },
	{ "listen", CONFIG_STRING, "127.0.0.1:9464", 0, 0, NULL, 0,
	  "address of /metrics, /healthz and the status page; empty: off" },
};

#define NOPTIONS	(sizeof(options) / sizeof(options[0]))

struct config_value {
	char	*value;
	char	*origin;
};

struct config {
	struct config_value	v[NOPTIONS];
};

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

struct config *
config_new(void)
{
	struct config *c = xcalloc(1, sizeof(*c));
	size_t i;

	for (i = 0; i < NOPTIONS; i++) {
		c->v[i].value = xstrdup(options[i].def);
		c->v[i].origin = xstrdup("default");
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
		if (options[i].secret)
			mem_free_secret(c->v[i].value);
		else
			free(c->v[i].value);
		free(c->v[i].origin);
	}
	free(c);
}

static int
parse_bool(int *out, const char *s)
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
parse_int(long long *out, const char *s)
{
	char *end;

	if (*s == '\0' || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	*out = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	return 0;
}

static int
enum_has(const char *choices, const char *s)
{
	size_t n = strlen(s);
	const char *p = choices;

	while (*p != '\0') {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == n && strncmp(p, s, n) == 0)
			return 1;
		p += len + (bar != NULL);
	}
	return 0;
}

/* Check value against opt; 0 or ERR_INVALID with the reason in err. */
static int
option_check(const struct config_option *opt, const char *value)
{
	long long n = 0;
	int b;

	switch (opt->type) {
	case CONFIG_STRING:
		return 0;
	case CONFIG_BOOL:
		if (parse_bool(&b, value) < 0) {
			err_set("%s: expected true or false", opt->name);
			return ERR_INVALID;
		}
		return 0;
	case CONFIG_ENUM:
		if (!enum_has(opt->choices, value)) {
			err_set("%s: expected one of %s", opt->name, opt->choices);
			return ERR_INVALID;
		}
		return 0;
	case CONFIG_INT:
		if (parse_int(&n, value) < 0) {
			err_set("%s: expected a whole number", opt->name);
			return ERR_INVALID;
		}
		break;
	case CONFIG_DURATION:
		if (duration_parse(&n, value) < 0) {
			err_prefix("%s", opt->name);
			return ERR_INVALID;
		}
		break;
	}
	if (n < opt->min || n > opt->max) {
		err_set("%s: %s is out of range [%lld, %lld]", opt->name, value,
		    opt->min, opt->max);
		return ERR_INVALID;
	}
	return 0;
}

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
	if (option_check(opt, value) < 0) {
		err_prefix("%s", origin);
		return ERR_INVALID;
	}
	if (opt->secret)
		mem_free_secret(c->v[i].value);
	else
		free(c->v[i].value);
	free(c->v[i].origin);
	c->v[i].value = xstrdup(value);
	c->v[i].origin = xstrdup(origin);
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
			while (i < *argcp)
				KEEP(i++);
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
			if (i + 1 < *argcp && parse_bool(&b, argv[i + 1]) == 0) {
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
	return config_take_flags(c, argcp, argv, &path, 1);
}

const char *
config_str(const struct config *c, const char *key)
{
	size_t i;

	if (option_find(key, &i) == NULL)
		return NULL;
	return c->v[i].value;
}

long long
config_int(const struct config *c, const char *key)
{
	const struct config_option *opt;
	long long n = 0;
	size_t i;

	if ((opt = option_find(key, &i)) == NULL)
		return 0;
	if (opt->type == CONFIG_DURATION)
		(void)duration_parse(&n, c->v[i].value);
	else
		(void)parse_int(&n, c->v[i].value);
	return n;
}

int
config_bool(const struct config *c, const char *key)
{
	size_t i;
	int b = 0;

	if (option_find(key, &i) == NULL)
		return 0;
	(void)parse_bool(&b, c->v[i].value);
	return b;
}

const char *
config_origin(const struct config *c, const char *key)
{
	size_t i;

	if (option_find(key, &i) == NULL)
		return NULL;
	return c->v[i].origin;
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
