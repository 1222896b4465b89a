#!/usr/bin/env python3
"""run_acts_it.py - `envctl run` acts: a spec added to the watched directory
becomes an instance, removing it terminates the instance, all without a
restart.  Checked with the aws CLI (straight to moto) and psql.

Run under tests/harness/with-pg.sh and tests/harness/with-aws.sh.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from itlib import ENVCTL, Checks, aws, psql  # noqa: E402

t = Checks()
BUCKET = "envctl-it-run-acts"
CLUSTER = "it-run-acts"
SPEC = """apiVersion: envctl/v1
kind: Environment
metadata: {name: NAME, workspace: it}
spec:
  instance: {type: t3.micro, image: al2023, disk: {size_gb: 12}}
  access: {ssh: {key: auto, allow_from: [203.0.113.7/32]}}
"""


def instances():
    out = aws("ec2", "describe-instances", "--filters",
              "Name=tag:envctl:cluster,Values=" + CLUSTER,
              "Name=instance-state-name,Values=pending,running")
    return [i for r in out["Reservations"] for i in r["Instances"]]


def wait_for(pred, seconds):
    end = time.time() + seconds
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.5)
    return pred()


def main():
    aws("s3api", "create-bucket", "--bucket", BUCKET)
    specs = tempfile.mkdtemp(prefix="envctl-run-acts-")
    env = dict(os.environ, ENVCTL_SPECS=specs, ENVCTL_CLUSTER_ID=CLUSTER,
               ENVCTL_S3_BUCKET=BUCKET, ENVCTL_READY_CHECKS="status",
               ENVCTL_LISTEN="", ENVCTL_RESYNC_INTERVAL="2s", ENVCTL_CONFIG="/dev/null")
    t.check(subprocess.run([ENVCTL, "migrate"], env=env, capture_output=True).returncode == 0,
            "migrate")
    log = open(os.path.join(specs, "..", os.path.basename(specs) + ".log"), "w+")
    proc = subprocess.Popen([ENVCTL, "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(1)
        # Two specs: removing one later must not leave the tree empty,
        # since an empty tree deletes nothing (prune safety).
        for name in ("web-one", "web-two"):
            with open(os.path.join(specs, name + ".yaml"), "w") as f:
                f.write(SPEC.replace("NAME", name))
        t.check(wait_for(lambda: len(instances()) == 2, 60),
                "specs written to the watched directory become instances")
        t.check(wait_for(lambda: psql("SELECT status FROM environments WHERE name = 'web-one' "
                                      "AND status <> 'terminated'").strip() == "ready", 60),
                "its row becomes ready (psql)")
        os.unlink(os.path.join(specs, "web-one.yaml"))
        t.check(wait_for(lambda: [tag["Value"] for i in instances() for tag in i["Tags"]
                                  if tag["Key"] == "envctl:env"] == ["web-two"], 60),
                "removing one spec terminates its instance, and only it")
        t.check(wait_for(lambda: psql("SELECT termination_reason FROM environments "
                                      "WHERE name = 'web-one'").strip() == "spec removed", 30),
                "the row is closed with reason 'spec removed' (psql)")
        t.check(proc.poll() is None, "the controller is still running")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        log.seek(0)
        text = log.read()
        log.close()
    t.check(rc == 0, "SIGTERM: exit 0 (got %s)" % rc)
    t.check("observing only" not in text, "the controller acted, not only observed")
    if t.failed:
        print(text[-4000:])
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
