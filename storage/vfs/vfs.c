/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The vfs storage driver: every layer is a complete copy of its parent (copy.c), so it works
 * on any filesystem that keeps owners, modes, links and device nodes, and needs no mount: the
 * fallback every runtime keeps for hosts where overlay cannot work (a root on overlay or FUSE,
 * nested containers).  File data is reflinked where the filesystem can (btrfs, XFS with
 * reflink=1), so a copy then costs metadata only.  The layer store is storage/fulltree; DIFF
 * and CHANGES compare the layer's tree with its parent's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <linux/fs.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/json.h"
#include "berth/vfs.h"
#include "berth/fulltree.h"
#include "vfs-internal.h"

const char *const berth_vfs_options[] = { BERTH_FT_COMMON_OPTIONS, "reflink", "copy_threads", NULL };

struct vfs_state {
	enum vfs_reflink reflink;
	int threads; /* options.copy_threads */
	int can_reflink; /* -1 not probed */
};

static struct vfs_state *state(struct berth_ft *s)
{
	static struct vfs_state st = { .can_reflink = -1 };

	s->priv = &st;
	return &st;
}

static int parse_options(struct berth_ft *s, json_t *opts, berth_error *err)
{
	struct vfs_state *st = state(s);
	const char *v = "auto";
	int64_t threads = 0;
	int r;

	r = berth_json_get_string(opts, "options", "reflink", false, &v, err);
	if (r < 0)
		return r;
	if (STREQ(v, "auto"))
		st->reflink = VFS_REFLINK_AUTO;
	else if (STREQ(v, "never"))
		st->reflink = VFS_REFLINK_NEVER;
	else if (STREQ(v, "always"))
		st->reflink = VFS_REFLINK_ALWAYS;
	else
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "options.reflink: \"%.50s\" is not auto, never or always", v);
	/* 0: one per CPU */
	r = berth_json_get_int(opts, "options", "copy_threads", false, 0, VFS_MAX_THREADS, &threads,
			       err);
	if (r < 0)
		return r;
	st->threads = (int)threads;
	return 0;
}

/* vfs works on any filesystem it can write (overlay and FUSE included: that is its use). */
static int check_backing(struct berth_ft *s, const char *existing, berth_error *err)
{
	struct statvfs sv;

	if (statvfs(existing, &sv) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "statvfs %s", existing);
	if (sv.f_flag & ST_RDONLY)
		return berth_error_set(err, BERTH_STOR_ERR_WRONG_FS, EROFS,
				       "%s is on a read-only filesystem: no layer can be written "
				       "there",
				       s->root);
	return 0;
}

/* Whether FICLONE works between two files under staging/ (cached for the call). */
static bool can_reflink(struct berth_ft *s, int dirfd)
{
	struct vfs_state *st = state(s);
	_cleanup_close_ int a = -1, b = -1;
	char buf[4096];

	if (st->can_reflink >= 0)
		return st->can_reflink;
	memset(buf, 'r', sizeof(buf));
	st->can_reflink = 0;
	a = openat(dirfd, "reflink-a", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	b = openat(dirfd, "reflink-b", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (a >= 0 && b >= 0 && write(a, buf, sizeof(buf)) == (ssize_t)sizeof(buf) && fsync(a) == 0 &&
	    ioctl(b, FICLONE, a) == 0)
		st->can_reflink = 1;
	unlinkat(dirfd, "reflink-a", 0);
	unlinkat(dirfd, "reflink-b", 0);
	return st->can_reflink;
}

/* Can this filesystem hold a layer?  Owners, symlinks, hardlinks and FIFOs are what a layer
 * needs and some filesystems lack (vfat, some FUSE filesystems): 13 when one fails. */
static int probe(struct berth_ft *s, berth_error *err)
{
	struct vfs_state *st = state(s);
	_cleanup_close_ int dfd = -1, fd = -1;
	char dir[64];
	const char *what = NULL;
	int r = 0;

	snprintf(dir, sizeof(dir), "staging/probe-%d", getpid());
	berth_rm_rf_at(s->rootfd, dir, NULL);
	if (mkdirat(s->rootfd, dir, 0700) < 0)
		return berth_error_errno(err, berth_stor_errno_code(errno), "mkdir %s/%s", s->root,
					 dir);
	dfd = openat(s->rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fd = dfd < 0 ? -1 : openat(dfd, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		what = "create a file";
	else if (!s->ignore_chown_errors && fchown(fd, 1, 1) < 0)
		what = "keep a file's owner (chown)";
	else if (symlinkat("f", dfd, "l") < 0)
		what = "make a symlink";
	else if (linkat(dfd, "f", dfd, "h", 0) < 0)
		what = "make a hardlink";
	else if (mknodat(dfd, "p", S_IFIFO | 0600, 0) < 0)
		what = "make a FIFO";
	if (what)
		r = berth_error_errno(err, BERTH_STOR_ERR_WRONG_FS,
				      "the filesystem under %s cannot %s, which layers need", s->root,
				      what);
	else if (fsetxattr(fd, "user.berth-probe", "1", 1, 0) < 0 && errno != ENOTSUP)
		r = berth_error_errno(err, BERTH_STOR_ERR_WRONG_FS,
				      "the filesystem under %s cannot keep xattrs", s->root);
	else if (!can_reflink(s, dfd) && st->reflink == VFS_REFLINK_ALWAYS)
		r = berth_error_set(err, BERTH_STOR_ERR_NOT_SUPPORTED, EOPNOTSUPP,
				    "options.reflink is \"always\" but the filesystem under %s "
				    "cannot share extents (FICLONE)",
				    s->root);
	berth_rm_rf_at(s->rootfd, dir, NULL);
	return r;
}

static int make_base(struct berth_ft *s, int dirfd, const char *name, berth_error *err)
{
	if (mkdirat(dirfd, name, 0755) < 0)
		return berth_error_errno(err, berth_stor_errno_code(errno), "mkdir %s", name);
	/* the layer's "/": 0755 whatever the umask */
	if (fchmodat(dirfd, name, 0755, 0) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "chmod %s", name);
	return 0;
}

static void copy_fault(void *ctx, const char *what)
{
	berth_ft_fault(ctx, what);
}

static int make_child(struct berth_ft *s, int pdirfd, const char *pname, int dirfd,
		      const char *name, berth_error *err)
{
	struct vfs_state *st = state(s);
	_cleanup_close_ int src = -1, dst = -1;
	struct vfs_copy_stats cs;
	struct vfs_copy_opts o = {
		.reflink = st->reflink,
		.ignore_chown_errors = s->ignore_chown_errors,
		.threads = st->threads,
		.fault = copy_fault,
		.fault_ctx = s,
	};

	src = openat(pdirfd, pname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (src < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", pname);
	if (mkdirat(dirfd, name, 0700) < 0)
		return berth_error_errno(err, berth_stor_errno_code(errno), "mkdir %s", name);
	dst = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dst < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", name);
	return vfs_copy_tree(src, dst, &o, &cs, err);
}

static int remove_tree(struct berth_ft *s, int dirfd, const char *name, berth_error *err)
{
	return berth_rm_rf_at(dirfd, name, err);
}

static bool reflinks(struct berth_ft *s)
{
	_cleanup_close_ int fd = openat(s->rootfd, "staging", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return state(s)->reflink != VFS_REFLINK_NEVER && fd >= 0 && can_reflink(s, fd);
}

static void capabilities(struct berth_ft *s, json_t *caps)
{
	json_object_set_new(caps, "reflink", json_boolean(reflinks(s)));
}

static void status(struct berth_ft *s, json_t *pairs)
{
	json_array_append_new(pairs, json_pack("[s,s]", "Copies", reflinks(s)
									  ? "reflinks (FICLONE)"
									  : "plain copies"));
}

const struct berth_ft_ops berth_vfs_ops = {
	.name = "vfs",
	.parse_options = parse_options,
	.check_backing = check_backing,
	.probe = probe,
	.make_base = make_base,
	.make_child = make_child,
	.remove_tree = remove_tree,
	.capabilities = capabilities,
	.status = status,
};

