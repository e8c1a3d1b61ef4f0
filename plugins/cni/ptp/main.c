// SPDX-License-Identifier: Apache-2.0
/*
 * ptp: a veth pair between the host and the container, no bridge.  The container's addresses
 * (from the IPAM plugin) go on its end with every route through the gateway, which lives as a
 * /32 (/128) on the host end; the host reaches each container address through a host route on
 * that veth.  Same config and result as the reference plugin.  A failed ADD undoes what it
 * did (masquerade elements, the veth and with it every address and route, the IPAM
 * reservation) in reverse order.
 */

#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "berth/addr.h"
#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/cniargs.h"
#include "berth/exec.h"
#include "berth/fault.h"
#include "berth/ipam.h"
#include "berth/json.h"
#include "berth/link.h"
#include "berth/log.h"
#include "berth/netns.h"
#include "berth/nft.h"
#include "berth/nl.h"
#include "berth/cni-skel.h"
#include "berth/route.h"
#include "berth/sysctl.h"
#include "ptp-internal.h"

struct add_state {
	const struct berth_cni_call *call;
	const struct ptp_conf *conf;
	struct berth_nl *host, *cont;
	int nsfd;
	struct berth_link hveth, cveth;
};

static int oom(berth_error *err)
{
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
}

static void owner_alias(const struct berth_cni_call *call, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s %s %s", PTP_OWNER_PREFIX, call->name, call->container_id,
		 call->ifname);
}

static int random_veth_name(char buf[IF_NAMESIZE])
{
	uint32_t v;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		return -errno;
	snprintf(buf, IF_NAMESIZE, "veth%08x", v);
	return 0;
}

static int enable_forwarding(int family, berth_error *err)
{
	const char *key = family == AF_INET ? "net/ipv4/ip_forward" : "net/ipv6/conf/all/forwarding";
	char v[16];
	int r;

	if (berth_sysctl_read(key, v, sizeof(v), err) == 0 && STREQ(v, "1"))
		return 0;
	r = berth_sysctl_write(key, "1", err);
	return r < 0 ? berth_error_prefix(err, "Could not enable IP forwarding") : 0;
}

/* ---- veth ------------------------------------------------------------------------------ */

static int create_veth(struct add_state *s, berth_error *err)
{
	const struct berth_cni_call *call = s->call;
	char name[IF_NAMESIZE], alias[256];
	int r;

	owner_alias(call, alias, sizeof(alias));
	for (int tries = 0;; tries++) {
		struct berth_veth_opts o = {
			.name = name,
			.peer_name = call->ifname,
			.peer_nsfd = s->nsfd,
			.mtu = s->conf->mtu,
			.txqlen_zero = true,
			.alias = alias,
		};

		if ((r = random_veth_name(name)) < 0)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, -r, "getrandom failed");
		r = berth_link_add_veth(s->host, &o, err);
		if (r != -EEXIST || tries == 8)
			break;
		/* EEXIST names neither side: if the container name appeared meanwhile, stop. */
		if (berth_link_get_by_name(s->cont, call->ifname, &s->cveth, err) == 0)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EEXIST,
					       "container veth name provided (%s) already exists",
					       call->ifname);
	}
	if (r < 0)
		return berth_error_prefix(err, "failed to create veth pair");
	if ((r = berth_link_get_by_name(s->host, name, &s->hveth, err)) < 0)
		return r;
	BERTH_FAULT_POINT("ptp-after-veth");
	if ((r = berth_link_get_by_name(s->cont, call->ifname, &s->cveth, err)) < 0 ||
	    (r = berth_link_set_up(s->host, s->hveth.ifindex, true, err)) < 0)
		return r;
	return 0;
}

/* ---- container side --------------------------------------------------------------------- */

struct cont_sysctls {
	const char *ifname;
	bool has_v6;
};

static int set_cont_sysctls(void *data, berth_error *err)
{
	const struct cont_sysctls *cs = data;
	berth_error ign = { 0 };
	char key[96], v[16];
	int r;

	if (!cs->has_v6)
		return 0;
	snprintf(key, sizeof(key), "net/ipv6/conf/%s/disable_ipv6", cs->ifname);
	if (berth_sysctl_read(key, v, sizeof(v), &ign) == 0 && !STREQ(v, "0") &&
	    (r = berth_sysctl_write(key, "0", err)) < 0)
		return berth_error_prefix(err, "failed to enable IPv6 for interface \"%s\"",
					  cs->ifname);
	/* DAD takes seconds; addresses are unique by IPAM (plugins#680) */
	snprintf(key, sizeof(key), "net/ipv6/conf/%s/accept_dad", cs->ifname);
	(void)berth_sysctl_write(key, "0", &ign);
	return 0;
}

/* The addresses with their IPAM prefix, then instead of the prefix route the kernel adds,
 * "GW/32 dev IF scope link" and "SUBNET via GW": everything goes through the gateway, so
 * through the host. */
static int configure_container(struct add_state *s, const struct berth_cni_result *res,
			       berth_error *err)
{
	struct cont_sysctls cs = { .ifname = s->call->ifname };
	int idx = s->cveth.ifindex, r;
	size_t failed;

	for (size_t i = 0; i < res->n_ips; i++)
		if (res->ips[i].address.ip.family == AF_INET6)
			cs.has_v6 = true;
	if ((r = berth_netns_run(s->nsfd, set_cont_sysctls, &cs, err)) < 0 ||
	    (r = berth_link_set_up(s->cont, idx, true, err)) < 0)
		return r;
	for (size_t i = 0; i < res->n_ips; i++) {
		r = berth_addr_add(s->cont, idx, &res->ips[i].address, IFA_F_NODAD, err);
		if (r < 0)
			return berth_error_prefix(err, "failed to add IP addr to %s", s->call->ifname);
	}
	if ((r = berth_route_add_cni(s->cont, idx, res, -1, &failed, err)) < 0)
		return berth_error_prefix(err, "failed to add route %s",
					  berth_ipnet_format(&res->routes[failed].dst,
							     (char[BERTH_IPNET_STRLEN]){ 0 }));
	/* then, as the reference, the prefix routes replaced by routes through the gateway (the
	 * IPAM routes went in first, while their gateways were on-link) */
	for (size_t i = 0; i < res->n_ips; i++) {
		const struct berth_cni_ipconfig *ip = &res->ips[i];
		struct berth_route rt;
		int bits = ip->address.ip.family == AF_INET ? 32 : 128;

		berth_route_init(&rt);
		rt.dst = berth_ipnet_network(&ip->address);
		rt.ifindex = idx;
		r = berth_route_del(s->cont, &rt, err);
		if (r < 0 && r != -ESRCH)
			return berth_error_prefix(err, "failed to delete route %s",
						  berth_ipnet_format(&rt.dst, (char[BERTH_IPNET_STRLEN]){ 0 }));
		berth_error_clear(err);

		berth_route_init(&rt);
		rt.dst.ip = ip->gateway;
		rt.dst.prefix = bits;
		rt.ifindex = idx;
		rt.scope = RT_SCOPE_LINK;
		rt.prefsrc = ip->address.ip;
		if ((r = berth_route_add(s->cont, &rt, false, err)) < 0 && r != -EEXIST)
			return berth_error_prefix(err, "failed to add route to the gateway");
		berth_route_init(&rt);
		rt.dst = berth_ipnet_network(&ip->address);
		rt.gw = ip->gateway;
		rt.ifindex = idx;
		rt.scope = RT_SCOPE_UNIVERSE;
		rt.prefsrc = ip->address.ip;
		if ((r = berth_route_add(s->cont, &rt, false, err)) < 0 && r != -EEXIST)
			return berth_error_prefix(err, "failed to add route to the subnet");
		berth_error_clear(err);
	}
	return 0;
}

/* ---- host side -------------------------------------------------------------------------- */

/* The gateway as /32 (/128) on the host veth, and a host route to each container address. */
static int configure_host(struct add_state *s, const struct berth_cni_result *res,
			  berth_error *err)
{
	int idx = s->hveth.ifindex, r;

	for (size_t i = 0; i < res->n_ips; i++) {
		const struct berth_cni_ipconfig *ip = &res->ips[i];
		int bits = ip->address.ip.family == AF_INET ? 32 : 128;
		struct berth_ipnet gw = { .ip = ip->gateway, .prefix = bits };
		struct berth_route rt;

		r = berth_addr_add(s->host, idx, &gw, IFA_F_NODAD, err);
		if (r < 0 && r != -EEXIST)
			return berth_error_prefix(err, "failed to add IP addr %s to veth",
						  berth_ipnet_format(&gw, (char[BERTH_IPNET_STRLEN]){ 0 }));
		berth_route_init(&rt);
		rt.dst.ip = ip->address.ip;
		rt.dst.prefix = bits;
		rt.ifindex = idx;
		if (bits == 32)
			rt.scope = RT_SCOPE_HOST;
		r = berth_route_add(s->host, &rt, false, err);
		if (r < 0 && r != -EEXIST)
			return berth_error_prefix(err, "failed to add route on host");
		berth_error_clear(err);
	}
	return 0;
}

/* ---- result ----------------------------------------------------------------------------- */

/* The IPAM result's addresses (on interface 1, the container's), routes and DNS. */
static int take_ipam_result(struct berth_cni_result *res, struct berth_cni_result *ipam,
			    berth_error *err)
{
	char s[BERTH_IPNET_STRLEN];

	if (ipam->n_ips == 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL,
				       "IPAM plugin returned missing IP config");
	for (size_t i = 0; i < ipam->n_ips; i++) {
		struct berth_cni_ipconfig *ip = &ipam->ips[i];

		if (!ip->gateway.family || ip->gateway.family != ip->address.ip.family)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL,
					       "IPAM result for %s has no gateway of its family; "
					       "ptp routes through it",
					       berth_ipnet_format(&ip->address, s));
		if (berth_cni_result_add_ip(res, &ip->address, &ip->gateway, 1) < 0)
			return oom(err);
	}
	if (berth_cni_result_add_routes(res, ipam->routes, ipam->n_routes) < 0)
		return oom(err);
	res->dns = ipam->dns;
	memset(&ipam->dns, 0, sizeof(ipam->dns));
	return 0;
}

/* ---- verbs ------------------------------------------------------------------------------ */

static int cmd_add(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	struct ptp_conf conf;
	_cleanup_nl_ struct berth_nl *host = NULL, *cont = NULL;
	_cleanup_close_ int nsfd = -1;
	_cleanup_cni_result_ struct berth_cni_result *res = NULL, *ipam = NULL;
	struct add_state s = { .call = call, .conf = &conf, .nsfd = -1 };
	struct berth_nft_owner owner = { call->name, call->container_id, call->ifname };
	char hmac[BERTH_MAC_STRLEN], cmac[BERTH_MAC_STRLEN];
	bool fwd[2] = { false, false };
	berth_error ign = { 0 };
	int r;

	if ((r = ptp_conf_parse(call->config, &conf, err)) < 0)
		return r;
	if (conf.ip_masq && (r = berth_nft_masq_backend_ok(conf.ip_masq_backend, err)) < 0)
		return r;
	if ((r = berth_netns_open(call->netns, &nsfd, err)) < 0 ||
	    (r = berth_nl_open(-1, &host, err)) < 0 || (r = berth_nl_open(nsfd, &cont, err)) < 0)
		return r;
	s.host = host;
	s.cont = cont;
	s.nsfd = nsfd;
	/* before IPAM: a taken name must not cost (or, undone, release) a reservation */
	if (berth_link_get_by_name(cont, call->ifname, &s.cveth, err) == 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EEXIST,
				       "container veth name provided (%s) already exists",
				       call->ifname);
	berth_error_clear(err);

	r = berth_cni_delegate(call, conf.ipam_type, "ADD", &ipam, err);
	if (r < 0)
		return r;
	BERTH_FAULT_POINT("ptp-after-ipam");
	res = berth_cni_result_new(call->version);
	if (!res) {
		r = oom(err);
		goto undo_ipam;
	}
	/* interfaces first: the addresses name index 1 */
	if (berth_cni_result_add_interface(res, "", NULL, NULL) < 0 ||
	    berth_cni_result_add_interface(res, call->ifname, NULL, call->netns) < 0) {
		r = oom(err);
		goto undo_ipam;
	}
	if ((r = take_ipam_result(res, ipam, err)) < 0)
		goto undo_ipam;
	for (size_t i = 0; i < res->n_ips; i++)
		fwd[res->ips[i].address.ip.family == AF_INET6] = true;
	for (int f = 0; f < 2; f++)
		if (fwd[f] && (r = enable_forwarding(f ? AF_INET6 : AF_INET, err)) < 0)
			goto undo_ipam;

	if ((r = create_veth(&s, err)) < 0)
		goto undo_veth;
	if ((r = configure_container(&s, res, err)) < 0)
		goto undo_veth;
	BERTH_FAULT_POINT("ptp-after-container");
	if ((r = configure_host(&s, res, err)) < 0)
		goto undo_veth;

	if (conf.ip_masq) {
		/* + 1: never a calloc of 0 bytes (a result without addresses) */
		_cleanup_free_ struct berth_ipnet *a = calloc(res->n_ips + 1, sizeof(*a));

		if (!a) {
			r = oom(err);
			goto undo_veth;
		}
		for (size_t i = 0; i < res->n_ips; i++)
			a[i] = res->ips[i].address;
		r = berth_nft_masq_add_subnets(&owner, a, res->n_ips, err);
		if (r < 0)
			goto undo_nft;
		BERTH_FAULT_POINT("ptp-after-masq");
	}

	/* the MACs as the kernel has them now */
	if ((r = berth_link_get_by_index(host, s.hveth.ifindex, &s.hveth, err)) < 0 ||
	    (r = berth_link_get_by_index(cont, s.cveth.ifindex, &s.cveth, err)) < 0)
		goto undo_nft;
	if (berth_cni_set_str(&res->interfaces[0].name, s.hveth.name) < 0 ||
	    berth_cni_set_str(&res->interfaces[0].mac, berth_mac_format(s.hveth.mac, hmac)) < 0 ||
	    berth_cni_set_str(&res->interfaces[1].mac, berth_mac_format(s.cveth.mac, cmac)) < 0) {
		r = oom(err);
		goto undo_nft;
	}
	if (conf.dns && (r = berth_cni_result_set_dns(res, call->version, conf.dns, err)) < 0)
		goto undo_nft;
	BERTH_FAULT_POINT("ptp-before-result");
	*ret = TAKE_PTR(res);
	return 0;

undo_nft:
	if (conf.ip_masq)
		(void)berth_nft_masq_del(&owner, false, &ign);
undo_veth:
	if (s.hveth.ifindex)
		(void)berth_link_del(host, s.hveth.ifindex, &ign);
undo_ipam:
	berth_cni_delegate_undo(call, conf.ipam_type);
	return r;
}

/* DEL without a reachable netns: the host end, found by its owner alias.  When the netns is
 * really gone the kernel took the pair with it; when only its path is gone, the veth would
 * otherwise keep routing an address host-local has just released for reuse. */
static int del_host_veth(const struct berth_cni_call *call, berth_error *err)
{
	_cleanup_nl_ struct berth_nl *host = NULL;
	_cleanup_free_ struct berth_link *links = NULL;
	char alias[256];
	size_t n = 0;
	int r;

	owner_alias(call, alias, sizeof(alias));
	if ((r = berth_nl_open(-1, &host, err)) < 0 ||
	    (r = berth_link_list(host, &links, &n, err)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (!STREQ(links[i].kind, "veth") || !STREQ(links[i].alias, alias))
			continue;
		r = berth_link_del(host, links[i].ifindex, err);
		if (r < 0 && r != -ENODEV)
			return r;
	}
	return 0;
}

/* Is the container's veth l the one an ADD of this attachment made?  Its host end (a veth in
 * this netns whose peer is l) carries our owner record, or no berth record at all (made by the
 * reference plugin).  The container's own pair and another attachment's are left alone. */
static bool container_veth_is_ours(const struct berth_cni_call *call, const struct berth_link *l)
{
	_cleanup_nl_ struct berth_nl *host = NULL;
	struct berth_link peer;
	berth_error e = { 0 };
	char alias[256];

	if (l->link_netnsid < 0 || l->link <= 0 || berth_nl_open(-1, &host, &e) < 0 ||
	    berth_link_get_by_index(host, l->link, &peer, &e) < 0 || !STREQ(peer.kind, "veth") ||
	    peer.link != l->ifindex)
		return false;
	owner_alias(call, alias, sizeof(alias));
	return STREQ(peer.alias, alias) || strncmp(peer.alias, "berth ", 6) != 0;
}

static int cmd_del(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	struct berth_nft_owner owner = { call->name, call->container_id, call->ifname };
	struct ptp_conf conf;
	berth_error perr = { 0 };
	int r;

	/* DEL cleans up whatever ADD may have left, also for a config ADD refuses: it needs the
	 * owner (name, ID, ifname), ipam.type and ipMasq, read leniently. */
	if (ptp_conf_parse(call->config, &conf, &perr) < 0)
		berth_log_warn("DEL: ignoring config error: %s", perr.msg);
	ptp_conf_parse_del(call->config, &conf);
	if ((r = berth_cni_ipam_del(call, conf.ipam_type, true, err)) < 0)
		return r;
	if (!call->netns || !*call->netns || call->netns_gone) {
		if ((r = del_host_veth(call, err)) < 0)
			return r;
	} else {
		_cleanup_close_ int nsfd = -1;
		_cleanup_nl_ struct berth_nl *cont = NULL;
		struct berth_link l;

		r = berth_netns_open(call->netns, &nsfd, err);
		if (r == -ENOENT) {
			berth_error_clear(err);
			if ((r = del_host_veth(call, err)) < 0)
				return r;
		} else if (r < 0) {
			return r;
		} else {
			if ((r = berth_nl_open(nsfd, &cont, err)) < 0)
				return r;
			r = berth_link_get_by_name(cont, call->ifname, &l, err);
			if (r == 0 && (!STREQ(l.kind, "veth") || !container_veth_is_ours(call, &l))) {
				berth_log_warn("DEL: %s in %s is not a veth this attachment created; "
					       "left alone", call->ifname, call->netns);
				r = 0;
			} else if (r == 0) {
				r = berth_link_del_unlisted(nsfd, l.ifindex, err);
			} else if (r == -ENODEV) {
				/* a pair whose container end went elsewhere: its host end by owner */
				berth_error_clear(err);
				r = del_host_veth(call, err);
			}
			if (r == -ENODEV)
				r = 0;
			if (r < 0)
				return r;
		}
	}
	berth_error_clear(err);
	/* masquerade elements, from their state file (no netns needed) */
	if ((r = berth_nft_masq_del(&owner, conf.ip_masq, err)) < 0)
		return r;
	return berth_cni_ipam_del(call, conf.ipam_type, false, err);
}

static int cmd_status(const struct berth_cni_call *call, struct berth_cni_result **ret,
		      berth_error *err)
{
	struct ptp_conf conf;
	int r;

	if ((r = ptp_conf_parse(call->config, &conf, err)) < 0)
		return r;
	if (conf.ip_masq && (r = berth_nft_status(true, false, err)) < 0)
		return r;
	return berth_cni_delegate(call, conf.ipam_type, "STATUS", NULL, err);
}

/* Host veths whose owner record names this network and an attachment that is not valid. */
static int gc_veths(const char *network, const struct berth_cni_attachment *valid, size_t n_valid,
		    berth_error *err)
{
	_cleanup_nl_ struct berth_nl *host = NULL;
	char prefix[160];
	int r;

	snprintf(prefix, sizeof(prefix), "%s%s ", PTP_OWNER_PREFIX, network);
	if ((r = berth_nl_open(-1, &host, err)) < 0)
		return r;
	return berth_link_gc_owned(host, "veth", prefix, valid, n_valid, err);
}

static int cmd_gc(const struct berth_cni_call *call, struct berth_cni_result **ret,
		  berth_error *err)
{
	struct berth_cni_attachment *valid = NULL;
	struct ptp_conf conf;
	size_t n_valid = 0;
	bool present = false;
	berth_error nerr = { 0 };
	int r, nr;

	if ((r = ptp_conf_parse(call->config, &conf, err)) < 0)
		return r;
	/* veths and masquerade elements of attachments that are gone; continue past errors */
	nr = berth_cni_valid_attachments(call->config, &valid, &n_valid, &present, &nerr);
	if (nr == 0 && present) {
		berth_error e2 = { 0 };
		int r2;

		nr = gc_veths(call->name, valid, n_valid, &nerr);
		r2 = berth_nft_attach_gc("masq", call->name, valid, n_valid, &e2);
		if (nr == 0 && r2 < 0) {
			nr = r2;
			nerr = e2;
		}
	}
	berth_cni_attachments_free(valid, n_valid);
	r = berth_cni_delegate(call, conf.ipam_type, "GC", NULL, err);
	if (r == 0 && nr < 0) {
		*err = nerr;
		r = nr;
	}
	return r;
}

int main(int argc, char **argv)
{
	static const struct berth_cni_plugin plugin = {
		.name = "ptp",
		.add = cmd_add,
		.del = cmd_del,
		.check = ptp_cmd_check,
		.status = cmd_status,
		.gc = cmd_gc,
	};

	/* our host-local, when it is the one CNI_PATH finds, without a fork and exec */
	berth_cni_delegate_builtin(&berth_host_local_plugin);
	return berth_plugin_main(&plugin, argc, argv);
}
