// SPDX-License-Identifier: Apache-2.0
/* tun/tap devices: the tun driver's ioctls, and its link info read over rtnetlink. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/netns.h"
#include "berth/tun.h"
#include "nl-internal.h"

static int open_tun(int nsfd, int *ret_fd, berth_error *err)
{
	_cleanup_netns_ int saved = -1;
	int fd, r;

	/* the device is created in the netns of the process that opened the file */
	if (nsfd >= 0 && (r = berth_netns_enter(nsfd, &saved, err)) < 0)
		return r;
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "failed to open /dev/net/tun");
	*ret_fd = fd;
	return 0;
}

int berth_tap_create(int nsfd, const struct berth_tap_opts *o, int *ret_fd, berth_error *err)
{
	_cleanup_close_ int fd = -1;
	struct ifreq ifr = { 0 };
	int r;

	if (strlen(o->name) >= IFNAMSIZ)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "interface name %s is too long", o->name);
	if ((r = open_tun(nsfd, &fd, err)) < 0)
		return r;
	memcpy(ifr.ifr_name, o->name, strlen(o->name));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL;
	if (o->vnet_hdr)
		ifr.ifr_flags |= IFF_VNET_HDR;
	if (o->multi_queue)
		ifr.ifr_flags |= IFF_MULTI_QUEUE;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		if (errno == EBUSY || errno == EINVAL)
			/* EXCL: a tun of that name (EBUSY) or another kind of link (EINVAL) */
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EEXIST,
					       "failed to create tap %s: a link of that name exists",
					       o->name);
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "failed to create tap %s",
					 o->name);
	}
	if (o->owner >= 0 && ioctl(fd, TUNSETOWNER, (unsigned long)o->owner) < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL,
					 "failed to set the owner of tap %s", o->name);
	if (o->group >= 0 && ioctl(fd, TUNSETGROUP, (unsigned long)o->group) < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL,
					 "failed to set the group of tap %s", o->name);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int berth_tun_set_persist(int fd, bool on, berth_error *err)
{
	if (ioctl(fd, TUNSETPERSIST, on ? 1UL : 0UL) < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL,
					 "failed to make the tap %spersistent", on ? "" : "non-");
	return 0;
}

struct info_ctx {
	struct berth_tun_info *info;
	bool found, tun;
};

static int info_cb(struct nlmsghdr *nlh, void *arg)
{
	struct info_ctx *c = arg;
	struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1], *td[IFLA_TUN_MAX + 1];
	struct berth_tun_info *t = c->info;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return 0;
	c->found = true;
	if (nlmsg_parse(nlh, sizeof(struct ifinfomsg), tb, IFLA_MAX, NULL) < 0)
		return -EPROTO;
	if (!tb[IFLA_LINKINFO] || nla_parse_nested(li, IFLA_INFO_MAX, tb[IFLA_LINKINFO], NULL) < 0 ||
	    !li[IFLA_INFO_KIND] || strncmp(nla_data(li[IFLA_INFO_KIND]), "tun", 4) != 0 ||
	    !li[IFLA_INFO_DATA] || nla_parse_nested(td, IFLA_TUN_MAX, li[IFLA_INFO_DATA], NULL) < 0)
		return 0;
	c->tun = true;
	memset(t, 0, sizeof(*t));
	t->owner = t->group = -1;
	if (td[IFLA_TUN_TYPE])
		t->type = nla_get_u8(td[IFLA_TUN_TYPE]);
	if (td[IFLA_TUN_PI])
		t->pi = nla_get_u8(td[IFLA_TUN_PI]);
	if (td[IFLA_TUN_VNET_HDR])
		t->vnet_hdr = nla_get_u8(td[IFLA_TUN_VNET_HDR]);
	if (td[IFLA_TUN_MULTI_QUEUE])
		t->multi_queue = nla_get_u8(td[IFLA_TUN_MULTI_QUEUE]);
	if (td[IFLA_TUN_PERSIST])
		t->persist = nla_get_u8(td[IFLA_TUN_PERSIST]);
	if (td[IFLA_TUN_OWNER])
		t->owner = nla_get_u32(td[IFLA_TUN_OWNER]);
	if (td[IFLA_TUN_GROUP])
		t->group = nla_get_u32(td[IFLA_TUN_GROUP]);
	return 0;
}

int berth_tun_info_get(struct berth_nl *nl, int ifindex, struct berth_tun_info *ret,
		       berth_error *err)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };
	_cleanup_nlmsg_ struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETLINK, 0);
	struct info_ctx c = { .info = ret };
	int r;

	if (!msg || nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	r = berth_nl_talk(nl, msg, info_cb, &c, err, "failed to get link");
	if (r < 0)
		return r;
	if (!c.found)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENODEV, "link %d not found",
				       ifindex);
	if (!c.tun)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EMEDIUMTYPE,
				       "link %d is not a tun/tap device", ifindex);
	return 0;
}
