/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* An address of either family; family 0 means "unset". Bytes in network order. */
struct berth_ip {
	int family; /* AF_INET, AF_INET6 or 0 */
	uint8_t addr[16];
};

/* An address with a prefix length ("10.1.0.5/24" keeps the host bits). */
struct berth_ipnet {
	struct berth_ip ip;
	int prefix;
};

#define BERTH_IP_STRLEN 46     /* INET6_ADDRSTRLEN */
#define BERTH_IPNET_STRLEN 50

int berth_ip_len(int family); /* 4, 16, or 0 */
/* Parse a plain address; -EINVAL when it is not one. IPv4-mapped IPv6 stays IPv6.  Like Go's
 * net.ParseIP: no zone, no leading zeros in IPv4 octets, no surrounding space. */
int berth_ip_parse(const char *s, struct berth_ip *ret);
/* Parse "addr/len"; -EINVAL when malformed or len out of range (len is decimal, no sign). */
int berth_ipnet_parse(const char *s, struct berth_ipnet *ret);
/* Parse either "addr/len" or a plain address (full-length prefix). */
int berth_ipnet_parse_loose(const char *s, struct berth_ipnet *ret);
/* Format into buf (at least BERTH_IP_STRLEN / BERTH_IPNET_STRLEN); returns buf.  IPv6 is
 * printed as Go prints it (RFC 5952, no embedded dotted quad except for ::ffff:a.b.c.d);
 * an unset address prints as "<nil>", as Go does. */
char *berth_ip_format(const struct berth_ip *ip, char *buf);
char *berth_ipnet_format(const struct berth_ipnet *net, char *buf);

bool berth_ip_equal(const struct berth_ip *a, const struct berth_ip *b);
/* Order: family, then bytes. */
int berth_ip_cmp(const struct berth_ip *a, const struct berth_ip *b);
bool berth_ip_is_unset(const struct berth_ip *ip);
/* Same family, address and prefix. */
bool berth_ipnet_equal(const struct berth_ipnet *a, const struct berth_ipnet *b);
/* Host bits cleared. */
struct berth_ipnet berth_ipnet_network(const struct berth_ipnet *net);
/* Last address of the subnet (broadcast for IPv4). */
struct berth_ip berth_ipnet_last(const struct berth_ipnet *net);
bool berth_ipnet_contains(const struct berth_ipnet *net, const struct berth_ip *ip);
bool berth_ipnet_overlap(const struct berth_ipnet *a, const struct berth_ipnet *b);
/* ip + delta (may be negative), wrapping within the family; */
struct berth_ip berth_ip_add(const struct berth_ip *ip, int64_t delta);
/* a - b as a signed 64-bit count, saturating (same family required; 0 otherwise). */
int64_t berth_ip_sub(const struct berth_ip *a, const struct berth_ip *b);

/* Build from a 32-bit host-order IPv4 value / read back. */
struct berth_ip berth_ip4_from_u32(uint32_t v);
uint32_t berth_ip4_to_u32(const struct berth_ip *ip);
/* A netmask of `prefix` bits in the family, as an address ("255.255.255.0"). */
struct berth_ip berth_ip_mask(int family, int prefix);
