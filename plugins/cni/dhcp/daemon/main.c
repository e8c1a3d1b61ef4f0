// SPDX-License-Identifier: Apache-2.0
/* berth-dhcp: the daemon behind the dhcp IPAM plugin.  It listens on a unix socket that only
 * root can reach (0600 in a root-owned directory no one else may write), takes a lease per
 * container interface in the container's netns (client.c), keeps it renewed, releases it on
 * DEL, and keeps every lease in a file of its state directory so a restarted daemon goes on
 * renewing them.  Started by hand or by systemd socket activation. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/cni-skel.h"
#include "berth/fault.h"
#include "berth/file.h"
#include "berth/json.h"
#include "berth/log.h"
#include "daemon.h"

struct daemon_opts g_opts = { .timeout_ms = 10000 };
pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lease *g_leases;
static const char *g_state = BERTH_DHCP_DEFAULT_STATE;

/* ---- leases and their files ---- */

static void lease_free(struct lease *l)
{
	if (!l)
		return;
	free(l->client_id);
	free(l->container_id);
	free(l->net_name);
	free(l->ifname);
	free(l->netns);
	for (size_t i = 0; i < l->n_provide; i++)
		free(l->provide[i].value);
	free(l->provide);
	pthread_cond_destroy(&l->cond);
	free(l);
}

static struct lease *lease_find(const char *cid)
{
	for (struct lease *l = g_leases; l; l = l->next)
		if (STREQ(l->client_id, cid))
			return l;
	return NULL;
}

static void lease_unlink(struct lease *l)
{
	for (struct lease **p = &g_leases; *p; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			return;
		}
}

/* The file of a lease: an FNV-1a hash of the client id (which may hold any byte and be 254
 * long); the id itself is inside and checked on load. */
static void lease_path(const char *cid, char *buf, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (const unsigned char *p = (const unsigned char *)cid; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	snprintf(buf, n, "%s/%016llx.json", g_state, (unsigned long long)h);
}

int lease_save(struct lease *l, bool sync)
{
	char path[4096], hex[DHCP_MAX_MSG * 2 + 1];
	berth_error err = { 0 };
	for (size_t i = 0; i < l->ack_len; i++)
		sprintf(hex + 2 * i, "%02x", l->ack[i]);
	hex[2 * l->ack_len] = '\0';
	_cleanup_json_ json_t *prov = json_array(), *req = json_array();
	for (size_t i = 0; prov && i < l->n_provide; i++)
		json_array_append_new(prov, json_pack("{s:i, s:s}", "code", l->provide[i].code,
						      "value", l->provide[i].value));
	for (size_t i = 0; req && i < l->n_request; i++)
		json_array_append_new(req, json_integer(l->request[i]));
	_cleanup_json_ json_t *j = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:O, s:O, s:i, s:I, s:b, s:s, s:I}", "clientID",
		l->client_id, "containerID", l->container_id, "netName", l->net_name, "ifname",
		l->ifname, "netns", l->netns, "request", req, "provide", prov, "priority",
		l->priority, "timeoutMs", (json_int_t)l->timeout_ms, "broadcast", l->broadcast,
		"ack", hex, "acquired", (json_int_t)l->acquired);
	if (j && l->pending) {
		/* the OFFER of an ADD not answered yet: no ACK, the address and server to release */
		char a[INET_ADDRSTRLEN], sid[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &l->addr, a, sizeof(a));
		inet_ntop(AF_INET, &l->server_id, sid, sizeof(sid));
		json_object_set_new(j, "pending", json_true());
		json_object_set_new(j, "offered", json_string(a));
		json_object_set_new(j, "serverID", json_string(sid));
	}
	_cleanup_free_ char *s = j ? berth_json_dump(j) : NULL;
	if (!s)
		return -ENOMEM;
	lease_path(l->client_id, path, sizeof(path));
	int r = berth_write_file_atomic(path, s, strlen(s), 0600, sync, &err);
	if (r < 0)
		berth_log_error("%s: saving the lease: %s", l->client_id, err.msg);
	return r;
}

static void lease_remove_file(const char *cid)
{
	char path[4096];
	lease_path(cid, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		berth_log_error("%s: removing %s: %m", cid, path);
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static struct lease *lease_new(void)
{
	struct lease *l = calloc(1, sizeof(*l));
	if (l)
		pthread_cond_init(&l->cond, NULL);
	return l;
}

/* Read a lease file into a lease (not linked, no thread).  Files without "pending" (as every
 * daemon before it wrote them) are bound leases. */
static int lease_parse(const char *path, struct lease **ret)
{
	berth_error err = { 0 };
	_cleanup_json_ json_t *j = NULL;
	const char *cid, *ctr, *net, *ifn, *ns, *hex = NULL, *offered = NULL, *sid = NULL;
	json_int_t prio, tmo, acq = 0;
	int bc, pending = 0;
	json_t *req, *prov, *v;
	size_t i;

	if (berth_json_load_file(path, &j, &err) < 0)
		return berth_log_error("%s: %s", path, err.msg), -EINVAL;
	if (json_unpack(j, "{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:I, s:b, s?s, s?I, s?b, s?s, s?s}",
			"clientID", &cid, "containerID", &ctr, "netName", &net, "ifname", &ifn,
			"netns", &ns, "request", &req, "provide", &prov, "priority", &prio,
			"timeoutMs", &tmo, "broadcast", &bc, "ack", &hex, "acquired", &acq,
			"pending", &pending, "offered", &offered, "serverID", &sid) < 0 ||
	    !json_is_array(req) || !json_is_array(prov) || (pending ? !offered : !hex)) {
		berth_log_error("%s: not a lease file, ignored", path);
		return -EINVAL;
	}
	char want[4096];
	lease_path(cid, want, sizeof(want));
	if (!STREQ(want, path)) {
		berth_log_error("%s: lease file of another client id, ignored", path);
		return -EINVAL;
	}
	struct lease *l = lease_new();
	if (!l)
		return -ENOMEM;
	l->client_id = strdup(cid);
	l->container_id = strdup(ctr);
	l->net_name = strdup(net);
	l->ifname = strdup(ifn);
	l->netns = strdup(ns);
	l->priority = (int)prio;
	l->timeout_ms = tmo > 0 ? tmo : g_opts.timeout_ms;
	l->broadcast = bc;
	l->pending = pending;
	json_array_foreach(req, i, v)
		if (json_is_integer(v) && l->n_request < sizeof(l->request))
			l->request[l->n_request++] = (uint8_t)json_integer_value(v);
	l->provide = calloc(json_array_size(prov) + 1, sizeof(*l->provide));
	json_array_foreach(prov, i, v) {
		json_int_t code;
		const char *val;
		if (l->provide && !json_unpack(v, "{s:I, s:s}", "code", &code, "value", &val))
			l->provide[l->n_provide++] = (struct dhcp_provide){ (uint8_t)code,
									    strdup(val) };
	}
	bool usable;
	if (pending) {
		usable = inet_pton(AF_INET, offered, &l->addr) == 1 && l->addr &&
			 (!sid || inet_pton(AF_INET, sid, &l->server_id) == 1);
	} else {
		size_t hl = strlen(hex);
		uint8_t ack[DHCP_MAX_MSG];
		usable = hl % 2 == 0 && hl / 2 <= sizeof(ack);
		for (i = 0; usable && i < hl / 2; i++) {
			int a = hexval(hex[2 * i]), b = hexval(hex[2 * i + 1]);
			usable = a >= 0 && b >= 0;
			if (usable)
				ack[i] = (uint8_t)(a << 4 | b);
		}
		usable = usable && lease_commit(l, ack, hl / 2, (time_t)acq) == 0;
	}
	if (!l->client_id || !l->container_id || !l->net_name || !l->ifname || !l->netns ||
	    !usable) {
		berth_log_error("%s: unusable lease, ignored", path);
		lease_free(l);
		return -EINVAL;
	}
	*ret = l;
	return 0;
}

/* A pending lease's ADD cannot have succeeded (the daemon that ran it died, and the plugin's
 * connection with it): release the offer (best effort: the netns or the link may be gone; the
 * server may have ACKed it) and remove the file.  Also DEL's way with a bound lease file no
 * lease of ours stands for. */
static void pending_drop(struct lease *l, const char *path)
{
	if (l->pending)
		berth_log_info("%s: a lease left pending (its ADD never answered), releasing it",
			       l->client_id);
	lease_release(l);
	/* released first, removed after: a crash in between only repeats the release.  The file
	 * stays when an ADD of the same attachment took it over meanwhile */
	pthread_mutex_lock(&g_lock);
	if (!lease_find(l->client_id) && unlink(path) < 0 && errno != ENOENT)
		berth_log_error("%s: removing %s: %m", l->client_id, path);
	pthread_mutex_unlock(&g_lock);
	lease_free(l);
}

/* The next lease file of the state directory d that parses (its path in path), or NULL at the
 * end; what is not a lease file, or does not parse, is passed over. */
static struct lease *next_state_lease(DIR *d, char *path, size_t n)
{
	struct dirent *e;
	while ((e = readdir(d))) {
		struct lease *l = NULL;
		size_t len = strlen(e->d_name);
		if (len != 21 || strcmp(e->d_name + 16, ".json"))
			continue;
		snprintf(path, n, "%s/%s", g_state, e->d_name);
		if (lease_parse(path, &l) == 0)
			return l;
	}
	return NULL;
}

static void load_state(void)
{
	_cleanup_closedir_ DIR *d = opendir(g_state);
	berth_error err = { 0 };
	struct lease *l;
	char path[4096];
	if (!d)
		return;
	while ((l = next_state_lease(d, path, sizeof(path)))) {
		if (l->pending) {
			pending_drop(l, path);
			continue;
		}
		pthread_mutex_lock(&g_lock);
		if (lease_find(l->client_id)) {
			pthread_mutex_unlock(&g_lock);
			berth_log_error("%s: a second lease file of %s, ignored", path, l->client_id);
			lease_free(l);
			continue;
		}
		l->state = LEASE_BOUND;
		l->next = g_leases;
		g_leases = l;
		berth_error_clear(&err);
		if (lease_start_thread(l, &err) < 0)
			berth_log_error("%s: %s", l->client_id, err.msg);
		pthread_mutex_unlock(&g_lock);
		berth_log_info("%s: lease restored", l->client_id);
	}
}

/* ---- requests ---- */

struct request {
	const char *command, *container_id, *ifname, *netns, *args, *name;
	json_t *config;
};

/* Stop, release and forget one lease (it is unlinked from the list already). */
static void lease_drop(struct lease *l)
{
	lease_stop_thread(l);
	BERTH_FAULT_POINT("dhcpd-before-release");
	lease_release(l);
	BERTH_FAULT_POINT("dhcpd-after-release");
	lease_remove_file(l->client_id);
	lease_free(l);
}

static int do_add(const struct request *q, const char *cid, json_t **ret, berth_error *err)
{
	struct dhcp_conf conf;
	_cleanup_cni_result_ struct berth_cni_result *res = NULL;
	struct lease *l;
	int r;

	if (!q->netns || !*q->netns)
		return berth_error_set(err, BERTH_ERR_INVALID_ENV, EINVAL, "ADD needs a netns");
	if ((r = berth_dhcp_conf_parse(q->config, q->args, &conf, err)) < 0)
		return r;
	pthread_mutex_lock(&g_lock);
	l = lease_find(cid);
	if (l && l->busy) {
		pthread_mutex_unlock(&g_lock);
		berth_dhcp_conf_free(&conf);
		return berth_error_set(err, BERTH_ERR_TRY_AGAIN, EBUSY,
				       "a request for %s is in progress", cid);
	}
	if (l && l->state == LEASE_BOUND && time(NULL) < l->acquired + l->lease_time &&
	    STREQ(l->netns, q->netns)) {
		/* an ADD repeated: the lease it holds, as the reference answers */
		r = lease_result(l, &res, err);
		pthread_mutex_unlock(&g_lock);
		berth_dhcp_conf_free(&conf);
		goto out;
	}
	if (l) {
		lease_unlink(l);
		pthread_mutex_unlock(&g_lock);
		lease_drop(l);
		pthread_mutex_lock(&g_lock);
	}
	l = lease_new();
	if (!l || !(l->client_id = strdup(cid)) || !(l->container_id = strdup(q->container_id)) ||
	    !(l->net_name = strdup(q->name)) || !(l->ifname = strdup(q->ifname)) ||
	    !(l->netns = strdup(q->netns))) {
		pthread_mutex_unlock(&g_lock);
		lease_free(l);
		berth_dhcp_conf_free(&conf);
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	}
	memcpy(l->request, conf.request, sizeof(l->request));
	l->n_request = conf.n_request;
	l->provide = TAKE_PTR(conf.provide);
	l->n_provide = conf.n_provide;
	conf.n_provide = 0;
	l->priority = conf.priority;
	l->timeout_ms = conf.timeout_ms ? conf.timeout_ms : g_opts.timeout_ms;
	l->broadcast = conf.broadcast >= 0 ? conf.broadcast : g_opts.broadcast;
	l->busy = true;
	l->next = g_leases;
	g_leases = l;
	pthread_mutex_unlock(&g_lock);

	r = lease_acquire(l, err);
	/* busy: no one else touches the lease; the file (pending since the OFFER) becomes the
	 * bound lease, written (and synced: the lease must survive a crash) outside the lock */
	if (r == 0) {
		BERTH_FAULT_POINT("dhcpd-after-ack");
		r = lease_result(l, &res, err);
	}
	if (r == 0) {
		l->pending = false;
		if (lease_save(l, true) < 0)
			r = berth_error_set(err, BERTH_ERR_IO, EIO, "cannot save the lease in %s",
					    g_state);
		else
			BERTH_FAULT_POINT("dhcpd-after-save");
	}

	pthread_mutex_lock(&g_lock);
	if (r == 0 && l->stop)
		r = berth_error_set(err, BERTH_ERR_TRY_AGAIN, ECANCELED,
				    "the lease was released while it was acquired");
	if (r == 0)
		r = lease_start_thread(l, err);
	if (r < 0) {
		bool had = l->addr != 0;
		lease_unlink(l);
		pthread_mutex_unlock(&g_lock);
		if (had)
			lease_release(l);
		lease_remove_file(cid);
		lease_free(l);
		return r;
	}
	l->state = LEASE_BOUND;
	l->busy = false;
	pthread_mutex_unlock(&g_lock);
	berth_log_info("%s: leased", cid);
out:
	if (r < 0)
		return r;
	return berth_cni_result_to_json(res, BERTH_CNI_VERSION_LATEST, ret, err);
}

static int do_del(const char *cid)
{
	pthread_mutex_lock(&g_lock);
	struct lease *l = lease_find(cid);
	if (!l) {
		pthread_mutex_unlock(&g_lock);
		/* a file no lease of ours stands for: an unusable one, or a pending one (its ADD
		 * died with a daemon): the address it names is released first */
		char path[4096];
		struct lease *f = NULL;
		lease_path(cid, path, sizeof(path));
		if (access(path, F_OK) == 0 && lease_parse(path, &f) == 0)
			pending_drop(f, path);
		else
			lease_remove_file(cid);
		return 0;
	}
	if (l->busy) {
		/* an ADD is acquiring it: make it give up; it cleans up itself */
		__atomic_store_n(&l->stop, true, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&g_lock);
		return 0;
	}
	lease_unlink(l);
	pthread_mutex_unlock(&g_lock);
	lease_drop(l);
	return 0;
}

static int do_check(const struct request *q, const char *cid, berth_error *err)
{
	_cleanup_cni_result_ struct berth_cni_result *prev = NULL;
	json_t *pr = json_object_get(q->config, "prevResult");
	const char *ver = json_string_value(json_object_get(q->config, "cniVersion"));
	int r;

	pthread_mutex_lock(&g_lock);
	struct lease *l = lease_find(cid);
	bool bound = l && !l->busy && l->state == LEASE_BOUND &&
		     time(NULL) < l->acquired + l->lease_time;
	uint32_t addr = l ? l->addr : 0;
	pthread_mutex_unlock(&g_lock);
	if (!bound)
		return berth_error_set(err, BERTH_ERR_NOT_FOUND, ENOENT, "no DHCP lease for %s", cid);
	if (!pr)
		return 0;
	if ((r = berth_cni_result_from_json(pr, ver, &prev, err)) < 0)
		return r;
	struct berth_ip want = berth_ip4_from_u32(ntohl(addr));
	for (size_t i = 0; i < prev->n_ips; i++)
		if (berth_ip_equal(&prev->ips[i].address.ip, &want))
			return 0;
	char buf[BERTH_IP_STRLEN];
	return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
			       "the DHCP lease is %s, which prevResult does not hold",
			       berth_ip_format(&want, buf));
}

/* GC: the pending files of this network that no lease of ours stands for (their ADD died with
 * a daemon; a running ADD's lease is in g_leases before its file is written). */
static void gc_pending(const char *net)
{
	_cleanup_closedir_ DIR *d = opendir(g_state);
	struct lease *l;
	char path[4096];
	if (!d)
		return;
	while ((l = next_state_lease(d, path, sizeof(path)))) {
		pthread_mutex_lock(&g_lock);
		bool ours = lease_find(l->client_id) != NULL;
		pthread_mutex_unlock(&g_lock);
		if (l->pending && !ours && STREQ(l->net_name, net))
			pending_drop(l, path);
		else
			lease_free(l);
	}
}

static int do_gc(const struct request *q, berth_error *err)
{
	struct berth_cni_attachment *a = NULL;
	size_t n = 0;
	bool present = false;
	int r = berth_cni_valid_attachments(q->config, &a, &n, &present, err);
	if (r < 0)
		return r;
	for (;;) {
		struct lease *victim = NULL;
		pthread_mutex_lock(&g_lock);
		for (struct lease *l = g_leases; l && present; l = l->next)
			if (!l->busy && STREQ(l->net_name, q->name) &&
			    !berth_cni_attachment_valid(a, n, l->container_id, l->ifname)) {
				victim = l;
				break;
			}
		if (victim)
			lease_unlink(victim);
		pthread_mutex_unlock(&g_lock);
		if (!victim)
			break;
		berth_log_info("%s: GC releases it", victim->client_id);
		lease_drop(victim);
	}
	berth_cni_attachments_free(a, n);
	gc_pending(q->name);
	return 0;
}

static int dispatch(json_t *req, json_t **ret, berth_error *err)
{
	struct request q = { 0 };
	/* absent and null are the same: the verbs that need a field check it */
	q.command = json_string_value(json_object_get(req, "command"));
	q.container_id = json_string_value(json_object_get(req, "containerID"));
	q.ifname = json_string_value(json_object_get(req, "ifname"));
	q.netns = json_string_value(json_object_get(req, "netns"));
	q.args = json_string_value(json_object_get(req, "args"));
	q.config = json_object_get(req, "config");
	if (!q.command || !json_is_object(q.config))
		return berth_error_set(err, BERTH_ERR_DECODE, EINVAL, "malformed request");
	q.name = json_string_value(json_object_get(q.config, "name"));
	if (STREQ(q.command, "STATUS"))
		return 0;
	if (!q.name || !*q.name)
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "missing network name");
	if (STREQ(q.command, "GC"))
		return do_gc(&q, err);
	if (!q.container_id || !*q.container_id || !q.ifname || !*q.ifname)
		return berth_error_set(err, BERTH_ERR_INVALID_ENV, EINVAL,
				       "%s needs a container ID and an interface name", q.command);
	_cleanup_free_ char *cid = berth_dhcp_client_id(q.container_id, q.name, q.ifname);
	if (!cid)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	if (STREQ(q.command, "ADD"))
		return do_add(&q, cid, ret, err);
	if (STREQ(q.command, "DEL"))
		return do_del(cid);
	if (STREQ(q.command, "CHECK"))
		return do_check(&q, cid, err);
	return berth_error_set(err, BERTH_ERR_INVALID_ENV, EINVAL, "unknown command %s",
			       q.command);
}

static void *handle_conn(void *arg)
{
	_cleanup_close_ int fd = (int)(intptr_t)arg;
	_cleanup_json_ json_t *req = NULL, *res = NULL, *ans = NULL;
	berth_error err = { 0 };
	struct ucred cred;
	socklen_t cl = sizeof(cred);

	/* the socket's mode already keeps others out; a peer that is not root (or us) is refused
	 * even if the mode was loosened by hand */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
	    (cred.uid != 0 && cred.uid != geteuid()))
		return NULL;
	int r = berth_dhcp_recv(fd, &req, &err);
	if (r == 0)
		r = dispatch(req, &res, &err);
	if (r < 0) {
		ans = json_pack("{s:{s:i, s:s, s:s}}", "error", "code", err.code ? err.code : 999,
				"msg", err.msg, "details", err.details);
	} else {
		ans = json_object();
		if (ans && res)
			json_object_set(ans, "result", res);
	}
	if (ans)
		berth_dhcp_send(fd, ans, &err);
	return NULL;
}

/* ---- the socket and the directories ---- */

/* A directory only root (or we) may write: created 0700 when missing, refused otherwise. */
static int private_dir(const char *path, berth_error *err)
{
	struct stat st;
	int r = berth_mkdir_p(path, 0700, err);
	if (r < 0)
		return r;
	if (stat(path, &st) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "%s", path);
	if (!S_ISDIR(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & 022))
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EPERM,
				       "%s: must be a directory owned by root that no one else may "
				       "write (mode %04o, owner %u)",
				       path, st.st_mode & 07777, st.st_uid);
	return 0;
}

static int listen_socket(const char *path, int *ret, berth_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int n = sd_listen_fds(1);

	if (n < 0)
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, -n,
				       "socket activation: unusable LISTEN_FDS: %s", strerror(-n));
	if (n > 1)
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "too many (%d) sockets passed by socket activation", n);
	if (n == 1) {
		if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <= 0)
			return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
					       "the activated socket is not a listening unix "
					       "stream socket");
		*ret = SD_LISTEN_FDS_START;
		return 0;
	}
	if (strlen(path) >= sizeof(sa.sun_path) || path[0] != '/')
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "socket path must be absolute and shorter than %zu: %s",
				       sizeof(sa.sun_path), path);
	_cleanup_free_ char *dir = strdup(path);
	if (!dir)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	*strrchr(dir, '/') = '\0';
	int r = private_dir(*dir ? dir : "/", err);
	if (r < 0)
		return r;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EEXIST,
					       "%s exists and is not a socket", path);
		/* refuse to take over a socket a live daemon answers on */
		_cleanup_close_ int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		strcpy(sa.sun_path, path);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EADDRINUSE,
					       "another daemon listens on %s", path);
		unlink(path);
	}
	strcpy(sa.sun_path, path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "socket");
	mode_t old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "binding %s", path);
	if (chmod(path, 0600) < 0 || listen(fd, 128) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "listening on %s", path);
	*ret = TAKE_FD(fd);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: berth-dhcp [--socket PATH] [--state DIR] [--timeout DURATION] [--broadcast]\n"
		"                  [--pidfile PATH] [--max-renew SECONDS] [--min-renew SECONDS]\n"
		"  --socket PATH      listen here (default " BERTH_DHCP_DEFAULT_SOCKET "; systemd\n"
		"                     socket activation passes the socket instead)\n"
		"  --state DIR        the lease files (default " BERTH_DHCP_DEFAULT_STATE ")\n"
		"  --timeout DUR      one acquisition, retries included (default 10s)\n"
		"  --broadcast        ask servers to broadcast their answers\n"
		"  --max-renew S      renew after at most S seconds (T1 ceiling)\n"
		"  --min-renew S      renew after at least S seconds (T1 floor)\n");
}

static int parse_secs(const char *s, int64_t *ret)
{
	json_t *j = json_string(s);
	json_t *cfg = json_pack("{s:{s:o}}", "ipam", "timeout", j);
	struct dhcp_conf c;
	berth_error err;
	int r = cfg ? berth_dhcp_conf_parse(cfg, NULL, &c, &err) : -ENOMEM;
	if (r == 0) {
		*ret = c.timeout_ms;
		berth_dhcp_conf_free(&c);
	}
	json_decref(cfg);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "state", required_argument, NULL, 'd' },
		{ "timeout", required_argument, NULL, 't' },
		{ "broadcast", no_argument, NULL, 'b' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "max-renew", required_argument, NULL, 'M' },
		{ "min-renew", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *sock = BERTH_DHCP_DEFAULT_SOCKET, *pidfile = NULL;
	berth_error err = { 0 };
	int c, lfd = -1;
	int64_t v;

	berth_log_init("berth-dhcp");
	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'd':
			g_state = optarg;
			break;
		case 't':
			if (parse_secs(optarg, &g_opts.timeout_ms) < 0)
				goto bad;
			break;
		case 'b':
			g_opts.broadcast = true;
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 'M':
		case 'm':
			if (parse_secs(optarg, &v) < 0 || v < 1000)
				goto bad;
			*(c == 'M' ? &g_opts.max_renew_s : &g_opts.min_renew_s) = v / 1000;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
bad:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		goto bad;
	if (g_state[0] != '/') {
		fprintf(stderr, "berth-dhcp: --state must be an absolute path\n");
		return 2;
	}
	if (private_dir(g_state, &err) < 0 || listen_socket(sock, &lfd, &err) < 0) {
		fprintf(stderr, "berth-dhcp: %s\n", err.msg);
		return 1;
	}
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (pidfile) {
		char buf[32];
		snprintf(buf, sizeof(buf), "%d\n", getpid());
		if (berth_write_file_atomic(pidfile, buf, strlen(buf), 0644, false, &err) < 0) {
			fprintf(stderr, "berth-dhcp: %s\n", err.msg);
			return 1;
		}
	}
	load_state();
	sd_notify(0, "READY=1");
	berth_log_info("listening on %s, state in %s", sock, g_state);

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		struct pollfd p[2] = { { .fd = lfd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		struct timeval tv = { .tv_sec = 30 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		pthread_t t;
		if (pthread_create(&t, &attr, handle_conn, (void *)(intptr_t)fd) != 0)
			close(fd);
	}
	/* stopping: the leases stay (their files too) for the next daemon to renew */
	sd_notify(0, "STOPPING=1");
	pthread_mutex_lock(&g_lock);
	struct lease *all = g_leases;
	g_leases = NULL;
	pthread_mutex_unlock(&g_lock);
	while (all) {
		struct lease *l = all;
		all = l->next;
		lease_stop_thread(l);
		lease_free(l);
	}
	if (sd_listen_fds(0) <= 0 && lfd != SD_LISTEN_FDS_START)
		unlink(sock);
	if (pidfile)
		unlink(pidfile);
	return 0;
}
