/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The btrfs storage driver: a subvolume per layer, a child is a snapshot of its parent.  Image
 * layers become read-only subvolumes once filled; container layers stay writable snapshots.
 * Subvolumes through libbtrfsutil, qgroup limits and tree searches through the kernel's ioctls
 * (search.c); no `btrfs` program is run.  The layer store itself is storage/fulltree.
 *
 * DIFF and CHANGES against the parent read which inodes the snapshot wrote since it was taken
 * (search.c) and compare only the directories that hold one; the full comparison of both
 * trees (force_naive_diff, or whenever the parent may have changed since the snapshot) is the
 * reference, and both give the same bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <linux/magic.h>
#include <unistd.h>
#include <btrfsutil.h>

#include "berth/btrfs.h"
#include "berth/fulltree.h"
#include "berth/cleanup.h"
#include "berth/file.h"
#include "berth/json.h"
#include "btrfs-internal.h"

const char *const berth_btrfs_options[] = { BERTH_FT_COMMON_OPTIONS, NULL };

struct btrfs_state {
	int quota; /* -1 unknown, 0, 1 */
};

static struct btrfs_state *state(struct berth_ft *s)
{
	static struct btrfs_state st = { .quota = -1 };

	s->priv = &st;
	return &st;
}

/* libbtrfsutil keeps errno from the failing call; map it to the protocol's codes. */
static int util_fail(berth_error *err, enum btrfs_util_error e, const char *what,
		     const char *name)
{
	int errnum = errno ? errno : EIO;

	if (e == BTRFS_UTIL_ERROR_NOT_BTRFS)
		return berth_error_set(err, BERTH_STOR_ERR_WRONG_FS, EXDEV, "%s %s: not on btrfs",
				       what, name);
	return berth_error_set(err, berth_stor_errno_code(errnum), errnum, "%s %s: %s (%s)", what,
			       name, btrfs_util_strerror(e), strerror(errnum));
}

static const char *fs_type_name(unsigned long t)
{
	switch (t) {
	case EXT4_SUPER_MAGIC: return "ext4";
	case XFS_SUPER_MAGIC: return "xfs";
	case TMPFS_MAGIC: return "tmpfs";
	case OVERLAYFS_SUPER_MAGIC: return "overlayfs";
	default: return "another filesystem";
	}
}

static int check_backing(struct berth_ft *s, const char *existing, berth_error *err)
{
	struct statfs sfs;

	if (statfs(existing, &sfs) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "statfs %s", existing);
	if ((unsigned long)sfs.f_type != BTRFS_SUPER_MAGIC)
		return berth_error_set(err, BERTH_STOR_ERR_WRONG_FS, EXDEV,
				       "%s is on %s (magic 0x%lx), not btrfs: the btrfs driver keeps "
				       "each layer in a subvolume",
				       s->root, fs_type_name((unsigned long)sfs.f_type),
				       (unsigned long)sfs.f_type);
	return 0;
}

static int remove_tree(struct berth_ft *s, int dirfd, const char *name, berth_error *err);

/* A subvolume made and deleted proves we may (a user namespace may not). */
static int probe(struct berth_ft *s, berth_error *err)
{
	_cleanup_close_ int fd = openat(s->rootfd, "staging", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	enum btrfs_util_error e;
	char name[64];

	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s/staging", s->root);
	snprintf(name, sizeof(name), "probe-%d", getpid());
	btrfs_util_delete_subvolume_fd(fd, name, 0);
	errno = 0;
	e = btrfs_util_create_subvolume_fd(fd, name, 0, NULL, NULL);
	if (e) {
		int r = util_fail(err, e, "create subvolume under", s->root);
		if (errno == EPERM || errno == EACCES)
			err->code = BERTH_STOR_ERR_NOT_SUPPORTED;
		return r;
	}
	return remove_tree(s, fd, name, err); /* with its qgroup */
}

static int make_base(struct berth_ft *s, int dirfd, const char *name, berth_error *err)
{
	enum btrfs_util_error e;

	errno = 0;
	e = btrfs_util_create_subvolume_fd(dirfd, name, 0, NULL, NULL);
	if (e)
		return util_fail(err, e, "create subvolume", name);
	/* the layer's "/": 0755 whatever the umask */
	if (fchmodat(dirfd, name, 0755, 0) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "chmod %s", name);
	return 0;
}

static int make_child(struct berth_ft *s, int pdirfd, const char *pname, int dirfd,
		      const char *name, berth_error *err)
{
	_cleanup_close_ int pfd = -1;
	enum btrfs_util_error e;

	pfd = openat(pdirfd, pname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", pname);
	/* not recursive: subvolumes a container made inside its tree are not the layer's */
	errno = 0;
	e = btrfs_util_create_snapshot_fd2(pfd, dirfd, name, 0, NULL, NULL);
	if (e)
		return util_fail(err, e, "snapshot", pname);
	return 0;
}

/* A deleted subvolume's space comes back once the cleaner thread has dropped its tree and a
 * transaction committed: wait for that (bounded), committing to move it along. */
static void wait_cleaned(int fd, uint64_t id)
{
	for (int i = 0; i < 200; i++) {
		uint64_t *ids = NULL;
		size_t n = 0;
		bool pending = false;

		btrfs_util_sync_fd(fd);
		if (btrfs_util_deleted_subvolumes_fd(fd, &ids, &n))
			return;
		for (size_t k = 0; k < n; k++)
			pending = pending || ids[k] == id;
		free(ids);
		if (!pending)
			return;
		usleep(50 * 1000);
	}
}

static bool quota_supported(struct berth_ft *s)
{
	struct btrfs_state *st = state(s);

	if (st->quota < 0)
		st->quota = btrfs_quota_enabled(s->rootfd) == 1;
	return st->quota == 1;
}

/* With quotas, a layer's level-0 qgroup goes with its subvolume.  The kernel refuses to
 * destroy it (EBUSY) until the cleaner has dropped the subvolume's tree, and kernels since 6.10
 * destroy it themselves then (ENOENT here): so wait for the cleaner, then make sure.  The
 * numbers of the dropped tree reach the qgroup only when a transaction commits, and a qgroup
 * destroyed with numbers left marks every qgroup of the filesystem inconsistent (the kernel
 * then stops accounting and enforcing limits until a rescan): so commit, and destroy it only
 * once it holds nothing (or after a bound, where the numbers were wrong already).  The id
 * waits in a marker beside the tree ("fs.qgroup") from before the delete until the qgroup is
 * gone, so that a crash or a cleaner slower than wait_cleaned's bound leaves the layer
 * directory in staging/ with the marker, and the next GC or CLEANUP finishes it. */
static int drop_qgroup(int dirfd, const char *marker, berth_error *err)
{
	struct btrfs_ioctl_qgroup_create_args a = { .create = 0 };
	_cleanup_free_ char *text = NULL;
	int r;

	r = berth_read_file_at(dirfd, marker, 32, &text, NULL, NULL);
	if (r == -ENOENT)
		return 0;
	if (r < 0 || sscanf(text, "%llu", (unsigned long long *)&a.qgroupid) != 1)
		return berth_error_set(err, BERTH_ERR_IO, r < 0 ? -r : EINVAL, "read %s", marker);
	wait_cleaned(dirfd, a.qgroupid);
	for (int i = 0; i < 100; i++) {
		uint64_t rfer, excl;

		btrfs_util_sync_fd(dirfd);
		if (btrfs_qgroup_info(dirfd, a.qgroupid, &rfer, &excl, NULL) < 0 ||
		    (rfer == 0 && excl == 0))
			break; /* gone (or no quotas), or empty */
		usleep(50 * 1000);
	}
	/* ENOENT: the kernel dropped it; ENOTCONN: quotas were disabled, with every qgroup */
	if (ioctl(dirfd, BTRFS_IOC_QGROUP_CREATE, &a) < 0 && errno != ENOENT && errno != ENOTCONN)
		return berth_error_errno(err, BERTH_ERR_IO,
					 "destroy qgroup 0/%llu of a removed layer (GC retries)",
					 (unsigned long long)a.qgroupid);
	if (unlinkat(dirfd, marker, 0) < 0 && errno != ENOENT)
		return berth_error_errno(err, BERTH_ERR_IO, "remove %s", marker);
	return 0;
}

static int remove_tree(struct berth_ft *s, int dirfd, const char *name, berth_error *err)
{
	enum btrfs_util_error e;
	char marker[NAME_MAX + 1];
	bool quota;
	uint64_t id = 0;
	struct stat st;
	int r;

	snprintf(marker, sizeof(marker), "%s.qgroup", name);
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return berth_error_errno(err, BERTH_ERR_IO, "stat %s", name);
		return drop_qgroup(dirfd, marker, err); /* a removal cut short */
	}
	quota = quota_supported(s);
	if (s->reclaim_space || quota) {
		_cleanup_close_ int fd =
			openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			btrfs_util_subvolume_id_fd(fd, &id);
	}
	if (quota && id) {
		char text[32];

		snprintf(text, sizeof(text), "%llu\n", (unsigned long long)id);
		r = berth_write_file_atomic_at(dirfd, marker, text, strlen(text), 0600, false, err);
		if (r < 0)
			return r;
	}
	errno = 0;
	/* with the subvolumes a container may have made inside it */
	e = btrfs_util_delete_subvolume_fd(dirfd, name, BTRFS_UTIL_DELETE_SUBVOLUME_RECURSIVE);
	if (e == BTRFS_UTIL_ERROR_NOT_SUBVOLUME) /* a crash between mkdir and snapshot? */
		return berth_rm_rf_at(dirfd, name, err);
	if (e)
		return util_fail(err, e, "delete subvolume", name);
	berth_ft_fault(s, "remove-deleted");
	if (quota && id)
		return drop_qgroup(dirfd, marker, err);
	if (id)
		wait_cleaned(dirfd, id);
	return 0;
}

static int seal(struct berth_ft *s, int dirfd, const char *name, berth_error *err)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	enum btrfs_util_error e;

	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", name);
	errno = 0;
	e = btrfs_util_set_subvolume_read_only_fd(fd, true);
	if (e)
		return util_fail(err, e, "make read-only", name);
	berth_ft_fault(s, "sealed");
	return 0;
}

static bool is_sealed(struct berth_ft *s, int dirfd, const char *name)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	bool ro = false;

	return fd >= 0 && btrfs_util_get_subvolume_read_only_fd(fd, &ro) == 0 && ro;
}

/* The limit is on the qgroup's exclusive bytes: what this layer writes itself, as overlay's
 * limit is on its upper dir (Docker's btrfs driver limits referenced bytes instead, which
 * counts the image too). */
static int set_size(struct berth_ft *s, int dirfd, const char *name, uint64_t size,
		    berth_error *err)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct btrfs_ioctl_qgroup_limit_args args = { 0 };

	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", name);
	args.qgroupid = 0; /* the subvolume of fd */
	args.lim.flags = BTRFS_QGROUP_LIMIT_MAX_EXCL;
	args.lim.max_excl = size;
	if (ioctl(fd, BTRFS_IOC_QGROUP_LIMIT, &args) < 0)
		return berth_error_errno(err, errno == ENOTCONN ? BERTH_STOR_ERR_NOT_SUPPORTED
								: BERTH_ERR_IO,
					 "btrfs qgroup limit on %s", name);
	return 0;
}

static int tree_info(int fd, struct btrfs_util_subvolume_info *info, const char *what,
		     berth_error *err)
{
	enum btrfs_util_error e;

	errno = 0;
	e = btrfs_util_subvolume_info_fd(fd, 0, info);
	return e ? util_fail(err, e, "subvolume info of", what) : 0;
}

static bool is_snapshot(const struct btrfs_util_subvolume_info *info)
{
	static const uint8_t zero[16];

	return memcmp(info->parent_uuid, zero, sizeof(zero)) != 0;
}

struct hint {
	struct btrfs_inoset *changed, *dirs;
	dev_t tdev, pdev; /* the two subvolumes (nested ones are compared in full) */
};

static bool unchanged(void *ctx, const struct stat *t, const struct stat *p)
{
	const struct hint *h = ctx;

	/* the same inode of the snapshot, not written since: equal, and so is all below a
	 * directory none of whose descendants changed */
	return t->st_dev == h->tdev && p->st_dev == h->pdev && t->st_ino == p->st_ino &&
	       !btrfs_inoset_has(h->changed, t->st_ino) &&
	       (!S_ISDIR(t->st_mode) || !btrfs_inoset_has(h->dirs, t->st_ino));
}

static int changes(struct berth_ft *s, const char *id, int treefd, const char *parent,
		   int parentfd, struct berth_archive_changes *ret, berth_error *err)
{
	struct btrfs_util_subvolume_info ti, pi;
	struct btrfs_scan scan;
	struct btrfs_inoset dirs = { 0 };
	struct stat tst, pst;
	struct hint h;
	int r;

	/* Inode updates wait in memory (delayed items) until a commit writes them into the
	 * tree, and root items' transids are written at commit too: commit first, as `btrfs
	 * subvolume find-new` does. */
	if (btrfs_util_sync_fd(treefd))
		return berth_error_errno(err, BERTH_ERR_IO, "btrfs sync %s", id);
	if ((r = tree_info(treefd, &ti, id, err)) < 0 || (r = tree_info(parentfd, &pi, parent, err)) < 0)
		return r;
	/* The shortcut holds for a snapshot of this parent that the parent has not changed
	 * since (a read-only parent whose last change is not newer than the snapshot). */
	if (memcmp(ti.parent_uuid, pi.uuid, sizeof(pi.uuid)) || !(pi.flags & BTRFS_ROOT_SUBVOL_RDONLY) ||
	    pi.ctransid > ti.otransid)
		return -EOPNOTSUPP;
	if (fstat(treefd, &tst) < 0 || fstat(parentfd, &pst) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "stat layer trees");
	r = btrfs_scan_changed(treefd, ti.id, ti.otransid, &scan, err);
	if (r < 0)
		return r;
	r = btrfs_scan_ancestors(treefd, ti.id, &scan, &dirs, err);
	if (r >= 0) {
		h = (struct hint){ .changed = &scan.changed, .dirs = &dirs, .tdev = tst.st_dev,
				   .pdev = pst.st_dev };
		r = berth_archive_changes_hinted(treefd, parentfd, unchanged, &h, ret, err);
	}
	btrfs_inoset_free(&dirs);
	btrfs_scan_free(&scan);
	return r;
}

/* USAGE: with quotas, the qgroup's exclusive bytes (the layer's own data; qgroup numbers are
 * current after a commit); without, the bytes allocated to the inodes the layer wrote.
 * inodes: the inodes the layer wrote (all of a base layer's). */
static int usage(struct berth_ft *s, const char *id, int treefd, json_t **ret, berth_error *err)
{
	struct btrfs_util_subvolume_info ti;
	struct btrfs_scan scan;
	uint64_t size, rfer = 0, excl = 0;
	bool from_qgroup = false;
	int r;

	if (btrfs_util_sync_fd(treefd)) /* see changes() */
		return berth_error_errno(err, BERTH_ERR_IO, "btrfs sync %s", id);
	r = tree_info(treefd, &ti, id, err);
	if (r < 0)
		return r;
	/* a snapshot: what it wrote since it was taken; a base layer: all of it */
	r = btrfs_scan_changed(treefd, ti.id, is_snapshot(&ti) ? ti.otransid : 0, &scan, err);
	if (r < 0)
		return r;
	size = scan.nbytes;
	if (quota_supported(s) && btrfs_qgroup_info(treefd, ti.id, &rfer, &excl, NULL) == 0) {
		size = excl;
		from_qgroup = true;
	}
	*ret = json_pack("{s:I,s:I,s:s}", "size", (json_int_t)size, "inodes",
			 (json_int_t)scan.changed.n, "source", from_qgroup ? "qgroup" : "inodes");
	if (from_qgroup)
		json_object_set_new(*ret, "referenced", json_integer((json_int_t)rfer));
	btrfs_scan_free(&scan);
	return 0;
}

/* A device of the filesystem: what a caller mounts the subvolume from. */
static int fs_device(int fd, char *buf, size_t len, berth_error *err)
{
	struct btrfs_ioctl_fs_info_args fi = { 0 };

	if (ioctl(fd, BTRFS_IOC_FS_INFO, &fi) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "btrfs filesystem info");
	for (uint64_t id = 1; id <= fi.max_id; id++) {
		struct btrfs_ioctl_dev_info_args di = { .devid = id };

		if (ioctl(fd, BTRFS_IOC_DEV_INFO, &di) == 0 && di.path[0]) {
			snprintf(buf, len, "%.*s", (int)sizeof(di.path), (const char *)di.path);
			return 0;
		}
	}
	return berth_error_set(err, BERTH_ERR_IO, ENODEV, "btrfs: no device found");
}

/* MOUNTS: the subvolume by id from the filesystem's device, as containerd's own btrfs
 * snapshotter mounts its snapshots ("subvolid=", with "subvol=" naming the same one). */
static int mount_specs(struct berth_ft *s, const char *id, const char *tree, bool ro,
		       json_t **ret, berth_error *err)
{
	_cleanup_close_ int fd = open(tree, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_free_ char *sub = NULL;
	char dev[PATH_MAX];
	uint64_t subvolid = 0;
	json_t *opts;
	int r;

	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", tree);
	errno = 0;
	if (btrfs_util_subvolume_id_fd(fd, &subvolid))
		return berth_error_errno(err, BERTH_ERR_IO, "subvolume id of %s", id);
	r = fs_device(fd, dev, sizeof(dev), err);
	if (r < 0)
		return r;
	opts = json_array();
	json_array_append_new(opts, json_sprintf("subvolid=%llu", (unsigned long long)subvolid));
	/* the path from the top-level subvolume, unless a ',' would split the options */
	if (btrfs_util_subvolume_path_fd(fd, 0, &sub) == 0 && !strchr(sub, ','))
		json_array_append_new(opts, json_sprintf("subvol=/%s", sub));
	json_array_append_new(opts, json_string(ro ? "ro" : "rw"));
	*ret = json_pack("[{s:s,s:s,s:o}]", "type", "btrfs", "source", dev, "options", opts);
	return 0;
}

static void capabilities(struct berth_ft *s, json_t *caps)
{
	json_object_set_new(caps, "subvolumes", json_true());
}

static void status(struct berth_ft *s, json_t *pairs)
{
	json_array_append_new(pairs, json_pack("[s,s]", "Quotas (qgroups)",
					       quota_supported(s) ? "enabled" : "disabled"));
	json_array_append_new(pairs, json_pack("[s,s]", "Diff", s->force_naive_diff
									 ? "naive (full comparison)"
									 : "transaction ids (TREE_SEARCH)"));
}

static void metadata(struct berth_ft *s, const char *id, json_t *meta)
{
	_cleanup_close_ int fd = -1;
	struct btrfs_util_subvolume_info ti;
	uint64_t rfer, excl;

	if (berth_ft_open_tree(s, id, &fd, NULL) < 0 || tree_info(fd, &ti, id, NULL) < 0)
		return;
	json_object_set_new(meta, "subvolumeId", json_integer((json_int_t)ti.id));
	json_object_set_new(meta, "generation", json_integer((json_int_t)ti.generation));
	json_object_set_new(meta, "otransid", json_integer((json_int_t)ti.otransid));
	json_object_set_new(meta, "ctransid", json_integer((json_int_t)ti.ctransid));
	if (quota_supported(s) && btrfs_qgroup_info(fd, ti.id, &rfer, &excl, NULL) == 0)
		json_object_set_new(meta, "qgroup", json_pack("{s:o,s:I,s:I}", "id", json_sprintf("0/%llu", (unsigned long long)ti.id), "referenced",
							      (json_int_t)rfer, "exclusive",
							      (json_int_t)excl));
}

const struct berth_ft_ops berth_btrfs_ops = {
	.name = "btrfs",
	.check_backing = check_backing,
	.probe = probe,
	.make_base = make_base,
	.make_child = make_child,
	.remove_tree = remove_tree,
	.seal = seal,
	.is_sealed = is_sealed,
	.quota_supported = quota_supported,
	.set_size = set_size,
	.changes = changes,
	.usage = usage,
	.mount_specs = mount_specs,
	.capabilities = capabilities,
	.status = status,
	.metadata = metadata,
};

