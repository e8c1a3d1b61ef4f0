// SPDX-License-Identifier: Apache-2.0
/* loopback: bring lo up in the container (down on DEL), as the reference plugin does. */

#include <errno.h>
#include <net/if.h>
#include <string.h>

#include "berth/addr.h"
#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/link.h"
#include "berth/netns.h"
#include "berth/nl.h"
#include "berth/cni-skel.h"

static bool is_loopback(const struct berth_ip *ip)
{
	static const uint8_t v6lo[16] = { [15] = 1 };

	if (ip->family == AF_INET)
		return ip->addr[0] == 127;
	return memcmp(ip->addr, v6lo, 16) == 0;
}

static int open_lo(const char *netns, struct berth_nl **ret_nl, struct berth_link *ret_lo,
		   berth_error *err)
{
	_cleanup_close_ int nsfd = -1;
	_cleanup_nl_ struct berth_nl *nl = NULL;
	int r;

	r = berth_netns_open(netns, &nsfd, err);
	if (r < 0)
		return r;
	r = berth_nl_open(nsfd, &nl, err);
	if (r < 0)
		return r;
	r = berth_link_get_by_name(nl, "lo", ret_lo, err);
	if (r < 0)
		return r;
	*ret_nl = TAKE_PTR(nl);
	return 0;
}

static int cmd_add(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	_cleanup_nl_ struct berth_nl *nl = NULL;
	_cleanup_free_ struct berth_addr *addrs = NULL;
	_cleanup_cni_result_ struct berth_cni_result *res = NULL;
	const struct berth_addr *v4 = NULL, *v6 = NULL;
	struct berth_link lo;
	size_t n = 0;
	int r;

	r = open_lo(call->netns, &nl, &lo, err);
	if (r < 0)
		return r;
	r = berth_link_set_up(nl, lo.ifindex, true, err);
	if (r < 0)
		return r;
	/* The kernel adds 127.0.0.1/8 and ::1/128 when lo comes up; report what is there. */
	r = berth_addr_list(nl, lo.ifindex, 0, &addrs, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		char s[BERTH_IP_STRLEN];

		if (!is_loopback(&addrs[i].addr.ip))
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL,
					       "loopback interface found with non-loopback address \"%s\"",
					       berth_ip_format(&addrs[i].addr.ip, s));
		if (addrs[i].addr.ip.family == AF_INET && !v4)
			v4 = &addrs[i];
		else if (addrs[i].addr.ip.family == AF_INET6 && !v6)
			v6 = &addrs[i];
	}

	if (call->prev_result) {
		res = berth_cni_result_copy(call->prev_result);
		if (!res)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
		*ret = TAKE_PTR(res);
		return 0;
	}
	res = berth_cni_result_new(call->version);
	if (!res || berth_cni_result_add_interface(res, "lo", "00:00:00:00:00:00", call->netns) < 0 ||
	    (v4 && berth_cni_result_add_ip(res, &v4->addr, NULL, 0) < 0) ||
	    (v6 && berth_cni_result_add_ip(res, &v6->addr, NULL, 0) < 0))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	*ret = TAKE_PTR(res);
	return 0;
}

static int cmd_del(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	_cleanup_nl_ struct berth_nl *nl = NULL;
	struct berth_link lo;
	int r;

	/* DEL is best effort: a netns that is gone has no lo to bring down. */
	if (!call->netns || !*call->netns || call->netns_gone)
		return 0;
	r = open_lo(call->netns, &nl, &lo, err);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	return berth_link_set_up(nl, lo.ifindex, false, err);
}

/* loopback needs nothing from the host but rtnetlink: ready when a route socket opens. */
static int cmd_status(const struct berth_cni_call *call, struct berth_cni_result **ret,
		      berth_error *err)
{
	_cleanup_nl_ struct berth_nl *nl = NULL;

	if (berth_nl_open(-1, &nl, err) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_STATUS_NOT_READY, EIO,
				       "rtnetlink cannot be used: %s", err->msg);
	return 0;
}

/* loopback keeps no state outside the container's netns (lo goes with it): nothing to collect. */
static int cmd_gc(const struct berth_cni_call *call, struct berth_cni_result **ret,
		  berth_error *err)
{
	return 0;
}

static int cmd_check(const struct berth_cni_call *call, struct berth_cni_result **ret,
		     berth_error *err)
{
	_cleanup_nl_ struct berth_nl *nl = NULL;
	struct berth_link lo;
	int r;

	r = open_lo(call->netns, &nl, &lo, err);
	if (r < 0)
		return r;
	if (!(lo.flags & IFF_UP))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENETDOWN,
				       "loopback interface is down");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct berth_cni_plugin plugin = {
		.name = "loopback",
		.add = cmd_add,
		.del = cmd_del,
		.check = cmd_check,
		.status = cmd_status,
		.gc = cmd_gc,
	};

	return berth_plugin_main(&plugin, argc, argv);
}
