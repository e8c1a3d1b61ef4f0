/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <jansson.h>

#include "berth/cni-skel.h"
#include "berth/error.h"

/* IFLA_IFALIAS of a host veth: "berth ptp <network> <containerID> <ifname>" */
#define PTP_OWNER_PREFIX "berth ptp "

/* The ptp plugin's network config: the reference's keys (ipMasq, mtu, ipam, dns) plus
 * ipMasqBackend, which the bridge plugin reads too. */
struct ptp_conf {
	bool ip_masq;
	const char *ip_masq_backend;
	int mtu;                /* 0 = kernel default */
	const char *ipam_type;
	json_t *dns;            /* the config's "dns" when it sets anything, else NULL */
};

/* Parse and validate; errors are code 7 naming the key. */
int ptp_conf_parse(json_t *config, struct ptp_conf *ret, berth_error *err);
/* For DEL (and GC/STATUS of a config ADD refuses): only ipMasq and ipam.type, leniently;
 * never fails.  A present but unreadable ipMasq counts as set. */
void ptp_conf_parse_del(json_t *config, struct ptp_conf *ret);

/* CHECK (check.c): the container veth of the prevResult, its addresses and routes, its host
 * peer with the gateway addresses and host routes, the masquerade elements. */
int ptp_cmd_check(const struct berth_cni_call *call, struct berth_cni_result **ret,
		  berth_error *err);
