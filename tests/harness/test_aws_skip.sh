#!/bin/sh
# scripts/test-aws must never reach a real account from CI: without
# ENVCTL_IT_AWS=1, or with it but without credentials, it says it skipped
# and exits 0 (no database started, nothing created).
set -u
src=${ENVCTL_SRC:?}
fails=0
ok() { printf 'ok   %s\n' "$*"; }
bad() { printf 'FAIL %s\n' "$*"; fails=$((fails + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# no credentials anywhere: no keys, no files, no profile, no instance role
noaws() {
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
	    -u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_ROLE_ARN \
	    -u AWS_WEB_IDENTITY_TOKEN_FILE -u AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
	    -u AWS_CONTAINER_CREDENTIALS_FULL_URI -u ENVCTL_DATABASE_URL \
	    AWS_CONFIG_FILE="$tmp/none" AWS_SHARED_CREDENTIALS_FILE="$tmp/none" \
	    AWS_EC2_METADATA_DISABLED=true HOME="$tmp" "$@"
}

# run NAME ENV...: the script's exit code and output into $rc and $out
run() {
	out=$(noaws "$@" sh "$src/scripts/test-aws" 2>&1)
	rc=$?
}

run env -u ENVCTL_IT_AWS
printf '%s\n' "$out"
if [ "$rc" -eq 0 ] && printf '%s' "$out" | grep -q '^test-aws: skipped: set ENVCTL_IT_AWS=1'; then
	ok "without ENVCTL_IT_AWS=1: skipped, exit 0"
else
	bad "without ENVCTL_IT_AWS=1: exit $rc"
fi

run env ENVCTL_IT_AWS=1 ENVCTL_IT_AWS_BUCKET=envctl-never-used
printf '%s\n' "$out"
if [ "$rc" -eq 0 ] && printf '%s' "$out" | grep -q '^test-aws: skipped: no AWS credentials'; then
	ok "ENVCTL_IT_AWS=1 without credentials: skipped, exit 0"
else
	bad "ENVCTL_IT_AWS=1 without credentials: exit $rc"
fi
if printf '%s' "$out" | grep -q 'cluster envctl-it-'; then
	bad "it went on to start a run"
else
	ok "no run started"
fi

if command -v shellcheck >/dev/null 2>&1; then
	if shellcheck "$src/scripts/test-aws"; then
		ok "shellcheck clean"
	else
		bad "shellcheck"
	fi
else
	printf 'ok   # shellcheck not installed, not checked\n'
fi
[ "$fails" -eq 0 ]
