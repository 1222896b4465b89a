# EC2 and S3 clients through an injected transport (lib/aws/svc.cmake).
if(TARGET envctl_aws_svc)
	envctl_unit_test(test_svc
		SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_svc.c
			${CMAKE_CURRENT_LIST_DIR}/fakeaws.c
		LIBS envctl_aws_svc envctl_aws_core envctl_aws_sign envctl_base)
endif()
