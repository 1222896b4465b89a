/*
 * own.c - destruction only of what is provably envctl's own
 * (docs/design.md §3.9).  Before a call that deletes or changes an
 * existing resource, its tags, as AWS reports them, must say
 * managed=true, this controller's cluster and the row's env id.  A
 * mismatch changes nothing: the row keeps a "not ours" error (failed at
 * stage "ownership", which the planner turns into `blocked`) and event
 * ownership.refused is recorded once.
 */
#include <stdio.h>
#include <string.h>

#include "ec2.h"
#include "log.h"
#include "pipeline_int.h"

static const char *
tag_value(const struct ec2_tag *tags, size_t ntags, const char *key)
{
	size_t i;

	for (i = 0; i < ntags; i++)
		if (strcmp(tags[i].key, key) == 0)
			return tags[i].value;
	return NULL;
}

/* why gets "tag <key> is '<have>', not '<want>'" (have escaped). */
static void
tag_mismatch(char *why, size_t whysz, const char *key, const char *have,
    const char *want)
{
	char esc[96];

	if (have == NULL) {
		snprintf(why, whysz, "no tag %s", key);
		return;
	}
	log_escape(esc, sizeof(esc), have);
	snprintf(why, whysz, "tag %s is '%s', not '%s'", key, esc, want);
}

int
pl_own_tags(char *why, size_t whysz, const struct pipeline *p,
    const struct ec2_tag *tags, size_t ntags, const char *env_id)
{
	const char *v;

	why[0] = '\0';
	v = tag_value(tags, ntags, p->tags.managed);
	if (v == NULL || strcmp(v, "true") != 0) {
		tag_mismatch(why, whysz, p->tags.managed, v, "true");
		return ERR_FOREIGN;
	}
	v = tag_value(tags, ntags, p->tags.cluster);
	if (v == NULL || strcmp(v, p->o.cluster_id) != 0) {
		tag_mismatch(why, whysz, p->tags.cluster, v, p->o.cluster_id);
		return ERR_FOREIGN;
	}
	if (env_id == NULL)
		return 0;
	v = tag_value(tags, ntags, p->tags.env_id);
	if (v == NULL || strcmp(v, env_id) != 0) {
		tag_mismatch(why, whysz, p->tags.env_id, v, env_id);
		return ERR_FOREIGN;
	}
	return 0;
}

int
pl_not_ours(struct pipeline *p, struct store_env *row, const char *what,
    const char *why)
{
	char msg[512], esc_what[128], esc_why[600], esc_name[256];
	bool seen;
	int error;

	snprintf(msg, sizeof(msg), "not ours: %s: %s; envctl leaves it alone",
	    what, why);
	/* Once: a row already refused for this reason records nothing more. */
	seen = row != NULL && row->failed_at_stage != NULL &&
	    strcmp(row->failed_at_stage, PL_STAGE_OWNERSHIP) == 0 &&
	    row->error != NULL && strcmp(row->error, msg) == 0;
	log_warnx("env_id=%s %s", row != NULL ? row->id : "-", msg);
	if (!seen && row != NULL && row->row_version > 0) {
		pl_row_set(row, STORE_ENV_ERROR, msg);
		pl_row_set(row, STORE_ENV_FAILED_AT_STAGE, PL_STAGE_OWNERSHIP);
		if ((error = store_env_update(p->store, row, STORE_ENV_ERROR)) < 0)
			return error;
	}
	if (!seen) {
		pl_json_escape(esc_what, sizeof(esc_what), what);
		pl_json_escape(esc_why, sizeof(esc_why), why);
		pl_json_escape(esc_name, sizeof(esc_name),
		    row != NULL && row->name != NULL ? row->name : "");
		if ((error = pl_event(p, row != NULL && row->id[0] != '\0' ?
		    row->id : NULL, "ownership.refused",
		    "{\"env\":\"%s\",\"resource\":\"%s\",\"reason\":\"%s\"}",
		    esc_name, esc_what, esc_why)) < 0)
			return error;
	}
	err_set("%s", msg);
	return ERR_FOREIGN;
}

int
pl_own_instance(bool *gone, struct pipeline *p, struct store_env *row,
    const char *instance_id)
{
	struct ec2_instance_page page;
	struct ec2_describe_instances_input in;
	const char *ids[1] = { instance_id };
	char why[256], what[64];
	unsigned waited = 0, budget;
	int error;

	*gone = false;
	memset(&in, 0, sizeof(in));
	memset(&page, 0, sizeof(page));
	in.instance_ids = ids;
	in.ninstance_ids = 1;
	/*
	 * Launched minutes ago: "not found" is EC2 not showing it yet, not
	 * its absence (else a rollback right after the launch would leak it).
	 */
	budget = row->launched_at > 0 && pl_now(p) - row->launched_at < 300 ?
	    PL_CONSISTENCY_MS : 0;
	while ((error = ec2_instances_describe_page(&page, p->ec2, &in,
	    NULL)) == ERR_NOTFOUND && pl_consistency_wait(p, &waited, budget,
	    error, "InvalidInstanceID.NotFound"))
		ec2_instance_page_dispose(&page);
	if (error == ERR_NOTFOUND || (error == 0 && page.n == 0)) {
		*gone = true;
		error = 0;
		goto out;
	}
	if (error < 0)
		goto out;
	if (strcmp(page.v[0].state, "terminated") == 0 ||
	    strcmp(page.v[0].state, "shutting-down") == 0) {
		*gone = true;
		goto out;
	}
	if (pl_own_tags(why, sizeof(why), p, page.v[0].tags, page.v[0].ntags,
	    row->id) < 0) {
		snprintf(what, sizeof(what), "instance %s", instance_id);
		error = pl_not_ours(p, row, what, why);
	}
out:
	ec2_instance_page_dispose(&page);
	return error;
}

int
pl_own_sg(struct ec2_security_group_list *out, struct pipeline *p,
    struct store_env *row, const char *group_id)
{
	const char *ids[1] = { group_id };
	char why[256], what[64];
	int error;

	memset(out, 0, sizeof(*out));
	error = ec2_security_groups_describe(out, p->ec2, ids, 1, NULL, 0);
	if (error == 0 && out->n == 0)
		error = ERR_NOTFOUND;
	if (error < 0)
		return error;
	if (pl_own_tags(why, sizeof(why), p, out->v[0].tags, out->v[0].ntags,
	    row->id) < 0) {
		ec2_security_group_list_dispose(out);
		snprintf(what, sizeof(what), "security group %s", group_id);
		return pl_not_ours(p, row, what, why);
	}
	return 0;
}

int
pl_own_key_pair(bool *gone, struct pipeline *p, struct store_env *row,
    const char *name, unsigned budget_ms)
{
	struct ec2_key_pair_list l;
	const char *names[1] = { name };
	char why[256], what[160];
	unsigned waited = 0;
	int error;

	*gone = false;
	memset(&l, 0, sizeof(l));
	while ((error = ec2_key_pairs_describe(&l, p->ec2, names, 1)) ==
	    ERR_NOTFOUND && pl_consistency_wait(p, &waited, budget_ms, error,
	    "InvalidKeyPair.NotFound"))
		ec2_key_pair_list_dispose(&l);
	if (error == ERR_NOTFOUND || (error == 0 && l.n == 0)) {
		*gone = true;
		error = 0;
		goto out;
	}
	if (error < 0)
		goto out;
	if (pl_own_tags(why, sizeof(why), p, l.v[0].tags, l.v[0].ntags,
	    row->id) < 0) {
		snprintf(what, sizeof(what), "key pair %s", name);
		error = pl_not_ours(p, row, what, why);
	}
out:
	ec2_key_pair_list_dispose(&l);
	return error;
}
