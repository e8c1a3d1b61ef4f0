/* SPDX-License-Identifier: Apache-2.0 */
/* The overlay storage driver: its verb table (storage/overlay/driver.c) on the storage
 * skeleton. */
#include "berth/overlay.h"
#include "berth/storage-skel.h"

int main(int argc, char **argv)
{
	static const struct berth_stor_driver drv = {
		.name = "overlay",
		.version = BERTH_VERSION,
		.options = berth_ovl_options,
		.verbs = berth_ovl_verbs,
	};
	return berth_stor_main(&drv, argc, argv);
}
