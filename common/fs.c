// SPDX-License-Identifier: Apache-2.0
/*
 * Filesystem helpers the storage drivers and the layer archive code share: directory listing,
 * recursive removal, mount point tests, size strings.
 *
 * There are two removals and two mount point tests because each pair answers a different
 * question (tests/unit/test-fs.c shows the difference):
 *  - berth_rm_rf_at() removes a tree below a directory fd, whatever it holds: it never follows
 *    a symlink (not even in the path's intermediate components), keeps one directory fd open
 *    whatever the depth (a hostile layer nests thousands of levels, past any fd limit), and
 *    stops with -EBUSY at a directory something is mounted on.
 *  - berth_rm_rf_one_fs() is a best-effort removal by path that stays on the filesystem it
 *    starts on (nftw FTW_MOUNT): what is mounted below is skipped, and everything else goes.
 *  - berth_is_mountpoint() asks statx for STATX_ATTR_MOUNT_ROOT: true for every mount,
 *    including a bind mount of a directory onto itself.
 *  - berth_is_mountpoint_by_dev() compares st_dev with the parent's: true only where another
 *    filesystem starts (a same-filesystem bind mount is not seen).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/fs.h"

/* ---- directory listing ---- */

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void berth_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int berth_list_dir_at(int dirfd, char ***ret_names, size_t *ret_n)
{
	_cleanup_closedir_ DIR *d = NULL;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int fd;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno) {
				berth_names_free(names, n);
				return -errno;
			}
			break;
		}
		if (STREQ(de->d_name, ".") || STREQ(de->d_name, ".."))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **nn = realloc(names, ncap * sizeof(char *));
			if (!nn) {
				berth_names_free(names, n);
				return -ENOMEM;
			}
			names = nn;
			cap = ncap;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			berth_names_free(names, n);
			return -ENOMEM;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof(char *), cmp_names);
	*ret_names = names;
	*ret_n = n;
	return 0;
}

/* ---- removal ---- */

/*
 * Remove dirfd/name and everything below it.  The descent keeps one directory fd open, not one
 * per level: each level keeps only its listing in memory, the way back up is "..", checked by
 * device and inode against the directory we came from.  Nothing is ever followed: unlinkat on
 * entries, O_NOFOLLOW to descend.
 */
struct rm_frame {
	char **names;
	size_t n, next;
	char *self; /* this level's name in its parent; NULL at the top */
};

static void rm_frame_free(struct rm_frame *f)
{
	berth_names_free(f->names, f->n);
	free(f->self);
}

static int remove_one(int dirfd, const char *name)
{
	struct rm_frame *st = NULL;
	size_t depth = 0, cap = 0;
	struct stat sb;
	int fd = -1, r = 0;

	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(sb.st_mode))
		return -EPERM;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;

	/* push the top level */
	st = calloc(cap = 16, sizeof(*st));
	if (!st) {
		r = -ENOMEM;
		goto out;
	}
	r = berth_list_dir_at(fd, &st[0].names, &st[0].n);
	if (r < 0)
		goto out;
	depth = 1;

	while (depth > 0) {
		struct rm_frame *f = &st[depth - 1];
		const char *e;
		struct rm_frame nf = { 0 };
		int nfd;

		if (f->next == f->n) {
			/* this level is empty now: go up and remove it there */
			struct stat here, there;
			int pfd;

			if (depth == 1)
				break;
			pfd = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (pfd < 0) {
				r = -errno;
				goto out;
			}
			/* ".." must still hold the dir we descended into (nobody moved it) */
			if (fstat(fd, &here) < 0 ||
			    fstatat(pfd, f->self, &there, AT_SYMLINK_NOFOLLOW) < 0 ||
			    here.st_dev != there.st_dev || here.st_ino != there.st_ino) {
				close(pfd);
				r = -ESTALE;
				goto out;
			}
			close(fd);
			fd = pfd;
			if (unlinkat(fd, f->self, AT_REMOVEDIR) < 0 && errno != ENOENT) {
				r = -errno;
				goto out;
			}
			rm_frame_free(f);
			depth--;
			continue;
		}
		e = f->names[f->next++];
		if (unlinkat(fd, e, 0) == 0 || errno == ENOENT)
			continue;
		if (errno != EISDIR && errno != EPERM) {
			r = -errno;
			goto out;
		}
		if (unlinkat(fd, e, AT_REMOVEDIR) == 0 || errno == ENOENT)
			continue;
		if (errno != ENOTEMPTY && errno != EEXIST) {
			r = -errno;
			goto out;
		}
		/* a non-empty directory: descend */
		if (depth >= 8192) {
			r = -ELOOP;
			goto out;
		}
		nfd = openat(fd, e, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			r = -errno;
			goto out;
		}
		nf.self = strdup(e);
		r = nf.self ? berth_list_dir_at(nfd, &nf.names, &nf.n) : -ENOMEM;
		if (r >= 0 && depth == cap) {
			struct rm_frame *ns = realloc(st, cap * 2 * sizeof(*st));
			if (ns) {
				st = ns;
				cap *= 2;
			} else {
				r = -ENOMEM;
			}
		}
		if (r < 0) {
			close(nfd);
			rm_frame_free(&nf);
			goto out;
		}
		st[depth++] = nf;
		close(fd);
		fd = nfd;
	}
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		r = -errno;
out:
	for (size_t i = 0; i < depth; i++)
		rm_frame_free(&st[i]);
	free(st);
	if (fd >= 0)
		close(fd);
	return r;
}

int berth_rm_rf_at(int dirfd, const char *path, berth_error *err)
{
	_cleanup_free_ char *copy = strdup(path);
	_cleanup_close_ int pfd = -1;
	char *p, *next, *leaf = NULL;
	int r;

	if (!copy)
		return berth_error_set(err, BERTH_ERR_IO, ENOMEM, "out of memory");
	/* every component but the last must be a real directory: never remove through a
	 * symlink; "" and "." components are skipped, "..", an absolute path or nothing at all
	 * is refused */
	for (p = path[0] == '/' ? NULL : copy; p; p = next) {
		next = strchr(p, '/');
		if (next)
			*next++ = '\0';
		if (!*p || STREQ(p, "."))
			continue;
		if (STREQ(p, ".."))
			break;
		if (leaf) {
			int nfd = openat(pfd >= 0 ? pfd : dirfd, leaf,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (nfd < 0) {
				/* missing, or not a real directory: nothing of ours there */
				if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
					return 0;
				return berth_error_errno(err, BERTH_ERR_IO, "remove %s", path);
			}
			if (pfd >= 0)
				close(pfd);
			pfd = nfd;
		}
		leaf = p;
	}
	if (p || !leaf)
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "refusing to remove '%s'", path);
	r = remove_one(pfd >= 0 ? pfd : dirfd, leaf);
	if (r < 0)
		return berth_error_set(err, BERTH_ERR_IO, -r, "remove %s: %s", path, strerror(-r));
	return 0;
}

static int rm_one_fs_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DP || flag == FTW_D)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void berth_rm_rf_one_fs(const char *path)
{
	nftw(path, rm_one_fs_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* ---- mount points ---- */

bool berth_is_mountpoint(const char *path)
{
	struct statx sx;

	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) < 0)
		return false;
	return (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	       (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

bool berth_is_mountpoint_by_dev(const char *path)
{
	struct stat a, b;
	_cleanup_free_ char *parent = NULL;

	if (asprintf(&parent, "%s/..", path) < 0) {
		parent = NULL;
		return false;
	}
	if (stat(path, &a) < 0 || stat(parent, &b) < 0)
		return false;
	return a.st_dev != b.st_dev || a.st_ino == b.st_ino;
}

/* ---- sizes ---- */

int berth_parse_size(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	case 'B':
		if (end[1])
			return -EINVAL;
		end++;
		break;
	default:
		return -EINVAL;
	}
	if (shift) {
		end++;
		if (strcasecmp(end, "") && strcasecmp(end, "b") && strcasecmp(end, "ib"))
			return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*ret = (uint64_t)v << shift;
	return 0;
}
