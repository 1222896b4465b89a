# lib/source against real git: a git daemon on 127.0.0.1 serving a repo the
# test commits to, the probe program doing the passes (prepare, a stand-in
# validation, publish/discard), a concurrent reader checking that no pass
# ever sees a half-updated tree, crashes injected with failpoints, and
# inotify seeing the publish, and an HTTP server (git http-backend behind
# Basic auth) for the token.  Each scenario starts its own servers.
add_executable(source_probe ${CMAKE_CURRENT_LIST_DIR}/source/source_probe.c)
target_link_libraries(source_probe PRIVATE envctl_source envctl_base
	PkgConfig::LIBGIT2)
foreach(scenario daemon crash watch http)
	envctl_integration_test(source_git_${scenario}
		python3 ${CMAKE_CURRENT_LIST_DIR}/source/source_it.py
		$<TARGET_FILE:source_probe> ${scenario})
endforeach()
# Credentials against real servers: sshd (key from a file, known_hosts) and
# https with a token and a test CA (source_creds_it.py).
foreach(scenario ssh https)
	envctl_integration_test(source_creds_${scenario}
		python3 ${CMAKE_CURRENT_LIST_DIR}/source/source_creds_it.py
		$<TARGET_FILE:source_probe> ${scenario})
endforeach()
