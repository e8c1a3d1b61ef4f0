// SPDX-License-Identifier: Apache-2.0
/* Links through raw rtnetlink messages built with libnl: libnl-route 3.7 has no API for veth
 * peers in another netns, bridge vlan filtering, port isolation or per-port VLANs. */

#include <errno.h>
#include <fcntl.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netlink/attr.h>
#include <netlink/msg.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/cni-skel.h"
#include "berth/fault.h"
#include "berth/link.h"
#include "berth/log.h"
#include "nl-internal.h"

static struct nl_msg *link_msg(int type, int flags, int family, int ifindex)
{
	struct ifinfomsg ifi = { .ifi_family = (unsigned char)family, .ifi_index = ifindex };
	struct nl_msg *msg = nlmsg_alloc_simple(type, flags);

	if (!msg)
		return NULL;
	if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

static int nomem(berth_error *err)
{
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM,
			       "out of memory building a netlink message");
}

static void parse_linkinfo(struct nlattr *li, struct berth_link *l)
{
	struct nlattr *tb[IFLA_INFO_MAX + 1];

	if (nla_parse_nested(tb, IFLA_INFO_MAX, li, NULL) < 0)
		return;
	if (tb[IFLA_INFO_KIND])
		snprintf(l->kind, sizeof(l->kind), "%.*s", nla_len(tb[IFLA_INFO_KIND]),
			 (char *)nla_data(tb[IFLA_INFO_KIND]));
	if (tb[IFLA_INFO_DATA] && STREQ(l->kind, "bridge")) {
		struct nlattr *br[IFLA_BR_MAX + 1];

		if (nla_parse_nested(br, IFLA_BR_MAX, tb[IFLA_INFO_DATA], NULL) == 0 &&
		    br[IFLA_BR_VLAN_FILTERING])
			l->vlan_filtering = nla_get_u8(br[IFLA_BR_VLAN_FILTERING]);
	}
	if (tb[IFLA_INFO_SLAVE_DATA] && tb[IFLA_INFO_SLAVE_KIND] &&
	    strncmp(nla_data(tb[IFLA_INFO_SLAVE_KIND]), "bridge",
		    (size_t)nla_len(tb[IFLA_INFO_SLAVE_KIND])) == 0) {
		struct nlattr *bp[IFLA_BRPORT_MAX + 1];

		if (nla_parse_nested(bp, IFLA_BRPORT_MAX, tb[IFLA_INFO_SLAVE_DATA], NULL) == 0) {
			if (bp[IFLA_BRPORT_MODE])
				l->port_hairpin = nla_get_u8(bp[IFLA_BRPORT_MODE]);
			if (bp[IFLA_BRPORT_ISOLATED])
				l->port_isolated = nla_get_u8(bp[IFLA_BRPORT_ISOLATED]);
		}
	}
}

static int parse_link(struct nlmsghdr *nlh, struct berth_link *l)
{
	struct nlattr *tb[IFLA_MAX + 1];
	struct ifinfomsg *ifi = nlmsg_data(nlh);
	int r;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return 1;
	r = nlmsg_parse(nlh, sizeof(*ifi), tb, IFLA_MAX, NULL);
	if (r < 0)
		return -EPROTO;
	memset(l, 0, sizeof(*l));
	l->ifindex = ifi->ifi_index;
	l->flags = ifi->ifi_flags;
	l->link_netnsid = -1;
	l->vlan_filtering = -1;
	l->port_hairpin = -1;
	l->port_isolated = -1;
	if (tb[IFLA_IFNAME])
		nla_strlcpy(l->name, tb[IFLA_IFNAME], sizeof(l->name));
	if (tb[IFLA_ADDRESS] && nla_len(tb[IFLA_ADDRESS]) == BERTH_MAC_LEN) {
		memcpy(l->mac, nla_data(tb[IFLA_ADDRESS]), BERTH_MAC_LEN);
		l->mac_len = BERTH_MAC_LEN;
	}
	if (tb[IFLA_MTU])
		l->mtu = (int)nla_get_u32(tb[IFLA_MTU]);
	if (tb[IFLA_OPERSTATE])
		l->operstate = nla_get_u8(tb[IFLA_OPERSTATE]);
	if (tb[IFLA_MASTER])
		l->master = (int)nla_get_u32(tb[IFLA_MASTER]);
	if (tb[IFLA_LINK])
		l->link = (int)nla_get_u32(tb[IFLA_LINK]);
	if (tb[IFLA_LINK_NETNSID])
		l->link_netnsid = (int)nla_get_s32(tb[IFLA_LINK_NETNSID]);
	if (tb[IFLA_IFALIAS])
		nla_strlcpy(l->alias, tb[IFLA_IFALIAS], sizeof(l->alias));
	if (tb[IFLA_LINKINFO])
		parse_linkinfo(tb[IFLA_LINKINFO], l);
	return 0;
}

struct get_ctx {
	struct berth_link *l;
	bool found;
};

static int get_cb(struct nlmsghdr *nlh, void *arg)
{
	struct get_ctx *c = arg;
	int r = parse_link(nlh, c->l);

	if (r == 0)
		c->found = true;
	return r < 0 ? r : 0;
}

static int link_get(struct berth_nl *nl, const char *name, int ifindex, struct berth_link *ret,
		    berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = link_msg(RTM_GETLINK, 0, AF_UNSPEC, ifindex);
	struct get_ctx c = { .l = ret };
	char what[64];
	int r;

	if (!msg)
		return nomem(err);
	if (name) {
		if (strlen(name) >= IF_NAMESIZE)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "interface name \"%s\" is longer than %d characters",
					       name, IF_NAMESIZE - 1);
		if (nla_put_string(msg, IFLA_IFNAME, name) < 0)
			return nomem(err);
		snprintf(what, sizeof(what), "link \"%s\"", name);
	} else {
		snprintf(what, sizeof(what), "link %d", ifindex);
	}
	if (nla_put_u32(msg, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS) < 0)
		return nomem(err);
	r = berth_nl_talk(nl, msg, get_cb, &c, err, what);
	if (r < 0)
		return r;
	if (!c.found)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENODEV, "%s: %s", what,
				       strerror(ENODEV));
	return 0;
}

int berth_link_get_by_name(struct berth_nl *nl, const char *name, struct berth_link *ret,
			   berth_error *err)
{
	return link_get(nl, name, 0, ret, err);
}

int berth_link_get_by_index(struct berth_nl *nl, int ifindex, struct berth_link *ret,
			    berth_error *err)
{
	return link_get(nl, NULL, ifindex, ret, err);
}

struct list_ctx {
	struct berth_link *v;
	size_t n, cap;
};

static int list_cb(struct nlmsghdr *nlh, void *arg)
{
	struct list_ctx *c = arg;
	struct berth_link l;
	int r = parse_link(nlh, &l);

	if (r != 0)
		return r < 0 ? r : 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct berth_link *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = l;
	return 0;
}

int berth_link_list(struct berth_nl *nl, struct berth_link **ret, size_t *ret_n, berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = link_msg(RTM_GETLINK, NLM_F_DUMP, AF_UNSPEC, 0);
	struct list_ctx c = { 0 };
	int r;

	if (!msg || nla_put_u32(msg, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS) < 0)
		return nomem(err);
	r = berth_nl_talk(nl, msg, list_cb, &c, err, "list links");
	if (r < 0) {
		free(c.v);
		return r;
	}
	*ret = c.v;
	*ret_n = c.n;
	return 0;
}

int berth_link_add_veth(struct berth_nl *nl, const struct berth_veth_opts *o, berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg =
		link_msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, AF_UNSPEC, 0);
	struct ifinfomsg peer = { .ifi_family = AF_UNSPEC };
	struct nlattr *li, *data, *p;
	char what[96];
	int r;

	if (!msg)
		return nomem(err);
	if (nla_put_string(msg, IFLA_IFNAME, o->name) < 0 ||
	    (o->mtu > 0 && nla_put_u32(msg, IFLA_MTU, (uint32_t)o->mtu) < 0) ||
	    (o->mac && nla_put(msg, IFLA_ADDRESS, BERTH_MAC_LEN, o->mac) < 0) ||
	    (o->txqlen_zero && nla_put_u32(msg, IFLA_TXQLEN, 0) < 0))
		return nomem(err);
	if (!(li = nla_nest_start(msg, IFLA_LINKINFO)) || nla_put_string(msg, IFLA_INFO_KIND, "veth") < 0 ||
	    !(data = nla_nest_start(msg, IFLA_INFO_DATA)) || !(p = nla_nest_start(msg, VETH_INFO_PEER)) ||
	    nlmsg_append(msg, &peer, sizeof(peer), NLMSG_ALIGNTO) < 0 ||
	    nla_put_string(msg, IFLA_IFNAME, o->peer_name) < 0 ||
	    (o->peer_nsfd >= 0 && nla_put_u32(msg, IFLA_NET_NS_FD, (uint32_t)o->peer_nsfd) < 0) ||
	    (o->mtu > 0 && nla_put_u32(msg, IFLA_MTU, (uint32_t)o->mtu) < 0) ||
	    (o->peer_mac && nla_put(msg, IFLA_ADDRESS, BERTH_MAC_LEN, o->peer_mac) < 0) ||
	    (o->txqlen_zero && nla_put_u32(msg, IFLA_TXQLEN, 0) < 0))
		return nomem(err);
	nla_nest_end(msg, p);
	nla_nest_end(msg, data);
	nla_nest_end(msg, li);
	snprintf(what, sizeof(what), "failed to create veth pair %s/%s", o->name, o->peer_name);
	r = berth_nl_talk(nl, msg, NULL, NULL, err, what);
	if (r < 0 || !o->alias)
		return r;
	/* The kernel ignores IFLA_IFALIAS on create: set it by name right after. */
	nlmsg_free(msg);
	msg = link_msg(RTM_SETLINK, 0, AF_UNSPEC, 0);
	if (!msg || nla_put_string(msg, IFLA_IFNAME, o->name) < 0 ||
	    nla_put_string(msg, IFLA_IFALIAS, o->alias) < 0)
		r = nomem(err);
	else
		r = berth_nl_talk(nl, msg, NULL, NULL, err, "failed to set the veth's alias");
	if (r < 0) {
		berth_error ign = { 0 };
		struct berth_link l;

		if (berth_link_get_by_name(nl, o->name, &l, &ign) == 0)
			(void)berth_link_del(nl, l.ifindex, &ign);
	}
	return r;
}

int berth_link_add_bridge(struct berth_nl *nl, const struct berth_bridge_opts *o, berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg =
		link_msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, AF_UNSPEC, 0);
	struct nlattr *li, *data;
	char what[64];

	if (!msg)
		return nomem(err);
	if (nla_put_string(msg, IFLA_IFNAME, o->name) < 0 ||
	    (o->mtu > 0 && nla_put_u32(msg, IFLA_MTU, (uint32_t)o->mtu) < 0) ||
	    !(li = nla_nest_start(msg, IFLA_LINKINFO)) ||
	    nla_put_string(msg, IFLA_INFO_KIND, "bridge") < 0)
		return nomem(err);
	if (o->vlan_filtering >= 0) {
		if (!(data = nla_nest_start(msg, IFLA_INFO_DATA)) ||
		    nla_put_u8(msg, IFLA_BR_VLAN_FILTERING, o->vlan_filtering ? 1 : 0) < 0)
			return nomem(err);
		nla_nest_end(msg, data);
	}
	nla_nest_end(msg, li);
	snprintf(what, sizeof(what), "failed to create bridge %s", o->name);
	return berth_nl_talk(nl, msg, NULL, NULL, err, what);
}

int berth_link_bridge_set_vlan_filtering(struct berth_nl *nl, int ifindex, bool on,
					 berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = link_msg(RTM_NEWLINK, 0, AF_UNSPEC, ifindex);
	struct nlattr *li, *data;

	if (!msg || !(li = nla_nest_start(msg, IFLA_LINKINFO)) ||
	    nla_put_string(msg, IFLA_INFO_KIND, "bridge") < 0 ||
	    !(data = nla_nest_start(msg, IFLA_INFO_DATA)) ||
	    nla_put_u8(msg, IFLA_BR_VLAN_FILTERING, on ? 1 : 0) < 0)
		return nomem(err);
	nla_nest_end(msg, data);
	nla_nest_end(msg, li);
	return berth_nl_talk(nl, msg, NULL, NULL, err, "failed to set vlan_filtering");
}

static int set_flags(struct berth_nl *nl, int ifindex, unsigned int flag, bool on,
		     berth_error *err, const char *what)
{
	_cleanup_nlmsg_ struct nl_msg *msg = link_msg(RTM_SETLINK, 0, AF_UNSPEC, ifindex);
	struct ifinfomsg *ifi;

	if (!msg)
		return nomem(err);
	ifi = nlmsg_data(nlmsg_hdr(msg));
	ifi->ifi_flags = on ? flag : 0;
	ifi->ifi_change = flag;
	return berth_nl_talk(nl, msg, NULL, NULL, err, what);
}

int berth_link_set_up(struct berth_nl *nl, int ifindex, bool up, berth_error *err)
{
	return set_flags(nl, ifindex, IFF_UP, up, err, up ? "failed to set link up" :
							    "failed to set link down");
}

int berth_link_set_promisc(struct berth_nl *nl, int ifindex, bool on, berth_error *err)
{
	return set_flags(nl, ifindex, IFF_PROMISC, on, err, "failed to set promiscuous mode");
}

int berth_link_set_allmulti(struct berth_nl *nl, int ifindex, bool on, berth_error *err)
{
	return set_flags(nl, ifindex, IFF_ALLMULTI, on, err, "failed to set allmulticast mode");
}

static int set_u32(struct berth_nl *nl, int ifindex, int attr, uint32_t v, berth_error *err,
		   const char *what)
{
	_cleanup_nlmsg_ struct nl_msg *msg = link_msg(RTM_SETLINK, 0, AF_UNSPEC, ifindex);

	if (!msg || nla_put_u32(msg, attr, v) < 0)
		return nomem(err);
	return berth_nl_talk(nl, msg, NULL, NULL, err, what);
}

int berth_link_set_mtu(struct berth_nl *nl, int ifindex, int mtu, berth_error *err)
{
	return set_u32(nl, ifindex, IFLA_MTU, (uint32_t)mtu, err, "failed to set mtu");
}

int berth_link_set_txqlen(struct berth_nl *nl, int ifindex, int txqlen, berth_error *err)
{
	return set_u32(nl, ifindex, IFLA_TXQLEN, (uint32_t)txqlen, err, "failed to set txqlen");
}

int berth_link_set_master(struct berth_nl *nl, int ifindex, int master, berth_error *err)
{
	return set_u32(nl, ifindex, IFLA_MASTER, (uint32_t)master, err, "failed to set master");
}

int berth_link_set_mac(struct berth_nl *nl, int ifindex, const uint8_t mac[BERTH_MAC_LEN],
		       berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = link_msg(RTM_SETLINK, 0, AF_UNSPEC, ifindex);

	if (!msg || nla_put(msg, IFLA_ADDRESS, BERTH_MAC_LEN, mac) < 0)
		return nomem(err);
	return berth_nl_talk(nl, msg, NULL, NULL, err, "failed to set mac address");
}

int berth_link_set_netns(struct berth_nl *nl, int ifindex, int nsfd, const char *new_name,
			 berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = link_msg(RTM_SETLINK, 0, AF_UNSPEC, ifindex);

	if (!msg || nla_put_u32(msg, IFLA_NET_NS_FD, (uint32_t)nsfd) < 0 ||
	    (new_name && nla_put_string(msg, IFLA_IFNAME, new_name) < 0))
		return nomem(err);
	return berth_nl_talk(nl, msg, NULL, NULL, err, "failed to move link to netns");
}

int berth_link_set_name(struct berth_nl *nl, int ifindex, const char *name, berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = link_msg(RTM_SETLINK, 0, AF_UNSPEC, ifindex);

	if (!msg || nla_put_string(msg, IFLA_IFNAME, name) < 0)
		return nomem(err);
	return berth_nl_talk(nl, msg, NULL, NULL, err, "failed to rename link");
}

static int port_set_u8(struct berth_nl *nl, int ifindex, int attr, uint8_t v, berth_error *err,
		       const char *what)
{
	_cleanup_nlmsg_ struct nl_msg *msg = link_msg(RTM_NEWLINK, 0, AF_UNSPEC, ifindex);
	struct nlattr *li, *data;

	if (!msg || !(li = nla_nest_start(msg, IFLA_LINKINFO)) ||
	    nla_put_string(msg, IFLA_INFO_SLAVE_KIND, "bridge") < 0 ||
	    !(data = nla_nest_start(msg, IFLA_INFO_SLAVE_DATA)) || nla_put_u8(msg, attr, v) < 0)
		return nomem(err);
	nla_nest_end(msg, data);
	nla_nest_end(msg, li);
	return berth_nl_talk(nl, msg, NULL, NULL, err, what);
}

int berth_link_port_set_hairpin(struct berth_nl *nl, int ifindex, bool on, berth_error *err)
{
	return port_set_u8(nl, ifindex, IFLA_BRPORT_MODE, on, err, "failed to set hairpin mode");
}

int berth_link_port_set_isolated(struct berth_nl *nl, int ifindex, bool on, berth_error *err)
{
	return port_set_u8(nl, ifindex, IFLA_BRPORT_ISOLATED, on, err,
			   "failed to set port isolation");
}

static int port_vlan(struct berth_nl *nl, int type, int ifindex, uint16_t vid, uint16_t vid_end,
		     bool pvid, bool untagged, bool self, berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = link_msg(type, 0, AF_BRIDGE, ifindex);
	struct bridge_vlan_info vi = { 0 };
	struct nlattr *spec;
	char what[80];

	if (vid < 1 || vid > 4094 || (vid_end && (vid_end < vid || vid_end > 4094)))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "invalid VLAN range %u-%u", vid, vid_end);
	if (vid_end == vid)
		vid_end = 0;
	if (!msg || !(spec = nla_nest_start(msg, IFLA_AF_SPEC)) ||
	    nla_put_u16(msg, IFLA_BRIDGE_FLAGS, self ? BRIDGE_FLAGS_SELF : BRIDGE_FLAGS_MASTER) < 0)
		return nomem(err);
	if (pvid)
		vi.flags |= BRIDGE_VLAN_INFO_PVID;
	if (untagged)
		vi.flags |= BRIDGE_VLAN_INFO_UNTAGGED;
	vi.vid = vid;
	if (vid_end) {
		vi.flags |= BRIDGE_VLAN_INFO_RANGE_BEGIN;
		if (nla_put(msg, IFLA_BRIDGE_VLAN_INFO, sizeof(vi), &vi) < 0)
			return nomem(err);
		vi.flags &= (uint16_t)~BRIDGE_VLAN_INFO_RANGE_BEGIN;
		vi.flags |= BRIDGE_VLAN_INFO_RANGE_END;
		vi.vid = vid_end;
	}
	if (nla_put(msg, IFLA_BRIDGE_VLAN_INFO, sizeof(vi), &vi) < 0)
		return nomem(err);
	nla_nest_end(msg, spec);
	if (vid_end)
		snprintf(what, sizeof(what), "failed to %s VLANs %u-%u", type == RTM_SETLINK ? "add" : "delete",
			 vid, vid_end);
	else
		snprintf(what, sizeof(what), "failed to %s VLAN %u", type == RTM_SETLINK ? "add" : "delete",
			 vid);
	return berth_nl_talk(nl, msg, NULL, NULL, err, what);
}

int berth_link_port_vlan_add(struct berth_nl *nl, int ifindex, uint16_t vid, uint16_t vid_end,
			     bool pvid, bool untagged, bool self, berth_error *err)
{
	return port_vlan(nl, RTM_SETLINK, ifindex, vid, vid_end, pvid, untagged, self, err);
}

int berth_link_port_vlan_del(struct berth_nl *nl, int ifindex, uint16_t vid, uint16_t vid_end,
			     bool self, berth_error *err)
{
	return port_vlan(nl, RTM_DELLINK, ifindex, vid, vid_end, false, false, self, err);
}

struct vlan_ctx {
	int ifindex;
	struct berth_vlan *v;
	size_t n, cap;
};

static int vlan_push(struct vlan_ctx *c, uint16_t vid, uint16_t flags)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct berth_vlan *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = (struct berth_vlan){ .vid = vid,
					    .pvid = flags & BRIDGE_VLAN_INFO_PVID,
					    .untagged = flags & BRIDGE_VLAN_INFO_UNTAGGED };
	return 0;
}

static int vlan_cb(struct nlmsghdr *nlh, void *arg)
{
	struct vlan_ctx *c = arg;
	struct ifinfomsg *ifi = nlmsg_data(nlh);
	struct nlattr *tb[IFLA_MAX + 1], *a;
	uint16_t begin = 0;
	int rem, r;

	if (nlh->nlmsg_type != RTM_NEWLINK || ifi->ifi_index != c->ifindex)
		return 0;
	if (nlmsg_parse(nlh, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0)
		return -EPROTO;
	if (!tb[IFLA_AF_SPEC])
		return 0;
	nla_for_each_nested(a, tb[IFLA_AF_SPEC], rem) {
		struct bridge_vlan_info *vi;

		if (nla_type(a) != IFLA_BRIDGE_VLAN_INFO || nla_len(a) < (int)sizeof(*vi))
			continue;
		vi = nla_data(a);
		if (vi->flags & BRIDGE_VLAN_INFO_RANGE_BEGIN) {
			begin = vi->vid;
			continue;
		}
		if (vi->flags & BRIDGE_VLAN_INFO_RANGE_END) {
			for (unsigned int v = begin; v <= vi->vid; v++)
				if ((r = vlan_push(c, (uint16_t)v, vi->flags)) < 0)
					return r;
			continue;
		}
		if ((r = vlan_push(c, vi->vid, vi->flags)) < 0)
			return r;
	}
	return 0;
}

int berth_link_port_vlan_list(struct berth_nl *nl, int ifindex, struct berth_vlan **ret,
			      size_t *ret_n, berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = link_msg(RTM_GETLINK, NLM_F_DUMP, AF_BRIDGE, 0);
	struct vlan_ctx c = { .ifindex = ifindex };
	int r;

	if (!msg || nla_put_u32(msg, IFLA_EXT_MASK, RTEXT_FILTER_BRVLAN) < 0)
		return nomem(err);
	r = berth_nl_talk(nl, msg, vlan_cb, &c, err, "failed to list VLANs");
	if (r < 0) {
		free(c.v);
		return r;
	}
	*ret = c.v;
	*ret_n = c.n;
	return 0;
}

int berth_link_del(struct berth_nl *nl, int ifindex, berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = link_msg(RTM_DELLINK, 0, AF_UNSPEC, ifindex);

	if (!msg)
		return nomem(err);
	return berth_nl_talk(nl, msg, NULL, NULL, err, "failed to delete link");
}

int berth_link_gc_owned(struct berth_nl *nl, const char *kind, const char *alias_prefix,
			const struct berth_cni_attachment *valid, size_t n_valid, berth_error *err)
{
	_cleanup_free_ struct berth_link *links = NULL;
	size_t n = 0, plen = strlen(alias_prefix);
	int r, ret = 0;

	if ((r = berth_link_list(nl, &links, &n, err)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		char id[200], ifname[IF_NAMESIZE + 1];
		berth_error e = { 0 };

		if (!STREQ(links[i].kind, kind) || strncmp(links[i].alias, alias_prefix, plen) != 0)
			continue;
		if (sscanf(links[i].alias + plen, "%199s %16s", id, ifname) != 2 ||
		    berth_cni_attachment_valid(valid, n_valid, id, ifname))
			continue;
		berth_log_info("GC: removing %s of %s/%s", links[i].name, id, ifname);
		r = berth_link_del(nl, links[i].ifindex, &e);
		if (r < 0 && r != -ENODEV && ret == 0) {
			*err = e;
			ret = r;
		}
	}
	return ret;
}

/*
 * RTM_DELLINK does its work in two steps before it acks: under RTNL the kernel closes and
 * unlists the device (it is gone from every lookup and dump, its name is free, RTM_DELLINK goes
 * out on RTNLGRP_LINK) and, for a veth, its peer in the same batch; then, after RTNL is dropped,
 * netdev_run_todo() waits for RCU callbacks and the last references (rcu_barrier), 15-25 ms
 * here and most of a bridge DEL.  So the request goes out from a child that holds nothing of
 * ours (no stdout: a runtime reading our reply does not wait for it), and we return once the
 * multicast says the device is gone, or with the child's error.  Later RTNL users (an ADD
 * reusing the name) serialise behind the rest of the batch anyway.
 */
static void del_child(int nsfd, int ifindex, int wfd)
{
	struct berth_nl *req = NULL;
	berth_error e = { 0 };
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	unsigned keep[2] = { (unsigned)wfd, nsfd >= 0 ? (unsigned)nsfd : (unsigned)wfd }, from = 3;

	/* /dev/null on 0-2 (a netlink socket landing on fd 2 would receive our log lines),
	 * then nothing but the netns and the pipe */
	for (int fd = 0; fd < 3; fd++)
		if (null >= 0 && fd != nsfd && fd != wfd)
			dup2(null, fd);
	if (keep[0] > keep[1]) {
		unsigned t = keep[0];
		keep[0] = keep[1];
		keep[1] = t;
	}
	for (int i = 0; i < 2; i++) {
		if (keep[i] > from)
			close_range(from, keep[i] - 1, 0);
		if (keep[i] + 1 > from)
			from = keep[i] + 1;
	}
	close_range(from, ~0U, 0);
	BERTH_FAULT_POINT("link-del-child");
	if (berth_nl_open(nsfd, &req, &e) == 0)
		(void)berth_link_del(req, ifindex, &e);
	(void)!write(wfd, &e, sizeof(e));
	_exit(0);
}

/* 1 when buf holds RTM_DELLINK for ifindex */
static int saw_dellink(void *buf, int len, int ifindex)
{
	for (struct nlmsghdr *h = buf; nlmsg_ok(h, len); h = nlmsg_next(h, &len)) {
		const struct ifinfomsg *ifi = nlmsg_data(h);

		if (h->nlmsg_type == RTM_DELLINK && nlmsg_datalen(h) >= (int)sizeof(*ifi) &&
		    ifi->ifi_index == ifindex)
			return 1;
	}
	return 0;
}

int berth_link_del_unlisted(int nsfd, int ifindex, berth_error *err)
{
	_cleanup_nl_ struct berth_nl *mon = NULL, *req = NULL;
	_cleanup_close_ int rfd = -1;
	int p[2], r, monfd = -1;
	pid_t pid;

	if (getenv("BERTH_LINK_SYNC_DEL")) {
		if ((r = berth_nl_open(nsfd, &req, err)) < 0)
			return r;
		return berth_link_del(req, ifindex, err);
	}
	if ((r = berth_nl_open(nsfd, &mon, err)) < 0)
		return r;
	nl_socket_disable_seq_check(mon->sk);
	/* without the membership (refused), the child's ack tells instead */
	if (nl_socket_add_membership(mon->sk, RTNLGRP_LINK) == 0)
		monfd = nl_socket_get_fd(mon->sk);
	if (pipe2(p, O_CLOEXEC) < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "pipe");
	rfd = p[0];
	pid = fork();
	if (pid == 0)
		del_child(nsfd, ifindex, p[1]);
	close(p[1]);
	if (pid < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "fork");

	for (;;) {
		struct pollfd pfd[2] = { { .fd = rfd, .events = POLLIN },
					 { .fd = monfd, .events = POLLIN } };

		if (poll(pfd, monfd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "poll");
		}
		if (pfd[0].revents) {
			berth_error e = { 0 };
			ssize_t n = read(rfd, &e, sizeof(e));

			if (n != (ssize_t)sizeof(e))
				return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EIO,
						       "failed to delete link: helper process died");
			if (e.errnum) {
				if (err)
					*err = e;
				return -e.errnum;
			}
			return 0;
		}
		if (pfd[1].revents) {
			unsigned char *buf = NULL;
			struct sockaddr_nl sa;
			int n = nl_recv(mon->sk, &sa, &buf, NULL);

			if (n > 0 && saw_dellink(buf, n, ifindex)) {
				free(buf);
				return 0;
			}
			free(buf);
			if (n < 0) /* overrun (ENOBUFS) on a busy host: the ack will tell */
				monfd = -1;
		}
	}
}

int berth_link_set_alias(struct berth_nl *nl, int ifindex, const char *alias, berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = link_msg(RTM_SETLINK, 0, AF_UNSPEC, ifindex);

	/* an empty IFLA_IFALIAS removes the alias */
	if (!msg || nla_put(msg, IFLA_IFALIAS, (int)strlen(alias ? alias : ""), alias ? alias : "") < 0)
		return nomem(err);
	return berth_nl_talk(nl, msg, NULL, NULL, err, "failed to set the alias");
}
