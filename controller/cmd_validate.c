/*
 * cmd_validate.c - envctl validate [-o json] [-v] [--region R]
 *                  [--tag-prefix P] [DIR|FILE...]
 *
 * Checks specs without touching anything: every problem of every file on
 * stdout as "file:line:col: message", a one-line summary on stderr.  Exit
 * 0 when every spec is valid, 1 otherwise (also when a directory or file
 * cannot be read).  -v adds "ok <file> <name> <hash>" for valid files;
 * -o json prints one JSON document and nothing else on stdout.
 *
 * Its settings are the configuration's, as for every command (config.h):
 * with no argument the directory is the specs option, else ./specs; the
 * default region (it changes the hash of specs without spec.region) is
 * the region option, else $AWS_REGION, $AWS_DEFAULT_REGION, us-east-1
 * (ctl_region()); the reserved tag prefix is tag_prefix and ':'.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "config.h"
#include "ctl.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "spec.h"

struct vstate {
	int		 json;
	int		 verbose;
	size_t		 files, invalid, problems, errors;
	json_t		*jfiles;
	json_t		*jerrors;
};

static void
validate_usage(void)
{
	fprintf(stderr, "usage: envctl validate [-o text|json] [-v] [--region REGION] "
	    "[--tag-prefix PREFIX] [DIR|FILE...]\n");
}

/* A JSON string; a path that is not UTF-8 is shown with its bytes escaped. */
static json_t *
jstr(const char *s)
{
	json_t *j = json_string(s);
	char esc[1024];
	size_t o = 0;

	if (j != NULL)
		return j;
	for (; *s != '\0' && o + 5 < sizeof(esc); s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x80)
			esc[o++] = (char)c;
		else
			o += (size_t)snprintf(esc + o, sizeof(esc) - o, "\\x%02x", c);
	}
	esc[o] = '\0';
	return json_string(esc);
}

/*
 * A path fit for one output line: file names come from the spec repo, and
 * one with a newline must not be able to forge a diagnostic line.
 */
static const char *
safe_path(char *out, size_t outsz, const char *path)
{
	const unsigned char *p;

	for (p = (const unsigned char *)path; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return log_escape(out, outsz, path);
	return path;
}

static void
report_tree(struct vstate *st, const struct spec_tree *t)
{
	size_t i, j, n = spec_tree_count(t);
	char pbuf[1024];
	const char *path;

	for (i = 0; i < n; i++) {
		const struct spec_entry *e = spec_tree_entry(t, i);
		size_t nd = spec_entry_diag_count(e);
		json_t *jf, *jd;

		st->files++;
		if (!spec_entry_valid(e))
			st->invalid++;
		st->problems += nd;
		if (st->json) {
			jd = json_array();
			for (j = 0; j < nd; j++) {
				const struct spec_diag *d = spec_entry_diag(e, j);

				json_array_append_new(jd, json_pack("{s:I, s:I, s:o}",
				    "line", (json_int_t)d->line, "col", (json_int_t)d->col,
				    "message", jstr(d->message)));
			}
			jf = json_pack("{s:o, s:o, s:b, s:o, s:o}",
			    "file", jstr(spec_entry_path(e)), "name", jstr(spec_entry_name(e)),
			    "valid", spec_entry_valid(e),
			    "hash", spec_entry_valid(e) ?
			    json_string(spec_entry_hash(e)) : json_null(),
			    "diagnostics", jd);
			json_array_append_new(st->jfiles, jf);
			continue;
		}
		path = safe_path(pbuf, sizeof(pbuf), spec_entry_path(e));
		for (j = 0; j < nd; j++) {
			const struct spec_diag *d = spec_entry_diag(e, j);

			printf("%s:%u:%u: %s\n", path, d->line, d->col, d->message);
		}
		if (st->verbose && spec_entry_valid(e))
			printf("ok %s %s %s\n", path, spec_entry_name(e), spec_entry_hash(e));
	}
}

static void
load_error(struct vstate *st, const char *msg)
{
	st->errors++;
	if (st->json)
		json_array_append_new(st->jerrors, jstr(msg));
	cmd_error("validate", msg);
}

/* Validate each path: a directory as a tree, the files together. */
static void
validate_paths(struct vstate *st, const char *const *paths, int n,
    const struct spec_options *opts)
{
	struct spec_tree *t = NULL;
	const char **files;
	size_t nfiles = 0;
	struct stat sb;
	int i;

	files = xreallocarray(NULL, (size_t)n, sizeof(*files));
	for (i = 0; i < n; i++) {
		if (stat(paths[i], &sb) == 0 && S_ISDIR(sb.st_mode)) {
			if (spec_tree_load(&t, paths[i], opts) < 0)
				load_error(st, err_get());
			else
				report_tree(st, t);
			spec_tree_free(t);
			t = NULL;
		} else
			files[nfiles++] = paths[i];
	}
	if (nfiles > 0) {
		if (spec_tree_load_files(&t, files, nfiles, opts) < 0)
			load_error(st, err_get());
		else
			report_tree(st, t);
		spec_tree_free(t);
	}
	free(files);
}

/* The JSON document (-o json) and the summary line on stderr. */
static void
validate_report(struct vstate *st, int ok)
{
	json_t *doc;
	char *msg;

	if (st->json) {
		doc = json_pack("{s:b, s:I, s:I, s:o, s:o}", "valid", ok,
		    "files_checked", (json_int_t)st->files, "invalid",
		    (json_int_t)st->invalid, "files", st->jfiles, "errors",
		    st->jerrors);
		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
		fputc('\n', stdout);
		json_decref(doc);
	}
	fflush(stdout);
	if (st->errors != 0)
		return;
	if (st->invalid == 0)
		msg = xasprintf("%zu spec%s, all valid", st->files,
		    st->files == 1 ? "" : "s");
	else
		msg = xasprintf("%zu of %zu spec%s invalid (%zu problem%s)",
		    st->invalid, st->files, st->files == 1 ? "" : "s",
		    st->problems, st->problems == 1 ? "" : "s");
	fprintf(stderr, "envctl: validate: %s\n", msg);
	free(msg);
}

int
cmd_validate(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output",	required_argument,	NULL, 'o' },
		{ "verbose",	no_argument,		NULL, 'v' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config *cfg = NULL;
	struct spec_options opts;
	struct vstate st;
	const char *dflt;
	char prefix[CTL_SPEC_PREFIX_LEN];
	int ch, rc = EXIT_ERROR;

	memset(&st, 0, sizeof(st));
	/* --region, --tag-prefix, --specs and the others are the table's */
	if (ctl_config_load(&cfg, &argc, argv) < 0) {
		cmd_error("configuration", err_get());
		return EXIT_ERROR;
	}
	ctl_spec_options(&opts, prefix, cfg);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "o:vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			if (strcmp(optarg, "json") == 0)
				st.json = 1;
			else if (strcmp(optarg, "text") != 0) {
				cmd_error("validate", "-o takes text or json");
				goto out;
			}
			break;
		case 'v':
			st.verbose = 1;
			break;
		case 'h':
			validate_usage();
			rc = EXIT_OK;
			goto out;
		default:
			validate_usage();
			goto out;
		}
	}
	argc -= optind;
	argv += optind;
	if (st.json) {
		st.jfiles = json_array();
		st.jerrors = json_array();
	}
	dflt = *cfg->specs != '\0' ? cfg->specs : "specs";
	if (argc == 0)
		validate_paths(&st, &dflt, 1, &opts);
	else
		validate_paths(&st, (const char *const *)argv, argc, &opts);
	rc = st.invalid == 0 && st.errors == 0 ? EXIT_OK : EXIT_ERROR;
	validate_report(&st, rc == EXIT_OK);
out:
	config_free(cfg);
	return rc;
}
