/* SPDX-License-Identifier: Apache-2.0 */
/* The per-host storage config (/etc/berth/storage.json) and driver selection: shared by the
 * core (`berth storage`) and the containerd snapshotter (plugins/containerd), which is why it
 * lives here and not in core/. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/file.h"
#include "berth/json.h"
#include "berth/storage-select.h"

/* btrfs answers INIT with 13 off btrfs, devicemapper is tried only when configured (it needs
 * a thin pool), vfs works anywhere: the fallback. */
static const char *const default_priority[] = { "overlay", "btrfs", "devicemapper", "vfs", NULL };

/* Drivers that cannot work without per-host options (a pool to use): `auto` passes them by
 * unless options.<name> exists. */
static bool needs_config(const char *name)
{
	return STREQ(name, "devicemapper");
}

void berth_stor_config_free(struct berth_stor_config *c)
{
	if (!c)
		return;
	free(c->source);
	free(c->driver);
	free(c->root);
	free(c->run_root);
	if (c->options)
		json_decref(c->options);
	if (c->priority)
		json_decref(c->priority);
	free(c);
}

static int abs_path(const char *what, const char *v, berth_error *err)
{
	if (!v || v[0] != '/')
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "%s: \"%s\" must be an absolute path", what, v ? v : "");
	return 0;
}

int berth_stor_config_load(const char *path, struct berth_stor_config **ret, berth_error *err)
{
	static const char *const known[] = { "driver", "root", "runRoot", "options", "priority",
					     "comment", NULL };
	_cleanup_json_ json_t *j = NULL;
	struct berth_stor_config *c;
	char def[PATH_MAX];
	const char *driver = "auto", *root = BERTH_STOR_DEFAULT_ROOT,
		   *run_root = BERTH_STOR_DEFAULT_RUNROOT, *key;
	json_t *options = NULL, *priority = NULL, *v;
	int r;

	if (!path || !*path)
		path = getenv("BERTH_STORAGE_CONFIG");
	if (!path || !*path) {
		snprintf(def, sizeof(def), "%s/berth/storage.json", BERTH_SYSCONFDIR);
		path = access(def, F_OK) == 0 ? def : NULL;
	}
	if (path) {
		r = berth_json_load_file(path, &j, err);
		if (r < 0)
			return berth_error_prefix(err, "%s", path);
		if (!json_is_object(j))
			return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
					       "%s: not a JSON object", path);
		json_object_foreach(j, key, v) {
			bool ok = false;
			for (size_t i = 0; known[i]; i++)
				ok = ok || STREQ(known[i], key);
			if (!ok)
				return berth_error_set(err, BERTH_ERR_UNSUPPORTED_FIELD, EINVAL,
						       "%s: unknown key \"%s\"", path, key);
		}
		if ((r = berth_json_get_string(j, path, "driver", false, &driver, err)) < 0 ||
		    (r = berth_json_get_string(j, path, "root", false, &root, err)) < 0 ||
		    (r = berth_json_get_string(j, path, "runRoot", false, &run_root, err)) < 0 ||
		    (r = berth_json_get_object(j, path, "options", false, &options, err)) < 0 ||
		    (r = berth_json_get_array(j, path, "priority", false, &priority, err)) < 0)
			return r;
	}
	if ((r = abs_path("root", root, err)) < 0 || (r = abs_path("runRoot", run_root, err)) < 0)
		return berth_error_prefix(err, "%s", path ? path : "storage config");
	if (!STREQ(driver, "auto") && (!berth_path_component_ok(driver) || strchr(driver, ' ')))
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "driver: invalid name \"%s\"", driver);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->source = strdup(path ? path : "<embedded default>");
	c->driver = strdup(driver);
	c->root = strdup(root);
	c->run_root = strdup(run_root);
	c->options = options ? json_incref(options) : json_object();
	if (priority) {
		c->priority = json_incref(priority);
	} else {
		c->priority = json_array();
		for (size_t i = 0; default_priority[i]; i++)
			json_array_append_new(c->priority, json_string(default_priority[i]));
	}
	if (!c->source || !c->driver || !c->root || !c->run_root || !c->options || !c->priority) {
		berth_stor_config_free(c);
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	}
	*ret = c;
	return 0;
}

void berth_stor_selection_clear(struct berth_stor_selection *s)
{
	if (!s)
		return;
	free(s->driver);
	free(s->driver_path);
	free(s->reason);
	if (s->probes)
		json_decref(s->probes);
	if (s->init)
		json_decref(s->init);
	berth_stor_client_free(s->client);
	memset(s, 0, sizeof(*s));
}

/* Try one driver: find it, INIT it.  0 = usable. */
static int try_driver(const struct berth_stor_config *cfg, const char *root, const char *run_root,
		      const char *name, struct berth_stor_selection *s, berth_error *err)
{
	_cleanup_free_ char *path = NULL, *droot = NULL, *drun = NULL;
	struct berth_stor_client *client = NULL;
	json_t *res = NULL;
	int r;

	r = berth_stor_find_driver(name, &path, err);
	if (r < 0)
		return r;
	if (asprintf(&droot, "%s/%s", root, name) < 0 ||
	    asprintf(&drun, "%s/%s", run_root, name) < 0) {
		droot = drun = NULL;
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	}
	r = berth_stor_client_new(path, name, droot, drun, json_object_get(cfg->options, name),
				  &client, err);
	if (r < 0)
		return r;
	r = berth_stor_client_call(client, "INIT", NULL, -1, &res, err);
	if (r < 0) {
		berth_stor_client_free(client);
		return r;
	}
	s->client = client;
	s->driver = strdup(name);
	s->driver_path = TAKE_PTR(path);
	s->init = res;
	return s->driver ? 0 : berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
}

/* Say why every driver of the priority list but the one taken was not: "probes" entries
 * {driver, ok:false, skipped:true, reason} for those not tried. */
static void note_untried(const struct berth_stor_config *cfg, struct berth_stor_selection *s,
			 const char *why)
{
	size_t i, k;
	json_t *v, *p;

	json_array_foreach(cfg->priority, i, v) {
		const char *name = json_string_value(v);
		bool seen = false;

		if (!name)
			continue;
		json_array_foreach(s->probes, k, p)
			seen = seen || STREQ(json_string_value(json_object_get(p, "driver")) ?: "", name);
		if (seen)
			continue;
		json_array_append_new(
			s->probes,
			json_pack("{s:s,s:b,s:b,s:o}", "driver", name, "ok", false, "skipped", true,
				  "reason",
				  needs_config(name) && !json_object_get(cfg->options, name)
					  ? json_sprintf("%s (and not configured: no options.%s)",
							 why, name)
					  : json_string(why)));
	}
}

int berth_stor_select(const struct berth_stor_config *cfg, const char *root, const char *run_root,
		      const char *sticky, struct berth_stor_selection *s, berth_error *err)
{
	_cleanup_free_ char *used = NULL, *why = NULL;
	size_t i;
	json_t *v;
	int r;

	memset(s, 0, sizeof(*s));
	root = root ? root : cfg->root;
	run_root = run_root ? run_root : cfg->run_root;
	s->probes = json_array();
	if (!STREQ(cfg->driver, "auto")) {
		r = try_driver(cfg, root, run_root, cfg->driver, s, err);
		if (r < 0)
			return berth_error_prefix(err, "storage driver %s", cfg->driver);
		s->reason = strdup("configured");
		json_array_append_new(s->probes, json_pack("{s:s,s:b,s:s}", "driver", s->driver,
							   "ok", true, "reason", "configured"));
		if (asprintf(&why, "not tried: the config names the driver (%s)", s->driver) >= 0)
			note_untried(cfg, s, why);
		else
			why = NULL;
		return 0;
	}
	/* Layers live in one driver: once one was used, auto keeps it. */
	if (sticky && berth_read_file(sticky, 256, &used, NULL, NULL) == 0) {
		used[strcspn(used, "\n")] = '\0';
		r = try_driver(cfg, root, run_root, used, s, err);
		if (r < 0)
			return berth_error_prefix(err, "storage driver %s (in use under %s)", used,
						  root);
		if (asprintf(&s->reason, "auto: already holds the layers under %s", root) < 0)
			s->reason = NULL;
		json_array_append_new(s->probes, json_pack("{s:s,s:b,s:s}", "driver", used, "ok",
							   true, "reason", "holds the layers"));
		if (asprintf(&why, "not tried: %s holds the layers under %s", used, root) >= 0)
			note_untried(cfg, s, why);
		else
			why = NULL;
		return 0;
	}
	json_array_foreach(cfg->priority, i, v) {
		berth_error e = { 0 };
		const char *name = json_string_value(v);
		if (!name)
			continue;
		if (needs_config(name) && !json_object_get(cfg->options, name)) {
			json_array_append_new(
				s->probes,
				json_pack("{s:s,s:b,s:b,s:o}", "driver", name, "ok", false, "skipped",
					  true, "reason",
					  json_sprintf("not configured: %s needs options.%s in %s", name,
						       name, cfg->source)));
			continue;
		}
		r = try_driver(cfg, root, run_root, name, s, &e);
		/* A driver that is installed but refuses its configuration (a misspelt option, a
		 * bad value: codes 2 and 7) is the admin's mistake, not this host's limit: say so
		 * rather than quietly taking the next driver. */
		if (r < 0 && (e.code == BERTH_ERR_UNSUPPORTED_FIELD ||
			      (e.code == BERTH_ERR_INVALID_CONFIG && e.errnum != ENOENT))) {
			if (err)
				*err = e;
			return berth_error_prefix(err, "storage driver %s", name);
		}
		json_array_append_new(
			s->probes,
			r == 0 ? json_pack("{s:s,s:b,s:s}", "driver", name, "ok", true, "reason",
					   "INIT succeeded: works here")
			       : json_pack("{s:s,s:b,s:i,s:s,s:o}", "driver", name, "ok", false,
					   "code", e.code, "msg", e.msg, "reason",
					   json_sprintf("INIT failed with code %d: %s", e.code,
							e.msg)));
		if (r == 0) {
			if (asprintf(&s->reason, "auto: first of the priority list that works here") <
			    0)
				s->reason = NULL;
			if (asprintf(&why, "not tried: %s comes first in the priority list", name) >=
			    0)
				note_untried(cfg, s, why);
			else
				why = NULL;
			if (!sticky)
				return 0;
			return berth_write_file_atomic(sticky, name, strlen(name), 0644, true, err);
		}
	}
	{
		_cleanup_free_ char *tried = json_dumps(s->probes, JSON_COMPACT);
		return berth_error_set(err, BERTH_STOR_ERR_NOT_SUPPORTED, EOPNOTSUPP,
				       "no storage driver works on this host (tried: %s)",
				       tried ? tried : "?");
	}
}
