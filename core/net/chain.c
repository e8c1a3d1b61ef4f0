/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plugin chains, with libcni's semantics (research/cni.md §1.2, 1.3, 1.8): ADD in order with
 * prevResult chaining, DEL in reverse from the cached result, CHECK, STATUS, GC, capability
 * args to runtimeConfig, VERSION validation of every plugin before use.  Unlike libcni, a
 * failed ADD is undone here (DEL of every plugin that ran) and a DEL carries on past a plugin
 * that fails, so one broken plugin does not leak what the others hold.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "berth/fault.h"
#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/cache.h"
#include "berth/chain.h"
#include "berth/error.h"
#include "berth/exec.h"
#include "berth/file.h"
#include "berth/json.h"
#include "berth/log.h"

extern char **environ;

#define PLUGIN_OUT_MAX (4 << 20)

/* The plugins beside this executable (installed: ../libexec/berth/cni; build tree: ../cni),
 * then the configured libexec dir, then /opt/cni/bin. */
const char *berth_core_default_plugin_path(void)
{
	static const char *const rels[] = { "../libexec/berth/cni", "../cni", NULL };
	static char *path;

	if (!path)
		path = berth_self_relative_path(rels, BERTH_CNI_BIN_DIR ":/opt/cni/bin");
	return path ? path : BERTH_CNI_BIN_DIR ":/opt/cni/bin";
}

static const char *plugin_path(const struct berth_core *core)
{
	return core->plugin_path && *core->plugin_path ? core->plugin_path
						       : berth_core_default_plugin_path();
}

static int vcmp(const char *a, const char *b)
{
	unsigned x[3] = { 0 }, y[3] = { 0 };
	sscanf(a, "%u.%u.%u", &x[0], &x[1], &x[2]);
	sscanf(b, "%u.%u.%u", &y[0], &y[1], &y[2]);
	for (int i = 0; i < 3; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

struct invocation {
	const char *command;
	const char *type;
	size_t index;
	const char *container_id, *netns, *ifname, *args;
};

/* The error a plugin reported: its JSON on stdout, else whatever text it left. */
static int plugin_failed(const struct berth_netconf *net, const struct invocation *inv,
			 int status, const char *out, const char *errout, berth_error *err)
{
	_cleanup_json_ json_t *j = NULL;
	const char *msg = NULL, *details = NULL;
	int code = BERTH_CNI_ERR_INTERNAL;

	if (out && *out)
		j = json_loads(out, 0, NULL);
	if (j && json_is_object(j)) {
		json_t *c = json_object_get(j, "code");
		if (json_is_integer(c))
			code = (int)json_integer_value(c);
		msg = json_string_value(json_object_get(j, "msg"));
		details = json_string_value(json_object_get(j, "details"));
	}
	if (!msg && j && json_is_integer(json_object_get(j, "code"))) {
		berth_error_set(err, code, EPROTO,
				"network %s: plugin %s (plugins[%zu]) %s failed with error code %d "
				"and no message",
				net->name, inv->type, inv->index, inv->command, code);
		if (details && *details)
			berth_error_details(err, "%s", details);
		return -EPROTO;
	}
	if (!msg) {
		/* no error JSON: report the raw text, trimmed, as libcni wraps stderr */
		const char *text = out && *out ? out : errout && *errout ? errout : NULL;
		_cleanup_free_ char *t = text ? strndup(text, 400) : NULL;
		if (t) {
			size_t n = strlen(t);
			while (n && (t[n - 1] == '\n' || t[n - 1] == ' '))
				t[--n] = '\0';
		}
		berth_error_set(err, code, EPROTO,
				"network %s: plugin %s (plugins[%zu]) %s failed with exit status %d "
				"and no error JSON%s%s",
				net->name, inv->type, inv->index, inv->command, status,
				t && *t ? ": " : "", t ? t : "");
		return -EPROTO;
	}
	berth_error_set(err, code, EPROTO, "network %s: plugin %s (plugins[%zu]) %s: %s", net->name,
			inv->type, inv->index, inv->command, msg);
	if (details && *details)
		berth_error_details(err, "%s", details);
	return -EPROTO;
}

/* Run one plugin.  For ADD and VERSION the parsed stdout goes to *ret. */
static int run_plugin(const struct berth_core *core, const struct berth_netconf *net,
		      const struct invocation *inv, json_t *conf, json_t **ret, berth_error *err)
{
	_cleanup_free_ char *path = NULL, *input = NULL, *out = NULL, *errout = NULL;
	_cleanup_free_ char *e_cmd = NULL, *e_id = NULL, *e_ns = NULL, *e_if = NULL,
			    *e_args = NULL, *e_path = NULL;
	_cleanup_strv_ char **envp = NULL;
	int status = 0, r;

	r = berth_find_in_path(inv->type, plugin_path(core), &path, err);
	if (r < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ENOENT,
				       "network %s: plugin %s (plugins[%zu]) not found in %s",
				       net->name, inv->type, inv->index, plugin_path(core));
	input = json_dumps(conf, JSON_PRESERVE_ORDER | JSON_COMPACT);
	if (!input)
		return -ENOMEM;
	if (asprintf(&e_cmd, "CNI_COMMAND=%s", inv->command) < 0 ||
	    asprintf(&e_id, "CNI_CONTAINERID=%s", inv->container_id ? inv->container_id : "") < 0 ||
	    asprintf(&e_ns, "CNI_NETNS=%s", inv->netns ? inv->netns : "") < 0 ||
	    asprintf(&e_if, "CNI_IFNAME=%s", inv->ifname ? inv->ifname : "") < 0 ||
	    asprintf(&e_args, "CNI_ARGS=%s", inv->args ? inv->args : "") < 0 ||
	    asprintf(&e_path, "CNI_PATH=%s", plugin_path(core)) < 0)
		return -ENOMEM;
	const char *set[] = { e_cmd, e_id, e_ns, e_if, e_args, e_path, NULL };
	envp = berth_env_override(environ, set);
	if (!envp)
		return -ENOMEM;

	const char *argv[] = { path, NULL };
	struct berth_exec_opts opts = {
		.argv = argv,
		.envp = envp,
		.input = input,
		.input_len = strlen(input),
		.timeout_ms = core->timeout_ms,
		.extra_fd = -1,
	};
	berth_log_debug("%s %s (%s) stdin %s", inv->command, inv->type, path, input);
	r = berth_exec(&opts, &status, &out, &errout, err);
	if (r < 0) {
		if (r == -ETIMEDOUT)
			return berth_error_set(err, BERTH_CNI_ERR_IO, ETIMEDOUT,
					       "network %s: plugin %s (plugins[%zu]) %s timed out "
					       "after %d ms and was killed",
					       net->name, inv->type, inv->index, inv->command,
					       core->timeout_ms);
		return berth_error_prefix(err, "network %s: plugin %s (plugins[%zu]) %s", net->name,
					  inv->type, inv->index, inv->command);
	}
	if (errout && *errout)
		fputs(errout, stderr); /* plugins' logs go where ours go */
	if (status != 0)
		return plugin_failed(net, inv, status, out, errout, err);
	if (!ret)
		return 0;

	json_error_t jerr;
	json_t *j = out && *out ? json_loads(out, 0, &jerr) : NULL;
	if (!j || !json_is_object(j)) {
		json_decref(j);
		return berth_error_set(err, BERTH_CNI_ERR_DECODE, EBADMSG,
				       "network %s: plugin %s (plugins[%zu]) %s: %s", net->name,
				       inv->type, inv->index, inv->command,
				       out && *out ? "output is not a JSON object"
						   : "no result on stdout");
	}
	*ret = j;
	return 0;
}

/*
 * The stdin of one plugin: its config with name and cniVersion of the list, prevResult, and
 * runtimeConfig holding the capability args it declares (and only those).
 */
static json_t *build_conf(const struct berth_netconf *net, size_t i, json_t *prev, json_t *caps)
{
	json_t *c = json_deep_copy(net->plugins[i].conf);
	json_t *declared;

	if (!c)
		return NULL;
	json_object_set_new(c, "name", json_string(net->name));
	json_object_set_new(c, "cniVersion", json_string(net->cni_version));
	if (prev)
		json_object_set(c, "prevResult", prev);
	else
		json_object_del(c, "prevResult");
	declared = json_object_get(net->plugins[i].conf, "capabilities");
	if (declared && caps) {
		json_t *rc = json_object();
		const char *k;
		json_t *v;
		json_object_foreach(declared, k, v) {
			json_t *arg = json_object_get(caps, k);
			if (json_is_true(v) && arg)
				json_object_set(rc, k, arg);
		}
		if (json_object_size(rc))
			json_object_set_new(c, "runtimeConfig", rc);
		else
			json_decref(rc);
	}
	return c;
}

/*
 * A result in the list's version, as libcni's GetAsVersion: a cached entry written when the
 * list had another cniVersion, or a plugin answering in another version than asked.  New
 * reference; on a failed conversion the original is kept (plugins up-convert themselves).
 */
static json_t *as_version(json_t *res, const char *version)
{
	_cleanup_cni_result_ struct berth_cni_result *r = NULL;
	const char *have = json_string_value(json_object_get(res, "cniVersion"));
	json_t *out = NULL;
	berth_error e = { 0 };

	if (!res || !have || STREQ(have, version))
		return json_incref(res);
	if (berth_cni_result_from_json(res, have, &r, &e) < 0 ||
	    berth_cni_result_to_json(r, version, &out, &e) < 0) {
		berth_log_warn("result of version %s kept as is (not convertible to %s: %s)", have,
			       version, e.msg);
		return json_incref(res);
	}
	return out;
}

/* libcni stamps the config's version on a result that carries none. */
static void fixup_result_version(json_t *res, const char *version)
{
	if (!json_is_string(json_object_get(res, "cniVersion")))
		json_object_set_new(res, "cniVersion", json_string(version));
}

static bool version_listed(json_t *reply, const char *version)
{
	json_t *sv = json_object_get(reply, "supportedVersions"), *v;
	size_t i;

	json_array_foreach(sv, i, v)
		if (json_is_string(v) && STREQ(json_string_value(v), version))
			return true;
	return false;
}

int berth_net_validate(const struct berth_core *core, const struct berth_netconf *net,
		       berth_error *err)
{
	for (size_t i = 0; i < net->n_plugins; i++) {
		_cleanup_json_ json_t *conf = json_pack("{ss}", "cniVersion", net->cni_version);
		_cleanup_json_ json_t *reply = NULL;
		/* libcni sends dummy values; some plugins insist on them being set */
		struct invocation inv = { "VERSION", net->plugins[i].type, i, "", "dummy", "dummy",
					  "" };
		berth_error e = { 0 };
		int r;

		if (!conf)
			return -ENOMEM;
		r = run_plugin(core, net, &inv, conf, &reply, &e);
		if (r < 0) {
			if (strstr(e.msg, "unknown CNI_COMMAND") &&
			    vcmp(net->cni_version, "0.1.0") == 0)
				continue; /* a 0.1.0-only plugin, as libcni assumes */
			if (err)
				*err = e;
			return r;
		}
		if (!version_listed(reply, net->cni_version)) {
			_cleanup_free_ char *sv =
				json_dumps(json_object_get(reply, "supportedVersions"), JSON_COMPACT);
			return berth_error_set(err, BERTH_CNI_ERR_INCOMPATIBLE_VERSION, ENOTSUP,
					       "network %s: plugin %s (plugins[%zu]) does not support "
					       "cniVersion %s (it supports %s)",
					       net->name, net->plugins[i].type, i, net->cni_version,
					       sv ? sv : "nothing");
		}
	}
	return 0;
}

static int check_rt(const struct berth_rt *rt, bool need_netns, berth_error *err)
{
	if (!rt->container_id || !*rt->container_id)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
				       "a container ID is required");
	if (!berth_path_component_ok(rt->container_id))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
				       "invalid container ID \"%s\"", rt->container_id);
	if (!rt->ifname || !*rt->ifname || strlen(rt->ifname) > 15 ||
	    !berth_path_component_ok(rt->ifname))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
				       "invalid interface name \"%s\"",
				       rt->ifname ? rt->ifname : "");
	if (need_netns && (!rt->netns || !*rt->netns))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
				       "a network namespace path is required");
	return 0;
}

/* DEL plugins [0, last] in reverse.  Returns the first failure, after trying them all.  A plugin
 * that is not installed is skipped with a warning: it cannot remove anything, and a DEL that
 * fails for it would fail for ever (runtimes retry DEL until it succeeds). */
static int del_range(const struct berth_core *core, const struct berth_netconf *net,
		     const struct berth_rt *rt, size_t last, json_t *prev, berth_error *err)
{
	int ret = 0;
	bool with_prev = prev && vcmp(net->cni_version, "0.4.0") >= 0;

	for (size_t k = last + 1; k-- > 0;) {
		_cleanup_json_ json_t *conf =
			build_conf(net, k, with_prev ? prev : NULL, rt->cap_args);
		struct invocation inv = { "DEL",	  net->plugins[k].type, k, rt->container_id,
					  rt->netns, rt->ifname, rt->args };
		berth_error e = { 0 };
		int r;

		if (!conf)
			return -ENOMEM;
		r = run_plugin(core, net, &inv, conf, NULL, &e);
		if (r == -ENOENT) {
			berth_log_warn("%s: skipped", e.msg);
			continue;
		}
		if (r < 0) {
			berth_log_warn("%s", e.msg);
			if (ret == 0) {
				ret = r;
				if (err)
					*err = e;
			}
		}
	}
	return ret;
}

/*
 * The spec forbids GC to overlap ADD or DEL on a network: ADD/DEL hold this lock shared, GC
 * exclusive.  It lives beside results/, not in it, where libcni-based tools list entries.
 */
static int net_lock(const struct berth_core *core, const struct berth_netconf *net, bool excl,
		    int *ret_fd, berth_error *err)
{
	_cleanup_free_ char *dir = NULL, *path = NULL;
	int r;

	if (asprintf(&dir, "%s/berth-locks", berth_core_cache_dir(core)) < 0 ||
	    asprintf(&path, "%s/%s", dir, net->name) < 0)
		return -ENOMEM;
	r = berth_mkdir_p(dir, 0700, err);
	if (r < 0)
		return r;
	return berth_lock_path(path, excl, ret_fd, err);
}

static int net_del_locked(const struct berth_core *core, const struct berth_netconf *net,
			  const struct berth_rt *rt, berth_error *err);

int berth_net_add(const struct berth_core *core, const struct berth_netconf *net,
		  const struct berth_rt *rt, json_t **ret_result, berth_error *err)
{
	_cleanup_close_ int lock = -1;
	_cleanup_json_ json_t *prev = NULL;
	struct berth_cache_entry old;
	int r;

	r = check_rt(rt, true, err);
	if (r < 0)
		return r;
	if (!core->skip_validate) {
		r = berth_net_validate(core, net, err);
		if (r < 0)
			return r;
	}
	r = net_lock(core, net, false, &lock, err);
	if (r < 0)
		return r;
	/* The spec forbids a second ADD of one attachment without a DEL in between. */
	r = berth_cache_read(core, net->name, rt->container_id, rt->ifname, &old, NULL);
	if (r == 0) {
		berth_cache_entry_free(&old);
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EEXIST,
				       "container %s is already attached to network %s as %s "
				       "(cache entry %s/results/%s-%s-%s); DEL it first",
				       rt->container_id, net->name, rt->ifname,
				       berth_core_cache_dir(core), net->name, rt->container_id,
				       rt->ifname);
	}

	for (size_t i = 0; i < net->n_plugins; i++) {
		_cleanup_json_ json_t *conf = build_conf(net, i, prev, rt->cap_args);
		json_t *res = NULL;
		struct invocation inv = { "ADD",	  net->plugins[i].type, i, rt->container_id,
					  rt->netns, rt->ifname, rt->args };

		if (!conf)
			return -ENOMEM;
		r = run_plugin(core, net, &inv, conf, &res, err);
		if (r == 0) {
			/* libcni parses every ADD result into its version's types; a result that
			 * does not parse would be cached and then poison every DEL and CHECK */
			_cleanup_cni_result_ struct berth_cni_result *parsed = NULL;
			r = berth_cni_result_from_json(res, net->cni_version, &parsed, err);
			if (r < 0) {
				json_decref(res);
				berth_error_prefix(err, "network %s: plugin %s (plugins[%zu]) ADD: "
					      "invalid result", net->name, inv.type, i);
			}
		}
		if (r < 0) {
			/* undo: the failed plugin too, it may have done part of its work */
			berth_error e = { 0 };
			if (del_range(core, net, rt, i, prev, &e) < 0)
				berth_error_details(err, "undo after the failed ADD: %s", e.msg);
			return r;
		}
		fixup_result_version(res, net->cni_version);
		json_decref(prev);
		prev = as_version(res, net->cni_version);
		json_decref(res);
		BERTH_FAULT_POINT("core-after-plugin");
	}

	BERTH_FAULT_POINT("core-before-cache");
	r = berth_cache_write(core, net, rt, prev, err);
	if (r < 0) {
		berth_error e = { 0 };
		del_range(core, net, rt, net->n_plugins - 1, prev, &e);
		return berth_error_prefix(err, "network %s: writing the result cache", net->name);
	}
	if (ret_result)
		*ret_result = TAKE_PTR(prev);
	return 0;
}

/* A netns path from the cache is reused only when it names a bind-mounted (named) netns:
 * a /proc/<pid>/ns/net path may by now belong to an unrelated process. */
static bool cached_netns_usable(const char *ns)
{
	struct stat st;
	if (!ns || !*ns || strncmp(ns, "/proc/", 6) == 0)
		return false;
	return stat(ns, &st) == 0;
}

int berth_net_del(const struct berth_core *core, const struct berth_netconf *net,
		  const struct berth_rt *rt, berth_error *err)
{
	_cleanup_close_ int lock = -1;
	int r;

	r = check_rt(rt, false, err);
	if (r < 0)
		return r;
	r = net_lock(core, net, false, &lock, err);
	if (r < 0)
		return r;
	return net_del_locked(core, net, rt, err);
}

static int net_del_locked(const struct berth_core *core, const struct berth_netconf *net,
			  const struct berth_rt *rt, berth_error *err)
{
	struct berth_cache_entry ce = { 0 };
	struct berth_rt r2 = *rt;
	bool cached = false, corrupt = false;
	berth_error e = { 0 };
	int r;

	r = check_rt(rt, false, err);
	if (r < 0)
		return r;
	r = berth_cache_read(core, net->name, rt->container_id, rt->ifname, &ce, &e);
	if (r == 0) {
		cached = true;
	} else if (r != -ENOENT) {
		/* libcni too removes an unreadable entry after the DEL */
		berth_log_warn("%s; deleting without a prevResult", e.msg);
		corrupt = true;
	}
	if (cached) {
		if (!r2.cap_args)
			r2.cap_args = ce.cap_args;
		if (!r2.args || !*r2.args)
			r2.args = ce.cni_args;
		if ((!r2.netns || !*r2.netns) && cached_netns_usable(ce.netns))
			r2.netns = ce.netns;
	}
	if (!core->skip_validate) {
		/* A missing or broken plugin must not stop the others from cleaning up. */
		if (berth_net_validate(core, net, &e) < 0)
			berth_log_warn("%s", e.msg);
	}
	_cleanup_json_ json_t *prev = cached ? as_version(ce.result, net->cni_version) : NULL;
	r = del_range(core, net, &r2, net->n_plugins - 1, prev, err);
	if (r == 0 && (cached || corrupt))
		r = berth_cache_remove(core, net->name, rt->container_id, rt->ifname, err);
	berth_cache_entry_free(&ce);
	return r;
}

int berth_net_check(const struct berth_core *core, const struct berth_netconf *net,
		    const struct berth_rt *rt, berth_error *err)
{
	struct berth_cache_entry ce = { 0 };
	struct berth_rt r2 = *rt;
	int r;

	r = check_rt(rt, false, err);
	if (r < 0)
		return r;
	if (vcmp(net->cni_version, "0.4.0") < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INCOMPATIBLE_VERSION, ENOTSUP,
				       "network %s: CHECK needs cniVersion 0.4.0 or later (it is %s)",
				       net->name, net->cni_version);
	if (net->disable_check)
		return 0;
	if (!core->skip_validate) {
		r = berth_net_validate(core, net, err);
		if (r < 0)
			return r;
	}
	r = berth_cache_read(core, net->name, rt->container_id, rt->ifname, &ce, err);
	if (r == -ENOENT)
		return berth_error_set(err, BERTH_CNI_ERR_UNKNOWN_CONTAINER, ENOENT,
				       "container %s has no cached result on network %s as %s",
				       rt->container_id, net->name, rt->ifname);
	if (r < 0)
		return r;
	if (!r2.cap_args)
		r2.cap_args = ce.cap_args;
	if (!r2.args || !*r2.args)
		r2.args = ce.cni_args;
	if (!r2.netns || !*r2.netns)
		r2.netns = ce.netns;
	_cleanup_json_ json_t *prev = as_version(ce.result, net->cni_version);
	for (size_t i = 0; i < net->n_plugins && r == 0; i++) {
		_cleanup_json_ json_t *conf = build_conf(net, i, prev, r2.cap_args);
		struct invocation inv = { "CHECK",	   net->plugins[i].type, i, r2.container_id,
					  r2.netns, r2.ifname, r2.args };
		if (!conf) {
			r = -ENOMEM;
			break;
		}
		r = run_plugin(core, net, &inv, conf, NULL, err);
	}
	berth_cache_entry_free(&ce);
	return r;
}

int berth_net_status(const struct berth_core *core, const struct berth_netconf *net,
		     berth_error *err)
{
	int r;

	if (!core->skip_validate) {
		r = berth_net_validate(core, net, err);
		if (r < 0)
			return r;
	}
	if (vcmp(net->cni_version, "1.1.0") < 0)
		return 0; /* STATUS does not exist before 1.1.0: ready */
	for (size_t i = 0; i < net->n_plugins; i++) {
		_cleanup_json_ json_t *conf = build_conf(net, i, NULL, NULL);
		struct invocation inv = { "STATUS", net->plugins[i].type, i, "", "", "", "" };
		if (!conf)
			return -ENOMEM;
		r = run_plugin(core, net, &inv, conf, NULL, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool attachment_valid(const struct berth_attachment *v, size_t n, const char *id,
			     const char *ifname)
{
	for (size_t i = 0; i < n; i++)
		if (STREQ(v[i].container_id, id) && STREQ(v[i].ifname, ifname))
			return true;
	return false;
}

int berth_net_gc(const struct berth_core *core, const struct berth_netconf *net,
		 const struct berth_attachment *valid, size_t n_valid, size_t *ret_deleted,
		 berth_error *err)
{
	struct berth_cache_entry *entries = NULL;
	_cleanup_close_ int lock = -1;
	size_t n = 0, deleted = 0;
	int ret = 0, r;

	r = net_lock(core, net, true, &lock, err);
	if (r < 0)
		return r;
	r = berth_cache_list(core, net->name, NULL, &entries, &n, NULL, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct berth_cache_entry *ce = &entries[i];
		berth_error e = { 0 };

		if (attachment_valid(valid, n_valid, ce->container_id, ce->ifname))
			continue;
		struct berth_rt rt = { .container_id = ce->container_id, .ifname = ce->ifname };
		r = net_del_locked(core, net, &rt, &e);
		if (r < 0) {
			berth_log_warn("GC: %s", e.msg);
			if (ret == 0) {
				ret = r;
				if (err)
					*err = e;
			}
			continue;
		}
		deleted++;
	}
	berth_cache_entries_free(entries, n);
	if (ret_deleted)
		*ret_deleted = deleted;

	if (vcmp(net->cni_version, "1.1.0") < 0 || net->disable_gc)
		return ret;
	if (!core->skip_validate) {
		berth_error e = { 0 };
		r = berth_net_validate(core, net, &e);
		if (r < 0) {
			if (ret == 0 && err)
				*err = e;
			return ret ? ret : r;
		}
	}
	_cleanup_json_ json_t *list = json_array();
	if (!list)
		return -ENOMEM;
	for (size_t i = 0; i < n_valid; i++)
		json_array_append_new(list, json_pack("{ssss}", "containerID",
						      valid[i].container_id, "ifname",
						      valid[i].ifname));
	for (size_t i = 0; i < net->n_plugins; i++) {
		_cleanup_json_ json_t *conf = build_conf(net, i, NULL, NULL);
		struct invocation inv = { "GC", net->plugins[i].type, i, "", "", "", "" };
		berth_error e = { 0 };

		if (!conf)
			return -ENOMEM;
		json_object_set(conf, "cni.dev/valid-attachments", list);
		/* the misspelled key libcni also sends (cni#1101) */
		json_object_set(conf, "cni.dev/attachments", list);
		r = run_plugin(core, net, &inv, conf, NULL, &e);
		if (r < 0) {
			berth_log_warn("%s", e.msg);
			if (ret == 0) {
				ret = r;
				if (err)
					*err = e;
			}
		}
	}
	return ret;
}
