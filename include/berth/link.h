/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/error.h"
#include "berth/nl.h"

/*
 * Links through rtnetlink.  Every function takes the socket of the netns it acts in
 * (berth_nl_open) and returns 0 or -errno with err filled (kernel extended-ack text included).
 * Missing interfaces are -ENODEV, existing ones on create -EEXIST.
 */

#ifndef BERTH_MAC_LEN
#define BERTH_MAC_LEN 6
#endif
#ifndef BERTH_MAC_STRLEN
#define BERTH_MAC_STRLEN 18
#endif

struct berth_link {
	int ifindex;
	char name[IF_NAMESIZE];
	char kind[24];          /* IFLA_INFO_KIND: "veth", "bridge", "" for none */
	uint8_t mac[BERTH_MAC_LEN];
	int mac_len;            /* 0 when the link has no L2 address */
	unsigned int flags;     /* IFF_UP, IFF_PROMISC ... */
	int mtu;
	uint8_t operstate;      /* IF_OPER_* */
	int master;             /* ifindex of the master, 0 = none */
	int link;               /* IFLA_LINK (a veth's peer ifindex, in the peer's netns), 0 = none */
	int link_netnsid;       /* IFLA_LINK_NETNSID, -1 = same netns / unset */
	/* bridge (kind "bridge") */
	int vlan_filtering;     /* -1 unknown */
	/* bridge port (IFLA_PROTINFO, filled for links with a bridge master) */
	int port_hairpin;       /* -1 unknown */
	int port_isolated;      /* -1 unknown */
	char alias[256];        /* IFLA_IFALIAS, "" when none */
};

/* MAC parsing and formatting: berth_mac_parse()/berth_mac_format() in cniargs.h. */

int berth_link_get_by_name(struct berth_nl *nl, const char *name, struct berth_link *ret,
			   berth_error *err);
int berth_link_get_by_index(struct berth_nl *nl, int ifindex, struct berth_link *ret,
			    berth_error *err);
/* Every link of the netns; caller frees *ret. */
int berth_link_list(struct berth_nl *nl, struct berth_link **ret, size_t *ret_n, berth_error *err);

struct berth_veth_opts {
	const char *name;      /* host side, created in nl's netns */
	const char *peer_name; /* created directly in peer_nsfd (no move, no rename) */
	int peer_nsfd;         /* -1: same netns as name */
	int mtu;               /* 0 = kernel default; applies to both ends */
	const uint8_t *peer_mac; /* NULL = random */
	const uint8_t *mac;      /* NULL = random */
	bool txqlen_zero;        /* txqlen 0 on both ends, as the reference plugins create veths */
	const char *alias;       /* IFLA_IFALIAS of the `name` side (owner record), NULL = none;
				  * a second request (the kernel ignores it on create) */
};
/* Create a veth pair in one request; -EEXIST when either name is taken (peer side included). */
int berth_link_add_veth(struct berth_nl *nl, const struct berth_veth_opts *opts, berth_error *err);

struct berth_bridge_opts {
	const char *name;
	int mtu;            /* 0 = kernel default */
	int vlan_filtering; /* -1 = leave kernel default, 0/1 */
};
/* Create a bridge; -EEXIST when name exists (of any kind). */
int berth_link_add_bridge(struct berth_nl *nl, const struct berth_bridge_opts *opts,
			  berth_error *err);
/* IFLA_BR_VLAN_FILTERING on an existing bridge. */
int berth_link_bridge_set_vlan_filtering(struct berth_nl *nl, int ifindex, bool on,
					 berth_error *err);

int berth_link_set_up(struct berth_nl *nl, int ifindex, bool up, berth_error *err);
int berth_link_set_promisc(struct berth_nl *nl, int ifindex, bool on, berth_error *err);
int berth_link_set_allmulti(struct berth_nl *nl, int ifindex, bool on, berth_error *err);
int berth_link_set_mtu(struct berth_nl *nl, int ifindex, int mtu, berth_error *err);
int berth_link_set_txqlen(struct berth_nl *nl, int ifindex, int txqlen, berth_error *err);
int berth_link_set_mac(struct berth_nl *nl, int ifindex, const uint8_t mac[BERTH_MAC_LEN],
		       berth_error *err);
/* Enslave to master (0 = release). */
int berth_link_set_master(struct berth_nl *nl, int ifindex, int master, berth_error *err);
/* Move to the netns nsfd, renaming to new_name when non-NULL. */
int berth_link_set_netns(struct berth_nl *nl, int ifindex, int nsfd, const char *new_name,
			 berth_error *err);
int berth_link_set_name(struct berth_nl *nl, int ifindex, const char *name, berth_error *err);
/* IFLA_IFALIAS; NULL or "" removes it. */
int berth_link_set_alias(struct berth_nl *nl, int ifindex, const char *alias, berth_error *err);

/* Bridge port flags (the link must have a bridge master). */
int berth_link_port_set_hairpin(struct berth_nl *nl, int ifindex, bool on, berth_error *err);
int berth_link_port_set_isolated(struct berth_nl *nl, int ifindex, bool on, berth_error *err);

/* Per-port VLANs (bridge vlan_filtering on).  [vid, vid_end] inclusive; vid_end 0 = vid only.
 * `self` applies to the bridge device itself instead of a port. */
struct berth_vlan {
	uint16_t vid;
	bool pvid;
	bool untagged;
};
int berth_link_port_vlan_add(struct berth_nl *nl, int ifindex, uint16_t vid, uint16_t vid_end,
			     bool pvid, bool untagged, bool self, berth_error *err);
int berth_link_port_vlan_del(struct berth_nl *nl, int ifindex, uint16_t vid, uint16_t vid_end,
			     bool self, berth_error *err);
/* VLANs of one port (ifindex) or of the bridge itself; caller frees *ret. */
int berth_link_port_vlan_list(struct berth_nl *nl, int ifindex, struct berth_vlan **ret,
			      size_t *ret_n, berth_error *err);

/* Delete a link; -ENODEV when already gone (callers doing DEL treat that as success). */
int berth_link_del(struct berth_nl *nl, int ifindex, berth_error *err);
/* Delete a link in netns nsfd (-1: the current one) and return as soon as the kernel has
 * unlisted it (and a veth's peer), leaving the rest of the deletion, the kernel's wait for RCU
 * callbacks, to a short-lived child process.  Same returns as berth_link_del.
 * BERTH_LINK_SYNC_DEL=1 in the environment waits for the whole deletion. */
int berth_link_del_unlisted(int nsfd, int ifindex, berth_error *err);

/* GC of owner-aliased links: delete every link of `kind` in nl's netns whose alias starts with
 * alias_prefix and continues "<container id> <ifname>" naming an attachment not in valid[].
 * Goes on past errors (-ENODEV counts as done) and returns the first. */
struct berth_cni_attachment;
int berth_link_gc_owned(struct berth_nl *nl, const char *kind, const char *alias_prefix,
			const struct berth_cni_attachment *valid, size_t n_valid, berth_error *err);
