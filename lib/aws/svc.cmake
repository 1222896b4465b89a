# envctl_aws_svc: the EC2, S3 and SSM clients, built on the request API of
# aws_int.h (envctl_aws_core) and SigV4 presigning (envctl_aws_sign).
add_library(envctl_aws_svc STATIC
	${CMAKE_CURRENT_LIST_DIR}/ec2.c
	${CMAKE_CURRENT_LIST_DIR}/s3.c
	${CMAKE_CURRENT_LIST_DIR}/ssm.c)
target_include_directories(envctl_aws_svc PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(envctl_aws_svc
	PUBLIC envctl_aws_core envctl_aws_sign envctl_base
	PRIVATE PkgConfig::OPENSSL PkgConfig::JANSSON)
