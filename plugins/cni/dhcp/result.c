// SPDX-License-Identifier: Apache-2.0
/* The CNI result of a DHCPACK: the address with the prefix of option 1, the gateway of option 3,
 * and the routes: RFC 3442 classless routes (121) when present, else the classful static
 * routes (33) and a default route via the first router, as the reference builds them. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/ip.h"
#include "dhcp-internal.h"

static int mask_prefix(uint32_t mask_be, int *ret)
{
	uint32_t m = ntohl(mask_be);
	int p = __builtin_popcount(m);
	if (p && m != (uint32_t)(0xffffffffu << (32 - p)))
		return -EINVAL;
	*ret = p;
	return 0;
}

static int add_route(struct berth_cni_result *r, uint32_t dst_be, int prefix, uint32_t gw_be,
		     int priority)
{
	struct berth_ipnet dst = { .ip = berth_ip4_from_u32(ntohl(dst_be)), .prefix = prefix };
	struct berth_ip gw = { 0 };
	if (gw_be)
		gw = berth_ip4_from_u32(ntohl(gw_be));
	int i = berth_cni_result_add_route(r, &dst, gw_be ? &gw : NULL);
	if (i < 0)
		return i;
	if (priority)
		r->routes[i].priority = priority;
	return 0;
}

/* RFC 3442 classless routes; -EINVAL when malformed (then they are ignored, as if absent) */
static int classless_routes(struct berth_cni_result *r, const uint8_t *p, size_t n, int prio)
{
	size_t i = 0, start = r->n_routes;
	while (i < n) {
		int w = p[i];
		size_t sig = (size_t)(w + 7) / 8;
		if (w > 32 || i + 1 + sig + 4 > n)
			goto bad;
		uint8_t d[4] = { 0 };
		memcpy(d, p + i + 1, sig);
		uint32_t dst, gw;
		memcpy(&dst, d, 4);
		memcpy(&gw, p + i + 1 + sig, 4);
		struct berth_ip ip = berth_ip4_from_u32(ntohl(dst));
		struct berth_ipnet net = berth_ipnet_network(&(struct berth_ipnet){ ip, w });
		if (add_route(r, htonl(berth_ip4_to_u32(&net.ip)), w, gw, prio) < 0)
			return -ENOMEM;
		i += 1 + sig + 4;
	}
	return 0;
bad:
	r->n_routes = start; /* drop what was added: the option is ignored as a whole */
	return -EINVAL;
}

int berth_dhcp_ack_result(const uint8_t *ack, size_t ack_len, int priority,
			  struct berth_cni_result **ret, berth_error *err)
{
	_cleanup_free_ struct dhcp_msg *m = malloc(sizeof(*m));
	_cleanup_cni_result_ struct berth_cni_result *r = berth_cni_result_new(NULL);
	uint32_t mask, router = 0;
	int prefix;
	size_t n;

	if (!m || !r)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	if (berth_dhcp_parse(ack, ack_len, m) < 0)
		return berth_error_set(err, BERTH_ERR_INTERNAL, EINVAL, "stored DHCPACK unreadable");
	if (!berth_dhcp_opt_u32(m, DHCP_OPT_SUBNET_MASK, &mask))
		return berth_error_set(err, BERTH_ERR_IO, EINVAL,
				       "DHCP option Subnet Mask not found in DHCPACK");
	if (mask_prefix(mask, &prefix) < 0)
		return berth_error_set(err, BERTH_ERR_IO, EINVAL,
				       "DHCP option Subnet Mask is not a prefix");
	const uint8_t *rt = berth_dhcp_opt(m, DHCP_OPT_ROUTER, &n);
	if (rt && n >= 4)
		memcpy(&router, rt, 4);
	struct berth_ipnet addr = { .ip = berth_ip4_from_u32(ntohl(m->yiaddr)), .prefix = prefix };
	struct berth_ip gw = berth_ip4_from_u32(ntohl(router));
	if (berth_cni_result_add_ip(r, &addr, router ? &gw : NULL, -1) < 0)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");

	/* RFC 3442: classless routes, when present, replace option 33 and the router */
	const uint8_t *cl = berth_dhcp_opt(m, DHCP_OPT_CLASSLESS_ROUTES, &n);
	if (cl && n && classless_routes(r, cl, n, priority) == 0 && r->n_routes) {
		*ret = TAKE_PTR(r);
		return 0;
	}
	const uint8_t *st = berth_dhcp_opt(m, DHCP_OPT_STATIC_ROUTES, &n);
	for (size_t i = 0; st && i + 8 <= n; i += 8) {
		uint32_t dst, g;
		memcpy(&dst, st + i, 4);
		memcpy(&g, st + i + 4, 4);
		uint8_t a = st[i];
		int pl = a < 128 ? 8 : a < 192 ? 16 : a < 224 ? 24 : -1;
		if (pl < 0)
			continue; /* classes D and E have no classful mask */
		if (add_route(r, dst, pl, g, priority) < 0)
			return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	}
	if (router && add_route(r, 0, 0, router, priority) < 0)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	*ret = TAKE_PTR(r);
	return 0;
}

