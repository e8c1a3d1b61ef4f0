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

/* ---- directory listing ---- */

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void berth_archive_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int berth_archive_list_dir(int dirfd, char ***ret_names, size_t *ret_n)
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
				berth_archive_names_free(names, n);
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
				berth_archive_names_free(names, n);
				return -ENOMEM;
			}
			names = nn;
			cap = ncap;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			berth_archive_names_free(names, n);
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
 * per level (a hostile layer can nest 2000 levels deep, past a 1024-fd limit): each level keeps
 * only its listing in memory, the way back up is "..", checked by device and inode against the
 * directory we came from.  Nothing is ever followed: unlinkat on entries, O_NOFOLLOW to descend.
 */
struct rm_frame {
	char **names;
	size_t n, next;
	char *self; /* this level's name in its parent; NULL at the top */
};

static void rm_frame_free(struct rm_frame *f)
{
	berth_archive_names_free(f->names, f->n);
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
	r = berth_archive_list_dir(fd, &st[0].names, &st[0].n);
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
		r = nf.self ? berth_archive_list_dir(nfd, &nf.names, &nf.n) : -ENOMEM;
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

int berth_archive_remove_tree_at(int dirfd, const char *path, berth_error *err)
{
	_cleanup_free_ char *copy = strdup(path);
	_cleanup_close_ int pfd = -1;
	const char *leaf;
	char *slash;
	int r;

	if (!copy)
		return berth_error_set(err, BERTH_ERR_IO, ENOMEM, "out of memory");
	r = berth_archive_clean_path(copy, PATH_MAX);
	if (r < 0 || !*copy)
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "refusing to remove '%s'", path);
	/* intermediate components must be real directories: never remove through a symlink */
	slash = strrchr(copy, '/');
	if (slash) {
		char *p = copy;

		*slash = '\0';
		leaf = slash + 1;
		pfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		while (pfd >= 0 && p) {
			char *next = strchr(p, '/');
			int nfd;

			if (next)
				*next++ = '\0';
			nfd = openat(pfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			close(pfd);
			pfd = nfd;
			p = next;
		}
		if (pfd < 0) {
			/* missing, or not a real directory: nothing of ours to remove there */
			if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
				return 0;
			return berth_error_errno(err, BERTH_ERR_IO, "remove %s", path);
		}
	} else {
		leaf = copy;
	}
	r = remove_one(pfd >= 0 ? pfd : dirfd, leaf);
	if (r < 0)
		return berth_error_set(err, BERTH_ERR_IO, -r, "remove %s: %s", path,
				       strerror(-r));
	return 0;
}
