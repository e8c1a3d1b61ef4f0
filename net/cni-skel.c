// SPDX-License-Identifier: Apache-2.0
/* The CNI plugin skeleton: environment, stdin, version negotiation, dispatch, output. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/exec.h"
#include "berth/file.h"
#include "berth/json.h"
#include "berth/log.h"
#include "berth/cni-skel.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

#define STDIN_MAX (8u << 20)
#define IFNAMSIZ_MAX 15

extern char **environ;

enum verb { V_ADD, V_DEL, V_CHECK, V_STATUS, V_GC, V_VERSION };

static const struct {
	const char *name;
	bool need_id, need_netns, need_ifname, need_path;
} verbs[] = {
	[V_ADD] = { "ADD", true, true, true, true },
	[V_DEL] = { "DEL", true, false, true, true },
	[V_CHECK] = { "CHECK", true, true, true, true },
	[V_STATUS] = { "STATUS", false, false, false, true },
	[V_GC] = { "GC", false, false, false, true },
	[V_VERSION] = { "VERSION", false, false, false, false },
};

static const char *env_or_null(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static bool container_id_ok(const char *id)
{
	/* ^[A-Za-z0-9][A-Za-z0-9_.-]*$, as libcni's ValidateContainerID */
	for (const char *p = id; *p; p++) {
		bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9');
		if (!alnum && (p == id || !strchr("_.-", *p)))
			return false;
	}
	return *id != '\0';
}

static int validate_ifname(const char *name, berth_error *err)
{
	if (strlen(name) > IFNAMSIZ_MAX)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
				       "interface name is too long (CNI_IFNAME=%s, max %d)", name,
				       IFNAMSIZ_MAX);
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
				       "interface name is . or .. (CNI_IFNAME)");
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == ':' || *p == ' ' || (*p >= '\t' && *p <= '\r'))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
					       "interface name contains / or : or whitespace "
					       "(CNI_IFNAME=%s)",
					       name);
	return 0;
}

/* 1 = a network namespace, 0 = not (or gone: *gone set), <0 = error.  Every CNI_NETNS that
 * cannot be used is the spec's code 4 (invalid environment variable). */
static int check_netns(const char *path, bool *gone, berth_error *err)
{
	struct statfs sfs;
	struct stat st, self;
	int fd, type;

	*gone = false;
	if (statfs(path, &sfs) < 0) {
		if (errno == ENOENT) {
			*gone = true;
			return 0;
		}
		return berth_error_errno(err, BERTH_CNI_ERR_INVALID_ENV, "failed to open netns %s (CNI_NETNS)",
					 path);
	}
	if (sfs.f_type != NSFS_MAGIC)
		return 0;
	/* a namespace, but of which kind: /proc/PID/ns/mnt is on nsfs too */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INVALID_ENV, "failed to open netns %s (CNI_NETNS)",
					 path);
	type = ioctl(fd, NS_GET_NSTYPE);
	close(fd);
	if (type != CLONE_NEWNET)
		return 0;
	if (stat(path, &st) == 0 && stat("/proc/self/ns/net", &self) == 0 &&
	    st.st_dev == self.st_dev && st.st_ino == self.st_ino)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
				       "netns %s is the plugin's own network namespace (CNI_NETNS)",
				       path);
	return 1;
}

static void print_json(const json_t *j, bool pretty)
{
	_cleanup_free_ char *s = pretty ? berth_json_dump_pretty(j) : berth_json_dump(j);

	if (s) {
		fputs(s, stdout);
		if (!pretty)
			fputc('\n', stdout);
	}
	fflush(stdout);
}

static int print_error(const berth_error *err, const char *version)
{
	berth_error e = *err;
	_cleanup_json_ json_t *j = NULL;

	if (e.code == 0)
		e.code = BERTH_CNI_ERR_INTERNAL;
	j = berth_cni_error_json(&e, version);
	if (j)
		print_json(j, true);
	berth_log_debug("error %d: %s (%s)", e.code, e.msg, e.details);
	return 1;
}

static int supported_versions(const struct berth_cni_plugin *p, json_t **ret)
{
	json_t *arr = json_array();

	if (!arr)
		return -ENOMEM;
	for (const char *const *v = berth_cni_all_versions; *v; v++)
		if (!p->min_version || berth_cni_version_cmp(*v, p->min_version) >= 0)
			json_array_append_new(arr, json_string(*v));
	*ret = arr;
	return 0;
}

static bool version_supported(const struct berth_cni_plugin *p, const char *v)
{
	for (const char *const *s = berth_cni_all_versions; *s; s++)
		if (strcmp(*s, v) == 0)
			return !p->min_version || berth_cni_version_cmp(v, p->min_version) >= 0;
	return false;
}

static int cmd_version(const struct berth_cni_plugin *p)
{
	_cleanup_json_ json_t *j = json_object(), *vs = NULL;

	if (!j || supported_versions(p, &vs) < 0)
		return 1;
	json_object_set_new(j, "cniVersion", json_string(BERTH_CNI_VERSION_LATEST));
	json_object_set(j, "supportedVersions", vs);
	print_json(j, false);
	return 0;
}

static int parse_config(const struct berth_cni_plugin *p, enum verb v, struct berth_cni_call *call,
			berth_error *err)
{
	const char *version = NULL, *name = NULL;
	json_t *prev = NULL;
	int r;

	r = berth_json_parse(call->stdin_data, call->stdin_len, &call->config, err);
	if (r < 0)
		return berth_error_prefix(err, "error parsing network config");
	if (!json_is_object(call->config))
		return berth_error_set(err, BERTH_CNI_ERR_DECODE, EINVAL,
				       "network config must be a JSON object");
	r = berth_json_get_string(call->config, NULL, "cniVersion", false, &version, err);
	if (r < 0 && v == V_DEL) {
		berth_log_warn("DEL: ignoring %s", err->msg);
		berth_error_clear(err);
		version = BERTH_CNI_VERSION_LATEST;
	} else if (r < 0) {
		return r;
	}
	if (!version || !*version)
		version = "0.1.0"; /* as libcni's ConfigDecoder */
	call->version = version;
	if (!version_supported(p, version) && v == V_DEL) {
		/* DEL cleans up whatever the version: what an ADD may have left is found without it */
		berth_log_warn("DEL: ignoring cniVersion \"%s\", which %s does not support", version,
			       p->name);
		call->version = BERTH_CNI_VERSION_LATEST;
	} else if (!version_supported(p, version)) {
		_cleanup_json_ json_t *vs = NULL;
		_cleanup_free_ char *list = NULL;

		supported_versions(p, &vs);
		list = vs ? berth_json_dump(vs) : NULL;
		berth_error_set(err, BERTH_CNI_ERR_INCOMPATIBLE_VERSION, EINVAL,
				"incompatible CNI versions");
		berth_error_details(err, "config is \"%s\", plugin supports %s", version,
				    list ? list : "[]");
		return -EINVAL;
	}
	if (v == V_CHECK && berth_cni_version_cmp(version, "0.4.0") < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INCOMPATIBLE_VERSION, EINVAL,
				       "config version does not allow CHECK");
	if ((v == V_STATUS || v == V_GC) && berth_cni_version_cmp(version, "1.1.0") < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INCOMPATIBLE_VERSION, EINVAL,
				       "config version does not allow %s", verbs[v].name);

	r = berth_json_get_string(call->config, NULL, "name", false, &name, err);
	if (r < 0)
		return r;
	if (!name || !*name)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "missing network name");
	if (!container_id_ok(name))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "invalid characters found in network name \"%s\"", name);
	call->name = name;

	prev = json_object_get(call->config, "prevResult");
	if (prev && !json_is_null(prev)) {
		r = berth_cni_result_from_json(prev, call->version, &call->prev_result, err);
		if (r < 0 && v == V_DEL) {
			berth_log_warn("DEL: ignoring a prevResult that does not parse: %s", err->msg);
			berth_error_clear(err);
			call->prev_result = NULL;
		} else if (r < 0) {
			return berth_error_prefix(err, "could not parse prevResult");
		}
	}
	if (v == V_CHECK && !call->prev_result && !p->ipam)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "Required prevResult missing: CHECK needs the result of ADD");
	return 0;
}

static int check_env(enum verb v, struct berth_cni_call *call, berth_error *err)
{
	char missing[128] = "";
	int r;

	call->container_id = env_or_null("CNI_CONTAINERID");
	call->netns = env_or_null("CNI_NETNS");
	call->ifname = env_or_null("CNI_IFNAME");
	call->args = getenv("CNI_ARGS") ? getenv("CNI_ARGS") : "";
	call->path = getenv("CNI_PATH") ? getenv("CNI_PATH") : "";

	if (verbs[v].need_id && !call->container_id)
		strcat(missing, ",CNI_CONTAINERID");
	if (verbs[v].need_netns && !call->netns)
		strcat(missing, ",CNI_NETNS");
	if (verbs[v].need_ifname && !call->ifname)
		strcat(missing, ",CNI_IFNAME");
	if (verbs[v].need_path && !*call->path)
		strcat(missing, ",CNI_PATH");
	if (missing[0])
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
				       "required env variables [%s] missing", missing + 1);

	if (call->container_id && !container_id_ok(call->container_id))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
				       "invalid characters in containerID (CNI_CONTAINERID=%s)",
				       call->container_id);
	if (call->ifname) {
		r = validate_ifname(call->ifname, err);
		if (r < 0)
			return r;
	}
	if (call->netns && (v == V_ADD || v == V_CHECK || v == V_DEL)) {
		bool gone;

		r = check_netns(call->netns, &gone, err);
		if (r < 0)
			return r;
		if (r == 0) {
			if (v != V_DEL)
				return berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
						       "%s is not a network namespace (CNI_NETNS)",
						       call->netns);
			/* DEL: an unmounted bind-mount target or a vanished path */
			call->netns_gone = true;
		}
	}
	return 0;
}

int berth_plugin_main(const struct berth_cni_plugin *p, int argc, char **argv)
{
	struct berth_cni_call call = { 0 };
	_cleanup_free_ char *input = NULL;
	const char *cmd;
	berth_error err = { 0 };
	berth_cni_verb_fn fn = NULL;
	_cleanup_cni_result_ struct berth_cni_result *result = NULL;
	enum verb v = V_VERSION;
	size_t len = 0;
	int r, rc = 1;

	berth_log_init(p->name);
	cmd = env_or_null("CNI_COMMAND");
	if (!cmd) {
		fprintf(stderr, "CNI %s plugin (berth %s)\nCNI protocol versions supported: ",
			p->name, BERTH_VERSION);
		for (const char *const *s = berth_cni_all_versions; *s; s++)
			if (!p->min_version || berth_cni_version_cmp(*s, p->min_version) >= 0)
				fprintf(stderr, "%s%s", *s, s[1] ? ", " : "\n");
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (strcmp(cmd, verbs[i].name) == 0) {
			v = (enum verb)i;
			goto found;
		}
	berth_error_set(&err, BERTH_CNI_ERR_INVALID_ENV, EINVAL, "unknown CNI_COMMAND: %s", cmd);
	return print_error(&err, NULL);
found:
	if (v == V_VERSION)
		return cmd_version(p);

	r = check_env(v, &call, &err);
	if (r < 0)
		return print_error(&err, NULL);
	r = berth_read_fd(STDIN_FILENO, STDIN_MAX, &input, &len, &err);
	if (r < 0) {
		berth_error_prefix(&err, "error reading from stdin");
		return print_error(&err, NULL);
	}
	call.command = cmd;
	call.stdin_data = input;
	call.stdin_len = len;
	r = parse_config(p, v, &call, &err);
	if (r < 0) {
		rc = print_error(&err, call.version);
		goto out;
	}

	switch (v) {
	case V_ADD: fn = p->add; break;
	case V_DEL: fn = p->del; break;
	case V_CHECK: fn = p->check; break;
	case V_STATUS: fn = p->status; break;
	case V_GC: fn = p->gc; break;
	default: break;
	}
	if (!fn) {
		/* every berth plugin implements every verb; never answer success for nothing */
		berth_error_set(&err, BERTH_CNI_ERR_INVALID_ENV, ENOTSUP,
				"CNI_COMMAND %s is not implemented by %s", cmd, p->name);
		rc = print_error(&err, call.version);
		goto out;
	}
	r = fn(&call, &result, &err);
	if (r < 0) {
		rc = print_error(&err, call.version);
		goto out;
	}
	if (v == V_ADD) {
		_cleanup_json_ json_t *j = NULL;

		if (!result) {
			berth_error_set(&err, BERTH_CNI_ERR_INTERNAL, EINVAL, "plugin returned no result");
			rc = print_error(&err, call.version);
			goto out;
		}
		r = berth_cni_result_to_json(result, call.version, &j, &err);
		if (r < 0) {
			rc = print_error(&err, call.version);
			goto out;
		}
		print_json(j, true);
	}
	rc = 0;
out:
	berth_cni_result_free(call.prev_result);
	if (call.config)
		json_decref(call.config);
	(void)argc;
	(void)argv;
	return rc;
}

static const struct berth_cni_plugin *builtin_delegate;

void berth_cni_delegate_builtin(const struct berth_cni_plugin *plugin)
{
	builtin_delegate = plugin;
}

/* Is `path` the file named `type` beside our own executable? */
static bool is_our_sibling(const char *path, const char *type)
{
	static const char *const here[] = { ".", NULL };
	_cleanup_free_ char *dir = berth_self_relative_path(here, NULL), *sib = NULL;
	struct stat a, b;

	if (!dir || !*dir || asprintf(&sib, "%s/%s", dir, type) < 0)
		return false;
	return stat(path, &a) == 0 && stat(sib, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

static int delegate_in_process(const struct berth_cni_plugin *p, const struct berth_cni_call *call,
			       const char *command, struct berth_cni_result **ret, berth_error *err)
{
	struct berth_cni_call sub = *call;
	_cleanup_cni_result_ struct berth_cni_result *res = NULL;
	_cleanup_json_ json_t *j = NULL;
	berth_cni_verb_fn fn = STREQ(command, "ADD")	 ? p->add :
			       STREQ(command, "DEL")	 ? p->del :
			       STREQ(command, "CHECK")	 ? p->check :
			       STREQ(command, "STATUS") ? p->status :
			       STREQ(command, "GC")	 ? p->gc :
							   NULL;
	int r;

	sub.command = command;
	sub.prev_result = NULL;
	if (!fn)
		return 0;
	r = fn(&sub, &res, err);
	if (r < 0 || !STREQ(command, "ADD") || !ret)
		return r;
	if (!res)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL, "%s returned no result",
				       p->name);
	/* what the executable would have printed, read back as from its stdout */
	if ((r = berth_cni_result_to_json(res, call->version, &j, err)) < 0 ||
	    (r = berth_cni_result_from_json(j, call->version, ret, err)) < 0)
		return berth_error_prefix(err, "%s returned", p->name);
	return 0;
}

int berth_cni_delegate(const struct berth_cni_call *call, const char *type, const char *command,
		       struct berth_cni_result **ret, berth_error *err)
{
	_cleanup_free_ char *path = NULL, *out = NULL, *cmdenv = NULL;
	_cleanup_strv_ char **env = NULL;
	const char *argv[2];
	const char *set[2];
	int r, status;

	r = berth_find_in_path(type, call->path, &path, err);
	if (r < 0)
		return r;
	if (builtin_delegate && STREQ(builtin_delegate->name, type) &&
	    !getenv("BERTH_NO_BUILTIN_DELEGATE") && is_our_sibling(path, type))
		return delegate_in_process(builtin_delegate, call, command, ret, err);
	if (asprintf(&cmdenv, "CNI_COMMAND=%s", command) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	set[0] = cmdenv;
	set[1] = NULL;
	env = berth_env_override(environ, set);
	if (!env)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	argv[0] = path;
	argv[1] = NULL;
	r = berth_exec(&(struct berth_exec_opts){ .argv = argv,
						  .envp = env,
						  .input = call->stdin_data,
						  .input_len = call->stdin_len,
						  .extra_fd = -1 },
		       &status, &out, NULL, err);
	if (r < 0)
		return r;
	if (status != 0) {
		_cleanup_json_ json_t *j = NULL;
		berth_error perr = { 0 };
		const char *msg = NULL, *details = NULL;
		int64_t code = 0;

		if (berth_json_parse(out, strlen(out), &j, &perr) == 0 && json_is_object(j)) {
			berth_json_get_int(j, NULL, "code", false, 0, 1 << 30, &code, &perr);
			berth_json_get_string(j, NULL, "msg", false, &msg, &perr);
			berth_json_get_string(j, NULL, "details", false, &details, &perr);
		}
		if (msg) {
			berth_error_set(err, code ? (int)code : BERTH_CNI_ERR_INTERNAL, EIO, "%s",
					msg);
			if (details)
				berth_error_details(err, "%s", details);
		} else {
			berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EIO,
					"%s %s failed with status %d: %.200s", type, command, status,
					out);
		}
		return -EIO;
	}
	if (ret && strcmp(command, "ADD") == 0) {
		_cleanup_json_ json_t *j = NULL;

		r = berth_json_parse(out, strlen(out), &j, err);
		if (r < 0)
			return berth_error_prefix(err, "%s returned", type);
		r = berth_cni_result_from_json(j, call->version, ret, err);
		if (r < 0)
			return berth_error_prefix(err, "%s returned", type);
	}
	return 0;
}

void berth_cni_attachments_free(struct berth_cni_attachment *a, size_t n)
{
	for (size_t i = 0; a && i < n; i++) {
		free(a[i].container_id);
		free(a[i].ifname);
	}
	free(a);
}

int berth_cni_valid_attachments(json_t *config, struct berth_cni_attachment **ret, size_t *ret_n,
				bool *ret_present, berth_error *err)
{
	json_t *arr = NULL, *it;
	struct berth_cni_attachment *a;
	size_t i;
	int r;

	*ret = NULL;
	*ret_n = 0;
	*ret_present = false;
	r = berth_json_get_array(config, NULL, "cni.dev/valid-attachments", false, &arr, err);
	if (r < 0)
		return r;
	if (!arr) {
		r = berth_json_get_array(config, NULL, "cni.dev/attachments", false, &arr, err);
		if (r < 0)
			return r;
	}
	if (!arr)
		return 0;
	a = calloc(json_array_size(arr) + 1, sizeof(*a));
	if (!a)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	json_array_foreach(arr, i, it) {
		const char *id = NULL, *ifname = NULL;
		char what[64];

		snprintf(what, sizeof(what), "cni.dev/valid-attachments[%zu]", i);
		if (berth_json_get_string(it, what, "containerID", true, &id, err) < 0 ||
		    berth_json_get_string(it, what, "ifname", true, &ifname, err) < 0) {
			berth_cni_attachments_free(a, i);
			return -EINVAL;
		}
		a[i].container_id = strdup(id);
		a[i].ifname = strdup(ifname);
		if (!a[i].container_id || !a[i].ifname) {
			berth_cni_attachments_free(a, i + 1);
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
		}
	}
	*ret = a;
	*ret_n = json_array_size(arr);
	*ret_present = true;
	return 0;
}

bool berth_cni_attachment_valid(const struct berth_cni_attachment *a, size_t n,
				const char *container_id, const char *ifname)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i].container_id, container_id) == 0 &&
		    (!ifname || strcmp(a[i].ifname, ifname) == 0))
			return true;
	return false;
}

int berth_cni_delegate_del(const struct berth_cni_call *call, const char *type, berth_error *err)
{
	_cleanup_free_ char *path = NULL;
	berth_error ferr = { 0 };

	if (berth_find_in_path(type, call->path, &path, &ferr) < 0) {
		berth_log_warn("DEL: IPAM plugin %s not found (%s): nothing to release", type,
			       ferr.msg);
		return 0;
	}
	return berth_cni_delegate(call, type, "DEL", NULL, err);
}

int berth_cni_ipam_del(const struct berth_cni_call *call, const char *type, bool before_link,
		       berth_error *err)
{
	if (!type || STREQ(type, "dhcp") != before_link)
		return 0;
	return berth_cni_delegate_del(call, type, err);
}

void berth_cni_delegate_undo(const struct berth_cni_call *call, const char *type)
{
	berth_error derr = { 0 };

	if (berth_cni_delegate(call, type, "DEL", NULL, &derr) < 0)
		berth_log_warn("undo: IPAM DEL failed: %s", derr.msg);
}
