// SPDX-License-Identifier: Apache-2.0
/* The bridge plugin's NAT and anti-spoofing: ipMasq and macspoofchk as set elements. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netfilter.h>

#include "berth/cleanup.h"
#include "berth/nft.h"
#include "berth/cni-skel.h"
#include "nft-internal.h"

void berth_nft_prefix_range(const struct berth_ipnet *n, struct berth_ip *first,
			    struct berth_ip *last)
{
	int len = n->ip.family == AF_INET ? 4 : 16;
	*first = n->ip;
	*last = n->ip;
	for (int i = 0; i < len; i++) {
		int bits = n->prefix - 8 * i;
		uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
		first->addr[i] &= mask;
		last->addr[i] |= (uint8_t)~mask;
	}
}

int berth_nft_masq_backend_ok(const char *backend, berth_error *err)
{
	if (!backend || !*backend || STREQ(backend, "nftables") || STREQ(backend, "iptables"))
		return 0;
	return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
			       "ipMasqBackend: unknown backend '%s' (want \"nftables\"; "
			       "\"iptables\" is accepted and served by nftables)",
			       backend);
}

int berth_nft_masq_add(const struct berth_nft_owner *o, const struct berth_ipnet *addrs, size_t n,
		       const char *ifname, berth_error *err)
{
	_cleanup_free_ struct berth_nft_elem *e = calloc(2 * n + 1, sizeof(*e));
	size_t m = 0;
	if (!e)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	if (!ifname || !*ifname || strlen(ifname) > 15)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "ipMasq: bad bridge interface name");
	/* one message per set: all masq4, then masq4_skip, ... */
	static const char *const order[] = { "masq4", "masq4_skip", "masq6", "masq6_skip" };
	for (size_t k = 0; k < ARRAY_SIZE(order); k++) {
		bool v6 = k >= 2, skip = k % 2;
		for (size_t i = 0; i < n; i++) {
			const struct berth_ip *ip = &addrs[i].ip;
			if (ip->family != (v6 ? AF_INET6 : AF_INET))
				continue;
			berth_nft_elem_ip(&e[m++], order[k], ip, skip ? ifname : NULL);
		}
	}
	return berth_nft_attach_set("masq", o, e, m, err);
}

int berth_nft_masq_add_subnets(const struct berth_nft_owner *o, const struct berth_ipnet *addrs,
			       size_t n, berth_error *err)
{
	_cleanup_free_ struct berth_nft_elem *e = calloc(2 * n + 1, sizeof(*e));
	size_t m = 0;
	if (!e)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	static const char *const order[] = { "masq4", "masq4_net", "masq6", "masq6_net" };
	for (size_t k = 0; k < ARRAY_SIZE(order); k++) {
		bool v6 = k >= 2, net = k % 2;
		for (size_t i = 0; i < n; i++) {
			const struct berth_ip *ip = &addrs[i].ip;
			struct berth_ip first, last;
			struct berth_nft_elem *x = &e[m++];
			if (ip->family != (v6 ? AF_INET6 : AF_INET)) {
				m--;
				continue;
			}
			berth_nft_elem_ip(x, order[k], ip, NULL);
			if (!net)
				continue;
			/* saddr . [first, last] of the subnet */
			berth_nft_prefix_range(&addrs[i], &first, &last);
			memcpy(x->key_end, x->key, x->key_len);
			x->key_end_len = x->key_len;
			x->key_len += berth_nft_put_ip(x->key + x->key_len, &first);
			x->key_end_len += berth_nft_put_ip(x->key_end + x->key_end_len, &last);
		}
	}
	return berth_nft_attach_set("masq", o, e, m, err);
}

int berth_nft_masq_del(const struct berth_nft_owner *o, bool sweep, berth_error *err)
{
	return berth_nft_attach_del("masq", o, sweep, err);
}

int berth_nft_masq_check(const struct berth_nft_owner *o, berth_error *err)
{
	return berth_nft_attach_check("masq", o, err);
}

int berth_nft_macspoof_add(const struct berth_nft_owner *o, const char *host_ifname,
			   const uint8_t mac[6], berth_error *err)
{
	struct berth_nft_elem e[2] = { 0 };
	if (!host_ifname || !*host_ifname || strlen(host_ifname) > 15)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "macspoofchk: bad host interface name");
	e[0].family = e[1].family = NFPROTO_BRIDGE;
	e[0].set = "mac_if";
	e[0].key_len = berth_nft_put_ifname(e[0].key, host_ifname);
	e[1].set = "mac_ok";
	e[1].key_len = berth_nft_put_ifname(e[1].key, host_ifname);
	memcpy(e[1].key + 16, mac, 6);
	e[1].key_len += 8;
	return berth_nft_attach_set("macspoof", o, e, 2, err);
}

int berth_nft_macspoof_del(const struct berth_nft_owner *o, bool sweep, berth_error *err)
{
	return berth_nft_attach_del("macspoof", o, sweep, err);
}

int berth_nft_macspoof_check(const struct berth_nft_owner *o, berth_error *err)
{
	return berth_nft_attach_check("macspoof", o, err);
}

int berth_nft_bridge_gc(const char *network, const struct berth_cni_attachment *valid,
			size_t n_valid, berth_error *err)
{
	int r1 = berth_nft_attach_gc("masq", network, valid, n_valid, err);
	berth_error e2 = { 0 };
	int r2 = berth_nft_attach_gc("macspoof", network, valid, n_valid, r1 < 0 ? &e2 : err);
	return r1 < 0 ? r1 : r2;
}
