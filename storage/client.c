/* SPDX-License-Identifier: Apache-2.0 */
/* Client side of the storage protocol: run a driver executable for one verb. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/error.h"
#include "berth/exec.h"
#include "berth/json.h"
#include "berth/storage-client.h"

extern char **environ;

#define DEFAULT_TIMEOUT_MS (10 * 60 * 1000)

int berth_stor_client_new(const char *path, const char *driver, const char *root,
			  const char *run_root, json_t *options, struct berth_stor_client **ret,
			  berth_error *err)
{
	struct berth_stor_client *c;

	c = calloc(1, sizeof(*c));
	if (!c)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	c->path = strdup(path);
	c->config = json_object();
	c->timeout_ms = DEFAULT_TIMEOUT_MS;
	if (!c->path || !c->config) {
		berth_stor_client_free(c);
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	}
	json_object_set_new(c->config, "protocolVersion", json_string(BERTH_STOR_PROTOCOL_VERSION));
	if (driver)
		json_object_set_new(c->config, "driver", json_string(driver));
	json_object_set_new(c->config, "root", json_string(root));
	if (run_root)
		json_object_set_new(c->config, "runRoot", json_string(run_root));
	json_object_set_new(c->config, "options",
			    options ? json_deep_copy(options) : json_object());
	*ret = c;
	return 0;
}

struct berth_stor_spare {
	pthread_mutex_t lock;
	char *verb;
	char **envp;	      /* the environment with STOR_COMMAND=verb */
	struct berth_child c; /* pid -1: none waiting */
	bool refilling;	      /* a call is starting the next one */
};

static void spare_free(struct berth_stor_spare *sp)
{
	if (!sp)
		return;
	berth_exec_abandon(&sp->c);
	pthread_mutex_destroy(&sp->lock);
	free(sp->verb);
	berth_strv_free(sp->envp);
	free(sp);
}

void berth_stor_client_free(struct berth_stor_client *c)
{
	if (!c)
		return;
	spare_free(c->spare);
	free(c->path);
	if (c->config)
		json_decref(c->config);
	free(c);
}

/* Last line(s) of a driver's stderr, for an error that has no JSON. */
static const char *tail(const char *s, size_t max)
{
	size_t n;

	if (!s)
		return "";
	n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		n--;
	return n > max ? s + n - max : s;
}

static int parse_error(const struct berth_stor_client *c, const char *verb, const char *out,
		       const char *errout, int status, berth_error *err)
{
	_cleanup_json_ json_t *j = NULL;
	berth_error perr = { 0 };
	json_t *code, *msg, *details;

	if (out && *out && berth_json_parse(out, strlen(out), &j, &perr) == 0 &&
	    json_is_object(j) && json_is_integer(code = json_object_get(j, "code"))) {
		int ic = (int)json_integer_value(code);

		msg = json_object_get(j, "msg");
		berth_error_set(err, ic, -berth_stor_code_errno(ic), "%s",
				json_is_string(msg) ? json_string_value(msg) : "driver error");
		details = json_object_get(j, "details");
		if (json_is_string(details) && *json_string_value(details)) {
			berth_error_details(err, "%s", json_string_value(details));
		} else if (details && !json_is_null(details)) {
			_cleanup_free_ char *d = berth_json_dump(details);
			if (d)
				berth_error_details(err, "%s", d);
		}
		return berth_stor_code_errno(ic);
	}
	berth_error_set(err, BERTH_ERR_IO, EIO, "%s %s: exited with status %d without an error",
			c->path, verb, status);
	berth_error_details(err, "%s", tail(errout, 800));
	return -EIO;
}

/* The environment of a call of verb: ours with STOR_COMMAND=verb. */
static char **verb_env(const char *verb)
{
	_cleanup_free_ char *envcmd = NULL;

	if (asprintf(&envcmd, "%s=%s", BERTH_STOR_ENV_COMMAND, verb) < 0)
		return NULL;
	const char *set[] = { envcmd, NULL };
	return berth_env_override(environ, set);
}

/* Start a driver for the spare's verb and put it in the slot, unless one is there already or
 * being started. */
static void spare_refill(const struct berth_stor_client *c)
{
	struct berth_stor_spare *sp = c->spare;
	const char *argv[] = { c->path, NULL };
	struct berth_exec_opts o = { .argv = argv, .envp = sp->envp, .extra_fd = -1 };
	struct berth_child ch;
	berth_error e = { 0 };
	bool busy;

	/* one refill at a time: calls at once do not each start one */
	pthread_mutex_lock(&sp->lock);
	busy = sp->c.pid >= 0 || sp->refilling;
	sp->refilling = sp->refilling || !busy;
	pthread_mutex_unlock(&sp->lock);
	if (busy)
		return;
	if (berth_exec_start(&o, true, &ch, &e) < 0)
		ch.pid = -1; /* the next call execs the driver itself, and says why if it fails */
	pthread_mutex_lock(&sp->lock);
	sp->c = ch;
	sp->refilling = false;
	pthread_mutex_unlock(&sp->lock);
}

int berth_stor_client_keep_spare(struct berth_stor_client *c, const char *verb, berth_error *err)
{
	struct berth_stor_spare *sp = calloc(1, sizeof(*sp));

	if (!sp)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	pthread_mutex_init(&sp->lock, NULL);
	sp->c = BERTH_CHILD_NONE;
	sp->verb = strdup(verb);
	sp->envp = verb_env(verb);
	if (!sp->verb || !sp->envp) {
		spare_free(sp);
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	}
	spare_free(c->spare);
	c->spare = sp;
	spare_refill(c);
	return 0;
}

/* The driver waiting, if there is one: taken out of the slot. */
static bool spare_take(const struct berth_stor_client *c, struct berth_child *ret)
{
	struct berth_stor_spare *sp = c->spare;

	pthread_mutex_lock(&sp->lock);
	*ret = sp->c;
	sp->c = BERTH_CHILD_NONE;
	pthread_mutex_unlock(&sp->lock);
	if (ret->pid >= 0 && waitpid(ret->pid, NULL, WNOHANG) != 0) {
		/* it died waiting (killed by someone): reaped; this call execs its own */
		ret->pid = -1;
		berth_exec_abandon(ret);
		return false;
	}
	return ret->pid >= 0;
}

int berth_stor_client_call(const struct berth_stor_client *c, const char *verb, json_t *args,
			   int stream_fd, json_t **ret, berth_error *err)
{
	_cleanup_json_ json_t *req = NULL, *res = NULL;
	_cleanup_free_ char *input = NULL, *out = NULL, *errout = NULL;
	_cleanup_strv_ char **envp = NULL;
	json_t *a;
	int status = 0, r;

	req = json_deep_copy(c->config);
	a = args ? json_deep_copy(args) : json_object();
	if (!req || !a)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	if (stream_fd >= 0)
		json_object_set_new(a, "stream", json_pack("{s:i}", "fd", 3));
	json_object_set_new(req, "args", a);
	input = berth_json_dump(req);
	if (!input)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");

	/* berth_exec sets up the child's 0-2 before fd 3: a stream on 0-2 (say, our stdout)
	 * would be overwritten first, so pass a copy above them */
	_cleanup_close_ int dupfd = -1;
	if (stream_fd >= 0 && stream_fd <= 2) {
		dupfd = fcntl(stream_fd, F_DUPFD_CLOEXEC, 3);
		if (dupfd < 0)
			return berth_error_errno(err, BERTH_ERR_IO, "dup stream fd");
		stream_fd = dupfd;
	}
	const char *argv[] = { c->path, NULL };
	struct berth_exec_opts o = {
		.argv = argv,
		.input = input,
		.input_len = strlen(input),
		/* a stream moves as much data as a layer holds: no deadline on it */
		.timeout_ms = stream_fd >= 0 ? 0 : c->timeout_ms,
		.extra_fd = stream_fd,
	};
	struct berth_child ch;
	bool spare_verb = stream_fd < 0 && c->spare && !strcmp(c->spare->verb, verb);
	if (spare_verb && spare_take(c, &ch)) {
		/* its input first, then the next spare while this one works */
		berth_exec_feed(&ch, o.input, o.input_len);
		spare_refill(c);
		r = berth_exec_finish(&ch, &o, &status, &out, &errout, err);
	} else {
		/* none waiting (taken by a call at the same time, or it died): the next one for
		 * the call after this */
		if (spare_verb)
			spare_refill(c);
		if (!(envp = verb_env(verb)))
			return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
		o.envp = envp;
		r = berth_exec(&o, &status, &out, &errout, err);
	}
	if (r < 0)
		return berth_error_prefix(err, "storage driver %s %s", c->path, verb);
	if (errout && *errout)
		fputs(errout, stderr); /* the driver's logs stay visible */
	if (status != 0)
		return parse_error(c, verb, out, errout, status, err);

	r = berth_json_parse(out ? out : "", out ? strlen(out) : 0, &res, err);
	if (r < 0)
		return berth_error_prefix(err, "storage driver %s %s: result", c->path, verb);
	if (!json_is_object(res))
		return berth_error_set(err, BERTH_ERR_DECODE, EBADMSG,
				       "storage driver %s %s: result is not an object", c->path,
				       verb);
	if (ret)
		*ret = TAKE_PTR(res);
	return 0;
}

int berth_stor_find_driver(const char *name, char **ret, berth_error *err)
{
	const char *path = getenv("BERTH_STORAGE_PATH");
	_cleanup_free_ char *full = NULL;
	int r;

	if (!name || !*name || strchr(name, '/'))
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "invalid storage driver name \"%s\"", name ? name : "");
	if (path && *path) {
		berth_error perr = { 0 };
		r = berth_find_in_path(name, path, &full, &perr);
		if (r == 0) {
			*ret = TAKE_PTR(full);
			return 0;
		}
	}
	{
		static const char *const rels[] = { "../libexec/berth/storage", "../storage", NULL };
		_cleanup_free_ char *dirs = berth_self_relative_path(rels, BERTH_STORAGE_BIN_DIR);

		r = berth_find_in_path(name, dirs ? dirs : BERTH_STORAGE_BIN_DIR, &full, err);
	}
	if (r < 0)
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, ENOENT,
				       "storage driver \"%s\" not found in %s%s%s", name,
				       path && *path ? path : "", path && *path ? ":" : "",
				       BERTH_STORAGE_BIN_DIR);
	*ret = TAKE_PTR(full);
	return 0;
}
