/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "berth/error.h"
#include "berth/nl.h"

/*
 * Links stacked on a master (ipvlan, 802.1q vlan): created in one request, directly in the
 * netns that will hold them, and read back with their kind-specific attributes.
 */

struct berth_sublink {
	int ifindex;
	char name[IF_NAMESIZE];
	char kind[24];       /* IFLA_INFO_KIND, "" for none */
	int mtu;
	int parent;          /* IFLA_LINK: the master's ifindex (in link_netnsid's netns), 0 = none */
	int link_netnsid;    /* -1: the master is in the same netns */
	uint8_t mac[6];
	int mac_len;
	unsigned int flags;
	int ipvlan_mode;     /* IPVLAN_MODE_L2/L3/L3S, -1 when not an ipvlan */
	int vlan_id;         /* -1 when not a vlan */
};

/* The link called name; -ENODEV when there is none. */
int berth_sublink_get(struct berth_nl *nl, const char *name, struct berth_sublink *ret,
		      berth_error *err);

struct berth_sublink_opts {
	const char *kind;  /* "ipvlan" or "vlan" */
	const char *name;
	int parent;        /* the master's ifindex in nl's netns */
	int nsfd;          /* create the link in this netns; -1 = nl's */
	int mtu;           /* 0 = the kernel's default (the master's) */
	int ipvlan_mode;   /* ipvlan: IPVLAN_MODE_* */
	int vlan_id;       /* vlan: 0..4094 */
};
/* Create the link; -EEXIST when the name is taken in the target netns, -EOPNOTSUPP when the
 * kernel does not know the kind ("Unknown device type"). */
int berth_sublink_add(struct berth_nl *nl, const struct berth_sublink_opts *opts,
		      berth_error *err);

/* The name of the interface of the first default route (IPv4 or IPv6) of nl's netns; -ENOENT
 * "no default route interface found" when there is none. */
int berth_sublink_default_route_ifname(struct berth_nl *nl, char ret[IF_NAMESIZE],
				       berth_error *err);

/* Can this kernel create a link of kind over a veth?  Tried for real in a throwaway netns of
 * a child process (which also makes the kernel load the module). */
int berth_sublink_probe(const char *kind, berth_error *err);
