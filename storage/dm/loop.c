/* SPDX-License-Identifier: Apache-2.0 */
/* Loop devices for the development/test pool, set up with ioctls (no losetup). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/loop.h>

#include "berth/cleanup.h"
#include "berth/dm.h"

#ifndef LOOP_CONFIGURE
#define LOOP_CONFIGURE 0x4C0A
#endif

static int configure(int loopfd, int filefd, const char *file)
{
	struct loop_config cfg;
	struct loop_info64 info;

	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (unsigned)filefd;
	cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
	snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "%s", file);
	if (ioctl(loopfd, LOOP_CONFIGURE, &cfg) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOTTY)
		return -errno;
	/* Kernels before 5.8: the two-step way. */
	if (ioctl(loopfd, LOOP_SET_FD, filefd) < 0)
		return -errno;
	memset(&info, 0, sizeof(info));
	info.lo_flags = LO_FLAGS_AUTOCLEAR;
	snprintf((char *)info.lo_file_name, sizeof(info.lo_file_name), "%s", file);
	if (ioctl(loopfd, LOOP_SET_STATUS64, &info) < 0) {
		int e = errno;
		ioctl(loopfd, LOOP_CLR_FD, 0);
		return -e;
	}
	return 0;
}

int berth_loop_attach(const char *file, int *ret_fd, char **ret_path, berth_error *err)
{
	_cleanup_close_ int ctl = -1, filefd = -1;

	filefd = open(file, O_RDWR | O_CLOEXEC);
	if (filefd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open loop file %s", file);
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return berth_error_errno(err, BERTH_STOR_ERR_NOT_SUPPORTED,
					 "open /dev/loop-control (loop module missing?)");
	/* Another process can take the free device between GET_FREE and CONFIGURE: retry. */
	for (int attempt = 0; attempt < 32; attempt++) {
		_cleanup_close_ int loopfd = -1;
		char path[64];
		int n, r;

		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			return berth_error_errno(err, BERTH_ERR_IO, "LOOP_CTL_GET_FREE");
		snprintf(path, sizeof(path), "/dev/loop%d", n);
		loopfd = open(path, O_RDWR | O_CLOEXEC);
		if (loopfd < 0) {
			if (errno == ENOENT) {
				/* no devtmpfs node yet: make it ourselves */
				if (mknod(path, 0660 | __S_IFBLK, makedev(7, n)) < 0 && errno != EEXIST)
					return berth_error_errno(err, BERTH_ERR_IO, "mknod %s",
								 path);
				loopfd = open(path, O_RDWR | O_CLOEXEC);
			}
			if (loopfd < 0)
				return berth_error_errno(err, BERTH_ERR_IO, "open %s", path);
		}
		r = configure(loopfd, filefd, file);
		if (r == -EBUSY)
			continue;
		if (r < 0)
			return berth_error_set(err, BERTH_ERR_IO, -r, "attach %s to %s: %s", file,
					       path, strerror(-r));
		*ret_path = strdup(path);
		if (!*ret_path)
			return berth_error_set(err, 0, ENOMEM, "out of memory");
		*ret_fd = TAKE_FD(loopfd);
		return 0;
	}
	return berth_error_set(err, BERTH_ERR_TRY_AGAIN, EBUSY,
			       "no free loop device for %s after 32 attempts", file);
}
