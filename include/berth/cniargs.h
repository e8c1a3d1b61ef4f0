/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "berth/error.h"
#include "berth/ip.h"

/*
 * What the runtime asks of a plugin besides the config proper: requested IPs and MAC.  They
 * arrive through three channels (CONVENTIONS.md): runtimeConfig (capabilities "ips"/"mac",
 * injected by the runtime), args.cni.ips/args.cni.mac in the config, and CNI_ARGS IP=/MAC=.
 * CNI_ARGS itself is parsed by berth_cni_args_parse() (cni.h) with the plugin's own key list;
 * pass the IP/MAC values it returned (or NULL) here.
 */

#define BERTH_MAC_STRLEN 18

/* "aa:bb:cc:dd:ee:ff", "aa-bb-cc-dd-ee-ff" or "aabb.ccdd.eeff" (Go's net.ParseMAC, 48-bit
 * only); -EINVAL otherwise. */
int berth_mac_parse(const char *s, uint8_t ret[6]);
/* Lower-case, colon-separated, as Go prints it; buf >= BERTH_MAC_STRLEN; returns buf. */
char *berth_mac_format(const uint8_t mac[6], char *buf);

struct berth_cni_req_ip {
	struct berth_ipnet net; /* prefix is the full length when none was given */
	bool has_prefix;
};

enum berth_cni_ips_mode {
	/* host-local: CNI_ARGS IP (or args.cni.ips, which replaces it when present, as
	 * CONVENTIONS says) followed by runtimeConfig.ips; duplicates dropped. */
	BERTH_CNI_IPS_MERGE,
	/* static: the first non-empty of runtimeConfig.ips, args.cni.ips, CNI_ARGS IP. */
	BERTH_CNI_IPS_OVERRIDE,
};

/* Requested IPs.  args_ip is the CNI_ARGS IP value (comma-separated list allowed, spaces
 * trimmed) or NULL.  *ret is NULL and *ret_n 0 when none were requested.  A malformed entry is
 * code 7 naming it ("runtimeConfig.ips[1]: invalid IP address \"x\""), code 4 for CNI_ARGS. */
int berth_cni_requested_ips(json_t *config, const char *args_ip, enum berth_cni_ips_mode mode,
			    struct berth_cni_req_ip **ret, size_t *ret_n, berth_error *err);

/* Requested MAC: runtimeConfig.mac, else args.cni.mac, else CNI_ARGS MAC (the bridge and
 * tuning plugins' order).  Returns 1 and fills ret_mac when one was requested, 0 when not,
 * -EINVAL (code 7, or 4 for CNI_ARGS) when it does not parse. */
int berth_cni_requested_mac(json_t *config, const char *args_mac, uint8_t ret_mac[6],
			    berth_error *err);
