/* SPDX-License-Identifier: Apache-2.0 */
/* Network configuration lists: parse, validate, find in a config dir, the embedded default. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/netconf.h"
#include "berth/error.h"
#include "berth/file.h"
#include "berth/json.h"

#define NETCONF_MAX (1 << 20)

/* The versions this core speaks, lowest first (libcni 1.2: up to 1.1.0). */
static const char *const core_versions[] = { "0.1.0", "0.2.0", "0.3.0", "0.3.1",
					     "0.4.0", "1.0.0", "1.1.0", NULL };

/*
 * The embedded default network.  10.213.0.0/24 clashes with neither podman's 10.88.0.0/16 nor
 * Docker's 172.17.0.0/16; the bridge name is ours so that nothing of podman's is touched.
 * cniVersions (spec 1.1.0) lets berth and libcni >= 1.2 pick 1.1.0 while libcni 1.1 (containerd
 * 1.6, podman 4), which reads only cniVersion and knows no 1.1.0 result, runs it as 1.0.0: the
 * same conflist, written out by `berth net show berth --json | jq .config`, works in both.
 */
static const char default_conflist[] =
	"{\n"
	"  \"cniVersion\": \"1.0.0\",\n"
	"  \"cniVersions\": [\"1.0.0\", \"1.1.0\"],\n"
	"  \"name\": \"berth\",\n"
	"  \"plugins\": [\n"
	"    {\n"
	"      \"type\": \"bridge\",\n"
	"      \"bridge\": \"berth0\",\n"
	"      \"isGateway\": true,\n"
	"      \"ipMasq\": true,\n"
	"      \"hairpinMode\": true,\n"
	"      \"ipam\": {\n"
	"        \"type\": \"host-local\",\n"
	"        \"ranges\": [[{ \"subnet\": \"10.213.0.0/24\", \"gateway\": \"10.213.0.1\" }]],\n"
	"        \"routes\": [{ \"dst\": \"0.0.0.0/0\" }]\n"
	"      },\n"
	"      \"capabilities\": { \"ips\": true, \"mac\": true }\n"
	"    },\n"
	"    { \"type\": \"portmap\", \"capabilities\": { \"portMappings\": true } },\n"
	"    { \"type\": \"firewall\" },\n"
	"    { \"type\": \"loopback\" }\n"
	"  ]\n"
	"}\n";
/* loopback comes last: it brings lo up and passes prevResult through unchanged, as the
 * reference loopback does when it is chained. */

static int version_index(const char *v)
{
	for (int i = 0; core_versions[i]; i++)
		if (STREQ(core_versions[i], v))
			return i;
	return -1;
}

static bool name_ok(const char *s)
{
	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (p == s || (c != '_' && c != '.' && c != '-')))
			return false;
	}
	return true;
}

void berth_netconf_free(struct berth_netconf *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->cni_version);
	free(c->source);
	free(c->bytes);
	free(c->plugins);
	if (c->json)
		json_decref(c->json);
	free(c);
}

static int get_bool(json_t *obj, const char *key, const char *source, bool *ret, berth_error *err)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (json_is_boolean(v)) {
		*ret = json_is_true(v);
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (!strcasecmp(s, "true") || !strcasecmp(s, "false")) {
			*ret = !strcasecmp(s, "true");
			return 0;
		}
	}
	return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
			       "%s: %s: must be true or false", source, key);
}

/* Pick the highest of cniVersion and cniVersions that this core implements. */
static int negotiate_version(json_t *j, const char *source, char **ret, berth_error *err)
{
	json_t *v = json_object_get(j, "cniVersion");
	json_t *vs = json_object_get(j, "cniVersions");
	int best = -1;

	if (v && !json_is_string(v))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s: cniVersion: must be a string", source);
	if (v) {
		const char *s = json_string_value(v);
		best = version_index(s);
		if (best < 0 && !vs)
			return berth_error_set(err, BERTH_CNI_ERR_INCOMPATIBLE_VERSION, EINVAL,
					       "%s: cniVersion: unsupported version \"%s\" "
					       "(supported: 0.1.0 to 1.1.0)",
					       source, s);
	}
	if (vs) {
		size_t i;
		json_t *e;
		if (!json_is_array(vs))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "%s: cniVersions: must be an array of strings", source);
		json_array_foreach(vs, i, e) {
			if (!json_is_string(e))
				return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
						       "%s: cniVersions[%zu]: must be a string",
						       source, i);
			/* versions newer than ours are dropped, as libcni does */
			int k = version_index(json_string_value(e));
			if (k > best)
				best = k;
		}
	}
	if (best < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INCOMPATIBLE_VERSION, EINVAL,
				       "%s: cniVersion: %s", source,
				       v || vs ? "no supported version (supported: 0.1.0 to 1.1.0)"
					       : "missing");
	*ret = strdup(core_versions[best]);
	return *ret ? 0 : -ENOMEM;
}

static int validate_plugin(json_t *p, const char *source, const char *what, berth_error *err)
{
	json_t *t;

	if (!json_is_object(p))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s: %s: must be an object", source, what);
	t = json_object_get(p, "type");
	if (!t)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s: %s.type: missing", source, what);
	if (!json_is_string(t) || !berth_path_component_ok(json_string_value(t)))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s: %s.type: must be a plugin file name", source, what);
	json_t *caps = json_object_get(p, "capabilities");
	if (caps && !json_is_object(caps))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s: %s.capabilities: must be an object", source, what);
	return 0;
}

static int conf_rank(const char *name);
static bool has_suffix(const char *s, const char *suffix);

/*
 * libcni 1.3: unless loadOnlyInlinedPlugins is true, the plugin configs in
 * the .conf files of <confdir>/<network name>/ (by file name) are appended to the inline plugins.
 * Returns 1 when something was appended.
 */
static int append_dir_plugins(json_t *list, const char *confdir, const char *source,
			      berth_error *err)
{
	_cleanup_free_ char *dir = NULL;
	_cleanup_closedir_ DIR *d = NULL;
	json_t *name = json_object_get(list, "name"), *plugins;
	struct dirent *de;
	char **files = NULL;
	size_t n = 0;
	bool only_inlined = false;
	int r = 0;

	if (!confdir || !json_is_string(name) || !berth_path_component_ok(json_string_value(name)))
		return 0;
	r = get_bool(list, "loadOnlyInlinedPlugins", source, &only_inlined, err);
	if (r < 0 || only_inlined)
		return r;
	if (asprintf(&dir, "%s/%s", confdir, json_string_value(name)) < 0)
		return -ENOMEM;
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !has_suffix(de->d_name, ".conf"))
			continue;
		char **nf = realloc(files, (n + 1) * sizeof(*files));
		if (!nf || !(nf[n] = strdup(de->d_name))) {
			free(nf ? nf : files);
			return -ENOMEM;
		}
		files = nf;
		n++;
	}
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(files[j - 1], files[j]) > 0; j--) {
			char *t = files[j];
			files[j] = files[j - 1];
			files[j - 1] = t;
		}
	plugins = json_object_get(list, "plugins");
	if (!plugins && n) {
		plugins = json_array();
		json_object_set_new(list, "plugins", plugins);
	}
	for (size_t i = 0; i < n && r >= 0; i++) {
		_cleanup_free_ char *path = NULL;
		json_error_t jerr;
		json_t *p;
		if (asprintf(&path, "%s/%s", dir, files[i]) < 0) {
			r = -ENOMEM;
			break;
		}
		p = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
		if (!p || !json_is_object(p) || !json_is_string(json_object_get(p, "type"))) {
			r = berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					    "%s: %s", path,
					    p ? "must be a plugin config with a type" : jerr.text);
			json_decref(p);
			break;
		}
		if (!json_is_array(plugins)) {
			json_decref(p);
			break; /* reported by the caller's validation */
		}
		json_array_append_new(plugins, p);
		r = 1;
	}
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
	return r;
}

static int netconf_parse(const char *bytes, size_t len, const char *source, bool single,
			 const char *confdir, struct berth_netconf **ret, berth_error *err);

int berth_netconf_parse(const char *bytes, size_t len, const char *source, bool single,
			struct berth_netconf **ret, berth_error *err)
{
	return netconf_parse(bytes, len, source, single, NULL, ret, err);
}

static int netconf_parse(const char *bytes, size_t len, const char *source, bool single,
			 const char *confdir, struct berth_netconf **ret, berth_error *err)
{
	_cleanup_netconf_ struct berth_netconf *c = NULL;
	json_t *name, *plugins, *p;
	json_error_t jerr;
	size_t i;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->source = strdup(source);
	if (!c->source)
		return -ENOMEM;
	c->json = json_loadb(bytes, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!c->json)
		return berth_error_set(err, BERTH_CNI_ERR_DECODE, EINVAL,
				       "%s: invalid JSON at line %d column %d: %s", source,
				       jerr.line, jerr.column, jerr.text);
	if (!json_is_object(c->json))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s: must be a JSON object", source);

	if (single) {
		/* A lone plugin config becomes a one-plugin list, as libcni's ConfListFromConf. */
		json_t *conf = c->json;
		r = validate_plugin(conf, source, "(plugin)", err);
		if (r < 0)
			return r;
		json_t *list = json_object();
		json_t *arr = json_array();
		if (!list || !arr) {
			json_decref(list);
			json_decref(arr);
			return -ENOMEM;
		}
		json_t *v = json_object_get(conf, "cniVersion");
		if (v)
			json_object_set(list, "cniVersion", v);
		v = json_object_get(conf, "name");
		if (v)
			json_object_set(list, "name", v);
		json_array_append(arr, conf);
		json_object_set_new(list, "plugins", arr);
		json_decref(c->json);
		c->json = list;
		c->bytes = json_dumps(list, JSON_PRESERVE_ORDER | JSON_COMPACT);
		if (!c->bytes)
			return -ENOMEM;
		c->len = strlen(c->bytes);
	} else {
		r = append_dir_plugins(c->json, confdir, source, err);
		if (r < 0)
			return r;
		if (r > 0) {
			/* what ran is what gets cached: the list with the appended plugins */
			c->bytes = json_dumps(c->json, JSON_PRESERVE_ORDER | JSON_COMPACT);
			if (!c->bytes)
				return -ENOMEM;
			c->len = strlen(c->bytes);
		} else {
			c->bytes = malloc(len + 1);
			if (!c->bytes)
				return -ENOMEM;
			memcpy(c->bytes, bytes, len);
			c->bytes[len] = '\0';
			c->len = len;
		}
	}

	name = json_object_get(c->json, "name");
	if (!name)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s: name: missing", source);
	if (!json_is_string(name) || !name_ok(json_string_value(name)))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s: name: must match ^[A-Za-z0-9][A-Za-z0-9_.-]*$", source);
	c->name = strdup(json_string_value(name));
	if (!c->name)
		return -ENOMEM;

	r = negotiate_version(c->json, source, &c->cni_version, err);
	if (r < 0)
		return r;
	r = get_bool(c->json, "disableCheck", source, &c->disable_check, err);
	if (r < 0)
		return r;
	r = get_bool(c->json, "disableGC", source, &c->disable_gc, err);
	if (r < 0)
		return r;

	plugins = json_object_get(c->json, "plugins");
	if (!plugins)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s: plugins: missing", source);
	if (!json_is_array(plugins) || json_array_size(plugins) == 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "%s: plugins: must be a non-empty array", source);
	c->plugins = calloc(json_array_size(plugins), sizeof(*c->plugins));
	if (!c->plugins)
		return -ENOMEM;
	json_array_foreach(plugins, i, p) {
		char what[32];
		snprintf(what, sizeof(what), "plugins[%zu]", i);
		r = validate_plugin(p, source, what, err);
		if (r < 0)
			return r;
		c->plugins[i].type = json_string_value(json_object_get(p, "type"));
		c->plugins[i].conf = p;
	}
	c->n_plugins = json_array_size(plugins);
	*ret = TAKE_PTR(c);
	return 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && STREQ(s + a - b, suffix);
}

int berth_netconf_load_file(const char *path, struct berth_netconf **ret, berth_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	_cleanup_free_ char *dir = strdup(path);
	char *slash;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	r = berth_read_file(path, NETCONF_MAX, &buf, &len, err);
	if (r < 0)
		return berth_error_prefix(err, "%s", path);
	return netconf_parse(buf, len, path, !has_suffix(path, ".conflist"),
			     has_suffix(path, ".conflist") ? dir : NULL, ret, err);
}

int berth_netconf_default(struct berth_netconf **ret, berth_error *err)
{
	return berth_netconf_parse(default_conflist, strlen(default_conflist), "<embedded>", false,
				   ret, err);
}

static int conf_rank(const char *name)
{
	if (has_suffix(name, ".conflist"))
		return 0;
	if (has_suffix(name, ".conf") || has_suffix(name, ".json"))
		return 1;
	return -1;
}

/* Config files of dir in libcni's order: conflists by name, then .conf/.json by name. */
static int list_files(const char *dir, char ***ret, size_t *ret_n, berth_error *err)
{
	_cleanup_closedir_ DIR *d = NULL;
	_cleanup_strv_ char **v = NULL;
	struct dirent *de;
	size_t n = 0, cap = 0;

	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT) {
			*ret = calloc(1, sizeof(char *));
			*ret_n = 0;
			return *ret ? 0 : -ENOMEM;
		}
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "%s", dir);
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || conf_rank(de->d_name) < 0)
			continue;
		if (n + 2 > cap) {
			cap = cap ? cap * 2 : 16;
			char **nv = realloc(v, cap * sizeof(char *));
			if (!nv)
				return -ENOMEM;
			v = nv;
		}
		v[n] = strdup(de->d_name);
		if (!v[n])
			return -ENOMEM;
		v[++n] = NULL;
	}
	if (!v) {
		v = calloc(1, sizeof(char *));
		if (!v)
			return -ENOMEM;
	}
	/* insertion sort: a config dir holds a handful of files */
	for (size_t i = 1; i < n; i++) {
		char *x = v[i];
		size_t j = i;
		while (j > 0) {
			int ra = conf_rank(v[j - 1]), rb = conf_rank(x);
			if (ra < rb || (ra == rb && strcmp(v[j - 1], x) <= 0))
				break;
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

void berth_netconf_list_free(struct berth_netconf **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		berth_netconf_free(v[i]);
	free(v);
}

int berth_netconf_list(const char *dir, struct berth_netconf ***ret, size_t *ret_n,
		       json_t **ret_errors, berth_error *err)
{
	_cleanup_strv_ char **files = NULL;
	struct berth_netconf **v = NULL;
	size_t nfiles, n = 0;
	bool have_default = false;
	json_t *errors = json_array();
	int r;

	if (!errors)
		return -ENOMEM;
	r = list_files(dir, &files, &nfiles, err);
	if (r < 0)
		goto fail;
	v = calloc(nfiles + 1, sizeof(*v));
	if (!v) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < nfiles; i++) {
		_cleanup_free_ char *path = NULL;
		berth_error e = { 0 };
		struct berth_netconf *c = NULL;

		if (asprintf(&path, "%s/%s", dir, files[i]) < 0) {
			r = -ENOMEM;
			goto fail;
		}
		if (berth_netconf_load_file(path, &c, &e) < 0) {
			json_array_append_new(errors, json_pack("{s:s,s:s}", "file", path, "error",
								e.msg));
			continue;
		}
		for (size_t k = 0; k < n; k++)
			if (STREQ(v[k]->name, c->name)) {
				json_array_append_new(
					errors,
					json_pack("{s:s,s:s++++}", "file", path, "error", path,
						  ": name: network \"", c->name,
						  "\" is already defined by ", v[k]->source));
				berth_netconf_free(c);
				c = NULL;
				break;
			}
		if (!c)
			continue;
		if (STREQ(c->name, BERTH_DEFAULT_NETWORK))
			have_default = true;
		v[n++] = c;
	}
	if (!have_default) {
		r = berth_netconf_default(&v[n], err);
		if (r < 0)
			goto fail;
		n++;
	}
	*ret = v;
	*ret_n = n;
	if (ret_errors)
		*ret_errors = errors;
	else
		json_decref(errors);
	return 0;
fail:
	berth_netconf_list_free(v, n);
	json_decref(errors);
	return r;
}

int berth_netconf_find(const char *dir, const char *name, struct berth_netconf **ret,
		       berth_error *err)
{
	_cleanup_strv_ char **files = NULL;
	_cleanup_netconf_ struct berth_netconf *found = NULL;
	char skipped[512] = "";
	size_t nfiles;
	int r;

	r = list_files(dir, &files, &nfiles, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < nfiles; i++) {
		_cleanup_free_ char *path = NULL;
		_cleanup_netconf_ struct berth_netconf *c = NULL;
		berth_error e = { 0 };

		if (asprintf(&path, "%s/%s", dir, files[i]) < 0)
			return -ENOMEM;
		if (berth_netconf_load_file(path, &c, &e) < 0) {
			/* A broken file that would have defined this network is this network's
			 * error; other broken files do not stop the lookup. */
			_cleanup_free_ char *buf = NULL;
			size_t len;
			json_t *j;
			if (berth_read_file(path, NETCONF_MAX, &buf, &len, NULL) == 0 &&
			    (j = json_loadb(buf, len, 0, NULL))) {
				json_t *nm = json_object_get(j, "name");
				bool mine = json_is_string(nm) && STREQ(json_string_value(nm), name);
				json_decref(j);
				if (mine) {
					if (err)
						*err = e;
					return berth_error_ret(&e);
				}
			}
			/* remembered: it may be the network asked for, unreadably */
			if (!skipped[0])
				snprintf(skipped, sizeof(skipped), " (skipped %s)", e.msg);
			continue;
		}
		if (!STREQ(c->name, name))
			continue;
		if (found)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EEXIST,
					       "%s: name: network \"%s\" is already defined by %s",
					       path, name, found->source);
		found = TAKE_PTR(c);
	}
	if (found) {
		*ret = TAKE_PTR(found);
		return 0;
	}
	if (STREQ(name, BERTH_DEFAULT_NETWORK))
		return berth_netconf_default(ret, err);
	return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ENOENT,
			       "network \"%s\" not found in %s%s", name, dir, skipped);
}
