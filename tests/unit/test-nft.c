// SPDX-License-Identifier: Apache-2.0
/* nft batches are built without a socket: check the messages without root. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>

#include "berth/cleanup.h"
#include "berth/nft.h"
#include "tap.h"

struct counts {
	int table, chain, set, rule, elem, destroy, begin, end, excl, ack;
};

static void count(const struct berth_nft_batch *b, struct counts *c)
{
	size_t len;
	const struct nlmsghdr *nlh = berth_nft_batch_data(b, &len);
	int left = (int)len;
	memset(c, 0, sizeof(*c));
	while (mnl_nlmsg_ok(nlh, left)) {
		int t = nlh->nlmsg_type & 0xff;
		if (nlh->nlmsg_type == NFNL_MSG_BATCH_BEGIN)
			c->begin++;
		else if (nlh->nlmsg_type == NFNL_MSG_BATCH_END)
			c->end++;
		else {
			c->table += t == NFT_MSG_NEWTABLE;
			c->chain += t == NFT_MSG_NEWCHAIN;
			c->set += t == NFT_MSG_NEWSET;
			c->rule += t == NFT_MSG_NEWRULE;
			c->elem += t == NFT_MSG_NEWSETELEM;
			c->destroy += t == 30; /* NFT_MSG_DESTROYSETELEM */
			c->excl += !!(nlh->nlmsg_flags & NLM_F_EXCL);
			c->ack += !!(nlh->nlmsg_flags & NLM_F_ACK);
		}
		nlh = mnl_nlmsg_next(nlh, &left);
	}
	is_int(left, 0, "batch is a whole number of netlink messages");
}

int main(void)
{
	struct berth_nft_batch *b = NULL;
	berth_error err = { 0 };
	struct counts c;

	setenv("BERTH_NFT_TABLE", "berth_unit", 1);
	is_str(berth_nft_table(), "berth_unit", "table name from BERTH_NFT_TABLE");

	ok(berth_nft_batch_new(&b) == 0, "new batch");
	ok(berth_nft_batch_setup(b, NFPROTO_INET, &err) == 0, "inet setup builds");
	ok(berth_nft_batch_finish(b) == 0, "finish");
	count(b, &c);
	is_int(c.begin, 1, "one BATCH_BEGIN");
	is_int(c.end, 1, "one BATCH_END");
	is_int(c.table, 1, "one table");
	is_int(c.excl, 1, "only the table is exclusive (concurrent setup loses cleanly)");
	is_int(c.chain, 4, "prerouting, output, postrouting, forward");
	is_int(c.set, 19, "19 sets and maps");
	is_int(c.rule, 29, "a fixed set of rules, none per container");
	is_int(c.ack, c.table + c.chain + c.set + c.rule, "every message asks for an ACK");
	is_int(berth_nft_batch_messages(b), 2 + 1 + 4 + 19 + 29, "message count");
	berth_nft_batch_free(b);

	ok(berth_nft_batch_new(&b) == 0 && berth_nft_batch_setup(b, NFPROTO_BRIDGE, &err) == 0 &&
		   berth_nft_batch_finish(b) == 0,
	   "bridge setup builds");
	count(b, &c);
	is_int(c.chain, 2, "bridge: prerouting, forward");
	is_int(c.set, 3, "bridge: mac_if, mac_ok, iso_ports");
	is_int(c.rule, 2, "bridge: two rules");
	berth_nft_batch_free(b);

	/* element key layout: ip . proto . port, each padded to 4 bytes */
	struct berth_nft_elem e[3] = { 0 };
	struct berth_ip ip = { .family = AF_INET };
	inet_pton(AF_INET, "10.1.2.3", ip.addr);
	e[0].family = NFPROTO_INET;
	e[0].set = "pm4_ip";
	e[0].key_len = berth_nft_put_ip(e[0].key, &ip);
	e[0].key_len += berth_nft_put_u8(e[0].key + e[0].key_len, 17);
	e[0].key_len += berth_nft_put_port(e[0].key + e[0].key_len, 8080);
	const uint8_t want[12] = { 10, 1, 2, 3, 17, 0, 0, 0, 0x1f, 0x90, 0, 0 };
	is_int(e[0].key_len, 12, "ipv4 . proto . port key is 12 bytes");
	ok(memcmp(e[0].key, want, 12) == 0, "key bytes in register layout");
	uint8_t ifn[16];
	is_int(berth_nft_put_ifname(ifn, "veth0123456789abcdef"), 16, "ifname is 16 bytes");
	is_int(ifn[15], 0, "ifname truncated to 15 + NUL");
	e[1] = e[0];
	e[1].key[11] = 1;
	e[2] = e[0];
	e[2].set = "pm4_any";

	ok(berth_nft_batch_new(&b) == 0, "new batch");
	ok(berth_nft_batch_elems(b, false, e, 1, NULL, &err) == 0, "destroy builds");
	ok(berth_nft_batch_elems(b, true, e, 3, "berth portmap n c eth0", &err) == 0, "add builds");
	berth_nft_batch_finish(b);
	count(b, &c);
	is_int(c.destroy, 1, "one DESTROYSETELEM message (idempotent delete)");
	is_int(c.elem, 2, "one NEWSETELEM message per set");
	is_int(c.excl, 2, "adds are exclusive: a taken key fails the batch");
	berth_nft_batch_free(b);

	/* conditions: the documented subset of nft syntax */
	struct berth_nft_conds cd;
	const char *t1[] = { "ip saddr != 10.0.0.0/8", "iifname", "\"eth*\"", "meta mark 0x10" };
	ok(berth_nft_conds_parse(t1, 4, 4, "conditionsV4", &cd, &err) == 0, "conditions parse");
	is_int(cd.n, 3, "three matches");
	ok(cd.c[0].neg && cd.c[0].kind == 1 && cd.c[0].mask[0] == 0xff && cd.c[0].mask[1] == 0,
	   "saddr != /8 -> masked compare");
	is_int(cd.c[1].len, 3, "iifname eth* is a 3-byte prefix compare");
	is_str(cd.text, "ip saddr != 10.0.0.0/8 iifname eth* meta mark 0x10", "normalised text");
	struct berth_nft_conds c2;
	const char *t2[] = { "ip", "saddr", "!=", "10.0.0.0/8", "iifname eth*", "mark", "0x10" };
	ok(berth_nft_conds_parse(t2, 7, 4, "conditionsV4", &c2, &err) == 0 && STREQ(cd.id, c2.id),
	   "token split does not change the id");
	const char *t3[] = { "tcp dport 80" };
	ok(berth_nft_conds_parse(t3, 1, 4, "conditionsV4", &cd, &err) == -EINVAL && err.code == 7 &&
		   strstr(err.msg, "conditionsV4") && strstr(err.msg, "tcp"),
	   "unsupported match -> code 7 naming key and token");
	/* iptables syntax (the reference's iptables backend): translated */
	const char *t4[] = { "-d", "1.2.3.4" };
	ok(berth_nft_conds_parse(t4, 2, 4, "conditionsV4", &cd, &err) == 0, "iptables -d parses");
	is_str(cd.text, "ip daddr 1.2.3.4", "... as ip daddr");
	const char *t6[] = { "!", "-s", "10.0.0.0/8", "-i", "eth+", "-m", "mark", "--mark",
			     "0x10/0xffffffff", "-m", "comment", "--comment", "\"two words\"" };
	ok(berth_nft_conds_parse(t6, 13, 4, "conditionsV4", &c2, &err) == 0, "iptables -s -i -m mark -m comment parse");
	is_str(c2.text, "ip saddr != 10.0.0.0/8 iifname eth* meta mark 0x10", "... into the nft subset");
	struct berth_nft_conds c3;
	const char *t7[] = { "ip saddr != 10.0.0.0/8 iifname eth* meta mark 0x10" };
	ok(berth_nft_conds_parse(t7, 1, 4, "conditionsV4", &c3, &err) == 0 && STREQ(c2.id, c3.id),
	   "... with the id of the same list in nft syntax");
	const char *t8[] = { "--source ! fd00::/8" };
	ok(berth_nft_conds_parse(t8, 1, 6, "conditionsV6", &cd, &err) == 0 &&
		   STREQ(cd.text, "ip6 saddr != fd00::/8"),
	   "old-style '--source ! ADDR' in conditionsV6");
	const char *t9[] = { "-p", "tcp" };
	ok(berth_nft_conds_parse(t9, 2, 4, "conditionsV4", &cd, &err) == -EINVAL && err.code == 7 &&
		   strstr(err.msg, "'-p'"),
	   "an iptables option without an nft counterpart is refused naming it");
	const char *t5[] = { "ip6 daddr fd00::1" };
	ok(berth_nft_conds_parse(t5, 1, 4, "conditionsV4", &cd, &err) == -EINVAL,
	   "ip6 match in conditionsV4 refused");
	ok(berth_nft_conds_parse(t5, 1, 6, "conditionsV6", &cd, &err) == 0 && cd.c[0].len == 16,
	   "ip6 match in conditionsV6");

	ok(berth_nft_masq_backend_ok("nftables", &err) == 0, "ipMasqBackend nftables");
	ok(berth_nft_masq_backend_ok("iptables", &err) == 0, "ipMasqBackend iptables mapped");
	ok(berth_nft_masq_backend_ok("ebpf", &err) == -EINVAL && err.code == 7,
	   "unknown ipMasqBackend is code 7");
	ok(strstr(err.msg, "ipMasqBackend") != NULL, "error names the key");
	return done_testing();
}
