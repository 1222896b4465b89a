/*
 * pipeline.c - the pipeline's context, shared helpers (rows, events,
 * names, AMI aliases, prices, client tokens, cleanup) and the dispatch
 * from a plan action to the pipeline(s) it names.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "ec2.h"
#include "log.h"
#include "mem.h"
#include "pipeline_int.h"
#include "s3.h"
#include "spec.h"

/*
 * Every failpoint of both pipelines.  Cleanup steps exist three times:
 * provision.rollback.*, terminate.* and gc.* / orphan.*.
 */
const char *const pipeline_failpoints[] = {
	"provision.init.before", "provision.init.after",
	"provision.event_start.before", "provision.event_start.after",
	"provision.keys_generated.before", "provision.keys_generated.after",
	"provision.s3_keys.before", "provision.s3_keys.after",
	"provision.keys_uploaded.before", "provision.keys_uploaded.after",
	"provision.keypair.before", "provision.keypair.after",
	"provision.sg_create.before", "provision.sg_create.after",
	"provision.sg_record.before", "provision.sg_record.after",
	"provision.sg_ingress.before", "provision.sg_ingress.after",
	"provision.sg_ready.before", "provision.sg_ready.after",
	"provision.ami.before", "provision.ami.after",
	"provision.secrets.before", "provision.secrets.after",
	"provision.launch_intent.before", "provision.launch_intent.after",
	"provision.launch_pool.before", "provision.launch_pool.after",
	"provision.launch.before", "provision.launch.after",
	"provision.instance_launched.before", "provision.instance_launched.after",
	"provision.tag.before", "provision.tag.after",
	"provision.tagged.before", "provision.tagged.after",
	"provision.check.before", "provision.check.after",
	"provision.running.before", "provision.running.after",
	"provision.done.before", "provision.done.after",
	"provision.event_ready.before", "provision.event_ready.after",
	"provision.error.before", "provision.error.after",
	"provision.rollback.instance.before", "provision.rollback.instance.after",
	"provision.rollback.s3.before", "provision.rollback.s3.after",
	"provision.rollback.keypair.before", "provision.rollback.keypair.after",
	"provision.rollback.sg.before", "provision.rollback.sg.after",
	"provision.rolled_back.before", "provision.rolled_back.after",
	"provision.adopt.before", "provision.adopt.after",
	"terminate.mark.before", "terminate.mark.after",
	"terminate.protection.before", "terminate.protection.after",
	"terminate.instance.before", "terminate.instance.after",
	"terminate.s3.before", "terminate.s3.after",
	"terminate.keypair.before", "terminate.keypair.after",
	"terminate.sg.before", "terminate.sg.after",
	"terminate.done.before", "terminate.done.after",
	"terminate.event.before", "terminate.event.after",
	"orphan.instance.before", "orphan.instance.after",
	"orphan.s3.before", "orphan.s3.after", "orphan.keypair.before",
	"orphan.keypair.after", "orphan.sg.before", "orphan.sg.after",
	"gc.s3.before", "gc.s3.after", "gc.keypair.before", "gc.keypair.after",
	"gc.sg.before", "gc.sg.after", "gc.done.before", "gc.done.after",
	NULL
};

int
pipeline_new(struct pipeline **out, struct store *store, struct aws_client *aws,
    struct ec2_client *ec2, struct aws_creds_provider *creds,
    const struct pipeline_opts *opts)
{
	struct pipeline *p;
	const char *pre = opts->tag_prefix ? opts->tag_prefix : "envctl";

	*out = NULL;
	if (opts->bucket == NULL || *opts->bucket == '\0') {
		err_set("no S3 bucket configured (s3_bucket): keys and bootstrap "
		    "markers need one");
		return ERR_INVALID;
	}
	p = xcalloc(1, sizeof(*p));
	if (observe_tags_init(&p->tags, pre) < 0) {
		free(p);
		return ERR_INVALID;
	}
	p->store = store;
	p->aws = aws;
	p->ec2 = ec2;
	p->creds = creds;
	p->o = *opts;
	if (p->o.s3_prefix == NULL)
		p->o.s3_prefix = "envctl";
	if (p->o.cluster_id == NULL)
		p->o.cluster_id = "default";
	(void)s3_client_new(&p->s3, aws);
	*out = p;
	return 0;
}

void
pipeline_free(struct pipeline *p)
{
	if (p == NULL)
		return;
	s3_client_free(p->s3);
	free(p);
}

int
pipeline_checks_parse(unsigned *out, const char *s)
{
	static const struct { const char *name; unsigned bit; } names[] = {
		{ "status", PIPELINE_CHECK_STATUS }, { "ssh", PIPELINE_CHECK_SSH },
		{ "marker", PIPELINE_CHECK_MARKER },
		{ "hostkey", PIPELINE_CHECK_HOSTKEY }, { "all", PIPELINE_CHECK_ALL },
	};
	unsigned bits = 0;
	const char *p = s;

	while (*p != '\0') {
		size_t len = strcspn(p, ", "), i;

		if (len > 0) {
			for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
				if (strlen(names[i].name) == len &&
				    strncmp(names[i].name, p, len) == 0)
					break;
			if (i == sizeof(names) / sizeof(names[0])) {
				err_set("ready_checks: unknown check '%.*s' (status, "
				    "ssh, marker, hostkey)", (int)(len > 32 ? 32 : len), p);
				return ERR_INVALID;
			}
			bits |= names[i].bit;
		}
		p += len;
		p += strspn(p, ", ");
	}
	*out = bits;
	return 0;
}

void
pipeline_client_token(char out[65], const char *env_id, unsigned attempt,
    unsigned variant)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	char in[128];
	int n, i;

	n = snprintf(in, sizeof(in), "%s/%u/%u", env_id, attempt, variant);
	if (n < 0 || (size_t)n >= sizeof(in))
		n = (int)sizeof(in) - 1;
	EVP_Digest(in, (size_t)n, md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

double
pipeline_price_on_demand(const char *type)
{
	/* us-east-1 Linux on-demand USD/hour; price_table overrides it. */
	static const struct { const char *type; double usd; } prices[] = {
		{ "t2.micro", 0.0116 }, { "t2.small", 0.023 }, { "t2.medium", 0.0464 },
		{ "t3.nano", 0.0052 }, { "t3.micro", 0.0104 }, { "t3.small", 0.0208 },
		{ "t3.medium", 0.0416 }, { "t3.large", 0.0832 }, { "t3.xlarge", 0.1664 },
		{ "t3.2xlarge", 0.3328 }, { "t3a.medium", 0.0376 },
		{ "t4g.small", 0.0168 }, { "t4g.medium", 0.0336 },
		{ "m5.large", 0.096 }, { "m5.xlarge", 0.192 }, { "m6i.large", 0.096 },
		{ "m6i.xlarge", 0.192 }, { "m7i.large", 0.1008 },
		{ "c5.large", 0.085 }, { "c6i.large", 0.085 }, { "c6i.xlarge", 0.17 },
		{ "r5.large", 0.126 }, { "r6i.large", 0.126 },
	};
	size_t i;

	for (i = 0; i < sizeof(prices) / sizeof(prices[0]); i++)
		if (strcmp(prices[i].type, type) == 0)
			return prices[i].usd;
	return 0.0;
}

/* ---- the operator's price table ------------------------------------ */

#define PRICES_FILE_MAX		(1024 * 1024)
#define PRICE_MAX		100000.0

struct price_entry {
	char	region[32];
	char	type[48];
	double	usd;
	size_t	line;
};

struct pipeline_prices {
	struct price_entry	*v;
	size_t			 n;
};

void
pipeline_prices_free(struct pipeline_prices *t)
{
	if (t == NULL)
		return;
	free(t->v);
	free(t);
}

size_t
pipeline_prices_count(const struct pipeline_prices *t)
{
	return t != NULL ? t->n : 0;
}

/* Whether s (len bytes) is a plain decimal: digits, at most one '.'. */
static int
price_syntax_ok(const char *s, size_t len)
{
	size_t i, dots = 0, digits = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '.')
			dots++;
		else if (s[i] >= '0' && s[i] <= '9')
			digits++;
		else
			return 0;
	}
	return digits > 0 && dots <= 1 && len < 32;
}

static int
name_syntax_ok(const char *s, size_t len, int type)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '-' || (type && s[i] == '.')))
			return 0;
	return !type || memchr(s, '.', len) != NULL;
}

/* One line (NUL-free, no newline) into t; ERR_INVALID with name:line. */
static int
prices_line(struct pipeline_prices *t, const char *l, size_t len,
    const char *name, size_t lineno)
{
	const char *f[4];
	size_t fl[4], nf = 0, i = 0;
	struct price_entry e;
	char num[32], *end;

	if (memchr(l, '#', len) != NULL)
		len = (size_t)((const char *)memchr(l, '#', len) - l);
	while (i < len) {
		while (i < len && (l[i] == ' ' || l[i] == '\t' || l[i] == '\r'))
			i++;
		if (i == len)
			break;
		if (nf == 4)
			break;
		f[nf] = l + i;
		while (i < len && l[i] != ' ' && l[i] != '\t' && l[i] != '\r')
			i++;
		fl[nf] = (size_t)(l + i - f[nf]);
		nf++;
	}
	if (nf == 0)
		return 0;
	if (nf != 3) {
		err_set("%s:%zu: expected 3 fields (region instance-type "
		    "usd-per-hour), found %s", name, lineno, nf > 3 ? "more" :
		    nf == 1 ? "1" : "2");
		return ERR_INVALID;
	}
	if (!(fl[0] == 1 && f[0][0] == '*') &&
	    (!name_syntax_ok(f[0], fl[0], 0) || fl[0] >= sizeof(e.region))) {
		err_set("%s:%zu: bad region '%.*s' (like us-east-1, or * for any)",
		    name, lineno, (int)(fl[0] > 40 ? 40 : fl[0]), f[0]);
		return ERR_INVALID;
	}
	if (!name_syntax_ok(f[1], fl[1], 1) || fl[1] >= sizeof(e.type)) {
		err_set("%s:%zu: bad instance type '%.*s' (like t3.micro)", name,
		    lineno, (int)(fl[1] > 40 ? 40 : fl[1]), f[1]);
		return ERR_INVALID;
	}
	if (!price_syntax_ok(f[2], fl[2])) {
		err_set("%s:%zu: bad price '%.*s': a plain non-negative decimal "
		    "of US dollars per hour (like 0.0104)", name, lineno,
		    (int)(fl[2] > 40 ? 40 : fl[2]), f[2]);
		return ERR_INVALID;
	}
	memset(&e, 0, sizeof(e));
	memcpy(e.region, f[0], fl[0]);
	memcpy(e.type, f[1], fl[1]);
	memcpy(num, f[2], fl[2]);
	num[fl[2]] = '\0';
	errno = 0;
	e.usd = strtod(num, &end);
	if (errno != 0 || *end != '\0' || !(e.usd >= 0.0) || e.usd >= PRICE_MAX) {
		err_set("%s:%zu: price %s out of range (0 to %.0f)", name, lineno,
		    num, PRICE_MAX);
		return ERR_INVALID;
	}
	e.line = lineno;
	for (i = 0; i < t->n; i++)
		if (strcmp(t->v[i].region, e.region) == 0 &&
		    strcmp(t->v[i].type, e.type) == 0) {
			err_set("%s:%zu: %s %s listed twice (first at line %zu)",
			    name, lineno, e.region, e.type, t->v[i].line);
			return ERR_INVALID;
		}
	t->v = xreallocarray(t->v, t->n + 1, sizeof(*t->v));
	t->v[t->n++] = e;
	return 0;
}

int
pipeline_prices_parse(struct pipeline_prices **out, const char *text,
    size_t len, const char *name)
{
	struct pipeline_prices *t;
	size_t pos = 0, lineno = 0;
	int error = 0;

	*out = NULL;
	if (memchr(text, '\0', len) != NULL) {
		err_set("%s: holds a NUL byte: not a text file", name);
		return ERR_INVALID;
	}
	t = xcalloc(1, sizeof(*t));
	while (pos < len && error == 0) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t ll = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;

		lineno++;
		error = prices_line(t, text + pos, ll, name, lineno);
		pos += ll + 1;
	}
	if (error < 0) {
		pipeline_prices_free(t);
		return error;
	}
	*out = t;
	return 0;
}

int
pipeline_prices_load(struct pipeline_prices **out, const char *path)
{
	FILE *f;
	char *buf;
	size_t n;
	int error;

	*out = NULL;
	if ((f = fopen(path, "re")) == NULL) {
		err_set("%s: %s", path, strerror(errno));
		return ERR_INVALID;
	}
	buf = xmalloc(PRICES_FILE_MAX + 1);
	n = fread(buf, 1, PRICES_FILE_MAX + 1, f);
	if (ferror(f)) {
		err_set("%s: %s", path, strerror(errno));
		error = ERR_INVALID;
	} else if (n > PRICES_FILE_MAX) {
		err_set("%s: larger than %d bytes", path, PRICES_FILE_MAX);
		error = ERR_LIMIT;
	} else
		error = pipeline_prices_parse(out, buf, n, path);
	fclose(f);
	free(buf);
	return error;
}

double
pipeline_price(const struct pipeline_prices *t, const char *region,
    const char *type)
{
	const struct price_entry *any = NULL;
	size_t i;

	for (i = 0; t != NULL && i < t->n; i++) {
		if (strcmp(t->v[i].type, type) != 0)
			continue;
		if (region != NULL && strcmp(t->v[i].region, region) == 0)
			return t->v[i].usd;
		if (strcmp(t->v[i].region, "*") == 0)
			any = &t->v[i];
	}
	return any != NULL ? any->usd : pipeline_price_on_demand(type);
}

void
pipeline_env_cost(struct pipeline_cost *out, const struct store_env *e,
    time_t now)
{
	time_t start = e->launched_at > 0 ? e->launched_at : e->ready_at;
	int accrues;

	memset(out, 0, sizeof(*out));
	out->usd = e->total_cost_usd;
	accrues = e->instance_id != NULL && start > 0 && now > start &&
	    (e->status == STORE_STATUS_PROVISIONING ||
	    e->status == STORE_STATUS_READY ||
	    e->status == STORE_STATUS_TERMINATING);
	if (!accrues)
		return;
	out->seconds = (long long)(now - start);
	out->usd_per_hour = e->cost_per_hour_usd;
	out->usd += (double)out->seconds / 3600.0 * e->cost_per_hour_usd;
}

time_t
pl_now(const struct pipeline *p)
{
	return p->o.clock != NULL ? p->o.clock() : time(NULL);
}

int
pl_row_write(bool *written, struct pipeline *p, struct store_env *row,
    unsigned mask, const char *fp_before, const char *fp_after)
{
	int error;

	*written = false;
	if ((error = FAILPOINT(fp_before)) < 0) {
		err_set("failpoint %s", fp_before);
		return error;
	}
	if ((error = store_env_update(p->store, row, mask)) < 0)
		return error;
	*written = true;
	if ((error = FAILPOINT(fp_after)) < 0)
		err_set("failpoint %s", fp_after);
	return error;
}

int
pl_row_update(struct pipeline *p, struct store_env *row, unsigned mask,
    const char *fp_before, const char *fp_after)
{
	bool written;

	return pl_row_write(&written, p, row, mask, fp_before, fp_after);
}

void
pl_row_set(struct store_env *row, unsigned field, const char *s)
{
	(void)store_env_set_text(row, field, s, s != NULL ? strlen(s) : 0);
}

void
pl_json_escape(char *out, size_t outsz, const char *s)
{
	size_t o = 0;

	if (outsz == 0)
		return;
	for (; s != NULL && *s != '\0' && o + 7 < outsz; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, outsz - o, "\\u%04x", c);
		} else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

int
pl_event(struct pipeline *p, const char *env_id, const char *type,
    const char *fmt, ...)
{
	char *payload;
	va_list ap;
	int error;

	va_start(ap, fmt);
	payload = xvasprintf(fmt, ap);
	va_end(ap);
	error = store_event_add(NULL, p->store, env_id, type, payload,
	    strlen(payload));
	free(payload);
	return error;
}

char *
pl_s3_key(const struct pipeline *p, const char *env_id, const char *file)
{
	if (*p->o.s3_prefix == '\0')
		return xasprintf("%s/%s", env_id, file);
	return xasprintf("%s/%s/%s", p->o.s3_prefix, env_id, file);
}

void
pl_resource_name(char *out, size_t outsz, const char *env_id)
{
	snprintf(out, outsz, "envctl-%s", env_id);
}

const char *
pl_aws_code(const struct pipeline *p)
{
	const struct aws_error *e = aws_client_last_error(p->aws);

	return e != NULL ? e->code : "";
}

struct id_collect {
	char	(*ids)[32];
	size_t	 max, n;
};

static int
collect_ids(const struct ec2_instance *v, size_t n, void *arg)
{
	struct id_collect *c = arg;
	size_t i;

	for (i = 0; i < n && c->n < c->max; i++)
		snprintf(c->ids[c->n++], 32, "%s", v[i].id);
	return 0;
}

int
pl_instances_by_env_id(struct pipeline *p, const char *env_id, char ids[][32],
    size_t max, size_t *n)
{
	static const char *const states[] = { "pending", "running", "stopping",
	    "stopped" };
	const char *idv[1] = { env_id }, *clv[1] = { p->o.cluster_id };
	struct ec2_filter f[3];
	struct ec2_describe_instances_input in;
	struct id_collect c = { ids, max, 0 };
	char tname[80], cname[80];
	int error;

	snprintf(tname, sizeof(tname), "tag:%s", p->tags.env_id);
	snprintf(cname, sizeof(cname), "tag:%s", p->tags.cluster);
	f[0] = (struct ec2_filter){ tname, idv, 1 };
	f[1] = (struct ec2_filter){ cname, clv, 1 };
	f[2] = (struct ec2_filter){ "instance-state-name", states, 4 };
	memset(&in, 0, sizeof(in));
	in.filters = f;
	in.nfilters = 3;
	error = ec2_instances_describe(p->ec2, &in, collect_ids, &c, NULL);
	*n = c.n;
	return error;
}

int
pl_s3_prefix_delete(struct pipeline *p, const char *env_id)
{
	struct s3_object_list l;
	char *prefix = pl_s3_key(p, env_id, "");
	size_t i;
	int error;

	memset(&l, 0, sizeof(l));
	/* A handful of objects per environment: one page is all. */
	if ((error = s3_objects_list(&l, p->s3, p->o.bucket, prefix, NULL, 0)) < 0)
		goto out;
	for (i = 0; i < l.n; i++)
		if ((error = s3_object_delete(p->s3, p->o.bucket, l.v[i].key)) < 0)
			goto out;
out:
	s3_object_list_dispose(&l);
	free(prefix);
	return error;
}

static time_t
fixed_clock(void *arg)
{
	return *(const time_t *)arg;
}

int
pl_presign_at(char **out, struct pipeline *p, const char *method,
    const char *key, unsigned expires, time_t at)
{
	struct aws_client_opts o;
	struct aws_client *c = NULL;
	struct s3_client *s3 = NULL;
	int error;

	*out = NULL;
	memset(&o, 0, sizeof(o));
	o.region = aws_client_region(p->aws);
	o.creds = p->creds;
	o.clock = fixed_clock;
	o.clock_arg = &at;
	if ((error = aws_client_new(&c, &o)) < 0)
		return error;
	(void)s3_client_new(&s3, c);
	error = s3_url_presign(out, s3, method, p->o.bucket, key, expires);
	s3_client_free(s3);
	aws_client_free(c);
	return error;
}

/* The group id of envctl-<env-id> into id, "" when there is none. */
static int
sg_find_by_name(struct pipeline *p, const char *env_id, char id[32])
{
	struct ec2_security_group_list l;
	char name[128];
	const char *names[1] = { name };
	struct ec2_filter f = { "group-name", names, 1 };
	int error;

	id[0] = '\0';
	pl_resource_name(name, sizeof(name), env_id);
	memset(&l, 0, sizeof(l));
	if ((error = ec2_security_groups_describe(&l, p->ec2, NULL, 0, &f, 1)) < 0)
		return error;
	if (l.n > 0)
		snprintf(id, 32, "%s", l.v[0].id);
	ec2_security_group_list_dispose(&l);
	return 0;
}

int
pl_sg_find(struct pipeline *p, const char *env_id, char id[32])
{
	return sg_find_by_name(p, env_id, id);
}

static int
fp_step(const char *prefix, const char *step, const char *when)
{
	char name[96];
	int error;

	snprintf(name, sizeof(name), "%s.%s.%s", prefix, step, when);
	if ((error = FAILPOINT(name)) < 0)
		err_set("failpoint %s", name);
	return error;
}

int
pl_cleanup(struct pipeline *p, struct store_env *row, bool *sg_left,
    bool terminate_instance, const char *pre)
{
	char ids[8][32], sg[32], kp[128];
	const char *idp[9];
	size_t n = 0, i, k = 0;
	int error = 0;

	*sg_left = false;
	if (terminate_instance) {
		if ((error = pl_instances_by_env_id(p, row->id, ids, 8, &n)) < 0)
			goto out;
		if (row->instance_id != NULL)
			idp[k++] = row->instance_id;
		for (i = 0; i < n; i++)
			if (row->instance_id == NULL ||
			    strcmp(ids[i], row->instance_id) != 0)
				idp[k++] = ids[i];
		if (k > 0) {
			if ((error = fp_step(pre, "instance", "before")) < 0)
				goto out;
			error = ec2_instances_terminate(p->ec2, idp, k);
			if (error == ERR_NOTFOUND && k > 1) {
				/* One id gone already: end the others one by one. */
				for (i = 0; i < k; i++) {
					error = ec2_instances_terminate(p->ec2, &idp[i], 1);
					if (error < 0 && error != ERR_NOTFOUND)
						goto out;
				}
				error = 0;
			}
			if (error == ERR_NOTFOUND)
				error = 0;
			if (error < 0) {
				err_prefix("terminating %s", idp[0]);
				goto out;
			}
			if ((error = fp_step(pre, "instance", "after")) < 0)
				goto out;
		}
	}
	if ((error = fp_step(pre, "s3", "before")) < 0)
		goto out;
	if ((error = pl_s3_prefix_delete(p, row->id)) < 0) {
		err_prefix("deleting S3 objects of %s", row->id);
		goto out;
	}
	if ((error = fp_step(pre, "s3", "after")) < 0)
		goto out;
	pl_row_set(row, STORE_ENV_SSH_KEY_S3_KEY, NULL);
	if ((error = fp_step(pre, "keypair", "before")) < 0)
		goto out;
	pl_resource_name(kp, sizeof(kp), row->id);
	if ((error = ec2_key_pair_delete(p->ec2, kp)) < 0 && error != ERR_NOTFOUND) {
		err_prefix("deleting key pair %s", kp);
		goto out;
	}
	error = 0;
	if ((error = fp_step(pre, "keypair", "after")) < 0)
		goto out;
	if (row->security_group_id != NULL)
		snprintf(sg, sizeof(sg), "%s", row->security_group_id);
	else if ((error = sg_find_by_name(p, row->id, sg)) < 0)
		goto out;
	if (sg[0] != '\0') {
		if ((error = fp_step(pre, "sg", "before")) < 0)
			goto out;
		error = ec2_security_group_delete(p->ec2, sg);
		if (error == ERR_NOTFOUND)
			error = 0;
		else if (error < 0 &&
		    strcmp(pl_aws_code(p), "DependencyViolation") == 0) {
			/* The instance is still shutting down: a later pass. */
			log_info("env_id=%s security group %s still in use; "
			    "deleted by a later pass", row->id, sg);
			pl_row_set(row, STORE_ENV_SECURITY_GROUP_ID, sg);
			*sg_left = true;
			error = 0;
		} else if (error < 0) {
			err_prefix("deleting security group %s", sg);
			goto out;
		}
		if (!*sg_left)
			pl_row_set(row, STORE_ENV_SECURITY_GROUP_ID, NULL);
		if ((error = fp_step(pre, "sg", "after")) < 0)
			goto out;
	} else
		pl_row_set(row, STORE_ENV_SECURITY_GROUP_ID, NULL);
out:
	return error;
}

/* Image aliases: owner and name pattern, x86_64, newest wins. */
static const struct {
	const char	*alias;
	const char	*owner;
	const char	*pattern;
} ami_aliases[] = {
	{ "al2023", "amazon", "al2023-ami-2023.*-x86_64" },
	{ "al2", "amazon", "amzn2-ami-hvm-*-x86_64-gp2" },
	{ "ubuntu-22.04", "099720109477",
	  "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*" },
	{ "ubuntu-24.04", "099720109477",
	  "ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-amd64-server-*" },
	{ "debian-12", "136693071363", "debian-12-amd64-*" },
};

int
pl_ami_resolve(struct pipeline *p, const char *image, char id[32],
    char root[64])
{
	struct ec2_describe_images_input in;
	struct ec2_image_list l;
	struct ec2_filter f[3];
	const char *owners[1], *names[1], *arch[1] = { "x86_64" },
	    *state[1] = { "available" }, *ids[1] = { image };
	const struct ec2_image *best = NULL;
	size_t i;
	int error;

	for (i = 0; i < p->nami; i++)
		if (strcmp(p->ami[i].alias, image) == 0) {
			snprintf(id, 32, "%s", p->ami[i].id);
			snprintf(root, 64, "%s", p->ami[i].root_device);
			return 0;
		}
	memset(&in, 0, sizeof(in));
	memset(&l, 0, sizeof(l));
	if (strncmp(image, "ami-", 4) == 0) {
		in.image_ids = ids;
		in.nimage_ids = 1;
	} else {
		for (i = 0; i < sizeof(ami_aliases) / sizeof(ami_aliases[0]); i++)
			if (strcmp(ami_aliases[i].alias, image) == 0)
				break;
		if (i == sizeof(ami_aliases) / sizeof(ami_aliases[0])) {
			err_set("unknown image alias '%s'", image);
			return ERR_INVALID;
		}
		owners[0] = ami_aliases[i].owner;
		names[0] = ami_aliases[i].pattern;
		f[0] = (struct ec2_filter){ "name", names, 1 };
		f[1] = (struct ec2_filter){ "architecture", arch, 1 };
		f[2] = (struct ec2_filter){ "state", state, 1 };
		in.owners = owners;
		in.nowners = 1;
		in.filters = f;
		in.nfilters = 3;
	}
	if ((error = ec2_images_describe(&l, p->ec2, &in)) < 0) {
		if (error == ERR_NOTFOUND)
			err_set("image %s not found in region %s: check the image "
			    "alias or id", image, aws_client_region(p->aws));
		else
			err_prefix("resolving image %s", image);
		return error;
	}
	for (i = 0; i < l.n; i++) {
		const struct ec2_image *im = &l.v[i];

		if (best == NULL || im->created > best->created ||
		    (im->created == best->created && strcmp(im->name, best->name) > 0))
			best = im;
	}
	if (best == NULL) {
		ec2_image_list_dispose(&l);
		err_set("image %s: no matching image in region %s: check the image "
		    "alias or id", image, aws_client_region(p->aws));
		return ERR_NOTFOUND;
	}
	snprintf(id, 32, "%s", best->id);
	snprintf(root, 64, "%s", best->root_device_name[0] ? best->root_device_name :
	    "/dev/xvda");
	if (p->nami < PL_AMI_CACHE) {
		snprintf(p->ami[p->nami].alias, sizeof(p->ami[0].alias), "%s", image);
		snprintf(p->ami[p->nami].id, sizeof(p->ami[0].id), "%s", id);
		snprintf(p->ami[p->nami].root_device, sizeof(p->ami[0].root_device),
		    "%s", root);
		p->nami++;
	}
	ec2_image_list_dispose(&l);
	return 0;
}

/* The live row job acts on, fresh from the database (caller disposes). */
static int
job_row(struct pipeline *p, const struct pipeline_job *job, struct store_env *row)
{
	int error;

	memset(row, 0, sizeof(*row));
	if (job->row == NULL) {
		err_set("no record to act on");
		return ERR_NOTFOUND;
	}
	if ((error = store_env_get(row, p->store, job->row->id)) < 0)
		err_prefix("reading the record of %s", job->name);
	return error;
}

/* The termination reason recorded for a TERMINATE or CLOSE action. */
static const char *
terminate_reason(const struct pipeline_job *job, const struct store_env *row)
{
	if (strncmp(job->reason, "ttl expired", 11) == 0)
		return "ttl expired";
	if (row->termination_reason != NULL && row->status == STORE_STATUS_TERMINATING)
		return row->termination_reason;
	if (job->spec == NULL)
		return "spec removed";
	return "spec removed";
}

static int
job_terminate_duplicate(struct pipeline *p, struct pipeline_job *job)
{
	const char *id = job->inst != NULL ? job->inst->id : NULL;
	char esc[64];
	int error;

	if (id == NULL)
		return 0;
	if ((error = FAILPOINT("terminate.instance.before")) < 0) {
		err_set("failpoint terminate.instance.before");
		return error;
	}
	if ((error = ec2_instances_terminate(p->ec2, &id, 1)) < 0 &&
	    error != ERR_NOTFOUND)
		return error;
	pl_json_escape(esc, sizeof(esc), id);
	snprintf(job->stage, sizeof(job->stage), "terminated");
	return pl_event(p, job->row != NULL ? job->row->id : NULL,
	    "orphan.terminated", "{\"instance_id\":\"%s\",\"reason\":"
	    "\"%s\"}", esc, job->row != NULL ? "duplicate instance" :
	    "no record");
}

int
pipeline_job_run(struct pipeline *p, struct pipeline_job *job)
{
	struct store_env row;
	int error = 0;

	memset(&row, 0, sizeof(row));
	switch (job->kind) {
	case PLAN_PROVISION:
		error = pl_provision_new(p, job);
		break;
	case PLAN_RETRY:
	case PLAN_ADVANCE:
		if ((error = job_row(p, job, &row)) < 0)
			break;
		error = pl_provision_resume(p, job, &row, job->kind == PLAN_RETRY);
		break;
	case PLAN_REPLACE:
		if ((error = job_row(p, job, &row)) < 0)
			break;
		if ((error = pl_terminate(p, job, &row,
		    job->inst ? job->inst->id : NULL, "replaced for drift")) < 0)
			break;
		error = pl_provision_new(p, job);
		break;
	case PLAN_DRIFT_GONE:
		if ((error = job_row(p, job, &row)) < 0)
			break;
		if ((error = pl_drift_gone(p, job, &row)) < 0)
			break;
		error = pl_provision_new(p, job);
		break;
	case PLAN_ADOPT:
		error = pl_adopt(p, job);
		break;
	case PLAN_TERMINATE:
	case PLAN_CLOSE:
		if (strncmp(job->reason, "duplicate", 9) == 0 ||
		    (job->row == NULL && job->inst != NULL)) {
			error = job_terminate_duplicate(p, job);
			break;
		}
		if ((error = job_row(p, job, &row)) < 0)
			break;
		error = pl_terminate(p, job, &row,
		    job->inst != NULL ? job->inst->id : NULL,
		    terminate_reason(job, &row));
		break;
	case PLAN_ORPHAN:
		error = pl_orphan(p, job);
		break;
	case PLAN_DRIFT_REPORT:
		error = pl_drift_report(p, job);
		break;
	case PLAN_GC:
		error = pl_gc(p, job);
		break;
	default:
		break;
	}
	store_env_dispose(&row);
	job->result = error;
	if (error < 0 && job->error == NULL)
		job->error = xstrdup(err_get());
	return error;
}
