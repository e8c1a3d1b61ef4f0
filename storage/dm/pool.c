/* SPDX-License-Identifier: Apache-2.0 */
/* The thin pool: thin device messages and activation, pool status and the free-space guard,
 * validating the configured block devices (or loop files), creating or adopting the pool. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#include "berth/archive.h"
#include "berth/cleanup.h"
#include "berth/dm.h"
#include "berth/exec.h"
#include "berth/fault.h"
#include "berth/file.h"
#include "berth/fs.h"
#include "berth/json.h"
#include "berth/log.h"
#include "dm-internal.h"

int berth_dmset_thin_delete(struct berth_dmset *s, uint32_t devid, berth_error *err)
{
	char msg[64];
	int r;

	snprintf(msg, sizeof(msg), "delete %u", devid);
	r = berth_dm_message(s->pool, msg, err);
	if (r == -ENODATA) { /* already gone */
		berth_error_clear(err);
		return 0;
	}
	return r;
}

int berth_dmset_activate(struct berth_dmset *s, uint32_t devid, uint64_t size, berth_error *err)
{
	char name[160], params[64];
	struct berth_dm_info info;
	int r;

	berth_dmset_dev_name(s, devid, name, sizeof(name));
	r = berth_dm_info(name, &info, err);
	if (r < 0)
		return r;
	if (info.exists) {
		if (info.suspended)
			return berth_dm_resume(name, err);
		return 0;
	}
	snprintf(params, sizeof(params), "%u:%u %u", s->pool_major, s->pool_minor, devid);
	return berth_dm_create(name, size / SECTOR, "thin", params, false, err);
}

int berth_dmset_deactivate(struct berth_dmset *s, uint32_t devid, bool deferred, berth_error *err)
{
	char name[160];

	berth_dmset_dev_name(s, devid, name, sizeof(name));
	return berth_dm_remove(name, deferred, err);
}

int berth_dmset_pool_status(struct berth_dmset *s, struct berth_dm_pool_status *st, berth_error *err)
{
	_cleanup_free_ char *target = NULL, *params = NULL;
	int r;

	r = berth_dm_status(s->pool, false, NULL, &target, &params, err);
	if (r < 0)
		return r;
	if (!STREQ(target, "thin-pool"))
		return berth_error_set(err, BERTH_STOR_ERR_WRONG_FS, EINVAL,
				       "%s is a %s device, not a thin-pool", s->pool, target);
	if (berth_dm_pool_status_parse(params, st) < 0)
		return berth_error_set(err, BERTH_ERR_IO, EIO,
				       "cannot parse status of pool %s: %s", s->pool, params);
	return 0;
}

/* Refuse new devices when the pool is below the configured free space. */
int berth_dmset_space_guard(struct berth_dmset *s, berth_error *err)
{
	struct berth_dm_pool_status st;
	unsigned pct = s->cfg->min_free_space;
	int r;

	r = berth_dmset_pool_status(s, &st, err);
	if (r < 0)
		return r;
	if (st.failed || st.needs_check)
		return berth_error_set(err, BERTH_ERR_IO, EIO,
				       "thin pool %s has failed or needs a check", s->pool);
	if (st.out_of_space || st.read_only)
		return berth_error_set(err, BERTH_STOR_ERR_NO_SPACE, ENOSPC,
				       "thin pool %s is %s", s->pool, st.mode);
	if ((st.data_total - st.data_used) * 100 < st.data_total * pct)
		return berth_error_set(err, BERTH_STOR_ERR_NO_SPACE, ENOSPC,
				       "thin pool %s: data space %" PRIu64 "/%" PRIu64
				       " blocks used, less than min_free_space=%u%% free",
				       s->pool, st.data_used, st.data_total, pct);
	if ((st.meta_total - st.meta_used) * 100 < st.meta_total * pct)
		return berth_error_set(err, BERTH_STOR_ERR_NO_SPACE, ENOSPC,
				       "thin pool %s: metadata space %" PRIu64 "/%" PRIu64
				       " blocks used, less than min_free_space=%u%% free",
				       s->pool, st.meta_used, st.meta_total, pct);
	return 0;
}

/* A named device must exist, be a block device and not be held by anyone (O_EXCL). */
static int check_blkdev(const char *key, const char *path, bool excl, struct blkdev *ret,
			berth_error *err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (stat(path, &st) < 0)
		return berth_error_errno(err, BERTH_ERR_INVALID_CONFIG, "options.%s: %s", key,
					 path);
	if (!S_ISBLK(st.st_mode))
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, ENOTBLK,
				       "options.%s: %s is not a block device", key, path);
	fd = open(path, O_RDONLY | O_CLOEXEC | (excl ? O_EXCL : 0));
	if (fd < 0 && errno == EBUSY)
		return berth_error_set(err, BERTH_STOR_ERR_BUSY, EBUSY,
				       "options.%s: %s is in use (mounted, or held by another "
				       "device or program)",
				       key, path);
	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "options.%s: open %s", key, path);
	ret->rdev = st.st_rdev;
	if (ioctl(fd, BLKGETSIZE64, &ret->size) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "options.%s: size of %s", key, path);
	return 0;
}

static int header_is_zero(const char *path, bool *ret, berth_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[4096];
	ssize_t n;

	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", path);
	n = pread(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "read %s", path);
	*ret = true;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i]) {
			*ret = false;
			break;
		}
	return 0;
}

static int zero_header(const char *path, berth_error *err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_EXCL);
	static const char zero[4096];

	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", path);
	if (pwrite(fd, zero, sizeof(zero), 0) != (ssize_t)sizeof(zero) || fsync(fd) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "wipe metadata header of %s", path);
	return 0;
}

static int create_pool(struct berth_dmset *s, const struct blkdev *meta, const struct blkdev *data,
		       berth_error *err)
{
	uint64_t bs = s->block_sectors;
	uint64_t blocks = data->size / SECTOR / bs;
	uint64_t low_water = blocks * s->cfg->min_free_space / 100;
	char params[256];

	if (blocks < 16)
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "data device too small: %" PRIu64 " blocks of %" PRIu64
				       " bytes",
				       blocks, bs * SECTOR);
	snprintf(params, sizeof(params), "%u:%u %u:%u %" PRIu64 " %" PRIu64 " %d error_if_no_space%s",
		 major(meta->rdev), minor(meta->rdev), major(data->rdev), minor(data->rdev), bs,
		 low_water, s->cfg->discard ? 1 : 2, s->cfg->discard ? "" : " ignore_discard");
	berth_log_info("creating thin pool %s: %s", s->pool, params);
	return berth_dm_create(s->pool, blocks * bs, "thin-pool", params, false, err);
}

static int sparse_file(const char *path, uint64_t size, bool *created, berth_error *err)
{
	_cleanup_close_ int fd = -1;

	*created = false;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		*created = fd >= 0;
	}
	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", path);
	if (*created && ftruncate(fd, (off_t)size) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "size %s", path);
	return 0;
}

static int pool_info(struct berth_dmset *s, bool *exists, berth_error *err)
{
	struct berth_dm_info info;
	int r = berth_dm_info(s->pool, &info, err);

	if (r < 0)
		return r;
	*exists = info.exists;
	s->pool_major = info.major;
	s->pool_minor = info.minor;
	return 0;
}

/* An existing pool (ours from an earlier run, or one made by the admin). */
static int adopt_pool(struct berth_dmset *s, bool fresh, berth_error *err)
{
	_cleanup_free_ char *target = NULL, *params = NULL;
	const struct berth_dm_config *c = s->cfg;
	struct berth_dm_pool_table t;
	int r;

	r = berth_dm_status(s->pool, true, NULL, &target, &params, err);
	if (r < 0)
		return r;
	/* the store's backing device exists but cannot hold layers: the wrong-backing-store
	 * code, as overlay on overlay (a missing pool stays an invalid config) */
	if (!STREQ(target, "thin-pool"))
		return berth_error_set(err, BERTH_STOR_ERR_WRONG_FS, EINVAL,
				       "options.pool_name: %s is a %s device, not a thin-pool",
				       s->pool, target);
	if (berth_dm_pool_table_parse(params, &t) < 0)
		return berth_error_set(err, BERTH_ERR_IO, EIO, "cannot parse table of %s: %s",
				       s->pool, params);
	if (c->block_size_set && t.block_sectors * SECTOR != c->block_size)
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "options.block_size: pool %s has a block size of %" PRIu64
				       " bytes, not %" PRIu64,
				       s->pool, t.block_sectors * SECTOR, c->block_size);
	if (c->data_device) {
		struct stat dst, mst;
		char want[64];

		if (stat(c->data_device, &dst) < 0 || stat(c->metadata_device, &mst) < 0)
			return berth_error_errno(err, BERTH_ERR_INVALID_CONFIG,
						 "options.data_device/metadata_device");
		snprintf(want, sizeof(want), "%u:%u", major(dst.st_rdev), minor(dst.st_rdev));
		if (!STREQ(want, t.data_dev))
			return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
					       "options.data_device: pool %s exists on %s, not on %s",
					       s->pool, t.data_dev, c->data_device);
		snprintf(want, sizeof(want), "%u:%u", major(mst.st_rdev), minor(mst.st_rdev));
		if (!STREQ(want, t.metadata_dev))
			return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
					       "options.metadata_device: pool %s exists on %s, not on %s",
					       s->pool, t.metadata_dev, c->metadata_device);
	}
	s->block_sectors = t.block_sectors;
	(void)fresh;
	return 0;
}

/*
 * Check the pool source without side effects: a verb with a bad config creates nothing.
 * Returns 1 when the pool exists already.
 */
int berth_dmset_validate_source(struct berth_dmset *s, bool fresh, struct blkdev *meta,
			   struct blkdev *data, berth_error *err)
{
	const struct berth_dm_config *c = s->cfg;
	bool exists;
	int r;

	r = pool_info(s, &exists, err);
	if (r < 0)
		return r;
	if (exists) {
		r = adopt_pool(s, fresh, err);
		return r < 0 ? r : 1;
	}
	if (c->data_device) {
		bool zero = false;

		r = check_blkdev("data_device", c->data_device, true, data, err);
		if (r < 0)
			return r;
		r = check_blkdev("metadata_device", c->metadata_device, true, meta, err);
		if (r < 0)
			return r;
		if (meta->size < 2 * 1024 * 1024)
			return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
					       "options.metadata_device: %s is too small (2 MiB at "
					       "least)",
					       c->metadata_device);
		if (data->size / SECTOR / s->block_sectors < 16)
			return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
					       "options.data_device: %s is too small for blocks of "
					       "%" PRIu64 " bytes",
					       c->data_device, s->block_sectors * SECTOR);
		if (fresh && !c->force_wipe) {
			r = header_is_zero(c->metadata_device, &zero, err);
			if (r < 0)
				return r;
			if (!zero)
				return berth_error_set(
					err, BERTH_ERR_INVALID_CONFIG, EEXIST,
					"options.metadata_device: %s is not empty; refusing to wipe "
					"it (set force_wipe=true to format it as new thin-pool "
					"metadata)",
					c->metadata_device);
		}
		return 0;
	}
	if (c->allow_loopback)
		return 0;
	if (c->pool_name)
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, ENOENT,
				       "options.pool_name: thin pool %s does not exist (and no "
				       "data_device/metadata_device to create it from)",
				       c->pool_name);
	return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
			       "options: no thin pool configured: set pool_name (an existing "
			       "pool), data_device and metadata_device, or allow_loopback=true "
			       "(development only)");
}

int berth_dmset_setup_pool(struct berth_dmset *s, bool fresh, struct blkdev *meta, struct blkdev *data,
		      berth_error *err)
{
	const struct berth_dm_config *c = s->cfg;
	bool exists;
	int r;

	if (c->data_device) {
		if (fresh) {
			r = zero_header(c->metadata_device, err);
			if (r < 0)
				return r;
		}
		r = create_pool(s, meta, data, err);
	} else {
		_cleanup_free_ char *dir = berth_dmset_pathf("%s/devicemapper", s->root);
		_cleanup_free_ char *df = berth_dmset_pathf("%s/data", dir), *mf = berth_dmset_pathf("%s/metadata", dir);
		_cleanup_free_ char *dl = NULL, *ml = NULL;
		_cleanup_close_ int dfd = -1, mfd = -1;
		bool created;
		struct stat st;

		r = berth_mkdir_p(dir, 0700, err);
		if (r < 0)
			return r;
		if ((r = sparse_file(df, c->loop_data_size, &created, err)) < 0 ||
		    (r = sparse_file(mf, c->loop_metadata_size, &created, err)) < 0)
			return r;
		/* an old metadata file with a fresh deviceset: start over */
		if (fresh && !created && truncate(mf, 0) == 0)
			truncate(mf, (off_t)c->loop_metadata_size);
		if ((r = berth_loop_attach(df, &dfd, &dl, err)) < 0 ||
		    (r = berth_loop_attach(mf, &mfd, &ml, err)) < 0)
			return r;
		if (fstat(dfd, &st) < 0 || ioctl(dfd, BLKGETSIZE64, &data->size) < 0)
			return berth_error_errno(err, BERTH_ERR_IO, "%s", dl);
		data->rdev = st.st_rdev;
		if (fstat(mfd, &st) < 0 || ioctl(mfd, BLKGETSIZE64, &meta->size) < 0)
			return berth_error_errno(err, BERTH_ERR_IO, "%s", ml);
		meta->rdev = st.st_rdev;
		r = create_pool(s, meta, data, err);
		/* the loop devices autoclear once the pool (their only holder) goes */
	}
	if (r < 0)
		return r;
	return pool_info(s, &exists, err);
}
