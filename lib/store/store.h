/*
 * store.h - envctl's records in PostgreSQL (docs/design.md §5).
 *
 * One struct store is one libpq connection; it is not shared between
 * threads (open one per worker).  Every query is sent with PQexecParams
 * and parameters (only the constant migration scripts go with PQexec): no
 * SQL text is ever built from input.
 *
 * Conventions of the records below:
 *  - strings are NUL-terminated and owned by the record; NULL is SQL NULL.
 *    PostgreSQL text cannot hold a NUL byte and a C string cannot carry
 *    one, so bytes from outside (specs, payloads) go in through the
 *    functions that take a pointer and a length (store_env_set_text(),
 *    store_event_add()), which refuse a NUL byte with ERR_INVALID instead
 *    of truncating.  Text must be valid UTF-8 (ERR_INVALID otherwise).
 *  - times are time_t seconds since the epoch, UTC; 0 is SQL NULL.
 *    Stored times are read back truncated to the second.
 *  - money (cost_per_hour_usd, total_cost_usd) is numeric(14,6) in the
 *    database and double in C: written rounded to 6 decimals, read back as
 *    the nearest double.  So a value with at most 6 decimals and 8
 *    integer digits comes back as the same double (a double carries 15
 *    significant digits); NaN, infinities and |v| >= 1e8 are ERR_INVALID.
 *    NULL reads as 0.0.
 *
 * Errors: ERR_UNAVAILABLE when the database cannot be reached (the
 * message names host and port, never a password), ERR_EXISTS for a
 * uniqueness violation (a second live row for a name), ERR_INVALID for
 * input the database refuses or a schema that does not match this binary,
 * ERR_CONFLICT when a guarded update lost to a concurrent one,
 * ERR_NOTFOUND when the row asked for is not there.
 *
 * Failpoints (test builds, ENVCTL_FAILPOINTS): store.env_insert,
 * store.env_update, store.event_add, store.run_finish, store.pass_load
 * fail the call before it reaches the database; store.migrate.before_commit
 * fails a migration after its statements, before its COMMIT.
 */
#ifndef ENVCTL_STORE_H
#define ENVCTL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct store;

/* A uuid in its canonical text form, NUL-terminated. */
#define STORE_ID_LEN	37

enum store_status {
	STORE_STATUS_PENDING = 0,
	STORE_STATUS_PROVISIONING,
	STORE_STATUS_READY,
	STORE_STATUS_ERROR,
	STORE_STATUS_TERMINATING,
	STORE_STATUS_TERMINATED,
};

enum store_stage {
	STORE_STAGE_INIT = 0,
	STORE_STAGE_KEYS_GENERATED,
	STORE_STAGE_KEYS_UPLOADED,
	STORE_STAGE_SG_READY,
	STORE_STAGE_INSTANCE_LAUNCHED,
	STORE_STAGE_TAGGED,
	STORE_STAGE_DONE,
	STORE_STAGE_COUNT	/* not a stage: how many there are */
};

/* "pending", "INIT", ...; "?" for a value out of range. */
const char	*store_status_str(enum store_status);
const char	*store_stage_str(enum store_stage);
/* Parse the database spelling; ERR_INVALID for anything else. */
int		 store_status_parse(enum store_status *out, const char *s);
int		 store_stage_parse(enum store_stage *out, const char *s);

/*
 * One row of environments (one incarnation of an environment).  Embedded
 * by value; store_env_dispose() frees the strings.
 */
struct store_env {
	char			 id[STORE_ID_LEN];	/* "" until inserted */
	char			*name;
	char			*workspace;
	char			*spec_hash;
	char			*spec_revision;
	enum store_status	 status;
	enum store_stage	 stage;
	char			*instance_id;
	char			*public_ip;
	char			*ssh_key_s3_key;
	char			*security_group_id;
	char			*ami_id;
	char			*market;
	char			*subnet_id;
	char			*region;
	/* host key fingerprints verified at ready, space-separated (NULL: none) */
	char			*host_keys;
	double			 cost_per_hour_usd;
	/* stopped since (0: running) and seconds stopped before (§6.8) */
	time_t			 stopped_at;
	int			 stopped_seconds;
	/* metadata->instance_type: the type a launch chose (instance.types) */
	char			*instance_type;
	/*
	 * metadata->parked: the incarnation ended because its instance shut
	 * itself down idle (on_idle: terminate) and its environment waits,
	 * parked, for `envctl start` (§6.8); NULL: not parked.
	 */
	char			*parked;
	int			 attempts;
	time_t			 next_attempt_at;
	time_t			 launched_at;
	time_t			 ready_at;
	time_t			 terminated_at;
	char			*termination_reason;
	double			 total_cost_usd;
	char			*error;			/* metadata->error */
	char			*failed_at_stage;	/* metadata->failed_at_stage */
	char			*metadata;		/* the whole jsonb, as text (read only) */
	time_t			 created_at;		/* read only */
	time_t			 updated_at;		/* read only */
	int64_t			 row_version;		/* bumped by every update */
	/*
	 * Internal: rows read in lists (store_envs_load_live(),
	 * store_envs_live_each(), store_env_history()) keep every string in
	 * this one block (10,000 rows: 10,000 allocations, not 160,000).
	 * Read them as usual; store_env_dispose() and store_env_set_text()
	 * know.
	 */
	char			*packed;
};

/*
 * The fields store_env_update() can write, as a mask.  Identity fields
 * (id, name, created_at) never change: a new incarnation is a new row.
 */
enum store_env_field {
	STORE_ENV_WORKSPACE		= 1u << 0,
	STORE_ENV_SPEC_HASH		= 1u << 1,
	STORE_ENV_SPEC_REVISION		= 1u << 2,
	STORE_ENV_STATUS		= 1u << 3,
	STORE_ENV_STAGE			= 1u << 4,
	STORE_ENV_INSTANCE_ID		= 1u << 5,
	STORE_ENV_PUBLIC_IP		= 1u << 6,
	STORE_ENV_SSH_KEY_S3_KEY	= 1u << 7,
	STORE_ENV_SECURITY_GROUP_ID	= 1u << 8,
	STORE_ENV_AMI_ID		= 1u << 9,
	STORE_ENV_MARKET		= 1u << 10,
	STORE_ENV_SUBNET_ID		= 1u << 11,
	STORE_ENV_REGION		= 1u << 12,
	STORE_ENV_COST_PER_HOUR		= 1u << 13,
	STORE_ENV_ATTEMPTS		= 1u << 14,
	STORE_ENV_NEXT_ATTEMPT_AT	= 1u << 15,
	STORE_ENV_LAUNCHED_AT		= 1u << 16,
	STORE_ENV_READY_AT		= 1u << 17,
	STORE_ENV_TERMINATED_AT		= 1u << 18,
	STORE_ENV_TERMINATION_REASON	= 1u << 19,
	STORE_ENV_TOTAL_COST		= 1u << 20,
	/* metadata error and failed_at_stage together (NULL error clears both) */
	STORE_ENV_ERROR			= 1u << 21,
	/* for store_env_set_text() only: the name (never updated) and
	 * failed_at_stage (written together with STORE_ENV_ERROR) */
	STORE_ENV_NAME			= 1u << 22,
	STORE_ENV_FAILED_AT_STAGE	= 1u << 23,
	STORE_ENV_HOST_KEYS		= 1u << 24,
	STORE_ENV_STOPPED_AT		= 1u << 25,
	STORE_ENV_STOPPED_SECONDS	= 1u << 26,
	/* metadata instance_type; not in one update with STORE_ENV_ERROR */
	STORE_ENV_INSTANCE_TYPE		= 1u << 27,
	/* metadata parked (NULL clears it); not with STORE_ENV_ERROR */
	STORE_ENV_PARKED		= 1u << 28,
	/* only check row_version, see store_env_update() */
	STORE_ENV_GUARD			= 1u << 30,
};

void	 store_env_dispose(struct store_env *);
/* Dispose n records and free the array; NULL does nothing. */
void	 store_envs_free(struct store_env *, size_t n);

/*
 * Set the text field of env named by field (the STORE_ENV_* bit of a
 * string field, including STORE_ENV_NAME, STORE_ENV_ERROR and
 * STORE_ENV_FAILED_AT_STAGE) to a copy of the len bytes at p,
 * replacing and freeing the old value; p NULL sets NULL.  ERR_INVALID
 * (and env unchanged) when the bytes hold a NUL, which PostgreSQL text
 * cannot store, or field is not a text field.
 */
int	 store_env_set_text(struct store_env *env, unsigned field,
	    const char *p, size_t len);

/*
 * Connect to database_url, a conninfo string or postgresql:// URI; NULL
 * or "" means libpq's own PG* environment variables.  connect_timeout
 * (5 s), TCP keepalives and tcp_user_timeout are set so that a dead peer
 * is noticed in about a minute, and statement_timeout, lock_timeout and
 * idle_in_transaction_session_timeout (60 s each, as server options) so
 * that nothing waits forever; the URL (or PGCONNECT_TIMEOUT, PGOPTIONS)
 * overrides them.  The caller
 * frees *out with store_free().  ERR_UNAVAILABLE when the server cannot
 * be reached, with host and port (never the password) in the message.
 */
int	 store_open(struct store **out, const char *database_url);
void	 store_free(struct store *);

/*
 * Rows belong to a cluster (docs/design.md §5.1): every query on
 * environments reads, inserts and updates only the rows whose cluster_id
 * is this store's cluster, set here (copied) after store_open();
 * STORE_CLUSTER_DEFAULT until then, the cluster_id option's default.
 * A migration that gives old rows a cluster gives them this one.
 */
#define STORE_CLUSTER_DEFAULT	"default"

/*
 * failed_at_stage of a row one of whose resources is not envctl's own
 * (docs/design.md §3.9); its error says which and why, and the pass's
 * brief row carries that error as not_ours.
 */
#define STORE_FAILED_OWNERSHIP	"ownership"
void	 store_cluster_set(struct store *, const char *cluster);
/*
 * The audit context of what writes through this store from now on: the
 * correlation id of the pass or command (one per pass, carried by its
 * events, its reconcile run and its log lines) and the spec revision
 * that caused it.  Either NULL or "" for none.  Copied.
 */
void	 store_context_set(struct store *, const char *cid,
	    const char *revision);
const char	*store_cluster(const struct store *);

/* "host=... port=... dbname=... user=..." of the connection, no password. */
const char	*store_describe(const struct store *);

/*
 * Leadership between controllers of one cluster (docs/design.md §3.7): a
 * lease row per cluster, its expiry by the database's clock.  Take or
 * renew it for lease_ms as holder (pidns: the PID namespace holder's pid
 * lives in, or NULL): *epoch is the lease's epoch when holder has it now
 * (the same while renewed in time, one more on every takeover, an
 * expired lease of our own included), 0 when another holder's lease has
 * not expired.  evict (or NULL) names a holder known dead (its process
 * is gone): its lease is taken even before it expires, unless another
 * holder took it meanwhile.  Negative on database errors.
 */
int	 store_lease_acquire(int64_t *epoch, struct store *, const char *cluster,
	    const char *holder, const char *pidns, long lease_ms,
	    const char *evict);
/* The lease of a cluster as the database has it (all zero: none). */
struct store_lease {
	char	 holder[320];
	char	 pidns[64];
	int64_t	 epoch;
	int	 live;		/* not expired by the database's clock */
};
int	 store_lease_get(struct store_lease *out, struct store *,
	    const char *cluster);
/* Give the lease up (expire it now) if holder has it. */
int	 store_lease_release(struct store *, const char *cluster,
	    const char *holder);
/*
 * Write under a lease from now on, on this session and the ones it
 * reconnects: the database refuses this store's writes to environments
 * and events (ERR_FENCED, nothing changed) unless holder still has
 * cluster's lease at epoch.
 */
int	 store_fence_set(struct store *, const char *cluster, const char *holder,
	    int64_t epoch);
/* application_name of this session and the ones it reconnects. */
int	 store_session_name(struct store *, const char *name);
/*
 * The client-side bound of each call (default 65 s, the server's 60 s
 * statement_timeout and some): a call with no answer by then fails with
 * ERR_UNAVAILABLE and drops the session; the next call opens a new one.
 */
void	 store_timeout_set(struct store *, long ms);

/* The newest schema version this binary knows. */
int	 store_schema_latest(void);
/* The version the database is at; 0 when envctl's schema is not there. */
int	 store_schema_version(int *out, struct store *);
/*
 * Apply the migrations the database is missing, each in its own
 * transaction together with its schema_version row, serialized against
 * concurrent migrators by an advisory lock.  *from and *to (either may be
 * NULL) get the version before and after.  ERR_INVALID, changing
 * nothing, when the database is newer than this binary.
 */
int	 store_migrate(struct store *, int *from, int *to);
/*
 * 0 when the schema is exactly the one this binary knows; ERR_INVALID
 * with "run 'envctl migrate'" when it is older, or a refusal when newer.
 */
int	 store_check_version(struct store *);

/*
 * Record that incarnation env_id left security group group_id behind
 * (an orphan's group still in use while its instance shuts down): its
 * row, if this cluster has one, names the group; else an ended row
 * (status terminated, reason "orphan", name and region as given) is
 * inserted for it.  Either way the planner's garbage collection finds
 * it on later passes and deletes the group (docs/design.md §6.4).
 */
int	 store_env_leftover_group(struct store *, const char *env_id,
	    const char *name, const char *region, const char *group_id);

/*
 * Insert a new incarnation of env->name: status pending, stage INIT,
 * attempts 0, with workspace, spec_hash, spec_revision, region, market
 * and cost_per_hour_usd taken from env.  If env->id is set it is used (an
 * adopted instance keeps the id of its tag), else one is generated.
 * The new id goes to id_out (may be NULL).  ERR_EXISTS when a live row
 * for that name exists: the database's partial unique index refuses it.
 */
int	 store_env_insert(char id_out[STORE_ID_LEN], struct store *,
	    const struct store_env *env);

/*
 * Write the fields of env in mask (STORE_ENV_*) to row env->id and set
 * updated_at.  With STORE_ENV_GUARD the write happens only if the row's
 * row_version still equals env->row_version (ERR_CONFLICT otherwise).
 * On success env->row_version and env->updated_at are refreshed.
 * ERR_NOTFOUND when there is no such row.
 */
int	 store_env_update(struct store *, struct store_env *env, unsigned mask);

/*
 * All live rows (status other than terminated), ordered by name, in one
 * query.  The caller frees *out with store_envs_free(*out, *n).
 */
int	 store_envs_load_live(struct store_env **out, size_t *n, struct store *);
/*
 * The same rows, one at a time: fn sees each (valid only during the call)
 * and stops the read by returning an error, which is then returned.
 * Nothing of the whole list is held at once.
 */
int	 store_envs_live_each(struct store *,
	    int (*fn)(void *arg, const struct store_env *env), void *arg);

/* The live row of name into *out (caller disposes); ERR_NOTFOUND if none. */
int	 store_env_get_by_name(struct store_env *out, struct store *,
	    const char *name);
/* The row with id into *out, live or not (caller disposes). */
int	 store_env_get(struct store_env *out, struct store *, const char *id);
/*
 * The limit newest incarnations of name, live or ended, newest first
 * (for status and cost history).  Free with store_envs_free(*out, *n).
 */
int	 store_env_history(struct store_env **out, size_t *n, struct store *,
	    const char *name, size_t limit);

/*
 * The parked environments: per name whose newest incarnation ended
 * parked (metadata parked), that row, by name (status, status pages).
 * Free with store_envs_free(*out, *n).
 */
int	 store_envs_parked(struct store_env **out, size_t *n, struct store *);

/*
 * A row as a reconcile pass reads it: what planning and the actions'
 * routing use, nothing more (80 bytes; a whole struct store_env is 264
 * plus its strings).  The strings belong to the struct store_pass that
 * holds the row and live as long as it does; never NULL except
 * spec_hash, instance_id and region (SQL NULL).  status and stage hold
 * enum store_status and enum store_stage values.  ttl_expired: the row's
 * termination_reason is "ttl expired"; has_leftovers: an ended row
 * (terminated) that still names its S3 keys or its security group, so
 * garbage collection has something to do.  An action that changes a row
 * reads it whole first (store_env_get with id).
 */
struct store_brief {
	const char	*id;
	const char	*name;
	const char	*spec_hash;
	const char	*instance_id;
	const char	*region;
	const char	*not_ours;	/* failed at STORE_FAILED_OWNERSHIP: the error */
	time_t		 next_attempt_at;
	time_t		 launched_at;
	time_t		 ready_at;
	time_t		 created_at;
	int		 attempts;
	uint8_t		 status;	/* enum store_status */
	uint8_t		 stage;		/* enum store_stage */
	bool		 ttl_expired;
	bool		 has_leftovers;
	bool		 stopped;	/* stopped_at is set (a stop is known) */
	bool		 parked;	/* metadata has the parked mark (§6.8) */
};

/*
 * Everything a reconcile pass reads from the database, read in one
 * read-only repeatable-read transaction (one consistent snapshot): the
 * schema check, the live rows ordered by name, and the incarnations that
 * ended at or after ended_since (their leftovers may need garbage
 * collection) or carry the parked mark however old (the planner keeps
 * a parked environment parked), ordered by terminated_at then name.  Rows arrive one at a
 * time (single-row mode) into brief rows whose strings are packed into a
 * few large chunks the store_pass owns.  store_pass_dispose() frees
 * everything; on failure *out is left empty.
 */
struct arena;
struct store_pass {
	struct store_brief	*live;
	size_t			 nlive;
	struct store_brief	*ended;
	size_t			 nended;
	struct arena		*strings;	/* internal: the rows' strings */
};
int	 store_pass_load(struct store_pass *out, struct store *,
	    time_t ended_since);
void	 store_pass_dispose(struct store_pass *);

/* One row of events. */
struct store_event {
	int64_t	 id;
	char	 env_id[STORE_ID_LEN];	/* "" for an event of no environment */
	char	*type;
	char	*payload;		/* jsonb as text */
	time_t	 created_at;
	char	*cid;			/* correlation id, "" if none */
	char	*revision;		/* spec revision, "" if none */
	char	*env;			/* the environment's name, "" if unknown */
};

/* What store_events_query() reads; zero values ask for everything. */
struct store_event_query {
	const char	*name;		/* events of every incarnation of name */
	time_t		 since;		/* created at or after */
	const char	*type;		/* exact, or a prefix ending in '*' */
	const char	*cid;		/* of one correlation id */
	size_t		 limit;		/* newest first; 0: 1000 */
};

/*
 * Record an event.  env_id NULL or "" for none (an orphan, an invalid
 * spec); env_id is not a foreign key, so events about lost rows keep it.
 * payload is len bytes of JSON (NULL means {}); a NUL byte or invalid
 * JSON is ERR_INVALID.  The new id goes to *id_out (may be NULL).
 */
int	 store_event_add(int64_t *id_out, struct store *, const char *env_id,
	    const char *type, const char *payload, size_t len);
/*
 * The limit newest events, newest first; of env_id only unless it is
 * NULL.  The caller frees *out with store_events_free(*out, *n).
 */
int	 store_events_recent(struct store_event **out, size_t *n,
	    struct store *, const char *env_id, size_t limit);
void	 store_events_free(struct store_event *, size_t n);
/*
 * This cluster's events matching q, newest first (store_events_free()).
 * ERR_INVALID for a type pattern with '*' anywhere but at its end.
 */
int	 store_events_query(struct store_event **out, size_t *n,
	    struct store *, const struct store_event_query *q);
/*
 * The live environments whose newest drift event (drift.detected or
 * drift.resolved) is a drift.detected carrying a "fact": the ones whose
 * drift may still be open.  One query for the whole fleet; *ids sorted,
 * the caller frees it.
 */
int	 store_drift_open_ids(char (**ids)[STORE_ID_LEN], size_t *n,
	    struct store *);

/*
 * When the terminations the deletion budget counts (docs/design.md §3.3)
 * were recorded, after since (unix seconds), oldest first: every
 * orphan.terminated event (orphans, duplicate instances) and every
 * remote.terminate event that ended an instance (its payload names an
 * "instance_id" and its "kind" is not "close").  Counted from the events,
 * so the count holds across restarts and leaders.  *times (NULL when *n
 * is 0) is the caller's to free.
 */
int	 store_terminations_since(int64_t **times, size_t *n, struct store *,
	    time_t since);
/*
 * The quota holds open in this cluster (design §3.10): an environment is
 * held from its first quota.held event until a quota.released event
 * names it or a row of that name starts provisioning.  *out (NULL when
 * *n is 0), oldest hold first, is freed with store_quota_holds_free();
 * workspace and reason are those of its newest quota.held (NULL if the
 * event had none).
 */
struct store_quota_hold {
	char		*env;
	char		*workspace;
	char		*reason;
	int64_t		 since;		/* unix seconds of the first quota.held */
};
int	 store_quota_holds(struct store_quota_hold **out, size_t *n,
	    struct store *);
void	 store_quota_holds_free(struct store_quota_hold *, size_t n);
/*
 * Of the n instance ids, which already have an event of type naming them
 * (payload "instance_id"): seen[i] set for each such ids[i].  One query.
 */
int	 store_event_instances_seen(bool *seen, struct store *, const char *type,
	    const char *const *ids, size_t n);

/*
 * The cost ledger (migration 8, docs/design.md §6.9): billed intervals
 * of instances.  Strings are borrowed by store_cost_open(); in a list
 * they point into block, which the segment owns.
 */
enum store_cost_kind {
	STORE_COST_COMPUTE = 1u << 0,	/* the instance while it runs */
	STORE_COST_STORAGE = 1u << 1,	/* its root volume until termination */
};

struct store_cost_seg {
	int64_t		 id;		/* 0 until stored */
	char		 env_id[STORE_ID_LEN];	/* "" when unknown */
	const char	*env_name;
	const char	*workspace;
	const char	*instance_id;
	const char	*market;	/* "on-demand" | "spot" */
	const char	*region;
	const char	*az;
	const char	*instance_type;
	unsigned	 kind;		/* one STORE_COST_* */
	double		 usd_per_hour;	/* the price paid */
	double		 od_usd_per_hour; /* the on-demand price of the same */
	time_t		 started_at;
	time_t		 ended_at;	/* 0: open */
	bool		 continues;	/* carries on the previous compute
					   segment at a new price: no minimum */
	char		*block;		/* owned (lists only) */
};

/*
 * Open seg (kind, instance, started_at; NULL strings stored as "") for
 * this store's cluster.  Idempotent: when the instance already has an
 * open segment of that kind, or one with that start, nothing changes.
 */
int	 store_cost_open(struct store *, const struct store_cost_seg *seg);
/*
 * Close the open segments of instance_id whose kind is in kinds at
 * `at` (a segment never ends before it started); none open: 0.
 */
int	 store_cost_close(struct store *, const char *instance_id,
	    unsigned kinds, time_t at);
/*
 * Reopen the compute segment of instance_id at `at` (it started again):
 * a copy of its latest compute segment (prices, type, zone) from at.
 * Nothing when it has none or one is open.
 */
int	 store_cost_reopen(struct store *, const char *instance_id, time_t at);
/*
 * A spot price change of a running instance: in one statement, close its
 * open compute segment at `at` and open its continuation from `at`
 * (same type, zone, market and on-demand price, continues set) at
 * usd_per_hour.  Nothing when no compute segment is open, it started at
 * or after `at`, or its price differs by less than 1e-6; so a replay
 * changes nothing.  *changed (may be NULL) is 1 when it repriced.
 */
int	 store_cost_reprice(int *changed, struct store *,
	    const char *instance_id, time_t at, double usd_per_hour);
/*
 * The segments of this cluster that may bill at or after since (0: all;
 * ended less than a minute before counts, for the minimum), of one
 * environment when env_id is not NULL, of live environments only (not
 * terminated, and not of no environment) when live is set; by env_id,
 * then oldest first.  Free the list with store_cost_list_free().
 */
int	 store_cost_list(struct store_cost_seg **out, size_t *n,
	    struct store *, const char *env_id, time_t since, bool live);
void	 store_cost_list_free(struct store_cost_seg *, size_t n);

/* A count by action name, for store_run_finish(). */
struct store_count {
	const char	*action;
	long		 n;
};

/* One row of reconcile_runs. */
struct store_run {
	int64_t	 id;
	char	*revision;
	time_t	 started_at;
	time_t	 finished_at;	/* 0 while running */
	char	*counts;	/* jsonb {"provision": 2, ...} as text */
	int	 drift_found;
	int	 errors;
	char	*error;
	char	*cid;		/* correlation id, "" if none */
};

/* Record the start of a pass at revision (may be NULL); id to *id_out. */
int	 store_run_begin(int64_t *id_out, struct store *, const char *revision);
/*
 * Record the end of pass id: ncounts counts by action, drift found,
 * errors, and error (NULL when the pass ran to its end).
 */
int	 store_run_finish(struct store *, int64_t id,
	    const struct store_count *counts, size_t ncounts,
	    int drift_found, int errors, const char *error);
/* The limit newest runs, newest first; free with store_runs_free(). */
int	 store_runs_recent(struct store_run **out, size_t *n, struct store *,
	    size_t limit);
void	 store_runs_free(struct store_run *, size_t n);

#endif
