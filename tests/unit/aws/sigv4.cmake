# Unit tests for envctl_aws_sign (SigV4 and the credentials chain).
envctl_unit_test(test_sigv4
	SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sigv4.c
	LIBS envctl_aws_sign envctl_base PkgConfig::JANSSON)
set_tests_properties(test_sigv4 PROPERTIES TIMEOUT 60)
envctl_unit_test(test_creds
	SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_creds.c
	LIBS envctl_aws_sign envctl_base Threads::Threads)
set_tests_properties(test_creds PROPERTIES TIMEOUT 120)
