// SPDX-License-Identifier: Apache-2.0
/*
 * The verbs of the ipvlan and vlan plugins (include/berth/subif.h).  Same config and result as
 * the reference plugins; beyond them: a failed ADD undoes the link and the IPAM reservation,
 * DEL never fails for a config it can read far enough (a master that is gone, a netns that is
 * gone), deletes only a link of its own kind, and also removes the temporary-name link a crash
 * between create and rename can leave; STATUS answers 50 when the kernel cannot create the
 * link kind or the master is missing; GC hands over to IPAM.
 */

#include <errno.h>
#include <limits.h>
#include <linux/if_link.h>
#include <linux/if_addr.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/addr.h"
#include "berth/cleanup.h"
#include "berth/cni-skel.h"
#include "berth/cni.h"
#include "berth/cniargs.h"
#include "berth/exec.h"
#include "berth/fault.h"
#include "berth/ipam.h"
#include "berth/json.h"
#include "berth/link.h"
#include "berth/log.h"
#include "berth/netns.h"
#include "berth/nl.h"
#include "berth/route.h"
#include "berth/subif.h"
#include "berth/sublink.h"
#include "berth/sysctl.h"

static const struct berth_subif_kind *K;

struct conf {
	const char *master; /* NULL = not configured */
	int mode;           /* ipvlan */
	const char *mode_s;
	int mtu;
	int vlan_id;
	bool link_in_cont;
	const char *ipam_type; /* NULL = none */
	struct berth_cni_result *dns; /* the config's "dns" (only .dns used), NULL = none */
};

static void conf_free(struct conf *c)
{
	berth_cni_result_free(c->dns);
	c->dns = NULL;
}

static int oom(berth_error *err)
{
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
}

#define bad(err, ...) berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL, __VA_ARGS__)

static const char *mode_name(int m)
{
	return m == IPVLAN_MODE_L2 ? "l2" : m == IPVLAN_MODE_L3 ? "l3" : m == IPVLAN_MODE_L3S ? "l3s" : "?";
}

static int conf_parse(const struct berth_cni_call *call, struct conf *c, berth_error *err)
{
	json_t *j = call->config, *ipam = NULL, *dns = NULL;
	int64_t v = 0;
	int r;

	memset(c, 0, sizeof(*c));
	if ((r = berth_json_get_string(j, NULL, "master", false, &c->master, err)) < 0)
		return r;
	if (c->master && !*c->master)
		c->master = NULL;
	if (!K->ipvlan && !c->master)
		return bad(err, "%s", "\"master\" field is required. It specifies the host interface "
			   "name to create the VLAN for");
	if (c->master && strlen(c->master) >= IF_NAMESIZE)
		return bad(err, "master \"%s\" is not a valid interface name", c->master);
	if (K->ipvlan) {
		c->mode_s = "";
		if ((r = berth_json_get_string(j, NULL, "mode", false, &c->mode_s, err)) < 0)
			return r;
		if (!*c->mode_s || STREQ(c->mode_s, "l2"))
			c->mode = IPVLAN_MODE_L2;
		else if (STREQ(c->mode_s, "l3"))
			c->mode = IPVLAN_MODE_L3;
		else if (STREQ(c->mode_s, "l3s"))
			c->mode = IPVLAN_MODE_L3S;
		else
			return bad(err, "unknown ipvlan mode: \"%s\"", c->mode_s);
	} else {
		if ((r = berth_json_get_int(j, NULL, "vlanId", false, INT64_MIN, INT64_MAX, &v, err)) < 0)
			return r;
		if (v < 0 || v > 4094)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ERANGE,
					       "invalid VLAN ID %lld (must be between 0 and 4094 "
					       "inclusive)", (long long)v);
		c->vlan_id = (int)v;
	}
	v = 0;
	if ((r = berth_json_get_int(j, NULL, "mtu", false, INT64_MIN, INT64_MAX, &v, err)) < 0)
		return r;
	if (v < 0 || v > INT_MAX)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ERANGE,
				       "invalid MTU %lld, must be [0, master MTU]", (long long)v);
	c->mtu = (int)v;
	if ((r = berth_json_get_bool(j, NULL, "linkInContainer", false, &c->link_in_cont, err)) < 0)
		return r;
	if ((r = berth_json_get_object(j, NULL, "ipam", false, &ipam, err)) < 0)
		return r;
	if (ipam && (r = berth_json_get_string(ipam, "ipam", "type", false, &c->ipam_type, err)) < 0)
		return r;
	if (c->ipam_type && !*c->ipam_type)
		c->ipam_type = NULL;
	if (c->ipam_type && (strchr(c->ipam_type, '/') || STREQ(c->ipam_type, "..")))
		return bad(err, "ipam: invalid plugin type \"%s\"", c->ipam_type);
	if ((r = berth_json_get_object(j, NULL, "dns", false, &dns, err)) < 0)
		return r;
	if (dns) {
		_cleanup_json_ json_t *tmp = json_pack("{s:s, s:O}", "cniVersion", "1.0.0", "dns", dns);

		if (!tmp)
			return oom(err);
		if ((r = berth_cni_result_from_json(tmp, "1.0.0", &c->dns, err)) < 0) {
			err->code = BERTH_CNI_ERR_INVALID_CONFIG;
			return berth_error_prefix(err, "dns");
		}
	}
	return 0;
}

/* A name for the link between its creation and its rename, the same for every call of one
 * attachment so that DEL (and a retried ADD) find what a crash in between left. */
static void tmp_name(const struct berth_cni_call *call, char buf[IF_NAMESIZE])
{
	uint32_t h = 2166136261u;
	const char *parts[3] = { call->name, call->container_id, call->ifname };

	for (int i = 0; i < 3; i++) {
		for (const char *p = parts[i] ? parts[i] : ""; *p; p++)
			h = (h ^ (uint8_t)*p) * 16777619u;
		h = (h ^ 0xff) * 16777619u;
	}
	snprintf(buf, IF_NAMESIZE, "%.4s%08x", K->ipvlan ? "ipvl" : "vlan", h);
}

struct sysctl_req {
	const char *ifname;
	bool notify, v6;
};

static int set_sysctls(void *data, berth_error *err)
{
	const struct sysctl_req *s = data;
	berth_error ign = { 0 };
	char key[96], v[16];
	int r;

	if (s->notify) {
		snprintf(key, sizeof(key), "net/ipv4/conf/%s/arp_notify", s->ifname);
		(void)berth_sysctl_write(key, "1", &ign);
		snprintf(key, sizeof(key), "net/ipv6/conf/%s/ndisc_notify", s->ifname);
		(void)berth_sysctl_write(key, "1", &ign);
	}
	if (!s->v6)
		return 0;
	/* DAD takes seconds; addresses are unique by IPAM */
	snprintf(key, sizeof(key), "net/ipv6/conf/%s/accept_dad", s->ifname);
	(void)berth_sysctl_write(key, "0", &ign);
	snprintf(key, sizeof(key), "net/ipv6/conf/%s/disable_ipv6", s->ifname);
	if (berth_sysctl_read(key, v, sizeof(v), &ign) == 0 && !STREQ(v, "0") &&
	    (r = berth_sysctl_write(key, "0", err)) < 0)
		return berth_error_prefix(err, "failed to enable IPv6 for interface \"%s\"",
					  s->ifname);
	return 0;
}

/* ipam.ConfigureIface: up, addresses, routes (a route without gateway takes the family's). */
static int configure(struct berth_nl *cont, int nsfd, int ifindex, const char *ifname,
		     const struct berth_cni_result *res, berth_error *err)
{
	struct sysctl_req s = { .ifname = ifname, .notify = K->ipvlan };
	char a[BERTH_IPNET_STRLEN];
	size_t failed;
	int r;

	for (size_t i = 0; i < res->n_ips; i++)
		s.v6 |= res->ips[i].address.ip.family == AF_INET6;
	if ((r = berth_netns_run(nsfd, set_sysctls, &s, err)) < 0)
		return r;
	if ((r = berth_link_set_up(cont, ifindex, true, err)) < 0)
		return berth_error_prefix(err, "failed to set \"%s\" UP", ifname);
	for (size_t i = 0; i < res->n_ips; i++) {
		r = berth_addr_add(cont, ifindex, &res->ips[i].address, IFA_F_NODAD, err);
		if (r < 0)
			return berth_error_prefix(err, "failed to add IP addr %s to \"%s\"",
						  berth_ipnet_format(&res->ips[i].address, a), ifname);
	}
	if ((r = berth_route_add_cni(cont, ifindex, res, -1, &failed, err)) < 0)
		return berth_error_prefix(err, "failed to add route '%s'",
					  berth_ipnet_format(&res->routes[failed].dst, a));
	return 0;
}

/* Fill res's IPs (on interface 0) and routes from src. */
static int take_ips(struct berth_cni_result *res, const struct berth_cni_result *src,
		    berth_error *err)
{
	if (berth_cni_result_add_ips(res, src->ips, src->n_ips, 0) < 0 ||
	    berth_cni_result_add_routes(res, src->routes, src->n_routes) < 0)
		return oom(err);
	return 0;
}

/* The master: configured, or (ipvlan) prevResult's single interface, or the interface of the
 * default route of the netns the master lives in. */
static int find_master(const struct berth_cni_call *call, const struct conf *c,
		       struct berth_nl *mnl, char name[IF_NAMESIZE], berth_error *err)
{
	const struct berth_cni_result *p = call->prev_result;

	if (c->master) {
		snprintf(name, IF_NAMESIZE, "%s", c->master);
		return 0;
	}
	if (p) {
		if (p->n_interfaces != 1 || !p->interfaces[0].name || !*p->interfaces[0].name ||
		    strlen(p->interfaces[0].name) >= IF_NAMESIZE)
			return bad(err, "%s", "chained master failure. PrevResult lacks a single "
				   "named interface");
		snprintf(name, IF_NAMESIZE, "%s", p->interfaces[0].name);
		return 0;
	}
	return berth_sublink_default_route_iface(mnl, name, err);
}

/* The link's kind and kind data (IFLA_IPVLAN_MODE or IFLA_VLAN_ID), txqlen 0 as the
 * reference's. */
static struct berth_sublink_opts link_opts(const struct conf *c)
{
	return (struct berth_sublink_opts){
		.kind = K->kind,
		.txqlen_zero = true,
		.data = { K->ipvlan ? (struct berth_sublink_attr){ IFLA_IPVLAN_MODE, 2, (uint32_t)c->mode }
				    : (struct berth_sublink_attr){ IFLA_VLAN_ID, 2, (uint32_t)c->vlan_id } },
		.n_data = 1,
	};
}

/* A u16 of the link's kind data, -1 when absent. */
static int data_u16(const struct berth_sublink_info *in, int type)
{
	return in->present[type] ? (int)in->value[type] : -1;
}

static int cmd_add(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	_cleanup_nl_ struct berth_nl *host = NULL, *cont = NULL;
	_cleanup_close_ int nsfd = -1;
	_cleanup_cni_result_ struct berth_cni_result *res = NULL, *ipam = NULL;
	struct conf c;
	struct berth_link m, l = { 0 };
	struct berth_nl *mnl;
	char master[IF_NAMESIZE], tmp[IF_NAMESIZE], mac[BERTH_MAC_STRLEN] = "";
	berth_error ign = { 0 };
	bool use_prev;
	int r;

	if ((r = conf_parse(call, &c, err)) < 0)
		goto out;
	use_prev = K->ipvlan && !c.ipam_type && call->prev_result && call->prev_result->n_ips > 0;
	if (!use_prev && !c.ipam_type) {
		r = bad(err, "%s", K->ipvlan ? "ipam: \"type\" is required when prevResult has no "
			"IPs to configure" : "ipam: \"type\" is required");
		goto out;
	}
	if ((r = berth_netns_open(call->netns, &nsfd, err)) < 0 ||
	    (r = berth_nl_open(-1, &host, err)) < 0 || (r = berth_nl_open(nsfd, &cont, err)) < 0)
		goto out;
	mnl = c.link_in_cont ? cont : host;
	if ((r = find_master(call, &c, mnl, master, err)) < 0)
		goto out;
	if ((r = berth_link_get_by_name(mnl, master, &m, err)) < 0) {
		if (r == -ENODEV)
			err->code = BERTH_CNI_ERR_INVALID_CONFIG;
		berth_error_prefix(err, "failed to lookup master \"%s\"", master);
		goto out;
	}
	if (!K->ipvlan && c.mtu > m.mtu) {
		r = berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ERANGE,
				    "invalid MTU %d, must be [0, master MTU(%d)]", c.mtu, m.mtu);
		goto out;
	}
	if (berth_link_get_by_name(cont, call->ifname, &l, &ign) == 0) {
		r = berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EEXIST,
				    "failed to rename %s to \"%s\": an interface of that name "
				    "already exists in the container", K->kind, call->ifname);
		goto out;
	}
	tmp_name(call, tmp);
	{
		struct berth_sublink_opts o = link_opts(&c);

		o.parent = m.ifindex;
		o.nsfd = c.link_in_cont ? -1 : nsfd;
		o.name = call->ifname;
		o.tmp_name = tmp;
		o.mtu = c.mtu;
		if ((r = berth_sublink_add(mnl, cont, &o, &l, err)) < 0)
			goto out;
	}
	BERTH_FAULT_POINT("sublink-after-rename");
	if (l.mac_len == 6)
		berth_mac_format(l.mac, mac);
	res = berth_cni_result_new(call->version);
	if (!res || berth_cni_result_add_interface(res, call->ifname, mac, call->netns) < 0) {
		r = oom(err);
		goto undo_link;
	}
	if (use_prev) {
		if ((r = take_ips(res, call->prev_result, err)) < 0)
			goto undo_link;
	} else {
		if ((r = berth_cni_delegate(call, c.ipam_type, "ADD", &ipam, err)) < 0) {
			if (!K->ipvlan)
				berth_error_prefix(err, "failed to execute IPAM delegate");
			goto undo_link;
		}
		BERTH_FAULT_POINT("sublink-after-ipam");
		if ((r = berth_cni_result_add_ipam(res, ipam, err)) < 0)
			goto undo_ipam;
	}
	if ((r = configure(cont, nsfd, l.ifindex, call->ifname, res, err)) < 0)
		goto undo_ipam;
	if (c.dns) {
		res->dns = c.dns->dns;
		memset(&c.dns->dns, 0, sizeof(c.dns->dns));
	}
	BERTH_FAULT_POINT("sublink-before-result");
	*ret = TAKE_PTR(res);
	r = 0;
	goto out;

undo_ipam:
	if (!use_prev)
		berth_cni_delegate_undo(call, c.ipam_type);
undo_link:
	(void)berth_link_del(cont, l.ifindex, &ign);
out:
	conf_free(&c);
	return r;
}

/* Delete the link called name in cont when it is of our kind. */
static int del_ours(struct berth_nl *cont, const char *name, berth_error *err)
{
	struct berth_link l;
	berth_error e = { 0 };
	int r = berth_link_get_by_name(cont, name, &l, &e);

	if (r == -ENODEV)
		return 0;
	if (r < 0) {
		*err = e;
		return r;
	}
	if (!STREQ(l.kind, K->kind)) {
		berth_log_warn("DEL: %s is a %s link, not our %s; left alone", name,
			       *l.kind ? l.kind : "physical", K->kind);
		return 0;
	}
	r = berth_link_del(cont, l.ifindex, err);
	return r == -ENODEV ? 0 : r;
}

static int cmd_del(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	struct conf c;
	const char *ipam_type = NULL;
	berth_error e = { 0 };
	json_t *ipam;
	int r;

	/* A config ADD refuses may still have got as far as IPAM: read ipam.type on its own. */
	if (conf_parse(call, &c, &e) < 0)
		berth_log_warn("DEL: ignoring config error: %s", e.msg);
	conf_free(&c);
	ipam = json_object_get(call->config, "ipam");
	if (json_is_object(ipam) && json_is_string(json_object_get(ipam, "type")))
		ipam_type = json_string_value(json_object_get(ipam, "type"));
	if (ipam_type && (!*ipam_type || strchr(ipam_type, '/')))
		ipam_type = NULL;
	if ((r = berth_cni_ipam_del(call, ipam_type, true, err)) < 0)
		return r;

	/* without the netns the link went with it */
	if (call->netns && *call->netns && !call->netns_gone) {
		_cleanup_close_ int nsfd = -1;
		_cleanup_nl_ struct berth_nl *cont = NULL;
		char tmp[IF_NAMESIZE];

		r = berth_netns_open(call->netns, &nsfd, &e);
		if (r == 0) {
			if ((r = berth_nl_open(nsfd, &cont, err)) < 0)
				return r;
			tmp_name(call, tmp);
			if ((r = del_ours(cont, call->ifname, err)) < 0 ||
			    (r = del_ours(cont, tmp, err)) < 0)
				return r;
		} else if (r != -ENOENT) {
			berth_log_warn("DEL: netns %s: %s", call->netns, e.msg);
		}
	}
	return berth_cni_ipam_del(call, ipam_type, false, err);
}

#define check_fail(err, ...) berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT, __VA_ARGS__)

static int cmd_check(const struct berth_cni_call *call, struct berth_cni_result **ret,
		     berth_error *err)
{
	_cleanup_nl_ struct berth_nl *host = NULL, *cont = NULL;
	_cleanup_close_ int nsfd = -1;
	const struct berth_cni_result *prev = call->prev_result;
	const struct berth_cni_interface *in = NULL;
	struct berth_nl *mnl;
	char mname[IF_NAMESIZE] = "";
	struct berth_link m = { 0 }, l;
	struct berth_sublink_info info;
	char mac[BERTH_MAC_STRLEN] = "";
	struct conf c;
	int ci = -1, r;

	if ((r = conf_parse(call, &c, err)) < 0)
		goto out;
	if (c.ipam_type && (r = berth_cni_delegate(call, c.ipam_type, "CHECK", NULL, err)) < 0)
		goto out;
	if (!prev) {
		r = berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				    "Required prevResult missing");
		goto out;
	}
	for (size_t i = 0; i < prev->n_interfaces; i++) {
		const struct berth_cni_interface *x = &prev->interfaces[i];

		if (x->name && STREQ(x->name, call->ifname) && x->sandbox &&
		    STREQ(x->sandbox, call->netns)) {
			in = x;
			ci = (int)i;
		}
	}
	if (!in) {
		r = check_fail(err, "Sandbox in prevResult  doesn't match configured netns: %s",
			       call->netns);
		goto out;
	}
	if ((r = berth_netns_open(call->netns, &nsfd, err)) < 0 ||
	    (r = berth_nl_open(-1, &host, err)) < 0 || (r = berth_nl_open(nsfd, &cont, err)) < 0)
		goto out;
	/* The master as ADD found it: configured, else (ipvlan) the interface of the default
	 * route of the netns the master lives in.  A chained ADD (no ipam.type) took prevResult's
	 * interface instead, which the result it returned (CHECK's prevResult) no longer names:
	 * then the master is not checked. */
	mnl = c.link_in_cont ? cont : host;
	if (c.master)
		snprintf(mname, sizeof(mname), "%s", c.master);
	else if (c.ipam_type && (r = berth_sublink_default_route_iface(mnl, mname, err)) < 0)
		goto out;
	if (*mname && (r = berth_link_get_by_name(mnl, mname, &m, err)) < 0) {
		berth_error_prefix(err, "failed to lookup master \"%s\"", mname);
		goto out;
	}
	if (berth_link_get_by_name(cont, call->ifname, &l, err) < 0) {
		r = check_fail(err, "Container Interface name in prevResult: %s not found",
			       call->ifname);
		goto out;
	}
	if (!STREQ(l.kind, K->kind)) {
		r = check_fail(err, "Error: Container interface %s not of type %s", call->ifname,
			       K->kind);
		goto out;
	}
	/* IFLA_LINK is the parent's ifindex in the parent's netns; IFLA_LINK_NETNSID is present
	 * when that netns is not the container's (a master of the host) */
	if (*mname && (l.link != m.ifindex || (l.link_netnsid < 0) != c.link_in_cont)) {
		r = check_fail(err, "Error: Container interface %s is not on master %s", call->ifname,
			       mname);
		goto out;
	}
	if ((r = berth_sublink_info(cont, l.ifindex, &info, err)) < 0)
		goto out;
	if (K->ipvlan && data_u16(&info, IFLA_IPVLAN_MODE) != c.mode) {
		r = check_fail(err, "Container IPVlan mode %s does not match expected value: %s",
			       mode_name(data_u16(&info, IFLA_IPVLAN_MODE)), mode_name(c.mode));
		goto out;
	}
	if (!K->ipvlan && data_u16(&info, IFLA_VLAN_ID) != c.vlan_id) {
		r = check_fail(err, "Error: Container interface %s has VLAN ID %d, the config %d",
			       call->ifname, data_u16(&info, IFLA_VLAN_ID), c.vlan_id);
		goto out;
	}
	if (c.mtu && l.mtu != c.mtu) {
		r = check_fail(err, "Error: configured MTU of %s is %d, current value is %d",
			       call->ifname, c.mtu, l.mtu);
		goto out;
	}
	if (l.mac_len == 6)
		berth_mac_format(l.mac, mac);
	if (in->mac && *in->mac && strcasecmp(in->mac, mac) != 0) {
		r = check_fail(err, "Interface %s Mac %s doesn't match container Mac: %s",
			       call->ifname, in->mac, mac);
		goto out;
	}
	if ((r = berth_addr_check_cni(cont, l.ifindex, prev, ci, err)) == 0)
		r = berth_route_check_cni(cont, prev, err);
out:
	conf_free(&c);
	return r;
}

static int cmd_status(const struct berth_cni_call *call, struct berth_cni_result **ret,
		      berth_error *err)
{
	_cleanup_nl_ struct berth_nl *host = NULL;
	struct berth_link m;
	struct berth_sublink_opts probe;
	struct conf c;
	int r;

	if ((r = conf_parse(call, &c, err)) < 0)
		goto out;
	/* the kind with harmless data (vlan 10: the config's may be 0) */
	probe = link_opts(&c);
	if (!K->ipvlan)
		probe.data[0].value = 10;
	if ((r = berth_sublink_probe(&probe, err)) < 0) {
		berth_error_prefix(err, "this kernel cannot create links of kind %s", K->kind);
		err->code = BERTH_CNI_ERR_STATUS_NOT_READY;
		goto out;
	}
	if (c.master && !c.link_in_cont) {
		if ((r = berth_nl_open(-1, &host, err)) < 0)
			goto out;
		if ((r = berth_link_get_by_name(host, c.master, &m, err)) < 0) {
			berth_error_prefix(err, "master \"%s\"", c.master);
			err->code = BERTH_CNI_ERR_STATUS_NOT_READY;
			goto out;
		}
	}
	if (c.ipam_type)
		r = berth_cni_delegate(call, c.ipam_type, "STATUS", NULL, err);
out:
	conf_free(&c);
	return r;
}

/* The links live in the containers' netns and go with them: only IPAM has something to
 * collect. */
static int cmd_gc(const struct berth_cni_call *call, struct berth_cni_result **ret,
		  berth_error *err)
{
	struct conf c;
	int r;

	if ((r = conf_parse(call, &c, err)) < 0)
		goto out;
	if (c.ipam_type)
		r = berth_cni_delegate(call, c.ipam_type, "GC", NULL, err);
out:
	conf_free(&c);
	return r;
}

int berth_subif_main(const struct berth_subif_kind *kind, int argc, char **argv)
{
	struct berth_cni_plugin plugin = {
		.name = kind->kind,
		.add = cmd_add,
		.del = cmd_del,
		.check = cmd_check,
		.status = cmd_status,
		.gc = cmd_gc,
	};

	K = kind;
	/* our host-local, when it is the one CNI_PATH finds, without a fork and exec */
	berth_cni_delegate_builtin(&berth_host_local_plugin);
	return berth_plugin_main(&plugin, argc, argv);
}
