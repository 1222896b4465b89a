/*
 * audit.c - the "command" event of a person's command: who ran it, as
 * the operating system and AWS know them, and with which flags.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"
#include "ctl.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "store.h"
#include "sts.h"

void
audit_flags(char *out, size_t outsz, int argc, char **argv)
{
	size_t o = 0, len;
	int i;

	*out = '\0';
	for (i = 0; i < argc; i++) {
		if (argv[i][0] != '-')
			continue;
		len = strcspn(argv[i], "=");
		if (o + len + 2 > outsz)
			break;
		if (o > 0)
			out[o++] = ' ';
		memcpy(out + o, argv[i], len);
		o += len;
		out[o] = '\0';
	}
}

/* The OS user running us, by uid (the name when it has one). */
static void
audit_os_user(char *out, size_t outsz)
{
	struct passwd *pw = getpwuid(geteuid());

	if (pw != NULL && pw->pw_name != NULL)
		snprintf(out, outsz, "%s", pw->pw_name);
	else
		snprintf(out, outsz, "uid %u", (unsigned)geteuid());
}

void
audit_who(char *out, size_t outsz)
{
	const char *sudo = getenv("SUDO_USER");
	char user[128];

	audit_os_user(user, sizeof(user));
	if (sudo != NULL && *sudo != '\0')
		snprintf(out, outsz, "%s (sudo from %s)", user, sudo);
	else
		snprintf(out, outsz, "%s", user);
}

int
audit_command_record(struct store *st, struct ctl_aws *aws,
    const char *command, const char *flags)
{
	struct sts_identity id;
	const char *sudo = getenv("SUDO_USER");
	char user[128], esc[3][256];
	json_t *o;
	char *payload;
	int error;

	audit_os_user(user, sizeof(user));
	memset(&id, 0, sizeof(id));
	if (aws == NULL || sts_get_caller_identity(&id, aws->aws) < 0) {
		if (aws != NULL)
			log_warnx("command=%s: the AWS principal is not known: %s",
			    command, err_get());
		snprintf(id.arn, sizeof(id.arn), "unknown");
	}
	o = json_object();
	json_object_set_new(o, "command", json_string(command));
	json_object_set_new(o, "flags", json_string(flags));
	json_object_set_new(o, "os_user", json_string(user));
	if (sudo != NULL && *sudo != '\0')
		json_object_set_new(o, "sudo_user", json_string(sudo));
	json_object_set_new(o, "aws_principal", json_string(id.arn));
	if ((payload = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		fatalx("json_dumps: out of memory");
	json_decref(o);
	log_info("command=%s who=%s aws_principal=%s flags=\"%s\"", command,
	    log_escape(esc[0], sizeof(esc[0]), user),
	    log_escape(esc[1], sizeof(esc[1]), id.arn),
	    log_escape(esc[2], sizeof(esc[2]), flags));
	error = store_event_add(NULL, st, NULL, "command", payload,
	    strlen(payload));
	free(payload);
	return error;
}
