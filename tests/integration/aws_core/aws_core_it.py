#!/usr/bin/env python3
"""aws_core_it.py SCENARIO - `envctl aws whoami` against moto_server.

Run under tests/harness/with-aws.sh, which starts moto_server and the
fault proxy on 127.0.0.1 and exports AWS_ENDPOINT_URL (the proxy),
ENVCTL_PROXY_URL, ENVCTL_MOTO_URL and dummy credentials.  ENVCTL_BIN is
the real envctl binary.  The aws CLI is the independent client.

Scenarios:
  whoami       text and JSON output; account checked against the aws CLI
  assume_role  a role profile: the credential chain calls STS AssumeRole
               through envctl's client; moto then names the assumed role
  retry        the proxy throttles the first GetCallerIdentity: one retry
  unreachable  nothing listens on the endpoint: clear error, exit 1
  canary       canary secret key and session token at debug log level,
               for a success, an AWS error and a connection error: the
               canary appears in no output, log line or error text
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ENVCTL = os.environ["ENVCTL_BIN"]
PROXY = os.environ["ENVCTL_PROXY_URL"]
MOTO = os.environ["ENVCTL_MOTO_URL"]

CANARY_SECRET = "CANARYsecret0123456789abcdefghijklmnopqrst"
CANARY_TOKEN = "CANARYtoken9876543210zyxwvutsrqponmlkjihgfedcbaZYXW"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def run(args, env=None, timeout=60):
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([ENVCTL] + args, env=e, capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def proxy(path, doc=None):
    data = json.dumps(doc).encode() if doc is not None else None
    req = urllib.request.Request(PROXY + "/__proxy/" + path, data=data,
                                 method="POST" if data is not None else "GET",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"{}")


def plog(action, want):
    """The proxy's log for action, waiting up to 2 s for `want` entries:
    the proxy records a request just after answering it."""
    deadline = time.time() + 2
    while True:
        log = proxy("log?action=" + action)["entries"]
        if len(log) >= want or time.time() > deadline:
            time.sleep(0.1)    # and let any extra entry show up
            return proxy("log?action=" + action)["entries"]
        time.sleep(0.05)


def aws_cli(args, env=None):
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run(["aws"] + args + ["--endpoint-url", MOTO,
                                         "--region", "us-east-1",
                                         "--output", "json"],
                       env=e, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        fail("aws %s: %s" % (" ".join(args), p.stderr))
    return json.loads(p.stdout) if p.stdout.strip() else {}


def whoami_json(env=None, extra=()):
    rc, out, err = run(["aws", "whoami", "-o", "json"] + list(extra), env)
    check(rc == 0, "whoami -o json exit %d: %s" % (rc, err))
    try:
        return json.loads(out)
    except ValueError:
        fail("whoami -o json printed something other than one JSON "
             "document: %r" % out)


def scenario_whoami():
    ident = aws_cli(["sts", "get-caller-identity"])
    doc = whoami_json()
    for k in ("account", "arn", "user_id", "region", "endpoint",
              "credentials_source"):
        check(k in doc, "JSON lacks %s: %r" % (k, doc))
    check(doc["account"] == ident["Account"],
          "account %s, aws CLI says %s" % (doc["account"], ident["Account"]))
    check(doc["arn"] == ident["Arn"], "arn %s vs %s" % (doc["arn"], ident["Arn"]))
    check(doc["user_id"] == ident["UserId"], "user id differs")
    check(doc["region"] == "us-east-1", "region %r" % doc["region"])
    check(doc["endpoint"] == PROXY, "endpoint %r, want %r" % (doc["endpoint"], PROXY))
    check(doc["credentials_source"] == "env",
          "source %r" % doc["credentials_source"])
    # secrets are never printed
    out = json.dumps(doc)
    check(os.environ["AWS_SECRET_ACCESS_KEY"] not in out, "secret printed")

    rc, out, err = run(["aws", "whoami"])
    check(rc == 0, "whoami exit %d: %s" % (rc, err))
    check("account:   %s" % ident["Account"] in out, "text output: %r" % out)
    check("source:    env" in out, "text output lacks the source: %r" % out)

    # AWS_ENDPOINT_URL_STS wins over AWS_ENDPOINT_URL; AWS_DEFAULT_REGION
    # is read when AWS_REGION is unset
    doc = whoami_json({"AWS_ENDPOINT_URL_STS": MOTO, "AWS_REGION": "",
                       "AWS_DEFAULT_REGION": "eu-west-1"})
    check(doc["endpoint"] == MOTO, "AWS_ENDPOINT_URL_STS not used: %r" % doc)
    check(doc["region"] == "eu-west-1", "AWS_DEFAULT_REGION not used: %r" % doc)

    # proxy saw exactly the calls we made through it (no hidden retries)
    log = plog("GetCallerIdentity", 2)
    check(len(log) == 2, "proxy saw %d GetCallerIdentity calls" % len(log))

    rc, out, err = run(["aws", "whoami"], {"AWS_REGION": "",
                                           "AWS_DEFAULT_REGION": ""})
    check(rc == 1 and "envctl: aws whoami: no AWS region" in err,
          "no region: rc %d err %r" % (rc, err))


def scenario_assume_role():
    role = aws_cli(["iam", "create-role", "--role-name", "envctl-dev",
                    "--assume-role-policy-document",
                    '{"Version":"2012-10-17","Statement":[]}'])
    arn = role["Role"]["Arn"]
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "config")
        with open(cfg, "w") as f:
            f.write("[profile base]\n"
                    "aws_access_key_id = AKIDBASEPROFILE01\n"
                    "aws_secret_access_key = base-profile-secret\n"
                    "[profile dev]\n"
                    "role_arn = %s\n"
                    "source_profile = base\n"
                    "external_id = ext-1234\n"
                    "role_session_name = whoami-it\n" % arn)
        env = {"AWS_CONFIG_FILE": cfg, "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
               "AWS_PROFILE": "dev", "AWS_ACCESS_KEY_ID": "",
               "AWS_SECRET_ACCESS_KEY": ""}
        proxy("log/clear", {})
        doc = whoami_json(env)
    check(doc["credentials_source"] == "assume-role:" + arn,
          "source %r" % doc["credentials_source"])
    check(":assumed-role/envctl-dev/whoami-it" in doc["arn"],
          "moto does not see the assumed role: %r" % doc["arn"])
    log = plog("AssumeRole", 1)
    check(len(log) == 1, "proxy saw %d AssumeRole calls" % len(log))
    p = log[0]["params"]
    check(p.get("RoleArn") == arn and p.get("ExternalId") == "ext-1234"
          and p.get("RoleSessionName") == "whoami-it",
          "AssumeRole parameters: %r" % p)
    check("base-profile-secret" not in json.dumps(log), "secret in request")


def scenario_retry():
    proxy("config", {"faults": [{"action": "GetCallerIdentity", "nth": 1,
                                 "status": 400, "code": "Throttling",
                                 "message": "Rate exceeded"}]})
    doc = whoami_json()
    check(doc["account"], "no account")
    log = plog("GetCallerIdentity", 2)
    check(len(log) == 2, "want 2 attempts (throttled, then ok), got %d" % len(log))
    check(log[0]["status"] == 400 and log[1]["status"] == 200,
          "statuses %r" % [e["status"] for e in log])

    # a non-retryable error: one attempt, exit 1, code and guidance shown
    proxy("reset", {"moto": False})
    proxy("config", {"faults": [{"action": "GetCallerIdentity", "every": True,
                                 "status": 403, "code": "InvalidClientTokenId",
                                 "message": "The security token included in "
                                 "the request is invalid."}]})
    rc, out, err = run(["aws", "whoami"])
    check(rc == 1, "exit %d" % rc)
    check(err.startswith("envctl: aws whoami: sts GetCallerIdentity: "
                         "InvalidClientTokenId: "), "error line %r" % err)
    check("1 attempt" in err and "AWS_ACCESS_KEY_ID" in err,
          "no attempt count or guidance: %r" % err)
    check(out == "", "stdout on failure: %r" % out)
    log = plog("GetCallerIdentity", 1)
    check(len(log) == 1, "non-retryable error sent %d times" % len(log))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def scenario_unreachable():
    url = "http://127.0.0.1:%d" % free_port()
    rc, out, err = run(["aws", "whoami", "--endpoint-url", url])
    check(rc == 1, "exit %d" % rc)
    check(out == "", "stdout: %r" % out)
    lines = err.strip().splitlines()
    check(len(lines) == 1, "want one error line, got %r" % err)
    check(lines[0].startswith("envctl: aws whoami: sts GetCallerIdentity: "),
          "error line %r" % err)
    check(url[len("http://"):] in err and "3 attempts" in err,
          "error names neither the endpoint nor the attempts: %r" % err)


def scenario_canary():
    env = {"AWS_SECRET_ACCESS_KEY": CANARY_SECRET,
           "AWS_SESSION_TOKEN": CANARY_TOKEN, "ENVCTL_LOG_LEVEL": "debug"}
    texts = []
    rc, out, err = run(["aws", "whoami", "-o", "json"], env)
    check(rc == 0, "whoami with canary creds: %d %s" % (rc, err))
    check("aws: sts GetCallerIdentity" in err, "no debug log lines: %r" % err)
    texts += [out, err]
    # an AWS error whose message echoes the canaries back
    proxy("config", {"faults": [{"action": "GetCallerIdentity", "every": True,
                                 "status": 403, "code": "SignatureDoesNotMatch",
                                 "message": "bad %s %s" % (CANARY_SECRET,
                                                           CANARY_TOKEN)}]})
    rc, out, err = run(["aws", "whoami"], env)
    check(rc == 1 and "SignatureDoesNotMatch" in err, "fault: %d %r" % (rc, err))
    texts += [out, err]
    url = "http://127.0.0.1:%d" % free_port()
    rc, out, err = run(["aws", "whoami", "--endpoint-url", url], env)
    check(rc == 1, "unreachable: %d" % rc)
    texts += [out, err]
    for t in texts:
        check("CANARY" not in t, "canary leaked: %r" % t)


SCENARIOS = {
    "whoami": scenario_whoami,
    "assume_role": scenario_assume_role,
    "retry": scenario_retry,
    "unreachable": scenario_unreachable,
    "canary": scenario_canary,
}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        print("usage: aws_core_it.py %s" % "|".join(SCENARIOS), file=sys.stderr)
        sys.exit(64)
    SCENARIOS[sys.argv[1]]()
    print("ok: " + sys.argv[1])
