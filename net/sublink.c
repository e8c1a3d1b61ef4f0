// SPDX-License-Identifier: Apache-2.0
/* ipvlan and 802.1q vlan links through raw rtnetlink messages built with libnl (libnl-route's
 * link objects cannot create a link directly in another netns with IFLA_NET_NS_FD). */

#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netlink/attr.h>
#include <netlink/msg.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/link.h"
#include "berth/route.h"
#include "berth/sublink.h"
#include "nl-internal.h"

static int nomem(berth_error *err)
{
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
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

struct get_ctx {
	struct berth_sublink *l;
	bool found;
};

static int get_cb(struct nlmsghdr *nlh, void *arg)
{
	struct get_ctx *c = arg;
	struct ifinfomsg *ifi = nlmsg_data(nlh);
	struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1];
	struct berth_sublink *l = c->l;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return 0;
	if (nlmsg_parse(nlh, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0)
		return -EPROTO;
	memset(l, 0, sizeof(*l));
	l->ifindex = ifi->ifi_index;
	l->flags = ifi->ifi_flags;
	l->link_netnsid = -1;
	l->ipvlan_mode = -1;
	l->vlan_id = -1;
	if (tb[IFLA_IFNAME])
		nla_strlcpy(l->name, tb[IFLA_IFNAME], sizeof(l->name));
	if (tb[IFLA_MTU])
		l->mtu = (int)nla_get_u32(tb[IFLA_MTU]);
	if (tb[IFLA_LINK])
		l->parent = (int)nla_get_u32(tb[IFLA_LINK]);
	if (tb[IFLA_LINK_NETNSID])
		l->link_netnsid = (int)nla_get_s32(tb[IFLA_LINK_NETNSID]);
	if (tb[IFLA_ADDRESS] && nla_len(tb[IFLA_ADDRESS]) == 6) {
		memcpy(l->mac, nla_data(tb[IFLA_ADDRESS]), 6);
		l->mac_len = 6;
	}
	if (tb[IFLA_LINKINFO] && nla_parse_nested(li, IFLA_INFO_MAX, tb[IFLA_LINKINFO], NULL) == 0) {
		if (li[IFLA_INFO_KIND])
			nla_strlcpy(l->kind, li[IFLA_INFO_KIND], sizeof(l->kind));
		if (li[IFLA_INFO_DATA] && STREQ(l->kind, "ipvlan")) {
			struct nlattr *d[IFLA_IPVLAN_MAX + 1];

			if (nla_parse_nested(d, IFLA_IPVLAN_MAX, li[IFLA_INFO_DATA], NULL) == 0 &&
			    d[IFLA_IPVLAN_MODE])
				l->ipvlan_mode = nla_get_u16(d[IFLA_IPVLAN_MODE]);
		} else if (li[IFLA_INFO_DATA] && STREQ(l->kind, "vlan")) {
			struct nlattr *d[IFLA_VLAN_MAX + 1];

			if (nla_parse_nested(d, IFLA_VLAN_MAX, li[IFLA_INFO_DATA], NULL) == 0 &&
			    d[IFLA_VLAN_ID])
				l->vlan_id = nla_get_u16(d[IFLA_VLAN_ID]);
		}
	}
	c->found = true;
	return 0;
}

int berth_sublink_get(struct berth_nl *nl, const char *name, struct berth_sublink *ret,
		      berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = link_req(RTM_GETLINK, 0);
	struct get_ctx c = { .l = ret };
	char what[64];
	int r;

	if (strlen(name) >= IF_NAMESIZE || !*name)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENODEV,
				       "link \"%s\": %s", name, strerror(ENODEV));
	if (!msg || nla_put_string(msg, IFLA_IFNAME, name) < 0 ||
	    nla_put_u32(msg, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS) < 0)
		return nomem(err);
	snprintf(what, sizeof(what), "link \"%s\"", name);
	r = berth_nl_talk(nl, msg, get_cb, &c, err, what);
	if (r == 0 && !c.found)
		r = berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENODEV, "%s: %s", what,
				    strerror(ENODEV));
	return r;
}

int berth_sublink_add(struct berth_nl *nl, const struct berth_sublink_opts *o, berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = link_req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct nlattr *li, *data;
	bool ipvlan = STREQ(o->kind, "ipvlan");
	char what[96];

	if (!msg || nla_put_string(msg, IFLA_IFNAME, o->name) < 0 ||
	    nla_put_u32(msg, IFLA_LINK, (uint32_t)o->parent) < 0 ||
	    /* txqlen 0, as the reference plugins create these links */
	    nla_put_u32(msg, IFLA_TXQLEN, 0) < 0 ||
	    (o->mtu > 0 && nla_put_u32(msg, IFLA_MTU, (uint32_t)o->mtu) < 0) ||
	    (o->nsfd >= 0 && nla_put_u32(msg, IFLA_NET_NS_FD, (uint32_t)o->nsfd) < 0) ||
	    !(li = nla_nest_start(msg, IFLA_LINKINFO)) ||
	    nla_put_string(msg, IFLA_INFO_KIND, o->kind) < 0 ||
	    !(data = nla_nest_start(msg, IFLA_INFO_DATA)))
		return nomem(err);
	if (ipvlan ? nla_put_u16(msg, IFLA_IPVLAN_MODE, (uint16_t)o->ipvlan_mode) < 0
		   : nla_put_u16(msg, IFLA_VLAN_ID, (uint16_t)o->vlan_id) < 0)
		return nomem(err);
	nla_nest_end(msg, data);
	nla_nest_end(msg, li);
	snprintf(what, sizeof(what), "failed to create %s", o->kind);
	return berth_nl_talk(nl, msg, NULL, NULL, err, what);
}

int berth_sublink_default_route_ifname(struct berth_nl *nl, char ret[IF_NAMESIZE],
				       berth_error *err)
{
	_cleanup_free_ struct berth_route *routes = NULL;
	struct berth_link l;
	size_t n = 0;
	int r;

	if ((r = berth_route_list(nl, 0, 0, &routes, &n, err)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (routes[i].dst.prefix != 0 || routes[i].ifindex <= 0)
			continue;
		if ((r = berth_link_get_by_index(nl, routes[i].ifindex, &l, err)) < 0)
			return r;
		memcpy(ret, l.name, IF_NAMESIZE);
		return 0;
	}
	return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ENOENT,
			       "no default route interface found");
}

int berth_sublink_probe(const char *kind, berth_error *err)
{
	int p[2], status = 0;
	berth_error child = { 0 };
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "pipe");
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "fork");
	}
	if (pid == 0) {
		struct berth_nl *nl = NULL;
		struct berth_link m;
		berth_error e = { 0 };
		struct berth_veth_opts vo = { .name = "probe0", .peer_name = "probe1",
					      .peer_nsfd = -1 };
		struct berth_sublink_opts so = { .kind = kind, .name = "probe2", .nsfd = -1,
						 .vlan_id = 10 };
		int r;

		close(p[0]);
		if (unshare(CLONE_NEWNET) < 0)
			r = berth_error_errno(&e, BERTH_CNI_ERR_INTERNAL,
					      "cannot create a network namespace to probe in");
		else if ((r = berth_nl_open(-1, &nl, &e)) == 0 &&
			 (r = berth_link_add_veth(nl, &vo, &e)) == 0 &&
			 (r = berth_link_get_by_name(nl, "probe0", &m, &e)) == 0) {
			so.parent = m.ifindex;
			r = berth_sublink_add(nl, &so, &e);
		}
		if (r < 0 && write(p[1], &e, sizeof(e)) < 0)
			_exit(2);
		_exit(r < 0 ? 1 : 0);
	}
	close(p[1]);
	n = read(p[0], &child, sizeof(child));
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (n == (ssize_t)sizeof(child)) {
		child.msg[sizeof(child.msg) - 1] = '\0';
		child.details[sizeof(child.details) - 1] = '\0';
		*err = child;
		return -(child.errnum ? child.errnum : EIO);
	}
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EIO,
			       "the %s probe process failed (status %d)", kind, status);
}
