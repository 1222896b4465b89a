#!/usr/bin/env python3
"""imds_stub.py - a tiny EC2 instance metadata service (IMDSv2) for tests.

Binds 127.0.0.1 on a free port and prints that port on stdout (one line)
once it accepts connections.  The test stops it by pid.

  --role NAME          role under iam/security-credentials/ ("" = none)
  --key-prefix P       AccessKeyId is P + a 4-digit counter per credential fetch
  --secret S --token T SecretAccessKey and Token in the role document
  --expiration EPOCH   Expiration (UTC seconds); default now + 6 h
  --mode MODE          normal | hang-token (token PUT never answers) |
                       forbid-token (token PUT answers 403) | bad-json
  --log FILE           one line per request: "METHOD PATH token=yes|no ttl=..."
  --spot-dir DIR       spot notices: GET meta-data/spot/instance-action and
                       meta-data/events/recommendations/rebalance answer
                       200 with the file DIR/instance-action (DIR/rebalance)
                       while it exists, else 404 (a test creates them)

IMDSv2 rules enforced: the token PUT needs X-aws-ec2-metadata-token-ttl-seconds
(1..21600), and every GET needs a token this stub issued (else 401).
"""
import argparse
import datetime
import http.server
import json
import secrets
import sys
import threading
import time

ROLE_PATH = "/latest/meta-data/iam/security-credentials/"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", default="envctl-dev")
    ap.add_argument("--key-prefix", default="ASIAIMDSSTUB")
    ap.add_argument("--secret", default="imds-secret")
    ap.add_argument("--token", default="imds-token")
    ap.add_argument("--expiration", type=int, default=0)
    ap.add_argument("--mode", default="normal")
    ap.add_argument("--log", default="")
    ap.add_argument("--spot-dir", default="")
    args = ap.parse_args()

    tokens = set()
    state = {"fetches": 0}
    lock = threading.Lock()

    def record(line):
        if args.log:
            with lock, open(args.log, "a") as f:
                f.write(line + "\n")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def send(self, status, body=b"", ctype="text/plain"):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self):
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            record("PUT %s token=no ttl=%s" % (self.path, ttl))
            if args.mode == "hang-token":
                time.sleep(60)
                return
            if args.mode == "forbid-token":
                return self.send(403, b"forbidden")
            if self.path != "/latest/api/token":
                return self.send(404, b"not found")
            try:
                ok = ttl is not None and 1 <= int(ttl) <= 21600
            except ValueError:
                ok = False
            if not ok:
                return self.send(400, b"bad ttl")
            tok = secrets.token_urlsafe(24)
            with lock:
                tokens.add(tok)
            self.send(200, tok.encode())

        def do_GET(self):
            tok = self.headers.get("X-aws-ec2-metadata-token")
            record("GET %s token=%s" % (self.path, "yes" if tok else "no"))
            with lock:
                valid = tok in tokens
            if not valid:
                return self.send(401, b"unauthorized")
            if self.path == ROLE_PATH:
                if not args.role:
                    return self.send(404, b"not found")
                return self.send(200, (args.role + "\n").encode())
            if args.role and self.path == ROLE_PATH + args.role:
                if args.mode == "bad-json":
                    return self.send(200, b"{not json " + args.secret.encode())
                with lock:
                    state["fetches"] += 1
                    n = state["fetches"]
                exp = args.expiration or int(time.time()) + 6 * 3600
                doc = {
                    "Code": "Success",
                    "LastUpdated": "2026-01-01T00:00:00Z",
                    "Type": "AWS-HMAC",
                    "AccessKeyId": "%s%04d" % (args.key_prefix, n),
                    "SecretAccessKey": args.secret,
                    "Token": args.token,
                    "Expiration": datetime.datetime.fromtimestamp(
                        exp, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
                return self.send(200, json.dumps(doc).encode(), "application/json")
            spot = {"/latest/meta-data/spot/instance-action": "instance-action",
                    "/latest/meta-data/events/recommendations/rebalance": "rebalance"}
            if args.spot_dir and self.path in spot:
                try:
                    with open("%s/%s" % (args.spot_dir, spot[self.path]), "rb") as f:
                        return self.send(200, f.read(), "application/json")
                except FileNotFoundError:
                    pass
            self.send(404, b"not found")

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
