// SPDX-License-Identifier: Apache-2.0
/*
 * ptp CHECK.  As the reference: the IPAM plugin's CHECK, then the container interface of the
 * prevResult (name and sandbox), a veth with the recorded MAC, every address and route of the
 * prevResult in the container.  Beyond the reference: its host end (the peer) carries the
 * gateway addresses and a host route to each container address, and the masquerade elements
 * are in the kernel.  The first mismatch is the error.
 */

#include <errno.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "berth/addr.h"
#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/cniargs.h"
#include "berth/cni-skel.h"
#include "berth/link.h"
#include "berth/netns.h"
#include "berth/nft.h"
#include "berth/nl.h"
#include "berth/route.h"
#include "ptp-internal.h"

#define check_fail(err, ...) berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT, __VA_ARGS__)

static bool has_addr(const struct berth_addr *a, size_t n, const struct berth_ipnet *want)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].addr.prefix == want->prefix && berth_ip_equal(&a[i].addr.ip, &want->ip))
			return true;
	return false;
}

static bool has_route(const struct berth_route *rt, size_t n, const struct berth_ipnet *dst,
		      const struct berth_ip *gw, int ifindex)
{
	struct berth_ipnet want = berth_ipnet_network(dst);

	for (size_t i = 0; i < n; i++)
		if (rt[i].dst.prefix == want.prefix && berth_ip_equal(&rt[i].dst.ip, &want.ip) &&
		    (!gw || !gw->family || berth_ip_equal(&rt[i].gw, gw)) &&
		    (!ifindex || rt[i].ifindex == ifindex))
			return true;
	return false;
}

static int check_container(struct berth_nl *cont, const struct berth_cni_call *call,
			   const struct berth_cni_result *prev, const struct berth_cni_interface *in,
			   int ci, struct berth_link *cv, berth_error *err)
{
	_cleanup_free_ struct berth_addr *addrs = NULL;
	_cleanup_free_ struct berth_route *routes = NULL;
	size_t na = 0, nr = 0;
	char mac[BERTH_MAC_STRLEN], s[BERTH_IPNET_STRLEN];
	int r;

	if (berth_link_get_by_name(cont, in->name, cv, err) < 0)
		return check_fail(err, "ptp: Container Interface name in prevResult: %s not found",
				  in->name);
	if (!STREQ(cv->kind, "veth"))
		return check_fail(err, "Error: Container interface %s not of type veth/p2p", cv->name);
	if (in->mac && *in->mac && !STREQ(in->mac, berth_mac_format(cv->mac, mac)))
		return check_fail(err, "ptp: Interface %s Mac %s doesn't match container Mac: %s",
				  in->name, in->mac, mac);
	if ((r = berth_addr_list(cont, cv->ifindex, 0, &addrs, &na, err)) < 0 ||
	    (r = berth_route_list(cont, 0, -1, &routes, &nr, err)) < 0)
		return r;
	for (size_t i = 0; i < prev->n_ips; i++) {
		const struct berth_cni_ipconfig *ip = &prev->ips[i];
		int bits = ip->address.ip.family == AF_INET ? 32 : 128;
		struct berth_ipnet gw = { .ip = ip->gateway, .prefix = bits };

		if (ip->interface >= 0 && ip->interface != ci)
			continue;
		if (!has_addr(addrs, na, &ip->address))
			return check_fail(err, "ipv%s address %s not found in the container",
					  bits == 32 ? "4" : "6", berth_ipnet_format(&ip->address, s));
		if (ip->gateway.family &&
		    (!has_route(routes, nr, &gw, NULL, cv->ifindex) ||
		     !has_route(routes, nr, &ip->address, &ip->gateway, cv->ifindex)))
			return check_fail(err, "routes through gateway %s not found in the container",
					  berth_ip_format(&ip->gateway, s));
	}
	for (size_t i = 0; i < prev->n_routes; i++)
		if (!has_route(routes, nr, &prev->routes[i].dst, &prev->routes[i].gw, 0))
			return check_fail(err, "route to %s not found in the container",
					  berth_ipnet_format(&prev->routes[i].dst, s));
	return 0;
}

/* The host end: the container veth's peer, with each gateway address and a host route to each
 * container address. */
static int check_host(struct berth_nl *host, const struct berth_cni_result *prev, int ci,
		      const struct berth_link *cv, berth_error *err)
{
	_cleanup_free_ struct berth_addr *addrs = NULL;
	_cleanup_free_ struct berth_route *routes = NULL;
	struct berth_link hv;
	size_t na = 0, nr = 0;
	char s[BERTH_IPNET_STRLEN];
	int r;

	if (cv->link <= 0 || berth_link_get_by_index(host, cv->link, &hv, err) < 0 ||
	    !STREQ(hv.kind, "veth") || hv.link != cv->ifindex)
		return check_fail(err, "ptp: the host end of %s was not found", cv->name);
	if ((r = berth_addr_list(host, hv.ifindex, 0, &addrs, &na, err)) < 0 ||
	    (r = berth_route_list(host, 0, 0, &routes, &nr, err)) < 0)
		return r;
	for (size_t i = 0; i < prev->n_ips; i++) {
		const struct berth_cni_ipconfig *ip = &prev->ips[i];
		int bits = ip->address.ip.family == AF_INET ? 32 : 128;
		struct berth_ipnet gw = { .ip = ip->gateway, .prefix = bits };
		struct berth_ipnet dst = { .ip = ip->address.ip, .prefix = bits };

		if ((ip->interface >= 0 && ip->interface != ci) || !ip->gateway.family)
			continue;
		if (!has_addr(addrs, na, &gw))
			return check_fail(err, "ptp: gateway address %s not found on host veth %s",
					  berth_ipnet_format(&gw, s), hv.name);
		if (!has_route(routes, nr, &dst, NULL, hv.ifindex))
			return check_fail(err, "ptp: host route to %s via %s not found",
					  berth_ipnet_format(&dst, s), hv.name);
	}
	return 0;
}

int ptp_cmd_check(const struct berth_cni_call *call, struct berth_cni_result **ret,
		  berth_error *err)
{
	struct berth_nft_owner owner = { call->name, call->container_id, call->ifname };
	_cleanup_nl_ struct berth_nl *host = NULL, *cont = NULL;
	_cleanup_close_ int nsfd = -1;
	const struct berth_cni_result *prev = call->prev_result;
	struct ptp_conf conf;
	struct berth_link cv;
	int ci = -1, r;

	if ((r = ptp_conf_parse(call->config, &conf, err)) < 0 ||
	    (r = berth_netns_open(call->netns, &nsfd, err)) < 0 ||
	    (r = berth_cni_delegate(call, conf.ipam_type, "CHECK", NULL, err)) < 0)
		return r;
	if (!prev)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "ptp: Required prevResult missing");
	ci = berth_cni_result_find_interface(prev, call->ifname, call->netns);
	if (ci < 0)
		return check_fail(err, "Sandbox in prevResult %s doesn't match configured netns: %s",
				  "", call->netns);
	if ((r = berth_nl_open(-1, &host, err)) < 0 || (r = berth_nl_open(nsfd, &cont, err)) < 0 ||
	    (r = check_container(cont, call, prev, &prev->interfaces[ci], ci, &cv, err)) < 0 ||
	    (r = check_host(host, prev, ci, &cv, err)) < 0)
		return r;
	if (conf.ip_masq && prev->n_ips && (r = berth_nft_masq_check(&owner, err)) < 0)
		return r;
	return 0;
}
