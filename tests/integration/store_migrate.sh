#!/bin/sh
# envctl migrate against a real PostgreSQL; run under tests/harness/with-pg.sh.
set -u
LABEL=store
. "${ENVCTL_SRC:?ENVCTL_SRC not set}/tests/harness/envctl_sh.sh"

has_out() { grep -q -- "$1" "$tmp/out" || fail "stdout lacks '$1'"; }
has_err() { grep -q -- "$1" "$tmp/err" || fail "stderr lacks '$1'"; }

# --check on an empty database: versions printed, exit 1
run 1 migrate --check
has_out '^schema version current: 0$'
latest=$(sed -n 's/^schema version expected: \([0-9]*\)$/\1/p' "$tmp/out")
[ -n "$latest" ] && [ "$latest" -ge 2 ] || fail "expected version '$latest'"
has_err "^envctl: migrate --check: .*run 'envctl migrate'"
ok "--check on an empty database exits 1 (expected version $latest)"

# migrate (database from ENVCTL_DATABASE_URL)
run 0 migrate
has_out '^schema version before: 0$'
has_out "^schema version after: $latest\$"
[ "$(sql -c 'SELECT max(version) FROM schema_version')" = "$latest" ] ||
	fail "schema_version in the database"
# environments, events, reconcile_runs, schema_version, leader_lease,
# cost_segments
[ "$(sql -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" = 6 ] ||
	fail "tables"
ok "migrate from empty to $latest"

run 0 migrate
has_out "^schema version before: $latest\$"
has_out "^schema version after: $latest (nothing to do)\$"
[ "$(sql -c 'SELECT count(*) FROM schema_version')" = "$latest" ] || fail "re-applied"
ok "migrate again is a no-op"

run 0 migrate --check
has_out "^schema version current: $latest\$"
has_out "^schema version expected: $latest\$"
has_out "^database: host=127.0.0.1 port=$PGPORT dbname=envctl_test user=postgres\$"
ok "--check after migrate exits 0"

# a password in the URL (trust auth ignores it) is never printed
run 0 migrate --check --database-url "postgresql://postgres:s3cr3t-pw@127.0.0.1:$PGPORT/envctl_test"
! grep -q s3cr3t "$tmp/out" "$tmp/err" || fail "password printed"
ok "a URL's password is not printed"

# --database-url wins over the environment
sql -c "CREATE DATABASE it_flag" >/dev/null || fail "create it_flag"
ENVCTL_DATABASE_URL="postgresql://nobody@127.0.0.1:1/nowhere" \
	run 0 migrate --database-url "postgresql://postgres@127.0.0.1:$PGPORT/it_flag"
has_out "^schema version after: $latest\$"
[ "$(sql -d it_flag -c 'SELECT max(version) FROM schema_version')" = "$latest" ] ||
	fail "it_flag not migrated"
ok "--database-url overrides ENVCTL_DATABASE_URL"

# no URL at all: libpq's PG* variables (unix socket in PGHOST)
sql -c "CREATE DATABASE it_pgvars" >/dev/null || fail "create it_pgvars"
(unset ENVCTL_DATABASE_URL; PGDATABASE=it_pgvars; export PGDATABASE; run 0 migrate) || exit 1
[ "$(sql -d it_pgvars -c 'SELECT max(version) FROM schema_version')" = "$latest" ] ||
	fail "it_pgvars not migrated"
ok "without a URL, PG* variables are used"

# a database newer than this binary is refused
sql -d it_flag -c "INSERT INTO schema_version (version, name) VALUES ($((latest + 1)), 'future')" >/dev/null
run 1 migrate --database-url "postgresql://postgres@127.0.0.1:$PGPORT/it_flag"
has_err '^envctl: migrate: .*newer than this envctl knows'
run 1 migrate --check --database-url "postgresql://postgres@127.0.0.1:$PGPORT/it_flag"
has_out "^schema version current: $((latest + 1))\$"
has_err 'newer than this envctl knows'
ok "a newer schema is refused"

# an unreachable database: exit 1 quickly, host and port named, no password
dead=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
t0=$(date +%s)
run 1 migrate --database-url "postgresql://envctl:s3cr3t-pw@127.0.0.1:$dead/envctl"
t1=$(date +%s)
[ $((t1 - t0)) -le 5 ] || fail "took $((t1 - t0))s"
has_err "^envctl: migrate: cannot connect to PostgreSQL"
has_err "127.0.0.1"
has_err "$dead"
! grep -q s3cr3t "$tmp/err" "$tmp/out" || fail "password echoed"
ENVCTL_DATABASE_URL="host=127.0.0.1 port=$dead password=s3cr3t-pw" run 1 migrate --check
has_err "^envctl: migrate: "
! grep -q s3cr3t "$tmp/err" "$tmp/out" || fail "password echoed"
ok "unreachable database: exit 1, 'envctl: ...: ...', no password"

run 1 migrate --bogus
has_err '^envctl: migrate: unknown option'
run 0 migrate -h
has_out 'usage: envctl migrate'
ok "option errors and help"
echo "all $n passed"
