/* SPDX-License-Identifier: Apache-2.0 */
/* The storage driver skeleton: the storage counterpart of berth_plugin_main(). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/error.h"
#include "berth/file.h"
#include "berth/json.h"
#include "berth/log.h"
#include "berth/storage-skel.h"

/* Every verb of the protocol; a verb outside this list is a bad environment (code 4), one in
 * it that a driver does not implement is "not supported" (code 12). */
static const char *const protocol_verbs[] = {
	"VERSION", "INIT",  "STATUS",	  "CREATE",  "REMOVE",	   "MOUNT",	 "UNMOUNT",
	"EXISTS",  "LIST",  "METADATA",	  "DIFF",    "CHANGES",	   "APPLY_DIFF", "DIFF_SIZE",
	"USAGE",   "CLEANUP", "GC",	  "MOUNTS",  "RELEASE",   NULL,
};

#define STDIN_MAX (16u << 20)

int berth_stor_arg_id(const struct berth_stor_call *call, const char *key, bool required,
		      const char **ret, berth_error *err)
{
	const char *id = NULL;
	int r;

	r = berth_json_get_string(call->args, "args", key, required, &id, err);
	if (r < 0)
		return r;
	if (!id) {
		*ret = NULL;
		return 0;
	}
	if (!berth_stor_id_valid(id))
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "args.%s: invalid layer id \"%.200s\"", key, id);
	*ret = id;
	return 0;
}

static bool in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (STREQ(*list, s))
			return true;
	return false;
}

static void print_json(json_t *j)
{
	_cleanup_free_ char *s = berth_json_dump(j);

	if (!s) {
		fputs("{\"code\":999,\"msg\":\"out of memory\"}\n", stdout);
		return;
	}
	fputs(s, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

static int print_error(const char *version, berth_error *err)
{
	_cleanup_json_ json_t *j = json_object();
	int code = err->code;

	if (code == 0)
		code = err->errnum ? berth_stor_errno_code(err->errnum) : BERTH_ERR_IO;
	json_object_set_new(j, "protocolVersion", json_string(version));
	json_object_set_new(j, "code", json_integer(code));
	json_object_set_new(j, "msg", json_string(err->msg[0] ? err->msg : "unknown error"));
	if (err->details[0])
		json_object_set_new(j, "details", json_string(err->details));
	berth_log_debug("error %d: %s", code, err->msg);
	print_json(j);
	return 1;
}

static int print_version(const struct berth_stor_driver *drv, const char *version)
{
	_cleanup_json_ json_t *j = json_object();
	json_t *a = json_array();

	for (const char *const *v = berth_stor_versions; *v; v++)
		json_array_append_new(a, json_string(*v));
	json_object_set_new(j, "protocolVersion", json_string(version));
	json_object_set_new(j, "supportedVersions", a);
	json_object_set_new(j, "driver", json_string(drv->name));
	json_object_set_new(j, "driverVersion", json_string(drv->version ? drv->version : ""));
	print_json(j);
	return 0;
}

static char *normalise_path(const char *p)
{
	char *s = strdup(p);
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s);
	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

/* args.stream: {"fd":N} or {"path":P}. */
static int open_stream(const struct berth_stor_call *call, enum berth_stor_stream dir, int *ret_fd,
		       berth_error *err)
{
	json_t *stream = NULL;
	int64_t fd = -1;
	const char *path = NULL;
	int r;

	r = berth_json_get_object(call->args, "args", "stream", true, &stream, err);
	if (r < 0)
		return r;
	r = berth_json_get_int(stream, "args.stream", "fd", false, 0, 65535, &fd, err);
	if (r < 0)
		return r;
	r = berth_json_get_string(stream, "args.stream", "path", false, &path, err);
	if (r < 0)
		return r;
	if (fd >= 0) {
		if (fd <= 2)
			return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
					       "args.stream.fd: %d is a standard stream", (int)fd);
		if (fcntl((int)fd, F_GETFD) < 0)
			return berth_error_errno(err, BERTH_ERR_INVALID_CONFIG,
						 "args.stream.fd: %d is not open", (int)fd);
		*ret_fd = (int)fd;
		return 0;
	}
	if (!path || !*path)
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "args.stream: needs \"fd\" or \"path\"");
	if (dir == BERTH_STOR_STREAM_IN)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	else
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "args.stream.path: open %s", path);
	*ret_fd = (int)fd;
	return 0;
}

int berth_stor_main(const struct berth_stor_driver *drv, int argc, char **argv)
{
	_cleanup_json_ json_t *config = NULL;
	_cleanup_json_ json_t *empty_opts = NULL, *empty_args = NULL, *result = NULL;
	_cleanup_free_ char *input = NULL, *root = NULL, *run_root = NULL;
	_cleanup_close_ int stream_fd = -1;
	struct berth_stor_call call = { .stream_fd = -1 };
	const struct berth_stor_verb *verb = NULL;
	const char *version = BERTH_STOR_PROTOCOL_VERSION;
	const char *s = NULL;
	berth_error err = { 0 };
	size_t len = 0;
	int r;

	berth_log_init(drv->name);
	signal(SIGPIPE, SIG_IGN);

	call.command = getenv(BERTH_STOR_ENV_COMMAND);
	if (!call.command || !*call.command) {
		if (argc > 1 && (STREQ(argv[1], "--version") || STREQ(argv[1], "-v"))) {
			printf("%s %s (storage protocol %s)\n", drv->name,
			       drv->version ? drv->version : "", BERTH_STOR_PROTOCOL_VERSION);
			return 0;
		}
		berth_error_set(&err, BERTH_ERR_INVALID_ENV, EINVAL,
				"%s is not set; this is a berth storage driver, run by berth",
				BERTH_STOR_ENV_COMMAND);
		return print_error(version, &err);
	}
	if (!in_list(protocol_verbs, call.command)) {
		berth_error_set(&err, BERTH_ERR_INVALID_ENV, EINVAL,
				"unknown %s \"%.100s\"", BERTH_STOR_ENV_COMMAND, call.command);
		return print_error(version, &err);
	}

	r = berth_read_fd(STDIN_FILENO, STDIN_MAX, &input, &len, &err);
	if (r < 0)
		return print_error(version, &err);

	if (STREQ(call.command, "VERSION") && len == strspn(input, " \t\r\n"))
		return print_version(drv, version);

	r = berth_json_parse(input, len, &config, &err);
	if (r < 0)
		return print_error(version, &err);
	if (!json_is_object(config)) {
		berth_error_set(&err, BERTH_ERR_DECODE, EINVAL, "stdin is not a JSON object");
		return print_error(version, &err);
	}
	call.config = config;

	r = berth_json_get_string(config, NULL, "protocolVersion", false, &s, &err);
	if (r < 0)
		return print_error(version, &err);
	if (s) {
		if (!in_list(berth_stor_versions, s)) {
			berth_error_set(&err, BERTH_ERR_INCOMPATIBLE_VERSION, EPROTONOSUPPORT,
					"incompatible protocolVersion \"%.50s\"", s);
			berth_error_details(&err, "supported: %s", BERTH_STOR_PROTOCOL_VERSION);
			return print_error(version, &err);
		}
		version = s;
	}
	call.version = version;

	if (STREQ(call.command, "VERSION"))
		return print_version(drv, version);

	call.driver = "";
	r = berth_json_get_string(config, NULL, "driver", false, &call.driver, &err);
	if (r < 0)
		return print_error(version, &err);
	if (*call.driver && drv->name && !STREQ(call.driver, drv->name)) {
		berth_error_set(&err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				"driver: config is for \"%.50s\", this is \"%s\"", call.driver,
				drv->name);
		return print_error(version, &err);
	}

	s = NULL;
	r = berth_json_get_string(config, NULL, "root", true, &s, &err);
	if (r < 0)
		return print_error(version, &err);
	if (s[0] != '/' || strstr(s, "/../") || (strlen(s) >= 3 && STREQ(s + strlen(s) - 3, "/.."))) {
		berth_error_set(&err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				"root: \"%.200s\" must be an absolute path without ..", s);
		return print_error(version, &err);
	}
	root = normalise_path(s);
	s = NULL;
	r = berth_json_get_string(config, NULL, "runRoot", false, &s, &err);
	if (r < 0)
		return print_error(version, &err);
	if (s && *s) {
		if (s[0] != '/') {
			berth_error_set(&err, BERTH_ERR_INVALID_CONFIG, EINVAL,
					"runRoot: \"%.200s\" must be an absolute path", s);
			return print_error(version, &err);
		}
		run_root = normalise_path(s);
	} else if (asprintf(&run_root, "%s/run", root) < 0) {
		run_root = NULL;
	}
	if (!root || !run_root) {
		berth_error_set(&err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
		return print_error(version, &err);
	}
	call.root = root;
	call.run_root = run_root;

	r = berth_json_get_object(config, NULL, "options", false, &call.options, &err);
	if (r < 0)
		return print_error(version, &err);
	if (!call.options)
		call.options = empty_opts = json_object();
	if (drv->options) {
		const char *key;
		json_t *v;

		json_object_foreach(call.options, key, v) {
			if (!in_list(drv->options, key)) {
				berth_error_set(&err, BERTH_ERR_UNSUPPORTED_FIELD, EINVAL,
						"options: unknown option \"%.100s\" for driver %s",
						key, drv->name);
				return print_error(version, &err);
			}
		}
	}
	r = berth_json_get_object(config, NULL, "args", false, &call.args, &err);
	if (r < 0)
		return print_error(version, &err);
	if (!call.args)
		call.args = empty_args = json_object();

	for (const struct berth_stor_verb *v = drv->verbs; v && v->name; v++)
		if (STREQ(v->name, call.command)) {
			verb = v;
			break;
		}
	if (!verb || !verb->fn) {
		berth_error_set(&err, BERTH_STOR_ERR_NOT_SUPPORTED, EOPNOTSUPP,
				"driver %s does not implement %s", drv->name, call.command);
		return print_error(version, &err);
	}
	if (verb->stream != BERTH_STOR_STREAM_NONE) {
		r = open_stream(&call, verb->stream, &stream_fd, &err);
		if (r < 0)
			return print_error(version, &err);
		call.stream_fd = stream_fd;
	}

	r = verb->fn(&call, &result, &err);
	if (r < 0) {
		if (!err.msg[0])
			berth_error_set(&err, 0, -r, "%s failed: %s", call.command, strerror(-r));
		return print_error(version, &err);
	}
	if (!result)
		result = json_object();
	if (json_is_object(result) && !json_object_get(result, "protocolVersion"))
		json_object_set_new(result, "protocolVersion", json_string(version));
	print_json(result);
	return 0;
}
