/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "berth/cni.h"
#include "berth/error.h"
#include "berth/ip.h"

struct static_addr {
	struct berth_ipnet net;
	struct berth_ip gw; /* family 0 = none */
	const char *str;    /* the config text of an ipam.addresses entry not parsed yet */
	bool parsed;
};

struct static_conf {
	struct static_addr *addrs; /* the addresses to hand out, in result order */
	size_t n;
	struct berth_cni_result *res; /* routes and dns, in the config's version */
};

/* Parse the full network config (top-level runtimeConfig and args, the ipam section) and
 * CNI_ARGS (cni_args may be NULL) for spec `version`.  On success every address is parsed and
 * canonical, and at most one per family below 0.3.0.  Errors: code 7 (config), 4 (CNI_ARGS),
 * 1 (the 0.2.0 limit).  static_conf_done() is needed after success and failure alike. */
int static_conf_parse(json_t *config, const char *version, const char *cni_args,
		      struct static_conf *c, berth_error *err);
void static_conf_done(struct static_conf *c);
