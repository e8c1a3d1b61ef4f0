// SPDX-License-Identifier: Apache-2.0
/* VRF devices through raw rtnetlink messages built with libnl (libnl-route 3.7 has no VRF
 * table accessor that works on a socket of ours). */

#include <errno.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/attr.h>
#include <netlink/msg.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/netns.h"
#include "berth/vrf.h"
#include "nl-internal.h"

static int nomem(berth_error *err)
{
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
}

struct vlist {
	const char *want; /* a GET by name: keep any kind */
	struct berth_vrf *v;
	size_t n, cap;
};

static int vlist_cb(struct nlmsghdr *nlh, void *arg)
{
	struct vlist *c = arg;
	struct ifinfomsg *ifi = nlmsg_data(nlh);
	struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1], *vd[IFLA_VRF_MAX + 1];
	struct berth_vrf e = { .ifindex = ifi->ifi_index, .up = !!(ifi->ifi_flags & IFF_UP) };

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return 0;
	if (nlmsg_parse(nlh, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0)
		return -EPROTO;
	if (tb[IFLA_IFNAME])
		nla_strlcpy(e.name, tb[IFLA_IFNAME], sizeof(e.name));
	if (tb[IFLA_LINKINFO] && nla_parse_nested(li, IFLA_INFO_MAX, tb[IFLA_LINKINFO], NULL) == 0) {
		if (li[IFLA_INFO_KIND])
			nla_strlcpy(e.kind, li[IFLA_INFO_KIND], sizeof(e.kind));
		if (STREQ(e.kind, "vrf") && li[IFLA_INFO_DATA] &&
		    nla_parse_nested(vd, IFLA_VRF_MAX, li[IFLA_INFO_DATA], NULL) == 0 &&
		    vd[IFLA_VRF_TABLE])
			e.table = nla_get_u32(vd[IFLA_VRF_TABLE]);
	}
	if (!c->want && !STREQ(e.kind, "vrf"))
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct berth_vrf *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = e;
	return 0;
}

static struct nl_msg *link_req(int type, int flags)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct nl_msg *msg = nlmsg_alloc_simple(type, flags);

	if (msg && nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

int berth_vrf_get(struct berth_nl *nl, const char *name, struct berth_vrf *ret, berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = link_req(RTM_GETLINK, 0);
	struct vlist c = { .want = name };
	char what[64];
	int r;

	if (strlen(name) >= IF_NAMESIZE)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "interface name \"%s\" is longer than %d characters", name,
				       IF_NAMESIZE - 1);
	if (!msg || nla_put_string(msg, IFLA_IFNAME, name) < 0 ||
	    nla_put_u32(msg, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS) < 0)
		return nomem(err);
	snprintf(what, sizeof(what), "link \"%s\"", name);
	r = berth_nl_talk(nl, msg, vlist_cb, &c, err, what);
	if (r == 0 && c.n == 0)
		r = berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENODEV, "%s: %s", what,
				    strerror(ENODEV));
	if (r == 0)
		*ret = c.v[0];
	free(c.v);
	return r;
}

int berth_vrf_list(struct berth_nl *nl, struct berth_vrf **ret, size_t *ret_n, berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = link_req(RTM_GETLINK, NLM_F_DUMP);
	struct vlist c = { 0 };
	int r;

	if (!msg || nla_put_u32(msg, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS) < 0)
		return nomem(err);
	r = berth_nl_talk(nl, msg, vlist_cb, &c, err, "list links");
	if (r < 0) {
		free(c.v);
		return r;
	}
	*ret = c.v;
	*ret_n = c.n;
	return 0;
}

int berth_vrf_add(struct berth_nl *nl, const char *name, uint32_t table, berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = link_req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct nlattr *li, *data;
	struct ifinfomsg *ifi;
	char what[64];

	if (!msg)
		return nomem(err);
	ifi = nlmsg_data(nlmsg_hdr(msg));
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	if (nla_put_string(msg, IFLA_IFNAME, name) < 0 || !(li = nla_nest_start(msg, IFLA_LINKINFO)) ||
	    nla_put_string(msg, IFLA_INFO_KIND, "vrf") < 0 ||
	    !(data = nla_nest_start(msg, IFLA_INFO_DATA)) ||
	    nla_put_u32(msg, IFLA_VRF_TABLE, table) < 0)
		return nomem(err);
	nla_nest_end(msg, data);
	nla_nest_end(msg, li);
	snprintf(what, sizeof(what), "could not add VRF %s", name);
	return berth_nl_talk(nl, msg, NULL, NULL, err, what);
}

struct host_route {
	uint32_t table;
	const struct berth_ip *ip;
	int ifindex;
	bool found;
};

static int host_route_cb(struct nlmsghdr *nlh, void *arg)
{
	struct host_route *h = arg;
	struct rtmsg *rtm = nlmsg_data(nlh);
	struct nlattr *tb[RTA_MAX + 1];
	int len = berth_ip_len(h->ip->family);
	uint32_t table;

	if (nlh->nlmsg_type != RTM_NEWROUTE || rtm->rtm_family != h->ip->family ||
	    rtm->rtm_dst_len != len * 8)
		return 0;
	if (nlmsg_parse(nlh, sizeof(*rtm), tb, RTA_MAX, NULL) < 0)
		return -EPROTO;
	table = tb[RTA_TABLE] ? nla_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	if (table == h->table && tb[RTA_DST] && nla_len(tb[RTA_DST]) == len &&
	    memcmp(nla_data(tb[RTA_DST]), h->ip->addr, (size_t)len) == 0 &&
	    (!tb[RTA_OIF] || (int)nla_get_u32(tb[RTA_OIF]) == h->ifindex))
		h->found = true;
	return 0;
}

int berth_vrf_has_host_route(struct berth_nl *nl, uint32_t table, const struct berth_ip *ip,
			     int ifindex, berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_DUMP);
	struct rtmsg rtm = { .rtm_family = (unsigned char)ip->family };
	struct host_route h = { .table = table, .ip = ip, .ifindex = ifindex };
	int r;

	if (!msg || nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0)
		return nomem(err);
	r = berth_nl_talk(nl, msg, host_route_cb, &h, err, "failed to list routes");
	return r < 0 ? r : h.found;
}

static int probe_fn(void *userdata, berth_error *e)
{
	_cleanup_nl_ struct berth_nl *nl = NULL;
	int r;

	if ((r = berth_nl_open(-1, &nl, e)) < 0)
		return r;
	return berth_vrf_add(nl, "vrfprobe", 10, e);
}

int berth_vrf_probe(berth_error *err)
{
	return berth_netns_probe(probe_fn, NULL, "VRF", err);
}
