#!/usr/bin/env python3
"""A git smart-HTTP server for tests: git http-backend behind HTTP Basic auth.

usage: git_http.py PORTFILE PROJECT_ROOT USER TOKEN [CERT KEY]
Listens on 127.0.0.1 (a free port, written to PORTFILE), accepts only
"USER:TOKEN", and logs one line per request (method, path, status, and
the user name of any Authorization header) to stdout.  With CERT and KEY
(PEM files) it speaks https.
"""
import base64
import http.server
import os
import ssl
import subprocess
import sys

PORTFILE, ROOT, USER, TOKEN = sys.argv[1:5]
WANT = "Basic " + base64.b64encode(("%s:%s" % (USER, TOKEN)).encode()).decode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def log_request_line(self, status):
        """One line per request, written before the answer is sent: once a
        client has its answer, a test reading the log sees the line."""
        user = ""
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                user = base64.b64decode(auth[6:]).decode().partition(":")[0]
            except ValueError:
                user = "?"
        print("%s %s %d user=%s" % (self.command, self.path, status, user), flush=True)

    def handle_any(self):
        data = self.body() if self.command == "POST" else b""
        if self.headers.get("Authorization") != WANT:
            self.log_request_line(401)
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            path, _, query = self.path.partition("?")
            env = dict(os.environ, GIT_PROJECT_ROOT=ROOT, GIT_HTTP_EXPORT_ALL="1",
                       PATH_INFO=path, QUERY_STRING=query, REQUEST_METHOD=self.command,
                       CONTENT_TYPE=self.headers.get("Content-Type", ""),
                       CONTENT_LENGTH=str(len(data)), REMOTE_USER=USER,
                       REMOTE_ADDR="127.0.0.1")
            if self.headers.get("Content-Encoding"):
                env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
            out = subprocess.run(["git", "http-backend"], input=data, env=env,
                                 capture_output=True).stdout
            head, _, payload = out.partition(b"\r\n\r\n")
            status = 200
            headers = []
            for line in head.split(b"\r\n"):
                k, _, v = line.decode().partition(":")
                if k.lower() == "status":
                    status = int(v.strip().split()[0])
                elif k:
                    headers.append((k, v.strip()))
            self.log_request_line(status)
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    do_GET = handle_any
    do_POST = handle_any


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
if len(sys.argv) > 6:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[5], sys.argv[6])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
