// SPDX-License-Identifier: Apache-2.0
/*
 * firewall: let the container's addresses through the host's forward path (with
 * established/related return traffic) and isolate networks from each other, all as elements
 * of berth's own nftables sets.  ingressPolicy:
 *   open         nothing beyond the accepts
 *   same-bridge  containers of other same-bridge/isolated networks cannot reach this one
 *   isolated     same-bridge, and containers on this bridge cannot reach each other either
 * backend (the reference's key; any value is accepted, as the reference accepts any):
 *   "firewalld"  also put the addresses into the firewalld zone `firewalldZone` (default
 *                "trusted") over D-Bus, so that firewalld's own table lets them through; an
 *                error when firewalld is not running, as in the reference
 *   "iptables"   the nftables elements only
 *   anything else, or none: as "firewalld" when firewalld runs here with its nftables backend
 *                (its table `inet firewalld` exists), else the nftables elements only; the
 *                reference's "firewalld if it is running"
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netfilter.h>

#include "berth/cleanup.h"
#include "berth/firewalld.h"
#include "berth/json.h"
#include "berth/log.h"
#include "berth/nft.h"
#include "berth/cni-skel.h"
#include "firewall-internal.h"

enum policy { POLICY_OPEN, POLICY_SAME_BRIDGE, POLICY_ISOLATED };
enum fwd { FWD_NO, FWD_YES, FWD_AUTO };

struct fw_conf {
	enum policy policy;
	enum fwd fwd;
	const char *zone;
};

static int parse_conf(const struct berth_cni_call *call, struct fw_conf *c, berth_error *err)
{
	const char *p = NULL, *backend = NULL, *chain = NULL;
	int r;

	memset(c, 0, sizeof(*c));
	c->zone = "trusted";
	if ((r = berth_json_get_string(call->config, NULL, "ingressPolicy", false, &p, err)) < 0 ||
	    (r = berth_json_get_string(call->config, NULL, "backend", false, &backend, err)) < 0 ||
	    (r = berth_json_get_string(call->config, NULL, "firewalldZone", false, &c->zone, err)) < 0 ||
	    (r = berth_json_get_string(call->config, NULL, "iptablesAdminChainName", false, &chain,
				       err)) < 0)
		return r;
	if (!*c->zone)
		c->zone = "trusted";
	if (backend && STREQ(backend, "firewalld"))
		c->fwd = FWD_YES;
	else if (backend && STREQ(backend, "iptables"))
		c->fwd = FWD_NO;
	else
		c->fwd = FWD_AUTO;
	if (!p || !*p || STREQ(p, "open"))
		c->policy = POLICY_OPEN;
	else if (STREQ(p, "same-bridge"))
		c->policy = POLICY_SAME_BRIDGE;
	else if (STREQ(p, "isolated"))
		c->policy = POLICY_ISOLATED;
	else
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "ingressPolicy: unknown policy '%s' (open, same-bridge, "
				       "isolated)", p);
	return 0;
}

/* Does this call go to firewalld too? */
static int want_fwd(const struct fw_conf *c, berth_error *err)
{
	if (c->fwd != FWD_AUTO)
		return c->fwd == FWD_YES;
	return berth_firewalld_table_present(err);
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
	struct fw_conf c;
	berth_error ign = { 0 };
	size_t n = 0;
	int r, fwd;

	if ((r = parse_conf(call, &c, err)) < 0 || (r = build(call, c.policy, &e, &n, err)) < 0)
		return r;
	if ((fwd = want_fwd(&c, err)) < 0)
		return fwd;
	if ((r = berth_nft_attach_set("firewall", &o, e, n, err)) < 0)
		return r;
	if (fwd && (r = fw_zone_add(call, c.zone, err)) < 0) {
		(void)berth_nft_attach_del("firewall", &o, false, &ign);
		return r;
	}
	*ret = berth_cni_result_copy(call->prev_result);
	if (!*ret)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	return 0;
}

/* DEL needs no config: the elements and the zone sources are found in their state files. */
static int cmd_del(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	struct berth_nft_owner o = owner_of(call);
	int r;

	if ((r = berth_nft_attach_del("firewall", &o, true, err)) < 0)
		return r;
	return fw_zone_del(call, err);
}

static int cmd_check(const struct berth_cni_call *call, struct berth_cni_result **ret,
		     berth_error *err)
{
	struct berth_nft_owner o = owner_of(call);
	struct fw_conf c;
	int r, fwd;

	if ((r = parse_conf(call, &c, err)) < 0)
		return r;
	if ((r = berth_nft_attach_check("firewall", &o, err)) < 0)
		return r;
	if ((fwd = want_fwd(&c, err)) < 0)
		return fwd;
	if (fwd || fw_zone_recorded(call))
		return fw_zone_check(call, err);
	return 0;
}

static int cmd_gc(const struct berth_cni_call *call, struct berth_cni_result **ret,
		  berth_error *err)
{
	struct berth_cni_attachment *valid = NULL;
	size_t n_valid = 0;
	bool present = false;
	int r;

	if ((r = berth_nft_gc_call("firewall", call, err)) < 0)
		return r;
	if ((r = berth_cni_valid_attachments(call->config, &valid, &n_valid, &present, err)) < 0)
		return r;
	if (present)
		r = fw_zone_gc(call->name, valid, n_valid, err);
	berth_cni_attachments_free(valid, n_valid);
	return r;
}

/* Ready when nf_tables answers and berth's inet and bridge tables (the isolation set is a
 * bridge one) with their sets are there or can be created.  Code 50 otherwise. */
static int cmd_status(const struct berth_cni_call *call, struct berth_cni_result **ret,
		      berth_error *err)
{
	return berth_nft_status(true, true, err);
}

static const struct berth_cni_plugin plugin = {
	.name = "firewall",
	.min_version = "0.4.0",
	.add = cmd_add,
	.del = cmd_del,
	.check = cmd_check,
	.status = cmd_status,
	.gc = cmd_gc,
};

/* `firewall --reapply`: every berth nft element after `nft flush ruleset`, and every recorded
 * firewalld zone source after `firewall-cmd --reload` (which drops runtime sources). */
static int reapply_main(void)
{
	berth_error err = { 0 };
	int n = berth_nft_reapply_all(&err), m;

	if (n < 0) {
		fprintf(stderr, "firewall --reapply: %s\n", err.msg);
		return 1;
	}
	if ((m = berth_firewalld_reapply(&err)) < 0) {
		fprintf(stderr, "firewall --reapply: %s\n", err.msg);
		return 1;
	}
	printf("{\"reapplied\":%d,\"firewalldSources\":%d}\n", n, m);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && STREQ(argv[1], "--reapply")) {
		berth_log_init("firewall");
		return reapply_main();
	}
	return berth_plugin_main(&plugin, argc, argv);
}
