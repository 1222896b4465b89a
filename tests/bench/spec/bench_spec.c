/*
 * bench_spec.c - how long loading a big spec tree takes.
 *
 *   bench_spec [-n COUNT] [-r ROUNDS] [-k] [-d DIR] [-l]
 *
 * Writes COUNT (10,000) realistic specs to a fresh directory under $TMPDIR,
 * times spec_tree_load() (read + parse + validate + hash of every file)
 * ROUNDS (5) times, each followed by a python3 that times yaml.load(f,
 * Loader=yaml.CSafeLoader) over the same files (rounds alternate so both
 * see the same background load), and prints wall and CPU time of both
 * (best and median) and their ratios.  -k keeps the directory;
 * -d DIR writes the specs into DIR (created if missing, kept) and skips
 * writing them if DIR already holds COUNT specs (for profiling the load).
 * -l loads lean trees (spec_options.lean, what a pass loads).  It also
 * prints the heap a loaded tree holds (glibc mallinfo2: bytes in use
 * with the tree loaded minus before, first round).
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "mem.h"
#include "spec.h"

static const char *const shapes[] = {
	/* a Node web environment */
	"# web environment %1$05d\n"
	"apiVersion: envctl/v1\n"
	"kind: Environment\n"
	"metadata:\n"
	"  name: env-%1$05d\n"
	"  workspace: web\n"
	"  labels: {team: web, stack: node}\n"
	"spec:\n"
	"  region: us-east-1\n"
	"  instance:\n"
	"    type: t3.medium\n"
	"    image: al2023\n"
	"    disk: {size_gb: 30}\n"
	"    subnets: [subnet-0a1b2c3d, subnet-0b2c3d4e]\n"
	"  access:\n"
	"    ssh:\n"
	"      key: auto\n"
	"      allow_from: [203.0.113.0/24, \"2001:db8:%1$x::/48\"]\n"
	"    ports:\n"
	"      - {port: 3000, allow_from: [203.0.113.0/24]}\n"
	"      - {port: 9229, allow_from: [10.%2$d.0.0/16]}\n"
	"  bootstrap:\n"
	"    docker_image: node:20-bookworm\n"
	"    repo: {url: \"https://github.com/acme/app-%1$d.git\", branch: main}\n"
	"    system_packages: [git, make, jq]\n"
	"    setup:\n"
	"      - npm ci\n"
	"      - npm run build\n"
	"    environment:\n"
	"      NODE_ENV: development\n"
	"      PORT: \"3000\"\n"
	"    secrets:\n"
	"      NPM_TOKEN: {env: ENVCTL_SECRET_NPM_TOKEN}\n"
	"  lifecycle: {ttl: 12h, ready_timeout: 10m, on_drift: replace}\n"
	"  tags: {cost-center: \"%1$d\", owner: web-team}\n",
	/* a Python data environment on spot */
	"apiVersion: envctl/v1\n"
	"kind: Environment\n"
	"metadata:\n"
	"  name: env-%1$05d\n"
	"  workspace: data\n"
	"spec:\n"
	"  region: eu-west-1\n"
	"  instance:\n"
	"    type: r6i.xlarge\n"
	"    image: ubuntu-24.04\n"
	"    disk: {size_gb: 200}\n"
	"    iam_instance_profile: data-readonly\n"
	"    market: spot\n"
	"    spot: {max_price: \"0.12\", fallback: on-demand, timeout: 5m}\n"
	"  access:\n"
	"    ssh: {key: auto, key_type: rsa, allow_from: [198.51.100.%2$d/32]}\n"
	"    ports: [{port: 8888, allow_from: [198.51.100.%2$d/32]}]\n"
	"  bootstrap:\n"
	"    docker_image: python:3.12-slim\n"
	"    repo: {url: \"git@github.com:acme/forecast-%1$d.git\"}\n"
	"    system_packages: [build-essential, libpq-dev]\n"
	"    setup: [\"pip install -r requirements.txt\"]\n"
	"    environment: {PYTHONUNBUFFERED: \"1\"}\n"
	"    secrets: {DB_PASSWORD: {env: ENVCTL_SECRET_DB_PASSWORD}}\n"
	"  lifecycle:\n"
	"    ttl: 2d\n"
	"    on_drift: report\n"
	"  tags:\n"
	"    cost-center: \"5678\"\n"
	"    project: forecasting\n",
	/* a minimal one */
	"apiVersion: envctl/v1\n"
	"kind: Environment\n"
	"metadata: {name: env-%1$05d}\n"
	"spec:\n"
	"  access:\n"
	"    ssh: {allow_from: [192.0.2.%2$d/32]}\n",
	/* an existing key pair and extra ports */
	"apiVersion: envctl/v1\n"
	"kind: Environment\n"
	"metadata:\n"
	"  name: env-%1$05d\n"
	"  workspace: platform\n"
	"spec:\n"
	"  instance: {type: m6i.large, image: debian-12, disk: {size_gb: 50}}\n"
	"  access:\n"
	"    ssh:\n"
	"      key: {name: platform-team}\n"
	"      allow_from: [10.20.0.0/16]\n"
	"    ports:\n"
	"      - {port: 80, allow_from: [0.0.0.0/0, \"::/0\"]}\n"
	"      - {port: 443, allow_from: [0.0.0.0/0, \"::/0\"]}\n"
	"      - {port: 51820, protocol: udp, allow_from: [10.20.0.0/16]}\n"
	"  bootstrap:\n"
	"    docker_image: nginx:1.27\n"
	"    setup: [\"docker run -d -p 80:80 nginx:1.27\"]\n"
	"  tags: {owner: platform, environment: staging}\n",
};

static double
clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One round of PyYAML in a fresh python3; prints "wall cpu". */
static const char pyscript[] =
    "import os, sys, time, yaml\n"
    "assert yaml.__with_libyaml__, 'PyYAML without libyaml'\n"
    "d = sys.argv[1]\n"
    "files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith('.yaml'))\n"
    "t0, c0 = time.perf_counter(), time.process_time()\n"
    "for p in files:\n"
    "    with open(p) as f:\n"
    "        yaml.load(f, Loader=yaml.CSafeLoader)\n"
    "print(time.perf_counter() - t0, time.process_time() - c0, flush=True)\n";

static void
report(const char *what, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), dbl_cmp);
	printf("  %-34s best %.3f s, median %.3f s\n", what, v[0], v[n / 2]);
}

int
main(int argc, char **argv)
{
	char tmpl[] = "/tmp/envctl-bench-spec.XXXXXX", *dir = tmpl;
	struct stat sb;
	int reuse = 0;
	double *ours, *py, *ourcpu, *pycpu, t0, c0, bytes = 0;
	struct rusage ru;
	struct spec_tree *t;
	struct spec_options opts;
	size_t heap0 = 0, heap = 0;
	int ch, count = 10000, rounds = 5, keep = 0, i, np = 0;
	char *cmd, *path, line[128], *script;
	FILE *f, *pp;

	spec_options_init(&opts);
	while ((ch = getopt(argc, argv, "n:r:kd:l")) != -1) {
		switch (ch) {
		case 'n': count = (int)strtol(optarg, NULL, 10); break;
		case 'r': rounds = (int)strtol(optarg, NULL, 10); break;
		case 'k': keep = 1; break;
		case 'd': dir = optarg; keep = 1; break;
		case 'l': opts.lean = 1; break;
		default:
			fprintf(stderr, "usage: bench_spec [-n COUNT] [-r ROUNDS] [-k] [-d DIR] "
			    "[-l]\n");
			return 2;
		}
	}
	if (dir != tmpl) {
		path = xasprintf("%s/env-%05d.yaml", dir, count - 1);
		reuse = stat(path, &sb) == 0;
		free(path);
		if (!reuse && mkdir(dir, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "bench_spec: %s: %s\n", dir, strerror(errno));
			return 1;
		}
	}
	if (count < 1 || rounds < 1 || (dir == tmpl && mkdtemp(dir) == NULL)) {
		fprintf(stderr, "bench_spec: bad arguments or mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < count; i++) {
		if (reuse) {
			path = xasprintf("%s/env-%05d.yaml", dir, i);
			if (stat(path, &sb) == 0)
				bytes += (double)sb.st_size;
			free(path);
			continue;
		}
		path = xasprintf("%s/env-%05d.yaml", dir, i);
		if ((f = fopen(path, "w")) == NULL) {
			fprintf(stderr, "bench_spec: %s: %s\n", path, strerror(errno));
			return 1;
		}
		bytes += fprintf(f, shapes[i % 4], i, i % 250 + 1);
		fclose(f);
		free(path);
	}
	ours = xcalloc((size_t)rounds, sizeof(*ours));
	ourcpu = xcalloc((size_t)rounds, sizeof(*ourcpu));
	py = xcalloc((size_t)rounds, sizeof(*py));
	pycpu = xcalloc((size_t)rounds, sizeof(*pycpu));
	script = xasprintf("%s/bench.py", dir);
	if ((f = fopen(script, "w")) == NULL)
		return 1;
	fputs(pyscript, f);
	fclose(f);
	cmd = xasprintf("python3 '%s' '%s'", script, dir);
	/* rounds alternate, so both sides see the same background load */
	for (i = 0; i < rounds; i++) {
		if (i == 0)
			heap0 = mallinfo2().uordblks;
		t0 = clock_s(CLOCK_MONOTONIC);
		c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
		if (spec_tree_load(&t, dir, &opts) < 0) {
			fprintf(stderr, "bench_spec: %s\n", err_get());
			return 1;
		}
		ours[i] = clock_s(CLOCK_MONOTONIC) - t0;
		ourcpu[i] = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
		if (spec_tree_count(t) != (size_t)count || spec_tree_invalid_count(t) != 0) {
			fprintf(stderr, "bench_spec: %zu specs, %zu invalid\n",
			    spec_tree_count(t), spec_tree_invalid_count(t));
			return 1;
		}
		if (i == 0)
			heap = mallinfo2().uordblks - heap0;
		spec_tree_free(t);
		if ((pp = popen(cmd, "r")) != NULL) {
			if (fgets(line, sizeof(line), pp) != NULL &&
			    sscanf(line, "%lf %lf", &py[np], &pycpu[np]) == 2)
				np++;
			pclose(pp);
		}
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("specs: %d files, %.1f MiB, %d rounds, peak RSS %.1f MiB\n", count,
	    bytes / 1048576.0, rounds, ru.ru_maxrss / 1024.0);
	printf("tree (%s): heap %.2f MiB, %.0f bytes/spec\n", opts.lean ? "lean" : "full",
	    heap / 1048576.0, (double)heap / count);
	printf("envctl spec_tree_load%s (read+parse+validate+hash):\n",
	    opts.lean ? " lean" : "");
	report("wall", ours, rounds);
	report("cpu", ourcpu, rounds);
	printf("  %.0f specs/s (best wall)\n", count / ours[0]);
	if (np == rounds) {
		printf("python3 yaml.load(CSafeLoader) (read+parse only):\n");
		report("wall", py, rounds);
		report("cpu", pycpu, rounds);
		printf("ratio python/envctl: wall best %.1fx, median %.1fx; cpu best %.1fx, "
		    "median %.1fx\n", py[0] / ours[0], py[rounds / 2] / ours[rounds / 2],
		    pycpu[0] / ourcpu[0], pycpu[rounds / 2] / ourcpu[rounds / 2]);
	} else
		printf("python3 with PyYAML/libyaml not available: no comparison\n");
	if (keep)
		printf("kept %s\n", dir);
	else {
		free(cmd);
		cmd = xasprintf("rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_spec: could not remove %s\n", dir);
	}
	free(cmd);
	free(script);
	free(ours);
	free(ourcpu);
	free(py);
	free(pycpu);
	return 0;
}
