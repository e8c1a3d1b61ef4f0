/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <linux/if_addr.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/error.h"
#include "berth/ip.h"
#include "berth/nl.h"

/* Addresses (RTM_NEWADDR/DELADDR).  flags are IFA_F_* (IFA_F_NODAD, IFA_F_NOPREFIXROUTE ...). */

struct berth_addr {
	struct berth_ipnet addr;
	int ifindex;
	uint32_t flags; /* IFA_F_* incl. IFA_F_TENTATIVE, IFA_F_DADFAILED */
	int scope;      /* RT_SCOPE_* */
};

/* Add addr (host bits kept, e.g. 10.1.0.5/24) to ifindex; -EEXIST when already there. IPv4
 * addresses get the subnet broadcast as the reference does. */
int berth_addr_add(struct berth_nl *nl, int ifindex, const struct berth_ipnet *addr,
		   uint32_t flags, berth_error *err);
/* -EADDRNOTAVAIL when not present. */
int berth_addr_del(struct berth_nl *nl, int ifindex, const struct berth_ipnet *addr,
		   berth_error *err);
/* Addresses of ifindex (0 = every link) of family (0 = both); caller frees *ret. */
int berth_addr_list(struct berth_nl *nl, int ifindex, int family, struct berth_addr **ret,
		    size_t *ret_n, berth_error *err);
/* CHECK: every address of the CNI result prev on its interface ci (or on none) is on ifindex;
 * else -ENOENT "ipvN address A not found in the container". */
struct berth_cni_result;
int berth_addr_check_cni(struct berth_nl *nl, int ifindex, const struct berth_cni_result *prev,
			 int ci, berth_error *err);

/* Wait until no address of ifindex is tentative (IPv6 DAD finished), driven by address
 * notifications from a socket opened in nsfd (-1: current netns), at most timeout_ms.
 * -EADDRNOTAVAIL when DAD failed for one, -ETIMEDOUT when still tentative at the deadline. */
int berth_addr_wait_dad(int nsfd, struct berth_nl *nl, int ifindex, int timeout_ms,
			berth_error *err);
