#!/usr/bin/env python3
"""Integration test: the idle watcher, rendered from real specs, installs
and acts (lifecycle.idle_stop, docs/design.md §6.7).

usage: run_idle.py USERDATA_RENDER

Renders bootstrap scripts from YAML specs (userdata_render --spec), runs
one in the sandbox of run_bootstrap.py (stand-in commands on PATH, the
marker PUT to a local server) and checks that it installs
/usr/local/sbin/envctl-idle and its systemd service before the ready
marker.  Then runs that installed watcher under a fake clock (idle_fake.sh:
`sleep` advances the clock, `ss`, `shutdown`, `wall` and the load file
follow a scenario), in seconds: it powers off after idle_stop without a
session and with low load, warns 10 minutes before, does not power off
while a session is open or the load is high, and activity resets its
clock.
"""
import os
import shutil
import stat
import subprocess
import sys
import tempfile

import run_bootstrap as rb

HERE = os.path.dirname(os.path.abspath(__file__))
T0 = 1_796_000_000
ENV_ID = "0d7e3b8a-idle-4c3d-8e4f-0a1b2c3d4e5f"
PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOnly4Test idle"
check = rb.check

SPEC = """apiVersion: envctl/v1
kind: Environment
metadata: {{name: idle-dev}}
spec:
  instance: {{type: t3.large, image: al2023{market}}}
  bootstrap: {{system_packages: [make]}}
  lifecycle: {{ttl: 8h{lifecycle}}}
"""


def render_spec(top, name, lifecycle="", market="", fleet=None, port=9, expect=0):
    os.makedirs(os.path.join(top, name), exist_ok=True)
    path = os.path.join(top, name, "idle-dev.yaml")   # the file names the env
    with open(path, "w", encoding="utf-8") as f:
        f.write(SPEC.format(lifecycle=lifecycle, market=market))
    args = ["--spec", path, "--env-id", ENV_ID, "--public-key", PUBKEY,
            "--marker-url", f"http://127.0.0.1:{port}/envctl/{ENV_ID}/m.json"]
    if market:      # a spot spec's user-data carries its interrupted marker's URL
        args += ["--interrupt-url", f"http://127.0.0.1:{port}/envctl/{ENV_ID}/i.json"]
    if fleet is not None:
        args += ["--idle-stop", str(fleet)]
    return rb.render(*args, expect=expect).stdout


def test_render(top):
    """Which specs get a watcher, with what values."""
    for label, kw, want in [
        ("no idle_stop", {}, None),
        ("idle_stop 10m", {"lifecycle": ", idle_stop: 10m"}, ("600", "stop")),
        ("fleet default", {"fleet": 3600}, ("3600", "stop")),
        ("spec over fleet", {"lifecycle": ", idle_stop: 2h", "fleet": 3600},
         ("7200", "stop")),
        ("idle_stop 0 over fleet", {"lifecycle": ", idle_stop: 0", "fleet": 3600}, None),
        ("spot: no fleet default", {"market": ", market: spot", "fleet": 3600}, None),
        ("spot terminate", {"market": ", market: spot",
                            "lifecycle": ", idle_stop: 1h, on_idle: terminate"},
         ("3600", "terminate")),
    ]:
        s = render_spec(top, "r", **kw)
        if want is None:
            check("IDLE_STOP=" not in s and "envctl-idle" not in s,
                  f"render {label}: a watcher where none was asked for")
        else:
            check(f"\nIDLE_STOP='{want[0]}'\nIDLE_ACTION='{want[1]}'\n" in s,
                  f"render {label}: wanted IDLE_STOP={want[0]} IDLE_ACTION={want[1]}")
    render_spec(top, "r", market=", market: spot", lifecycle=", idle_stop: 1h", expect=1)


def test_install(top, port, store):
    """The bootstrap installs the watcher and its service before the marker."""
    sb = rb.Sandbox(top, "idle-install")
    os.makedirs(os.path.join(sb.root, "run", "systemd", "system"))
    script = render_spec(top, "install", lifecycle=", idle_stop: 10m", port=port)
    res = sb.run(script)
    check(res.returncode == 0, f"install: bootstrap exit {res.returncode}")
    watcher = os.path.join(sb.root, "usr", "local", "sbin", "envctl-idle")
    unit = os.path.join(sb.root, "etc", "systemd", "system", "envctl-idle.service")
    check(os.path.exists(watcher) and
          stat.S_IMODE(os.stat(watcher).st_mode) == 0o755,
          "install: /usr/local/sbin/envctl-idle missing or not 0755")
    body = open(unit, encoding="utf-8").read() if os.path.exists(unit) else ""
    check("\nExecStart=/usr/local/sbin/envctl-idle 600 stop\n" in body and
          "\nWantedBy=multi-user.target\n" in body,
          f"install: service unit {body!r}")
    calls = [c["args"] for c in sb.calls("systemctl")]
    check(["enable", "--now", "envctl-idle.service"] in calls,
          f"install: the service was not enabled and started: {calls}")
    got = [body for pth, body in rb.puts(store) if f"/envctl/{ENV_ID}/" in pth]
    check(len(got) == 1 and '"status":"ready"' in got[0],
          f"install: ready marker {got}")
    return watcher


def watch(top, watcher, name, limit, end, sessions="", load=""):
    """Run the installed watcher under the fake clock; its calls."""
    d = os.path.join(top, name)
    b = os.path.join(d, "bin")
    os.makedirs(b)
    for c in ("ss", "who", "sleep", "shutdown", "wall", "nproc"):
        os.symlink(os.path.join(HERE, "idle_fake.sh"), os.path.join(b, c))
    clock, loadavg, log = (os.path.join(d, n) for n in ("clock", "loadavg", "calls"))
    with open(clock, "w", encoding="utf-8") as f:
        f.write(str(T0))
    with open(loadavg, "w", encoding="utf-8") as f:
        f.write("0.02 0.05 0.01 1/123 4567\n")
    env = {"PATH": b + ":/usr/bin:/bin", "ENVCTL_ROOT": os.path.join(d, "root"),
           "ENVCTL_IDLE_INTERVAL": "60", "ENVCTL_IDLE_CLOCK": clock,
           "ENVCTL_IDLE_LOADAVG": loadavg, "IDLE_CLOCK": clock,
           "IDLE_LOADAVG": loadavg, "IDLE_T0": str(T0), "IDLE_END": str(end),
           "IDLE_SESSIONS": sessions, "IDLE_LOAD": load, "FAKE_LOG": log,
           "LANG": "C"}
    subprocess.run(["bash", watcher, str(limit), "stop"], env=env, cwd=d,
                   timeout=60, stdout=subprocess.DEVNULL)
    recs = []
    if os.path.exists(log):
        with open(log, encoding="utf-8") as f:
            for line in f:
                t, cmd, *args = line.split()
                recs.append({"t": int(t), "cmd": cmd, "args": args})
    return recs


def at(recs, cmd):
    return [r["t"] for r in recs if r["cmd"] == cmd]


def test_watcher(top, watcher):
    # idle all along: warned at 10 min before the limit, then powered off
    r = watch(top, watcher, "idle", 1200, 3000)
    check(at(r, "wall") == [600] and at(r, "shutdown") == [1200],
          f"idle: wall at {at(r, 'wall')}, shutdown at {at(r, 'shutdown')}; "
          "wanted [600], [1200]")
    sd = [x["args"] for x in r if x["cmd"] == "shutdown"]
    check(sd and sd[0][:2] == ["-h", "now"], f"idle: shutdown args {sd}")
    check(at(r, "ss") and not at(r, "who"), "idle: sessions not asked of ss")
    check(not [x for x in r if x["t"] > 1200], "idle: the watcher went on after shutdown")

    # load just under 0.1 per CPU (2 CPUs: 0.19) is idle too
    r = watch(top, watcher, "lowload", 1200, 3000, load="0-99999:0.19")
    check(at(r, "shutdown") == [1200], f"low load: shutdown at {at(r, 'shutdown')}")

    # an SSH connection open all along: never
    r = watch(top, watcher, "session", 1200, 2400, sessions="0-99999")
    check(at(r, "shutdown") == [] and at(r, "wall") == [],
          f"session: shutdown at {at(r, 'shutdown')}, wall at {at(r, 'wall')}")

    # the load high (0.20 on 2 CPUs) all along: never
    r = watch(top, watcher, "busy", 1200, 2400, load="0-99999:0.20")
    check(at(r, "shutdown") == [], f"busy: shutdown at {at(r, 'shutdown')}")

    # a session after the warning: the warning is taken back and the idle
    # clock starts again when it ends
    # (checks each minute: busy at 900 and 960, idle again from 960 on)
    r = watch(top, watcher, "reset", 1200, 4000, sessions="900-1000")
    check(at(r, "wall") == [600, 900, 1560] and at(r, "shutdown") == [2160],
          f"reset: wall at {at(r, 'wall')}, shutdown at {at(r, 'shutdown')}; "
          "wanted [600, 900, 1560], [2160]")
    walls = [" ".join(x["args"]) for x in r if x["cmd"] == "wall"]
    check(len(walls) == 3 and "will stop in 10 min" in walls[0] and
          "activity again" in walls[1], f"reset: wall messages {walls}")

    # load high for a while resets it too
    r = watch(top, watcher, "loadreset", 1200, 4000, load="300-500:3.00")
    check(at(r, "shutdown") == [1680], f"load reset: shutdown at {at(r, 'shutdown')}")


def main():
    top = tempfile.mkdtemp(prefix="envctl-idle-it.")
    proc = None
    try:
        proc, port, store = rb.start_server(top, "")
        test_render(top)
        watcher = test_install(top, port, store)
        if os.path.exists(watcher):
            test_watcher(top, watcher)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        if rb.failures:
            print(f"sandbox kept for inspection: {top}", file=sys.stderr)
        else:
            shutil.rmtree(top)
    if rb.failures:
        print(f"{len(rb.failures)} check(s) failed", file=sys.stderr)
        return 1
    print("idle watcher: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
