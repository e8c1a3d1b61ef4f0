// SPDX-License-Identifier: Apache-2.0
/*
 * tap: a tap device made in the container's netns through the tun driver (/dev/net/tun,
 * TUNSETIFF with IFF_TUN_EXCL, TUNSETOWNER/TUNSETGROUP, TUNSETPERSIST), for a VM monitor in
 * the container to open, optionally a port of a bridge that already exists in that netns, with
 * addresses from IPAM.  Same config as the reference (multiQueue, mtu, mac with CNI_ARGS MAC and
 * runtimeConfig.mac, owner, group, bridge, ipam, dns).  The device stays non-persistent, held
 * by our file, until everything else is done: a failed or killed ADD leaves no tap behind.
 * DEL deletes only the tap this attachment made (its alias is the owner record; never another
 * link or tap of that name) and works without the netns.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/cni-skel.h"
#include "berth/cniargs.h"
#include "berth/exec.h"
#include "berth/fault.h"
#include "berth/iface.h"
#include "berth/ipam.h"
#include "berth/json.h"
#include "berth/link.h"
#include "berth/log.h"
#include "berth/netns.h"
#include "berth/nl.h"
#include "berth/sysctl.h"
#include "berth/tun.h"

/* IFLA_IFALIAS of the tap: "berth tap <network> <containerID> <ifname>" */
#define OWNER_PREFIX "berth tap "

struct tap_conf {
	bool multi_queue;
	int mtu;
	bool has_mac;
	uint8_t mac[BERTH_MAC_LEN];
	int64_t owner, group; /* -1 = none */
	const char *bridge;   /* NULL = none */
	const char *ipam_type;
	json_t *dns;
};

__attribute__((format(printf, 2, 3))) static int bad(berth_error *err, const char *fmt, ...);
static int bad(berth_error *err, const char *fmt, ...)
{
	char msg[BERTH_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL, "%s", msg);
}

static bool ifname_ok(const char *n)
{
	return *n && strlen(n) < IF_NAMESIZE && !strchr(n, '/') && !strchr(n, ' ') &&
	       !strchr(n, ':') && !STREQ(n, ".") && !STREQ(n, "..");
}

static int parse_id(json_t *j, const char *key, int64_t *ret, berth_error *err)
{
	json_t *v = json_object_get(j, key);

	*ret = -1;
	if (!v || json_is_null(v))
		return 0;
	/* (uid_t)-1 is "no owner" to the kernel, so the largest id is one less */
	if (berth_json_get_int(j, NULL, key, false, 0, 4294967294LL, ret, err) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s must be a numeric id from 0 to 4294967294", key);
	return 0;
}

static int parse_conf(const struct berth_cni_call *call, struct tap_conf *c, berth_error *err)
{
	static const char *const known[] = { "MAC", NULL };
	json_t *j = call->config, *ipam = NULL, *dns = NULL;
	const char *mac = NULL, *selinux = NULL;
	char *vals[1] = { NULL };
	int64_t mtu = 0;
	int r;

	memset(c, 0, sizeof(*c));
	if ((r = berth_json_get_bool(j, NULL, "multiQueue", false, &c->multi_queue, err)) < 0 ||
	    (r = berth_json_get_string(j, NULL, "mac", false, &mac, err)) < 0 ||
	    (r = berth_json_get_string(j, NULL, "bridge", false, &c->bridge, err)) < 0 ||
	    (r = berth_json_get_string(j, NULL, "selinuxContext", false, &selinux, err)) < 0 ||
	    (r = berth_json_get_object(j, NULL, "ipam", false, &ipam, err)) < 0 ||
	    (r = berth_json_get_object(j, NULL, "dns", false, &dns, err)) < 0 ||
	    (r = parse_id(j, "owner", &c->owner, err)) < 0 ||
	    (r = parse_id(j, "group", &c->group, err)) < 0)
		return r;
	if (berth_json_get_int(j, NULL, "mtu", false, 0, 65535, &mtu, err) < 0 ||
	    (mtu != 0 && mtu < 68))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "mtu must be 0 (the kernel's default) or from 68 to 65535");
	c->mtu = (int)mtu;
	if (c->bridge && !*c->bridge)
		c->bridge = NULL;
	if (c->bridge && !ifname_ok(c->bridge))
		return bad(err, "bridge \"%s\" is not a valid interface name", c->bridge);
	if (selinux && *selinux)
		/* the reference labels the tap by running `ip` under that exec context */
		return berth_error_set(err, BERTH_CNI_ERR_UNSUPPORTED_FIELD, ENOTSUP,
				       "selinuxContext \"%s\": labelling the tap is not supported",
				       selinux);
	if (ipam && (r = berth_json_get_string(ipam, "ipam", "type", false, &c->ipam_type, err)) < 0)
		return r;
	if (c->ipam_type && !*c->ipam_type)
		c->ipam_type = NULL;
	if (c->ipam_type && strchr(c->ipam_type, '/'))
		return bad(err, "invalid ipam type \"%s\"", c->ipam_type);
	if (dns && json_object_size(dns))
		c->dns = dns;
	/* runtimeConfig.mac, then CNI_ARGS MAC, then the config's mac, as the reference */
	if ((r = berth_cni_args_parse(call->args, known, vals, err)) < 0)
		return r;
	r = berth_cni_requested_mac(j, vals[0], c->mac, err);
	free(vals[0]);
	if (r < 0)
		return r;
	c->has_mac = r > 0;
	if (!c->has_mac && mac && *mac) {
		if (berth_mac_parse(mac, c->mac) < 0)
			return bad(err, "invalid args %s for MAC addr", mac);
		c->has_mac = true;
	}
	if (c->has_mac && (c->mac[0] & 1)) {
		char s[BERTH_MAC_STRLEN];
		return bad(err, "MAC address %s is a multicast address", berth_mac_format(c->mac, s));
	}
	return 0;
}

static void owner_alias(const struct berth_cni_call *call, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s %s %s", OWNER_PREFIX, call->name, call->container_id,
		 call->ifname);
}

static int oom(berth_error *err)
{
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
}

static int cmd_add(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	struct tap_conf c;
	_cleanup_close_ int nsfd = -1, tapfd = -1;
	_cleanup_nl_ struct berth_nl *nl = NULL;
	_cleanup_cni_result_ struct berth_cni_result *res = NULL, *ipam = NULL;
	struct berth_link br = { 0 }, tap;
	struct berth_tap_opts o;
	char alias[256], mac[BERTH_MAC_STRLEN], key[96];
	berth_error ign = { 0 };
	int r;

	if ((r = parse_conf(call, &c, err)) < 0)
		return r;
	if ((r = berth_netns_open(call->netns, &nsfd, err)) < 0 ||
	    (r = berth_nl_open(nsfd, &nl, err)) < 0)
		return r;
	if (c.bridge) {
		r = berth_link_get_by_name(nl, c.bridge, &br, err);
		if (r == -ENODEV)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ENODEV,
					       "failed to get bridge %s: no such link in %s",
					       c.bridge, call->netns);
		if (r < 0)
			return r;
		if (!STREQ(br.kind, "bridge"))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "bridge %s is a %s link, not a bridge", c.bridge,
					       *br.kind ? br.kind : "physical");
	}
	o = (struct berth_tap_opts){ .name = call->ifname, .multi_queue = c.multi_queue,
				     .vnet_hdr = true, .owner = c.owner, .group = c.group };
	if ((r = berth_tap_create(nsfd, &o, &tapfd, err)) < 0)
		return r;
	/* from here the tap goes away with tapfd unless made persistent at the end */
	BERTH_FAULT_POINT("tap-after-create");
	if ((r = berth_link_get_by_name(nl, call->ifname, &tap, err)) < 0)
		return r;
	owner_alias(call, alias, sizeof(alias));
	if ((r = berth_link_set_alias(nl, tap.ifindex, alias, err)) < 0)
		return r;
	if (c.mtu && (r = berth_link_set_mtu(nl, tap.ifindex, c.mtu, err)) < 0)
		return berth_error_prefix(err, "failed to set the MTU of %s to %d", call->ifname,
					  c.mtu);
	if (c.has_mac && (r = berth_link_set_mac(nl, tap.ifindex, c.mac, err)) < 0)
		return berth_error_prefix(err, "failed to set the MAC address of %s",
					  call->ifname);
	if (c.bridge && (r = berth_link_set_master(nl, tap.ifindex, br.ifindex, err)) < 0)
		return berth_error_prefix(err, "failed to set tap %s as a port of bridge %s",
					  call->ifname, c.bridge);
	if ((r = berth_link_get_by_index(nl, tap.ifindex, &tap, err)) < 0)
		return r;
	res = berth_cni_result_new(call->version);
	if (!res || berth_cni_result_add_interface(res, call->ifname,
						   berth_mac_format(tap.mac, mac), call->netns) < 0)
		return oom(err);
	if (c.ipam_type) {
		r = berth_cni_delegate(call, c.ipam_type, "ADD", &ipam, err);
		if (r < 0)
			return r;
		BERTH_FAULT_POINT("tap-after-ipam");
		if ((r = berth_cni_result_add_ipam(res, ipam, err)) < 0)
			goto undo_ipam;
		snprintf(key, sizeof(key), "net/ipv4/conf/%s/arp_notify", call->ifname);
		(void)berth_sysctl_write_in(nsfd, key, "1", &ign);
		if ((r = berth_iface_configure(nsfd, nl, tap.ifindex, call->ifname, res, 0, err)) < 0)
			goto undo_ipam;
	} else if ((r = berth_link_set_up(nl, tap.ifindex, true, err)) < 0) {
		berth_error_prefix(err, "failed to set %s up", call->ifname);
		goto undo_ipam;
	}
	if (c.dns && (r = berth_cni_result_set_dns(res, call->version, c.dns, err)) < 0)
		goto undo_ipam;
	BERTH_FAULT_POINT("tap-before-persist");
	if ((r = berth_tun_set_persist(tapfd, true, err)) < 0)
		goto undo_ipam;
	*ret = TAKE_PTR(res);
	return 0;

undo_ipam:
	if (c.ipam_type)
		berth_cni_delegate_undo(call, c.ipam_type);
	/* closing tapfd destroys the tap, which is not persistent */
	return r;
}

/* The link of ifname in nl's netns is a tap this attachment made: it carries our owner record.
 * A tap without one may be an admin's or a VM's (DEL after an ADD that found the name taken):
 * left alone, also when the reference plugin made it (it dies with the netns). */
static bool tap_is_ours(const struct berth_cni_call *call, struct berth_nl *nl,
			const struct berth_link *l)
{
	struct berth_tun_info ti;
	berth_error e = { 0 };
	char alias[256];

	if (berth_tun_info_get(nl, l->ifindex, &ti, &e) < 0 || ti.type != 2)
		return false;
	owner_alias(call, alias, sizeof(alias));
	return STREQ(l->alias, alias);
}

static int cmd_del(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	struct tap_conf c;
	const char *ipam_type = NULL;
	berth_error perr = { 0 };
	int r;

	/* lenient: only ipam.type matters beyond the attachment's names */
	if (parse_conf(call, &c, &perr) < 0) {
		json_t *ipam = json_object_get(call->config, "ipam");
		const char *t = json_string_value(json_object_get(ipam, "type"));

		berth_log_warn("DEL: ignoring config error: %s", perr.msg);
		if (t && *t && !strchr(t, '/'))
			ipam_type = t;
	} else {
		ipam_type = c.ipam_type;
	}
	if ((r = berth_cni_ipam_del(call, ipam_type, true, err)) < 0)
		return r;
	/* without the netns the tap went with it (the tun driver destroys its devices) */
	if (call->netns && *call->netns && !call->netns_gone) {
		_cleanup_close_ int nsfd = -1;
		_cleanup_nl_ struct berth_nl *nl = NULL;
		struct berth_link l;

		r = berth_netns_open(call->netns, &nsfd, err);
		if (r == -ENOENT) {
			berth_error_clear(err);
		} else if (r < 0) {
			return r;
		} else {
			if ((r = berth_nl_open(nsfd, &nl, err)) < 0)
				return r;
			r = berth_link_get_by_name(nl, call->ifname, &l, err);
			if (r == 0 && !tap_is_ours(call, nl, &l)) {
				berth_log_warn("DEL: %s in %s is not a tap of this attachment; left "
					       "alone", call->ifname, call->netns);
			} else if (r == 0) {
				r = berth_link_del(nl, l.ifindex, err);
				if (r < 0 && r != -ENODEV)
					return r;
				BERTH_FAULT_POINT("tap-del-after-link");
			} else if (r != -ENODEV) {
				return r;
			}
			berth_error_clear(err);
		}
	}
	return berth_cni_ipam_del(call, ipam_type, false, err);
}

static int check_fail(berth_error *err, const char *what, const char *ifname, long long have,
		      long long want)
{
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL,
			       "tap %s: %s is %lld, the config %lld", ifname, what, have, want);
}

static int cmd_check(const struct berth_cni_call *call, struct berth_cni_result **ret,
		     berth_error *err)
{
	struct tap_conf c;
	_cleanup_close_ int nsfd = -1;
	_cleanup_nl_ struct berth_nl *nl = NULL;
	const struct berth_cni_result *prev = call->prev_result;
	const struct berth_cni_interface *in = NULL;
	struct berth_tun_info ti;
	struct berth_link l;
	char mac[BERTH_MAC_STRLEN];
	int ci = -1, r;

	if ((r = parse_conf(call, &c, err)) < 0)
		return r;
	if (c.ipam_type && (r = berth_cni_delegate(call, c.ipam_type, "CHECK", NULL, err)) < 0)
		return r;
	if (!prev)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "Required prevResult missing");
	for (size_t i = 0; i < prev->n_interfaces; i++)
		if (prev->interfaces[i].name && STREQ(prev->interfaces[i].name, call->ifname) &&
		    prev->interfaces[i].sandbox && STREQ(prev->interfaces[i].sandbox, call->netns))
			ci = (int)i;
	if (ci < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT,
				       "Sandbox in prevResult doesn't match configured netns: %s",
				       call->netns);
	in = &prev->interfaces[ci];
	if ((r = berth_netns_open(call->netns, &nsfd, err)) < 0 ||
	    (r = berth_nl_open(nsfd, &nl, err)) < 0)
		return r;
	if ((r = berth_link_get_by_name(nl, call->ifname, &l, err)) < 0)
		return berth_error_prefix(err, "failed to find interface %s", call->ifname);
	if ((r = berth_tun_info_get(nl, l.ifindex, &ti, err)) < 0 || ti.type != 2)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL, "%s is not a tap device",
				       call->ifname);
	if (in->mac && *in->mac && !STREQ(in->mac, berth_mac_format(l.mac, mac)))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL,
				       "Interface %s Mac %s doesn't match container Mac: %s",
				       call->ifname, in->mac, mac);
	if (ti.multi_queue != c.multi_queue)
		return check_fail(err, "multi_queue", call->ifname,
				  ti.multi_queue, c.multi_queue);
	if (ti.owner != c.owner)
		return check_fail(err, "owner", call->ifname,
				  (long long)ti.owner, (long long)c.owner);
	if (ti.group != c.group)
		return check_fail(err, "group", call->ifname,
				  (long long)ti.group, (long long)c.group);
	if (c.mtu && l.mtu != c.mtu)
		return check_fail(err, "MTU", call->ifname, l.mtu,
				  c.mtu);
	if (c.bridge) {
		struct berth_link br;

		if (berth_link_get_by_name(nl, c.bridge, &br, err) < 0 || br.ifindex != l.master)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL,
					       "tap %s is not a port of bridge %s", call->ifname,
					       c.bridge);
	}
	return berth_iface_check(nl, l.ifindex, call->ifname, prev, ci, err);
}

static int cmd_status(const struct berth_cni_call *call, struct berth_cni_result **ret,
		      berth_error *err)
{
	struct tap_conf c;
	struct stat st;
	int r;

	if ((r = parse_conf(call, &c, err)) < 0)
		return r;
	if (stat("/dev/net/tun", &st) < 0 || !S_ISCHR(st.st_mode)) {
		r = berth_error_errno(err, BERTH_CNI_ERR_STATUS_NOT_READY,
				      "/dev/net/tun is not usable");
		return r < 0 ? r : -ENODEV;
	}
	if (c.ipam_type)
		return berth_cni_delegate(call, c.ipam_type, "STATUS", NULL, err);
	return 0;
}

static int cmd_gc(const struct berth_cni_call *call, struct berth_cni_result **ret,
		  berth_error *err)
{
	struct tap_conf c;
	int r;

	/* the taps live and die with the containers' netns: only IPAM has leaks to collect */
	if ((r = parse_conf(call, &c, err)) < 0)
		return r;
	if (c.ipam_type)
		return berth_cni_delegate(call, c.ipam_type, "GC", NULL, err);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct berth_cni_plugin plugin = {
		.name = "tap",
		.add = cmd_add,
		.del = cmd_del,
		.check = cmd_check,
		.status = cmd_status,
		.gc = cmd_gc,
	};

	berth_cni_delegate_builtin(&berth_host_local_plugin);
	return berth_plugin_main(&plugin, argc, argv);
}
