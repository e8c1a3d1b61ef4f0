/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vrf: a chained plugin that puts the container interface into a VRF of the container's netns,
 * creating the VRF (bound to `table`, or to the first table no VRF there uses, from 1) when it
 * does not exist, as the reference does: the interface's global IPv6 addresses, which the
 * kernel drops on enslavement unless keep_addr_on_down, are put back, and its routes of the main
 * table with universe scope move into the VRF's table.  DEL releases the interface and deletes
 * the VRF when no interface is left in it.  Beyond the reference: a failed ADD undoes what it
 * did (a VRF it created is deleted again), DEL succeeds without the netns, the interface or
 * `vrfname`, CHECK also verifies the table, and STATUS tries to create a VRF in a throwaway
 * netns (code 50 on a kernel without VRF support).  GC has nothing to collect: the VRF lives in
 * the container's netns and goes with it.
 */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

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
#include "berth/vrf.h"

struct vrf_conf {
	const char *name;
	uint32_t table; /* 0 = any */
};

static int parse_conf(json_t *cfg, struct vrf_conf *c, berth_error *err)
{
	int64_t t = 0;
	int r;

	memset(c, 0, sizeof(*c));
	if ((r = berth_json_get_string(cfg, NULL, "vrfname", false, &c->name, err)) < 0)
		return r;
	if (!c->name || !*c->name)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "configuration is expected to have a valid vrf name");
	if (strlen(c->name) >= IF_NAMESIZE || strchr(c->name, '/') || strchr(c->name, ' ') ||
	    STREQ(c->name, ".") || STREQ(c->name, ".."))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "vrfname \"%s\" is not a valid interface name (at most %d "
				       "characters, no '/' or space)",
				       c->name, IF_NAMESIZE - 1);
	if ((r = berth_json_get_int(cfg, NULL, "table", false, 0, UINT32_MAX, &t, err)) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "table must be a routing table number from 0 (any) to "
				       "4294967295");
	c->table = (uint32_t)t;
	return 0;
}

static uint32_t free_table(const struct berth_vrf *v, size_t n)
{
	for (uint32_t t = 1; t < UINT32_MAX; t++) {
		bool used = false;
		for (size_t i = 0; i < n && !used; i++)
			used = v[i].table == t;
		if (!used)
			return t;
	}
	return 0;
}

struct add_ctx {
	const struct berth_cni_call *call;
	const struct vrf_conf *conf;
};

/* Wait (10 ms, doubling, about 2.5 s in all, as the reference) for the local route the kernel
 * gives a re-added address in the VRF's table. */
static int wait_host_route(struct berth_nl *nl, uint32_t table, const struct berth_ip *ip,
			   int ifindex, const char *ifname, berth_error *err)
{
	for (int i = 0;; i++) {
		int r = berth_vrf_has_host_route(nl, table, ip, ifindex, err);

		if (r != 0)
			return r < 0 ? r : 0;
		if (i == 8) {
			char a[BERTH_IP_STRLEN];
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ETIMEDOUT,
					       "failed getting local/host addresses for %s in table "
					       "%u with dst %s",
					       ifname, table, berth_ip_format(ip, a));
		}
		nanosleep(&(struct timespec){ 0, 10000000L << i }, NULL);
	}
}

static int add_fn(void *userdata, berth_error *err)
{
	struct add_ctx *a = userdata;
	_cleanup_nl_ struct berth_nl *nl = NULL;
	_cleanup_free_ struct berth_addr *before = NULL, *after = NULL;
	_cleanup_free_ struct berth_route *routes = NULL;
	struct berth_vrf vrf;
	struct berth_link l, m;
	size_t nb = 0, na = 0, nr = 0;
	berth_error e = { 0 }, ign = { 0 };
	bool created = false, enslaved = false;
	int r, have;

	if ((r = berth_nl_open(-1, &nl, err)) < 0)
		return r;
	r = have = berth_vrf_get(nl, a->conf->name, &vrf, &e);
	if (r == 0 && !STREQ(vrf.kind, "vrf"))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EEXIST,
				       "Netlink %s is not a VRF (it is a %s link)", a->conf->name,
				       vrf.kind[0] ? vrf.kind : "plain");
	if (r == 0 && a->conf->table && vrf.table != a->conf->table)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EEXIST,
				       "VRF %s already exist with different routing table %u",
				       a->conf->name, vrf.table);
	if (r < 0 && r != -ENODEV) {
		*err = e;
		return r;
	}
	/* the interface first: nothing is created for an interface that is not there */
	if ((r = berth_link_get_by_name(nl, a->call->ifname, &l, err)) < 0)
		return berth_error_prefix(err, "could not get link by name %s", a->call->ifname);
	if (l.master) {
		if (berth_link_get_by_index(nl, l.master, &m, &ign) < 0)
			snprintf(m.name, sizeof(m.name), "%d", l.master);
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EBUSY,
				       "interface %s has already a master set: %s", a->call->ifname,
				       m.name);
	}
	if (have == -ENODEV) {
		_cleanup_free_ struct berth_vrf *all = NULL;
		size_t n = 0;
		uint32_t table = a->conf->table;

		if (!table) {
			if ((r = berth_vrf_list(nl, &all, &n, err)) < 0)
				return r;
			table = free_table(all, n);
		}
		if ((r = berth_vrf_add(nl, a->conf->name, table, err)) < 0)
			return r;
		created = true;
		BERTH_FAULT_POINT("vrf-after-create");
		if ((r = berth_vrf_get(nl, a->conf->name, &vrf, err)) < 0)
			goto undo;
	}

	/* what enslaving takes away: global IPv6 addresses and the routes through the interface */
	if ((r = berth_addr_list(nl, l.ifindex, AF_INET6, &before, &nb, err)) < 0 ||
	    (r = berth_route_list(nl, 0, 0, &routes, &nr, err)) < 0)
		goto undo;
	if ((r = berth_link_set_master(nl, l.ifindex, vrf.ifindex, err)) < 0) {
		berth_error_prefix(err, "could not set vrf %s as master of %s", a->conf->name,
				   a->call->ifname);
		goto undo;
	}
	enslaved = true;
	BERTH_FAULT_POINT("vrf-after-enslave");
	if ((r = berth_addr_list(nl, l.ifindex, AF_INET6, &after, &na, err)) < 0)
		goto undo;
	for (size_t i = 0; i < nb; i++) {
		bool kept = before[i].scope != RT_SCOPE_UNIVERSE;
		char s[BERTH_IPNET_STRLEN];

		for (size_t j = 0; j < na && !kept; j++)
			kept = berth_ipnet_equal(&before[i].addr, &after[j].addr);
		if (kept)
			continue;
		r = berth_addr_add(nl, l.ifindex, &before[i].addr, before[i].flags & IFA_F_NODAD, err);
		if (r < 0 && r != -EEXIST) {
			berth_error_prefix(err, "could not restore address %s to %s @ %s",
					   berth_ipnet_format(&before[i].addr, s), a->call->ifname,
					   a->conf->name);
			goto undo;
		}
		if ((r = wait_host_route(nl, vrf.table, &before[i].addr.ip, l.ifindex,
					    a->call->ifname, err)) < 0)
			goto undo;
	}
	for (size_t i = 0; i < nr; i++) {
		struct berth_route rt = routes[i];
		char d[BERTH_IPNET_STRLEN];

		if (rt.ifindex != l.ifindex || rt.scope != RT_SCOPE_UNIVERSE)
			continue;
		rt.table = (int)vrf.table;
		if ((r = berth_route_add(nl, &rt, true, err)) < 0) {
			berth_error_prefix(err, "could not add route '%s'",
					   berth_ipnet_format(&rt.dst, d));
			goto undo;
		}
	}
	BERTH_FAULT_POINT("vrf-after-routes");
	return 0;

undo:
	if (created) {
		/* deleting the VRF releases the interface */
		(void)berth_link_del(nl, vrf.ifindex, &ign);
	} else if (enslaved) {
		(void)berth_link_set_master(nl, l.ifindex, 0, &ign);
	}
	if (enslaved) {
		for (size_t i = 0; i < nb; i++)
			if (before[i].scope == RT_SCOPE_UNIVERSE)
				(void)berth_addr_add(nl, l.ifindex, &before[i].addr,
						     before[i].flags & IFA_F_NODAD, &ign);
		for (size_t i = 0; i < nr; i++)
			if (routes[i].ifindex == l.ifindex && routes[i].scope == RT_SCOPE_UNIVERSE)
				(void)berth_route_add(nl, &routes[i], true, &ign);
	}
	return r;
}

static int cmd_add(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	_cleanup_close_ int nsfd = -1;
	struct vrf_conf c;
	struct add_ctx a = { .call = call, .conf = &c };
	int r;

	if ((r = parse_conf(call->config, &c, err)) < 0)
		return r;
	if (!call->prev_result)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "missing prevResult from earlier plugin");
	if ((r = berth_netns_open(call->netns, &nsfd, err)) < 0 ||
	    (r = berth_netns_run(nsfd, add_fn, &a, err)) < 0)
		return berth_error_prefix(err, "cmdAdd failed");
	if (!(*ret = berth_cni_result_copy(call->prev_result)))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	return 0;
}

static int del_fn(void *userdata, berth_error *err)
{
	struct add_ctx *a = userdata;
	_cleanup_nl_ struct berth_nl *nl = NULL;
	_cleanup_free_ struct berth_link *links = NULL;
	struct berth_vrf vrf;
	struct berth_link l;
	berth_error e = { 0 };
	size_t n = 0, users = 0;
	int r;

	if ((r = berth_nl_open(-1, &nl, err)) < 0)
		return r;
	r = berth_vrf_get(nl, a->conf->name, &vrf, &e);
	if (r == -ENODEV || (r == 0 && !STREQ(vrf.kind, "vrf")))
		return 0;
	if (r < 0) {
		*err = e;
		return r;
	}
	r = berth_link_get_by_name(nl, a->call->ifname, &l, &e);
	if (r == 0 && l.master == vrf.ifindex) {
		if ((r = berth_link_set_master(nl, l.ifindex, 0, err)) < 0)
			return berth_error_prefix(err, "resetMaster: could not reset master of %s",
						  a->call->ifname);
		BERTH_FAULT_POINT("vrf-del-after-release");
	} else if (r < 0 && r != -ENODEV) {
		*err = e;
		return r;
	}
	if ((r = berth_link_list(nl, &links, &n, err)) < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		users += links[i].master == vrf.ifindex;
	if (users)
		return 0;
	r = berth_link_del(nl, vrf.ifindex, err);
	return r == -ENODEV ? 0 : r;
}

static int cmd_del(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	_cleanup_close_ int nsfd = -1;
	struct vrf_conf c;
	struct add_ctx a = { .call = call, .conf = &c };
	berth_error e = { 0 };

	/* without a VRF name there is nothing ADD can have made; without the netns the VRF went
	 * with it */
	if (parse_conf(call->config, &c, &e) < 0) {
		if (!c.name || !*c.name || strlen(c.name) >= IF_NAMESIZE)
			return 0;
		berth_log_warn("ignoring config error on DEL: %s", e.msg);
	}
	if (!call->netns || call->netns_gone || berth_netns_open(call->netns, &nsfd, &e) < 0)
		return 0;
	return berth_netns_run(nsfd, del_fn, &a, err);
}

static int check_fn(void *userdata, berth_error *err)
{
	struct add_ctx *a = userdata;
	_cleanup_nl_ struct berth_nl *nl = NULL;
	struct berth_vrf vrf;
	struct berth_link l;
	int r;

	if ((r = berth_nl_open(-1, &nl, err)) < 0)
		return r;
	if ((r = berth_vrf_get(nl, a->conf->name, &vrf, err)) < 0)
		return r;
	if (!STREQ(vrf.kind, "vrf"))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL, "Netlink %s is not a VRF",
				       a->conf->name);
	if (a->conf->table && vrf.table != a->conf->table)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL,
				       "VRF %s uses routing table %u, the config %u", a->conf->name,
				       vrf.table, a->conf->table);
	if (berth_link_get_by_name(nl, a->call->ifname, &l, err) < 0 || l.master != vrf.ifindex)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT,
				       "failed to find %s associated to vrf %s", a->call->ifname,
				       a->conf->name);
	return 0;
}

static int cmd_check(const struct berth_cni_call *call, struct berth_cni_result **ret,
		     berth_error *err)
{
	_cleanup_close_ int nsfd = -1;
	struct vrf_conf c;
	struct add_ctx a = { .call = call, .conf = &c };
	int r;

	if ((r = parse_conf(call->config, &c, err)) < 0)
		return r;
	if (!call->prev_result)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "missing prevResult from earlier plugin");
	if ((r = berth_netns_open(call->netns, &nsfd, err)) < 0)
		return r;
	return berth_netns_run(nsfd, check_fn, &a, err);
}

static int cmd_status(const struct berth_cni_call *call, struct berth_cni_result **ret,
		      berth_error *err)
{
	struct vrf_conf c;
	int r;

	if ((r = parse_conf(call->config, &c, err)) < 0)
		return r;
	if ((r = berth_vrf_probe(err)) < 0) {
		berth_error_prefix(err, "this kernel cannot create a VRF");
		err->code = BERTH_CNI_ERR_STATUS_NOT_READY;
	}
	return r;
}

int main(int argc, char **argv)
{
	static const struct berth_cni_plugin plugin = {
		.name = "vrf",
		.add = cmd_add,
		.del = cmd_del,
		.check = cmd_check,
		.status = cmd_status,
	};
	return berth_plugin_main(&plugin, argc, argv);
}
