/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dnsname: a chained plugin that publishes each container's name and aliases, with the
 * addresses of prevResult, through one dnsmasq per network bound to the network's gateway
 * addresses, so that containers on the network find each other by name (the behaviour of
 * containers/dnsname).  The name is CNI_ARGS K8S_POD_NAME, else the container id; the aliases
 * come from runtimeConfig.aliases[<network name>].
 *
 * State per network, under /run/berth/dnsname/<network>/ ($BERTH_DNSNAME_DIR overrides the
 * base): `lock` (flock: every verb of one network runs one at a time), `records.json` (the
 * source of truth: one entry per container id + ifname), `addnhosts` (dnsmasq's hosts file,
 * regenerated from the records and renamed into place), `dnsmasq.conf` and `pidfile`.  dnsmasq
 * rereads the hosts file on SIGHUP; it is started by the first ADD and stopped, the directory
 * removed, when the last name goes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/addr.h"
#include "berth/cleanup.h"
#include "berth/cni-skel.h"
#include "berth/cni.h"
#include "berth/fault.h"
#include "berth/file.h"
#include "berth/json.h"
#include "berth/link.h"
#include "berth/log.h"
#include "berth/nl.h"
#include "dnsname.h"

#define DEFAULT_DOMAIN "dns.podman"
#define MAX_GW 8

struct dn_conf {
	const char *domain;
	json_t *aliases; /* array of strings or NULL (borrowed) */
};

struct dn_paths {
	char dir[PATH_MAX], lock[PATH_MAX], records[PATH_MAX], hosts[PATH_MAX], conf[PATH_MAX],
		pidfile[PATH_MAX];
};

/* A DNS name: labels of letters, digits, '-' and '_' (container names carry it), joined by
 * dots; nothing that the hosts file format would read differently. */
static bool name_ok(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-' || s[n - 1] == '.')
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

static int parse_conf(const struct berth_cni_call *call, struct dn_conf *c, berth_error *err)
{
	json_t *rc = NULL, *al = NULL, *v;
	size_t i;
	int r;

	c->domain = DEFAULT_DOMAIN;
	c->aliases = NULL;
	if ((r = berth_json_get_string(call->config, NULL, "domainName", false, &c->domain, err)) < 0)
		return r;
	if (!*c->domain)
		c->domain = DEFAULT_DOMAIN;
	if (!name_ok(c->domain))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "domainName: '%s' is not a valid domain name", c->domain);
	if ((r = berth_json_get_object(call->config, NULL, "runtimeConfig", false, &rc, err)) < 0)
		return r;
	if (rc && (r = berth_json_get_object(rc, "runtimeConfig", "aliases", false, &al, err)) < 0)
		return r;
	if (!al || !call->name)
		return 0;
	c->aliases = json_object_get(al, call->name);
	if (c->aliases && json_is_null(c->aliases))
		c->aliases = NULL;
	if (c->aliases && !json_is_array(c->aliases))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "runtimeConfig.aliases.%s: must be a list of names", call->name);
	json_array_foreach(c->aliases, i, v) {
		if (!json_is_string(v) || !name_ok(json_string_value(v)))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "runtimeConfig.aliases.%s[%zu]: '%s' is not a valid "
					       "DNS name",
					       call->name, i,
					       json_is_string(v) ? json_string_value(v) : "(not a string)");
	}
	return 0;
}

static int net_paths(const char *network, struct dn_paths *p, berth_error *err)
{
	const char *base = getenv("BERTH_DNSNAME_DIR");

	if (!base || !*base)
		base = "/run/berth/dnsname";
	if (!network || !berth_path_component_ok(network) || strlen(network) > 200)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "network name '%s' cannot name a directory",
				       network ? network : "");
	snprintf(p->dir, sizeof(p->dir), "%s/%s", base, network);
	snprintf(p->lock, sizeof(p->lock), "%s/lock", p->dir);
	snprintf(p->records, sizeof(p->records), "%s/records.json", p->dir);
	snprintf(p->hosts, sizeof(p->hosts), "%s/addnhosts", p->dir);
	snprintf(p->conf, sizeof(p->conf), "%s/dnsmasq.conf", p->dir);
	snprintf(p->pidfile, sizeof(p->pidfile), "%s/pidfile", p->dir);
	return 0;
}

/* flock the network's lock file.  The last DEL removes the directory: a waiter that then gets
 * the lock of the unlinked file tries again.  Without `create`, 0 and *ret_fd -1 when there is
 * no state. */
static int net_lock(const struct dn_paths *p, bool create, int *ret_fd, berth_error *err)
{
	for (;;) {
		_cleanup_close_ int fd = -1;
		struct stat a, b;
		int r;

		if (create && (r = berth_mkdir_p(p->dir, 0755, err)) < 0)
			return r;
		fd = open(p->lock, O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600);
		if (fd < 0) {
			if (!create && errno == ENOENT) {
				*ret_fd = -1;
				return 0;
			}
			if (create && errno == ENOENT)
				continue; /* the directory went between mkdir and open */
			return berth_error_errno(err, BERTH_CNI_ERR_IO, "open %s", p->lock);
		}
		while (flock(fd, LOCK_EX) < 0)
			if (errno != EINTR)
				return berth_error_errno(err, BERTH_CNI_ERR_IO, "flock %s", p->lock);
		if (fstat(fd, &a) == 0 && stat(p->lock, &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev) {
			*ret_fd = TAKE_FD(fd);
			return 0;
		}
	}
}

/* The records: a JSON array of {containerId, ifname, name, aliases[], ips[]}. */
static int load_records(const struct dn_paths *p, json_t **ret, berth_error *err)
{
	json_t *j = NULL, *v;
	int r;

	if (access(p->records, F_OK) < 0 && errno == ENOENT) {
		*ret = json_array();
		return *ret ? 0 : berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	}
	if ((r = berth_json_load_file(p->records, &j, err)) < 0)
		return berth_error_prefix(err, "%s", p->records);
	v = json_object_get(j, "entries");
	if (!json_is_array(v)) {
		json_decref(j);
		return berth_error_set(err, BERTH_CNI_ERR_IO, EINVAL, "%s: no entries list",
				       p->records);
	}
	*ret = json_incref(v);
	json_decref(j);
	return 0;
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* Write records.json, then addnhosts generated from them; each renamed into place. */
static int save_records(const struct dn_paths *p, json_t *entries, berth_error *err)
{
	_cleanup_json_ json_t *doc = json_pack("{s:i,s:O}", "version", 1, "entries", entries);
	_cleanup_free_ char *text = NULL, *hosts = NULL;
	size_t hlen = 0;
	FILE *f;
	json_t *e, *ip, *al;
	size_t i, k, m;
	int r;

	if (!doc || !(text = berth_json_dump(doc)))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	if ((r = berth_write_file_atomic(p->records, text, strlen(text), 0644, false, err)) < 0)
		return r;
	BERTH_FAULT_POINT("dnsname-after-records");
	if (!(f = open_memstream(&hosts, &hlen)))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	fputs("# generated by berth dnsname from records.json; do not edit\n", f);
	json_array_foreach(entries, i, e) {
		json_array_foreach(json_object_get(e, "ips"), k, ip) {
			fprintf(f, "%s\t%s", json_string_value(ip), jstr(e, "name"));
			json_array_foreach(json_object_get(e, "aliases"), m, al)
				fprintf(f, "\t%s", json_string_value(al));
			fputc('\n', f);
		}
	}
	if (fclose(f) != 0 || !hosts)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	return berth_write_file_atomic(p->hosts, hosts, hlen, 0644, false, err);
}

static char *render_conf(const struct dn_paths *p, const char *domain,
			 const struct berth_ip *gws, size_t n_gw)
{
	char *s = NULL, a[BERTH_IP_STRLEN];
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	fprintf(f,
		"## generated by berth dnsname; rewritten when the network's gateways change\n"
		"strict-order\n"
		"local=/%s/\n"
		"domain=%s\n"
		"expand-hosts\n"
		"domain-needed\n"
		"no-hosts\n"
		"bind-dynamic\n"
		"pid-file=%s\n"
		"addn-hosts=%s\n"
		"user=root\n",
		domain, domain, p->pidfile, p->hosts);
	for (size_t i = 0; i < n_gw; i++)
		fprintf(f, "listen-address=%s\n", berth_ip_format(&gws[i], a));
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* The container's addresses: those of prevResult's sandbox interfaces and those that name no
 * interface. */
static int container_ips(const struct berth_cni_result *prev, json_t **ret, berth_error *err)
{
	_cleanup_json_ json_t *a = json_array();
	char s[BERTH_IP_STRLEN];

	if (!a)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	for (size_t i = 0; i < prev->n_ips; i++) {
		int idx = prev->ips[i].interface;

		if (idx >= 0 && (size_t)idx < prev->n_interfaces &&
		    (!prev->interfaces[idx].sandbox || !*prev->interfaces[idx].sandbox))
			continue;
		if (json_array_append_new(a, json_string(berth_ip_format(&prev->ips[i].address.ip,
									  s))) < 0)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	}
	if (json_array_size(a) == 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "no ip address was found in the network");
	*ret = TAKE_PTR(a);
	return 0;
}

static bool have_ip(const struct berth_ip *v, size_t n, const struct berth_ip *ip)
{
	for (size_t i = 0; i < n; i++)
		if (berth_ip_equal(&v[i], ip))
			return true;
	return false;
}

/* The addresses dnsmasq serves on: the gateways of prevResult, else the global addresses of
 * its host-side interfaces (the bridge). */
static int gateways(const struct berth_cni_result *prev, struct berth_ip *gws, size_t *ret_n,
		    berth_error *err)
{
	size_t n = 0;
	int r;

	for (size_t i = 0; i < prev->n_ips && n < MAX_GW; i++)
		if (prev->ips[i].gateway.family && !have_ip(gws, n, &prev->ips[i].gateway))
			gws[n++] = prev->ips[i].gateway;
	for (size_t i = 0; i < prev->n_interfaces && n == 0; i++) {
		_cleanup_nl_ struct berth_nl *nl = NULL;
		_cleanup_free_ struct berth_addr *addrs = NULL;
		struct berth_link l;
		berth_error e = { 0 };
		size_t na = 0;

		if (prev->interfaces[i].sandbox && *prev->interfaces[i].sandbox)
			continue;
		if ((r = berth_nl_open(-1, &nl, err)) < 0)
			return r;
		if (berth_link_get_by_name(nl, prev->interfaces[i].name, &l, &e) < 0 ||
		    berth_addr_list(nl, l.ifindex, 0, &addrs, &na, &e) < 0)
			continue;
		for (size_t k = 0; k < na && n < MAX_GW; k++)
			if (addrs[k].scope == 0 /* universe */ &&
			    !have_ip(gws, n, &addrs[k].addr.ip))
				gws[n++] = addrs[k].addr.ip;
	}
	if (n == 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "no gateway address in prevResult and no address on its host "
				       "interface: nowhere to serve DNS (use the bridge plugin with "
				       "isGateway)");
	*ret_n = n;
	return 0;
}

/* Remove the entries of id+ifname (all entries when id is NULL and keep() says no); returns
 * how many went. */
static size_t drop_entries(json_t *entries, const char *id, const char *ifname,
			   const struct berth_cni_attachment *valid, size_t n_valid)
{
	size_t removed = 0;

	for (size_t i = json_array_size(entries); i-- > 0;) {
		json_t *e = json_array_get(entries, i);
		bool drop = id ? STREQ(jstr(e, "containerId"), id) && STREQ(jstr(e, "ifname"), ifname) :
				 !berth_cni_attachment_valid(valid, n_valid, jstr(e, "containerId"),
							     jstr(e, "ifname"));

		if (drop) {
			json_array_remove(entries, i);
			removed++;
		}
	}
	return removed;
}

/* The state after entries changed: the files written and dnsmasq told, or, with no entry left,
 * dnsmasq stopped and the directory removed (the lock file last, under the lock). */
static int apply_removal(const struct dn_paths *p, json_t *entries, berth_error *err)
{
	pid_t pid = dnsname_dnsmasq_pid(p->pidfile, p->conf);
	int r;

	if (json_array_size(entries) > 0) {
		if ((r = save_records(p, entries, err)) < 0)
			return r;
		BERTH_FAULT_POINT("dnsname-del-after-records");
		if (pid > 0)
			kill(pid, SIGHUP);
		return 0;
	}
	if (pid > 0)
		dnsname_dnsmasq_stop(pid);
	BERTH_FAULT_POINT("dnsname-del-after-stop");
	unlink(p->records);
	unlink(p->hosts);
	unlink(p->conf);
	unlink(p->pidfile);
	unlink(p->lock);
	rmdir(p->dir);
	return 0;
}

static int set_dns(struct berth_cni_result *res, const struct berth_ip *gws, size_t n_gw,
		   const char *domain, berth_error *err)
{
	size_t old_ns = 0, old_s = 0;
	char **ns, **s, a[BERTH_IP_STRLEN];
	bool have_domain = false;

	while (res->dns.nameservers && res->dns.nameservers[old_ns])
		old_ns++;
	while (res->dns.search && res->dns.search[old_s])
		have_domain |= STREQ(res->dns.search[old_s++], domain);
	if (!(ns = calloc(n_gw + old_ns + 1, sizeof(*ns))))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	/* ours first: they answer for the network's names */
	for (size_t i = 0; i < n_gw; i++)
		ns[i] = strdup(berth_ip_format(&gws[i], a));
	for (size_t i = 0; i < old_ns; i++)
		ns[n_gw + i] = res->dns.nameservers[i];
	free(res->dns.nameservers);
	res->dns.nameservers = ns;
	if (have_domain)
		return 0;
	if (!(s = realloc(res->dns.search, (old_s + 2) * sizeof(*s))))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	res->dns.search = s;
	s[old_s] = strdup(domain);
	s[old_s + 1] = NULL;
	for (size_t i = 0; i < n_gw; i++)
		if (!ns[i])
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	if (!s[old_s])
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	return 0;
}

/* The container's name: CNI_ARGS K8S_POD_NAME, else its id.  On DEL nothing depends on it. */
static int pod_name(const struct berth_cni_call *call, char **ret, berth_error *err)
{
	static const char *const known[] = { "K8S_POD_NAME", NULL };
	char *vals[1] = { NULL };
	int r;

	if ((r = berth_cni_args_parse(call->args, known, vals, err)) < 0)
		return r;
	if (vals[0] && *vals[0]) {
		if (!name_ok(vals[0])) {
			r = berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
					    "K8S_POD_NAME '%s' is not a valid DNS name", vals[0]);
			free(vals[0]);
			return r;
		}
		*ret = vals[0];
		return 0;
	}
	free(vals[0]);
	if (!name_ok(call->container_id))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
				       "container id '%s' is not a valid DNS name and no "
				       "K8S_POD_NAME was given",
				       call->container_id);
	return (*ret = strdup(call->container_id)) ? 0 :
		     berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
}

static int cmd_add(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	_cleanup_cni_result_ struct berth_cni_result *res = NULL;
	_cleanup_json_ json_t *ips = NULL, *entries = NULL, *old = NULL, *entry = NULL,
			      *aliases = NULL;
	_cleanup_free_ char *name = NULL, *bin = NULL, *conf = NULL, *cur_conf = NULL;
	_cleanup_close_ int lock = -1;
	struct berth_ip gws[MAX_GW];
	struct dn_conf c;
	struct dn_paths p;
	size_t n_gw = 0;
	pid_t pid;
	int r;

	if ((r = parse_conf(call, &c, err)) < 0)
		return r;
	if (!call->prev_result)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "must be called as chained plugin");
	if ((r = net_paths(call->name, &p, err)) < 0 || (r = pod_name(call, &name, err)) < 0 ||
	    (r = container_ips(call->prev_result, &ips, err)) < 0 ||
	    (r = gateways(call->prev_result, gws, &n_gw, err)) < 0)
		return r;
	if ((r = dnsname_dnsmasq_find(&bin, err)) < 0) {
		err->code = BERTH_CNI_ERR_INTERNAL;
		return r;
	}
	if (!(res = berth_cni_result_copy(call->prev_result)) ||
	    !(conf = render_conf(&p, c.domain, gws, n_gw)))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	if ((r = set_dns(res, gws, n_gw, c.domain, err)) < 0)
		return r;
	if (!(aliases = c.aliases ? json_incref(c.aliases) : json_array()))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	entry = json_pack("{s:s,s:s,s:s,s:O,s:O}", "containerId", call->container_id, "ifname",
			  call->ifname, "name", name, "aliases", aliases, "ips", ips);
	if (!entry)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");

	if ((r = net_lock(&p, true, &lock, err)) < 0 || (r = load_records(&p, &entries, err)) < 0)
		return r;
	if (!(old = json_deep_copy(entries)))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	drop_entries(entries, call->container_id, call->ifname, NULL, 0);
	if (json_array_append(entries, entry) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	if ((r = save_records(&p, entries, err)) < 0)
		goto undo_records;
	BERTH_FAULT_POINT("dnsname-after-hosts");

	pid = dnsname_dnsmasq_pid(p.pidfile, p.conf);
	(void)berth_read_file(p.conf, 65536, &cur_conf, NULL, &(berth_error){ 0 });
	if (!cur_conf || !STREQ(cur_conf, conf)) {
		if ((r = berth_write_file_atomic(p.conf, conf, strlen(conf), 0644, false, err)) < 0)
			goto undo_records;
		if (pid > 0) { /* new gateways: the listen addresses are read at start only */
			dnsname_dnsmasq_stop(pid);
			pid = 0;
		}
	}
	if (pid > 0) {
		if (kill(pid, SIGHUP) < 0) {
			r = berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "SIGHUP dnsmasq %d",
					      (int)pid);
			goto undo_records;
		}
	} else {
		if ((r = dnsname_dnsmasq_start(bin, p.conf, err)) < 0)
			goto undo_records;
	}
	BERTH_FAULT_POINT("dnsname-after-reload");
	if (getenv("BERTH_DNSNAME_TEST_FAIL_ADD")) { /* tests: the undo of a late failure */
		r = berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EIO, "injected failure");
		goto undo_records;
	}
	close(TAKE_FD(lock));

	/* dnsmasq rereads its hosts file when it handles the SIGHUP: answer once it serves the
	 * name, so that a peer started right after us finds it.  Should the name still be
	 * missing after 200 ms (a reload missed, whatever the reason), signal again. */
	{
		struct berth_ip want;
		berth_error e = { 0 };
		int found = 0;

		if (berth_ip_parse(json_string_value(json_array_get(ips, 0)), &want) < 0)
			goto done;
		for (int round = 0; round < 10 && found != 1; round++) {
			if (round > 0 && (pid = dnsname_dnsmasq_pid(p.pidfile, p.conf)) > 0)
				kill(pid, SIGHUP);
			found = dnsname_query(&gws[0], name, &want, 200, 1, &e);
			if (found < 0)
				break;
		}
		if (found != 1)
			berth_log_warn("dnsmasq on %s does not answer for %s yet%s%s",
				       berth_ip_format(&gws[0], (char[BERTH_IP_STRLEN]){ 0 }), name,
				       e.msg[0] ? ": " : "", e.msg);
	}
done:
	*ret = TAKE_PTR(res);
	return 0;

undo_records: {
	berth_error ign = { 0 };

	if (json_array_size(old) == 0)
		(void)apply_removal(&p, old, &ign);
	else if (save_records(&p, old, &ign) == 0 &&
		   (pid = dnsname_dnsmasq_pid(p.pidfile, p.conf)) > 0)
		kill(pid, SIGHUP);
	return r;
}
}

static int cmd_del(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	_cleanup_json_ json_t *entries = NULL;
	_cleanup_close_ int lock = -1;
	struct dn_paths p;
	int r;

	/* an entry is found by container id and ifname: the config beyond the network's name,
	 * CNI_ARGS and prevResult do not matter, and the netns may be long gone */
	if ((r = net_paths(call->name, &p, err)) < 0)
		return r;
	if ((r = net_lock(&p, false, &lock, err)) < 0)
		return r;
	if (lock < 0)
		return 0;
	if ((r = load_records(&p, &entries, err)) < 0)
		return r;
	if (drop_entries(entries, call->container_id, call->ifname, NULL, 0) == 0 &&
	    json_array_size(entries) > 0)
		return 0;
	return apply_removal(&p, entries, err);
}

static int cmd_gc(const struct berth_cni_call *call, struct berth_cni_result **ret,
		  berth_error *err)
{
	_cleanup_json_ json_t *entries = NULL;
	_cleanup_close_ int lock = -1;
	struct berth_cni_attachment *valid = NULL;
	size_t n_valid = 0;
	bool present = false;
	struct dn_paths p;
	int r;

	if ((r = net_paths(call->name, &p, err)) < 0)
		return r;
	if ((r = berth_cni_valid_attachments(call->config, &valid, &n_valid, &present, err)) < 0)
		return r;
	/* without the list nothing can be known to be stale */
	if (!present || (r = net_lock(&p, false, &lock, err)) < 0 || lock < 0 ||
	    (r = load_records(&p, &entries, err)) < 0)
		goto out;
	if (drop_entries(entries, NULL, NULL, valid, n_valid) > 0 || json_array_size(entries) == 0)
		r = apply_removal(&p, entries, err);
out:
	berth_cni_attachments_free(valid, n_valid);
	return r < 0 ? r : 0;
}

static int cmd_check(const struct berth_cni_call *call, struct berth_cni_result **ret,
		     berth_error *err)
{
	_cleanup_json_ json_t *entries = NULL, *ips = NULL;
	_cleanup_free_ char *name = NULL, *bin = NULL;
	_cleanup_close_ int lock = -1;
	struct berth_ip gws[MAX_GW];
	struct dn_conf c;
	struct dn_paths p;
	size_t n_gw = 0, i;
	json_t *e, *mine = NULL, *ip;
	int r;

	if ((r = parse_conf(call, &c, err)) < 0 || (r = net_paths(call->name, &p, err)) < 0 ||
	    (r = pod_name(call, &name, err)) < 0 || (r = dnsname_dnsmasq_find(&bin, err)) < 0 ||
	    (r = container_ips(call->prev_result, &ips, err)) < 0 ||
	    (r = gateways(call->prev_result, gws, &n_gw, err)) < 0)
		return r;
	if ((r = net_lock(&p, false, &lock, err)) < 0)
		return r;
	if (lock < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT,
				       "no dnsname state for network %s", call->name);
	if ((r = load_records(&p, &entries, err)) < 0)
		return r;
	json_array_foreach(entries, i, e)
		if (STREQ(jstr(e, "containerId"), call->container_id) &&
		    STREQ(jstr(e, "ifname"), call->ifname))
			mine = e;
	if (!mine || !STREQ(jstr(mine, "name"), name))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT,
				       "%s is not published on network %s", name, call->name);
	if (dnsname_dnsmasq_pid(p.pidfile, p.conf) <= 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ESRCH,
				       "dnsmasq instance not running");
	close(TAKE_FD(lock));
	json_array_foreach(ips, i, ip) {
		struct berth_ip want;

		if (berth_ip_parse(json_string_value(ip), &want) < 0)
			continue;
		for (size_t g = 0; g < n_gw; g++) {
			if (gws[g].family != want.family && n_gw > 1)
				continue;
			if ((r = dnsname_query(&gws[g], name, &want, 1000, 100, err)) < 0)
				return r;
			if (r == 0)
				return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT,
						       "dnsmasq on %s does not answer %s with %s",
						       berth_ip_format(&gws[g], (char[BERTH_IP_STRLEN]){ 0 }),
						       name, json_string_value(ip));
		}
	}
	return 0;
}

static int cmd_status(const struct berth_cni_call *call, struct berth_cni_result **ret,
		      berth_error *err)
{
	_cleanup_free_ char *bin = NULL;
	struct dn_conf c;
	int r;

	if ((r = parse_conf(call, &c, err)) < 0)
		return r;
	return dnsname_dnsmasq_find(&bin, err);
}

int main(int argc, char **argv)
{
	static const struct berth_cni_plugin plugin = {
		.name = "dnsname",
		.add = cmd_add,
		.del = cmd_del,
		.check = cmd_check,
		.status = cmd_status,
		.gc = cmd_gc,
	};
	return berth_plugin_main(&plugin, argc, argv);
}
