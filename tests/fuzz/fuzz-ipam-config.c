/* SPDX-License-Identifier: Apache-2.0 */
/* host-local's config (ipam section, ranges, routes, requested IPs): no crash, every accepted
 * range is consistent (start <= end inside the subnet, found again in its set). */
#include <stdlib.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/ipam.h"
#include "berth/json.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const char *const args[] = {NULL, "IgnoreUnknown=1;IP=10.1.2.3"};
	_cleanup_json_ json_t *j = json_loadb((const char *)data, size, 0, NULL);

	if (!j)
		return 0;
	for (size_t a = 0; a < 2; a++) {
		_cleanup_ipam_config_ struct berth_ipam_config *c = NULL;
		berth_error err = {0};
		char buf[4096];

		if (berth_ipam_config_parse(j, args[a], &c, &err) < 0) {
			if (!err.msg[0] || !err.code)
				__builtin_trap();
			continue;
		}
		for (size_t s = 0; s < c->n_sets; s++) {
			const struct berth_ipam_rangeset *set = &c->sets[s];
			berth_ipam_rangeset_format(set, buf, sizeof(buf));
			(void)berth_ipam_rangeset_size(set);
			for (size_t i = 0; i < set->n; i++) {
				const struct berth_ipam_range *r = &set->ranges[i];
				if (berth_ip_cmp(&r->start, &r->end) > 0 ||
				    !berth_ipnet_contains(&r->subnet, &r->start) ||
				    !berth_ipnet_contains(&r->subnet, &r->end) ||
				    !berth_ipam_range_contains(r, &r->start) ||
				    berth_ipam_rangeset_find(set, &r->start) < 0)
					__builtin_trap();
			}
		}
	}
	return 0;
}
