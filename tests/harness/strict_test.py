#!/usr/bin/env python3
"""strict_test.py - checks of the fault proxy's strict mode, run under
with-aws.sh (strict or not: every check sets the mode it needs).

Each behaviour is checked twice: on (strict mode with only that behaviour
switched on, so each knob is shown to work alone) and off ({"strict":
false}, moto's answer).  EC2 calls are raw HTTP as in faultproxy_test.py
(the proxy and moto do not check signatures); S3 presigned URLs come from
boto3 so their query is what an SDK signs.  Exit 0 when every check passed."""

import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import xml.etree.ElementTree as ET

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itlib import free_port  # noqa: E402

PROXY_URL = os.environ["ENVCTL_PROXY_URL"]
PROXY = urllib.parse.urlsplit(PROXY_URL)
MOTO_URL = os.environ["ENVCTL_MOTO_URL"]
CHECKS = 0

# Every behaviour off: a check switches on the one it is about.
QUIET = {"enabled": True, "bucket_region": False, "bucket_regions": {},
         "architecture": False, "architectures": {}, "type_offerings": {},
         "refuse_key_types": [], "invisible": {}, "sg_dependency": False,
         "status_initializing_seconds": 0, "console_seconds": 0,
         "console_buffered": True, "credential_expiry": {}, "presign_expiry": False,
         "reachability": False, "subnet_public_ip": False,
         "spot_placement_scores": {}, "spot_placement_default": 5,
         "spot_prices": {}}


def check(cond, what):
    global CHECKS
    CHECKS += 1
    if not cond:
        raise AssertionError(what)


def auth(service, region="us-east-1", akid="AKIDTEST"):
    return ("AWS4-HMAC-SHA256 Credential=%s/20260101/%s/%s/aws4_request, "
            "SignedHeaders=host, Signature=00" % (akid, region, service))


def request(method, path, body=b"", headers=None, url=None):
    u = urllib.parse.urlsplit(url) if url else PROXY
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        c.close()


def control(path, doc=None):
    st, _, body = request("GET" if doc is None else "POST", "/__proxy/" + path,
                          b"" if doc is None else json.dumps(doc).encode())
    check(st == 200, "control %s: %s" % (path, st))
    return json.loads(body)


def strict(**knobs):
    """Strict mode on with only the given behaviours."""
    control("config", {"strict": dict(QUIET, **knobs)})


def strict_off():
    control("config", {"strict": False})


def ec2(action, **params):
    params.update({"Action": action, "Version": "2016-11-15"})
    st, _, body = request("POST", "/", urllib.parse.urlencode(params).encode(), {
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "Authorization": auth("ec2")})
    return st, body


def texts(body, tag):
    """Every text of elements named tag (any namespace) in an XML answer."""
    return [el.text for el in ET.fromstring(body).iter() if el.tag.split("}")[-1] == tag]


def code_of(body):
    c = texts(body, "Code")
    return c[0] if c else None


def ok(res, what):
    st, body = res
    check(st == 200, "%s: %s %s" % (what, st, body[:300]))
    return body


def refused(res, status, code, what):
    st, body = res
    check(st == status and code_of(body) == code, "%s: want %s %s, got %s %s" %
          (what, status, code, st, body[:300]))
    return texts(body, "Message")[0]


IMAGES = {}


def image(arch):
    """An image of moto's with that architecture (moto's images survive a reset)."""
    if arch not in IMAGES:
        IMAGES[arch] = image_of(arch)
    return IMAGES[arch]


def image_of(arch):
    body = ok(ec2("DescribeImages", **{"Filter.1.Name": "architecture",
                                       "Filter.1.Value.1": arch}), "images " + arch)
    ids = texts(body, "imageId")
    check(ids, "moto has an %s image" % arch)
    return ids[0]


def run(**params):
    p = {"ImageId": image("x86_64"), "MinCount": "1", "MaxCount": "1",
         "InstanceType": "t3.micro"}
    p.update(params)
    return ec2("RunInstances", **p)


def run_id(**params):
    return texts(ok(run(**params), "run instances"), "instanceId")[0]


def subnet_in(az):
    body = ok(ec2("DescribeSubnets", **{"Filter.1.Name": "availability-zone",
                                        "Filter.1.Value.1": az}), "subnets in " + az)
    return texts(body, "subnetId")[0]


def s3_client(region, **kw):
    return boto3.client("s3", endpoint_url=PROXY_URL, region_name=region,
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}), **kw)


def s3_get(url):
    u = urllib.parse.urlsplit(url)
    return request("GET", u.path + "?" + u.query)


# ---- the checks ----------------------------------------------------------

def test_bucket_region():
    control("reset", {})
    strict(bucket_region=True)
    loc = (b'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
           b"<LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>")
    st, _, body = request("PUT", "/eu-bkt", loc, {"Authorization": auth("s3", "eu-west-1")})
    check(st == 200, "create bucket in eu-west-1: %s %s" % (st, body))
    st, _, _ = request("PUT", "/eu-bkt/k", b"data", {
        "Authorization": auth("s3", "eu-west-1"), "Content-Type": "application/octet-stream"})
    check(st == 200, "put signed for the bucket's region")
    st, hdr, body = request("GET", "/eu-bkt/k", b"", {"Authorization": auth("s3", "us-east-1")})
    check(st == 301 and hdr.get("x-amz-bucket-region") == "eu-west-1" and
          code_of(body) == "PermanentRedirect" and
          texts(body, "Endpoint") == ["eu-bkt.s3.eu-west-1.amazonaws.com"] and
          texts(body, "Bucket") == ["eu-bkt"] and
          texts(body, "Message")[0].startswith("The bucket you are attempting to access must be"),
          "signed for us-east-1: 301 PermanentRedirect %s %s %s" % (st, hdr, body))
    st, hdr, body = request("HEAD", "/eu-bkt/k", b"", {"Authorization": auth("s3")})
    check(st == 301 and hdr.get("x-amz-bucket-region") == "eu-west-1" and body == b"",
          "HEAD: 301 with the header, no body (%s %s)" % (st, hdr))
    st, hdr, body = request("GET", "/eu-bkt/k", b"", {
        "Authorization": auth("s3", "eu-west-1"), "Host": "s3.us-west-2.amazonaws.com"})
    check(st == 301 and hdr.get("x-amz-bucket-region") == "eu-west-1",
          "sent to another region's endpoint: 301 (%s)" % st)
    st, _, body = request("GET", "/eu-bkt/k", b"", {"Authorization": auth("s3", "eu-west-1")})
    check(st == 200 and body == b"data", "the right region goes through (%s)" % st)
    # Presigned URLs: the region is X-Amz-Credential's.
    url = s3_client("us-east-1").generate_presigned_url(
        "get_object", Params={"Bucket": "eu-bkt", "Key": "k"}, ExpiresIn=300)
    st, hdr, body = s3_get(url)
    check(st == 301 and hdr.get("x-amz-bucket-region") == "eu-west-1" and
          code_of(body) == "PermanentRedirect", "presigned for us-east-1: 301 (%s)" % st)
    url = s3_client("eu-west-1").generate_presigned_url(
        "get_object", Params={"Bucket": "eu-bkt", "Key": "k"}, ExpiresIn=300)
    check(s3_get(url)[0] == 200, "presigned for eu-west-1 works")
    # A bucket made straight in moto: its region is asked of moto.
    st, _, _ = request("PUT", "/direct-bkt", loc.replace(b"eu-west-1", b"ap-south-1"),
                       {"Authorization": auth("s3", "ap-south-1")}, url=MOTO_URL)
    check(st == 200, "bucket made in moto directly")
    st, hdr, _ = request("GET", "/direct-bkt?list-type=2", b"", {"Authorization": auth("s3")})
    check(st == 301 and hdr.get("x-amz-bucket-region") == "ap-south-1",
          "region asked of moto: 301 (%s %s)" % (st, hdr))
    # bucket_regions names a bucket's region outright.
    strict(bucket_region=True, bucket_regions={"eu-bkt": "us-east-1"})
    st, hdr, _ = request("GET", "/eu-bkt/k", b"", {"Authorization": auth("s3", "eu-west-1")})
    check(st == 301 and hdr.get("x-amz-bucket-region") == "us-east-1",
          "bucket_regions wins (%s %s)" % (st, hdr))
    check(log_faults("GetObject")[-1] == "strict-redirect", "logged as strict-redirect")
    strict_off()
    st, _, body = request("GET", "/eu-bkt/k", b"", {"Authorization": auth("s3", "us-east-1")})
    check(st == 200 and body == b"data", "off: moto answers whatever the region (%s)" % st)


def log_faults(action):
    return [e["fault"] for e in control("log?action=" + action)["entries"]]


def test_architecture():
    control("reset", {})
    arm, x86 = image("arm64"), image("x86_64")
    strict(architecture=True)
    msg = refused(run(ImageId=arm, InstanceType="t3.micro"), 400, "InvalidParameterValue",
                  "arm64 image on t3.micro")
    check(msg.startswith("The architecture 'x86_64' of the specified instance type does not "
                         "match the architecture 'arm64' of the specified AMI."), msg)
    msg = refused(run(ImageId=x86, InstanceType="m7g.large"), 400, "InvalidParameterValue",
                  "x86_64 image on m7g.large")
    check("'arm64' of the specified instance type" in msg, msg)
    for itype in ("t4g.micro", "c6gn.large", "a1.medium", "im4gn.large"):
        ok(run(ImageId=arm, InstanceType=itype), "arm64 image on " + itype)
    ok(run(ImageId=x86, InstanceType="c7i-flex.large"), "x86_64 image on c7i-flex.large")
    check(not any(f for f in log_faults("RunInstances") if f and f != "strict-architecture"),
          "log")
    # The table can be overridden by type or family.
    strict(architecture=True, architectures={"t3": ["arm64"]})
    ok(run(ImageId=arm, InstanceType="t3.micro"), "override: t3 runs arm64")
    strict_off()
    ok(run(ImageId=arm, InstanceType="t3.micro"), "off: moto runs any image on any type")


def test_spot_placement_scores():
    control("reset", {})
    strict(spot_placement_scores={"m5.large": {"use1-az1": 9, "use1-az6": 2},
                                  "c5.large": {"use1-az6": 7}},
           spot_placement_default=1)
    base = {"TargetCapacity": "1", "SingleAvailabilityZone": "true",
            "RegionName.1": "us-east-1"}
    body = ok(ec2("GetSpotPlacementScores", **dict(base, **{"InstanceType.1": "m5.large"})),
              "scores of m5.large")
    root = ET.fromstring(body)
    check(root.tag.endswith("GetSpotPlacementScoresResponse"), root.tag)
    got = {}
    for it in root.iter():
        if it.tag.split("}")[-1] == "item":
            kv = {c.tag.split("}")[-1]: c.text for c in it}
            got[kv["availabilityZoneId"]] = (kv["region"], int(kv["score"]))
    check(got.get("use1-az1") == ("us-east-1", 9) and got.get("use1-az6") == ("us-east-1", 2)
          and got.get("use1-az2") == ("us-east-1", 1) and len(got) == 6, got)
    # several types: a zone scores the best of them; per region without SingleAZ
    body = ok(ec2("GetSpotPlacementScores", **dict(base, **{"InstanceType.1": "m5.large",
                                                           "InstanceType.2": "c5.large"})),
              "two types")
    check(sorted(int(x) for x in texts(body, "score")) == [1, 1, 1, 1, 7, 9], texts(body, "score"))
    body = ok(ec2("GetSpotPlacementScores", **{"TargetCapacity": "1", "InstanceType.1":
                                               "c5.large", "RegionName.1": "us-east-1"}),
              "per region")
    check(texts(body, "score") == ["7"] and texts(body, "availabilityZoneId") == [],
          texts(body, "score"))
    check(log_faults("GetSpotPlacementScores")[-1] == "strict-placement-scores", "logged")
    # checked as EC2 does
    refused(ec2("GetSpotPlacementScores", **{"InstanceType.1": "m5.large"}), 400,
            "MissingParameter", "no TargetCapacity")
    for bad in ("0", "2000000001", "x"):
        refused(ec2("GetSpotPlacementScores", **{"InstanceType.1": "m5.large",
                                                 "TargetCapacity": bad}),
                400, "InvalidParameterValue", "TargetCapacity %s" % bad)
    refused(ec2("GetSpotPlacementScores", TargetCapacity="1"), 400, "MissingParameter",
            "neither types nor requirements")
    refused(ec2("GetSpotPlacementScores", **{"TargetCapacity": "1", "InstanceType.1": "m5.large",
                                             "InstanceRequirementsWithMetadata."
                                             "ArchitectureTypes.1": "x86_64"}),
            400, "InvalidParameterCombination", "types and requirements")
    refused(ec2("GetSpotPlacementScores", **dict(base, **{"InstanceType.1": "m5.large",
                                                         "SingleAvailabilityZone": "yes"})),
            400, "InvalidParameterValue", "SingleAvailabilityZone not a bool")
    strict_off()
    st, _ = ec2("GetSpotPlacementScores", **dict(base, **{"InstanceType.1": "m5.large"}))
    check(st != 200, "off: moto lacks it (%s)" % st)


def test_spot_prices():
    control("reset", {})
    strict(spot_prices={"t3.micro": {"us-east-1b": 0.0042, "us-east-1a": "0.004"}})
    body = ok(ec2("DescribeSpotPriceHistory", **{"InstanceType.1": "t3.micro",
                                                 "ProductDescription.1": "Linux/UNIX",
                                                 "MaxResults": "100"}), "spot prices")
    root = ET.fromstring(body)
    check(root.tag.endswith("DescribeSpotPriceHistoryResponse"), root.tag)
    check(texts(body, "availabilityZone") == ["us-east-1a", "us-east-1b"] and
          texts(body, "spotPrice") == ["0.004000", "0.004200"] and
          texts(body, "instanceType") == ["t3.micro"] * 2 and
          texts(body, "productDescription") == ["Linux/UNIX"] * 2 and
          all(t.endswith("Z") for t in texts(body, "timestamp")), body[:400])
    check(log_faults("DescribeSpotPriceHistory")[-1] == "strict-spot-prices", "logged")
    # a type not in the table: moto's answer (its own prices)
    body = ok(ec2("DescribeSpotPriceHistory", **{"InstanceType.1": "m5.large"}), "moto's")
    check("0.004200" not in texts(body, "spotPrice") and
          log_faults("DescribeSpotPriceHistory")[-1] != "strict-spot-prices", "moto answers")
    strict_off()
    body = ok(ec2("DescribeSpotPriceHistory", **{"InstanceType.1": "t3.micro"}), "off")
    check("0.004200" not in texts(body, "spotPrice"), "off: moto's prices")


def test_type_offerings():
    control("reset", {})
    sub_e, sub_a = subnet_in("us-east-1e"), subnet_in("us-east-1a")
    strict(type_offerings={"us-east-1e": {"not_offered": ["t3", "m7*"]}})
    msg = refused(run(SubnetId=sub_e), 400, "Unsupported", "t3.micro in us-east-1e")
    check(msg.startswith("Your requested instance type (t3.micro) is not supported in your "
                         "requested Availability Zone (us-east-1e). Please retry your request "
                         "by not specifying an Availability Zone or choosing ")
          and "us-east-1a, us-east-1b" in msg and "us-east-1e" not in msg.split("choosing")[1],
          msg)
    refused(run(**{"Placement.AvailabilityZone": "us-east-1e", "InstanceType": "m7i.large"}),
            400, "Unsupported", "m7i.large placed in us-east-1e")
    refused(run(**{"NetworkInterface.1.SubnetId": sub_e, "NetworkInterface.1.DeviceIndex": "0"}),
            400, "Unsupported", "subnet of a network interface")
    ok(run(SubnetId=sub_e, InstanceType="t2.micro"), "t2.micro is offered in us-east-1e")
    ok(run(SubnetId=sub_a), "t3.micro in us-east-1a")
    ok(run(), "no subnet, no AZ: EC2 picks one that offers it")
    strict(type_offerings={"us-east-1a": {"offered": ["m5.large"]}})
    refused(run(SubnetId=sub_a), 400, "Unsupported", "offered list")
    ok(run(SubnetId=sub_a, InstanceType="m5.large"), "offered list: named type")
    strict_off()
    ok(run(SubnetId=sub_e), "off: moto runs every type everywhere")


def keygen(kind):
    d = tempfile.mkdtemp()
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", d + "/k"], check=True)
    with open(d + "/k.pub", "rb") as f:
        return base64.b64encode(f.read()).decode()


def test_import_key_ecdsa():
    control("reset", {})
    ecdsa, ed = keygen("ecdsa"), keygen("ed25519")
    strict(refuse_key_types=["ecdsa-sha2-*"])
    msg = refused(ec2("ImportKeyPair", KeyName="e1", PublicKeyMaterial=ecdsa), 400,
                  "InvalidKey.Format", "ECDSA key refused")
    check(msg == "Key is not in valid OpenSSH public key format", msg)
    ok(ec2("ImportKeyPair", KeyName="ed1", PublicKeyMaterial=ed), "ed25519 imported")
    body = ok(ec2("DescribeKeyPairs"), "key pairs")
    check("e1" not in texts(body, "keyName"), "the refused key is not in moto")
    check(log_faults("ImportKeyPair") == ["strict-key-format", None], "logged")
    # moto 5.2.1 refuses ECDSA itself, with a code EC2 does not use.
    strict_off()
    st, body = ec2("ImportKeyPair", KeyName="e2", PublicKeyMaterial=ecdsa)
    e = control("log?action=ImportKeyPair")["entries"][-1]
    check(e["forwarded"] and e["fault"] is None and code_of(body) != "InvalidKey.Format",
          "off: moto's own answer (%s %s)" % (st, code_of(body)))


def test_invisible():
    control("reset", {})
    x86 = image("x86_64")
    delay = 2.5
    strict(invisible={"security_group": delay, "key_pair": delay, "instance": delay})
    perm = {"IpPermissions.1.IpProtocol": "tcp", "IpPermissions.1.FromPort": "22",
            "IpPermissions.1.ToPort": "22", "IpPermissions.1.IpRanges.1.CidrIp": "10.0.0.0/8"}
    gid = texts(ok(ec2("CreateSecurityGroup", GroupName="g1", GroupDescription="d"),
                   "create group"), "groupId")[0]
    msg = refused(ec2("AuthorizeSecurityGroupIngress", GroupId=gid, **perm), 400,
                  "InvalidGroup.NotFound", "authorize a young group")
    check(msg == "The security group '%s' does not exist" % gid, msg)
    refused(ec2("DescribeSecurityGroups", **{"GroupId.1": gid}), 400, "InvalidGroup.NotFound",
            "describe a young group by id")
    refused(ec2("DescribeSecurityGroups", **{"GroupName.1": "g1"}), 400,
            "InvalidGroup.NotFound", "describe a young group by name")
    check(gid not in texts(ok(ec2("DescribeSecurityGroups"), "list groups"), "groupId"),
          "a young group is missing from the list")
    refused(ec2("CreateTags", **{"ResourceId.1": gid, "Tag.1.Key": "a", "Tag.1.Value": "b"}),
            400, "InvalidGroup.NotFound", "tag a young group")
    refused(run(ImageId=x86, **{"SecurityGroupId.1": gid}), 400, "InvalidGroup.NotFound",
            "run with a young group")

    ok(ec2("CreateKeyPair", KeyName="kp1"), "create key pair")
    msg = refused(run(ImageId=x86, KeyName="kp1"), 400, "InvalidKeyPair.NotFound",
                  "run with a young key")
    check(msg == "The key pair 'kp1' does not exist", msg)
    refused(ec2("DescribeKeyPairs", **{"KeyName.1": "kp1"}), 400, "InvalidKeyPair.NotFound",
            "describe a young key")
    check("kp1" not in texts(ok(ec2("DescribeKeyPairs"), "list keys"), "keyName"),
          "a young key is missing from the list")

    iid = run_id(ImageId=x86)
    t = time.monotonic()        # the proxy took the launch time before this
    msg = refused(ec2("CreateTags", **{"ResourceId.1": iid, "Tag.1.Key": "a",
                                       "Tag.1.Value": "b"}),
                  400, "InvalidInstanceID.NotFound", "tag a young instance")
    check(msg == "The instance ID '%s' does not exist" % iid, msg)
    refused(ec2("DescribeInstanceStatus", **{"InstanceId.1": iid}), 400,
            "InvalidInstanceID.NotFound", "status of a young instance")
    refused(ec2("DescribeInstances", **{"InstanceId.1": iid}), 400,
            "InvalidInstanceID.NotFound", "describe a young instance")
    refused(ec2("GetConsoleOutput", InstanceId=iid), 400,
            "InvalidInstanceID.NotFound", "console of a young instance")
    check(iid not in texts(ok(ec2("DescribeInstances"), "list"), "instanceId"),
          "a young instance is missing from the list")
    time.sleep(max(0.0, delay + 0.1 - (time.monotonic() - t)))
    ok(ec2("AuthorizeSecurityGroupIngress", GroupId=gid, **perm), "authorize after the delay")
    ok(ec2("DescribeKeyPairs", **{"KeyName.1": "kp1"}), "key pair after the delay")
    ok(ec2("CreateTags", **{"ResourceId.1": iid, "Tag.1.Key": "a", "Tag.1.Value": "b"}),
       "tag after the delay")
    check(iid in texts(ok(ec2("DescribeInstances"), "list"), "instanceId"), "listed after")
    strict_off()
    gid = texts(ok(ec2("CreateSecurityGroup", GroupName="g2", GroupDescription="d"),
                   "create group"), "groupId")[0]
    ok(ec2("AuthorizeSecurityGroupIngress", GroupId=gid, **perm), "off: visible at once")
    iid = run_id(ImageId=x86)
    ok(ec2("CreateTags", **{"ResourceId.1": iid, "Tag.1.Key": "a", "Tag.1.Value": "b"}),
       "off: instance visible at once")


def test_sg_dependency():
    control("reset", {})
    strict(sg_dependency=True)
    gid = texts(ok(ec2("CreateSecurityGroup", GroupName="dep", GroupDescription="d"),
                   "create group"), "groupId")[0]
    iid = run_id(**{"SecurityGroupId.1": gid})
    msg = refused(ec2("DeleteSecurityGroup", GroupId=gid), 400, "DependencyViolation",
                  "delete a group a running instance uses")
    check(msg == "resource %s has a dependent object" % gid, msg)
    ok(ec2("TerminateInstances", **{"InstanceId.1": iid}), "terminate")
    ok(ec2("DeleteSecurityGroup", GroupId=gid), "delete once the instance is terminated")
    strict_off()
    gid = texts(ok(ec2("CreateSecurityGroup", GroupName="dep2", GroupDescription="d"),
                   "create group"), "groupId")[0]
    run_id(**{"SecurityGroupId.1": gid})
    ok(ec2("DeleteSecurityGroup", GroupId=gid), "off: moto deletes a group in use")


def statuses(body):
    return [el.text for el in ET.fromstring(body).iter() if el.tag.split("}")[-1] == "status"]


def test_status_initializing():
    control("reset", {})
    strict(status_initializing_seconds=1.5)
    iid = run_id()
    body = ok(ec2("DescribeInstanceStatus", **{"InstanceId.1": iid}), "status")
    st = statuses(body)
    check(st and set(st) == {"initializing"}, "young: initializing %r" % st)
    time.sleep(1.6)
    st = statuses(ok(ec2("DescribeInstanceStatus", **{"InstanceId.1": iid}), "status"))
    check(st and "initializing" not in st, "later: moto's status %r" % st)
    strict_off()
    iid = run_id()
    st = statuses(ok(ec2("DescribeInstanceStatus", **{"InstanceId.1": iid}), "status"))
    check(st and "initializing" not in st, "off: moto's status at once %r" % st)


def console(iid, latest=None):
    p = {"InstanceId": iid}
    if latest is not None:
        p["Latest"] = latest
    body = ok(ec2("GetConsoleOutput", **p), "console output")
    out = texts(body, "output")
    return base64.b64decode(out[0]).decode() if out and out[0] else ""


def test_console_output():
    control("reset", {})
    control("config", {"console_output": {"*": "boot text\n"}})
    strict(console_seconds=1.5, console_buffered=False)
    iid = run_id()
    check(console(iid, "true") == "", "young: empty even with Latest=true")
    time.sleep(1.6)
    check(console(iid) == "", "without Latest: the stale buffer (empty)")
    check(console(iid, "false") == "", "Latest=false: the stale buffer (empty)")
    check(console(iid, "true") == "boot text\n", "Latest=true: the text")
    strict(console_seconds=0, console_buffered=True)
    check(console(iid) == "boot text\n", "console_buffered: the text without Latest")
    strict_off()
    iid = run_id()
    check(console(iid) == "boot text\n", "off: the text at once, without Latest")


def test_credential_expiry():
    control("reset", {})
    ok_put = request("PUT", "/cred-bkt", b"", {"Authorization": auth("s3")})[0] == 200
    check(ok_put and request("PUT", "/cred-bkt/k", b"x", {
        "Authorization": auth("s3"), "Content-Type": "application/octet-stream"})[0] == 200,
        "bucket and object")
    c = s3_client("us-east-1", aws_access_key_id="ASIAEXPIRINGKEY1",
                  aws_secret_access_key="s", aws_session_token="session-token-1")
    url = c.generate_presigned_url("get_object", Params={"Bucket": "cred-bkt", "Key": "k"},
                                   ExpiresIn=3600)
    strict(credential_expiry={"ASIAEXPIRINGKEY1": time.time() + 1.0})
    st, _, body = s3_get(url)
    check(st == 200 and body == b"x", "before the credentials expire (%s)" % st)
    time.sleep(1.2)
    st, _, body = s3_get(url)
    check(st == 400 and code_of(body) == "ExpiredToken" and
          texts(body, "Message") == ["The provided token has expired."],
          "credentials expired, the URL not: ExpiredToken %s %s" % (st, body))
    # Keyed by the session token, as ISO 8601 text.
    strict(credential_expiry={"session-token-1": "2020-01-01T00:00:00Z"})
    check(s3_get(url)[0] == 400, "expiry by session token")
    # The URL's own X-Amz-Expires.
    url = s3_client("us-east-1").generate_presigned_url(
        "get_object", Params={"Bucket": "cred-bkt", "Key": "k"}, ExpiresIn=1)
    strict(presign_expiry=True)
    time.sleep(2.1)
    st, _, body = s3_get(url)
    check(st == 403 and code_of(body) == "AccessDenied" and
          texts(body, "Message") == ["Request has expired"] and texts(body, "X-Amz-Expires") == ["1"],
          "past X-Amz-Expires: 403 AccessDenied %s %s" % (st, body))
    strict_off()
    control("config", {"strict": {"enabled": False,
                                  "credential_expiry": {"ASIAEXPIRINGKEY1": 0}}})
    url = c.generate_presigned_url("get_object", Params={"Bucket": "cred-bkt", "Key": "k"},
                                   ExpiresIn=3600)
    check(s3_get(url)[0] == 200, "off: expired credentials still work")


def listener():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    return s


def connects(ip, port):
    try:
        socket.create_connection((ip, port), timeout=2).close()
        return True
    except OSError:
        return False


def addresses(body):
    out = {}
    for el in ET.fromstring(body).iter():
        if el.tag.split("}")[-1] != "instancesSet":
            continue
        for it in el:
            ns = it.tag[:it.tag.index("}") + 1] if it.tag.startswith("{") else ""
            out[it.findtext(ns + "instanceId")] = it.findtext(ns + "ipAddress")
    return out


def describe_ip(iid):
    return addresses(ok(ec2("DescribeInstances", **{"InstanceId.1": iid}), "describe")).get(iid)


def test_reachability():
    control("reset", {})
    lsn = listener()
    port = lsn.getsockname()[1]
    control("config", {"public_ips": {"*": "127.0.0.1"}})
    strict(reachability=True)
    gid = texts(ok(ec2("CreateSecurityGroup", GroupName="ssh", GroupDescription="d"),
                   "create group"), "groupId")[0]
    perm = {"IpPermissions.1.IpProtocol": "tcp", "IpPermissions.1.FromPort": "22",
            "IpPermissions.1.ToPort": "22"}
    ok(ec2("AuthorizeSecurityGroupIngress", GroupId=gid,
           **dict(perm, **{"IpPermissions.1.IpRanges.1.CidrIp": "203.0.113.7/32"})),
       "admit another address")
    body = ok(run(**{"SecurityGroupId.1": gid}), "run")
    iid = texts(body, "instanceId")[0]
    ip = addresses(body)[iid]
    check(ip == "127.0.0.254" and describe_ip(iid) == "127.0.0.254",
          "group does not admit 127.0.0.1: the refusing address (%s)" % ip)
    check(not connects(ip, port) and connects("127.0.0.1", port),
          "nothing answers there, the test's port does")
    ok(ec2("AuthorizeSecurityGroupIngress", GroupId=gid,
           **dict(perm, **{"IpPermissions.1.IpRanges.1.CidrIp": "127.0.0.0/8",
                           "IpPermissions.1.FromPort": "443", "IpPermissions.1.ToPort": "443"})),
       "admit the caller on another port")
    check(describe_ip(iid) == "127.0.0.254", "another port does not count")
    ok(ec2("AuthorizeSecurityGroupIngress", GroupId=gid,
           **dict(perm, **{"IpPermissions.1.IpRanges.1.CidrIp": "127.0.0.0/8"})),
       "admit the caller on 22")
    ip = describe_ip(iid)
    check(ip == "127.0.0.1" and connects(ip, port), "admitted: reachable (%s)" % ip)
    strict(reachability=True, caller_cidr="198.51.100.9/32", unreachable_ip="127.0.0.253")
    check(describe_ip(iid) == "127.0.0.253", "caller_cidr and unreachable_ip")
    strict_off()
    gid2 = texts(ok(ec2("CreateSecurityGroup", GroupName="closed", GroupDescription="d"),
                    "create group"), "groupId")[0]
    iid = run_id(**{"SecurityGroupId.1": gid2})
    check(describe_ip(iid) == "127.0.0.1", "off: public_ips whatever the group")
    lsn.close()


def test_subnet_public_ip():
    control("reset", {})
    vpc = texts(ok(ec2("CreateVpc", CidrBlock="10.9.0.0/16"), "vpc"), "vpcId")[0]
    sub = texts(ok(ec2("CreateSubnet", VpcId=vpc, CidrBlock="10.9.1.0/24",
                       AvailabilityZone="us-east-1a"), "subnet"), "subnetId")[0]
    strict(subnet_public_ip=True)
    body = ok(run(SubnetId=sub), "run in a private subnet")
    iid = texts(body, "instanceId")[0]
    check(addresses(body)[iid] is None and describe_ip(iid) is None,
          "no public IP in a subnet that maps none (%s)" % addresses(body))
    body = ok(run(**{"NetworkInterface.1.SubnetId": sub, "NetworkInterface.1.DeviceIndex": "0",
                     "NetworkInterface.1.AssociatePublicIpAddress": "true"}), "run asking one")
    iid2 = texts(body, "instanceId")[0]
    check(describe_ip(iid2) is not None, "AssociatePublicIpAddress=true: one")
    iid3 = run_id(SubnetId=subnet_in("us-east-1b"))
    check(describe_ip(iid3) is not None, "a default subnet maps public IPs")
    control("config", {"public_ips": {"*": "127.0.0.1"}})
    check(describe_ip(iid) is None and describe_ip(iid2) == "127.0.0.1",
          "public_ips only where there is a public IP")
    strict_off()
    check(describe_ip(iid) == "127.0.0.1", "off: moto's instance gets public_ips")


def test_switching_and_defaults():
    control("reset", {})
    strict_off()
    check(control("strict") == {"enabled": False}, "off")
    control("config", {"strict": True})
    st = control("strict")
    check(st["enabled"] and st["bucket_region"] and st["invisible"]["instance"] > 0 and
          st["caller_cidr"] == "127.0.0.1/32" and st["unreachable_ip"] == "127.0.0.254",
          "true: every behaviour with its default %r" % st)
    control("config", {"strict": {"console_seconds": 9}})
    st = control("strict")
    check(st["enabled"] and st["console_seconds"] == 9 and st["bucket_region"],
          "a dict merges into the settings")
    control("config", {"strict": {"enabled": False}})
    check(control("strict") == {"enabled": False}, "enabled false: off")
    control("config", {"strict": "base"})
    check(control("strict")["enabled"] == (os.environ.get("ENVCTL_STRICT", "1") != "0"),
          "\"base\": with-aws.sh's mode (%r)" % control("strict"))
    # --strict JSON: on from the start and after every reset.
    port = free_port()
    p = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "faultproxy.py"),
                          "--listen-port", str(port), "--upstream", MOTO_URL,
                          "--strict", '{"console_seconds": 7}'],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = "http://127.0.0.1:%d" % port
        for _ in range(100):
            try:
                if request("GET", "/__proxy/health", url=url)[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        st, _, body = request("POST", "/__proxy/reset", b'{"moto": false}', url=url)
        st, _, body = request("GET", "/__proxy/strict", url=url)
        doc = json.loads(body)
        check(doc["enabled"] and doc["console_seconds"] == 7,
              "--strict: on after a reset with its settings %r" % doc)
        request("POST", "/__proxy/config", b'{"strict": {"console_seconds": 1}}', url=url)
        request("POST", "/__proxy/config", b'{"strict": false}', url=url)
        request("POST", "/__proxy/config", b'{"strict": "base"}', url=url)
        st, _, body = request("GET", "/__proxy/strict", url=url)
        doc = json.loads(body)
        check(doc["enabled"] and doc["console_seconds"] == 7,
              "\"base\": back to --strict's settings %r" % doc)
    finally:
        p.terminate()
        p.wait()


def main():
    t = time.time()
    for name, fn in sorted(globals().items()):
        if name.startswith("test_") and callable(fn):
            t0 = time.time()
            try:
                fn()
            except AssertionError as e:
                print("FAIL strict %s: %s" % (name, e), file=sys.stderr)
                return 1
            print("  %s %.1f s" % (name, time.time() - t0))
    control("reset", {})
    print("ok strict: %d checks in %.1f s" % (CHECKS, time.time() - t))
    return 0


if __name__ == "__main__":
    sys.exit(main())
