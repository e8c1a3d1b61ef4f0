// SPDX-License-Identifier: Apache-2.0
/*
 * macvlan: a macvlan link on a host interface ("master"), created straight into the
 * container's netns, addresses from the IPAM plugin when one is configured (without IPAM, only
 * the link, up).  Same config and result as the reference plugin; a failed ADD undoes the IPAM
 * reservation and the link.  The link carries an owner record (IFLA_IFALIAS) so that DEL never
 * removes a macvlan some other attachment made.
 */

#include <errno.h>
#include <linux/if_link.h>
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
#include "berth/sublink.h"
#include "berth/sysctl.h"

/* IFLA_IFALIAS of the container link: "berth macvlan <network> <containerID> <ifname>" */
#define OWNER_PREFIX "berth macvlan "

struct mv_conf {
	char master[IF_NAMESIZE]; /* "" until the default is looked up */
	const char *mode_name;
	uint32_t mode;
	int mtu;
	bool has_mac;
	uint8_t mac[BERTH_MAC_LEN];
	bool link_in_container;
	bool has_bcqueuelen;
	uint32_t bcqueuelen;
	const char *ipam_type;
	json_t *dns;
};

static int oom(berth_error *err)
{
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
}

static int mode_from_string(const char *s, uint32_t *ret, berth_error *err)
{
	static const struct {
		const char *name;
		uint32_t mode;
	} modes[] = {
		{ "", MACVLAN_MODE_BRIDGE },	   { "bridge", MACVLAN_MODE_BRIDGE },
		{ "private", MACVLAN_MODE_PRIVATE }, { "vepa", MACVLAN_MODE_VEPA },
		{ "passthru", MACVLAN_MODE_PASSTHRU },
	};

	for (size_t i = 0; i < ARRAY_SIZE(modes); i++)
		if (STREQ(s, modes[i].name)) {
			*ret = modes[i].mode;
			return 0;
		}
	return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
			       "unknown macvlan mode: \"%s\"", s);
}

static const char *mode_to_string(uint32_t mode)
{
	switch (mode) {
	case MACVLAN_MODE_BRIDGE:
		return "bridge";
	case MACVLAN_MODE_PRIVATE:
		return "private";
	case MACVLAN_MODE_VEPA:
		return "vepa";
	case MACVLAN_MODE_PASSTHRU:
		return "passthru";
	case MACVLAN_MODE_SOURCE:
		return "source";
	default:
		return "unknown";
	}
}

static int parse_mac(const char *s, const char *what, int code, uint8_t mac[BERTH_MAC_LEN],
		     berth_error *err)
{
	if (berth_mac_parse(s, mac) < 0)
		return berth_error_set(err, code, EINVAL, "invalid args %s for MAC addr: %s", s, what);
	return 0;
}

/* Everything but the master lookup: no kernel access. */
static int conf_parse(const struct berth_cni_call *call, struct mv_conf *c, berth_error *err)
{
	static const char *const known[] = { "MAC", NULL };
	_cleanup_free_ char *args_mac = NULL;
	const char *master = NULL, *mac = NULL, *rt_mac = NULL;
	json_t *j = call->config, *ipam = NULL, *dns = NULL, *rc = NULL;
	int64_t mtu = 0, bcq = -1;
	char *vals[1] = { NULL };
	int r;

	memset(c, 0, sizeof(*c));
	c->mode_name = "";
	if ((r = berth_json_get_string(j, NULL, "master", false, &master, err)) < 0 ||
	    (r = berth_json_get_string(j, NULL, "mode", false, &c->mode_name, err)) < 0 ||
	    (r = berth_json_get_int(j, NULL, "mtu", false, INT32_MIN, INT32_MAX, &mtu, err)) < 0 ||
	    (r = berth_json_get_string(j, NULL, "mac", false, &mac, err)) < 0 ||
	    (r = berth_json_get_bool(j, NULL, "linkInContainer", false, &c->link_in_container,
				     err)) < 0 ||
	    (r = berth_json_get_int(j, NULL, "bcqueuelen", false, 0, UINT32_MAX, &bcq, err)) < 0 ||
	    (r = berth_json_get_object(j, NULL, "ipam", false, &ipam, err)) < 0 ||
	    (r = berth_json_get_object(j, NULL, "dns", false, &dns, err)) < 0 ||
	    (r = berth_json_get_object(j, NULL, "runtimeConfig", false, &rc, err)) < 0)
		return r;
	if (rc && (r = berth_json_get_string(rc, "runtimeConfig", "mac", false, &rt_mac, err)) < 0)
		return r;
	if (master && *master) {
		if (strlen(master) >= IF_NAMESIZE || strchr(master, '/'))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "invalid master name \"%s\"", master);
		snprintf(c->master, sizeof(c->master), "%s", master);
	}
	if ((r = mode_from_string(c->mode_name, &c->mode, err)) < 0)
		return r;
	if (mtu < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "invalid MTU %lld, must be [0, master MTU]", (long long)mtu);
	c->mtu = (int)mtu;
	if (bcq >= 0) {
		c->has_bcqueuelen = true;
		c->bcqueuelen = (uint32_t)bcq;
	}
	if (ipam && (r = berth_json_get_string(ipam, "ipam", "type", false, &c->ipam_type, err)) < 0)
		return r;
	if (c->ipam_type && !*c->ipam_type)
		c->ipam_type = NULL;
	if (c->ipam_type && strchr(c->ipam_type, '/'))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "invalid ipam type \"%s\"", c->ipam_type);
	if (berth_cni_dns_set(dns))
		c->dns = dns;
	/* the MAC: config, then CNI_ARGS MAC, then runtimeConfig.mac (the reference's order) */
	if ((r = berth_cni_args_parse(call->args ? call->args : "", known, vals, err)) < 0)
		return r;
	args_mac = vals[0];
	if (rt_mac && *rt_mac)
		r = parse_mac(rt_mac, "runtimeConfig.mac", BERTH_CNI_ERR_INVALID_CONFIG, c->mac, err);
	else if (args_mac && *args_mac)
		r = parse_mac(args_mac, "CNI_ARGS MAC", BERTH_CNI_ERR_INVALID_ENV, c->mac, err);
	else if (mac && *mac)
		r = parse_mac(mac, "mac", BERTH_CNI_ERR_INVALID_CONFIG, c->mac, err);
	else
		return 0;
	if (r < 0)
		return r;
	if (c->mac[0] & 1)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "invalid MAC address %s: a multicast address",
				       rt_mac && *rt_mac ? rt_mac : args_mac && *args_mac ? args_mac : mac);
	c->has_mac = true;
	return 0;
}

/* The master (its default: the interface of the default route) in the netns of nl. */
static int find_master(struct berth_nl *nl, struct mv_conf *c, struct berth_link *ret,
		       berth_error *err)
{
	int r;

	if (!*c->master && (r = berth_sublink_default_route_iface(nl, c->master, err)) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ENODEV,
				       "no master given and no default route interface found%s",
				       c->link_in_container ? " in the container" : "");
	r = berth_link_get_by_name(nl, c->master, ret, err);
	if (r == -ENODEV)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ENODEV,
				       "failed to lookup master \"%s\": Link not found%s", c->master,
				       c->link_in_container ? " in the container" : "");
	return r;
}

static void owner_alias(const struct berth_cni_call *call, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s %s %s", OWNER_PREFIX, call->name, call->container_id,
		 call->ifname);
}

/* ---- container configuration (what the reference's ipam.ConfigureIface does) ------------- */

struct cont_sysctls {
	const char *ifname;
	bool has_v6;
};

static int set_cont_sysctls(void *data, berth_error *err)
{
	const struct cont_sysctls *cs = data;
	berth_error ign = { 0 };
	char key[96], v[16];
	int r;

	snprintf(key, sizeof(key), "net/ipv4/conf/%s/arp_notify", cs->ifname);
	(void)berth_sysctl_write(key, "1", &ign);
	if (!cs->has_v6)
		return 0;
	snprintf(key, sizeof(key), "net/ipv6/conf/%s/ndisc_notify", cs->ifname);
	(void)berth_sysctl_write(key, "1", &ign);
	/* DAD takes seconds; addresses are unique by IPAM */
	snprintf(key, sizeof(key), "net/ipv6/conf/%s/accept_dad", cs->ifname);
	(void)berth_sysctl_write(key, "0", &ign);
	for (int i = 0; i < 2; i++) {
		const char *ifn = i == 0 ? "lo" : cs->ifname;

		snprintf(key, sizeof(key), "net/ipv6/conf/%s/disable_ipv6", ifn);
		if (berth_sysctl_read(key, v, sizeof(v), &ign) < 0 || STREQ(v, "0"))
			continue;
		r = berth_sysctl_write(key, "0", err);
		if (r < 0)
			return berth_error_prefix(err, "failed to enable IPv6 for interface \"%s\"", ifn);
	}
	return 0;
}

static int configure_iface(struct berth_nl *cont, int nsfd, const char *ifname, int ifindex,
			   const struct berth_cni_result *res, berth_error *err)
{
	struct cont_sysctls cs = { .ifname = ifname };
	size_t failed;
	int r;

	for (size_t i = 0; i < res->n_ips; i++)
		if (res->ips[i].address.ip.family == AF_INET6)
			cs.has_v6 = true;
	if ((r = berth_netns_run(nsfd, set_cont_sysctls, &cs, err)) < 0)
		return r;
	if ((r = berth_link_set_up(cont, ifindex, true, err)) < 0)
		return berth_error_prefix(err, "failed to set %s UP", ifname);
	for (size_t i = 0; i < res->n_ips; i++) {
		r = berth_addr_add(cont, ifindex, &res->ips[i].address, IFA_F_NODAD, err);
		if (r < 0)
			return berth_error_prefix(err, "failed to add IP addr to %s", ifname);
	}
	if ((r = berth_route_add_cni(cont, ifindex, res, -1, &failed, err)) < 0)
		return berth_error_prefix(err, "failed to add route '%s'",
					  berth_ipnet_format(&res->routes[failed].dst,
							     (char[BERTH_IPNET_STRLEN]){ 0 }));
	return 0;
}

/* ---- verbs ------------------------------------------------------------------------------ */

/* ADD and CHECK: the container's netns and netlink, the host's unless the master is in the
 * container, and the master (its MTU bounds ours).  The caller owns what comes back. */
static int open_master(const struct berth_cni_call *call, struct mv_conf *conf, int *nsfd,
		       struct berth_nl **host, struct berth_nl **cont, struct berth_link *master,
		       berth_error *err)
{
	int r;

	if ((r = berth_netns_open(call->netns, nsfd, err)) < 0 ||
	    (r = berth_nl_open(*nsfd, cont, err)) < 0 ||
	    (!conf->link_in_container && (r = berth_nl_open(-1, host, err)) < 0))
		return r;
	if ((r = find_master(conf->link_in_container ? *cont : *host, conf, master, err)) < 0)
		return r;
	if (conf->mtu > master->mtu)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "invalid MTU %d, must be [0, master MTU(%d)]", conf->mtu,
				       master->mtu);
	return 0;
}

static int cmd_add(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	struct mv_conf conf;
	_cleanup_nl_ struct berth_nl *host = NULL, *cont = NULL;
	_cleanup_close_ int nsfd = -1;
	_cleanup_cni_result_ struct berth_cni_result *res = NULL, *ipam = NULL;
	struct berth_link master, link = { 0 };
	struct berth_sublink_opts o;
	char alias[256], mac[BERTH_MAC_STRLEN];
	berth_error ign = { 0 };
	int r;

	if ((r = conf_parse(call, &conf, err)) < 0)
		return r;
	if ((r = open_master(call, &conf, &nsfd, &host, &cont, &master, err)) < 0)
		return r;

	owner_alias(call, alias, sizeof(alias));
	o = (struct berth_sublink_opts){
		.kind = "macvlan",
		.parent = master.ifindex,
		.nsfd = conf.link_in_container ? -1 : nsfd,
		.name = call->ifname,
		.mtu = conf.mtu,
		.mac = conf.has_mac ? conf.mac : NULL,
		/* with IPAM, up once the sysctls are set, as the reference does */
		.up = !conf.ipam_type,
		.alias = alias,
		.data = { { IFLA_MACVLAN_MODE, 4, conf.mode } },
		.n_data = 1,
	};
	if (conf.has_bcqueuelen)
		o.data[o.n_data++] = (struct berth_sublink_attr){ IFLA_MACVLAN_BC_QUEUE_LEN, 4,
								  conf.bcqueuelen };
	r = berth_sublink_add(conf.link_in_container ? cont : host, cont, &o, &link, err);
	if (r < 0)
		return r;
	BERTH_FAULT_POINT("macvlan-after-link");

	res = berth_cni_result_new(call->version);
	if (!res || berth_cni_result_add_interface(res, call->ifname,
						   berth_mac_format(link.mac, mac), call->netns) < 0) {
		r = oom(err);
		goto undo_link;
	}
	if (conf.ipam_type) {
		r = berth_cni_delegate(call, conf.ipam_type, "ADD", &ipam, err);
		if (r < 0)
			goto undo_link;
		BERTH_FAULT_POINT("macvlan-after-ipam");
		if ((r = berth_cni_result_add_ipam(res, ipam, err)) < 0)
			goto undo_ipam;
		r = configure_iface(cont, nsfd, call->ifname, link.ifindex, res, err);
		if (r < 0)
			goto undo_ipam;
	}
	if (conf.dns && (r = berth_cni_result_set_dns(res, call->version, conf.dns, err)) < 0)
		goto undo_ipam;
	BERTH_FAULT_POINT("macvlan-before-result");
	*ret = TAKE_PTR(res);
	return 0;

undo_ipam:
	if (conf.ipam_type)
		berth_cni_delegate_undo(call, conf.ipam_type);
undo_link:
	(void)berth_link_del(cont, link.ifindex, &ign);
	return r;
}

/* Is the container's link l the one an ADD of this attachment made?  A macvlan carrying our
 * owner record, or, made by the reference plugin, a macvlan without any berth record. */
static bool link_is_ours(struct berth_nl *cont, const struct berth_cni_call *call,
			 const struct berth_link *l)
{
	struct berth_sublink_info in;
	berth_error e = { 0 };
	char alias[256];

	if (!STREQ(l->kind, "macvlan") || berth_sublink_info(cont, l->ifindex, &in, &e) < 0)
		return false;
	owner_alias(call, alias, sizeof(alias));
	if (STREQ(l->alias, alias))
		return true;
	return strncmp(l->alias, "berth ", 6) != 0;
}

/* An ADD killed between creating the link and renaming it leaves it under its temporary name
 * ("bt" and 8 hex digits, no owner record yet): remove such macvlans from the container. */
static void del_tmp_links(struct berth_nl *cont, int nsfd)
{
	_cleanup_free_ struct berth_link *links = NULL;
	berth_error ign = { 0 };
	size_t n = 0;

	if (berth_link_list(cont, &links, &n, &ign) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		const char *nm = links[i].name;

		if (!STREQ(links[i].kind, "macvlan") || links[i].alias[0] || strlen(nm) != 10 ||
		    strncmp(nm, "bt", 2) != 0 || strspn(nm + 2, "0123456789abcdef") != 8)
			continue;
		berth_log_info("DEL: removing %s, left by an interrupted ADD", nm);
		(void)berth_link_del_unlisted(nsfd, links[i].ifindex, &ign);
	}
}

static int cmd_del(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	const char *ipam_type = NULL;
	json_t *ipam = json_object_get(call->config, "ipam"), *type = NULL;
	int r = 0;

	(void)ret;
	/* DEL cleans up what an ADD may have left also for a config ADD refuses: it needs only
	 * the owner and ipam.type, read leniently. */
	if (json_is_object(ipam))
		type = json_object_get(ipam, "type");
	if (json_is_string(type) && *json_string_value(type) && !strchr(json_string_value(type), '/'))
		ipam_type = json_string_value(type);
	if ((r = berth_cni_ipam_del(call, ipam_type, true, err)) < 0)
		return r;

	/* without its netns the link went with it */
	if (call->netns && *call->netns && !call->netns_gone) {
		_cleanup_close_ int nsfd = -1;
		_cleanup_nl_ struct berth_nl *cont = NULL;
		struct berth_link l;

		r = berth_netns_open(call->netns, &nsfd, err);
		if (r == -ENOENT) {
			berth_error_clear(err);
			r = 0;
		} else if (r < 0) {
			return r;
		} else {
			if ((r = berth_nl_open(nsfd, &cont, err)) < 0)
				return r;
			r = berth_link_get_by_name(cont, call->ifname, &l, err);
			if (r == 0 && !link_is_ours(cont, call, &l)) {
				berth_log_warn("DEL: %s in %s is not a macvlan this attachment made; "
					       "left alone", call->ifname, call->netns);
			} else if (r == 0) {
				/* returns once unlisted; the kernel's RCU wait goes on in a child */
				r = berth_link_del_unlisted(nsfd, l.ifindex, err);
				if (r < 0 && r != -ENODEV)
					return r;
			} else if (r != -ENODEV) {
				return r;
			}
			r = 0;
			berth_error_clear(err);
			del_tmp_links(cont, nsfd);
		}
	}
	return berth_cni_ipam_del(call, ipam_type, false, err);
}

#define check_fail(err, ...) berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT, __VA_ARGS__)

static int check_iface(struct berth_nl *cont, const struct mv_conf *conf,
		       const struct berth_cni_interface *in, struct berth_link *l, berth_error *err)
{
	struct berth_sublink_info info;
	char mac[BERTH_MAC_STRLEN];
	int r;

	if (!in || !in->name || !*in->name)
		return check_fail(err, "container interface name missing in prevResult: %s", "");
	if (berth_link_get_by_name(cont, in->name, l, err) < 0)
		return check_fail(err, "container Interface name in prevResult: %s not found",
				  in->name);
	if (!in->sandbox || !*in->sandbox)
		return check_fail(err, "error: Container interface %s should not be in host namespace",
				  l->name);
	if ((r = berth_sublink_info(cont, l->ifindex, &info, err)) < 0)
		return r;
	if (!STREQ(info.kind, "macvlan"))
		return check_fail(err, "error: Container interface %s not of type macvlan", l->name);
	if (info.value[IFLA_MACVLAN_MODE] != conf->mode)
		return check_fail(err, "container macvlan mode %s does not match expected value: %s",
				  mode_to_string(info.value[IFLA_MACVLAN_MODE]),
				  mode_to_string(conf->mode));
	if (in->mac && *in->mac && !STREQ(in->mac, berth_mac_format(l->mac, mac)))
		return check_fail(err, "interface %s Mac %s doesn't match container Mac: %s",
				  in->name, in->mac, mac);
	if (conf->has_bcqueuelen && info.present[IFLA_MACVLAN_BC_QUEUE_LEN] &&
	    info.value[IFLA_MACVLAN_BC_QUEUE_LEN] != conf->bcqueuelen)
		return check_fail(err, "container macvlan bcqueuelen %u does not match expected "
				       "value: %u",
				  info.value[IFLA_MACVLAN_BC_QUEUE_LEN], conf->bcqueuelen);
	return 0;
}

static int check_addrs_routes(struct berth_nl *cont, const struct berth_cni_result *prev,
			      const struct berth_link *l, berth_error *err)
{
	_cleanup_free_ struct berth_addr *addrs = NULL;
	_cleanup_free_ struct berth_route *routes = NULL;
	size_t n_addrs = 0, n_routes = 0;
	char s[BERTH_IPNET_STRLEN];
	int r;

	if ((r = berth_addr_list(cont, l->ifindex, 0, &addrs, &n_addrs, err)) < 0)
		return r;
	for (size_t i = 0; i < prev->n_ips; i++) {
		const struct berth_cni_ipconfig *ip = &prev->ips[i];
		bool found = false;

		for (size_t j = 0; j < n_addrs && !found; j++)
			found = addrs[j].addr.prefix == ip->address.prefix &&
				berth_ip_equal(&addrs[j].addr.ip, &ip->address.ip);
		if (!found)
			return check_fail(err, "Failed to match addr %s on interface %s",
					  berth_ipnet_format(&ip->address, s), l->name);
	}
	if ((r = berth_route_list(cont, 0, -1, &routes, &n_routes, err)) < 0)
		return r;
	for (size_t i = 0; i < prev->n_routes; i++) {
		const struct berth_cni_route *cr = &prev->routes[i];
		struct berth_ipnet want = berth_ipnet_network(&cr->dst);
		bool found = false;

		for (size_t j = 0; j < n_routes && !found; j++)
			found = routes[j].dst.prefix == want.prefix &&
				berth_ip_equal(&routes[j].dst.ip, &want.ip) &&
				(!cr->gw.family || berth_ip_equal(&routes[j].gw, &cr->gw));
		if (!found)
			return check_fail(err, "Failed to find route %s in the container",
					  berth_ipnet_format(&cr->dst, s));
	}
	return 0;
}

static int cmd_check(const struct berth_cni_call *call, struct berth_cni_result **ret,
		     berth_error *err)
{
	struct mv_conf conf;
	_cleanup_nl_ struct berth_nl *host = NULL, *cont = NULL;
	_cleanup_close_ int nsfd = -1;
	const struct berth_cni_result *prev = call->prev_result;
	const struct berth_cni_interface *in = NULL;
	struct berth_link master, l;
	int r;

	(void)ret;
	if ((r = conf_parse(call, &conf, err)) < 0)
		return r;
	if ((r = open_master(call, &conf, &nsfd, &host, &cont, &master, err)) < 0)
		return r;
	if (conf.ipam_type && (r = berth_cni_delegate(call, conf.ipam_type, "CHECK", NULL, err)) < 0)
		return r;
	if (!prev)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "required prevResult missing");
	for (size_t i = 0; i < prev->n_interfaces; i++) {
		const struct berth_cni_interface *x = &prev->interfaces[i];

		if (x->name && STREQ(x->name, call->ifname) && x->sandbox &&
		    STREQ(x->sandbox, call->netns))
			in = x;
	}
	if (!in)
		return check_fail(err, "sandbox in prevResult %s doesn't match configured netns: %s",
				  "", call->netns);
	if ((r = check_iface(cont, &conf, in, &l, err)) < 0)
		return r;
	{
		struct berth_sublink_info info;

		/* still on the configured master (when that lives in the container's netns, the
		 * parent index is comparable) */
		if (conf.link_in_container && berth_sublink_info(cont, l.ifindex, &info, err) == 0 &&
		    info.parent != master.ifindex)
			return check_fail(err, "container macvlan %s is not on master %s", l.name,
					  conf.master);
	}
	return check_addrs_routes(cont, prev, &l, err);
}

static int cmd_status(const struct berth_cni_call *call, struct berth_cni_result **ret,
		      berth_error *err)
{
	struct mv_conf conf;
	_cleanup_nl_ struct berth_nl *host = NULL;
	struct berth_link m;
	int r;

	(void)ret;
	if ((r = conf_parse(call, &conf, err)) < 0)
		return r;
	/* a master named in the host netns must exist for an ADD to work */
	if (!conf.link_in_container && *conf.master) {
		if ((r = berth_nl_open(-1, &host, err)) < 0)
			return r;
		r = berth_link_get_by_name(host, conf.master, &m, err);
		if (r == -ENODEV)
			return berth_error_set(err, 50, ENODEV, "master \"%s\" not found",
					       conf.master);
		if (r < 0)
			return r;
	}
	if (conf.ipam_type)
		return berth_cni_delegate(call, conf.ipam_type, "STATUS", NULL, err);
	return 0;
}

static int cmd_gc(const struct berth_cni_call *call, struct berth_cni_result **ret,
		  berth_error *err)
{
	struct mv_conf conf;
	int r;

	(void)ret;
	/* the links live in the containers' netns and go with them: only IPAM keeps state */
	if ((r = conf_parse(call, &conf, err)) < 0)
		return r;
	if (conf.ipam_type)
		return berth_cni_delegate(call, conf.ipam_type, "GC", NULL, err);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct berth_cni_plugin plugin = {
		.name = "macvlan",
		.add = cmd_add,
		.del = cmd_del,
		.check = cmd_check,
		.status = cmd_status,
		.gc = cmd_gc,
	};

	/* our host-local, when it is the one CNI_PATH finds, without a fork and exec */
	berth_cni_delegate_builtin(&berth_host_local_plugin);
	return berth_plugin_main(&plugin, argc, argv);
}
