#!/usr/bin/env python3
"""Integration test: the spot interruption watcher really runs.

usage: run_spot_watcher.py USERDATA_RENDER

Renders the bootstrap of a real spot spec (tests/integration/userdata/
spotty.yaml, parsed by lib/spec) and runs it with bash in a sandbox
(ENVCTL_ROOT, stand-ins on PATH as in run_bootstrap.py, but a runuser that
really runs its command and a wall that records its message).  The
bootstrap starts the watcher in the background (no systemd in the
sandbox); the watcher polls a fake IMDSv2 (tests/harness/imds_stub.py
--spot-dir: a GET without the token is refused) every 0.2 s and PUTs its
marker with the real curl to marker_server.py.  Checked:
  - nothing noticed: no command, no wall, no marker, for several polls;
  - instance-action: the on_interruption commands ran once (in the
    workspace, quoting intact), wall warned, the marker has kind
    interruption, the notice time and exit status 0, and the watcher ended;
  - a rebalance recommendation: commands once, marker kind rebalance,
    the watcher keeps watching;
  - commands slower than the timeout are killed, the marker still goes
    (exit status 124).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from run_bootstrap import puts   # the marker server's PUTs, in order

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
RENDER = sys.argv[1]
FAKES = ["docker", "git", "dnf", "yum", "apt-get", "systemctl", "usermod",
         "getent", "chown", "ssh-keyscan"]
NOTICE = "2026-12-07T22:10:00Z"
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


def wait_for(pred, secs=10.0):
    end = time.time() + secs
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def start(argv, portfile=None):
    if portfile is None:
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        return p, int(p.stdout.readline())
    p = subprocess.Popen(argv)
    check(wait_for(lambda: os.path.exists(portfile)), "server did not start")
    with open(portfile, encoding="utf-8") as f:
        return p, int(f.read())


def interrupted(store):
    return [json.loads(b) for p, b in puts(store) if p.startswith("/interrupted")]


class Sandbox:
    def __init__(self, top, name, imds_port):
        self.dir = os.path.join(top, name)
        self.root = os.path.join(self.dir, "root")
        self.bin = os.path.join(self.dir, "bin")
        self.log = os.path.join(self.dir, "calls.jsonl")
        self.walls = os.path.join(self.dir, "walls")
        os.makedirs(os.path.join(self.root, "etc", "ssh"))
        os.makedirs(os.path.join(self.root, "home", "ec2-user"))
        os.makedirs(self.bin)
        for f in FAKES:
            os.symlink(os.path.join(HERE, "fake_cmd.py"), os.path.join(self.bin, f))
        with open(os.path.join(self.bin, "runuser"), "w", encoding="utf-8") as f:
            f.write('#!/bin/sh\n# runuser -u USER -- CMD...: run CMD (as us)\n'
                    'while [ "$1" != "--" ]; do shift; done; shift; exec "$@"\n')
        with open(os.path.join(self.bin, "wall"), "w", encoding="utf-8") as f:
            f.write(f'#!/bin/sh\nprintf "%s\\n" "$*" >>"{self.walls}"\n')
        os.chmod(os.path.join(self.bin, "runuser"), 0o755)
        os.chmod(os.path.join(self.bin, "wall"), 0o755)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                        os.path.join(self.root, "etc", "ssh", "ssh_host_ed25519_key")],
                       check=True)
        self.env = {"PATH": self.bin + ":/usr/bin:/bin", "ENVCTL_ROOT": self.root,
                    "FAKE_LOG": self.log, "LANG": "C",
                    "ENVCTL_IMDS": f"http://127.0.0.1:{imds_port}",
                    "ENVCTL_WATCH_POLL": "0.2"}
        self.state = os.path.join(self.root, "var", "lib", "envctl")
        self.ws = os.path.join(self.root, "home", "ec2-user")
        self.watcher = os.path.join(self.root, "usr", "local", "sbin",
                                    "envctl-spot-watcher")

    def bootstrap(self, script):
        path = os.path.join(self.dir, "user-data.sh")
        with open(path, "w", encoding="utf-8") as f:
            f.write(script)
        return subprocess.run(["bash", path], env=self.env, cwd=self.dir,
                              timeout=60).returncode

    def pid(self):
        with open(os.path.join(self.state, "spot-watcher.pid"), encoding="utf-8") as f:
            return int(f.read())

    def wall_lines(self):
        if not os.path.exists(self.walls):
            return []
        with open(self.walls, encoding="utf-8") as f:
            return f.read().splitlines()

    def read(self, name):
        p = os.path.join(self.ws, name)
        if not os.path.exists(p):
            return None
        with open(p, encoding="utf-8") as f:
            return f.read()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not alive: the watcher's parent (bash) is gone, init reaps
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def render(argv):
    p = subprocess.run([RENDER] + argv, capture_output=True, text=True)
    check(p.returncode == 0, f"render failed: {p.stderr.strip()}")
    return p.stdout


def main():
    top = tempfile.mkdtemp(prefix="envctl-spot-")
    spot_dir = os.path.join(top, "imds")
    os.makedirs(spot_dir)
    store = os.path.join(top, "puts")
    os.makedirs(store)
    secrets = os.path.join(top, "secrets")
    open(secrets, "w").close()
    imds_log = os.path.join(top, "imds.log")
    imds, iport = start([sys.executable, os.path.join(SRC, "tests", "harness",
                         "imds_stub.py"), "--role", "", "--spot-dir", spot_dir,
                         "--log", imds_log])
    srv, mport = start([sys.executable, os.path.join(HERE, "marker_server.py"),
                        os.path.join(top, "port"), store, secrets],
                       os.path.join(top, "port"))
    base = f"http://127.0.0.1:{mport}"
    launch = ["--env-id", "0b7e6a3c-1111-4222-8333-444455556666",
              "--public-key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake dev",
              "--marker-url", base + "/bootstrap-done.json?X-Amz-Signature=ab",
              "--interrupt-url", base + "/interrupted/x.json?X-Amz-Signature=cd&b=1"]
    pids = []
    try:
        # the stub is IMDSv2: a GET without the token is refused
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                            f"http://127.0.0.1:{iport}/latest/meta-data/spot/instance-action"],
                           capture_output=True, text=True)
        check(r.stdout == "401", f"IMDS stub answered a tokenless GET with {r.stdout}")
        os.remove(imds_log)     # only the watcher's requests from here on

        # an on-demand spec gets no watcher
        od = render(["--name", "od"] + launch[:6])
        check("envctl-spot-watcher" not in od, "on-demand script has a watcher")

        # 1. the real spec: bootstrap starts the watcher; nothing, then instance-action
        script = render(["--spec", os.path.join(HERE, "spotty.yaml")] + launch)
        check("envctl-spot-watcher" in script, "spot script has no watcher")
        sb = Sandbox(top, "a", iport)
        check(sb.bootstrap(script) == 0, "bootstrap failed")
        check(wait_for(lambda: os.path.exists(os.path.join(sb.state,
              "spot-watcher.pid"))), "watcher did not start")
        pid = sb.pid()
        pids.append(pid)
        time.sleep(1.5)
        check(alive(pid), "watcher is not running")
        check(interrupted(store) == [], "marker without a notice")
        check(sb.read("saved.txt") is None, "commands ran without a notice")
        check(sb.wall_lines() == [], "wall without a notice")
        with open(imds_log, encoding="utf-8") as f:
            lines = f.read().splitlines()
        gets = [ln for ln in lines if ln.startswith("GET ")]
        check(len(gets) >= 6, f"watcher polled {len(gets)} times in 1.5 s")
        check(all("token=yes" in ln for ln in gets), "a GET without the token")
        check(any(ln.startswith("PUT /latest/api/token") for ln in lines),
              "no token PUT")
        with open(os.path.join(spot_dir, "instance-action"), "w") as f:
            json.dump({"action": "terminate", "time": NOTICE}, f)
        check(wait_for(lambda: not alive(pid)), "watcher did not end after the notice")
        m = interrupted(store)
        check(len(m) == 1, f"{len(m)} interrupted markers, wanted 1")
        if m:
            check(m[0]["kind"] == "interruption" and m[0]["action"] == "terminate"
                  and m[0]["notice_time"] == NOTICE and m[0]["exit_code"] == 0
                  and m[0]["env_id"] == launch[1], f"marker {m[0]}")
            with open(os.path.join(top, "m.json"), "w") as f:
                json.dump(m[0], f)
            r = subprocess.run([RENDER, "--parse-interrupt", os.path.join(top, "m.json")],
                               capture_output=True, text=True)
            check(r.stdout.split() == [launch[1], "interruption", "terminate",
                  NOTICE, "0"], f"parsed marker: {r.stdout!r} {r.stderr!r}")
        check(sb.read("saved.txt") == "saved\n", f"saved.txt: {sb.read('saved.txt')!r}")
        check(sb.read("quoted.txt") == "it's $HOME; x\n",
              f"quoted.txt: {sb.read('quoted.txt')!r}")
        walls = sb.wall_lines()
        check(len(walls) == 1 and "interruption notice" in walls[0], f"wall: {walls}")
        os.remove(os.path.join(spot_dir, "instance-action"))

        # 2. a rebalance recommendation: once, marker rebalance, keeps watching
        with open(os.path.join(spot_dir, "rebalance"), "w") as f:
            json.dump({"noticeTime": NOTICE}, f)
        for n in os.listdir(sb.state):
            if n.startswith("interrupted-"):
                os.remove(os.path.join(sb.state, n))
        os.remove(os.path.join(sb.ws, "saved.txt"))
        before = len(puts(store))
        w = subprocess.Popen(["bash", sb.watcher], env=sb.env)
        pids.append(w.pid)
        check(wait_for(lambda: len(puts(store)) > before), "no rebalance marker")
        time.sleep(1.0)
        m = interrupted(store)[1:]
        check(len(m) == 1 and m[0]["kind"] == "rebalance" and m[0]["action"] == ""
              and m[0]["notice_time"] == NOTICE, f"rebalance markers {m}")
        check(sb.read("saved.txt") == "saved\n", "commands not run exactly once "
              f"on rebalance: {sb.read('saved.txt')!r}")
        check(w.poll() is None, "watcher ended after a rebalance")
        w.send_signal(signal.SIGTERM)
        w.wait(10)
        os.remove(os.path.join(spot_dir, "rebalance"))

        # 3. commands slower than the timeout: killed, and the marker still goes
        slow = render(["--name", "slow", "--spot", "--on-interruption", "sleep 30",
                       "--on-interruption", "touch never", "--on-interruption-timeout",
                       "1"] + launch)
        sc = Sandbox(top, "c", iport)
        with open(os.path.join(spot_dir, "instance-action"), "w") as f:
            json.dump({"action": "terminate", "time": NOTICE}, f)
        before = len(interrupted(store))
        t0 = time.time()
        check(sc.bootstrap(slow) == 0, "slow bootstrap failed")
        pids.append(sc.pid())
        check(wait_for(lambda: len(interrupted(store)) > before, 15),
              "no marker after the timeout")
        took = time.time() - t0
        m = interrupted(store)[before:]
        check(len(m) == 1 and m[0]["kind"] == "interruption" and
              m[0]["exit_code"] == 124, f"slow marker {m}")
        check(took < 10, f"the slow commands were not cut short ({took:.1f}s)")
        check(sc.read("never") is None, "commands went on after the timeout")
    finally:
        for p in pids:
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass
        imds.terminate()
        srv.terminate()
        imds.wait()
        srv.wait()
    if failures:
        print(f"{len(failures)} failure(s); sandbox kept in {top}", file=sys.stderr)
        return 1
    shutil.rmtree(top)
    print("ok: spot watcher")
    return 0


if __name__ == "__main__":
    sys.exit(main())
