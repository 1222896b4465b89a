/*
 * ec2.c - typed EC2 calls over the request API of aws_int.h.
 *
 * Each call builds a struct aws_query, sends it with aws_client_send()
 * (signing, retries, error mapping are the core's job) and parses the
 * XML answer with the aws_xml_* helpers into the caller's structs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "aws_int.h"
#include "base64.h"
#include "ec2.h"
#include "err.h"
#include "log.h"
#include "mem.h"

struct ec2_client {
	struct aws_client	*aws;
};

int
ec2_client_new(struct ec2_client **out, struct aws_client *aws)
{
	struct ec2_client *c;

	c = xcalloc(1, sizeof(*c));
	c->aws = aws;
	*out = c;
	return 0;
}

void
ec2_client_free(struct ec2_client *c)
{
	free(c);
}

/* ---- small helpers ---- */

/* Copy the text of child name of node into dst ("" when missing). */
static void
child_copy(char *dst, size_t sz, const struct aws_xml_node *node,
    const char *name)
{
	char *t;

	t = node != NULL ? aws_xml_child_text(node, name) : NULL;
	mem_strcopy(dst, sz, t);
	free(t);
}

/* The text of child name of node, a new string ("" when missing). */
static char *
child_dup(const struct aws_xml_node *node, const char *name)
{
	char *t = node != NULL ? aws_xml_child_text(node, name) : NULL;

	return t != NULL ? t : xstrdup("");
}

static const struct aws_xml_node *
path_node(const struct aws_xml_node *node, const char *path)
{
	return node != NULL ? aws_xml_path(node, path) : NULL;
}

/* "2026-01-02T03:04:05.000Z" to UTC seconds; 0 when it does not parse. */
static time_t
parse_time(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
		return 0;
	return timegm(&tm);
}

/* Parse <tagSet><item><key/><value/></item>... under parent. */
static void
tags_parse(struct ec2_tag **out, size_t *nout, const struct aws_xml_node *parent)
{
	const struct aws_xml_node *set, *it;
	struct ec2_tag *v;
	char **kv = NULL, *p;
	size_t n = 0, bytes = 0, i;

	*out = NULL;
	*nout = 0;
	if ((set = aws_xml_child(parent, "tagSet")) == NULL)
		return;
	AWS_XML_FOREACH(it, set, "item") {
		char *k = aws_xml_child_text(it, "key");
		char *val = aws_xml_child_text(it, "value");

		if (k == NULL) {
			free(val);
			continue;
		}
		kv = xreallocarray(kv, 2 * (n + 1), sizeof(*kv));
		kv[2 * n] = k;
		kv[2 * n + 1] = val != NULL ? val : xstrdup("");
		bytes += strlen(k) + strlen(kv[2 * n + 1]) + 2;
		n++;
	}
	if (n == 0)
		return;
	/* the array and its strings in one block: one free() */
	v = xmalloc(n * sizeof(*v) + bytes);
	p = (char *)(v + n);
	for (i = 0; i < n; i++) {
		size_t kl = strlen(kv[2 * i]) + 1, vl = strlen(kv[2 * i + 1]) + 1;

		memcpy(p, kv[2 * i], kl);
		v[i].key = p;
		p += kl;
		memcpy(p, kv[2 * i + 1], vl);
		v[i].value = p;
		p += vl;
		free(kv[2 * i]);
		free(kv[2 * i + 1]);
	}
	free(kv);
	*out = v;
	*nout = n;
}

static void
add_list(struct aws_query *q, const char *prefix, const char *const *v,
    size_t n)
{
	for (size_t i = 0; i < n; i++)
		aws_query_addf(q, v[i], "%s.%zu", prefix, i + 1);
}

static void
add_filters(struct aws_query *q, const struct ec2_filter *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		aws_query_addf(q, f[i].name, "Filter.%zu.Name", i + 1);
		for (size_t j = 0; j < f[i].nvalues; j++)
			aws_query_addf(q, f[i].values[j], "Filter.%zu.Value.%zu",
			    i + 1, j + 1);
	}
}

static void
add_tag_spec(struct aws_query *q, int idx, const char *type,
    const struct ec2_kv *tags, size_t n)
{
	if (n == 0)
		return;
	aws_query_addf(q, type, "TagSpecification.%d.ResourceType", idx);
	for (size_t i = 0; i < n; i++) {
		aws_query_addf(q, tags[i].key, "TagSpecification.%d.Tag.%zu.Key",
		    idx, i + 1);
		aws_query_addf(q, tags[i].value != NULL ? tags[i].value : "",
		    "TagSpecification.%d.Tag.%zu.Value", idx, i + 1);
	}
}

static void
add_int(struct aws_query *q, const char *name, long v)
{
	char num[32];

	snprintf(num, sizeof(num), "%ld", v);
	aws_query_add(q, name, num);
}

/*
 * Send q as action; on success *doc (may be NULL when the caller wants
 * no body) holds the parsed answer.  resp_code (may be NULL) receives
 * the AWS error code of a failure.
 */
static int
ec2_call(struct aws_xml **doc, char *resp_code, size_t resp_codesz,
    struct ec2_client *c, const char *action, const struct aws_query *q)
{
	struct aws_request req;
	struct aws_response resp;
	int error;

	if (doc != NULL)
		*doc = NULL;
	if (resp_code != NULL && resp_codesz > 0)
		resp_code[0] = '\0';
	memset(&req, 0, sizeof(req));
	req.service = AWS_SERVICE_EC2;
	req.action = action;
	req.method = "POST";
	req.path = "/";
	req.params = q;
	aws_response_init(&resp);
	error = aws_client_send(&resp, c->aws, &req);
	if (error < 0) {
		if (resp_code != NULL)
			mem_strcopy(resp_code, resp_codesz, resp.error.code);
		goto done;
	}
	if (doc != NULL &&
	    (error = aws_xml_parse(doc, resp.body.ptr, resp.body.len)) < 0)
		err_prefix("ec2 %s: answer", action);
done:
	aws_response_dispose(&resp);
	return error;
}

/*
 * The Describe* calls that answer with one set of items: call action
 * with q (taken), then hand take every <item> of the answer's set_name,
 * in order, with out.
 */
static int
ec2_describe_items(struct ec2_client *c, const char *action,
    struct aws_query *q, const char *set_name,
    void (*take)(void *out, const struct aws_xml_node *item), void *out)
{
	struct aws_xml *doc = NULL;
	const struct aws_xml_node *set, *it;
	int error;

	if ((error = ec2_call(&doc, NULL, 0, c, action, q)) == 0 &&
	    (set = aws_xml_child(aws_xml_root(doc), set_name)) != NULL)
		AWS_XML_FOREACH(it, set, "item")
			take(out, it);
	aws_xml_free(doc);
	aws_query_free(q);
	return error;
}

/* ---- instances ---- */

void
ec2_instance_dispose(struct ec2_instance *inst)
{
	if (inst == NULL)
		return;
	free(inst->block);
	memset(inst, 0, sizeof(*inst));
}

const char *
ec2_instance_tag(const struct ec2_instance *inst, const char *key)
{
	for (size_t i = 0; i < inst->ntags; i++)
		if (strcmp(inst->tags[i].key, key) == 0)
			return inst->tags[i].value;
	return NULL;
}

/* The static name of a state EC2 documents, or NULL for any other. */
static const char *
state_name(const char *state)
{
	static const char *const names[] = {
		"pending", "running", "shutting-down", "terminated", "stopping",
		"stopped",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(state, names[i]) == 0)
			return names[i];
	return NULL;
}

/* Bytes s takes in a block: none for "", which is never copied. */
static size_t
str_size(const char *s)
{
	return *s != '\0' ? strlen(s) + 1 : 0;
}

/* Copy s to *p and advance *p; "" is the static "". */
static const char *
str_put(char **p, const char *s)
{
	size_t len;
	char *at;

	if (*s == '\0')
		return "";
	len = strlen(s) + 1;
	at = memcpy(*p, s, len);
	*p += len;
	return at;
}

/*
 * Copy src (every string set) into dst with all its strings, its tag
 * array and its group array in one block: the tags first, then the
 * group pointers, then the text.  A documented state is not copied.
 */
static void
instance_pack(struct ec2_instance *dst, const struct ec2_instance *src)
{
	const char *state = state_name(src->state);
	size_t t, size, nt = src->ntags, ng = src->nsecurity_groups;
	struct ec2_tag *tags;
	const char **groups;
	char *p;

	size = nt * sizeof(*tags) + ng * sizeof(*groups) +
	    str_size(src->id) + (state != NULL ? 0 : str_size(src->state)) +
	    str_size(src->type) + str_size(src->image_id) +
	    str_size(src->private_ip) + str_size(src->public_ip) +
	    str_size(src->subnet_id) + str_size(src->vpc_id) +
	    str_size(src->az) + str_size(src->key_name) +
	    str_size(src->client_token) + str_size(src->state_reason);
	for (t = 0; t < nt; t++)
		size += str_size(src->tags[t].key) + str_size(src->tags[t].value);
	for (t = 0; t < ng; t++)
		size += str_size(src->security_groups[t]);
	*dst = *src;
	dst->block = xmalloc(size > 0 ? size : 1);
	tags = dst->block;
	groups = (const char **)(void *)(tags + nt);
	p = (char *)(void *)(groups + ng);
	dst->id = str_put(&p, src->id);
	dst->state = state != NULL ? state : str_put(&p, src->state);
	dst->type = str_put(&p, src->type);
	dst->image_id = str_put(&p, src->image_id);
	dst->private_ip = str_put(&p, src->private_ip);
	dst->public_ip = str_put(&p, src->public_ip);
	dst->subnet_id = str_put(&p, src->subnet_id);
	dst->vpc_id = str_put(&p, src->vpc_id);
	dst->az = str_put(&p, src->az);
	dst->key_name = str_put(&p, src->key_name);
	dst->client_token = str_put(&p, src->client_token);
	dst->state_reason = str_put(&p, src->state_reason);
	for (t = 0; t < nt; t++) {
		tags[t].key = str_put(&p, src->tags[t].key);
		tags[t].value = str_put(&p, src->tags[t].value);
	}
	for (t = 0; t < ng; t++)
		groups[t] = str_put(&p, src->security_groups[t]);
	dst->tags = nt > 0 ? tags : NULL;
	dst->security_groups = ng > 0 ? groups : NULL;
}

/* The texts instance_parse() reads, by index into its text[]. */
enum {
	T_ID, T_STATE, T_CODE, T_TYPE, T_IMAGE, T_LAUNCH, T_PRIVATE_IP,
	T_PUBLIC_IP, T_SUBNET, T_VPC, T_AZ, T_LIFECYCLE, T_KEY, T_TOKEN,
	T_REASON, T_COUNT
};

/* Fill out from an <instancesSet><item>: one block (instance_pack). */
static void
instance_parse(struct ec2_instance *out, const struct aws_xml_node *it)
{
	const struct aws_xml_node *st = path_node(it, "instanceState"), *set, *g;
	struct ec2_instance loose;
	struct ec2_tag *tags;
	char *text[T_COUNT], **groups = NULL;
	size_t ntags, ngroups = 0, i;

	text[T_ID] = child_dup(it, "instanceId");
	text[T_STATE] = child_dup(st, "name");
	text[T_CODE] = child_dup(st, "code");
	text[T_TYPE] = child_dup(it, "instanceType");
	text[T_IMAGE] = child_dup(it, "imageId");
	text[T_LAUNCH] = child_dup(it, "launchTime");
	text[T_PRIVATE_IP] = child_dup(it, "privateIpAddress");
	text[T_PUBLIC_IP] = child_dup(it, "ipAddress");
	text[T_SUBNET] = child_dup(it, "subnetId");
	text[T_VPC] = child_dup(it, "vpcId");
	text[T_AZ] = child_dup(path_node(it, "placement"), "availabilityZone");
	text[T_LIFECYCLE] = child_dup(it, "instanceLifecycle");
	text[T_KEY] = child_dup(it, "keyName");
	text[T_TOKEN] = child_dup(it, "clientToken");
	text[T_REASON] = child_dup(path_node(it, "stateReason"), "message");
	tags_parse(&tags, &ntags, it);
	if ((set = aws_xml_child(it, "groupSet")) != NULL) {
		AWS_XML_FOREACH(g, set, "item") {
			char *id = aws_xml_child_text(g, "groupId");

			if (id == NULL)
				continue;
			groups = xreallocarray(groups, ngroups + 1, sizeof(*groups));
			groups[ngroups++] = id;
		}
	}
	memset(&loose, 0, sizeof(loose));
	loose.id = text[T_ID];
	loose.state = text[T_STATE];
	loose.state_code = (int)strtol(text[T_CODE], NULL, 10) & 0xff;
	loose.type = text[T_TYPE];
	loose.image_id = text[T_IMAGE];
	loose.launched = parse_time(text[T_LAUNCH]);
	loose.private_ip = text[T_PRIVATE_IP];
	loose.public_ip = text[T_PUBLIC_IP];
	loose.subnet_id = text[T_SUBNET];
	loose.vpc_id = text[T_VPC];
	loose.az = text[T_AZ];
	loose.market = strcmp(text[T_LIFECYCLE], "spot") == 0 ?
	    EC2_MARKET_SPOT : EC2_MARKET_ON_DEMAND;
	loose.key_name = text[T_KEY];
	loose.client_token = text[T_TOKEN];
	loose.state_reason = text[T_REASON];
	loose.tags = tags;
	loose.ntags = ntags;
	loose.security_groups = (const char *const *)groups;
	loose.nsecurity_groups = ngroups;
	instance_pack(out, &loose);
	for (i = 0; i < T_COUNT; i++)
		free(text[i]);
	free(tags);
	for (i = 0; i < ngroups; i++)
		free(groups[i]);
	free(groups);
}

void
ec2_instance_page_dispose(struct ec2_instance_page *page)
{
	if (page == NULL)
		return;
	for (size_t i = 0; i < page->n; i++)
		ec2_instance_dispose(&page->v[i]);
	free(page->v);
	free(page->next_token);
	memset(page, 0, sizeof(*page));
}

/* The reader of a streamed answer, and who to tell when it starts over. */
struct stream_sink {
	struct aws_xml_push	*px;
	void			(*restart)(void *arg);
	void			*arg;
};

static int
stream_feed(void *arg, const char *data, size_t len)
{
	struct stream_sink *s = arg;

	return aws_xml_push_feed(s->px, data, len);
}

/* A new attempt: forget the bytes read and what fn made of them. */
static void
stream_begin(void *arg)
{
	struct stream_sink *s = arg;

	aws_xml_push_reset(s->px);
	s->restart(s->arg);
}

/*
 * Like ec2_call(), but the answer is read as it arrives (aws_xml_push):
 * a page of 1,000 instances is never held whole, as text or as a tree.
 * fn gets each element on paths; restart(arg) is called before every
 * attempt (a retried answer is read again from its start) and must undo
 * what fn did.
 */
static int
ec2_call_stream(struct ec2_client *c, const char *action,
    const struct aws_query *q, const char *const *paths, size_t npaths,
    aws_xml_stream_fn *fn, void (*restart)(void *arg), void *arg)
{
	struct aws_request req;
	struct aws_response resp;
	struct stream_sink sink;
	int error;

	memset(&req, 0, sizeof(req));
	req.service = AWS_SERVICE_EC2;
	req.action = action;
	req.method = "POST";
	req.path = "/";
	req.params = q;
	aws_xml_push_new(&sink.px, paths, npaths, fn, arg);
	sink.restart = restart;
	sink.arg = arg;
	aws_response_init(&resp);
	resp.sink = stream_feed;
	resp.sink_begin = stream_begin;
	resp.sink_arg = &sink;
	if ((error = aws_client_send(&resp, c->aws, &req)) >= 0 &&
	    (error = aws_xml_push_end(sink.px)) < 0)
		err_prefix("ec2 %s: answer", action);
	aws_response_dispose(&resp);
	aws_xml_push_free(sink.px);
	return error;
}

/* The elements of a DescribeInstances answer that page_take() reads. */
static const char *const page_paths[] = {
	"reservationSet/item/instancesSet/item",
	"nextToken",
};

struct page_fill {
	struct ec2_instance_page	*page;
	size_t				 cap;
};

/* An attempt starts: the page is empty again. */
static void
page_restart(void *arg)
{
	struct page_fill *f = arg;

	ec2_instance_page_dispose(f->page);
	f->cap = 0;
}

/* One instance, or the next token, of a DescribeInstances answer. */
static int
page_take(void *arg, size_t which, const struct aws_xml_node *node)
{
	struct page_fill *f = arg;
	struct ec2_instance_page *page = f->page;
	char *tok;

	if (which == 0) {
		if (page->n == f->cap) {
			f->cap = f->cap ? f->cap * 2 : 64;
			page->v = xreallocarray(page->v, f->cap, sizeof(*page->v));
		}
		instance_parse(&page->v[page->n++], node);
		return 0;
	}
	tok = aws_xml_text(node);
	free(page->next_token);
	page->next_token = tok != NULL && *tok != '\0' ? tok : NULL;
	if (page->next_token == NULL)
		free(tok);
	return 0;
}

int
ec2_instances_describe_page(struct ec2_instance_page *out,
    struct ec2_client *c, const struct ec2_describe_instances_input *in,
    const char *next_token)
{
	struct aws_query *q;
	struct page_fill fill;
	int error;

	memset(out, 0, sizeof(*out));
	fill.page = out;
	fill.cap = 0;
	q = aws_query_new("DescribeInstances", EC2_API_VERSION);
	if (in != NULL) {
		add_filters(q, in->filters, in->nfilters);
		add_list(q, "InstanceId", in->instance_ids, in->ninstance_ids);
	}
	if (in == NULL || in->ninstance_ids == 0) {
		int max = in != NULL && in->max_results > 0 ? in->max_results :
		    EC2_DESCRIBE_MAX_RESULTS;

		/* EC2 accepts 5..1000. */
		add_int(q, "MaxResults", max < 5 ? 5 : max > 1000 ? 1000 : max);
	}
	if (next_token != NULL)
		aws_query_add(q, "NextToken", next_token);
	if ((error = ec2_call_stream(c, "DescribeInstances", q, page_paths,
	    sizeof(page_paths) / sizeof(page_paths[0]), page_take, page_restart,
	    &fill)) < 0)
		ec2_instance_page_dispose(out);
	aws_query_free(q);
	return error;
}

int
ec2_instances_describe(struct ec2_client *c,
    const struct ec2_describe_instances_input *in,
    ec2_instance_page_fn *fn, void *arg, int *npages)
{
	struct ec2_instance_page page;
	char *token = NULL;
	int error = 0, pages = 0;

	memset(&page, 0, sizeof(page));
	do {
		error = ec2_instances_describe_page(&page, c, in, token);
		free(token);
		token = NULL;
		if (error < 0)
			break;
		pages++;
		if ((error = fn(page.v, page.n, arg)) < 0)
			break;
		token = page.next_token;
		page.next_token = NULL;
		ec2_instance_page_dispose(&page);
	} while (token != NULL);
	ec2_instance_page_dispose(&page);
	free(token);
	if (npages != NULL)
		*npages = pages;
	return error < 0 ? error : 0;
}

int
ec2_instance_run(struct ec2_instance *out, struct ec2_client *c,
    const struct ec2_run_input *in)
{
	struct aws_query *q = NULL;
	struct aws_xml *doc = NULL;
	const struct aws_xml_node *iset, *it;
	char *ud = NULL;
	int error = ERR_INVALID;

	memset(out, 0, sizeof(*out));
	if (in->image_id == NULL || in->instance_type == NULL ||
	    in->client_token == NULL || *in->client_token == '\0') {
		err_set("ec2 RunInstances: image, instance type and client token "
		    "are required");
		goto done;
	}
	if (strlen(in->client_token) > 64) {
		err_set("ec2 RunInstances: client token longer than 64 characters");
		goto done;
	}
	if (in->user_data_len > EC2_USER_DATA_MAX) {
		err_set("ec2 RunInstances: user data is %zu bytes, limit %d",
		    in->user_data_len, EC2_USER_DATA_MAX);
		error = ERR_LIMIT;
		goto done;
	}
	q = aws_query_new("RunInstances", EC2_API_VERSION);
	aws_query_add(q, "ImageId", in->image_id);
	aws_query_add(q, "InstanceType", in->instance_type);
	aws_query_add(q, "MinCount", "1");
	aws_query_add(q, "MaxCount", "1");
	aws_query_add(q, "ClientToken", in->client_token);
	if (in->subnet_id != NULL)
		aws_query_add(q, "SubnetId", in->subnet_id);
	add_list(q, "SecurityGroupId", in->security_group_ids,
	    in->nsecurity_group_ids);
	if (in->key_name != NULL)
		aws_query_add(q, "KeyName", in->key_name);
	if (in->iam_profile_arn != NULL)
		aws_query_add(q, "IamInstanceProfile.Arn", in->iam_profile_arn);
	else if (in->iam_profile_name != NULL)
		aws_query_add(q, "IamInstanceProfile.Name", in->iam_profile_name);
	if (in->user_data != NULL && in->user_data_len > 0) {
		ud = base64_encode(in->user_data, in->user_data_len, NULL);
		aws_query_add(q, "UserData", ud);
	}
	add_tag_spec(q, 1, "instance", in->tags, in->ntags);
	add_tag_spec(q, 2, "volume", in->tags, in->ntags);
	aws_query_add(q, "BlockDeviceMapping.1.DeviceName",
	    in->root_device_name != NULL ? in->root_device_name : "/dev/xvda");
	aws_query_add(q, "BlockDeviceMapping.1.Ebs.VolumeType", "gp3");
	aws_query_add(q, "BlockDeviceMapping.1.Ebs.Encrypted", "true");
	aws_query_add(q, "BlockDeviceMapping.1.Ebs.DeleteOnTermination", "true");
	if (in->root_size_gb > 0)
		add_int(q, "BlockDeviceMapping.1.Ebs.VolumeSize", in->root_size_gb);
	aws_query_add(q, "MetadataOptions.HttpTokens", "required");
	aws_query_add(q, "MetadataOptions.HttpEndpoint", "enabled");
	add_int(q, "MetadataOptions.HttpPutResponseHopLimit",
	    in->metadata_hop_limit > 0 ? in->metadata_hop_limit : 2);
	if (in->spot) {
		aws_query_add(q, "InstanceMarketOptions.MarketType", "spot");
		if (in->spot_max_price != NULL)
			aws_query_add(q, "InstanceMarketOptions.SpotOptions.MaxPrice",
			    in->spot_max_price);
		aws_query_add(q, "InstanceMarketOptions.SpotOptions.SpotInstanceType",
		    "one-time");
		aws_query_add(q,
		    "InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior",
		    "terminate");
	}
	if (in->disable_api_termination)
		aws_query_add(q, "DisableApiTermination", "true");
	/*
	 * A shutdown from inside keeps an on-demand disk unless asked to
	 * terminate (on_idle: terminate); spot cannot stop.
	 */
	aws_query_add(q, "InstanceInitiatedShutdownBehavior",
	    in->spot || in->shutdown_terminate ? "terminate" : "stop");
	if ((error = ec2_call(&doc, NULL, 0, c, "RunInstances", q)) < 0)
		goto done;
	iset = aws_xml_child(aws_xml_root(doc), "instancesSet");
	it = iset != NULL ? aws_xml_child(iset, "item") : NULL;
	if (it == NULL) {
		err_set("ec2 RunInstances: answer names no instance");
		error = ERR_GENERIC;
		goto done;
	}
	instance_parse(out, it);
	error = 0;
done:
	free(ud);
	aws_xml_free(doc);
	aws_query_free(q);
	return error;
}

int
ec2_instances_terminate(struct ec2_client *c, const char *const *ids,
    size_t nids)
{
	struct aws_query *q;
	int error;

	q = aws_query_new("TerminateInstances", EC2_API_VERSION);
	add_list(q, "InstanceId", ids, nids);
	error = ec2_call(NULL, NULL, 0, c, "TerminateInstances", q);
	aws_query_free(q);
	return error;
}

int
ec2_instance_stop(struct ec2_client *c, const char *id)
{
	struct aws_query *q;
	const char *ids[1] = { id };
	int error;

	q = aws_query_new("StopInstances", EC2_API_VERSION);
	add_list(q, "InstanceId", ids, 1);
	error = ec2_call(NULL, NULL, 0, c, "StopInstances", q);
	aws_query_free(q);
	return error;
}

int
ec2_instance_start(struct ec2_client *c, const char *id)
{
	struct aws_query *q;
	const char *ids[1] = { id };
	int error;

	q = aws_query_new("StartInstances", EC2_API_VERSION);
	add_list(q, "InstanceId", ids, 1);
	error = ec2_call(NULL, NULL, 0, c, "StartInstances", q);
	aws_query_free(q);
	return error;
}

void
ec2_instance_status_list_dispose(struct ec2_instance_status_list *l)
{
	if (l == NULL)
		return;
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void
instance_status_take(void *out, const struct aws_xml_node *it)
{
	struct ec2_instance_status_list *l = out;
	struct ec2_instance_status *s;

	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	s = &l->v[l->n++];
	memset(s, 0, sizeof(*s));
	child_copy(s->id, sizeof(s->id), it, "instanceId");
	child_copy(s->az, sizeof(s->az), it, "availabilityZone");
	child_copy(s->state, sizeof(s->state), path_node(it, "instanceState"),
	    "name");
	child_copy(s->instance_status, sizeof(s->instance_status),
	    path_node(it, "instanceStatus"), "status");
	child_copy(s->system_status, sizeof(s->system_status),
	    path_node(it, "systemStatus"), "status");
}

int
ec2_instance_status_describe(struct ec2_instance_status_list *out,
    struct ec2_client *c, const char *const *ids, size_t nids)
{
	struct aws_query *q;

	memset(out, 0, sizeof(*out));
	q = aws_query_new("DescribeInstanceStatus", EC2_API_VERSION);
	add_list(q, "InstanceId", ids, nids);
	aws_query_add(q, "IncludeAllInstances", "true");
	return ec2_describe_items(c, "DescribeInstanceStatus", q,
	    "instanceStatusSet", instance_status_take, out);
}

int
ec2_instance_termination_protection(int *out, struct ec2_client *c,
    const char *id)
{
	struct aws_query *q;
	struct aws_xml *doc = NULL;
	char v[16];
	int error;

	*out = 0;
	q = aws_query_new("DescribeInstanceAttribute", EC2_API_VERSION);
	aws_query_add(q, "InstanceId", id);
	aws_query_add(q, "Attribute", "disableApiTermination");
	if ((error = ec2_call(&doc, NULL, 0, c, "DescribeInstanceAttribute", q)) < 0)
		goto done;
	child_copy(v, sizeof(v), path_node(aws_xml_root(doc),
	    "disableApiTermination"), "value");
	*out = strcmp(v, "true") == 0;
done:
	aws_xml_free(doc);
	aws_query_free(q);
	return error;
}

int
ec2_console_output_get(char **out, size_t *outlen, struct ec2_client *c,
    const char *id)
{
	struct aws_query *q;
	struct aws_xml *doc = NULL;
	char *b64 = NULL;
	int error;

	*out = NULL;
	*outlen = 0;
	q = aws_query_new("GetConsoleOutput", EC2_API_VERSION);
	aws_query_add(q, "InstanceId", id);
	/* The current text, not the snapshot EC2 buffers (empty for minutes). */
	aws_query_add(q, "Latest", "true");
	if ((error = ec2_call(&doc, NULL, 0, c, "GetConsoleOutput", q)) < 0)
		goto done;
	b64 = aws_xml_child_text(aws_xml_root(doc), "output");
	if (b64 == NULL || *b64 == '\0') {
		*out = xstrdup("");
		goto done;
	}
	if ((error = base64_decode((uint8_t **)out, outlen, b64, strlen(b64),
	    BASE64_SKIP_SPACE)) < 0)
		err_prefix("ec2 GetConsoleOutput");
done:
	free(b64);
	aws_xml_free(doc);
	aws_query_free(q);
	return error;
}

/* ---- images ---- */

void
ec2_image_list_dispose(struct ec2_image_list *l)
{
	if (l == NULL)
		return;
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void
image_take(void *out, const struct aws_xml_node *it)
{
	struct ec2_image_list *l = out;
	struct ec2_image *im;

	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	im = &l->v[l->n++];
	memset(im, 0, sizeof(*im));
	child_copy(im->id, sizeof(im->id), it, "imageId");
	child_copy(im->name, sizeof(im->name), it, "name");
	child_copy(im->owner_id, sizeof(im->owner_id), it, "imageOwnerId");
	child_copy(im->state, sizeof(im->state), it, "imageState");
	child_copy(im->architecture, sizeof(im->architecture), it,
	    "architecture");
	child_copy(im->root_device_name, sizeof(im->root_device_name), it,
	    "rootDeviceName");
	child_copy(im->creation_date, sizeof(im->creation_date), it,
	    "creationDate");
	im->created = parse_time(im->creation_date);
}

/* Pages of DescribeImages followed before the answer counts as runaway. */
#define IMAGES_MAX_PAGES	100

int
ec2_images_describe(struct ec2_image_list *out, struct ec2_client *c,
    const struct ec2_describe_images_input *in)
{
	const struct aws_xml_node *set, *it;
	struct aws_xml *doc = NULL;
	struct aws_query *q = NULL;
	char *token = NULL;
	int page, error = 0;

	memset(out, 0, sizeof(*out));
	for (page = 0; page < IMAGES_MAX_PAGES; page++) {
		q = aws_query_new("DescribeImages", EC2_API_VERSION);
		add_list(q, "Owner", in->owners, in->nowners);
		add_list(q, "ImageId", in->image_ids, in->nimage_ids);
		add_filters(q, in->filters, in->nfilters);
		if (token != NULL)
			aws_query_add(q, "NextToken", token);
		if ((error = ec2_call(&doc, NULL, 0, c, "DescribeImages", q)) < 0)
			goto out;
		if ((set = aws_xml_child(aws_xml_root(doc), "imagesSet")) != NULL)
			AWS_XML_FOREACH(it, set, "item")
				image_take(out, it);
		free(token);
		token = aws_xml_child_text(aws_xml_root(doc), "nextToken");
		aws_xml_free(doc);
		doc = NULL;
		aws_query_free(q);
		q = NULL;
		if (token == NULL || *token == '\0')
			goto out;
	}
	err_set("ec2 DescribeImages: more than %d pages", IMAGES_MAX_PAGES);
	error = ERR_LIMIT;
out:
	if (error < 0)
		ec2_image_list_dispose(out);
	free(token);
	aws_xml_free(doc);
	aws_query_free(q);
	return error;
}

int
ec2_instance_type_describe(struct ec2_instance_type *out, struct ec2_client *c,
    const char *type)
{
	const struct aws_xml_node *it, *archs, *a;
	struct aws_xml *doc = NULL;
	struct aws_query *q;
	char name[32], *t;
	int error;

	memset(out, 0, sizeof(*out));
	q = aws_query_new("DescribeInstanceTypes", EC2_API_VERSION);
	aws_query_add(q, "InstanceType.1", type);
	if ((error = ec2_call(&doc, NULL, 0, c, "DescribeInstanceTypes", q)) < 0)
		goto out;
	it = aws_xml_path(aws_xml_root(doc), "instanceTypeSet/item");
	for (; it != NULL; it = aws_xml_next(it, "item")) {
		child_copy(name, sizeof(name), it, "instanceType");
		if (strcmp(name, type) == 0)
			break;
	}
	if (it == NULL) {
		err_set("ec2 DescribeInstanceTypes: no instance type %s in the answer",
		    type);
		error = ERR_NOTFOUND;
		goto out;
	}
	snprintf(out->type, sizeof(out->type), "%s", type);
	child_copy(name, sizeof(name), aws_xml_path(it, "vCpuInfo"),
	    "defaultVCpus");
	out->vcpus = (unsigned)strtoul(name, NULL, 10);
	archs = aws_xml_path(it, "processorInfo/supportedArchitectures");
	if (archs != NULL)
		AWS_XML_FOREACH(a, archs, "item") {
			if (out->narchs == EC2_ARCHS_MAX)
				break;
			t = aws_xml_text(a);
			snprintf(out->archs[out->narchs], sizeof(out->archs[0]),
			    "%s", t != NULL ? t : "");
			free(t);
			if (out->archs[out->narchs][0] != '\0')
				out->narchs++;
		}
out:
	aws_xml_free(doc);
	aws_query_free(q);
	return error;
}

/* ---- security groups ---- */

void
ec2_security_group_list_dispose(struct ec2_security_group_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].ingress);
		free(l->v[i].tags);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int
ec2_security_group_create(char *id_out, size_t id_outsz, struct ec2_client *c,
    const char *name, const char *description, const char *vpc_id,
    const struct ec2_kv *tags, size_t ntags)
{
	struct aws_query *q;
	struct aws_xml *doc = NULL;
	int error;

	if (id_outsz > 0)
		id_out[0] = '\0';
	q = aws_query_new("CreateSecurityGroup", EC2_API_VERSION);
	aws_query_add(q, "GroupName", name);
	aws_query_add(q, "GroupDescription", description);
	if (vpc_id != NULL)
		aws_query_add(q, "VpcId", vpc_id);
	add_tag_spec(q, 1, "security-group", tags, ntags);
	if ((error = ec2_call(&doc, NULL, 0, c, "CreateSecurityGroup", q)) < 0)
		goto done;
	child_copy(id_out, id_outsz, aws_xml_root(doc), "groupId");
	if (id_outsz > 0 && id_out[0] == '\0') {
		err_set("ec2 CreateSecurityGroup: answer has no groupId");
		error = ERR_GENERIC;
	}
done:
	aws_xml_free(doc);
	aws_query_free(q);
	return error;
}

static void
sg_parse(struct ec2_security_group *g, const struct aws_xml_node *it)
{
	const struct aws_xml_node *perms, *p, *ranges, *r;

	memset(g, 0, sizeof(*g));
	child_copy(g->id, sizeof(g->id), it, "groupId");
	child_copy(g->name, sizeof(g->name), it, "groupName");
	child_copy(g->description, sizeof(g->description), it, "groupDescription");
	child_copy(g->vpc_id, sizeof(g->vpc_id), it, "vpcId");
	tags_parse(&g->tags, &g->ntags, it);
	if ((perms = aws_xml_child(it, "ipPermissions")) == NULL)
		return;
	AWS_XML_FOREACH(p, perms, "item") {
		char proto[8], from[16], to[16];

		child_copy(proto, sizeof(proto), p, "ipProtocol");
		child_copy(from, sizeof(from), p, "fromPort");
		child_copy(to, sizeof(to), p, "toPort");
		for (size_t k = 0; k < 2; k++) {
			if ((ranges = aws_xml_child(p, k == 0 ? "ipRanges" :
			    "ipv6Ranges")) == NULL)
				continue;
			AWS_XML_FOREACH(r, ranges, "item") {
				struct ec2_sg_rule *rule;

				g->ingress = xreallocarray(g->ingress,
				    g->ningress + 1, sizeof(*g->ingress));
				rule = &g->ingress[g->ningress++];
				mem_strcopy(rule->protocol, sizeof(rule->protocol),
				    proto);
				rule->from_port = from[0] ?
				    (int)strtol(from, NULL, 10) : -1;
				rule->to_port = to[0] ? (int)strtol(to, NULL, 10) : -1;
				child_copy(rule->cidr, sizeof(rule->cidr), r,
				    k == 0 ? "cidrIp" : "cidrIpv6");
			}
		}
	}
}

static void
sg_take(void *out, const struct aws_xml_node *it)
{
	struct ec2_security_group_list *l = out;

	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	sg_parse(&l->v[l->n++], it);
}

int
ec2_security_groups_describe(struct ec2_security_group_list *out,
    struct ec2_client *c, const char *const *ids, size_t nids,
    const struct ec2_filter *filters, size_t nfilters)
{
	struct aws_query *q;

	memset(out, 0, sizeof(*out));
	q = aws_query_new("DescribeSecurityGroups", EC2_API_VERSION);
	add_list(q, "GroupId", ids, nids);
	add_filters(q, filters, nfilters);
	return ec2_describe_items(c, "DescribeSecurityGroups", q,
	    "securityGroupInfo", sg_take, out);
}

int
ec2_security_group_delete(struct ec2_client *c, const char *group_id)
{
	struct aws_query *q;
	int error;

	q = aws_query_new("DeleteSecurityGroup", EC2_API_VERSION);
	aws_query_add(q, "GroupId", group_id);
	error = ec2_call(NULL, NULL, 0, c, "DeleteSecurityGroup", q);
	aws_query_free(q);
	return error;
}

/* One Authorize/Revoke call for rules[0..n); *code gets the AWS code. */
static int
ingress_call(char *code, size_t codesz, struct ec2_client *c,
    const char *action, const char *group_id,
    const struct ec2_ingress_rule *rules, size_t n)
{
	struct aws_query *q;
	int error;

	q = aws_query_new(action, EC2_API_VERSION);
	aws_query_add(q, "GroupId", group_id);
	for (size_t i = 0; i < n; i++) {
		char num[16];
		int v6;

		aws_query_addf(q, rules[i].protocol, "IpPermissions.%zu.IpProtocol",
		    i + 1);
		snprintf(num, sizeof(num), "%d", rules[i].from_port);
		aws_query_addf(q, num, "IpPermissions.%zu.FromPort", i + 1);
		snprintf(num, sizeof(num), "%d", rules[i].to_port);
		aws_query_addf(q, num, "IpPermissions.%zu.ToPort", i + 1);
		/* IPv6 CIDRs go in Ipv6Ranges; EC2 refuses them as CidrIp. */
		v6 = strchr(rules[i].cidr, ':') != NULL;
		aws_query_addf(q, rules[i].cidr, "IpPermissions.%zu.%s.1.%s", i + 1,
		    v6 ? "Ipv6Ranges" : "IpRanges", v6 ? "CidrIpv6" : "CidrIp");
		if (rules[i].description != NULL)
			aws_query_addf(q, rules[i].description,
			    "IpPermissions.%zu.%s.1.Description", i + 1,
			    v6 ? "Ipv6Ranges" : "IpRanges");
	}
	error = ec2_call(NULL, code, codesz, c, action, q);
	aws_query_free(q);
	return error;
}

/*
 * Send rules together; when EC2 refuses the batch with the benign code
 * (duplicate / not found), send them one by one so the others still
 * apply, each benign answer counting as success.
 */
static int
ingress_change(struct ec2_client *c, const char *action, const char *benign,
    const char *group_id, const struct ec2_ingress_rule *rules, size_t n)
{
	char code[AWS_ERROR_CODE_MAX];
	int error;

	if (n == 0)
		return 0;
	error = ingress_call(code, sizeof(code), c, action, group_id, rules, n);
	if (error == 0 || strcmp(code, benign) != 0)
		return error;
	if (n == 1) {
		log_debug("ec2 %s %s: %s, already as wanted", action, group_id, code);
		err_clear();
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		error = ingress_call(code, sizeof(code), c, action, group_id,
		    &rules[i], 1);
		if (error < 0 && strcmp(code, benign) != 0)
			return error;
	}
	err_clear();
	return 0;
}

int
ec2_security_group_ingress_authorize(struct ec2_client *c,
    const char *group_id, const struct ec2_ingress_rule *rules, size_t nrules)
{
	return ingress_change(c, "AuthorizeSecurityGroupIngress",
	    "InvalidPermission.Duplicate", group_id, rules, nrules);
}

int
ec2_security_group_ingress_revoke(struct ec2_client *c,
    const char *group_id, const struct ec2_ingress_rule *rules, size_t nrules)
{
	return ingress_change(c, "RevokeSecurityGroupIngress",
	    "InvalidPermission.NotFound", group_id, rules, nrules);
}

/* ---- subnets ---- */

void
ec2_subnet_list_dispose(struct ec2_subnet_list *l)
{
	if (l == NULL)
		return;
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void
subnet_take(void *out, const struct aws_xml_node *it)
{
	struct ec2_subnet_list *l = out;
	struct ec2_subnet *sn;

	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	sn = &l->v[l->n++];
	memset(sn, 0, sizeof(*sn));
	child_copy(sn->id, sizeof(sn->id), it, "subnetId");
	child_copy(sn->vpc_id, sizeof(sn->vpc_id), it, "vpcId");
	child_copy(sn->az, sizeof(sn->az), it, "availabilityZone");
	child_copy(sn->az_id, sizeof(sn->az_id), it, "availabilityZoneId");
	child_copy(sn->cidr, sizeof(sn->cidr), it, "cidrBlock");
}

int
ec2_subnets_describe(struct ec2_subnet_list *out, struct ec2_client *c,
    const char *const *ids, size_t nids)
{
	struct aws_query *q;

	memset(out, 0, sizeof(*out));
	q = aws_query_new("DescribeSubnets", EC2_API_VERSION);
	add_list(q, "SubnetId", ids, nids);
	return ec2_describe_items(c, "DescribeSubnets", q, "subnetSet",
	    subnet_take, out);
}

static int
subnet_az_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ec2_subnet *)a)->az,
	    ((const struct ec2_subnet *)b)->az);
}

int
ec2_subnets_default_describe(struct ec2_subnet_list *out, struct ec2_client *c)
{
	static const char *const yes[] = { "true" };
	struct ec2_filter f = { "default-for-az", yes, 1 };
	struct aws_query *q;
	int error;

	memset(out, 0, sizeof(*out));
	q = aws_query_new("DescribeSubnets", EC2_API_VERSION);
	add_filters(q, &f, 1);
	error = ec2_describe_items(c, "DescribeSubnets", q, "subnetSet",
	    subnet_take, out);
	if (error == 0 && out->n > 1)
		qsort(out->v, out->n, sizeof(out->v[0]), subnet_az_cmp);
	return error;
}

/* ---- tags ---- */

int
ec2_tags_create(struct ec2_client *c, const char *const *resource_ids,
    size_t nids, const struct ec2_kv *tags, size_t ntags)
{
	struct aws_query *q;
	int error;

	q = aws_query_new("CreateTags", EC2_API_VERSION);
	add_list(q, "ResourceId", resource_ids, nids);
	for (size_t i = 0; i < ntags; i++) {
		aws_query_addf(q, tags[i].key, "Tag.%zu.Key", i + 1);
		aws_query_addf(q, tags[i].value != NULL ? tags[i].value : "",
		    "Tag.%zu.Value", i + 1);
	}
	error = ec2_call(NULL, NULL, 0, c, "CreateTags", q);
	aws_query_free(q);
	return error;
}

/* ---- key pairs ---- */

void
ec2_key_pair_list_dispose(struct ec2_key_pair_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		free(l->v[i].tags);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void
key_pair_parse(struct ec2_key_pair *k, const struct aws_xml_node *n)
{
	memset(k, 0, sizeof(*k));
	child_copy(k->name, sizeof(k->name), n, "keyName");
	child_copy(k->id, sizeof(k->id), n, "keyPairId");
	child_copy(k->fingerprint, sizeof(k->fingerprint), n, "keyFingerprint");
}

int
ec2_key_pair_import(struct ec2_key_pair *out, struct ec2_client *c,
    const char *name, const char *public_key, const struct ec2_kv *tags,
    size_t ntags)
{
	struct aws_query *q;
	struct aws_xml *doc = NULL;
	char *b64;
	int error;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	q = aws_query_new("ImportKeyPair", EC2_API_VERSION);
	aws_query_add(q, "KeyName", name);
	b64 = base64_encode(public_key, strlen(public_key), NULL);
	aws_query_add(q, "PublicKeyMaterial", b64);
	free(b64);
	add_tag_spec(q, 1, "key-pair", tags, ntags);
	if ((error = ec2_call(&doc, NULL, 0, c, "ImportKeyPair", q)) < 0)
		goto done;
	if (out != NULL)
		key_pair_parse(out, aws_xml_root(doc));
done:
	aws_xml_free(doc);
	aws_query_free(q);
	return error;
}

int
ec2_key_pair_delete(struct ec2_client *c, const char *name)
{
	struct aws_query *q;
	int error;

	q = aws_query_new("DeleteKeyPair", EC2_API_VERSION);
	aws_query_add(q, "KeyName", name);
	error = ec2_call(NULL, NULL, 0, c, "DeleteKeyPair", q);
	if (error == ERR_NOTFOUND) {
		err_clear();
		error = 0;
	}
	aws_query_free(q);
	return error;
}

static void
key_pair_take(void *out, const struct aws_xml_node *it)
{
	struct ec2_key_pair_list *l = out;

	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	key_pair_parse(&l->v[l->n], it);
	tags_parse(&l->v[l->n].tags, &l->v[l->n].ntags, it);
	l->n++;
}

int
ec2_key_pairs_describe(struct ec2_key_pair_list *out, struct ec2_client *c,
    const char *const *names, size_t nnames)
{
	struct aws_query *q;

	memset(out, 0, sizeof(*out));
	q = aws_query_new("DescribeKeyPairs", EC2_API_VERSION);
	add_list(q, "KeyName", names, nnames);
	return ec2_describe_items(c, "DescribeKeyPairs", q, "keySet",
	    key_pair_take, out);
}

/* ---- spot prices ---- */

void
ec2_spot_price_list_dispose(struct ec2_spot_price_list *l)
{
	if (l == NULL)
		return;
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void
spot_price_take(void *out, const struct aws_xml_node *it)
{
	struct ec2_spot_price_list *l = out;
	struct ec2_spot_price *p;

	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	p = &l->v[l->n++];
	memset(p, 0, sizeof(*p));
	child_copy(p->instance_type, sizeof(p->instance_type), it,
	    "instanceType");
	child_copy(p->az, sizeof(p->az), it, "availabilityZone");
	child_copy(p->product, sizeof(p->product), it, "productDescription");
	child_copy(p->price, sizeof(p->price), it, "spotPrice");
	child_copy(p->timestamp, sizeof(p->timestamp), it, "timestamp");
	p->when = parse_time(p->timestamp);
}

int
ec2_spot_price_history(struct ec2_spot_price_list *out, struct ec2_client *c,
    const char *instance_type, const char *product, time_t start,
    int max_results)
{
	struct aws_query *q;
	char ts[32];
	struct tm tm;

	memset(out, 0, sizeof(*out));
	q = aws_query_new("DescribeSpotPriceHistory", EC2_API_VERSION);
	aws_query_add(q, "InstanceType.1", instance_type);
	aws_query_add(q, "ProductDescription.1",
	    product != NULL ? product : "Linux/UNIX");
	if (start > 0 && gmtime_r(&start, &tm) != NULL) {
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		aws_query_add(q, "StartTime", ts);
	}
	add_int(q, "MaxResults", max_results > 0 ? max_results : 100);
	return ec2_describe_items(c, "DescribeSpotPriceHistory", q,
	    "spotPriceHistorySet", spot_price_take, out);
}

/* ---- spot placement scores ---- */

void
ec2_placement_score_list_dispose(struct ec2_placement_score_list *l)
{
	if (l == NULL)
		return;
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void
placement_score_take(void *out, const struct aws_xml_node *it)
{
	struct ec2_placement_score_list *l = out;
	struct ec2_placement_score *ps;
	char score[16];
	char *end;
	long n;

	child_copy(score, sizeof(score), it, "score");
	n = strtol(score, &end, 10);
	if (end == score || *end != '\0' || n < 1 || n > 10)
		return;		/* not a score: as if not answered */
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	ps = &l->v[l->n++];
	memset(ps, 0, sizeof(*ps));
	child_copy(ps->region, sizeof(ps->region), it, "region");
	child_copy(ps->az_id, sizeof(ps->az_id), it, "availabilityZoneId");
	ps->score = (int)n;
}

int
ec2_spot_placement_scores(struct ec2_placement_score_list *out,
    struct ec2_client *c, const char *const *types, size_t ntypes,
    const char *const *regions, size_t nregions, int single_az,
    int target_capacity)
{
	struct aws_query *q;

	memset(out, 0, sizeof(*out));
	q = aws_query_new("GetSpotPlacementScores", EC2_API_VERSION);
	add_list(q, "InstanceType", types, ntypes);
	add_int(q, "TargetCapacity", target_capacity > 0 ? target_capacity : 1);
	aws_query_add(q, "SingleAvailabilityZone", single_az ? "true" : "false");
	add_list(q, "RegionName", regions, nregions);
	add_int(q, "MaxResults", 1000);
	return ec2_describe_items(c, "GetSpotPlacementScores", q,
	    "spotPlacementScoreSet", placement_score_take, out);
}
