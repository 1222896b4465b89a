# lib/store, envctl migrate and the throwaway PostgreSQL harness.
envctl_integration_test(it_store_migrate
	${CMAKE_SOURCE_DIR}/tests/harness/with-pg.sh
	${CMAKE_SOURCE_DIR}/tests/integration/store_migrate.sh)
envctl_integration_test(it_store_pg_harness
	${CMAKE_SOURCE_DIR}/tests/integration/store_pg_harness.sh)
set_tests_properties(it_store_migrate it_store_pg_harness PROPERTIES
	LABELS "integration;postgres" TIMEOUT 300)
# envctl cost over a ledger written with psql (docs/design.md §6.9).
envctl_integration_test(it_cost_report
	${CMAKE_SOURCE_DIR}/tests/harness/with-pg.sh
	${CMAKE_SOURCE_DIR}/tests/integration/cost_report.sh)
set_tests_properties(it_cost_report PROPERTIES
	LABELS "integration;postgres" TIMEOUT 120)
