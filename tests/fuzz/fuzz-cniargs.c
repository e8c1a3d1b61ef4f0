/* SPDX-License-Identifier: Apache-2.0 */
/* CNI_ARGS, the requested IP/MAC values it carries, and the IP/MAC text parsers: no crash, and
 * what parses formats back to text that parses to the same value. */
#include <stdlib.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/cniargs.h"
#include "berth/ip.h"
#include "berth/json.h"

static void check_ip_text(const char *s)
{
	struct berth_ip ip, ip2;
	struct berth_ipnet n, n2;
	char buf[BERTH_IPNET_STRLEN];
	uint8_t mac[6], mac2[6];

	if (berth_ip_parse(s, &ip) == 0) {
		berth_ip_format(&ip, buf);
		if (berth_ip_parse(buf, &ip2) < 0 || !berth_ip_equal(&ip, &ip2))
			__builtin_trap();
	}
	if (berth_ipnet_parse_loose(s, &n) == 0) {
		struct berth_ipnet net = berth_ipnet_network(&n);
		struct berth_ip last = berth_ipnet_last(&n);
		berth_ipnet_format(&n, buf);
		if (berth_ipnet_parse(buf, &n2) < 0 || !berth_ipnet_equal(&n, &n2))
			__builtin_trap();
		if (!berth_ipnet_contains(&n, &n.ip) || !berth_ipnet_contains(&n, &last) ||
		    !berth_ipnet_contains(&n, &net.ip) || !berth_ipnet_overlap(&n, &net))
			__builtin_trap();
		if (berth_ip_sub(&last, &net.ip) < 0)
			__builtin_trap();
		ip2 = berth_ip_add(&net.ip, berth_ip_sub(&last, &net.ip));
		if (n.prefix >= berth_ip_len(n.ip.family) * 8 - 62 && !berth_ip_equal(&ip2, &last))
			__builtin_trap();
	}
	if (berth_mac_parse(s, mac) == 0) {
		berth_mac_format(mac, buf);
		if (berth_mac_parse(buf, mac2) < 0 || memcmp(mac, mac2, 6) != 0)
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const char *const known[] = {"IP", "MAC", "K8S_POD_NAME", NULL};
	_cleanup_free_ char *s = strndup((const char *)data, size);
	_cleanup_json_ json_t *empty = json_object();
	char *values[3] = {NULL, NULL, NULL};
	berth_error err = {0};

	if (!s || !empty)
		return 0;
	check_ip_text(s);
	if (berth_cni_args_parse(s, known, values, &err) < 0) {
		if (err.code != BERTH_CNI_ERR_INVALID_ENV || !err.msg[0])
			__builtin_trap();
		for (size_t i = 0; i < 3; i++)
			if (values[i])
				__builtin_trap(); /* nothing handed out on failure */
		return 0;
	}
	if (values[0]) {
		struct berth_cni_req_ip *ips = NULL;
		size_t n = 0;
		for (int mode = 0; mode < 2; mode++) {
			if (berth_cni_requested_ips(empty, values[0], mode, &ips, &n, &err) == 0)
				free(ips);
			ips = NULL;
		}
	}
	if (values[1]) {
		uint8_t mac[6];
		berth_cni_requested_mac(empty, values[1], mac, &err);
	}
	for (size_t i = 0; i < 3; i++)
		free(values[i]);
	return 0;
}
