/* SPDX-License-Identifier: Apache-2.0 */
/* The dhcp daemon's parsers of what arrives on a container's link (untrusted): the IPv4/UDP
 * unframing, the DHCP message and its options (overload, RFC 3396 concatenation), and the CNI
 * result built from an ACK (classless and static routes).  No crash, and the invariants the
 * daemon relies on: option bytes lie inside the parsed buffer, a parsed message rebuilt from
 * its options parses to the same options.  Input: a raw packet (first byte 'I' = an IPv4
 * frame to unframe first), or "{...}" = a network config for the ipam parser. */
#include <stdlib.h>
#include <string.h>

#include "berth/cni.h"
#include "berth/json.h"
#include "../../plugins/cni/dhcp/dhcp-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_msg(const uint8_t *p, size_t n)
{
	static struct dhcp_msg m, m2;
	static struct dhcp_builder b;
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };

	if (berth_dhcp_parse(p, n, &m) < 0)
		return;
	berth_dhcp_build_start(&b, berth_dhcp_msg_type(&m), m.xid, mac, m.ciaddr, false);
	for (int c = 1; c < 255; c++) {
		size_t len;
		const uint8_t *v = berth_dhcp_opt(&m, c, &len);
		if (!v)
			continue;
		if (v < m.opt_buf || v + len > m.opt_buf + sizeof(m.opt_buf))
			__builtin_trap();
		if (c != DHCP_OPT_MSG_TYPE && c != DHCP_OPT_OVERLOAD)
			berth_dhcp_build_opt(&b, c, v, len);
	}
	if (berth_dhcp_build_end(&b) == 0) {
		/* what we build goes back through the parser with the same options */
		if (b.len > sizeof(b.buf) || berth_dhcp_parse(b.buf, b.len, &m2) < 0)
			__builtin_trap();
		for (int c = 1; c < 255; c++) {
			size_t l1, l2;
			const uint8_t *v1 = berth_dhcp_opt(&m, c, &l1), *v2 = berth_dhcp_opt(&m2, c, &l2);
			if (c == DHCP_OPT_MSG_TYPE || c == DHCP_OPT_OVERLOAD)
				continue;
			if (!v1 != !v2 || l1 != l2 || (l1 && memcmp(v1, v2, l1)))
				__builtin_trap();
		}
	}
	struct berth_cni_result *r = NULL;
	berth_error err = { 0 };
	if (berth_dhcp_ack_result(p, n, 7, &r, &err) == 0) {
		if (r->n_ips != 1)
			__builtin_trap();
		json_t *j = NULL;
		if (berth_cni_result_to_json(r, NULL, &j, &err) == 0)
			json_decref(j);
		berth_cni_result_free(r);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size && data[0] == '{') {
		json_t *j = json_loadb((const char *)data, size, 0, NULL);
		struct dhcp_conf c;
		berth_error err = { 0 };
		if (j && berth_dhcp_conf_parse(j, "K8S_POD_NAME=x;A=b", &c, &err) == 0) {
			if (c.n_request > 255 || !c.socket_path || c.socket_path[0] != '/')
				__builtin_trap();
			for (size_t i = 0; i < c.n_provide; i++)
				if (!c.provide[i].value || strlen(c.provide[i].value) > 255)
					__builtin_trap();
			berth_dhcp_conf_free(&c);
		}
		json_decref(j);
		return 0;
	}
	if (size && data[0] == 'I') {
		const uint8_t *pl;
		size_t n;
		if (berth_dhcp_unframe(data + 1, size - 1, &pl, &n) == 0) {
			if (pl < data + 1 || pl + n > data + size)
				__builtin_trap();
			check_msg(pl, n);
		}
		return 0;
	}
	check_msg(data, size);
	return 0;
}
