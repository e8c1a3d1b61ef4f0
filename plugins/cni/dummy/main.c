/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dummy: a dummy link named CNI_IFNAME, created directly in the container's netns, with the
 * addresses and routes of its IPAM (required, as in the reference plugins/main/dummy).  Beyond
 * the reference: a failed ADD undoes what it did (the IPAM's reservation, the link) and never
 * touches a link of that name that was there before; DEL succeeds without the netns, the link
 * or an IPAM section, and deletes only a dummy link; STATUS also checks that this kernel can
 * create a dummy link (code 50 when it cannot); GC runs the IPAM's GC.  IPv6 DAD is off (the
 * addresses are unique by IPAM), so no wait for it.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "berth/addr.h"
#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/cni-skel.h"
#include "berth/cniargs.h"
#include "berth/dummy.h"
#include "berth/fault.h"
#include "berth/ipam.h"
#include "berth/json.h"
#include "berth/link.h"
#include "berth/log.h"
#include "berth/netns.h"
#include "berth/nl.h"
#include "berth/route.h"
#include "berth/sysctl.h"

#define check_fail(err, ...) berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT, __VA_ARGS__)

struct dummy_conf {
	const char *ipam_type; /* NULL when there is no ipam.type */
};

static int oom(berth_error *err)
{
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
}

/* need_ipam: ADD and CHECK refuse a config without ipam.type, as the reference does. */
static int parse_conf(json_t *cfg, bool need_ipam, struct dummy_conf *c, berth_error *err)
{
	json_t *ipam = NULL;
	int r;

	memset(c, 0, sizeof(*c));
	if ((r = berth_json_get_object(cfg, NULL, "ipam", false, &ipam, err)) < 0)
		return r;
	if (ipam && (r = berth_json_get_string(ipam, "ipam", "type", false, &c->ipam_type, err)) < 0)
		return r;
	if (c->ipam_type && !*c->ipam_type)
		c->ipam_type = NULL;
	if (need_ipam && !c->ipam_type)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "dummy interface requires an IPAM configuration");
	return 0;
}

/* ---- ADD -------------------------------------------------------------------------------- */

/* What the reference's ipam.ConfigureIface does: IPv6 enabled on lo and the link when an IPv6
 * address comes (with keep_addr_on_down), the addresses, the link up, the routes (through the
 * first gateway of their family when they name none). */
static int configure(int nsfd, struct berth_nl *nl, const char *ifname, int ifindex,
		     const struct berth_cni_result *res, berth_error *err)
{
	berth_error ign = { 0 };
	char key[96], v[16];
	bool v6 = false;
	size_t failed;
	int r;

	for (size_t i = 0; i < res->n_ips; i++)
		v6 |= res->ips[i].address.ip.family == AF_INET6;
	if (v6) {
		snprintf(key, sizeof(key), "net/ipv6/conf/%s/accept_dad", ifname);
		(void)berth_sysctl_write_in(nsfd, key, "0", &ign);
		for (int i = 0; i < 2; i++) {
			const char *ifn = i == 0 ? "lo" : ifname;

			snprintf(key, sizeof(key), "net/ipv6/conf/%s/disable_ipv6", ifn);
			if (berth_sysctl_read_in(nsfd, key, v, sizeof(v), &ign) < 0 || STREQ(v, "0"))
				continue;
			if ((r = berth_sysctl_write_in(nsfd, key, "0", err)) < 0)
				return berth_error_prefix(err, "failed to enable IPv6 for interface "
							  "\"%s\"", ifn);
		}
		snprintf(key, sizeof(key), "net/ipv6/conf/%s/keep_addr_on_down", ifname);
		if ((r = berth_sysctl_write_in(nsfd, key, "1", err)) < 0)
			return berth_error_prefix(err, "failed to enable keep_addr_on_down for "
						  "interface \"%s\"", ifname);
	}
	for (size_t i = 0; i < res->n_ips; i++) {
		char s[BERTH_IPNET_STRLEN];

		if ((r = berth_addr_add(nl, ifindex, &res->ips[i].address, IFA_F_NODAD, err)) < 0)
			return berth_error_prefix(err, "failed to add IP addr %s to \"%s\"",
						  berth_ipnet_format(&res->ips[i].address, s), ifname);
	}
	if ((r = berth_link_set_up(nl, ifindex, true, err)) < 0)
		return berth_error_prefix(err, "failed to set \"%s\" UP", ifname);
	if ((r = berth_route_add_cni(nl, ifindex, res, -1, &failed, err)) < 0)
		return berth_error_prefix(err, "failed to add route '%s' dev %s",
					  berth_ipnet_format(&res->routes[failed].dst,
							     (char[BERTH_IPNET_STRLEN]){ 0 }), ifname);
	return 0;
}

static int cmd_add(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	_cleanup_cni_result_ struct berth_cni_result *res = NULL, *ipam = NULL;
	_cleanup_nl_ struct berth_nl *cont = NULL;
	_cleanup_close_ int nsfd = -1;
	struct dummy_conf c;
	struct berth_link l = { 0 };
	berth_error ign = { 0 };
	char mac[BERTH_MAC_STRLEN] = "";
	int r;

	if ((r = parse_conf(call->config, true, &c, err)) < 0)
		return r;
	if ((r = berth_netns_open(call->netns, &nsfd, err)) < 0)
		return berth_error_prefix(err, "failed to open netns \"%s\"", call->netns);
	if ((r = berth_nl_open(nsfd, &cont, err)) < 0)
		return r;
	/* created in the container's netns directly: a host link of the same name is no clash */
	if ((r = berth_dummy_add(cont, call->ifname, err)) < 0)
		return r;
	BERTH_FAULT_POINT("dummy-after-link");
	if ((r = berth_link_get_by_name(cont, call->ifname, &l, err)) < 0) {
		berth_error_prefix(err, "failed to fetch dummy \"%s\"", call->ifname);
		goto undo_link;
	}
	if (l.mac_len == 6)
		berth_mac_format(l.mac, mac);
	if (!(res = berth_cni_result_new(call->version)) ||
	    berth_cni_result_add_interface(res, call->ifname, mac, call->netns) < 0) {
		r = oom(err);
		goto undo_link;
	}
	if ((r = berth_cni_delegate(call, c.ipam_type, "ADD", &ipam, err)) < 0)
		goto undo_link;
	BERTH_FAULT_POINT("dummy-after-ipam");
	if ((r = berth_cni_result_add_ipam(res, ipam, err)) < 0)
		goto undo_ipam;
	/* the DNS of the IPAM result, moved over */
	res->dns = ipam->dns;
	memset(&ipam->dns, 0, sizeof(ipam->dns));
	if ((r = configure(nsfd, cont, call->ifname, l.ifindex, res, err)) < 0)
		goto undo_ipam;
	BERTH_FAULT_POINT("dummy-before-result");
	*ret = TAKE_PTR(res);
	return 0;

undo_ipam:
	berth_cni_delegate_undo(call, c.ipam_type);
undo_link:
	/* the name is ours: the exclusive create above succeeded */
	if (l.ifindex || berth_link_get_by_name(cont, call->ifname, &l, &ign) == 0)
		(void)berth_link_del(cont, l.ifindex, &ign);
	return r;
}

/* ---- DEL -------------------------------------------------------------------------------- */

static int cmd_del(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	_cleanup_nl_ struct berth_nl *cont = NULL;
	_cleanup_close_ int nsfd = -1;
	struct dummy_conf c;
	struct berth_link l;
	berth_error e = { 0 };
	int r = 0, rl;

	/* a config whose ipam is unusable has no IPAM that ADD can have called */
	if (parse_conf(call->config, false, &c, &e) < 0) {
		berth_log_warn("DEL: ignoring config error: %s", e.msg);
		c.ipam_type = NULL;
	}
	if (c.ipam_type)
		r = berth_cni_delegate(call, c.ipam_type, "DEL", NULL, err);
	/* without the netns the link went with it */
	if (!call->netns || call->netns_gone || berth_netns_open(call->netns, &nsfd, &e) < 0)
		return r;
	BERTH_FAULT_POINT("dummy-del-before-link");
	if ((rl = berth_nl_open(nsfd, &cont, &e)) == 0 &&
	    (rl = berth_link_get_by_name(cont, call->ifname, &l, &e)) == 0 && STREQ(l.kind, "dummy"))
		rl = berth_link_del(cont, l.ifindex, &e);
	if (rl < 0 && rl != -ENODEV && r == 0) {
		*err = e;
		r = rl;
	}
	return r;
}

/* ---- CHECK ------------------------------------------------------------------------------ */

static int check_iface(struct berth_nl *cont, const struct berth_cni_interface *in,
		       struct berth_link *l, berth_error *err)
{
	char mac[BERTH_MAC_STRLEN];

	if (!in->name || !*in->name)
		return check_fail(err, "Container interface name missing in prevResult: %s", "");
	if (berth_link_get_by_name(cont, in->name, l, err) < 0)
		return check_fail(err, "Container Interface name in prevResult: %s not found",
				  in->name);
	if (!in->sandbox || !*in->sandbox)
		return check_fail(err, "Error: Container interface %s should not be in host "
				  "namespace", l->name);
	if (!STREQ(l->kind, "dummy"))
		return check_fail(err, "Error: Container interface %s not of type dummy", l->name);
	if (in->mac && *in->mac && l->mac_len == 6 && !STREQ(in->mac, berth_mac_format(l->mac, mac)))
		return check_fail(err, "Interface %s Mac %s doesn't match container Mac: %s",
				  in->name, in->mac, mac);
	if (!(l->flags & IFF_UP))
		return check_fail(err, "Interface %s is down", in->name);
	return 0;
}

static int check_addrs(struct berth_nl *cont, const struct berth_cni_result *prev, int ci,
		       const struct berth_link *l, const char *ifname, berth_error *err)
{
	_cleanup_free_ struct berth_addr *addrs = NULL;
	size_t n = 0;
	int r;

	if ((r = berth_addr_list(cont, l->ifindex, 0, &addrs, &n, err)) < 0)
		return r;
	for (size_t i = 0; i < prev->n_ips; i++) {
		const struct berth_cni_ipconfig *ip = &prev->ips[i];
		char s[BERTH_IPNET_STRLEN];
		bool found = false;

		if (ip->interface >= 0 && ip->interface != ci)
			continue;
		for (size_t j = 0; j < n && !found; j++)
			found = berth_ipnet_equal(&addrs[j].addr, &ip->address);
		if (!found)
			return check_fail(err, "Failed to match addr %s on interface %s",
					  berth_ipnet_format(&ip->address, s), ifname);
	}
	return 0;
}

static int cmd_check(const struct berth_cni_call *call, struct berth_cni_result **ret,
		     berth_error *err)
{
	const struct berth_cni_result *prev = call->prev_result;
	_cleanup_nl_ struct berth_nl *cont = NULL;
	_cleanup_close_ int nsfd = -1;
	struct dummy_conf c;
	struct berth_link l;
	int ci = -1, r;

	if ((r = parse_conf(call->config, true, &c, err)) < 0)
		return r;
	if ((r = berth_netns_open(call->netns, &nsfd, err)) < 0)
		return berth_error_prefix(err, "failed to open netns \"%s\"", call->netns);
	if ((r = berth_cni_delegate(call, c.ipam_type, "CHECK", NULL, err)) < 0)
		return r;
	ci = berth_cni_result_find_interface(prev, call->ifname, call->netns);
	if (ci < 0)
		return check_fail(err, "Sandbox in prevResult %s doesn't match configured netns: %s",
				  "", call->netns);
	if ((r = berth_nl_open(nsfd, &cont, err)) < 0 ||
	    (r = check_iface(cont, &prev->interfaces[ci], &l, err)) < 0 ||
	    (r = check_addrs(cont, prev, ci, &l, call->ifname, err)) < 0)
		return r;
	return 0;
}

/* ---- STATUS, GC ------------------------------------------------------------------------- */

static int cmd_status(const struct berth_cni_call *call, struct berth_cni_result **ret,
		      berth_error *err)
{
	struct dummy_conf c;
	int r;

	if ((r = parse_conf(call->config, true, &c, err)) < 0)
		return r;
	if ((r = berth_dummy_probe(err)) < 0) {
		berth_error_prefix(err, "this kernel cannot create a dummy link");
		err->code = BERTH_CNI_ERR_STATUS_NOT_READY;
		return r;
	}
	return berth_cni_delegate(call, c.ipam_type, "STATUS", NULL, err);
}

/* The dummy links live in the containers' netns and go with them: only the IPAM keeps state
 * outside, and its GC gets the same valid attachments. */
static int cmd_gc(const struct berth_cni_call *call, struct berth_cni_result **ret,
		  berth_error *err)
{
	struct dummy_conf c;
	int r;

	if ((r = parse_conf(call->config, false, &c, err)) < 0)
		return r;
	return c.ipam_type ? berth_cni_delegate(call, c.ipam_type, "GC", NULL, err) : 0;
}

int main(int argc, char **argv)
{
	static const struct berth_cni_plugin plugin = {
		.name = "dummy",
		.add = cmd_add,
		.del = cmd_del,
		.check = cmd_check,
		.status = cmd_status,
		.gc = cmd_gc,
	};
	berth_cni_delegate_builtin(&berth_host_local_plugin);
	return berth_plugin_main(&plugin, argc, argv);
}
