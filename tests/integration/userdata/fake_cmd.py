#!/usr/bin/env python3
"""Stand-in for a system command (docker, git, dnf, ...) in the bootstrap
sandbox: appends one JSON line {"cmd", "args", ...} to $FAKE_LOG and does
the least the script needs (getent prints a passwd line, git clone makes the
directory).  $FAKE_FAIL="cmd arg1" makes calls starting so exit 3.
Environment variables named in $FAKE_ENV_KEYS are recorded too, and a
docker --env-file is read and recorded with its mode, so a test can check
what the command received."""
import json
import os
import stat
import sys

cmd = os.path.basename(sys.argv[0])
args = sys.argv[1:]
rec = {"cmd": cmd, "args": args}
keys = [k for k in os.environ.get("FAKE_ENV_KEYS", "").split(",") if k]
if keys:
    rec["env"] = {k: os.environ[k] for k in keys if k in os.environ}
if cmd == "docker" and "--env-file" in args:
    path = args[args.index("--env-file") + 1]
    st = os.stat(path)
    with open(path, encoding="utf-8") as f:
        rec["env_file"] = {"mode": stat.S_IMODE(st.st_mode), "content": f.read()}
with open(os.environ["FAKE_LOG"], "a", encoding="utf-8") as f:
    f.write(json.dumps(rec) + "\n")

fail = os.environ.get("FAKE_FAIL", "").split()
if fail and [cmd] + args[:len(fail) - 1] == fail:
    sys.exit(3)
if cmd == "getent" and args[:1] == ["passwd"]:
    user = args[1] if args[1] != "1000" else "ec2-user"
    print(f"{user}:x:1000:1000::/home/{user}:/bin/bash")
elif cmd == "git" and args[:1] == ["clone"]:
    os.makedirs(os.path.join(args[-1], ".git"))
elif cmd == "ssh-keyscan":
    print("127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyForTheSandboxOnly")
elif cmd == "docker" and args[:1] == ["run"]:
    print("0123456789abcdef")
