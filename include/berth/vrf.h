/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/error.h"
#include "berth/ip.h"
#include "berth/nl.h"

/* VRF devices (an L3 master device bound to a routing table). */

struct berth_vrf {
	int ifindex;
	char name[IF_NAMESIZE];
	char kind[24]; /* "vrf", or the kind of a link of that name that is not one */
	uint32_t table;
	bool up;
};

/* The link called name: -ENODEV when there is none; a link of another kind is returned with
 * its kind filled (callers check kind). */
int berth_vrf_get(struct berth_nl *nl, const char *name, struct berth_vrf *ret, berth_error *err);
/* Every VRF of the netns; caller frees *ret. */
int berth_vrf_list(struct berth_nl *nl, struct berth_vrf **ret, size_t *ret_n, berth_error *err);
/* Create VRF name bound to table, up; -EEXIST when the name is taken, -EOPNOTSUPP (kernel text
 * "Unknown device type") when the kernel has no VRF support. */
int berth_vrf_add(struct berth_nl *nl, const char *name, uint32_t table, berth_error *err);
/* 1 when table holds a route to ip/32 (ip/128) of any type (the local route an address gets)
 * through ifindex, 0 when not. */
int berth_vrf_has_host_route(struct berth_nl *nl, uint32_t table, const struct berth_ip *ip,
			     int ifindex, berth_error *err);
/* Can this kernel create a VRF?  Tried for real in a throwaway netns of a child process. */
int berth_vrf_probe(berth_error *err);
