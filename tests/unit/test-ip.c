/* SPDX-License-Identifier: Apache-2.0 */
/* IP parsing and formatting (Go's text forms), prefix arithmetic. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "berth/ip.h"
#include "tap.h"

static const char *fmt_ip(const char *in)
{
	static char buf[BERTH_IP_STRLEN];
	struct berth_ip ip;
	if (berth_ip_parse(in, &ip) < 0)
		return "(error)";
	return berth_ip_format(&ip, buf);
}

static const char *fmt_net(const char *in)
{
	static char buf[BERTH_IPNET_STRLEN];
	struct berth_ipnet n;
	if (berth_ipnet_parse(in, &n) < 0)
		return "(error)";
	return berth_ipnet_format(&n, buf);
}

static struct berth_ip ip(const char *s)
{
	struct berth_ip r = {0};
	if (berth_ip_parse(s, &r) < 0)
		abort();
	return r;
}

static struct berth_ipnet net(const char *s)
{
	struct berth_ipnet r;
	if (berth_ipnet_parse(s, &r) < 0)
		abort();
	return r;
}

int main(void)
{
	char buf[BERTH_IPNET_STRLEN];
	struct berth_ip a, b;
	struct berth_ipnet n;

	/* formats as Go's net.IP.String() */
	is_str(fmt_ip("10.1.2.3"), "10.1.2.3", "v4");
	is_str(fmt_ip("2001:DB8::1"), "2001:db8::1", "v6 lower case");
	is_str(fmt_ip("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1", "first longest zero run");
	is_str(fmt_ip("2001:0:0:1:0:0:0:1"), "2001:0:0:1::1", "longest zero run wins");
	is_str(fmt_ip("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1", "single zero group kept");
	is_str(fmt_ip("::"), "::", "all zero");
	is_str(fmt_ip("::1"), "::1", "loopback");
	is_str(fmt_ip("1::"), "1::", "trailing run");
	is_str(fmt_ip("::102:304"), "::102:304", "no dotted quad (glibc would print ::1.2.3.4)");
	is_str(fmt_ip("::ffff:1.2.3.4"), "::ffff:1.2.3.4", "v4-mapped stays v6");
	is_str(fmt_ip("fe80::a:b:c:d"), "fe80::a:b:c:d", "link local");

	/* rejected as Go's net.ParseIP rejects them */
	is_str(fmt_ip("010.1.2.3"), "(error)", "leading zero in v4 octet");
	is_str(fmt_ip("1.2.3"), "(error)", "three octets");
	is_str(fmt_ip("1.2.3.256"), "(error)", "octet > 255");
	is_str(fmt_ip(" 1.2.3.4"), "(error)", "leading space");
	is_str(fmt_ip("fe80::1%eth0"), "(error)", "zone");
	is_str(fmt_ip(""), "(error)", "empty");
	is_str(fmt_ip("1.2.3.4/24"), "(error)", "prefix in plain address");
	ok(berth_ip_parse(NULL, &a) < 0, "NULL");

	is_str(fmt_net("10.1.2.3/24"), "10.1.2.3/24", "cidr keeps host bits");
	is_str(fmt_net("10.1.2.3/024"), "10.1.2.3/24", "leading zeros in prefix (Go dtoi)");
	is_str(fmt_net("10.1.2.3/33"), "(error)", "v4 prefix > 32");
	is_str(fmt_net("2001:db8::/129"), "(error)", "v6 prefix > 128");
	is_str(fmt_net("2001:db8::5/64"), "2001:db8::5/64", "v6 cidr");
	is_str(fmt_net("10.1.2.3/"), "(error)", "empty prefix");
	is_str(fmt_net("10.1.2.3/-1"), "(error)", "negative prefix");
	is_str(fmt_net("10.1.2.3/+1"), "(error)", "signed prefix");
	is_str(fmt_net("10.1.2.3"), "(error)", "no prefix");
	is_str(fmt_net("10.1.2.3/2 4"), "(error)", "space in prefix");
	ok(berth_ipnet_parse_loose("10.1.2.3", &n) == 0 && n.prefix == 32, "loose: plain v4 /32");
	ok(berth_ipnet_parse_loose("::1", &n) == 0 && n.prefix == 128, "loose: plain v6 /128");
	ok(berth_ipnet_parse_loose("10.0.0.0/8", &n) == 0 && n.prefix == 8, "loose: cidr");
	ok(berth_ipnet_parse_loose("bogus", &n) < 0, "loose: garbage");

	a = (struct berth_ip){0};
	is_str(berth_ip_format(&a, buf), "<nil>", "unset prints like Go's nil IP");
	ok(berth_ip_is_unset(&a), "unset");

	/* compare */
	a = ip("10.0.0.1");
	b = ip("10.0.0.2");
	ok(berth_ip_cmp(&a, &b) < 0 && berth_ip_cmp(&b, &a) > 0, "cmp order");
	ok(!berth_ip_equal(&a, &b), "not equal");
	b = ip("::1");
	ok(berth_ip_cmp(&a, &b) < 0, "v4 sorts before v6");
	ok(berth_ipnet_equal(&(struct berth_ipnet){ip("1.2.3.4"), 24}, &(struct berth_ipnet){ip("1.2.3.4"), 24}),
	   "ipnet equal");

	/* network / last / contains / overlap */
	n = net("10.1.2.3/22");
	is_str(berth_ipnet_format(&(struct berth_ipnet){berth_ipnet_network(&n).ip, 22}, buf),
	       "10.1.0.0/22", "network");
	a = berth_ipnet_last(&n);
	is_str(berth_ip_format(&a, buf), "10.1.3.255", "last (broadcast)");
	n = net("2001:db8::5/126");
	a = berth_ipnet_last(&n);
	is_str(berth_ip_format(&a, buf), "2001:db8::7", "v6 last");
	n = net("10.1.0.0/16");
	a = ip("10.1.255.255");
	ok(berth_ipnet_contains(&n, &a), "contains");
	a = ip("10.2.0.0");
	ok(!berth_ipnet_contains(&n, &a), "not contains");
	a = ip("::ffff:10.1.0.1");
	ok(!berth_ipnet_contains(&n, &a), "v6 never in a v4 net");
	n = net("0.0.0.0/0");
	a = ip("255.255.255.255");
	ok(berth_ipnet_contains(&n, &a), "/0 contains everything of the family");
	{
		struct berth_ipnet x = net("10.0.0.0/8"), y = net("10.200.0.0/16"),
				   z = net("11.0.0.0/8"), w = net("2001:db8::/32");
		ok(berth_ipnet_overlap(&x, &y) && berth_ipnet_overlap(&y, &x), "overlap both ways");
		ok(!berth_ipnet_overlap(&x, &z), "disjoint");
		ok(!berth_ipnet_overlap(&x, &w), "families never overlap");
	}

	/* add / sub */
	a = ip("10.0.0.255");
	b = berth_ip_add(&a, 1);
	is_str(berth_ip_format(&b, buf), "10.0.1.0", "add carries");
	b = berth_ip_add(&b, -2);
	is_str(berth_ip_format(&b, buf), "10.0.0.254", "negative add borrows");
	a = ip("255.255.255.255");
	b = berth_ip_add(&a, 1);
	is_str(berth_ip_format(&b, buf), "0.0.0.0", "v4 wraps");
	a = ip("2001:db8::ffff:ffff:ffff:ffff");
	b = berth_ip_add(&a, 1);
	is_str(berth_ip_format(&b, buf), "2001:db8:0:1::", "v6 carry across 64 bits");
	b = berth_ip_add(&b, -1);
	is_str(berth_ip_format(&b, buf), "2001:db8::ffff:ffff:ffff:ffff", "v6 borrow back");
	a = ip("10.0.1.0");
	b = ip("10.0.0.250");
	is_int(berth_ip_sub(&a, &b), 6, "sub");
	is_int(berth_ip_sub(&b, &a), -6, "sub negative");
	a = ip("2001:db8::");
	b = ip("2001:db9::");
	ok(berth_ip_sub(&b, &a) == INT64_MAX, "sub saturates");
	a = ip("::1");
	b = ip("1.0.0.0");
	is_int(berth_ip_sub(&a, &b), 0, "sub across families is 0");

	a = berth_ip4_from_u32(0x0a000001);
	is_str(berth_ip_format(&a, buf), "10.0.0.1", "from u32");
	is_int(berth_ip4_to_u32(&a), 0x0a000001, "to u32");
	a = berth_ip_mask(AF_INET, 20);
	is_str(berth_ip_format(&a, buf), "255.255.240.0", "mask /20");
	a = berth_ip_mask(AF_INET6, 65);
	is_str(berth_ip_format(&a, buf), "ffff:ffff:ffff:ffff:8000::", "mask /65");
	is_int(berth_ip_len(AF_INET), 4, "len 4");
	is_int(berth_ip_len(AF_INET6), 16, "len 16");
	is_int(berth_ip_len(0), 0, "len unset");
	return done_testing();
}
