"""itlib.py - what the integration tests share: checks that count, and the
independent clients (aws CLI straight to moto, psql) plus the fault proxy's
control API and the envctl binary.

    import itlib
    t = itlib.Checks()
    t.check(cond, "what was checked")
    ...
    sys.exit(t.finish())          # prints "N passed, M failed"

Environment (from tests/harness/with-aws.sh and with-pg.sh): ENVCTL_BIN,
ENVCTL_MOTO_URL, ENVCTL_PROXY_URL, PG* variables.
"""

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import urllib.request

ENVCTL = os.environ.get("ENVCTL_BIN", "envctl")
MOTO = os.environ.get("ENVCTL_MOTO_URL", "")
PROXY = os.environ.get("ENVCTL_PROXY_URL", "")

# A small valid spec: format with name and on_drift.
SPEC = textwrap.dedent("""\
    apiVersion: envctl/v1
    kind: Environment
    metadata:
      name: {name}
      workspace: it
    spec:
      instance: {{type: t3.micro, image: al2023}}
      access:
        ssh: {{key: auto, allow_from: [203.0.113.7/32]}}
      lifecycle: {{on_drift: {on_drift}}}
    """)

# Every temporary file or directory a test makes with the tempfile module
# lands under one scratch directory of this process, removed at exit, pass
# or fail (SIGTERM from ctest's timeout included).
SCRATCH = tempfile.mkdtemp(prefix="envctl-it-")
tempfile.tempdir = SCRATCH
atexit.register(shutil.rmtree, SCRATCH, True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


class Checks:
    """Counts checks; a failed one is reported and the run goes on."""

    def __init__(self):
        self.passed, self.failed = [], []

    def check(self, cond, what):
        print(("ok   " if cond else "FAIL ") + what, flush=True)
        (self.passed if cond else self.failed).append(what)
        return cond

    def finish(self):
        print("%d passed, %d failed" % (len(self.passed), len(self.failed)))
        return 1 if self.failed or not self.passed else 0


def aws(*args, region="us-east-1"):
    """The aws CLI straight to moto (not through the proxy); parsed JSON."""
    r = subprocess.run(["aws", "--endpoint-url", MOTO, "--region", region,
                        "--output", "json", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("aws %s: %s" % (" ".join(args[:2]), r.stderr.strip()))
    return json.loads(r.stdout) if r.stdout.strip() else {}


def psql(sql):
    """One statement through psql; unaligned, tuples only."""
    return subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
                          check=True, capture_output=True, text=True).stdout


def proxy(path, body=None):
    """The fault proxy's control API: GET, or POST with a JSON body."""
    req = urllib.request.Request(PROXY + path, method="POST" if body is not None else "GET",
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"{}")


def envctl(*args, env=None, timeout=600):
    """Run the envctl binary; returns the CompletedProcess."""
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([ENVCTL, *args], capture_output=True, text=True, env=e,
                          timeout=timeout)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
