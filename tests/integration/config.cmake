# The example configuration is generated from the option table and must
# stay equal to it; configuration errors name their source.
envctl_integration_test(it_config sh ${CMAKE_SOURCE_DIR}/tests/integration/config_it.sh)
