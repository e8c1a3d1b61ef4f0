// SPDX-License-Identifier: Apache-2.0
/*
 * The firewall plugin's firewalld side: the container's addresses as sources of a firewalld
 * zone (the reference's firewalld backend), recorded per attachment in
 * $BERTH_FIREWALLD_STATE_DIR (default /run/berth/firewalld)/<network>/<id>@<ifname>.json
 * before they are added, so that DEL, GC and --reapply find them without prevResult.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/file.h"
#include "berth/firewalld.h"
#include "berth/json.h"
#include "berth/log.h"
#include "firewall-internal.h"

static int state_path(const struct berth_cni_call *call, char *buf, size_t len, berth_error *err)
{
	if ((size_t)snprintf(buf, len, "%s/%s/%s@%s.json", berth_firewalld_state_dir(), call->name,
			     call->container_id, call->ifname) >= len)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENAMETOOLONG,
				       "firewalld state path too long");
	return 0;
}

/* "10.1.0.5/32", "fd00::5/128": the reference's source strings */
static void source_of(const struct berth_ip *ip, char *buf)
{
	char a[BERTH_IP_STRLEN];
	sprintf(buf, "%s/%d", berth_ip_format(ip, a), ip->family == AF_INET ? 32 : 128);
}

static int write_state(const struct berth_cni_call *call, const char *zone, berth_error *err)
{
	_cleanup_json_ json_t *j = json_object(), *src = json_array();
	_cleanup_free_ char *s = NULL;
	char path[4096], dir[4096];
	int r;

	if (!j || !src)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	for (size_t i = 0; i < call->prev_result->n_ips; i++) {
		char b[BERTH_IP_STRLEN + 8];
		source_of(&call->prev_result->ips[i].address.ip, b);
		json_array_append_new(src, json_string(b));
	}
	json_object_set_new(j, "network", json_string(call->name));
	json_object_set_new(j, "containerID", json_string(call->container_id));
	json_object_set_new(j, "ifname", json_string(call->ifname));
	json_object_set_new(j, "zone", json_string(zone));
	json_object_set(j, "sources", src);
	if (!(s = berth_json_dump(j)))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	snprintf(dir, sizeof(dir), "%s/%s", berth_firewalld_state_dir(), call->name);
	if ((r = berth_mkdir_p(dir, 0700, err)) < 0 || (r = state_path(call, path, sizeof(path), err)) < 0)
		return r;
	return berth_write_file_atomic(path, s, strlen(s), 0600, false, err);
}

int fw_zone_add(const struct berth_cni_call *call, const char *zone, berth_error *err)
{
	_cleanup_firewalld_ struct berth_firewalld *f = NULL;
	_cleanup_json_ json_t *st = NULL;
	char path[4096];
	berth_error ign = { 0 };
	int r;

	if ((r = berth_firewalld_open(&f, err)) < 0)
		return berth_error_prefix(err, "backend firewalld");
	if ((r = write_state(call, zone, err)) < 0 || (r = state_path(call, path, sizeof(path), err)) < 0 ||
	    (r = berth_json_load_file(path, &st, err)) < 0)
		return r;
	if ((r = berth_firewalld_apply_state(f, st, true, err)) < 0) {
		berth_error_prefix(err, "failed to add the container's addresses to zone %s", zone);
		(void)berth_firewalld_apply_state(f, st, false, &ign);
		unlink(path);
	}
	return r;
}

int fw_zone_del(const struct berth_cni_call *call, berth_error *err)
{
	_cleanup_firewalld_ struct berth_firewalld *f = NULL;
	_cleanup_json_ json_t *st = NULL;
	char path[4096];
	berth_error e = { 0 };
	int r;

	if ((r = state_path(call, path, sizeof(path), err)) < 0)
		return r;
	if (access(path, F_OK) < 0)
		return 0;
	if (berth_json_load_file(path, &st, &e) < 0) {
		berth_log_warn("ignoring unreadable %s: %s", path, e.msg);
		unlink(path);
		return 0;
	}
	r = berth_firewalld_open(&f, &e);
	if (r == -ENOENT) {
		/* firewalld stopped: its runtime sources went with it */
		unlink(path);
		return 0;
	}
	if (r < 0) {
		*err = e;
		return r;
	}
	if ((r = berth_firewalld_apply_state(f, st, false, err)) < 0)
		return berth_error_prefix(err, "failed to remove the container's addresses from "
					       "their firewalld zone");
	if (unlink(path) < 0 && errno != ENOENT)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "failed to remove %s", path);
	return 0;
}

int fw_zone_check(const struct berth_cni_call *call, berth_error *err)
{
	_cleanup_firewalld_ struct berth_firewalld *f = NULL;
	_cleanup_json_ json_t *st = NULL;
	char path[4096];
	json_t *v;
	size_t i;
	int r;

	if ((r = state_path(call, path, sizeof(path), err)) < 0)
		return r;
	if ((r = berth_json_load_file(path, &st, err)) < 0)
		return berth_error_prefix(err, "no firewalld zone sources recorded for this "
					       "container");
	if ((r = berth_firewalld_open(&f, err)) < 0)
		return r;
	const char *zone = json_string_value(json_object_get(st, "zone"));
	json_array_foreach(json_object_get(st, "sources"), i, v) {
		bool in = false;

		if ((r = berth_firewalld_query_source(f, zone ? zone : "", json_string_value(v), &in,
						      err)) < 0)
			return r;
		if (!in)
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT,
					       "failed to find the address %s in %s zone",
					       json_string_value(v), zone);
	}
	return 0;
}

bool fw_zone_recorded(const struct berth_cni_call *call)
{
	char path[4096];
	berth_error e = { 0 };

	return state_path(call, path, sizeof(path), &e) == 0 && access(path, F_OK) == 0;
}

struct gc_arg {
	struct berth_firewalld *f;
	const struct berth_cni_attachment *valid;
	size_t n_valid;
};

static int gc_one(const char *path, json_t *st, void *arg)
{
	struct gc_arg *g = arg;
	const char *id = json_string_value(json_object_get(st, "containerID"));
	const char *ifname = json_string_value(json_object_get(st, "ifname"));
	berth_error e = { 0 };

	if (id && ifname && berth_cni_attachment_valid(g->valid, g->n_valid, id, ifname))
		return 0;
	if (g->f && berth_firewalld_apply_state(g->f, st, false, &e) < 0) {
		berth_log_warn("gc: %s: %s", path, e.msg);
		return 0;
	}
	unlink(path);
	return 1;
}

int fw_zone_gc(const char *network, const struct berth_cni_attachment *valid, size_t n_valid,
	       berth_error *err)
{
	_cleanup_firewalld_ struct berth_firewalld *f = NULL;
	struct gc_arg g = { .valid = valid, .n_valid = n_valid };
	char dir[4096];
	berth_error e = { 0 };
	int r;

	snprintf(dir, sizeof(dir), "%s/%s", berth_firewalld_state_dir(), network);
	if (access(dir, F_OK) < 0)
		return 0;
	r = berth_firewalld_open(&f, &e);
	if (r < 0 && r != -ENOENT) {
		*err = e;
		return r;
	}
	g.f = f; /* without firewalld, the sources are gone: only the files go */
	berth_firewalld_each_state(network, gc_one, &g);
	return 0;
}
