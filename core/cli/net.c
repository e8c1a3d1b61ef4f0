/* SPDX-License-Identifier: Apache-2.0 */
/* berth net add|del|check|status|gc|ls|show */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "berth/cleanup.h"
#include "berth/cache.h"
#include "berth/firewalld.h"
#include "berth/json.h"
#include "berth/netns.h"
#include "berth/nft.h"
#include "cli-internal.h"

static void print_result_human(const char *net, const char *container, const char *ifname,
			       json_t *res)
{
	json_t *ifs = json_object_get(res, "interfaces"), *ips = json_object_get(res, "ips");
	json_t *routes = json_object_get(res, "routes"), *v;
	size_t i;

	printf("%s: %s attached as %s\n", net, container, ifname);
	json_array_foreach(ifs, i, v) {
		const char *sb = json_string_value(json_object_get(v, "sandbox"));
		printf("  interface %-16s mac %-17s %s\n",
		       json_string_value(json_object_get(v, "name")) ?: "?",
		       json_string_value(json_object_get(v, "mac")) ?: "-",
		       sb && *sb ? "(container)" : "(host)");
	}
	json_array_foreach(ips, i, v) {
		const char *gw = json_string_value(json_object_get(v, "gateway"));
		printf("  address   %s%s%s\n", json_string_value(json_object_get(v, "address")) ?: "?",
		       gw ? " gateway " : "", gw ? gw : "");
	}
	json_array_foreach(routes, i, v) {
		const char *gw = json_string_value(json_object_get(v, "gw"));
		printf("  route     %s%s%s\n", json_string_value(json_object_get(v, "dst")) ?: "?",
		       gw ? " via " : "", gw ? gw : "");
	}
}

int cli_find_for_del(const struct cli *c, const char *name, const char *container,
		     const char *ifname, struct berth_netconf **ret, berth_error *err)
{
	struct berth_cache_entry ce;
	int r;

	r = berth_netconf_find(c->config_dir, name, ret, err);
	if (r != -ENOENT || !container)
		return r;
	if (berth_cache_read(&c->core, name, container, ifname, &ce, NULL) < 0)
		return r;
	if (ce.config) {
		berth_error e = { 0 };
		if (berth_netconf_parse(ce.config, ce.config_len, ce.path, false, ret, &e) == 0) {
			berth_cache_entry_free(&ce);
			return 0;
		}
	}
	berth_cache_entry_free(&ce);
	return r;
}

/* The netns must exist and be some container's: attaching our own would configure the host
 * (or whatever namespace berth runs in) as if it were a container. */
static int check_netns(const char *ns, berth_error *err)
{
	struct stat st;

	if (stat(ns, &st) < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INVALID_ENV, "--netns %s", ns);
	if (berth_netns_path_is_current(ns))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
				       "--netns %s is berth's own network namespace, not a "
				       "container's",
				       ns);
	return 0;
}

static int net_add(struct cli *c, const char *name)
{
	_cleanup_netconf_ struct berth_netconf *net = NULL;
	_cleanup_json_ json_t *caps = cli_cap_args(c), *res = NULL;
	berth_error err = { 0 };

	if (check_netns(c->netns, &err) < 0)
		return cli_fail(c, &err);

	if (berth_netconf_find(c->config_dir, name, &net, &err) < 0)
		return cli_fail(c, &err);
	struct berth_rt rt = { c->container, c->netns, c->ifname, c->args,
			       json_object_size(caps) ? caps : NULL };
	if (berth_net_add(&c->core, net, &rt, &res, &err) < 0)
		return cli_fail(c, &err);
	if (c->json)
		cli_print_json(res);
	else
		print_result_human(net->name, c->container, c->ifname, res);
	return 0;
}

static int net_del(struct cli *c, const char *name)
{
	_cleanup_netconf_ struct berth_netconf *net = NULL;
	_cleanup_json_ json_t *caps = cli_cap_args(c);
	berth_error err = { 0 };

	if (cli_find_for_del(c, name, c->container, c->ifname, &net, &err) < 0)
		return cli_fail(c, &err);
	struct berth_rt rt = { c->container, c->netns, c->ifname, c->args,
			       json_object_size(caps) ? caps : NULL };
	if (berth_net_del(&c->core, net, &rt, &err) < 0)
		return cli_fail(c, &err);
	if (c->json)
		printf("{}\n");
	else
		printf("%s: %s detached (%s)\n", net->name, c->container, c->ifname);
	return 0;
}

static int net_check(struct cli *c, const char *name)
{
	_cleanup_netconf_ struct berth_netconf *net = NULL;
	_cleanup_json_ json_t *caps = cli_cap_args(c);
	berth_error err = { 0 };

	if (berth_netconf_find(c->config_dir, name, &net, &err) < 0)
		return cli_fail(c, &err);
	struct berth_rt rt = { c->container, c->netns, c->ifname, c->args,
			       json_object_size(caps) ? caps : NULL };
	if (berth_net_check(&c->core, net, &rt, &err) < 0)
		return cli_fail(c, &err);
	if (c->json)
		printf("{}\n");
	else
		printf("%s: %s (%s) ok\n", net->name, c->container, c->ifname);
	return 0;
}

static int net_status(struct cli *c, const char *name)
{
	_cleanup_netconf_ struct berth_netconf *net = NULL;
	berth_error err = { 0 };

	if (berth_netconf_find(c->config_dir, name, &net, &err) < 0)
		return cli_fail(c, &err);
	if (berth_net_status(&c->core, net, &err) < 0) {
		if (c->json) {
			/* the same shape as the ready answer, so a script reads "ready" either way */
			json_t *j = json_pack("{sssbsiss}", "network", net->name, "ready", 0, "code",
					      err.code ? err.code : 999, "msg", err.msg);
			if (j)
				cli_print_json(j);
			json_decref(j);
			c->json = false; /* the error goes to stderr only */
		}
		return cli_fail(c, &err);
	}
	if (c->json)
		printf("{\"network\":\"%s\",\"ready\":true}\n", net->name);
	else
		printf("%s: ready\n", net->name);
	return 0;
}

/* A container's netns exists and is not ours: a /proc/<pid>/ns/net whose pid was reused by a
 * process of the host (where berth runs) names no container any more. */
static bool netns_alive(const char *ns)
{
	struct stat st;

	return ns && *ns && stat(ns, &st) == 0 && !berth_netns_path_is_current(ns);
}

/*
 * The valid set: --valid entries when given (what a runtime knows is alive); otherwise every
 * cached attachment whose netns still exists.  Entries of libcni < 1.2 (podman 4) record no
 * netns; the result's sandbox for the interface is the CNI_NETNS the plugins got, so it is
 * judged the same way.  An entry with neither, or a sandbox that is not a path, is kept: we
 * cannot tell whether its container lives.
 */
static int gc_one(struct cli *c, struct berth_netconf *net, json_t *out)
{
	struct berth_attachment *valid = NULL;
	struct berth_cache_entry *ents = NULL;
	size_t n_valid = 0, n = 0, deleted = 0;
	berth_error err = { 0 };
	int r;

	if (json_array_size(c->valid)) {
		size_t i;
		json_t *v;
		valid = calloc(json_array_size(c->valid), sizeof(*valid));
		if (!valid)
			return -ENOMEM;
		json_array_foreach(c->valid, i, v) {
			char *s = strdup(json_string_value(v));
			char *colon = strchr(s, ':');
			if (colon)
				*colon = '\0';
			valid[n_valid].container_id = s;
			valid[n_valid].ifname = colon ? colon + 1 : (char *)"eth0";
			n_valid++;
		}
	} else {
		r = berth_cache_list(&c->core, net->name, NULL, &ents, &n, NULL, &err);
		if (r < 0)
			return cli_fail(c, &err);
		valid = calloc(n + 1, sizeof(*valid));
		if (!valid) {
			berth_cache_entries_free(ents, n);
			return -ENOMEM;
		}
		for (size_t i = 0; i < n; i++)
			if (!ents[i].netns || ents[i].netns[0] != '/' || netns_alive(ents[i].netns))
				valid[n_valid++] = (struct berth_attachment){ ents[i].container_id,
									      ents[i].ifname };
	}
	r = berth_net_gc(&c->core, net, valid, n_valid, &deleted, &err);
	if (json_array_size(c->valid))
		for (size_t i = 0; i < n_valid; i++)
			free(valid[i].container_id);
	free(valid);
	berth_cache_entries_free(ents, n);
	json_array_append_new(out, json_pack("{sssIss?}", "network", net->name, "deleted",
					     (json_int_t)deleted, "error",
					     r < 0 ? err.msg : NULL));
	if (!c->json)
		printf("%s: %zu stale attachment%s deleted%s%s\n", net->name, deleted,
		       deleted == 1 ? "" : "s", r < 0 ? "; error: " : "", r < 0 ? err.msg : "");
	return r < 0 ? 1 : 0;
}

static int net_gc(struct cli *c, const char *name)
{
	_cleanup_json_ json_t *out = json_array();
	int ret = 0;

	if (name) {
		_cleanup_netconf_ struct berth_netconf *net = NULL;
		berth_error err = { 0 };
		if (berth_netconf_find(c->config_dir, name, &net, &err) < 0)
			return cli_fail(c, &err);
		ret = gc_one(c, net, out);
	} else {
		struct berth_netconf **v = NULL;
		size_t n = 0;
		berth_error err = { 0 };
		if (berth_netconf_list(c->config_dir, &v, &n, NULL, &err) < 0)
			return cli_fail(c, &err);
		for (size_t i = 0; i < n; i++)
			ret |= gc_one(c, v[i], out);
		berth_netconf_list_free(v, n);
	}
	if (c->json)
		cli_print_json(out);
	return ret;
}

static json_t *plugin_types(const struct berth_netconf *net)
{
	json_t *a = json_array();
	for (size_t i = 0; i < net->n_plugins; i++)
		json_array_append_new(a, json_string(net->plugins[i].type));
	return a;
}

static int net_ls(struct cli *c, const char *name)
{
	struct berth_netconf **v = NULL;
	_cleanup_json_ json_t *errors = NULL, *out = json_array();
	size_t n = 0, i;
	berth_error err = { 0 };
	json_t *e;

	if (berth_netconf_list(c->config_dir, &v, &n, &errors, &err) < 0)
		return cli_fail(c, &err);
	if (!c->json)
		printf("%-20s %-8s %-40s %s\n", "NAME", "VERSION", "PLUGINS", "SOURCE");
	for (i = 0; i < n; i++) {
		json_t *types = plugin_types(v[i]);
		if (c->json) {
			json_array_append_new(out, json_pack("{sssssoss}", "name", v[i]->name,
							     "cniVersion", v[i]->cni_version,
							     "plugins", types, "source",
							     v[i]->source));
			continue;
		}
		char chain[256] = "";
		size_t k;
		json_t *t;
		json_array_foreach(types, k, t) {
			if (k)
				strncat(chain, ",", sizeof(chain) - strlen(chain) - 1);
			strncat(chain, json_string_value(t), sizeof(chain) - strlen(chain) - 1);
		}
		json_decref(types);
		printf("%-20s %-8s %-40s %s\n", v[i]->name, v[i]->cni_version, chain, v[i]->source);
	}
	json_array_foreach(errors, i, e) {
		if (c->json)
			json_array_append_new(out, json_pack("{sOsO}", "file",
							     json_object_get(e, "file"), "error",
							     json_object_get(e, "error")));
		else
			fprintf(stderr, "berth: skipped %s\n",
				json_string_value(json_object_get(e, "error")));
	}
	if (c->json)
		cli_print_json(out);
	berth_netconf_list_free(v, n);
	return 0;
}

static int net_show(struct cli *c, const char *name)
{
	_cleanup_netconf_ struct berth_netconf *net = NULL;
	struct berth_cache_entry *ents = NULL;
	size_t n = 0, bad = 0;
	berth_error err = { 0 };

	if (berth_netconf_find(c->config_dir, name, &net, &err) < 0) {
		/* a network known only from the cache (e.g. podman's) still shows */
		if (berth_cache_list(&c->core, name, NULL, &ents, &n, &bad, NULL) < 0 || n == 0)
			return cli_fail(c, &err);
		if (!ents[0].config ||
		    berth_netconf_parse(ents[0].config, ents[0].config_len, ents[0].path, false,
					&net, &err) < 0) {
			berth_cache_entries_free(ents, n);
			return cli_fail(c, &err);
		}
		berth_cache_entries_free(ents, n);
		ents = NULL;
		n = 0;
	}
	if (berth_cache_list(&c->core, net->name, NULL, &ents, &n, &bad, &err) < 0)
		return cli_fail(c, &err);
	if (c->json) {
		json_t *att = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *a = json_pack("{ssss}", "containerId", ents[i].container_id, "ifName",
					      ents[i].ifname);
			if (ents[i].netns)
				json_object_set_new(a, "netns", json_string(ents[i].netns));
			if (ents[i].result)
				json_object_set(a, "result", ents[i].result);
			if (ents[i].cap_args)
				json_object_set(a, "capabilityArgs", ents[i].cap_args);
			json_array_append_new(att, a);
		}
		json_t *j = json_pack("{sssssssOso}", "name", net->name, "cniVersion",
				      net->cni_version, "source", net->source, "config", net->json,
				      "attachments", att);
		cli_print_json(j);
		json_decref(j);
	} else {
		printf("network %s (cniVersion %s) from %s\n", net->name, net->cni_version,
		       net->source);
		for (size_t i = 0; i < net->n_plugins; i++) {
			json_t *caps = json_object_get(net->plugins[i].conf, "capabilities");
			_cleanup_free_ char *cs = caps ? json_dumps(caps, JSON_COMPACT) : NULL;
			printf("  plugins[%zu] %s%s%s\n", i, net->plugins[i].type,
			       cs ? " capabilities " : "", cs ? cs : "");
		}
		printf("attachments: %zu\n", n);
		for (size_t i = 0; i < n; i++) {
			json_t *ips = json_object_get(ents[i].result, "ips"), *ip;
			size_t k;
			printf("  %s %s", ents[i].container_id, ents[i].ifname);
			json_array_foreach(ips, k, ip)
				printf(" %s", json_string_value(json_object_get(ip, "address")) ?: "");
			printf("%s%s\n", ents[i].netns ? " netns " : "",
			       ents[i].netns ? ents[i].netns : "");
		}
		if (bad)
			printf("  (%zu unreadable cache entr%s skipped)\n", bad, bad == 1 ? "y" : "ies");
	}
	berth_cache_entries_free(ents, n);
	return 0;
}

/* After `nft flush ruleset` or a firewall reload: our nft tables rebuilt from the plugins'
 * state files, in one transaction, and the firewalld zone sources the firewall plugin
 * recorded added again (`firewall-cmd --reload` drops them); the same as `firewall
 * --reapply`. */
static int net_reapply(struct cli *c, const char *name)
{
	berth_error err = { 0 };
	int n = berth_nft_reapply_all(&err), m;

	if (n < 0)
		return cli_fail(c, &err);
	if ((m = berth_firewalld_reapply(&err)) < 0)
		return cli_fail(c, &err);
	if (c->json) {
		printf("{\"elements\":%d,\"firewalldSources\":%d}\n", n, m);
		return 0;
	}
	printf("nftables: table %s rebuilt, %d element%s\n", berth_nft_table(), n,
	       n == 1 ? "" : "s");
	if (m > 0)
		printf("firewalld: %d zone source%s added again\n", m, m == 1 ? "" : "s");
	return 0;
}

/* `berth net SUB [NETWORK]`: what each subcommand needs, and the network it defaults to. */
enum { NEED_CONTAINER = 1, NEED_NETNS = 2, NO_NETWORK = 4, ANY_NETWORK = 8 };
static const struct net_command {
	const char *name;
	int (*run)(struct cli *c, const char *name);
	int flags; /* without NO_NETWORK or ANY_NETWORK, NETWORK defaults to the embedded one */
} net_commands[] = {
	{ "add", net_add, NEED_CONTAINER | NEED_NETNS },
	{ "del", net_del, NEED_CONTAINER },
	{ "check", net_check, NEED_CONTAINER },
	{ "status", net_status, 0 },
	{ "gc", net_gc, ANY_NETWORK },
	{ "ls", net_ls, ANY_NETWORK },
	{ "show", net_show, 0 },
	{ "reapply", net_reapply, NO_NETWORK },
	{ NULL, NULL, 0 },
};

int cli_net(struct cli *c, int argc, char **argv)
{
	const struct net_command *cmd;
	int oi, r;

	r = cli_parse(c, argc, argv, &oi);
	if (r)
		return r == CLI_HELP ? 0 : r;
	if (oi >= argc) {
		fprintf(stderr, "berth net: expected add|del|check|status|gc|ls|show|reapply\n");
		return 2;
	}
	const char *sub = argv[oi];
	const char *name = oi + 1 < argc ? argv[oi + 1] : NULL;
	if (oi + 2 < argc) {
		fprintf(stderr, "berth net %s: unexpected argument \"%s\"\n", sub, argv[oi + 2]);
		return 2;
	}
	for (cmd = net_commands; cmd->name && !STREQ(cmd->name, sub); cmd++)
		;
	if (!cmd->name) {
		fprintf(stderr, "berth net: unknown subcommand \"%s\"\n", sub);
		return 2;
	}
	if ((cmd->flags & NEED_CONTAINER) && !c->container) {
		fprintf(stderr, "berth net %s: --container is required\n", sub);
		return 2;
	}
	if ((cmd->flags & NEED_NETNS) && !c->netns) {
		fprintf(stderr, "berth net %s: --netns is required\n", sub);
		return 2;
	}
	if (!name && !(cmd->flags & (NO_NETWORK | ANY_NETWORK)))
		name = BERTH_DEFAULT_NETWORK;
	return cmd->run(c, name);
}
