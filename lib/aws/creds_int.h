/*
 * creds_int.h - pieces of the credentials chain shared by creds.c, ini.c,
 * imds.c and the unit tests.  Not for use outside lib/aws.
 */
#ifndef ENVCTL_CREDS_INT_H
#define ENVCTL_CREDS_INT_H

#include <time.h>

struct aws_creds;
struct ini;

#define INI_MAX_FILE	(1024 * 1024)

/*
 * Parse the shared config/credentials file at path (INI as the AWS CLI
 * reads it: "[section]", "key = value", '#' and ';' comments, indented
 * sub-property lines ignored).  Section names are trimmed with inner
 * whitespace collapsed ("[profile  dev]" is "profile dev"); keys are
 * lower-cased.  Returns 0, ERR_NOTFOUND when the file does not exist
 * (*out NULL), ERR_INVALID with "path:line: why" for a malformed line
 * (the line's text is never quoted: it may hold a secret).  Values are
 * wiped when freed.
 */
int	 ini_load(struct ini **out, const char *path);
/* Parse text (len bytes) the same way; name is used in messages. */
int	 ini_parse(struct ini **out, const char *name, const char *text, size_t len);
void	 ini_free(struct ini *);
/* 1 if the section exists (even empty). */
int	 ini_has_section(const struct ini *, const char *section);
/* The value of key in section, or NULL; belongs to the ini. */
const char *ini_get(const struct ini *, const char *section, const char *key);

/*
 * IMDSv2: PUT {endpoint}/latest/api/token, then the role name and the
 * role's credentials.  Every request has timeout_ms.  Returns 0 with
 * *out (source "imds"), ERR_UNAVAILABLE when there is no usable IMDS
 * (refused, timed out, non-200 token answer: fall through), ERR_NOTFOUND
 * when it answers but has no role, ERR_INVALID for a malformed answer.
 */
int	 imds_creds_fetch(struct aws_creds **out, const char *endpoint,
	    long timeout_ms);

/* "2026-11-23T21:00:00Z" (fractions and "+00:00" accepted) -> UTC seconds. */
int	 creds_parse_iso8601(time_t *out, const char *s);

#endif
