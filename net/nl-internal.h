/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Shared by net/nl.c, link.c, addr.c, route.c: not a public header. */

#include <netlink/msg.h>
#include <netlink/netlink.h>

#include "berth/error.h"
#include "berth/nl.h"

struct berth_nl {
	struct nl_sock *sk;
	struct nl_cb *cb;
};

/* Called for each reply message (type filtered by the caller); returns 0 or -errno. */
typedef int (*berth_nl_parse_fn)(struct nlmsghdr *nlh, void *arg);

/* Send msg (NLM_F_ACK is added) and read replies until the ACK, DONE or an error.  parse may be
 * NULL.  On a kernel error returns -errno with err = "<what>: <strerror>[: <extack text>]". */
int berth_nl_talk(struct berth_nl *nl, struct nl_msg *msg, berth_nl_parse_fn parse, void *arg,
		  berth_error *err, const char *what);

static inline void berth_nlmsg_freep(struct nl_msg **m)
{
	if (*m)
		nlmsg_free(*m);
}
#define _cleanup_nlmsg_ __attribute__((cleanup(berth_nlmsg_freep)))
