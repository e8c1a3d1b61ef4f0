/* SPDX-License-Identifier: Apache-2.0 */
/* vlan: the container gets an 802.1q VLAN link on a master interface;
 * the verbs are shared with the other stacked-link plugins (net/subif.c, docs/vlan.md). */
#include "berth/subif.h"

int main(int argc, char **argv)
{
	static const struct berth_subif_kind kind = { .kind = "vlan", .ipvlan = false };

	return berth_subif_main(&kind, argc, argv);
}
