/*
 * s3.h - the S3 calls envctl needs: objects (put with server-side
 * encryption, bounded get, head, delete, list), bucket creation for
 * tests and first runs, and presigned GET/PUT URLs for instances.
 *
 * struct s3_client borrows a struct aws_client (aws.h); like it, it is
 * not thread-safe.  Addressing (virtual-hosted or path-style for custom
 * endpoints) is decided by the core's endpoint code.  Returns are 0 or
 * a negative ERR_* with the reason in err_get().
 */
#ifndef ENVCTL_S3_H
#define ENVCTL_S3_H

#include <stddef.h>
#include <time.h>

struct aws_client;
struct s3_client;

/* Longest presigned URL lifetime S3 accepts (7 days). */
#define S3_PRESIGN_MAX_EXPIRES	604800u

/* Room for a region name ("ap-southeast-2"), NUL included. */
#define S3_REGION_MAX	32

/*
 * A client over aws (borrowed, must outlive it).  Returns 0.  Whatever
 * aws's region, every request about a bucket (presigned URLs included)
 * is signed for and sent to the bucket's region (s3_bucket_region); a
 * 301 PermanentRedirect or 400 naming another region is followed once.
 */
int	 s3_client_new(struct s3_client **out, struct aws_client *aws);
void	 s3_client_free(struct s3_client *);

/*
 * The region bucket is in, into out (outsz >= S3_REGION_MAX): cached for
 * the whole process, else asked once (GetBucketLocation in the client's
 * region; the x-amz-bucket-region header of any answer, else the
 * LocationConstraint) and cached.  When S3 does not say, the client's
 * region, cached too (a redirect corrects it).  A negative ERR_* only
 * when S3 could not be asked (network, throttling).
 */
int	 s3_bucket_region(char *out, size_t outsz, struct s3_client *,
	    const char *bucket);
/* Cache region as bucket's (known from elsewhere; tests). */
void	 s3_bucket_region_remember(const char *bucket, const char *region);
/* Forget every cached bucket region (tests). */
void	 s3_bucket_regions_forget(void);

enum s3_sse {
	S3_SSE_NONE = 0,
	S3_SSE_AES256,		/* x-amz-server-side-encryption: AES256 */
	S3_SSE_KMS,		/* aws:kms, with kms_key_id if given */
};

struct s3_put_opts {
	enum s3_sse	 sse;
	const char	*kms_key_id;	/* S3_SSE_KMS only; NULL: the bucket's default key */
	const char	*content_type;	/* NULL: application/octet-stream */
	int		 secret;	/* body is key material: never logged */
};

/*
 * PutObject of len bytes at data (borrowed), payload signed (SHA-256).
 * opts may be NULL (no SSE).
 */
int	 s3_object_put(struct s3_client *, const char *bucket, const char *key,
	    const void *data, size_t len, const struct s3_put_opts *opts);

/*
 * GetObject, at most max bytes (ERR_LIMIT past it).  *out (NUL-terminated
 * for convenience, caller frees; with secret set, free it with
 * mem_wipe + free or mem_free_secret) and *outlen.  ERR_NOTFOUND for
 * NoSuchKey.  With secret, the response buffer is wiped when released.
 */
int	 s3_object_get(char **out, size_t *outlen, struct s3_client *,
	    const char *bucket, const char *key, size_t max, int secret);

struct s3_object_info {
	long long	size;
	char		etag[80];
	char		sse[32];		/* "AES256", "aws:kms" or "" */
	char		content_type[128];
	char		last_modified[64];	/* HTTP date as sent */
};

/* HeadObject.  ERR_NOTFOUND when the key does not exist. */
int	 s3_object_head(struct s3_object_info *out, struct s3_client *,
	    const char *bucket, const char *key);

/* DeleteObject.  Idempotent: a missing key is success. */
int	 s3_object_delete(struct s3_client *, const char *bucket, const char *key);

struct s3_object {
	char		*key;
	long long	 size;
	char		 etag[80];
	char		 last_modified[40];
};

struct s3_object_list {
	struct s3_object	*v;
	size_t			 n;
	char			*next_token;	/* NULL on the last page */
};

void	 s3_object_list_dispose(struct s3_object_list *);

/*
 * One ListObjectsV2 page of keys under prefix (NULL: all) from
 * continuation token (NULL: the start), at most max_keys (0: 1000).
 * out is overwritten (dispose before reuse).
 */
int	 s3_objects_list(struct s3_object_list *out, struct s3_client *,
	    const char *bucket, const char *prefix, const char *token,
	    int max_keys);

/*
 * CreateBucket in the client's region (LocationConstraint outside
 * us-east-1), the region then cached as the bucket's.  Idempotent: BucketAlreadyOwnedByYou is success;
 * BucketAlreadyExists (someone else's) is ERR_EXISTS.
 */
int	 s3_bucket_create(struct s3_client *, const char *bucket);

/*
 * A presigned URL for method ("GET" or "PUT") on bucket/key valid for
 * expires seconds (1..S3_PRESIGN_MAX_EXPIRES) from the client's clock.
 * Never signed with credentials that expire before the URL would: those
 * are fetched again first, and if the new ones expire sooner too, the
 * URL is shortened to their end (a warning says so; ERR_INVALID when
 * they last a minute or less).
 * The URL carries a signature: treat it as a secret (never log it).
 * *out is the caller's (free with mem_free_secret).
 */
int	 s3_url_presign(char **out, struct s3_client *, const char *method,
	    const char *bucket, const char *key, unsigned expires);

#endif
