/*
 * test_notify.c - sd_notify over $NOTIFY_SOCKET without libsystemd: a path
 * socket, an abstract one, no socket at all, bad values, WATCHDOG_USEC.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "err.h"
#include "notify.h"

/* A datagram socket bound at name (abstract when it starts with '@'). */
static int
bind_dgram(const char *name)
{
	struct sockaddr_un sa;
	size_t n = strlen(name);
	socklen_t len;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, name, n);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
	return fd;
}

static void
recv_equal(int fd, const char *want)
{
	char got[256];
	ssize_t n;

	n = recv(fd, got, sizeof(got) - 1, MSG_DONTWAIT);
	assert_true(n >= 0);
	got[n] = '\0';
	assert_string_equal(got, want);
}

static void
test_notify__path_socket(void **state)
{
	char dir[] = "/tmp/envctl-notify-XXXXXX", path[128];
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = bind_dgram(path);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(notify_send("READY=1\nSTATUS=pass 1 ok"), 0);
	recv_equal(fd, "READY=1\nSTATUS=pass 1 ok");
	assert_int_equal(notify_send("WATCHDOG=1"), 0);
	recv_equal(fd, "WATCHDOG=1");
	close(fd);
	unlink(path);
	rmdir(dir);
	/* The listener is gone: an error, never a crash or a block. */
	assert_true(notify_send("WATCHDOG=1") < 0);
	unsetenv("NOTIFY_SOCKET");
}

static void
test_notify__abstract_socket(void **state)
{
	char name[64];
	int fd;

	(void)state;
	snprintf(name, sizeof(name), "@envctl-test-notify-%d", (int)getpid());
	fd = bind_dgram(name);
	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(notify_send("STOPPING=1"), 0);
	recv_equal(fd, "STOPPING=1");
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}

static void
test_notify__unset_or_bad(void **state)
{
	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(notify_send("READY=1"), 0);	/* not under systemd */
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	assert_int_equal(notify_send("READY=1"), ERR_INVALID);
	assert_non_null(strstr(err_get(), "NOTIFY_SOCKET"));
	setenv("NOTIFY_SOCKET", "/tmp/"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1);
	assert_int_equal(notify_send("READY=1"), ERR_INVALID);
	unsetenv("NOTIFY_SOCKET");
}

static void
test_notify__watchdog_usec(void **state)
{
	char pid[32];

	(void)state;
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	assert_int_equal(notify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "30000000", 1);
	assert_int_equal(notify_watchdog_usec(), 30000000);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(notify_watchdog_usec(), 30000000);
	setenv("WATCHDOG_PID", "1", 1);			/* meant for another process */
	assert_int_equal(notify_watchdog_usec(), 0);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "30s", 1);		/* not a number */
	assert_int_equal(notify_watchdog_usec(), 0);
	unsetenv("WATCHDOG_USEC");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notify__path_socket),
		cmocka_unit_test(test_notify__abstract_socket),
		cmocka_unit_test(test_notify__unset_or_bad),
		cmocka_unit_test(test_notify__watchdog_usec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
