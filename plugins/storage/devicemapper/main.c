/* SPDX-License-Identifier: Apache-2.0 */
/* The devicemapper storage driver: its verb table (storage/dm/driver.c) on the storage
 * skeleton. */
#include "berth/dm.h"
#include "berth/storage-skel.h"

int main(int argc, char **argv)
{
	static const struct berth_stor_driver drv = {
		.name = "devicemapper",
		.version = BERTH_VERSION,
		.options = berth_dm_options,
		.verbs = berth_dm_verbs,
	};
	return berth_stor_main(&drv, argc, argv);
}
