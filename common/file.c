// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/file.h"

int berth_read_fd(int fd, size_t max, char **ret, size_t *ret_len, berth_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;

	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			size_t ncap = cap ? cap * 2 : 8192;
			char *nbuf;

			if (ncap > max + 1)
				ncap = max + 1;
			if (ncap <= len)
				return berth_error_set(err, BERTH_ERR_IO, EFBIG,
						       "input larger than %zu bytes", max);
			nbuf = realloc(buf, ncap);
			if (!nbuf)
				return berth_error_set(err, BERTH_ERR_IO, ENOMEM, "out of memory");
			buf = nbuf;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return berth_error_errno(err, BERTH_ERR_IO, "read");
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max)
			return berth_error_set(err, BERTH_ERR_IO, EFBIG,
					       "input larger than %zu bytes", max);
	}
	if (!buf) {
		buf = malloc(1);
		if (!buf)
			return berth_error_set(err, BERTH_ERR_IO, ENOMEM, "out of memory");
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

int berth_read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len,
		       berth_error *err)
{
	_cleanup_close_ int fd = -1;
	int r;

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", path);
	r = berth_read_fd(fd, max, ret, ret_len, err);
	if (r < 0)
		return berth_error_prefix(err, "%s", path);
	return 0;
}

int berth_read_file(const char *path, size_t max, char **ret, size_t *ret_len, berth_error *err)
{
	return berth_read_file_at(AT_FDCWD, path, max, ret, ret_len, err);
}

int berth_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int berth_write_file_atomic_at(int dirfd, const char *path, const void *data, size_t len,
			       mode_t mode, bool sync, berth_error *err)
{
	char tmp[PATH_MAX];
	_cleanup_close_ int fd = -1;
	int r;

	r = snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	if (r < 0 || (size_t)r >= sizeof(tmp))
		return berth_error_set(err, BERTH_ERR_IO, ENAMETOOLONG, "path too long: %s",
				       path);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "create %s", tmp);
	r = berth_write_all(fd, data, len);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && sync && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && renameat(dirfd, tmp, dirfd, path) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(dirfd, tmp, 0);
		errno = -r;
		return berth_error_errno(err, BERTH_ERR_IO, "write %s", path);
	}
	return 0;
}

int berth_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, bool sync,
			    berth_error *err)
{
	return berth_write_file_atomic_at(AT_FDCWD, path, data, len, mode, sync, err);
}

int berth_mkdir_p(const char *path, mode_t mode, berth_error *err)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return berth_error_set(err, BERTH_ERR_IO, ENAMETOOLONG, "bad path '%s'", path);
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, mode) < 0 && errno != EEXIST)
				return berth_error_errno(err, BERTH_ERR_IO, "mkdir %s", buf);
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

int berth_lock_path(const char *path, bool exclusive, int *ret_fd, berth_error *err)
{
	_cleanup_close_ int fd = -1;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open lock %s", path);
	while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
		if (errno != EINTR)
			return berth_error_errno(err, BERTH_ERR_IO, "flock %s", path);
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int berth_write_string_file(const char *path, const char *value, berth_error *err)
{
	_cleanup_close_ int fd = -1;
	int r;

	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", path);
	r = berth_write_all(fd, value, strlen(value));
	if (r < 0) {
		errno = -r;
		return berth_error_errno(err, BERTH_ERR_IO, "write '%s' to %s", value, path);
	}
	return 0;
}

bool berth_path_component_ok(const char *name)
{
	return name && *name && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
	       !strchr(name, '/');
}
