/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>

#include <jansson.h>

#include "berth/error.h"

/*
 * firewalld, for the firewall plugin's `backend: firewalld`: container addresses become
 * sources of a firewalld zone, through firewalld's D-Bus API (org.fedoraproject.FirewallD1)
 * on the system bus (DBUS_SYSTEM_BUS_ADDRESS honoured).  The D-Bus client is libsystemd's
 * sd-bus, loaded with dlopen on first use: a firewall call that does not need firewalld does
 * not pay for loading it.
 */

/* 1 when firewalld runs here with its nftables backend (its table `inet firewalld` exists in
 * this netns; read-only lookup), 0 when not. */
int berth_firewalld_table_present(berth_error *err);

struct berth_firewalld;
/* Connect and check that firewalld is on the bus: -ENOENT (code 999) when it is not, -ENOSYS
 * when libsystemd cannot be loaded. */
int berth_firewalld_open(struct berth_firewalld **ret, berth_error *err);
void berth_firewalld_close(struct berth_firewalld *f);
static inline void berth_firewalld_closep(struct berth_firewalld **f)
{
	if (*f)
		berth_firewalld_close(*f);
}
#define _cleanup_firewalld_ __attribute__((cleanup(berth_firewalld_closep)))

/* zone.addSource; a source already in that zone (ZONE_ALREADY_SET) is success. */
int berth_firewalld_add_source(struct berth_firewalld *f, const char *zone, const char *source,
			       berth_error *err);
/* zone.removeSource; a source not in the zone (UNKNOWN_SOURCE) is success. */
int berth_firewalld_remove_source(struct berth_firewalld *f, const char *zone, const char *source,
				  berth_error *err);
/* zone.querySource */
int berth_firewalld_query_source(struct berth_firewalld *f, const char *zone, const char *source,
				 bool *ret, berth_error *err);

/*
 * The firewall plugin records the sources it adds, one JSON file per attachment
 * ({"network", "containerID", "ifname", "zone", "sources": [...]}), in
 * $BERTH_FIREWALLD_STATE_DIR (default /run/berth/firewalld)/<network>/<id>@<ifname>.json, so
 * that DEL, GC and a reapply find them without prevResult.
 */
const char *berth_firewalld_state_dir(void);
/* Add or remove every source of one state file; removal goes on past errors, an add stops at
 * the first. */
int berth_firewalld_apply_state(struct berth_firewalld *f, json_t *st, bool add, berth_error *err);
/* fn for each readable state file of network (every network when NULL); returns the sum of
 * what fn returned. */
int berth_firewalld_each_state(const char *network,
			       int (*fn)(const char *path, json_t *st, void *arg), void *arg);
/* Add every recorded source again (after `firewall-cmd --reload`, which drops runtime sources):
 * the number added; 0 when nothing is recorded or firewalld does not run. */
int berth_firewalld_reapply(berth_error *err);
