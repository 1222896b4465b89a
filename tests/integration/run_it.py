#!/usr/bin/env python3
"""run_it.py - `envctl run` and `envctl drift` with the real binary, real
PostgreSQL, moto behind the fault proxy and a real git repository.

Run under tests/harness/with-pg.sh and tests/harness/with-aws.sh:

    run_it.py loop      serve /healthz /metrics /api/* /, sd_notify (READY,
                        WATCHDOG, STATUS), a spec change reaches a pass
                        (latency reported), SIGHUP with a broken config
                        keeps the old one, SIGTERM exits 0, idle CPU
    run_it.py git       a commit adding a spec is picked up; a force-push
                        to a broken tree keeps the last good revision
    run_it.py leader    two controllers, one leader; kill -9 the leader,
                        the standby takes over
    run_it.py churn     three controllers, kill -9 the leader again and again
                        (ENVCTL_CHURN_KILLS): always exactly one leader
    run_it.py pgdown    PostgreSQL stopped mid-run: keep running, 503,
                        no AWS call, recover when it returns
    run_it.py drift     envctl drift: exit 0 / 2 / 1, events and run rows
    run_it.py soak      passes over many specs (ENVCTL_SOAK_ENVS, _PASSES):
                        all finish, RSS reported, clean exit (LSan)

Results are checked with psql, the proxy's request log and plain HTTP,
never with envctl's own view.  Each scenario uses its own cluster id.
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
import threading
import time
import urllib.error
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
from itlib import ENVCTL, Checks, aws, envctl, proxy, psql  # noqa: E402

t = Checks()
check = t.check
TMPDIRS = []


def mkdtemp(prefix):
    """A temporary directory removed when the test exits."""
    d = tempfile.mkdtemp(prefix=prefix)
    TMPDIRS.append(d)
    return d


atexit.register(lambda: [shutil.rmtree(d, ignore_errors=True) for d in TMPDIRS])
PROMPARSE = os.path.join(HERE, "..", "harness", "promparse.py")

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


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_spec(d, name, on_drift="replace"):
    with open(os.path.join(d, name + ".yaml"), "w") as f:
        f.write(SPEC.format(name=name, on_drift=on_drift))


def http(port, path, timeout=5):
    """(status, body) of GET http://127.0.0.1:port/path; (0, '') if refused."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError, socket.timeout):
        return 0, ""


class Notify:
    """A NOTIFY_SOCKET (abstract namespace) that keeps what it receives."""

    def __init__(self):
        self.name = "@envctl-it-%s" % uuid.uuid4().hex[:12]
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name[1:])
        self.sock.settimeout(0.2)
        self.msgs = []
        self.stop = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while not self.stop:
            try:
                self.msgs.append((time.monotonic(), self.sock.recv(4096).decode()))
            except socket.timeout:
                continue
            except OSError:
                return

    def seen(self, prefix):
        return [m for _, m in self.msgs if any(l.startswith(prefix) for l in m.split("\n"))]


class Controller:
    """envctl run in the background; its log lines with arrival times."""

    def __init__(self, label, *args, env=None, notify=None, port=None):
        """With port, the listen address is left to the configuration file."""
        self.port = port or free_port()
        listen = [] if port else ["--listen", "127.0.0.1:%d" % self.port]
        e = dict(os.environ)
        e.update(env or {})
        if notify is not None:
            e["NOTIFY_SOCKET"] = notify.name
            e["WATCHDOG_USEC"] = "1000000"
        self.label = label
        self.lines = []
        self.proc = subprocess.Popen(
            [ENVCTL, "run", *listen, *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=e)
        self.pid = self.proc.pid
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait_log(self, text, timeout=15, since=0):
        """The arrival time of the first line (index >= since) containing text."""
        end = time.monotonic() + timeout
        while True:
            for ts, l in self.lines[since:]:
                if text in l:
                    return ts
            if time.monotonic() >= end:
                return None
            time.sleep(0.02)

    def log_has(self, text):
        return any(text in l for _, l in self.lines)

    def wait_health(self, code=200, role=None, timeout=20, status=None):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            st, body = http(self.port, "/healthz")
            doc = json.loads(body or "{}") if st else {}
            if st == code and (role is None or doc.get("role") == role) and \
                    (status is None or doc.get("status") == status):
                return doc
            time.sleep(0.1)
        return None

    def alive(self):
        return self.proc.poll() is None

    def term(self, timeout=10):
        """SIGTERM; the exit code (None when it did not exit in time)."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def dump(self):
        for _, l in self.lines[-40:]:
            print("   [%s] %s" % (self.label, l))


def runs(cluster_revision=None):
    return psql("SELECT count(*) FROM reconcile_runs").strip()


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])      # utime + stime


def migrate():
    r = envctl("migrate")
    check(r.returncode == 0, "envctl migrate: " + r.stderr.strip())


# ---- loop -------------------------------------------------------------

def loop():
    migrate()
    specs = mkdtemp(prefix="envctl-run-it-")
    write_spec(specs, "alpha")
    conf = os.path.join(mkdtemp(prefix="envctl-run-conf-"), "envctl.conf")
    port = free_port()
    good = "cluster_id = it-loop\nlisten = 127.0.0.1:%d\n" % port
    with open(conf, "w") as f:
        f.write(good + "resync_interval = 1h\n")
    # A row for alpha, so the pages have an environment to show.
    alpha_id = str(uuid.uuid4())
    psql("INSERT INTO environments (id, name, workspace, spec_hash, status, stage, attempts, "
         "created_at, updated_at) VALUES ('%s', 'alpha', 'it', 'v1:%s', 'provisioning', "
         "'KEYS_UPLOADED', 0, now(), now())" % (alpha_id, "0" * 64))
    n = Notify()
    c = Controller("loop", "--config", conf, "--specs", specs, notify=n, port=port)
    try:
        h = c.wait_health(200, "leader")
        check(h is not None and h.get("status") == "ok" and h.get("cluster_id") == "it-loop",
              "healthz 200, leader, cluster it-loop (%s)" % h)
        check(int(runs()) >= 1, "a reconcile_runs row per pass (psql)")
        time.sleep(1.2)
        check(len(n.seen("READY=1")) == 1, "sd_notify READY=1 once")
        check(len(n.seen("WATCHDOG=1")) >= 2, "sd_notify WATCHDOG=1 at half of WATCHDOG_USEC (%d)"
              % len(n.seen("WATCHDOG=1")))
        check(any("pass 1 ok" in m for m in n.seen("STATUS=")), "sd_notify STATUS= with the pass summary")

        st, body = http(c.port, "/metrics")
        p = subprocess.run([sys.executable, PROMPARSE], input=body, capture_output=True, text=True)
        check(st == 200 and p.returncode == 0, "/metrics parses strictly: " + p.stderr.strip())
        fam = json.loads(p.stdout) if p.returncode == 0 else {}

        def sample(name, labels=None):
            for fname, f in fam.items():
                for sname, lab, val in f["samples"]:
                    if sname == name and (labels is None or lab == labels):
                        return float(val)
            return float("nan")

        check(sample("envctl_passes_total", {"result": "ok"}) >= 1, "metrics: passes ok >= 1")
        check(sample("envctl_leader") == 1, "metrics: leader 1")
        check((sample("envctl_actions_total", {"kind": "advance"}) or 0) >= 1,
              "metrics: actions by kind (alpha's advance planned)")
        check(sample("envctl_last_successful_pass_timestamp_seconds") > time.time() - 60,
              "metrics: last successful pass time is recent")
        check(sample("envctl_aws_calls_total", {"region": "us-east-1"}) >= 1, "metrics: AWS calls counted")
        check("envctl_pass_duration_seconds" in fam and fam["envctl_pass_duration_seconds"]["type"]
              == "histogram", "metrics: pass duration histogram")

        check(sample("envctl_environments", {"status": "provisioning"}) == 1 and
              sample("envctl_environments", {"status": "ready"}) == 0,
              "metrics: environments by status (1 provisioning, 0 ready)")
        st, body = http(c.port, "/api/events")
        check(st == 200 and "events" in json.loads(body), "/api/events is JSON")
        st, body = http(c.port, "/api/environments")
        envs = json.loads(body).get("environments", []) if st == 200 else []
        check(st == 200 and [e["name"] for e in envs] == ["alpha"] and envs[0]["status"] == "provisioning"
              and envs[0]["stage"] == "KEYS_UPLOADED", "/api/environments lists alpha as the row says")
        st, body = http(c.port, "/")
        check(st == 200 and "<html" in body.lower() and "it-loop" in body and "alpha" in body,
              "/ status page names the cluster and alpha")
        chrome = shutil.which("chromium") or shutil.which("chromium-browser")
        if chrome:
            url = "http://127.0.0.1:%d/" % c.port
            shot = os.path.join(mkdtemp(prefix="envctl-shot-"), "status.png")
            flags = [chrome, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,800"]
            dom = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True, timeout=60)
            check("alpha" in dom.stdout and "KEYS_UPLOADED" in dom.stdout,
                  "headless Chromium renders the status page with alpha")
            subprocess.run(flags + ["--screenshot=" + shot, url], capture_output=True, timeout=60)
            check(os.path.exists(shot) and os.path.getsize(shot) > 5000,
                  "headless Chromium screenshot of the status page (%d bytes)"
                  % (os.path.getsize(shot) if os.path.exists(shot) else 0))
        else:
            print("skip chromium: not installed")

        # A spec change reaches a pass (and its first AWS call) quickly.
        lat, aws_lat = [], []
        for i in range(5):
            proxy("/__proxy/log/clear", {})
            mark = len(c.lines)
            t0 = time.monotonic()
            w0 = time.time()
            write_spec(specs, "beta%d" % i)
            ts = c.wait_log("reason=spec change", 5, since=mark)
            done = c.wait_log("done", 10, since=mark)
            calls = [e for e in proxy("/__proxy/log")["entries"] if e["action"] == "DescribeInstances"]
            if ts is None or done is None or not calls:
                check(False, "spec change %d reached a pass with a DescribeInstances" % i)
                break
            lat.append(ts - t0)
            aws_lat.append(calls[0]["time"] - w0)
            time.sleep(0.3)
        if lat:
            print("figure: spec write -> pass start: max %.0f ms, mean %.0f ms; -> first DescribeInstances:"
                  " max %.0f ms, mean %.0f ms (n=%d)" % (1000 * max(lat), 1000 * sum(lat) / len(lat),
                                                         1000 * max(aws_lat), 1000 * sum(aws_lat) / len(lat),
                                                         len(lat)))
            check(max(aws_lat) < 1.0, "spec change -> first AWS call within 1 s (max %.0f ms)"
                  % (1000 * max(aws_lat)))

        # SIGHUP with a broken configuration keeps the old one.
        with open(conf, "w") as f:
            f.write(good + "resync_interval = banana\n")
        mark = len(c.lines)
        c.proc.send_signal(signal.SIGHUP)
        ts = c.wait_log("reconfiguration FAILED, keeping the old configuration", 5, since=mark)
        check(ts is not None and c.alive(), "SIGHUP with a broken config: logged, still running")
        check(c.wait_health(200, "leader", 5) is not None, "healthz still 200 after the failed reload")
        # A valid file whose listen address cannot be used: the old one stays.
        with open(conf, "w") as f:
            f.write("cluster_id = it-loop\nresync_interval = 1h\nlisten = 192.0.2.1:80\n")
        mark = len(c.lines)
        c.proc.send_signal(signal.SIGHUP)
        ts = c.wait_log("reconfiguration FAILED, keeping the old configuration: listen 192.0.2.1:80", 5,
                        since=mark)
        check(ts is not None and c.wait_health(200, "leader", 5) is not None,
              "SIGHUP with an unusable listen address: FAILED, the old listener still answers")
        # ... and a good one is taken.
        with open(conf, "w") as f:
            f.write(good + "resync_interval = 2h\n")
        mark = len(c.lines)
        c.proc.send_signal(signal.SIGHUP)
        check(c.wait_log("configuration reloaded", 5, since=mark) is not None and
              c.wait_log("reason=configuration reloaded", 5, since=mark) is not None,
              "SIGHUP with a good config: reloaded and a pass runs")

        # Idle: no pass due for 2 hours, nothing to do.
        idle = float(os.environ.get("ENVCTL_IDLE_SECONDS", "10"))
        time.sleep(1)
        hz = os.sysconf("SC_CLK_TCK")
        a = cpu_ticks(c.pid)
        time.sleep(idle)
        b = cpu_ticks(c.pid)
        pct = 100.0 * (b - a) / hz / idle
        print("figure: idle CPU %.3f %% over %.0f s (%d ticks)" % (pct, idle, b - a))
        check(pct < 2.0, "idle CPU sane: %.3f %% over %.0f s" % (pct, idle))

        t0 = time.monotonic()
        rc = c.term()
        check(rc == 0 and time.monotonic() - t0 < 5, "SIGTERM: exit 0 in %.2f s" % (time.monotonic() - t0))
        check(len(n.seen("STOPPING=1")) == 1, "sd_notify STOPPING=1")

        # A change during a pass schedules one more (never two at once); SIGTERM
        # mid-pass: the pass in flight finishes (and is recorded), then exit 0.
        proxy("/__proxy/config", {"latency": {"DescribeInstances": 1.5}})
        c = Controller("loop2", "--config", conf, "--specs", specs, port=port)
        started = c.wait_log("pass=1 start", 15)
        time.sleep(0.3)
        h0 = time.monotonic()
        st, _ = http(c.port, "/metrics")
        took = time.monotonic() - h0
        check(st == 200 and took < 0.5 and c.wait_log("pass=1 done", 0) is None,
              "HTTP answers during a pass (/metrics in %.0f ms, the pass still running)" % (1000 * took))
        write_spec(specs, "gamma")
        done1 = c.wait_log("pass=1 done", 10)
        start2 = c.wait_log("pass=2 start reason=spec change", 10)
        check(started is not None and done1 is not None and start2 is not None and done1 <= start2,
              "a change during a pass: one more pass, after the first ends")
        time.sleep(0.5)
        before = int(runs())
        sent = time.monotonic()
        rc = c.term(15)
        done = c.wait_log("pass=2 done", 1)
        stop = c.wait_log("SIGTERM: stopping", 1)
        check(rc == 0 and done is not None and stop is not None and start2 < sent < done,
              "SIGTERM mid-pass: the pass in flight finishes, then exit 0 (rc %s)" % rc)
        check(int(runs()) == before + 1, "the interrupted pass is recorded (psql)")
        check(not c.log_has("pass=3"), "no pass after SIGTERM")
        proxy("/__proxy/config", {"latency": {}})
    finally:
        if c.alive() or t.failed:
            c.dump()
        c.term()
        n.stop = True


# ---- git --------------------------------------------------------------

def git(repo, *args):
    return subprocess.run(["git", "-C", repo, "-c", "user.name=it", "-c", "user.email=it@example.com",
                           *args], check=True, capture_output=True, text=True).stdout.strip()


def gitrun():
    migrate()
    repo = mkdtemp(prefix="envctl-run-repo-")
    state = mkdtemp(prefix="envctl-run-state-")
    subprocess.run(["git", "init", "-q", "-b", "main", repo], check=True)
    write_spec(repo, "one")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    first = git(repo, "rev-parse", "HEAD")
    c = Controller("git", "--spec-repo", "file://" + repo, "--state-dir", state,
                   "--spec-poll-interval", "1s", "--cluster-id", "it-git", "--resync-interval", "1h")
    try:
        check(c.wait_log("revision=" + first, 20) is not None and c.log_has("pass=1 done"),
              "first pass reads the first commit")
        write_spec(repo, "two")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "two")
        second = git(repo, "rev-parse", "HEAD")
        check(c.wait_log("revision %s published" % second, 10) is not None,
              "a commit adding a spec is published")
        check(c.wait_log("revision=" + second + " specs=2", 10) is not None, "a pass reads it")
        revs = psql("SELECT revision FROM reconcile_runs ORDER BY id").split()
        check(revs[-1] == second, "the run row carries the commit id (psql)")
        got = psql("SELECT counts->>'provision' FROM reconcile_runs ORDER BY id DESC LIMIT 1").strip()
        check(got == "2", "the pass planned both environments (counts.provision=%s)" % got)

        # Force-push a broken tree.
        git(repo, "reset", "-q", "--hard", first)
        with open(os.path.join(repo, "bad.yaml"), "w") as f:
            f.write("apiVersion: envctl/v1\nkind: Environment\nspec: {instance: {type: 7}}\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "broken")
        broken = git(repo, "rev-parse", "HEAD")
        nruns = int(runs())
        ts = c.wait_log("reconfiguration FAILED: revision %s (force-pushed)" % broken, 10)
        check(ts is not None and c.log_has("keeping revision " + second),
              "force-push to a broken tree: FAILED, keeping the last good revision")
        time.sleep(2.5)
        check(broken not in psql("SELECT coalesce(string_agg(revision, ' '), '') FROM reconcile_runs"),
              "no pass ran on the broken revision (psql)")
        check(int(runs()) == nruns, "no pass at all after the rejected revision")
        check(os.readlink(os.path.join(state, "current")).endswith(second),
              "state_dir/current still points at the last good tree")
        # The remote goes away: the fetch fails, the last good revision stays.
        os.rename(repo, repo + ".gone")
        TMPDIRS.append(repo + ".gone")
        mark = len(c.lines)
        ts = c.wait_log("spec_repo: fetch FAILED, keeping revision " + second, 10, since=mark)
        check(ts is not None and c.alive(), "unreachable remote: fetch FAILED, keeping the last good revision")
        check(c.term() == 0, "SIGTERM: exit 0")
    finally:
        if t.failed:
            c.dump()
        c.term()


# ---- leader -----------------------------------------------------------

def leader():
    migrate()
    specs = mkdtemp(prefix="envctl-run-it-")
    write_spec(specs, "solo")
    args = ("--specs", specs, "--cluster-id", "it-leader", "--resync-interval", "2s")
    a = Controller("A", *args)
    b = None
    try:
        check(a.wait_health(200, "leader") is not None, "A is the leader")
        b = Controller("B", *args)
        check(b.wait_health(200, "standby") is not None, "B stands by (healthz role standby)")
        time.sleep(3)
        check(a.wait_health(200, "leader", 2) is not None and b.wait_health(200, "standby", 2) is not None,
              "still one leader after a resync")
        check(not b.log_has("pass=1 start"), "the standby ran no pass")
        locks = psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted").strip()
        check(locks == "1", "one advisory lock granted (psql pg_locks: %s)" % locks)
        before = int(runs())
        os.kill(a.pid, signal.SIGKILL)
        a.proc.wait()
        t0 = time.monotonic()
        h = b.wait_health(200, "leader", 15)
        took = time.monotonic() - t0
        check(h is not None, "after kill -9 of A, B leads (%.1f s)" % took)
        print("figure: standby takeover after kill -9: %.2f s" % took)
        check(b.wait_log("pass=1 done", 10) is not None and int(runs()) > before,
              "B's pass is recorded (psql reconcile_runs)")

        # Fencing: B's lock session dies while B is planning (DescribeInstances
        # is slow): B must notice before its first change and act on nothing.
        proxy("/__proxy/config", {"latency": {"DescribeInstances": 2.0}})
        mark = len(b.lines)
        started = b.wait_log("start reason=resync", 10, since=mark)
        before = int(runs())
        pids = psql("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted").split()
        psql("SELECT pg_terminate_backend(%s)" % pids[0] if pids else "SELECT 1")
        fenced = b.wait_log("leadership not confirmed, acting on nothing", 10, since=mark)
        after = int(runs())
        check(started is not None and len(pids) == 1 and fenced is not None and after == before,
              "fencing: lock session lost mid-pass, the pass records and changes nothing (runs %d -> %d)"
              % (before, after))
        proxy("/__proxy/config", {"latency": {}})
        check(b.wait_log("role=leader", 10, since=mark) is not None and
              b.wait_health(200, "leader", 10) is not None, "B takes the lock again on a new session")
        check(b.term() == 0, "B: SIGTERM exit 0")
    finally:
        proxy("/__proxy/config", {"latency": {}})
        if t.failed:
            a.dump()
            b and b.dump()
        a.term()
        b and b.term()


def churn():
    """ENVCTL_CHURN_KILLS times: kill -9 the leader of three controllers and
    start a replacement; every time exactly one leads (healthz and
    pg_locks), and the takeover time is reported."""
    migrate()
    kills = int(os.environ.get("ENVCTL_CHURN_KILLS", "3"))
    specs = mkdtemp(prefix="envctl-run-it-")
    write_spec(specs, "solo")
    args = ("--specs", specs, "--cluster-id", "it-churn", "--resync-interval", "1s")
    ctl = [Controller("c%d" % i, *args) for i in range(3)]
    takeovers, single = [], True

    def one_leader():
        """The one leader once every controller answers leader or standby."""
        end = time.monotonic() + 15
        leaders = []
        while time.monotonic() < end:
            roles = [json.loads(http(c.port, "/healthz")[1] or "{}").get("role") for c in ctl]
            leaders = [c for c, role in zip(ctl, roles) if role == "leader"]
            if len(leaders) == 1 and roles.count("standby") == len(ctl) - 1:
                break
            time.sleep(0.05)
        locks = psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted").strip()
        return leaders[0] if len(leaders) == 1 and locks == "1" else None

    try:
        for k in range(kills):
            leader_ = one_leader()
            if leader_ is None:
                single = False
                break
            os.kill(leader_.pid, signal.SIGKILL)
            leader_.proc.wait()
            t0 = time.monotonic()
            ctl.remove(leader_)
            if one_leader() is None:          # one of the standbys takes over
                single = False
                break
            takeovers.append(time.monotonic() - t0)
            ctl.append(Controller("c%d" % (k + 3), *args))
        single = single and one_leader() is not None
        check(single and len(takeovers) == kills,
              "%d kill -9 of the leader: always exactly one leader (healthz, pg_locks)" % kills)
        if takeovers:
            print("figure: standby takeover after kill -9 over %d kills: max %.2f s, mean %.2f s"
                  % (len(takeovers), max(takeovers), sum(takeovers) / len(takeovers)))
        check(all(c.term() == 0 for c in ctl), "the survivors exit 0 on SIGTERM")
    finally:
        for c in ctl:
            c.term()


# ---- pgdown -----------------------------------------------------------

def pg_ctl(action):
    d = os.environ["ENVCTL_PG_DIR"]
    data = os.path.join(d, "data")
    bindir = subprocess.run(["sh", "-c", "ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1"],
                            capture_output=True, text=True).stdout.strip()
    owner = subprocess.run(["stat", "-c", "%U", data], capture_output=True, text=True).stdout.strip()
    run = ["runuser", "-u", owner, "--"] if os.geteuid() == 0 and owner != "root" else []
    if action == "stop":
        cmd = [bindir + "/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"]
    else:
        opts = "-k '%s' -p %s -h 127.0.0.1 -c fsync=off -c max_connections=60" % (d, os.environ["PGPORT"])
        cmd = [bindir + "/pg_ctl", "-D", data, "-l", os.path.join(d, "postgres.log"), "-w", "-o", opts, "start"]
    r = subprocess.run(run + cmd, capture_output=True, text=True)
    if action == "start" and r.returncode == 0:
        # pg.sh stops the server named in DIR/pid at the end.
        with open(os.path.join(data, "postmaster.pid")) as f:
            pid = f.readline().strip()
        with open(os.path.join(d, "pid"), "w") as f:
            f.write(pid + "\n")
    return r.returncode == 0


def pgdown():
    migrate()
    specs = mkdtemp(prefix="envctl-run-it-")
    write_spec(specs, "keep")
    c = Controller("pgdown", "--specs", specs, "--cluster-id", "it-pgdown", "--resync-interval", "2s",
                   "--log-format", "json")
    try:
        check(c.wait_health(200, "leader") is not None, "leader before the outage")
        check(pg_ctl("stop"), "PostgreSQL stopped")
        proxy("/__proxy/log/clear", {})
        h = c.wait_health(503, None, 15, status="database-unavailable")
        check(h is not None and h.get("role") == "standby",
              "healthz 503 database-unavailable (%s)" % h)
        time.sleep(4)
        check(c.alive(), "the controller keeps running")
        calls = proxy("/__proxy/log")["entries"]
        check(calls == [], "no AWS call while the database is down (%d)" % len(calls))
        st, body = http(c.port, "/metrics")
        check(st == 200 and "envctl_database_up 0" in body, "metrics: database_up 0")
        check(pg_ctl("start"), "PostgreSQL started again")
        mark = len(c.lines)
        h = c.wait_health(200, "leader", 20)
        check(h is not None, "recovered on its own: healthz 200 leader")
        check(c.wait_log("done", 10, since=mark) is not None, "a pass runs after recovery")
        check(c.term() == 0, "SIGTERM: exit 0")
        bad = []
        for _, l in c.lines:
            try:
                doc = json.loads(l)
                if not doc.get("ts") or not doc.get("level") or not doc.get("msg"):
                    bad.append(l)
            except ValueError:
                bad.append(l)
        check(len(c.lines) > 5 and not bad, "log_format=json: every line is a JSON object with ts, level, "
              "msg (%d lines, bad: %s)" % (len(c.lines), bad[:2]))
    finally:
        if t.failed:
            c.dump()
        c.term()


# ---- drift ------------------------------------------------------------

def drift():
    migrate()
    cl = "it-drift"
    specs = mkdtemp(prefix="envctl-drift-it-")
    for name, od in (("clean", "replace"), ("c-drift", "replace"), ("d-report", "report"),
                     ("h-gone", "replace")):
        write_spec(specs, name, od)
    v = envctl("validate", "-o", "json", specs)
    hashes = {f["name"]: f.get("hash") for f in json.loads(v.stdout)["files"]}
    base = ("--specs", specs, "--cluster-id", cl)

    # No rows, no instances: provisions are planned, which is not drift.
    r = envctl("drift", *base)
    check(r.returncode == 0 and "No drift" in r.stdout, "no drift: exit 0 (%d %s)" % (r.returncode, r.stderr))
    row = psql("SELECT drift_found, counts->>'drift_check' FROM reconcile_runs ORDER BY id DESC LIMIT 1")
    check(row.strip() == "0|1", "a run row marked as a drift check, drift_found 0 (psql: %r)" % row)

    image = aws("ec2", "describe-images", "--owners", "amazon")["Images"][0]["ImageId"]

    def launch(name, env_id, spec_hash):
        tags = [{"Key": "envctl:managed", "Value": "true"}, {"Key": "envctl:cluster", "Value": cl},
                {"Key": "envctl:env", "Value": name}, {"Key": "envctl:env-id", "Value": env_id},
                {"Key": "envctl:spec-hash", "Value": spec_hash}]
        out = aws("ec2", "run-instances", "--image-id", image, "--instance-type", "t3.micro",
                  "--count", "1", "--tag-specifications",
                  json.dumps([{"ResourceType": "instance", "Tags": tags}]))
        return out["Instances"][0]["InstanceId"]

    def row(name, env_id, spec_hash, instance_id):
        psql("INSERT INTO environments (id, name, workspace, spec_hash, status, stage, instance_id, "
             "attempts, created_at, updated_at) VALUES ('%s', '%s', 'it', '%s', 'ready', 'DONE', '%s', 0, "
             "now(), now())" % (env_id, name, spec_hash, instance_id))

    old = "v1:" + "0" * 64
    ids = {n: str(uuid.uuid4()) for n in ("clean", "c-drift", "d-report", "h-gone")}
    row("clean", ids["clean"], hashes["clean"], launch("clean", ids["clean"], hashes["clean"]))
    r = envctl("drift", *base)
    check(r.returncode == 0, "in sync: exit 0 (%d)" % r.returncode)
    row("c-drift", ids["c-drift"], old, launch("c-drift", ids["c-drift"], old))
    row("d-report", ids["d-report"], old, launch("d-report", ids["d-report"], old))
    row("h-gone", ids["h-gone"], hashes["h-gone"], "i-0123456789abcdef0")
    rows_before = psql("SELECT id, status, stage, row_version FROM environments ORDER BY id")
    proxy("/__proxy/log/clear", {})
    r = envctl("drift", "-o", "json", *base)
    check(r.returncode == 2, "drift found: exit 2 (%d %s)" % (r.returncode, r.stderr.strip()))
    doc = json.loads(r.stdout) if r.returncode == 2 else {"actions": []}
    got = sorted((a["name"], a["kind"]) for a in doc["actions"])
    check(got == [("c-drift", "replace"), ("d-report", "drift-report"), ("h-gone", "drift-gone")],
          "the three drifts are reported: %s" % got)
    ev = psql("SELECT env_id, payload FROM events WHERE type = 'drift.detected' ORDER BY id")
    evs = [(l.split("|", 1)[0], json.loads(l.split("|", 1)[1])) for l in ev.splitlines()]
    check(len(evs) == 3, "three drift.detected events (psql: %d)" % len(evs))
    byenv = {p["env"]: (eid, p) for eid, p in evs}
    check(byenv.get("c-drift", ("", {}))[0] == ids["c-drift"], "event carries the row's env id")
    p = byenv.get("c-drift", ("", {}))[1]
    check(p.get("spec_hash") == hashes["c-drift"] and p.get("recorded_hash") == old and
          p.get("instance_hash") == old and p.get("reason") and p.get("check") == "drift",
          "payload: reason and the three hashes (%s)" % p)
    row_ = psql("SELECT drift_found, errors, counts->>'drift_check' FROM reconcile_runs "
                "ORDER BY id DESC LIMIT 1").strip()
    check(row_ == "3|0|1", "run row: drift_found 3, drift check (psql: %s)" % row_)
    check(psql("SELECT id, status, stage, row_version FROM environments ORDER BY id") == rows_before,
          "drift changed no environment row")
    calls = {e["action"] for e in proxy("/__proxy/log")["entries"]}
    check(calls == {"DescribeInstances"}, "drift made only DescribeInstances calls (%s)" % calls)
    r = envctl("drift", *base)
    check(r.returncode == 2 and "~ c-drift" in r.stdout and "! d-report" in r.stdout,
          "text report shows the drift lines")

    # Errors: exit 1, nothing recorded.
    nruns = int(runs())
    r = envctl("drift", *base, "--database-url", "postgresql://envctl@127.0.0.1:1/nowhere?connect_timeout=2")
    check(r.returncode == 1 and "127.0.0.1" in r.stderr, "unreachable database: exit 1")
    r = envctl("drift", "--specs", specs + "/nope", "--cluster-id", cl)
    check(r.returncode == 1, "missing spec dir: exit 1")
    check(int(runs()) == nruns, "errors record no run row")


# ---- soak -------------------------------------------------------------

def rss_kb(pid, key="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for l in f:
            if l.startswith(key + ":"):
                return int(l.split()[1])
    return 0


def soak():
    """ENVCTL_SOAK_ENVS specs, ENVCTL_SOAK_PASSES passes triggered by spec
    edits; every pass must finish, RSS is reported, and the exit after
    SIGTERM must be 0 (under ASan/LSan a leak makes it non-zero)."""
    migrate()
    nenv = int(os.environ.get("ENVCTL_SOAK_ENVS", "200"))
    npass = int(os.environ.get("ENVCTL_SOAK_PASSES", "20"))
    specs = mkdtemp(prefix="envctl-soak-")
    for i in range(nenv):
        write_spec(specs, "soak-%05d" % i)
    c = Controller("soak", "--specs", specs, "--cluster-id", "it-soak", "--resync-interval", "1h",
                   "--max-terminations-per-pass", "0")
    try:
        check(c.wait_log("pass=1 done", 120) is not None, "first pass over %d specs" % nenv)
        t0 = time.monotonic()
        ok = True
        for i in range(2, npass + 1):
            os.utime(os.path.join(specs, "soak-%05d.yaml" % (i % nenv)))
            if c.wait_log("pass=%d done" % i, 120) is None:
                ok = False
                break
        took = time.monotonic() - t0
        check(ok, "%d passes over %d specs, each triggered by an edit" % (npass, nenv))
        time.sleep(1)      # the pass's memory is released after its "done" line
        rss = rss_kb(c.pid)
        print("figure: %d specs: %d passes in %.1f s (%.0f ms each), RSS %.1f MB between passes, "
              "peak %.1f MB" % (nenv, npass - 1, took, 1000 * took / max(1, npass - 1), rss / 1024.0,
                                rss_kb(c.pid, "VmHWM") / 1024.0))
        check(not c.log_has("FAILED"), "no pass failed")
        check(c.term(60) == 0, "SIGTERM: exit 0 (no leak reported under LSan)")
        check(psql("SELECT count(*) FROM reconcile_runs").strip() == str(npass), "one run row per pass (psql)")
    finally:
        if t.failed:
            c.dump()
        c.term()


SCENARIOS = {"loop": loop, "git": gitrun, "leader": leader, "pgdown": pgdown, "drift": drift,
             "soak": soak, "churn": churn}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        print("usage: run_it.py %s" % "|".join(SCENARIOS), file=sys.stderr)
        sys.exit(64)
    SCENARIOS[sys.argv[1]]()
    sys.exit(t.finish())
