// SPDX-License-Identifier: Apache-2.0
/* dummy links: creation through one RTM_NEWLINK, and a probe in a throwaway netns. */

#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netlink/attr.h>
#include <netlink/msg.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/dummy.h"
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

int berth_dummy_probe(berth_error *err)
{
	int p[2], status = 0;
	berth_error child = { 0 };
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "pipe");
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "fork");
	}
	if (pid == 0) {
		struct berth_nl *nl = NULL;
		berth_error e = { 0 };
		int r;

		close(p[0]);
		if (unshare(CLONE_NEWNET) < 0)
			r = berth_error_errno(&e, BERTH_CNI_ERR_INTERNAL,
					      "cannot create a network namespace to probe in");
		else if ((r = berth_nl_open(-1, &nl, &e)) == 0)
			r = berth_dummy_add(nl, "dummyprobe", &e);
		if (r < 0 && write(p[1], &e, sizeof(e)) < 0)
			_exit(2);
		_exit(r < 0 ? 1 : 0);
	}
	close(p[1]);
	n = read(p[0], &child, sizeof(child));
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (n == (ssize_t)sizeof(child)) {
		child.msg[sizeof(child.msg) - 1] = '\0';
		child.details[sizeof(child.details) - 1] = '\0';
		*err = child;
		return -(child.errnum ? child.errnum : EIO);
	}
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EIO,
			       "the dummy probe process failed (status %d)", status);
}
