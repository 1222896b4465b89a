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

Python 3.11 standard library only.  Usage:

    faultproxy.py --listen-port P --upstream http://127.0.0.1:M

Control API on the same port (JSON in, JSON out):

  GET  /__proxy/health           {"ok": true}
  POST /__proxy/config           merge a config document (see CONFIG below)
  GET  /__proxy/config           the current config
  POST /__proxy/reset            forget config, log, tokens, launch times;
                                 also resets moto unless {"moto": false}
  GET  /__proxy/log[?action=A]   {"entries": [...]} (oldest first); each entry:
                                 action, service, method, path, client_token,
                                 status, forwarded, fault, replayed, time,
                                 duration, seq, params (Query protocol form
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
               "probability": 0.5,                        # or a probability
               "times": 1,                                # at most this often
               "status": 503, "code": "Unavailable", "message": "...",
               "drop": "before" | "after" | "mid",       # or drop the connection
               "after_bytes": 1000}],                    # mid: body bytes sent
   "latency": {"DescribeInstances": 0.2, "*": 0.0},
   "public_ips": {"*": "127.0.0.1", "i-0abc": "127.0.0.2"},
   "console_output": {"*": "text", "i-0abc": "other text"}}

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

    def __init__(self, upstream):
        self.upstream = urllib.parse.urlsplit(upstream)
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

    def merge(self, doc):
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


def rewrite_public_ips(body, ips):
    """Set <ipAddress> of the instances ips names ("*": all) in an answer."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return body
    ns = ns_of(root)
    changed = False
    for iset in root.iter(ns + "instancesSet"):
        for inst in iset.findall(ns + "item"):
            iid = inst.findtext(ns + "instanceId")
            ip = ips.get(iid, ips.get("*"))
            if not iid or ip is None:
                continue
            el = inst.find(ns + "ipAddress")
            if el is None:
                el = ET.SubElement(inst, ns + "ipAddress")
            el.text = ip
            changed = True
    if not changed:
        return body
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + \
        ET.tostring(root, default_namespace=ns[1:-1] or None)


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

    def forward(self, body):
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
            conn.putrequest(self.command, self.path, skip_host=True,
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

    def pick_fault(self, action):
        with STATE.lock:
            n = STATE.counts.get(action, 0) + 1
            STATE.counts[action] = n
            faults = STATE.config.get("faults") or []
            for i, f in enumerate(faults):
                fa = f.get("action", "*")
                if fa != action and not fnmatch.fnmatchcase(action, fa):
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

        fault = self.pick_fault(action)
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
            return self.run_idempotent(entry, service, params, pd, body, fault)

        status, headers, data = self.forward(body)
        entry["forwarded"] = True
        entry["status"] = status
        data = self.postprocess(action, pd, status, data)
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

    def run_idempotent(self, entry, service, params, pd, body, fault):
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
                    with STATE.lock:
                        for iid in instance_ids_in(data):
                            STATE.launched[iid] = now
                        STATE.tokens[token] = {"fp": fp, "status": status,
                                               "headers": headers, "body": data}
        entry["status"] = status
        if 200 <= status < 300:
            data = self.rewrite(data, hide=False)
            data = self.rewrite_ips(data)
        if fault and fault.get("drop") == "after":
            entry["fault"] = "drop-after"
            return self.drop()
        return self.send(status, headers, data)

    def rewrite(self, data, hide):
        with STATE.lock:
            pending_s = float(STATE.config.get("pending_seconds", 0))
            invisible_s = float(STATE.config.get("invisible_seconds", 0))
            launched = dict(STATE.launched)
        if not launched or (pending_s <= 0 and invisible_s <= 0):
            return data
        return rewrite_instances(data, time.monotonic(), pending_s, invisible_s,
                                 launched, hide)

    def rewrite_ips(self, data):
        with STATE.lock:
            ips = dict(STATE.config.get("public_ips") or {})
        return rewrite_public_ips(data, ips) if ips else data

    def postprocess(self, action, pd, status, data):
        if not 200 <= status < 300:
            return data
        if action == "RunInstances":
            now = time.monotonic()
            with STATE.lock:
                for iid in instance_ids_in(data):
                    STATE.launched[iid] = now
            return self.rewrite_ips(self.rewrite(data, hide=False))
        if action == "DescribeInstances":
            with STATE.lock:
                invisible_s = float(STATE.config.get("invisible_seconds", 0))
                launched = dict(STATE.launched)
            asked = [v for k, v in pd.items() if k.startswith("InstanceId.")]
            now = time.monotonic()
            hidden = [i for i in asked if i in launched and now - launched[i] < invisible_s]
            if hidden:
                return (400, error_body("ec2", "InvalidInstanceID.NotFound",
                                        "The instance ID '%s' does not exist" % hidden[0]))
            return self.rewrite_ips(self.rewrite(data, hide=True))
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
    args = ap.parse_args()
    if args.record:
        RECORD["file"] = open(args.record, "a", encoding="utf-8")
    STATE = State(args.upstream)
    srv = Server((args.listen_host, args.listen_port), Handler)
    print("faultproxy listening on %s:%d -> %s" % (args.listen_host, args.listen_port,
                                                   args.upstream), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
