/* SPDX-License-Identifier: Apache-2.0 */
/* Layers of the device set: their metadata files, CREATE (a snapshot of the parent or the
 * base), REMOVE, EXISTS, LIST, METADATA. */
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

int berth_dmset_layer_path_ok(const char *id)
{
	return id && *id && !strchr(id, '/') && !STREQ(id, ".") && !STREQ(id, "..") &&
	       strlen(id) < sizeof(((struct layer *)0)->id);
}

int berth_dmset_read_layer(struct berth_dmset *s, const char *id, struct layer *ret, berth_error *err)
{
	_cleanup_free_ char *p = NULL;
	_cleanup_json_ json_t *j = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!berth_dmset_layer_path_ok(id))
		return -ENOENT;
	p = berth_dmset_pathf("%s/metadata/%s.json", s->root, id);
	r = berth_dmset_load_json(p, &j, err);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENOENT;
	snprintf(ret->id, sizeof(ret->id), "%s", id);
	snprintf(ret->parent, sizeof(ret->parent), "%s", berth_dmset_jstr(j, "parent") ? berth_dmset_jstr(j, "parent") : "");
	snprintf(ret->state, sizeof(ret->state), "%s", berth_dmset_jstr(j, "state") ? berth_dmset_jstr(j, "state") : "");
	ret->applied = json_is_true(json_object_get(j, "applied"));
	ret->devid = (uint32_t)berth_dmset_jint(j, "device_id");
	ret->size = berth_dmset_jint(j, "size");
	if (ret->devid == 0 || ret->size == 0)
		return berth_error_set(err, BERTH_ERR_IO, EUCLEAN, "%s: corrupt metadata", p);
	return 0;
}

int berth_dmset_write_layer(struct berth_dmset *s, const struct layer *l, berth_error *err)
{
	_cleanup_free_ char *p = berth_dmset_pathf("%s/metadata/%s.json", s->root, l->id);
	_cleanup_json_ json_t *j = json_object();

	json_object_set_new(j, "id", json_string(l->id));
	json_object_set_new(j, "parent", l->parent[0] ? json_string(l->parent) : json_null());
	json_object_set_new(j, "device_id", json_integer(l->devid));
	json_object_set_new(j, "size", json_integer((json_int_t)l->size));
	json_object_set_new(j, "state", json_string(l->state));
	json_object_set_new(j, "applied", json_boolean(l->applied));
	json_object_set_new(j, "fs", json_string(s->cfg->fs == BERTH_DM_FS_XFS ? "xfs" : "ext4"));
	return berth_dmset_save_json(p, j, true, err);
}

/* All layers (unsorted).  Caller frees *ret. */
int berth_dmset_all_layers(struct berth_dmset *s, struct layer **ret, size_t *ret_n, berth_error *err)
{
	_cleanup_free_ char *dir = berth_dmset_pathf("%s/metadata", s->root);
	_cleanup_closedir_ DIR *d = opendir(dir);
	_cleanup_free_ struct layer *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	if (!d)
		return berth_error_errno(err, BERTH_ERR_IO, "open %s", dir);
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
		r = berth_dmset_read_layer(s, id, &v[n], err);
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

int berth_dmset_unknown_layer(berth_error *err, const char *id)
{
	return berth_error_set(err, BERTH_ERR_NOT_FOUND, ENOENT,
			       "layer %.130s does not exist", id);
}

/* The device a new layer snapshots: its parent's, or the base's. */
static int origin_of(struct berth_dmset *s, const char *parent, uint32_t *ret_devid,
		     uint64_t *ret_size, berth_error *err)
{
	struct layer p;
	int r;

	if (!parent || !*parent) {
		json_t *base = json_object_get(s->state, "base");
		*ret_devid = (uint32_t)berth_dmset_jint(base, "device_id");
		*ret_size = berth_dmset_jint(base, "size");
		return 0;
	}
	r = berth_dmset_read_visible(s, parent, &p, err);
	if (r == -ENOENT)
		return berth_error_set(err, BERTH_ERR_NOT_FOUND, ENOENT,
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

	berth_dmset_dev_name(s, origin, name, sizeof(name));
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

	if (!berth_dmset_layer_path_ok(id))
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL, "bad layer id");
	r = berth_dmset_read_layer(s, id, &l, err);
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
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "args.size: must be a multiple of 4096");
	r = berth_dmset_space_guard(s, err);
	if (r < 0)
		return r;

	/* An id taken in the pool (an existing pool shared with others, or a leak) is skipped. */
	for (int attempt = 0;; attempt++) {
		r = berth_dmset_alloc_devid(s, &devid, err);
		if (r < 0)
			return r;
		r = berth_dmset_journal_open(s, "create", devid, id, origin, err);
		if (r < 0)
			return r;
		berth_dm_crash_point("after-journal");
		BERTH_FAULT_POINT("dm-create-after-journal");
		r = snapshot(s, devid, origin, err);
		if (r == -EEXIST && attempt < 1000) {
			berth_dmset_journal_close(s, devid);
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
		_cleanup_free_ char *mnt = berth_dmset_pathf("%s/mnt/%s", s->root, id);
		r = berth_dmset_activate(s, devid, l.size, err);
		if (r == 0) {
			BERTH_FAULT_POINT("dm-create-after-activate");
			r = berth_dmset_base_mount_grow(s, devid, mnt, "dm-create-grow-after-mount", err);
		}
		berth_dmset_deactivate(s, devid, false, &(berth_error){ 0 });
		rmdir(mnt);
		if (r < 0)
			goto fail_delete;
	}
	BERTH_FAULT_POINT("dm-create-before-metadata");
	r = berth_dmset_write_layer(s, &l, err);
	if (r < 0)
		goto fail_delete;
	BERTH_FAULT_POINT("dm-create-after-metadata"); /* committed: recovery keeps the layer */
	berth_dmset_journal_close(s, devid);
	return 0;

fail_delete:
	berth_dmset_thin_delete(s, devid, &(berth_error){ 0 });
fail_journal:
	berth_dmset_journal_close(s, devid);
	return r;
}

/* A layer being applied is not there yet for the protocol. */
int berth_dmset_read_visible(struct berth_dmset *s, const char *id, struct layer *l, berth_error *err)
{
	int r = berth_dmset_read_layer(s, id, l, err);

	if (r == 0 && STREQ(l->state, "applying"))
		return -ENOENT;
	return r;
}

bool berth_dmset_exists(struct berth_dmset *s, const char *id)
{
	struct layer l;
	berth_error e = { 0 };

	return berth_dmset_read_visible(s, id, &l, &e) == 0;
}

int berth_dmset_remove_layer(struct berth_dmset *s, const struct layer *lp, bool force,
			berth_error *err)
{
	_cleanup_free_ struct layer *all = NULL;
	_cleanup_free_ char *mp = NULL, *mnt = NULL;
	struct layer l = *lp;
	const char *id = l.id;
	size_t n = 0;
	bool deferred = false, journalled = false;
	int r;

	mnt = berth_dmset_pathf("%s/mnt/%s", s->root, id);
	if (!force) {
		r = berth_dmset_all_layers(s, &all, &n, err);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n; i++)
			if (STREQ(all[i].parent, id))
				return berth_error_set(err, BERTH_STOR_ERR_HAS_CHILDREN, ENOTEMPTY,
						       "layer %.130s has children (%.130s)", id,
						       all[i].id);
		if (berth_dmset_get_refs(s, id) > 0 && berth_is_mountpoint_by_dev(mnt))
			return berth_error_set(err, BERTH_STOR_ERR_BUSY, EBUSY,
					       "layer %.130s is mounted (%d references); unmount "
					       "it first",
					       id, berth_dmset_get_refs(s, id));
	}
	berth_dmset_set_refs(s, id, 0, &(berth_error){ 0 });

	r = berth_dmset_deactivate(s, l.devid, false, err);
	if (r == -EBUSY) {
		/* Held open elsewhere (a mount leaked into another namespace, a process): let
		 * the kernel remove it on last close, delete the thin device later (GC). */
		if (!s->cfg->deferred_removal)
			return r;
		berth_error_clear(err);
		r = berth_dmset_record_deferred(s, &l, err);
		if (r < 0)
			return r;
		berth_dm_crash_point("remove-after-record");
		r = berth_dmset_deactivate(s, l.devid, true, err);
		if (r < 0)
			return r;
		deferred = true;
	} else if (r < 0) {
		return r;
	}
	BERTH_FAULT_POINT("dm-remove-after-deactivate");

	mp = berth_dmset_pathf("%s/metadata/%s.json", s->root, id);
	if (!deferred) {
		journalled = true;
		r = berth_dmset_journal_open(s, "delete", l.devid, id, 0, err);
		if (r < 0)
			return r;
		BERTH_FAULT_POINT("dm-remove-after-journal");
		r = berth_dmset_thin_delete(s, l.devid, err);
		if (r == -EBUSY && s->cfg->deferred_deletion) {
			berth_error_clear(err);
			r = berth_dmset_record_deferred(s, &l, err);
			deferred = true;
		}
		if (r < 0) {
			berth_dmset_journal_close(s, l.devid);
			return r;
		}
		BERTH_FAULT_POINT("dm-remove-after-delete");
	}
	r = berth_dmset_unlink_sync(mp);
	if (r == 0)
		BERTH_FAULT_POINT("dm-remove-after-metadata");
	/* a deletion deferred after the journal entry: the deferred record carries it on */
	if (journalled)
		berth_dmset_journal_close(s, l.devid);
	if (r < 0)
		return berth_error_set(err, BERTH_ERR_IO, -r, "unlink %s", mp);
	rmdir(mnt);
	return deferred ? 1 : 0;
}

int berth_dmset_remove(struct berth_dmset *s, const char *id, berth_error *err)
{
	struct layer l;
	int r;

	r = berth_dmset_read_layer(s, id, &l, err);
	if (r == -ENOENT) {
		berth_error_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	return berth_dmset_remove_layer(s, &l, false, err);
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

int berth_dmset_list(struct berth_dmset *s, json_t **ret, json_t **layers, berth_error *err)
{
	_cleanup_free_ struct layer *all = NULL;
	_cleanup_free_ int *depth = NULL;
	size_t n = 0;
	int r, maxd = 0;
	json_t *a;

	r = berth_dmset_all_layers(s, &all, &n, err);
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
	if (layers) { /* docs/storage-protocol.md: layers[] with id and, unless on the base, parent */
		*layers = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *l = json_pack("{s:s}", "id", all[i].id);
			if (all[i].parent[0])
				json_object_set_new(l, "parent", json_string(all[i].parent));
			json_array_append_new(*layers, l);
		}
	}
	return 0;
}

int berth_dmset_metadata(struct berth_dmset *s, const char *id, json_t **ret, berth_error *err)
{
	struct layer l;
	char name[160];
	int r;

	r = berth_dmset_read_visible(s, id, &l, err);
	if (r == -ENOENT)
		return berth_dmset_unknown_layer(err, id);
	if (r < 0)
		return r;
	berth_dmset_dev_name(s, l.devid, name, sizeof(name));
	*ret = json_pack("{s:i,s:s,s:s,s:I,s:s,s:s,s:s}", "DeviceId", (int)l.devid, "DeviceName",
			 name, "DevicePath", "", "DeviceSize", (json_int_t)l.size, "Pool", s->pool,
			 "Parent", l.parent, "State", l.state);
	json_object_set_new(*ret, "DevicePath", json_sprintf("/dev/mapper/%s", name));
	json_object_set_new(*ret, "Fs", json_string(berth_dmset_fs_name(s)));
	return 0;
}
