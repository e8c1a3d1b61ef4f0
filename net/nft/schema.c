// SPDX-License-Identifier: Apache-2.0
/*
 * The one schema of our nftables state: every set and map of our two tables with the type
 * and length of each key and data field, which kind of per-attachment state owns it, and the
 * element key layout (registers: each field padded to 4 bytes).  The rules (ruleset.c) create
 * these sets, the plugins fill them (attach.c), and `berth inspect` prints elements through
 * berth_nft_elem_format(), all from this one table.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter.h>

#include "berth/cleanup.h"
#include "berth/cniargs.h"
#include "berth/nft.h"
#include "nft-internal.h"

/* ---- key builders ---- */

size_t berth_nft_put_ip(uint8_t *buf, const struct berth_ip *ip)
{
	size_t n = ip->family == AF_INET ? 4 : 16;
	memcpy(buf, ip->addr, n);
	return n;
}

size_t berth_nft_put_u8(uint8_t *buf, uint8_t v)
{
	memset(buf, 0, 4);
	buf[0] = v;
	return 4;
}

size_t berth_nft_put_port(uint8_t *buf, uint16_t v)
{
	memset(buf, 0, 4);
	buf[0] = v >> 8;
	buf[1] = v & 0xff;
	return 4;
}

size_t berth_nft_put_ifname(uint8_t *buf, const char *name)
{
	memset(buf, 0, 16);
	strncpy((char *)buf, name, 15);
	return 16;
}

void berth_nft_elem_ip(struct berth_nft_elem *x, const char *set, const struct berth_ip *ip,
		       const char *ifname)
{
	x->family = NFPROTO_INET;
	x->set = set;
	x->key_len = berth_nft_put_ip(x->key, ip);
	if (ifname)
		x->key_len += berth_nft_put_ifname(x->key + x->key_len, ifname);
}

/* nft datatype ids (nftables include/datatype.h), so that `nft list` prints our sets. */
enum {
	DT_VERDICT = 1,
	DT_IPADDR = 7,
	DT_IP6ADDR = 8,
	DT_ETHERADDR = 9,
	DT_INET_PROTOCOL = 12,
	DT_INET_SERVICE = 13,
	DT_IFNAME = 41,
};

static const struct set_def inet_sets[] = {
	{ "pm4_ip", { DT_IPADDR, DT_INET_PROTOCOL, DT_INET_SERVICE }, { 4, 1, 2 }, 3,
	  { DT_IPADDR, DT_INET_SERVICE }, 8, 2, false },
	{ "pm4_any", { DT_INET_PROTOCOL, DT_INET_SERVICE }, { 1, 2 }, 2,
	  { DT_IPADDR, DT_INET_SERVICE }, 8, 2, false },
	{ "pm6_ip", { DT_IP6ADDR, DT_INET_PROTOCOL, DT_INET_SERVICE }, { 16, 1, 2 }, 3,
	  { DT_IP6ADDR, DT_INET_SERVICE }, 20, 2, false },
	{ "pm6_any", { DT_INET_PROTOCOL, DT_INET_SERVICE }, { 1, 2 }, 2,
	  { DT_IP6ADDR, DT_INET_SERVICE }, 20, 2, false },
	/* hash sets only: a concatenated-range (pipapo) set costs O(n) per delete */
	{ "pm_local4", { DT_IPADDR }, { 4 }, 1, { 0 }, 0, 0, false },
	{ "pm_hairpin4", { DT_IFNAME, DT_IPADDR }, { 16, 4 }, 2, { 0 }, 0, 0, false },
	{ "pm_hairpin6", { DT_IFNAME, DT_IP6ADDR }, { 16, 16 }, 2, { 0 }, 0, 0, false },
	{ "pm_all4", { DT_IPADDR }, { 4 }, 1, { 0 }, 0, 0, false },
	{ "pm_all6", { DT_IP6ADDR }, { 16 }, 1, { 0 }, 0, 0, false },
	{ "masq4", { DT_IPADDR }, { 4 }, 1, { 0 }, 0, 0, false },
	{ "masq6", { DT_IP6ADDR }, { 16 }, 1, { 0 }, 0, 0, false },
	{ "masq4_skip", { DT_IPADDR, DT_IFNAME }, { 4, 16 }, 2, { 0 }, 0, 0, false },
	{ "masq6_skip", { DT_IP6ADDR, DT_IFNAME }, { 16, 16 }, 2, { 0 }, 0, 0, false },
	/* ptp's ipMasq: the container's own subnet stays as is (saddr . daddr range) */
	{ "masq4_net", { DT_IPADDR, DT_IPADDR }, { 4, 4 }, 2, { 0 }, 0, 0, true },
	{ "masq6_net", { DT_IP6ADDR, DT_IP6ADDR }, { 16, 16 }, 2, { 0 }, 0, 0, true },
	{ "fw4", { DT_IPADDR }, { 4 }, 1, { 0 }, 0, 0, false },
	{ "fw6", { DT_IP6ADDR }, { 16 }, 1, { 0 }, 0, 0, false },
	{ "iso4", { DT_IPADDR, DT_IFNAME }, { 4, 16 }, 2, { 0 }, 0, 0, false },
	{ "iso6", { DT_IP6ADDR, DT_IFNAME }, { 16, 16 }, 2, { 0 }, 0, 0, false },
};

static const struct set_def bridge_sets[] = {
	{ "mac_if", { DT_IFNAME }, { 16 }, 1, { 0 }, 0, 0, false },
	{ "mac_ok", { DT_IFNAME, DT_ETHERADDR }, { 16, 6 }, 2, { 0 }, 0, 0, false },
	{ "iso_ports", { DT_IFNAME }, { 16 }, 1, { 0 }, 0, 0, false },
};

const struct set_def *berth_nft_set_def(int family, const char *name)
{
	const struct set_def *defs = family == NFPROTO_BRIDGE ? bridge_sets : inet_sets;
	size_t n = family == NFPROTO_BRIDGE ? ARRAY_SIZE(bridge_sets) : ARRAY_SIZE(inet_sets);
	for (size_t i = 0; i < n; i++)
		if (STREQ(defs[i].name, name))
			return &defs[i];
	/* a conditional DNAT map, "<base>_<8 hex>", has the shape of its base map */
	size_t len = strlen(name);
	if (family != NFPROTO_BRIDGE && len > 9 && name[len - 9] == '_' &&
	    strspn(name + len - 8, "0123456789abcdef") == 8) {
		char base[32];
		if (len - 9 >= sizeof(base))
			return NULL;
		memcpy(base, name, len - 9);
		base[len - 9] = '\0';
		if (STREQ(base, "pm4_ip") || STREQ(base, "pm4_any") || STREQ(base, "pm6_ip") ||
		    STREQ(base, "pm6_any"))
			return berth_nft_set_def(family, base);
	}
	return NULL;
}

const char *berth_nft_intern(const char *name)
{
	/* set names live as long as the process: elements point at them */
	static char **pool;
	static size_t n;
	for (size_t i = 0; i < n; i++)
		if (STREQ(pool[i], name))
			return pool[i];
	char **p = realloc(pool, (n + 1) * sizeof(*p));
	if (!p)
		return NULL;
	pool = p;
	pool[n] = strdup(name);
	return pool[n] ? pool[n++] : NULL;
}

size_t berth_nft_set_key_len(const struct set_def *d)
{
	size_t n = 0;
	for (size_t i = 0; i < d->n_key; i++)
		n += (d->key_len[i] + 3) & ~3u;
	return n;
}

void berth_nft_set_defs(int family, const struct set_def **ret, size_t *ret_n)
{
	*ret = family == NFPROTO_BRIDGE ? bridge_sets : inet_sets;
	*ret_n = family == NFPROTO_BRIDGE ? ARRAY_SIZE(bridge_sets) : ARRAY_SIZE(inet_sets);
}

uint32_t berth_nft_set_id(int family, const char *name)
{
	const struct set_def *defs;
	size_t n;
	berth_nft_set_defs(family, &defs, &n);
	for (size_t i = 0; i < n; i++)
		if (STREQ(defs[i].name, name))
			return 1 + i;
	return 0;
}

/* In the order `berth inspect` lists them. */
const struct berth_nft_kind berth_nft_kinds[] = {
	{ "masq", { "masq4", "masq6", "masq4_skip", "masq6_skip", "masq4_net", "masq6_net", NULL } },
	{ "portmap",
	  { "pm4_ip", "pm4_any", "pm6_ip", "pm6_any", "pm_local4", "pm_all4", "pm_all6",
	    "pm_hairpin4", "pm_hairpin6", NULL } },
	{ "firewall", { "fw4", "fw6", "iso4", "iso6", "iso_ports", NULL } },
	{ "macspoof", { "mac_if", "mac_ok", NULL } },
	{ NULL, { NULL } },
};

/* One field of a key or map data, by its nft datatype; returns its padded length. */
static size_t format_field(uint8_t type, uint8_t len, const uint8_t *b, size_t avail, char *out,
			   size_t outsz)
{
	size_t flen = ((size_t)len + 3) & ~(size_t)3;

	out[0] = '\0';
	if (avail < len)
		return flen;
	switch (type) {
	case DT_IPADDR:
		inet_ntop(AF_INET, b, out, outsz);
		break;
	case DT_IP6ADDR:
		inet_ntop(AF_INET6, b, out, outsz);
		break;
	case DT_INET_PROTOCOL:
		snprintf(out, outsz, "%s",
			 b[0] == 6 ? "tcp" : b[0] == 17 ? "udp" : b[0] == 132 ? "sctp" : "?");
		break;
	case DT_INET_SERVICE:
		snprintf(out, outsz, "%u", (unsigned)(b[0] << 8 | b[1]));
		break;
	case DT_IFNAME:
		snprintf(out, outsz, "%.16s", (const char *)b);
		break;
	case DT_ETHERADDR:
		if (outsz >= BERTH_MAC_STRLEN)
			berth_mac_format(b, out);
		break;
	}
	return flen;
}

void berth_nft_elem_format(int family, const char *set, const uint8_t *b, size_t len, bool data,
			   char *out, size_t outsz)
{
	const struct set_def *d = berth_nft_set_def(family, set);
	size_t off = 0, o = 0;

	out[0] = '\0';
	if (!d) { /* a set this build does not know: hex */
		for (size_t i = 0; i < len && o + 3 < outsz; i++)
			o += (size_t)snprintf(out + o, outsz - o, "%02x", b[i]);
		return;
	}
	/* map data: an address and a port, each the width of its type */
	size_t n = data ? d->n_data : d->n_key;
	for (size_t i = 0; i < n && off < len; i++) {
		char tmp[64];
		uint8_t type = data ? d->data_type[i] : d->key_type[i];
		uint8_t flen = data ? (type == DT_IP6ADDR ? 16 : type == DT_IPADDR ? 4 : 2)
				    : d->key_len[i];
		off += format_field(type, flen, b + off, len - off, tmp, sizeof(tmp));
		o += (size_t)snprintf(out + o, outsz > o ? outsz - o : 0, "%s%s", o ? " . " : "", tmp);
	}
}
