#!/bin/sh
# Test of scripts/check-banned itself (ctest check_banned_selftest): it
# reports every banned call with file:line and fails; it passes the
# allowed look-alikes, comments, strings and non-C files; it refuses a
# missing path.  Needs ENVCTL_SRC.
set -eu

: "${ENVCTL_SRC:?}"
CHECK="$ENVCTL_SRC/scripts/check-banned"
tmp=$(mktemp -d /tmp/envctl-banned.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
fails=0

bad() { printf 'FAIL: %s\n' "$*" >&2; fails=$((fails + 1)); }

# One banned call a line, each line's number known.
mkdir "$tmp/bad"
cat >"$tmp/bad/calls.c" <<'C'
#include <stdio.h>
void f(char *d, const char *s, char *l, va_list ap) {
	strcpy(d, s);
	strcat(d, s);
	sprintf(d, "%s", s);
	vsprintf(d, "%s", ap);
	gets(l);
	(void)strtok(l, ",");
	int n = atoi (s);
	n += atoi(s) + atoi(d);
}
C
printf '#define X(s) atoi(s)\n' >"$tmp/bad/calls.h"
status=0
"$CHECK" "$tmp/bad" >"$tmp/out" 2>"$tmp/err" || status=$?
[ "$status" -eq 1 ] || bad "banned calls: exit $status, want 1"
for want in 3:strcpy 4:strcat 5:sprintf 6:vsprintf 7:gets 8:strtok 9:atoi \
    10:atoi; do
	line=${want%%:*}
	name=${want#*:}
	grep -q "^$tmp/bad/calls.c:$line: $name() is banned" "$tmp/out" ||
		bad "no report of $name at calls.c:$line"
done
[ "$(grep -c "^$tmp/bad/calls.c:10: atoi()" "$tmp/out")" -eq 2 ] ||
	bad "two calls on line 10 not both reported"
grep -q "^$tmp/bad/calls.h:1: atoi() is banned" "$tmp/out" ||
	bad "a header is not checked"
[ "$(wc -l <"$tmp/out")" -eq 10 ] || bad "want 10 reports, got $(wc -l <"$tmp/out")"
[ -s "$tmp/err" ] || bad "no summary on stderr"

# The allowed look-alikes, and banned names where they are not calls.
mkdir "$tmp/ok"
cat >"$tmp/ok/fine.c" <<'C'
/* strcpy(d, s) in a comment, and
 * gets(l) on its next line */
void g(char *d, const char *s, char *l, char **save, va_list ap, FILE *fp) {
	strncpy(d, s, 8);	// sprintf(d, s) after a line comment
	snprintf(d, 8, "%s", s);
	vsnprintf(d, 8, "%s", ap);
	(void)strtok_r(l, ",", save);
	(void)fgets(l, 8, fp);
	(void)xasprintf("atoi(%s) strcat(", s);
	(void)my_atoi(s); (void)atoi_checked(s); (void)strcpy_s;
	char c = '(', q = '"'; /* strtok( */ (void)strtol(s, NULL, 10);
	(void)c; (void)q;
}
C
printf 'strcpy(a, b);\n' >"$tmp/ok/notes.txt"
status=0
"$CHECK" "$tmp/ok" >"$tmp/out" 2>&1 || status=$?
[ "$status" -eq 0 ] || { bad "look-alikes: exit $status, want 0"; cat "$tmp/out" >&2; }
[ ! -s "$tmp/out" ] || bad "look-alikes: output where none is wanted"

# A missing path is a usage error, not a pass.
status=0
"$CHECK" "$tmp/missing" >/dev/null 2>&1 || status=$?
[ "$status" -eq 2 ] || bad "missing path: exit $status, want 2"

if [ "$fails" -ne 0 ]; then
	printf '%d check(s) failed\n' "$fails" >&2
	exit 1
fi
echo "check-banned: all checks passed"
