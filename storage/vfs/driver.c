/* SPDX-License-Identifier: Apache-2.0 */
/* The vfs driver's verb table: every verb is the fulltree store's (storage/fulltree) with the
 * vfs operations (storage/vfs/vfs.c). */
#include "berth/fulltree.h"
#include "berth/vfs.h"
#include "vfs-internal.h"

BERTH_FT_DEFINE_VERBS(vfs_verb, berth_vfs_ops)

const struct berth_stor_verb berth_vfs_verbs[] = BERTH_FT_VERB_TABLE(vfs_verb);
