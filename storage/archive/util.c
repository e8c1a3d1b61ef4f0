// SPDX-License-Identifier: Apache-2.0
/* Path, resolution and removal helpers of the layer archive code. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "berth/archive.h"
#include "berth/cleanup.h"
#include "berth/error.h"
#include "archive-internal.h"

bool berth_archive_xattr_allowed(const char *name)
{
	if (!strncmp(name, "user.", 5))
		return strncmp(name, "user.overlay.", 13) != 0;
	if (!strncmp(name, "trusted.", 8))
		return strncmp(name, "trusted.overlay.", 16) != 0;
	return STREQ(name, "security.capability") || STREQ(name, "system.posix_acl_access") ||
	       STREQ(name, "system.posix_acl_default");
}

int berth_archive_clean_path(char *path, size_t max)
{
	char *r = path, *w = path;

	if (path[0] == '/')
		return -EPERM;
	while (*r) {
		char *c = r;
		size_t len;

		while (*r && *r != '/')
			r++;
		len = r - c;
		while (*r == '/')
			r++;
		if (len == 0 || (len == 1 && c[0] == '.'))
			continue;
		if (len == 2 && c[0] == '.' && c[1] == '.')
			return -EPERM;
		if (w != path)
			*w++ = '/';
		memmove(w, c, len);
		w += len;
	}
	*w = '\0';
	if ((size_t)(w - path) > max)
		return -ENAMETOOLONG;
	return 0;
}

static int force_walk = -1;

void berth_archive_set_force_walk(bool on)
{
	force_walk = on;
}

static bool use_walk(void)
{
	if (force_walk < 0) {
		const char *e = getenv("BERTH_ARCHIVE_NO_OPENAT2");
		force_walk = e && STREQ(e, "1");
	}
	return force_walk;
}

/*
 * The fallback of openat2(RESOLVE_IN_ROOT): walk one component at a time with O_NOFOLLOW,
 * expand symlinks ourselves (absolute targets restart at rootfd), and clamp ".." at the root,
 * which we recognise by device and inode.  Only we write the tree during an apply, so a
 * directory reached from the root by descending stays below it.
 */
static int walk_in_root(int rootfd, const char *path)
{
	struct stat root_st, st;
	char work[PATH_MAX * 2 + 2];
	_cleanup_close_ int cur = -1;
	size_t work_len;
	char *p;
	int links = 0;

	if (fstat(rootfd, &root_st) < 0)
		return -errno;
	work_len = strlen(path);
	if (work_len > PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(work, path, work_len + 1);
	cur = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0)
		return -errno;

	p = work;
	while (*p) {
		char *comp = p, *end;
		_cleanup_close_ int next = -1;

		end = strchrnul(p, '/');
		p = *end ? end + 1 : end;
		*end = '\0';
		if (!*comp || STREQ(comp, "."))
			continue;
		if (STREQ(comp, "..")) {
			if (fstat(cur, &st) < 0)
				return -errno;
			if (st.st_dev == root_st.st_dev && st.st_ino == root_st.st_ino)
				continue;
			next = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (next < 0)
				return -errno;
			close(cur);
			cur = TAKE_FD(next);
			continue;
		}
		next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next >= 0) {
			close(cur);
			cur = TAKE_FD(next);
			continue;
		}
		if (errno != ELOOP && errno != ENOTDIR)
			return -errno;
		if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if (!S_ISLNK(st.st_mode))
			return -ENOTDIR;
		if (++links > 40)
			return -ELOOP;
		{
			char target[PATH_MAX];
			size_t rest = strlen(p), tlen;
			ssize_t n = readlinkat(cur, comp, target, sizeof(target) - 1);

			if (n < 0)
				return -errno;
			tlen = n;
			if (tlen + 1 + rest > PATH_MAX * 2)
				return -ENAMETOOLONG;
			/* new work = target "/" rest */
			memmove(work + tlen + 1, p, rest + 1);
			memcpy(work, target, tlen);
			work[tlen] = '/';
			p = work;
			if (target[0] == '/') {
				next = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
				if (next < 0)
					return -errno;
				close(cur);
				cur = TAKE_FD(next);
			}
		}
	}
	return TAKE_FD(cur);
}

int berth_archive_open_dir_in_root(int rootfd, const char *path)
{
	static bool no_openat2;
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	if (!*path)
		path = ".";
	if (no_openat2 || use_walk())
		return walk_in_root(rootfd, path);
	fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	if (fd >= 0)
		return fd;
	if (errno == ENOSYS || errno == EPERM /* seccomp */) {
		no_openat2 = true;
		return walk_in_root(rootfd, path);
	}
	/* openat2 fails RESOLVE_IN_ROOT lookups with EAGAIN when a rename raced; retry once */
	if (errno == EAGAIN)
		fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	return fd >= 0 ? fd : -errno;
}

/* ---- string set ---- */

static int strset_grow(struct berth_strset *s)
{
	size_t ncap = s->cap ? s->cap * 2 : 1024;
	char **nslots = calloc(ncap, sizeof(char *));

	if (!nslots)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		char *str = s->slots[i];
		size_t j;

		if (!str)
			continue;
		j = berth_archive_hash(str, strlen(str)) & (ncap - 1);
		while (nslots[j])
			j = (j + 1) & (ncap - 1);
		nslots[j] = str;
	}
	free(s->slots);
	s->slots = nslots;
	s->cap = ncap;
	return 0;
}

static bool slot_eq(const char *slot, const char *str, size_t len)
{
	return !strncmp(slot, str, len) && slot[len] == '\0';
}

bool berth_strset_has(const struct berth_strset *s, const char *str, size_t len)
{
	size_t j;

	if (!s->cap)
		return false;
	j = berth_archive_hash(str, len) & (s->cap - 1);
	while (s->slots[j]) {
		if (slot_eq(s->slots[j], str, len))
			return true;
		j = (j + 1) & (s->cap - 1);
	}
	return false;
}

int berth_strset_add(struct berth_strset *s, const char *str, size_t len)
{
	size_t j;

	if ((s->n + 1) * 2 > s->cap) {
		int r = strset_grow(s);
		if (r < 0)
			return r;
	}
	j = berth_archive_hash(str, len) & (s->cap - 1);
	while (s->slots[j]) {
		if (slot_eq(s->slots[j], str, len))
			return 0;
		j = (j + 1) & (s->cap - 1);
	}
	s->slots[j] = strndup(str, len);
	if (!s->slots[j])
		return -ENOMEM;
	s->n++;
	return 1;
}

void berth_strset_clear(struct berth_strset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slots[i]);
	free(s->slots);
	*s = (struct berth_strset){ 0 };
}
