/* SPDX-License-Identifier: Apache-2.0 */
/* The vfs storage driver: its verb table (storage/vfs/driver.c) on the storage skeleton. */
#include "berth/vfs.h"
#include "berth/storage-skel.h"

int main(int argc, char **argv)
{
	static const struct berth_stor_driver drv = {
		.name = "vfs",
		.version = BERTH_VERSION,
		.options = berth_vfs_options,
		.verbs = berth_vfs_verbs,
	};
	return berth_stor_main(&drv, argc, argv);
}
