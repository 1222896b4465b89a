# envctl_aws_sign: SigV4 signing/presigning and the credentials chain.
add_library(envctl_aws_sign STATIC
	${CMAKE_CURRENT_LIST_DIR}/sigv4.c
	${CMAKE_CURRENT_LIST_DIR}/creds.c
	${CMAKE_CURRENT_LIST_DIR}/ini.c
	${CMAKE_CURRENT_LIST_DIR}/imds.c)
target_include_directories(envctl_aws_sign PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(envctl_aws_sign
	PUBLIC envctl_base
	PRIVATE PkgConfig::OPENSSL PkgConfig::JANSSON PkgConfig::CURL Threads::Threads)
