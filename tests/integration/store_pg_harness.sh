#!/bin/sh
# tests/harness/with-pg.sh: returns the command's status, always stops the
# server by pid and removes its dir, and two copies run side by side.
set -u
harness=${ENVCTL_SRC:?ENVCTL_SRC not set}/tests/harness
tmp=$(mktemp -d "${TMPDIR:-/tmp}/envctl-it-pg.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
n=0
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { n=$((n + 1)); echo "ok $n - $*"; }
alive() {	# pid: running (an unreaped zombie is not)
	kill -0 "$1" 2>/dev/null || return 1
	[ "$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null)" != Z ]
}
gone() {	# dir pid: both must be gone
	[ ! -e "$1" ] || fail "dir $1 left behind"
	! alive "$2" || fail "postgres $2 still running"
}

# the command's status comes back, and everything is cleaned up
"$harness/with-pg.sh" sh -c '
	echo "$ENVCTL_PG_DIR $ENVCTL_PG_PID $PGPORT" >"$1"
	psql -X -A -t -c "SELECT 1" | grep -qx 1 || exit 99
	psql -X -A -t "$ENVCTL_DATABASE_URL" -c "SHOW fsync" | grep -qx off || exit 98
	exit 7' sh "$tmp/a"
rc=$?
[ $rc -eq 7 ] || fail "status $rc, want 7"
read -r dir pid port <"$tmp/a"
gone "$dir" "$pid"
ok "status passed through, server $pid stopped, $dir removed"

# two at once: different dirs and ports, both clean up
"$harness/with-pg.sh" sh -c 'echo "$ENVCTL_PG_DIR $ENVCTL_PG_PID $PGPORT" >"$1"; sleep 2;
	psql -X -A -t -c "SELECT 1" >/dev/null' sh "$tmp/b" &
p1=$!
"$harness/with-pg.sh" sh -c 'echo "$ENVCTL_PG_DIR $ENVCTL_PG_PID $PGPORT" >"$1"; sleep 2;
	psql -X -A -t -c "SELECT 1" >/dev/null' sh "$tmp/c" &
p2=$!
wait $p1 || fail "first concurrent run failed"
wait $p2 || fail "second concurrent run failed"
read -r dir1 pid1 port1 <"$tmp/b"
read -r dir2 pid2 port2 <"$tmp/c"
[ "$dir1" != "$dir2" ] && [ "$port1" != "$port2" ] || fail "collision"
gone "$dir1" "$pid1"
gone "$dir2" "$pid2"
ok "two concurrent clusters ($port1, $port2), both cleaned up"

# TERM to with-pg.sh stops the command and the server at once
"$harness/with-pg.sh" sh -c 'echo "$ENVCTL_PG_DIR $ENVCTL_PG_PID $$" >"$1"; exec sleep 60' sh "$tmp/d" &
p=$!
i=0
while [ ! -s "$tmp/d" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
read -r dir pid sleeper <"$tmp/d" || fail "no cluster started"
kill -TERM $p
wait $p
rc=$?
[ $rc -eq 143 ] || fail "status after TERM $rc, want 143"
gone "$dir" "$pid"
! alive "$sleeper" || fail "the command survived TERM"
ok "TERM: command stopped, server stopped, dir removed"

# a with-pg.sh killed outright leaves a cluster; the next start reaps it
"$harness/with-pg.sh" sh -c 'echo "$ENVCTL_PG_DIR $ENVCTL_PG_PID $$" >"$1"; exec sleep 60' sh "$tmp/e" &
p=$!
i=0
while [ ! -s "$tmp/e" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
read -r dir pid sleeper <"$tmp/e" || fail "no cluster started"
kill -KILL $p
wait $p 2>/dev/null
kill -KILL "$sleeper" 2>/dev/null	# the command, by its pid
alive "$pid" || fail "postgres should have survived SIGKILL of its owner"
"$harness/with-pg.sh" true || fail "next run failed"
gone "$dir" "$pid"
ok "stale cluster of a killed owner reaped by the next start"

# the exit status of a failing command, and of a missing one
"$harness/with-pg.sh" false
[ $? -eq 1 ] || fail "false"
"$harness/with-pg.sh" /nonexistent/cmd 2>/dev/null
[ $? -eq 127 ] || fail "missing command"
ok "failing and missing commands"

# the command reads with-pg.sh's stdin
[ "$(echo piped-in | "$harness/with-pg.sh" cat)" = piped-in ] || fail "stdin lost"
ok "stdin reaches the command"
echo "all $n passed"
