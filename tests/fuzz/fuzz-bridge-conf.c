/* SPDX-License-Identifier: Apache-2.0 */
/* The bridge plugin's config parser (untrusted stdin): no crash, and what parses respects the
 * invariants the plugin relies on (VLAN ids in range, trunk sorted and unique, no IPAM with
 * disableContainerInterface, never hairpin with promisc). Input: config JSON, then optionally
 * "\n" and a CNI_ARGS string. */
#include <stdlib.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/cniargs.h"
#include "berth/json.h"
#include "../../plugins/cni/bridge/bridge-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *args;
	struct bridge_conf c = { 0 };
	berth_error err = { 0 };
	json_error_t je;
	json_t *j;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	args = strchr(buf, '\n');
	if (args)
		*args++ = '\0';
	j = json_loads(buf, JSON_DECODE_ANY, &je);
	if (j && bridge_conf_parse(j, args, &c, &err) == 0) {
		if (c.vlan < 0 || c.vlan > 4094 || (c.hairpin && c.promisc) ||
		    (c.ipam_type && c.disable_container_iface) || !c.br_name || !*c.br_name ||
		    strlen(c.br_name) > 15)
			__builtin_trap();
		for (size_t i = 0; i < c.n_trunk; i++)
			if (c.trunk[i] < 1 || c.trunk[i] > 4094 || (i && c.trunk[i] <= c.trunk[i - 1]))
				__builtin_trap();
		bridge_conf_free(&c);
	}
	if (j)
		json_decref(j);
	free(buf);
	return 0;
}
