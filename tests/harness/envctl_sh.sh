# Sourced by the shell tests that run envctl under tests/harness/with-pg.sh
# (set LABEL first): $bin, $tmp (removed at exit), a check counter and
# fail MSG (prints the last run's output, exits 1), ok MSG, and
# run EXPECTED_RC envctl-args... (output in $tmp/out and $tmp/err), sql.
bin=${ENVCTL_BIN:?ENVCTL_BIN not set}
: "${ENVCTL_DATABASE_URL:?run under tests/harness/with-pg.sh}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/envctl-it-${LABEL:?LABEL not set}.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
n=0

fail() {
	echo "FAIL: $*" >&2
	echo "--- stdout" >&2; cat "$tmp/out" >&2 2>/dev/null
	echo "--- stderr" >&2; cat "$tmp/err" >&2 2>/dev/null
	exit 1
}
ok() { n=$((n + 1)); echo "ok $n - $*"; }
run() {
	want=$1
	shift
	"$bin" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ "$rc" -eq "$want" ] || fail "envctl $*: exit $rc, want $want"
}
# psql, quiet and unaligned, stopping at the first error
sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
