/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The btrfs storage driver's verbs and options (storage/btrfs/driver.c); the plugin
 * plugins/storage/btrfs is a main() over this table.  A subvolume per layer, a child a snapshot of its parent: docs/btrfs.md. */

#include "berth/storage-skel.h"

extern const char *const berth_btrfs_options[];
extern const struct berth_stor_verb berth_btrfs_verbs[];
