/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "berth/error.h"
#include "berth/cni-skel.h"

/* The firewall plugin's firewalld zone sources (zone.c). */

/* Record, then add prevResult's addresses to zone; all or nothing. */
int fw_zone_add(const struct berth_cni_call *call, const char *zone, berth_error *err);
/* Remove what was recorded for this attachment (nothing recorded: nothing to do). */
int fw_zone_del(const struct berth_cni_call *call, berth_error *err);
/* Every recorded source is in its zone. */
int fw_zone_check(const struct berth_cni_call *call, berth_error *err);
bool fw_zone_recorded(const struct berth_cni_call *call);
/* Remove the sources of this network's attachments that are not valid. */
int fw_zone_gc(const char *network, const struct berth_cni_attachment *valid, size_t n_valid,
	       berth_error *err);
