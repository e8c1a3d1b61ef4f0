/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>

/*
 * The CNI verbs shared by the plugins that give the container a link stacked on a master
 * interface (ipvlan, vlan): the link is created directly in the container's netns (or, with
 * linkInContainer, on a master that is already there) under a temporary name, renamed to
 * CNI_IFNAME, and configured from IPAM (or, for a chained ipvlan, from prevResult).  A failed
 * ADD undoes what it did; DEL works without the netns; STATUS probes the kernel.
 */

struct berth_subif_kind {
	const char *kind;     /* the plugin's name and the link kind: "ipvlan", "vlan" */
	bool ipvlan;          /* "mode"; master defaults to the default route's interface or to
			       * prevResult's single interface; IPs may come from prevResult */
};

/* Run the plugin (a main() hands its argc/argv over). */
int berth_subif_main(const struct berth_subif_kind *kind, int argc, char **argv);
