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

# Every command reads the same table (issue 12).
unset ENVCTL_TAG_PREFIX ENVCTL_REGION ENVCTL_SPECS
spec="$ENVCTL_SRC/specs-example/minimal.yaml"
hash_of() { "$ENVCTL_BIN" validate -v "$@" 2>/dev/null | cut -d' ' -f4; }
h_default=$(hash_of --config /dev/null "$spec")
h_eu=$(hash_of --config /dev/null --region eu-west-1 "$spec")
h_env=$(ENVCTL_REGION=eu-west-1 hash_of --config /dev/null "$spec")
printf 'region = eu-west-1\n' >"$tmp/region.conf"
h_file=$(hash_of --config "$tmp/region.conf" "$spec")
if [ -n "$h_default" ] && [ "$h_eu" != "$h_default" ] && [ "$h_env" = "$h_eu" ] &&
    [ "$h_file" = "$h_eu" ]; then
	ok "validate: the region option (flag, ENVCTL_REGION, file) sets the default region"
else
	bad "validate region: default $h_default flag $h_eu env $h_env file $h_file"
fi
h_old=$(ENVCTL_DEFAULT_REGION=eu-west-1 AWS_REGION= AWS_DEFAULT_REGION= hash_of --config /dev/null "$spec")
h_none=$(AWS_REGION= AWS_DEFAULT_REGION= hash_of --config /dev/null "$spec")
if [ -n "$h_none" ] && [ "$h_old" = "$h_none" ]; then
	ok "validate: ENVCTL_DEFAULT_REGION is no option and not honoured"
else
	bad "validate: ENVCTL_DEFAULT_REGION changed the hash ($h_old vs $h_none)"
fi

# A spec tag under the reserved prefix: refused alike for "acme" and "acme:".
sed 's/^spec:$/spec:\n  tags: {"acme:owner": x}/' "$spec" >"$tmp/tagged.yaml"
grep -q 'acme:owner' "$tmp/tagged.yaml" || bad "could not add a tag to the spec"
v1=$(ENVCTL_TAG_PREFIX=acme "$ENVCTL_BIN" validate --config /dev/null "$tmp/tagged.yaml" 2>/dev/null; echo "rc=$?")
v2=$(ENVCTL_TAG_PREFIX=acme: "$ENVCTL_BIN" validate --config /dev/null "$tmp/tagged.yaml" 2>/dev/null; echo "rc=$?")
v3=$("$ENVCTL_BIN" validate --config /dev/null --tag-prefix acme "$tmp/tagged.yaml" 2>/dev/null; echo "rc=$?")
v0=$("$ENVCTL_BIN" validate --config /dev/null "$tmp/tagged.yaml" 2>/dev/null; echo "rc=$?")
if [ "$v1" = "$v2" ] && [ "$v1" = "$v3" ] && echo "$v1" | grep -q 'rc=1' &&
    echo "$v1" | grep -q 'acme:' && echo "$v0" | grep -q 'rc=0'; then
	ok "validate: tag_prefix with and without ':' is the same prefix"
else
	bad "validate tag_prefix: acme [$v1] acme: [$v2] flag [$v3] default [$v0]"
fi
# ... and a tag that only starts with the letters of the prefix is not reserved
# (the table's "acme" is "acme:", never a bare "acme").
sed 's/^spec:$/spec:\n  tags: {"acme-owner": x}/' "$spec" >"$tmp/near.yaml"
w1=$(ENVCTL_TAG_PREFIX=acme "$ENVCTL_BIN" validate --config /dev/null "$tmp/near.yaml" 2>&1; echo "rc=$?")
w2=$(ENVCTL_TAG_PREFIX=acme: "$ENVCTL_BIN" validate --config /dev/null "$tmp/near.yaml" 2>&1; echo "rc=$?")
if echo "$w1" | grep -q 'rc=0' && echo "$w2" | grep -q 'rc=0'; then
	ok "validate: tag_prefix acme does not reserve acme-owner"
else
	bad "validate near tag: acme [$w1] acme: [$w2]"
fi
n1=$(ENVCTL_TAG_PREFIX=acme: "$ENVCTL_BIN" config show -o json --config /dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["tag_prefix"]["value"])')
[ "$n1" = "acme:" ] && ok "config show prints tag_prefix as given" || bad "config show tag_prefix: $n1"

# migrate takes database_url from the config file like every command:
# an unreachable one named only there is the one it tries.
printf 'database_url = postgresql://envctl@127.0.0.1:1/fromfile\n' >"$tmp/db.conf"
if (unset PGHOST PGPORT PGDATABASE; "$ENVCTL_BIN" migrate --check --config "$tmp/db.conf") \
    >"$tmp/out" 2>"$tmp/err"; then
	bad "migrate with an unreachable database_url succeeded"
elif grep -q 'port=1 dbname=fromfile' "$tmp/err"; then
	ok "migrate uses database_url from --config"
else
	bad "migrate ignored database_url from the file: $(cat "$tmp/err")"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
