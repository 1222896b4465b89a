/*
 * hash.c - the canonical form of a spec and its SHA-256 hash.
 *
 * The canonical form (form version 1, docs/spec.md) is compact JSON of
 * the parsed spec with every default applied: object keys sorted
 * bytewise at every level, no whitespace, lists in their order, strings
 * escaped minimally (\" \\ \b \t \n \f \r, \u00XX for other control
 * characters, everything else as UTF-8 (as RFC 8785 and Python's
 * json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
 * write them), durations as whole seconds, absent optional values as
 * null.  The hash is "v1:" and the lowercase hex SHA-256 of those bytes.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "spec_int.h"

#define CANON_MAX	(4 * 1024 * 1024)

static int
put_str(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *p, *run;
	int error = 0;

	if (s == NULL)
		return buf_addstr(b, "null");
	error |= buf_addch(b, '"');
	for (p = run = s; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		char esc[6];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		error |= buf_add(b, run, (size_t)(p - run));
		if (c == '"' || c == '\\' || strchr("\b\t\n\f\r", c) != NULL) {
			esc[0] = '\\';
			esc[1] = c == '\b' ? 'b' : c == '\t' ? 't' : c == '\n' ? 'n' :
			    c == '\f' ? 'f' : c == '\r' ? 'r' : (char)c;
			error |= buf_add(b, esc, 2);
		} else {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			error |= buf_add(b, esc, 6);
		}
		run = p + 1;
	}
	error |= buf_add(b, run, (size_t)(p - run));
	error |= buf_addch(b, '"');
	return error ? ERR_LIMIT : 0;
}

static int
put_key(struct buf *b, const char *key, int first)
{
	int error = 0;

	if (!first)
		error |= buf_addch(b, ',');
	error |= put_str(b, key);
	error |= buf_addch(b, ':');
	return error ? ERR_LIMIT : 0;
}

static int
put_kv(struct buf *b, const struct spec_kv *kv, size_t n)
{
	size_t i;
	int error = buf_addch(b, '{');

	for (i = 0; i < n; i++) {
		error |= put_key(b, kv[i].key, i == 0);
		error |= put_str(b, kv[i].value);
	}
	error |= buf_addch(b, '}');
	return error ? ERR_LIMIT : 0;
}

static int
put_strs(struct buf *b, const char *const *v, size_t n)
{
	size_t i;
	int error = buf_addch(b, '[');

	for (i = 0; i < n; i++) {
		if (i > 0)
			error |= buf_addch(b, ',');
		error |= put_str(b, v[i]);
	}
	error |= buf_addch(b, ']');
	return error ? ERR_LIMIT : 0;
}

static int
put_cidrs(struct buf *b, const struct spec_cidr *v, size_t n)
{
	size_t i;
	int error = buf_addch(b, '[');

	for (i = 0; i < n; i++) {
		if (i > 0)
			error |= buf_addch(b, ',');
		error |= put_str(b, v[i].text);
	}
	error |= buf_addch(b, ']');
	return error ? ERR_LIMIT : 0;
}

static int
put_int(struct buf *b, long long v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	return buf_add(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

static int
put_access(struct buf *b, const struct spec *s)
{
	static const char *const protos[] = { "tcp", "udp" };
	static const char *const keytypes[] = { "ed25519", "rsa" };
	size_t i;
	int e = 0;

	e |= buf_addstr(b, "{\"ports\":[");
	for (i = 0; i < s->access.nports; i++) {
		const struct spec_port *p = &s->access.ports[i];

		if (i > 0)
			e |= buf_addch(b, ',');
		e |= buf_addstr(b, "{\"allow_from\":");
		e |= put_cidrs(b, p->allow_from, p->nallow);
		e |= buf_addstr(b, ",\"port\":");
		e |= put_int(b, p->port);
		e |= buf_addstr(b, ",\"protocol\":");
		e |= put_str(b, protos[p->protocol]);
		e |= buf_addch(b, '}');
	}
	e |= buf_addstr(b, "],\"ssh\":{\"allow_from\":");
	e |= put_cidrs(b, s->access.ssh.allow_from, s->access.ssh.nallow);
	e |= buf_addstr(b, s->access.ssh.allow_world ? ",\"allow_world\":true" :
	    ",\"allow_world\":false");
	e |= buf_addstr(b, ",\"key\":");
	switch (s->access.ssh.key) {
	case SPEC_KEY_AUTO:
		e |= put_str(b, "auto");
		break;
	case SPEC_KEY_NAME:
		e |= buf_addstr(b, "{\"name\":");
		e |= put_str(b, s->access.ssh.key_name);
		e |= buf_addch(b, '}');
		break;
	case SPEC_KEY_PUBLIC:
		e |= buf_addstr(b, "{\"public_key\":");
		e |= put_str(b, s->access.ssh.public_key);
		e |= buf_addch(b, '}');
		break;
	}
	e |= buf_addstr(b, ",\"key_type\":");
	e |= put_str(b, s->access.ssh.key == SPEC_KEY_AUTO ?
	    keytypes[s->access.ssh.key_type] : NULL);
	if (s->access.ssh.user != NULL) {	/* only when set: older hashes hold */
		e |= buf_addstr(b, ",\"user\":");
		e |= put_str(b, s->access.ssh.user);
	}
	e |= buf_addstr(b, "}}");
	return e ? ERR_LIMIT : 0;
}

static int
put_bootstrap(struct buf *b, const struct spec *s)
{
	size_t i;
	int e = 0;

	e |= buf_addstr(b, "{\"docker_image\":");
	e |= put_str(b, s->bootstrap.docker_image);
	e |= buf_addstr(b, ",\"environment\":");
	e |= put_kv(b, s->bootstrap.environment, s->bootstrap.nenvironment);
	e |= buf_addstr(b, ",\"repo\":");
	if (s->bootstrap.repo_url == NULL)
		e |= buf_addstr(b, "null");
	else {
		e |= buf_addstr(b, "{\"branch\":");
		e |= put_str(b, s->bootstrap.repo_branch);
		e |= buf_addstr(b, ",\"url\":");
		e |= put_str(b, s->bootstrap.repo_url);
		e |= buf_addch(b, '}');
	}
	e |= buf_addstr(b, ",\"secrets\":{");
	for (i = 0; i < s->bootstrap.nsecrets; i++) {
		e |= put_key(b, s->bootstrap.secrets[i].name, i == 0);
		e |= buf_addstr(b, "{\"");
		e |= buf_addstr(b, spec_secret_source_name(
		    s->bootstrap.secrets[i].source));
		e |= buf_addstr(b, "\":");
		e |= put_str(b, s->bootstrap.secrets[i].ref);
		e |= buf_addch(b, '}');
	}
	e |= buf_addstr(b, "},\"setup\":");
	e |= put_strs(b, s->bootstrap.setup, s->bootstrap.nsetup);
	e |= buf_addstr(b, ",\"system_packages\":");
	e |= put_strs(b, s->bootstrap.system_packages, s->bootstrap.npackages);
	e |= buf_addch(b, '}');
	return e ? ERR_LIMIT : 0;
}

static int
put_instance(struct buf *b, const struct spec *s)
{
	static const char *const markets[] = { "on-demand", "spot" };
	static const char *const fallbacks[] = { "on-demand", "none" };
	int e = 0;

	e |= buf_addstr(b, "{\"disk\":{\"size_gb\":");
	e |= put_int(b, s->instance.disk_size_gb);
	e |= buf_addstr(b, "},\"iam_instance_profile\":");
	e |= put_str(b, s->instance.iam_instance_profile);
	e |= buf_addstr(b, ",\"image\":");
	e |= put_str(b, s->instance.image);
	e |= buf_addstr(b, ",\"market\":");
	e |= put_str(b, markets[s->instance.market]);
	e |= buf_addstr(b, ",\"spot\":");
	if (s->instance.market != SPEC_MARKET_SPOT)
		e |= buf_addstr(b, "null");
	else {
		e |= buf_addstr(b, "{\"fallback\":");
		e |= put_str(b, fallbacks[s->instance.spot.fallback]);
		e |= buf_addstr(b, ",\"max_price\":");
		e |= put_str(b, s->instance.spot.max_price);
		e |= buf_addstr(b, ",\"timeout\":");
		e |= put_int(b, s->instance.spot.timeout_s);
		e |= buf_addch(b, '}');
	}
	e |= buf_addstr(b, ",\"subnets\":");
	e |= put_strs(b, s->instance.subnets, s->instance.nsubnets);
	e |= buf_addstr(b, ",\"type\":");
	e |= put_str(b, s->instance.type);
	/*
	 * A list of types only when there is more than one: a spec with one
	 * type hashes as it did before instance.types existed.  The hash is
	 * of the list, never of the type a launch chose: an instance of any
	 * listed type is not drift.
	 */
	if (s->instance.ntypes > 1) {
		e |= buf_addstr(b, ",\"types\":");
		e |= put_strs(b, s->instance.types, s->instance.ntypes);
	}
	e |= buf_addch(b, '}');
	return e ? ERR_LIMIT : 0;
}

int
spec_canonical(struct buf *b, const struct spec *s)
{
	static const char *const drift[] = { "replace", "report" };
	int e = 0;

	e |= buf_addstr(b, "{\"apiVersion\":");
	e |= put_str(b, s->api_version);
	e |= buf_addstr(b, ",\"kind\":");
	e |= put_str(b, s->kind);
	e |= buf_addstr(b, ",\"metadata\":{\"labels\":");
	e |= put_kv(b, s->labels, s->nlabels);
	e |= buf_addstr(b, ",\"name\":");
	e |= put_str(b, s->name);
	e |= buf_addstr(b, ",\"workspace\":");
	e |= put_str(b, s->workspace);
	e |= buf_addstr(b, "},\"spec\":{\"access\":");
	e |= put_access(b, s);
	e |= buf_addstr(b, ",\"bootstrap\":");
	e |= put_bootstrap(b, s);
	e |= buf_addstr(b, ",\"instance\":");
	e |= put_instance(b, s);
	e |= buf_addstr(b, ",\"lifecycle\":{");
	/*
	 * idle_stop and on_idle only when the spec sets them (above 0, not
	 * stop), so that the hash of every spec without them stays what it
	 * was; the fleet default applies to new launches only (§6.7).
	 */
	if (s->lifecycle.idle_stop_s > 0) {
		e |= buf_addstr(b, "\"idle_stop\":");
		e |= put_int(b, s->lifecycle.idle_stop_s);
		e |= buf_addch(b, ',');
	}
	e |= buf_addstr(b, "\"on_drift\":");
	e |= put_str(b, drift[s->lifecycle.on_drift]);
	if (s->lifecycle.on_idle != SPEC_IDLE_STOP)
		e |= buf_addstr(b, ",\"on_idle\":\"terminate\"");
	if (s->lifecycle.non_interruption > 0) {
		/* only when set: hashes of specs without it do not change */
		e |= buf_addstr(b, ",\"on_interruption\":");
		e |= put_strs(b, s->lifecycle.on_interruption,
		    s->lifecycle.non_interruption);
		e |= buf_addstr(b, ",\"on_interruption_timeout\":");
		e |= put_int(b, s->lifecycle.on_interruption_timeout_s);
	}
	e |= buf_addstr(b, ",\"ready_timeout\":");
	e |= put_int(b, s->lifecycle.ready_timeout_s);
	e |= buf_addstr(b, ",\"ttl\":");
	if (s->lifecycle.ttl_s > 0)
		e |= put_int(b, s->lifecycle.ttl_s);
	else
		e |= buf_addstr(b, "null");
	e |= buf_addstr(b, "},\"region\":");
	e |= put_str(b, s->region);
	e |= buf_addstr(b, ",\"tags\":");
	e |= put_kv(b, s->tags, s->ntags);
	e |= buf_addstr(b, "}}");
	if (e) {
		err_set("canonical form of spec is over %d bytes", CANON_MAX);
		return ERR_LIMIT;
	}
	return 0;
}

int
spec_hash(char out[SPEC_HASH_SIZE], const struct spec *s)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	struct buf b;
	int error = -1;

	out[0] = '\0';
	buf_init(&b, CANON_MAX);
	if ((error = spec_canonical(&b, s)) < 0)
		goto out;
	if (EVP_Digest(b.ptr, b.len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		err_set("SHA-256 failed");
		error = ERR_GENERIC;
		goto out;
	}
	memcpy(out, SPEC_HASH_PREFIX, 3);
	for (i = 0; i < 32; i++) {
		out[3 + 2 * i] = hex[md[i] >> 4];
		out[3 + 2 * i + 1] = hex[md[i] & 15];
	}
	out[SPEC_HASH_SIZE - 1] = '\0';
	error = 0;
out:
	buf_dispose(&b);
	return error;
}

int
spec_hash_form_version(const char *s)
{
	int v = 0;
	size_t i, digits = 0;

	if (s == NULL || s[0] != 'v')
		return -1;
	for (i = 1; s[i] >= '0' && s[i] <= '9' && digits < 6; i++, digits++)
		v = v * 10 + (s[i] - '0');
	if (digits == 0 || s[i] != ':' || s[1] == '0')
		return -1;
	if (strlen(s + i + 1) != 64 || strspn(s + i + 1, "0123456789abcdef") != 64)
		return -1;
	return v;
}

int
spec_hash_is_current(const char *s)
{
	return spec_hash_form_version(s) == SPEC_HASH_FORM_VERSION;
}
