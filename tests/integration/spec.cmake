# envctl validate against the real binary: specs-example passes, broken
# copies fail with the right file:line:col, -v and -o json outputs.
envctl_integration_test(spec_validate sh ${CMAKE_CURRENT_LIST_DIR}/spec_validate.sh)
