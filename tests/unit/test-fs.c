// SPDX-License-Identifier: Apache-2.0
/* common/fs.c: sizes, listing, removal without following symlinks, and what tells the two
 * removals and the two mount point tests apart (in a private mount namespace: as root, or as
 * a user through a user namespace; without either those checks are reported as skipped). */

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/fs.h"
#include "tap.h"

static void touch(const char *dir, const char *name)
{
	char p[4096];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
}

static bool exists(const char *dir, const char *name)
{
	char p[4096];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return lstat(p, &st) == 0;
}

static void mkdirf(const char *dir, const char *name)
{
	char p[4096];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	mkdir(p, 0700);
}

static void test_sizes(void)
{
	uint64_t v = 0;

	ok(berth_parse_size("10G", &v) == 0 && v == 10ULL << 30, "10G");
	ok(berth_parse_size("512m", &v) == 0 && v == 512ULL << 20, "512m");
	ok(berth_parse_size("64KiB", &v) == 0 && v == 64ULL << 10, "64KiB");
	ok(berth_parse_size("1GB", &v) == 0 && v == 1ULL << 30, "1GB");
	ok(berth_parse_size("100B", &v) == 0 && v == 100, "100B");
	ok(berth_parse_size("4096", &v) == 0 && v == 4096, "a plain number of bytes");
	is_int(berth_parse_size("12Q", &v), -EINVAL, "an unknown unit is refused");
	is_int(berth_parse_size("-1", &v), -EINVAL, "a sign is refused (strtoull would wrap it)");
	is_int(berth_parse_size(" 5", &v), -EINVAL, "leading space is refused");
	is_int(berth_parse_size("1Gx", &v), -EINVAL, "trailing junk is refused");
	is_int(berth_parse_size("16777216T", &v), -ERANGE, "2^64 does not wrap to 0");
}

static void test_listing_and_symlinks(void)
{
	char w[] = "/tmp/berth-test-fs.XXXXXX";
	_cleanup_close_ int fd = -1;
	berth_error err = { 0 };
	char **names = NULL;
	size_t n = 0;

	if (!mkdtemp(w)) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	fd = open(w, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	mkdirf(w, "out");
	touch(w, "out/precious");
	mkdirf(w, "t");
	mkdirf(w, "t/b");
	mkdirf(w, "t/a");
	touch(w, "t/a/f");
	symlinkat("../out", fd, "t/link");
	symlinkat("out", fd, "l2");

	ok(berth_list_dir_at(openat(fd, "t", O_RDONLY | O_DIRECTORY | O_CLOEXEC), &names, &n) == 0 &&
		   n == 3 && STREQ(names[0], "a") && STREQ(names[1], "b") &&
		   STREQ(names[2], "link"),
	   "listing is sorted, without . and ..");
	berth_names_free(names, n);

	is_int(berth_rm_rf_at(fd, "l2/precious", &err), 0, "a path through a symlink: nothing to do");
	ok(exists(w, "out/precious"), "... and the symlink's target is untouched");
	is_int(berth_rm_rf_at(fd, "t", &err), 0, "remove a tree holding a symlink to outside");
	ok(!exists(w, "t") && exists(w, "out/precious"), "... the tree is gone, the target is not");
	is_int(berth_rm_rf_at(fd, "t", &err), 0, "a missing path is fine");
	ok(berth_rm_rf_at(fd, "..", &err) < 0 && err.code == BERTH_ERR_INVALID_CONFIG, "'..' refused");
	ok(berth_rm_rf_at(fd, "out/../out", &err) < 0, "a '..' component refused");
	ok(berth_rm_rf_at(fd, "/tmp", &err) < 0, "an absolute path refused");
	ok(berth_rm_rf_at(fd, ".", &err) < 0, "'.' refused");
	ok(exists(w, "out/precious"), "nothing was removed by the refusals");
	berth_rm_rf_one_fs(w);
	ok(!exists(w, ""), "rm_rf_one_fs removes a tree on one filesystem");
}

/* What the child found in its own mount namespace. */
struct ns_result {
	int setup; /* 0 ok, else errno of the namespace/mount setup */
	bool bind_mountpoint, bind_by_dev;
	bool tmpfs_mountpoint, tmpfs_by_dev;
	bool plain_mountpoint, plain_by_dev;
	bool one_fs_kept_mount, one_fs_removed_rest;
	int rm_at_ret, rm_at_errnum;
	bool rm_at_kept_mount, rm_at_stopped;
};

static int write_map(const char *file, const char *line)
{
	int fd = open(file, O_WRONLY | O_CLOEXEC);
	int r = -1;

	if (fd >= 0) {
		r = write(fd, line, strlen(line)) == (ssize_t)strlen(line) ? 0 : -1;
		close(fd);
	}
	return r;
}

static int enter_mount_ns(void)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char line[64];

	if (uid == 0) {
		if (unshare(CLONE_NEWNS) < 0)
			return errno;
	} else {
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
			return errno;
		write_map("/proc/self/setgroups", "deny");
		snprintf(line, sizeof(line), "0 %u 1", (unsigned)uid);
		if (write_map("/proc/self/uid_map", line) < 0)
			return EPERM;
		snprintf(line, sizeof(line), "0 %u 1", (unsigned)gid);
		if (write_map("/proc/self/gid_map", line) < 0)
			return EPERM;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return errno;
	return 0;
}

static void ns_child(const char *w, struct ns_result *res)
{
	char p[4096];
	berth_error err = { 0 };
	int fd;

	res->setup = enter_mount_ns();
	if (res->setup)
		return;
	mkdirf(w, "b");
	mkdirf(w, "t");
	mkdirf(w, "p");
	snprintf(p, sizeof(p), "%s/b", w);
	if (mount(p, p, NULL, MS_BIND, NULL) < 0) {
		res->setup = errno;
		return;
	}
	res->bind_mountpoint = berth_is_mountpoint(p);
	res->bind_by_dev = berth_is_mountpoint_by_dev(p);
	snprintf(p, sizeof(p), "%s/t", w);
	if (mount("tmpfs", p, "tmpfs", 0, "size=1m") < 0) {
		res->setup = errno;
		return;
	}
	res->tmpfs_mountpoint = berth_is_mountpoint(p);
	res->tmpfs_by_dev = berth_is_mountpoint_by_dev(p);
	snprintf(p, sizeof(p), "%s/p", w);
	res->plain_mountpoint = berth_is_mountpoint(p);
	res->plain_by_dev = berth_is_mountpoint_by_dev(p);

	/* r/{a/f, m (a tmpfs holding keep), z/f} */
	mkdirf(w, "r");
	mkdirf(w, "r/m");
	snprintf(p, sizeof(p), "%s/r/m", w);
	if (mount("tmpfs", p, "tmpfs", 0, "size=1m") < 0) {
		res->setup = errno;
		return;
	}
	touch(w, "r/m/keep");
	mkdirf(w, "r/a");
	touch(w, "r/a/f");
	mkdirf(w, "r/z");
	touch(w, "r/z/f");
	snprintf(p, sizeof(p), "%s/r", w);
	berth_rm_rf_one_fs(p);
	res->one_fs_kept_mount = exists(w, "r/m/keep");
	res->one_fs_removed_rest = !exists(w, "r/a") && !exists(w, "r/z");

	mkdirf(w, "r/a");
	touch(w, "r/a/f");
	mkdirf(w, "r/z");
	touch(w, "r/z/f");
	fd = open(w, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	res->rm_at_ret = berth_rm_rf_at(fd, "r", &err);
	res->rm_at_errnum = err.errnum;
	close(fd);
	res->rm_at_kept_mount = exists(w, "r/m/keep");
	/* sorted order: a went, the mount point stopped it, z is still there */
	res->rm_at_stopped = !exists(w, "r/a") && exists(w, "r/z/f");
}

static void test_mount_variants(void)
{
	char w[] = "/tmp/berth-test-fs.XXXXXX";
	struct ns_result res = { 0 };
	int pfd[2];
	pid_t pid;
	int status;

	if (!mkdtemp(w) || pipe(pfd) < 0) {
		ok(0, "setup: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		ns_child(w, &res);
		if (write(pfd[1], &res, sizeof(res)) != (ssize_t)sizeof(res))
			_exit(2);
		_exit(0);
	}
	close(pfd[1]);
	if (pid < 0 || read(pfd[0], &res, sizeof(res)) != (ssize_t)sizeof(res) ||
	    waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		ok(0, "the namespace child reported nothing");
		close(pfd[0]);
		return;
	}
	close(pfd[0]);
	berth_rm_rf_one_fs(w); /* the mounts died with the child's namespace */

	if (res.setup) {
		for (int i = 0; i < 10; i++)
			printf("ok %d # skip no private mount namespace here (%s)\n", ++tap_n,
			       strerror(res.setup));
		return;
	}
	ok(res.bind_mountpoint, "a same-filesystem bind mount: berth_is_mountpoint sees it");
	ok(!res.bind_by_dev, "... berth_is_mountpoint_by_dev does not (same st_dev)");
	ok(res.tmpfs_mountpoint && res.tmpfs_by_dev, "a tmpfs mount: both see it");
	ok(!res.plain_mountpoint && !res.plain_by_dev, "a plain directory: neither");
	ok(res.one_fs_kept_mount, "berth_rm_rf_one_fs leaves a mounted filesystem alone");
	ok(res.one_fs_removed_rest, "... and removes everything else, silently");
	is_int(res.rm_at_ret, -EBUSY, "berth_rm_rf_at stops at the mount point with -EBUSY");
	is_int(res.rm_at_errnum, EBUSY, "... and says so in the error");
	ok(res.rm_at_kept_mount, "... without entering the mounted filesystem");
	ok(res.rm_at_stopped, "... having removed what came before it, not what comes after");
}

int main(void)
{
	test_sizes();
	test_listing_and_symlinks();
	test_mount_variants();
	return done_testing();
}
