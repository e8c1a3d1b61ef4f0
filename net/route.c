// SPDX-License-Identifier: Apache-2.0
/* Unicast routes through rtnetlink. */

#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/attr.h>
#include <netlink/msg.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/route.h"
#include "nl-internal.h"

void berth_route_init(struct berth_route *r)
{
	memset(r, 0, sizeof(*r));
	r->scope = -1;
}

static int nomem(berth_error *err)
{
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
}

static struct nl_msg *route_msg(int type, int flags, const struct berth_route *r, bool del)
{
	int family = r->dst.ip.family, len = berth_ip_len(family);
	int table = r->table ? r->table : RT_TABLE_MAIN;
	struct rtmsg rtm = {
		.rtm_family = (unsigned char)family,
		.rtm_dst_len = (unsigned char)r->dst.prefix,
		.rtm_table = table < 256 ? (unsigned char)table : RT_TABLE_UNSPEC,
		.rtm_protocol = del ? 0 : (unsigned char)(r->protocol ? r->protocol : RTPROT_BOOT),
		.rtm_type = RTN_UNICAST,
	};
	struct berth_ipnet net = berth_ipnet_network(&r->dst);
	struct nl_msg *msg = nlmsg_alloc_simple(type, flags);

	if (del)
		rtm.rtm_scope = RT_SCOPE_NOWHERE;
	else if (r->scope >= 0)
		rtm.rtm_scope = (unsigned char)r->scope;
	else
		rtm.rtm_scope = r->gw.family ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	if (!msg)
		return NULL;
	if (nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0)
		goto fail;
	if (r->dst.prefix > 0 && nla_put(msg, RTA_DST, len, net.ip.addr) < 0)
		goto fail;
	if (r->gw.family && nla_put(msg, RTA_GATEWAY, berth_ip_len(r->gw.family), r->gw.addr) < 0)
		goto fail;
	if (!del && r->prefsrc.family &&
	    nla_put(msg, RTA_PREFSRC, berth_ip_len(r->prefsrc.family), r->prefsrc.addr) < 0)
		goto fail;
	if (r->ifindex && nla_put_u32(msg, RTA_OIF, (uint32_t)r->ifindex) < 0)
		goto fail;
	if (r->priority && nla_put_u32(msg, RTA_PRIORITY, (uint32_t)r->priority) < 0)
		goto fail;
	if (table >= 256 && nla_put_u32(msg, RTA_TABLE, (uint32_t)table) < 0)
		goto fail;
	if (!del && (r->mtu || r->advmss)) {
		struct nlattr *m = nla_nest_start(msg, RTA_METRICS);

		if (!m || (r->mtu && nla_put_u32(msg, RTAX_MTU, (uint32_t)r->mtu) < 0) ||
		    (r->advmss && nla_put_u32(msg, RTAX_ADVMSS, (uint32_t)r->advmss) < 0))
			goto fail;
		nla_nest_end(msg, m);
	}
	return msg;
fail:
	nlmsg_free(msg);
	return NULL;
}

static char *describe(const struct berth_route *r, char *buf, size_t len)
{
	char d[BERTH_IPNET_STRLEN], g[BERTH_IP_STRLEN];

	if (r->gw.family)
		snprintf(buf, len, "%s via %s", berth_ipnet_format(&r->dst, d),
			 berth_ip_format(&r->gw, g));
	else
		snprintf(buf, len, "%s", berth_ipnet_format(&r->dst, d));
	return buf;
}

int berth_route_add(struct berth_nl *nl, const struct berth_route *r, bool replace,
		    berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = NULL;
	char what[160], d[128];

	if (!berth_ip_len(r->dst.ip.family))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EAFNOSUPPORT,
				       "route without a destination family");
	msg = route_msg(RTM_NEWROUTE, NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL), r,
			false);
	if (!msg)
		return nomem(err);
	snprintf(what, sizeof(what), "failed to add route %s", describe(r, d, sizeof(d)));
	return berth_nl_talk(nl, msg, NULL, NULL, err, what);
}

int berth_route_del(struct berth_nl *nl, const struct berth_route *r, berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = route_msg(RTM_DELROUTE, 0, r, true);
	char what[160], d[128];

	if (!msg)
		return nomem(err);
	snprintf(what, sizeof(what), "failed to delete route %s", describe(r, d, sizeof(d)));
	return berth_nl_talk(nl, msg, NULL, NULL, err, what);
}

struct list_ctx {
	int table;
	struct berth_route *v;
	size_t n, cap;
};

static int list_cb(struct nlmsghdr *nlh, void *arg)
{
	struct list_ctx *c = arg;
	struct rtmsg *rtm = nlmsg_data(nlh);
	struct nlattr *tb[RTA_MAX + 1];
	struct berth_route *e;
	int len, table;

	if (nlh->nlmsg_type != RTM_NEWROUTE || rtm->rtm_type != RTN_UNICAST)
		return 0;
	if (nlmsg_parse(nlh, sizeof(*rtm), tb, RTA_MAX, NULL) < 0)
		return -EPROTO;
	table = tb[RTA_TABLE] ? (int)nla_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	if (c->table >= 0 && table != (c->table ? c->table : RT_TABLE_MAIN))
		return 0;
	len = berth_ip_len(rtm->rtm_family);
	if (!len)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct berth_route *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	e = &c->v[c->n++];
	berth_route_init(e);
	e->dst.ip.family = rtm->rtm_family;
	e->dst.prefix = rtm->rtm_dst_len;
	if (tb[RTA_DST] && nla_len(tb[RTA_DST]) == len)
		memcpy(e->dst.ip.addr, nla_data(tb[RTA_DST]), (size_t)len);
	if (tb[RTA_GATEWAY] && nla_len(tb[RTA_GATEWAY]) == len) {
		e->gw.family = rtm->rtm_family;
		memcpy(e->gw.addr, nla_data(tb[RTA_GATEWAY]), (size_t)len);
	}
	if (tb[RTA_PREFSRC] && nla_len(tb[RTA_PREFSRC]) == len) {
		e->prefsrc.family = rtm->rtm_family;
		memcpy(e->prefsrc.addr, nla_data(tb[RTA_PREFSRC]), (size_t)len);
	}
	if (tb[RTA_OIF])
		e->ifindex = (int)nla_get_u32(tb[RTA_OIF]);
	if (tb[RTA_PRIORITY])
		e->priority = (int)nla_get_u32(tb[RTA_PRIORITY]);
	e->table = table;
	e->scope = rtm->rtm_scope;
	e->protocol = rtm->rtm_protocol;
	if (tb[RTA_METRICS]) {
		struct nlattr *m[RTAX_MAX + 1];

		if (nla_parse_nested(m, RTAX_MAX, tb[RTA_METRICS], NULL) == 0) {
			if (m[RTAX_MTU])
				e->mtu = (int)nla_get_u32(m[RTAX_MTU]);
			if (m[RTAX_ADVMSS])
				e->advmss = (int)nla_get_u32(m[RTAX_ADVMSS]);
		}
	}
	return 0;
}

int berth_route_list(struct berth_nl *nl, int family, int table, struct berth_route **ret,
		     size_t *ret_n, berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_DUMP);
	struct rtmsg rtm = { .rtm_family = (unsigned char)family };
	struct list_ctx c = { .table = table };
	int r;

	if (!msg || nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0)
		return nomem(err);
	r = berth_nl_talk(nl, msg, list_cb, &c, err, "failed to list routes");
	if (r < 0) {
		free(c.v);
		return r;
	}
	*ret = c.v;
	*ret_n = c.n;
	return 0;
}

static const struct berth_ip *family_gw(const struct berth_cni_result *res, int family, int idx)
{
	for (size_t i = 0; i < res->n_ips; i++)
		if (res->ips[i].gateway.family == family &&
		    (idx < 0 || res->ips[i].interface < 0 || res->ips[i].interface == idx))
			return &res->ips[i].gateway;
	return NULL;
}

int berth_route_add_cni(struct berth_nl *nl, int ifindex, const struct berth_cni_result *res,
			int idx, size_t *ret_failed, berth_error *err)
{
	for (size_t i = 0; i < res->n_routes; i++) {
		const struct berth_cni_route *cr = &res->routes[i];
		const struct berth_ip *gw =
			cr->gw.family ? &cr->gw : family_gw(res, cr->dst.ip.family, idx);
		struct berth_route rt;
		int r;

		berth_route_init(&rt);
		rt.dst = cr->dst;
		if (gw)
			rt.gw = *gw;
		rt.ifindex = ifindex;
		rt.priority = cr->priority;
		rt.mtu = cr->mtu;
		rt.advmss = cr->advmss;
		rt.table = cr->table > 0 ? cr->table : 0;
		rt.scope = cr->scope;
		if ((r = berth_route_add(nl, &rt, false, err)) < 0) {
			if (ret_failed)
				*ret_failed = i;
			return r;
		}
	}
	return 0;
}

int berth_route_check_cni(struct berth_nl *nl, const struct berth_cni_result *prev,
			  berth_error *err)
{
	_cleanup_free_ struct berth_route *routes = NULL;
	size_t n = 0;
	int r;

	if ((r = berth_route_list(nl, 0, -1, &routes, &n, err)) < 0)
		return r;
	for (size_t i = 0; i < prev->n_routes; i++) {
		const struct berth_cni_route *cr = &prev->routes[i];
		struct berth_ipnet want = berth_ipnet_network(&cr->dst);
		char s[BERTH_IPNET_STRLEN];
		bool found = false;

		for (size_t j = 0; j < n && !found; j++)
			found = routes[j].dst.prefix == want.prefix &&
				berth_ip_equal(&routes[j].dst.ip, &want.ip) &&
				(!cr->gw.family || berth_ip_equal(&routes[j].gw, &cr->gw));
		if (!found)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT,
					       "route to %s not found in the container",
					       berth_ipnet_format(&cr->dst, s));
	}
	return 0;
}
