#!/bin/sh
# envctl config: the example file is the option table; precedence and
# errors as an operator sees them.
set -u
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset ENVCTL_CLUSTER_ID ENVCTL_DATABASE_URL ENVCTL_CONFIG

if "$ENVCTL_BIN" config example | diff -u "$ENVCTL_SRC/docs/envctl.conf.example" - >"$tmp/diff"; then
	ok "docs/envctl.conf.example is what 'envctl config example' prints"
else
	bad "docs/envctl.conf.example is out of date: regenerate it with 'envctl config example'"
	cat "$tmp/diff"
fi

# The example, uncommented, is a valid configuration with every default.
sed -n 's/^#\([a-z_]* = .*\)$/\1/p' "$ENVCTL_SRC/docs/envctl.conf.example" >"$tmp/all.conf"
n=$(wc -l <"$tmp/all.conf")
if "$ENVCTL_BIN" config show --config "$tmp/all.conf" >"$tmp/show" 2>&1 &&
    [ "$(grep -c "$tmp/all.conf:" "$tmp/show")" -eq "$n" ] && [ "$n" -gt 20 ]; then
	ok "the uncommented example loads ($n options, each from the file)"
else
	bad "the uncommented example does not load"; cat "$tmp/show"
fi

printf 'cluster_id = fromfile\nmax_parallel = 4\n' >"$tmp/a.conf"
out=$(ENVCTL_CLUSTER_ID=fromenv "$ENVCTL_BIN" config show -o json --config "$tmp/a.conf" --max-parallel 6)
echo "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["cluster_id"] == {"value": "fromenv", "origin": "ENVCTL_CLUSTER_ID"}, d["cluster_id"]
assert d["max_parallel"] == {"value": "6", "origin": "flag"}, d["max_parallel"]
assert d["spec_branch"]["origin"] == "default"
' && ok "flag > environment > file > default" || bad "precedence"

printf 'max_parallel = lots\n' >"$tmp/b.conf"
if "$ENVCTL_BIN" config show --config "$tmp/b.conf" 2>"$tmp/err"; then
	bad "a bad value is refused"
elif grep -q "^envctl: configuration: $tmp/b.conf:1: max_parallel: expected a whole number" "$tmp/err"; then
	ok "a bad value is refused with file:line"
else
	bad "error message: $(cat "$tmp/err")"
fi

if "$ENVCTL_BIN" config show --config "$tmp/none.conf" 2>"$tmp/err"; then
	bad "a missing --config file is an error"
else
	grep -q "none.conf" "$tmp/err" && ok "a missing --config file is an error naming it" || bad "missing file message"
fi

ENVCTL_DATABASE_URL='postgresql://u:CANARY-PW@h/db' "$ENVCTL_BIN" config show >"$tmp/show" 2>&1
if grep -q CANARY-PW "$tmp/show"; then bad "database_url password shown"; else ok "database_url is not shown"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
