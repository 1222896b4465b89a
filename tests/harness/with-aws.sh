#!/bin/sh
# with-aws.sh COMMAND [ARG...] - run COMMAND with a local AWS API server.
#
# Starts moto_server and tests/harness/faultproxy.py in front of it, each on
# a free 127.0.0.1 port, waits until both answer, then runs COMMAND with:
#   AWS_ENDPOINT_URL       http://127.0.0.1:<proxy port>   (through the proxy)
#   ENVCTL_PROXY_URL       same URL; control API under /__proxy/
#   ENVCTL_MOTO_URL        http://127.0.0.1:<moto port>    (direct, no faults)
#   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (dummies), AWS_REGION=us-east-1
# The proxy runs in strict mode (faultproxy.py --strict: EC2 and S3 refuse
# what moto accepts, see STRICT in faultproxy.py), kept across
# /__proxy/reset: that is the default (ENVCTL_STRICT unset, empty or 1);
# ENVCTL_STRICT='{"console_seconds": 5, ...}' does the same with those
# settings.  ENVCTL_STRICT=0 starts it lenient, as moto is (only for a
# check of the proxy itself; a test can still post {"strict": false}).
# Both servers are stopped by pid when this script exits, pass or fail;
# the exit status is COMMAND's.  Logs go to $ENVCTL_AWS_LOGDIR (a temp dir
# by default, removed on exit unless ENVCTL_KEEP_LOGS=1).
#
# Scripting the proxy from a test (see faultproxy.py for the config keys):
#   curl -s -X POST -d '{}' "$ENVCTL_PROXY_URL/__proxy/reset"     # + moto reset
#   curl -s -X POST -d '{"faults":[{"action":"RunInstances","nth":1,"drop":"after"}]}' \
#       "$ENVCTL_PROXY_URL/__proxy/config"
#   curl -s "$ENVCTL_PROXY_URL/__proxy/log?action=RunInstances"   # JSON entries
set -u

if [ $# -eq 0 ]; then
	echo "usage: with-aws.sh command [arg...]" >&2
	exit 64
fi

here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
moto_pid=
proxy_pid=
pid=
logdir=${ENVCTL_AWS_LOGDIR:-$(mktemp -d "${TMPDIR:-/tmp}/envctl-aws.XXXXXX")}
own_logdir=${ENVCTL_AWS_LOGDIR:+no}

cleanup() {
	for p in $pid $proxy_pid $moto_pid; do
		kill "$p" 2>/dev/null
	done
	for p in $pid $proxy_pid $moto_pid; do
		wait "$p" 2>/dev/null
	done
	if [ -z "$own_logdir" ] && [ "${ENVCTL_KEEP_LOGS:-0}" != 1 ]; then
		rm -rf "$logdir"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	"$py" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_http() {	# url what pid
	i=0
	while [ $i -lt 150 ]; do
		if ! kill -0 "$3" 2>/dev/null; then
			echo "with-aws.sh: $2 exited during start-up" >&2
			return 1
		fi
		if "$py" -c 'import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=1).read()' "$1" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	echo "with-aws.sh: $2 did not answer at $1" >&2
	return 1
}

# A free port can be taken between the probe and the bind: try again.
start() {	# what logname command...
	what=$1 log=$2
	shift 2
	tries=0
	while :; do
		port=$(free_port)
		"$@" "$port" >"$logdir/$log" 2>&1 &
		pid=$!
		url=$(printf "$health" "$port")
		if wait_http "$url" "$what" "$pid" 2>/dev/null; then
			return 0
		fi
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		tries=$((tries + 1))
		if [ $tries -ge 3 ]; then
			echo "with-aws.sh: $what did not start (see below)" >&2
			cat "$logdir/$log" >&2
			return 1
		fi
	done
}

moto_cmd() { exec moto_server -H 127.0.0.1 -p "$1"; }
health="http://127.0.0.1:%s/moto-api/data.json"
start moto_server moto.log moto_cmd || exit 1
moto_pid=$pid moto_port=$port

# ENVCTL_PROXY_RECORD_DIR (set by ctest for integration tests): every
# request through the proxy is recorded there for tests/harness/conformance.py.
record=
if [ -n "${ENVCTL_PROXY_RECORD_DIR:-}" ]; then
	mkdir -p "$ENVCTL_PROXY_RECORD_DIR" &&
	    record="$ENVCTL_PROXY_RECORD_DIR/proxy-$$.jsonl"
fi
proxy_cmd() {
	case ${ENVCTL_STRICT:-1} in
	0)	exec "$py" "$here/faultproxy.py" --upstream "http://127.0.0.1:$moto_port" \
		    --listen-port "$1" ${record:+--record "$record"} ;;
	1)	exec "$py" "$here/faultproxy.py" --upstream "http://127.0.0.1:$moto_port" \
		    --listen-port "$1" ${record:+--record "$record"} --strict ;;
	*)	exec "$py" "$here/faultproxy.py" --upstream "http://127.0.0.1:$moto_port" \
		    --listen-port "$1" ${record:+--record "$record"} --strict "$ENVCTL_STRICT" ;;
	esac
}
health="http://127.0.0.1:%s/__proxy/health"
start faultproxy proxy.log proxy_cmd || exit 1
proxy_pid=$pid proxy_port=$port

export AWS_ENDPOINT_URL="http://127.0.0.1:$proxy_port"
export ENVCTL_PROXY_URL="http://127.0.0.1:$proxy_port"
export ENVCTL_MOTO_URL="http://127.0.0.1:$moto_port"
export AWS_ACCESS_KEY_ID=AKIDEXAMPLETESTONLY
export AWS_SECRET_ACCESS_KEY=testonly-not-a-secret
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN
export AWS_CONFIG_FILE=/dev/null
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true

"$@"
status=$?
exit $status
