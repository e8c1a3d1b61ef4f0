/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "berth/cni.h"
#include "berth/error.h"
#include "berth/netconf.h"

/*
 * The runtime core's network side (core/net/): network configuration lists (berth/netconf.h),
 * plugin chains (here, core/net/chain.c), the result cache (berth/cache.h).  It is the C
 * counterpart of libcni: everything it does is delegated to plugin executables, and what it
 * keeps on disk (the result cache) is libcni's format, so that podman/containerd tooling and
 * ours read each other's entries.
 */

#define BERTH_DEFAULT_TIMEOUT_MS 120000

/* Where and how plugins run. */
struct berth_core {
	const char *plugin_path; /* ':'-separated; NULL = berth_core_default_plugin_path() */
	const char *cache_dir;   /* base dir; results/ lives under it; NULL = /var/lib/cni */
	int timeout_ms;          /* per plugin call; 0 = no limit */
	bool skip_validate;      /* do not run VERSION on each plugin before use */
};
/* BERTH_CNI_BIN_DIR then /opt/cni/bin. */
const char *berth_core_default_plugin_path(void);

/* One attachment: a container's interface on a network. */
struct berth_rt {
	const char *container_id;
	const char *netns;  /* may be NULL/"" for DEL and GC */
	const char *ifname;
	const char *args;   /* CNI_ARGS "K=V;K=V", may be NULL */
	json_t *cap_args;   /* capability args {"portMappings":[...], ...}, may be NULL */
};

/* ADD the chain in order; on success the cache entry is written and the final result (in the
 * list's version) returned.  On failure every plugin that ran is DELeted in reverse. */
int berth_net_add(const struct berth_core *core, const struct berth_netconf *net,
		  const struct berth_rt *rt, json_t **ret_result, berth_error *err);
/* DEL in reverse with the cached result as prevResult; the entry is removed when every
 * plugin succeeded.  Missing cache entries are fine (DEL is idempotent). */
int berth_net_del(const struct berth_core *core, const struct berth_netconf *net,
		  const struct berth_rt *rt, berth_error *err);
/* CHECK (lists >= 0.4.0, unless disableCheck) against the cached result. */
int berth_net_check(const struct berth_core *core, const struct berth_netconf *net,
		    const struct berth_rt *rt, berth_error *err);
/* STATUS on every plugin (lists >= 1.1.0; older ones are reported ready). */
int berth_net_status(const struct berth_core *core, const struct berth_netconf *net,
		     berth_error *err);

struct berth_attachment {
	char *container_id;
	char *ifname;
};
/* GC as libcni: DEL every cached attachment of the network not in `valid`, then GC on each
 * plugin (>= 1.1.0, unless disableGC) with cni.dev/valid-attachments.  The number of
 * attachments deleted goes to *ret_deleted. */
int berth_net_gc(const struct berth_core *core, const struct berth_netconf *net,
		 const struct berth_attachment *valid, size_t n_valid, size_t *ret_deleted,
		 berth_error *err);
/* VERSION on every plugin of the list: each must exist and list the list's version. */
int berth_net_validate(const struct berth_core *core, const struct berth_netconf *net,
		       berth_error *err);
