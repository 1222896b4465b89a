/*
 * readiness.c - the probes that tell whether a launched instance is
 * ready (ready_checks): its state as EC2 sees it, EC2's status checks,
 * a TCP connect to its ssh port, the bootstrap marker in S3 and the
 * host key on the console.  Each looks once and answers 0 (ready),
 * PL_NOT_YET or an error; provision.c's step_ready() combines them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ec2.h"
#include "pipeline_int.h"
#include "s3.h"
#include "sshkey.h"
#include "userdata.h"

int
pl_ready_tcp(const char *ip, int port, int timeout_ms)
{
	struct sockaddr_in sa;
	struct pollfd pfd;
	int fd, soerr = 0, ok = 0;
	socklen_t len = sizeof(soerr);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
		return 0;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		ok = 1;
	else if (errno == EINPROGRESS) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, timeout_ms) == 1 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 &&
		    soerr == 0)
			ok = 1;
	}
	close(fd);
	return ok;
}

int
pl_ready_marker(struct pipeline *p, const struct store_env *row,
    unsigned checks, const char **waiting, char *verified, size_t vlen)
{
	struct userdata_marker *mk = NULL;
	char *key = pl_s3_key(p, row->id, "bootstrap-done.json");
	char *body = NULL, *console = NULL, *q;
	size_t len = 0, clen = 0, i, vn = 0;
	char first[SSHKEY_FINGERPRINT_SIZE] = "";
	int error, seen = 0, match = 0;

	if (vlen > 0)
		verified[0] = '\0';
	*waiting = "marker";
	error = s3_object_get(&body, &len, p->s3, p->o.bucket, key,
	    USERDATA_MARKER_MAX, 0);
	if (error == ERR_NOTFOUND) {
		error = PL_NOT_YET;
		goto out;
	}
	if (error < 0)
		goto out;
	if ((error = userdata_marker_parse(&mk, body, len)) < 0) {
		err_prefix("bootstrap marker");
		goto out;
	}
	if (strcmp(userdata_marker_env_id(mk), row->id) != 0) {
		err_set("bootstrap marker names another environment id");
		error = ERR_INVALID;
		goto out;
	}
	if (userdata_marker_status(mk) != USERDATA_STATUS_READY) {
		err_set("bootstrap failed on the instance at line %ld (exit %d); "
		    "see /var/log/envctl-bootstrap.log", userdata_marker_line(mk),
		    userdata_marker_exit_code(mk));
		error = ERR_GENERIC;
		goto out;
	}
	if (checks & PIPELINE_CHECK_HOSTKEY) {
		*waiting = "hostkey";
		/*
		 * Latest=true: without it EC2 answers a buffered snapshot that
		 * stays empty for minutes after boot.
		 */
		error = ec2_console_output_get(&console, &clen, p->ec2,
		    row->instance_id);
		if (error == ERR_NOTFOUND) {
			/* Launched moments ago: EC2 does not show it yet. */
			error = PL_NOT_YET;
			goto out;
		}
		if (error < 0)
			goto out;
		for (q = console; q != NULL && (q = strstr(q, "SHA256:")) != NULL; q += 7) {
			char fp[SSHKEY_FINGERPRINT_SIZE];
			int n;

			i = strspn(q, "SHA256:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=");
			snprintf(fp, sizeof(fp), "%.*s", (int)(i < sizeof(fp) - 1 ? i : sizeof(fp) - 1), q);
			if (!seen)
				snprintf(first, sizeof(first), "%s", fp);
			seen = 1;
			if (!userdata_marker_has_fingerprint(mk, fp))
				continue;
			match = 1;
			/* Each verified fingerprint once, space-separated, for the row. */
			if (vn < vlen && strstr(verified, fp) == NULL) {
				n = snprintf(verified + vn, vlen - vn, "%s%s",
				    vn > 0 ? " " : "", fp);
				if (n > 0 && (size_t)n < vlen - vn)
					vn += (size_t)n;
				else
					verified[vn] = '\0';
			}
		}
		/*
		 * No fingerprint on the console yet (cloud-init prints them
		 * late in the boot): keep waiting, never pass with nothing
		 * compared.
		 */
		if (!seen) {
			error = PL_NOT_YET;
			goto out;
		}
		if (!match) {
			/* Fingerprints are public: naming one helps the operator. */
			err_set("host key in the bootstrap marker does not match the "
			    "one on the instance console (%s)", first);
			error = ERR_INVALID;
			goto out;
		}
	}
	*waiting = NULL;
	error = 0;
out:
	userdata_marker_free(mk);
	free(body);
	free(console);
	free(key);
	return error;
}

int
pl_instance_now(struct pl_instance_now *out, int *found, struct pipeline *p,
    const struct ec2_instance *seen, const char *instance_id)
{
	struct ec2_instance_page page;
	struct ec2_describe_instances_input in;
	const char *ids[1] = { instance_id };
	int error;

	*found = 0;
	if (seen != NULL && strcmp(seen->id, ids[0]) == 0) {
		snprintf(out->state, sizeof(out->state), "%s", seen->state);
		snprintf(out->public_ip, sizeof(out->public_ip), "%s",
		    seen->public_ip);
		*found = 1;
		return 0;
	}
	memset(&in, 0, sizeof(in));
	in.instance_ids = ids;
	in.ninstance_ids = 1;
	memset(&page, 0, sizeof(page));
	if ((error = ec2_instances_describe_page(&page, p->ec2, &in, NULL)) < 0)
		return error == ERR_NOTFOUND ? 0 : error;
	if (page.n > 0) {
		snprintf(out->state, sizeof(out->state), "%s", page.v[0].state);
		snprintf(out->public_ip, sizeof(out->public_ip), "%s", page.v[0].public_ip);
		*found = 1;
	}
	ec2_instance_page_dispose(&page);
	return 0;
}

int
pl_ready_status(struct pipeline *p, const struct ec2_instance_status *seen,
    const char *instance_id)
{
	struct ec2_instance_status_list st;
	const char *ids[1] = { instance_id };
	const struct ec2_instance_status *sv = seen;
	int error = 0;

	memset(&st, 0, sizeof(st));
	if (sv == NULL || strcmp(sv->id, instance_id) != 0) {
		/* Launched moments ago and not shown yet: it waits. */
		if ((error = ec2_instance_status_describe(&st, p->ec2, ids,
		    1)) == ERR_NOTFOUND) {
			error = PL_NOT_YET;
			goto out;
		}
		if (error < 0)
			goto out;
		sv = st.n > 0 ? &st.v[0] : NULL;
	}
	if (sv == NULL || strcmp(sv->instance_status, "ok") != 0 ||
	    strcmp(sv->system_status, "ok") != 0)
		error = PL_NOT_YET;
out:
	ec2_instance_status_list_dispose(&st);
	return error;
}
