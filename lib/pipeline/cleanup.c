/*
 * cleanup.c - undoing what an incarnation made, shared by rollback,
 * terminate, orphans and garbage collection: its instances (found by
 * the env-id tag), S3 objects, key pair and security group.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec2.h"
#include "log.h"
#include "pipeline_int.h"
#include "s3.h"

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
	static const char *const yes[] = { "true" };
	const char *idv[1] = { env_id }, *clv[1] = { p->o.cluster_id };
	struct ec2_filter f[4];
	struct ec2_describe_instances_input in;
	struct id_collect c = { ids, max, 0 };
	char tname[80], cname[80], mname[80];
	int error;

	/* The three ownership tags as filters: what comes back is ours. */
	snprintf(tname, sizeof(tname), "tag:%s", p->tags.env_id);
	snprintf(cname, sizeof(cname), "tag:%s", p->tags.cluster);
	snprintf(mname, sizeof(mname), "tag:%s", p->tags.managed);
	f[0] = (struct ec2_filter){ tname, idv, 1 };
	f[1] = (struct ec2_filter){ cname, clv, 1 };
	f[2] = (struct ec2_filter){ mname, yes, 1 };
	f[3] = (struct ec2_filter){ "instance-state-name", states, 4 };
	memset(&in, 0, sizeof(in));
	in.filters = f;
	in.nfilters = 4;
	error = ec2_instances_describe(p->ec2, &in, collect_ids, &c, NULL);
	*n = c.n;
	return error;
}

int
pl_s3_prefix_delete(struct pipeline *p, const char *env_id)
{
	struct s3_object_list l;
	char *prefix = NULL;
	size_t i, plen;
	int error;

	memset(&l, 0, sizeof(l));
	/* Only under <s3_prefix>/<env-id>/: an env id is a uuid, never a path. */
	if (!pl_env_id_valid(env_id)) {
		err_set("env id '%.40s' is not a uuid: no S3 prefix of ours", env_id);
		error = ERR_FOREIGN;
		goto out;
	}
	prefix = pl_s3_key(p, env_id, "");
	plen = strlen(prefix);
	/* A handful of objects per environment: one page is all. */
	if ((error = s3_objects_list(&l, p->s3, p->o.bucket, prefix, NULL, 0)) < 0)
		goto out;
	for (i = 0; i < l.n; i++) {
		if (strncmp(l.v[i].key, prefix, plen) != 0)
			continue;	/* not under the prefix: never ours */
		if ((error = s3_object_delete(p->s3, p->o.bucket, l.v[i].key)) < 0)
			goto out;
	}
out:
	s3_object_list_dispose(&l);
	free(prefix);
	return error;
}

bool
pl_env_id_valid(const char *env_id)
{
	size_t n = env_id != NULL ? strlen(env_id) : 0;

	return n == 36 && strspn(env_id, "0123456789abcdef-") == n;
}

/*
 * The group id of envctl-<env-id> into id, "" when there is none;
 * ERR_FOREIGN (pl_not_ours) when its tags are not row's.
 */
static int
sg_find_by_name(struct pipeline *p, struct store_env *row, char id[32])
{
	struct ec2_security_group_list l;
	char name[128], why[256], what[64];
	const char *names[1] = { name };
	struct ec2_filter f = { "group-name", names, 1 };
	int error;

	id[0] = '\0';
	pl_resource_name(name, sizeof(name), row->id);
	memset(&l, 0, sizeof(l));
	if ((error = ec2_security_groups_describe(&l, p->ec2, NULL, 0, &f, 1)) < 0)
		return error;
	if (l.n > 0 && pl_own_tags(why, sizeof(why), p, l.v[0].tags,
	    l.v[0].ntags, row->id) < 0) {
		snprintf(what, sizeof(what), "security group %s", l.v[0].id);
		error = pl_not_ours(p, row, what, why);
	} else if (l.n > 0)
		snprintf(id, 32, "%s", l.v[0].id);
	ec2_security_group_list_dispose(&l);
	return error;
}

int
pl_sg_find(struct pipeline *p, struct store_env *row, char id[32])
{
	return sg_find_by_name(p, row, id);
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
    unsigned flags, const char *pre)
{
	struct ec2_security_group_list gl;
	char ids[8][32], sg[32], kp[128];
	const char *idp[9];
	size_t n = 0, i, k = 0;
	bool gone, listed = false;
	unsigned waited = 0;
	int error = 0;

	*sg_left = false;
	memset(&gl, 0, sizeof(gl));
	if (flags & PL_CLEANUP_INSTANCE) {
		/* Found by the ownership tags: ours (docs/design.md §3.9). */
		if ((error = pl_instances_by_env_id(p, row->id, ids, 8, &n)) < 0)
			goto out;
		for (i = 0; i < n; i++) {
			idp[k++] = ids[i];
			if (row->instance_id != NULL &&
			    strcmp(ids[i], row->instance_id) == 0)
				listed = true;
		}
		/* The row's instance, when the tags did not find it: whose? */
		if (row->instance_id != NULL && !listed) {
			if ((error = pl_own_instance(&gone, p, row,
			    row->instance_id)) < 0)
				goto out;
			if (!gone)
				idp[k++] = row->instance_id;
			else if ((error = pl_cost_end(p,
			    (const char *const *)&row->instance_id, 1)) < 0)
				goto out;	/* gone: billed no more */
		}
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
			if ((error = pl_cost_end(p, idp, k)) < 0)
				goto out;
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
	/* a spot instance's interrupted marker, outside the env's prefix */
	if (row->market != NULL && strcmp(row->market, "spot") == 0 &&
	    pl_env_id_valid(row->id)) {
		char *mk = pl_spot_marker_key(p, row->id);

		error = s3_object_delete(p->s3, p->o.bucket, mk);
		free(mk);
		if (error < 0) {
			err_prefix("deleting the spot marker of %s", row->id);
			goto out;
		}
	}
	if ((error = fp_step(pre, "s3", "after")) < 0)
		goto out;
	pl_row_set(row, STORE_ENV_SSH_KEY_S3_KEY, NULL);
	if ((error = fp_step(pre, "keypair", "before")) < 0)
		goto out;
	pl_resource_name(kp, sizeof(kp), row->id);
	if ((error = pl_own_key_pair(&gone, p, row, kp,
	    (flags & PL_CLEANUP_KEY_FRESH) ? PL_CONSISTENCY_MS : 0)) < 0)
		goto out;
	if (!gone && (error = ec2_key_pair_delete(p->ec2, kp)) < 0 &&
	    error != ERR_NOTFOUND) {
		err_prefix("deleting key pair %s", kp);
		goto out;
	}
	error = 0;
	if ((error = fp_step(pre, "keypair", "after")) < 0)
		goto out;
	sg[0] = '\0';
	if (row->security_group_id != NULL) {
		/*
		 * Made by this job: "not found" moments after the create is
		 * EC2 not showing it yet, not its absence.  Named by an
		 * earlier job (a rollback that died after deleting it, gc):
		 * it has been visible since, so "not found" means gone.
		 */
		while ((error = pl_own_sg(&gl, p, row,
		    row->security_group_id)) == ERR_NOTFOUND &&
		    pl_consistency_wait(p, &waited, (flags & PL_CLEANUP_SG_FRESH) ?
		    PL_CONSISTENCY_MS : 0, error, "InvalidGroup.NotFound"))
			ec2_security_group_list_dispose(&gl);
		if (error == 0)
			snprintf(sg, sizeof(sg), "%s", row->security_group_id);
		else if (error != ERR_NOTFOUND)
			goto out;
		error = 0;
	} else if ((error = sg_find_by_name(p, row, sg)) < 0)
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
	ec2_security_group_list_dispose(&gl);
	return error;
}
