/*
 * ctl.c - opening what the commands need, from the configuration.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aws.h"
#include "config.h"
#include "creds.h"
#include "ctl.h"
#include "ec2.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "spec.h"
#include "store.h"
#include "sts.h"

int
ctl_config_load(struct config **out, int *argcp, char **argv)
{
	struct config *c = config_new();
	int error;

	if ((error = config_load(c, argcp, argv)) < 0) {
		config_free(c);
		*out = NULL;
		return error;
	}
	ctl_log_apply(c);
	*out = c;
	return 0;
}

void
ctl_cid_begin(char *cid)
{
	struct log_context lc;

	log_cid_new(cid);
	memset(&lc, 0, sizeof(lc));
	lc.correlation_id = cid;
	log_context_set(&lc);
}

void
ctl_log_apply(const struct config *c)
{
	log_init("envctl", c->log_level, c->log_format);
}

const char *
ctl_region(const struct config *c)
{
	const char *r = c->region;

	if (*r != '\0')
		return r;
	if ((r = aws_region_from_env()) != NULL && *r != '\0')
		return r;
	return "us-east-1";
}

int
ctl_specs_load(struct spec_tree **out, char **revision, const struct config *c)
{
	struct spec_options opts;
	const char *dir = c->specs;
	char *published = NULL, target[PATH_MAX];
	char prefix[CTL_SPEC_PREFIX_LEN];
	ssize_t n;
	int error;

	*out = NULL;
	*revision = NULL;
	if (*dir == '\0' && *c->spec_repo != '\0') {
		/* The controller publishes checkouts as state_dir/current -> trees/<commit>. */
		published = xasprintf("%s/current", c->state_dir);
		if ((n = readlink(published, target, sizeof(target) - 1)) < 0) {
			err_set("no published checkout of spec_repo at %s (%s): "
			    "has 'envctl run' fetched it yet?", published, strerror(errno));
			free(published);
			return ERR_NOTFOUND;
		}
		target[n] = '\0';
		*revision = xstrdup(strrchr(target, '/') ? strrchr(target, '/') + 1 : target);
		dir = published;
	} else if (*dir == '\0') {
		err_set("no specs to read: give --specs DIR or set spec_repo");
		return ERR_INVALID;
	} else
		*revision = xstrdup("local");

	ctl_spec_options(&opts, prefix, c);
	opts.lean = 1;		/* briefs only; the engine reads the specs it runs */
	if ((error = spec_tree_load(out, dir, &opts)) < 0) {
		err_prefix("reading specs from %s", dir);
		free(*revision);
		*revision = NULL;
	}
	free(published);
	return error;
}

void
ctl_spec_options(struct spec_options *opts, char prefix[CTL_SPEC_PREFIX_LEN],
    const struct config *c)
{
	spec_options_init(opts);
	opts->default_region = ctl_region(c);
	snprintf(prefix, CTL_SPEC_PREFIX_LEN, "%s:", c->tag_prefix);
	opts->tag_prefix = prefix;
	opts->secret_env_prefix = c->secret_env_prefix;
	opts->secret_ssm_prefix = c->secret_ssm_prefix;
	opts->secret_files = *c->secrets_dir != '\0';
}

/* ---- the leader lease's fence ---------------------------------------- */

static pthread_mutex_t lease_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	int		 armed;
	char		 cluster[256];
	char		 holder[256];
	int64_t		 epoch;
	uint64_t	 deadline;
} lease;

uint64_t
ctl_lease_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
ctl_lease_set(const char *cluster, const char *holder, int64_t epoch,
    uint64_t deadline_ms)
{
	pthread_mutex_lock(&lease_lock);
	lease.armed = 1;
	snprintf(lease.cluster, sizeof(lease.cluster), "%s", cluster);
	snprintf(lease.holder, sizeof(lease.holder), "%s", holder);
	lease.epoch = epoch;
	lease.deadline = epoch > 0 ? deadline_ms : 0;
	pthread_mutex_unlock(&lease_lock);
}

int
ctl_lease_check(void *arg)
{
	uint64_t now = ctl_lease_clock_ms();
	int error = 0;

	(void)arg;
	pthread_mutex_lock(&lease_lock);
	if (lease.armed && lease.epoch <= 0) {
		err_set("fenced: this controller does not hold the leader lease "
		    "of cluster %s; no AWS change is made", lease.cluster);
		error = ERR_FENCED;
	} else if (lease.armed && now >= lease.deadline) {
		err_set("fenced: the leader lease of cluster %s (epoch %lld) was "
		    "last renewed too long ago (deadline passed %llu ms ago); no "
		    "AWS change is made, another controller may lead",
		    lease.cluster, (long long)lease.epoch,
		    (unsigned long long)(now - lease.deadline));
		error = ERR_FENCED;
	}
	pthread_mutex_unlock(&lease_lock);
	return error;
}

int64_t
ctl_lease_epoch(void)
{
	int64_t e;

	pthread_mutex_lock(&lease_lock);
	e = lease.armed ? lease.epoch : 0;
	pthread_mutex_unlock(&lease_lock);
	return e;
}

int
ctl_lease_store(struct store *st)
{
	char cluster[256], holder[256];
	int64_t epoch;
	int armed;

	pthread_mutex_lock(&lease_lock);
	armed = lease.armed;
	memcpy(cluster, lease.cluster, sizeof(cluster));
	memcpy(holder, lease.holder, sizeof(holder));
	epoch = lease.epoch;
	pthread_mutex_unlock(&lease_lock);
	if (!armed)
		return 0;
	/* epoch 0 names no lease row: every fenced write is refused */
	return store_fence_set(st, cluster, holder, epoch);
}

int
ctl_store_open(struct store **out, const struct config *c)
{
	int error;

	if ((error = store_open(out, c->database_url)) < 0)
		return error;
	store_cluster_set(*out, c->cluster_id);
	if ((error = store_check_version(*out)) < 0 ||
	    (error = ctl_lease_store(*out)) < 0) {
		store_free(*out);
		*out = NULL;
	}
	return error;
}

int
ctl_take_flag(int *argcp, char **argv, const char *flag)
{
	int i, found = 0, out = 1;

	for (i = 1; i < *argcp; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < *argcp)
				argv[out++] = argv[i++];
			break;
		}
		if (strcmp(argv[i], flag) == 0)
			found = 1;
		else
			argv[out++] = argv[i];
	}
	argv[out] = NULL;
	*argcp = out;
	return found;
}

int
ctl_take_json_flag(int *argcp, char **argv)
{
	int i, found = 0, out = 1;

	for (i = 1; i < *argcp; i++) {
		if (strcmp(argv[i], "-o") == 0 && i + 1 < *argcp &&
		    strcmp(argv[i + 1], "json") == 0) {
			found = 1;
			i++;
		} else if (strcmp(argv[i], "-ojson") == 0 ||
		    strcmp(argv[i], "--output=json") == 0)
			found = 1;
		else
			argv[out++] = argv[i];
	}
	argv[out] = NULL;
	*argcp = out;
	return found;
}

/*
 * The pacers of the process, one per region, made on first use and
 * kept until exit: every client of a region, in every thread and pass,
 * must draw from the same buckets.
 */
struct ctl_pacer {
	char			*region;
	struct aws_pacer	*pacer;
};

static pthread_mutex_t pacers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ctl_pacer *pacers;
static size_t npacers;

void
ctl_pacer_get(struct aws_pacer **out, const struct config *c,
    const char *region)
{
	const struct aws_pace_limits *l = &c->ec2_rate_limits.limits;
	int off = c->ec2_rate_limits.off;
	size_t i;

	*out = NULL;
	pthread_mutex_lock(&pacers_lock);
	for (i = 0; i < npacers; i++)
		if (strcmp(pacers[i].region, region) == 0)
			break;
	if (i == npacers && !off) {
		pacers = xreallocarray(pacers, npacers + 1, sizeof(*pacers));
		pacers[i].region = xstrdup(region);
		(void)aws_pacer_new(&pacers[i].pacer, l);
		npacers++;
	} else if (i < npacers)
		/* The same limits keep the buckets; a reload's new ones apply. */
		aws_pacer_set_limits(pacers[i].pacer, l);
	if (!off)
		*out = pacers[i].pacer;
	pthread_mutex_unlock(&pacers_lock);
}

void
ctl_pacers_foreach(ctl_pacer_fn *fn, void *arg)
{
	size_t i;

	pthread_mutex_lock(&pacers_lock);
	for (i = 0; i < npacers; i++)
		fn(pacers[i].region, pacers[i].pacer, arg);
	pthread_mutex_unlock(&pacers_lock);
}

int
ctl_aws_open(struct ctl_aws **out, const struct config *c, const char *region)
{
	struct ctl_aws *a = xcalloc(1, sizeof(*a));
	struct aws_creds_options co;
	struct aws_client_opts ao;
	int error;

	*out = NULL;
	a->region = xstrdup(region);
	a->sts_template = xcalloc(1, sizeof(*a->sts_template));
	a->sts_template->region = a->region;
	memset(&co, 0, sizeof(co));
	co.assume_role = sts_assume_role_cb;
	co.assume_role_arg = a->sts_template;
	if ((error = aws_creds_provider_new(&a->creds, &co)) < 0)
		goto fail;
	memset(&ao, 0, sizeof(ao));
	ao.region = a->region;
	ao.creds = a->creds;
	ao.max_attempts = c->aws_max_attempts;
	ctl_pacer_get(&ao.pacer, c, a->region);
	ao.fence = ctl_lease_check;	/* every mutating call, every client */
	if ((error = aws_client_new(&a->aws, &ao)) < 0)
		goto fail;
	if ((error = ec2_client_new(&a->ec2, a->aws)) < 0)
		goto fail;
	*out = a;
	return 0;
fail:
	err_prefix("AWS clients for %s", region);
	ctl_aws_free(a);
	return error;
}

void
ctl_aws_free(struct ctl_aws *a)
{
	if (a == NULL)
		return;
	ec2_client_free(a->ec2);
	aws_client_free(a->aws);
	aws_creds_provider_free(a->creds);
	free(a->sts_template);
	free(a->region);
	free(a);
}
