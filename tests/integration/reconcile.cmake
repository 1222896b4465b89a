# envctl reconcile --once end to end: real PostgreSQL, moto behind the fault
# proxy (reconcile_it.py).
#   fleet     a spec tree converges, removal, replacement, orphans, drift
#   faults    every rollback path and a crash at every step of both pipelines
#   chaos     delays, eventual consistency, throttling and dropped connections
#   features  IPv6 ingress, the subnet's VPC, price_table, drift recorded once
#             per fact, and the ssh / hostkey readiness checks
#   hostile   a newline and terminal escapes in a row's name and error:
#             status, plan and log lines stay one line each, no ESC
#   secrets   secrets only from the secret namespace (env prefix, secrets_dir,
#             SSM on moto); the controller's own secrets refused and nowhere
#   own       two clusters on one database; forged rows pointing at an
#             untagged instance, another cluster's, an unrelated group
#   regions   strict mode: a bucket in ap-southeast-2, specs in us-east-1 and
#             eu-west-1; a Graviton spec beside an x86 one
#   strict    the pipeline under the strict emulator: invisible new
#             resources, a private subnet reaching ready with the default
#             checks, host keys (delay, mismatch, stored), Unsupported ->
#             next subnet, an orphan's group left by DependencyViolation
#   stopstart envctl stop / start: same instance and disk, a stopped
#             environment left alone, spot refused
#   idle      idle_stop reaching each instance's user-data and shutdown
#             behaviour (spec, fleet option, spot, terminate); status shows it
#   placement spot placement scores (the proxy's table): the best (type,
#             zone) pool first, the next when it has no capacity
#   spot      a spot interruption marker: replaced in the next pass,
#             on-demand with spot.fallback: on-demand
#   cost      the cost check: envctl cost within 1 % of the proxy's record
#             over a failed attempt, stop, start, spot replacement, ends
#   reprice   a running spot instance's zone price changes: one pass
#             continues its compute segment at the new price (one
#             DescribeSpotPriceHistory per type), envctl cost = psql's rows
foreach(scenario fleet faults chaos features hostile secrets own strict audit regions quota stopstart
	idle placement spot cost reprice)
	envctl_integration_test(it_reconcile_${scenario}
		${CMAKE_SOURCE_DIR}/tests/harness/with-pg.sh
		${CMAKE_SOURCE_DIR}/tests/harness/with-aws.sh
		python3 ${CMAKE_SOURCE_DIR}/tests/integration/reconcile_it.py ${scenario})
endforeach()
