#!/usr/bin/env python3
"""bench_spot.py - time from a spot interruption marker to the
replacement's RunInstances, under `envctl run`.  Prints figures.

    tests/harness/with-pg.sh tests/harness/with-aws.sh \\
        python3 tests/bench/spot/bench_spot.py ENVCTL RUNS RESYNC [SPOT_RESYNC]

RUNS spot environments (spot.fallback: on-demand) are launched by one
`envctl run` (resync_interval RESYNC, spot_resync_interval SPOT_RESYNC,
default 30s; durations in seconds, "30s") against moto behind the fault
proxy and left to become ready.  Then, one at a time, at a random
moment, the marker an instance's watcher would send is PUT to the
presigned URL of its user-data (read with the aws CLI), as the watcher
does, through the proxy; the figure is, from the proxy's log, the time
from that PUT to the next RunInstances (the replacement's).  Between
runs the fleet is left to settle (nothing waiting), so each marker lands
at an arbitrary point of the resync cycle.
"""
import base64
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ENVCTL, RUNS, RESYNC = sys.argv[1], int(sys.argv[2]), sys.argv[3]
SPOT_RESYNC = sys.argv[4] if len(sys.argv) > 4 else "30s"
# the interval the loop is on while the fleet has spot instances
CYCLE = float(RESYNC.rstrip("s"))
if float(SPOT_RESYNC.rstrip("s")) > 0:
    CYCLE = min(CYCLE, float(SPOT_RESYNC.rstrip("s")))
PROXY = os.environ["ENVCTL_PROXY_URL"]
MOTO = os.environ["ENVCTL_MOTO_URL"]
BUCKET = "envctl-bench-spot"
CLUSTER = "bench-spot"
SPEC = """apiVersion: envctl/v1
kind: Environment
metadata: {name: NAME, workspace: bench}
spec:
  instance: {type: t3.micro, image: al2023, market: spot, spot: {fallback: on-demand}}
  access: {ssh: {key: auto, allow_from: [203.0.113.7/32]}}
  lifecycle: {on_interruption: ["git push -q"]}
"""


def aws(*args):
    r = subprocess.run(["aws", "--endpoint-url", MOTO, "--region", "us-east-1",
                        "--output", "json", *args], capture_output=True, text=True, check=True)
    return json.loads(r.stdout) if r.stdout.strip() else {}


def proxy_log():
    with urllib.request.urlopen(PROXY + "/__proxy/log", timeout=60) as r:
        return json.loads(r.read())["entries"]


def psql(sql):
    return subprocess.run(["psql", "-X", "-At", "-c", sql], capture_output=True,
                          text=True, check=True).stdout.strip()


def rows():
    out = psql("SELECT name, id, status, coalesce(instance_id, ''), coalesce(market, '') "
               "FROM environments WHERE status <> 'terminated' ORDER BY name")
    return [dict(zip(("name", "id", "status", "instance_id", "market"), ln.split("|")))
            for ln in out.splitlines() if ln]


def wait_for(pred, secs):
    end = time.time() + secs
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    return None


def interrupt_url(iid):
    ud = aws("ec2", "describe-instance-attribute", "--instance-id", iid,
             "--attribute", "userData")["UserData"]["Value"]
    for line in base64.b64decode(ud).decode().splitlines():
        if line.startswith("INTERRUPT_URL='"):
            return line[len("INTERRUPT_URL='"):-1]
    raise SystemExit("no INTERRUPT_URL in the user-data of %s" % iid)


def main():
    aws("s3api", "create-bucket", "--bucket", BUCKET)
    specs = tempfile.mkdtemp(prefix="envctl-bench-spot-")
    env = dict(os.environ, ENVCTL_SPECS=specs, ENVCTL_CLUSTER_ID=CLUSTER,
               ENVCTL_S3_BUCKET=BUCKET, ENVCTL_READY_CHECKS="status", ENVCTL_LISTEN="",
               ENVCTL_RESYNC_INTERVAL=RESYNC, ENVCTL_SPOT_RESYNC_INTERVAL=SPOT_RESYNC,
               ENVCTL_CONFIG="/dev/null")
    subprocess.run([ENVCTL, "migrate"], env=env, check=True, capture_output=True)
    names = ["sp%d" % i for i in range(RUNS)]
    for n in names:
        with open(os.path.join(specs, n + ".yaml"), "w") as f:
            f.write(SPEC.replace("NAME", n))
    log = open(specs + ".log", "w+")
    proc = subprocess.Popen([ENVCTL, "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
    delays = []
    try:
        ok = wait_for(lambda: len([r for r in rows() if r["status"] == "ready"]) == RUNS, 300)
        if not ok:
            raise SystemExit("the spot fleet did not become ready")
        for n in names:
            # settle: nothing waiting, the loop back on its resync timer
            time.sleep(random.uniform(6, 6 + 2 * CYCLE))
            r = [x for x in rows() if x["name"] == n][0]
            url = interrupt_url(r["instance_id"])
            body = json.dumps({"version": 1, "env_id": r["id"], "env": n,
                               "status": "interrupted", "kind": "interruption",
                               "action": "terminate", "notice_time": "", "exit_code": 0})
            seen = len(proxy_log())
            subprocess.run(["curl", "-fsS", "-X", "PUT", "-H", "Content-Type: application/json",
                            "--data-binary", body, url], check=True)

            def run_after():
                es = proxy_log()[seen:]
                put = [e for e in es if e["method"] == "PUT" and "/interrupted/" in e["path"]]
                ri = [e for e in es if e["action"] == "RunInstances" and put and
                      e["time"] > put[0]["time"]]
                return (put[0]["time"], ri[0]["time"]) if put and ri else None
            t = wait_for(run_after, 3 * CYCLE + 60)
            if t is None:
                raise SystemExit("no RunInstances after the marker of %s" % n)
            delays.append(t[1] - t[0])
            print("run %d (%s): marker PUT -> RunInstances %.2f s" % (len(delays), n, delays[-1]),
                  flush=True)
            wait_for(lambda: all(x["status"] == "ready" for x in rows()), 120)
        markets = sorted(x["market"] for x in rows())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
    print("resync_interval %s, spot_resync_interval %s, %d runs: mean %.2f s, median %.2f s, "
          "min %.2f s, max %.2f s" % (RESYNC, SPOT_RESYNC, len(delays), statistics.mean(delays), statistics.median(delays),
             min(delays), max(delays)))
    print("replacements' markets: %s" % markets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
