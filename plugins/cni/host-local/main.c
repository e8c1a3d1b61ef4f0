// SPDX-License-Identifier: Apache-2.0
/* host-local IPAM plugin: a drop-in for the reference plugin (same config, same data dir),
 * plus STATUS and GC.  The verbs are in net/ipam/plugin.c, the work in net/ipam/. */
#include "berth/ipam.h"
#include "berth/cni-skel.h"

int main(int argc, char **argv)
{
	return berth_plugin_main(&berth_host_local_plugin, argc, argv);
}
