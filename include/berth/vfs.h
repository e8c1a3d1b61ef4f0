/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The vfs storage driver's verbs and options (storage/vfs/driver.c); the plugin
 * plugins/storage/vfs is a main() over this table.  A full copy per layer, reflinked where the filesystem can: docs/vfs.md. */

#include "berth/storage-skel.h"

extern const char *const berth_vfs_options[];
extern const struct berth_stor_verb berth_vfs_verbs[];
