# The rendered bootstrap script really runs: bash executes it in a sandbox
# with stand-in commands on PATH, the real curl PUTs the marker to a local
# HTTP server, and the test checks what each command received.
add_executable(userdata_render ${CMAKE_CURRENT_LIST_DIR}/userdata/userdata_render.c)
target_link_libraries(userdata_render PRIVATE envctl_userdata envctl_base)
if(TARGET envctl_spec)
	# also render from YAML spec files parsed by lib/spec (--spec FILE)
	target_link_libraries(userdata_render PRIVATE envctl_spec)
	target_compile_definitions(userdata_render PRIVATE HAVE_SPEC_PARSER=1)
endif()
envctl_integration_test(userdata_bootstrap_runs
	python3 ${CMAKE_CURRENT_LIST_DIR}/userdata/run_bootstrap.py
	$<TARGET_FILE:userdata_render>)
# The idle watcher (lifecycle.idle_stop) rendered from YAML specs, installed
# by the bootstrap and run under a fake clock: it powers off when it should
# and only then.
envctl_integration_test(userdata_idle_watcher
	python3 ${CMAKE_CURRENT_LIST_DIR}/userdata/run_idle.py
	$<TARGET_FILE:userdata_render>)
# The spot interruption watcher of a rendered spot spec, against a fake
# IMDSv2 (tests/harness/imds_stub.py --spot-dir) and the marker server.
envctl_integration_test(userdata_spot_watcher
	python3 ${CMAKE_CURRENT_LIST_DIR}/userdata/run_spot_watcher.py
	$<TARGET_FILE:userdata_render>)
