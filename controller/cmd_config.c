/*
 * envctl config show|example - the settings in force, and where each came
 * from; or the example configuration file with every option's default.
 *
 *	envctl config show [-o json]	effective values (secrets shown as "(set)")
 *	envctl config example		docs/envctl.conf.example, generated
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "ctl.h"
#include "err.h"

static int
config_show(const struct config *cfg, int json)
{
	json_t *doc = json ? json_object() : NULL;
	size_t i;

	for (i = 0; i < config_count(); i++) {
		const char *key = config_key(i);
		const char *val = config_text(cfg, key);

		if (config_is_secret(key) && *val != '\0')
			val = "(set)";
		if (doc != NULL) {
			json_t *o = json_object();

			json_object_set_new(o, "value", json_string(val));
			json_object_set_new(o, "origin", json_string(config_origin(cfg, key)));
			json_object_set_new(doc, key, o);
		} else
			printf("%-28s %-32s %s\n", key, val, config_origin(cfg, key));
	}
	if (doc != NULL) {
		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(doc);
	}
	return EXIT_OK;
}

int
cmd_config(int argc, char **argv)
{
	struct config *cfg = NULL;
	int json, code = EXIT_ERROR;

	if (ctl_config_load(&cfg, &argc, argv) < 0) {
		cmd_error("configuration", err_get());
		return EXIT_ERROR;
	}
	json = ctl_take_json_flag(&argc, argv);
	if (argc == 2 && strcmp(argv[1], "show") == 0)
		code = config_show(cfg, json);
	else if (argc == 2 && strcmp(argv[1], "example") == 0) {
		config_write_example(stdout);
		code = EXIT_OK;
	} else
		fprintf(stderr, "usage: envctl config show [-o json] | envctl config example\n");
	config_free(cfg);
	return code;
}
