"""ssh_it.py - envctl ssh and ssh-config against a real sshd playing the instance.

Run under tests/harness/with-aws.sh only: there is no database (an
unreachable database URL is configured), so envctl can only use AWS.

The environment is seeded as the provision pipeline leaves it, through the
fault proxy with the aws CLI: an instance carrying envctl's tags, the
private key at <prefix>/<env-id>/id_ed25519 and the bootstrap marker at
<prefix>/<env-id>/bootstrap-done.json holding the sshd's host key.  The
instance's public IP is moto's; ENVCTL_SSH names a wrapper that sends ssh
to 127.0.0.1 instead (-o HostName, which HostKeyAlias makes harmless) and
records what it was given; the port is ready_ssh_port, as a real operator
would set it.  Checks use the aws CLI, stat and ssh itself.
"""

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
import itlib  # noqa: E402
from itlib import PROXY, Checks, aws, free_port  # noqa: E402

BUCKET = "envctl-it-ssh"
CLUSTER = "it-ssh"
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def aws_proxy(*args):
    """The aws CLI through the fault proxy (recorded, checked for conformance)."""
    r = subprocess.run(["aws", "--endpoint-url", PROXY, "--region", "us-east-1",
                        "--output", "json", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("aws %s: %s" % (" ".join(args[:2]), r.stderr.strip()))
    return json.loads(r.stdout) if r.stdout.strip() else {}


def envctl(*args, env=None, timeout=60):
    """envctl, its output shown when it overruns (then as a failed run)."""
    try:
        return itlib.envctl(*args, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        print("envctl %s timed out: %s" % (" ".join(args), e.stderr))
        return subprocess.CompletedProcess(args, 124, e.stdout or "", str(e.stderr or ""))


def keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "it", "-f", path],
                   check=True)
    fp = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", path + ".pub"],
                        check=True, capture_output=True, text=True).stdout.split()[1]
    with open(path + ".pub", encoding="utf-8") as f:
        return fp, " ".join(f.read().split()[:2])


class Sshd:
    """A real sshd on 127.0.0.1:port with one host key, started and stopped by pid."""

    def __init__(self, d, port, hostkey, user):
        self.cfg = os.path.join(d, "sshd_config-" + os.path.basename(hostkey))
        with open(self.cfg, "w", encoding="utf-8") as f:
            f.write("Port %d\nListenAddress 127.0.0.1\nHostKey %s\n"
                    "AuthorizedKeysFile %s/authorized_keys\nAllowUsers %s\n"
                    "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                    "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
                    "PidFile none\nLogLevel ERROR\n" % (port, hostkey, d, user))
        self.log = open(os.path.join(d, "sshd.log"), "a", encoding="utf-8")
        self.p = subprocess.Popen([SSHD, "-D", "-e", "-f", self.cfg], stderr=self.log)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return
            except OSError:
                if self.p.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError("sshd did not start: " + open(self.log.name).read())

    def stop(self):
        self.p.terminate()
        self.p.wait(10)
        self.log.close()


def seed(name, spec_key, fp, hostpub, userkey):
    """An instance and its S3 objects as the provision pipeline leaves them."""
    env_id = str(uuid.uuid4())
    image = aws("ec2", "describe-images", "--owners", "amazon")["Images"][0]["ImageId"]
    tags = [{"Key": "envctl:managed", "Value": "true"}, {"Key": "envctl:cluster", "Value": CLUSTER},
            {"Key": "envctl:env", "Value": name}, {"Key": "envctl:env-id", "Value": env_id}]
    out = aws_proxy("ec2", "run-instances", "--image-id", image, "--instance-type", "t3.micro",
                    "--count", "1", "--tag-specifications",
                    json.dumps([{"ResourceType": "instance", "Tags": tags}]))
    iid = out["Instances"][0]["InstanceId"]
    marker = {"version": 1, "env_id": env_id, "env": name, "status": "ready", "line": 0,
              "exit_code": 0, "host_keys": [{"type": "ED25519", "fingerprint": fp, "key": hostpub}]}
    mf = tempfile.mktemp()
    with open(mf, "w", encoding="utf-8") as f:
        json.dump(marker, f)
    aws_proxy("s3api", "put-object", "--bucket", BUCKET, "--key",
              "envctl/%s/bootstrap-done.json" % env_id, "--body", mf,
              "--content-type", "application/json")
    if spec_key == "auto":
        aws_proxy("s3api", "put-object", "--bucket", BUCKET, "--key",
                  "envctl/%s/id_ed25519" % env_id, "--body", userkey,
                  "--server-side-encryption", "AES256")
    return iid, env_id


def main():
    t = Checks()
    check = t.check
    if not os.path.exists(SSHD) or shutil.which("ssh") is None:
        print("skip: no sshd or ssh (scripts/test installs openssh-server)")
        return 77
    user = os.environ.get("USER") or subprocess.run(["id", "-un"], capture_output=True,
                                                    text=True).stdout.strip()
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", 0o755, exist_ok=True)	# privilege separation
    d = tempfile.mkdtemp()
    os.chmod(d, 0o755)
    fa, puba = keygen(os.path.join(d, "hostkey_a"))
    fb, _ = keygen(os.path.join(d, "hostkey_b"))
    keygen(os.path.join(d, "user"))
    shutil.copy(os.path.join(d, "user.pub"), os.path.join(d, "authorized_keys"))
    port = free_port()

    specs = os.path.join(d, "specs")
    os.mkdir(specs)
    for name, key in (("devbox", "auto"), ("opsbox", "{name: team-key}")):
        with open(os.path.join(specs, name + ".yaml"), "w", encoding="utf-8") as f:
            f.write("apiVersion: envctl/v1\nkind: Environment\nmetadata: {name: %s}\n"
                    "spec:\n  instance: {type: t3.micro, image: al2023}\n"
                    "  access:\n    ssh: {key: %s, user: %s, allow_from: [127.0.0.1/32]}\n"
                    % (name, key, user))
    aws_proxy("s3api", "create-bucket", "--bucket", BUCKET)
    iid, _ = seed("devbox", "auto", fa, puba, os.path.join(d, "user"))
    seed("opsbox", "name", fa, puba, None)
    ip = aws("ec2", "describe-instances", "--instance-ids", iid)["Reservations"][0][
        "Instances"][0].get("PublicIpAddress", "")
    check(ip != "", "moto gave the seeded instance a public IP (%s)" % ip)

    wrapper = os.path.join(d, "ssh-wrapper")
    seen = os.path.join(d, "wrapper.log")
    with open(wrapper, "w", encoding="utf-8") as f:
        f.write("#!/bin/sh\n"
                "# record the key file's and its directory's modes, then ssh to loopback\n"
                "prev=; for a in \"$@\"; do\n"
                "  if [ \"$prev\" = -i ]; then\n"
                "    echo \"key $a $(stat -c %%a \"$a\") $(stat -c %%a \"$(dirname \"$a\")\")\" >>%s\n"
                "  fi; prev=$a\n"
                "done\n"
                "echo \"args $*\" >>%s\n"
                "exec ssh -o HostName=127.0.0.1 -o BatchMode=yes \"$@\"\n" % (seen, seen))
    os.chmod(wrapper, 0o755)
    runtime = os.path.join(d, "run")
    os.mkdir(runtime, 0o700)
    env = {"ENVCTL_CLUSTER_ID": CLUSTER, "ENVCTL_S3_BUCKET": BUCKET, "ENVCTL_SPECS": specs,
           "ENVCTL_READY_SSH_PORT": str(port), "ENVCTL_SSH": wrapper,
           "ENVCTL_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=1",
           "XDG_RUNTIME_DIR": runtime, "XDG_STATE_HOME": os.path.join(d, "state"),
           "HOME": d}

    def wrapper_log():
        try:
            with open(seen, encoding="utf-8") as f:
                return f.read()
        finally:
            if os.path.exists(seen):
                os.unlink(seen)

    a = Sshd(d, port, os.path.join(d, "hostkey_a"), user)
    try:
        r = envctl("ssh", "devbox", "--", "uname", env=env, timeout=20)
        check(r.returncode == 0 and r.stdout.strip() == os.uname().sysname,
              "envctl ssh devbox -- uname runs on the sshd (%d, %r, %s)"
              % (r.returncode, r.stdout, r.stderr.strip()))
        log = wrapper_log()
        keyline = [x.split() for x in log.splitlines() if x.startswith("key ")]
        check(len(keyline) == 1 and keyline[0][2:] == ["600", "700"],
              "the key file is 0600 in a 0700 directory (%s)" % keyline)
        check(len(keyline) == 1 and keyline[0][1].startswith(runtime + "/")
              and not os.path.exists(keyline[0][1])
              and not os.path.exists(os.path.dirname(keyline[0][1])),
              "under XDG_RUNTIME_DIR, and removed with its directory when ssh exited")
        check("StrictHostKeyChecking=yes" in log and "HostKeyAlias=envctl-devbox" in log
              and "-l %s" % user in log and "-p %d" % port in log and ip in log,
              "ssh given strict checking, the alias, the spec's user, the port and the IP")

        r = envctl("ssh", "devbox", "--", "exit 7", env=env, timeout=20)
        check(r.returncode == 7, "ssh's exit status is passed on (%d)" % r.returncode)
        wrapper_log()

        r = envctl("ssh-config", "devbox", "opsbox", env=env, timeout=20)
        check(r.returncode == 0 and "Host envctl-devbox\n" in r.stdout,
              "envctl ssh-config prints Host blocks (%s)" % r.stderr.strip())
        cfg = os.path.join(d, "ssh_config")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(r.stdout)
        sd = os.path.join(d, "state", "envctl", "ssh")
        check(stat.S_IMODE(os.stat(sd).st_mode) == 0o700
              and stat.S_IMODE(os.stat(os.path.join(sd, "devbox")).st_mode) == 0o600,
              "ssh-config's files: the key 0600 in a 0700 directory under XDG_STATE_HOME")
        ops = r.stdout.split("Host envctl-opsbox\n", 1)[-1]
        check("IdentityFile" not in ops.replace("# IdentityFile", "")
              and "team-key" in ops and "UserKnownHostsFile" in ops,
              "an operator key pair: known_hosts pinned, the identity left to the developer")
        r = subprocess.run(["ssh", "-F", cfg, "-o", "HostName=127.0.0.1", "-o", "BatchMode=yes",
                            "envctl-devbox", "true"], capture_output=True, text=True, timeout=20)
        check(r.returncode == 0, "ssh -F <(envctl ssh-config devbox) envctl-devbox true (%s)"
              % r.stderr.strip())
    finally:
        a.stop()

    b = Sshd(d, port, os.path.join(d, "hostkey_b"), user)
    try:
        r = envctl("ssh", "devbox", "--", "true", env=env, timeout=20)
        check(r.returncode == 255 and "offered the key " + fb in r.stderr and fa in r.stderr
              and "Do not answer 'yes'" in r.stderr,
              "a different host key at the same address is refused, saying which (%d): %s"
              % (r.returncode, r.stderr.strip().splitlines()[-1:]))
        keyline = [x.split() for x in wrapper_log().splitlines() if x.startswith("key ")]
        check(len(keyline) == 1 and not os.path.exists(os.path.dirname(keyline[0][1])),
              "the key directory is removed after a refusal too")
        r = subprocess.run(["ssh", "-F", cfg, "-o", "HostName=127.0.0.1", "-o", "BatchMode=yes",
                            "envctl-devbox", "true"], capture_output=True, text=True, timeout=20)
        check(r.returncode == 255, "plain ssh with the ssh-config block refuses it too")
    finally:
        b.stop()
    check(os.listdir(runtime) == [], "nothing left in XDG_RUNTIME_DIR")
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
