/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sbr (source-based routing): a chained plugin that gives each address of the container
 * interface, from prevResult, a routing table of its own and a rule "from ADDR lookup TABLE",
 * so that replies leave through the interface the traffic came in on.  The reference's config
 * and behaviour:
 *   - without `table`: for each address, the first table from 100 up that no rule (and, beyond
 *     the reference, no route) uses; a default route there via the address's gateway (or the
 *     `gateways` entry of its family); the interface's routes of the main table are copied into
 *     it when they belong to the address (prefsrc or gateway inside its subnet) or to nobody
 *     (no prefsrc, no gateway); then the interface's main-table routes are deleted, or with
 *     `addSourceHints` the subnet routes are kept (re-added with the address as prefsrc) and
 *     only the others deleted;
 *   - with `table`: only the rules, to that table, which the admin fills.
 * Beyond the reference: a failed ADD undoes its rules and routes, DEL works after the netns is
 * gone and without the interface (the rules are then found by prevResult's addresses), CHECK
 * verifies the rules and default routes, STATUS checks that the kernel has policy routing.
 */
#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>

#include "berth/addr.h"
#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/fault.h"
#include "berth/json.h"
#include "berth/link.h"
#include "berth/log.h"
#include "berth/netns.h"
#include "berth/nl.h"
#include "berth/cni-skel.h"
#include "berth/route.h"
#include "berth/rule.h"

#define FIRST_TABLE 100

struct sbr_conf {
	bool has_table;
	int table;
	struct berth_ip gw4, gw6; /* `gateways`, family 0 = none */
	bool source_hints;
};

static int parse_conf(json_t *cfg, struct sbr_conf *c, berth_error *err)
{
	json_t *gws = NULL, *v;
	int64_t t = 0;
	size_t i;
	int r;

	memset(c, 0, sizeof(*c));
	if (json_object_get(cfg, "table") && !json_is_null(json_object_get(cfg, "table"))) {
		if ((r = berth_json_get_int(cfg, NULL, "table", true, 1, UINT32_MAX, &t, err)) < 0)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "table must be a routing table number from 1 to "
					       "4294967295");
		c->has_table = true;
		c->table = (int)(uint32_t)t;
	}
	if ((r = berth_json_get_bool(cfg, NULL, "addSourceHints", false, &c->source_hints, err)) < 0 ||
	    (r = berth_json_get_array(cfg, NULL, "gateways", false, &gws, err)) < 0)
		return r;
	if (gws && json_array_size(gws) > 2)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "gateways list cannot contain more than 2 entries (one IPv4, "
				       "one IPv6)");
	json_array_foreach(gws, i, v) {
		struct berth_ip ip, *slot;
		char a[BERTH_IP_STRLEN];

		if (!json_is_string(v) || berth_ip_parse(json_string_value(v), &ip) < 0)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "invalid static gateway IP address: %s",
					       json_is_string(v) ? json_string_value(v) : "(not a string)");
		slot = ip.family == AF_INET ? &c->gw4 : &c->gw6;
		if (slot->family)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "gateways list contains multiple IPv%d addresses: %s "
					       "and %s",
					       ip.family == AF_INET ? 4 : 6, berth_ip_format(slot, a),
					       json_string_value(v));
		*slot = ip;
	}
	return 0;
}

/* The addresses of prevResult that belong to ifname: those of an interface of that name, and
 * those that name no interface. */
static int ipcfgs(const struct berth_cni_result *prev, const char *ifname,
		  const struct berth_cni_ipconfig ***ret, size_t *ret_n, berth_error *err)
{
	const struct berth_cni_ipconfig **v;
	size_t n = 0;

	if (prev->n_ips == 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "No IP addresses supplied on interface: %s", ifname);
	if (!(v = calloc(prev->n_ips, sizeof(*v))))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	for (size_t i = 0; i < prev->n_ips; i++) {
		int idx = prev->ips[i].interface;

		if (idx >= 0 && (size_t)idx < prev->n_interfaces && prev->interfaces[idx].name &&
		    !STREQ(prev->interfaces[idx].name, ifname))
			continue;
		v[n++] = &prev->ips[i];
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static struct berth_ipnet host_net(const struct berth_ip *ip)
{
	return (struct berth_ipnet){ .ip = *ip, .prefix = ip->family == AF_INET ? 32 : 128 };
}

/* What ADD did, to undo it in reverse. */
enum op_kind { OP_RULE, OP_ROUTE_ADDED, OP_ROUTE_DELETED };
struct op {
	enum op_kind kind;
	struct berth_rule rule;
	struct berth_route route;
	bool replaced; /* OP_ROUTE_ADDED: a replace, whose previous state is not known */
};
struct ops {
	struct op *v;
	size_t n, cap;
};

static int ops_push(struct ops *o, const struct op *op, berth_error *err)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		struct op *v = realloc(o->v, cap * sizeof(*v));

		if (!v)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
		o->v = v;
		o->cap = cap;
	}
	o->v[o->n++] = *op;
	return 0;
}

static void ops_undo(struct berth_nl *nl, struct ops *o)
{
	berth_error ign = { 0 };

	for (size_t i = o->n; i-- > 0;) {
		struct op *op = &o->v[i];

		switch (op->kind) {
		case OP_RULE:
			(void)berth_rule_del(nl, &op->rule, &ign);
			break;
		case OP_ROUTE_ADDED:
			if (op->route.table != RT_TABLE_MAIN || !op->replaced)
				(void)berth_route_del(nl, &op->route, &ign);
			break;
		case OP_ROUTE_DELETED:
			(void)berth_route_add(nl, &op->route, true, &ign);
			break;
		}
	}
}

static int add_rule(struct berth_nl *nl, const struct berth_ip *ip, int table, struct ops *o,
		    berth_error *err)
{
	struct op op = { .kind = OP_RULE };
	int r;

	berth_rule_init(&op.rule, ip->family);
	op.rule.src = host_net(ip);
	op.rule.table = table;
	if ((r = berth_rule_add(nl, &op.rule, err)) < 0)
		return r;
	return ops_push(o, &op, err);
}

static bool table_used(const struct berth_rule *rules, size_t nr, const struct berth_route *routes,
		       size_t nrt, int table)
{
	for (size_t i = 0; i < nr; i++)
		if (rules[i].table == table)
			return true;
	for (size_t i = 0; i < nrt; i++)
		if (routes[i].table == table)
			return true;
	return false;
}

static int next_table(const struct berth_rule *rules, size_t nr, const struct berth_route *routes,
		      size_t nrt, int from)
{
	int t = from;

	while (table_used(rules, nr, routes, nrt, t))
		t++;
	return t;
}

static bool contains(const struct berth_ipnet *net, const struct berth_ip *ip)
{
	return ip->family && ip->family == net->ip.family && berth_ipnet_contains(net, ip);
}

struct add_ctx {
	const struct berth_cni_call *call;
	const struct sbr_conf *conf;
	const struct berth_cni_ipconfig **ips;
	size_t n_ips;
	struct ops ops;
};

static int do_routes(struct berth_nl *nl, struct add_ctx *a, berth_error *err)
{
	_cleanup_free_ struct berth_rule *rules = NULL;
	_cleanup_free_ struct berth_route *all = NULL, *main_rt = NULL;
	size_t nr = 0, nall = 0, nmain = 0, nlink = 0;
	struct berth_link l;
	int r, table;

	if ((r = berth_rule_list(nl, 0, &rules, &nr, err)) < 0 ||
	    (r = berth_route_list(nl, 0, -1, &all, &nall, err)) < 0)
		return r;
	table = next_table(rules, nr, all, nall, FIRST_TABLE);
	if ((r = berth_link_get_by_name(nl, a->call->ifname, &l, err)) < 0)
		return berth_error_prefix(err, "Cannot find network interface %s", a->call->ifname);
	if ((r = berth_route_list(nl, 0, 0, &main_rt, &nmain, err)) < 0)
		return r;
	/* the interface's routes in the main table */
	for (size_t i = 0; i < nmain; i++)
		if (main_rt[i].ifindex == l.ifindex)
			main_rt[nlink++] = main_rt[i];

	for (size_t k = 0; k < a->n_ips; k++) {
		const struct berth_cni_ipconfig *ipc = a->ips[k];
		const struct berth_ip *ip = &ipc->address.ip;
		const struct berth_ip *gw = ip->family == AF_INET && a->conf->gw4.family ? &a->conf->gw4 :
					    ip->family == AF_INET6 && a->conf->gw6.family ? &a->conf->gw6 :
					    ipc->gateway.family			 ? &ipc->gateway :
										   NULL;

		if ((r = add_rule(nl, ip, table, &a->ops, err)) < 0)
			return r;
		BERTH_FAULT_POINT("sbr-after-rule");
		if (gw) {
			struct op op = { .kind = OP_ROUTE_ADDED };

			berth_route_init(&op.route);
			op.route.dst.ip.family = ip->family;
			op.route.gw = *gw;
			op.route.ifindex = l.ifindex;
			op.route.table = table;
			if ((r = berth_route_add(nl, &op.route, false, err)) < 0) {
				char g[BERTH_IP_STRLEN];
				return berth_error_prefix(err, "Failed to add default route to %s",
							  berth_ip_format(gw, g));
			}
			if ((r = ops_push(&a->ops, &op, err)) < 0)
				return r;
		}
		bool static_gw = gw && gw != &ipc->gateway;
		for (size_t i = 0; i < nlink; i++) {
			struct op op = { .kind = OP_ROUTE_ADDED, .replaced = true };

			/* the reference's copy would replace a static gateway's default route */
			if (static_gw && main_rt[i].dst.prefix == 0 &&
			    main_rt[i].dst.ip.family == ip->family)
				continue;
			if (!contains(&ipc->address, &main_rt[i].prefsrc) &&
			    !contains(&ipc->address, &main_rt[i].gw) &&
			    (main_rt[i].prefsrc.family || main_rt[i].gw.family))
				continue;
			op.route = main_rt[i];
			op.route.table = table;
			if ((r = berth_route_add(nl, &op.route, true, err)) < 0)
				return berth_error_prefix(err, "Failed to readd route");
			if ((r = ops_push(&a->ops, &op, err)) < 0)
				return r;
		}
		BERTH_FAULT_POINT("sbr-after-table");
		table = next_table(rules, nr, all, nall, table + 1);
	}

	if (a->conf->source_hints) {
		for (size_t k = 0; k < a->n_ips; k++) {
			struct op op = { .kind = OP_ROUTE_ADDED, .replaced = true };
			berth_error e = { 0 };

			berth_route_init(&op.route);
			op.route.dst = berth_ipnet_network(&a->ips[k]->address);
			op.route.prefsrc = a->ips[k]->address.ip;
			op.route.ifindex = l.ifindex;
			op.route.scope = RT_SCOPE_LINK;
			if (berth_route_add(nl, &op.route, true, &e) < 0)
				berth_log_warn("failed to add the subnet route with a source hint: %s",
					       e.msg);
		}
	}
	for (size_t i = 0; i < nlink; i++) {
		struct op op = { .kind = OP_ROUTE_DELETED, .route = main_rt[i] };
		berth_error e = { 0 };

		if (a->conf->source_hints && main_rt[i].scope == RT_SCOPE_LINK)
			continue;
		if ((r = berth_route_del(nl, &main_rt[i], &e)) < 0) {
			if (a->conf->source_hints) {
				berth_log_warn("failed to delete a route: %s", e.msg);
				continue;
			}
			*err = e;
			return berth_error_prefix(err, "Failed to delete route");
		}
		if ((r = ops_push(&a->ops, &op, err)) < 0)
			return r;
	}
	return 0;
}

static int add_fn(void *userdata, berth_error *err)
{
	struct add_ctx *a = userdata;
	_cleanup_nl_ struct berth_nl *nl = NULL;
	int r;

	if ((r = berth_nl_open(-1, &nl, err)) < 0)
		return r;
	if (a->conf->has_table) {
		for (size_t k = 0; k < a->n_ips && r >= 0; k++)
			r = add_rule(nl, &a->ips[k]->address.ip, a->conf->table, &a->ops, err);
	} else {
		r = do_routes(nl, a, err);
	}
	if (r < 0)
		ops_undo(nl, &a->ops);
	return r;
}

/* The netns fd, flock()ed as the reference locks the netns path, so that two sbr calls on one
 * container (two interfaces) pick their tables one after the other. */
static int open_locked(const char *path, int *ret, berth_error *err)
{
	int r = berth_netns_open(path, ret, err);

	if (r < 0)
		return r;
	while (flock(*ret, LOCK_EX) < 0)
		if (errno != EINTR)
			return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "failed to lock %s", path);
	return 0;
}

static int cmd_add(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	_cleanup_free_ const struct berth_cni_ipconfig **ips = NULL;
	_cleanup_close_ int nsfd = -1;
	struct sbr_conf c;
	struct add_ctx a = { .call = call, .conf = &c };
	size_t n = 0;
	int r;

	if ((r = parse_conf(call->config, &c, err)) < 0)
		return r;
	if (!call->prev_result)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "This plugin must be called as chained plugin");
	if ((r = ipcfgs(call->prev_result, call->ifname, &ips, &n, err)) < 0)
		return r;
	a.ips = ips;
	a.n_ips = n;
	if ((r = open_locked(call->netns, &nsfd, err)) < 0)
		return r;
	r = berth_netns_run(nsfd, add_fn, &a, err);
	free(a.ops.v);
	if (r < 0)
		return r;
	if (!(*ret = berth_cni_result_copy(call->prev_result)))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	return 0;
}

struct del_ctx {
	const struct berth_cni_call *call;
	const struct sbr_conf *conf;
};

/* The rules "from ADDR" of the interface's addresses (or, without the interface, of
 * prevResult's), to any table or to the configured one. */
static int del_fn(void *userdata, berth_error *err)
{
	struct del_ctx *d = userdata;
	_cleanup_nl_ struct berth_nl *nl = NULL;
	_cleanup_free_ struct berth_rule *rules = NULL;
	_cleanup_free_ struct berth_addr *addrs = NULL;
	_cleanup_free_ struct berth_ip *ips = NULL;
	size_t nr = 0, na = 0, nips = 0;
	struct berth_link l;
	berth_error e = { 0 }, last = { 0 };
	int r, failed = 0;

	if ((r = berth_nl_open(-1, &nl, err)) < 0 || (r = berth_rule_list(nl, 0, &rules, &nr, err)) < 0)
		return r;
	r = berth_link_get_by_name(nl, d->call->ifname, &l, &e);
	if (r == 0) {
		if ((r = berth_addr_list(nl, l.ifindex, 0, &addrs, &na, err)) < 0)
			return r;
		if (!(ips = calloc(na + 1, sizeof(*ips))))
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
		for (size_t i = 0; i < na; i++)
			ips[nips++] = addrs[i].addr.ip;
	} else if (r == -ENODEV) {
		const struct berth_cni_result *prev = d->call->prev_result;
		_cleanup_free_ const struct berth_cni_ipconfig **cfgs = NULL;
		size_t n = 0;

		if (!prev || !prev->n_ips || ipcfgs(prev, d->call->ifname, &cfgs, &n, &e) < 0)
			return 0;
		if (!(ips = calloc(n + 1, sizeof(*ips))))
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
		for (size_t i = 0; i < n; i++)
			ips[nips++] = cfgs[i]->address.ip;
	} else {
		*err = e;
		return r;
	}
	for (size_t i = 0; i < nr; i++) {
		const struct berth_rule *ru = &rules[i];
		bool mine = false;

		if (!ru->src.ip.family || ru->src.prefix != (ru->family == AF_INET ? 32 : 128))
			continue;
		if (d->conf->has_table && ru->table != d->conf->table)
			continue;
		for (size_t k = 0; k < nips && !mine; k++)
			mine = berth_ip_equal(&ru->src.ip, &ips[k]);
		if (!mine)
			continue;
		if (berth_rule_del(nl, ru, &e) < 0 && e.errnum != ENOENT) {
			last = e;
			failed = 1;
		}
		BERTH_FAULT_POINT("sbr-del-after-rule");
	}
	if (failed) {
		*err = last;
		return -(last.errnum ? last.errnum : EIO);
	}
	return 0;
}

static int cmd_del(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	_cleanup_close_ int nsfd = -1;
	struct sbr_conf c;
	struct del_ctx d = { .call = call, .conf = &c };
	berth_error e = { 0 };

	/* only `table` matters here; a config ADD refused still deletes */
	if (parse_conf(call->config, &c, &e) < 0) {
		berth_log_warn("ignoring config error on DEL: %s", e.msg);
		memset(&c, 0, sizeof(c));
	}
	if (!call->netns || call->netns_gone || open_locked(call->netns, &nsfd, &e) < 0)
		return 0; /* the rules went with the netns */
	return berth_netns_run(nsfd, del_fn, &d, err);
}

struct check_ctx {
	const struct berth_cni_call *call;
	const struct sbr_conf *conf;
	const struct berth_cni_ipconfig **ips;
	size_t n_ips;
};

static int check_fn(void *userdata, berth_error *err)
{
	struct check_ctx *c = userdata;
	_cleanup_nl_ struct berth_nl *nl = NULL;
	_cleanup_free_ struct berth_rule *rules = NULL;
	_cleanup_free_ struct berth_route *routes = NULL;
	size_t nr = 0, nrt = 0;
	struct berth_link l;
	int r;

	if ((r = berth_nl_open(-1, &nl, err)) < 0 || (r = berth_rule_list(nl, 0, &rules, &nr, err)) < 0 ||
	    (r = berth_route_list(nl, 0, -1, &routes, &nrt, err)) < 0)
		return r;
	if ((r = berth_link_get_by_name(nl, c->call->ifname, &l, err)) < 0)
		return r;
	for (size_t k = 0; k < c->n_ips; k++) {
		const struct berth_cni_ipconfig *ipc = c->ips[k];
		const struct berth_ip *gw = ipc->address.ip.family == AF_INET && c->conf->gw4.family ?
						    &c->conf->gw4 :
					    ipc->address.ip.family == AF_INET6 && c->conf->gw6.family ?
						    &c->conf->gw6 :
					    ipc->gateway.family ? &ipc->gateway :
								  NULL;
		const struct berth_rule *ru = NULL;
		char a[BERTH_IP_STRLEN];

		for (size_t i = 0; i < nr && !ru; i++)
			if (rules[i].src.ip.family &&
			    berth_ip_equal(&rules[i].src.ip, &ipc->address.ip) &&
			    rules[i].src.prefix == (rules[i].family == AF_INET ? 32 : 128) &&
			    (!c->conf->has_table || rules[i].table == c->conf->table))
				ru = &rules[i];
		if (!ru)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT,
					       "no rule from %s%s", berth_ip_format(&ipc->address.ip, a),
					       c->conf->has_table ? " to the configured table" : "");
		if (c->conf->has_table || !gw)
			continue;
		bool found = false;
		for (size_t i = 0; i < nrt && !found; i++)
			found = routes[i].table == ru->table && routes[i].dst.prefix == 0 &&
				routes[i].dst.ip.family == gw->family &&
				berth_ip_equal(&routes[i].gw, gw) && routes[i].ifindex == l.ifindex;
		if (!found)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT,
					       "table %d of %s has no default route via %s on %s",
					       ru->table, berth_ip_format(&ipc->address.ip, a),
					       berth_ip_format(gw, (char[BERTH_IP_STRLEN]){ 0 }),
					       c->call->ifname);
	}
	return 0;
}

static int cmd_check(const struct berth_cni_call *call, struct berth_cni_result **ret,
		     berth_error *err)
{
	_cleanup_free_ const struct berth_cni_ipconfig **ips = NULL;
	_cleanup_close_ int nsfd = -1;
	struct sbr_conf c;
	struct check_ctx k = { .call = call, .conf = &c };
	int r;

	if ((r = parse_conf(call->config, &c, err)) < 0)
		return r;
	if (!call->prev_result)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "This plugin must be called as chained plugin");
	if ((r = ipcfgs(call->prev_result, call->ifname, &ips, &k.n_ips, err)) < 0)
		return r;
	k.ips = ips;
	if ((r = berth_netns_open(call->netns, &nsfd, err)) < 0)
		return r;
	return berth_netns_run(nsfd, check_fn, &k, err);
}

static int cmd_status(const struct berth_cni_call *call, struct berth_cni_result **ret,
		      berth_error *err)
{
	_cleanup_nl_ struct berth_nl *nl = NULL;
	_cleanup_free_ struct berth_rule *rules = NULL;
	struct sbr_conf c;
	size_t n = 0;
	int r;

	if ((r = parse_conf(call->config, &c, err)) < 0)
		return r;
	/* a kernel without policy routing (IP_MULTIPLE_TABLES) has no rules to list */
	if ((r = berth_nl_open(-1, &nl, err)) < 0 || (r = berth_rule_list(nl, AF_INET, &rules, &n, err)) < 0) {
		berth_error_prefix(err, "this kernel has no policy routing");
		err->code = BERTH_CNI_ERR_STATUS_NOT_READY;
		return r;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct berth_cni_plugin plugin = {
		.name = "sbr",
		.add = cmd_add,
		.del = cmd_del,
		.check = cmd_check,
		.status = cmd_status,
		/* GC: every rule and table lives in the container's netns and goes with it */
	};
	return berth_plugin_main(&plugin, argc, argv);
}
