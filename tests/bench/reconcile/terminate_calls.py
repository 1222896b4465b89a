#!/usr/bin/env python3
"""terminate_calls.py - the AWS calls of one `envctl reconcile --once` pass
that terminates one ready environment (its spec removed, another kept),
counted from the fault proxy's request log (docs/benchmarks.md, Ownership
checks).  ENVCTL_BIN names the binary, so two builds can be compared:

    ENVCTL_BIN=build/controller/envctl tests/harness/with-pg.sh \\
        tests/harness/with-aws.sh python3 tests/bench/reconcile/terminate_calls.py
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "integration"))
import reconcile_it as R  # noqa: E402

try:
    R.aws("s3api", "create-bucket", "--bucket", R.BUCKET)
except RuntimeError:
    pass
sc = R.Scenario("calls")
sc.spec("web")
sc.spec("keep")
for _ in range(3):
    sc.reconcile()
sc.unspec("web")
R.proxy("/__proxy/log/clear", {})
r = sc.reconcile()
calls = {}
for e in R.proxy("/__proxy/log")["entries"]:
    calls[e["action"]] = calls.get(e["action"], 0) + 1
print("exit %d; rows: %s" % (r.returncode, sc.psql("SELECT name, status FROM environments")))
print("calls %s, total %d" % (json.dumps(calls, sort_keys=True), sum(calls.values())))
