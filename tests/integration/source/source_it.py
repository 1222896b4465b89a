#!/usr/bin/env python3
"""Integration scenarios for lib/source (see ../source.cmake).

usage: source_it.py PROBE daemon|crash|watch
"""
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

PROBE = sys.argv[1]
SCENARIO = sys.argv[2]
HERE = os.path.dirname(os.path.abspath(__file__))
TMP = tempfile.mkdtemp(prefix="envctl-source-it-")
REPO = os.path.join(TMP, "specs")
STATE = os.path.join(TMP, "state")
ENV = dict(os.environ, HOME=TMP, GIT_CONFIG_NOSYSTEM="1",
           GIT_AUTHOR_NAME="it", GIT_AUTHOR_EMAIL="it@envctl.invalid",
           GIT_COMMITTER_NAME="it", GIT_COMMITTER_EMAIL="it@envctl.invalid")
ENV.pop("ENVCTL_FAILPOINTS", None)
procs = []


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok: " + msg)


def git(*args):
    return subprocess.run(["git", "-C", REPO] + list(args), env=ENV,
                          check=True, capture_output=True, text=True).stdout.strip()


def commit(files, msg):
    for rel, content in files.items():
        path = os.path.join(REPO, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(content)
    git("add", "-A")
    git("commit", "-q", "-m", msg)
    return git("rev-parse", "HEAD")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_daemon(port):
    p = subprocess.Popen(["git", "daemon", "--reuseaddr", "--listen=127.0.0.1",
                          "--port=%d" % port, "--base-path=" + TMP,
                          "--export-all", TMP], env=ENV,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return p
        except OSError:
            time.sleep(0.05)
    fail("git daemon did not start")


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def no_core():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def sync(url, extra_env=None, subpath="specs"):
    env = dict(ENV)
    env.update(extra_env or {})
    r = subprocess.run([PROBE, "sync", STATE, url, "main", subpath], env=env,
                       capture_output=True, text=True, timeout=60,
                       preexec_fn=no_core)
    out = r.stdout.strip()
    fields = dict(kv.split("=", 1) for kv in out.split(" ", 3)[:3]) if out else {}
    if "error=" in out:
        fields["error"] = out.split("error=", 1)[1]
    fields["rc"] = r.returncode
    fields["stderr"] = r.stderr
    print("  sync -> rc=%d %s" % (r.returncode, out))
    return fields


def current():
    try:
        return os.readlink(os.path.join(STATE, "current"))
    except OSError:
        return None


def leftovers():
    names = os.listdir(STATE) + os.listdir(os.path.join(STATE, "trees"))
    return [n for n in names if ".tmp" in n]


class Reader(threading.Thread):
    """Reads a.yaml and b.yaml of one commit through one dir fd, like a pass."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = False
        self.reads = self.torn = self.missing = 0

    def run(self):
        while not self.stop:
            try:
                fd = os.open(os.path.join(STATE, "current"), os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                self.missing += 1
                continue
            try:
                vals = []
                for name in ("a.yaml", "b.yaml"):
                    f = os.open(name, os.O_RDONLY, dir_fd=fd)
                    vals.append(os.read(f, 100))
                    os.close(f)
                if vals[0] != vals[1]:
                    self.torn += 1
                self.reads += 1
            except OSError:
                self.missing += 1
            finally:
                os.close(fd)


def scenario_daemon():
    port = free_port()
    url = "git://127.0.0.1:%d/specs" % port
    d = start_daemon(port)
    a = commit({"specs/a.yaml": "0\n", "specs/b.yaml": "0\n", "README": "x\n"}, "A")
    r = sync(url)
    check(r["result"] == "published" and r["revision"] == a, "first pass over git:// publishes A")
    check(current() == "trees/" + a, "current -> trees/A")
    check(sorted(os.listdir(os.path.join(STATE, "current"))) == ["a.yaml", "b.yaml"],
          "only the specs/ folder is published")
    r = sync(url)
    check(r["result"] == "unchanged" and r["rc"] == 0, "no new commit: unchanged")

    reader = Reader()
    reader.start()
    last = a
    for i in range(1, 7):
        last = commit({"specs/a.yaml": "%d\n" % i, "specs/b.yaml": "%d\n" % i}, "c%d" % i)
        r = sync(url)
        check(r["result"] == "published" and r["revision"] == last, "commit %d published" % i)
    reader.stop = True
    reader.join()
    print("  reader: %d reads, %d torn, %d missing" % (reader.reads, reader.torn, reader.missing))
    check(reader.reads > 0 and reader.torn == 0 and reader.missing == 0,
          "a concurrent reader never saw a mixed or missing tree")
    check(len(os.listdir(os.path.join(STATE, "trees"))) == 2, "only current and previous trees kept")

    bad = commit({"specs/b.yaml": "INVALID\n"}, "bad")
    r = sync(url)
    check(r["rc"] == 3 and r["result"] == "rejected" and r["revision"] == last,
          "a tree that fails to load is rejected, last good kept")
    check(bad in r.get("error", "") or "INVALID" in r.get("error", ""), "the reason is reported")
    check(current() == "trees/" + last, "current unchanged after rejection")

    stop(d)
    good = commit({"specs/b.yaml": "fixed\n", "specs/a.yaml": "fixed\n"}, "fix")
    r = sync(url)
    check(r["rc"] == 1 and r["result"] == "error" and r["revision"] == last,
          "daemon down: error, last good kept")
    check("git://127.0.0.1:%d/specs" % port in r.get("error", ""), "error names the remote")
    check(current() == "trees/" + last, "current unchanged while the remote is down")
    start_daemon(port)
    r = sync(url)
    check(r["result"] == "published" and r["revision"] == good, "remote back: recovers")

    # force-push over the daemon
    git("checkout", "-q", "--orphan", "rewrite")
    git("rm", "-q", "-rf", ".")
    c = commit({"specs/a.yaml": "c\n", "specs/b.yaml": "c\n"}, "rewritten")
    git("branch", "-q", "-f", "main", "rewrite")
    git("checkout", "-q", "main")
    r = sync(url)
    check(r["result"] == "published" and r["revision"] == c and r["forced"] == "1",
          "force-push detected and accepted")
    check("force-push" in r["stderr"], "force-push logged")


def scenario_crash():
    url = "file://" + REPO
    a = commit({"specs/a.yaml": "A\n"}, "A")
    check(sync(url)["revision"] == a, "A published")
    content = "A\n"
    for fp in ("gitsync.rename", "gitsync.publish"):
        b = commit({"specs/a.yaml": fp + "\n"}, fp)
        r = sync(url, {"ENVCTL_FAILPOINTS": fp + "=abort"})
        check(r["rc"] < 0 or r["rc"] >= 128, "crash at %s (rc=%d)" % (fp, r["rc"]))
        check(leftovers() != [], "the crash at %s left temporaries behind" % fp)
        check(current() == "trees/" + a, "after a crash at %s current is unchanged" % fp)
        with open(os.path.join(STATE, "current", "a.yaml")) as f:
            check(f.read() == content, "published files intact after the crash at %s" % fp)
        r = sync(url)
        check(r["result"] == "published" and r["revision"] == b, "next pass publishes after %s crash" % fp)
        check(leftovers() == [], "no temporaries left after %s crash" % fp)
        a, content = b, fp + "\n"
    r = sync(url, {"ENVCTL_FAILPOINTS": "gitsync.fetch=error"})
    check(r["rc"] == 1 and r["revision"] == a, "injected fetch error keeps the revision")


def start_http(token):
    portfile = os.path.join(TMP, "http.port")
    log = open(os.path.join(TMP, "http.log"), "w")
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "git_http.py"), portfile,
                          TMP, "x-access-token", token], env=ENV, stdout=log)
    procs.append(p)
    for _ in range(100):
        if os.path.exists(portfile):
            with open(portfile) as f:
                return p, int(f.read())
        time.sleep(0.05)
    fail("http server did not start")


def scenario_http():
    token = "tok-9f2c1e7d55aa"
    p, port = start_http(token)
    url = "http://127.0.0.1:%d/specs" % port
    tokfile = os.path.join(TMP, "token")
    with open(tokfile, "w") as f:
        f.write(token + "\n")
    a = commit({"specs/a.yaml": "A\n"}, "A")
    r = sync(url, {"PROBE_TOKEN_FILE": tokfile})
    check(r["result"] == "published" and r["revision"] == a, "fetch over http with the token")
    with open(os.path.join(TMP, "http.log")) as f:
        log = f.read()
    check(" 401" in log and " 200" in log, "the server challenged, then accepted the token")

    b = commit({"specs/a.yaml": "B\n"}, "B")
    r = sync(url)
    check(r["rc"] == 1 and r["revision"] == a and "none are configured" in r.get("error", ""),
          "no token configured: clear error, last good kept")
    wrong = "wrong-secret-55e1"
    with open(tokfile, "w") as f:
        f.write(wrong)
    r = sync(url, {"PROBE_TOKEN_FILE": tokfile})
    check(r["rc"] == 1 and r["revision"] == a, "a refused token: error, last good kept")
    check("authentication failed" in r.get("error", ""), "the error says authentication failed")
    check(wrong not in r.get("error", "") + r["stderr"], "the token is in no message or log line")
    # the token file is read on every fetch: a rotated token is picked up
    with open(tokfile, "w") as f:
        f.write(token)
    r = sync(url, {"PROBE_TOKEN_FILE": tokfile})
    check(r["result"] == "published" and r["revision"] == b, "rotated token picked up")
    check(token not in r["stderr"], "the good token is in no log line")


def scenario_watch():
    url = "file://" + REPO
    commit({"specs/a.yaml": "A\n"}, "A")
    sync(url)
    for target, action in ((STATE, "publish"), (REPO + "/specs", "write")):
        w = subprocess.Popen([PROBE, "watch", target, "5000"], stdout=subprocess.PIPE,
                             text=True, env=ENV)
        procs.append(w)
        check(w.stdout.readline().strip() == "ready", "watch on %s ready" % action)
        t0 = time.monotonic()
        if action == "publish":
            commit({"specs/a.yaml": "B\n"}, "B")
            check(sync(url)["result"] == "published", "B published")
        else:
            with open(os.path.join(REPO, "specs", "new.yaml"), "w") as f:
                f.write("x\n")
        out = w.stdout.readline().strip()
        w.wait(10)
        print("  %s seen after %.1f ms" % (action, (time.monotonic() - t0) * 1000))
        check(out == "changed", "watch sees the %s" % action)


def main():
    os.makedirs(REPO)
    git("init", "-q", "-b", "main")
    try:
        {"daemon": scenario_daemon, "crash": scenario_crash, "watch": scenario_watch,
         "http": scenario_http}[SCENARIO]()
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(TMP, ignore_errors=True)
    print("PASS source_git_" + SCENARIO)


if __name__ == "__main__":
    main()
