/*
 * notify.h - the systemd notification protocol (sd_notify(3)) without
 * libsystemd: datagrams to $NOTIFY_SOCKET.
 */
#ifndef ENVCTL_NOTIFY_H
#define ENVCTL_NOTIFY_H

#include <stdint.h>

/*
 * Send state ("READY=1", "WATCHDOG=1", "STATUS=...", newline-separated
 * assignments) to $NOTIFY_SOCKET: a path, or an abstract socket when it
 * starts with '@'.  0 when sent or when NOTIFY_SOCKET is unset; negative
 * with err_get() when the socket is unusable.  Never blocks.
 */
int		 notify_send(const char *state);

/*
 * The watchdog interval systemd expects (WATCHDOG_USEC, when
 * WATCHDOG_PID is unset or this process), in microseconds; 0 when none.
 */
uint64_t	 notify_watchdog_usec(void);

#endif
