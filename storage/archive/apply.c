// SPDX-License-Identifier: Apache-2.0
/*
 * Apply a layer tar to a directory.  libarchive only parses; every entry is written by the code
 * below through *at() calls on directory fds that were resolved inside the root, so nothing in
 * the archive can make us follow a symlink or a ".." out of it.
 *
 * Speed: the fd of each parent directory is cached by its (clean) path, so an entry costs one
 * hash lookup plus the syscalls of its own creation; a miss opens one component relative to the
 * cached grandparent with O_NOFOLLOW and only falls back to a full in-root resolution when that
 * component is a symlink.  Any removal flushes the cache, since it may have replaced a cached
 * directory.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "berth/archive.h"
#include "berth/cleanup.h"
#include "berth/error.h"
#include "berth/fault.h"
#include "berth/log.h"
#include "archive-internal.h"

#define DCACHE_SIZE 512 /* slots; flushed when half full */
#define READ_BLOCK (128U << 10) /* bigger blocks fall out of the CPU cache: slower */

struct dcache_ent {
	char *path;
	uint32_t hash;
	int fd;
};

struct deferred_dir {
	char *path;
	dev_t dev;
	ino_t ino;
	mode_t mode;
	struct timespec ts[2];
};

struct applier {
	int rootfd;
	struct berth_archive_apply_opts o;
	struct archive *a;
	berth_error *err;
	const char *entry; /* name as in the archive, for errors */
	const char *path;  /* the clean name */
	struct dcache_ent cache[DCACHE_SIZE];
	size_t ncache;
	/* fds of flushed entries stay open until the next entry: a caller may still hold one */
	int *grave;
	size_t ngrave, capgrave;
	struct deferred_dir *dirs;
	size_t ndirs, capdirs;
	struct berth_strset written; /* DELETE mode: paths this layer wrote (opaque dirs) */
	struct berth_strset symlinks; /* symlinks this archive created: never written through */
	mode_t umask;
	bool root;
	/* a default ACL decides new files' modes instead of the umask: chmod every entry */
	bool always_chmod;
	struct berth_archive_apply_stats st;
};

/* ---- errors ---- */

static int io_code(int errnum)
{
	return errnum == ENOSPC || errnum == EDQUOT ? BERTH_STOR_ERR_NO_SPACE : BERTH_ERR_IO;
}

static int fail_io(struct applier *ap, int errnum, const char *what)
{
	return berth_error_set(ap->err, io_code(errnum), errnum, "entry '%s': %s: %s", ap->entry,
			       what, strerror(errnum));
}

static int fail_unsafe(struct applier *ap, const char *why)
{
	return berth_error_set(ap->err, BERTH_STOR_ERR_UNSAFE_ARCHIVE, EPERM,
			       "unsafe archive: entry '%s': %s", ap->entry, why);
}

/* An error of get_dir(). */
static int fail_dir(struct applier *ap, int r, const char *what)
{
	if (r == -EXDEV)
		return fail_unsafe(ap, "goes through a symlink the archive created");
	if (r == -ELOOP)
		return fail_unsafe(ap, "symlink loop in the path");
	if (r == -ENAMETOOLONG)
		return fail_unsafe(ap, "name too long");
	return fail_io(ap, -r, what);
}

static int fail_decode(struct applier *ap, const char *what)
{
	const char *s = archive_error_string(ap->a);
	return berth_error_set(ap->err, BERTH_ERR_DECODE, EBADMSG, "%s%s%s%s: %s", what,
			       ap->entry ? " after entry '" : "", ap->entry ? ap->entry : "",
			       ap->entry ? "'" : "", s ? s : "malformed tar stream");
}

/* ---- directory fd cache ---- */

static void grave_close(struct applier *ap)
{
	for (size_t i = 0; i < ap->ngrave; i++)
		close(ap->grave[i]);
	ap->ngrave = 0;
}

static void cache_flush(struct applier *ap)
{
	if (ap->ngrave + ap->ncache > ap->capgrave) {
		size_t ncap = ap->ngrave + ap->ncache + DCACHE_SIZE;
		int *ng = realloc(ap->grave, ncap * sizeof(int));
		if (!ng) /* cannot defer: nobody may use a cached fd after this entry fails */
			grave_close(ap);
		else {
			ap->grave = ng;
			ap->capgrave = ncap;
		}
	}
	for (size_t i = 0; i < DCACHE_SIZE; i++) {
		if (ap->cache[i].path) {
			free(ap->cache[i].path);
			if (ap->ngrave < ap->capgrave)
				ap->grave[ap->ngrave++] = ap->cache[i].fd;
			else
				close(ap->cache[i].fd);
			ap->cache[i].path = NULL;
		}
	}
	ap->ncache = 0;
}

static int cache_get(struct applier *ap, const char *path, size_t len, uint32_t h)
{
	size_t j = h & (DCACHE_SIZE - 1);

	while (ap->cache[j].path) {
		if (ap->cache[j].hash == h && !strncmp(ap->cache[j].path, path, len) &&
		    ap->cache[j].path[len] == '\0')
			return ap->cache[j].fd;
		j = (j + 1) & (DCACHE_SIZE - 1);
	}
	return -1;
}

/* Takes ownership of fd (closed on failure). */
static int cache_put(struct applier *ap, const char *path, size_t len, uint32_t h, int fd)
{
	size_t j;

	if (ap->ncache >= DCACHE_SIZE / 2)
		cache_flush(ap);
	j = h & (DCACHE_SIZE - 1);
	while (ap->cache[j].path)
		j = (j + 1) & (DCACHE_SIZE - 1);
	ap->cache[j].path = strndup(path, len);
	if (!ap->cache[j].path) {
		close(fd);
		return -ENOMEM;
	}
	ap->cache[j].hash = h;
	ap->cache[j].fd = fd;
	ap->ncache++;
	return fd;
}

/*
 * The fd of directory path[0..len) below the root (borrowed: owned by the cache).  Missing
 * components are created 0755 when `create`, else -ENOENT.  A symlink this archive created is
 * never written through (-EXDEV: "symlink then write-through" is the classic breakout, and no
 * tar writer produces it; bsdtar refuses it too); a symlink that was there before (the parent
 * layer's, e.g. /lib -> usr/lib on a snapshot) resolves inside the root.
 */
static int get_dir(struct applier *ap, const char *path, size_t len, bool create)
{
	uint32_t h;
	const char *leaf;
	size_t plen;
	int pfd, fd;
	char comp[NAME_MAX + 1];

	if (len == 0)
		return ap->rootfd;
	h = berth_archive_hash(path, len);
	fd = cache_get(ap, path, len, h);
	if (fd >= 0)
		return fd;

	leaf = memrchr(path, '/', len);
	if (leaf) {
		plen = leaf - path;
		leaf++;
	} else {
		plen = 0;
		leaf = path;
	}
	if ((size_t)(path + len - leaf) > NAME_MAX)
		return -ENAMETOOLONG;
	memcpy(comp, leaf, path + len - leaf);
	comp[path + len - leaf] = '\0';

	pfd = get_dir(ap, path, plen, create);
	if (pfd < 0)
		return pfd;
	fd = openat(pfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdirat(pfd, comp, 0755) < 0 && errno != EEXIST)
			return -errno;
		fd = openat(pfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0 && (errno == ELOOP || errno == ENOTDIR)) {
		_cleanup_free_ char *full = NULL;
		struct stat st;

		if (fstatat(pfd, comp, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if (!S_ISLNK(st.st_mode))
			return -ENOTDIR;
		if (berth_strset_has(&ap->symlinks, path, len))
			return -EXDEV;
		full = strndup(path, len);
		if (!full)
			return -ENOMEM;
		fd = berth_archive_open_dir_in_root(ap->rootfd, full);
		if (fd < 0)
			return fd;
	} else if (fd < 0) {
		return -errno;
	}
	return cache_put(ap, path, len, h, fd);
}

/* ---- metadata ---- */

static int do_chown(struct applier *ap, int fd, const char *name, uid_t uid, gid_t gid)
{
	int r;

	if (ap->o.no_chown)
		return 0;
	if (name)
		r = fchownat(fd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
	else
		r = fchown(fd, uid, gid);
	if (r < 0) {
		if (ap->o.ignore_chown_errors && (errno == EPERM || errno == EINVAL))
			return 0;
		return fail_io(ap, errno, "chown");
	}
	return 0;
}

/* fd: an fd of the object itself (regular file, dir), or -1 with dirfd+name (symlink, device,
 * fifo), where we go through /proc/self/fd/DIRFD/NAME with the l* calls. */
static int do_xattrs(struct applier *ap, struct archive_entry *e, int fd, int dirfd,
		     const char *name)
{
	const char *xname;
	const void *value;
	size_t size, total = 0, count = 0;
	char procpath[64 + NAME_MAX];

	if (archive_entry_xattr_reset(e) == 0)
		return 0;
	if (fd < 0)
		snprintf(procpath, sizeof(procpath), "/proc/self/fd/%d/%s", dirfd, name);
	while (archive_entry_xattr_next(e, &xname, &value, &size) == ARCHIVE_OK) {
		int r;

		if (++count > BERTH_ARCHIVE_DEFAULT_MAX_XATTRS ||
		    (total += size + strlen(xname)) > BERTH_ARCHIVE_DEFAULT_MAX_XATTR_BYTES)
			return fail_unsafe(ap, "too many or too large xattrs");
		if (!berth_archive_xattr_allowed(xname)) {
			berth_log_debug("entry '%s': dropping xattr %s", ap->entry, xname);
			continue;
		}
		if (STREQ(xname, "system.posix_acl_default"))
			ap->always_chmod = true;
		if (fd >= 0)
			r = fsetxattr(fd, xname, value, size, 0);
		else
			r = lsetxattr(procpath, xname, value, size, 0);
		if (r < 0) {
			if (errno == ENOTSUP || errno == EOPNOTSUPP ||
			    (errno == EPERM && (!ap->root || !strncmp(xname, "user.", 5)))) {
				/* best effort: fs without xattrs, user.* on a symlink/device,
				 * trusted.* without CAP_SYS_ADMIN */
				berth_log_debug("entry '%s': xattr %s not set: %s", ap->entry,
						xname, strerror(errno));
				continue;
			}
			if (errno == E2BIG || errno == ERANGE)
				return fail_unsafe(ap, "xattr too large");
			return fail_io(ap, errno, "setxattr");
		}
	}
	return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[1].tv_sec = archive_entry_mtime(e);
	ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	if (archive_entry_atime_is_set(e)) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = archive_entry_atime_nsec(e);
	} else {
		ts[0] = ts[1];
	}
	if (ts[1].tv_nsec < 0 || ts[1].tv_nsec > 999999999)
		ts[1].tv_nsec = 0;
	if (ts[0].tv_nsec < 0 || ts[0].tv_nsec > 999999999)
		ts[0].tv_nsec = 0;
}

/* ---- writing entries ---- */

static int written_add(struct applier *ap, const char *path)
{
	if (ap->o.whiteout != BERTH_ARCHIVE_WHITEOUT_DELETE)
		return 0;
	if (berth_strset_add(&ap->written, path, strlen(path)) < 0)
		return fail_io(ap, ENOMEM, "record");
	return 0;
}

/* Make room for a new entry at pfd/leaf: anything there goes, unless both are directories
 * (then 1 is returned and the dir is reused). */
static int clear_existing(struct applier *ap, int pfd, const char *leaf, bool new_is_dir)
{
	struct stat st;
	int r;

	if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : fail_io(ap, errno, "stat existing");
	if (new_is_dir && S_ISDIR(st.st_mode))
		return 1;
	if (S_ISDIR(st.st_mode))
		cache_flush(ap);
	r = berth_rm_rf_at(pfd, leaf, ap->err);
	if (r < 0)
		return berth_error_prefix(ap->err, "entry '%s': replace", ap->entry);
	return 0;
}

static int write_data(struct applier *ap, int fd, int64_t size)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	int64_t end = 0;
	int r;

	for (;;) {
		r = archive_read_data_block(ap->a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return fail_decode(ap, "read data");
		if (len == 0)
			continue;
		ap->st.size += len;
		if (ap->st.size > ap->o.max_total_size)
			return fail_unsafe(ap, "total size limit exceeded");
		if (off == end) {
			/* the common case: sequential, so plain write() */
			while (len) {
				ssize_t n = write(fd, buf, len);
				if (n < 0) {
					if (errno == EINTR)
						continue;
					return fail_io(ap, errno, "write");
				}
				buf = (const char *)buf + n;
				len -= n;
				end += n;
			}
		} else {
			while (len) {
				ssize_t n = pwrite(fd, buf, len, off);
				if (n < 0) {
					if (errno == EINTR)
						continue;
					return fail_io(ap, errno, "write");
				}
				buf = (const char *)buf + n;
				len -= n;
				off += n;
			}
			end = off;
			if (lseek(fd, end, SEEK_SET) < 0)
				return fail_io(ap, errno, "seek");
		}
	}
	if (size > end && ftruncate(fd, size) < 0) /* trailing hole of a sparse file */
		return fail_io(ap, errno, "truncate");
	return 0;
}

static int apply_regular(struct applier *ap, struct archive_entry *e, int pfd, const char *leaf)
{
	mode_t mode = archive_entry_perm(e);
	mode_t cmode = mode & 0777;
	_cleanup_close_ int fd = -1;
	struct timespec ts[2];
	int r;

	for (int tries = 0;; tries++) {
		fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, cmode);
		if (fd >= 0)
			break;
		if (errno != EEXIST || tries > 0)
			return fail_io(ap, errno, "create");
		r = clear_existing(ap, pfd, leaf, false);
		if (r < 0)
			return r;
	}
	r = write_data(ap, fd, archive_entry_size(e));
	if (r < 0)
		return r;
	r = do_chown(ap, fd, NULL, archive_entry_uid(e), archive_entry_gid(e));
	if (r < 0)
		return r;
	r = do_xattrs(ap, e, fd, -1, NULL);
	if (r < 0)
		return r;
	/* chown cleared nothing we set (no special bits yet); chmod only if the umask or the
	 * special bits make the created mode differ */
	if ((ap->always_chmod || (mode & 07777) != (cmode & ~ap->umask)) &&
	    fchmod(fd, mode & 07777) < 0)
		return fail_io(ap, errno, "chmod");
	entry_times(e, ts);
	if (futimens(fd, ts) < 0)
		return fail_io(ap, errno, "set times");
	return 0;
}

static int apply_dir(struct applier *ap, struct archive_entry *e, const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *leaf = slash ? slash + 1 : path;
	struct deferred_dir *d;
	struct stat st;
	int pfd, fd, r;

	if (!*path) {
		fd = get_dir(ap, "", 0, false); /* the root itself */
	} else {
		pfd = get_dir(ap, path, slash ? (size_t)(slash - path) : 0, true);
		if (pfd < 0)
			return fail_dir(ap, pfd, "open parent");
		/* root writes into any mode; others need u+wx until finish_dirs() */
		mode_t cmode = (archive_entry_perm(e) & 0777) | (ap->root ? 0 : 0700);

		if (mkdirat(pfd, leaf, cmode) < 0) {
			if (errno != EEXIST)
				return fail_io(ap, errno, "mkdir");
			r = clear_existing(ap, pfd, leaf, true);
			if (r < 0)
				return r;
			if (r == 0 && mkdirat(pfd, leaf, cmode) < 0)
				return fail_io(ap, errno, "mkdir");
		}
		fd = get_dir(ap, path, strlen(path), false);
		if (fd < 0)
			return fail_dir(ap, fd, "open dir");
	}
	if (fstat(fd, &st) < 0)
		return fail_io(ap, errno, "stat dir");
	r = do_chown(ap, fd, NULL, archive_entry_uid(e), archive_entry_gid(e));
	if (r < 0)
		return r;
	r = do_xattrs(ap, e, fd, -1, NULL);
	if (r < 0)
		return r;

	/* mode and times at the end: we still create entries inside, and that needs u+w for an
	 * unprivileged caller and would change the mtime */
	if (ap->ndirs == ap->capdirs) {
		size_t ncap = ap->capdirs ? ap->capdirs * 2 : 256;
		struct deferred_dir *nd = realloc(ap->dirs, ncap * sizeof(*nd));
		if (!nd)
			return fail_io(ap, ENOMEM, "record dir");
		ap->dirs = nd;
		ap->capdirs = ncap;
	}
	d = &ap->dirs[ap->ndirs];
	d->path = strdup(path);
	if (!d->path)
		return fail_io(ap, ENOMEM, "record dir");
	d->dev = st.st_dev;
	d->ino = st.st_ino;
	d->mode = archive_entry_perm(e) & 07777;
	entry_times(e, d->ts);
	ap->ndirs++;
	return 0;
}

static int apply_symlink(struct applier *ap, struct archive_entry *e, int pfd, const char *leaf)
{
	const char *target = archive_entry_symlink(e);
	struct timespec ts[2];
	int r;

	if (!target || !*target)
		return fail_unsafe(ap, "symlink without a target");
	if (strlen(target) >= PATH_MAX)
		return fail_unsafe(ap, "symlink target too long");
	if (berth_strset_add(&ap->symlinks, ap->path, strlen(ap->path)) < 0)
		return fail_io(ap, ENOMEM, "record symlink");
	for (int tries = 0;; tries++) {
		if (symlinkat(target, pfd, leaf) == 0)
			break;
		if (errno != EEXIST || tries > 0)
			return fail_io(ap, errno, "symlink");
		r = clear_existing(ap, pfd, leaf, false);
		if (r < 0)
			return r;
	}
	r = do_chown(ap, pfd, leaf, archive_entry_uid(e), archive_entry_gid(e));
	if (r < 0)
		return r;
	r = do_xattrs(ap, e, -1, pfd, leaf);
	if (r < 0)
		return r;
	entry_times(e, ts);
	if (utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return fail_io(ap, errno, "set times");
	return 0;
}

static int apply_node(struct applier *ap, struct archive_entry *e, int pfd, const char *leaf)
{
	mode_t type = archive_entry_filetype(e);
	mode_t mode = archive_entry_perm(e) & 07777;
	dev_t rdev = 0;
	struct timespec ts[2];
	int r;

	if (type == AE_IFCHR || type == AE_IFBLK) {
		rdev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
		if (ap->o.refuse_devices &&
		    !(type == AE_IFCHR && rdev == 0 &&
		      ap->o.whiteout == BERTH_ARCHIVE_WHITEOUT_OVERLAY))
			return fail_unsafe(ap, "device nodes are refused");
	}
	for (int tries = 0;; tries++) {
		if (mknodat(pfd, leaf, type | (mode & 0777), rdev) == 0)
			break;
		if (errno != EEXIST || tries > 0)
			return fail_io(ap, errno, "mknod");
		r = clear_existing(ap, pfd, leaf, false);
		if (r < 0)
			return r;
	}
	r = do_chown(ap, pfd, leaf, archive_entry_uid(e), archive_entry_gid(e));
	if (r < 0)
		return r;
	r = do_xattrs(ap, e, -1, pfd, leaf);
	if (r < 0)
		return r;
	if ((ap->always_chmod || mode != ((mode & 0777) & ~ap->umask)) &&
	    fchmodat(pfd, leaf, mode, AT_SYMLINK_NOFOLLOW) < 0)
		return fail_io(ap, errno, "chmod");
	entry_times(e, ts);
	if (utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return fail_io(ap, errno, "set times");
	return 0;
}

static int apply_hardlink(struct applier *ap, const char *target_raw, int pfd, const char *leaf)
{
	_cleanup_free_ char *target = strdup(target_raw);
	const char *slash, *tleaf;
	struct stat tst, st;
	int tpfd, r;

	if (!target)
		return fail_io(ap, ENOMEM, "hardlink");
	r = berth_archive_clean_path(target, ap->o.max_path);
	if (r == -EPERM)
		return fail_unsafe(ap, "hardlink target outside the root");
	if (r < 0)
		return fail_unsafe(ap, "hardlink target name too long");
	if (!*target)
		return fail_unsafe(ap, "hardlink to the root directory");
	slash = strrchr(target, '/');
	tleaf = slash ? slash + 1 : target;
	tpfd = get_dir(ap, target, slash ? (size_t)(slash - target) : 0, false);
	if (tpfd < 0) {
		if (tpfd == -ENOENT || tpfd == -ENOTDIR)
			return berth_error_set(ap->err, BERTH_ERR_DECODE, -tpfd,
					       "entry '%s': hardlink target '%s' not found",
					       ap->entry, target_raw);
		return fail_dir(ap, tpfd, "open hardlink target dir");
	}
	if (fstatat(tpfd, tleaf, &tst, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return berth_error_set(ap->err, BERTH_ERR_DECODE, ENOENT,
					       "entry '%s': hardlink target '%s' not found",
					       ap->entry, target_raw);
		return fail_io(ap, errno, "stat hardlink target");
	}
	if (S_ISDIR(tst.st_mode))
		return fail_unsafe(ap, "hardlink to a directory");
	for (int tries = 0;; tries++) {
		/* flags 0: a symlink target is linked itself, never followed */
		if (linkat(tpfd, tleaf, pfd, leaf, 0) == 0)
			break;
		if (errno != EEXIST || tries > 0)
			return fail_io(ap, errno, "link");
		if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == tst.st_dev &&
		    st.st_ino == tst.st_ino)
			break; /* already that file */
		r = clear_existing(ap, pfd, leaf, false);
		if (r < 0)
			return r;
	}
	return 0;
}

/* `.wh.NAME` / `.wh..wh..opq` in directory dir (length dlen of path). */
static int apply_whiteout(struct applier *ap, struct archive_entry *e, const char *path,
			  size_t dlen, const char *leaf)
{
	bool opaque = STREQ(leaf, ARCHIVE_WH_OPAQUE);
	const char *name = leaf + ARCHIVE_WH_PREFIX_LEN;
	bool create = ap->o.whiteout == BERTH_ARCHIVE_WHITEOUT_OVERLAY;
	int pfd, r;

	if (!opaque && !strncmp(leaf, ARCHIVE_WH_META_PREFIX, strlen(ARCHIVE_WH_META_PREFIX))) {
		/* aufs metadata (.wh..wh.plnk, .wh..wh.aufs): not content */
		return 0;
	}
	if (!opaque && (!*name || STREQ(name, ".") || STREQ(name, "..")))
		return fail_unsafe(ap, "whiteout of '.' or '..'");
	ap->st.whiteouts++;

	pfd = get_dir(ap, path, dlen, create);
	if (pfd == -ENOENT && !create)
		return 0; /* nothing below to delete */
	if (pfd < 0)
		return fail_dir(ap, pfd, "open whiteout dir");

	if (ap->o.whiteout == BERTH_ARCHIVE_WHITEOUT_OVERLAY) {
		if (opaque) {
			const char *x = ap->o.overlay_userxattr ? ARCHIVE_OVL_OPAQUE_USER
								: ARCHIVE_OVL_OPAQUE_TRUSTED;
			if (fsetxattr(pfd, x, "y", 1, 0) < 0)
				return fail_io(ap, errno, "set opaque xattr");
			return 0;
		}
		/* the .wh. entry carries the device's owner, mode and time (Docker's convention),
		 * so a diff of the result reproduces this tar */
		struct timespec ts[2];
		mode_t mode = archive_entry_perm(e) & 0777;

		for (int tries = 0;; tries++) {
			if (mknodat(pfd, name, S_IFCHR | mode, makedev(0, 0)) == 0)
				break;
			if (errno != EEXIST || tries > 0)
				return fail_io(ap, errno, "mknod whiteout");
			r = clear_existing(ap, pfd, name, false);
			if (r < 0)
				return r;
		}
		r = do_chown(ap, pfd, name, archive_entry_uid(e), archive_entry_gid(e));
		if (r < 0)
			return r;
		if ((ap->always_chmod || mode != (mode & ~ap->umask)) &&
		    fchmodat(pfd, name, mode, AT_SYMLINK_NOFOLLOW) < 0)
			return fail_io(ap, errno, "chmod whiteout");
		entry_times(e, ts);
		if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return fail_io(ap, errno, "set whiteout times");
		return 0;
	}

	/* DELETE */
	cache_flush(ap);
	pfd = get_dir(ap, path, dlen, false);
	if (pfd < 0)
		return pfd == -ENOENT ? 0 : fail_dir(ap, pfd, "open whiteout dir");
	if (!opaque) {
		r = berth_rm_rf_at(pfd, name, ap->err);
		if (r < 0)
			return berth_error_prefix(ap->err, "entry '%s'", ap->entry);
		return 0;
	}
	{
		char **names = NULL;
		size_t n = 0;
		char buf[PATH_MAX + NAME_MAX + 2];

		if (dlen > PATH_MAX)
			return fail_unsafe(ap, "name too long");
		r = berth_list_dir_at(pfd, &names, &n);
		if (r < 0)
			return fail_io(ap, -r, "list opaque dir");
		for (size_t i = 0; i < n && r >= 0; i++) {
			size_t l = 0;
			if (dlen) {
				memcpy(buf, path, dlen);
				buf[dlen] = '/';
				l = dlen + 1;
			}
			strcpy(buf + l, names[i]);
			if (berth_strset_has(&ap->written, buf, strlen(buf)))
				continue;
			r = berth_rm_rf_at(pfd, names[i], ap->err);
		}
		berth_names_free(names, n);
		if (r < 0)
			return berth_error_prefix(ap->err, "entry '%s'", ap->entry);
	}
	return 0;
}

static int apply_entry(struct applier *ap, struct archive_entry *e, char *path)
{
	const char *hardlink = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	char *slash;
	const char *leaf;
	size_t dlen;
	int pfd, r;

	r = berth_archive_clean_path(path, ap->o.max_path);
	if (r == -EPERM)
		return fail_unsafe(ap, "absolute name or '..' component");
	if (r < 0)
		return fail_unsafe(ap, "name too long");
	ap->path = path;
	/* (uid_t)-1 would tell chown "leave as is": the file would stay ours (root's) */
	if (archive_entry_uid(e) < 0 || archive_entry_uid(e) >= (la_int64_t)UINT32_MAX ||
	    archive_entry_gid(e) < 0 || archive_entry_gid(e) >= (la_int64_t)UINT32_MAX)
		return berth_error_set(ap->err, BERTH_ERR_DECODE, EINVAL,
				       "entry '%s': invalid uid/gid", ap->entry);

	if (!*path) {
		if (type != AE_IFDIR || hardlink)
			return fail_unsafe(ap, "the root must be a directory");
		return apply_dir(ap, e, path);
	}
	slash = strrchr(path, '/');
	leaf = slash ? slash + 1 : path;
	dlen = slash ? (size_t)(slash - path) : 0;
	if (strlen(leaf) > NAME_MAX)
		return fail_unsafe(ap, "name component too long");

	if (ap->o.whiteout != BERTH_ARCHIVE_WHITEOUT_KEEP &&
	    !strncmp(leaf, ARCHIVE_WH_PREFIX, ARCHIVE_WH_PREFIX_LEN))
		return apply_whiteout(ap, e, path, dlen, leaf);

	r = written_add(ap, path);
	if (r < 0)
		return r;
	if (!hardlink && type == AE_IFDIR)
		return apply_dir(ap, e, path);

	pfd = get_dir(ap, path, dlen, true);
	if (pfd < 0)
		return fail_dir(ap, pfd, "open parent");
	if (hardlink)
		return apply_hardlink(ap, hardlink, pfd, leaf);
	switch (type) {
	case AE_IFREG:
		return apply_regular(ap, e, pfd, leaf);
	case AE_IFLNK:
		return apply_symlink(ap, e, pfd, leaf);
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		return apply_node(ap, e, pfd, leaf);
	default:
		return berth_error_set(ap->err, BERTH_ERR_DECODE, EINVAL,
				       "entry '%s': unsupported type 0%o", ap->entry, type);
	}
}

/* Nothing is created any more, so the cached fds are still right and make this cheap. */
static int finish_dirs(struct applier *ap)
{
	for (size_t i = 0; i < ap->ndirs; i++) {
		struct deferred_dir *d = &ap->dirs[i];
		struct stat st;
		int fd;

		ap->entry = d->path;
		grave_close(ap);
		fd = get_dir(ap, d->path, strlen(d->path), false);
		if (fd < 0)
			continue; /* replaced or removed by a later entry */
		if (fstat(fd, &st) < 0)
			return fail_io(ap, errno, "stat dir");
		if (st.st_dev != d->dev || st.st_ino != d->ino)
			continue;
		if ((st.st_mode & 07777) != d->mode && fchmod(fd, d->mode) < 0)
			return fail_io(ap, errno, "chmod dir");
		if (futimens(fd, d->ts) < 0)
			return fail_io(ap, errno, "set dir times");
	}
	return 0;
}

/*
 * Reading a tar that is a regular file: hand libarchive windows of an mmap instead of read()
 * copies.  Uncompressed entries' data then goes from the page cache straight to write(),
 * one copy instead of two.  libarchive uses a block only until it asks for the next one.
 */
#define MAP_WINDOW (8U << 20)

struct mapped_src {
	int fd;
	off_t pos, end;
	void *map;
	size_t maplen;
};

static la_ssize_t mapped_read(struct archive *a, void *ctx, const void **buf)
{
	struct mapped_src *m = ctx;
	size_t len;

	if (m->map) {
		munmap(m->map, m->maplen);
		m->map = NULL;
	}
	if (m->pos >= m->end)
		return 0;
	len = m->end - m->pos < (off_t)MAP_WINDOW ? (size_t)(m->end - m->pos) : MAP_WINDOW;
	m->map = mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_POPULATE, m->fd, m->pos);
	if (m->map == MAP_FAILED) {
		m->map = NULL;
		archive_set_error(a, errno, "mmap: %s", strerror(errno));
		return -1;
	}
	m->maplen = len;
	m->pos += len;
	*buf = m->map;
	return len;
}

static la_int64_t mapped_skip(struct archive *a, void *ctx, la_int64_t request)
{
	struct mapped_src *m = ctx;
	off_t n = m->end - m->pos < request ? m->end - m->pos : request;

	n &= ~(off_t)(sysconf(_SC_PAGESIZE) - 1); /* windows stay page aligned */
	m->pos += n;
	return n;
}

static int mapped_close(struct archive *a, void *ctx)
{
	struct mapped_src *m = ctx;

	if (m->map)
		munmap(m->map, m->maplen);
	m->map = NULL;
	/* leave the fd where a read() would have left it */
	lseek(m->fd, m->pos, SEEK_SET);
	return ARCHIVE_OK;
}

static mode_t read_umask(void)
{
	char line[128];
	FILE *f = fopen("/proc/self/status", "re");
	mode_t m;

	if (f) {
		while (fgets(line, sizeof(line), f)) {
			unsigned v;
			if (sscanf(line, "Umask: %o", &v) == 1) {
				fclose(f);
				return v;
			}
		}
		fclose(f);
	}
	m = umask(022);
	umask(m);
	return m;
}

static void applier_free(struct applier *ap)
{
	cache_flush(ap);
	grave_close(ap);
	free(ap->grave);
	for (size_t i = 0; i < ap->ndirs; i++)
		free(ap->dirs[i].path);
	free(ap->dirs);
	berth_strset_clear(&ap->written);
	berth_strset_clear(&ap->symlinks);
	if (ap->a)
		archive_read_free(ap->a);
}

int berth_archive_apply(int rootfd, int tarfd, const struct berth_archive_apply_opts *opts,
			struct berth_archive_apply_stats *ret_stats, berth_error *err)
{
	struct applier ap = { .rootfd = rootfd, .err = err };
	struct mapped_src msrc = { .fd = -1 };
	_cleanup_(berth_archive_locale_restore) locale_t loc = berth_archive_locale_utf8();
	struct archive_entry *e;
	_cleanup_free_ char *path = NULL;
	size_t pathcap;
	int r = 0;

	/* our own O_RDONLY fd of the root: callers may hand an O_PATH fd, which fchown() and
	 * fsetxattr() (root entry, opaque root) refuse */
	_cleanup_close_ int ownroot = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (ownroot < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open the layer root");
	ap.rootfd = ownroot;
	if (opts)
		ap.o = *opts;
	if (!ap.o.max_entries)
		ap.o.max_entries = BERTH_ARCHIVE_DEFAULT_MAX_ENTRIES;
	if (!ap.o.max_total_size)
		ap.o.max_total_size = BERTH_ARCHIVE_DEFAULT_MAX_TOTAL;
	if (!ap.o.max_path)
		ap.o.max_path = BERTH_ARCHIVE_DEFAULT_MAX_PATH;
	ap.umask = read_umask();
	ap.root = geteuid() == 0;
	/* directories that were there before (a snapshot of the parent, or a root that inherited
	 * a default ACL) may carry default ACLs we did not see being set */
	ap.always_chmod = ap.o.whiteout == BERTH_ARCHIVE_WHITEOUT_DELETE ||
			  fgetxattr(ownroot, "system.posix_acl_default", NULL, 0) >= 0;

	ap.a = archive_read_new();
	if (!ap.a)
		return berth_error_set(err, BERTH_ERR_IO, ENOMEM, "out of memory");
	pathcap = (size_t)ap.o.max_path + 1;
	path = malloc(pathcap);
	if (!path) {
		r = berth_error_set(err, BERTH_ERR_IO, ENOMEM, "out of memory");
		goto out;
	}
	/* in-process decompressors only: never exec an external program (CVE-2014-9357) */
	archive_read_support_filter_gzip(ap.a);
	archive_read_support_filter_zstd(ap.a);
	archive_read_support_filter_xz(ap.a);
	archive_read_support_filter_bzip2(ap.a);
	archive_read_support_format_tar(ap.a);
	{
		struct stat st;
		off_t pos = lseek(tarfd, 0, SEEK_CUR);
		long page = sysconf(_SC_PAGESIZE);

		if (fstat(tarfd, &st) == 0 && S_ISREG(st.st_mode) && pos >= 0 &&
		    pos % page == 0 && st.st_size > pos) {
			msrc = (struct mapped_src){ .fd = tarfd, .pos = pos, .end = st.st_size };
			r = archive_read_open2(ap.a, &msrc, NULL, mapped_read, mapped_skip,
					       mapped_close);
		} else {
			r = archive_read_open_fd(ap.a, tarfd, READ_BLOCK);
		}
		if (r != ARCHIVE_OK) {
			r = fail_decode(&ap, "open tar stream");
			goto out;
		}
	}

	for (;;) {
		const char *name;
		size_t len;

		ap.entry = NULL;
		if (ap.ngrave)
			grave_close(&ap);
		r = archive_read_next_header(ap.a, &e);
		if (r == ARCHIVE_EOF) {
			r = 0;
			break;
		}
		if (r < ARCHIVE_WARN) {
			r = fail_decode(&ap, "read header");
			goto out;
		}
		name = archive_entry_pathname(e);
		if (!name) {
			r = berth_error_set(err, BERTH_ERR_DECODE, EBADMSG,
					    "entry without a name");
			goto out;
		}
		ap.entry = name;
		if (++ap.st.entries > ap.o.max_entries) {
			r = fail_unsafe(&ap, "entry count limit exceeded");
			goto out;
		}
		len = strlen(name);
		if (len >= pathcap) {
			r = fail_unsafe(&ap, "name too long");
			goto out;
		}
		memcpy(path, name, len + 1);
		r = apply_entry(&ap, e, path);
		if (r < 0)
			goto out;
		BERTH_FAULT_POINT("archive-apply-entry"); /* #N: killed after N entries */
	}
	ap.entry = NULL;
	BERTH_FAULT_POINT("archive-apply-before-dirs"); /* directory times/modes not yet final */
	r = finish_dirs(&ap);
	if (r < 0)
		goto out;
	if (ap.o.sync && syncfs(rootfd) < 0) {
		r = berth_error_errno(err, io_code(errno), "syncfs");
		goto out;
	}
	if (ret_stats)
		*ret_stats = ap.st;
out:
	applier_free(&ap);
	return r;
}

int berth_archive_apply_path(const char *root, const char *tar,
			     const struct berth_archive_apply_opts *opts,
			     struct berth_archive_apply_stats *ret_stats, berth_error *err)
{
	_cleanup_close_ int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int tarfd = -1;

	if (rootfd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", root);
	tarfd = open(tar, O_RDONLY | O_CLOEXEC);
	if (tarfd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", tar);
	return berth_archive_apply(rootfd, tarfd, opts, ret_stats, err);
}
