/* SPDX-License-Identifier: Apache-2.0 */
/* The journal of open pool transactions (journal/<devid>.json, written and synced before the
 * pool message) and its recovery, and the deferred deletions GC finishes. */
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

char *berth_dmset_journal_path(struct berth_dmset *s, uint32_t devid)
{
	return berth_dmset_pathf("%s/journal/%u.json", s->root, devid);
}

int berth_dmset_journal_open(struct berth_dmset *s, const char *op, uint32_t devid, const char *id,
			uint32_t origin, berth_error *err)
{
	_cleanup_free_ char *p = berth_dmset_journal_path(s, devid);
	_cleanup_json_ json_t *j = json_object();

	json_object_set_new(j, "op", json_string(op));
	json_object_set_new(j, "device_id", json_integer(devid));
	json_object_set_new(j, "id", json_string(id ? id : ""));
	json_object_set_new(j, "origin", json_integer(origin));
	return berth_dmset_save_json(p, j, true, err);
}

void berth_dmset_journal_close(struct berth_dmset *s, uint32_t devid)
{
	_cleanup_free_ char *p = berth_dmset_journal_path(s, devid);
	berth_dmset_unlink_sync(p);
}

/* Take down the mount a killed call left on mnt/NAME (the growth step of CREATE, the
 * lost+found removal of the base), so that the device under it can be deactivated; then drop
 * the directory.  Called only for ids that have no layer. */
void berth_dmset_drop_stale_mount(struct berth_dmset *s, const char *name)
{
	_cleanup_free_ char *mnt = NULL;

	if (!berth_dmset_layer_path_ok(name))
		return;
	mnt = berth_dmset_pathf("%s/mnt/%s", s->root, name);
	if (berth_is_mountpoint_by_dev(mnt) && umount2(mnt, 0) < 0)
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
		berth_dmset_dev_name(s, origin, name, sizeof(name));
		if (berth_dm_info(name, &info, &e) == 0 && info.exists && info.suspended) {
			berth_log_warn("resuming %s, left suspended by an interrupted CREATE", name);
			berth_dm_resume(name, &e);
		}
		berth_error_clear(&e);
	}
	/* the base is made with origin 0 and mounted on mnt/.base; a layer on mnt/<id> */
	if (!origin && id && STREQ(id, "base"))
		berth_dmset_drop_stale_mount(s, ".base");
	else if (id && *id && berth_dmset_read_layer(s, id, &l, &e) == -ENOENT)
		berth_dmset_drop_stale_mount(s, id);
}

int berth_dmset_recover_journal(struct berth_dmset *s, json_t *removed, json_t *errors)
{
	_cleanup_free_ char *dir = berth_dmset_pathf("%s/journal", s->root);
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
		p = berth_dmset_pathf("%s/%s", dir, de->d_name);
		if (berth_dmset_load_json(p, &j, &e) <= 0) {
			unlink(p);
			continue;
		}
		devid = (uint32_t)berth_dmset_jint(j, "device_id");
		op = berth_dmset_jstr(j, "op");
		id = berth_dmset_jstr(j, "id");
		if (op && STREQ(op, "create") && id && *id && berth_dmset_read_layer(s, id, &l, &e) == 0 &&
		    l.devid == devid) {
			/* the metadata made it: the transaction completed */
			berth_dmset_journal_close(s, devid);
			continue;
		}
		if (op && STREQ(op, "create") && id && STREQ(id, "base") &&
		    berth_dmset_jint(json_object_get(s->state, "base"), "device_id") == devid) {
			berth_dmset_journal_close(s, devid);
			continue;
		}
		/* roll back: the device may or may not have been made in the pool */
		berth_log_warn("recovering open transaction %s of device %u (%s)", op ? op : "?",
			       devid, id ? id : "");
		if (op && STREQ(op, "create"))
			undo_create(s, id, (uint32_t)berth_dmset_jint(j, "origin"));
		berth_error_clear(&e);
		berth_dmset_deactivate(s, devid, false, &e);
		berth_error_clear(&e);
		r = berth_dmset_thin_delete(s, devid, &e);
		if (r < 0) {
			if (errors)
				json_array_append_new(errors, json_string(e.msg));
			continue;
		}
		if (op && STREQ(op, "delete") && id && berth_dmset_read_layer(s, id, &l, &e) == 0 &&
		    l.devid == devid) {
			_cleanup_free_ char *mp = berth_dmset_pathf("%s/metadata/%s.json", s->root, id);
			berth_dmset_unlink_sync(mp);
		}
		/* a REMOVE killed before its last step left the layer's mount point */
		berth_error_clear(&e);
		if (op && STREQ(op, "delete") && id && berth_dmset_read_layer(s, id, &l, &e) == -ENOENT)
			berth_dmset_drop_stale_mount(s, id);
		berth_dmset_journal_close(s, devid);
		if (removed)
			json_array_append_new(removed, json_sprintf("thin:%u", devid));
	}
	return 0;
}

int berth_dmset_record_deferred(struct berth_dmset *s, const struct layer *l, berth_error *err)
{
	_cleanup_free_ char *p = berth_dmset_pathf("%s/deferred/%u.json", s->root, l->devid);
	_cleanup_json_ json_t *j = json_object();

	json_object_set_new(j, "device_id", json_integer(l->devid));
	json_object_set_new(j, "id", json_string(l->id));
	json_object_set_new(j, "since", json_integer((json_int_t)time(NULL)));
	return berth_dmset_save_json(p, j, true, err);
}

/* The layer of a deferred record whose metadata is still there: a REMOVE killed between
 * recording the deferral and unlinking the metadata.  Returns the layer id or NULL. */
static const char *deferred_unfinished(struct berth_dmset *s, json_t *rec, uint32_t devid)
{
	const char *id = berth_dmset_jstr(rec, "id");
	berth_error e = { 0 };
	struct layer l;

	if (id && berth_dmset_read_layer(s, id, &l, &e) == 0 && l.devid == devid)
		return id;
	return NULL;
}

/* Whether a deferred record still has its layer's metadata (see deferred_unfinished). */
bool berth_dmset_deferred_needs_recovery(struct berth_dmset *s)
{
	_cleanup_free_ char *dir = berth_dmset_pathf("%s/deferred", s->root);
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
		p = berth_dmset_pathf("%s/%s", dir, de->d_name);
		if (berth_dmset_load_json(p, &j, &e) > 0 && deferred_unfinished(s, j, (uint32_t)devid))
			return true;
	}
	return false;
}

/* Delete thin devices whose deferred removal the kernel has finished.  A REMOVE killed after
 * recording the deferral but before unlinking the metadata is rolled forward first: its layer
 * would otherwise stay visible while GC deletes the thin device under it. */
int berth_dmset_finish_deferred(struct berth_dmset *s, json_t *removed, json_t *pending)
{
	_cleanup_free_ char *dir = berth_dmset_pathf("%s/deferred", s->root);
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
		p = berth_dmset_pathf("%s/%s", dir, de->d_name);
		if (berth_dmset_load_json(p, &j, &e) > 0 && (id = deferred_unfinished(s, j, (uint32_t)devid))) {
			_cleanup_free_ char *mp = berth_dmset_pathf("%s/metadata/%s.json", s->root, id);
			_cleanup_free_ char *mnt = berth_dmset_pathf("%s/mnt/%s", s->root, id);

			berth_log_warn("finishing the removal of layer %s (device %lu), interrupted "
				       "after its deferral",
				       id, devid);
			berth_dmset_set_refs(s, id, 0, &e);
			berth_error_clear(&e);
			berth_dmset_deactivate(s, (uint32_t)devid, true, &e);
			berth_error_clear(&e);
			berth_dmset_unlink_sync(mp);
			rmdir(mnt);
		}
		berth_error_clear(&e);
		berth_dmset_dev_name(s, (uint32_t)devid, name, sizeof(name));
		if (berth_dm_info(name, &info, &e) < 0 || info.exists) {
			if (pending)
				json_array_append_new(pending, json_sprintf("thin:%lu", devid));
			continue;
		}
		if (berth_dmset_thin_delete(s, (uint32_t)devid, &e) < 0) {
			if (pending)
				json_array_append_new(pending, json_sprintf("thin:%lu", devid));
			continue;
		}
		berth_dmset_unlink_sync(p);
		if (removed)
			json_array_append_new(removed, json_sprintf("thin:%lu", devid));
	}
	return 0;
}
