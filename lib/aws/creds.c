/*
 * creds.c - AWS credentials and the provider chain (env, shared files
 * with role assumption, IMDSv2), cached and refreshed before expiry.
 *
 * Nothing here logs or reports a secret: messages name the source, the
 * profile, the file and line, never a key or a token.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "creds.h"
#include "creds_int.h"
#include "err.h"
#include "log.h"
#include "mem.h"

#define CREDS_DEFAULT_MARGIN	300		/* refresh 5 min before expiry */
#define CREDS_DEFAULT_IMDS_MS	1000
#define CREDS_DEFAULT_IMDS	"http://169.254.169.254"
#define CREDS_DEFAULT_IMDS6	"http://[fd00:ec2::254]"
#define CREDS_MAX_CHAIN		4		/* source_profile hops */

struct aws_creds {
	char	*access_key_id;
	char	*secret_access_key;
	char	*session_token;
	time_t	 expiration;
	char	*source;
};

struct aws_creds_provider {
	struct aws_creds_options opts;	/* strings point into own */
	struct {
		char	*profile, *credentials_file, *config_file, *imds_endpoint;
	}			 own;
	pthread_mutex_t	 lock;
	struct aws_creds *cached;
};

/* ---- credentials ---- */

static int
creds_check(const char *akid, const char *secret)
{
	if (akid == NULL || *akid == '\0' || secret == NULL || *secret == '\0') {
		err_set("credentials need an access key id and a secret key");
		return ERR_INVALID;
	}
	return 0;
}

int
aws_creds_new(struct aws_creds **out, const char *access_key_id,
    const char *secret_access_key, const char *session_token,
    time_t expiration, const char *source)
{
	struct aws_creds *c;
	int error;

	*out = NULL;
	if ((error = creds_check(access_key_id, secret_access_key)) != 0)
		return error;
	c = xcalloc(1, sizeof(*c));
	c->source = xstrdup(source ? source : "static");
	if ((error = aws_creds_set(c, access_key_id, secret_access_key,
	    session_token, expiration, NULL)) != 0) {
		aws_creds_free(c);
		return error;
	}
	*out = c;
	return 0;
}

int
aws_creds_set(struct aws_creds *c, const char *access_key_id,
    const char *secret_access_key, const char *session_token,
    time_t expiration, const char *source)
{
	int error;

	if ((error = creds_check(access_key_id, secret_access_key)) != 0)
		return error;
	/* Copy first: the arguments may point into c. */
	char *a = xstrdup(access_key_id);
	char *s = xstrdup(secret_access_key);
	char *t = session_token && *session_token ? xstrdup(session_token) : NULL;

	mem_free_secret(c->access_key_id);
	mem_free_secret(c->secret_access_key);
	mem_free_secret(c->session_token);
	c->access_key_id = a;
	c->secret_access_key = s;
	c->session_token = t;
	c->expiration = expiration;
	if (source != NULL) {
		free(c->source);
		c->source = xstrdup(source);
	} else if (c->source == NULL)
		c->source = xstrdup("static");
	return 0;
}

struct aws_creds *
aws_creds_dup(const struct aws_creds *c)
{
	struct aws_creds *d = xcalloc(1, sizeof(*d));

	d->access_key_id = c->access_key_id ? xstrdup(c->access_key_id) : NULL;
	d->secret_access_key = c->secret_access_key ?
	    xstrdup(c->secret_access_key) : NULL;
	d->session_token = c->session_token ? xstrdup(c->session_token) : NULL;
	d->expiration = c->expiration;
	d->source = xstrdup(c->source ? c->source : "static");
	return d;
}

void
aws_creds_free(struct aws_creds *c)
{
	if (c == NULL)
		return;
	mem_free_secret(c->access_key_id);
	mem_free_secret(c->secret_access_key);
	mem_free_secret(c->session_token);
	free(c->source);
	mem_wipe(c, sizeof(*c));
	free(c);
}

const char *
aws_creds_access_key_id(const struct aws_creds *c)
{
	return c->access_key_id;
}

const char *
aws_creds_secret_access_key(const struct aws_creds *c)
{
	return c->secret_access_key;
}

const char *
aws_creds_session_token(const struct aws_creds *c)
{
	return c->session_token;
}

time_t
aws_creds_expiration(const struct aws_creds *c)
{
	return c->expiration;
}

const char *
aws_creds_source(const struct aws_creds *c)
{
	return c->source ? c->source : "static";
}

int
creds_parse_iso8601(time_t *out, const char *s)
{
	struct tm tm;
	const char *p;

	memset(&tm, 0, sizeof(tm));
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (p == NULL)
		return ERR_INVALID;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0 &&
	    strcmp(p, "UTC") != 0)
		return ERR_INVALID;
	*out = timegm(&tm);
	return *out == (time_t)-1 ? ERR_INVALID : 0;
}

/* ---- provider ---- */

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

int
aws_creds_provider_new(struct aws_creds_provider **out,
    const struct aws_creds_options *opts)
{
	struct aws_creds_provider *p = xcalloc(1, sizeof(*p));

	if (opts != NULL)
		p->opts = *opts;
	p->opts.profile = p->own.profile = dup_or_null(p->opts.profile);
	p->opts.credentials_file = p->own.credentials_file =
	    dup_or_null(p->opts.credentials_file);
	p->opts.config_file = p->own.config_file =
	    dup_or_null(p->opts.config_file);
	p->opts.imds_endpoint = p->own.imds_endpoint =
	    dup_or_null(p->opts.imds_endpoint);
	if (p->opts.imds_timeout_ms <= 0)
		p->opts.imds_timeout_ms = CREDS_DEFAULT_IMDS_MS;
	if (p->opts.refresh_margin_s <= 0)
		p->opts.refresh_margin_s = CREDS_DEFAULT_MARGIN;
	pthread_mutex_init(&p->lock, NULL);
	*out = p;
	return 0;
}

void
aws_creds_provider_free(struct aws_creds_provider *p)
{
	if (p == NULL)
		return;
	pthread_mutex_destroy(&p->lock);
	aws_creds_free(p->cached);
	free(p->own.profile);
	free(p->own.credentials_file);
	free(p->own.config_file);
	free(p->own.imds_endpoint);
	free(p);
}

static const char *
prov_env(const struct aws_creds_provider *p, const char *name)
{
	const char *v;

	if (p->opts.getenv != NULL)
		v = p->opts.getenv(name, p->opts.getenv_arg);
	else
		v = getenv(name);
	return v != NULL && *v != '\0' ? v : NULL;
}

static time_t
prov_now(const struct aws_creds_provider *p)
{
	return p->opts.now ? p->opts.now(p->opts.now_arg) : time(NULL);
}

/* 1. environment. ERR_NOTFOUND when not set. */
static int
source_env(struct aws_creds **out, const struct aws_creds_provider *p)
{
	const char *akid = prov_env(p, "AWS_ACCESS_KEY_ID");
	const char *secret = prov_env(p, "AWS_SECRET_ACCESS_KEY");

	if (akid == NULL && secret == NULL)
		return ERR_NOTFOUND;
	if (akid == NULL || secret == NULL) {
		log_debug("aws creds: env has only one of AWS_ACCESS_KEY_ID "
		    "and AWS_SECRET_ACCESS_KEY, skipped");
		return ERR_NOTFOUND;
	}
	return aws_creds_new(out, akid, secret,
	    prov_env(p, "AWS_SESSION_TOKEN"), 0, "env");
}

/* The shared files, loaded once per walk of the chain. */
struct files {
	struct ini	*cred;
	struct ini	*conf;
	int		 loaded;
};

static char *
default_path(const struct aws_creds_provider *p, const char *opt,
    const char *env, const char *file)
{
	const char *v, *home;

	if (opt != NULL)
		return xstrdup(opt);
	if ((v = prov_env(p, env)) != NULL)
		return xstrdup(v);
	if ((home = prov_env(p, "HOME")) == NULL)
		return NULL;
	return xasprintf("%s/.aws/%s", home, file);
}

static int
files_load(struct files *f, const struct aws_creds_provider *p)
{
	char *cp = NULL, *fp = NULL;
	int error = 0;

	if (f->loaded)
		return 0;
	f->loaded = 1;
	cp = default_path(p, p->opts.credentials_file,
	    "AWS_SHARED_CREDENTIALS_FILE", "credentials");
	fp = default_path(p, p->opts.config_file, "AWS_CONFIG_FILE", "config");
	if (cp != NULL && (error = ini_load(&f->cred, cp)) == ERR_NOTFOUND)
		error = 0;
	if (error == 0 && fp != NULL &&
	    (error = ini_load(&f->conf, fp)) == ERR_NOTFOUND)
		error = 0;
	free(cp);
	free(fp);
	return error;
}

static void
files_dispose(struct files *f)
{
	ini_free(f->cred);
	ini_free(f->conf);
	memset(f, 0, sizeof(*f));
}

/* profile's key: the credentials file "[name]" wins over config "[profile name]". */
static const char *
profile_get(const struct files *f, const char *profile, const char *key)
{
	const char *v;
	char *sect;

	if ((v = ini_get(f->cred, profile, key)) != NULL)
		return v;
	sect = xasprintf("profile %s", profile);
	v = ini_get(f->conf, sect, key);
	free(sect);
	if (v == NULL && strcmp(profile, "default") == 0)
		v = ini_get(f->conf, "default", key);
	return v != NULL && *v != '\0' ? v : NULL;
}

static int
profile_exists(const struct files *f, const char *profile)
{
	char *sect = xasprintf("profile %s", profile);
	int yes = ini_has_section(f->cred, profile) ||
	    ini_has_section(f->conf, sect) ||
	    (strcmp(profile, "default") == 0 &&
	    ini_has_section(f->conf, "default"));

	free(sect);
	return yes;
}

static int source_imds(struct aws_creds **, const struct aws_creds_provider *);

static int
assume_role(struct aws_creds **out, const struct aws_creds_provider *p,
    const struct files *f, const char *profile, const struct aws_creds *src)
{
	const char *arn = profile_get(f, profile, "role_arn");
	const char *extid = profile_get(f, profile, "external_id");
	const char *sname = profile_get(f, profile, "role_session_name");
	struct aws_creds *c = NULL;
	char *defname = NULL, *label = NULL;
	int error;

	if (p->opts.assume_role == NULL) {
		err_set("profile %s: role_arn needs STS, and no AssumeRole "
		    "client was configured", profile);
		return ERR_INVALID;
	}
	if (sname == NULL) {
		defname = xasprintf("envctl-%lld", (long long)prov_now(p));
		sname = defname;
	}
	c = xcalloc(1, sizeof(*c));
	label = xasprintf("assume-role:%s", arn);
	error = p->opts.assume_role(c, src, arn, extid, sname,
	    p->opts.assume_role_arg);
	if (error == 0 && (c->access_key_id == NULL ||
	    c->secret_access_key == NULL)) {
		err_set("AssumeRole returned no credentials");
		error = ERR_GENERIC;
	}
	if (error != 0) {
		err_prefix("profile %s: assume role %s", profile, arn);
		goto done;
	}
	free(c->source);
	c->source = label;
	label = NULL;
	if (log_enabled(LOG_LEVEL_DEBUG)) {
		char ea[256], es[128];

		log_debug("aws creds: assumed role %s from source=%s session=%s",
		    log_escape(ea, sizeof(ea), arn), aws_creds_source(src),
		    log_escape(es, sizeof(es), sname));
	}
	*out = c;
	c = NULL;
done:
	aws_creds_free(c);
	free(label);
	free(defname);
	return error;
}

/*
 * Static keys of profile as credentials labelled "profile:NAME".
 * ERR_NOTFOUND when it has none, ERR_INVALID when it has half a pair.
 */
static int
profile_static(struct aws_creds **out, const struct files *f,
    const char *profile)
{
	const char *akid = profile_get(f, profile, "aws_access_key_id");
	const char *secret = profile_get(f, profile, "aws_secret_access_key");
	char *label = NULL;
	int error = ERR_NOTFOUND;

	*out = NULL;
	if (akid == NULL && secret == NULL)
		goto done;
	error = ERR_INVALID;
	if (akid == NULL || secret == NULL) {
		err_set("profile %s: needs both aws_access_key_id and "
		    "aws_secret_access_key", profile);
		goto done;
	}
	label = xasprintf("profile:%s", profile);
	error = aws_creds_new(out, akid, secret,
	    profile_get(f, profile, "aws_session_token"), 0, label);
done:
	free(label);
	return error;
}

/*
 * Credentials of one profile: role_arn (from source_profile or
 * credential_source) or static keys.  ERR_NOTFOUND when the profile has
 * neither.  depth guards source_profile loops.
 */
static int
source_profile(struct aws_creds **out, const struct aws_creds_provider *p,
    const struct files *f, const char *profile, int depth)
{
	const char *arn, *srcprof, *credsrc;
	struct aws_creds *src = NULL;
	int error = ERR_INVALID;

	*out = NULL;
	if (depth > CREDS_MAX_CHAIN) {
		err_set("profile %s: source_profile chain longer than %d "
		    "(a loop?)", profile, CREDS_MAX_CHAIN);
		goto done;
	}
	arn = profile_get(f, profile, "role_arn");
	if (arn == NULL) {
		error = profile_static(out, f, profile);
		goto done;
	}
	srcprof = profile_get(f, profile, "source_profile");
	credsrc = profile_get(f, profile, "credential_source");
	if (srcprof != NULL && credsrc != NULL) {
		err_set("profile %s: source_profile and credential_source are "
		    "mutually exclusive", profile);
	} else if (srcprof != NULL && !profile_exists(f, srcprof)) {
		err_set("profile %s: source_profile %s not found", profile,
		    srcprof);
	} else if (srcprof != NULL && strcmp(srcprof, profile) == 0) {
		/* role_arn beside its own static keys. */
		if ((error = profile_static(&src, f, profile)) == ERR_NOTFOUND) {
			err_set("profile %s: is its own source_profile but has "
			    "no static keys", profile);
			error = ERR_INVALID;
		}
	} else if (srcprof != NULL) {
		error = source_profile(&src, p, f, srcprof, depth + 1);
		if (error == ERR_NOTFOUND)
			err_set("profile %s: source_profile %s has no credentials",
			    profile, srcprof);
	} else if (credsrc != NULL && strcasecmp(credsrc, "Environment") == 0) {
		if ((error = source_env(&src, p)) == ERR_NOTFOUND)
			err_set("profile %s: credential_source Environment but "
			    "AWS_ACCESS_KEY_ID is not set", profile);
	} else if (credsrc != NULL &&
	    strcasecmp(credsrc, "Ec2InstanceMetadata") == 0) {
		error = source_imds(&src, p);
	} else if (credsrc != NULL) {
		err_set("profile %s: credential_source %s is not supported",
		    profile, credsrc);
	} else {
		err_set("profile %s: role_arn needs source_profile or "
		    "credential_source", profile);
	}
	/* A role profile is configured: a missing source is an error, not
	 * "no credentials here, try the next source". */
	if (error == ERR_NOTFOUND)
		error = ERR_INVALID;
	if (error == 0)
		error = assume_role(out, p, f, profile, src);
done:
	aws_creds_free(src);
	return error;
}

static int
source_imds(struct aws_creds **out, const struct aws_creds_provider *p)
{
	const char *dis = prov_env(p, "AWS_EC2_METADATA_DISABLED");
	const char *ep;
	char *base;
	size_t n;
	int error;

	*out = NULL;
	if (p->opts.imds_disabled || (dis != NULL && strcasecmp(dis, "true") == 0)) {
		err_set("imds: disabled");
		return ERR_UNAVAILABLE;
	}
	ep = p->opts.imds_endpoint;
	if (ep == NULL)
		ep = prov_env(p, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
	if (ep == NULL) {
		const char *mode = prov_env(p,
		    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");

		ep = mode != NULL && strcasecmp(mode, "IPv6") == 0 ?
		    CREDS_DEFAULT_IMDS6 : CREDS_DEFAULT_IMDS;
	}
	/* Strip one trailing '/' so paths join cleanly. */
	base = xstrdup(ep);
	n = strlen(base);
	if (n > 0 && base[n - 1] == '/')
		base[n - 1] = '\0';
	error = imds_creds_fetch(out, base, p->opts.imds_timeout_ms);
	free(base);
	return error;
}

/* Walk the chain once. */
static int
chain_resolve(struct aws_creds **out, const struct aws_creds_provider *p)
{
	struct files f = { 0 };
	const char *profile;
	int error, named;

	*out = NULL;
	if ((error = source_env(out, p)) != ERR_NOTFOUND)
		goto done;

	profile = p->opts.profile;
	if (profile == NULL)
		profile = prov_env(p, "AWS_PROFILE");
	named = profile != NULL;
	if (profile == NULL)
		profile = "default";
	if ((error = files_load(&f, p)) != 0)
		goto done;
	if (profile_exists(&f, profile)) {
		if ((error = source_profile(out, p, &f, profile, 0)) !=
		    ERR_NOTFOUND)
			goto done;
		/* Profile without credentials (only a region, say): go on. */
	} else if (named) {
		err_set("profile %s not found in the shared config or "
		    "credentials file", profile);
		error = ERR_NOTFOUND;
		goto done;
	}

	error = source_imds(out, p);
	if (error == ERR_UNAVAILABLE || error == ERR_TIMEOUT) {
		char why[256];

		log_escape(why, sizeof(why), err_get());
		log_debug("aws creds: no instance metadata (%s)", why);
		err_set("no AWS credentials: set AWS_ACCESS_KEY_ID and "
		    "AWS_SECRET_ACCESS_KEY, configure a profile, or run on EC2 "
		    "with an instance role");
		error = ERR_NOTFOUND;
	}
done:
	files_dispose(&f);
	return error;
}

static int
creds_fresh(const struct aws_creds_provider *p, const struct aws_creds *c,
    time_t now)
{
	return c->expiration == 0 ||
	    now < c->expiration - (time_t)p->opts.refresh_margin_s;
}

int
aws_creds_provider_get(struct aws_creds **out, struct aws_creds_provider *p)
{
	struct aws_creds *c = NULL;
	time_t now;
	int error;

	*out = NULL;
	pthread_mutex_lock(&p->lock);
	now = prov_now(p);
	if (p->cached != NULL && creds_fresh(p, p->cached, now)) {
		*out = aws_creds_dup(p->cached);
		error = 0;
		goto done;
	}
	error = chain_resolve(&c, p);
	if (error != 0) {
		if (p->cached != NULL && now < p->cached->expiration) {
			/* Refresh failed but the old ones still work a while. */
			char why[256];

			log_warnx("aws creds: refresh of source=%s failed, using "
			    "the cached credentials until they expire: %s",
			    aws_creds_source(p->cached),
			    log_escape(why, sizeof(why), err_get()));
			*out = aws_creds_dup(p->cached);
			error = 0;
		}
		goto done;
	}
	log_debug("aws creds: source=%s expires=%lld", aws_creds_source(c),
	    (long long)c->expiration);
	aws_creds_free(p->cached);
	p->cached = c;
	*out = aws_creds_dup(c);
done:
	pthread_mutex_unlock(&p->lock);
	return error;
}

void
aws_creds_provider_invalidate(struct aws_creds_provider *p)
{
	pthread_mutex_lock(&p->lock);
	aws_creds_free(p->cached);
	p->cached = NULL;
	pthread_mutex_unlock(&p->lock);
}
