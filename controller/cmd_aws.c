/*
 * cmd_aws.c - "envctl aws whoami [-o json]": which AWS identity envctl
 * would act as, where it would send requests, and where the credentials
 * came from.  Prints no secret.  Its settings are the configuration's
 * (config.h), as for every command: region, log_level, aws_max_attempts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aws.h"
#include "cmd.h"
#include "config.h"
#include "creds.h"
#include "ctl.h"
#include "err.h"
#include "log.h"
#include "sts.h"

struct whoami_opts {
	int		 json;
	const char	*endpoint_url;
};

static void
aws_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: envctl aws whoami [-o text|json] [--region REGION]\n"
	    "                         [--endpoint-url URL] [--log-level LEVEL]\n"
	    "                         [--config FILE] [--option value ...]\n"
	    "\n"
	    "Resolve the AWS credential chain (environment, shared files and\n"
	    "profile, assume-role, instance role), call STS GetCallerIdentity and\n"
	    "print the account, ARN, user id, region, endpoint and the source of\n"
	    "the credentials.  Region: the region option (--region, ENVCTL_REGION,\n"
	    "the config file), else AWS_REGION, AWS_DEFAULT_REGION.\n"
	    "Endpoint: --endpoint-url, AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL.\n");
}

/* Parse argv (argv[0] is "whoami"); 0, 1 for -h, or -1 on a usage error. */
static int
whoami_parse(struct whoami_opts *o, int argc, char **argv)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			return 1;
		if (v == NULL) {
			cmd_error("aws whoami", "missing value or unknown option");
			return -1;
		}
		if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
			if (strcmp(v, "json") == 0)
				o->json = 1;
			else if (strcmp(v, "text") != 0) {
				cmd_error("aws whoami", "-o takes text or json");
				return -1;
			}
		} else if (strcmp(a, "--endpoint-url") == 0)
			o->endpoint_url = v;
		else {
			cmd_error("aws whoami", "unknown option (try -h)");
			return -1;
		}
		i++;
	}
	return 0;
}

static int
whoami_print(const struct whoami_opts *o, const struct sts_identity *id,
    const char *region, const char *endpoint, const char *source)
{
	json_t *j;
	char *s;

	if (!o->json) {
		printf("account:   %s\n", id->account);
		printf("arn:       %s\n", id->arn);
		printf("user id:   %s\n", id->user_id);
		printf("region:    %s\n", region);
		printf("endpoint:  %s\n", endpoint);
		printf("source:    %s\n", source);
		return 0;
	}
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
	    "account", id->account, "arn", id->arn, "user_id", id->user_id,
	    "region", region, "endpoint", endpoint, "credentials_source", source);
	if (j == NULL || (s = json_dumps(j, JSON_INDENT(2))) == NULL) {
		json_decref(j);
		cmd_error("aws whoami", "cannot encode JSON");
		return -1;
	}
	printf("%s\n", s);
	free(s);
	json_decref(j);
	return 0;
}

static int
aws_whoami(const struct config *cfg, int argc, char **argv)
{
	struct whoami_opts o;
	struct aws_client_opts copts;
	struct aws_creds_options cropts;
	struct aws_creds_provider *prov = NULL;
	struct aws_creds *creds = NULL;
	struct aws_client *c = NULL;
	struct sts_identity id;
	int rc = EXIT_ERROR, n;

	if ((n = whoami_parse(&o, argc, argv)) != 0) {
		aws_usage(n > 0 ? stdout : stderr);
		return n > 0 ? EXIT_OK : EXIT_ERROR;
	}
	memset(&copts, 0, sizeof(copts));
	/* like ctl_region(), but no silent us-east-1: say there is none */
	copts.region = *cfg->region != '\0' ? cfg->region : aws_region_from_env();
	copts.endpoint_url = o.endpoint_url;
	copts.max_attempts = cfg->aws_max_attempts;
	if (copts.region == NULL) {
		cmd_error("aws whoami", "no AWS region: set AWS_REGION or use --region");
		goto done;
	}
	memset(&cropts, 0, sizeof(cropts));
	cropts.assume_role = sts_assume_role_cb;
	cropts.assume_role_arg = &copts;	/* template: region, endpoint */
	if (aws_creds_provider_new(&prov, &cropts) < 0 ||
	    aws_creds_provider_get(&creds, prov) < 0) {
		cmd_error("aws whoami: credentials", err_get());
		goto done;
	}
	copts.static_creds = creds;
	if (aws_client_new(&c, &copts) < 0) {
		cmd_error("aws whoami", err_get());
		goto done;
	}
	if (sts_get_caller_identity(&id, c) < 0) {
		cmd_error("aws whoami", err_get());
		goto done;
	}
	if (whoami_print(&o, &id, aws_client_region(c),
	    aws_client_endpoint(c, AWS_SERVICE_STS), aws_creds_source(creds)) < 0)
		goto done;
	rc = EXIT_OK;
done:
	aws_client_free(c);
	aws_creds_free(creds);
	aws_creds_provider_free(prov);
	return rc;
}

/* "envctl aws <subcommand>"; argv[0] is "aws". */
int
cmd_aws(int argc, char **argv)
{
	struct config *cfg = NULL;
	int rc = EXIT_ERROR;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		aws_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_ERROR : EXIT_OK;
	}
	/* --region, --log-level and the others are the table's */
	if (ctl_config_load(&cfg, &argc, argv) < 0) {
		cmd_error("configuration", err_get());
		return EXIT_ERROR;
	}
	if (argc >= 2 && strcmp(argv[1], "whoami") == 0)
		rc = aws_whoami(cfg, argc - 1, argv + 1);
	else
		cmd_error("aws", "unknown subcommand (try 'envctl aws -h')");
	config_free(cfg);
	return rc;
}
