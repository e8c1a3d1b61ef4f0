// SPDX-License-Identifier: Apache-2.0
/* An IPAM result applied to, and checked against, one interface. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "berth/addr.h"
#include "berth/cleanup.h"
#include "berth/iface.h"
#include "berth/link.h"
#include "berth/route.h"
#include "berth/sysctl.h"

static bool mine(const struct berth_cni_ipconfig *ip, int idx)
{
	return ip->interface < 0 || ip->interface == idx;
}

static int enable_v6(int nsfd, const char *ifname, berth_error *err)
{
	berth_error ign = { 0 };
	char key[96], v[16];
	int r;

	for (int i = 0; i < 2; i++) {
		const char *ifn = i == 0 ? "lo" : ifname;

		snprintf(key, sizeof(key), "net/ipv6/conf/%s/disable_ipv6", ifn);
		if (berth_sysctl_read_in(nsfd, key, v, sizeof(v), &ign) < 0 || STREQ(v, "0"))
			continue;
		if ((r = berth_sysctl_write_in(nsfd, key, "0", err)) < 0)
			return berth_error_prefix(err, "failed to enable IPv6 for interface %s", ifn);
	}
	snprintf(key, sizeof(key), "net/ipv6/conf/%s/accept_dad", ifname);
	(void)berth_sysctl_write_in(nsfd, key, "0", &ign);
	snprintf(key, sizeof(key), "net/ipv6/conf/%s/keep_addr_on_down", ifname);
	if ((r = berth_sysctl_write_in(nsfd, key, "1", err)) < 0)
		return berth_error_prefix(err, "failed to enable keep_addr_on_down for %s", ifname);
	return 0;
}

int berth_iface_configure(int nsfd, struct berth_nl *nl, int ifindex, const char *ifname,
			  const struct berth_cni_result *res, int idx, berth_error *err)
{
	bool v6 = false;
	size_t failed;
	int r;

	for (size_t i = 0; i < res->n_ips; i++) {
		const struct berth_cni_ipconfig *ip = &res->ips[i];
		char s[BERTH_IPNET_STRLEN];

		if (!mine(ip, idx))
			continue;
		if (ip->address.ip.family == AF_INET6 && !v6) {
			if ((r = enable_v6(nsfd, ifname, err)) < 0)
				return r;
			v6 = true;
		}
		r = berth_addr_add(nl, ifindex, &ip->address, IFA_F_NODAD, err);
		if (r < 0)
			return berth_error_prefix(err, "failed to add IP addr %s to %s",
						  berth_ipnet_format(&ip->address, s), ifname);
	}
	if ((r = berth_link_set_up(nl, ifindex, true, err)) < 0)
		return berth_error_prefix(err, "failed to set %s up", ifname);
	if ((r = berth_route_add_cni(nl, ifindex, res, idx, &failed, err)) < 0)
		return berth_error_prefix(err, "failed to add route %s dev %s",
					  berth_ipnet_format(&res->routes[failed].dst,
							     (char[BERTH_IPNET_STRLEN]){ 0 }),
					  ifname);
	return 0;
}

int berth_iface_check(struct berth_nl *nl, int ifindex, const char *ifname,
		      const struct berth_cni_result *res, int idx, berth_error *err)
{
	_cleanup_free_ struct berth_addr *addrs = NULL;
	_cleanup_free_ struct berth_route *routes = NULL;
	size_t na = 0, nr = 0;
	int r;

	if ((r = berth_addr_list(nl, ifindex, 0, &addrs, &na, err)) < 0)
		return r;
	for (size_t i = 0; i < res->n_ips; i++) {
		const struct berth_cni_ipconfig *ip = &res->ips[i];
		char s[BERTH_IPNET_STRLEN];
		bool found = false;

		if (!mine(ip, idx))
			continue;
		for (size_t j = 0; j < na && !found; j++)
			found = addrs[j].addr.prefix == ip->address.prefix &&
				berth_ip_equal(&addrs[j].addr.ip, &ip->address.ip);
		if (!found)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT,
					       "Failed to match addr %s on interface %s",
					       berth_ipnet_format(&ip->address, s), ifname);
	}
	if (!res->n_routes)
		return 0;
	if ((r = berth_route_list(nl, 0, -1, &routes, &nr, err)) < 0)
		return r;
	for (size_t i = 0; i < res->n_routes; i++) {
		const struct berth_cni_route *cr = &res->routes[i];
		struct berth_ipnet want = berth_ipnet_network(&cr->dst);
		char s[BERTH_IPNET_STRLEN];
		bool found = false;

		for (size_t j = 0; j < nr && !found; j++)
			found = routes[j].dst.prefix == want.prefix &&
				berth_ip_equal(&routes[j].dst.ip, &want.ip) &&
				(!cr->gw.family || berth_ip_equal(&routes[j].gw, &cr->gw));
		if (!found)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT,
					       "Failed to match route to %s in the container",
					       berth_ipnet_format(&cr->dst, s));
	}
	return 0;
}
