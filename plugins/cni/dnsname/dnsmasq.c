/* SPDX-License-Identifier: Apache-2.0 */
/* The dnsmasq daemon of one network: find, start, identify, stop. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/exec.h"
#include "berth/file.h"
#include "dnsname.h"

int dnsname_dnsmasq_find(char **ret, berth_error *err)
{
	const char *env = getenv("BERTH_DNSMASQ");
	const char *path = getenv("PATH");
	_cleanup_free_ char *search = NULL;
	berth_error e = { 0 };

	if (env && *env) {
		struct stat st;

		if (stat(env, &st) < 0 || access(env, X_OK) < 0)
			return berth_error_errno(err, BERTH_CNI_ERR_STATUS_NOT_READY,
						 "unable to locate dnsmasq at %s", env);
		if (!S_ISREG(st.st_mode))
			return berth_error_set(err, BERTH_CNI_ERR_STATUS_NOT_READY, EISDIR,
					       "unable to locate dnsmasq at %s: not a file", env);
		if (!(*ret = strdup(env)))
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
		return 0;
	}
	/* runtimes often run plugins with a PATH that lacks the sbin directories */
	if (asprintf(&search, "%s%s/usr/sbin:/sbin:/usr/local/sbin", path ? path : "",
		     path && *path ? ":" : "") < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	if (berth_find_in_path("dnsmasq", search, ret, &e) < 0 || access(*ret, X_OK) < 0) {
		if (e.errnum == 0) {
			free(*ret);
			*ret = NULL;
		}
		return berth_error_set(err, BERTH_CNI_ERR_STATUS_NOT_READY, ENOENT,
				       "unable to locate dnsmasq in path (install dnsmasq-base)");
	}
	return 0;
}

/* The process is alive (not a zombie) and runs dnsmasq with --conf-file=conf. */
static bool is_ours(pid_t pid, const char *conf)
{
	char path[64], buf[4096], want[PATH_MAX + 16];
	_cleanup_close_ int fd = -1;
	ssize_t n;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return false;
	close(fd);
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	snprintf(want, sizeof(want), "--conf-file=%s", conf);
	for (p = buf; p < buf + n; p += strlen(p) + 1)
		if (STREQ(p, want))
			return true;
	return false;
}

pid_t dnsname_dnsmasq_pid(const char *pidfile, const char *conf)
{
	_cleanup_free_ char *s = NULL;
	berth_error e = { 0 };
	char *end;
	long pid;

	if (berth_read_file(pidfile, 64, &s, NULL, &e) < 0)
		return 0;
	pid = strtol(s, &end, 10);
	if (end == s || pid <= 1 || pid > INT_MAX)
		return 0;
	return is_ours((pid_t)pid, conf) ? (pid_t)pid : 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int dnsname_dnsmasq_start(const char *bin, const char *conf, berth_error *err)
{
	_cleanup_free_ char *arg = NULL;
	int pfd[2], status = 0;
	pid_t pid, w;
	char out[1024];
	ssize_t n;

	if (asprintf(&arg, "--conf-file=%s", conf) < 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "pipe");
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "fork");
	}
	if (pid == 0) {
		int nullfd = open("/dev/null", O_RDWR);

		/* a session of its own: the runtime may kill the plugin's process group on
		 * timeout, never the network's DNS server */
		setsid();
		if (nullfd < 0 || dup2(nullfd, 0) < 0 || dup2(nullfd, 1) < 0 || dup2(pfd[1], 2) < 0)
			_exit(127);
		/* no lock or netlink fd of ours may outlive us in the daemon */
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		/* a blocked or ignored signal survives exec: dnsmasq must see SIGHUP and SIGTERM */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execl(bin, "dnsmasq", arg, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	/* dnsmasq's foreground process exits once its daemon has bound its sockets and written
	 * the pidfile, with a non-zero status and the reason on stderr when it could not */
	for (int i = 0;; i++) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR))
			break;
		if (i >= 10000) { /* 10 s */
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			close(pfd[0]);
			return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ETIMEDOUT,
					       "dnsmasq did not start within 10 s");
		}
		sleep_ms(1);
	}
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	n = read(pfd[0], out, sizeof(out) - 1);
	close(pfd[0]);
	out[n > 0 ? n : 0] = '\0';
	if (n > 0 && out[n - 1] == '\n')
		out[n - 1] = '\0';
	if (w != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EIO,
				       "dnsmasq failed to start (status %d): %s",
				       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
				       *out ? out : "no message");
	return 0;
}

void dnsname_dnsmasq_stop(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (kill(pid, SIGTERM) < 0)
		return;
	for (int i = 0; i < 5000; i++) {
		char sp[80], buf[512];
		_cleanup_close_ int fd = -1;
		ssize_t n;
		char *p;

		if (stat(path, &st) < 0)
			return;
		/* a zombie waiting for its reaper is gone as far as we are concerned */
		snprintf(sp, sizeof(sp), "%s/stat", path);
		if ((fd = open(sp, O_RDONLY | O_CLOEXEC)) < 0)
			return;
		n = read(fd, buf, sizeof(buf) - 1);
		if (n <= 0)
			return;
		buf[n] = '\0';
		p = strrchr(buf, ')');
		if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
			return;
		sleep_ms(1);
	}
	kill(pid, SIGKILL);
}
