/* SPDX-License-Identifier: Apache-2.0 */
/* The btrfs storage driver: its verb table (storage/btrfs/driver.c) on the storage skeleton. */
#include "berth/btrfs.h"
#include "berth/storage-skel.h"

int main(int argc, char **argv)
{
	static const struct berth_stor_driver drv = {
		.name = "btrfs",
		.version = BERTH_VERSION,
		.options = berth_btrfs_options,
		.verbs = berth_btrfs_verbs,
	};
	return berth_stor_main(&drv, argc, argv);
}
