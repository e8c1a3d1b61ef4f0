// SPDX-License-Identifier: Apache-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/exec.h"
#include "berth/file.h"

extern char **environ;

#define EXEC_OUT_MAX (64u << 20)

struct outbuf {
	char *data;
	size_t len, cap;
};

/* The parent of a process from /proc/PID/stat, -1 when it is gone. */
static pid_t parent_of(const char *pid)
{
	char path[64], buf[512], *paren;
	_cleanup_close_ int fd = -1;
	ssize_t n;
	int ppid;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return -1;
	buf[n] = '\0';
	paren = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
	if (!paren || sscanf(paren + 1, " %*c %d", &ppid) != 1)
		return -1;
	return (pid_t)ppid;
}

/*
 * A plugin that hangs may be waiting on a process it started (bridge's IPAM plugin, holding the
 * IPAM lock): on a timeout the whole tree goes, not only the plugin.  Every process found is
 * stopped first, so it cannot start more while /proc is searched for its children (parent
 * links from /proc/PID/stat; this kernel has no /proc/PID/task/TID/children), then all are
 * killed.
 */
static void kill_tree(pid_t root)
{
	pid_t tree[256] = { root };
	size_t n = 1;
	bool grew = true;

	kill(root, SIGSTOP);
	while (grew && n < ARRAY_SIZE(tree)) {
		_cleanup_closedir_ DIR *proc = opendir("/proc");
		struct dirent *d;

		grew = false;
		while (proc && (d = readdir(proc)) && n < ARRAY_SIZE(tree)) {
			pid_t p, pp;
			bool known = false, child = false;

			if (d->d_name[0] < '1' || d->d_name[0] > '9')
				continue;
			p = (pid_t)atoi(d->d_name);
			pp = parent_of(d->d_name);
			for (size_t i = 0; i < n; i++) {
				known |= tree[i] == p;
				child |= tree[i] == pp;
			}
			if (known || !child)
				continue;
			kill(p, SIGSTOP);
			tree[n++] = p;
			grew = true;
		}
	}
	for (size_t i = n; i-- > 0;)
		kill(tree[i], SIGKILL);
}

static int outbuf_read(struct outbuf *b, int fd)
{
	if (b->cap - b->len < 4096) {
		size_t ncap = b->cap ? b->cap * 2 : 16384;
		char *n;

		if (ncap > EXEC_OUT_MAX)
			return -EFBIG;
		n = realloc(b->data, ncap);
		if (!n)
			return -ENOMEM;
		b->data = n;
		b->cap = ncap;
	}
	ssize_t n = read(fd, b->data + b->len, b->cap - b->len - 1);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -errno;
	b->len += (size_t)n;
	b->data[b->len] = '\0';
	return n == 0 ? 0 : 1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int berth_exec_start(const struct berth_exec_opts *opts, bool want_err, struct berth_child *ret,
		     berth_error *err)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t dfl, none;
	const char *prog = opts->argv[0];
	pid_t pid;
	int r;

	*ret = BERTH_CHILD_NONE;
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
	    (want_err && pipe2(errp, O_CLOEXEC) < 0)) {
		r = berth_error_errno(err, BERTH_ERR_IO, "pipe");
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	if (want_err)
		posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	if (opts->extra_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, opts->extra_fd, 3);
	/* the child gets SIGPIPE's default disposition (we ignore it while we write, below) and
	 * no blocked signals: a daemon's threads block the ones its signalfd reads */
	posix_spawnattr_init(&attr);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigemptyset(&none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	/* ETXTBSY: the plugin is being replaced (an install writing it) right now; as libcni
	 * does, try again for a little while (up to ~1 s) before giving up */
	for (int tries = 0;; tries++) {
		r = posix_spawn(&pid, prog, &fa, &attr, (char *const *)opts->argv,
				opts->envp ? opts->envp : environ);
		if (r != ETXTBSY || tries >= 20)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r != 0) {
		errno = r;
		r = berth_error_errno(err, BERTH_ERR_IO, "exec %s", prog);
		goto fail;
	}
	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&errp[1]);
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	*ret = (struct berth_child){ .pid = pid, .in = in[1], .out = out[0], .err = errp[0] };
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		close_fd(&in[i]);
		close_fd(&out[i]);
		close_fd(&errp[i]);
	}
	return r;
}

void berth_exec_feed(struct berth_child *c, const char *input, size_t len)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe;

	if (c->in < 0 || c->written >= len)
		return;
	/* a child that exits without reading its stdin must not kill us with SIGPIPE */
	sigaction(SIGPIPE, &ign, &old_pipe);
	while (c->written < len) {
		ssize_t w = write(c->in, input + c->written, len - c->written);
		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && errno != EAGAIN)
				close_fd(&c->in); /* gone: no more input */
			break;
		}
		c->written += (size_t)w;
	}
	sigaction(SIGPIPE, &old_pipe, NULL);
}

int berth_exec_finish(struct berth_child *c, const struct berth_exec_opts *opts, int *ret_status,
		      char **ret_out, char **ret_errout, berth_error *err)
{
	struct outbuf ob = { 0 }, eb = { 0 };
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe;
	const char *prog = opts->argv[0];
	int r, status = 0;
	bool timed_out = false;
	long long deadline = opts->timeout_ms > 0 ? now_ms() + opts->timeout_ms : 0;

	sigaction(SIGPIPE, &ign, &old_pipe);
	if (!opts->input || c->written >= opts->input_len)
		close_fd(&c->in);

	/* Pump stdin/stdout/stderr until both outputs reach EOF. */
	while (c->out >= 0 || c->err >= 0) {
		struct pollfd pfd[3];
		int n = 0, idx_in = -1, idx_out = -1, idx_err = -1, timeout = -1;

		if (c->in >= 0) {
			pfd[n] = (struct pollfd){ .fd = c->in, .events = POLLOUT };
			idx_in = n++;
		}
		if (c->out >= 0) {
			pfd[n] = (struct pollfd){ .fd = c->out, .events = POLLIN };
			idx_out = n++;
		}
		if (c->err >= 0) {
			pfd[n] = (struct pollfd){ .fd = c->err, .events = POLLIN };
			idx_err = n++;
		}
		if (deadline) {
			long long left = deadline - now_ms();
			if (left <= 0) {
				timed_out = true;
				break;
			}
			timeout = (int)(left > INT_MAX ? INT_MAX : left);
		}
		r = poll(pfd, n, timeout);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			r = berth_error_errno(err, BERTH_ERR_IO, "poll");
			kill(c->pid, SIGKILL);
			goto out_wait;
		}
		if (r == 0)
			continue;
		if (idx_in >= 0 && pfd[idx_in].revents) {
			ssize_t w = write(c->in, opts->input + c->written, opts->input_len - c->written);
			if (w > 0)
				c->written += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) ||
			    c->written == opts->input_len || (pfd[idx_in].revents & (POLLERR | POLLHUP)))
				close_fd(&c->in);
		}
		if (idx_out >= 0 && pfd[idx_out].revents && outbuf_read(&ob, c->out) <= 0)
			close_fd(&c->out);
		if (idx_err >= 0 && pfd[idx_err].revents && outbuf_read(&eb, c->err) <= 0)
			close_fd(&c->err);
	}
	if (timed_out)
		kill_tree(c->pid);
	r = 0;
out_wait:
	sigaction(SIGPIPE, &old_pipe, NULL);
	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
		;
	c->pid = -1;
	if (r == 0 && timed_out)
		r = berth_error_set(err, BERTH_ERR_IO, ETIMEDOUT,
				    "%s did not finish within %d ms and was killed", prog,
				    opts->timeout_ms);
	if (r == 0) {
		*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (ret_out) {
			*ret_out = ob.data ? ob.data : strdup("");
			ob.data = NULL;
		}
		if (ret_errout) {
			*ret_errout = eb.data ? eb.data : strdup("");
			eb.data = NULL;
		}
	}
	close_fd(&c->in);
	close_fd(&c->out);
	close_fd(&c->err);
	free(ob.data);
	free(eb.data);
	return r;
}

void berth_exec_abandon(struct berth_child *c)
{
	/* EOF on its stdin: a protocol executable answers an error and exits */
	close_fd(&c->in);
	close_fd(&c->out);
	close_fd(&c->err);
	while (c->pid >= 0 && waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
		;
	c->pid = -1;
}

int berth_exec(const struct berth_exec_opts *opts, int *ret_status, char **ret_out,
	       char **ret_errout, berth_error *err)
{
	struct berth_child c;
	int r = berth_exec_start(opts, ret_errout != NULL, &c, err);

	if (r < 0)
		return r;
	return berth_exec_finish(&c, opts, ret_status, ret_out, ret_errout, err);
}

int berth_find_in_path(const char *name, const char *path, char **ret, berth_error *err)
{
	const char *p = path ? path : "";

	if (!berth_path_component_ok(name))
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "invalid plugin name '%s'", name ? name : "");
	while (*p) {
		const char *end = strchrnul(p, ':');
		size_t dlen = (size_t)(end - p);

		if (dlen > 0) {
			char *full;
			struct stat st;

			if (asprintf(&full, "%.*s/%s", (int)dlen, p, name) < 0)
				return berth_error_set(err, BERTH_ERR_IO, ENOMEM, "out of memory");
			if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
				*ret = full;
				return 0;
			}
			free(full);
		}
		p = *end ? end + 1 : end;
	}
	return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, ENOENT,
			       "failed to find plugin \"%s\" in path [%s]", name, path ? path : "");
}

char **berth_env_override(char *const *base, const char *const *set)
{
	size_t nb = 0, ns = 0, n = 0;
	char **env;

	if (!base)
		base = environ;
	while (base[nb])
		nb++;
	while (set && set[ns])
		ns++;
	env = calloc(nb + ns + 1, sizeof(char *));
	if (!env)
		return NULL;
	for (size_t i = 0; i < nb; i++) {
		const char *eq = strchr(base[i], '=');
		size_t klen = eq ? (size_t)(eq - base[i]) : strlen(base[i]);
		bool overridden = false;

		for (size_t j = 0; j < ns && !overridden; j++)
			overridden = strncmp(set[j], base[i], klen) == 0 &&
				     (set[j][klen] == '=' || set[j][klen] == '\0');
		if (overridden)
			continue;
		if (!(env[n++] = strdup(base[i])))
			goto fail;
	}
	for (size_t j = 0; j < ns; j++) {
		if (!strchr(set[j], '='))
			continue; /* "K" alone unsets */
		if (!(env[n++] = strdup(set[j])))
			goto fail;
	}
	return env;
fail:
	berth_strv_free(env);
	return NULL;
}

char *berth_self_relative_path(const char *const *rels, const char *rest)
{
	char exe[PATH_MAX], *slash, *out = NULL;
	size_t len = 0;
	FILE *f;
	ssize_t n;

	f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		for (const char *const *r = rels; *r; r++) {
			char dir[PATH_MAX], real[PATH_MAX];
			struct stat st;

			if (snprintf(dir, sizeof(dir), "%s/%s", exe, *r) >= (int)sizeof(dir) ||
			    !realpath(dir, real) || stat(real, &st) < 0 || !S_ISDIR(st.st_mode))
				continue;
			fprintf(f, "%s%s", ftell(f) ? ":" : "", real);
		}
	}
	if (rest && *rest)
		fprintf(f, "%s%s", ftell(f) ? ":" : "", rest);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}
