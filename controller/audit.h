/*
 * audit.h - who asked: the record a person's command leaves in the
 * audit trail (docs/design.md §5.1, "Audit trail").
 */
#ifndef ENVCTL_AUDIT_H
#define ENVCTL_AUDIT_H

struct ctl_aws;
struct store;

/*
 * The flags of argv (argc words) as one line: each word starting with
 * '-', cut at its '=', never a value (values may be secrets: a database
 * URL, a token).  Into out (outsz bytes, NUL-terminated).
 */
void	 audit_flags(char *out, size_t outsz, int argc, char **argv);

/*
 * Record a "command" event for command (e.g. "reconcile") with flags:
 * the OS user (and SUDO_USER when set), the AWS principal of aws (its
 * caller identity; "unknown" when STS does not answer) and the flags.
 * It carries the store's correlation id, like every event the command
 * makes after it.  Also logged.  0 or the store's error.
 */
/*
 * Who is asking, in words for an event: the OS user, with
 * " (sudo from X)" when SUDO_USER is set.
 */
void	 audit_who(char *out, size_t outsz);

int	 audit_command_record(struct store *, struct ctl_aws *aws,
	    const char *command, const char *flags);

#endif
