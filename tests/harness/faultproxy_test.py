#!/usr/bin/env python3
"""faultproxy_test.py - checks of the fault proxy itself, run under
with-aws.sh.  Raw HTTP (no SDK, no retries), so every answer the proxy
gives is seen as it is.  Exit 0 when every check passed."""

import http.client
import json
import os
import sys
import time
import urllib.parse

PROXY = urllib.parse.urlsplit(os.environ["ENVCTL_PROXY_URL"])
CHECKS = 0


def check(cond, what):
    global CHECKS
    CHECKS += 1
    if not cond:
        raise AssertionError(what)


def auth(service):
    return ("AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/%s/aws4_request, "
            "SignedHeaders=host, Signature=00" % service)


def request(method, path, body=b"", headers=None):
    c = http.client.HTTPConnection(PROXY.hostname, PROXY.port, timeout=30)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    except (http.client.RemoteDisconnected, ConnectionResetError):
        return None, b""
    finally:
        c.close()


def control(path, doc=None):
    st, body = request("GET" if doc is None else "POST", "/__proxy/" + path,
                       b"" if doc is None else json.dumps(doc).encode())
    check(st == 200, "control %s: %s" % (path, st))
    return json.loads(body)


def reset(doc):
    """Reset, and strict mode off: these are the checks of the plain proxy
    (strict_test.py has strict mode's), whatever ENVCTL_STRICT says."""
    control("reset", doc)
    control("config", {"strict": False})


def ec2(action, **params):
    params.update({"Action": action, "Version": "2016-11-15"})
    return request("POST", "/", urllib.parse.urlencode(params).encode(), {
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "Authorization": auth("ec2")})


def log(action=None):
    return control("log" + ("" if action is None else "?action=" + action))["entries"]


def test_nth_times_and_bodies():
    reset({})
    control("config", {"faults": [
        {"action": "DescribeKeyPairs", "nth": 2, "status": 500, "code": "InternalError"},
        {"action": "DescribeVpcs", "every": True, "times": 2, "status": 400,
         "code": "UnauthorizedOperation", "message": "no"}]})
    codes = [ec2("DescribeKeyPairs")[0] for _ in range(3)]
    check(codes == [200, 500, 200], "nth=2 only: %r" % codes)
    st, body = ec2("DescribeVpcs")
    check(st == 400 and b"<Code>UnauthorizedOperation</Code>" in body and
          b"<Response><Errors><Error>" in body, "EC2 error body %r" % body)
    codes = [ec2("DescribeVpcs")[0] for _ in range(2)]
    check(codes == [400, 200], "times=2: %r" % codes)
    entries = log("DescribeVpcs")
    check([e["forwarded"] for e in entries] == [False, False, True], "forwarded flags")


def test_fault_params_match():
    """A fault with "params" fires only for requests whose form params
    match (globs): one pool of RunInstances out of capacity, not the others."""
    reset({})
    control("config", {"faults": [{"action": "DescribeInstanceTypes", "every": True,
                                   "params": {"InstanceType.1": "m5.*"},
                                   "status": 500, "code": "InsufficientInstanceCapacity"}]})
    st, body = ec2("DescribeInstanceTypes", **{"InstanceType.1": "m5.large"})
    check(st == 500 and b"InsufficientInstanceCapacity" in body, "m5.large: %s" % st)
    st, _ = ec2("DescribeInstanceTypes", **{"InstanceType.1": "t3.micro"})
    check(st == 200, "t3.micro: not matched (%s)" % st)
    st, _ = ec2("DescribeInstanceTypes")
    check(st == 200, "param absent: not matched (%s)" % st)


def test_probability_is_seeded():
    def run():
        reset({"moto": False})
        control("config", {"seed": 7, "faults": [
            {"action": "DescribeRegions", "probability": 0.5, "status": 503,
             "code": "Unavailable"}]})
        return [ec2("DescribeRegions")[0] for _ in range(12)]
    a, b = run(), run()
    check(a == b, "same seed, same faults: %r %r" % (a, b))
    check(503 in a and 200 in a, "p=0.5 gives both: %r" % a)


def test_rate_limit_and_scale():
    reset({"moto": False})
    control("config", {"rate_limits": {"Describe*": {"burst": 3, "rate": 0}}})
    codes = [ec2("DescribeKeyPairs" if i % 2 else "DescribeRegions")[0]
             for i in range(5)]
    check(codes == [200, 200, 200, 503, 503], "shared class bucket: %r" % codes)
    st, body = ec2("DescribeRegions")
    check(b"<Code>RequestLimitExceeded</Code>" in body, "throttle body %r" % body)
    check(ec2("CreateKeyPair", KeyName="k1")[0] == 200, "other actions unlimited")
    # Refill 2/s scaled by 5 = 10/s: after 0.35 s about 3 tokens are back.
    control("config", {"rate_limits": {"DescribeRegions": {"burst": 1, "rate": 2}},
                       "rate_scale": 5})
    check(ec2("DescribeRegions")[0] == 200, "fresh bucket")
    check(ec2("DescribeRegions")[0] == 503, "empty bucket")
    time.sleep(0.35)
    check(ec2("DescribeRegions")[0] == 200, "scaled refill")


def test_latency_and_drops():
    reset({"moto": False})
    control("config", {"latency": {"DescribeRegions": 0.3},
                       "faults": [{"action": "DescribeAvailabilityZones", "nth": 1,
                                   "drop": "before"}]})
    t = time.monotonic()
    check(ec2("DescribeRegions")[0] == 200, "slow call answers")
    check(time.monotonic() - t >= 0.3, "latency applied")
    st, _ = ec2("DescribeAvailabilityZones")
    check(st is None, "connection dropped, no answer")
    check(ec2("DescribeAvailabilityZones")[0] == 200, "next call goes through")
    e = log("DescribeAvailabilityZones")
    check(e[0]["fault"] == "drop-before" and not e[0]["forwarded"], "logged drop")


def test_s3_names_and_errors():
    reset({})
    h = {"Authorization": auth("s3")}
    check(request("PUT", "/pbucket", b"", h)[0] == 200, "create bucket")
    check(request("PUT", "/pbucket/a/b.txt", b"hello",
                  dict(h, **{"Content-Type": "application/octet-stream"}))[0] == 200, "put")
    control("config", {"faults": [{"action": "GetObject", "nth": 1, "status": 503,
                                   "code": "SlowDown"}]})
    st, body = request("GET", "/pbucket/a/b.txt", b"", h)
    check(st == 503 and body.startswith(b"<?xml") and b"<Error><Code>SlowDown</Code>" in body,
          "S3 error body %r" % body)
    st, body = request("GET", "/pbucket/a/b.txt", b"", h)
    check(st == 200 and body == b"hello", "get")
    request("HEAD", "/pbucket/a/b.txt", b"", h)
    request("GET", "/pbucket?list-type=2&prefix=a%2F", b"", h)
    request("DELETE", "/pbucket/a/b.txt", b"", h)
    names = [e["action"] for e in log()]
    check(names == ["CreateBucket", "PutObject", "GetObject", "GetObject", "HeadObject",
                    "ListObjectsV2", "DeleteObject"], "S3 action names %r" % names)


def xml_texts(body, tag):
    """Every text of elements named tag (any namespace) in an XML answer."""
    import xml.etree.ElementTree as ET
    return [el.text for el in ET.fromstring(body).iter() if el.tag.split("}")[-1] == tag]


def test_public_ips_and_console_output():
    import base64
    reset({})
    st, body = ec2("DescribeImages")
    check(st == 200, "describe images")
    image = xml_texts(body, "imageId")[0]
    control("config", {"public_ips": {"*": "127.0.0.1"},
                       "console_output": {"*": "ssh-ed25519 SHA256:AAA host key\n"}})
    st, body = ec2("RunInstances", ImageId=image, MinCount="2", MaxCount="2",
                   InstanceType="t3.micro")
    check(st == 200, "run instances %s" % st)
    ids = xml_texts(body, "instanceId")
    check(len(ids) == 2, "two instances %r" % ids)
    check(xml_texts(body, "ipAddress") == ["127.0.0.1", "127.0.0.1"],
          "RunInstances answer rewritten %r" % xml_texts(body, "ipAddress"))
    # One instance named: it wins over "*".
    control("config", {"public_ips": {"*": "127.0.0.1", ids[1]: "127.0.0.2"}})
    st, body = ec2("DescribeInstances")
    got = dict(zip(xml_texts(body, "instanceId"), xml_texts(body, "ipAddress")))
    check(st == 200 and got.get(ids[0]) == "127.0.0.1" and got.get(ids[1]) == "127.0.0.2",
          "DescribeInstances public IPs rewritten %r" % got)
    # Only named instances when there is no "*".
    control("config", {"public_ips": {ids[1]: "127.0.0.3"}})
    st, body = ec2("DescribeInstances")
    got = dict(zip(xml_texts(body, "instanceId"), xml_texts(body, "ipAddress")))
    check(got.get(ids[1]) == "127.0.0.3" and got.get(ids[0]) != "127.0.0.1",
          "only the named instance rewritten %r" % got)

    st, body = ec2("GetConsoleOutput", InstanceId=ids[0])
    out = xml_texts(body, "output")
    check(st == 200 and out and base64.b64decode(out[0]) == b"ssh-ed25519 SHA256:AAA host key\n"
          and xml_texts(body, "instanceId") == [ids[0]], "console output for all %r" % body)
    control("config", {"console_output": {ids[1]: "other"}})
    st, body = ec2("GetConsoleOutput", InstanceId=ids[1])
    check(base64.b64decode(xml_texts(body, "output")[0]) == b"other", "console output per instance")
    st, body = ec2("GetConsoleOutput", InstanceId=ids[0])
    out = xml_texts(body, "output")
    check(st == 200 and (not out or not out[0] or base64.b64decode(out[0]) != b"other"),
          "an instance not named goes to moto")
    e = log("GetConsoleOutput")
    check([x["forwarded"] for x in e] == [False, False, True] and
          e[0]["fault"] == "console-output", "console answers logged %r" % e)


def test_os_shutdown():
    """strict os_shutdown: the named instance shut down from inside (EC2's
    stateReason), the other one untouched."""
    reset({})
    st, body = ec2("DescribeImages")
    image = xml_texts(body, "imageId")[0]
    st, body = ec2("RunInstances", ImageId=image, MinCount="2", MaxCount="2",
                   InstanceType="t3.micro")
    ids = xml_texts(body, "instanceId")
    check(st == 200 and len(ids) == 2, "run instances %s" % st)
    control("config", {"strict": {"os_shutdown": [ids[0]], "invisible": {},
                                  "reachability": False,
                                  "subnet_public_ip": False}})
    st, body = ec2("DescribeInstances", **{"InstanceId.1": ids[0],
                                           "InstanceId.2": ids[1]})
    check(st == 200, "describe %s" % st)
    got = dict(zip(xml_texts(body, "instanceId"), xml_texts(body, "name")))
    check(got.get(ids[0]) in ("shutting-down", "terminated") and
          got.get(ids[1]) == "running", "states %r" % got)
    codes = xml_texts(body, "code")
    check("Client.InstanceInitiatedShutdown" in codes and
          b"Client.InstanceInitiatedShutdown: Instance initiated shutdown" in body,
          "stateReason of a shutdown from inside %r" % body)
    check(body.count(b"Client.InstanceInitiatedShutdown:") == 1,
          "only the named instance's reason rewritten")
    # a user's terminate keeps moto's reason
    check(ec2("TerminateInstances", **{"InstanceId.1": ids[1]})[0] == 200, "terminate")
    st, body = ec2("DescribeInstances", **{"InstanceId.1": ids[1]})
    check(b"Client.InstanceInitiatedShutdown" not in body and
          b"Client.UserInitiatedShutdown" in body, "user terminate %r" % body)
    check([e["action"] for e in log()].count("TerminateInstances") == 1,
          "the proxy's own terminate is not logged")


def test_s3_max_keys():
    """strict s3_max_keys: ListObjectsV2 pages of at most the cap, by the
    request's prefix; the continuation tokens lead through every key once."""
    reset({})
    h = {"Authorization": auth("s3")}
    check(request("PUT", "/mkbucket", b"", h)[0] == 200, "create bucket")
    keys = ["m/a", "m/b", "m/c", "n/a", "n/b"]
    for k in keys:
        check(request("PUT", "/mkbucket/" + k, b"x",
                      dict(h, **{"Content-Type": "application/octet-stream"}))[0] == 200,
              "put " + k)

    def pages(prefix, max_keys=None):
        out, token = [], None
        for _ in range(10):
            q = {"list-type": "2", "prefix": prefix}
            if max_keys is not None:
                q["max-keys"] = str(max_keys)
            if token is not None:
                q["continuation-token"] = token
            st, body = request("GET", "/mkbucket?" + urllib.parse.urlencode(sorted(q.items())),
                               b"", h)
            check(st == 200, "list %s: %s %r" % (prefix, st, body))
            out.append(xml_texts(body, "Key"))
            trunc = xml_texts(body, "IsTruncated") == ["true"]
            token = (xml_texts(body, "NextContinuationToken") or [None])[0]
            check(trunc == (token is not None), "IsTruncated with a token %r" % body)
            if token is None:
                return out
        return out

    control("config", {"strict": {"s3_max_keys": {"m/*": 1}}})
    control("log/clear", {})
    check(pages("m/", 1000) == [["m/a"], ["m/b"], ["m/c"]], "m/: pages of 1")
    e = log("ListObjectsV2")
    check(len(e) == 3 and all(x["fault"] == "strict-max-keys" and
                              x["params"].get("max-keys") == "1000" for x in e) and
          "continuation-token" in e[1]["params"], "logged as sent, marked %r" % e)
    check(pages("m/") == [["m/a"], ["m/b"], ["m/c"]], "no max-keys: 1000 asked, capped")
    check(pages("n/") == [["n/a", "n/b"]], "another prefix: one page")
    control("config", {"strict": {"s3_max_keys": 2}})
    check(pages("m/") == [["m/a", "m/b"], ["m/c"]], "a number: every listing, pages of 2")
    check(pages("m/", 1) == [["m/a"], ["m/b"], ["m/c"]], "asked below the cap: as asked")
    check(log("ListObjectsV2")[-1]["fault"] is None, "asked below the cap: not marked")
    control("config", {"strict": {"s3_max_keys": 0}})
    check(pages("m/") == [["m/a", "m/b", "m/c"]], "0: off")


def test_reset_clears_moto():
    reset({})
    check(ec2("CreateKeyPair", KeyName="gone-after-reset")[0] == 200, "create")
    reset({})
    st, body = ec2("DescribeKeyPairs")
    check(st == 200 and b"gone-after-reset" not in body, "moto reset")
    # (entries are compared by action: an entry's duration is filled in
    # just after its answer is written, so two reads may differ there)
    check([e["action"] for e in log()] == ["DescribeKeyPairs"], "log reset")


def main():
    t = time.time()
    for name, fn in sorted(globals().items()):
        if name.startswith("test_") and callable(fn):
            try:
                fn()
            except AssertionError as e:
                print("FAIL faultproxy %s: %s" % (name, e), file=sys.stderr)
                return 1
    print("ok faultproxy: %d checks in %.1f s" % (CHECKS, time.time() - t))
    return 0


if __name__ == "__main__":
    sys.exit(main())
