#!/usr/bin/env python3
"""iam_policy.py - docs/iam-policy.json against what envctl really calls.

The fault proxy records every request of the integration tests
(faultproxy.py --record).  This checks the shipped policy three ways:

  1. every request the controller made (User-Agent envctl/...) and every
     presigned S3 request signed with its credentials (an instance's
     curl) is allowed by it: S3 requests with their bucket, key and
     s3:prefix evaluated against Resource and Condition; EC2 actions at
     the action level (their resource tags are not in the record);
  2. it grants nothing else: every action it allows is one envctl's AWS
     layer implements and the controller uses (read from lib/aws), or a
     permission such a call needs (iam:PassRole for an instance profile);
  3. it is scoped: no mutating EC2 action on "*", creates carry
     aws:RequestTag conditions, modify and delete aws:ResourceTag ones
     (tagging while creating: ec2:CreateAction), except RunInstances and
     CreateSecurityGroup on the parts they use (image, subnet, ...); S3
     only under BUCKET/S3_PREFIX/; SSM parameters only under SSM_PREFIX/;
     iam:PassRole only to EC2.

Placeholders in the policy: BUCKET, S3_PREFIX (s3_prefix, "envctl" in the
tests), SSM_PREFIX (secret_ssm_prefix without its slashes, "envctl"),
CLUSTER_ID.

Usage: iam_policy.py check POLICY RECORD_DIR SRC_DIR
       iam_policy.py selftest POLICY SRC_DIR
Exit 0 ok, 1 findings, 77 when no request of envctl's was recorded.
"""

import copy
import fnmatch
import glob
import json
import os
import re
import sys
import urllib.parse

SKIP = 77
TEST_PREFIX = "envctl"          # s3_prefix in the integration tests
TEST_SSM_PREFIX = "envctl"      # secret_ssm_prefix /envctl/ in the integration tests

# Calls that need no grant in this policy, and why.
NOT_GRANTED = {
    "sts:GetCallerIdentity": "needs no permission",
    "sts:AssumeRole": "granted to the source identity by the operator's own policy "
                      "when a role_arn profile is used (docs/aws-setup.md)",
    "s3:CreateBucket": "the library's, used by tests and quickstart; the operator creates "
                       "the bucket (docs/aws-setup.md)",
}
# Permissions a call needs beyond its own action.
IMPLIED = {"iam:PassRole": "RunInstances with an instance profile (instance.iam_instance_profile)"}
# Resource types RunInstances / CreateSecurityGroup use without creating them.
PARTS = {"image", "snapshot", "subnet", "network-interface", "key-pair", "security-group", "vpc"}
S3_ACTIONS = {"CreateBucket": "s3:CreateBucket", "DeleteObject": "s3:DeleteObject",
              "GetBucketLocation": "s3:GetBucketLocation",
              "GetObject": "s3:GetObject", "HeadObject": "s3:GetObject",
              "ListObjectsV2": "s3:ListBucket", "PutObject": "s3:PutObject"}


# EC2 reads that are not Describe* and that IAM authorizes on "*" only.
EC2_UNSCOPED_READS = {"GetSpotPlacementScores"}


def as_list(x):
    return x if isinstance(x, list) else [x]


def implemented(src):
    """IAM actions of every call lib/aws implements."""
    acts = set()
    for f, svc in (("ec2.c", "ec2"), ("sts.c", "sts"), ("s3.c", "s3"), ("ssm.c", "ssm")):
        text = open(os.path.join(src, "lib", "aws", f), encoding="utf-8").read()
        for name in set(re.findall(r'"([A-Z][A-Za-z0-9]+)"', text)):
            if svc == "s3":
                if name in S3_ACTIONS:
                    acts.add(S3_ACTIONS[name])
            elif re.match(r"(Describe|Create|Delete|Run|Terminate|Start|Stop|Import|Get|Authorize|"
                          r"Revoke|Assume|Modify)[A-Z]", name):
                acts.add("%s:%s" % (svc, name))
    return acts


def requests(d):
    for path in sorted(glob.glob(os.path.join(d, "*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def controller_calls(records):
    """(iam action, resource ARN or None, condition context) per request."""
    out = []
    for r in records:
        ua = r["ua"]
        mine = ua.startswith("envctl/")
        presigned = r["presigned"] and r["service"] == "s3" and \
            not ua.startswith(("aws-cli/", "Boto3/", "Botocore/", "botocore/"))
        if not (mine or presigned):
            continue
        if r["service"] in ("ec2", "sts", "ssm"):
            out.append(("%s:%s" % (r["service"], r["action"]), None, {}))
            continue
        if r["service"] != "s3" or r["action"] not in S3_ACTIONS:
            out.append(("s3:%s" % r["action"], None, {}))
            continue
        path = urllib.parse.unquote(r["path"]).lstrip("/")
        bucket, _, key = path.partition("/")
        if key:
            arn = "arn:aws:s3:::%s/%s" % (bucket, key)
        else:
            arn = "arn:aws:s3:::%s" % bucket
        ctx = {"s3:prefix": dict((k, v) for k, v in r["params"]).get("prefix", "")}
        out.append((S3_ACTIONS[r["action"]], arn, ctx))
    return out


def bind(policy, bucket):
    text = json.dumps(policy).replace("BUCKET", bucket).replace("S3_PREFIX", TEST_PREFIX)
    text = text.replace("SSM_PREFIX", TEST_SSM_PREFIX)
    return json.loads(text)


def allows(policy, action, arn, ctx):
    for st in policy["Statement"]:
        if st["Effect"] != "Allow":
            continue
        if not any(fnmatch.fnmatchcase(action, a) for a in as_list(st["Action"])):
            continue
        if arn is None:
            return True          # EC2: action level
        if not any(fnmatch.fnmatchcase(arn, res) for res in as_list(st["Resource"])):
            continue
        ok = True
        for op, conds in st.get("Condition", {}).items():
            for k, want in conds.items():
                if k not in ctx:
                    continue
                match = fnmatch.fnmatchcase if op == "StringLike" else (lambda a, b: a == b)
                if not any(match(ctx[k], w) for w in as_list(want)):
                    ok = False
        if ok:
            return True
    return False


def scoped(policy):
    """Findings of the scoping rules (3)."""
    bad = []
    for st in policy["Statement"]:
        sid = st.get("Sid", "?")
        cond = st.get("Condition", {})
        keys = {k for c in cond.values() for k in c}
        res = as_list(st["Resource"])
        for a in as_list(st["Action"]):
            if "*" in a:
                bad.append("%s: wildcard action %s" % (sid, a))
            svc, _, name = a.partition(":")
            # reads on no resource (IAM knows no resource-level form)
            if svc == "ec2" and not name.startswith("Describe") and \
                    name not in EC2_UNSCOPED_READS:
                if "*" in res:
                    bad.append("%s: %s on every resource" % (sid, a))
                types = {r.split(":")[-1].split("/")[0] for r in res}
                if name == "CreateTags":
                    need = ("ec2:CreateAction", "aws:ResourceTag/envctl:managed")
                elif name.startswith(("Create", "Import", "Run")):
                    need = ("aws:RequestTag/envctl:managed",)
                else:
                    need = ("aws:ResourceTag/envctl:managed",)
                parts_only = name in ("RunInstances", "CreateSecurityGroup") and types <= PARTS
                if not parts_only and not any(n in keys for n in need):
                    bad.append("%s: %s without a %s condition" % (sid, a, " or ".join(need)))
                if not parts_only and "aws:ResourceTag/envctl:managed" in keys | set(need) and \
                        not ({"aws:ResourceTag/envctl:cluster", "aws:RequestTag/envctl:cluster",
                              "ec2:CreateAction"} & keys):
                    bad.append("%s: %s not scoped to this cluster" % (sid, a))
            if svc == "s3":
                for r in res:
                    if r != "arn:aws:s3:::BUCKET" and not r.startswith("arn:aws:s3:::BUCKET/S3_PREFIX/"):
                        bad.append("%s: %s outside BUCKET/S3_PREFIX/: %s" % (sid, a, r))
                if a == "s3:ListBucket" and "s3:prefix" not in keys:
                    bad.append("%s: s3:ListBucket without an s3:prefix condition" % sid)
            if svc == "ssm":
                for r in res:
                    if not r.startswith("arn:aws:ssm:*:*:parameter/SSM_PREFIX/"):
                        bad.append("%s: %s outside SSM_PREFIX/: %s" % (sid, a, r))
            if a == "iam:PassRole" and \
                    cond.get("StringEquals", {}).get("iam:PassedToService") != "ec2.amazonaws.com":
                bad.append("%s: iam:PassRole not limited to ec2.amazonaws.com" % sid)
    return bad


def findings(policy, calls, impl):
    out = []
    granted = {a for st in policy["Statement"] for a in as_list(st["Action"])}
    for action, arn, ctx in sorted(set((a, r, json.dumps(c)) for a, r, c in calls)):
        ctx = json.loads(ctx)
        if action in NOT_GRANTED:
            continue
        bucket = arn.split(":::")[1].split("/")[0] if arn else "BUCKET"
        if not allows(bind(policy, bucket), action, arn, ctx):
            out.append("not allowed: %s %s %s" % (action, arn or "", ctx or ""))
    for a in sorted(granted):
        if a in IMPLIED:
            continue
        if a not in impl or a in NOT_GRANTED:
            out.append("grants %s, which envctl never calls" % a)
    return out + scoped(policy)


def check(policy_path, d, src):
    policy = json.load(open(policy_path, encoding="utf-8"))
    calls = controller_calls(requests(d))
    if not calls:
        print("iam_policy: no request of envctl's recorded under %s: skipped" % d)
        return SKIP
    found = findings(policy, calls, implemented(src))
    for f in found:
        print("FINDING " + f)
    acts = sorted({a for a, _, _ in calls})
    print("iam_policy: %d requests of the controller, %d actions (%s); %d findings" %
          (len(calls), len(acts), " ".join(acts), len(found)))
    return 1 if found else 0


def selftest(policy_path, src):
    """Mutations of the policy that each check must catch."""
    policy = json.load(open(policy_path, encoding="utf-8"))
    impl = implemented(src)
    calls = [("ec2:RunInstances", None, {}), ("ec2:TerminateInstances", None, {}),
             ("s3:PutObject", "arn:aws:s3:::b/envctl/e1/ssh/key", {}),
             ("s3:GetObject", "arn:aws:s3:::b/envctl/e1/marker", {}),
             ("s3:DeleteObject", "arn:aws:s3:::b/envctl/e1/ssh/key", {}),
             ("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "envctl/e1/"}),
             ("ssm:GetParameter", None, {})]
    if findings(policy, calls, impl):
        print("selftest FAIL: the shipped policy has findings: %s" % findings(policy, calls, impl))
        return 1

    def mutate(fn):
        p = copy.deepcopy(policy)
        fn(p)
        return p

    def stmt(p, sid):
        return next(s for s in p["Statement"] if s["Sid"] == sid)

    cases = [
        ("an object outside the prefix", policy,
         calls + [("s3:GetObject", "arn:aws:s3:::b/other/x", {})]),
        ("a list outside the prefix", policy,
         calls + [("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "other/"})]),
        ("a call the policy lacks", policy, calls + [("ec2:ModifyInstanceAttribute", None, {})]),
        ("DeleteObject dropped", mutate(lambda p: stmt(p, "ObjectsUnderThePrefix")["Action"]
                                        .remove("s3:DeleteObject")), calls),
        ("an action envctl never calls", mutate(lambda p: stmt(p, "ReadTheFleet")["Action"]
                                                .append("ec2:DescribeVpcs")), calls),
        ("terminate on every resource", mutate(lambda p: p["Statement"].append(
            {"Sid": "X", "Effect": "Allow", "Action": "ec2:TerminateInstances", "Resource": "*"})),
         calls),
        ("delete without the resource tag", mutate(lambda p: stmt(p, "ChangeOnlyOwn").pop("Condition")),
         calls),
        ("create without the request tag", mutate(lambda p: stmt(p, "CreateOnlyTagged").pop("Condition")),
         calls),
        ("not scoped to the cluster", mutate(lambda p: stmt(p, "ChangeOnlyOwn")["Condition"]
                                             ["StringEquals"].pop("aws:ResourceTag/envctl:cluster")),
         calls),
        ("PassRole to any service", mutate(lambda p: stmt(p, "PassInstanceRolesToEc2Only").pop("Condition")),
         calls),
        ("a wildcard action", mutate(lambda p: stmt(p, "ReadTheFleet")["Action"].append("ec2:*")), calls),
        ("the whole bucket", mutate(lambda p: stmt(p, "ObjectsUnderThePrefix").update(
            {"Resource": "arn:aws:s3:::BUCKET/*"})), calls),
        ("every SSM parameter", mutate(lambda p: stmt(p, "SecretParametersUnderThePrefix").update(
            {"Resource": "arn:aws:ssm:*:*:parameter/*"})), calls),
        ("GetParameter dropped", mutate(lambda p: p["Statement"].remove(
            stmt(p, "SecretParametersUnderThePrefix"))), calls),
    ]
    for what, p, c in cases:
        if not findings(p, c, impl):
            print("selftest FAIL: %s went unnoticed" % what)
            return 1
    print("iam_policy selftest: the shipped policy passes; %d mutations each caught" % len(cases))
    return 0


def main():
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "check":
        return check(a[1], a[2], a[3])
    if len(a) == 3 and a[0] == "selftest":
        return selftest(a[1], a[2])
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main())
