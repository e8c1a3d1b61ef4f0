/* SPDX-License-Identifier: Apache-2.0 */
/* The base device: the thin device every layer chain starts from, with an empty filesystem
 * of base_size, and growing it when base_size grows. */
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

int berth_dmset_base_mount_grow(struct berth_dmset *s, uint32_t devid, const char *mnt,
			   const char *fault_point, berth_error *err)
{
	char name[160], dev[200];
	int r;

	berth_dmset_dev_name(s, devid, name, sizeof(name));
	snprintf(dev, sizeof(dev), "/dev/mapper/%s", name);
	r = berth_dmset_do_mount(s, devid, mnt, false, NULL, err);
	if (r < 0)
		return r;
	BERTH_FAULT_POINT(fault_point);
	/* Online growth: resize2fs and xfs_growfs both grow a mounted filesystem. */
	if (s->cfg->fs == BERTH_DM_FS_XFS) {
		const char *a[] = { "-d", mnt, NULL };
		r = berth_dmset_run_tool("xfs_growfs", a, err);
	} else {
		const char *a[] = { dev, NULL };
		r = berth_dmset_run_tool("resize2fs", a, err);
	}
	umount2(mnt, MNT_DETACH);
	return r;
}

int berth_dmset_create_base(struct berth_dmset *s, berth_error *err)
{
	_cleanup_free_ char *mnt = berth_dmset_pathf("%s/mnt/.base", s->root);
	_cleanup_json_ json_t *base = json_object();
	char name[160], dev[200], msg[64];
	uint32_t devid;
	int r;

	/* In an existing pool (an LVM thin pool, or one shared with another root) the first ids
	 * may be taken: skip them, as CREATE does. */
	for (int attempt = 0;; attempt++) {
		r = berth_dmset_alloc_devid(s, &devid, err);
		if (r < 0)
			return r;
		r = berth_dmset_journal_open(s, "create", devid, "base", 0, err);
		if (r < 0)
			return r;
		BERTH_FAULT_POINT("dm-create-base-after-journal");
		snprintf(msg, sizeof(msg), "create_thin %u", devid);
		r = berth_dm_message(s->pool, msg, err);
		if (r == -EEXIST && attempt < 1000) {
			berth_dmset_journal_close(s, devid);
			berth_error_clear(err);
			continue;
		}
		if (r < 0)
			goto fail_journal;
		break;
	}
	BERTH_FAULT_POINT("dm-create-base-after-message");
	r = berth_dmset_activate(s, devid, s->cfg->base_size, err);
	if (r < 0)
		goto fail_delete;
	BERTH_FAULT_POINT("dm-create-base-after-activate");
	berth_dmset_dev_name(s, devid, name, sizeof(name));
	snprintf(dev, sizeof(dev), "/dev/mapper/%s", name);
	r = berth_dmset_make_fs(s, dev, err);
	if (r < 0)
		goto fail_deactivate;
	BERTH_FAULT_POINT("dm-create-base-after-mkfs");
	if (s->cfg->fs == BERTH_DM_FS_EXT4) {
		/* An empty root: no lost+found in every layer and every diff. */
		r = berth_dmset_do_mount(s, devid, mnt, false, NULL, err);
		if (r < 0)
			goto fail_deactivate;
		BERTH_FAULT_POINT("dm-create-base-after-mount");
		_cleanup_free_ char *lf = berth_dmset_pathf("%s/lost+found", mnt);
		rmdir(lf);
		umount2(mnt, 0);
		rmdir(mnt);
	}
	r = berth_dmset_deactivate(s, devid, false, err);
	if (r < 0)
		goto fail_deactivate;
	BERTH_FAULT_POINT("dm-create-base-before-state");
	json_object_set_new(base, "device_id", json_integer(devid));
	json_object_set_new(base, "size", json_integer((json_int_t)s->cfg->base_size));
	json_object_set_new(base, "fs", json_string(berth_dmset_fs_name(s)));
	json_object_set(s->state, "base", base);
	r = berth_dmset_save_state(s, err);
	if (r < 0)
		goto fail_deactivate;
	berth_dmset_journal_close(s, devid);
	return 0;

fail_deactivate:
	umount2(mnt, MNT_DETACH);
	berth_dmset_deactivate(s, devid, false, &(berth_error){ 0 });
fail_delete:
	berth_dmset_thin_delete(s, devid, &(berth_error){ 0 });
fail_journal:
	berth_dmset_journal_close(s, devid);
	return r;
}

int berth_dmset_grow_base(struct berth_dmset *s, berth_error *err)
{
	json_t *base = json_object_get(s->state, "base");
	uint32_t devid = (uint32_t)berth_dmset_jint(base, "device_id");
	uint64_t size = berth_dmset_jint(base, "size");
	_cleanup_free_ char *mnt = berth_dmset_pathf("%s/mnt/.base", s->root);
	int r;

	if (s->cfg->base_size == size)
		return 0;
	if (s->cfg->base_size < size)
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "options.base_size: %" PRIu64 " is smaller than the base "
				       "device's %" PRIu64 " bytes; it can grow, not shrink",
				       s->cfg->base_size, size);
	/* a growth killed while the base was mounted left that mount (we hold the exclusive
	 * lock: nobody else uses it); mounting again on top would leave the base open for good */
	berth_dmset_drop_stale_mount(s, ".base");
	r = berth_dmset_activate(s, devid, s->cfg->base_size, err);
	if (r < 0)
		return r;
	r = berth_dmset_base_mount_grow(s, devid, mnt, "dm-init-grow-after-mount", err);
	berth_dmset_deactivate(s, devid, false, &(berth_error){ 0 });
	rmdir(mnt);
	if (r < 0)
		return r;
	json_object_set_new(base, "size", json_integer((json_int_t)s->cfg->base_size));
	return berth_dmset_save_state(s, err);
}
