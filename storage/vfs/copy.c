/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A faithful copy of a layer tree, the vfs driver's CREATE: every entry with its owner, mode
 * (setuid/setgid/sticky), xattrs (file capabilities, ACLs, trusted.*), times, hardlinks (by
 * inode), symlinks, devices, FIFOs and sockets; sparse files keep their holes.  File data is
 * reflinked (FICLONE: btrfs, XFS with reflink=1, bcachefs) where the filesystem can share
 * extents, else copied.
 *
 * Everything is reached from directory fds opened with O_NOFOLLOW: a symlink in a layer is
 * copied as a symlink and never followed, whatever a container put there.  Per entry the order
 * is the archive writer's: create without special bits, chown, xattrs (chown clears
 * security.capability), then the mode, then times; a directory's own metadata is set after its
 * entries, so that neither its mode nor a default ACL shapes what is created inside.
 *
 * Regular files (but hardlinked ones, whose first copy must exist before the next link) are
 * copied by a few threads while one walks the tree: a file costs a handful of syscalls whose
 * work is all in the filesystem (create, FICLONE, owner, xattrs, times), and those run in
 * parallel.  The walker creates directories, links and special files itself, and sets a
 * directory's own metadata once every file queued in it is done.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <linux/fs.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/file.h"
#include "berth/storage-proto.h"
#include "vfs-internal.h"

#define COPY_BUF (1 << 20)
#define MAX_DEPTH 4096
#define QUEUE_LEN 256

struct hl_ent {
	dev_t dev;
	ino_t ino;
	char *path; /* relative to the destination root */
};

struct pool;

/* One per thread: the walker's, and a copy for each worker (its own buffer, error, counts). */
struct copier {
	const struct vfs_copy_opts *o;
	struct vfs_copy_stats *st;
	berth_error *err;
	struct pool *pool;
	int dst_root;
	char *buf;
	struct hl_ent *hl; /* open addressing on ino (the walker's only) */
	size_t hl_cap, hl_n;
	uid_t uid; /* who we create files as */
	gid_t gid;
};

/* The files of one directory still queued or being copied: the walker keeps the directory's
 * fds open, and its metadata unset, until none is left. */
struct dirwait {
	unsigned pending;
};

struct job {
	int sdir, ddir; /* borrowed from the walker (see dirwait) */
	struct dirwait *dw;
	struct stat st;
	char name[NAME_MAX + 1];
	char path[PATH_MAX];
};

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t more, done; /* a job queued, a directory's last job finished */
	struct job *q;
	size_t head, n;
	berth_error *err; /* the caller's */
	bool stop;  /* the walk is over: workers exit once the queue is empty */
	int failed; /* the first error (-errno), in the walker's err; queued jobs are dropped */
	/* auto: the first refusal of FICLONE (or copy_file_range) means the next way for good */
	atomic_bool reflink_failed, cfr_failed;
	pthread_t threads[VFS_MAX_THREADS];
	int nthreads;
};

static int fail(struct copier *c, int errnum, const char *path, const char *what)
{
	return berth_error_set(c->err, berth_stor_errno_code(errnum), errnum, "copy %s: %s: %s",
			       *path ? path : "/", what, strerror(errnum));
}

static size_t hl_slot(const struct copier *c, dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)dev;

	return (size_t)(h ^ (h >> 29)) & (c->hl_cap - 1);
}

static const char *hl_find(struct copier *c, dev_t dev, ino_t ino)
{
	if (!c->hl_cap)
		return NULL;
	for (size_t i = hl_slot(c, dev, ino); c->hl[i].path; i = (i + 1) & (c->hl_cap - 1))
		if (c->hl[i].ino == ino && c->hl[i].dev == dev)
			return c->hl[i].path;
	return NULL;
}

static int hl_add(struct copier *c, dev_t dev, ino_t ino, const char *path)
{
	size_t i;

	if ((c->hl_n + 1) * 2 > c->hl_cap) {
		size_t ncap = c->hl_cap ? c->hl_cap * 2 : 64;
		struct hl_ent *nv = calloc(ncap, sizeof(*nv));
		struct hl_ent *old = c->hl;
		size_t ocap = c->hl_cap;

		if (!nv)
			return -ENOMEM;
		c->hl = nv;
		c->hl_cap = ncap;
		for (size_t k = 0; k < ocap; k++)
			if (old[k].path) {
				size_t j = hl_slot(c, old[k].dev, old[k].ino);
				while (c->hl[j].path)
					j = (j + 1) & (ncap - 1);
				c->hl[j] = old[k];
			}
		free(old);
	}
	for (i = hl_slot(c, dev, ino); c->hl[i].path; i = (i + 1) & (c->hl_cap - 1))
		;
	c->hl[i].path = strdup(path);
	if (!c->hl[i].path)
		return -ENOMEM;
	c->hl[i].dev = dev;
	c->hl[i].ino = ino;
	c->hl_n++;
	return 0;
}

/* xattrs of src (dirfd/name, or fd when >= 0) onto dst, by /proc/self/fd paths where an fd
 * cannot be had (symlinks, devices).  A namespace the destination refuses (ENOTSUP) is
 * skipped: the archive writer does the same. */
static int copy_xattrs(struct copier *c, int sfd, int sdir, int ddir, const char *name,
		       const char *path, int dfd)
{
	char spath[64 + NAME_MAX], dpath[64 + NAME_MAX];
	_cleanup_free_ char *names = NULL;
	ssize_t n;

	snprintf(spath, sizeof(spath), "/proc/self/fd/%d/%s", sdir, name);
	snprintf(dpath, sizeof(dpath), "/proc/self/fd/%d/%s", ddir, name);
	n = sfd >= 0 ? flistxattr(sfd, NULL, 0) : llistxattr(spath, NULL, 0);
	if (n < 0)
		return errno == ENOTSUP ? 0 : fail(c, errno, path, "list xattrs");
	if (n == 0)
		return 0;
	names = malloc((size_t)n + 1);
	if (!names)
		return fail(c, ENOMEM, path, "xattrs");
	n = sfd >= 0 ? flistxattr(sfd, names, (size_t)n) : llistxattr(spath, names, (size_t)n);
	if (n < 0)
		return fail(c, errno, path, "list xattrs");
	for (ssize_t off = 0; off < n; off += (ssize_t)strlen(names + off) + 1) {
		const char *key = names + off;
		_cleanup_free_ char *val = NULL;
		ssize_t vl;
		int r;

		vl = sfd >= 0 ? fgetxattr(sfd, key, NULL, 0) : lgetxattr(spath, key, NULL, 0);
		if (vl < 0)
			return fail(c, errno, path, key);
		val = malloc((size_t)vl + 1);
		if (!val)
			return fail(c, ENOMEM, path, key);
		vl = sfd >= 0 ? fgetxattr(sfd, key, val, (size_t)vl)
			      : lgetxattr(spath, key, val, (size_t)vl);
		if (vl < 0)
			return fail(c, errno, path, key);
		r = dfd >= 0 ? fsetxattr(dfd, key, val, (size_t)vl, 0)
			     : lsetxattr(dpath, key, val, (size_t)vl, 0);
		if (r < 0 && errno != ENOTSUP)
			return fail(c, errno, path, key);
	}
	return 0;
}

static int set_owner(struct copier *c, int ddir, const char *name, int dfd, const struct stat *st,
		     const char *path)
{
	int r;

	/* what we create is ours already (directories get their setgid bit only at the end) */
	if (st->st_uid == c->uid && st->st_gid == c->gid)
		return 0;
	r = dfd >= 0 ? fchown(dfd, st->st_uid, st->st_gid)
		     : fchownat(ddir, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW);

	if (r < 0 && !(c->o->ignore_chown_errors && (errno == EPERM || errno == EINVAL)))
		return fail(c, errno, path, "chown");
	return 0;
}

static int set_times(struct copier *c, int ddir, const char *name, const struct stat *st,
		     const char *path)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	if (utimensat(ddir, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(c, errno, path, "set times");
	return 0;
}

/* Bytes [pos, end) of sfd to the same offsets of dfd: copy_file_range in auto mode (the kernel
 * copies, no round trip through our buffer), read and write otherwise ("never" promises
 * copies that share nothing, and copy_file_range may share extents on btrfs and XFS) or
 * where copy_file_range is refused. */
static int copy_range(struct copier *c, int sfd, int dfd, off_t pos, off_t end, const char *path)
{
	struct pool *p = c->pool;

	while (pos < end && c->o->reflink == VFS_REFLINK_AUTO && !atomic_load(&p->cfr_failed)) {
		loff_t in = pos, out = pos;
		ssize_t n = copy_file_range(sfd, &in, dfd, &out, (size_t)(end - pos), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
			      errno == EOPNOTSUPP || errno == EBADF)) {
			atomic_store(&p->cfr_failed, true);
			break;
		}
		if (n < 0)
			return fail(c, errno, path, "copy_file_range");
		if (n == 0)
			return 0; /* the file shrank under us */
		pos += n;
		c->st->bytes_copied += (uint64_t)n;
	}
	if (pos < end && !c->buf && !(c->buf = malloc(COPY_BUF)))
		return fail(c, ENOMEM, path, "copy buffer");
	while (pos < end) {
		size_t want = (size_t)(end - pos) < COPY_BUF ? (size_t)(end - pos) : COPY_BUF;
		ssize_t n = pread(sfd, c->buf, want, pos);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail(c, errno, path, "read");
		}
		if (n == 0)
			break; /* the file shrank under us */
		for (ssize_t done = 0; done < n;) {
			/* a short write is followed by the call that says why (ENOSPC) */
			ssize_t w = pwrite(dfd, c->buf + done, (size_t)(n - done), pos + done);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return fail(c, w < 0 ? errno : EIO, path, "write");
			done += w;
		}
		pos += n;
		c->st->bytes_copied += (uint64_t)n;
	}
	return 0;
}

/* Data, holes kept: in a file with fewer blocks than bytes, only the ranges SEEK_DATA finds are
 * copied; a file without holes is copied in one go (no lseek, no truncate). */
static int copy_data(struct copier *c, int sfd, int dfd, const struct stat *st, const char *path)
{
	off_t pos = 0, size = st->st_size;
	int r;

	if ((off_t)st->st_blocks * 512 >= size)
		return copy_range(c, sfd, dfd, 0, size, path);
	while (pos < size) {
		off_t data = lseek(sfd, pos, SEEK_DATA), hole;

		if (data < 0) {
			if (errno == ENXIO) /* only a hole from here */
				break;
			if (errno != EINVAL) /* EINVAL: no SEEK_DATA, copy it all */
				return fail(c, errno, path, "seek");
			data = pos;
			hole = size;
		} else {
			hole = lseek(sfd, data, SEEK_HOLE);
			if (hole < 0)
				hole = size;
		}
		if ((r = copy_range(c, sfd, dfd, data, hole, path)) < 0)
			return r;
		pos = hole;
	}
	if (ftruncate(dfd, size) < 0)
		return fail(c, errno, path, "truncate");
	return 0;
}

static int copy_file(struct copier *c, int sdir, int ddir, const char *name, const struct stat *st,
		     const char *path)
{
	_cleanup_close_ int sfd = -1, dfd = -1;
	int r;

	/* without setuid/setgid/sticky, the mode can be the final one from the start (umask 0): a
	 * chown clears only those bits, and a copy owned by us needs no chown at all */
	bool special = st->st_mode & (S_ISUID | S_ISGID | S_ISVTX);

	sfd = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (sfd < 0)
		return fail(c, errno, path, "open");
	dfd = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		     special ? 0600 : st->st_mode & 0777);
	if (dfd < 0)
		return fail(c, errno, path, "create");
	if (st->st_size > 0) {
		bool cloned = false;

		if (c->o->reflink != VFS_REFLINK_NEVER && !atomic_load(&c->pool->reflink_failed)) {
			if (ioctl(dfd, FICLONE, sfd) == 0) {
				cloned = true;
				c->st->bytes_reflinked += (uint64_t)st->st_size;
			} else if (c->o->reflink == VFS_REFLINK_ALWAYS ||
				   (errno != EOPNOTSUPP && errno != ENOTTY && errno != EXDEV &&
				    errno != EINVAL)) {
				return fail(c, errno, path, "reflink (FICLONE)");
			} else {
				atomic_store(&c->pool->reflink_failed, true);
			}
		}
		if (!cloned && (r = copy_data(c, sfd, dfd, st, path)) < 0)
			return r;
	}
	if ((r = set_owner(c, ddir, name, dfd, st, path)) < 0 ||
	    (r = copy_xattrs(c, sfd, sdir, ddir, name, path, dfd)) < 0)
		return r;
	if (special && fchmod(dfd, st->st_mode & 07777) < 0)
		return fail(c, errno, path, "chmod");
	c->st->files++;
	{
		struct timespec ts[2] = { st->st_atim, st->st_mtim };

		if (futimens(dfd, ts) < 0)
			return fail(c, errno, path, "set times");
	}
	return 0;
}

/* Symlinks, devices, FIFOs, sockets. */
static int copy_special(struct copier *c, int sdir, int ddir, const char *name,
			const struct stat *st, const char *path)
{
	int r;

	if (S_ISLNK(st->st_mode)) {
		char target[PATH_MAX + 1];
		ssize_t n = readlinkat(sdir, name, target, sizeof(target) - 1);

		if (n < 0)
			return fail(c, errno, path, "readlink");
		target[n] = '\0';
		if (symlinkat(target, ddir, name) < 0)
			return fail(c, errno, path, "symlink");
	} else if (mknodat(ddir, name, (st->st_mode & S_IFMT) | 0600, st->st_rdev) < 0) {
		return fail(c, errno, path, "mknod");
	}
	if ((r = set_owner(c, ddir, name, -1, st, path)) < 0 ||
	    (r = copy_xattrs(c, -1, sdir, ddir, name, path, -1)) < 0)
		return r;
	/* a symlink has no mode of its own; the rest are not followed by fchmodat */
	if (!S_ISLNK(st->st_mode) && fchmodat(ddir, name, st->st_mode & 07777, 0) < 0)
		return fail(c, errno, path, "chmod");
	return set_times(c, ddir, name, st, path);
}

/* ---- the file copies in parallel ---- */

/* The first error wins: its code, and its message in the caller's err.  p->mu held. */
static void pool_fail_locked(struct copier *c, int r)
{
	struct pool *p = c->pool;

	if (!p->failed) {
		p->failed = r;
		*p->err = *c->err;
	}
}

static void pool_fail(struct copier *c, int r)
{
	pthread_mutex_lock(&c->pool->mu);
	pool_fail_locked(c, r);
	pthread_mutex_unlock(&c->pool->mu);
}

/* After every entry copied (crash injection), one thread at a time.  p->mu held. */
static void entry_done_locked(struct copier *c)
{
	if (c->o->fault)
		c->o->fault(c->o->fault_ctx, "copy-entry");
}

static void take_job(struct pool *p, struct job *ret)
{
	*ret = p->q[p->head];
	p->head = (p->head + 1) % QUEUE_LEN;
	p->n--;
}

/* Copy the file of a job (dropped once something failed).  p->mu held on entry and exit. */
static void run_job(struct copier *c, struct job *j)
{
	struct pool *p = c->pool;

	if (!p->failed) {
		int r;

		pthread_mutex_unlock(&p->mu);
		r = copy_file(c, j->sdir, j->ddir, j->name, &j->st, j->path);
		pthread_mutex_lock(&p->mu);
		if (r < 0)
			pool_fail_locked(c, r);
		else
			entry_done_locked(c);
	}
	if (--j->dw->pending == 0)
		pthread_cond_broadcast(&p->done);
}

static void *worker(void *arg)
{
	struct copier *c = arg;
	struct pool *p = c->pool;
	struct job j;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->n && !p->stop)
			pthread_cond_wait(&p->more, &p->mu);
		if (!p->n)
			break;
		take_job(p, &j);
		run_job(c, &j);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Queue a file of the directory being walked; with the queue full, the walker copies one. */
static int enqueue(struct copier *c, int sdir, int ddir, struct dirwait *dw, const char *name,
		   const struct stat *st, const char *path)
{
	struct pool *p = c->pool;
	struct job *slot, j;
	int r;

	pthread_mutex_lock(&p->mu);
	while (p->n == QUEUE_LEN && !p->failed) {
		take_job(p, &j);
		run_job(c, &j);
	}
	r = p->failed;
	if (!r) {
		slot = &p->q[(p->head + p->n) % QUEUE_LEN];
		slot->sdir = sdir;
		slot->ddir = ddir;
		slot->dw = dw;
		slot->st = *st;
		snprintf(slot->name, sizeof(slot->name), "%s", name);
		snprintf(slot->path, sizeof(slot->path), "%s", path);
		p->n++;
		dw->pending++;
		pthread_cond_signal(&p->more);
	}
	pthread_mutex_unlock(&p->mu);
	return r;
}

/* Until every file queued in the directory is done, the walker copies queued files too. */
static int wait_dir(struct copier *c, struct dirwait *dw)
{
	struct pool *p = c->pool;
	struct job j;
	int r;

	pthread_mutex_lock(&p->mu);
	while (dw->pending) {
		if (p->n) {
			take_job(p, &j);
			run_job(c, &j);
		} else {
			pthread_cond_wait(&p->done, &p->mu);
		}
	}
	r = p->failed;
	pthread_mutex_unlock(&p->mu);
	return r;
}

static void pool_start(struct copier *c, struct copier *workers, struct vfs_copy_stats *st,
		       berth_error *err, int want)
{
	struct pool *p = c->pool;

	for (int i = 0; i < want; i++) {
		workers[i] = *c;
		workers[i].st = &st[i];
		workers[i].err = &err[i];
		workers[i].buf = NULL;
		workers[i].hl = NULL;
		workers[i].hl_cap = workers[i].hl_n = 0;
		if (pthread_create(&p->threads[i], NULL, worker, &workers[i]) != 0)
			break; /* fewer threads, the walker copies the rest */
		p->nthreads++;
	}
}

static void pool_stop(struct pool *p, struct copier *workers, struct vfs_copy_stats *st)
{
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->more);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++) {
		pthread_join(p->threads[i], NULL);
		st->files += workers[i].st->files;
		st->bytes_copied += workers[i].st->bytes_copied;
		st->bytes_reflinked += workers[i].st->bytes_reflinked;
		free(workers[i].buf);
	}
}

static int copy_dir(struct copier *c, int sdir, int ddir, const char *prefix, int depth);

static int copy_entry(struct copier *c, int sdir, int ddir, struct dirwait *dw, const char *name,
		      const char *prefix, int depth)
{
	char path[PATH_MAX];
	struct stat st;
	int r;

	if ((size_t)snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "/" : "", name) >=
	    sizeof(path))
		return fail(c, ENAMETOOLONG, prefix, "path");
	if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(c, errno, path, "stat");
	c->st->entries++;
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
		const char *first = hl_find(c, st.st_dev, st.st_ino);

		if (first) {
			if (linkat(c->dst_root, first, ddir, name, 0) < 0)
				return fail(c, errno, path, "link");
			c->st->hardlinks++;
			return 0;
		}
		if (hl_add(c, st.st_dev, st.st_ino, path) < 0)
			return fail(c, ENOMEM, path, "hardlink map");
	}
	/* the first of hardlinked files is copied at once, for the links that follow */
	if (S_ISREG(st.st_mode) && st.st_nlink <= 1 && c->pool->nthreads)
		return enqueue(c, sdir, ddir, dw, name, &st, path);
	if (S_ISREG(st.st_mode))
		r = copy_file(c, sdir, ddir, name, &st, path);
	else if (S_ISDIR(st.st_mode)) {
		_cleanup_close_ int sfd = -1, dfd = -1;

		if (depth >= MAX_DEPTH)
			return fail(c, ELOOP, path, "too deep");
		if (mkdirat(ddir, name, 0700) < 0)
			return fail(c, errno, path, "mkdir");
		sfd = openat(sdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		dfd = openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0 || dfd < 0)
			return fail(c, errno, path, "open directory");
		r = copy_dir(c, sfd, dfd, path, depth + 1);
		if (r >= 0 && (r = set_owner(c, ddir, name, dfd, &st, path)) >= 0 &&
		    (r = copy_xattrs(c, sfd, sdir, ddir, name, path, dfd)) >= 0) {
			if (fchmod(dfd, st.st_mode & 07777) < 0)
				r = fail(c, errno, path, "chmod");
			else
				r = set_times(c, ddir, name, &st, path);
		}
	} else {
		r = copy_special(c, sdir, ddir, name, &st, path);
	}
	if (r >= 0) {
		pthread_mutex_lock(&c->pool->mu);
		entry_done_locked(c);
		pthread_mutex_unlock(&c->pool->mu);
	}
	return r;
}

static int copy_dir(struct copier *c, int sdir, int ddir, const char *prefix, int depth)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirwait dw = { 0 };
	struct dirent *de;
	int fd, r = 0, w;

	fd = dup(sdir);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return fail(c, errno, prefix, "opendir");
	}
	while (r >= 0) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				r = fail(c, errno, prefix, "readdir");
			break;
		}
		if (STREQ(de->d_name, ".") || STREQ(de->d_name, ".."))
			continue;
		r = copy_entry(c, sdir, ddir, &dw, de->d_name, prefix, depth);
	}
	if (r < 0)
		pool_fail(c, r);
	/* the fds of this directory stay open until its last file is done */
	w = wait_dir(c, &dw);
	return r < 0 ? r : w;
}

int vfs_copy_tree(int src, int dst, const struct vfs_copy_opts *o, struct vfs_copy_stats *st,
		  berth_error *err)
{
	struct pool p = { .mu = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER,
			  .done = PTHREAD_COND_INITIALIZER, .err = err };
	berth_error werr = { 0 };
	struct copier c = { .o = o, .st = st, .err = &werr, .pool = &p, .dst_root = dst,
			    .uid = geteuid(), .gid = getegid() };
	struct copier workers[VFS_MAX_THREADS];
	struct vfs_copy_stats wst[VFS_MAX_THREADS];
	berth_error wer[VFS_MAX_THREADS];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	/* threads beside the walker (which copies too, while it waits for a directory's files):
	 * by default as many copying threads as CPUs, the walker included (more measured no
	 * better on 2 CPUs: the work is in the filesystem, under its locks) */
	int total = o->threads ? o->threads : (int)(ncpu < 1 ? 1 : ncpu);
	int nthreads = (total > VFS_MAX_THREADS ? VFS_MAX_THREADS : total) - 1;
	struct stat rst;
	mode_t old_umask;
	int r;

	memset(st, 0, sizeof(*st));
	memset(wst, 0, sizeof(wst));
	if (nthreads > 0 && !(p.q = calloc(QUEUE_LEN, sizeof(*p.q))))
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
	old_umask = umask(0);
	if (p.q) {
		pool_start(&c, workers, wst, wer, nthreads);
	}
	r = copy_dir(&c, src, dst, "", 0);
	pool_stop(&p, workers, st);
	if (r < 0) {
		if (p.failed)
			r = p.failed; /* its message is in err already */
		else
			*err = werr;
		goto out;
	}
	/* the root's own owner, xattrs, mode and times */
	if (fstat(src, &rst) < 0)
		r = fail(&c, errno, "", "stat");
	if (r >= 0)
		r = set_owner(&c, -1, "", dst, &rst, "");
	if (r >= 0)
		r = copy_xattrs(&c, src, -1, -1, "", "", dst);
	if (r >= 0 && fchmod(dst, rst.st_mode & 07777) < 0)
		r = fail(&c, errno, "", "chmod");
	if (r >= 0) {
		struct timespec ts[2] = { rst.st_atim, rst.st_mtim };
		if (futimens(dst, ts) < 0)
			r = fail(&c, errno, "", "set times");
	}
	if (r < 0)
		*err = werr;
out:
	umask(old_umask);
	for (size_t i = 0; i < c.hl_cap; i++)
		free(c.hl[i].path);
	free(c.hl);
	free(c.buf);
	free(p.q);
	return r;
}
