#!/usr/bin/env python3
"""plan_it.py - `envctl plan` against real PostgreSQL and moto behind the proxy.

Run under tests/harness/with-pg.sh and tests/harness/with-aws.sh.  The
test builds the world with independent clients (the aws CLI straight to
moto, psql for rows), then checks that `envctl plan -o json` names
exactly the expected action for each environment, that the only AWS call
it made is one DescribeInstances page, and that an unreachable database
makes plan exit 1 before any AWS call.
"""

import json
import os
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from itlib import SPEC, Checks, aws, envctl, proxy, psql  # noqa: E402

CLUSTER = "it-plan"
t = Checks()
check = t.check


def main():
    specs = tempfile.mkdtemp(prefix="envctl-plan-it-")
    desired = {"a-new": "replace", "b-same": "replace", "c-drift": "replace",
               "d-report": "report", "g-adopt": "replace", "h-gone": "replace"}
    for name, od in desired.items():
        with open(os.path.join(specs, name + ".yaml"), "w") as f:
            f.write(SPEC.format(name=name, on_drift=od))
    with open(os.path.join(specs, "i-broken.yaml"), "w") as f:
        f.write("apiVersion: envctl/v1\nkind: Environment\nspec: {instance: {type: 7}}\n")

    v = envctl("validate", "-o", "json", specs)
    hashes = {f["name"]: f.get("hash") for f in json.loads(v.stdout)["files"]}
    check(v.returncode == 1 and hashes["i-broken"] is None, "one spec is invalid, the others hash")

    r = envctl("migrate")
    check(r.returncode == 0, "envctl migrate: " + r.stderr.strip())

    image = aws("ec2", "describe-images", "--owners", "amazon")["Images"][0]["ImageId"]

    def launch(name, env_id, spec_hash, cluster=CLUSTER):
        tags = [{"Key": "envctl:managed", "Value": "true"},
                {"Key": "envctl:cluster", "Value": cluster},
                {"Key": "envctl:env", "Value": name},
                {"Key": "envctl:env-id", "Value": env_id},
                {"Key": "envctl:spec-hash", "Value": spec_hash}]
        spec = json.dumps([{"ResourceType": "instance", "Tags": tags}])
        out = aws("ec2", "run-instances", "--image-id", image, "--instance-type", "t3.micro", "--count", "1",
                  "--tag-specifications", spec)
        return out["Instances"][0]["InstanceId"]

    def row(name, env_id, status, stage, spec_hash, instance_id=None):
        psql("INSERT INTO environments (id, name, workspace, spec_hash, status, stage, "
             "instance_id, attempts, created_at, updated_at, cluster_id) VALUES "
             "('%s', '%s', 'it', '%s', '%s', '%s', %s, 0, now(), now(), '%s')" %
             (env_id, name, spec_hash, status, stage,
              "'%s'" % instance_id if instance_id else "NULL", CLUSTER))

    ids = {n: str(uuid.uuid4()) for n in
           ["b-same", "c-drift", "d-report", "e-removed", "f-closed", "g-adopt", "h-gone", "i-broken"]}
    old = "v1:" + "0" * 64
    # b: in sync
    row("b-same", ids["b-same"], "ready", "DONE", hashes["b-same"],
        launch("b-same", ids["b-same"], hashes["b-same"]))
    # c, d: the instance carries an older spec hash
    row("c-drift", ids["c-drift"], "ready", "DONE", old, launch("c-drift", ids["c-drift"], old))
    row("d-report", ids["d-report"], "ready", "DONE", old, launch("d-report", ids["d-report"], old))
    # e: spec removed, instance and row remain
    row("e-removed", ids["e-removed"], "ready", "DONE", old, launch("e-removed", ids["e-removed"], old))
    # f: spec removed, row only
    row("f-closed", ids["f-closed"], "ready", "DONE", old)
    # g: instance, no row (row lost)
    launch("g-adopt", ids["g-adopt"], hashes["g-adopt"])
    # h: row ready, instance gone
    row("h-gone", ids["h-gone"], "ready", "DONE", hashes["h-gone"], "i-0123456789abcdef0")
    # i: invalid spec; its instance and row must be left alone
    row("i-broken", ids["i-broken"], "ready", "DONE", old, launch("i-broken", ids["i-broken"], old))
    # an orphan (our cluster, unknown env id) and another cluster's instance
    orphan = launch("ghost", str(uuid.uuid4()), old)
    launch("other", str(uuid.uuid4()), old, cluster="someone-else")

    # The ledger (docs/design.md §6.9): open compute segments at made-up
    # rates, so the plan's cost lines can be checked by hand.
    def seg(env_id, instance_id, usd):
        psql("INSERT INTO cost_segments (cluster_id, env_id, instance_id, kind,"
             " usd_per_hour, od_usd_per_hour, started_at) VALUES ('%s', %s, '%s',"
             " 'compute', %s, %s, now() - interval '1 hour')" %
             (CLUSTER, "'%s'" % env_id if env_id else "NULL", instance_id, usd, usd))
    for name, usd in (("b-same", 1.0), ("c-drift", 0.5), ("e-removed", 0.25)):
        iid = psql("SELECT instance_id FROM environments WHERE name = '%s'" % name).strip()
        seg(ids[name], iid, usd)
    seg(None, orphan, 0.125)

    rows_before = psql("SELECT id, status, stage, updated_at FROM environments ORDER BY id")
    check(len(rows_before.splitlines()) == 7, "seven rows seeded")
    proxy("/__proxy/log/clear", {})
    r = envctl("plan", "-o", "json", "--specs", specs, "--cluster-id", CLUSTER,
               "--orphan-grace", "0")
    check(r.returncode == 2, "plan exits 2 when there are changes (got %d: %s)" % (r.returncode, r.stderr.strip()))
    doc = json.loads(r.stdout)
    got = sorted((a["name"], a["kind"]) for a in doc["actions"])
    want = sorted([("a-new", "provision"), ("b-same", "noop"), ("c-drift", "replace"),
                   ("d-report", "drift-report"), ("e-removed", "terminate"),
                   ("f-closed", "close"), ("g-adopt", "adopt"), ("h-gone", "drift-gone"),
                   ("i-broken", "noop"), ("ghost", "orphan")])
    kinds = {a["kind"] for a in doc["actions"]}
    check(got == want, "plan names exactly the expected actions\n   got  %s\n   want %s" % (got, want))
    orphan_actions = [a for a in doc["actions"] if a["kind"] == "orphan"]
    check(len(orphan_actions) == 1 and orphan_actions[0]["instance_id"] == orphan,
          "the orphan is the ghost instance")
    # + a-new, c-drift's replacement, h-gone's: three t3.micro on demand
    # (0.0104 $/h); - c-drift 0.5, e-removed 0.25, the ghost 0.125.
    cost = doc["cost"]
    near = lambda a, b: abs(a - b) < 1e-6
    check(near(cost["add_usd_per_hour"], 3 * 0.0104) and
          near(cost["remove_usd_per_hour"], 0.875) and
          near(cost["fleet_usd_per_hour_now"], 1.875) and
          near(cost["fleet_usd_per_hour_after"], 1.875 + 3 * 0.0104 - 0.875),
          "plan prices what it adds and removes (got %s)" % cost)
    log = proxy("/__proxy/log")["entries"]
    actions = [e["action"] for e in log]
    check(actions == ["DescribeInstances"], "one AWS call, DescribeInstances (got %s)" % actions)
    check(doc["aws_calls"] == 1, "plan counts one AWS call")

    # Text output carries the same verdicts.
    r = envctl("plan", "--specs", specs, "--cluster-id", CLUSTER, "--orphan-grace", "0")
    check(r.returncode == 2 and "+ a-new" in r.stdout and "? ghost" in r.stdout,
          "text plan shows + and ? lines")
    check("Cost: +$0.0312/h to add, -$0.8750/h to remove; the fleet $1.8750/h "
          "now, $1.0312/h after." in r.stdout, "text plan shows the cost line")

    # Nothing was changed: rows and instances as before.
    rows_after = psql("SELECT id, status, stage, updated_at FROM environments ORDER BY id")
    check(rows_after == rows_before, "plan changed no rows")
    running = aws("ec2", "describe-instances", "--filters",
                  "Name=instance-state-name,Values=pending,running")
    count = sum(len(res["Instances"]) for res in running["Reservations"])
    check(count == 8, "plan terminated nothing (%d instances)" % count)

    # status: records and EC2 side by side, disagreement visible.
    r = envctl("status", "-o", "json", "--cluster-id", CLUSTER)
    check(r.returncode == 0, "status exits 0: " + r.stderr.strip())
    st = {e["name"]: e for e in json.loads(r.stdout)}
    check(st["b-same"]["agreement"] == "ok" and st["b-same"]["instance_state"] == "running",
          "status: b-same agrees and runs")
    check(st["h-gone"]["agreement"] == "instance missing", "status: h-gone's instance is missing")
    check(st["g-adopt"]["agreement"].startswith("no record") and st["g-adopt"]["status"] is None,
          "status: g-adopt has an instance but no record")
    check("other" not in st, "status: another cluster's instance is not shown")
    r = envctl("status", "b-same", "--cluster-id", CLUSTER)
    check(r.returncode == 0 and "b-same" in r.stdout and "h-gone" not in r.stdout,
          "status NAME shows one environment")
    r = envctl("status", "nope", "--cluster-id", CLUSTER)
    check(r.returncode == 1 and "no such environment" in r.stderr, "status of an unknown name: exit 1")

    # An unreachable database: exit 1, a clear message, and no AWS call.
    proxy("/__proxy/log/clear", {})
    r = envctl("plan", "--specs", specs, "--cluster-id", CLUSTER,
               "--database-url", "postgresql://envctl@127.0.0.1:1/nowhere?connect_timeout=2")
    check(r.returncode == 1, "unreachable database: exit 1 (got %d)" % r.returncode)
    check(r.stderr.startswith("envctl: ") and "127.0.0.1" in r.stderr,
          "unreachable database: clear message: " + r.stderr.strip())
    check(proxy("/__proxy/log")["entries"] == [], "unreachable database: no AWS call")

    # A missing spec directory fails closed too.
    r = envctl("plan", "--specs", specs + "/nope", "--cluster-id", CLUSTER)
    check(r.returncode == 1 and "nope" in r.stderr, "missing spec dir: exit 1 naming it")

    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
