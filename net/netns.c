// SPDX-License-Identifier: Apache-2.0
/* Network namespaces: open and verify, enter and always restore. */

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "berth/cni.h"
#include "berth/netns.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

int berth_netns_open(const char *path, int *ret_fd, berth_error *err)
{
	_cleanup_close_ int fd = -1;
	struct statfs sfs;
	int type;

	if (!path || !*path)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
				       "netns path is empty");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INVALID_ENV,
					 "failed to open netns \"%s\"", path);
	if (fstatfs(fd, &sfs) < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INVALID_ENV,
					 "failed to stat netns \"%s\"", path);
	/* Also true for /proc/PID/ns/net: the opened fd is the nsfs inode. */
	if (sfs.f_type != NSFS_MAGIC)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
				       "\"%s\" is not a network namespace", path);
	type = ioctl(fd, NS_GET_NSTYPE);
	if (type < 0 || type != CLONE_NEWNET)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_ENV, EINVAL,
				       "\"%s\" is not a network namespace", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int berth_netns_open_current(int *ret_fd, berth_error *err)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/ns/net", gettid());
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "failed to open %s", path);
	*ret_fd = fd;
	return 0;
}

/* true when st is the calling thread's netns */
static bool is_current(const struct stat *st)
{
	struct stat b;
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d/ns/net", gettid());
	return stat(path, &b) == 0 && st->st_dev == b.st_dev && st->st_ino == b.st_ino;
}

bool berth_netns_is_current(int nsfd)
{
	struct stat a;

	return fstat(nsfd, &a) == 0 && is_current(&a);
}

bool berth_netns_path_is_current(const char *path)
{
	struct stat a;

	return stat(path, &a) == 0 && is_current(&a);
}

int berth_netns_enter(int nsfd, int *ret_saved, berth_error *err)
{
	int saved, r;

	r = berth_netns_open_current(&saved, err);
	if (r < 0)
		return r;
	if (setns(nsfd, CLONE_NEWNET) < 0) {
		r = berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "failed to enter netns");
		close(saved);
		return r;
	}
	*ret_saved = saved;
	return 0;
}

void berth_netns_restore(int *saved)
{
	int e = errno;

	if (*saved < 0)
		return;
	if (setns(*saved, CLONE_NEWNET) < 0) {
		/* Going on in the wrong netns would configure the wrong interfaces. */
		fprintf(stderr, "berth: failed to restore the network namespace: %s\n",
			strerror(errno));
		abort();
	}
	close(*saved);
	*saved = -1;
	errno = e;
}

int berth_netns_run(int nsfd, berth_netns_fn fn, void *userdata, berth_error *err)
{
	_cleanup_netns_ int saved = -1;
	int r;

	if (nsfd >= 0) {
		r = berth_netns_enter(nsfd, &saved, err);
		if (r < 0)
			return r;
	}
	return fn(userdata, err);
}

int berth_netns_probe(berth_netns_fn fn, void *userdata, const char *what, berth_error *err)
{
	int p[2], status = 0;
	berth_error child = { 0 };
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "pipe");
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "fork");
	}
	if (pid == 0) {
		berth_error e = { 0 };
		int r;

		close(p[0]);
		if (unshare(CLONE_NEWNET) < 0)
			r = berth_error_errno(&e, BERTH_CNI_ERR_INTERNAL,
					      "cannot create a network namespace to probe in");
		else
			r = fn(userdata, &e);
		if (r < 0 && write(p[1], &e, sizeof(e)) < 0)
			_exit(2);
		_exit(r < 0 ? 1 : 0);
	}
	close(p[1]);
	n = read(p[0], &child, sizeof(child));
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (n == (ssize_t)sizeof(child)) {
		child.msg[sizeof(child.msg) - 1] = '\0';
		child.details[sizeof(child.details) - 1] = '\0';
		*err = child;
		return -(child.errnum ? child.errnum : EIO);
	}
	return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EIO,
			       "the %s probe process failed (status %d)", what, status);
}

int berth_netns_new_anon(int *ret_fd, berth_error *err)
{
	_cleanup_netns_ int saved = -1;
	int fd, r;

	if ((r = berth_netns_open_current(&saved, err)) < 0)
		return r;
	if (unshare(CLONE_NEWNET) < 0) {
		r = berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "failed to create a netns");
		close(saved);
		saved = -1;
		return r;
	}
	/* saved is restored on return, whatever happens below */
	fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "failed to open the new netns");
	*ret_fd = fd;
	return 0;
}
