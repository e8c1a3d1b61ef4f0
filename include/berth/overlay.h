/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The overlay storage driver's verbs and options (storage/overlay/driver.c); the plugin
 * plugins/storage/overlay is a main() over this table. */

#include <jansson.h>

#include "berth/error.h"
#include "berth/storage-skel.h"

/* Kernel limit on lower layers (OVL_MAX_STACK); a chain is at most this many layers deep. */
#define BERTH_OVL_MAX_DEPTH 500

extern const char *const berth_ovl_options[];
extern const struct berth_stor_verb berth_ovl_verbs[];
