/* SPDX-License-Identifier: Apache-2.0 */
/* ipvlan: the container gets an ipvlan link on a master interface (modes l2, l3, l3s);
 * the verbs are shared with the other stacked-link plugins (net/subif.c, docs/ipvlan.md). */
#include "berth/subif.h"

int main(int argc, char **argv)
{
	static const struct berth_subif_kind kind = { .kind = "ipvlan", .ipvlan = true };

	return berth_subif_main(&kind, argc, argv);
}
