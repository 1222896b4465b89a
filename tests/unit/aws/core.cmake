# Unit tests for envctl_aws_core (transport, endpoints, retries, errors,
# XML helpers, STS).  The network is replaced below the module boundary
# (injected transport) or is a loopback server inside the test.
envctl_unit_test(test_aws_core_parse
	SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_core_parse.c
		${CMAKE_CURRENT_LIST_DIR}/fakeaws.c
	LIBS envctl_aws_core envctl_aws_sign envctl_base)
envctl_unit_test(test_aws_core_client
	SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_core_client.c
	LIBS envctl_aws_core envctl_aws_sign envctl_base Threads::Threads)
envctl_unit_test(test_aws_core_pace
	SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_core_pace.c
	LIBS envctl_aws_core envctl_aws_sign envctl_base Threads::Threads)
set_tests_properties(test_aws_core_parse test_aws_core_client
	test_aws_core_pace PROPERTIES TIMEOUT 60)
