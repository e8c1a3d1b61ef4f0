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

const char *berth_nft_family_name(int family)
{
	return family == NFPROTO_BRIDGE ? "bridge" : "inet";
}

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
struct nlmsghdr *berth_nft_msg_begin(struct berth_nft_batch *b, const char *desc)
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

void berth_nft_msg_end(struct berth_nft_batch *b, struct nlmsghdr *nlh)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	b->seq++;
}

int berth_nft_batch_begin(struct berth_nft_batch *b)
{
	if (b->len)
		return 0;
	struct nlmsghdr *nlh = berth_nft_msg_begin(b, "batch begin");
	if (!nlh)
		return -ENOMEM;
	nftnl_batch_begin((char *)nlh, b->seq);
	berth_nft_msg_end(b, nlh);
	return 0;
}

int berth_nft_batch_finish(struct berth_nft_batch *b)
{
	if (b->finished)
		return 0;
	int r = berth_nft_batch_begin(b);
	if (r < 0)
		return r;
	struct nlmsghdr *nlh = berth_nft_msg_begin(b, "batch end");
	if (!nlh)
		return -ENOMEM;
	nftnl_batch_end((char *)nlh, b->seq);
	berth_nft_msg_end(b, nlh);
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
		 n == 1 ? "" : "s", add ? "to" : "from", berth_nft_family_name(e[0].family),
		 berth_nft_table(), e[0].set);
	struct nlmsghdr *nlh = berth_nft_msg_begin(b, desc);
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
	berth_nft_msg_end(b, nlh);
	return 0;
}

int berth_nft_batch_elems(struct berth_nft_batch *b, bool add, const struct berth_nft_elem *e,
			  size_t n, const char *comment, berth_error *err)
{
	if (berth_nft_batch_begin(b) < 0)
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
	if (!grp || !gc || !done || berth_nft_batch_begin(b) < 0)
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

/* Send the batch and collect one ACK per message.  commit false: no BATCH_END, so the kernel
 * checks and acknowledges every message and then aborts the transaction (NFNL_ABORT_VALIDATE,
 * what `nft -c` does): nothing is applied. */
static int batch_talk(struct berth_nft_batch *b, bool commit, berth_error *err)
{
	struct mnl_socket *nl = NULL;
	int r, first_err = 0;
	size_t acks = 0, expect;

	if ((r = commit ? berth_nft_batch_finish(b) : berth_nft_batch_begin(b)) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, -r, "nft: out of memory");
	if (!commit && b->finished)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL,
				       "nft: a finished batch cannot be checked");
	/* every message but BEGIN (and END) carries NLM_F_ACK */
	expect = b->n_desc - (commit ? 2 : 1);
	if (commit)
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
	close_socket(nl, commit && b->deletes);
	return r;
}

int berth_nft_batch_send(struct berth_nft_batch *b, berth_error *err)
{
	return batch_talk(b, true, err);
}

int berth_nft_batch_check(struct berth_nft_batch *b, berth_error *err)
{
	return batch_talk(b, false, err);
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
