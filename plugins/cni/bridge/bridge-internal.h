/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "berth/cni-skel.h"
#include "berth/error.h"

/* The bridge plugin's network config, same keys and defaults as the reference plugin. */
struct bridge_conf {
	const char *br_name; /* default "cni0" */
	bool is_gw, is_default_gw, force_address;
	bool ip_masq, mac_spoof_chk; /* implemented by the nftables helpers */
	const char *ip_masq_backend;
	int mtu;
	bool hairpin, promisc;
	int vlan;                    /* 0 = none */
	uint16_t *trunk;             /* sorted, unique VLAN ids of vlanTrunk */
	size_t n_trunk;
	bool preserve_default_vlan;
	bool enable_dad, disable_container_iface, port_isolation;
	const char *ipam_type;       /* NULL = L2 only */
	bool has_mac;
	uint8_t mac[6];
	json_t *dns;                 /* the config's "dns" when it sets anything, else NULL */
};

/* Parse and validate config (+ CNI_ARGS for MAC=); errors are code 7 (4 for CNI_ARGS). */
int bridge_conf_parse(json_t *config, const char *cni_args, struct bridge_conf *ret,
		      berth_error *err);
void bridge_conf_free(struct bridge_conf *c);
/* VLAN filtering on the bridge is needed: vlan or vlanTrunk is set. */
bool bridge_conf_vlan_filtering(const struct bridge_conf *c);

/* CHECK (check.c): the bridge, the container interface and the host veth between them
 * validated one by one against the prevResult, then the container's addresses and routes
 * and the nftables elements. */
int bridge_cmd_check(const struct berth_cni_call *call, struct berth_cni_result **ret,
		     berth_error *err);

/* For DEL, which must clean up for any config it can read far enough, also one ADD refused:
 * only what DEL needs (ipam.type, ipMasq, macspoofchk), read leniently; never fails.  A key
 * that is present but unreadable counts as set (ipMasq: look for elements to remove); an
 * unusable ipam.type as no IPAM (nothing can have been reserved through it). */
void bridge_conf_parse_del(json_t *config, struct bridge_conf *ret);
