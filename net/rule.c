// SPDX-License-Identifier: Apache-2.0
/* Policy routing rules through rtnetlink. */

#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/attr.h>
#include <netlink/msg.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/rule.h"
#include "nl-internal.h"

void berth_rule_init(struct berth_rule *r, int family)
{
	memset(r, 0, sizeof(*r));
	r->family = family;
	r->priority = -1;
}

static int nomem(berth_error *err)
{
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
}

static struct nl_msg *rule_msg(int type, int flags, const struct berth_rule *r)
{
	struct fib_rule_hdr h = {
		.family = (unsigned char)r->family,
		.src_len = (unsigned char)(r->src.ip.family ? r->src.prefix : 0),
		.dst_len = (unsigned char)(r->dst.ip.family ? r->dst.prefix : 0),
		.table = r->table > 0 && r->table < 256 ? (unsigned char)r->table : RT_TABLE_UNSPEC,
		.action = (unsigned char)(r->action ? r->action : FR_ACT_TO_TBL),
	};
	struct nl_msg *msg = nlmsg_alloc_simple(type, flags);

	if (!msg)
		return NULL;
	if (nlmsg_append(msg, &h, sizeof(h), NLMSG_ALIGNTO) < 0)
		goto fail;
	if (r->src.ip.family) {
		struct berth_ipnet n = berth_ipnet_network(&r->src);
		if (nla_put(msg, FRA_SRC, berth_ip_len(n.ip.family), n.ip.addr) < 0)
			goto fail;
	}
	if (r->dst.ip.family) {
		struct berth_ipnet n = berth_ipnet_network(&r->dst);
		if (nla_put(msg, FRA_DST, berth_ip_len(n.ip.family), n.ip.addr) < 0)
			goto fail;
	}
	if (r->table > 0 && nla_put_u32(msg, FRA_TABLE, (uint32_t)r->table) < 0)
		goto fail;
	if (r->priority >= 0 && nla_put_u32(msg, FRA_PRIORITY, (uint32_t)r->priority) < 0)
		goto fail;
	if (r->protocol && nla_put_u8(msg, FRA_PROTOCOL, (uint8_t)r->protocol) < 0)
		goto fail;
	return msg;
fail:
	nlmsg_free(msg);
	return NULL;
}

static void describe(const struct berth_rule *r, char *buf, size_t len)
{
	char s[BERTH_IPNET_STRLEN] = "all";

	if (r->src.ip.family)
		berth_ipnet_format(&r->src, s);
	snprintf(buf, len, "from %s lookup %d", s, r->table);
}

int berth_rule_add(struct berth_nl *nl, const struct berth_rule *r, berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = rule_msg(RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, r);
	char what[160], d[120];

	if (!msg)
		return nomem(err);
	describe(r, d, sizeof(d));
	snprintf(what, sizeof(what), "failed to add rule %s", d);
	return berth_nl_talk(nl, msg, NULL, NULL, err, what);
}

int berth_rule_del(struct berth_nl *nl, const struct berth_rule *r, berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = rule_msg(RTM_DELRULE, 0, r);
	char what[160], d[120];

	if (!msg)
		return nomem(err);
	describe(r, d, sizeof(d));
	snprintf(what, sizeof(what), "failed to delete rule %s", d);
	return berth_nl_talk(nl, msg, NULL, NULL, err, what);
}

struct list_ctx {
	struct berth_rule *v;
	size_t n, cap;
};

static int list_cb(struct nlmsghdr *nlh, void *arg)
{
	struct list_ctx *c = arg;
	struct fib_rule_hdr *h = nlmsg_data(nlh);
	struct nlattr *tb[FRA_MAX + 1];
	struct berth_rule *e;
	int len;

	if (nlh->nlmsg_type != RTM_NEWRULE)
		return 0;
	if (nlmsg_parse(nlh, sizeof(*h), tb, FRA_MAX, NULL) < 0)
		return -EPROTO;
	len = berth_ip_len(h->family);
	if (!len)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct berth_rule *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	e = &c->v[c->n++];
	berth_rule_init(e, h->family);
	if (tb[FRA_SRC] && nla_len(tb[FRA_SRC]) == len) {
		e->src.ip.family = h->family;
		e->src.prefix = h->src_len;
		memcpy(e->src.ip.addr, nla_data(tb[FRA_SRC]), (size_t)len);
	}
	if (tb[FRA_DST] && nla_len(tb[FRA_DST]) == len) {
		e->dst.ip.family = h->family;
		e->dst.prefix = h->dst_len;
		memcpy(e->dst.ip.addr, nla_data(tb[FRA_DST]), (size_t)len);
	}
	e->table = tb[FRA_TABLE] ? (int)nla_get_u32(tb[FRA_TABLE]) : h->table;
	if (tb[FRA_PRIORITY])
		e->priority = (int)nla_get_u32(tb[FRA_PRIORITY]);
	if (tb[FRA_PROTOCOL])
		e->protocol = nla_get_u8(tb[FRA_PROTOCOL]);
	e->action = h->action;
	return 0;
}

int berth_rule_list(struct berth_nl *nl, int family, struct berth_rule **ret, size_t *ret_n,
		    berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETRULE, NLM_F_DUMP);
	struct fib_rule_hdr h = { .family = (unsigned char)family };
	struct list_ctx c = { 0 };
	int r;

	if (!msg || nlmsg_append(msg, &h, sizeof(h), NLMSG_ALIGNTO) < 0)
		return nomem(err);
	r = berth_nl_talk(nl, msg, list_cb, &c, err, "failed to list rules");
	if (r < 0) {
		free(c.v);
		return r;
	}
	*ret = c.v;
	*ret_n = c.n;
	return 0;
}
