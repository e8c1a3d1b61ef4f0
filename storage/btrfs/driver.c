/* SPDX-License-Identifier: Apache-2.0 */
/* The btrfs driver's verb table: every verb is the fulltree store's (storage/fulltree) with the
 * btrfs operations (storage/btrfs/btrfs.c). */
#include "berth/fulltree.h"
#include "berth/btrfs.h"
#include "btrfs-internal.h"

BERTH_FT_DEFINE_VERBS(btrfs_verb, berth_btrfs_ops)

const struct berth_stor_verb berth_btrfs_verbs[] = BERTH_FT_VERB_TABLE(btrfs_verb);
