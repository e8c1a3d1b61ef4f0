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
 *
 * This file: the set as a whole (its state file and id allocation, locks, open with its INIT
 * work, close, CLEANUP, GC, STATUS) and the small helpers the other files share.  The pool is
 * pool.c, the journal journal.c, layers layer.c, mounts mount.c, the base device base.c, tar
 * in and out diff.c (dm-internal.h lists them).
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
#include "berth/fs.h"
#include "berth/json.h"
#include "berth/log.h"
#include "dm-internal.h"

void berth_dm_crash_point(const char *point)
{
	const char *want = getenv("BERTH_DM_CRASH");

	if (want && STREQ(want, point)) {
		berth_log_warn("BERTH_DM_CRASH=%s: killing myself", point);
		raise(SIGKILL);
	}
}

char *berth_dmset_pathf(const char *fmt, ...)
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

void berth_dmset_dev_name(const struct berth_dmset *s, uint32_t devid, char *buf, size_t len)
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

int berth_dmset_save_json(const char *path, json_t *j, bool sync, berth_error *err)
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

int berth_dmset_load_json(const char *path, json_t **ret, berth_error *err)
{
	if (access(path, F_OK) < 0) {
		*ret = NULL;
		return errno == ENOENT ? 0 : berth_error_errno(err, BERTH_ERR_IO, "%s", path);
	}
	return berth_json_load_file(path, ret, err) < 0 ? berth_error_ret(err) : 1;
}

int berth_dmset_unlink_sync(const char *path)
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

uint64_t berth_dmset_jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

const char *berth_dmset_jstr(json_t *o, const char *key)
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

int berth_dmset_run_tool(const char *name, const char *const *args, berth_error *err)
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
		return berth_error_set(err, BERTH_ERR_IO, EIO, "%s failed (status %d): %.400s",
				       name, status, errout && *errout ? errout : "");
	}
	return 0;
}

int berth_dmset_save_state(struct berth_dmset *s, berth_error *err)
{
	_cleanup_free_ char *p = berth_dmset_pathf("%s/deviceset.json", s->root);
	return berth_dmset_save_json(p, s->state, true, err);
}

/* Raise the allocation mark on disk before the id is used, so it covers every id that can
 * exist in the pool. */
int berth_dmset_alloc_devid(struct berth_dmset *s, uint32_t *ret, berth_error *err)
{
	uint64_t next = berth_dmset_jint(s->state, "next_device_id");

	if (next == 0 || next > MAX_DEVID)
		return berth_error_set(err, BERTH_STOR_ERR_NO_SPACE, ENOSPC,
				       "thin device ids exhausted (the pool allows %u)", MAX_DEVID);
	json_object_set_new(s->state, "next_device_id", json_integer((json_int_t)next + 1));
	*ret = (uint32_t)next;
	return berth_dmset_save_state(s, err);
}

int berth_dmset_lock_fd(int fd, bool exclusive, bool no_wait, const char *what, berth_error *err)
{
	while (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | (no_wait ? LOCK_NB : 0)) < 0) {
		if (errno == EWOULDBLOCK)
			return berth_error_set(err, BERTH_ERR_TRY_AGAIN, EAGAIN,
					       "%s is busy with another call (args.noWait)", what);
		if (errno != EINTR)
			return berth_error_errno(err, BERTH_ERR_IO, "lock %s", what);
	}
	return 0;
}

int berth_dmset_lock_layer(struct berth_dmset *s, const char *id, int *ret_fd, berth_error *err)
{
	_cleanup_free_ char *p = berth_dmset_pathf("%s/dm-locks/%s", s->run_root, id);
	_cleanup_close_ int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	int r;

	if (fd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", p);
	r = berth_dmset_lock_fd(fd, true, s->no_wait, id, err);
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Whether a shared-lock caller must first run the exclusive setup. */
static bool needs_setup(struct berth_dmset *s, bool pool_exists)
{
	_cleanup_free_ char *jdir = berth_dmset_pathf("%s/journal", s->root);
	_cleanup_closedir_ DIR *d = NULL;
	json_t *base = json_object_get(s->state, "base");
	struct dirent *de;

	if (!pool_exists || !base || berth_dmset_jint(base, "size") != s->cfg->base_size)
		return true;
	d = opendir(jdir);
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			return true;
	return berth_dmset_deferred_needs_recovery(s);
}

/* Layers a killed APPLY_DIFF left half written (their appliers held the shared lock, so under
 * the exclusive one nobody is still writing them). */
static void remove_incomplete(struct berth_dmset *s, json_t *removed)
{
	_cleanup_free_ struct layer *all = NULL;
	size_t n = 0;
	berth_error e = { 0 };

	if (berth_dmset_all_layers(s, &all, &n, &e) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (!STREQ(all[i].state, "applying"))
			continue;
		berth_log_warn("removing layer %s left incomplete by an interrupted APPLY_DIFF",
			       all[i].id);
		berth_dmset_unmount_layer(s, &all[i], &e);
		berth_error_clear(&e);
		if (berth_dmset_remove_layer(s, &all[i], true, &e) == 0 && removed)
			json_array_append_new(removed, json_string(all[i].id));
		berth_error_clear(&e);
	}
}

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

	statep = berth_dmset_pathf("%s/deviceset.json", root);
	fresh = access(statep, F_OK) < 0;
	root_existed = access(root, F_OK) == 0;

	/* Everything that can be wrong with the config is found before anything is made. */
	exists = berth_dmset_validate_source(s, fresh, &meta, &data, err);
	if (exists < 0)
		return exists;

	r = berth_mkdir_p(root, 0700, err);
	if (r < 0)
		return r;
	lockp = berth_dmset_pathf("%s/.lock", root);
	s->lockfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->lockfd < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", lockp);
	r = berth_dmset_lock_fd(s->lockfd, exclusive || fresh, no_wait, root, err);
	if (r < 0)
		return r;
	fresh = access(statep, F_OK) < 0; /* again, under the lock */
	if (!fresh) {
		r = berth_dmset_load_json(statep, &s->state, err);
		if (r < 0)
			return r;
		const char *pool = berth_dmset_jstr(s->state, "pool");
		if (pool && !STREQ(pool, s->pool))
			return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
					       "options.pool_name: %s was set up on pool %s, not %s",
					       root, pool, s->pool);
		uint64_t bs = berth_dmset_jint(s->state, "block_size");
		if (cfg->block_size_set && bs && bs != cfg->block_size)
			return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
					       "options.block_size: the pool was made with %" PRIu64
					       " byte blocks",
					       bs);
		if (s->cfg->fs != (STREQ(berth_dmset_jstr(json_object_get(s->state, "base"), "fs") ?: "ext4",
					 "xfs")
					   ? BERTH_DM_FS_XFS
					   : BERTH_DM_FS_EXT4) &&
		    json_object_get(s->state, "base"))
			return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
					       "options.fs: the base device has a %s filesystem",
					       berth_dmset_jstr(json_object_get(s->state, "base"), "fs"));
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
		_cleanup_free_ char *d = berth_dmset_pathf("%s/dm-mounts", run_root);
		_cleanup_free_ char *d2 = berth_dmset_pathf("%s/dm-locks", run_root);
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
		r = berth_dmset_lock_fd(ex->lockfd, false, no_wait, root, err);
		if (r < 0) {
			berth_dmset_close(ex);
			return r;
		}
		*ret = ex;
		return 0;
	}

	static const char *const subdirs[] = { "metadata", "journal", "deferred", "mnt" };
	for (size_t i = 0; i < ARRAY_SIZE(subdirs); i++) {
		_cleanup_free_ char *d = berth_dmset_pathf("%s/%s", root, subdirs[i]);
		if ((r = berth_mkdir_p(d, 0700, err)) < 0)
			goto fail;
	}
	{
		_cleanup_free_ char *d = berth_dmset_pathf("%s/dm-mounts", run_root);
		_cleanup_free_ char *d2 = berth_dmset_pathf("%s/dm-locks", run_root);
		if ((r = berth_mkdir_p(d, 0700, err)) < 0 || (r = berth_mkdir_p(d2, 0700, err)) < 0)
			goto fail;
	}

	if (!exists) {
		r = berth_dmset_setup_pool(s, fresh, &meta, &data, err);
		if (r < 0)
			goto fail;
		created_pool = true;
	}
	if (fresh && (r = berth_dmset_save_state(s, err)) < 0)
		goto fail;

	s->done = json_array();
	berth_dmset_recover_journal(s, s->done, NULL);
	berth_dmset_finish_deferred(s, s->done, NULL);
	remove_incomplete(s, s->done);

	if (!json_object_get(s->state, "base"))
		r = berth_dmset_create_base(s, err);
	else
		r = berth_dmset_grow_base(s, err);
	if (r < 0)
		goto fail;

	if (!exclusive) {
		r = berth_dmset_lock_fd(s->lockfd, false, no_wait, root, err);
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
			berth_rm_rf_one_fs(root);
	}
	return r;
}

int berth_dmset_cleanup(struct berth_dmset *s, berth_error *err)
{
	_cleanup_free_ struct layer *all = NULL;
	size_t n = 0;
	int r;

	r = berth_dmset_all_layers(s, &all, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		r = berth_dmset_unmount_layer(s, &all[i], err);
		if (r < 0)
			return r;
		_cleanup_free_ char *mnt = berth_dmset_pathf("%s/mnt/%s", s->root, all[i].id);
		rmdir(mnt);
	}
	berth_dmset_deactivate(s, (uint32_t)berth_dmset_jint(json_object_get(s->state, "base"), "device_id"), false,
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
	uint64_t next = berth_dmset_jint(s->state, "next_device_id");
	size_t n = 0;
	int r;

	json_array_extend(removed, s->done);
	berth_dmset_finish_deferred(s, removed, pending);
	berth_dmset_recover_journal(s, removed, errors);

	if (keep) {
		_cleanup_json_ json_t *order = NULL;
		size_t i;
		json_t *v;

		r = berth_dmset_list(s, &order, NULL, err);
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
					if (berth_dmset_read_layer(s, cur, &kl, &ke) < 0)
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
		r = berth_dmset_all_layers(s, &all, &n, err);
		if (r < 0)
			return r;
		known = calloc(next, 1);
		if (!known)
			return berth_error_set(err, 0, ENOMEM, "out of memory");
		for (size_t i = 0; i < n; i++)
			if (all[i].devid < next)
				known[all[i].devid] = 1;
		uint64_t base = berth_dmset_jint(json_object_get(s->state, "base"), "device_id");
		if (base < next)
			known[base] = 1;
		for (uint64_t id = 1; id < next; id++) {
			_cleanup_free_ char *dp = berth_dmset_pathf("%s/deferred/%" PRIu64 ".json", s->root, id);
			_cleanup_free_ char *jp = berth_dmset_journal_path(s, (uint32_t)id);
			berth_error e = { 0 };
			char name[160];
			char msg[64];
			struct berth_dm_info info;

			if (known[id] || access(dp, F_OK) == 0 || access(jp, F_OK) == 0)
				continue;
			berth_dmset_dev_name(s, (uint32_t)id, name, sizeof(name));
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
		_cleanup_free_ char *dir = berth_dmset_pathf("%s/mnt", s->root);
		_cleanup_closedir_ DIR *d = opendir(dir);
		struct dirent *de;

		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.' && (!de->d_name[1] || STREQ(de->d_name, "..")))
				continue;
			_cleanup_free_ char *p = berth_dmset_pathf("%s/%s", dir, de->d_name);
			if (!berth_dmset_exists(s, de->d_name) && !berth_is_mountpoint_by_dev(p))
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

	r = berth_dmset_pool_status(s, &st, err);
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
			    json_integer((json_int_t)berth_dmset_jint(json_object_get(s->state, "base"),
							  "size")));
	json_object_set_new(*ret, "transactionId", json_integer((json_int_t)st.transaction_id));
	pairs = json_array();
#define PAIR(k, fmt, ...) json_array_append_new(pairs, json_pack("[s,s%]", k, "", 0)),     \
	json_array_set_new(json_array_get(pairs, json_array_size(pairs) - 1), 1,          \
			   json_sprintf(fmt, __VA_ARGS__))
	PAIR("Pool Name", "%s", s->pool);
	PAIR("Pool Blocksize", "%" PRIu64, bs);
	PAIR("Base Device Size", "%" PRIu64, berth_dmset_jint(json_object_get(s->state, "base"), "size"));
	PAIR("Backing Filesystem", "%s", berth_dmset_fs_name(s));
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
			    json_integer((json_int_t)berth_dmset_jint(json_object_get(s->state, "base"),
							  "size")));
	json_object_set_new(*ret, "fs", json_string(berth_dmset_fs_name(s)));
	return 0;
}
