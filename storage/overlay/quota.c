/* SPDX-License-Identifier: Apache-2.0 */
/* Size limits through XFS project quotas: each limited layer's diff dir gets its own project
 * id (inherited by everything created below it) and a block hard limit. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/quota.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <linux/dqblk_xfs.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/file.h"
#include "overlay-internal.h"

#define PROJID_BASE 100000

/* quotactl needs a block device; make a node for the one under root, as c/s does. */
static int backing_dev(struct ovl *o, char *buf, size_t len, berth_error *err)
{
	struct stat st, cur;

	if (fstat(o->rootfd, &st) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "stat %s", o->root);
	snprintf(buf, len, "%s/backingFsBlockDev", o->root);
	if (lstat(buf, &cur) == 0) {
		if (S_ISBLK(cur.st_mode) && cur.st_rdev == st.st_dev)
			return 0;
		unlink(buf);
	}
	if (mknod(buf, S_IFBLK | 0600, st.st_dev) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "mknod %s", buf);
	return 0;
}

bool berth_ovl_quota_supported(struct ovl *o, berth_error *err)
{
	struct statfs sfs;
	struct fs_quota_stat qs = { 0 };
	char dev[PATH_MAX];

	if (fstatfs(o->rootfd, &sfs) < 0 || sfs.f_type != XFS_SUPER_MAGIC)
		return false;
	if (backing_dev(o, dev, sizeof(dev), err) < 0)
		return false;
	if (quotactl(QCMD(Q_XGETQSTAT, PRJQUOTA), dev, 0, (void *)&qs) < 0)
		return false;
	return (qs.qs_flags & FS_QUOTA_PDQ_ENFD) && (qs.qs_flags & FS_QUOTA_PDQ_ACCT);
}

/* Next project id from a counter under root (ids are never reused, which is simpler than
 * scanning and still leaves billions). */
static int next_projid(struct ovl *o, uint32_t *ret, berth_error *err)
{
	_cleanup_free_ char *s = NULL;
	uint32_t id = PROJID_BASE;
	char buf[32];
	int r;

	if (berth_ovl_read_str(o->rootfd, "quota-projid", &s, NULL) == 0 && atol(s) >= PROJID_BASE)
		id = (uint32_t)atol(s) + 1;
	snprintf(buf, sizeof(buf), "%u\n", id);
	r = berth_write_file_atomic_at(o->rootfd, "quota-projid", buf, strlen(buf), 0600, true,
				       err);
	if (r < 0)
		return r;
	*ret = id;
	return 0;
}

int berth_ovl_quota_set(struct ovl *o, int dirfd, const char *path, uint64_t size,
			berth_error *err)
{
	_cleanup_close_ int fd = -1;
	struct fsxattr fsx;
	struct fs_disk_quota d = { 0 };
	char dev[PATH_MAX], buf[32], qpath[PATH_MAX];
	uint32_t projid;
	int r;

	r = backing_dev(o, dev, sizeof(dev), err);
	if (r < 0)
		return r;
	r = next_projid(o, &projid, err);
	if (r < 0)
		return r;
	fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", path);
	if (ioctl(fd, FS_IOC_FSGETXATTR, &fsx) < 0)
		return berth_error_errno(err, BERTH_STOR_ERR_NOT_SUPPORTED, "FS_IOC_FSGETXATTR");
	fsx.fsx_projid = projid;
	fsx.fsx_xflags |= FS_XFLAG_PROJINHERIT;
	if (ioctl(fd, FS_IOC_FSSETXATTR, &fsx) < 0)
		return berth_error_errno(err, BERTH_STOR_ERR_NOT_SUPPORTED, "FS_IOC_FSSETXATTR");
	d.d_version = FS_DQUOT_VERSION;
	d.d_id = projid;
	d.d_flags = FS_PROJ_QUOTA;
	d.d_fieldmask = FS_DQ_BHARD | FS_DQ_BSOFT;
	d.d_blk_hardlimit = (size + 511) / 512; /* basic blocks */
	d.d_blk_softlimit = d.d_blk_hardlimit;
	if (quotactl(QCMD(Q_XSETQLIM, PRJQUOTA), dev, (int)projid, (void *)&d) < 0)
		return berth_error_errno(err, BERTH_STOR_ERR_NOT_SUPPORTED, "set project quota");
	/* path is <stage>/diff: record the id beside it */
	snprintf(qpath, sizeof(qpath), "%.*s/quota", (int)(strrchr(path, '/') - path), path);
	snprintf(buf, sizeof(buf), "%u %llu\n", projid, (unsigned long long)size);
	return berth_write_file_atomic_at(dirfd, qpath, buf, strlen(buf), 0600, false, err);
}
