/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The btrfs storage driver's verbs (storage/btrfs; plugins/storage/btrfs holds the verb
 * table).  A subvolume per layer, a child a snapshot of its parent: docs/btrfs.md. */

#include <jansson.h>

#include "berth/error.h"
#include "berth/fulltree.h"
#include "berth/storage.h"

extern const char *const berth_btrfs_options[];
BERTH_FT_DECLARE_VERBS(berth_btrfs);
