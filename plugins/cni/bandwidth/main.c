/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bandwidth: a chained plugin that limits the traffic of the container interface made by the
 * plugin before it (a veth), with the reference plugin's config, units and kernel layout:
 *   ingressRate/ingressBurst (bits/s, bits): what the container receives, a tbf as the root
 *     qdisc of the host end of the veth;
 *   egressRate/egressBurst: what the container sends, which arrives on the host end's ingress:
 *     an ingress qdisc whose u32 filter redirects every packet (mirred) to an ifb link
 *     "bwp<hash of network+container>", whose root qdisc is the tbf.
 * The top-level keys win; without any of them runtimeConfig.bandwidth (the `bandwidth`
 * capability) is used.  Beyond the reference: a failed ADD undoes what it did, DEL also removes
 * the qdiscs on the host veth (not only the ifb), CHECK also verifies the redirect, STATUS
 * tries the kernel's ifb/tbf/ingress/u32/mirred in a throwaway netns, and GC deletes ifbs whose
 * owner record (the ifb's alias) names an attachment that is gone.
 */
#include <errno.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/cniargs.h"
#include "berth/fault.h"
#include "berth/json.h"
#include "berth/link.h"
#include "berth/log.h"
#include "berth/netns.h"
#include "berth/nl.h"
#include "berth/cni-skel.h"
#include "berth/qdisc.h"

#define OWNER_PREFIX "berth bandwidth "

struct bw {
	uint64_t in_rate, in_burst, eg_rate, eg_burst;
};

static const char *const KEYS[] = { "ingressRate", "ingressBurst", "egressRate", "egressBurst" };

static int get_u64(json_t *o, const char *what, const char *key, uint64_t *ret, berth_error *err)
{
	int64_t v = 0;
	int r = berth_json_get_int(o, what, key, false, 0, INT64_MAX, &v, err);

	if (r < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s%s%s must be a non-negative integer (%s)", what ? what : "",
				       what ? "." : "", key,
				       strstr(key, "Rate") ? "bits per second" : "bits");
	*ret = (uint64_t)v;
	return 0;
}

static int validate(const char *dir, uint64_t rate, uint64_t burst, berth_error *err)
{
	/* the reference's checks and texts, with the direction in front */
	if (burst == 0 && rate != 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s: if rate is set, burst must also be set", dir);
	if (rate == 0 && burst != 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s: if burst is set, rate must also be set", dir);
	if (burst / 8 >= UINT32_MAX)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ERANGE,
				       "%s: burst cannot be more than 4GB", dir);
	return 0;
}

/* The limits of this call; *present false when neither the top-level keys nor
 * runtimeConfig.bandwidth are there. */
static int parse_bw(json_t *cfg, struct bw *bw, bool *present, berth_error *err)
{
	json_t *src = NULL, *rc = NULL;
	const char *what = NULL;
	int r;

	memset(bw, 0, sizeof(*bw));
	*present = false;
	/* Go allocates the embedded entry as soon as one of its keys appears, null included */
	for (size_t i = 0; i < ARRAY_SIZE(KEYS); i++)
		if (json_object_get(cfg, KEYS[i]))
			src = cfg;
	if (!src) {
		if ((r = berth_json_get_object(cfg, NULL, "runtimeConfig", false, &rc, err)) < 0 ||
		    (rc && (r = berth_json_get_object(rc, "runtimeConfig", "bandwidth", false, &src,
						      err)) < 0))
			return r;
		what = "runtimeConfig.bandwidth";
	}
	if (!src)
		return 0;
	*present = true;
	if ((r = get_u64(src, what, "ingressRate", &bw->in_rate, err)) < 0 ||
	    (r = get_u64(src, what, "ingressBurst", &bw->in_burst, err)) < 0 ||
	    (r = get_u64(src, what, "egressRate", &bw->eg_rate, err)) < 0 ||
	    (r = get_u64(src, what, "egressBurst", &bw->eg_burst, err)) < 0 ||
	    (r = validate("ingress", bw->in_rate, bw->in_burst, err)) < 0 ||
	    (r = validate("egress", bw->eg_rate, bw->eg_burst, err)) < 0)
		return r;
	return 0;
}

static bool bw_zero(const struct bw *b)
{
	return !b->in_rate && !b->in_burst && !b->eg_rate && !b->eg_burst;
}

static void owner_alias(const struct berth_cni_call *call, char *buf, size_t len)
{
	snprintf(buf, len, OWNER_PREFIX "%s %s %s", call->name, call->container_id, call->ifname);
}

/* The host end of the container's veth: the link IFLA_LINK of the container interface names,
 * in the plugin's netns, whose own peer is the container interface. */
static int host_veth(int nsfd, struct berth_nl *host, const char *ifname, struct berth_link *ret,
		     berth_error *err)
{
	_cleanup_nl_ struct berth_nl *cont = NULL;
	struct berth_link c;
	berth_error e = { 0 };
	int r;

	if ((r = berth_nl_open(nsfd, &cont, err)) < 0)
		return r;
	if ((r = berth_link_get_by_name(cont, ifname, &c, err)) < 0)
		return berth_error_prefix(err, "container interface %s", ifname);
	if (!STREQ(c.kind, "veth") || c.link <= 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ENODEV,
				       "container interface %s has no veth peer", ifname);
	if (berth_link_get_by_index(host, c.link, ret, &e) < 0 || !STREQ(ret->kind, "veth") ||
	    ret->link != c.ifindex)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ENODEV,
				       "veth peer with index %d is not in host ns", c.link);
	return 0;
}

/* The reference insists that prevResult lists the host end (a host-side interface of that
 * name); results of 0.1.0/0.2.0 list no interfaces at all, so there the veth is enough. */
static int host_veth_listed(const struct berth_cni_result *prev, const char *name,
			    berth_error *err)
{
	if (prev->n_interfaces == 0 && berth_cni_version_cmp(prev->cni_version, "0.3.0") < 0)
		return 0;
	for (size_t i = 0; i < prev->n_interfaces; i++)
		if ((!prev->interfaces[i].sandbox || !*prev->interfaces[i].sandbox) &&
		    prev->interfaces[i].name && STREQ(prev->interfaces[i].name, name))
			return 0;
	return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ENODEV,
			       "no veth peer of container interface found in host ns (prevResult "
			       "lists no host interface %s)",
			       name);
}

static int tbfs(const struct bw *b, struct berth_tbf *in, struct berth_tbf *eg, berth_error *err)
{
	int r;

	if (b->in_rate && b->in_burst && (r = berth_tbf_from_bits(b->in_rate, b->in_burst, in, err)) < 0)
		return berth_error_prefix(err, "ingress");
	if (b->eg_rate && b->eg_burst && (r = berth_tbf_from_bits(b->eg_rate, b->eg_burst, eg, err)) < 0)
		return berth_error_prefix(err, "egress");
	return 0;
}

static int cmd_add(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	_cleanup_cni_result_ struct berth_cni_result *res = NULL;
	_cleanup_nl_ struct berth_nl *host = NULL;
	_cleanup_close_ int nsfd = -1;
	struct berth_tbf in = { 0 }, eg = { 0 };
	struct berth_link hv, ifb;
	char ifb_name[IF_NAMESIZE], alias[256], mac[BERTH_MAC_STRLEN];
	bool present, in_added = false, ingress_added = false, ifb_added = false;
	berth_error ign = { 0 };
	struct bw b;
	int r;

	if ((r = parse_bw(call->config, &b, &present, err)) < 0)
		return r;
	if (!present || bw_zero(&b)) {
		res = call->prev_result ? berth_cni_result_copy(call->prev_result) :
					  berth_cni_result_new(call->version);
		if (!res)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
		*ret = TAKE_PTR(res);
		return 0;
	}
	if (!call->prev_result)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "must be called as chained plugin");
	if ((r = tbfs(&b, &in, &eg, err)) < 0)
		return r;
	if ((r = berth_netns_open(call->netns, &nsfd, err)) < 0 ||
	    (r = berth_nl_open(-1, &host, err)) < 0 ||
	    (r = host_veth(nsfd, host, call->ifname, &hv, err)) < 0 ||
	    (r = host_veth_listed(call->prev_result, hv.name, err)) < 0)
		return r;
	if (!(res = berth_cni_result_copy(call->prev_result)))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");

	if (in.rate) {
		if ((r = berth_qdisc_add_tbf(host, hv.ifindex, &in, err)) < 0) {
			berth_error_prefix(err, "ingress limit on %s", hv.name);
			goto undo;
		}
		in_added = true;
		BERTH_FAULT_POINT("bandwidth-after-ingress-tbf");
	}
	if (eg.rate) {
		berth_qdisc_ifb_name(call->name, call->container_id, ifb_name);
		owner_alias(call, alias, sizeof(alias));
		if ((r = berth_qdisc_ifb_add(host, ifb_name, hv.mtu, alias, err)) < 0)
			goto undo;
		ifb_added = true;
		BERTH_FAULT_POINT("bandwidth-after-ifb");
		if ((r = berth_link_get_by_name(host, ifb_name, &ifb, err)) < 0)
			goto undo;
		if ((r = berth_qdisc_add_ingress(host, hv.ifindex, err)) < 0) {
			berth_error_prefix(err, "egress limit on %s", hv.name);
			goto undo;
		}
		ingress_added = true;
		BERTH_FAULT_POINT("bandwidth-after-ingress-qdisc");
		if ((r = berth_qdisc_add_redirect(host, hv.ifindex, ifb.ifindex, err)) < 0)
			goto undo;
		BERTH_FAULT_POINT("bandwidth-after-redirect");
		if ((r = berth_qdisc_add_tbf(host, ifb.ifindex, &eg, err)) < 0) {
			berth_error_prefix(err, "egress limit on %s", ifb_name);
			goto undo;
		}
		BERTH_FAULT_POINT("bandwidth-after-egress-tbf");
		if (berth_cni_result_add_interface(res, ifb_name, berth_mac_format(ifb.mac, mac),
						   NULL) < 0) {
			r = berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
			goto undo;
		}
	}
	*ret = TAKE_PTR(res);
	return 0;

undo:
	if (ingress_added)
		(void)berth_qdisc_del(host, hv.ifindex, TC_H_INGRESS, &ign);
	if (ifb_added && berth_link_get_by_name(host, ifb_name, &ifb, &ign) == 0)
		(void)berth_link_del(host, ifb.ifindex, &ign);
	if (in_added)
		(void)berth_qdisc_del(host, hv.ifindex, TC_H_ROOT, &ign);
	return r;
}

/* Remove the ingress qdisc when every filter on it redirects to the ifb of this attachment
 * (or to a link that no longer exists, as after that ifb was deleted). */
static int del_ingress(struct berth_nl *host, int ifindex, int ifb_ifindex, berth_error *err)
{
	_cleanup_free_ struct berth_tc_redirect *f = NULL;
	struct berth_qdisc q;
	berth_error e = { 0 };
	size_t nf = 0;
	int r;

	r = berth_qdisc_get(host, ifindex, TC_H_INGRESS, &q, &e);
	if (r == -ENOENT || r == -EINVAL || (r == 0 && !STREQ(q.kind, "ingress")))
		return 0;
	if (r < 0) {
		*err = e;
		return r;
	}
	if ((r = berth_qdisc_list_redirects(host, ifindex, &f, &nf, err)) < 0)
		return r;
	for (size_t i = 0; i < nf; i++) {
		struct berth_link l;

		if (!STREQ(f[i].kind, "u32") || !f[i].has_mirred || f[i].other_actions)
			return 0;
		if (f[i].to_ifindex && f[i].to_ifindex != ifb_ifindex &&
		    berth_link_get_by_index(host, f[i].to_ifindex, &l, &e) == 0)
			return 0; /* someone else's redirect */
	}
	r = berth_qdisc_del(host, ifindex, TC_H_INGRESS, err);
	return r == -ENOENT || r == -EINVAL ? 0 : r;
}

static int del_root_tbf(struct berth_nl *host, int ifindex, berth_error *err)
{
	struct berth_qdisc q;
	berth_error e = { 0 };
	int r = berth_qdisc_get(host, ifindex, TC_H_ROOT, &q, &e);

	if (r == -ENOENT || r == -EINVAL)
		return 0;
	if (r < 0) {
		*err = e;
		return r;
	}
	if (!STREQ(q.kind, "tbf") || q.handle != BERTH_TC_ROOT_HANDLE)
		return 0;
	r = berth_qdisc_del(host, ifindex, TC_H_ROOT, err);
	return r == -ENOENT || r == -EINVAL ? 0 : r;
}

/* DEL needs only the network name and the container id (the ifb's name); the config's limits
 * are not looked at, so a config ADD refused still deletes.  The host veth's qdiscs are
 * removed when the netns is there to find the veth; without it the veth is gone or about to go
 * with its qdiscs. */
static int cmd_del(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	_cleanup_nl_ struct berth_nl *host = NULL;
	_cleanup_close_ int nsfd = -1;
	char ifb_name[IF_NAMESIZE];
	struct berth_link ifb, hv;
	berth_error e = { 0 };
	int r, ifb_ifindex = 0;

	if ((r = berth_nl_open(-1, &host, err)) < 0)
		return r;
	berth_qdisc_ifb_name(call->name, call->container_id, ifb_name);
	r = berth_link_get_by_name(host, ifb_name, &ifb, &e);
	if (r == 0 && STREQ(ifb.kind, "ifb")) {
		ifb_ifindex = ifb.ifindex;
		/* returns once the ifb is unlisted; the kernel's RCU wait goes on in a child */
		r = berth_link_del_unlisted(-1, ifb.ifindex, err);
		if (r < 0 && r != -ENODEV)
			return r;
		BERTH_FAULT_POINT("bandwidth-del-after-ifb");
	} else if (r == 0) {
		berth_log_warn("%s is a %s link, not an ifb: left alone", ifb_name,
			       ifb.kind[0] ? ifb.kind : "plain");
	} else if (r != -ENODEV) {
		*err = e;
		return r;
	}
	if (!call->netns || call->netns_gone || berth_netns_open(call->netns, &nsfd, &e) < 0)
		return 0;
	if (host_veth(nsfd, host, call->ifname, &hv, &e) < 0)
		return 0; /* no veth to clean any more */
	if ((r = del_ingress(host, hv.ifindex, ifb_ifindex, err)) < 0 ||
	    (r = del_root_tbf(host, hv.ifindex, err)) < 0)
		return r;
	return 0;
}

static int check_tbf(struct berth_nl *host, const struct berth_link *l,
		     const struct berth_tbf *want, berth_error *err)
{
	struct berth_qdisc q;
	int r = berth_qdisc_get(host, l->ifindex, TC_H_ROOT, &q, err);

	if (r == -ENOENT)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT,
				       "Failed to find qdisc: %s has no root qdisc", l->name);
	if (r < 0)
		return r;
	if (!STREQ(q.kind, "tbf") || !q.has_tbf)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT,
				       "Failed to find qdisc: the root qdisc of %s is %s, not tbf",
				       l->name, q.kind);
	if (q.tbf.rate != want->rate)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL,
				       "Rate doesn't match: %s has %llu bytes/s, the config %llu",
				       l->name, (unsigned long long)q.tbf.rate,
				       (unsigned long long)want->rate);
	if (q.tbf.limit != want->limit)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL,
				       "Limit doesn't match: %s has %u bytes, the config %u", l->name,
				       q.tbf.limit, want->limit);
	if (q.tbf.buffer != want->buffer)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL,
				       "Buffer doesn't match: %s has %u ticks, the config %u", l->name,
				       q.tbf.buffer, want->buffer);
	return 0;
}

static int cmd_check(const struct berth_cni_call *call, struct berth_cni_result **ret,
		     berth_error *err)
{
	_cleanup_nl_ struct berth_nl *host = NULL;
	_cleanup_close_ int nsfd = -1;
	_cleanup_free_ struct berth_tc_redirect *f = NULL;
	struct berth_tbf in = { 0 }, eg = { 0 };
	struct berth_link hv, ifb;
	char ifb_name[IF_NAMESIZE];
	bool present, found = false;
	size_t nf = 0;
	struct bw b;
	int r;

	if ((r = parse_bw(call->config, &b, &present, err)) < 0)
		return r;
	if (!call->prev_result)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "must be called as a chained plugin");
	if ((r = berth_netns_open(call->netns, &nsfd, err)) < 0 ||
	    (r = berth_nl_open(-1, &host, err)) < 0 ||
	    (r = host_veth(nsfd, host, call->ifname, &hv, err)) < 0 ||
	    (r = host_veth_listed(call->prev_result, hv.name, err)) < 0)
		return r;
	if (!present || bw_zero(&b))
		return 0;
	if ((r = tbfs(&b, &in, &eg, err)) < 0)
		return r;
	if (in.rate && (r = check_tbf(host, &hv, &in, err)) < 0)
		return r;
	if (!eg.rate)
		return 0;
	berth_qdisc_ifb_name(call->name, call->container_id, ifb_name);
	if ((r = berth_link_get_by_name(host, ifb_name, &ifb, err)) < 0)
		return berth_error_prefix(err, "get ifb device");
	if ((r = check_tbf(host, &ifb, &eg, err)) < 0)
		return r;
	if ((r = berth_qdisc_list_redirects(host, hv.ifindex, &f, &nf, err)) < 0)
		return r;
	for (size_t i = 0; i < nf; i++)
		found |= f[i].match_all && f[i].to_ifindex == ifb.ifindex &&
			 f[i].mirred_eaction == TCA_EGRESS_REDIR;
	if (!found)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT,
				       "%s does not redirect what it receives to %s", hv.name,
				       ifb_name);
	return 0;
}

static int cmd_status(const struct berth_cni_call *call, struct berth_cni_result **ret,
		      berth_error *err)
{
	int r = berth_qdisc_probe(err);

	if (r < 0) {
		berth_error_prefix(err, "this kernel cannot shape traffic as bandwidth does");
		err->code = BERTH_CNI_ERR_STATUS_NOT_READY;
	}
	return r;
}

/* ifbs whose owner record names this network and an attachment that is not valid. */
static int cmd_gc(const struct berth_cni_call *call, struct berth_cni_result **ret,
		  berth_error *err)
{
	_cleanup_nl_ struct berth_nl *host = NULL;
	_cleanup_free_ struct berth_link *links = NULL;
	struct berth_cni_attachment *valid = NULL;
	size_t n = 0, n_valid = 0, plen;
	bool present = false;
	char prefix[300];
	int r;

	if ((r = berth_cni_valid_attachments(call->config, &valid, &n_valid, &present, err)) < 0)
		return r;
	if (!present)
		goto out;
	snprintf(prefix, sizeof(prefix), OWNER_PREFIX "%s ", call->name);
	plen = strlen(prefix);
	if ((r = berth_nl_open(-1, &host, err)) < 0 ||
	    (r = berth_link_list(host, &links, &n, err)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char id[256], ifname[IF_NAMESIZE + 1];
		berth_error e = { 0 };

		if (!STREQ(links[i].kind, "ifb") || strncmp(links[i].alias, prefix, plen) != 0 ||
		    sscanf(links[i].alias + plen, "%255s %16s", id, ifname) != 2 ||
		    berth_cni_attachment_valid(valid, n_valid, id, ifname))
			continue;
		if (berth_link_del_unlisted(-1, links[i].ifindex, &e) < 0 && e.errnum != ENODEV)
			berth_log_warn("gc: %s: %s", links[i].name, e.msg);
	}
out:
	berth_cni_attachments_free(valid, n_valid);
	return r < 0 ? r : 0;
}

int main(int argc, char **argv)
{
	static const struct berth_cni_plugin plugin = {
		.name = "bandwidth",
		.add = cmd_add,
		.del = cmd_del,
		.check = cmd_check,
		.status = cmd_status,
		.gc = cmd_gc,
	};
	return berth_plugin_main(&plugin, argc, argv);
}
