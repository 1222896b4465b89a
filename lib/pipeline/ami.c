/*
 * ami.c - a spec's image (an alias such as al2023, or an AMI id) resolved
 * to an AMI of the pipeline's region, cached per pipeline.
 */
#include <stdio.h>
#include <string.h>

#include "aws.h"
#include "ec2.h"
#include "pipeline_int.h"

/* Image aliases: owner and name pattern, x86_64, newest wins. */
static const struct {
	const char	*alias;
	const char	*owner;
	const char	*pattern;
} ami_aliases[] = {
	{ "al2023", "amazon", "al2023-ami-2023.*-x86_64" },
	{ "al2", "amazon", "amzn2-ami-hvm-*-x86_64-gp2" },
	{ "ubuntu-22.04", "099720109477",
	  "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*" },
	{ "ubuntu-24.04", "099720109477",
	  "ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-amd64-server-*" },
	{ "debian-12", "136693071363", "debian-12-amd64-*" },
};

int
pl_ami_resolve(struct pipeline *p, const char *image, char id[32],
    char root[64])
{
	struct ec2_describe_images_input in;
	struct ec2_image_list l;
	struct ec2_filter f[3];
	const char *owners[1], *names[1], *arch[1] = { "x86_64" },
	    *state[1] = { "available" }, *ids[1] = { image };
	const struct ec2_image *best = NULL;
	size_t i;
	int error;

	for (i = 0; i < p->nami; i++)
		if (strcmp(p->ami[i].alias, image) == 0) {
			snprintf(id, 32, "%s", p->ami[i].id);
			snprintf(root, 64, "%s", p->ami[i].root_device);
			return 0;
		}
	memset(&in, 0, sizeof(in));
	memset(&l, 0, sizeof(l));
	if (strncmp(image, "ami-", 4) == 0) {
		in.image_ids = ids;
		in.nimage_ids = 1;
	} else {
		for (i = 0; i < sizeof(ami_aliases) / sizeof(ami_aliases[0]); i++)
			if (strcmp(ami_aliases[i].alias, image) == 0)
				break;
		if (i == sizeof(ami_aliases) / sizeof(ami_aliases[0])) {
			err_set("unknown image alias '%s'", image);
			return ERR_INVALID;
		}
		owners[0] = ami_aliases[i].owner;
		names[0] = ami_aliases[i].pattern;
		f[0] = (struct ec2_filter){ "name", names, 1 };
		f[1] = (struct ec2_filter){ "architecture", arch, 1 };
		f[2] = (struct ec2_filter){ "state", state, 1 };
		in.owners = owners;
		in.nowners = 1;
		in.filters = f;
		in.nfilters = 3;
	}
	if ((error = ec2_images_describe(&l, p->ec2, &in)) < 0) {
		if (error == ERR_NOTFOUND)
			err_set("image %s not found in region %s: check the image "
			    "alias or id", image, aws_client_region(p->aws));
		else
			err_prefix("resolving image %s", image);
		return error;
	}
	for (i = 0; i < l.n; i++) {
		const struct ec2_image *im = &l.v[i];

		if (best == NULL || im->created > best->created ||
		    (im->created == best->created && strcmp(im->name, best->name) > 0))
			best = im;
	}
	if (best == NULL) {
		ec2_image_list_dispose(&l);
		err_set("image %s: no matching image in region %s: check the image "
		    "alias or id", image, aws_client_region(p->aws));
		return ERR_NOTFOUND;
	}
	snprintf(id, 32, "%s", best->id);
	snprintf(root, 64, "%s", best->root_device_name[0] ? best->root_device_name :
	    "/dev/xvda");
	if (p->nami < PL_AMI_CACHE) {
		snprintf(p->ami[p->nami].alias, sizeof(p->ami[0].alias), "%s", image);
		snprintf(p->ami[p->nami].id, sizeof(p->ami[0].id), "%s", id);
		snprintf(p->ami[p->nami].root_device, sizeof(p->ami[0].root_device),
		    "%s", root);
		p->nami++;
	}
	ec2_image_list_dispose(&l);
	return 0;
}
