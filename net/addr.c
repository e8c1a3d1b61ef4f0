// SPDX-License-Identifier: Apache-2.0
/* Addresses through rtnetlink. */

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <string.h>

#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/socket.h>

#include "berth/addr.h"
#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/netns.h"
#include "nl-internal.h"

static struct nl_msg *addr_msg(int type, int flags, int ifindex, const struct berth_ipnet *a)
{
	struct ifaddrmsg ifa = {
		.ifa_family = (unsigned char)a->ip.family,
		.ifa_prefixlen = (unsigned char)a->prefix,
		.ifa_index = (unsigned int)ifindex,
	};
	int len = berth_ip_len(a->ip.family);
	struct nl_msg *msg = nlmsg_alloc_simple(type, flags);

	if (!msg)
		return NULL;
	if (nlmsg_append(msg, &ifa, sizeof(ifa), NLMSG_ALIGNTO) < 0 ||
	    nla_put(msg, IFA_LOCAL, len, a->ip.addr) < 0 ||
	    nla_put(msg, IFA_ADDRESS, len, a->ip.addr) < 0) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

int berth_addr_add(struct berth_nl *nl, int ifindex, const struct berth_ipnet *addr,
		   uint32_t flags, berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = NULL;
	char s[BERTH_IPNET_STRLEN], what[96];

	if (!berth_ip_len(addr->ip.family))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EAFNOSUPPORT,
				       "address without a family");
	msg = addr_msg(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, addr);
	if (!msg)
		goto nomem;
	if (addr->ip.family == AF_INET && addr->prefix < 31) {
		struct berth_ip bcast = berth_ipnet_last(addr);

		if (nla_put(msg, IFA_BROADCAST, 4, bcast.addr) < 0)
			goto nomem;
	}
	if (flags) {
		((struct ifaddrmsg *)nlmsg_data(nlmsg_hdr(msg)))->ifa_flags = (uint8_t)flags;
		if (nla_put_u32(msg, IFA_FLAGS, flags) < 0)
			goto nomem;
	}
	snprintf(what, sizeof(what), "failed to add address %s", berth_ipnet_format(addr, s));
	return berth_nl_talk(nl, msg, NULL, NULL, err, what);
nomem:
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
}

int berth_addr_del(struct berth_nl *nl, int ifindex, const struct berth_ipnet *addr,
		   berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = addr_msg(RTM_DELADDR, 0, ifindex, addr);
	char s[BERTH_IPNET_STRLEN], what[96];

	if (!msg)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	snprintf(what, sizeof(what), "failed to delete address %s", berth_ipnet_format(addr, s));
	return berth_nl_talk(nl, msg, NULL, NULL, err, what);
}

struct list_ctx {
	int ifindex;
	struct berth_addr *v;
	size_t n, cap;
};

static int list_cb(struct nlmsghdr *nlh, void *arg)
{
	struct list_ctx *c = arg;
	struct ifaddrmsg *ifa = nlmsg_data(nlh);
	struct nlattr *tb[IFA_MAX + 1], *a;
	struct berth_addr *e;
	int len;

	if (nlh->nlmsg_type != RTM_NEWADDR)
		return 0;
	if (c->ifindex && (int)ifa->ifa_index != c->ifindex)
		return 0;
	if (nlmsg_parse(nlh, sizeof(*ifa), tb, IFA_MAX, NULL) < 0)
		return -EPROTO;
	len = berth_ip_len(ifa->ifa_family);
	a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (!len || !a || nla_len(a) != len)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct berth_addr *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	e = &c->v[c->n++];
	memset(e, 0, sizeof(*e));
	e->addr.ip.family = ifa->ifa_family;
	memcpy(e->addr.ip.addr, nla_data(a), (size_t)len);
	e->addr.prefix = ifa->ifa_prefixlen;
	e->ifindex = (int)ifa->ifa_index;
	e->flags = tb[IFA_FLAGS] ? nla_get_u32(tb[IFA_FLAGS]) : ifa->ifa_flags;
	e->scope = ifa->ifa_scope;
	return 0;
}

int berth_addr_list(struct berth_nl *nl, int ifindex, int family, struct berth_addr **ret,
		    size_t *ret_n, berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETADDR, NLM_F_DUMP);
	struct ifaddrmsg ifa = { .ifa_family = (unsigned char)family,
				 .ifa_index = (unsigned int)(ifindex > 0 ? ifindex : 0) };
	struct list_ctx c = { .ifindex = ifindex };
	int fd = nl_socket_get_fd(nl->sk), on = 1, off = 0, r;

	if (!msg || nlmsg_append(msg, &ifa, sizeof(ifa), NLMSG_ALIGNTO) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	/* With strict checking the kernel (4.20+) dumps only that device's addresses: on a host
	 * with a thousand veths (each with an IPv6 link-local address) a bridge ADD would
	 * otherwise read them all.  Older kernels ignore ifa_index and list_cb filters. */
	if (ifindex > 0)
		(void)setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &on, sizeof(on));
	r = berth_nl_talk(nl, msg, list_cb, &c, err, "failed to list addresses");
	if (ifindex > 0)
		(void)setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &off, sizeof(off));
	if (r < 0) {
		free(c.v);
		return r;
	}
	*ret = c.v;
	*ret_n = c.n;
	return 0;
}

/* 1 = some address still tentative, 0 = none, <0 = DAD failed or error */
static int tentative(struct berth_nl *nl, int ifindex, berth_error *err)
{
	_cleanup_free_ struct berth_addr *a = NULL;
	size_t n = 0;
	int r, busy = 0;

	r = berth_addr_list(nl, ifindex, AF_INET6, &a, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (a[i].flags & IFA_F_DADFAILED) {
			char s[BERTH_IPNET_STRLEN];

			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EADDRNOTAVAIL,
					       "duplicate address detection failed for %s",
					       berth_ipnet_format(&a[i].addr, s));
		}
		if (a[i].flags & IFA_F_TENTATIVE)
			busy = 1;
	}
	return busy;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int berth_addr_wait_dad(int nsfd, struct berth_nl *nl, int ifindex, int timeout_ms,
			berth_error *err)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_IPV6_IFADDR };
	int64_t deadline = now_ms() + timeout_ms;
	char buf[8192];
	int r;

	{
		_cleanup_netns_ int saved = -1;

		if (nsfd >= 0 && (r = berth_netns_enter(nsfd, &saved, err)) < 0)
			return r;
		fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	}
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "address notification socket");
	/* Subscribed first, then looked: a change after the look is a notification. */
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left;

		r = tentative(nl, ifindex, err);
		if (r <= 0)
			return r;
		left = deadline - now_ms();
		if (left <= 0)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ETIMEDOUT,
					       "addresses still tentative after %d ms", timeout_ms);
		r = poll(&p, 1, (int)left);
		if (r < 0 && errno != EINTR)
			return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "poll");
		/* Only the wake-up matters: drain, then list again. */
		while (recv(fd, buf, sizeof(buf), 0) > 0)
			;
	}
}

int berth_addr_check_cni(struct berth_nl *nl, int ifindex, const struct berth_cni_result *prev,
			 int ci, berth_error *err)
{
	_cleanup_free_ struct berth_addr *addrs = NULL;
	size_t n = 0;
	int r;

	if ((r = berth_addr_list(nl, ifindex, 0, &addrs, &n, err)) < 0)
		return r;
	for (size_t i = 0; i < prev->n_ips; i++) {
		const struct berth_cni_ipconfig *ip = &prev->ips[i];
		char s[BERTH_IPNET_STRLEN];
		bool found = false;

		if (ip->interface >= 0 && ip->interface != ci)
			continue;
		for (size_t j = 0; j < n && !found; j++)
			found = addrs[j].addr.prefix == ip->address.prefix &&
				berth_ip_equal(&addrs[j].addr.ip, &ip->address.ip);
		if (!found)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT,
					       "ipv%s address %s not found in the container",
					       ip->address.ip.family == AF_INET ? "4" : "6",
					       berth_ipnet_format(&ip->address, s));
	}
	return 0;
}
