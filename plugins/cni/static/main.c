/* SPDX-License-Identifier: Apache-2.0 */
/*
 * static: the IPAM plugin that hands out the addresses it is told to (the reference's
 * plugins/ipam/static).  Addresses come from, in the reference's order:
 *  1. ipam.addresses[] ({address, gateway}), followed by CNI_ARGS IP=a/n,b/n (GATEWAY=g,h sets
 *     the gateway of each CNI_ARGS address whose subnet contains it);
 *  2. args.cni.ips, which replaces all of that when non-empty;
 *  3. runtimeConfig.ips (the "ips" capability), which replaces everything when non-empty.
 * ipam.routes and ipam.dns go into the result unchanged.  Up to 0.2.0 a result has room for one
 * address per family, so more is refused there.  Nothing is allocated, so DEL and GC have
 * nothing to do; STATUS validates the config; CHECK verifies that prevResult carries every
 * configured address (with its gateway).
 */
#include <errno.h>
#include <stdlib.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/cni-skel.h"
#include "static-internal.h"

static int nomem(berth_error *err)
{
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
}

static int cmd_add(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	struct static_conf c;
	int r;

	if ((r = static_conf_parse(call->config, call->version, call->args, &c, err)) < 0)
		goto out;
	for (size_t i = 0; i < c.n; i++)
		if (berth_cni_result_add_ip(c.res, &c.addrs[i].net, &c.addrs[i].gw, -1) < 0) {
			r = nomem(err);
			goto out;
		}
	*ret = c.res;
	c.res = NULL;
out:
	static_conf_done(&c);
	return r;
}

static int cmd_check(const struct berth_cni_call *call, struct berth_cni_result **ret,
		     berth_error *err)
{
	const struct berth_cni_result *prev = call->prev_result;
	struct static_conf c;
	int r;

	if ((r = static_conf_parse(call->config, call->version, call->args, &c, err)) < 0)
		goto out;
	if (!prev) {
		r = berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				    "Required prevResult missing");
		goto out;
	}
	for (size_t i = 0; i < c.n && r == 0; i++) {
		const struct static_addr *a = &c.addrs[i];
		char s[BERTH_IP_STRLEN];
		size_t j;

		for (j = 0; j < prev->n_ips; j++)
			if (berth_ip_equal(&a->net.ip, &prev->ips[j].address.ip))
				break;
		if (j == prev->n_ips)
			/* the reference lets a missing address pass; a result without it is not
			 * what this config's ADD returned */
			r = berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT,
					    "static: addr %s not found in prevResult for interface "
					    "%s",
					    berth_ip_format(&a->net.ip, s), call->ifname);
		else if (a->gw.family && !berth_ip_equal(&a->gw, &prev->ips[j].gateway))
			r = berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL,
					    "static: Failed to match addr %s on interface %s",
					    berth_ip_format(&a->net.ip, s), call->ifname);
	}
out:
	static_conf_done(&c);
	return r;
}

static int cmd_status(const struct berth_cni_call *call, struct berth_cni_result **ret,
		      berth_error *err)
{
	struct static_conf c;
	int r = static_conf_parse(call->config, call->version, call->args, &c, err);

	static_conf_done(&c);
	return r;
}

/* Nothing was allocated: DEL and GC have nothing to release. */
static int cmd_nothing(const struct berth_cni_call *call, struct berth_cni_result **ret,
		       berth_error *err)
{
	return 0;
}

int main(int argc, char **argv)
{
	static const struct berth_cni_plugin plugin = {
		.name = "static",
		.add = cmd_add,
		.del = cmd_nothing,
		.check = cmd_check,
		.status = cmd_status,
		.gc = cmd_nothing,
		.ipam = true,
	};
	return berth_plugin_main(&plugin, argc, argv);
}
