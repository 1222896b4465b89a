/*
 * bench_aws.c - the same DescribeInstances calls against moto_server by
 * envctl's EC2 client and by boto3 (a python3 child), in one run; prints
 * calls per second of each.  A benchmark prints figures; it asserts
 * nothing about speed.
 *
 * Needs ENVCTL_MOTO_URL (tests/harness/with-aws.sh sets it; calls go to
 * moto directly, not through the fault proxy) and the harness's dummy
 * credentials.  Arguments: CALLS (default 1000), INSTANCES launched
 * first so each answer has content (default 20).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "aws.h"
#include "creds.h"
#include "ec2.h"
#include "err.h"

static const char boto_script[] =
    "import sys, time, boto3\n"
    "ep, n = sys.argv[1], int(sys.argv[2])\n"
    "c = boto3.client('ec2', endpoint_url=ep, region_name='us-east-1')\n"
    "f = [{'Name': 'tag:envctl:cluster', 'Values': ['bench']}]\n"
    "c.describe_instances(Filters=f, MaxResults=1000)\n"
    "t = time.monotonic()\n"
    "cpu = time.process_time()\n"
    "k = 0\n"
    "for _ in range(n):\n"
    "    r = c.describe_instances(Filters=f, MaxResults=1000)\n"
    "    k += sum(len(x['Instances']) for x in r['Reservations'])\n"
    "print('%.6f %d %.6f' % (time.monotonic() - t, k, time.process_time() - cpu))\n";

/* CPU time (user + system) of this process, seconds. */
static double
cpu_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run the boto3 loop in python3 (script passed through the environment). */
static int
boto3_run(double *secs, long *seen, double *cpu, const char *ep, int calls)
{
	char cmd[512];
	FILE *p;
	int rc, status;

	if (strchr(ep, '\'') != NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "python3 -c \"$BENCH_SCRIPT\" '%s' %d", ep, calls);
	if (setenv("BENCH_SCRIPT", boto_script, 1) < 0 ||
	    (p = popen(cmd, "r")) == NULL)
		return -1;
	rc = fscanf(p, "%lf %ld %lf", secs, seen, cpu);
	status = pclose(p);
	if (rc != 3 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct aws_creds_provider *cp = NULL;
	struct aws_client *aws = NULL;
	struct ec2_client *ec2 = NULL;
	struct aws_client_opts o;
	const struct ec2_filter f[] = {
		{ "tag:envctl:cluster", (const char *const[]){ "bench" }, 1 },
	};
	const struct ec2_kv tags[] = { { "envctl:cluster", "bench" } };
	struct ec2_describe_instances_input in = { .filters = f, .nfilters = 1 };
	struct ec2_instance_page page;
	int calls = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 1000;
	int ninst = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 20;
	const char *ep = getenv("ENVCTL_MOTO_URL");
	double t, cpu, c_secs, c_cpu, py_secs, py_cpu;
	long seen = 0, py_seen = 0;

	if (ep == NULL || calls <= 0 || ninst < 0) {
		fprintf(stderr, "usage: with-aws.sh bench_aws [CALLS] [INSTANCES]\n");
		return 2;
	}
	memset(&o, 0, sizeof(o));
	o.endpoint_url = ep;
	o.region = "us-east-1";
	if (aws_creds_provider_new(&cp, NULL) < 0 || (o.creds = cp,
	    aws_client_new(&aws, &o)) < 0 || ec2_client_new(&ec2, aws) < 0) {
		fprintf(stderr, "bench_aws: %s\n", err_get());
		return 1;
	}
	for (int i = 0; i < ninst; i++) {
		struct ec2_run_input r;
		struct ec2_instance inst;
		char tok[32];

		memset(&r, 0, sizeof(r));
		snprintf(tok, sizeof(tok), "bench-%d", i);
		r.image_id = "ami-12c6146b";
		r.instance_type = "t3.micro";
		r.client_token = tok;
		r.root_size_gb = 8;
		r.tags = tags;
		r.ntags = 1;
		if (ec2_instance_run(&inst, ec2, &r) < 0) {
			fprintf(stderr, "bench_aws: launch: %s\n", err_get());
			return 1;
		}
		ec2_instance_dispose(&inst);
	}
	/* Warm up: first connection, first parse. */
	if (ec2_instances_describe_page(&page, ec2, &in, NULL) < 0) {
		fprintf(stderr, "bench_aws: %s\n", err_get());
		return 1;
	}
	ec2_instance_page_dispose(&page);
	t = now();
	cpu = cpu_now();
	for (int i = 0; i < calls; i++) {
		if (ec2_instances_describe_page(&page, ec2, &in, NULL) < 0) {
			fprintf(stderr, "bench_aws: call %d: %s\n", i, err_get());
			return 1;
		}
		seen += (long)page.n;
		ec2_instance_page_dispose(&page);
	}
	c_secs = now() - t;
	c_cpu = cpu_now() - cpu;
	if (boto3_run(&py_secs, &py_seen, &py_cpu, ep, calls) < 0) {
		fprintf(stderr, "bench_aws: the boto3 run failed\n");
		return 1;
	}
	printf("DescribeInstances x %d against moto_server (%d instances per answer)\n",
	    calls, ninst);
	printf("envctl ec2 client: %8.3f s  %8.1f calls/s  client CPU %7.3f ms/call"
	    "  (%ld instances read)\n", c_secs, calls / c_secs,
	    c_cpu * 1000 / calls, seen);
	printf("boto3            : %8.3f s  %8.1f calls/s  client CPU %7.3f ms/call"
	    "  (%ld instances read)\n", py_secs, calls / py_secs,
	    py_cpu * 1000 / calls, py_seen);
	printf("ratio envctl/boto3: %.2f\n", py_secs / c_secs);
	ec2_client_free(ec2);
	aws_client_free(aws);
	aws_creds_provider_free(cp);
	return seen == py_seen ? 0 : 1;
}
