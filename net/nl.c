// SPDX-License-Identifier: Apache-2.0
/* One rtnetlink socket per netns, requests with extended-ack error text. */

#include <errno.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/netns.h"
#include "nl-internal.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

int berth_nle_to_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case NLE_SUCCESS: return 0;
	case NLE_INTR: return EINTR;
	case NLE_BAD_SOCK: return EBADF;
	case NLE_AGAIN: return EAGAIN;
	case NLE_NOMEM: return ENOMEM;
	case NLE_EXIST: return EEXIST;
	case NLE_INVAL: return EINVAL;
	case NLE_RANGE: return ERANGE;
	case NLE_MSGSIZE: return EMSGSIZE;
	case NLE_OPNOTSUPP: return EOPNOTSUPP;
	case NLE_AF_NOSUPPORT: return EAFNOSUPPORT;
	case NLE_OBJ_NOTFOUND: return ENOENT;
	case NLE_NOATTR: return ENOENT;
	case NLE_MISSING_ATTR: return EINVAL;
	case NLE_AF_MISMATCH: return EINVAL;
	case NLE_SEQ_MISMATCH: return EPROTO;
	case NLE_MSG_OVERFLOW: return EOVERFLOW;
	case NLE_MSG_TRUNC: return EMSGSIZE;
	case NLE_NOADDR: return EADDRNOTAVAIL;
	case NLE_SRCRT_NOSUPPORT: return EOPNOTSUPP;
	case NLE_MSG_TOOSHORT: return EPROTO;
	case NLE_MSGTYPE_NOSUPPORT: return EOPNOTSUPP;
	case NLE_OBJ_MISMATCH: return EINVAL;
	case NLE_NOCACHE: return ENOENT;
	case NLE_BUSY: return EBUSY;
	case NLE_PROTO_MISMATCH: return EPROTONOSUPPORT;
	case NLE_NOACCESS: return EACCES;
	case NLE_PERM: return EPERM;
	case NLE_PKTLOC_FILE: return ENOENT;
	case NLE_PARSE_ERR: return EINVAL;
	case NLE_NODEV: return ENODEV;
	case NLE_IMMUTABLE: return EPERM;
	case NLE_DUMP_INTR: return EINTR;
	case NLE_ATTRSIZE: return EINVAL;
	default: return EIO;
	}
}

int berth_nl_error(berth_error *err, int nle, const char *fmt, ...)
{
	char buf[BERTH_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, berth_nle_to_errno(nle) ?: EIO, "%s: %s",
			       buf, nl_geterror(nle < 0 ? nle : -nle));
}

int berth_nl_open(int nsfd, struct berth_nl **ret, berth_error *err)
{
	_cleanup_netns_ int saved = -1;
	struct berth_nl *nl;
	int one = 1, r;

	if (nsfd >= 0) {
		r = berth_netns_enter(nsfd, &saved, err);
		if (r < 0)
			return r;
	}
	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	nl->sk = nl_socket_alloc();
	nl->cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!nl->sk || !nl->cb) {
		berth_nl_close(nl);
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	}
	r = nl_connect(nl->sk, NETLINK_ROUTE);
	if (r < 0) {
		berth_nl_close(nl);
		return berth_nl_error(err, r, "netlink socket");
	}
	/* Kernel error text (e.g. "Unknown device type") is worth more than strerror alone. */
	(void)setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	(void)setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	*ret = nl;
	return 0;
}

void berth_nl_close(struct berth_nl *nl)
{
	if (!nl)
		return;
	if (nl->sk)
		nl_socket_free(nl->sk);
	if (nl->cb)
		nl_cb_put(nl->cb);
	free(nl);
}

struct talk {
	berth_nl_parse_fn parse;
	void *arg;
	bool done;
	int error;    /* positive errno from the kernel or the parser */
	char ext[256];
};

static int talk_valid(struct nl_msg *msg, void *arg)
{
	struct talk *t = arg;
	int r;

	if (!t->parse || t->error)
		return NL_OK;
	r = t->parse(nlmsg_hdr(msg), t->arg);
	if (r < 0)
		t->error = -r;
	return NL_OK;
}

static int talk_ack(struct nl_msg *msg, void *arg)
{
	struct talk *t = arg;

	t->done = true;
	return NL_STOP;
}

static void extack_text(const struct nlmsghdr *nlh, const struct nlmsgerr *e, char *buf, size_t len)
{
	size_t off = sizeof(*e);
	const struct nlattr *a;
	int rem;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	if (NLMSG_HDRLEN + off >= nlh->nlmsg_len)
		return;
	a = (const struct nlattr *)((const char *)e + NLMSG_ALIGN(off));
	rem = (int)nlh->nlmsg_len - NLMSG_HDRLEN - (int)NLMSG_ALIGN(off);
	for (; nla_ok(a, rem); a = nla_next(a, &rem)) {
		if (nla_type(a) == NLMSGERR_ATTR_MSG && nla_len(a) > 0) {
			snprintf(buf, len, "%.*s", nla_len(a), (const char *)nla_data(a));
			/* Some messages end with a newline. */
			buf[strcspn(buf, "\n")] = '\0';
			return;
		}
	}
}

static int talk_err(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct talk *t = arg;
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)((const char *)e - NLMSG_HDRLEN);

	t->done = true;
	t->error = e->error < 0 ? -e->error : e->error;
	if (!t->error)
		return NL_STOP;
	extack_text(nlh, e, t->ext, sizeof(t->ext));
	return NL_STOP;
}

static int talk_finish(struct nl_msg *msg, void *arg)
{
	struct talk *t = arg;

	t->done = true;
	return NL_STOP;
}

int berth_nl_talk(struct berth_nl *nl, struct nl_msg *msg, berth_nl_parse_fn parse, void *arg,
		  berth_error *err, const char *what)
{
	struct talk t = { .parse = parse, .arg = arg };
	int r;

	nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_ACK;
	r = nl_send_auto(nl->sk, msg);
	if (r < 0)
		return berth_nl_error(err, r, "%s", what);

	nl_cb_set(nl->cb, NL_CB_VALID, NL_CB_CUSTOM, talk_valid, &t);
	nl_cb_set(nl->cb, NL_CB_ACK, NL_CB_CUSTOM, talk_ack, &t);
	nl_cb_set(nl->cb, NL_CB_FINISH, NL_CB_CUSTOM, talk_finish, &t);
	nl_cb_err(nl->cb, NL_CB_CUSTOM, talk_err, &t);
	while (!t.done) {
		/* A parser error does not stop reading: the rest of a dump must be drained or
		 * the next request on this socket would see it. */
		r = nl_recvmsgs(nl->sk, nl->cb);
		if (t.done)
			break;
		if (r < 0)
			return berth_nl_error(err, r, "%s", what);
	}
	if (t.error) {
		if (t.ext[0])
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, t.error, "%s: %s: %s", what,
					       strerror(t.error), t.ext);
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, t.error, "%s: %s", what,
				       strerror(t.error));
	}
	return 0;
}
