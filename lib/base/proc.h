/*
 * proc.h - process-wide hardening, once at start-up.
 */
#ifndef ENVCTL_PROC_H
#define ENVCTL_PROC_H

/*
 * Keep the secrets this process holds (AWS keys, the database password,
 * private keys) out of core files and away from other processes of the
 * same user: RLIMIT_CORE 0, soft and hard, and PR_SET_DUMPABLE 0, which
 * also stops a raised limit from bringing cores back, refuses ptrace
 * attach and makes /proc/PID/{environ,mem,maps,fd} root's.  Both steps are
 * always tried; returns 0, or ERR_GENERIC with a message when one failed.
 * An RLIMIT_CORE already 0 (LimitCORE=0) is left alone, so no setrlimit
 * call is made where a seccomp filter may forbid it.
 */
int	 proc_harden(void);

#endif
