#!/usr/bin/env python3
"""bench_failover.py - failover time after SIGSTOP of the leader: two
`envctl run` controllers of one cluster; the leader is stopped (SIGSTOP),
and the time until the standby's /healthz says leader is measured; the
stopped one is then killed and a new standby started.  N failovers
(default 10); prints each, the mean and the max (docs/benchmarks.md,
Failover).

    ENVCTL_BIN=build/controller/envctl tests/harness/with-pg.sh \\
        tests/harness/with-aws.sh python3 tests/bench/lease/bench_failover.py [N]

Environment: BENCH_LEASE (leader_lease, default 15s).  The bound is the
lease + 1 s (a standby looks every second) after the leader's last
renewal, which is at most lease/3 before the stop: so between
2/3 x lease and lease + 1 s after the stop.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "harness"))
from itlib import ENVCTL, SPEC, free_port, psql  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10
LEASE = os.environ.get("BENCH_LEASE", "15s")
CL = "bench-failover"


def role(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=1) as r:
            return json.loads(r.read() or b"{}").get("role")
    except urllib.error.HTTPError as e:
        return json.loads(e.read() or b"{}").get("role")
    except OSError:
        return None


def start(specs):
    port = free_port()
    env = dict(os.environ, ENVCTL_LEADER_LEASE=LEASE)
    p = subprocess.Popen([ENVCTL, "run", "--listen", "127.0.0.1:%d" % port, "--specs", specs,
                          "--cluster-id", CL, "--resync-interval", "1h"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    p.port = port
    return p


def wait_role(p, want, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if role(p.port) == want:
            return time.monotonic()
        time.sleep(0.01)
    return None


def main():
    subprocess.run([ENVCTL, "migrate"], check=True, capture_output=True)
    specs = tempfile.mkdtemp(prefix="envctl-bench-failover-")
    with open(os.path.join(specs, "one.yaml"), "w") as f:
        f.write(SPEC.format(name="one", on_drift="report"))
    ctl = [start(specs)]
    if wait_role(ctl[0], "leader", 30) is None:
        sys.exit("the first controller never leads")
    ctl.append(start(specs))
    took = []
    try:
        for i in range(N):
            leader = next(c for c in ctl if role(c.port) == "leader")
            standby = next(c for c in ctl if c is not leader)
            if wait_role(standby, "standby", 30) is None:
                sys.exit("no standby")
            renewed = psql("SELECT extract(epoch FROM now() - renewed_at) FROM leader_lease "
                           "WHERE cluster_id = '%s'" % CL).strip()
            leader.send_signal(signal.SIGSTOP)
            t0 = time.monotonic()
            t1 = wait_role(standby, "leader", 120)
            if t1 is None:
                sys.exit("failover %d: the standby never leads" % (i + 1))
            took.append(t1 - t0)
            print("failover %2d: %6.2f s (last renewal %.2f s before the stop)"
                  % (i + 1, t1 - t0, float(renewed or 0)), flush=True)
            leader.kill()
            leader.wait()
            ctl.remove(leader)
            ctl.append(start(specs))
    finally:
        for c in ctl:
            c.send_signal(signal.SIGCONT)
            c.terminate()
            c.wait()
    print("leader_lease %s, %d failovers after SIGSTOP: mean %.2f s, max %.2f s, min %.2f s"
          % (LEASE, len(took), sum(took) / len(took), max(took), min(took)))


if __name__ == "__main__":
    main()
