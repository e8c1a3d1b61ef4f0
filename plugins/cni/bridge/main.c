// SPDX-License-Identifier: Apache-2.0
/*
 * bridge: a veth pair between a Linux bridge on the host and the container, addresses from
 * the IPAM plugin.  Same config and result as the reference plugin; a failed ADD undoes what
 * it did (IPAM reservation, veth, gateway addresses, a bridge it created) in reverse order.
 * One rtnetlink socket for the host and one for the container per call; no sleeps.
 */

#include <errno.h>
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
#include "bridge-internal.h"

#define MAX_GWS 16
/* IFLA_IFALIAS of a host veth: "berth bridge <network> <containerID> <ifname>" */
#define OWNER_PREFIX "berth bridge "

struct gw {
	struct berth_ipnet net; /* gateway address with the container address's prefix */
	bool added;             /* added by this ADD (undo removes it) */
	int ifindex;
};

struct add_state {
	const struct berth_cni_call *call;
	struct bridge_conf *conf;
	struct berth_nl *host, *cont;
	int nsfd;
	struct berth_link br, hveth, cveth;
	bool br_created, br_set_up, br_set_promisc;
	struct gw gws[MAX_GWS];
	size_t n_gws;
};

static int oom(berth_error *err)
{
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
}

/* ---- bridge --------------------------------------------------------------------------- */

static int ensure_bridge(struct add_state *s, berth_error *err)
{
	const struct bridge_conf *c = s->conf;
	int r;

	r = berth_link_get_by_name(s->host, c->br_name, &s->br, err);
	if (r == -ENODEV) {
		struct berth_bridge_opts o = {
			.name = c->br_name,
			.mtu = c->mtu,
			.vlan_filtering = bridge_conf_vlan_filtering(c) ? 1 : -1,
		};

		r = berth_link_add_bridge(s->host, &o, err);
		if (r == 0)
			s->br_created = true;
		else if (r != -EEXIST) /* lost a race with a parallel ADD: use theirs */
			return berth_error_prefix(err, "failed to create bridge \"%s\"", c->br_name);
		r = berth_link_get_by_name(s->host, c->br_name, &s->br, err);
	}
	if (r < 0)
		return r;
	if (!STREQ(s->br.kind, "bridge"))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EEXIST,
				       "\"%s\" already exists but is not a bridge", c->br_name);
	/* The reference only sets vlan_filtering on a new bridge, which leaves VLAN configs on an
	 * existing bridge silently ineffective; turn it on (untagged ports keep PVID 1). */
	if (bridge_conf_vlan_filtering(c) && s->br.vlan_filtering == 0) {
		r = berth_link_bridge_set_vlan_filtering(s->host, s->br.ifindex, true, err);
		if (r < 0)
			return r;
	}
	if (c->promisc && !(s->br.flags & IFF_PROMISC)) {
		r = berth_link_set_promisc(s->host, s->br.ifindex, true, err);
		if (r < 0)
			return berth_error_prefix(err, "could not set promiscuous mode on \"%s\"",
						  c->br_name);
		s->br_set_promisc = true;
	}
	if (s->br_created) {
		berth_error ign = { 0 };
		char key[64];

		/* We own the routes of this interface. */
		snprintf(key, sizeof(key), "net/ipv6/conf/%s/accept_ra", c->br_name);
		(void)berth_sysctl_write(key, "0", &ign);
	}
	if (!(s->br.flags & IFF_UP)) {
		r = berth_link_set_up(s->host, s->br.ifindex, true, err);
		if (r < 0)
			return r;
		s->br_set_up = true;
	}
	return 0;
}

/* Remove a bridge this ADD created, or put back the state of one it changed, unless some
 * other ADD attached a port meanwhile. */
static void undo_bridge(struct add_state *s)
{
	_cleanup_free_ struct berth_link *links = NULL;
	berth_error ign = { 0 };
	size_t n = 0;

	if (!s->br.ifindex || !(s->br_created || s->br_set_up || s->br_set_promisc) ||
	    berth_link_list(s->host, &links, &n, &ign) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (links[i].master == s->br.ifindex)
			return;
	if (s->br_created) {
		(void)berth_link_del(s->host, s->br.ifindex, &ign);
		return;
	}
	if (s->br_set_promisc)
		(void)berth_link_set_promisc(s->host, s->br.ifindex, false, &ign);
	if (s->br_set_up)
		(void)berth_link_set_up(s->host, s->br.ifindex, false, &ign);
}

/* ---- veth ------------------------------------------------------------------------------ */

static int random_veth_name(char buf[IF_NAMESIZE])
{
	uint32_t v;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		return -errno;
	snprintf(buf, IF_NAMESIZE, "veth%08x", v);
	return 0;
}

/* Port setup shared by the container veth and the VLAN gateway veth. */
static int setup_port(struct berth_nl *nl, const struct bridge_conf *c, int br_ifindex,
		      int ifindex, bool hairpin, bool isolated, berth_error *err)
{
	int r;

	r = berth_link_set_master(nl, ifindex, br_ifindex, err);
	if (r < 0)
		return berth_error_prefix(err, "failed to connect port to bridge %s", c->br_name);
	if (hairpin && (r = berth_link_port_set_hairpin(nl, ifindex, true, err)) < 0)
		return r;
	if (isolated && (r = berth_link_port_set_isolated(nl, ifindex, true, err)) < 0)
		return r;
	if (bridge_conf_vlan_filtering(c) && !c->preserve_default_vlan) {
		_cleanup_free_ struct berth_vlan *v = NULL;
		size_t n = 0;

		r = berth_link_port_vlan_list(nl, ifindex, &v, &n, err);
		if (r < 0)
			return berth_error_prefix(err, "failed to remove default vlan");
		for (size_t i = 0; i < n; i++)
			if ((r = berth_link_port_vlan_del(nl, ifindex, v[i].vid, 0, false, err)) < 0)
				return berth_error_prefix(err, "failed to remove default vlan");
	}
	if (c->vlan &&
	    (r = berth_link_port_vlan_add(nl, ifindex, (uint16_t)c->vlan, 0, true, true, false, err)) < 0)
		return berth_error_prefix(err, "failed to setup vlan tag");
	for (size_t i = 0; i < c->n_trunk;) {
		size_t j = i;

		/* The access VLAN stays untagged PVID even when the trunk lists it too. */
		if (c->trunk[i] == c->vlan) {
			i++;
			continue;
		}
		/* consecutive ids go in one range request */
		while (j + 1 < c->n_trunk && c->trunk[j + 1] == c->trunk[j] + 1 &&
		       c->trunk[j + 1] != c->vlan)
			j++;
		r = berth_link_port_vlan_add(nl, ifindex, c->trunk[i], c->trunk[j], false, false,
					     false, err);
		if (r < 0)
			return berth_error_prefix(err, "failed to setup vlan trunk");
		i = j + 1;
	}
	/* A trunk without a native VLAN keeps VLAN 1 untagged, as the reference does. */
	if (!c->vlan && c->n_trunk &&
	    (r = berth_link_port_vlan_add(nl, ifindex, 1, 0, true, true, false, err)) < 0)
		return berth_error_prefix(err, "failed to setup default native vlan");
	return berth_link_set_up(nl, ifindex, true, err);
}

static int create_veth(struct add_state *s, berth_error *err)
{
	const struct berth_cni_call *call = s->call;
	const struct bridge_conf *c = s->conf;
	char name[IF_NAMESIZE], alias[256];
	int r;

	/* The owner, on the host side: GC finds leaked veths by it. */
	snprintf(alias, sizeof(alias), "%s%s %s %s", OWNER_PREFIX, call->name, call->container_id,
		 call->ifname);
	if (berth_link_get_by_name(s->cont, call->ifname, &s->cveth, err) == 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EEXIST,
				       "container veth name provided (%s) already exists",
				       call->ifname);
	for (int tries = 0;; tries++) {
		struct berth_veth_opts o = {
			.name = name,
			.peer_name = call->ifname,
			.peer_nsfd = s->nsfd,
			.mtu = c->mtu,
			.peer_mac = c->has_mac ? c->mac : NULL,
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
		return r;
	r = berth_link_get_by_name(s->host, name, &s->hveth, err);
	if (r < 0)
		return r;
	BERTH_FAULT_POINT("bridge-after-veth");
	r = berth_link_get_by_name(s->cont, call->ifname, &s->cveth, err);
	if (r < 0)
		return r;
	return setup_port(s->host, c, s->br.ifindex, s->hveth.ifindex, c->hairpin,
			  c->port_isolation, err);
}

/* ---- gateway addresses ------------------------------------------------------------------ */

/* "<bridge>.<vlan>": one end of a veth pair in the host netns whose other end is an untagged
 * port of the VLAN, so the gateway address sits in the VLAN (the reference's layout). */
static int ensure_vlan_iface(struct add_state *s, struct berth_link *ret, bool *ret_new,
			     berth_error *err)
{
	const struct bridge_conf *c = s->conf;
	struct berth_link peer;
	char name[IF_NAMESIZE * 2], pname[IF_NAMESIZE];
	int r;

	*ret_new = false;
	snprintf(name, sizeof(name), "%s.%d", c->br_name, c->vlan);
	if (strlen(name) >= IF_NAMESIZE)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ENAMETOOLONG,
				       "vlan gateway interface name %s is too long", name);
	r = berth_link_get_by_name(s->host, name, ret, err);
	if (r != -ENODEV)
		return r;
	if ((r = random_veth_name(pname)) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, -r, "getrandom failed");
	r = berth_link_add_veth(s->host,
				&(struct berth_veth_opts){ .name = pname,
							   .peer_name = name,
							   .peer_nsfd = -1,
							   .mtu = s->br.mtu },
				err);
	if (r < 0)
		return berth_error_prefix(err, "failed to create vlan gateway \"%s\"", name);
	*ret_new = true;
	if ((r = berth_link_get_by_name(s->host, pname, &peer, err)) < 0 ||
	    (r = setup_port(s->host, c, s->br.ifindex, peer.ifindex, false, false, err)) < 0 ||
	    (r = berth_link_get_by_name(s->host, name, ret, err)) < 0 ||
	    (r = berth_link_set_up(s->host, ret->ifindex, true, err)) < 0)
		return r;
	return 0;
}

static int ensure_addr(struct add_state *s, const struct berth_link *l, struct gw *g,
		       berth_error *err)
{
	_cleanup_free_ struct berth_addr *addrs = NULL;
	char want[BERTH_IPNET_STRLEN];
	size_t n = 0;
	int r;

	g->ifindex = l->ifindex;
	r = berth_addr_list(s->host, l->ifindex, g->net.ip.family, &addrs, &n, err);
	if (r < 0)
		return r;
	berth_ipnet_format(&g->net, want);
	for (size_t i = 0; i < n; i++) {
		struct berth_ipnet *a = &addrs[i].addr;

		if (a->prefix == g->net.prefix && berth_ip_equal(&a->ip, &g->net.ip))
			return 0;
		if (a->ip.family == AF_INET6 && addrs[i].scope != 0)
			continue; /* link-local */
		if (a->ip.family == AF_INET || berth_ipnet_contains(a, &g->net.ip) ||
		    berth_ipnet_contains(&g->net, &a->ip)) {
			if (!s->conf->force_address)
				return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EEXIST,
						       "\"%s\" already has an IP address different from %s",
						       l->name, want);
			r = berth_addr_del(s->host, l->ifindex, a, err);
			if (r < 0)
				return berth_error_prefix(err, "could not remove IP address from \"%s\"",
							  l->name);
		}
	}
	/* The gateway is ours: no DAD delay before containers can reach it. */
	r = berth_addr_add(s->host, l->ifindex, &g->net, s->conf->enable_dad ? 0 : IFA_F_NODAD, err);
	if (r == -EEXIST)
		return 0;
	if (r < 0)
		return berth_error_prefix(err, "could not add IP address to \"%s\"", l->name);
	g->added = true;
	/* Pin the bridge MAC: otherwise it follows the lowest port MAC as ports come and go. */
	if (l->mac_len)
		(void)berth_link_set_mac(s->host, l->ifindex, l->mac, err);
	return 0;
}

static void undo_addrs(struct add_state *s)
{
	berth_error ign = { 0 };

	for (size_t i = s->n_gws; i-- > 0;)
		if (s->gws[i].added)
			(void)berth_addr_del(s->host, s->gws[i].ifindex, &s->gws[i].net, &ign);
}

static int enable_forwarding(int family, berth_error *err)
{
	const char *key = family == AF_INET ? "net/ipv4/ip_forward" : "net/ipv6/conf/all/forwarding";
	char v[16];

	if (berth_sysctl_read(key, v, sizeof(v), err) == 0 && STREQ(v, "1"))
		return 0;
	return berth_sysctl_write(key, "1", err);
}

/* ---- container side --------------------------------------------------------------------- */

struct cont_sysctls {
	const char *ifname;
	bool enable_dad, has_v6;
};

static int set_cont_sysctls(void *data, berth_error *err)
{
	const struct cont_sysctls *cs = data;
	berth_error ign = { 0 };
	char key[96], v[16];
	int r;

	/* DAD takes seconds; addresses are unique by IPAM (plugins#680). */
	snprintf(key, sizeof(key), "net/ipv6/conf/%s/accept_dad", cs->ifname);
	(void)berth_sysctl_write(key, cs->enable_dad ? "1" : "0", &ign);
	if (cs->enable_dad) {
		snprintf(key, sizeof(key), "net/ipv6/conf/%s/enhanced_dad", cs->ifname);
		(void)berth_sysctl_write(key, "1", &ign);
	}
	snprintf(key, sizeof(key), "net/ipv4/conf/%s/arp_notify", cs->ifname);
	(void)berth_sysctl_write(key, "1", &ign);
	if (!cs->has_v6)
		return 0;
	for (int i = 0; i < 2; i++) {
		const char *ifn = i == 0 ? "lo" : cs->ifname;

		snprintf(key, sizeof(key), "net/ipv6/conf/%s/disable_ipv6", ifn);
		if (berth_sysctl_read(key, v, sizeof(v), &ign) < 0 || STREQ(v, "0"))
			continue;
		r = berth_sysctl_write(key, "0", err);
		if (r < 0)
			return berth_error_prefix(err, "failed to enable IPv6 for interface \"%s\"", ifn);
	}
	snprintf(key, sizeof(key), "net/ipv6/conf/%s/keep_addr_on_down", cs->ifname);
	r = berth_sysctl_write(key, "1", err);
	if (r < 0)
		return berth_error_prefix(err, "failed to enable keep_addr_on_down for \"%s\"",
					  cs->ifname);
	return 0;
}

static int configure_container(struct add_state *s, const struct berth_cni_result *res,
			       berth_error *err)
{
	struct cont_sysctls cs = { .ifname = s->call->ifname, .enable_dad = s->conf->enable_dad };
	int r;

	for (size_t i = 0; i < res->n_ips; i++)
		if (res->ips[i].address.ip.family == AF_INET6)
			cs.has_v6 = true;
	r = berth_netns_run(s->nsfd, set_cont_sysctls, &cs, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < res->n_ips; i++) {
		r = berth_addr_add(s->cont, s->cveth.ifindex, &res->ips[i].address,
				   s->conf->enable_dad ? 0 : IFA_F_NODAD, err);
		if (r < 0)
			return berth_error_prefix(err, "failed to configure %s", s->call->ifname);
	}
	r = berth_link_set_up(s->cont, s->cveth.ifindex, true, err);
	if (r < 0)
		return r;
	/* With enabledad the addresses are usable only once DAD is over (the reference waits
	 * too, up to 5 s); woken by address notifications, not by polling. */
	if (s->conf->enable_dad && cs.has_v6) {
		r = berth_addr_wait_dad(s->nsfd, s->cont, s->cveth.ifindex, 5000, err);
		if (r < 0)
			return berth_error_prefix(err, "failed to settle addresses for \"%s\"",
						  s->call->ifname);
	}
	return berth_route_add_cni(s->cont, s->cveth.ifindex, res, -1, NULL, err);
}

/* ---- result ----------------------------------------------------------------------------- */

static int set_mac(struct berth_cni_result *res, int idx, const struct berth_link *l)
{
	char mac[BERTH_MAC_STRLEN] = "";

	if (l->mac_len == 6)
		berth_mac_format(l->mac, mac);
	return berth_cni_set_str(&res->interfaces[idx].mac, mac);
}

/* Copy the IPAM result's IPs, routes and DNS; the addresses belong to interface 2. */
static int take_ipam_result(struct berth_cni_result *res, struct berth_cni_result *ipam,
			    const struct bridge_conf *c, berth_error *err)
{
	bool default_found[2] = { false, false };

	if (ipam->n_ips == 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL,
				       "IPAM plugin returned missing IP config");
	for (size_t i = 0; i < ipam->n_routes; i++) {
		struct berth_cni_route *rt = &ipam->routes[i];

		if (berth_cni_result_add_routes(res, rt, 1) < 0)
			return oom(err);
		/* The reference only counts a default route with a gateway; one without gets
		 * the gateway filled in when applied, so it counts too (no duplicate route). */
		if (rt->dst.prefix == 0)
			default_found[rt->dst.ip.family == AF_INET6] = true;
	}
	for (size_t i = 0; i < ipam->n_ips; i++) {
		struct berth_cni_ipconfig *ip = &ipam->ips[i];
		struct berth_ip gw = ip->gateway;
		int fam6 = ip->address.ip.family == AF_INET6;

		if (!gw.family && c->is_gw) {
			struct berth_ipnet net = berth_ipnet_network(&ip->address);

			gw = berth_ip_add(&net.ip, 1);
		}
		if (berth_cni_result_add_ip(res, &ip->address, gw.family ? &gw : NULL, 2) < 0)
			return oom(err);
		if (c->is_default_gw && !default_found[fam6]) {
			struct berth_ipnet any = { .ip = { .family = ip->address.ip.family } };

			if (berth_cni_result_add_route(res, &any, gw.family ? &gw : NULL) < 0)
				return oom(err);
			default_found[fam6] = true;
		}
	}
	res->dns = ipam->dns;
	memset(&ipam->dns, 0, sizeof(ipam->dns));
	return 0;
}

/* ---- verbs ------------------------------------------------------------------------------ */

static int cmd_add(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	struct bridge_conf conf;
	_cleanup_nl_ struct berth_nl *host = NULL, *cont = NULL;
	_cleanup_close_ int nsfd = -1;
	_cleanup_cni_result_ struct berth_cni_result *res = NULL, *ipam = NULL;
	struct add_state s = { .call = call, .conf = &conf, .nsfd = -1 };
	struct berth_link vlan_if = { 0 };
	struct berth_nft_owner owner = { call->name, call->container_id, call->ifname };
	bool fwd[2] = { false, false };
	char sandbox_mac[BERTH_MAC_STRLEN];
	berth_error ign = { 0 };
	int r;

	r = bridge_conf_parse(call->config, call->args, &conf, err);
	if (r < 0)
		return r;
	if (conf.ip_masq && (r = berth_nft_masq_backend_ok(conf.ip_masq_backend, err)) < 0)
		goto out;
	if ((r = berth_netns_open(call->netns, &nsfd, err)) < 0 ||
	    (r = berth_nl_open(-1, &host, err)) < 0 || (r = berth_nl_open(nsfd, &cont, err)) < 0)
		goto out;
	s.host = host;
	s.cont = cont;
	s.nsfd = nsfd;

	r = ensure_bridge(&s, err);
	if (r < 0)
		goto undo_bridge;
	r = create_veth(&s, err);
	if (r < 0)
		goto undo_veth;

	res = berth_cni_result_new(call->version);
	if (!res || berth_cni_result_add_interface(res, conf.br_name, NULL, NULL) < 0 ||
	    berth_cni_result_add_interface(res, s.hveth.name, NULL, NULL) < 0 ||
	    berth_cni_result_add_interface(res, call->ifname, berth_mac_format(s.cveth.mac, sandbox_mac),
					   call->netns) < 0) {
		r = oom(err);
		goto undo_veth;
	}

	if (conf.ipam_type) {
		r = berth_cni_delegate(call, conf.ipam_type, "ADD", &ipam, err);
		if (r < 0)
			goto undo_veth;
		BERTH_FAULT_POINT("bridge-after-ipam");
		r = take_ipam_result(res, ipam, &conf, err);
		if (r < 0)
			goto undo_ipam;
		r = configure_container(&s, res, err);
		if (r < 0)
			goto undo_ipam;
		if (conf.is_gw) {
			bool vlan_new = false;

			for (size_t i = 0; i < res->n_ips && s.n_gws < MAX_GWS; i++) {
				struct gw *g;

				if (!res->ips[i].gateway.family)
					continue;
				g = &s.gws[s.n_gws++];
				g->net.ip = res->ips[i].gateway;
				g->net.prefix = res->ips[i].address.prefix;
				if (conf.vlan) {
					if (vlan_if.ifindex == 0) {
						r = ensure_vlan_iface(&s, &vlan_if, &vlan_new, err);
						if (r < 0)
							goto undo_addrs;
						r = berth_cni_result_add_interface(res, vlan_if.name,
							berth_mac_format(vlan_if.mac, sandbox_mac), NULL);
						if (r < 0) {
							r = oom(err);
							goto undo_addrs;
						}
					}
					r = ensure_addr(&s, &vlan_if, g, err);
				} else {
					r = ensure_addr(&s, &s.br, g, err);
				}
				if (r < 0)
					goto undo_addrs;
				fwd[g->net.ip.family == AF_INET6] = true;
			}
		}
		for (int f = 0; f < 2; f++)
			if (fwd[f] && (r = enable_forwarding(f ? AF_INET6 : AF_INET, err)) < 0)
				goto undo_addrs;
		/* ipMasq: one nft transaction adding this container's masquerade elements */
		if (conf.ip_masq && res->n_ips) {
			_cleanup_free_ struct berth_ipnet *a = calloc(res->n_ips, sizeof(*a));

			if (!a) {
				r = oom(err);
				goto undo_addrs;
			}
			for (size_t i = 0; i < res->n_ips; i++)
				a[i] = res->ips[i].address;
			/* own-subnet traffic leaves through the bridge, or its VLAN interface */
			r = berth_nft_masq_add(&owner, a, res->n_ips,
					       vlan_if.ifindex ? vlan_if.name : conf.br_name, err);
			if (r < 0)
				goto undo_nft;
		}
	} else if (!conf.disable_container_iface) {
		r = berth_link_set_up(cont, s.cveth.ifindex, true, err);
		if (r < 0)
			goto undo_veth;
	}
	if (conf.mac_spoof_chk) {
		r = berth_nft_macspoof_add(&owner, s.hveth.name, s.cveth.mac, err);
		if (r < 0)
			goto undo_nft;
	}

	/* MACs last: the bridge takes a port's MAC when the first port joins. */
	if ((r = berth_link_get_by_index(host, s.hveth.ifindex, &s.hveth, err)) < 0 ||
	    (r = berth_link_get_by_index(host, s.br.ifindex, &s.br, err)) < 0)
		goto undo_nft;
	if (set_mac(res, 0, &s.br) < 0 || set_mac(res, 1, &s.hveth) < 0) {
		r = oom(err);
		goto undo_nft;
	}
	if (conf.dns && (r = berth_cni_result_set_dns(res, call->version, conf.dns, err)) < 0)
		goto undo_nft;
	BERTH_FAULT_POINT("bridge-before-result");
	*ret = TAKE_PTR(res);
	r = 0;
	goto out;

undo_nft:
	if (conf.ip_masq)
		(void)berth_nft_masq_del(&owner, false, &ign);
	if (conf.mac_spoof_chk)
		(void)berth_nft_macspoof_del(&owner, false, &ign);
undo_addrs:
	undo_addrs(&s);
undo_ipam:
	if (conf.ipam_type)
		berth_cni_delegate_undo(call, conf.ipam_type);
undo_veth:
	if (s.hveth.ifindex)
		(void)berth_link_del(host, s.hveth.ifindex, &ign);
undo_bridge:
	undo_bridge(&s);
out:
	bridge_conf_free(&conf);
	return r;
}

/*
 * DEL without a reachable netns: the host end found by its owner alias.  When the netns is
 * really gone the kernel took the pair with it; when only its path is gone (a runtime that
 * lost a container whose process lives on) the veth would otherwise stay on the bridge,
 * carrying an address host-local has just released for reuse.
 */
static int del_host_veth(const struct berth_cni_call *call, berth_error *err)
{
	_cleanup_nl_ struct berth_nl *host = NULL;
	_cleanup_free_ struct berth_link *links = NULL;
	char alias[256];
	size_t n = 0;
	int r;

	snprintf(alias, sizeof(alias), "%s%s %s %s", OWNER_PREFIX, call->name, call->container_id,
		 call->ifname);
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

/*
 * Is the container's veth l the one an ADD of this attachment made?  Its host end carries our
 * owner record (alias), or, made by the reference plugin or before owner records, no berth
 * record and a place on the configured bridge.  A veth whose other end is not in the host netns
 * (the container's own pair), or is another attachment's, is not ours: DEL after an ADD that
 * found the name taken must leave it alone.
 */
static bool container_veth_is_ours(const struct berth_cni_call *call, const struct bridge_conf *conf,
				   const struct berth_link *l)
{
	_cleanup_nl_ struct berth_nl *host = NULL;
	struct berth_link peer, br;
	berth_error e = { 0 };
	char alias[256];

	if (l->link_netnsid < 0 || l->link <= 0 || berth_nl_open(-1, &host, &e) < 0 ||
	    berth_link_get_by_index(host, l->link, &peer, &e) < 0 || !STREQ(peer.kind, "veth"))
		return false;
	snprintf(alias, sizeof(alias), "%s%s %s %s", OWNER_PREFIX, call->name, call->container_id,
		 call->ifname);
	if (STREQ(peer.alias, alias))
		return true;
	if (strncmp(peer.alias, OWNER_PREFIX, strlen(OWNER_PREFIX)) == 0)
		return false;
	return peer.master > 0 && berth_link_get_by_name(host, conf->br_name, &br, &e) == 0 &&
	       br.ifindex == peer.master;
}

static int cmd_del(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	struct bridge_conf conf;
	berth_error perr = { 0 };
	int r;

	/* DEL cleans up whatever ADD may have left, also for a config ADD refuses (runtimes call
	 * DEL after a failed ADD and retry it until it succeeds): it needs the owner (name, ID,
	 * ifname), ipam.type, ipMasq and macspoofchk, read leniently. */
	if (bridge_conf_parse(call->config, call->args, &conf, &perr) < 0)
		berth_log_warn("DEL: ignoring config error: %s", perr.msg);
	else
		bridge_conf_free(&conf);
	bridge_conf_parse_del(call->config, &conf);
	if ((r = berth_cni_ipam_del(call, conf.ipam_type, true, err)) < 0)
		goto out;
	/* Without the netns, the host end is looked up by its owner (see del_host_veth). */
	if (!call->netns || !*call->netns || call->netns_gone) {
		if ((r = del_host_veth(call, err)) < 0)
			goto out;
	} else {
		_cleanup_close_ int nsfd = -1;
		_cleanup_nl_ struct berth_nl *cont = NULL;
		struct berth_link l;

		r = berth_netns_open(call->netns, &nsfd, err);
		if (r == -ENOENT) {
			berth_error_clear(err);
			if ((r = del_host_veth(call, err)) < 0)
				goto out;
			goto ipam;
		}
		if (r < 0)
			goto out;
		if ((r = berth_nl_open(nsfd, &cont, err)) < 0)
			goto out;
		r = berth_link_get_by_name(cont, call->ifname, &l, err);
		if (r == 0 && !STREQ(l.kind, "veth")) {
			/* not a veth, so not ours (DEL after an ADD that found the name taken
			 * by another interface): leave it */
			berth_log_warn("DEL: %s in %s is a %s link, not our veth; left alone",
				       call->ifname, call->netns, *l.kind ? l.kind : "physical");
			r = 0;
		} else if (r == 0 && !container_veth_is_ours(call, &conf, &l)) {
			berth_log_warn("DEL: %s in %s is a veth this attachment did not create; left "
				       "alone", call->ifname, call->netns);
			r = 0;
		} else if (r == 0) {
			r = berth_link_del_unlisted(nsfd, l.ifindex, err);
			if (r == -ENODEV)
				r = 0;
		} else if (r == -ENODEV) {
			r = 0;
		}
		if (r < 0)
			goto out;
	}
ipam:
	r = 0;
	berth_error_clear(err);
	/* masquerade and MAC-check elements, from their state files (no netns needed) */
	{
		struct berth_nft_owner owner = { call->name, call->container_id, call->ifname };

		if ((r = berth_nft_masq_del(&owner, conf.ip_masq, err)) < 0 ||
		    (r = berth_nft_macspoof_del(&owner, conf.mac_spoof_chk, err)) < 0)
			goto out;
	}
	r = berth_cni_ipam_del(call, conf.ipam_type, false, err);
out:
	bridge_conf_free(&conf);
	return r;
}

static int cmd_status(const struct berth_cni_call *call, struct berth_cni_result **ret,
		      berth_error *err)
{
	struct bridge_conf conf;
	int r;

	r = bridge_conf_parse(call->config, call->args, &conf, err);
	if (r < 0)
		return r;
	/* ipMasq and macspoofchk keep their state in berth's nft tables */
	if (conf.ip_masq || conf.mac_spoof_chk)
		r = berth_nft_status(conf.ip_masq, conf.mac_spoof_chk, err);
	if (r == 0 && conf.ipam_type)
		r = berth_cni_delegate(call, conf.ipam_type, "STATUS", NULL, err);
	bridge_conf_free(&conf);
	return r;
}

/* Host veths whose owner record names this network and an attachment that is not valid:
 * the runtime lost them (their netns is still alive, or DEL never came). */
static int gc_veths(const char *network, const struct berth_cni_attachment *valid, size_t n_valid,
		    berth_error *err)
{
	_cleanup_nl_ struct berth_nl *host = NULL;
	char prefix[160];
	int r;

	snprintf(prefix, sizeof(prefix), "%s%s ", OWNER_PREFIX, network);
	if ((r = berth_nl_open(-1, &host, err)) < 0)
		return r;
	return berth_link_gc_owned(host, "veth", prefix, valid, n_valid, err);
}

static int cmd_gc(const struct berth_cni_call *call, struct berth_cni_result **ret,
		  berth_error *err)
{
	struct bridge_conf conf;
	int r;

	struct berth_cni_attachment *valid = NULL;
	size_t n_valid = 0;
	bool present = false;
	berth_error nerr = { 0 };
	int nr;

	r = bridge_conf_parse(call->config, call->args, &conf, err);
	if (r < 0)
		return r;
	/* masquerade/MAC-check elements of attachments that are gone; continue past errors */
	nr = berth_cni_valid_attachments(call->config, &valid, &n_valid, &present, &nerr);
	if (nr == 0 && present) {
		berth_error e2 = { 0 };
		int r2;

		nr = gc_veths(call->name, valid, n_valid, &nerr);
		r2 = berth_nft_bridge_gc(call->name, valid, n_valid, &e2);
		if (nr == 0 && r2 < 0) {
			nr = r2;
			nerr = e2;
		}
	}
	berth_cni_attachments_free(valid, n_valid);
	if (conf.ipam_type)
		r = berth_cni_delegate(call, conf.ipam_type, "GC", NULL, err);
	if (r == 0 && nr < 0) {
		*err = nerr;
		r = nr;
	}
	bridge_conf_free(&conf);
	return r;
}

int main(int argc, char **argv)
{
	static const struct berth_cni_plugin plugin = {
		.name = "bridge",
		.add = cmd_add,
		.del = cmd_del,
		.check = bridge_cmd_check,
		.status = cmd_status,
		.gc = cmd_gc,
	};

	/* our host-local, when it is the one CNI_PATH finds, without a fork and exec */
	berth_cni_delegate_builtin(&berth_host_local_plugin);
	return berth_plugin_main(&plugin, argc, argv);
}
