# EC2 and S3 clients against moto_server behind tests/harness/faultproxy.py.
# aws_svc_it (C) makes the calls; aws_svc_it.py scripts the proxy and reads
# results back with the aws CLI.  Each test starts its own servers.
if(TARGET envctl_aws_svc)
	add_executable(aws_svc_it ${CMAKE_CURRENT_LIST_DIR}/aws_svc/aws_svc_it.c)
	target_link_libraries(aws_svc_it PRIVATE envctl_aws_svc envctl_aws_core
		envctl_aws_sign envctl_base Threads::Threads)
	foreach(scenario calls throttle storm drop_after drop_mid idempotency consistency
		pagination paced)
		envctl_integration_test(aws_svc_${scenario}
			${CMAKE_SOURCE_DIR}/tests/harness/with-aws.sh
			python3 ${CMAKE_CURRENT_LIST_DIR}/aws_svc/aws_svc_it.py
			${scenario} $<TARGET_FILE:aws_svc_it>)
	endforeach()
endif()
# The fault proxy's own behaviour (raw HTTP, no SDK).
envctl_integration_test(aws_faultproxy
	${CMAKE_SOURCE_DIR}/tests/harness/with-aws.sh
	python3 ${CMAKE_SOURCE_DIR}/tests/harness/faultproxy_test.py)
# The fault proxy's strict mode: each behaviour on and off (boto3 for
# presigned URLs, raw HTTP otherwise).
envctl_integration_test(aws_faultproxy_strict
	${CMAKE_SOURCE_DIR}/tests/harness/with-aws.sh
	python3 ${CMAKE_SOURCE_DIR}/tests/harness/strict_test.py)
# The proxy's self-tests send their own requests, none of envctl's: they are
# not recorded for the conformance and IAM policy checks.
set_tests_properties(aws_faultproxy aws_faultproxy_strict PROPERTIES
	ENVIRONMENT "ENVCTL_SRC=${CMAKE_SOURCE_DIR};ENVCTL_BUILD=${CMAKE_BINARY_DIR}"
	FIXTURES_REQUIRED "")
