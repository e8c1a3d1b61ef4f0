// SPDX-License-Identifier: Apache-2.0
/* /proc/sys/net writes, optionally inside another netns. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/netns.h"
#include "berth/sysctl.h"

/* "net.ipv4.ip_forward" or "net/ipv4/conf/eth0.100/x" -> "/proc/sys/net/..." */
static int sysctl_path(const char *key, char *buf, size_t len, berth_error *err)
{
	const char *p;
	bool slash = strchr(key, '/') != NULL;
	size_t n;

	if (strncmp(key, slash ? "net/" : "net.", 4) != 0)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "sysctl \"%s\" is not under net", key);
	n = (size_t)snprintf(buf, len, "/proc/sys/%s", key);
	if (n >= len)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ENAMETOOLONG,
				       "sysctl \"%s\" is too long", key);
	if (!slash)
		for (char *c = buf + strlen("/proc/sys/"); *c; c++)
			if (*c == '.')
				*c = '/';
	/* No component may walk out of /proc/sys/net. */
	for (p = buf + strlen("/proc/sys/"); p && *p; p = strchr(p, '/') ? strchr(p, '/') + 1 : NULL) {
		size_t cl = strcspn(p, "/");

		if (cl == 0 || (cl == 1 && p[0] == '.') || (cl == 2 && p[0] == '.' && p[1] == '.'))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "invalid sysctl \"%s\"", key);
	}
	return 0;
}

int berth_sysctl_write(const char *key, const char *value, berth_error *err)
{
	_cleanup_close_ int fd = -1;
	char path[512];
	size_t len = strlen(value);
	ssize_t w;
	int r;

	r = sysctl_path(key, path, sizeof(path), err);
	if (r < 0)
		return r;
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "failed to open sysctl %s", key);
	do
		w = write(fd, value, len);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "failed to set %s=%s", key,
					 value);
	if ((size_t)w != len)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EIO, "short write to %s", key);
	return 0;
}

int berth_sysctl_read(const char *key, char *buf, size_t len, berth_error *err)
{
	_cleanup_close_ int fd = -1;
	char path[512];
	ssize_t n;
	int r;

	if (len == 0)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, EINVAL, "no buffer");
	r = sysctl_path(key, path, sizeof(path), err);
	if (r < 0)
		return r;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "failed to open sysctl %s", key);
	do
		n = read(fd, buf, len - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INTERNAL, "failed to read %s", key);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

int berth_sysctl_write_in(int nsfd, const char *key, const char *value, berth_error *err)
{
	_cleanup_netns_ int saved = -1;
	int r;

	if (nsfd >= 0) {
		r = berth_netns_enter(nsfd, &saved, err);
		if (r < 0)
			return r;
	}
	return berth_sysctl_write(key, value, err);
}

int berth_sysctl_read_in(int nsfd, const char *key, char *buf, size_t len, berth_error *err)
{
	_cleanup_netns_ int saved = -1;
	int r;

	if (nsfd >= 0) {
		r = berth_netns_enter(nsfd, &saved, err);
		if (r < 0)
			return r;
	}
	return berth_sysctl_read(key, buf, len, err);
}
