/* SPDX-License-Identifier: Apache-2.0 */
/* Network config lists and single plugin configs as the core loads them from /etc/cni/net.d,
 * and the runtimeConfig/args channels a plugin reads from a config. */
#include <stdlib.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/cniargs.h"
#include "berth/netconf.h"
#include "berth/json.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	for (int single = 0; single < 2; single++) {
		_cleanup_netconf_ struct berth_netconf *c = NULL;
		berth_error err = {0};

		if (berth_netconf_parse((const char *)data, size, "fuzz", single, &c, &err) < 0) {
			if (!err.msg[0] || !err.code)
				__builtin_trap();
			continue;
		}
		if (!c->name || !c->cni_version || (c->n_plugins && !c->plugins))
			__builtin_trap();
		for (size_t i = 0; i < c->n_plugins; i++) {
			struct berth_cni_req_ip *ips = NULL;
			size_t n = 0;
			uint8_t mac[6];

			if (!c->plugins[i].type || !json_is_object(c->plugins[i].conf))
				__builtin_trap();
			if (berth_cni_requested_ips(c->plugins[i].conf, NULL, BERTH_CNI_IPS_MERGE, &ips,
						    &n, &err) == 0)
				free(ips);
			berth_cni_requested_mac(c->plugins[i].conf, NULL, mac, &err);
		}
	}
	return 0;
}
