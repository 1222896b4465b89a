#!/bin/sh
# pg.sh - a throwaway PostgreSQL cluster for tests.
#
#   pg.sh start        make a cluster in a new temp dir, start it, create
#                      database envctl_test, print shell "export" lines for
#                      PGHOST PGPORT PGUSER PGDATABASE ENVCTL_DATABASE_URL
#                      ENVCTL_PG_DIR ENVCTL_PG_PID on stdout (eval them);
#                      with ENVCTL_PG_OWNER=PID the cluster is reaped by a
#                      later start once that process is gone
#   pg.sh stop DIR     stop the server of DIR by its pid, remove DIR
#
# DIR is made under $ENVCTL_PG_TMPDIR, else /dev/shm, else $TMPDIR; the
# data dir is a copy of a template made by initdb once (kept beside it).
# The server listens on a unix socket in DIR and on 127.0.0.1 at a free
# port, with trust auth, fsync off.  initdb refuses root, so as root the
# cluster belongs to the unprivileged system user envctl-test (created if
# missing).  Each start has its own dir and port, so concurrent runs do not
# collide.  Logs stay in DIR; ENVCTL_KEEP_PG=1 keeps DIR after stop.
set -u

PG_USER_SYS=envctl-test
DBNAME=envctl_test

die() {
	echo "pg.sh: $*" >&2
	exit 1
}

pg_bindir() {
	if [ -n "${ENVCTL_PG_BINDIR:-}" ]; then
		echo "$ENVCTL_PG_BINDIR"
		return
	fi
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$d" ] && [ -x "$d/initdb" ]; then
		echo "$d"
		return
	fi
	d=$(command -v initdb 2>/dev/null) || die "initdb not found (install postgresql)"
	dirname "$d"
}

# A port free right now (another process may take it before postgres
# binds it: the caller retries), or a random one without python3.
free_port() {
	"${PYTHON:-python3}" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null ||
		echo $((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
}

# Create the unprivileged user once (a concurrent creator may win the
# race); where that is impossible, fall back to nobody.
ensure_user() {
	id -u "$PG_USER_SYS" >/dev/null 2>&1 && return 0
	useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin "$PG_USER_SYS" >/dev/null 2>&1
	id -u "$PG_USER_SYS" >/dev/null 2>&1 && return 0
	PG_USER_SYS=nobody
	id -u "$PG_USER_SYS" >/dev/null 2>&1 || die "no unprivileged user to run postgres"
}

# The pid of DIR's postmaster if it is alive and really ours, else nothing.
server_pid() {
	dir=$1
	pidfile="$dir/pid"
	# Before start finished, only postgres's own file knows it.
	[ -f "$pidfile" ] || pidfile="$dir/data/postmaster.pid"
	[ -f "$pidfile" ] || return 0
	pid=$(head -n 1 "$pidfile")
	case $pid in ''|*[!0-9]*) return 0 ;; esac
	kill -0 "$pid" 2>/dev/null || return 0
	# A recycled pid is not ours: the command line names our data dir.
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir/data" || return 0
	echo "$pid"
}

# A process that exited but is not reaped yet (a zombie: the daemonized
# postmaster's parent is init, which may reap late) counts as gone.
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	state=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null)
	[ "$state" != Z ]
}

do_stop() {
	dir=$1
	case $dir in
	*/envctl-pg.*) ;;
	*) die "refusing to stop/remove '$dir' (not a pg.sh dir)" ;;
	esac
	[ -f "$dir/.envctl-pg" ] || die "refusing to remove '$dir' (no marker)"
	pid=$(server_pid "$dir")
	if [ -n "$pid" ]; then
		# The data is thrown away, so immediate shutdown (no checkpoint)
		# unless it is kept for a look afterwards.
		if [ "${ENVCTL_KEEP_PG:-0}" = 1 ]; then
			kill -INT "$pid" 2>/dev/null	# fast shutdown
		else
			kill -QUIT "$pid" 2>/dev/null	# immediate shutdown
		fi
		i=0
		while alive "$pid" && [ $i -lt 200 ]; do
			sleep 0.05
			i=$((i + 1))
		done
		if alive "$pid"; then
			kill -QUIT "$pid" 2>/dev/null	# immediate shutdown
			sleep 0.5
			kill -KILL "$pid" 2>/dev/null
		fi
	fi
	if [ "${ENVCTL_KEEP_PG:-0}" = 1 ]; then
		echo "pg.sh: kept $dir" >&2
	else
		rm -rf "$dir"
	fi
}

# Where clusters live: $ENVCTL_PG_TMPDIR, else /dev/shm (memory: initdb
# and start are several times faster than on a busy disk), else $TMPDIR.
base_dir() {
	if [ -n "${ENVCTL_PG_TMPDIR:-}" ]; then
		echo "$ENVCTL_PG_TMPDIR"
	elif [ -d /dev/shm ] && [ -w /dev/shm ]; then
		echo /dev/shm
	else
		echo "${TMPDIR:-/tmp}"
	fi
}

# An initdb'd data dir kept as a template (one per PostgreSQL version and
# user); each start copies it instead of running initdb again.  Made in a
# temp dir and renamed into place, so concurrent starts never see half of
# one.  Sets $template.
ensure_template() {
	ver=$("$bindir/postgres" --version | awk "{ print \$3 }")
	tag=$(id -u)
	[ -n "$run" ] && tag="$tag-$PG_USER_SYS"
	template="$base/envctl-pgtemplate-v1-$ver-$tag"
	[ -f "$template/PG_VERSION" ] && return 0
	t=$(mktemp -d "$base/envctl-pgtemplate-new.XXXXXX") || die "mktemp failed"
	chmod 755 "$t"
	[ -n "$run" ] && chown "$PG_USER_SYS" "$t"
	if ! $run "$bindir/initdb" -D "$t/data" -U postgres -A trust -E UTF8 \
		--locale=C --no-sync >"$t/initdb.log" 2>&1; then
		cat "$t/initdb.log" >&2
		rm -rf "$t"
		die "initdb failed"
	fi
	# Losing the race to a concurrent start is fine: use the winner's.
	mv -T "$t/data" "$template" 2>/dev/null
	rm -rf "$t"
	[ -f "$template/PG_VERSION" ] || die "no template cluster at $template"
}

# Stop the clusters of owners that died without stopping them (a
# with-pg.sh killed by SIGKILL).  Clusters without an owner are left alone.
reap_stale() {
	for d in "$base"/envctl-pg.* "${TMPDIR:-/tmp}"/envctl-pg.*; do
		[ -f "$d/.envctl-pg" ] && [ -f "$d/owner" ] || continue
		owner=$(cat "$d/owner" 2>/dev/null)
		case $owner in ''|*[!0-9]*) continue ;; esac
		kill -0 "$owner" 2>/dev/null && continue
		echo "pg.sh: reaping $d (owner $owner is gone)" >&2
		(do_stop "$d") >/dev/null 2>&1
	done
}

do_start() {
	bindir=$(pg_bindir)
	base=$(base_dir)
	run=
	if [ "$(id -u)" -eq 0 ]; then
		ensure_user
		run="runuser -u $PG_USER_SYS --"
	fi
	reap_stale
	ensure_template
	dir=$(mktemp -d "$base/envctl-pg.XXXXXX") || die "mktemp failed"
	: >"$dir/.envctl-pg"
	if [ -n "${ENVCTL_PG_OWNER:-}" ]; then
		echo "$ENVCTL_PG_OWNER" >"$dir/owner"
	fi
	chmod 755 "$dir"
	[ -n "$run" ] && chown "$PG_USER_SYS" "$dir"
	# From here on, a failure removes what was made.
	trap 'do_stop "$dir" >/dev/null 2>&1' EXIT
	trap 'exit 130' INT TERM

	cp -a "$template" "$dir/data" || die "cannot copy the template cluster"

	started=
	attempt=0
	while [ $attempt -lt 10 ]; do
		attempt=$((attempt + 1))
		port=$(free_port) || die "no free port"
		if $run "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
			-o "-k '$dir' -p $port -h 127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60 -c shared_buffers=16MB" \
			start >"$dir/pg_ctl.log" 2>&1; then
			started=1
			break
		fi
		# Lost the port to someone else: try another one.
		grep -q "could not bind\|could not create any TCP/IP sockets\|Address already in use" \
			"$dir/postgres.log" 2>/dev/null || break
		: >"$dir/postgres.log"
	done
	[ -n "$started" ] || { cat "$dir/pg_ctl.log" "$dir/postgres.log" >&2; die "postgres did not start"; }
	head -n 1 "$dir/data/postmaster.pid" >"$dir/pid"
	pid=$(server_pid "$dir")
	[ -n "$pid" ] || die "postgres started but its pid is unknown"

	"$bindir/psql" -X -q -h "$dir" -p "$port" -U postgres -d postgres \
		-c "CREATE DATABASE $DBNAME" >/dev/null 2>"$dir/createdb.log" ||
		{ cat "$dir/createdb.log" >&2; die "CREATE DATABASE failed"; }

	cat >"$dir/env" <<EOF
export PGHOST='$dir'
export PGPORT='$port'
export PGUSER='postgres'
export PGDATABASE='$DBNAME'
export ENVCTL_DATABASE_URL='postgresql://postgres@127.0.0.1:$port/$DBNAME'
export ENVCTL_PG_DIR='$dir'
export ENVCTL_PG_PID='$pid'
EOF
	trap - EXIT INT TERM
	cat "$dir/env"
}

case ${1:-} in
start)
	do_start
	;;
stop)
	[ $# -eq 2 ] || die "usage: pg.sh stop DIR"
	do_stop "$2"
	;;
*)
	echo "usage: pg.sh start | pg.sh stop DIR" >&2
	exit 64
	;;
esac
