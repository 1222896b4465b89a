# `envctl aws whoami` (AWS core: transport, retries, errors, STS, the
# credential chain's assume-role callback) against moto_server behind
# tests/harness/faultproxy.py.  Each test starts its own servers.
foreach(scenario whoami assume_role retry unreachable canary)
	envctl_integration_test(aws_core_${scenario}
		${CMAKE_SOURCE_DIR}/tests/harness/with-aws.sh
		python3 ${CMAKE_CURRENT_LIST_DIR}/aws_core/aws_core_it.py ${scenario})
endforeach()
