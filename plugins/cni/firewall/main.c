// SPDX-License-Identifier: Apache-2.0
/*
 * firewall: let the container's addresses through the host's forward path (with
 * established/related return traffic) and isolate networks from each other, all as elements
 * of berth's own nftables sets.  ingressPolicy:
 *   open         nothing beyond the accepts
 *   same-bridge  containers of other same-bridge/isolated networks cannot reach this one
 *   isolated     same-bridge, and containers on this bridge cannot reach each other either
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netfilter.h>

#include "berth/cleanup.h"
#include "berth/json.h"
#include "berth/log.h"
#include "berth/nft.h"
#include "berth/cni-skel.h"

enum policy { POLICY_OPEN, POLICY_SAME_BRIDGE, POLICY_ISOLATED };

static int parse_policy(const struct berth_cni_call *call, enum policy *ret, berth_error *err)
{
	const char *p = NULL, *backend = NULL;
	int r;
	if ((r = berth_json_get_string(call->config, NULL, "ingressPolicy", false, &p, err)) < 0 ||
	    (r = berth_json_get_string(call->config, NULL, "backend", false, &backend, err)) < 0)
		return r;
	if (backend && *backend && !STREQ(backend, "nftables") && !STREQ(backend, "iptables") &&
	    !STREQ(backend, "firewalld"))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "backend: unknown backend '%s' (nftables; iptables and "
				       "firewalld are served by nftables)", backend);
	if (!p || !*p || STREQ(p, "open"))
		*ret = POLICY_OPEN;
	else if (STREQ(p, "same-bridge"))
		*ret = POLICY_SAME_BRIDGE;
	else if (STREQ(p, "isolated"))
		*ret = POLICY_ISOLATED;
	else
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "ingressPolicy: unknown policy '%s' (open, same-bridge, "
				       "isolated)", p);
	return 0;
}

static int build(const struct berth_cni_call *call, enum policy pol, struct berth_nft_elem **ret,
		 size_t *ret_n, berth_error *err)
{
	const struct berth_cni_result *prev = call->prev_result;
	const char *bridge = NULL, *port = NULL;
	if (!prev)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "prevResult: firewall must be chained after a plugin that "
				       "returns the container's addresses");
	/* bridge, host veth, container iface: the first two host-side interfaces */
	for (size_t i = 0; i < prev->n_interfaces; i++) {
		const struct berth_cni_interface *f = &prev->interfaces[i];
		if (f->sandbox && *f->sandbox)
			continue;
		if (!bridge)
			bridge = f->name;
		else if (!port)
			port = f->name;
	}
	if (pol != POLICY_OPEN && !bridge)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "ingressPolicy: prevResult.interfaces names no host-side "
				       "bridge to isolate");
	_cleanup_free_ struct berth_nft_elem *e = calloc(2 * prev->n_ips + 2, sizeof(*e));
	size_t n = 0;
	if (!e)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	static const char *const order[] = { "fw4", "fw6", "iso4", "iso6" };
	for (size_t o = 0; o < ARRAY_SIZE(order); o++) {
		bool iso = o >= 2;
		int fam = o % 2 ? AF_INET6 : AF_INET;
		if (iso && pol == POLICY_OPEN)
			continue;
		for (size_t i = 0; i < prev->n_ips; i++) {
			const struct berth_ip *ip = &prev->ips[i].address.ip;
			if (ip->family != fam)
				continue;
			berth_nft_elem_ip(&e[n++], order[o], ip, iso ? bridge : NULL);
		}
	}
	if (pol == POLICY_ISOLATED) {
		if (!port)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "ingressPolicy isolated: prevResult.interfaces names "
					       "no host-side port of the container");
		struct berth_nft_elem *x = &e[n++];
		x->family = NFPROTO_BRIDGE;
		x->set = "iso_ports";
		x->key_len = berth_nft_put_ifname(x->key, port);
	}
	*ret = TAKE_PTR(e);
	*ret_n = n;
	return 0;
}

static struct berth_nft_owner owner_of(const struct berth_cni_call *call)
{
	return (struct berth_nft_owner){ call->name, call->container_id, call->ifname };
}

static int cmd_add(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	_cleanup_free_ struct berth_nft_elem *e = NULL;
	struct berth_nft_owner o = owner_of(call);
	enum policy pol;
	size_t n = 0;
	int r;

	if ((r = parse_policy(call, &pol, err)) < 0 || (r = build(call, pol, &e, &n, err)) < 0)
		return r;
	if ((r = berth_nft_attach_set("firewall", &o, e, n, err)) < 0)
		return r;
	*ret = berth_cni_result_copy(call->prev_result);
	if (!*ret)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	return 0;
}

static int cmd_del(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	struct berth_nft_owner o = owner_of(call);
	return berth_nft_attach_del("firewall", &o, true, err);
}

static int cmd_check(const struct berth_cni_call *call, struct berth_cni_result **ret,
		     berth_error *err)
{
	struct berth_nft_owner o = owner_of(call);
	enum policy pol;
	int r;
	if ((r = parse_policy(call, &pol, err)) < 0)
		return r;
	return berth_nft_attach_check("firewall", &o, err);
}

static int cmd_gc(const struct berth_cni_call *call, struct berth_cni_result **ret,
		  berth_error *err)
{
	return berth_nft_gc_call("firewall", call, err);
}

static const struct berth_cni_plugin plugin = {
	.name = "firewall",
	.min_version = "0.4.0",
	.add = cmd_add,
	.del = cmd_del,
	.check = cmd_check,
	.gc = cmd_gc,
};

int main(int argc, char **argv)
{
	/* `firewall --reapply`: rebuild every berth nft element after `nft flush ruleset` */
	if (argc > 1 && STREQ(argv[1], "--reapply"))
		return berth_nft_reapply_main("firewall");
	return berth_plugin_main(&plugin, argc, argv);
}
