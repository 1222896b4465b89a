# Shared by scripts/test and scripts/quickstart: install what is missing,
# build.  Sourced, not run.

ENVCTL_APT_PACKAGES="build-essential cmake pkg-config git clang libclang-rt-14-dev
 libyaml-dev libssl-dev libcurl4-openssl-dev libxml2-dev libjansson-dev libpq-dev
 libgit2-dev libcmocka-dev postgresql postgresql-client valgrind curl procps
 openssh-client openssh-server openssl chromium prometheus"

say() { printf '==> %s\n' "$*"; }
die() { printf 'envctl: %s\n' "$*" >&2; exit 1; }

# Install the Debian packages that are not there yet (idempotent).
ensure_packages() {
	missing=""
	for p in $ENVCTL_APT_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		[ "$(id -u)" -eq 0 ] || die "missing packages:$missing (run as root or install them)"
		say "installing:$missing"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		# Packages such as postgresql, openssh-server and prometheus start
		# their system services on install; the tests start their own on
		# free loopback ports, so keep the system ones from starting.
		policy=""
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			policy=/usr/sbin/policy-rc.d
			printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
		fi
		rc=0
		# shellcheck disable=SC2086
		apt-get install -y -qq --no-install-recommends $missing >/dev/null || rc=$?
		[ -n "$policy" ] && rm -f "$policy"
		[ "$rc" -eq 0 ] || die "apt-get install failed"
	fi
	command -v moto_server >/dev/null ||
		python3 -c 'import moto.server' 2>/dev/null ||
		die "moto_server not found: install it with pip install 'moto[server]'"
}

# build DIR [cmake args...]
build() {
	dir=$1
	shift
	cmake -S "$ENVCTL_TOP" -B "$ENVCTL_TOP/$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null ||
		die "cmake configure of $dir failed"
	cmake --build "$ENVCTL_TOP/$dir" -j"$(nproc)" -- --no-print-directory >/dev/null ||
		{ cmake --build "$ENVCTL_TOP/$dir" -j1 2>&1 | grep -E 'error|Error' | head -40; die "build of $dir failed"; }
}
