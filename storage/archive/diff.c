// SPDX-License-Identifier: Apache-2.0
/*
 * Export a tree as a layer tar, and compute the changes of a tree against its parent.
 * The walk never follows symlinks: every lookup is an *at() call with AT_SYMLINK_NOFOLLOW or
 * O_NOFOLLOW on a directory fd reached by descending, so a container that planted symlinks in
 * its rootfs cannot make us read host files into its diff.
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
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "berth/archive.h"
#include "berth/cleanup.h"
#include "berth/error.h"
#include "berth/file.h"
#include "berth/log.h"
#include "archive-internal.h"

#define COPY_BUF (1U << 20)
#define XATTR_LIST_MAX_BYTES 65536

/* ---- helpers ---- */

static char *join(const char *prefix, const char *name)
{
	char *s;

	if (!*prefix)
		return strdup(name);
	if (asprintf(&s, "%s/%s", prefix, name) < 0)
		return NULL;
	return s;
}

static bool is_whiteout_dev(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static const char *opaque_xattr(bool userxattr)
{
	return userxattr ? ARCHIVE_OVL_OPAQUE_USER : ARCHIVE_OVL_OPAQUE_TRUSTED;
}

static bool dir_is_opaque(int fd, bool userxattr)
{
	char v[4];
	ssize_t n = fgetxattr(fd, opaque_xattr(userxattr), v, sizeof(v));

	return n == 1 && v[0] == 'y';
}

/*
 * The allowed xattrs of an object as a list of (name, value) pairs, serialised
 * "name\0" + 4-byte length + value, sorted by name so that two objects compare with memcmp.
 * fd >= 0: the object itself; else dirfd/name through /proc/self/fd without following.
 */
struct xattr_blob {
	char *data;
	size_t len;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_xattrs(int fd, int dirfd, const char *name, struct xattr_blob *ret)
{
	char list[XATTR_LIST_MAX_BYTES];
	char proc[64 + NAME_MAX];
	const char *names[512];
	size_t nn = 0, cap = 0, len = 0;
	char *data = NULL;
	ssize_t n;

	*ret = (struct xattr_blob){ 0 };
	if (fd < 0)
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dirfd, name);
	n = fd >= 0 ? flistxattr(fd, list, sizeof(list)) : llistxattr(proc, list, sizeof(list));
	if (n < 0)
		return errno == ENOTSUP || errno == EOPNOTSUPP ? 0 : -errno;
	for (char *p = list; p < list + n && nn < ARRAY_SIZE(names); p += strlen(p) + 1)
		if (berth_archive_xattr_allowed(p))
			names[nn++] = p;
	if (!nn)
		return 0;
	qsort(names, nn, sizeof(char *), cmp_str);
	for (size_t i = 0; i < nn; i++) {
		char val[XATTR_SIZE_MAX];
		size_t nl = strlen(names[i]) + 1;
		ssize_t vl;
		uint32_t l32;

		vl = fd >= 0 ? fgetxattr(fd, names[i], val, sizeof(val))
			     : lgetxattr(proc, names[i], val, sizeof(val));
		if (vl < 0) {
			if (errno == ENODATA)
				continue;
			free(data);
			return -errno;
		}
		if (!data || len + nl + 4 + (size_t)vl > cap) {
			size_t ncap = (len + nl + 4 + vl) * 2;
			char *nd = realloc(data, ncap);
			if (!nd) {
				free(data);
				return -ENOMEM;
			}
			data = nd;
			cap = ncap;
		}
		memcpy(data + len, names[i], nl);
		len += nl;
		l32 = vl;
		memcpy(data + len, &l32, 4);
		len += 4;
		memcpy(data + len, val, vl);
		len += vl;
	}
	ret->data = data;
	ret->len = len;
	return 0;
}

static void add_xattrs(struct archive_entry *e, const struct xattr_blob *x)
{
	const char *p = x->data, *end = x->data + x->len;

	while (p < end) {
		const char *name = p;
		uint32_t vl;

		p += strlen(p) + 1;
		memcpy(&vl, p, 4);
		p += 4;
		archive_entry_xattr_add_entry(e, name, p, vl);
		p += vl;
	}
}

/* ---- diff ---- */

struct hl_ent {
	dev_t dev;
	ino_t ino;
	char *path;
};

struct differ {
	struct archive *a;
	struct archive_entry *e;
	int outfd;
	uint64_t written;
	int write_errno;
	struct berth_archive_diff_opts o;
	berth_error *err;
	struct hl_ent *hl;
	size_t nhl, caphl;
	char *buf;
};

static la_ssize_t write_cb(struct archive *a, void *ctx, const void *buf, size_t len)
{
	struct differ *d = ctx;
	int r = berth_write_all(d->outfd, buf, len);

	if (r < 0) {
		d->write_errno = -r;
		archive_set_error(a, -r, "write: %s", strerror(-r));
		return -1;
	}
	d->written += len;
	return len;
}

static int fail_archive(struct differ *d, const char *path)
{
	if (d->write_errno)
		return berth_error_set(d->err, d->write_errno == ENOSPC ? BERTH_STOR_ERR_NO_SPACE
									: BERTH_ERR_IO,
				       d->write_errno, "diff: writing the tar: %s",
				       strerror(d->write_errno));
	return berth_error_set(d->err, BERTH_ERR_IO, EIO, "diff: '%s': %s", path,
			       archive_error_string(d->a));
}

static int fail_errno(struct differ *d, int errnum, const char *path, const char *what)
{
	return berth_error_set(d->err, BERTH_ERR_IO, errnum, "diff: '%s': %s: %s", path, what,
			       strerror(errnum));
}

/* The first path seen for an inode with several links, or NULL (then recorded). */
static const char *hl_lookup(struct differ *d, const struct stat *st, const char *path)
{
	size_t j;

	if (d->nhl * 2 >= d->caphl) {
		size_t ncap = d->caphl ? d->caphl * 2 : 256;
		struct hl_ent *n = calloc(ncap, sizeof(*n));
		if (!n)
			return NULL;
		for (size_t i = 0; i < d->caphl; i++) {
			if (!d->hl[i].path)
				continue;
			j = (d->hl[i].ino * 2654435761u) & (ncap - 1);
			while (n[j].path)
				j = (j + 1) & (ncap - 1);
			n[j] = d->hl[i];
		}
		free(d->hl);
		d->hl = n;
		d->caphl = ncap;
	}
	j = (st->st_ino * 2654435761u) & (d->caphl - 1);
	while (d->hl[j].path) {
		if (d->hl[j].ino == st->st_ino && d->hl[j].dev == st->st_dev)
			return d->hl[j].path;
		j = (j + 1) & (d->caphl - 1);
	}
	d->hl[j].path = strdup(path);
	if (d->hl[j].path) {
		d->hl[j].dev = st->st_dev;
		d->hl[j].ino = st->st_ino;
		d->nhl++;
	}
	return NULL;
}

static void entry_base(struct differ *d, const char *path, const struct stat *st)
{
	archive_entry_clear(d->e);
	archive_entry_set_pathname(d->e, path);
	archive_entry_set_uid(d->e, st->st_uid);
	archive_entry_set_gid(d->e, st->st_gid);
	archive_entry_set_mode(d->e, st->st_mode);
	/* whole seconds, as Docker does: layers stay reproducible and need no PAX header */
	archive_entry_set_mtime(d->e, st->st_mtim.tv_sec, 0);
}

/* Record the data regions of fd (SEEK_DATA/SEEK_HOLE) as the entry's sparse map; false when
 * the file system cannot tell (then the file is stored whole). */
static bool map_sparse(struct archive_entry *e, int fd, off_t size)
{
	off_t pos = 0;
	int n = 0;

	while (pos < size) {
		off_t data = lseek(fd, pos, SEEK_DATA), hole;

		if (data < 0) {
			if (errno == ENXIO)
				break; /* only a hole up to the end */
			archive_entry_sparse_clear(e);
			return false;
		}
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0) {
			archive_entry_sparse_clear(e);
			return false;
		}
		archive_entry_sparse_add_entry(e, data, hole - data);
		n++;
		pos = hole;
	}
	if (!n || pos < size)
		archive_entry_sparse_add_entry(e, size, 0);
	lseek(fd, 0, SEEK_SET);
	return true;
}

static int feed_zeros(struct differ *d, off_t n)
{
	static const char zeros[65536];

	while (n > 0) {
		size_t c = n < (off_t)sizeof(zeros) ? (size_t)n : sizeof(zeros);
		if (archive_write_data(d->a, zeros, c) < 0)
			return -EIO;
		n -= c;
	}
	return 0;
}

static int emit_whiteout(struct differ *d, const char *dir, const char *name,
			 const struct stat *st)
{
	_cleanup_free_ char *wname = NULL;
	_cleanup_free_ char *p = NULL;

	if (asprintf(&wname, ARCHIVE_WH_PREFIX "%s", name) < 0)
		return fail_errno(d, ENOMEM, name, "whiteout");
	p = join(dir, wname);
	if (!p)
		return fail_errno(d, ENOMEM, name, "whiteout");
	archive_entry_clear(d->e);
	archive_entry_set_pathname(d->e, p);
	archive_entry_set_filetype(d->e, AE_IFREG);
	archive_entry_set_perm(d->e, st ? st->st_mode & 0777 : 0);
	archive_entry_set_uid(d->e, st ? st->st_uid : 0);
	archive_entry_set_gid(d->e, st ? st->st_gid : 0);
	archive_entry_set_mtime(d->e, st ? st->st_mtim.tv_sec : 0, 0);
	archive_entry_set_size(d->e, 0);
	if (archive_write_header(d->a, d->e) < ARCHIVE_WARN)
		return fail_archive(d, p);
	return 0;
}

/* Emit dirfd/name (st from lstat) as path.  *ret_fd gets the opened dir when it is one. */
static int emit_entry(struct differ *d, int dirfd, const char *name, const char *path,
		      const struct stat *st, int *ret_dirfd)
{
	_cleanup_close_ int fd = -1;
	struct xattr_blob x = { 0 };
	const char *link = NULL;
	int r;

	if (S_ISSOCK(st->st_mode)) {
		berth_log_debug("diff: skipping socket %s", path);
		return 0;
	}
	if (!S_ISDIR(st->st_mode) && st->st_nlink > 1)
		link = hl_lookup(d, st, path);
	entry_base(d, path, st);
	if (link) {
		archive_entry_set_hardlink(d->e, link);
		archive_entry_set_size(d->e, 0);
		if (archive_write_header(d->a, d->e) < ARCHIVE_WARN)
			return fail_archive(d, path);
		return 0;
	}
	if (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode)) {
		fd = openat(dirfd, name,
			    (S_ISDIR(st->st_mode) ? O_DIRECTORY : 0) | O_RDONLY | O_NOFOLLOW |
				    O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return fail_errno(d, errno, path, "open");
		r = read_xattrs(fd, -1, NULL, &x);
	} else {
		r = read_xattrs(-1, dirfd, name, &x);
	}
	if (r < 0)
		return fail_errno(d, -r, path, "read xattrs");
	add_xattrs(d->e, &x);
	free(x.data);

	if (S_ISLNK(st->st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
		if (n < 0)
			return fail_errno(d, errno, path, "readlink");
		target[n] = '\0';
		archive_entry_set_symlink(d->e, target);
	} else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		archive_entry_set_rdevmajor(d->e, major(st->st_rdev));
		archive_entry_set_rdevminor(d->e, minor(st->st_rdev));
	}
	if (S_ISREG(st->st_mode))
		archive_entry_set_size(d->e, st->st_size);
	else
		archive_entry_set_size(d->e, 0);
	/* a file with fewer blocks than its size has holes: store only its data (PAX sparse),
	 * or a 100 GB /var/log/lastlog of a high uid becomes 100 GB of zeros in the layer */
	bool sparse = S_ISREG(st->st_mode) && (off_t)st->st_blocks * 512 < st->st_size &&
		      map_sparse(d->e, fd, st->st_size);
	if (archive_write_header(d->a, d->e) < ARCHIVE_WARN)
		return fail_archive(d, path);

	if (S_ISREG(st->st_mode)) {
		la_int64_t off, len;
		off_t pos = 0;

		/* libarchive wants the whole logical content and drops the holes itself;
		 * we feed zeros for the holes instead of reading them */
		if (sparse)
			archive_entry_sparse_reset(d->e);
		while (pos < st->st_size) {
			off_t data_end = st->st_size;

			if (sparse) {
				if (archive_entry_sparse_next(d->e, &off, &len) != ARCHIVE_OK) {
					off = st->st_size;
					len = 0;
				}
				r = feed_zeros(d, off - pos);
				if (r < 0)
					return fail_archive(d, path);
				pos = off;
				data_end = off + len;
				if (lseek(fd, pos, SEEK_SET) < 0)
					return fail_errno(d, errno, path, "seek");
			}
			while (pos < data_end) {
				off_t want = data_end - pos;
				ssize_t n = read(fd, d->buf, want < COPY_BUF ? (size_t)want : COPY_BUF);
				if (n < 0) {
					if (errno == EINTR)
						continue;
					return fail_errno(d, errno, path, "read");
				}
				if (n == 0) {
					/* shrank under us: libarchive pads with zeros */
					pos = st->st_size;
					break;
				}
				if (archive_write_data(d->a, d->buf, n) < 0)
					return fail_archive(d, path);
				pos += n;
			}
			if (sparse && len == 0) { /* the trailing hole */
				r = feed_zeros(d, st->st_size - pos);
				if (r < 0)
					return fail_archive(d, path);
				pos = st->st_size;
			}
		}
	}
	if (archive_write_finish_entry(d->a) < ARCHIVE_WARN)
		return fail_archive(d, path);
	if (ret_dirfd && S_ISDIR(st->st_mode))
		*ret_dirfd = TAKE_FD(fd);
	return 0;
}

static int emit_tree(struct differ *d, int dirfd, const char *prefix, int depth)
{
	char **names = NULL;
	size_t n = 0;
	int r;

	if (depth > 2048)
		return berth_error_set(d->err, BERTH_ERR_IO, ELOOP, "diff: '%s': too deep",
				       prefix);
	r = berth_list_dir_at(dirfd, &names, &n);
	if (r < 0)
		return fail_errno(d, -r, prefix, "list");
	for (size_t i = 0; i < n && r >= 0; i++) {
		_cleanup_free_ char *path = join(prefix, names[i]);
		_cleanup_close_ int cfd = -1;
		struct stat st;

		if (!path) {
			r = fail_errno(d, ENOMEM, prefix, "path");
			break;
		}
		if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			r = fail_errno(d, errno, path, "stat");
			break;
		}
		if (d->o.whiteout == BERTH_ARCHIVE_WHITEOUT_OVERLAY) {
			if (is_whiteout_dev(&st)) {
				r = emit_whiteout(d, prefix, names[i], &st);
				continue;
			}
			if (!strncmp(names[i], ARCHIVE_WH_PREFIX, ARCHIVE_WH_PREFIX_LEN)) {
				/* it would read back as a whiteout (podman #3582) */
				r = berth_error_set(
					d->err, BERTH_STOR_ERR_UNSAFE_ARCHIVE, EPERM,
					"diff: '%s': a file name starting with .wh. cannot be "
					"exported",
					path);
				break;
			}
		}
		r = emit_entry(d, dirfd, names[i], path, &st, &cfd);
		if (r < 0 || cfd < 0)
			continue;
		if (d->o.whiteout == BERTH_ARCHIVE_WHITEOUT_OVERLAY &&
		    dir_is_opaque(cfd, d->o.overlay_userxattr)) {
			r = emit_whiteout(d, path, ARCHIVE_WH_OPAQUE + ARCHIVE_WH_PREFIX_LEN, &st);
			if (r < 0)
				break;
		}
		r = emit_tree(d, cfd, path, depth + 1);
	}
	berth_names_free(names, n);
	return r;
}

/* Open the parent directory of path below rootfd, every component a real directory. */
static int open_parent_nofollow(int rootfd, const char *path, const char **ret_leaf)
{
	char copy[PATH_MAX];
	char *p, *slash;
	int fd;

	if (strlen(path) >= sizeof(copy))
		return -ENAMETOOLONG;
	strcpy(copy, path);
	slash = strrchr(copy, '/');
	*ret_leaf = slash ? path + (slash - copy) + 1 : path;
	fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!slash || fd < 0)
		return fd < 0 ? -errno : fd;
	*slash = '\0';
	p = copy;
	while (p) {
		char *next = strchr(p, '/');
		int nfd;

		if (next)
			*next++ = '\0';
		nfd = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (nfd < 0)
			return -errno;
		fd = nfd;
		p = next;
	}
	return fd;
}

static int emit_changes(struct differ *d, int rootfd, const struct berth_archive_changes *c)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct berth_archive_change *ch = &c->v[i];
		_cleanup_close_ int pfd = -1;
		const char *leaf;
		struct stat st;
		int r;

		if (ch->kind == BERTH_ARCHIVE_CHANGE_DELETE) {
			_cleanup_free_ char *dir = strdup(ch->path);
			char *slash;

			if (!dir)
				return fail_errno(d, ENOMEM, ch->path, "whiteout");
			slash = strrchr(dir, '/');
			if (slash)
				*slash = '\0';
			r = emit_whiteout(d, slash ? dir : "", slash ? slash + 1 : ch->path, NULL);
			if (r < 0)
				return r;
			continue;
		}
		pfd = open_parent_nofollow(rootfd, ch->path, &leaf);
		if (pfd < 0)
			return fail_errno(d, -pfd, ch->path, "open parent");
		if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return fail_errno(d, errno, ch->path, "stat");
		r = emit_entry(d, pfd, leaf, ch->path, &st, NULL);
		if (r < 0)
			return r;
	}
	return 0;
}

int berth_archive_diff(int rootfd, int outfd, const struct berth_archive_diff_opts *opts,
		       uint64_t *ret_size, berth_error *err)
{
	struct differ d = { .outfd = outfd, .err = err };
	_cleanup_(berth_archive_locale_restore) locale_t loc = berth_archive_locale_utf8();
	int r;

	if (opts)
		d.o = *opts;
	if (d.o.whiteout == BERTH_ARCHIVE_WHITEOUT_DELETE)
		d.o.whiteout = BERTH_ARCHIVE_WHITEOUT_KEEP;
	d.buf = malloc(COPY_BUF);
	d.a = archive_write_new();
	d.e = archive_entry_new();
	if (!d.buf || !d.a || !d.e) {
		r = berth_error_set(err, BERTH_ERR_IO, ENOMEM, "out of memory");
		goto out;
	}
	/* ustar where it suffices, PAX records (SCHILY.xattr.*, long names, big ids) only where
	 * needed; blocks of 1 MiB but the end padded to 512 bytes only */
	archive_write_set_format_pax_restricted(d.a);
	/* SCHILY.xattr only, the form Go's archive/tar (Docker, containers/storage) and GNU tar
	 * read; the LIBARCHIVE.xattr duplicates make GNU tar warn */
	archive_write_set_format_option(d.a, "pax", "xattrheader", "SCHILY");
	archive_write_set_bytes_per_block(d.a, COPY_BUF);
	archive_write_set_bytes_in_last_block(d.a, 1);
	if (archive_write_open2(d.a, &d, NULL, write_cb, NULL, NULL) != ARCHIVE_OK) {
		r = fail_archive(&d, "");
		goto out;
	}
	if (d.o.changes)
		r = emit_changes(&d, rootfd, d.o.changes);
	else
		r = emit_tree(&d, rootfd, "", 0);
	if (r < 0)
		goto out;
	if (archive_write_close(d.a) != ARCHIVE_OK) {
		r = fail_archive(&d, "");
		goto out;
	}
	if (ret_size)
		*ret_size = d.written;
	r = 0;
out:
	if (d.a)
		archive_write_free(d.a);
	if (d.e)
		archive_entry_free(d.e);
	for (size_t i = 0; i < d.caphl; i++)
		free(d.hl[i].path);
	free(d.hl);
	free(d.buf);
	return r;
}

/* ---- changes ---- */

struct chlist {
	struct berth_archive_changes c;
	size_t cap;
	berth_error *err;
	bool userxattr;
	berth_archive_unchanged_fn unchanged; /* FULL: entries the caller knows are unchanged */
	void *ctx;
};

static int ch_push(struct chlist *l, const char *prefix, const char *name,
		   enum berth_archive_change_kind kind)
{
	char *p = join(prefix, name);

	if (!p)
		return berth_error_set(l->err, BERTH_ERR_IO, ENOMEM, "out of memory");
	if (l->c.n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		struct berth_archive_change *nv = realloc(l->c.v, ncap * sizeof(*nv));
		if (!nv) {
			free(p);
			return berth_error_set(l->err, BERTH_ERR_IO, ENOMEM, "out of memory");
		}
		l->c.v = nv;
		l->cap = ncap;
	}
	l->c.v[l->c.n].path = p;
	l->c.v[l->c.n].kind = kind;
	l->c.n++;
	return 0;
}

static int ch_fail(struct chlist *l, int errnum, const char *prefix, const char *name,
		   const char *what)
{
	return berth_error_set(l->err, BERTH_ERR_IO, errnum, "changes: '%s%s%s': %s: %s",
			       prefix, *prefix ? "/" : "", name, what, strerror(errnum));
}

/* Everything below dirfd (at prefix) is ADDed. */
static int ch_add_all(struct chlist *l, int dirfd, const char *prefix, int depth)
{
	char **names = NULL;
	size_t n = 0;
	int r;

	if (depth > 2048)
		return ch_fail(l, ELOOP, prefix, "", "too deep");
	r = berth_list_dir_at(dirfd, &names, &n);
	if (r < 0)
		return ch_fail(l, -r, prefix, "", "list");
	for (size_t i = 0; i < n && r >= 0; i++) {
		_cleanup_close_ int cfd = -1;
		_cleanup_free_ char *p = NULL;

		r = ch_push(l, prefix, names[i], BERTH_ARCHIVE_CHANGE_ADD);
		if (r < 0)
			break;
		cfd = openat(dirfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0)
			continue; /* not a directory */
		p = join(prefix, names[i]);
		r = p ? ch_add_all(l, cfd, p, depth + 1) : -ENOMEM;
	}
	berth_names_free(names, n);
	return r;
}

static bool same_meta(int tdir, int pdir, const char *name, const struct stat *a,
		      const struct stat *b, bool *ret_err)
{
	struct xattr_blob xa, xb;
	bool same;

	if ((a->st_mode & S_IFMT) != (b->st_mode & S_IFMT) || a->st_mode != b->st_mode ||
	    a->st_uid != b->st_uid || a->st_gid != b->st_gid || a->st_rdev != b->st_rdev)
		return false;
	if (!S_ISDIR(a->st_mode) &&
	    (a->st_size != b->st_size || a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
	     a->st_mtim.tv_nsec != b->st_mtim.tv_nsec))
		return false;
	if (S_ISLNK(a->st_mode)) {
		char ta[PATH_MAX], tb[PATH_MAX];
		ssize_t na = readlinkat(tdir, name, ta, sizeof(ta));
		ssize_t nb = readlinkat(pdir, name, tb, sizeof(tb));
		if (na != nb || na < 0 || memcmp(ta, tb, na))
			return false;
	}
	/* setxattr changes ctime: equal ctimes (a snapshot of the parent, or the same lower inode
	 * seen through two overlay mounts) mean equal xattrs, without two listxattr calls */
	if (a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec)
		return true;
	if (read_xattrs(-1, tdir, name, &xa) < 0) {
		*ret_err = true;
		return false;
	}
	if (read_xattrs(-1, pdir, name, &xb) < 0) {
		free(xa.data);
		*ret_err = true;
		return false;
	}
	same = xa.len == xb.len && (!xa.len || !memcmp(xa.data, xb.data, xa.len));
	free(xa.data);
	free(xb.data);
	return same;
}

static int ch_full(struct chlist *l, int tfd, int pfd, const char *prefix, int depth)
{
	char **tn = NULL, **pn = NULL;
	size_t nt = 0, np = 0, i = 0, j = 0;
	int r;

	if (depth > 2048)
		return ch_fail(l, ELOOP, prefix, "", "too deep");
	r = berth_list_dir_at(tfd, &tn, &nt);
	if (r < 0)
		return ch_fail(l, -r, prefix, "", "list");
	r = berth_list_dir_at(pfd, &pn, &np);
	if (r < 0) {
		berth_names_free(tn, nt);
		return ch_fail(l, -r, prefix, "", "list parent");
	}
	while (r >= 0 && (i < nt || j < np)) {
		int c = i >= nt ? 1 : j >= np ? -1 : strcmp(tn[i], pn[j]);
		struct stat ts, ps;

		if (c > 0) {
			r = ch_push(l, prefix, pn[j++], BERTH_ARCHIVE_CHANGE_DELETE);
			continue;
		}
		if (fstatat(tfd, tn[i], &ts, AT_SYMLINK_NOFOLLOW) < 0) {
			r = ch_fail(l, errno, prefix, tn[i], "stat");
			break;
		}
		if (c < 0 || fstatat(pfd, pn[j], &ps, AT_SYMLINK_NOFOLLOW) < 0) {
			r = ch_push(l, prefix, tn[i], BERTH_ARCHIVE_CHANGE_ADD);
			if (r >= 0 && S_ISDIR(ts.st_mode)) {
				_cleanup_close_ int cfd = openat(
					tfd, tn[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				_cleanup_free_ char *p = join(prefix, tn[i]);
				if (cfd < 0 || !p)
					r = ch_fail(l, cfd < 0 ? errno : ENOMEM, prefix, tn[i],
						    "open");
				else
					r = ch_add_all(l, cfd, p, depth + 1);
			}
			i++;
			if (c == 0)
				j++;
			continue;
		}
		if (l->unchanged && (ts.st_mode & S_IFMT) == (ps.st_mode & S_IFMT) &&
		    l->unchanged(l->ctx, &ts, &ps)) {
			i++;
			j++;
			continue;
		}
		{
			bool xerr = false;
			bool same = same_meta(tfd, pfd, tn[i], &ts, &ps, &xerr);
			size_t mark = l->c.n;

			if (xerr) {
				r = ch_fail(l, EIO, prefix, tn[i], "read xattrs");
				break;
			}
			if (!same || S_ISDIR(ts.st_mode))
				r = ch_push(l, prefix, tn[i], BERTH_ARCHIVE_CHANGE_MODIFY);
			if (r >= 0 && S_ISDIR(ts.st_mode)) {
				_cleanup_close_ int ct = openat(
					tfd, tn[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				_cleanup_close_ int cp = -1;
				_cleanup_free_ char *p = join(prefix, tn[i]);

				if (S_ISDIR(ps.st_mode))
					cp = openat(pfd, pn[j],
						    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (ct < 0 || !p)
					r = ch_fail(l, ct < 0 ? errno : ENOMEM, prefix, tn[i],
						    "open");
				else if (cp >= 0)
					r = ch_full(l, ct, cp, p, depth + 1);
				else
					r = ch_add_all(l, ct, p, depth + 1);
				/* an unchanged directory with nothing changed below is no change */
				if (r >= 0 && same && l->c.n == mark + 1) {
					l->c.n--;
					free(l->c.v[mark].path);
				}
			}
		}
		i++;
		j++;
	}
	berth_names_free(tn, nt);
	berth_names_free(pn, np);
	return r;
}

static int ch_upper(struct chlist *l, int ufd, int pfd, const char *prefix, int depth)
{
	char **names = NULL;
	size_t n = 0;
	int r;

	if (depth > 2048)
		return ch_fail(l, ELOOP, prefix, "", "too deep");
	r = berth_list_dir_at(ufd, &names, &n);
	if (r < 0)
		return ch_fail(l, -r, prefix, "", "list");
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct stat us, ps;
		bool in_parent;

		if (fstatat(ufd, names[i], &us, AT_SYMLINK_NOFOLLOW) < 0) {
			r = ch_fail(l, errno, prefix, names[i], "stat");
			break;
		}
		if (is_whiteout_dev(&us)) {
			r = ch_push(l, prefix, names[i], BERTH_ARCHIVE_CHANGE_DELETE);
			continue;
		}
		in_parent = pfd >= 0 && fstatat(pfd, names[i], &ps, AT_SYMLINK_NOFOLLOW) == 0;
		r = ch_push(l, prefix, names[i],
			    in_parent ? BERTH_ARCHIVE_CHANGE_MODIFY : BERTH_ARCHIVE_CHANGE_ADD);
		if (r >= 0 && S_ISDIR(us.st_mode)) {
			_cleanup_close_ int cu =
				openat(ufd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			_cleanup_close_ int cp = -1;
			_cleanup_free_ char *p = join(prefix, names[i]);

			if (cu < 0 || !p) {
				r = ch_fail(l, cu < 0 ? errno : ENOMEM, prefix, names[i], "open");
				break;
			}
			if (in_parent && S_ISDIR(ps.st_mode))
				cp = openat(pfd, names[i],
					    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cp >= 0 && dir_is_opaque(cu, l->userxattr)) {
				/* what the parent had below an opaque dir is gone */
				char **pn = NULL;
				size_t np = 0;

				r = berth_list_dir_at(cp, &pn, &np);
				if (r < 0) {
					r = ch_fail(l, -r, p, "", "list parent");
					break;
				}
				for (size_t k = 0; k < np && r >= 0; k++) {
					struct stat s;
					if (fstatat(cu, pn[k], &s, AT_SYMLINK_NOFOLLOW) < 0)
						r = ch_push(l, p, pn[k],
							    BERTH_ARCHIVE_CHANGE_DELETE);
				}
				berth_names_free(pn, np);
				close(cp);
				cp = -1;
			}
			if (r >= 0)
				r = ch_upper(l, cu, cp, p, depth + 1);
		}
	}
	berth_names_free(names, n);
	return r;
}

/* Tree order: "/" sorts before every other byte, so a dir comes right before its entries. */
static int cmp_change(const void *a, const void *b)
{
	const unsigned char *x = (const unsigned char *)((const struct berth_archive_change *)a)->path;
	const unsigned char *y = (const unsigned char *)((const struct berth_archive_change *)b)->path;

	for (;; x++, y++) {
		unsigned cx = *x == '/' ? 1 : *x, cy = *y == '/' ? 1 : *y;
		if (cx != cy || !cx)
			return (int)cx - (int)cy;
	}
}

static int changes(struct chlist *lp, int treefd, int parentfd,
		   enum berth_archive_changes_mode mode, struct berth_archive_changes *ret)
{
	struct chlist l = *lp;
	int r;

	if (mode == BERTH_ARCHIVE_CHANGES_OVERLAY_UPPER)
		r = ch_upper(&l, treefd, parentfd, "", 0);
	else if (parentfd < 0)
		r = ch_add_all(&l, treefd, "", 0);
	else
		r = ch_full(&l, treefd, parentfd, "", 0);
	if (r < 0) {
		berth_archive_changes_free(&l.c);
		return r;
	}
	if (l.c.n > 1)
		qsort(l.c.v, l.c.n, sizeof(*l.c.v), cmp_change);
	*ret = l.c;
	return 0;
}

int berth_archive_changes(int treefd, int parentfd, enum berth_archive_changes_mode mode,
			  bool overlay_userxattr, struct berth_archive_changes *ret,
			  berth_error *err)
{
	struct chlist l = { .err = err, .userxattr = overlay_userxattr };

	return changes(&l, treefd, parentfd, mode, ret);
}

int berth_archive_changes_hinted(int treefd, int parentfd, berth_archive_unchanged_fn unchanged,
				 void *ctx, struct berth_archive_changes *ret, berth_error *err)
{
	struct chlist l = { .err = err, .unchanged = unchanged, .ctx = ctx };

	return changes(&l, treefd, parentfd, BERTH_ARCHIVE_CHANGES_FULL, ret);
}

void berth_archive_changes_free(struct berth_archive_changes *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].path);
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

int berth_archive_changes_size(int treefd, const struct berth_archive_changes *c,
			       uint64_t *ret_size, berth_error *err)
{
	struct berth_strset seen = { 0 };
	uint64_t size = 0;

	for (size_t i = 0; i < c->n; i++) {
		_cleanup_close_ int pfd = -1;
		const char *leaf;
		struct stat st;

		if (c->v[i].kind == BERTH_ARCHIVE_CHANGE_DELETE)
			continue;
		pfd = open_parent_nofollow(treefd, c->v[i].path, &leaf);
		if (pfd < 0 || fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			int e = pfd < 0 ? -pfd : errno;
			berth_strset_clear(&seen);
			return berth_error_set(err, BERTH_ERR_IO, e, "changes size: '%s': %s",
					       c->v[i].path, strerror(e));
		}
		if (!S_ISREG(st.st_mode))
			continue;
		if (st.st_nlink > 1) {
			char key[64];
			int n = snprintf(key, sizeof(key), "%llx:%llx",
					 (unsigned long long)st.st_dev,
					 (unsigned long long)st.st_ino);
			if (berth_strset_add(&seen, key, n) == 0)
				continue; /* counted already */
		}
		size += st.st_size;
	}
	berth_strset_clear(&seen);
	*ret_size = size;
	return 0;
}
