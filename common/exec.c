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

int berth_exec(const struct berth_exec_opts *opts, int *ret_status, char **ret_out,
	       char **ret_errout, berth_error *err)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 };
	struct outbuf ob = { 0 }, eb = { 0 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe;
	sigset_t dfl;
	const char *prog = opts->argv[0];
	size_t written = 0;
	pid_t pid;
	int r, status = 0;
	bool timed_out = false;
	long long deadline = opts->timeout_ms > 0 ? now_ms() + opts->timeout_ms : 0;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
	    (ret_errout && pipe2(errp, O_CLOEXEC) < 0)) {
		r = berth_error_errno(err, BERTH_ERR_IO, "pipe");
		goto out_close;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	if (ret_errout)
		posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	if (opts->extra_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, opts->extra_fd, 3);
	/* A child that exits without reading its stdin must not kill us with SIGPIPE: ignore it
	 * while we write (restored below), and give the child the default disposition. */
	posix_spawnattr_init(&attr);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
	sigaction(SIGPIPE, &ign, &old_pipe);
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
	if (r != 0)
		sigaction(SIGPIPE, &old_pipe, NULL);
	if (r != 0) {
		errno = r;
		r = berth_error_errno(err, BERTH_ERR_IO, "exec %s", prog);
		goto out_close;
	}
	close(in[0]);
	in[0] = -1;
	close(out[1]);
	out[1] = -1;
	if (errp[1] >= 0) {
		close(errp[1]);
		errp[1] = -1;
	}
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	if (!opts->input || opts->input_len == 0) {
		close(in[1]);
		in[1] = -1;
	}

	/* Pump stdin/stdout/stderr until both outputs reach EOF. */
	while (out[0] >= 0 || errp[0] >= 0) {
		struct pollfd pfd[3];
		int n = 0, idx_in = -1, idx_out = -1, idx_err = -1, timeout = -1;

		if (in[1] >= 0) {
			pfd[n] = (struct pollfd){ .fd = in[1], .events = POLLOUT };
			idx_in = n++;
		}
		if (out[0] >= 0) {
			pfd[n] = (struct pollfd){ .fd = out[0], .events = POLLIN };
			idx_out = n++;
		}
		if (errp[0] >= 0) {
			pfd[n] = (struct pollfd){ .fd = errp[0], .events = POLLIN };
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
			kill(pid, SIGKILL);
			goto out_wait;
		}
		if (r == 0)
			continue;
		if (idx_in >= 0 && pfd[idx_in].revents) {
			ssize_t w = write(in[1], opts->input + written, opts->input_len - written);
			if (w > 0)
				written += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) ||
			    written == opts->input_len || (pfd[idx_in].revents & (POLLERR | POLLHUP))) {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (idx_out >= 0 && pfd[idx_out].revents) {
			r = outbuf_read(&ob, out[0]);
			if (r <= 0) {
				close(out[0]);
				out[0] = -1;
			}
		}
		if (idx_err >= 0 && pfd[idx_err].revents) {
			r = outbuf_read(&eb, errp[0]);
			if (r <= 0) {
				close(errp[0]);
				errp[0] = -1;
			}
		}
	}
	if (timed_out)
		kill_tree(pid);
	r = 0;
out_wait:
	sigaction(SIGPIPE, &old_pipe, NULL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
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
out_close:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	free(ob.data);
	free(eb.data);
	return r;
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
