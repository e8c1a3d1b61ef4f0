/* SPDX-License-Identifier: Apache-2.0 */
/* Filesystems on thin devices: mkfs, mount options, mounting and unmounting layers with a
 * reference count under run_root. */
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

const char *berth_dmset_fs_name(const struct berth_dmset *s)
{
	return s->cfg->fs == BERTH_DM_FS_XFS ? "xfs" : "ext4";
}

int berth_dmset_make_fs(struct berth_dmset *s, const char *dev, berth_error *err)
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
		return berth_dmset_run_tool("mkfs.xfs", args, err);
	r = berth_dmset_run_tool("mke2fs", args, err);
	if (r < 0 && strstr(err->msg, "assume_storage_prezeroed")) {
		/* older e2fsprogs */
		berth_error_clear(err);
		args[5] = "nodiscard,lazy_itable_init=0,lazy_journal_init=1";
		r = berth_dmset_run_tool("mke2fs", args, err);
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

int berth_dmset_do_mount(struct berth_dmset *s, uint32_t devid, const char *path, bool ro,
		    const char *label, berth_error *err)
{
	_cleanup_free_ char *data = mount_data(s, label);
	char dev[200], name[160];

	berth_dmset_dev_name(s, devid, name, sizeof(name));
	snprintf(dev, sizeof(dev), "/dev/mapper/%s", name);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return berth_error_errno(err, BERTH_ERR_IO, "mkdir %s", path);
	if (mount(dev, path, berth_dmset_fs_name(s), ro ? MS_RDONLY : 0, data) < 0)
		return berth_error_errno(err, errno == ENOSPC ? BERTH_STOR_ERR_NO_SPACE
							      : BERTH_ERR_IO,
					 "mount %s on %s (%s, \"%s\")", dev, path, berth_dmset_fs_name(s),
					 data);
	return 0;
}

static char *refs_path(struct berth_dmset *s, const char *id)
{
	return berth_dmset_pathf("%s/dm-mounts/%s", s->run_root, id);
}

int berth_dmset_get_refs(struct berth_dmset *s, const char *id)
{
	_cleanup_free_ char *p = refs_path(s, id);
	_cleanup_fclose_ FILE *f = fopen(p, "re");
	int n = 0;

	if (!f || fscanf(f, "%d", &n) != 1 || n < 0)
		return 0;
	/* f is closed by its cleanup attribute, which cppcheck does not read */
	// cppcheck-suppress resourceLeak
	return n;
}

int berth_dmset_set_refs(struct berth_dmset *s, const char *id, int n, berth_error *err)
{
	_cleanup_free_ char *p = refs_path(s, id);
	char buf[32];

	if (n <= 0) {
		if (unlink(p) < 0 && errno != ENOENT)
			return berth_error_errno(err, BERTH_ERR_IO, "unlink %s", p);
		return 0;
	}
	snprintf(buf, sizeof(buf), "%d\n", n);
	return berth_write_file_atomic(p, buf, strlen(buf), 0600, false, err);
}

int berth_dmset_mount_layer(struct berth_dmset *s, const struct layer *l, bool read_only,
		       const char *mount_label, char **ret_path, berth_error *err)
{
	_cleanup_free_ char *mnt = berth_dmset_pathf("%s/mnt/%s", s->root, l->id);
	int refs, r;

	refs = berth_dmset_get_refs(s, l->id);
	if (refs > 0 && berth_is_mountpoint_by_dev(mnt)) {
		r = berth_dmset_set_refs(s, l->id, refs + 1, err);
		if (r < 0)
			return r;
		*ret_path = TAKE_PTR(mnt);
		return refs + 1;
	}
	r = berth_dmset_activate(s, l->devid, l->size, err);
	if (r < 0)
		return r;
	r = berth_dmset_do_mount(s, l->devid, mnt, read_only, mount_label, err);
	if (r < 0) {
		berth_dmset_deactivate(s, l->devid, false, &(berth_error){ 0 });
		return r;
	}
	r = berth_dmset_set_refs(s, l->id, 1, err);
	if (r < 0) {
		umount2(mnt, MNT_DETACH);
		berth_dmset_deactivate(s, l->devid, false, &(berth_error){ 0 });
		return r;
	}
	*ret_path = TAKE_PTR(mnt);
	return 1;
}

/* Internal users (diff, usage) mount any ready layer under its layer lock. */
int berth_dmset_mount_id(struct berth_dmset *s, const char *id, int *ret_lock, char **ret_path,
		    berth_error *err)
{
	_cleanup_close_ int lock = -1;
	struct layer l;
	int r;

	r = berth_dmset_read_visible(s, id, &l, err);
	if (r == -ENOENT)
		return berth_dmset_unknown_layer(err, id);
	if (r < 0)
		return r;
	r = berth_dmset_lock_layer(s, id, &lock, err);
	if (r < 0)
		return r;
	r = berth_dmset_mount_layer(s, &l, false, NULL, ret_path, err);
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

	r = berth_dmset_read_visible(s, id, &l, err);
	if (r == -ENOENT)
		return berth_dmset_unknown_layer(err, id);
	if (r < 0)
		return r;
	r = berth_dmset_lock_layer(s, id, &lock, err);
	if (r < 0)
		return r;
	return berth_dmset_mount_layer(s, &l, read_only, mount_label, ret_path, err);
}

int berth_dmset_unmount_layer(struct berth_dmset *s, const struct layer *l, berth_error *err)
{
	_cleanup_free_ char *mnt = berth_dmset_pathf("%s/mnt/%s", s->root, l->id);
	int r;

	if (berth_is_mountpoint_by_dev(mnt) && umount2(mnt, 0) < 0) {
		if (errno != EBUSY || umount2(mnt, MNT_DETACH) < 0)
			return berth_error_errno(err, BERTH_ERR_IO, "unmount %s", mnt);
	}
	berth_dmset_set_refs(s, l->id, 0, &(berth_error){ 0 });
	r = berth_dmset_deactivate(s, l->devid, s->cfg->deferred_removal, err);
	return r < 0 ? r : 0;
}

int berth_dmset_unmount_ref(struct berth_dmset *s, const struct layer *l, berth_error *err)
{
	int refs = berth_dmset_get_refs(s, l->id), r;

	if (refs == 0) {
		/* not mounted by us: leave the device alone (MOUNTS may have activated it for a
		 * caller that mounted it itself; RELEASE, REMOVE and CLEANUP deactivate it) */
		_cleanup_free_ char *mnt = berth_dmset_pathf("%s/mnt/%s", s->root, l->id);
		if (!berth_is_mountpoint_by_dev(mnt))
			return 0;
	}
	if (refs > 1) {
		r = berth_dmset_set_refs(s, l->id, refs - 1, err);
		return r < 0 ? r : refs - 1;
	}
	r = berth_dmset_unmount_layer(s, l, err);
	return r < 0 ? r : 0;
}

int berth_dmset_unmount(struct berth_dmset *s, const char *id, berth_error *err)
{
	_cleanup_close_ int lock = -1;
	struct layer l;
	int r;

	r = berth_dmset_read_layer(s, id, &l, err);
	if (r == -ENOENT) {
		berth_error_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	r = berth_dmset_lock_layer(s, id, &lock, err);
	if (r < 0)
		return r;
	return berth_dmset_unmount_ref(s, &l, err);
}

void berth_dmset_unmount_id(struct berth_dmset *s, const char *id, int lock)
{
	struct layer l;
	berth_error e = { 0 };

	if (lock >= 0)
		close(lock);
	lock = -1;
	if (berth_dmset_read_layer(s, id, &l, &e) == 0 && berth_dmset_lock_layer(s, id, &lock, &e) == 0)
		berth_dmset_unmount_ref(s, &l, &e);
	if (lock >= 0)
		close(lock);
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

	r = berth_dmset_read_visible(s, id, &l, err);
	if (r == -ENOENT)
		return berth_dmset_unknown_layer(err, id);
	if (r < 0)
		return r;
	r = berth_dmset_lock_layer(s, id, &lock, err);
	if (r < 0)
		return r;
	berth_dmset_dev_name(s, l.devid, name, sizeof(name));
	r = berth_dm_info(name, &info, err);
	if (r < 0)
		return r;
	if (info.exists && info.deferred_remove) {
		r = berth_dm_message(name, "@cancel_deferred_remove", err);
		if (r < 0)
			return r;
	}
	r = berth_dmset_activate(s, l.devid, l.size, err);
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
	*ret = json_pack("{s:[{s:s,s:s,s:o}],s:b}", "mounts", "type", berth_dmset_fs_name(s), "source", "",
			 "options", opts, "activated", true);
	if (!*ret)
		return berth_error_set(err, BERTH_ERR_INTERNAL, ENOMEM, "out of memory");
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
	r = berth_dmset_read_layer(s, id, &l, err);
	if (r == -ENOENT) {
		berth_error_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	r = berth_dmset_lock_layer(s, id, &lock, err);
	if (r < 0)
		return r;
	mnt = berth_dmset_pathf("%s/mnt/%s", s->root, id);
	if (berth_dmset_get_refs(s, id) > 0 && berth_is_mountpoint_by_dev(mnt))
		return 0;
	r = berth_dmset_deactivate(s, l.devid, true, err);
	if (r < 0)
		return r;
	*ret_released = true;
	return r;
}
