// SPDX-License-Identifier: Apache-2.0
/* No-root checks of net/ helpers: NLE mapping, sysctl key validation. */

#include <errno.h>
#include <netlink/errno.h>

#include "berth/link.h"
#include "berth/sysctl.h"
#include "tap.h"

int main(void)
{
	char v[32];
	berth_error err = { 0 };

	is_int(berth_nle_to_errno(-NLE_EXIST), EEXIST, "NLE_EXIST -> EEXIST");
	is_int(berth_nle_to_errno(NLE_NODEV), ENODEV, "NLE_NODEV -> ENODEV");
	is_int(berth_nle_to_errno(-NLE_PERM), EPERM, "NLE_PERM -> EPERM");
	is_int(berth_nl_error(&err, -NLE_BUSY, "doing %s", "x"), -EBUSY, "berth_nl_error returns -errno");
	ok(strstr(err.msg, "doing x: ") == err.msg, "message keeps the context: %s", err.msg);

	is_int(berth_sysctl_write("kernel.hostname", "x", &err), -EINVAL, "non-net sysctl refused");
	is_int(berth_sysctl_write("net/ipv4/../../kernel/hostname", "x", &err), -EINVAL,
	       ".. in a sysctl refused");
	is_int(berth_sysctl_write("net..ipv4", "x", &err), -EINVAL, "empty component refused");
	is_int(berth_sysctl_read("net.ipv4.ip_forward", v, sizeof(v), &err), 0, "net sysctl reads");
	ok(v[0] == '0' || v[0] == '1', "ip_forward is 0 or 1 (%s)", v);
	return done_testing();
}
