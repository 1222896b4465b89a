#!/usr/bin/env python3
"""bench_memory.py - peak RSS of a pass over N specs, N rows, N instances.

A benchmark, not a test: prints figures.  Run it under the harness:

    tests/harness/with-pg.sh tests/harness/with-aws.sh \\
        python3 tests/bench/memory/bench_memory.py ENVCTL[,ENVCTL2...] [N] [PASSES]

Several binaries (comma-separated, e.g. before and after a change) are
measured one after the other against the same world.

It builds a converged world with independent clients: N specs in a temp
directory, N tagged running instances in moto (boto3 straight to moto,
one RunInstances per instance with every envctl tag at launch) and N
`ready`/`DONE` rows with every column a ready environment has (psql
COPY).  Then:

  reconcile  `envctl reconcile --once` (s3_bucket set, ready_checks=status,
             so the action side runs: a no-op plan over N ready
             environments), twice; peak RSS from GNU time (/usr/bin/time,
             Debian package "time"), i.e. wait4()'s ru_maxrss.
  run        `envctl run`, PASSES passes (each triggered by touching a
             spec); VmRSS after each pass's "done" line and VmHWM at the
             end, read from /proc/PID/status.

With --standin, moto holds one of the N instances and envctl's EC2 calls
go to ec2_standin.py instead, which answers DescribeInstances with the N
instances (rendered from moto's answer for that one): moto needs minutes
per DescribeInstances page at 10,000 instances, past envctl's timeout.
A converged pass makes no other AWS call.

With `--then CMD...` after the arguments, CMD runs in the world instead of
the measurements (ENVCTL_SPECS, ENVCTL_S3_BUCKET, ... set), e.g. envctl
under `valgrind --tool=massif`.

Every pass must plan only no-ops (checked from envctl's JSON and from the
rows with psql), so the figures are those of a converged fleet of N.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3

ARGS, THEN = (sys.argv[:sys.argv.index("--then")], sys.argv[sys.argv.index("--then") + 1:]) \
    if "--then" in sys.argv else (sys.argv, None)
STANDIN = "--standin" in ARGS
ARGS = [a for a in ARGS if a != "--standin"]
BINS = [os.path.abspath(b) for b in ARGS[1].split(",")]
ENVCTL = BINS[0]
N = int(ARGS[2]) if len(ARGS) > 2 else 10000
PASSES = int(ARGS[3]) if len(ARGS) > 3 else 5
MOTO = os.environ["ENVCTL_MOTO_URL"]
CLUSTER = "bench-mem"
BUCKET = "bench-mem"

SPEC = """apiVersion: envctl/v1
kind: Environment
metadata: {{name: {name}, workspace: bench, labels: {{team: web}}}}
spec:
  instance: {{type: t3.small, image: al2023, disk: {{size_gb: 20}}}}
  access: {{ssh: {{key: auto, allow_from: [203.0.113.7/32]}}, ports: [{{port: 8080, allow_from: [203.0.113.0/24]}}]}}
  bootstrap: {{docker_image: "node:20-bookworm", setup: ["npm ci"], environment: {{NODE_ENV: development}}}}
  lifecycle: {{ttl: 8h}}
  tags: {{cost-center: "1234"}}
"""


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, check=True, **kw)


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def build_world(specs):
    names = ["m%05d" % i for i in range(N)]
    for n in names:
        with open(os.path.join(specs, n + ".yaml"), "w") as f:
            f.write(SPEC.format(name=n))
    r = subprocess.run([ENVCTL, "validate", "-o", "json", specs], capture_output=True, text=True)
    files = json.loads(r.stdout)["files"]
    hashes = {f["name"]: f["hash"] for f in files if f.get("hash")}
    if len(hashes) != N:
        sys.exit("validate: %d of %d specs valid: %s" % (len(hashes), N, r.stdout[:400]))
    run([ENVCTL, "migrate"])
    ec2 = boto3.client("ec2", endpoint_url=MOTO, region_name="us-east-1")
    s3 = boto3.client("s3", endpoint_url=MOTO, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    env_ids = {n: str(uuid.uuid4()) for n in names}

    def launch(n):
        """One RunInstances per instance, tags at launch: moto pages
        DescribeInstances by reservation, so a reservation of 1,000 would
        come back as one page of 1,000 x 1,000."""
        tags = [{"Key": k, "Value": v} for k, v in [
            ("envctl:managed", "true"), ("envctl:cluster", CLUSTER),
            ("envctl:env", n), ("envctl:env-id", env_ids[n]),
            ("envctl:spec-hash", hashes[n]), ("envctl:workspace", "bench"),
            ("Name", "envctl-" + n), ("cost-center", "1234")]]
        out = ec2.run_instances(ImageId=image, InstanceType="t3.small", MinCount=1, MaxCount=1,
                                TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
        i = out["Instances"][0]
        return i["InstanceId"], i.get("SubnetId", "subnet-0bench")
    t0 = time.time()
    if STANDIN:
        ids = [launch(names[0])] + [("i-%017x" % (0xbe0000 + k), "subnet-0bench")
                                    for k in range(1, N)]
    else:
        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(launch, names))
    t1 = time.time()
    rev = "5f0c6e1d2b3a49788f6e5d4c3b2a1908f7e6d5c4"
    rows = ["\t".join([env_ids[n], n, "bench", hashes[n], rev, "ready", "DONE", iid,
                       "198.51.%d.%d" % (k // 250, 1 + k % 250),
                       "envctl/%s/id_ed25519" % env_ids[n], "sg-%017x" % k, image,
                       "on-demand", subnet, "us-east-1", "1", "0.0208", "now", "now"])
            for k, (n, (iid, subnet)) in enumerate(zip(names, ids))]
    run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
         "COPY environments (id, name, workspace, spec_hash, spec_revision, status, stage, "
         "instance_id, public_ip, ssh_key_s3_key, security_group_id, ami_id, market, "
         "subnet_id, region, attempts, cost_per_hour_usd, launched_at, ready_at) FROM STDIN"],
        input="\n".join(rows) + "\n")
    print("setup: %d specs; %d instances in moto (RunInstances, %.1f s); %d rows"
          % (N, len(ids), t1 - t0, len(rows)), flush=True)


def env_for(specs):
    return dict(os.environ, ENVCTL_SPECS=specs, ENVCTL_S3_BUCKET=BUCKET,
                ENVCTL_CLUSTER_ID=CLUSTER, ENVCTL_READY_CHECKS="status",
                ENVCTL_AWS_MAX_ATTEMPTS="10", ENVCTL_MAX_TERMINATIONS_PER_PASS="0")


def reconcile_once(env):
    """(exit code, seconds, peak RSS kB, parsed JSON) of one reconcile --once.

    The peak is GNU time's %M (wait4's ru_maxrss).  It is not read from
    python's own wait4: Linux keeps the larger of the process's RSS before
    and after exec, and before exec a child of this python (boto3 loaded)
    is this python, about 90 MB.  time(1) is small, so its child is too."""
    with tempfile.NamedTemporaryFile("r", prefix="envctl-bench-mem-") as tf:
        t = time.monotonic()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", tf.name,
                            ENVCTL, "reconcile", "--once", "-o", "json"], env=env,
                           capture_output=True, text=True)
        took = time.monotonic() - t
        peak = int(tf.read().split()[-1])
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        doc = None
        print("reconcile stderr:", p.stderr[-2000:])
    return p.returncode, took, peak, doc


def summary(doc):
    """converged and the number of actions run, from envctl's JSON."""
    if not isinstance(doc, dict):
        return "no JSON"
    acts = sum(len(p.get("actions", [])) for p in doc.get("passes", []))
    return "converged %s, actions run %d" % (doc.get("converged"), acts)


def envctl_run(env, specs):
    p = subprocess.Popen([ENVCTL, "run", "--listen", "127.0.0.1:0", "--resync-interval", "1h"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = []
    threading.Thread(target=lambda: [lines.append(l) for l in p.stderr], daemon=True).start()

    def wait_line(text, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(text in l for l in lines):
                return True
            if p.poll() is not None:
                return False
            time.sleep(0.05)
        return False
    rss, times = [], []
    try:
        for i in range(1, PASSES + 1):
            t = time.monotonic()
            if i > 1:
                os.utime(os.path.join(specs, "m%05d.yaml" % (i % N)))
            if not wait_line("pass=%d done" % i, 1800):
                print("envctl run: pass %d did not finish; last lines:\n%s" %
                      (i, "".join(lines[-20:])))
                break
            times.append(time.monotonic() - t)
            time.sleep(0.5)
            rss.append(status_kb(p.pid, "VmRSS"))
        hwm = status_kb(p.pid, "VmHWM")
        failed = [l for l in lines if "FAILED" in l]
    finally:
        p.send_signal(signal.SIGTERM)
        code = p.wait(120)
    return rss, hwm, times, failed, code


def standin(specs, env):
    """Start ec2_standin.py on a free port; env then points envctl at it."""
    first = run(["psql", "-X", "-At", "-c",
                 "SELECT instance_id FROM environments ORDER BY name LIMIT 1"]).stdout.strip()
    req = urllib.request.Request(MOTO + "/", data=("Action=DescribeInstances&Version=2016-11-15"
                                                   "&InstanceId.1=" + first).encode(),
                                 headers={"Content-Type": "application/x-www-form-urlencoded",
                                          "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLETESTONLY/"
                                          "20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, "
                                          "Signature=0"})
    tmpl = os.path.join(specs + ".xml")
    with urllib.request.urlopen(req, timeout=60) as r, open(tmpl, "wb") as f:
        f.write(r.read())
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "ec2_standin.py"),
                          tmpl, str(port)], stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line.startswith("ready %d" % N):
        sys.exit("ec2_standin.py: " + line)
    env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:%d" % port
    print("EC2 stand-in on port %d with %d instances" % (port, N), flush=True)
    return p, tmpl


def main():
    specs = tempfile.mkdtemp(prefix="envctl-bench-mem-")
    sp, tmpl = None, None
    try:
        build_world(specs)
        env = env_for(specs)
        if STANDIN:
            sp, tmpl = standin(specs, env)
        if THEN:
            sys.exit(subprocess.run(THEN, env=env).returncode)
        global ENVCTL
        for b in BINS:
            ENVCTL = b
            print("== %s" % b, flush=True)
            for i in range(2):
                code, took, peak, doc = reconcile_once(env)
                print("reconcile --once #%d: exit %d, %.1f s, peak RSS %.1f MB, %s" %
                      (i + 1, code, took, peak / 1024.0, summary(doc)), flush=True)
            rss, hwm, times, failed, code = envctl_run(env, specs)
            print("envctl run: %d passes (%s s), RSS after each pass %s MB, peak %.1f MB, "
                  "failed passes %d, exit %s" %
                  (len(rss), ", ".join("%.1f" % t for t in times),
                   ", ".join("%.1f" % (r / 1024.0) for r in rss), hwm / 1024.0, len(failed), code),
                  flush=True)
        live = run(["psql", "-X", "-At", "-c", "SELECT status, count(*) FROM environments "
                    "GROUP BY status ORDER BY 1"]).stdout.split()
        print("rows after the passes (psql): %s" % " ".join(live))
    finally:
        if sp is not None:
            sp.kill()
            sp.wait()
            os.unlink(tmpl)
        shutil.rmtree(specs, ignore_errors=True)


if __name__ == "__main__":
    main()
