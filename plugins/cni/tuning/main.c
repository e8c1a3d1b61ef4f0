/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tuning: a chained plugin that adjusts the container interface made by the plugin before it:
 * net.* sysctls inside the container netns, MAC, MTU, promiscuous and all-multicast mode and
 * the transmit queue length.  Same config schema as the reference tuning plugin.  The values
 * it replaces are saved on ADD in <dataDir>/<containerID>_<ifname>.json (the reference's file
 * name and keys, so a host can switch plugins between ADD and DEL) and put back on DEL.
 * Beyond the reference: sysctls are saved and restored too, a failed sysctl write is rolled
 * back, DEL removes the saved file when the netns or interface is already gone, and GC removes
 * files of this network whose attachment is no longer valid.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/fault.h"
#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/cniargs.h"
#include "berth/file.h"
#include "berth/json.h"
#include "berth/link.h"
#include "berth/log.h"
#include "berth/netns.h"
#include "berth/nl.h"
#include "berth/cni-skel.h"
#include "berth/sysctl.h"

#define DEFAULT_DATA_DIR "/run/cni/tuning"
#define DEFAULT_ALLOWLIST BERTH_SYSCONFDIR "/cni/tuning/allowlist.conf"
/* Keys of ours in the saved file; the reference ignores unknown keys. */
#define KEY_SYSCTL "berth.sysctl"
#define KEY_NETWORK "berth.network"

struct tuning_conf {
	const char *data_dir;
	json_t *sysctl; /* owned: object of key -> string, config then args.cni.sysctl */
	const char *mac_str; /* as given: the reference puts it in the result verbatim */
	char *env_mac;       /* owned: CNI_ARGS MAC */
	uint8_t mac[6];
	bool promisc;
	int mtu;
	bool has_allmulti, allmulti;
	bool has_txqlen;
	int txqlen;
};

static void tuning_conf_done(struct tuning_conf *c)
{
	if (c->sysctl)
		json_decref(c->sysctl);
	free(c->env_mac);
}

static int bad_key(berth_error *err, const char *key)
{
	return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
			       "invalid net sysctl key: \"%s\"", key);
}

/* Go decodes into plain bool/int fields: a string "true" is an error there, and here. */
static int get_bool(json_t *o, const char *what, const char *key, bool *ret, bool *present,
		    berth_error *err)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s%s must be a boolean", what, key);
	*ret = json_is_true(v);
	if (present)
		*present = true;
	return 0;
}

static int get_int(json_t *o, const char *what, const char *key, int *ret, bool *present,
		   berth_error *err)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s%s must be a non-negative integer", what, key);
	*ret = (int)json_integer_value(v);
	if (present)
		*present = true;
	return 0;
}

static int get_str(json_t *o, const char *what, const char *key, const char **ret,
		   berth_error *err)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s%s must be a string", what, key);
	*ret = json_string_value(v);
	return 1;
}

static int merge_sysctl(json_t *into, json_t *o, const char *what, berth_error *err)
{
	json_t *s = json_object_get(o, "sysctl"), *v;
	const char *k;

	if (!s || json_is_null(s))
		return 0;
	if (!json_is_object(s))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%ssysctl must be an object of strings", what);
	json_object_foreach(s, k, v) {
		if (!json_is_string(v))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "%ssysctl[\"%s\"] must be a string", what, k);
		if (json_object_set(into, k, v) < 0)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	}
	return 0;
}

static int parse_conf(const struct berth_cni_call *call, struct tuning_conf *c, berth_error *err)
{
	static const char *const known[] = {"MAC", NULL};
	json_t *cfg = call->config, *rc, *args;
	const char *s = NULL;
	int r;

	memset(c, 0, sizeof(*c));
	c->data_dir = DEFAULT_DATA_DIR;
	if (!(c->sysctl = json_object()))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	if ((r = get_str(cfg, "", "dataDir", &s, err)) < 0)
		return r;
	if (s && *s)
		c->data_dir = s;
	if ((r = merge_sysctl(c->sysctl, cfg, "", err)) < 0 ||
	    (r = get_str(cfg, "", "mac", &c->mac_str, err)) < 0 ||
	    (r = get_bool(cfg, "", "promisc", &c->promisc, NULL, err)) < 0 ||
	    (r = get_int(cfg, "", "mtu", &c->mtu, NULL, err)) < 0 ||
	    (r = get_bool(cfg, "", "allmulti", &c->allmulti, &c->has_allmulti, err)) < 0 ||
	    (r = get_int(cfg, "", "txQLen", &c->txqlen, &c->has_txqlen, err)) < 0)
		return r;

	/* The reference's order: CNI_ARGS MAC, then runtimeConfig.mac, then args.cni.* */
	if ((r = berth_cni_args_parse(call->args, known, &c->env_mac, err)) < 0)
		return r;
	if (c->env_mac && *c->env_mac)
		c->mac_str = c->env_mac;
	rc = json_object_get(cfg, "runtimeConfig");
	if (json_is_object(rc) && get_str(rc, "runtimeConfig.", "mac", &s, err) > 0 && *s)
		c->mac_str = s;
	args = json_object_get(cfg, "args");
	args = json_is_object(args) ? json_object_get(args, "cni") : NULL;
	if (json_is_object(args)) {
		if ((r = merge_sysctl(c->sysctl, args, "args.cni.", err)) < 0 ||
		    (r = get_str(args, "args.cni.", "mac", &c->mac_str, err)) < 0 ||
		    (r = get_bool(args, "args.cni.", "promisc", &c->promisc, NULL, err)) < 0 ||
		    (r = get_int(args, "args.cni.", "mtu", &c->mtu, NULL, err)) < 0 ||
		    (r = get_bool(args, "args.cni.", "allmulti", &c->allmulti, &c->has_allmulti,
				  err)) < 0 ||
		    (r = get_int(args, "args.cni.", "txQLen", &c->txqlen, &c->has_txqlen, err)) < 0)
			return r;
	}
	if (c->mac_str && !*c->mac_str)
		c->mac_str = NULL;
	if (c->mac_str && berth_mac_parse(c->mac_str, c->mac) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "invalid MAC address \"%s\"", c->mac_str);
	return 0;
}

/* Key as the reference maps it: dots become slashes (unless the key already uses slashes,
 * which lets interface names with dots through), the first IFNAME becomes the interface, and
 * the result must stay under net/. */
static int sysctl_path(const char *key, const char *ifname, char *buf, size_t len,
		       berth_error *err)
{
	char tmp[256];
	const char *p;
	size_t n;

	if (strlen(key) >= sizeof(tmp))
		return bad_key(err, key);
	strcpy(tmp, key);
	if (!strchr(tmp, '/'))
		for (char *c = tmp; *c; c++)
			if (*c == '.')
				*c = '/';
	p = strstr(tmp, "IFNAME");
	if (p)
		n = (size_t)snprintf(buf, len, "%.*s%s%s", (int)(p - tmp), tmp, ifname,
				     p + strlen("IFNAME"));
	else
		n = (size_t)snprintf(buf, len, "%s", tmp);
	if (n >= len || strncmp(buf, "net/", 4) != 0)
		return bad_key(err, key);
	for (p = buf; *p; p += strcspn(p, "/") + (p[strcspn(p, "/")] == '/')) {
		size_t cl = strcspn(p, "/");
		if (cl == 0 || (cl == 1 && p[0] == '.') || (cl == 2 && p[0] == '.' && p[1] == '.'))
			return bad_key(err, key);
	}
	return 0;
}

/* /etc/cni/tuning/allowlist.conf: one regular expression a line; when the file exists every
 * sysctl key must match one of them (unanchored, as Go's regexp.MatchString).
 * BERTH_TUNING_ALLOWLIST points elsewhere (tests). */
static int check_allowlist(json_t *sysctl, berth_error *err)
{
	const char *path = getenv("BERTH_TUNING_ALLOWLIST");
	_cleanup_free_ char *data = NULL;
	char *line, *save = NULL;
	regex_t res[64];
	size_t n_res = 0, len;
	const char *key;
	json_t *v;
	int r = 0;

	if (!path || !*path)
		path = DEFAULT_ALLOWLIST;
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	if ((r = berth_read_file(path, 1 << 20, &data, &len, err)) < 0)
		return r;
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *end = line + strlen(line);
		while (*line == ' ' || *line == '\t' || *line == '\r')
			line++;
		while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			*--end = '\0';
		if (!*line)
			continue;
		if (n_res == ARRAY_SIZE(res)) {
			r = berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, E2BIG,
					    "%s: too many lines", path);
			goto out;
		}
		if (regcomp(&res[n_res], line, REG_EXTENDED | REG_NOSUB) != 0) {
			r = berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					    "%s: invalid regular expression \"%s\"", path, line);
			goto out;
		}
		n_res++;
	}
	json_object_foreach(sysctl, key, v) {
		size_t i;
		for (i = 0; i < n_res; i++)
			if (regexec(&res[i], key, 0, NULL, 0) == 0)
				break;
		if (i == n_res) {
			r = berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EPERM,
					    "Sysctl %s is not allowed by %s", key, path);
			goto out;
		}
	}
out:
	for (size_t i = 0; i < n_res; i++)
		regfree(&res[i]);
	return r;
}

static int backup_path(const struct tuning_conf *c, const struct berth_cni_call *call, char *buf,
		       size_t len, berth_error *err)
{
	if ((size_t)snprintf(buf, len, "%s/%s_%s.json", c->data_dir, call->container_id,
			     call->ifname) >= len)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ENAMETOOLONG,
				       "dataDir \"%s\" is too long", c->data_dir);
	return 0;
}

struct txq {
	const char *ifname;
	int qlen;
};

/* berth_link has no txqlen; SIOCGIFTXQLEN on a socket of the container netns reads it. */
static int read_txqlen_fn(void *userdata, berth_error *err)
{
	struct txq *t = userdata;
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = {0};

	if (fd < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "socket");
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t->ifname);
	if (ioctl(fd, SIOCGIFTXQLEN, &ifr) < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "failed to read txqlen of %s",
					 t->ifname);
	t->qlen = ifr.ifr_qlen;
	return 0;
}

static int read_txqlen(int nsfd, const char *ifname, int *ret, berth_error *err)
{
	struct txq t = {ifname, 0};
	int r = berth_netns_run(nsfd, read_txqlen_fn, &t, err);

	if (r >= 0)
		*ret = t.qlen;
	return r;
}

static bool link_attrs_requested(const struct tuning_conf *c)
{
	return c->mac_str || c->mtu || c->promisc || c->has_allmulti || c->has_txqlen;
}

static void rollback_sysctls(int nsfd, json_t *saved)
{
	berth_error e = {0};
	const char *k;
	json_t *o;

	json_object_foreach(saved, k, o) {
		berth_sysctl_write_in(nsfd, k, json_string_value(o), &e);
	}
}

/* Write the sysctls, recording the old values in saved (key path -> old value); on failure
 * the ones already written are put back. */
static int apply_sysctls(int nsfd, const struct tuning_conf *c, const char *ifname, json_t *saved,
			 berth_error *err)
{
	const char *key;
	json_t *v;
	int r = 0;

	json_object_foreach(c->sysctl, key, v) {
		char path[300], old[4096];

		if ((r = sysctl_path(key, ifname, path, sizeof(path), err)) < 0)
			break;
		if ((r = berth_sysctl_read_in(nsfd, path, old, sizeof(old), err)) < 0)
			break;
		/* the first old value wins when two keys map to one file */
		if (!json_object_get(saved, path) &&
		    json_object_set_new(saved, path, json_string(old)) < 0) {
			r = berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
			break;
		}
		if ((r = berth_sysctl_write_in(nsfd, path, json_string_value(v), err)) < 0)
			break;
	}
	if (r < 0)
		rollback_sysctls(nsfd, saved);
	return r;
}

static int write_backup(const struct tuning_conf *c, const struct berth_cni_call *call,
			const struct berth_link *l, int txqlen, json_t *saved_sysctl,
			berth_error *err)
{
	_cleanup_json_ json_t *j = json_object();
	_cleanup_free_ char *data = NULL;
	char path[PATH_MAX], mac[BERTH_MAC_STRLEN];
	int r;

	if (!j)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	/* The reference's keys, in its order; only what this call changes is saved. */
	if (l && c->mac_str)
		json_object_set_new(j, "mac", json_string(berth_mac_format(l->mac, mac)));
	if (l && c->promisc)
		json_object_set_new(j, "promisc", json_boolean(l->flags & IFF_PROMISC));
	if (l && c->mtu)
		json_object_set_new(j, "mtu", json_integer(l->mtu));
	if (l && c->has_allmulti)
		json_object_set_new(j, "allmulti", json_boolean(l->flags & IFF_ALLMULTI));
	if (l && c->has_txqlen)
		json_object_set_new(j, "txQLen", json_integer(txqlen));
	if (json_object_size(saved_sysctl))
		json_object_set(j, KEY_SYSCTL, saved_sysctl);
	json_object_set_new(j, KEY_NETWORK, json_string(call->name));
	if (!(data = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER)))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	if ((r = berth_mkdir_p(c->data_dir, 0700, err)) < 0 ||
	    (r = backup_path(c, call, path, sizeof(path), err)) < 0)
		return r;
	return berth_write_file_atomic(path, data, strlen(data), 0600, false, err);
}

static int apply_link(struct berth_nl *nl, const struct tuning_conf *c, int ifindex,
		      berth_error *err)
{
	int r = 0;

	if (c->mac_str && (r = berth_link_set_mac(nl, ifindex, c->mac, err)) < 0)
		return r;
	if (c->promisc && (r = berth_link_set_promisc(nl, ifindex, true, err)) < 0)
		return r;
	if (c->mtu && (r = berth_link_set_mtu(nl, ifindex, c->mtu, err)) < 0)
		return r;
	if (c->has_allmulti && (r = berth_link_set_allmulti(nl, ifindex, c->allmulti, err)) < 0)
		return r;
	if (c->has_txqlen && (r = berth_link_set_txqlen(nl, ifindex, c->txqlen, err)) < 0)
		return r;
	return 0;
}

static int cmd_add(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	_cleanup_(tuning_conf_done) struct tuning_conf c = {0};
	_cleanup_cni_result_ struct berth_cni_result *res = NULL;
	_cleanup_json_ json_t *saved = json_object();
	_cleanup_nl_ struct berth_nl *nl = NULL;
	_cleanup_close_ int nsfd = -1;
	struct berth_link l;
	int r, txqlen = 0;

	if ((r = parse_conf(call, &c, err)) < 0 || (r = check_allowlist(c.sysctl, err)) < 0)
		return r;
	if (!call->prev_result)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "Required prevResult missing");
	if (!saved)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	if ((r = berth_netns_open(call->netns, &nsfd, err)) < 0)
		return r;
	/* Look the link up first: nothing is changed when it is missing. */
	if (link_attrs_requested(&c)) {
		if ((r = berth_nl_open(nsfd, &nl, err)) < 0 ||
		    (r = berth_link_get_by_name(nl, call->ifname, &l, err)) < 0)
			return berth_error_prefix(err, "failed to get \"%s\"", call->ifname);
		if (c.has_txqlen && (r = read_txqlen(nsfd, call->ifname, &txqlen, err)) < 0)
			return r;
	}
	if ((r = apply_sysctls(nsfd, &c, call->ifname, saved, err)) < 0)
		return r;
	/* Saved before the link changes, so that a DEL after a half-done ADD restores. */
	if (link_attrs_requested(&c) || json_object_size(saved)) {
		r = write_backup(&c, call, link_attrs_requested(&c) ? &l : NULL, txqlen, saved, err);
		if (r < 0) {
			rollback_sysctls(nsfd, saved);
			return r;
		}
		BERTH_FAULT_POINT("tuning-after-backup");
	}
	if (link_attrs_requested(&c) && (r = apply_link(nl, &c, l.ifindex, err)) < 0)
		return r;

	if (!(res = berth_cni_result_copy(call->prev_result)))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	/* As the reference: every interface of that name gets the configured MAC string. */
	for (size_t i = 0; c.mac_str && i < res->n_interfaces; i++)
		if (res->interfaces[i].name && STREQ(res->interfaces[i].name, call->ifname) &&
		    berth_cni_set_str(&res->interfaces[i].mac, c.mac_str) < 0)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	*ret = TAKE_PTR(res);
	return 0;
}

/* Put back what the saved file records; errors are collected, not fatal. */
static int restore(int nsfd, const char *ifname, json_t *b, berth_error *err)
{
	_cleanup_nl_ struct berth_nl *nl = NULL;
	struct berth_link l;
	char errs[BERTH_ERROR_MSG_MAX] = "";
	berth_error e = {0};
	json_t *v, *sysctl = json_object_get(b, KEY_SYSCTL);
	const char *key;
	void *tmp;
	int r;

	if ((r = berth_nl_open(nsfd, &nl, err)) < 0)
		return r;
	r = berth_link_get_by_name(nl, ifname, &l, &e);
	if (r == -ENODEV)
		return 0; /* nothing left to restore on */
	if (r < 0) {
		*err = e;
		return r;
	}
#define NOTE(what)                                                                                 \
	snprintf(errs + strlen(errs), sizeof(errs) - strlen(errs), "%sfailed to restore " what   \
		 ": %s", errs[0] ? "; " : "", e.msg)
	if ((v = json_object_get(b, "mtu")) && json_integer_value(v) > 0 &&
	    berth_link_set_mtu(nl, l.ifindex, (int)json_integer_value(v), &e) < 0)
		NOTE("MTU");
	if ((v = json_object_get(b, "mac")) && json_is_string(v) && *json_string_value(v)) {
		uint8_t mac[6];
		if (berth_mac_parse(json_string_value(v), mac) < 0) {
			berth_error_set(&e, 0, EINVAL, "invalid MAC \"%s\"", json_string_value(v));
			NOTE("MAC address");
		} else if (berth_link_set_mac(nl, l.ifindex, mac, &e) < 0)
			NOTE("MAC address");
	}
	if ((v = json_object_get(b, "promisc")) && json_is_boolean(v) &&
	    berth_link_set_promisc(nl, l.ifindex, json_is_true(v), &e) < 0)
		NOTE("promiscuous mode");
	if ((v = json_object_get(b, "allmulti")) && json_is_boolean(v) &&
	    berth_link_set_allmulti(nl, l.ifindex, json_is_true(v), &e) < 0)
		NOTE("all-multicast mode");
	if ((v = json_object_get(b, "txQLen")) && json_is_integer(v) &&
	    berth_link_set_txqlen(nl, l.ifindex, (int)json_integer_value(v), &e) < 0)
		NOTE("transmit queue length");
	if (json_is_object(sysctl)) {
		json_object_foreach_safe(sysctl, tmp, key, v) {
			/* a per-interface key of an interface that went away is fine */
			if (json_is_string(v) &&
			    berth_sysctl_write_in(nsfd, key, json_string_value(v), &e) < 0 &&
			    e.errnum != ENOENT)
				NOTE("sysctl");
		}
	}
#undef NOTE
	if (errs[0])
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EIO, "%s", errs);
	return 0;
}

static int cmd_del(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	_cleanup_(tuning_conf_done) struct tuning_conf c = {0};
	_cleanup_json_ json_t *b = NULL;
	_cleanup_close_ int nsfd = -1;
	char path[PATH_MAX];
	berth_error e = {0};
	int r;

	/* DEL must not fail on a config its ADD refused (a bad MAC, say), or the runtime retries
	 * it forever: only the data dir matters here. */
	if (parse_conf(call, &c, &e) < 0) {
		const char *dir = json_string_value(json_object_get(call->config, "dataDir"));
		berth_log_warn("ignoring config error on DEL: %s", e.msg);
		c.data_dir = dir && *dir ? dir : DEFAULT_DATA_DIR;
		e = (berth_error){0};
	}
	if ((r = backup_path(&c, call, path, sizeof(path), err)) < 0)
		return r;
	if (access(path, F_OK) < 0)
		return 0; /* nothing saved, nothing to put back */
	if (!call->netns || call->netns_gone || berth_netns_open(call->netns, &nsfd, &e) < 0) {
		/* The interface went with its netns: the saved values are of no use any more. */
		unlink(path);
		return 0;
	}
	if (berth_json_load_file(path, &b, &e) < 0 || !json_is_object(b)) {
		berth_log_warn("ignoring unreadable %s: %s", path, e.msg);
		unlink(path);
		return 0;
	}
	/* DEL is best effort, as in the reference: a failed restore is logged and the file kept
	 * so that a later DEL can try again. */
	if (restore(nsfd, call->ifname, b, &e) < 0) {
		berth_log_warn("%s: %s", call->ifname, e.msg);
		return 0;
	}
	if (unlink(path) < 0 && errno != ENOENT)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "failed to remove %s", path);
	return 0;
}

static int cmd_check(const struct berth_cni_call *call, struct berth_cni_result **ret,
		     berth_error *err)
{
	_cleanup_(tuning_conf_done) struct tuning_conf c = {0};
	_cleanup_nl_ struct berth_nl *nl = NULL;
	_cleanup_close_ int nsfd = -1;
	struct berth_link l;
	const char *key;
	json_t *v;
	int r;

	if ((r = parse_conf(call, &c, err)) < 0)
		return r;
	if (!call->prev_result)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "Required prevResult missing");
	if ((r = berth_netns_open(call->netns, &nsfd, err)) < 0)
		return r;
	json_object_foreach(c.sysctl, key, v) {
		char path[300], cur[4096];
		if ((r = sysctl_path(key, call->ifname, path, sizeof(path), err)) < 0 ||
		    (r = berth_sysctl_read_in(nsfd, path, cur, sizeof(cur), err)) < 0)
			return r;
		if (!STREQ(cur, json_string_value(v)))
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL,
					       "Error: Tuning configured value of %s is %s, current "
					       "value is %s",
					       path, json_string_value(v), cur);
	}
	if ((r = berth_nl_open(nsfd, &nl, err)) < 0)
		return r;
	if (berth_link_get_by_name(nl, call->ifname, &l, err) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENODEV,
				       "Cannot find container link %s", call->ifname);
	if (c.mac_str && memcmp(c.mac, l.mac, 6) != 0) {
		char cur[BERTH_MAC_STRLEN];
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL,
				       "Error: Tuning configured Ethernet of %s is %s, current value "
				       "is %s",
				       call->ifname, c.mac_str, berth_mac_format(l.mac, cur));
	}
	/* The reference also insists on promisc off when the config does not ask for it. */
	if (c.promisc != !!(l.flags & IFF_PROMISC))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL,
				       "Error: Tuning link %s configured promisc is %s, current value "
				       "is %d",
				       call->ifname, c.promisc ? "true" : "false",
				       !!(l.flags & IFF_PROMISC));
	if (c.mtu && c.mtu != l.mtu)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL,
				       "Error: Tuning configured MTU of %s is %d, current value is %d",
				       call->ifname, c.mtu, l.mtu);
	if (c.has_allmulti && c.allmulti != !!(l.flags & IFF_ALLMULTI))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL,
				       "Error: Tuning configured all-multicast mode of %s is %s, "
				       "current value is %s",
				       call->ifname, c.allmulti ? "true" : "false",
				       l.flags & IFF_ALLMULTI ? "true" : "false");
	if (c.has_txqlen) {
		int q = 0;
		if ((r = read_txqlen(nsfd, call->ifname, &q, err)) < 0)
			return r;
		if (q != c.txqlen)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL,
					       "Error: Tuning configured Transmit Queue Length of %s "
					       "is %d, current value is %d",
					       call->ifname, c.txqlen, q);
	}
	return 0;
}

/* Saved files of this network whose attachment is not valid any more. The data dir may be
 * shared by several networks (and by the reference plugin): only files that record this
 * network's name are candidates. */
static int cmd_gc(const struct berth_cni_call *call, struct berth_cni_result **ret,
		  berth_error *err)
{
	_cleanup_(tuning_conf_done) struct tuning_conf c = {0};
	_cleanup_closedir_ DIR *d = NULL;
	struct berth_cni_attachment *att = NULL;
	size_t n_att = 0;
	bool present = false;
	struct dirent *de;
	int r;

	if ((r = parse_conf(call, &c, err)) < 0)
		return r;
	if ((r = berth_cni_valid_attachments(call->config, &att, &n_att, &present, err)) < 0)
		return r;
	if (!present)
		goto out;
	if (!(d = opendir(c.data_dir)))
		goto out;
	while ((de = readdir(d))) {
		_cleanup_json_ json_t *b = NULL;
		berth_error e = {0};
		char path[PATH_MAX], want[PATH_MAX];
		json_t *net;
		bool valid = false;
		size_t len = strlen(de->d_name);

		if (len < 6 || !STREQ(de->d_name + len - 5, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", c.data_dir, de->d_name);
		if (berth_json_load_file(path, &b, &e) < 0 || !json_is_object(b))
			continue;
		net = json_object_get(b, KEY_NETWORK);
		if (!json_is_string(net) || !STREQ(json_string_value(net), call->name))
			continue;
		for (size_t i = 0; i < n_att && !valid; i++) {
			snprintf(want, sizeof(want), "%s_%s.json", att[i].container_id,
				 att[i].ifname);
			valid = STREQ(want, de->d_name);
		}
		if (!valid && unlink(path) < 0 && errno != ENOENT)
			berth_log_warn("failed to remove %s: %m", path);
	}
out:
	berth_cni_attachments_free(att, n_att);
	return 0;
}

/* Ready when the config is valid and ADD can save the previous values: dataDir is a writable
 * directory, or can be created under the nearest existing parent (not created here). */
static int cmd_status(const struct berth_cni_call *call, struct berth_cni_result **ret,
		      berth_error *err)
{
	_cleanup_(tuning_conf_done) struct tuning_conf c = {0};
	char dir[PATH_MAX];
	struct stat st;
	int r;

	if ((r = parse_conf(call, &c, err)) < 0)
		return r;
	if (snprintf(dir, sizeof(dir), "%s", c.data_dir) >= (int)sizeof(dir))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ENAMETOOLONG,
				       "dataDir \"%s\" is too long", c.data_dir);
	while (stat(dir, &st) < 0) {
		char *slash = strrchr(dir, '/');

		if (errno != ENOENT || !slash || slash == dir)
			break;
		*slash = '\0';
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_STATUS_NOT_READY, EACCES,
				       "dataDir %s cannot hold the saved values: %s is not a writable "
				       "directory",
				       c.data_dir, dir);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct berth_cni_plugin plugin = {
		.name = "tuning",
		.add = cmd_add,
		.del = cmd_del,
		.check = cmd_check,
		.status = cmd_status,
		.gc = cmd_gc,
	};
	return berth_plugin_main(&plugin, argc, argv);
}
