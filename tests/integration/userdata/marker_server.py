#!/usr/bin/env python3
"""Stands in for S3 presigned URLs: stores every PUT body as
STOREDIR/<n>.json with the request path in STOREDIR/<n>.path, and answers
GET /secrets.env... with the contents of SECRETS (404 for other paths).
Binds 127.0.0.1 on a free port and writes the port to PORTFILE."""
import http.server
import os
import sys

portfile, store, secrets = sys.argv[1], sys.argv[2], sys.argv[3]
count = [0]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        count[0] += 1
        with open(os.path.join(store, f"{count[0]}.path"), "w") as f:
            f.write(self.path)
        with open(os.path.join(store, f"{count[0]}.json"), "wb") as f:
            f.write(body)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        if not self.path.startswith("/secrets.env"):
            self.send_error(404)
            return
        with open(secrets, "rb") as f:
            body = f.read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
