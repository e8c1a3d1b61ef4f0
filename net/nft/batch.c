// SPDX-License-Identifier: Apache-2.0
/*
 * nftables batches over libmnl + libnftnl: build a whole transaction in memory (no socket, so
 * unit tests can check it without root), send it with one sendmsg, read every ACK, and turn a
 * kernel error into a berth_error naming the message that failed, with the extended ACK text.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
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
#include <libnftnl/common.h>

#include "berth/fault.h"
#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/nft.h"
#include "nft-internal.h"

#ifndef NFT_MSG_DESTROYSETELEM
#define NFT_MSG_DESTROYSETELEM 30 /* kernel 6.3: delete if present, no ENOENT */
#endif
#ifndef NFT_MSG_DESTROYTABLE
#define NFT_MSG_DESTROYTABLE 26
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

#define MSG_MAX 65536 /* room reserved for one message while it is built */
#define ELEMS_PER_MSG 64
#define RCV_BUF 65536

struct berth_nft_batch {
	char *buf;
	size_t len, cap;
	uint32_t seq_base, seq;
	char **desc; /* per message, index = seq - seq_base */
	size_t n_desc;
	bool finished;
	bool has_destroy;
	bool deletes; /* removes something: closing the socket after it waits (close_socket) */
};

const char *berth_nft_table(void)
{
	const char *t = getenv("BERTH_NFT_TABLE");
	return t && *t ? t : "berth";
}

int berth_nft_batch_new(struct berth_nft_batch **ret)
{
	struct berth_nft_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->seq_base = b->seq = (uint32_t)time(NULL);
	*ret = b;
	return 0;
}

void berth_nft_batch_free(struct berth_nft_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n_desc; i++)
		free(b->desc[i]);
	free(b->desc);
	free(b->buf);
	free(b);
}

static int reserve(struct berth_nft_batch *b, size_t need)
{
	if (b->len + need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 16384;
	while (cap < b->len + need)
		cap *= 2;
	char *n = realloc(b->buf, cap);
	if (!n)
		return -ENOMEM;
	memset(n + b->cap, 0, cap - b->cap);
	b->buf = n;
	b->cap = cap;
	return 0;
}

/* Start a message at the end of the buffer; returns its header, or NULL on ENOMEM. */
static struct nlmsghdr *msg_begin(struct berth_nft_batch *b, const char *desc)
{
	if (reserve(b, MSG_MAX) < 0)
		return NULL;
	char **d = realloc(b->desc, (b->n_desc + 1) * sizeof(*d));
	if (!d)
		return NULL;
	b->desc = d;
	d[b->n_desc] = strdup(desc);
	if (!d[b->n_desc])
		return NULL;
	b->n_desc++;
	return (struct nlmsghdr *)(b->buf + b->len);
}

static void msg_end(struct berth_nft_batch *b, struct nlmsghdr *nlh)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	b->seq++;
}

static int batch_begin_if_needed(struct berth_nft_batch *b)
{
	if (b->len)
		return 0;
	struct nlmsghdr *nlh = msg_begin(b, "batch begin");
	if (!nlh)
		return -ENOMEM;
	nftnl_batch_begin((char *)nlh, b->seq);
	msg_end(b, nlh);
	return 0;
}

int berth_nft_batch_finish(struct berth_nft_batch *b)
{
	if (b->finished)
		return 0;
	int r = batch_begin_if_needed(b);
	if (r < 0)
		return r;
	struct nlmsghdr *nlh = msg_begin(b, "batch end");
	if (!nlh)
		return -ENOMEM;
	nftnl_batch_end((char *)nlh, b->seq);
	msg_end(b, nlh);
	b->finished = true;
	return 0;
}

const void *berth_nft_batch_data(const struct berth_nft_batch *b, size_t *ret_len)
{
	*ret_len = b->len;
	return b->buf;
}

size_t berth_nft_batch_messages(const struct berth_nft_batch *b)
{
	return b->n_desc;
}

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

/* ---- schema: our tables, chains, sets and rules ---- */

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

static uint32_t concat_type(const uint8_t *types, size_t n)
{
	uint32_t t = 0;
	for (size_t i = 0; i < n; i++)
		t = (t << 6) | types[i];
	return t;
}

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

static const char *family_name(int family)
{
	return family == NFPROTO_BRIDGE ? "bridge" : "inet";
}

static int add_table(struct berth_nft_batch *b, int family)
{
	char desc[128];
	snprintf(desc, sizeof(desc), "create table %s %s", family_name(family), berth_nft_table());
	struct nlmsghdr *nlh = msg_begin(b, desc);
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
	msg_end(b, nlh);
	return 0;
}

static int add_chain(struct berth_nft_batch *b, int family, const char *name, const char *type,
		     int hook, int prio)
{
	char desc[128];
	snprintf(desc, sizeof(desc), "create chain %s %s %s", family_name(family),
		 berth_nft_table(), name);
	struct nlmsghdr *nlh = msg_begin(b, desc);
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
	msg_end(b, nlh);
	return 0;
}

static uint32_t set_id_of(int family, const char *name)
{
	const struct set_def *defs;
	size_t n;
	berth_nft_set_defs(family, &defs, &n);
	for (size_t i = 0; i < n; i++)
		if (STREQ(defs[i].name, name))
			return 1 + i;
	return 0;
}

static int add_set_named(struct berth_nft_batch *b, int family, const struct set_def *d,
			 const char *name)
{
	char desc[128];
	snprintf(desc, sizeof(desc), "create set %s %s %s", family_name(family), berth_nft_table(),
		 name);
	struct nlmsghdr *nlh = msg_begin(b, desc);
	struct nftnl_set *s = nftnl_set_alloc();
	if (!nlh || !s) {
		nftnl_set_free(s);
		return -ENOMEM;
	}
	uint32_t flags = 0;
	nftnl_set_set_str(s, NFTNL_SET_TABLE, berth_nft_table());
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, family);
	nftnl_set_set_u32(s, NFTNL_SET_ID, set_id_of(family, name));
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
	msg_end(b, nlh);
	return 0;
}

static int add_set(struct berth_nft_batch *b, int family, const struct set_def *d)
{
	return add_set_named(b, family, d, d->name);
}

/* ---- rule expressions ---- */

static void e_meta(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	nftnl_rule_add_expr(r, e);
}

static void e_cmp(struct nftnl_rule *r, uint32_t sreg, uint32_t op, const void *data, size_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	nftnl_rule_add_expr(r, e);
}

static void e_nfproto(struct nftnl_rule *r, uint8_t proto)
{
	e_meta(r, NFT_META_NFPROTO, NFT_REG32_00);
	e_cmp(r, NFT_REG32_00, NFT_CMP_EQ, &proto, 1);
}

static void e_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len,
		      uint32_t dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	nftnl_rule_add_expr(r, e);
}

static void e_bitwise(struct nftnl_rule *r, uint32_t reg, const void *mask, size_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("bitwise");
	uint8_t zero[16] = { 0 };
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
	nftnl_rule_add_expr(r, e);
}

static void e_lookup(struct nftnl_rule *r, int family, const char *set, uint32_t sreg,
		     int dreg, bool inv)
{
	struct nftnl_expr *e = nftnl_expr_alloc("lookup");
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id_of(family, set));
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
	if (dreg >= 0)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, dreg);
	if (inv)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
	nftnl_rule_add_expr(r, e);
}

static void e_verdict(struct nftnl_rule *r, int verdict)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, verdict);
	nftnl_rule_add_expr(r, e);
}

static void e_counter(struct nftnl_rule *r)
{
	nftnl_rule_add_expr(r, nftnl_expr_alloc("counter"));
}

static void e_masq(struct nftnl_rule *r)
{
	nftnl_rule_add_expr(r, nftnl_expr_alloc("masq"));
}

static void e_dnat(struct nftnl_rule *r, int nfproto, uint32_t reg_addr, uint32_t reg_proto)
{
	struct nftnl_expr *e = nftnl_expr_alloc("nat");
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, nfproto);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, reg_addr);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, reg_proto);
	nftnl_rule_add_expr(r, e);
}

static void e_fib_daddr_local(struct nftnl_rule *r)
{
	struct nftnl_expr *e = nftnl_expr_alloc("fib");
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG32_00);
	nftnl_rule_add_expr(r, e);
	uint32_t local = 2; /* RTN_LOCAL */
	e_cmp(r, NFT_REG32_00, NFT_CMP_EQ, &local, 4);
}

static void e_ct_bits(struct nftnl_rule *r, uint32_t key, uint32_t bits)
{
	struct nftnl_expr *e = nftnl_expr_alloc("ct");
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG32_00);
	nftnl_rule_add_expr(r, e);
	e_bitwise(r, NFT_REG32_00, &bits, 4);
	uint32_t zero = 0;
	e_cmp(r, NFT_REG32_00, NFT_CMP_NEQ, &zero, 4);
}

static int add_rule_at(struct berth_nft_batch *b, struct nftnl_rule *r, int family,
		       const char *chain, const char *what, bool append)
{
	char desc[192];
	snprintf(desc, sizeof(desc), "add rule %s %s %s (%s)", family_name(family),
		 berth_nft_table(), chain, what);
	struct nlmsghdr *nlh = msg_begin(b, desc);
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
	msg_end(b, nlh);
	return 0;
}

static int add_rule(struct berth_nft_batch *b, struct nftnl_rule *r, int family, const char *chain,
		    const char *what)
{
	return add_rule_at(b, r, family, chain, what, true);
}

/* the reference portmap's default markMasqBit (13), also netavark's masquerade mark */
#define BERTH_NFT_HAIRPIN_MARK 0x2000
#define IP4_SADDR 12
#define IP4_DADDR 16
#define IP6_SADDR 8
#define IP6_DADDR 24

/* DNAT through the port maps: specific host IP first, then any local address. */
static int add_dnat_rules(struct berth_nft_batch *b, const char *chain)
{
	int r = 0;
	for (int v6 = 0; v6 <= 1 && r == 0; v6++) {
		uint8_t nfp = v6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
		uint32_t alen = v6 ? 16 : 4, aregs = alen / 4;
		struct nftnl_rule *rl = nftnl_rule_alloc();
		/* ip daddr . meta l4proto . th dport dnat to map @pmX_ip */
		e_nfproto(rl, nfp);
		e_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, v6 ? IP6_DADDR : IP4_DADDR, alen,
			  NFT_REG32_00);
		e_meta(rl, NFT_META_L4PROTO, NFT_REG32_00 + aregs);
		e_payload(rl, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_00 + aregs + 1);
		e_lookup(rl, NFPROTO_INET, v6 ? "pm6_ip" : "pm4_ip", NFT_REG32_00, NFT_REG32_00,
			 false);
		e_counter(rl);
		e_dnat(rl, nfp, NFT_REG32_00, NFT_REG32_00 + aregs);
		r = add_rule(b, rl, NFPROTO_INET, chain, v6 ? "dnat pm6_ip" : "dnat pm4_ip");
		if (r < 0)
			break;
		/* fib daddr type local meta l4proto . th dport dnat to map @pmX_any */
		rl = nftnl_rule_alloc();
		e_nfproto(rl, nfp);
		e_fib_daddr_local(rl);
		e_meta(rl, NFT_META_L4PROTO, NFT_REG32_00);
		e_payload(rl, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_01);
		e_lookup(rl, NFPROTO_INET, v6 ? "pm6_any" : "pm4_any", NFT_REG32_00, NFT_REG32_00,
			 false);
		e_counter(rl);
		e_dnat(rl, nfp, NFT_REG32_00, NFT_REG32_00 + aregs);
		r = add_rule(b, rl, NFPROTO_INET, chain, v6 ? "dnat pm6_any" : "dnat pm4_any");
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
			e_nfproto(rl, nfp);
			e_ct_bits(rl, NFT_CT_STATUS, IPS_DST_NAT);
			e_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, so, 4, NFT_REG32_00);
			e_bitwise(rl, NFT_REG32_00, mask, 4);
			e_cmp(rl, NFT_REG32_00, NFT_CMP_EQ, lo, 4);
			e_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, dof, 4, NFT_REG32_00);
			e_lookup(rl, NFPROTO_INET, "pm_local4", NFT_REG32_00, -1, false);
			e_counter(rl);
			e_masq(rl);
			if ((r = add_rule(b, rl, NFPROTO_INET, "postrouting", "portmap localhost")) < 0)
				break;
		}
		/* hairpin: the forward chain marked it (postrouting does not know the input
		 * interface) */
		rl = nftnl_rule_alloc();
		e_nfproto(rl, nfp);
		e_ct_bits(rl, NFT_CT_STATUS, IPS_DST_NAT);
		{
			uint32_t bit = BERTH_NFT_HAIRPIN_MARK, zero = 0;
			e_meta(rl, NFT_META_MARK, NFT_REG32_00);
			e_bitwise(rl, NFT_REG32_00, &bit, 4);
			e_cmp(rl, NFT_REG32_00, NFT_CMP_NEQ, &zero, 4);
		}
		e_counter(rl);
		e_masq(rl);
		if ((r = add_rule(b, rl, NFPROTO_INET, "postrouting", "portmap hairpin")) < 0)
			break;
		rl = nftnl_rule_alloc();
		e_nfproto(rl, nfp);
		e_ct_bits(rl, NFT_CT_STATUS, IPS_DST_NAT);
		e_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, dof, alen, NFT_REG32_00);
		e_lookup(rl, NFPROTO_INET, v6 ? "pm_all6" : "pm_all4", NFT_REG32_00, -1, false);
		e_counter(rl);
		e_masq(rl);
		if ((r = add_rule(b, rl, NFPROTO_INET, "postrouting", "portmap masqAll")) < 0)
			break;

		/* ipMasq: traffic that leaves through the container's own bridge stays as is */
		rl = nftnl_rule_alloc();
		e_nfproto(rl, nfp);
		e_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, so, alen, NFT_REG32_00);
		e_meta(rl, NFT_META_OIFNAME, NFT_REG32_00 + aregs);
		e_lookup(rl, NFPROTO_INET, v6 ? "masq6_skip" : "masq4_skip", NFT_REG32_00, -1,
			 false);
		e_verdict(rl, NFT_RETURN);
		if ((r = add_rule(b, rl, NFPROTO_INET, "postrouting", "masq skip own bridge")) < 0)
			break;

		/* ... and so is multicast (224.0.0.0/4, ff00::/8), as the reference does */
		rl = nftnl_rule_alloc();
		e_nfproto(rl, nfp);
		if (v6) {
			uint8_t ff = 0xff;
			e_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, dof, 1, NFT_REG32_00);
			e_cmp(rl, NFT_REG32_00, NFT_CMP_EQ, &ff, 1);
		} else {
			uint8_t mask[4] = { 0xf0, 0, 0, 0 }, mc[4] = { 0xe0, 0, 0, 0 };
			e_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, dof, 4, NFT_REG32_00);
			e_bitwise(rl, NFT_REG32_00, mask, 4);
			e_cmp(rl, NFT_REG32_00, NFT_CMP_EQ, mc, 4);
		}
		e_verdict(rl, NFT_RETURN);
		if ((r = add_rule(b, rl, NFPROTO_INET, "postrouting", "masq skip multicast")) < 0)
			break;

		rl = nftnl_rule_alloc();
		e_nfproto(rl, nfp);
		e_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, so, alen, NFT_REG32_00);
		e_lookup(rl, NFPROTO_INET, v6 ? "masq6" : "masq4", NFT_REG32_00, -1, false);
		e_counter(rl);
		e_masq(rl);
		r = add_rule(b, rl, NFPROTO_INET, "postrouting", "masq");
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
		e_nfproto(rl, nfp);
		e_ct_bits(rl, NFT_CT_STATUS, IPS_DST_NAT);
		e_meta(rl, NFT_META_IIFNAME, NFT_REG32_00);
		e_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, dof, alen, NFT_REG32_04);
		e_lookup(rl, NFPROTO_INET, v6 ? "pm_hairpin6" : "pm_hairpin4", NFT_REG32_00, -1,
			 false);
		{
			uint32_t keep = ~(uint32_t)BERTH_NFT_HAIRPIN_MARK, set = BERTH_NFT_HAIRPIN_MARK;
			struct nftnl_expr *e;
			e_meta(rl, NFT_META_MARK, NFT_REG32_00);
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
		if ((r = add_rule(b, rl, NFPROTO_INET, "forward", "portmap hairpin mark")) < 0)
			break;

		/* isolation: from an isolated container on its bridge to an isolated container
		 * on a different bridge:
		 * ip saddr . iifname @iso ip daddr . oifname @iso ip daddr . iifname != @iso drop */
		rl = nftnl_rule_alloc();
		e_nfproto(rl, nfp);
		e_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, so, alen, NFT_REG32_00);
		e_meta(rl, NFT_META_IIFNAME, NFT_REG32_00 + aregs);
		e_lookup(rl, NFPROTO_INET, iso, NFT_REG32_00, -1, false);
		e_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, dof, alen, NFT_REG32_00);
		e_meta(rl, NFT_META_OIFNAME, NFT_REG32_00 + aregs);
		e_lookup(rl, NFPROTO_INET, iso, NFT_REG32_00, -1, false);
		e_meta(rl, NFT_META_IIFNAME, NFT_REG32_00 + aregs);
		e_lookup(rl, NFPROTO_INET, iso, NFT_REG32_00, -1, true);
		e_counter(rl);
		e_verdict(rl, NF_DROP);
		if ((r = add_rule(b, rl, NFPROTO_INET, "forward", "isolation")) < 0)
			break;

		rl = nftnl_rule_alloc();
		e_nfproto(rl, nfp);
		e_ct_bits(rl, NFT_CT_STATE, NF_CT_STATE_BIT(IP_CT_ESTABLISHED) |
						   NF_CT_STATE_BIT(IP_CT_RELATED));
		e_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, dof, alen, NFT_REG32_00);
		e_lookup(rl, NFPROTO_INET, fw, NFT_REG32_00, -1, false);
		e_verdict(rl, NF_ACCEPT);
		if ((r = add_rule(b, rl, NFPROTO_INET, "forward", "firewall return traffic")) < 0)
			break;

		rl = nftnl_rule_alloc();
		e_nfproto(rl, nfp);
		e_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, so, alen, NFT_REG32_00);
		e_lookup(rl, NFPROTO_INET, fw, NFT_REG32_00, -1, false);
		e_verdict(rl, NF_ACCEPT);
		r = add_rule(b, rl, NFPROTO_INET, "forward", "firewall outbound");
	}
	return r;
}

static int add_bridge_rules(struct berth_nft_batch *b)
{
	struct nftnl_rule *rl = nftnl_rule_alloc();
	int r;
	/* iifname @mac_if iifname . ether saddr != @mac_ok drop */
	e_meta(rl, NFT_META_IIFNAME, NFT_REG32_00);
	e_lookup(rl, NFPROTO_BRIDGE, "mac_if", NFT_REG32_00, -1, false);
	e_payload(rl, NFT_PAYLOAD_LL_HEADER, 6, 6, NFT_REG32_04);
	e_lookup(rl, NFPROTO_BRIDGE, "mac_ok", NFT_REG32_00, -1, true);
	e_counter(rl);
	e_verdict(rl, NF_DROP);
	r = add_rule(b, rl, NFPROTO_BRIDGE, "prerouting", "macspoofchk");
	if (r < 0)
		return r;
	/* iifname @iso_ports oifname @iso_ports drop (ingressPolicy isolated) */
	rl = nftnl_rule_alloc();
	e_meta(rl, NFT_META_IIFNAME, NFT_REG32_00);
	e_lookup(rl, NFPROTO_BRIDGE, "iso_ports", NFT_REG32_00, -1, false);
	e_meta(rl, NFT_META_OIFNAME, NFT_REG32_00);
	e_lookup(rl, NFPROTO_BRIDGE, "iso_ports", NFT_REG32_00, -1, false);
	e_counter(rl);
	e_verdict(rl, NF_DROP);
	return add_rule(b, rl, NFPROTO_BRIDGE, "forward", "isolated ports");
}

static void e_conds(struct nftnl_rule *r, const struct berth_nft_conds *c)
{
	bool v6 = c->family == 6;
	for (size_t i = 0; i < c->n; i++) {
		const struct berth_nft_cond *x = &c->c[i];
		uint32_t op = x->neg ? NFT_CMP_NEQ : NFT_CMP_EQ;
		switch (x->kind) {
		case 1:
		case 2:
			e_payload(r, NFT_PAYLOAD_NETWORK_HEADER,
				  x->kind == 1 ? (v6 ? IP6_SADDR : IP4_SADDR)
					       : (v6 ? IP6_DADDR : IP4_DADDR),
				  x->len, NFT_REG32_00);
			e_bitwise(r, NFT_REG32_00, x->mask, x->len);
			e_cmp(r, NFT_REG32_00, op, x->val, x->len);
			break;
		case 3:
			e_meta(r, NFT_META_IIFNAME, NFT_REG32_00);
			e_cmp(r, NFT_REG32_00, op, x->val, x->len);
			break;
		case 4:
			e_meta(r, NFT_META_MARK, NFT_REG32_00);
			e_cmp(r, NFT_REG32_00, op, x->val, 4);
			break;
		}
	}
}

/* Two maps and, at the head of prerouting and output, two DNAT rules guarded by c. */
int berth_nft_batch_conds(struct berth_nft_batch *b, const struct berth_nft_conds *c,
			  berth_error *err)
{
	bool v6 = c->family == 6;
	uint8_t nfp = v6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
	uint32_t alen = v6 ? 16 : 4, aregs = alen / 4;
	const char *ip_set = berth_nft_conds_set(c, v6 ? "pm6_ip" : "pm4_ip");
	const char *any_set = berth_nft_conds_set(c, v6 ? "pm6_any" : "pm4_any");
	static const char *const chains[] = { "prerouting", "output" };
	int r;

	if (!ip_set || !any_set || batch_begin_if_needed(b) < 0)
		goto oom;
	if ((r = add_set_named(b, NFPROTO_INET, berth_nft_set_def(NFPROTO_INET, ip_set), ip_set)) <
		    0 ||
	    (r = add_set_named(b, NFPROTO_INET, berth_nft_set_def(NFPROTO_INET, any_set),
			       any_set)) < 0)
		goto oom;
	for (size_t k = 0; k < ARRAY_SIZE(chains); k++) {
		/* inserted at the head, "any" first so that the hostIP rule ends up in front */
		struct nftnl_rule *rl = nftnl_rule_alloc();
		e_nfproto(rl, nfp);
		e_conds(rl, c);
		e_fib_daddr_local(rl);
		e_meta(rl, NFT_META_L4PROTO, NFT_REG32_00);
		e_payload(rl, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_01);
		e_lookup(rl, NFPROTO_INET, any_set, NFT_REG32_00, NFT_REG32_00, false);
		e_counter(rl);
		e_dnat(rl, nfp, NFT_REG32_00, NFT_REG32_00 + aregs);
		if ((r = add_rule_at(b, rl, NFPROTO_INET, chains[k], c->text, false)) < 0)
			goto oom;
		rl = nftnl_rule_alloc();
		e_nfproto(rl, nfp);
		e_conds(rl, c);
		e_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, v6 ? IP6_DADDR : IP4_DADDR, alen,
			  NFT_REG32_00);
		e_meta(rl, NFT_META_L4PROTO, NFT_REG32_00 + aregs);
		e_payload(rl, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_00 + aregs + 1);
		e_lookup(rl, NFPROTO_INET, ip_set, NFT_REG32_00, NFT_REG32_00, false);
		e_counter(rl);
		e_dnat(rl, nfp, NFT_REG32_00, NFT_REG32_00 + aregs);
		if ((r = add_rule_at(b, rl, NFPROTO_INET, chains[k], c->text, false)) < 0)
			goto oom;
	}
	return 0;
oom:
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "nft: building condition rules");
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

int berth_nft_batch_setup(struct berth_nft_batch *b, int family, berth_error *err)
{
	const struct set_def *defs;
	size_t n;
	int r;

	if ((r = batch_begin_if_needed(b)) < 0 || (r = add_table(b, family)) < 0)
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
	snprintf(desc, sizeof(desc), "delete table %s %s", family_name(family), berth_nft_table());
	struct nlmsghdr *nlh;
	struct nftnl_table *t = nftnl_table_alloc();
	if (!t || batch_begin_if_needed(b) < 0 || !(nlh = msg_begin(b, desc))) {
		nftnl_table_free(t);
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "nft: out of memory");
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, berth_nft_table());
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, family);
	nlh = nftnl_nlmsg_build_hdr((char *)nlh, NFT_MSG_DESTROYTABLE, family, NLM_F_ACK, b->seq);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	b->deletes = true;
	msg_end(b, nlh);
	return 0;
}

/* ---- elements ---- */

static struct nftnl_set_elem *make_elem(const struct berth_nft_elem *e, bool add,
					const char *comment)
{
	struct nftnl_set_elem *se = nftnl_set_elem_alloc();
	if (!se)
		return NULL;
	nftnl_set_elem_set(se, NFTNL_SET_ELEM_KEY, e->key, e->key_len);
	if (e->key_end_len)
		nftnl_set_elem_set(se, NFTNL_SET_ELEM_KEY_END, e->key_end, e->key_end_len);
	if (add && e->data_len)
		nftnl_set_elem_set(se, NFTNL_SET_ELEM_DATA, e->data, e->data_len);
	if (add && comment && *comment) {
		struct nftnl_udata_buf *u = nftnl_udata_buf_alloc(256);
		if (u) {
			char c[250];
			snprintf(c, sizeof(c), "%s", comment);
			nftnl_udata_put_strz(u, NFTNL_UDATA_SET_ELEM_COMMENT, c);
			nftnl_set_elem_set(se, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(u),
					   nftnl_udata_buf_len(u));
			nftnl_udata_buf_free(u);
		}
	}
	return se;
}

static int elems_msg(struct berth_nft_batch *b, bool add, const struct berth_nft_elem *e,
		     size_t n, const char *comment, const char *const *comments)
{
	char desc[256];
	snprintf(desc, sizeof(desc), "%s %zu element%s %s set %s %s %s", add ? "add" : "delete", n,
		 n == 1 ? "" : "s", add ? "to" : "from", family_name(e[0].family),
		 berth_nft_table(), e[0].set);
	struct nlmsghdr *nlh = msg_begin(b, desc);
	struct nftnl_set *s = nftnl_set_alloc();
	if (!nlh || !s) {
		nftnl_set_free(s);
		return -ENOMEM;
	}
	nftnl_set_set_str(s, NFTNL_SET_TABLE, berth_nft_table());
	nftnl_set_set_str(s, NFTNL_SET_NAME, e[0].set);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, e[0].family);
	for (size_t i = 0; i < n; i++) {
		struct nftnl_set_elem *se = make_elem(&e[i], add, comments ? comments[i] : comment);
		if (!se) {
			nftnl_set_free(s);
			return -ENOMEM;
		}
		nftnl_set_elem_add(s, se);
	}
	nlh = nftnl_nlmsg_build_hdr((char *)nlh, add ? NFT_MSG_NEWSETELEM : NFT_MSG_DESTROYSETELEM,
				    e[0].family,
				    (add ? NLM_F_CREATE | NLM_F_EXCL : 0) | NLM_F_ACK, b->seq);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	if (!add)
		b->has_destroy = b->deletes = true;
	msg_end(b, nlh);
	return 0;
}

int berth_nft_batch_elems(struct berth_nft_batch *b, bool add, const struct berth_nft_elem *e,
			  size_t n, const char *comment, berth_error *err)
{
	if (batch_begin_if_needed(b) < 0)
		goto oom;
	/* one message per run of elements of the same set (callers group them) */
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && j - i < ELEMS_PER_MSG && e[j].family == e[i].family &&
		       STREQ(e[j].set, e[i].set))
			j++;
		if (elems_msg(b, add, e + i, j - i, comment, NULL) < 0)
			goto oom;
		i = j;
	}
	return 0;
oom:
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "nft: building elements");
}

int berth_nft_batch_elems_c(struct berth_nft_batch *b, const struct berth_nft_elem *e, size_t n,
			    const char *const *comments, berth_error *err)
{
	_cleanup_free_ struct berth_nft_elem *grp = malloc((n + 1) * sizeof(*grp));
	_cleanup_free_ const char **gc = malloc((n + 1) * sizeof(*gc));
	_cleanup_free_ bool *done = calloc(n + 1, sizeof(*done));
	if (!grp || !gc || !done || batch_begin_if_needed(b) < 0)
		goto oom;
	/* group by set so that even thousands of elements make a handful of messages */
	for (size_t first = 0; first < n; first++) {
		if (done[first])
			continue;
		size_t m = 0;
		for (size_t i = first; i < n; i++)
			if (!done[i] && e[i].family == e[first].family && STREQ(e[i].set, e[first].set)) {
				grp[m] = e[i];
				gc[m++] = comments[i];
				done[i] = true;
			}
		for (size_t i = 0; i < m; i += ELEMS_PER_MSG) {
			size_t k = m - i < ELEMS_PER_MSG ? m - i : ELEMS_PER_MSG;
			if (elems_msg(b, true, grp + i, k, NULL, gc + i) < 0)
				goto oom;
		}
	}
	return 0;
oom:
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "nft: building elements");
}

/* ---- talking to the kernel ---- */

static int nft_socket(struct mnl_socket **ret, size_t sndbuf, berth_error *err)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "nft: opening the netlink socket");
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int r = berth_error_errno(err, BERTH_CNI_ERR_IO, "nft: binding the netlink socket");
		mnl_socket_close(nl);
		return r;
	}
	int one = 1;
	mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	if (sndbuf > 200000) {
		int sz = sndbuf + 65536;
		setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
		setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	}
	*ret = nl;
	return 0;
}

/*
 * Closing an nfnetlink socket after a transaction that deleted something blocks in the kernel:
 * nf_tables' NETLINK_URELEASE handler flushes the deferred destruction of committed
 * transactions, which waits for an RCU grace period (~12 ms here, most of a portmap DEL),
 * although the change was committed and acknowledged before.  After such a batch the last
 * reference to the socket goes to a short-lived grandchild that holds nothing else (no
 * stdout: the runtime reading our reply does not wait for it) and pays that wait on its own.
 */
static void close_socket(struct mnl_socket *nl, bool deleted)
{
	int fd = mnl_socket_get_fd(nl), p[2];
	pid_t pid;

	if (!deleted || getenv("BERTH_NFT_SYNC_CLOSE") || pipe2(p, O_CLOEXEC) < 0) {
		mnl_socket_close(nl);
		return;
	}
	pid = fork();
	if (pid == 0) {
		if (fork() == 0) {
			unsigned lo = (unsigned)(fd < p[0] ? fd : p[0]);
			unsigned hi = (unsigned)(fd < p[0] ? p[0] : fd);
			char c;

			if (lo > 0)
				close_range(0, lo - 1, 0);
			if (hi > lo + 1)
				close_range(lo + 1, hi - 1, 0);
			close_range(hi + 1, ~0U, 0);
			(void)!read(p[0], &c, 1); /* EOF: the plugin has closed its copy */
			_exit(0);
		}
		_exit(0);
	}
	close(p[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	mnl_socket_close(nl); /* not the last reference while the holder lives */
	close(p[1]);
}

/* The extended ACK message text, when the kernel attached one. */
static const char *ext_ack_msg(const struct nlmsghdr *nlh)
{
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	size_t off = sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(e->msg);
	const struct nlattr *a;
	mnl_attr_for_each(a, nlh, off)
	{
		if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG)
			return mnl_attr_get_str(a);
	}
	return NULL;
}

int berth_nft_batch_send(struct berth_nft_batch *b, berth_error *err)
{
	struct mnl_socket *nl = NULL;
	int r, first_err = 0;
	size_t acks = 0, expect;

	if ((r = berth_nft_batch_finish(b)) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, -r, "nft: out of memory");
	expect = b->n_desc - 2; /* every message but BEGIN and END carries NLM_F_ACK */
	BERTH_FAULT_POINT("nft-before-send");
	if ((r = nft_socket(&nl, b->len, err)) < 0)
		return r;
	if (mnl_socket_sendto(nl, b->buf, b->len) < 0) {
		r = berth_error_errno(err, BERTH_CNI_ERR_IO, "nft: sending the batch");
		goto out;
	}
	/* The kernel runs the whole batch inside sendmsg, so every reply is queued by now:
	 * drain without blocking (as nft does), then check that each message answered. */
	static char buf[RCV_BUF];
	for (;;) {
		ssize_t len = recv(mnl_socket_get_fd(nl), buf, sizeof(buf), MSG_DONTWAIT);
		if (len < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			r = berth_error_errno(err, BERTH_CNI_ERR_IO, "nft: reading ACKs");
			goto out;
		}
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
		int left = (int)len;
		while (mnl_nlmsg_ok(nlh, left)) {
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
				acks++;
				if (e->error && !first_err) {
					uint32_t idx = nlh->nlmsg_seq - b->seq_base;
					const char *what = idx < b->n_desc ? b->desc[idx] : "batch";
					const char *ext = ext_ack_msg(nlh);
					first_err = e->error;
					berth_error_set(err, BERTH_CNI_ERR_INTERNAL, -e->error,
							"nft: %s: %s%s%s", what, strerror(-e->error),
							ext ? ": " : "", ext ? ext : "");
				}
			}
			nlh = mnl_nlmsg_next(nlh, &left);
		}
	}
	if (first_err) {
		r = first_err;
	} else if (acks < expect) {
		r = berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EPROTO,
				    "nft: %zu of %zu messages acknowledged", acks, expect);
	} else {
		r = 0;
	}
out:
	close_socket(nl, b->deletes);
	return r;
}

/* Send one request, feed every reply message to cb until the ACK or DONE. */
int berth_nft_request(struct nlmsghdr *nlh, int (*cb)(const struct nlmsghdr *, void *), void *data,
		      berth_error *err)
{
	struct mnl_socket *nl = NULL;
	int r = nft_socket(&nl, 0, err);
	if (r < 0)
		return r;
	uint32_t portid = mnl_socket_get_portid(nl), seq = nlh->nlmsg_seq;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		r = berth_error_errno(err, BERTH_CNI_ERR_IO, "nft: sending a request");
		goto out;
	}
	static char buf[RCV_BUF];
	for (;;) {
		ssize_t len = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (len < 0) {
			r = berth_error_errno(err, BERTH_CNI_ERR_IO, "nft: reading a reply");
			goto out;
		}
		const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
		int left = (int)len;
		while (mnl_nlmsg_ok(h, left)) {
			if (h->nlmsg_seq != seq || h->nlmsg_pid != portid) {
				h = mnl_nlmsg_next(h, &left);
				continue;
			}
			if (h->nlmsg_type == NLMSG_DONE) {
				r = 0;
				goto out;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
				r = e->error; /* 0 = the ACK */
				goto out;
			}
			if (cb && (r = cb(h, data)) < 0)
				goto out;
			h = mnl_nlmsg_next(h, &left);
		}
	}
out:
	mnl_socket_close(nl);
	return r;
}

static char *elem_comment(struct nftnl_set_elem *se)
{
	uint32_t len = 0;
	const void *ud = nftnl_set_elem_get(se, NFTNL_SET_ELEM_USERDATA, &len);
	if (!ud || !len)
		return NULL;
	const struct nftnl_udata *a;
	nftnl_udata_for_each_data(ud, len, a)
	{
		if (nftnl_udata_type(a) == NFTNL_UDATA_SET_ELEM_COMMENT)
			return strndup(nftnl_udata_get(a), nftnl_udata_len(a));
	}
	return NULL;
}

struct get_ctx {
	char *comment;
	bool found;
};

static int get_cb(const struct nlmsghdr *nlh, void *data)
{
	struct get_ctx *g = data;
	struct nftnl_set *s = nftnl_set_alloc();
	if (!s)
		return -ENOMEM;
	if (nftnl_set_elems_nlmsg_parse(nlh, s) == 0) {
		struct nftnl_set_elems_iter *it = nftnl_set_elems_iter_create(s);
		struct nftnl_set_elem *se = it ? nftnl_set_elems_iter_next(it) : NULL;
		if (se) {
			g->found = true;
			free(g->comment);
			g->comment = elem_comment(se);
		}
		if (it)
			nftnl_set_elems_iter_destroy(it);
	}
	nftnl_set_free(s);
	return 0;
}

int berth_nft_elem_get(const struct berth_nft_elem *e, char **ret_comment, berth_error *err)
{
	static char buf[8192];
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elem *se = make_elem(e, false, NULL);
	struct get_ctx g = { 0 };
	if (!s || !se) {
		nftnl_set_free(s);
		if (se)
			nftnl_set_elem_free(se);
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "nft: out of memory");
	}
	nftnl_set_set_str(s, NFTNL_SET_TABLE, berth_nft_table());
	nftnl_set_set_str(s, NFTNL_SET_NAME, e->set);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, e->family);
	nftnl_set_elem_add(s, se);
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, e->family, NLM_F_ACK,
						     (uint32_t)time(NULL));
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	int r = berth_nft_request(nlh, get_cb, &g, err);
	if (r == -ENOENT) {
		free(g.comment);
		if (ret_comment)
			*ret_comment = NULL;
		return 0;
	}
	if (r < 0) {
		free(g.comment);
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, -r,
				       "nft: looking up an element of set %s: %s", e->set,
				       strerror(-r));
	}
	if (ret_comment)
		*ret_comment = g.comment;
	else
		free(g.comment);
	return g.found ? 1 : 0;
}

struct dump_ctx {
	int family;
	const char *set;
	int (*fn)(const struct berth_nft_elem *e, const char *comment, void *data);
	void *data;
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *d = data;
	struct nftnl_set *s = nftnl_set_alloc();
	int r = 0;
	if (!s)
		return -ENOMEM;
	if (nftnl_set_elems_nlmsg_parse(nlh, s) == 0) {
		struct nftnl_set_elems_iter *it = nftnl_set_elems_iter_create(s);
		struct nftnl_set_elem *se;
		while (it && r == 0 && (se = nftnl_set_elems_iter_next(it))) {
			struct berth_nft_elem e = { .family = d->family, .set = d->set };
			uint32_t len = 0;
			const void *p = nftnl_set_elem_get(se, NFTNL_SET_ELEM_KEY, &len);
			if (p && len <= sizeof(e.key)) {
				memcpy(e.key, p, len);
				e.key_len = len;
			}
			p = nftnl_set_elem_get(se, NFTNL_SET_ELEM_KEY_END, &len);
			if (p && len <= sizeof(e.key_end)) {
				memcpy(e.key_end, p, len);
				e.key_end_len = len;
			}
			p = nftnl_set_elem_get(se, NFTNL_SET_ELEM_DATA, &len);
			if (p && len <= sizeof(e.data)) {
				memcpy(e.data, p, len);
				e.data_len = len;
			}
			_cleanup_free_ char *c = elem_comment(se);
			r = d->fn(&e, c, d->data);
		}
		if (it)
			nftnl_set_elems_iter_destroy(it);
	}
	nftnl_set_free(s);
	return r;
}

int berth_nft_elems_dump(int family, const char *set,
			 int (*fn)(const struct berth_nft_elem *e, const char *comment, void *data),
			 void *data, berth_error *err)
{
	static char buf[8192];
	struct nftnl_set *s = nftnl_set_alloc();
	struct dump_ctx d = { family, set, fn, data };
	if (!s)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "nft: out of memory");
	nftnl_set_set_str(s, NFTNL_SET_TABLE, berth_nft_table());
	nftnl_set_set_str(s, NFTNL_SET_NAME, set);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, family);
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, family,
						     NLM_F_DUMP | NLM_F_ACK, (uint32_t)time(NULL));
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	int r = berth_nft_request(nlh, dump_cb, &d, err);
	if (r == -ENOENT || r == -EAFNOSUPPORT) {
		/* no table or set (or no nf_tables for this family): nothing to list */
		berth_error_clear(err);
		return 0;
	}
	if (r < 0 && (!err || !err->msg[0]))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, -r, "nft: listing set %s: %s",
				       set, strerror(-r));
	return r;
}
