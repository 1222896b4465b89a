# envctl ssh and ssh-config against a real sshd on loopback playing the
# instance, with moto behind the fault proxy and no database.
envctl_integration_test(it_ssh
	${CMAKE_SOURCE_DIR}/tests/harness/with-aws.sh
	python3 ${CMAKE_SOURCE_DIR}/tests/integration/ssh_it.py)
set_tests_properties(it_ssh PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
