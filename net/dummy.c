// SPDX-License-Identifier: Apache-2.0
/* dummy links: creation through one RTM_NEWLINK, and a probe in a throwaway netns. */

#include <errno.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include <netlink/attr.h>
#include <netlink/msg.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/dummy.h"
#include "berth/netns.h"
#include "nl-internal.h"

int berth_dummy_add(struct berth_nl *nl, const char *name, berth_error *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg =
		nlmsg_alloc_simple(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct nlattr *li;

	if (!msg || nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    nla_put_string(msg, IFLA_IFNAME, name) < 0 ||
	    !(li = nla_nest_start(msg, IFLA_LINKINFO)) ||
	    nla_put_string(msg, IFLA_INFO_KIND, "dummy") < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	nla_nest_end(msg, li);
	return berth_nl_talk(nl, msg, NULL, NULL, err, "failed to create dummy");
}

static int probe_fn(void *userdata, berth_error *e)
{
	_cleanup_nl_ struct berth_nl *nl = NULL;
	int r;

	if ((r = berth_nl_open(-1, &nl, e)) < 0)
		return r;
	return berth_dummy_add(nl, "dummyprobe", e);
}

int berth_dummy_probe(berth_error *err)
{
	return berth_netns_probe(probe_fn, NULL, "dummy", err);
}
