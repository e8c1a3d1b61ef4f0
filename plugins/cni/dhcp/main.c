// SPDX-License-Identifier: Apache-2.0
/* dhcp IPAM plugin: asks the berth-dhcp daemon (plugins/cni/dhcp/daemon) over its unix socket
 * for a lease taken in the container's netns, and tells it to release the lease on DEL.  The
 * daemon holds the leases because they must be renewed for as long as the container lives. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "berth/cleanup.h"
#include "berth/cni-skel.h"
#include "berth/json.h"
#include "berth/log.h"
#include "dhcp-internal.h"

static int connect_daemon(const char *path, int *ret_fd, berth_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, ENAMETOOLONG,
				       "daemonSocketPath too long: %s", path);
	strcpy(sa.sun_path, path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return berth_error_errno(err, BERTH_ERR_TRY_AGAIN,
					 "error dialing DHCP daemon at %s (is berth-dhcp running?)",
					 path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* One request/answer with the daemon.  *ret (when non-NULL) gets the answer's "result". */
static int call_daemon(const struct berth_cni_call *call, const char *socket_path,
		       json_t **ret, berth_error *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_json_ json_t *req = NULL, *ans = NULL;
	char abs_ns[PATH_MAX] = "";
	int r;

	if ((r = connect_daemon(socket_path, &fd, err)) < 0)
		return r;
	/* the daemon may run with another working directory */
	if (call->netns && !realpath(call->netns, abs_ns))
		snprintf(abs_ns, sizeof(abs_ns), "%s", call->netns);
	req = json_pack("{s:s, s:s?, s:s?, s:s, s:s, s:O}", "command", call->command,
			"containerID", call->container_id, "ifname", call->ifname, "netns",
			abs_ns, "args", call->args ? call->args : "", "config", call->config);
	if (!req)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	if ((r = berth_dhcp_send(fd, req, err)) < 0)
		return r;
	if ((r = berth_dhcp_recv(fd, &ans, err)) < 0)
		return berth_error_prefix(err, "reading the DHCP daemon's answer");
	json_t *e = json_object_get(ans, "error");
	if (e) {
		json_t *code = json_object_get(e, "code");
		const char *msg = json_string_value(json_object_get(e, "msg"));
		const char *det = json_string_value(json_object_get(e, "details"));
		berth_error_set(err, json_is_integer(code) ? (int)json_integer_value(code)
							   : BERTH_ERR_INTERNAL,
				EIO, "%s", msg ? msg : "the DHCP daemon failed");
		if (det && *det)
			berth_error_details(err, "%s", det);
		return -EIO;
	}
	if (ret)
		*ret = json_incref(json_object_get(ans, "result"));
	return 0;
}

/* ADD, CHECK, STATUS: the whole config parses, then the daemon gets the call. */
static int call_daemon_conf(const struct berth_cni_call *call, json_t **ret, berth_error *err)
{
	struct dhcp_conf conf;
	int r = berth_dhcp_conf_parse(call->config, call->args, &conf, err);
	if (r < 0)
		return r;
	r = call_daemon(call, conf.socket_path, ret, err);
	berth_dhcp_conf_free(&conf);
	return r;
}

static int cmd_add(const struct berth_cni_call *call, struct berth_cni_result **ret,
		   berth_error *err)
{
	_cleanup_json_ json_t *res = NULL;
	int r = call_daemon_conf(call, &res, err);
	if (r < 0)
		return r;
	if (!res)
		return berth_error_set(err, BERTH_ERR_DECODE, EINVAL,
				       "the DHCP daemon answered without a result");
	return berth_cni_result_from_json(res, BERTH_CNI_VERSION_LATEST, ret, err);
}

/* DEL, GC: only the socket path is needed; a config that does not parse further still
 * reaches the daemon (it finds the lease by container, network and interface).  No daemon
 * listening means no daemon holds a lease to release: DEL and GC succeed (logged), or a
 * runtime would retry them for ever. */
static int cmd_release(const struct berth_cni_call *call, struct berth_cni_result **ret,
		       berth_error *err)
{
	const char *path = BERTH_DHCP_DEFAULT_SOCKET;
	json_t *ipam = json_object_get(call->config, "ipam");
	const char *p = json_string_value(json_object_get(ipam, "daemonSocketPath"));
	if (p && p[0] == '/')
		path = p;
	int r = call_daemon(call, path, NULL, err);
	if (r < 0 && (err->errnum == ENOENT || err->errnum == ECONNREFUSED)) {
		berth_log(BERTH_LOG_WARN, "%s: no DHCP daemon at %s, nothing to release: %s",
			  call->command, path, err->msg);
		berth_error_clear(err);
		return 0;
	}
	return r;
}

static int cmd_check(const struct berth_cni_call *call, struct berth_cni_result **ret,
		     berth_error *err)
{
	return call_daemon_conf(call, NULL, err);
}

static int cmd_status(const struct berth_cni_call *call, struct berth_cni_result **ret,
		      berth_error *err)
{
	int r = call_daemon_conf(call, NULL, err);

	if (r < 0 && err->code == BERTH_ERR_TRY_AGAIN)
		err->code = BERTH_CNI_ERR_STATUS_NOT_READY;
	return r;
}

static const struct berth_cni_plugin dhcp_plugin = {
	.name = "dhcp",
	.add = cmd_add,
	.del = cmd_release,
	.check = cmd_check,
	.status = cmd_status,
	.gc = cmd_release,
	/* not .ipam: CHECK compares the daemon's lease with prevResult, so it needs one */
};

int main(int argc, char **argv)
{
	return berth_plugin_main(&dhcp_plugin, argc, argv);
}
