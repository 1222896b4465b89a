/*
 * ec2.h - typed EC2 calls (Query protocol, API version 2016-11-15).
 *
 * struct ec2_client borrows a struct aws_client (aws.h) for transport,
 * signing and retries; like it, it is not thread-safe (one per worker).
 * Every call returns 0 or a negative ERR_* code (err.h) with the reason
 * in err_get(); the AWS error code of the last failure is in
 * aws_client_last_error() of the underlying client.
 *
 * Results are plain structs the caller owns: fixed-size fields for the
 * short identifiers AWS returns, heap arrays for tags and groups (an
 * instance keeps all its strings in one block); every result type has a
 * _dispose() that frees what it holds and leaves it empty (disposing an
 * empty result does nothing).
 */
#ifndef ENVCTL_EC2_H
#define ENVCTL_EC2_H

#include <stddef.h>
#include <time.h>

struct aws_client;
struct ec2_client;

#define EC2_API_VERSION		"2016-11-15"
#define EC2_USER_DATA_MAX	16384	/* bytes before base64, EC2's limit */
#define EC2_DESCRIBE_MAX_RESULTS 1000

/* Input pairs (tags to set, key=value): borrowed strings. */
struct ec2_kv {
	const char	*key;
	const char	*value;
};

/* A filter: Name and its values (borrowed). */
struct ec2_filter {
	const char		*name;		/* "tag:envctl:cluster", "instance-state-name" */
	const char *const	*values;
	size_t			 nvalues;
};

/* Output tag: owned by the result holding it (an instance's: in its block). */
struct ec2_tag {
	const char	*key;
	const char	*value;
};

/* ---- client ---- */

/*
 * A client over aws (borrowed; it must outlive the EC2 client).
 * Returns 0; the caller frees *out with ec2_client_free().
 */
int	 ec2_client_new(struct ec2_client **out, struct aws_client *aws);
void	 ec2_client_free(struct ec2_client *);

/* ---- instances ---- */

enum ec2_market {
	EC2_MARKET_ON_DEMAND = 0,
	EC2_MARKET_SPOT,
};

/*
 * An instance as DescribeInstances or RunInstances reports it.  Every
 * string is "" when EC2 sent none and never NULL once parsed; they all
 * live in one block the struct owns (state may point to a static name
 * instead): read them, never free or write them one by one.
 */
struct ec2_instance {
	const char	*id;			/* "i-0abc..." */
	const char	*state;			/* pending|running|shutting-down|terminated|stopping|stopped */
	const char	*type;			/* "t3.medium" */
	const char	*image_id;
	const char	*private_ip;
	const char	*public_ip;		/* "" when it has none (yet) */
	const char	*subnet_id;
	const char	*vpc_id;
	const char	*az;			/* placement availability zone */
	const char	*key_name;
	const char	*client_token;
	const char	*state_reason;		/* stateReason message, may be "" */
	time_t		 launched;		/* launchTime, 0 if unknown */
	int		 state_code;		/* 0 16 32 48 64 80 */
	enum ec2_market	 market;		/* spot when instanceLifecycle=spot */
	const struct ec2_tag *tags;
	size_t		 ntags;
	const char *const *security_groups;	/* group ids */
	size_t		 nsecurity_groups;
	void		*block;			/* owned: what the pointers point into */
};

/*
 * Free what inst holds (its block) and leave it empty; the struct itself
 * is the caller's.  Whoever builds an instance by other means (a packed
 * copy) puts every allocation it makes into block, so this frees it too.
 */
void	 ec2_instance_dispose(struct ec2_instance *inst);
/* The value of tag key on inst, or NULL (points into inst). */
const char *ec2_instance_tag(const struct ec2_instance *inst, const char *key);

struct ec2_describe_instances_input {
	const struct ec2_filter	*filters;
	size_t			 nfilters;
	const char *const	*instance_ids;	/* EC2 refuses ids with MaxResults: */
	size_t			 ninstance_ids;	/* max_results is ignored with ids */
	int			 max_results;	/* 5..1000; 0: 1000 */
};

/* One page: v[0..n) owned, next_token NULL on the last page. */
struct ec2_instance_page {
	struct ec2_instance	*v;
	size_t			 n;
	char			*next_token;
};

void	 ec2_instance_page_dispose(struct ec2_instance_page *page);

/*
 * One DescribeInstances page starting at next_token (NULL: the first).
 * Instances of every reservation are flattened into out->v.  out is
 * overwritten (dispose it before reuse); on failure it is left empty.
 */
int	 ec2_instances_describe_page(struct ec2_instance_page *out,
	    struct ec2_client *, const struct ec2_describe_instances_input *in,
	    const char *next_token);

/*
 * Walk every page, calling fn once per page with the page's instances
 * (borrowed for the call).  A negative return from fn stops the walk
 * and is returned.  *npages (may be NULL) says how many pages were read.
 */
typedef int ec2_instance_page_fn(const struct ec2_instance *v, size_t n, void *arg);
int	 ec2_instances_describe(struct ec2_client *,
	    const struct ec2_describe_instances_input *in,
	    ec2_instance_page_fn *fn, void *arg, int *npages);

/*
 * RunInstances for exactly one instance (MinCount = MaxCount = 1) with
 * everything docs/design.md §6.1 asks for.  Borrowed strings;
 * NULL/0 means "leave out" unless a default is given.
 */
struct ec2_run_input {
	const char		*image_id;		/* required */
	const char		*instance_type;		/* required */
	const char		*client_token;		/* required: idempotency */
	const char		*subnet_id;
	const char *const	*security_group_ids;
	size_t			 nsecurity_group_ids;
	const char		*key_name;
	const char		*iam_profile_name;	/* IamInstanceProfile.Name */
	const char		*iam_profile_arn;	/* IamInstanceProfile.Arn */
	const void		*user_data;		/* raw; sent base64-encoded */
	size_t			 user_data_len;		/* <= EC2_USER_DATA_MAX */
	/* Tags on the instance AND its volumes (TagSpecifications). */
	const struct ec2_kv	*tags;
	size_t			 ntags;
	const char		*root_device_name;	/* NULL: "/dev/xvda" */
	int			 root_size_gb;		/* 0: the image's size */
	int			 metadata_hop_limit;	/* 0: 2 (IMDSv2 required always) */
	int			 spot;			/* one-time spot, terminate;
						   else shutdown stops */
	const char		*spot_max_price;	/* NULL: on-demand price cap */
	int			 shutdown_terminate;	/* on-demand too: a shutdown
							   from inside terminates */
	int			 disable_api_termination;
};

/*
 * Launch.  On success out describes the instance as RunInstances
 * returned it (caller disposes).  ERR_INVALID for missing required
 * fields, ERR_LIMIT for user data over EC2_USER_DATA_MAX (nothing is
 * sent in either case).  AWS errors come as aws_client_send() maps them,
 * e.g. ERR_CONFLICT for IdempotentParameterMismatch; for capacity and
 * quota errors (InsufficientInstanceCapacity, InstanceLimitExceeded)
 * read aws_client_last_error()->code to decide on a fallback.
 */
int	 ec2_instance_run(struct ec2_instance *out, struct ec2_client *,
	    const struct ec2_run_input *in);

/*
 * TerminateInstances for ids.  ERR_NOTFOUND when EC2 says
 * InvalidInstanceID.NotFound (idempotent callers treat it as done).
 */
int	 ec2_instances_terminate(struct ec2_client *, const char *const *ids,
	    size_t nids);

/*
 * StopInstances / StartInstances of one instance (the root EBS volume
 * stays).  ERR_NOTFOUND for InvalidInstanceID.NotFound; an instance in a
 * state that cannot stop or start gives EC2's IncorrectInstanceState
 * (aws_client_last_error()).
 */
int	 ec2_instance_stop(struct ec2_client *, const char *id);
int	 ec2_instance_start(struct ec2_client *, const char *id);

struct ec2_instance_status {
	char	id[32];
	char	state[16];
	char	az[32];
	char	instance_status[24];	/* ok|impaired|initializing|insufficient-data|not-applicable */
	char	system_status[24];
};

struct ec2_instance_status_list {
	struct ec2_instance_status	*v;
	size_t				 n;
};

void	 ec2_instance_status_list_dispose(struct ec2_instance_status_list *);

/* DescribeInstanceStatus (IncludeAllInstances=true) for ids. */
int	 ec2_instance_status_describe(struct ec2_instance_status_list *out,
	    struct ec2_client *, const char *const *ids, size_t nids);

/* DescribeInstanceAttribute disableApiTermination: *out 1 protected, 0 not. */
int	 ec2_instance_termination_protection(int *out, struct ec2_client *,
	    const char *id);

/*
 * GetConsoleOutput with Latest=true (the current output, not EC2's
 * buffered snapshot), base64-decoded.  *out (NUL-terminated, caller
 * frees) and *outlen; an instance without output yet gives "" and 0.
 */
int	 ec2_console_output_get(char **out, size_t *outlen, struct ec2_client *,
	    const char *id);

/* ---- images ---- */

struct ec2_image {
	char	id[32];
	char	name[256];
	char	owner_id[32];
	char	state[16];
	char	architecture[16];
	char	root_device_name[64];
	char	creation_date[40];	/* as sent */
	time_t	created;		/* creation_date parsed, 0 if unknown */
};

struct ec2_image_list {
	struct ec2_image	*v;
	size_t			 n;
};

void	 ec2_image_list_dispose(struct ec2_image_list *);

struct ec2_describe_images_input {
	const char *const	*owners;	/* "amazon", "099720109477" */
	size_t			 nowners;
	const char *const	*image_ids;
	size_t			 nimage_ids;
	const struct ec2_filter	*filters;	/* name, architecture, state */
	size_t			 nfilters;
};

/*
 * DescribeImages, every page (NextToken followed).  Choosing the newest
 * (by created) is the caller's job.
 */
int	 ec2_images_describe(struct ec2_image_list *out, struct ec2_client *,
	    const struct ec2_describe_images_input *in);

/* ---- instance types ---- */

#define EC2_ARCHS_MAX	4

struct ec2_instance_type {
	char	type[32];
	/* ProcessorInfo.SupportedArchitectures: "x86_64", "arm64", "i386"... */
	char	archs[EC2_ARCHS_MAX][16];
	size_t	narchs;
	unsigned vcpus;		/* VCpuInfo.DefaultVCpus; 0: not given */
};

/*
 * DescribeInstanceTypes of one type.  ERR_NOTFOUND when the answer does
 * not list it; EC2's InvalidInstanceType is ERR_INVALID.
 */
int	 ec2_instance_type_describe(struct ec2_instance_type *out,
	    struct ec2_client *, const char *type);

/* ---- security groups ---- */

/*
 * One ingress permission: protocol, port range, one CIDR.  A CIDR with a
 * ':' is IPv6 and goes out as Ipv6Ranges (CidrIpv6), any other as
 * IpRanges (CidrIp).
 */
struct ec2_ingress_rule {
	const char	*protocol;	/* "tcp", "udp", "icmp", "-1" */
	int		 from_port;
	int		 to_port;
	const char	*cidr;		/* "203.0.113.7/32" or "2001:db8::/64" */
	const char	*description;	/* may be NULL */
};

/* A rule as described (owned by its group); IPv4 and IPv6 ranges alike. */
struct ec2_sg_rule {
	char	protocol[8];
	int	from_port;
	int	to_port;
	char	cidr[64];		/* CidrIp or CidrIpv6, as EC2 spells it */
};

struct ec2_security_group {
	char			 id[32];
	char			 name[256];
	char			 description[256];
	char			 vpc_id[32];
	struct ec2_sg_rule	*ingress;	/* flattened: one per CIDR */
	size_t			 ningress;
	struct ec2_tag		*tags;
	size_t			 ntags;
};

struct ec2_security_group_list {
	struct ec2_security_group	*v;
	size_t				 n;
};

void	 ec2_security_group_list_dispose(struct ec2_security_group_list *);

/*
 * CreateSecurityGroup with tags (TagSpecification security-group).
 * vpc_id may be NULL (default VPC).  The new id is copied to id_out.
 * ERR_EXISTS for InvalidGroup.Duplicate.
 */
int	 ec2_security_group_create(char *id_out, size_t id_outsz,
	    struct ec2_client *, const char *name, const char *description,
	    const char *vpc_id, const struct ec2_kv *tags, size_t ntags);

/* DescribeSecurityGroups by ids and/or filters (both may be empty). */
int	 ec2_security_groups_describe(struct ec2_security_group_list *out,
	    struct ec2_client *, const char *const *ids, size_t nids,
	    const struct ec2_filter *filters, size_t nfilters);

/* DeleteSecurityGroup.  ERR_NOTFOUND when it does not exist. */
int	 ec2_security_group_delete(struct ec2_client *, const char *group_id);

/*
 * AuthorizeSecurityGroupIngress.  Idempotent: a rule that already
 * exists (InvalidPermission.Duplicate) is success; with several rules
 * the ones not yet present are still added.
 */
int	 ec2_security_group_ingress_authorize(struct ec2_client *,
	    const char *group_id, const struct ec2_ingress_rule *rules,
	    size_t nrules);

/*
 * RevokeSecurityGroupIngress.  Idempotent: a rule that is not there
 * (InvalidPermission.NotFound) is success.
 */
int	 ec2_security_group_ingress_revoke(struct ec2_client *,
	    const char *group_id, const struct ec2_ingress_rule *rules,
	    size_t nrules);

/* ---- subnets ---- */

struct ec2_subnet {
	char	id[32];
	char	vpc_id[32];
	char	az[32];
	char	az_id[32];		/* use1-az1: the same zone in every account */
	char	cidr[64];
};

struct ec2_subnet_list {
	struct ec2_subnet	*v;
	size_t			 n;
};

void	 ec2_subnet_list_dispose(struct ec2_subnet_list *);

/*
 * DescribeSubnets by ids (none: every subnet of the region).  An id that
 * does not exist (InvalidSubnetID.NotFound) is ERR_NOTFOUND.
 */
int	 ec2_subnets_describe(struct ec2_subnet_list *out, struct ec2_client *,
	    const char *const *ids, size_t nids);

/*
 * The default VPC's subnets (DescribeSubnets, default-for-az=true), one
 * per availability zone, sorted by zone; none when the region has no
 * default VPC.
 */
int	 ec2_subnets_default_describe(struct ec2_subnet_list *out,
	    struct ec2_client *);

/* ---- tags ---- */

/* CreateTags: set tags on every resource id. */
int	 ec2_tags_create(struct ec2_client *, const char *const *resource_ids,
	    size_t nids, const struct ec2_kv *tags, size_t ntags);

/* ---- key pairs ---- */

struct ec2_key_pair {
	char		 name[256];
	char		 id[32];
	char		 fingerprint[128];
	struct ec2_tag	*tags;		/* DescribeKeyPairs only; the list's */
	size_t		 ntags;
};

struct ec2_key_pair_list {
	struct ec2_key_pair	*v;
	size_t			 n;
};

void	 ec2_key_pair_list_dispose(struct ec2_key_pair_list *);

/*
 * ImportKeyPair of an OpenSSH public key line, with tags (TagSpecification
 * key-pair).  out (may be NULL) gets name, id and fingerprint.
 * ERR_EXISTS for InvalidKeyPair.Duplicate.
 */
int	 ec2_key_pair_import(struct ec2_key_pair *out, struct ec2_client *,
	    const char *name, const char *public_key,
	    const struct ec2_kv *tags, size_t ntags);

/* DeleteKeyPair.  Idempotent: a missing key pair is success. */
int	 ec2_key_pair_delete(struct ec2_client *, const char *name);

/* DescribeKeyPairs by names (none: all).  Missing names: ERR_NOTFOUND. */
int	 ec2_key_pairs_describe(struct ec2_key_pair_list *out,
	    struct ec2_client *, const char *const *names, size_t nnames);

/* ---- spot prices ---- */

struct ec2_spot_price {
	char	instance_type[32];
	char	az[32];
	char	product[64];
	char	price[32];		/* USD per hour, as sent: "0.012300" */
	char	timestamp[40];
	time_t	when;
};

struct ec2_spot_price_list {
	struct ec2_spot_price	*v;
	size_t			 n;
};

void	 ec2_spot_price_list_dispose(struct ec2_spot_price_list *);

/*
 * DescribeSpotPriceHistory for one instance type and product
 * ("Linux/UNIX" when NULL), newest first as EC2 returns them, at most
 * max_results (0: 100) entries, since start (0: EC2's default, now).
 */
int	 ec2_spot_price_history(struct ec2_spot_price_list *out,
	    struct ec2_client *, const char *instance_type, const char *product,
	    time_t start, int max_results);

/* ---- spot placement scores ---- */

struct ec2_placement_score {
	char	region[32];
	char	az_id[32];		/* "" unless single_az */
	int	score;			/* 1 (unlikely) .. 10 (very likely) */
};

struct ec2_placement_score_list {
	struct ec2_placement_score	*v;
	size_t				 n;
};

void	 ec2_placement_score_list_dispose(struct ec2_placement_score_list *);

/*
 * GetSpotPlacementScores: how likely a spot request for target_capacity
 * instances of any of the types would succeed, per region or (single_az)
 * per availability zone id, in the regions named.  One page (MaxResults
 * 1000): envctl asks about one region.  EC2 scores the set of types as a
 * whole; ask about one type to score that type.
 */
int	 ec2_spot_placement_scores(struct ec2_placement_score_list *out,
	    struct ec2_client *, const char *const *types, size_t ntypes,
	    const char *const *regions, size_t nregions, int single_az,
	    int target_capacity);

#endif
