/*
 * provision.c - the provision pipeline: one function per transition of
 * the row's stage, readiness checked once per pass (the probes are in
 * readiness.c), launches that move on from pools without capacity
 * (capacity.c), rollback on failure, and adopting a lost row.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "aws.h"
#include "ec2.h"
#include "log.h"
#include "mem.h"
#include "pipeline_int.h"
#include "s3.h"
#include "spec.h"
#include "sshkey.h"
#include "userdata.h"

/* What one provision run holds in memory (nothing here is durable). */
struct prov {
	struct pipeline			*p;
	struct pipeline_job		*job;
	const struct spec		*spec;
	struct store_env		*row;
	struct sshkey			*key;	/* generated this run, or NULL */
	int				 tags_seen;	/* launch answer had our spec-hash tag */
	enum store_stage		 start;		/* the row's stage when the job began */
	bool				 kp_made;	/* ImportKeyPair sent by this job */
	bool				 sg_made;	/* the row's group made by this job */
};

static const char *
key_file(const struct spec *spec)
{
	return spec->access.ssh.key_type == SPEC_KEY_RSA ? "id_rsa" : "id_ed25519";
}

static int
set_stage(struct prov *pv, enum store_stage stage, unsigned extra,
    const char *fpb, const char *fpa)
{
	enum store_stage was = pv->row->stage;
	bool written;
	int error;

	pv->row->stage = stage;
	error = pl_row_write(&written, pv->p, pv->row, STORE_ENV_STAGE | extra,
	    fpb, fpa);
	if (!written)
		pv->row->stage = was;	/* the row is still at was */
	else
		pl_job_stage(pv->job, stage);
	return error;
}

/* INIT -> KEYS_GENERATED: a new key pair in memory (spec key: auto). */
static int
step_keys_generated(struct prov *pv)
{
	const struct spec *s = pv->spec;
	char comment[128];
	int error;

	if (s->access.ssh.key == SPEC_KEY_AUTO) {
		snprintf(comment, sizeof(comment), "envctl-%s", s->name);
		if ((error = sshkey_generate(&pv->key,
		    s->access.ssh.key_type == SPEC_KEY_RSA ? SSHKEY_RSA :
		    SSHKEY_ED25519, comment)) < 0)
			return error;
	}
	pv->row->status = STORE_STATUS_PROVISIONING;
	return set_stage(pv, STORE_STAGE_KEYS_GENERATED, STORE_ENV_STATUS,
	    "provision.keys_generated.before", "provision.keys_generated.after");
}

/* KEYS_GENERATED -> KEYS_UPLOADED: both halves to S3 with SSE, path recorded. */
static int
step_keys_uploaded(struct prov *pv)
{
	struct pipeline *p = pv->p;
	const struct spec *s = pv->spec;
	struct s3_put_opts po;
	char *priv = NULL, *pub = NULL, *kpriv = NULL, *kpub = NULL, *pubname = NULL;
	size_t privlen = 0;
	int error = 0;

	if (s->access.ssh.key == SPEC_KEY_AUTO) {
		if (pv->key == NULL) {
			/* Resumed after a crash: the key never left memory; make another. */
			char comment[128];

			snprintf(comment, sizeof(comment), "envctl-%s", s->name);
			if ((error = sshkey_generate(&pv->key,
			    s->access.ssh.key_type == SPEC_KEY_RSA ? SSHKEY_RSA :
			    SSHKEY_ED25519, comment)) < 0)
				goto out;
		}
		if ((error = sshkey_private_openssh(&priv, &privlen, pv->key)) < 0)
			goto out;
		pub = sshkey_public_line(pv->key);
		kpriv = pl_s3_key(p, pv->row->id, key_file(s));
		pubname = xasprintf("%s.pub", key_file(s));
		kpub = pl_s3_key(p, pv->row->id, pubname);
		memset(&po, 0, sizeof(po));
		po.sse = S3_SSE_AES256;
		po.content_type = "text/plain";
		FP("provision.s3_keys.before");
		po.secret = 1;
		if ((error = s3_object_put(p->s3, p->o.bucket, kpriv, priv, privlen,
		    &po)) < 0) {
			err_prefix("uploading the private key");
			goto out;
		}
		po.secret = 0;
		if ((error = s3_object_put(p->s3, p->o.bucket, kpub, pub, strlen(pub),
		    &po)) < 0) {
			err_prefix("uploading the public key");
			goto out;
		}
		FP("provision.s3_keys.after");
		pl_row_set(pv->row, STORE_ENV_SSH_KEY_S3_KEY, kpriv);
	}
	error = set_stage(pv, STORE_STAGE_KEYS_UPLOADED, STORE_ENV_SSH_KEY_S3_KEY,
	    "provision.keys_uploaded.before", "provision.keys_uploaded.after");
out:
	mem_free_secret(priv);
	free(pub);
	free(kpriv);
	free(kpub);
	free(pubname);
	/* The private half is in S3 now (or lost with this run): wipe it. */
	sshkey_free(pv->key);
	pv->key = NULL;
	return error;
}

/* The public key line of the environment (caller frees), or NULL for a named key pair. */
static int
public_key_line(char **out, struct prov *pv)
{
	struct pipeline *p = pv->p;
	const struct spec *s = pv->spec;
	char *kpub, *pubname, *body = NULL;
	size_t len = 0;
	int error;

	*out = NULL;
	switch (s->access.ssh.key) {
	case SPEC_KEY_PUBLIC:
		*out = xstrdup(s->access.ssh.public_key);
		return 0;
	case SPEC_KEY_NAME:
		return 0;
	default:
		break;
	}
	pubname = xasprintf("%s.pub", key_file(s));
	kpub = pl_s3_key(p, pv->row->id, pubname);
	error = s3_object_get(&body, &len, p->s3, p->o.bucket, kpub, 16384, 0);
	if (error < 0)
		err_prefix("reading the public key %s", kpub);
	else {
		body[strcspn(body, "\r\n")] = '\0';
		*out = body;
	}
	free(kpub);
	free(pubname);
	return error;
}

static void
env_tags(struct pipeline *p, const struct prov *pv, struct ec2_kv *kv,
    size_t *n, char *namebuf, size_t namesz, int with_hash)
{
	const struct spec *s = pv->spec;
	size_t k = 0, i;

	snprintf(namebuf, namesz, "envctl-%s", s->name);
	kv[k++] = (struct ec2_kv){ p->tags.managed, "true" };
	kv[k++] = (struct ec2_kv){ p->tags.cluster, p->o.cluster_id };
	kv[k++] = (struct ec2_kv){ p->tags.env, s->name };
	kv[k++] = (struct ec2_kv){ p->tags.env_id, pv->row->id };
	if (with_hash)
		kv[k++] = (struct ec2_kv){ p->tags.spec_hash, pv->job->spec_hash };
	kv[k++] = (struct ec2_kv){ p->tags.workspace, s->workspace };
	kv[k++] = (struct ec2_kv){ "Name", namebuf };
	for (i = 0; i < s->ntags; i++)
		kv[k++] = (struct ec2_kv){ s->tags[i].key, s->tags[i].value };
	*n = k;
}

/* The ingress rules the spec asks for, IPv4 and IPv6 (rules[] sized by caller). */
static size_t
spec_rules(const struct spec *s, struct ec2_ingress_rule *r, size_t max)
{
	size_t n = 0, i, j;

	for (i = 0; i < s->access.ssh.nallow && n < max; i++)
		r[n++] = (struct ec2_ingress_rule){ "tcp", 22, 22,
		    s->access.ssh.allow_from[i].text, "ssh" };
	for (i = 0; i < s->access.nports; i++) {
		const struct spec_port *pt = &s->access.ports[i];

		for (j = 0; j < pt->nallow && n < max; j++)
			r[n++] = (struct ec2_ingress_rule){
			    pt->protocol == SPEC_PROTO_UDP ? "udp" : "tcp",
			    (int)pt->port, (int)pt->port, pt->allow_from[j].text, NULL };
	}
	return n;
}

/*
 * Whether two CIDRs are the same network: compared as addresses, so
 * "2001:DB8::/64" and "2001:db8:0::/64" (EC2 may spell it either way)
 * are equal; text that does not parse is compared as text.
 */
static int
cidr_equal(const char *a, const char *b)
{
	unsigned char aa[16], ab[16];
	char ta[64], tb[64], *sa, *sb;
	int fa, fb;

	if (strcmp(a, b) == 0)
		return 1;
	snprintf(ta, sizeof(ta), "%s", a);
	snprintf(tb, sizeof(tb), "%s", b);
	if ((sa = strchr(ta, '/')) == NULL || (sb = strchr(tb, '/')) == NULL)
		return 0;
	*sa++ = '\0';
	*sb++ = '\0';
	fa = strchr(ta, ':') != NULL ? AF_INET6 : AF_INET;
	fb = strchr(tb, ':') != NULL ? AF_INET6 : AF_INET;
	if (fa != fb || strcmp(sa, sb) != 0 || inet_pton(fa, ta, aa) != 1 ||
	    inet_pton(fb, tb, ab) != 1)
		return 0;
	return memcmp(aa, ab, fa == AF_INET6 ? 16 : 4) == 0;
}

/*
 * Revoke the rules of group gid the spec does not ask for; l is the
 * group as described before the spec's rules were authorized.
 */
static int
sg_revoke_extra(struct pipeline *p, const char *gid,
    const struct ec2_security_group_list *l,
    const struct ec2_ingress_rule *want, size_t nwant)
{
	struct ec2_ingress_rule extra[64];
	size_t i, j, n = 0;
	int error = 0;

	for (i = 0; l->n > 0 && i < l->v[0].ningress && n < 64; i++) {
		const struct ec2_sg_rule *r = &l->v[0].ingress[i];

		for (j = 0; j < nwant; j++)
			if (strcmp(r->protocol, want[j].protocol) == 0 &&
			    r->from_port == want[j].from_port &&
			    r->to_port == want[j].to_port &&
			    cidr_equal(r->cidr, want[j].cidr))
				break;
		if (j == nwant)
			extra[n++] = (struct ec2_ingress_rule){ r->protocol,
			    r->from_port, r->to_port, r->cidr, NULL };
	}
	if (n > 0)
		error = ec2_security_group_ingress_revoke(p->ec2, gid, extra, n);
	return error;
}

/*
 * The VPC of the spec's subnets into vpc ("" without subnets: the
 * default VPC).  A group serves one VPC only, so subnets of different
 * VPCs are an error, as is a subnet that does not exist.
 */
static int
subnets_vpc(struct pipeline *p, const struct spec *s, char vpc[32])
{
	struct ec2_subnet_list l;
	size_t i, j;
	int error;

	vpc[0] = '\0';
	if (s->instance.nsubnets == 0)
		return 0;
	memset(&l, 0, sizeof(l));
	if ((error = ec2_subnets_describe(&l, p->ec2, s->instance.subnets,
	    s->instance.nsubnets)) < 0) {
		err_prefix("looking up the VPC of subnet%s %s%s",
		    s->instance.nsubnets > 1 ? "s" : "", s->instance.subnets[0],
		    s->instance.nsubnets > 1 ? ", ..." : "");
		goto out;
	}
	for (i = 0; i < s->instance.nsubnets; i++) {
		for (j = 0; j < l.n; j++)
			if (strcmp(l.v[j].id, s->instance.subnets[i]) == 0)
				break;
		if (j == l.n) {
			err_set("subnet %s not found in region %s",
			    s->instance.subnets[i], aws_client_region(p->aws));
			error = ERR_NOTFOUND;
			goto out;
		}
		if (vpc[0] == '\0')
			snprintf(vpc, 32, "%s", l.v[j].vpc_id);
		else if (strcmp(vpc, l.v[j].vpc_id) != 0) {
			err_set("subnets %s and %s are in different VPCs (%s, %s); "
			    "one security group cannot serve both",
			    s->instance.subnets[0], s->instance.subnets[i], vpc,
			    l.v[j].vpc_id);
			error = ERR_INVALID;
			goto out;
		}
	}
out:
	ec2_subnet_list_dispose(&l);
	return error;
}

/* KEYS_UPLOADED -> SG_READY: key pair imported, group made with exactly the spec's rules. */
static int
step_sg_ready(struct prov *pv)
{
	struct pipeline *p = pv->p;
	const struct spec *s = pv->spec;
	struct ec2_kv kv[SPEC_TAGS_AWS_MAX + 8];
	struct ec2_ingress_rule rules[256];
	struct ec2_security_group_list have;
	char name[128], gid[32], nametag[128], *pub = NULL, desc[160], vpc[32];
	size_t nkv, nrules;
	bool existed = false;
	unsigned waited;
	int error = 0;

	memset(&have, 0, sizeof(have));

	env_tags(p, pv, kv, &nkv, nametag, sizeof(nametag), 0);
	pl_resource_name(name, sizeof(name), pv->row->id);
	if (s->access.ssh.key != SPEC_KEY_NAME) {
		if ((error = public_key_line(&pub, pv)) < 0)
			goto out;
		FP("provision.keypair.before");
		/* Made (or not) moments ago: a rollback waits for it to show. */
		pv->kp_made = true;
		error = ec2_key_pair_import(NULL, p->ec2, name, pub, kv, nkv);
		if (error == ERR_EXISTS)
			error = 0;
		else if (error < 0 && aws_client_last_error(p->aws) != NULL &&
		    aws_client_last_error(p->aws)->http_status >= 400 &&
		    aws_client_last_error(p->aws)->http_status < 500)
			pv->kp_made = false;	/* EC2 refused it: nothing made */
		if (error < 0) {
			err_prefix("importing key pair %s", name);
			goto out;
		}
		FP("provision.keypair.after");
	}
	gid[0] = '\0';
	if (pv->row->security_group_id != NULL) {
		snprintf(gid, sizeof(gid), "%s", pv->row->security_group_id);
		existed = true;
	} else {
		snprintf(desc, sizeof(desc), "envctl environment %s", s->name);
		if ((error = subnets_vpc(p, s, vpc)) < 0)
			goto out;
		FP("provision.sg_create.before");
		error = ec2_security_group_create(gid, sizeof(gid), p->ec2, name,
		    desc, vpc[0] != '\0' ? vpc : NULL, kv, nkv);
		if (error == ERR_EXISTS) {
			/* A retried create: the deterministic name finds it. */
			existed = true;
			if ((error = pl_sg_find(p, pv->row, gid)) == 0 &&
			    gid[0] == '\0') {
				err_set("security group %s reported duplicate but "
				    "not found", name);
				error = ERR_NOTFOUND;
			}
		}
		if (error < 0) {
			err_prefix("creating security group %s", name);
			goto out;
		}
		/*
		 * Named on the row (in memory) at once: a rollback before the
		 * write below still knows the group it must wait for.
		 */
		pl_row_set(pv->row, STORE_ENV_SECURITY_GROUP_ID, gid);
		pv->sg_made = true;
		FP("provision.sg_create.after");
		if ((error = pl_row_update(p, pv->row, STORE_ENV_SECURITY_GROUP_ID,
		    "provision.sg_record.before", "provision.sg_record.after")) < 0)
			goto out;
	}
	nrules = spec_rules(s, rules, sizeof(rules) / sizeof(rules[0]));
	/*
	 * A group that existed already is changed only if it is ours; the
	 * one description serves the check and the extra rules.
	 */
	waited = 0;
	while (existed && (error = pl_own_sg(&have, p, pv->row, gid)) < 0 &&
	    pl_consistency_wait(p, &waited, PL_CONSISTENCY_MS, error,
	    "InvalidGroup.NotFound"))
		ec2_security_group_list_dispose(&have);
	if (existed && error < 0) {
		if (error != ERR_FOREIGN)
			err_prefix("describing security group %s", gid);
		goto out;
	}
	FP("provision.sg_ingress.before");
	/* A group made moments ago may be unknown to the next call for a while. */
	waited = 0;
	do
		error = nrules > 0 ? ec2_security_group_ingress_authorize(p->ec2,
		    gid, rules, nrules) : 0;
	while (pl_consistency_wait(p, &waited, PL_CONSISTENCY_MS, error,
	    "InvalidGroup.NotFound"));
	if (error < 0) {
		err_prefix("authorizing ingress on %s", gid);
		goto out;
	}
	if (existed && (error = sg_revoke_extra(p, gid, &have, rules,
	    nrules)) < 0) {
		err_prefix("revoking extra ingress on %s", gid);
		goto out;
	}
	FP("provision.sg_ingress.after");
	error = set_stage(pv, STORE_STAGE_SG_READY, 0, "provision.sg_ready.before",
	    "provision.sg_ready.after");
out:
	ec2_security_group_list_dispose(&have);
	free(pub);
	return error;
}

/*
 * The secrets env file to S3 and its presigned GET (caller frees *url).
 * Each value is read now from the secret namespace (secrets.c).
 */
static int
secrets_upload(char **url, struct prov *pv)
{
	struct pipeline *p = pv->p;
	const struct spec *s = pv->spec;
	const char **names = NULL;
	char **values = NULL;
	char *body = NULL, *key = NULL;
	struct s3_put_opts po;
	size_t i, n = s->bootstrap.nsecrets;
	unsigned expires;
	int error = 0;

	*url = NULL;
	if (n == 0)
		return 0;
	names = xcalloc(n, sizeof(*names));
	values = xcalloc(n, sizeof(*values));
	for (i = 0; i < n; i++) {
		names[i] = s->bootstrap.secrets[i].name;
		if ((error = pl_secret_read(&values[i], p,
		    &s->bootstrap.secrets[i])) < 0)
			goto out;
	}
	if ((error = userdata_secrets_render(&body, names,
	    (const char *const *)values, n)) < 0)
		goto out;
	key = pl_s3_key(p, pv->row->id, "secrets.env");
	memset(&po, 0, sizeof(po));
	po.sse = S3_SSE_AES256;
	po.secret = 1;
	po.content_type = "text/plain";
	FP("provision.secrets.before");
	if ((error = s3_object_put(p->s3, p->o.bucket, key, body, strlen(body),
	    &po)) < 0) {
		err_prefix("uploading the secrets object");
		goto out;
	}
	FP("provision.secrets.after");
	expires = s->lifecycle.ready_timeout_s > 60 ?
	    (unsigned)s->lifecycle.ready_timeout_s : 60;
	error = pl_presign_at(url, p, "GET", key, expires, pv->row->launched_at);
out:
	for (i = 0; values != NULL && i < n; i++)
		mem_free_secret(values[i]);
	mem_free_secret(body);
	free(key);
	free(names);
	free(values);
	return error;
}

/*
 * Record the instance the launch made (or the one a crash left), its
 * price per hour set by pl_cost_launch() before.
 */
static int
record_instance(struct prov *pv, const struct ec2_instance *in, const char *ami)
{
	struct pipeline *p = pv->p;
	const char *type;
	const char *hash = ec2_instance_tag(in, p->tags.spec_hash);

	pv->tags_seen = hash != NULL && strcmp(hash, pv->job->spec_hash) == 0;
	pl_row_set(pv->row, STORE_ENV_INSTANCE_ID, in->id);
	pl_row_set(pv->row, STORE_ENV_MARKET,
	    in->market == EC2_MARKET_SPOT ? "spot" : "on-demand");
	pl_row_set(pv->row, STORE_ENV_SUBNET_ID, in->subnet_id[0] ? in->subnet_id : NULL);
	pl_row_set(pv->row, STORE_ENV_AMI_ID, ami != NULL ? ami :
	    (in->image_id[0] ? in->image_id : NULL));
	pl_row_set(pv->row, STORE_ENV_PUBLIC_IP, in->public_ip[0] ? in->public_ip : NULL);
	/* the type the launch chose among instance.types */
	type = in->type[0] != '\0' ? in->type : pv->spec->instance.type;
	pl_row_set(pv->row, STORE_ENV_INSTANCE_TYPE, type);
	pv->row->launched_at = in->launched > 0 ? in->launched : pl_now(p);
	return set_stage(pv, STORE_STAGE_INSTANCE_LAUNCHED, STORE_ENV_INSTANCE_ID |
	    STORE_ENV_MARKET | STORE_ENV_SUBNET_ID | STORE_ENV_AMI_ID |
	    STORE_ENV_PUBLIC_IP | STORE_ENV_COST_PER_HOUR | STORE_ENV_LAUNCHED_AT |
	    STORE_ENV_INSTANCE_TYPE, "provision.instance_launched.before", "provision.instance_launched.after");
}

/* An instance of this incarnation that exists already (crash between run and record). */
static int
find_launched(struct prov *pv, struct ec2_instance *out, int *found)
{
	struct pipeline *p = pv->p;
	struct ec2_instance_page page;
	struct ec2_describe_instances_input in;
	char ids[4][32];
	const char *idp[1];
	size_t n = 0;
	int error;

	*found = 0;
	/*
	 * SG_READY is written before RunInstances is sent, and a failed
	 * attempt's instance is terminated by its rollback: when this job
	 * itself brought the row to SG_READY, no instance of this
	 * incarnation can exist, and the filtered DescribeInstances (one
	 * per launch, the costliest call of a large fleet) is skipped.
	 */
	if (pv->start < STORE_STAGE_SG_READY)
		return 0;
	if (pv->job->inst != NULL) {
		const char *tag = ec2_instance_tag(pv->job->inst, p->tags.env_id);

		if (tag != NULL && strcmp(tag, pv->row->id) == 0) {
			snprintf(ids[0], 32, "%s", pv->job->inst->id);
			n = 1;
		}
	}
	if (n == 0 && (error = pl_instances_by_env_id(p, pv->row->id, ids, 4, &n)) < 0)
		return error;
	if (n == 0)
		return 0;
	idp[0] = ids[0];
	memset(&in, 0, sizeof(in));
	in.instance_ids = idp;
	in.ninstance_ids = 1;
	memset(&page, 0, sizeof(page));
	if ((error = ec2_instances_describe_page(&page, p->ec2, &in, NULL)) < 0)
		return error == ERR_NOTFOUND ? 0 : error;
	if (page.n > 0) {
		*out = page.v[0];
		memset(&page.v[0], 0, sizeof(page.v[0]));
		*found = 1;
		log_info("env=%s env_id=%s found instance %s launched before a "
		    "crash; recording it", pv->spec->name, pv->row->id, out->id);
	}
	ec2_instance_page_dispose(&page);
	return 0;
}

/*
 * The launch intent, written once: the image and the time the
 * user-data's presigned URLs are signed at.  A replay after a crash
 * renders the same bytes, so the same ClientToken is accepted.
 */
static int
launch_intent(struct prov *pv, const char *ami)
{
	struct pipeline *p = pv->p;
	const struct spec *s = pv->spec;

	if (pv->row->launched_at != 0 && pv->row->ami_id != NULL)
		return 0;
	pv->row->launched_at = pl_now(p);
	pl_row_set(pv->row, STORE_ENV_AMI_ID, ami);
	pl_row_set(pv->row, STORE_ENV_MARKET,
	    s->instance.market == SPEC_MARKET_SPOT ? "spot" : "on-demand");
	pl_row_set(pv->row, STORE_ENV_SUBNET_ID, s->instance.nsubnets > 0 ?
	    s->instance.subnets[0] : NULL);
	return pl_row_update(p, pv->row, STORE_ENV_LAUNCHED_AT |
	    STORE_ENV_AMI_ID | STORE_ENV_MARKET | STORE_ENV_SUBNET_ID,
	    "provision.launch_intent.before", "provision.launch_intent.after");
}

/*
 * The instance's user-data: its public key (or a comment for a named key
 * pair), the presigned URLs of its bootstrap marker and its secrets.
 */
static int
launch_script(char **script, struct prov *pv)
{
	struct pipeline *p = pv->p;
	const struct spec *s = pv->spec;
	struct userdata_params up;
	char *pub = NULL, *marker_key = NULL, *marker_url = NULL,
	    *secrets_url = NULL, *int_key = NULL, *int_url = NULL;
	unsigned expires;
	int error;

	*script = NULL;
	if ((error = public_key_line(&pub, pv)) < 0)
		goto out;
	if (pub == NULL)	/* a named key pair: EC2 installs it */
		pub = xasprintf("# key pair %s installed by EC2",
		    s->access.ssh.key_name);
	marker_key = pl_s3_key(p, pv->row->id, "bootstrap-done.json");
	expires = (unsigned)(s->lifecycle.ready_timeout_s + 600 <
	    S3_PRESIGN_MAX_EXPIRES ? s->lifecycle.ready_timeout_s + 600 :
	    S3_PRESIGN_MAX_EXPIRES);
	if ((error = pl_presign_at(&marker_url, p, "PUT", marker_key, expires,
	    pv->row->launched_at)) < 0)
		goto out;
	if ((error = secrets_upload(&secrets_url, pv)) < 0)
		goto out;
	/*
	 * Spot: the interruption watcher's marker, under one prefix for the
	 * fleet (the controller lists it once a pass), valid as long as S3
	 * allows a presigned URL: 7 days (docs/design.md §6.7.1).
	 */
	if (s->instance.market == SPEC_MARKET_SPOT) {
		int_key = pl_spot_marker_key(p, pv->row->id);
		if ((error = pl_presign_at(&int_url, p, "PUT", int_key,
		    S3_PRESIGN_MAX_EXPIRES, pv->row->launched_at)) < 0)
			goto out;
	}
	memset(&up, 0, sizeof(up));
	up.env_id = pv->row->id;
	up.public_key = pub;
	up.marker_url = marker_url;
	up.secrets_url = secrets_url;
	up.default_user = s->access.ssh.user;	/* NULL: the image's */
	up.idle_stop_s = spec_idle_stop_effective(s->lifecycle.idle_stop_s,
	    s->lifecycle.on_idle, s->instance.market, p->o.idle_stop_s);
	up.interrupt_url = int_url;
	error = userdata_render(script, NULL, s, &up);
out:
	free(pub);
	free(marker_key);
	free(int_key);
	mem_free_secret(int_url);
	mem_free_secret(marker_url);
	mem_free_secret(secrets_url);
	return error;
}

/*
 * The user-data of this attempt's launch.  A replayed RunInstances (same
 * ClientToken) must send the very same bytes, or EC2 answers
 * IdempotentParameterMismatch; but the presigned URLs in the script
 * depend on the credentials that signed them, which may have been
 * rotated since (a session renewed, a role assumed again).  So the
 * script is kept in S3 (SSE, beside the keys, one object per attempt)
 * before the attempt's first RunInstances, and a launch that resumes
 * (the row was at SG_READY before this job) sends it again as it was.
 */
static int
launch_user_data(char **script, struct prov *pv)
{
	struct pipeline *p = pv->p;
	struct s3_put_opts po;
	char *key = NULL, file[48];
	size_t len;
	int error;

	*script = NULL;
	snprintf(file, sizeof(file), "user-data-%d.sh", pv->row->attempts);
	key = pl_s3_key(p, pv->row->id, file);
	if (pv->start >= STORE_STAGE_SG_READY) {
		error = s3_object_get(script, &len, p->s3, p->o.bucket, key,
		    USERDATA_RAW_MAX, 1);
		if (error == 0) {
			log_info("env=%s env_id=%s launch resumed: the user-data of "
			    "attempt %d sent again as it was", pv->spec->name,
			    pv->row->id, pv->row->attempts);
			goto out;
		}
		if (error != ERR_NOTFOUND) {
			err_prefix("reading the user-data of attempt %d",
			    pv->row->attempts);
			goto out;
		}
		err_clear();
	}
	if ((error = launch_script(script, pv)) < 0)
		goto out;
	memset(&po, 0, sizeof(po));
	po.sse = S3_SSE_AES256;
	po.secret = 1;
	po.content_type = "text/x-shellscript";
	if ((error = s3_object_put(p->s3, p->o.bucket, key, *script,
	    strlen(*script), &po)) < 0)
		err_prefix("keeping the user-data");
out:
	if (error < 0) {
		mem_free_secret(*script);
		*script = NULL;
	}
	free(key);
	return error;
}

/*
 * The pools a launch may use: (market, type, subnet) for each market
 * (spot, then on-demand if the spec falls back), each type of
 * instance.types and each subnet, in that order: a pool's index in it
 * makes its ClientToken.  With no subnets listed: no subnet (EC2 picks
 * the zone), then the default VPC's subnets zone by zone (the group is
 * made in the default VPC too).  Spot pools are then ranked by placement
 * score and price (pools_rank()), when there is a choice to make.
 */
#define POOLS_DEFAULT_MAX	16
#define POOLS_TYPES_MAX		8

struct pools {
	struct pl_pool		*v;		/* n of them, in launch order */
	size_t			 n;
	int			 ranked;	/* scores known: v is ranked */
	struct ec2_subnet_list	 defaults;	/* pools_dispose() frees */
	struct ec2_subnet_list	 named;		/* the spec's subnets' zones */
};

/* The chosen pool, for the launch event. */
struct pool_choice {
	char	type[32];
	char	subnet[32];
	char	az_id[32];
	int	spot;
	int	score;
	int	ranked;
	double	price;
	size_t	rank;
};

/* The zone (name and id) of subnet id in l, or NULLs. */
static void
subnet_zone(const struct ec2_subnet_list *l, const char *id, const char **az,
    const char **az_id)
{
	size_t i;

	for (i = 0; id != NULL && i < l->n; i++)
		if (strcmp(l->v[i].id, id) == 0) {
			*az = l->v[i].az[0] != '\0' ? l->v[i].az : NULL;
			*az_id = l->v[i].az_id[0] != '\0' ? l->v[i].az_id : NULL;
			return;
		}
}

/*
 * The scores and prices of type, from the cache or from EC2.  Neither
 * call's failure fails the launch: without scores the pools keep the
 * spec's order (logged once per PL_SCORES_TTL, as the failure is cached).
 */
static void
type_scores(struct pl_scores *out, struct pipeline *p, const char *type)
{
	struct ec2_placement_score_list l;
	struct ec2_spot_price_list pl;
	const struct ec2_spot_price *z[PL_SCORES_AZ_MAX];
	const char *region = aws_client_region(p->aws);
	const char *types[1] = { type }, *regions[1] = { region };
	time_t now = pl_now(p);
	size_t i, nz;

	if (pl_scores_cached(p->o.capacity, region, type, now, out))
		return;
	memset(out, 0, sizeof(*out));
	if (ec2_spot_placement_scores(&l, p->ec2, types, 1, regions, 1, 1, 1) < 0) {
		log_warnx("spot placement scores of %s in %s: %s; its pools keep "
		    "the spec's order for %ds", type, region, err_get(),
		    PL_SCORES_TTL);
		err_clear();
		out->failed = 1;
		pl_scores_remember(p->o.capacity, region, type, now, out);
		return;
	}
	for (i = 0; i < l.n && out->n < PL_SCORES_AZ_MAX; i++) {
		snprintf(out->v[out->n].az_id, sizeof(out->v[0].az_id), "%s",
		    l.v[i].az_id);
		out->v[out->n++].score = l.v[i].score;
	}
	ec2_placement_score_list_dispose(&l);
	/* the newest price of each zone */
	if (ec2_spot_price_history(&pl, p->ec2, type, NULL, 0, 100) < 0) {
		log_warnx("spot prices of %s in %s: %s; ties keep the spec's "
		    "order", type, region, err_get());
		err_clear();
	}
	nz = pipeline_spot_newest(z, PL_SCORES_AZ_MAX - out->n, &pl);
	for (i = 0; i < nz; i++) {
		snprintf(out->v[out->n].az, sizeof(out->v[0].az), "%s", z[i]->az);
		out->v[out->n++].price = strtod(z[i]->price, NULL);
	}
	ec2_spot_price_list_dispose(&pl);
	pl_scores_remember(p->o.capacity, region, type, now, out);
}

/*
 * Rank the spot pools: each pool's zone (its subnet's; none for "EC2
 * picks"), the score of its (type, zone) and the zone's recent price.
 * Only when there is a choice (more than one type, or subnets listed),
 * so that a spec of one type and no subnets launches as it always did.
 */
static void
pools_rank(struct pools *pl, struct pipeline *p, const struct spec *s)
{
	struct pl_scores sc;
	const struct ec2_subnet_list *zones;
	size_t i, t;

	if (s->instance.market != SPEC_MARKET_SPOT ||
	    (s->instance.ntypes < 2 && s->instance.nsubnets < 2))
		return;
	zones = &pl->defaults;
	if (s->instance.nsubnets > 0) {
		if (ec2_subnets_describe(&pl->named, p->ec2, s->instance.subnets,
		    s->instance.nsubnets) < 0) {
			log_warnx("env=%s the zones of its subnets: %s; pools in "
			    "the spec's order", s->name, err_get());
			err_clear();
			return;
		}
		zones = &pl->named;
	}
	for (i = 0; i < pl->n; i++)
		subnet_zone(zones, pl->v[i].subnet, &pl->v[i].az, &pl->v[i].az_id);
	for (t = 0; t < s->instance.ntypes && t < POOLS_TYPES_MAX; t++) {
		type_scores(&sc, p, s->instance.types[t]);
		if (sc.failed)
			continue;
		pl->ranked = 1;
		for (i = 0; i < pl->n; i++) {
			if (!pl->v[i].spot || pl->v[i].type != s->instance.types[t])
				continue;
			pl->v[i].score = pl_scores_score(&sc, pl->v[i].az_id);
			pl->v[i].price = pl_scores_price(&sc, pl->v[i].az);
		}
	}
	if (pl->ranked)
		pl_pools_rank(pl->v, pl->n);
}

static int
pools_init(struct pools *pl, struct pipeline *p, const struct spec *s)
{
	const char *subs[1 + POOLS_DEFAULT_MAX];
	const char *const *sub = subs;
	int markets[2];
	size_t i, m, t, nm = 0, nt, nsub = 0;
	int error;

	memset(pl, 0, sizeof(*pl));
	if (s->instance.market == SPEC_MARKET_SPOT) {
		markets[nm++] = 1;
		if (s->instance.spot.fallback == SPEC_SPOT_FALLBACK_ON_DEMAND)
			markets[nm++] = 0;
	} else
		markets[nm++] = 0;
	if (s->instance.nsubnets > 0) {
		sub = s->instance.subnets;
		nsub = s->instance.nsubnets;
	} else {
		/*
		 * Asked at every launch, even when the first pool will do, so
		 * that a replay after a crash numbers the pools (and the
		 * tokens) alike.
		 */
		if ((error = ec2_subnets_default_describe(&pl->defaults,
		    p->ec2)) < 0) {
			err_prefix("listing the default VPC's subnets");
			return error;
		}
		subs[nsub++] = NULL;
		for (i = 0; i < pl->defaults.n && i < POOLS_DEFAULT_MAX; i++)
			subs[nsub++] = pl->defaults.v[i].id;
	}
	nt = s->instance.ntypes < POOLS_TYPES_MAX ? s->instance.ntypes :
	    POOLS_TYPES_MAX;
	pl->v = xcalloc(nm * nt * nsub, sizeof(*pl->v));
	for (m = 0; m < nm; m++)
		for (t = 0; t < nt; t++)
			for (i = 0; i < nsub; i++) {
				struct pl_pool *o = &pl->v[pl->n];

				o->spot = markets[m];
				o->type = s->instance.types[t];
				o->subnet = sub[i];
				o->index = pl->n++;
			}
	pools_rank(pl, p, s);
	return 0;
}

static void
pools_dispose(struct pools *pl)
{
	free(pl->v);
	ec2_subnet_list_dispose(&pl->defaults);
	ec2_subnet_list_dispose(&pl->named);
	memset(pl, 0, sizeof(*pl));
}

/* The type the row says its launch uses (rows of before: the first). */
static const char *
row_type(const struct store_env *row, const struct spec *s)
{
	return row->instance_type != NULL ? row->instance_type : s->instance.type;
}

/* Whether the row records pool o as the pool being tried. */
static int
pool_is_row(const struct pl_pool *o, const struct store_env *row,
    const struct spec *s)
{
	return row->market != NULL &&
	    strcmp(row->market, o->spot ? "spot" : "on-demand") == 0 &&
	    strcmp(row_type(row, s), o->type) == 0 &&
	    ((o->subnet == NULL && row->subnet_id == NULL) ||
	    (o->subnet != NULL && row->subnet_id != NULL &&
	    strcmp(o->subnet, row->subnet_id) == 0));
}

/*
 * The pool the row says was being tried when the launch resumes (a
 * crash replay, the row at SG_READY when the job began): there, with
 * that pool's token, wherever this ranking puts it.  A fresh launch
 * starts at the best pool.
 */
static size_t
pools_resume(const struct pools *pl, const struct prov *pv)
{
	const struct store_env *row = pv->row;
	size_t v;

	if (pv->start < STORE_STAGE_SG_READY || row->market == NULL ||
	    row->launched_at == 0)
		return 0;
	for (v = 0; v < pl->n; v++)
		if (pool_is_row(&pl->v[v], row, pv->spec))
			return v;
	return 0;
}

/*
 * RunInstances in each pool from the resumed one on, until one has
 * capacity: a pool that just said "no capacity" is skipped (unless it is
 * the last), and each pool is recorded on the row before it is tried.
 */
static int
launch_in_pools(struct ec2_instance *inst, struct pool_choice *ch,
    struct prov *pv, struct ec2_run_input *in)
{
	struct pipeline *p = pv->p;
	const struct spec *s = pv->spec;
	struct pools pl;
	char token[65];
	size_t v, first, nvar;
	unsigned waited;
	int error = ERR_GENERIC;

	memset(&pl, 0, sizeof(pl));
	memset(ch, 0, sizeof(*ch));
	if ((error = pools_init(&pl, p, s)) < 0)
		goto out;
	error = ERR_GENERIC;
	nvar = pl.n;
	first = pools_resume(&pl, pv);
	for (v = first; v < nvar; v++) {
		const struct pl_pool *o = &pl.v[v];

		/*
		 * A pool that just said "no capacity" is skipped, unless it is
		 * the last or a crash replay resumes there (same ClientToken).
		 */
		if ((v != first || pv->start < STORE_STAGE_SG_READY) &&
		    v + 1 < nvar && pl_capacity_exhausted(p->o.capacity,
		    aws_client_region(p->aws), o->spot, o->type, o->subnet,
		    pl_now(p)))
			continue;
		if (!pool_is_row(o, pv->row, s) || (pv->row->instance_type == NULL &&
		    s->instance.ntypes > 1)) {
			pl_row_set(pv->row, STORE_ENV_MARKET, o->spot ? "spot" :
			    "on-demand");
			pl_row_set(pv->row, STORE_ENV_SUBNET_ID, o->subnet);
			pl_row_set(pv->row, STORE_ENV_INSTANCE_TYPE, o->type);
			if ((error = pl_row_update(p, pv->row, STORE_ENV_MARKET |
			    STORE_ENV_SUBNET_ID | STORE_ENV_INSTANCE_TYPE,
			    "provision.launch_pool.before",
			    "provision.launch_pool.after")) < 0)
				goto out;
		}
		pipeline_client_token(token, pv->row->id,
		    (unsigned)pv->row->attempts, (unsigned)o->index);
		in->client_token = token;
		in->instance_type = o->type;
		in->subnet_id = o->subnet;
		in->spot = o->spot;
		in->spot_max_price = o->spot ? s->instance.spot.max_price : NULL;
		/*
		 * The group and key pair made moments ago may be unknown to
		 * RunInstances for a while; the same token is safe to send again.
		 */
		waited = 0;
		do
			error = ec2_instance_run(inst, p->ec2, in);
		while (pl_consistency_wait(p, &waited, PL_CONSISTENCY_MS, error,
		    s->access.ssh.key != SPEC_KEY_NAME ?
		    "InvalidGroup.NotFound InvalidKeyPair.NotFound" :
		    "InvalidGroup.NotFound"));
		if (error == 0) {
			snprintf(ch->type, sizeof(ch->type), "%s", o->type);
			snprintf(ch->subnet, sizeof(ch->subnet), "%s",
			    o->subnet != NULL ? o->subnet : "");
			snprintf(ch->az_id, sizeof(ch->az_id), "%s",
			    o->az_id != NULL ? o->az_id : "");
			ch->spot = o->spot;
			ch->score = o->score;
			ch->price = o->price;
			ch->ranked = pl.ranked;
			ch->rank = v + 1;
		}
		if (error == 0 || !pl_capacity_error(pl_aws_code(p)))
			goto out;
		pl_capacity_remember(p->o.capacity, aws_client_region(p->aws),
		    o->spot, o->type, o->subnet, pl_now(p));
		log_info("env=%s no capacity (%s) for %s%s%s%s; trying the next pool",
		    s->name, pl_aws_code(p), o->spot ? "spot " : "", o->type,
		    o->subnet ? " in " : "", o->subnet ? o->subnet : "");
	}
out:
	pools_dispose(&pl);
	return error;
}

/*
 * The launch event: the pool the launch went to, its placement score
 * and the spot price seen (0: none), and whether the pools were ranked.
 * Its failure fails nothing: the instance is recorded already.
 */
static void
launch_event(struct prov *pv, const struct ec2_instance *inst,
    const struct pool_choice *ch)
{
	char name[256];

	pl_json_escape(name, sizeof(name), pv->spec->name);
	if (pl_event(pv->p, pv->row->id, "remote.provision.launched",
	    "{\"env\":\"%s\",\"instance_id\":\"%s\",\"market\":\"%s\","
	    "\"type\":\"%s\",\"subnet\":%s%s%s,\"az\":\"%s\",\"az_id\":%s%s%s,"
	    "\"pool\":%zu,\"ranked\":%s,\"score\":%d,\"spot_price\":%.6f}",
	    name, inst->id, ch->spot ? "spot" : "on-demand", ch->type,
	    ch->subnet[0] ? "\"" : "", ch->subnet[0] ? ch->subnet : "null",
	    ch->subnet[0] ? "\"" : "", inst->az,
	    ch->az_id[0] ? "\"" : "", ch->az_id[0] ? ch->az_id : "null",
	    ch->az_id[0] ? "\"" : "", ch->rank, ch->ranked ? "true" : "false",
	    ch->score, ch->price) < 0) {
		log_warnx("env=%s the launch event: %s", pv->spec->name, err_get());
		err_clear();
	}
}

/* SG_READY -> INSTANCE_LAUNCHED: AMI, user-data, RunInstances, record. */
static int
step_launch(struct prov *pv)
{
	struct pipeline *p = pv->p;
	const struct spec *s = pv->spec;
	struct ec2_instance inst;
	struct ec2_run_input in;
	struct ec2_kv kv[SPEC_TAGS_AWS_MAX + 8];
	char ami[32], root[64], kpname[128], nametag[128];
	char other[32], otherroot[64];
	char *script = NULL;
	const char *sg[1];
	struct pool_choice ch;
	size_t i, nkv;
	int found = 0, error = 0;

	memset(&inst, 0, sizeof(inst));
	if ((error = find_launched(pv, &inst, &found)) < 0)
		goto out;
	if (found) {
		if ((error = pl_cost_launch(&pv->row->cost_per_hour_usd, p,
		    pv->row, &inst, s->instance.type,
		    s->instance.disk_size_gb)) < 0)
			goto out;
		error = record_instance(pv, &inst, NULL);
		goto out;
	}
	FP("provision.ami.before");
	if ((error = pl_ami_resolve(p, pv->row->ami_id != NULL ? pv->row->ami_id :
	    s->instance.image, s->instance.type, ami, root)) < 0)
		goto out;
	/*
	 * One image for every listed type: the others must run the first's
	 * architecture (the image resolved for it, an AMI id now, is checked
	 * against each; DescribeInstanceTypes is cached per pipeline).
	 */
	for (i = 1; i < s->instance.ntypes; i++)
		if ((error = pl_ami_resolve(p, ami, s->instance.types[i], other,
		    otherroot)) < 0) {
			err_prefix("instance.types must share one architecture");
			goto out;
		}
	FP("provision.ami.after");
	if ((error = launch_intent(pv, ami)) < 0 ||
	    (error = launch_user_data(&script, pv)) < 0)
		goto out;
	env_tags(p, pv, kv, &nkv, nametag, sizeof(nametag), 1);
	pl_resource_name(kpname, sizeof(kpname), pv->row->id);
	sg[0] = pv->row->security_group_id;
	memset(&in, 0, sizeof(in));
	in.image_id = ami;
	in.security_group_ids = sg;
	in.nsecurity_group_ids = sg[0] != NULL;
	in.key_name = s->access.ssh.key == SPEC_KEY_NAME ? s->access.ssh.key_name :
	    kpname;
	in.iam_profile_name = s->instance.iam_instance_profile;
	in.user_data = script;
	in.user_data_len = strlen(script);
	in.tags = kv;
	in.ntags = nkv;
	in.root_device_name = root;
	in.root_size_gb = (int)s->instance.disk_size_gb;
	/* on_idle: terminate: the idle watcher's shutdown ends the instance. */
	in.shutdown_terminate = s->lifecycle.on_idle == SPEC_IDLE_TERMINATE;
	FP("provision.launch.before");
	if ((error = launch_in_pools(&inst, &ch, pv, &in)) < 0)
		goto out;
	/* As for the group: a rollback before the record knows the id. */
	pl_row_set(pv->row, STORE_ENV_INSTANCE_ID, inst.id);
	/* Billed from here, even if this attempt is rolled back. */
	if ((error = pl_cost_launch(&pv->row->cost_per_hour_usd, p, pv->row,
	    &inst, s->instance.type, s->instance.disk_size_gb)) < 0)
		goto out;
	FP("provision.launch.after");
	if ((error = record_instance(pv, &inst, ami)) < 0)
		goto out;
	launch_event(pv, &inst, &ch);
out:
	ec2_instance_dispose(&inst);
	mem_free_secret(script);	/* it holds presigned URLs */
	return error;
}

/* INSTANCE_LAUNCHED -> TAGGED: the spec hash stamped (again) on instance. */
static int
step_tagged(struct prov *pv)
{
	struct pipeline *p = pv->p;
	const char *ids[1] = { pv->row->instance_id };
	struct ec2_kv kv[1] = { { p->tags.spec_hash, pv->job->spec_hash } };
	unsigned waited;
	int error;

	FP("provision.tag.before");
	/* Tagged at launch (TagSpecifications); stamp again only if unseen. */
	waited = 0;
	do
		error = pv->tags_seen ? 0 : ec2_tags_create(p->ec2, ids, 1, kv, 1);
	while (pl_consistency_wait(p, &waited, PL_CONSISTENCY_MS, error,
	    "InvalidInstanceID.NotFound"));
	if (error < 0) {
		/* Still unknown after the waits: the next pass tries again. */
		if (error == ERR_NOTFOUND) {
			error = PL_NOT_YET;
			goto out;
		}
		err_prefix("tagging %s", ids[0]);
		goto out;
	}
	FP("provision.tag.after");
	error = set_stage(pv, STORE_STAGE_TAGGED, 0, "provision.tagged.before",
	    "provision.tagged.after");
out:
	return error;
}

/*
 * TAGGED -> DONE once every ready check passes; PL_NOT_YET otherwise,
 * and ERR_TIMEOUT past ready_timeout, naming the check still waiting.
 */
/*
 * A spot instance still not running spot.timeout after its launch is
 * given up (docs/spec.md): its pool (spot, type, subnet) counts as without
 * capacity for PIPELINE_CAPACITY_TTL, the attempt rolls back, and the
 * next attempt starts in the next pool (another subnet, then on-demand
 * when spot.fallback allows).  1 when given up, with the message set.
 */
static int
spot_given_up(struct prov *pv, time_t now)
{
	struct pipeline *p = pv->p;
	const struct spec *s = pv->spec;

	if (pv->row->market == NULL || strcmp(pv->row->market, "spot") != 0 ||
	    pv->row->launched_at <= 0 || s->instance.spot.timeout_s <= 0 ||
	    now - pv->row->launched_at <= s->instance.spot.timeout_s)
		return 0;
	/* its subnet's pool, and EC2's own pick (which may pick it again) */
	pl_capacity_remember(p->o.capacity, aws_client_region(p->aws), 1,
	    row_type(pv->row, s), pv->row->subnet_id, now);
	if (s->instance.nsubnets == 0)
		pl_capacity_remember(p->o.capacity, aws_client_region(p->aws), 1,
		    row_type(pv->row, s), NULL, now);
	err_set("spot instance %s still pending %llds after launch (spot.timeout "
	    "%llds): given up; the next attempt tries the next pool%s",
	    pv->row->instance_id != NULL ? pv->row->instance_id : "?",
	    (long long)(now - pv->row->launched_at),
	    (long long)s->instance.spot.timeout_s,
	    s->instance.spot.fallback == SPEC_SPOT_FALLBACK_ON_DEMAND ?
	    " (on-demand when no spot pool is left)" : "");
	return 1;
}

static int
step_ready(struct prov *pv)
{
	struct pipeline *p = pv->p;
	const struct spec *s = pv->spec;
	struct pl_instance_now now_inst;
	const char *ids[1] = { pv->row->instance_id };
	const char *waiting = "running";
	unsigned checks = p->o.ready_checks;
	time_t now = pl_now(p);
	char *secrets_key = NULL, *ud_key = NULL, name[256], udfile[48];
	char hostkeys[PL_HOSTKEYS_MAX] = "";
	int error = 0, found = 0;

	memset(&now_inst, 0, sizeof(now_inst));
	/*
	 * Launched by this very job: RunInstances answered "pending", and no
	 * instance boots in milliseconds.  The next pass looks (with the
	 * pass's own DescribeInstances), which saves two calls per launch.
	 */
	if (pv->start < STORE_STAGE_INSTANCE_LAUNCHED && checks != 0) {
		error = PL_NOT_YET;
		goto out;
	}
	FP("provision.check.before");
	if ((error = pl_instance_now(&now_inst, &found, p, pv->job->inst,
	    ids[0])) < 0)
		goto out;
	if (!found || strcmp(now_inst.state, "pending") == 0) {
		error = spot_given_up(pv, now) ? ERR_UNAVAILABLE : PL_NOT_YET;
		goto out;
	}
	if (strcmp(now_inst.state, "running") != 0) {
		err_set("instance %s is %s", ids[0], now_inst.state);
		error = ERR_GENERIC;
		goto out;
	}
	if (now_inst.public_ip[0] != '\0' && (pv->row->public_ip == NULL ||
	    strcmp(pv->row->public_ip, now_inst.public_ip) != 0)) {
		pl_row_set(pv->row, STORE_ENV_PUBLIC_IP, now_inst.public_ip);
		if ((error = pl_row_update(p, pv->row, STORE_ENV_PUBLIC_IP,
		    "provision.running.before", "provision.running.after")) < 0)
			goto out;
	}
	waiting = "status";
	if ((checks & PIPELINE_CHECK_STATUS) &&
	    (error = pl_ready_status(p, pv->job->status, ids[0])) != 0)
		goto out;
	waiting = "ssh";
	if ((checks & PIPELINE_CHECK_SSH) && (pv->row->public_ip == NULL ||
	    !pl_ready_tcp(pv->row->public_ip, p->o.ready_ssh_port > 0 ?
	    p->o.ready_ssh_port : 22, 2000))) {
		error = PL_NOT_YET;
		goto out;
	}
	if ((checks & (PIPELINE_CHECK_MARKER | PIPELINE_CHECK_HOSTKEY)) &&
	    (error = pl_ready_marker(p, pv->row, checks, &waiting, hostkeys,
	    sizeof(hostkeys))) != 0)
		goto out;
	FP("provision.check.after");

	pv->row->status = STORE_STATUS_READY;
	pv->row->ready_at = now;
	pl_row_set(pv->row, STORE_ENV_HOST_KEYS, hostkeys[0] != '\0' ?
	    hostkeys : NULL);
	if ((error = set_stage(pv, STORE_STAGE_DONE, STORE_ENV_STATUS |
	    STORE_ENV_READY_AT | STORE_ENV_HOST_KEYS, "provision.done.before",
	    "provision.done.after")) < 0)
		goto out;
	FP("provision.event_ready.before");
	pl_json_escape(name, sizeof(name), s->name);
	if ((error = pl_event(p, pv->row->id, "remote.provision.ready",
	    "{\"env\":\"%s\",\"instance_id\":\"%s\",\"provision_seconds\":%lld}",
	    name, ids[0], (long long)(now - pv->row->created_at))) < 0)
		goto out;
	FP("provision.event_ready.after");
	log_info("env=%s env_id=%s ready: instance %s after %llds", s->name,
	    pv->row->id, ids[0], (long long)(now - pv->row->created_at));
	/* The secrets object and the kept user-data have served their purpose. */
	secrets_key = pl_s3_key(p, pv->row->id, "secrets.env");
	if (s3_object_delete(p->s3, p->o.bucket, secrets_key) < 0)
		log_warnx("env=%s deleting the secrets object: %s", s->name, err_get());
	snprintf(udfile, sizeof(udfile), "user-data-%d.sh", pv->row->attempts);
	ud_key = pl_s3_key(p, pv->row->id, udfile);
	if (s3_object_delete(p->s3, p->o.bucket, ud_key) < 0)
		log_warnx("env=%s deleting the kept user-data: %s", s->name, err_get());
out:
	/* Still waiting past ready_timeout: fail, naming what it waits on. */
	if (error == PL_NOT_YET && pv->row->launched_at > 0 &&
	    now - pv->row->launched_at > s->lifecycle.ready_timeout_s) {
		err_set("not ready %llds after launch (ready_timeout %llds): "
		    "the %s check still fails", (long long)(now -
		    pv->row->launched_at), (long long)s->lifecycle.ready_timeout_s,
		    waiting);
		error = ERR_TIMEOUT;
	}
	free(ud_key);
	free(secrets_key);
	return error;
}

/* Undo what exists of this attempt; the row ends in status error. */
static int
rollback(struct prov *pv, const char *why)
{
	struct pipeline *p = pv->p;
	struct store_env *row = pv->row;
	const char *stage = store_stage_str(row->stage);
	char esc[600], name[256];
	bool sg_left = false;
	int error;

	log_warnx("env=%s env_id=%s provision failed at %s: %s; rolling back",
	    pv->job->name, row->id, stage, why);
	row->status = STORE_STATUS_ERROR;
	pl_row_set(row, STORE_ENV_ERROR, why);
	pl_row_set(row, STORE_ENV_FAILED_AT_STAGE, stage);
	row->attempts++;
	row->next_attempt_at = pl_now(p) +
	    plan_backoff_delay(&p->o.plan, (unsigned)row->attempts);
	if ((error = pl_row_update(p, row, STORE_ENV_STATUS | STORE_ENV_ERROR |
	    STORE_ENV_ATTEMPTS | STORE_ENV_NEXT_ATTEMPT_AT,
	    "provision.error.before", "provision.error.after")) < 0)
		return error;
	if ((error = pl_cleanup(p, row, &sg_left, PL_CLEANUP_INSTANCE |
	    (pv->kp_made ? PL_CLEANUP_KEY_FRESH : 0) |
	    (pv->sg_made ? PL_CLEANUP_SG_FRESH : 0), "provision.rollback")) < 0)
		return error;
	row->stage = STORE_STAGE_INIT;
	if ((error = pl_row_update(p, row, STORE_ENV_STAGE |
	    STORE_ENV_SSH_KEY_S3_KEY | STORE_ENV_SECURITY_GROUP_ID,
	    "provision.rolled_back.before", "provision.rolled_back.after")) < 0)
		return error;
	pl_json_escape(esc, sizeof(esc), why);
	pl_json_escape(name, sizeof(name), pv->job->name);
	return pl_event(p, row->id, "remote.provision.error",
	    "{\"env\":\"%s\",\"error\":\"%s\",\"failed_at_stage\":\"%s\","
	    "\"attempt\":%d}", name, esc, stage, row->attempts);
}

/* Run the state machine from the row's stage until done or waiting. */
static int
run_stages(struct prov *pv)
{
	int error = 0;

	pv->start = pv->row->stage;
	pl_job_stage(pv->job, pv->row->stage);
	while (error == 0 && pv->row->stage != STORE_STAGE_DONE) {
		switch (pv->row->stage) {
		case STORE_STAGE_INIT:
			error = step_keys_generated(pv);
			break;
		case STORE_STAGE_KEYS_GENERATED:
			error = step_keys_uploaded(pv);
			break;
		case STORE_STAGE_KEYS_UPLOADED:
			error = step_sg_ready(pv);
			break;
		case STORE_STAGE_SG_READY:
			error = step_launch(pv);
			break;
		case STORE_STAGE_INSTANCE_LAUNCHED:
			error = step_tagged(pv);
			break;
		case STORE_STAGE_TAGGED:
			error = step_ready(pv);
			break;
		default:
			error = PL_NOT_YET;
			break;
		}
	}
	sshkey_free(pv->key);
	pv->key = NULL;
	if (error == PL_NOT_YET)
		return 0;
	/*
	 * Not ours: no rollback touches it; the row keeps the refusal.
	 * Fenced (the lease's deadline passed, or the database refused a
	 * stale epoch): stop here, undo nothing, leave the row as it is for
	 * the next leader to resume.
	 */
	if (error < 0 && error != ERR_FOREIGN && error != ERR_FENCED) {
		char *why = xstrdup(err_get());
		int rerr;

		if ((rerr = rollback(pv, why)) < 0)
			log_warnx("env=%s env_id=%s rollback incomplete: %s; the next "
			    "pass finishes it", pv->job->name, pv->row->id, err_get());
		err_set("%s", why);
		free(why);
	}
	return error;
}

int
pl_provision_resume(struct pipeline *p, struct pipeline_job *job,
    struct store_env *row, bool retry)
{
	struct prov pv = { p, job, job->spec, row, NULL, 0, STORE_STAGE_INIT,
	    false, false };
	bool sg_left = false;
	char name[256];
	int error = 0;

	if (job->spec == NULL || job->spec_hash == NULL) {
		err_set("no valid spec for %s", job->name);
		return ERR_INVALID;
	}
	if (retry) {
		/* Whatever a failed rollback left is undone first. */
		if ((row->instance_id != NULL || row->security_group_id != NULL ||
		    row->ssh_key_s3_key != NULL || job->inst != NULL) &&
		    (error = pl_cleanup(p, row, &sg_left, PL_CLEANUP_INSTANCE,
		    "provision.rollback")) < 0)
			return error;
		/* What the pass saw is gone now: never "find" it again below. */
		job->inst = NULL;
		if (row->spec_hash == NULL || strcmp(row->spec_hash, job->spec_hash) != 0)
			row->attempts = 0;
		pl_row_set(row, STORE_ENV_SPEC_HASH, job->spec_hash);
		pl_row_set(row, STORE_ENV_SPEC_REVISION, p->o.revision);
		pl_row_set(row, STORE_ENV_WORKSPACE, job->spec->workspace);
		pl_row_set(row, STORE_ENV_INSTANCE_ID, NULL);
		pl_row_set(row, STORE_ENV_PUBLIC_IP, NULL);
		pl_row_set(row, STORE_ENV_AMI_ID, NULL);
		pl_row_set(row, STORE_ENV_ERROR, NULL);
		row->status = STORE_STATUS_PROVISIONING;
		row->stage = STORE_STAGE_INIT;
		row->next_attempt_at = 0;
		row->launched_at = 0;
		if ((error = pl_row_update(p, row, STORE_ENV_SPEC_HASH |
		    STORE_ENV_SPEC_REVISION | STORE_ENV_WORKSPACE |
		    STORE_ENV_INSTANCE_ID | STORE_ENV_PUBLIC_IP | STORE_ENV_ERROR |
		    STORE_ENV_STATUS | STORE_ENV_STAGE | STORE_ENV_NEXT_ATTEMPT_AT |
		    STORE_ENV_LAUNCHED_AT | STORE_ENV_ATTEMPTS | STORE_ENV_AMI_ID |
		    STORE_ENV_SECURITY_GROUP_ID | STORE_ENV_SSH_KEY_S3_KEY,
		    "provision.init.before", "provision.init.after")) < 0)
			return error;
		pl_json_escape(name, sizeof(name), job->name);
		if ((error = pl_event(p, row->id, "remote.provision.start",
		    "{\"env\":\"%s\",\"attempt\":%d}", name, row->attempts + 1)) < 0)
			return error;
	}
	return run_stages(&pv);
}

int
pl_provision_new(struct pipeline *p, struct pipeline_job *job)
{
	struct store_env row;
	char id[STORE_ID_LEN], name[256];
	int error;

	memset(&row, 0, sizeof(row));
	if (job->spec == NULL || job->spec_hash == NULL) {
		err_set("no valid spec for %s", job->name);
		return ERR_INVALID;
	}
	pl_row_set(&row, STORE_ENV_NAME, job->name);
	pl_row_set(&row, STORE_ENV_WORKSPACE, job->spec->workspace);
	pl_row_set(&row, STORE_ENV_SPEC_HASH, job->spec_hash);
	pl_row_set(&row, STORE_ENV_SPEC_REVISION, p->o.revision);
	pl_row_set(&row, STORE_ENV_REGION, job->spec->region);
	pl_row_set(&row, STORE_ENV_MARKET,
	    job->spec->instance.market == SPEC_MARKET_SPOT ? "spot" : "on-demand");
	row.cost_per_hour_usd = pipeline_price(p->o.prices,
	    aws_client_region(p->aws), job->spec->instance.type);
	FP("provision.init.before");
	if ((error = store_env_insert(id, p->store, &row)) < 0) {
		err_prefix("recording new environment %s", job->name);
		goto out;
	}
	FP("provision.init.after");
	store_env_dispose(&row);
	if ((error = store_env_get(&row, p->store, id)) < 0)
		goto out;
	pl_job_stage(job, STORE_STAGE_INIT);
	FP("provision.event_start.before");
	pl_json_escape(name, sizeof(name), job->name);
	if ((error = pl_event(p, id, "remote.provision.start",
	    "{\"env\":\"%s\",\"attempt\":1}", name)) < 0)
		goto out;
	FP("provision.event_start.after");
	log_info("env=%s env_id=%s provisioning", job->name, id);
	error = pl_provision_resume(p, job, &row, false);
out:
	store_env_dispose(&row);
	return error;
}

/* The env-id tag of in if a row id can hold it, else NULL. */
static const char *
adopt_env_id(const struct pipeline *p, const struct ec2_instance *in)
{
	const char *env_id = in != NULL ? ec2_instance_tag(in, p->tags.env_id) : NULL;

	return env_id != NULL && strlen(env_id) < STORE_ID_LEN ? env_id : NULL;
}

/*
 * The full record of the pass's instance: the pass keeps a slim copy
 * (observe.h), without image, subnet or groups.  One DescribeInstances
 * by id into *page; ERR_NOTFOUND when the instance is gone.
 */
static int
adopt_describe(struct ec2_instance_page *page, struct pipeline *p,
    const char *instance_id)
{
	struct ec2_describe_instances_input in;
	const char *ids[1] = { instance_id };
	int error;

	memset(&in, 0, sizeof(in));
	in.instance_ids = ids;
	in.ninstance_ids = 1;
	if ((error = ec2_instances_describe_page(page, p->ec2, &in, NULL)) < 0 &&
	    error != ERR_NOTFOUND) {
		err_prefix("adopt: describing %s", instance_id);
		return error;
	}
	if (error == ERR_NOTFOUND || page->n == 0) {
		err_set("adopt: instance %s is gone", instance_id);
		return ERR_NOTFOUND;
	}
	return 0;
}

/*
 * Rebuild the lost row of job->inst from its tags and EC2's full record
 * of it: one DescribeInstances by id, since the pass's copy is slim.
 */
int
pl_adopt(struct pipeline *p, struct pipeline_job *job)
{
	const struct ec2_instance *in;
	struct ec2_instance_page page;
	struct store_env row;
	const char *env_id, *hash, *ws;
	char id[STORE_ID_LEN], *key = NULL, name[256];
	struct s3_object_info info;
	double rate;
	int error, running;

	memset(&row, 0, sizeof(row));
	memset(&page, 0, sizeof(page));
	if (adopt_env_id(p, job->inst) == NULL) {
		err_set("adopt: the instance carries no usable env-id tag");
		return ERR_INVALID;
	}
	if ((error = adopt_describe(&page, p, job->inst->id)) < 0)
		goto out;
	in = &page.v[0];
	if ((env_id = adopt_env_id(p, in)) == NULL) {
		err_set("adopt: the instance carries no usable env-id tag");
		error = ERR_INVALID;
		goto out;
	}
	hash = ec2_instance_tag(in, p->tags.spec_hash);
	ws = ec2_instance_tag(in, p->tags.workspace);
	running = strcmp(in->state, "running") == 0;
	snprintf(row.id, sizeof(row.id), "%s", env_id);
	pl_row_set(&row, STORE_ENV_NAME, job->name);
	pl_row_set(&row, STORE_ENV_WORKSPACE, ws != NULL ? ws :
	    (job->spec ? job->spec->workspace : "default"));
	pl_row_set(&row, STORE_ENV_SPEC_HASH, hash != NULL ? hash : job->spec_hash);
	pl_row_set(&row, STORE_ENV_SPEC_REVISION, p->o.revision);
	pl_row_set(&row, STORE_ENV_REGION, aws_client_region(p->aws));
	pl_row_set(&row, STORE_ENV_MARKET,
	    in->market == EC2_MARKET_SPOT ? "spot" : "on-demand");
	row.cost_per_hour_usd = pipeline_price(p->o.prices,
	    aws_client_region(p->aws), in->type);
	FP("provision.adopt.before");
	if ((error = store_env_insert(id, p->store, &row)) < 0) {
		err_prefix("adopting %s", in->id);
		goto out;
	}
	store_env_dispose(&row);
	if ((error = store_env_get(&row, p->store, id)) < 0)
		goto out;
	pl_row_set(&row, STORE_ENV_INSTANCE_ID, in->id);
	pl_row_set(&row, STORE_ENV_PUBLIC_IP, in->public_ip[0] ? in->public_ip : NULL);
	pl_row_set(&row, STORE_ENV_AMI_ID, in->image_id[0] ? in->image_id : NULL);
	pl_row_set(&row, STORE_ENV_SUBNET_ID, in->subnet_id[0] ? in->subnet_id : NULL);
	pl_row_set(&row, STORE_ENV_SECURITY_GROUP_ID,
	    in->nsecurity_groups > 0 ? in->security_groups[0] : NULL);
	key = pl_s3_key(p, id, "id_ed25519");
	if (s3_object_head(&info, p->s3, p->o.bucket, key) == 0)
		pl_row_set(&row, STORE_ENV_SSH_KEY_S3_KEY, key);
	row.launched_at = in->launched > 0 ? in->launched : pl_now(p);
	/* Billed from its launch, as ours now (not while stopped). */
	if (strcmp(in->state, "stopped") != 0 && (error = pl_cost_launch(&rate,
	    p, &row, in, in->type, job->spec != NULL ?
	    job->spec->instance.disk_size_gb : 0)) < 0)
		goto out;
	row.status = running ? STORE_STATUS_READY : STORE_STATUS_PROVISIONING;
	row.stage = running ? STORE_STAGE_DONE : STORE_STAGE_TAGGED;
	row.ready_at = running ? pl_now(p) : 0;
	if ((error = store_env_update(p->store, &row, STORE_ENV_INSTANCE_ID |
	    STORE_ENV_PUBLIC_IP | STORE_ENV_AMI_ID | STORE_ENV_SUBNET_ID |
	    STORE_ENV_SECURITY_GROUP_ID | STORE_ENV_SSH_KEY_S3_KEY |
	    STORE_ENV_LAUNCHED_AT | STORE_ENV_STATUS | STORE_ENV_STAGE |
	    STORE_ENV_READY_AT)) < 0)
		goto out;
	FP("provision.adopt.after");
	pl_job_stage(job, row.stage);
	pl_json_escape(name, sizeof(name), job->name);
	error = pl_event(p, id, "drift.detected", "{\"env\":\"%s\",\"kind\":"
	    "\"row lost\",\"instance_id\":\"%s\",\"action\":\"adopted\"}", name,
	    in->id);
	log_info("env=%s env_id=%s adopted instance %s", job->name, id, in->id);
out:
	free(key);
	store_env_dispose(&row);
	ec2_instance_page_dispose(&page);
	return error;
}
