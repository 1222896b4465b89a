#!/usr/bin/env python3
"""faultproxy.py - a scripted HTTP proxy between envctl and moto_server.

moto differs from EC2 exactly where envctl's safety lives, so this proxy
adds what real EC2 does and moto does not (docs/design.md §10):

  * ClientToken idempotency for RunInstances: a token seen before with the
    same parameters replays the stored response (no new instance); the
    same token with other parameters answers IdempotentParameterMismatch.
  * instances shown "pending" for a while after launch;
  * eventual consistency: a just-launched instance missing from
    DescribeInstances for a while;
  * per-action token-bucket rate limits answering RequestLimitExceeded
    (503), with a global scale factor;
  * injected errors (HTTP status + AWS code) for the Nth call of an
    action, every call, or with a seeded probability;
  * latency per action; connections dropped before the request reaches
    moto, after moto handled it but before the answer is sent, or in the
    middle of the answer's body;
  * an instance's public IP rewritten in DescribeInstances answers (so a
    test can open the "instance's" ssh port on 127.0.0.1), and
    GetConsoleOutput answered with a given text (base64, as EC2 does),
    per instance or for all;
  * a request log that tests assert on, and with --record FILE a record
    of every request (one JSON line each, never cleared) that the
    conformance and IAM policy checks read after the suite.

  * a strict mode (STRICT below): EC2 and S3 refusing what moto accepts.

Python 3.11 standard library only.  Usage:

    faultproxy.py --listen-port P --upstream http://127.0.0.1:M [--strict [JSON]]

--strict turns strict mode on from the start and after every reset, with
the settings of JSON (an object of STRICT keys) over the defaults;
with-aws.sh passes it when ENVCTL_STRICT is 1 (or a JSON object).

Control API on the same port (JSON in, JSON out):

  GET  /__proxy/health           {"ok": true}
  POST /__proxy/config           merge a config document (see CONFIG below)
  GET  /__proxy/config           the current config
  GET  /__proxy/strict           strict mode's effective settings (defaults
                                 filled in), or {"enabled": false}
  POST /__proxy/reset            forget config, log, tokens, launch times;
                                 also resets moto unless {"moto": false}
  GET  /__proxy/log[?action=A]   {"entries": [...]} (oldest first); each entry:
                                 action, service, method, path, client_token,
                                 status, forwarded, fault, replayed, time,
                                 duration, seq, key_id (the signing access
                                 key id), params (Query protocol form
                                 parameters, without UserData/key material)
  POST /__proxy/log/clear        empty the log only

CONFIG (every key optional; a POST merges top-level keys):

  {"seed": 1,
   "idempotency": true,                       # ClientToken emulation
   "pending_seconds": 0,                      # show pending this long
   "invisible_seconds": 0,                    # hide from Describe this long
   "rate_scale": 1.0,                         # multiplies every refill rate
   "rate_limits": {"DescribeInstances": {"burst": 5, "rate": 1},
                   "Describe*": {"burst": 50, "rate": 20}},
   "faults": [{"action": "RunInstances", "nth": 1,        # or "every": true
               "params": {"InstanceType": "m5.large",     # only requests whose
                          "SubnetId": "subnet-*"},        # form params match (globs)
               "probability": 0.5,                        # or a probability
               "times": 1,                                # at most this often
               "status": 503, "code": "Unavailable", "message": "...",
               "drop": "before" | "after" | "mid",       # or drop the connection
               "after_bytes": 1000}],                    # mid: body bytes sent
   "latency": {"DescribeInstances": 0.2, "*": 0.0},
   "public_ips": {"*": "127.0.0.1", "i-0abc": "127.0.0.2"},
   "console_output": {"*": "text", "i-0abc": "other text"},
   "strict": true | false | "base" | {...}}   # see STRICT

"drop": "mid" forwards the request, sends the answer's status and
headers (its full Content-Length) and the first after_bytes bytes of
its body (default: half), then drops the connection; the log entry has
fault "drop-mid", body_bytes and sent_bytes.

public_ips sets <ipAddress> of the instances it names ("*": every one)
in DescribeInstances and RunInstances answers.  console_output answers
GetConsoleOutput for the instances it names ("*": every one) without
asking moto: <output> is the base64 of the text, as EC2 sends it; an
instance not named is forwarded to moto as usual.

Pending and invisible apply to instances launched through the proxy
(it records their launch time from the RunInstances answer); instances
seeded straight into moto are shown as moto has them.

moto quirks worth knowing (5.2.1): it pages DescribeInstances by
reservation, not by instance; it wants Ebs.VolumeSize in a block device
mapping; it drops a PUT body sent as application/x-www-form-urlencoded
(send presigned PUTs with another Content-Type, as curl -T does); its EC2
XML namespace has no trailing slash.

STRICT.  moto accepts what EC2 and S3 refuse, so a test can pass where a
first real run would not.  Strict mode answers as EC2 and S3 do.  It is
on with --strict, or with a config POST of "strict": true (the defaults)
or an object (merged into the current strict settings, key by key, and
turning strict mode on unless it says "enabled": false); "strict": false
turns it off; "strict": "base" goes back to --strict's settings (off
without --strict), as a reset does, without forgetting anything else.  A reset goes back to --strict's settings, or off.  Each
behaviour has its knob; the defaults below are what strict mode does when
a knob is not given ("off" says how to switch the behaviour off).  Times
"after launch" count from the RunInstances answer through the proxy;
instances seeded straight into moto count as old.  The log entry of a
strict answer has fault "strict-<what>" (redirect, expired-token,
presign-expired, key-format, invisible, architecture, unsupported,
dependency, console-empty, placement-scores, placement-invalid,
max-keys).

  bucket_region: true       (off: false)
      An S3 bucket has a region: its CreateBucket LocationConstraint (none:
      us-east-1), else bucket_regions, else moto's GetBucketLocation.  A
      request whose SigV4 credential scope region (Authorization header or
      a presigned URL's X-Amz-Credential) or whose Host's region
      (<bucket>.s3.<region>.amazonaws.com, s3.<region>..., s3.amazonaws.com
      = us-east-1; a custom endpoint such as 127.0.0.1 has none) is another
      gets 301 PermanentRedirect with header x-amz-bucket-region and an
      <Error> body naming <Endpoint> and <Bucket> (HEAD: no body).
      CreateBucket and ListBuckets are not checked.  (Real S3 answers
      some of these 400 AuthorizationHeaderMalformed instead, with a
      <Region>; a client that follows x-amz-bucket-region handles both.)
  bucket_regions: {}        {"bucket": "eu-west-1"}: wins over the others.
  architecture: true        (off: false)
      RunInstances with an image (architecture asked of moto's
      DescribeImages) the instance type cannot run: 400
      InvalidParameterValue "The architecture 'T' of the specified
      instance type does not match the architecture 'I' of the specified
      AMI. ...".  A type runs arm64 if its family is a1 or has a "g" right
      after its generation digit (t4g, m6g, m7gd, c6gn, r8g, x2gd, im4gn,
      g5g, hpc7g, ...); mac1 x86_64_mac, other mac* arm64_mac; t1, t2, m1,
      m2, m3, c1, c3 i386 and x86_64; every other type x86_64.
  architectures: {}         overrides by type or family, names or globs:
                            {"t3": ["arm64"], "m5.large": ["x86_64"]}.
  type_offerings: {"us-east-1e": {"not_offered": ["t3", "t3a", "t4g", "*[5678]*"]}}
                            (off: {})
      Per availability zone, "offered" (only these) or "not_offered"
      globs, matched against the type and its family.  RunInstances of a
      type not offered in the AZ of its SubnetId (or
      NetworkInterface.1.SubnetId, asked of moto's DescribeSubnets) or
      Placement.AvailabilityZone: 400 Unsupported "Your requested instance
      type (T) is not supported in your requested Availability Zone (AZ).
      Please retry your request by not specifying an Availability Zone or
      choosing AZ1, AZ2, ...".  No subnet and no AZ: EC2 picks one, no
      error.  The default is an approximation of an old us-east-1 zone.
  refuse_key_types: ["ecdsa-sha2-*", "sk-ecdsa-sha2-*", "ssh-dss"]  (off: [])
      ImportKeyPair whose PublicKeyMaterial (base64 of the OpenSSH line)
      is of one of these types: 400 InvalidKey.Format "Key is not in valid
      OpenSSH public key format" (EC2 takes RSA and ED25519 keys only;
      moto 5.2.1 refuses ECDSA too but as InvalidKeyPair.Format).
  invisible: {"security_group": 1.0, "key_pair": 1.0, "instance": 1.0}
                            (seconds; off: {} or 0)
      For this long after it was created through the proxy
      (CreateSecurityGroup, CreateKeyPair / ImportKeyPair, RunInstances)
      a resource is unknown to the invisible_actions: a call naming it
      (GroupId, GroupName, SecurityGroupId.N, SecurityGroup.N,
      NetworkInterface.N.SecurityGroupId.M, IpPermissions.N.Groups.M.GroupId;
      KeyName, KeyName.N, KeyPairId; InstanceId, InstanceId.N; ResourceId.N
      of sg-, key-, i-) answers 400 InvalidGroup.NotFound "The security
      group 'X' does not exist", InvalidKeyPair.NotFound "The key pair 'X'
      does not exist" or InvalidInstanceID.NotFound "The instance ID 'X'
      does not exist"; DescribeSecurityGroups, DescribeKeyPairs,
      DescribeInstances and DescribeInstanceStatus lists leave it out.
      (The instance delay and invisible_seconds: the longer one counts.)
  invisible_actions: ["Describe*", "RunInstances", "CreateTags", "DeleteTags",
      "AuthorizeSecurityGroup*", "RevokeSecurityGroup*", "DeleteSecurityGroup",
      "ModifyInstanceAttribute", "GetConsoleOutput", "StartInstances",
      "StopInstances", "RebootInstances", "TerminateInstances"]
      (DeleteKeyPair is left out: EC2 answers it success for a key it
      does not know.)
  sg_dependency: true       (off: false)
      DeleteSecurityGroup of a group an instance that is not terminated
      uses (asked of moto's DescribeInstances): 400 DependencyViolation
      "resource sg-X has a dependent object".  moto deletes it.
  status_initializing_seconds: 2.0   (off: 0)
      DescribeInstanceStatus shows instanceStatus and systemStatus (and
      their details) "initializing" this long after launch.
  console_seconds: 2.0      (off: 0)
  console_buffered: false   (true: off)
      GetConsoleOutput answers no <output> (EC2's empty console) until
      console_seconds after launch; after that, without Latest=true, only
      the stale buffered snapshot, empty unless console_buffered; with
      Latest=true the current text (console_output, else moto's).
  credential_expiry: {}     {"ASIA...": 1767225600, "<session token>": "2026-01-01T00:00:00Z"}
      Credentials by access key id or session token, and when they expire
      (epoch seconds or ISO 8601 UTC).  An S3 request signed with them
      after that, presigned URLs included whatever their X-Amz-Expires:
      400 ExpiredToken "The provided token has expired.".
  presign_expiry: true      (off: false)
      A presigned URL used after X-Amz-Date + X-Amz-Expires: 403
      AccessDenied "Request has expired" with <X-Amz-Expires>, <Expires>
      and <ServerTime>.
  reachability: true        (off: false)
  caller_cidr: "127.0.0.1/32"
  reach_port: 22
  unreachable_ip: "127.0.0.254"
      public_ips hands an instance its reachable address only when one of
      its security groups admits caller_cidr on TCP reach_port (a tcp or
      all-traffic rule whose port range holds it and whose IPv4 CIDR holds
      the caller); otherwise its address is unreachable_ip, an address on
      which nothing listens, so a connection is refused at once (EC2 drops
      the packets and the client times out; the refusal keeps tests fast).
      A test playing the instance must listen on 127.0.0.1 (not 0.0.0.0)
      for unreachable_ip to refuse.  Groups are read from moto at every
      answer, so an AuthorizeSecurityGroupIngress shows at once.
  subnet_public_ip: true    (off: false)
      An instance in a subnet whose MapPublicIpOnLaunch is false (moto's
      default subnets map, subnets a test creates do not) has no public
      address (no <ipAddress>, no association) unless RunInstances asked
      for one (NetworkInterface.N.AssociatePublicIpAddress=true); public_ips
      gives it none either.

  spot_placement_scores: {}   {"m5.large": {"use1-az1": 9, "use1-az6": 2}}
  spot_placement_default: 5   (a score 1..10)
      moto lacks GetSpotPlacementScores; strict mode answers it as EC2
      does, from this table: per (type, availability zone id) a score
      (a zone or type not in it: spot_placement_default).  The request is
      checked as EC2 checks it (400 MissingParameter / InvalidParameterValue
      / InvalidParameterCombination): TargetCapacity required, an integer
      1..2000000000; InstanceType.N or InstanceRequirementsWithMetadata,
      not both; SingleAvailabilityZone and DryRun "true" or "false";
      TargetCapacityUnitType vcpu, memory-mib or units; at most 10
      RegionName.N; MaxResults 10..1000.  The zones are moto's
      (DescribeAvailabilityZones of each region asked, default the
      caller's).  SingleAvailabilityZone=true: one item per zone (region,
      availabilityZoneId, score); otherwise one per region (region,
      score), its best zone's.  Several types: a zone scores the best of
      them (EC2 scores the set).  InstanceRequirementsWithMetadata: every
      zone scores spot_placement_default.  The log entry has fault
      "strict-placement-scores".

  spot_prices: {}   {"t3.micro": {"us-east-1a": 0.0042, "us-east-1b": 0.004}}
      moto answers DescribeSpotPriceHistory from its own fixed prices, so
      a price never changes.  For an InstanceType.N in this table strict
      mode answers it as EC2 does when no StartTime is given: one item per
      zone of the table (instanceType, productDescription (the request's
      ProductDescription.1, else Linux/UNIX), spotPrice with six decimals,
      timestamp (the answer's time), availabilityZone), the zones in
      order; types not in it are left out.  A request naming no type of
      the table gets moto's answer.  The log entry has fault
      "strict-spot-prices".
  os_shutdown: []            ["i-..."]
      moto has no operating system to run `shutdown -h now`: these
      instances shut down from inside, as one whose
      InstanceInitiatedShutdownBehavior is terminate does.  At the next
      EC2 call through the proxy, the proxy terminates each (once) through
      moto, and from then on DescribeInstances answers give that
      instance's stateReason as EC2 does for a shutdown from inside: code
      Client.InstanceInitiatedShutdown, message
      "Client.InstanceInitiatedShutdown: Instance initiated shutdown"
      (moto says Client.UserInitiatedShutdown).  The TerminateInstances
      goes straight to moto: it is not in the request log.
  s3_max_keys: 0             (a number, or {"<prefix glob>": number})
      S3 answers ListObjectsV2 in pages of up to 1,000 keys, more than a
      test can afford to create.  A cap (for every listing, or by the
      request's prefix, matched as a name or a glob: {"envctl/interrupted/*":
      1}) makes the pages that small: the proxy forwards the request to
      moto with max-keys lowered to min(asked, cap) (asked: 1000 when the
      request names none), and moto answers IsTruncated and a
      NextContinuationToken it honours on the next request (capped the
      same way), as S3 does past 1,000 keys.  The forwarded query then
      differs from the one the client signed: moto checks no signature,
      real S3 would answer SignatureDoesNotMatch, so this emulates S3's
      paging, not a proxy S3 would accept.  The answer's MaxKeys is the
      cap.  The log entry has fault "strict-max-keys" and the params the
      client sent (its max-keys); the record keeps the client's request.

Rate-limit and latency keys are an action name or a glob ("Describe*",
"*"); an exact name wins over a glob, and every action matching one glob
shares that glob's bucket (an "action class").  A rate-limit key may
also name the service ("ec2:*", "ec2:Describe*"): it is tried on
"<service>:<action>" when no plain key matches, so a class can leave
S3 and STS out.  Faults are checked in
order; the first that fires wins.  S3 actions are named from the method
and path (PutObject, GetObject, HeadObject, DeleteObject, ListObjectsV2,
CreateBucket, ...).
"""

import argparse
import base64
import fnmatch
import hashlib
import http.client
import http.server
import ipaddress
import json
import random
import re
import socket
import sys
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape as xml_escape


HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "transfer-encoding",
    "te", "trailer", "upgrade",
}


class State:
    """Everything the proxy knows; one lock guards all of it."""

    def __init__(self, upstream, strict=None):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.base_strict = strict     # --strict: the settings reset comes back to
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.config = {}
        self.log = []
        self.seq = 0
        self.counts = {}          # action -> calls seen
        self.fault_fired = {}     # fault index -> times fired
        self.buckets = {}         # bucket key -> [tokens, last refill]
        self.tokens = {}          # ClientToken -> {"fp", "status", "headers", "body"}
        self.token_locks = {}     # ClientToken -> Lock (one launch at a time)
        self.launched = {}        # instance id -> launch time (monotonic)
        self.rng = random.Random(0)
        # strict mode (see STRICT): what the proxy saw created, and when
        if self.base_strict is not None:
            self.config["strict"] = dict(self.base_strict, enabled=True)
        self.born = {}            # sg id/name, key name/id -> (kind, monotonic time)
        self.bucket_region = {}   # bucket -> region (CreateBucket, or asked of moto)
        self.public_ip = {}       # instance id -> True/False: AssociatePublicIpAddress
        self.image_arch = {}      # image id -> architecture (asked of moto)
        self.os_shut = set()      # instance ids shut down from inside (os_shutdown)

    def merge(self, doc):
        doc = dict(doc)
        if "strict" in doc:
            st = doc.pop("strict")
            if st is True:
                st = {"enabled": True}
            if st == "base":
                # back to --strict's settings (off without --strict)
                self.config["strict"] = (dict(self.base_strict, enabled=True)
                                         if self.base_strict is not None
                                         else {"enabled": False})
            elif not st:
                self.config["strict"] = {"enabled": False}
            else:
                cur = dict(self.config.get("strict") or {})
                cur.update(st)
                cur["enabled"] = bool(st.get("enabled", True))
                self.config["strict"] = cur
        self.config.update(doc)
        if "seed" in doc:
            self.rng = random.Random(doc["seed"])
        if "faults" in doc:
            self.fault_fired = {}
        if "rate_limits" in doc or "rate_scale" in doc:
            self.buckets = {}


STATE = None


def lookup(table, action):
    """Value for action in a table keyed by names or globs, and its key."""
    if not table:
        return None, None
    if action in table:
        return table[action], action
    for key, val in table.items():
        if fnmatch.fnmatchcase(action, key):
            return val, key
    return None, None


def service_of(headers, query):
    auth = headers.get("Authorization", "")
    m = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request", auth)
    if m:
        return m.group(1)
    cred = query.get("X-Amz-Credential", [""])[0]
    parts = cred.split("/")
    if len(parts) >= 5:
        return parts[3]
    return "unknown"


def s3_action(method, path, query):
    p = urllib.parse.unquote(path.split("?", 1)[0]).lstrip("/")
    has_key = "/" in p and p.split("/", 1)[1] != ""
    if not p:
        return "ListBuckets"
    if has_key:
        return {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject",
                "DELETE": "DeleteObject", "POST": "PostObject"}.get(method, "S3" + method)
    if method == "GET":
        if "location" in query:
            return "GetBucketLocation"
        return "ListObjectsV2" if query.get("list-type", [""])[0] == "2" else "ListObjects"
    return {"PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket",
            "POST": "DeleteObjects"}.get(method, "S3" + method)


def error_body(service, code, message):
    rid = str(uuid.uuid4())
    if service == "s3":
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{message}</Message><RequestId>{rid}</RequestId></Error>").encode()
    if service in ("sts", "iam", "sqs"):
        return (f'<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>'
                f"<Message>{message}</Message></Error><RequestId>{rid}</RequestId>"
                "</ErrorResponse>").encode()
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{rid}</RequestID></Response>").encode()


def ns_of(root):
    """"{uri}" of the root element (moto and EC2 differ by a trailing slash)."""
    return root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""


def instance_ids_in(body):
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return []
    out = []
    ns = ns_of(root)
    for item in root.iter(ns + "instancesSet"):
        for inst in item.findall(ns + "item"):
            iid = inst.findtext(ns + "instanceId")
            if iid:
                out.append(iid)
    return out


def rewrite_instances(body, now, pending_s, invisible_s, launched, hide):
    """Show young instances as pending, and hide very young ones."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return body
    changed = False
    ns = ns_of(root)
    for rset in list(root.iter(ns + "reservationSet")):
        for res in list(rset.findall(ns + "item")):
            iset = res.find(ns + "instancesSet")
            if iset is None:
                continue
            for inst in list(iset.findall(ns + "item")):
                iid = inst.findtext(ns + "instanceId")
                born = launched.get(iid)
                if born is None:
                    continue
                age = now - born
                if hide and age < invisible_s:
                    iset.remove(inst)
                    changed = True
                    continue
                if age < pending_s:
                    st = inst.find(ns + "instanceState")
                    if st is not None and st.findtext(ns + "name") == "running":
                        st.find(ns + "code").text = "0"
                        st.find(ns + "name").text = "pending"
                        changed = True
            if len(iset.findall(ns + "item")) == 0:
                rset.remove(res)
                changed = True
    if not hide:
        # RunInstances answers: instancesSet directly under the root.
        for iset in root.findall(ns + "instancesSet"):
            for inst in iset.findall(ns + "item"):
                iid = inst.findtext(ns + "instanceId")
                born = launched.get(iid)
                st = inst.find(ns + "instanceState")
                if born is not None and now - born < pending_s and st is not None \
                        and st.findtext(ns + "name") == "running":
                    st.find(ns + "code").text = "0"
                    st.find(ns + "name").text = "pending"
                    changed = True
    if not changed:
        return body
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + \
        ET.tostring(root, default_namespace=ns[1:-1] or None)


def edit_instances(body, edit):
    """Apply edit(ns, item) to every instance item of an EC2 answer
    (DescribeInstances, RunInstances, ...); edit says whether it changed
    the item.  The answer unchanged when none did or it is not XML."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return body
    ns = ns_of(root)
    changed = False
    for iset in root.iter(ns + "instancesSet"):
        for inst in iset.findall(ns + "item"):
            changed = edit(ns, inst) or changed
    return xml_out(root, ns) if changed else body


def set_child(parent, ns, tag, text):
    """parent's <tag> (made when missing) holds text."""
    el = parent.find(ns + tag)
    if el is None:
        el = ET.SubElement(parent, ns + tag)
    el.text = text


def rewrite_public_ips(body, ips):
    """Set <ipAddress> of the instances ips names ("*": all) in an answer."""
    def edit(ns, inst):
        iid = inst.findtext(ns + "instanceId")
        ip = ips.get(iid, ips.get("*"))
        if not iid or ip is None:
            return False
        set_child(inst, ns, "ipAddress", ip)
        return True

    return edit_instances(body, edit)


def console_output_body(instance_id, text):
    """A GetConsoleOutput answer as EC2 gives it (output in base64)."""
    out = base64.b64encode(text.encode()).decode()
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<GetConsoleOutputResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
            "<requestId>%s</requestId><instanceId>%s</instanceId>"
            "<timestamp>%s</timestamp><output>%s</output></GetConsoleOutputResponse>" %
            (uuid.uuid4(), xml_escape(instance_id),
             time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()), out)).encode()


def params_fingerprint(params):
    items = sorted((k, v) for k, v in params if k != "ClientToken")
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()


# ---- strict mode: what EC2 and S3 refuse and moto accepts ----------------

STRICT_DEFAULTS = {
    "bucket_region": True,
    "bucket_regions": {},
    "architecture": True,
    "architectures": {},
    "type_offerings": {"us-east-1e": {"not_offered": ["t3", "t3a", "t4g", "*[5678]*"]}},
    "refuse_key_types": ["ecdsa-sha2-*", "sk-ecdsa-sha2-*", "ssh-dss"],
    "invisible": {"security_group": 1.0, "key_pair": 1.0, "instance": 1.0},
    "invisible_actions": ["Describe*", "RunInstances", "CreateTags", "DeleteTags",
                          "AuthorizeSecurityGroup*", "RevokeSecurityGroup*",
                          "DeleteSecurityGroup", "ModifyInstanceAttribute",
                          "GetConsoleOutput", "StartInstances", "StopInstances",
                          "RebootInstances", "TerminateInstances"],
    "sg_dependency": True,
    "status_initializing_seconds": 2.0,
    "console_seconds": 2.0,
    "console_buffered": False,
    "credential_expiry": {},
    "presign_expiry": True,
    "reachability": True,
    "caller_cidr": "127.0.0.1/32",
    "reach_port": 22,
    "unreachable_ip": "127.0.0.254",
    "subnet_public_ip": True,
    "spot_placement_scores": {},
    "spot_placement_default": 5,
    "spot_prices": {},
    "os_shutdown": [],
    "s3_max_keys": 0,
}

# EC2's stateReason of an instance its own OS shut down (API_StateReason).
OS_SHUTDOWN_REASON = ("Client.InstanceInitiatedShutdown",
                      "Client.InstanceInitiatedShutdown: Instance initiated shutdown")

NOT_FOUND = {
    "security_group": ("InvalidGroup.NotFound", "The security group '%s' does not exist"),
    "key_pair": ("InvalidKeyPair.NotFound", "The key pair '%s' does not exist"),
    "instance": ("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist"),
}

# Query parameters that name an existing resource, by kind.
REF_PARAMS = {
    "security_group": re.compile(r"(^|\.)(SecurityGroupId|SecurityGroup|GroupId|GroupName)"
                                 r"(\.\d+)?$"),
    "key_pair": re.compile(r"^(KeyName|KeyPairId)(\.\d+)?$"),
    "instance": re.compile(r"^InstanceId(\.\d+)?$"),
}

# Actions that create what they name: never refused as invisible.
CREATING = {"CreateSecurityGroup", "CreateKeyPair", "ImportKeyPair"}


def strict_settings(config):
    """The effective strict settings, or None when strict mode is off."""
    st = config.get("strict")
    if not isinstance(st, dict) or not st.get("enabled"):
        return None
    out = dict(STRICT_DEFAULTS)
    out.update({k: v for k, v in st.items() if k != "enabled"})
    return out


def cred_scope(headers, query):
    """(access key id, region, service) of a SigV4 request, header or query."""
    auth = headers.get("Authorization", "")
    m = re.search(r"Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/aws4_request", auth)
    if m:
        return m.group(1), m.group(2), m.group(3)
    parts = query.get("X-Amz-Credential", [""])[0].split("/")
    if len(parts) >= 5:
        return parts[0], parts[2], parts[3]
    return None, None, None


def host_region(host):
    """The region an S3 host name addresses, or None (a custom endpoint)."""
    host = host.split(":", 1)[0].lower()
    if not host.endswith(".amazonaws.com"):
        return None
    m = re.search(r"(?:^|\.)s3[.-](?:dualstack\.)?([a-z0-9-]+)\.amazonaws\.com$", host)
    if m and m.group(1) != "external-1":
        return m.group(1)
    return "us-east-1"      # s3.amazonaws.com, s3-external-1: the global endpoint


def s3_bucket_of(host, path):
    host = host.split(":", 1)[0].lower()
    m = re.match(r"^(.+)\.s3[.-]", host)
    if host.endswith(".amazonaws.com") and m:
        return m.group(1)
    p = urllib.parse.unquote(path.split("?", 1)[0]).lstrip("/")
    return p.split("/", 1)[0] or None


def s3_endpoint(bucket, region):
    if region == "us-east-1":
        return "%s.s3.amazonaws.com" % bucket
    return "%s.s3.%s.amazonaws.com" % (bucket, region)


def s3_error(code, message, extra=()):
    rid = uuid.uuid4().hex[:16].upper()
    more = "".join("<%s>%s</%s>" % (k, xml_escape(str(v)), k) for k, v in extra)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{xml_escape(message)}</Message>{more}<RequestId>{rid}</RequestId>"
            f"<HostId>{base64.b64encode(uuid.uuid4().bytes).decode()}</HostId></Error>").encode()


def when(v):
    """An expiry as epoch seconds: a number, or ISO 8601 UTC text."""
    if isinstance(v, (int, float)):
        return float(v)
    t = str(v).strip().replace("Z", "+00:00")
    import datetime
    return datetime.datetime.fromisoformat(t).timestamp()


def amz_date(v):
    import calendar
    return calendar.timegm(time.strptime(v, "%Y%m%dT%H%M%SZ"))


def type_archs(itype, table):
    """Architectures an instance type runs (EC2 DescribeInstanceTypes'
    SupportedArchitectures), from overrides or the built-in rule."""
    fam = itype.split(".", 1)[0]
    for key in (itype, fam):
        v, _ = lookup(table, key)
        if v is not None:
            return list(v)
    if fam == "mac1":
        return ["x86_64_mac"]
    if fam.startswith("mac"):
        return ["arm64_mac"]
    # Graviton: a1 and every family with a "g" right after its generation
    # digit (t4g, m6g, m7gd, c6gn, r8g, x2gd, im4gn, is4gen, g5g, hpc7g).
    if fam == "a1" or re.fullmatch(r"[a-z]+\d+g[a-z]*", fam):
        return ["arm64"]
    if fam in ("t1", "t2", "m1", "m2", "m3", "c1", "c3"):
        return ["i386", "x86_64"]
    return ["x86_64"]


def type_offered(itype, az, table):
    """Is itype offered in az, by a table {az: {"offered"|"not_offered": [globs]}}?
    Globs match the type ("t3.micro") or its family ("t3")."""
    ent = (table or {}).get(az)
    if not ent:
        return True
    fam = itype.split(".", 1)[0]

    def hit(globs):
        return any(fnmatch.fnmatchcase(itype, g) or fnmatch.fnmatchcase(fam, g)
                   for g in globs)
    if "offered" in ent:
        return hit(ent["offered"])
    return not hit(ent.get("not_offered", []))


def xml_items(body, tag):
    """The <item> elements under every element named tag, and the root."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None, "", []
    ns = ns_of(root)
    out = []
    for el in root.iter(ns + tag):
        out.extend(el.findall(ns + "item"))
    return root, ns, out


def xml_out(root, ns):
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + \
        ET.tostring(root, default_namespace=ns[1:-1] or None)


def admits(groups, caller, port):
    """Does any of the security groups (DescribeSecurityGroups items)
    let caller (an ip_network) in on TCP port?"""
    for g in groups:
        ns = ns_of(g)
        perms = g.find(ns + "ipPermissions")
        if perms is None:
            continue
        for p in perms.findall(ns + "item"):
            proto = p.findtext(ns + "ipProtocol")
            if proto not in ("tcp", "6", "-1"):
                continue
            if proto != "-1":
                try:
                    lo = int(p.findtext(ns + "fromPort"))
                    hi = int(p.findtext(ns + "toPort"))
                except (TypeError, ValueError):
                    continue
                if not lo <= port <= hi:
                    continue
            for rng in p.iter(ns + "cidrIp"):
                try:
                    net = ipaddress.ip_network(rng.text.strip(), strict=False)
                except ValueError:
                    continue
                if net.version == caller.version and caller.subnet_of(net):
                    return True
    return False


def empty_console_body(instance_id):
    """GetConsoleOutput with nothing buffered yet: EC2 leaves <output> out."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<GetConsoleOutputResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
            "<requestId>%s</requestId><instanceId>%s</instanceId>"
            "<timestamp>%s</timestamp></GetConsoleOutputResponse>" %
            (uuid.uuid4(), xml_escape(instance_id),
             time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()))).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True     # no 40 ms stalls on reused connections
    server_version = "faultproxy/1"

    def log_message(self, fmt, *args):  # quiet; the request log is the record
        pass

    # ---- plumbing -------------------------------------------------------

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            chunks = []
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, status, headers, body, head=False, cut=None):
        """Answer; with cut, only the first cut bytes of body, then drop."""
        self.send_response(status)
        have_len = False
        for k, v in headers:
            lk = k.lower()
            if lk in HOP_BY_HOP or lk in ("server", "date"):
                continue
            if lk == "content-length":
                if not head:
                    continue
                have_len = True
            self.send_header(k, v)
        if not head or not have_len:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            return self.drop()
        if not head and body:
            self.wfile.write(body)

    def send_json(self, status, doc):
        body = json.dumps(doc).encode()
        self.send(status, [("Content-Type", "application/json")], body)

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def forward(self, body, path=None):
        u = STATE.upstream
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        try:
            headers = {}
            for k, v in self.headers.items():
                if k.lower() in HOP_BY_HOP:
                    continue
                headers[k] = v
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                headers["Content-Length"] = str(len(body))
            conn.putrequest(self.command, path or self.path, skip_host=True,
                            skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.getheaders(), data
        finally:
            conn.close()

    # ---- control API ----------------------------------------------------

    def control(self, body):
        path, _, qs = self.path.partition("?")
        query = urllib.parse.parse_qs(qs)
        if path == "/__proxy/health":
            return self.send_json(200, {"ok": True})
        if path == "/__proxy/config" and self.command == "GET":
            with STATE.lock:
                return self.send_json(200, STATE.config)
        if path == "/__proxy/strict" and self.command == "GET":
            with STATE.lock:
                st = strict_settings(STATE.config)
            return self.send_json(200, dict(st, enabled=True) if st else {"enabled": False})
        if path == "/__proxy/config" and self.command == "POST":
            try:
                doc = json.loads(body or b"{}")
                if not isinstance(doc, dict):
                    raise ValueError("config must be an object")
            except ValueError as e:
                return self.send_json(400, {"error": str(e)})
            with STATE.lock:
                STATE.merge(doc)
                return self.send_json(200, STATE.config)
        if path == "/__proxy/reset" and self.command == "POST":
            doc = json.loads(body or b"{}") if body else {}
            with STATE.lock:
                STATE.reset()
            if doc.get("moto", True):
                u = STATE.upstream
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
                try:
                    conn.request("POST", "/moto-api/reset")
                    conn.getresponse().read()
                finally:
                    conn.close()
            return self.send_json(200, {"ok": True})
        if path == "/__proxy/log" and self.command == "GET":
            want = query.get("action", [None])[0]
            with STATE.lock:
                # copies: in-flight entries are still being filled in
                entries = [dict(e) for e in STATE.log if want is None or e["action"] == want]
            return self.send_json(200, {"entries": entries})
        if path == "/__proxy/log/clear" and self.command == "POST":
            with STATE.lock:
                STATE.log = []
            return self.send_json(200, {"ok": True})
        return self.send_json(404, {"error": "no such control endpoint"})

    # ---- strict mode ----------------------------------------------------

    def moto(self, method, path, body=b"", headers=None):
        """A request straight to moto (no faults, not logged)."""
        u = STATE.upstream
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        try:
            conn.request(method, path, body=body or None, headers=headers or {})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def moto_auth(self, scope, service):
        akid, region, _ = scope
        return ("AWS4-HMAC-SHA256 Credential=%s/20260101/%s/%s/aws4_request, "
                "SignedHeaders=host, Signature=00" %
                (akid or "AKIDSTRICTPROXY", region or "us-east-1", service))

    def moto_ec2(self, scope, action, params):
        """An EC2 Query call to moto in the caller's account and region:
        the parsed root element, or None when moto refused it."""
        doc = dict(params)
        doc.update({"Action": action, "Version": "2016-11-15"})
        st, body = self.moto("POST", "/", urllib.parse.urlencode(doc).encode(), {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Authorization": self.moto_auth(scope, "ec2")})
        if not 200 <= st < 300:
            return None
        try:
            return ET.fromstring(body)
        except ET.ParseError:
            return None

    def bucket_region_of(self, st, bucket, scope):
        if bucket in (st["bucket_regions"] or {}):
            return st["bucket_regions"][bucket]
        with STATE.lock:
            reg = STATE.bucket_region.get(bucket)
        if reg:
            return reg
        code, body = self.moto("GET", "/%s?location" % urllib.parse.quote(bucket), b"", {
            "Authorization": self.moto_auth(scope, "s3")})
        if code != 200:
            return None
        try:
            reg = (ET.fromstring(body).text or "").strip() or "us-east-1"
        except ET.ParseError:
            return None
        with STATE.lock:
            STATE.bucket_region[bucket] = reg
        return reg

    def strict_s3(self, st, action, query, scope):
        head = self.command == "HEAD"
        host = self.headers.get("Host", "")
        bucket = s3_bucket_of(host, self.path)
        if st["bucket_region"] and bucket and action not in ("CreateBucket", "ListBuckets"):
            breg = self.bucket_region_of(st, bucket, scope)
            wrong = [r for r in (host_region(host), scope[1]) if r and r != breg]
            if breg and wrong:
                body = b"" if head else s3_error(
                    "PermanentRedirect",
                    "The bucket you are attempting to access must be addressed using "
                    "the specified endpoint. Please send all future requests to this "
                    "endpoint.", [("Endpoint", s3_endpoint(bucket, breg)), ("Bucket", bucket)])
                return (301, "strict-redirect",
                        [("x-amz-bucket-region", breg), ("Content-Type", "application/xml")],
                        body)
        now = time.time()
        token = self.headers.get("X-Amz-Security-Token") or \
            query.get("X-Amz-Security-Token", [None])[0]
        table = st["credential_expiry"] or {}
        for key in (scope[0], token):
            if key and key in table and now >= when(table[key]):
                return (400, "strict-expired-token", [("Content-Type", "application/xml")],
                        b"" if head else s3_error("ExpiredToken", "The provided token has expired.",
                                                  [("Token-0", key)]))
        if st["presign_expiry"] and "X-Amz-Expires" in query and "X-Amz-Date" in query:
            try:
                t0 = amz_date(query["X-Amz-Date"][0])
                exp = t0 + int(query["X-Amz-Expires"][0])
            except ValueError:
                return None
            if now > exp:
                iso = "%Y-%m-%dT%H:%M:%SZ"
                return (403, "strict-presign-expired", [("Content-Type", "application/xml")],
                        b"" if head else s3_error("AccessDenied", "Request has expired", [
                            ("X-Amz-Expires", query["X-Amz-Expires"][0]),
                            ("Expires", time.strftime(iso, time.gmtime(exp))),
                            ("ServerTime", time.strftime(iso, time.gmtime(now)))]))
        return None

    def young(self, kind, name, st):
        """Is the resource name (of kind) still invisible?"""
        delay = float((st["invisible"] or {}).get(kind, 0) or 0)
        if delay <= 0:
            return False
        now = time.monotonic()
        with STATE.lock:
            if kind == "instance":
                born = STATE.launched.get(name)
            else:
                b = STATE.born.get(name)
                born = b[1] if b and b[0] == kind else None
        return born is not None and now - born < delay

    def invisible_refs(self, st, action, pd):
        """(kind, [names]) of the first kind of young resource pd names."""
        if action in CREATING or not any(fnmatch.fnmatchcase(action, g)
                                         for g in st["invisible_actions"] or []):
            return None
        prefixes = {"sg-": "security_group", "i-": "instance", "key-": "key_pair"}
        for kind in ("security_group", "key_pair", "instance"):
            names = []
            for k, v in pd.items():
                if REF_PARAMS[kind].search(k):
                    pass
                elif k.startswith("ResourceId.") and \
                        any(v.startswith(p) and q == kind for p, q in prefixes.items()):
                    pass
                else:
                    continue
                if self.young(kind, v, st):
                    names.append(v)
            if names:
                return kind, names
        return None

    def strict_ec2(self, st, action, pd, scope):
        def refuse(fault, code, msg):
            return 400, fault, [("Content-Type", "text/xml")], error_body("ec2", code, msg)

        if action == "ImportKeyPair" and st["refuse_key_types"]:
            raw = pd.get("PublicKeyMaterial", "")
            try:
                line = base64.b64decode(raw, validate=True).decode("utf-8", "replace")
            except ValueError:
                line = raw
            words = line.strip().split()
            kind = words[0] if words else ""
            if any(fnmatch.fnmatchcase(kind, g) for g in st["refuse_key_types"]):
                return refuse("strict-key-format", "InvalidKey.Format",
                              "Key is not in valid OpenSSH public key format")
        hidden = self.invisible_refs(st, action, pd)
        if hidden:
            kind, names = hidden
            code, msg = NOT_FOUND[kind]
            if kind == "instance" and len(names) > 1:
                msg = "The instance IDs '%s' do not exist" % ", ".join(names)
            else:
                msg = msg % names[0]
            return refuse("strict-invisible", code, msg)
        if action == "RunInstances":
            itype = pd.get("InstanceType", "m1.small")
            image = pd.get("ImageId")
            if st["architecture"] and image:
                with STATE.lock:
                    arch = STATE.image_arch.get(image)
                if arch is None:
                    root = self.moto_ec2(scope, "DescribeImages", {"ImageId.1": image})
                    if root is not None:
                        arch = next((el.text for el in
                                     root.iter(ns_of(root) + "architecture")), None)
                    if arch:
                        with STATE.lock:
                            STATE.image_arch[image] = arch
                archs = type_archs(itype, st["architectures"])
                if arch and arch not in archs:
                    return refuse(
                        "strict-architecture", "InvalidParameterValue",
                        "The architecture '%s' of the specified instance type does not "
                        "match the architecture '%s' of the specified AMI. Specify an "
                        "instance type and an AMI that have matching architectures, and "
                        "try again. You can use 'describe-instance-types' or "
                        "'describe-images' to discover the architecture of the instance "
                        "type or AMI." % (archs[0], arch))
            table = st["type_offerings"]
            if table:
                az = pd.get("Placement.AvailabilityZone")
                subnet = pd.get("SubnetId") or pd.get("NetworkInterface.1.SubnetId")
                if subnet:
                    root = self.moto_ec2(scope, "DescribeSubnets", {
                        "Filter.1.Name": "subnet-id", "Filter.1.Value.1": subnet})
                    if root is not None:
                        az = next((el.text for el in
                                   root.iter(ns_of(root) + "availabilityZone")), az)
                if az and not type_offered(itype, az, table):
                    root = self.moto_ec2(scope, "DescribeAvailabilityZones", {})
                    zones = [] if root is None else \
                        [el.text for el in root.iter(ns_of(root) + "zoneName")]
                    ok = [z for z in zones if type_offered(itype, z, table)]
                    return refuse(
                        "strict-unsupported", "Unsupported",
                        "Your requested instance type (%s) is not supported in your "
                        "requested Availability Zone (%s). Please retry your request by "
                        "not specifying an Availability Zone or choosing %s." %
                        (itype, az, ", ".join(ok)))
        if action == "GetSpotPlacementScores":
            return self.placement_scores(st, pd, scope)
        if action == "DescribeSpotPriceHistory" and st["spot_prices"]:
            return self.spot_prices(st, pd)
        if action == "DeleteSecurityGroup" and st["sg_dependency"]:
            want = pd.get("GroupId") or pd.get("GroupName")
            root = self.moto_ec2(scope, "DescribeInstances", {}) if want else None
            if root is not None:
                ns = ns_of(root)
                for iset in root.iter(ns + "instancesSet"):
                    for inst in iset.findall(ns + "item"):
                        state = inst.findtext(ns + "instanceState/" + ns + "name")
                        names = {el.text for el in inst.iter(ns + "groupId")} | \
                            {el.text for el in inst.iter(ns + "groupName")}
                        if state != "terminated" and want in names:
                            return refuse("strict-dependency", "DependencyViolation",
                                          "resource %s has a dependent object" % want)
        if action == "GetConsoleOutput":
            iid = pd.get("InstanceId", "")
            with STATE.lock:
                born = STATE.launched.get(iid)
            age = float("inf") if born is None else time.monotonic() - born
            latest = pd.get("Latest", "").lower() == "true"
            if age < float(st["console_seconds"] or 0) or \
                    (not latest and not st["console_buffered"]):
                return 200, "strict-console-empty", [("Content-Type", "text/xml")], \
                    empty_console_body(iid)
        return None

    def spot_prices(self, st, pd):
        """DescribeSpotPriceHistory from the spot_prices table, or None."""
        table = st["spot_prices"] or {}
        types = [v for k, v in sorted(pd.items(), key=lambda kv: kv[0])
                 if re.fullmatch(r"InstanceType\.\d+", k) and v in table]
        if not types:
            return None
        product = pd.get("ProductDescription.1", "Linux/UNIX")
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        items = ["<item><instanceType>%s</instanceType><productDescription>%s"
                 "</productDescription><spotPrice>%.6f</spotPrice><timestamp>%s"
                 "</timestamp><availabilityZone>%s</availabilityZone></item>" %
                 (xml_escape(t), xml_escape(product), float(price), now, xml_escape(az))
                 for t in types for az, price in sorted(table[t].items())]
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<DescribeSpotPriceHistoryResponse '
                'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
                "<requestId>%s</requestId><spotPriceHistorySet>%s"
                "</spotPriceHistorySet><nextToken/></DescribeSpotPriceHistoryResponse>" %
                (uuid.uuid4(), "".join(items))).encode()
        return 200, "strict-spot-prices", [("Content-Type", "text/xml")], body

    def placement_scores(self, st, pd, scope):
        """GetSpotPlacementScores, checked and answered as EC2 does."""
        def refuse(code, msg):
            return 400, "strict-placement-invalid", [("Content-Type", "text/xml")], \
                error_body("ec2", code, msg)

        def listed(prefix):
            return [v for k, v in sorted(pd.items(), key=lambda kv: kv[0])
                    if re.fullmatch(re.escape(prefix) + r"\.\d+", k)]

        cap = pd.get("TargetCapacity")
        if cap is None:
            return refuse("MissingParameter", "The request must contain the parameter "
                          "TargetCapacity")
        if not re.fullmatch(r"\d+", cap) or not 1 <= int(cap) <= 2000000000:
            return refuse("InvalidParameterValue", "Value (%s) for parameter "
                          "TargetCapacity is invalid. It must be between 1 and "
                          "2000000000." % cap)
        types = listed("InstanceType")
        reqs = any(k.startswith("InstanceRequirementsWithMetadata.") for k in pd)
        if not types and not reqs:
            return refuse("MissingParameter", "The request must contain either "
                          "InstanceTypes or InstanceRequirementsWithMetadata")
        if types and reqs:
            return refuse("InvalidParameterCombination", "InstanceTypes and "
                          "InstanceRequirementsWithMetadata cannot be specified together")
        for k in ("SingleAvailabilityZone", "DryRun"):
            if k in pd and pd[k] not in ("true", "false"):
                return refuse("InvalidParameterValue", "Value (%s) for parameter %s "
                              "is invalid. It must be true or false." % (pd[k], k))
        unit = pd.get("TargetCapacityUnitType")
        if unit is not None and unit not in ("vcpu", "memory-mib", "units"):
            return refuse("InvalidParameterValue", "Value (%s) for parameter "
                          "TargetCapacityUnitType is invalid." % unit)
        regions = listed("RegionName")
        if len(regions) > 10:
            return refuse("InvalidParameterValue", "At most 10 regions may be "
                          "specified.")
        mr = pd.get("MaxResults")
        if mr is not None and (not re.fullmatch(r"\d+", mr) or not 10 <= int(mr) <= 1000):
            return refuse("InvalidParameterValue", "Value (%s) for parameter MaxResults "
                          "is invalid. It must be between 10 and 1000." % mr)
        table = st["spot_placement_scores"] or {}
        default = int(st["spot_placement_default"])
        single = pd.get("SingleAvailabilityZone") == "true"
        items = []
        for region in regions or [scope[1] or "us-east-1"]:
            root = self.moto_ec2((scope[0], region, scope[2]),
                                 "DescribeAvailabilityZones", {})
            zones = [] if root is None else \
                [el.text for el in root.iter(ns_of(root) + "zoneId")]
            scores = {z: max([int(table.get(t, {}).get(z, default)) for t in types]
                             or [default]) for z in zones}
            if single:
                items += ["<item><region>%s</region><availabilityZoneId>%s"
                          "</availabilityZoneId><score>%d</score></item>" %
                          (xml_escape(region), xml_escape(z), scores[z]) for z in zones]
            elif zones:
                items.append("<item><region>%s</region><score>%d</score></item>" %
                             (xml_escape(region), max(scores.values())))
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<GetSpotPlacementScoresResponse '
                'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
                "<requestId>%s</requestId><spotPlacementScoreSet>%s"
                "</spotPlacementScoreSet></GetSpotPlacementScoresResponse>" %
                (uuid.uuid4(), "".join(items))).encode()
        return 200, "strict-placement-scores", [("Content-Type", "text/xml")], body

    def strict_refusal(self, service, action, pd, scope):
        """What strict mode answers instead of moto, or None."""
        with STATE.lock:
            st = strict_settings(STATE.config)
        if st is None:
            return None
        _, _, qs = self.path.partition("?")
        query = urllib.parse.parse_qs(qs, keep_blank_values=True)
        if service == "s3":
            return self.strict_s3(st, action, query, scope)
        if service == "ec2":
            self.os_shutdown(st, scope)
            return self.strict_ec2(st, action, pd, scope)
        return None

    def s3_max_keys(self, entry):
        """strict s3_max_keys: the path to forward a ListObjectsV2 with,
        its max-keys lowered to the cap of its prefix (None: unchanged)."""
        with STATE.lock:
            st = strict_settings(STATE.config)
        table = st["s3_max_keys"] if st is not None else None
        if not table:
            return None
        path, _, qs = self.path.partition("?")
        q = dict(urllib.parse.parse_qsl(qs, keep_blank_values=True))
        if isinstance(table, dict):
            cap, _ = lookup(table, q.get("prefix", ""))
        else:
            cap = table
        try:
            cap, asked = int(cap or 0), int(q.get("max-keys") or 1000)
        except ValueError:
            return None
        if cap <= 0 or asked <= cap:
            return None
        entry["fault"] = "strict-max-keys"
        if "max-keys" in q:
            qs = re.sub(r"(^|&)max-keys=[^&]*", r"\g<1>max-keys=%d" % cap, qs)
        else:
            qs += "&max-keys=%d" % cap
        return path + "?" + qs

    def os_shutdown(self, st, scope):
        """Terminate (through moto, once) the instances os_shutdown names."""
        with STATE.lock:
            todo = [i for i in st["os_shutdown"] or [] if i not in STATE.os_shut]
            STATE.os_shut.update(todo)
        for iid in todo:
            self.moto_ec2(scope, "TerminateInstances", {"InstanceId.1": iid})

    def os_shutdown_view(self, data):
        """DescribeInstances: the stateReason of a shutdown from inside."""
        with STATE.lock:
            shut = set(STATE.os_shut)
        if not shut:
            return data

        def edit(ns, inst):
            if inst.findtext(ns + "instanceId") not in shut:
                return False
            sr = inst.find(ns + "stateReason")
            if sr is None:
                sr = ET.SubElement(inst, ns + "stateReason")
            for tag, text in zip(("code", "message"), OS_SHUTDOWN_REASON):
                set_child(sr, ns, tag, text)
            return True

        return edit_instances(data, edit)

    def strict_record(self, action, pd, reqbody, data):
        """Remember what a successful call created (strict mode needs it)."""
        now = time.monotonic()
        if action == "CreateBucket":
            bucket = s3_bucket_of(self.headers.get("Host", ""), self.path)
            reg = "us-east-1"
            try:
                if reqbody.strip():
                    root = ET.fromstring(reqbody)
                    el = next((e for e in root.iter()
                               if e.tag.split("}")[-1] == "LocationConstraint"), None)
                    if el is not None and (el.text or "").strip():
                        reg = el.text.strip()
            except ET.ParseError:
                pass
            with STATE.lock:
                STATE.bucket_region[bucket] = reg
            return
        if action == "DeleteBucket":
            with STATE.lock:
                STATE.bucket_region.pop(s3_bucket_of(self.headers.get("Host", ""),
                                                     self.path), None)
            return
        try:
            root = ET.fromstring(data)
        except ET.ParseError:
            return
        ns = ns_of(root)
        with STATE.lock:
            if action == "CreateSecurityGroup":
                gid = root.findtext(ns + "groupId")
                for name in (gid, pd.get("GroupName")):
                    if name:
                        STATE.born[name] = ("security_group", now)
            elif action in ("CreateKeyPair", "ImportKeyPair"):
                for name in (root.findtext(ns + "keyName"), root.findtext(ns + "keyPairId")):
                    if name:
                        STATE.born[name] = ("key_pair", now)
            elif action == "RunInstances":
                flag = None
                for k, v in pd.items():
                    if re.fullmatch(r"NetworkInterface\.\d+\.AssociatePublicIpAddress", k):
                        flag = v.lower() == "true"
                for iid in instance_ids_in(data):
                    STATE.public_ip[iid] = flag

    def strict_view(self, action, data, scope):
        """Strict rewrites of a successful answer: hide the young, show
        status checks initializing, give addresses as EC2 would."""
        with STATE.lock:
            st = strict_settings(STATE.config)
        if st is None:
            return data
        hides = any(fnmatch.fnmatchcase(action, g) for g in st["invisible_actions"] or [])
        if action == "DescribeSecurityGroups" and hides:
            return self.hide_items(data, st, "securityGroupInfo", "groupId", "security_group")
        if action == "DescribeKeyPairs" and hides:
            return self.hide_items(data, st, "keySet", "keyName", "key_pair")
        if action == "DescribeInstances":
            data = self.os_shutdown_view(data)
        if action == "DescribeInstanceStatus":
            if hides:
                data = self.hide_items(data, st, "instanceStatusSet", "instanceId", "instance")
            return self.initializing(data, st)
        return data

    def hide_items(self, data, st, set_tag, id_tag, kind):
        root, ns, items = xml_items(data, set_tag)
        if root is None:
            return data
        changed = False
        for parent in root.iter(ns + set_tag):
            for it in list(parent.findall(ns + "item")):
                if self.young(kind, it.findtext(ns + id_tag), st):
                    parent.remove(it)
                    changed = True
        return xml_out(root, ns) if changed else data

    def initializing(self, data, st):
        secs = float(st["status_initializing_seconds"] or 0)
        if secs <= 0:
            return data
        root, ns, items = xml_items(data, "instanceStatusSet")
        if root is None:
            return data
        now = time.monotonic()
        with STATE.lock:
            launched = dict(STATE.launched)
        changed = False
        for it in items:
            born = launched.get(it.findtext(ns + "instanceId"))
            if born is None or now - born >= secs:
                continue
            for part in ("systemStatus", "instanceStatus"):
                el = it.find(ns + part)
                if el is None:
                    continue
                for holder in [el] + list(el.iter(ns + "item")):
                    s = holder.find(ns + "status")
                    if s is not None:
                        s.text = "initializing"
                        changed = True
        return xml_out(root, ns) if changed else data

    def strict_ips(self, data, st, ips, scope):
        """Public addresses as EC2 gives them: none for an instance in a
        subnet that maps none (unless it asked for one), and the reachable
        address of public_ips only when its security groups admit the caller."""
        root, ns, _ = xml_items(data, "instancesSet")
        if root is None:
            return data
        insts = [it for s in root.iter(ns + "instancesSet") for it in s.findall(ns + "item")
                 if it.findtext(ns + "instanceId")]
        if not insts:
            return data
        with STATE.lock:
            flags = dict(STATE.public_ip)
        subnets = {}
        if st["subnet_public_ip"]:
            want = sorted({it.findtext(ns + "subnetId") for it in insts
                           if flags.get(it.findtext(ns + "instanceId")) is None
                           and it.findtext(ns + "subnetId")})
            if want:
                q = {"Filter.1.Name": "subnet-id"}
                q.update({"Filter.1.Value.%d" % (i + 1): s for i, s in enumerate(want)})
                r = self.moto_ec2(scope, "DescribeSubnets", q)
                if r is not None:
                    rns = ns_of(r)
                    for it in r.iter(rns + "item"):
                        sid = it.findtext(rns + "subnetId")
                        if sid:
                            subnets[sid] = it.findtext(rns + "mapPublicIpOnLaunch") == "true"
        groups = {}
        if st["reachability"] and ips:
            want = sorted({g.text for it in insts for g in it.iter(ns + "groupId") if g.text})
            if want:
                q = {"Filter.1.Name": "group-id"}
                q.update({"Filter.1.Value.%d" % (i + 1): g for i, g in enumerate(want)})
                r = self.moto_ec2(scope, "DescribeSecurityGroups", q)
                if r is not None:
                    rns = ns_of(r)
                    for info in r.iter(rns + "securityGroupInfo"):
                        for it in info.findall(rns + "item"):
                            groups[it.findtext(rns + "groupId")] = it
        caller = ipaddress.ip_network(st["caller_cidr"], strict=False)
        for inst in insts:
            iid = inst.findtext(ns + "instanceId")
            public = flags.get(iid)
            if public is None:
                sid = inst.findtext(ns + "subnetId")
                public = subnets.get(sid, True) if st["subnet_public_ip"] and sid else True
            if not public:
                for el in list(inst.findall(ns + "ipAddress")):
                    inst.remove(el)
                dns = inst.find(ns + "dnsName")
                if dns is not None:
                    dns.text = None
                for nis in inst.findall(ns + "networkInterfaceSet"):
                    for ni in nis.findall(ns + "item"):
                        for el in list(ni.findall(ns + "association")):
                            ni.remove(el)
                        for pset in ni.findall(ns + "privateIpAddressesSet"):
                            for p in pset.findall(ns + "item"):
                                for el in list(p.findall(ns + "association")):
                                    p.remove(el)
                continue
            ip = ips.get(iid, ips.get("*"))
            if ip is None:
                continue
            if st["reachability"]:
                mine = [groups[g.text] for g in inst.iter(ns + "groupId") if g.text in groups]
                if not admits(mine, caller, int(st["reach_port"])):
                    ip = st["unreachable_ip"]
            el = inst.find(ns + "ipAddress")
            if el is None:
                el = ET.SubElement(inst, ns + "ipAddress")
            el.text = ip
        return xml_out(root, ns)

    # ---- the proxy ------------------------------------------------------

    def classify(self, body):
        _, _, qs = self.path.partition("?")
        query = urllib.parse.parse_qs(qs, keep_blank_values=True)
        service = service_of(self.headers, query)
        params = []
        ctype = self.headers.get("Content-Type", "")
        if self.command == "POST" and "x-www-form-urlencoded" in ctype:
            params = urllib.parse.parse_qsl(body.decode("utf-8", "replace"),
                                            keep_blank_values=True)
        if not params:
            params = urllib.parse.parse_qsl(qs, keep_blank_values=True)
        pd = dict(params)
        action = pd.get("Action")
        target = self.headers.get("X-Amz-Target", "")
        if not action and target:      # JSON protocol (SSM): AmazonSSM.GetParameter
            action = target.rpartition(".")[2]
        if not action:
            if service in ("unknown", "s3"):
                service = "s3"
                action = s3_action(self.command, self.path, query)
            else:
                action = "%s:%s" % (service, self.command)
        return service, action, params, pd

    def handle_any(self):
        start = time.time()
        body = self.read_body()
        if self.path.startswith("/__proxy/"):
            return self.control(body)
        service, action, params, pd = self.classify(body)
        entry = {"action": action, "service": service, "method": self.command,
                 "path": self.path.split("?", 1)[0], "client_token": pd.get("ClientToken"),
                 "status": None, "forwarded": False, "fault": None,
                 "replayed": False, "time": start, "seq": None, "duration": None,
                 "key_id": auth_key_id(self.headers.get("Authorization", ""),
                                       self.path.partition("?")[2]),
                 "params": {k: v for k, v in pd.items()
                            if k not in ("UserData", "PublicKeyMaterial")}}
        record(self, service, action, params)
        # Logged before anything is answered, and filled in as it goes
        # (status is set before the response is written), so a client that
        # reads the log right after its answer always finds its entry.
        with STATE.lock:
            STATE.seq += 1
            entry["seq"] = STATE.seq
            STATE.log.append(entry)
        try:
            self.process(entry, service, action, params, pd, body)
        finally:
            entry["duration"] = round(time.time() - start, 6)

    def pick_fault(self, action, pd=None):
        with STATE.lock:
            n = STATE.counts.get(action, 0) + 1
            STATE.counts[action] = n
            faults = STATE.config.get("faults") or []
            for i, f in enumerate(faults):
                fa = f.get("action", "*")
                if fa != action and not fnmatch.fnmatchcase(action, fa):
                    continue
                want = f.get("params") or {}
                if any(not fnmatch.fnmatchcase((pd or {}).get(k, ""), str(g))
                       for k, g in want.items()):
                    continue
                fired = STATE.fault_fired.get(i, 0)
                if "times" in f and fired >= f["times"]:
                    continue
                if "nth" in f:
                    nth = f["nth"]
                    ok = n in nth if isinstance(nth, list) else n == nth
                elif "probability" in f:
                    ok = STATE.rng.random() < float(f["probability"])
                else:
                    ok = bool(f.get("every", True))
                if ok:
                    STATE.fault_fired[i] = fired + 1
                    return f
        return None

    def rate_limited(self, service, action):
        with STATE.lock:
            table = STATE.config.get("rate_limits")
            lim, key = lookup(table, action)
            if lim is None:
                lim, key = lookup(table, "%s:%s" % (service, action))
            if lim is None:
                return False
            scale = float(STATE.config.get("rate_scale", 1.0))
            burst = float(lim.get("burst", 1))
            rate = float(lim.get("rate", 0)) * scale
            now = time.monotonic()
            b = STATE.buckets.get(key)
            if b is None:
                b = STATE.buckets[key] = [burst, now]
            b[0] = min(burst, b[0] + (now - b[1]) * rate)
            b[1] = now
            if b[0] >= 1.0:
                b[0] -= 1.0
                return False
            return True

    def process(self, entry, service, action, params, pd, body):
        head = self.command == "HEAD"
        with STATE.lock:
            delay, _ = lookup(STATE.config.get("latency"), action)
        if delay:
            time.sleep(float(delay))

        if self.rate_limited(service, action):
            entry["fault"] = "throttled"
            entry["status"] = 503
            code = "RequestLimitExceeded" if service == "ec2" else \
                ("SlowDown" if service == "s3" else "Throttling")
            return self.send(503, [("Content-Type", "text/xml")],
                             error_body(service, code, "Request limit exceeded."), head)

        fault = self.pick_fault(action, pd)
        if fault and fault.get("drop") == "before":
            entry["fault"] = "drop-before"
            return self.drop()
        if fault and "status" in fault:
            entry["fault"] = "error"
            entry["status"] = int(fault["status"])
            code = fault.get("code", "InternalError")
            msg = fault.get("message", "injected by faultproxy")
            return self.send(entry["status"], [("Content-Type", "text/xml")],
                             error_body(service, code, msg), head)

        _, _, qs = self.path.partition("?")
        scope = cred_scope(self.headers, urllib.parse.parse_qs(qs))
        refusal = self.strict_refusal(service, action, pd, scope)
        if refusal:
            entry["status"], entry["fault"], rh, rb = refusal
            return self.send(entry["status"], rh, rb, head)

        if action == "GetConsoleOutput":
            with STATE.lock:
                outputs = STATE.config.get("console_output") or {}
            iid = pd.get("InstanceId", "")
            text = outputs.get(iid, outputs.get("*"))
            if text is not None:
                entry["status"] = 200
                entry["fault"] = "console-output"
                return self.send(200, [("Content-Type", "text/xml")],
                                 console_output_body(iid, text), head)

        if action == "RunInstances" and pd.get("ClientToken") and \
                STATE.config.get("idempotency", True):
            return self.run_idempotent(entry, service, params, pd, body, fault, scope)

        path = self.s3_max_keys(entry) if action == "ListObjectsV2" else None
        status, headers, data = self.forward(body, path)
        entry["forwarded"] = True
        entry["status"] = status
        if 200 <= status < 300:
            self.strict_record(action, pd, body, data)
        data = self.postprocess(action, pd, status, data, scope)
        if not isinstance(data, tuple) and 200 <= status < 300:
            data = self.strict_view(action, data, scope)
        if isinstance(data, tuple):
            entry["status"] = data[0]
            return self.send(data[0], [("Content-Type", "text/xml")], data[1], head)
        if fault and fault.get("drop") == "after":
            entry["fault"] = "drop-after"
            return self.drop()
        if fault and fault.get("drop") == "mid" and not head:
            cut = int(fault.get("after_bytes", len(data) // 2))
            cut = max(0, min(cut, len(data) - 1))
            entry["fault"] = "drop-mid"
            entry["body_bytes"] = len(data)
            entry["sent_bytes"] = cut
            return self.send(status, headers, data, head, cut=cut)
        return self.send(status, headers, data, head)

    def run_idempotent(self, entry, service, params, pd, body, fault, scope):
        token = pd["ClientToken"]
        fp = params_fingerprint(params)
        with STATE.lock:
            tl = STATE.token_locks.setdefault(token, threading.Lock())
        with tl:
            with STATE.lock:
                seen = STATE.tokens.get(token)
            if seen is not None and seen["fp"] != fp:
                entry["status"] = 400
                entry["fault"] = "idempotent-mismatch"
                return self.send(400, [("Content-Type", "text/xml")], error_body(
                    service, "IdempotentParameterMismatch",
                    "Arguments on this idempotent request are inconsistent with "
                    "arguments used in previous request(s)."))
            if seen is not None:
                entry["replayed"] = True
                status, headers, data = seen["status"], seen["headers"], seen["body"]
            else:
                status, headers, data = self.forward(body)
                entry["forwarded"] = True
                if 200 <= status < 300:
                    now = time.monotonic()
                    self.strict_record("RunInstances", pd, body, data)
                    with STATE.lock:
                        for iid in instance_ids_in(data):
                            STATE.launched[iid] = now
                        STATE.tokens[token] = {"fp": fp, "status": status,
                                               "headers": headers, "body": data}
        entry["status"] = status
        if 200 <= status < 300:
            data = self.rewrite(data, hide=False)
            data = self.rewrite_ips(data, scope)
        if fault and fault.get("drop") == "after":
            entry["fault"] = "drop-after"
            return self.drop()
        return self.send(status, headers, data)

    def invisible_seconds(self):
        """How long a launched instance is missing from DescribeInstances:
        invisible_seconds, or strict mode's instance delay if longer."""
        invisible_s = float(STATE.config.get("invisible_seconds", 0))
        st = strict_settings(STATE.config)
        if st is not None and any(fnmatch.fnmatchcase("DescribeInstances", g)
                                  for g in st["invisible_actions"] or []):
            invisible_s = max(invisible_s,
                              float((st["invisible"] or {}).get("instance", 0) or 0))
        return invisible_s

    def rewrite(self, data, hide):
        with STATE.lock:
            pending_s = float(STATE.config.get("pending_seconds", 0))
            invisible_s = self.invisible_seconds()
            launched = dict(STATE.launched)
        if not launched or (pending_s <= 0 and invisible_s <= 0):
            return data
        return rewrite_instances(data, time.monotonic(), pending_s, invisible_s,
                                 launched, hide)

    def rewrite_ips(self, data, scope):
        with STATE.lock:
            ips = dict(STATE.config.get("public_ips") or {})
            st = strict_settings(STATE.config)
        if st is not None and (st["subnet_public_ip"] or (st["reachability"] and ips)):
            return self.strict_ips(data, st, ips, scope)
        return rewrite_public_ips(data, ips) if ips else data

    def postprocess(self, action, pd, status, data, scope):
        if not 200 <= status < 300:
            return data
        if action == "RunInstances":
            now = time.monotonic()
            with STATE.lock:
                for iid in instance_ids_in(data):
                    STATE.launched[iid] = now
            return self.rewrite_ips(self.rewrite(data, hide=False), scope)
        if action == "DescribeInstances":
            with STATE.lock:
                invisible_s = self.invisible_seconds()
                launched = dict(STATE.launched)
            asked = [v for k, v in pd.items() if k.startswith("InstanceId.")]
            now = time.monotonic()
            hidden = [i for i in asked if i in launched and now - launched[i] < invisible_s]
            if hidden:
                return (400, error_body("ec2", "InvalidInstanceID.NotFound",
                                        "The instance ID '%s' does not exist" % hidden[0]))
            return self.rewrite_ips(self.rewrite(data, hide=True), scope)
        return data

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


RECORD = {"file": None, "lock": threading.Lock()}
# Values a record never holds (instance scripts, key material): replaced by
# a marker that keeps their presence and length for the conformance check.
RECORD_REDACT = ("UserData", "PublicKeyMaterial")


def record(handler, service, action, params):
    """Append one JSON line per proxied request to --record's file: what
    the conformance and IAM policy checks (tests/harness/conformance.py,
    iam_policy.py) read after the whole suite.  Unlike the log, a reset
    does not clear it."""
    if RECORD["file"] is None:
        return
    qs = handler.path.partition("?")[2]
    doc = {"service": service, "action": action, "method": handler.command,
           "host": handler.headers.get("Host", ""),
           "path": handler.path.split("?", 1)[0],
           "ua": handler.headers.get("User-Agent", ""),
           "presigned": "X-Amz-Signature=" in qs,
           "auth_scope": auth_scope(handler.headers.get("Authorization", ""), qs),
           "params": [[k, "<redacted:%d>" % len(v) if k in RECORD_REDACT else v]
                      for k, v in params]}
    line = json.dumps(doc, sort_keys=True) + "\n"
    with RECORD["lock"]:
        RECORD["file"].write(line)
        RECORD["file"].flush()


def auth_key_id(authz, qs):
    """The SigV4 access key id that signed the request ("" if none): tells
    apart clients that sign with different keys."""
    m = re.search(r"Credential=([^/,&\s]+)/", authz)
    if m is None:
        return urllib.parse.parse_qs(qs).get("X-Amz-Credential", [""])[0].split("/", 1)[0]
    return m.group(1)


def auth_scope(authz, qs):
    """The SigV4 credential scope (date/region/service/aws4_request)."""
    m = re.search(r"Credential=[^/,&\s]+/([^,&\s]+)", authz)
    if m is None:
        cred = urllib.parse.parse_qs(qs).get("X-Amz-Credential", [""])[0]
        return cred.split("/", 1)[1] if "/" in cred else ""
    return m.group(1)


def main():
    global STATE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen-host", default="127.0.0.1")
    ap.add_argument("--listen-port", type=int, required=True)
    ap.add_argument("--upstream", required=True, help="moto_server base URL")
    ap.add_argument("--record", help="append every request as a JSON line to this file")
    ap.add_argument("--strict", nargs="?", const="{}", default=None, metavar="JSON",
                    help="strict mode on (after every reset too), with these settings")
    args = ap.parse_args()
    if args.record:
        RECORD["file"] = open(args.record, "a", encoding="utf-8")
    strict = None
    if args.strict is not None:
        strict = json.loads(args.strict or "{}")
        if not isinstance(strict, dict):
            ap.error("--strict: a JSON object")
        strict.pop("enabled", None)
    STATE = State(args.upstream, strict)
    srv = Server((args.listen_host, args.listen_port), Handler)
    print("faultproxy listening on %s:%d -> %s%s" % (args.listen_host, args.listen_port,
                                                     args.upstream,
                                                     " (strict)" if strict is not None else ""),
          flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
