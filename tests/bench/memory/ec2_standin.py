#!/usr/bin/env python3
"""ec2_standin.py TEMPLATE.xml PORT - a stand-in for EC2 DescribeInstances
only, for bench_memory.py --standin: pages of 1,000 (NextToken = offset),
one instance per row of the environments table (psql, PG* variables),
each rendered from TEMPLATE.xml (a DescribeInstances answer moto gave for
one of them) with that row's instance id, env name, env id and spec hash.

Why: moto filters tags in Python over every instance for every page; with
10,000 instances one page takes minutes (past envctl's 60 s timeout), so
envctl cannot be measured at 10,000 against moto on this machine.  A
no-op pass makes no other AWS call.  Prints "ready N" when listening."""
import re, subprocess, sys, urllib.parse
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
one = open(sys.argv[1]).read()
res = re.search(r"<reservationSet>(<item>.*</item>)</reservationSet>", one, re.S).group(1)
rows = [l.split("|") for l in subprocess.run(["psql", "-X", "-At", "-c",
        "SELECT name, id, spec_hash, instance_id FROM environments ORDER BY name"],
        capture_output=True, text=True, check=True).stdout.split()]
n0, id0, h0, i0 = rows[0]
r0 = re.search(r"<reservationId>([^<]*)</reservationId>", res).group(1)
def item(k, r):
    n, eid, h, iid = r
    return (res.replace(i0, iid).replace(id0, eid).replace(h0, h).replace(r0, "r-%017x" % k)
            .replace(">" + n0 + "<", ">" + n + "<").replace(">envctl-" + n0 + "<", ">envctl-" + n + "<"))
items = [item(k, r) for k, r in enumerate(rows)]
head, tail = one.split("<reservationSet>")[0], "</DescribeInstancesResponse>"
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        q = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        off = int(q.get("NextToken", ["0"])[0])
        page = items[off:off + 1000]
        nxt = "<nextToken>%d</nextToken>" % (off + 1000) if off + 1000 < len(items) else ""
        body = (head + "<reservationSet>" + "".join(page) + "</reservationSet>" + nxt + tail).encode()
        self.send_response(200); self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
s = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), H)
print("ready", len(items), flush=True)
s.serve_forever()
