/*
 * userdata.c - render the bootstrap script; base64 and the EC2 size limit.
 *
 * The script is fixed text with every spec value assigned once, at the
 * top, to a shell variable or array element inside single quotes.  Below
 * that the script only ever expands those variables in double quotes, so
 * nothing from the spec is ever parsed by the instance's shell as code
 * (setup commands are handed whole, as one argument, to sh -c: running
 * them is their purpose).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "buf.h"
#include "err.h"
#include "mem.h"
#include "spec.h"
#include "base64.h"
#include "userdata.h"
#include "userdata_int.h"

/* The buffer the script is rendered in; well past USERDATA_RAW_MAX. */
#define SCRIPT_MAX	(1024 * 1024)

static const struct family {
	const char		*prefix;	/* alias or alias prefix */
	int			 exact;
	enum userdata_family	 family;
	const char		*user;
	const char		*pkg;		/* package manager */
} families[] = {
	{ "al2023", 1, USERDATA_FAMILY_AL2023, "ec2-user", "dnf" },
	{ "al2", 1, USERDATA_FAMILY_AL2, "ec2-user", "yum" },
	{ "ubuntu-", 0, USERDATA_FAMILY_UBUNTU, "ubuntu", "apt-get" },
	{ "debian-", 0, USERDATA_FAMILY_DEBIAN, "admin", "apt-get" },
};

static const struct family *
family_find(enum userdata_family f)
{
	size_t i;

	for (i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		if (families[i].family == f)
			return &families[i];
	return NULL;
}

enum userdata_family
userdata_image_family(const char *image)
{
	size_t i, n;

	if (image == NULL)
		return USERDATA_FAMILY_UNKNOWN;
	for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		n = strlen(families[i].prefix);
		if (families[i].exact ? strcmp(image, families[i].prefix) == 0 :
		    strncmp(image, families[i].prefix, n) == 0 && image[n] != '\0')
			return families[i].family;
	}
	return USERDATA_FAMILY_UNKNOWN;
}

const char *
userdata_family_user(enum userdata_family f)
{
	const struct family *fam = family_find(f);

	return fam != NULL ? fam->user : NULL;
}

/*
 * Checks of values that the script uses as names, not just as quoted data.
 */
static int
all_of(const char *s, const char *first, const char *rest, size_t max)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > max || strchr(first, s[0]) == NULL)
		return 0;
	for (i = 1; i < n; i++)
		if (strchr(rest, s[i]) == NULL)
			return 0;
	return 1;
}

#define LOWER	"abcdefghijklmnopqrstuvwxyz"
#define UPPER	"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define DIGIT	"0123456789"

int
userdata_env_name_ok(const char *s)
{
	return all_of(s, LOWER UPPER "_", LOWER UPPER DIGIT "_", 255);
}

int
userdata_package_ok(const char *s)
{
	return all_of(s, LOWER UPPER DIGIT, LOWER UPPER DIGIT ".+_:~=-", 255);
}

static int
user_ok(const char *s)
{
	return all_of(s, LOWER "_", LOWER DIGIT "_-", 32);
}

static int
id_ok(const char *s)
{
	return all_of(s, LOWER UPPER DIGIT, LOWER UPPER DIGIT "-", 64);
}

static int
name_ok(const char *s)
{
	return all_of(s, LOWER UPPER DIGIT, LOWER UPPER DIGIT "._-", 63);
}

/* One line of printable text: no control characters at all. */
static int
line_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static int
url_ok(const char *s)
{
	if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
		return 0;
	return line_ok(s) && strchr(s, ' ') == NULL;
}

/*
 * Quoting.
 */
int
userdata_shell_quote(struct buf *b, const char *s)
{
	int error;

	error = buf_addch(b, '\'');
	for (; error == 0 && *s != '\0'; s++) {
		if (*s == '\'')
			error = buf_addstr(b, "'\\''");
		else
			error = buf_addch(b, *s);
	}
	if (error == 0)
		error = buf_addch(b, '\'');
	return error;
}

/* NAME='value'\n */
static int
assign(struct buf *b, const char *name, const char *value)
{
	int error;

	if ((error = buf_printf(b, "%s=", name)) == 0 &&
	    (error = userdata_shell_quote(b, value != NULL ? value : "")) == 0)
		error = buf_addch(b, '\n');
	return error;
}

/* NAME=('v1' 'v2' ...)\n, one element per line */
static int
assign_array(struct buf *b, const char *name, const char *const *v, size_t n)
{
	size_t i;
	int error;

	error = buf_printf(b, "%s=(", name);
	for (i = 0; error == 0 && i < n; i++) {
		if ((error = buf_addstr(b, "\n  ")) == 0)
			error = userdata_shell_quote(b, v[i]);
	}
	if (error == 0)
		error = buf_addstr(b, n > 0 ? "\n)\n" : ")\n");
	return error;
}

/* ENVIRONMENT=('NAME=value' ...) from the spec's sorted map. */
static int
assign_environment(struct buf *b, const struct spec *spec)
{
	const struct spec_kv *kv = spec->bootstrap.environment;
	struct buf one;
	size_t i;
	int error;

	buf_init(&one, SCRIPT_MAX);
	error = buf_addstr(b, "ENVIRONMENT=(");
	for (i = 0; error == 0 && i < spec->bootstrap.nenvironment; i++) {
		buf_reset(&one);
		if ((error = buf_printf(&one, "%s=%s", kv[i].key, kv[i].value)) != 0)
			break;
		if ((error = buf_addstr(b, "\n  ")) == 0)
			error = userdata_shell_quote(b, buf_cstr(&one));
	}
	if (error == 0)
		error = buf_addstr(b, spec->bootstrap.nenvironment > 0 ? "\n)\n" : ")\n");
	buf_dispose(&one);
	return error;
}

static int
check_inputs(const struct spec *spec, const struct userdata_params *p,
    const char *user)
{
	size_t i;

	if (!name_ok(spec->name)) {
		err_set("user-data: spec name is not a valid environment name");
		return ERR_INVALID;
	}
	if (p->env_id == NULL || !id_ok(p->env_id)) {
		err_set("user-data for %s: the environment id must be 1 to 64 "
		    "letters, digits and '-'", spec->name);
		return ERR_INVALID;
	}
	if (p->public_key == NULL || !line_ok(p->public_key)) {
		err_set("user-data for %s: the public key must be one line of text",
		    spec->name);
		return ERR_INVALID;
	}
	if (p->marker_url == NULL || !url_ok(p->marker_url) ||
	    (p->secrets_url != NULL && !url_ok(p->secrets_url))) {
		err_set("user-data for %s: presigned URLs must be http(s) URLs "
		    "without blanks or control characters", spec->name);
		return ERR_INVALID;
	}
	if (spec->instance.market == SPEC_MARKET_SPOT &&
	    (p->interrupt_url == NULL || !url_ok(p->interrupt_url))) {
		err_set("user-data for %s: a spot spec needs the presigned http(s) "
		    "URL of its interrupted marker", spec->name);
		return ERR_INVALID;
	}
	if (spec->bootstrap.nsecrets > 0 && p->secrets_url == NULL) {
		err_set("user-data for %s: the spec has secrets but no presigned "
		    "URL to fetch them was given", spec->name);
		return ERR_INVALID;
	}
	if (user != NULL && !user_ok(user)) {
		err_set("user-data for %s: '%s' is not a valid user name", spec->name,
		    user);
		return ERR_INVALID;
	}
	for (i = 0; i < spec->bootstrap.nenvironment; i++)
		if (!userdata_env_name_ok(spec->bootstrap.environment[i].key)) {
			err_set("user-data for %s: environment variable %zu has an "
			    "invalid name (use [A-Za-z_][A-Za-z0-9_]*)", spec->name, i + 1);
			return ERR_INVALID;
		}
	for (i = 0; i < spec->bootstrap.npackages; i++)
		if (!userdata_package_ok(spec->bootstrap.system_packages[i])) {
			err_set("user-data for %s: system package %zu has an invalid "
			    "name", spec->name, i + 1);
			return ERR_INVALID;
		}
	return 0;
}

/*
 * The script's fixed part.  It refers to spec values only through the
 * variables assigned above it, always in double quotes.
 */
static const char script_body[] =
"LOG=\"$ENVCTL_ROOT/var/log/envctl-bootstrap.log\"\n"
"STATE=\"$ENVCTL_ROOT/var/lib/envctl\"\n"
"SECRETS_FILE=\"$STATE/secrets.env\"\n"
"mkdir -p \"$ENVCTL_ROOT/var/log\" \"$STATE\"\n"
"chmod 0700 \"$STATE\"\n"
"touch \"$LOG\"\n"
"chmod 0600 \"$LOG\"\n"
"exec >>\"$LOG\" 2>&1\n"
"ENVCTL_LINE=0\n"
"ENVCTL_MARKED=\n"
"CURL=(curl -fsS --globoff --retry 5 --retry-delay 3 --retry-connrefused --max-time 60)\n"
"\n"
"log() { printf 'envctl-bootstrap: %s: %s\\n' \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\" \"$*\"; }\n"
"\n"
"# marker STATUS LINE CODE: PUT the marker JSON with the host key fingerprints.\n"
"marker() {\n"
"  local f=\"$STATE/marker.json\" sep='' k out fp t kt kb\n"
"  {\n"
"    printf '{\"version\":1,\"env_id\":\"%s\",\"env\":\"%s\",\"status\":\"%s\",\"line\":%d,\"exit_code\":%d,\"host_keys\":[' \\\n"
"      \"$ENV_ID\" \"$ENV_NAME\" \"$1\" \"$2\" \"$3\"\n"
"    for k in \"$ENVCTL_ROOT\"/etc/ssh/ssh_host_*_key.pub; do\n"
"      [ -f \"$k\" ] || continue\n"
"      out=$(ssh-keygen -l -E sha256 -f \"$k\") || continue\n"
"      fp=${out#* }; fp=${fp%% *}; t=${out##*(}; t=${t%)}\n"
"      [[ $fp =~ ^SHA256:[A-Za-z0-9+/]{43}$ && $t =~ ^[A-Z0-9-]{1,16}$ ]] || continue\n"
"      read -r kt kb _ <\"$k\" || continue\n"
"      [[ $kt =~ ^[a-z0-9@.-]{1,64}$ && $kb =~ ^[A-Za-z0-9+/]{1,8192}={0,2}$ ]] || continue\n"
"      printf '%s{\"type\":\"%s\",\"fingerprint\":\"%s\",\"key\":\"%s %s\"}' \"$sep\" \"$t\" \"$fp\" \"$kt\" \"$kb\"\n"
"      sep=,\n"
"    done\n"
"    printf ']}\\n'\n"
"  } >\"$f\"\n"
"  \"${CURL[@]}\" -X PUT -H 'Content-Type: application/json' --data-binary @\"$f\" \"$MARKER_URL\"\n"
"  ENVCTL_MARKED=1\n"
"}\n"
"\n"
"finish() {\n"
"  local code=$?\n"
"  trap - ERR EXIT\n"
"  set +e\n"
"  rm -f \"$SECRETS_FILE\"\n"
"  if [ \"$code\" -ne 0 ] && [ -z \"$ENVCTL_MARKED\" ]; then\n"
"    log \"failed with status $code at line $ENVCTL_LINE\"\n"
"    marker error \"$ENVCTL_LINE\" \"$code\"\n"
"  fi\n"
"  exit \"$code\"\n"
"}\n"
"trap 'ENVCTL_LINE=$LINENO' ERR\n"
"trap finish EXIT\n"
"\n"
"pkg_install() {\n"
"  [ \"$#\" -gt 0 ] || return 0\n"
"  case \"$PKG\" in\n"
"  apt-get)\n"
"    export DEBIAN_FRONTEND=noninteractive\n"
"    apt-get -o DPkg::Lock::Timeout=600 update -q\n"
"    apt-get -o DPkg::Lock::Timeout=600 install -y -q \"$@\" ;;\n"
"  *) \"$PKG\" install -y \"$@\" ;;\n"
"  esac\n"
"}\n"
"\n"
"log \"start: env $ENV_NAME id $ENV_ID\"\n"
"if [ -z \"$PKG\" ]; then\n"
"  if command -v dnf >/dev/null; then PKG=dnf\n"
"  elif command -v yum >/dev/null; then PKG=yum\n"
"  else PKG=apt-get; fi\n"
"fi\n"
"if [ -z \"$LOGIN_USER\" ]; then\n"
"  LOGIN_USER=$(getent passwd 1000 | cut -d: -f1)\n"
"fi\n"
"USER_HOME=$(getent passwd \"$LOGIN_USER\" | cut -d: -f6)\n"
"[ -n \"$USER_HOME\" ]\n"
"\n"
"log \"authorized key for $LOGIN_USER\"\n"
"SSH_DIR=\"$ENVCTL_ROOT$USER_HOME/.ssh\"\n"
"install -d -m 0700 \"$SSH_DIR\"\n"
"touch \"$SSH_DIR/authorized_keys\"\n"
"chmod 0600 \"$SSH_DIR/authorized_keys\"\n"
"if ! grep -qxF -- \"$PUBLIC_KEY\" \"$SSH_DIR/authorized_keys\"; then\n"
"  printf '%s\\n' \"$PUBLIC_KEY\" >>\"$SSH_DIR/authorized_keys\"\n"
"fi\n"
"chown -R \"$LOGIN_USER:\" \"$SSH_DIR\"\n"
"\n"
"log \"packages\"\n"
"WANT=()\n"
"if [ -n \"$IMAGE\" ]; then\n"
"  if [ \"$PKG\" = apt-get ]; then WANT+=(docker.io); else WANT+=(docker); fi\n"
"fi\n"
"if [ -n \"$REPO_URL\" ]; then WANT+=(git); fi\n"
"pkg_install ${WANT[@]+\"${WANT[@]}\"} ${PACKAGES[@]+\"${PACKAGES[@]}\"}\n"
"\n"
"if [ -n \"$SECRETS_URL\" ]; then\n"
"  log \"secrets\"\n"
"  (umask 077; \"${CURL[@]}\" -o \"$SECRETS_FILE\" \"$SECRETS_URL\")\n"
"fi\n"
"\n"
"WORKSPACE=\"$ENVCTL_ROOT$USER_HOME\"\n"
"if [ -n \"$REPO_URL\" ]; then\n"
"  WORKSPACE=\"$ENVCTL_ROOT$USER_HOME/workspace\"\n"
"  if [ ! -d \"$WORKSPACE/.git\" ]; then\n"
"    log \"clone\"\n"
"    BRANCH=()\n"
"    if [ -n \"$REPO_BRANCH\" ]; then BRANCH=(--branch \"$REPO_BRANCH\"); fi\n"
"    git clone ${BRANCH[@]+\"${BRANCH[@]}\"} -- \"$REPO_URL\" \"$WORKSPACE\"\n"
"    chown -R \"$LOGIN_USER:\" \"$WORKSPACE\"\n"
"  fi\n"
"fi\n"
"\n"
"if [ -n \"$IMAGE\" ]; then\n"
"  log \"docker\"\n"
"  systemctl enable --now docker\n"
"  usermod -aG docker \"$LOGIN_USER\"\n"
"  docker pull \"$IMAGE\"\n"
"  docker rm -f envctl >/dev/null 2>&1 || true\n"
"  RUN=(docker run -d --name envctl --restart unless-stopped --network host)\n"
"  for e in ${ENVIRONMENT[@]+\"${ENVIRONMENT[@]}\"}; do RUN+=(-e \"$e\"); done\n"
"  if [ -n \"$SECRETS_URL\" ]; then RUN+=(--env-file \"$SECRETS_FILE\"); fi\n"
"  RUN+=(-v \"$WORKSPACE:/workspace\" -w /workspace --entrypoint tail \"$IMAGE\" -f /dev/null)\n"
"  \"${RUN[@]}\"\n"
"  rm -f \"$SECRETS_FILE\"\n"
"  i=0\n"
"  for cmd in ${SETUP[@]+\"${SETUP[@]}\"}; do\n"
"    i=$((i + 1))\n"
"    log \"setup $i in the container\"\n"
"    docker exec -w /workspace envctl sh -c \"$cmd\"\n"
"  done\n"
"else\n"
"  (\n"
"    cd \"$WORKSPACE\"\n"
"    for e in ${ENVIRONMENT[@]+\"${ENVIRONMENT[@]}\"}; do export \"$e\"; done\n"
"    if [ -f \"$SECRETS_FILE\" ]; then\n"
"      while IFS= read -r e || [ -n \"$e\" ]; do\n"
"        case \"$e\" in ''|'#'*) continue ;; esac\n"
"        export \"$e\"\n"
"      done <\"$SECRETS_FILE\"\n"
"      rm -f \"$SECRETS_FILE\"\n"
"    fi\n"
"    i=0\n"
"    for cmd in ${SETUP[@]+\"${SETUP[@]}\"}; do\n"
"      i=$((i + 1))\n"
"      log \"setup $i on the host\"\n"
"      runuser -u \"$LOGIN_USER\" -- bash -c \"$cmd\"\n"
"    done\n"
"  )\n"
"  rm -f \"$SECRETS_FILE\"\n"
"fi\n"
"\n";

/* After the watcher block (if any): wait for sshd, then marker ready. */
static const char script_end[] =
"\n"
"# marker ready means sshd answers here: ssh-keyscan of the local sshd, for\n"
"# up to ENVCTL_SSHD_WAIT seconds (tests shorten it; 300 on an instance).\n"
"log \"sshd\"\n"
"SSHD_WAIT=\"${ENVCTL_SSHD_WAIT:-300}\"\n"
"SSHD_T0=$SECONDS\n"
"until ssh-keyscan -T 2 -p 22 127.0.0.1 2>/dev/null | grep -q '^127'; do\n"
"  if [ $((SECONDS - SSHD_T0)) -ge \"$SSHD_WAIT\" ]; then\n"
"    log \"sshd does not answer on 127.0.0.1:22\"\n"
"    false\n"
"  fi\n"
"  sleep 2\n"
"done\n"
"\n"
"[ -z \"${IDLE_STOP:-}\" ] || idle_install\n"
"log \"done\"\n"
"marker ready 0 0\n";

/*
 * service_start(), emitted once when a watcher is in force (idle, spot):
 * the watcher as a systemd service enabled at boot, so that it runs again
 * after a stop and start or a reboot; where there is no systemd (or in a
 * test's sandbox, without $ENVCTL_ROOT/run/systemd/system) a background
 * process until the next boot.  The unit names the watcher's path on the
 * instance (without the test's ENVCTL_ROOT).
 */
static const char service_fn[] =
"# service_start NAME DESCRIPTION PATH [ARG...]: a watcher as a service.\n"
"service_start() {\n"
"  local name=$1 desc=$2 u=\"$ENVCTL_ROOT/etc/systemd/system/$1.service\"\n"
"  shift 2\n"
"  if [ -d \"$ENVCTL_ROOT/run/systemd/system\" ] && command -v systemctl >/dev/null; then\n"
"    mkdir -p \"${u%/*}\"\n"
"    printf '[Unit]\\nDescription=%s\\nAfter=network-online.target\\n[Service]\\nExecStart=%s\\n"
"Restart=on-failure\\nRestartSec=5\\n[Install]\\nWantedBy=multi-user.target\\n' \\\n"
"      \"$desc\" \"${*#\"$ENVCTL_ROOT\"}\" >\"$u\"\n"
"    systemctl daemon-reload\n"
"    systemctl enable --now \"$name.service\"\n"
"  else\n"
"    log \"no systemd: $name runs until the next boot only\"\n"
"    ENVCTL_ROOT=\"$ENVCTL_ROOT\" setsid \"$@\" </dev/null >>\"$LOG\" 2>&1 &\n"
"  fi\n"
"}\n";

/*
 * The idle watcher (lifecycle.idle_stop, §6.7): IDLE_STOP and IDLE_ACTION
 * assigned, and idle_install(), which the body calls before the ready
 * marker, writes /usr/local/sbin/envctl-idle and starts it with
 * service_start() (a systemd service enabled at boot).  The watcher
 * powers the machine off once no TCP connection to port 22 has been
 * established (ss; who where ss is missing) and the 1-minute load has
 * stayed under ENVCTL_IDLE_LOAD hundredths per CPU (10) for IDLE_STOP
 * seconds, after a wall warning 10 minutes before; activity resets its
 * clock.  Tests and benchmarks set
 * ENVCTL_IDLE_INTERVAL (seconds between checks, 60), ENVCTL_IDLE_CLOCK (a
 * file holding the epoch time) and ENVCTL_IDLE_LOADAVG (/proc/loadavg).
 * Nothing is emitted when idle_stop_s is 0.
 */
static const char idle_watcher[] =
"# idle_install: the idle watcher (lifecycle.idle_stop), a systemd service\n"
"# so that it runs again after every boot (a stop and start included).\n"
"idle_install() {\n"
"  local f=\"$ENVCTL_ROOT/usr/local/sbin/envctl-idle\"\n"
"  log \"idle watcher: $IDLE_ACTION after ${IDLE_STOP}s idle\"\n"
"  mkdir -p \"${f%/*}\"\n"
"  cat >\"$f\" <<'ENVCTL_IDLE'\n"
"#!/bin/bash\n"
"# envctl-idle LIMIT ACTION: power off once no SSH connection has been open\n"
"# and the 1-min load has stayed under 0.1 per CPU for LIMIT seconds.\n"
"LIMIT=$1 ACTION=$2 T=\"${ENVCTL_IDLE_INTERVAL:-60}\" C=\"${ENVCTL_IDLE_CLOCK:-}\"\n"
"LA=\"${ENVCTL_IDLE_LOADAVG:-/proc/loadavg}\" F=\"${ENVCTL_ROOT:-}/run/envctl-idle.ss\"\n"
"mkdir -p \"${F%/*}\"\n"
"MAX=$(( $(nproc) * ${ENVCTL_IDLE_LOAD:-10} ))\n"
"now() { if [ -n \"$C\" ]; then read -r N <\"$C\"; else printf -v N '%(%s)T' -1; fi; }\n"
"busy() {\n"
"  local l\n"
"  if command -v ss >/dev/null; then ss -Htn state established '( sport = :22 )' >\"$F\"\n"
"  else who >\"$F\"; fi\n"
"  [ -s \"$F\" ] && return 0\n"
"  read -r l _ <\"$LA\"; l=${l/./}; [ $((10#$l)) -ge \"$MAX\" ]\n"
"}\n"
"now; A=$N; W=\n"
"echo \"envctl-idle: $ACTION after ${LIMIT}s idle\"\n"
"while :; do\n"
"  sleep \"$T\"; now\n"
"  if busy; then\n"
"    [ -z \"$W\" ] || wall \"envctl: activity again: no idle $ACTION for now\"\n"
"    A=$N W=; continue\n"
"  fi\n"
"  I=$((N - A))\n"
"  if [ \"$I\" -ge \"$LIMIT\" ]; then\n"
"    echo \"envctl-idle: idle ${I}s: $ACTION\"\n"
"    shutdown -h now \"envctl: idle ${I}s, $ACTION\"; exit 0\n"
"  fi\n"
"  if [ -z \"$W\" ] && [ \"$I\" -ge $((LIMIT - 600)) ]; then\n"
"    W=1; wall \"envctl: idle $((I / 60)) min: this machine will $ACTION in $(((LIMIT - I + 59) / 60)) min unless an SSH session opens or the load rises\"\n"
"  fi\n"
"done\n"
"ENVCTL_IDLE\n"
"  chmod 0755 \"$f\"\n"
"  service_start envctl-idle \"envctl idle watcher\" \"$f\" \"$IDLE_STOP\" \"$IDLE_ACTION\"\n"
"}\n";

static int
render_idle_watcher(struct buf *b, const struct spec *spec,
    const struct userdata_params *p)
{
	int error = 0;
	char secs[32];

	if (p->idle_stop_s <= 0)
		return 0;
	snprintf(secs, sizeof(secs), "%lld", p->idle_stop_s);
	error |= assign(b, "IDLE_STOP", secs);
	error |= assign(b, "IDLE_ACTION", spec->lifecycle.on_idle ==
	    SPEC_IDLE_TERMINATE ? "terminate" : "stop");
	error |= buf_addstr(b, idle_watcher);
	return error;
}

/*
 * The spot interruption watcher (docs/design.md §6.7.1), installed only
 * for spot specs.  The bootstrap writes it to /usr/local/sbin with its
 * values copied by `declare -p` (bash's own re-readable quoting), then
 * starts it with service_start() (a systemd service, or in the
 * background where systemd is absent).  It polls IMDSv2 every
 * ENVCTL_WATCH_POLL (5) seconds at ENVCTL_IMDS (http://169.254.169.254); on a spot instance-action or a
 * rebalance recommendation it runs the on_interruption commands once per
 * kind, as the login user in the workspace, under timeout(1), warns the
 * logged-in users with wall, and PUTs the interrupted marker.  After an
 * instance-action it exits; after a rebalance it keeps watching.
 */
static const char watcher_body[] =
"set -u\n"
"IMDS=\"${ENVCTL_IMDS:-http://169.254.169.254}\"\n"
"POLL=\"${ENVCTL_WATCH_POLL:-5}\"\n"
"ST=\"$ENVCTL_ROOT/var/lib/envctl\"\n"
"exec >>\"$ENVCTL_ROOT/var/log/envctl-spot-watcher.log\" 2>&1\n"
"echo $$ >\"$ST/spot-watcher.pid\"\n"
"log() { printf 'envctl-spot-watcher: %s: %s\\n' \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\" \"$*\"; }\n"
"TOKEN= TOKEN_AT=0\n"
"# imds PATH: the body on stdout when IMDS answers 200; 1 otherwise (404:\n"
"# nothing; anything else also drops the token, e.g. a 401 for an expired one).\n"
"imds() {\n"
"  local code\n"
"  if [ -z \"$TOKEN\" ] || [ $((SECONDS - TOKEN_AT)) -ge 300 ]; then\n"
"    TOKEN=$(curl -fs --max-time 2 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 600' \"$IMDS/latest/api/token\") || { TOKEN=; return 1; }\n"
"    TOKEN_AT=$SECONDS\n"
"  fi\n"
"  code=$(curl -s --max-time 2 -o \"$ST/imds.body\" -w '%{http_code}' -H \"X-aws-ec2-metadata-token: $TOKEN\" \"$IMDS/latest/meta-data/$1\") || code=000\n"
"  if [ \"$code\" = 200 ]; then cat \"$ST/imds.body\"; return 0; fi\n"
"  [ \"$code\" = 404 ] || TOKEN=\n"
"  return 1\n"
"}\n"
"# field NAME JSON: a string field's value if it is plain ([A-Za-z0-9:.+-]).\n"
"field() {\n"
"  local v\n"
"  v=$(printf '%s' \"$2\" | sed -n 's/.*\"'\"$1\"'\" *: *\"\\([A-Za-z0-9:.+-]\\{1,40\\}\\)\".*/\\1/p' | head -n 1)\n"
"  printf '%s' \"$v\"\n"
"}\n"
"# act KIND ACTION TIME: save, warn, tell the controller.  Once per kind.\n"
"act() {\n"
"  local rc=0 home ws f=\"$ST/interrupted-$1.json\"\n"
"  [ -e \"$ST/interrupted-$1.done\" ] && return 0\n"
"  : >\"$ST/interrupted-$1.done\"\n"
"  log \"$1 notice (action '$2', time '$3')\"\n"
"  if command -v wall >/dev/null; then\n"
"    wall \"envctl: this spot instance has a $1 notice (time $3): it will be replaced; save your work now\" || true\n"
"  fi\n"
"  if [ \"${#ON_INTERRUPTION[@]}\" -gt 0 ]; then\n"
"    home=$(getent passwd \"$LOGIN_USER\" | cut -d: -f6) || home=\n"
"    ws=\"$ENVCTL_ROOT$home\"\n"
"    [ -d \"$ws/workspace\" ] && ws=\"$ws/workspace\"\n"
"    timeout -k 5 \"$INTERRUPT_TIMEOUT\" runuser -u \"$LOGIN_USER\" -- bash -c \\\n"
"      'cd \"$1\" || exit 1; shift; rc=0; for c; do bash -c \"$c\" || rc=$?; done; exit $rc' \\\n"
"      envctl-on-interruption \"$ws\" \"${ON_INTERRUPTION[@]}\" || rc=$?\n"
"    [ \"$rc\" -le 255 ] || rc=255\n"
"    log \"on_interruption commands ended with status $rc\"\n"
"  fi\n"
"  printf '{\"version\":1,\"env_id\":\"%s\",\"env\":\"%s\",\"status\":\"interrupted\",\"kind\":\"%s\",\"action\":\"%s\",\"notice_time\":\"%s\",\"exit_code\":%d}\\n' \\\n"
"    \"$ENV_ID\" \"$ENV_NAME\" \"$1\" \"$2\" \"$3\" \"$rc\" >\"$f\"\n"
"  curl -fsS --globoff --retry 3 --retry-delay 1 --retry-connrefused --max-time 10 -X PUT \\\n"
"    -H 'Content-Type: application/json' --data-binary @\"$f\" \"$INTERRUPT_URL\" || log \"marker PUT failed\"\n"
"}\n"
"log \"watching $IMDS every ${POLL}s\"\n"
"while :; do\n"
"  if body=$(imds spot/instance-action); then\n"
"    act interruption \"$(field action \"$body\")\" \"$(field time \"$body\")\"\n"
"    log \"done: the instance is going away\"\n"
"    exit 0\n"
"  fi\n"
"  if body=$(imds events/recommendations/rebalance); then\n"
"    act rebalance '' \"$(field noticeTime \"$body\")\"\n"
"  fi\n"
"  sleep \"$POLL\"\n"
"done\n";

static const char watcher_install[] =
"log \"spot interruption watcher\"\n"
"WATCHER=\"$ENVCTL_ROOT/usr/local/sbin/envctl-spot-watcher\"\n"
"mkdir -p \"${WATCHER%/*}\"\n"
"(umask 077; {\n"
"  printf '#!/bin/bash\\n# envctl spot interruption watcher for %s; generated, do not edit.\\n' \"$ENV_NAME\"\n"
"  declare -p ENVCTL_ROOT ENV_NAME ENV_ID LOGIN_USER INTERRUPT_URL INTERRUPT_TIMEOUT ON_INTERRUPTION\n"
"  printf '%s' \"$WATCHER_BODY\"\n"
"} >\"$WATCHER\")\n"
"chmod 0700 \"$WATCHER\"\n"
"service_start envctl-spot-watcher \"envctl spot interruption watcher\" \"$WATCHER\"\n";

/* The watcher's values and its installation; nothing for on-demand specs. */
static int
render_interruption_watcher(struct buf *b, const struct spec *spec,
    const struct userdata_params *p)
{
	int error = 0;

	if (spec->instance.market != SPEC_MARKET_SPOT)
		return 0;
	error |= buf_addstr(b, "\n# interruption watcher (spot)\n");
	error |= assign(b, "INTERRUPT_URL", p->interrupt_url);
	error |= buf_printf(b, "INTERRUPT_TIMEOUT=%lld\n",
	    spec->lifecycle.on_interruption_timeout_s > 0 ?
	    spec->lifecycle.on_interruption_timeout_s : 90);
	error |= assign_array(b, "ON_INTERRUPTION", spec->lifecycle.on_interruption,
	    spec->lifecycle.non_interruption);
	error |= assign(b, "WATCHER_BODY", watcher_body);
	error |= buf_addstr(b, watcher_install);
	return error;
}

static int
render_script(struct buf *b, const struct spec *spec,
    const struct userdata_params *p, const char *user, const char *pkg)
{
	int error = 0;

	error |= buf_addstr(b, "#!/bin/bash\n");
	error |= buf_printf(b, "# envctl bootstrap for %s (%s); generated, do not edit.\n",
	    spec->name, p->env_id);
	error |= buf_addstr(b, "set -Eeuo pipefail\numask 022\n"
	    "# Tests set ENVCTL_ROOT; on an instance it is unset and paths are /.\n"
	    "ENVCTL_ROOT=\"${ENVCTL_ROOT:-}\"\n");
	error |= assign(b, "ENV_NAME", spec->name);
	error |= assign(b, "ENV_ID", p->env_id);
	error |= assign(b, "LOGIN_USER", user);
	error |= assign(b, "PKG", pkg);
	error |= assign(b, "PUBLIC_KEY", p->public_key);
	error |= assign(b, "MARKER_URL", p->marker_url);
	error |= assign(b, "SECRETS_URL", p->secrets_url);
	error |= assign(b, "IMAGE", spec->bootstrap.docker_image);
	error |= assign(b, "REPO_URL", spec->bootstrap.repo_url);
	error |= assign(b, "REPO_BRANCH", spec->bootstrap.repo_branch);
	error |= assign_array(b, "PACKAGES", spec->bootstrap.system_packages,
	    spec->bootstrap.npackages);
	error |= assign_environment(b, spec);
	error |= assign_array(b, "SETUP", spec->bootstrap.setup, spec->bootstrap.nsetup);
	if (p->idle_stop_s > 0 || spec->instance.market == SPEC_MARKET_SPOT)
		error |= buf_addstr(b, service_fn);
	error |= render_idle_watcher(b, spec, p);
	error |= buf_addstr(b, script_body);
	error |= render_interruption_watcher(b, spec, p);
	error |= buf_addstr(b, script_end);
	return error != 0 ? ERR_LIMIT : 0;
}

char *
userdata_base64(const char *data, size_t len, size_t *b64len)
{
	if (len > SCRIPT_MAX)
		abort();	/* callers bound their input */
	return base64_encode(data, len, b64len);
}

int
userdata_render(char **script, char **base64, const struct spec *spec,
    const struct userdata_params *p)
{
	struct buf b;
	const struct family *fam;
	const char *user, *pkg;
	char *b64 = NULL;
	size_t b64len;
	int error;

	if (script != NULL)
		*script = NULL;
	if (base64 != NULL)
		*base64 = NULL;
	buf_init(&b, SCRIPT_MAX);
	fam = family_find(userdata_image_family(spec->instance.image));
	user = p->default_user != NULL ? p->default_user :
	    fam != NULL ? fam->user : NULL;
	pkg = fam != NULL ? fam->pkg : NULL;
	if ((error = check_inputs(spec, p, user)) != 0)
		goto out;
	if ((error = render_script(&b, spec, p, user, pkg)) != 0) {
		err_set("user-data for %s is over %d bytes: shorten setup or "
		    "environment", spec->name, SCRIPT_MAX);
		goto out;
	}
	if (b.len > USERDATA_RAW_MAX) {
		err_set("user-data for %s is %zu bytes; EC2's limit is %d before "
		    "base64: shorten setup or environment", spec->name, b.len,
		    USERDATA_RAW_MAX);
		error = ERR_LIMIT;
		goto out;
	}
	b64 = userdata_base64(b.ptr, b.len, &b64len);
	if (base64 != NULL) {
		*base64 = b64;
		b64 = NULL;
	}
	if (script != NULL)
		*script = buf_detach(&b, NULL);
out:
	free(b64);
	buf_dispose(&b);
	return error;
}

int
userdata_secrets_render(char **out, const char *const *names,
    const char *const *values, size_t n)
{
	struct buf b;
	size_t i;
	int error = 0;

	*out = NULL;
	buf_init_secret(&b, SCRIPT_MAX);
	for (i = 0; i < n; i++) {
		if (!userdata_env_name_ok(names[i])) {
			err_set("secret %zu has an invalid name", i + 1);
			error = ERR_INVALID;
			goto out;
		}
		if (strchr(values[i], '\n') != NULL || strchr(values[i], '\r') != NULL) {
			err_set("secret %s has a line break, which an env file cannot hold",
			    names[i]);
			error = ERR_INVALID;
			goto out;
		}
		if ((error = buf_printf(&b, "%s=%s\n", names[i], values[i])) != 0) {
			err_set("secrets are over %d bytes", SCRIPT_MAX);
			goto out;
		}
	}
	*out = buf_detach(&b, NULL);
out:
	buf_dispose(&b);
	return error;
}
