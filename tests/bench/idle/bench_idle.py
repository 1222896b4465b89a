#!/usr/bin/env python3
"""Benchmark: hours saved by idle stop in a simulated week of a
20-environment fleet (docs/benchmarks.md, issue 15).

usage: bench_idle.py USERDATA_RENDER [--idle 1h] [--seed 15] [--devs 20]

Renders the bootstrap of a real spec with lifecycle.idle_stop (lib/userdata
through the userdata_render tool), takes the idle watcher out of it exactly
as the bootstrap installs it, and runs that script under bash for each
environment over a simulated week, one check per simulated minute as on an
instance.  The clock is a file (ENVCTL_IDLE_CLOCK); `sleep`, `ss`, `nproc`,
`wall` and `shutdown` are bash functions exported to the watcher (bash
prefers a function to a command on PATH), so a week of checks costs no
process per check.  `sleep` advances the clock and writes the load file
from the developer's trace; `ss` lists a connection when the trace has a
session at that minute; `shutdown` records the time.  After a shutdown the
environment is stopped until the trace next has a session (the developer
runs `envctl ssh --start`); the watcher then starts again from a fresh
state, as the systemd service does at boot.  Without idle stop every
environment runs the whole week (no TTL within the week).

The traces (seeded, printed with the result) assume: Monday 00:00 to
Sunday 24:00; on each weekday a developer is off with probability 0.1,
else connects at 08:00-10:00 for 8-9.5 h; lunch 30-60 min from
12:00-13:30, during which half the developers keep their editor
connected; 0-2 meetings of 15-60 min away from the machine; builds and
tests (load above 0.1 per CPU) for 10-40% of connected time in bursts; on
15% of working evenings the session is left open (a laptop left on with
VS Code Remote-SSH) until the developer's next working day starts (over a
day off or the weekend too; to the end of the week from a Friday); on 10% of
working evenings a 1-4 h job keeps the load high after the developer leaves; on
each weekend day a 1-3 h session with probability 0.05.
"""
import argparse
import os
import random
import re
import subprocess
import sys
import tempfile

WEEK = 7 * 24 * 60          # minutes
T0 = 1_796_000_000          # the simulated Monday 00:00, epoch seconds

FUNCS = r'''
sleep() {
  local n m
  read -r n <"$IDLE_CLOCK"; n=$((n + $1)); echo "$n" >"$IDLE_CLOCK"
  m=$(((n - IDLE_T0) / 60))
  [ "$m" -lt "$IDLE_END" ] || exit 0
  if [ "${IDLE_LOADS:m:1}" = 1 ]; then echo "0.90 0.50 0.20 2/200 1" >"$IDLE_LOADAVG"
  else echo "0.02 0.03 0.01 1/200 1" >"$IDLE_LOADAVG"; fi
}
ss() {
  local n m
  read -r n <"$IDLE_CLOCK"; m=$(((n - IDLE_T0) / 60))
  [ "${IDLE_SESS:m:1}" != 1 ] || echo "0 0 10.0.0.5:22 203.0.113.7:50022"
}
shutdown() { local n; read -r n <"$IDLE_CLOCK"; echo "$n" >"$IDLE_OFF"; }
wall() { echo w >>"$IDLE_WALLS"; }
nproc() { echo 2; }
export -f sleep ss shutdown wall nproc
'''


def day_trace(rng, sess, load, day, state):
    """Fill one day of a developer's trace; state carries the evening."""
    base = day * 1440
    weekend = day >= 5
    if weekend:
        if rng.random() < 0.05:
            s = base + rng.randint(10 * 60, 16 * 60)
            mark(sess, s, s + rng.randint(60, 180))
            burst(rng, load, sess, s, s + 60)
        return
    if rng.random() < 0.1:          # a day off
        return
    start = base + rng.randint(8 * 60, 10 * 60)
    end = start + rng.randint(8 * 60, 9 * 60 + 30)
    if state.get("overnight_from") is not None:   # left open last evening
        mark(sess, state.pop("overnight_from"), start)
    mark(sess, start, end)
    lunch = base + rng.randint(12 * 60, 13 * 60 + 30)
    if not state["lunch_connected"]:
        unmark(sess, lunch, lunch + rng.randint(30, 60))
    for _ in range(rng.randint(0, 2)):
        m = rng.randint(start + 30, end - 90)
        unmark(sess, m, m + rng.randint(15, 60))
    burst(rng, load, sess, start, end)
    if rng.random() < 0.15:
        state["overnight_from"] = end
    if rng.random() < 0.10:
        mark(load, end, end + rng.randint(60, 240))


def mark(a, s, e, v=1):
    for m in range(max(s, 0), min(e, WEEK)):
        a[m] = v


def unmark(a, s, e):
    mark(a, s, e, 0)


def burst(rng, load, sess, s, e):
    share = rng.uniform(0.10, 0.40)
    m = s
    while m < e:
        n = rng.randint(3, 20)
        if rng.random() < share:
            for k in range(m, min(m + n, e, WEEK)):
                if sess[k]:
                    load[k] = 1
        m += n


def traces(rng, devs):
    out = []
    for _ in range(devs):
        sess, load = [0] * WEEK, [0] * WEEK
        state = {"lunch_connected": rng.random() < 0.5}
        for day in range(7):
            day_trace(rng, sess, load, day, state)
        if state.get("overnight_from") is not None:
            mark(sess, state.pop("overnight_from"), WEEK)
        out.append((sess, load))
    return out


def watcher_script(render, top, idle):
    d = os.path.join(top, "spec")
    os.makedirs(d)
    spec = os.path.join(d, "bench-idle.yaml")
    with open(spec, "w", encoding="utf-8") as f:
        f.write("apiVersion: envctl/v1\nkind: Environment\nspec:\n"
                "  access:\n    ssh: {allow_from: [192.0.2.10/32]}\n"
                f"  lifecycle: {{idle_stop: {idle}}}\n")
    p = subprocess.run([render, "--spec", spec, "--env-id", "bench-1",
                        "--public-key", "ssh-ed25519 AAAA bench",
                        "--marker-url", "https://b.example/m"],
                       capture_output=True, text=True, check=True)
    m = re.search(r"\nIDLE_STOP='(\d+)'\n", p.stdout)
    w = re.search(r"<<'ENVCTL_IDLE'\n(.*?\n)ENVCTL_IDLE\n", p.stdout, re.S)
    if not m or not w:
        sys.exit("bench_idle: the rendered script has no idle watcher")
    path = os.path.join(top, "envctl-idle")
    with open(path, "w", encoding="utf-8") as f:
        f.write(w.group(1))
    return path, int(m.group(1))


def run_env(top, watcher, limit, sess, load, i):
    d = os.path.join(top, f"env{i}")
    os.makedirs(d)
    files = {k: os.path.join(d, k) for k in ("clock", "loadavg", "off", "walls")}
    env = dict(os.environ, ENVCTL_ROOT=d, ENVCTL_IDLE_INTERVAL="60",
               ENVCTL_IDLE_CLOCK=files["clock"], ENVCTL_IDLE_LOADAVG=files["loadavg"],
               IDLE_CLOCK=files["clock"], IDLE_LOADAVG=files["loadavg"],
               IDLE_OFF=files["off"], IDLE_WALLS=files["walls"], IDLE_T0=str(T0),
               IDLE_END=str(WEEK), IDLE_SESS="".join(map(str, sess)),
               IDLE_LOADS="".join(map(str, load)))
    start, stopped, stops, starts = 0, 0, 0, 0
    while start < WEEK:
        with open(files["clock"], "w") as f:
            f.write(str(T0 + start * 60))
        with open(files["loadavg"], "w") as f:
            f.write("0.90 0 0 1/1 1\n" if load[start] else "0.02 0 0 1/1 1\n")
        if os.path.exists(files["off"]):
            os.unlink(files["off"])
        subprocess.run(["bash", "-c", FUNCS + 'exec bash "$0" "$1" stop',
                        watcher, str(limit)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        if not os.path.exists(files["off"]):
            break                               # ran to the end of the week
        with open(files["off"]) as f:
            off = (int(f.read()) - T0) // 60
        stops += 1
        nxt = next((m for m in range(off, WEEK) if sess[m]), WEEK)
        stopped += nxt - off
        if nxt < WEEK:
            starts += 1
        start = nxt
    walls = 0
    if os.path.exists(files["walls"]):
        with open(files["walls"]) as f:
            walls = len(f.readlines())
    return stopped, stops, starts, walls


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("render")
    ap.add_argument("--idle", default="1h")
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--devs", type=int, default=20)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    tr = traces(rng, a.devs)
    with tempfile.TemporaryDirectory(prefix="envctl-bench-idle.") as top:
        watcher, limit = watcher_script(a.render, top, a.idle)
        res = [run_env(top, watcher, limit, s, l, i) for i, (s, l) in enumerate(tr)]
    always = a.devs * WEEK / 60
    stopped = sum(r[0] for r in res) / 60
    connected = sum(sum(s) for s, _ in tr) / 60
    print("assumptions: the traces " +
          " ".join(__doc__.split("The traces")[1].split()))
    print(f"idle stop benchmark: {a.devs} environments, one week, idle_stop "
          f"{a.idle} ({limit} s), trace seed {a.seed}")
    print(f"  SSH connected (all environments): {connected:.0f} h of {always:.0f} h")
    print(f"  running without idle stop:        {always:.0f} h")
    print(f"  running with idle stop:           {always - stopped:.0f} h")
    print(f"  hours saved (stopped):            {stopped:.0f} h "
          f"({100 * stopped / always:.0f}%; {stopped / a.devs:.1f} h per environment)")
    print(f"  idle stops: {sum(r[1] for r in res)}, starts by a developer: "
          f"{sum(r[2] for r in res)}, wall warnings: {sum(r[3] for r in res)}")
    print("  per environment (h stopped):",
          " ".join(f"{r[0] / 60:.0f}" for r in res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
