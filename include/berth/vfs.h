/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The vfs storage driver's verbs (storage/vfs; plugins/storage/vfs holds the verb table).
 * A full copy per layer, reflinked where the filesystem can: docs/vfs.md. */

#include <jansson.h>

#include "berth/error.h"
#include "berth/fulltree.h"
#include "berth/storage.h"

extern const char *const berth_vfs_options[];
BERTH_FT_DECLARE_VERBS(berth_vfs);
