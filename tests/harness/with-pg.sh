#!/bin/sh
# with-pg.sh COMMAND [ARG...] - run COMMAND against a throwaway PostgreSQL.
#
# Starts a cluster with pg.sh (own temp dir, own port), exports PGHOST,
# PGPORT, PGUSER, PGDATABASE and ENVCTL_DATABASE_URL (postgresql:// URI on
# 127.0.0.1), plus ENVCTL_PG_DIR and ENVCTL_PG_PID, runs COMMAND, then
# always stops the server by its pid and removes the dir (pass or fail).
# The exit status is COMMAND's.
set -u

if [ $# -eq 0 ]; then
	echo "usage: with-pg.sh command [arg...]" >&2
	exit 64
fi

here=$(cd "$(dirname "$0")" && pwd)
pgdir=
child=

cleanup() {
	[ -n "$pgdir" ] && "$here/pg.sh" stop "$pgdir"
}
# On INT/TERM: stop COMMAND (TERM: asynchronous commands ignore INT), then
# the EXIT trap stops the server.
on_signal() {
	[ -n "$child" ] && kill -TERM "$child" 2>/dev/null && wait "$child"
	exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# Clusters whose with-pg.sh died without cleaning up (SIGKILL, e.g. a
# ctest timeout) are reaped by the next start: pg.sh knows our pid.
ENVCTL_PG_OWNER=$$
export ENVCTL_PG_OWNER
out=$("$here/pg.sh" start) || exit 1
eval "$out"
pgdir=$ENVCTL_PG_DIR
unset ENVCTL_PG_OWNER

# In the background so that a signal is handled at once.  An asynchronous
# command's stdin would be /dev/null: hand it ours through fd 3.
exec 3<&0
"$@" <&3 3<&- &
child=$!
exec 3<&-
wait "$child"
status=$?
child=
exit $status
