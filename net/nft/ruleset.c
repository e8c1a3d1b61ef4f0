// SPDX-License-Identifier: Apache-2.0
/*
 * Our two tables as one setup transaction: the tables, their base chains, every set of the
 * schema (schema.c) and the rules that look the sets up.  Created once, by the first call that
 * needs them; after that plugin calls only change set elements.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter_bridge.h>
#include <linux/netlink.h>
#include <libmnl/libmnl.h>
#include <libnftnl/table.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/expr.h>
#include <libnftnl/udata.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/log.h"
#include "berth/nft.h"
#include "nft-internal.h"

#ifndef NFT_MSG_DESTROYTABLE
#define NFT_MSG_DESTROYTABLE 26
#endif

static uint32_t concat_type(const uint8_t *types, size_t n)
{
	uint32_t t = 0;
	for (size_t i = 0; i < n; i++)
		t = (t << 6) | types[i];
	return t;
}

static int add_table(struct berth_nft_batch *b, int family)
{
	char desc[128];
	snprintf(desc, sizeof(desc), "create table %s %s", berth_nft_family_name(family), berth_nft_table());
	struct nlmsghdr *nlh = berth_nft_msg_begin(b, desc);
	struct nftnl_table *t = nftnl_table_alloc();
	if (!nlh || !t) {
		nftnl_table_free(t);
		return -ENOMEM;
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, berth_nft_table());
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, family);
	nlh = nftnl_nlmsg_build_hdr((char *)nlh, NFT_MSG_NEWTABLE, family,
				    NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, b->seq);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	berth_nft_msg_end(b, nlh);
	return 0;
}

static int add_chain(struct berth_nft_batch *b, int family, const char *name, const char *type,
		     int hook, int prio)
{
	char desc[128];
	snprintf(desc, sizeof(desc), "create chain %s %s %s", berth_nft_family_name(family),
		 berth_nft_table(), name);
	struct nlmsghdr *nlh = berth_nft_msg_begin(b, desc);
	struct nftnl_chain *c = nftnl_chain_alloc();
	if (!nlh || !c) {
		nftnl_chain_free(c);
		return -ENOMEM;
	}
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, berth_nft_table());
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, family);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	nlh = nftnl_nlmsg_build_hdr((char *)nlh, NFT_MSG_NEWCHAIN, family, NLM_F_CREATE | NLM_F_ACK,
				    b->seq);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	berth_nft_msg_end(b, nlh);
	return 0;
}

int berth_nft_add_set_named(struct berth_nft_batch *b, int family, const struct set_def *d,
			 const char *name)
{
	char desc[128];
	snprintf(desc, sizeof(desc), "create set %s %s %s", berth_nft_family_name(family), berth_nft_table(),
		 name);
	struct nlmsghdr *nlh = berth_nft_msg_begin(b, desc);
	struct nftnl_set *s = nftnl_set_alloc();
	if (!nlh || !s) {
		nftnl_set_free(s);
		return -ENOMEM;
	}
	uint32_t flags = 0;
	nftnl_set_set_str(s, NFTNL_SET_TABLE, berth_nft_table());
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, family);
	nftnl_set_set_u32(s, NFTNL_SET_ID, berth_nft_set_id(family, name));
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, berth_nft_set_key_len(d));
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, concat_type(d->key_type, d->n_key));
	if (d->data_len) {
		flags |= NFT_SET_MAP;
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, concat_type(d->data_type, d->n_data));
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, d->data_len);
	}
	if (d->interval) {
		/* concatenated ranges: the kernel picks pipapo from the field lengths */
		flags |= NFT_SET_INTERVAL | NFT_SET_CONCAT;
		uint8_t fl[NFT_REG32_COUNT] = { 0 };
		for (size_t i = 0; i < d->n_key; i++)
			fl[i] = d->key_len[i];
		nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, fl, d->n_key);
	}
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, flags);
	nlh = nftnl_nlmsg_build_hdr((char *)nlh, NFT_MSG_NEWSET, family, NLM_F_CREATE | NLM_F_ACK,
				    b->seq);
	nftnl_set_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	berth_nft_msg_end(b, nlh);
	return 0;
}

static int add_set(struct berth_nft_batch *b, int family, const struct set_def *d)
{
	return berth_nft_add_set_named(b, family, d, d->name);
}

int berth_nft_add_rule_at(struct berth_nft_batch *b, struct nftnl_rule *r, int family,
		       const char *chain, const char *what, bool append)
{
	char desc[192];
	snprintf(desc, sizeof(desc), "add rule %s %s %s (%s)", berth_nft_family_name(family),
		 berth_nft_table(), chain, what);
	struct nlmsghdr *nlh = berth_nft_msg_begin(b, desc);
	if (!nlh) {
		nftnl_rule_free(r);
		return -ENOMEM;
	}
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, berth_nft_table());
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, family);
	nlh = nftnl_nlmsg_build_hdr((char *)nlh, NFT_MSG_NEWRULE, family,
				    NLM_F_CREATE | (append ? NLM_F_APPEND : 0) | NLM_F_ACK, b->seq);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	berth_nft_msg_end(b, nlh);
	return 0;
}

int berth_nft_add_rule(struct berth_nft_batch *b, struct nftnl_rule *r, int family, const char *chain,
		    const char *what)
{
	return berth_nft_add_rule_at(b, r, family, chain, what, true);
}

/* DNAT through the port maps: specific host IP first, then any local address. */
static int add_dnat_rules(struct berth_nft_batch *b, const char *chain)
{
	int r = 0;
	for (int v6 = 0; v6 <= 1 && r == 0; v6++) {
		uint8_t nfp = v6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
		uint32_t alen = v6 ? 16 : 4, aregs = alen / 4;
		struct nftnl_rule *rl = nftnl_rule_alloc();
		/* ip daddr . meta l4proto . th dport dnat to map @pmX_ip */
		berth_nft_expr_nfproto(rl, nfp);
		berth_nft_expr_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, v6 ? IP6_DADDR : IP4_DADDR, alen,
			  NFT_REG32_00);
		berth_nft_expr_meta(rl, NFT_META_L4PROTO, NFT_REG32_00 + aregs);
		berth_nft_expr_payload(rl, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_00 + aregs + 1);
		berth_nft_expr_lookup(rl, NFPROTO_INET, v6 ? "pm6_ip" : "pm4_ip", NFT_REG32_00, NFT_REG32_00,
			 false);
		berth_nft_expr_counter(rl);
		berth_nft_expr_dnat(rl, nfp, NFT_REG32_00, NFT_REG32_00 + aregs);
		r = berth_nft_add_rule(b, rl, NFPROTO_INET, chain, v6 ? "dnat pm6_ip" : "dnat pm4_ip");
		if (r < 0)
			break;
		/* fib daddr type local meta l4proto . th dport dnat to map @pmX_any */
		rl = nftnl_rule_alloc();
		berth_nft_expr_nfproto(rl, nfp);
		berth_nft_expr_fib_daddr_local(rl);
		berth_nft_expr_meta(rl, NFT_META_L4PROTO, NFT_REG32_00);
		berth_nft_expr_payload(rl, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_01);
		berth_nft_expr_lookup(rl, NFPROTO_INET, v6 ? "pm6_any" : "pm4_any", NFT_REG32_00, NFT_REG32_00,
			 false);
		berth_nft_expr_counter(rl);
		berth_nft_expr_dnat(rl, nfp, NFT_REG32_00, NFT_REG32_00 + aregs);
		r = berth_nft_add_rule(b, rl, NFPROTO_INET, chain, v6 ? "dnat pm6_any" : "dnat pm4_any");
	}
	return r;
}

static int add_postrouting_rules(struct berth_nft_batch *b)
{
	int r = 0;
	for (int v6 = 0; v6 <= 1 && r == 0; v6++) {
		uint8_t nfp = v6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
		uint32_t alen = v6 ? 16 : 4, aregs = alen / 4;
		uint32_t so = v6 ? IP6_SADDR : IP4_SADDR, dof = v6 ? IP6_DADDR : IP4_DADDR;
		struct nftnl_rule *rl;

		/* portmap snat, only for connections we DNATed: from the host's 127.0.0.0/8 (IPv4;
		 * Linux cannot forward ::1), from the container's own bridge (hairpin), or from
		 * anywhere (masqAll) */
		if (!v6) {
			uint8_t mask[4] = { 0xff, 0, 0, 0 }, lo[4] = { 127, 0, 0, 0 };
			rl = nftnl_rule_alloc();
			berth_nft_expr_nfproto(rl, nfp);
			berth_nft_expr_ct_bits(rl, NFT_CT_STATUS, IPS_DST_NAT);
			berth_nft_expr_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, so, 4, NFT_REG32_00);
			berth_nft_expr_bitwise(rl, NFT_REG32_00, mask, 4);
			berth_nft_expr_cmp(rl, NFT_REG32_00, NFT_CMP_EQ, lo, 4);
			berth_nft_expr_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, dof, 4, NFT_REG32_00);
			berth_nft_expr_lookup(rl, NFPROTO_INET, "pm_local4", NFT_REG32_00, -1, false);
			berth_nft_expr_counter(rl);
			berth_nft_expr_masq(rl);
			if ((r = berth_nft_add_rule(b, rl, NFPROTO_INET, "postrouting", "portmap localhost")) < 0)
				break;
		}
		/* hairpin: the forward chain marked it (postrouting does not know the input
		 * interface) */
		rl = nftnl_rule_alloc();
		berth_nft_expr_nfproto(rl, nfp);
		berth_nft_expr_ct_bits(rl, NFT_CT_STATUS, IPS_DST_NAT);
		{
			uint32_t bit = BERTH_NFT_HAIRPIN_MARK, zero = 0;
			berth_nft_expr_meta(rl, NFT_META_MARK, NFT_REG32_00);
			berth_nft_expr_bitwise(rl, NFT_REG32_00, &bit, 4);
			berth_nft_expr_cmp(rl, NFT_REG32_00, NFT_CMP_NEQ, &zero, 4);
		}
		berth_nft_expr_counter(rl);
		berth_nft_expr_masq(rl);
		if ((r = berth_nft_add_rule(b, rl, NFPROTO_INET, "postrouting", "portmap hairpin")) < 0)
			break;
		rl = nftnl_rule_alloc();
		berth_nft_expr_nfproto(rl, nfp);
		berth_nft_expr_ct_bits(rl, NFT_CT_STATUS, IPS_DST_NAT);
		berth_nft_expr_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, dof, alen, NFT_REG32_00);
		berth_nft_expr_lookup(rl, NFPROTO_INET, v6 ? "pm_all6" : "pm_all4", NFT_REG32_00, -1, false);
		berth_nft_expr_counter(rl);
		berth_nft_expr_masq(rl);
		if ((r = berth_nft_add_rule(b, rl, NFPROTO_INET, "postrouting", "portmap masqAll")) < 0)
			break;

		/* ipMasq: traffic that leaves through the container's own bridge stays as is */
		rl = nftnl_rule_alloc();
		berth_nft_expr_nfproto(rl, nfp);
		berth_nft_expr_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, so, alen, NFT_REG32_00);
		berth_nft_expr_meta(rl, NFT_META_OIFNAME, NFT_REG32_00 + aregs);
		berth_nft_expr_lookup(rl, NFPROTO_INET, v6 ? "masq6_skip" : "masq4_skip", NFT_REG32_00, -1,
			 false);
		berth_nft_expr_verdict(rl, NFT_RETURN);
		if ((r = berth_nft_add_rule(b, rl, NFPROTO_INET, "postrouting", "masq skip own bridge")) < 0)
			break;

		/* ptp: traffic to the container's own subnet (other containers) stays as is */
		rl = nftnl_rule_alloc();
		berth_nft_expr_nfproto(rl, nfp);
		berth_nft_expr_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, so, alen, NFT_REG32_00);
		berth_nft_expr_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, dof, alen, NFT_REG32_00 + aregs);
		berth_nft_expr_lookup(rl, NFPROTO_INET, v6 ? "masq6_net" : "masq4_net", NFT_REG32_00, -1,
			 false);
		berth_nft_expr_verdict(rl, NFT_RETURN);
		if ((r = berth_nft_add_rule(b, rl, NFPROTO_INET, "postrouting", "masq skip own subnet")) < 0)
			break;

		/* ... and so is multicast (224.0.0.0/4, ff00::/8), as the reference does */
		rl = nftnl_rule_alloc();
		berth_nft_expr_nfproto(rl, nfp);
		if (v6) {
			uint8_t ff = 0xff;
			berth_nft_expr_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, dof, 1, NFT_REG32_00);
			berth_nft_expr_cmp(rl, NFT_REG32_00, NFT_CMP_EQ, &ff, 1);
		} else {
			uint8_t mask[4] = { 0xf0, 0, 0, 0 }, mc[4] = { 0xe0, 0, 0, 0 };
			berth_nft_expr_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, dof, 4, NFT_REG32_00);
			berth_nft_expr_bitwise(rl, NFT_REG32_00, mask, 4);
			berth_nft_expr_cmp(rl, NFT_REG32_00, NFT_CMP_EQ, mc, 4);
		}
		berth_nft_expr_verdict(rl, NFT_RETURN);
		if ((r = berth_nft_add_rule(b, rl, NFPROTO_INET, "postrouting", "masq skip multicast")) < 0)
			break;

		rl = nftnl_rule_alloc();
		berth_nft_expr_nfproto(rl, nfp);
		berth_nft_expr_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, so, alen, NFT_REG32_00);
		berth_nft_expr_lookup(rl, NFPROTO_INET, v6 ? "masq6" : "masq4", NFT_REG32_00, -1, false);
		berth_nft_expr_counter(rl);
		berth_nft_expr_masq(rl);
		r = berth_nft_add_rule(b, rl, NFPROTO_INET, "postrouting", "masq");
	}
	return r;
}

static int add_forward_rules(struct berth_nft_batch *b)
{
	int r = 0;
	for (int v6 = 0; v6 <= 1 && r == 0; v6++) {
		uint8_t nfp = v6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
		uint32_t alen = v6 ? 16 : 4, aregs = alen / 4;
		uint32_t so = v6 ? IP6_SADDR : IP4_SADDR, dof = v6 ? IP6_DADDR : IP4_DADDR;
		const char *iso = v6 ? "iso6" : "iso4", *fw = v6 ? "fw6" : "fw4";
		struct nftnl_rule *rl;

		/* portmap hairpin: a DNATed connection that came from the target container's own
		 * bridge gets a mark that postrouting masquerades:
		 * ct status dnat iifname . ip daddr @pm_hairpinX meta mark set mark | 0x2000 */
		rl = nftnl_rule_alloc();
		berth_nft_expr_nfproto(rl, nfp);
		berth_nft_expr_ct_bits(rl, NFT_CT_STATUS, IPS_DST_NAT);
		berth_nft_expr_meta(rl, NFT_META_IIFNAME, NFT_REG32_00);
		berth_nft_expr_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, dof, alen, NFT_REG32_04);
		berth_nft_expr_lookup(rl, NFPROTO_INET, v6 ? "pm_hairpin6" : "pm_hairpin4", NFT_REG32_00, -1,
			 false);
		{
			uint32_t keep = ~(uint32_t)BERTH_NFT_HAIRPIN_MARK, set = BERTH_NFT_HAIRPIN_MARK;
			struct nftnl_expr *e;
			berth_nft_expr_meta(rl, NFT_META_MARK, NFT_REG32_00);
			e = nftnl_expr_alloc("bitwise");
			nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG32_00);
			nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG32_00);
			nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, 4);
			nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &keep, 4);
			nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &set, 4);
			nftnl_rule_add_expr(rl, e);
			e = nftnl_expr_alloc("meta");
			nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_MARK);
			nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, NFT_REG32_00);
			nftnl_rule_add_expr(rl, e);
		}
		if ((r = berth_nft_add_rule(b, rl, NFPROTO_INET, "forward", "portmap hairpin mark")) < 0)
			break;

		/* isolation: from an isolated container on its bridge to an isolated container
		 * on a different bridge:
		 * ip saddr . iifname @iso ip daddr . oifname @iso ip daddr . iifname != @iso drop */
		rl = nftnl_rule_alloc();
		berth_nft_expr_nfproto(rl, nfp);
		berth_nft_expr_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, so, alen, NFT_REG32_00);
		berth_nft_expr_meta(rl, NFT_META_IIFNAME, NFT_REG32_00 + aregs);
		berth_nft_expr_lookup(rl, NFPROTO_INET, iso, NFT_REG32_00, -1, false);
		berth_nft_expr_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, dof, alen, NFT_REG32_00);
		berth_nft_expr_meta(rl, NFT_META_OIFNAME, NFT_REG32_00 + aregs);
		berth_nft_expr_lookup(rl, NFPROTO_INET, iso, NFT_REG32_00, -1, false);
		berth_nft_expr_meta(rl, NFT_META_IIFNAME, NFT_REG32_00 + aregs);
		berth_nft_expr_lookup(rl, NFPROTO_INET, iso, NFT_REG32_00, -1, true);
		berth_nft_expr_counter(rl);
		berth_nft_expr_verdict(rl, NF_DROP);
		if ((r = berth_nft_add_rule(b, rl, NFPROTO_INET, "forward", "isolation")) < 0)
			break;

		rl = nftnl_rule_alloc();
		berth_nft_expr_nfproto(rl, nfp);
		berth_nft_expr_ct_bits(rl, NFT_CT_STATE, NF_CT_STATE_BIT(IP_CT_ESTABLISHED) |
						   NF_CT_STATE_BIT(IP_CT_RELATED));
		berth_nft_expr_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, dof, alen, NFT_REG32_00);
		berth_nft_expr_lookup(rl, NFPROTO_INET, fw, NFT_REG32_00, -1, false);
		berth_nft_expr_verdict(rl, NF_ACCEPT);
		if ((r = berth_nft_add_rule(b, rl, NFPROTO_INET, "forward", "firewall return traffic")) < 0)
			break;

		rl = nftnl_rule_alloc();
		berth_nft_expr_nfproto(rl, nfp);
		berth_nft_expr_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, so, alen, NFT_REG32_00);
		berth_nft_expr_lookup(rl, NFPROTO_INET, fw, NFT_REG32_00, -1, false);
		berth_nft_expr_verdict(rl, NF_ACCEPT);
		r = berth_nft_add_rule(b, rl, NFPROTO_INET, "forward", "firewall outbound");
	}
	return r;
}

static int add_bridge_rules(struct berth_nft_batch *b)
{
	struct nftnl_rule *rl = nftnl_rule_alloc();
	int r;
	/* iifname @mac_if iifname . ether saddr != @mac_ok drop */
	berth_nft_expr_meta(rl, NFT_META_IIFNAME, NFT_REG32_00);
	berth_nft_expr_lookup(rl, NFPROTO_BRIDGE, "mac_if", NFT_REG32_00, -1, false);
	berth_nft_expr_payload(rl, NFT_PAYLOAD_LL_HEADER, 6, 6, NFT_REG32_04);
	berth_nft_expr_lookup(rl, NFPROTO_BRIDGE, "mac_ok", NFT_REG32_00, -1, true);
	berth_nft_expr_counter(rl);
	berth_nft_expr_verdict(rl, NF_DROP);
	r = berth_nft_add_rule(b, rl, NFPROTO_BRIDGE, "prerouting", "macspoofchk");
	if (r < 0)
		return r;
	/* iifname @iso_ports oifname @iso_ports drop (ingressPolicy isolated) */
	rl = nftnl_rule_alloc();
	berth_nft_expr_meta(rl, NFT_META_IIFNAME, NFT_REG32_00);
	berth_nft_expr_lookup(rl, NFPROTO_BRIDGE, "iso_ports", NFT_REG32_00, -1, false);
	berth_nft_expr_meta(rl, NFT_META_OIFNAME, NFT_REG32_00);
	berth_nft_expr_lookup(rl, NFPROTO_BRIDGE, "iso_ports", NFT_REG32_00, -1, false);
	berth_nft_expr_counter(rl);
	berth_nft_expr_verdict(rl, NF_DROP);
	return berth_nft_add_rule(b, rl, NFPROTO_BRIDGE, "forward", "isolated ports");
}

int berth_nft_set_exists(int family, const char *name, berth_error *err)
{
	static char buf[4096];
	struct nftnl_set *s = nftnl_set_alloc();
	if (!s)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	nftnl_set_set_str(s, NFTNL_SET_TABLE, berth_nft_table());
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, family);
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSET, family, NLM_F_ACK,
						     (uint32_t)time(NULL));
	nftnl_set_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	int r = berth_nft_request(nlh, NULL, NULL, err);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, -r, "nft: looking up set %s: %s",
				       name, strerror(-r));
	return 1;
}

int berth_nft_table_exists(int family, const char *name, berth_error *err)
{
	static char buf[1024];
	struct nftnl_table *t = nftnl_table_alloc();
	if (!t)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, family, NLM_F_ACK,
						     (uint32_t)time(NULL));
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	int r = berth_nft_request(nlh, NULL, NULL, err);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, -r, "nft: looking up table %s %s: %s",
				       berth_nft_family_name(family), name, strerror(-r));
	return 1;
}

int berth_nft_batch_setup(struct berth_nft_batch *b, int family, berth_error *err)
{
	const struct set_def *defs;
	size_t n;
	int r;

	if ((r = berth_nft_batch_begin(b)) < 0 || (r = add_table(b, family)) < 0)
		goto oom;
	if (family == NFPROTO_BRIDGE) {
		if ((r = add_chain(b, family, "prerouting", "filter", NF_BR_PRE_ROUTING, -300)) < 0 ||
		    (r = add_chain(b, family, "forward", "filter", NF_BR_FORWARD, 0)) < 0)
			goto oom;
	} else {
		if ((r = add_chain(b, family, "prerouting", "nat", NF_INET_PRE_ROUTING, -100)) < 0 ||
		    (r = add_chain(b, family, "output", "nat", NF_INET_LOCAL_OUT, -100)) < 0 ||
		    (r = add_chain(b, family, "postrouting", "nat", NF_INET_POST_ROUTING, 100)) <
			    0 ||
		    (r = add_chain(b, family, "forward", "filter", NF_INET_FORWARD, 0)) < 0)
			goto oom;
	}
	berth_nft_set_defs(family, &defs, &n);
	for (size_t i = 0; i < n; i++)
		if ((r = add_set(b, family, &defs[i])) < 0)
			goto oom;
	if (family == NFPROTO_BRIDGE)
		r = add_bridge_rules(b);
	else if ((r = add_dnat_rules(b, "prerouting")) == 0 &&
		 (r = add_dnat_rules(b, "output")) == 0 && (r = add_postrouting_rules(b)) == 0)
		r = add_forward_rules(b);
	if (r < 0)
		goto oom;
	return 0;
oom:
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "nft: building the setup batch");
}

int berth_nft_batch_del_table(struct berth_nft_batch *b, int family, berth_error *err)
{
	char desc[128];
	snprintf(desc, sizeof(desc), "delete table %s %s", berth_nft_family_name(family), berth_nft_table());
	struct nlmsghdr *nlh;
	struct nftnl_table *t = nftnl_table_alloc();
	if (!t || berth_nft_batch_begin(b) < 0 || !(nlh = berth_nft_msg_begin(b, desc))) {
		nftnl_table_free(t);
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "nft: out of memory");
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, berth_nft_table());
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, family);
	nlh = nftnl_nlmsg_build_hdr((char *)nlh, NFT_MSG_DESTROYTABLE, family, NLM_F_ACK, b->seq);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	b->deletes = true;
	berth_nft_msg_end(b, nlh);
	return 0;
}

/* Create whichever of our tables the elements need and that does not exist yet. */
int berth_nft_ensure_tables(const struct berth_nft_elem *e, size_t n, berth_error *err)
{
	bool need_inet = false, need_bridge = false;
	for (size_t i = 0; i < n; i++) {
		if (e[i].family == NFPROTO_BRIDGE)
			need_bridge = true;
		else
			need_inet = true;
	}
	int fams[2] = { need_inet ? NFPROTO_INET : -1, need_bridge ? NFPROTO_BRIDGE : -1 };
	for (int i = 0; i < 2; i++) {
		if (fams[i] < 0)
			continue;
		_cleanup_nft_batch_ struct berth_nft_batch *b = NULL;
		int r = berth_nft_batch_new(&b);
		if (r < 0)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
		if ((r = berth_nft_batch_setup(b, fams[i], err)) < 0)
			return r;
		r = berth_nft_batch_send(b, err);
		if (r < 0 && r != -EEXIST) /* EEXIST: someone else made it first */
			return r;
		berth_error_clear(err);
	}
	return 0;
}

int berth_nft_ensure_table(int family, berth_error *err)
{
	struct berth_nft_elem e = { .family = family };
	return berth_nft_ensure_tables(&e, 1, err);
}
/* STATUS for one family: its table and every set are there, or the setup batch that ADD would
 * send passes the kernel's checks (sent without committing). */
static int status_family(int family, berth_error *err)
{
	const char *fam = family == NFPROTO_BRIDGE ? "bridge" : "inet";
	const struct set_def *defs;
	size_t n, present = 0;
	const char *missing = NULL;
	int r;

	berth_nft_set_defs(family, &defs, &n);
	for (size_t i = 0; i < n; i++) {
		if ((r = berth_nft_set_exists(family, defs[i].name, err)) < 0)
			return berth_error_set(err, BERTH_CNI_ERR_STATUS_NOT_READY, -r,
					       "nf_tables cannot be used: %s", err->msg);
		if (r)
			present++;
		else if (!missing)
			missing = defs[i].name;
	}
	if (present == n)
		return 0;
	if (present > 0) {
		/* made by an older berth (its schema had fewer sets) or changed by someone: the
		 * next ADD that needs the set rebuilds the table from the state files, so an ADD
		 * can work */
		berth_log_warn("nft: table %s %s has no set %s (an older berth made it, or someone "
			       "changed it); the next ADD that needs it rebuilds the table, `%s "
			       "--reapply` does now",
			       fam, berth_nft_table(), missing,
			       family == NFPROTO_BRIDGE ? "bridge" : "portmap");
		return 0;
	}
	_cleanup_nft_batch_ struct berth_nft_batch *b = NULL;
	if (berth_nft_batch_new(&b) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	if ((r = berth_nft_batch_setup(b, family, err)) < 0)
		return r;
	r = berth_nft_batch_check(b, err);
	if (r == -EEXIST) /* a table of that name without our sets (or made meanwhile) */
		return berth_error_set(err, BERTH_CNI_ERR_STATUS_NOT_READY, EEXIST,
				       "table %s %s exists without berth's sets", fam,
				       berth_nft_table());
	if (r < 0)
		return berth_error_set(err, BERTH_CNI_ERR_STATUS_NOT_READY, -r,
				       "table %s %s and its sets cannot be created: %s", fam,
				       berth_nft_table(), err->msg);
	return 0;
}

int berth_nft_status(bool inet, bool bridge, berth_error *err)
{
	int r;

	if (inet && (r = status_family(NFPROTO_INET, err)) < 0)
		return r;
	if (bridge && (r = status_family(NFPROTO_BRIDGE, err)) < 0)
		return r;
	return 0;
}

