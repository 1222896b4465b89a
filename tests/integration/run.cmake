# envctl run / envctl drift against real PostgreSQL, moto behind the fault
# proxy and a real git repository (run_it.py).
foreach(scenario loop git gitlink leader churn pgdown drift soak takeover oncelock overflow fence budget outcomes backoff lease)
	envctl_integration_test(it_run_${scenario}
		${CMAKE_SOURCE_DIR}/tests/harness/with-pg.sh
		${CMAKE_SOURCE_DIR}/tests/harness/with-aws.sh
		python3 ${CMAKE_SOURCE_DIR}/tests/integration/run_it.py ${scenario})
endforeach()
# The systemd units and the manual pages, installed into a DESTDIR.
envctl_integration_test(it_run_units sh ${CMAKE_SOURCE_DIR}/tests/integration/run_units.sh)
# envctl run executes the plan: a spec added becomes an instance, removed is terminated.
envctl_integration_test(it_run_acts
	${CMAKE_SOURCE_DIR}/tests/harness/with-pg.sh
	${CMAKE_SOURCE_DIR}/tests/harness/with-aws.sh
	python3 ${CMAKE_SOURCE_DIR}/tests/integration/run_acts_it.py)
