/* SPDX-License-Identifier: Apache-2.0 */
#include "berth/vfs.h"
#include "berth/storage.h"

int main(int argc, char **argv)
{
	static const struct berth_stor_verb verbs[] = {
		{ "INIT", berth_vfs_init, BERTH_STOR_STREAM_NONE },
		{ "STATUS", berth_vfs_status, BERTH_STOR_STREAM_NONE },
		{ "CREATE", berth_vfs_create, BERTH_STOR_STREAM_NONE },
		{ "REMOVE", berth_vfs_remove, BERTH_STOR_STREAM_NONE },
		{ "MOUNT", berth_vfs_mount, BERTH_STOR_STREAM_NONE },
		{ "UNMOUNT", berth_vfs_unmount, BERTH_STOR_STREAM_NONE },
		{ "MOUNTS", berth_vfs_mounts, BERTH_STOR_STREAM_NONE },
		{ "RELEASE", berth_vfs_release, BERTH_STOR_STREAM_NONE },
		{ "EXISTS", berth_vfs_exists, BERTH_STOR_STREAM_NONE },
		{ "LIST", berth_vfs_list, BERTH_STOR_STREAM_NONE },
		{ "METADATA", berth_vfs_metadata, BERTH_STOR_STREAM_NONE },
		{ "DIFF", berth_vfs_diff, BERTH_STOR_STREAM_OUT },
		{ "CHANGES", berth_vfs_changes, BERTH_STOR_STREAM_NONE },
		{ "APPLY_DIFF", berth_vfs_apply_diff, BERTH_STOR_STREAM_IN },
		{ "DIFF_SIZE", berth_vfs_diff_size, BERTH_STOR_STREAM_NONE },
		{ "USAGE", berth_vfs_usage, BERTH_STOR_STREAM_NONE },
		{ "CLEANUP", berth_vfs_cleanup, BERTH_STOR_STREAM_NONE },
		{ "GC", berth_vfs_gc, BERTH_STOR_STREAM_NONE },
		{ NULL, NULL, 0 },
	};
	static const struct berth_stor_driver drv = {
		.name = "vfs",
		.version = BERTH_VERSION,
		.options = berth_vfs_options,
		.verbs = verbs,
	};
	return berth_stor_main(&drv, argc, argv);
}
