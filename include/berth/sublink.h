/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/error.h"
#include "berth/link.h"
#include "berth/nl.h"

/*
 * Links stacked on a parent device (macvlan, ipvlan, 802.1q vlan...) and created straight into
 * a container's netns.  The kernel looks a new link's name up in the netns of the request's
 * socket, not in the target, so a name such as "eth0" that the host also has would be refused:
 * the link is created in the target under a random temporary name and renamed there (the
 * reference plugins do the same).
 */

/* One IFLA_INFO_DATA attribute of the kind (IFLA_MACVLAN_MODE, IFLA_IPVLAN_FLAGS ...). */
struct berth_sublink_attr {
	uint16_t type;
	uint8_t size; /* 1, 2 or 4 bytes */
	uint32_t value;
};

#define BERTH_SUBLINK_MAX_ATTRS 8

struct berth_sublink_opts {
	const char *kind;   /* IFLA_INFO_KIND */
	int parent;         /* ifindex of the parent, in the netns of `nl` */
	int nsfd;           /* netns to create the link in; -1 = the netns of `nl` (no rename) */
	const char *name;   /* final name, in the target netns */
	int mtu;            /* 0 = the kernel's (the parent's) */
	const uint8_t *mac; /* NULL = the kernel's choice */
	bool up;            /* set IFF_UP together with the rename */
	const char *alias;  /* IFLA_IFALIAS (an owner record), set with the rename; NULL = none */
	bool txqlen_zero;   /* txqlen 0, as the reference plugins create ipvlan and vlan links */
	/* The name between create and rename; NULL = a random one.  A fixed one (derived from
	 * the attachment) lets a DEL find what a crash in between left, and makes the create
	 * replace a link of that name and kind in the target (the leftover of such a crash).
	 * Given, the link is created under it and renamed even when nsfd is -1. */
	const char *tmp_name;
	struct berth_sublink_attr data[BERTH_SUBLINK_MAX_ATTRS];
	size_t n_data;
};

/*
 * Create the link.  `nl` is a socket in the parent's netns, `target` one in o->nsfd (the same
 * socket when nsfd is -1).  On success *ret is the link as the target netns sees it, under its
 * final name.  -EEXIST (with "<kind>: name \"x\" already exists") when the final name is taken
 * in the target; on any failure nothing is left behind.
 */
int berth_sublink_add(struct berth_nl *nl, struct berth_nl *target,
		      const struct berth_sublink_opts *o, struct berth_link *ret, berth_error *err);

/* Can this kernel create a link as o describes (kind and data; its parent, netns and names are
 * the probe's own)?  Tried for real on a veth in a throwaway netns of a child process (which
 * also makes the kernel load the kind's module).  A failure carries the kernel's text
 * ("Unknown device type"). */
int berth_sublink_probe(const struct berth_sublink_opts *o, berth_error *err);

/* The kind and IFLA_INFO_DATA of a link: present[t] tells whether attribute t was there,
 * value[t] its value (u8/u16/u32 widened). */
#define BERTH_SUBLINK_INFO_MAX 32
struct berth_sublink_info {
	char kind[24];
	int parent; /* IFLA_LINK, 0 = none */
	int link_netnsid; /* -1 = the parent is in the same netns */
	int mtu;
	uint32_t txqlen;
	bool present[BERTH_SUBLINK_INFO_MAX];
	uint32_t value[BERTH_SUBLINK_INFO_MAX];
};
int berth_sublink_info(struct berth_nl *nl, int ifindex, struct berth_sublink_info *ret,
		       berth_error *err);

/* The interface of the first default route of the main table (IPv4 before IPv6), as the
 * reference's "master" default: its name in ret_name. -ENOENT (code 7, "no default route
 * interface found") when there is none. */
int berth_sublink_default_route_iface(struct berth_nl *nl, char ret_name[IF_NAMESIZE],
				      berth_error *err);
