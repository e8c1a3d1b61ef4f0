// SPDX-License-Identifier: Apache-2.0
/*
 * host-device: move an existing link of the host into the container, renamed to CNI_IFNAME,
 * optionally with addresses from IPAM; DEL moves it back under its own name.  The link is
 * chosen by `device` (name), `hwaddr`, `kernelpath` (a /sys/devices/ path), `pciBusID` or the
 * runtime's runtimeConfig.deviceID (PCI or auxiliary bus), as the reference.  Beyond the
 * reference:
 *   - what moving into another netns takes from a link (its addresses and routes, its up state,
 *     alias, MTU and bridge) is recorded before the move in a state file,
 *     $BERTH_HOSTDEV_STATE_DIR (default /run/berth/host-device)/<network>/<id>@<ifname>.json,
 *     and put back by DEL;
 *   - the move and the rename are one request (IFLA_NET_NS_FD + IFLA_IFNAME), so a name taken
 *     in the container leaves the link where it was;
 *   - DEL works after the netns is gone: the kernel returns a physical link to the initial
 *     netns (renamed "dev<ifindex>" when its name is taken there), and DEL finds it by the
 *     ifindex and MAC of the state file and restores it; a virtual link died with the netns;
 *   - several selectors must name the same link; a link another attachment holds is named;
 *   - a failed ADD puts the link back as it was; GC does DEL's work for attachments no longer
 *     valid.
 * The reference's alias (the original name, in IFLA_IFALIAS while the link is in the container)
 * is kept, so the reference's DEL undoes our ADD and ours undoes the reference's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/addr.h"
#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/cni-skel.h"
#include "berth/cniargs.h"
#include "berth/exec.h"
#include "berth/fault.h"
#include "berth/file.h"
#include "berth/iface.h"
#include "berth/ipam.h"
#include "berth/json.h"
#include "berth/link.h"
#include "berth/log.h"
#include "berth/netns.h"
#include "berth/nl.h"
#include "berth/route.h"

#define SYS_PCI "/sys/bus/pci/devices"
#define SYS_AUX "/sys/bus/auxiliary/devices"
#define MAX_SAVED 64

struct hd_conf {
	const char *device, *hwaddr, *kernelpath, *pci, *aux;
	const char *ipam_type;
	json_t *dns;
	bool dpdk;
};

/* What the link had in the host netns, to put back. */
struct hd_state {
	char device[IF_NAMESIZE]; /* its name */
	int ifindex;
	uint8_t mac[BERTH_MAC_LEN];
	int mac_len;
	char alias[256];
	int mtu;
	bool up;
	char master[IF_NAMESIZE];
	char netns[PATH_MAX];
	struct berth_ipnet addrs[MAX_SAVED];
	size_t n_addrs;
	struct berth_route routes[MAX_SAVED];
	size_t n_routes;
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

static int oom(berth_error *err)
{
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
}

/* ---- config ----------------------------------------------------------------------------- */

static bool component_ok(const char *s)
{
	return *s && !strchr(s, '/') && !STREQ(s, ".") && !STREQ(s, "..");
}

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The PCI device is bound to a userspace (DPDK) driver: it has no netdev to move. */
static int dpdk_driver(const char *pci, bool *ret, berth_error *err)
{
	static const char *const drivers[] = { "vfio-pci", "uio_pci_generic", "igb_uio" };
	char p[PATH_MAX], target[PATH_MAX];
	const char *name;
	ssize_t n;

	snprintf(p, sizeof(p), SYS_PCI "/%s/driver", pci);
	n = readlink(p, target, sizeof(target) - 1);
	if (n < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INVALID_CONFIG,
					 "error with host device: pciBusID %s", pci);
	target[n] = 0;
	name = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
	*ret = false;
	for (size_t i = 0; i < ARRAY_SIZE(drivers); i++)
		if (STREQ(name, drivers[i]))
			*ret = true;
	return 0;
}

static int parse_conf(json_t *j, struct hd_conf *c, berth_error *err)
{
	json_t *ipam = NULL, *dns = NULL, *rc = NULL;
	const char *devid = NULL;
	int r;

	memset(c, 0, sizeof(*c));
	if ((r = berth_json_get_string(j, NULL, "device", false, &c->device, err)) < 0 ||
	    (r = berth_json_get_string(j, NULL, "hwaddr", false, &c->hwaddr, err)) < 0 ||
	    (r = berth_json_get_string(j, NULL, "kernelpath", false, &c->kernelpath, err)) < 0 ||
	    (r = berth_json_get_string(j, NULL, "pciBusID", false, &c->pci, err)) < 0 ||
	    (r = berth_json_get_object(j, NULL, "runtimeConfig", false, &rc, err)) < 0 ||
	    (rc && (r = berth_json_get_string(rc, "runtimeConfig", "deviceID", false, &devid,
					      err)) < 0) ||
	    (r = berth_json_get_object(j, NULL, "ipam", false, &ipam, err)) < 0 ||
	    (r = berth_json_get_object(j, NULL, "dns", false, &dns, err)) < 0)
		return r;
#define EMPTY_NULL(f) if (f && !*f) f = NULL
	EMPTY_NULL(c->device);
	EMPTY_NULL(c->hwaddr);
	EMPTY_NULL(c->kernelpath);
	EMPTY_NULL(c->pci);
	EMPTY_NULL(devid);
#undef EMPTY_NULL
	if (c->device && (strlen(c->device) >= IF_NAMESIZE || !component_ok(c->device)))
		return bad(err, "device \"%s\" is not a valid interface name", c->device);
	if (c->pci && !component_ok(c->pci))
		return bad(err, "pciBusID \"%s\" is not a PCI address", c->pci);
	if (devid) {
		char p[PATH_MAX];

		if (!component_ok(devid))
			return bad(err, "runtime config DeviceID %s not found or unsupported", devid);
		/* the runtime's device replaces the config's PCI address, as the reference */
		snprintf(p, sizeof(p), SYS_PCI "/%s", devid);
		if (is_dir(p)) {
			c->pci = devid;
		} else {
			snprintf(p, sizeof(p), SYS_AUX "/%s", devid);
			if (!is_dir(p))
				return bad(err, "runtime config DeviceID %s not found or unsupported",
					   devid);
			c->pci = NULL;
			c->aux = devid;
		}
	}
	if (!c->device && !c->hwaddr && !c->kernelpath && !c->pci && !c->aux)
		return bad(err, "specify either \"device\", \"hwaddr\", \"kernelpath\" or "
				"\"pciBusID\"");
	if (c->hwaddr) {
		uint8_t m[BERTH_MAC_LEN];

		if (berth_mac_parse(c->hwaddr, m) < 0)
			return bad(err, "failed to parse MAC address \"%s\"", c->hwaddr);
	}
	if (c->kernelpath && (strncmp(c->kernelpath, "/sys/devices/", 13) != 0 ||
			      strstr(c->kernelpath, "/../") || strstr(c->kernelpath, "/./") ||
			      (strlen(c->kernelpath) >= 3 &&
			       STREQ(c->kernelpath + strlen(c->kernelpath) - 3, "/..")) ||
			      strlen(c->kernelpath) > PATH_MAX - 16))
		return bad(err, "kernel device path \"%s\" must be absolute and begin with "
				"/sys/devices/", c->kernelpath);
	if (c->pci && (r = dpdk_driver(c->pci, &c->dpdk, err)) < 0)
		return r;
	if (ipam && (r = berth_json_get_string(ipam, "ipam", "type", false, &c->ipam_type, err)) < 0)
		return r;
	if (c->ipam_type && !*c->ipam_type)
		c->ipam_type = NULL;
	if (c->ipam_type && strchr(c->ipam_type, '/'))
		return bad(err, "invalid ipam type \"%s\"", c->ipam_type);
	if (dns && json_object_size(dns))
		c->dns = dns;
	return 0;
}

/* ---- finding the link -------------------------------------------------------------------- */

/* The first (by name) netdev under a sysfs ".../net" directory. */
static int link_from_dir(struct berth_nl *nl, const char *dir, const char *what,
			 struct berth_link *ret, berth_error *err)
{
	struct dirent **ents = NULL;
	int n, r;

	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INVALID_CONFIG,
					 "failed to find host device: %s: no net directory %s", what,
					 dir);
	r = -ENODEV;
	for (int i = 0; i < n; i++) {
		if (r == -ENODEV && ents[i]->d_name[0] != '.')
			r = berth_link_get_by_name(nl, ents[i]->d_name, ret, err);
		free(ents[i]);
	}
	free(ents);
	if (r == -ENODEV)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ENODEV,
				       "failed to find host device: %s: no network device in %s",
				       what, dir);
	return r;
}

struct found {
	const char *what;
	struct berth_link l;
};

static int find_link(struct berth_nl *nl, const struct hd_conf *c, struct berth_link *ret,
		     berth_error *err)
{
	struct found f[4];
	size_t n = 0;
	char dir[PATH_MAX + 32], what[PATH_MAX + 32];
	int r;

	if (c->device) {
		r = berth_link_get_by_name(nl, c->device, &f[n].l, err);
		if (r == -ENODEV)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ENODEV,
					       "failed to find host device: device \"%s\": no such "
					       "link in this netns",
					       c->device);
		if (r < 0)
			return r;
		f[n++].what = "device";
	}
	if (c->hwaddr) {
		_cleanup_free_ struct berth_link *all = NULL;
		uint8_t m[BERTH_MAC_LEN];
		size_t na = 0;
		bool hit = false;

		(void)berth_mac_parse(c->hwaddr, m);
		if ((r = berth_link_list(nl, &all, &na, err)) < 0)
			return r;
		for (size_t i = 0; i < na && !hit; i++)
			if (all[i].mac_len == BERTH_MAC_LEN && !memcmp(all[i].mac, m, sizeof(m)) &&
			    !(all[i].flags & IFF_LOOPBACK)) {
				f[n].l = all[i];
				hit = true;
			}
		if (!hit)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ENODEV,
					       "failed to find host device: no link with hwaddr %s",
					       c->hwaddr);
		f[n++].what = "hwaddr";
	}
	if (c->kernelpath) {
		snprintf(dir, sizeof(dir), "%s/net", c->kernelpath);
		snprintf(what, sizeof(what), "kernelpath %s", c->kernelpath);
		if ((r = link_from_dir(nl, dir, what, &f[n].l, err)) < 0)
			return r;
		f[n++].what = "kernelpath";
	}
	if (c->pci || c->aux) {
		snprintf(dir, sizeof(dir), "%s/%s/net", c->pci ? SYS_PCI : SYS_AUX,
			 c->pci ? c->pci : c->aux);
		snprintf(what, sizeof(what), "%s %s", c->pci ? "pciBusID" : "deviceID",
			 c->pci ? c->pci : c->aux);
		if (c->pci && !is_dir(dir)) {
			glob_t g;
			char pat[PATH_MAX + 32];

			snprintf(pat, sizeof(pat), SYS_PCI "/%s/virtio*/net", c->pci);
			if (glob(pat, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
				globfree(&g);
				return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ENODEV,
						       "failed to find host device: no net directory "
						       "under pci device %s",
						       c->pci);
			}
			snprintf(dir, sizeof(dir), "%s", g.gl_pathv[0]);
			globfree(&g);
		}
		if ((r = link_from_dir(nl, dir, what, &f[n].l, err)) < 0)
			return r;
		f[n++].what = c->pci ? "pciBusID" : "deviceID";
	}
	if (n == 0)
		return bad(err, "specify either \"device\", \"hwaddr\", \"kernelpath\" or "
				"\"pciBusID\"");
	for (size_t i = 1; i < n; i++)
		if (f[i].l.ifindex != f[0].l.ifindex)
			return bad(err, "conflicting selectors: %s selects %s, %s selects %s",
				   f[0].what, f[0].l.name, f[i].what, f[i].l.name);
	if (f[0].l.flags & IFF_LOOPBACK)
		return bad(err, "host device %s is a loopback device, which cannot change netns",
			   f[0].l.name);
	*ret = f[0].l;
	return 0;
}

/* ---- state ------------------------------------------------------------------------------- */

static const char *state_dir(void)
{
	const char *d = getenv("BERTH_HOSTDEV_STATE_DIR");
	return d && *d ? d : "/run/berth/host-device";
}

static int state_path(const char *network, const char *id, const char *ifname, char *buf,
		      size_t len, berth_error *err)
{
	if (!berth_path_component_ok(network) ||
	    (size_t)snprintf(buf, len, "%s/%s/%s@%s.json", state_dir(), network, id, ifname) >= len)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ENAMETOOLONG,
				       "no state path for network \"%s\"", network);
	return 0;
}

static int state_write(const struct berth_cni_call *call, const struct hd_state *s,
		       berth_error *err)
{
	_cleanup_json_ json_t *j = json_object(), *a = json_array(), *rt = json_array();
	_cleanup_free_ char *txt = NULL;
	char path[PATH_MAX], dir[PATH_MAX], buf[BERTH_IPNET_STRLEN], mac[BERTH_MAC_STRLEN];
	int r;

	if (!j || !a || !rt)
		return oom(err);
	for (size_t i = 0; i < s->n_addrs; i++)
		json_array_append_new(a, json_string(berth_ipnet_format(&s->addrs[i], buf)));
	for (size_t i = 0; i < s->n_routes; i++) {
		const struct berth_route *x = &s->routes[i];
		json_t *o = json_pack("{s:s, s:i, s:i, s:i}", "dst",
				      berth_ipnet_format(&x->dst, buf), "table", x->table,
				      "priority", x->priority, "scope", x->scope);

		if (!o)
			return oom(err);
		if (x->gw.family)
			json_object_set_new(o, "gw", json_string(berth_ip_format(&x->gw, buf)));
		if (x->prefsrc.family)
			json_object_set_new(o, "prefsrc",
					    json_string(berth_ip_format(&x->prefsrc, buf)));
		json_array_append_new(rt, o);
	}
	if (json_object_set_new(j, "network", json_string(call->name)) < 0 ||
	    json_object_set_new(j, "containerID", json_string(call->container_id)) < 0 ||
	    json_object_set_new(j, "ifname", json_string(call->ifname)) < 0 ||
	    json_object_set_new(j, "netns", json_string(s->netns)) < 0 ||
	    json_object_set_new(j, "device", json_string(s->device)) < 0 ||
	    json_object_set_new(j, "ifindex", json_integer(s->ifindex)) < 0 ||
	    json_object_set_new(j, "mac", json_string(s->mac_len ? berth_mac_format(s->mac, mac)
								  : "")) < 0 ||
	    json_object_set_new(j, "alias", json_string(s->alias)) < 0 ||
	    json_object_set_new(j, "mtu", json_integer(s->mtu)) < 0 ||
	    json_object_set_new(j, "up", json_boolean(s->up)) < 0 ||
	    json_object_set_new(j, "master", json_string(s->master)) < 0 ||
	    json_object_set(j, "addrs", a) < 0 || json_object_set(j, "routes", rt) < 0 ||
	    !(txt = berth_json_dump(j)))
		return oom(err);
	snprintf(dir, sizeof(dir), "%s/%s", state_dir(), call->name);
	if ((r = state_path(call->name, call->container_id, call->ifname, path, sizeof(path),
			    err)) < 0 ||
	    (r = berth_mkdir_p(dir, 0700, err)) < 0)
		return r;
	return berth_write_file_atomic(path, txt, strlen(txt), 0600, false, err);
}

static void copy_str(char *dst, size_t len, json_t *j, const char *key)
{
	const char *v = json_string_value(json_object_get(j, key));
	snprintf(dst, len, "%s", v ? v : "");
}

/* 1 and *s filled when the state file is there, 0 when not. */
static int state_read_path(const char *path, struct hd_state *s, berth_error *err)
{
	_cleanup_json_ json_t *j = NULL;
	json_t *v;
	size_t i;
	char mac[BERTH_MAC_STRLEN];
	int r;

	memset(s, 0, sizeof(*s));
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	if ((r = berth_json_load_file(path, &j, err)) < 0)
		return r;
	copy_str(s->device, sizeof(s->device), j, "device");
	copy_str(s->alias, sizeof(s->alias), j, "alias");
	copy_str(s->master, sizeof(s->master), j, "master");
	copy_str(s->netns, sizeof(s->netns), j, "netns");
	copy_str(mac, sizeof(mac), j, "mac");
	if (berth_mac_parse(mac, s->mac) == 0)
		s->mac_len = BERTH_MAC_LEN;
	s->ifindex = (int)json_integer_value(json_object_get(j, "ifindex"));
	s->mtu = (int)json_integer_value(json_object_get(j, "mtu"));
	s->up = json_is_true(json_object_get(j, "up"));
	json_array_foreach(json_object_get(j, "addrs"), i, v)
		if (s->n_addrs < MAX_SAVED && json_is_string(v) &&
		    berth_ipnet_parse(json_string_value(v), &s->addrs[s->n_addrs]) == 0)
			s->n_addrs++;
	json_array_foreach(json_object_get(j, "routes"), i, v) {
		struct berth_route *x = &s->routes[s->n_routes];
		const char *gw = json_string_value(json_object_get(v, "gw"));
		const char *src = json_string_value(json_object_get(v, "prefsrc"));
		const char *dst = json_string_value(json_object_get(v, "dst"));

		if (s->n_routes == MAX_SAVED || !dst)
			continue;
		berth_route_init(x);
		if (berth_ipnet_parse(dst, &x->dst) < 0 || (gw && berth_ip_parse(gw, &x->gw) < 0) ||
		    (src && berth_ip_parse(src, &x->prefsrc) < 0))
			continue;
		x->table = (int)json_integer_value(json_object_get(v, "table"));
		x->priority = (int)json_integer_value(json_object_get(v, "priority"));
		x->scope = (int)json_integer_value(json_object_get(v, "scope"));
		s->n_routes++;
	}
	if (!*s->device || !component_ok(s->device))
		return berth_error_set(err, BERTH_CNI_ERR_DECODE, EINVAL,
				       "host-device state %s names no device", path);
	return 1;
}

static int state_read(const struct berth_cni_call *call, struct hd_state *s, berth_error *err)
{
	char path[PATH_MAX];
	int r;

	if ((r = state_path(call->name, call->container_id, call->ifname, path, sizeof(path),
			    err)) < 0)
		return r;
	return state_read_path(path, s, err);
}

static void state_remove_path(const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT)
		berth_log_warn("could not remove %s: %m", path);
}

static void state_remove(const struct berth_cni_call *call)
{
	char path[PATH_MAX];
	berth_error ign = { 0 };

	if (state_path(call->name, call->container_id, call->ifname, path, sizeof(path), &ign) == 0)
		state_remove_path(path);
}

/* Another attachment's state file that records `device`: "container X, network N". */
static bool held_by(const char *device, char *buf, size_t len)
{
	_cleanup_closedir_ DIR *top = opendir(state_dir());
	struct dirent *n;

	while (top && (n = readdir(top))) {
		char dir[PATH_MAX];
		DIR *d;
		struct dirent *e;
		bool hit = false;

		if (n->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", state_dir(), n->d_name);
		if (!(d = opendir(dir)))
			continue;
		while (!hit && (e = readdir(d))) {
			char path[PATH_MAX * 2];
			struct hd_state s;
			berth_error ign = { 0 };

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			if (state_read_path(path, &s, &ign) == 1 && STREQ(s.device, device)) {
				/* "<id>@<ifname>.json" */
				const char *dot = strrchr(e->d_name, '.');
				int stem = dot ? (int)(dot - e->d_name) : (int)strlen(e->d_name);

				snprintf(buf, len, "attachment %.*s of network %s", stem, e->d_name,
					 n->d_name);
				hit = true;
			}
		}
		closedir(d);
		if (hit)
			return true;
	}
	return false;
}

/* ---- host side: record and restore ------------------------------------------------------- */

static bool is_v6_link_local(const struct berth_ipnet *a)
{
	return a->ip.family == AF_INET6 && a->ip.addr[0] == 0xfe && (a->ip.addr[1] & 0xc0) == 0x80;
}

static int record(struct berth_nl *host, const struct berth_link *l, const char *netns,
		  struct hd_state *s, berth_error *err)
{
	_cleanup_free_ struct berth_addr *addrs = NULL;
	_cleanup_free_ struct berth_route *routes = NULL;
	size_t na = 0, nr = 0;
	int r;

	memset(s, 0, sizeof(*s));
	snprintf(s->device, sizeof(s->device), "%s", l->name);
	snprintf(s->alias, sizeof(s->alias), "%s", l->alias);
	snprintf(s->netns, sizeof(s->netns), "%s", netns);
	s->ifindex = l->ifindex;
	s->mac_len = l->mac_len;
	memcpy(s->mac, l->mac, sizeof(s->mac));
	s->mtu = l->mtu;
	s->up = l->flags & IFF_UP;
	if (l->master) {
		struct berth_link m;
		berth_error ign = { 0 };

		if (berth_link_get_by_index(host, l->master, &m, &ign) == 0)
			snprintf(s->master, sizeof(s->master), "%s", m.name);
	}
	if ((r = berth_addr_list(host, l->ifindex, 0, &addrs, &na, err)) < 0 ||
	    (r = berth_route_list(host, 0, -1, &routes, &nr, err)) < 0)
		return r;
	for (size_t i = 0; i < na && s->n_addrs < MAX_SAVED; i++)
		if (!is_v6_link_local(&addrs[i].addr))
			s->addrs[s->n_addrs++] = addrs[i].addr;
	/* routes someone added (the kernel makes the prefix and local routes again) */
	for (size_t i = 0; i < nr && s->n_routes < MAX_SAVED; i++)
		if (routes[i].ifindex == l->ifindex && routes[i].protocol != RTPROT_KERNEL &&
		    routes[i].protocol != RTPROT_RA && routes[i].table != RT_TABLE_LOCAL &&
		    !is_v6_link_local(&routes[i].dst))
			s->routes[s->n_routes++] = routes[i];
	return 0;
}

/* Put the link (in the host netns, at ifindex) back as the state says.  The name first: a
 * link that the kernel returned from a dead netns, or that had to come back under a fallback
 * name, gets its own name again when it is free. */
static int restore(struct berth_nl *host, int ifindex, const struct hd_state *s, berth_error *err)
{
	struct berth_link l, other;
	berth_error e = { 0 };
	int r;

	if ((r = berth_link_get_by_index(host, ifindex, &l, err)) < 0)
		return r;
	if (!STREQ(l.name, s->device)) {
		if (berth_link_get_by_name(host, s->device, &other, &e) == 0) {
			berth_log_warn("host-device: %s cannot take its name %s back: taken by "
				       "another link",
				       l.name, s->device);
		} else {
			if (l.flags & IFF_UP)
				(void)berth_link_set_up(host, ifindex, false, &e);
			if ((r = berth_link_set_name(host, ifindex, s->device, err)) < 0)
				return berth_error_prefix(err, "failed to rename %s to %s", l.name,
							  s->device);
		}
	}
	if (!STREQ(l.alias, s->alias) &&
	    (r = berth_link_set_alias(host, ifindex, s->alias, err)) < 0)
		return r;
	if (s->mtu && l.mtu != s->mtu && (r = berth_link_set_mtu(host, ifindex, s->mtu, &e)) < 0)
		berth_log_warn("host-device: could not restore the MTU of %s: %s", s->device, e.msg);
	if (*s->master) {
		struct berth_link m;

		if (berth_link_get_by_name(host, s->master, &m, &e) == 0 &&
		    berth_link_set_master(host, ifindex, m.ifindex, &e) < 0)
			berth_log_warn("host-device: could not put %s back into %s: %s", s->device,
				       s->master, e.msg);
	}
	for (size_t i = 0; i < s->n_addrs; i++) {
		r = berth_addr_add(host, ifindex, &s->addrs[i], IFA_F_NODAD, err);
		if (r < 0 && r != -EEXIST)
			return berth_error_prefix(err, "failed to restore an address of %s",
						  s->device);
	}
	if (s->up && (r = berth_link_set_up(host, ifindex, true, err)) < 0)
		return r;
	for (size_t i = 0; i < s->n_routes; i++) {
		struct berth_route rt = s->routes[i];
		char d[BERTH_IPNET_STRLEN];

		rt.ifindex = ifindex;
		r = berth_route_add(host, &rt, false, &e);
		if (r < 0 && r != -EEXIST)
			berth_log_warn("host-device: could not restore the route to %s of %s: %s",
				       berth_ipnet_format(&rt.dst, d), s->device, e.msg);
	}
	return 0;
}

/* The link of the state in the host netns, by ifindex and MAC (the kernel keeps the ifindex
 * across netns when it is free), else by MAC alone; -ENODEV when not there. */
static int find_in_host(struct berth_nl *host, const struct hd_state *s, struct berth_link *ret,
			berth_error *err)
{
	_cleanup_free_ struct berth_link *all = NULL;
	size_t n = 0;
	int r;

	if (berth_link_get_by_index(host, s->ifindex, ret, err) == 0 &&
	    (!s->mac_len || !memcmp(ret->mac, s->mac, BERTH_MAC_LEN)))
		return 0;
	if ((r = berth_link_list(host, &all, &n, err)) < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (s->mac_len && all[i].mac_len == s->mac_len &&
		    !memcmp(all[i].mac, s->mac, BERTH_MAC_LEN) && !(all[i].flags & IFF_LOOPBACK) &&
		    (STREQ(all[i].alias, s->device) || STREQ(all[i].name, s->device))) {
			*ret = all[i];
			return 0;
		}
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENODEV, "%s is not in this netns",
			       s->device);
}

/* The one link (lo aside) of a temporary netns. */
static int tmp_link(struct berth_nl *tnl, struct berth_link *ret, berth_error *err)
{
	_cleanup_free_ struct berth_link *all = NULL;
	size_t n = 0;
	int r;

	if ((r = berth_link_list(tnl, &all, &n, err)) < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (!(all[i].flags & IFF_LOOPBACK)) {
			*ret = all[i];
			return 0;
		}
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENODEV,
			       "the link went missing in the temporary netns");
}

/*
 * Move link ifindex from the netns of `from` (from_fd) to the netns to_fd, named `name` there.
 * The kernel renames a link on a move only when its name is taken in the target, so the
 * rename happens in a temporary empty netns, where no other link holds a name and no udev or
 * NetworkManager of the host sees it (as the reference does since 1.6).  With `fallback`, a
 * name taken in the target becomes "dev<ifindex>", as the kernel names links it returns from a
 * dying netns.  On failure the link is back in `from` under its previous name.  The final name
 * lands in ret_name.
 */
static int move_named(struct berth_nl *from, int from_fd, int ifindex, int to_fd,
		      const char *name, bool fallback, char ret_name[IF_NAMESIZE],
		      berth_error *err)
{
	_cleanup_close_ int tmpfd = -1;
	_cleanup_nl_ struct berth_nl *tnl = NULL;
	struct berth_link l, tl;
	berth_error ign = { 0 };
	char fb[IF_NAMESIZE];
	int r;

	if ((r = berth_link_get_by_index(from, ifindex, &l, err)) < 0 ||
	    (r = berth_netns_new_anon(&tmpfd, err)) < 0 || (r = berth_nl_open(tmpfd, &tnl, err)) < 0)
		return r;
	if ((r = berth_link_set_netns(from, ifindex, tmpfd, NULL, err)) < 0)
		return berth_error_prefix(err, "failed to move %s to a temporary netns", l.name);
	if ((r = tmp_link(tnl, &tl, err)) < 0)
		return r;
	if (!STREQ(tl.name, name) && (r = berth_link_set_name(tnl, tl.ifindex, name, err)) < 0) {
		berth_error_prefix(err, "failed to rename %s to %s", l.name, name);
		goto back;
	}
	snprintf(ret_name, IF_NAMESIZE, "%s", name);
	r = berth_link_set_netns(tnl, tl.ifindex, to_fd, NULL, err);
	if (r == -EEXIST && fallback) {
		snprintf(fb, sizeof(fb), "dev%d", tl.ifindex);
		berth_log_warn("host-device: %s is taken, the link comes back as %s", name, fb);
		if (berth_link_set_name(tnl, tl.ifindex, fb, &ign) == 0) {
			snprintf(ret_name, IF_NAMESIZE, "%s", fb);
			r = berth_link_set_netns(tnl, tl.ifindex, to_fd, NULL, err);
		}
	}
	if (r == -EEXIST)
		berth_error_prefix(err, "%s is taken in the target netns", name);
	if (r == 0)
		return 0;
back:
	(void)berth_link_set_name(tnl, tl.ifindex, l.name, &ign);
	if (berth_link_set_netns(tnl, tl.ifindex, from_fd, NULL, &ign) < 0)
		berth_log_warn("host-device: could not move %s back: %s", l.name, ign.msg);
	return r;
}

/*
 * The usual cases need no temporary netns (creating one costs more than the rest of the call):
 * a link whose name is free in the container moves under that name and is renamed there, and
 * on the way back it is renamed in the container first and moves under its own name.  Either
 * way the rename happens where the host's udev and NetworkManager do not see it.  These return
 * 1 when done, 0 when a name was taken so that move_named() must do it (the link is then where
 * it was, under the name it had), <0 on other errors (likewise).
 */
static int move_in_fast(struct berth_nl *host, int hostfd, int ifindex, const char *hname,
			struct berth_nl *cont, int nsfd, const char *ifname, berth_error *err)
{
	struct berth_link cl;
	berth_error e = { 0 };
	int r;

	r = berth_link_set_netns(host, ifindex, nsfd, NULL, &e);
	if (r == -EEXIST)
		return 0;
	if (r < 0) {
		*err = e;
		return berth_error_prefix(err, "failed to move %s to the container", hname);
	}
	if ((r = berth_link_get_by_name(cont, hname, &cl, err)) < 0)
		return r;
	if (STREQ(hname, ifname) || (r = berth_link_set_name(cont, cl.ifindex, ifname, &e)) == 0)
		return 1;
	if (berth_link_set_netns(cont, cl.ifindex, hostfd, NULL, err) < 0)
		return berth_error_prefix(err, "%s could not be renamed to %s in the container (%s), "
					  "nor moved back", hname, ifname, e.msg);
	return r == -EEXIST ? 0 : (*err = e, r);
}

static int move_out_fast(struct berth_nl *cont, int cifindex, const char *cname, int hostfd,
			 const char *name, berth_error *err)
{
	berth_error e = { 0 };
	int r;

	if (!STREQ(cname, name)) {
		r = berth_link_set_name(cont, cifindex, name, &e);
		if (r == -EEXIST)
			return 0;
		if (r < 0) {
			*err = e;
			return r;
		}
	}
	r = berth_link_set_netns(cont, cifindex, hostfd, NULL, &e);
	if (r == 0)
		return 1;
	if (!STREQ(cname, name))
		(void)berth_link_set_name(cont, cifindex, cname, err);
	if (r == -EEXIST)
		return 0;
	*err = e;
	return r;
}

/* Move the container's link (cont in nsfd, cifindex) to the host netns under `name` (or a
 * fallback name); its host ifindex in *ret_ifindex. */
static int move_out(struct berth_nl *cont, int nsfd, struct berth_nl *host, int cifindex,
		    const char *name, int *ret_ifindex, berth_error *err)
{
	_cleanup_close_ int hostfd = -1;
	struct berth_link l;
	berth_error ign = { 0 };
	char got[IF_NAMESIZE];
	int r;

	if ((r = berth_netns_open_current(&hostfd, err)) < 0 ||
	    (r = berth_link_get_by_index(cont, cifindex, &l, err)) < 0)
		return r;
	/* a link is renamed only when down; the move takes it down anyway */
	if (l.flags & IFF_UP)
		(void)berth_link_set_up(cont, cifindex, false, &ign);
	r = move_out_fast(cont, cifindex, l.name, hostfd, name, err);
	if (r == 1)
		snprintf(got, sizeof(got), "%s", name);
	else if (r == 0)
		r = move_named(cont, nsfd, cifindex, hostfd, name, true, got, err);
	if (r < 0)
		return berth_error_prefix(err, "failed to move %s back to the host netns", name);
	if ((r = berth_link_get_by_name(host, got, &l, err)) < 0)
		return r;
	*ret_ifindex = l.ifindex;
	return 0;
}

/* ---- verbs ------------------------------------------------------------------------------- */

static int cmd_add(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	struct hd_conf c;
	_cleanup_close_ int nsfd = -1, hostfd = -1;
	_cleanup_nl_ struct berth_nl *host = NULL, *cont = NULL;
	_cleanup_cni_result_ struct berth_cni_result *res = NULL, *ipam = NULL;
	_cleanup_free_ struct hd_state *s = calloc(1, sizeof(*s));
	char got[IF_NAMESIZE];
	struct berth_link hl = { 0 }, cl = { 0 };
	char mac[BERTH_MAC_STRLEN] = "", who[512];
	berth_error ign = { 0 };
	bool ipam_done = false;
	int r, hidx = 0;

	if (!s)
		return oom(err);
	if ((r = parse_conf(call->config, &c, err)) < 0)
		return r;
	if ((r = berth_netns_open(call->netns, &nsfd, err)) < 0 ||
	    (r = berth_nl_open(-1, &host, err)) < 0 || (r = berth_nl_open(nsfd, &cont, err)) < 0)
		return r;
	res = berth_cni_result_new(call->version);
	if (!res)
		return oom(err);
	if (c.dpdk) {
		/* a userspace driver owns the device: nothing to move */
		if (berth_cni_result_add_interface(res, call->ifname, NULL, call->netns) < 0)
			return oom(err);
		goto ipam;
	}
	r = find_link(host, &c, &hl, err);
	if (r == -ENODEV && c.device && held_by(c.device, who, sizeof(who)))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EBUSY,
				       "failed to find host device: %s is in the netns of %s",
				       c.device, who);
	if (r < 0)
		return r;
	if ((r = record(host, &hl, call->netns, s, err)) < 0 || (r = state_write(call, s, err)) < 0)
		return r;
	BERTH_FAULT_POINT("host-device-after-state");
	/* the reference's record of the name (its DEL reads it) */
	if ((r = berth_link_set_alias(host, hl.ifindex, hl.name, err)) < 0)
		goto undo_alias;
	if ((r = berth_netns_open_current(&hostfd, err)) < 0)
		goto undo_alias;
	r = move_in_fast(host, hostfd, hl.ifindex, hl.name, cont, nsfd, call->ifname, err);
	if (r == 0)
		r = move_named(host, hostfd, hl.ifindex, nsfd, call->ifname, false, got, err);
	if (r < 0) {
		berth_error_prefix(err, "failed to move %s to the container as %s", hl.name,
				   call->ifname);
		goto undo_alias;
	}
	BERTH_FAULT_POINT("host-device-after-move");
	if ((r = berth_link_get_by_name(cont, call->ifname, &cl, err)) < 0)
		goto undo_move;
	if ((r = berth_link_set_up(cont, cl.ifindex, true, err)) < 0) {
		berth_error_prefix(err, "failed to set %s up", call->ifname);
		goto undo_move;
	}
	if (cl.mac_len == BERTH_MAC_LEN)
		berth_mac_format(cl.mac, mac);
	if (berth_cni_result_add_interface(res, call->ifname, mac, call->netns) < 0) {
		r = oom(err);
		goto undo_move;
	}
ipam:
	if (c.ipam_type) {
		if ((r = berth_cni_delegate(call, c.ipam_type, "ADD", &ipam, err)) < 0)
			goto undo_move;
		ipam_done = true;
		BERTH_FAULT_POINT("host-device-after-ipam");
		if ((r = berth_cni_result_add_ipam(res, ipam, err)) < 0)
			goto undo_move;
		if (!c.dpdk &&
		    (r = berth_iface_configure(nsfd, cont, cl.ifindex, call->ifname, res, 0, err)) < 0)
			goto undo_move;
	}
	if (c.dns && (r = berth_cni_result_set_dns(res, call->version, c.dns, err)) < 0)
		goto undo_move;
	BERTH_FAULT_POINT("host-device-before-result");
	*ret = TAKE_PTR(res);
	return 0;

undo_move:
	if (ipam_done)
		berth_cni_delegate_undo(call, c.ipam_type);
	if (c.dpdk)
		return r;
	if (cl.ifindex && move_out(cont, nsfd, host, cl.ifindex, s->device, &hidx, &ign) == 0) {
		if (restore(host, hidx, s, &ign) < 0)
			berth_log_warn("undo: %s", ign.msg);
	} else if (cl.ifindex) {
		berth_log_warn("undo: %s", ign.msg);
	}
	goto undo_state;
undo_alias:
	/* the link is in the host netns, under its name: a move takes its addresses */
	{
		struct berth_link l2;

		if (berth_link_get_by_name(host, s->device, &l2, &ign) == 0)
			(void)restore(host, l2.ifindex, s, &ign);
	}
undo_state:
	state_remove(call);
	return r;
}

/* Bring the attachment's link home: from the container netns (nsfd >= 0) when it is there,
 * else from wherever the kernel put it in the host netns.  s may be NULL (no state file: an
 * ADD of the reference plugin, whose alias holds the name). */
static int bring_back(const struct berth_cni_call *call, int nsfd, const struct hd_state *s,
		      berth_error *err)
{
	_cleanup_nl_ struct berth_nl *host = NULL, *cont = NULL;
	struct berth_link l;
	berth_error e = { 0 };
	int r, hidx = 0;

	if ((r = berth_nl_open(-1, &host, err)) < 0)
		return r;
	if (nsfd >= 0) {
		if ((r = berth_nl_open(nsfd, &cont, err)) < 0)
			return r;
		r = berth_link_get_by_name(cont, call->ifname, &l, &e);
		if (r < 0 && r != -ENODEV) {
			*err = e;
			return r;
		}
		if (r == 0) {
			bool ours = s ? ((s->mac_len && !memcmp(l.mac, s->mac, BERTH_MAC_LEN)) ||
					 STREQ(l.alias, s->device))
				      : *l.alias && component_ok(l.alias) &&
						strlen(l.alias) < IF_NAMESIZE;

			if (!ours) {
				berth_log_warn("DEL: %s in %s is not the host device of this "
					       "attachment; left alone",
					       call->ifname, call->netns);
			} else {
				const char *name = s ? s->device : l.alias;
				struct hd_state plain;

				if ((r = move_out(cont, nsfd, host, l.ifindex, name, &hidx, err)) < 0)
					return r;
				BERTH_FAULT_POINT("host-device-del-after-move");
				if (!s) {
					/* the reference leaves the link down, alias unset */
					memset(&plain, 0, sizeof(plain));
					snprintf(plain.device, sizeof(plain.device), "%s", name);
					s = &plain;
				}
				return restore(host, hidx, s, err);
			}
		}
	}
	if (!s)
		return 0;
	/* not in the container: back in the host netns (its netns died, or a DEL was
	 * interrupted after the move), or destroyed with the netns (a virtual link) */
	r = find_in_host(host, s, &l, &e);
	if (r == -ENODEV)
		return 0;
	if (r < 0) {
		*err = e;
		return r;
	}
	return restore(host, l.ifindex, s, err);
}

static int del_attachment(const struct berth_cni_call *call, const char *netns, berth_error *err)
{
	_cleanup_close_ int nsfd = -1;
	_cleanup_free_ struct hd_state *s = calloc(1, sizeof(*s));
	berth_error e = { 0 };
	int r, have;

	if (!s)
		return oom(err);
	have = state_read(call, s, err);
	if (have < 0)
		return have;
	if (netns && *netns && berth_netns_open(netns, &nsfd, &e) < 0)
		nsfd = -1;
	if ((r = bring_back(call, nsfd, have ? s : NULL, err)) < 0)
		return r;
	state_remove(call);
	return 0;
}

static int cmd_del(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	struct hd_conf c;
	const char *ipam_type = NULL;
	berth_error perr = { 0 };
	int r;

	if (parse_conf(call->config, &c, &perr) < 0) {
		json_t *ipam = json_object_get(call->config, "ipam");
		const char *t = json_string_value(json_object_get(ipam, "type"));

		berth_log_warn("DEL: ignoring config error: %s", perr.msg);
		if (t && *t && !strchr(t, '/'))
			ipam_type = t;
	} else {
		ipam_type = c.ipam_type;
	}
	if (!berth_path_component_ok(call->name))
		return 0;
	if ((r = berth_cni_ipam_del(call, ipam_type, true, err)) < 0 ||
	    (r = del_attachment(call, call->netns_gone ? NULL : call->netns, err)) < 0)
		return r;
	return berth_cni_ipam_del(call, ipam_type, false, err);
}

static int cmd_check(const struct berth_cni_call *call, struct berth_cni_result **ret,
		     berth_error *err)
{
	struct hd_conf c;
	_cleanup_close_ int nsfd = -1;
	_cleanup_nl_ struct berth_nl *cont = NULL;
	const struct berth_cni_result *prev = call->prev_result;
	const struct berth_cni_interface *in;
	struct berth_link l;
	char mac[BERTH_MAC_STRLEN];
	int ci = -1, r;

	if ((r = parse_conf(call->config, &c, err)) < 0)
		return r;
	if (c.ipam_type && (r = berth_cni_delegate(call, c.ipam_type, "CHECK", NULL, err)) < 0)
		return r;
	if (!prev)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "Required prevResult missing");
	if (c.dpdk)
		return 0;
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
	    (r = berth_nl_open(nsfd, &cont, err)) < 0)
		return r;
	if (berth_link_get_by_name(cont, call->ifname, &l, err) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENODEV,
				       "Container Interface name in prevResult: %s not found",
				       call->ifname);
	if (in->mac && *in->mac && !STREQ(in->mac, berth_mac_format(l.mac, mac)))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL,
				       "Interface %s Mac %s doesn't match container Mac: %s",
				       call->ifname, in->mac, mac);
	return berth_iface_check(cont, l.ifindex, call->ifname, prev, ci, err);
}

static int cmd_status(const struct berth_cni_call *call, struct berth_cni_result **ret,
		      berth_error *err)
{
	json_t *ipam = json_object_get(call->config, "ipam");
	const char *t = json_string_value(json_object_get(ipam, "type"));

	if (t && *t)
		return berth_cni_delegate(call, t, "STATUS", NULL, err);
	return 0;
}

/* State files of this network whose attachment is no longer valid: DEL's work for each. */
static int gc_states(const struct berth_cni_call *call, const struct berth_cni_attachment *valid,
		     size_t n_valid, berth_error *err)
{
	char dir[PATH_MAX];
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *e;
	int ret = 0;

	snprintf(dir, sizeof(dir), "%s/%s", state_dir(), call->name);
	if (!(d = opendir(dir)))
		return 0;
	while ((e = readdir(d))) {
		char id[256], ifname[IF_NAMESIZE + 8], *at, *dot;
		struct berth_cni_call sub = *call;
		char path[PATH_MAX * 2];
		_cleanup_free_ struct hd_state *s = calloc(1, sizeof(*s));
		berth_error se = { 0 };

		if (!s)
			return oom(err);
		if (e->d_name[0] == '.' || !(at = strchr(e->d_name, '@')) ||
		    !(dot = strrchr(e->d_name, '.')) || dot < at ||
		    (size_t)(at - e->d_name) >= sizeof(id) ||
		    (size_t)(dot - at - 1) >= sizeof(ifname))
			continue;
		snprintf(id, sizeof(id), "%.*s", (int)(at - e->d_name), e->d_name);
		snprintf(ifname, sizeof(ifname), "%.*s", (int)(dot - at - 1), at + 1);
		if (berth_cni_attachment_valid(valid, n_valid, id, ifname))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (state_read_path(path, s, &se) != 1)
			continue;
		berth_log_info("GC: bringing %s of %s/%s back", s->device, id, ifname);
		sub.container_id = id;
		sub.ifname = ifname;
		if (del_attachment(&sub, s->netns, &se) < 0 && ret == 0) {
			*err = se;
			ret = -EIO;
		}
	}
	return ret;
}

static int cmd_gc(const struct berth_cni_call *call, struct berth_cni_result **ret,
		  berth_error *err)
{
	struct berth_cni_attachment *valid = NULL;
	size_t n_valid = 0;
	bool present = false;
	struct hd_conf c;
	berth_error perr = { 0 };
	int r, rg = 0;

	if (parse_conf(call->config, &c, &perr) < 0)
		c.ipam_type = json_string_value(
			json_object_get(json_object_get(call->config, "ipam"), "type"));
	if ((r = berth_cni_valid_attachments(call->config, &valid, &n_valid, &present, err)) < 0)
		return r;
	if (present && berth_path_component_ok(call->name))
		rg = gc_states(call, valid, n_valid, err);
	berth_cni_attachments_free(valid, n_valid);
	if (c.ipam_type && *c.ipam_type && (r = berth_cni_delegate(call, c.ipam_type, "GC", NULL,
								     rg < 0 ? &perr : err)) < 0 &&
	    rg == 0)
		return r;
	return rg;
}

int main(int argc, char **argv)
{
	static const struct berth_cni_plugin plugin = {
		.name = "host-device",
		.add = cmd_add,
		.del = cmd_del,
		.check = cmd_check,
		.status = cmd_status,
		.gc = cmd_gc,
	};

	berth_cni_delegate_builtin(&berth_host_local_plugin);
	return berth_plugin_main(&plugin, argc, argv);
}
