// SPDX-License-Identifier: Apache-2.0
/*
 * Flush UDP conntrack entries by destination port over ctnetlink (libmnl only): a stale entry
 * created before a port mapping existed would keep sending that flow to the host (or to the
 * old container after a DEL), which is the classic UDP hostPort blackhole.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libmnl/libmnl.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/nft.h"

struct ct_ctx {
	const uint16_t *ports;
	size_t n_ports;
	uint8_t proto;
	char **del; /* raw CTA_TUPLE_ORIG attributes to delete */
	size_t n_del;
};

static const struct nlattr *nested(const struct nlattr *a, int type)
{
	const struct nlattr *x;
	mnl_attr_for_each_nested(x, a)
	{
		if (mnl_attr_get_type(x) == type)
			return x;
	}
	return NULL;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ct_ctx *c = data;
	const struct nlattr *a, *orig = NULL;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
	{
		if (mnl_attr_get_type(a) == CTA_TUPLE_ORIG)
			orig = a;
	}
	if (!orig)
		return MNL_CB_OK;
	const struct nlattr *pr = nested(orig, CTA_TUPLE_PROTO);
	const struct nlattr *num = pr ? nested(pr, CTA_PROTO_NUM) : NULL;
	const struct nlattr *dport = pr ? nested(pr, CTA_PROTO_DST_PORT) : NULL;
	if (!num || !dport || mnl_attr_get_u8(num) != c->proto)
		return MNL_CB_OK;
	uint16_t p = ntohs(mnl_attr_get_u16(dport));
	for (size_t i = 0; i < c->n_ports; i++) {
		if (c->ports[i] != p)
			continue;
		char **d = realloc(c->del, (c->n_del + 1) * sizeof(*d));
		if (!d)
			return MNL_CB_ERROR;
		c->del = d;
		d[c->n_del] = malloc(orig->nla_len);
		if (!d[c->n_del])
			return MNL_CB_ERROR;
		memcpy(d[c->n_del++], orig, orig->nla_len);
		break;
	}
	return MNL_CB_OK;
}

static struct nlmsghdr *ct_hdr(char *buf, int type, int flags, int family, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	g->res_id = 0;
	return nlh;
}

int berth_conntrack_flush_ports(int family, uint8_t proto, const uint16_t *ports, size_t n,
				berth_error *err)
{
	struct ct_ctx c = { ports, n, proto, NULL, 0 };
	static char buf[65536];
	struct mnl_socket *nl;
	uint32_t seq = (uint32_t)time(NULL), portid;
	int r = 0;

	if (!n)
		return 0;
	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		if (nl)
			mnl_socket_close(nl);
		return 0; /* no conntrack netlink here: nothing to flush */
	}
	portid = mnl_socket_get_portid(nl);
	struct nlmsghdr *nlh = ct_hdr(buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, family, seq);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		goto out;
	for (;;) {
		ssize_t len = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (len <= 0)
			break;
		r = mnl_cb_run(buf, len, seq, portid, dump_cb, &c);
		if (r <= MNL_CB_STOP)
			break;
	}
	r = 0;
	/* delete each; an entry that expired meanwhile (ENOENT) is fine */
	for (size_t i = 0; i < c.n_del; i++) {
		nlh = ct_hdr(buf, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, family, ++seq);
		const struct nlattr *a = (const struct nlattr *)c.del[i];
		mnl_attr_put(nlh, CTA_TUPLE_ORIG | NLA_F_NESTED, a->nla_len - MNL_ATTR_HDRLEN,
			     mnl_attr_get_payload(a));
		if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
			break;
		ssize_t len = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (len > 0) {
			int x = mnl_cb_run(buf, len, seq, portid, NULL, NULL);
			if (x < 0 && errno != ENOENT && r == 0)
				r = berth_error_errno(err, BERTH_CNI_ERR_INTERNAL,
						      "conntrack: deleting a UDP entry");
		}
	}
out:
	for (size_t i = 0; i < c.n_del; i++)
		free(c.del[i]);
	free(c.del);
	mnl_socket_close(nl);
	return r;
}
