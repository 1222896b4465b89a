#!/bin/sh
# run_units.sh - the systemd units and the manual pages, as installed.
#
# Installs the build into a temporary DESTDIR (cmake --install), then:
#   - systemd-analyze verify on the three units (ExecStart pointed at the
#     installed binary, MANPATH at the installed pages, so Documentation=
#     man: references are checked too);
#   - groff -man -ww renders both pages without a warning (mandoc -Tlint too
#     when it is installed);
#   - every option of `envctl config example` is documented in envctl.conf(5);
#   - the service is Type=notify and hardened as promised.
set -u
: "${ENVCTL_BUILD:?}" "${ENVCTL_SRC:?}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/envctl-units.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
check() {	# status what
	if [ "$1" -eq 0 ]; then
		echo "ok   $2"; pass=$((pass + 1))
	else
		echo "FAIL $2"; fail=$((fail + 1))
	fi
}

DESTDIR="$tmp/root" cmake --install "$ENVCTL_BUILD" --prefix /usr/local >"$tmp/install.log" 2>&1
check $? "cmake --install into a DESTDIR"
root=$tmp/root/usr/local
for f in share/man/man8/envctl.8 share/man/man5/envctl.conf.5 bin/envctl \
    lib/systemd/system/envctl.service lib/systemd/system/envctl-drift.service \
    lib/systemd/system/envctl-drift.timer share/doc/envctl/envctl.env.example; do
	[ -f "$root/$f" ]; check $? "installed $f"
done

mkdir "$tmp/units"
for u in envctl.service envctl-drift.service envctl-drift.timer; do
	sed "s#/usr/local/bin/envctl#$root/bin/envctl#" "$root/lib/systemd/system/$u" >"$tmp/units/$u"
done
if command -v systemd-analyze >/dev/null 2>&1; then
	out=$(cd "$tmp/units" && MANPATH="$root/share/man" systemd-analyze verify \
	    envctl.service envctl-drift.service envctl-drift.timer 2>&1)
	st=$?
	[ -n "$out" ] && echo "$out"
	[ $st -eq 0 ] && [ -z "$out" ]; check $? "systemd-analyze verify: no complaint"
	exposure=$(systemd-analyze security --offline=yes "$tmp/units/envctl.service" 2>/dev/null |
	    sed -n 's/.*Overall exposure level for envctl.service: \([0-9.]*\).*/\1/p')
	echo "figure: systemd-analyze security exposure of envctl.service: $exposure"
	awk -v e="$exposure" 'BEGIN { exit !(e != "" && e + 0 <= 2.0) }'
	check $? "envctl.service exposure level <= 2.0 ($exposure)"
else
	echo "skip systemd-analyze: not installed"
fi

for p in share/man/man8/envctl.8 share/man/man5/envctl.conf.5; do
	w=$(groff -man -ww -z "$root/$p" 2>&1)
	[ -z "$w" ]; check $? "groff -man -ww: $p renders without warnings $w"
	if command -v mandoc >/dev/null 2>&1; then
		w=$(mandoc -Tlint -W warning "$root/$p" 2>&1)
		[ -z "$w" ]; check $? "mandoc -Tlint: $p $w"
	fi
	MANWIDTH=80 man -l "$root/$p" 2>/dev/null | grep -q "SEE ALSO"
	check $? "man -l renders $p"
done

missing=
for k in $("$ENVCTL_BUILD/controller/envctl" config example | sed -n 's/^#\([a-z_]*\) =.*/\1/p'); do
	grep -q "^\.B $(echo "$k" | sed 's/-/\\\\-/g')\$" "$root/share/man/man5/envctl.conf.5" ||
	    missing="$missing $k"
done
[ -z "$missing" ]; check $? "every option is in envctl.conf(5)${missing:+ (missing:$missing)}"

svc=$root/lib/systemd/system/envctl.service
for line in Type=notify WatchdogSec= NoNewPrivileges=yes ProtectSystem=strict \
    PrivateTmp=yes ProtectHome=yes DynamicUser=yes StateDirectory=envctl \
    ProtectKernelTunables=yes "SystemCallFilter=@system-service" LimitCORE=0 \
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"; do
	grep -q "^$line" "$svc"; check $? "envctl.service has $line"
done
grep -q "^LimitCORE=0$" "$root/lib/systemd/system/envctl-drift.service"
check $? "envctl-drift.service has LimitCORE=0"
grep -q '^Unit=envctl-drift.service\|^OnUnitActiveSec=' "$root/lib/systemd/system/envctl-drift.timer"
check $? "envctl-drift.timer is periodic"
grep -q '^SuccessExitStatus=2' "$root/lib/systemd/system/envctl-drift.service"
check $? "envctl-drift.service: exit 2 (drift found) is not a failure"

# The binary turns core dumps off itself (proc_harden), seen from outside:
# envctl runs as nobody while it waits on a "database" that accepts and
# never answers; a sleep as nobody is the control that the checks bite.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1; then
	nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
	python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
held = []
while True: held.append(s.accept()[0])' >"$tmp/port" &
	lpid=$!
	i=0; while [ ! -s "$tmp/port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	mkdir "$tmp/specs"; chmod 755 "$tmp" "$tmp/specs"
	ENVCTL_SECRET_CANARY=units-canary $nobody "$ENVCTL_BUILD/controller/envctl" plan \
	    --database-url "postgresql://x@127.0.0.1:$(cat "$tmp/port")/x?connect_timeout=20" \
	    --specs "$tmp/specs" --cluster-id units >"$tmp/plan.out" 2>&1 &
	epid=$!
	ENVCTL_SECRET_CANARY=units-canary $nobody sleep 20 &
	cpid=$!
	i=0
	until grep -q "^Max core file size  *0  *0 " "/proc/$epid/limits" 2>/dev/null ||
	    [ $i -ge 50 ]; do
		sleep 0.1; i=$((i + 1))
	done
	grep -q "^Max core file size  *0  *0 " "/proc/$epid/limits"
	check $? "envctl runs with core file size 0 0 (/proc/PID/limits)"
	grep -q "^Uid:	65534	" "/proc/$epid/status" && [ "$(stat -c %u "/proc/$epid/status")" = 0 ]
	check $? "envctl is not dumpable: runs as 65534, /proc/PID owned by root"
	! $nobody cat "/proc/$epid/environ" 2>/dev/null | grep -q units-canary
	check $? "another process of envctl's uid cannot read its environment"
	$nobody cat "/proc/$cpid/environ" 2>/dev/null | grep -q units-canary
	check $? "(control: it can read a plain process's)"
	kill "$epid" "$cpid" "$lpid" 2>/dev/null
	wait "$epid" "$cpid" "$lpid" 2>/dev/null
else
	echo "skip the process checks: not root or no setpriv"
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
