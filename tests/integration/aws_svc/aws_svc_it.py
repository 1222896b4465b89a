#!/usr/bin/env python3
"""aws_svc_it.py SCENARIO AWS_SVC_IT - integration scenarios for the EC2
and S3 clients, run under tests/harness/with-aws.sh.

The C program (aws_svc_it) makes the calls through the fault proxy
(AWS_ENDPOINT_URL); this script scripts the proxy (ENVCTL_PROXY_URL) and
reads back what was written with the aws CLI pointed straight at moto
(ENVCTL_MOTO_URL): an independent client, no proxy in between.
"""

import base64
import json
import os
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

PROXY = os.environ["ENVCTL_PROXY_URL"]
MOTO = os.environ["ENVCTL_MOTO_URL"]
IT = None
CHECKS = 0


def check(cond, what):
    global CHECKS
    CHECKS += 1
    if not cond:
        raise AssertionError(what)


def proxy(path, doc=None):
    data = None if doc is None else json.dumps(doc).encode()
    req = urllib.request.Request(PROXY + path, data=data,
                                 method="GET" if doc is None else "POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def plog(action=None):
    q = "" if action is None else "?action=" + action
    return proxy("/__proxy/log" + q)["entries"]


def aws(*args):
    out = subprocess.run(["aws", "--endpoint-url", MOTO, "--output", "json"] +
                         list(args), check=True, capture_output=True, text=True)
    return json.loads(out.stdout) if out.stdout.strip() else {}


def it(*args, ok=True):
    p = subprocess.run([IT] + list(args), capture_output=True, text=True, timeout=600)
    sys.stderr.write(p.stderr)
    if ok and p.returncode != 0:
        raise AssertionError("aws_svc_it %s exited %d:\n%s" % (args[0], p.returncode,
                                                              p.stdout))
    kv = {}
    for line in p.stdout.splitlines():
        k, _, v = line.partition("=")
        kv[k] = v
    return kv


def tags_of(obj):
    return {t["Key"]: t["Value"] for t in obj.get("Tags", [])}


def instances(*filters):
    args = ["ec2", "describe-instances"]
    if filters:
        args += ["--filters"] + list(filters)
    res = aws(*args)
    return [i for r in res["Reservations"] for i in r["Instances"]]


# ---- scenarios ----------------------------------------------------------

def scenario_calls():
    """Every EC2 and S3 call once; the results read back with the aws CLI."""
    proxy("/__proxy/reset", {})
    # Strict mode with EC2's delays after a create off (new resources
    # invisible, the console empty after launch): this checks each client
    # call's request and answer right after the create it follows
    # (ImportKeyPair then DescribeKeyPairs, RunInstances then
    # GetConsoleOutput, ...), which cannot coexist with those delays; the
    # AWS layer reports them as EC2 answers, and the waiting is the
    # pipeline's (it_reconcile_strict, it_reconcile_faults) and
    # aws_svc_consistency's.
    proxy("/__proxy/config", {"strict": {"invisible": {}, "console_seconds": 0}})
    aws("iam", "create-instance-profile", "--instance-profile-name", "dev-env")
    kv = it("calls", "envctl-it-bucket", "dev-env")
    iid, sg = kv["instance"], kv["security_group"]

    inst = aws("ec2", "describe-instances", "--instance-ids", iid)
    inst = inst["Reservations"][0]["Instances"][0]
    t = tags_of(inst)
    check(t.get("envctl:managed") == "true" and t.get("envctl:cluster") == "it-cluster"
          and t.get("envctl:env") == "web-alice" and t.get("Name") == "envctl-web-alice",
          "instance tags: %r" % t)
    check(t.get("envctl:spec-hash") == "abc123", "CreateTags: %r" % t)
    check(inst["InstanceType"] == "t3.medium", "type")
    check(inst["ImageId"] == kv["image"], "image")
    check(inst["KeyName"] == "envctl-web-alice", "key name")
    check([g["GroupId"] for g in inst["SecurityGroups"]] == [sg], "groups")
    check(inst["MetadataOptions"]["HttpTokens"] == "required", "IMDSv2")
    check(inst["MetadataOptions"]["HttpPutResponseHopLimit"] == 2, "hop limit")
    check(inst["IamInstanceProfile"]["Arn"].endswith("instance-profile/dev-env"),
          "instance profile %r" % inst.get("IamInstanceProfile"))
    check(inst.get("ClientToken") == "it-web-alice-attempt-1", "client token")
    bdm = inst["BlockDeviceMappings"]
    check(len(bdm) == 1 and bdm[0]["DeviceName"] == kv["root_device"],
          "block device mapping %r" % bdm)
    check(bdm[0]["Ebs"]["DeleteOnTermination"] is True, "delete on termination")

    vols = aws("ec2", "describe-volumes", "--filters",
               "Name=attachment.instance-id,Values=" + iid)["Volumes"]
    check(len(vols) == 1, "one volume: %r" % vols)
    v = vols[0]
    check(v["VolumeType"] == "gp3", "gp3: %r" % v["VolumeType"])
    check(v["Encrypted"] is True, "encrypted")
    check(v["Size"] == 30, "size %r" % v["Size"])
    vt = tags_of(v)
    check(vt.get("envctl:env") == "web-alice" and vt.get("envctl:cluster") == "it-cluster",
          "volume tags: %r" % vt)

    ud = aws("ec2", "describe-instance-attribute", "--instance-id", iid,
             "--attribute", "userData")
    check(base64.b64decode(ud["UserData"]["Value"]) ==
          b"#!/bin/sh\necho 'envctl it' > /tmp/marker\n", "user data")

    spot = aws("ec2", "describe-instances", "--instance-ids", kv["spot_instance"])
    spot = spot["Reservations"][0]["Instances"][0]
    check(spot.get("InstanceLifecycle") == "spot", "spot lifecycle")
    check(spot["State"]["Name"] in ("shutting-down", "terminated"), "spot terminated")

    # Termination protection (moto ignores DisableApiTermination at launch,
    # so it is switched on with the aws CLI): seen, and terminate refused.
    aws("ec2", "modify-instance-attribute", "--instance-id", iid,
        "--disable-api-termination")
    p = it("protection", iid)
    check(p == {"protection": "1", "terminate": str(-4),
                "code": "OperationNotPermitted"}, "protected: %r" % p)
    aws("ec2", "modify-instance-attribute", "--instance-id", iid,
        "--no-disable-api-termination")
    p = it("protection", iid)
    check(p == {"protection": "0", "terminate": "0", "code": ""}, "unprotected: %r" % p)
    st = aws("ec2", "describe-instances", "--instance-ids", iid)
    check(st["Reservations"][0]["Instances"][0]["State"]["Name"] in
          ("shutting-down", "terminated"), "terminated after unprotecting")

    g = aws("ec2", "describe-security-groups", "--group-ids", sg)["SecurityGroups"][0]
    rules = [(p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), r["CidrIp"])
             for p in g["IpPermissions"] for r in p["IpRanges"]]
    check(rules == [("tcp", 22, 22, "203.0.113.7/32")], "ingress rules %r" % rules)
    check(tags_of(g).get("envctl:env") == "web-alice", "group tags")
    gone = aws("ec2", "describe-security-groups", "--filters",
               "Name=group-name,Values=envctl-temp")["SecurityGroups"]
    check(gone == [], "deleted group still there")

    kps = {k["KeyName"]: k for k in aws("ec2", "describe-key-pairs")["KeyPairs"]}
    check("envctl-web-alice" in kps and "envctl-temp" not in kps, "key pairs %r" % kps)

    b = "envctl-it-bucket"
    h = aws("s3api", "head-object", "--bucket", b, "--key", "envctl/e1/id_ed25519")
    check(h.get("ServerSideEncryption") == "AES256", "SSE AES256: %r" % h)
    h = aws("s3api", "head-object", "--bucket", b, "--key", "envctl/e1/id_ed25519.pub")
    check(h.get("ServerSideEncryption") == "aws:kms", "SSE kms: %r" % h)
    keys = [o["Key"] for o in aws("s3api", "list-objects-v2", "--bucket", b)
            .get("Contents", [])]
    check(sorted(keys) == ["envctl/e1/id_ed25519", "envctl/e1/id_ed25519.pub"],
          "keys %r" % keys)

    with urllib.request.urlopen(kv["presigned_get"], timeout=30) as r:
        body = r.read()
    check(body.startswith(b"ssh-ed25519 AAAAC3"), "presigned GET body")
    # moto (werkzeug) swallows a PUT body sent as a form: say what it is.
    req = urllib.request.Request(kv["presigned_put"], data=b"ready fp=SHA256:x",
                                 method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=30) as r:
        check(r.status == 200, "presigned PUT status")
    tmp = os.path.join(os.environ.get("TMPDIR", "/tmp"), "aws_svc_it.%d" % os.getpid())
    try:
        aws("s3api", "get-object", "--bucket", b, "--key", "envctl/e1/ready", tmp)
        with open(tmp, "rb") as f:
            got = f.read()
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    check(got == b"ready fp=SHA256:x", "presigned PUT content %r" % got)

    seen = {e["action"] for e in plog()}
    want = {"DescribeImages", "ImportKeyPair", "DescribeKeyPairs", "DeleteKeyPair",
            "CreateSecurityGroup", "AuthorizeSecurityGroupIngress",
            "RevokeSecurityGroupIngress", "DescribeSecurityGroups",
            "DeleteSecurityGroup", "RunInstances", "DescribeInstances", "CreateTags",
            "DescribeInstanceStatus", "DescribeInstanceAttribute", "GetConsoleOutput",
            "DescribeSpotPriceHistory", "TerminateInstances", "CreateBucket",
            "PutObject", "HeadObject", "GetObject", "ListObjectsV2", "DeleteObject"}
    check(want <= seen, "calls missing from the proxy log: %r" % (want - seen))
    di = [e for e in plog("DescribeInstances") if "MaxResults" in e["params"]]
    check(di and all(e["params"]["MaxResults"] == "1000" for e in di), "MaxResults")


def scenario_throttle():
    """Two throttled answers, then success: the client retries."""
    proxy("/__proxy/reset", {})
    proxy("/__proxy/config", {"faults": [
        {"action": "DescribeInstances", "nth": [1, 2], "status": 503,
         "code": "RequestLimitExceeded", "message": "Request limit exceeded."}]})
    kv = it("count", "it-cluster")
    check(kv["instances"] == "0" and kv["pages"] == "1", "count %r" % kv)
    st = [e["status"] for e in plog("DescribeInstances")]
    check(st == [503, 503, 200], "statuses %r" % st)

    # Three in a row is more than max_attempts (3): the call fails.
    proxy("/__proxy/reset", {"moto": False})
    proxy("/__proxy/config", {"faults": [
        {"action": "DescribeInstances", "nth": [1, 2, 3], "status": 503,
         "code": "RequestLimitExceeded"}]})
    kv = it("state", "i-0123456789abcdef0")
    check(kv.get("code") == "RequestLimitExceeded", "gave up: %r" % kv)
    check(len(plog("DescribeInstances")) == 3, "three attempts")


def scenario_storm():
    """A token bucket lets 5 calls through, then throttles forever: the
    client's retry quota (500, 5 per retry) runs dry and calls fail fast."""
    proxy("/__proxy/reset", {})
    proxy("/__proxy/config", {"rate_limits": {"Describe*": {"burst": 5, "rate": 0}},
                              "rate_scale": 1.0})
    n = 70
    kv = it("storm", str(n))
    attempts = [int(a) for a in kv["attempts"].split(",")]
    log = plog("DescribeInstances")
    check(int(kv["ok"]) == 5, "5 calls within the burst: %r" % kv)
    check(len(log) == int(kv["sent"]), "proxy saw %d, client sent %s" %
          (len(log), kv["sent"]))
    throttled = [e for e in log if e["fault"] == "throttled"]
    check(all(e["status"] == 503 and not e["forwarded"] for e in throttled),
          "throttled answers are 503 and never reach moto")
    retries = len(log) - n
    check(retries == 500 // 5, "retries %d == quota/cost" % retries)
    check(attempts[5:55] == [3] * 50, "first 50 throttled calls retried twice")
    check(attempts[55:] == [1] * (n - 55), "then fail fast: %r" % attempts[55:])
    check(int(kv["quota_after"]) < 5, "quota empty: %r" % kv["quota_after"])
    check(len(log) < 3 * n, "storm of retries avoided")


def _windows_ok(times, spend, rate, slack):
    """At most spend + rate x (t_j - t_i) + slack calls in any window."""
    times = sorted(times)
    for i in range(len(times)):
        for j in range(i, len(times)):
            if j - i + 1 > spend + rate * (times[j] - times[i]) + slack:
                return "%d calls in %.3f s" % (j - i + 1, times[j] - times[i])
    return None


def scenario_paced():
    """EC2's rate limits at the proxy (scaled by 2): a burst of 60
    DescribeInstances and 20 RunInstances from 4 threads, each with its
    own client, is throttled without pacing and never with a shared
    pacer of the same limits."""
    scale = 2
    limits = {"RunInstances": {"burst": 5, "rate": 2},
              "Describe*": {"burst": 10, "rate": 5}}
    paced = "run=5:%g,describe=10:%g" % (2 * scale, 5 * scale)

    # Control: the same burst unpaced meets throttling answers.
    proxy("/__proxy/reset", {})
    proxy("/__proxy/config", {"rate_limits": limits, "rate_scale": scale})
    kv = it("paced", "off", "4", "60", "20", "control", ok=False)
    log = plog()
    nthr = sum(1 for e in log if e["fault"] == "throttled")
    check(nthr > 0 and int(kv["throttled"]) == nthr,
          "unpaced burst is throttled: proxy %d, client %r" % (nthr, kv))

    proxy("/__proxy/reset", {})
    proxy("/__proxy/config", {"rate_limits": limits, "rate_scale": scale})
    kv = it("paced", paced, "4", "60", "20", "paced")
    log = plog()
    check(kv["ok"] == "80" and kv["failed"] == "0", "all calls ok: %r" % kv)
    check(all(e["fault"] is None and e["status"] == 200 for e in log),
          "no throttled answer at the proxy: %r" %
          sorted({(e["action"], e["status"], e["fault"]) for e in log}))
    check(kv["throttled"] == "0" and kv["attempts"] == "80",
          "client saw no throttling: %r" % kv)
    runs = [e["time"] for e in log if e["action"] == "RunInstances"]
    descs = [e["time"] for e in log if e["action"] == "DescribeInstances"]
    check(len(runs) == 20 and len(descs) == 60, "proxy saw %d runs, %d describes"
          % (len(runs), len(descs)))
    # Every call took its token (how many waited depends on the machine).
    check(kv["run_acquired"] == "20" and kv["describe_acquired"] == "60" and
          kv["mutate_acquired"] == "0", "pacer figures %r" % kv)
    # Paced at the limits (arrival times at the proxy), not far below them.
    for name, t, spend, rate in (("run", runs, 4, 2 * scale),
                                 ("describe", descs, 9, 5 * scale)):
        bad = _windows_ok(t, spend, rate, 1)
        check(bad is None, "%s calls over the limit: %s" % (name, bad))
    check(max(runs) - min(runs) >= (20 - 5) / (2 * scale) * 0.9,
          "RunInstances spread over %.2f s" % (max(runs) - min(runs)))
    check(float(kv["seconds"]) < (60 - 9) / (5 * scale) + 3,
          "no slower than the limits need: %s s" % kv["seconds"])
    got = instances("Name=tag:it-paced,Values=paced")
    check(len(got) == 20, "moto holds 20 paced instances, %d" % len(got))


def scenario_drop_after():
    """RunInstances reaches moto, the answer is lost; the client retries
    with the same ClientToken and exactly one instance exists."""
    proxy("/__proxy/reset", {})
    proxy("/__proxy/config", {"faults": [{"action": "RunInstances", "nth": 1,
                                          "drop": "after"}]})
    kv = it("run", "tok-drop-1", "t3.micro", "drop")
    check(kv.get("id", "").startswith("i-"), "launched: %r" % kv)
    log = plog("RunInstances")
    check(len(log) == 2, "two attempts: %r" % log)
    check(log[0]["fault"] == "drop-after" and log[0]["forwarded"], "first dropped after moto")
    check(log[1]["replayed"] and not log[1]["forwarded"], "second replayed")
    check(log[0]["client_token"] == log[1]["client_token"] == "tok-drop-1", "same token")
    found = instances("Name=tag:it-run,Values=drop")
    check([i["InstanceId"] for i in found] == [kv["id"]],
          "exactly one instance: %r" % [i["InstanceId"] for i in found])

    # Control: without the proxy's idempotency (moto alone) the same
    # sequence makes two instances, so the check above can fail.
    proxy("/__proxy/reset", {})
    proxy("/__proxy/config", {"idempotency": False, "faults": [
        {"action": "RunInstances", "nth": 1, "drop": "after"}]})
    it("run", "tok-drop-2", "t3.micro", "drop2")
    check(len(instances("Name=tag:it-run,Values=drop2")) == 2, "control makes two")

    # Dropped before moto: nothing made on the first try, one after retry.
    proxy("/__proxy/reset", {})
    proxy("/__proxy/config", {"faults": [{"action": "RunInstances", "nth": 1,
                                          "drop": "before"}]})
    kv = it("run", "tok-drop-3", "t3.micro", "drop3")
    log = plog("RunInstances")
    check(log[0]["fault"] == "drop-before" and not log[0]["forwarded"], "dropped before")
    check(len(instances("Name=tag:it-run,Values=drop3")) == 1, "one instance")


def scenario_drop_mid():
    """A DescribeInstances answer cut off in the middle of its body (after
    some instances were read) is retried and read again from its start:
    every instance once, none twice, the page whole."""
    proxy("/__proxy/reset", {})
    spec = ("ResourceType=instance,Tags=[{Key=envctl:cluster,Value=mid}]")
    for _ in range(3):
        aws("ec2", "run-instances", "--image-id", "ami-12c6146b", "--count", "10",
            "--instance-type", "t3.micro", "--tag-specifications", spec)
    want = sorted(i["InstanceId"] for i in instances("Name=tag:envctl:cluster,Values=mid"))
    check(len(want) == 30, "moto holds 30: %d" % len(want))

    # Control: the whole answer, no fault.
    kv = it("ids", "mid")
    full = kv["ids"].split(",")
    check(sorted(full) == want and kv["pages"] == "1", "no fault: %r" % kv)

    cut = 40000
    proxy("/__proxy/log/clear", {})
    proxy("/__proxy/config", {"faults": [{"action": "DescribeInstances", "every": True,
                                          "times": 1, "drop": "mid",
                                          "after_bytes": cut}]})
    kv = it("ids", "mid")
    log = plog("DescribeInstances")
    check(len(log) == 2, "two attempts: %r" % log)
    check(log[0]["fault"] == "drop-mid" and log[0]["sent_bytes"] == cut and
          log[0]["body_bytes"] > 2 * cut, "first cut mid-body: %r" % log[0])
    check(log[1]["fault"] is None and log[1]["status"] == 200, "second whole: %r" % log[1])
    got = kv["ids"].split(",")
    check(len(got) == len(set(got)), "no instance twice: %d ids, %d distinct" %
          (len(got), len(set(got))))
    check(sorted(got) == want, "every instance: %r" % kv)
    check(got == full, "same order as without the fault")
    check(kv["pages"] == "1", "one page: %r" % kv)


def scenario_idempotency():
    """Same token and parameters: the same instance; other parameters:
    IdempotentParameterMismatch."""
    proxy("/__proxy/reset", {})
    a = it("run", "tok-idem", "t3.micro", "idem")
    b = it("run", "tok-idem", "t3.micro", "idem")
    check(a["id"].startswith("i-") and a["id"] == b["id"], "same instance %r %r" % (a, b))
    c = it("run", "tok-idem", "t3.large", "idem")
    check(c.get("code") == "IdempotentParameterMismatch", "mismatch: %r" % c)
    check(c.get("err") == "-9", "ERR_CONFLICT: %r" % c)
    check(c.get("attempts") == "1", "not retried: %r" % c)
    check(len(instances("Name=tag:it-run,Values=idem")) == 1, "one instance in moto")
    log = plog("RunInstances")
    check([(e["forwarded"], e["replayed"], e["status"]) for e in log] ==
          [(True, False, 200), (False, True, 200), (False, False, 400)],
          "log %r" % log)


def scenario_consistency():
    """A new instance is invisible for 1.5 s, then pending until 4 s."""
    proxy("/__proxy/reset", {})
    proxy("/__proxy/config", {"invisible_seconds": 1.5, "pending_seconds": 4})
    t0 = time.monotonic()
    kv = it("run", "tok-cons", "t3.micro", "cons")
    t1 = time.monotonic()   # the proxy saw the launch between t0 and t1
    iid = kv["id"]
    check(kv["state"] == "pending", "launched pending: %r" % kv)
    s = it("state", iid)
    if time.monotonic() - t0 < 1.4:
        check(s.get("code") == "InvalidInstanceID.NotFound", "invisible: %r" % s)
    check(it("count", "nobody").get("instances") == "0", "filter")
    time.sleep(max(0, 1.7 - (time.monotonic() - t1)))
    s = it("state", iid)
    if time.monotonic() - t0 < 3.8:
        check(s.get("state") == "pending", "pending: %r" % s)
    time.sleep(max(0, 4.3 - (time.monotonic() - t1)))
    s = it("state", iid)
    check(s.get("state") == "running", "running: %r" % s)


def scenario_pagination():
    """1,001 instances: one DescribeInstances page per 1,000."""
    proxy("/__proxy/reset", {})
    import boto3  # the machine's Python has it; only used to seed moto fast
    ec2 = boto3.client("ec2", endpoint_url=MOTO, region_name="us-east-1")
    spec = [{"ResourceType": "instance",
             "Tags": [{"Key": "envctl:cluster", "Value": "big"}]}]

    def launch(_):
        ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                          InstanceType="t3.micro", TagSpecifications=spec)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(launch, range(1001)))
    kv = it("count", "big")
    check(kv == {"instances": "1001", "pages": "2"}, "count %r" % kv)
    log = plog("DescribeInstances")
    check(len(log) == 2, "two pages, %d requests" % len(log))
    check(all(e["params"].get("MaxResults") == "1000" for e in log), "MaxResults 1000")
    check("NextToken" not in log[0]["params"] and log[1]["params"].get("NextToken"),
          "second page asks with NextToken")


def main():
    global IT
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    name, IT = sys.argv[1], sys.argv[2]
    fn = globals().get("scenario_" + name)
    if fn is None:
        print("unknown scenario " + name, file=sys.stderr)
        return 2
    t0 = time.time()
    try:
        fn()
    except AssertionError as e:
        print("FAIL aws_svc %s: %s" % (name, e), file=sys.stderr)
        return 1
    print("ok aws_svc %s: %d checks in %.1f s" % (name, CHECKS, time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
