# envctl reconcile --once end to end: real PostgreSQL, moto behind the fault proxy.
envctl_integration_test(it_reconcile_fleet
	${CMAKE_SOURCE_DIR}/tests/harness/with-pg.sh
	${CMAKE_SOURCE_DIR}/tests/harness/with-aws.sh
	python3 ${CMAKE_SOURCE_DIR}/tests/integration/reconcile_it.py fleet)
# Every rollback path and a crash at every step of both pipelines.
envctl_integration_test(it_reconcile_faults
	${CMAKE_SOURCE_DIR}/tests/harness/with-pg.sh
	${CMAKE_SOURCE_DIR}/tests/harness/with-aws.sh
	python3 ${CMAKE_SOURCE_DIR}/tests/integration/reconcile_it.py faults)
# Delays, eventual consistency, throttling and dropped connections, seeded.
envctl_integration_test(it_reconcile_chaos
	${CMAKE_SOURCE_DIR}/tests/harness/with-pg.sh
	${CMAKE_SOURCE_DIR}/tests/harness/with-aws.sh
	python3 ${CMAKE_SOURCE_DIR}/tests/integration/reconcile_it.py chaos)
# IPv6 ingress, the subnet's VPC, price_table, drift recorded once per
# fact, and the ssh / hostkey readiness checks.
envctl_integration_test(it_reconcile_features
	${CMAKE_SOURCE_DIR}/tests/harness/with-pg.sh
	${CMAKE_SOURCE_DIR}/tests/harness/with-aws.sh
	python3 ${CMAKE_SOURCE_DIR}/tests/integration/reconcile_it.py features)
