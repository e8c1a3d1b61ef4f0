// SPDX-License-Identifier: Apache-2.0
/* Stacked links (macvlan, ipvlan, vlan ...) created into another netns: raw rtnetlink with
 * libnl, since libnl-route's link objects cannot target another netns. */

#include <errno.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <netlink/attr.h>
#include <netlink/msg.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/fault.h"
#include "berth/netns.h"
#include "berth/route.h"
#include "berth/sublink.h"
#include "nl-internal.h"

static int nomem(berth_error *err)
{
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM,
			       "out of memory building a netlink message");
}

static struct nl_msg *ifi_msg(int type, int flags, int ifindex, unsigned up_change, bool up)
{
	struct ifinfomsg ifi = {
		.ifi_family = AF_UNSPEC,
		.ifi_index = ifindex,
		.ifi_flags = up ? IFF_UP : 0,
		.ifi_change = up_change,
	};
	struct nl_msg *msg = nlmsg_alloc_simple(type, flags);

	if (msg && nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

static int put_attr(struct nl_msg *msg, const struct berth_sublink_attr *a)
{
	switch (a->size) {
	case 1:
		return nla_put_u8(msg, a->type, (uint8_t)a->value);
	case 2:
		return nla_put_u16(msg, a->type, (uint16_t)a->value);
	default:
		return nla_put_u32(msg, a->type, a->value);
	}
}

static int create(struct berth_nl *nl, const struct berth_sublink_opts *o, const char *name,
		  berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg =
		ifi_msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, 0, false);
	struct nlattr *li, *data;
	char what[64];

	if (!msg || nla_put_string(msg, IFLA_IFNAME, name) < 0 ||
	    nla_put_u32(msg, IFLA_LINK, (uint32_t)o->parent) < 0 ||
	    (o->nsfd >= 0 && nla_put_u32(msg, IFLA_NET_NS_FD, (uint32_t)o->nsfd) < 0) ||
	    (o->mtu > 0 && nla_put_u32(msg, IFLA_MTU, (uint32_t)o->mtu) < 0) ||
	    (o->txqlen_zero && nla_put_u32(msg, IFLA_TXQLEN, 0) < 0) ||
	    (o->mac && nla_put(msg, IFLA_ADDRESS, BERTH_MAC_LEN, o->mac) < 0) ||
	    !(li = nla_nest_start(msg, IFLA_LINKINFO)) ||
	    nla_put_string(msg, IFLA_INFO_KIND, o->kind) < 0)
		return nomem(err);
	if (o->n_data) {
		if (!(data = nla_nest_start(msg, IFLA_INFO_DATA)))
			return nomem(err);
		for (size_t i = 0; i < o->n_data && i < BERTH_SUBLINK_MAX_ATTRS; i++)
			if (put_attr(msg, &o->data[i]) < 0)
				return nomem(err);
		nla_nest_end(msg, data);
	}
	nla_nest_end(msg, li);
	snprintf(what, sizeof(what), "failed to create %s", o->kind);
	return berth_nl_talk(nl, msg, NULL, NULL, err, what);
}

static int rename_up(struct berth_nl *nl, const struct berth_sublink_opts *o, int ifindex,
		     berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg =
		ifi_msg(RTM_SETLINK, 0, ifindex, o->up ? IFF_UP : 0, o->up);
	char what[80];

	if (!msg || nla_put_string(msg, IFLA_IFNAME, o->name) < 0 ||
	    (o->alias && nla_put_string(msg, IFLA_IFALIAS, o->alias) < 0))
		return nomem(err);
	snprintf(what, sizeof(what), "failed to rename %s to \"%s\"", o->kind, o->name);
	return berth_nl_talk(nl, msg, NULL, NULL, err, what);
}

/* Create under the temporary name: a random one (retried on a clash), or o->tmp_name, whose
 * link of our kind in the target is what a crash before the rename left: replaced. */
static int create_tmp(struct berth_nl *nl, struct berth_nl *target,
		      const struct berth_sublink_opts *o, char tmp[IF_NAMESIZE], berth_error *err)
{
	berth_error ign = { 0 };
	struct berth_link old;
	int r;

	if (o->tmp_name) {
		snprintf(tmp, IF_NAMESIZE, "%s", o->tmp_name);
		r = create(nl, o, tmp, err);
		if (r != -EEXIST || berth_link_get_by_name(target, tmp, &old, &ign) < 0 ||
		    !STREQ(old.kind, o->kind) || berth_link_del(target, old.ifindex, &ign) < 0)
			return r;
		return create(nl, o, tmp, err);
	}
	for (int tries = 0;; tries++) {
		uint32_t v;

		if (getrandom(&v, sizeof(v), 0) != sizeof(v))
			return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "getrandom");
		snprintf(tmp, IF_NAMESIZE, "bt%08x", v);
		r = create(nl, o, tmp, err);
		if (r != -EEXIST || tries == 8)
			return r;
	}
}

int berth_sublink_add(struct berth_nl *nl, struct berth_nl *target,
		      const struct berth_sublink_opts *o, struct berth_link *ret, berth_error *err)
{
	berth_error ign = { 0 };
	char tmp[IF_NAMESIZE];
	int r;

	if (strlen(o->name) >= IF_NAMESIZE)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "interface name \"%s\" is longer than %d characters", o->name,
				       IF_NAMESIZE - 1);
	/* A taken final name shows up as EEXIST from the create (same netns) or the rename
	 * (which then removes the new link): no lookup first on the common path. */
	if (o->nsfd < 0 && !o->tmp_name) {
		/* same netns: the final name at once */
		r = create(nl, o, o->name, err);
		if (r == -EEXIST)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EEXIST,
					       "%s: name \"%s\" already exists", o->kind, o->name);
		if (r < 0)
			return r;
		if ((r = berth_link_get_by_name(target, o->name, ret, err)) < 0)
			return r;
		if ((o->up || o->alias) && (r = rename_up(target, o, ret->ifindex, err)) < 0)
			goto undo;
		if (o->up)
			ret->flags |= IFF_UP;
		return 0;
	}
	if ((r = create_tmp(nl, target, o, tmp, err)) < 0)
		return r;
	if ((r = berth_link_get_by_name(target, tmp, ret, err)) < 0)
		return r; /* unlisted meanwhile: nothing to undo */
	BERTH_FAULT_POINT("sublink-after-create");
	r = rename_up(target, o, ret->ifindex, err);
	if (r == -EEXIST)
		berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EEXIST,
				"%s: name \"%s\" already exists", o->kind, o->name);
	if (r < 0)
		goto undo;
	snprintf(ret->name, sizeof(ret->name), "%s", o->name);
	if (o->up)
		ret->flags |= IFF_UP;
	return 0;
undo:
	(void)berth_link_del(target, ret->ifindex, &ign);
	return r;
}

/* In the probe's netns: a veth parent and the link on it. */
static int probe_fn(void *userdata, berth_error *e)
{
	_cleanup_nl_ struct berth_nl *nl = NULL;
	struct berth_veth_opts vo = { .name = "probe0", .peer_name = "probe1", .peer_nsfd = -1 };
	struct berth_sublink_opts o = *(const struct berth_sublink_opts *)userdata;
	struct berth_link parent, l;
	int r;

	if ((r = berth_nl_open(-1, &nl, e)) < 0 || (r = berth_link_add_veth(nl, &vo, e)) < 0 ||
	    (r = berth_link_get_by_name(nl, "probe0", &parent, e)) < 0)
		return r;
	o.parent = parent.ifindex;
	o.nsfd = -1;
	o.name = "probe2";
	o.tmp_name = NULL;
	o.mac = NULL;
	o.alias = NULL;
	o.mtu = 0;
	return berth_sublink_add(nl, nl, &o, &l, e);
}

int berth_sublink_probe(const struct berth_sublink_opts *o, berth_error *err)
{
	return berth_netns_probe(probe_fn, (void *)o, o->kind, err);
}

struct info_ctx {
	struct berth_sublink_info *i;
	bool found;
};

static int info_cb(struct nlmsghdr *nlh, void *arg)
{
	struct info_ctx *c = arg;
	struct berth_sublink_info *in = c->i;
	struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1], *d;
	int rem;

	if (nlh->nlmsg_type != RTM_NEWLINK ||
	    nlmsg_parse(nlh, sizeof(struct ifinfomsg), tb, IFLA_MAX, NULL) < 0)
		return 0;
	c->found = true;
	if (tb[IFLA_LINK])
		in->parent = (int)nla_get_u32(tb[IFLA_LINK]);
	if (tb[IFLA_LINK_NETNSID])
		in->link_netnsid = (int)nla_get_s32(tb[IFLA_LINK_NETNSID]);
	if (tb[IFLA_MTU])
		in->mtu = (int)nla_get_u32(tb[IFLA_MTU]);
	if (tb[IFLA_TXQLEN])
		in->txqlen = nla_get_u32(tb[IFLA_TXQLEN]);
	if (!tb[IFLA_LINKINFO] || nla_parse_nested(li, IFLA_INFO_MAX, tb[IFLA_LINKINFO], NULL) < 0)
		return 0;
	if (li[IFLA_INFO_KIND])
		snprintf(in->kind, sizeof(in->kind), "%.*s", nla_len(li[IFLA_INFO_KIND]),
			 (char *)nla_data(li[IFLA_INFO_KIND]));
	if (!li[IFLA_INFO_DATA])
		return 0;
	nla_for_each_nested(d, li[IFLA_INFO_DATA], rem) {
		int t = nla_type(d);

		if (t <= 0 || t >= BERTH_SUBLINK_INFO_MAX)
			continue;
		switch (nla_len(d)) {
		case 1:
			in->value[t] = nla_get_u8(d);
			break;
		case 2:
			in->value[t] = nla_get_u16(d);
			break;
		case 4:
			in->value[t] = nla_get_u32(d);
			break;
		default:
			continue;
		}
		in->present[t] = true;
	}
	return 0;
}

int berth_sublink_info(struct berth_nl *nl, int ifindex, struct berth_sublink_info *ret,
		       berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = ifi_msg(RTM_GETLINK, 0, ifindex, 0, false);
	struct info_ctx c = { .i = ret };
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->link_netnsid = -1;
	if (!msg || nla_put_u32(msg, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS) < 0)
		return nomem(err);
	r = berth_nl_talk(nl, msg, info_cb, &c, err, "failed to get link");
	if (r < 0)
		return r;
	if (!c.found)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENODEV, "link %d: %s", ifindex,
				       strerror(ENODEV));
	return 0;
}

int berth_sublink_default_route_iface(struct berth_nl *nl, char ret_name[IF_NAMESIZE],
				      berth_error *err)
{
	static const int families[] = { AF_INET, AF_INET6 };

	for (size_t f = 0; f < ARRAY_SIZE(families); f++) {
		_cleanup_free_ struct berth_route *rt = NULL;
		size_t n = 0;
		int r;

		if ((r = berth_route_list(nl, families[f], 0, &rt, &n, err)) < 0)
			return r;
		for (size_t i = 0; i < n; i++) {
			struct berth_link l;

			if (rt[i].dst.prefix != 0 || rt[i].ifindex <= 0)
				continue;
			if ((r = berth_link_get_by_index(nl, rt[i].ifindex, &l, err)) < 0)
				return r;
			snprintf(ret_name, IF_NAMESIZE, "%s", l.name);
			return 0;
		}
	}
	return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ENOENT,
			       "no default route interface found");
}
