// SPDX-License-Identifier: Apache-2.0
/*
 * bridge CHECK.  As the reference plugin does, each interface of the prevResult is validated
 * on its own: the bridge (host namespace), the container's veth, then the host veth that is
 * its peer and a port of the bridge; after them the container's addresses and routes, and the
 * nftables elements.  The first mismatch is the error, with the reference's wording.
 */

#include <errno.h>
#include <net/if.h>
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
#include "bridge-internal.h"

#define check_fail(err, fmt, a, b) berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT, fmt, a, b)

/* The bridge: the prevResult names it, it exists, is a bridge, has the recorded MAC and the
 * configured promiscuous mode. */
static int check_bridge(struct berth_nl *host, const struct bridge_conf *conf,
			const struct berth_cni_interface *in, struct berth_link *br,
			berth_error *err)
{
	char mac[BERTH_MAC_STRLEN];

	if (!in)
		return check_fail(err, "CNI created bridge %s%s in host namespace was not found",
				  conf->br_name, "");
	if (berth_link_get_by_name(host, conf->br_name, br, err) < 0)
		return check_fail(err, "Interface name %s%s not found", conf->br_name, "");
	if (!STREQ(br->kind, "bridge"))
		return check_fail(err, "Interface %s%s does not have link type of bridge", br->name,
				  "");
	if (in->mac && *in->mac && !STREQ(in->mac, berth_mac_format(br->mac, mac)))
		return check_fail(err, "Bridge interface %s Mac doesn't match: %s", br->name, in->mac);
	if (!!(br->flags & IFF_PROMISC) != conf->promisc)
		return check_fail(err, "Bridge interface %s promiscuous mode does not match the config%s",
				  br->name, "");
	return 0;
}

/* The container's interface: in the prevResult with our netns as sandbox, a veth, with the
 * recorded MAC. */
static int check_container_iface(struct berth_nl *cont, const struct berth_cni_call *call,
				 const struct berth_cni_interface *in, struct berth_link *cv,
				 berth_error *err)
{
	char mac[BERTH_MAC_STRLEN];

	if (!in)
		return check_fail(err, "CNI created interface in container %s%s not found",
				  call->ifname, "");
	if (berth_link_get_by_name(cont, call->ifname, cv, err) < 0)
		return check_fail(err, "Interface name %s%s not found", call->ifname, "");
	if (!STREQ(cv->kind, "veth"))
		return check_fail(err, "Error: Container interface %s%s not of type veth", cv->name,
				  "");
	if (in->mac && *in->mac && !STREQ(in->mac, berth_mac_format(cv->mac, mac)))
		return check_fail(err, "Interface %s Mac doesn't match container Mac: %s", cv->name,
				  in->mac);
	return 0;
}

/* The host veth: one of the prevResult's other host interfaces that is a veth, the peer of the
 * container's and a port of the bridge (others are skipped, as not ours); its recorded MAC,
 * and the port's hairpin and isolation flags as configured. */
static int check_host_veth(struct berth_nl *host, const struct bridge_conf *conf,
			   const struct berth_cni_result *prev, int bi, int ci,
			   const struct berth_link *br, const struct berth_link *cv,
			   struct berth_link *hv, berth_error *err)
{
	char mac[BERTH_MAC_STRLEN];
	bool found = false;

	for (size_t i = 0; i < prev->n_interfaces && !found; i++) {
		const struct berth_cni_interface *in = &prev->interfaces[i];

		if ((int)i == bi || (int)i == ci || !in->name || (in->sandbox && *in->sandbox))
			continue;
		if (berth_link_get_by_name(host, in->name, hv, err) < 0 || !STREQ(hv->kind, "veth"))
			continue;
		if (hv->ifindex != cv->link || hv->link != cv->ifindex || hv->master != br->ifindex)
			continue;
		if (in->mac && *in->mac && !STREQ(in->mac, berth_mac_format(hv->mac, mac)))
			return check_fail(err, "Interface %s Mac doesn't match: %s not found", hv->name,
					  in->mac);
		found = true;
	}
	if (!found)
		return check_fail(err, "CNI veth created for bridge %s%s was not found", conf->br_name,
				  "");
	if (hv->port_hairpin >= 0 && hv->port_hairpin != conf->hairpin)
		return check_fail(err, "hairpin mode of %s%s does not match the config", hv->name, "");
	if (hv->port_isolated >= 0 && hv->port_isolated != conf->port_isolation)
		return check_fail(err, "port isolation of %s%s does not match the config", hv->name,
				  "");
	return 0;
}

/* The port's VLAN membership: the access VLAN as PVID untagged, every trunk VLAN. */
static int check_port_vlans(struct berth_nl *host, const struct bridge_conf *conf,
			    const struct berth_link *hv, berth_error *err)
{
	_cleanup_free_ struct berth_vlan *v = NULL;
	size_t nv = 0, want = conf->vlan ? 1 : 0, have = 0;
	int r;

	if (!bridge_conf_vlan_filtering(conf))
		return 0;
	for (size_t k = 0; k < conf->n_trunk; k++)
		want += conf->trunk[k] != conf->vlan;
	if ((r = berth_link_port_vlan_list(host, hv->ifindex, &v, &nv, err)) < 0)
		return r;
	for (size_t i = 0; i < nv; i++) {
		if (conf->vlan && v[i].vid == conf->vlan && v[i].pvid && v[i].untagged)
			have++;
		for (size_t k = 0; k < conf->n_trunk; k++)
			if (v[i].vid == conf->trunk[k] && v[i].vid != conf->vlan)
				have++;
	}
	if (have < want)
		return check_fail(err, "VLANs of %s%s do not match the config", hv->name, "");
	return 0;
}

/* The masquerade and MAC spoof check elements recorded for the attachment are in the kernel. */
static int check_nft(const struct berth_cni_call *call, const struct bridge_conf *conf,
		     const struct berth_cni_result *prev, berth_error *err)
{
	struct berth_nft_owner owner = { call->name, call->container_id, call->ifname };
	int r;

	if (conf->ip_masq && prev->n_ips && (r = berth_nft_masq_check(&owner, err)) < 0)
		return r;
	if (conf->mac_spoof_chk && (r = berth_nft_macspoof_check(&owner, err)) < 0)
		return r;
	return 0;
}

int bridge_cmd_check(const struct berth_cni_call *call, struct berth_cni_result **ret,
		     berth_error *err)
{
	struct bridge_conf conf;
	_cleanup_nl_ struct berth_nl *host = NULL, *cont = NULL;
	_cleanup_close_ int nsfd = -1;
	const struct berth_cni_result *prev = call->prev_result;
	struct berth_link br, cv, hv;
	int bi = -1, ci = -1, r;

	r = bridge_conf_parse(call->config, call->args, &conf, err);
	if (r < 0)
		return r;
	if (conf.ipam_type && (r = berth_cni_delegate(call, conf.ipam_type, "CHECK", NULL, err)) < 0)
		goto out;
	if (!prev) {
		r = berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				    "Required prevResult missing");
		goto out;
	}
	if ((r = berth_netns_open(call->netns, &nsfd, err)) < 0 ||
	    (r = berth_nl_open(-1, &host, err)) < 0 || (r = berth_nl_open(nsfd, &cont, err)) < 0)
		goto out;
	/* the interfaces whose names we know: the bridge, the container's */
	for (size_t i = 0; i < prev->n_interfaces; i++) {
		const struct berth_cni_interface *in = &prev->interfaces[i];

		if (in->name && STREQ(in->name, conf.br_name) && bi < 0)
			bi = (int)i;
		else if (in->name && STREQ(in->name, call->ifname) && in->sandbox &&
			 STREQ(in->sandbox, call->netns))
			ci = (int)i;
	}
	if ((r = check_bridge(host, &conf, bi < 0 ? NULL : &prev->interfaces[bi], &br, err)) < 0 ||
	    (r = check_container_iface(cont, call, ci < 0 ? NULL : &prev->interfaces[ci], &cv,
				       err)) < 0 ||
	    (r = check_host_veth(host, &conf, prev, bi, ci, &br, &cv, &hv, err)) < 0 ||
	    (r = check_port_vlans(host, &conf, &hv, err)) < 0 ||
	    (r = berth_addr_check_cni(cont, cv.ifindex, prev, ci, err)) < 0 ||
	    (r = berth_route_check_cni(cont, prev, err)) < 0 ||
	    (r = check_nft(call, &conf, prev, err)) < 0)
		goto out;
	r = 0;
out:
	bridge_conf_free(&conf);
	return r;
}
