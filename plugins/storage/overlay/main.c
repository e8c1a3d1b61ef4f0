/* SPDX-License-Identifier: Apache-2.0 */
#include "berth/storage-skel.h"
#include "berth/overlay.h"

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
