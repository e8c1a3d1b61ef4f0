/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device set: a thin pool and one thin device per layer.
 *
 * On disk, under root (0700):
 *   .lock                     flock held by every call for its whole run
 *   deviceset.json            the pool, who owns it, the device id allocation mark, the base device
 *   metadata/<id>.json        one per layer: device id, parent, size, state
 *   journal/<devid>.json      an open pool transaction (create or delete), written and synced
 *                             BEFORE the pool message; INIT rolls back what it finds here
 *   deferred/<devid>.json     thin devices whose removal the kernel deferred; GC deletes them
 *   mnt/<id>/                 mount points
 *   devicemapper/{data,metadata}  sparse loop files (allow_loopback only)
 * and under run_root: dm-mounts/<id> holding the mount reference count.
 *
 * Device ids are allocated from a mark in deviceset.json that is raised (and synced) before the
 * id is used, so in a pool we created every thin device has an id below the mark: GC finds leaked
 * ones by probing the ids the metadata does not account for.
 */
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
#include "berth/json.h"
#include "berth/log.h"

#define MAX_DEVID ((1u << 24) - 1)
#define SECTOR ((uint64_t)512)

struct layer {
	char id[160];
	char parent[160]; /* "" = on the base */
	uint32_t devid;
	uint64_t size;
	char state[16]; /* "ready", "applying" */
	bool applied;   /* APPLY_DIFF has filled it */
};

struct berth_dmset {
	char *root, *run_root;
	int lockfd;
	const struct berth_dm_config *cfg;
	char prefix[32]; /* berth-<hash of root> */
	char pool[128];
	unsigned pool_major, pool_minor;
	bool owned_pool;
	uint64_t block_sectors;
	json_t *state; /* deviceset.json */
	json_t *done;  /* what open's recovery removed, reported by GC */
	bool exclusive, no_wait;
};

void berth_dm_crash_point(const char *point)
{
	const char *want = getenv("BERTH_DM_CRASH");

	if (want && STREQ(want, point)) {
		berth_log_warn("BERTH_DM_CRASH=%s: killing myself", point);
		raise(SIGKILL);
	}
}

/* ---- small helpers ---- */

static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *pathf(const char *fmt, ...)
{
	va_list ap;
	char *p = NULL;

	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		p = NULL;
	va_end(ap);
	if (!p)
		abort(); /* paths are short; out of memory here is not recoverable anyway */
	return p;
}

static void dev_name(const struct berth_dmset *s, uint32_t devid, char *buf, size_t len)
{
	snprintf(buf, len, "%s-%u", s->prefix, devid);
}

static int fsync_dir(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		return -errno;
	return 0;
}

static int save_json(const char *path, json_t *j, bool sync, berth_error *err)
{
	_cleanup_free_ char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	int r;

	if (!s)
		return berth_error_set(err, 0, ENOMEM, "out of memory");
	r = berth_write_file_atomic(path, s, strlen(s), 0600, sync, err);
	if (r < 0)
		return r;
	if (sync) {
		_cleanup_free_ char *dir = strdup(path);
		char *slash = dir ? strrchr(dir, '/') : NULL;
		if (slash) {
			*slash = '\0';
			fsync_dir(dir);
		}
	}
	return 0;
}

static int load_json(const char *path, json_t **ret, berth_error *err)
{
	if (access(path, F_OK) < 0) {
		*ret = NULL;
		return errno == ENOENT ? 0 : berth_error_errno(err, BERTH_CNI_ERR_IO, "%s", path);
	}
	return berth_json_load_file(path, ret, err) < 0 ? berth_error_ret(err) : 1;
}

static int unlink_sync(const char *path)
{
	_cleanup_free_ char *dir = strdup(path);
	char *slash = dir ? strrchr(dir, '/') : NULL;

	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	if (slash) {
		*slash = '\0';
		fsync_dir(dir);
	}
	return 0;
}

static uint64_t jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

static const char *jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

static int run_tool(const char *name, const char *const *args, berth_error *err)
{
	_cleanup_free_ char *path = NULL, *out = NULL, *errout = NULL;
	const char *argv[32];
	size_t n = 0;
	int status = 0, r;

	r = berth_find_in_path(name, "/usr/sbin:/sbin:/usr/bin:/bin:/usr/local/sbin", &path, err);
	if (r < 0)
		return berth_error_set(err, BERTH_STOR_ERR_NOT_SUPPORTED, ENOENT,
				       "%s not found (install e2fsprogs/xfsprogs)", name);
	argv[n++] = path;
	for (; *args && n < ARRAY_SIZE(argv) - 1; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	struct berth_exec_opts o = { .argv = argv, .timeout_ms = 30 * 60 * 1000, .extra_fd = -1 };
	r = berth_exec(&o, &status, &out, &errout, err);
	if (r < 0)
		return r;
	if (status != 0) {
		size_t l = errout ? strlen(errout) : 0;
		while (l && (errout[l - 1] == '\n' || errout[l - 1] == ' '))
			errout[--l] = '\0';
		return berth_error_set(err, BERTH_CNI_ERR_IO, EIO, "%s failed (status %d): %.400s",
				       name, status, errout && *errout ? errout : "");
	}
	return 0;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DP || flag == FTW_D)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* Remove a tree of our own (no symlinks followed, no other filesystems entered). */
static void rm_rf(const char *path)
{
	nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* ---- layer metadata ---- */

static int layer_path_ok(const char *id)
{
	return id && *id && !strchr(id, '/') && !STREQ(id, ".") && !STREQ(id, "..") &&
	       strlen(id) < sizeof(((struct layer *)0)->id);
}

static int read_layer(struct berth_dmset *s, const char *id, struct layer *ret, berth_error *err)
{
	_cleanup_free_ char *p = NULL;
	_cleanup_json_ json_t *j = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!layer_path_ok(id))
		return -ENOENT;
	p = pathf("%s/metadata/%s.json", s->root, id);
	r = load_json(p, &j, err);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENOENT;
	snprintf(ret->id, sizeof(ret->id), "%s", id);
	snprintf(ret->parent, sizeof(ret->parent), "%s", jstr(j, "parent") ? jstr(j, "parent") : "");
	snprintf(ret->state, sizeof(ret->state), "%s", jstr(j, "state") ? jstr(j, "state") : "");
	ret->applied = json_is_true(json_object_get(j, "applied"));
	ret->devid = (uint32_t)jint(j, "device_id");
	ret->size = jint(j, "size");
	if (ret->devid == 0 || ret->size == 0)
		return berth_error_set(err, BERTH_CNI_ERR_IO, EUCLEAN, "%s: corrupt metadata", p);
	return 0;
}

static int write_layer(struct berth_dmset *s, const struct layer *l, berth_error *err)
{
	_cleanup_free_ char *p = pathf("%s/metadata/%s.json", s->root, l->id);
	_cleanup_json_ json_t *j = json_object();

	json_object_set_new(j, "id", json_string(l->id));
	json_object_set_new(j, "parent", l->parent[0] ? json_string(l->parent) : json_null());
	json_object_set_new(j, "device_id", json_integer(l->devid));
	json_object_set_new(j, "size", json_integer((json_int_t)l->size));
	json_object_set_new(j, "state", json_string(l->state));
	json_object_set_new(j, "applied", json_boolean(l->applied));
	json_object_set_new(j, "fs", json_string(s->cfg->fs == BERTH_DM_FS_XFS ? "xfs" : "ext4"));
	return save_json(p, j, true, err);
}

/* All layers (unsorted).  Caller frees *ret. */
static int all_layers(struct berth_dmset *s, struct layer **ret, size_t *ret_n, berth_error *err)
{
	_cleanup_free_ char *dir = pathf("%s/metadata", s->root);
	_cleanup_closedir_ DIR *d = opendir(dir);
	_cleanup_free_ struct layer *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	if (!d)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "open %s", dir);
	while ((de = readdir(d))) {
		char id[200];
		size_t len = strlen(de->d_name);
		int r;

		if (len < 6 || !STREQ(de->d_name + len - 5, ".json") || de->d_name[0] == '.')
			continue;
		snprintf(id, sizeof(id), "%.*s", (int)(len - 5), de->d_name);
		if (n == cap) {
			struct layer *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));
			if (!nv)
				return berth_error_set(err, 0, ENOMEM, "out of memory");
			v = nv;
		}
		r = read_layer(s, id, &v[n], err);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		n++;
	}
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

/* ---- deviceset.json and id allocation ---- */

static int save_state(struct berth_dmset *s, berth_error *err)
{
	_cleanup_free_ char *p = pathf("%s/deviceset.json", s->root);
	return save_json(p, s->state, true, err);
}

/* Raise the allocation mark on disk before the id is used, so it covers every id that can
 * exist in the pool. */
static int alloc_devid(struct berth_dmset *s, uint32_t *ret, berth_error *err)
{
	uint64_t next = jint(s->state, "next_device_id");

	if (next == 0 || next > MAX_DEVID)
		return berth_error_set(err, BERTH_STOR_ERR_NO_SPACE, ENOSPC,
				       "thin device ids exhausted (the pool allows %u)", MAX_DEVID);
	json_object_set_new(s->state, "next_device_id", json_integer((json_int_t)next + 1));
	*ret = (uint32_t)next;
	return save_state(s, err);
}

static char *journal_path(struct berth_dmset *s, uint32_t devid)
{
	return pathf("%s/journal/%u.json", s->root, devid);
}

static int journal_open(struct berth_dmset *s, const char *op, uint32_t devid, const char *id,
			uint32_t origin, berth_error *err)
{
	_cleanup_free_ char *p = journal_path(s, devid);
	_cleanup_json_ json_t *j = json_object();

	json_object_set_new(j, "op", json_string(op));
	json_object_set_new(j, "device_id", json_integer(devid));
	json_object_set_new(j, "id", json_string(id ? id : ""));
	json_object_set_new(j, "origin", json_integer(origin));
	return save_json(p, j, true, err);
}

static void journal_close(struct berth_dmset *s, uint32_t devid)
{
	_cleanup_free_ char *p = journal_path(s, devid);
	unlink_sync(p);
}

/* ---- thin devices ---- */

static int thin_delete(struct berth_dmset *s, uint32_t devid, berth_error *err)
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

static int activate(struct berth_dmset *s, uint32_t devid, uint64_t size, berth_error *err)
{
	char name[160], params[64];
	struct berth_dm_info info;
	int r;

	dev_name(s, devid, name, sizeof(name));
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

static int deactivate(struct berth_dmset *s, uint32_t devid, bool deferred, berth_error *err)
{
	char name[160];

	dev_name(s, devid, name, sizeof(name));
	return berth_dm_remove(name, deferred, err);
}

/* ---- pool ---- */

static int pool_status(struct berth_dmset *s, struct berth_dm_pool_status *st, berth_error *err)
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
		return berth_error_set(err, BERTH_CNI_ERR_IO, EIO,
				       "cannot parse status of pool %s: %s", s->pool, params);
	return 0;
}

/* Refuse new devices when the pool is below the configured free space. */
static int space_guard(struct berth_dmset *s, berth_error *err)
{
	struct berth_dm_pool_status st;
	unsigned pct = s->cfg->min_free_space;
	int r;

	r = pool_status(s, &st, err);
	if (r < 0)
		return r;
	if (st.failed || st.needs_check)
		return berth_error_set(err, BERTH_CNI_ERR_IO, EIO,
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

struct blkdev {
	dev_t rdev;
	uint64_t size;
};

/* A named device must exist, be a block device and not be held by anyone (O_EXCL). */
static int check_blkdev(const char *key, const char *path, bool excl, struct blkdev *ret,
			berth_error *err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (stat(path, &st) < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_INVALID_CONFIG, "options.%s: %s", key,
					 path);
	if (!S_ISBLK(st.st_mode))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ENOTBLK,
				       "options.%s: %s is not a block device", key, path);
	fd = open(path, O_RDONLY | O_CLOEXEC | (excl ? O_EXCL : 0));
	if (fd < 0 && errno == EBUSY)
		return berth_error_set(err, BERTH_STOR_ERR_BUSY, EBUSY,
				       "options.%s: %s is in use (mounted, or held by another "
				       "device or program)",
				       key, path);
	if (fd < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "options.%s: open %s", key, path);
	ret->rdev = st.st_rdev;
	if (ioctl(fd, BLKGETSIZE64, &ret->size) < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "options.%s: size of %s", key, path);
	return 0;
}

static int header_is_zero(const char *path, bool *ret, berth_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[4096];
	ssize_t n;

	if (fd < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "open %s", path);
	n = pread(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "read %s", path);
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
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "open %s", path);
	if (pwrite(fd, zero, sizeof(zero), 0) != (ssize_t)sizeof(zero) || fsync(fd) < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "wipe metadata header of %s", path);
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
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
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
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "open %s", path);
	if (*created && ftruncate(fd, (off_t)size) < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "size %s", path);
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
		return berth_error_set(err, BERTH_CNI_ERR_IO, EIO, "cannot parse table of %s: %s",
				       s->pool, params);
	if (c->block_size_set && t.block_sectors * SECTOR != c->block_size)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "options.block_size: pool %s has a block size of %" PRIu64
				       " bytes, not %" PRIu64,
				       s->pool, t.block_sectors * SECTOR, c->block_size);
	if (c->data_device) {
		struct stat dst, mst;
		char want[64];

		if (stat(c->data_device, &dst) < 0 || stat(c->metadata_device, &mst) < 0)
			return berth_error_errno(err, BERTH_CNI_ERR_INVALID_CONFIG,
						 "options.data_device/metadata_device");
		snprintf(want, sizeof(want), "%u:%u", major(dst.st_rdev), minor(dst.st_rdev));
		if (!STREQ(want, t.data_dev))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "options.data_device: pool %s exists on %s, not on %s",
					       s->pool, t.data_dev, c->data_device);
		snprintf(want, sizeof(want), "%u:%u", major(mst.st_rdev), minor(mst.st_rdev));
		if (!STREQ(want, t.metadata_dev))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
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
static int validate_source(struct berth_dmset *s, bool fresh, struct blkdev *meta,
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
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "options.metadata_device: %s is too small (2 MiB at "
					       "least)",
					       c->metadata_device);
		if (data->size / SECTOR / s->block_sectors < 16)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "options.data_device: %s is too small for blocks of "
					       "%" PRIu64 " bytes",
					       c->data_device, s->block_sectors * SECTOR);
		if (fresh && !c->force_wipe) {
			r = header_is_zero(c->metadata_device, &zero, err);
			if (r < 0)
				return r;
			if (!zero)
				return berth_error_set(
					err, BERTH_CNI_ERR_INVALID_CONFIG, EEXIST,
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
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, ENOENT,
				       "options.pool_name: thin pool %s does not exist (and no "
				       "data_device/metadata_device to create it from)",
				       c->pool_name);
	return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
			       "options: no thin pool configured: set pool_name (an existing "
			       "pool), data_device and metadata_device, or allow_loopback=true "
			       "(development only)");
}

static int setup_pool(struct berth_dmset *s, bool fresh, struct blkdev *meta, struct blkdev *data,
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
		_cleanup_free_ char *dir = pathf("%s/devicemapper", s->root);
		_cleanup_free_ char *df = pathf("%s/data", dir), *mf = pathf("%s/metadata", dir);
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
			return berth_error_errno(err, BERTH_CNI_ERR_IO, "%s", dl);
		data->rdev = st.st_rdev;
		if (fstat(mfd, &st) < 0 || ioctl(mfd, BLKGETSIZE64, &meta->size) < 0)
			return berth_error_errno(err, BERTH_CNI_ERR_IO, "%s", ml);
		meta->rdev = st.st_rdev;
		r = create_pool(s, meta, data, err);
		/* the loop devices autoclear once the pool (their only holder) goes */
	}
	if (r < 0)
		return r;
	return pool_info(s, &exists, err);
}

/* ---- journal recovery, deferred deletion ---- */

static bool is_mountpoint(const char *path);

/* Take down the mount a killed call left on mnt/NAME (the growth step of CREATE, the
 * lost+found removal of the base), so that the device under it can be deactivated; then drop
 * the directory.  Called only for ids that have no layer. */
static void drop_stale_mount(struct berth_dmset *s, const char *name)
{
	_cleanup_free_ char *mnt = NULL;

	if (!layer_path_ok(name))
		return;
	mnt = pathf("%s/mnt/%s", s->root, name);
	if (is_mountpoint(mnt) && umount2(mnt, 0) < 0)
		umount2(mnt, MNT_DETACH);
	rmdir(mnt);
}

/* Undo what a killed CREATE did around its half-made device.  A kill between the suspend of an
 * active origin and its resume (around create_snap) leaves the parent suspended: its
 * filesystem frozen, every write to it hanging.  Nothing else resumes it (MOUNT of a mounted
 * layer only counts a reference), so recovery must. */
static void undo_create(struct berth_dmset *s, const char *id, uint32_t origin)
{
	struct berth_dm_info info;
	berth_error e = { 0 };
	struct layer l;
	char name[160];

	if (origin) {
		dev_name(s, origin, name, sizeof(name));
		if (berth_dm_info(name, &info, &e) == 0 && info.exists && info.suspended) {
			berth_log_warn("resuming %s, left suspended by an interrupted CREATE", name);
			berth_dm_resume(name, &e);
		}
		berth_error_clear(&e);
	}
	/* the base is made with origin 0 and mounted on mnt/.base; a layer on mnt/<id> */
	if (!origin && id && STREQ(id, "base"))
		drop_stale_mount(s, ".base");
	else if (id && *id && read_layer(s, id, &l, &e) == -ENOENT)
		drop_stale_mount(s, id);
}

static int recover_journal(struct berth_dmset *s, json_t *removed, json_t *errors)
{
	_cleanup_free_ char *dir = pathf("%s/journal", s->root);
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		_cleanup_free_ char *p = NULL;
		_cleanup_json_ json_t *j = NULL;
		berth_error e = { 0 };
		struct layer l;
		uint32_t devid;
		const char *op, *id;
		int r;

		if (de->d_name[0] == '.' || !strstr(de->d_name, ".json"))
			continue;
		p = pathf("%s/%s", dir, de->d_name);
		if (load_json(p, &j, &e) <= 0) {
			unlink(p);
			continue;
		}
		devid = (uint32_t)jint(j, "device_id");
		op = jstr(j, "op");
		id = jstr(j, "id");
		if (op && STREQ(op, "create") && id && *id && read_layer(s, id, &l, &e) == 0 &&
		    l.devid == devid) {
			/* the metadata made it: the transaction completed */
			journal_close(s, devid);
			continue;
		}
		if (op && STREQ(op, "create") && id && STREQ(id, "base") &&
		    jint(json_object_get(s->state, "base"), "device_id") == devid) {
			journal_close(s, devid);
			continue;
		}
		/* roll back: the device may or may not have been made in the pool */
		berth_log_warn("recovering open transaction %s of device %u (%s)", op ? op : "?",
			       devid, id ? id : "");
		if (op && STREQ(op, "create"))
			undo_create(s, id, (uint32_t)jint(j, "origin"));
		berth_error_clear(&e);
		deactivate(s, devid, false, &e);
		berth_error_clear(&e);
		r = thin_delete(s, devid, &e);
		if (r < 0) {
			if (errors)
				json_array_append_new(errors, json_string(e.msg));
			continue;
		}
		if (op && STREQ(op, "delete") && id && read_layer(s, id, &l, &e) == 0 &&
		    l.devid == devid) {
			_cleanup_free_ char *mp = pathf("%s/metadata/%s.json", s->root, id);
			unlink_sync(mp);
		}
		/* a REMOVE killed before its last step left the layer's mount point */
		berth_error_clear(&e);
		if (op && STREQ(op, "delete") && id && read_layer(s, id, &l, &e) == -ENOENT)
			drop_stale_mount(s, id);
		journal_close(s, devid);
		if (removed)
			json_array_append_new(removed, json_sprintf("thin:%u", devid));
	}
	return 0;
}

static int record_deferred(struct berth_dmset *s, const struct layer *l, berth_error *err)
{
	_cleanup_free_ char *p = pathf("%s/deferred/%u.json", s->root, l->devid);
	_cleanup_json_ json_t *j = json_object();

	json_object_set_new(j, "device_id", json_integer(l->devid));
	json_object_set_new(j, "id", json_string(l->id));
	json_object_set_new(j, "since", json_integer((json_int_t)time(NULL)));
	return save_json(p, j, true, err);
}

static int set_refs(struct berth_dmset *s, const char *id, int n, berth_error *err);

/* The layer of a deferred record whose metadata is still there: a REMOVE killed between
 * recording the deferral and unlinking the metadata.  Returns the layer id or NULL. */
static const char *deferred_unfinished(struct berth_dmset *s, json_t *rec, uint32_t devid)
{
	const char *id = jstr(rec, "id");
	berth_error e = { 0 };
	struct layer l;

	if (id && read_layer(s, id, &l, &e) == 0 && l.devid == devid)
		return id;
	return NULL;
}

/* Whether a deferred record still has its layer's metadata (see deferred_unfinished). */
static bool deferred_needs_recovery(struct berth_dmset *s)
{
	_cleanup_free_ char *dir = pathf("%s/deferred", s->root);
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		_cleanup_free_ char *p = NULL;
		_cleanup_json_ json_t *j = NULL;
		berth_error e = { 0 };
		unsigned long devid;
		char *end;

		devid = strtoul(de->d_name, &end, 10);
		if (de->d_name[0] == '.' || !STREQ(end, ".json") || devid == 0)
			continue;
		p = pathf("%s/%s", dir, de->d_name);
		if (load_json(p, &j, &e) > 0 && deferred_unfinished(s, j, (uint32_t)devid))
			return true;
	}
	return false;
}

/* Delete thin devices whose deferred removal the kernel has finished.  A REMOVE killed after
 * recording the deferral but before unlinking the metadata is rolled forward first: its layer
 * would otherwise stay visible while GC deletes the thin device under it. */
static int finish_deferred(struct berth_dmset *s, json_t *removed, json_t *pending)
{
	_cleanup_free_ char *dir = pathf("%s/deferred", s->root);
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		_cleanup_free_ char *p = NULL;
		_cleanup_json_ json_t *j = NULL;
		char name[160];
		struct berth_dm_info info;
		berth_error e = { 0 };
		unsigned long devid;
		const char *id;
		char *end;

		devid = strtoul(de->d_name, &end, 10);
		if (de->d_name[0] == '.' || !STREQ(end, ".json") || devid == 0)
			continue;
		p = pathf("%s/%s", dir, de->d_name);
		if (load_json(p, &j, &e) > 0 && (id = deferred_unfinished(s, j, (uint32_t)devid))) {
			_cleanup_free_ char *mp = pathf("%s/metadata/%s.json", s->root, id);
			_cleanup_free_ char *mnt = pathf("%s/mnt/%s", s->root, id);

			berth_log_warn("finishing the removal of layer %s (device %lu), interrupted "
				       "after its deferral",
				       id, devid);
			set_refs(s, id, 0, &e);
			berth_error_clear(&e);
			deactivate(s, (uint32_t)devid, true, &e);
			berth_error_clear(&e);
			unlink_sync(mp);
			rmdir(mnt);
		}
		berth_error_clear(&e);
		dev_name(s, (uint32_t)devid, name, sizeof(name));
		if (berth_dm_info(name, &info, &e) < 0 || info.exists) {
			if (pending)
				json_array_append_new(pending, json_sprintf("thin:%lu", devid));
			continue;
		}
		if (thin_delete(s, (uint32_t)devid, &e) < 0) {
			if (pending)
				json_array_append_new(pending, json_sprintf("thin:%lu", devid));
			continue;
		}
		unlink_sync(p);
		if (removed)
			json_array_append_new(removed, json_sprintf("thin:%lu", devid));
	}
	return 0;
}

/* ---- filesystems and mounts ---- */

static const char *fs_name(const struct berth_dmset *s)
{
	return s->cfg->fs == BERTH_DM_FS_XFS ? "xfs" : "ext4";
}

static int make_fs(struct berth_dmset *s, const char *dev, berth_error *err)
{
	const char *args[24];
	_cleanup_free_ char *extra = s->cfg->mkfs_options ? strdup(s->cfg->mkfs_options) : NULL;
	size_t n = 0;
	char *save = NULL;
	int r;

	if (s->cfg->fs == BERTH_DM_FS_XFS) {
		args[n++] = "-q";
		args[n++] = "-f";
		args[n++] = "-K"; /* no discard: a fresh thin device has nothing to discard */
	} else {
		args[n++] = "-t";
		args[n++] = "ext4";
		args[n++] = "-q";
		args[n++] = "-F";
		args[n++] = "-E";
		/* An unprovisioned thin block reads as zeros, so the inode tables need no
		 * zeroing now or later (assume_storage_prezeroed, e2fsprogs >= 1.47). */
		args[n++] = "nodiscard,lazy_itable_init=1,assume_storage_prezeroed=1";
	}
	for (char *t = extra ? strtok_r(extra, " ", &save) : NULL; t && n < 20;
	     t = strtok_r(NULL, " ", &save))
		args[n++] = t;
	args[n++] = dev;
	args[n] = NULL;
	if (s->cfg->fs == BERTH_DM_FS_XFS)
		return run_tool("mkfs.xfs", args, err);
	r = run_tool("mke2fs", args, err);
	if (r < 0 && strstr(err->msg, "assume_storage_prezeroed")) {
		/* older e2fsprogs */
		berth_error_clear(err);
		args[5] = "nodiscard,lazy_itable_init=0,lazy_journal_init=1";
		r = run_tool("mke2fs", args, err);
	}
	return r;
}

static char *mount_data(struct berth_dmset *s, const char *label)
{
	char *d = NULL;
	const char *extra = s->cfg->mount_options ? s->cfg->mount_options : "";
	const char *base = s->cfg->fs == BERTH_DM_FS_XFS ? "nouuid" : "";

	if (asprintf(&d, "%s%s%s%s%s%s", base, *base && *extra ? "," : "", extra,
		     label && *label ? (*base || *extra ? ",context=\"" : "context=\"") : "",
		     label && *label ? label : "", label && *label ? "\"" : "") < 0)
		abort();
	return d;
}

static bool is_mountpoint(const char *path)
{
	struct stat a, b;
	_cleanup_free_ char *parent = pathf("%s/..", path);

	if (stat(path, &a) < 0 || stat(parent, &b) < 0)
		return false;
	return a.st_dev != b.st_dev || a.st_ino == b.st_ino;
}

static int do_mount(struct berth_dmset *s, uint32_t devid, const char *path, bool ro,
		    const char *label, berth_error *err)
{
	_cleanup_free_ char *data = mount_data(s, label);
	char dev[200], name[160];

	dev_name(s, devid, name, sizeof(name));
	snprintf(dev, sizeof(dev), "/dev/mapper/%s", name);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "mkdir %s", path);
	if (mount(dev, path, fs_name(s), ro ? MS_RDONLY : 0, data) < 0)
		return berth_error_errno(err, errno == ENOSPC ? BERTH_STOR_ERR_NO_SPACE
							      : BERTH_CNI_ERR_IO,
					 "mount %s on %s (%s, \"%s\")", dev, path, fs_name(s),
					 data);
	return 0;
}

static int base_mount_grow(struct berth_dmset *s, uint32_t devid, const char *mnt,
			   const char *fault_point, berth_error *err)
{
	char name[160], dev[200];
	int r;

	dev_name(s, devid, name, sizeof(name));
	snprintf(dev, sizeof(dev), "/dev/mapper/%s", name);
	r = do_mount(s, devid, mnt, false, NULL, err);
	if (r < 0)
		return r;
	BERTH_FAULT_POINT(fault_point);
	/* Online growth: resize2fs and xfs_growfs both grow a mounted filesystem. */
	if (s->cfg->fs == BERTH_DM_FS_XFS) {
		const char *a[] = { "-d", mnt, NULL };
		r = run_tool("xfs_growfs", a, err);
	} else {
		const char *a[] = { dev, NULL };
		r = run_tool("resize2fs", a, err);
	}
	umount2(mnt, MNT_DETACH);
	return r;
}

/* ---- refcounts ---- */

static char *refs_path(struct berth_dmset *s, const char *id)
{
	return pathf("%s/dm-mounts/%s", s->run_root, id);
}

static int get_refs(struct berth_dmset *s, const char *id)
{
	_cleanup_free_ char *p = refs_path(s, id);
	_cleanup_fclose_ FILE *f = fopen(p, "re");
	int n = 0;

	if (!f || fscanf(f, "%d", &n) != 1 || n < 0)
		return 0;
	return n;
}

static int set_refs(struct berth_dmset *s, const char *id, int n, berth_error *err)
{
	_cleanup_free_ char *p = refs_path(s, id);
	char buf[32];

	if (n <= 0) {
		if (unlink(p) < 0 && errno != ENOENT)
			return berth_error_errno(err, BERTH_CNI_ERR_IO, "unlink %s", p);
		return 0;
	}
	snprintf(buf, sizeof(buf), "%d\n", n);
	return berth_write_file_atomic(p, buf, strlen(buf), 0600, false, err);
}

/* ---- base device ---- */

static int create_base(struct berth_dmset *s, berth_error *err)
{
	_cleanup_free_ char *mnt = pathf("%s/mnt/.base", s->root);
	_cleanup_json_ json_t *base = json_object();
	char name[160], dev[200], msg[64];
	uint32_t devid;
	int r;

	/* In an existing pool (an LVM thin pool, or one shared with another root) the first ids
	 * may be taken: skip them, as CREATE does. */
	for (int attempt = 0;; attempt++) {
		r = alloc_devid(s, &devid, err);
		if (r < 0)
			return r;
		r = journal_open(s, "create", devid, "base", 0, err);
		if (r < 0)
			return r;
		BERTH_FAULT_POINT("dm-create-base-after-journal");
		snprintf(msg, sizeof(msg), "create_thin %u", devid);
		r = berth_dm_message(s->pool, msg, err);
		if (r == -EEXIST && attempt < 1000) {
			journal_close(s, devid);
			berth_error_clear(err);
			continue;
		}
		if (r < 0)
			goto fail_journal;
		break;
	}
	BERTH_FAULT_POINT("dm-create-base-after-message");
	r = activate(s, devid, s->cfg->base_size, err);
	if (r < 0)
		goto fail_delete;
	BERTH_FAULT_POINT("dm-create-base-after-activate");
	dev_name(s, devid, name, sizeof(name));
	snprintf(dev, sizeof(dev), "/dev/mapper/%s", name);
	r = make_fs(s, dev, err);
	if (r < 0)
		goto fail_deactivate;
	BERTH_FAULT_POINT("dm-create-base-after-mkfs");
	if (s->cfg->fs == BERTH_DM_FS_EXT4) {
		/* An empty root: no lost+found in every layer and every diff. */
		r = do_mount(s, devid, mnt, false, NULL, err);
		if (r < 0)
			goto fail_deactivate;
		BERTH_FAULT_POINT("dm-create-base-after-mount");
		_cleanup_free_ char *lf = pathf("%s/lost+found", mnt);
		rmdir(lf);
		umount2(mnt, 0);
		rmdir(mnt);
	}
	r = deactivate(s, devid, false, err);
	if (r < 0)
		goto fail_deactivate;
	BERTH_FAULT_POINT("dm-create-base-before-state");
	json_object_set_new(base, "device_id", json_integer(devid));
	json_object_set_new(base, "size", json_integer((json_int_t)s->cfg->base_size));
	json_object_set_new(base, "fs", json_string(fs_name(s)));
	json_object_set(s->state, "base", base);
	r = save_state(s, err);
	if (r < 0)
		goto fail_deactivate;
	journal_close(s, devid);
	return 0;

fail_deactivate:
	umount2(mnt, MNT_DETACH);
	deactivate(s, devid, false, &(berth_error){ 0 });
fail_delete:
	thin_delete(s, devid, &(berth_error){ 0 });
fail_journal:
	journal_close(s, devid);
	return r;
}

static int grow_base(struct berth_dmset *s, berth_error *err)
{
	json_t *base = json_object_get(s->state, "base");
	uint32_t devid = (uint32_t)jint(base, "device_id");
	uint64_t size = jint(base, "size");
	_cleanup_free_ char *mnt = pathf("%s/mnt/.base", s->root);
	int r;

	if (s->cfg->base_size == size)
		return 0;
	if (s->cfg->base_size < size)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "options.base_size: %" PRIu64 " is smaller than the base "
				       "device's %" PRIu64 " bytes; it can grow, not shrink",
				       s->cfg->base_size, size);
	/* a growth killed while the base was mounted left that mount (we hold the exclusive
	 * lock: nobody else uses it); mounting again on top would leave the base open for good */
	drop_stale_mount(s, ".base");
	r = activate(s, devid, s->cfg->base_size, err);
	if (r < 0)
		return r;
	r = base_mount_grow(s, devid, mnt, "dm-init-grow-after-mount", err);
	deactivate(s, devid, false, &(berth_error){ 0 });
	rmdir(mnt);
	if (r < 0)
		return r;
	json_object_set_new(base, "size", json_integer((json_int_t)s->cfg->base_size));
	return save_state(s, err);
}

/* ---- locks ---- */

static int lock_fd(int fd, bool exclusive, bool no_wait, const char *what, berth_error *err)
{
	while (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | (no_wait ? LOCK_NB : 0)) < 0) {
		if (errno == EWOULDBLOCK)
			return berth_error_set(err, BERTH_CNI_ERR_TRY_AGAIN, EAGAIN,
					       "%s is busy with another call (args.noWait)", what);
		if (errno != EINTR)
			return berth_error_errno(err, BERTH_CNI_ERR_IO, "lock %s", what);
	}
	return 0;
}

int berth_dmset_lock_layer(struct berth_dmset *s, const char *id, int *ret_fd, berth_error *err)
{
	_cleanup_free_ char *p = pathf("%s/dm-locks/%s", s->run_root, id);
	_cleanup_close_ int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	int r;

	if (fd < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "open %s", p);
	r = lock_fd(fd, true, s->no_wait, id, err);
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Whether a shared-lock caller must first run the exclusive setup. */
static bool needs_setup(struct berth_dmset *s, bool pool_exists)
{
	_cleanup_free_ char *jdir = pathf("%s/journal", s->root);
	_cleanup_closedir_ DIR *d = NULL;
	json_t *base = json_object_get(s->state, "base");
	struct dirent *de;

	if (!pool_exists || !base || jint(base, "size") != s->cfg->base_size)
		return true;
	d = opendir(jdir);
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			return true;
	return deferred_needs_recovery(s);
}

static int remove_layer(struct berth_dmset *s, const struct layer *l, bool force,
			berth_error *err);
static int unmount_layer(struct berth_dmset *s, const struct layer *l, berth_error *err);

/* Layers a killed APPLY_DIFF left half written (their appliers held the shared lock, so under
 * the exclusive one nobody is still writing them). */
static void remove_incomplete(struct berth_dmset *s, json_t *removed)
{
	_cleanup_free_ struct layer *all = NULL;
	size_t n = 0;
	berth_error e = { 0 };

	if (all_layers(s, &all, &n, &e) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (!STREQ(all[i].state, "applying"))
			continue;
		berth_log_warn("removing layer %s left incomplete by an interrupted APPLY_DIFF",
			       all[i].id);
		unmount_layer(s, &all[i], &e);
		berth_error_clear(&e);
		if (remove_layer(s, &all[i], true, &e) == 0 && removed)
			json_array_append_new(removed, json_string(all[i].id));
		berth_error_clear(&e);
	}
}

/* ---- open / close ---- */

void berth_dmset_close(struct berth_dmset *s)
{
	if (!s)
		return;
	if (s->lockfd >= 0)
		close(s->lockfd);
	json_decref(s->state);
	json_decref(s->done);
	free(s->root);
	free(s->run_root);
	free(s);
}

int berth_dmset_open(const char *root, const char *run_root, const struct berth_dm_config *cfg,
		     bool exclusive, bool no_wait, struct berth_dmset **ret, berth_error *err)
{
	_cleanup_dmset_ struct berth_dmset *s = calloc(1, sizeof(*s));
	_cleanup_free_ char *statep = NULL, *lockp = NULL;
	struct blkdev meta = { 0 }, data = { 0 };
	char ver[64];
	bool fresh, created_pool = false, root_existed;
	int r, exists;

	if (!s)
		return berth_error_set(err, 0, ENOMEM, "out of memory");
	s->lockfd = -1;
	s->cfg = cfg;
	s->exclusive = exclusive;
	s->no_wait = no_wait;
	s->root = strdup(root);
	s->run_root = strdup(run_root);
	if (!s->root || !s->run_root)
		return berth_error_set(err, 0, ENOMEM, "out of memory");
	snprintf(s->prefix, sizeof(s->prefix), "berth-%08x", fnv1a(root));
	if (cfg->pool_name)
		snprintf(s->pool, sizeof(s->pool), "%s", cfg->pool_name);
	else
		snprintf(s->pool, sizeof(s->pool), "%s-pool", s->prefix);
	s->block_sectors = (cfg->block_size_set ? cfg->block_size : 64 * 1024) / SECTOR;

	berth_dm_lib_init(true);
	berth_dm_driver_version(ver, sizeof(ver));
	if (!ver[0])
		return berth_error_set(err, BERTH_STOR_ERR_NOT_SUPPORTED, ENODEV,
				       "device-mapper is not available on this host (dm-mod and "
				       "dm-thin-pool needed)");
	if (!berth_dm_udev_sync_supported()) {
		if (cfg->require_udev_sync)
			return berth_error_set(
				err, BERTH_STOR_ERR_NOT_SUPPORTED, EOPNOTSUPP,
				"udev sync is not available (udev not running, or DM_DISABLE_UDEV "
				"set); set options.require_udev_sync=false to let the driver make "
				"the /dev/mapper nodes itself");
		berth_dm_lib_init(false);
	}

	statep = pathf("%s/deviceset.json", root);
	fresh = access(statep, F_OK) < 0;
	root_existed = access(root, F_OK) == 0;

	/* Everything that can be wrong with the config is found before anything is made. */
	exists = validate_source(s, fresh, &meta, &data, err);
	if (exists < 0)
		return exists;

	r = berth_mkdir_p(root, 0700, err);
	if (r < 0)
		return r;
	lockp = pathf("%s/.lock", root);
	s->lockfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->lockfd < 0)
		return berth_error_errno(err, BERTH_CNI_ERR_IO, "open %s", lockp);
	r = lock_fd(s->lockfd, exclusive || fresh, no_wait, root, err);
	if (r < 0)
		return r;
	fresh = access(statep, F_OK) < 0; /* again, under the lock */
	if (!fresh) {
		r = load_json(statep, &s->state, err);
		if (r < 0)
			return r;
		const char *pool = jstr(s->state, "pool");
		if (pool && !STREQ(pool, s->pool))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "options.pool_name: %s was set up on pool %s, not %s",
					       root, pool, s->pool);
		uint64_t bs = jint(s->state, "block_size");
		if (cfg->block_size_set && bs && bs != cfg->block_size)
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "options.block_size: the pool was made with %" PRIu64
					       " byte blocks",
					       bs);
		if (s->cfg->fs != (STREQ(jstr(json_object_get(s->state, "base"), "fs") ?: "ext4",
					 "xfs")
					   ? BERTH_DM_FS_XFS
					   : BERTH_DM_FS_EXT4) &&
		    json_object_get(s->state, "base"))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "options.fs: the base device has a %s filesystem",
					       jstr(json_object_get(s->state, "base"), "fs"));
		s->owned_pool = json_is_true(json_object_get(s->state, "owned_pool"));
	} else {
		s->state = json_object();
		s->owned_pool = !exists;
		json_object_set_new(s->state, "version", json_integer(1));
		json_object_set_new(s->state, "pool", json_string(s->pool));
		json_object_set_new(s->state, "owned_pool", json_boolean(s->owned_pool));
		json_object_set_new(s->state, "pool_source",
				    json_string(exists ? "existing"
						: cfg->data_device ? "devices"
								   : "loopback"));
		if (cfg->data_device) {
			json_object_set_new(s->state, "data_device", json_string(cfg->data_device));
			json_object_set_new(s->state, "metadata_device",
					    json_string(cfg->metadata_device));
		}
		json_object_set_new(s->state, "next_device_id", json_integer(1));
	}

	json_object_set_new(s->state, "block_size",
			    json_integer((json_int_t)(s->block_sectors * SECTOR)));

	if (!exclusive && !fresh && !needs_setup(s, exists)) {
		/* runRoot may be a tmpfs that was emptied behind our back */
		_cleanup_free_ char *d = pathf("%s/dm-mounts", run_root);
		_cleanup_free_ char *d2 = pathf("%s/dm-locks", run_root);
		if ((r = berth_mkdir_p(d, 0700, err)) < 0 || (r = berth_mkdir_p(d2, 0700, err)) < 0)
			return r;
		s->done = json_array();
		*ret = TAKE_PTR(s);
		return 0;
	}
	if (!exclusive && !fresh) {
		/* setup or recovery to do: take the exclusive lock, then share again */
		struct berth_dmset *ex = NULL;
		berth_dmset_close(TAKE_PTR(s));
		r = berth_dmset_open(root, run_root, cfg, true, no_wait, &ex, err);
		if (r < 0)
			return r;
		ex->exclusive = false;
		r = lock_fd(ex->lockfd, false, no_wait, root, err);
		if (r < 0) {
			berth_dmset_close(ex);
			return r;
		}
		*ret = ex;
		return 0;
	}

	static const char *const subdirs[] = { "metadata", "journal", "deferred", "mnt" };
	for (size_t i = 0; i < ARRAY_SIZE(subdirs); i++) {
		_cleanup_free_ char *d = pathf("%s/%s", root, subdirs[i]);
		if ((r = berth_mkdir_p(d, 0700, err)) < 0)
			goto fail;
	}
	{
		_cleanup_free_ char *d = pathf("%s/dm-mounts", run_root);
		_cleanup_free_ char *d2 = pathf("%s/dm-locks", run_root);
		if ((r = berth_mkdir_p(d, 0700, err)) < 0 || (r = berth_mkdir_p(d2, 0700, err)) < 0)
			goto fail;
	}

	if (!exists) {
		r = setup_pool(s, fresh, &meta, &data, err);
		if (r < 0)
			goto fail;
		created_pool = true;
	}
	if (fresh && (r = save_state(s, err)) < 0)
		goto fail;

	s->done = json_array();
	recover_journal(s, s->done, NULL);
	finish_deferred(s, s->done, NULL);
	remove_incomplete(s, s->done);

	if (!json_object_get(s->state, "base"))
		r = create_base(s, err);
	else
		r = grow_base(s, err);
	if (r < 0)
		goto fail;

	if (!exclusive) {
		r = lock_fd(s->lockfd, false, no_wait, root, err);
		if (r < 0)
			goto fail;
	}
	*ret = TAKE_PTR(s);
	return 0;

fail:
	if (fresh) {
		/* a first INIT that failed leaves nothing behind */
		if (created_pool)
			berth_dm_remove(s->pool, false, &(berth_error){ 0 });
		if (!root_existed)
			rm_rf(root);
	}
	return r;
}

/* ---- verbs ---- */

static int unknown_layer(berth_error *err, const char *id)
{
	return berth_error_set(err, BERTH_CNI_ERR_UNKNOWN_CONTAINER, ENOENT,
			       "layer %.130s does not exist", id);
}

static int read_visible(struct berth_dmset *s, const char *id, struct layer *l, berth_error *err);

/* The device a new layer snapshots: its parent's, or the base's. */
static int origin_of(struct berth_dmset *s, const char *parent, uint32_t *ret_devid,
		     uint64_t *ret_size, berth_error *err)
{
	struct layer p;
	int r;

	if (!parent || !*parent) {
		json_t *base = json_object_get(s->state, "base");
		*ret_devid = (uint32_t)jint(base, "device_id");
		*ret_size = jint(base, "size");
		return 0;
	}
	r = read_visible(s, parent, &p, err);
	if (r == -ENOENT)
		return berth_error_set(err, BERTH_CNI_ERR_UNKNOWN_CONTAINER, ENOENT,
				       "parent layer %.130s does not exist", parent);
	if (r < 0)
		return r;
	*ret_devid = p.devid;
	*ret_size = p.size;
	return 0;
}

/* create_snap needs a quiescent origin: suspend it (which also freezes its filesystem) when
 * it is active. */
static int snapshot(struct berth_dmset *s, uint32_t devid, uint32_t origin, berth_error *err)
{
	char name[160], msg[64];
	struct berth_dm_info info;
	bool suspended = false;
	int r;

	dev_name(s, origin, name, sizeof(name));
	r = berth_dm_info(name, &info, err);
	if (r < 0)
		return r;
	if (info.exists && !info.suspended) {
		r = berth_dm_suspend(name, err);
		if (r < 0)
			return r;
		suspended = true;
		BERTH_FAULT_POINT("dm-create-origin-suspended");
	}
	snprintf(msg, sizeof(msg), "create_snap %u %u", devid, origin);
	r = berth_dm_message(s->pool, msg, err);
	if (r == 0)
		BERTH_FAULT_POINT("dm-create-after-snap");
	if (suspended) {
		berth_error e = { 0 };
		if (berth_dm_resume(name, &e) < 0 && r == 0) {
			*err = e;
			r = berth_error_ret(err);
		}
	}
	return r;
}

int berth_dmset_create(struct berth_dmset *s, const char *id, const char *parent, uint64_t size,
		       berth_error *err)
{
	struct layer l;
	uint32_t origin = 0, devid = 0;
	uint64_t origin_size = 0;
	int r;

	if (!layer_path_ok(id))
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL, "bad layer id");
	r = read_layer(s, id, &l, err);
	if (r == 0)
		return berth_error_set(err, BERTH_STOR_ERR_EXISTS, EEXIST,
				       "layer %.130s already exists", id);
	if (r != -ENOENT)
		return r;
	r = origin_of(s, parent, &origin, &origin_size, err);
	if (r < 0)
		return r;
	if (size && size < origin_size)
		return berth_error_set(err, BERTH_STOR_ERR_NOT_SUPPORTED, EOPNOTSUPP,
				       "args.size: %" PRIu64 " is smaller than the parent's %" PRIu64
				       " bytes; a thin snapshot's filesystem can grow, not shrink",
				       size, origin_size);
	if (size % 4096)
		return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
				       "args.size: must be a multiple of 4096");
	r = space_guard(s, err);
	if (r < 0)
		return r;

	/* An id taken in the pool (an existing pool shared with others, or a leak) is skipped. */
	for (int attempt = 0;; attempt++) {
		r = alloc_devid(s, &devid, err);
		if (r < 0)
			return r;
		r = journal_open(s, "create", devid, id, origin, err);
		if (r < 0)
			return r;
		berth_dm_crash_point("after-journal");
		BERTH_FAULT_POINT("dm-create-after-journal");
		r = snapshot(s, devid, origin, err);
		if (r == -EEXIST && attempt < 1000) {
			journal_close(s, devid);
			berth_error_clear(err);
			continue;
		}
		if (r < 0)
			goto fail_journal;
		break;
	}
	berth_dm_crash_point("after-message");
	BERTH_FAULT_POINT("dm-create-after-message");

	memset(&l, 0, sizeof(l));
	snprintf(l.id, sizeof(l.id), "%s", id);
	snprintf(l.parent, sizeof(l.parent), "%s", parent ? parent : "");
	l.devid = devid;
	l.size = size > origin_size ? size : origin_size;
	snprintf(l.state, sizeof(l.state), "ready");
	if (l.size > origin_size) {
		_cleanup_free_ char *mnt = pathf("%s/mnt/%s", s->root, id);
		r = activate(s, devid, l.size, err);
		if (r == 0) {
			BERTH_FAULT_POINT("dm-create-after-activate");
			r = base_mount_grow(s, devid, mnt, "dm-create-grow-after-mount", err);
		}
		deactivate(s, devid, false, &(berth_error){ 0 });
		rmdir(mnt);
		if (r < 0)
			goto fail_delete;
	}
	BERTH_FAULT_POINT("dm-create-before-metadata");
	r = write_layer(s, &l, err);
	if (r < 0)
		goto fail_delete;
	BERTH_FAULT_POINT("dm-create-after-metadata"); /* committed: recovery keeps the layer */
	journal_close(s, devid);
	return 0;

fail_delete:
	thin_delete(s, devid, &(berth_error){ 0 });
fail_journal:
	journal_close(s, devid);
	return r;
}

/* A layer being applied is not there yet for the protocol. */
static int read_visible(struct berth_dmset *s, const char *id, struct layer *l, berth_error *err)
{
	int r = read_layer(s, id, l, err);

	if (r == 0 && STREQ(l->state, "applying"))
		return -ENOENT;
	return r;
}

bool berth_dmset_exists(struct berth_dmset *s, const char *id)
{
	struct layer l;
	berth_error e = { 0 };

	return read_visible(s, id, &l, &e) == 0;
}

static int remove_layer(struct berth_dmset *s, const struct layer *lp, bool force,
			berth_error *err)
{
	_cleanup_free_ struct layer *all = NULL;
	_cleanup_free_ char *mp = NULL, *mnt = NULL;
	struct layer l = *lp;
	const char *id = l.id;
	size_t n = 0;
	bool deferred = false, journalled = false;
	int r;

	mnt = pathf("%s/mnt/%s", s->root, id);
	if (!force) {
		r = all_layers(s, &all, &n, err);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n; i++)
			if (STREQ(all[i].parent, id))
				return berth_error_set(err, BERTH_STOR_ERR_HAS_CHILDREN, ENOTEMPTY,
						       "layer %.130s has children (%.130s)", id,
						       all[i].id);
		if (get_refs(s, id) > 0 && is_mountpoint(mnt))
			return berth_error_set(err, BERTH_STOR_ERR_BUSY, EBUSY,
					       "layer %.130s is mounted (%d references); unmount "
					       "it first",
					       id, get_refs(s, id));
	}
	set_refs(s, id, 0, &(berth_error){ 0 });

	r = deactivate(s, l.devid, false, err);
	if (r == -EBUSY) {
		/* Held open elsewhere (a mount leaked into another namespace, a process): let
		 * the kernel remove it on last close, delete the thin device later (GC). */
		if (!s->cfg->deferred_removal)
			return r;
		berth_error_clear(err);
		r = record_deferred(s, &l, err);
		if (r < 0)
			return r;
		berth_dm_crash_point("remove-after-record");
		r = deactivate(s, l.devid, true, err);
		if (r < 0)
			return r;
		deferred = true;
	} else if (r < 0) {
		return r;
	}
	BERTH_FAULT_POINT("dm-remove-after-deactivate");

	mp = pathf("%s/metadata/%s.json", s->root, id);
	if (!deferred) {
		journalled = true;
		r = journal_open(s, "delete", l.devid, id, 0, err);
		if (r < 0)
			return r;
		BERTH_FAULT_POINT("dm-remove-after-journal");
		r = thin_delete(s, l.devid, err);
		if (r == -EBUSY && s->cfg->deferred_deletion) {
			berth_error_clear(err);
			r = record_deferred(s, &l, err);
			deferred = true;
		}
		if (r < 0) {
			journal_close(s, l.devid);
			return r;
		}
		BERTH_FAULT_POINT("dm-remove-after-delete");
	}
	r = unlink_sync(mp);
	if (r == 0)
		BERTH_FAULT_POINT("dm-remove-after-metadata");
	/* a deletion deferred after the journal entry: the deferred record carries it on */
	if (journalled)
		journal_close(s, l.devid);
	if (r < 0)
		return berth_error_set(err, BERTH_CNI_ERR_IO, -r, "unlink %s", mp);
	rmdir(mnt);
	return deferred ? 1 : 0;
}

int berth_dmset_remove(struct berth_dmset *s, const char *id, berth_error *err)
{
	struct layer l;
	int r;

	r = read_layer(s, id, &l, err);
	if (r == -ENOENT) {
		berth_error_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	return remove_layer(s, &l, false, err);
}

static int depth_of(const struct layer *all, size_t n, size_t i)
{
	int d = 0;

	for (const char *p = all[i].parent; *p && d < 100000; d++) {
		size_t j;
		for (j = 0; j < n; j++)
			if (STREQ(all[j].id, p))
				break;
		if (j == n)
			break;
		p = all[j].parent;
	}
	return d;
}

int berth_dmset_list(struct berth_dmset *s, json_t **ret, berth_error *err)
{
	_cleanup_free_ struct layer *all = NULL;
	_cleanup_free_ int *depth = NULL;
	size_t n = 0;
	int r, maxd = 0;
	json_t *a;

	r = all_layers(s, &all, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n;) /* hide layers being applied */
		if (STREQ(all[i].state, "applying"))
			all[i] = all[--n];
		else
			i++;
	depth = calloc(n + 1, sizeof(int));
	if (!depth)
		return berth_error_set(err, 0, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		depth[i] = depth_of(all, n, i);
		if (depth[i] > maxd)
			maxd = depth[i];
	}
	a = json_array();
	/* deepest first: every child comes before its parent */
	for (int d = maxd; d >= 0; d--)
		for (size_t i = 0; i < n; i++)
			if (depth[i] == d)
				json_array_append_new(a, json_string(all[i].id));
	*ret = a;
	return 0;
}

int berth_dmset_metadata(struct berth_dmset *s, const char *id, json_t **ret, berth_error *err)
{
	struct layer l;
	char name[160];
	int r;

	r = read_visible(s, id, &l, err);
	if (r == -ENOENT)
		return unknown_layer(err, id);
	if (r < 0)
		return r;
	dev_name(s, l.devid, name, sizeof(name));
	*ret = json_pack("{s:i,s:s,s:s,s:I,s:s,s:s,s:s}", "DeviceId", (int)l.devid, "DeviceName",
			 name, "DevicePath", "", "DeviceSize", (json_int_t)l.size, "Pool", s->pool,
			 "Parent", l.parent, "State", l.state);
	json_object_set_new(*ret, "DevicePath", json_sprintf("/dev/mapper/%s", name));
	json_object_set_new(*ret, "Fs", json_string(fs_name(s)));
	return 0;
}

static int mount_layer(struct berth_dmset *s, const struct layer *l, bool read_only,
		       const char *mount_label, char **ret_path, berth_error *err)
{
	_cleanup_free_ char *mnt = pathf("%s/mnt/%s", s->root, l->id);
	int refs, r;

	refs = get_refs(s, l->id);
	if (refs > 0 && is_mountpoint(mnt)) {
		r = set_refs(s, l->id, refs + 1, err);
		if (r < 0)
			return r;
		*ret_path = TAKE_PTR(mnt);
		return refs + 1;
	}
	r = activate(s, l->devid, l->size, err);
	if (r < 0)
		return r;
	r = do_mount(s, l->devid, mnt, read_only, mount_label, err);
	if (r < 0) {
		deactivate(s, l->devid, false, &(berth_error){ 0 });
		return r;
	}
	r = set_refs(s, l->id, 1, err);
	if (r < 0) {
		umount2(mnt, MNT_DETACH);
		deactivate(s, l->devid, false, &(berth_error){ 0 });
		return r;
	}
	*ret_path = TAKE_PTR(mnt);
	return 1;
}

/* Internal users (diff, usage) mount any ready layer under its layer lock. */
static int mount_id(struct berth_dmset *s, const char *id, int *ret_lock, char **ret_path,
		    berth_error *err)
{
	_cleanup_close_ int lock = -1;
	struct layer l;
	int r;

	r = read_visible(s, id, &l, err);
	if (r == -ENOENT)
		return unknown_layer(err, id);
	if (r < 0)
		return r;
	r = berth_dmset_lock_layer(s, id, &lock, err);
	if (r < 0)
		return r;
	r = mount_layer(s, &l, false, NULL, ret_path, err);
	if (r < 0)
		return r;
	/* our reference keeps it mounted: the lock is not needed while we read it, and
	 * dropping it lets sibling DIFFs share a parent in parallel */
	*ret_lock = -1;
	return 0;
}

int berth_dmset_mount(struct berth_dmset *s, const char *id, bool read_only,
		      const char *mount_label, char **ret_path, berth_error *err)
{
	_cleanup_close_ int lock = -1;
	struct layer l;
	int r;

	r = read_visible(s, id, &l, err);
	if (r == -ENOENT)
		return unknown_layer(err, id);
	if (r < 0)
		return r;
	r = berth_dmset_lock_layer(s, id, &lock, err);
	if (r < 0)
		return r;
	return mount_layer(s, &l, read_only, mount_label, ret_path, err);
}

static int unmount_layer(struct berth_dmset *s, const struct layer *l, berth_error *err)
{
	_cleanup_free_ char *mnt = pathf("%s/mnt/%s", s->root, l->id);
	int r;

	if (is_mountpoint(mnt) && umount2(mnt, 0) < 0) {
		if (errno != EBUSY || umount2(mnt, MNT_DETACH) < 0)
			return berth_error_errno(err, BERTH_CNI_ERR_IO, "unmount %s", mnt);
	}
	set_refs(s, l->id, 0, &(berth_error){ 0 });
	r = deactivate(s, l->devid, s->cfg->deferred_removal, err);
	return r < 0 ? r : 0;
}

static int unmount_ref(struct berth_dmset *s, const struct layer *l, berth_error *err)
{
	int refs = get_refs(s, l->id), r;

	if (refs == 0) {
		/* not mounted by us: leave the device alone (MOUNTS may have activated it for a
		 * caller that mounted it itself; RELEASE, REMOVE and CLEANUP deactivate it) */
		_cleanup_free_ char *mnt = pathf("%s/mnt/%s", s->root, l->id);
		if (!is_mountpoint(mnt))
			return 0;
	}
	if (refs > 1) {
		r = set_refs(s, l->id, refs - 1, err);
		return r < 0 ? r : refs - 1;
	}
	r = unmount_layer(s, l, err);
	return r < 0 ? r : 0;
}

int berth_dmset_unmount(struct berth_dmset *s, const char *id, berth_error *err)
{
	_cleanup_close_ int lock = -1;
	struct layer l;
	int r;

	r = read_layer(s, id, &l, err);
	if (r == -ENOENT) {
		berth_error_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	r = berth_dmset_lock_layer(s, id, &lock, err);
	if (r < 0)
		return r;
	return unmount_ref(s, &l, err);
}

/* MOUNTS: activate the thin device (not counted: once active it stays until RELEASE, REMOVE or
 * CLEANUP) and describe how to mount it.  A device whose removal was deferred by an earlier
 * RELEASE while it was still open is kept: its deferred removal is cancelled. */
int berth_dmset_mounts(struct berth_dmset *s, const char *id, bool read_only, json_t **ret,
		       berth_error *err)
{
	_cleanup_close_ int lock = -1;
	_cleanup_free_ char *extra = NULL;
	struct berth_dm_info info;
	struct layer l;
	char name[160];
	json_t *opts;
	char *save = NULL;
	int r;

	r = read_visible(s, id, &l, err);
	if (r == -ENOENT)
		return unknown_layer(err, id);
	if (r < 0)
		return r;
	r = berth_dmset_lock_layer(s, id, &lock, err);
	if (r < 0)
		return r;
	dev_name(s, l.devid, name, sizeof(name));
	r = berth_dm_info(name, &info, err);
	if (r < 0)
		return r;
	if (info.exists && info.deferred_remove) {
		r = berth_dm_message(name, "@cancel_deferred_remove", err);
		if (r < 0)
			return r;
	}
	r = activate(s, l.devid, l.size, err);
	if (r < 0)
		return r;
	BERTH_FAULT_POINT("dm-mounts-after-activate");
	opts = json_array();
	if (s->cfg->fs == BERTH_DM_FS_XFS)
		json_array_append_new(opts, json_string("nouuid"));
	extra = s->cfg->mount_options ? strdup(s->cfg->mount_options) : NULL;
	for (char *t = extra ? strtok_r(extra, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
		json_array_append_new(opts, json_string(t));
	if (read_only)
		json_array_append_new(opts, json_string("ro"));
	*ret = json_pack("{s:[{s:s,s:s,s:o}],s:b}", "mounts", "type", fs_name(s), "source", "",
			 "options", opts, "activated", true);
	if (!*ret)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	json_object_set_new(json_array_get(json_object_get(*ret, "mounts"), 0), "source",
			    json_sprintf("/dev/mapper/%s", name));
	return 0;
}

/* RELEASE: deactivate what MOUNTS activated, unless the driver itself holds a mount of it.
 * Returns 1 when the kernel deferred the removal (the device is still open). */
int berth_dmset_release(struct berth_dmset *s, const char *id, bool *ret_released,
			berth_error *err)
{
	_cleanup_close_ int lock = -1;
	_cleanup_free_ char *mnt = NULL;
	struct layer l;
	int r;

	*ret_released = false;
	r = read_layer(s, id, &l, err);
	if (r == -ENOENT) {
		berth_error_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	r = berth_dmset_lock_layer(s, id, &lock, err);
	if (r < 0)
		return r;
	mnt = pathf("%s/mnt/%s", s->root, id);
	if (get_refs(s, id) > 0 && is_mountpoint(mnt))
		return 0;
	r = deactivate(s, l.devid, true, err);
	if (r < 0)
		return r;
	*ret_released = true;
	return r;
}

static void unmount_id(struct berth_dmset *s, const char *id, int lock)
{
	struct layer l;
	berth_error e = { 0 };

	if (lock >= 0)
		close(lock);
	lock = -1;
	if (read_layer(s, id, &l, &e) == 0 && berth_dmset_lock_layer(s, id, &lock, &e) == 0)
		unmount_ref(s, &l, &e);
	if (lock >= 0)
		close(lock);
}

int berth_dmset_apply_diff(struct berth_dmset *s, const char *id, int tarfd, uint64_t *ret_size,
			   berth_error *err)
{
	_cleanup_free_ char *mnt = NULL;
	_cleanup_close_ int rootfd = -1, lock = -1;
	struct berth_archive_apply_opts opts = {
		.whiteout = BERTH_ARCHIVE_WHITEOUT_DELETE,
		.sync = true,
	};
	struct berth_archive_apply_stats st = { 0 };
	struct layer l;
	int r, r2;

	r = read_visible(s, id, &l, err);
	if (r == -ENOENT)
		return unknown_layer(err, id);
	if (r < 0)
		return r;
	r = berth_dmset_lock_layer(s, id, &lock, err);
	if (r < 0)
		return r;
	/* Only into a fresh layer: applying twice would merge two diffs silently. */
	if (l.applied)
		return berth_error_set(err, BERTH_STOR_ERR_EXISTS, EEXIST,
				       "layer %.130s already has content", id);
	snprintf(l.state, sizeof(l.state), "applying");
	r = write_layer(s, &l, err);
	if (r < 0)
		return r;
	BERTH_FAULT_POINT("dm-apply-after-state");
	r = mount_layer(s, &l, false, NULL, &mnt, err);
	if (r >= 0) {
		BERTH_FAULT_POINT("dm-apply-after-mount");
		rootfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rootfd < 0)
			r = berth_error_errno(err, BERTH_CNI_ERR_IO, "open %s", mnt);
		else
			r = berth_archive_apply(rootfd, tarfd, &opts, &st, err);
		if (rootfd >= 0) {
			close(rootfd);
			rootfd = -1;
		}
		r2 = unmount_ref(s, &l, r < 0 ? &(berth_error){ 0 } : err);
		if (r >= 0 && r2 < 0)
			r = r2;
		if (r >= 0)
			BERTH_FAULT_POINT("dm-apply-after-unmount");
	}
	if (r < 0) {
		/* A layer that failed to apply is useless and maybe hostile: it goes now,
		 * under the exclusive lock.  A crash instead leaves "applying" for INIT/GC. */
		berth_error e = { 0 };
		if (lock_fd(s->lockfd, true, false, s->root, &e) == 0) {
			unmount_layer(s, &l, &e);
			remove_layer(s, &l, true, &e);
			lock_fd(s->lockfd, s->exclusive, false, s->root, &e);
		}
		return r;
	}
	snprintf(l.state, sizeof(l.state), "ready");
	l.applied = true;
	r = write_layer(s, &l, err);
	if (r < 0)
		return r;
	if (ret_size)
		*ret_size = st.size;
	return 0;
}

static const char *kind_name(enum berth_archive_change_kind k)
{
	return k == BERTH_ARCHIVE_CHANGE_ADD ? "added"
	       : k == BERTH_ARCHIVE_CHANGE_DELETE ? "deleted"
						  : "modified";
}

int berth_dmset_diff(struct berth_dmset *s, const char *id, const char *parent, int outfd,
		     json_t **ret_changes, uint64_t *ret_size, berth_error *err)
{
	_cleanup_free_ char *tree = NULL, *ptree = NULL;
	_cleanup_close_ int treefd = -1, parentfd = -1;
	struct berth_archive_changes ch = { 0 };
	int lock = -1, plock = -1;
	const char *par;
	struct layer l;
	int r;

	r = read_visible(s, id, &l, err);
	if (r == -ENOENT)
		return unknown_layer(err, id);
	if (r < 0)
		return r;
	par = parent && *parent ? parent : l.parent;
	if (*par && !berth_dmset_exists(s, par))
		return unknown_layer(err, par);
	r = mount_id(s, id, &lock, &tree, err);
	if (r < 0)
		return r;
	if (*par && !STREQ(par, id)) {
		r = mount_id(s, par, &plock, &ptree, err);
		if (r < 0)
			goto out;
	}
	treefd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (treefd < 0) {
		r = berth_error_errno(err, BERTH_CNI_ERR_IO, "open %s", tree);
		goto out;
	}
	if (ptree) {
		parentfd = open(ptree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (parentfd < 0) {
			r = berth_error_errno(err, BERTH_CNI_ERR_IO, "open %s", ptree);
			goto out;
		}
	}
	if (outfd >= 0 && parentfd < 0) {
		/* a layer on the (empty) base: its diff is the whole tree */
		struct berth_archive_diff_opts o = { .whiteout = BERTH_ARCHIVE_WHITEOUT_KEEP };
		r = berth_archive_diff(treefd, outfd, &o, ret_size, err);
		goto out;
	}
	r = berth_archive_changes(treefd, parentfd, BERTH_ARCHIVE_CHANGES_FULL, false, &ch, err);
	if (r < 0)
		goto out;
	if (outfd >= 0) {
		struct berth_archive_diff_opts o = { .whiteout = BERTH_ARCHIVE_WHITEOUT_KEEP,
						     .changes = &ch };
		r = berth_archive_diff(treefd, outfd, &o, ret_size, err);
	} else if (ret_changes) {
		json_t *a = json_array();
		for (size_t i = 0; i < ch.n; i++)
			json_array_append_new(a, json_pack("{s:s%,s:s}", "path", "", 0, "kind",
							   kind_name(ch.v[i].kind))),
				json_object_set_new(json_array_get(a, i), "path",
						    json_sprintf("/%s", ch.v[i].path));
		*ret_changes = a;
	} else if (ret_size) {
		r = berth_archive_changes_size(treefd, &ch, ret_size, err);
	}
out:
	berth_archive_changes_free(&ch);
	if (treefd >= 0) {
		close(treefd);
		treefd = -1;
	}
	if (parentfd >= 0) {
		close(parentfd);
		parentfd = -1;
	}
	if (ptree)
		unmount_id(s, par, plock);
	if (tree)
		unmount_id(s, id, lock);
	return r;
}

int berth_dmset_usage(struct berth_dmset *s, const char *id, uint64_t *ret_size,
		      uint64_t *ret_inodes, berth_error *err)
{
	_cleanup_free_ char *mnt = NULL, *target = NULL, *params = NULL;
	struct statvfs sv;
	uint64_t mapped = 0;
	struct layer l;
	char name[160];
	int r, lock = -1;

	r = read_visible(s, id, &l, err);
	if (r == -ENOENT)
		return unknown_layer(err, id);
	if (r < 0)
		return r;
	r = mount_id(s, id, &lock, &mnt, err);
	if (r < 0)
		return r;
	dev_name(s, l.devid, name, sizeof(name));
	r = berth_dm_status(name, false, NULL, &target, &params, err);
	if (r == 0 && sscanf(params, "%" SCNu64, &mapped) != 1)
		mapped = 0;
	*ret_size = mapped * SECTOR;
	*ret_inodes = 0;
	if (r == 0 && statvfs(mnt, &sv) == 0)
		*ret_inodes = sv.f_files - sv.f_ffree;
	unmount_id(s, id, lock);
	return r;
}

int berth_dmset_cleanup(struct berth_dmset *s, berth_error *err)
{
	_cleanup_free_ struct layer *all = NULL;
	size_t n = 0;
	int r;

	r = all_layers(s, &all, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		r = unmount_layer(s, &all[i], err);
		if (r < 0)
			return r;
		_cleanup_free_ char *mnt = pathf("%s/mnt/%s", s->root, all[i].id);
		rmdir(mnt);
	}
	deactivate(s, (uint32_t)jint(json_object_get(s->state, "base"), "device_id"), false,
		   &(berth_error){ 0 });
	if (s->owned_pool) {
		r = berth_dm_remove(s->pool, false, err);
		if (r == -EBUSY) /* someone else still has a device of it open: leave it */
			berth_error_clear(err);
		else if (r < 0)
			return r;
	}
	return 0;
}

int berth_dmset_gc(struct berth_dmset *s, json_t *keep, json_t **ret, berth_error *err)
{
	_cleanup_json_ json_t *removed = json_array(), *errors = json_array(), *pending = json_array();
	_cleanup_free_ struct layer *all = NULL;
	_cleanup_free_ uint8_t *known = NULL;
	uint64_t next = jint(s->state, "next_device_id");
	size_t n = 0;
	int r;

	json_array_extend(removed, s->done);
	finish_deferred(s, removed, pending);
	recover_journal(s, removed, errors);

	if (keep) {
		_cleanup_json_ json_t *order = NULL;
		size_t i;
		json_t *v;

		r = berth_dmset_list(s, &order, err);
		if (r < 0)
			return r;
		json_array_foreach(order, i, v) {
			const char *id = json_string_value(v);
			bool kept = false;
			size_t k;
			json_t *kv;

			/* a kept layer keeps its ancestors */
			json_array_foreach(keep, k, kv) {
				char cur[160];
				struct layer kl;
				berth_error ke = { 0 };
				int guard = 0;

				if (!json_is_string(kv))
					continue;
				snprintf(cur, sizeof(cur), "%s", json_string_value(kv));
				while (*cur && guard++ < 100000) {
					if (STREQ(cur, id)) {
						kept = true;
						break;
					}
					if (read_layer(s, cur, &kl, &ke) < 0)
						break;
					snprintf(cur, sizeof(cur), "%s", kl.parent);
				}
				if (kept)
					break;
			}
			if (kept)
				continue;
			berth_error e = { 0 };
			if (berth_dmset_remove(s, id, &e) < 0)
				json_array_append_new(errors, json_sprintf("%s: %s", id, e.msg));
			else
				json_array_append_new(removed, json_string(id));
		}
	}

	/* Leaked thin devices: ids below the allocation mark that nothing accounts for.  Only
	 * in a pool we made; in a shared pool those ids may belong to someone else. */
	if (s->owned_pool && next > 1 && next <= MAX_DEVID + 1) {
		r = all_layers(s, &all, &n, err);
		if (r < 0)
			return r;
		known = calloc(next, 1);
		if (!known)
			return berth_error_set(err, 0, ENOMEM, "out of memory");
		for (size_t i = 0; i < n; i++)
			if (all[i].devid < next)
				known[all[i].devid] = 1;
		uint64_t base = jint(json_object_get(s->state, "base"), "device_id");
		if (base < next)
			known[base] = 1;
		for (uint64_t id = 1; id < next; id++) {
			_cleanup_free_ char *dp = pathf("%s/deferred/%" PRIu64 ".json", s->root, id);
			_cleanup_free_ char *jp = journal_path(s, (uint32_t)id);
			berth_error e = { 0 };
			char name[160];
			char msg[64];
			struct berth_dm_info info;

			if (known[id] || access(dp, F_OK) == 0 || access(jp, F_OK) == 0)
				continue;
			dev_name(s, (uint32_t)id, name, sizeof(name));
			if (berth_dm_info(name, &info, &e) == 0 && info.exists) {
				if (berth_dm_remove(name, false, &e) < 0) {
					json_array_append_new(errors, json_string(e.msg));
					continue;
				}
			}
			snprintf(msg, sizeof(msg), "delete %" PRIu64, id);
			r = berth_dm_message(s->pool, msg, &e);
			if (r == 0)
				json_array_append_new(removed, json_sprintf("thin:%" PRIu64, id));
			else if (r != -ENODATA)
				json_array_append_new(errors, json_string(e.msg));
		}
	}

	/* mount points nothing uses */
	{
		_cleanup_free_ char *dir = pathf("%s/mnt", s->root);
		_cleanup_closedir_ DIR *d = opendir(dir);
		struct dirent *de;

		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.' && (!de->d_name[1] || STREQ(de->d_name, "..")))
				continue;
			_cleanup_free_ char *p = pathf("%s/%s", dir, de->d_name);
			if (!berth_dmset_exists(s, de->d_name) && !is_mountpoint(p))
				rmdir(p);
		}
	}

	*ret = json_pack("{s:O,s:O,s:O}", "removed", removed, "errors", errors, "pending",
			 pending);
	return 0;
}

int berth_dmset_status(struct berth_dmset *s, json_t **ret, berth_error *err)
{
	struct berth_dm_pool_status st;
	uint64_t bs = s->block_sectors * SECTOR;
	const char *health = "ok";
	unsigned pct = s->cfg->min_free_space;
	char ver[64], libver[64];
	json_t *pairs;
	int r;

	r = pool_status(s, &st, err);
	if (r < 0)
		return r;
	if (st.failed || st.needs_check)
		health = "failed";
	else if (st.out_of_space || st.read_only)
		health = "full";
	else if ((st.data_total - st.data_used) * 100 < st.data_total * pct ||
		 (st.meta_total - st.meta_used) * 100 < st.meta_total * pct)
		health = "low_space";
	berth_dm_driver_version(ver, sizeof(ver));
	*ret = json_object();
	json_object_set_new(*ret, "health", json_string(health));
	json_object_set_new(*ret, "pool", json_string(s->pool));
	json_object_set_new(*ret, "poolOwned", json_boolean(s->owned_pool));
	json_object_set_new(*ret, "poolMode", json_string(st.mode));
	json_object_set_new(*ret, "blockSize", json_integer((json_int_t)bs));
	json_object_set_new(*ret, "dataUsed", json_integer((json_int_t)(st.data_used * bs)));
	json_object_set_new(*ret, "dataTotal", json_integer((json_int_t)(st.data_total * bs)));
	json_object_set_new(*ret, "metadataUsed", json_integer((json_int_t)(st.meta_used * 4096)));
	json_object_set_new(*ret, "metadataTotal",
			    json_integer((json_int_t)(st.meta_total * 4096)));
	json_object_set_new(*ret, "minFreeSpacePercent", json_integer(pct));
	json_object_set_new(*ret, "lowSpaceThreshold",
			    json_integer((json_int_t)(st.data_total * bs * pct / 100)));
	json_object_set_new(*ret, "baseSize",
			    json_integer((json_int_t)jint(json_object_get(s->state, "base"),
							  "size")));
	json_object_set_new(*ret, "transactionId", json_integer((json_int_t)st.transaction_id));
	pairs = json_array();
#define PAIR(k, fmt, ...) json_array_append_new(pairs, json_pack("[s,s%]", k, "", 0)),     \
	json_array_set_new(json_array_get(pairs, json_array_size(pairs) - 1), 1,          \
			   json_sprintf(fmt, __VA_ARGS__))
	PAIR("Pool Name", "%s", s->pool);
	PAIR("Pool Blocksize", "%" PRIu64, bs);
	PAIR("Base Device Size", "%" PRIu64, jint(json_object_get(s->state, "base"), "size"));
	PAIR("Backing Filesystem", "%s", fs_name(s));
	PAIR("Data Space Used", "%" PRIu64, st.data_used * bs);
	PAIR("Data Space Total", "%" PRIu64, st.data_total * bs);
	PAIR("Data Space Available", "%" PRIu64, (st.data_total - st.data_used) * bs);
	PAIR("Metadata Space Used", "%" PRIu64, st.meta_used * 4096);
	PAIR("Metadata Space Total", "%" PRIu64, st.meta_total * 4096);
	PAIR("Metadata Space Available", "%" PRIu64, (st.meta_total - st.meta_used) * 4096);
	PAIR("Thin Pool Minimum Free Space", "%u%%", pct);
	PAIR("Udev Sync Supported", "%s", berth_dm_udev_sync_supported() ? "true" : "false");
	PAIR("Deferred Removal Enabled", "%s", s->cfg->deferred_removal ? "true" : "false");
	PAIR("Deferred Deletion Enabled", "%s", s->cfg->deferred_deletion ? "true" : "false");
	berth_dm_library_version(libver, sizeof(libver));
	PAIR("Library Version", "%s", libver);
	PAIR("Driver Version", "%s", ver);
#undef PAIR
	json_object_set_new(*ret, "pairs", pairs);
	return 0;
}

int berth_dmset_init_info(struct berth_dmset *s, json_t **ret, berth_error *err)
{
	json_t *caps = json_object();

	json_object_set_new(caps, "maxDepth", json_integer(0));
	json_object_set_new(caps, "nativeDiff", json_false());
	json_object_set_new(caps, "whiteout", json_string("delete"));
	json_object_set_new(caps, "quota", json_pack("{s:b,s:b}", "size", 0, "inodes", 0));
	json_object_set_new(caps, "exactDiffs", json_false());
	json_object_set_new(caps, "rootless", json_false());
	*ret = json_object();
	json_object_set_new(*ret, "capabilities", caps);
	json_object_set_new(*ret, "pool", json_string(s->pool));
	json_object_set_new(*ret, "poolOwned", json_boolean(s->owned_pool));
	json_object_set_new(*ret, "baseSize",
			    json_integer((json_int_t)jint(json_object_get(s->state, "base"),
							  "size")));
	json_object_set_new(*ret, "fs", json_string(fs_name(s)));
	return 0;
}
