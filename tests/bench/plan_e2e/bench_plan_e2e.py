#!/usr/bin/env python3
"""bench_plan_e2e.py - `envctl plan` over 1,000 specs, rows and instances.

A benchmark, not a test: prints figures.  Run it under the harness:

    tests/harness/with-pg.sh tests/harness/with-aws.sh \
        python3 tests/bench/plan_e2e/bench_plan_e2e.py build/controller/envctl [N] [ROUNDS]

It builds the world with independent clients (boto3 straight to moto, psql
for rows), then times, in the same run and alternating rounds:
  envctl   `envctl plan -o json` (reads specs, PostgreSQL and EC2, plans)
  raw      the requests plan needs, made by hand: every DescribeInstances
           page with curl (through the same proxy) and the live rows with psql
and reports the AWS calls envctl made (from the proxy's request log).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

import boto3

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "harness"))
from itlib import proxy  # noqa: E402

ENVCTL = os.path.abspath(sys.argv[1])
N = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 5
MOTO = os.environ["ENVCTL_MOTO_URL"]
PROXY = os.environ["ENVCTL_PROXY_URL"]
CLUSTER = "bench"

SPEC = """apiVersion: envctl/v1
kind: Environment
metadata: {{name: {name}, workspace: bench}}
spec:
  instance: {{type: t3.small, image: al2023, disk: {{size_gb: 20}}}}
  access: {{ssh: {{key: auto, allow_from: [203.0.113.7/32]}}, ports: [{{port: 8080, allow_from: [203.0.113.0/24]}}]}}
  bootstrap: {{docker_image: "node:20-bookworm", setup: ["npm ci"], environment: {{NODE_ENV: development}}}}
  lifecycle: {{ttl: 8h}}
"""


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, check=True, **kw)


def main():
    specs = tempfile.mkdtemp(prefix="envctl-bench-plan-")
    names = ["env-%04d" % i for i in range(N)]
    for n in names:
        with open(os.path.join(specs, n + ".yaml"), "w") as f:
            f.write(SPEC.format(name=n))
    hashes = {f["name"]: f["hash"] for f in
              json.loads(subprocess.run([ENVCTL, "validate", "-o", "json", specs],
                                        capture_output=True, text=True).stdout)["files"]}
    run([ENVCTL, "migrate"])

    ec2 = boto3.client("ec2", endpoint_url=MOTO, region_name="us-east-1")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ids = {n: str(uuid.uuid4()) for n in names}
    rows = []
    t0 = time.time()
    for n in names:
        tags = [{"Key": k, "Value": v} for k, v in [
            ("envctl:managed", "true"), ("envctl:cluster", CLUSTER), ("envctl:env", n),
            ("envctl:env-id", ids[n]), ("envctl:spec-hash", hashes[n]),
            ("envctl:workspace", "bench"), ("Name", "envctl-" + n)]]
        out = ec2.run_instances(ImageId=image, InstanceType="t3.small", MinCount=1, MaxCount=1,
                                TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
        rows.append("%s\t%s\tbench\t%s\tready\tDONE\t%s\t0\t0.0208" %
                    (ids[n], n, hashes[n], out["Instances"][0]["InstanceId"]))
    print("setup: %d instances in moto in %.1f s" % (N, time.time() - t0))
    copy = ("COPY environments (id, name, workspace, spec_hash, status, stage, instance_id, "
            "attempts, cost_per_hour_usd) FROM STDIN")
    run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", copy], input="\n".join(rows) + "\n")

    envctl_cmd = [ENVCTL, "plan", "-o", "json", "--specs", specs, "--cluster-id", CLUSTER]
    body = ("Action=DescribeInstances&Version=2016-11-15&MaxResults=1000"
            "&Filter.1.Name=tag%3Aenvctl%3Acluster&Filter.1.Value.1=" + CLUSTER +
            "&Filter.2.Name=instance-state-name&Filter.2.Value.1=pending"
            "&Filter.2.Value.2=running&Filter.2.Value.3=shutting-down"
            "&Filter.2.Value.4=stopping&Filter.2.Value.5=stopped")
    auth = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLETESTONLY/20260101/us-east-1/ec2/aws4_request, "
            "SignedHeaders=host, Signature=0")

    def raw():
        token, pages = None, 0
        while True:
            b = body + ("&NextToken=" + urllib.parse.quote(token, safe="") if token else "")
            out = run(["curl", "-sS", "-X", "POST", "-H", "Authorization: " + auth,
                       "-H", "Content-Type: application/x-www-form-urlencoded",
                       "--data-binary", b, PROXY + "/"]).stdout
            pages += 1
            i = out.find("<nextToken>")
            if i < 0:
                break
            token = out[i + 11:out.index("</nextToken>")]
        run(["psql", "-X", "-At", "-c", "SELECT * FROM environments WHERE status <> 'terminated'"])
        return pages

    t_env, t_raw, calls = [], [], []
    for _ in range(ROUNDS):
        proxy("/__proxy/log/clear", {})
        t = time.perf_counter()
        r = subprocess.run(envctl_cmd, capture_output=True, text=True)
        t_env.append(time.perf_counter() - t)
        if r.returncode not in (0, 2):
            sys.exit("envctl plan failed: " + r.stderr)
        doc = json.loads(r.stdout)
        calls.append(len(proxy("/__proxy/log")["entries"]))
        t = time.perf_counter()
        pages = raw()
        t_raw.append(time.perf_counter() - t)

    counts = doc["counts"]
    print("world: %d specs, %d live rows, %d instances; plan: %s" %
          (doc["specs"], doc["live_records"], doc["instances"], counts))
    print("envctl plan     wall best %.3f s, median %.3f s; AWS calls per plan: %s" %
          (min(t_env), statistics.median(t_env), sorted(set(calls))))
    print("curl + psql     wall best %.3f s, median %.3f s; DescribeInstances pages: %d" %
          (min(t_raw), statistics.median(t_raw), pages))
    print("ratio envctl/raw: best %.2fx, median %.2fx" %
          (min(t_env) / min(t_raw), statistics.median(t_env) / statistics.median(t_raw)))


if __name__ == "__main__":
    main()
