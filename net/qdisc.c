// SPDX-License-Identifier: Apache-2.0
/*
 * Traffic control for the bandwidth plugin.  Requests are libnl-route objects (rtnl_qdisc with
 * the tbf and ingress kinds, rtnl_cls u32, rtnl_act mirred) turned into messages by libnl and
 * sent on our socket, so that the kernel's extended-ack text reaches the error.  libnl 3.7's tbf
 * takes the rate as an int and derives the bucket time itself: the tbf message is corrected
 * afterwards to carry the reference plugin's exact buffer and limit and, above 4 GB/s,
 * TCA_TBF_RATE64.  Dumps are parsed from the raw messages.
 */

#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <arpa/inet.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/action.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/tbf.h>
#include <netlink/route/tc.h>
#include <nettle/sha2.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/link.h"
#include "berth/netns.h"
#include "berth/qdisc.h"
#include "nl-internal.h"

#define LATENCY_USEC 25000.0 /* the reference plugin's tbf latency, 25 ms */

static int nomem(berth_error *err)
{
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM,
			       "out of memory building a netlink message");
}

/* psched ticks per microsecond, as tc and the reference (vishvananda/netlink) read them. */
static double ticks_per_usec(void)
{
	static double tick;
	unsigned int t2us = 0, us2t = 0, res = 0;
	FILE *f;

	if (tick > 0)
		return tick;
	tick = 15.625; /* every kernel since 2.6.x: 64 ns per tick */
	f = fopen("/proc/net/psched", "re");
	if (!f)
		return tick;
	if (fscanf(f, "%08x%08x%08x", &t2us, &us2t, &res) == 3 && us2t && res) {
		if (res == 1000000000)
			t2us = us2t;
		tick = (double)t2us / us2t * ((double)res / 1000000.0);
	}
	fclose(f);
	return tick;
}

int berth_tbf_from_bits(uint64_t rate_bits, uint64_t burst_bits, struct berth_tbf *ret,
			berth_error *err)
{
	uint64_t rate = rate_bits / 8, burst = burst_bits / 8;
	double usec, ticks, limit;

	if (rate == 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "rate %llu bit/s is below one byte per second",
				       (unsigned long long)rate_bits);
	if (burst == 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "burst %llu bits is below one byte",
				       (unsigned long long)burst_bits);
	if (burst >= UINT32_MAX)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ERANGE,
				       "burst cannot be more than 4GB");
	/* The reference truncates the microseconds to an integer before converting to ticks.  A
	 * bucket longer than the kernel's 32-bit tick count is capped at the longest one: that is
	 * what Kubernetes' runtimes send (containerd's and CRI-O's CRI set the burst to 2^32-1 bits
	 * for the kubernetes.io/ingress-bandwidth and egress-bandwidth annotations), and the reference wraps it around to an
	 * arbitrary shorter bucket. */
	usec = (double)burst * 1000000.0 / (double)rate;
	ticks = usec >= 4294967296.0 ? 4294967295.0 : floor(floor(usec) * ticks_per_usec());
	if (ticks > 4294967295.0)
		ticks = 4294967295.0;
	limit = floor((double)rate * LATENCY_USEC / 1000000.0) + (double)burst;
	ret->rate = rate;
	ret->buffer = (uint32_t)ticks;
	ret->limit = limit >= 4294967295.0 ? UINT32_MAX : (uint32_t)limit;
	return 0;
}

uint64_t berth_tbf_burst_bytes(const struct berth_tbf *t)
{
	return (uint64_t)llround((double)t->buffer / ticks_per_usec() * (double)t->rate / 1e6);
}

static void qdisc_putp(struct rtnl_qdisc **q)
{
	if (*q)
		rtnl_qdisc_put(*q);
}
static void cls_putp(struct rtnl_cls **c)
{
	if (*c)
		rtnl_cls_put(*c);
}
static void act_putp(struct rtnl_act **a)
{
	if (*a)
		rtnl_act_put(*a);
}

/* Send a message libnl built (NLE code in build_r), with our ack handling. */
static int send_built(struct berth_nl *nl, int build_r, struct nl_msg *msg, berth_error *err,
		      const char *what)
{
	if (build_r < 0)
		return berth_nl_error(err, build_r, "%s", what);
	return berth_nl_talk(nl, msg, NULL, NULL, err, what);
}

/* Give the tbf message the exact buffer and limit, and the 64-bit rate when it needs one.
 * TCA_OPTIONS is the last attribute of a message libnl builds, so a new attribute at the end
 * of the message is inside it once the nest's length grows by as much. */
static int tbf_fixup(struct nl_msg *msg, const struct berth_tbf *t)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct nlattr *opts = nlmsg_find_attr(nlh, sizeof(struct tcmsg), TCA_OPTIONS), *parms;
	struct tc_tbf_qopt *q;
	uint32_t before;

	if (!opts || !(parms = nla_find(nla_data(opts), nla_len(opts), TCA_TBF_PARMS)) ||
	    nla_len(parms) < (int)sizeof(*q))
		return -EPROTO;
	q = nla_data(parms);
	q->buffer = t->buffer;
	q->limit = t->limit;
	/* as the reference leaves it: the kernel then tells the link layer from the rate table */
	q->rate.linklayer = TC_LINKLAYER_UNAWARE;
	if (t->rate < UINT32_MAX) {
		q->rate.rate = (uint32_t)t->rate;
		return 0;
	}
	q->rate.rate = UINT32_MAX;
	if ((char *)opts + NLA_ALIGN(opts->nla_len) != (char *)nlh + nlh->nlmsg_len)
		return -EPROTO;
	before = nlh->nlmsg_len;
	if (nla_put_u64(msg, TCA_TBF_RATE64, t->rate) < 0)
		return -ENOMEM;
	nlh = nlmsg_hdr(msg);
	opts = nlmsg_find_attr(nlh, sizeof(struct tcmsg), TCA_OPTIONS);
	opts->nla_len = (uint16_t)(opts->nla_len + (nlh->nlmsg_len - before));
	return 0;
}

int berth_qdisc_add_tbf(struct berth_nl *nl, int ifindex, const struct berth_tbf *t,
			berth_error *err)
{
	_cleanup_(qdisc_putp) struct rtnl_qdisc *q = rtnl_qdisc_alloc();
	_cleanup_nlmsg_ struct nl_msg *msg = NULL;
	uint64_t burst = berth_tbf_burst_bytes(t);
	char what[96];
	int r;

	if (!q)
		return nomem(err);
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
	rtnl_tc_set_handle(TC_CAST(q), BERTH_TC_ROOT_HANDLE);
	if ((r = rtnl_tc_set_kind(TC_CAST(q), "tbf")) < 0)
		return berth_nl_error(err, r, "tbf qdisc");
	rtnl_qdisc_tbf_set_limit(q, (int)(t->limit > INT32_MAX ? INT32_MAX : t->limit));
	rtnl_qdisc_tbf_set_rate(q, (int)(t->rate > INT32_MAX ? INT32_MAX : t->rate),
				(int)(burst > INT32_MAX ? INT32_MAX : burst), 0);
	snprintf(what, sizeof(what), "failed to add tbf qdisc to link %d", ifindex);
	r = rtnl_qdisc_build_add_request(q, NLM_F_CREATE | NLM_F_EXCL, &msg);
	if (r >= 0 && tbf_fixup(msg, t) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EPROTO,
				       "%s: unexpected tbf message layout", what);
	return send_built(nl, r, msg, err, what);
}

int berth_qdisc_add_ingress(struct berth_nl *nl, int ifindex, berth_error *err)
{
	_cleanup_(qdisc_putp) struct rtnl_qdisc *q = rtnl_qdisc_alloc();
	_cleanup_nlmsg_ struct nl_msg *msg = NULL;
	char what[96];
	int r;

	if (!q)
		return nomem(err);
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
	rtnl_tc_set_handle(TC_CAST(q), BERTH_TC_INGRESS_HANDLE);
	if ((r = rtnl_tc_set_kind(TC_CAST(q), "ingress")) < 0)
		return berth_nl_error(err, r, "ingress qdisc");
	snprintf(what, sizeof(what), "failed to add ingress qdisc to link %d", ifindex);
	r = rtnl_qdisc_build_add_request(q, NLM_F_CREATE | NLM_F_EXCL, &msg);
	return send_built(nl, r, msg, err, what);
}

int berth_qdisc_add_redirect(struct berth_nl *nl, int ifindex, int to_ifindex, berth_error *err)
{
	_cleanup_(cls_putp) struct rtnl_cls *c = rtnl_cls_alloc();
	_cleanup_(act_putp) struct rtnl_act *a = rtnl_act_alloc();
	_cleanup_nlmsg_ struct nl_msg *msg = NULL;
	char what[128];
	int r;

	if (!c || !a)
		return nomem(err);
	if ((r = rtnl_tc_set_kind(TC_CAST(a), "mirred")) < 0 ||
	    (r = rtnl_mirred_set_action(a, TCA_EGRESS_REDIR)) < 0 ||
	    (r = rtnl_mirred_set_policy(a, TC_ACT_STOLEN)) < 0 ||
	    (r = rtnl_mirred_set_ifindex(a, (uint32_t)to_ifindex)) < 0)
		return berth_nl_error(err, r, "mirred action");
	rtnl_tc_set_ifindex(TC_CAST(c), ifindex);
	rtnl_tc_set_parent(TC_CAST(c), BERTH_TC_INGRESS_HANDLE);
	if ((r = rtnl_tc_set_kind(TC_CAST(c), "u32")) < 0)
		return berth_nl_error(err, r, "u32 filter");
	rtnl_cls_set_prio(c, 1);
	rtnl_cls_set_protocol(c, ETH_P_ALL);
	/* "match u32 0 0": one key that every packet passes; flowid 1:1 as the reference sets */
	if ((r = rtnl_u32_add_key_uint32(c, 0, 0, 0, 0)) < 0 ||
	    (r = rtnl_u32_set_classid(c, TC_H_MAKE(1u << 16, 1))) < 0 ||
	    (r = rtnl_u32_set_cls_terminal(c)) < 0 || (r = rtnl_u32_add_action(c, a)) < 0)
		return berth_nl_error(err, r, "u32 filter");
	snprintf(what, sizeof(what), "failed to add a redirect from link %d to link %d", ifindex,
		 to_ifindex);
	r = rtnl_cls_build_add_request(c, NLM_F_CREATE | NLM_F_EXCL, &msg);
	return send_built(nl, r, msg, err, what);
}

int berth_qdisc_del(struct berth_nl *nl, int ifindex, uint32_t parent, berth_error *err)
{
	_cleanup_(qdisc_putp) struct rtnl_qdisc *q = rtnl_qdisc_alloc();
	_cleanup_nlmsg_ struct nl_msg *msg = NULL;
	char what[96];
	int r;

	if (!q)
		return nomem(err);
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), parent);
	snprintf(what, sizeof(what), "failed to delete the %s qdisc of link %d",
		 parent == TC_H_INGRESS ? "ingress" : "root", ifindex);
	r = rtnl_qdisc_build_delete_request(q, &msg);
	return send_built(nl, r, msg, err, what);
}

struct qlist {
	int ifindex;
	struct berth_qdisc *v;
	size_t n, cap;
};

static void parse_tbf(struct nlattr *opts, struct berth_qdisc *q)
{
	struct nlattr *tb[TCA_TBF_MAX + 1];
	const struct tc_tbf_qopt *o;

	if (nla_parse_nested(tb, TCA_TBF_MAX, opts, NULL) < 0 || !tb[TCA_TBF_PARMS] ||
	    nla_len(tb[TCA_TBF_PARMS]) < (int)sizeof(*o))
		return;
	o = nla_data(tb[TCA_TBF_PARMS]);
	q->has_tbf = true;
	q->tbf.rate = o->rate.rate;
	q->tbf.buffer = o->buffer;
	q->tbf.limit = o->limit;
	if (tb[TCA_TBF_RATE64] && nla_len(tb[TCA_TBF_RATE64]) >= 8)
		q->tbf.rate = nla_get_u64(tb[TCA_TBF_RATE64]);
}

static int qlist_cb(struct nlmsghdr *nlh, void *arg)
{
	struct qlist *c = arg;
	struct tcmsg *t = nlmsg_data(nlh);
	struct nlattr *tb[TCA_MAX + 1];
	struct berth_qdisc *q;

	if (nlh->nlmsg_type != RTM_NEWQDISC)
		return 0;
	if (c->ifindex && t->tcm_ifindex != c->ifindex)
		return 0;
	if (nlmsg_parse(nlh, sizeof(*t), tb, TCA_MAX, NULL) < 0)
		return -EPROTO;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct berth_qdisc *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	q = &c->v[c->n++];
	memset(q, 0, sizeof(*q));
	q->ifindex = t->tcm_ifindex;
	q->handle = t->tcm_handle;
	q->parent = t->tcm_parent;
	if (tb[TCA_KIND])
		nla_strlcpy(q->kind, tb[TCA_KIND], sizeof(q->kind));
	if (tb[TCA_OPTIONS] && STREQ(q->kind, "tbf"))
		parse_tbf(tb[TCA_OPTIONS], q);
	return 0;
}

int berth_qdisc_list(struct berth_nl *nl, int ifindex, struct berth_qdisc **ret, size_t *ret_n,
		     berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETQDISC, NLM_F_DUMP);
	struct tcmsg t = { .tcm_family = AF_UNSPEC, .tcm_ifindex = ifindex };
	struct qlist c = { .ifindex = ifindex };
	int r;

	if (!msg || nlmsg_append(msg, &t, sizeof(t), NLMSG_ALIGNTO) < 0)
		return nomem(err);
	r = berth_nl_talk(nl, msg, qlist_cb, &c, err, "failed to list qdiscs");
	if (r < 0) {
		free(c.v);
		return r;
	}
	*ret = c.v;
	*ret_n = c.n;
	return 0;
}

int berth_qdisc_get(struct berth_nl *nl, int ifindex, uint32_t parent, struct berth_qdisc *ret,
		    berth_error *err)
{
	/* Kernels since 6.x answer a qdisc GET only to listeners of RTNLGRP_TC or, with
	 * NLM_F_ECHO, to the asker; older ones always answer the asker. */
	_cleanup_nlmsg_ struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETQDISC, NLM_F_ECHO);
	struct tcmsg t = { .tcm_family = AF_UNSPEC, .tcm_ifindex = ifindex, .tcm_parent = parent };
	struct qlist c = { .ifindex = ifindex };
	char what[96];
	int r;

	if (!msg || nlmsg_append(msg, &t, sizeof(t), NLMSG_ALIGNTO) < 0)
		return nomem(err);
	snprintf(what, sizeof(what), "failed to get the %s qdisc of link %d",
		 parent == TC_H_INGRESS ? "ingress" : "root", ifindex);
	r = berth_nl_talk(nl, msg, qlist_cb, &c, err, what);
	if (r == 0 && c.n == 0)
		r = berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT, "%s: %s", what,
				    strerror(ENOENT));
	if (r == 0)
		*ret = c.v[0];
	free(c.v);
	return r;
}

struct flist {
	struct berth_tc_redirect *v;
	size_t n, cap;
};

static void parse_actions(struct nlattr *acts, struct berth_tc_redirect *f)
{
	struct nlattr *a;
	int rem;

	nla_for_each_nested(a, acts, rem) {
		struct nlattr *tb[TCA_ACT_MAX + 1], *mo[TCA_MIRRED_MAX + 1];
		char kind[16] = "";

		if (nla_parse_nested(tb, TCA_ACT_MAX, a, NULL) < 0)
			continue;
		f->n_actions++;
		if (tb[TCA_ACT_KIND])
			nla_strlcpy(kind, tb[TCA_ACT_KIND], sizeof(kind));
		if (!STREQ(kind, "mirred") || !tb[TCA_ACT_OPTIONS] ||
		    nla_parse_nested(mo, TCA_MIRRED_MAX, tb[TCA_ACT_OPTIONS], NULL) < 0 ||
		    !mo[TCA_MIRRED_PARMS] ||
		    nla_len(mo[TCA_MIRRED_PARMS]) < (int)sizeof(struct tc_mirred)) {
			f->other_actions = true;
			continue;
		}
		const struct tc_mirred *m = nla_data(mo[TCA_MIRRED_PARMS]);
		if (f->has_mirred) {
			/* the reference's filter repeats its redirect with another verdict */
			if ((int)m->ifindex != f->to_ifindex || m->eaction != f->mirred_eaction)
				f->other_actions = true;
			continue;
		}
		f->has_mirred = true;
		f->to_ifindex = (int)m->ifindex;
		f->mirred_eaction = m->eaction;
		f->mirred_policy = m->action;
	}
}

static int flist_cb(struct nlmsghdr *nlh, void *arg)
{
	struct flist *c = arg;
	struct tcmsg *t = nlmsg_data(nlh);
	struct nlattr *tb[TCA_MAX + 1], *u[TCA_U32_MAX + 1] = { 0 };
	struct berth_tc_redirect *f;
	char kind[16] = "";

	if (nlh->nlmsg_type != RTM_NEWTFILTER)
		return 0;
	if (nlmsg_parse(nlh, sizeof(*t), tb, TCA_MAX, NULL) < 0)
		return -EPROTO;
	if (tb[TCA_KIND])
		nla_strlcpy(kind, tb[TCA_KIND], sizeof(kind));
	/* u32 lists its hash table as a filter of its own: only nodes with a selector count */
	if (STREQ(kind, "u32") &&
	    (!tb[TCA_OPTIONS] || nla_parse_nested(u, TCA_U32_MAX, tb[TCA_OPTIONS], NULL) < 0 ||
	     !u[TCA_U32_SEL]))
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 4;
		struct berth_tc_redirect *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	f = &c->v[c->n++];
	memset(f, 0, sizeof(*f));
	f->prio = TC_H_MAJ(t->tcm_info) >> 16;
	f->protocol = ntohs((uint16_t)TC_H_MIN(t->tcm_info));
	snprintf(f->kind, sizeof(f->kind), "%s", kind);
	if (!STREQ(kind, "u32") || !u[TCA_U32_SEL])
		return 0;
	if (nla_len(u[TCA_U32_SEL]) >= (int)sizeof(struct tc_u32_sel)) {
		const struct tc_u32_sel *s = nla_data(u[TCA_U32_SEL]);
		int keys = (nla_len(u[TCA_U32_SEL]) - (int)sizeof(*s)) / (int)sizeof(s->keys[0]);

		f->match_all = true;
		for (int i = 0; i < s->nkeys && i < keys; i++)
			if (s->keys[i].mask)
				f->match_all = false;
	}
	if (u[TCA_U32_ACT])
		parse_actions(u[TCA_U32_ACT], f);
	return 0;
}

int berth_qdisc_list_redirects(struct berth_nl *nl, int ifindex, struct berth_tc_redirect **ret,
			       size_t *ret_n, berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETTFILTER, NLM_F_DUMP);
	struct tcmsg t = { .tcm_family = AF_UNSPEC,
			   .tcm_ifindex = ifindex,
			   .tcm_parent = BERTH_TC_INGRESS_HANDLE };
	struct flist c = { 0 };
	int r;

	if (!msg || nlmsg_append(msg, &t, sizeof(t), NLMSG_ALIGNTO) < 0)
		return nomem(err);
	r = berth_nl_talk(nl, msg, flist_cb, &c, err, "failed to list filters");
	if (r < 0) {
		free(c.v);
		return r;
	}
	*ret = c.v;
	*ret_n = c.n;
	return 0;
}

int berth_qdisc_ifb_add(struct berth_nl *nl, const char *name, int mtu, const char *alias,
			berth_error *err)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP };
	_cleanup_nlmsg_ struct nl_msg *msg = nlmsg_alloc_simple(RTM_NEWLINK,
								NLM_F_CREATE | NLM_F_EXCL);
	struct nlattr *li;
	char what[64];
	int r;

	if (!msg || nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    nla_put_string(msg, IFLA_IFNAME, name) < 0 ||
	    (mtu > 0 && nla_put_u32(msg, IFLA_MTU, (uint32_t)mtu) < 0) ||
	    nla_put_u32(msg, IFLA_TXQLEN, 0) < 0 || !(li = nla_nest_start(msg, IFLA_LINKINFO)) ||
	    nla_put_string(msg, IFLA_INFO_KIND, "ifb") < 0)
		return nomem(err);
	nla_nest_end(msg, li);
	snprintf(what, sizeof(what), "failed to create ifb %s", name);
	if ((r = berth_nl_talk(nl, msg, NULL, NULL, err, what)) < 0 || !alias)
		return r;
	/* The kernel ignores IFLA_IFALIAS on create. */
	nlmsg_free(msg);
	memset(&ifi, 0, sizeof(ifi));
	msg = nlmsg_alloc_simple(RTM_SETLINK, 0);
	if (!msg || nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    nla_put_string(msg, IFLA_IFNAME, name) < 0 || nla_put_string(msg, IFLA_IFALIAS, alias) < 0)
		r = nomem(err);
	else
		r = berth_nl_talk(nl, msg, NULL, NULL, err, "failed to set the ifb's alias");
	if (r < 0) {
		berth_error ign = { 0 };
		struct berth_link l;

		if (berth_link_get_by_name(nl, name, &l, &ign) == 0)
			(void)berth_link_del(nl, l.ifindex, &ign);
	}
	return r;
}

void berth_qdisc_ifb_name(const char *network, const char *container_id, char buf[IF_NAMESIZE])
{
	struct sha512_ctx ctx;
	uint8_t d[SHA512_DIGEST_SIZE];
	char *p;

	sha512_init(&ctx);
	sha512_update(&ctx, strlen(network), (const uint8_t *)network);
	sha512_update(&ctx, strlen(container_id), (const uint8_t *)container_id);
	sha512_digest(&ctx, sizeof(d), d);
	p = buf + snprintf(buf, IF_NAMESIZE, "bwp");
	for (size_t i = 0; p + 2 < buf + IF_NAMESIZE; i++)
		p += sprintf(p, "%02x", d[i]);
	buf[IF_NAMESIZE - 1] = '\0';
}

/* The child of berth_qdisc_probe, in a network namespace of its own. */
static int probe_fn(void *userdata, berth_error *err)
{
	_cleanup_nl_ struct berth_nl *nl = NULL;
	struct berth_tbf t;
	struct berth_link l;
	int r;

	if ((r = berth_nl_open(-1, &nl, err)) < 0 ||
	    (r = berth_qdisc_ifb_add(nl, "bwprobe", 0, NULL, err)) < 0 ||
	    (r = berth_link_get_by_name(nl, "bwprobe", &l, err)) < 0 ||
	    (r = berth_tbf_from_bits(8000000, 80000, &t, err)) < 0 ||
	    (r = berth_qdisc_add_tbf(nl, l.ifindex, &t, err)) < 0 ||
	    (r = berth_qdisc_add_ingress(nl, l.ifindex, err)) < 0 ||
	    (r = berth_qdisc_add_redirect(nl, l.ifindex, l.ifindex, err)) < 0)
		return r;
	return 0;
}

int berth_qdisc_probe(berth_error *err)
{
	return berth_netns_probe(probe_fn, NULL, "traffic control", err);
}
