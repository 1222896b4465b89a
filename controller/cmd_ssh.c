/*
 * cmd_ssh.c - envctl ssh NAME [-- COMMAND...] and envctl ssh-config
 * [NAME...]: a developer's connection to an environment (access.h).
 *
 * Both need AWS access (describe instances, read the environment's S3
 * prefix) and the specs; neither opens the database, except for
 * `envctl ssh --start NAME`, which first starts a stopped environment
 * and waits until it is ready again, as `envctl start` does (engine.h:
 * the database, the event with who asked), then logs in.
 *
 * ssh: the key and known_hosts go into a new 0700 directory under
 * $XDG_RUNTIME_DIR (or $TMPDIR, /tmp), ssh runs as a child, and the
 * directory is removed when it exits; the exit status is ssh's (1 when
 * envctl could not get that far, 255 when ssh refused the host key).
 *
 * ssh-config: the files go to the stable directory access_state_dir()
 * names, and one "Host envctl-<name>" block per environment is printed
 * for ~/.ssh/config to Include.  Without names: every spec; the
 * environments that cannot be reached are listed as comments and the
 * exit status is 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "audit.h"
#include "cmd.h"
#include "config.h"
#include "ctl.h"
#include "engine.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "spec.h"

#define SSH_START_WAIT	600	/* seconds --start waits for readiness */

/*
 * --start: start name if it is stopped and wait for it (engine_power_*);
 * un-park it if it is parked and wait for a pass to provision it.
 */
static int
ssh_start(const struct config *cfg, const char *name, const char *flags)
{
	struct engine_power ep;
	char cid[LOG_CID_LEN], who[256];
	int error;

	ctl_cid_begin(cid);
	if ((error = engine_power_open(&ep, cfg, name, cid)) < 0)
		return error;
	if (audit_command_record(ep.store, ep.aws, "ssh --start", flags) < 0)
		log_warnx("recording the command: %s", err_get());
	audit_who(who, sizeof(who));
	ep.who = who;
	error = engine_power_run(&ep, 1, SSH_START_WAIT);
	/* parked: un-parked now; a pass provisions it, then ssh goes on */
	if (error == 0 && ep.parked)
		error = engine_power_wait_ready(&ep, SSH_START_WAIT);
	engine_power_close(&ep);
	return error;
}

int
cmd_ssh(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct access_target *t = NULL;
	char *dir = NULL, *keypath = NULL, *khpath = NULL;
	const char *name;
	char flags[256];
	int status = EXIT_ERROR, rest, start = 0, i;

	if (ctl_config_load(&cfg, &argc, argv) < 0) {
		cmd_error("configuration", err_get());
		return EXIT_ERROR;
	}
	/* --start before the name only: what follows "--" is ssh's. */
	if (argc > 1 && strcmp(argv[1], "--start") == 0) {
		start = 1;
		for (i = 1; i + 1 < argc; i++)
			argv[i] = argv[i + 1];
		argv[--argc] = NULL;
	}
	if (argc < 2 || argv[1][0] == '-' || (argc > 2 &&
	    strcmp(argv[2], "--") != 0)) {
		fprintf(stderr, "usage: envctl ssh [--start] NAME "
		    "[-- COMMAND [ARG...]]\n");
		goto out;
	}
	name = argv[1];
	rest = argc > 2 ? 3 : argc;
	if (start) {
		snprintf(flags, sizeof(flags), "--start");
		if (ssh_start(cfg, name, flags) < 0) {
			cmd_error("ssh --start", err_get());
			goto out;
		}
	}
	if (access_target_find(&t, cfg, name) < 0) {
		cmd_error("ssh", err_get());
		goto out;
	}
	if (access_session_dir(&dir) < 0 ||
	    access_files_write(&keypath, &khpath, t, dir, "key") < 0) {
		cmd_error("ssh", err_get());
		goto out;
	}
	if (t->key == NULL)
		fprintf(stderr, "envctl: ssh %s: log in with %s (ssh's own -i "
		    "or agent)\n", name, t->key_pair);
	if (access_ssh_run(&status, cfg, t, keypath, khpath, argv + rest,
	    argc - rest) < 0)
		cmd_error(name, err_get());
out:
	if (dir != NULL)
		access_session_remove(dir, keypath, khpath);
	free(dir);
	free(keypath);
	free(khpath);
	access_target_free(t);
	config_free(cfg);
	return status;
}

/* One Host block for t, its files written to dir. */
static int
config_block(const struct access_target *t, const char *dir)
{
	char *keypath = NULL, *khpath = NULL;
	int error;

	if ((error = access_files_write(&keypath, &khpath, t, dir, t->name)) < 0)
		return error;
	printf("Host %s\n", t->alias);
	printf("\tHostName %s\n", t->host);
	printf("\tUser %s\n", t->user);
	if (t->port != 22)
		printf("\tPort %d\n", t->port);
	if (keypath != NULL) {
		printf("\tIdentityFile %s\n", keypath);
		printf("\tIdentitiesOnly yes\n");
	} else
		printf("\t# IdentityFile: yours, for %s\n", t->key_pair);
	printf("\tHostKeyAlias %s\n", t->alias);
	printf("\tUserKnownHostsFile %s\n", khpath);
	printf("\tStrictHostKeyChecking yes\n");
	printf("\tUpdateHostKeys no\n");
	printf("\tCheckHostIP no\n\n");
	free(keypath);
	free(khpath);
	return 0;
}

int
cmd_ssh_config(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct spec_tree *tree = NULL;
	struct access_target *t = NULL;
	char **names = NULL, *dir = NULL, *rev = NULL;
	size_t n = 0, i;
	int code = EXIT_ERROR, failed = 0;

	if (ctl_config_load(&cfg, &argc, argv) < 0) {
		cmd_error("configuration", err_get());
		return EXIT_ERROR;
	}
	for (i = 1; i < (size_t)argc; i++)
		if (argv[i][0] == '-') {
			fprintf(stderr, "usage: envctl ssh-config [NAME...]\n");
			goto out;
		}
	if (argc > 1) {
		n = (size_t)argc - 1;
		names = xcalloc(n, sizeof(*names));
		for (i = 0; i < n; i++)
			names[i] = xstrdup(argv[i + 1]);
	} else {
		if (ctl_specs_load(&tree, &rev, cfg) < 0) {
			cmd_error("ssh-config", err_get());
			goto out;
		}
		names = xcalloc(spec_tree_count(tree) + 1, sizeof(*names));
		for (i = 0; i < spec_tree_count(tree); i++)
			if (spec_entry_valid(spec_tree_entry(tree, i)))
				names[n++] = xstrdup(spec_entry_name(
				    spec_tree_entry(tree, i)));
	}
	if (access_state_dir(&dir) < 0) {
		cmd_error("ssh-config", err_get());
		goto out;
	}
	printf("# envctl ssh-config: Include this file from ~/.ssh/config; its "
	    "keys and known_hosts are in %s\n\n", dir);
	for (i = 0; i < n; i++) {
		if (access_target_find(&t, cfg, names[i]) < 0 ||
		    config_block(t, dir) < 0) {
			printf("# %s: not reachable now\n\n", names[i]);
			cmd_error("ssh-config", err_get());
			failed = 1;
		}
		access_target_free(t);
		t = NULL;
	}
	code = failed ? EXIT_ERROR : EXIT_OK;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(dir);
	free(rev);
	spec_tree_free(tree);
	config_free(cfg);
	return code;
}
