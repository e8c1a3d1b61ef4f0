/* SPDX-License-Identifier: Apache-2.0 */
/* The static IPAM plugin's config parser (untrusted stdin and CNI_ARGS): no crash, and what
 * parses respects what ADD relies on (every address parsed and IPv4 or IPv6 with a prefix in
 * range; at most one per family below 0.3.0).  Input: the first byte picks the spec version,
 * then config JSON, then optionally "\n" and a CNI_ARGS string. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "berth/cni.h"
#include "../../plugins/cni/static/static-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const versions[] = { "0.1.0", "0.2.0", "0.3.1", "0.4.0", "1.0.0",
						"1.1.0" };
	const char *version;
	char *buf, *args;
	struct static_conf c;
	berth_error err = { 0 };
	json_error_t je;
	json_t *j;

	if (size < 1)
		return 0;
	version = versions[data[0] % (sizeof(versions) / sizeof(versions[0]))];
	if (!(buf = malloc(size)))
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	args = strchr(buf, '\n');
	if (args)
		*args++ = '\0';
	j = json_loads(buf, JSON_DECODE_ANY, &je);
	if (j) {
		if (static_conf_parse(j, version, args, &c, &err) == 0) {
			int n4 = 0, n6 = 0;

			for (size_t i = 0; i < c.n; i++) {
				const struct berth_ipnet *a = &c.addrs[i].net;

				if (!c.addrs[i].parsed || (a->ip.family != AF_INET && a->ip.family != AF_INET6) ||
				    a->prefix < 0 || a->prefix > (a->ip.family == AF_INET ? 32 : 128))
					__builtin_trap();
				n4 += a->ip.family == AF_INET;
				n6 += a->ip.family == AF_INET6;
			}
			if ((n4 > 1 || n6 > 1) && berth_cni_version_cmp(version, "0.3.0") < 0)
				__builtin_trap();
		}
		static_conf_done(&c);
		json_decref(j);
	}
	free(buf);
	return 0;
}
