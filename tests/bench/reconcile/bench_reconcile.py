#!/usr/bin/env python3
"""bench_reconcile.py - N specs from empty to all launched through the fault
proxy with EC2's published rate limits, then a no-op pass.  Prints figures.

    tests/harness/with-pg.sh tests/harness/with-aws.sh \\
        python3 tests/bench/reconcile/bench_reconcile.py ENVCTL N SCALE

Rate limits (per EC2's documentation), every refill multiplied by SCALE:
RunInstances bucket 5 refill 2/s; other mutating EC2 calls bucket 50
refill 5/s; Describe* bucket 100 refill 20/s (S3 is not limited).  envctl
is given the same scaled limits as ec2_rate_limits
(ENVCTL_EC2_RATE_LIMITS), so it paces its calls instead of being
throttled; BENCH_LIMITS=off runs it unpaced for comparison.

The lower bound on wall time is, over every class, (calls - bucket) /
(refill x SCALE); the figure of merit is wall time / bound (target <= 1.1)
with zero failed actions and, when paced, zero throttled answers.

The no-op pass over N ready environments is timed with the AWS calls it
made (from the proxy's log), and the same EC2 calls are then replayed raw,
one curl each (signed by curl's --aws-sigv4), for comparison.

Environment: BENCH_PARALLEL (max_parallel, default 8), BENCH_LIMITS
(default: the scaled limits), BENCH_CPU=1 also samples moto's and the
proxy's CPU use during the launch.
"""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

ENVCTL, N, SCALE = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
PROXY = os.environ["ENVCTL_PROXY_URL"]
MOTO = os.environ["ENVCTL_MOTO_URL"]
# Proxy keys per class (service-qualified so S3 is left out), in lookup order.
LIMITS = [("run", "RunInstances", 5, 2.0), ("describe", "ec2:Describe*", 100, 20.0),
          ("mutate", "ec2:*", 50, 5.0)]


def proxy(path, body=None):
    req = urllib.request.Request(PROXY + path, method="POST" if body is not None else "GET",
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read() or b"{}")


def klass(action):
    if action == "RunInstances":
        return "run"
    return "describe" if action.startswith("Describe") else "mutate"


def psql(sql):
    out = subprocess.run(["psql", "-X", "-At", "-c", sql], capture_output=True, text=True)
    return out.stdout.strip()


def ec2_entries(log):
    return [e for e in log if e.get("service") == "ec2"]


def pid_of(port):
    """The pid of the process listening on 127.0.0.1:port (from /proc)."""
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            p = line.split()
            if p[3] == "0A" and int(p[1].split(":")[1], 16) == port:
                inode = p[9]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir("/proc/%s/fd" % pid):
                if os.readlink("/proc/%s/fd/%s" % (pid, fd)) == "socket:[%s]" % inode:
                    return int(pid)
        except OSError:
            continue
    return None


def cpu_seconds(pid):
    if pid is None:
        return 0.0
    with open("/proc/%d/stat" % pid) as f:
        p = f.read().rsplit(")", 1)[1].split()
    return (int(p[11]) + int(p[12])) / os.sysconf("SC_CLK_TCK")


scaled = "run=5:%g,mutate=50:%g,describe=100:%g" % (2 * SCALE, 5 * SCALE, 20 * SCALE)
limits = os.environ.get("BENCH_LIMITS", scaled)
specs = tempfile.mkdtemp(prefix="envctl-bench-")
for i in range(N):
    with open(os.path.join(specs, "b%04d.yaml" % i), "w") as f:
        f.write("apiVersion: envctl/v1\nkind: Environment\nmetadata: {name: b%04d}\n"
                "spec:\n  instance: {type: t3.micro}\n"
                "  access: {ssh: {allow_from: [203.0.113.7/32]}}\n" % i)
env = dict(os.environ, ENVCTL_SPECS=specs, ENVCTL_S3_BUCKET="bench", ENVCTL_CLUSTER_ID="bench",
           ENVCTL_READY_CHECKS="status", ENVCTL_AWS_MAX_ATTEMPTS="10",
           ENVCTL_EC2_RATE_LIMITS=limits,
           ENVCTL_MAX_PARALLEL=os.environ.get("BENCH_PARALLEL", "8"))
subprocess.run(["aws", "--endpoint-url", MOTO, "s3api", "create-bucket", "--bucket", "bench"],
               check=True, capture_output=True)
subprocess.run([ENVCTL, "migrate"], env=env, check=True, capture_output=True)
proxy("/__proxy/config", {"idempotency": True, "rate_scale": SCALE,
                          "rate_limits": {k: {"burst": b, "rate": r} for _, k, b, r in LIMITS}})
proxy("/__proxy/log/clear", {})

procs = {"moto": pid_of(urllib.parse.urlsplit(MOTO).port),
         "proxy": pid_of(urllib.parse.urlsplit(PROXY).port)}
cpu0 = {k: cpu_seconds(p) for k, p in procs.items()}
t0 = time.monotonic()
passes, pass_walls = 0, []
while True:
    passes += 1
    tp = time.monotonic()
    r = subprocess.run([ENVCTL, "reconcile", "--once", "-o", "json"], env=env,
                       capture_output=True, text=True)
    pass_walls.append(time.monotonic() - tp)
    if r.returncode == 1:
        sys.stderr.write(r.stderr[-2000:])
    launched = int(psql("SELECT count(*) FROM environments WHERE instance_id IS NOT NULL "
                        "AND terminated_at IS NULL") or 0)
    if launched >= N or passes > 20:
        break
wall = time.monotonic() - t0
cpu = {k: cpu_seconds(p) - cpu0[k] for k, p in procs.items()}
log = ec2_entries(proxy("/__proxy/log")["entries"])
calls, throttled, actions = {}, {}, {}
for e in log:
    c = klass(e["action"])
    calls[c] = calls.get(c, 0) + 1
    actions[e["action"]] = actions.get(e["action"], 0) + 1
    if e.get("fault") == "throttled":
        throttled[c] = throttled.get(c, 0) + 1
# Answered calls only count against the bound: a throttled one used no token.
bounds = {}
for name, _, b, rate in LIMITS:
    used = calls.get(name, 0) - throttled.get(name, 0)
    bounds[name] = max(0, used - b) / (rate * SCALE)
bound = max(bounds.values())
failed = int(psql("SELECT count(*) FROM environments WHERE status = 'error'") or 0)
first = min(e["time"] for e in log) if log else 0
last = max(e["time"] for e in log) if log else 0
print("launch: %d specs, scale %g, ec2_rate_limits %s, max_parallel %s" %
      (N, SCALE, limits, env["ENVCTL_MAX_PARALLEL"]))
print("  passes %d (%s s), wall %.1f s (first to last EC2 call %.1f s)" %
      (passes, ", ".join("%.1f" % w for w in pass_walls), wall, last - first))
print("  EC2 calls by class %s; by action %s" % (calls, dict(sorted(actions.items()))))
print("  throttled answers %d %s; rows in error %d" % (sum(throttled.values()), throttled, failed))
print("  bound by class %s -> bound %.1f s; wall/bound %.2f" %
      ({k: round(v, 1) for k, v in bounds.items()}, bound, wall / bound if bound else 0))
if os.environ.get("BENCH_CPU", "1") == "1":
    print("  CPU seconds during the launch: moto %.1f (%.0f%% of one core), proxy %.1f (%.0f%%)"
          % (cpu["moto"], 100 * cpu["moto"] / wall, cpu["proxy"], 100 * cpu["proxy"] / wall))

# Make everything ready, then time a no-op pass.
subprocess.run([ENVCTL, "reconcile", "--once", "--wait", "120s"], env=env, capture_output=True)
ready = int(psql("SELECT count(*) FROM environments WHERE status = 'ready'") or 0)
proxy("/__proxy/log/clear", {})
t0 = time.monotonic()
r = subprocess.run([ENVCTL, "reconcile", "--once"], env=env, capture_output=True, text=True)
noop = time.monotonic() - t0
full = proxy("/__proxy/log")["entries"]
print("no-op pass over %d environments (%d ready): exit %d, wall %.2f s, AWS calls %d: %s" %
      (N, ready, r.returncode, noop, len(full),
       ", ".join("%s %s" % (e["service"], e["action"]) for e in full)))
# The same EC2 calls, raw: one curl each, straight after one another.
raw_calls, t1 = 0, time.monotonic()
for e in ec2_entries(full):
    form = urllib.parse.urlencode(sorted(e["params"].items()))
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                          "--aws-sigv4", "aws:amz:us-east-1:ec2",
                          "--user", "%s:%s" % (os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                                               os.environ.get("AWS_SECRET_ACCESS_KEY", "testing")),
                          "-H", "Content-Type: application/x-www-form-urlencoded",
                          "--data", form, PROXY + "/"], capture_output=True, text=True)
    raw_calls += 1
    if out.stdout != "200":
        print("  raw replay of %s: HTTP %s" % (e["action"], out.stdout))
raw = time.monotonic() - t1
print("  the same %d EC2 calls raw (curl, one process each): %.2f s; envctl's pass "
      "%.2f s = %.2f s above the raw calls" % (raw_calls, raw, noop, noop - raw))
