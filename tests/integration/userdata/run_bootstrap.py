#!/usr/bin/env python3
"""Integration test: the rendered bootstrap script really runs.

usage: run_bootstrap.py USERDATA_RENDER

Renders scripts with hostile spec values through lib/userdata (the
userdata_render tool), runs each with bash in a sandbox (ENVCTL_ROOT) with
stand-in commands first on PATH (fake_cmd.py), real coreutils, real
ssh-keygen on real host keys and the real curl, which PUTs the marker to a
local HTTP server (marker_server.py) standing in for the presigned URLs.
Checks what every command received, that the hostile payloads ran
nothing, the ready and the error markers, and the secrets file handling.
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RENDER = sys.argv[1]
FAKES = ["docker", "git", "dnf", "yum", "apt-get", "systemctl", "usermod",
         "getent", "chown", "runuser", "ssh-keyscan"]
SECRET = "s3cr3t-Value-$(touch${IFS}/nonexistent)-never-in-logs"
SECRETS_BODY = f"# secrets\nAPI_KEY={SECRET}\n"
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


class Sandbox:
    def __init__(self, top, name):
        self.dir = os.path.join(top, name)
        self.root = os.path.join(self.dir, "root")
        self.bin = os.path.join(self.dir, "bin")
        self.log = os.path.join(self.dir, "calls.jsonl")
        self.pwned = os.path.join(self.dir, "pwned")
        os.makedirs(os.path.join(self.root, "etc", "ssh"))
        os.makedirs(self.bin)
        for f in FAKES:
            os.symlink(os.path.join(HERE, "fake_cmd.py"), os.path.join(self.bin, f))
        self.fps = {}
        for t in ("ed25519", "ecdsa"):
            key = os.path.join(self.root, "etc", "ssh", f"ssh_host_{t}_key")
            subprocess.run(["ssh-keygen", "-q", "-t", t, "-N", "", "-f", key],
                           check=True)
            out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", key + ".pub"],
                                 check=True, capture_output=True, text=True).stdout
            self.fps[out.split()[-1].strip("()")] = out.split()[1]
            with open(key + ".pub", encoding="utf-8") as f:
                self.pubs = getattr(self, "pubs", {})
                self.pubs[out.split()[-1].strip("()")] = " ".join(f.read().split()[:2])

    def run(self, script, fail=None, env_keys=(), extra_env=None):
        path = os.path.join(self.dir, "user-data.sh")
        with open(path, "w", encoding="utf-8") as f:
            f.write(script)
        env = {"PATH": self.bin + ":/usr/bin:/bin", "ENVCTL_ROOT": self.root,
               "FAKE_LOG": self.log, "FAKE_ENV_KEYS": ",".join(env_keys),
               "LANG": "C"}
        if fail:
            env["FAKE_FAIL"] = fail
        env.update(extra_env or {})
        # cwd is the sandbox, so a relative path in a payload lands there too
        return subprocess.run(["bash", path], env=env, cwd=self.dir, timeout=120)

    def calls(self, cmd=None):
        if not os.path.exists(self.log):
            return []
        with open(self.log, encoding="utf-8") as f:
            recs = [json.loads(line) for line in f]
        return [r for r in recs if cmd is None or r["cmd"] == cmd]

    def no_pwned(self, label):
        left = [n for n in os.listdir(self.dir) if n.startswith("pwned")]
        check(left == [], f"{label}: hostile payloads ran: {left}")
        check(not os.path.exists("/tmp/pwned-envctl-userdata"),
              f"{label}: payload wrote /tmp/pwned-envctl-userdata")


def render(*args, expect=0):
    p = subprocess.run([RENDER] + list(args), capture_output=True, text=True)
    check(p.returncode == expect,
          f"userdata_render exit {p.returncode}, wanted {expect}: {p.stderr.strip()}")
    return p


def start_server(top, secrets_body):
    store = os.path.join(top, "puts")
    os.makedirs(store)
    secrets = os.path.join(top, "secrets-object")
    with open(secrets, "w", encoding="utf-8") as f:
        f.write(secrets_body)
    portfile = os.path.join(top, "port")
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "marker_server.py"),
                             portfile, store, secrets])
    for _ in range(100):
        if os.path.exists(portfile):
            break
        time.sleep(0.05)
    with open(portfile, encoding="utf-8") as f:
        port = int(f.read())
    return proc, port, store


def puts(store):
    out = []
    n = 1
    while os.path.exists(os.path.join(store, f"{n}.json")):
        with open(os.path.join(store, f"{n}.path"), encoding="utf-8") as f:
            path = f.read()
        with open(os.path.join(store, f"{n}.json"), encoding="utf-8") as f:
            out.append((path, f.read()))
        n += 1
    return out


def hostile(sb):
    """Values that would run something if the script let the shell parse them."""
    p = sb.pwned
    return {
        "dollar": f"$(touch {p}-dollar)",
        "backtick": f"`touch {p}-backtick`",
        "quote": f"it's'; touch {p}-quote; echo '",
        "semicolon": f"x; touch {p}-semicolon",
        "newline": f"line1\ntouch {p}-newline\n",
        "backslash": f"a\\'b\\\\'; touch {p}-backslash #",
        "dquote": f"\"$(touch {p}-dquote)\"",
        "tmp": "$(touch /tmp/pwned-envctl-userdata)",
    }


def test_ready(top, port, store):
    sb = Sandbox(top, "ready")
    h = hostile(sb)
    env_id = "5f0c2a9e-1d2b-4c3d-8e4f-0a1b2c3d4e5f"
    pubkey = f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOnly4Test alice's key $(touch {sb.pwned}-key)"
    marker_url = f"http://127.0.0.1:{port}/envctl/{env_id}/ready.json?X-Amz-Signature=ab&x=$(touch${{IFS}}{sb.pwned}-url)"
    secrets_url = f"http://127.0.0.1:{port}/secrets.env?X-Amz-Signature=cd"
    image = f"node:20'; touch {sb.pwned}-image; echo '"
    repo = f"https://example.com/acme/app.git`touch {sb.pwned}-repo`"
    branch = f"main$(touch {sb.pwned}-branch)"
    setup = ["npm ci", h["dollar"], h["backtick"], h["quote"], h["semicolon"],
             h["newline"], h["backslash"], h["dquote"], h["tmp"]]
    env = {"NODE_ENV": "development", "A_DOLLAR": h["dollar"], "B_TICK": h["backtick"],
           "C_QUOTE": h["quote"], "D_NL": h["newline"], "E_BS": h["backslash"],
           "F_DQ": h["dquote"], "G_EMPTY": ""}
    args = ["--name", "web-alice", "--env-id", env_id, "--public-key", pubkey,
            "--marker-url", marker_url, "--secrets-url", secrets_url,
            "--image", "al2023", "--docker-image", image, "--repo", repo,
            "--branch", branch, "--package", "make", "--package", "gcc-c++",
            "--secret", "API_KEY"]
    for s in setup:
        args += ["--setup", s]
    for k in sorted(env):
        args += ["--env", f"{k}={env[k]}"]
    script = render(*args).stdout
    check(SECRET not in script, "ready: the secret is in the script")
    res = sb.run(script)
    check(res.returncode == 0, f"ready: script exit {res.returncode}")
    sb.no_pwned("ready")
    check([c["args"][-1] for c in sb.calls("ssh-keyscan")] == ["127.0.0.1"],
          "ready: the local sshd was not checked (once) before marker ready")

    # the marker: ready, our env id, the host keys ssh-keygen sees
    got = [(pth, body) for pth, body in puts(store) if f"/envctl/{env_id}/" in pth]
    check(len(got) == 1, f"ready: {len(got)} markers arrived, wanted 1")
    if got:
        pth, body = got[0]
        check(pth.endswith("x=$(touch${IFS}" + sb.pwned + "-url)"),
              f"ready: marker URL mangled: {pth}")
        m = json.loads(body)
        check(m["env_id"] == env_id and m["env"] == "web-alice", f"ready: marker ids {m}")
        check(m["status"] == "ready" and m["line"] == 0 and m["exit_code"] == 0,
              f"ready: marker status {m}")
        fps = {k["type"]: k["fingerprint"] for k in m["host_keys"]}
        check(fps == sb.fps, f"ready: host keys {fps} != {sb.fps}")
        pubs = {k["type"]: k.get("key") for k in m["host_keys"]}
        check(pubs == sb.pubs, f"ready: host public keys {pubs} != {sb.pubs}")
        mf = os.path.join(sb.dir, "marker.json")
        with open(mf, "w", encoding="utf-8") as f:
            f.write(body)
        p = render("--parse-marker", mf)
        lines = p.stdout.split("\n")
        check(lines[0] == f"{env_id} ready 0 0 {len(sb.fps)}",
              f"ready: lib/userdata parses the marker as {lines[0]!r}")
        check(set(lines[1:len(sb.fps) + 1]) == {f"{t} {fp}" for t, fp in sb.fps.items()},
              f"ready: parsed host keys {lines[1:]}")

    # the package manager, the repo, docker: exact arguments, one per value
    dnf = sb.calls("dnf")
    check([c["args"] for c in dnf] == [["install", "-y", "docker", "git", "make", "gcc-c++"]],
          f"ready: dnf calls {dnf}")
    check(sb.calls("apt-get") == [] and sb.calls("yum") == [], "ready: wrong package manager")
    ws = os.path.join(sb.root, "home", "ec2-user", "workspace")
    git = [c["args"] for c in sb.calls("git")]
    check(git == [["clone", "--branch", branch, "--", repo, ws]], f"ready: git calls {git}")
    docker = [c for c in sb.calls("docker")]
    verbs = [c["args"][0] for c in docker]
    check(verbs == ["pull", "rm", "run"] + ["exec"] * len(setup), f"ready: docker verbs {verbs}")
    check(docker[0]["args"] == ["pull", image], f"ready: docker pull {docker[0]['args']}")
    run = docker[2]["args"]
    want_e = []
    for k in sorted(env):
        want_e += ["-e", f"{k}={env[k]}"]
    want_run = (["run", "-d", "--name", "envctl", "--restart", "unless-stopped",
                 "--network", "host"] + want_e +
                ["--env-file", os.path.join(sb.root, "var", "lib", "envctl", "secrets.env"),
                 "-v", f"{ws}:/workspace", "-w", "/workspace", "--entrypoint", "tail",
                 image, "-f", "/dev/null"])
    check(run == want_run, f"ready: docker run args\n{run}\n!=\n{want_run}")
    ef = docker[2].get("env_file", {})
    check(ef.get("content") == SECRETS_BODY, "ready: env file content")
    check(ef.get("mode") == 0o600, f"ready: env file mode {oct(ef.get('mode', 0))}")
    execs = [c["args"] for c in docker[3:]]
    check(execs == [["exec", "-w", "/workspace", "envctl", "sh", "-c", s] for s in setup],
          f"ready: setup commands reached docker as {execs}")
    check([c["args"] for c in sb.calls("systemctl")] == [["enable", "--now", "docker"]],
          "ready: systemctl")
    check([c["args"] for c in sb.calls("usermod")] == [["-aG", "docker", "ec2-user"]],
          "ready: usermod")

    # the key, the secrets file gone, the log private and without the secret
    ak = os.path.join(sb.root, "home", "ec2-user", ".ssh", "authorized_keys")
    with open(ak, encoding="utf-8") as f:
        check(f.read() == pubkey + "\n", "ready: authorized_keys content")
    check(stat.S_IMODE(os.stat(ak).st_mode) == 0o600, "ready: authorized_keys mode")
    check(stat.S_IMODE(os.stat(os.path.dirname(ak)).st_mode) == 0o700, "ready: .ssh mode")
    check(not os.path.exists(os.path.join(sb.root, "var", "lib", "envctl", "secrets.env")),
          "ready: secrets file left behind")
    log = os.path.join(sb.root, "var", "log", "envctl-bootstrap.log")
    check(stat.S_IMODE(os.stat(log).st_mode) == 0o600, "ready: log mode")
    with open(log, encoding="utf-8") as f:
        text = f.read()
    check("envctl-bootstrap:" in text and "done" in text, "ready: log lines")
    check(SECRET not in text and "X-Amz-Signature" not in text,
          "ready: the log holds the secret or a presigned URL")

    # a second run (cloud-init re-run) does not add the key twice or re-clone
    res = sb.run(script)
    check(res.returncode == 0, "ready: second run")
    with open(ak, encoding="utf-8") as f:
        check(f.read() == pubkey + "\n", "ready: key added twice")
    check(len(sb.calls("git")) == 1, "ready: cloned twice")


def test_error(top, port, store):
    sb = Sandbox(top, "error")
    env_id = "e77"
    script = render("--name", "web-bob", "--env-id", env_id, "--public-key",
                    "ssh-ed25519 AAAA bob", "--marker-url",
                    f"http://127.0.0.1:{port}/envctl/{env_id}/ready.json",
                    "--image", "al2023", "--docker-image", "alpine:3",
                    "--setup", "true", "--setup", "false").stdout
    res = sb.run(script, fail="docker exec")
    check(res.returncode == 3, f"error: script exit {res.returncode}, wanted 3")
    got = [json.loads(b) for pth, b in puts(store) if f"/envctl/{env_id}/" in pth]
    check(len(got) == 1, f"error: {len(got)} markers, wanted 1")
    if got:
        m = got[0]
        lines = script.split("\n")
        ln = m["line"]
        check(m["status"] == "error" and m["exit_code"] == 3, f"error: marker {m}")
        check(0 < ln <= len(lines) and "docker exec" in lines[ln - 1],
              f"error: marker line {ln} is not the docker exec line")
        check(len(m["host_keys"]) == 2, "error: host keys in the error marker")
    # the first exec failed: no second one
    check(len([c for c in sb.calls("docker") if c["args"][0] == "exec"]) == 1,
          "error: the script went on after a failure")


def test_sshd(top, port, store):
    """marker ready only once the local sshd answers (ssh-keyscan)."""
    sb = Sandbox(top, "sshd")
    env_id = "e88"
    script = render("--name", "web-sshd", "--env-id", env_id, "--public-key",
                    "ssh-ed25519 AAAA sshd", "--marker-url",
                    f"http://127.0.0.1:{port}/envctl/{env_id}/ready.json",
                    "--image", "al2023").stdout
    res = sb.run(script, fail="ssh-keyscan", extra_env={"ENVCTL_SSHD_WAIT": "1"})
    check(res.returncode != 0, "sshd: script passed with sshd silent")
    got = [json.loads(b) for pth, b in puts(store) if f"/envctl/{env_id}/" in pth]
    check([m["status"] for m in got] == ["error"], f"sshd: markers {got}, wanted one error")
    calls = sb.calls("ssh-keyscan")
    check(len(calls) >= 1 and calls[0]["args"][-1] == "127.0.0.1",
          f"sshd: ssh-keyscan calls {calls}")


def test_ubuntu_host_mode(top, port, store):
    """ubuntu: apt-get, user ubuntu; no docker image: setup on the host with
    the environment and the secrets exported."""
    sb = Sandbox(top, "ubuntu")
    h = hostile(sb)
    env_id = "u1"
    script = render("--name", "web-carol", "--env-id", env_id, "--public-key",
                    "ssh-rsa AAAA carol", "--marker-url",
                    f"http://127.0.0.1:{port}/envctl/{env_id}/ready.json",
                    "--secrets-url", f"http://127.0.0.1:{port}/secrets.env?sig=1",
                    "--secret", "API_KEY",
                    "--image", "ubuntu-24.04", "--package", "build-essential",
                    "--env", f"X_HOSTILE={h['dollar']}", "--env", f"Y_NL={h['newline']}",
                    "--setup", h["quote"]).stdout
    res = sb.run(script, env_keys=["X_HOSTILE", "Y_NL", "API_KEY"])
    check(res.returncode == 0, f"ubuntu: script exit {res.returncode}")
    sb.no_pwned("ubuntu")
    apt = [c["args"] for c in sb.calls("apt-get")]
    lock = ["-o", "DPkg::Lock::Timeout=600"]
    check(apt == [lock + ["update", "-q"], lock + ["install", "-y", "-q", "build-essential"]],
          f"ubuntu: apt-get calls {apt}")
    check(sb.calls("dnf") == [] and sb.calls("docker") == [], "ubuntu: dnf or docker used")
    ru = sb.calls("runuser")
    check([c["args"] for c in ru] == [["-u", "ubuntu", "--", "bash", "-c", h["quote"]]],
          f"ubuntu: runuser {ru}")
    if ru:
        check(ru[0]["env"] == {"X_HOSTILE": h["dollar"], "Y_NL": h["newline"],
                               "API_KEY": SECRET}, "ubuntu: setup environment")
    check(os.path.exists(os.path.join(sb.root, "home", "ubuntu", ".ssh", "authorized_keys")),
          "ubuntu: key for ubuntu")
    check(not os.path.exists(os.path.join(sb.root, "var", "lib", "envctl", "secrets.env")),
          "ubuntu: secrets file left behind")
    got = [json.loads(b) for pth, b in puts(store) if f"/envctl/{env_id}/" in pth]
    check(len(got) == 1 and got[0]["status"] == "ready", f"ubuntu: markers {got}")


def test_yaml_spec(top, port, store):
    """A spec file parsed by lib/spec, hostile values and all, renders to a
    script that passes them through intact (debian-12: apt-get, admin)."""
    probe = subprocess.run([RENDER, "--spec", "/nonexistent", "--env-id", "p"],
                           capture_output=True, text=True)
    if "built without lib/spec" in probe.stderr:
        print("yaml: skipped, userdata_render was built without lib/spec")
        return
    sb = Sandbox(top, "yaml")
    h = hostile(sb)
    env_id = "y1"
    setup = ["pip install -r requirements.txt", h["dollar"], h["backtick"], h["quote"],
             h["newline"], h["backslash"]]
    env = {"A_VAL": h["dollar"], "B_VAL": h["quote"], "C_VAL": h["newline"],
           "D_VAL": h["backslash"]}
    q = json.dumps
    yaml = "\n".join([
        "apiVersion: envctl/v1", "kind: Environment", "metadata:", "  name: web-erin",
        "spec:", "  instance:", "    image: debian-12",
        "  access:", "    ssh: {allow_from: [192.0.2.10/32]}",
        "  bootstrap:", "    docker_image: python:3.12-slim",
        f"    repo: {{url: {q('https://github.com/acme/app.git')}, branch: {q('feature/x')}}}",
        "    system_packages: [make]", "    setup:"] +
        [f"      - {q(c)}" for c in setup] + ["    environment:"] +
        [f"      {k}: {q(v)}" for k, v in env.items()] + [""])
    path = os.path.join(sb.dir, "web-erin.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(yaml)
    script = render("--spec", path, "--env-id", env_id, "--public-key", "ssh-ed25519 AAAA erin",
                    "--marker-url", f"http://127.0.0.1:{port}/envctl/{env_id}/ready.json").stdout
    res = sb.run(script)
    check(res.returncode == 0, f"yaml: script exit {res.returncode}")
    sb.no_pwned("yaml")
    lock = ["-o", "DPkg::Lock::Timeout=600"]
    apt = [c["args"] for c in sb.calls("apt-get")]
    check(apt == [lock + ["update", "-q"], lock + ["install", "-y", "-q", "docker.io", "git", "make"]],
          f"yaml: apt-get calls {apt}")
    ws = os.path.join(sb.root, "home", "admin", "workspace")
    git = [c["args"] for c in sb.calls("git")]
    check(git == [["clone", "--branch", "feature/x", "--", "https://github.com/acme/app.git", ws]],
          f"yaml: git calls {git}")
    docker = sb.calls("docker")
    run = [c["args"] for c in docker if c["args"][0] == "run"]
    want_e = []
    for k in sorted(env):
        want_e += ["-e", f"{k}={env[k]}"]
    check(len(run) == 1 and run[0][8:8 + len(want_e)] == want_e,
          f"yaml: docker run environment {run}")
    execs = [c["args"][-1] for c in docker if c["args"][0] == "exec"]
    check(execs == setup, f"yaml: setup commands {execs}")
    got = [json.loads(b) for pth, b in puts(store) if f"/envctl/{env_id}/" in pth]
    check(len(got) == 1 and got[0]["status"] == "ready" and got[0]["env"] == "web-erin",
          f"yaml: markers {got}")


def test_ami_detect(top, port, store):
    """An ami-... image: the package manager and the login user are found at
    boot (no dnf or yum here, so apt-get and docker.io; the uid 1000 user)."""
    if shutil.which("dnf", path="/usr/bin:/bin") or shutil.which("yum", path="/usr/bin:/bin"):
        print("ami: skipped, this machine has a real dnf or yum")
        return
    sb = Sandbox(top, "ami")
    os.unlink(os.path.join(sb.bin, "dnf"))
    os.unlink(os.path.join(sb.bin, "yum"))
    env_id = "a1"
    script = render("--name", "web-frank", "--env-id", env_id, "--public-key",
                    "ssh-ed25519 AAAA frank", "--marker-url",
                    f"http://127.0.0.1:{port}/envctl/{env_id}/ready.json",
                    "--image", "ami-0123456789abcdef0", "--docker-image", "alpine:3",
                    "--package", "htop").stdout
    res = sb.run(script)
    check(res.returncode == 0, f"ami: script exit {res.returncode}")
    apt = [c["args"][2:] for c in sb.calls("apt-get")]
    check(apt == [["update", "-q"], ["install", "-y", "-q", "docker.io", "htop"]],
          f"ami: apt-get calls {apt}")
    check([c["args"] for c in sb.calls("getent")][:1] == [["passwd", "1000"]],
          "ami: login user not looked up by uid 1000")
    check(os.path.exists(os.path.join(sb.root, "home", "ec2-user", ".ssh", "authorized_keys")),
          "ami: key for the uid 1000 user")
    got = [json.loads(b) for pth, b in puts(store) if f"/envctl/{env_id}/" in pth]
    check(len(got) == 1 and got[0]["status"] == "ready", f"ami: markers {got}")


def test_refusals(top):
    base = ["--name", "web-dave", "--env-id", "d1", "--public-key", "ssh-ed25519 AAAA d",
            "--marker-url", "https://bucket.s3.amazonaws.com/m?sig=1"]
    render(*base)
    p = render(*base, "--setup", "x" * 20000, expect=2)
    check("user-data for web-dave is " in p.stderr and
          "bytes; EC2's limit is 16384 before base64: shorten setup or environment" in p.stderr,
          f"limit message: {p.stderr.strip()}")
    render(*base, "--package", "make; touch /tmp/pwned-envctl-userdata", expect=1)
    render(*base, "--env", "BAD-NAME=1", expect=1)
    render(*base, "--env", "$(id)=1", expect=1)
    render("--name", "web-dave", "--env-id", "d1", "--public-key", "ssh-ed25519 AAAA d\nssh-rsa BBBB e",
           "--marker-url", "https://b/m", expect=1)
    render(*base, "--secret", "API_KEY", expect=1)      # secrets but no URL
    check(not os.path.exists("/tmp/pwned-envctl-userdata"), "refusals: payload ran")


def main():
    top = tempfile.mkdtemp(prefix="envctl-userdata-it.")
    proc = None
    try:
        proc, port, store = start_server(top, SECRETS_BODY)
        test_ready(top, port, store)
        test_error(top, port, store)
        test_sshd(top, port, store)
        test_ubuntu_host_mode(top, port, store)
        test_yaml_spec(top, port, store)
        test_ami_detect(top, port, store)
        test_refusals(top)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        if failures:
            print(f"sandbox kept for inspection: {top}", file=sys.stderr)
        else:
            shutil.rmtree(top)
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("userdata bootstrap: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
