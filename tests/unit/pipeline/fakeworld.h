/*
 * fakeworld.h - the world below lib/pipeline for test_pipeline_stages:
 * an in-memory EC2 and S3 (fake_aws.c, the ec2_*, s3_* and aws_client_*
 * functions the pipeline calls) and an in-memory environments/events
 * store (fake_store.c, the store_* functions), linked instead of
 * envctl_aws and envctl_store.  The pipeline's code runs unchanged.
 *
 * One world per process (the tests run one at a time): fakeworld and
 * fakestore are plain globals the tests read, script and reset.
 *
 * EC2 keeps what real EC2 keeps for the calls the pipeline makes:
 * instances (ClientToken idempotency: the same token with the same
 * parameters answers the same instance, other parameters are
 * IdempotentParameterMismatch), security groups (unique names, rules,
 * DependencyViolation while a live instance uses one), key pairs, tags,
 * subnets in two VPCs and two al2023 images.  Terminated instances stay
 * visible, as in EC2.  Faults are scripted per call: fakeworld_fail()
 * makes the Nth call of an action (or every one) answer an AWS error
 * code; fakeworld.down_after makes every call after that many fail.
 */
#ifndef ENVCTL_FAKEWORLD_H
#define ENVCTL_FAKEWORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ec2.h"
#include "store.h"

#define FW_MAX		64
#define FW_TAGS		64
#define FW_RULES	64

struct fw_tag {
	char	*key;
	char	*value;
};

struct fw_instance {
	char		 id[32];
	char		 state[16];
	char		 type[32];
	char		 image[32];
	char		 subnet[32];
	char		 vpc[32];
	char		 key_name[256];
	char		 token[72];
	char		 public_ip[48];
	char		 sg[32];
	int		 spot;
	int		 protected;	/* DisableApiTermination */
	bool		 hidden;	/* not yet seen by filtered describes */
	time_t		 launched;
	unsigned char	 params[32];	/* SHA-256 of the RunInstances parameters */
	char		*user_data;
	struct fw_tag	 tags[FW_TAGS];
	size_t		 ntags;
};

struct fw_group {
	char		 id[32];
	char		 name[256];
	char		 vpc[32];
	struct ec2_sg_rule rules[FW_RULES];
	size_t		 nrules;
	struct fw_tag	 tags[FW_TAGS];
	size_t		 ntags;
};

struct fw_keypair {
	char		 name[256];
	char		*public_key;
	struct fw_tag	 tags[FW_TAGS];
	size_t		 ntags;
};

struct fw_object {
	char		*key;
	char		*body;
	size_t		 len;
	int		 sse;		/* enum s3_sse */
};

struct fw_fault {
	char		 action[48];	/* "RunInstances" */
	char		 match[128];	/* "" or the call's detail (see fakeworld_fail) */
	unsigned	 nth;		/* 0: every matching call; N: the Nth only */
	unsigned	 seen;
	char		 code[64];	/* the AWS error code answered */
};

struct fw_count {
	char		 action[48];
	unsigned	 n;
};

/* One RunInstances call as sent (for the ClientToken assertions). */
struct fw_run {
	char		 token[72];
	char		 pool[64];	/* "on-demand/subnet-0a", "spot/-" */
	char		 type[32];	/* the instance type asked for */
	unsigned char	 params[32];
};

struct fakeworld {
	char		 bucket[64];
	time_t		 now;		/* launch times; the tests keep it */
	struct fw_instance inst[FW_MAX];
	size_t		 ninst;
	struct fw_group	 sg[FW_MAX];
	size_t		 nsg;
	struct fw_keypair kp[FW_MAX];
	size_t		 nkp;
	struct fw_object obj[FW_MAX];
	size_t		 nobj;
	struct fw_fault	 faults[16];
	size_t		 nfaults;
	struct fw_count	 counts[64];
	size_t		 ncounts;
	struct fw_run	 runs[FW_MAX];
	size_t		 nruns;
	unsigned	 calls;		/* every call so far */
	long		 down_after;	/* -1; else calls past this many fail */
	/* knobs */
	bool		 slow_shutdown;	/* terminate: shutting-down, not terminated */
	bool		 lag;		/* new instances: hidden from filters, tags NotFound */
	bool		 run_answer_untagged; /* RunInstances answers no tagSet */
	int		 cred_epoch;	/* presigned URLs carry it: credentials rotated */
	bool		 impaired;	/* status checks never "ok" */
	char		 console[512];	/* GetConsoleOutput of every instance */
	/* GetSpotPlacementScores: the score of (type, zone id); none: 0 */
	struct {
		char	type[32];
		char	az_id[16];
		int	score;
	}		 scores[16];
	size_t		 nscores;
	unsigned	 next_id;
};

extern struct fakeworld fakeworld;

/* Empty the world (frees everything), bucket "bkt", nothing scripted. */
void	 fakeworld_reset(void);

/*
 * The nth (1-based; 0: every) call of action whose detail equals match
 * (NULL: any) answers code.  Details: RunInstances "<market>/<subnet>"
 * ("on-demand/subnet-0a", "spot/-") or "<market>/<type>/<subnet>"
 * ("spot/m5.large/subnet-0b"), GetSpotPlacementScores the type, PutObject the key, CreateTags and
 * TerminateInstances the first id, the others their group, key pair or
 * object name.  The ERR_* is the one lib/aws maps code to.
 */
void	 fakeworld_fail(const char *action, const char *match, unsigned nth,
	    const char *code);

/* How many times action was called (faulted calls included). */
unsigned fakeworld_count(const char *action);

/* pending -> running (with a public IP), hidden -> visible, shutting-down -> terminated. */
void	 fakeworld_settle(void);

/* Lookups; NULL when none. */
struct fw_instance *fakeworld_instance(const char *id);
struct fw_group	*fakeworld_group_named(const char *name);
struct fw_keypair *fakeworld_keypair(const char *name);
struct fw_object *fakeworld_object(const char *key);
const char *fakeworld_tag(const struct fw_instance *, const char *key);

/* Instances not terminated (pending, running, shutting-down, stopped...). */
size_t	 fakeworld_live_instances(void);
/* An object as an instance PUTs it (the bootstrap marker). */
void	 fakeworld_put(const char *key, const char *body);

/* ---- the store ---- */

struct fs_event {
	int64_t		 id;
	char		 env_id[STORE_ID_LEN];
	char		*type;
	char		*payload;
	time_t		 created_at;
};

/* A stage write as store_env_update() received it. */
struct fs_stage {
	char		 env_id[STORE_ID_LEN];
	enum store_stage stage;
};

/* A segment of the cost ledger (store_cost_open()); end 0: open. */
struct fs_cost {
	char		 env_id[STORE_ID_LEN];
	char		 instance_id[32];
	char		 type[32];
	char		 az[32];
	char		 market[16];
	unsigned	 kind;
	double		 usd, od;
	time_t		 start, end;
};

struct fakestore {
	struct store_env rows[FW_MAX];
	struct fs_cost	 cost[256];	/* not counted in writes */
	size_t		 ncost;
	size_t		 nrows;
	struct fs_event	 ev[256];
	size_t		 nev;
	struct fs_stage	 stages[256];
	size_t		 nstages;
	unsigned	 writes;	/* inserts, updates and events so far */
	long		 down_after;	/* -1; else calls after this many writes fail */
	time_t		 now;
};

extern struct fakestore fakestore;

/* Empty the store (frees everything); the store pointer to pass around. */
struct store *fakestore_reset(void);
/* The stored row of id (NULL if none): what a new process would read. */
const struct store_env *fakestore_row(const char *id);
/* The only row of name (asserts there is at most one); NULL if none. */
const struct store_env *fakestore_row_named(const char *name);
/* Events of env_id of type (NULL: any), oldest first: count and the last. */
size_t	 fakestore_events(const char *env_id, const char *type,
	    const struct fs_event **last);

#endif
