#!/usr/bin/env python3
"""bench_reconcile.py - N specs from empty to all launched through the fault
proxy with EC2's published rate limits, then a no-op pass.  Prints figures.

    tests/harness/with-pg.sh tests/harness/with-aws.sh \\
        python3 tests/bench/reconcile/bench_reconcile.py ENVCTL N SCALE

Rate limits (per EC2's documentation), all multiplied by SCALE:
RunInstances bucket 5 refill 2/s; other mutating calls bucket 50 refill
5/s; Describe* bucket 100 refill 20/s.  The lower bound on wall time is,
over every class, (calls - bucket) / (refill x SCALE); the figure of merit
is wall time / bound (target <= 1.1) with zero failed actions.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

ENVCTL, N, SCALE = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
PROXY = os.environ["ENVCTL_PROXY_URL"]
MOTO = os.environ["ENVCTL_MOTO_URL"]
LIMITS = {"RunInstances": (5, 2.0), "Describe*": (100, 20.0), "*": (50, 5.0)}


def proxy(path, body=None):
    req = urllib.request.Request(PROXY + path, method="POST" if body is not None else "GET",
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"{}")


def klass(action):
    if action == "RunInstances":
        return "RunInstances"
    return "Describe*" if action.startswith("Describe") else "*"


specs = tempfile.mkdtemp(prefix="envctl-bench-")
for i in range(N):
    with open(os.path.join(specs, "b%04d.yaml" % i), "w") as f:
        f.write("apiVersion: envctl/v1\nkind: Environment\nmetadata: {name: b%04d}\n"
                "spec:\n  instance: {type: t3.micro}\n"
                "  access: {ssh: {allow_from: [203.0.113.7/32]}}\n" % i)
env = dict(os.environ, ENVCTL_SPECS=specs, ENVCTL_S3_BUCKET="bench", ENVCTL_CLUSTER_ID="bench",
           ENVCTL_READY_CHECKS="status", ENVCTL_AWS_MAX_ATTEMPTS="10",
           ENVCTL_MAX_PARALLEL=os.environ.get("BENCH_PARALLEL", "8"))
subprocess.run(["aws", "--endpoint-url", MOTO, "s3api", "create-bucket", "--bucket", "bench"],
               check=True, capture_output=True)
subprocess.run([ENVCTL, "migrate"], env=env, check=True, capture_output=True)
proxy("/__proxy/config", {"idempotency": True, "rate_scale": SCALE,
                          "rate_limits": {k: {"burst": b, "rate": r} for k, (b, r) in LIMITS.items()}})
proxy("/__proxy/log/clear", {})
t0 = time.monotonic()
passes = 0
while True:
    passes += 1
    r = subprocess.run([ENVCTL, "reconcile", "--once", "-o", "json"], env=env,
                       capture_output=True, text=True)
    launched = int(subprocess.run(["psql", "-X", "-At", "-c",
                                   "SELECT count(*) FROM environments WHERE instance_id IS NOT NULL"],
                                  capture_output=True, text=True).stdout.strip() or 0)
    if launched >= N or passes > 20:
        break
wall = time.monotonic() - t0
log = proxy("/__proxy/log")["entries"]
calls, throttled = {}, 0
for e in log:
    if e.get("service") == "s3" or e.get("action", "").startswith(("Put", "Get", "Head", "Delete", "List")) and e.get("service") != "ec2":
        continue
    c = klass(e["action"])
    calls[c] = calls.get(c, 0) + 1
    throttled += e.get("status") == 503
bound = max(max(0, calls.get(k, 0) - b) / (r * SCALE) for k, (b, r) in LIMITS.items())
failed = int(subprocess.run(["psql", "-X", "-At", "-c",
                             "SELECT count(*) FROM environments WHERE status = 'error'"],
                            capture_output=True, text=True).stdout.strip() or 0)
print("launch: %d specs, %d passes, wall %.1f s, EC2 calls %s, throttled answers %d, "
      "bound %.1f s, wall/bound %.2f, rows in error %d" %
      (N, passes, wall, calls, throttled, bound, wall / bound if bound else 0, failed))
# Make everything ready, then time a no-op pass.
subprocess.run([ENVCTL, "reconcile", "--once", "--wait", "60s"], env=env, capture_output=True)
proxy("/__proxy/log/clear", {})
t0 = time.monotonic()
r = subprocess.run([ENVCTL, "reconcile", "--once"], env=env, capture_output=True, text=True)
noop = time.monotonic() - t0
log = proxy("/__proxy/log")["entries"]
t1 = time.monotonic()
subprocess.run(["aws", "--endpoint-url", PROXY, "ec2", "describe-instances", "--max-results", "1000",
                "--filters", "Name=tag:envctl:cluster,Values=bench", "--output", "json"],
               capture_output=True)
raw = time.monotonic() - t1
print("no-op pass over %d ready environments: exit %d, %.2f s, AWS calls %s; "
      "raw DescribeInstances by the aws CLI %.2f s" %
      (N, r.returncode, noop, sorted(e["action"] for e in log), raw))
