// SPDX-License-Identifier: Apache-2.0
/* firewalld zone sources over D-Bus with sd-bus, loaded on first use (see firewalld.h). */

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter.h>

#include <systemd/sd-bus.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/file.h"
#include "berth/firewalld.h"
#include "berth/json.h"
#include "berth/log.h"
#include "berth/nft.h"

#define FWD_NAME "org.fedoraproject.FirewallD1"
#define FWD_PATH "/org/fedoraproject/FirewallD1"
#define FWD_ZONE FWD_NAME ".zone"

int berth_firewalld_table_present(berth_error *err)
{
	return berth_nft_table_exists(NFPROTO_INET, "firewalld", err);
}

/* The sd-bus calls we make, resolved from libsystemd.so.0. */
static struct {
	bool loaded;
	__typeof__(&sd_bus_open_system) open_system;
	__typeof__(&sd_bus_call_method) call_method;
	__typeof__(&sd_bus_message_read) message_read;
	__typeof__(&sd_bus_message_unref) message_unref;
	__typeof__(&sd_bus_error_free) error_free;
	__typeof__(&sd_bus_flush_close_unref) flush_close_unref;
} sd;

static int load(berth_error *err)
{
	void *h;

	if (sd.loaded)
		return 0;
	h = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOSYS,
				       "firewalld: cannot load libsystemd.so.0 for D-Bus: %s",
				       dlerror());
#define SYM(field, name)                                                                           \
	if (!(*(void **)&sd.field = dlsym(h, name)))                                               \
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOSYS,                         \
				       "firewalld: libsystemd.so.0 has no %s", name);
	SYM(open_system, "sd_bus_open_system");
	SYM(call_method, "sd_bus_call_method");
	SYM(message_read, "sd_bus_message_read");
	SYM(message_unref, "sd_bus_message_unref");
	SYM(error_free, "sd_bus_error_free");
	SYM(flush_close_unref, "sd_bus_flush_close_unref");
#undef SYM
	sd.loaded = true;
	return 0;
}

struct berth_firewalld {
	sd_bus *bus;
};

void berth_firewalld_close(struct berth_firewalld *f)
{
	if (!f)
		return;
	if (f->bus)
		sd.flush_close_unref(f->bus);
	free(f);
}

/* "<what>: <D-Bus error name>: <message>" */
static int bus_error(berth_error *err, int r, const sd_bus_error *e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int bus_error(berth_error *err, int r, const sd_bus_error *e, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (e && e->name)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, r < 0 ? -r : EIO, "%s: %s%s%s",
				       what, e->name, e->message ? ": " : "",
				       e->message ? e->message : "");
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, r < 0 ? -r : EIO, "%s: %s", what,
			       strerror(r < 0 ? -r : EIO));
}

int berth_firewalld_open(struct berth_firewalld **ret, berth_error *err)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	struct berth_firewalld *f;
	int r;

	if ((r = load(err)) < 0)
		return r;
	if (!(f = calloc(1, sizeof(*f))))
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	if ((r = sd.open_system(&f->bus)) < 0) {
		berth_firewalld_close(f);
		return bus_error(err, r, NULL, "firewalld: cannot connect to the system bus");
	}
	r = sd.call_method(f->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
			   "org.freedesktop.DBus", "GetNameOwner", &e, &reply, "s", FWD_NAME);
	if (reply)
		sd.message_unref(reply);
	if (r < 0) {
		berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOENT,
				"firewalld is not running (no %s on the system bus)", FWD_NAME);
		sd.error_free(&e);
		berth_firewalld_close(f);
		return -ENOENT;
	}
	*ret = f;
	return 0;
}

static int zone_call(struct berth_firewalld *f, const char *member, const char *zone,
		     const char *source, const char *ok_code, bool *ret_bool, berth_error *err)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	int r, rc = 0, b = 0;

	r = sd.call_method(f->bus, FWD_NAME, FWD_PATH, FWD_ZONE, member, &e, &reply, "ss", zone,
			   source);
	if (r < 0) {
		/* firewalld's errors are one exception type whose message starts with a code */
		if (!ok_code || !e.message || !strstr(e.message, ok_code))
			rc = bus_error(err, r, &e, "firewalld %s(%s, %s)", member, zone, source);
	} else if (ret_bool) {
		if ((r = sd.message_read(reply, "b", &b)) < 0)
			rc = bus_error(err, r, NULL, "firewalld %s(%s, %s): reply", member, zone,
				       source);
		*ret_bool = b;
	}
	if (reply)
		sd.message_unref(reply);
	sd.error_free(&e);
	return rc;
}

int berth_firewalld_add_source(struct berth_firewalld *f, const char *zone, const char *source,
			       berth_error *err)
{
	return zone_call(f, "addSource", zone, source, "ZONE_ALREADY_SET", NULL, err);
}

int berth_firewalld_remove_source(struct berth_firewalld *f, const char *zone, const char *source,
				  berth_error *err)
{
	return zone_call(f, "removeSource", zone, source, "UNKNOWN_SOURCE", NULL, err);
}

int berth_firewalld_query_source(struct berth_firewalld *f, const char *zone, const char *source,
				 bool *ret, berth_error *err)
{
	*ret = false;
	return zone_call(f, "querySource", zone, source, NULL, ret, err);
}

/* ---- the state files of the firewall plugin's zone sources ---- */

const char *berth_firewalld_state_dir(void)
{
	const char *d = getenv("BERTH_FIREWALLD_STATE_DIR");
	return d && *d ? d : "/run/berth/firewalld";
}

/* Add or remove every source a state file lists; removal goes on past errors. */
int berth_firewalld_apply_state(struct berth_firewalld *f, json_t *st, bool add, berth_error *err)
{
	const char *zone = json_string_value(json_object_get(st, "zone"));
	json_t *src = json_object_get(st, "sources"), *v;
	size_t i;
	int r = 0;

	if (!zone || !json_is_array(src))
		return 0;
	json_array_foreach(src, i, v) {
		berth_error e = { 0 };
		int x;

		if (!json_is_string(v))
			continue;
		x = add ? berth_firewalld_add_source(f, zone, json_string_value(v), &e) :
			  berth_firewalld_remove_source(f, zone, json_string_value(v), &e);
		if (x < 0 && r == 0) {
			r = x;
			*err = e;
			if (add)
				break;
		}
	}
	return r;
}

/* Each state file of network (all networks when NULL); fn gets the file's path and JSON. */
int berth_firewalld_each_state(const char *network,
			       int (*fn)(const char *path, json_t *st, void *arg), void *arg)
{
	_cleanup_closedir_ DIR *top = opendir(berth_firewalld_state_dir());
	struct dirent *n;
	int count = 0;

	if (!top)
		return 0;
	while ((n = readdir(top))) {
		char dir[4096];
		_cleanup_closedir_ DIR *d = NULL;
		struct dirent *de;

		if (n->d_name[0] == '.' || (network && !STREQ(n->d_name, network)))
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", berth_firewalld_state_dir(), n->d_name);
		if (!(d = opendir(dir)))
			continue;
		while ((de = readdir(d))) {
			_cleanup_json_ json_t *st = NULL;
			char path[8200];
			berth_error e = { 0 };
			size_t l = strlen(de->d_name);

			if (l < 6 || !STREQ(de->d_name + l - 5, ".json"))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (berth_json_load_file(path, &st, &e) < 0 || !json_is_object(st))
				continue;
			count += fn(path, st, arg);
		}
	}
	return count;
}

static int reapply_one(const char *path, json_t *st, void *arg)
{
	berth_error e = { 0 };

	if (berth_firewalld_apply_state(arg, st, true, &e) < 0) {
		berth_log_warn("reapply: %s: %s", path, e.msg);
		return 0;
	}
	return (int)json_array_size(json_object_get(st, "sources"));
}

int berth_firewalld_reapply(berth_error *err)
{
	_cleanup_firewalld_ struct berth_firewalld *f = NULL;
	DIR *d = opendir(berth_firewalld_state_dir());
	int r;

	if (!d)
		return 0;
	closedir(d);
	if ((r = berth_firewalld_open(&f, err)) < 0)
		return r == -ENOENT ? 0 : r;
	return berth_firewalld_each_state(NULL, reapply_one, f);
}
