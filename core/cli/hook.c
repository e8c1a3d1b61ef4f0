/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth oci-hook: an OCI runtime hook (createRuntime and poststop) that attaches the networks
 * named in the container's annotations to its network namespace and detaches them again.
 * See docs/oci-hook.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "berth/cleanup.h"
#include "berth/cache.h"
#include "berth/file.h"
#include "berth/json.h"
#include "berth/netns.h"
#include "cli-internal.h"

#define ANN_NETWORKS "org.berth.networks"
#define ANN_PUBLISH "org.berth.publish"
#define ANN_ARGS "org.berth.args"
#define ANN_CAPS "org.berth.capabilities"
#define STATE_MAX (1 << 20)

struct hook_net {
	char *name;
	char ifname[16];
};

/* "net1,net2:eth5" -> networks with interface names eth0, eth1, ... unless given. */
static int parse_networks(const char *s, struct hook_net **ret, size_t *ret_n, berth_error *err)
{
	_cleanup_free_ char *copy = strdup(s);
	struct hook_net *v = NULL;
	size_t n = 0;
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		struct hook_net *nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv)
			goto nomem;
		v = nv;
		char *colon = strchr(tok, ':');
		if (colon)
			*colon = '\0';
		v[n].name = strdup(tok);
		if (!v[n].name)
			goto nomem;
		if (colon && (strlen(colon + 1) == 0 || strlen(colon + 1) > 15)) {
			free(v[n].name);
			for (size_t i = 0; i < n; i++)
				free(v[i].name);
			free(v);
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "annotation " ANN_NETWORKS
					       ": bad interface name in \"%s:%s\"",
					       tok, colon + 1);
		}
		if (colon)
			snprintf(v[n].ifname, sizeof(v[n].ifname), "%s", colon + 1);
		else
			snprintf(v[n].ifname, sizeof(v[n].ifname), "eth%zu", n);
		n++;
	}
	*ret = v;
	*ret_n = n;
	return 0;
nomem:
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	return -ENOMEM;
}

static void free_networks(struct hook_net *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/* Annotations from the state (runtime-spec 1.0.2+), else from the bundle's config.json. */
static json_t *annotations(json_t *state)
{
	json_t *a = json_object_get(state, "annotations");
	const char *bundle;
	_cleanup_free_ char *path = NULL;
	json_t *cfg;

	if (json_is_object(a) && json_object_get(a, ANN_NETWORKS))
		return json_incref(a);
	bundle = json_string_value(json_object_get(state, "bundle"));
	if (!bundle || asprintf(&path, "%s/config.json", bundle) < 0)
		return json_is_object(a) ? json_incref(a) : NULL;
	cfg = json_load_file(path, 0, NULL);
	a = json_incref(json_object_get(cfg, "annotations"));
	json_decref(cfg);
	return a;
}

int cli_oci_hook(struct cli *c, int argc, char **argv)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_json_ json_t *state = NULL, *ann = NULL, *caps = NULL;
	struct hook_net *nets = NULL;
	size_t n_nets = 0, len;
	berth_error err = { 0 };
	const char *phase = NULL, *id, *status, *s;
	char netns[64];
	int oi, r, ret = 0;

	r = cli_parse(c, argc, argv, &oi);
	if (r)
		return r == CLI_HELP ? 0 : r;
	if (oi < argc)
		phase = argv[oi];

	r = berth_read_fd(0, STATE_MAX, &buf, &len, &err);
	if (r < 0)
		return cli_fail(c, &err);
	r = berth_json_parse(buf, len, &state, &err);
	if (r < 0) {
		berth_error_prefix(&err, "oci-hook: OCI state on stdin");
		return cli_fail(c, &err);
	}
	id = json_string_value(json_object_get(state, "id"));
	status = json_string_value(json_object_get(state, "status"));
	if (!id || !berth_path_component_ok(id)) {
		berth_error_set(&err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
				"oci-hook: OCI state: id: missing or invalid");
		return cli_fail(c, &err);
	}
	if (!phase)
		phase = status && STREQ(status, "stopped") ? "poststop" : "createRuntime";

	ann = annotations(state);
	s = json_string_value(json_object_get(ann, ANN_NETWORKS));
	if (!s || !*s)
		return 0; /* not ours: the hook may be installed for every container */
	r = parse_networks(s, &nets, &n_nets, &err);
	if (r < 0)
		return cli_fail(c, &err);

	/* other capability args (bandwidth, dns, aliases, ...) as one JSON object; publish wins */
	s = json_string_value(json_object_get(ann, ANN_CAPS));
	if (s && *s) {
		json_error_t jerr;
		caps = json_loads(s, 0, &jerr);
		if (!json_is_object(caps)) {
			free_networks(nets, n_nets);
			berth_error_set(&err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					"oci-hook: annotation " ANN_CAPS ": must be a JSON object%s%s",
					caps ? "" : ": ", caps ? "" : jerr.text);
			return cli_fail(c, &err);
		}
	} else {
		caps = json_object();
	}
	s = json_string_value(json_object_get(ann, ANN_PUBLISH));
	if (s && *s) {
		_cleanup_free_ char *copy = strdup(s);
		char *save = NULL;
		json_t *pm = json_array();
		for (char *tok = strtok_r(copy, ", ", &save); tok;
		     tok = strtok_r(NULL, ", ", &save)) {
			json_t *m;
			if (berth_parse_publish(tok, &m, &err) < 0) {
				json_decref(pm);
				free_networks(nets, n_nets);
				berth_error_prefix(&err, "oci-hook: annotation " ANN_PUBLISH);
				return cli_fail(c, &err);
			}
			json_array_append_new(pm, m);
		}
		json_object_set_new(caps, "portMappings", pm);
	}
	const char *args = json_string_value(json_object_get(ann, ANN_ARGS));

	if (STREQ(phase, "createRuntime") || STREQ(phase, "prestart") ||
	    STREQ(phase, "createContainer")) {
		json_int_t pid = json_integer_value(json_object_get(state, "pid"));
		if (pid <= 0) {
			free_networks(nets, n_nets);
			berth_error_set(&err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
					"oci-hook: OCI state: pid: missing (phase %s)", phase);
			return cli_fail(c, &err);
		}
		snprintf(netns, sizeof(netns), "/proc/%lld/ns/net", (long long)pid);
		struct stat ctr_ns;
		if (stat(netns, &ctr_ns) < 0) {
			free_networks(nets, n_nets);
			berth_error_errno(&err, BERTH_CNI_ERR_INVALID_ENV, "oci-hook: %s", netns);
			return cli_fail(c, &err);
		}
		if (berth_netns_path_is_current(netns)) {
			/* no netns of its own (yet), or it shares ours: attaching would
			 * configure the host itself */
			free_networks(nets, n_nets);
			berth_error_set(&err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
					"oci-hook: process %lld is in the hook's own network "
					"namespace, not in one of its own",
					(long long)pid);
			return cli_fail(c, &err);
		}
		for (size_t i = 0; i < n_nets; i++) {
			_cleanup_netconf_ struct berth_netconf *net = NULL;
			_cleanup_json_ json_t *res = NULL;
			struct berth_rt rt = { id, netns, nets[i].ifname, args,
					       json_object_size(caps) ? caps : NULL };
			r = berth_netconf_find(c->config_dir, nets[i].name, &net, &err);
			if (r == 0)
				r = berth_net_add(&c->core, net, &rt, &res, &err);
			if (r < 0) {
				/* no half-attached container: undo the networks done so far */
				for (size_t k = i; k-- > 0;) {
					_cleanup_netconf_ struct berth_netconf *pn = NULL;
					berth_error e = { 0 };
					struct berth_rt prt = { id, netns, nets[k].ifname, args,
								json_object_size(caps) ? caps
										       : NULL };
					if (berth_netconf_find(c->config_dir, nets[k].name, &pn,
							       &e) == 0)
						berth_net_del(&c->core, pn, &prt, &e);
				}
				ret = cli_fail(c, &err);
				break;
			}
		}
	} else if (STREQ(phase, "poststop")) {
		/* the process is gone: plugins clean up the host side without the netns */
		for (size_t i = n_nets; i-- > 0;) {
			_cleanup_netconf_ struct berth_netconf *net = NULL;
			struct berth_rt rt = { id, NULL, nets[i].ifname, args,
					       json_object_size(caps) ? caps : NULL };
			berth_error e = { 0 };
			r = cli_find_for_del(c, nets[i].name, id, nets[i].ifname, &net, &e);
			if (r == 0)
				r = berth_net_del(&c->core, net, &rt, &e);
			if (r < 0) {
				fprintf(stderr, "berth: oci-hook poststop: %s\n", e.msg);
				ret = 1;
			}
		}
	} else {
		fprintf(stderr, "berth: oci-hook: unknown phase \"%s\"\n", phase);
		ret = 2;
	}
	free_networks(nets, n_nets);
	return ret;
}
