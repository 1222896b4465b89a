# lib/metrics and lib/httpd together: httpd_demo renders a sample registry
# and status page (hostile strings included) and serves them on 127.0.0.1.
# httpd_it.py checks the metrics with promtool (Debian package prometheus)
# and tests/harness/promparse.py, drives the server with curl, and loads
# the page in headless Chromium (Debian package chromium).  A tool that is
# not installed makes its test skip (exit 77), never pass.
add_executable(httpd_demo ${CMAKE_CURRENT_LIST_DIR}/httpd/httpd_demo.c)
target_link_libraries(httpd_demo PRIVATE envctl_httpd envctl_metrics envctl_base)
foreach(scenario promtool promparse promparse_reject curl chromium)
	envctl_integration_test(httpd_${scenario}
		python3 ${CMAKE_CURRENT_LIST_DIR}/httpd/httpd_it.py
		${scenario} $<TARGET_FILE:httpd_demo>)
	set_tests_properties(httpd_${scenario} PROPERTIES SKIP_RETURN_CODE 77
		TIMEOUT 180
		ENVIRONMENT "HTTPD_IT_SCREENSHOT_DIR=${CMAKE_BINARY_DIR}/test-output/httpd")
endforeach()
