/*
 * userdata_render - test tool: render a bootstrap script with
 * userdata_render() from a spec given field by field on the command line,
 * so a test can pass any bytes (hostile ones included) without a shell
 * or YAML in between.  Prints the script (or with --base64 its base64
 * form) on stdout; on error prints "userdata_render: <why>" and exits 1
 * (2 for ERR_LIMIT).  With --spec FILE (built when lib/spec is), the spec
 * is parsed from a YAML file by lib/spec instead, and only the launch
 * parameters come from the command line.  "userdata_render --parse-marker FILE" parses a
 * marker body with userdata_marker_parse() and prints its fields;
 * "--parse-interrupt FILE" an interrupted marker (userdata_interrupt_parse()).
 * --spot makes the spec a spot one (--interrupt-url, --on-interruption
 * CMD..., --on-interruption-timeout SECONDS).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "mem.h"
#include "spec.h"
#include "userdata.h"

#define MAXV	64

/* --parse-marker FILE: print "env_id status line exit_code nkeys", then "type fp" lines. */
static int
parse_marker(const char *path)
{
	struct userdata_marker *m = NULL;
	const char *type, *fp;
	char buf[USERDATA_MARKER_MAX + 1];
	size_t n, i;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		perror(path);
		return 1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (userdata_marker_parse(&m, buf, n) != 0) {
		fprintf(stderr, "userdata_render: %s\n", err_get());
		return 1;
	}
	printf("%s %s %ld %d %zu\n", userdata_marker_env_id(m),
	    userdata_marker_status(m) == USERDATA_STATUS_READY ? "ready" : "error",
	    userdata_marker_line(m), userdata_marker_exit_code(m),
	    userdata_marker_host_key_count(m));
	for (i = 0; i < userdata_marker_host_key_count(m); i++) {
		userdata_marker_host_key(m, i, &type, &fp);
		printf("%s %s\n", type, fp);
	}
	userdata_marker_free(m);
	return 0;
}

/* --parse-interrupt FILE: print "env_id kind action notice_time exit_code". */
static int
parse_interrupt(const char *path)
{
	struct userdata_interrupt in;
	char buf[USERDATA_MARKER_MAX + 1];
	size_t n;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		perror(path);
		return 1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (userdata_interrupt_parse(&in, buf, n) != 0) {
		fprintf(stderr, "userdata_render: %s\n", err_get());
		return 1;
	}
	printf("%s %s %s %s %d\n", in.env_id, userdata_interrupt_kind_name(in.kind),
	    in.action[0] != '\0' ? in.action : "-",
	    in.notice_time[0] != '\0' ? in.notice_time : "-", in.exit_code);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: userdata_render --name N --env-id ID --public-key LINE "
	    "--marker-url URL [--secrets-url URL] [--user U] [--image ALIAS] "
	    "[--docker-image I] [--repo URL] [--branch B] [--package P]... "
	    "[--setup CMD]... [--env K=V]... [--secret NAME]... [--idle-stop SECS] "
	    "[--on-idle stop|terminate] [--base64]\n");
	exit(1);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "env-id", required_argument, NULL, 'i' },
		{ "public-key", required_argument, NULL, 'k' },
		{ "marker-url", required_argument, NULL, 'm' },
		{ "secrets-url", required_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'u' },
		{ "image", required_argument, NULL, 'I' },
		{ "docker-image", required_argument, NULL, 'd' },
		{ "repo", required_argument, NULL, 'r' },
		{ "branch", required_argument, NULL, 'b' },
		{ "package", required_argument, NULL, 'p' },
		{ "setup", required_argument, NULL, 'c' },
		{ "env", required_argument, NULL, 'e' },
		{ "secret", required_argument, NULL, 'S' },
		{ "base64", no_argument, NULL, 'B' },
		{ "spec", required_argument, NULL, 'Y' },
		{ "idle-stop", required_argument, NULL, 'L' },
		{ "on-idle", required_argument, NULL, 'A' },
		{ "spot", no_argument, NULL, 'P' },
		{ "interrupt-url", required_argument, NULL, 'U' },
		{ "on-interruption", required_argument, NULL, 'O' },
		{ "on-interruption-timeout", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *packages[MAXV], *setup[MAXV], *onint[MAXV];
	static struct spec_kv env[MAXV];
	static struct spec_secret secrets[MAXV];
	struct spec spec;
	const struct spec *sp = &spec;
	struct userdata_params p;
	const char *spec_file = NULL;
	char *script = NULL, *b64 = NULL, *eq;
	long long idle_stop = 0;
	int c, want_b64 = 0, rc;

	if (argc == 3 && strcmp(argv[1], "--parse-marker") == 0)
		return parse_marker(argv[2]);
	if (argc == 3 && strcmp(argv[1], "--parse-interrupt") == 0)
		return parse_interrupt(argv[2]);
	memset(&spec, 0, sizeof(spec));
	memset(&p, 0, sizeof(p));
	spec.instance.image = "al2023";
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n': spec.name = optarg; break;
		case 'i': p.env_id = optarg; break;
		case 'k': p.public_key = optarg; break;
		case 'm': p.marker_url = optarg; break;
		case 's': p.secrets_url = optarg; break;
		case 'u': p.default_user = optarg; break;
		case 'I': spec.instance.image = optarg; break;
		case 'd': spec.bootstrap.docker_image = optarg; break;
		case 'r': spec.bootstrap.repo_url = optarg; break;
		case 'b': spec.bootstrap.repo_branch = optarg; break;
		case 'B': want_b64 = 1; break;
		case 'Y': spec_file = optarg; break;
		case 'L': idle_stop = strtoll(optarg, NULL, 10); break;
		case 'A':
			spec.lifecycle.on_idle = strcmp(optarg, "terminate") == 0 ?
			    SPEC_IDLE_TERMINATE : SPEC_IDLE_STOP;
			break;
		case 'P': spec.instance.market = SPEC_MARKET_SPOT; break;
		case 'U': p.interrupt_url = optarg; break;
		case 'T':
			spec.lifecycle.on_interruption_timeout_s = strtoll(optarg, NULL, 10);
			break;
		case 'O':
			if (spec.lifecycle.non_interruption == MAXV)
				usage();
			onint[spec.lifecycle.non_interruption++] = optarg;
			break;
		case 'p':
			if (spec.bootstrap.npackages == MAXV)
				usage();
			packages[spec.bootstrap.npackages++] = optarg;
			break;
		case 'c':
			if (spec.bootstrap.nsetup == MAXV)
				usage();
			setup[spec.bootstrap.nsetup++] = optarg;
			break;
		case 'e':
			if (spec.bootstrap.nenvironment == MAXV ||
			    (eq = strchr(optarg, '=')) == NULL)
				usage();
			*eq = '\0';
			env[spec.bootstrap.nenvironment].key = optarg;
			env[spec.bootstrap.nenvironment++].value = eq + 1;
			break;
		case 'S':
			if (spec.bootstrap.nsecrets == MAXV)
				usage();
			secrets[spec.bootstrap.nsecrets].name = optarg;
			secrets[spec.bootstrap.nsecrets++].ref = optarg;
			break;
		default:
			usage();
		}
	}
	if ((spec.name == NULL && spec_file == NULL) || optind != argc)
		usage();
	spec.bootstrap.system_packages = packages;
	spec.bootstrap.setup = setup;
	spec.lifecycle.on_interruption = onint;
	spec.bootstrap.environment = env;
	spec.bootstrap.secrets = secrets;

#ifdef HAVE_SPEC_PARSER
	struct spec_entry *entry = NULL;

	if (spec_file != NULL) {
		if (spec_entry_load(&entry, spec_file, NULL) != 0) {
			fprintf(stderr, "userdata_render: %s\n", err_get());
			return 1;
		}
		if (!spec_entry_valid(entry)) {
			for (size_t i = 0; i < spec_entry_diag_count(entry); i++)
				fprintf(stderr, "%s:%u:%u: %s\n", spec_file,
				    spec_entry_diag(entry, i)->line,
				    spec_entry_diag(entry, i)->col,
				    spec_entry_diag(entry, i)->message);
			spec_entry_free(entry);
			return 1;
		}
		sp = spec_entry_spec(entry);
		/* --idle-stop plays the fleet default for a spec file */
		idle_stop = spec_idle_stop_effective(sp->lifecycle.idle_stop_s,
		    sp->lifecycle.on_idle, sp->instance.market, idle_stop);
	}
#else
	if (spec_file != NULL) {
		fprintf(stderr, "userdata_render: built without lib/spec\n");
		return 1;
	}
#endif
	p.idle_stop_s = idle_stop;
	rc = userdata_render(&script, &b64, sp, &p);
#ifdef HAVE_SPEC_PARSER
	spec_entry_free(entry);
#endif
	if (rc != 0) {
		fprintf(stderr, "userdata_render: %s\n", err_get());
		return rc == ERR_LIMIT ? 2 : 1;
	}
	fputs(want_b64 ? b64 : script, stdout);
	if (want_b64)
		putchar('\n');
	free(script);
	free(b64);
	return fflush(stdout) == 0 ? 0 : 1;
}
