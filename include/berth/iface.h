/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "berth/cni.h"
#include "berth/error.h"
#include "berth/nl.h"

/*
 * Apply an IPAM result to one interface, as the reference's ipam.ConfigureIface does: the
 * result's addresses whose interface is `idx` (or none), the link up, then every route (the
 * gateway of a route without one is the first gateway of its family among those addresses).
 * For IPv6, disable_ipv6=0 on lo and the interface and keep_addr_on_down=1 (sysctls written in
 * nsfd).  Addresses get IFA_F_NODAD (no DAD wait; IPAM made them unique).  Stops at the first
 * error; the caller undoes by moving or deleting the interface.
 */
int berth_iface_configure(int nsfd, struct berth_nl *nl, int ifindex, const char *ifname,
			  const struct berth_cni_result *res, int idx, berth_error *err);

/* CHECK side: every address of the result for interface idx (or none) is on ifindex, every
 * route of the result is in nl's routing tables.  Code 999 with the missing item named. */
int berth_iface_check(struct berth_nl *nl, int ifindex, const char *ifname,
		      const struct berth_cni_result *res, int idx, berth_error *err);
