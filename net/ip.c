/* SPDX-License-Identifier: Apache-2.0 */
/* IP address and prefix helpers.  Text forms follow Go's net package, because results and configs
 * are exchanged with Go runtimes and compared byte for byte. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "berth/ip.h"

int berth_ip_len(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

int berth_ip_parse(const char *s, struct berth_ip *ret)
{
	struct berth_ip ip = {0};

	if (!s || !*s || strlen(s) >= BERTH_IP_STRLEN)
		return -EINVAL;
	ip.family = strchr(s, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(ip.family, s, ip.addr) != 1)
		return -EINVAL;
	*ret = ip;
	return 0;
}

static int parse_prefix(const char *s, int max)
{
	int n = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		n = n * 10 + (*s - '0');
		if (n > max)
			return -EINVAL;
	}
	return n;
}

int berth_ipnet_parse(const char *s, struct berth_ipnet *ret)
{
	char buf[BERTH_IP_STRLEN];
	const char *slash;
	struct berth_ipnet net;
	int r;

	if (!s || !(slash = strchr(s, '/')) || (size_t)(slash - s) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, slash - s);
	buf[slash - s] = '\0';
	r = berth_ip_parse(buf, &net.ip);
	if (r < 0)
		return r;
	r = parse_prefix(slash + 1, berth_ip_len(net.ip.family) * 8);
	if (r < 0)
		return r;
	net.prefix = r;
	*ret = net;
	return 0;
}

int berth_ipnet_parse_loose(const char *s, struct berth_ipnet *ret)
{
	if (s && strchr(s, '/'))
		return berth_ipnet_parse(s, ret);
	if (berth_ip_parse(s, &ret->ip) < 0)
		return -EINVAL;
	ret->prefix = berth_ip_len(ret->ip.family) * 8;
	return 0;
}

static bool is_v4_mapped(const uint8_t *a)
{
	static const uint8_t pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return memcmp(a, pfx, 12) == 0;
}

char *berth_ip_format(const struct berth_ip *ip, char *buf)
{
	const uint8_t *a = ip->addr;
	int best = -1, best_len = 0, i;
	char *p = buf;

	if (ip->family == AF_INET) {
		sprintf(buf, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
		return buf;
	}
	if (ip->family != AF_INET6) {
		strcpy(buf, "<nil>");
		return buf;
	}
	if (is_v4_mapped(a)) {
		sprintf(buf, "::ffff:%u.%u.%u.%u", a[12], a[13], a[14], a[15]);
		return buf;
	}
	/* RFC 5952: compress the longest run (>= 2 groups, first on a tie) of zero groups;
	 * glibc's inet_ntop would print "::1.2.3.4" for some addresses, Go never does. */
	for (i = 0; i < 8;) {
		int j = i;
		while (j < 8 && a[2 * j] == 0 && a[2 * j + 1] == 0)
			j++;
		if (j - i > best_len && j - i >= 2) {
			best = i;
			best_len = j - i;
		}
		i = j > i ? j : i + 1;
	}
	for (i = 0; i < 8; i++) {
		if (i == best) {
			*p++ = ':';
			*p++ = ':';
			i += best_len - 1;
			continue;
		}
		if (i > 0 && i != best + best_len)
			*p++ = ':';
		p += sprintf(p, "%x", (unsigned)(a[2 * i] << 8 | a[2 * i + 1]));
	}
	*p = '\0';
	return buf;
}

char *berth_ipnet_format(const struct berth_ipnet *net, char *buf)
{
	berth_ip_format(&net->ip, buf);
	if (net->ip.family)
		sprintf(buf + strlen(buf), "/%d", net->prefix);
	return buf;
}

bool berth_ip_equal(const struct berth_ip *a, const struct berth_ip *b)
{
	return berth_ip_cmp(a, b) == 0;
}

int berth_ip_cmp(const struct berth_ip *a, const struct berth_ip *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->addr, b->addr, berth_ip_len(a->family));
}

bool berth_ip_is_unset(const struct berth_ip *ip)
{
	return ip->family != AF_INET && ip->family != AF_INET6;
}

bool berth_ipnet_equal(const struct berth_ipnet *a, const struct berth_ipnet *b)
{
	return a->prefix == b->prefix && berth_ip_equal(&a->ip, &b->ip);
}

struct berth_ip berth_ip_mask(int family, int prefix)
{
	struct berth_ip m = {.family = family};
	int len = berth_ip_len(family);

	for (int i = 0; i < len; i++) {
		int bits = prefix - 8 * i;
		m.addr[i] = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
	}
	return m;
}

struct berth_ipnet berth_ipnet_network(const struct berth_ipnet *net)
{
	struct berth_ipnet r = *net;
	struct berth_ip m = berth_ip_mask(net->ip.family, net->prefix);

	for (int i = 0; i < 16; i++)
		r.ip.addr[i] &= m.addr[i];
	return r;
}

struct berth_ip berth_ipnet_last(const struct berth_ipnet *net)
{
	struct berth_ip r = net->ip;
	struct berth_ip m = berth_ip_mask(net->ip.family, net->prefix);
	int len = berth_ip_len(net->ip.family);

	for (int i = 0; i < len; i++)
		r.addr[i] |= (uint8_t)~m.addr[i];
	return r;
}

bool berth_ipnet_contains(const struct berth_ipnet *net, const struct berth_ip *ip)
{
	struct berth_ip m;
	int len = berth_ip_len(net->ip.family);

	if (!len || ip->family != net->ip.family)
		return false;
	m = berth_ip_mask(net->ip.family, net->prefix);
	for (int i = 0; i < len; i++)
		if ((ip->addr[i] & m.addr[i]) != (net->ip.addr[i] & m.addr[i]))
			return false;
	return true;
}

bool berth_ipnet_overlap(const struct berth_ipnet *a, const struct berth_ipnet *b)
{
	if (a->ip.family != b->ip.family || !berth_ip_len(a->ip.family))
		return false;
	/* Two prefixes overlap iff the shorter one contains the other's address. */
	return a->prefix <= b->prefix ? berth_ipnet_contains(a, &b->ip)
				      : berth_ipnet_contains(b, &a->ip);
}

struct berth_ip berth_ip_add(const struct berth_ip *ip, int64_t delta)
{
	struct berth_ip r = *ip;
	int len = berth_ip_len(ip->family);
	/* Two's complement addition byte by byte; a negative delta sign-extends with 0xff. */
	uint64_t d = (uint64_t)delta;
	unsigned carry = 0;

	for (int i = len - 1, k = 0; i >= 0; i--, k++) {
		unsigned byte = k < 8 ? (unsigned)(d >> (8 * k)) & 0xff : (delta < 0 ? 0xff : 0);
		unsigned sum = r.addr[i] + byte + carry;
		r.addr[i] = (uint8_t)sum;
		carry = sum >> 8;
	}
	return r;
}

int64_t berth_ip_sub(const struct berth_ip *a, const struct berth_ip *b)
{
	int len = berth_ip_len(a->family);
	uint8_t diff[16];
	int borrow = 0, neg;
	uint64_t v = 0;

	if (!len || a->family != b->family)
		return 0;
	for (int i = len - 1; i >= 0; i--) {
		int d = a->addr[i] - b->addr[i] - borrow;
		borrow = d < 0;
		diff[i] = (uint8_t)d;
	}
	neg = borrow;
	if (neg) { /* negate the two's complement value */
		int carry = 1;
		for (int i = len - 1; i >= 0; i--) {
			int s = (uint8_t)~diff[i] + carry;
			diff[i] = (uint8_t)s;
			carry = s >> 8;
		}
	}
	for (int i = 0; i < len; i++) {
		if (i < len - 8 && diff[i])
			return neg ? INT64_MIN : INT64_MAX;
		if (i >= len - 8)
			v = v << 8 | diff[i];
	}
	if (v > (uint64_t)INT64_MAX)
		return neg ? INT64_MIN : INT64_MAX;
	return neg ? -(int64_t)v : (int64_t)v;
}

struct berth_ip berth_ip4_from_u32(uint32_t v)
{
	struct berth_ip r = {.family = AF_INET};
	r.addr[0] = v >> 24;
	r.addr[1] = v >> 16;
	r.addr[2] = v >> 8;
	r.addr[3] = v;
	return r;
}

uint32_t berth_ip4_to_u32(const struct berth_ip *ip)
{
	return (uint32_t)ip->addr[0] << 24 | ip->addr[1] << 16 | ip->addr[2] << 8 | ip->addr[3];
}
