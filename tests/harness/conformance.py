#!/usr/bin/env python3
"""conformance.py - every EC2 and STS request envctl sent, checked against
AWS's own API models (botocore's service models, installed with the aws
CLI and boto3).

The fault proxy records each request it forwards (faultproxy.py --record,
turned on for every integration test by ctest through
ENVCTL_PROXY_RECORD_DIR).  After the suite, this decodes each of envctl's
requests (User-Agent envctl/... from the binary, envctl-it/... from test
programs linking lib/aws) from its query form into the operation's
input shape, the way the service does, and checks:

  * the action exists in the service model and the Version is the model's;
  * no parameter the shape does not have (an unknown or misspelt name);
  * types: integers, booleans (true/false), timestamps (ISO 8601),
    doubles, base64 blobs;
  * enums, required members, min/max lengths and ranges, patterns;
  * lists numbered 1..N without gaps.

Usage:
  conformance.py check DIR      every record under DIR; exit 0 when all
                                conform, 1 when any does not, 77 when no
                                request of envctl's was recorded
  conformance.py selftest       the checker against requests that must
                                fail (and some that must pass)

Python 3 standard library and botocore only.
"""

import base64
import glob
import json
import os
import re
import sys
from collections import Counter

import botocore.session

SKIP = 77
ISO8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")
REDACTED = re.compile(r"^<redacted:\d+>$")

_MODELS = {}


def model(service):
    if service not in _MODELS:
        _MODELS[service] = botocore.session.get_session().get_service_model(service)
    return _MODELS[service]


def ser_name(shape, default, protocol):
    """The name a member goes by on the wire (botocore serialize.py)."""
    s = shape.serialization
    if protocol == "ec2":
        if "queryName" in s:
            return s["queryName"]
        if "name" in s:
            return s["name"][0].upper() + s["name"][1:]
        return default
    return s.get("name", default)


class Checker:
    def __init__(self, protocol):
        self.protocol = protocol
        self.problems = []

    def bad(self, key, what):
        self.problems.append("%s: %s" % (key, what))

    # Each decode consumes the keys of params it accounts for.

    def structure(self, shape, prefix, params, used):
        present = set()
        for name, member in shape.members.items():
            wire = ser_name(member, name, self.protocol)
            key = "%s.%s" % (prefix, wire) if prefix else wire
            if self.value(member, key, params, used):
                present.add(name)
        for name in shape.required_members:
            if name not in present:
                self.bad(prefix or "(request)", "required member %s missing" % name)
        return bool(present)

    def value(self, shape, key, params, used):
        """Decode shape at key; whether anything was there."""
        t = shape.type_name
        if t == "structure":
            if not any(k.startswith(key + ".") for k in params):
                return False
            return self.structure(shape, key, params, used)
        if t == "list":
            return self.list(shape, key, params, used)
        if t == "map":
            return self.map(shape, key, params, used)
        if key not in params:
            return False
        used.add(key)
        self.scalar(shape, key, params[key])
        return True

    def list(self, shape, key, params, used):
        if key in params and params[key] == "":
            used.add(key)            # an empty list, as the query protocol sends it
            return True
        if self.protocol == "ec2":
            base = key
        elif shape.serialization.get("flattened"):
            base = key
            if shape.member.serialization.get("name"):
                base = ".".join(key.split(".")[:-1] + [ser_name(shape.member, "", self.protocol)])
        else:
            base = "%s.%s" % (key, shape.member.serialization.get("name", "member"))
        idx = set()
        pat = re.compile(re.escape(base) + r"\.(\d+)(\.|$)")
        for k in params:
            m = pat.match(k)
            if m:
                idx.add(int(m.group(1)))
        if not idx:
            return False
        if sorted(idx) != list(range(1, len(idx) + 1)):
            self.bad(key, "list items numbered %s, not 1..%d" % (sorted(idx), len(idx)))
        for i in sorted(idx):
            if not self.value(shape.member, "%s.%d" % (base, i), params, used):
                self.bad("%s.%d" % (base, i), "an empty list item")
        n = len(idx)
        if "min" in shape.metadata and n < shape.metadata["min"]:
            self.bad(key, "%d items, fewer than %d" % (n, shape.metadata["min"]))
        if "max" in shape.metadata and n > shape.metadata["max"]:
            self.bad(key, "%d items, more than %d" % (n, shape.metadata["max"]))
        return True

    def map(self, shape, key, params, used):
        base = key if shape.serialization.get("flattened") else key + ".entry"
        idx = set()
        pat = re.compile(re.escape(base) + r"\.(\d+)\.")
        for k in params:
            m = pat.match(k)
            if m:
                idx.add(int(m.group(1)))
        for i in sorted(idx):
            for sub, default in ((shape.key, "key"), (shape.value, "value")):
                self.value(sub, "%s.%d.%s" % (base, i, ser_name(sub, default, self.protocol)),
                           params, used)
        return bool(idx)

    def scalar(self, shape, key, v):
        t = shape.type_name
        md = shape.metadata
        if t == "string":
            if REDACTED.match(v):
                return
            if shape.enum and v not in shape.enum:
                self.bad(key, "%r is not one of the enum %s" % (v, shape.name))
            if "min" in md and len(v) < md["min"]:
                self.bad(key, "%d characters, fewer than %d" % (len(v), md["min"]))
            if "max" in md and len(v) > md["max"]:
                self.bad(key, "%d characters, more than %d" % (len(v), md["max"]))
            if "pattern" in md and not re.fullmatch(md["pattern"], v):
                self.bad(key, "%r does not match the pattern %s" % (v, md["pattern"]))
        elif t in ("integer", "long"):
            if not re.fullmatch(r"-?\d+", v):
                self.bad(key, "%r is not an integer" % v)
                return
            n = int(v)
            if "min" in md and n < md["min"]:
                self.bad(key, "%d is below the minimum %d" % (n, md["min"]))
            if "max" in md and n > md["max"]:
                self.bad(key, "%d is above the maximum %d" % (n, md["max"]))
        elif t == "boolean":
            if v not in ("true", "false"):
                self.bad(key, "%r is not true or false" % v)
        elif t in ("double", "float"):
            try:
                float(v)
            except ValueError:
                self.bad(key, "%r is not a number" % v)
        elif t == "timestamp":
            if not ISO8601.match(v):
                self.bad(key, "%r is not an ISO 8601 timestamp" % v)
        elif t == "blob":
            if REDACTED.match(v):
                return
            try:
                base64.b64decode(v, validate=True)
            except ValueError:
                self.bad(key, "not base64")


def check_request(service, params):
    """The problems of one query-protocol request ([] when it conforms)."""
    m = model(service)
    pairs = params
    keys = [k for k, _ in pairs]
    dup = [k for k, n in Counter(keys).items() if n > 1]
    params = dict(pairs)
    problems = ["%s: sent %d times" % (k, keys.count(k)) for k in dup]
    action = params.get("Action")
    if action not in m.operation_names:
        return problems + ["Action %r is not an operation of %s" % (action, service)]
    if params.get("Version") != m.api_version:
        problems.append("Version %r, the model's is %s" % (params.get("Version"), m.api_version))
    op = m.operation_model(action)
    c = Checker(m.metadata["protocol"])
    used = {"Action", "Version"}
    if op.input_shape is not None:
        c.structure(op.input_shape, "", params, used)
    for k in params:
        if k not in used:
            c.bad(k, "no such parameter in %s's input shape" % action)
    return problems + c.problems


def envctl_requests(d):
    for path in sorted(glob.glob(os.path.join(d, "*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                r = json.loads(line)
                if r["ua"].startswith("envctl") and r["service"] in ("ec2", "sts"):
                    yield path, r


def check(d):
    n, actions, failures = 0, Counter(), []
    for path, r in envctl_requests(d):
        n += 1
        actions[(r["service"], r["action"])] += 1
        for p in check_request(r["service"], [tuple(x) for x in r["params"]]):
            failures.append("%s %s: %s" % (r["service"], r["action"], p))
    if n == 0:
        print("conformance: no EC2 or STS request of envctl's recorded under %s: skipped" % d)
        return SKIP
    for (svc, a), k in sorted(actions.items()):
        print("  %-4s %-32s %6d" % (svc, a, k))
    uniq = Counter(failures)
    for f, k in uniq.most_common():
        print("NONCONFORMING (%dx) %s" % (k, f))
    print("conformance: %d requests, %d distinct actions checked against botocore %s's "
          "models; %d nonconforming" % (n, len(actions), botocore.__version__, len(failures)))
    return 1 if failures else 0


def selftest():
    """The checker must fail what AWS would refuse, and pass what it takes."""
    ok = 0
    v = model("ec2").api_version
    base = [("Action", "RunInstances"), ("Version", v), ("ImageId", "ami-12345678"),
            ("MinCount", "1"), ("MaxCount", "1"), ("InstanceType", "t3.micro")]
    cases = [
        ("a well-formed RunInstances", base, True),
        ("TagSpecification lists", base + [
            ("TagSpecification.1.ResourceType", "instance"),
            ("TagSpecification.1.Tag.1.Key", "envctl:managed"),
            ("TagSpecification.1.Tag.1.Value", "true")], True),
        ("a redacted UserData blob", base + [("UserData", "<redacted:120>")], True),
        ("an unknown parameter", base + [("InstanceTypo", "t3.micro")], False),
        ("a value outside the enum", base[:-1] + [("InstanceType", "t3.gigantic")], False),
        ("a required member missing", base[:3] + base[4:], False),
        ("an integer that is not", base[:3] + [("MinCount", "one")] + base[4:], False),
        ("a boolean that is not", base + [("EbsOptimized", "yes")], False),
        ("a list with a gap", base + [("SecurityGroupId.1", "sg-1"),
                                      ("SecurityGroupId.3", "sg-3")], False),
        ("a query-style .member list on EC2", base + [("SecurityGroupId.member.1", "sg-1")], False),
        ("a parameter sent twice", base + [("ImageId", "ami-87654321")], False),
        ("the wrong Version", [("Action", "RunInstances"), ("Version", "2014-10-01")] + base[2:],
         False),
        ("no such action", [("Action", "LaunchInstances"), ("Version", v)], False),
        ("DescribeInstances filters", [("Action", "DescribeInstances"), ("Version", v),
                                       ("Filter.1.Name", "tag:envctl:cluster"),
                                       ("Filter.1.Value.1", "c1"), ("MaxResults", "1000")], True),
        ("MaxResults above the range", [("Action", "DescribeInstances"), ("Version", v),
                                        ("MaxResults", "100000")], True),
        ("STS AssumeRole", [("Action", "AssumeRole"), ("Version", model("sts").api_version),
                            ("RoleArn", "arn:aws:iam::123456789012:role/envctl"),
                            ("RoleSessionName", "envctl"), ("DurationSeconds", "3600")], True),
        ("STS AssumeRole with a short duration", [
            ("Action", "AssumeRole"), ("Version", model("sts").api_version),
            ("RoleArn", "arn:aws:iam::123456789012:role/envctl"),
            ("RoleSessionName", "envctl"), ("DurationSeconds", "60")], False),
        ("STS AssumeRole with a bad session name", [
            ("Action", "AssumeRole"), ("Version", model("sts").api_version),
            ("RoleArn", "arn:aws:iam::123456789012:role/envctl"),
            ("RoleSessionName", "env ctl")], False),
    ]
    for what, params, want in cases:
        svc = "sts" if params[0][1] == "AssumeRole" else "ec2"
        got = check_request(svc, params)
        # DescribeInstances' MaxResults has no max in the model: it passes.
        if (not got) != want:
            print("selftest FAIL: %s: %s" % (what, got or "passed"))
            return 1
        ok += 1
    print("conformance selftest: %d cases as expected" % ok)
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "check":
        return check(sys.argv[2])
    if len(sys.argv) == 2 and sys.argv[1] == "selftest":
        return selftest()
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main())
