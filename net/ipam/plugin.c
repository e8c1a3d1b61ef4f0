// SPDX-License-Identifier: Apache-2.0
/* The host-local IPAM plugin's verbs: the host-local executable runs them, and a plugin that
 * delegates to host-local runs them in its own process when the host-local along CNI_PATH is
 * the one installed beside it (berth_cni_delegate). */
#include <stdlib.h>

#include "berth/cleanup.h"
#include "berth/ipam.h"
#include "berth/cni-skel.h"
#include "berth/log.h"

static int load(const struct berth_cni_call *call, struct berth_ipam_config **ret,
		berth_error *err)
{
	return berth_ipam_config_parse(call->config, call->args, ret, err);
}

static int cmd_add(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	_cleanup_ipam_config_ struct berth_ipam_config *c = NULL;
	int r = load(call, &c, err);

	if (r < 0)
		return r;
	return berth_ipam_add(c, call->container_id, call->ifname, call->version, ret, err);
}

/* DEL releases by owner in <dataDir>/<name>: that is all it needs, so a config ADD refuses (bad
 * ranges, a bad IP= in CNI_ARGS) still releases what an earlier ADD reserved. */
static int cmd_del(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	_cleanup_ipam_config_ struct berth_ipam_config *c = NULL;
	berth_error perr = { 0 };
	int r;

	if (berth_ipam_config_parse(call->config, call->args, &c, &perr) < 0) {
		berth_log_warn("DEL: ignoring config error: %s", perr.msg);
		if ((r = berth_ipam_config_parse_del(call->config, &c, err)) < 0)
			return r;
	}
	return berth_ipam_del(c, call->container_id, call->ifname, err);
}

static int cmd_check(const struct berth_cni_call *call, struct berth_cni_result **ret,
		     berth_error *err)
{
	_cleanup_ipam_config_ struct berth_ipam_config *c = NULL;
	int r = load(call, &c, err);

	if (r < 0)
		return r;
	return berth_ipam_check(c, call->container_id, call->ifname, err);
}

static int cmd_status(const struct berth_cni_call *call, struct berth_cni_result **ret,
		      berth_error *err)
{
	_cleanup_ipam_config_ struct berth_ipam_config *c = NULL;
	int r = load(call, &c, err);

	if (r < 0)
		return r;
	return berth_ipam_status(c, err);
}

static int cmd_gc(const struct berth_cni_call *call, struct berth_cni_result **ret,
		  berth_error *err)
{
	_cleanup_ipam_config_ struct berth_ipam_config *c = NULL;
	struct berth_cni_attachment *valid = NULL;
	size_t n = 0;
	bool present = false;
	int r = load(call, &c, err);

	if (r < 0)
		return r;
	r = berth_cni_valid_attachments(call->config, &valid, &n, &present, err);
	if (r < 0)
		return r;
	/* Without the list nothing can be known to be stale: keep everything. */
	if (present)
		r = berth_ipam_gc(c, valid, n, err);
	berth_cni_attachments_free(valid, n);
	return r < 0 ? r : 0;
}

const struct berth_cni_plugin berth_host_local_plugin = {
	.name = "host-local",
	.add = cmd_add,
	.del = cmd_del,
	.check = cmd_check,
	.status = cmd_status,
	.gc = cmd_gc,
	.ipam = true,
};
