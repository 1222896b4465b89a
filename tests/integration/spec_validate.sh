#!/bin/sh
# Integration test of `envctl validate` (tests/integration/spec.cmake).
# Needs ENVCTL_BIN and ENVCTL_SRC; uses python3 only to read JSON.
set -eu

: "${ENVCTL_BIN:?}" "${ENVCTL_SRC:?}"
EX="$ENVCTL_SRC/specs-example"
tmp=$(mktemp -d /tmp/envctl-spec-it.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
fails=0
checks=0

ok() { checks=$((checks + 1)); }
bad() { printf 'FAIL: %s\n' "$*" >&2; fails=$((fails + 1)); }
expect_rc() {	# expect_rc WANT GOT WHAT
	if [ "$1" = "$2" ]; then ok; else bad "$3: exit $2, want $1"; fi
}
expect_grep() {	# expect_grep PATTERN FILE WHAT
	if grep -E -q -- "$1" "$2"; then ok; else bad "$3: no line matching '$1' in:"; cat "$2" >&2; fi
}
run() {		# run OUT ERR args... ; sets rc
	out=$1 err=$2
	shift 2
	set +e
	"$ENVCTL_BIN" "$@" >"$out" 2>"$err"
	rc=$?
	set -e
}

n=$(ls "$EX"/*.yaml | wc -l)
[ "$n" -ge 4 ] && ok || bad "specs-example has $n specs, want at least 4"

# 1. the examples are valid; nothing on stdout, a summary on stderr
run "$tmp/out" "$tmp/err" validate "$EX"
expect_rc 0 "$rc" "validate specs-example"
[ ! -s "$tmp/out" ] && ok || bad "validate printed on stdout: $(cat "$tmp/out")"
expect_grep "^envctl: validate: $n specs, all valid$" "$tmp/err" "summary"

# 2. -v: one ok line per file with its name and hash
run "$tmp/out" "$tmp/err" validate -v "$EX"
expect_rc 0 "$rc" "validate -v"
[ "$(grep -c -E '^ok [^ ]+\.yaml [a-z0-9-]+ v1:[0-9a-f]{64}$' "$tmp/out")" = "$n" ] && ok ||
	bad "-v: want $n ok lines, got: $(cat "$tmp/out")"
expect_grep "^ok $EX/minimal.yaml minimal v1:" "$tmp/out" "-v names minimal"

# 3. -o json: one document, nothing else
run "$tmp/out" "$tmp/err" validate -o json "$EX"
expect_rc 0 "$rc" "validate -o json"
python3 - "$tmp/out" "$n" <<'PY' && ok || bad "-o json document"
import json, re, sys
doc = json.load(open(sys.argv[1]))
assert doc["valid"] is True and doc["invalid"] == 0, doc
assert len(doc["files"]) == int(sys.argv[2]), doc
for f in doc["files"]:
    assert f["valid"] and not f["diagnostics"], f
    assert re.fullmatch(r"v1:[0-9a-f]{64}", f["hash"]), f
PY

# 4. a broken copy: exit 1, the right file:line:col, the others still fine
cp -RL "$EX" "$tmp/specs"
# edit only a real copy, never the examples through a link
if [ -L "$tmp/specs" ] || [ -L "$tmp/specs/node-web.yaml" ]; then
	echo "FAIL: $tmp/specs is not a plain copy" >&2
	exit 1
fi
line=$(grep -n '^    type: t3.medium$' "$tmp/specs/node-web.yaml" | head -1 | cut -d: -f1)
sed -i "${line}s/    type:/    tpye:/" "$tmp/specs/node-web.yaml"
wline=$(grep -n 'allow_from: \[198.51.100.17/32, ' "$tmp/specs/py-data.yaml" | head -1 | cut -d: -f1)
sed -i "${wline}s|198.51.100.17/32, |0.0.0.0/0, |" "$tmp/specs/py-data.yaml"
wcol=$(sed -n "${wline}p" "$tmp/specs/py-data.yaml" | awk '{ print index($0, "0.0.0.0/0") }')
run "$tmp/out" "$tmp/err" validate -v "$tmp/specs"
expect_rc 1 "$rc" "validate broken copy"
expect_grep "^$tmp/specs/node-web.yaml:$line:5: unknown key 'tpye'; did you mean 'type'\?$" \
	"$tmp/out" "unknown key reported at its line:col"
expect_grep "^$tmp/specs/py-data.yaml:$wline:$wcol: 0.0.0.0/0 opens SSH to the whole internet" \
	"$tmp/out" "world-open SSH reported at its line:col"
expect_grep "^ok $tmp/specs/minimal.yaml minimal v1:" "$tmp/out" "valid files still reported"
expect_grep "^envctl: validate: 2 of $n specs invalid \(2 problems\)$" "$tmp/err" "summary of failures"
run "$tmp/out" "$tmp/err" validate -o json "$tmp/specs"
expect_rc 1 "$rc" "validate -o json broken copy"
python3 - "$tmp/out" "$line" <<'PY' && ok || bad "-o json of the broken copy"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["valid"] is False and doc["invalid"] == 2, doc
f = [f for f in doc["files"] if f["name"] == "node-web"][0]
assert f["valid"] is False and f["hash"] is None, f
d = f["diagnostics"][0]
assert (d["line"], d["col"]) == (int(sys.argv[2]), 5) and "tpye" in d["message"], d
PY

# 5. files named on the command line; a reformatted copy hashes the same
grep -v '^#' "$EX/minimal.yaml" | sed 's/ssh: {allow_from: \[192.0.2.10\/32\]}/ssh:\n      allow_from:\n        - "192.0.2.10\/32"/' \
	>"$tmp/minimal.yaml"
run "$tmp/out" "$tmp/err" validate -v "$EX/minimal.yaml" "$tmp/minimal.yaml"
expect_rc 1 "$rc" "two files with one name"
expect_grep "also declared by" "$tmp/out" "duplicate names"
run "$tmp/out" "$tmp/err" validate -v "$EX/minimal.yaml"
h1=$(cut -d' ' -f4 "$tmp/out")
run "$tmp/out" "$tmp/err" validate -v "$tmp/minimal.yaml"
h2=$(cut -d' ' -f4 "$tmp/out")
[ -n "$h1" ] && [ "$h1" = "$h2" ] && ok || bad "reformatted spec hash $h2 != $h1"
run "$tmp/out" "$tmp/err" validate -v --region eu-west-1 "$tmp/minimal.yaml"
h3=$(cut -d' ' -f4 "$tmp/out")
[ "$h3" != "$h1" ] && ok || bad "the default region does not change the hash"

# 6. a missing directory fails; an empty one is valid
run "$tmp/out" "$tmp/err" validate "$tmp/nope"
expect_rc 1 "$rc" "missing directory"
expect_grep "^envctl: validate: .*nope" "$tmp/err" "missing directory message"
[ ! -s "$tmp/out" ] && ok || bad "missing directory printed on stdout"
mkdir "$tmp/empty"
run "$tmp/out" "$tmp/err" validate "$tmp/empty"
expect_rc 0 "$rc" "empty directory"

# 7. the default directory: $ENVCTL_SPECS, else ./specs
(cd "$tmp" && set +e; "$ENVCTL_BIN" validate >/dev/null 2>&1; echo $? >"$tmp/rc1")
expect_rc 1 "$(cat "$tmp/rc1")" "default ./specs (the broken copy)"
(cd "$tmp" && set +e; ENVCTL_SPECS="$EX" "$ENVCTL_BIN" validate >/dev/null 2>&1; echo $? >"$tmp/rc2")
expect_rc 0 "$(cat "$tmp/rc2")" "ENVCTL_SPECS"

# 8. a file name cannot forge output lines
mkdir "$tmp/evil"
printf 'apiVersion: envctl/v1\nkind: Environment\n' >"$tmp/evil/$(printf 'x\nfake.yaml:1:1: forged')".yaml
run "$tmp/out" "$tmp/err" validate "$tmp/evil"
expect_rc 1 "$rc" "file name with a newline is invalid"
[ "$(wc -l <"$tmp/out")" -eq 1 ] && ok || bad "a file name split the output: $(cat "$tmp/out")"
if grep -q '^fake.yaml' "$tmp/out"; then bad "forged line in output"; else ok; fi

# 9. bad usage
run "$tmp/out" "$tmp/err" validate -o yaml "$EX"
expect_rc 1 "$rc" "-o yaml"

printf 'spec_validate: %d checks, %d failures\n' "$checks" "$fails"
[ "$fails" -eq 0 ]
