/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "berth/error.h"
#include "berth/ip.h"
#include "berth/nl.h"

/* Unicast routes (RTM_NEWROUTE/DELROUTE), with the CNI 1.1.0 route attributes. */

struct berth_route {
	struct berth_ipnet dst; /* family decides the route's family; prefix 0 = default */
	struct berth_ip gw;     /* family 0 = none (link route) */
	int ifindex;            /* 0 = none */
	int table;              /* 0 = main */
	int priority;           /* metric, 0 = unset */
	int mtu;                /* RTAX_MTU, 0 = unset */
	int advmss;             /* RTAX_ADVMSS, 0 = unset */
	int scope;              /* RT_SCOPE_*, -1 = kernel choice (link when no gw, else universe) */
	int protocol;           /* RTPROT_*, 0 = RTPROT_BOOT */
	struct berth_ip prefsrc; /* RTA_PREFSRC, family 0 = none */
};

/* A route with every optional field unset. */
void berth_route_init(struct berth_route *r);

/* Add (NLM_F_EXCL unless `replace`); -EEXIST when present. */
int berth_route_add(struct berth_nl *nl, const struct berth_route *r, bool replace,
		    berth_error *err);
/* The routes of a CNI result, on ifindex, as the reference's ipam.ConfigureIface adds them: a
 * route without a gateway takes the gateway of the result's first IP of its family (among the
 * IPs of interface idx or of none; idx -1: among all).  On a failure *ret_failed (unless NULL)
 * is the index of the route in res->routes, for the caller's message. */
struct berth_cni_result;
int berth_route_add_cni(struct berth_nl *nl, int ifindex, const struct berth_cni_result *res,
			int idx, size_t *ret_failed, berth_error *err);
/* CHECK: every route of the CNI result prev (its network, through its gateway when it names
 * one) is in a table of nl's netns; else -ENOENT "route to D not found in the container". */
int berth_route_check_cni(struct berth_nl *nl, const struct berth_cni_result *prev,
			  berth_error *err);
/* Delete the route matching dst, table, and (when set) gw, ifindex, priority; -ESRCH when
 * absent. */
int berth_route_del(struct berth_nl *nl, const struct berth_route *r, berth_error *err);
/* Routes of family (0 = both) in table (0 = main, -1 = all), unicast only; caller frees. */
int berth_route_list(struct berth_nl *nl, int family, int table, struct berth_route **ret,
		     size_t *ret_n, berth_error *err);
