# envctl plan against real PostgreSQL and moto behind the fault proxy.
envctl_integration_test(it_plan
	${CMAKE_SOURCE_DIR}/tests/harness/with-pg.sh
	${CMAKE_SOURCE_DIR}/tests/harness/with-aws.sh
	python3 ${CMAKE_SOURCE_DIR}/tests/integration/plan_it.py)
