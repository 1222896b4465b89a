#!/usr/bin/env python3
"""reconcile_it.py - `envctl reconcile --once` end to end on moto behind the
fault proxy, with a real PostgreSQL.

Run under tests/harness/with-pg.sh and tests/harness/with-aws.sh:

    reconcile_it.py fleet    converge, terminate, hand-killed instance,
                             orphan, lost row, drift (report / replace),
                             secret canary
    reconcile_it.py chaos    delays, eventual consistency, throttling and
                             dropped connections in a seeded random mix
    reconcile_it.py features IPv6 ingress and the subnet's VPC, price_table,
                             drift.detected once per fact, ready_checks
                             ssh and hostkey
    reconcile_it.py faults   every rollback path (failpoint =error at each
                             stage) and crash tests (=abort at every step
                             of both pipelines, then one normal pass)
    reconcile_it.py hostile  a newline and terminal escapes in a row: status,
                             plan and the pass's log lines stay one line each
    reconcile_it.py secrets  only the secret namespace: the controller's AWS key
                             and PGPASSWORD refused by validate and reconcile;
                             env, file and ssm secrets reach a real bootstrap
    reconcile_it.py audit    the audit trail: who ran a command, correlation
                             ids on events, runs and JSON log fields
    reconcile_it.py quota    quotas hold new environments, fairly, and never
                             terminate what is live
    reconcile_it.py own      two clusters on one database leave each other
                             alone; forged rows pointing at what is not
                             envctl's touch nothing (design §3.9)
    reconcile_it.py strict   the pipeline under the strict emulator
                             (faultproxy STRICT): invisible new resources
                             retried, a private subnet ready with the
                             default checks, host keys, Unsupported,
                             an orphan's group left then deleted
    reconcile_it.py stopstart envctl stop / start keep the instance and its
                             disk; stopped is left alone; spot refused
    reconcile_it.py regions  strict mode: a bucket in a third region, specs
                             in two others, Graviton beside x86 (issue 14)

Results are checked with independent clients: the aws CLI straight to moto
and psql; never with envctl's own view.  Each scenario gets its own
database and cluster id, so scenarios cannot see each other.
"""

import base64
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from itlib import ENVCTL, MOTO, PROXY, Checks, aws, free_port, proxy  # noqa: E402,F401
BUCKET = "envctl-it-reconcile"
# The 12 GB gp3 root volume of Scenario.spec() per hour (docs/design.md §6.9:
# $0.08 per GB-month, 730 h a month).
GP3_12GB = 12 * 0.08 / 730
CANARY = "canary-" + uuid.uuid4().hex
AWS_SECRET = os.environ["AWS_SECRET_ACCESS_KEY"]

t = Checks()
check = t.check
passed, failures = t.passed, t.failed
outputs = []            # every envctl stdout/stderr, for the canary check


SPEC = textwrap.dedent("""\
    apiVersion: envctl/v1
    kind: Environment
    metadata:
      name: {name}
      workspace: it
    spec:
      instance: {{type: t3.micro, image: al2023, disk: {{size_gb: {disk}}}}}
      access:
        ssh: {{key: auto, allow_from: [203.0.113.7/32]}}
        ports: [{{port: 8080, allow_from: [198.51.100.0/24]}}]
      bootstrap:
        docker_image: busybox:1.36
        setup: ["true"]
        environment: {{MODE: "{mode}"}}
        secrets: {{API_KEY: {{env: ENVCTL_SECRET_CANARY}}}}
      lifecycle: {{on_drift: {on_drift}, ready_timeout: 10m}}
      tags: {{team: qa}}
    """)


class Scenario:
    """A database, a cluster id and a spec directory of its own."""
    n = 0

    def __init__(self, label, checks="status"):
        Scenario.n += 1
        self.label = label
        self.db = "it_rec_%d" % Scenario.n
        self.cluster = "it-%s-%d" % (label, Scenario.n)
        self.specs = tempfile.mkdtemp(prefix="envctl-rec-it-")
        subprocess.run(["psql", "-X", "-q", "-c", "CREATE DATABASE %s" % self.db],
                       check=True, capture_output=True)
        self.env = {
            "PGDATABASE": self.db,
            "ENVCTL_DATABASE_URL": "",
            "ENVCTL_SPECS": self.specs,
            "ENVCTL_CLUSTER_ID": self.cluster,
            "ENVCTL_S3_BUCKET": BUCKET,
            "ENVCTL_READY_CHECKS": checks,
            "ENVCTL_ORPHAN_GRACE": "0s",
            "ENVCTL_BACKOFF_BASE": "1s",
            "ENVCTL_SECRET_CANARY": CANARY,
        }
        r = self.envctl("migrate")
        assert r.returncode == 0, r.stderr

    def envctl(self, *args, fail=None):
        e = dict(os.environ)
        e.update(self.env)
        if fail:
            e["ENVCTL_FAILPOINTS"] = fail
        else:
            e.pop("ENVCTL_FAILPOINTS", None)
        r = subprocess.run([ENVCTL, *args], capture_output=True, text=True, env=e,
                           timeout=120)
        outputs.append(r.stdout + r.stderr)
        return r

    def reconcile(self, *extra, fail=None):
        return self.envctl("reconcile", "--once", *extra, fail=fail)

    def settle(self):
        """Wait as long as the strict emulator keeps a new instance
        invisible, its status checks initializing and (with the hostkey
        check) its console empty: what real EC2 makes a controller wait for
        minutes.  For a test whose next pass must find a launched instance
        past all of that (a failpoint in the readiness steps)."""
        import time
        st = proxy("/__proxy/strict")
        if not st.get("enabled"):
            return
        inv = st.get("invisible") or {}
        wait = [inv.get("instance", 0) if isinstance(inv, dict) else 0,
                st.get("status_initializing_seconds", 0)]
        if "hostkey" in self.env["ENVCTL_READY_CHECKS"]:
            wait.append(st.get("console_seconds", 0))
        time.sleep(max(wait) + 0.2)

    def spec(self, name, on_drift="replace", disk=12, mode="dev"):
        with open(os.path.join(self.specs, name + ".yaml"), "w") as f:
            f.write(SPEC.format(name=name, on_drift=on_drift, disk=disk, mode=mode))

    def unspec(self, name):
        os.unlink(os.path.join(self.specs, name + ".yaml"))

    def psql(self, sql):
        r = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-At", "-d", self.db,
                            "-F", "|", "-c", sql], check=True, capture_output=True, text=True)
        return r.stdout.strip()

    def rows(self, name=None):
        where = "WHERE name = '%s'" % name if name else ""
        out = self.psql("SELECT id, name, status, stage, coalesce(instance_id,''), "
                        "coalesce(security_group_id,''), coalesce(ssh_key_s3_key,''), "
                        "coalesce(termination_reason,''), coalesce(total_cost_usd::text,''), "
                        "coalesce(metadata->>'failed_at_stage',''), attempts "
                        "FROM environments %s ORDER BY created_at" % where)
        keys = ["id", "name", "status", "stage", "instance_id", "sg", "s3key", "reason",
                "cost", "failed_at_stage", "attempts"]
        return [dict(zip(keys, line.split("|"))) for line in out.splitlines() if line]

    def live(self, name):
        return [r for r in self.rows(name) if r["status"] != "terminated"]

    def events(self, type_=None):
        where = "WHERE type = '%s'" % type_ if type_ else ""
        out = self.psql("SELECT type, payload::text FROM events %s ORDER BY id" % where)
        return [line.split("|", 1) for line in out.splitlines() if line]

    def instances(self, states=("pending", "running", "stopping", "stopped")):
        doc = aws("ec2", "describe-instances", "--filters",
                  "Name=tag:envctl:cluster,Values=" + self.cluster,
                  "Name=instance-state-name,Values=" + ",".join(states))
        return [i for res in doc["Reservations"] for i in res["Instances"]]

    def put_markers(self):
        for r in self.rows():
            if r["status"] == "provisioning" and r["instance_id"]:
                put_marker(r["id"], r["name"])


def put_marker(env_id, name):
    body = json.dumps({"version": 1, "env_id": env_id, "env": name, "status": "ready",
                       "line": 0, "exit_code": 0,
                       "host_keys": [{"type": "ED25519",
                                      "fingerprint": "SHA256:" + "A" * 43}]})
    path = tempfile.mktemp()
    with open(path, "w") as f:
        f.write(body)
    aws("s3api", "put-object", "--bucket", BUCKET, "--key",
        "envctl/%s/bootstrap-done.json" % env_id, "--body", path,
        "--content-type", "application/json")
    os.unlink(path)


def tags_of(obj):
    return {t["Key"]: t["Value"] for t in obj.get("Tags", [])}


def leftovers(env_id):
    """What still exists of incarnation env_id in EC2, S3 and key pairs."""
    left = []
    doc = aws("ec2", "describe-instances", "--filters", "Name=tag:envctl:env-id,Values=" + env_id,
              "Name=instance-state-name,Values=pending,running,stopping,stopped")
    left += ["instance " + i["InstanceId"] for res in doc["Reservations"] for i in res["Instances"]]
    sgs = aws("ec2", "describe-security-groups", "--filters",
              "Name=group-name,Values=envctl-" + env_id)["SecurityGroups"]
    left += ["sg " + g["GroupId"] for g in sgs]
    kps = aws("ec2", "describe-key-pairs")["KeyPairs"]
    left += ["keypair " + k["KeyName"] for k in kps if k["KeyName"] == "envctl-" + env_id]
    objs = aws("s3api", "list-objects-v2", "--bucket", BUCKET, "--prefix", "envctl/%s/" % env_id)
    left += ["s3 " + o["Key"] for o in objs.get("Contents", [])]
    return left


def check_instance_shape(sc, inst, name):
    t = tags_of(inst)
    want = {"envctl:managed": "true", "envctl:cluster": sc.cluster, "envctl:env": name,
            "envctl:workspace": "it", "Name": "envctl-" + name, "team": "qa"}
    check(all(t.get(k) == v for k, v in want.items()) and t.get("envctl:env-id")
          and t.get("envctl:spec-hash", "").startswith("v1:"),
          "%s: instance carries every tag (%s)" % (name, sorted(t)))
    check(inst.get("MetadataOptions", {}).get("HttpTokens") == "required",
          "%s: IMDSv2 required" % name)
    vols = aws("ec2", "describe-volumes", "--filters",
               "Name=attachment.instance-id,Values=" + inst["InstanceId"])["Volumes"]
    check(len(vols) >= 1, "%s: root volume present" % name)
    if vols:
        v = vols[0]
        vt = tags_of(v)
        check(v.get("VolumeType") == "gp3" and v.get("Encrypted") is True and v.get("Size") == 12,
              "%s: root volume gp3, encrypted, 12 GiB (%s %s %s)" %
              (name, v.get("VolumeType"), v.get("Encrypted"), v.get("Size")))
        check(vt.get("envctl:env-id") == t.get("envctl:env-id") and vt.get("team") == "qa",
              "%s: the volume carries the tags too" % name)
    sgs = aws("ec2", "describe-security-groups", "--group-ids",
              *[g["GroupId"] for g in inst["SecurityGroups"]])["SecurityGroups"]
    rules = sorted((p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), r["CidrIp"])
                   for g in sgs for p in g["IpPermissions"] for r in p.get("IpRanges", []))
    check(rules == sorted([("tcp", 22, 22, "203.0.113.7/32"), ("tcp", 8080, 8080, "198.51.100.0/24")]),
          "%s: security group rules exactly the spec's (%s)" % (name, rules))
    check(len(sgs) == 1 and sgs[0]["GroupName"] == "envctl-" + t.get("envctl:env-id", "")
          and tags_of(sgs[0]).get("envctl:cluster") == sc.cluster,
          "%s: per-environment security group, tagged" % name)
    env_id = t.get("envctl:env-id", "")
    for key in ("id_ed25519", "id_ed25519.pub"):
        try:
            h = aws("s3api", "head-object", "--bucket", BUCKET, "--key",
                    "envctl/%s/%s" % (env_id, key))
            ok = h.get("ServerSideEncryption") == "AES256"
        except RuntimeError:
            ok = False
        check(ok, "%s: S3 %s stored with SSE" % (name, key))
    kp = [k for k in aws("ec2", "describe-key-pairs")["KeyPairs"] if k["KeyName"] == "envctl-" + env_id]
    check(len(kp) == 1, "%s: key pair envctl-<env-id> imported" % name)
    ud = aws("ec2", "describe-instance-attribute", "--instance-id", inst["InstanceId"],
             "--attribute", "userData").get("UserData", {}).get("Value", "")
    script = base64.b64decode(ud).decode("utf-8", "replace") if ud else ""
    check(script.startswith("#!") and CANARY not in script and AWS_SECRET not in script,
          "%s: user-data is a script without the secret canary" % name)


def fleet():
    sc = Scenario("fleet", checks="status,marker")
    sc.spec("alpha")
    sc.spec("beta", on_drift="report")

    r = sc.reconcile("--dry-run", "-o", "json")
    doc = json.loads(r.stdout) if r.stdout.strip().startswith("{") else {}
    plan = doc.get("passes", [{}])[0].get("plan", [])
    check(r.returncode == 2 and sorted((a["kind"], a["name"]) for a in plan) ==
          [("provision", "alpha"), ("provision", "beta")],
          "--dry-run -o json: exit 2, the plan is two provisions (%d)" % r.returncode)
    check(sc.rows() == [] and sc.instances() == [], "--dry-run changed nothing")

    r = sc.reconcile()
    check(r.returncode == 2, "first pass launches, readiness pending: exit 2 (%d: %s)" %
          (r.returncode, r.stderr.strip()))
    rows = {x["name"]: x for x in sc.rows()}
    check(all(rows[n]["status"] == "provisioning" and rows[n]["stage"] == "TAGGED"
              and rows[n]["instance_id"] for n in ("alpha", "beta")),
          "both rows provisioning at TAGGED with their instance recorded")
    proxy("/__proxy/log/clear", {})
    r = sc.reconcile()
    check(r.returncode == 2 and all(x["status"] == "provisioning" for x in sc.rows()),
          "without the marker nothing turns ready")
    st = [e["params"] for e in proxy("/__proxy/log")["entries"]
          if e["action"] == "DescribeInstanceStatus"]
    asked = sorted(v for q in st for k, v in q.items() if k.startswith("InstanceId."))
    check(len(st) == 1 and asked == sorted(x["instance_id"] for x in sc.rows()),
          "the status checks of both waiting instances in one DescribeInstanceStatus (%s)" % st)
    sc.put_markers()
    r = sc.reconcile("--wait", "30s")
    check(r.returncode == 0, "after the markers: converged, exit 0 (%d: %s)" %
          (r.returncode, r.stdout[-300:] + r.stderr.strip()))
    rows = {x["name"]: x for x in sc.rows()}
    check(all(rows[n]["status"] == "ready" and rows[n]["stage"] == "DONE" for n in ("alpha", "beta")),
          "rows ready at DONE (psql)")
    insts = {tags_of(i)["envctl:env"]: i for i in sc.instances()}
    check(sorted(insts) == ["alpha", "beta"], "one instance per environment (%s)" % sorted(insts))
    for n in ("alpha", "beta"):
        if n in insts:
            check_instance_shape(sc, insts[n], n)
    check(all(not any(o["Key"].endswith("secrets.env") for o in
                      aws("s3api", "list-objects-v2", "--bucket", BUCKET, "--prefix",
                          "envctl/%s/" % rows[n]["id"]).get("Contents", []))
              for n in ("alpha", "beta")),
          "the secrets object is deleted once ready")
    ev = [t for t, _ in sc.events()]
    check(ev.count("remote.provision.start") == 2 and ev.count("remote.provision.ready") == 2,
          "events: two provision starts, two readies")
    runs = sc.psql("SELECT count(*), sum(errors) FROM reconcile_runs WHERE finished_at IS NOT NULL")
    check(runs.split("|")[0] != "0" and runs.split("|")[1] == "0",
          "reconcile_runs rows recorded without errors (%s)" % runs)
    r = sc.reconcile()
    check(r.returncode == 0, "a converged fleet: next pass exits 0")

    # A removed spec: terminated, everything it owned gone, cost booked.
    alpha_id = rows["alpha"]["id"]
    # Billing starts at launch (the ledger, docs/design.md §6.9): its
    # segments moved 2 h back; ready 1 h ago.
    sc.psql("UPDATE environments SET launched_at = now() - interval '2 hours', "
            "ready_at = now() - interval '1 hour' WHERE id = '%s'" % alpha_id)
    sc.psql("UPDATE cost_segments SET started_at = now() - interval '2 hours' "
            "WHERE env_id = '%s'" % alpha_id)
    sc.unspec("alpha")
    r = sc.reconcile("--wait", "20s")
    check(r.returncode == 0, "removed spec: converged (%d %s)" % (r.returncode, r.stderr.strip()))
    a = sc.rows("alpha")[0]
    check(a["status"] == "terminated" and a["reason"] == "spec removed",
          "removed spec: row terminated, reason 'spec removed'")
    check(a["cost"] != "" and abs(float(a["cost"]) - 2 * (0.0104 + GP3_12GB)) < 0.001,
          "removed spec: cost booked = 2 h x (0.0104 + 12 GB gp3) (%s)" % a["cost"])
    check(leftovers(alpha_id) == [], "removed spec: nothing left (%s)" % leftovers(alpha_id))
    term = [json.loads(p) for t, p in sc.events("remote.terminate")]
    check(len(term) == 1 and term[0]["reason"] == "spec removed" and term[0]["uptime_seconds"] >= 7200,
          "event remote.terminate with uptime and cost")

    # Leftovers of an ended incarnation (as a crashed GC would leave them:
    # tagged as envctl tags them, design §3.9) are collected and the row's
    # columns cleared.
    ours = ("Tags=[{Key=envctl:managed,Value=true},{Key=envctl:cluster,Value=%s},"
            "{Key=envctl:env-id,Value=%s}]" % (sc.cluster, alpha_id))
    g = aws("ec2", "create-security-group", "--group-name", "envctl-" + alpha_id,
            "--description", "leftover", "--tag-specifications",
            "ResourceType=security-group," + ours)["GroupId"]
    aws("ec2", "create-key-pair", "--key-name", "envctl-" + alpha_id, "--tag-specifications",
        "ResourceType=key-pair," + ours)
    path = tempfile.mktemp()
    with open(path, "w") as f:
        f.write("leftover")
    aws("s3api", "put-object", "--bucket", BUCKET, "--key", "envctl/%s/id_ed25519" % alpha_id,
        "--body", path)
    os.unlink(path)
    sc.psql("UPDATE environments SET security_group_id = '%s', ssh_key_s3_key = 'envctl/%s/id_ed25519' "
            "WHERE id = '%s'" % (g, alpha_id, alpha_id))
    check(len(leftovers(alpha_id)) == 3, "leftovers planted for GC")
    r = sc.reconcile()
    a = sc.rows("alpha")[0]
    check(leftovers(alpha_id) == [] and a["sg"] == "" and a["s3key"] == "",
          "GC: leftovers of the ended incarnation deleted, columns cleared (%s)" % leftovers(alpha_id))

    # An instance terminated by hand is replaced (drift recorded).
    beta = sc.live("beta")[0]
    aws("ec2", "terminate-instances", "--instance-ids", beta["instance_id"])
    r = sc.reconcile()
    new = sc.live("beta")
    check(len(new) == 1 and new[0]["id"] != beta["id"] and new[0]["instance_id"]
          and new[0]["instance_id"] != beta["instance_id"],
          "hand-terminated instance: a new incarnation is launched")
    old = [x for x in sc.rows("beta") if x["id"] == beta["id"]][0]
    check(old["status"] == "terminated" and old["reason"] == "replaced for drift",
          "hand-terminated instance: the old row is closed")
    check(any("gone out of band" in p for t, p in sc.events("drift.detected")),
          "hand-terminated instance: drift.detected recorded")
    sc.put_markers()
    r = sc.reconcile("--wait", "20s")
    check(r.returncode == 0 and sc.live("beta")[0]["status"] == "ready", "replacement becomes ready")

    # A lost row is rebuilt from the tags (adopt).
    beta = sc.live("beta")[0]
    sc.psql("DELETE FROM environments WHERE id = '%s'" % beta["id"])
    r = sc.reconcile()
    got = sc.live("beta")
    check(len(got) == 1 and got[0]["id"] == beta["id"] and got[0]["instance_id"] == beta["instance_id"]
          and got[0]["status"] == "ready", "lost row rebuilt with the same env id and instance")
    check(len(sc.instances()) == 1, "adopt launched nothing")

    # on_drift: report records drift and touches nothing.
    sc.spec("beta", on_drift="report", mode="changed")
    r = sc.reconcile()
    check(r.returncode == 2 and sc.live("beta")[0]["instance_id"] == beta["instance_id"],
          "on_drift report: instance kept, exit 2")
    check(any("spec changed" in p for t, p in sc.events("drift.detected")),
          "on_drift report: drift.detected recorded")
    # on_drift: replace replaces.
    sc.spec("beta", on_drift="replace", mode="changed")
    r = sc.reconcile()
    got = sc.live("beta")
    check(len(got) == 1 and got[0]["instance_id"] != beta["instance_id"],
          "on_drift replace: a new instance")
    old = [x for x in sc.rows("beta") if x["id"] == beta["id"]][0]
    check(old["status"] == "terminated" and old["reason"] == "replaced for drift",
          "on_drift replace: old incarnation terminated, reason 'replaced for drift'")
    check(leftovers(beta["id"]) == [], "on_drift replace: nothing left of the old one")

    # A tagged orphan (our cluster, unknown env id) is collected.
    image = aws("ec2", "describe-images", "--owners", "amazon")["Images"][0]["ImageId"]
    ghost = str(uuid.uuid4())
    tags = [{"Key": "envctl:managed", "Value": "true"}, {"Key": "envctl:cluster", "Value": sc.cluster},
            {"Key": "envctl:env", "Value": "ghost"}, {"Key": "envctl:env-id", "Value": ghost}]
    out = aws("ec2", "run-instances", "--image-id", image, "--instance-type", "t3.micro", "--count", "1",
              "--tag-specifications", json.dumps([{"ResourceType": "instance", "Tags": tags}]))
    oid = out["Instances"][0]["InstanceId"]
    r = sc.reconcile()
    st = aws("ec2", "describe-instances", "--instance-ids", oid)["Reservations"][0]["Instances"][0]
    check(st["State"]["Name"] in ("shutting-down", "terminated"), "orphan terminated")
    check(any(oid in p for t, p in sc.events("orphan.terminated")), "event orphan.terminated")

    # Termination protection is reported, never overridden.
    sc.spec("gamma")
    r = sc.reconcile()
    time.sleep(1.5)     # strict EC2 hides a new instance for a second
    gamma = sc.live("gamma")[0]
    aws("ec2", "modify-instance-attribute", "--instance-id", gamma["instance_id"],
        "--disable-api-termination")
    sc.unspec("gamma")
    r = sc.reconcile()
    st = aws("ec2", "describe-instances", "--instance-ids",
             gamma["instance_id"])["Reservations"][0]["Instances"][0]["State"]["Name"]
    check(r.returncode == 2 and st == "running" and sc.live("gamma")[0]["status"] != "terminated",
          "termination protection: held back, instance still running, exit 2 (%d %s)%s"
          % (r.returncode, st, "" if r.returncode == 2 else "\n" + r.stderr[-1500:]))
    aws("ec2", "modify-instance-attribute", "--instance-id", gamma["instance_id"],
        "--no-disable-api-termination")
    r = sc.reconcile()
    check(sc.rows("gamma")[0]["status"] == "terminated" and leftovers(gamma["id"]) == [],
          "protection lifted: the next pass terminates it")

    # TTL: an environment older than its ttl is terminated, and not
    # provisioned again until its spec changes.
    with open(os.path.join(sc.specs, "zeta.yaml"), "w") as f:
        f.write(SPEC.format(name="zeta", on_drift="replace", disk=12, mode="dev").replace(
            "lifecycle: {", "lifecycle: {ttl: 1h, "))
    sc.reconcile()
    z = sc.live("zeta")[0]
    sc.psql("UPDATE environments SET created_at = now() - interval '2 hours' WHERE id = '%s'" % z["id"])
    r = sc.reconcile()
    z2 = sc.rows("zeta")
    check(len(z2) == 1 and z2[0]["status"] == "terminated" and z2[0]["reason"] == "ttl expired"
          and leftovers(z["id"]) == [], "ttl expired: terminated with reason 'ttl expired', nothing left")
    r = sc.reconcile()
    check(len(sc.rows("zeta")) == 1, "ttl expired: not provisioned again while the spec is the same")
    sc.unspec("zeta")

    # Capacity: subnet fallback, then spot falling back to on-demand.
    vpc = aws("ec2", "describe-vpcs", "--filters", "Name=isDefault,Values=true")["Vpcs"][0]["VpcId"]
    # In zones that offer t3 (strict mode: us-east-1e does not; moto picks
    # a zone at random when none is given).
    subs = [aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", c,
                "--availability-zone", z)["Subnet"]["SubnetId"]
            for c, z in (("172.31.200.0/24", "us-east-1a"), ("172.31.201.0/24", "us-east-1b"))]
    with open(os.path.join(sc.specs, "delta.yaml"), "w") as f:
        f.write(SPEC.format(name="delta", on_drift="replace", disk=12, mode="dev").replace(
            "disk: {size_gb: 12}}", "disk: {size_gb: 12}, subnets: [%s, %s]}" % tuple(subs)))
    proxy("/__proxy/config", {"faults": [{"action": "RunInstances", "times": 1,
                                          "status": 500, "code": "InsufficientInstanceCapacity",
                                          "message": "no capacity (injected)"}]})
    proxy("/__proxy/log/clear", {})
    r = sc.reconcile()
    d = sc.live("delta")
    inst = d and aws("ec2", "describe-instances", "--instance-ids",
                     d[0]["instance_id"])["Reservations"][0]["Instances"][0]
    check(bool(d) and d[0]["instance_id"] and inst["SubnetId"] == subs[1],
          "InsufficientInstanceCapacity in the first subnet: launched in the second (%s)" %
          (inst and inst.get("SubnetId")))
    runs = proxy("/__proxy/log?action=RunInstances")["entries"]
    check(len(runs) == 2 and len({e["client_token"] for e in runs}) == 2,
          "two RunInstances, two ClientTokens (one per pool)")
    with open(os.path.join(sc.specs, "eps.yaml"), "w") as f:
        f.write(SPEC.format(name="eps", on_drift="replace", disk=12, mode="dev").replace(
            "disk: {size_gb: 12}}", "disk: {size_gb: 12}, market: spot, "
            "spot: {max_price: \"0.05\", fallback: on-demand}}"))
    proxy("/__proxy/config", {"faults": [{"action": "RunInstances", "times": 1,
                                          "status": 500, "code": "InsufficientInstanceCapacity",
                                          "message": "no spot capacity (injected)"}]})
    proxy("/__proxy/log/clear", {})
    r = sc.reconcile()
    e = sc.live("eps")
    runs = proxy("/__proxy/log?action=RunInstances")["entries"]
    # No subnets listed: after EC2's pick, spot in the default VPC's
    # zones one by one (then on-demand; every pool: test_stages).
    check(bool(e) and e[0]["instance_id"] and len(runs) == 2 and
          "SubnetId" not in runs[0]["params"] and runs[1]["params"].get("SubnetId") and
          sc.psql("SELECT market || '|' || subnet_id FROM environments WHERE id = '%s'"
                  % e[0]["id"]) == "spot|" + runs[1]["params"].get("SubnetId", ""),
          "spot without capacity in EC2's zone: spot in a default subnet, pool recorded (%s)"
          % [r["params"].get("SubnetId") for r in runs])
    proxy("/__proxy/config", {"faults": []})

    # Secret canary: nowhere in rows, events, outputs.
    dump = sc.psql("SELECT row_to_json(e)::text FROM environments e") + \
        sc.psql("SELECT row_to_json(v)::text FROM events v") + \
        sc.psql("SELECT row_to_json(r)::text FROM reconcile_runs r")
    check(CANARY not in dump and AWS_SECRET not in dump, "canary in no row, event or run")
    check(not any(CANARY in o or AWS_SECRET in o for o in outputs),
          "canary in no envctl output (logs, errors)")


ROLLBACK_POINTS = [
    ("provision.keys_generated.after", "KEYS_GENERATED"),
    ("provision.s3_keys.after", "KEYS_GENERATED"),
    ("provision.keypair.after", "KEYS_UPLOADED"),
    ("provision.sg_create.after", "KEYS_UPLOADED"),
    ("provision.sg_ingress.after", "KEYS_UPLOADED"),
    ("provision.secrets.after", "SG_READY"),
    ("provision.launch.after", "SG_READY"),
    ("provision.instance_launched.after", "INSTANCE_LAUNCHED"),
    ("provision.tagged.after", "TAGGED"),
    ("provision.done.before", "TAGGED"),
]

CRASH_POINTS = [p for p in [
    "provision.init.after", "provision.event_start.after",
    "provision.keys_generated.before", "provision.keys_generated.after",
    "provision.s3_keys.before", "provision.s3_keys.after",
    "provision.keys_uploaded.after", "provision.keypair.before", "provision.keypair.after",
    "provision.sg_create.before", "provision.sg_create.after", "provision.sg_record.after",
    "provision.sg_ingress.after", "provision.sg_ready.after", "provision.ami.after",
    "provision.launch_intent.after", "provision.secrets.after", "provision.launch.before",
    "provision.launch.after",
    "provision.instance_launched.before", "provision.instance_launched.after",
    "provision.tag.after", "provision.tagged.after", "provision.check.after",
    "provision.done.before", "provision.done.after", "provision.event_ready.after",
]]

# Steps of the readiness check: a job that launched an instance leaves
# readiness to the next pass, so a pass must launch first.
READY_STEPS = ("provision.check.", "provision.running.", "provision.done.",
               "provision.event_ready.")

ROLLBACK_CRASH_POINTS = [
    "provision.error.before", "provision.error.after", "provision.rollback.instance.after",
    "provision.rollback.s3.after", "provision.rollback.keypair.after",
    "provision.rollback.sg.before", "provision.rolled_back.before",
]

TERMINATE_CRASH_POINTS = [
    "terminate.mark.after", "terminate.protection.after", "terminate.instance.before",
    "terminate.instance.after", "terminate.s3.after", "terminate.keypair.after",
    "terminate.sg.before", "terminate.sg.after", "terminate.done.before",
    "terminate.done.after", "terminate.event.after",
]


def faults():
    proxy("/__proxy/config", {"idempotency": True})
    # Every rollback path: a failure at each stage leaves nothing behind.
    for i, (fp, stage) in enumerate(ROLLBACK_POINTS):
        if os.environ.get("ENVCTL_IT_ONLY"):
            break
        sc = Scenario("rb%d" % i)
        sc.spec("rb")
        if fp.startswith(READY_STEPS):
            sc.reconcile()
            sc.settle()
        r = sc.reconcile(fail=fp + "=error")
        rows = sc.rows("rb")
        ok = (r.returncode == 1 and len(rows) == 1 and rows[0]["status"] == "error"
              and rows[0]["failed_at_stage"] == stage and rows[0]["attempts"] == "1")
        check(ok, "rollback at %s: exit 1, row error at %s (%s)" %
              (fp, stage, rows and (rows[0]["status"], rows[0]["failed_at_stage"], r.stderr.strip()[:200])))
        left = leftovers(rows[0]["id"]) if rows else ["no row"]
        check(left == [] and sc.instances() == [], "rollback at %s: nothing left behind (%s)" % (fp, left))
        check(len(sc.events("remote.provision.error")) == 1, "rollback at %s: event remote.provision.error" % fp)
        if i == len(ROLLBACK_POINTS) - 1:
            # The retry after the backoff provisions it for real.
            import time
            time.sleep(1.2)
            r = sc.reconcile("--wait", "20s")
            live = sc.live("rb")
            check(r.returncode == 0 and live and live[0]["status"] == "ready"
                  and live[0]["id"] == rows[0]["id"], "after the backoff the retry converges")

    # Past ready_timeout since launch: rolled back like any failure.
    sc = Scenario("rt", checks="status,marker")
    sc.spec("rt")
    sc.reconcile()
    sc.settle()     # launched_at is faked below: EC2 shows it by then
    row = sc.live("rt")
    sc.psql("UPDATE environments SET launched_at = now() - interval '2 hours'")
    r = sc.reconcile()
    rows = sc.rows("rt")
    check(r.returncode == 1 and rows and rows[0]["status"] == "error" and
          rows[0]["failed_at_stage"] == "TAGGED" and leftovers(rows[0]["id"]) == [] and
          sc.instances() == [],
          "ready_timeout passed: rolled back, nothing left (%s)" %
          str(rows and (rows[0]["status"], rows[0]["failed_at_stage"])))
    check(any("ready_timeout" in p for t, p in sc.events("remote.provision.error")),
          "ready_timeout: the error event says why")

    # Crash tests: abort at every step, then one normal pass.
    only = os.environ.get("ENVCTL_IT_ONLY")
    for i, fp in enumerate(CRASH_POINTS):
        if only and only not in fp:
            continue
        sc = Scenario("cr%d" % i)
        sc.spec("cr")
        # Around RunInstances, hide new instances from Describe* for a while
        # (EC2's eventual consistency): the next pass must replay the same
        # ClientToken instead of launching a second instance.
        hide = fp in ("provision.launch.after", "provision.instance_launched.before")
        proxy("/__proxy/config", {"invisible_seconds": 8 if hide else 0})
        if fp.startswith(READY_STEPS):
            sc.reconcile()
            sc.settle()
        r = sc.reconcile(fail=fp + "=abort")
        crashed = r.returncode not in (0, 1, 2)
        if hide:
            import time
            time.sleep(1.1)     # the replay is signed in another second
        r2 = sc.reconcile("--wait", "20s")
        rows = sc.rows("cr")
        live = [x for x in rows if x["status"] != "terminated"]
        insts = sc.instances()
        ok = (crashed and r2.returncode == 0 and len(live) == 1 and live[0]["status"] == "ready"
              and len(insts) == 1 and insts[0]["InstanceId"] == live[0]["instance_id"])
        check(ok, "crash at %s, then a pass: converged, one instance (crashed=%s rc=%d rows=%s insts=%d %s)"
              % (fp, crashed, r2.returncode, [(x["status"], x["stage"]) for x in rows], len(insts),
                 r2.stderr.strip()[:200]))
        proxy("/__proxy/config", {"invisible_seconds": 0})
        others = [x for x in rows if x["status"] == "terminated" or x["status"] == "error"]
        stray = [l for x in others for l in leftovers(x["id"])]
        check(stray == [], "crash at %s: nothing leaked (%s)" % (fp, stray))

    # Crashes inside a rollback: the next passes finish it (the retry
    # after the backoff first undoes what the dead rollback left).
    for i, fp in enumerate(ROLLBACK_CRASH_POINTS):
        if only and only not in fp:
            continue
        sc = Scenario("rc%d" % i)
        sc.spec("rc")
        r = sc.reconcile(fail="provision.tagged.after=error,%s=abort" % fp)
        crashed = r.returncode not in (0, 1, 2)
        r2 = sc.reconcile("--wait", "30s")
        live = sc.live("rc")
        insts = sc.instances()
        sgs = aws("ec2", "describe-security-groups", "--filters",
                  "Name=group-name,Values=envctl-" + (live[0]["id"] if live else "none"))["SecurityGroups"]
        errs = sc.events("remote.provision.error")
        check(crashed and r2.returncode == 0 and len(live) == 1 and live[0]["status"] == "ready"
              and len(insts) == 1 and insts[0]["InstanceId"] == live[0]["instance_id"] and len(sgs) == 1
              and len(errs) == 0,
              "crash in the rollback at %s, then passes: converged, one instance, one group "
              "(crashed=%s rc=%d insts=%d %s)" % (fp, crashed, r2.returncode, len(insts),
                                                  r2.stderr.strip()[-200:]))

    # Terminate crash tests: a ready environment whose spec goes away.
    sc = Scenario("tc")
    for i, fp in enumerate(TERMINATE_CRASH_POINTS):
        if only and only not in fp:
            continue
        name = "tc%d" % i
        sc.spec(name)
        r = sc.reconcile("--wait", "20s")
        row = sc.live(name)
        if not row or row[0]["status"] != "ready":
            check(False, "terminate crash %s: setup converged" % fp)
            continue
        env_id = row[0]["id"]
        sc.unspec(name)
        r = sc.reconcile("--allow-empty", fail=fp + "=abort")
        crashed = r.returncode not in (0, 1, 2)
        r2 = sc.reconcile("--allow-empty", "--wait", "20s")
        rows = sc.rows(name)
        check(crashed and r2.returncode == 0 and len(rows) == 1 and rows[0]["status"] == "terminated"
              and leftovers(env_id) == [],
              "terminate crash at %s, then a pass: terminated, nothing left (crashed=%s rc=%d %s %s)"
              % (fp, crashed, r2.returncode, [(x["status"]) for x in rows], leftovers(env_id)))
    # The proxy saw no second instance for any ClientToken.
    log = proxy("/__proxy/log?action=RunInstances")["entries"]
    replayed = sum(1 for e in log if e.get("replayed"))
    print("RunInstances calls: %d, replayed by token: %d" % (len(log), replayed))
    mismatch = sum(1 for e in log if e.get("fault") == "idempotent-mismatch")
    check(mismatch == 0, "a replayed launch sends the same parameters (%d mismatches)" % mismatch)
    check(replayed >= 2, "a crash right after RunInstances is repaired by replaying its ClientToken "
          "(%d replays)" % replayed)


def chaos():
    """Pending delays, eventual consistency, throttling, 5xx and dropped
    connections in a seeded random mix: the fleet still converges, with no
    duplicate instance and nothing leaked once the specs are removed."""
    n = int(os.environ.get("ENVCTL_IT_CHAOS_ENVS", "48"))
    sc = Scenario("chaos")
    sc.env["ENVCTL_MAX_PARALLEL"] = "4"
    # Client-side pacing would keep the proxy's rate limits from ever
    # throttling: off, so throttled answers and their retries are in the mix.
    sc.env["ENVCTL_EC2_RATE_LIMITS"] = "off"
    for i in range(n):
        sc.spec("ch%02d" % i)
    proxy("/__proxy/log/clear", {})
    proxy("/__proxy/config", {
        "seed": 11, "idempotency": True, "pending_seconds": 2, "invisible_seconds": 2,
        "rate_limits": {"RunInstances": {"burst": 5, "rate": 2},
                        "Describe*": {"burst": 100, "rate": 20},
                        "*": {"burst": 50, "rate": 5}},
        "rate_scale": 4.0,
        "faults": [
            {"action": "RunInstances", "probability": 0.15, "drop": "after"},
            {"action": "CreateSecurityGroup", "probability": 0.15, "drop": "after"},
            {"action": "ImportKeyPair", "probability": 0.1, "drop": "after"},
            {"action": "Describe*", "probability": 0.05, "status": 503,
             "code": "RequestLimitExceeded"},
            {"action": "*", "probability": 0.04, "drop": "before"},
            {"action": "*", "probability": 0.03, "status": 500, "code": "InternalError"},
        ]})
    rc = None
    for _ in range(6):
        r = sc.reconcile("--wait", "40s")
        rc = r.returncode
        if rc == 0:
            break
    rows = sc.rows()
    live = [x for x in rows if x["status"] != "terminated"]
    insts = sc.instances()
    by_env = {}
    for i in insts:
        by_env.setdefault(tags_of(i).get("envctl:env"), []).append(i["InstanceId"])
    check(rc == 0 and len(live) == n and all(x["status"] == "ready" for x in live),
          "chaos: %d environments converge to ready (rc=%s, %s)" %
          (n, rc, sorted(set(x["status"] for x in live))))
    check(len(insts) == n and all(len(v) == 1 for v in by_env.values()),
          "chaos: exactly one instance per environment (%d instances)" % len(insts))
    # Take it all down, still under faults.
    for i in range(n):
        sc.unspec("ch%02d" % i)
    sc.env["ENVCTL_MAX_TERMINATIONS_PER_PASS"] = "1000"
    sc.env["ENVCTL_TERMINATION_BUDGET"] = "off"     # the window budget too
    for _ in range(6):
        r = sc.reconcile("--allow-empty", "--wait", "40s")
        if r.returncode == 0:
            break
    ops = len(proxy("/__proxy/log")["entries"])
    proxy("/__proxy/config", {"faults": [], "rate_limits": {}, "pending_seconds": 0,
                              "invisible_seconds": 0})
    # GC of anything a still-shutting-down instance held.
    sc.reconcile("--allow-empty", "--wait", "20s")
    stray = [l for x in sc.rows() for l in leftovers(x["id"])]
    check(r.returncode == 0 and all(x["status"] == "terminated" for x in sc.rows()),
          "chaos: every environment terminated (rc=%d)" % r.returncode)
    check(stray == [] and sc.instances() == [], "chaos: nothing leaked (%s)" % stray[:5])
    runs = proxy("/__proxy/log?action=RunInstances")["entries"]
    print("chaos: %d AWS operations through the proxy, %d RunInstances (%d replayed)" %
          (ops, len(runs), sum(1 for e in runs if e.get("replayed"))))
    check(ops >= 1000 or n < 48, "chaos: at least 1,000 operations (%d)" % ops)


def run_user_data(instance_id, top, region="us-east-1"):
    """Run the user-data envctl gave instance_id (aws CLI) as the instance
    would: bash in a sandbox under top with stand-ins for docker, git and
    the package managers; curl is real, so the secrets come through the
    presigned GET and the marker goes up the presigned PUT.  Returns the
    bash process and the stand-ins' calls."""
    ud = aws("ec2", "describe-instance-attribute", "--instance-id", instance_id,
             "--attribute", "userData", region=region)["UserData"]["Value"]
    script = base64.b64decode(ud).decode()
    fakes = os.path.join(os.environ.get("ENVCTL_SRC", os.path.dirname(os.path.abspath(__file__)) + "/../.."),
                         "tests", "integration", "userdata", "fake_cmd.py")
    root, bindir, log = os.path.join(top, "root"), os.path.join(top, "bin"), os.path.join(top, "calls.jsonl")
    os.makedirs(os.path.join(root, "etc", "ssh"))
    os.makedirs(bindir)
    # ssh-keyscan: the instance's sshd answering its own check
    for f in ["docker", "git", "dnf", "yum", "apt-get", "systemctl", "usermod", "getent",
              "chown", "runuser", "ssh-keyscan"]:
        os.symlink(fakes, os.path.join(bindir, f))
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                    os.path.join(root, "etc", "ssh", "ssh_host_ed25519_key")], check=True)
    path = os.path.join(top, "user-data.sh")
    with open(path, "w") as f:
        f.write(script)
    env = {"PATH": bindir + ":/usr/bin:/bin", "ENVCTL_ROOT": root, "FAKE_LOG": log,
           "HOME": top}
    b = subprocess.run(["bash", path], env=env, capture_output=True, text=True, timeout=120)
    if os.environ.get("IT_DEBUG"):
        print(open(log).read() if os.path.exists(log) else "no log")
    calls = [json.loads(x) for x in open(log)] if os.path.exists(log) else []
    return b, calls


LEAK_SPEC = textwrap.dedent("""\
    apiVersion: envctl/v1
    kind: Environment
    metadata: {name: leak, workspace: it}
    spec:
      instance: {type: t3.micro}
      access:
        ssh: {key: auto, allow_from: [203.0.113.7/32]}
      bootstrap:
        secrets:
          K: {env: AWS_SECRET_ACCESS_KEY}
          P: {env: PGPASSWORD}
    """)


def s3_bodies():
    """Every object in the bucket, read with the aws CLI."""
    out = []
    objs = aws("s3api", "list-objects-v2", "--bucket", BUCKET).get("Contents", [])
    for o in objs:
        path = tempfile.mktemp()
        aws("s3api", "get-object", "--bucket", BUCKET, "--key", o["Key"], path)
        with open(path, "rb") as f:
            out.append((o["Key"], f.read().decode("utf-8", "replace")))
        os.unlink(path)
    return out


def secrets():
    """Secrets only from the secret namespace.  A spec naming the
    controller's AWS_SECRET_ACCESS_KEY and PGPASSWORD is refused at its
    line by validate and by reconcile, and changes nothing of an existing
    environment; {env}, {file} (secrets_dir) and {ssm} (moto's SSM) reach a
    real bootstrap run; the canaries are in no S3 object, user-data, row,
    event or output (aws CLI, psql)."""
    sc = Scenario("sec", checks="status,marker")
    u = uuid.uuid4().hex
    aws_canary, pg_canary = "awscanary-" + u, "pgcanary-" + u
    file_val, ssm_val = "filesecret-" + u, "ssmsecret-" + u
    sdir = tempfile.mkdtemp(prefix="envctl-secrets-")
    with open(os.path.join(sdir, "api-key"), "w") as f:
        f.write(file_val + "\n")
    os.chmod(os.path.join(sdir, "api-key"), 0o600)
    param = "/envctl/it-%s/db" % u[:12]
    aws("ssm", "put-parameter", "--name", param, "--type", "SecureString", "--value", ssm_val)
    # moto checks no signature: the controller's own secrets are canaries here.
    sc.env.update({"AWS_SECRET_ACCESS_KEY": aws_canary, "PGPASSWORD": pg_canary,
                   "ENVCTL_SECRETS_DIR": sdir})
    leak = os.path.join(sc.specs, "leak.yaml")
    with open(leak, "w") as f:
        f.write(LEAK_SPEC)
    good = "secrets: {API_KEY: {env: ENVCTL_SECRET_CANARY}, FILE_KEY: {file: api-key}, " \
        "SSM_KEY: {ssm: %s}}" % param
    keep = os.path.join(sc.specs, "keep.yaml")
    text = SPEC.format(name="keep", on_drift="replace", disk=12, mode="dev")
    text = text.replace("secrets: {API_KEY: {env: ENVCTL_SECRET_CANARY}}", good)
    with open(keep, "w") as f:
        f.write(text)

    r = sc.envctl("validate", leak)
    out = r.stdout + r.stderr
    check(r.returncode == 1 and
          "%s:10:16: secret K: variable AWS_SECRET_ACCESS_KEY is not in the secret namespace" %
          leak in out and
          "%s:11:16: secret P: variable PGPASSWORD is not in the secret namespace" % leak in out,
          "secrets: validate refuses AWS_SECRET_ACCESS_KEY and PGPASSWORD at their lines (%d %s)" %
          (r.returncode, out.strip()[-300:]))
    r = sc.envctl("validate", keep)
    check(r.returncode == 0, "secrets: env, file and ssm references validate (%s)" %
          (r.stdout + r.stderr).strip()[-200:])

    r = sc.reconcile()
    out = r.stdout + r.stderr
    row = sc.live("keep")
    leaked = [i for i in sc.instances() if tags_of(i).get("envctl:env") == "leak"]
    check(sc.rows("leak") == [] and leaked == [] and "leak.yaml:10:16" in out,
          "secrets: reconcile refuses the spec at its line and provisions nothing of it "
          "(rows %s, instances %d, %s)" % (sc.rows("leak"), len(leaked), out.strip()[-300:]))
    check(bool(row) and row[0]["stage"] == "TAGGED",
          "secrets: the valid spec launched beside it (%s)" % (row and row[0]["stage"]))
    if not row:
        return
    b, calls = run_user_data(row[0]["instance_id"], tempfile.mkdtemp(prefix="envctl-sec-boot-"))
    envfiles = [c["env_file"]["content"] for c in calls if c.get("env_file")]
    check(b.returncode == 0 and any("API_KEY=%s\n" % CANARY in e and
                                    "FILE_KEY=%s\n" % file_val in e and
                                    "SSM_KEY=%s\n" % ssm_val in e for e in envfiles),
          "secrets: env, secrets_dir and ssm values reach the bootstrap through the "
          "presigned GET (%d %s)" % (b.returncode, b.stderr[-200:]))
    check(not any(aws_canary in e or pg_canary in e for e in envfiles),
          "secrets: the controller's own secrets are not in the secrets object")
    r = sc.reconcile()
    row = sc.live("keep")
    check(r.returncode == 0 and row and row[0]["status"] == "ready",
          "secrets: the bootstrap's marker makes it ready (%s)" % (row and row[0]["status"]))

    # The existing environment's spec now names the AWS key: left alone.
    with open(keep, "w") as f:
        f.write(text.replace("SSM_KEY:", "K: {env: AWS_SECRET_ACCESS_KEY}, SSM_KEY:"))
    before = sc.rows("keep")
    r = sc.reconcile()
    after = sc.rows("keep")
    inst = [i for i in sc.instances(states=("pending", "running"))
            if tags_of(i).get("envctl:env") == "keep"]
    objs = aws("s3api", "list-objects-v2", "--bucket", BUCKET, "--prefix",
               "envctl/%s/" % before[0]["id"]).get("Contents", [])
    check(after == before and len(inst) == 1 and inst[0]["InstanceId"] == before[0]["instance_id"]
          and "keep.yaml" in r.stdout + r.stderr and
          not any(o["Key"].endswith("secrets.env") for o in objs),
          "secrets: an existing environment whose spec turns invalid is left alone "
          "(rows %s -> %s, instances %d)" % (before, after, len(inst)))

    # The canaries: nowhere.
    bodies = s3_bodies()
    uds = []
    for i in sc.instances(states=("pending", "running", "stopping", "stopped", "shutting-down",
                                  "terminated")):
        ud = aws("ec2", "describe-instance-attribute", "--instance-id", i["InstanceId"],
                 "--attribute", "userData").get("UserData", {}).get("Value", "")
        uds.append(base64.b64decode(ud).decode("utf-8", "replace") if ud else "")
    dump = sc.psql("SELECT row_to_json(e)::text FROM environments e") + \
        sc.psql("SELECT row_to_json(v)::text FROM events v") + \
        sc.psql("SELECT row_to_json(r)::text FROM reconcile_runs r")
    for what, v in (("the AWS key", aws_canary), ("PGPASSWORD", pg_canary),
                    ("the file secret", file_val), ("the SSM secret", ssm_val)):
        check(not any(v in body for _, body in bodies) or v in (file_val, ssm_val) and
              not any(v in body for k, body in bodies if not k.endswith("secrets.env")),
              "secrets: %s in no S3 object (%d read)" % (what, len(bodies)))
        check(uds and not any(v in x for x in uds), "secrets: %s in no user-data (%d)" %
              (what, len(uds)))
        check(v not in dump, "secrets: %s in no row, event or run" % what)
        check(not any(v in o for o in outputs), "secrets: %s in no envctl output" % what)


def bootstrap():
    """The user-data envctl launched really runs: decoded from the instance,
    run by bash in a sandbox with stand-ins for docker, git and the package
    managers, it fetches the secrets and PUTs the marker through the
    presigned URLs envctl signed; the next pass marks the environment
    ready.  Hostile spec values run nothing."""
    sc = Scenario("boot", checks="status,marker")
    top = tempfile.mkdtemp(prefix="envctl-boot-")
    pwned = os.path.join(top, "pwned")
    hostile = "$(touch %s)`touch %s`'\\\"; touch %s" % (pwned, pwned, pwned)
    sc.spec("boot", mode=hostile)
    r = sc.reconcile()
    row = sc.live("boot")
    check(r.returncode == 2 and row and row[0]["stage"] == "TAGGED",
          "bootstrap: launched, waiting for the marker (%s)" % r.stderr.strip()[-200:])
    if not row:
        return
    b, calls = run_user_data(row[0]["instance_id"], top)
    check(b.returncode == 0, "bootstrap: the user-data script runs to its end (%d %s)" %
          (b.returncode, b.stderr[-300:]))
    check(not os.path.exists(pwned), "bootstrap: hostile spec values ran nothing")
    envfiles = [c["env_file"]["content"] for c in calls if c.get("env_file")]
    check(any(CANARY in e for e in envfiles),
          "bootstrap: the secret reached docker through the presigned GET")
    literal = "MODE=$(touch %s)`touch %s`'\"; touch %s" % (pwned, pwned, pwned)
    check(any(literal in c["args"] for c in calls if c["cmd"] == "docker"),
          "bootstrap: the hostile value reached docker as one literal argument")
    r = sc.reconcile()
    live = sc.live("boot")
    check(r.returncode == 0 and live and live[0]["status"] == "ready",
          "bootstrap: the marker PUT through the presigned URL makes it ready (%s)" %
          (live and live[0]["status"]))


def write_spec(sc, name, on_drift="replace", mode="dev", disk=12, instance_extra="",
               ssh_from="[203.0.113.7/32]", ports_from="[198.51.100.0/24]"):
    text = SPEC.format(name=name, on_drift=on_drift, disk=disk, mode=mode)
    text = text.replace("allow_from: [203.0.113.7/32]", "allow_from: " + ssh_from)
    text = text.replace("allow_from: [198.51.100.0/24]", "allow_from: " + ports_from)
    if instance_extra:
        text = text.replace("disk: {size_gb: %d}}" % disk,
                            "disk: {size_gb: %d}, %s}" % (disk, instance_extra))
    with open(os.path.join(sc.specs, name + ".yaml"), "w") as f:
        f.write(text)


def sg_rules(group_id):
    """(protocol, from, to, cidr) of every ingress rule, v4 and v6 (aws CLI)."""
    g = aws("ec2", "describe-security-groups", "--group-ids", group_id)["SecurityGroups"][0]
    rules = sorted((p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), r["CidrIp"])
                   for p in g["IpPermissions"] for r in p.get("IpRanges", []))
    rules += sorted((p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), r["CidrIpv6"])
                    for p in g["IpPermissions"] for r in p.get("Ipv6Ranges", []))
    return g, rules


def network():
    """IPv6 ingress applied as Ipv6Ranges, and the security group made in
    the VPC of the spec's subnet (not the default VPC)."""
    sc = Scenario("net")
    vpc = aws("ec2", "create-vpc", "--cidr-block", "10.77.0.0/16")["Vpc"]["VpcId"]
    # a zone that offers t3 (strict mode: us-east-1e does not)
    sub = aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block",
              "10.77.1.0/24", "--availability-zone", "us-east-1a")["Subnet"]["SubnetId"]
    default_vpc = aws("ec2", "describe-vpcs", "--filters",
                      "Name=isDefault,Values=true")["Vpcs"][0]["VpcId"]
    write_spec(sc, "six", ssh_from="[203.0.113.7/32, \"2001:db8:7::/64\"]",
               ports_from="[198.51.100.0/24, \"2001:db8:100::/48\"]",
               instance_extra="subnets: [%s]" % sub)
    r = sc.reconcile("--wait", "30s")
    row = sc.live("six")
    check(r.returncode == 0 and row and row[0]["status"] == "ready",
          "ipv6 + subnet: converged (%d %s)" % (r.returncode, r.stderr.strip()[-300:]))
    if not row:
        return
    check("IPv6" not in r.stderr, "no 'IPv6 not applied' warning any more")
    g, rules = sg_rules(row[0]["sg"])
    want = [("tcp", 22, 22, "203.0.113.7/32"), ("tcp", 8080, 8080, "198.51.100.0/24"),
            ("tcp", 22, 22, "2001:db8:7::/64"), ("tcp", 8080, 8080, "2001:db8:100::/48")]
    check(rules == want, "security group rules exactly the spec's, v4 and v6 (%s)" % rules)
    check(g["VpcId"] == vpc and vpc != default_vpc,
          "security group made in the subnet's VPC %s, not the default %s (%s)" %
          (vpc, default_vpc, g["VpcId"]))
    inst = aws("ec2", "describe-instances", "--instance-ids",
               row[0]["instance_id"])["Reservations"][0]["Instances"][0]
    check(inst.get("SubnetId") == sub and [x["GroupId"] for x in inst["SecurityGroups"]] ==
          [row[0]["sg"]], "instance launched in the subnet with that group (%s)" %
          inst.get("SubnetId"))
    # A subnet that does not exist fails before any group is made,
    # naming the subnet.
    write_spec(sc, "nosub", instance_extra="subnets: [subnet-0123456789abcdef0]")
    r = sc.reconcile()
    bad = sc.rows("nosub")
    errs = [json.loads(p) for t, p in sc.events("remote.provision.error")]
    check(r.returncode == 1 and bad and bad[0]["status"] == "error" and
          bad[0]["failed_at_stage"] == "KEYS_UPLOADED" and leftovers(bad[0]["id"]) == [] and
          any("subnet-0123456789abcdef0" in e["error"] for e in errs),
          "unknown subnet: error at KEYS_UPLOADED naming the subnet, nothing left (%s)" %
          [e["error"] for e in errs])
    sc.unspec("nosub")
    sc.unspec("six")
    r = sc.reconcile("--allow-empty", "--wait", "30s")
    gone = aws("ec2", "describe-security-groups", "--filters",
               "Name=vpc-id,Values=" + vpc, "Name=group-name,Values=envctl-*")["SecurityGroups"]
    check(r.returncode == 0 and gone == [] and leftovers(row[0]["id"]) == [],
          "terminated: the group in the other VPC is deleted too (%s)" % gone)


def prices():
    """price_table: a bad file stops reconcile before anything acts; a good
    one sets cost_per_hour_usd and the terminate books hours x price."""
    sc = Scenario("price")
    table = tempfile.mktemp(suffix=".prices")
    with open(table, "w") as f:
        f.write("# operator prices\nus-east-1 t3.micro 0.5\nus-east-1 t3.small -1\n")
    sc.env["ENVCTL_PRICE_TABLE"] = table
    sc.spec("pr")
    proxy("/__proxy/log/clear", {})
    r = sc.reconcile()
    mutating = [e["action"] for e in proxy("/__proxy/log")["entries"]
                if not e["action"].startswith(("Describe", "Get", "Head", "List"))]
    check(r.returncode == 1 and ("%s:3: bad price '-1'" % table) in r.stderr,
          "bad price_table: exit 1, file:line named (%d %s)" % (r.returncode, r.stderr.strip()))
    check(sc.rows() == [] and mutating == [] and sc.instances() == [],
          "bad price_table: nothing acted (rows %d, calls %s)" % (len(sc.rows()), mutating))
    r = sc.reconcile("--dry-run")
    check(r.returncode == 1, "bad price_table: --dry-run refuses it too (%d)" % r.returncode)
    with open(table, "w") as f:
        f.write("# operator prices\nus-east-1 t3.micro 0.5   # negotiated\n"
                "*  t3.small 0.25\n")
    r = sc.reconcile("--wait", "30s")
    row = sc.live("pr")
    cost = sc.psql("SELECT cost_per_hour_usd FROM environments WHERE name = 'pr'")
    check(r.returncode == 0 and row and row[0]["status"] == "ready" and float(cost) == 0.5,
          "price_table: cost_per_hour_usd is the table's 0.5, not the built-in 0.0104 (%s)" % cost)
    sc.psql("UPDATE environments SET launched_at = now() - interval '3 hours', "
            "ready_at = now() - interval '2 hours' WHERE name = 'pr'")
    sc.psql("UPDATE cost_segments SET started_at = now() - interval '3 hours' "
            "WHERE env_name = 'pr'")
    sc.unspec("pr")
    r = sc.reconcile("--allow-empty", "--wait", "30s")
    a = sc.rows("pr")[0]
    term = [json.loads(p) for t, p in sc.events("remote.terminate")]
    want = 3 * (0.5 + GP3_12GB)
    check(a["status"] == "terminated" and abs(float(a["cost"]) - want) < 0.001 and
          len(term) == 1 and abs(term[0]["cost_usd"] - want) < 0.001,
          "terminate books 3 h x (0.5 + 12 GB gp3) (row %s, event %s)" %
          (a["cost"], term and term[0]["cost_usd"]))


def drift_once():
    """on_drift: report records drift.detected once per fact (psql counts
    over several passes), drift.resolved when it goes, and again when it
    comes back; envctl drift follows the same rule."""
    sc = Scenario("dedup")
    sc.spec("dd", on_drift="report")
    r = sc.reconcile("--wait", "30s")
    check(r.returncode == 0, "dedup: converged (%d)" % r.returncode)

    def count(t):
        return int(sc.psql("SELECT count(*) FROM events WHERE type = '%s'" % t))
    sc.spec("dd", on_drift="report", mode="changed")
    codes = [sc.reconcile().returncode for _ in range(3)]
    check(codes == [2, 2, 2] and count("drift.detected") == 1,
          "3 passes with the same drift: one drift.detected (%d), exit 2 each %s" %
          (count("drift.detected"), codes))
    r = sc.envctl("drift")
    check(r.returncode == 2 and "spec changed" in r.stdout and count("drift.detected") == 1,
          "envctl drift reports it (exit 2) but records no second event (%d)" %
          count("drift.detected"))
    runs = sc.psql("SELECT count(*) FROM reconcile_runs WHERE counts ? 'drift_check' "
                   "AND drift_found = 1")
    check(runs == "1", "the drift check itself is a reconcile_runs row with drift_found 1 (%s)" % runs)
    # Another drift (a new spec change): a new fact, a new event.
    sc.spec("dd", on_drift="report", mode="changed-again")
    sc.reconcile()
    sc.reconcile()
    check(count("drift.detected") == 2, "a changed drift is recorded once more (%d)" %
          count("drift.detected"))
    # Resolved: the spec is back to what the instance runs.
    sc.spec("dd", on_drift="report")
    r = sc.reconcile()
    r2 = sc.reconcile()
    resolved = [json.loads(p) for t, p in sc.events("drift.resolved")]
    check(r.returncode == 0 and r2.returncode == 0 and len(resolved) == 1 and
          resolved[0]["env"] == "dd" and len(resolved[0]["fact"]) == 32,
          "drift gone: one drift.resolved (%s)" % resolved)
    # The same drift as the first one comes back: recorded again, once.
    sc.spec("dd", on_drift="report", mode="changed")
    for _ in range(3):
        sc.reconcile()
    det = [json.loads(p) for t, p in sc.events("drift.detected")]
    check(len(det) == 3 and det[2]["fact"] == det[0]["fact"],
          "the same drift back after it was resolved: recorded again, once (%d)" % len(det))
    # envctl drift also closes resolved drift.
    sc.spec("dd", on_drift="report")
    r = sc.envctl("drift")
    check(r.returncode == 0 and count("drift.resolved") == 2,
          "envctl drift records the resolution (%d)" % count("drift.resolved"))


def readiness():
    """ready_checks ssh and hostkey for real: the proxy points instances'
    public IP at 127.0.0.1 and answers GetConsoleOutput; the test plays
    the instance's sshd (a listener on ready_ssh_port) and its console."""
    import socket
    import time
    port = free_port()
    sc = Scenario("ssh", checks="status,ssh")
    sc.env["ENVCTL_READY_SSH_PORT"] = str(port)
    proxy("/__proxy/config", {"public_ips": {"*": "127.0.0.1"}})
    sc.spec("sshy")
    # The ssh check is the opt-in for a controller its instances admit: the
    # spec's allow_from holds the controller's address (strict mode's
    # reachability gives the instance an unreachable address otherwise).
    path = os.path.join(sc.specs, "sshy.yaml")
    with open(path) as f:
        text = f.read().replace("allow_from: [203.0.113.7/32]", "allow_from: [127.0.0.1/32]")
    with open(path, "w") as f:
        f.write(text)
    r1 = sc.reconcile()
    r2 = sc.reconcile()
    row = sc.live("sshy")
    check(r1.returncode == 2 and r2.returncode == 2 and row and row[0]["status"] == "provisioning"
          and row[0]["stage"] == "TAGGED" and
          sc.psql("SELECT public_ip FROM environments WHERE name = 'sshy'") == "127.0.0.1",
          "ssh port closed: not ready, public IP 127.0.0.1 recorded (%s)" %
          (row and row[0]["status"]))
    # The row says it was launched long ago; EC2 must agree that it has
    # been (strict mode hides an instance for a second after its launch,
    # and reconcile --once takes less).
    time.sleep(1.5)
    sc.psql("UPDATE environments SET launched_at = now() - interval '2 hours'")
    r = sc.reconcile()
    rows = sc.rows("sshy")
    # The group may still be in use by the instance shutting down (EC2's
    # DependencyViolation, strict mode): then it stays on the row and a
    # later pass deletes it (checked at the end).
    left = leftovers(rows[0]["id"])
    check(r.returncode == 1 and rows[0]["status"] == "error" and rows[0]["failed_at_stage"] == "TAGGED"
          and (left == [] or (len(left) == 1 and left[0] == "sg " + rows[0]["sg"])) and
          sc.instances() == [] and
          any("ready_timeout" in p for t, p in sc.events("remote.provision.error")),
          "ssh closed past ready_timeout: rolled back, nothing left but a group still in "
          "use, kept on the row (%s %s)%s" % (rows[0]["status"], left,
                                              "" if left == [] else "\n" + r.stderr[-1500:]))
    first_id = rows[0]["id"]
    lsn = socket.socket()
    lsn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsn.bind(("127.0.0.1", port))
    lsn.listen(16)
    time.sleep(1.2)     # past the 1 s backoff
    r = sc.reconcile("--wait", "30s")
    row = sc.live("sshy")
    check(r.returncode == 0 and row and row[0]["status"] == "ready",
          "ssh port open: the retry becomes ready (%d %s)" % (r.returncode, row and row[0]["status"]))
    lsn.close()
    sc.unspec("sshy")
    sc.reconcile("--allow-empty", "--wait", "30s")
    left = leftovers(first_id)
    check(left == [], "ssh: nothing of the rolled-back attempt is left in the end (%s)" % left)

    # hostkey: the marker's fingerprint against the console's.
    sc = Scenario("hostkey", checks="status,marker,hostkey")
    for n in ("hk-same", "hk-other", "hk-none"):
        sc.spec(n)
    sc.reconcile()
    ids = {x["name"]: x["instance_id"] for x in sc.rows()}
    same = "SHA256:" + "A" * 43
    other = "SHA256:" + "B" * 43
    proxy("/__proxy/config", {"console_output": {
        ids["hk-same"]: "cloud-init: ec2: 256 %s root@host (ED25519)\n" % same,
        ids["hk-other"]: "cloud-init: ec2: 256 %s root@host (ED25519)\n" % other,
        ids["hk-none"]: "booting...\nno keys printed here\n"}})
    proxy("/__proxy/log/clear", {})
    sc.put_markers()
    r = sc.reconcile()
    st = {x["name"]: x for x in sc.rows()}
    errs = [json.loads(p) for t, p in sc.events("remote.provision.error")]
    check(st["hk-same"]["status"] == "ready", "hostkey: console fingerprint = marker's: ready")
    check(st["hk-none"]["status"] == "provisioning" and st["hk-none"]["stage"] == "TAGGED",
          "hostkey: console without fingerprints: still waiting, never passed (%s)" %
          st["hk-none"]["status"])
    check(sc.psql("SELECT host_keys FROM environments WHERE name = 'hk-same'") == same,
          "hostkey: the verified fingerprint is stored on the row (psql)")
    check(st["hk-other"]["status"] == "error" and st["hk-other"]["failed_at_stage"] == "TAGGED" and
          any(e["env"] == "hk-other" and "does not match" in e["error"] for e in errs),
          "hostkey: another fingerprint on the console: error naming the mismatch (%s)" %
          [e["error"] for e in errs])
    asked = {e["params"].get("InstanceId") for e in proxy("/__proxy/log?action=GetConsoleOutput")["entries"]}
    check(asked == set(ids.values()), "hostkey: the console of each instance was read (%s)" % asked)
    proxy("/__proxy/config", {"console_output": {}, "public_ips": {}})


def hostile():
    """Rows whose name, error and stage hold a newline and terminal escapes
    (written with psql): `status`, `plan` and the log lines of a pass that
    closes them print one line each, as many as for a plain row, and never
    an ESC, BEL or CR byte."""
    sc = Scenario("hostile")
    sc.env["ENVCTL_ALLOW_EMPTY"] = "true"       # no specs: both rows close
    evil = r"x-evil\nenvctl: forged\x1b[2J"   # SQL E'' escapes

    def seed():
        for name, error, stage in [
                ("x-plain", "boom plain", "SG_READY"),
                (evil, r"boom\n\x1b[2Jgone\x1b]0;pwned\x07\r", r"SG\x1b[31m")]:
            sc.psql("INSERT INTO environments (id, name, workspace, status, stage, "
                    "metadata, cluster_id) VALUES ('%s', E'%s', 'it', 'error', 'INIT', "
                    "jsonb_build_object('error', E'%s', 'failed_at_stage', E'%s'), '%s')"
                    % (uuid.uuid4(), name, error, stage, sc.cluster))
    seed()
    check(sc.psql("SELECT count(*) FROM environments WHERE name LIKE E'%\\x1b%'") == "1",
          "hostile: psql stored a name holding ESC")
    shown = r"x-evil\nenvctl: forged\x1b[2J"   # as envctl escapes it

    def inert(what, r):
        out = r.stdout + r.stderr
        bad = [c for c in "\x1b\x07\r\x9b" if c in out]
        check(not bad, "hostile: %s prints no control character (found %r)" % (what, bad))
        forged = [ln for ln in out.splitlines() if ln.startswith("envctl: forged")]
        check(not forged, "hostile: %s has no forged line: %r" % (what, forged))

    def lines_with(text, out):
        return len([ln for ln in out.splitlines() if text in ln])

    r = sc.envctl("status")
    check(r.returncode == 0, "hostile: status exits 0: " + r.stderr.strip())
    inert("status", r)
    check(lines_with("x-plain", r.stdout) == 1 and lines_with(shown, r.stdout) == 1,
          "hostile: status shows each name on one line, escaped:\n" + r.stdout)
    check(lines_with("last error", r.stdout) == 2 and
          r"boom\n\x1b[2Jgone\x1b]0;pwned\x07\r" in r.stdout and r"SG\x1b[31m" in r.stdout,
          "hostile: status shows each error on one line, escaped")
    check(len(r.stdout.splitlines()) == 5, "hostile: status prints 1 + 2 * 2 lines")
    r = sc.envctl("status", "x-evil\n\x1b[2J")
    inert("status of an unknown hostile name", r)
    check(r.returncode == 1 and len(r.stderr.splitlines()) == 1,
          "hostile: the error naming it is one line: " + r.stderr)

    r = sc.envctl("plan")
    check(r.returncode == 2, "hostile: plan exits 2: " + r.stderr.strip())
    inert("plan", r)
    check(lines_with("x-plain", r.stdout) == 1 and lines_with(shown, r.stdout) == 1,
          "hostile: plan shows each on one line:\n" + r.stdout)

    for fmt in ("text", "json"):
        if fmt == "json":
            seed()
            sc.env["ENVCTL_LOG_FORMAT"] = "json"
        r = sc.reconcile()
        inert("reconcile (%s log)" % fmt, r)
        plain = lines_with("x-plain", r.stderr)
        check(plain > 0 and lines_with("x-evil", r.stderr) == plain,
              "hostile: %s log: as many lines name the hostile row as the plain one "
              "(%d)\n%s" % (fmt, plain, r.stderr))
        if fmt == "json":
            check(all(json.loads(ln)["msg"] for ln in r.stderr.splitlines()),
                  "hostile: every json log line parses")
    check(sc.live("x-plain") == [], "hostile: the plain row was closed")
    check(sc.psql("SELECT count(*) FROM environments WHERE status <> 'terminated'") == "0",
          "hostile: the hostile row was closed too")


def own():
    """Destruction only of what is provably envctl's own (design §3.9).
    Two clusters on one database, five alternating passes each: every
    instance of each survives, one per environment.  Rows forged with psql
    point at an untagged instance, the other cluster's instance and an
    unrelated security group: all three survive, the events say why, plan
    and status show it.  Last, the AWS calls of one terminate, counted from
    the proxy's log (the figure in docs/benchmarks.md)."""
    a, b = Scenario("own-a"), Scenario("own-b")
    b.db = a.db                                  # one database, two clusters
    b.env["PGDATABASE"] = a.db
    for sc in (a, b):
        sc.spec("web")
        sc.spec("api")
    first = {}
    for i in range(5):
        for sc in (a, b):
            r = sc.reconcile()
            check(r.returncode in (0, 2), "own: %s pass %d acts without error (%d: %s)" %
                  (sc.cluster, i + 1, r.returncode, r.stderr.strip()[-300:]))
            insts = sc.instances()
            first.setdefault(sc.cluster, sorted(x["InstanceId"] for x in insts))
    for sc in (a, b):
        insts = sc.instances()
        names = sorted(tags_of(x)["envctl:env"] for x in insts)
        check(names == ["api", "web"], "own: %s has one instance per environment (%s)" %
              (sc.cluster, names))
        check(sorted(x["InstanceId"] for x in insts) == first[sc.cluster],
              "own: %s's instances of the first pass all survive" % sc.cluster)
        gone = sc.instances(states=("shutting-down", "terminated"))
        check(gone == [], "own: %s lost no instance (%s)" % (sc.cluster,
              [x["InstanceId"] for x in gone]))
    rows = a.psql("SELECT cluster_id, name, status FROM environments ORDER BY 1, 2")
    want = "\n".join("%s|%s|ready" % (c, n) for c in sorted((a.cluster, b.cluster))
                     for n in ("api", "web"))
    check(rows == want, "own: one ready row per environment and cluster (psql):\n" + rows)

    # Forged rows in cluster a, pointing at what is not a's.
    web_a = [x for x in a.instances() if tags_of(x)["envctl:env"] == "web"][0]
    stray = aws("ec2", "run-instances", "--image-id", web_a["ImageId"], "--instance-type",
                "t3.micro", "--count", "1")["Instances"][0]["InstanceId"]
    theirs = [x for x in b.instances() if tags_of(x)["envctl:env"] == "web"][0]["InstanceId"]
    group = aws("ec2", "create-security-group", "--group-name", "unrelated-db",
                "--description", "not envctl's")["GroupId"]
    forged = {"forged-untagged": ("'%s'" % stray, "NULL", "no tag envctl:managed"),
              "forged-theirs": ("'%s'" % theirs, "NULL",
                                "tag envctl:cluster is '%s', not '%s'" % (b.cluster, a.cluster)),
              "forged-group": ("NULL", "'%s'" % group, "no tag envctl:managed")}
    for name, (inst, sg, _) in forged.items():
        a.psql("INSERT INTO environments (id, name, workspace, status, stage, instance_id, "
               "security_group_id, cluster_id) VALUES ('%s', '%s', 'it', 'ready', 'DONE', %s, %s, "
               "'%s')" % (uuid.uuid4(), name, inst, sg, a.cluster))
    proxy("/__proxy/log/clear", {})
    r1, r2 = a.reconcile(), a.reconcile()
    check(r1.returncode == 1 and "not ours" in r1.stderr,
          "own: the pass that meets them fails, saying 'not ours' (%d)" % r1.returncode)
    check(r2.returncode == 2, "own: the next pass holds them (exit 2: %d %s)" %
          (r2.returncode, r2.stderr.strip()[-300:]))
    log = proxy("/__proxy/log")["entries"]
    touched = [(e["action"], v) for e in log for k, v in e["params"].items()
               if e["action"] in ("TerminateInstances", "DeleteSecurityGroup",
                                  "AuthorizeSecurityGroupIngress",
                                  "RevokeSecurityGroupIngress")
               and v in (stray, theirs, group)]
    check(touched == [], "own: no mutating call named a forged row's resource (%s)" % touched)
    live = {x["InstanceId"]: x["State"]["Name"] for res in aws(
        "ec2", "describe-instances", "--instance-ids", stray, theirs)["Reservations"]
        for x in res["Instances"]}
    check(live == {stray: "running", theirs: "running"},
          "own: the untagged and the other cluster's instance still run (aws: %s)" % live)
    check(len(aws("ec2", "describe-security-groups", "--group-ids", group)["SecurityGroups"]) == 1,
          "own: the unrelated security group still exists (aws)")
    ev = a.psql("SELECT e.name, ev.payload->>'reason' FROM events ev JOIN environments e "
                "ON e.id = ev.env_id WHERE ev.type = 'ownership.refused' ORDER BY 1")
    got = dict(line.split("|", 1) for line in ev.splitlines())
    check(sorted(got) == sorted(forged) and all(got[n] == forged[n][2] for n in forged),
          "own: one ownership.refused per forged row, in two passes, saying why (psql):\n" + ev)
    st = a.psql("SELECT string_agg(DISTINCT status || '/' || (metadata->>'failed_at_stage'), ',') "
                "FROM environments WHERE name LIKE 'forged-%'")
    check(st == "terminating/ownership", "own: forged rows kept, failed at ownership (%s)" % st)
    r = a.envctl("plan")
    held = [ln for ln in r.stdout.splitlines() if "forged-" in ln and "not ours" in ln]
    check(len(held) == 3 and all(ln.strip().startswith("#") for ln in held),
          "own: plan shows the three held, not ours:\n" + r.stdout)
    r = a.envctl("status")
    check(r.stdout.count("not ours") == 3, "own: status shows the three errors:\n" + r.stdout)
    check(len(b.instances()) == 2 and len(a.instances()) == 2,
          "own: both clusters keep their two instances")

    # The figure: the AWS calls of one terminate (the api spec removed).
    a.psql("DELETE FROM environments WHERE name LIKE 'forged-%'")
    a.unspec("api")
    proxy("/__proxy/log/clear", {})
    r = a.reconcile()
    calls = {}
    for e in proxy("/__proxy/log")["entries"]:
        calls[e["action"]] = calls.get(e["action"], 0) + 1
    print("own: AWS calls of a pass that terminates one environment: %s" %
          json.dumps(calls, sort_keys=True))
    check(r.returncode == 0 and calls.get("TerminateInstances") == 1 and
          calls.get("DescribeKeyPairs") == 1 and calls.get("DeleteKeyPair") == 1,
          "own: one terminate, its key pair described once before it is deleted (%s)" % calls)
    check([x for x in b.instances() if tags_of(x)["envctl:env"] == "api"] != [],
          "own: b's api instance is untouched")


def audit():
    """The audit trail (design §5.1): a person's reconcile records who ran it
    (OS user, AWS principal as `aws sts get-caller-identity` says, flags but
    never their values); every event and the run row carry the command's
    correlation id and the spec revision (psql), and so does every JSON log
    line, with env/region/operation as fields, not text in msg; at debug
    one line per AWS call, as many RunInstances lines as the proxy saw;
    `envctl events` reads the same trail, filtered, and only its cluster's."""
    sc = Scenario("audit")
    sc.spec("au-1")
    sc.env["ENVCTL_LOG_FORMAT"] = "json"
    sc.env["ENVCTL_LOG_LEVEL"] = "debug"
    proxy("/__proxy/log/clear", {})
    secret_url = "host=/nonexistent password=" + CANARY
    r = sc.envctl("reconcile", "--once", "--force", "--database-url=" + secret_url)
    check(r.returncode == 1, "audit: a bad --database-url fails: " + r.stderr[-200:])
    r = sc.reconcile("--force")
    check(r.returncode in (0, 2), "audit: reconcile --once --force ran: " + r.stderr[-300:])
    cmd = sc.psql("SELECT payload->>'os_user', payload->>'aws_principal', payload->>'flags', "
                  "correlation_id FROM events WHERE type = 'command'").split("|")
    me = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    arn = aws("sts", "get-caller-identity")["Arn"]
    check(len(cmd) == 4 and cmd[0] == me and cmd[1] == arn and cmd[2] == "--once --force",
          "audit: one command event: os_user %s, aws_principal %s (aws CLI), flags "
          "'--once --force' (psql: %s)" % (me, arn, cmd))
    cid = cmd[3] if len(cmd) == 4 else ""
    check(len(cid) == 16, "audit: the command has a correlation id: %r" % cid)
    evs = sc.psql("SELECT count(*), count(*) FILTER (WHERE correlation_id = '%s'), "
                  "count(*) FILTER (WHERE revision = 'local'), count(DISTINCT cluster_id) "
                  "FROM events" % cid).split("|")
    check(int(evs[0]) >= 2 and evs[0] == evs[1] == evs[2] and evs[3] == "1",
          "audit: every event carries the correlation id and the revision (psql: %s)" % evs)
    run = sc.psql("SELECT correlation_id, cluster_id FROM reconcile_runs")
    check(run == "%s|%s" % (cid, sc.cluster),
          "audit: the reconcile run row has it and the cluster (psql: %s)" % run)
    lines = [json.loads(ln) for ln in r.stderr.splitlines()]
    check(lines and all(d.get("correlation_id") == cid for d in lines),
          "audit: every JSON log line has correlation_id %s (%d lines)" % (cid, len(lines)))
    envd = [d for d in lines if d.get("env") == "au-1"]
    check(envd and all("env=" not in d["msg"] and "env_id=" not in d["msg"] for d in envd) and
          any(d.get("operation") == "provision" and d.get("region") == "us-east-1"
              for d in envd),
          "audit: the environment's lines have env, operation and region as fields, "
          "none in msg (%d lines)" % len(envd))
    calls = [d for d in lines if d.get("aws_action") == "RunInstances"]
    seen = len(proxy("/__proxy/log?action=RunInstances")["entries"])
    check(calls and len(calls) == seen and
          all(isinstance(d.get("duration_ms"), int) and d.get("attempts", 0) >= 1 and
              d.get("region") == "us-east-1" and d["msg"] == "aws call" for d in calls),
          "audit: one debug line per AWS call: %d RunInstances lines with duration_ms, "
          "attempts, region = %d in the proxy log" % (len(calls), seen))
    check(all(CANARY not in x for x in outputs) and
          sc.psql("SELECT count(*) FROM events WHERE payload::text LIKE '%%%s%%'" % CANARY) == "0",
          "audit: the --database-url value is in no output and no event")
    sc.env.pop("ENVCTL_LOG_LEVEL")
    r = sc.envctl("events", "au-1", "-o", "json")
    got = json.loads(r.stdout) if r.returncode == 0 else []
    want = sc.psql("SELECT count(*) FROM events e JOIN environments x ON x.id = e.env_id "
                   "WHERE x.name = 'au-1'")
    check(len(got) == int(want) > 0 and all(e["correlation_id"] == cid and e["env"] == "au-1"
                                             for e in got),
          "audit: envctl events au-1 -o json: %d events = psql %s, with the cid" % (len(got), want))
    check([e["id"] for e in got] == sorted(e["id"] for e in got),
          "audit: oldest first")
    r = sc.envctl("events", "--type", "remote.*", "--since", "1h", "--cid", cid, "-o", "json")
    got = json.loads(r.stdout) if r.returncode == 0 else []
    want = sc.psql("SELECT count(*) FROM events WHERE type LIKE 'remote.%%'")
    check(len(got) == int(want) > 0 and all(e["type"].startswith("remote.") for e in got),
          "audit: --type remote.* --since 1h --cid: %d = psql %s" % (len(got), want))
    r = sc.envctl("events", "--type", "re*mote")
    check(r.returncode == 1 and "only at its end" in r.stderr,
          "audit: a '*' inside --type is refused: " + r.stderr.strip())
    r = sc.envctl("events")
    check(r.returncode == 0 and "command" in r.stdout and "cid=" + cid in r.stdout,
          "audit: envctl events prints the trail as lines:\n" + r.stdout[:400])
    other = dict(sc.env)
    sc.env["ENVCTL_CLUSTER_ID"] = sc.cluster + "-other"
    r = sc.envctl("events", "-o", "json")
    sc.env = other
    check(r.returncode == 0 and json.loads(r.stdout) == [],
          "audit: another cluster's controller sees none of these events")


def quota():
    """Quotas (design §3.10): a workspace's environment quota and the
    cluster's vCPU quota hold new environments with the reason (plan, one
    quota.held event per hold in psql), provision what fits (aws CLI), let
    the longest-waiting go first when room appears, and never terminate
    what is live when a quota shrinks."""
    sc = Scenario("quota")
    names = lambda: sorted(t["Value"] for i in sc.instances()  # noqa: E731
                           for t in i.get("Tags", []) if t["Key"] == "envctl:env")
    for n in ("q1", "q2", "q4"):
        sc.spec(n)
    sc.env["ENVCTL_QUOTA"] = "it: envs=2; *: envs=100"
    r = sc.reconcile()
    check(r.returncode in (0, 2), "quota: reconcile ran: " + r.stderr[-300:])
    check(names() == ["q1", "q2"], "quota: q1 and q2 launched, q4 held (aws CLI: %s)" % names())
    held = sc.events("quota.held")
    check(len(held) == 1 and json.loads(held[0][1])["env"] == "q4" and
          "quota of workspace it: environments 2 + 1 > 2" in json.loads(held[0][1])["reason"],
          "quota: one quota.held event for q4 with the reason (psql: %s)" % held)
    time.sleep(1.1)                     # q3's hold is later than q4's
    sc.spec("q3")
    r = sc.envctl("plan")
    check("quota of workspace it: environments 2 + 1 > 2" in r.stdout and "q3" in r.stdout,
          "quota: plan shows q3 and q4 held with the reason:\n" + r.stdout)
    sc.reconcile()
    sc.reconcile()
    held = [json.loads(p)["env"] for _, p in sc.events("quota.held")]
    check(sorted(held) == ["q3", "q4"], "quota: one event per hold, not per pass (psql: %s)" % held)
    def held_in_status():
        r = sc.envctl("status", "-o", "json")
        return sorted((e["name"], e["held_reason"]) for e in json.loads(r.stdout)
                      if e["status"] == "held")
    st = held_in_status()
    check([n for n, _ in st] == ["q3", "q4"] and all("environments 2 + 1 > 2" in w for _, w in st),
          "quota: status lists q3 and q4 held, with the reason: %s" % st)
    sc.env["ENVCTL_QUOTA"] = "it: envs=1"
    sc.reconcile()
    check(names() == ["q1", "q2"], "quota: a shrunk quota terminates nothing (aws CLI: %s)" % names())
    sc.env["ENVCTL_QUOTA"] = "it: envs=3"
    sc.reconcile()
    check(names() == ["q1", "q2", "q4"],
          "quota: room for one: q4, held longest, goes before q3 (aws CLI: %s)" % names())
    check([n for n, _ in held_in_status()] == ["q3"],
          "quota: status lists only q3 once q4 provisions: %s" % held_in_status())
    sc.unspec("q3")
    sc.reconcile()
    rel = [json.loads(p) for _, p in sc.events("quota.released")]
    check(sorted((e["env"], e["reason"]) for e in rel) == [("q3", "spec removed"),
                                                           ("q4", "within quota")],
          "quota: quota.released once for q4 (provisioned) and for q3 (its spec removed) "
          "(psql: %s)" % rel)
    check(held_in_status() == [], "quota: status lists no hold once q3's spec is gone: %s"
          % held_in_status())
    sc.spec("q3")                       # back: a plan holds it anew
    vcpus = aws("ec2", "describe-instance-types", "--instance-types", "t3.micro")[
        "InstanceTypes"][0]["VCpuInfo"]["DefaultVCpus"]
    sc.env["ENVCTL_QUOTA"] = "*: vcpus=%d" % (3 * vcpus + 1)
    r = sc.envctl("plan")
    want = "quota of the cluster: vCPUs %d + %d > %d" % (3 * vcpus, vcpus, 3 * vcpus + 1)
    check(want in r.stdout, "quota: the vCPUs of t3.micro from DescribeInstanceTypes (aws CLI: "
          "%d): %r in plan:\n%s" % (vcpus, want, r.stdout))
    # instance.types: q3 counts its largest type, not its preferred one
    xl = aws("ec2", "describe-instance-types", "--instance-types", "t3.xlarge")[
        "InstanceTypes"][0]["VCpuInfo"]["DefaultVCpus"]
    path = os.path.join(sc.specs, "q3.yaml")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("type: t3.micro", "types: [t3.micro, t3.xlarge]"))
    r = sc.envctl("plan")
    want = "quota of the cluster: vCPUs %d + %d > %d" % (3 * vcpus, xl, 3 * vcpus + 1)
    check(want in r.stdout, "quota: instance.types counts the largest, t3.xlarge (aws CLI: "
          "%d vCPUs): %r in plan:\n%s" % (xl, want, r.stdout))
    sc.env["ENVCTL_QUOTA"] = "it: envs=two"
    r = sc.envctl("plan")
    check(r.returncode == 1 and "quota" in r.stderr and "envs=N" in r.stderr,
          "quota: a malformed quota is a configuration error: " + r.stderr.strip())
def strict_pipeline():
    """The pipeline under the strict emulator (faultproxy STRICT): new
    groups, key pairs and instances invisible for a while (retried within
    the step, no rollback); status checks initializing and an empty
    console for a while (readiness waits); a private subnet without a
    public IP reaching ready with the default checks; the verified host
    key stored on the row; a mismatched host key refused; Unsupported in
    one zone moving to the next subnet; an orphan's group left by
    DependencyViolation deleted by a later pass.  Checked with psql and
    the aws CLI."""
    import time
    proxy("/__proxy/config", {"strict": {"console_seconds": 4.0,
                                         "status_initializing_seconds": 2.0,
                                         "invisible": {"security_group": 1.0,
                                                       "key_pair": 1.0,
                                                       "instance": 1.0}}})
    sc = Scenario("strict", checks="status,marker,hostkey")
    # hk-bad is refused in whichever of the two passes below first sees the
    # console (a loaded machine can be past console_seconds at the first):
    # no retry of it may start before the checks.
    sc.env["ENVCTL_BACKOFF_BASE"] = "10m"
    vpc = aws("ec2", "create-vpc", "--cidr-block", "10.88.0.0/16")["Vpc"]["VpcId"]
    priv = aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.88.1.0/24",
               "--availability-zone", "us-east-1a")["Subnet"]["SubnetId"]
    # us-east-1e offers no t3 in strict mode's default type offerings.
    no_t3 = aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.88.2.0/24",
                "--availability-zone", "us-east-1e")["Subnet"]["SubnetId"]
    write_spec(sc, "priv", instance_extra="subnets: [%s]" % priv)
    write_spec(sc, "zones", instance_extra="subnets: [%s, %s]" % (no_t3, priv))
    write_spec(sc, "hk-bad", instance_extra="subnets: [%s]" % priv)
    proxy("/__proxy/log/clear", {})
    r = sc.reconcile()
    rows = {x["name"]: x for x in sc.rows()}
    check(r.returncode in (0, 2) and all(rows.get(n, {}).get("status") == "provisioning" and
                                         rows[n]["attempts"] == "0"
                                         for n in ("priv", "zones", "hk-bad")) and
          sc.events("remote.provision.error") == [],
          "strict: launched without a rollback despite invisible groups, keys, instances "
          "(%d %s %s)" % (r.returncode, {n: (x["status"], x["attempts"]) for n, x in rows.items()},
                          r.stderr.strip()[-400:]))
    log = proxy("/__proxy/log")["entries"]
    notfound = [e for e in log if e.get("fault") == "strict-invisible"]
    check(notfound != [], "strict: the proxy did answer NotFound for new resources (%d)" %
          len(notfound))
    unsup = [e for e in log if e.get("fault") == "strict-unsupported"]
    check(len(unsup) >= 1, "strict: RunInstances in us-east-1e answered Unsupported (%d)" %
          len(unsup))
    if len(rows) < 3 or not all(rows[n]["instance_id"] for n in rows):
        return
    insts = {}
    for n, x in rows.items():
        insts[n] = aws("ec2", "describe-instances", "--instance-ids",
                       x["instance_id"])["Reservations"][0]["Instances"][0]
    check(insts["zones"].get("SubnetId") == priv,
          "strict: Unsupported in us-east-1e: launched in the next subnet %s (%s)" %
          (priv, insts["zones"].get("SubnetId")))
    check(not insts["priv"].get("PublicIpAddress") and
          sc.psql("SELECT coalesce(public_ip, '') FROM environments WHERE name = 'priv'") == "",
          "strict: the private subnet's instance has no public IP (aws CLI, psql)")
    same = "SHA256:" + "A" * 43
    other = "SHA256:" + "B" * 43
    proxy("/__proxy/config", {"console_output": {
        rows["priv"]["instance_id"]: "ec2: 256 %s root@ip-10-88-1-5 (ED25519)\n" % same,
        rows["zones"]["instance_id"]: "ec2: 256 %s root@ip-10-88-1-6 (ED25519)\n" % same,
        rows["hk-bad"]["instance_id"]: "ec2: 256 %s root@ip-10-88-1-7 (ED25519)\n" % other}})
    sc.put_markers()
    # The console is empty for console_seconds after launch: waiting.
    r = sc.reconcile()
    rows = {x["name"]: x for x in sc.rows()}
    launched = float(sc.psql("SELECT extract(epoch FROM now() - max(launched_at)) "
                             "FROM environments"))
    if launched < 4.0:
        check(rows["priv"]["status"] == "provisioning" and rows["priv"]["stage"] == "TAGGED",
              "strict: status initializing / console empty: still waiting (%s %s)" %
              (rows["priv"]["status"], rows["priv"]["stage"]))
    time.sleep(max(0.0, 4.5 - launched))
    r = sc.reconcile()
    rows = {x["name"]: x for x in sc.rows()}
    check(rows["priv"]["status"] == "ready" and rows["zones"]["status"] == "ready",
          "strict: private subnet, no public IP, default checks: ready (%s %s %s)" %
          (rows["priv"]["status"], rows["zones"]["status"], r.stderr.strip()[-400:]))
    check(sc.psql("SELECT host_keys FROM environments WHERE name = 'priv'") == same,
          "strict: the verified host key is stored on the row (psql)")
    st = sc.envctl("status", "-o", "json")
    shown = {e["name"]: e.get("host_keys") for e in json.loads(st.stdout or "[]")}
    check(shown.get("priv") == same, "strict: status -o json shows the host key (%s)" % shown)
    errs = [json.loads(p) for t, p in sc.events("remote.provision.error")]
    bad = [x for x in sc.rows("hk-bad")]
    # Real EC2 keeps the group while the instance shuts down
    # (DependencyViolation): the row keeps it for the retry or GC.
    left = [x for x in leftovers(bad[0]["id"]) if not x == "sg " + bad[0]["sg"]] if bad else []
    check(bad and bad[0]["status"] == "error" and bad[0]["failed_at_stage"] == "TAGGED" and
          any(e["env"] == "hk-bad" and "does not match" in e["error"] for e in errs) and
          left == [],
          "strict: a mismatched host key is refused and rolled back (%s %s %s)" %
          (bad and bad[0]["status"], left, [e["error"] for e in errs]))
    consoles = [e for e in proxy("/__proxy/log?action=GetConsoleOutput")["entries"]]
    check(consoles and all(e["params"].get("Latest") == "true" for e in consoles),
          "strict: GetConsoleOutput always sent with Latest=true (%d)" % len(consoles))
    sc.unspec("hk-bad")
    sc.reconcile()

    # An orphan: the row lost, the spec gone; its group still in use.
    env_id = rows["zones"]["id"]
    sg = rows["zones"]["sg"]
    sc.unspec("zones")
    sc.psql("DELETE FROM environments WHERE name = 'zones'")
    proxy("/__proxy/config", {"faults": [{"action": "DeleteSecurityGroup", "every": True,
                                          "times": 1,
                                          "status": 400, "code": "DependencyViolation",
                                          "message": "resource %s has a dependent object" % sg}]})
    r = sc.reconcile("--allow-empty")
    left = sc.psql("SELECT status || '|' || coalesce(security_group_id, '') || '|' || "
                   "coalesce(termination_reason, '') FROM environments WHERE id = '%s'" % env_id)
    exists = aws("ec2", "describe-security-groups", "--filters",
                 "Name=group-id,Values=" + sg)["SecurityGroups"]
    check(left == "terminated|%s|orphan" % sg and exists != [] and
          len(sc.events("orphan.group_left")) == 1,
          "strict: orphan's group in use: recorded on a row, still exists (%s, %d)" %
          (left, len(exists)))
    proxy("/__proxy/config", {"faults": []})
    r = sc.reconcile("--allow-empty")
    left = sc.psql("SELECT coalesce(security_group_id, '') FROM environments WHERE id = '%s'"
                   % env_id)
    exists = aws("ec2", "describe-security-groups", "--filters",
                 "Name=group-id,Values=" + sg)["SecurityGroups"]
    check(left == "" and exists == [] and len(sc.events("gc.group_deleted")) == 1,
          "strict: a later pass deletes the orphan's group (aws CLI), the row forgets it "
          "(%r, %d)" % (left, len(exists)))
    sc.unspec("priv")
    sc.reconcile("--allow-empty", "--wait", "30s")
    proxy("/__proxy/config", {"console_output": {}, "strict": "base"})
def regions():
    """Under strict mode (all of it; bucket_region and architecture are
    what this checks): a bucket in a third
    region (ap-southeast-2) with specs in us-east-1 and eu-west-1, and a
    Graviton (t4g) spec beside an x86 one.  Every S3 call and presigned URL
    goes to the bucket's region (the instance's own curl included), each
    image fits its type's architecture; all reach ready."""
    far = "envctl-it-far-" + uuid.uuid4().hex[:8]
    aws("s3api", "create-bucket", "--bucket", far, "--create-bucket-configuration",
        "LocationConstraint=ap-southeast-2", region="ap-southeast-2")
    proxy("/__proxy/config", {"strict": "base"})
    sc = Scenario("regions", checks="status,marker")
    sc.env["ENVCTL_S3_BUCKET"] = far
    specs = {"east": ("us-east-1", "t3.micro"), "west": ("eu-west-1", "t3.micro"),
             "arm": ("eu-west-1", "t4g.micro")}
    for name, (region, itype) in specs.items():
        text = SPEC.format(name=name, on_drift="replace", disk=12, mode="dev")
        text = text.replace("spec:\n", "spec:\n  region: %s\n" % region, 1)
        text = text.replace("type: t3.micro", "type: " + itype)
        with open(os.path.join(sc.specs, name + ".yaml"), "w") as f:
            f.write(text)
    r = sc.reconcile()
    rows = {x["name"]: x for x in sc.rows()}
    check(r.returncode == 2 and all(rows.get(n, {}).get("stage") == "TAGGED" for n in specs),
          "regions: three launched, waiting for their markers (%s %s)" %
          ({n: (x["status"], x["stage"]) for n, x in rows.items()}, r.stderr.strip()[-300:]))
    for name, (region, itype) in specs.items():
        row = rows.get(name)
        if not row or not row["instance_id"]:
            continue
        top = tempfile.mkdtemp(prefix="envctl-regions-")
        b, calls = run_user_data(row["instance_id"], top, region=region)
        check(b.returncode == 0, "regions: %s's user-data reaches the bucket through its "
              "presigned URLs (%d %s)" % (name, b.returncode, b.stderr[-300:]))
        envfiles = [c["env_file"]["content"] for c in calls if c.get("env_file")]
        check(any(CANARY in e for e in envfiles),
              "regions: %s's secrets came through the presigned GET" % name)
        inst = aws("ec2", "describe-instances", "--instance-ids", row["instance_id"],
                   region=region)["Reservations"][0]["Instances"][0]
        img = aws("ec2", "describe-images", "--image-ids", inst["ImageId"],
                  region=region)["Images"][0]
        want = "arm64" if itype.startswith("t4g") else "x86_64"
        check(inst["InstanceType"] == itype and img["Architecture"] == want,
              "regions: %s is a %s on a %s image (%s %s)" %
              (name, itype, want, inst["InstanceType"], img["Architecture"]))
    sc.settle()     # status checks past initializing
    r = sc.reconcile()
    live = {x["name"]: x["status"] for x in sc.rows()}
    check(r.returncode == 0 and all(live.get(n) == "ready" for n in specs),
          "regions: all three ready (%s %s)" % (live, r.stderr.strip()[-300:]))
    loc = aws("s3api", "get-bucket-location", "--bucket", far,
              region="ap-southeast-2").get("LocationConstraint")
    keys = [o["Key"] for o in aws("s3api", "list-objects-v2", "--bucket", far,
                                  region="ap-southeast-2").get("Contents", [])]
    for name in specs:
        eid = rows.get(name, {}).get("id", "?")
        got = sorted(k.rsplit("/", 1)[1] for k in keys if k.startswith("envctl/%s/" % eid))
        check(loc == "ap-southeast-2" and
              got == ["bootstrap-done.json", "id_ed25519", "id_ed25519.pub"],
              "regions: %s's keys and marker in the ap-southeast-2 bucket (%s %s)" %
              (name, loc, got))
    log = proxy("/__proxy/log")["entries"]
    s3 = [e for e in log if e["service"] == "s3"]
    redirects = [e["action"] for e in s3 if e.get("fault") == "strict-redirect"]
    lookups = [e for e in s3 if e["action"] == "GetBucketLocation"]
    check(s3 and set(redirects) <= {"GetBucketLocation"},
          "regions: no S3 call but the region lookups went to the wrong region (%s)" %
          sorted(set(redirects)))
    # found once per process (two passes, three workers each) and cached
    check(len(lookups) == 2, "regions: the bucket's region asked %d times "
          "in 2 passes, of %d S3 calls" % (len(lookups), len(s3)))
    proxy("/__proxy/config", {"strict": "base"})


def stopstart():
    """envctl stop / start (issue 15 item 2): the disk kept, the same
    instance, a stopped environment left alone by passes, drift and the
    orphan sweep, readiness again after start, spot refused."""
    import signal
    import time
    sc = Scenario("stopstart", checks="status,marker")
    sc.spec("dev1")
    with open(os.path.join(sc.specs, "sp1.yaml"), "w") as f:
        f.write(SPEC.format(name="sp1", on_drift="replace", disk=12, mode="dev").replace(
            "disk: {size_gb: 12}}", "disk: {size_gb: 12}, market: spot}"))
    for _ in range(4):
        sc.reconcile()
        sc.put_markers()
    rows = {r["name"]: r for r in sc.rows()}
    check(all(rows.get(n, {}).get("status") == "ready" for n in ("dev1", "sp1")),
          "stopstart: dev1 and sp1 ready (%s)" % {n: r["status"] for n, r in rows.items()})
    iid = rows["dev1"]["instance_id"]
    env_id = rows["dev1"]["id"]

    def inst(i):
        doc = aws("ec2", "describe-instances", "--instance-ids", i)
        return [x for res in doc["Reservations"] for x in res["Instances"]][0]

    def root_volume(i):
        return [m["Ebs"]["VolumeId"] for m in inst(i).get("BlockDeviceMappings", [])]

    beh = aws("ec2", "describe-instance-attribute", "--instance-id", iid, "--attribute",
              "instanceInitiatedShutdownBehavior")
    check(beh.get("InstanceInitiatedShutdownBehavior", {}).get("Value") == "stop",
          "stopstart: on-demand launched with InstanceInitiatedShutdownBehavior=stop (%s)"
          % beh.get("InstanceInitiatedShutdownBehavior"))
    vols = root_volume(iid)
    check(len(vols) == 1, "stopstart: dev1 has its root volume %s" % vols)

    # spot cannot stop: refused, nothing sent, still running
    sp = rows["sp1"]["instance_id"]
    r = sc.envctl("stop", "sp1")
    check(r.returncode == 1 and "spot" in r.stderr and inst(sp)["State"]["Name"] == "running",
          "stopstart: stop of a spot environment refused (%d: %s)" % (r.returncode, r.stderr.strip()))

    r = sc.envctl("stop", "dev1")
    check(r.returncode == 0, "stopstart: envctl stop exits 0 (%s)" % r.stderr.strip())
    for _ in range(50):
        if inst(iid)["State"]["Name"] == "stopped":
            break
        time.sleep(0.2)
    check(inst(iid)["State"]["Name"] == "stopped", "stopstart: EC2 says dev1 stopped")
    cmd = sc.psql("SELECT correlation_id, payload->>'command' FROM events WHERE type = 'command' "
                  "ORDER BY id DESC LIMIT 1").split("|")
    stop_ev = sc.psql("SELECT correlation_id, env_id, payload->>'instance_id' FROM events "
                      "WHERE type = 'remote.stop'").split("|")
    check(cmd[1:] == ["stop"] and stop_ev == [cmd[0], env_id, iid],
          "stopstart: remote.stop carries the stop command's correlation id (%s %s)" % (cmd, stop_ev))

    # left alone: passes, drift, the orphan sweep, one `envctl run` pass
    codes = [sc.reconcile().returncode for _ in range(3)]
    d = sc.envctl("drift")
    runs0 = int(sc.psql("SELECT count(*) FROM reconcile_runs"))
    port = free_port()
    e = dict(os.environ)
    e.update(sc.env)
    ctl = subprocess.Popen([ENVCTL, "run", "--listen", "127.0.0.1:%d" % port],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=e)
    for _ in range(150):
        if int(sc.psql("SELECT count(*) FROM reconcile_runs")) > runs0:
            break
        time.sleep(0.1)
    ran = int(sc.psql("SELECT count(*) FROM reconcile_runs")) > runs0
    metrics = ""
    for _ in range(50):
        try:
            metrics = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                             timeout=5).read().decode()
        except OSError:
            pass
        if 'envctl_instances{state="stopped"} 1' in metrics:
            break
        time.sleep(0.1)
    check('envctl_instances{state="stopped"} 1' in metrics and
          'envctl_instances{state="running"} 1' in metrics,
          "stopstart: /metrics: one instance stopped, one running (%s)" %
          [l for l in metrics.splitlines() if l.startswith("envctl_instances")])
    ctl.send_signal(signal.SIGTERM)
    try:
        ctl.wait(20)
    except subprocess.TimeoutExpired:
        ctl.kill()
        ctl.wait()
    row = sc.live("dev1")
    check(codes == [0, 0, 0] and d.returncode == 0 and ran,
          "stopstart: 3 passes exit 0, drift exits 0, one run pass ran (%s %d %s)"
          % (codes, d.returncode, ran))
    check(inst(iid)["State"]["Name"] == "stopped" and len(row) == 1 and
          row[0]["status"] == "ready" and row[0]["instance_id"] == iid,
          "stopstart: still stopped, the row ready and naming it (%s)" % row)
    bad = sc.psql("SELECT count(*) FROM events WHERE type IN ('drift.detected', "
                  "'orphan.terminated', 'remote.terminate', 'remote.provision.start') "
                  "AND (env_id = '%s' OR payload->>'instance_id' = '%s') AND id > "
                  "(SELECT id FROM events WHERE type = 'remote.stop')" % (env_id, iid))
    check(bad == "0", "stopstart: no drift, orphan, terminate or provision for it (%s)" % bad)
    st = sc.envctl("status", "dev1", "-o", "json")
    sd = json.loads(st.stdout) if st.returncode == 0 else {}
    sd = (sd.get("environments") if isinstance(sd, dict) else sd) or [{}]
    stopped_at = sc.psql("SELECT stopped_at IS NOT NULL FROM environments WHERE id = '%s'" % env_id)
    check(sd[0].get("instance_state") == "stopped" and sd[0].get("agree") is True and
          abs((sd[0].get("cost_usd_per_hour") or 0) - GP3_12GB) < 1e-4 and stopped_at == "t",
          "stopstart: status says stopped, agreeing, its disk's cost per hour only; the row "
          "knows the stop (psql %s; %s)" % (stopped_at, sd[0]))
    seg = sc.psql("SELECT string_agg(kind || ':' || (ended_at IS NULL), ',' ORDER BY kind)"
                  " FROM cost_segments WHERE instance_id = '%s'" % iid)
    check(seg == "compute:false,storage:true", "stopstart: the ledger closed compute, storage runs (%s)" % seg)
    cost1 = sd[0].get("cost_usd")
    time.sleep(1.5)
    sd2 = json.loads(sc.envctl("status", "dev1", "-o", "json").stdout)
    sd2 = (sd2.get("environments") if isinstance(sd2, dict) else sd2) or [{}]
    check(cost1 is not None and sd2[0].get("cost_usd") is not None and
          0 <= sd2[0]["cost_usd"] - cost1 < 0.0001,
          "stopstart: only the disk bills while stopped (%s, %s)" % (cost1, sd2[0].get("cost_usd")))

    # start: the same instance and disk, ready again
    r = sc.envctl("start", "dev1", "--wait", "60s")
    i2 = inst(iid)
    check(r.returncode == 0 and i2["State"]["Name"] == "running",
          "stopstart: envctl start exits 0, EC2 says running (%d: %s)" % (r.returncode, r.stderr.strip()))
    check(root_volume(iid) == vols, "stopstart: the same root volume after start (%s)" % root_volume(iid))
    ev = sc.psql("SELECT string_agg(type, ',' ORDER BY id) FROM events WHERE env_id = '%s' "
                 "AND type LIKE 'remote.st%%'" % env_id)
    check(ev == "remote.stop,remote.start,remote.start.ready",
          "stopstart: events remote.stop, remote.start, remote.start.ready (%s)" % ev)
    row = sc.live("dev1")
    check(len(row) == 1 and row[0]["status"] == "ready" and row[0]["instance_id"] == iid,
          "stopstart: the row ready with the same instance (%s)" % row)
    check(sc.reconcile().returncode == 0, "stopstart: a pass after start has nothing to do")
    secs = sc.psql("SELECT stopped_seconds, stopped_at IS NULL FROM environments WHERE id = '%s'"
                   % env_id)
    ev = sc.psql("SELECT payload->>'stopped_seconds' FROM events WHERE type = 'remote.start'")
    check(secs.split("|")[1] == "t" and int(secs.split("|")[0]) >= 1 and ev == secs.split("|")[0],
          "stopstart: the stopped time booked on the row and in remote.start (%s, %s)" % (secs, ev))

    # a stop envctl did not make (the idle watcher's shutdown, the console)
    aws("ec2", "stop-instances", "--instance-ids", iid)
    for _ in range(50):
        if inst(iid)["State"]["Name"] == "stopped":
            break
        time.sleep(0.2)
    codes = [sc.reconcile().returncode for _ in range(2)]
    idle = sc.psql("SELECT count(*), min(payload->>'instance_id') FROM events "
                   "WHERE type = 'remote.idle.stopped'")
    check(codes == [0, 0] and idle == "1|" + iid,
          "stopstart: an observed stop recorded once as remote.idle.stopped (%s %s)" % (codes, idle))
    aws("ec2", "start-instances", "--instance-ids", iid)
    time.sleep(1.2)
    sc.reconcile()
    obs = sc.psql("SELECT payload->>'observed', (payload->>'stopped_seconds')::int >= 1 FROM events "
                  "WHERE type = 'remote.start' ORDER BY id DESC LIMIT 1")
    check(obs == "true|t" and sc.psql("SELECT stopped_at IS NULL FROM environments WHERE id = '%s'"
                                      % env_id) == "t",
          "stopstart: the start seen by a pass books the stopped time (%s)" % obs)

    # envctl ssh --start: starts the stopped environment, waits, then runs ssh
    d = tempfile.mkdtemp(prefix="envctl-ss-")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", d + "/hk"], check=True)
    hostpub = " ".join(open(d + "/hk.pub").read().split()[:2])
    fp = subprocess.run(["ssh-keygen", "-lf", d + "/hk.pub"], capture_output=True,
                        text=True).stdout.split()[1]
    marker = {"version": 1, "env_id": env_id, "env": "dev1", "status": "ready", "line": 0,
              "exit_code": 0, "host_keys": [{"type": "ED25519", "fingerprint": fp, "key": hostpub}]}
    with open(d + "/m.json", "w") as f:
        json.dump(marker, f)
    aws("s3api", "put-object", "--bucket", BUCKET, "--key", "envctl/%s/bootstrap-done.json" % env_id,
        "--body", d + "/m.json", "--content-type", "application/json")
    with open(d + "/fake-ssh", "w") as f:
        f.write("#!/bin/sh\necho \"$@\" > %s/ran\n" % d)
    os.chmod(d + "/fake-ssh", 0o755)
    check(sc.envctl("stop", "dev1").returncode == 0, "stopstart: stopped again for ssh --start")
    for _ in range(50):
        if inst(iid)["State"]["Name"] == "stopped":
            break
        time.sleep(0.2)
    sc.env["ENVCTL_SSH"] = d + "/fake-ssh"
    r = sc.envctl("ssh", "--start", "dev1", "--", "true")
    del sc.env["ENVCTL_SSH"]
    ran = open(d + "/ran").read() if os.path.exists(d + "/ran") else ""
    cid = sc.psql("SELECT correlation_id FROM events WHERE type = 'command' AND "
                  "payload->>'command' = 'ssh --start'")
    evs = sc.psql("SELECT string_agg(type, ',' ORDER BY id) FROM events WHERE correlation_id = '%s'"
                  % cid) if cid else ""
    check(r.returncode == 0 and inst(iid)["State"]["Name"] == "running" and "true" in ran and
          evs == "command,remote.start,remote.start.ready",
          "stopstart: ssh --start started it, waited, then ran ssh (%d %s; %r; %s)"
          % (r.returncode, r.stderr.strip()[-600:], ran, evs))


def idle():
    """Idle stop (issue 15 item 3): what reaches each instance, checked with
    the aws CLI: the watcher's idle_stop in its user-data (the spec's, else
    the idle_stop option; never the option on spot), the shutdown
    behaviour (terminate for on_idle: terminate); status -o json shows it;
    a termination by anyone else is replaced by the planner's normal path;
    one the instance's own OS made (the proxy's os_shutdown) parks it: the
    row ends (psql), no instance over two more passes (aws CLI), plan and
    status say parked, and `envctl start` brings it back on the next pass."""
    sc = Scenario("idle", checks="status,marker")
    sc.env["ENVCTL_IDLE_STOP"] = "2h"
    extra = {"dft1": "", "term1": ", idle_stop: 1h, on_idle: terminate",
             "off1": ", idle_stop: 0", "sp1": ""}
    for name, lc in extra.items():
        write_spec(sc, name, instance_extra="market: spot" if name == "sp1" else "")
        path = os.path.join(sc.specs, name + ".yaml")
        text = open(path).read().replace("ready_timeout: 10m}", "ready_timeout: 10m" + lc + "}")
        with open(path, "w") as f:
            f.write(text)
    for _ in range(3):
        sc.reconcile()
        sc.put_markers()
    rows = {r["name"]: r for r in sc.rows()}
    want = {"dft1": ("7200", "stop", "stop"), "term1": ("3600", "terminate", "terminate"),
            "off1": (None, None, "stop"), "sp1": (None, None, "terminate")}
    for name, (secs, action, beh) in want.items():
        iid = rows.get(name, {}).get("instance_id")
        if not iid:
            check(False, "idle: %s launched (%s)" % (name, rows.get(name)))
            continue
        ud = aws("ec2", "describe-instance-attribute", "--instance-id", iid,
                 "--attribute", "userData").get("UserData", {}).get("Value", "")
        ud = base64.b64decode(ud).decode() if ud else ""
        got = (re.search(r"\nIDLE_STOP='(\d+)'\nIDLE_ACTION='(\w+)'\n", ud) or
               re.search(r"()()$", "")).groups()
        got = tuple(g or None for g in got)
        b = aws("ec2", "describe-instance-attribute", "--instance-id", iid, "--attribute",
                "instanceInitiatedShutdownBehavior")
        b = b.get("InstanceInitiatedShutdownBehavior", {}).get("Value")
        check(ud.startswith("#!/bin/bash") and got == (secs, action) and b == beh,
              "idle: %s user-data IDLE_STOP/ACTION %s, shutdown behaviour %s; wanted %s"
              % (name, got, b, (secs, action, beh)))
    st = sc.envctl("status", "-o", "json")
    sd = json.loads(st.stdout) if st.returncode == 0 else []
    shown = {e["name"]: (e.get("idle_stop_seconds"), e.get("on_idle")) for e in sd}
    check(shown == {"dft1": (7200, "stop"), "term1": (3600, "terminate"),
                    "off1": (0, None), "sp1": (0, None)},
          "idle: status -o json idle_stop_seconds/on_idle (%s)" % shown)

    # term1's watcher shuts it down: EC2 terminates it (shutdown behaviour
    # terminate); the spec still asks for it, so the planner replaces it
    old = rows["term1"]["instance_id"]
    aws("ec2", "terminate-instances", "--instance-ids", old)
    for _ in range(6):     # (a loaded machine may need a pass more)
        sc.reconcile()
        sc.put_markers()
        new = sc.live("term1")
        if new and new[0]["status"] == "ready":
            break
        sc.settle()
    check(len(new) == 1 and new[0]["instance_id"] not in (None, old) and
          new[0]["status"] == "ready",
          "idle: a terminated on_idle: terminate environment is replaced (%s)" % new)

    # ... but one its own OS shut down (EC2's stateReason
    # Client.InstanceInitiatedShutdown, the proxy playing the OS) is parked:
    # the row ends, nothing is launched until `envctl start`
    if not new or not new[0]["instance_id"]:
        return
    nid = new[0]["instance_id"]

    def term1_instances():
        return [i["InstanceId"] for i in sc.instances()
                if {t["Key"]: t["Value"] for t in i.get("Tags", [])}.get("envctl:env") == "term1"]

    proxy("/__proxy/config", {"strict": {"os_shutdown": [nid]}})
    r = sc.reconcile()
    ec2 = aws("ec2", "describe-instances", "--instance-ids", nid)["Reservations"][0]["Instances"][0]
    row = sc.psql("SELECT status, metadata->>'parked', termination_reason, total_cost_usd IS NOT "
                  "NULL, terminated_at IS NOT NULL FROM environments WHERE instance_id = '%s'" % nid)
    ev = sc.psql("SELECT payload->>'instance_id', payload->>'idle_stop' FROM events "
                 "WHERE type = 'remote.idle.parked'")
    # (the aws CLI talks to moto: terminated; the reason is the proxy's)
    check(ec2["State"]["Name"] == "terminated" and
          row == "terminated|idle|idle shutdown|t|t" and ev == nid + "|3600",
          "idle: a shutdown from inside parks the row (aws %s; psql %s; event %s; rc %d %s)"
          % (ec2["StateReason"], row, ev, r.returncode, r.stderr.strip()[-300:]))
    codes = [sc.reconcile().returncode for _ in range(2)]
    left = term1_instances()
    live = sc.live("term1")
    check(codes == [0, 0] and left == [] and live == [],
          "idle: parked over two passes: no instance (aws %s), no live row (%s), rc %s"
          % (left, live, codes))
    p = sc.envctl("plan", "-v")
    st = json.loads(sc.envctl("status", "-o", "json").stdout or "[]")
    shown = [e.get("status") for e in st if e.get("name") == "term1"]
    check("parked (idle; `envctl start term1`)" in p.stdout and shown == ["parked"],
          "idle: plan and status show term1 parked (%s; %s)" % (shown, p.stdout[-400:]))

    # envctl start un-parks it (who asked); the next pass launches anew
    r = sc.envctl("start", "term1")
    who = sc.psql("SELECT payload->>'who' <> '', (SELECT count(*) FROM environments WHERE "
                  "metadata ? 'parked') FROM events WHERE type = 'remote.unpark'")
    check(r.returncode == 0 and who == "t|0",
          "idle: envctl start un-parks (rc %d %s; psql %s)" % (r.returncode, r.stderr.strip(), who))
    sc.reconcile()
    after = term1_instances()
    check(len(after) == 1 and after[0] not in (old, nid),
          "idle: after start the next pass launches a new instance (aws %s)" % after)


def placement():
    """Spot placement (issue 15 item 5): a spec of two types in two
    subnets; the proxy's GetSpotPlacementScores makes (t3.small, use1-az1)
    the best pool, so the launch goes there; with that pool out of
    capacity, to the next best (t3.micro, use1-az1).  Checked with the
    aws CLI (type, zone, subnet) and psql (the row's type, the launch
    event's pool and score)."""
    proxy("/__proxy/config", {"strict": {
        "spot_placement_scores": {"t3.small": {"use1-az1": 9, "use1-az6": 2},
                                  "t3.micro": {"use1-az1": 6, "use1-az6": 4}},
        "spot_placement_default": 1, "invisible": {},
        "status_initializing_seconds": 0, "console_seconds": 0}})
    sc = Scenario("placement")
    vpc = aws("ec2", "describe-vpcs", "--filters", "Name=isDefault,Values=true")["Vpcs"][0]["VpcId"]
    # us-east-1a is use1-az6, us-east-1b use1-az1 (moto's zone ids)
    subs = [aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", c,
                "--availability-zone", z)["Subnet"]["SubnetId"]
            for c, z in (("172.31.210.0/24", "us-east-1a"), ("172.31.211.0/24", "us-east-1b"))]
    extra = "types: [t3.micro, t3.small], market: spot, subnets: [%s, %s]" % tuple(subs)

    def launched(name):
        row = sc.live(name)
        inst = row and row[0]["instance_id"] and aws(
            "ec2", "describe-instances", "--instance-ids",
            row[0]["instance_id"])["Reservations"][0]["Instances"][0]
        ev = row and sc.psql(
            "SELECT payload->>'type', payload->>'subnet', payload->>'az_id', "
            "payload->>'score', payload->>'ranked', payload->>'pool' FROM events "
            "WHERE type = 'remote.provision.launched' AND env_id = '%s'" % row[0]["id"])
        typ = row and sc.psql("SELECT metadata->>'instance_type' FROM environments "
                              "WHERE id = '%s'" % row[0]["id"])
        return inst or {}, (ev or "").split("|"), typ

    def spec(name):
        write_spec(sc, name, instance_extra=extra)
        path = os.path.join(sc.specs, name + ".yaml")
        with open(path) as f:
            text = f.read().replace("type: t3.micro, ", "")
        with open(path, "w") as f:
            f.write(text)

    spec("pl-a")
    proxy("/__proxy/log/clear", {})
    r = sc.reconcile()
    inst, ev, typ = launched("pl-a")
    check(inst.get("InstanceType") == "t3.small" and inst.get("SubnetId") == subs[1] and
          inst.get("Placement", {}).get("AvailabilityZone") == "us-east-1b" and
          typ == "t3.small",
          "placement: the best pool (t3.small, use1-az1): aws CLI %s %s %s, row %s (%s)" %
          (inst.get("InstanceType"), inst.get("SubnetId"),
           inst.get("Placement", {}).get("AvailabilityZone"), typ, r.stderr.strip()[-300:]))
    check(ev == ["t3.small", subs[1], "use1-az1", "9", "true", "1"],
          "placement: remote.provision.launched names the pool and its score (psql %s)" % ev)
    runs = proxy("/__proxy/log?action=RunInstances")["entries"]
    scores = proxy("/__proxy/log?action=GetSpotPlacementScores")["entries"]
    check(len(runs) == 1 and len(scores) == 2 and
          all(e.get("fault") == "strict-placement-scores" for e in scores),
          "placement: one RunInstances, the scores of each type asked (%d, %d)" %
          (len(runs), len(scores)))

    # the best pool out of capacity: the next best, same zone, other type
    proxy("/__proxy/config", {"faults": [{"action": "RunInstances", "every": True,
                                          "params": {"InstanceType": "t3.small",
                                                     "SubnetId": subs[1]},
                                          "status": 500, "code": "InsufficientInstanceCapacity",
                                          "message": "no capacity (injected)"}]})
    spec("pl-b")
    proxy("/__proxy/log/clear", {})
    r = sc.reconcile()
    inst, ev, typ = launched("pl-b")
    runs = proxy("/__proxy/log?action=RunInstances")["entries"]
    check(inst.get("InstanceType") == "t3.micro" and inst.get("SubnetId") == subs[1] and
          typ == "t3.micro" and len(runs) == 2 and
          runs[0]["params"].get("InstanceType") == "t3.small" and
          runs[0].get("fault") == "error",
          "placement: the best pool without capacity: the next (t3.micro, use1-az1): "
          "aws CLI %s %s, row %s, runs %s" %
          (inst.get("InstanceType"), inst.get("SubnetId"), typ,
           [(e["params"].get("InstanceType"), e["params"].get("SubnetId")) for e in runs]))
    check(ev[:5] == ["t3.micro", subs[1], "use1-az1", "6", "true"] and ev[5] == "2",
          "placement: the event names the second pool and its score (psql %s)" % ev)
    proxy("/__proxy/config", {"faults": []})


def spot_interruption_url(instance_id):
    """The interrupted marker's presigned PUT from the user-data envctl gave
    instance_id (aws CLI), as the watcher on the instance would use it."""
    ud = aws("ec2", "describe-instance-attribute", "--instance-id", instance_id,
             "--attribute", "userData")["UserData"]["Value"]
    for line in base64.b64decode(ud).decode().splitlines():
        if line.startswith("INTERRUPT_URL='") and line.endswith("'"):
            return line[len("INTERRUPT_URL='"):-1]
    return None


def spot():
    """Spot interruptions (issue 15 item 4): a ready spot environment whose
    instance PUTs its interrupted marker (to the presigned URL of its
    user-data, as the watcher does) is replaced by the very next pass:
    remote.spot.interrupted once (psql), the old instance terminated and a
    new one launched (aws CLI) on-demand (spot.fallback: on-demand, the
    interrupted spot pools counted as without capacity); the marker goes
    with the ended incarnation.  The marker is on the second ListObjectsV2
    page (the proxy's s3_max_keys at 1, another cluster's marker first):
    the pass follows the continuation token (proxy log: 2 pages); a
    refused second page keeps the first page's notice; with 51 keys a pass
    stops at 50 pages and warns."""
    sc = Scenario("spot", checks="status,marker")
    with open(os.path.join(sc.specs, "sp1.yaml"), "w") as f:
        f.write(SPEC.format(name="sp1", on_drift="replace", disk=12, mode="dev").replace(
            "disk: {size_gb: 12}}",
            "disk: {size_gb: 12}, market: spot, spot: {fallback: on-demand}}").replace(
            "ready_timeout: 10m}",
            "ready_timeout: 10m, on_interruption: [\"git push -q\"]}"))
    # sp2: spot without fallback, for `envctl run` below
    with open(os.path.join(sc.specs, "sp2.yaml"), "w") as f:
        f.write(SPEC.format(name="sp2", on_drift="replace", disk=12, mode="dev").replace(
            "disk: {size_gb: 12}}", "disk: {size_gb: 12}, market: spot}"))
    for _ in range(4):
        sc.reconcile()
        sc.put_markers()
    row = (sc.live("sp1") or [None])[0]
    check(row is not None and row["status"] == "ready", "spot: sp1 ready (%s)" % row)
    if row is None or row["status"] != "ready":
        return
    old_id, old_env = row["instance_id"], row["id"]
    old = aws("ec2", "describe-instances", "--instance-ids", old_id)["Reservations"][0]["Instances"][0]
    check(old.get("InstanceLifecycle") == "spot", "spot: sp1 launched spot (%s)"
          % old.get("InstanceLifecycle"))
    url = spot_interruption_url(old_id)
    check(url is not None and "interrupted/%s.json" % old_env in url and "X-Amz-Expires=604800" in url,
          "spot: the user-data carries the interrupted marker's 7-day presigned PUT (%s)" % url)
    check(sc.reconcile().returncode == 0 and sc.live("sp1")[0]["instance_id"] == old_id,
          "spot: no notice, no change")
    body = json.dumps({"version": 1, "env_id": old_env, "env": "sp1", "status": "interrupted",
                       "kind": "interruption", "action": "terminate",
                       "notice_time": "2026-12-07T22:10:00Z", "exit_code": 0})
    r = subprocess.run(["curl", "-fsS", "-X", "PUT", "-H", "Content-Type: application/json",
                        "--data-binary", body, url or "http://127.0.0.1:9/"],
                       capture_output=True, text=True)
    check(r.returncode == 0, "spot: marker PUT through the presigned URL (%s)" % r.stderr.strip())
    key = "envctl/interrupted/%s.json" % old_env
    listed = aws("s3api", "list-objects-v2", "--bucket", BUCKET, "--prefix", "envctl/interrupted/")
    check([o["Key"] for o in listed.get("Contents", [])] == [key], "spot: the marker in S3 (%s)" % listed)
    # The marker past the first ListObjectsV2 page: another cluster's
    # marker sorts first, and the proxy pages the prefix 1 key at a time
    # (S3 pages at 1,000), so the pass must follow the continuation token.
    # Keys go straight to moto, as the aws CLI's do (raw HTTP: 51 below).
    def moto_s3(method, k):
        auth = ("AWS4-HMAC-SHA256 Credential=%s/20260101/us-east-1/s3/aws4_request, "
                "SignedHeaders=host, Signature=00" % os.environ["AWS_ACCESS_KEY_ID"])
        req = urllib.request.Request("%s/%s/%s" % (MOTO, BUCKET, k), method=method,
                                     data=b"" if method == "PUT" else None,
                                     headers={"Authorization": auth})
        urllib.request.urlopen(req, timeout=30).read()

    foreign = "envctl/interrupted/00000000-0000-0000-0000-000000000000.json"
    moto_s3("PUT", foreign)
    # A page that fails keeps what the pages before it found: pages of 2,
    # the live marker on the first, the second refused.
    last = "envctl/interrupted/ffffffff-ffff-ffff-ffff-ffffffffffff.json"
    moto_s3("PUT", last)
    proxy("/__proxy/config", {"strict": {"s3_max_keys": {"envctl/interrupted/*": 2}},
                              "faults": [{"action": "ListObjectsV2", "every": True,
                                          "params": {"continuation-token": "?*"},
                                          "status": 403, "code": "AccessDenied"}]})
    plan = sc.envctl("plan")
    check("spot interruption notice (interruption)" in plan.stdout and
          "from listing page 2 on not read this pass" in plan.stderr,
          "spot: page 2 refused, the notice of page 1 kept (%s)" % plan.stderr.strip()[-300:])
    proxy("/__proxy/config", {"faults": []})
    moto_s3("DELETE", last)
    proxy("/__proxy/config", {"strict": {"s3_max_keys": {"envctl/interrupted/*": 1}}})
    plan = sc.envctl("plan")
    check("spot interruption notice (interruption)" in plan.stdout and "sp1" in plan.stdout,
          "spot: envctl plan shows the replacement and why (%s)" % plan.stdout.strip()[-400:])

    seq0 = max([e["seq"] for e in proxy("/__proxy/log")["entries"]] or [0])
    r = sc.reconcile()
    check(r.returncode in (0, 2), "spot: the pass after the marker: changes, no error (%d %s)"
          % (r.returncode, r.stderr.strip()[-300:]))
    log = [e for e in proxy("/__proxy/log")["entries"] if e["seq"] > seq0]
    pages = [e for e in log if e["action"] == "ListObjectsV2" and
             e["params"].get("prefix") == "envctl/interrupted/"]
    check(len(pages) == 2 and all(e["status"] == 200 for e in pages) and
          "continuation-token" in pages[1]["params"],
          "spot: the pass listed the markers in 2 pages of 1 (%s)"
          % [(e["status"], e["fault"], sorted(e["params"])) for e in pages])
    check(any(e["action"] == "RunInstances" and e["status"] == 200 for e in log),
          "spot: the pass launched the replacement (proxy log)")

    # The cap: 51 keys at 1 a page (sp2 is spot, so a plan lists them):
    # 50 pages read, a warning, the rest left for a later pass.
    more = ["envctl/interrupted/00000000-0000-0000-0000-0000000001%02d.json" % i
            for i in range(50)]
    for k in more:
        moto_s3("PUT", k)
    seq0 = max([e["seq"] for e in proxy("/__proxy/log")["entries"]] or [0])
    plan = sc.envctl("plan")
    pages = [e for e in proxy("/__proxy/log")["entries"] if e["seq"] > seq0 and
             e["action"] == "ListObjectsV2" and e["params"].get("prefix") == "envctl/interrupted/"]
    check(len(pages) == 50 and "50 keys under envctl/interrupted/ in 50 pages read, more left "
          "for a later pass" in plan.stderr,
          "spot: at most 50 pages a pass, then a warning (%d pages; %s)"
          % (len(pages), plan.stderr.strip()[-300:]))
    for k in more + [foreign]:
        moto_s3("DELETE", k)
    proxy("/__proxy/config", {"strict": "base"})
    ev = [json.loads(p) for t, p in sc.events("remote.spot.interrupted")]
    check(len(ev) == 1 and ev[0].get("instance_id") == old_id and ev[0].get("kind") == "interruption"
          and ev[0].get("notice_time") == "2026-12-07T22:10:00Z" and ev[0].get("exit_code") == 0,
          "spot: remote.spot.interrupted recorded with the notice (%s)" % ev)
    state = aws("ec2", "describe-instances", "--instance-ids", old_id)["Reservations"][0]["Instances"][0]["State"]["Name"]
    check(state in ("shutting-down", "terminated"), "spot: the old instance terminated (%s)" % state)
    new = [i for i in sc.instances() if i["InstanceId"] != old_id and
           {t["Key"]: t["Value"] for t in i.get("Tags", [])}.get("envctl:env") == "sp1"]
    check(len(new) == 1, "spot: one new instance for sp1 in the same pass (%s)"
          % [i["InstanceId"] for i in new])
    if new:
        check(new[0].get("InstanceLifecycle") != "spot",
              "spot: the replacement is on-demand (spot.fallback: on-demand) (%s)"
              % new[0].get("InstanceLifecycle"))
    nrow = (sc.live("sp1") or [None])[0]
    check(nrow is not None and nrow["id"] != old_env, "spot: a new incarnation (%s)" % nrow)
    why = sc.psql("SELECT termination_reason FROM environments WHERE id = '%s'" % old_env)
    check(why == "spot interruption notice", "spot: the old row ended for the notice (%s)" % why)
    mk = sc.psql("SELECT market FROM environments WHERE name = 'sp1' AND status <> 'terminated'")
    check(mk == "on-demand", "spot: the new row's market is on-demand (%s)" % mk)
    plan = sc.envctl("plan")
    check("spot interruption notice" not in plan.stdout, "spot: nothing left to replace")
    # A marker of the ended incarnation that came late (after its cleanup):
    # plan changes nothing, so it stays; the next reconcile deletes it
    moto_s3("PUT", key)
    sc.envctl("plan")
    listed = aws("s3api", "list-objects-v2", "--bucket", BUCKET, "--prefix", "envctl/interrupted/")
    check([o["Key"] for o in listed.get("Contents", [])] == [key],
          "spot: envctl plan leaves the ended incarnation's marker (%s)" % listed.get("Contents"))

    sc.reconcile()
    sc.put_markers()
    sc.reconcile()
    check(len(sc.events("remote.spot.interrupted")) == 1, "spot: recorded once")
    listed = aws("s3api", "list-objects-v2", "--bucket", BUCKET, "--prefix", "envctl/interrupted/")
    check(listed.get("Contents", []) == [], "spot: the ended incarnation's marker deleted (%s)" % listed)

    # envctl run: with spot instances it passes every spot_resync_interval
    # (not resync_interval, 5m here), so a marker is acted on within it
    import signal
    sp2 = (sc.live("sp2") or [None])[0]
    check(sp2 is not None and sp2["status"] == "ready", "spot: sp2 ready (%s)" % sp2)
    if sp2 is None:
        return
    e = dict(os.environ)
    e.update(sc.env)
    e.update({"ENVCTL_RESYNC_INTERVAL": "5m", "ENVCTL_SPOT_RESYNC_INTERVAL": "2s",
              "ENVCTL_LISTEN": "", "ENVCTL_CONFIG": "/dev/null"})
    logf = tempfile.TemporaryFile(mode="w+")
    run = subprocess.Popen([ENVCTL, "run"], env=e, stdout=logf, stderr=subprocess.STDOUT)
    try:
        time.sleep(3)
        url = spot_interruption_url(sp2["instance_id"])
        body = json.dumps({"version": 1, "env_id": sp2["id"], "env": "sp2", "status": "interrupted",
                           "kind": "rebalance", "action": "", "notice_time": "", "exit_code": 0})
        t0 = time.time()
        subprocess.run(["curl", "-fsS", "-X", "PUT", "-H", "Content-Type: application/json",
                        "--data-binary", body, url or "http://127.0.0.1:9/"], capture_output=True)
        replaced = None
        while time.time() < t0 + 20 and replaced is None:
            time.sleep(0.5)
            new = [i for i in sc.instances() if i["InstanceId"] != sp2["instance_id"] and
                   {t["Key"]: t["Value"] for t in i.get("Tags", [])}.get("envctl:env") == "sp2"]
            if new:
                replaced = time.time() - t0
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=60)
        logf.seek(0)
        text = logf.read()
    check(replaced is not None and replaced < 10,
          "spot: under envctl run (spot_resync_interval 2s) the rebalance marker is acted on "
          "within seconds (%s s)" % replaced)
    check(len(sc.events("remote.spot.rebalance")) == 1, "spot: remote.spot.rebalance recorded")
    check(text.count("reason=resync") >= 2, "spot: passes every spot_resync_interval (%d)"
          % text.count("reason=resync"))


def cost():
    """The cost check (issue 16 item 2): over a scripted scenario - a
    failed attempt rolled back after RunInstances answered, a launch, a
    stop, a start, a spot instance terminated by hand and replaced by the
    planner, the terminations - `envctl cost -o json` is within 1 % of a
    computation made here from the proxy's record of StopInstances,
    StartInstances and TerminateInstances, EC2's launch times (aws CLI),
    the hand termination's time and the same prices (t3.micro 0.0104 $/h
    on demand, the zone's spot price from the aws CLI, 12 GB gp3 at
    0.08 $/GB-month), EC2's 60 s minimum per run applied."""
    import time
    sc = Scenario("cost", checks="status,marker")
    proxy("/__proxy/log/clear", {})
    hand = {}

    def converge(n=4):
        for _ in range(n):
            sc.reconcile()
            sc.put_markers()

    sc.spec("c1")
    r = sc.reconcile(fail="provision.launch.after=error")
    check(r.returncode == 1 and sc.rows("c1")[0]["status"] == "error",
          "cost: the first attempt fails after RunInstances (%s)" % r.stderr.strip()[:200])
    time.sleep(1.2)     # past the 1 s backoff
    with open(os.path.join(sc.specs, "s1.yaml"), "w") as f:
        f.write(SPEC.format(name="s1", on_drift="replace", disk=12, mode="dev").replace(
            "disk: {size_gb: 12}}", "disk: {size_gb: 12}, market: spot}"))
    converge()
    rows = {r["name"]: r for r in sc.live("c1") + sc.live("s1")}
    check(all(rows.get(n, {}).get("status") == "ready" for n in ("c1", "s1")),
          "cost: c1 and s1 ready (%s)" % {n: r["status"] for n, r in rows.items()})
    c1 = rows["c1"]["instance_id"]
    r = sc.envctl("stop", "c1")
    check(r.returncode == 0, "cost: envctl stop (%s)" % r.stderr.strip())
    time.sleep(2)
    r = sc.envctl("start", "c1", "--wait", "60s")
    check(r.returncode == 0, "cost: envctl start (%s)" % r.stderr.strip())
    sp = rows["s1"]["instance_id"]
    hand[sp] = time.time()
    aws("ec2", "terminate-instances", "--instance-ids", sp)
    converge()
    check(len(sc.live("s1")) == 1 and sc.live("s1")[0]["instance_id"] not in ("", sp),
          "cost: the spot instance terminated by hand is replaced")
    sc.unspec("c1")
    sc.unspec("s1")
    r = sc.reconcile("--allow-empty", "--wait", "30s")
    check(r.returncode == 0 and sc.instances() == [],
          "cost: all terminated (%d %s)" % (r.returncode, r.stderr.strip()[:200]))
    check(sc.psql("SELECT count(*) FROM cost_segments WHERE ended_at IS NULL") == "0",
          "cost: no segment left open (psql)")

    # The independent computation.
    doc = aws("ec2", "describe-instances", "--filters",
              "Name=tag:envctl:cluster,Values=" + sc.cluster)
    insts = [x for res in doc["Reservations"] for x in res["Instances"]]
    log = proxy("/__proxy/log")["entries"]
    calls = {}
    for e in log:
        if e["action"] in ("StopInstances", "StartInstances", "TerminateInstances") and \
                e.get("status") == 200:
            for k, v in e["params"].items():
                if k.startswith("InstanceId."):
                    calls.setdefault(v, []).append((e["time"], e["action"]))
    gp3 = 12 * 0.08 / 730
    want = 0.0
    for x in insts:
        iid = x["InstanceId"]
        t0 = datetime.datetime.fromisoformat(x["LaunchTime"].replace("Z", "+00:00")).timestamp()
        if x.get("InstanceLifecycle") == "spot":
            hist = aws("ec2", "describe-spot-price-history", "--instance-types", "t3.micro",
                       "--product-descriptions", "Linux/UNIX", "--max-results", "20")
            zone = [h for h in hist["SpotPriceHistory"]
                    if h["AvailabilityZone"] == x["Placement"]["AvailabilityZone"]]
            price = float((zone or hist["SpotPriceHistory"])[0]["SpotPrice"])
        else:
            price = 0.0104
        ev = sorted(calls.get(iid, []))
        if iid in hand:
            ev.append((hand[iid], "TerminateInstances"))
        running, start, end = True, t0, None
        for t, a in ev:
            if a == "StopInstances" and running:
                want += max(60, t - start) / 3600 * price
                running = False
            elif a == "StartInstances" and not running:
                running, start = True, t
            elif a == "TerminateInstances" and end is None:
                if running:
                    want += max(60, t - start) / 3600 * price
                end = t
        check(end is not None, "cost: %s has a termination in the record" % iid)
        want += ((end or t0) - t0) / 3600 * gp3
    r = sc.envctl("cost", "--since", "1d", "-o", "json")
    got = json.loads(r.stdout)["total"]["booked_usd"] if r.returncode == 0 else -1
    print("figure: cost check: envctl %.6f $, proxy record %.6f $ over %d instances"
          % (got, want, len(insts)))
    check(len(insts) == 4 and want > 0 and abs(got - want) <= 0.01 * want,
          "cost: envctl cost %.6f within 1 %% of the proxy record's %.6f (%d instances)"
          % (got, want, len(insts)))


def reprice():
    """The spot price of a running instance, refreshed (issue 16 item 2,
    design §6.9): two spot environments of one type run at the proxy's
    spot price; the zone's price changes (the strict proxy's spot_prices
    table, as the aws CLI reads it through the proxy); with
    spot_price_refresh 1s one pass makes ONE DescribeSpotPriceHistory
    (proxy log) and continues each compute segment at the new price
    (psql: two compute segments, the second continues, no 60 s minimum);
    a pass at an unchanged price adds nothing; `envctl cost -o json`
    equals a sum computed here from psql's rows."""
    zones = ["us-east-1%s" % z for z in "abcdef"]

    def prices(usd):
        proxy("/__proxy/config", {"strict": {"spot_prices": {"t3.micro": {z: usd for z in zones}}}})

    def proxy_price(az):
        r = subprocess.run(["aws", "--endpoint-url", PROXY, "--region", "us-east-1",
                            "--output", "json", "ec2", "describe-spot-price-history",
                            "--instance-types", "t3.micro", "--product-descriptions",
                            "Linux/UNIX"], capture_output=True, text=True)
        hist = json.loads(r.stdout or "{}").get("SpotPriceHistory", [])
        return [float(h["SpotPrice"]) for h in hist if h["AvailabilityZone"] == az]

    def segments():
        out = sc.psql("SELECT instance_id, kind, usd_per_hour, continues, "
                      "extract(epoch FROM started_at)::bigint, "
                      "coalesce(extract(epoch FROM ended_at)::bigint, -1), az "
                      "FROM cost_segments ORDER BY instance_id, kind, started_at")
        return [line.split("|") for line in out.splitlines() if line]

    def booked(now):
        """The design's rule over psql's rows, by hand."""
        usd = 0.0
        for iid, kind, price, cont, a, b, az in segments():
            a, b = int(a), int(b) if int(b) >= 0 else int(now)
            secs = b - a
            if kind == "compute" and cont == "f":
                secs = max(secs, 60)
            usd += max(secs, 0) / 3600 * float(price)
        return usd

    sc = Scenario("reprice", checks="status,marker")
    prices(0.0031)
    for n in ("r1", "r2"):
        with open(os.path.join(sc.specs, n + ".yaml"), "w") as f:
            f.write(SPEC.format(name=n, on_drift="replace", disk=12, mode="dev").replace(
                "disk: {size_gb: 12}}", "disk: {size_gb: 12}, market: spot}"))
    for _ in range(4):
        sc.reconcile()
        sc.put_markers()
    ids = [(sc.live(n) or [{}])[0].get("instance_id", "") for n in ("r1", "r2")]
    check(all(ids), "reprice: r1 and r2 launched (%s)" % ids)
    segs = segments()
    check(sorted((x[0], x[1], x[2], x[3]) for x in segs) ==
          sorted((i, k, p, "f") for i in ids for k, p in
                 (("compute", "0.00310000"), ("storage", "%.8f" % GP3_12GB))),
          "reprice: each instance booked at the proxy's spot price 0.0031 (psql %s)" % segs)
    for iid in ids:
        x = aws("ec2", "describe-instances", "--instance-ids", iid)["Reservations"][0]["Instances"][0]
        az = x["Placement"]["AvailabilityZone"]
        check(x.get("InstanceLifecycle") == "spot" and
              [s[6] for s in segs if s[0] == iid] == [az, az],
              "reprice: %s is spot in %s, the ledger's zone (aws CLI)" % (iid, az))

    # the zone's price changes; a pass with spot_price_refresh 1s books it
    prices(0.0052)
    check(proxy_price(az) == [0.0052], "reprice: the aws CLI reads 0.0052 in %s through the proxy"
          % az)
    sc.env["ENVCTL_SPOT_PRICE_REFRESH"] = "1s"
    time.sleep(1.1)
    proxy("/__proxy/log/clear", {})
    r = sc.reconcile()
    check(r.returncode == 0, "reprice: the pass (%d %s)" % (r.returncode, r.stderr.strip()[-300:]))
    log = proxy("/__proxy/log")["entries"]
    calls = [e for e in log if e["action"] == "DescribeSpotPriceHistory"]
    check(len(calls) == 1, "reprice: one DescribeSpotPriceHistory for two instances of one "
          "type (%d)" % len(calls))
    for iid in ids:
        c = [x for x in segments() if x[0] == iid and x[1] == "compute"]
        check(len(c) == 2 and c[0][2:4] == ["0.00310000", "f"] and
              c[1][2:4] == ["0.00520000", "t"] and c[0][5] == c[1][4] and c[1][5] == "-1",
              "reprice: %s: closed at 0.0031 and continued at 0.0052 from then (psql %s)"
              % (iid, c))
    r = sc.reconcile()
    check(r.returncode == 0 and len(segments()) == 6,
          "reprice: a pass at an unchanged price adds nothing (%d segments)" % len(segments()))

    # envctl cost equals the rule over psql's rows (bracketing envctl's now)
    t0 = time.time()
    r = sc.envctl("cost", "--since", "1d", "-o", "json")
    t1 = time.time()
    got = json.loads(r.stdout)["total"]["booked_usd"] if r.returncode == 0 else -1
    lo, hi = booked(int(t0)), booked(int(t1) + 1)
    print("figure: reprice: envctl cost %.8f $, psql rows %.8f..%.8f $" % (got, lo, hi))
    check(lo - 1e-9 <= got <= hi + 1e-9,
          "reprice: envctl cost %.8f = the rule over psql's rows (%.8f..%.8f)" % (got, lo, hi))
    sc.unspec("r1")
    sc.unspec("r2")
    sc.reconcile("--allow-empty", "--wait", "30s")


def main():
    try:
        aws("s3api", "create-bucket", "--bucket", BUCKET)
    except RuntimeError:
        pass
    part = sys.argv[1] if len(sys.argv) > 1 else "fleet"
    {"fleet": lambda: (fleet(), bootstrap()), "faults": faults, "chaos": chaos,
     "features": lambda: (network(), prices(), drift_once(), readiness()),
     "hostile": hostile, "idle": idle, "secrets": secrets, "own": own, "audit": audit,
     "strict": strict_pipeline, "regions": regions, "quota": quota,
     "stopstart": stopstart, "placement": placement, "spot": spot, "cost": cost,
     "reprice": reprice}[part]()
    print("%d passed, %d failed" % (len(passed), len(failures)))
    for f in failures:
        print("FAILED: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
