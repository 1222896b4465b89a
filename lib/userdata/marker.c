/*
 * marker.c - parse the JSON marker the bootstrap script PUTs (jansson).
 *
 * The body comes from an instance, so it is untrusted: size-capped,
 * duplicate keys refused, every field type- and syntax-checked, and
 * nothing of it quoted in error messages.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "base64.h"
#include "err.h"
#include "mem.h"
#include "userdata.h"

#define HOST_KEYS_MAX	16
#define ENV_ID_MAX	64
#define KEY_LINE_MAX	8300	/* "ssh-rsa " and an RSA-16384 blob */

struct host_key {
	char	*type;
	char	*fingerprint;
	char	*key;		/* "ssh-ed25519 AAAA...", or NULL (older markers) */
};

struct userdata_marker {
	char			*env_id;
	enum userdata_status	 status;
	long			 line;
	int			 exit_code;
	size_t			 nkeys;
	struct host_key		 keys[HOST_KEYS_MAX];
};

static int
chars_ok(const char *s, size_t min, size_t max, const char *set)
{
	size_t n = strlen(s);

	return n >= min && n <= max && strspn(s, set) == n;
}

#define ALNUM	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/* "SHA256:" and 43 characters of unpadded base64. */
static int
fingerprint_ok(const char *s)
{
	return strncmp(s, "SHA256:", 7) == 0 && chars_ok(s + 7, 43, 43, ALNUM "+/");
}

static int
get_int(json_t *root, const char *key, long long min, long long max,
    long long *out)
{
	json_t *v = json_object_get(root, key);

	if (v == NULL) {
		*out = 0;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		err_set("bootstrap marker: \"%s\" is not an integer in range", key);
		return ERR_INVALID;
	}
	*out = json_integer_value(v);
	return 0;
}

/*
 * line is "<type> <base64 blob>": the blob is an OpenSSH public key of
 * that type whose SHA-256, unpadded base64, is fingerprint's.
 */
static int
key_matches(const char *line, const char *fingerprint)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	const char *sp = strchr(line, ' ');
	uint8_t *blob = NULL;
	size_t tlen, blen, flen;
	char *fp = NULL;
	int ok = 0;

	if (sp == NULL || strlen(line) > KEY_LINE_MAX)
		return 0;
	tlen = (size_t)(sp - line);
	if (!chars_ok(sp + 1, 1, KEY_LINE_MAX, ALNUM "+/=") || tlen < 1 ||
	    tlen > 64 || strspn(line, "abcdefghijklmnopqrstuvwxyz0123456789@.-") !=
	    tlen)
		return 0;
	if (base64_decode(&blob, &blen, sp + 1, strlen(sp + 1), BASE64_STRICT) < 0)
		return 0;
	/* The blob starts with its own type name: uint32 length, then the name. */
	if (blen < 4 + tlen || ((size_t)blob[0] << 24 | (size_t)blob[1] << 16 |
	    (size_t)blob[2] << 8 | blob[3]) != tlen || memcmp(blob + 4, line, tlen) != 0)
		goto out;
	SHA256(blob, blen, md);
	fp = base64_encode(md, sizeof(md), &flen);
	while (flen > 0 && fp[flen - 1] == '=')
		fp[--flen] = '\0';
	ok = strcmp(fp, fingerprint + 7) == 0;
out:
	free(blob);
	free(fp);
	return ok;
}

static int
parse_keys(struct userdata_marker *m, json_t *arr)
{
	json_t *k, *t, *fp, *key;
	size_t i;

	if (!json_is_array(arr)) {
		err_set("bootstrap marker: \"host_keys\" is missing or not an array");
		return ERR_INVALID;
	}
	if (json_array_size(arr) > HOST_KEYS_MAX) {
		err_set("bootstrap marker: more than %d host keys", HOST_KEYS_MAX);
		return ERR_INVALID;
	}
	json_array_foreach(arr, i, k) {
		t = json_object_get(k, "type");
		fp = json_object_get(k, "fingerprint");
		if (!json_is_object(k) || !json_is_string(t) || !json_is_string(fp) ||
		    !chars_ok(json_string_value(t), 1, 16, ALNUM "-") ||
		    !fingerprint_ok(json_string_value(fp))) {
			err_set("bootstrap marker: host key %zu is malformed", i + 1);
			return ERR_INVALID;
		}
		key = json_object_get(k, "key");
		if (key != NULL && (!json_is_string(key) ||
		    !key_matches(json_string_value(key), json_string_value(fp)))) {
			err_set("bootstrap marker: host key %zu is not a public "
			    "key with its stated fingerprint", i + 1);
			return ERR_INVALID;
		}
		m->keys[m->nkeys].type = xstrdup(json_string_value(t));
		m->keys[m->nkeys].fingerprint = xstrdup(json_string_value(fp));
		if (key != NULL)
			m->keys[m->nkeys].key = xstrdup(json_string_value(key));
		m->nkeys++;
	}
	return 0;
}

int
userdata_marker_parse(struct userdata_marker **out, const char *json, size_t len)
{
	struct userdata_marker *m = NULL;
	json_error_t jerr;
	json_t *root = NULL, *v;
	const char *s;
	long long n;
	int error = ERR_INVALID;

	*out = NULL;
	if (len > USERDATA_MARKER_MAX) {
		err_set("bootstrap marker is over %d bytes", USERDATA_MARKER_MAX);
		error = ERR_LIMIT;
		goto out;
	}
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		err_set("bootstrap marker is not valid JSON (line %d column %d)",
		    jerr.line, jerr.column);
		goto out;
	}
	if (!json_is_object(root)) {
		err_set("bootstrap marker is not a JSON object");
		goto out;
	}
	v = json_object_get(root, "version");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		err_set("bootstrap marker: \"version\" is missing or not 1");
		goto out;
	}
	m = xcalloc(1, sizeof(*m));
	v = json_object_get(root, "env_id");
	if (!json_is_string(v) || !chars_ok(json_string_value(v), 1, ENV_ID_MAX,
	    ALNUM "-")) {
		err_set("bootstrap marker: \"env_id\" is missing or malformed");
		goto out;
	}
	m->env_id = xstrdup(json_string_value(v));
	v = json_object_get(root, "status");
	s = json_is_string(v) ? json_string_value(v) : "";
	if (strcmp(s, "ready") == 0)
		m->status = USERDATA_STATUS_READY;
	else if (strcmp(s, "error") == 0)
		m->status = USERDATA_STATUS_ERROR;
	else {
		err_set("bootstrap marker: \"status\" is missing or not ready/error");
		goto out;
	}
	if ((error = get_int(root, "line", 0, 1000000, &n)) != 0)
		goto out;
	m->line = (long)n;
	if ((error = get_int(root, "exit_code", 0, 255, &n)) != 0)
		goto out;
	m->exit_code = (int)n;
	if ((error = parse_keys(m, json_object_get(root, "host_keys"))) != 0)
		goto out;
	*out = m;
	m = NULL;
	error = 0;
out:
	json_decref(root);
	userdata_marker_free(m);
	return error;
}

void
userdata_marker_free(struct userdata_marker *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nkeys; i++) {
		free(m->keys[i].type);
		free(m->keys[i].fingerprint);
		free(m->keys[i].key);
	}
	free(m->env_id);
	free(m);
}

const char *
userdata_marker_env_id(const struct userdata_marker *m)
{
	return m->env_id;
}

enum userdata_status
userdata_marker_status(const struct userdata_marker *m)
{
	return m->status;
}

long
userdata_marker_line(const struct userdata_marker *m)
{
	return m->line;
}

int
userdata_marker_exit_code(const struct userdata_marker *m)
{
	return m->exit_code;
}

size_t
userdata_marker_host_key_count(const struct userdata_marker *m)
{
	return m->nkeys;
}

void
userdata_marker_host_key(const struct userdata_marker *m, size_t i,
    const char **type, const char **fingerprint)
{
	*type = m->keys[i].type;
	*fingerprint = m->keys[i].fingerprint;
}

int
userdata_marker_has_fingerprint(const struct userdata_marker *m,
    const char *fingerprint)
{
	size_t i;

	for (i = 0; i < m->nkeys; i++)
		if (strcmp(m->keys[i].fingerprint, fingerprint) == 0)
			return 1;
	return 0;
}

const char *
userdata_marker_host_key_line(const struct userdata_marker *m, size_t i)
{
	return m->keys[i].key;
}

const char *
userdata_interrupt_kind_name(enum userdata_interrupt_kind kind)
{
	return kind == USERDATA_INTERRUPT_REBALANCE ? "rebalance" : "interruption";
}

/* A string field that is absent or "" gives ""; else chars_ok() within max. */
static int
get_opt_str(json_t *root, const char *key, char *out, size_t outsz,
    const char *set)
{
	json_t *v = json_object_get(root, key);

	out[0] = '\0';
	if (v == NULL)
		return 0;
	if (!json_is_string(v) || !chars_ok(json_string_value(v), 0, outsz - 1,
	    set)) {
		err_set("interrupted marker: \"%s\" is malformed", key);
		return ERR_INVALID;
	}
	memcpy(out, json_string_value(v), strlen(json_string_value(v)) + 1);
	return 0;
}

int
userdata_interrupt_parse(struct userdata_interrupt *out, const char *json,
    size_t len)
{
	json_error_t jerr;
	json_t *root = NULL, *v;
	const char *s;
	long long n;
	int error = ERR_INVALID;

	memset(out, 0, sizeof(*out));
	if (len > USERDATA_MARKER_MAX) {
		err_set("interrupted marker is over %d bytes", USERDATA_MARKER_MAX);
		return ERR_LIMIT;
	}
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root)) {
		err_set("interrupted marker is not a JSON object");
		goto out;
	}
	v = json_object_get(root, "version");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		err_set("interrupted marker: \"version\" is missing or not 1");
		goto out;
	}
	v = json_object_get(root, "status");
	if (!json_is_string(v) || strcmp(json_string_value(v), "interrupted") != 0) {
		err_set("interrupted marker: \"status\" is not interrupted");
		goto out;
	}
	v = json_object_get(root, "env_id");
	if (!json_is_string(v) || !chars_ok(json_string_value(v), 1, ENV_ID_MAX,
	    ALNUM "-")) {
		err_set("interrupted marker: \"env_id\" is missing or malformed");
		goto out;
	}
	memcpy(out->env_id, json_string_value(v), strlen(json_string_value(v)) + 1);
	v = json_object_get(root, "kind");
	s = json_is_string(v) ? json_string_value(v) : "";
	if (strcmp(s, "interruption") == 0)
		out->kind = USERDATA_INTERRUPT_INTERRUPTION;
	else if (strcmp(s, "rebalance") == 0)
		out->kind = USERDATA_INTERRUPT_REBALANCE;
	else {
		err_set("interrupted marker: \"kind\" is not interruption/rebalance");
		goto out;
	}
	if ((error = get_opt_str(root, "action", out->action, sizeof(out->action),
	    "abcdefghijklmnopqrstuvwxyz")) != 0 ||
	    (error = get_opt_str(root, "notice_time", out->notice_time,
	    sizeof(out->notice_time), ALNUM ":.+-")) != 0)
		goto out;
	if (out->action[0] != '\0' && strcmp(out->action, "terminate") != 0 &&
	    strcmp(out->action, "stop") != 0 && strcmp(out->action, "hibernate") != 0) {
		err_set("interrupted marker: \"action\" is not terminate/stop/hibernate");
		error = ERR_INVALID;
		goto out;
	}
	if ((error = get_int(root, "exit_code", 0, 255, &n)) != 0)
		goto out;
	out->exit_code = (int)n;
	error = 0;
out:
	json_decref(root);
	if (error != 0)
		memset(out, 0, sizeof(*out));
	return error;
}
