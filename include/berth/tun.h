/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "berth/error.h"
#include "berth/nl.h"

/*
 * tun/tap devices through the tun driver (/dev/net/tun and its ioctls: the kernel does not
 * create them over rtnetlink).  A device lives while a file holds it or while it is persistent;
 * berth_tap_create() returns that file, so a caller that fails (or is killed) before
 * berth_tun_set_persist() leaves nothing behind.
 */

struct berth_tap_opts {
	const char *name;
	bool multi_queue;
	bool vnet_hdr;
	int64_t owner; /* uid, -1 = none */
	int64_t group; /* gid, -1 = none */
};

/* Create the tap `name` in the netns nsfd (-1: the current one); *ret_fd holds it (close it to
 * destroy a device that is not persistent).  -EEXIST when any link of that name exists there
 * (IFF_TUN_EXCL: an existing tap is never attached to), -ENOENT without /dev/net/tun. */
int berth_tap_create(int nsfd, const struct berth_tap_opts *o, int *ret_fd, berth_error *err);
/* TUNSETPERSIST on the device fd holds. */
int berth_tun_set_persist(int fd, bool on, berth_error *err);

/* What the tun driver reports of a link (IFLA_INFO_DATA of kind "tun"). */
struct berth_tun_info {
	int type; /* 1 tun, 2 tap (IFF_TUN/IFF_TAP) */
	bool pi, vnet_hdr, multi_queue, persist;
	int64_t owner, group; /* -1 = none */
};
/* -ENODEV when ifindex is gone, -EMEDIUMTYPE when it is not a tun/tap device. */
int berth_tun_info_get(struct berth_nl *nl, int ifindex, struct berth_tun_info *ret,
		       berth_error *err);
