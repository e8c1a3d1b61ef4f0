/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcni's result cache: <cache_dir>/results/<network>-<containerID>-<ifname>, one JSON object
 * of kind cniCacheV1 per attachment with the conflist bytes base64-encoded (Go's []byte), the
 * CNI_ARGS pairs, the capability args and the chain's final result.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/cache.h"
#include "berth/error.h"
#include "berth/file.h"
#include "berth/json.h"

#define CACHE_KIND "cniCacheV1"
#define CACHE_MAX (4 << 20)

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *berth_base64_encode(const void *data, size_t len)
{
	const unsigned char *p = data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = p[i] << 16;
		if (i + 1 < len)
			v |= p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		*o++ = b64[(v >> 18) & 63];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int berth_base64_decode(const char *s, char **ret, size_t *ret_len)
{
	size_t n = strlen(s);
	_cleanup_free_ char *out = NULL;
	unsigned v = 0;
	int bits = 0;
	size_t o = 0, pad = 0;

	if (n % 4)
		return -EINVAL;
	out = malloc(n / 4 * 3 + 1);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=') {
			/* padding only in the last two positions */
			if (i < n - 2 || (i == n - 2 && s[n - 1] != '='))
				return -EINVAL;
			pad++;
			continue;
		}
		int x = b64_value(s[i]);
		if (x < 0)
			return -EINVAL;
		v = (v << 6) | (unsigned)x;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((v >> bits) & 0xff);
		}
	}
	(void)pad;
	out[o] = '\0';
	*ret = TAKE_PTR(out);
	*ret_len = o;
	return 0;
}

const char *berth_core_cache_dir(const struct berth_core *core)
{
	if (core && core->cache_dir && *core->cache_dir)
		return core->cache_dir;
	return BERTH_DEFAULT_CACHE_DIR;
}

static int entry_path(const struct berth_core *core, const char *network, const char *id,
		      const char *ifname, char **ret, berth_error *err)
{
	if (!berth_path_component_ok(network) || !berth_path_component_ok(id) ||
	    !berth_path_component_ok(ifname))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
				       "invalid network, container ID or interface name");
	if (asprintf(ret, "%s/results/%s-%s-%s", berth_core_cache_dir(core), network, id,
		     ifname) < 0)
		return -ENOMEM;
	return 0;
}

void berth_cache_entry_free(struct berth_cache_entry *e)
{
	if (!e)
		return;
	free(e->path);
	free(e->network);
	free(e->container_id);
	free(e->ifname);
	free(e->netns);
	free(e->cni_args);
	free(e->config);
	if (e->json)
		json_decref(e->json);
	memset(e, 0, sizeof(*e));
}

void berth_cache_entries_free(struct berth_cache_entry *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		berth_cache_entry_free(&v[i]);
	free(v);
}

static int corrupt(berth_error *err, const char *path, const char *what)
{
	return berth_error_set(err, BERTH_CNI_ERR_DECODE, EBADMSG, "%s: corrupt cache entry: %s",
			       path, what);
}

static char *dup_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

/* Parse a cache file's content into *e (which takes ownership of path). */
static int entry_parse(char *path, const char *buf, size_t len, struct berth_cache_entry *e,
		       berth_error *err)
{
	json_error_t jerr;
	json_t *j, *v;

	memset(e, 0, sizeof(*e));
	e->path = path;
	j = json_loadb(buf, len, 0, &jerr);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		return corrupt(err, path, j ? "not an object" : jerr.text);
	}
	e->json = j;
	v = json_object_get(j, "kind");
	if (!json_is_string(v) || !STREQ(json_string_value(v), CACHE_KIND))
		return corrupt(err, path, "kind is not " CACHE_KIND);
	e->container_id = dup_str(j, "containerId");
	e->ifname = dup_str(j, "ifName");
	e->network = dup_str(j, "networkName");
	if (!e->container_id || !e->ifname || !e->network)
		return corrupt(err, path, "containerId, ifName or networkName missing");
	e->netns = dup_str(j, "netns");
	e->result = json_object_get(j, "result");
	if (e->result && json_is_null(e->result))
		e->result = NULL;
	if (e->result) {
		/* as libcni's getCachedResult: a result that does not parse is no result; the
		 * entry is then corrupt (DEL goes on without a prevResult and removes it) */
		_cleanup_cni_result_ struct berth_cni_result *parsed = NULL;
		berth_error e2 = { 0 };
		if (!json_is_object(e->result))
			return corrupt(err, path, "result is not an object");
		if (berth_cni_result_from_json(e->result, NULL, &parsed, &e2) < 0) {
			_cleanup_free_ char *what = NULL;
			if (asprintf(&what, "result: %s", e2.msg) < 0)
				return -ENOMEM;
			return corrupt(err, path, what);
		}
	}
	if (!e->netns && e->result) {
		/* older libcni (podman 4) records no netns; the result's sandbox names it */
		json_t *ifs = json_object_get(e->result, "interfaces"), *i;
		size_t k;
		json_array_foreach(ifs, k, i) {
			const char *nm = json_string_value(json_object_get(i, "name"));
			const char *sb = json_string_value(json_object_get(i, "sandbox"));
			if (nm && sb && *sb && STREQ(nm, e->ifname)) {
				e->netns = strdup(sb);
				e->netns_derived = true;
				break;
			}
		}
	}
	e->cap_args = json_object_get(j, "capabilityArgs");
	if (e->cap_args && !json_is_object(e->cap_args))
		return corrupt(err, path, "capabilityArgs is not an object");
	v = json_object_get(j, "config");
	if (v) {
		if (!json_is_string(v) ||
		    berth_base64_decode(json_string_value(v), &e->config, &e->config_len) < 0)
			return corrupt(err, path, "config is not base64");
	}
	v = json_object_get(j, "cniArgs");
	if (v && json_is_array(v) && json_array_size(v) > 0) {
		size_t i, total = 1;
		json_t *pair;
		json_array_foreach(v, i, pair) {
			if (!json_is_array(pair) || json_array_size(pair) != 2 ||
			    !json_is_string(json_array_get(pair, 0)) ||
			    !json_is_string(json_array_get(pair, 1)))
				return corrupt(err, path, "cniArgs is not a list of pairs");
			total += strlen(json_string_value(json_array_get(pair, 0))) +
				 strlen(json_string_value(json_array_get(pair, 1))) + 2;
		}
		e->cni_args = calloc(1, total);
		if (!e->cni_args)
			return -ENOMEM;
		json_array_foreach(v, i, pair) {
			if (i)
				strcat(e->cni_args, ";");
			strcat(e->cni_args, json_string_value(json_array_get(pair, 0)));
			strcat(e->cni_args, "=");
			strcat(e->cni_args, json_string_value(json_array_get(pair, 1)));
		}
	}
	return 0;
}

int berth_cache_read(const struct berth_core *core, const char *network, const char *container_id,
		     const char *ifname, struct berth_cache_entry *ret, berth_error *err)
{
	_cleanup_free_ char *path = NULL, *buf = NULL;
	size_t len;
	int r;

	r = entry_path(core, network, container_id, ifname, &path, err);
	if (r < 0)
		return r;
	r = berth_read_file(path, CACHE_MAX, &buf, &len, err);
	if (r < 0)
		return r;
	r = entry_parse(TAKE_PTR(path), buf, len, ret, err);
	if (r < 0)
		berth_cache_entry_free(ret);
	return r;
}

/* "K=V;K=V" -> [["K","V"],...] as libcni stores RuntimeConf.Args. */
static json_t *args_pairs(const char *args)
{
	json_t *a = json_array();
	_cleanup_free_ char *copy = NULL;
	char *save = NULL;

	if (!a || !args || !*args)
		return a;
	copy = strdup(args);
	if (!copy) {
		json_decref(a);
		return NULL;
	}
	for (char *kv = strtok_r(copy, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq)
			continue;
		*eq = '\0';
		json_array_append_new(a, json_pack("[ss]", kv, eq + 1));
	}
	return a;
}

int berth_cache_write(const struct berth_core *core, const struct berth_netconf *net,
		      const struct berth_rt *rt, json_t *result, berth_error *err)
{
	_cleanup_free_ char *path = NULL, *dir = NULL, *cfg = NULL, *data = NULL;
	_cleanup_json_ json_t *j = NULL;
	json_t *pairs;
	int r;

	r = entry_path(core, net->name, rt->container_id, rt->ifname, &path, err);
	if (r < 0)
		return r;
	if (asprintf(&dir, "%s/results", berth_core_cache_dir(core)) < 0)
		return -ENOMEM;
	r = berth_mkdir_p(dir, 0700, err);
	if (r < 0)
		return r;
	cfg = berth_base64_encode(net->bytes, net->len);
	j = json_object();
	if (!cfg || !j)
		return -ENOMEM;
	json_object_set_new(j, "kind", json_string(CACHE_KIND));
	json_object_set_new(j, "containerId", json_string(rt->container_id));
	json_object_set_new(j, "config", json_string(cfg));
	json_object_set_new(j, "ifName", json_string(rt->ifname));
	json_object_set_new(j, "networkName", json_string(net->name));
	if (rt->netns && *rt->netns)
		json_object_set_new(j, "netns", json_string(rt->netns));
	pairs = args_pairs(rt->args);
	if (pairs && json_array_size(pairs))
		json_object_set_new(j, "cniArgs", pairs);
	else
		json_decref(pairs);
	if (rt->cap_args && json_object_size(rt->cap_args))
		json_object_set(j, "capabilityArgs", rt->cap_args);
	if (result)
		json_object_set(j, "result", result);
	data = json_dumps(j, JSON_PRESERVE_ORDER | JSON_COMPACT);
	if (!data)
		return -ENOMEM;
	return berth_write_file_atomic(path, data, strlen(data), 0600, false, err);
}

int berth_cache_remove(const struct berth_core *core, const char *network,
		       const char *container_id, const char *ifname, berth_error *err)
{
	_cleanup_free_ char *path = NULL;
	int r;

	r = entry_path(core, network, container_id, ifname, &path, err);
	if (r < 0)
		return r;
	if (unlink(path) < 0 && errno != ENOENT)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "remove %s", path);
	return 0;
}

int berth_cache_list(const struct berth_core *core, const char *network, const char *container_id,
		     struct berth_cache_entry **ret, size_t *ret_n, size_t *ret_corrupt,
		     berth_error *err)
{
	_cleanup_free_ char *dir = NULL;
	_cleanup_closedir_ DIR *d = NULL;
	struct berth_cache_entry *v = NULL;
	size_t n = 0, cap = 0, bad = 0;
	struct dirent *de;

	if (asprintf(&dir, "%s/results", berth_core_cache_dir(core)) < 0)
		return -ENOMEM;
	d = opendir(dir);
	if (!d && errno != ENOENT)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "%s", dir);
	while (d && (de = readdir(d))) {
		_cleanup_free_ char *buf = NULL;
		char *path = NULL;
		struct berth_cache_entry e;
		size_t len;

		if (de->d_name[0] == '.')
			continue;
		/* cheap prefilter: the file name starts with the network name */
		if (network && strncmp(de->d_name, network, strlen(network)) != 0)
			continue;
		if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
			goto nomem;
		if (berth_read_file(path, CACHE_MAX, &buf, &len, NULL) < 0) {
			free(path);
			bad++;
			continue;
		}
		if (entry_parse(path, buf, len, &e, NULL) < 0) {
			berth_cache_entry_free(&e);
			bad++;
			continue;
		}
		if ((network && !STREQ(e.network, network)) ||
		    (container_id && !STREQ(e.container_id, container_id))) {
			berth_cache_entry_free(&e);
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			struct berth_cache_entry *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				berth_cache_entry_free(&e);
				goto nomem;
			}
			v = nv;
		}
		v[n++] = e;
	}
	*ret = v;
	*ret_n = n;
	if (ret_corrupt)
		*ret_corrupt = bad;
	return 0;
nomem:
	berth_cache_entries_free(v, n);
	return -ENOMEM;
}
