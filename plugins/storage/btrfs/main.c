/* SPDX-License-Identifier: Apache-2.0 */
#include "berth/btrfs.h"
#include "berth/storage.h"

int main(int argc, char **argv)
{
	static const struct berth_stor_verb verbs[] = {
		{ "INIT", berth_btrfs_init, BERTH_STOR_STREAM_NONE },
		{ "STATUS", berth_btrfs_status, BERTH_STOR_STREAM_NONE },
		{ "CREATE", berth_btrfs_create, BERTH_STOR_STREAM_NONE },
		{ "REMOVE", berth_btrfs_remove, BERTH_STOR_STREAM_NONE },
		{ "MOUNT", berth_btrfs_mount, BERTH_STOR_STREAM_NONE },
		{ "UNMOUNT", berth_btrfs_unmount, BERTH_STOR_STREAM_NONE },
		{ "MOUNTS", berth_btrfs_mounts, BERTH_STOR_STREAM_NONE },
		{ "RELEASE", berth_btrfs_release, BERTH_STOR_STREAM_NONE },
		{ "EXISTS", berth_btrfs_exists, BERTH_STOR_STREAM_NONE },
		{ "LIST", berth_btrfs_list, BERTH_STOR_STREAM_NONE },
		{ "METADATA", berth_btrfs_metadata, BERTH_STOR_STREAM_NONE },
		{ "DIFF", berth_btrfs_diff, BERTH_STOR_STREAM_OUT },
		{ "CHANGES", berth_btrfs_changes, BERTH_STOR_STREAM_NONE },
		{ "APPLY_DIFF", berth_btrfs_apply_diff, BERTH_STOR_STREAM_IN },
		{ "DIFF_SIZE", berth_btrfs_diff_size, BERTH_STOR_STREAM_NONE },
		{ "USAGE", berth_btrfs_usage, BERTH_STOR_STREAM_NONE },
		{ "CLEANUP", berth_btrfs_cleanup, BERTH_STOR_STREAM_NONE },
		{ "GC", berth_btrfs_gc, BERTH_STOR_STREAM_NONE },
		{ NULL, NULL, 0 },
	};
	static const struct berth_stor_driver drv = {
		.name = "btrfs",
		.version = BERTH_VERSION,
		.options = berth_btrfs_options,
		.verbs = verbs,
	};
	return berth_stor_main(&drv, argc, argv);
}
