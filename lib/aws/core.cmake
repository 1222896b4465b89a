# envctl_aws_core: transport (libcurl), endpoints, retries, pacing, call
# counters, errors, XML helpers and STS.  Service clients (svc.cmake)
# build on aws_int.h.
add_library(envctl_aws_core STATIC
	${CMAKE_CURRENT_LIST_DIR}/http.c
	${CMAKE_CURRENT_LIST_DIR}/headers.c
	${CMAKE_CURRENT_LIST_DIR}/query.c
	${CMAKE_CURRENT_LIST_DIR}/response.c
	${CMAKE_CURRENT_LIST_DIR}/curl.c
	${CMAKE_CURRENT_LIST_DIR}/endpoint.c
	${CMAKE_CURRENT_LIST_DIR}/retry.c
	${CMAKE_CURRENT_LIST_DIR}/pace.c
	${CMAKE_CURRENT_LIST_DIR}/calls.c
	${CMAKE_CURRENT_LIST_DIR}/error.c
	${CMAKE_CURRENT_LIST_DIR}/xml.c
	${CMAKE_CURRENT_LIST_DIR}/sts.c)
target_include_directories(envctl_aws_core PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(envctl_aws_core
	PUBLIC envctl_aws_sign envctl_base
	PRIVATE PkgConfig::CURL PkgConfig::LIBXML2 PkgConfig::JANSSON
		PkgConfig::OPENSSL Threads::Threads m)
