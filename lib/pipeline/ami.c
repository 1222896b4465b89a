/*
 * ami.c - a spec's image (an alias such as al2023, or an AMI id) resolved
 * to an AMI of the pipeline's region that the instance type can run:
 * the type's architectures come from DescribeInstanceTypes, an alias
 * resolves to the newest image of that architecture, and an AMI id of
 * another architecture is refused before RunInstances.  Both cached per
 * pipeline (one region).
 */
#include <stdio.h>
#include <string.h>

#include "aws.h"
#include "ec2.h"
#include "pipeline_int.h"

#define NAMES_MAX	2

/*
 * Image aliases: owner and name patterns per architecture (any pattern
 * matches), newest wins.  al2: the kernel-5.10 series AWS publishes now,
 * and the older amzn2-ami-hvm series.
 */
static const struct {
	const char	*alias;
	const char	*owner;
	const char	*x86_64[NAMES_MAX];
	const char	*arm64[NAMES_MAX];
} ami_aliases[] = {
	{ "al2023", "amazon", { "al2023-ami-2023.*-x86_64" },
	  { "al2023-ami-2023.*-arm64" } },
	{ "al2", "amazon",
	  { "amzn2-ami-kernel-5.10-hvm-*-x86_64-gp2", "amzn2-ami-hvm-*-x86_64-gp2" },
	  { "amzn2-ami-kernel-5.10-hvm-*-arm64-gp2", "amzn2-ami-hvm-*-arm64-gp2" } },
	{ "ubuntu-22.04", "099720109477",
	  { "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*" },
	  { "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-arm64-server-*" } },
	{ "ubuntu-24.04", "099720109477",
	  { "ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-amd64-server-*" },
	  { "ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-arm64-server-*" } },
	{ "debian-12", "136693071363", { "debian-12-amd64-*" },
	  { "debian-12-arm64-*" } },
};

static unsigned
arch_bit(const char *arch)
{
	if (strcmp(arch, "x86_64") == 0)
		return PL_ARCH_X86_64;
	if (strcmp(arch, "arm64") == 0)
		return PL_ARCH_ARM64;
	return PL_ARCH_OTHER;
}

/* The architectures type runs, as PL_ARCH_* bits; cached per pipeline. */
static int
type_archs(unsigned *out, struct pipeline *p, const char *type)
{
	struct ec2_instance_type it;
	size_t i;
	int error;

	*out = 0;
	for (i = 0; i < p->ntypes; i++)
		if (strcmp(p->types[i].type, type) == 0) {
			*out = p->types[i].archs;
			return 0;
		}
	if ((error = ec2_instance_type_describe(&it, p->ec2, type)) < 0) {
		err_prefix("instance type %s in region %s", type,
		    aws_client_region(p->aws));
		return error;
	}
	for (i = 0; i < it.narchs; i++)
		*out |= arch_bit(it.archs[i]);
	if ((*out & (PL_ARCH_X86_64 | PL_ARCH_ARM64)) == 0) {
		err_set("instance type %s runs neither x86_64 nor arm64 images",
		    type);
		return ERR_INVALID;
	}
	if (p->ntypes < PL_TYPE_CACHE) {
		snprintf(p->types[p->ntypes].type, sizeof(p->types[0].type), "%s",
		    type);
		p->types[p->ntypes].archs = *out;
		p->ntypes++;
	}
	return 0;
}

static const char *
archs_name(unsigned archs)
{
	if ((archs & PL_ARCH_X86_64) && (archs & PL_ARCH_ARM64))
		return "x86_64 or arm64";
	return (archs & PL_ARCH_ARM64) ? "arm64" : "x86_64";
}

int
pl_ami_resolve(struct pipeline *p, const char *image, const char *type,
    char id[32], char root[64])
{
	struct ec2_describe_images_input in;
	struct ec2_image_list l;
	struct ec2_filter f[3];
	const char *owners[1], *names[NAMES_MAX], *arch[1],
	    *state[1] = { "available" }, *ids[1] = { image };
	const struct ec2_image *best = NULL;
	unsigned archs;
	size_t i, n;
	int error;

	if ((error = type_archs(&archs, p, type)) < 0)
		return error;
	/* x86_64 when the type runs both (none does today but i386 pairs) */
	arch[0] = (archs & PL_ARCH_X86_64) ? "x86_64" : "arm64";
	for (i = 0; i < p->nami; i++)
		if (strcmp(p->ami[i].alias, image) == 0 &&
		    strcmp(p->ami[i].arch, arch[0]) == 0) {
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
		for (n = 0; n < NAMES_MAX; n++) {
			names[n] = strcmp(arch[0], "x86_64") == 0 ?
			    ami_aliases[i].x86_64[n] : ami_aliases[i].arm64[n];
			if (names[n] == NULL)
				break;
		}
		f[0] = (struct ec2_filter){ "name", names, n };
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
		err_set("image %s: no matching %s image in region %s: check the "
		    "image alias or id", image, arch[0], aws_client_region(p->aws));
		return ERR_NOTFOUND;
	}
	if (best->architecture[0] != '\0' &&
	    (arch_bit(best->architecture) & archs) == 0) {
		err_set("image %s is %s, but instance type %s runs %s images: "
		    "choose an image of that architecture, or an image alias",
		    image, best->architecture, type, archs_name(archs));
		ec2_image_list_dispose(&l);
		return ERR_INVALID;
	}
	snprintf(id, 32, "%s", best->id);
	snprintf(root, 64, "%s", best->root_device_name[0] ? best->root_device_name :
	    "/dev/xvda");
	if (p->nami < PL_AMI_CACHE) {
		snprintf(p->ami[p->nami].alias, sizeof(p->ami[0].alias), "%s", image);
		snprintf(p->ami[p->nami].arch, sizeof(p->ami[0].arch), "%s", arch[0]);
		snprintf(p->ami[p->nami].id, sizeof(p->ami[0].id), "%s", id);
		snprintf(p->ami[p->nami].root_device, sizeof(p->ami[0].root_device),
		    "%s", root);
		p->nami++;
	}
	ec2_image_list_dispose(&l);
	return 0;
}
